//! The audit log's Merkle tree and signed checkpoints.
//!
//! - `audit_tree/inclusion_proof_10M`: one inclusion proof (made from the
//!   tree file, then checked) in a tree of 10,000,000 records. The tree file
//!   is built once from synthetic leaf hashes (`leaf_hash` of the record
//!   number), 640 MB; each proof reads O(log n) stored hashes, never a log.
//! - `audit_tree/verify_checkpoint_1M` and `audit_tree/sha256sum_1M`: the
//!   whole check of a 1,000,000-record log against a signed checkpoint
//!   (chain, tree root, signature), beside `sha256sum` of the same file in
//!   the same run, in bytes per second.
//! - `audit_tree/group_commit_plain` and `audit_tree/group_commit_tree_checkpoints`:
//!   64 writers appending with `Fsync::group_commit()`, without the tree,
//!   with the tree only (`group_commit_tree`), and with the tree and a
//!   signed checkpoint every 10,000 records.
//!
//! Files live in a temporary directory under Cargo's target directory. Run
//! with `cargo bench -p approvals-core --bench audit_tree`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use approvals_core::audit::checkpoint::{SignerKey, VerifierKey};
use approvals_core::audit::merkle::{
    Frontier, inclusion_proof, leaf_hash, tree_root, verify_inclusion,
};
use approvals_core::audit::{
    AuditEvent, AuditRecord, AuditSink, Fsync, JsonlAudit, TreeFile, verify_with_checkpoint,
};
use approvals_core::mask::MaskedView;
use approvals_core::{Fingerprint, Identity, RequestId, Risk, Timestamp};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const WRITERS: usize = 64;
const PER_WRITER: usize = 64;

/// A realistic `requested` record, as the gate writes it.
fn record() -> AuditRecord {
    let bot = Identity::new("agent:support-bot");
    let arguments = serde_json::json!({"customer": "c_42", "cents": 1_500});
    let fingerprint = Fingerprint::of("billing.refund", &arguments, &bot);
    let masked = MaskedView::from_masked(serde_json::json!({
        "customer": "<string>",
        "cents": "<number>",
    }));
    AuditRecord::now(
        RequestId::random(),
        AuditEvent::Requested {
            action: "billing.refund".into(),
            description: "Refunds a customer's payment".into(),
            risk: Risk::High,
            requester: bot.clone(),
            justification: Some("<text: 39 chars>".to_owned()),
            arguments: masked,
            fingerprint,
            rule: Some("refunds need finance".to_owned()),
            verdict: "require_approval".to_owned(),
            approvers: vec![Identity::new("fin@example.com")],
            quorum: Some(1),
            deadline: Some(Timestamp::now().after(Duration::from_secs(900))),
        },
    )
}

fn bench_dir() -> tempfile::TempDir {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        std::path::PathBuf::from,
    );
    let tmp = target.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    tempfile::tempdir_in(tmp).unwrap()
}

/// Writes `<log>.tree` for `size` synthetic leaves, as the log would.
fn synthetic_tree(log: &Path, size: u64) {
    let mut name = log.as_os_str().to_owned();
    name.push(".tree");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(name).unwrap());
    let mut frontier = Frontier::new();
    let mut stored = Vec::with_capacity(64);
    for index in 0..size {
        stored.clear();
        frontier.push(leaf_hash(&index.to_le_bytes()), &mut stored);
        for hash in &stored {
            out.write_all(hash).unwrap();
        }
    }
    out.flush().unwrap();
}

fn inclusion(c: &mut Criterion) {
    const SIZE: u64 = 10_000_000;
    let mut group = c.benchmark_group("audit_tree");
    let mut index = 0x9e37_79b9u64;
    // Built on first use, so that a filtered run does not build it.
    let mut built = None;
    group.bench_function("inclusion_proof_10M", |b| {
        let (_dir, tree, root) = built.get_or_insert_with(|| {
            let dir = bench_dir();
            let log = dir.path().join("ten-million.jsonl");
            synthetic_tree(&log, SIZE);
            let tree = TreeFile::open_beside(&log).unwrap();
            assert_eq!(tree.size(), SIZE);
            let root = tree_root(&tree, SIZE).unwrap();
            (dir, tree, root)
        });
        let (tree, root) = (&*tree, &*root);
        b.iter(|| {
            // A different record each time, spread over the whole tree.
            index = (index
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1))
                % SIZE;
            let proof = inclusion_proof(tree, index, SIZE).unwrap();
            let leaf = leaf_hash(&index.to_le_bytes());
            verify_inclusion(index, SIZE, &leaf, &proof, root).unwrap();
            proof.len()
        });
    });
    group.finish();
}

