//! `approvals policy`: check a policy file, explain how it decides a call,
//! and run the tests written in it. The analysis is the library's
//! (`Policy::check`, `Policy::explain`, `PolicyTest::run`); this module
//! only prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use approvals_core::policy::{
    Decision, DecisionSource, Finding, FindingKind, Location, Miss, Policy, PolicyError,
    PolicyInput, PredicateOutcome, Severity, Verdict, argument_at,
};
use approvals_core::{Identity, Risk};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::exit;
use crate::out::{Out, Tone, clean};

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Check a policy file: every problem, and every rule that can never
    /// decide.
    ///
    /// Errors make the file unusable (it does not load, or some calls always
    /// fail closed); warnings are rules that are shadowed by an earlier rule
    /// or can never apply, empty groups, a default requirement that nothing
    /// reaches. Exits 0 when there is no error, 1 when there is one, and 5
    /// with --deny-warnings when there are warnings but no error.
    Check(CheckArgs),
    /// Explain how a policy decides one call: each rule tried and why it
    /// does not apply, then the decision.
    ///
    /// Argument values are shown masked, as `approvals mask --json` masks
    /// them (keyed with APPROVALS_MASK_KEY when set).
    Explain(ExplainArgs),
    /// Run the [[test]] tables of a policy file.
    ///
    /// Prints PASS or FAIL for each test, with the expected and the actual
    /// decision of each failure. Exits 1 if any test fails.
    Test(TestArgs),
}

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The policy file (TOML).
    file: PathBuf,
    /// Exit 5 when there are warnings (and no errors).
    #[arg(long)]
    deny_warnings: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The policy file (TOML).
    file: PathBuf,
    /// The action name.
    #[arg(long)]
    action: String,
    /// The arguments, as JSON (as the gate serializes them).
    #[arg(long, default_value = "{}")]
    args: String,
    /// Who asks.
    #[arg(long, default_value = "agent:unknown")]
    requester: String,
    /// The call's risk: low, medium, high or critical.
    #[arg(long, default_value = "medium")]
    risk: Risk,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// The policy file (TOML) with [[test]] tables.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(command: PolicyCommand, out: &Out) -> u8 {
    match command {
        PolicyCommand::Check(args) => check(&args, out),
        PolicyCommand::Explain(args) => explain(&args, out),
        PolicyCommand::Test(args) => test(&args, out),
    }
}

/// A policy error that is the file's fault (exit 1), or a file that could
/// not be read (exit 3), reported on stderr.
fn load_failure(error: &PolicyError, out: &Out) -> u8 {
    out.error(error);
    match error {
        PolicyError::Io { .. } => exit::TROUBLE,
        _ => exit::FAILED,
    }
}

fn check(args: &CheckArgs, out: &Out) -> u8 {
    let findings = match Policy::check_toml_file(&args.file) {
        Ok(findings) => findings,
        Err(error @ PolicyError::Io { .. }) => return load_failure(&error, out),
        Err(error) => {
            unreadable(args, &error, out);
            return exit::FAILED;
        }
    };
    let count = |severity| {
        findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    };
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    match args.format {
        Format::Json => {
            let findings: Vec<Value> = findings.iter().map(finding_json).collect();
            out.line(json!({
                "file": args.file.display().to_string(),
                "errors": errors,
                "warnings": warnings,
                "findings": findings,
            }));
        }
        Format::Text => {
            for finding in &findings {
                let tone = match finding.severity {
                    Severity::Error => Tone::Bad,
                    Severity::Warning => Tone::Warn,
                };
                let label = format!("{}[{}]", finding.severity.as_str(), finding.kind.code());
                out.line(format!(
                    "{}: {}: {}",
                    place(finding.location.as_ref(), &args.file),
                    out.paint(tone, label),
                    clean(&finding.message)
                ));
            }
            if findings.is_empty() {
                out.line(format!(
                    "{}: {}",
                    args.file.display(),
                    out.paint(Tone::Good, "no problems found")
                ));
            } else {
                out.line(format!(
                    "{}: {errors} {}, {warnings} {}",
                    args.file.display(),
                    plural(errors, "error"),
                    plural(warnings, "warning")
                ));
            }
        }
    }
    if errors > 0 {
        exit::FAILED
    } else if warnings > 0 && args.deny_warnings {
        exit::WARNINGS
    } else {
        exit::OK
    }
}

