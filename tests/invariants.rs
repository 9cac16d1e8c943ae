//! The gate's guarantees (DESIGN invariants 1–6), each as a test through the
//! facade. Tamper evidence (invariant 7) is tested with the file sink.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use approvals::audit::{
    AuditError, AuditEvent, AuditEventKind, AuditRecord, AuditSink, MemoryAudit,
};
use approvals::channel::{
    Ballot, Channel, ChannelError, Choice, Refusal, VoteBox, VoteOutcome, async_trait,
};
use approvals::testing::{MockChannel, QueueChannel};
use approvals::{
    ActionRequest, Conclusion, Error, ExecutionOutcome, Fingerprint, Gate, Identity, RequestId,
};
use common::{AGENT, ALICE, BOB, CAROL, MALLORY, requiring};

const MINUTE: Duration = Duration::from_secs(60);

fn gate_with(
    policy: approvals::policy::Policy,
    approver: impl Channel + 'static,
    audit: &MemoryAudit,
) -> Gate {
    Gate::builder()
        .policy(policy)
        .channel(approver)
        .audit(audit.clone())
        .build()
}

fn request(cents: u64) -> ActionRequest<serde_json::Value> {
    ActionRequest::new(
        "billing.refund",
        serde_json::json!({ "customer": "c_42", "cents": cents }),
    )
    .requester(AGENT)
}

/// Runs a body that counts its runs and returns the error, if any.
async fn run_counting(
    gate: &Gate,
    request: ActionRequest<serde_json::Value>,
    runs: &Arc<AtomicUsize>,
) -> Result<(), Error> {
    let runs = Arc::clone(runs);
    gate.run(request, |_| async move {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Error>(())
    })
    .await
}

/// The event of the last record written.
fn last_event(audit: &MemoryAudit) -> Option<AuditEvent> {
    audit.records().pop().map(|record| record.event)
}

fn kinds(audit: &MemoryAudit) -> Vec<AuditEventKind> {
    audit.records().iter().map(AuditRecord::kind).collect()
}

// ---------------------------------------------------------------------------
// 1. Fail closed

#[tokio::test]
async fn no_gate_configured_fails_closed() {
    assert!(matches!(approvals::current(), Err(Error::NoGate)));
}

#[tokio::test]
async fn empty_policy_fails_closed_without_running() {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .channel(MockChannel::approve_all())
        .audit(audit.clone())
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let result = run_counting(&gate, request(1), &runs).await;
    assert!(matches!(result, Err(Error::Policy(_))), "{result:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(
        kinds(&audit),
        [AuditEventKind::Requested, AuditEventKind::Concluded]
    );
}

struct FailingChannel;

#[async_trait]
impl Channel for FailingChannel {
    fn name(&self) -> &str {
        "failing"
    }
    async fn deliver(
        &self,
        _: &approvals::channel::Review,
        _: VoteBox,
    ) -> Result<(), ChannelError> {
        Err(ChannelError::unavailable("failing", "connection refused"))
    }
}

struct PanickingChannel;

#[async_trait]
impl Channel for PanickingChannel {
    fn name(&self) -> &str {
        "panicking"
    }
    async fn deliver(
        &self,
        _: &approvals::channel::Review,
        _: VoteBox,
    ) -> Result<(), ChannelError> {
        panic!("channel bug")
    }
}

