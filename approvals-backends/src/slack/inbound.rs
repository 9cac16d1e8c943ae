//! The interactivity endpoint: framework-agnostic, with an axum adapter.

use std::fmt;
use std::sync::Arc;

use approvals_core::{Ballot, Choice, Refusal, VoteOutcome};

use crate::kit::NotAttached;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};

use super::channel::{Seen, Shared};
use super::payload::{self, Button, Click, DenyReason, EditSubmission, Interaction, Reference};
use super::render;
use crate::signature;

/// The header carrying the request's Unix timestamp.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The header carrying the request's `v0` signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

/// Serves the Slack app's interactivity request URL.
///
/// [`handle`](Self::handle) takes the method, headers and raw body of a
/// request and returns the status, headers and body to answer, with no web
/// framework involved; [`router`](Self::router) mounts it in axum.
///
/// For every request, in order:
///
/// | check | answer when it fails |
/// | --- | --- |
/// | method is `POST` | 405 |
/// | body within the size limit | 413 |
/// | `v0` signature over the raw body, timestamp within the replay window | 401 |
/// | `application/x-www-form-urlencoded` | 415 |
/// | the payload parses as an Approve, Deny or Edit click, or a deny-reason or edit submission | 400 |
/// | room in the replay cache (see [`replay_cache_capacity`](super::SlackChannelBuilder::replay_cache_capacity)) | 503, with `Retry-After` |
///
/// A request that passes is acknowledged at once (Slack waits 3 seconds at
/// most); mapping the user, voting, opening a modal and explaining a
/// refused vote happen after the answer. A submitted modal (a deny reason,
/// an edit) is answered once the gate has judged it, within a bound, so
/// that a refusal can be shown in the modal. The same signed request delivered
/// twice within the replay window is acknowledged and acted on once. Nothing
/// that fails a check reaches the gate. Refusals name what was wrong (a
/// header, a field of the payload) and never quote the request's content,
/// in the answer or in the log.
#[derive(Clone)]
pub struct InteractivityHandler {
    shared: Arc<Shared>,
}

impl fmt::Debug for InteractivityHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InteractivityHandler")
            .field("max_body_bytes", &self.shared.max_body_bytes)
            .field("replay_window", &self.shared.replay_window)
            .finish_non_exhaustive()
    }
}

