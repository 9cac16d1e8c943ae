//! The bot's messaging endpoint: authenticates every request, reads card
//! clicks (`invoke` activities named `adaptiveCard/action`) and hands them to
//! the gate as votes.

use std::fmt;
use std::sync::Arc;

use approvals_core::{
    Ballot, Choice, Fingerprint, Identity, Refusal, RequestId, Timestamp, VoteOutcome,
};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::channel::Shared;
use super::config::Conversation;
use super::identity::TeamsUser;
use super::render::{
    self, ADAPTIVE_CARD_CONTENT_TYPE, EDIT_INPUT_PREFIX, VERB_APPROVE, VERB_APPROVE_WITH_EDITS,
    VERB_DENY,
};
use crate::json::JsonError;
use crate::jwt::JwtError;
use crate::kit::NotAttached;

/// The invoke name of an `Action.Execute` click.
const ADAPTIVE_CARD_ACTION: &str = "adaptiveCard/action";

/// The content type of an invoke answer that reports an error.
const ERROR_CONTENT_TYPE: &str = "application/vnd.microsoft.error";

/// The claim in Bot Framework tokens that names the activity's service URL.
const SERVICE_URL_CLAIM: &str = "serviceurl";

/// The field names of an activity as read, the only keys shown in error
/// paths.
const ACTIVITY_FIELDS: &[&str] = &[
    "type",
    "name",
    "serviceUrl",
    "channelId",
    "from",
    "id",
    "aadObjectId",
    "conversation",
    "tenantId",
    "value",
];

/// The handler of the bot's messaging endpoint, independent of any web
/// framework: an [`http::Request`] with the raw body in, an
/// [`http::Response`] out. With the `axum` feature, `router` serves it with axum.
///
/// Every request must carry a Bot Framework JWT (`Authorization: Bearer`)
/// that passes [`JwtValidator`](crate::jwt::JwtValidator) (issuer, audience =
/// the bot's app id, RS256/384/512, expiry and not-before with leeway), whose
/// `serviceurl` claim equals the activity's `serviceUrl`, and whose signing
/// key, if it lists endorsements, endorses the activity's `channelId`.
/// Otherwise the answer is `401` or `403` (or `400` for a body that is not an
/// activity), and nothing is decided.
///
/// A click is answered with the refreshed card for the clicker, or with an
/// `application/vnd.microsoft.error` saying why the vote did not count (your
/// own request, not an eligible approver, already concluded, …). Other
/// activities (the bot being added to a conversation, messages) are
/// acknowledged, and their conversation is remembered in
/// [`recent_conversations`](Self::recent_conversations) and logged, which is
/// how a newly installed bot learns where to post.
#[derive(Clone)]
pub struct TeamsEndpoint {
    shared: Arc<Shared>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activity {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    service_url: String,
    channel_id: String,
    #[serde(default)]
    from: Option<Account>,
    #[serde(default)]
    conversation: Option<ConversationAccount>,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    #[serde(default)]
    id: String,
    #[serde(default)]
    aad_object_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConversationAccount {
    #[serde(default)]
    id: String,
    #[serde(default)]
    tenant_id: Option<String>,
}

/// Why a request was turned away before anything was decided.
#[derive(Debug)]
enum Rejection {
    MethodNotAllowed,
    Unauthenticated(JwtError),
    Forbidden(&'static str),
    /// The body is not an activity: the field and what was expected, never
    /// the body's text.
    NotAnActivity(JsonError),
}

impl Rejection {
    fn into_response(self) -> Response<Bytes> {
        let (status, message) = match &self {
            Rejection::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "use POST".to_owned()),
            Rejection::Unauthenticated(error) => (StatusCode::UNAUTHORIZED, error.to_string()),
            Rejection::Forbidden(reason) => (StatusCode::FORBIDDEN, (*reason).to_owned()),
            Rejection::NotAnActivity(error) => (
                StatusCode::BAD_REQUEST,
                format!("the body is not a Bot Framework activity: {error}"),
            ),
        };
        tracing::warn!(%status, reason = %message, "rejected a request to the Teams endpoint");
        let mut response = json_response(status, &json!({ "error": message }));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl TeamsEndpoint {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Handles one request to the messaging endpoint.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        if request.body().len() > self.shared.max_body_bytes {
            let mut response = Response::new(Bytes::from_static(b"the activity is too large"));
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return response;
        }
        match self.try_handle(request).await {
            Ok(response) => response,
            Err(rejection) => rejection.into_response(),
        }
    }

    /// The largest activity read, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.shared.max_body_bytes
    }

    /// The conversations the bot was recently addressed in, newest first:
    /// where it can post (see [`Conversation`]).
    pub fn recent_conversations(&self) -> Vec<Conversation> {
        self.shared.recent_conversations()
    }

    async fn try_handle(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Rejection> {
        if request.method() != Method::POST {
            return Err(Rejection::MethodNotAllowed);
        }
        let authorization = match request.headers().get(AUTHORIZATION) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| Rejection::Unauthenticated(JwtError::MissingToken))?,
            ),
        };
        let token = self
            .shared
            .validator
            .validate_authorization(authorization)
            .await
            .map_err(Rejection::Unauthenticated)?;
        let activity: Activity = crate::json::from_slice(request.body(), ACTIVITY_FIELDS)
            .map_err(Rejection::NotAnActivity)?;
        if token.claim_str(SERVICE_URL_CLAIM) != Some(activity.service_url.as_str()) {
            return Err(Rejection::Forbidden(
                "the token's serviceurl claim does not match the activity's serviceUrl",
            ));
        }
        if !token.endorsements.is_empty() && !token.is_endorsed_for(&activity.channel_id) {
            return Err(Rejection::Forbidden(
                "the signing key is not endorsed for the activity's channel",
            ));
        }

        if let Some(conversation) = &activity.conversation {
            if !conversation.id.is_empty() {
                tracing::info!(
                    service_url = %activity.service_url,
                    conversation = %conversation.id,
                    activity = %activity.kind,
                    "Teams activity received"
                );
                self.shared.saw_conversation(Conversation::new(
                    activity.service_url.clone(),
                    conversation.id.clone(),
                ));
            }
        }

        match (activity.kind.as_str(), activity.name.as_deref()) {
            ("invoke", Some(ADAPTIVE_CARD_ACTION)) => Ok(self.card_action(&activity).await),
            ("invoke", _) => Ok(json_response(StatusCode::NOT_IMPLEMENTED, &json!({}))),
            _ => Ok(Response::new(Bytes::new())),
        }
    }

