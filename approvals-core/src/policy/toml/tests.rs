//! Tests of the policy file format: the full example, and every load error
//! with the line (and column) it names.

use std::time::Duration;

use serde_json::json;

use crate::policy::{Decision, Escalation, Policy, PolicyError, PolicyInput, Requirement, Verdict};
use crate::{Identity, Risk};

const FULL_EXAMPLE: &str = r#"[groups]
data-governance = ["alice@example.com", "bob@example.com"]
sre-leads = ["carol@example.com"]

[default]                # unmatched actions
approvers = ["group:sre-leads"]
timeout = "30m"

[[rule]]
name = "small refunds"
action = "billing.refund"
when = [ { arg = "amount", lt = 100 } ]
effect = "allow"

[[rule]]
name = "exports"
action = "data.export*"
risk = ">= high"
effect = "require_approval"
approvers = ["group:data-governance", "dave@example.com"]
quorum = 2
timeout = "15m"
deny_reason_required = true
escalate = { after = "10m", to = ["group:sre-leads"] }

[[rule]]
name = "no drops"
action = "db.drop_*"
effect = "refuse"
reason = "agents never drop tables"
"#;

fn ids(names: &[&str]) -> Vec<Identity> {
    names.iter().map(Identity::new).collect()
}

fn decide(
    policy: &Policy,
    action: &str,
    risk: Risk,
    requester: &str,
    arguments: serde_json::Value,
) -> Decision {
    let requester = Identity::new(requester);
    policy
        .evaluate(&PolicyInput {
            action,
            risk,
            requester: &requester,
            arguments: &arguments,
        })
        .unwrap()
}

#[test]
fn the_full_example_loads_and_decides() {
    let policy = Policy::from_toml_str(FULL_EXAMPLE).unwrap();
    policy.validate().unwrap();
    let names: Vec<&str> = policy.rules().iter().map(|rule| rule.name()).collect();
    assert_eq!(names, ["small refunds", "exports", "no drops"]);

    let small = decide(
        &policy,
        "billing.refund",
        Risk::Medium,
        "agent:bot",
        json!({ "amount": 99.5 }),
    );
    assert_eq!(small.rule.as_deref(), Some("small refunds"));
    assert_eq!(small.verdict, Verdict::Allow);

    let large = decide(
        &policy,
        "billing.refund",
        Risk::Medium,
        "agent:bot",
        json!({ "amount": 100 }),
    );
    assert_eq!(large.rule, None);
    assert_eq!(
        large.verdict,
        Verdict::RequireApproval(Requirement {
            approvers: ids(&["carol@example.com"]),
            quorum: 1,
            timeout: Duration::from_secs(30 * 60),
            escalation: None,
            deny_reason_required: false,
            editable: None,
        })
    );

    let export = decide(
        &policy,
        "data.export_customers",
        Risk::Critical,
        "agent:bot",
        json!({}),
    );
    assert_eq!(export.rule.as_deref(), Some("exports"));
    assert_eq!(
        export.verdict,
        Verdict::RequireApproval(Requirement {
            approvers: ids(&["alice@example.com", "bob@example.com", "dave@example.com"]),
            quorum: 2,
            timeout: Duration::from_secs(15 * 60),
            escalation: Some(Escalation {
                after: Duration::from_secs(10 * 60),
                approvers: ids(&["carol@example.com"]),
            }),
            deny_reason_required: true,
            editable: None,
        })
    );
    // Below the risk threshold, the default applies.
    let low = decide(
        &policy,
        "data.export_customers",
        Risk::Medium,
        "agent:bot",
        json!({}),
    );
    assert_eq!(low.rule, None);

    let drop = decide(&policy, "db.drop_users", Risk::Low, "agent:bot", json!({}));
    assert_eq!(drop.rule.as_deref(), Some("no drops"));
    assert_eq!(
        drop.verdict,
        Verdict::Refuse {
            reason: "agents never drop tables".to_owned()
        }
    );
}

