//! The policy file format, described in the [module docs](super).
//!
//! Loading has three stages. Serde reads the text into `Raw*` structs that
//! keep the byte span of every value (unknown keys and wrong types fail
//! here, with the span from the `toml` crate). The loader then turns them
//! into a [`Policy`] through the same builder as code uses, checking what
//! only the file can get wrong (effects, durations, risks, operators).
//! Last, [`Policy::first_problem`] checks the result as
//! [`Policy::validate`] does, and its [`Place`] is mapped back to a span.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use ::toml::Spanned;
use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use super::check::{Field, Place};
use super::error::{Location, PolicyError, context};
use super::lint::Finding;
use super::predicate::{Arg, Predicate, PredicatePart};
use super::requirement::RequirementBuilder;
use super::rule::{RiskMatch, Rule, RuleBuilder};
use super::suite::{Expectation, PolicyTest};
use super::{Policy, Principal};
use crate::Identity;
use crate::parse::ParseProblem;

type Span = Range<usize>;

const OPERATORS: &str = "`eq`, `ne`, `lt`, `le`, `gt`, `ge`, `in`, `matches`, `exists` or `absent`";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    groups: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    default: Option<Spanned<RawApproval>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    /// Policy tests: their keys are checked with the policy, and they are
    /// read only by [`load_with_tests`].
    #[serde(default)]
    test: Vec<Spanned<RawTest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: Option<String>,
    action: String,
    #[serde(default)]
    args: Option<Spanned<RawArgs>>,
    risk: Option<Spanned<String>>,
    requester: String,
    expect: Spanned<RawExpect>,
    rule: Option<String>,
}

/// A test's arguments: a TOML table, or JSON text.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "`args` must be a table of arguments or JSON text"
)]
enum RawArgs {
    Json(String),
    Table(::toml::Table),
}

/// A test's expectation: a word, or the approval expected.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "`expect` must be \"allow\", \"refuse\", \"require_approval\", \"fail_closed\" or a table with `approvers`, `quorum` or both (and no other key)"
)]
enum RawExpect {
    Word(String),
    Approval(RawExpectedApproval),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectedApproval {
    approvers: Option<PlainStrings>,
    quorum: Option<u32>,
}

/// A string or an array of strings, without spans (inside an untagged enum,
/// values cannot keep theirs).
#[derive(Deserialize)]
#[serde(untagged)]
enum PlainStrings {
    One(String),
    Many(Vec<String>),
}

/// `[default]`, and the approval keys of a rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    approvers: Spanned<Strings>,
    quorum: Option<Spanned<u32>>,
    timeout: Option<Spanned<String>>,
    deny_reason_required: Option<Spanned<bool>>,
    editable: Option<Spanned<Strings>>,
    escalate: Option<Spanned<RawEscalation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    after: Spanned<String>,
    to: Spanned<Strings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    action: Option<Spanned<Strings>>,
    risk: Option<Spanned<String>>,
    requester: Option<Spanned<Strings>>,
    #[serde(default)]
    when: Vec<Spanned<RawPredicate>>,
    effect: Spanned<String>,
    reason: Option<Spanned<String>>,
    approvers: Option<Spanned<Strings>>,
    quorum: Option<Spanned<u32>>,
    timeout: Option<Spanned<String>>,
    deny_reason_required: Option<Spanned<bool>>,
    editable: Option<Spanned<Strings>>,
    escalate: Option<Spanned<RawEscalation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPredicate {
    arg: Spanned<String>,
    eq: Option<Spanned<::toml::Value>>,
    ne: Option<Spanned<::toml::Value>>,
    lt: Option<Spanned<::toml::Value>>,
    le: Option<Spanned<::toml::Value>>,
    gt: Option<Spanned<::toml::Value>>,
    ge: Option<Spanned<::toml::Value>>,
    #[serde(rename = "in")]
    one_of: Option<Spanned<Vec<::toml::Value>>>,
    matches: Option<Spanned<String>>,
    exists: Option<Spanned<bool>>,
    absent: Option<Spanned<bool>>,
}

/// A string, or an array of strings.
enum Strings {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringsVisitor;