    /// A click on Approve or Deny. Everything past authentication is
    /// answered with an invoke response (HTTP 200), so that Teams shows the
    /// clicker the card or the reason.
    async fn card_action(&self, activity: &Activity) -> Response<Bytes> {
        let action = activity
            .value
            .as_ref()
            .and_then(|value| value.get("action"))
            .cloned()
            .unwrap_or(Value::Null);
        let data = action.get("data").cloned().unwrap_or(Value::Null);
        let request_id = data.get("requestId").and_then(Value::as_str);
        let fingerprint = data
            .get("fingerprint")
            .and_then(Value::as_str)
            .and_then(Fingerprint::from_hex);
        let Some(request_id) = request_id else {
            return invoke_error(
                400,
                "BadRequest",
                "this card is not an approval request: no `value.action.data.requestId`",
            );
        };
        let Some(fingerprint) = fingerprint else {
            return invoke_error(
                400,
                "BadRequest",
                "this card is not an approval request: `value.action.data.fingerprint` is not 64 hex digits",
            );
        };
        let request_id = RequestId::from_string(request_id);
        if action.get("verb").and_then(Value::as_str) == Some(VERB_APPROVE_WITH_EDITS) {
            return self
                .approve_with_edits(activity, request_id, fingerprint, &data)
                .await;
        }
        let choice = match action.get("verb").and_then(Value::as_str) {
            Some(VERB_APPROVE) => Choice::Approve,
            Some(VERB_DENY) => Choice::Deny {
                reason: data
                    .get(render::REASON_INPUT_ID)
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            _ => {
                return invoke_error(
                    400,
                    "BadRequest",
                    "unknown action at `value.action.verb`, expected `approve`, `deny` or `approve_with_edits`",
                );
            }
        };

        let voter = match self.voter(activity).await {
            Ok(voter) => voter,
            Err(response) => return response,
        };

        let id = request_id.clone();
        let review = self.shared.review(&request_id);
        let ballot = Ballot {
            request_id,
            fingerprint,
            voter,
            choice,
        };
        let cast = self.shared.ledger.cast(ballot).await;
        // A card another replica posted is known here once the gate has
        // handed this channel its receipt (while judging the vote).
        let review = review.or_else(|| self.shared.review(&id));
        match cast {
            Err(NotAttached) => invoke_error(
                503,
                "NotAttached",
                "this approval service is not attached to a gate yet",
            ),
            Ok(VoteOutcome::Refused { refusal: why }) => refusal(why),
            Ok(VoteOutcome::Counted {
                conclusion: Some(conclusion),
                ..
            }) => match &review {
                Some(request) => invoke_card(render::concluded_card(
                    request,
                    &conclusion,
                    Timestamp::now(),
                )),
                None => invoke_message(format!("Your vote counted: the request was {conclusion}.")),
            },
            // Everyone else sees the progress through the updated message
            // (the gate told every channel); the clicker gets the card at
            // once.
            Ok(VoteOutcome::Counted {
                conclusion: None,
                approved_by,
                ..
            }) => match &review {
                Some(request) => invoke_card(render::pending_card(request, &approved_by)),
                None => invoke_message("Your vote counted.".to_owned()),
            },
        }
    }

    /// A click on "Approve with edits": the edit inputs the reviewer
    /// changed (Teams sends them in the action's data) become a merge patch
    /// that goes to the gate, which alone judges it. Accepted, the clicker
    /// gets the card of the new version (or how the request ended); refused,
    /// the gate's words, with the field and the kind of problem when the
    /// edit was not valid.
    async fn approve_with_edits(
        &self,
        activity: &Activity,
        request_id: RequestId,
        fingerprint: Fingerprint,
        data: &Value,
    ) -> Response<Bytes> {
        let editor = match self.voter(activity).await {
            Ok(editor) => editor,
            Err(response) => return response,
        };
        // The starting values of the version shown, so that an input left
        // as it was is no change; the gate judges the patch whatever it is.
        let fields = self
            .shared
            .review(&request_id)
            .map(|review| crate::kit::edit::edit_fields(&review))
            .unwrap_or_default();
        let inputs = data
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| {
                let path = key.strip_prefix(EDIT_INPUT_PREFIX)?;
                Some((path, value.as_str()))
            });
        let changes = crate::kit::edit::merge_patch_of(&fields, inputs);
        let edit = approvals_core::edit::Edit {
            request_id: request_id.clone(),
            fingerprint,
            editor: editor.clone(),
            changes,
        };
        match self.shared.ledger.edit(edit).await {
            Err(NotAttached) => invoke_error(
                503,
                "NotAttached",
                "this approval service is not attached to a gate yet",
            ),
            Ok(approvals_core::edit::EditOutcome::Refused { refusal, problem }) => {
                let mut message = refusal.to_string();
                if let Some(problem) = problem {
                    message.push_str(&format!(": {problem}"));
                }
                invoke_error(refusal.http_status(), refusal.code(), &message)
            }
            Ok(approvals_core::edit::EditOutcome::Accepted {
                conclusion: Some(conclusion),
                ..
            }) => match self.shared.review(&request_id) {
                Some(request) => invoke_card(render::concluded_card(
                    &request,
                    &conclusion,
                    Timestamp::now(),
                )),
                None => invoke_message(format!(
                    "Your edit was accepted: the request was {conclusion}."
                )),
            },
            Ok(approvals_core::edit::EditOutcome::Accepted { version, .. }) => {
                match self.shared.review(&request_id) {
                    Some(request) => invoke_card(render::pending_card(
                        &request,
                        std::slice::from_ref(&editor),
                    )),
                    None => invoke_message(format!(
                        "Your edit made version {version} of the request, and counted as your approval."
                    )),
                }
            }
            Ok(_) => invoke_message("Your edit was handed to the gate.".to_owned()),
        }
    }