#[test]
fn lists_single_strings_and_every_operator_load() {
    let policy = Policy::from_toml_str(
        r#"
[groups]
bots = ["agent:a", "agent:b"]
approvers = ["x@x.io", "y@x.io"]

[[rule]]
name = "r"
action = ["crm.*", "erp.?"]
risk = "<= medium"
requester = "group:bots"
when = [
  { arg = "a", eq = "x" },
  { arg = "b", ne = 1 },
  { arg = "c", lt = 1 },
  { arg = "d", le = 1.5 },
  { arg = "e", gt = -1 },
  { arg = "f", ge = 0 },
  { arg = "g", in = ["p", "q"] },
  { arg = "h", matches = 'v\*?' },
  { arg = "i", exists = true },
  { arg = "j", absent = true },
  { arg = "k", exists = false },
  { arg = "l", absent = false },
  { arg = "m", eq = { n = [1, true] } },
]
effect = "require_approval"
approvers = "group:approvers"
escalate = { after = "1m", to = "z@x.io" }
"#,
    )
    .unwrap();
    let arguments = json!({
        "a": "x", "b": 2, "c": 0, "d": 1.5, "e": 0, "f": 0, "g": "q", "h": "v*1",
        "i": null, "l": 1, "m": { "n": [1.0, true] }
    });
    let decision = decide(&policy, "erp.1", Risk::Low, "agent:b", arguments.clone());
    assert_eq!(decision.rule.as_deref(), Some("r"));
    let Verdict::RequireApproval(requirement) = decision.verdict else {
        panic!("expected require_approval");
    };
    assert_eq!(requirement.approvers, ids(&["x@x.io", "y@x.io"]));
    assert_eq!(requirement.escalation.unwrap().approvers, ids(&["z@x.io"]));

    // Each predicate matters: breaking one makes the rule not apply.
    for key in [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
    ] {
        let mut changed = arguments.clone();
        match key {
            "b" => changed[key] = json!(1),
            // exists, and `absent = false`: remove the value.
            "i" | "l" => {
                changed.as_object_mut().unwrap().remove(key);
            }
            // absent, and `exists = false`: add one.
            "j" | "k" => changed[key] = json!(0),
            _ => changed[key] = json!("changed!"),
        }
        let decision = Policy::evaluate(
            &policy,
            &PolicyInput {
                action: "erp.1",
                risk: Risk::Low,
                requester: &Identity::new("agent:b"),
                arguments: &changed,
            },
        );
        assert!(
            !matches!(decision, Ok(Decision { rule: Some(_), .. })),
            "changing `{key}` should stop the rule"
        );
    }
}

#[test]
fn an_empty_file_is_the_empty_policy() {
    let policy = Policy::from_toml_str("").unwrap();
    assert!(policy.rules().is_empty());
    let requester = Identity::new("bot");
    let error = policy
        .evaluate(&PolicyInput {
            action: "x",
            risk: Risk::Low,
            requester: &requester,
            arguments: &json!({}),
        })
        .unwrap_err();
    assert!(matches!(
        error,
        PolicyError::QuorumUnreachable { rule: None, .. }
    ));
}

/// Loads `lines` (line 1 first) and returns the error.
fn error(lines: &[&str]) -> PolicyError {
    match Policy::from_toml_str(&lines.join("\n")) {
        Ok(policy) => panic!("expected an error, loaded {policy:?}"),
        Err(error) => error,
    }
}

/// Asserts a `Parse` error at `line` (and `column` if given) whose message
/// contains `fragment`.
#[track_caller]
fn assert_parse(lines: &[&str], line: usize, column: Option<usize>, fragment: &str) {
    let error = error(lines);
    assert!(
        matches!(error, PolicyError::Parse { .. }),
        "not a parse error: {error:?}"
    );
    assert_at(&error, line, column, fragment);
}

/// Asserts an `Invalid` error at `line` (and `column` if given) whose
/// message contains `fragment`.
#[track_caller]
fn assert_invalid(lines: &[&str], line: usize, column: Option<usize>, fragment: &str) {
    let error = error(lines);
    assert!(
        matches!(error, PolicyError::Invalid { .. }),
        "not an invalid-policy error: {error:?}"
    );
    assert_at(&error, line, column, fragment);
}

