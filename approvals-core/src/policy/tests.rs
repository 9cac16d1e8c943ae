//! Tests of policies built in code: rule order, matching, groups, the
//! default requirement, quorum reachability and validation.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::Risk;

fn id(name: &str) -> Identity {
    Identity::new(name)
}

fn ids(names: &[&str]) -> Vec<Identity> {
    names.iter().map(|name| id(name)).collect()
}

fn minutes(count: u64) -> Duration {
    Duration::from_secs(count * 60)
}

/// Evaluates a call by `requester`.
fn decide(
    policy: &Policy,
    action: &str,
    risk: Risk,
    requester: &str,
    arguments: Value,
) -> Result<Decision, PolicyError> {
    let requester = id(requester);
    policy.evaluate(&PolicyInput {
        action,
        risk,
        requester: &requester,
        arguments: &arguments,
    })
}

fn rule_of(decision: Result<Decision, PolicyError>) -> Option<String> {
    decision.unwrap().rule
}

fn requirement(decision: Result<Decision, PolicyError>) -> Requirement {
    match decision.unwrap().verdict {
        Verdict::RequireApproval(requirement) => requirement,
        other => panic!("expected require_approval, got {other:?}"),
    }
}

#[test]
fn policy_is_clone_send_sync_debug() {
    fn policy_traits<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
    fn error_traits<T: std::error::Error + Send + Sync + 'static>() {}
    policy_traits::<Policy>();
    error_traits::<PolicyError>();
}

#[test]
fn first_matching_rule_wins() {
    let policy = Policy::new()
        .rule(
            Rule::new("small refunds")
                .action("billing.refund")
                .when(Arg::path("amount").lt(100))
                .allow(),
        )
        .rule(
            Rule::new("refunds")
                .action("billing.*")
                .require(RequirementBuilder::new().approvers(["finance@x.io"])),
        )
        .rule(
            Rule::new("never reached for refunds")
                .action("billing.refund")
                .refuse("no"),
        )
        .rule(Rule::new("everything else").refuse("not on the list"));

    let small = decide(
        &policy,
        "billing.refund",
        Risk::Low,
        "bot",
        json!({ "amount": 5 }),
    )
    .unwrap();
    assert_eq!(small.rule.as_deref(), Some("small refunds"));
    assert_eq!(small.verdict, Verdict::Allow);

    let large = decide(
        &policy,
        "billing.refund",
        Risk::Low,
        "bot",
        json!({ "amount": 500 }),
    );
    assert_eq!(rule_of(large), Some("refunds".to_owned()));

    // Missing amount: the allow rule does not apply (fail closed).
    let missing = decide(&policy, "billing.refund", Risk::Low, "bot", json!({}));
    assert_eq!(rule_of(missing), Some("refunds".to_owned()));
    let mistyped = decide(
        &policy,
        "billing.refund",
        Risk::Low,
        "bot",
        json!({ "amount": "5" }),
    );
    assert_eq!(rule_of(mistyped), Some("refunds".to_owned()));

    let other = decide(&policy, "db.query", Risk::Low, "bot", json!({})).unwrap();
    assert_eq!(other.rule.as_deref(), Some("everything else"));
    assert_eq!(
        other.verdict,
        Verdict::Refuse {
            reason: "not on the list".to_owned()
        }
    );
}

#[test]
fn risk_conditions() {
    let policy = Policy::new()
        .rule(
            Rule::new("critical")
                .risk(Risk::Critical)
                .refuse("too risky"),
        )
        .rule(
            Rule::new("high")
                .risk_at_least(Risk::High)
                .require(RequirementBuilder::new().approvers(["a@x.io"])),
        )
        .rule(Rule::new("low").risk_at_most(Risk::Low).allow())
        .default_requirement(RequirementBuilder::new().approvers(["b@x.io"]));
    let rule_for = |risk| rule_of(decide(&policy, "x", risk, "bot", json!({})));
    assert_eq!(rule_for(Risk::Critical).as_deref(), Some("critical"));
    assert_eq!(rule_for(Risk::High).as_deref(), Some("high"));
    assert_eq!(rule_for(Risk::Medium), None);
    assert_eq!(rule_for(Risk::Low).as_deref(), Some("low"));
}

