//! The request lifecycle against every store: the gate's own memory,
//! `MemoryStore`, SQLite and PostgreSQL. One suite: each case is written
//! once and generated for each backend, so the rules hold the same wherever
//! requests are kept. Store-only cases (resuming, replicas, faults) run on
//! the three stores.
//!
//! PostgreSQL cases read the server's URL from `APPROVALS_TEST_POSTGRES`;
//! without it they say they were skipped and why. `.ci/run` sets it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod stores;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use approvals::audit::{AuditEvent, AuditEventKind, AuditRecord, MemoryAudit};
use approvals::channel::{Ballot, Choice, Refusal, VoteOutcome};
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::testing::{QueueChannel, QueueHandle};
use approvals::{ActionRequest, Conclusion, Error, Fingerprint, Gate, RequestId};
use common::{AGENT, ALICE, BOB, CAROL, MALLORY, requiring};
use stores::backend::{Backend, Kind};

const MINUTE: Duration = Duration::from_secs(60);

struct Setup {
    backend: Backend,
    gate: Gate,
    votes: QueueHandle,
    audit: MemoryAudit,
}

async fn setup(kind: Kind, test: &str, policy: Policy) -> Option<Setup> {
    let backend = Backend::new(kind, test).await?;
    let audit = MemoryAudit::new();
    let (channel, votes) = QueueChannel::new();
    let gate = backend
        .on(Gate::builder().policy(policy).channel(channel))
        .audit(audit.clone())
        .build();
    Some(Setup {
        backend,
        gate,
        votes,
        audit,
    })
}

fn refund(cents: u64) -> ActionRequest<serde_json::Value> {
    ActionRequest::new(
        "billing.refund",
        serde_json::json!({ "customer": "c_42", "cents": cents, "card": "4111 1111 1111 1111" }),
    )
    .requester(AGENT)
}

/// Makes the call in a task; the body counts its runs.
fn call(
    gate: &Gate,
    request: ActionRequest<serde_json::Value>,
    runs: &Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Result<(), Error>> {
    let gate = gate.clone();
    let runs = Arc::clone(runs);
    tokio::spawn(async move {
        gate.run(request, |_| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(())
        })
        .await
    })
}

fn kinds(audit: &MemoryAudit, id: &RequestId) -> Vec<AuditEventKind> {
    audit
        .records()
        .iter()
        .filter(|record| &record.request_id == id)
        .map(AuditRecord::kind)
        .collect()
}

/// Waits (up to ten seconds) until the audit trail has `count` records of
/// request `id`.
async fn wait_records(audit: &MemoryAudit, id: &RequestId, count: usize) {
    for _ in 0..1000 {
        if kinds(audit, id).len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "request {id} has {:?}, not {count} records",
        kinds(audit, id)
    );
}

fn refusal(outcome: VoteOutcome) -> Option<Refusal> {
    outcome.refusal()
}

// ---------------------------------------------------------------------------
// The rules, for every backend.

