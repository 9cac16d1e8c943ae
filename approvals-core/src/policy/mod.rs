//! Policy: whether a call runs freely, needs approval, or is refused.
//!
//! (Temporary: replaced by the full rule engine.)

mod decision;

pub use decision::{Decision, Escalation, PolicyInput, Requirement, Verdict};

use std::time::Duration;

/// A policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    default: Option<Requirement>,
}

impl Policy {
    /// A policy with one default requirement.
    pub fn with_default(requirement: Requirement) -> Self {
        Self { default: Some(requirement) }
    }

    /// Evaluates the policy.
    pub fn evaluate(&self, _input: &PolicyInput<'_>) -> Result<Decision, PolicyError> {
        Ok(Decision {
            rule: None,
            verdict: Verdict::RequireApproval(self.default.clone().unwrap_or(Requirement {
                approvers: Vec::new(),
                quorum: 1,
                timeout: Duration::from_secs(900),
                escalation: None,
                deny_reason_required: false,
            })),
        })
    }
}

/// A policy error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Fewer eligible approvers than the quorum (the requester never counts).
    #[error("{} needs {quorum} approvals but only {eligible} eligible approvers (other than the requester) exist", rule_name(.rule))]
    QuorumUnreachable {
        /// The rule.
        rule: Option<String>,
        /// Eligible approvers other than the requester.
        eligible: usize,
        /// Approvals needed.
        quorum: u32,
    },
}

fn rule_name(rule: &Option<String>) -> String {
    rule.as_deref()
        .map_or_else(|| "the default rule".to_owned(), |rule| format!("rule `{rule}`"))
}
