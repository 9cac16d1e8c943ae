//! The Adaptive Cards (version 1.5) a reviewer sees: the request with its
//! buttons while it waits, and the outcome without buttons once it ends.
//!
//! Text that comes from the request (description, justification, arguments,
//! a deny reason) is placed in `TextRun`s, which Teams does not read as
//! Markdown, so that a crafted value cannot turn into a link or hide other
//! text. Long values are cut with a visible marker so that a card stays well
//! under Teams' message size limit (about 28 KB).

use approvals_core::{Conclusion, Identity, Review, Timestamp};
use serde_json::{Value, json};

use crate::kit::edit::{MASKED_HINT, edit_fields};

/// The content type of an Adaptive Card attachment.
pub const ADAPTIVE_CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// The verb of the approve button.
pub const VERB_APPROVE: &str = "approve";

/// The verb of the deny button.
pub const VERB_DENY: &str = "deny";

/// The verb of the "Approve with edits" button, shown when the request
/// takes edits.
pub const VERB_APPROVE_WITH_EDITS: &str = "approve_with_edits";

/// The start of the id of each edit input; the argument path follows it.
/// Teams sends the inputs' values in the action's data under these ids.
pub const EDIT_INPUT_PREFIX: &str = "edit.";

/// The id of the deny-reason input; its value arrives in the action's data.
pub const REASON_INPUT_ID: &str = "reason";

/// The most characters of a deny reason a concluded card shows (the gate
/// accepts up to [`approvals_core::MAX_REASON_CHARS`]).
pub const SHOWN_REASON_CHARS: usize = 500;

const MAX_DESCRIPTION_CHARS: usize = 1_000;
const MAX_JUSTIFICATION_CHARS: usize = 2_000;
const MAX_ARGUMENTS: usize = 25;
const MAX_ARGUMENT_CHARS: usize = 400;
const MAX_ARGUMENTS_TOTAL_CHARS: usize = 6_000;
const MAX_NAME_CHARS: usize = 200;
const TRUNCATION_MARKER: &str = "… (cut)";
/// The longest value an edit input takes.
const MAX_EDIT_VALUE_CHARS: usize = 2_000;

/// The card for a request waiting for votes: what is asked, by whom, why,
/// the masked arguments, the deadline, the approvals so far, a deny-reason
/// field and the Approve and Deny buttons (`Action.Execute`, verbs
/// [`VERB_APPROVE`] and [`VERB_DENY`], with the request id and fingerprint
/// in `data`).
pub fn pending_card(request: &Review, approvals: &[Identity]) -> Value {
    pending_card_escalated(request, approvals, &[])
}

