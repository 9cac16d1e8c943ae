//! Why a policy could not be loaded, validated or applied.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A place in a policy file: `policy.toml:12:9`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, when the policy was read from one
    /// ([`Policy::from_toml_file`](super::Policy::from_toml_file)).
    pub file: Option<PathBuf>,
    /// The line, counted from 1.
    pub line: usize,
    /// The column, in characters, counted from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `text`.
    pub(crate) fn of_offset(text: &str, offset: usize, file: Option<&Path>) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = text.get(..offset).unwrap_or_default();
        let line = before.bytes().filter(|&byte| byte == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
        Self {
            file: file.map(Path::to_path_buf),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}:{}:{}", file.display(), self.line, self.column),
            None => write!(f, "line {}, column {}", self.line, self.column),
        }
    }
}

/// Why a policy could not be loaded, validated or applied.
///
/// No variant ever carries a value from a call's arguments: predicates read
/// the arguments, but errors name only paths, operators, rules and groups.
/// A predicate's bound or pattern, written in the policy, is the kind of
/// value arguments hold, so load errors do not quote it either: they name
/// its place (file, line, column), the rule, the path and the operator, and
/// say what is wrong by category (`a value of the wrong type, expected a
/// string`). Other values written in the policy (an unknown effect, a bad
/// duration or risk) are quoted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file is not valid TOML, or does not have the shape of a
    /// policy: a syntax error, an unknown key, a missing key, a value of the
    /// wrong type.
    #[error("{location}: {message}")]
    Parse {
        /// Where.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// The policy says something that cannot work: a bad duration or risk, an
    /// unknown effect or group, a quorum of 0 or one that its approvers cannot
    /// reach, an invalid pattern, a predicate without exactly one operator.
    /// Also the same problems in a requirement declared by the call
    /// ([`ActionRequest::requirement`](crate::ActionRequest::requirement)),
    /// named as such.
    ///
    /// `location` is set when the policy came from a file; a policy built in
    /// code reports these from [`Policy::validate`](super::Policy::validate)
    /// and [`Policy::evaluate`](super::Policy::evaluate) without one.
    #[error("{}{message}", location_prefix(.location))]
    Invalid {
        /// Where, for a policy read from TOML.
        location: Option<Location>,
        /// What is wrong, naming the rule, group or default requirement.
        message: String,
    },
    /// The policy file could not be read.
    #[error("cannot read policy file {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A rule (or the default requirement) names a group the policy does not
    /// define. Policies read from TOML never get here: they are checked when
    /// loaded.
    #[error("{}", unknown_group_message(.rule.as_deref(), .group, .defined))]
    UnknownGroup {
        /// The rule; `None` for the default requirement.
        rule: Option<String>,
        /// The group name, without `group:`.
        group: String,
        /// The groups the policy defines.
        defined: Vec<String>,
    },
    /// Fewer eligible approvers than the quorum (the requester never counts).
    #[error("{}", quorum_unreachable(&rule_name(.rule), *.quorum, *.eligible))]
    QuorumUnreachable {
        /// The rule.
        rule: Option<String>,
        /// Eligible approvers other than the requester.
        eligible: usize,
        /// Approvals needed.
        quorum: u32,
    },
}

impl PolicyError {
    /// Where in the policy file the problem is, when known.
    pub fn location(&self) -> Option<&Location> {
        match self {
            PolicyError::Parse { location, .. } => Some(location),
            PolicyError::Invalid { location, .. } => location.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn invalid(message: String) -> Self {
        PolicyError::Invalid {
            location: None,
            message,
        }
    }
}

fn location_prefix(location: &Option<Location>) -> String {
    location
        .as_ref()
        .map(|location| format!("{location}: "))
        .unwrap_or_default()
}

/// "`subject` needs 2 approvals but only 1 eligible approver (other than
/// the requester) exists", counted in words that agree.
pub(crate) fn quorum_unreachable(subject: &str, quorum: u32, eligible: usize) -> String {
    let approvals = if quorum == 1 { "approval" } else { "approvals" };
    let (approvers, exist) = if eligible == 1 {
        ("approver", "exists")
    } else {
        ("approvers", "exist")
    };
    format!(
        "{subject} needs {quorum} {approvals} but only {eligible} eligible {approvers} (other than the requester) {exist}"
    )
}

fn rule_name(rule: &Option<String>) -> String {
    rule.as_deref().map_or_else(
        || "the default rule".to_owned(),
        |rule| format!("rule `{rule}`"),
    )
}

/// `rule `exports`` or `the default requirement`: the subject of messages.
pub(crate) fn context(rule: Option<&str>) -> String {
    rule.map_or_else(
        || "the default requirement".to_owned(),
        |rule| format!("rule `{rule}`"),
    )
}

pub(crate) fn unknown_group_message(rule: Option<&str>, group: &str, defined: &[String]) -> String {
    unknown_group_in(&context(rule), group, defined)
}

/// `unknown group `x` in SUBJECT (defined groups: …)`.
pub(crate) fn unknown_group_in(subject: &str, group: &str, defined: &[String]) -> String {
    if defined.is_empty() {
        format!("unknown group `{group}` in {subject} (no groups are defined)")
    } else {
        format!(
            "unknown group `{group}` in {subject} (defined groups: {})",
            defined.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "ab\ncdé\nf";
        let at = |offset| {
            let location = Location::of_offset(text, offset, None);
            (location.line, location.column)
        };
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(2), (1, 3));
        assert_eq!(at(3), (2, 1));
        assert_eq!(at(5), (2, 3));
        // Inside `é` (two bytes): rounded down to its start.
        assert_eq!(at(6), (2, 3));
        assert_eq!(at(8), (3, 1));
        assert_eq!(at(100), (3, 2));
    }

    #[test]
    fn locations_name_the_file_when_there_is_one() {
        let location = Location::of_offset("x", 0, Some(Path::new("policy.toml")));
        assert_eq!(location.to_string(), "policy.toml:1:1");
        assert_eq!(
            Location::of_offset("x", 0, None).to_string(),
            "line 1, column 1"
        );
    }
}
