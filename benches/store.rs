//! Requests kept in a store: waking across replicas, throughput through two
//! replicas, and what 100,000 pending requests cost in each store.
//!
//! Two replicas are two gates in this process, each with its own
//! `PostgresStore` (its own connection pool and its own `LISTEN`
//! connection) on one schema, so that everything between them goes through
//! PostgreSQL as it would between two processes.
//!
//! - `store/wake_postgres`: a caller on replica A waits for a request; one
//!   approving vote is cast on replica B; timed from the start of the cast
//!   to A's caller returning with its approval. Criterion times it, and a
//!   run of 1,000 requests before it prints p50, p99 and the maximum.
//! - `store/conclude_two_replicas_postgres` and `store/conclude_memory`:
//!   512 requests per iteration, half waiting on each replica, every one
//!   approved by a vote cast on the other replica (64 voting tasks); timed
//!   until every caller has run its body. `conclude_memory` does the same
//!   work through one gate without a store, in the same run, as the
//!   reference.
//! - Printed once, not timed by criterion: 100,000 pending requests written
//!   by the store API to SQLite and to PostgreSQL, with the bytes per
//!   request on disk (SQLite: the file and its WAL after a checkpoint;
//!   PostgreSQL: `pg_total_relation_size` of the requests table and its
//!   indexes), and the live heap per waiting caller (10,000 callers) with
//!   no store, `MemoryStore`, `SqliteStore` and `PostgresStore`.
//!
//! The audit sink drops every record, so the figures are the store's and
//! the gate's. Needs `APPROVALS_TEST_POSTGRES` (for example
//! `postgres://postgres@127.0.0.1:5432/test`); run with
//! `cargo bench --bench store --features sqlite,postgres,testing`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use approvals::channel::{Ballot, Choice};
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::store::{MemoryStore, PostgresStore, SqliteStore, Store, StoredRequest};
use approvals::testing::{QueueChannel, QueueHandle};
use approvals::{ActionRequest, Error, Gate};
use approvals_test_support::audit::Discard;
use criterion::{Criterion, SamplingMode};
use serde::Serialize;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::runtime::Runtime;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ACTION: &str = "billing.refund";
const APPROVER: &str = "fin@example.com";
const BATCH: usize = 512;
const VOTERS: usize = 64;

#[derive(Debug, Clone, Serialize)]
struct Refund {
    customer: String,
    cents: u64,
}

fn refund(n: usize) -> ActionRequest<Refund> {
    ActionRequest::new(
        ACTION,
        Refund {
            customer: format!("c_{n}"),
            cents: 1_500,
        },
    )
    .requester("agent:support-bot")
}

fn policy() -> Policy {
    Policy::new().rule(
        Rule::new("refunds need finance")
            .action(ACTION)
            .require(RequirementBuilder::new().approvers([APPROVER])),
    )
}

fn live_bytes() -> i64 {
    let stats = GLOBAL.stats();
    i64::try_from(stats.bytes_allocated).unwrap() - i64::try_from(stats.bytes_deallocated).unwrap()
}

