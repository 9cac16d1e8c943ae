//! Rules: which calls a rule applies to, and what it decides for them.

use std::fmt;

use serde_json::Value;

use super::Groups;
use super::check::Field;
use super::error::{PolicyError, context};
use super::glob::Glob;
use super::predicate::Predicate;
use super::principal::Principal;
use super::requirement::RequirementBuilder;
use crate::{Identity, Risk};

/// Which risk levels a rule applies to.
///
/// A [`Risk`] converts into [`RiskMatch::Exactly`]. In a policy file:
/// `"high"` (or `"= high"`), `">= high"`, `"<= medium"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RiskMatch {
    /// This level only.
    Exactly(Risk),
    /// This level or higher.
    AtLeast(Risk),
    /// This level or lower.
    AtMost(Risk),
}

impl RiskMatch {
    /// Whether `risk` is one of the levels.
    pub fn matches(self, risk: Risk) -> bool {
        match self {
            RiskMatch::Exactly(level) => risk == level,
            RiskMatch::AtLeast(level) => risk >= level,
            RiskMatch::AtMost(level) => risk <= level,
        }
    }

    /// Reads `high`, `= high`, `== high`, `>= high` or `<= high`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (kind, level): (fn(Risk) -> RiskMatch, &str) =
            if let Some(level) = text.strip_prefix(">=") {
                (RiskMatch::AtLeast, level)
            } else if let Some(level) = text.strip_prefix("<=") {
                (RiskMatch::AtMost, level)
            } else if let Some(level) = text.strip_prefix("==") {
                (RiskMatch::Exactly, level)
            } else if let Some(level) = text.strip_prefix('=') {
                (RiskMatch::Exactly, level)
            } else {
                (RiskMatch::Exactly, text)
            };
        level.parse().ok().map(kind)
    }
}

impl From<Risk> for RiskMatch {
    fn from(risk: Risk) -> Self {
        RiskMatch::Exactly(risk)
    }
}

impl fmt::Display for RiskMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RiskMatch::Exactly(level) => write!(f, "{level}"),
            RiskMatch::AtLeast(level) => write!(f, ">= {level}"),
            RiskMatch::AtMost(level) => write!(f, "<= {level}"),
        }
    }
}

/// One rule of a [`Policy`](super::Policy): conditions on the call, and an
/// effect (allow, refuse, or require approval).
///
/// Made with [`Rule::new`], whose [`RuleBuilder`] takes the conditions and
/// ends with the effect:
///
/// ```
/// use approvals_core::Risk;
/// use approvals_core::policy::{Arg, RequirementBuilder, Rule};
///
/// let small_refunds = Rule::new("small refunds")
///     .action("billing.refund")
///     .when(Arg::path("amount").lt(100))
///     .allow();
///
/// let exports = Rule::new("exports")
///     .action("data.export*")
///     .risk_at_least(Risk::High)
///     .require(
///         RequirementBuilder::new()
///             .approvers(["group:data-governance"])
///             .quorum(2),
///     );
///
/// let no_drops = Rule::new("no drops").action("db.drop_*").refuse("agents never drop tables");
/// assert_eq!(no_drops.name(), "no drops");
/// # let _ = (small_refunds, exports);
/// ```
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) conditions: Conditions,
    pub(crate) effect: Effect,
    /// The first defect, found when the effect was set: a rule with one never
    /// applies, and evaluating it is an error.
    pub(crate) defect: Option<(Field, String)>,
}

/// The conditions of a rule under construction; an effect
/// ([`allow`](Self::allow), [`refuse`](Self::refuse),
/// [`require`](Self::require)) makes it a [`Rule`].
///
/// Every condition must hold for the rule to apply. Calling
/// [`action`](Self::action) or [`requester`](Self::requester) more than
/// once widens the rule (any of the patterns, any of the principals);
/// [`when`](Self::when) narrows it (every predicate). A rule without
/// conditions applies to every call.
///
/// Invalid input (an empty name, a malformed pattern or predicate) does not
/// panic: it is reported by [`Policy::validate`](super::Policy::validate),
/// and evaluating the rule fails closed.
#[derive(Debug, Clone)]
#[must_use = "a rule needs an effect: `.allow()`, `.refuse(reason)` or `.require(requirement)`"]
pub struct RuleBuilder {
    name: String,
    conditions: Conditions,
    defects: Vec<(Field, String)>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    /// Count of patterns given, valid or not, so defects can name theirs.
    action_count: usize,
    pub(crate) actions: Vec<Glob>,
    pub(crate) risk: Option<RiskMatch>,
    pub(crate) requesters: Vec<Principal>,
    pub(crate) predicates: Vec<Predicate>,
}