        impl<'de> Visitor<'de> for StringsVisitor {
            type Value = Strings;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string or an array of strings")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Strings, E> {
                Ok(Strings::One(text.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Strings, E> {
                Ok(Strings::One(text))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strings, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Strings::Many(items))
            }
        }

        deserializer.deserialize_any(StringsVisitor)
    }
}

/// The strings and their spans; a lone string spans the whole value.
fn strings(value: Spanned<Strings>) -> Vec<(String, Span)> {
    let span = value.span();
    match value.into_inner() {
        Strings::One(text) => vec![(text, span)],
        Strings::Many(items) => items
            .into_iter()
            .map(|item| {
                let span = item.span();
                (item.into_inner(), span)
            })
            .collect(),
    }
}

/// The text being loaded, to turn spans into locations.
#[derive(Clone, Copy)]
struct Source<'a> {
    text: &'a str,
    file: Option<&'a Path>,
}

impl Source<'_> {
    fn location(&self, span: &Span) -> Location {
        Location::of_offset(self.text, span.start, self.file)
    }

    fn invalid(&self, span: &Span, message: String) -> PolicyError {
        PolicyError::Invalid {
            location: Some(self.location(span)),
            message,
        }
    }
}

/// Where each part of a rule is in the file.
struct RuleSpans {
    header: Span,
    name: Span,
    actions: Vec<Span>,
    requesters: Vec<Span>,
    predicates: Vec<PredicateSpans>,
    reason: Option<Span>,
    approval: Option<ApprovalSpans>,
}

struct PredicateSpans {
    path: Span,
    operand: Span,
}

struct ApprovalSpans {
    table: Span,
    approvers_list: Span,
    approvers: Vec<Span>,
    quorum: Option<Span>,
    timeout: Option<Span>,
    escalation: Option<Span>,
    after: Option<Span>,
    to: Vec<Span>,
}

impl ApprovalSpans {
    fn of(&self, field: Field) -> Span {
        let span = match field {
            Field::Channel(index) => self.approvers.get(index).cloned(),
            Field::Quorum => self
                .quorum
                .clone()
                .or_else(|| Some(self.approvers_list.clone())),
            Field::Timeout => self.timeout.clone(),
            Field::Escalation => self.escalation.clone(),
            Field::EscalateAfter => self.after.clone(),
            Field::EscalateTo(index) => self.to.get(index).cloned(),
            _ => None,
        };
        span.unwrap_or_else(|| self.table.clone())
    }
}

impl RuleSpans {
    fn of(&self, field: Field) -> Span {
        let span = match field {
            Field::Name => Some(self.name.clone()),
            Field::Action(index) => self.actions.get(index).cloned(),
            Field::Requester(index) => self.requesters.get(index).cloned(),
            Field::Predicate(index, part) => self.predicates.get(index).map(|spans| match part {
                PredicatePart::Path => spans.path.clone(),
                PredicatePart::Operand => spans.operand.clone(),
            }),
            Field::Reason => self.reason.clone(),
            _ => self.approval.as_ref().map(|approval| approval.of(field)),
        };
        span.unwrap_or_else(|| self.header.clone())
    }
}

/// A policy read from TOML but not yet checked, with where each part is.
struct Parsed<'a> {
    source: Source<'a>,
    policy: Policy,
    group_spans: BTreeMap<String, (Span, Vec<(String, Span)>)>,
    default_spans: Option<ApprovalSpans>,
    rule_spans: Vec<RuleSpans>,
    tests: Vec<Spanned<RawTest>>,
}

