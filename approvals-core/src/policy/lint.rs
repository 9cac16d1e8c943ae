//! [`Policy::check`]: every problem of a policy, and the rules that can
//! never decide anything.
//!
//! Validation ([`Policy::validate`], and loading a file) stops at the first
//! problem that makes a policy unusable. `check` goes on: it reports every
//! such problem as an [error](Severity::Error), and adds
//! [warnings](Severity::Warning) about a policy that works but does not do
//! what its author may think:
//!
//! - a rule that can never apply, because its own conditions contradict
//!   each other ([`FindingKind::Unreachable`]);
//! - a rule that an earlier rule always decides for
//!   ([`FindingKind::Shadowed`]): first match wins, so it never fires;
//! - a group without members ([`FindingKind::EmptyGroup`]);
//! - a default requirement that no call reaches
//!   ([`FindingKind::DefaultNeverUsed`]).
//!
//! It also reports, as an error, a rule that requires approval from the
//! very people it matches as requesters, with a quorum that only they could
//! reach ([`FindingKind::NeverApprovable`]): the requester never counts, so
//! every call it decides fails closed.
//!
//! # Only what can be proven
//!
//! A warning is a proof, not a guess. A rule is reported as shadowed only
//! when the earlier rule's conditions provably hold for every call that the
//! later rule's conditions accept: its action patterns cover the later
//! rule's (`billing.*` covers `billing.refund` and `billing.re*`; no action
//! pattern covers every action), its risk levels include the later rule's,
//! its requesters include the later rule's (groups are expanded), and each
//! of its argument predicates follows from one of the later rule's (the
//! same predicate, `lt = 50` for `lt = 100`, `eq = "EUR"` for `in = ["EUR",
//! "USD"]`, any value test for `exists`). A rule is reported as unreachable
//! when two of its predicates on one path cannot both hold (`lt = 10` and
//! `gt = 20`, `eq = "a"` and `eq = "b"`, `absent` and any value test), or
//! when the only requesters it names are groups without members. Rules that
//! are covered only by several earlier rules together are not reported.

use std::collections::HashSet;
use std::fmt;

use super::check::{Field, Place};
use super::error::Location;
use super::glob::Glob;
use super::principal::Principal;
use super::rule::{Conditions, Effect, Rule};
use super::{Groups, Policy};
use crate::{Identity, Risk};

/// One thing [`Policy::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// Whether the policy is unusable as it is, or only suspicious.
    pub severity: Severity,
    /// What was found.
    pub kind: FindingKind,
    /// The rule it is about; `None` for a group, the default requirement,
    /// or the policy as a whole.
    pub rule: Option<RuleRef>,
    /// What is wrong and why, naming rules, groups and paths but never an
    /// argument value.
    pub message: String,
    /// Where, for a policy checked from TOML
    /// ([`Policy::check_toml_file`], [`Policy::check_toml_str`]).
    pub location: Option<Location>,
}

/// How bad a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The policy works, but part of it never takes effect.
    Warning,
    /// The policy does not load ([`Policy::validate`] fails), or some of
    /// the calls it decides always fail closed.
    Error,
}

impl Severity {
    /// `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A rule, by its place in the policy and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// Its place in rule order, counted from 1 (the first `[[rule]]` of a
    /// file is rule 1).
    pub number: usize,
    /// Its name.
    pub name: String,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {} `{}`", self.number, self.name)
    }
}

