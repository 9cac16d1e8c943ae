//! The in-memory approvers, driven through a real gate.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use approvals_backends::testing::{Behaviour, MockChannel, QueueChannel, QueueError};
use approvals_core::audit::{AuditEventKind, MemoryAudit};
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::{
    ActionRequest, Ballot, Choice, Conclusion, Error, Gate, Identity, Refusal, RequestId,
    VoteOutcome,
};

const MINUTE: Duration = Duration::from_secs(60);

fn gated(
    approver: impl approvals_core::Channel + 'static,
    approvers: &[&str],
    quorum: u32,
) -> (Gate, MemoryAudit) {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("all").require(
                    RequirementBuilder::new()
                        .approvers(approvers.iter().copied())
                        .quorum(quorum)
                        .timeout(MINUTE),
                ),
            ),
        )
        .channel(approver)
        .default_requester("agent:test")
        .audit(audit.clone())
        .build();
    (gate, audit)
}

async fn call(gate: &Gate, action: &'static str) -> Result<u32, Error> {
    gate.run(ActionRequest::new(action, 7u32), |n| async move {
        Ok::<_, Error>(n)
    })
    .await
}

#[tokio::test]
async fn approve_all_votes_as_each_identity_until_the_quorum() {
    let mock = MockChannel::approve_all().voting_as(["a@x.io", "b@x.io", "c@x.io"]);
    let (gate, _) = gated(mock.clone(), &["a@x.io", "b@x.io", "c@x.io"], 2);
    assert_eq!(call(&gate, "one").await.unwrap(), 7);
    let outcomes = mock.vote_outcomes();
    assert_eq!(
        outcomes.len(),
        2,
        "the third voter is not needed: {outcomes:?}"
    );
    assert!(matches!(
        &outcomes[1].1,
        VoteOutcome::Counted {
            conclusion: Some(Conclusion::Approved { .. }),
            ..
        }
    ));
    mock.assert_asked(1);
    mock.assert_asked_for("one");
    assert_eq!(mock.conclusions().len(), 1);
}

#[tokio::test]
async fn deny_all_denies_with_the_reason() {
    let mock = MockChannel::deny_all("not now").voting_as(["a@x.io"]);
    let (gate, _) = gated(mock, &["a@x.io"], 1);
    let error = call(&gate, "one").await.unwrap_err();
    assert!(
        matches!(&error, Error::Denied { reason: Some(r), .. } if r == "not now"),
        "{error}"
    );
    assert!(error.to_string().ends_with("was denied by a@x.io: not now"));
}