impl Parsed<'_> {
    /// The location of `place`.
    fn location(&self, place: &Place) -> Location {
        let span = match place {
            Place::Group { name, member } => {
                self.group_spans.get(&**name).map(|(name_span, members)| {
                    member
                        .as_ref()
                        .and_then(|member| {
                            members
                                .iter()
                                .find(|(text, _)| Identity::new(text) == *member)
                                .map(|(_, span)| span.clone())
                        })
                        .unwrap_or_else(|| name_span.clone())
                })
            }
            Place::Default(field) => self.default_spans.as_ref().map(|spans| spans.of(*field)),
            Place::Rule { index, field } => {
                self.rule_spans.get(*index).map(|spans| spans.of(*field))
            }
        };
        self.source.location(&span.unwrap_or_default())
    }

    /// The policy, checked as [`Policy::validate`] checks it.
    fn checked(self) -> Result<(Policy, Vec<Spanned<RawTest>>), PolicyError> {
        let Some(problem) = self.policy.first_problem() else {
            return Ok((self.policy, self.tests));
        };
        let message = match problem.error {
            PolicyError::Invalid { message, .. } => message,
            other => other.to_string(),
        };
        Err(PolicyError::Invalid {
            location: Some(self.location(&problem.place)),
            message,
        })
    }
}

/// Reads a policy from TOML `text`; `file` is named in errors.
pub(crate) fn load(text: &str, file: Option<&Path>) -> Result<Policy, PolicyError> {
    parse(text, file)?.checked().map(|(policy, _)| policy)
}

/// Reads a policy and its `[[test]]` tables from TOML `text`.
pub(crate) fn load_with_tests(
    text: &str,
    file: Option<&Path>,
) -> Result<(Policy, Vec<PolicyTest>), PolicyError> {
    let source = Source { text, file };
    let (policy, raw) = parse(text, file)?.checked()?;
    let tests = raw
        .into_iter()
        .enumerate()
        .map(|(index, raw)| test_from(source, index, raw))
        .collect::<Result<_, _>>()?;
    Ok((policy, tests))
}

/// Every finding of [`Policy::check`] for the policy in TOML `text`, with
/// its location; what stops the file from being read at all (a syntax
/// error, an unknown key, a malformed value) is the error, and so is a
/// malformed `[[test]]` table.
pub(crate) fn check(text: &str, file: Option<&Path>) -> Result<Vec<Finding>, PolicyError> {
    let source = Source { text, file };
    let parsed = parse(text, file)?;
    for (index, raw) in parsed.tests.iter().enumerate() {
        test_shape(source, index, raw)?;
    }
    Ok(parsed
        .policy
        .findings()
        .into_iter()
        .map(|(place, mut finding)| {
            finding.location = Some(parsed.location(&place));
            finding
        })
        .collect())
}

/// Reads TOML `text` into a policy without checking it as a whole.
fn parse<'a>(text: &'a str, file: Option<&'a Path>) -> Result<Parsed<'a>, PolicyError> {
    let source = Source { text, file };
    let raw: RawPolicy = ::toml::from_str(text).map_err(|error| PolicyError::Parse {
        location: Location::of_offset(text, error.span().map_or(0, |span| span.start), file),
        message: toml_message(error.message()),
    })?;

    let mut policy = Policy::new();
    let mut group_spans = BTreeMap::new();
    for (name, members) in raw.groups {
        let name_span = name.span();
        let name = name.into_inner();
        let members: Vec<(String, Span)> = members
            .into_iter()
            .map(|member| {
                let span = member.span();
                (member.into_inner(), span)
            })
            .collect();
        policy = policy.group(&name, members.iter().map(|(member, _)| member.as_str()));
        group_spans.insert(name.trim().to_owned(), (name_span, members));
    }

    let mut default_spans = None;
    if let Some(default) = raw.default {
        let table = default.span();
        let (requirement, spans) = approval(source, None, default.into_inner(), table)?;
        policy = policy.default_requirement(requirement);
        default_spans = Some(spans);
    }

    let mut rule_spans = Vec::with_capacity(raw.rule.len());
    for rule in raw.rule {
        let header = rule.span();
        let (rule, spans) = rule_from(source, rule.into_inner(), header)?;
        policy = policy.rule(rule);
        rule_spans.push(spans);
    }

    Ok(Parsed {
        source,
        policy,
        group_spans,
        default_spans,
        rule_spans,
        tests: raw.test,
    })
}

