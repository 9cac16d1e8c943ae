//! The gate's promises under faults and hostile input: each test is named
//! for the break it pins, and fails on a gate without the fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use approvals::audit::{
    AuditError, AuditEvent, AuditEventKind, AuditRecord, AuditSink, MemoryAudit,
};
use approvals::channel::{Ballot, Channel, Choice, Refusal, VoteOutcome, async_trait};
use approvals::policy::{Arg, Policy, RequirementBuilder, Rule};
use approvals::testing::QueueChannel;
use approvals::{
    ActionRequest, Clock, Conclusion, Error, ExecutionOutcome, Gate, RequestId, Risk, Timestamp,
};
use common::{AGENT, ALICE, BOB, requiring};

const MINUTE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Harness

/// Polls the inner future at most `limit` times, then drops it: `None` if
/// it had not finished by then.
struct PollLimit<F> {
    inner: Option<Pin<Box<F>>>,
    left: usize,
}

impl<F: Future> PollLimit<F> {
    fn new(inner: F, limit: usize) -> Self {
        Self {
            inner: Some(Box::pin(inner)),
            left: limit,
        }
    }
}

impl<F: Future> Future for PollLimit<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.left == 0 {
            this.inner = None;
            return Poll::Ready(None);
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        this.left -= 1;
        match inner.as_mut().poll(cx) {
            Poll::Ready(output) => {
                this.inner = None;
                Poll::Ready(Some(output))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A sink whose every write has await points before and after it, so that
/// a caller can be dropped with a write not yet done, or done but not yet
/// acknowledged.
#[derive(Clone, Default)]
struct YieldingAudit {
    inner: MemoryAudit,
}

#[async_trait]
impl AuditSink for YieldingAudit {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        tokio::task::yield_now().await;
        self.inner.record(record).await?;
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        Ok(())
    }
}

/// How a [`FaultyAudit`] misbehaves.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Fail,
    Panic,
}

/// A sink that fails or panics on the first record of one kind.
#[derive(Clone)]
struct FaultyAudit {
    inner: MemoryAudit,
    kind: AuditEventKind,
    fault: Fault,
    struck: Arc<AtomicUsize>,
}

#[async_trait]
impl AuditSink for FaultyAudit {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        if record.kind() == self.kind && self.struck.fetch_add(1, Ordering::SeqCst) == 0 {
            match self.fault {
                Fault::Fail => return Err(AuditError::Closed),
                Fault::Panic => panic!("the audit sink broke"),
            }
        }
        self.inner.record(record).await
    }
}

/// A clock the test sets.
#[derive(Clone)]
struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    fn now() -> Self {
        let millis = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        Self(Arc::new(AtomicU64::new(u64::try_from(millis).unwrap())))
    }

    fn advance(&self, by: Duration) {
        self.0
            .fetch_add(u64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system_time(
            SystemTime::UNIX_EPOCH + Duration::from_millis(self.0.load(Ordering::SeqCst)),
        )
    }
}

fn refund(cents: u64) -> ActionRequest<serde_json::Value> {
    ActionRequest::new(
        "billing.refund",
        serde_json::json!({ "customer": "c_42", "cents": cents }),
    )
    .requester(AGENT)
}

fn conclusions(audit: &MemoryAudit, id: &RequestId) -> Vec<Conclusion> {
    audit
        .for_request(id)
        .into_iter()
        .filter_map(|record| match record.event {
            AuditEvent::Concluded { conclusion } => Some(conclusion),
            _ => None,
        })
        .collect()
}

