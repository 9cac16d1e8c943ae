//! Chaos: 10,000 concurrent gated calls on a multi-threaded runtime, with
//! random policies, votes (duplicate, late, self-approvals, wrong
//! fingerprints), dropped callers, channels that fail, panic or hang, and an
//! audit sink that fails and panics. An invariant checker then reads the
//! whole trail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use approvals::audit::{
    AuditError, AuditEvent, AuditEventKind, AuditRecord, AuditSink, MemoryAudit,
};
use approvals::channel::{Ballot, Channel, ChannelError, Choice, Review, VoteBox, async_trait};
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::testing::QueueChannel;
use approvals::{
    ActionRequest, Conclusion, Error, ExecutionOutcome, Fingerprint, Gate, Identity, RequestId,
};

const CALLS: usize = 10_000;
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const MALLORY: &str = "mallory@example.com";
const AGENT: &str = "agent:chaos";
/// How long channels are given to take note of an ending.
const CHANNEL_TIMEOUT: Duration = Duration::from_millis(100);
/// How far past its deadline (plus the channel timeout) a caller may be
/// answered. Ten thousand calls prepared at once keep two cores running
/// unoptimized code busy for seconds, and a caller whose timer has fired
/// waits its turn behind them; a caller left hanging (on a channel that
/// never answers, or a conclusion nobody reported) would wait a minute.
const SLACK: Duration = Duration::from_secs(15);

/// A small, seeded generator (xorshift), so that a failure replays.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The sink: fails one write in 150 and panics on one in 400 (any kind),
/// and remembers which requests' conclusions it refused, and which granted
/// conclusions it accepted (so a body can check, when it starts, that its
/// permission is already in the trail).
#[derive(Clone, Default)]
struct ChaosAudit {
    inner: MemoryAudit,
    writes: Arc<AtomicU64>,
    lost_conclusions: Arc<Mutex<HashSet<RequestId>>>,
    granted: Arc<Mutex<HashSet<RequestId>>>,
}

#[async_trait]
impl AuditSink for ChaosAudit {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        let concluded = record.kind() == AuditEventKind::Concluded;
        if n % 150 == 0 || n % 400 == 0 {
            if concluded {
                self.lost_conclusions
                    .lock()
                    .unwrap()
                    .insert(record.request_id.clone());
            }
            if n % 400 == 0 {
                panic!("the chaos sink panicked");
            }
            return Err(AuditError::Closed);
        }
        self.inner.record(record).await?;
        if let AuditEvent::Concluded {
            conclusion: Conclusion::Approved { .. } | Conclusion::AllowedByPolicy { .. },
        } = &record.event
        {
            self.granted
                .lock()
                .unwrap()
                .insert(record.request_id.clone());
        }
        Ok(())
    }
}

/// A channel that fails or panics on some deliveries, panics on some
/// escalations and hangs on some announcements. Which, it decides from the
/// request's id, so that the same request is treated alike each time.
struct FlakyChannel;

