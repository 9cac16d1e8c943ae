//! Policy: whether a call runs freely, needs approval, or is refused.
//!
//! A [`Policy`] is an ordered list of [`Rule`]s, a set of named groups of
//! identities, and a default requirement. [`Policy::evaluate`] takes the
//! facts of one call ([`PolicyInput`]: action name, [`Risk`](crate::Risk),
//! requester and serialized arguments) and returns a [`Decision`]: the name
//! of the rule that decided, and a [`Verdict`] (allow, refuse, or require
//! approval with a [`Requirement`] whose groups are resolved to
//! identities).
//!
//! # Rule order: the first match wins
//!
//! Rules are tried in the order they were added (in a file, the order of
//! the `[[rule]]` tables). The first rule whose conditions all hold decides,
//! and later rules are not looked at. Put narrow rules before broad ones:
//! "small refunds are allowed" before "refunds need finance", and a refusal
//! before any rule that could allow the same call.
//!
//! A rule's conditions, each optional (a rule without conditions matches
//! every call, which makes a catch-all last rule):
//!
//! - **action**: the action name, exactly (`billing.refund`) or by glob
//!   (`billing.*`, `db.drop_*`): `*` is any run of characters, `?` one
//!   character, `\` escapes `*`, `?`, `\` and the reserved `[`, `]`, `{`,
//!   `}` (reserved so that `db.{drop,truncate}_*` is an error rather than a
//!   pattern that silently matches nothing). Several patterns: any of them.
//! - **risk**: exactly a level, at least one (`>= high`) or at most one
//!   (`<= medium`).
//! - **requester**: identities and `group:NAME`s; the requester must be one
//!   of them or a member of one of the groups.
//! - **arguments**: predicates ([`Arg`]) on values of the serialized
//!   arguments, addressed by a dotted path (`amount`, `customer.country`,
//!   `items.0.sku`): `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `in`, `matches`
//!   (glob), `exists`, `absent`. All must hold. **A predicate whose path is
//!   missing, or whose value has the wrong type, is false**, so a rule that
//!   allows small amounts does not apply when the amount is missing or is a
//!   string: the call falls through to the next rule, and policy fails
//!   closed. Predicates read the arguments but never show them: no error or
//!   `Debug` output of this module contains an argument value.
//!
//! # Unmatched calls fail closed
//!
//! A call that no rule matches gets the policy's default requirement
//! ([`Policy::default_requirement`], `[default]` in a file). Without one, the
//! default requirement names nobody ([`RequirementBuilder::new`]: quorum 1,
//! timeout 15 minutes), so nobody can approve, and [`Policy::evaluate`]
//! returns [`PolicyError::QuorumUnreachable`] (with `rule: None`). An empty
//! policy, [`Policy::new`] or [`Policy::default`], therefore lets nothing
//! run.
//!
//! More generally, `evaluate` returns `QuorumUnreachable` whenever the
//! approvers of the requirement (escalation approvers included), other than
//! the requester, are fewer than the quorum: with approvers `alice` and
//! `bob` and quorum 2, a call requested by `alice` cannot be approved. The
//! requester stays in [`Requirement::approvers`] when listed (the gate then
//! records and rejects a self-approval); they just never count.
//!
//! # Groups
//!
//! Groups are defined in the policy ([`Policy::group`], `[groups]` in a
//! file) and named with `group:NAME` wherever approvers or requesters are
//! listed. `evaluate` resolves them into identities, without duplicates and
//! in the order written (group members in their order). A group lists
//! identities only, not other groups. A policy file naming an undefined
//! group does not load; a policy built in code reports it from
//! [`Policy::validate`], and `evaluate` fails closed with
//! [`PolicyError::UnknownGroup`] when it meets it.
//!
//! # In code
//!
//! ```
//! use std::time::Duration;
//! use approvals_core::{Identity, Risk};
//! use approvals_core::policy::{Arg, Policy, PolicyInput, RequirementBuilder, Rule, Verdict};
//!
//! let policy = Policy::new()
//!     .group("sre", ["alice@x.io", "bob@x.io"])
//!     .rule(
//!         Rule::new("small refunds")
//!             .action("billing.refund")
//!             .when(Arg::path("amount").lt(100))
//!             .allow(),
//!     )
//!     .rule(
//!         Rule::new("refunds").action("billing.refund").require(
//!             RequirementBuilder::new()
//!                 .approvers(["group:sre", "carol@x.io"])
//!                 .quorum(2),
//!         ),
//!     )
//!     .rule(Rule::new("no drops").action("db.drop_*").refuse("agents never drop tables"))
//!     .default_requirement(
//!         RequirementBuilder::new()
//!             .approvers(["group:sre"])
//!             .timeout(Duration::from_secs(30 * 60)),
//!     );
//! policy.validate()?;
//!
//! let bot = Identity::new("agent:support-bot");
//! let arguments = serde_json::json!({ "amount": 2500 });
//! let decision = policy.evaluate(&PolicyInput {
//!     action: "billing.refund",
//!     risk: Risk::Medium,
//!     requester: &bot,
//!     arguments: &arguments,
//! })?;
//! assert_eq!(decision.rule.as_deref(), Some("refunds"));
//! let Verdict::RequireApproval(requirement) = decision.verdict else { unreachable!() };
//! assert_eq!(requirement.approvers.len(), 3);
//! assert_eq!(requirement.quorum, 2);
//! # Ok::<(), approvals_core::policy::PolicyError>(())
//! ```
//!
//! Building never fails, to keep it fluent: a malformed rule (an invalid
//! pattern, quorum 0, an unknown group) is reported by
//! [`Policy::validate`], and `evaluate` returns an error rather than skip it
//! when it reaches that rule. Call `validate` once after building.
//!
//! # Policy files
//!
//! [`Policy::from_toml_file`] and [`Policy::from_toml_str`] read this format
//! (every key is shown):
//!
//! ```
//! use approvals_core::{Identity, Risk};
//! use approvals_core::policy::{Policy, PolicyInput, Verdict};
//!
//! let policy = Policy::from_toml_str(r#"
//! ## Named groups of identities, referred to as "group:NAME".
//! [groups]
//! data-governance = ["alice@example.com", "bob@example.com"]
//! sre-leads = ["carol@example.com"]
//!
//! ## For calls that no rule matches. Without this table, nobody can approve
//! ## them, and they fail closed.
//! [default]
//! approvers = ["group:sre-leads"]
//! timeout = "30m"
//!
//! ## Rules, tried in order: the first that matches decides.
//! [[rule]]
//! name = "small refunds"
//! action = "billing.refund"
//! when = [ { arg = "amount", lt = 100 }, { arg = "currency", in = ["EUR", "USD"] } ]
//! effect = "allow"
//!
//! [[rule]]
//! name = "exports"
//! action = ["data.export*", "data.dump"]
//! risk = ">= high"
//! requester = ["agent:analytics", "group:data-governance"]
//! effect = "require_approval"
//! approvers = ["group:data-governance", "dave@example.com"]
//! quorum = 2
//! timeout = "1h30m"
//! deny_reason_required = true
//! escalate = { after = "10m", to = ["group:sre-leads"] }
//!
//! [[rule]]
//! name = "no drops"
//! action = "db.drop_*"
//! effect = "refuse"
//! reason = "agents never drop tables"
//! "#)?;
//!
//! let bot = Identity::new("agent:support-bot");
//! let evaluate = |action: &str, arguments: serde_json::Value| {
//!     policy.evaluate(&PolicyInput { action, risk: Risk::Low, requester: &bot, arguments: &arguments })
//! };
//! assert_eq!(evaluate("billing.refund", serde_json::json!({ "amount": 20, "currency": "EUR" }))?.verdict, Verdict::Allow);
//! // No amount: "small refunds" does not apply, so the default requirement does.
//! assert_eq!(evaluate("billing.refund", serde_json::json!({ "currency": "EUR" }))?.rule, None);
//! assert_eq!(evaluate("db.drop_table", serde_json::json!({}))?.verdict.as_str(), "refuse");
//! # Ok::<(), approvals_core::policy::PolicyError>(())
//! ```
//!
//! | key | where | meaning |
//! | --- | --- | --- |
//! | `[groups]` `NAME = [ids]` | top | a group; members are identities |
//! | `[default]` | top | the requirement for unmatched calls: the approval keys below (`approvers` required) |
//! | `[[rule]]` | top | one rule; rules are tried in file order |
//! | `name` | rule | required, unique; recorded in the audit trail |
//! | `action` | rule | a name or glob, or a list of them (any matches) |
//! | `risk` | rule | `"high"`, `"= high"`, `">= high"` or `"<= high"` |
//! | `requester` | rule | an identity or `group:NAME`, or a list of them |
//! | `when` | rule | a list of predicates, all of which must hold |
//! | `effect` | rule | required: `"allow"`, `"refuse"` or `"require_approval"` |
//! | `reason` | refuse | required: told to the caller and recorded |
//! | `approvers` | require_approval, default | required: identities and `group:NAME`s, a string or a list |
//! | `quorum` | require_approval, default | distinct approvals needed; default 1, at least 1 |
//! | `timeout` | require_approval, default | `"30s"`, `"15m"`, `"2h"`, `"1h30m"`; default `"15m"` |
//! | `deny_reason_required` | require_approval, default | `true`: a deny needs a reason; default `false` |
//! | `escalate` | require_approval, default | `{ after = "10m", to = [approvers] }`; `after` shorter than `timeout` |
//! | `[[test]]` | top | a policy test, ignored when deciding (see [`PolicyTest`]) |
//!
//! A predicate is an inline table with `arg` (the dotted path) and exactly
//! one operator: `eq = v`, `ne = v`, `lt = n`, `le = n`, `gt = n`, `ge = n`,
//! `in = [v, …]`, `matches = "glob"`, `exists = true`, `absent = true`
//! (`exists = false` is `absent = true`, and the reverse). Values may be
//! strings, numbers, booleans, arrays and tables; dates are not supported.
//! Remember that `\` must be doubled in a TOML basic string: write
//! `matches = '*\[draft\]*'` with single quotes.
//!
//! Loading checks everything and stops at the first problem, as a
//! [`PolicyError`] whose `Display` names the place (with the file when read
//! from one, else `line 12, column 9`):
//!
//! ```text
//! policy.toml:12:9: unknown group `data-gov` in rule `exports` (defined groups: data-governance, sre-leads)
//! ```
//!
//! Syntax errors, unknown keys and values of the wrong type are
//! [`PolicyError::Parse`]; unknown effects and groups, bad risks, durations
//! and patterns, quorum 0 or one larger than the distinct approvers named
//! (escalation included), an escalation at or after the timeout, a
//! predicate without exactly one operator, and duplicate rule names are
//! [`PolicyError::Invalid`]. [`PolicyError::location`] gives the line and
//! column.
//!
//! # Checking, explaining and testing a policy
//!
//! [`Policy::check`] (and [`Policy::check_toml_file`] for a file, with
//! locations) reports every problem of a policy and every rule that can
//! never decide, as [`Finding`]s (see [`lint`]). [`Policy::explain`] shows
//! how one call is decided, rule by rule ([`Explanation`]).
//! [`Policy::from_toml_file_with_tests`] also reads the file's `[[test]]`
//! tables, which [`PolicyTest::run`] runs. The `approvals policy` command
//! prints all three.
//!
//! # The call's settings and the policy
//!
//! A call may carry its own settings: a risk level, and a requirement of
//! its own ([`ActionRequest::requirement`](crate::ActionRequest::requirement),
//! set by `#[requires_approval(approvers = …, quorum = …, timeout = …)]`).
//! **Policy rules win.** The precedence, applied by
//! [`Policy::evaluate_with`]:
//!
//! 1. the first policy rule that matches the call decides: allow, require
//!    approval (with the rule's requirement, not the call's), or refuse;
//! 2. else the requirement declared by the call;
//! 3. else the policy's default requirement (`[default]`);
//! 4. else nobody can approve, and the call fails closed.
//!
//! The call's risk is input to matching (rules can match on it); its action
//! name is what rules match. A declared requirement is resolved like a
//! rule's: its groups must be defined by the policy and its quorum must be
//! reachable without the requester, or the call fails closed.
//!
//! # Changing the policy at run time
//!
//! A policy is immutable, `Clone + Send + Sync`, and evaluated through
//! `&self`, so a gate can hold it in an `Arc` and swap in a new one. A
//! pending request keeps the [`Requirement`] it was given: requirements are
//! values, resolved when the call is evaluated.
//!
//! # Cost
//!
//! Patterns and predicates are compiled when rules are built; matching
//! allocates nothing. Deciding allocates the rule name and, for
//! `require_approval`, the resolved approver lists.