#[tokio::test]
async fn channel_error_fails_closed_even_if_another_channel_approves() {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE], 1, MINUTE))
        .channel(MockChannel::approve_all().voting_as([ALICE]))
        .channel(FailingChannel)
        .audit(audit.clone())
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let result = run_counting(&gate, request(1), &runs).await;
    assert!(matches!(result, Err(Error::Channel { .. })), "{result:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn channel_panic_fails_closed() {
    let audit = MemoryAudit::new();
    let gate = gate_with(requiring(&[ALICE], 1, MINUTE), PanickingChannel, &audit);
    let runs = Arc::new(AtomicUsize::new(0));
    let result = run_counting(&gate, request(1), &runs).await;
    assert!(
        matches!(
            &result,
            Err(Error::Channel {
                source: ChannelError::Panicked { .. },
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(matches!(
        last_event(&audit),
        Some(AuditEvent::Concluded {
            conclusion: Conclusion::Failed { .. }
        })
    ));
}

#[tokio::test]
async fn no_channel_fails_closed() {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE], 1, MINUTE))
        .audit(audit.clone())
        .build();
    let result = run_counting(&gate, request(1), &Arc::new(AtomicUsize::new(0))).await;
    assert!(
        matches!(
            result,
            Err(Error::Channel {
                source: ChannelError::NoChannel,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn silence_until_the_deadline_means_denied() {
    let audit = MemoryAudit::new();
    let approver = MockChannel::silent();
    let gate = gate_with(requiring(&[ALICE], 1, MINUTE), approver.clone(), &audit);
    let runs = Arc::new(AtomicUsize::new(0));
    let result = run_counting(&gate, request(1), &runs).await;
    assert!(
        matches!(result, Err(Error::Expired { timeout, .. }) if timeout == MINUTE),
        "{result:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(matches!(
        approver.conclusions().as_slice(),
        [(_, Conclusion::Expired)]
    ));
}

#[tokio::test]
async fn missing_requester_fails_closed() {
    let audit = MemoryAudit::new();
    let gate = gate_with(
        requiring(&[ALICE], 1, MINUTE),
        MockChannel::approve_all(),
        &audit,
    );
    let result = gate
        .run(ActionRequest::new("x", 1), |_| async { Ok::<_, Error>(()) })
        .await;
    assert!(matches!(result, Err(Error::NoRequester)));
    let blank = gate
        .run(ActionRequest::new("x", 1).requester("  "), |_| async {
            Ok::<_, Error>(())
        })
        .await;
    assert!(matches!(blank, Err(Error::NoRequester)));
    assert!(audit.is_empty());
}

/// An audit sink that fails after `n` records: whichever record fails, a
/// body must never run unless every record up to the approval was written.
#[tokio::test]
async fn failing_audit_at_any_step_before_the_run_stops_it() {
    for accepted in 0..4 {
        let audit = MemoryAudit::new();
        audit.fail_after(accepted);
        let gate = gate_with(
            requiring(&[ALICE], 1, MINUTE),
            MockChannel::approve_all().voting_as([ALICE]),
            &audit,
        );
        let runs = Arc::new(AtomicUsize::new(0));
        let result = run_counting(&gate, request(1), &runs).await;
        // requested, vote, concluded must all be written before the run.
        if accepted < 3 {
            assert_eq!(
                runs.load(Ordering::SeqCst),
                0,
                "ran after {accepted} records"
            );
            assert!(result.is_err(), "accepted {accepted}: {result:?}");
        } else {
            assert_eq!(runs.load(Ordering::SeqCst), 1);
        }
    }
}

#[tokio::test]
async fn failing_audit_sink_stops_the_run_with_an_audit_error() {
    let audit = MemoryAudit::new();
    audit.set_failing(true);
    let gate = gate_with(
        requiring(&[ALICE], 1, MINUTE),
        MockChannel::approve_all().voting_as([ALICE]),
        &audit,
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let result = run_counting(&gate, request(1), &runs).await;
    assert!(matches!(result, Err(Error::Audit(_))), "{result:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_panicking_body_is_recorded_as_panicked() {
    let audit = MemoryAudit::new();
    let gate = gate_with(
        requiring(&[ALICE], 1, MINUTE),
        MockChannel::approve_all().voting_as([ALICE]),
        &audit,
    );
    let handle = tokio::spawn(async move {
        gate.run(request(1), |_| async {
            if true {
                panic!("body bug");
            }
            Ok::<(), Error>(())
        })
        .await
    });
    let joined = handle.await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    assert_eq!(
        last_event(&audit),
        Some(AuditEvent::Executed {
            outcome: ExecutionOutcome::Panicked
        })
    );
}

#[tokio::test]
async fn a_failing_body_is_recorded_with_its_error_type_only() {
    #[derive(Debug)]
    struct ExportError {
        _message: String,
    }
    impl From<Error> for ExportError {
        fn from(e: Error) -> Self {
            Self {
                _message: e.to_string(),
            }
        }
    }
    let audit = MemoryAudit::new();
    let gate = gate_with(
        requiring(&[ALICE], 1, MINUTE),
        MockChannel::approve_all().voting_as([ALICE]),
        &audit,
    );
    let result = gate
        .run(request(1), |_| async {
            Err::<(), _>(ExportError {
                _message: "bucket jane@example.com missing".into(),
            })
        })
        .await;
    assert!(result.is_err());
    assert!(
        matches!(last_event(&audit), Some(AuditEvent::Executed { outcome: ExecutionOutcome::Error { error_type } }) if error_type.ends_with("ExportError"))
    );
    assert!(
        !serde_json::to_string(&audit.records())
            .unwrap()
            .contains("jane@example.com")
    );
}

// ---------------------------------------------------------------------------
// 2. No self-approval

#[tokio::test]
async fn the_requester_cannot_approve_even_as_an_approver_and_admin() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let policy = approvals::policy::Policy::new()
        .group("admins", [AGENT, ALICE])
        .rule(
            approvals::policy::Rule::new("gated").action("*").require(
                approvals::policy::RequirementBuilder::new()
                    .approvers(["group:admins"])
                    .timeout(MINUTE),
            ),
        );
    let gate = gate_with(policy, approver, &audit);
    let runs = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let (gate, runs) = (gate.clone(), Arc::clone(&runs));
        async move { run_counting(&gate, request(1), &runs).await }
    });
    let pending = inbox.next_request().await;
    let outcome = inbox.approve(&pending.id, AGENT).await.unwrap();
    assert_eq!(outcome.refusal(), Some(Refusal::SelfApproval));
    // Spelled differently, still the same identity.
    let outcome = inbox.approve(&pending.id, "Agent:OPS-bot ").await.unwrap();
    assert_eq!(outcome.refusal(), Some(Refusal::SelfApproval));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(inbox.approve(&pending.id, ALICE).await.unwrap().counted());
    task.await.unwrap().unwrap();
    let refused: Vec<_> = audit
        .of_kind(AuditEventKind::Vote)
        .into_iter()
        .filter(|r| {
            matches!(
                &r.event,
                AuditEvent::Vote {
                    counted: false,
                    refusal: Some(Refusal::SelfApproval),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(refused.len(), 2, "both self-approvals are recorded");
}

// ---------------------------------------------------------------------------
// 3. Eligibility and quorum

#[tokio::test]
async fn only_eligible_identities_count_each_once_and_quorum_needs_distinct_approvals() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = gate_with(requiring(&[ALICE, BOB, CAROL], 2, MINUTE), approver, &audit);
    let task = tokio::spawn({
        let gate = gate.clone();
        async move {
            gate.run(request(7), |args| async move { Ok::<_, Error>(args) })
                .await
        }
    });
    let pending = inbox.next_request().await;
    assert_eq!(
        inbox.approve(&pending.id, MALLORY).await.unwrap().refusal(),
        Some(Refusal::NotEligible)
    );
    let first = inbox.approve(&pending.id, ALICE).await.unwrap();
    assert!(
        matches!(
            first,
            VoteOutcome::Counted {
                approvals: 1,
                quorum: 2,
                conclusion: None,
                ..
            }
        ),
        "{first:?}"
    );
    assert_eq!(
        inbox.approve(&pending.id, ALICE).await.unwrap().refusal(),
        Some(Refusal::AlreadyVoted)
    );
    assert_eq!(
        inbox
            .approve(&pending.id, " ALICE@example.com")
            .await
            .unwrap()
            .refusal(),
        Some(Refusal::AlreadyVoted)
    );
    assert!(!task.is_finished());
    let second = inbox.approve(&pending.id, BOB).await.unwrap();
    assert!(
        matches!(&second, VoteOutcome::Counted { approvals: 2, conclusion: Some(Conclusion::Approved { by }), .. } if by == &[Identity::new(ALICE), Identity::new(BOB)])
    );
    assert_eq!(
        task.await.unwrap().unwrap(),
        serde_json::json!({"customer": "c_42", "cents": 7})
    );
}

#[tokio::test]
async fn any_eligible_deny_ends_the_request_denied() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = gate_with(requiring(&[ALICE, BOB, CAROL], 2, MINUTE), approver, &audit);
    let runs = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let (gate, runs) = (gate.clone(), Arc::clone(&runs));
        async move { run_counting(&gate, request(1), &runs).await }
    });
    let pending = inbox.next_request().await;
    assert!(inbox.approve(&pending.id, ALICE).await.unwrap().counted());
    assert!(
        inbox
            .deny(&pending.id, BOB, "wrong customer")
            .await
            .unwrap()
            .counted()
    );
    let result = task.await.unwrap();
    assert!(
        matches!(&result, Err(Error::Denied { by, reason: Some(reason), .. }) if by.as_str() == BOB && reason == "wrong customer"),
        "{result:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // A late vote reaches the gate, which refuses and records it.
    assert_eq!(
        inbox.approve(&pending.id, CAROL).await.unwrap().refusal(),
        Some(Refusal::AlreadyConcluded)
    );
}

#[tokio::test]
async fn a_deny_without_reason_is_refused_when_policy_requires_one() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let policy = approvals::policy::Policy::new().rule(
        approvals::policy::Rule::new("gated").action("*").require(
            approvals::policy::RequirementBuilder::new()
                .approvers([ALICE])
                .timeout(MINUTE)
                .deny_reason_required(true),
        ),
    );
    let gate = gate_with(policy, approver, &audit);
    let task = tokio::spawn({
        let gate = gate.clone();
        async move { run_counting(&gate, request(1), &Arc::new(AtomicUsize::new(0))).await }
    });
    let pending = inbox.next_request().await;
    assert!(pending.deny_reason_required);
    let outcome = inbox
        .vote(
            &pending.id,
            ALICE,
            Choice::Deny {
                reason: Some("  ".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(outcome.refusal(), Some(Refusal::ReasonRequired));
    assert!(
        inbox
            .deny(&pending.id, ALICE, "not during the freeze")
            .await
            .unwrap()
            .counted()
    );
    assert!(matches!(task.await.unwrap(), Err(Error::Denied { .. })));
}

#[tokio::test(start_paused = true)]
async fn escalation_adds_fallback_approvers_after_the_delay() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let policy = approvals::policy::Policy::new().rule(
        approvals::policy::Rule::new("gated").action("*").require(
            approvals::policy::RequirementBuilder::new()
                .approvers([ALICE])
                .timeout(10 * MINUTE)
                .escalate_after(2 * MINUTE, [CAROL]),
        ),
    );
    let gate = gate_with(policy, approver, &audit);
    let task = tokio::spawn({
        let gate = gate.clone();
        async move { run_counting(&gate, request(1), &Arc::new(AtomicUsize::new(0))).await }
    });
    let pending = inbox.next_request().await;
    assert_eq!(
        inbox.approve(&pending.id, CAROL).await.unwrap().refusal(),
        Some(Refusal::NotEligible)
    );
    tokio::time::sleep(3 * MINUTE).await;
    assert!(
        audit
            .kinds_for(&pending.id)
            .contains(&AuditEventKind::Escalated)
    );
    assert!(inbox.approve(&pending.id, CAROL).await.unwrap().counted());
    task.await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// 4. Binding

#[tokio::test]
async fn a_vote_for_another_fingerprint_is_refused_and_recorded() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = gate_with(requiring(&[ALICE], 1, MINUTE), approver, &audit);
    let runs = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let (gate, runs) = (gate.clone(), Arc::clone(&runs));
        async move { run_counting(&gate, request(100), &runs).await }
    });
    let pending = inbox.next_request().await;
    let other = Fingerprint::of(
        "billing.refund",
        &serde_json::json!({"customer": "c_42", "cents": 100_000}),
        &Identity::new(AGENT),
    );
    let ballot = Ballot {
        request_id: pending.id.clone(),
        fingerprint: other,
        voter: Identity::new(ALICE),
        choice: Choice::Approve,
    };
    assert_eq!(
        inbox.cast(ballot).await.unwrap().refusal(),
        Some(Refusal::FingerprintMismatch)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(inbox.approve(&pending.id, ALICE).await.unwrap().counted());
    task.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let mismatches = audit
        .of_kind(AuditEventKind::Vote)
        .into_iter()
        .filter(|r| matches!(&r.event, AuditEvent::Vote { refusal: Some(Refusal::FingerprintMismatch), fingerprint, .. } if *fingerprint == other))
        .count();
    assert_eq!(mismatches, 1);
}

#[tokio::test]
async fn a_vote_after_the_conclusion_changes_nothing_and_is_recorded() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = gate_with(requiring(&[ALICE, BOB], 1, MINUTE), approver, &audit);
    let task = tokio::spawn({
        let gate = gate.clone();
        async move { run_counting(&gate, request(1), &Arc::new(AtomicUsize::new(0))).await }
    });
    let pending = inbox.next_request().await;
    assert!(inbox.approve(&pending.id, ALICE).await.unwrap().counted());
    task.await.unwrap().unwrap();
    let late = Ballot::new(&pending, BOB, Choice::deny("too late"));
    assert_eq!(
        gate.votes().cast(late).await.refusal(),
        Some(Refusal::AlreadyConcluded)
    );
    let unknown = Ballot {
        request_id: RequestId::from_string("nope"),
        ..Ballot::new(&pending, BOB, Choice::Approve)
    };
    assert_eq!(
        gate.votes().cast(unknown).await.refusal(),
        Some(Refusal::UnknownRequest)
    );
    let kinds = audit.kinds_for(&pending.id);
    assert_eq!(kinds.last(), Some(&AuditEventKind::Vote), "{kinds:?}");
    let concluded = audit.of_kind(AuditEventKind::Concluded);
    assert_eq!(concluded.len(), 1, "one conclusion only");
}

#[tokio::test]
async fn the_body_gets_exactly_the_fingerprinted_arguments_and_runs_once() {
    let audit = MemoryAudit::new();
    let approver = MockChannel::approve_all().voting_as([ALICE]);
    let gate = gate_with(requiring(&[ALICE], 1, MINUTE), approver.clone(), &audit);
    let approval = gate.authorize(request(250)).await.unwrap();
    let asked = approver.last_request().unwrap();
    assert_eq!(approval.fingerprint(), asked.fingerprint);
    assert_eq!(
        asked.fingerprint,
        Fingerprint::of(
            "billing.refund",
            &serde_json::json!({"customer": "c_42", "cents": 250}),
            &Identity::new(AGENT)
        )
    );
    let got = approval
        .run(|args| async move { Ok::<_, Error>(args) })
        .await
        .unwrap();
    assert_eq!(got["cents"], 250);
    // `run` took the approval by value: a second run does not compile.
    let executed = audit.of_kind(AuditEventKind::Executed);
    assert_eq!(executed.len(), 1);
}

#[tokio::test]
async fn arguments_changed_after_approval_do_not_run() {
    #[derive(serde::Serialize)]
    struct Shared {
        cents: std::sync::Mutex<u64>,
    }
    let audit = MemoryAudit::new();
    let gate = gate_with(
        requiring(&[ALICE], 1, MINUTE),
        MockChannel::approve_all().voting_as([ALICE]),
        &audit,
    );
    let args = Arc::new(Shared {
        cents: std::sync::Mutex::new(10),
    });
    let approval = gate
        .authorize(ActionRequest::new("billing.refund", Arc::clone(&args)).requester(AGENT))
        .await
        .unwrap();
    *args.cents.lock().unwrap() = 10_000;
    let runs = Arc::new(AtomicUsize::new(0));
    let result = approval
        .run(|_| {
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(())
            }
        })
        .await;
    assert!(
        matches!(result, Err(Error::BindingMismatch { .. })),
        "{result:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(matches!(
        last_event(&audit),
        Some(AuditEvent::Executed {
            outcome: ExecutionOutcome::NotRun { .. }
        })
    ));
}

#[tokio::test]
async fn dropping_the_caller_cancels_the_request_and_tells_the_channels() {
    let audit = MemoryAudit::new();
    let approver = MockChannel::silent();
    let gate = gate_with(requiring(&[ALICE], 1, MINUTE), approver.clone(), &audit);
    let task = tokio::spawn({
        let gate = gate.clone();
        async move { run_counting(&gate, request(1), &Arc::new(AtomicUsize::new(0))).await }
    });
    approver.wait_asked(1).await;
    let id = approver.last_request().unwrap().id.clone();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    for _ in 0..100 {
        if !approver.conclusions().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        approver.conclusions(),
        [(id.clone(), Conclusion::Cancelled)]
    );
    assert_eq!(
        audit.kinds_for(&id),
        [AuditEventKind::Requested, AuditEventKind::Concluded]
    );
    let vote = Ballot::new(&approver.last_request().unwrap(), ALICE, Choice::Approve);
    assert_eq!(
        gate.votes().cast(vote).await.refusal(),
        Some(Refusal::AlreadyConcluded)
    );
}

#[tokio::test]
async fn swapping_the_policy_does_not_disturb_pending_requests() {
    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = gate_with(requiring(&[ALICE], 1, MINUTE), approver, &audit);
    let task = tokio::spawn({
        let gate = gate.clone();
        async move { run_counting(&gate, request(1), &Arc::new(AtomicUsize::new(0))).await }
    });
    let pending = inbox.next_request().await;
    gate.set_policy(requiring(&[BOB], 1, MINUTE));
    // The pending request keeps its approvers; new requests get the new ones.
    assert_eq!(
        inbox.approve(&pending.id, BOB).await.unwrap().refusal(),
        Some(Refusal::NotEligible)
    );
    assert!(inbox.approve(&pending.id, ALICE).await.unwrap().counted());
    task.await.unwrap().unwrap();
    let next = tokio::spawn({
        let gate = gate.clone();
        async move { run_counting(&gate, request(2), &Arc::new(AtomicUsize::new(0))).await }
    });
    let pending = inbox.next_request().await;
    assert_eq!(pending.approvers, [Identity::new(BOB)]);
    assert!(inbox.approve(&pending.id, BOB).await.unwrap().counted());
    next.await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// 5. Nothing raw leaves

#[tokio::test]
async fn raw_values_appear_in_no_message_record_error_or_debug_output() {
    const SECRETS: [&str; 3] = ["jane.doe@example.com", "4242424242424242", "hunter2"];
    let audit = MemoryAudit::new();
    let approver = MockChannel::deny_all("not today");
    let approver = approver.voting_as([ALICE]);
    let gate = gate_with(requiring(&[ALICE], 1, MINUTE), approver.clone(), &audit);
    let args = serde_json::json!({"email": SECRETS[0], "card": SECRETS[1], "nested": {"password": SECRETS[2]}});
    let request = ActionRequest::new("crm.export", args)
        .requester(AGENT)
        .justification(format!("customer {} asked", SECRETS[0]));
    let request_debug = format!("{request:?}");
    let error = gate
        .run(request, |_| async { Ok::<_, Error>(()) })
        .await
        .unwrap_err();

    let mut seen = vec![
        request_debug,
        format!("{error}"),
        format!("{error:?}"),
        format!("{gate:?}"),
        serde_json::to_string(&audit.records()).unwrap(),
        format!("{:?}", audit.records()),
    ];
    for asked in approver.asked() {
        seen.push(format!("{asked:?}"));
        seen.push(serde_json::to_string(&*asked).unwrap());
    }
    for text in &seen {
        for secret in SECRETS {
            assert!(!text.contains(secret), "`{secret}` leaked into: {text}");
        }
    }
}

// ---------------------------------------------------------------------------
// 6. Audit before run, outcome after

#[tokio::test]
async fn records_are_in_order_requested_votes_conclusion_executed() {
    let audit = MemoryAudit::new();
    let gate = gate_with(
        requiring(&[ALICE, BOB], 2, MINUTE),
        MockChannel::approve_all().voting_as([MALLORY, ALICE, BOB]),
        &audit,
    );
    gate.run(request(1), |_| async { Ok::<_, Error>(()) })
        .await
        .unwrap();
    use AuditEventKind::{Concluded, Executed, Requested, Vote};
    assert_eq!(
        kinds(&audit),
        [Requested, Vote, Vote, Vote, Concluded, Executed]
    );
}

#[tokio::test]
async fn allowed_by_policy_is_still_audited() {
    let audit = MemoryAudit::new();
    let approver = MockChannel::approve_all();
    let policy = approvals::policy::Policy::new().rule(
        approvals::policy::Rule::new("reads")
            .action("crm.read_*")
            .allow(),
    );
    let gate = gate_with(policy, approver.clone(), &audit);
    gate.run(
        ActionRequest::new("crm.read_record", 1).requester(AGENT),
        |_| async { Ok::<_, Error>(()) },
    )
    .await
    .unwrap();
    approver.assert_not_asked();
    let records = audit.records();
    assert!(
        matches!(&records[1].event, AuditEvent::Concluded { conclusion: Conclusion::AllowedByPolicy { rule: Some(rule) } } if rule == "reads")
    );
    assert_eq!(
        kinds(&audit),
        [
            AuditEventKind::Requested,
            AuditEventKind::Concluded,
            AuditEventKind::Executed
        ]
    );
}

fn allowing_refunds() -> approvals::policy::Policy {
    approvals::policy::Policy::new().rule(
        approvals::policy::Rule::new("refunds")
            .action("billing.refund")
            .allow(),
    )
}

/// The allowed path writes its records through its own code: each record
/// says the same request, the rule and what policy decided, in order.
#[tokio::test]
async fn allowed_by_policy_records_the_request_its_conclusion_and_the_run_in_order() {
    let audit = MemoryAudit::new();
    let gate = gate_with(allowing_refunds(), MockChannel::approve_all(), &audit);
    let approval = gate.authorize(request(250)).await.unwrap();
    assert!(matches!(
        approval.conclusion(),
        Conclusion::AllowedByPolicy { rule: Some(rule) } if rule == "refunds"
    ));
    let fingerprint = approval.fingerprint();
    let id = approval.request_id().clone();
    // Both records are written before the approval is handed out.
    assert_eq!(audit.len(), 2);
    approval
        .run(|_| async { Ok::<_, Error>(()) })
        .await
        .unwrap();

    let records = audit.records();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|record| record.request_id == id));
    assert!(records.windows(2).all(|pair| pair[0].at <= pair[1].at));
    assert!(matches!(
        &records[0].event,
        AuditEvent::Requested { verdict, rule: Some(rule), fingerprint: recorded, approvers, quorum: None, deadline: None, .. }
            if verdict == "allow" && rule == "refunds" && *recorded == fingerprint && approvers.is_empty()
    ));
    assert!(matches!(
        &records[1].event,
        AuditEvent::Concluded { conclusion: Conclusion::AllowedByPolicy { rule: Some(rule) } } if rule == "refunds"
    ));
    assert!(matches!(
        &records[2].event,
        AuditEvent::Executed {
            outcome: ExecutionOutcome::Ok
        }
    ));
}

/// Whichever record of the allowed path cannot be written, the body does not
/// run unless the request and its conclusion both were.
#[tokio::test]
async fn failing_audit_at_any_step_of_the_allowed_path_stops_it() {
    for accepted in 0..3 {
        let audit = MemoryAudit::new();
        audit.fail_after(accepted);
        let gate = gate_with(allowing_refunds(), MockChannel::approve_all(), &audit);
        let runs = Arc::new(AtomicUsize::new(0));
        let result = run_counting(&gate, request(1), &runs).await;
        if accepted < 2 {
            assert_eq!(
                runs.load(Ordering::SeqCst),
                0,
                "ran after {accepted} records"
            );
            assert!(
                matches!(result, Err(Error::Audit(_))),
                "accepted {accepted}: {result:?}"
            );
        } else {
            // The outcome could not be recorded: logged, and the body's own
            // result is returned.
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            assert!(result.is_ok(), "{result:?}");
        }
        assert_eq!(audit.len(), usize::try_from(accepted).unwrap());
    }
}

#[tokio::test]
async fn refused_by_policy_never_asks_and_never_runs() {
    let audit = MemoryAudit::new();
    let approver = MockChannel::approve_all();
    let policy = approvals::policy::Policy::new().rule(
        approvals::policy::Rule::new("no drops")
            .action("db.drop_*")
            .refuse("agents never drop tables"),
    );
    let gate = gate_with(policy, approver.clone(), &audit);
    let result = gate
        .run(
            ActionRequest::new("db.drop_table", "users").requester(AGENT),
            |_| async { Ok::<_, Error>(()) },
        )
        .await;
    assert!(
        matches!(&result, Err(Error::RefusedByPolicy { rule: Some(rule), reason }) if rule == "no drops" && reason == "agents never drop tables")
    );
    approver.assert_not_asked();
    assert_eq!(
        kinds(&audit),
        [AuditEventKind::Requested, AuditEventKind::Concluded]
    );
}

/// Wraps a memory sink and remembers, per request, whether an approving
/// conclusion has been durably accepted.
#[derive(Clone, Default)]
struct Witness {
    inner: MemoryAudit,
    approved: Arc<std::sync::Mutex<std::collections::HashSet<RequestId>>>,
}

#[async_trait]
impl AuditSink for Witness {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        // Yield so that records are not written instantly: races show.
        tokio::task::yield_now().await;
        self.inner.record(record).await?;
        if let AuditEvent::Concluded { conclusion } = &record.event {
            if conclusion.permits_run() {
                self.approved
                    .lock()
                    .unwrap()
                    .insert(record.request_id.clone());
            }
        }
        Ok(())
    }
}