impl InteractivityHandler {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The largest body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.shared.max_body_bytes
    }

    /// Handles one request to the interactivity URL.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use POST");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        if body.len() > self.shared.max_body_bytes {
            return text(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large");
        }
        let timestamp = header_text(&parts.headers, TIMESTAMP_HEADER);
        let signature = header_text(&parts.headers, SIGNATURE_HEADER);
        let now = (self.shared.clock)();
        if let Err(error) = signature::verify(
            &self.shared.signing_secret,
            timestamp,
            signature,
            &body,
            now,
            self.shared.replay_window,
        ) {
            tracing::warn!(%error, "Slack interactivity request refused");
            return text(StatusCode::UNAUTHORIZED, &error.to_string());
        }
        let form = header_text(&parts.headers, header::CONTENT_TYPE.as_str())
            .and_then(|value| value.split(';').next())
            .is_some_and(|kind| {
                kind.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/x-www-form-urlencoded",
            );
        }
        let interaction = match payload::parse_interaction(&body) {
            Ok(interaction) => interaction,
            Err(error) => {
                tracing::warn!(%error, "Slack interactivity payload refused");
                return text(StatusCode::BAD_REQUEST, &error.to_string());
            }
        };
        // Both were checked by `verify`.
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return text(StatusCode::UNAUTHORIZED, "missing signature headers");
        };
        let timestamp = timestamp.trim().parse().unwrap_or(now);
        let seen = self
            .shared
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check(
                // Hex digits in either case verify: one key for both.
                &signature.trim().to_ascii_lowercase(),
                timestamp,
                now,
                self.shared.replay_window,
            );
        match seen {
            Ok(Seen::First) => {}
            Ok(Seen::Again) => {
                tracing::debug!("a Slack request delivered twice was acknowledged again");
                return empty();
            }
            Err(full) => {
                tracing::warn!(
                    capacity = full.capacity,
                    retry_after_secs = full.retry_after_secs,
                    "Slack interactivity request refused: the replay cache is full"
                );
                let mut response = text(StatusCode::SERVICE_UNAVAILABLE, &full.to_string());
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(full.retry_after_secs),
                );
                return response;
            }
        }
        match interaction {
            Interaction::Click(click) => {
                let shared = Arc::clone(&self.shared);
                self.shared
                    .spawn_background(async move { on_click(&shared, click).await });
                empty()
            }
            Interaction::DenyReason(submission) => self.on_deny_reason(submission).await,
            Interaction::Edit(submission) => self.on_edit(submission).await,
        }
    }

    /// Answers a submitted edit modal. The inputs the reviewer changed
    /// become a merge patch that goes to the gate at once, bounded by
    /// [`MODAL_ANSWER_BOUND`]: a refused edit keeps the modal open with the
    /// gate's words under the input of the field it names (or the first);
    /// an accepted one closes it. An edit still being judged when the bound
    /// passes closes the modal and its outcome is told to the editor.
    async fn on_edit(&self, submission: EditSubmission) -> Response<Bytes> {
        let shared = Arc::clone(&self.shared);
        let (answer, answered) = tokio::sync::oneshot::channel();
        let editing = self
            .shared
            .spawn_tracked(async move { edit(&shared, submission, answer).await });
        if editing.is_none() {
            return text(StatusCode::SERVICE_UNAVAILABLE, "no Tokio runtime");
        }
        match tokio::time::timeout(MODAL_ANSWER_BOUND, answered).await {
            Ok(Ok(Some(errors))) => json(&errors),
            _ => empty(),
        }
    }

    /// Answers a submitted deny-reason modal. The vote is cast at once,
    /// bounded by [`MODAL_ANSWER_BOUND`]: if the gate refuses it for its
    /// reason (blank where one is required, or too long), the modal stays
    /// open with the gate's words under the input; otherwise it closes, and
    /// a vote still being judged goes on and is explained to the clicker.
    async fn on_deny_reason(&self, submission: DenyReason) -> Response<Bytes> {
        let shared = Arc::clone(&self.shared);
        let (answer, answered) = tokio::sync::oneshot::channel();
        let voting = self.shared.spawn_tracked(async move {
            let voter = Voter {
                user_id: &submission.user_id,
                team_id: submission.team_id.as_deref(),
                channel_id: submission.channel_id.as_deref(),
            };
            let choice = Choice::Deny {
                reason: submission.reason.clone(),
            };
            vote(&shared, &voter, &submission.reference, choice, Some(answer)).await;
        });
        if voting.is_none() {
            return text(StatusCode::SERVICE_UNAVAILABLE, "no Tokio runtime");
        }
        match tokio::time::timeout(MODAL_ANSWER_BOUND, answered).await {
            Ok(Ok(refusal @ (Refusal::ReasonRequired | Refusal::ReasonTooLong))) => {
                json(&render::reason_error(&refusal.to_string()))
            }
            _ => empty(),
        }
    }

    /// An axum router serving the handler at `path` (any method reaches the
    /// handler, which answers 405 to all but `POST`). Merge it into the app's
    /// router: `app.merge(interactivity.router("/slack/interactivity"))`.
    ///
    /// The body is read up to the size limit; a longer one is answered 413
    /// without being read further.
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn router(&self, path: &str) -> axum::Router {
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let handler = self.clone();
        axum::Router::new().route(
            &path,
            axum::routing::any(move |request: axum::extract::Request| {
                let handler = handler.clone();
                async move { handler.handle_axum(request).await }
            }),
        )
    }

    #[cfg(feature = "axum")]
    async fn handle_axum(&self, request: axum::extract::Request) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let response = match crate::kit::read_body(body, self.shared.max_body_bytes).await {
            Ok(body) => self.handle(Request::from_parts(parts, body)).await,
            Err(_) => text(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
        };
        response.map(axum::body::Body::from)
    }

    /// Waits until the work started after answering (votes, modals,
    /// explanations, message updates) has finished: for graceful shutdown,
    /// and tests.
    pub async fn drain(&self) {
        self.shared.drain().await;
    }
}

/// How long a deny-reason modal's answer waits for the gate's judgement
/// (Slack gives a modal three seconds).
const MODAL_ANSWER_BOUND: std::time::Duration = std::time::Duration::from_millis(2_000);

/// Who clicked, and where to explain a refusal to them.
struct Voter<'a> {
    user_id: &'a str,
    team_id: Option<&'a str>,
    channel_id: Option<&'a str>,
}

async fn on_click(shared: &Shared, click: Click) {
    let voter = Voter {
        user_id: &click.user_id,
        team_id: click.team_id.as_deref(),
        channel_id: click.channel_id.as_deref(),
    };
    match click.button {
        Button::Approve => vote(shared, &voter, &click.reference, Choice::Approve, None).await,
        Button::Deny => open_deny_modal(shared, &voter, &click).await,
        Button::Edit => open_edit_modal(shared, &voter, &click).await,
    }
}

