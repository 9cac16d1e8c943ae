//! Approve with edits, through the public API: what may change, who may
//! change it, that an edit is a new version judged again and approved
//! again, that the body runs with exactly the edited arguments, and that
//! the audit trail shows both versions, masked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use approvals::audit::{AuditEvent, AuditRecord, JsonlAudit, MemoryAudit};
use approvals::channel::{Ballot, Choice, Refusal, VoteOutcome};
use approvals::edit::EditOutcome;
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::testing::{MockChannel, QueueChannel, QueueHandle};
use approvals::{ActionRequest, Conclusion, Error, Gate, RequestId};
use common::{AGENT, ALICE, BOB, MALLORY};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Refund {
    customer: String,
    email: String,
    amount_cents: u64,
    bucket: String,
}

fn refund(amount_cents: u64) -> Refund {
    Refund {
        customer: "c_42".to_owned(),
        email: "jane.doe@example.com".to_owned(),
        amount_cents,
        bucket: "prod-exports".to_owned(),
    }
}

/// Refunds need `quorum` of alice and bob; `editable` as given.
fn refunds(quorum: u32, editable: Option<&[&str]>) -> Policy {
    let mut requirement = RequirementBuilder::new()
        .approvers([ALICE, BOB])
        .quorum(quorum)
        .timeout(MINUTE);
    if let Some(paths) = editable {
        requirement = requirement.editable(paths.iter().copied());
    }
    Policy::new().rule(
        Rule::new("refunds")
            .action("billing.refund")
            .require(requirement),
    )
}

struct Setup {
    gate: Gate,
    inbox: QueueHandle,
    audit: MemoryAudit,
}

fn setup(policy: Policy) -> Setup {
    let (channel, inbox) = QueueChannel::new();
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(policy)
        .channel(channel)
        .audit(audit.clone())
        .build();
    Setup { gate, inbox, audit }
}

/// What the body of a call ran with, in order.
type Ran = Arc<Mutex<Vec<Refund>>>;

/// Makes the call in a task; the body records what it ran with.
fn call(
    gate: &Gate,
    request: ActionRequest<Refund>,
) -> (tokio::task::JoinHandle<Result<u64, Error>>, Ran) {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ran);
    let gate = gate.clone();
    let task = tokio::spawn(async move {
        gate.run(request, move |refund: Refund| async move {
            let cents = refund.amount_cents;
            seen.lock().unwrap().push(refund);
            Ok::<_, Error>(cents)
        })
        .await
    });
    (task, ran)
}

fn edits(audit: &MemoryAudit, id: &RequestId) -> Vec<AuditRecord> {
    audit
        .for_request(id)
        .into_iter()
        .filter(|record| matches!(record.event, AuditEvent::Edited { .. }))
        .collect()
}

#[tokio::test]
async fn the_body_runs_with_exactly_the_edited_arguments_and_never_the_original() {
    let Setup { gate, inbox, audit } = setup(refunds(1, Some(&["amount_cents"])));
    let request = ActionRequest::new("billing.refund", refund(420_000))
        .requester(AGENT)
        .editable(["amount_cents"]);
    let (task, ran) = call(&gate, request);
    let review = inbox.next_request().await;
    assert_eq!(review.version, 1);
    assert_eq!(review.editable, ["amount_cents"]);

    let outcome = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 42_000 }))
        .await
        .unwrap();
    let EditOutcome::Accepted {
        version,
        fingerprint,
        changed,
        approvals,
        quorum,
        conclusion,
    } = outcome
    else {
        panic!("the edit was refused: {outcome:?}");
    };
    assert_eq!((version, approvals, quorum), (2, 1, 1));
    assert_eq!(changed, ["amount_cents"]);
    assert_ne!(fingerprint, review.fingerprint);
    assert!(matches!(conclusion, Some(Conclusion::Approved { .. })));

    assert_eq!(task.await.unwrap().unwrap(), 42_000);
    assert_eq!(*ran.lock().unwrap(), [refund(42_000)]);

    // The trail: requested, edited (both versions masked, both
    // fingerprints, what changed), concluded, executed.
    let kinds: Vec<&str> = audit
        .kinds_for(&review.id)
        .iter()
        .map(|kind| kind.as_str())
        .collect();
    assert_eq!(kinds, ["requested", "edited", "concluded", "executed"]);
    let edited = edits(&audit, &review.id);
    let AuditEvent::Edited {
        editor,
        from_version,
        from_fingerprint,
        before,
        after,
        to_fingerprint,
        changed,
        accepted,
        ..
    } = &edited[0].event
    else {
        unreachable!()
    };
    assert_eq!(editor.as_str(), ALICE);
    assert_eq!(*from_version, 1);
    assert_eq!(*from_fingerprint, review.fingerprint);
    assert_eq!(*to_fingerprint, Some(fingerprint));
    assert_eq!(changed, &["amount_cents"]);
    assert!(accepted);
    let before = before.as_ref().unwrap().to_string();
    let after = after.as_ref().unwrap().to_string();
    assert!(
        before.contains("420000") && after.contains("42000"),
        "{before} / {after}"
    );
    for text in [&before, &after] {
        assert!(!text.contains("jane.doe@example.com"), "{text}");
    }
}