/// Checks what a `[[test]]` table can get wrong beyond its keys.
fn test_shape(source: Source<'_>, index: usize, raw: &Spanned<RawTest>) -> Result<(), PolicyError> {
    let subject = format!("test {}", index + 1);
    if let Some(risk) = &raw.get_ref().risk {
        test_risk(source, &subject, risk)?;
    }
    if let Some(args) = &raw.get_ref().args {
        test_arguments(source, &subject, args)?;
    }
    test_expectation(source, &subject, &raw.get_ref().expect)?;
    Ok(())
}

fn test_from(
    source: Source<'_>,
    index: usize,
    raw: Spanned<RawTest>,
) -> Result<PolicyTest, PolicyError> {
    let location = source.location(&raw.span());
    let subject = format!("test {}", index + 1);
    let raw = raw.into_inner();
    let risk = match &raw.risk {
        Some(risk) => test_risk(source, &subject, risk)?,
        None => crate::Risk::Medium,
    };
    let arguments = match &raw.args {
        Some(args) => test_arguments(source, &subject, args)?,
        None => Value::Object(serde_json::Map::new()),
    };
    let expect = test_expectation(source, &subject, &raw.expect)?;
    Ok(PolicyTest {
        name: raw.name.unwrap_or(subject),
        action: raw.action,
        risk,
        requester: Identity::new(&raw.requester),
        arguments,
        expect,
        rule: raw.rule,
        location: Some(location),
    })
}

fn test_risk(
    source: Source<'_>,
    subject: &str,
    risk: &Spanned<String>,
) -> Result<crate::Risk, PolicyError> {
    risk.get_ref().parse().map_err(|_| {
        source.invalid(
            &risk.span(),
            format!(
                "{subject}: invalid risk `{}`, expected `low`, `medium`, `high` or `critical`",
                risk.get_ref()
            ),
        )
    })
}

fn test_arguments(
    source: Source<'_>,
    subject: &str,
    args: &Spanned<RawArgs>,
) -> Result<Value, PolicyError> {
    match args.get_ref() {
        RawArgs::Json(text) => serde_json::from_str(text).map_err(|error| {
            // The text is arguments: say where it is wrong, never what it holds.
            source.invalid(
                &args.span(),
                format!(
                    "{subject}: `args` is not valid JSON (line {}, column {})",
                    error.line(),
                    error.column()
                ),
            )
        }),
        RawArgs::Table(table) => json(::toml::Value::Table(table.clone()))
            .map_err(|reason| source.invalid(&args.span(), format!("{subject}: `args`: {reason}"))),
    }
}

fn test_expectation(
    source: Source<'_>,
    subject: &str,
    expect: &Spanned<RawExpect>,
) -> Result<Expectation, PolicyError> {
    Ok(match expect.get_ref() {
        RawExpect::Word(word) => match word.as_str() {
            "allow" => Expectation::Allow,
            "refuse" => Expectation::Refuse,
            "require_approval" => Expectation::RequireApproval {
                approvers: None,
                quorum: None,
            },
            "fail_closed" => Expectation::FailClosed,
            other => {
                return Err(source.invalid(
                    &expect.span(),
                    format!(
                        "{subject}: unknown expectation `{other}`, expected `allow`, `refuse`, `require_approval`, `fail_closed` or a table such as {{ approvers = [\"group:NAME\"], quorum = 2 }}"
                    ),
                ));
            }
        },
        RawExpect::Approval(approval) => Expectation::RequireApproval {
            approvers: approval
                .approvers
                .as_ref()
                .map(|approvers| match approvers {
                    PlainStrings::One(text) => vec![Principal::parse(text)],
                    PlainStrings::Many(items) => {
                        items.iter().map(|item| Principal::parse(item)).collect()
                    }
                }),
            quorum: approval.quorum,
        },
    })
}

