//! What reviewers see and do: the approval request, votes and conclusions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mask::MaskedView;
use crate::{Fingerprint, Identity, RequestId, Risk, Timestamp};

/// A request for approval as channels and reviewers see it: every field is
/// safe to show (the arguments and justification are masked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The request's id.
    pub id: RequestId,
    /// The action name.
    pub action: String,
    /// What the action does.
    pub description: String,
    /// The risk level.
    pub risk: Risk,
    /// Who asks.
    pub requester: Identity,
    /// The requester's reason, masked.
    pub justification: Option<String>,
    /// The arguments, masked.
    pub arguments: MaskedView,
    /// The fingerprint a vote must name to count.
    pub fingerprint: Fingerprint,
    /// The identities whose votes count when the request is made (the
    /// requester's never does; escalation may add more). Channels show it;
    /// only the gate judges votes.
    pub approvers: Vec<Identity>,
    /// How many distinct approvals are needed.
    pub quorum: u32,
    /// Whether a deny must carry a reason.
    pub deny_reason_required: bool,
    /// The policy rule that asked for approval (`None`: the default rule).
    pub rule: Option<String>,
    /// When the request was made.
    pub requested_at: Timestamp,
    /// When silence becomes a denial.
    pub deadline: Timestamp,
    /// The version shown: 1 as the request was made, one more with each
    /// accepted edit. Each version has its own fingerprint, and needs its
    /// own quorum.
    #[serde(default = "first_version")]
    pub version: u32,
    /// The argument paths a reviewer may change before approving
    /// (`"*"`: any); empty when the call takes no edits. Channels offer
    /// edits only for these; the gate judges every edit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub editable: Vec<String>,
    /// A JSON Schema of the argument type, when the call gave one
    /// ([`ActionRequest::argument_schema`](crate::ActionRequest::argument_schema)):
    /// channels may publish it so that an editor's client checks an edit
    /// before sending it. It describes types, never values; the gate
    /// checks every edit against the type itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument_schema: Option<std::sync::Arc<serde_json::Value>>,
}

fn first_version() -> u32 {
    1
}

/// A reviewer's choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
pub enum Choice {
    /// Let the call run.
    Approve,
    /// Stop the call.
    Deny {
        /// Why, in the reviewer's words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Choice {
    /// A deny with a reason.
    pub fn deny(reason: impl Into<String>) -> Self {
        Choice::Deny {
            reason: Some(reason.into()),
        }
    }

    /// Whether this is an approval.
    pub fn is_approve(&self) -> bool {
        matches!(self, Choice::Approve)
    }
}

/// One vote, as a channel hands it to the gate.
///
/// The fingerprint is the one the channel showed the reviewer: a vote is
/// bound to exactly that call. The channel it came through is not part of
/// the ballot: the gate stamps it from the [`VoteBox`](crate::VoteBox) the
/// ballot was cast into, so a channel cannot vote in another's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The request voted on.
    pub request_id: RequestId,
    /// The fingerprint the reviewer saw.
    pub fingerprint: Fingerprint,
    /// Who votes, already translated to a canonical identity by the channel.
    pub voter: Identity,
    /// Approve or deny.
    pub choice: Choice,
}

impl Ballot {
    /// A ballot for the request `review` shows, by `voter`.
    pub fn new(review: &Review, voter: impl Into<Identity>, choice: Choice) -> Self {
        Self {
            request_id: review.id.clone(),
            fingerprint: review.fingerprint,
            voter: voter.into(),
            choice,
        }
    }
}

/// The most characters a deny reason may have. Longer reasons are refused
/// with [`Refusal::ReasonTooLong`] by the gate, whatever the channel; a
/// channel may use it to size its input field.
pub const MAX_REASON_CHARS: usize = 2_000;

/// Who has approved a pending request so far, from the gate's own tally.
///
/// Channels receive it after every counted approval that does not end the
/// request ([`Channel::progress`](crate::Channel::progress)), from whichever
/// channel the vote came, so that no channel keeps a tally of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The approvers whose votes counted, in order.
    pub approved_by: Vec<Identity>,
    /// Approvals needed.
    pub quorum: u32,
}