#[track_caller]
fn assert_at(error: &PolicyError, line: usize, column: Option<usize>, fragment: &str) {
    let location = error.location().unwrap();
    let text = error.to_string();
    assert_eq!(location.line, line, "wrong line for: {text}");
    if let Some(column) = column {
        assert_eq!(location.column, column, "wrong column for: {text}");
    }
    assert!(
        text.contains(fragment),
        "`{text}` does not contain `{fragment}`"
    );
    assert!(
        text.starts_with(&format!(
            "line {}, column {}: ",
            location.line, location.column
        )),
        "{text}"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    assert_parse(
        &["[groups]", "a = [\"x\"]", "[[rule]", "name = \"r\""],
        3,
        Some(8),
        "expected `]`",
    );
    assert_parse(
        &["[[rule]]", "name = \"r\"", "effect = allow"],
        3,
        Some(10),
        "",
    );
    assert_parse(
        &["[groups]", "a = [\"x\"]", "a = [\"y\"]"],
        3,
        None,
        "duplicate key",
    );
}

#[test]
fn unknown_keys_name_the_line() {
    assert_parse(&["version = 2"], 1, Some(1), "unknown field `version`");
    assert_parse(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"require_approval\"",
            "aprovers = [\"a\"]",
        ],
        4,
        Some(1),
        "unknown field `aprovers`",
    );
    assert_parse(
        &[
            "[[rule]]",
            "name = \"r\"",
            "when = [ { arg = \"a\", lt = 1, below = 2 } ]",
            "effect = \"allow\"",
        ],
        3,
        Some(31),
        "unknown field `below`",
    );
    assert_parse(
        &[
            "[default]",
            "approvers = [\"a\"]",
            "escalate = { after = \"1m\", too = [\"b\"] }",
        ],
        3,
        Some(28),
        "unknown field `too`",
    );
}

#[test]
fn wrong_types_and_missing_keys_name_the_line() {
    assert_parse(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"require_approval\"",
            "approvers = [\"a\", \"b\"]",
            "quorum = \"two\"",
        ],
        5,
        Some(10),
        "a value of the wrong type, expected u32",
    );
    assert_parse(
        &[
            "[[rule]]",
            "name = \"r\"",
            "action = 5",
            "effect = \"allow\"",
        ],
        3,
        Some(10),
        "expected a string or an array of strings",
    );
    assert_parse(&["[groups]", "sre = \"carol\""], 2, Some(7), "wrong type");
    assert_parse(
        &["", "[[rule]]", "name = \"r\""],
        2,
        Some(1),
        "missing field `effect`",
    );
    assert_parse(
        &["[default]", "timeout = \"1m\""],
        1,
        Some(1),
        "missing field `approvers`",
    );
    assert_parse(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [ { lt = 1 } ]",
        ],
        4,
        None,
        "missing field `arg`",
    );
}

#[test]
fn unknown_effects_name_the_line() {
    assert_invalid(
        &["[[rule]]", "name = \"r\"", "effect = \"permit\""],
        3,
        Some(10),
        "rule `r`: unknown effect `permit`, expected `allow`, `refuse` or `require_approval`",
    );
}

#[test]
fn keys_of_another_effect_name_the_line() {
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "quorum = 2",
        ],
        4,
        Some(10),
        "rule `r`: `quorum` does not apply to effect \"allow\"",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"require_approval\"",
            "approvers = [\"a\"]",
            "reason = \"x\"",
        ],
        5,
        None,
        "`reason` does not apply to effect \"require_approval\"",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"refuse\"",
            "reason = \"x\"",
            "approvers = [\"a\"]",
        ],
        5,
        None,
        "`approvers` does not apply to effect \"refuse\"",
    );
    assert_invalid(
        &["[[rule]]", "name = \"r\"", "effect = \"refuse\""],
        3,
        None,
        "rule `r`: effect \"refuse\" needs a `reason`",
    );
    assert_invalid(
        &["[[rule]]", "name = \"r\"", "effect = \"require_approval\""],
        3,
        None,
        "rule `r`: effect \"require_approval\" needs `approvers`",
    );
}

