//! Turning arguments and free text into what a reviewer may see.
//!
//! Everything that leaves the gate (messages to channels, audit records,
//! errors, `Debug` output) is built from the [`MaskedView`] and masked text
//! that a [`Masker`] produces, never from the raw arguments.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ArgumentMask;

/// The reviewer-safe view of a call's arguments: the same shape as the
/// arguments, with values masked.
///
/// Cheap to clone: the request shown to channels and every audit record of
/// the request share one copy.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaskedView(Arc<Value>);

impl MaskedView {
    /// Wraps a value that is already masked.
    ///
    /// Only maskers should call this: the gate trusts that what it holds is
    /// safe to show.
    pub fn from_masked(value: Value) -> Self {
        Self(Arc::new(value))
    }

    /// The masked value.
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

impl fmt::Debug for MaskedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedView({})", self.0)
    }
}

impl fmt::Display for MaskedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Produces reviewer-safe views of arguments and free text.
///
/// The gate calls the masker once per request, before anything is audited or
/// sent to a channel.
pub trait Masker: Send + Sync {
    /// Masks the serialized arguments of `action`, applying the caller's
    /// per-argument `overrides` (see [`ActionRequest::mask_argument`]).
    ///
    /// [`ActionRequest::mask_argument`]: crate::ActionRequest::mask_argument
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView;

    /// Masks free text written by the requester (the justification) or
    /// produced from the call (an error message).
    fn mask_text(&self, text: &str) -> String;
}

impl<M: Masker + ?Sized> Masker for &M {
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        (**self).mask_arguments(action, arguments, overrides)
    }
    fn mask_text(&self, text: &str) -> String {
        (**self).mask_text(text)
    }
}

impl<M: Masker + ?Sized> Masker for Box<M> {
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        (**self).mask_arguments(action, arguments, overrides)
    }
    fn mask_text(&self, text: &str) -> String {
        (**self).mask_text(text)
    }
}

impl<M: Masker + ?Sized> Masker for Arc<M> {
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        (**self).mask_arguments(action, arguments, overrides)
    }
    fn mask_text(&self, text: &str) -> String {
        (**self).mask_text(text)
    }
}

/// The default masker: shows the shape of the arguments and nothing of their
/// values.
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