/// `toml`'s message without the values it quotes: the shape problems that
/// `serde` reports (`invalid type: string "…", expected …`) are told by
/// category, since a predicate's bound is the kind of value arguments hold.
/// The parser's own syntax messages quote no value, and an unknown key is a
/// name the policy's author wrote (`unknown field `aprovers``): both are
/// kept.
fn toml_message(message: &str) -> String {
    let message = message.trim();
    match ParseProblem::from_serde_message(message) {
        ParseProblem::Other | ParseProblem::UnknownField { .. } => message.to_owned(),
        problem => problem.to_string(),
    }
}

fn rule_from(
    source: Source<'_>,
    raw: RawRule,
    header: Span,
) -> Result<(Rule, RuleSpans), PolicyError> {
    let name_span = raw.name.span();
    let name = raw.name.into_inner();
    let subject = context(Some(&name));
    let mut spans = RuleSpans {
        header,
        name: name_span,
        actions: Vec::new(),
        requesters: Vec::new(),
        predicates: Vec::new(),
        reason: None,
        approval: None,
    };
    let mut builder: RuleBuilder = Rule::new(name);

    for (pattern, span) in raw.action.map(strings).unwrap_or_default() {
        builder = builder.action(&pattern);
        spans.actions.push(span);
    }
    if let Some(risk) = raw.risk {
        let matcher = RiskMatch::parse(risk.get_ref()).ok_or_else(|| {
            source.invalid(
                &risk.span(),
                format!(
                    "{subject}: invalid risk `{}`, expected `low`, `medium`, `high` or `critical`, optionally after `>=`, `<=` or `=`",
                    risk.get_ref()
                ),
            )
        })?;
        builder = builder.risk(matcher);
    }
    for (requester, span) in raw.requester.map(strings).unwrap_or_default() {
        builder = builder.requester(Principal::parse(&requester));
        spans.requesters.push(span);
    }
    for predicate in raw.when {
        let (predicate, predicate_spans) = predicate_from(source, &subject, predicate)?;
        builder = builder.when(predicate);
        spans.predicates.push(predicate_spans);
    }

    let effect_span = raw.effect.span();
    let effect = raw.effect.into_inner();
    let reason = raw.reason.as_ref().map(|reason| ("reason", reason.span()));
    let approval_keys = [
        raw.approvers
            .as_ref()
            .map(|value| ("approvers", value.span())),
        raw.quorum.as_ref().map(|value| ("quorum", value.span())),
        raw.timeout.as_ref().map(|value| ("timeout", value.span())),
        raw.deny_reason_required
            .as_ref()
            .map(|value| ("deny_reason_required", value.span())),
        raw.editable
            .as_ref()
            .map(|value| ("editable", value.span())),
        raw.escalate
            .as_ref()
            .map(|value| ("escalate", value.span())),
    ];
    let does_not_apply = |keys: &[Option<(&str, Span)>]| match keys
        .iter()
        .flatten()
        .min_by_key(|(_, span)| span.start)
    {
        Some((key, span)) => Err(source.invalid(
            span,
            format!("{subject}: `{key}` does not apply to effect \"{effect}\""),
        )),
        None => Ok(()),
    };
    let rule = match effect.as_str() {
        "allow" => {
            does_not_apply(&approval_keys)?;
            does_not_apply(&[reason])?;
            builder.allow()
        }
        "refuse" => {
            does_not_apply(&approval_keys)?;
            let Some(reason) = raw.reason else {
                return Err(source.invalid(
                    &effect_span,
                    format!("{subject}: effect \"refuse\" needs a `reason`"),
                ));
            };
            spans.reason = Some(reason.span());
            builder.refuse(reason.into_inner())
        }
        "require_approval" => {
            does_not_apply(&[reason])?;
            let Some(approvers) = raw.approvers else {
                return Err(source.invalid(
                    &effect_span,
                    format!("{subject}: effect \"require_approval\" needs `approvers`"),
                ));
            };
            let keys = RawApproval {
                approvers,
                quorum: raw.quorum,
                timeout: raw.timeout,
                deny_reason_required: raw.deny_reason_required,
                editable: raw.editable,
                escalate: raw.escalate,
            };
            let (requirement, approval_spans) =
                approval(source, Some(&subject), keys, spans.header.clone())?;
            spans.approval = Some(approval_spans);
            builder.require(requirement)
        }
        other => {
            return Err(source.invalid(
                &effect_span,
                format!(
                    "{subject}: unknown effect `{other}`, expected `allow`, `refuse` or `require_approval`"
                ),
            ));
        }
    };
    Ok((rule, spans))
}

