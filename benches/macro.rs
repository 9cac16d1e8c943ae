//! What `#[requires_approval]` adds to a call allowed by policy.
//!
//! - `macro/plain`: the function without the attribute, called directly.
//! - `macro/annotated_explicit_gate`: the same function with
//!   `#[requires_approval(gate = …)]`, under a policy whose rule allows it,
//!   with a `MemoryAudit` sink (cleared every 1,024 calls, outside the timed
//!   region).
//! - `macro/annotated_scoped_gate`: the same, with the gate found through
//!   `approvals::scope` instead of `gate = …`.
//! - `macro/hand_written_gate_run`: the same call written by hand with
//!   `ActionRequest` and `Gate::run`, to separate what the attribute adds from
//!   what the gate does.
//!
//! Run with `cargo bench --bench macro`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use approvals::audit::MemoryAudit;
use approvals::policy::{Policy, Rule};
use approvals::{ActionRequest, Error, Gate, requires_approval};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Calls timed between two clearings of the audit sink.
const CHUNK: u64 = 1_024;
const ACTION: &str = "billing.refund";
const REQUESTER: &str = "agent:support-bot";

static GATE: OnceLock<(Gate, MemoryAudit)> = OnceLock::new();

/// One gate for every variant: its first rule allows the action.
fn shared() -> &'static (Gate, MemoryAudit) {
    GATE.get_or_init(|| {
        let audit = MemoryAudit::new();
        let gate = Gate::builder()
            .policy(Policy::new().rule(Rule::new("refunds are allowed").action(ACTION).allow()))
            .audit(audit.clone())
            .build();
        (gate, audit)
    })
}

fn gate() -> &'static Gate {
    &shared().0
}

async fn plain(customer: String, cents: u64) -> Result<u64, Error> {
    Ok(black_box(customer).len() as u64 + cents)
}

#[requires_approval(name = "billing.refund", gate = gate(), requester = REQUESTER)]
async fn annotated(customer: String, cents: u64) -> Result<u64, Error> {
    Ok(black_box(customer).len() as u64 + cents)
}

#[requires_approval(name = "billing.refund", requester = REQUESTER)]
async fn annotated_scoped(customer: String, cents: u64) -> Result<u64, Error> {
    Ok(black_box(customer).len() as u64 + cents)
}

#[derive(serde::Serialize)]
struct Refund {
    customer: String,
    cents: u64,
}

async fn hand_written(customer: String, cents: u64) -> Result<u64, Error> {
    let request = ActionRequest::new(ACTION, Refund { customer, cents }).requester(REQUESTER);
    gate()
        .run(request, |refund| async move {
            Ok(black_box(refund.customer).len() as u64 + refund.cents)
        })
        .await
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// Runs `iters` calls in chunks of [`CHUNK`], clearing the audit sink
/// between chunks outside the timed region.
async fn chunked<C>(iters: u64, mut call: C) -> Duration
where
    C: AsyncFnMut(u64),
{
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        shared().1.clear();
        let start = Instant::now();
        for i in 0..n {
            call(i).await;
        }
        total += start.elapsed();
        done += n;
    }
    total
}

fn customer(i: u64) -> String {
    format!("c_{}", i & 7)
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    // Every variant does the same work and is allowed: three records each.
    rt.block_on(async {
        shared().1.clear();
        assert_eq!(annotated(customer(0), 1).await.unwrap(), 4);
        assert_eq!(
            approvals::scope(gate().clone(), annotated_scoped(customer(0), 1))
                .await
                .unwrap(),
            4
        );
        assert_eq!(hand_written(customer(0), 1).await.unwrap(), 4);
        assert_eq!(shared().1.len(), 9);
    });

    let mut group = c.benchmark_group("macro");
    group.bench_function("plain", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(iters, async |i| {
                black_box(plain(customer(i), i).await.unwrap());
            }))
        });
    });
    group.bench_function("annotated_explicit_gate", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(iters, async |i| {
                black_box(annotated(customer(i), i).await.unwrap());
            }))
        });
    });
    group.bench_function("annotated_scoped_gate", |b| {
        b.iter_custom(|iters| {
            rt.block_on(approvals::scope(
                gate().clone(),
                chunked(iters, async |i| {
                    black_box(annotated_scoped(customer(i), i).await.unwrap());
                }),
            ))
        });
    });
    group.bench_function("hand_written_gate_run", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(iters, async |i| {
                black_box(hand_written(customer(i), i).await.unwrap());
            }))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