#[tokio::test]
async fn decide_by_predicate_and_script_in_order() {
    let mock = MockChannel::decide(|request| {
        (request.action == "ok")
            .then_some(Choice::Approve)
            .or(Some(Choice::deny("no")))
    })
    .voting_as(["a@x.io"]);
    let (gate, _) = gated(mock, &["a@x.io"], 1);
    assert!(call(&gate, "ok").await.is_ok());
    assert!(matches!(
        call(&gate, "other").await,
        Err(Error::Denied { .. })
    ));

    let mock = MockChannel::script([Choice::Approve, Choice::deny("second")]).voting_as(["a@x.io"]);
    let (gate, _) = gated(mock.clone(), &["a@x.io"], 1);
    assert!(call(&gate, "x").await.is_ok());
    assert!(matches!(call(&gate, "x").await, Err(Error::Denied { .. })));
    mock.set_behaviour(Behaviour::ApproveAll);
    assert!(call(&gate, "x").await.is_ok());
    mock.assert_asked(3);
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_script_stays_silent_and_the_request_expires() {
    let mock = MockChannel::script([]).voting_as(["a@x.io"]);
    let (gate, _) = gated(mock, &["a@x.io"], 1);
    assert!(matches!(call(&gate, "x").await, Err(Error::Expired { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_delayed_vote_arrives_after_the_delay_and_before_the_deadline() {
    let mock = MockChannel::approve_all()
        .voting_as(["a@x.io"])
        .with_delay(Duration::from_secs(30));
    let (gate, _) = gated(mock.clone(), &["a@x.io"], 1);
    let started = tokio::time::Instant::now();
    assert!(call(&gate, "x").await.is_ok());
    assert!(started.elapsed() >= Duration::from_secs(30));

    let slow = MockChannel::approve_all()
        .voting_as(["a@x.io"])
        .with_delay(2 * MINUTE);
    let (gate, _) = gated(slow, &["a@x.io"], 1);
    assert!(matches!(call(&gate, "x").await, Err(Error::Expired { .. })));
}

#[tokio::test]
async fn a_mock_voting_as_the_requester_is_refused() {
    let mock = MockChannel::approve_all().voting_as(["agent:test", "a@x.io"]);
    let (gate, audit) = gated(mock.clone(), &["agent:test", "a@x.io"], 1);
    assert!(call(&gate, "x").await.is_ok());
    let outcomes = mock.vote_outcomes();
    assert_eq!(
        outcomes[0],
        (
            Identity::new("agent:test"),
            VoteOutcome::Refused {
                refusal: Refusal::SelfApproval
            }
        )
    );
    assert_eq!(audit.of_kind(AuditEventKind::Vote).len(), 2);
}

#[tokio::test]
#[should_panic(expected = "was asked 1 times, expected 2")]
async fn assert_asked_reports_the_count() {
    let mock = MockChannel::approve_all().voting_as(["a@x.io"]);
    let (gate, _) = gated(mock.clone(), &["a@x.io"], 1);
    let _ = call(&gate, "x").await;
    mock.assert_asked(2);
}

#[tokio::test]
async fn the_queue_lists_pending_requests_and_forgets_concluded_ones() {
    let (approver, inbox) = QueueChannel::new();
    let (gate, _) = gated(approver, &["a@x.io"], 1);
    // An id the queue never saw still goes to the gate, which refuses it.
    assert_eq!(
        inbox
            .approve(&RequestId::from_string("nope"), "a@x.io")
            .await
            .map(|outcome| outcome.refusal()),
        Ok(Some(Refusal::UnknownRequest))
    );
    let first = tokio::spawn({
        let gate = gate.clone();
        async move { call(&gate, "first").await }
    });
    let second = tokio::spawn({
        let gate = gate.clone();
        async move { call(&gate, "second").await }
    });
    let a = inbox.next_request().await;
    let b = inbox.next_request().await;
    assert_eq!(inbox.pending().len(), 2);
    assert_ne!(a.id, b.id);
    assert!(inbox.approve(&a.id, "a@x.io").await.unwrap().counted());
    assert!(inbox.deny(&b.id, "a@x.io", "no").await.unwrap().counted());
    let results = (first.await.unwrap(), second.await.unwrap());
    assert!(
        results.0.is_ok() != results.1.is_ok(),
        "one approved, one denied"
    );
    assert!(inbox.pending().is_empty());
    assert!(matches!(
        inbox.wait_concluded(&b.id).await,
        Conclusion::Denied { .. }
    ));
    assert!(matches!(
        inbox.conclusion(&a.id),
        Some(Conclusion::Approved { .. })
    ));
    // A vote after the conclusion still reaches the gate through `cast`.
    let late = inbox
        .cast(Ballot::new(&a, "a@x.io", Choice::Approve))
        .await
        .unwrap();
    assert_eq!(late.refusal(), Some(Refusal::AlreadyConcluded));
}

#[tokio::test]
async fn a_fresh_queue_is_not_connected() {
    let (_approver, inbox) = QueueChannel::new();
    let (gate, _) = gated(MockChannel::silent(), &["a@x.io"], 1);
    let ballot = Ballot {
        request_id: RequestId::from_string("r"),
        fingerprint: approvals_core::Fingerprint::of(
            "x",
            &serde_json::Value::Null,
            &Identity::new("y"),
        ),
        voter: Identity::new("a@x.io"),
        choice: Choice::Approve,
    };
    assert_eq!(
        inbox.cast(ballot.clone()).await,
        Err(QueueError::NotConnected)
    );
    assert_eq!(
        gate.votes().cast(ballot).await.refusal(),
        Some(Refusal::UnknownRequest)
    );
}