/// The approval keys of a rule (`subject` is its context) or of `[default]`
/// (`subject` is `None`).
fn approval(
    source: Source<'_>,
    subject: Option<&str>,
    raw: RawApproval,
    table: Span,
) -> Result<(RequirementBuilder, ApprovalSpans), PolicyError> {
    let subject = subject.map_or_else(|| context(None), str::to_owned);
    let approvers_list = raw.approvers.span();
    let listed = strings(raw.approvers);
    let mut spans = ApprovalSpans {
        table,
        approvers_list,
        approvers: listed.iter().map(|(_, span)| span.clone()).collect(),
        quorum: None,
        timeout: None,
        escalation: None,
        after: None,
        to: Vec::new(),
    };
    let mut requirement =
        RequirementBuilder::new().approvers(listed.iter().map(|(text, _)| text.as_str()));
    if let Some(quorum) = raw.quorum {
        spans.quorum = Some(quorum.span());
        requirement = requirement.quorum(quorum.into_inner());
    }
    if let Some(timeout) = raw.timeout {
        requirement = requirement.timeout(duration(source, &subject, "timeout", &timeout)?);
        spans.timeout = Some(timeout.span());
    }
    if let Some(required) = raw.deny_reason_required {
        requirement = requirement.deny_reason_required(required.into_inner());
    }
    if let Some(editable) = raw.editable {
        let paths = strings(editable);
        for (path, span) in &paths {
            if let Err(problem) = crate::edit::check_path(path) {
                return Err(source.invalid(span, format!("{subject}: `editable` path {problem}")));
            }
        }
        requirement = requirement.editable(paths.into_iter().map(|(text, _)| text));
    }
    if let Some(escalate) = raw.escalate {
        spans.escalation = Some(escalate.span());
        let escalate = escalate.into_inner();
        let after = duration(source, &subject, "escalation delay", &escalate.after)?;
        spans.after = Some(escalate.after.span());
        let to = strings(escalate.to);
        spans.to = to.iter().map(|(_, span)| span.clone()).collect();
        requirement = requirement.escalate_after(after, to.iter().map(|(text, _)| text.as_str()));
    }
    Ok((requirement, spans))
}

fn duration(
    source: Source<'_>,
    subject: &str,
    what: &str,
    raw: &Spanned<String>,
) -> Result<Duration, PolicyError> {
    humantime::parse_duration(raw.get_ref().trim()).map_err(|error| {
        source.invalid(
            &raw.span(),
            format!(
                "{subject}: invalid {what} `{}` ({error}); write for example \"30s\", \"15m\", \"2h\" or \"1h30m\"",
                raw.get_ref()
            ),
        )
    })
}

/// Makes a predicate from a path and an operand: `Arg::eq`, `Arg::lt`…
type MakePredicate = fn(Arg, Value) -> Predicate;