/// What a [`Finding`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// A problem that [`Policy::validate`] reports: a malformed rule or
    /// requirement, an unknown group, a duplicate rule name, a quorum that
    /// the approvers named can never reach. An error.
    Invalid,
    /// The rule requires approval, names its requesters, and every one of
    /// them is among its approvers, too few of whom remain once the
    /// requester is left out: every call it decides fails closed. An error.
    NeverApprovable,
    /// The rule's own conditions can never all hold. A warning.
    Unreachable,
    /// An earlier rule applies to every call that this rule applies to, so
    /// this rule never decides. A warning.
    Shadowed {
        /// The earlier rule.
        by: RuleRef,
    },
    /// A group without members: it names nobody as approver or requester.
    /// A warning.
    EmptyGroup {
        /// The group's name.
        group: String,
    },
    /// A rule applies to every call, so the default requirement (and any
    /// requirement a call declares) is never used. A warning.
    DefaultNeverUsed {
        /// The rule that applies to every call.
        by: RuleRef,
    },
}

impl FindingKind {
    /// A stable name for the kind: `invalid`, `never-approvable`,
    /// `unreachable`, `shadowed`, `empty-group` or `default-never-used`.
    pub fn code(&self) -> &'static str {
        match self {
            FindingKind::Invalid => "invalid",
            FindingKind::NeverApprovable => "never-approvable",
            FindingKind::Unreachable => "unreachable",
            FindingKind::Shadowed { .. } => "shadowed",
            FindingKind::EmptyGroup { .. } => "empty-group",
            FindingKind::DefaultNeverUsed { .. } => "default-never-used",
        }
    }
}

impl Policy {
    /// Every problem of the policy and every rule that can never decide, in
    /// order: groups, the default requirement, then the rules (see the
    /// [`lint` module](super::lint) for what is found and how it is proven).
    ///
    /// ```
    /// use approvals_core::policy::{FindingKind, Policy, RequirementBuilder, Rule, Severity};
    ///
    /// let policy = Policy::new()
    ///     .group("finance", ["alice@x.io", "bob@x.io"])
    ///     .rule(
    ///         Rule::new("refunds")
    ///             .action("billing.*")
    ///             .require(RequirementBuilder::new().approvers(["group:finance"])),
    ///     )
    ///     .rule(Rule::new("big refunds").action("billing.refund").refuse("too big"));
    /// let findings = policy.check();
    /// assert_eq!(findings.len(), 1);
    /// assert_eq!(findings[0].severity, Severity::Warning);
    /// assert!(matches!(&findings[0].kind, FindingKind::Shadowed { by } if by.name == "refunds"));
    /// ```
    pub fn check(&self) -> Vec<Finding> {
        self.findings()
            .into_iter()
            .map(|(_, finding)| finding)
            .collect()
    }

