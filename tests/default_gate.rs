//! The process-wide default gate (its own test binary: it is set once).

#![allow(clippy::unwrap_used)]

use approvals::audit::MemoryAudit;
use approvals::policy::{Policy, Rule};
use approvals::{ActionRequest, Error, Gate};

#[tokio::test]
async fn the_default_gate_is_used_when_no_scope_is_set_and_is_set_once() {
    assert!(matches!(approvals::current(), Err(Error::NoGate)));
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("all").allow()))
        .audit(audit.clone())
        .build();
    approvals::set_default(gate.clone()).unwrap();
    assert!(
        approvals::set_default(gate).is_err(),
        "a second default is refused"
    );
    let current = approvals::current().unwrap();
    current
        .run(ActionRequest::new("x", 1).requester("agent:a"), |_| async {
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 3);
}
