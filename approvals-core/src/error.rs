//! The one error type of the approval path.

use std::time::Duration;

use crate::audit::AuditError;
use crate::channel::ChannelError;
use crate::policy::PolicyError;
use crate::store::StoreError;
use crate::{Identity, RequestId};

/// Why a gated call did not run (or did not finish being recorded).
///
/// Neither `Display` nor `Debug` ever shows an argument value: denial reasons
/// are written by reviewers who saw only the masked view, and every other
/// field is an id, an identity, a rule name or a fault description.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An eligible approver denied the request.
    #[error("request {request_id} was denied by {by}{}", reason_suffix(.reason))]
    Denied {
        /// The request.
        request_id: RequestId,
        /// Who denied.
        by: Identity,
        /// Their reason.
        reason: Option<String>,
    },
    /// Nobody decided before the deadline; silence means deny.
    #[error("request {request_id} expired after {} without a decision", humantime::format_duration(*.timeout))]
    Expired {
        /// The request.
        request_id: RequestId,
        /// How long the gate waited.
        timeout: Duration,
    },
    /// The request was cancelled before it was decided.
    #[error("request {request_id} was cancelled")]
    Cancelled {
        /// The request.
        request_id: RequestId,
    },
    /// Policy refuses this call outright.
    #[error("refused by policy{}: {reason}", rule_suffix(.rule))]
    RefusedByPolicy {
        /// The rule that refused.
        rule: Option<String>,
        /// The rule's reason.
        reason: String,
    },
    /// No gate is configured for this call: nothing runs without one.
    #[error(
        "no approval gate is configured: pass `gate = …`, use `approvals::scope`, or set a default gate"
    )]
    NoGate,
    /// The request names no requester (or an empty one) and the gate has no
    /// default requester.
    #[error("the request has no requester and the gate has no default requester")]
    NoRequester,
    /// The policy could not be evaluated or cannot be satisfied.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A channel failed to deliver the request.
    #[error("request {request_id} failed closed: {source}")]
    Channel {
        /// The request.
        request_id: RequestId,
        /// The channel's error.
        #[source]
        source: ChannelError,
    },
    /// The audit trail could not be written, so the call did not run (or its
    /// outcome could not be recorded).
    #[error("the audit trail could not be written: {0}")]
    Audit(#[from] AuditError),
    /// The arguments changed between approval and run (through interior
    /// mutability): the approval is not valid for them.
    #[error("request {request_id}: the arguments no longer match the approved fingerprint")]
    BindingMismatch {
        /// The request.
        request_id: RequestId,
    },
    /// The arguments could not be serialized, so they cannot be fingerprinted:
    /// `serde_json` refused them (category `data`, say, for a map with
    /// non-string keys), they nest more than
    /// [`MAX_ARGUMENT_DEPTH`](crate::MAX_ARGUMENT_DEPTH) levels deep
    /// (category `nested more than 64 levels deep`), they hold a NaN or an
    /// infinity (category `a non-finite number (NaN or infinity)`), which
    /// JSON would show as `null`, or a 128-bit integer past the 64-bit range
    /// (category `an integer outside the 64-bit range`). Nothing is recorded.
    #[error("the arguments could not be serialized ({category})")]
    Arguments {
        /// The kind of serialization failure (no value is included).
        category: &'static str,
    },
    /// Too many requests are pending at once: the request was recorded and
    /// concluded as failed without being delivered
    /// ([`GateBuilder::max_pending`](crate::GateBuilder::max_pending)).
    #[error("request {request_id} failed closed: {limit} requests are already pending")]
    TooManyPending {
        /// The request.
        request_id: RequestId,
        /// The limit in force.
        limit: usize,
    },
    /// Two places in the code declare different requirements (risk,
    /// approvers, quorum, timeout) under one action name, so a policy rule
    /// written for one would govern the other. Nothing is recorded and the
    /// call does not run; give one of them its own name.
    #[error(
        "action `{action}` is declared differently at {first} and at {second}; give each its own name"
    )]
    ConflictingDeclarations {
        /// The action name both use.
        action: String,
        /// Where the action was first declared (`file:line:column`).
        first: &'static str,
        /// Where the conflicting declaration is.
        second: &'static str,
    },
    /// The request store could not be read or written; nothing ran. At
    /// request time the call fails closed; a vote gets
    /// [`Refusal::NotRecorded`](crate::Refusal::NotRecorded) and may be cast again.
    #[error("the request store failed: {0}")]
    Store(#[from] StoreError),
    /// The call was approved before, and has already run or is running
    /// (claimed by another caller, perhaps in another process, which may
    /// have stopped before recording how it ended): it never runs twice.
    #[error(
        "request {request_id} was approved and has already run or is running; it does not run twice"
    )]
    AlreadyRun {
        /// The stored request.
        request_id: RequestId,
    },
    /// The request's key names a stored request for a different call
    /// (another fingerprint): a key names one call.
    #[error("request {request_id} is stored under this key for a different call")]
    KeyConflict {
        /// The stored request.
        request_id: RequestId,
    },
    /// A call declared an editable path that is not `*` or names joined by
    /// `.` ([`ActionRequest::editable`](crate::ActionRequest::editable));
    /// nothing was recorded.
    #[error("an editable path of `{action}` {problem}")]
    EditablePath {
        /// The action.
        action: String,
        /// What is wrong with the path.
        problem: &'static str,
    },
    /// The request ended closed for another fault.
    #[error("request {request_id} failed closed: {reason}")]
    Failed {
        /// The request.
        request_id: RequestId,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// A short, stable name for how the call ended: `denied`, `expired`,
    /// `cancelled`, `refused_by_policy` for decisions; `already_run`,
    /// `key_conflict`, `binding_mismatch`; or the fault's kind (`no_gate`,
    /// `no_requester`, `policy`, `channel`, `audit`, `arguments`,
    /// `too_many_pending`, `conflicting_declarations`, `store`, `failed`).
    /// Used as the `approval` span's `approval.conclusion`; it carries no
    /// value from the call.
    pub fn outcome(&self) -> &'static str {
        match self {
            Error::Denied { .. } => "denied",
            Error::Expired { .. } => "expired",
            Error::Cancelled { .. } => "cancelled",
            Error::RefusedByPolicy { .. } => "refused_by_policy",
            Error::NoGate => "no_gate",
            Error::NoRequester => "no_requester",
            Error::Policy(_) => "policy",
            Error::Channel { .. } => "channel",
            Error::Audit(_) => "audit",
            Error::BindingMismatch { .. } => "binding_mismatch",
            Error::Arguments { .. } => "arguments",
            Error::TooManyPending { .. } => "too_many_pending",
            Error::ConflictingDeclarations { .. } => "conflicting_declarations",
            Error::Store(_) => "store",
            Error::AlreadyRun { .. } => "already_run",
            Error::KeyConflict { .. } => "key_conflict",
            Error::Failed { .. } => "failed",
            Error::EditablePath { .. } => "editable_path",
        }
    }
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|reason| format!(": {reason}"))
        .unwrap_or_default()
}

fn rule_suffix(rule: &Option<String>) -> String {
    rule.as_deref()
        .map(|rule| format!(" (rule `{rule}`)"))
        .unwrap_or_default()
}
