use std::sync::Arc;

use futures::FutureExt as _;
use serde_json::{Value, json};

use super::*;
use crate::audit::AuditEvent;
use crate::mask::MaskedView;
use crate::{Choice, Conclusion, Fingerprint, Identity, RequestId, Risk, Timestamp};

const KEY: &[u8] = b"a secret kept away from the log";

/// Records of every shape, with text that needs escaping, unicode and
/// numbers of each kind, so the format is exercised beyond ASCII.
fn sample(index: u64) -> AuditRecord {
    let id = RequestId::from_string(format!("req-{index}"));
    let fingerprint = Fingerprint::of("billing.refund", &json!({"cents": index}), &"bot".into());
    let event = match index % 3 {
        0 => AuditEvent::Requested {
            action: "billing.refund".into(),
            description: "Refund a \"charge\"\n(ünïcode ✓)".into(),
            risk: Risk::High,
            requester: Identity::new("agent:bot"),
            justification: Some("double charge".into()),
            arguments: MaskedView::from_masked(json!({
                "customer": "c_***", "cents": index, "ratio": 0.1, "neg": -3,
                "nested": {"z": [1, 2.5e-8, null, true], "a": "\u{1F600}\t"}
            })),
            fingerprint,
            rule: Some("refunds".into()),
            verdict: "require_approval".into(),
            approvers: vec![Identity::new("fin@example.com")],
            quorum: Some(1),
            deadline: Some(Timestamp::now()),
        },
        1 => AuditEvent::Vote {
            voter: Identity::new("fin@example.com"),
            choice: Choice::deny("not a duplicate"),
            channel: "queue".into(),
            fingerprint,
            counted: true,
            refusal: None,
        },
        _ => AuditEvent::Concluded {
            conclusion: Conclusion::Approved {
                by: vec![Identity::new("fin@example.com")],
            },
        },
    };
    AuditRecord::now(id, event)
}

async fn write_log(path: &Path, count: u64, key: Option<&[u8]>) -> Vec<(u64, String)> {
    let mut builder = JsonlAudit::builder(path);
    if let Some(key) = key {
        builder = builder.hmac_key(key);
    }
    let audit = builder.open().unwrap();
    let mut heads = Vec::new();
    for index in 1..=count {
        audit.record(&sample(index)).await.unwrap();
        heads.push(audit.head().unwrap());
    }
    audit.close().await.unwrap();
    heads
}

fn log_bytes(count: u64, key: Option<&[u8]>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(write_log(&path, count, key));
    std::fs::read(&path).unwrap()
}

/// Lines with their newlines.
fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn check(bytes: &[u8], key: Option<&[u8]>) -> Result<VerifyReport, VerifyError> {
    verify_reader(bytes, key)
}

/// Rebuilds a file from parsed lines the way the documentation says,
/// recomputing every `prev` and `hash`, as an attacker without the key
/// (or with it) could.
fn rechain(values: &[Value], key: Option<&[u8]>) -> Vec<u8> {
    let mut prev = hex::encode(GENESIS);
    let mut out = Vec::new();
    for value in values {
        let mut value = value.clone();
        let object = value.as_object_mut().unwrap();
        object.remove("hash");
        object.insert("prev".into(), Value::String(prev.clone()));
        let body = canonical_json(&Value::Object(object.clone()));
        let hash = match key {
            None => hex::encode(Sha256::digest(&body)),
            Some(key) => {
                let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
                mac.update(&body);
                hex::encode(mac.finalize().into_bytes())
            }
        };
        object.insert("hash".into(), Value::String(hash.clone()));
        out.extend(canonical_json(&value));
        out.push(b'\n');
        prev = hash;
    }
    out
}

fn parse_lines(bytes: &[u8]) -> Vec<Value> {
    split(bytes)
        .iter()
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect()
}

#[tokio::test]
async fn lines_follow_the_documented_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let heads = write_log(&path, 4, None).await;
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.ends_with(b"\n"));
    let mut prev = "0".repeat(64);
    for (index, line) in split(&bytes).iter().enumerate() {
        let seq = index as u64 + 1;
        let value: Value = serde_json::from_slice(line).unwrap();
        let mut canonical = canonical_json(&value);
        canonical.push(b'\n');
        assert_eq!(&canonical, line, "line {seq} is canonical JSON");
        let object = value.as_object().unwrap();
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4);
        for key in ["hash", "prev", "record", "seq"] {
            assert!(keys.contains(&key));
        }
        assert_eq!(object["seq"], json!(seq));
        assert_eq!(object["prev"], json!(prev));
        let mut body = object.clone();
        body.remove("hash");
        let hash = hex::encode(Sha256::digest(canonical_json(&Value::Object(body))));
        assert_eq!(object["hash"], json!(hash));
        let original = serde_json::to_value(sample(seq)).unwrap();
        assert_eq!(object["record"]["request_id"], original["request_id"]);
        assert_eq!(object["record"]["event"], original["event"]);
        let record: AuditRecord = serde_json::from_value(object["record"].clone()).unwrap();
        assert_eq!(record.kind(), sample(seq).kind());
        assert_eq!(heads[index], (seq, hash.clone()));
        prev = hash;
    }
    let report = verify(&path, None).unwrap();
    assert_eq!(report.records, 4);
    assert_eq!(report.head, Some((4, prev)));
}

