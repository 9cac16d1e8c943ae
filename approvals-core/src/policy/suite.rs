//! Policy tests as data: `[[test]]` tables in the policy file, each a call
//! and the decision the policy must make for it.
//!
//! ```toml
//! [[test]]
//! name = "a small refund runs freely"
//! action = "billing.refund"
//! args = { amount = 20, currency = "EUR" }    # or a JSON string: args = '{"amount": 20}'
//! requester = "agent:support-bot"
//! risk = "low"                                 # optional, default "medium"
//! expect = "allow"                             # "allow", "refuse", "require_approval" or "fail_closed"
//!
//! [[test]]
//! name = "a large refund needs two of finance"
//! action = "billing.refund"
//! args = { amount = 2500 }
//! requester = "agent:support-bot"
//! expect = { approvers = ["group:finance"], quorum = 2 }
//! rule = "refunds"                             # optional: the rule that must decide
//! ```
//!
//! `expect` as a table means "approval required": `approvers` (identities
//! and `group:NAME`s, compared as a set with the approvers the policy
//! resolves, escalation approvers left out) and `quorum` are each optional.
//! `"fail_closed"` expects [`Policy::evaluate`] to fail (an unreachable
//! quorum, say), which the gate turns into a failed call.
//!
//! [`Policy::from_toml_file`] accepts these tables and checks their keys
//! (an unknown key is an error, as everywhere in the file), but does not
//! read them further: [`Policy::from_toml_file_with_tests`] does, and
//! [`PolicyTest::run`] runs one.

use std::fmt::Write as _;

use serde_json::Value;

use super::Policy;
use super::decision::{Decision, PolicyInput, Verdict};
use super::error::Location;
use super::principal::Principal;
use crate::{Identity, Risk};

/// One `[[test]]` table: a call, and what the policy must decide for it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PolicyTest {
    /// The test's name (`test N` when the table has none).
    pub name: String,
    /// The action name.
    pub action: String,
    /// The risk level (`medium` unless given).
    pub risk: Risk,
    /// Who asks.
    pub requester: Identity,
    /// The arguments, as the gate serializes them (`{}` unless given).
    pub arguments: Value,
    /// The decision expected.
    pub expect: Expectation,
    /// The rule expected to decide, if the test names one.
    pub rule: Option<String>,
    /// Where the table is, when read from a file.
    pub location: Option<Location>,
}

/// The decision a [`PolicyTest`] expects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expectation {
    /// The call runs freely.
    Allow,
    /// The call is refused.
    Refuse,
    /// The call needs approval.
    RequireApproval {
        /// These approvers exactly (groups resolved), if given.
        approvers: Option<Vec<Principal>>,
        /// This quorum, if given.
        quorum: Option<u32>,
    },
    /// Evaluation fails, so the call fails closed.
    FailClosed,
}

/// How a [`PolicyTest`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestResult {
    /// Whether the policy decided as expected.
    pub passed: bool,
    /// The expectation, in the words of `actual`.
    pub expected: String,
    /// What the policy decided: `allow`, `refuse: REASON`,
    /// `require_approval by A, B (quorum N)` or `fail_closed: ERROR`, then
    /// `[rule `NAME`]` or `[default requirement]`.
    pub actual: String,
}

impl PolicyTest {
    /// Evaluates the test's call with `policy` and compares the decision
    /// with the expectation.
    ///
    /// ```
    /// use approvals_core::policy::Policy;
    ///
    /// let (policy, tests) = Policy::from_toml_str_with_tests(r#"
    /// [[rule]]
    /// name = "reads"
    /// action = "crm.read_*"
    /// effect = "allow"
    ///
    /// [[test]]
    /// action = "crm.read_contact"
    /// requester = "agent:bot"
    /// expect = "allow"
    /// rule = "reads"
    /// "#)?;
    /// let result = tests[0].run(&policy);
    /// assert!(result.passed, "{} != {}", result.expected, result.actual);
    /// assert_eq!(result.actual, "allow [rule `reads`]");
    /// # Ok::<(), approvals_core::policy::PolicyError>(())
    /// ```
    pub fn run(&self, policy: &Policy) -> TestResult {
        let outcome = policy.evaluate(&PolicyInput {
            action: &self.action,
            risk: self.risk,
            requester: &self.requester,
            arguments: &self.arguments,
        });
        let decided = match &outcome {
            Ok(decision) => decision.rule.as_deref(),
            Err(_) => None,
        };
        let mut passed = self.rule.is_none() || self.rule.as_deref() == decided;
        passed &= match (&self.expect, &outcome) {
            (Expectation::Allow, Ok(decision)) => decision.verdict == Verdict::Allow,
            (Expectation::Refuse, Ok(decision)) => {
                matches!(decision.verdict, Verdict::Refuse { .. })
            }
            (Expectation::RequireApproval { approvers, quorum }, Ok(decision)) => {
                match &decision.verdict {
                    Verdict::RequireApproval(requirement) => {
                        quorum.is_none_or(|quorum| quorum == requirement.quorum)
                            && approvers.as_ref().is_none_or(|approvers| {
                                same_identities(policy, approvers, &requirement.approvers)
                            })
                    }
                    _ => false,
                }
            }
            (Expectation::FailClosed, Err(_)) => true,
            _ => false,
        };
        let mut expected = match &self.expect {
            Expectation::Allow => "allow".to_owned(),
            Expectation::Refuse => "refuse".to_owned(),
            Expectation::RequireApproval { approvers, quorum } => {
                let mut text = "require_approval".to_owned();
                if let Some(approvers) = approvers {
                    let names: Vec<String> = approvers.iter().map(ToString::to_string).collect();
                    let _ = write!(text, " by {}", names.join(", "));
                }
                if let Some(quorum) = quorum {
                    let _ = write!(text, " (quorum {quorum})");
                }
                text
            }
            Expectation::FailClosed => "fail_closed".to_owned(),
        };
        if let Some(rule) = &self.rule {
            let _ = write!(expected, " [rule `{rule}`]");
        }
        TestResult {
            passed,
            expected,
            actual: describe(&outcome),
        }
    }
}