/// Opens the edit modal for a request the gate still has pending, showing
/// the version pending now; the submission names the fingerprint of the
/// message clicked, so an edit of an outdated message is refused by the
/// gate.
async fn open_edit_modal(shared: &Shared, voter: &Voter<'_>, click: &Click) {
    let id = &click.reference.request_id;
    let pending = shared.pending_review(id);
    let (Some(request), Some(trigger_id)) = (pending, click.trigger_id.as_deref()) else {
        explain(
            shared,
            voter,
            id,
            "This request cannot be edited: it is no longer waiting for a decision.",
        )
        .await;
        return;
    };
    let metadata = payload::modal_metadata(&click.reference, voter.channel_id);
    let view = render::edit_modal(&request, &metadata);
    if let Err(error) = shared.client.open_view(trigger_id, &view).await {
        tracing::warn!(request_id = %id, %error, "the edit modal could not be opened");
        explain(
            shared,
            voter,
            id,
            "The form for an edit could not be opened, so nothing was changed. Please click Edit again.",
        )
        .await;
    }
}

/// Maps the editor, builds the merge patch of the inputs they changed and
/// hands the edit to the gate. `answer` receives the modal's errors for a
/// refused edit, or `None` to close it; what the modal can no longer show
/// is told to the editor privately.
async fn edit(
    shared: &Shared,
    submission: EditSubmission,
    answer: tokio::sync::oneshot::Sender<Option<serde_json::Value>>,
) {
    let voter = Voter {
        user_id: &submission.user_id,
        team_id: submission.team_id.as_deref(),
        channel_id: submission.channel_id.as_deref(),
    };
    let id = &submission.reference.request_id;
    let shown = shared.pending_review(id);
    let refuse = |answer: tokio::sync::oneshot::Sender<Option<serde_json::Value>>,
                  path: Option<&str>,
                  message: &str| {
        answer
            .send(Some(render::edit_error(shown.as_deref(), path, message)))
            .is_ok()
    };
    let identity = match shared
        .identities
        .identity(voter.user_id, voter.team_id)
        .await
    {
        Ok(Some(identity)) => identity,
        Ok(None) => {
            tracing::warn!(request_id = %id, slack_user = voter.user_id, "an edit from an unmapped Slack user was refused");
            let message =
                "Your edit was not made: your Slack account is not mapped to an approver identity.";
            if !refuse(answer, None, message) {
                explain(shared, &voter, id, message).await;
            }
            return;
        }
        Err(error) => {
            tracing::warn!(request_id = %id, slack_user = voter.user_id, %error, "a Slack user could not be mapped");
            let message = "Your edit was not made: your identity could not be checked just now. Please try again.";
            if !refuse(answer, None, message) {
                explain(shared, &voter, id, message).await;
            }
            return;
        }
    };
    // The starting texts of the version shown, so that an input left as
    // it was opened is no change; the gate judges the patch whatever it is.
    let fields = shown
        .as_deref()
        .map(crate::kit::edit::edit_fields)
        .unwrap_or_default();
    let changes = crate::kit::edit::merge_patch_of(
        &fields,
        submission
            .inputs
            .iter()
            .map(|(path, value)| (path.as_str(), value.as_deref())),
    );
    let edit = approvals_core::edit::Edit {
        request_id: id.clone(),
        fingerprint: submission.reference.fingerprint,
        editor: identity,
        changes,
    };
    let outcome = match shared.ledger.edit(edit).await {
        Ok(outcome) => outcome,
        Err(NotAttached) => {
            let message =
                "Your edit was not made: this approval service is not attached to a gate yet.";
            if !refuse(answer, None, message) {
                explain(shared, &voter, id, message).await;
            }
            return;
        }
    };
    match outcome {
        approvals_core::edit::EditOutcome::Refused { refusal, problem } => {
            let mut message = format!("Your edit was not made: {refusal}.");
            if let Some(problem) = &problem {
                message.push_str(&format!(" {problem}."));
            }
            let path = problem.as_ref().map(|problem| problem.path.as_str());
            if !refuse(answer, path.filter(|path| !path.is_empty()), &message) {
                explain(shared, &voter, id, &message).await;
            }
        }
        approvals_core::edit::EditOutcome::Accepted {
            version,
            approvals,
            quorum,
            conclusion,
            ..
        } => {
            let _ = answer.send(None);
            if conclusion.is_none() {
                explain(
                    shared,
                    &voter,
                    id,
                    &format!(
                        "Your edit made version {version} of the request, and counted as your approval: {approvals} of {quorum} needed."
                    ),
                )
                .await;
            }
        }
        _ => {
            let _ = answer.send(None);
        }
    }
}