/// [`pending_card`] for a request that escalated: it also names the
/// approvers the escalation added, who may now decide.
pub fn pending_card_escalated(
    request: &Review,
    approvals: &[Identity],
    escalated: &[Identity],
) -> Value {
    let mut body = header(request);
    body.push(json!({
        "type": "FactSet",
        "facts": [
            {"title": "Approvals", "value": approvals_fact(request, approvals)},
            {"title": "Decide by", "value": request.deadline.to_string()},
        ],
    }));
    if !approvals.is_empty() {
        body.push(labelled("Approved so far", &join(approvals)));
    }
    if !escalated.is_empty() {
        body.push(labelled("Escalated to", &join(escalated)));
    }
    let fields = edit_fields(request);
    body.push(json!({
        "type": "Input.Text",
        "id": REASON_INPUT_ID,
        "label": if request.deny_reason_required { "Reason (required to deny)" } else { "Reason (optional)" },
        "placeholder": "Why you deny this request",
        "isMultiline": true,
        "maxLength": approvals_core::MAX_REASON_CHARS,
        // Teams checks required inputs for every action that sends the
        // card's inputs, "Approve with edits" too: with edit inputs on the
        // card, the gate alone asks for the reason.
        "isRequired": request.deny_reason_required && fields.is_empty(),
        "errorMessage": "A reason is required to deny this request.",
    }));
    if !fields.is_empty() {
        body.push(json!({
            "type": "TextBlock",
            "text": format!(
                "Change before approving (version {}): leave a field empty to keep it. The edited request needs its approvals again.",
                request.version
            ),
            "weight": "Bolder",
            "spacing": "Medium",
            "wrap": true,
        }));
        for field in &fields {
            let mut input = json!({
                "type": "Input.Text",
                "id": format!("{EDIT_INPUT_PREFIX}{}", field.path),
                "label": cut(&field.path, MAX_NAME_CHARS),
                "maxLength": MAX_EDIT_VALUE_CHARS,
            });
            match (&field.initial, field.masked) {
                (Some(initial), _) if initial.chars().count() <= MAX_EDIT_VALUE_CHARS => {
                    input["value"] = Value::from(initial.as_str());
                }
                (_, true) => input["placeholder"] = Value::from(MASKED_HINT),
                _ => {}
            }
            body.push(input);
        }
    }
    let data = json!({
        "requestId": request.id.as_str(),
        "fingerprint": request.fingerprint.to_hex(),
    });
    let mut actions = vec![
        json!({
            "type": "Action.Execute",
            "title": "Approve",
            "verb": VERB_APPROVE,
            "style": "positive",
            "associatedInputs": "none",
            "data": data,
        }),
        json!({
            "type": "Action.Execute",
            "title": "Deny",
            "verb": VERB_DENY,
            "style": "destructive",
            "associatedInputs": "auto",
            "data": data,
        }),
    ];
    if !fields.is_empty() {
        actions.push(json!({
            "type": "Action.Execute",
            "title": "Approve with edits",
            "verb": VERB_APPROVE_WITH_EDITS,
            "associatedInputs": "auto",
            "data": data,
        }));
    }
    body.push(json!({ "type": "ActionSet", "actions": actions }));
    card(body)
}

/// The card for a request that ended: who approved or denied, when and why,
/// or that it expired, was cancelled or failed. It has no buttons.
pub fn concluded_card(request: &Review, conclusion: &Conclusion, at: Timestamp) -> Value {
    let mut body = header(request);
    let (headline, color) = match conclusion {
        Conclusion::Approved { .. } => ("Approved", "Good"),
        Conclusion::AllowedByPolicy { .. } => ("Allowed by policy", "Good"),
        Conclusion::Denied { .. } => ("Denied", "Attention"),
        Conclusion::RefusedByPolicy { .. } => ("Refused by policy", "Attention"),
        Conclusion::Expired => ("Expired without a decision: denied", "Warning"),
        Conclusion::Cancelled => ("Cancelled", "Warning"),
        Conclusion::Failed { .. } => ("Failed closed: denied", "Attention"),
    };
    body.push(json!({
        "type": "TextBlock",
        "text": headline,
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
        "wrap": true,
    }));
    match conclusion {
        Conclusion::Approved { by } => body.push(labelled("Approved by", &join(by))),
        Conclusion::Denied { by, reason } => {
            body.push(labelled("Denied by", by.as_str()));
            if let Some(reason) = reason {
                body.push(labelled("Reason", &cut(reason, SHOWN_REASON_CHARS)));
            }
        }
        Conclusion::RefusedByPolicy { reason, .. } | Conclusion::Failed { reason } => {
            body.push(labelled("Reason", &cut(reason, MAX_JUSTIFICATION_CHARS)));
        }
        Conclusion::AllowedByPolicy { .. } | Conclusion::Expired | Conclusion::Cancelled => {}
    }
    let when = if matches!(conclusion, Conclusion::Expired) {
        "Expired at"
    } else {
        "Concluded at"
    };
    body.push(json!({
        "type": "FactSet",
        "facts": [{"title": when, "value": at.to_string()}],
    }));
    card(body)
}

