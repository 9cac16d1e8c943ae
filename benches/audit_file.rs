//! Durable audit appends per second under 64 concurrent writers: the JSON
//! Lines log (`JsonlAudit`) beside SQLite on the same disk, in the same run.
//!
//! - `audit_file/jsonl_every_record`: `Fsync::EveryRecord`, one write and one
//!   `fdatasync` per record.
//! - `audit_file/jsonl_group_commit`: `Fsync::group_commit()` (up to 256
//!   records per write and `fdatasync`, no added wait).
//! - `audit_file/sqlite_txn_per_insert`: SQLite, `journal_mode=WAL`,
//!   `synchronous=FULL`, one shared connection behind a `Mutex`, each insert
//!   its own transaction (one WAL sync per insert): the fair comparison with
//!   `EveryRecord`.
//! - `audit_file/sqlite_group_commit`: the same database settings, with the
//!   64 writers handing their records to one SQLite writer thread that
//!   inserts whatever is queued (up to 256) in one transaction and then
//!   acknowledges them: the fair comparison with group commit.
//!
//! JSON Lines writers are 64 Tokio tasks on a multi-thread runtime; SQLite
//! writers are 64 OS threads (SQLite's API is blocking). Every writer appends
//! the same number of records, each a realistic `requested` record; SQLite
//! stores the very bytes that the JSON Lines log puts in its `record` field
//! (`canonical_json` of the record), serialized per insert as the log does.
//! Files live in a temporary directory under Cargo's target directory.
//!
//! Run with `cargo bench --bench audit_file`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use approvals::audit::{AuditEvent, AuditRecord, AuditSink, Fsync, JsonlAudit, verify};
use approvals::mask::MaskedView;
use approvals::{Fingerprint, Identity, RequestId, Risk, Timestamp, canonical_json};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use rusqlite::Connection;

const WRITERS: usize = 64;
/// Records per writer per iteration when every record is synced on its own.
const PER_WRITER_SYNCED: usize = 8;
/// Records per writer per iteration with group commit.
const PER_WRITER_GROUPED: usize = 64;
/// The most records SQLite's writer thread puts in one transaction, as
/// `Fsync::group_commit()` does for the log.
const SQLITE_MAX_BATCH: usize = 256;

/// One `requested` record per writer, as the gate writes it.
fn records() -> Arc<Vec<AuditRecord>> {
    let bot = Identity::new("agent:support-bot");
    let arguments = serde_json::json!({"customer": "c_42", "cents": 1_500});
    let fingerprint = Fingerprint::of("billing.refund", &arguments, &bot);
    let masked = MaskedView::from_masked(serde_json::json!({
        "customer": "<string>",
        "cents": "<number>",
    }));
    Arc::new(
        (0..WRITERS)
            .map(|_| {
                AuditRecord::now(
                    RequestId::random(),
                    AuditEvent::Requested {
                        action: "billing.refund".into(),
                        description: "Refunds a customer's payment".into(),
                        risk: Risk::High,
                        requester: bot.clone(),
                        justification: Some("<text: 39 chars>".to_owned()),
                        arguments: masked.clone(),
                        fingerprint,
                        rule: Some("refunds need finance".to_owned()),
                        verdict: "require_approval".to_owned(),
                        approvers: vec![Identity::new("fin@example.com")],
                        quorum: Some(1),
                        deadline: Some(Timestamp::now().after(Duration::from_secs(900))),
                    },
                )
            })
            .collect(),
    )
}

/// The text SQLite stores: the same bytes as the log's `record` field.
fn record_text(record: &AuditRecord) -> String {
    let json = canonical_json(&serde_json::to_value(record).unwrap());
    String::from_utf8(json).unwrap()
}

fn config_group<'a>(c: &'a mut Criterion, per_writer: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group("audit_file");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements((WRITERS * per_writer) as u64));
    group
}

fn jsonl(c: &mut Criterion, name: &str, fsync: Fsync, per_writer: usize, dir: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = dir.join(format!("{name}.jsonl"));
    let audit = Arc::new(JsonlAudit::builder(&path).fsync(fsync).open().unwrap());
    let records = records();
    let mut written = 0usize;

    let mut group = config_group(c, per_writer);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let writers: Vec<_> = (0..WRITERS)
                        .map(|w| {
                            let audit = Arc::clone(&audit);
                            let records = Arc::clone(&records);
                            tokio::spawn(async move {
                                for _ in 0..per_writer {
                                    audit.record(&records[w]).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for writer in writers {
                        writer.await.unwrap();
                    }
                }
                written += WRITERS * per_writer * usize::try_from(iters).unwrap();
                start.elapsed()
            })
        });
    });
    group.finish();

    rt.block_on(audit.close()).unwrap();
    drop(audit);
    let report = verify(&path, None).unwrap();
    assert_eq!(report.records, written as u64, "every record is in the log");
}

