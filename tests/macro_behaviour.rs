//! What `#[requires_approval]` does, through `MockChannel`: the body runs
//! once with the very arguments that were approved, a denial never runs it,
//! the request carries what the attribute declares, and only the masked view
//! leaves the gate.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use approvals::audit::{AuditEvent, AuditEventKind, MemoryAudit};
use approvals::mask::{MaskedView, Masker, TypeLabelMasker};
use approvals::policy::{Policy, PolicyError, RequirementBuilder, Rule};
use approvals::testing::MockChannel;
use approvals::{ArgumentMask, Conclusion, Error, ExecutionOutcome, Gate, Risk, requires_approval};
use common::{AGENT, ALICE, BOB, CAROL};
use serde::Serialize;

static EXPORTS_RUN: AtomicUsize = AtomicUsize::new(0);

/// A database handle: not serializable, so it must be skipped.
struct Pool {
    name: &'static str,
}

/// Who to export: not `Clone`, so the body can only have it if it is moved.
#[derive(Serialize)]
struct Filter {
    country: String,
    min_orders: u32,
}

/// Export the selected customers to a bucket.
#[requires_approval(
    name = "crm.export_customers",
    risk = "high",
    approvers = "data-governance",
    quorum = 2,
    timeout = "15m"
)]
async fn export_customers(
    bucket: &str,
    #[approval(mask = "email")] contact: String,
    filter: Filter,
    #[approval(skip)] db: &Pool,
) -> Result<String, Error> {
    EXPORTS_RUN.fetch_add(1, Ordering::SeqCst);
    Ok(format!(
        "{bucket}:{contact}:{}:{}:{}",
        filter.country, filter.min_orders, db.name
    ))
}

fn governance_policy() -> Policy {
    Policy::new().group("data-governance", [ALICE, BOB, CAROL])
}

fn gate_with(policy: Policy, approver: &MockChannel, audit: &MemoryAudit) -> Gate {
    Gate::builder()
        .policy(policy)
        .channel(approver.clone())
        .audit(audit.clone())
        .default_requester(AGENT)
        .build()
}

fn filter() -> Filter {
    Filter {
        country: "FR".into(),
        min_orders: 3,
    }
}

#[tokio::test]
async fn an_approved_call_runs_its_body_once_with_the_original_arguments() {
    let approver = MockChannel::approve_all().voting_as([ALICE, BOB]);
    let audit = MemoryAudit::new();
    let gate = gate_with(governance_policy(), &approver, &audit);
    let pool = Pool { name: "primary" };
    let before = EXPORTS_RUN.load(Ordering::SeqCst);

    let exported = approvals::scope(
        gate,
        export_customers("s3://exports", "jane@example.com".into(), filter(), &pool),
    )
    .await
    .unwrap();

    assert_eq!(exported, "s3://exports:jane@example.com:FR:3:primary");
    assert_eq!(EXPORTS_RUN.load(Ordering::SeqCst) - before, 1);
    assert_eq!(
        audit.kinds_for(&approver.last_request().unwrap().id),
        [
            AuditEventKind::Requested,
            AuditEventKind::Vote,
            AuditEventKind::Vote,
            AuditEventKind::Concluded,
            AuditEventKind::Executed
        ]
    );
}

static SEEN_BY_BODY: Mutex<Option<usize>> = Mutex::new(None);

#[requires_approval]
async fn keep_buffer(buffer: Vec<u8>) -> Result<usize, Error> {
    *SEEN_BY_BODY.lock().unwrap() = Some(buffer.as_ptr() as usize);
    Ok(buffer.len())
}

#[tokio::test]
async fn the_body_receives_the_very_values_that_were_fingerprinted_not_copies() {
    let approver = MockChannel::approve_all().voting_as([ALICE]);
    let audit = MemoryAudit::new();
    let gate = gate_with(
        common::requiring(&[ALICE], 1, Duration::from_secs(60)),
        &approver,
        &audit,
    );
    let buffer = vec![1u8, 2, 3];
    let address = buffer.as_ptr() as usize;
    let length = approvals::scope(gate, keep_buffer(buffer)).await.unwrap();
    assert_eq!(length, 3);
    assert_eq!(
        *SEEN_BY_BODY.lock().unwrap(),
        Some(address),
        "moved, not cloned"
    );
}

#[tokio::test]
async fn a_denied_call_never_runs_and_returns_the_reason() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[requires_approval(approvers = ["alice@example.com"])]
    async fn rotate_key(key_id: String) -> Result<(), Error> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        drop(key_id);
        Ok(())
    }

    let approver = MockChannel::deny_all("rotation freeze until Monday").voting_as([ALICE]);
    let audit = MemoryAudit::new();
    let gate = gate_with(Policy::new(), &approver, &audit);
    let result = approvals::scope(gate, rotate_key("k-1".into())).await;
    match result {
        Err(Error::Denied { by, reason, .. }) => {
            assert_eq!(by.as_str(), ALICE);
            assert_eq!(reason.as_deref(), Some("rotation freeze until Monday"));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), 0);
    assert!(audit.of_kind(AuditEventKind::Executed).is_empty());
}

