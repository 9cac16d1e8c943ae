//! `approvals mcp proxy` end to end: a real rmcp client talks over stdio to
//! the command, which starts the example MCP server (`examples/mcp_server.rs`)
//! as its child; reviewers vote over the HTTP API on loopback.
//!
//! The example server appends each call it receives to a file, so every
//! test can check what reached it.
//!
//! `cargo test -p approvals-cli` builds the example; to run this file
//! alone: `cargo build -p approvals-cli --example mcp_server && cargo test
//! -p approvals-cli --test mcp`.

// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, NumberOrString, PingRequest,
    ProgressNotificationParam, ProgressToken, RequestMetaObject, ServerResult,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceError, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const OPS_TOKEN: &str = "ops-token-0123456789";
const AGENT_TOKEN: &str = "agent-token-0123456789";
const AGENT: &str = "agent:desktop";
const SECRET_EMAIL: &str = "jane.doe@customer.example";

const POLICY: &str = r#"
[default]
approvers = ["ops@example.com", "agent:desktop"]
timeout = "5m"

[[rule]]
name = "one-cent refunds expire at once"
action = "mcp.bank.refund"
when = [ { arg = "cents", eq = 1 } ]
effect = "require_approval"
approvers = ["ops@example.com"]
timeout = "1s"

[[rule]]
name = "no refunds to the competition"
action = "mcp.bank.refund"
when = [ { arg = "customer_email", matches = "*@competitor.example" } ]
effect = "refuse"
reason = "refunds to the competition are never made"

[[rule]]
name = "large refunds may be cut"
action = "mcp.bank.refund"
when = [ { arg = "cents", ge = 100000 } ]
effect = "require_approval"
approvers = ["ops@example.com"]
editable = ["cents"]
"#;

/// The example server, built beside the `approvals` binary.
fn example_server() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_approvals"));
    let server = bin
        .parent()
        .unwrap()
        .join("examples")
        .join(format!("mcp_server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        server.exists(),
        "the example MCP server is not built at {}: run `cargo test -p approvals-cli`, \
         or `cargo build -p approvals-cli --example mcp_server` first",
        server.display()
    );
    server
}

/// The client side: records the progress notifications it receives.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// A running `approvals mcp proxy` in front of the example server.
struct Gateway {
    dir: tempfile::TempDir,
    api: String,
    client: RunningService<RoleClient, Recorder>,
    recorder: Recorder,
    stderr: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl Gateway {
    async fn start() -> Self {
        Self::start_with(POLICY, &[example_server().into_os_string()]).await
    }

    async fn start_with(policy: &str, server: &[std::ffi::OsString]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
        std::fs::write(
            dir.path().join("tokens.txt"),
            format!("# reviewers\nops@example.com {OPS_TOKEN}\n{AGENT} {AGENT_TOKEN}\n"),
        )
        .unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_approvals"));
        command
            .current_dir(dir.path())
            .env("MCP_EXAMPLE_CALL_LOG", dir.path().join("calls.log"))
            .args([
                "mcp",
                "proxy",
                "--policy",
                "policy.toml",
                "--audit",
                "audit.jsonl",
            ])
            .args(["--requester", AGENT, "--progress-interval", "100ms"])
            .args([
                "--http-listen",
                "127.0.0.1:0",
                "--http-token-file",
                "tokens.txt",
            ])
            .arg("--")
            .args(server);
        let (transport, stderr) = TokioChildProcess::builder(command)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (url_tx, url_rx) = tokio::sync::oneshot::channel();
        let collected = Arc::new(Mutex::new(String::new()));
        let sink = collected.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr.unwrap()).lines();
            let mut url_tx = Some(url_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.split("listens on ").nth(1)
                    && let Some(tx) = url_tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let api = url_rx.await.expect("the proxy announces its API address");
        let recorder = Recorder::default();
        let client = recorder.clone().serve(transport).await.unwrap();
        Self {
            dir,
            api,
            client,
            recorder,
            stderr: collected,
            http: reqwest::Client::new(),
        }
    }

    /// The tool calls the server received.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.starts_with("call "))
            .map(str::to_owned)
            .collect()
    }

