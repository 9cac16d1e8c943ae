//! Collecting a reviewer's edit: the fields a channel offers and the merge
//! patch it builds from what the reviewer typed.
//!
//! A channel that offers edits shows one input per editable field of the
//! [`Review`] ([`edit_fields`]), and turns the inputs the reviewer changed
//! into a JSON merge patch ([`merge_patch_of`]) that it hands to
//! [`VoteBox::edit`](approvals_core::VoteBox::edit). It judges nothing:
//! who may edit, which fields, their types and policy are the gate's.
//!
//! A channel only ever holds the masked view of the arguments. A value that
//! looks masked ([`looks_masked`]) is not offered as the input's starting
//! text: the reviewer would otherwise edit a mask (`j***@example.com`) and
//! send it back as the new value. Such an input starts empty, and an empty
//! input leaves its field as it is.

use approvals_core::Review;
use serde_json::{Map, Value};

/// The most inputs a channel offers for one request; fields past it are
/// not offered (the request can still be approved or denied as it is).
pub const MAX_EDIT_FIELDS: usize = 40;

/// One field a reviewer may change, as a channel offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditField {
    /// The argument path (`amount_cents`, `destination.bucket`).
    pub path: String,
    /// The input's starting text: the current value from the masked view,
    /// as typed (strings bare, anything else as JSON); `None` when the
    /// value looks masked or is not shown.
    pub initial: Option<String>,
    /// Whether the value is withheld because it looks masked.
    pub masked: bool,
}

/// The hint shown under an input whose value is withheld.
pub const MASKED_HINT: &str = "masked: enter a new value to replace it";

/// The fields of `review` a channel offers for editing, in order: for `*`,
/// every top-level field of the masked arguments; otherwise each editable
/// path (whether or not the masked view shows it). At most
/// [`MAX_EDIT_FIELDS`]; empty when the request takes no edits.
pub fn edit_fields(review: &Review) -> Vec<EditField> {
    let shown = review.arguments.as_value();
    let mut paths: Vec<String> = Vec::new();
    for editable in &review.editable {
        if editable == "*" {
            if let Value::Object(fields) = shown {
                paths.extend(fields.keys().cloned());
            }
        } else {
            paths.push(editable.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    paths.retain(|path| seen.insert(path.clone()));
    paths
        .into_iter()
        .take(MAX_EDIT_FIELDS)
        .map(|path| {
            let value = lookup(shown, &path);
            let masked = value.is_some_and(looks_masked);
            let initial = value
                .filter(|value| !masked && !value.is_null())
                .map(input_text);
            EditField {
                path,
                initial,
                masked,
            }
        })
        .collect()
}

/// The value at a dotted `path` of `value`.
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(value, |value, key| value.as_object()?.get(key))
}

/// A value as an input shows it: a string bare, anything else as JSON.
pub fn input_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// What a typed input means: a JSON number, boolean, object or array when
/// it parses as one, else the text as a string.
pub fn parse_input(text: &str) -> Value {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::Object(_) | Value::Array(_))) => {
            value
        }
        _ => Value::String(text.to_owned()),
    }
}

/// The merge patch of what a reviewer typed: `inputs` pairs each field's
/// path with its text. An input left empty, or holding the field's
/// starting text, leaves the field as it is. The result may be `{}`; the
/// gate refuses an edit that changes nothing.
pub fn merge_patch_of<'a>(
    fields: &[EditField],
    inputs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Value {
    let mut patch = Map::new();
    for (path, text) in inputs {
        let Some(text) = text.filter(|text| !text.trim().is_empty()) else {
            continue;
        };
        let initial = fields
            .iter()
            .find(|field| field.path == path)
            .and_then(|field| field.initial.as_deref());
        if initial == Some(text) {
            continue;
        }
        insert(&mut patch, path, parse_input(text));
    }
    Value::Object(patch)
}

/// The editable fields of `review` as one JSON object to edit as a whole
/// (a file in an editor): each field [`edit_fields`] offers, nested by its
/// path, with its value from the masked view. Fields whose value looks
/// masked, or is not shown, are left out: the reviewer may add them to
/// replace them.
pub fn edit_document(review: &Review) -> Value {
    let shown = review.arguments.as_value();
    let mut document = Map::new();
    for field in edit_fields(review) {
        if field.masked {
            continue;
        }
        if let Some(value) = lookup(shown, &field.path).filter(|value| !value.is_null()) {
            insert(&mut document, &field.path, value.clone());
        }
    }
    Value::Object(document)
}