#[test]
fn hmac_lines_use_the_key() {
    let bytes = log_bytes(3, Some(KEY));
    for line in parse_lines(&bytes) {
        let mut body = line.as_object().unwrap().clone();
        let hash = body.remove("hash").unwrap();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(KEY).unwrap();
        mac.update(&canonical_json(&Value::Object(body)));
        assert_eq!(hash, json!(hex::encode(mac.finalize().into_bytes())));
    }
    assert_eq!(check(&bytes, Some(KEY)).unwrap().records, 3);
    assert!(matches!(
        check(&bytes, None),
        Err(VerifyError::Changed { line: 1, seq: 1 })
    ));
    assert!(matches!(
        check(&bytes, Some(b"another key")),
        Err(VerifyError::Changed { line: 1, seq: 1 })
    ));
}

#[test]
fn a_chain_rewritten_without_the_key_fails_with_the_key() {
    let bytes = log_bytes(4, Some(KEY));
    let mut values = parse_lines(&bytes);
    values[2]["record"]["event"] = json!("concluded");
    values[2]["record"]["outcome"] = json!("cancelled");
    let forged = rechain(&values, None);
    // Without a key, a rewritten chain is indistinguishable.
    assert_eq!(check(&forged, None).unwrap().records, 4);
    assert!(matches!(
        check(&forged, Some(KEY)),
        Err(VerifyError::Changed { line: 1, seq: 1 })
    ));
    // Keeping the keyed lines before the change and forging from it on.
    let mut mixed: Vec<u8> = split(&bytes)[..2].concat();
    let tail = rechain(&values, None);
    mixed.extend(split(&tail)[2..].concat());
    assert!(matches!(
        check(&mixed, Some(KEY)),
        Err(VerifyError::Changed { line: 3, seq: 3 })
    ));
}

#[test]
fn every_changed_byte_is_named_at_its_line() {
    for key in [None, Some(KEY)] {
        let bytes = log_bytes(3, key);
        let lines = split(&bytes);
        let mut line_of = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            line_of.extend(std::iter::repeat_n(index as u64 + 1, line.len()));
        }
        for position in 0..bytes.len() {
            for replacement in [bytes[position] ^ 0x01, b'x', b' '] {
                if replacement == bytes[position] {
                    continue;
                }
                let mut changed = bytes.clone();
                changed[position] = replacement;
                let line = line_of[position];
                let error = check(&changed, key).unwrap_err();
                // Only the final newline's loss is a crash's mark.
                let final_newline = position == bytes.len() - 1;
                let named = match error {
                    VerifyError::Changed { line: at, seq } => at == line && seq == line,
                    VerifyError::Malformed { line: at, seq, .. } => {
                        !final_newline && at == line && seq == line
                    }
                    VerifyError::Cut { line: at, seq, .. } => {
                        final_newline && at == line && seq == line
                    }
                    _ => false,
                };
                assert!(named, "byte {position} of line {line}: {error}");
            }
        }
    }
}

#[test]
fn a_removed_line_is_named() {
    let lines = split(&log_bytes(5, None));
    let without_third = [&lines[..2], &lines[3..]].concat().concat();
    let error = check(&without_third, None).unwrap_err();
    assert!(matches!(
        error,
        VerifyError::Removed {
            line: 3,
            seq: 4,
            expected: 3
        }
    ));
    assert_eq!(
        error.to_string(),
        "record 3 was removed: line 3 holds record 4 in its place"
    );
    assert_eq!(error.line(), Some(3));

    let without_first = lines[1..].concat();
    assert!(matches!(
        check(&without_first, None),
        Err(VerifyError::Removed {
            line: 1,
            seq: 2,
            expected: 1
        })
    ));
}

#[test]
fn a_removal_hidden_by_renumbering_is_named() {
    // The attacker renumbers and rehashes the lines after the removed one
    // but cannot know to fix `prev` as well.
    let mut values = parse_lines(&log_bytes(5, None));
    values.remove(2);
    for (index, value) in values.iter_mut().enumerate().skip(2) {
        value["seq"] = json!(index as u64 + 1);
        let mut body = value.as_object().unwrap().clone();
        body.remove("hash");
        value["hash"] = json!(hex::encode(Sha256::digest(canonical_json(&Value::Object(
            body
        )))));
    }
    let forged: Vec<u8> = values
        .iter()
        .flat_map(|value| {
            let mut line = canonical_json(value);
            line.push(b'\n');
            line
        })
        .collect();
    let error = check(&forged, None).unwrap_err();
    assert!(matches!(
        error,
        VerifyError::Removed {
            line: 3,
            seq: 3,
            expected: 3
        }
    ));
    assert!(
        error
            .to_string()
            .starts_with("record 3 (line 3) does not follow")
    );
}