#[tokio::test]
async fn skipped_arguments_are_absent_and_the_audit_holds_only_the_masked_view() {
    let approver = MockChannel::approve_all().voting_as([ALICE, BOB]);
    let audit = MemoryAudit::new();
    let gate = gate_with(governance_policy(), &approver, &audit);
    let pool = Pool {
        name: "postgres://admin:hunter2@db",
    };
    approvals::scope(
        gate,
        export_customers("s3://exports", "jane@example.com".into(), filter(), &pool),
    )
    .await
    .unwrap();

    let asked = approver.last_request().unwrap();
    let arguments = asked.arguments.as_value().as_object().unwrap();
    let mut keys: Vec<&str> = arguments.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["bucket", "contact", "filter"], "`db` is skipped");

    let everything = format!(
        "{}{}",
        serde_json::to_string(&audit.records()).unwrap(),
        serde_json::to_string(&approver.asked()).unwrap(),
    );
    // The default masker shows the bucket and the filter (nothing personal)
    // and the contact as a pseudonym; the skipped pool never appears.
    assert!(arguments["contact"].as_str().unwrap().starts_with("EMAIL_"));
    for raw in ["jane@example.com", "hunter2", "postgres://admin", "primary"] {
        assert!(!everything.contains(raw), "{raw} leaked: {everything}");
    }
}

#[tokio::test]
async fn the_attribute_declares_the_request_and_its_requirement() {
    let approver = MockChannel::approve_all().voting_as([ALICE, BOB]);
    let audit = MemoryAudit::new();
    let gate = gate_with(governance_policy(), &approver, &audit);
    let pool = Pool { name: "p" };
    approvals::scope(gate, export_customers("b", "c".into(), filter(), &pool))
        .await
        .unwrap();
    let asked = approver.last_request().unwrap();
    assert_eq!(asked.action, "crm.export_customers");
    assert_eq!(
        asked.description,
        "Export the selected customers to a bucket."
    );
    assert_eq!(asked.risk, Risk::High);
    assert_eq!(
        asked.rule, None,
        "no rule matched: the declared requirement applied"
    );
    let approvers: Vec<&str> = asked.approvers.iter().map(|a| a.as_str()).collect();
    assert_eq!(approvers, [ALICE, BOB, CAROL]);
    assert_eq!(asked.quorum, 2);
    let timeout = asked
        .deadline
        .as_system_time()
        .duration_since(asked.requested_at.as_system_time())
        .unwrap();
    assert_eq!(timeout, Duration::from_secs(15 * 60));
}

