//! `approvals audit keygen | checkpoint | verify --checkpoint | prove |
//! consistency`, run end to end on real files.

// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use approvals_core::RequestId;
use approvals_core::audit::{AuditEvent, AuditRecord, AuditSink, JsonlAudit};

fn approvals(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_approvals"))
        .args(args)
        .env_remove("APPROVALS_AUDIT_SIGNING_KEY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Appends `count` records, for requests `req-<from>`, `req-<from+1>`, ….
fn append(log: &Path, from: u64, count: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let audit = JsonlAudit::open(log).unwrap();
        for index in from..from + count {
            let record = AuditRecord::now(
                RequestId::from_string(format!("req-{index}")),
                AuditEvent::Escalated { added: vec![] },
            );
            audit.record(&record).await.unwrap();
        }
        audit.close().await.unwrap();
    });
}

struct Setup {
    _dir: tempfile::TempDir,
    log: PathBuf,
    key: PathBuf,
    public: String,
}

fn setup(records: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let key = dir.path().join("signing.key");
    let output = approvals(&[
        "audit",
        "keygen",
        "--name",
        "audit.example.com/log",
        "--out",
        s(&key),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let public = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(public.starts_with("audit.example.com/log+"), "{public}");
    let secret = std::fs::read_to_string(&key).unwrap();
    assert!(secret.starts_with("PRIVATE+KEY+audit.example.com/log+"));
    // PRIVATE+KEY+name+hash+key: the key part (base64, which may hold '+'
    // itself) is not in the public key.
    let seed = secret.trim().splitn(5, '+').nth(4).unwrap();
    assert!(seed.len() >= 44, "{seed}");
    assert!(!public.contains(seed));
    append(&log, 0, records);
    Setup {
        _dir: dir,
        log,
        key,
        public,
    }
}

#[test]
fn keygen_checkpoint_and_verify() {
    let setup = setup(10);
    let output = approvals(&[
        "audit",
        "checkpoint",
        s(&setup.log),
        "--signing-key",
        s(&setup.key),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let checkpoint = format!("{}.checkpoint", s(&setup.log));
    let note = std::fs::read_to_string(&checkpoint).unwrap();
    assert!(note.starts_with("audit.example.com/log\n10\n"), "{note}");
    assert!(
        note.contains("\n\n\u{2014} audit.example.com/log "),
        "{note}"
    );

    let pub_file = format!("{}.pub", s(&setup.key));
    let output = approvals(&[
        "audit",
        "verify",
        s(&setup.log),
        "--checkpoint",
        &checkpoint,
        "--key",
        &pub_file,
    ]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("the first 10 records match the checkpoint"));

    // Another key does not verify the checkpoint.
    let other = setup.log.with_file_name("other.key");
    approvals(&[
        "audit",
        "keygen",
        "--name",
        "audit.example.com/log",
        "--out",
        s(&other),
    ]);
    let other_pub = format!("{}.pub", s(&other));
    let output = approvals(&[
        "audit",
        "verify",
        s(&setup.log),
        "--checkpoint",
        &checkpoint,
        "--key",
        &other_pub,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("not signed by the key"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_cut_tail_is_named_by_verify() {
    let setup = setup(10);
    let output = approvals(&[
        "audit",
        "checkpoint",
        s(&setup.log),
        "--signing-key",
        s(&setup.key),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let checkpoint = format!("{}.checkpoint", s(&setup.log));
    let log = std::fs::read_to_string(&setup.log).unwrap();
    let kept: String = log.split_inclusive('\n').take(7).collect();
    std::fs::write(&setup.log, kept).unwrap();
    // The hash chain alone still verifies.
    assert!(
        approvals(&["audit", "verify", s(&setup.log)])
            .status
            .success()
    );
    let output = approvals(&[
        "audit",
        "verify",
        s(&setup.log),
        "--checkpoint",
        &checkpoint,
        "--key",
        &setup.public,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("the first missing record is 8"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_changed_record_is_named_by_verify() {
    let setup = setup(10);
    approvals(&[
        "audit",
        "checkpoint",
        s(&setup.log),
        "--signing-key",
        s(&setup.key),
    ]);
    let checkpoint = format!("{}.checkpoint", s(&setup.log));
    let log = std::fs::read_to_string(&setup.log).unwrap();
    std::fs::write(&setup.log, log.replacen("req-4", "req-X", 1)).unwrap();
    let output = approvals(&[
        "audit",
        "verify",
        s(&setup.log),
        "--checkpoint",
        &checkpoint,
        "--key",
        &setup.public,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("record 5 (line 5) was changed"),
        "{}",
        text(&output)
    );
}

#[test]
fn prove_prints_checked_inclusion_proofs() {
    let setup = setup(12);
    let signing_key = std::fs::read_to_string(&setup.key).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_approvals"))
        .args(["audit", "checkpoint", s(&setup.log)])
        .env("APPROVALS_AUDIT_SIGNING_KEY", signing_key.trim())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let output = approvals(&[
        "audit",
        "prove",
        s(&setup.log),
        "--request",
        "req-6",
        "--key",
        &setup.public,
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let proof: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(proof["seq"], 7);
    assert_eq!(proof["leaf_index"], 6);
    assert_eq!(proof["tree_size"], 12);
    assert_eq!(proof["verified"], true);
    assert_eq!(proof["inclusion_proof"].as_array().unwrap().len(), 4);
    let output = approvals(&[
        "audit",
        "prove",
        s(&setup.log),
        "--request",
        "req-99",
        "--key",
        &setup.public,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
}

#[test]
fn consistency_between_two_checkpoints() {
    let setup = setup(5);
    let dir = setup.log.parent().unwrap();
    let old = dir.join("old.checkpoint");
    let new = dir.join("new.checkpoint");
    let signed = approvals(&[
        "audit",
        "checkpoint",
        s(&setup.log),
        "--signing-key",
        s(&setup.key),
        "--out",
        s(&old),
    ]);
    assert!(signed.status.success(), "{}", text(&signed));
    append(&setup.log, 5, 9);
    let signed = approvals(&[
        "audit",
        "checkpoint",
        s(&setup.log),
        "--signing-key",
        s(&setup.key),
        "--out",
        s(&new),
    ]);
    assert!(signed.status.success(), "{}", text(&signed));
    let output = approvals(&[
        "audit",
        "consistency",
        s(&setup.log),
        s(&old),
        s(&new),
        "--key",
        &setup.public,
    ]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("the checkpoint of 14 records extends the one of 5"));
    // Backwards is refused.
    let output = approvals(&[
        "audit",
        "consistency",
        s(&setup.log),
        s(&new),
        s(&old),
        "--key",
        &setup.public,
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
}
