//! Block Kit: the request message, the concluded message and the deny-reason
//! modal, each within Slack's limits.
//!
//! Everything shown comes from the [`Review`], which holds the
//! masked view only. Every text is escaped for `mrkdwn` (`&`, `<`, `>`), so
//! that an argument cannot mention `@channel` or forge a link, and cut to
//! its limit with a visible marker.

use approvals_core::{Conclusion, Fingerprint, Identity, RequestId, Review, Timestamp};
use serde_json::{Value, json};

use crate::kit::edit::{MASKED_HINT, edit_fields};

/// Block Kit limits (characters, or items), from Slack's reference.
pub mod limits {
    /// Blocks in one message.
    pub const BLOCKS_PER_MESSAGE: usize = 50;
    /// The text of a section block.
    pub const SECTION_TEXT: usize = 3000;
    /// Fields in a section block.
    pub const SECTION_FIELDS: usize = 10;
    /// The text of one section field.
    pub const FIELD_TEXT: usize = 2000;
    /// The text of a button.
    pub const BUTTON_TEXT: usize = 75;
    /// The value of a button.
    pub const BUTTON_VALUE: usize = 2000;
    /// An `action_id` or a `block_id`.
    pub const ID: usize = 255;
    /// Elements in an actions block.
    pub const ACTIONS_ELEMENTS: usize = 25;
    /// A modal's title, submit and close texts.
    pub const MODAL_TITLE: usize = 24;
    /// A view's `private_metadata`.
    pub const PRIVATE_METADATA: usize = 3000;
    /// The top-level notification `text` kept short (Slack's own limit is
    /// far higher; notifications show the beginning only).
    pub const NOTIFICATION_TEXT: usize = 300;
    /// The longest deny reason the modal accepts.
    pub const DENY_REASON: usize = 2000;
    /// The longest value an input of the edit modal accepts (a plain-text
    /// input's own limit).
    pub const EDIT_VALUE: usize = 3000;
    /// The label of an input block.
    pub const LABEL: usize = 2000;
    /// An error shown under a modal's input.
    pub const ERROR_TEXT: usize = 2000;
}

/// The `action_id` of the Approve button.
pub const APPROVE_ACTION: &str = "approvals.approve";
/// The `action_id` of the Deny button.
pub const DENY_ACTION: &str = "approvals.deny";
/// The `action_id` of the Edit button, shown when the request takes edits.
pub const EDIT_ACTION: &str = "approvals.edit";
/// The `callback_id` of the edit modal.
pub const EDIT_CALLBACK: &str = "approvals.edit";
/// The start of the `block_id` of each input of the edit modal; the
/// argument path follows it.
pub const EDIT_BLOCK_PREFIX: &str = "approvals.edit.";
/// The `action_id` of each input of the edit modal.
pub(crate) const EDIT_INPUT: &str = "value";
/// The `block_id` of the buttons.
pub(crate) const VOTE_BLOCK: &str = "approvals.vote";
/// The `callback_id` of the deny-reason modal.
pub const DENY_REASON_CALLBACK: &str = "approvals.deny_reason";
/// The `block_id` of the reason input in the modal.
pub(crate) const REASON_BLOCK: &str = "approvals.reason";
/// The `action_id` of the reason input in the modal.
pub(crate) const REASON_INPUT: &str = "reason";

/// Room kept at the end of a cut text for the marker, whose count of
/// characters left out has at most 20 digits.
const MARKER_ROOM: usize = 60;

/// A message: the notification text and its blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The plain text shown in notifications and where blocks cannot be.
    pub text: String,
    /// The Block Kit blocks.
    pub blocks: Vec<Value>,
}

/// What a request message shows besides the request itself.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extras<'a> {
    /// Approvers added by escalation.
    pub(crate) escalated: &'a [Identity],
    /// Slack mentions (`<@U…>`) for approvers whose user was found.
    pub(crate) mentions: &'a [(Identity, String)],
    /// Who has approved so far, from the gate's tally (any channel).
    pub(crate) approved_by: &'a [Identity],
}

/// The button value: the request id and the fingerprint the reviewer sees,
/// so that a click votes on exactly the call shown.
pub(crate) fn button_value(id: &RequestId, fingerprint: &Fingerprint) -> String {
    format!("{id}:{}", fingerprint.to_hex())
}