    /// The findings, each with its place for the TOML loader to locate.
    pub(crate) fn findings(&self) -> Vec<(Place, Finding)> {
        let reference = |index: usize| RuleRef {
            number: index + 1,
            name: self.rules[index].name.clone(),
        };
        let mut findings = Vec::new();
        let mut broken = vec![false; self.rules.len()];
        let mut default_broken = false;
        for problem in self.problems() {
            let rule = match &problem.place {
                Place::Rule { index, .. } => {
                    broken[*index] = true;
                    Some(reference(*index))
                }
                Place::Default(_) => {
                    default_broken = true;
                    None
                }
                Place::Group { .. } => None,
            };
            let message = match &problem.error {
                super::PolicyError::Invalid { message, .. } => message.clone(),
                other => other.to_string(),
            };
            findings.push((
                problem.place,
                Finding {
                    severity: Severity::Error,
                    kind: FindingKind::Invalid,
                    rule,
                    message,
                    location: None,
                },
            ));
        }
        for (name, members) in &self.groups {
            if members.is_empty() {
                findings.push((
                    Place::Group {
                        name: name.clone(),
                        member: None,
                    },
                    Finding {
                        severity: Severity::Warning,
                        kind: FindingKind::EmptyGroup {
                            group: name.to_string(),
                        },
                        rule: None,
                        message: format!(
                            "group `{name}` has no members: it names nobody as approver or requester"
                        ),
                        location: None,
                    },
                ));
            }
        }

        let mut reachable = vec![false; self.rules.len()];
        let mut catch_all = None;
        for (index, rule) in self.rules.iter().enumerate() {
            if broken[index] {
                continue;
            }
            let place = Place::Rule {
                index,
                field: Field::Name,
            };
            let mut warn = |kind, message| {
                findings.push((
                    place.clone(),
                    Finding {
                        severity: Severity::Warning,
                        kind,
                        rule: Some(reference(index)),
                        message,
                        location: None,
                    },
                ));
            };
            if let Some(why) = self.contradiction(&rule.conditions) {
                warn(
                    FindingKind::Unreachable,
                    format!("{} can never apply: {why}", reference(index)),
                );
                continue;
            }
            reachable[index] = true;
            let earlier = (0..index).find(|&earlier| {
                reachable[earlier] && self.covers(&self.rules[earlier].conditions, &rule.conditions)
            });
            if let Some(earlier) = earlier {
                let same = same_effect(&self.rules[earlier], rule);
                warn(
                    FindingKind::Shadowed {
                        by: reference(earlier),
                    },
                    format!(
                        "{} never decides: {} comes first and applies to every call it applies to{}",
                        reference(index),
                        reference(earlier),
                        if same { " (with the same effect)" } else { "" }
                    ),
                );
                continue;
            }
            if catch_all.is_none() && rule.conditions.is_empty() {
                catch_all = Some(index);
            }
            if let Some((approvers, quorum)) = self.never_approvable(rule) {
                findings.push((
                    place.clone(),
                    Finding {
                        severity: Severity::Error,
                        kind: FindingKind::NeverApprovable,
                        rule: Some(reference(index)),
                        message: format!(
                            "{} can never be approved: every requester it applies to is one of its {approvers} approvers, and the requester never counts, so quorum {quorum} is out of reach",
                            reference(index)
                        ),
                        location: None,
                    },
                ));
            }
        }
        if let (Some(index), Some(_), false) = (catch_all, &self.default, default_broken) {
            findings.push((
                Place::Default(Field::Name),
                Finding {
                    severity: Severity::Warning,
                    kind: FindingKind::DefaultNeverUsed {
                        by: reference(index),
                    },
                    rule: None,
                    message: format!(
                        "the default requirement is never used: {} has no conditions and applies to every call",
                        reference(index)
                    ),
                    location: None,
                },
            ));
        }
        // In the order of the policy: groups, the default, then each rule.
        findings.sort_by_key(|(place, _)| match place {
            Place::Group { .. } => 0,
            Place::Default(_) => 1,
            Place::Rule { index, .. } => 2 + index,
        });
        findings
    }

    /// Why `conditions` can never all hold, if that can be proven.
    fn contradiction(&self, conditions: &Conditions) -> Option<String> {
        if !conditions.requesters.is_empty()
            && conditions.requesters.iter().all(|principal| {
                matches!(principal, Principal::Group(name)
                    if self.groups.get(name).is_some_and(Vec::is_empty))
            })
        {
            return Some("the only requesters it names are groups without members".to_owned());
        }
        let predicates = &conditions.predicates;
        for (first, a) in predicates.iter().enumerate() {
            for (second, b) in predicates.iter().enumerate().skip(first + 1) {
                if a.contradicts(b) {
                    return Some(format!(
                        "its predicates {} (`{}` {}) and {} (`{}` {}) cannot both hold",
                        first + 1,
                        a.path(),
                        a.operator(),
                        second + 1,
                        b.path(),
                        b.operator()
                    ));
                }
            }
        }
        None
    }