/// Lets spawned steps run to their end (time is paused in these tests, so
/// this costs nothing).
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// Every request in the trail has exactly one conclusion, and every
/// allowed or approved one exactly one `executed` record after it.
fn assert_every_request_ended(audit: &MemoryAudit) {
    let records = audit.records();
    let ids: std::collections::BTreeSet<_> = records
        .iter()
        .filter(|r| r.kind() == AuditEventKind::Requested)
        .map(|r| r.request_id.clone())
        .collect();
    for id in ids {
        let own = audit.for_request(&id);
        let concluded: Vec<_> = own
            .iter()
            .filter_map(|r| match &r.event {
                AuditEvent::Concluded { conclusion } => Some(conclusion.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(concluded.len(), 1, "request {id}: {concluded:?}");
        let executed = own
            .iter()
            .filter(|r| r.kind() == AuditEventKind::Executed)
            .count();
        let granted = matches!(
            concluded[0],
            Conclusion::Approved { .. } | Conclusion::AllowedByPolicy { .. }
        );
        assert_eq!(executed, usize::from(granted), "request {id}");
    }
}

// ---------------------------------------------------------------------------
// Break 1: a vote's future dropped while the conclusion is being written

#[tokio::test(start_paused = true)]
async fn a_vote_dropped_at_any_await_point_still_ends_the_request_and_wakes_the_caller() {
    for limit in 1.. {
        let audit = YieldingAudit::default();
        let (approver, inbox) = QueueChannel::new();
        let gate = Gate::builder()
            .policy(requiring(&[ALICE], 1, MINUTE))
            .channel(approver)
            .audit(audit.clone())
            .build();
        let caller = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.authorize(refund(250))
                    .await
                    .map(|a| a.request_id().clone())
            }
        });
        let pending = inbox.next_request().await;
        let ballot = Ballot::new(&pending, ALICE, Choice::Approve);
        let finished = PollLimit::new(gate.votes().cast(ballot), limit)
            .await
            .is_some();
        let answer = tokio::time::timeout(2 * MINUTE, caller)
            .await
            .expect("the caller got no answer by its deadline")
            .unwrap();
        let id = answer.expect("the vote counted, wherever it was dropped");
        settle().await;
        assert_eq!(
            conclusions(&audit.inner, &id),
            vec![Conclusion::Approved {
                by: vec![ALICE.into()]
            }],
            "dropped after {limit} polls"
        );
        if finished {
            break;
        }
    }
}

// Break 2: the caller dropped while its `requested` record is being written

#[tokio::test(start_paused = true)]
async fn a_caller_dropped_at_any_await_point_leaves_exactly_one_conclusion() {
    for pending_path in [true, false] {
        for limit in 1.. {
            let audit = YieldingAudit::default();
            let (approver, _inbox) = QueueChannel::new();
            let policy = if pending_path {
                requiring(&[ALICE], 1, MINUTE)
            } else {
                Policy::new().rule(Rule::new("all").action("*").allow())
            };
            let gate = Gate::builder()
                .policy(policy)
                .channel(approver)
                .audit(audit.clone())
                .build();
            let finished = PollLimit::new(gate.authorize(refund(250)), limit)
                .await
                .is_some();
            settle().await;
            assert_every_request_ended(&audit.inner);
            if pending_path && !audit.inner.is_empty() {
                // Nobody votes: the request ends cancelled when its caller
                // goes, or expired if the paused clock reached its deadline
                // first.
                let id = audit.inner.records()[0].request_id.clone();
                let ended = conclusions(&audit.inner, &id);
                assert!(
                    matches!(
                        ended.as_slice(),
                        [Conclusion::Cancelled] | [Conclusion::Expired]
                    ),
                    "dropped after {limit} polls: {ended:?}"
                );
            }
            if finished {
                break;
            }
        }
    }
}

// Break 1, the sink's side: a sink that fails or panics at each record kind