/// The short text shown in notifications and by clients without cards.
pub fn summary(request: &Review) -> String {
    format!(
        "Approval requested: {} by {}",
        cut(&request.action, MAX_NAME_CHARS),
        request.requester
    )
}

fn card(body: Vec<Value>) -> Value {
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
    })
}

/// The parts every card shows: title, action, description, risk, requester,
/// request id, justification and masked arguments.
fn header(request: &Review) -> Vec<Value> {
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": "Approval requested",
            "weight": "Bolder",
            "size": "Large",
            "wrap": true,
        }),
        labelled("Action", &cut(&request.action, MAX_NAME_CHARS)),
    ];
    if !request.description.trim().is_empty() {
        body.push(plain(&cut(&request.description, MAX_DESCRIPTION_CHARS)));
    }
    body.push(json!({
        "type": "FactSet",
        "facts": [
            {"title": "Risk", "value": request.risk.to_string()},
            {"title": "Request", "value": request.id.as_str()},
            {"title": "Version", "value": version(request)},
        ],
    }));
    body.push(labelled(
        "Requested by",
        &cut(request.requester.as_str(), MAX_NAME_CHARS),
    ));
    if let Some(justification) = request.justification.as_deref() {
        body.push(labelled(
            "Justification",
            &cut(justification, MAX_JUSTIFICATION_CHARS),
        ));
    }
    body.push(json!({
        "type": "TextBlock",
        "text": "Arguments (masked)",
        "weight": "Bolder",
        "spacing": "Medium",
        "wrap": true,
    }));
    body.extend(arguments(request.arguments.as_value()));
    body
}

/// One line per top-level argument, `name: value`, values as compact JSON;
/// past the limits, a line saying how many were left out.
fn arguments(masked: &Value) -> Vec<Value> {
    let lines: Vec<(String, String)> = match masked {
        Value::Object(fields) => fields
            .iter()
            .map(|(name, value)| (name.clone(), compact(value)))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![(String::new(), compact(other))],
    };
    if lines.is_empty() {
        return vec![plain("(none)")];
    }
    let mut blocks = Vec::new();
    let mut total = 0;
    let mut shown = 0;
    for (name, value) in &lines {
        if shown == MAX_ARGUMENTS || total >= MAX_ARGUMENTS_TOTAL_CHARS {
            break;
        }
        let value = cut(value, MAX_ARGUMENT_CHARS);
        total += name.chars().count() + value.chars().count();
        blocks.push(if name.is_empty() {
            monospace(&value)
        } else {
            json!({
                "type": "RichTextBlock",
                "inlines": [
                    {"type": "TextRun", "text": format!("{}: ", cut(name, MAX_NAME_CHARS)), "weight": "Bolder"},
                    {"type": "TextRun", "text": value, "fontType": "Monospace"},
                ],
            })
        });
        shown += 1;
    }
    if shown < lines.len() {
        blocks.push(json!({
            "type": "RichTextBlock",
            "inlines": [{
                "type": "TextRun",
                "text": format!("… {} more not shown", lines.len() - shown),
                "italic": true,
            }],
        }));
    }
    blocks
}

fn version(request: &Review) -> String {
    if request.version > 1 {
        format!(
            "{} (edited by a reviewer: approvals of earlier versions do not count)",
            request.version
        )
    } else {
        request.version.to_string()
    }
}

fn approvals_fact(request: &Review, approvals: &[Identity]) -> String {
    format!("{} of {}", approvals.len(), request.quorum)
}

/// Text that is never read as Markdown.
fn plain(text: &str) -> Value {
    json!({
        "type": "RichTextBlock",
        "inlines": [{"type": "TextRun", "text": text}],
    })
}

fn monospace(text: &str) -> Value {
    json!({
        "type": "RichTextBlock",
        "inlines": [{"type": "TextRun", "text": text, "fontType": "Monospace"}],
    })
}

