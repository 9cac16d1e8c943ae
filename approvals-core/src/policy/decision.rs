//! What policy decides for one call: the interface between policy and gate.

use std::time::Duration;

use serde_json::Value;

use crate::{Identity, Risk};

/// The facts about a call that policy rules can match.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// The action name.
    pub action: &'a str,
    /// The risk level.
    pub risk: Risk,
    /// Who asks.
    pub requester: &'a Identity,
    /// The raw serialized arguments (policy may test them; it never shows them).
    pub arguments: &'a Value,
}

/// The outcome of evaluating a policy for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The name of the rule that matched; `None` when no rule matched and the
    /// default requirement applies.
    pub rule: Option<String>,
    /// Which requirement decided: a rule, the call's declared requirement,
    /// or the policy's default.
    pub source: DecisionSource,
    /// What to do.
    pub verdict: Verdict,
}

/// Where a [`Decision`] came from, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionSource {
    /// A policy rule matched the call (its name is [`Decision::rule`]).
    Rule,
    /// No rule matched; the requirement declared by the call applied.
    Declared,
    /// No rule matched and the call declared nothing; the policy's default
    /// requirement applied.
    Default,
}

/// Run freely, ask people, or refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run without review (still audited).
    Allow,
    /// Never run.
    Refuse {
        /// Why, for the caller and the audit trail.
        reason: String,
    },
    /// Run only once people approve.
    RequireApproval(Requirement),
}

impl Verdict {
    /// `allow`, `refuse` or `require_approval`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Refuse { .. } => "refuse",
            Verdict::RequireApproval(_) => "require_approval",
        }
    }
}

/// Who must approve, how many, and how long they have; groups already
/// resolved to identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Eligible approvers, without duplicates.
    pub approvers: Vec<Identity>,
    /// Distinct eligible approvals needed (at least 1).
    pub quorum: u32,
    /// From the request to its deadline; silence until then means deny.
    pub timeout: Duration,
    /// Who else is asked, and when, if the first approvers are silent.
    pub escalation: Option<Escalation>,
    /// Whether a deny must carry a reason.
    pub deny_reason_required: bool,
    /// The argument paths a reviewer may change (`None`: the rule says
    /// nothing, and the call's own declaration applies).
    pub editable: Option<Vec<String>>,
}

/// After `after`, `approvers` become eligible as well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// Delay from the request.
    pub after: Duration,
    /// The fallback approvers.
    pub approvers: Vec<Identity>,
}
