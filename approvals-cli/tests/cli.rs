//! The `approvals` binary, run end to end against real audit files and a
//! real HTTP API on loopback.

// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use approvals_backends::http::{HttpChannel, StaticTokens};
use approvals_backends::testing::MockChannel;
use approvals_core::audit::{JsonlAudit, MemoryAudit};
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::{ActionRequest, Error, Gate};

const ALICE: &str = "alice@example.com";
const AGENT: &str = "agent:ops-bot";
const ALICE_TOKEN: &str = "alice-token-0123456789";
const AGENT_TOKEN: &str = "agent-token-0123456789";
const SECRET_EMAIL: &str = "jane.doe@customer.example";

fn approvals(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_approvals"))
        .args(args)
        .env_remove("APPROVALS_URL")
        .env_remove("APPROVALS_TOKEN")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn policy() -> Policy {
    Policy::new()
        .rule(Rule::new("reads are free").action("crm.read").allow())
        .rule(
            Rule::new("purges need a reason").action("purge").require(
                RequirementBuilder::new()
                    .approvers([ALICE])
                    .deny_reason_required(true)
                    .timeout(Duration::from_secs(60)),
            ),
        )
        .rule(
            Rule::new("deploys need review").action("*").require(
                RequirementBuilder::new()
                    .approvers([ALICE])
                    .timeout(Duration::from_secs(60)),
            ),
        )
}

/// Writes a real audit log: one call allowed, one approved, one denied.
async fn write_log(path: &Path, key: Option<&[u8]>) {
    let mut builder = JsonlAudit::builder(path);
    if let Some(key) = key {
        builder = builder.hmac_key(key.to_vec());
    }
    let audit = std::sync::Arc::new(builder.open().unwrap());
    let gate = |approver: MockChannel| {
        Gate::builder()
            .policy(policy())
            .channel(approver)
            .audit(std::sync::Arc::clone(&audit))
            .build()
    };
    let args = serde_json::json!({"customer": SECRET_EMAIL});
    let approve = gate(MockChannel::approve_all().voting_as([AGENT, ALICE]));
    let deny = gate(MockChannel::deny_all("not during the freeze").voting_as([ALICE]));
    let ran = |request| {
        let approve = approve.clone();
        async move { approve.run(request, |_| async { Ok::<_, Error>(()) }).await }
    };
    ran(ActionRequest::new("crm.read", args.clone()).requester(AGENT))
        .await
        .unwrap();
    ran(ActionRequest::new("deploy", args.clone()).requester(AGENT))
        .await
        .unwrap();
    deny.run(
        ActionRequest::new("purge", args).requester(AGENT),
        |_| async { Ok::<_, Error>(()) },
    )
    .await
    .unwrap_err();
    audit.close().await.unwrap();
}

fn log_in(dir: &tempfile::TempDir, key: Option<&[u8]>) -> PathBuf {
    let path = dir.path().join("audit.jsonl");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(write_log(&path, key));
    path
}

#[test]
fn audit_verify_accepts_an_intact_log_and_names_the_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(&dir, None);
    let file = path.to_str().unwrap();

    let output = approvals(&["audit", "verify", file]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = std::fs::read_to_string(&path).unwrap();
    let count = lines.lines().count();
    assert!(stdout(&output).contains(&format!("ok {file}: {count} records verified")));
    assert!(!stdout(&output).contains('\u{1b}'), "no colour into a pipe");

    // Change the third record: it is named, by line and by sequence.
    let mut tampered: Vec<String> = lines.lines().map(str::to_owned).collect();
    tampered[2] = tampered[2].replacen("\"record\":{", "\"record\":{\"extra\":1,", 1);
    std::fs::write(&path, tampered.join("\n") + "\n").unwrap();
    let output = approvals(&["audit", "verify", file]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("FAILED"), "{text}");
    assert!(text.contains("record 3 (line 3) was changed"), "{text}");
    assert!(text.contains("the first bad record is on line 3"), "{text}");

    // Remove a record instead.
    let mut removed: Vec<&str> = lines.lines().collect();
    removed.remove(4);
    std::fs::write(&path, removed.join("\n") + "\n").unwrap();
    let output = approvals(&["audit", "verify", file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("record 5 was removed"),
        "{}",
        stdout(&output)
    );

    let output = approvals(&["audit", "verify", &format!("{file}.missing")]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("could not read"));
}

#[test]
fn audit_verify_takes_the_hmac_key_from_a_file_and_checks_a_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(&dir, Some(b"k3y-material"));
    let file = path.to_str().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k3y-material\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "other-key").unwrap();

    let output = approvals(&["audit", "verify", file, "--key-file", key.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    let head = text
        .split("head ")
        .nth(1)
        .unwrap()
        .trim_end_matches([')', '\n']);

    let output = approvals(&[
        "audit",
        "verify",
        file,
        "--key-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let output = approvals(&["audit", "verify", file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("--key-file"));

    let key_arg = key.to_str().unwrap();
    let output = approvals(&[
        "audit",
        "verify",
        file,
        "--key-file",
        key_arg,
        "--head",
        head,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    // Cut the last record: the chain alone still verifies, the head does not.
    let lines = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = lines.lines().collect();
    std::fs::write(&path, kept[..kept.len() - 1].join("\n") + "\n").unwrap();
    let output = approvals(&["audit", "verify", file, "--key-file", key_arg]);
    assert_eq!(output.status.code(), Some(0));
    let output = approvals(&[
        "audit",
        "verify",
        file,
        "--key-file",
        key_arg,
        "--head",
        head,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("records were removed from the end"),
        "{}",
        stdout(&output)
    );

    let output = approvals(&["audit", "verify", file, "--head", "nonsense"]);
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn audit_show_prints_a_readable_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(&dir, None);
    let file = path.to_str().unwrap();

    let output = approvals(&["audit", "show", file]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "requested  crm.read (risk medium) by agent:ops-bot, allow",
        "requested  deploy (risk medium) by agent:ops-bot, require approval: 1 of alice@example.com",
        "[rule: deploys need review]",
        "arguments  {\"customer\":\"EMAIL_",
        "vote       agent:ops-bot approves via mock (not counted: you cannot approve or deny your own request)",
        "vote       alice@example.com approves via mock (counted)",
        "concluded  approved by alice@example.com",
        "executed   ok",
        "vote       alice@example.com denies via mock (counted): not during the freeze",
        "concluded  denied by alice@example.com: not during the freeze",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains(SECRET_EMAIL));

    // One request, by the start of its id.
    let log = std::fs::read_to_string(&path).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().nth(3).unwrap()).unwrap();
    let id = first["record"]["request_id"].as_str().unwrap();
    let output = approvals(&["audit", "show", file, "--request", &id[..8]]);
    let text = stdout(&output);
    assert!(
        text.contains("deploy") && !text.contains("crm.read") && !text.contains("purge"),
        "{text}"
    );

    let output = approvals(&["audit", "show", file, "--since", "2999-01-01T00:00:00Z"]);
    assert_eq!(stdout(&output).trim(), "no records match");
    let output = approvals(&["audit", "show", file, "--since", "1h"]);
    assert!(stdout(&output).contains("crm.read"));
    let output = approvals(&["audit", "show", file, "--since", "yesterday-ish"]);
    assert_eq!(output.status.code(), Some(3));

    let output = approvals(&["--color", "always", "audit", "show", file]);
    assert!(stdout(&output).contains("\u{1b}[32m"), "colour when asked");
}

/// A gate whose channel is the HTTP API on loopback, in a runtime of its own.
struct Api {
    runtime: tokio::runtime::Runtime,
    gate: Gate,
    approver: HttpChannel,
    url: String,
}

impl Api {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let approver = HttpChannel::builder()
            .authenticator(
                StaticTokens::new()
                    .token(ALICE_TOKEN, ALICE)
                    .token(AGENT_TOKEN, AGENT),
            )
            .build()
            .unwrap();
        let gate = Gate::builder()
            .policy(policy())
            .channel(approver.clone())
            .audit(MemoryAudit::new())
            .build();
        let router = approver.router();
        let addr: SocketAddr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router).await });
            addr
        });
        Self {
            runtime,
            gate,
            approver,
            url: format!("http://{addr}/"),
        }
    }

    fn request(
        &self,
        action: &'static str,
    ) -> (String, tokio::task::JoinHandle<Result<(), Error>>) {
        let gate = self.gate.clone();
        let before = self.approver.pending().len();
        let handle = self.runtime.spawn(async move {
            let request = ActionRequest::new(action, serde_json::json!({"customer": SECRET_EMAIL}))
                .requester(AGENT)
                .description("Roll out a release");
            gate.run(request, |_| async { Ok(()) }).await
        });
        for _ in 0..500 {
            let pending = self.approver.pending();
            if pending.len() > before {
                let id = pending.into_iter().find(|v| v.action == action).unwrap().id;
                return (id.to_string(), handle);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the request never became pending");
    }

    fn run(&self, args: &[&str], token: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_approvals"))
            .args(args)
            .env("APPROVALS_URL", &self.url)
            .env("APPROVALS_TOKEN", token)
            .env_remove("NO_COLOR")
            .output()
            .unwrap()
    }
}

#[test]
fn pending_approve_and_deny_work_against_the_api() {
    let api = Api::start();
    let output = api.run(&["pending"], ALICE_TOKEN);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output).trim(), "no pending requests");

    let (deploy, deploy_call) = api.request("deploy");
    let output = api.run(&["pending"], ALICE_TOKEN);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(text.contains(&deploy), "{text}");
    assert!(text.contains("requester      agent:ops-bot"), "{text}");
    assert!(
        text.contains("arguments      {\"customer\":\"EMAIL_"),
        "{text}"
    );
    assert!(
        text.contains("approvals      0 of 1 from alice@example.com"),
        "{text}"
    );
    assert!(!text.contains(SECRET_EMAIL));
    let output = api.run(&["pending", "--json"], ALICE_TOKEN);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["requests"][0]["id"], deploy.as_str());

    // The requester cannot approve: not counted, exit 1.
    let output = api.run(&["approve", &deploy], AGENT_TOKEN);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output)
            .contains("not counted: you cannot approve or deny your own request (self_approval)"),
        "{}",
        stdout(&output)
    );
    // A wrong token: exit 4.
    let output = api.run(&["approve", &deploy], "wrong-token");
    assert_eq!(output.status.code(), Some(4));
    assert!(stderr(&output).contains("did not accept the token"));

    let output = api.run(&["approve", &deploy], ALICE_TOKEN);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("counted: the request is approved"));
    api.runtime.block_on(deploy_call).unwrap().unwrap();
    let output = api.run(&["approve", &deploy], ALICE_TOKEN);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("(already_concluded)"));

    // A deny that needs a reason.
    let (purge, purge_call) = api.request("purge");
    let output = api.run(&["pending"], ALICE_TOKEN);
    assert!(stdout(&output).contains("needs a reason (--reason)"));
    let output = api.run(&["deny", &purge], ALICE_TOKEN);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("(reason_required)"));
    let output = api.run(
        &["deny", &purge, "--reason", "not during the freeze"],
        ALICE_TOKEN,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("counted: the request is denied"));
    let denied = api.runtime.block_on(purge_call).unwrap();
    assert!(
        matches!(denied, Err(Error::Denied { reason: Some(r), .. }) if r == "not during the freeze")
    );

    let output = api.run(
        &["approve", "00000000-0000-4000-8000-000000000000"],
        ALICE_TOKEN,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("(unknown_request)"));
}

