//! [`Policy::explain`]: which rule decides a call, and why each rule before
//! it does not.

use super::decision::{Decision, PolicyInput};
use super::error::PolicyError;
use super::lint::RuleRef;
use super::predicate::PredicateOutcome;
use super::principal::Principal;
use super::rule::{RiskMatch, Rule};
use super::{Groups, Policy};
use crate::Risk;

/// How a policy decides one call, rule by rule
/// ([`Policy::explain`]).
///
/// Like every output of the policy module, it holds no argument value: a
/// predicate is explained by its path, operator and [`PredicateOutcome`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Explanation {
    /// The rules tried, in order: every rule that did not apply, then the
    /// one that decided (or whose evaluation failed), if any.
    pub rules: Vec<RuleTrace>,
    /// What [`Policy::evaluate`] returns for the call.
    pub outcome: Result<Decision, PolicyError>,
}

/// One rule tried by [`Policy::explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleTrace {
    /// The rule.
    pub rule: RuleRef,
    /// Whether it applies to the call (and so decides it).
    pub applies: bool,
    /// For a rule that does not apply, every condition that does not hold;
    /// empty for the rule that applies.
    pub misses: Vec<Miss>,
}

/// A condition of a rule that does not hold for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Miss {
    /// No action pattern of the rule matches the action.
    Action {
        /// The rule's patterns, as written.
        patterns: Vec<String>,
    },
    /// The call's risk is not among the rule's levels.
    Risk {
        /// The rule's levels.
        wanted: RiskMatch,
        /// The call's risk.
        actual: Risk,
    },
    /// The requester is none of the rule's requesters.
    Requester {
        /// The rule's requesters, as written.
        wanted: Vec<Principal>,
    },
    /// An argument predicate does not hold.
    Predicate {
        /// Its place in the rule's `when` list, counted from 1.
        number: usize,
        /// Its path.
        path: String,
        /// Its operator (`lt`, `in`, …).
        operator: &'static str,
        /// Why it does not hold.
        outcome: PredicateOutcome,
    },
    /// The rule cannot be evaluated (it is malformed or names an unknown
    /// group); the call fails closed with [`Explanation::outcome`]'s error.
    Broken,
}

impl Policy {
    /// Explains how the policy decides `input`: each rule tried and every
    /// condition of it that does not hold, then the rule that applies, and
    /// what [`evaluate`](Self::evaluate) returns.
    ///
    /// ```
    /// use approvals_core::{Identity, Risk};
    /// use approvals_core::policy::{Arg, Miss, Policy, PolicyInput, PredicateOutcome, Rule};
    ///
    /// let policy = Policy::new()
    ///     .rule(Rule::new("small refunds").action("billing.refund").when(Arg::path("amount").lt(100)).allow())
    ///     .rule(Rule::new("refunds").action("billing.*").refuse("ask finance"));
    /// let bot = Identity::new("agent:bot");
    /// let arguments = serde_json::json!({ "amount": 2500 });
    /// let explanation = policy.explain(&PolicyInput {
    ///     action: "billing.refund",
    ///     risk: Risk::Medium,
    ///     requester: &bot,
    ///     arguments: &arguments,
    /// });
    /// assert!(!explanation.rules[0].applies);
    /// assert!(matches!(
    ///     explanation.rules[0].misses[..],
    ///     [Miss::Predicate { outcome: PredicateOutcome::Fails, .. }]
    /// ));
    /// assert!(explanation.rules[1].applies);
    /// assert_eq!(explanation.outcome?.verdict.as_str(), "refuse");
    /// # Ok::<(), approvals_core::policy::PolicyError>(())
    /// ```
    pub fn explain(&self, input: &PolicyInput<'_>) -> Explanation {
        let mut rules = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let reference = RuleRef {
                number: index + 1,
                name: rule.name.clone(),
            };
            let applies = rule.applies(
                input.action,
                input.risk,
                input.requester,
                input.arguments,
                &self.groups,
            );
            let (applies, misses) = match applies {
                Ok(true) => (true, Vec::new()),
                Ok(false) => (false, misses(rule, input, &self.groups)),
                Err(_) => (false, vec![Miss::Broken]),
            };
            let decided = applies || misses.contains(&Miss::Broken);
            rules.push(RuleTrace {
                rule: reference,
                applies,
                misses,
            });
            if decided {
                break;
            }
        }
        Explanation {
            rules,
            outcome: self.evaluate(input),
        }
    }
}