/// Opens the reason modal for a request the gate still has pending; for
/// any other, the deny goes to the gate at once, which refuses it and says
/// why (and records the attempt).
async fn open_deny_modal(shared: &Shared, voter: &Voter<'_>, click: &Click) {
    let id = &click.reference.request_id;
    let pending = shared.pending_review(id);
    let (Some(request), Some(trigger_id)) = (pending, click.trigger_id.as_deref()) else {
        vote(
            shared,
            voter,
            &click.reference,
            Choice::Deny { reason: None },
            None,
        )
        .await;
        return;
    };
    let metadata = payload::modal_metadata(&click.reference, voter.channel_id);
    let view = render::deny_modal(&request, &metadata);
    if let Err(error) = shared.client.open_view(trigger_id, &view).await {
        tracing::warn!(request_id = %id, %error, "the deny-reason modal could not be opened");
        explain(
            shared,
            voter,
            id,
            "The form for a reason could not be opened, so nothing was decided. Please click Deny again.",
        )
        .await;
    }
}

/// Maps the clicker, hands the vote to the gate, and tells the clicker
/// privately when it did not count (or counted towards a quorum).
/// Maps the clicker to an identity and casts their ballot. `answer`, when
/// given, receives a refusal for the ballot's reason instead of an
/// explanation, for the modal that is still waiting.
async fn vote(
    shared: &Shared,
    voter: &Voter<'_>,
    reference: &Reference,
    choice: Choice,
    answer: Option<tokio::sync::oneshot::Sender<Refusal>>,
) {
    let id = &reference.request_id;
    let identity = match shared
        .identities
        .identity(voter.user_id, voter.team_id)
        .await
    {
        Ok(Some(identity)) => identity,
        Ok(None) => {
            tracing::warn!(request_id = %id, slack_user = voter.user_id, "a vote from an unmapped Slack user was refused");
            explain(
                shared,
                voter,
                id,
                "Your vote was not counted: your Slack account is not mapped to an approver identity.",
            )
            .await;
            return;
        }
        Err(error) => {
            tracing::warn!(request_id = %id, slack_user = voter.user_id, %error, "a Slack user could not be mapped");
            explain(
                shared,
                voter,
                id,
                "Your vote was not counted: your identity could not be checked just now. Please try again.",
            )
            .await;
            return;
        }
    };
    let ballot = Ballot {
        request_id: id.clone(),
        fingerprint: reference.fingerprint,
        voter: identity,
        choice,
    };
    let outcome = match shared.ledger.cast(ballot).await {
        Ok(outcome) => outcome,
        Err(NotAttached) => {
            explain(
                shared,
                voter,
                id,
                "Your vote was not counted: this approval service is not attached to a gate yet.",
            )
            .await;
            return;
        }
    };
    if let (Some(answer), VoteOutcome::Refused { refusal }) = (answer, &outcome) {
        // The modal is still waiting: a refusal for the reason is shown
        // there; the answer is ignored if the modal has closed meanwhile.
        if matches!(refusal, Refusal::ReasonRequired | Refusal::ReasonTooLong) {
            let _ = answer.send(*refusal);
            return;
        }
    }
    match outcome {
        VoteOutcome::Refused { refusal } => {
            explain(
                shared,
                voter,
                id,
                &format!("Your vote was not counted: {refusal}."),
            )
            .await;
        }
        VoteOutcome::Counted {
            approvals,
            quorum,
            conclusion: None,
            ..
        } => {
            explain(
                shared,
                voter,
                id,
                &format!("Your approval counted: {approvals} of {quorum} needed."),
            )
            .await;
        }
        // The updated message says how it ended, for everyone.
        VoteOutcome::Counted { .. } => {}
    }
}

/// Tells the clicker alone, with `chat.postEphemeral` in the request's
/// channel.
async fn explain(shared: &Shared, voter: &Voter<'_>, id: &approvals_core::RequestId, text: &str) {
    let channel = voter
        .channel_id
        .map(str::to_owned)
        .or_else(|| {
            shared
                .ledger
                .with(id, |delivery| {
                    delivery.data.message.as_ref().map(|m| m.channel.clone())
                })
                .flatten()
        })
        .unwrap_or_else(|| shared.channel.clone());
    if let Err(error) = shared
        .client
        .post_ephemeral(&channel, voter.user_id, text)
        .await
    {
        tracing::warn!(request_id = %id, %error, "a Slack user could not be told about their vote");
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn empty() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::OK;
    response
}

fn text(status: StatusCode, message: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(message.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(value: &serde_json::Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(value.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
