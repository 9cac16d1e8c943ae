//! Faults the hash-chained audit log must refuse or survive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use approvals_core::audit::{
    AuditEvent, AuditRecord, AuditSink, JsonlAudit, OpenError, VerifyError, verify,
};
use approvals_core::{Identity, RequestId};

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
