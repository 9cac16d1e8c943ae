//! Shadow mode's `tracing` event. Alone in its test binary: `tracing`
//! caches whether a callsite is enabled process-wide, and a sibling test
//! reaching the same callsite from a thread without a subscriber could
//! cache it as disabled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use approvals_core::audit::MemoryAudit;
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::{ActionRequest, Error, Gate};

const SECRET_EMAIL: &str = "jane.doe@customer.example";

/// Captured `tracing` output.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_disagreement_is_a_tracing_event_without_argument_values() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let gate = Gate::builder()
                .policy(Policy::new().rule(Rule::new("reads").action("crm.read").allow()))
                .shadow_policy(
                    Policy::new()
                        .group("finance", ["alice@example.com", "bob@example.com"])
                        .rule(
                            Rule::new("reads need finance").action("crm.read").require(
                                RequirementBuilder::new()
                                    .approvers(["group:finance"])
                                    .quorum(2),
                            ),
                        ),
                )
                .default_requester("agent:support-bot")
                .audit(MemoryAudit::new())
                .build();
            gate.run(ActionRequest::new("crm.read", SECRET_EMAIL), |_| async {
                Ok::<_, Error>(())
            })
            .await
            .unwrap();
        });
    });
    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = output
        .lines()
        .find(|line| line.contains("the shadow policy disagrees with the policy in force"))
        .unwrap_or_else(|| panic!("{output}"));
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains("approval.decision=allow"), "{line}");
    assert!(
        line.contains("approval.shadow.decision=require_approval"),
        "{line}"
    );
    assert!(
        line.contains("approval.shadow.rule=\"reads need finance\""),
        "{line}"
    );
    assert!(!output.contains(SECRET_EMAIL), "{output}");
}
