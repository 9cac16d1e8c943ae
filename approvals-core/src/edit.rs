//! Approve with edits: a reviewer changes some arguments, and the changed
//! call is a new version of the request, judged again.
//!
//! A reviewer's edit is a JSON merge patch (RFC 7396) of the call's
//! arguments: `{"amount_cents": 42000}` replaces one field and leaves the
//! others as the caller passed them, `null` removes a field, and nested
//! objects merge. The reviewer never needs, and is never shown, a value they
//! do not change: a masked argument may be replaced but is never revealed by
//! editing.
//!
//! The gate ([`VoteBox::edit`](crate::VoteBox::edit)) accepts an edit only
//! when all of these hold:
//!
//! - the editor may vote on the request (not the requester, eligible, the
//!   request pending and before its deadline, the fingerprint the editor
//!   saw is the current version's);
//! - every argument the patch changes is under a path the requirement
//!   declares [editable](crate::policy::RequirementBuilder::editable)
//!   (`"amount_cents"`, `"destination.bucket"`, `"*"`), and the call can be
//!   rebuilt from JSON ([`ActionRequest::editable`](crate::ActionRequest::editable));
//! - the edited arguments deserialize into the argument type;
//! - policy, evaluated again on the edited arguments, does not refuse them.
//!
//! The edited call then gets a new fingerprint and a version number one
//! higher; the edit counts as the editor's approval of the new version, and
//! approvals of an earlier version do not carry over: the new version needs
//! its own quorum. Whoever approved the numbers before did not approve these.
//!
//! ```
//! use approvals_core::edit::{changed_paths, merge_patch};
//! use serde_json::json;
//!
//! let before = json!({"customer": "c_42", "amount_cents": 420000});
//! let after = merge_patch(&before, &json!({"amount_cents": 42000}));
//! assert_eq!(after, json!({"customer": "c_42", "amount_cents": 42000}));
//! assert_eq!(changed_paths(&before, &after), ["amount_cents"]);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::parse::ParseProblem;
use crate::{Conclusion, Fingerprint, Identity, Refusal, RequestId};

/// A reviewer's edit of a pending request, as a channel hands it to the
/// gate.
///
/// Like a [`Ballot`](crate::Ballot), it names the fingerprint of the version
/// the reviewer saw, and the channel it came through is stamped by the
/// [`VoteBox`](crate::VoteBox) it is handed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    /// The request edited.
    pub request_id: RequestId,
    /// The fingerprint of the version the editor saw.
    pub fingerprint: Fingerprint,
    /// Who edits (and so approves the edited version).
    pub editor: Identity,
    /// The change, as a JSON merge patch (RFC 7396) of the arguments.
    pub changes: Value,
}

impl Edit {
    /// An edit of the request `review` shows, by `editor`.
    pub fn new(review: &crate::Review, editor: impl Into<Identity>, changes: Value) -> Self {
        Self {
            request_id: review.id.clone(),
            fingerprint: review.fingerprint,
            editor: editor.into(),
            changes,
        }
    }
}

/// What the gate made of an edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EditOutcome {
    /// The edit made a new version of the request, and counted as the
    /// editor's approval of it.
    Accepted {
        /// The new version's number (the request as made is version 1).
        version: u32,
        /// The new version's fingerprint: the one later votes must name.
        fingerprint: Fingerprint,
        /// The argument paths the edit changed.
        changed: Vec<String>,
        /// Distinct approvals of the new version so far (the editor's).
        approvals: u32,
        /// Approvals the new version needs.
        quorum: u32,
        /// Set when the editor's approval concluded the request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conclusion: Option<Conclusion>,
    },
    /// The edit was refused; the request stays as it was.
    Refused {
        /// Why.
        refusal: Refusal,
        /// For an edit that is not valid, where and what (a path and a
        /// category, never a value).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem: Option<EditProblem>,
    },
}

impl EditOutcome {
    /// Whether the edit was accepted.
    pub fn accepted(&self) -> bool {
        matches!(self, EditOutcome::Accepted { .. })
    }