#[test]
fn requester_matching_through_groups() {
    let policy = Policy::new()
        .group("bots", ["agent:support-bot", "agent:billing-bot"])
        .rule(
            Rule::new("bots may read")
                .action("*.read")
                .requester("group:bots")
                .allow(),
        )
        .rule(
            Rule::new("ops may read")
                .action("*.read")
                .requester("ops@x.io")
                .allow(),
        )
        .default_requirement(RequirementBuilder::new().approvers(["a@x.io"]));
    policy.validate().unwrap();
    let rule_for = |who| rule_of(decide(&policy, "crm.read", Risk::Low, who, json!({})));
    assert_eq!(
        rule_for("agent:billing-bot").as_deref(),
        Some("bots may read")
    );
    assert_eq!(
        rule_for("Agent:Support-Bot").as_deref(),
        Some("bots may read")
    );
    assert_eq!(rule_for("ops@x.io").as_deref(), Some("ops may read"));
    assert_eq!(rule_for("agent:other"), None);
}

#[test]
fn groups_resolve_in_order_without_duplicates() {
    let policy = Policy::new()
        .group("sre", ["bob@x.io", "alice@x.io", "bob@x.io"])
        .group("leads", ["carol@x.io", "alice@x.io"])
        .rule(
            Rule::new("deploy").action("deploy").require(
                RequirementBuilder::new()
                    .approvers(["dave@x.io", "group:sre", "group:leads", "Dave@X.io"])
                    .escalate_after(minutes(5), ["group:leads", "erin@x.io", "carol@x.io"]),
            ),
        );
    policy.validate().unwrap();
    assert_eq!(
        policy.group_members("sre"),
        Some(&ids(&["bob@x.io", "alice@x.io"])[..])
    );
    assert_eq!(policy.group_names().collect::<Vec<_>>(), ["leads", "sre"]);
    let requirement = requirement(decide(&policy, "deploy", Risk::Low, "bot", json!({})));
    assert_eq!(
        requirement.approvers,
        ids(&["dave@x.io", "bob@x.io", "alice@x.io", "carol@x.io"])
    );
    let escalation = requirement.escalation.unwrap();
    assert_eq!(escalation.after, minutes(5));
    assert_eq!(
        escalation.approvers,
        ids(&["carol@x.io", "alice@x.io", "erin@x.io"])
    );
}

#[test]
fn requirement_settings_and_defaults() {
    let policy = Policy::new()
        .rule(
            Rule::new("plain")
                .action("plain")
                .require(RequirementBuilder::new().approvers(["a@x.io"])),
        )
        .rule(
            Rule::new("strict").action("strict").require(
                RequirementBuilder::new()
                    .approvers(["a@x.io", "b@x.io"])
                    .quorum(2)
                    .timeout(minutes(60))
                    .deny_reason_required(true),
            ),
        );
    let plain = requirement(decide(&policy, "plain", Risk::Low, "bot", json!({})));
    assert_eq!(
        plain,
        Requirement {
            approvers: ids(&["a@x.io"]),
            quorum: 1,
            timeout: minutes(15),
            escalation: None,
            deny_reason_required: false,
            editable: None,
        }
    );
    let strict = requirement(decide(&policy, "strict", Risk::Low, "bot", json!({})));
    assert_eq!(strict.quorum, 2);
    assert_eq!(strict.timeout, minutes(60));
    assert!(strict.deny_reason_required);
}