/// The message asking for a decision, with Approve and Deny buttons.
pub(crate) fn request_message(request: &Review, extras: &Extras<'_>) -> Message {
    let mut blocks = summary_blocks(request, "Approval requested", extras);
    let value = button_value(&request.id, &request.fingerprint);
    let mut vote = json!({
        "type": "actions",
        "block_id": VOTE_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": plain("Approve"),
                "style": "primary",
                "value": value,
            },
            {
                "type": "button",
                "action_id": DENY_ACTION,
                "text": plain("Deny"),
                "style": "danger",
                "value": value,
                "confirm": {
                    "title": plain("Deny this request?"),
                    "text": plain(if request.deny_reason_required {
                        "You will be asked for a reason, which this request requires."
                    } else {
                        "You will be asked for a reason (optional)."
                    }),
                    "confirm": plain("Deny"),
                    "deny": plain("Back"),
                    "style": "danger",
                },
            },
        ],
    });
    if !edit_fields(request).is_empty() {
        if let Some(elements) = vote["elements"].as_array_mut() {
            elements.push(json!({
                "type": "button",
                "action_id": EDIT_ACTION,
                "text": plain("Edit"),
                "value": value,
            }));
        }
    }
    blocks.push(vote);
    Message {
        text: notification(&format!(
            "Approval requested: {} ({} risk) by {}",
            request.action, request.risk, request.requester
        )),
        blocks,
    }
}

/// The message that replaces the request once it has ended: the same
/// summary, the outcome, and no buttons.
pub(crate) fn concluded_message(
    request: &Review,
    conclusion: &Conclusion,
    at: Timestamp,
    extras: &Extras<'_>,
) -> Message {
    let (title, outcome) = describe(conclusion, at);
    let mut blocks = summary_blocks(request, title, extras);
    blocks.push(json!({ "type": "divider" }));
    blocks.push(section(&outcome));
    Message {
        text: notification(&format!("{title}: {}", request.action)),
        blocks,
    }
}

/// The modal asking a reviewer why they deny. `metadata` comes back in the
/// submission (`view.private_metadata`).
pub(crate) fn deny_modal(request: &Review, metadata: &str) -> Value {
    let label = if request.deny_reason_required {
        "Reason (required)"
    } else {
        "Reason"
    };
    json!({
        "type": "modal",
        "callback_id": DENY_REASON_CALLBACK,
        "private_metadata": metadata,
        "title": plain("Deny request"),
        "submit": plain("Deny"),
        "close": plain("Cancel"),
        "blocks": [
            section(&format!(
                "Deny `{}`?\nRequest `{}`",
                fit(&request.action, 1000),
                fit(request.id.as_str(), 300),
            )),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": !request.deny_reason_required,
                "label": plain(label),
                "hint": plain("Recorded in the audit trail and shown on the request."),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": true,
                    "max_length": limits::DENY_REASON,
                },
            },
        ],
    })
}

/// The modal in which a reviewer changes the editable arguments before
/// approving: one plain-text input per field [`edit_fields`] offers, keyed
/// by its path. A value that looks masked is never shown: its input starts
/// empty, with a hint. `metadata` comes back in the submission.
pub(crate) fn edit_modal(request: &Review, metadata: &str) -> Value {
    let mut blocks = vec![section(&format!(
        "Change `{}` (version {}) and approve it.\nLeave a field empty to keep it as it is. The edited request needs its approvals again.",
        fit(&request.action, 1000),
        request.version,
    ))];
    for field in edit_fields(request) {
        let block_id = format!("{EDIT_BLOCK_PREFIX}{}", field.path);
        if block_id.chars().count() > limits::ID {
            continue;
        }
        let mut element = json!({
            "type": "plain_text_input",
            "action_id": EDIT_INPUT,
            "multiline": false,
            "max_length": limits::EDIT_VALUE,
        });
        if let Some(initial) = field
            .initial
            .as_deref()
            .filter(|text| text.chars().count() <= limits::EDIT_VALUE)
        {
            element["initial_value"] = Value::from(initial);
        }
        let mut input = json!({
            "type": "input",
            "block_id": block_id,
            "optional": true,
            "label": plain(&cut_plain(&field.path, limits::LABEL)),
            "element": element,
        });
        if field.masked {
            input["hint"] = plain(MASKED_HINT);
        }
        blocks.push(input);
    }
    json!({
        "type": "modal",
        "callback_id": EDIT_CALLBACK,
        "private_metadata": metadata,
        "title": plain("Edit request"),
        "submit": plain("Approve edited"),
        "close": plain("Cancel"),
        "blocks": blocks,
    })
}