#[tokio::test]
async fn run_exact_and_a_plain_authorize_get_the_edited_version_too() {
    let Setup { gate, inbox, .. } = setup(refunds(1, Some(&["bucket"])));
    let request = ActionRequest::new("billing.refund", refund(100))
        .requester(AGENT)
        .editable::<&str>([]);
    let waiting = tokio::spawn({
        let gate = gate.clone();
        async move { gate.authorize(request).await }
    });
    let review = inbox.next_request().await;
    inbox
        .approve_with(&review.id, BOB, json!({ "bucket": "staging-exports" }))
        .await
        .unwrap();
    let approval = waiting.await.unwrap().unwrap();
    // The caller's value is still the caller's; what runs is the edit.
    assert_eq!(approval.arguments().unwrap().bucket, "prod-exports");
    let edited: Refund = serde_json::from_slice(approval.edited_arguments().unwrap()).unwrap();
    assert_eq!(edited.bucket, "staging-exports");
    let bucket = approval
        .run_exact(|refund: Refund| async move { Ok::<_, Error>(refund.bucket) })
        .await
        .unwrap();
    assert_eq!(bucket, "staging-exports");
}

#[tokio::test]
async fn an_edit_outside_editable_is_refused_recorded_and_changes_nothing() {
    let Setup { gate, inbox, audit } = setup(refunds(1, Some(&["amount_cents"])));
    let request = ActionRequest::new("billing.refund", refund(420_000))
        .requester(AGENT)
        .editable(["amount_cents"]);
    let (task, ran) = call(&gate, request);
    let review = inbox.next_request().await;

    let outcome = inbox
        .approve_with(
            &review.id,
            ALICE,
            json!({ "amount_cents": 1, "customer": "c_1" }),
        )
        .await
        .unwrap();
    let EditOutcome::Refused {
        refusal: Refusal::NotEditable,
        problem: Some(problem),
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(problem.path, "customer");
    let recorded = edits(&audit, &review.id);
    assert!(matches!(
        &recorded[0].event,
        AuditEvent::Edited {
            accepted: false,
            refusal: Some(Refusal::NotEditable),
            after: None,
            ..
        }
    ));
    // Removing a field is a change of it as well.
    let removed = inbox
        .approve_with(&review.id, ALICE, json!({ "bucket": null }))
        .await
        .unwrap();
    assert_eq!(removed.refusal(), Some(Refusal::NotEditable));

    // The request is still version 1, and approving it as it is runs the
    // original arguments.
    inbox.approve(&review.id, BOB).await.unwrap();
    assert_eq!(task.await.unwrap().unwrap(), 420_000);
    assert_eq!(*ran.lock().unwrap(), [refund(420_000)]);
}

#[tokio::test]
async fn an_edit_policy_refuses_is_refused_and_the_request_stays_as_it_was() {
    let policy = Policy::new()
        .rule(
            Rule::new("huge refunds")
                .action("billing.refund")
                .when(approvals::policy::Arg::path("amount_cents").gt(1_000_000))
                .refuse("refunds over 10,000 need finance"),
        )
        .rule(
            Rule::new("refunds").action("billing.refund").require(
                RequirementBuilder::new()
                    .approvers([ALICE, BOB])
                    .editable(["amount_cents"])
                    .timeout(MINUTE),
            ),
        );
    let Setup { gate, inbox, audit } = setup(policy);
    let request = ActionRequest::new("billing.refund", refund(5_000))
        .requester(AGENT)
        .editable(["amount_cents"]);
    let (task, _ran) = call(&gate, request);
    let review = inbox.next_request().await;
    let outcome = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 2_000_000 }))
        .await
        .unwrap();
    assert_eq!(outcome.refusal(), Some(Refusal::EditRefusedByPolicy));
    assert!(matches!(
        &edits(&audit, &review.id)[0].event,
        AuditEvent::Edited {
            accepted: false,
            refusal: Some(Refusal::EditRefusedByPolicy),
            ..
        }
    ));
    assert_eq!(inbox.review(&review.id).unwrap().version, 1);
    inbox.deny(&review.id, BOB, "not today").await.unwrap();
    assert!(matches!(task.await.unwrap(), Err(Error::Denied { .. })));
}

