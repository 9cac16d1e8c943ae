//! The type-label masker: the shape of the arguments, none of their values.

use serde_json::Value;

use super::{MaskedView, Masker};
use crate::ArgumentMask;

/// A masker that shows the shape of the arguments and nothing of their
/// values, for actions where even masked values are too much.
///
/// Object keys are kept (they name the parameters); every scalar becomes its
/// type label (`"<string>"`, `"<number>"`, `"<bool>"`, `null` stays `null`),
/// and free text becomes `"<text: N chars>"`. It reveals no value at all, at
/// the cost of giving reviewers little to decide on.
///
/// ```
/// use approvals_core::mask::{Masker, TypeLabelMasker};
/// let view = TypeLabelMasker.mask_arguments("a", &serde_json::json!({"email": "jo@x.io", "n": [1, 2]}), &[]);
/// assert_eq!(view.as_value(), &serde_json::json!({"email": "<string>", "n": ["<number>", "<number>"]}));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TypeLabelMasker;

impl TypeLabelMasker {
    fn label(value: &Value) -> Value {
        match value {
            Value::Null => Value::Null,
            Value::Bool(_) => Value::from("<bool>"),
            Value::Number(_) => Value::from("<number>"),
            Value::String(_) => Value::from("<string>"),
            Value::Array(items) => Value::Array(items.iter().map(Self::label).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| (key.clone(), Self::label(item)))
                    .collect(),
            ),
        }
    }
}

impl Masker for TypeLabelMasker {
    /// Overrides only matter for `"drop"`, which removes the argument: every
    /// other value is reduced to its type label anyway.
    fn mask_arguments(
        &self,
        _action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        let mut view = Self::label(arguments);
        if let Value::Object(map) = &mut view {
            for dropped in overrides.iter().filter(|o| o.spec == "drop") {
                map.remove(dropped.argument.as_ref());
            }
        }
        MaskedView::from_masked(view)
    }

    fn mask_text(&self, text: &str) -> String {
        format!("<text: {} chars>", text.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_labels_keep_shape_and_drop_every_value() {
        let raw = json!({"user": {"email": "jane@example.com", "age": 41, "vip": true, "note": null}, "ids": ["a", 2]});
        let view = TypeLabelMasker.mask_arguments("x", &raw, &[]);
        let text = view.to_string();
        for secret in ["jane@example.com", "41", "true", "\"a\""] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
        assert_eq!(
            view.as_value(),
            &json!({"user": {"email": "<string>", "age": "<number>", "vip": "<bool>", "note": null}, "ids": ["<string>", "<number>"]})
        );
        assert_eq!(
            TypeLabelMasker.mask_text("call jane@example.com"),
            "<text: 21 chars>"
        );
    }

    #[test]
    fn a_dropped_argument_is_absent_from_the_view() {
        let raw = json!({"bucket": "s3://exports", "db": "postgres://u:p@h/db"});
        let overrides = [ArgumentMask {
            argument: "db".into(),
            spec: "drop".into(),
        }];
        let view = TypeLabelMasker.mask_arguments("x", &raw, &overrides);
        assert_eq!(view.as_value(), &json!({"bucket": "<string>"}));
    }
}