#[test]
fn bad_risks_name_the_line() {
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "risk = \">= severe\"",
            "effect = \"allow\"",
        ],
        3,
        Some(8),
        "rule `r`: invalid risk `>= severe`",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "risk = \"> high\"",
            "effect = \"allow\"",
        ],
        3,
        None,
        "invalid risk",
    );
}

#[test]
fn bad_durations_name_the_line() {
    assert_invalid(
        &["[default]", "approvers = [\"a\"]", "timeout = \"soon\""],
        3,
        Some(11),
        "the default requirement: invalid timeout `soon`",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"require_approval\"",
            "approvers = [\"a\"]",
            "escalate = { to = [\"b\"],",
            "             after = \"10\" }",
        ],
        6,
        Some(22),
        "rule `r`: invalid escalation delay `10`",
    );
    assert_invalid(
        &["[default]", "approvers = [\"a\"]", "timeout = \"0s\""],
        3,
        Some(11),
        "timeout must be longer than zero",
    );
    assert_invalid(
        &[
            "[default]",
            "approvers = [\"a\"]",
            "timeout = \"10m\"",
            "escalate = { after = \"10m\", to = \"b\" }",
        ],
        4,
        Some(22),
        "escalation after 10m would never happen: the request times out after 10m",
    );
}

#[test]
fn bad_quorums_name_the_line() {
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"require_approval\"",
            "approvers = [\"a\"]",
            "quorum = 0",
        ],
        5,
        Some(10),
        "rule `r`: quorum must be at least 1",
    );
    assert_invalid(
        &[
            "[groups]",
            "pair = [\"a\", \"b\", \"a\"]",
            "[[rule]]",
            "name = \"r\"",
            "effect = \"require_approval\"",
            "approvers = [\"group:pair\", \"B\"]",
            "quorum = 3",
        ],
        7,
        Some(10),
        "rule `r`: quorum 3 cannot be reached: only 2 distinct approvers are named",
    );
    // Escalation approvers count; the quorum key is absent, so the approver
    // list is named.
    assert_invalid(
        &["[default]", "approvers = []", "timeout = \"1m\""],
        2,
        Some(13),
        "the default requirement: quorum 1 cannot be reached: only 0 distinct approvers are named",
    );
    Policy::from_toml_str(
        "[default]\napprovers = [\"a\"]\nquorum = 2\nescalate = { after = \"1m\", to = [\"b\"] }",
    )
    .unwrap();
}

#[test]
fn unknown_groups_name_the_line() {
    let lines = [
        "[groups]",
        "data-governance = [\"alice@example.com\"]",
        "sre-leads = [\"carol@example.com\"]",
        "",
        "[[rule]]",
        "name = \"exports\"",
        "action = \"data.export*\"",
        "effect = \"require_approval\"",
        "approvers = [",
        "  \"dave@example.com\",",
        "  \"group:data-gov\",",
        "]",
    ];
    let error = error(&lines);
    assert_at(
        &error,
        11,
        Some(3),
        "unknown group `data-gov` in rule `exports` (defined groups: data-governance, sre-leads)",
    );
    assert_eq!(
        error.to_string(),
        "line 11, column 3: unknown group `data-gov` in rule `exports` (defined groups: data-governance, sre-leads)"
    );

    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "requester = [\"a\", \"group:bots\"]",
            "effect = \"allow\"",
        ],
        3,
        Some(19),
        "unknown group `bots` in rule `r` (no groups are defined)",
    );
    assert_invalid(
        &[
            "[groups]",
            "a = [\"x\"]",
            "[default]",
            "approvers = \"group:a\"",
            "escalate = { after = \"1m\", to = [\"group:b\"] }",
        ],
        5,
        Some(34),
        "unknown group `b` in the default requirement (defined groups: a)",
    );
    assert_invalid(
        &[
            "[groups]",
            "outer = [",
            "  \"alice@x.io\",",
            "  \"group:inner\",",
            "]",
        ],
        4,
        Some(3),
        "group `outer`: member `group:inner` is a group; groups list identities only",
    );
}