#[tokio::test]
async fn an_edit_that_policy_would_allow_still_needs_the_edited_versions_approval() {
    // Small refunds run unreviewed; this one was large when asked.
    let policy = Policy::new()
        .rule(
            Rule::new("small refunds")
                .action("billing.refund")
                .when(approvals::policy::Arg::path("amount_cents").lt(1_000))
                .allow(),
        )
        .rule(
            Rule::new("refunds").action("billing.refund").require(
                RequirementBuilder::new()
                    .approvers([ALICE, BOB])
                    .quorum(2)
                    .editable(["amount_cents"])
                    .timeout(MINUTE),
            ),
        );
    let Setup { gate, inbox, .. } = setup(policy);
    let request = ActionRequest::new("billing.refund", refund(420_000))
        .requester(AGENT)
        .editable(["amount_cents"]);
    let (task, ran) = call(&gate, request);
    let review = inbox.next_request().await;
    let outcome = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 500 }))
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            EditOutcome::Accepted {
                approvals: 1,
                quorum: 2,
                conclusion: None,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(ran.lock().unwrap().is_empty());
    inbox.approve(&review.id, BOB).await.unwrap();
    assert_eq!(task.await.unwrap().unwrap(), 500);
}

#[tokio::test]
async fn with_quorum_two_an_edit_resets_the_tally_to_the_new_version() {
    let Setup { gate, inbox, .. } = setup(refunds(2, Some(&["amount_cents"])));
    let request = ActionRequest::new("billing.refund", refund(420_000))
        .requester(AGENT)
        .editable(["amount_cents"]);
    let (task, ran) = call(&gate, request);
    let review = inbox.next_request().await;

    // Bob approves version 1; alice edits: bob's approval does not carry.
    let bob = inbox.approve(&review.id, BOB).await.unwrap();
    assert!(bob.counted());
    let edit = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 42_000 }))
        .await
        .unwrap();
    let EditOutcome::Accepted {
        approvals: 1,
        quorum: 2,
        conclusion: None,
        ..
    } = edit
    else {
        panic!("{edit:?}");
    };
    assert_eq!(
        inbox.progress(&review.id).unwrap().approved_by,
        [approvals::Identity::new(ALICE)]
    );

    // A vote naming version 1 no longer counts.
    let stale = inbox
        .cast(Ballot::new(&review, BOB, Choice::Approve))
        .await
        .unwrap();
    assert_eq!(stale.refusal(), Some(Refusal::FingerprintMismatch));
    assert!(ran.lock().unwrap().is_empty());

    // Bob approves version 2 (the queue shows him the revised request).
    let revised = inbox.review(&review.id).unwrap();
    assert_eq!(revised.version, 2);
    let VoteOutcome::Counted { conclusion, .. } = inbox.approve(&review.id, BOB).await.unwrap()
    else {
        panic!("bob's approval of version 2 did not count");
    };
    assert!(
        matches!(&conclusion, Some(Conclusion::Approved { by }) if by.len() == 2),
        "{conclusion:?}"
    );
    assert_eq!(task.await.unwrap().unwrap(), 42_000);
}