mod check;
mod decision;
mod error;
mod explain;
pub(crate) mod glob;
pub mod lint;
mod predicate;
mod principal;
mod requirement;
mod rule;
mod suite;
mod toml;

pub use decision::{Decision, DecisionSource, Escalation, PolicyInput, Requirement, Verdict};
pub use error::{Location, PolicyError};
pub use explain::{Explanation, Miss, RuleTrace};
pub use lint::{Finding, FindingKind, RuleRef, Severity};
pub use predicate::{Arg, Predicate, PredicateOutcome, argument_at};
pub use principal::Principal;
pub use requirement::RequirementBuilder;
pub use rule::{RiskMatch, Rule, RuleBuilder};
pub use suite::{Expectation, PolicyTest, TestResult};

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::Identity;
use error::context;
use rule::{Effect, unknown_group};

/// Group name to members (canonical identities, without duplicates).
pub(crate) type Groups = BTreeMap<Arc<str>, Vec<Identity>>;

/// The default requirement when none is configured: nobody, so unmatched
/// calls fail closed.
static NOBODY: RequirementBuilder = RequirementBuilder::new();

/// Rules, groups and a default requirement; see the [module
/// docs](self) for how they decide.
///
/// `Policy::new()` (the same as `Policy::default()`) lets nothing run.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    groups: Groups,
    rules: Vec<Rule>,
    default: Option<RequirementBuilder>,
}