#[test]
fn reordered_lines_are_named() {
    let lines = split(&log_bytes(5, None));
    let arrange = |order: &[usize]| -> Vec<u8> {
        order
            .iter()
            .flat_map(|&index| lines[index].clone())
            .collect()
    };
    let cases: [(&[usize], u64, u64, u64); 5] = [
        (&[0, 2, 1, 3, 4], 2, 3, 2),
        (&[1, 0, 2, 3, 4], 1, 2, 1),
        (&[0, 1, 2, 4, 3], 4, 5, 4),
        (&[0, 4, 1, 2, 3], 2, 5, 2),
        (&[0, 1, 1, 2, 3, 4], 3, 2, 3),
    ];
    for (order, line, seq, expected) in cases {
        let error = check(&arrange(order), None).unwrap_err();
        assert!(
            matches!(error, VerifyError::Reordered { line: l, seq: s, expected: e } if (l, s, e) == (line, seq, expected)),
            "{order:?}: {error}"
        );
    }
    let error = check(&arrange(&[0, 2, 1, 3, 4]), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "record 3 (line 2) is out of order: record 2 belongs there"
    );
}

#[test]
fn a_cut_last_line_is_named() {
    let bytes = log_bytes(5, None);
    let lines = split(&bytes);
    let before_last = lines[..4].concat().len();
    let cut_at = |len: usize| -> Result<VerifyReport, VerifyError> { check(&bytes[..len], None) };
    for len in [before_last + 1, before_last + 40, bytes.len() - 1] {
        let error = cut_at(len).unwrap_err();
        assert!(
            matches!(error, VerifyError::Cut { line: 5, seq: 5, offset, bytes } if offset == before_last as u64 && bytes == (len - before_last) as u64),
            "{len}: {error}"
        );
    }
    assert_eq!(
        cut_at(bytes.len() - 1).unwrap_err().to_string(),
        format!(
            "record 5 (line 5) was cut: the last {} bytes of the log are a line without its newline, \
             which a crash while writing leaves (opening the log to write sets it aside)",
            lines[4].len() - 1
        )
    );
    // A whole number of lines is a valid, shorter chain.
    assert_eq!(cut_at(before_last).unwrap().records, 4);

    // A complete last line that is not a record is no crash's leftover.
    let mut garbage_last = lines[..4].concat();
    garbage_last.extend_from_slice(b"{\"hash\":\0\0\0\0\n");
    assert!(matches!(
        check(&garbage_last, None),
        Err(VerifyError::Malformed {
            line: 5,
            seq: 5,
            ..
        })
    ));
    let mut garbage_middle = lines[..2].concat();
    garbage_middle.extend_from_slice(b"not json\n");
    garbage_middle.extend(lines[2..].concat());
    let error = check(&garbage_middle, None).unwrap_err();
    assert!(matches!(
        error,
        VerifyError::Malformed {
            line: 3,
            seq: 3,
            ..
        }
    ));
    assert!(
        error
            .to_string()
            .starts_with("line 3 is not an audit record (record 3 belongs there)")
    );
}

#[test]
fn a_changed_record_is_named() {
    let bytes = log_bytes(3, None);
    let text = String::from_utf8(bytes).unwrap();
    let changed = text.replacen("fin@example.com", "fin@example.org", 1);
    let error = check(changed.as_bytes(), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "record 1 (line 1) was changed: its hash does not match its content"
    );
}

#[tokio::test]
async fn removing_records_at_the_end_is_caught_only_with_a_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let heads = write_log(&path, 5, None).await;
    let (seq5, hash5) = heads[4].clone();
    let (seq3, hash3) = heads[2].clone();
    verify_with_head(&path, None, (seq5, &hash5)).unwrap();
    verify_with_head(&path, None, (seq3, &hash3)).unwrap();
    verify_with_head(&path, None, (seq3, &hash3.to_ascii_uppercase())).unwrap();
    verify_with_head(&path, None, (0, &"0".repeat(64))).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    let shorter = split(&bytes)[..4].concat();
    std::fs::write(&path, &shorter).unwrap();
    assert_eq!(verify(&path, None).unwrap().records, 4);
    verify_with_head(&path, None, (seq3, &hash3)).unwrap();
    let error = verify_with_head(&path, None, (seq5, &hash5)).unwrap_err();
    assert!(
        matches!(
            &error,
            VerifyError::HeadMismatch {
                seq: 5,
                found: None,
                records: 4,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the log ends at record 4, before the expected head, record 5: records were removed from the end"
    );
    let error = verify_with_head(&path, None, (seq3, &hash5)).unwrap_err();
    assert!(matches!(
        &error,
        VerifyError::HeadMismatch { seq: 3, found: Some(found), .. } if *found == hash3
    ));
    // The first bad record wins over the head.
    let mut broken = shorter.clone();
    broken[10] ^= 1;
    let error = verify_reader_with_head(&broken[..], None, (seq5, &hash5)).unwrap_err();
    assert!(matches!(error, VerifyError::Changed { line: 1, .. }));
}

#[test]
fn an_empty_log_verifies() {
    let report = check(b"", None).unwrap();
    assert_eq!(report.records, 0);
    assert_eq!(report.head, None);
}

#[test]
fn a_missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = verify(dir.path().join("nope.jsonl"), None).unwrap_err();
    assert!(matches!(error, VerifyError::Io(_)));
    assert_eq!(error.line(), None);
}

