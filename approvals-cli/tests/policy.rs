//! `approvals policy check`, `explain` and `test`, run as the binary on
//! policy files written for each test.

// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const SECRET_EMAIL: &str = "jane.doe@customer.example";

const POLICY: &str = r#"
[groups]
finance = ["alice@example.com", "bob@example.com"]

[[rule]]
name = "vip refunds"
action = "billing.refund"
when = [ { arg = "customer.email", eq = "vip@example.com" } ]
effect = "allow"

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
timeout = "1h"
escalate = { after = "30m", to = ["carol@example.com"] }

[[rule]]
name = "no drops"
action = "db.drop_*"
effect = "refuse"
reason = "agents never drop tables"

[[test]]
name = "a small refund runs freely"
action = "billing.refund"
args = { amount = 20 }
requester = "agent:support-bot"
expect = "allow"

[[test]]
name = "a large refund needs two of finance"
action = "billing.refund"
args = '{"amount": 2500}'
requester = "agent:support-bot"
expect = { approvers = ["group:finance"], quorum = 2 }
rule = "refunds"
"#;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path: PathBuf = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

fn approvals(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_approvals"))
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("APPROVALS_MASK_KEY")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

#[test]
fn check_passes_a_sound_policy() {
    let files = Files::new();
    let policy = files.write("policy.toml", POLICY);
    let output = approvals(&["policy", "check", &policy]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{policy}: no problems found\n"));
}

#[test]
fn check_reports_errors_and_warnings_with_rule_and_line() {
    let files = Files::new();
    let policy = files.write(
        "bad.toml",
        r#"[groups]
finance = ["alice@example.com", "bob@example.com"]

[[rule]]
name = "billing"
action = "billing.*"
effect = "require_approval"
approvers = ["group:finance"]

[[rule]]
name = "refunds"
action = "billing.refund"
effect = "refuse"
reason = "no"

[[rule]]
name = "big exports"
action = "data.export"
effect = "require_approval"
approvers = ["group:finance"]
quorum = 3

[[rule]]
name = "odd"
when = [ { arg = "amount", lt = 10 }, { arg = "amount", gt = 20 } ]
effect = "allow"
"#,
    );
    let output = approvals(&["policy", "check", &policy]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{policy}:11:8: warning[shadowed]: rule 2 `refunds` never decides: rule 1 `billing` comes first and applies to every call it applies to"
            ),
            format!(
                "{policy}:21:10: error[invalid]: rule `big exports`: quorum 3 cannot be reached: only 2 distinct approvers are named (escalation included)"
            ),
            format!(
                "{policy}:24:8: warning[unreachable]: rule 4 `odd` can never apply: its predicates 1 (`amount` lt) and 2 (`amount` gt) cannot both hold"
            ),
            format!("{policy}: 1 error, 2 warnings"),
        ]
    );

    let output = approvals(&["policy", "check", &policy, "--format", "json"]);
    assert_eq!(code(&output), 1);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["errors"], 1);
    assert_eq!(report["warnings"], 2);
    let shadowed = &report["findings"][0];
    assert_eq!(shadowed["kind"], "shadowed");
    assert_eq!(shadowed["rule"]["number"], 2);
    assert_eq!(shadowed["by"]["name"], "billing");
    assert_eq!(shadowed["line"], 11);
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let files = Files::new();
    let policy = files.write(
        "shadowed.toml",
        r#"[[rule]]
name = "all"
effect = "allow"

[[rule]]
name = "reads"
action = "crm.read"
effect = "allow"
"#,
    );
    let output = approvals(&["policy", "check", &policy]);
    assert_eq!(code(&output), 0);
    assert!(
        stdout(&output).contains("0 errors, 1 warning"),
        "{}",
        stdout(&output)
    );
    let output = approvals(&["policy", "check", "--deny-warnings", &policy]);
    assert_eq!(code(&output), 5);
}

#[test]
fn check_reports_a_file_that_does_not_load_and_one_that_does_not_exist() {
    let files = Files::new();
    let policy = files.write(
        "typo.toml",
        "[[rule]]\nname = \"r\"\neffect = \"allow\"\naction = \"a\"\nrisky = \"high\"\n",
    );
    let output = approvals(&["policy", "check", &policy]);
    assert_eq!(code(&output), 1);
    assert!(
        stdout(&output).starts_with(&format!(
            "{policy}:5:1: error[parse]: unknown field `risky`"
        )),
        "{}",
        stdout(&output)
    );
    let output = approvals(&["policy", "check", "/nonexistent/policy.toml"]);
    assert_eq!(code(&output), 3);
    assert!(stderr(&output).contains("cannot read policy file"));
}