/// The merge patch that turns `written` into `read`, for a document a
/// reviewer edited as a whole: what they added or changed, objects merged
/// key by key. A key they removed is left as it is (write `null` to
/// remove an argument).
pub fn patch_between(written: &Value, read: &Value) -> Value {
    let (Value::Object(before), Value::Object(after)) = (written, read) else {
        return read.clone();
    };
    let mut patch = Map::new();
    for (key, value) in after {
        match before.get(key) {
            Some(old) if old == value => {}
            Some(old @ Value::Object(_)) if value.is_object() => {
                let inner = patch_between(old, value);
                if inner.as_object().is_some_and(|inner| !inner.is_empty()) {
                    patch.insert(key.clone(), inner);
                }
            }
            _ => {
                patch.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(patch)
}

/// Sets `value` at the dotted `path` of `patch`, making objects on the way.
fn insert(patch: &mut Map<String, Value>, path: &str, value: Value) {
    let mut keys = path.split('.').peekable();
    let mut at = patch;
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            at.insert(key.to_owned(), value);
            return;
        }
        let next = at
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(inner) = next else { return };
        at = inner;
    }
}

/// Whether a value of the masked view may be a mask's output rather than
/// the value itself: any string in it holding a label (`[EMAIL]`,
/// `[REDACTED]`), a type label (`<string>`, `<text: 5 chars>`), a partial
/// form (`•`, `***`) or a pseudonym (`EMAIL_9f2c1a`). It errs towards
/// "masked": such a value is only not offered as starting text.
pub fn looks_masked(value: &Value) -> bool {
    match value {
        Value::String(text) => text_looks_masked(text),
        Value::Array(items) => items.iter().any(looks_masked),
        Value::Object(fields) => fields.values().any(looks_masked),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn text_looks_masked(text: &str) -> bool {
    if text.contains('•') || text.contains("**") {
        return true;
    }
    let trimmed = text.trim();
    if trimmed.starts_with('<') && trimmed.ends_with('>') {
        return true;
    }
    // `[KIND]` labels.
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find(']') {
            let inner = &after[..close];
            if !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c == ' ')
            {
                return true;
            }
        }
        rest = after;
    }
    // `KIND_1a2b3c` pseudonyms.
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| {
            word.rsplit_once('_').is_some_and(|(kind, tag)| {
                !kind.is_empty()
                    && kind.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    && tag.len() == 6
                    && tag.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_are_recognized_and_plain_values_are_not() {
        for masked in [
            json!("[EMAIL]"),
            json!("j***@example.com"),
            json!("•••• 4242"),
            json!("EMAIL_9f2c1a"),
            json!("<string>"),
            json!("[REDACTED]"),
            json!({"to": ["ok", "[PHONE]"]}),
        ] {
            assert!(looks_masked(&masked), "{masked}");
        }
        for plain in [
            json!("v1.2.3"),
            json!("invoices-2026"),
            json!(42000),
            json!(true),
            json!({"bucket": "b", "region": "eu-west-1"}),
            json!("items [3 of 4]"),
        ] {
            assert!(!looks_masked(&plain), "{plain}");
        }
    }

    #[test]
    fn a_document_edited_as_a_whole_gives_the_patch_of_its_changes() {
        let written =
            json!({"amount_cents": 420000, "destination": {"bucket": "a", "region": "eu"}});
        let read = json!({"amount_cents": 42000, "destination": {"bucket": "a", "region": "us"}, "email": "x@y.z"});
        assert_eq!(
            patch_between(&written, &read),
            json!({"amount_cents": 42000, "destination": {"region": "us"}, "email": "x@y.z"})
        );
        assert_eq!(patch_between(&written, &written), json!({}));
        assert_eq!(patch_between(&written, &json!({})), json!({}));
    }

    #[test]
    fn inputs_parse_as_json_scalars_or_strings() {
        assert_eq!(parse_input("42000"), json!(42000));
        assert_eq!(parse_input(" true "), json!(true));
        assert_eq!(parse_input("[1, 2]"), json!([1, 2]));
        assert_eq!(parse_input("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(parse_input("eu-west-1"), json!("eu-west-1"));
        assert_eq!(parse_input("null"), json!("null"));
        assert_eq!(parse_input("\"quoted\""), json!("\"quoted\""));
    }

    #[test]
    fn the_patch_holds_only_changed_inputs_nested_by_path() {
        let fields = vec![
            EditField {
                path: "amount_cents".into(),
                initial: Some("420000".into()),
                masked: false,
            },
            EditField {
                path: "destination.bucket".into(),
                initial: Some("old".into()),
                masked: false,
            },
            EditField {
                path: "email".into(),
                initial: None,
                masked: true,
            },
        ];
        let patch = merge_patch_of(
            &fields,
            [
                ("amount_cents", Some("420000")),
                ("destination.bucket", Some("new")),
                ("email", Some("")),
            ],
        );
        assert_eq!(patch, json!({"destination": {"bucket": "new"}}));
        let patch = merge_patch_of(&fields, [("amount_cents", Some("42000")), ("email", None)]);
        assert_eq!(patch, json!({"amount_cents": 42000}));
    }
}