    /// The clicker's canonical identity, or the answer to give them.
    async fn voter(&self, activity: &Activity) -> Result<Identity, Response<Bytes>> {
        let unknown = || {
            invoke_error(
                403,
                "UnknownUser",
                "your Teams account is not known to this approval service",
            )
        };
        let Some(from) = &activity.from else {
            return Err(unknown());
        };
        let Some(aad_object_id) = from
            .aad_object_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        else {
            return Err(unknown());
        };
        let user = TeamsUser {
            aad_object_id: aad_object_id.to_owned(),
            teams_id: from.id.clone(),
            name: from.name.clone(),
            tenant_id: activity
                .conversation
                .as_ref()
                .and_then(|conversation| conversation.tenant_id.clone()),
        };
        match self.shared.directory.identity(&user).await {
            Ok(Some(identity)) => Ok(identity),
            Ok(None) => {
                tracing::info!(
                    aad_object_id,
                    "a click from a user the directory does not know"
                );
                Err(unknown())
            }
            Err(error) => {
                tracing::warn!(%error, "the user directory failed");
                Err(invoke_error(
                    503,
                    "DirectoryUnavailable",
                    "the user directory is unavailable; please try again",
                ))
            }
        }
    }
}

impl fmt::Debug for TeamsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsEndpoint")
            .field("app_id", &self.shared.app_id)
            .finish_non_exhaustive()
    }
}

/// A refusal of the gate, answered with the status and code of
/// [`Refusal`]'s own table.
fn refusal(refusal: Refusal) -> Response<Bytes> {
    invoke_error(refusal.http_status(), refusal.code(), &refusal.to_string())
}

fn invoke_card(card: Value) -> Response<Bytes> {
    json_response(
        StatusCode::OK,
        &json!({
            "statusCode": 200,
            "type": ADAPTIVE_CARD_CONTENT_TYPE,
            "value": card,
        }),
    )
}

/// A plain-text answer, for a vote on a request whose card this process
/// does not hold (another process posted it).
fn invoke_message(message: String) -> Response<Bytes> {
    json_response(
        StatusCode::OK,
        &json!({
            "statusCode": 200,
            "type": "application/vnd.microsoft.activity.message",
            "value": message,
        }),
    )
}

fn invoke_error(status: u16, code: &str, message: &str) -> Response<Bytes> {
    json_response(
        StatusCode::OK,
        &json!({
            "statusCode": status,
            "type": ERROR_CONTENT_TYPE,
            "value": {"code": code, "message": message},
        }),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