async fn quorum_of_distinct_eligible_approvals_runs_once(kind: Kind) {
    let policy = requiring(&[ALICE, BOB, AGENT], 2, MINUTE);
    let Some(s) = setup(kind, "quorum", policy).await else {
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = call(&s.gate, refund(4200), &runs);
    let review = s.votes.next_request().await;
    let id = &review.id;
    assert_eq!(
        refusal(s.votes.approve(id, AGENT).await.unwrap()),
        Some(Refusal::SelfApproval)
    );
    assert_eq!(
        refusal(s.votes.approve(id, MALLORY).await.unwrap()),
        Some(Refusal::NotEligible)
    );
    assert!(s.votes.approve(id, ALICE).await.unwrap().counted());
    assert_eq!(
        refusal(s.votes.approve(id, ALICE).await.unwrap()),
        Some(Refusal::AlreadyVoted)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let last = s.votes.approve(id, BOB).await.unwrap();
    assert!(matches!(
        last,
        VoteOutcome::Counted {
            conclusion: Some(Conclusion::Approved { .. }),
            ..
        }
    ));
    caller.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    wait_records(&s.audit, id, 8).await;
    use AuditEventKind::*;
    assert_eq!(
        kinds(&s.audit, id),
        [Requested, Vote, Vote, Vote, Vote, Vote, Concluded, Executed]
    );
    // Nothing raw in the trail: the card number is masked.
    let trail = serde_json::to_string(&s.audit.records()).unwrap();
    assert!(!trail.contains("4111 1111 1111 1111"));
    s.backend.finish().await;
}

async fn an_eligible_deny_ends_it_and_nothing_runs(kind: Kind) {
    let policy = requiring(&[ALICE, BOB], 2, MINUTE);
    let Some(s) = setup(kind, "deny", policy).await else {
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = call(&s.gate, refund(1), &runs);
    let review = s.votes.next_request().await;
    assert!(s.votes.approve(&review.id, ALICE).await.unwrap().counted());
    assert!(
        s.votes
            .deny(&review.id, BOB, "  not this customer  ")
            .await
            .unwrap()
            .counted()
    );
    match caller.await.unwrap() {
        Err(Error::Denied { by, reason, .. }) => {
            assert_eq!(by.as_str(), BOB);
            assert_eq!(reason.as_deref(), Some("not this customer"));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // A vote after the conclusion changes nothing and is recorded.
    let late = s.votes.approve(&review.id, ALICE).await.unwrap();
    assert!(matches!(
        refusal(late),
        Some(Refusal::AlreadyConcluded | Refusal::AlreadyVoted)
    ));
    wait_records(&s.audit, &review.id, 5).await;
    let denied = s
        .audit
        .records()
        .into_iter()
        .filter(|record| matches!(record.event, AuditEvent::Concluded { .. }))
        .count();
    assert_eq!(denied, 1);
    s.backend.finish().await;
}

async fn a_vote_naming_another_fingerprint_is_refused_and_recorded(kind: Kind) {
    let policy = requiring(&[ALICE], 1, MINUTE);
    let Some(s) = setup(kind, "fingerprint", policy).await else {
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = call(&s.gate, refund(5), &runs);
    let review = s.votes.next_request().await;
    let other = Fingerprint::of(
        "billing.refund",
        &serde_json::json!({"cents": 50}),
        &AGENT.into(),
    );
    let outcome = s
        .votes
        .cast(Ballot {
            request_id: review.id.clone(),
            fingerprint: other,
            voter: ALICE.into(),
            choice: Choice::Approve,
        })
        .await
        .unwrap();
    assert_eq!(refusal(outcome), Some(Refusal::FingerprintMismatch));
    assert!(s.votes.approve(&review.id, ALICE).await.unwrap().counted());
    caller.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    s.backend.finish().await;
}

async fn a_reason_is_required_when_policy_says_so(kind: Kind) {
    let policy = Policy::new().rule(
        Rule::new("reasoned").action("*").require(
            RequirementBuilder::new()
                .approvers([ALICE])
                .timeout(MINUTE)
                .deny_reason_required(true),
        ),
    );
    let Some(s) = setup(kind, "reason", policy).await else {
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = call(&s.gate, refund(5), &runs);
    let review = s.votes.next_request().await;
    let outcome = s
        .votes
        .vote(&review.id, ALICE, Choice::Deny { reason: None })
        .await
        .unwrap();
    assert_eq!(refusal(outcome), Some(Refusal::ReasonRequired));
    let long = "x".repeat(approvals::channel::MAX_REASON_CHARS + 1);
    assert_eq!(
        refusal(s.votes.deny(&review.id, ALICE, long).await.unwrap()),
        Some(Refusal::ReasonTooLong)
    );
    assert!(
        s.votes
            .deny(&review.id, ALICE, "wrong account")
            .await
            .unwrap()
            .counted()
    );
    assert!(matches!(caller.await.unwrap(), Err(Error::Denied { .. })));
    s.backend.finish().await;
}

async fn silence_until_the_deadline_expires_it(kind: Kind) {
    let policy = requiring(&[ALICE], 1, Duration::from_millis(300));
    let Some(s) = setup(kind, "silence", policy).await else {
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = call(&s.gate, refund(5), &runs);
    let review = s.votes.next_request().await;
    assert!(matches!(caller.await.unwrap(), Err(Error::Expired { .. })));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // A vote after the deadline never counts.
    let late = s.votes.approve(&review.id, ALICE).await.unwrap();
    assert!(!late.counted());
    wait_records(&s.audit, &review.id, 3).await;
    assert!(s.audit.records().iter().any(|record| matches!(
        &record.event,
        AuditEvent::Concluded {
            conclusion: Conclusion::Expired
        }
    )));
    s.backend.finish().await;
}

async fn escalation_adds_approvers_after_its_delay(kind: Kind) {
    let policy = Policy::new().rule(
        Rule::new("escalating").action("*").require(
            RequirementBuilder::new()
                .approvers([ALICE])
                .timeout(MINUTE)
                .escalate_after(Duration::from_millis(200), [CAROL]),
        ),
    );
    let Some(s) = setup(kind, "escalation", policy).await else {
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = call(&s.gate, refund(5), &runs);
    let review = s.votes.next_request().await;
    assert_eq!(
        refusal(s.votes.approve(&review.id, CAROL).await.unwrap()),
        Some(Refusal::NotEligible)
    );
    // requested, the refused vote, then the escalation.
    wait_records(&s.audit, &review.id, 3).await;
    assert!(s.votes.approve(&review.id, CAROL).await.unwrap().counted());
    caller.await.unwrap().unwrap();
    use AuditEventKind::*;
    wait_records(&s.audit, &review.id, 6).await;
    assert_eq!(
        kinds(&s.audit, &review.id),
        [Requested, Vote, Escalated, Vote, Concluded, Executed]
    );
    s.backend.finish().await;
}

async fn dropping_the_caller_cancels_the_request(kind: Kind) {
    let policy = requiring(&[ALICE], 1, MINUTE);
    let Some(s) = setup(kind, "cancel", policy).await else {
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = call(&s.gate, refund(5), &runs);
    let review = s.votes.next_request().await;
    caller.abort();
    assert_eq!(
        s.votes.wait_concluded(&review.id).await,
        Conclusion::Cancelled
    );
    wait_records(&s.audit, &review.id, 2).await;
    let outcome = s.votes.approve(&review.id, ALICE).await.unwrap();
    assert_eq!(refusal(outcome), Some(Refusal::AlreadyConcluded));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    s.backend.finish().await;
}

async fn a_vote_for_an_unknown_id_is_refused_and_recorded(kind: Kind) {
    let policy = requiring(&[ALICE], 1, MINUTE);
    let Some(s) = setup(kind, "unknown", policy).await else {
        return;
    };
    let id = RequestId::from_string("no-such-request");
    let outcome = s.votes.approve(&id, ALICE).await.unwrap();
    assert_eq!(refusal(outcome), Some(Refusal::UnknownRequest));
    assert_eq!(kinds(&s.audit, &id), [AuditEventKind::Vote]);
    s.backend.finish().await;
}

async fn no_channel_fails_closed(kind: Kind) {
    let Some(backend) = Backend::new(kind, "no_channel").await else {
        return;
    };
    let audit = MemoryAudit::new();
    let gate = backend
        .on(Gate::builder().policy(requiring(&[ALICE], 1, MINUTE)))
        .audit(audit.clone())
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let result = call(&gate, refund(5), &runs).await.unwrap();
    assert!(matches!(result, Err(Error::Channel { .. })));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    use AuditEventKind::*;
    let trail: Vec<_> = audit.records().iter().map(AuditRecord::kind).collect();
    assert_eq!(trail, [Requested, Concluded]);
    backend.finish().await;
}

async fn concurrent_requests_each_conclude_once(kind: Kind) {
    let policy = requiring(&[ALICE, BOB, CAROL], 2, Duration::from_secs(5));
    let Some(s) = setup(kind, "concurrent", policy).await else {
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..40).map(|n| call(&s.gate, refund(n), &runs)).collect();
    let mut voters = Vec::new();
    for n in 0..40u64 {
        let review = s.votes.next_request().await;
        let votes = s.votes.clone();
        voters.push(tokio::spawn(async move {
            // Every request gets three racing votes: approvals, or a deny.
            let third = if n % 3 == 0 {
                Choice::deny("no")
            } else {
                Choice::Approve
            };
            let (a, b, c) = tokio::join!(
                votes.approve(&review.id, ALICE),
                votes.approve(&review.id, BOB),
                votes.vote(&review.id, CAROL, third),
            );
            [a.unwrap(), b.unwrap(), c.unwrap()]
        }));
    }
    for voter in voters {
        voter.await.unwrap();
    }
    let mut approved = 0;
    for caller in calls {
        if caller.await.unwrap().is_ok() {
            approved += 1;
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), approved);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let records = s.audit.records();
    let mut concluded = std::collections::HashMap::<RequestId, usize>::new();
    for record in &records {
        if matches!(record.event, AuditEvent::Concluded { .. }) {
            *concluded.entry(record.request_id.clone()).or_default() += 1;
        }
    }
    assert_eq!(concluded.len(), 40);
    assert!(concluded.values().all(|count| *count == 1));
    s.backend.finish().await;
}

each_store!(
    quorum_of_distinct_eligible_approvals_runs_once,
    an_eligible_deny_ends_it_and_nothing_runs,
    a_vote_naming_another_fingerprint_is_refused_and_recorded,
    a_reason_is_required_when_policy_says_so,
    silence_until_the_deadline_expires_it,
    escalation_adds_approvers_after_its_delay,
    dropping_the_caller_cancels_the_request,
    a_vote_for_an_unknown_id_is_refused_and_recorded,
    no_channel_fails_closed,
    concurrent_requests_each_conclude_once,
);