#[test]
fn configured_default_requirement_applies_to_unmatched_calls() {
    let policy = Policy::new()
        .group("sre-leads", ["carol@x.io"])
        .rule(Rule::new("reads").action("*.read").allow())
        .default_requirement(
            RequirementBuilder::new()
                .approvers(["group:sre-leads"])
                .timeout(minutes(30)),
        );
    let decision = decide(&policy, "db.write", Risk::Low, "bot", json!({}));
    let decision = decision.unwrap();
    assert_eq!(decision.rule, None);
    assert_eq!(
        decision.verdict,
        Verdict::RequireApproval(Requirement {
            approvers: ids(&["carol@x.io"]),
            quorum: 1,
            timeout: minutes(30),
            escalation: None,
            deny_reason_required: false,
            editable: None,
        })
    );
}

#[test]
fn empty_policy_fails_closed() {
    for policy in [Policy::new(), Policy::default()] {
        policy.validate().unwrap();
        let error = decide(&policy, "anything", Risk::Low, "bot", json!({})).unwrap_err();
        assert!(matches!(
            error,
            PolicyError::QuorumUnreachable {
                rule: None,
                eligible: 0,
                quorum: 1
            }
        ));
        assert_eq!(
            error.to_string(),
            "the default rule needs 1 approval but only 0 eligible approvers (other than the requester) exist"
        );
    }
    // Rules alone do not change the default for unmatched calls.
    let policy = Policy::new().rule(Rule::new("reads").action("*.read").allow());
    assert!(matches!(
        decide(&policy, "db.write", Risk::Low, "bot", json!({})),
        Err(PolicyError::QuorumUnreachable { rule: None, .. })
    ));
}