impl Policy {
    /// An empty policy: no rules and no default requirement, so every call
    /// fails with [`PolicyError::QuorumUnreachable`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines group `name` (referred to as `group:NAME`), replacing a group
    /// of the same name. Members are identities, kept in order without
    /// duplicates.
    ///
    /// ```
    /// use approvals_core::Identity;
    /// use approvals_core::policy::Policy;
    ///
    /// let policy = Policy::new().group("sre", ["alice@x.io", "Bob@X.io", "alice@x.io"]);
    /// assert_eq!(
    ///     policy.group_members("sre"),
    ///     Some(&[Identity::new("alice@x.io"), Identity::new("bob@x.io")][..]),
    /// );
    /// ```
    #[must_use]
    pub fn group<I: Into<Identity>>(
        mut self,
        name: impl AsRef<str>,
        members: impl IntoIterator<Item = I>,
    ) -> Self {
        let mut unique: Vec<Identity> = Vec::new();
        for member in members {
            let member = member.into();
            if !unique.contains(&member) {
                unique.push(member);
            }
        }
        self.groups.insert(Arc::from(name.as_ref().trim()), unique);
        self
    }

    /// Adds `rule` after the rules already added; the first rule that
    /// matches a call decides.
    #[must_use]
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Sets the requirement for calls that no rule matches (by default,
    /// [`RequirementBuilder::new`], naming nobody, so that they fail closed).
    #[must_use]
    pub fn default_requirement(mut self, requirement: RequirementBuilder) -> Self {
        self.default = Some(requirement);
        self
    }

    /// Reads a policy file (see the [module docs](self) for the format).
    /// Errors name the file, line and column.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        toml::load(&read(path)?, Some(path))
    }