fn postgres_url() -> String {
    std::env::var("APPROVALS_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
        .expect("set APPROVALS_TEST_POSTGRES, e.g. postgres://postgres@127.0.0.1:5432/test")
}

fn schema(name: &str) -> String {
    format!("approvals_bench_{name}_{}", std::process::id())
}

/// A replica: a gate on its own store handle, and the handle of its
/// channel (to see deliveries and to cast votes through it).
struct Replica {
    gate: Gate,
    handle: QueueHandle,
}

fn replica(store: Option<Arc<dyn Store>>) -> Replica {
    let (channel, handle) = QueueChannel::new();
    let mut builder = Gate::builder().policy(policy()).channel(channel);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    Replica {
        gate: builder.audit(Discard).build(),
        handle,
    }
}

async fn postgres(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::builder(url)
        .schema(schema)
        .pool_size(16)
        .connect()
        .await
        .expect("PostgreSQL is reachable")
}

/// One request waiting on `a`, approved by a vote cast on `b`: the time
/// from the start of the cast to `a`'s caller holding its approval.
async fn one_wake(a: &Replica, b: &Replica, n: usize) -> Duration {
    let gate = a.gate.clone();
    let caller = tokio::spawn(async move {
        let approval = gate.authorize(refund(n)).await.expect("approved");
        let resumed = Instant::now();
        approval
            .run(|_| async { Ok::<_, Error>(()) })
            .await
            .unwrap();
        resumed
    });
    let review = a.handle.next_request().await;
    let started = Instant::now();
    let outcome = b
        .handle
        .cast(Ballot::new(&review, APPROVER, Choice::Approve))
        .await
        .unwrap();
    assert!(outcome.counted(), "{outcome:?}");
    let resumed = caller.await.unwrap();
    resumed.saturating_duration_since(started)
}

/// `BATCH` requests, half waiting on each replica (or all on `a` when `b`
/// is `a`), each approved through the other, by `VOTERS` voting tasks.
async fn conclude_batch(a: &Arc<Replica>, b: &Arc<Replica>, first: usize) -> Duration {
    let started = Instant::now();
    let mut callers = Vec::with_capacity(BATCH);
    for n in first..first + BATCH {
        let on = if n % 2 == 0 { a } else { b };
        let gate = on.gate.clone();
        callers.push(tokio::spawn(async move {
            gate.run(refund(n), |_| async { Ok::<_, Error>(()) })
                .await
                .unwrap();
        }));
    }
    let (tx, rx) = async_channel(BATCH);
    for n in 0..BATCH {
        let (from, through) = if (first + n) % 2 == 0 { (a, b) } else { (b, a) };
        let review = from.handle.next_request().await;
        tx.send((review, Arc::clone(through))).await.unwrap();
    }
    drop(tx);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let voters: Vec<_> = (0..VOTERS)
        .map(|_| {
            let rx = Arc::clone(&rx);
            tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some((review, through)) = next else { break };
                    let outcome = through
                        .handle
                        .cast(Ballot::new(&review, APPROVER, Choice::Approve))
                        .await
                        .unwrap();
                    assert!(outcome.counted(), "{outcome:?}");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    for voter in voters {
        voter.await.unwrap();
    }
    started.elapsed()
}

type Queue = (Arc<approvals::channel::Review>, Arc<Replica>);

fn async_channel(
    capacity: usize,
) -> (
    tokio::sync::mpsc::Sender<Queue>,
    tokio::sync::mpsc::Receiver<Queue>,
) {
    tokio::sync::mpsc::channel(capacity)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// 100,000 pending rows written through the store API, 64 at a time.
async fn fill(store: Arc<dyn Store>, template: &StoredRequest, count: usize) -> Duration {
    let started = Instant::now();
    let mut writers = Vec::new();
    for worker in 0..64 {
        let store = Arc::clone(&store);
        let template = template.clone();
        writers.push(tokio::spawn(async move {
            let mut n = worker;
            while n < count {
                let mut row = template.clone();
                row.key = format!("bench-{n}");
                row.review.id = approvals::RequestId::from_string(format!("req-{n:08}"));
                store.create(&row, &[]).await.unwrap();
                n += 64;
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    started.elapsed()
}

/// A pending request as the gate stores it, taken from a real one.
async fn template() -> StoredRequest {
    let store = MemoryStore::new();
    let one = replica(Some(Arc::new(store.clone())));
    let gate = one.gate.clone();
    let caller = tokio::spawn(async move { gate.authorize(refund(0)).await.map(drop) });
    one.handle.next_request().await;
    let row = store.pending(1).await.unwrap().remove(0);
    caller.abort();
    row
}

async fn sizes(url: &str) {
    const ROWS: usize = 100_000;
    let template = template().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let sqlite = SqliteStore::open(&path).await.unwrap();
    let took = fill(Arc::new(sqlite.clone()), &template, ROWS).await;
    drop(sqlite);
    // Reopening checkpoints the WAL into the file.
    let sqlite = SqliteStore::open(&path).await.unwrap();
    drop(sqlite);
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes += entry.unwrap().metadata().unwrap().len();
    }
    println!(
        "sqlite: {ROWS} pending rows written in {:.2} s ({:.0} rows/s, 64 writers); {bytes} bytes on disk, {} bytes per request",
        took.as_secs_f64(),
        ROWS as f64 / took.as_secs_f64(),
        bytes / ROWS as u64
    );

    let schema = schema("sizes");
    let store = postgres(url, &schema).await;
    let took = fill(Arc::new(store.clone()), &template, ROWS).await;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT c.relname::text, pg_total_relation_size(c.oid)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&schema],
        )
        .await
        .unwrap();
    let mut total = 0i64;
    for row in &rows {
        let name: String = row.get(0);
        let size: i64 = row.get(1);
        println!("postgres: table {name}: {size} bytes with indexes and TOAST");
        total += size;
    }
    println!(
        "postgres: {ROWS} pending rows written in {:.2} s ({:.0} rows/s, 64 writers); {total} bytes in all tables, {} bytes per request",
        took.as_secs_f64(),
        ROWS as f64 / took.as_secs_f64(),
        total / ROWS as i64
    );
    store.drop_schema().await.unwrap();
}

/// Live heap per waiting caller, 10,000 callers, in each set-up.
async fn memory(url: &str) {
    const CALLERS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let schema = schema("memory");
    for name in ["no store", "MemoryStore", "SqliteStore", "PostgresStore"] {
        let store: Option<Arc<dyn Store>> = match name {
            "no store" => None,
            "MemoryStore" => Some(Arc::new(MemoryStore::new())),
            "SqliteStore" => Some(Arc::new(
                SqliteStore::open(dir.path().join("memory.db"))
                    .await
                    .unwrap(),
            )),
            _ => Some(Arc::new(postgres(url, &schema).await)),
        };
        let one = replica(store.clone());
        // Warm up: one request through, so that lazily built parts exist.
        let review = {
            let gate = one.gate.clone();
            let caller = tokio::spawn(async move { gate.authorize(refund(usize::MAX)).await });
            let review = one.handle.next_request().await;
            one.handle
                .cast(Ballot::new(&review, APPROVER, Choice::Approve))
                .await
                .unwrap();
            drop(caller.await.unwrap());
            review
        };
        black_box(review);
        let before = live_bytes();
        let mut callers = Vec::with_capacity(CALLERS);
        for n in 0..CALLERS {
            let gate = one.gate.clone();
            callers.push(tokio::spawn(async move { gate.authorize(refund(n)).await }));
        }
        let mut reviews = Vec::with_capacity(CALLERS);
        for _ in 0..CALLERS {
            reviews.push(one.handle.next_request().await);
        }
        // The channel's copies are the channel's, not the caller's.
        let held = live_bytes() - before;
        println!(
            "memory per waiting caller, {name}: {} bytes ({CALLERS} callers; includes the test channel's queue entry)",
            held / CALLERS as i64
        );
        for caller in &callers {
            caller.abort();
        }
        for caller in callers {
            let _ = caller.await;
        }
        drop(reviews);
        drop(one);
        if name == "PostgresStore" {
            if let Some(store) = store {
                drop(store);
            }
            let cleanup = postgres(url, &schema).await;
            cleanup.drop_schema().await.unwrap();
        }
    }
}

fn main() {
    let url = postgres_url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));

    runtime.block_on(sizes(&url));
    runtime.block_on(memory(&url));

    let schema = schema("replicas");
    let (a, b) = runtime.block_on(async {
        let a = replica(Some(Arc::new(postgres(&url, &schema).await)));
        let b = replica(Some(Arc::new(postgres(&url, &schema).await)));
        (Arc::new(a), Arc::new(b))
    });
    let alone = Arc::new(replica(None));

    // p50 / p99 over 1,000 requests, before criterion's samples.
    let mut wakes = runtime.block_on(async {
        let mut wakes = Vec::with_capacity(1_000);
        for n in 0..1_000 {
            wakes.push(one_wake(&a, &b, n).await);
        }
        wakes
    });
    wakes.sort();
    println!(
        "wake across replicas (PostgreSQL), 1,000 requests: p50 {}, p99 {}, max {}",
        millis(percentile(&wakes, 0.50)),
        millis(percentile(&wakes, 0.99)),
        millis(*wakes.last().unwrap())
    );

    let mut criterion = Criterion::default().configure_from_args();
    let mut next = 1_000_000usize;
    {
        let mut group = criterion.benchmark_group("store");
        group.sample_size(30);
        group.measurement_time(Duration::from_secs(10));
        group.bench_function("wake_postgres", |bench| {
            bench.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        next += 1;
                        total += one_wake(&a, &b, next).await;
                    }
                    total
                })
            });
        });
        group.finish();
    }
    {
        let mut group = criterion.benchmark_group("store");
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(criterion::Throughput::Elements(BATCH as u64));
        group.measurement_time(Duration::from_secs(20));
        group.bench_function("conclude_two_replicas_postgres", |bench| {
            bench.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        next += BATCH;
                        total += conclude_batch(&a, &b, next).await;
                    }
                    total
                })
            });
        });
        group.bench_function("conclude_memory", |bench| {
            bench.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        next += BATCH;
                        total += conclude_batch(&alone, &alone, next).await;
                    }
                    total
                })
            });
        });
        group.finish();
    }
    criterion.final_summary();
    runtime.block_on(async {
        drop(a);
        drop(b);
        postgres(&url, &schema).await.drop_schema().await.unwrap();
    });
}