fn roll(id: &RequestId) -> u64 {
    id.as_str()
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

#[async_trait]
impl Channel for FlakyChannel {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn deliver(&self, request: &Review, _votes: VoteBox) -> Result<(), ChannelError> {
        match roll(&request.id) % 100 {
            0 | 1 => Err(ChannelError::unavailable("flaky", "the service is down")),
            2 => panic!("the flaky channel panicked on delivery"),
            3 => {
                // Slower than any deadline here: the request expires.
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn escalated(&self, request: &Review, _added: &[Identity]) -> Result<(), ChannelError> {
        if roll(&request.id) % 7 == 0 {
            panic!("the flaky channel panicked on escalation");
        }
        Ok(())
    }

    async fn concluded(
        &self,
        request: &Review,
        _conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        if roll(&request.id) % 11 == 0 {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(())
    }
}

fn policy() -> Policy {
    let ms = Duration::from_millis;
    Policy::new()
        .rule(Rule::new("reads").action("chaos.read").allow())
        .rule(Rule::new("drops").action("chaos.drop").refuse("never"))
        .rule(
            Rule::new("one").action("chaos.one").require(
                RequirementBuilder::new()
                    .approvers([ALICE, BOB, CAROL])
                    .timeout(ms(400)),
            ),
        )
        .rule(
            Rule::new("two").action("chaos.two").require(
                RequirementBuilder::new()
                    .approvers([ALICE, BOB, CAROL])
                    .quorum(2)
                    .timeout(ms(600)),
            ),
        )
        .rule(
            Rule::new("escalating").action("chaos.escalating").require(
                RequirementBuilder::new()
                    .approvers([ALICE])
                    .timeout(ms(700))
                    .escalate_after(ms(150), [BOB, CAROL]),
            ),
        )
        .rule(
            Rule::new("reasoned").action("chaos.reasoned").require(
                RequirementBuilder::new()
                    .approvers([BOB, CAROL])
                    .deny_reason_required(true)
                    .timeout(ms(500)),
            ),
        )
}

const ACTIONS: [&str; 6] = [
    "chaos.read",
    "chaos.drop",
    "chaos.one",
    "chaos.two",
    "chaos.escalating",
    "chaos.reasoned",
];

/// The raw values a call carries, none of which may reach the trail.
fn secrets(n: usize) -> [String; 3] {
    [
        format!("customer.{n:05}@example.com"),
        format!("sk_live_{n:05}Zq8RtY6pLm3Nv0Xc"),
        "4111 1111 1111 1111".to_owned(),
    ]
}

/// Casts a mix of votes on one delivered request.
async fn vote_on(votes: VoteBox, request: Arc<Review>, seed: u64) {
    let mut dice = Dice::new(seed);
    let voters = [ALICE, BOB, CAROL, MALLORY, AGENT];
    for _ in 0..1 + dice.below(5) {
        tokio::time::sleep(Duration::from_millis(dice.below(300))).await;
        let voter = voters[usize::try_from(dice.below(5)).unwrap()];
        let choice = match dice.below(6) {
            0 => Choice::deny("the customer customer.00001@example.com asked"),
            1 => Choice::Deny { reason: None },
            _ => Choice::Approve,
        };
        let mut ballot = Ballot::new(&request, voter, choice);
        if dice.one_in(10) {
            ballot.fingerprint = Fingerprint::from_hex(&"ab".repeat(32)).unwrap();
        }
        let cast = votes.cast(ballot.clone());
        if dice.one_in(8) {
            // A client that disconnects while its vote is being handled.
            let _ = tokio::time::timeout(Duration::from_micros(dice.below(200)), cast).await;
        } else {
            cast.await;
        }
        if dice.one_in(4) {
            // The same click delivered twice.
            votes.cast(ballot).await;
        }
    }
    if dice.one_in(5) {
        // A late vote, after the deadline.
        tokio::time::sleep(Duration::from_millis(800)).await;
        votes
            .cast(Ballot::new(&request, CAROL, Choice::Approve))
            .await;
    }
}

#[derive(Default)]
struct Tally {
    /// Bodies run, per request.
    runs: Mutex<HashMap<RequestId, usize>>,
    /// Bodies that started before their permission was in the trail.
    unpermitted: AtomicUsize,
    /// Callers answered later than their deadline plus the bound.
    late: Mutex<Vec<(usize, Duration)>>,
    dropped: AtomicUsize,
}

/// The panics this test provokes are expected: they are not printed, so
/// that any other panic stands out.
fn quiet_expected_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or_default();
        if !message.starts_with("the flaky channel") && !message.starts_with("the chaos sink") {
            report(info);
        }
    }));
}

#[test]
fn ten_thousand_concurrent_calls_keep_every_promise() {
    quiet_expected_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(chaos());
    // Tasks left hanging on slow channels are dropped with the runtime.
    runtime.shutdown_background();
}

async fn chaos() {
    let audit = ChaosAudit::default();
    let (queue, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(policy())
        .channel(queue)
        .channel(FlakyChannel)
        .channel_timeout(CHANNEL_TIMEOUT)
        .max_pending(2 * CALLS)
        .stray_vote_limit(u32::MAX)
        .audit(audit.clone())
        .build();
    let tally = Arc::new(Tally::default());

    // Reviewers: every delivered request gets a random mix of votes.
    let votes = gate.votes();
    let reviewers = tokio::spawn({
        let inbox = inbox.clone();
        async move {
            let mut seed = 1;
            loop {
                let request = inbox.next_request().await;
                seed += 1;
                tokio::spawn(vote_on(votes.clone(), request, seed));
            }
        }
    });

    let mut callers = Vec::with_capacity(CALLS);
    for n in 0..CALLS {
        let (gate, tally, granted) = (gate.clone(), Arc::clone(&tally), Arc::clone(&audit.granted));
        callers.push(tokio::spawn(async move {
            let mut dice = Dice::new(n as u64 + 1_000_003);
            let action = ACTIONS[usize::try_from(dice.below(6)).unwrap()];
            let [email, token, card] = secrets(n);
            let request = ActionRequest::new(
                action,
                serde_json::json!({
                    "contact": email, "api_key": token, "note": format!("card {card}"), "n": n,
                }),
            )
            .requester(AGENT)
            .justification(format!("asked by {email}"));
            let started = Instant::now();
            let work = async {
                let approval = gate.authorize(request).await?;
                let id = approval.request_id().clone();
                approval
                    .run(|_| async {
                        if !granted.lock().unwrap().contains(&id) {
                            tally.unpermitted.fetch_add(1, Ordering::SeqCst);
                        }
                        *tally.runs.lock().unwrap().entry(id.clone()).or_default() += 1;
                        Ok::<_, Error>(())
                    })
                    .await
            };
            if dice.one_in(10) {
                // A caller that gives up early.
                let patience = Duration::from_millis(dice.below(300));
                if tokio::time::timeout(patience, work).await.is_err() {
                    tally.dropped.fetch_add(1, Ordering::SeqCst);
                }
                return;
            }
            let _ = work.await;
            // The longest deadline here is 700 ms.
            let bound = Duration::from_millis(700) + CHANNEL_TIMEOUT + SLACK;
            if started.elapsed() > bound {
                tally.late.lock().unwrap().push((n, started.elapsed()));
            }
        }));
    }
    for caller in callers {
        caller.await.unwrap();
    }
    // Late votes and cancellations finish.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    reviewers.abort();

    check(&audit, &tally);
}

/// Reads the whole trail and checks every promise.
fn check(audit: &ChaosAudit, tally: &Tally) {
    let records = audit.inner.records();
    let lost = audit.lost_conclusions.lock().unwrap().clone();
    let mut by_request: HashMap<RequestId, Vec<(usize, &AuditRecord)>> = HashMap::new();
    for (at, record) in records.iter().enumerate() {
        by_request
            .entry(record.request_id.clone())
            .or_default()
            .push((at, record));
    }
    let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
    let mut executed_ran = 0;
    for (id, trail) in &by_request {
        let Some((_, requested)) = trail
            .iter()
            .find(|(_, r)| r.kind() == AuditEventKind::Requested)
        else {
            // Votes on requests whose `requested` record was lost, or
            // stray votes: nothing ran for them.
            assert!(
                !trail.iter().any(|(_, r)| r.kind() == AuditEventKind::Executed
                    && matches!(&r.event, AuditEvent::Executed { outcome } if *outcome == ExecutionOutcome::Ok)),
                "{id}: ran without a recorded request"
            );
            continue;
        };
        let AuditEvent::Requested {
            fingerprint,
            quorum,
            ..
        } = &requested.event
        else {
            unreachable!()
        };
        // Exactly one conclusion (none only when the sink refused it).
        let concluded: Vec<_> = trail
            .iter()
            .filter_map(|(at, r)| match &r.event {
                AuditEvent::Concluded { conclusion } => Some((*at, conclusion)),
                _ => None,
            })
            .collect();
        match concluded.as_slice() {
            [(_, conclusion)] => {
                *outcomes.entry(conclusion_name(conclusion)).or_default() += 1;
            }
            [] => assert!(lost.contains(id), "{id}: no conclusion, and none was lost"),
            many => panic!("{id}: {} conclusions: {many:?}", many.len()),
        }
        // Every counted vote names the request's fingerprint.
        for (_, r) in trail {
            if let AuditEvent::Vote {
                fingerprint: voted,
                counted: true,
                ..
            } = &r.event
            {
                assert_eq!(voted, fingerprint, "{id}: a vote counted for another call");
            }
        }
        // A body ran only after a recorded permission.
        for (at, r) in trail {
            let AuditEvent::Executed { outcome } = &r.event else {
                continue;
            };
            if matches!(outcome, ExecutionOutcome::NotRun { .. }) {
                continue;
            }
            executed_ran += 1;
            let Some((concluded_at, conclusion)) = concluded.first() else {
                panic!("{id}: ran without a recorded conclusion");
            };
            assert!(concluded_at < at, "{id}: ran before its conclusion");
            match conclusion {
                Conclusion::AllowedByPolicy { .. } => {}
                Conclusion::Approved { by } => {
                    let approvals = trail
                        .iter()
                        .filter(|(vote_at, v)| {
                            vote_at < concluded_at
                                && matches!(
                                    &v.event,
                                    AuditEvent::Vote {
                                        counted: true,
                                        choice: Choice::Approve,
                                        ..
                                    }
                                )
                        })
                        .count();
                    assert!(approvals >= usize::try_from(quorum.unwrap_or(1)).unwrap());
                    assert!(
                        !by.iter().any(|who| who.as_str() == AGENT),
                        "{id}: self-approved"
                    );
                }
                other => panic!("{id}: ran after {other:?}"),
            }
        }
    }
    let runs = tally.runs.lock().unwrap();
    assert!(runs.values().all(|&n| n == 1), "a body ran twice");
    assert!(executed_ran <= runs.len());
    assert_eq!(tally.unpermitted.load(Ordering::SeqCst), 0);
    let late = tally.late.lock().unwrap();
    assert!(
        late.is_empty(),
        "callers answered too late: {:?}",
        &late[..late.len().min(5)]
    );
    // Nothing raw in any record: every place where a raw value could start
    // is read, in one pass per kind of value.
    let trail = serde_json::to_string(&records).unwrap();
    let raw: HashSet<String> = (0..CALLS).flat_map(secrets).collect();
    for prefix in ["customer.", "sk_live_", "4111 "] {
        for (at, _) in trail.match_indices(prefix) {
            for len in [19, 26, 29] {
                if let Some(text) = trail.get(at..at + len) {
                    assert!(!raw.contains(text), "a raw value reached the trail: {text}");
                }
            }
        }
    }
    // The chaos reached every path.
    for outcome in [
        "approved", "denied", "expired", "allowed", "refused", "failed",
    ] {
        assert!(
            outcomes.get(outcome).copied().unwrap_or(0) > 0,
            "no request ended {outcome}: {outcomes:?}"
        );
    }
    assert!(tally.dropped.load(Ordering::SeqCst) > 0);
    assert!(!runs.is_empty());
}

fn conclusion_name(conclusion: &Conclusion) -> &'static str {
    match conclusion {
        Conclusion::Approved { .. } => "approved",
        Conclusion::Denied { .. } => "denied",
        Conclusion::Expired => "expired",
        Conclusion::Cancelled => "cancelled",
        Conclusion::AllowedByPolicy { .. } => "allowed",
        Conclusion::RefusedByPolicy { .. } => "refused",
        Conclusion::Failed { .. } => "failed",
    }
}