    /// Reads a policy from TOML text (see the [module docs](self) for the
    /// format). Errors name the line and column.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        toml::load(text, None)
    }

    /// Reads a policy file and its `[[test]]` tables (see [`PolicyTest`]);
    /// [`from_toml_file`](Self::from_toml_file) checks the tables' keys but
    /// ignores them otherwise.
    pub fn from_toml_file_with_tests(
        path: impl AsRef<Path>,
    ) -> Result<(Self, Vec<PolicyTest>), PolicyError> {
        let path = path.as_ref();
        toml::load_with_tests(&read(path)?, Some(path))
    }

    /// Reads a policy and its `[[test]]` tables from TOML text.
    pub fn from_toml_str_with_tests(text: &str) -> Result<(Self, Vec<PolicyTest>), PolicyError> {
        toml::load_with_tests(text, None)
    }

    /// [`check`](Self::check)s the policy in a file, with the location of
    /// every finding. Unlike [`from_toml_file`](Self::from_toml_file), it
    /// does not stop at the first problem of the policy: only what keeps
    /// the file from being read at all (a syntax error, an unknown key, a
    /// value of the wrong type or form, a malformed `[[test]]` table) is
    /// returned as an error.
    pub fn check_toml_file(path: impl AsRef<Path>) -> Result<Vec<Finding>, PolicyError> {
        let path = path.as_ref();
        toml::check(&read(path)?, Some(path))
    }

    /// [`check`](Self::check)s the policy in TOML text; see
    /// [`check_toml_file`](Self::check_toml_file).
    pub fn check_toml_str(text: &str) -> Result<Vec<Finding>, PolicyError> {
        toml::check(text, None)
    }

    /// Checks the whole policy, reporting the first problem: a malformed
    /// rule, group or requirement, an unknown group, duplicate rule names, a
    /// quorum that the approvers named can never reach. Policies read from
    /// TOML are checked when loaded.
    pub fn validate(&self) -> Result<(), PolicyError> {
        match self.first_problem() {
            Some(problem) => Err(problem.error),
            None => Ok(()),
        }
    }

    /// Decides for one call: the first rule that matches, or the default
    /// requirement.
    ///
    /// Fails closed with an error when the deciding requirement's approvers
    /// other than the requester cannot reach its quorum
    /// ([`PolicyError::QuorumUnreachable`]), and when evaluation reaches a
    /// rule that [`validate`](Self::validate) would reject.
    pub fn evaluate(&self, input: &PolicyInput<'_>) -> Result<Decision, PolicyError> {
        self.evaluate_with(input, None)
    }

    /// Decides for one call that may declare its own requirement
    /// ([`ActionRequest::requirement`](crate::ActionRequest::requirement),
    /// or the `#[requires_approval]` attribute's `approvers`, `quorum` and
    /// `timeout`).
    ///
    /// The first rule that matches decides, whatever the call declares; if
    /// none matches, the `declared` requirement applies; without one, the
    /// default requirement. [`Decision::source`] says which. A declared
    /// requirement is resolved like a rule's, and fails closed the same way
    /// (an undefined group or an unreachable quorum is an error), reported as
    /// [`PolicyError::Invalid`] naming the requirement declared by the call.
    ///
    /// ```
    /// use approvals_core::{Identity, Risk};
    /// use approvals_core::policy::{DecisionSource, Policy, PolicyInput, RequirementBuilder, Rule, Verdict};
    ///
    /// let policy = Policy::new()
    ///     .group("data-governance", ["alice@x.io", "bob@x.io"])
    ///     .rule(Rule::new("reads").action("crm.read_*").allow());
    /// let bot = Identity::new("agent:bot");
    /// let declared = RequirementBuilder::new().approvers(["group:data-governance"]).quorum(2);
    /// let evaluate = |action: &str| {
    ///     policy.evaluate_with(
    ///         &PolicyInput { action, risk: Risk::High, requester: &bot, arguments: &serde_json::Value::Null },
    ///         Some(&declared),
    ///     )
    /// };
    /// // A rule matches: it wins over the declared requirement.
    /// assert_eq!(evaluate("crm.read_record")?.verdict, Verdict::Allow);
    /// // No rule matches: the declared requirement applies.
    /// let decision = evaluate("data.export")?;
    /// assert_eq!(decision.source, DecisionSource::Declared);
    /// let Verdict::RequireApproval(requirement) = decision.verdict else { unreachable!() };
    /// assert_eq!(requirement.quorum, 2);
    /// # Ok::<(), approvals_core::policy::PolicyError>(())
    /// ```
    pub fn evaluate_with(
        &self,
        input: &PolicyInput<'_>,
        declared: Option<&RequirementBuilder>,
    ) -> Result<Decision, PolicyError> {
        for rule in &self.rules {
            if rule.applies(
                input.action,
                input.risk,
                input.requester,
                input.arguments,
                &self.groups,
            )? {
                let verdict =
                    match &rule.effect {
                        Effect::Allow => Verdict::Allow,
                        Effect::Refuse(reason) => Verdict::Refuse {
                            reason: reason.clone(),
                        },
                        Effect::RequireApproval(approvers) => Verdict::RequireApproval(
                            self.resolve(Some(&rule.name), approvers, input.requester)?,
                        ),
                    };
                return Ok(Decision {
                    rule: Some(rule.name.clone()),
                    source: DecisionSource::Rule,
                    verdict,
                });
            }
        }
        if let Some(declared) = declared {
            return Ok(Decision {
                rule: None,
                source: DecisionSource::Declared,
                verdict: Verdict::RequireApproval(
                    self.resolve_declared(declared, input.requester)?,
                ),
            });
        }
        let default = self.default.as_ref().unwrap_or(&NOBODY);
        Ok(Decision {
            rule: None,
            source: DecisionSource::Default,
            verdict: Verdict::RequireApproval(self.resolve(None, default, input.requester)?),
        })
    }

    /// Resolves the requirement a call declares, with errors that name it
    /// (rather than the default requirement, whose errors have no rule).
    fn resolve_declared(
        &self,
        declared: &RequirementBuilder,
        requester: &Identity,
    ) -> Result<Requirement, PolicyError> {
        const SUBJECT: &str = "the requirement declared by the call";
        if let Some((_, defect)) = declared.defect() {
            return Err(PolicyError::invalid(format!("{SUBJECT}: {defect}")));
        }
        self.resolve(None, declared, requester)
            .map_err(|error| match error {
                PolicyError::UnknownGroup { group, defined, .. } => {
                    PolicyError::invalid(error::unknown_group_in(SUBJECT, &group, &defined))
                }
                PolicyError::QuorumUnreachable {
                    eligible, quorum, ..
                } => PolicyError::invalid(error::quorum_unreachable(SUBJECT, quorum, eligible)),
                other => other,
            })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The members of group `name`, if it is defined.
    pub fn group_members(&self, name: &str) -> Option<&[Identity]> {
        self.groups.get(name).map(Vec::as_slice)
    }

    /// The names of the groups defined, in alphabetical order.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(|name| &**name)
    }

    /// Resolves `requirement` into a requirement for a call by `requester`.
    fn resolve(
        &self,
        rule: Option<&str>,
        requirement: &RequirementBuilder,
        requester: &Identity,
    ) -> Result<Requirement, PolicyError> {
        if let Some((_, defect)) = requirement.defect() {
            return Err(PolicyError::invalid(format!("{}: {defect}", context(rule))));
        }
        let primary = self.identities(rule, &requirement.approvers)?;
        let escalation = match &requirement.escalation {
            Some(escalation) => Some(Escalation {
                after: escalation.after,
                approvers: self.identities(rule, &escalation.approvers)?,
            }),
            None => None,
        };
        let eligible = primary
            .iter()
            .chain(
                escalation
                    .iter()
                    .flat_map(|escalation| &escalation.approvers),
            )
            .filter(|identity| *identity != requester)
            .collect::<HashSet<_>>()
            .len();
        if eligible < requirement.quorum as usize {
            return Err(PolicyError::QuorumUnreachable {
                rule: rule.map(str::to_owned),
                eligible,
                quorum: requirement.quorum,
            });
        }
        Ok(Requirement {
            approvers: primary,
            quorum: requirement.quorum,
            timeout: requirement.timeout,
            escalation,
            deny_reason_required: requirement.deny_reason_required,
            editable: requirement.editable.clone(),
        })
    }

    /// The identities of `principals`, groups expanded, without duplicates,
    /// in order.
    fn identities(
        &self,
        rule: Option<&str>,
        principals: &[Principal],
    ) -> Result<Vec<Identity>, PolicyError> {
        let mut seen = HashSet::new();
        let mut identities = Vec::new();
        let mut add = |identity: &Identity| {
            if seen.insert(identity.clone()) {
                identities.push(identity.clone());
            }
        };
        for principal in principals {
            match principal {
                Principal::Identity(identity) => add(identity),
                Principal::Group(name) => {
                    let members = self
                        .groups
                        .get(name)
                        .ok_or_else(|| unknown_group(rule, name, &self.groups))?;
                    // The empty identity is what `Identity::new` makes of
                    // refused text: it must never become an approver, even
                    // in a policy that was not validated.
                    if let Some(index) =
                        members.iter().position(|member| member.as_str().is_empty())
                    {
                        return Err(PolicyError::invalid(format!(
                            "{}: group `{name}`: member {} is empty",
                            context(rule),
                            index + 1
                        )));
                    }
                    members.iter().for_each(&mut add);
                }
            }
        }
        Ok(identities)
    }
}

/// The text of a policy file.
fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