/// What a rule decides.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Allow,
    Refuse(String),
    RequireApproval(RequirementBuilder),
}

impl Rule {
    /// Starts a rule called `name`; the name is recorded in the audit trail
    /// for every call the rule decides, and must be unique in its policy.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: impl Into<String>) -> RuleBuilder {
        RuleBuilder {
            name: name.into(),
            conditions: Conditions::default(),
            defects: Vec::new(),
        }
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule's argument predicates (its `when` list), in order.
    pub fn predicates(&self) -> &[Predicate] {
        &self.conditions.predicates
    }

    /// Whether the rule applies to the call. Never allocates, except for an
    /// error.
    pub(crate) fn applies(
        &self,
        action: &str,
        risk: Risk,
        requester: &Identity,
        arguments: &Value,
        groups: &Groups,
    ) -> Result<bool, PolicyError> {
        if let Some((_, defect)) = &self.defect {
            return Err(PolicyError::invalid(format!(
                "{}: {defect}",
                context(Some(&self.name))
            )));
        }
        let conditions = &self.conditions;
        if !conditions.actions.is_empty()
            && !conditions.actions.iter().any(|glob| glob.matches(action))
        {
            return Ok(false);
        }
        if conditions
            .risk
            .is_some_and(|matcher| !matcher.matches(risk))
        {
            return Ok(false);
        }
        if !conditions.requesters.is_empty() && !self.requested_by(requester, groups)? {
            return Ok(false);
        }
        Ok(conditions
            .predicates
            .iter()
            .all(|predicate| predicate.holds(arguments)))
    }