/// Why the gate did not count a vote. The `Display` text is addressed to the
/// voter and safe to show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No request with that id is pending or recently concluded.
    #[error("there is no such approval request")]
    UnknownRequest,
    /// The vote names another fingerprint than the request's.
    #[error("this vote is for a different call than the one pending")]
    FingerprintMismatch,
    /// The request was already approved, denied, expired or cancelled.
    #[error("this request has already been concluded")]
    AlreadyConcluded,
    /// The voter is the requester.
    #[error("you cannot approve or deny your own request")]
    SelfApproval,
    /// The voter is not among the eligible approvers.
    #[error("you are not an eligible approver for this request")]
    NotEligible,
    /// The voter has already voted on this request.
    #[error("you have already voted on this request")]
    AlreadyVoted,
    /// A deny without a reason (or with only white space) where policy
    /// requires one.
    #[error("a reason is required to deny this request")]
    ReasonRequired,
    /// A deny reason longer than [`MAX_REASON_CHARS`].
    #[error("the reason is too long (at most {MAX_REASON_CHARS} characters)")]
    ReasonTooLong,
    /// The vote could not be recorded in the audit trail, so it does not count.
    #[error("the vote could not be recorded, so it did not count")]
    NotRecorded,
    /// The vote was judged after the request's deadline; the request has
    /// expired.
    #[error("the deadline for this request has passed")]
    DeadlinePassed,
    /// Too many votes named no pending request within a minute; this one
    /// was neither judged nor recorded (see
    /// [`GateBuilder::stray_vote_limit`](crate::GateBuilder::stray_vote_limit)).
    #[error("too many votes for requests that are not pending; try again later")]
    Throttled,
    /// An edit changes an argument the requirement does not declare
    /// editable, or the call takes no edits at all.
    #[error("this change is not allowed: only the arguments policy declares editable may change")]
    NotEditable,
    /// An edit that is not a valid change of the arguments: not a JSON
    /// object, no change at all, or arguments that do not fit their type.
    #[error("this edit is not valid for the call's arguments")]
    InvalidEdit,
    /// Policy refuses the call as edited; the request stays as it was.
    #[error("policy refuses the call as edited")]
    EditRefusedByPolicy,
}

impl Refusal {
    /// Every refusal, in declaration order.
    pub const ALL: [Refusal; 14] = [
        Refusal::UnknownRequest,
        Refusal::FingerprintMismatch,
        Refusal::AlreadyConcluded,
        Refusal::SelfApproval,
        Refusal::NotEligible,
        Refusal::AlreadyVoted,
        Refusal::ReasonRequired,
        Refusal::ReasonTooLong,
        Refusal::NotRecorded,
        Refusal::DeadlinePassed,
        Refusal::Throttled,
        Refusal::NotEditable,
        Refusal::InvalidEdit,
        Refusal::EditRefusedByPolicy,
    ];

    /// The stable code of this refusal (`"self_approval"`), as serialized.
    /// Every channel that answers with codes uses this one table.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownRequest => "unknown_request",
            Refusal::FingerprintMismatch => "fingerprint_mismatch",
            Refusal::AlreadyConcluded => "already_concluded",
            Refusal::SelfApproval => "self_approval",
            Refusal::NotEligible => "not_eligible",
            Refusal::AlreadyVoted => "already_voted",
            Refusal::ReasonRequired => "reason_required",
            Refusal::ReasonTooLong => "reason_too_long",
            Refusal::NotRecorded => "not_recorded",
            Refusal::DeadlinePassed => "deadline_passed",
            Refusal::Throttled => "throttled",
            Refusal::NotEditable => "not_editable",
            Refusal::InvalidEdit => "invalid_edit",
            Refusal::EditRefusedByPolicy => "edit_refused_by_policy",
        }
    }

    /// The HTTP status an inbound channel answers this refusal with: `404`
    /// for an unknown request, `403` for a voter who may not vote, `409` for
    /// a vote that conflicts with the request's state, `422` for a reason
    /// that does not meet the rule or an edit that is not valid, `429` when throttled and `503` when the
    /// vote could not be recorded.
    pub fn http_status(self) -> u16 {
        match self {
            Refusal::UnknownRequest => 404,
            Refusal::SelfApproval
            | Refusal::NotEligible
            | Refusal::NotEditable
            | Refusal::EditRefusedByPolicy => 403,
            Refusal::FingerprintMismatch
            | Refusal::AlreadyConcluded
            | Refusal::AlreadyVoted
            | Refusal::DeadlinePassed => 409,
            Refusal::ReasonRequired | Refusal::ReasonTooLong | Refusal::InvalidEdit => 422,
            Refusal::Throttled => 429,
            Refusal::NotRecorded => 503,
        }
    }
}

/// What the gate made of a vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum VoteOutcome {
    /// The vote counted.
    Counted {
        /// Distinct eligible approvals so far.
        approvals: u32,
        /// Who they are, in order.
        #[serde(default)]
        approved_by: Vec<Identity>,
        /// Approvals needed.
        quorum: u32,
        /// Set when this vote concluded the request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conclusion: Option<Conclusion>,
    },
    /// The vote did not count, and why.
    Refused {
        /// Why not.
        refusal: Refusal,
    },
}