#[test]
fn quorum_unreachable_when_the_requester_is_one_of_two_approvers() {
    let policy = Policy::new()
        .group("pair", ["alice@x.io", "bob@x.io"])
        .rule(
            Rule::new("pair").action("deploy").require(
                RequirementBuilder::new()
                    .approvers(["group:pair"])
                    .quorum(2),
            ),
        );
    policy.validate().unwrap();
    let requirement = requirement(decide(
        &policy,
        "deploy",
        Risk::Low,
        "carol@x.io",
        json!({}),
    ));
    assert_eq!(requirement.approvers, ids(&["alice@x.io", "bob@x.io"]));

    let error = decide(&policy, "deploy", Risk::Low, "Alice@x.io", json!({})).unwrap_err();
    match error {
        PolicyError::QuorumUnreachable {
            rule,
            eligible,
            quorum,
        } => {
            assert_eq!(rule.as_deref(), Some("pair"));
            assert_eq!(eligible, 1);
            assert_eq!(quorum, 2);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn escalation_approvers_count_toward_the_quorum() {
    let policy = Policy::new().rule(
        Rule::new("r").require(
            RequirementBuilder::new()
                .approvers(["alice@x.io"])
                .quorum(2)
                .escalate_after(minutes(5), ["bob@x.io", "alice@x.io"]),
        ),
    );
    policy.validate().unwrap();
    assert_eq!(
        requirement(decide(&policy, "x", Risk::Low, "bot", json!({}))).quorum,
        2
    );
    assert!(matches!(
        decide(&policy, "x", Risk::Low, "bob@x.io", json!({})),
        Err(PolicyError::QuorumUnreachable { eligible: 1, .. })
    ));
}

#[test]
fn the_requester_stays_listed_but_does_not_count() {
    let policy = Policy::new().rule(
        Rule::new("r").require(RequirementBuilder::new().approvers(["alice@x.io", "bob@x.io"])),
    );
    let requirement = requirement(decide(&policy, "x", Risk::Low, "alice@x.io", json!({})));
    assert_eq!(requirement.approvers, ids(&["alice@x.io", "bob@x.io"]));
}

#[test]
fn unknown_groups_fail_closed_at_evaluation() {
    let policy = Policy::new()
        .group("sre", ["alice@x.io"])
        .rule(
            Rule::new("exports")
                .action("data.export")
                .require(RequirementBuilder::new().approvers(["group:data-gov"])),
        )
        .rule(
            Rule::new("reads")
                .action("*.read")
                .requester("group:readers")
                .allow(),
        );
    let error = policy.validate().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown group `data-gov` in rule `exports` (defined groups: sre)"
    );
    let error = decide(&policy, "data.export", Risk::Low, "bot", json!({})).unwrap_err();
    match &error {
        PolicyError::UnknownGroup {
            rule,
            group,
            defined,
        } => {
            assert_eq!(rule.as_deref(), Some("exports"));
            assert_eq!(group, "data-gov");
            assert_eq!(defined, &["sre".to_owned()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        decide(&policy, "crm.read", Risk::Low, "bot", json!({})),
        Err(PolicyError::UnknownGroup { .. })
    ));
    // A rule that does not apply is not in the way.
    assert!(matches!(
        decide(&policy, "crm.write", Risk::Low, "bot", json!({})),
        Err(PolicyError::QuorumUnreachable { rule: None, .. })
    ));

    let no_groups =
        Policy::new().default_requirement(RequirementBuilder::new().approvers(["group:x"]));
    assert_eq!(
        no_groups.validate().unwrap_err().to_string(),
        "unknown group `x` in the default requirement (no groups are defined)"
    );
    assert!(matches!(
        decide(&no_groups, "a", Risk::Low, "bot", json!({})),
        Err(PolicyError::UnknownGroup { rule: None, .. })
    ));
}

#[test]
fn malformed_rules_fail_validation_and_evaluation() {
    let cases: Vec<(Policy, &str)> = vec![
        (
            Policy::new().rule(
                Rule::new("r").require(RequirementBuilder::new().approvers(["a@x.io"]).quorum(0)),
            ),
            "rule `r`: quorum must be at least 1",
        ),
        (
            Policy::new().rule(
                Rule::new("r").require(RequirementBuilder::new().approvers(["a@x.io"]).quorum(2)),
            ),
            "rule `r`: quorum 2 cannot be reached: only 1 distinct approver is named (escalation included)",
        ),
        (
            Policy::new().rule(
                Rule::new("r").require(
                    RequirementBuilder::new()
                        .approvers(["a@x.io"])
                        .timeout(Duration::ZERO),
                ),
            ),
            "rule `r`: timeout must be longer than zero",
        ),
        (
            Policy::new().rule(
                Rule::new("r").require(
                    RequirementBuilder::new()
                        .approvers(["a@x.io"])
                        .escalate_after(minutes(20), ["b@x.io"]),
                ),
            ),
            "rule `r`: escalation after 20m would never happen: the request times out after 15m",
        ),
        (
            Policy::new().rule(Rule::new("r").action("db.[x]").allow()),
            "rule `r`: invalid action pattern `db.[x]`: `[` is reserved; write `\\[` to match it literally",
        ),
        (
            Policy::new().rule(Rule::new("r").when(Arg::path("a..b").exists()).allow()),
            "rule `r`: argument path `a..b` has an empty segment",
        ),
        (
            Policy::new().rule(Rule::new("r").refuse(" ")),
            "rule `r`: the refusal reason is empty",
        ),
        (
            Policy::new().default_requirement(RequirementBuilder::default()),
            "the default requirement: quorum 1 cannot be reached: only 0 distinct approvers are named (escalation included)",
        ),
    ];
    for (policy, message) in cases {
        assert_eq!(policy.validate().unwrap_err().to_string(), message);
        let error = decide(&policy, "x", Risk::Low, "bot", json!({})).unwrap_err();
        assert!(
            matches!(
                error,
                PolicyError::Invalid { location: None, .. } | PolicyError::QuorumUnreachable { .. }
            ),
            "{error:?}"
        );
    }
}

#[test]
fn evaluation_stops_at_a_malformed_rule_it_reaches() {
    let policy = Policy::new()
        .rule(Rule::new("reads").action("*.read").allow())
        .rule(
            Rule::new("broken")
                .action("db.{drop,truncate}")
                .refuse("no"),
        );
    assert_eq!(
        rule_of(decide(&policy, "crm.read", Risk::Low, "bot", json!({}))).as_deref(),
        Some("reads")
    );
    let error = decide(&policy, "db.drop", Risk::Low, "bot", json!({})).unwrap_err();
    assert!(matches!(error, PolicyError::Invalid { location: None, .. }));
}

#[test]
fn validation_of_names_and_groups() {
    let duplicate = Policy::new()
        .rule(Rule::new("same").action("a").allow())
        .rule(Rule::new("same").action("b").allow());
    assert_eq!(
        duplicate.validate().unwrap_err().to_string(),
        "rule `same` is defined twice (rules 1 and 2); rule names must be unique because the audit trail records them"
    );
    let nested = Policy::new().group("outer", ["alice@x.io", "group:inner"]);
    assert_eq!(
        nested.validate().unwrap_err().to_string(),
        "group `outer`: member `group:inner` is a group; groups list identities only"
    );
    let unnamed = Policy::new().rule(Rule::new("").allow());
    assert_eq!(
        unnamed.validate().unwrap_err().to_string(),
        "rule ``: the rule name is empty"
    );
}

#[test]
fn errors_and_decisions_never_show_arguments() {
    let secret = "4111-1111-1111-1111";
    let policy = Policy::new()
        .rule(
            Rule::new("cards")
                .action("pay")
                .when(Arg::path("card").matches("4*"))
                .require(
                    RequirementBuilder::new()
                        .approvers(["alice@x.io", "bob@x.io"])
                        .quorum(2),
                ),
        )
        .rule(Rule::new("broken").action("db.[x]").allow());
    let error = decide(
        &policy,
        "pay",
        Risk::Low,
        "alice@x.io",
        json!({ "card": secret }),
    )
    .unwrap_err();
    assert!(!format!("{error} {error:?}").contains(secret));
    let error = decide(
        &policy,
        "other",
        Risk::Low,
        "alice@x.io",
        json!({ "card": secret }),
    )
    .unwrap_err();
    assert!(!format!("{error} {error:?}").contains(secret));
    let decision = decide(
        &policy,
        "pay",
        Risk::Low,
        "carol@x.io",
        json!({ "card": secret }),
    )
    .unwrap();
    assert!(!format!("{decision:?} {policy:?}").contains(secret));
}

#[test]
fn rules_are_listed_in_order() {
    let policy = Policy::new()
        .rule(Rule::new("one").allow())
        .rule(Rule::new("two").refuse("no"));
    let names: Vec<&str> = policy.rules().iter().map(Rule::name).collect();
    assert_eq!(names, ["one", "two"]);
}

/// Evaluates a call by `requester` that declares `declared`.
fn decide_declared(
    policy: &Policy,
    action: &str,
    requester: &str,
    declared: &RequirementBuilder,
) -> Result<Decision, PolicyError> {
    let requester = id(requester);
    policy.evaluate_with(
        &PolicyInput {
            action,
            risk: Risk::High,
            requester: &requester,
            arguments: &Value::Null,
        },
        Some(declared),
    )
}

fn declared_precedence_policy() -> Policy {
    Policy::new()
        .group("data-governance", ["alice@x.io", "bob@x.io"])
        .rule(Rule::new("reads").action("crm.read_*").allow())
        .rule(
            Rule::new("refunds")
                .action("billing.refund")
                .require(RequirementBuilder::new().approvers(["finance@x.io"])),
        )
        .rule(Rule::new("no drops").action("db.drop_*").refuse("never"))
        .default_requirement(RequirementBuilder::new().approvers(["sre@x.io"]))
}

#[test]
fn a_matching_rule_wins_over_the_declared_requirement() {
    let policy = declared_precedence_policy();
    let declared = RequirementBuilder::new()
        .approvers(["group:data-governance"])
        .quorum(2);
    let allowed = decide_declared(&policy, "crm.read_record", "agent:bot", &declared).unwrap();
    assert_eq!(
        (allowed.source, allowed.verdict),
        (DecisionSource::Rule, Verdict::Allow)
    );
    let refused = decide_declared(&policy, "db.drop_table", "agent:bot", &declared).unwrap();
    assert_eq!(refused.verdict.as_str(), "refuse");
    let required = decide_declared(&policy, "billing.refund", "agent:bot", &declared);
    assert_eq!(
        requirement(required).approvers,
        ids(&["finance@x.io"]),
        "the rule's approvers, not the declared ones"
    );
}

#[test]
fn the_declared_requirement_wins_over_the_default() {
    let policy = declared_precedence_policy();
    let declared = RequirementBuilder::new()
        .approvers(["group:data-governance", "carol@x.io"])
        .quorum(2)
        .timeout(minutes(5));
    let decision = decide_declared(&policy, "data.export", "agent:bot", &declared).unwrap();
    assert_eq!(decision.source, DecisionSource::Declared);
    assert_eq!(decision.rule, None);
    let Verdict::RequireApproval(requirement) = decision.verdict else {
        panic!("expected require_approval");
    };
    assert_eq!(
        requirement.approvers,
        ids(&["alice@x.io", "bob@x.io", "carol@x.io"])
    );
    assert_eq!((requirement.quorum, requirement.timeout), (2, minutes(5)));

    // Without a declaration, the default applies.
    let default = decide(&policy, "data.export", Risk::High, "agent:bot", Value::Null).unwrap();
    assert_eq!(default.source, DecisionSource::Default);
    assert_eq!(requirement_of(default).approvers, ids(&["sre@x.io"]));
}

fn requirement_of(decision: Decision) -> Requirement {
    match decision.verdict {
        Verdict::RequireApproval(requirement) => requirement,
        other => panic!("expected require_approval, got {other:?}"),
    }
}

#[test]
fn a_declared_requirement_applies_even_without_a_default() {
    let policy = Policy::new().group("sre", ["alice@x.io"]);
    let declared = RequirementBuilder::new().approvers(["group:sre"]);
    let decision = decide_declared(&policy, "keys.rotate", "agent:bot", &declared).unwrap();
    assert_eq!(requirement_of(decision).approvers, ids(&["alice@x.io"]));
    // And with neither, the call fails closed.
    assert!(matches!(
        decide(&policy, "keys.rotate", Risk::High, "agent:bot", Value::Null),
        Err(PolicyError::QuorumUnreachable { rule: None, .. })
    ));
}

#[test]
fn a_declared_requirement_fails_closed_on_an_unknown_group_or_quorum() {
    let policy = declared_precedence_policy();
    let unknown = RequirementBuilder::new().approvers(["group:data-gov"]);
    let error = decide_declared(&policy, "data.export", "agent:bot", &unknown)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "unknown group `data-gov` in the requirement declared by the call (defined groups: data-governance)"
    );

    // alice asks: only bob is left, and two approvals are needed.
    let two = RequirementBuilder::new()
        .approvers(["group:data-governance"])
        .quorum(2);
    let error = decide_declared(&policy, "data.export", "alice@x.io", &two)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "the requirement declared by the call needs 2 approvals but only 1 eligible approver (other than the requester) exists"
    );

    let zero = RequirementBuilder::new().approvers(["bob@x.io"]).quorum(0);
    assert!(matches!(
        decide_declared(&policy, "data.export", "agent:bot", &zero),
        Err(PolicyError::Invalid { location: None, message }) if message == "the requirement declared by the call: quorum must be at least 1"
    ));
}
