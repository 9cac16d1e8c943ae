//! Parsing interactivity payloads: `payload=<JSON>` in a form body.

use std::collections::HashMap;

use approvals_core::{Fingerprint, RequestId};
use serde::Deserialize;

use crate::json::JsonError;

use super::render::{
    APPROVE_ACTION, DENY_ACTION, DENY_REASON_CALLBACK, EDIT_ACTION, EDIT_BLOCK_PREFIX,
    EDIT_CALLBACK, EDIT_INPUT, REASON_BLOCK, REASON_INPUT, limits,
};

/// Why an interactivity payload was refused. The texts name the field that
/// was wrong and what was expected, never the payload's content: a payload
/// carries names, emails and whatever a crafted request puts in it, and the
/// error is both answered and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The form has no `payload` field.
    #[error("the form has no `payload` field")]
    MissingPayload,
    /// The form has the `payload` field more than once.
    #[error("the form has more than one `payload` field")]
    DuplicatePayload,
    /// The payload is not JSON of the expected shape.
    #[error("the payload is not JSON of the expected shape: {0}")]
    MalformedJson(JsonError),
    /// The payload's `type` is not one approvals handles.
    #[error("unsupported interaction at `type`, expected `block_actions` or `view_submission`")]
    UnsupportedType,
    /// A `block_actions` payload without any action.
    #[error("the payload carries no action")]
    NoAction,
    /// The action is not one of approvals' buttons.
    #[error(
        "unknown action at `actions[0].action_id`, expected `approvals.approve`, `approvals.deny` or `approvals.edit`"
    )]
    UnknownAction,
    /// The modal is not one of approvals' modals.
    #[error(
        "unknown view at `view.callback_id`, expected `approvals.deny_reason` or `approvals.edit`"
    )]
    UnknownCallback,
    /// A field approvals needs is absent or empty.
    #[error("the payload has no `{0}`")]
    MissingField(&'static str),
    /// The button value or modal metadata is not a request id and
    /// fingerprint.
    #[error("the button value or view metadata does not name a request and fingerprint")]
    MalformedReference,
}

/// The field names of the payload as read, the only keys shown in error
/// paths.
const FIELDS: &[&str] = &[
    "type",
    "user",
    "id",
    "team_id",
    "team",
    "channel",
    "container",
    "message_ts",
    "channel_id",
    "trigger_id",
    "actions",
    "action_id",
    "value",
    "view",
    "callback_id",
    "private_metadata",
    "state",
    "values",
];

/// Which button was clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// Approve.
    Approve,
    /// Deny (opens the reason modal).
    Deny,
    /// Edit (opens the edit modal; shown when the request takes edits).
    Edit,
}

/// The request and fingerprint a click or submission refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The request.
    pub request_id: RequestId,
    /// The fingerprint the reviewer was shown.
    pub fingerprint: Fingerprint,
}

/// A parsed interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// A click on Approve or Deny (`block_actions`).
    Click(Click),
    /// The deny-reason modal was submitted (`view_submission`).
    DenyReason(DenyReason),
    /// The edit modal was submitted (`view_submission`).
    Edit(EditSubmission),
}

/// A submitted edit modal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditSubmission {
    /// The Slack user who submitted.
    pub user_id: String,
    /// The user's team, when given.
    pub team_id: Option<String>,
    /// The request and the fingerprint of the version the modal was opened
    /// on.
    pub reference: Reference,
    /// The channel of the request message, from the view's metadata.
    pub channel_id: Option<String>,
    /// Each input's argument path and text as typed (`None` when left
    /// empty), sorted by path.
    pub inputs: Vec<(String, Option<String>)>,
}

/// A click on one of the request message's buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    /// The Slack user who clicked.
    pub user_id: String,
    /// The user's team, when given.
    pub team_id: Option<String>,
    /// The button.
    pub button: Button,
    /// What the button votes on.
    pub reference: Reference,
    /// The channel of the message, when given.
    pub channel_id: Option<String>,
    /// The message's timestamp, when given.
    pub message_ts: Option<String>,
    /// The trigger for opening a modal (valid for 3 seconds).
    pub trigger_id: Option<String>,
}

