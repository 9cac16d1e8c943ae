//! Reading JSON bodies with errors that quote nothing of the body.
//!
//! `serde_json`'s errors put the offending value in their text (`invalid
//! type: string "jane.doe@example.com", expected u64`), and every inbound
//! channel answers and logs why a body was refused. [`JsonError`] says the
//! same by category ([`ParseProblem`]), with the field path (map keys
//! that are not field names of the type being read are shown as `*`) and
//! the line and column.

use std::fmt;

use approvals_core::parse::ParseProblem;
use serde::de::DeserializeOwned;
use serde_path_to_error::{Path, Segment};

/// Why a JSON body was refused: a category, where, and never the body's
/// text.
///
/// ```
/// # #[cfg(feature = "http")] {
/// use approvals_backends::json::JsonErrorKind;
/// use approvals_backends::http::ApproveBody;
///
/// let error = approvals_backends::json::from_slice::<ApproveBody>(
///     br#"{"fingerprint": 5551234567}"#,
///     &["fingerprint"],
/// )
/// .unwrap_err();
/// assert_eq!(error.path(), "fingerprint");
/// assert!(matches!(error.kind(), JsonErrorKind::Shape(_)));
/// assert!(!error.to_string().contains("5551234567"));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct JsonError {
    kind: JsonErrorKind,
    path: String,
    line: usize,
    column: usize,
}

/// What kind of problem a [`JsonError`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// Not JSON: a character where none may be, or nesting past the parser's
    /// limit.
    Syntax,
    /// The text ends before the JSON does.
    Truncated,
    /// JSON, but not of the shape expected: a wrong type, an unknown or
    /// missing field, an invalid value.
    Shape(ParseProblem),
}

impl JsonError {
    fn new(path: Option<&Path>, error: &serde_json::Error, known_fields: &[&str]) -> Self {
        let kind = match error.classify() {
            serde_json::error::Category::Eof => JsonErrorKind::Truncated,
            serde_json::error::Category::Data => {
                let text = error.to_string();
                let position = format!(" at line {} column {}", error.line(), error.column());
                let message = text.strip_suffix(&position).unwrap_or(&text);
                JsonErrorKind::Shape(ParseProblem::from_serde_message(message))
            }
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
                JsonErrorKind::Syntax
            }
        };
        // Where the text is not JSON, the path says nothing useful.
        let path = match (&kind, path) {
            (JsonErrorKind::Shape(_), Some(path)) => render_path(path, known_fields),
            _ => String::new(),
        };
        Self {
            kind,
            path,
            line: error.line(),
            column: error.column(),
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> &JsonErrorKind {
        &self.kind
    }

    /// The path of the value refused (`actions[0].value`), empty for the
    /// whole document or where the text is not JSON. Map keys that are not
    /// field names the reader knows are shown as `*`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The line of the problem, from 1 (0 when unknown).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column of the problem, from 1 (0 when unknown).
    pub fn column(&self) -> usize {
        self.column
    }

    fn describe(&self) -> String {
        let at = format!("line {}, column {}", self.line, self.column);
        match &self.kind {
            JsonErrorKind::Syntax => format!("not valid JSON at {at}"),
            JsonErrorKind::Truncated => format!("the JSON ends early at {at}"),
            JsonErrorKind::Shape(problem) if self.path.is_empty() => format!("{problem} ({at})"),
            JsonErrorKind::Shape(problem) => format!("{problem} at `{}` ({at})", self.path),
        }
    }
}

/// Reads `bytes` as a `T`; `known_fields` are the field names `T` (and the
/// types inside it) define, which alone are shown in error paths.
pub fn from_slice<T: DeserializeOwned>(
    bytes: &[u8],
    known_fields: &[&str],
) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| JsonError::new(Some(error.path()), error.inner(), known_fields))?;
    deserializer
        .end()
        .map_err(|error| JsonError::new(None, &error, known_fields))?;
    Ok(value)
}

/// `a.b[0].c`, with keys that are not known field names as `*`.
fn render_path(path: &Path, known_fields: &[&str]) -> String {
    let mut rendered = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => rendered.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !rendered.is_empty() {
                    rendered.push('.');
                }
                if known_fields.contains(&key.as_str()) {
                    rendered.push_str(key);
                } else {
                    rendered.push('*');
                }
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

impl fmt::Display for JsonErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonErrorKind::Syntax => f.write_str("not valid JSON"),
            JsonErrorKind::Truncated => f.write_str("the JSON ends early"),
            JsonErrorKind::Shape(problem) => problem.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::*;

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    struct Outer {
        items: Vec<Inner>,
        #[serde(default)]
        extra: HashMap<String, Inner>,
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    struct Inner {
        count: u64,
    }

    const KNOWN: &[&str] = &["items", "extra", "count"];

    #[test]
    fn paths_name_fields_and_hide_other_keys() {
        let error = from_slice::<Outer>(
            br#"{"items":[{"count":1},{"count":"jane.doe@example.com"}]}"#,
            KNOWN,
        )
        .unwrap_err();
        assert_eq!(error.path(), "items[1].count");
        assert_eq!(
            error.to_string(),
            "a value of the wrong type, expected u64 at `items[1].count` (line 1, column 53)"
        );
        let error = from_slice::<Outer>(
            br#"{"items":[],"extra":{"jane.doe@example.com":{"count":true}}}"#,
            KNOWN,
        )
        .unwrap_err();
        assert_eq!(error.path(), "extra.*.count");
        assert!(!format!("{error} {error:?}").contains("jane"));
    }

    #[test]
    fn syntax_and_truncation_are_told_apart() {
        let error =
            from_slice::<Outer>(br#"{"items": [jane.doe@example.com]}"#, KNOWN).unwrap_err();
        assert_eq!(error.kind(), &JsonErrorKind::Syntax);
        assert_eq!(error.path(), "");
        let error = from_slice::<Outer>(br#"{"items": [{"count": 1"#, KNOWN).unwrap_err();
        assert_eq!(error.kind(), &JsonErrorKind::Truncated);
        let error = from_slice::<Outer>(br#"{"items": []} 4111111111111111"#, KNOWN).unwrap_err();
        assert_eq!(error.kind(), &JsonErrorKind::Syntax);
        assert!(!format!("{error} {error:?}").contains("4111"));
    }
}