    fn server_pid(&self) -> u32 {
        let log = std::fs::read_to_string(self.dir.path().join("calls.log")).unwrap();
        let line = log
            .lines()
            .find(|line| line.starts_with("started "))
            .unwrap();
        line["started ".len()..].parse().unwrap()
    }

    async fn pending(&self) -> Vec<Value> {
        let answer: Value = self
            .http
            .get(format!("{}/v1/requests", self.api))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["requests"].as_array().unwrap().clone()
    }

    /// Waits until a request is pending, and returns it.
    async fn wait_pending(&self) -> Value {
        for _ in 0..1_000 {
            if let Some(request) = self.pending().await.into_iter().next() {
                return request;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "no request became pending; proxy said:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    async fn vote(
        &self,
        token: &str,
        request: &Value,
        choice: &str,
        reason: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({ "fingerprint": request["fingerprint"] });
        if let Some(reason) = reason {
            body["reason"] = json!(reason);
        }
        let answer = self
            .http
            .post(format!(
                "{}/v1/requests/{}/{choice}",
                self.api,
                request["id"].as_str().unwrap()
            ))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// Starts a call that will wait; the caller decides it.
    fn call_in_background(
        &self,
        params: CallToolRequestParams,
    ) -> tokio::task::JoinHandle<Result<CallToolResult, ServiceError>> {
        let peer = self.client.peer().clone();
        tokio::spawn(async move { peer.call_tool(params).await })
    }

    /// Closes the client's side; the proxy stops the server, closes the
    /// audit log and exits. Returns the audit log.
    async fn stop(self) -> String {
        let Self { dir, client, .. } = self;
        client.cancel().await.unwrap();
        std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap()
    }
}

fn call(tool: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_owned())
        .with_arguments(arguments.as_object().unwrap().clone())
}

fn refund(email: &str, cents: u64) -> CallToolRequestParams {
    call("refund", json!({ "customer_email": email, "cents": cents }))
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_tool_runs_without_review() {
    let gateway = Gateway::start().await;
    let tools = gateway.client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 2);
    let result = gateway
        .client
        .call_tool(call("get_balance", json!({ "account": "acc_1" })))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    assert!(text(&result).contains("125000"));
    assert_eq!(gateway.calls(), [r#"call get_balance {"account":"acc_1"}"#]);
    let audit = gateway.stop().await;
    assert!(audit.contains(r#""action":"mcp.bank.get_balance""#));
    assert!(audit.contains("allowed_by_policy"));
    assert!(audit.contains(approvals_mcp::READ_ONLY_RULE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destructive_tool_waits_for_approval_and_runs_once() {
    let gateway = Gateway::start().await;
    gateway.client.list_all_tools().await.unwrap();
    let mut params = refund(SECRET_EMAIL, 2_500);
    let mut meta = RequestMetaObject::new();
    meta.set_progress_token(ProgressToken(NumberOrString::String("refund-1".into())));
    params.meta = Some(meta);
    let waiting = gateway.call_in_background(params);

    let request = gateway.wait_pending().await;
    assert_eq!(request["action"], "mcp.bank.refund");
    assert_eq!(request["requester"], AGENT);
    assert_eq!(request["risk"], "high");
    // Reviewers see the masked arguments only.
    assert_eq!(request["arguments"]["cents"], 2_500);
    let shown = request["arguments"]["customer_email"].as_str().unwrap();
    assert!(shown.starts_with("EMAIL_"), "{shown}");
    assert!(!request.to_string().contains(SECRET_EMAIL));
    assert!(
        gateway.calls().is_empty(),
        "nothing reaches the server before a decision"
    );

    // The client hears that the call is still waiting.
    for _ in 0..500 {
        if !gateway.recorder.progress.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let progress = gateway.recorder.progress.lock().unwrap().clone();
    assert!(!progress.is_empty(), "no progress notification arrived");
    // (rmcp's client puts its own token on the call; the proxy echoes it.)
    let said = progress[0].message.as_deref().unwrap_or_default();
    assert!(said.contains("waiting for a human approval"), "{said}");

    // Approved with the command, as an operator would.
    let approved = std::process::Command::new(env!("CARGO_BIN_EXE_approvals"))
        .args(["approve", request["id"].as_str().unwrap()])
        .env("APPROVALS_URL", &gateway.api)
        .env("APPROVALS_TOKEN", OPS_TOKEN)
        .output()
        .unwrap();
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );

    let result = waiting.await.unwrap().unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(text(&result), "refunded 2500 cents");
    assert_eq!(
        gateway.calls(),
        [format!(
            r#"call refund {{"customer_email":"{SECRET_EMAIL}","cents":2500}}"#
        )]
    );
    let audit = gateway.stop().await;
    assert!(
        !audit.contains(SECRET_EMAIL),
        "the audit trail holds the masked view only"
    );
    for event in [
        r#""event":"requested""#,
        r#""choice":"approve""#,
        r#""outcome":"approved""#,
        r#""event":"executed""#,
    ] {
        assert!(
            audit.contains(event),
            "{event} missing from the audit trail"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewers_edit_is_what_reaches_the_server() {
    let gateway = Gateway::start().await;
    gateway.client.list_all_tools().await.unwrap();
    let waiting = gateway.call_in_background(refund(SECRET_EMAIL, 420_000));
    let request = gateway.wait_pending().await;
    assert_eq!(request["editable"], json!(["cents"]));

    // "Yes, but 420": the reviewer edits over the HTTP API.
    let answer = gateway
        .http
        .post(format!(
            "{}/v1/requests/{}/edit",
            gateway.api,
            request["id"].as_str().unwrap()
        ))
        .bearer_auth(OPS_TOKEN)
        .json(&json!({ "fingerprint": request["fingerprint"], "changes": { "cents": 42_000 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let receipt: Value = answer.json().await.unwrap();
    assert_eq!(receipt["conclusion"]["outcome"], "approved", "{receipt}");

    let result = waiting.await.unwrap().unwrap();
    assert_eq!(text(&result), "refunded 42000 cents");
    assert_eq!(
        gateway.calls(),
        [format!(
            r#"call refund {{"customer_email":"{SECRET_EMAIL}","cents":42000}}"#
        )],
        "the server never saw the amount asked for"
    );
    let audit = gateway.stop().await;
    assert!(audit.contains(r#""event":"edited""#));
    assert!(!audit.contains(SECRET_EMAIL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_call_is_an_error_result_with_the_reason_and_never_reaches_the_server() {
    let gateway = Gateway::start().await;
    gateway.client.list_all_tools().await.unwrap();
    let waiting = gateway.call_in_background(refund(SECRET_EMAIL, 900));
    let request = gateway.wait_pending().await;
    let (status, _) = gateway
        .vote(OPS_TOKEN, &request, "deny", Some("not during the freeze"))
        .await;
    assert_eq!(status, 200);
    let result = waiting.await.unwrap().unwrap();
    assert_eq!(result.is_error, Some(true));
    let said = text(&result);
    assert!(said.contains("denied by ops@example.com"), "{said}");
    assert!(said.contains("not during the freeze"), "{said}");
    assert!(!said.contains(SECRET_EMAIL));
    assert!(gateway.calls().is_empty());
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_call_is_an_error_result_and_never_reaches_the_server() {
    let gateway = Gateway::start().await;
    gateway.client.list_all_tools().await.unwrap();
    // The policy gives one-cent refunds one second; nobody answers.
    let result = gateway
        .client
        .call_tool(refund(SECRET_EMAIL, 1))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result).contains("expired"), "{}", text(&result));
    assert!(gateway.calls().is_empty());
    let audit = gateway.stop().await;
    assert!(audit.contains(r#""outcome":"expired""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_refused_by_policy_is_an_error_result_with_the_policys_reason() {
    let gateway = Gateway::start().await;
    gateway.client.list_all_tools().await.unwrap();
    let result = gateway
        .client
        .call_tool(refund("buyer@competitor.example", 100))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result).contains("refunds to the competition are never made"));
    assert!(gateway.calls().is_empty());
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_cannot_approve_their_own_call() {
    let gateway = Gateway::start().await;
    gateway.client.list_all_tools().await.unwrap();
    let waiting = gateway.call_in_background(refund(SECRET_EMAIL, 700));
    let request = gateway.wait_pending().await;
    let (status, answer) = gateway.vote(AGENT_TOKEN, &request, "approve", None).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "self_approval", "{answer}");
    assert!(gateway.calls().is_empty());
    // Still pending; an eligible reviewer decides.
    assert_eq!(gateway.pending().await.len(), 1);
    let (status, _) = gateway.vote(OPS_TOKEN, &request, "approve", None).await;
    assert_eq!(status, 200);
    let result = waiting.await.unwrap().unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(gateway.calls().len(), 1);
    let audit = gateway.stop().await;
    assert!(audit.contains(r#""refusal":"self_approval""#) || audit.contains("self_approval"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_and_ping_pass_through_unchanged() {
    let gateway = Gateway::start().await;
    let through_proxy = gateway.client.list_all_tools().await.unwrap();

    let mut direct = tokio::process::Command::new(example_server());
    direct.env_remove("MCP_EXAMPLE_CALL_LOG");
    let direct = ().serve(TokioChildProcess::new(direct).unwrap()).await.unwrap();
    let from_server = direct.list_all_tools().await.unwrap();
    assert_eq!(through_proxy, from_server);
    direct.cancel().await.unwrap();

    let pong = gateway
        .client
        .send_request(ClientRequest::PingRequest(PingRequest::default()))
        .await
        .unwrap();
    assert!(matches!(pong, ServerResult::EmptyResult(_)), "{pong:?}");
    let info = gateway.client.peer_info().unwrap();
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("bank")
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tool_is_an_error_and_the_server_never_sees_it() {
    let gateway = Gateway::start().await;
    // Not listed first: the proxy asks the server for its tools itself.
    let error = gateway
        .client
        .call_tool(call("drop_database", json!({ "name": "prod" })))
        .await
        .unwrap_err();
    let ServiceError::McpError(error) = error else {
        panic!("expected a JSON-RPC error, got {error:?}");
    };
    assert!(error.message.contains("unknown tool"), "{}", error.message);
    // A listed tool called without listing first still works.
    let result = gateway
        .client
        .call_tool(call("get_balance", json!({ "account": "acc_2" })))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(gateway.calls(), [r#"call get_balance {"account":"acc_2"}"#]);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_call_gives_a_clear_error() {
    let gateway = Gateway::start().await;
    gateway.client.list_all_tools().await.unwrap();
    let waiting = gateway.call_in_background(refund(SECRET_EMAIL, 300));
    gateway.wait_pending().await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &gateway.server_pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let error = waiting.await.unwrap().unwrap_err();
    let ServiceError::McpError(error) = error else {
        panic!("expected a JSON-RPC error, got {error:?}");
    };
    assert!(
        error.message.contains("MCP server exited"),
        "{}",
        error.message
    );
    assert!(gateway.calls().is_empty());
}

/// The reference server of the MCP project, which nobody here wrote,
/// installed from the npm registry (CI has node and npm).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_everything_server_behind_the_proxy() {
    const PACKAGE: &str = "@modelcontextprotocol/server-everything@2026.8.31";
    let npm = std::process::Command::new("npm").arg("--version").output();
    let node = std::process::Command::new("node").arg("--version").output();
    if !(npm.is_ok_and(|o| o.status.success()) && node.is_ok_and(|o| o.status.success())) {
        eprintln!("skipped: node and npm are not on PATH, so {PACKAGE} cannot be installed");
        return;
    }
    let install = tempfile::tempdir().unwrap();
    let installed = tokio::process::Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(install.path())
        .arg(PACKAGE)
        .output()
        .await
        .unwrap();
    assert!(
        installed.status.success(),
        "npm install failed: {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let entry = install
        .path()
        .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");

    let policy = r#"
[default]
approvers = ["ops@example.com"]
timeout = "5m"

[[rule]]
name = "echo is harmless"
action = "mcp.*.echo"
effect = "allow"

[[rule]]
name = "environment variables may hold secrets"
action = "mcp.*.get-env"
effect = "refuse"
reason = "the environment is not for agents"
"#;
    let server = ["node".into(), entry.into_os_string(), "stdio".into()];
    let gateway = Gateway::start_with(policy, &server).await;
    let tools = gateway.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    for name in ["echo", "get-env", "toggle-simulated-logging"] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }

    let echoed = gateway
        .client
        .call_tool(call(
            "echo",
            json!({ "message": "hello through the gateway" }),
        ))
        .await
        .unwrap();
    assert_ne!(echoed.is_error, Some(true));
    assert!(text(&echoed).contains("hello through the gateway"));

    // Read-only by its annotations, refused by the policy's own rule.
    let refused = gateway
        .client
        .call_tool(call("get-env", json!({})))
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    assert!(text(&refused).contains("the environment is not for agents"));

    // Not read-only: it waits for ops.
    let waiting = gateway.call_in_background(call("toggle-simulated-logging", json!({})));
    let request = gateway.wait_pending().await;
    assert_eq!(
        request["action"],
        "mcp.mcp-servers_everything.toggle-simulated-logging"
    );
    let (status, _) = gateway.vote(OPS_TOKEN, &request, "approve", None).await;
    assert_eq!(status, 200);
    let toggled = waiting.await.unwrap().unwrap();
    assert_ne!(toggled.is_error, Some(true), "{}", text(&toggled));

    let audit = gateway.stop().await;
    assert!(audit.contains(r#""action":"mcp.mcp-servers_everything.echo""#));
    assert!(audit.contains(r#""outcome":"refused_by_policy""#));
    assert!(audit.contains(r#""outcome":"approved""#));
}

/// The proxy driven by hand over its standard input, as a hostile or
/// broken client would.
struct RawSession {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<Value>,
    dir: tempfile::TempDir,
}

impl RawSession {
    fn start() -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
        std::fs::write(
            dir.path().join("tokens.txt"),
            format!("ops@example.com {OPS_TOKEN}\n"),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_approvals"))
            .current_dir(dir.path())
            .env("MCP_EXAMPLE_CALL_LOG", dir.path().join("calls.log"))
            .args([
                "mcp",
                "proxy",
                "--policy",
                "policy.toml",
                "--audit",
                "audit.jsonl",
            ])
            // A channel, so that a call needing approval stays pending.
            .args([
                "--http-listen",
                "127.0.0.1:0",
                "--http-token-file",
                "tokens.txt",
            ])
            .arg("--")
            .arg(example_server())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line).expect("the proxy writes JSON lines");
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
            dir,
        }
    }

    fn send(&mut self, line: &str) {
        use std::io::Write;
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next message with this id (others are skipped).
    fn answer(&self, id: Value) -> Value {
        loop {
            let message = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the proxy answers");
            if message["id"] == id {
                return message;
            }
        }
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn malformed_and_hostile_messages_get_errors_and_the_proxy_stays_up() {
    let mut session = RawSession::start();
    session.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#);
    assert_eq!(
        session.answer(json!(1))["result"]["serverInfo"]["name"],
        "bank"
    );
    session.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    // Not JSON at all: dropped (there is no id to answer).
    session.send("this is not json {");
    // JSON, but not a message: an invalid-request error.
    session.send(r#"{"jsonrpc":"2.0","id":2,"surprise":true}"#);
    let invalid = session.answer(Value::Null);
    assert_eq!(invalid["error"]["code"], -32600, "{invalid}");
    // A 17 MiB line, past the transport's limit: discarded.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"refund","arguments":{{"customer_email":"{}","cents":1}}}}}}"#,
        "a".repeat(17 * 1024 * 1024)
    );
    session.send(&huge);
    session.send(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
    assert_eq!(session.answer(json!(4))["result"], json!({}));

    // An id still waiting for its answer is not taken again.
    session.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"refund","arguments":{"customer_email":"a@b.example","cents":10}}}"#);
    session.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"refund","arguments":{"customer_email":"a@b.example","cents":99}}}"#);
    let reused = session.answer(json!(5));
    assert_eq!(reused["error"]["code"], -32600, "{reused}");
    assert!(
        reused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("still waiting")
    );

    // Still up, and nothing reached the server.
    session.send(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#);
    assert_eq!(session.answer(json!(6))["result"], json!({}));
    let calls = std::fs::read_to_string(session.dir.path().join("calls.log")).unwrap();
    assert!(!calls.contains("call "), "{calls}");
}

/// Reads a child's standard error until a line names a URL after `marker`.
async fn announced(stderr: tokio::process::ChildStderr, markers: &[&str]) -> Vec<String> {
    let mut lines = BufReader::new(stderr).lines();
    let mut found = vec![String::new(); markers.len()];
    while found.iter().any(String::is_empty) {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the process announces its address");
        for (marker, slot) in markers.iter().zip(found.iter_mut()) {
            if let Some(url) = line.split(marker).nth(1) {
                *slot = url.trim().to_owned();
            }
        }
    }
    // Keep draining, so that the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_http_mode_takes_the_requester_from_the_token_and_refuses_strangers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    std::fs::write(
        dir.path().join("tokens.txt"),
        format!("ops@example.com {OPS_TOKEN}\n{AGENT} {AGENT_TOKEN}\n"),
    )
    .unwrap();
    let calls = dir.path().join("calls.log");
    let mut server = tokio::process::Command::new(example_server())
        .args(["--http", "127.0.0.1:0"])
        .env("MCP_EXAMPLE_CALL_LOG", &calls)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let upstream = announced(server.stderr.take().unwrap(), &["listens on "])
        .await
        .remove(0);

    let mut proxy = tokio::process::Command::new(env!("CARGO_BIN_EXE_approvals"))
        .current_dir(dir.path())
        .args([
            "mcp",
            "proxy",
            "--policy",
            "policy.toml",
            "--audit",
            "audit.jsonl",
        ])
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--http-token-file",
            "tokens.txt",
        ])
        .args(["--listen", "127.0.0.1:0", "--upstream", &upstream])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let urls = announced(
        proxy.stderr.take().unwrap(),
        &[
            "the approvals API listens on ",
            "MCP (streamable HTTP) listens on ",
        ],
    )
    .await;
    let (api, endpoint) = (urls[0].clone(), urls[1].clone());

    // No token, or a wrong one: 401, and nothing reaches the server.
    let http = reqwest::Client::new();
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":{"customer_email":SECRET_EMAIL,"cents":5}}});
    for token in [None, Some("wrong-token")] {
        let mut request = http
            .post(&endpoint)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), 401);
    }

    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            endpoint.as_str(),
        )
        .auth_header(AGENT_TOKEN);
    let client = ()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_config(
            config,
        ))
        .await
        .unwrap();
    assert_eq!(client.list_all_tools().await.unwrap().len(), 2);
    let balance = client
        .call_tool(call("get_balance", json!({ "account": "acc_9" })))
        .await
        .unwrap();
    assert_eq!(balance.is_error, Some(false));

    let peer = client.peer().clone();
    let waiting = tokio::spawn(async move { peer.call_tool(refund(SECRET_EMAIL, 450)).await });
    let reviewers = reqwest::Client::new();
    let mut pending = Value::Null;
    for _ in 0..1_000 {
        let answer: Value = reviewers
            .get(format!("{api}/v1/requests"))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(first) = answer["requests"].as_array().and_then(|r| r.first()) {
            pending = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        pending["requester"], AGENT,
        "the requester is the token's identity"
    );
    assert_eq!(pending["action"], "mcp.bank.refund");
    let approved = reviewers
        .post(format!(
            "{api}/v1/requests/{}/approve",
            pending["id"].as_str().unwrap()
        ))
        .bearer_auth(OPS_TOKEN)
        .json(&json!({ "fingerprint": pending["fingerprint"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status().as_u16(), 200);
    let refunded = waiting.await.unwrap().unwrap();
    assert_eq!(refunded.is_error, Some(false));
    let received: Vec<String> = std::fs::read_to_string(&calls)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("call "))
        .map(str::to_owned)
        .collect();
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(received[1].starts_with("call refund"));
    client.cancel().await.unwrap();
    proxy.kill().await.unwrap();
    server.kill().await.unwrap();
}

#[test]
fn the_http_channel_needs_reviewers_and_a_bad_token_line_is_named_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_approvals"))
            .current_dir(dir.path())
            .args([
                "mcp",
                "proxy",
                "--policy",
                "policy.toml",
                "--audit",
                "audit.jsonl",
            ])
            .args(["--http-listen", "127.0.0.1:0"])
            .args(extra)
            .args(["--", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let without = run(&[]);
    assert_eq!(without.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without.stderr).contains("--http-token-file"));

    std::fs::write(
        dir.path().join("tokens.txt"),
        "ops@example.com s3cret-token extra-field\n",
    )
    .unwrap();
    let bad = run(&["--http-token-file", "tokens.txt"]);
    assert_eq!(bad.status.code(), Some(2));
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(
        said.contains("tokens.txt:1: expected `IDENTITY TOKEN`"),
        "{said}"
    );
    assert!(!said.contains("s3cret-token"), "{said}");
}