#[tokio::test]
async fn a_matching_policy_rule_wins_over_the_attribute() {
    // The rule allows exports outright: nobody is asked.
    let approver = MockChannel::approve_all().voting_as([ALICE, BOB]);
    let audit = MemoryAudit::new();
    let policy =
        governance_policy().rule(Rule::new("exports are fine").action("crm.export_*").allow());
    let gate = gate_with(policy, &approver, &audit);
    let pool = Pool { name: "p" };
    approvals::scope(gate, export_customers("b", "c".into(), filter(), &pool))
        .await
        .unwrap();
    approver.assert_not_asked();

    // The rule requires one approval from carol: not the attribute's quorum of 2.
    let approver = MockChannel::approve_all().voting_as([CAROL]);
    let policy = governance_policy().rule(
        Rule::new("carol decides")
            .action("crm.export_*")
            .require(RequirementBuilder::new().approvers([CAROL])),
    );
    let gate = gate_with(policy, &approver, &audit);
    approvals::scope(gate, export_customers("b", "c".into(), filter(), &pool))
        .await
        .unwrap();
    let asked = approver.last_request().unwrap();
    assert_eq!(
        (asked.rule.as_deref(), asked.quorum),
        (Some("carol decides"), 1)
    );

    // A refusing rule refuses, whatever the attribute says.
    let policy = governance_policy().rule(Rule::new("no exports").action("crm.*").refuse("frozen"));
    let gate = gate_with(policy, &approver, &audit);
    let refused = approvals::scope(gate, export_customers("b", "c".into(), filter(), &pool)).await;
    assert!(
        matches!(refused, Err(Error::RefusedByPolicy { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_bare_approver_name_is_a_group_and_an_undefined_one_fails_closed() {
    let approver = MockChannel::approve_all().voting_as([ALICE, BOB]);
    let audit = MemoryAudit::new();
    // No group `data-governance` in this policy.
    let gate = gate_with(Policy::new().group("sre", [ALICE]), &approver, &audit);
    let pool = Pool { name: "p" };
    let result = approvals::scope(gate, export_customers("b", "c".into(), filter(), &pool)).await;
    match result {
        Err(Error::Policy(PolicyError::Invalid { message, .. })) => assert_eq!(
            message,
            "unknown group `data-governance` in the requirement declared by the call (defined groups: sre)"
        ),
        other => panic!("expected a policy error, got {other:?}"),
    }
    approver.assert_not_asked();
    assert!(audit.of_kind(AuditEventKind::Executed).is_empty());
}

#[tokio::test]
async fn an_unreachable_declared_quorum_fails_closed() {
    #[requires_approval(approvers = ["alice@example.com", "bob@example.com"], quorum = 2)]
    async fn transfer(cents: u64) -> Result<u64, Error> {
        Ok(cents)
    }
    let approver = MockChannel::approve_all().voting_as([ALICE, BOB]);
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .channel(approver.clone())
        .audit(audit.clone())
        .build();
    // Alice asks: only bob is left, and two approvals are needed.
    let result = approvals::scope(gate, approvals::scope_requester(ALICE, transfer(5))).await;
    assert!(
        matches!(&result, Err(Error::Policy(PolicyError::Invalid { message, .. })) if message.contains("needs 2 approvals but only 1")),
        "{result:?}"
    );
    approver.assert_not_asked();
}

#[tokio::test]
async fn requester_and_justification_expressions_may_use_the_arguments() {
    #[requires_approval(
        approvers = "alice@example.com",
        requester = format!("agent:{team}-bot"),
        justification = format!("ticket {ticket} asks for it")
    )]
    async fn grant(team: &str, ticket: u32) -> Result<String, Error> {
        Ok(format!("{team}/{ticket}"))
    }
    let approver = MockChannel::approve_all().voting_as([ALICE]);
    let audit = MemoryAudit::new();
    let gate = gate_with(Policy::new(), &approver, &audit);
    let granted = approvals::scope(gate, grant("ops", 7)).await.unwrap();
    assert_eq!(granted, "ops/7");
    let asked = approver.last_request().unwrap();
    assert_eq!(asked.requester.as_str(), "agent:ops-bot");
    // Justifications go through the masker like everything else shown to
    // reviewers; this one holds nothing to mask.
    assert_eq!(asked.justification.as_deref(), Some("ticket 7 asks for it"));
}

#[tokio::test]
async fn the_gate_expression_wins_over_the_scope_and_the_scope_requester_applies() {
    static EXPLICIT: std::sync::OnceLock<(Gate, MemoryAudit)> = std::sync::OnceLock::new();
    fn explicit() -> &'static Gate {
        &EXPLICIT
            .get_or_init(|| {
                let audit = MemoryAudit::new();
                let gate = Gate::builder()
                    .policy(Policy::new().rule(Rule::new("all").allow()))
                    .audit(audit.clone())
                    .build();
                (gate, audit)
            })
            .0
    }
    #[requires_approval(gate = explicit())]
    async fn read(id: u32) -> Result<u32, Error> {
        Ok(id)
    }
    let scoped = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("all").allow()))
        .audit(scoped.clone())
        .build();
    let read = approvals::scope(gate, approvals::scope_requester("agent:reader", read(3)))
        .await
        .unwrap();
    assert_eq!(read, 3);
    assert!(scoped.is_empty(), "the scoped gate was not used");
    let records = EXPLICIT.get().unwrap().1.records();
    let Some(AuditEvent::Requested { requester, .. }) = records.first().map(|r| &r.event) else {
        panic!("nothing recorded");
    };
    assert_eq!(requester.as_str(), "agent:reader");
}

#[tokio::test]
async fn without_a_requester_the_call_fails_closed() {
    #[requires_approval]
    async fn read(id: u32) -> Result<u32, Error> {
        Ok(id)
    }
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("all").allow()))
        .audit(MemoryAudit::new())
        .build();
    let result = approvals::scope(gate, read(1)).await;
    assert!(matches!(result, Err(Error::NoRequester)), "{result:?}");
}

/// A masker that records the overrides it is given.
#[derive(Clone, Default)]
struct RecordingMasker {
    overrides: Arc<Mutex<Vec<ArgumentMask>>>,
}

impl Masker for RecordingMasker {
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &serde_json::Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        self.overrides.lock().unwrap().extend_from_slice(overrides);
        TypeLabelMasker.mask_arguments(action, arguments, overrides)
    }

    fn mask_text(&self, text: &str) -> String {
        TypeLabelMasker.mask_text(text)
    }
}