/// A submitted deny-reason modal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyReason {
    /// The Slack user who submitted.
    pub user_id: String,
    /// The user's team, when given.
    pub team_id: Option<String>,
    /// What the deny votes on.
    pub reference: Reference,
    /// The channel of the request message, from the view's metadata.
    pub channel_id: Option<String>,
    /// The reason as typed (`None` when the input was left empty); the gate
    /// trims it and judges it.
    pub reason: Option<String>,
}

#[derive(Deserialize)]
struct RawPayload {
    #[serde(rename = "type")]
    kind: String,
    user: Option<RawUser>,
    team: Option<RawTeam>,
    channel: Option<RawChannel>,
    container: Option<RawContainer>,
    trigger_id: Option<String>,
    #[serde(default)]
    actions: Vec<RawAction>,
    view: Option<RawView>,
}

#[derive(Deserialize)]
struct RawUser {
    id: Option<String>,
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct RawTeam {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawChannel {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawContainer {
    message_ts: Option<String>,
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    action_id: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct RawView {
    callback_id: Option<String>,
    private_metadata: Option<String>,
    state: Option<RawState>,
}

#[derive(Deserialize)]
struct RawState {
    #[serde(default)]
    values: HashMap<String, HashMap<String, RawInput>>,
}

#[derive(Deserialize)]
struct RawInput {
    value: Option<String>,
}

/// What the modal carries in `private_metadata`: the reference and the
/// channel of the request message.
#[derive(serde::Serialize, Deserialize)]
struct Metadata {
    request_id: String,
    fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
}

/// The modal metadata for `reference`, posted in `channel`.
pub(crate) fn modal_metadata(reference: &Reference, channel: Option<&str>) -> String {
    let metadata = Metadata {
        request_id: reference.request_id.to_string(),
        fingerprint: reference.fingerprint.to_hex(),
        channel: channel.map(str::to_owned),
    };
    // Serializing a struct of strings cannot fail.
    serde_json::to_string(&metadata).unwrap_or_default()
}

/// Parses a form-encoded interactivity body (`payload=<JSON>`).
///
/// ```
/// use approvals_backends::slack::{parse_interaction, Button, Interaction};
///
/// let json = r#"{"type":"block_actions","user":{"id":"U1"},"trigger_id":"t",
///   "actions":[{"action_id":"approvals.approve",
///   "value":"8d3c:0000000000000000000000000000000000000000000000000000000000000000"}]}"#;
/// let body = format!("payload={}", json.replace('{', "%7B").replace('}', "%7D"));
/// let Ok(Interaction::Click(click)) = parse_interaction(body.as_bytes()) else { panic!() };
/// assert_eq!(click.button, Button::Approve);
/// assert_eq!(click.reference.request_id.as_str(), "8d3c");
/// ```
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, PayloadError> {
    let mut payload = None;
    for (key, value) in form_urlencoded::parse(body) {
        if key == "payload" {
            if payload.is_some() {
                return Err(PayloadError::DuplicatePayload);
            }
            payload = Some(value);
        }
    }
    let payload = payload.ok_or(PayloadError::MissingPayload)?;
    parse_payload(&payload)
}

/// Parses the JSON payload itself.
pub fn parse_payload(json: &str) -> Result<Interaction, PayloadError> {
    let raw: RawPayload =
        crate::json::from_slice(json.as_bytes(), FIELDS).map_err(PayloadError::MalformedJson)?;
    let user = raw.user.ok_or(PayloadError::MissingField("user"))?;
    let user_id = non_empty(user.id).ok_or(PayloadError::MissingField("user.id"))?;
    let team_id = non_empty(user.team_id).or_else(|| raw.team.and_then(|team| non_empty(team.id)));
    match raw.kind.as_str() {
        "block_actions" => {
            let action = raw
                .actions
                .into_iter()
                .next()
                .ok_or(PayloadError::NoAction)?;
            let action_id = action.action_id.unwrap_or_default();
            let button = match action_id.as_str() {
                APPROVE_ACTION => Button::Approve,
                DENY_ACTION => Button::Deny,
                EDIT_ACTION => Button::Edit,
                _ => return Err(PayloadError::UnknownAction),
            };
            let value =
                non_empty(action.value).ok_or(PayloadError::MissingField("actions[0].value"))?;
            let reference = parse_value(&value)?;
            let (container_channel, message_ts) = raw
                .container
                .map(|c| (non_empty(c.channel_id), non_empty(c.message_ts)))
                .unwrap_or_default();
            Ok(Interaction::Click(Click {
                user_id,
                team_id,
                button,
                reference,
                channel_id: container_channel.or_else(|| raw.channel.and_then(|c| non_empty(c.id))),
                message_ts,
                trigger_id: non_empty(raw.trigger_id),
            }))
        }
        "view_submission" => {
            let view = raw.view.ok_or(PayloadError::MissingField("view"))?;
            let callback = view.callback_id.unwrap_or_default();
            if callback != DENY_REASON_CALLBACK && callback != EDIT_CALLBACK {
                return Err(PayloadError::UnknownCallback);
            }
            let metadata = non_empty(view.private_metadata)
                .ok_or(PayloadError::MissingField("view.private_metadata"))?;
            if metadata.chars().count() > limits::PRIVATE_METADATA {
                return Err(PayloadError::MalformedReference);
            }
            let metadata: Metadata =
                serde_json::from_str(&metadata).map_err(|_| PayloadError::MalformedReference)?;
            let reference = reference(&metadata.request_id, &metadata.fingerprint)?;
            let channel_id = metadata.channel.filter(|c| !c.is_empty());
            if callback == EDIT_CALLBACK {
                let mut inputs: Vec<(String, Option<String>)> = view
                    .state
                    .map(|state| state.values)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(block, mut actions)| {
                        let path = block.strip_prefix(EDIT_BLOCK_PREFIX)?.to_owned();
                        let value = actions.remove(EDIT_INPUT).and_then(|input| input.value);
                        Some((path, value))
                    })
                    .collect();
                inputs.sort();
                return Ok(Interaction::Edit(EditSubmission {
                    user_id,
                    team_id,
                    reference,
                    channel_id,
                    inputs,
                }));
            }
            let reason = view
                .state
                .and_then(|mut state| state.values.remove(REASON_BLOCK))
                .and_then(|mut block| block.remove(REASON_INPUT))
                .and_then(|input| input.value);
            Ok(Interaction::DenyReason(DenyReason {
                user_id,
                team_id,
                reference,
                channel_id,
                reason,
            }))
        }
        _ => Err(PayloadError::UnsupportedType),
    }
}

/// Reads a button value written by `render::button_value`.
fn parse_value(value: &str) -> Result<Reference, PayloadError> {
    let (id, fingerprint) = value
        .rsplit_once(':')
        .ok_or(PayloadError::MalformedReference)?;
    reference(id, fingerprint)
}

fn reference(id: &str, fingerprint: &str) -> Result<Reference, PayloadError> {
    if id.is_empty() || id.len() > limits::ID || id.chars().any(char::is_control) {
        return Err(PayloadError::MalformedReference);
    }
    let fingerprint = Fingerprint::from_hex(fingerprint).ok_or(PayloadError::MalformedReference)?;
    Ok(Reference {
        request_id: RequestId::from_string(id),
        fingerprint,
    })
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINGERPRINT: &str = "ab00000000000000000000000000000000000000000000000000000000000000";

    fn form(json: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", json)
            .finish()
            .into_bytes()
    }

    #[test]
    fn parses_a_click_in_slacks_shape() {
        let json = format!(
            r#"{{"type":"block_actions","user":{{"id":"W111","username":"primary-owner","team_id":"T111"}},"api_app_id":"A111","container":{{"type":"message","message_ts":"111.222","channel_id":"C111"}},"trigger_id":"111.222.valid","team":{{"id":"T111","domain":"workspace-domain"}},"channel":{{"id":"C111","name":"test-channel"}},"response_url":"https://hooks.slack.com/actions/T111/111/random-value","actions":[{{"action_id":"approvals.deny","block_id":"approvals.vote","value":"req-1:{FINGERPRINT}","type":"button","action_ts":"1596530385.194939"}}]}}"#
        );
        let parsed = parse_interaction(&form(&json));
        let Ok(Interaction::Click(click)) = parsed else {
            panic!("not a click: {parsed:?}");
        };
        assert_eq!(click.user_id, "W111");
        assert_eq!(click.team_id.as_deref(), Some("T111"));
        assert_eq!(click.button, Button::Deny);
        assert_eq!(click.reference.request_id.as_str(), "req-1");
        assert_eq!(click.reference.fingerprint.to_hex(), FINGERPRINT);
        assert_eq!(click.channel_id.as_deref(), Some("C111"));
        assert_eq!(click.message_ts.as_deref(), Some("111.222"));
        assert_eq!(click.trigger_id.as_deref(), Some("111.222.valid"));
    }

    #[test]
    fn parses_a_deny_reason() {
        let reference = Reference {
            request_id: RequestId::from_string("req-2"),
            fingerprint: Fingerprint::from_hex(FINGERPRINT).unwrap_or_else(|| unreachable!()),
        };
        let metadata = modal_metadata(&reference, Some("C9"));
        let json = serde_json::json!({
            "type": "view_submission",
            "user": {"id": "U2", "team_id": "T1"},
            "view": {
                "callback_id": "approvals.deny_reason",
                "private_metadata": metadata,
                "state": {"values": {"approvals.reason": {"reason": {"type": "plain_text_input", "value": "  not today  "}}}}
            }
        });
        let parsed = parse_interaction(&form(&json.to_string()));
        assert_eq!(
            parsed,
            Ok(Interaction::DenyReason(DenyReason {
                user_id: "U2".into(),
                team_id: Some("T1".into()),
                reference,
                channel_id: Some("C9".into()),
                reason: Some("  not today  ".into()),
            }))
        );
    }

    #[test]
    fn refusals_are_typed() {
        let click = |action: &str, value: &str| {
            format!(
                r#"{{"type":"block_actions","user":{{"id":"U1"}},"actions":[{{"action_id":"{action}","value":"{value}"}}]}}"#
            )
        };
        assert_eq!(
            parse_interaction(b"foo=bar"),
            Err(PayloadError::MissingPayload)
        );
        assert_eq!(
            parse_interaction(b"payload=%7B%7D&payload=%7B%7D"),
            Err(PayloadError::DuplicatePayload)
        );
        assert!(matches!(
            parse_interaction(b"payload=%7Bnot-json"),
            Err(PayloadError::MalformedJson(_))
        ));
        assert_eq!(
            parse_interaction(&form(r#"{"type":"shortcut","user":{"id":"U1"}}"#)),
            Err(PayloadError::UnsupportedType)
        );
        assert_eq!(
            parse_interaction(&form(&click("launch", &format!("r:{FINGERPRINT}")))),
            Err(PayloadError::UnknownAction)
        );
        assert_eq!(
            parse_interaction(&form(&click("approvals.approve", "no-fingerprint"))),
            Err(PayloadError::MalformedReference)
        );
        assert_eq!(
            parse_interaction(&form(&click("approvals.approve", "r:abc"))),
            Err(PayloadError::MalformedReference)
        );
        assert_eq!(
            parse_interaction(&form(
                r#"{"type":"block_actions","user":{"id":"U1"},"actions":[]}"#
            )),
            Err(PayloadError::NoAction)
        );
        assert_eq!(
            parse_interaction(&form(r#"{"type":"block_actions","actions":[]}"#)),
            Err(PayloadError::MissingField("user"))
        );
        assert_eq!(
            parse_interaction(&form(
                r#"{"type":"view_submission","user":{"id":"U1"},"view":{"callback_id":"other"}}"#
            )),
            Err(PayloadError::UnknownCallback)
        );
    }
}
