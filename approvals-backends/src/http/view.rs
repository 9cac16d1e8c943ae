//! The JSON shapes of the API, as documented in `openapi.json`.

use approvals_core::mask::MaskedView;
use approvals_core::{
    ApprovalRequest, Choice, Conclusion, Fingerprint, Identity, RequestId, Risk, Timestamp,
};
use serde::{Deserialize, Serialize};

/// A request as the API shows it: the masked view only, its deadline, the
/// votes this API has counted so far and, once it has ended, how.
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
    /// Approvals counted so far, as the gate last reported them to this API.
    pub approvals: u32,
    /// Whether a deny must carry a reason.
    pub deny_reason_required: bool,
    /// The policy rule that asked for approval.
    pub rule: Option<String>,
    /// When the request was made.
    pub requested_at: Timestamp,
    /// When silence becomes a denial.
    pub deadline: Timestamp,
    /// The votes cast through this API that counted, in order.
    pub votes: Vec<VoteView>,
    /// How the request ended, once it has.
    pub conclusion: Option<Conclusion>,
}

impl RequestView {
    pub(crate) fn new(
        request: &ApprovalRequest,
        approvers: &[Identity],
        approvals: u32,
        votes: &[VoteView],
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
            approvals,
            deny_reason_required: request.deny_reason_required,
            rule: request.rule.clone(),
            requested_at: request.requested_at,
            deadline: request.deadline,
            votes: votes.to_vec(),
            conclusion: conclusion.cloned(),
        }
    }
}

/// One counted vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VoteView {
    /// Who voted.
    pub voter: Identity,
    /// `approve` or `deny`, with the deny's reason.
    #[serde(flatten)]
    pub choice: Choice,
    /// When the vote counted.
    pub at: Timestamp,
}

/// The list of pending requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingList {
    /// Pending requests, oldest first.
    pub requests: Vec<RequestView>,
}

/// The body of `POST /v1/requests/{id}/approve` (it may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApproveBody {
    /// The fingerprint the reviewer saw; when given, the vote counts only
    /// for exactly that call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
}

/// The body of `POST /v1/requests/{id}/deny` (it may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DenyBody {
    /// Why; required when the request says `deny_reason_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// As for approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
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
}