const RECORDS: usize = 1_000_000;

/// A 1M-record log with its tree and closing checkpoint: the log, its size,
/// the checkpoint note and its key.
struct Million {
    _dir: tempfile::TempDir,
    log: std::path::PathBuf,
    bytes: u64,
    note: String,
    verifier: VerifierKey,
}

fn million() -> Million {
    let dir = bench_dir();
    let log = dir.path().join("one-million.jsonl");
    let signer = SignerKey::generate("bench.example.com/log").unwrap();
    let verifier = signer.verifier();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let audit = JsonlAudit::builder(&log)
        .fsync(Fsync::Never)
        .checkpoint_key(signer)
        .open()
        .unwrap();
    let records: Vec<AuditRecord> = (0..1_000).map(|_| record()).collect();
    rt.block_on(async {
        for _ in 0..RECORDS / records.len() {
            audit.record_all(&records).await.unwrap();
        }
        audit.close().await.unwrap();
    });
    drop(audit);
    let bytes = std::fs::metadata(&log).unwrap().len();
    let mut checkpoint_path = log.as_os_str().to_owned();
    checkpoint_path.push(".checkpoint");
    let note = std::fs::read_to_string(&checkpoint_path).unwrap();
    println!("1M-record log: {bytes} bytes");
    Million {
        _dir: dir,
        log,
        bytes,
        note,
        verifier,
    }
}

fn verify_1m(c: &mut Criterion) {
    // Written before the group, since its size sets the throughput.
    let m = million();
    let mut group = c.benchmark_group("audit_tree");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(m.bytes));
    group.bench_function("verify_checkpoint_1M", |b| {
        b.iter(|| {
            let checkpoint = m.verifier.open(&m.note).unwrap();
            let report = verify_with_checkpoint(&m.log, None, &checkpoint).unwrap();
            assert_eq!(report.records, RECORDS as u64);
        });
    });
    group.bench_function("sha256sum_1M", |b| {
        b.iter(|| {
            let output = Command::new("sha256sum").arg(&m.log).output().unwrap();
            assert!(output.status.success());
        });
    });
    group.finish();
}

fn group_commit(c: &mut Criterion) {
    let dir = bench_dir();
    let record = Arc::new(record());
    let mut group = c.benchmark_group("audit_tree");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements((WRITERS * PER_WRITER) as u64));
    for name in [
        "group_commit_plain",
        "group_commit_tree",
        "group_commit_tree_checkpoints",
    ] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let path = dir.path().join(format!("{name}.jsonl"));
        let builder = JsonlAudit::builder(&path).fsync(Fsync::group_commit());
        let builder = match name {
            "group_commit_plain" => builder.merkle_tree(false),
            "group_commit_tree" => builder,
            _ => builder
                .checkpoint_key(SignerKey::generate("bench").unwrap())
                .checkpoint_every(10_000),
        };
        let audit = Arc::new(builder.open().unwrap());
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let writers: Vec<_> = (0..WRITERS)
                            .map(|_| {
                                let audit = Arc::clone(&audit);
                                let record = Arc::clone(&record);
                                tokio::spawn(async move {
                                    for _ in 0..PER_WRITER {
                                        audit.record(&record).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for writer in writers {
                            writer.await.unwrap();
                        }
                    }
                    start.elapsed()
                })
            });
        });
        rt.block_on(audit.close()).unwrap();
    }
    group.finish();
}

// Group commit first: the other two write over a gigabyte, whose writeback
// would slow the syncs of whichever group-commit variant ran next.
criterion_group!(benches, group_commit, inclusion, verify_1m);
criterion_main!(benches);