#[tokio::test(start_paused = true)]
async fn an_audit_sink_failing_or_panicking_at_any_record_kind_fails_closed_with_an_answer() {
    let kinds = [
        AuditEventKind::Requested,
        AuditEventKind::Vote,
        AuditEventKind::Escalated,
        AuditEventKind::Concluded,
        AuditEventKind::Executed,
    ];
    for kind in kinds {
        for fault in [Fault::Fail, Fault::Panic] {
            let audit = FaultyAudit {
                inner: MemoryAudit::new(),
                kind,
                fault,
                struck: Arc::new(AtomicUsize::new(0)),
            };
            let (approver, inbox) = QueueChannel::new();
            let policy = Policy::new().rule(
                Rule::new("gated").action("*").require(
                    RequirementBuilder::new()
                        .approvers([ALICE])
                        .timeout(10 * MINUTE)
                        .escalate_after(MINUTE, [BOB]),
                ),
            );
            let gate = Gate::builder()
                .policy(policy)
                .channel(approver)
                .audit(audit.clone())
                .build();
            let runs = Arc::new(AtomicUsize::new(0));
            let caller = tokio::spawn({
                let (gate, runs) = (gate.clone(), Arc::clone(&runs));
                async move {
                    gate.run(refund(250), |_| async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Error>(())
                    })
                    .await
                }
            });
            // Past the escalation, then BOB (added by it) approves; a vote
            // that was not recorded is cast again.
            let voting = tokio::spawn({
                let inbox = inbox.clone();
                async move {
                    let pending = inbox.next_request().await;
                    tokio::time::sleep(MINUTE + Duration::from_secs(1)).await;
                    for _ in 0..2 {
                        let outcome = inbox.approve(&pending.id, BOB).await;
                        if !matches!(
                            outcome,
                            Ok(VoteOutcome::Refused {
                                refusal: Refusal::NotRecorded
                            })
                        ) {
                            break;
                        }
                    }
                }
            });
            let answer = tokio::time::timeout(11 * MINUTE, caller)
                .await
                .unwrap_or_else(|_| panic!("{kind:?}/{fault:?}: no answer by the deadline"))
                .unwrap_or_else(|_| {
                    panic!("{kind:?}/{fault:?}: the sink's panic reached the caller")
                });
            voting.abort();
            settle().await;
            let ran = runs.load(Ordering::SeqCst);
            match &answer {
                Ok(()) => assert_eq!(ran, 1, "{kind:?}/{fault:?}"),
                Err(error) => {
                    assert_eq!(ran, 0, "{kind:?}/{fault:?}: {error}");
                    assert!(
                        matches!(error, Error::Audit(_) | Error::Failed { .. }),
                        "{kind:?}/{fault:?}: {error}"
                    );
                }
            }
            let records = audit.inner.records();
            let concluded = records
                .iter()
                .filter(|r| r.kind() == AuditEventKind::Concluded)
                .count();
            match kind {
                // Nothing was recorded, so there is nothing to conclude.
                AuditEventKind::Requested => assert!(records.is_empty(), "{fault:?}"),
                // The conclusion could not be written: the caller was told.
                AuditEventKind::Concluded => {
                    assert_eq!(concluded, 0);
                    assert!(matches!(answer, Err(Error::Audit(_))), "{fault:?}");
                }
                _ => assert_eq!(concluded, 1, "{kind:?}/{fault:?}"),
            }
            // Only the outcome record may fail after the body ran.
            if kind != AuditEventKind::Executed {
                assert_eq!(ran, 0, "{kind:?}/{fault:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Break 3: a vote judged after the deadline

#[tokio::test(start_paused = true)]
async fn a_vote_judged_after_the_deadline_does_not_count_even_if_the_timer_is_late() {
    // Tokio's clock stands still while the wall clock passes the deadline:
    // the caller's timer has not fired, as on a runtime too busy to run it.
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE], 1, Duration::from_millis(200)))
        .channel(approver)
        .audit(audit.clone())
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = tokio::spawn({
        let (gate, runs) = (gate.clone(), Arc::clone(&runs));
        async move {
            gate.run(refund(250), |_| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(())
            })
            .await
        }
    });
    let pending = inbox.next_request().await;
    std::thread::sleep(Duration::from_millis(300));
    let outcome = inbox.approve(&pending.id, ALICE).await.unwrap();
    assert_eq!(outcome.refusal(), Some(Refusal::DeadlinePassed));
    assert!(matches!(caller.await.unwrap(), Err(Error::Expired { .. })));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(conclusions(&audit, &pending.id), vec![Conclusion::Expired]);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_judged_by_the_gates_clock() {
    let clock = ManualClock::now();
    let (approver, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE, BOB], 2, MINUTE))
        .channel(approver)
        .clock(clock.clone())
        .audit(MemoryAudit::new())
        .build();
    let caller = tokio::spawn({
        let gate = gate.clone();
        async move { gate.authorize(refund(250)).await.map(drop) }
    });
    let pending = inbox.next_request().await;
    clock.advance(Duration::from_secs(59));
    assert!(inbox.approve(&pending.id, ALICE).await.unwrap().counted());
    clock.advance(Duration::from_secs(1));
    let late = inbox.approve(&pending.id, BOB).await.unwrap();
    assert_eq!(late.refusal(), Some(Refusal::DeadlinePassed));
    assert!(matches!(caller.await.unwrap(), Err(Error::Expired { .. })));
}