/// `label: text`, with the text never read as Markdown.
fn labelled(label: &str, text: &str) -> Value {
    json!({
        "type": "RichTextBlock",
        "inlines": [
            {"type": "TextRun", "text": format!("{label}: "), "weight": "Bolder"},
            {"type": "TextRun", "text": text},
        ],
    })
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn join(identities: &[Identity]) -> String {
    identities
        .iter()
        .map(Identity::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` cut to at most `limit` characters, with a marker when cut.
fn cut(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}{TRUNCATION_MARKER}", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approvals_core::mask::MaskedView;
    use approvals_core::{Fingerprint, RequestId, Risk};
    use std::time::Duration;

    fn request(arguments: Value) -> Review {
        let now = Timestamp::now();
        Review {
            id: RequestId::from_string("req-1"),
            action: "crm.export".into(),
            description: "Export customers".into(),
            risk: Risk::High,
            requester: Identity::new("agent:bot"),
            justification: Some("quarterly report [click](https://evil.example)".into()),
            arguments: MaskedView::from_masked(arguments),
            fingerprint: Fingerprint::of("crm.export", &Value::Null, &Identity::new("agent:bot")),
            approvers: vec![Identity::new("a@example.com")],
            quorum: 2,
            deny_reason_required: true,
            rule: None,
            requested_at: now,
            deadline: now.after(Duration::from_secs(900)),
            version: 1,
            editable: Vec::new(),
            argument_schema: None,
        }
    }

    fn input<'a>(card: &'a Value, id: &str) -> Option<&'a Value> {
        card["body"]
            .as_array()?
            .iter()
            .find(|block| block["type"] == "Input.Text" && block["id"] == id)
    }

    #[test]
    fn an_editable_request_gets_inputs_that_never_show_a_mask_and_an_approve_with_edits_action() {
        let mut review = request(
            json!({"table": "customers", "rows": 100, "owner": "EMAIL_9f2c1a", "nested": {"a": 1}}),
        );
        review.editable = vec![
            "rows".into(),
            "owner".into(),
            "nested.a".into(),
            "missing".into(),
        ];
        let card = pending_card(&review, &[]);
        assert_eq!(input(&card, "edit.rows").unwrap()["value"], "100");
        assert_eq!(input(&card, "edit.nested.a").unwrap()["value"], "1");
        let owner = input(&card, "edit.owner").unwrap();
        assert!(owner.get("value").is_none(), "{owner}");
        assert_eq!(owner["placeholder"], MASKED_HINT);
        assert!(input(&card, "edit.missing").unwrap().get("value").is_none());
        assert!(input(&card, "edit.table").is_none(), "not editable");
        let with_edits: Vec<_> = actions(&card)
            .into_iter()
            .filter(|action| action["verb"] == VERB_APPROVE_WITH_EDITS)
            .collect();
        assert_eq!(with_edits.len(), 1);
        assert_eq!(with_edits[0]["data"]["requestId"], "req-1");
        // Teams would hold "Approve with edits" back for an empty required
        // reason: the gate asks for it instead.
        assert_eq!(input(&card, REASON_INPUT_ID).unwrap()["isRequired"], false);

        review.editable.clear();
        let card = pending_card(&review, &[]);
        assert!(input(&card, "edit.rows").is_none());
        assert!(
            actions(&card)
                .iter()
                .all(|a| a["verb"] != VERB_APPROVE_WITH_EDITS)
        );
        assert_eq!(input(&card, REASON_INPUT_ID).unwrap()["isRequired"], true);
    }

    fn actions(card: &Value) -> Vec<&Value> {
        card["body"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|block| block["type"] == "ActionSet")
            .flat_map(|block| block["actions"].as_array().into_iter().flatten())
            .collect()
    }

    #[test]
    fn the_pending_card_carries_the_request_and_two_verbs() {
        let request = request(json!({"bucket": "<string>", "limit": "<number>"}));
        let card = pending_card(&request, &[Identity::new("a@example.com")]);
        assert_eq!(card["version"], "1.5");
        let text = card.to_string();
        for expected in [
            "crm.export",
            "Export customers",
            "high",
            "agent:bot",
            "quarterly report",
            "bucket: ",
            "<number>",
            "1 of 2",
            "a@example.com",
            &request.deadline.to_string(),
        ] {
            assert!(text.contains(expected), "{expected} missing from {text}");
        }
        let actions = actions(&card);
        let verbs: Vec<_> = actions.iter().map(|action| &action["verb"]).collect();
        assert_eq!(verbs, [VERB_APPROVE, VERB_DENY]);
        for action in &actions {
            assert_eq!(action["type"], "Action.Execute");
            assert_eq!(action["data"]["requestId"], "req-1");
            assert_eq!(action["data"]["fingerprint"], request.fingerprint.to_hex());
        }
        assert_eq!(actions[0]["associatedInputs"], "none");
        let input = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .find(|block| block["type"] == "Input.Text")
            .unwrap();
        assert_eq!(input["id"], REASON_INPUT_ID);
        assert_eq!(input["isRequired"], true);
    }

    #[test]
    fn untrusted_text_is_never_markdown() {
        let card = pending_card(&request(json!({"x": "[a](https://evil.example)"})), &[]);
        fn walk(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if map.get("type").and_then(Value::as_str) == Some("TextBlock") {
                        found.push(map["text"].as_str().unwrap_or_default().to_owned());
                    }
                    map.values().for_each(|child| walk(child, found));
                }
                Value::Array(items) => items.iter().for_each(|child| walk(child, found)),
                _ => {}
            }
        }
        let mut text_blocks = Vec::new();
        walk(&card, &mut text_blocks);
        assert!(
            text_blocks.iter().all(|text| !text.contains("evil")),
            "{text_blocks:?}"
        );
    }

    #[test]
    fn huge_arguments_are_cut_with_a_marker_and_the_card_stays_small() {
        let mut fields = serde_json::Map::new();
        for index in 0..500 {
            fields.insert(format!("field_{index:03}"), json!("x".repeat(5_000)));
        }
        let mut request = request(Value::Object(fields));
        request.description = "d".repeat(50_000);
        request.justification = Some("j".repeat(50_000));
        let card = pending_card(&request, &[]);
        let text = card.to_string();
        assert!(text.len() < 24_000, "card is {} bytes", text.len());
        assert!(text.contains(TRUNCATION_MARKER));
        assert!(text.contains("more not shown"));
    }

    #[test]
    fn concluded_cards_say_who_when_and_why_without_buttons() {
        let request = request(json!("<string>"));
        let at = Timestamp::now();
        let denied = concluded_card(
            &request,
            &Conclusion::Denied {
                by: Identity::new("b@example.com"),
                reason: Some("not this quarter".into()),
            },
            at,
        );
        let text = denied.to_string();
        for expected in [
            "Denied",
            "b@example.com",
            "not this quarter",
            &at.to_string(),
        ] {
            assert!(text.contains(expected), "{expected} missing");
        }
        assert!(actions(&denied).is_empty());
        assert!(!text.contains("Input.Text"));

        let approved = concluded_card(
            &request,
            &Conclusion::Approved {
                by: vec![
                    Identity::new("a@example.com"),
                    Identity::new("c@example.com"),
                ],
            },
            at,
        );
        assert!(
            approved
                .to_string()
                .contains("a@example.com, c@example.com")
        );
        let expired = concluded_card(&request, &Conclusion::Expired, at).to_string();
        assert!(expired.contains("Expired"));
    }

    #[test]
    fn cutting_respects_characters() {
        assert_eq!(cut("héllo", 2), format!("hé{TRUNCATION_MARKER}"));
        assert_eq!(cut("hé", 2), "hé");
    }
}