    /// Whether every call that `inner` accepts is accepted by `outer`, as
    /// far as can be proven.
    fn covers(&self, outer: &Conditions, inner: &Conditions) -> bool {
        // A rule without action patterns applies to every action, as `*` does.
        let every_action = Glob::new("*").ok();
        let inner_actions = if inner.actions.is_empty() {
            every_action.as_slice()
        } else {
            &inner.actions
        };
        let actions = outer.actions.is_empty()
            || (!inner_actions.is_empty()
                && inner_actions
                    .iter()
                    .all(|pattern| outer.actions.iter().any(|broader| broader.covers(pattern))));
        let risks = match outer.risk {
            None => true,
            Some(outer) => Risk::ALL
                .iter()
                .filter(|&&risk| inner.risk.is_none_or(|inner| inner.matches(risk)))
                .all(|&risk| outer.matches(risk)),
        };
        let requesters = outer.requesters.is_empty()
            || (!inner.requesters.is_empty()
                && inner
                    .requesters
                    .iter()
                    .all(|principal| self.principal_within(principal, &outer.requesters)));
        let predicates = outer.predicates.iter().all(|wider| {
            inner
                .predicates
                .iter()
                .any(|narrower| narrower.implies(wider))
        });
        actions && risks && requesters && predicates
    }

    /// Whether everyone `principal` names is named by one of `principals`.
    fn principal_within(&self, principal: &Principal, principals: &[Principal]) -> bool {
        let named = |identity: &Identity| {
            principals.iter().any(|other| match other {
                Principal::Identity(other) => other == identity,
                Principal::Group(name) => self
                    .groups
                    .get(name)
                    .is_some_and(|members| members.contains(identity)),
            })
        };
        match principal {
            Principal::Identity(identity) => named(identity),
            Principal::Group(name) => {
                principals.contains(principal)
                    || self
                        .groups
                        .get(name)
                        .is_some_and(|members| members.iter().all(named))
            }
        }
    }

    /// The number of approvers and the quorum of `rule`, when every call
    /// it decides fails closed for want of approvers other than the
    /// requester.
    fn never_approvable(&self, rule: &Rule) -> Option<(usize, u32)> {
        let Effect::RequireApproval(requirement) = &rule.effect else {
            return None;
        };
        if rule.conditions.requesters.is_empty() {
            return None;
        }
        let requesters = members(&self.groups, &rule.conditions.requesters);
        let approvers = members(
            &self.groups,
            requirement.principals().map(|(_, principal)| principal),
        );
        let all_approve = requesters.iter().all(|who| approvers.contains(who));
        (!requesters.is_empty() && all_approve && approvers.len() - 1 < requirement.quorum as usize)
            .then_some((approvers.len(), requirement.quorum))
    }
}

impl Conditions {
    /// Whether the rule applies to every call.
    fn is_empty(&self) -> bool {
        self.actions.is_empty()
            && self
                .risk
                .is_none_or(|risk| Risk::ALL.iter().all(|&level| risk.matches(level)))
            && self.requesters.is_empty()
            && self.predicates.is_empty()
    }
}

/// The distinct identities `principals` name, groups expanded.
fn members<'p>(
    groups: &'p Groups,
    principals: impl IntoIterator<Item = &'p Principal>,
) -> HashSet<&'p Identity> {
    let mut identities = HashSet::new();
    for principal in principals {
        match principal {
            Principal::Identity(identity) => {
                identities.insert(identity);
            }
            Principal::Group(name) => identities.extend(groups.get(name).into_iter().flatten()),
        }
    }
    identities
}