    /// The refusal, if the edit was refused.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            EditOutcome::Refused { refusal, .. } => Some(*refusal),
            EditOutcome::Accepted { .. } => None,
        }
    }

    pub(crate) fn refused(refusal: Refusal) -> Self {
        EditOutcome::Refused {
            refusal,
            problem: None,
        }
    }
}

/// Why an edit's arguments were refused: the argument path and a category,
/// never the value. The `Display` text is safe to show the editor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditProblem {
    /// The argument path (`amount_cents`, `items[2].sku`); empty for the
    /// whole edit. Map keys that are not plain names are shown as `*`.
    pub path: String,
    /// What is wrong, in words that quote no input.
    pub problem: String,
}

impl EditProblem {
    pub(crate) fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for EditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "`{}`: {}", self.path, self.problem)
        }
    }
}

/// Checks the edited arguments against their type: `Ok` if `bytes`
/// deserialize into it. Installed by
/// [`ActionRequest::editable`](crate::ActionRequest::editable) for its
/// argument type, or by the attribute for its editable parameters.
pub type EditCheck = std::sync::Arc<dyn Fn(&[u8]) -> Result<(), EditProblem> + Send + Sync>;

/// The [`EditCheck`] of a type: whether `bytes` deserialize into `T`, and if
/// not, where and why (never the value).
pub fn check_type<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(), EditProblem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(_) => Ok(()),
        Err(error) => {
            let inner = error.inner();
            let text = inner.to_string();
            let position = format!(" at line {} column {}", inner.line(), inner.column());
            let message = text.strip_suffix(&position).unwrap_or(&text);
            Err(EditProblem::new(
                render_path(error.path()),
                ParseProblem::from_serde_message(message).to_string(),
            ))
        }
    }
}

/// Checks one argument of edited arguments against its type: `Ok` if
/// `value` deserializes into `T`; the problem's path starts with `name`.
/// For checks that look at some fields of the arguments only (the
/// attribute's editable parameters).
pub fn check_value<T: serde::de::DeserializeOwned>(
    name: &str,
    value: &Value,
) -> Result<(), EditProblem> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(_) => Ok(()),
        Err(error) => {
            let inner = error.inner().to_string();
            let below = render_path(error.path());
            let path = if below.is_empty() || below == "?" {
                name.to_owned()
            } else if below.starts_with('[') {
                format!("{name}{below}")
            } else {
                format!("{name}.{below}")
            };
            Err(EditProblem::new(
                path,
                ParseProblem::from_serde_message(&inner).to_string(),
            ))
        }
    }
}

/// `a.b[0].c`; a map key that is not a plain name (letters, digits,
/// `_` and `-`, at most 64 characters) is shown as `*`, since keys can be
/// data.
fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut rendered = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => rendered.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !rendered.is_empty() {
                    rendered.push('.');
                }
                rendered.push_str(if is_plain_name(key) { key } else { "*" });
            }
            Segment::Unknown => {
                if !rendered.is_empty() {
                    rendered.push('.');
                }
                rendered.push('?');
            }
        }
    }
    rendered
}

fn is_plain_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `path` is a valid editable path: `*`, or dot-separated plain
/// names (`amount_cents`, `destination.bucket`). The error says what is
/// wrong with it, without repeating it.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if path == "*" {
        return Ok(());
    }
    if path.is_empty() {
        return Err("is empty");
    }
    if path.split('.').all(is_plain_name) {
        Ok(())
    } else {
        Err("must be `*` or names (letters, digits, `_`, `-`) joined by `.`")
    }
}

/// `target` with the JSON merge patch `patch` applied (RFC 7396, section 2).
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(changes) = patch else {
        return patch.clone();
    };
    let mut merged = match target {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    for (key, change) in changes {
        if change.is_null() {
            merged.remove(key);
        } else {
            let before = merged.get(key).unwrap_or(&Value::Null);
            let after = merge_patch(before, change);
            merged.insert(key.clone(), after);
        }
    }
    Value::Object(merged)
}