/// 1,000 concurrent requests with random votes (approve, deny, self-approval,
/// ineligible, duplicate): no body runs unless its approval was recorded first,
/// and every approved request runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_with_random_votes() {
    const REQUESTS: usize = 1_000;
    let witness = Witness::default();
    let (approver, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE, BOB, CAROL], 2, 10 * MINUTE))
        .channel(approver)
        .audit(witness.clone())
        .build();
    let ran = Arc::new(AtomicUsize::new(0));
    let violations = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::with_capacity(REQUESTS);
    for n in 0..REQUESTS {
        let (gate, witness, ran, violations) = (
            gate.clone(),
            witness.clone(),
            Arc::clone(&ran),
            Arc::clone(&violations),
        );
        callers.push(tokio::spawn(async move {
            let approval = gate.authorize(request(n as u64)).await?;
            let id = approval.request_id().clone();
            approval
                .run(|_| async move {
                    if !witness.approved.lock().unwrap().contains(&id) {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(())
                })
                .await
        }));
    }
    let voters = [ALICE, BOB, CAROL, MALLORY, AGENT];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut voting = Vec::new();
    for _ in 0..REQUESTS {
        let pending = inbox.next_request().await;
        let votes: Vec<(usize, bool)> = (0..4)
            .map(|_| ((next() % 5) as usize, next() % 4 != 0))
            .collect();
        let inbox = inbox.clone();
        voting.push(tokio::spawn(async move {
            for (voter, approve) in votes {
                let choice = if approve {
                    Choice::Approve
                } else {
                    Choice::deny("random deny")
                };
                let _ = inbox.vote(&pending.id, voters[voter], choice).await;
            }
            // Whatever happened, make sure the request ends.
            let _ = inbox.deny(&pending.id, ALICE, "closing").await;
            let _ = inbox.deny(&pending.id, BOB, "closing").await;
        }));
    }
    for task in voting {
        task.await.unwrap();
    }
    let mut approved = 0;
    for caller in callers {
        match caller.await.unwrap() {
            Ok(()) => approved += 1,
            Err(Error::Denied { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(
        violations.load(Ordering::SeqCst),
        0,
        "a body ran before its approval was recorded"
    );
    assert_eq!(ran.load(Ordering::SeqCst), approved);
    assert_eq!(witness.approved.lock().unwrap().len(), approved);
    assert!(
        approved > 0 && approved < REQUESTS,
        "random votes give both outcomes: {approved}"
    );
    assert_eq!(
        witness.inner.of_kind(AuditEventKind::Executed).len(),
        approved
    );
    assert_eq!(
        witness.inner.of_kind(AuditEventKind::Concluded).len(),
        REQUESTS
    );
}
