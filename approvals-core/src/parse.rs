//! What a parser refused, told without the input's text.
//!
//! `serde`'s errors put the offending value in their message
//! (`invalid type: string "jane.doe@example.com", expected u64`,
//! ``unknown variant `foo` ``), and so do `serde_json`'s and `toml`'s, which
//! forward them. Inputs here hold personal data (a Slack payload, a policy's
//! predicate bound), so no message of theirs is shown or logged as it is:
//! [`ParseProblem::from_serde_message`] keeps the category and the part that
//! comes from the types being read (what was expected, a field the type
//! names), and drops the rest.
//!
//! ```
//! use approvals_core::parse::ParseProblem;
//!
//! let problem = ParseProblem::from_serde_message(
//!     r#"invalid type: string "jane.doe@example.com", expected u64"#,
//! );
//! assert_eq!(problem.to_string(), "a value of the wrong type, expected u64");
//! ```

use std::fmt;

/// A category of what `serde` refused, with only what the types being read
/// said (never the input's text).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseProblem {
    /// A value of another type than the one expected.
    WrongType {
        /// What the type being read expected (`a string`, `u32`).
        expected: String,
    },
    /// A value of the right type that the type being read refused.
    InvalidValue {
        /// What was expected instead.
        expected: String,
    },
    /// A sequence or map of the wrong length.
    InvalidLength {
        /// What was expected instead.
        expected: String,
    },
    /// An enum variant the type does not have.
    UnknownVariant {
        /// The variants it has.
        expected: String,
    },
    /// A field the type does not have (its name is not repeated: it is the
    /// input's).
    UnknownField {
        /// The fields it has.
        expected: String,
    },
    /// A field the type needs is absent.
    MissingField {
        /// The field, as the type names it.
        field: String,
    },
    /// A field given twice.
    DuplicateField {
        /// The field, as the type names it.
        field: String,
    },
    /// Anything else (a message of the type's own, which may quote the
    /// input).
    Other,
}

impl ParseProblem {
    /// The category of a message produced by `serde::de::Error`'s provided
    /// methods (`invalid_type`, `unknown_field`, …), as `serde_json` and
    /// `toml` forward them. A message of any other form is
    /// [`Other`](Self::Other).
    pub fn from_serde_message(message: &str) -> Self {
        // What was expected comes last, after the input's text, so the last
        // `, expected ` is the type's own even when the input contains it.
        let expected = || {
            message
                .rfind(", expected ")
                .map(|at| message[at + ", expected ".len()..].trim().to_owned())
        };
        let named = |prefix: &str| {
            let rest = message.strip_prefix(prefix)?;
            let name = rest.strip_prefix('`')?.strip_suffix('`')?;
            (!name.contains('`')).then(|| name.to_owned())
        };
        let expected_or = |fallback: &str| expected().unwrap_or_else(|| fallback.to_owned());
        if message.starts_with("invalid type: ") {
            return Self::WrongType {
                expected: expected_or("something else"),
            };
        }
        if message.starts_with("invalid value: ") {
            return Self::InvalidValue {
                expected: expected_or("something else"),
            };
        }
        if message.starts_with("invalid length ") {
            return Self::InvalidLength {
                expected: expected_or("something else"),
            };
        }
        // The input's text comes before `, there are no …` and may hold
        // `, expected `: checked first.
        if message.starts_with("unknown variant ") {
            return Self::UnknownVariant {
                expected: if message.ends_with(", there are no variants") {
                    "none (there are no variants)".to_owned()
                } else {
                    expected_or("none (there are no variants)")
                },
            };
        }
        if message.starts_with("unknown field ") {
            return Self::UnknownField {
                expected: if message.ends_with(", there are no fields") {
                    "none (there are no fields)".to_owned()
                } else {
                    expected_or("none (there are no fields)")
                },
            };
        }
        if let Some(field) = named("missing field ") {
            return Self::MissingField { field };
        }
        if let Some(field) = named("duplicate field ") {
            return Self::DuplicateField { field };
        }
        Self::Other
    }
}

impl fmt::Display for ParseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongType { expected } => {
                write!(f, "a value of the wrong type, expected {expected}")
            }
            Self::InvalidValue { expected } => write!(f, "an invalid value, expected {expected}"),
            Self::InvalidLength { expected } => {
                write!(f, "a value of the wrong length, expected {expected}")
            }
            Self::UnknownVariant { expected } => {
                write!(f, "an unknown variant, expected {expected}")
            }
            Self::UnknownField { expected } => write!(f, "an unknown field, expected {expected}"),
            Self::MissingField { field } => write!(f, "missing field `{field}`"),
            Self::DuplicateField { field } => write!(f, "duplicate field `{field}`"),
            Self::Other => f.write_str("a value that could not be read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_keep_what_the_type_said_and_drop_the_input() {
        let cases = [
            (
                r#"invalid type: string "jane.doe@example.com", expected a sequence"#,
                "a value of the wrong type, expected a sequence",
            ),
            (
                "invalid type: integer `5551234567`, expected a string",
                "a value of the wrong type, expected a string",
            ),
            (
                r#"invalid value: string "4111 1111 1111 1111, expected nothing", expected 64 hex digits"#,
                "an invalid value, expected 64 hex digits",
            ),
            (
                "invalid length 3, expected a tuple of size 2",
                "a value of the wrong length, expected a tuple of size 2",
            ),
            (
                "unknown variant `jane.doe@example.com`, expected `approve` or `deny`",
                "an unknown variant, expected `approve` or `deny`",
            ),
            (
                "unknown field `jane.doe@example.com`, expected one of `reason`, `fingerprint`",
                "an unknown field, expected one of `reason`, `fingerprint`",
            ),
            (
                "unknown variant `x, expected jane.doe@example.com`, there are no variants",
                "an unknown variant, expected none (there are no variants)",
            ),
            (
                "unknown field `secret`, there are no fields",
                "an unknown field, expected none (there are no fields)",
            ),
            ("missing field `user`", "missing field `user`"),
            ("duplicate field `reason`", "duplicate field `reason`"),
            (
                "not an RFC 3339 timestamp: jane.doe@example.com",
                "a value that could not be read",
            ),
            (
                "missing field `a` and `jane.doe@example.com`",
                "a value that could not be read",
            ),
        ];
        for (message, shown) in cases {
            assert_eq!(
                ParseProblem::from_serde_message(message).to_string(),
                shown,
                "{message}"
            );
        }
    }
}
