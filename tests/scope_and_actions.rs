//! Which gate a call uses, the `Action` trait, and the sinks through a gate.

#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use approvals::audit::{self, AuditEventKind, FanOut, Fsync, JsonlAudit, MemoryAudit};
use approvals::policy::{Policy, Rule};
use approvals::testing::MockChannel;
use approvals::{Action, ActionRequest, Error, Gate, Risk};
use common::{AGENT, ALICE, requiring};

#[derive(serde::Serialize)]
struct RotateKey {
    key_id: String,
}

impl Action for RotateKey {
    fn name(&self) -> Cow<'_, str> {
        "keys.rotate".into()
    }
    fn description(&self) -> Cow<'_, str> {
        "Rotate a signing key".into()
    }
    fn risk(&self) -> Risk {
        Risk::Critical
    }
}

#[tokio::test]
async fn an_action_describes_itself_to_policy_and_reviewers() {
    let approver = MockChannel::approve_all().voting_as([ALICE]);
    let policy = Policy::new().rule(
        Rule::new("critical")
            .risk_at_least(Risk::Critical)
            .require(approvals::policy::RequirementBuilder::new().approvers([ALICE])),
    );
    let gate = Gate::builder()
        .policy(policy)
        .channel(approver.clone())
        .audit(MemoryAudit::new())
        .build();
    let request = ActionRequest::for_action(RotateKey {
        key_id: "k-7".into(),
    })
    .requester(AGENT);
    let rotated = gate
        .run(
            request,
            |action| async move { Ok::<_, Error>(action.key_id) },
        )
        .await
        .unwrap();
    assert_eq!(rotated, "k-7");
    let asked = approver.last_request().unwrap();
    assert_eq!(
        (
            asked.action.as_str(),
            asked.description.as_str(),
            asked.risk
        ),
        ("keys.rotate", "Rotate a signing key", Risk::Critical)
    );
    assert_eq!(asked.rule.as_deref(), Some("critical"));
}

#[tokio::test]
async fn the_scoped_gate_is_used_inside_the_scope_only() {
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("all").allow()))
        .audit(MemoryAudit::new())
        .build();
    let inside = approvals::scope(gate, async {
        let gate = approvals::current()?;
        gate.run(
            ActionRequest::new("x", 1).requester(AGENT),
            |n| async move { Ok::<_, Error>(n) },
        )
        .await
    })
    .await;
    assert_eq!(inside.unwrap(), 1);
    assert!(matches!(approvals::current(), Err(Error::NoGate)));
}

#[tokio::test]
async fn the_file_sink_records_a_verifiable_chain_through_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let file = Arc::new(
        JsonlAudit::builder(&path)
            .fsync(Fsync::EveryRecord)
            .hmac_key(*b"0123456789abcdef0123456789abcdef")
            .open()
            .unwrap(),
    );
    let memory = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE], 1, Duration::from_secs(60)))
        .channel(MockChannel::approve_all().voting_as([ALICE]))
        .audit(FanOut::new().with(Arc::clone(&file)).with(memory.clone()))
        .build();
    for cents in [1u64, 2, 3] {
        gate.run(
            ActionRequest::new("billing.refund", cents).requester(AGENT),
            |_| async { Ok::<_, Error>(()) },
        )
        .await
        .unwrap();
    }
    file.close().await.unwrap();
    let report = audit::verify(&path, Some(b"0123456789abcdef0123456789abcdef")).unwrap();
    assert_eq!(report.records, 12);
    assert_eq!(memory.len(), 12);
    assert_eq!(memory.of_kind(AuditEventKind::Executed).len(), 3);
    assert!(audit::verify(&path, Some(b"another key, another chain......")).is_err());

    // Reopening continues the chain.
    let file = JsonlAudit::open(&path);
    assert!(file.is_err(), "a keyed log does not open without its key");
    let file = Arc::new(
        JsonlAudit::builder(&path)
            .hmac_key(*b"0123456789abcdef0123456789abcdef")
            .open()
            .unwrap(),
    );
    assert_eq!(file.head().map(|(seq, _)| seq), Some(12));
}

#[tokio::test]
async fn a_sink_failing_in_a_fan_out_fails_the_call_closed() {
    let failing = MemoryAudit::failing();
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("all").allow()))
        .audit(FanOut::new().with(MemoryAudit::new()).with(failing))
        .build();
    let result = gate
        .run(ActionRequest::new("x", 1).requester(AGENT), |_| async {
            Ok::<_, Error>(())
        })
        .await;
    assert!(matches!(result, Err(Error::Audit(_))), "{result:?}");
}
