//! The terminal channel, driven through a real pseudo-terminal.

#![cfg(all(feature = "terminal", unix))]
// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::time::Duration;

use approvals_backends::terminal::{Terminal, TerminalChannel};
use approvals_core::audit::{AuditEvent, MemoryAudit};
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::{ActionRequest, Conclusion, Error, Gate};
use approvals_test_support::identities::{AGENT, ALICE};
use approvals_test_support::pty::Pty;

const SECRET_EMAIL: &str = "jane.doe@customer.example";

/// A pseudo-terminal and the terminal to prompt on.
fn open() -> (Pty, Terminal) {
    let (pty, follower) = Pty::open();
    (pty, Terminal::from_file(follower).unwrap())
}

fn gate(approver: TerminalChannel, audit: &MemoryAudit) -> Gate {
    Gate::builder()
        .policy(
            Policy::new()
                .rule(
                    Rule::new("purges need a reason").action("purge").require(
                        RequirementBuilder::new()
                            .approvers([ALICE, AGENT])
                            .deny_reason_required(true)
                            .timeout(Duration::from_secs(60)),
                    ),
                )
                .rule(
                    Rule::new("deploys need review").action("*").require(
                        RequirementBuilder::new()
                            .approvers([ALICE, AGENT])
                            .timeout(Duration::from_secs(60)),
                    ),
                ),
        )
        .channel(approver)
        .audit(audit.clone())
        .build()
}