#[tokio::test]
async fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let heads = write_log(&path, 2, Some(KEY)).await;
    let audit = JsonlAudit::builder(&path).hmac_key(KEY).open().unwrap();
    assert_eq!(audit.head(), Some(heads[1].clone()));
    assert!(audit.recovered().is_none());
    audit.record(&sample(3)).await.unwrap();
    assert_eq!(audit.head().unwrap().0, 3);
    drop(audit);
    let report = verify(&path, Some(KEY)).unwrap();
    assert_eq!(report.records, 3);
}

#[tokio::test]
async fn open_moves_a_cut_last_line_aside_and_continues() {
    let tails: [&[u8]; 3] = [
        b"{\"hash\":\"0123",
        b"\0\0\0\0\0\0\0\0",
        b"{\"hash\":\"garbage that a torn write left\"}",
    ];
    for tail in tails {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let heads = write_log(&path, 3, None).await;
        let good = std::fs::read(&path).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(tail).unwrap();
        drop(file);

        let audit = JsonlAudit::open(&path).unwrap();
        let recovery = audit.recovered().unwrap().clone();
        assert_eq!((recovery.line, recovery.seq), (4, 4));
        assert_eq!(recovery.bytes, tail.len() as u64);
        assert_eq!(std::fs::read(&recovery.side_file).unwrap(), tail);
        assert!(
            recovery
                .side_file
                .to_string_lossy()
                .starts_with(&format!("{}.cut-", path.display()))
        );
        assert_eq!(std::fs::read(&path).unwrap(), good);
        assert_eq!(audit.head(), Some(heads[2].clone()));
        audit.record(&sample(4)).await.unwrap();
        audit.close().await.unwrap();
        assert_eq!(verify(&path, None).unwrap().records, 4);
    }
}

#[tokio::test]
async fn open_refuses_a_tampered_log_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 3, None).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let second = split(&bytes)[0].len() + 100;
    bytes[second] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let error = JsonlAudit::open(&path).unwrap_err();
    assert!(
        matches!(
            &error,
            OpenError::Broken {
                source: VerifyError::Changed { line: 2, seq: 2 },
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("refusing to append to it: record 2 (line 2) was changed")
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // Nothing was set aside: the log and the tree beside it are all there is.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["audit.jsonl", "audit.jsonl.tree"]);
    assert!(matches!(AuditError::from(error), AuditError::Other(_)));
}

#[tokio::test]
async fn open_refuses_a_log_under_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 2, Some(KEY)).await;
    for builder in [
        JsonlAudit::builder(&path),
        JsonlAudit::builder(&path).hmac_key(b"wrong".to_vec()),
    ] {
        assert!(matches!(
            builder.open(),
            Err(OpenError::Broken {
                source: VerifyError::Changed { line: 1, .. },
                ..
            })
        ));
    }
    assert!(matches!(
        JsonlAudit::builder(&path).hmac_key(Vec::new()).open(),
        Err(OpenError::EmptyKey)
    ));
}

#[test]
fn the_builder_does_not_show_the_key() {
    let builder = JsonlAudit::builder("audit.jsonl").hmac_key(KEY);
    let shown = format!("{builder:?}");
    assert!(shown.contains("<redacted>"));
    assert!(!shown.contains("secret"));
}

#[test]
fn the_padded_key_is_standard_hmac() {
    for length in [0usize, 1, 31, 32, 63, 64, 65, 200] {
        let key: Vec<u8> = (0..length).map(|i| (i * 7 + 1) as u8).collect();
        let tail = b"\"prev\":\"x\",\"seq\":1}";
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
        mac.update(b"{");
        mac.update(tail);
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(ChainKey::keyed(&key).digest(tail), expected, "{length}");
    }
}