/// The answer to an edit modal's submission that keeps it open with
/// `message` under the input of `path` (the first input when no input
/// covers it).
pub(crate) fn edit_error(request: Option<&Review>, path: Option<&str>, message: &str) -> Value {
    let fields = request.map(edit_fields).unwrap_or_default();
    let covering = path.and_then(|path| {
        fields.iter().find(|field| {
            path == field.path
                || path
                    .strip_prefix(field.path.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    });
    let block = covering.or_else(|| fields.first()).map_or_else(
        || EDIT_BLOCK_PREFIX.to_owned(),
        |field| format!("{EDIT_BLOCK_PREFIX}{}", field.path),
    );
    json!({
        "response_action": "errors",
        "errors": { block: cut_plain(message, limits::ERROR_TEXT) },
    })
}

/// Plain text cut to `max` characters, with `…` when cut.
fn cut_plain(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The answer to a modal submission that keeps the modal open with an error
/// under the reason input.
pub(crate) fn reason_error(message: &str) -> Value {
    json!({
        "response_action": "errors",
        "errors": { REASON_BLOCK: message },
    })
}

/// The blocks both messages share: what is asked, by whom, why, with what.
fn summary_blocks(request: &Review, title: &str, extras: &Extras<'_>) -> Vec<Value> {
    let mut blocks = Vec::with_capacity(8);
    let mut heading = format!("*{title}:* `{}`", fit(&request.action, 500));
    if !request.description.trim().is_empty() {
        heading.push('\n');
        heading.push_str(&fit(
            &request.description,
            limits::SECTION_TEXT - heading.chars().count() - 1,
        ));
    }
    blocks.push(section(&heading));

    let mut fields = vec![
        field("Risk", &format!("{} {}", risk_badge(request), request.risk)),
        field("Requested by", &escape(request.requester.as_str())),
        field("Approvers", &approvers(request, extras)),
        field(
            "Quorum",
            &format!(
                "{} approval{}",
                request.quorum.max(1),
                if request.quorum > 1 { "s" } else { "" }
            ),
        ),
        field("Decide by", &date(request.deadline)),
        field(
            "Request id",
            &format!("`{}`", fit(request.id.as_str(), 500)),
        ),
    ];
    if let Some(rule) = &request.rule {
        fields.push(field("Rule", &fit(rule, 1000)));
    }
    blocks.push(json!({ "type": "section", "fields": fields }));

    if let Some(justification) = request
        .justification
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        let label = "*Justification* (masked)\n";
        blocks.push(section(&format!(
            "{label}{}",
            fit(justification, limits::SECTION_TEXT - label.chars().count())
        )));
    }

    let arguments = serde_json::to_string_pretty(request.arguments.as_value())
        .unwrap_or_else(|_| request.arguments.to_string())
        // A run of three backticks would end the code block early.
        .replace("```", "`\u{200b}`\u{200b}`");
    let label = "*Arguments* (masked)\n```";
    let close = "```";
    let room = limits::SECTION_TEXT - label.chars().count() - close.chars().count();
    blocks.push(section(&format!("{label}{}{close}", fit(&arguments, room))));

    let mut context = format!("Fingerprint `{}`", request.fingerprint.to_hex());
    if request.version > 1 {
        context.push_str(&format!(
            " · version {}, edited by a reviewer: approvals of earlier versions do not count",
            request.version
        ));
    }
    if request.deny_reason_required {
        context.push_str(" · a deny needs a reason");
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": context }],
    }));
    blocks
}

fn approvers(request: &Review, extras: &Extras<'_>) -> String {
    let show = |identity: &Identity| {
        extras
            .mentions
            .iter()
            .find(|(known, _)| known == identity)
            .map_or_else(
                || escape(identity.as_str()),
                |(_, user)| format!("<@{}>", escape(user)),
            )
    };
    let mut text = if request.approvers.is_empty() {
        "(none named)".to_owned()
    } else {
        request
            .approvers
            .iter()
            .map(show)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !extras.approved_by.is_empty() {
        text.push_str(&format!(
            "\nApproved so far ({} of {}): ",
            extras.approved_by.len(),
            request.quorum.max(1)
        ));
        text.push_str(
            &extras
                .approved_by
                .iter()
                .map(show)
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if !extras.escalated.is_empty() {
        text.push_str("\nEscalated to: ");
        text.push_str(
            &extras
                .escalated
                .iter()
                .map(show)
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    // Already escaped: cut by characters, never inside an entity or mention.
    cut_rendered(&text, limits::FIELD_TEXT - 20)
}

fn describe(conclusion: &Conclusion, at: Timestamp) -> (&'static str, String) {
    let when = date(at);
    match conclusion {
        Conclusion::Approved { by } => (
            "Approved",
            format!(
                ":white_check_mark: *Approved* by {} · {when}",
                fit(&join(by), 2000)
            ),
        ),
        Conclusion::Denied { by, reason } => {
            let mut text = format!(":no_entry: *Denied* by {} · {when}", fit(by.as_str(), 500));
            if let Some(reason) = reason.as_deref().filter(|r| !r.trim().is_empty()) {
                text.push_str("\n*Reason:* ");
                text.push_str(&fit(reason, 2200));
            }
            ("Denied", text)
        }
        Conclusion::Expired => (
            "Expired",
            format!(":hourglass: *Expired* without a decision · {when}. Silence means deny."),
        ),
        Conclusion::Cancelled => (
            "Cancelled",
            format!(":heavy_multiplication_x: *Cancelled*: the caller stopped waiting · {when}"),
        ),
        Conclusion::Failed { reason } => (
            "Failed closed",
            format!(":warning: *Failed closed*: {} · {when}", fit(reason, 2000)),
        ),
        Conclusion::AllowedByPolicy { .. } => {
            ("Allowed by policy", format!("*Allowed by policy* · {when}"))
        }
        Conclusion::RefusedByPolicy { reason, .. } => (
            "Refused by policy",
            format!("*Refused by policy*: {} · {when}", fit(reason, 2000)),
        ),
    }
}

fn join(identities: &[Identity]) -> String {
    identities
        .iter()
        .map(Identity::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn risk_badge(request: &Review) -> &'static str {
    match request.risk {
        approvals_core::Risk::Low => ":large_green_circle:",
        approvals_core::Risk::Medium => ":large_yellow_circle:",
        approvals_core::Risk::High => ":large_orange_circle:",
        approvals_core::Risk::Critical => ":red_circle:",
    }
}

/// A date that Slack shows in each reader's time zone, with RFC 3339 as the
/// fallback.
fn date(at: Timestamp) -> String {
    let seconds = at.unix_millis() / 1000;
    format!("<!date^{seconds}^{{date_short_pretty}} at {{time}}|{at}>")
}

fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": text, "emoji": true })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut_rendered(text, limits::SECTION_TEXT) } })
}

fn field(label: &str, value: &str) -> Value {
    let label = format!("*{label}*\n");
    let room = limits::FIELD_TEXT - label.chars().count();
    json!({ "type": "mrkdwn", "text": format!("{label}{}", cut_rendered(value, room)) })
}

fn notification(text: &str) -> String {
    fit(text, limits::NOTIFICATION_TEXT)
}

/// Escapes `text` for mrkdwn.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut escaped, c);
    }
    escaped
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        _ => out.push(c),
    }
}

fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

/// Escapes `text` and fits it in `max` characters; a cut text ends with a
/// marker saying how many characters were left out.
pub(crate) fn fit(text: &str, max: usize) -> String {
    let full: usize = text.chars().map(escaped_len).sum();
    if full <= max {
        return escape(text);
    }
    let room = max.saturating_sub(MARKER_ROOM);
    let mut out = String::with_capacity(room + MARKER_ROOM);
    let mut used = 0;
    let mut kept = 0;
    for c in text.chars() {
        let len = escaped_len(c);
        if used + len > room {
            break;
        }
        push_escaped(&mut out, c);
        used += len;
        kept += 1;
    }
    let left_out = text.chars().count() - kept;
    out.push_str(&format!("\n… [truncated: {left_out} more characters]"));
    out
}

/// Fits text that is already rendered (escaped) in `max` characters, as a
/// last guard; the cut falls before any `&` or `<` that could start an
/// entity or mention it would break.
fn cut_rendered(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(MARKER_ROOM);
    let mut end = text
        .char_indices()
        .nth(room)
        .map_or(text.len(), |(index, _)| index);
    if let Some(open) = text[..end].rfind(['&', '<']) {
        if !text[open..end].contains([';', '>']) {
            end = open;
        }
    }
    let left_out = text[end..].chars().count();
    format!(
        "{}\n… [truncated: {left_out} more characters]",
        &text[..end]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_mentions_and_links() {
        assert_eq!(
            escape("<!channel> & <@U1>"),
            "&lt;!channel&gt; &amp; &lt;@U1&gt;"
        );
    }

    #[test]
    fn fit_keeps_short_text_and_marks_a_cut() {
        assert_eq!(fit("a<b", 10), "a&lt;b");
        let long = "é".repeat(5000);
        let cut = fit(&long, 3000);
        assert!(cut.chars().count() <= 3000);
        assert!(cut.ends_with("more characters]"));
        assert!(cut.contains("[truncated: "));
        let kept = cut.chars().take_while(|c| *c == 'é').count();
        assert!(cut.contains(&format!("truncated: {} more", 5000 - kept)));
    }

    #[test]
    fn fit_never_splits_an_entity() {
        let long = "<".repeat(2000);
        let cut = fit(&long, 1000);
        assert!(cut.chars().count() <= 1000);
        let body = cut.split('\n').next().unwrap_or_default();
        assert_eq!(body.len() % 4, 0);
        assert!(body.chars().all(|c| "&lt;".contains(c)));
    }

    #[test]
    fn cut_rendered_does_not_break_a_mention() {
        let text = format!("{}<@U12345>{}", "a".repeat(2938), "b".repeat(100));
        let cut = cut_rendered(&text, 3000);
        assert!(cut.chars().count() <= 3000);
        assert!(!cut.contains("<@U12"));
        assert!(cut.starts_with(&"a".repeat(2938)));
        assert!(cut.ends_with("[truncated: 109 more characters]"));
    }
}