/// Whether two rules decide alike (same effect and, for approval, the same
/// requirement as written).
fn same_effect(a: &Rule, b: &Rule) -> bool {
    match (&a.effect, &b.effect) {
        (Effect::Allow, Effect::Allow) => true,
        (Effect::Refuse(a), Effect::Refuse(b)) => a == b,
        (Effect::RequireApproval(a), Effect::RequireApproval(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::policy::rule::RiskMatch;
    use crate::policy::{Arg, Predicate, RequirementBuilder};

    fn kinds(policy: &Policy) -> Vec<(Severity, String, Option<usize>)> {
        policy
            .check()
            .into_iter()
            .map(|finding| {
                (
                    finding.severity,
                    finding.kind.code().to_owned(),
                    finding.rule.map(|rule| rule.number),
                )
            })
            .collect()
    }

    fn approval() -> RequirementBuilder {
        RequirementBuilder::new().approvers(["group:finance"])
    }

    fn finance() -> Policy {
        Policy::new().group("finance", ["alice@x.io", "bob@x.io"])
    }

    #[test]
    fn a_broader_earlier_rule_shadows() {
        let policy = finance()
            .rule(Rule::new("billing").action("billing.*").require(approval()))
            .rule(Rule::new("refunds").action("billing.refund").refuse("no"))
            .rule(Rule::new("exports").action("data.*").allow());
        let findings = policy.check();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(
            findings[0].kind,
            FindingKind::Shadowed {
                by: RuleRef {
                    number: 1,
                    name: "billing".to_owned()
                }
            }
        );
        assert_eq!(
            findings[0].message,
            "rule 2 `refunds` never decides: rule 1 `billing` comes first and applies to every call it applies to"
        );
    }

    #[test]
    fn an_earlier_rule_with_predicates_shadows_only_what_implies_them() {
        let small = Rule::new("small")
            .action("billing.refund")
            .when(Arg::path("amount").lt(100))
            .allow();
        // Not shadowed: refunds of 100 or more, or without an amount, reach it.
        let policy = finance().rule(small.clone()).rule(
            Rule::new("refunds")
                .action("billing.refund")
                .require(approval()),
        );
        assert_eq!(kinds(&policy), []);
        // Shadowed: every amount below 50 is below 100.
        let policy = finance().rule(small.clone()).rule(
            Rule::new("tiny")
                .action("billing.refund")
                .when(Arg::path("amount").lt(50))
                .when(Arg::path("currency").eq("EUR"))
                .refuse("no"),
        );
        assert_eq!(
            kinds(&policy),
            [(Severity::Warning, "shadowed".to_owned(), Some(2))]
        );
        // Shadowed: `*` covers a rule without action patterns.
        let policy = finance()
            .rule(Rule::new("star").action("*").allow())
            .rule(Rule::new("anything").refuse("no"));
        assert_eq!(
            kinds(&policy),
            [(Severity::Warning, "shadowed".to_owned(), Some(2))]
        );
        // Not shadowed: a narrower risk or requester on the earlier rule.
        let policy = finance()
            .rule(
                Rule::new("low")
                    .action("*")
                    .risk(Risk::Low)
                    .requester("group:finance")
                    .allow(),
            )
            .rule(Rule::new("all").refuse("no"));
        assert_eq!(kinds(&policy), []);
        // Shadowed: a wider risk and a group that contains the requester.
        let policy = finance()
            .rule(
                Rule::new("wide")
                    .risk_at_least(Risk::Medium)
                    .requester("group:finance")
                    .allow(),
            )
            .rule(
                Rule::new("narrow")
                    .action("x")
                    .risk(Risk::High)
                    .requester("bob@x.io")
                    .refuse("no"),
            );
        assert_eq!(
            kinds(&policy),
            [(Severity::Warning, "shadowed".to_owned(), Some(2))]
        );
    }

    #[test]
    fn contradictory_conditions_are_unreachable() {
        let policy = finance()
            .group("nobody", Vec::<&str>::new())
            .rule(
                Rule::new("never")
                    .when(Arg::path("amount").lt(10))
                    .when(Arg::path("amount").gt(20))
                    .allow(),
            )
            .rule(
                Rule::new("gone")
                    .when(Arg::path("coupon").absent())
                    .when(Arg::path("coupon").eq("X"))
                    .allow(),
            )
            .rule(Rule::new("no one").requester("group:nobody").allow())
            .rule(
                Rule::new("fine")
                    .when(Arg::path("amount").ge(10))
                    .when(Arg::path("amount").le(10))
                    .allow(),
            );
        assert_eq!(
            kinds(&policy),
            [
                (Severity::Warning, "empty-group".to_owned(), None),
                (Severity::Warning, "unreachable".to_owned(), Some(1)),
                (Severity::Warning, "unreachable".to_owned(), Some(2)),
                (Severity::Warning, "unreachable".to_owned(), Some(3)),
            ]
        );
        assert_eq!(
            policy.check()[1].message,
            "rule 1 `never` can never apply: its predicates 1 (`amount` lt) and 2 (`amount` gt) cannot both hold"
        );
    }

    #[test]
    fn every_invalid_rule_is_reported_not_only_the_first() {
        let policy = finance()
            .rule(
                Rule::new("too many")
                    .action("a")
                    .require(approval().quorum(3)),
            )
            .rule(
                Rule::new("unknown")
                    .action("b")
                    .require(RequirementBuilder::new().approvers(["group:sre"])),
            )
            .rule(Rule::new("fine").action("c").allow());
        let findings = policy.check();
        assert_eq!(
            kinds(&policy),
            [
                (Severity::Error, "invalid".to_owned(), Some(1)),
                (Severity::Error, "invalid".to_owned(), Some(2)),
            ]
        );
        assert_eq!(
            findings[0].message,
            "rule `too many`: quorum 3 cannot be reached: only 2 distinct approvers are named (escalation included)"
        );
        assert_eq!(
            findings[1].message,
            "unknown group `sre` in rule `unknown` (defined groups: finance)"
        );
    }

    #[test]
    fn approvers_who_are_all_the_requesters_cannot_reach_their_quorum() {
        let policy = finance().rule(
            Rule::new("self review")
                .requester("group:finance")
                .require(approval().quorum(2)),
        );
        assert_eq!(
            kinds(&policy),
            [(Severity::Error, "never-approvable".to_owned(), Some(1))]
        );
        let reachable = finance().rule(
            Rule::new("review")
                .requester("group:finance")
                .require(approval().quorum(1)),
        );
        assert_eq!(kinds(&reachable), []);
    }

    #[test]
    fn a_catch_all_rule_makes_the_default_unused() {
        let policy = finance()
            .default_requirement(approval())
            .rule(Rule::new("everything").require(approval()));
        assert_eq!(
            kinds(&policy),
            [(Severity::Warning, "default-never-used".to_owned(), None)]
        );
    }

    #[test]
    fn findings_from_toml_have_locations() {
        let findings = Policy::check_toml_str(
            r#"
[groups]
finance = ["alice@x.io"]

[[rule]]
name = "billing"
action = "billing.*"
effect = "allow"

[[rule]]
name = "refunds"
action = "billing.refund"
effect = "require_approval"
approvers = ["group:finance"]

[[rule]]
name = "exports"
action = "data.*"
effect = "require_approval"
approvers = ["group:finance"]
quorum = 2
"#,
        )
        .unwrap();
        let found: Vec<_> = findings
            .iter()
            .map(|finding| {
                let location = finding.location.as_ref().unwrap();
                (finding.kind.code(), location.line)
            })
            .collect();
        assert_eq!(found, [("shadowed", 11), ("invalid", 21)]);
    }

    /// Random pairs of rules: whatever `check` proves (shadowed,
    /// unreachable) must hold for every call of a grid of calls.
    #[test]
    fn what_check_proves_holds_on_every_call() {
        let actions = [
            "*",
            "billing.*",
            "billing.refund",
            "billing.re*",
            "b?lling.*",
            "*.refund",
            "data.?",
        ];
        let predicates: Vec<fn() -> Predicate> = vec![
            || Arg::path("amount").lt(10),
            || Arg::path("amount").lt(50),
            || Arg::path("amount").le(50),
            || Arg::path("amount").lt(100),
            || Arg::path("amount").gt(20),
            || Arg::path("amount").ge(100),
            || Arg::path("amount").eq(50),
            || Arg::path("amount").ne(50),
            || Arg::path("amount").one_of([10, 50]),
            || Arg::path("amount").exists(),
            || Arg::path("amount").absent(),
            || Arg::path("currency").eq("EUR"),
            || Arg::path("currency").one_of(["EUR", "USD"]),
            || Arg::path("currency").matches("E*"),
            || Arg::path("currency").lt(5),
        ];
        let risks = [
            None,
            Some(RiskMatch::Exactly(Risk::High)),
            Some(RiskMatch::AtLeast(Risk::Medium)),
            Some(RiskMatch::AtMost(Risk::Medium)),
        ];
        let requesters: [&[&str]; 3] = [&[], &["group:finance"], &["alice@x.io"]];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let mut random_rule = |name: &str| {
            let mut rule = Rule::new(name);
            for _ in 0..next(3) {
                rule = rule.action(actions[next(actions.len())]);
            }
            if let Some(risk) = risks[next(risks.len())] {
                rule = rule.risk(risk);
            }
            rule = rule.requesters(requesters[next(requesters.len())].iter().copied());
            for _ in 0..next(3) {
                rule = rule.when(predicates[next(predicates.len())]());
            }
            rule.allow()
        };
        let calls_actions = [
            "billing.refund",
            "billing.x",
            "bolling.y",
            "data.x",
            "x.refund",
            "billing.re",
            "other",
        ];
        let amounts = [
            None,
            Some(json!(5)),
            Some(json!(10)),
            Some(json!(20)),
            Some(json!(50)),
            Some(json!(50.0)),
            Some(json!(75)),
            Some(json!(100)),
            Some(json!(150)),
            Some(json!("50")),
        ];
        let currencies = [None, Some("EUR"), Some("USD"), Some("GBP"), Some("E")];
        let people = ["alice@x.io", "bob@x.io", "carol@x.io"].map(Identity::new);
        let (mut shadowed, mut unreachable) = (0, 0);
        for _ in 0..1000 {
            let policy = finance().rule(random_rule("a")).rule(random_rule("b"));
            let findings = policy.check();
            let (a, b) = (&policy.rules[0], &policy.rules[1]);
            let is = |code: &str| {
                findings.iter().any(|f| {
                    f.kind.code() == code && f.rule.as_ref().is_some_and(|r| r.number == 2)
                })
            };
            let a_unreachable = findings.iter().any(|f| {
                f.kind.code() == "unreachable" && f.rule.as_ref().is_some_and(|r| r.number == 1)
            });
            let (b_shadowed, b_unreachable) = (is("shadowed"), is("unreachable"));
            shadowed += usize::from(b_shadowed);
            unreachable += usize::from(b_unreachable);
            for action in calls_actions {
                for risk in Risk::ALL {
                    for person in &people {
                        for amount in &amounts {
                            for currency in currencies {
                                let mut arguments = serde_json::Map::new();
                                if let Some(amount) = amount {
                                    arguments.insert("amount".to_owned(), amount.clone());
                                }
                                if let Some(currency) = currency {
                                    arguments.insert("currency".to_owned(), json!(currency));
                                }
                                let arguments = Value::Object(arguments);
                                let applies = |rule: &Rule| {
                                    rule.applies(action, risk, person, &arguments, &policy.groups)
                                        .unwrap()
                                };
                                if b_unreachable {
                                    assert!(!applies(b), "{b:?} applies to {action} {arguments}");
                                }
                                if a_unreachable {
                                    assert!(!applies(a), "{a:?} applies to {action} {arguments}");
                                }
                                if b_shadowed && applies(b) {
                                    assert!(
                                        applies(a),
                                        "{b:?} is not shadowed by {a:?}: {action} {risk} {person} {arguments}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        // The grid is meaningful only if both kinds were proven often.
        assert!(
            shadowed > 50 && unreachable > 50,
            "{shadowed} {unreachable}"
        );
    }
}
