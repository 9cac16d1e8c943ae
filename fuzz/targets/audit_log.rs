//! The audit log reader on any file: `verify`, `verify_reader` and
//! `JsonlAudit::open`.
//!
//! The bytes are written to a file in a temporary directory, which is then
//! verified and opened. Properties checked:
//!
//! - nothing panics, and errors render;
//! - `verify` on the file and `verify_reader` on the same bytes agree;
//! - a log that verifies opens, with the head the report names and nothing
//!   recovered, and the file is left as it was;
//! - a log that verifies but for a last line cut short opens after moving
//!   that line aside: the file then verifies, and holds the bytes before
//!   the cut;
//! - a log with any other fault does not open, and the file is left as it
//!   was (nothing is ever appended to a broken log);
//! - a log verified against its own head passes; a report's record count
//!   and head agree (`None` exactly when there are no records).
//!
//! The first byte picks plain SHA-256 or an HMAC key, so that keyed logs
//! are read too.

use std::io::Cursor;

use approvals_core::audit::{
    Fsync, JsonlAudit, VerifyError, verify, verify_reader, verify_with_head,
};

const KEY: &[u8] = b"fuzz audit key";

/// Runs one input.
pub(crate) fn run(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let key = (selector & 1 == 1).then_some(KEY);
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("no temporary directory: {error}"),
    };
    let path = dir.path().join("audit.jsonl");
    if let Err(error) = std::fs::write(&path, bytes) {
        panic!("could not write the log: {error}");
    }

    let from_file = verify(&path, key);
    let from_reader = verify_reader(Cursor::new(bytes), key);
    match (&from_file, &from_reader) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "verify and verify_reader disagree"),
        (Err(a), Err(b)) => assert_eq!(
            a.to_string(),
            b.to_string(),
            "verify and verify_reader disagree"
        ),
        _ => panic!("verify and verify_reader disagree"),
    }

    let mut builder = JsonlAudit::builder(&path).fsync(Fsync::Never);
    if let Some(key) = key {
        builder = builder.hmac_key(key);
    }
    let opened = builder.open();
    let after = std::fs::read(&path).unwrap_or_default();
    match from_file {
        Ok(report) => {
            assert_eq!(
                report.records == 0,
                report.head.is_none(),
                "a report's head and record count disagree"
            );
            let audit = match opened {
                Ok(audit) => audit,
                Err(error) => panic!("a log that verifies does not open: {error}"),
            };
            assert_eq!(
                audit.head(),
                report.head,
                "open and verify name other heads"
            );
            assert!(
                audit.recovered().is_none(),
                "a sound log had a tail recovered"
            );
            drop(audit);
            assert_eq!(after, bytes, "opening a sound log changed it");
            if let Some((seq, hash)) = &report.head {
                if let Err(error) = verify_with_head(&path, key, (*seq, hash)) {
                    panic!("a log does not verify against its own head: {error}");
                }
            }
        }
        Err(VerifyError::Cut { offset, .. }) => {
            let audit = match opened {
                Ok(audit) => audit,
                Err(error) => panic!("a log with a cut last line does not open: {error}"),
            };
            assert!(
                audit.recovered().is_some(),
                "a cut last line was not recovered"
            );
            drop(audit);
            let kept = usize::try_from(offset).unwrap_or(usize::MAX);
            assert_eq!(
                after.as_slice(),
                bytes.get(..kept).unwrap_or(bytes),
                "the recovered log is not the bytes before the cut"
            );
            if let Err(error) = verify(&path, key) {
                panic!("the log does not verify after its cut line was moved aside: {error}");
            }
        }
        Err(error) => {
            let _ = error.line();
            assert!(
                opened.is_err(),
                "a log that does not verify opened ({error})"
            );
            assert_eq!(after, bytes, "a broken log was changed by open");
        }
    }
}