// ---------------------------------------------------------------------------
// Break 5: arguments that serialize differently each time

/// Serializes as a small amount the first time, a large one after.
struct Shifty {
    serialized: AtomicUsize,
}

impl serde::Serialize for Shifty {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let first = self.serialized.fetch_add(1, Ordering::SeqCst) == 0;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("amount", &if first { 5 } else { 5_000_000 })?;
        map.end()
    }
}

#[tokio::test]
async fn arguments_that_serialize_differently_each_time_never_run() {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("small payments")
                    .action("payments.send")
                    .when(Arg::path("amount").lt(10_000))
                    .allow(),
            ),
        )
        .audit(audit.clone())
        .build();
    let request = ActionRequest::new(
        "payments.send",
        Shifty {
            serialized: AtomicUsize::new(0),
        },
    )
    .requester(AGENT);
    let sent = Arc::new(Mutex::new(Vec::new()));
    let result = gate
        .run(request, {
            let sent = Arc::clone(&sent);
            |shifty| async move {
                // What the body would act on: the arguments as they serialize now.
                sent.lock()
                    .unwrap()
                    .push(serde_json::to_value(&shifty).unwrap());
                Ok::<_, Error>(())
            }
        })
        .await;
    assert!(
        matches!(result, Err(Error::BindingMismatch { .. })),
        "{result:?}"
    );
    assert!(sent.lock().unwrap().is_empty());
    // The trail shows the amount policy judged, and that nothing ran.
    let requested = audit.records()[0].clone();
    let AuditEvent::Requested { arguments, .. } = requested.event else {
        panic!("the first record is the request");
    };
    assert_eq!(arguments.as_value()["amount"], 5);
    assert!(matches!(
        audit.records().last().map(|r| r.event.clone()),
        Some(AuditEvent::Executed {
            outcome: ExecutionOutcome::NotRun { .. }
        })
    ));
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Transfer {
    amount: Arc<Mutex<u64>>,
}

#[tokio::test]
async fn run_exact_gives_the_body_the_approved_value_even_if_shared_state_changes() {
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("all").action("*").allow()))
        .audit(MemoryAudit::new())
        .build();
    let shared = Arc::new(Mutex::new(5));
    let request = ActionRequest::new(
        "payments.send",
        Transfer {
            amount: Arc::clone(&shared),
        },
    )
    .requester(AGENT);
    let approval = gate.authorize(request).await.unwrap();
    let amount = approval
        .run_exact(|transfer| async move {
            // Someone holding the caller's handle changes it while the body runs.
            *shared.lock().unwrap() = 5_000_000;
            Ok::<_, Error>(*transfer.amount.lock().unwrap())
        })
        .await
        .unwrap();
    assert_eq!(amount, 5);
}

// ---------------------------------------------------------------------------
// Break 6: non-finite numbers

#[tokio::test]
async fn non_finite_numbers_fail_closed_before_anything_is_recorded() {
    #[derive(serde::Serialize)]
    struct Payment {
        amount: f64,
    }
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(
            Policy::new()
                .rule(
                    Rule::new("large")
                        .action("*")
                        .when(Arg::path("amount").gt(10_000))
                        .refuse("too large"),
                )
                .rule(Rule::new("rest").action("*").allow()),
        )
        .audit(audit.clone())
        .build();
    for amount in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        let runs = Arc::new(AtomicUsize::new(0));
        let request = ActionRequest::new("payments.send", Payment { amount }).requester(AGENT);
        let result = gate
            .run(request, {
                let runs = Arc::clone(&runs);
                |_| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(())
                }
            })
            .await;
        match result {
            Err(Error::Arguments { category }) => assert!(category.contains("non-finite")),
            other => panic!("{amount}: {other:?}"),
        }
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }
    assert!(audit.is_empty());
}

// ---------------------------------------------------------------------------
// Break 7: a description given at run time