impl VoteOutcome {
    /// Whether the vote counted.
    pub fn counted(&self) -> bool {
        matches!(self, VoteOutcome::Counted { .. })
    }

    /// The refusal, if the vote did not count.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            VoteOutcome::Refused { refusal } => Some(*refusal),
            VoteOutcome::Counted { .. } => None,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Conclusion {
    /// Policy allowed the call without review (it is still audited).
    AllowedByPolicy {
        /// The rule that allowed it.
        rule: Option<String>,
    },
    /// Policy refused the call outright.
    RefusedByPolicy {
        /// The rule that refused it.
        rule: Option<String>,
        /// The rule's reason.
        reason: String,
    },
    /// The quorum of eligible approvals was reached.
    Approved {
        /// The approvers whose votes counted, in order.
        by: Vec<Identity>,
    },
    /// An eligible approver denied.
    Denied {
        /// Who denied.
        by: Identity,
        /// Their reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The deadline passed without a decision: silence means deny.
    Expired,
    /// The caller stopped waiting (its future was dropped), or the request
    /// was cancelled.
    Cancelled,
    /// A fault ended the request closed: a channel failed, the audit trail
    /// could not be written, or no eligible approver could reach the quorum.
    Failed {
        /// What went wrong, without any argument value.
        reason: String,
    },
}

impl Conclusion {
    /// Whether the call may run.
    pub fn permits_run(&self) -> bool {
        matches!(
            self,
            Conclusion::Approved { .. } | Conclusion::AllowedByPolicy { .. }
        )
    }

    /// The outcome's name, as serialized in its `outcome` tag
    /// (`"approved"`, `"expired"`, ...).
    pub fn outcome(&self) -> &'static str {
        match self {
            Conclusion::AllowedByPolicy { .. } => "allowed_by_policy",
            Conclusion::RefusedByPolicy { .. } => "refused_by_policy",
            Conclusion::Approved { .. } => "approved",
            Conclusion::Denied { .. } => "denied",
            Conclusion::Expired => "expired",
            Conclusion::Cancelled => "cancelled",
            Conclusion::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for Conclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conclusion::AllowedByPolicy { .. } => f.write_str("allowed by policy"),
            Conclusion::RefusedByPolicy { reason, .. } => write!(f, "refused by policy: {reason}"),
            Conclusion::Approved { by } => {
                f.write_str("approved by ")?;
                write_list(f, by)
            }
            Conclusion::Denied {
                by,
                reason: Some(reason),
            } => write!(f, "denied by {by}: {reason}"),
            Conclusion::Denied { by, reason: None } => write!(f, "denied by {by}"),
            Conclusion::Expired => f.write_str("expired without a decision"),
            Conclusion::Cancelled => f.write_str("cancelled"),
            Conclusion::Failed { reason } => write!(f, "failed closed: {reason}"),
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, identities: &[Identity]) -> fmt::Result {
    for (index, identity) in identities.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{identity}")?;
    }
    Ok(())
}

/// How the body of an approved call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ExecutionOutcome {
    /// It returned `Ok`.
    Ok,
    /// It returned `Err`. Only the error's type is recorded: its message may
    /// carry argument values.
    Error {
        /// The Rust type name of the error.
        error_type: String,
    },
    /// It panicked. The panic message is not recorded, for the same reason.
    Panicked,
    /// The body never ran although the call was allowed or approved.
    NotRun {
        /// Why (the approval was dropped unused, or the arguments no longer
        /// matched the fingerprint).
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_code_is_its_serialized_name() {
        for refusal in Refusal::ALL {
            let tagged = serde_json::to_value(refusal).unwrap();
            assert_eq!(tagged, refusal.code(), "{refusal:?}");
            assert!((400..600).contains(&refusal.http_status()), "{refusal:?}");
        }
    }

    #[test]
    fn the_outcome_name_is_the_serialized_tag() {
        let every = [
            Conclusion::AllowedByPolicy { rule: None },
            Conclusion::RefusedByPolicy {
                rule: None,
                reason: "no".to_owned(),
            },
            Conclusion::Approved { by: Vec::new() },
            Conclusion::Denied {
                by: Identity::new("a@example.com"),
                reason: None,
            },
            Conclusion::Expired,
            Conclusion::Cancelled,
            Conclusion::Failed {
                reason: "fault".to_owned(),
            },
        ];
        for conclusion in every {
            let tagged = serde_json::to_value(&conclusion).unwrap();
            assert_eq!(tagged["outcome"], conclusion.outcome(), "{conclusion:?}");
        }
    }
}