#[tokio::test]
async fn records_after_close_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let audit = JsonlAudit::open(dir.path().join("audit.jsonl")).unwrap();
    audit.record(&sample(1)).await.unwrap();
    audit.flush().await.unwrap();
    audit.close().await.unwrap();
    assert!(matches!(
        audit.record(&sample(2)).await,
        Err(AuditError::Closed)
    ));
    assert!(matches!(audit.flush().await, Err(AuditError::Closed)));
    assert!(matches!(audit.close().await, Err(AuditError::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_records_are_all_chained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let audit = Arc::new(JsonlAudit::open(&path).unwrap());
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let audit = Arc::clone(&audit);
            tokio::spawn(async move {
                for index in 0..20 {
                    audit.record(&sample(task * 100 + index)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(audit.head().unwrap().0, 640);
    drop(audit);
    assert_eq!(verify(&path, None).unwrap().records, 640);
}

/// A disk in memory that fills up, fails syncs or truncations on demand,
/// and counts syncs.
#[derive(Clone, Default)]
struct TestDisk(Arc<Mutex<Disk>>);

#[derive(Default)]
struct Disk {
    bytes: Vec<u8>,
    capacity: Option<usize>,
    fail_sync: bool,
    fail_truncate: bool,
    syncs: usize,
    sync_delay: Duration,
}

impl TestDisk {
    fn with<R>(&self, change: impl FnOnce(&mut Disk) -> R) -> R {
        change(&mut self.0.lock().unwrap())
    }

    fn bytes(&self) -> Vec<u8> {
        self.with(|disk| disk.bytes.clone())
    }

    fn syncs(&self) -> usize {
        self.with(|disk| disk.syncs)
    }

    fn start(&self, fsync: Fsync) -> JsonlAudit {
        let chain = Chain {
            seq: 0,
            prev: GENESIS,
            len: 0,
        };
        JsonlAudit::start(
            self.clone(),
            chain,
            ChainKey::Plain,
            fsync,
            "test".into(),
            None,
            Extras {
                tree: None,
                checkpoints: None,
            },
        )
        .unwrap()
    }
}

impl Storage for TestDisk {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.with(|disk| {
            let room = disk.capacity.map_or(usize::MAX, |capacity| {
                capacity.saturating_sub(disk.bytes.len())
            });
            if bytes.len() > room {
                disk.bytes.extend_from_slice(&bytes[..room]);
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
            disk.bytes.extend_from_slice(bytes);
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        let delay = self.with(|disk| disk.sync_delay);
        std::thread::sleep(delay);
        self.with(|disk| {
            disk.syncs += 1;
            if disk.fail_sync {
                Err(io::Error::other("sync failed"))
            } else {
                Ok(())
            }
        })
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.with(|disk| {
            if disk.fail_truncate {
                return Err(io::Error::other("truncate failed"));
            }
            disk.bytes.truncate(len as usize);
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_full_disk_fails_the_record_and_keeps_the_log_valid() {
    let disk = TestDisk::default();
    let audit = disk.start(Fsync::EveryRecord);
    audit.record(&sample(1)).await.unwrap();
    audit.record(&sample(2)).await.unwrap();
    let head = audit.head();
    let good = disk.bytes();
    disk.with(|disk| disk.capacity = Some(good.len() + 100));

    for index in [3, 4] {
        let error = audit.record(&sample(index)).await.unwrap_err();
        match error {
            AuditError::Io(error) => assert_eq!(error.kind(), io::ErrorKind::StorageFull),
            other => panic!("{other}"),
        }
        assert_eq!(disk.bytes(), good, "the partial line is cut off");
        assert_eq!(audit.head(), head);
        assert_eq!(check(&disk.bytes(), None).unwrap().records, 2);
    }

    disk.with(|disk| disk.capacity = None);
    audit.record(&sample(5)).await.unwrap();
    let report = check(&disk.bytes(), None).unwrap();
    assert_eq!(report.records, 3);
    assert_eq!(audit.head(), report.head);
    let third = parse_lines(&disk.bytes()).pop().unwrap();
    assert_eq!(third["seq"], json!(3));
    assert_eq!(third["prev"], json!(head.unwrap().1));
    assert_eq!(third["record"]["request_id"], json!("req-5"));
}

#[tokio::test]
async fn a_failed_sync_rolls_the_lines_back() {
    let disk = TestDisk::default();
    let audit = disk.start(Fsync::group_commit());
    audit.record(&sample(1)).await.unwrap();
    let good = disk.bytes();
    disk.with(|disk| disk.fail_sync = true);
    assert!(matches!(
        audit.record(&sample(2)).await,
        Err(AuditError::Io(_))
    ));
    assert_eq!(disk.bytes(), good);
    assert!(audit.flush().await.is_err());
    disk.with(|disk| disk.fail_sync = false);
    audit.record(&sample(3)).await.unwrap();
    assert_eq!(check(&disk.bytes(), None).unwrap().records, 2);
}

#[tokio::test]
async fn nothing_is_appended_until_a_partial_line_is_cut_off() {
    let disk = TestDisk::default();
    let audit = disk.start(Fsync::EveryRecord);
    audit.record(&sample(1)).await.unwrap();
    let good = disk.bytes();
    disk.with(|disk| {
        disk.capacity = Some(good.len() + 50);
        disk.fail_truncate = true;
    });
    assert!(audit.record(&sample(2)).await.is_err());
    let stuck = disk.bytes();
    assert_eq!(stuck.len(), good.len() + 50);
    disk.with(|disk| disk.capacity = None);
    assert!(audit.record(&sample(3)).await.is_err());
    assert_eq!(disk.bytes(), stuck, "nothing lands after the partial line");

    disk.with(|disk| disk.fail_truncate = false);
    audit.record(&sample(4)).await.unwrap();
    let report = check(&disk.bytes(), None).unwrap();
    assert_eq!(report.records, 2);
}

/// Records `sample(index)` for every index at once, from one task each.
async fn record_concurrently(audit: &Arc<JsonlAudit>, indexes: impl Iterator<Item = u64>) {
    let tasks: Vec<_> = indexes
        .map(|index| {
            let audit = Arc::clone(audit);
            tokio::spawn(async move { audit.record(&sample(index)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_syncs_once_per_batch() {
    let disk = TestDisk::default();
    disk.with(|disk| disk.sync_delay = Duration::from_millis(20));
    let audit = Arc::new(disk.start(Fsync::group_commit()));
    record_concurrently(&audit, 0..50).await;
    let syncs = disk.syncs();
    assert!(syncs < 10, "{syncs} syncs for 50 records");
    assert_eq!(check(&disk.bytes(), None).unwrap().records, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_batch_and_max_delay_bound_a_batch() {
    let disk = TestDisk::default();
    let audit = Arc::new(disk.start(Fsync::GroupCommit {
        max_batch: 4,
        max_delay: Duration::from_millis(5),
    }));
    audit.record(&sample(0)).await.unwrap();
    assert_eq!(disk.syncs(), 1);
    record_concurrently(&audit, 1..=12).await;
    // The lone record, then batches of at most 4 for the other 12.
    assert!(disk.syncs() >= 4, "{} syncs", disk.syncs());
    assert_eq!(check(&disk.bytes(), None).unwrap().records, 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_record_syncs_each_record() {
    let disk = TestDisk::default();
    let audit = Arc::new(disk.start(Fsync::EveryRecord));
    record_concurrently(&audit, 0..10).await;
    assert_eq!(disk.syncs(), 10);
}

#[tokio::test]
async fn never_syncs_only_when_asked() {
    let disk = TestDisk::default();
    let audit = disk.start(Fsync::Never);
    for index in 0..10 {
        audit.record(&sample(index)).await.unwrap();
    }
    assert_eq!(disk.syncs(), 0);
    audit.flush().await.unwrap();
    assert_eq!(disk.syncs(), 1);
    audit.close().await.unwrap();
    assert_eq!(disk.syncs(), 2);
    assert_eq!(check(&disk.bytes(), None).unwrap().records, 10);
}

#[test]
fn dropping_writes_what_was_queued() {
    let disk = TestDisk::default();
    disk.with(|disk| disk.sync_delay = Duration::from_millis(5));
    let audit = disk.start(Fsync::group_commit());
    for index in 0..5 {
        // Polled once: sent to the writer, then abandoned by its caller.
        assert!(audit.record(&sample(index)).now_or_never().is_none());
    }
    drop(audit);
    assert_eq!(check(&disk.bytes(), None).unwrap().records, 5);
}

mod tree_and_checkpoints {
    use std::path::PathBuf;

    use super::*;
    use crate::audit::checkpoint::{SignerKey, VerifierKey};
    use crate::audit::merkle::{
        HashStore, inclusion_proof, leaf_hash, root_of, stored_hash_count, tree_root,
        verify_inclusion,
    };

    fn beside(path: &Path, suffix: &str) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    fn leaves(path: &Path) -> Vec<Hash> {
        split(&std::fs::read(path).unwrap())
            .iter()
            .map(|line| leaf_hash(line.strip_suffix(b"\n").unwrap()))
            .collect()
    }

    fn checkpoint_of(path: &Path, verifier: &VerifierKey) -> Checkpoint {
        let note = std::fs::read_to_string(beside(path, ".checkpoint")).unwrap();
        verifier.open(&note).unwrap()
    }

    #[tokio::test]
    async fn the_tree_beside_the_log_holds_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 37, None).await;
        let leaves = leaves(&path);
        let tree = TreeFile::open_beside(&path).unwrap();
        assert_eq!(tree.size(), 37);
        assert_eq!(
            std::fs::metadata(beside(&path, ".tree")).unwrap().len(),
            stored_hash_count(37) * 32
        );
        let root = tree_root(&tree, 37).unwrap();
        assert_eq!(root, root_of(&leaves));
        for index in 0..37 {
            let proof = inclusion_proof(&tree, index, 37).unwrap();
            verify_inclusion(index, 37, &leaves[index as usize], &proof, &root).unwrap();
        }
    }

    #[tokio::test]
    async fn a_missing_or_short_tree_is_caught_up_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 20, None).await;
        let tree_path = beside(&path, ".tree");
        let full = std::fs::read(&tree_path).unwrap();
        // Short by a few hashes and half a hash, as a crash may leave it.
        std::fs::write(&tree_path, &full[..full.len() - 100]).unwrap();
        JsonlAudit::open(&path).unwrap().close().await.unwrap();
        assert_eq!(std::fs::read(&tree_path).unwrap(), full);
        std::fs::remove_file(&tree_path).unwrap();
        JsonlAudit::open(&path).unwrap().close().await.unwrap();
        assert_eq!(std::fs::read(&tree_path).unwrap(), full);
    }

    #[tokio::test]
    async fn a_log_cut_behind_its_tree_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 10, None).await;
        let bytes = std::fs::read(&path).unwrap();
        let lines = split(&bytes);
        std::fs::write(&path, lines[..7].concat()).unwrap();
        let error = JsonlAudit::open(&path).unwrap_err();
        assert!(
            matches!(
                error,
                OpenError::TreeAhead {
                    records: 7,
                    tree: 10,
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("records 8 to 10 were removed"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_rewritten_log_does_not_match_its_tree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 10, None).await;
        let mut values = parse_lines(&std::fs::read(&path).unwrap());
        values[4]["record"]["at"] = json!("2030-01-01T00:00:00Z");
        std::fs::write(&path, rechain(&values, None)).unwrap();
        let error = JsonlAudit::open(&path).unwrap_err();
        assert!(
            matches!(error, OpenError::TreeMismatch { seq: 5, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn checkpoints_are_signed_every_n_records_and_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let signer = SignerKey::generate("audit.example.com/log").unwrap();
        let verifier = signer.verifier();
        let audit = JsonlAudit::builder(&path)
            .checkpoint_key(signer)
            .checkpoint_every(4)
            .open()
            .unwrap();
        for index in 0..5 {
            audit.record(&sample(index)).await.unwrap();
        }
        // Signed after the fourth record; the fifth waits for the next.
        assert_eq!(checkpoint_of(&path, &verifier).size, 4);
        let now = audit.checkpoint().await.unwrap();
        assert_eq!(now.checkpoint.size, 5);
        audit.record(&sample(5)).await.unwrap();
        audit.close().await.unwrap();
        let last = checkpoint_of(&path, &verifier);
        assert_eq!(last.size, 6);
        assert_eq!(last.origin, "audit.example.com/log");
        assert_eq!(last.root, root_of(&leaves(&path)));
        verify_with_checkpoint(&path, None, &last).unwrap();
    }

    #[tokio::test]
    async fn a_passed_interval_signs_after_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let signer = SignerKey::generate("log").unwrap();
        let verifier = signer.verifier();
        // An interval that has always passed: every batch is followed by a
        // checkpoint, written before a flush queued after it returns.
        let audit = JsonlAudit::builder(&path)
            .checkpoint_key(signer)
            .checkpoint_interval(Duration::ZERO)
            .open()
            .unwrap();
        audit
            .record_all(&[sample(0), sample(1), sample(2)])
            .await
            .unwrap();
        audit.flush().await.unwrap();
        assert_eq!(checkpoint_of(&path, &verifier).size, 3);
        audit.record(&sample(3)).await.unwrap();
        audit.flush().await.unwrap();
        assert_eq!(checkpoint_of(&path, &verifier).size, 4);
        audit.close().await.unwrap();
    }

    #[tokio::test]
    async fn verify_with_a_checkpoint_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let signer = SignerKey::generate("log").unwrap();
        let verifier = signer.verifier();
        let audit = JsonlAudit::builder(&path)
            .checkpoint_key(signer)
            .open()
            .unwrap();
        for index in 0..12 {
            audit.record(&sample(index)).await.unwrap();
        }
        audit.close().await.unwrap();
        let checkpoint = checkpoint_of(&path, &verifier);
        let report = verify_with_checkpoint(&path, None, &checkpoint).unwrap();
        assert_eq!(report.root, Some(checkpoint.root));
        let bytes = std::fs::read(&path).unwrap();

        // A cut tail: the first missing record is named.
        let lines = split(&bytes);
        std::fs::write(&path, lines[..9].concat()).unwrap();
        let error = verify_with_checkpoint(&path, None, &checkpoint).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::CutBeforeCheckpoint {
                records: 9,
                size: 12
            }
        ));
        assert!(
            error.to_string().contains("the first missing record is 10"),
            "{error}"
        );

        // A rewritten chain: a fork, and the changed record named from the
        // tree beside the log.
        let mut values = parse_lines(&bytes);
        values[6]["record"]["at"] = json!("2030-01-01T00:00:00Z");
        std::fs::write(&path, rechain(&values, None)).unwrap();
        let error = verify_with_checkpoint(&path, None, &checkpoint).unwrap_err();
        assert!(
            matches!(
                error,
                VerifyError::Forked {
                    size: 12,
                    changed: Some(7),
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("record 7 was changed"),
            "{error}"
        );

        // An edited record: the chain names it.
        let mut edited = bytes.clone();
        let at = split(&bytes)[..2].concat().len() + 120;
        edited[at] ^= 1;
        std::fs::write(&path, &edited).unwrap();
        let error = verify_with_checkpoint(&path, None, &checkpoint).unwrap_err();
        assert!(
            matches!(
                error,
                VerifyError::Changed { seq: 3, .. } | VerifyError::Malformed { seq: 3, .. }
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn checkpoints_extend_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let signer = SignerKey::generate("log").unwrap();
        let audit = JsonlAudit::builder(&path)
            .checkpoint_key(signer)
            .open()
            .unwrap();
        audit.record(&sample(0)).await.unwrap();
        audit.record(&sample(1)).await.unwrap();
        audit.record(&sample(2)).await.unwrap();
        let old = audit.checkpoint().await.unwrap().checkpoint;
        for index in 3..11 {
            audit.record(&sample(index)).await.unwrap();
        }
        let new = audit.checkpoint().await.unwrap().checkpoint;
        audit.close().await.unwrap();
        let tree = TreeFile::open_beside(&path).unwrap();
        let proof = crate::audit::merkle::consistency_proof(&tree, old.size, new.size).unwrap();
        crate::audit::merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &proof)
            .unwrap();
        assert!(tree.stored_hash(stored_hash_count(11)).is_err());
    }

    /// A log of `count` records (made once per size) and a checkpoint of it.
    fn signed_log(count: u64) -> (Vec<u8>, Checkpoint) {
        use std::collections::HashMap;
        use std::sync::{LazyLock, Mutex};
        static LOGS: LazyLock<Mutex<HashMap<u64, Vec<u8>>>> = LazyLock::new(Mutex::default);
        let bytes = LOGS
            .lock()
            .unwrap()
            .entry(count)
            .or_insert_with(|| log_bytes(count, None))
            .clone();
        let leaves: Vec<Hash> = split(&bytes)
            .iter()
            .map(|line| leaf_hash(line.strip_suffix(b"\n").unwrap()))
            .collect();
        let checkpoint = Checkpoint {
            origin: "log".to_owned(),
            size: count,
            root: root_of(&leaves),
        };
        (bytes, checkpoint)
    }

    /// What the error for a tampering must look like.
    type Expect = Box<dyn Fn(&VerifyError) -> bool>;

    fn verify_bytes(bytes: &[u8], checkpoint: &Checkpoint) -> Result<VerifyReport, VerifyError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, bytes).unwrap();
        verify_with_checkpoint(&path, None, checkpoint)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        #[test]
        fn every_tampering_fails_against_a_checkpoint_with_its_message(
            count in 2u64..40,
            pick in 0u64..1_000,
            kind in 0u8..5,
        ) {
            let (bytes, checkpoint) = signed_log(count);
            proptest::prop_assert!(verify_bytes(&bytes, &checkpoint).is_ok());
            let lines = split(&bytes);
            let at = (pick % (count - 1)) as usize; // a line with one after it
            let seq = at as u64 + 1;
            let (tampered, check): (Vec<u8>, Expect) = match kind {
                0 => {
                    // Changed: a byte inside the record.
                    let mut lines = lines.clone();
                    let line = &mut lines[at];
                    let middle = line.len() / 2;
                    line[middle] = if line[middle] == b'a' { b'b' } else { b'a' };
                    (lines.concat(), Box::new(move |error| matches!(error,
                        VerifyError::Changed { seq: s, .. } | VerifyError::Malformed { seq: s, .. } if *s == seq)))
                }
                1 => {
                    // Removed from the middle.
                    let mut lines = lines.clone();
                    lines.remove(at);
                    (lines.concat(), Box::new(move |error| matches!(error,
                        VerifyError::Removed { expected, .. } if *expected == seq)))
                }
                2 => {
                    // Two records swapped.
                    let mut lines = lines.clone();
                    lines.swap(at, at + 1);
                    (lines.concat(), Box::new(move |error| matches!(error,
                        VerifyError::Reordered { expected, .. } if *expected == seq)))
                }
                3 => {
                    // The tail cut after `seq` records.
                    (lines[..=at].concat(), Box::new(move |error| matches!(error,
                        VerifyError::CutBeforeCheckpoint { records, size } if *records == seq && *size == count)
                        && error.to_string().contains(&format!("the first missing record is {}", seq + 1))))
                }
                _ => {
                    // A record changed and the chain recomputed: a fork.
                    let mut values = parse_lines(&bytes);
                    values[at]["record"]["at"] = json!("2030-01-01T00:00:00Z");
                    (rechain(&values, None), Box::new(move |error| matches!(error,
                        VerifyError::Forked { size, .. } if *size == count)))
                }
            };
            let error = verify_bytes(&tampered, &checkpoint).unwrap_err();
            proptest::prop_assert!(check(&error), "kind {}: {}", kind, error);
        }
    }
}