    fn requested_by(&self, requester: &Identity, groups: &Groups) -> Result<bool, PolicyError> {
        for principal in &self.conditions.requesters {
            let found = match principal {
                Principal::Identity(identity) => identity == requester,
                Principal::Group(name) => groups
                    .get(name)
                    .ok_or_else(|| unknown_group(Some(&self.name), name, groups))?
                    .contains(requester),
            };
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

pub(crate) fn unknown_group(rule: Option<&str>, group: &str, groups: &Groups) -> PolicyError {
    PolicyError::UnknownGroup {
        rule: rule.map(str::to_owned),
        group: group.to_owned(),
        defined: groups.keys().map(|name| name.to_string()).collect(),
    }
}

impl RuleBuilder {
    /// Applies to actions matching `pattern`: an exact name
    /// (`billing.refund`) or a glob (`billing.*`, `db.drop_*`; `*` any run of
    /// characters, `?` one character, `\` escapes; `[]{}` are reserved).
    pub fn action(mut self, pattern: &str) -> Self {
        let index = self.conditions.action_count;
        self.conditions.action_count += 1;
        if pattern.is_empty() {
            self.defects.push((
                Field::Action(index),
                "action pattern is empty (`*` matches every action)".to_owned(),
            ));
            return self;
        }
        match Glob::new(pattern) {
            Ok(glob) => self.conditions.actions.push(glob),
            Err(error) => self.defects.push((
                Field::Action(index),
                format!("invalid action pattern `{pattern}`: {error}"),
            )),
        }
        self
    }

    /// Applies to these risk levels: a [`Risk`] (exactly) or a
    /// [`RiskMatch`]. A later call replaces an earlier one.
    pub fn risk(mut self, risk: impl Into<RiskMatch>) -> Self {
        self.conditions.risk = Some(risk.into());
        self
    }

    /// Applies to calls of risk `risk` or higher.
    pub fn risk_at_least(self, risk: Risk) -> Self {
        self.risk(RiskMatch::AtLeast(risk))
    }

    /// Applies to calls of risk `risk` or lower.
    pub fn risk_at_most(self, risk: Risk) -> Self {
        self.risk(RiskMatch::AtMost(risk))
    }

    /// Applies to calls requested by `who`: an identity, or any member of a
    /// `group:NAME`.
    pub fn requester(mut self, who: impl Into<Principal>) -> Self {
        self.conditions.requesters.push(who.into());
        self
    }

    /// Applies to calls requested by any of `who`.
    pub fn requesters<P: Into<Principal>>(self, who: impl IntoIterator<Item = P>) -> Self {
        who.into_iter().fold(self, Self::requester)
    }

    /// Applies only when `predicate` holds for the call's arguments (see
    /// [`Arg`](super::Arg)); a missing or mistyped value never holds.
    pub fn when(mut self, predicate: Predicate) -> Self {
        self.conditions.predicates.push(predicate);
        self
    }

    /// The call runs without review (it is still audited).
    pub fn allow(self) -> Rule {
        self.finish(Effect::Allow)
    }

    /// The call never runs; `reason` is given to the caller and the audit
    /// trail.
    pub fn refuse(self, reason: impl Into<String>) -> Rule {
        self.finish(Effect::Refuse(reason.into()))
    }

    /// The call runs only once the approvers of `requirement` approve it.
    pub fn require(self, requirement: RequirementBuilder) -> Rule {
        self.finish(Effect::RequireApproval(requirement))
    }

    fn finish(self, effect: Effect) -> Rule {
        let Self {
            name,
            conditions,
            defects,
        } = self;
        let defect = first_defect(&name, &conditions, defects, &effect);
        Rule {
            name,
            conditions,
            effect,
            defect,
        }
    }
}

fn first_defect(
    name: &str,
    conditions: &Conditions,
    defects: Vec<(Field, String)>,
    effect: &Effect,
) -> Option<(Field, String)> {
    if name.trim().is_empty() {
        return Some((Field::Name, "the rule name is empty".to_owned()));
    }
    if let Some(defect) = defects.into_iter().next() {
        return Some(defect);
    }
    for (index, requester) in conditions.requesters.iter().enumerate() {
        if let Some(defect) = requester.defect() {
            return Some((
                Field::Requester(index),
                format!("requester {} {defect}", index + 1),
            ));
        }
    }
    for (index, predicate) in conditions.predicates.iter().enumerate() {
        if let Some((part, defect)) = predicate.defect() {
            return Some((Field::Predicate(index, part), defect.to_owned()));
        }
    }
    match effect {
        Effect::Refuse(reason) if reason.trim().is_empty() => {
            Some((Field::Reason, "the refusal reason is empty".to_owned()))
        }
        Effect::RequireApproval(requirement) => requirement.defect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::policy::Arg;
    use crate::policy::predicate::PredicatePart;

    fn groups() -> Groups {
        let mut groups = BTreeMap::new();
        groups.insert(Arc::from("bots"), vec![Identity::new("agent:support-bot")]);
        groups
    }

    fn applies(rule: &Rule, action: &str, risk: Risk, requester: &str) -> bool {
        rule.applies(
            action,
            risk,
            &Identity::new(requester),
            &json!({ "amount": 5 }),
            &groups(),
        )
        .unwrap()
    }

    #[test]
    fn risk_matchers() {
        assert!(RiskMatch::AtLeast(Risk::High).matches(Risk::Critical));
        assert!(RiskMatch::AtLeast(Risk::High).matches(Risk::High));
        assert!(!RiskMatch::AtLeast(Risk::High).matches(Risk::Medium));
        assert!(RiskMatch::AtMost(Risk::Medium).matches(Risk::Low));
        assert!(!RiskMatch::AtMost(Risk::Medium).matches(Risk::High));
        assert!(RiskMatch::Exactly(Risk::Low).matches(Risk::Low));
        assert!(!RiskMatch::Exactly(Risk::Low).matches(Risk::Medium));
        assert_eq!(
            RiskMatch::parse(">= high"),
            Some(RiskMatch::AtLeast(Risk::High))
        );
        assert_eq!(
            RiskMatch::parse("<=low"),
            Some(RiskMatch::AtMost(Risk::Low))
        );
        assert_eq!(
            RiskMatch::parse(" = Critical "),
            Some(RiskMatch::Exactly(Risk::Critical))
        );
        assert_eq!(
            RiskMatch::parse("== medium"),
            Some(RiskMatch::Exactly(Risk::Medium))
        );
        assert_eq!(
            RiskMatch::parse("medium"),
            Some(RiskMatch::Exactly(Risk::Medium))
        );
        assert_eq!(RiskMatch::parse("> high"), None);
        assert_eq!(RiskMatch::parse(">= severe"), None);
        assert_eq!(RiskMatch::AtLeast(Risk::High).to_string(), ">= high");
    }

    #[test]
    fn every_condition_must_hold() {
        let rule = Rule::new("r")
            .action("billing.*")
            .risk_at_most(Risk::Medium)
            .requester("group:bots")
            .when(Arg::path("amount").lt(10))
            .allow();
        assert!(applies(
            &rule,
            "billing.refund",
            Risk::Low,
            "agent:support-bot"
        ));
        assert!(!applies(
            &rule,
            "data.export",
            Risk::Low,
            "agent:support-bot"
        ));
        assert!(!applies(
            &rule,
            "billing.refund",
            Risk::High,
            "agent:support-bot"
        ));
        assert!(!applies(&rule, "billing.refund", Risk::Low, "agent:other"));
        let strict = Rule::new("r").when(Arg::path("amount").lt(1)).allow();
        assert!(!applies(&strict, "billing.refund", Risk::Low, "x"));
    }

    #[test]
    fn no_conditions_match_everything_and_repeats_widen() {
        let everything = Rule::new("all").allow();
        assert!(applies(&everything, "anything", Risk::Critical, "anyone"));
        let either = Rule::new("r")
            .action("a.*")
            .action("b.x")
            .requesters(["alice@x.io", "group:bots"])
            .allow();
        assert!(applies(&either, "a.y", Risk::Low, "alice@x.io"));
        assert!(applies(&either, "b.x", Risk::Low, "agent:support-bot"));
        assert!(!applies(&either, "c.x", Risk::Low, "alice@x.io"));
        assert!(!applies(&either, "a.y", Risk::Low, "bob@x.io"));
    }

    #[test]
    fn unknown_requester_group_is_an_error() {
        let rule = Rule::new("r").requester("group:nobody").allow();
        let error = rule
            .applies("a", Risk::Low, &Identity::new("x"), &json!({}), &groups())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown group `nobody` in rule `r` (defined groups: bots)"
        );
    }

    #[test]
    fn defects_are_found_when_the_effect_is_set() {
        let field = |rule: Rule| rule.defect.map(|(field, _)| field);
        assert_eq!(field(Rule::new(" ").allow()), Some(Field::Name));
        assert_eq!(
            field(Rule::new("r").action("a").action("b.[x]").allow()),
            Some(Field::Action(1))
        );
        assert_eq!(
            field(Rule::new("r").action("").allow()),
            Some(Field::Action(0))
        );
        assert_eq!(
            field(Rule::new("r").requester("group:").allow()),
            Some(Field::Requester(0))
        );
        assert_eq!(
            field(
                Rule::new("r")
                    .when(Arg::path("a").exists())
                    .when(Arg::path("b").lt("x"))
                    .allow()
            ),
            Some(Field::Predicate(1, PredicatePart::Operand))
        );
        assert_eq!(field(Rule::new("r").refuse("")), Some(Field::Reason));
        assert_eq!(
            field(Rule::new("r").require(RequirementBuilder::new().approvers(["a"]).quorum(0))),
            Some(Field::Quorum)
        );
        assert_eq!(
            field(Rule::new("r").require(RequirementBuilder::new().approvers(["a"]))),
            None
        );

        let broken = Rule::new("r").action("db.{a,b}").refuse("no");
        let error = broken
            .applies(
                "db.a",
                Risk::Low,
                &Identity::new("x"),
                &json!({}),
                &groups(),
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "rule `r`: invalid action pattern `db.{a,b}`: `{` is reserved; write `\\{` to match it literally"
        );
    }
}
