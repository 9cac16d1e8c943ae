//! Faults the hash-chained audit log must refuse or survive: a second writer,
//! a tampered last line, a full disk, a writer killed while appending, and
//! whatever bytes a file may hold.
//!
//! Tests that need a second process run this test binary again, selecting
//! the same test with `--exact` and giving it a role in an environment
//! variable (see [`Child`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use approvals_core::audit::{
    AuditError, AuditEvent, AuditRecord, AuditSink, Fsync, JsonlAudit, OpenError, VerifyError,
    verify, verify_with_head,
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

/// The files in `dir`, by name, but for the Merkle tree each log keeps
/// beside it (`<log>.tree`, derived from the log).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".tree"))
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

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
#[cfg(target_os = "linux")]
struct Tmpfs {
    dir: tempfile::TempDir,
}

#[cfg(target_os = "linux")]
impl Tmpfs {
    /// Mounts one, or says why it cannot.
    fn mount(size: &str) -> Result<Self, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|error| format!("could not run `id -u`: {error}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("mounting a tmpfs needs root".to_owned());
        }
        let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("approvals-audit-faults")
            .arg(dir.path())
            .output()
            .map_err(|error| format!("could not run `mount`: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "`mount -t tmpfs` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Still busy (a test failed with the log open): detach it now,
            // the kernel frees it once the last file closes.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Writes `filler` until its file system has no space left.
#[cfg(target_os = "linux")]
fn fill(filler: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(filler).unwrap();
    let chunk = vec![b'.'; 4096];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
            Err(error) => panic!("filling the disk: {error}"),
        }
    }
    // Some room may remain in the last page: take it byte by byte.
    while let Ok(1) = file.write(b".") {}
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_appends_with_a_typed_error_and_the_log_recovers() {
    let disk = match Tmpfs::mount("256k") {
        Ok(disk) => disk,
        Err(reason) => {
            eprintln!("skipped: no small file system to fill: {reason}");
            return;
        }
    };
    let path = disk.path().join("audit.jsonl");
    let filler = disk.path().join("filler");
    let rt = runtime();
    rt.block_on(async {
        let audit = JsonlAudit::builder(&path)
            .fsync(Fsync::EveryRecord)
            .open()
            .unwrap();
        for _ in 0..3 {
            audit.record(&record(1500)).await.unwrap();
        }
        fill(&filler);

        // Records may still fit in the log's last page; the first that does
        // not fails, and so does every one after it while the disk is full.
        let mut acknowledged = 3;
        let mut failures = 0;
        for _ in 0..20 {
            match audit.record(&record(1500)).await {
                Ok(()) => {
                    assert_eq!(failures, 0, "a record succeeded on a full disk");
                    acknowledged += 1;
                }
                Err(AuditError::Io(error)) => {
                    assert_eq!(error.kind(), std::io::ErrorKind::StorageFull, "{error}");
                    failures += 1;
                    // Nothing of the failed record stays: the log verifies
                    // and ends at the last acknowledged record.
                    let report = verify(&path, None).unwrap();
                    assert_eq!(report.records, acknowledged);
                    assert_eq!(report.head, audit.head());
                    assert!(std::fs::read(&path).unwrap().ends_with(b"\n"));
                }
                Err(other) => panic!("expected an I/O error, got {other}"),
            }
        }
        assert!(failures >= 15, "{failures} of 20 records failed");

        // Space freed: the same writer continues the chain.
        std::fs::remove_file(&filler).unwrap();
        audit.record(&record(1500)).await.unwrap();
        acknowledged += 1;
        assert_eq!(audit.head().unwrap().0, acknowledged);
        let head = audit.head().unwrap();
        audit.close().await.unwrap();

        // And the log reopens, verifies and takes more records.
        let report = verify_with_head(&path, None, (head.0, &head.1)).unwrap();
        assert_eq!(report.records, acknowledged);
        let audit = JsonlAudit::open(&path).unwrap();
        assert!(audit.recovered().is_none());
        assert_eq!(audit.head(), Some(head.clone()));
        audit.record(&record(1500)).await.unwrap();
        audit.close().await.unwrap();
        let report = verify_with_head(&path, None, (head.0, &head.1)).unwrap();
        assert_eq!(report.records, acknowledged + 1);
    });
}

/// What a killed writer had acknowledged: the latest `(seq, hash)` it
/// printed (its tasks print in any order).
fn last_acknowledged(lines: &[String]) -> Option<(u64, String)> {
    lines
        .iter()
        .filter_map(|line| {
            // The first follows libtest's "test … " on the same line.
            let (_, rest) = line.rsplit_once("acknowledged ")?;
            let (seq, hash) = rest.split_once(' ')?;
            Some((seq.parse().ok()?, hash.to_owned()))
        })
        .max_by_key(|(seq, _)| *seq)
}

/// A writer killed with SIGKILL while appending, at several moments: the
/// log reopens (an incomplete last line is set aside), verifies, holds every
/// record the writer acknowledged, and its chain continues.
#[test]
fn a_writer_killed_while_appending_leaves_a_log_that_reopens_and_continues() {
    const TEST: &str = "a_writer_killed_while_appending_leaves_a_log_that_reopens_and_continues";
    if let Some(log) = Child::role("append until killed") {
        // Several tasks, so that batches of large records are written with
        // one write each, which a kill may interrupt.
        append_until_killed(&log, 4, 64 * 1024);
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let rt = runtime();
    let mut cuts = 0;
    let mut records = 0;
    for (round, delay_micros) in [0u64, 150, 700, 1500, 3000, 50, 400, 2000]
        .into_iter()
        .enumerate()
    {
        let mut child = Child::command(TEST, "append until killed", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until the child is appending, then kill it a little later.
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while last_acknowledged(&lines).is_none_or(|(seq, _)| seq < records + 3) {
            let wait = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(wait) {
                Ok(line) => lines.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("round {round}: the child did not start appending: {lines:?}");
                }
            }
        }
        std::thread::sleep(Duration::from_micros(delay_micros));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child was killed");
        reader.join().unwrap();
        lines.extend(lines_rx.try_iter());
        let (acknowledged, acknowledged_hash) = last_acknowledged(&lines).unwrap();

        let audit = JsonlAudit::open(&path)
            .unwrap_or_else(|error| panic!("round {round}: reopening failed: {error}"));
        if let Some(recovery) = audit.recovered() {
            cuts += 1;
            let cut = std::fs::read(&recovery.side_file).unwrap();
            assert_eq!(cut.len() as u64, recovery.bytes);
            assert!(!cut.contains(&b'\n'), "round {round}: only a partial line");
            assert!(
                recovery.seq > acknowledged,
                "round {round}: an unacknowledged record"
            );
        }
        let (head_seq, head_hash) = audit.head().unwrap();
        assert!(head_seq >= acknowledged, "round {round}: records lost");
        let report = verify_with_head(&path, None, (acknowledged, &acknowledged_hash))
            .unwrap_or_else(|error| panic!("round {round}: {error}"));
        assert_eq!(report.head, Some((head_seq, head_hash.clone())));

        // The chain continues from the last complete record.
        rt.block_on(async {
            audit.record(&record(300)).await.unwrap();
            audit.close().await.unwrap();
        });
        let report = verify_with_head(&path, None, (head_seq, &head_hash)).unwrap();
        assert_eq!(report.records, head_seq + 1);
        records = report.records;
    }
    // A kill rarely lands inside a write; the size-limit test covers that.
    eprintln!("{cuts} of 8 kills left an incomplete last line");
}

/// Appends records of `size` bytes to `log` until the process dies,
/// printing each acknowledged head.
#[allow(clippy::print_stdout, reason = "the child reports to its parent")]
fn append_until_killed(log: &Path, tasks: usize, size: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let audit =
            std::sync::Arc::new(JsonlAudit::builder(log).fsync(Fsync::Never).open().unwrap());
        let record = std::sync::Arc::new(record(size));
        let tasks: Vec<_> = (0..tasks)
            .map(|_| {
                let audit = std::sync::Arc::clone(&audit);
                let record = std::sync::Arc::clone(&record);
                tokio::spawn(async move {
                    // Bounded, in case the parent is gone.
                    let stop = Instant::now() + Duration::from_secs(20);
                    while Instant::now() < stop {
                        audit.record(&record).await.unwrap();
                        let (seq, hash) = audit.head().unwrap();
                        // After the record is acknowledged: with
                        // `Fsync::Never` it is in the page cache, which
                        // outlives the process.
                        println!("acknowledged {seq} {hash}");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// A writer whose process dies inside a write, at three places in a line:
/// the kernel ends the write short at the file size limit and kills the
/// process (`SIGXFSZ`) before it can undo anything. A kill at a random
/// moment rarely lands inside a write; this one always does. The next open
/// sets the incomplete line aside and continues the chain.
#[cfg(target_os = "linux")]
#[test]
fn a_writer_that_dies_inside_a_write_leaves_a_cut_line_that_open_sets_aside() {
    use std::os::unix::process::ExitStatusExt as _;
    const TEST: &str = "a_writer_that_dies_inside_a_write_leaves_a_cut_line_that_open_sets_aside";
    const SIZE: usize = 64 * 1024;
    if let Some(log) = Child::role("append until the size limit") {
        append_until_killed(&log, 1, SIZE);
        return;
    }
    if let Err(error) = Command::new("prlimit").arg("--version").output() {
        eprintln!(
            "skipped: `prlimit` (util-linux) is needed to limit a child's file size: {error}"
        );
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 1);
    let rt = runtime();
    for into_line in [9, SIZE / 2, SIZE - 300] {
        let start = std::fs::metadata(&path).unwrap().len();
        let limit = start + 2 * SIZE as u64 + into_line as u64;
        let child = Child::command(TEST, "append until the size limit", &path);
        let output = Command::new("prlimit")
            .arg("--core=0")
            .arg(format!("--fsize={limit}"))
            .arg("--")
            .arg(child.get_program())
            .args(child.get_args())
            .envs(
                child
                    .get_envs()
                    .filter_map(|(key, value)| Some((key, value?))),
            )
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        // SIGXFSZ is 25 on Linux.
        assert_eq!(output.status.signal(), Some(25), "killed by SIGXFSZ");
        let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let (acknowledged, acknowledged_hash) = last_acknowledged(&lines)
            .unwrap_or_else(|| panic!("no record acknowledged: {lines:?}"));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), limit);
        assert!(matches!(verify(&path, None), Err(VerifyError::Cut { .. })));

        let audit = JsonlAudit::open(&path).unwrap();
        let recovery = audit
            .recovered()
            .expect("the cut line was set aside")
            .clone();
        let cut = std::fs::read(&recovery.side_file).unwrap();
        assert!(!cut.contains(&b'\n'));
        assert!(cut.starts_with(b"{\"hash\":\""));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() + recovery.bytes,
            limit
        );
        assert_eq!(recovery.seq, acknowledged + 1);
        assert_eq!(
            audit.head(),
            Some((acknowledged, acknowledged_hash.clone()))
        );
        rt.block_on(async {
            audit.record(&record(300)).await.unwrap();
            audit.close().await.unwrap();
        });
        let report = verify_with_head(&path, None, (acknowledged, &acknowledged_hash)).unwrap();
        assert_eq!(report.records, acknowledged + 1);
    }
}

/// A valid log of four records, made once.
fn valid_log() -> &'static [u8] {
    static LOG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 4);
        std::fs::read(&path).unwrap()
    })
}

/// Whole lines of a valid log, arbitrary bytes, and a valid log changed in a
/// few places, cut, or grown.
fn log_contents() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::{Just, any, prop, prop_oneof};
    use proptest::strategy::Strategy as _;
    let length = valid_log().len();
    let edits = prop::collection::vec((0..length, any::<u8>()), 0..4);
    let inserted = prop::collection::vec(any::<u8>(), 0..16);
    let whole_lines = (0..=4usize).prop_map(|count| {
        valid_log()
            .split_inclusive(|&byte| byte == b'\n')
            .take(count)
            .flatten()
            .copied()
            .collect()
    });
    prop_oneof![
        whole_lines,
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'{'), any::<u8>()], 0..600),
        (edits, 0..=length, inserted, 0..=length).prop_map(|(edits, cut, inserted, at)| {
            let mut bytes = valid_log().to_vec();
            for (position, byte) in edits {
                bytes[position] = byte;
            }
            let at = at.min(cut);
            bytes.truncate(cut);
            bytes.splice(at..at, inserted);
            bytes
        }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever a file holds, reading and opening it do not panic, and they
    /// agree: a log that verifies opens as it is; one whose last line lacks
    /// its newline opens with that line set aside and nothing else changed;
    /// any other fault fails the open at the line `verify` names, and the
    /// file is left as it was.
    #[test]
    fn any_file_contents_are_verified_and_opened_consistently(
        bytes in log_contents(),
        head_seq in 0u64..6,
        head_hash in "[0-9a-fA-F]{0,70}",
    ) {
        use proptest::prelude::prop_assert;
        use proptest::prelude::prop_assert_eq;

        let read = approvals_core::audit::verify_reader(&bytes[..], None);
        let _ = approvals_core::audit::verify_reader_with_head(
            &bytes[..], None, (head_seq, &head_hash),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, &bytes).unwrap();
        prop_assert_eq!(
            verify(&path, None).map_err(|error| error.to_string()),
            read.as_ref().map(Clone::clone).map_err(ToString::to_string)
        );

        let opened = JsonlAudit::open(&path);
        match (&read, opened) {
            (Ok(report), Ok(audit)) => {
                prop_assert!(audit.recovered().is_none());
                prop_assert_eq!(audit.head(), report.head.clone());
                drop(audit);
                prop_assert_eq!(std::fs::read(&path).unwrap(), bytes);
            }
            (Err(VerifyError::Cut { line, seq, offset, bytes: cut }), Ok(audit)) => {
                let recovery = audit.recovered().unwrap().clone();
                prop_assert_eq!((recovery.line, recovery.seq, recovery.bytes), (*line, *seq, *cut));
                drop(audit);
                let offset = usize::try_from(*offset).unwrap();
                prop_assert_eq!(std::fs::read(&path).unwrap(), &bytes[..offset]);
                prop_assert_eq!(std::fs::read(&recovery.side_file).unwrap(), &bytes[offset..]);
                prop_assert_eq!(verify(&path, None).unwrap().records, seq - 1);
            }
            (Err(error), Err(OpenError::Broken { source, .. })) => {
                let crash_or_io = matches!(error, VerifyError::Cut { .. } | VerifyError::Io(_));
                prop_assert!(!crash_or_io, "{}", error);
                prop_assert_eq!(source.to_string(), error.to_string());
                prop_assert!(source.line().is_some());
                prop_assert_eq!(std::fs::read(&path).unwrap(), bytes);
                prop_assert_eq!(files_in(dir.path()), ["audit.jsonl"]);
            }
            (read, opened) => {
                prop_assert!(false, "verify: {:?}, open: {:?}", read, opened.map(|audit| audit.head()));
            }
        }
    }
}
