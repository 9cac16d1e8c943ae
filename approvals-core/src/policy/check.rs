//! Validation of a whole policy, shared by [`Policy::validate`] and the
//! TOML loader; each problem says where it is so the loader can name the
//! line.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::error::{PolicyError, context};
use super::predicate::PredicatePart;
use super::principal::Principal;
use super::requirement::RequirementBuilder;
use super::rule::{Effect, Rule, unknown_group};
use super::{Groups, Policy};
use crate::Identity;

/// A part of a rule or requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Name,
    Action(usize),
    Requester(usize),
    Predicate(usize, PredicatePart),
    Reason,
    Channel(usize),
    Quorum,
    Timeout,
    Escalation,
    EscalateAfter,
    EscalateTo(usize),
}

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// A group, or one of its members.
    Group {
        name: Arc<str>,
        member: Option<Identity>,
    },
    /// The default requirement.
    Default(Field),
    /// Rule number `index` (from 0).
    Rule { index: usize, field: Field },
}

/// A problem, and the error that [`Policy::validate`] reports for it.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) place: Place,
    pub(crate) error: PolicyError,
}

impl Policy {
    /// The first problem: groups, then the default requirement, then the
    /// rules in order.
    pub(crate) fn first_problem(&self) -> Option<Problem> {
        self.problems().into_iter().next()
    }

    /// Every problem, at most one per group, default requirement and rule
    /// (the first of each), in the order of [`first_problem`](Self::first_problem).
    pub(crate) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (name, members) in &self.groups {
            let place = |member| Place::Group {
                name: name.clone(),
                member,
            };
            if name.is_empty() {
                let error = PolicyError::invalid("a group has an empty name".to_owned());
                problems.push(Problem {
                    place: place(None),
                    error,
                });
                continue;
            }
            for (index, member) in members.iter().enumerate() {
                let defect = if member.as_str().is_empty() {
                    Some(format!("group `{name}`: member {} is empty", index + 1))
                } else if let Principal::Group(_) = Principal::parse(member.as_str()) {
                    Some(format!(
                        "group `{name}`: member `{member}` is a group; groups list identities only"
                    ))
                } else {
                    None
                };
                if let Some(message) = defect {
                    let error = PolicyError::invalid(message);
                    problems.push(Problem {
                        place: place(Some(member.clone())),
                        error,
                    });
                    break;
                }
            }
        }
        if let Some(default) = &self.default {
            if let Some((field, error)) = requirement_problem(None, default, &self.groups) {
                problems.push(Problem {
                    place: Place::Default(field),
                    error,
                });
            }
        }
        let mut names = HashMap::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if let Some((field, error)) = self.rule_problem(rule, index, &mut names) {
                problems.push(Problem {
                    place: Place::Rule { index, field },
                    error,
                });
            }
        }
        problems
    }

    /// The first problem of rule number `index`; `names` holds the names of
    /// the rules before it.
    fn rule_problem<'r>(
        &self,
        rule: &'r Rule,
        index: usize,
        names: &mut HashMap<&'r str, usize>,
    ) -> Option<(Field, PolicyError)> {
        if let Some((field, defect)) = &rule.defect {
            let message = format!("{}: {defect}", context(Some(&rule.name)));
            return Some((*field, PolicyError::invalid(message)));
        }
        if let Some(first) = names.insert(rule.name.as_str(), index) {
            let message = format!(
                "rule `{}` is defined twice (rules {} and {}); rule names must be unique because the audit trail records them",
                rule.name,
                first + 1,
                index + 1
            );
            return Some((Field::Name, PolicyError::invalid(message)));
        }
        for (position, requester) in rule.conditions.requesters.iter().enumerate() {
            if let Principal::Group(group) = requester {
                if !self.groups.contains_key(group) {
                    let error = unknown_group(Some(&rule.name), group, &self.groups);
                    return Some((Field::Requester(position), error));
                }
            }
        }
        if let Effect::RequireApproval(requirement) = &rule.effect {
            return requirement_problem(Some(&rule.name), requirement, &self.groups);
        }
        None
    }
}

/// What makes a requirement unusable: a defect, an unknown group, or a
/// quorum larger than the distinct approvers it can ever have.
fn requirement_problem(
    rule: Option<&str>,
    requirement: &RequirementBuilder,
    groups: &Groups,
) -> Option<(Field, PolicyError)> {
    if let Some((field, defect)) = requirement.defect() {
        return Some((
            field,
            PolicyError::invalid(format!("{}: {defect}", context(rule))),
        ));
    }
    let mut distinct: HashSet<&Identity> = HashSet::new();
    for (field, principal) in requirement.principals() {
        match principal {
            Principal::Identity(identity) => {
                distinct.insert(identity);
            }
            Principal::Group(name) => match groups.get(name) {
                Some(members) => distinct.extend(members),
                None => return Some((field, unknown_group(rule, name, groups))),
            },
        }
    }
    let listed = distinct.len();
    if listed < requirement.quorum as usize {
        let message = format!(
            "{}: quorum {} cannot be reached: only {listed} distinct approver{} named (escalation included)",
            context(rule),
            requirement.quorum,
            if listed == 1 { " is" } else { "s are" }
        );
        return Some((Field::Quorum, PolicyError::invalid(message)));
    }
    None
}
