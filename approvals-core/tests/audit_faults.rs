//! Faults the hash-chained audit log must refuse or survive: a second writer
//! and a tampered last line.
//!
//! Tests that need a second process run this test binary again, selecting
//! the same test with `--exact` and giving it a role in an environment
//! variable (see [`Child`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use approvals_core::audit::{
    AuditError, AuditEvent, AuditRecord, AuditSink, JsonlAudit, OpenError, VerifyError, verify,
    verify_with_head,
};
use approvals_core::{Identity, RequestId};

/// The role a child process plays, when this binary runs as one.
const ROLE: &str = "APPROVALS_AUDIT_FAULTS_ROLE";
/// The log a child process works on.
const LOG: &str = "APPROVALS_AUDIT_FAULTS_LOG";

/// A record of about `size` bytes once written.
fn record(size: usize) -> AuditRecord {
    let padding = "x".repeat(size.saturating_sub(200));
    AuditRecord::now(
        RequestId::random(),
        AuditEvent::Escalated {
            added: vec![Identity::new(format!("approver-{padding}@example.com"))],
        },
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Writes `count` records to a new log at `path` and closes it.
fn write_log(path: &Path, count: usize) {
    runtime().block_on(async {
        let audit = JsonlAudit::open(path).unwrap();
        for _ in 0..count {
            audit.record(&record(300)).await.unwrap();
        }
        audit.close().await.unwrap();
    });
}

/// The files in `dir`, by name.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// This test binary, run again to play `role` in the test named `test`.
struct Child;

impl Child {
    /// The log to work on, if this process was started to play `role`.
    fn role(role: &str) -> Option<PathBuf> {
        let playing = std::env::var(ROLE).ok()?;
        (playing == role).then(|| PathBuf::from(std::env::var_os(LOG).unwrap()))
    }

    fn command(test: &str, role: &str, log: &Path) -> Command {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(LOG, log)
            .stdin(Stdio::null());
        command
    }

    /// Runs the child to its end; its test passing is the child's verdict.
    fn run(test: &str, role: &str, log: &Path) {
        let output = Self::command(test, role, log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the child playing {role} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // A filter that matched no test would pass too: check it ran.
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "the child playing {role} did not run its test"
        );
    }
}

/// Two writers on one file used to continue the same chain from where each
/// found it, overwriting each other's acknowledged records in a file that
/// still verified. Now the second open is refused, in this process or
/// another, until the first writer is closed.
#[test]
fn a_second_writer_on_one_file_is_refused() {
    const TEST: &str = "a_second_writer_on_one_file_is_refused";
    if let Some(log) = Child::role("refused") {
        let error = JsonlAudit::open(&log).unwrap_err();
        assert!(matches!(error, OpenError::Locked { .. }), "{error}");
        // Reading needs no lock.
        assert_eq!(verify(&log, None).unwrap().records, 2);
        return;
    }
    if let Some(log) = Child::role("writer") {
        runtime().block_on(async {
            let audit = JsonlAudit::open(&log).unwrap();
            assert_eq!(audit.head().unwrap().0, 3);
            audit.record(&record(300)).await.unwrap();
            audit.close().await.unwrap();
        });
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let rt = runtime();
    let first = JsonlAudit::open(&path).unwrap();
    rt.block_on(async {
        first.record(&record(300)).await.unwrap();
        first.record(&record(300)).await.unwrap();
    });
    let head = first.head().unwrap();

    let error = JsonlAudit::open(&path).unwrap_err();
    assert!(
        matches!(&error, OpenError::Locked { path: locked } if *locked == path),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the audit log {} is already open for writing by another process or sink",
            path.display()
        )
    );
    assert!(matches!(AuditError::from(error), AuditError::Other(_)));
    Child::run(TEST, "refused", &path);

    // The first writer is unaffected, and the refused opens left no trace.
    rt.block_on(first.record(&record(300))).unwrap();
    assert_eq!(files_in(dir.path()), ["audit.jsonl"]);
    verify_with_head(&path, None, (head.0, &head.1)).unwrap();

    // Closing releases the lock at once: another process continues the chain.
    rt.block_on(first.close()).unwrap();
    Child::run(TEST, "writer", &path);
    let report = verify(&path, None).unwrap();
    assert_eq!(report.records, 4);

    // So does dropping, within this process.
    let second = JsonlAudit::open(&path).unwrap();
    assert_eq!(second.head(), report.head);
    drop(second);
    drop(JsonlAudit::open(&path).unwrap());
}

/// A complete last line that did not parse used to be taken for a crash's
/// leftovers: open moved it aside and continued the chain, and the log
/// verified clean afterwards. Only a missing newline marks a crash; any
/// complete line that is not a record, or whose hash does not match, fails
/// the open, names the line, and leaves the file as it was.
#[test]
fn a_tampered_complete_last_line_fails_open_and_stays_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 3);
    let good = std::fs::read(&path).unwrap();
    let last_start = good[..good.len() - 1]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .unwrap()
        + 1;
    let last = String::from_utf8(good[last_start..].to_vec()).unwrap();

    let tampered: [(&str, String); 5] = [
        // Does not parse: `seq` is no longer a number.
        ("seq", last.replace(",\"seq\":3}", ",\"seq\":three}")),
        // Does not parse: a quote removed.
        ("quote", last.replacen("\"prev\"", "\"prev", 1)),
        // Not a record at all.
        ("garbage", "{\"hash\":\"whatever\"}\n".to_owned()),
        // Parses, but its hash does not match.
        ("content", last.replacen("approver-", "approved-", 1)),
        ("hash", {
            let hash_at = "{\"hash\":\"".len();
            let mut line = last.clone().into_bytes();
            line[hash_at] = if line[hash_at] == b'0' { b'1' } else { b'0' };
            String::from_utf8(line).unwrap()
        }),
    ];
    for (what, line) in tampered {
        assert!(line.ends_with('\n'), "{what}");
        let mut bytes = good[..last_start].to_vec();
        bytes.extend_from_slice(line.as_bytes());
        std::fs::write(&path, &bytes).unwrap();

        let error = JsonlAudit::open(&path).unwrap_err();
        let OpenError::Broken { source, .. } = &error else {
            panic!("{what}: {error}");
        };
        assert_eq!(source.line(), Some(3), "{what}: {error}");
        assert!(
            matches!(
                source,
                VerifyError::Malformed { seq: 3, .. } | VerifyError::Changed { seq: 3, .. }
            ),
            "{what}: {error}"
        );
        assert!(
            error.to_string().contains("line 3"),
            "{what}: the message names the line: {error}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{what}: nothing moved"
        );
        assert_eq!(
            files_in(dir.path()),
            ["audit.jsonl"],
            "{what}: no side file"
        );
        let error = verify(&path, None).unwrap_err();
        assert!(
            matches!(
                error,
                VerifyError::Malformed { line: 3, .. } | VerifyError::Changed { line: 3, .. }
            ),
            "{what}: {error}"
        );
    }

    // The same line without its newline is what a crash leaves: set aside.
    let mut bytes = good[..last_start].to_vec();
    bytes.extend_from_slice(&last.as_bytes()[..last.len() - 1]);
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        verify(&path, None),
        Err(VerifyError::Cut { line: 3, .. })
    ));
    let audit = JsonlAudit::open(&path).unwrap();
    let recovery = audit.recovered().unwrap();
    assert_eq!((recovery.line, recovery.seq), (3, 3));
    assert_eq!(
        std::fs::read(&recovery.side_file).unwrap(),
        &last.as_bytes()[..last.len() - 1]
    );
    drop(audit);
    assert_eq!(verify(&path, None).unwrap().records, 2);
}