fn sqlite_open(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    let synchronous: i64 = conn
        .pragma_query_value(None, "synchronous", |row| row.get(0))
        .unwrap();
    assert_eq!(synchronous, 2, "synchronous=FULL");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, record TEXT NOT NULL)",
    )
    .unwrap();
    conn
}

fn sqlite_count(conn: &Connection) -> usize {
    let count: i64 = conn
        .query_row("SELECT count(*) FROM audit", [], |row| row.get(0))
        .unwrap();
    usize::try_from(count).unwrap()
}

/// Runs `writer` on 64 threads at once and times them from a common start.
fn on_threads(write: impl Fn(usize) + Sync) -> Duration {
    let start_line = Barrier::new(WRITERS + 1);
    // Leaving the scope joins every writer, so the clock stops after all.
    let start = std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let (start_line, write) = (&start_line, &write);
            scope.spawn(move || {
                start_line.wait();
                write(w);
            });
        }
        start_line.wait();
        Instant::now()
    });
    start.elapsed()
}

fn sqlite_txn_per_insert(c: &mut Criterion, dir: &Path) {
    let conn = Mutex::new(sqlite_open(&dir.join("txn_per_insert.sqlite")));
    let records = records();
    let per_writer = PER_WRITER_SYNCED;
    let mut written = 0usize;

    let mut group = config_group(c, per_writer);
    group.bench_function("sqlite_txn_per_insert", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += on_threads(|w| {
                    for _ in 0..per_writer {
                        let text = record_text(&records[w]);
                        let conn = conn.lock().unwrap();
                        conn.prepare_cached("INSERT INTO audit (record) VALUES (?1)")
                            .unwrap()
                            .execute([text])
                            .unwrap();
                    }
                });
            }
            written += WRITERS * per_writer * usize::try_from(iters).unwrap();
            total
        });
    });
    group.finish();
    assert_eq!(sqlite_count(&conn.lock().unwrap()), written);
}

type Job = (String, mpsc::SyncSender<()>);

/// One thread owns the connection and commits whatever is queued, up to
/// [`SQLITE_MAX_BATCH`] records, in one transaction, then acknowledges.
fn sqlite_writer(mut conn: Connection, jobs: &mpsc::Receiver<Job>) -> Connection {
    let mut batch: Vec<Job> = Vec::with_capacity(SQLITE_MAX_BATCH);
    while let Ok(job) = jobs.recv() {
        batch.push(job);
        while batch.len() < SQLITE_MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let txn = conn.transaction().unwrap();
        {
            let mut insert = txn
                .prepare_cached("INSERT INTO audit (record) VALUES (?1)")
                .unwrap();
            for (text, _) in &batch {
                insert.execute([text]).unwrap();
            }
        }
        txn.commit().unwrap();
        for (_, ack) in batch.drain(..) {
            ack.send(()).unwrap();
        }
    }
    conn
}

fn sqlite_group_commit(c: &mut Criterion, dir: &Path) {
    let conn = sqlite_open(&dir.join("group_commit.sqlite"));
    let (jobs, queue) = mpsc::channel::<Job>();
    let writer = std::thread::spawn(move || sqlite_writer(conn, &queue));
    let jobs = Mutex::new(jobs);
    let records = records();
    let per_writer = PER_WRITER_GROUPED;
    let mut written = 0usize;

    let mut group = config_group(c, per_writer);
    group.bench_function("sqlite_group_commit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += on_threads(|w| {
                    let jobs = jobs.lock().unwrap().clone();
                    let (ack, acked) = mpsc::sync_channel(1);
                    for _ in 0..per_writer {
                        jobs.send((record_text(&records[w]), ack.clone())).unwrap();
                        acked.recv().unwrap();
                    }
                });
            }
            written += WRITERS * per_writer * usize::try_from(iters).unwrap();
            total
        });
    });
    group.finish();
    drop(jobs);
    let conn = writer.join().unwrap();
    assert_eq!(sqlite_count(&conn), written);
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut c = Criterion::default().configure_from_args();
    jsonl(
        &mut c,
        "jsonl_every_record",
        Fsync::EveryRecord,
        PER_WRITER_SYNCED,
        dir.path(),
    );
    jsonl(
        &mut c,
        "jsonl_group_commit",
        Fsync::group_commit(),
        PER_WRITER_GROUPED,
        dir.path(),
    );
    sqlite_txn_per_insert(&mut c, dir.path());
    sqlite_group_commit(&mut c, dir.path());
    c.final_summary();
}