#[tokio::test(start_paused = true)]
async fn a_description_given_at_run_time_is_masked_everywhere() {
    const EMAIL: &str = "jane.doe@example.com";
    const CARD: &str = "4111 1111 1111 1111";
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE], 1, MINUTE))
        .channel(approver)
        .audit(audit.clone())
        .build();
    let request = refund(250).description(format!("Refund {EMAIL} on card {CARD}"));
    let caller = tokio::spawn({
        let gate = gate.clone();
        async move { gate.authorize(request).await.map(drop) }
    });
    let pending = inbox.next_request().await;
    inbox.deny(&pending.id, ALICE, "no").await.unwrap();
    let _ = caller.await.unwrap();
    let shown = serde_json::to_string(&*pending).unwrap();
    let recorded = serde_json::to_string(&audit.records()).unwrap();
    for text in [&shown, &recorded, &format!("{pending:?}")] {
        assert!(
            !text.contains(EMAIL) && !text.contains("jane.doe"),
            "{text}"
        );
        assert!(!text.contains(CARD) && !text.contains("4111"), "{text}");
    }
    assert!(pending.description.starts_with("Refund "));
}

// ---------------------------------------------------------------------------
// Break 11 (the gate's part): bounds on what callers and voters can grow

#[tokio::test(start_paused = true)]
async fn pending_requests_past_the_limit_fail_closed() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE], 1, MINUTE))
        .channel(approver)
        .max_pending(2)
        .audit(audit.clone())
        .build();
    let mut callers = Vec::new();
    for cents in [1, 2] {
        let gate = gate.clone();
        callers.push(tokio::spawn(async move {
            gate.authorize(refund(cents)).await.map(drop)
        }));
        inbox.next_request().await;
    }
    let third = gate.authorize(refund(3)).await.map(drop);
    let Err(Error::TooManyPending { request_id, limit }) = third else {
        panic!("{third:?}");
    };
    assert_eq!(limit, 2);
    assert!(matches!(
        conclusions(&audit, &request_id).as_slice(),
        [Conclusion::Failed { .. }]
    ));
    // Once one ends, there is room again.
    let first = inbox.pending()[0].clone();
    inbox.deny(&first.id, ALICE, "no").await.unwrap();
    let fourth = tokio::spawn({
        let gate = gate.clone();
        async move { gate.authorize(refund(4)).await.map(drop) }
    });
    let delivered = inbox.next_request().await;
    assert!(delivered.arguments.as_value()["cents"] == 4);
    drop((fourth, callers));
}

#[tokio::test]
async fn votes_for_requests_that_are_not_pending_are_bounded() {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE], 1, MINUTE))
        .stray_vote_limit(3)
        .audit(audit.clone())
        .build();
    let votes = gate.votes();
    let mut refusals = Vec::new();
    for n in 0..5 {
        let ballot = Ballot {
            request_id: RequestId::from_string(format!("made-up-{n}")),
            fingerprint: approvals::Fingerprint::from_hex(&"0".repeat(64)).unwrap(),
            voter: ALICE.into(),
            choice: Choice::Approve,
        };
        refusals.push(votes.cast(ballot).await.refusal());
    }
    assert_eq!(
        refusals,
        vec![
            Some(Refusal::UnknownRequest),
            Some(Refusal::UnknownRequest),
            Some(Refusal::UnknownRequest),
            Some(Refusal::Throttled),
            Some(Refusal::Throttled),
        ]
    );
    assert_eq!(audit.len(), 3);
}

// ---------------------------------------------------------------------------
// Break 12 (the gate's part): one action name, two declarations

#[tokio::test]
async fn two_declarations_that_differ_under_one_action_name_are_refused() {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("search").action("tools::call").allow()))
        .audit(audit.clone())
        .build();
    let search = || {
        ActionRequest::new("tools::call", 1)
            .requester(AGENT)
            .risk(Risk::Low)
            .declared_at("src/search.rs:10:5")
    };
    gate.run(search(), |_| async { Ok::<_, Error>(()) })
        .await
        .unwrap();
    let before = audit.len();
    let delete = ActionRequest::new("tools::call", 1)
        .requester(AGENT)
        .risk(Risk::Critical)
        .declared_at("src/delete.rs:20:5");
    let result = gate.run(delete, |_| async { Ok::<_, Error>(()) }).await;
    match result {
        Err(Error::ConflictingDeclarations {
            action,
            first,
            second,
        }) => {
            assert_eq!(action, "tools::call");
            assert_eq!(first, "src/search.rs:10:5");
            assert_eq!(second, "src/delete.rs:20:5");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        audit.len(),
        before,
        "nothing is recorded for the refused call"
    );
    // The same declaration from another place is no conflict.
    let again = search().declared_at("src/other.rs:1:1");
    gate.run(again, |_| async { Ok::<_, Error>(()) })
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// Fault injection: channels that are down, slow, fail or panic

#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Deliver,
    Escalate,
    Conclude,
}

