//! Shadow mode through the public API: a candidate policy is evaluated on
//! every call and its disagreements are recorded, but the policy in force
//! decides every call, and the trail still verifies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use approvals_core::audit::{
    AuditEvent, AuditEventKind, FanOut, JsonlAudit, MemoryAudit, PolicyDecisionRecord, verify,
};
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::{ActionRequest, Error, Gate, Identity};

const SECRET_EMAIL: &str = "jane.doe@customer.example";

fn current() -> Policy {
    Policy::new()
        .rule(Rule::new("reads").action("crm.read").allow())
        .rule(Rule::new("no drops").action("db.drop_*").refuse("never"))
        .rule(Rule::new("exports").action("data.export").allow())
}

/// Stricter: reads need finance, drops are refused too (agreement), and
/// exports name a group the candidate does not define (an error).
fn candidate() -> Policy {
    Policy::new()
        .group("finance", ["alice@example.com", "bob@example.com"])
        .rule(
            Rule::new("reads need finance").action("crm.read").require(
                RequirementBuilder::new()
                    .approvers(["group:finance"])
                    .quorum(2),
            ),
        )
        .rule(
            Rule::new("no drops")
                .action("db.drop_*")
                .refuse(format!("ask {SECRET_EMAIL}")),
        )
        .rule(
            Rule::new("exports")
                .action("data.export")
                .require(RequirementBuilder::new().approvers(["group:auditors"])),
        )
}

fn shadow_records(memory: &MemoryAudit) -> Vec<(PolicyDecisionRecord, PolicyDecisionRecord)> {
    memory
        .records()
        .into_iter()
        .filter_map(|record| match record.event {
            AuditEvent::ShadowDisagreement { current, candidate } => Some((current, candidate)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_stricter_candidate_disagrees_and_the_policy_in_force_still_decides() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let file = Arc::new(JsonlAudit::open(&log).unwrap());
    let memory = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(current())
        .shadow_policy(candidate())
        .default_requester("agent:support-bot")
        .audit(FanOut::new().with(memory.clone()).with_shared(file.clone()))
        .build();

    // Allowed by the policy in force; the candidate would ask finance.
    let ran = gate
        .run(ActionRequest::new("crm.read", 42), |id| async move {
            Ok::<_, Error>(id)
        })
        .await
        .unwrap();
    assert_eq!(ran, 42);
    let shadow = shadow_records(&memory);
    assert_eq!(shadow.len(), 1);
    let (current, candidate) = &shadow[0];
    assert_eq!(current.verdict, "allow");
    assert_eq!(current.rule.as_deref(), Some("reads"));
    assert_eq!(candidate.verdict, "require_approval");
    assert_eq!(candidate.rule.as_deref(), Some("reads need finance"));
    assert_eq!(
        candidate.approvers,
        [
            Identity::new("alice@example.com"),
            Identity::new("bob@example.com")
        ]
    );
    assert_eq!(candidate.quorum, Some(2));
    let id = memory.records()[0].request_id.clone();
    assert_eq!(
        memory.kinds_for(&id),
        [
            AuditEventKind::ShadowDisagreement,
            AuditEventKind::Requested,
            AuditEventKind::Concluded,
            AuditEventKind::Executed
        ]
    );

    // Both refuse (for different reasons): they agree, nothing is recorded.
    let refused = gate
        .run(ActionRequest::new("db.drop_users", ()), |()| async {
            Ok::<_, Error>(())
        })
        .await;
    assert!(matches!(refused, Err(Error::RefusedByPolicy { .. })));
    assert_eq!(shadow_records(&memory).len(), 1);

    // The candidate cannot decide: the error is recorded, the call runs.
    gate.run(ActionRequest::new("data.export", SECRET_EMAIL), |_| async {
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    let shadow = shadow_records(&memory);
    assert_eq!(shadow.len(), 2);
    let (current, candidate) = &shadow[1];
    assert_eq!(current.verdict, "allow");
    assert_eq!(candidate.verdict, "error");
    assert!(
        candidate
            .reason
            .as_deref()
            .unwrap()
            .contains("unknown group `auditors`"),
        "{candidate:?}"
    );

    // Turned off, the candidate is no longer asked.
    gate.set_shadow_policy(None);
    gate.run(ActionRequest::new("crm.read", 1), |_| async {
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    assert_eq!(shadow_records(&memory).len(), 2);

    file.close().await.unwrap();
    let report = verify(&log, None).unwrap();
    assert_eq!(report.records, memory.len() as u64);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("\"event\":\"shadow_disagreement\"").count(), 2);
    assert!(!text.contains(SECRET_EMAIL));
}

#[tokio::test]
async fn a_candidate_that_allows_never_lets_a_refused_call_run() {
    let memory = MemoryAudit::new();
    let lenient = Policy::new().rule(Rule::new("anything").allow());
    let gate = Gate::builder()
        .policy(current())
        .shadow_policy(lenient)
        .default_requester("agent:support-bot")
        .audit(memory.clone())
        .build();
    let refused = gate
        .run(ActionRequest::new("db.drop_users", ()), |()| async {
            panic!("the candidate decided")
        })
        .await;
    let Err::<(), Error>(Error::RefusedByPolicy { rule, .. }) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(rule.as_deref(), Some("no drops"));
    let shadow = shadow_records(&memory);
    assert_eq!(shadow.len(), 1);
    assert_eq!(shadow[0].0.verdict, "refuse");
    assert_eq!(shadow[0].1.verdict, "allow");
}