#[requires_approval(approvers = "alice@example.com")]
async fn send_email(
    #[approval(mask = "EMAIL:Partial", rename = "to")] recipient: String,
    #[approval(mask = "drop")] body: String,
    #[approval(mask = "secret")] api_key: String,
    subject: String,
) -> Result<usize, Error> {
    Ok(recipient.len() + body.len() + api_key.len() + subject.len())
}

#[tokio::test]
async fn mask_specs_reach_the_masker_and_drop_removes_the_argument() {
    let masker = RecordingMasker::default();
    let approver = MockChannel::approve_all().voting_as([ALICE]);
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .masker(masker.clone())
        .channel(approver.clone())
        .audit(audit.clone())
        .default_requester(AGENT)
        .build();
    let sent = approvals::scope(
        gate,
        send_email(
            "jane@example.com".into(),
            "Your invoice is attached".into(),
            "sk_live_123".into(),
            "Invoice".into(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(sent, 16 + 24 + 11 + 7);

    let overrides: Vec<(String, String)> = masker
        .overrides
        .lock()
        .unwrap()
        .iter()
        .map(|o| (o.argument.to_string(), o.spec.to_string()))
        .collect();
    assert_eq!(
        overrides,
        [
            ("to".to_owned(), "email:partial".to_owned()),
            ("body".to_owned(), "drop".to_owned()),
            ("api_key".to_owned(), "secret".to_owned()),
        ]
    );
    let Some(AuditEvent::Requested { arguments, .. }) =
        audit.records().first().map(|r| r.event.clone())
    else {
        panic!("nothing recorded");
    };
    let mut keys: Vec<String> = arguments
        .as_value()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["api_key", "subject", "to"],
        "`body` is dropped, `recipient` renamed"
    );
    let text = serde_json::to_string(&audit.records()).unwrap();
    assert!(!text.contains("Your invoice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_each_run_once() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[requires_approval(approvers = ["alice@example.com", "bob@example.com"])]
    async fn refund(customer: String, cents: u64) -> Result<u64, Error> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        assert!(customer.starts_with("c_"));
        Ok(cents)
    }
    let approver = MockChannel::approve_all().voting_as([ALICE]);
    let audit = MemoryAudit::new();
    let gate = gate_with(Policy::new(), &approver, &audit);
    // Each call on a task of its own, on two worker threads.
    let calls = (0..1_000u64)
        .map(|i| tokio::spawn(approvals::scope(gate.clone(), refund(format!("c_{i}"), i))));
    let results = futures::future::join_all(calls).await;
    let total: u64 = results
        .into_iter()
        .map(|joined| joined.unwrap().unwrap())
        .sum();
    assert_eq!(total, (0..1_000u64).sum::<u64>());
    assert_eq!(RUNS.load(Ordering::SeqCst), 1_000);
    approver.assert_asked(1_000);
    let executed = audit.of_kind(AuditEventKind::Executed);
    assert_eq!(executed.len(), 1_000);
    assert!(executed.iter().all(|record| matches!(
        &record.event,
        AuditEvent::Executed {
            outcome: ExecutionOutcome::Ok
        }
    )));
    assert_eq!(
        approver
            .conclusions()
            .iter()
            .filter(|(_, conclusion)| matches!(conclusion, Conclusion::Approved { .. }))
            .count(),
        1_000
    );
}

#[tokio::test]
async fn a_failing_body_is_recorded_and_its_error_returned() {
    #[derive(Debug)]
    enum MailError {
        Gate(Error),
        Bounced,
    }
    impl From<Error> for MailError {
        fn from(error: Error) -> Self {
            MailError::Gate(error)
        }
    }
    #[requires_approval(approvers = "alice@example.com")]
    async fn deliver(to: String) -> Result<(), MailError> {
        drop(to);
        Err(MailError::Bounced)
    }
    let approver = MockChannel::approve_all().voting_as([ALICE]);
    let audit = MemoryAudit::new();
    let gate = gate_with(Policy::new(), &approver, &audit);
    let result = approvals::scope(gate, deliver("x@y.z".into())).await;
    assert!(matches!(result, Err(MailError::Bounced)));
    let executed = audit.of_kind(AuditEventKind::Executed);
    assert!(matches!(
        &executed[0].event,
        AuditEvent::Executed { outcome: ExecutionOutcome::Error { error_type } } if error_type.ends_with("MailError")
    ));

    let denier = MockChannel::deny_all("no").voting_as([ALICE]);
    let gate = gate_with(Policy::new(), &denier, &audit);
    let result = approvals::scope(gate, deliver("x@y.z".into())).await;
    assert!(
        matches!(result, Err(MailError::Gate(Error::Denied { .. }))),
        "{result:?}"
    );
}