#[tokio::test]
async fn the_requester_and_the_ineligible_cannot_edit() {
    let Setup { gate, inbox, .. } = setup(refunds(1, Some(&["*"])));
    let request = ActionRequest::new("billing.refund", refund(420_000))
        .requester(AGENT)
        .editable(["amount_cents"]);
    let (task, ran) = call(&gate, request);
    let review = inbox.next_request().await;
    for (editor, refusal) in [
        (AGENT, Refusal::SelfApproval),
        (MALLORY, Refusal::NotEligible),
    ] {
        let outcome = inbox
            .approve_with(&review.id, editor, json!({ "amount_cents": 1 }))
            .await
            .unwrap();
        assert_eq!(outcome.refusal(), Some(refusal), "{editor}");
    }
    // An edit of an unknown request is refused and recorded as well.
    let unknown = inbox
        .approve_with(&RequestId::random(), ALICE, json!({ "amount_cents": 1 }))
        .await
        .unwrap();
    assert_eq!(unknown.refusal(), Some(Refusal::UnknownRequest));
    assert!(ran.lock().unwrap().is_empty());
    gate.votes()
        .cast(Ballot::new(&review, ALICE, Choice::deny("no")))
        .await;
    assert!(matches!(task.await.unwrap(), Err(Error::Denied { .. })));
}

#[tokio::test]
async fn a_malformed_or_wrongly_typed_edit_names_the_field_and_no_value() {
    let Setup { gate, inbox, audit } = setup(refunds(1, Some(&["*"])));
    let request = ActionRequest::new("billing.refund", refund(420_000))
        .requester(AGENT)
        .editable::<&str>([]);
    let (task, _ran) = call(&gate, request);
    let review = inbox.next_request().await;

    let wrong_type = inbox
        .approve_with(
            &review.id,
            ALICE,
            json!({ "amount_cents": "mallory.secret@example.com" }),
        )
        .await
        .unwrap();
    let EditOutcome::Refused {
        refusal: Refusal::InvalidEdit,
        problem: Some(problem),
    } = &wrong_type
    else {
        panic!("{wrong_type:?}");
    };
    assert_eq!(problem.path, "amount_cents");
    assert!(problem.to_string().contains("expected u64"), "{problem}");

    let not_an_object = inbox
        .approve_with(&review.id, ALICE, json!(["amount_cents", 1]))
        .await
        .unwrap();
    assert_eq!(not_an_object.refusal(), Some(Refusal::InvalidEdit));
    let nothing = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 420_000 }))
        .await
        .unwrap();
    assert_eq!(nothing.refusal(), Some(Refusal::InvalidEdit));

    // No value of the edit reaches the outcome or the trail.
    let trail = serde_json::to_string(&audit.records()).unwrap();
    assert!(!trail.contains("mallory.secret"), "{trail}");
    assert!(!format!("{wrong_type:?}").contains("mallory.secret"));
    inbox.approve(&review.id, BOB).await.unwrap();
    assert_eq!(task.await.unwrap().unwrap(), 420_000);
}