#[test]
fn invalid_patterns_name_the_line() {
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "action = [\"db.read\", \"db.{drop,truncate}_*\"]",
            "effect = \"allow\"",
        ],
        3,
        Some(22),
        "rule `r`: invalid action pattern `db.{drop,truncate}_*`: `{` is reserved",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "action = \"\"",
            "effect = \"allow\"",
        ],
        3,
        Some(10),
        "action pattern is empty",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [{ arg = \"title\", matches = \"[draft]*\" }]",
        ],
        4,
        Some(36),
        "rule `r`: invalid pattern in `matches` on `title`",
    );
}

#[test]
fn predicates_need_exactly_one_operator() {
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [",
            "  { arg = \"amount\" },",
            "]",
        ],
        5,
        Some(3),
        "rule `r`: predicate on `amount` has no operator; give one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `in`, `matches`, `exists` or `absent`",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [{ arg = \"amount\", lt = 100, gt = 0 }]",
        ],
        4,
        Some(42),
        "rule `r`: predicate on `amount` has more than one operator (`lt` and `gt`)",
    );
}

#[test]
fn bad_predicate_operands_name_the_line() {
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [{ arg = \"amount\", lt = \"100\" }]",
        ],
        4,
        Some(32),
        "rule `r`: `lt` on `amount` needs a number",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [{ arg = \"day\", eq = 1979-05-27 }]",
        ],
        4,
        Some(29),
        "rule `r`: `eq` on `day`: dates are not supported",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [{ arg = \"x\", in = [] }]",
        ],
        4,
        Some(27),
        "`in` on `x` lists no values",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [{ arg = \"a..b\", exists = true }]",
        ],
        4,
        Some(17),
        "rule `r`: argument path `a..b` has an empty segment",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"allow\"",
            "when = [{ arg = \"x\", gt = nan }]",
        ],
        4,
        Some(27),
        "only finite numbers are supported",
    );
}

#[test]
fn duplicate_and_empty_rule_names_name_the_line() {
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"same\"",
            "effect = \"allow\"",
            "[[rule]]",
            "name = \"same\"",
            "effect = \"refuse\"",
            "reason = \"no\"",
        ],
        5,
        Some(8),
        "rule `same` is defined twice (rules 1 and 2)",
    );
    assert_invalid(
        &["[[rule]]", "name = \"\"", "effect = \"allow\""],
        2,
        Some(8),
        "the rule name is empty",
    );
    assert_invalid(
        &[
            "[[rule]]",
            "name = \"r\"",
            "effect = \"refuse\"",
            "reason = \"\"",
        ],
        4,
        Some(10),
        "the refusal reason is empty",
    );
}

#[test]
fn files_are_named_in_errors() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("policy.toml");
    let lines = [
        "[groups]",
        "data-governance = [\"alice@example.com\", \"bob@example.com\"]",
        "sre-leads = [\"carol@example.com\"]",
        "",
        "[[rule]]",
        "name = \"exports\"",
        "action = \"data.export*\"",
        "risk = \">= high\"",
        "effect = \"require_approval\"",
        "quorum = 2",
        "approvers = [",
        "        \"group:data-gov\", \"dave@example.com\"]",
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let error = Policy::from_toml_file(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:12:9: unknown group `data-gov` in rule `exports` (defined groups: data-governance, sre-leads)",
            path.display()
        )
    );
    assert_eq!(
        error.location().unwrap().file.as_deref(),
        Some(path.as_path())
    );

    std::fs::write(&path, "[[rule]]\nname = \"r\"\nefect = \"allow\"\n").unwrap();
    let error = Policy::from_toml_file(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}:3:1: unknown field `efect`", path.display())),
        "{error}"
    );

    std::fs::write(&path, FULL_EXAMPLE).unwrap();
    assert_eq!(Policy::from_toml_file(&path).unwrap().rules().len(), 3);

    let missing = directory.path().join("missing.toml");
    let error = Policy::from_toml_file(&missing).unwrap_err();
    assert!(matches!(&error, PolicyError::Io { path, .. } if *path == missing));
    assert!(
        error.to_string().starts_with("cannot read policy file "),
        "{error}"
    );
    assert!(error.location().is_none());
}
