//! Why a line could not be read, told without the line's text.
//!
//! The command reads logs and JSON lines full of personal data (that is
//! what `mask` is for), and `serde_json`'s messages quote the value they
//! refused; errors here say only what kind of problem and where.

use approvals_core::parse::ParseProblem;
use serde_json::error::Category;

/// What is wrong with a line that `serde_json` refused: the category and
/// the column, never the text.
pub(crate) fn json_problem(error: &serde_json::Error) -> String {
    let at = format!("column {}", error.column());
    match error.classify() {
        Category::Eof => format!("the JSON ends early ({at})"),
        Category::Syntax | Category::Io => format!("not valid JSON ({at})"),
        Category::Data => {
            let text = error.to_string();
            let position = format!(" at line {} column {}", error.line(), error.column());
            let message = text.strip_suffix(&position).unwrap_or(&text);
            format!("{} ({at})", ParseProblem::from_serde_message(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_quote_nothing_of_the_line() {
        let cases = [
            (r#"{"record": "jane.doe@example.com"}"#, "wrong type"),
            ("jane.doe@example.com", "not valid JSON"),
            (
                r#"{"record": {"email": "jane.doe@example.com""#,
                "ends early",
            ),
        ];
        for (line, category) in cases {
            #[derive(Debug, serde::Deserialize)]
            #[allow(dead_code)]
            struct Line {
                record: std::collections::BTreeMap<String, String>,
            }
            let Err(error) = serde_json::from_str::<Line>(line) else {
                panic!("{line} parsed");
            };
            let problem = json_problem(&error);
            assert!(problem.contains(category), "{problem}");
            assert!(!problem.contains("jane"), "{problem}");
        }
    }
}