/// One operator and its operand, as written.
enum Operator {
    Value(MakePredicate, ::toml::Value),
    In(Vec<::toml::Value>),
    Matches(String),
    Exists(bool),
}

fn predicate_from(
    source: Source<'_>,
    subject: &str,
    raw: Spanned<RawPredicate>,
) -> Result<(Predicate, PredicateSpans), PolicyError> {
    let table = raw.span();
    let raw = raw.into_inner();
    let path_span = raw.arg.span();
    let path = raw.arg.into_inner();

    let mut found: Vec<(&str, Span, Operator)> = Vec::new();
    let values: [(&str, Option<Spanned<::toml::Value>>, MakePredicate); 6] = [
        ("eq", raw.eq, Arg::eq),
        ("ne", raw.ne, Arg::ne),
        ("lt", raw.lt, Arg::lt),
        ("le", raw.le, Arg::le),
        ("gt", raw.gt, Arg::gt),
        ("ge", raw.ge, Arg::ge),
    ];
    for (name, value, make) in values {
        if let Some(value) = value {
            let span = value.span();
            found.push((name, span, Operator::Value(make, value.into_inner())));
        }
    }
    if let Some(values) = raw.one_of {
        let span = values.span();
        found.push(("in", span, Operator::In(values.into_inner())));
    }
    if let Some(pattern) = raw.matches {
        let span = pattern.span();
        found.push(("matches", span, Operator::Matches(pattern.into_inner())));
    }
    if let Some(exists) = raw.exists {
        let span = exists.span();
        found.push(("exists", span, Operator::Exists(exists.into_inner())));
    }
    if let Some(absent) = raw.absent {
        let span = absent.span();
        found.push(("absent", span, Operator::Exists(!absent.into_inner())));
    }
    found.sort_by_key(|(_, span, _)| span.start);

    let mut found = found.into_iter();
    let Some((operator, operand, test)) = found.next() else {
        return Err(source.invalid(
            &table,
            format!("{subject}: predicate on `{path}` has no operator; give one of {OPERATORS}"),
        ));
    };
    if let Some((second, span, _)) = found.next() {
        return Err(source.invalid(
            &span,
            format!(
                "{subject}: predicate on `{path}` has more than one operator (`{operator}` and `{second}`); write one predicate for each"
            ),
        ));
    }
    let operand_error = |reason: &str| {
        source.invalid(
            &operand,
            format!("{subject}: `{operator}` on `{path}`: {reason}"),
        )
    };
    let arg = Arg::path(&path);
    let predicate = match test {
        Operator::Value(make, value) => make(arg, json(value).map_err(operand_error)?),
        Operator::In(values) => arg.one_of(
            values
                .into_iter()
                .map(json)
                .collect::<Result<Vec<_>, _>>()
                .map_err(operand_error)?,
        ),
        Operator::Matches(pattern) => arg.matches(&pattern),
        Operator::Exists(true) => arg.exists(),
        Operator::Exists(false) => arg.absent(),
    };
    let spans = PredicateSpans {
        path: path_span,
        operand,
    };
    Ok((predicate, spans))
}

/// The JSON value of a TOML value, as arguments serialize.
fn json(value: ::toml::Value) -> Result<Value, &'static str> {
    Ok(match value {
        ::toml::Value::String(text) => Value::String(text),
        ::toml::Value::Integer(number) => Value::from(number),
        ::toml::Value::Float(number) => serde_json::Number::from_f64(number)
            .map(Value::Number)
            .ok_or("only finite numbers are supported")?,
        ::toml::Value::Boolean(flag) => Value::Bool(flag),
        ::toml::Value::Datetime(_) => {
            return Err("dates are not supported; compare the date as a string");
        }
        ::toml::Value::Array(items) => {
            Value::Array(items.into_iter().map(json).collect::<Result<Vec<_>, _>>()?)
        }
        ::toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(key, value)| json(value).map(|value| (key, value)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

#[cfg(test)]
mod tests;