#[test]
fn remote_commands_report_an_unreachable_api_and_bad_arguments() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("http://{addr}");
    let output = approvals(&["pending", "--url", &url, "--token", "t"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("could not reach"),
        "{}",
        stderr(&output)
    );

    // Missing token: a usage error, exit 2.
    let output = approvals(&["pending", "--url", &url]);
    assert_eq!(output.status.code(), Some(2));
    let output = approvals(&["approve", "../../etc", "--url", &url, "--token", "t"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("is not a request id"));
}

#[test]
fn help_documents_the_exit_codes() {
    let output = approvals(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for expected in [
        "audit",
        "pending",
        "approve",
        "deny",
        "Exit codes:",
        "4  the API did not accept the token",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    let output = approvals(&["audit", "verify", "--help"]);
    assert!(stdout(&output).contains("--key-file <K>"));
}

/// Regression: a line of the log that was not an audit record was reported
/// with `serde_json`'s message, which quotes the value it refused (an email
/// in a record's field).
#[test]
fn audit_show_does_not_repeat_a_line_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(
        &path,
        format!(
            "{{\"record\": \"{SECRET_EMAIL}\"}}\n{{\"record\": {{\"request_id\": 5551234567}}}}\n--head 4111111111111111\n"
        ),
    )
    .unwrap();
    let output = approvals(&["audit", "show", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        said.contains("line 1 is not an audit record (a value of the wrong type"),
        "{said}"
    );
    assert!(
        said.contains("line 3 is not an audit record (not valid JSON"),
        "{said}"
    );
    for value in [SECRET_EMAIL, "5551234567", "4111111111111111"] {
        assert!(!said.contains(value), "{value} in {said}");
    }

    let output = approvals(&[
        "audit",
        "verify",
        path.to_str().unwrap(),
        "--head",
        SECRET_EMAIL,
    ]);
    assert_eq!(output.status.code(), Some(3));
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(said.contains("--head: expected SEQ:HASH"), "{said}");
    assert!(!said.contains(SECRET_EMAIL), "{said}");
}