/// Whether `expected` (groups resolved by `policy`) names exactly the
/// identities of `actual`.
fn same_identities(policy: &Policy, expected: &[Principal], actual: &[Identity]) -> bool {
    let mut named: Vec<&Identity> = Vec::new();
    for principal in expected {
        match principal {
            Principal::Identity(identity) => named.push(identity),
            Principal::Group(name) => match policy.group_members(name) {
                Some(members) => named.extend(members),
                None => return false,
            },
        }
    }
    named.iter().all(|identity| actual.contains(identity))
        && actual.iter().all(|identity| named.contains(&identity))
}

/// The decision in the words of [`TestResult::actual`].
fn describe(outcome: &Result<Decision, super::PolicyError>) -> String {
    let decision = match outcome {
        Ok(decision) => decision,
        Err(error) => return format!("fail_closed: {error}"),
    };
    let mut text = match &decision.verdict {
        Verdict::Allow => "allow".to_owned(),
        Verdict::Refuse { reason } => format!("refuse: {reason}"),
        Verdict::RequireApproval(requirement) => {
            let names: Vec<&str> = requirement.approvers.iter().map(Identity::as_str).collect();
            format!(
                "require_approval by {} (quorum {})",
                names.join(", "),
                requirement.quorum
            )
        }
    };
    match &decision.rule {
        Some(rule) => {
            let _ = write!(text, " [rule `{rule}`]");
        }
        None => text.push_str(" [default requirement]"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyError;

    const POLICY: &str = r#"
[groups]
finance = ["alice@x.io", "bob@x.io"]

[[rule]]
name = "small refunds"
action = "billing.refund"
when = [ { arg = "amount", lt = 100 } ]
effect = "allow"

[[rule]]
name = "refunds"
action = "billing.refund"
effect = "require_approval"
approvers = ["group:finance"]
quorum = 2

[[rule]]
name = "no drops"
action = "db.drop_*"
effect = "refuse"
reason = "never"

[[test]]
name = "small"
action = "billing.refund"
args = { amount = 20 }
requester = "agent:bot"
expect = "allow"

[[test]]
name = "large, as JSON"
action = "billing.refund"
args = '{"amount": 2500}'
requester = "agent:bot"
expect = { approvers = ["alice@x.io", "group:finance"], quorum = 2 }
rule = "refunds"

[[test]]
name = "a finance member cannot reach quorum 2"
action = "billing.refund"
args = { amount = 2500 }
requester = "alice@x.io"
expect = "fail_closed"

[[test]]
name = "wrong on purpose"
action = "db.drop_table"
requester = "agent:bot"
risk = "critical"
expect = { quorum = 1 }
"#;

    #[test]
    fn tests_in_the_policy_file_run() {
        let (policy, tests) = Policy::from_toml_str_with_tests(POLICY).unwrap();
        assert_eq!(tests.len(), 4);
        assert_eq!(tests[3].risk, Risk::Critical);
        assert_eq!(tests[1].arguments, serde_json::json!({ "amount": 2500 }));
        let results: Vec<TestResult> = tests.iter().map(|test| test.run(&policy)).collect();
        assert!(
            results[..3].iter().all(|result| result.passed),
            "{results:?}"
        );
        assert_eq!(
            results[3],
            TestResult {
                passed: false,
                expected: "require_approval (quorum 1)".to_owned(),
                actual: "refuse: never [rule `no drops`]".to_owned(),
            }
        );
        assert_eq!(
            results[1].actual,
            "require_approval by alice@x.io, bob@x.io (quorum 2) [rule `refunds`]"
        );
    }

    #[test]
    fn the_loader_accepts_tests_and_still_refuses_unknown_keys() {
        let policy = Policy::from_toml_str(POLICY).unwrap();
        assert_eq!(policy.rules().len(), 3);
        let typo = format!(
            "{POLICY}\n[[test]]\naction = \"a\"\nrequester = \"b\"\nexpect = \"allow\"\nexpcet = 1\n"
        );
        let error = Policy::from_toml_str(&typo).unwrap_err();
        assert!(matches!(error, PolicyError::Parse { .. }), "{error}");
        assert!(error.to_string().contains("expcet"), "{error}");
        let top = format!("{POLICY}\n[[tset]]\naction = \"a\"\n");
        assert!(Policy::from_toml_str(&top).is_err());
    }

    #[test]
    fn malformed_tests_are_errors_that_quote_no_arguments() {
        let bad_json = format!(
            "{POLICY}\n[[test]]\naction = \"a\"\nrequester = \"b\"\nexpect = \"allow\"\nargs = '{{\"email\": \"jane@x.io\"'\n"
        );
        let error = Policy::from_toml_str_with_tests(&bad_json).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("test 5: `args` is not valid JSON"),
            "{error}"
        );
        assert!(!error.to_string().contains("jane"), "{error}");
        let bad_word = format!(
            "{POLICY}\n[[test]]\naction = \"a\"\nrequester = \"b\"\nexpect = \"allowed\"\n"
        );
        let error = Policy::from_toml_str_with_tests(&bad_word).unwrap_err();
        assert!(
            error.to_string().contains("unknown expectation `allowed`"),
            "{error}"
        );
        assert!(Policy::check_toml_str(&bad_word).is_err());
    }
}
