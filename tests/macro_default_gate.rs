//! `#[requires_approval]` with the process-wide default gate and requester
//! (a test binary of its own: both are set once per process).

#![allow(clippy::unwrap_used)]

use approvals::audit::{AuditEvent, MemoryAudit};
use approvals::policy::{Policy, Rule};
use approvals::{Error, Gate, requires_approval};

#[requires_approval(name = "crm.read_record")]
async fn read_record(id: u64) -> Result<u64, Error> {
    Ok(id)
}

#[tokio::test]
async fn the_process_defaults_are_used_when_nothing_is_in_scope() {
    // Nothing configured: fail closed.
    assert!(matches!(read_record(1).await, Err(Error::NoGate)));

    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("reads").action("crm.read_*").allow()))
        .audit(audit.clone())
        .build();
    approvals::set_default(gate).unwrap();
    // A gate, but no requester anywhere: fail closed.
    assert!(matches!(read_record(2).await, Err(Error::NoRequester)));

    approvals::set_default_requester("agent:default").unwrap();
    assert!(approvals::set_default_requester("agent:other").is_err());
    assert_eq!(read_record(3).await.unwrap(), 3);
    // A scoped requester wins over the default one.
    assert_eq!(
        approvals::scope_requester("agent:scoped", read_record(4))
            .await
            .unwrap(),
        4
    );
    let requesters: Vec<String> = audit
        .records()
        .iter()
        .filter_map(|record| match &record.event {
            AuditEvent::Requested { requester, .. } => Some(requester.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(requesters, ["agent:default", "agent:scoped"]);
}