#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    Error,
    Panic,
    Slow,
}

/// A channel that approves as BOB once delivered, and misbehaves at one step.
struct BrokenChannel {
    step: Step,
    how: Misbehaviour,
}

impl BrokenChannel {
    async fn misbehave(&self, step: Step) -> Result<(), approvals::channel::ChannelError> {
        if step != self.step {
            return Ok(());
        }
        match self.how {
            Misbehaviour::Error => Err(approvals::channel::ChannelError::unavailable(
                "broken",
                "upstream said jane.doe@example.com is gone",
            )),
            Misbehaviour::Panic => panic!("the channel broke"),
            Misbehaviour::Slow => {
                tokio::time::sleep(30 * MINUTE).await;
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Channel for BrokenChannel {
    fn name(&self) -> &str {
        "broken"
    }

    async fn deliver(
        &self,
        request: &approvals::channel::Review,
        votes: approvals::channel::VoteBox,
    ) -> Result<(), approvals::channel::ChannelError> {
        self.misbehave(Step::Deliver).await?;
        let ballot = Ballot::new(request, BOB, Choice::Approve);
        tokio::spawn(async move {
            tokio::time::sleep(2 * MINUTE).await;
            votes.cast(ballot).await
        });
        Ok(())
    }

    async fn escalated(
        &self,
        _request: &approvals::channel::Review,
        _added: &[approvals::Identity],
    ) -> Result<(), approvals::channel::ChannelError> {
        self.misbehave(Step::Escalate).await
    }

    async fn concluded(
        &self,
        _request: &approvals::channel::Review,
        _conclusion: &Conclusion,
    ) -> Result<(), approvals::channel::ChannelError> {
        self.misbehave(Step::Conclude).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_channel_that_fails_panics_or_hangs_at_any_step_never_strands_the_caller() {
    for step in [Step::Deliver, Step::Escalate, Step::Conclude] {
        for how in [Misbehaviour::Error, Misbehaviour::Panic, Misbehaviour::Slow] {
            let audit = MemoryAudit::new();
            let policy = Policy::new().rule(
                Rule::new("gated").action("*").require(
                    RequirementBuilder::new()
                        .approvers([ALICE])
                        .timeout(10 * MINUTE)
                        .escalate_after(MINUTE, [BOB]),
                ),
            );
            let gate = Gate::builder()
                .policy(policy)
                .channel(BrokenChannel { step, how })
                .channel_timeout(Duration::from_secs(5))
                .audit(audit.clone())
                .build();
            let started = tokio::time::Instant::now();
            let result = gate
                .run(refund(250), |_| async { Ok::<_, Error>(()) })
                .await;
            // The answer comes by the deadline, plus the time channels are
            // given to take note of the end.
            assert!(
                started.elapsed() <= 10 * MINUTE + Duration::from_secs(5),
                "{step:?}/{how:?}: answered after {:?}",
                started.elapsed()
            );
            match (step, how) {
                (Step::Deliver, Misbehaviour::Error | Misbehaviour::Panic) => {
                    assert!(matches!(result, Err(Error::Channel { .. })), "{result:?}");
                }
                // Delivery is bounded by the deadline: silence means deny.
                (Step::Deliver, Misbehaviour::Slow) => {
                    assert!(matches!(result, Err(Error::Expired { .. })), "{result:?}");
                }
                // Escalation and announcements are told, not awaited for a
                // decision: BOB's approval after the escalation counts.
                _ => assert!(result.is_ok(), "{step:?}/{how:?}: {result:?}"),
            }
            let recorded = serde_json::to_string(&audit.records()).unwrap();
            assert!(!recorded.contains("jane.doe"), "{recorded}");
            assert_every_request_ended(&audit);
        }
    }
}