/// Where a finding is: its location, else the file.
fn place(location: Option<&Location>, file: &Path) -> String {
    location.map_or_else(|| file.display().to_string(), ToString::to_string)
}

/// Reports a file that cannot be read as a policy at all (a syntax error,
/// an unknown key), in the form of a finding of kind `parse`.
fn unreadable(args: &CheckArgs, error: &PolicyError, out: &Out) {
    let message = match error {
        PolicyError::Parse { message, .. } | PolicyError::Invalid { message, .. } => {
            message.clone()
        }
        other => other.to_string(),
    };
    match args.format {
        Format::Json => {
            let mut finding = json!({ "severity": "error", "kind": "parse", "message": message });
            if let Some(location) = error.location() {
                finding["line"] = json!(location.line);
                finding["column"] = json!(location.column);
            }
            out.line(json!({
                "file": args.file.display().to_string(),
                "errors": 1,
                "warnings": 0,
                "findings": [finding],
            }));
        }
        Format::Text => {
            out.line(format!(
                "{}: {}: {}",
                place(error.location(), &args.file),
                out.paint(Tone::Bad, "error[parse]"),
                clean(&message)
            ));
            out.line(format!("{}: 1 error, 0 warnings", args.file.display()));
        }
    }
}

fn finding_json(finding: &Finding) -> Value {
    let mut value = json!({
        "severity": finding.severity.as_str(),
        "kind": finding.kind.code(),
        "message": finding.message,
    });
    if let Some(rule) = &finding.rule {
        value["rule"] = json!({ "number": rule.number, "name": rule.name });
    }
    match &finding.kind {
        FindingKind::Shadowed { by } | FindingKind::DefaultNeverUsed { by } => {
            value["by"] = json!({ "number": by.number, "name": by.name });
        }
        FindingKind::EmptyGroup { group } => value["group"] = json!(group),
        _ => {}
    }
    if let Some(location) = &finding.location {
        value["line"] = json!(location.line);
        value["column"] = json!(location.column);
    }
    value
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

fn explain(args: &ExplainArgs, out: &Out) -> u8 {
    let policy = match Policy::from_toml_file(&args.file) {
        Ok(policy) => policy,
        Err(error) => return load_failure(&error, out),
    };
    let arguments: Value = match serde_json::from_str(&args.args) {
        Ok(arguments) => arguments,
        Err(error) => {
            out.error(format!("--args: {}", crate::parse::json_problem(&error)));
            return exit::USAGE;
        }
    };
    let requester = Identity::new(&args.requester);
    let input = PolicyInput {
        action: &args.action,
        risk: args.risk,
        requester: &requester,
        arguments: &arguments,
    };
    let explanation = policy.explain(&input);
    // What is shown of the arguments is their masked view, looked up by the
    // same paths: never a raw value.
    let engine = crate::mask::engine();
    let masked = engine.mask_value(&arguments);
    // A value that masking moved (under a key it renamed) is not shown.
    let shown = |path: &str| -> Option<Value> {
        argument_at(&arguments, path)?;
        Some(
            argument_at(&masked, path)
                .cloned()
                .unwrap_or_else(|| Value::from("[masked]")),
        )
    };
    let operand = |rule: usize, number: usize| -> Option<Value> {
        let predicate = policy.rules().get(rule)?.predicates().get(number - 1)?;
        predicate
            .operand()
            .map(|operand| engine.mask_value(&operand))
    };
    match args.format {
        Format::Json => {
            let rules: Vec<Value> = explanation
                .rules
                .iter()
                .map(|trace| {
                    let misses: Vec<Value> = trace
                        .misses
                        .iter()
                        .map(|miss| miss_json(miss, trace.rule.number - 1, &shown, &operand))
                        .collect();
                    json!({
                        "number": trace.rule.number,
                        "name": trace.rule.name,
                        "applies": trace.applies,
                        "misses": misses,
                    })
                })
                .collect();
            out.line(json!({
                "action": args.action,
                "risk": args.risk.as_str(),
                "requester": requester.as_str(),
                "rules": rules,
                "decision": outcome_json(&explanation.outcome),
            }));
        }
        Format::Text => {
            out.line(format!(
                "call: {}, risk {}, requester {}",
                clean(&args.action),
                args.risk.as_str(),
                clean(requester.as_str())
            ));
            for trace in &explanation.rules {
                let head = format!("  rule {} `{}`", trace.rule.number, clean(&trace.rule.name));
                if trace.applies {
                    out.line(format!("{head}: {}", out.paint(Tone::Good, "applies")));
                    continue;
                }
                out.line(format!("{head}: does not apply"));
                for miss in &trace.misses {
                    let text =
                        miss_text(miss, trace.rule.number - 1, &args.action, &shown, &operand);
                    out.line(format!("    - {}", clean(&text)));
                }
            }
            for line in outcome_text(&explanation.outcome, explanation.rules.is_empty()) {
                out.line(clean(&line));
            }
        }
    }
    exit::OK
}

fn miss_text(
    miss: &Miss,
    rule: usize,
    action: &str,
    shown: &dyn Fn(&str) -> Option<Value>,
    operand: &dyn Fn(usize, usize) -> Option<Value>,
) -> String {
    match miss {
        Miss::Action { patterns } => {
            format!("action `{action}` matches none of {}", patterns.join(", "))
        }
        Miss::Risk { wanted, actual } => format!("risk {actual} is not {wanted}"),
        Miss::Requester { wanted } => {
            let wanted: Vec<String> = wanted.iter().map(ToString::to_string).collect();
            format!("the requester is none of {}", wanted.join(", "))
        }
        Miss::Predicate {
            number,
            path,
            operator,
            outcome,
        } => {
            let operand = operand(rule, *number).map_or_else(String::new, |op| format!(" {op}"));
            let test = format!("`{path}` {operator}{operand}");
            match outcome {
                PredicateOutcome::Missing => format!("{test}: `{path}` is missing"),
                PredicateOutcome::WrongType => format!(
                    "{test}: the value has another type (value: {})",
                    shown(path).unwrap_or_default()
                ),
                _ => match shown(path) {
                    Some(value) => format!("{test}: does not hold (value: {value})"),
                    None => format!("{test}: does not hold (`{path}` is missing)"),
                },
            }
        }
        Miss::Broken => "the rule cannot be evaluated; the call fails closed".to_owned(),
        _ => "a condition does not hold".to_owned(),
    }
}

fn miss_json(
    miss: &Miss,
    rule: usize,
    shown: &dyn Fn(&str) -> Option<Value>,
    operand: &dyn Fn(usize, usize) -> Option<Value>,
) -> Value {
    match miss {
        Miss::Action { patterns } => json!({ "condition": "action", "patterns": patterns }),
        Miss::Risk { wanted, actual } => {
            json!({ "condition": "risk", "wanted": wanted.to_string(), "actual": actual.as_str() })
        }
        Miss::Requester { wanted } => {
            let wanted: Vec<String> = wanted.iter().map(ToString::to_string).collect();
            json!({ "condition": "requester", "wanted": wanted })
        }
        Miss::Predicate {
            number,
            path,
            operator,
            outcome,
        } => json!({
            "condition": "predicate",
            "number": number,
            "path": path,
            "operator": operator,
            "operand": operand(rule, *number),
            "outcome": outcome.as_str(),
            "value": shown(path),
        }),
        Miss::Broken => json!({ "condition": "broken" }),
        _ => json!({ "condition": "other" }),
    }
}

fn decided_by(decision: &Decision) -> String {
    match (&decision.rule, decision.source) {
        (Some(rule), _) => format!("rule `{rule}`"),
        (None, DecisionSource::Declared) => "the requirement declared by the call".to_owned(),
        (None, _) => "the default requirement".to_owned(),
    }
}

fn outcome_text(outcome: &Result<Decision, PolicyError>, no_rules: bool) -> Vec<String> {
    let decision = match outcome {
        Ok(decision) => decision,
        Err(error) => return vec![format!("decision: fail closed: {error}")],
    };
    let mut lines = Vec::new();
    if decision.rule.is_none() {
        lines.push(if no_rules {
            "  the policy has no rules".to_owned()
        } else {
            "  no rule applies".to_owned()
        });
    }
    match &decision.verdict {
        Verdict::Allow => lines.push(format!("decision: allow (by {})", decided_by(decision))),
        Verdict::Refuse { reason } => lines.push(format!(
            "decision: refuse (by {}): {reason}",
            decided_by(decision)
        )),
        Verdict::RequireApproval(requirement) => {
            let approvers: Vec<&str> = requirement.approvers.iter().map(Identity::as_str).collect();
            lines.push(format!(
                "decision: approval required (by {})",
                decided_by(decision)
            ));
            lines.push(format!("  approvers: {}", approvers.join(", ")));
            lines.push(format!("  quorum: {}", requirement.quorum));
            lines.push(format!("  timeout: {}", duration(requirement.timeout)));
            if let Some(escalation) = &requirement.escalation {
                let to: Vec<&str> = escalation.approvers.iter().map(Identity::as_str).collect();
                lines.push(format!(
                    "  escalation: after {} to {}",
                    duration(escalation.after),
                    to.join(", ")
                ));
            }
            if requirement.deny_reason_required {
                lines.push("  a deny needs a reason".to_owned());
            }
        }
    }
    lines
}

fn outcome_json(outcome: &Result<Decision, PolicyError>) -> Value {
    let decision = match outcome {
        Ok(decision) => decision,
        Err(error) => return json!({ "verdict": "fail_closed", "error": error.to_string() }),
    };
    let mut value = json!({
        "verdict": decision.verdict.as_str(),
        "rule": decision.rule,
    });
    match &decision.verdict {
        Verdict::Refuse { reason } => value["reason"] = json!(reason),
        Verdict::RequireApproval(requirement) => {
            value["approvers"] = json!(requirement.approvers);
            value["quorum"] = json!(requirement.quorum);
            value["timeout"] = json!(duration(requirement.timeout));
            if let Some(escalation) = &requirement.escalation {
                value["escalation"] = json!({
                    "after": duration(escalation.after),
                    "to": escalation.approvers,
                });
            }
            value["deny_reason_required"] = json!(requirement.deny_reason_required);
        }
        _ => {}
    }
    value
}

fn duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

fn test(args: &TestArgs, out: &Out) -> u8 {
    let (policy, tests) = match Policy::from_toml_file_with_tests(&args.file) {
        Ok(loaded) => loaded,
        Err(error) => return load_failure(&error, out),
    };
    if tests.is_empty() {
        out.warn(format!("{} has no [[test]] tables", args.file.display()));
        return exit::OK;
    }
    let results: Vec<_> = tests.iter().map(|test| (test, test.run(&policy))).collect();
    let failed = results.iter().filter(|(_, result)| !result.passed).count();
    if args.format == Format::Json {
        let tests: Vec<Value> = results
            .iter()
            .map(|(test, result)| {
                let mut value = json!({
                    "name": test.name,
                    "passed": result.passed,
                    "expected": result.expected,
                    "actual": result.actual,
                });
                if let Some(location) = &test.location {
                    value["line"] = json!(location.line);
                }
                value
            })
            .collect();
        out.line(json!({
            "file": args.file.display().to_string(),
            "passed": results.len() - failed,
            "failed": failed,
            "tests": tests,
        }));
        return if failed > 0 { exit::FAILED } else { exit::OK };
    }
    for (test, result) in &results {
        if result.passed {
            out.line(format!(
                "{}  {}",
                out.paint(Tone::Good, "PASS"),
                clean(&test.name)
            ));
            continue;
        }
        let place = test
            .location
            .as_ref()
            .map_or_else(String::new, |location| format!(" ({location})"));
        out.line(format!(
            "{}  {}{place}",
            out.paint(Tone::Bad, "FAIL"),
            clean(&test.name)
        ));
        out.line(out.paint(
            Tone::Good,
            format!("      - expected: {}", clean(&result.expected)),
        ));
        out.line(out.paint(
            Tone::Bad,
            format!("      + actual:   {}", clean(&result.actual)),
        ));
    }
    let passed = tests.len() - failed;
    out.line(format!("{passed} passed, {failed} failed"));
    if failed > 0 { exit::FAILED } else { exit::OK }
}