/// The paths at which `before` and `after` differ, in order: objects are
/// compared key by key, anything else (arrays included) as a whole. A key
/// added or removed is a change at its path; the whole value is `""`.
pub fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    let mut changed = Vec::new();
    diff(before, after, &mut String::new(), &mut changed);
    changed
}

fn diff(before: &Value, after: &Value, path: &mut String, changed: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            let keys = old
                .keys()
                .chain(new.keys().filter(|key| !old.contains_key(*key)));
            for key in keys {
                let length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match (old.get(key), new.get(key)) {
                    (Some(old), Some(new)) => diff(old, new, path, changed),
                    (None, None) => {}
                    _ => changed.push(path.clone()),
                }
                path.truncate(length);
            }
        }
        (old, new) if old == new => {}
        _ => changed.push(path.clone()),
    }
}

/// The first of `changed` that no path of `editable` covers, if any. A path
/// covers itself and everything under it; `*` covers everything.
pub fn first_not_editable<'a>(changed: &'a [String], editable: &[String]) -> Option<&'a str> {
    changed
        .iter()
        .find(|path| !editable.iter().any(|allowed| covers(allowed, path)))
        .map(String::as_str)
}

fn covers(allowed: &str, path: &str) -> bool {
    allowed == "*"
        || path == allowed
        || path
            .strip_prefix(allowed)
            .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The examples of RFC 7396, appendix A.
    #[test]
    fn merge_patch_matches_the_rfc_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(merge_patch(&target, &patch), expected, "{target} + {patch}");
        }
    }

    #[test]
    fn changed_paths_name_each_leaf_that_differs() {
        let before = json!({"a": 1, "b": {"c": 2, "d": [1]}, "e": "x"});
        let after = json!({"a": 1, "b": {"c": 3, "d": [1, 2]}, "f": true});
        assert_eq!(changed_paths(&before, &after), ["b.c", "b.d", "e", "f"]);
        assert!(changed_paths(&before, &before).is_empty());
        assert_eq!(changed_paths(&json!(1), &json!(2)), [""]);
    }

    #[test]
    fn editable_paths_cover_themselves_and_below() {
        let editable = ["amount".to_owned(), "destination.bucket".to_owned()];
        let changed = |paths: &[&str]| paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        assert_eq!(first_not_editable(&changed(&["amount"]), &editable), None);
        assert_eq!(
            first_not_editable(&changed(&["destination.bucket.region"]), &editable),
            None
        );
        assert_eq!(
            first_not_editable(&changed(&["amount_cents"]), &editable),
            Some("amount_cents")
        );
        assert_eq!(
            first_not_editable(&changed(&["destination"]), &editable),
            Some("destination")
        );
        assert_eq!(
            first_not_editable(&changed(&["anything.at.all"]), &["*".to_owned()]),
            None
        );
        assert_eq!(first_not_editable(&changed(&["x"]), &[]), Some("x"));
    }

    #[test]
    fn paths_are_names_joined_by_dots() {
        for good in ["*", "amount", "destination.bucket", "a-b_c.d1"] {
            assert_eq!(check_path(good), Ok(()), "{good}");
        }
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "items[0]"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Refund {
        customer: String,
        amount_cents: u64,
    }

    #[test]
    fn a_wrongly_typed_edit_names_the_field_and_not_the_value() {
        let problem = check_type::<Refund>(br#"{"customer":"c_42","amount_cents":"jo@x.io"}"#)
            .expect_err("a string is not a u64");
        assert_eq!(problem.path, "amount_cents");
        assert!(problem.to_string().contains("expected u64"), "{problem}");
        assert!(!problem.to_string().contains("jo@x.io"), "{problem}");
        let missing = check_type::<Refund>(br#"{"customer":"c_42"}"#).expect_err("missing");
        assert_eq!(missing.to_string(), "missing field `amount_cents`");
        assert_eq!(
            check_type::<Refund>(br#"{"customer":"c","amount_cents":1}"#),
            Ok(())
        );
    }
}