#[test]
fn explain_tells_why_each_rule_did_not_apply_with_values_masked() {
    let files = Files::new();
    let policy = files.write("policy.toml", POLICY);
    let args = format!(r#"{{"amount": 2500, "customer": {{"email": "{SECRET_EMAIL}"}}}}"#);
    let output = approvals(&[
        "policy",
        "explain",
        &policy,
        "--action",
        "billing.refund",
        "--args",
        &args,
        "--requester",
        "agent:support-bot",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains(SECRET_EMAIL), "{text}");
    assert!(!text.contains("vip@example.com"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "call: billing.refund, risk medium, requester agent:support-bot"
    );
    assert_eq!(lines[1], "  rule 1 `vip refunds`: does not apply");
    assert!(
        lines[2].starts_with("    - `customer.email` eq \"EMAIL_")
            && lines[2].contains("does not hold (value: \"EMAIL_"),
        "{}",
        lines[2]
    );
    assert_eq!(
        &lines[3..],
        [
            "  rule 2 `small refunds`: does not apply",
            "    - `amount` lt 100: does not hold (value: 2500)",
            "  rule 3 `refunds`: applies",
            "decision: approval required (by rule `refunds`)",
            "  approvers: alice@example.com, bob@example.com",
            "  quorum: 2",
            "  timeout: 1h",
            "  escalation: after 30m to carol@example.com",
        ]
    );

    let output = approvals(&[
        "policy",
        "explain",
        &policy,
        "--action",
        "db.drop_users",
        "--format",
        "json",
    ]);
    assert_eq!(code(&output), 0);
    let explanation: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(explanation["decision"]["verdict"], "refuse");
    assert_eq!(
        explanation["decision"]["reason"],
        "agents never drop tables"
    );
    assert_eq!(explanation["rules"][0]["misses"][0]["condition"], "action");
    assert_eq!(explanation["rules"][3]["applies"], true);

    let output = approvals(&[
        "policy",
        "explain",
        &policy,
        "--action",
        "billing.refund",
        "--args",
        &args,
        "--format",
        "json",
    ]);
    assert_eq!(code(&output), 0);
    assert!(!stdout(&output).contains(SECRET_EMAIL));
    let explanation: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let vip = &explanation["rules"][0]["misses"][0];
    assert_eq!(vip["outcome"], "fails");
    assert!(
        vip["value"].as_str().unwrap().starts_with("EMAIL_"),
        "{vip}"
    );
    let small = &explanation["rules"][1]["misses"][0];
    assert_eq!(small["value"], 2500);
    assert_eq!(small["operand"], 100);
    assert_eq!(explanation["decision"]["quorum"], 2);
    assert_eq!(explanation["decision"]["rule"], "refunds");

    let output = approvals(&["policy", "explain", &policy, "--action", "x", "--args", "{"]);
    assert_eq!(code(&output), 2);
}

#[test]
fn test_runs_the_test_tables_and_shows_each_failure() {
    let files = Files::new();
    let policy = files.write("policy.toml", POLICY);
    let output = approvals(&["policy", "test", &policy]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert_eq!(
        stdout(&output),
        "PASS  a small refund runs freely\nPASS  a large refund needs two of finance\n2 passed, 0 failed\n"
    );

    let failing = format!(
        "{POLICY}\n[[test]]\nname = \"drops need approval\"\naction = \"db.drop_table\"\nrequester = \"agent:support-bot\"\nexpect = \"require_approval\"\n"
    );
    let policy = files.write("failing.toml", &failing);
    let output = approvals(&["policy", "test", &policy]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[2..],
        [
            format!("FAIL  drops need approval ({policy}:47:1)").as_str(),
            "      - expected: require_approval",
            "      + actual:   refuse: agents never drop tables [rule `no drops`]",
            "2 passed, 1 failed",
        ]
    );

    let output = approvals(&["policy", "test", &policy, "--format", "json"]);
    assert_eq!(code(&output), 1);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["passed"], 2);
    assert_eq!(report["failed"], 1);
    let failure = &report["tests"][2];
    assert_eq!(failure["passed"], false);
    assert_eq!(failure["expected"], "require_approval");
    assert_eq!(failure["line"], 47);
}

#[test]
fn audit_show_and_verify_read_shadow_records() {
    use approvals_core::RequestId;
    use approvals_core::audit::{
        AuditEvent, AuditRecord, AuditSink, JsonlAudit, PolicyDecisionRecord,
    };

    let files = Files::new();
    let log = files.dir.path().join("audit.jsonl");
    let decision = |verdict: &str, rule: &str, quorum: Option<u32>| PolicyDecisionRecord {
        verdict: verdict.to_owned(),
        rule: Some(rule.to_owned()),
        approvers: if quorum.is_some() {
            vec!["alice@example.com".into(), "bob@example.com".into()]
        } else {
            Vec::new()
        },
        quorum,
        reason: None,
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let audit = JsonlAudit::open(&log).unwrap();
            let record = AuditRecord::now(
                RequestId::random(),
                AuditEvent::ShadowDisagreement {
                    current: decision("allow", "reads", None),
                    candidate: decision("require_approval", "reads need finance", Some(2)),
                },
            );
            audit.record(&record).await.unwrap();
            audit.close().await.unwrap();
        });
    let log = log.to_str().unwrap();
    let output = approvals(&["audit", "verify", log]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let output = approvals(&["audit", "show", log, "--color", "never"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).contains(
            "shadow     policy: allow [rule: reads]; candidate would: require approval: 2 of alice@example.com, bob@example.com [rule: reads need finance]"
        ),
        "{}",
        stdout(&output)
    );
}