#[tokio::test]
async fn nothing_is_editable_unless_both_policy_and_the_call_allow_it() {
    // Policy says editable, but the call does not take edits.
    let Setup { gate, inbox, .. } = setup(refunds(1, Some(&["*"])));
    let (task, _) = call(
        &gate,
        ActionRequest::new("billing.refund", refund(1)).requester(AGENT),
    );
    let review = inbox.next_request().await;
    assert!(review.editable.is_empty());
    let outcome = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 2 }))
        .await
        .unwrap();
    assert_eq!(outcome.refusal(), Some(Refusal::NotEditable));
    inbox.approve(&review.id, ALICE).await.unwrap();
    assert_eq!(task.await.unwrap().unwrap(), 1);

    // The call declares a field editable, but the rule says none is.
    let Setup { gate, inbox, .. } = setup(refunds(1, Some(&[])));
    let (task, _) = call(
        &gate,
        ActionRequest::new("billing.refund", refund(1))
            .requester(AGENT)
            .editable(["amount_cents"]),
    );
    let review = inbox.next_request().await;
    assert!(review.editable.is_empty());
    let outcome = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 2 }))
        .await
        .unwrap();
    assert_eq!(outcome.refusal(), Some(Refusal::NotEditable));
    inbox.approve(&review.id, ALICE).await.unwrap();
    assert_eq!(task.await.unwrap().unwrap(), 1);

    // The rule says nothing: the call's declaration applies.
    let Setup { gate, inbox, .. } = setup(refunds(1, None));
    let (task, _) = call(
        &gate,
        ActionRequest::new("billing.refund", refund(1))
            .requester(AGENT)
            .editable(["amount_cents"]),
    );
    let review = inbox.next_request().await;
    assert_eq!(review.editable, ["amount_cents"]);
    let outcome = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 2 }))
        .await
        .unwrap();
    assert!(outcome.accepted(), "{outcome:?}");
    assert_eq!(task.await.unwrap().unwrap(), 2);
}

#[tokio::test]
async fn an_invalid_editable_path_fails_the_call_before_anything_is_recorded() {
    let Setup { gate, audit, .. } = setup(refunds(1, None));
    let request = ActionRequest::new("billing.refund", refund(1))
        .requester(AGENT)
        .editable(["amount cents"]);
    let error = gate.authorize(request).await.err().unwrap();
    assert!(matches!(error, Error::EditablePath { .. }), "{error}");
    assert!(audit.is_empty());
}

#[tokio::test]
async fn editable_is_read_from_a_policy_file() {
    let policy = Policy::from_toml_str(
        r#"
[[rule]]
name = "refunds"
action = "billing.refund"
effect = "require_approval"
approvers = ["alice@example.com"]
editable = ["amount_cents", "bucket"]
"#,
    )
    .unwrap();
    let Setup { gate, inbox, .. } = setup(policy);
    let (task, _) = call(
        &gate,
        ActionRequest::new("billing.refund", refund(1))
            .requester(AGENT)
            .editable::<&str>([]),
    );
    let review = inbox.next_request().await;
    assert_eq!(review.editable, ["amount_cents", "bucket"]);
    inbox.approve(&review.id, ALICE).await.unwrap();
    task.await.unwrap().unwrap();

    let bad = Policy::from_toml_str(
        r#"
[[rule]]
name = "refunds"
action = "billing.refund"
effect = "allow"
editable = ["amount_cents"]
"#,
    )
    .err()
    .unwrap();
    assert!(
        bad.to_string().contains("`editable` does not apply"),
        "{bad}"
    );
    let bad_path = Policy::from_toml_str(
        r#"
[[rule]]
name = "refunds"
action = "billing.refund"
effect = "require_approval"
approvers = ["alice@example.com"]
editable = ["items[0]"]
"#,
    )
    .err()
    .unwrap();
    assert!(
        bad_path.to_string().contains("`editable` path"),
        "{bad_path}"
    );
}

#[tokio::test]
async fn the_mock_approves_with_an_edit() {
    let mock = MockChannel::approve_with(json!({ "amount_cents": 42_000 })).voting_as([ALICE]);
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(refunds(1, Some(&["amount_cents"])))
        .channel(mock.clone())
        .audit(audit)
        .build();
    let request = ActionRequest::new("billing.refund", refund(420_000))
        .requester(AGENT)
        .editable(["amount_cents"]);
    let cents = gate
        .run(request, |refund: Refund| async move {
            Ok::<_, Error>(refund.amount_cents)
        })
        .await
        .unwrap();
    assert_eq!(cents, 42_000);
    assert!(mock.edit_outcomes()[0].1.accepted());
}