/// Every condition of `rule` that does not hold for `input`.
fn misses(rule: &Rule, input: &PolicyInput<'_>, groups: &Groups) -> Vec<Miss> {
    let conditions = &rule.conditions;
    let mut misses = Vec::new();
    if !conditions.actions.is_empty()
        && !conditions
            .actions
            .iter()
            .any(|glob| glob.matches(input.action))
    {
        misses.push(Miss::Action {
            patterns: conditions
                .actions
                .iter()
                .map(|glob| glob.as_str().to_owned())
                .collect(),
        });
    }
    if let Some(wanted) = conditions.risk {
        if !wanted.matches(input.risk) {
            misses.push(Miss::Risk {
                wanted,
                actual: input.risk,
            });
        }
    }
    if !conditions.requesters.is_empty()
        && !conditions
            .requesters
            .iter()
            .any(|principal| match principal {
                Principal::Identity(identity) => identity == input.requester,
                Principal::Group(name) => groups
                    .get(name)
                    .is_some_and(|members| members.contains(input.requester)),
            })
    {
        misses.push(Miss::Requester {
            wanted: conditions.requesters.clone(),
        });
    }
    for (index, predicate) in conditions.predicates.iter().enumerate() {
        let outcome = predicate.outcome(input.arguments);
        if outcome != PredicateOutcome::Holds {
            misses.push(Miss::Predicate {
                number: index + 1,
                path: predicate.path().to_owned(),
                operator: predicate.operator(),
                outcome,
            });
        }
    }
    misses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;
    use crate::policy::{Arg, RequirementBuilder, Verdict};

    #[test]
    fn every_earlier_rule_says_why_it_did_not_apply() {
        let policy = Policy::new()
            .group("finance", ["alice@x.io", "bob@x.io"])
            .rule(Rule::new("reads").action("crm.read_*").allow())
            .rule(
                Rule::new("small")
                    .action("billing.refund")
                    .risk(Risk::Low)
                    .requester("group:finance")
                    .when(Arg::path("amount").lt(100))
                    .when(Arg::path("currency").eq("EUR"))
                    .when(Arg::path("note").matches("*"))
                    .allow(),
            )
            .rule(
                Rule::new("refunds").action("billing.*").require(
                    RequirementBuilder::new()
                        .approvers(["group:finance"])
                        .quorum(2),
                ),
            )
            .rule(Rule::new("never reached").refuse("no"));
        let bot = Identity::new("agent:bot");
        let arguments = serde_json::json!({ "amount": 2500, "note": 7 });
        let explanation = policy.explain(&PolicyInput {
            action: "billing.refund",
            risk: Risk::High,
            requester: &bot,
            arguments: &arguments,
        });
        assert_eq!(explanation.rules.len(), 3);
        assert_eq!(
            explanation.rules[0].misses,
            [Miss::Action {
                patterns: vec!["crm.read_*".to_owned()]
            }]
        );
        let predicate = |number, path: &str, operator, outcome| Miss::Predicate {
            number,
            path: path.to_owned(),
            operator,
            outcome,
        };
        assert_eq!(
            explanation.rules[1].misses,
            [
                Miss::Risk {
                    wanted: RiskMatch::Exactly(Risk::Low),
                    actual: Risk::High
                },
                Miss::Requester {
                    wanted: vec![Principal::group("finance")]
                },
                predicate(1, "amount", "lt", PredicateOutcome::Fails),
                predicate(2, "currency", "eq", PredicateOutcome::Missing),
                predicate(3, "note", "matches", PredicateOutcome::WrongType),
            ]
        );
        assert!(explanation.rules[2].applies);
        assert_eq!(explanation.rules[2].rule.name, "refunds");
        let Ok(Decision {
            verdict: Verdict::RequireApproval(requirement),
            ..
        }) = explanation.outcome
        else {
            panic!("{:?}", explanation.outcome);
        };
        assert_eq!(requirement.quorum, 2);
        // Nothing of the arguments is in the explanation.
        assert!(!format!("{:?}", explanation.rules).contains("2500"));
    }

    #[test]
    fn a_broken_rule_ends_the_explanation_with_the_error() {
        let policy = Policy::new()
            .rule(Rule::new("broken").requester("group:nobody").allow())
            .rule(Rule::new("all").allow());
        let bot = Identity::new("agent:bot");
        let explanation = policy.explain(&PolicyInput {
            action: "x",
            risk: Risk::Low,
            requester: &bot,
            arguments: &serde_json::Value::Null,
        });
        assert_eq!(explanation.rules.len(), 1);
        assert_eq!(explanation.rules[0].misses, [Miss::Broken]);
        assert!(explanation.outcome.is_err());
    }
}
