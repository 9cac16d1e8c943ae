//! `approvals mask` end to end: the real binary, stdin and files.

// The helpers panic on a broken test set-up, as the tests themselves do.
#![allow(clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn approvals(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_approvals"))
        .args(args)
        .env("APPROVALS_MASK_KEY", "test key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("the binary ends")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

const LOG: &str = "2024-05-01T12:34:56Z INFO login from 203.0.113.7 for jane.doe@example.com\n\
2024-05-01T12:34:57Z INFO deploy version 1.19.29.233 request_id=123e4567-e89b-12d3-a456-426614174000\n\
charge 4242 4242 4242 4242 with password=hunter2\n";

#[test]
fn masks_stdin_and_keeps_look_alikes() {
    let output = approvals(&["mask"], LOG);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    for secret in [
        "203.0.113.7",
        "jane.doe@example.com",
        "4242 4242 4242 4242",
        "hunter2",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("version 1.19.29.233"), "{text}");
    assert!(
        text.contains("123e4567-e89b-12d3-a456-426614174000"),
        "{text}"
    );
    assert!(
        text.contains("charge •••• 4242 with password=[SECRET]"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3);
}

#[test]
fn masks_a_file_and_a_whole_private_key_block() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAMwAAAAtzc2gtZWQyNTUxOQ\n-----END OPENSSH PRIVATE KEY-----";
    write!(file, "deploy key:\n{key}\ndone\n").unwrap();
    let output = approvals(&["mask", file.path().to_str().unwrap()], "");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "deploy key:\n[SECRET]\ndone\n");
}

#[test]
fn detect_prints_byte_spans_per_line() {
    let output = approvals(
        &["mask", "--detect"],
        "mail jo@example.com\nnothing here\nSSN 123-45-6789\n",
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        "{\"spans\":[{\"end\":19,\"kind\":\"email\",\"start\":5}]}\n{\"spans\":[]}\n{\"spans\":[{\"end\":15,\"kind\":\"us_ssn\",\"start\":4}]}\n"
    );
}

#[test]
fn jsonl_masks_the_text_field_or_the_whole_object() {
    let input = "{\"id\":1,\"text\":\"call +1 415 555 0132\",\"email\":\"jo@example.com\"}\n\n{\"id\":2,\"text\":\"ok\"}\n";
    let text_only = stdout(&approvals(&["mask", "--jsonl"], input));
    let lines: Vec<serde_json::Value> = text_only
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["text"], "call •••• 0132");
    assert_eq!(lines[0]["email"], "jo@example.com", "only `text` is masked");
    assert_eq!(lines[1]["text"], "ok");

    let whole = stdout(&approvals(&["mask", "--jsonl", "--json"], input));
    let first: serde_json::Value = serde_json::from_str(whole.lines().next().unwrap()).unwrap();
    assert_eq!(
        stdout(&approvals(&["mask", "--json"], input)),
        whole,
        "--json implies --jsonl"
    );
    assert!(
        first["email"].as_str().unwrap().starts_with("EMAIL_"),
        "{first}"
    );
    assert_eq!(first["id"], 1);

    let detect = stdout(&approvals(&["mask", "--jsonl", "--detect"], input));
    assert_eq!(
        detect.lines().next().unwrap(),
        "{\"spans\":[{\"end\":20,\"kind\":\"phone\",\"start\":5}]}"
    );
}

#[test]
fn bad_input_fails_with_the_line_number() {
    let output = approvals(&["mask", "--jsonl"], "{\"text\":\"a\"}\nnot json\n");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2: not JSON"), "{stderr}");

    let missing = approvals(&["mask", "/nonexistent/input.log"], "");
    assert_eq!(missing.status.code(), Some(3));
}