fn call(gate: &Gate, action: &'static str) -> tokio::task::JoinHandle<Result<&'static str, Error>> {
    let gate = gate.clone();
    let request = ActionRequest::new(
        action,
        serde_json::json!({"customer": SECRET_EMAIL, "replicas": 3}),
    )
    .description("Roll out the \u{1b}[31mbilling\u{1b}[0m service")
    .requester(AGENT)
    .justification("scheduled release");
    tokio::spawn(async move { gate.run(request, |_args| async { Ok("ran") }).await })
}

const PROMPT: &str = "Approve, deny or skip? [a/d/s] ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_at_the_prompt_runs_the_call() {
    let (pty, terminal) = open();
    let audit = MemoryAudit::new();
    let gate = gate(TerminalChannel::on(terminal).voter(ALICE), &audit);
    let run = call(&gate, "deploy");

    let screen = pty.wait_for(PROMPT).await;
    assert!(screen.contains("== Approval requested =="));
    assert!(screen.contains("deploy"));
    assert!(screen.contains(AGENT));
    assert!(screen.contains("\"customer\": \"EMAIL_"), "{screen}");
    assert!(screen.contains(&format!("you vote as   {ALICE}")));
    assert!(
        !screen.contains(SECRET_EMAIL),
        "a raw value reached the screen"
    );
    assert!(
        !screen.contains('\u{1b}'),
        "an escape sequence reached the screen"
    );

    pty.type_line("a");
    assert_eq!(run.await.unwrap().unwrap(), "ran");
    pty.wait_for(&format!("Counted: the request is approved by {ALICE}."))
        .await;
    let vote = audit
        .records()
        .into_iter()
        .find_map(|record| match record.event {
            AuditEvent::Vote {
                voter,
                channel,
                counted,
                ..
            } => Some((voter.to_string(), channel, counted)),
            _ => None,
        });
    assert_eq!(vote, Some((ALICE.to_owned(), "terminal".to_owned(), true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_asks_for_the_reason_until_policy_is_satisfied() {
    let (pty, terminal) = open();
    let audit = MemoryAudit::new();
    let gate = gate(TerminalChannel::on(terminal).voter(ALICE), &audit);
    let run = call(&gate, "purge");

    pty.wait_for(PROMPT).await;
    pty.type_line("maybe");
    pty.wait_for("Please answer a (approve), d (deny) or s (skip).")
        .await;
    pty.type_line("d");
    pty.wait_for("Reason (required): ").await;
    pty.type_line("");
    pty.wait_for("Not counted: a reason is required to deny this request.")
        .await;
    pty.wait_for_count(PROMPT, 3).await;
    pty.type_line("deny");
    pty.wait_for_count("Reason (required): ", 2).await;
    pty.type_line("change freeze");
    match run.await.unwrap() {
        Err(Error::Denied { by, reason, .. }) => {
            assert_eq!(by.as_str(), ALICE);
            assert_eq!(reason.as_deref(), Some("change freeze"));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_cannot_approve_at_their_own_terminal() {
    let (pty, terminal) = open();
    let audit = MemoryAudit::new();
    let gate = gate(TerminalChannel::on(terminal).voter(AGENT), &audit);
    let run = call(&gate, "deploy");

    pty.wait_for(PROMPT).await;
    pty.type_line("a");
    pty.wait_for("Not counted: you cannot approve or deny your own request.")
        .await;
    assert!(!run.is_finished());
    // The request still waits for someone else; stop waiting.
    run.abort();
    let refused = audit
        .records()
        .into_iter()
        .any(|record| matches!(record.event, AuditEvent::Vote { counted: false, .. }));
    assert!(refused, "the refused vote is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_asked_one_after_another_and_can_be_skipped() {
    let (pty, terminal) = open();
    let audit = MemoryAudit::new();
    let approver = TerminalChannel::on(terminal).voter(ALICE);
    let gate = gate(approver, &audit);
    let first = call(&gate, "deploy");
    pty.wait_for(PROMPT).await;
    let second = call(&gate, "restart");
    // The second waits its turn: one prompt on screen.
    for _ in 0..1_000 {
        if gate.votes().pending().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pty.screen().matches(PROMPT).count(), 1);

    pty.type_line("s");
    pty.wait_for("Skipped: the request waits for other reviewers or its deadline.")
        .await;
    let screen = pty.wait_for_count(PROMPT, 2).await;
    assert!(screen.contains("restart"));
    pty.type_line("a");
    assert_eq!(second.await.unwrap().unwrap(), "ran");
    assert!(!first.is_finished(), "the skipped request still waits");
    first.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_ends_elsewhere_is_noted_on_screen() {
    let (pty, terminal) = open();
    let audit = MemoryAudit::new();
    let gate = gate(TerminalChannel::on(terminal).voter(ALICE), &audit);
    let run = call(&gate, "deploy");
    pty.wait_for(PROMPT).await;
    run.abort();
    let screen = pty.wait_for("ended: cancelled]").await;
    assert!(screen.contains("[request "));
    let conclusions: Vec<_> = audit
        .records()
        .into_iter()
        .filter_map(|record| match record.event {
            AuditEvent::Concluded { conclusion } => Some(conclusion),
            _ => None,
        })
        .collect();
    assert_eq!(conclusions, [Conclusion::Cancelled]);
}

/// Runs in a child process started by
/// `without_a_controlling_terminal_a_request_fails_closed_at_once`, in a new
/// session with no controlling terminal.
#[tokio::test]
#[ignore = "run in a process without a terminal by the test below"]
async fn child_without_controlling_terminal() {
    let audit = MemoryAudit::new();
    let gate = gate(TerminalChannel::new().voter(ALICE), &audit);
    let outcome = call(&gate, "deploy").await.unwrap();
    // A channel error, not an expiry: it did not wait for the 60 s deadline.
    match outcome {
        Err(error @ Error::Channel { .. }) => {
            assert!(
                error.to_string().contains("no terminal is attached"),
                "{error}"
            );
        }
        other => panic!("expected a channel error, got {other:?}"),
    }
    let failed = audit.records().into_iter().any(|record| {
        matches!(
            record.event,
            AuditEvent::Concluded {
                conclusion: Conclusion::Failed { .. }
            }
        )
    });
    assert!(failed);
}

#[test]
fn without_a_controlling_terminal_a_request_fails_closed_at_once() {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new("setsid")
        .arg("--wait")
        .arg(exe)
        .args([
            "--exact",
            "child_without_controlling_terminal",
            "--ignored",
            "--test-threads=1",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setsid (util-linux) runs the child in a new session");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn a_pipe_is_not_a_terminal() {
    let (reader, _writer) = std::io::pipe().unwrap();
    let file = File::from(std::os::fd::OwnedFd::from(reader));
    assert!(Terminal::from_file(file).is_err());
}

// ------------------------------------------------------- approve with edits

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Scale {
    customer: String,
    replicas: u32,
}

/// A gate whose `scale` requests reviewers may edit (any field).
fn editing_gate(approver: TerminalChannel, audit: &MemoryAudit) -> Gate {
    Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("scaling may be edited").action("scale").require(
                    RequirementBuilder::new()
                        .approvers([ALICE])
                        .editable(["*"])
                        .timeout(Duration::from_secs(60)),
                ),
            ),
        )
        .channel(approver)
        .audit(audit.clone())
        .build()
}

fn scale(gate: &Gate) -> tokio::task::JoinHandle<Result<u32, Error>> {
    let gate = gate.clone();
    let request = ActionRequest::new(
        "scale",
        Scale {
            customer: SECRET_EMAIL.to_owned(),
            replicas: 3,
        },
    )
    .requester(AGENT)
    .editable(["*"]);
    tokio::spawn(async move {
        gate.run(request, |scale: Scale| async move { Ok(scale.replicas) })
            .await
    })
}

/// A fake editor: keeps a copy of the file it was given as `seen.json`,
/// then replaces `"replicas": 3` with `"replicas": <to>`.
fn fake_editor(dir: &std::path::Path, to: &str) -> String {
    let script = dir.join(format!("editor-{}.sh", to.trim_matches('"')));
    let seen = dir.join("seen.json");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncp \"$1\" '{seen}'\nsed 's/\"replicas\": 3/\"replicas\": {to}/' \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"\n",
            seen = seen.display(),
        ),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    script.display().to_string()
}

/// A directory of its own for a test's files, removed at the end.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("approvals-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const EDIT_PROMPT: &str = "Approve, deny, edit or skip? [a/d/e/s] ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_in_the_editor_is_approved_and_the_call_runs_as_edited() {
    let scratch = Scratch::new("terminal-edit");
    let editor = fake_editor(&scratch.0, "5");
    let (pty, terminal) = open();
    let audit = MemoryAudit::new();
    let gate = editing_gate(
        TerminalChannel::on(terminal).voter(ALICE).editor(editor),
        &audit,
    );
    let run = scale(&gate);

    pty.wait_for(EDIT_PROMPT).await;
    pty.type_line("e");
    assert_eq!(run.await.unwrap().unwrap(), 5, "the body ran as edited");
    pty.wait_for("Edited (version 2), and counted: the request is approved")
        .await;

    // The editor saw the fields it may change, without the masked one.
    let seen: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.0.join("seen.json")).unwrap()).unwrap();
    assert_eq!(seen, serde_json::json!({"replicas": 3}));
    assert!(
        audit
            .records()
            .iter()
            .any(|record| matches!(record.event, AuditEvent::Edited { accepted: true, .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_edit_is_explained_and_the_prompt_asks_again() {
    let scratch = Scratch::new("terminal-edit-refused");
    let editor = fake_editor(&scratch.0, "\"many\"");
    let (pty, terminal) = open();
    let audit = MemoryAudit::new();
    let gate = editing_gate(
        TerminalChannel::on(terminal).voter(ALICE).editor(editor),
        &audit,
    );
    let run = scale(&gate);

    pty.wait_for(EDIT_PROMPT).await;
    pty.type_line("e");
    let screen = pty
        .wait_for("Not changed: this edit is not valid for the call's arguments. `replicas`:")
        .await;
    assert!(!screen.contains("many"), "the value is not echoed");
    pty.wait_for_count(EDIT_PROMPT, 2).await;
    pty.type_line("a");
    assert_eq!(run.await.unwrap().unwrap(), 3, "the body ran as asked");
}