#[tokio::test]
async fn a_gate_with_a_store_takes_no_edits() {
    let (channel, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(refunds(1, Some(&["*"])))
        .channel(channel)
        .store(approvals::store::MemoryStore::new())
        .audit(MemoryAudit::new())
        .build();
    let (task, _) = call(
        &gate,
        ActionRequest::new("billing.refund", refund(7))
            .requester(AGENT)
            .editable(["amount_cents"]),
    );
    let review = inbox.next_request().await;
    assert!(review.editable.is_empty());
    let outcome = inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 8 }))
        .await
        .unwrap();
    assert_eq!(outcome.refusal(), Some(Refusal::NotEditable));
    inbox.approve(&review.id, ALICE).await.unwrap();
    assert_eq!(task.await.unwrap().unwrap(), 7);
}

#[tokio::test]
async fn a_trail_with_edits_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (channel, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(refunds(1, Some(&["amount_cents"])))
        .channel(channel)
        .audit(JsonlAudit::open(&path).unwrap())
        .build();
    let (task, _) = call(
        &gate,
        ActionRequest::new("billing.refund", refund(420_000))
            .requester(AGENT)
            .editable(["amount_cents"]),
    );
    let review = inbox.next_request().await;
    inbox
        .approve_with(&review.id, ALICE, json!({ "customer": "x" }))
        .await
        .unwrap();
    inbox
        .approve_with(&review.id, ALICE, json!({ "amount_cents": 42_000 }))
        .await
        .unwrap();
    assert_eq!(task.await.unwrap().unwrap(), 42_000);
    drop(gate);
    let report = approvals::audit::verify(&path, None).unwrap();
    assert_eq!(report.records, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("jane.doe@example.com"));
    assert_eq!(text.matches("\"event\":\"edited\"").count(), 2);
}

/// The fields of a refund, and a value for each that differs from
/// `refund(…)`'s.
const FIELDS: [&str; 4] = ["customer", "email", "amount_cents", "bucket"];

fn changed_value(field: &str, amount: u64) -> serde_json::Value {
    match field {
        "amount_cents" => json!(amount),
        "email" => json!("someone.else@example.org"),
        other => json!(format!("{other}-edited")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// For any editable set and any edit: the edit is accepted exactly
    /// when every field it changes is editable, and the body then runs
    /// with exactly the edited arguments; refused, the original runs once
    /// approved.
    #[test]
    fn an_edit_is_accepted_exactly_when_it_changes_only_editable_fields(
        editable in proptest::sample::subsequence(FIELDS.to_vec(), 0..=4),
        edited in proptest::sample::subsequence(FIELDS.to_vec(), 1..=4),
        amount in 0u64..1_000_000,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let editable: Vec<&str> = editable;
            let Setup { gate, inbox, .. } = setup(refunds(1, Some(&editable)));
            let original = refund(1_000_001);
            let request = ActionRequest::new("billing.refund", original.clone())
                .requester(AGENT)
                .editable::<&str>([]);
            let (task, ran) = call(&gate, request);
            let review = inbox.next_request().await;
            let changes: serde_json::Map<String, serde_json::Value> = edited
                .iter()
                .map(|field| ((*field).to_owned(), changed_value(field, amount)))
                .collect();
            let mut expected = serde_json::to_value(&original).unwrap();
            for (field, value) in &changes {
                expected[field] = value.clone();
            }
            let outcome = inbox
                .approve_with(&review.id, ALICE, serde_json::Value::Object(changes))
                .await
                .unwrap();
            let allowed = edited.iter().all(|field| editable.contains(field));
            prop_assert_eq!(outcome.accepted(), allowed, "{:?}", outcome);
            if !allowed {
                prop_assert_eq!(outcome.refusal(), Some(Refusal::NotEditable));
                inbox.approve(&review.id, BOB).await.unwrap();
                expected = serde_json::to_value(&original).unwrap();
            }
            task.await.unwrap().unwrap();
            let ran = ran.lock().unwrap().clone();
            prop_assert_eq!(ran.len(), 1);
            prop_assert_eq!(serde_json::to_value(&ran[0]).unwrap(), expected);
            Ok(())
        })?;
    }
}
