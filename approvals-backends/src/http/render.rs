//! The JSON shapes of the API, as documented in `openapi.json`.

use approvals_core::mask::MaskedView;
use approvals_core::{Conclusion, Fingerprint, Identity, RequestId, Review, Risk, Timestamp};
use serde::{Deserialize, Serialize};

/// A request as the API shows it: the masked view only, its deadline, who
/// has approved so far (the gate's tally, whichever channel they voted
/// through) and, once it has ended, how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestView {
    /// The request's id.
    pub id: RequestId,
    /// `pending`, or how it ended (`approved`, `denied`, `expired`,
    /// `cancelled`, `failed`).
    pub status: String,
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
    /// The fingerprint of the call; a vote may name it to make sure it
    /// decides exactly this call.
    pub fingerprint: Fingerprint,
    /// Who may vote (escalation adds to it).
    pub approvers: Vec<Identity>,
    /// How many distinct approvals are needed.
    pub quorum: u32,
    /// Approvals counted so far, as the gate last reported them.
    pub approvals: u32,
    /// Who approved, in order, as the gate last reported it.
    pub approved_by: Vec<Identity>,
    /// Whether a deny must carry a reason.
    pub deny_reason_required: bool,
    /// The policy rule that asked for approval.
    pub rule: Option<String>,
    /// When the request was made.
    pub requested_at: Timestamp,
    /// When silence becomes a denial.
    pub deadline: Timestamp,
    /// How the request ended, once it has.
    pub conclusion: Option<Conclusion>,
    /// The version shown: 1 as asked, one more with each accepted edit.
    /// Votes must name this version's fingerprint.
    pub version: u32,
    /// The argument paths an approver may change before approving
    /// (`POST /v1/requests/{id}/edit`); empty when the call takes no edits.
    pub editable: Vec<String>,
}

impl RequestView {
    pub(crate) fn new(
        request: &Review,
        approvers: &[Identity],
        approved_by: &[Identity],
        conclusion: Option<&Conclusion>,
    ) -> Self {
        Self {
            id: request.id.clone(),
            status: conclusion.map_or("pending", Conclusion::outcome).to_owned(),
            action: request.action.clone(),
            description: request.description.clone(),
            risk: request.risk,
            requester: request.requester.clone(),
            justification: request.justification.clone(),
            arguments: request.arguments.clone(),
            fingerprint: request.fingerprint,
            approvers: approvers.to_vec(),
            quorum: request.quorum,
            approvals: u32::try_from(approved_by.len()).unwrap_or(u32::MAX),
            approved_by: approved_by.to_vec(),
            deny_reason_required: request.deny_reason_required,
            rule: request.rule.clone(),
            requested_at: request.requested_at,
            deadline: request.deadline,
            conclusion: conclusion.cloned(),
            version: request.version,
            editable: request.editable.clone(),
        }
    }
}

/// The list of pending requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingList {
    /// Pending requests, oldest first.
    pub requests: Vec<RequestView>,
}

/// The body of `POST /v1/requests/{id}/approve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApproveBody {
    /// The fingerprint of the call the reviewer saw (from the request's
    /// view): the vote counts only for exactly that call.
    pub fingerprint: Fingerprint,
}

impl ApproveBody {
    /// An approval of the call with `fingerprint`.
    pub fn new(fingerprint: Fingerprint) -> Self {
        Self { fingerprint }
    }
}

/// The body of `POST /v1/requests/{id}/deny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DenyBody {
    /// As for approve.
    pub fingerprint: Fingerprint,
    /// Why; required when the request says `deny_reason_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl DenyBody {
    /// A denial of the call with `fingerprint`, with an optional reason.
    pub fn new(fingerprint: Fingerprint, reason: Option<String>) -> Self {
        Self {
            fingerprint,
            reason,
        }
    }
}

/// The body of `POST /v1/requests/{id}/edit`: approve the call with some
/// arguments changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EditBody {
    /// The fingerprint of the version the reviewer saw.
    pub fingerprint: Fingerprint,
    /// The change, as a JSON merge patch of the arguments (RFC 7396):
    /// `{"amount_cents": 42000}` replaces one field and keeps the others,
    /// `null` removes one. Only the request's `editable` paths may change.
    pub changes: serde_json::Value,
}

impl EditBody {
    /// An edit of the version with `fingerprint`.
    pub fn new(fingerprint: Fingerprint, changes: serde_json::Value) -> Self {
        Self {
            fingerprint,
            changes,
        }
    }
}

/// The answer to an accepted edit: the new version, which the edit
/// approved on the caller's behalf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EditReceipt {
    /// Always `accepted`.
    pub result: String,
    /// The request edited.
    pub request_id: RequestId,
    /// The new version's number.
    pub version: u32,
    /// The new version's fingerprint: later votes must name it.
    pub fingerprint: Fingerprint,
    /// The argument paths the edit changed.
    pub changed: Vec<String>,
    /// Distinct approvals of the new version (the caller's).
    pub approvals: u32,
    /// Approvals it needs.
    pub quorum: u32,
    /// Set when the edit's approval ended the request.
    pub conclusion: Option<Conclusion>,
}

/// The answer to a vote that counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VoteReceipt {
    /// Always `counted`.
    pub result: String,
    /// The request voted on.
    pub request_id: RequestId,
    /// Distinct approvals so far.
    pub approvals: u32,
    /// Who approved, in order.
    pub approved_by: Vec<Identity>,
    /// Approvals needed.
    pub quorum: u32,
    /// Set when this vote ended the request.
    pub conclusion: Option<Conclusion>,
}

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A stable machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// A stable code, such as `self_approval` or `unauthorized`.
    pub code: String,
    /// What went wrong, addressed to the caller.
    pub message: String,
    /// For an edit that is not valid: the argument path at fault (never
    /// its value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}
