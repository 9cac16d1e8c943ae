//! 100,000 requests pending at once: the memory each one holds, and the time
//! to conclude them all.
//!
//! Each request is a Tokio task calling `gate.run(request, body)` whose policy
//! requires one approval from `fin@example.com`; the channel never votes. Once
//! every request has been delivered, the bench measures the live heap (a
//! counting global allocator wraps the system allocator), then concludes the
//! requests by casting one approving ballot each through `gate.votes()` and
//! waits for every caller to finish (the body runs, its outcome is recorded).
//!
//! Memory is measured in three set-ups (printed, not timed by criterion):
//!
//! - `gate`: an approver that only counts deliveries and an audit sink that
//!   drops records: the gate's own cost, the waiting task included.
//! - `test-kit`: `MockChannel::silent()` (which keeps a copy of every request
//!   it is asked) and `MemoryAudit` (which keeps every record).
//! - `jsonl`: the counting approver and a `JsonlAudit` with group commit:
//!   records go to disk, as in production.
//!
//! The conclusion is timed once for 100,000 requests per set-up (printed) and
//! by criterion (`pending/conclude_10k_test_kit` and
//! `pending/conclude_100k_test_kit`: 10,000 and 100,000 requests per
//! iteration, the `test-kit` set-up, one casting task), which times only the
//! casting and the callers' completion, not the set-up.
//!
//! Run with `cargo bench --bench pending`. The counting allocator slows every
//! allocation a little; to time without it (memory is then not measured):
//! `CARGO_TARGET_DIR=target/uncounted RUSTFLAGS="--cfg approvals_uncounted"
//! cargo bench --bench pending`.

#![allow(
    unexpected_cfgs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::alloc::System;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use approvals::audit::{JsonlAudit, MemoryAudit};
use approvals::channel::{
    Ballot, Channel, ChannelError, Choice, Review, VoteBox, VoteOutcome, async_trait,
};
use approvals::mask::MaskedView;
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::testing::MockChannel;
use approvals::{ActionRequest, Error, Gate, Identity};
use approvals_test_support::audit::Discard;
use criterion::{Criterion, SamplingMode, Throughput};
use serde::Serialize;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Counts every allocation (two atomic additions per allocation and per
/// free). Build with `RUSTFLAGS="--cfg approvals_uncounted"` to time the
/// conclusion without it; memory is then not measured.
#[cfg_attr(not(approvals_uncounted), global_allocator)]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const REQUESTS: usize = 100_000;
const ACTION: &str = "billing.refund";
const APPROVER: &str = "fin@example.com";

#[derive(Debug, Clone, Serialize)]
struct Refund {
    customer: String,
    cents: u64,
}

/// Whether the counting allocator is in use.
fn counting() -> bool {
    GLOBAL.stats().allocations > 0
}

/// Heap bytes currently allocated. (`stats_alloc` already adds a growing
/// `realloc` to `bytes_allocated` and a shrinking one to `bytes_deallocated`;
/// `bytes_reallocated` is the same change again, so it is not added.)
fn live_bytes() -> i64 {
    let stats = GLOBAL.stats();
    i64::try_from(stats.bytes_allocated).unwrap() - i64::try_from(stats.bytes_deallocated).unwrap()
}

/// A channel that keeps nothing: it counts deliveries and never votes.
#[derive(Clone, Default)]
struct Counting {
    delivered: Arc<AtomicUsize>,
}

#[async_trait]
impl Channel for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    async fn deliver(&self, _request: &Review, _votes: VoteBox) -> Result<(), ChannelError> {
        self.delivered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    Gate,
    TestKit,
    Jsonl,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Gate => "gate (counting approver, discarding audit)",
            Setup::TestKit => "test-kit (MockChannel::silent, MemoryAudit)",
            Setup::Jsonl => "jsonl (counting approver, JsonlAudit group commit)",
        }
    }
}

/// A gate, and a way to tell how many requests were delivered.
struct Bench {
    gate: Gate,
    delivered: Box<dyn Fn() -> usize>,
    /// Kept to close it before the directory goes.
    jsonl: Option<Arc<JsonlAudit>>,
}

fn build(setup: Setup, dir: &Path) -> Bench {
    let policy = Policy::new().rule(
        Rule::new("refunds need finance")
            .action(ACTION)
            .require(RequirementBuilder::new().approvers([APPROVER])),
    );
    let builder = Gate::builder().policy(policy);
    match setup {
        Setup::Gate => {
            let counting = Counting::default();
            let delivered = Arc::clone(&counting.delivered);
            Bench {
                gate: builder.channel(counting).audit(Discard).build(),
                delivered: Box::new(move || delivered.load(Ordering::SeqCst)),
                jsonl: None,
            }
        }
        Setup::TestKit => {
            let mock = MockChannel::silent();
            let gate = builder
                .channel(mock.clone())
                .audit(MemoryAudit::new())
                .build();
            Bench {
                gate,
                delivered: Box::new(move || mock.asked().len()),
                jsonl: None,
            }
        }
        Setup::Jsonl => {
            let counting = Counting::default();
            let delivered = Arc::clone(&counting.delivered);
            let path = dir.join(format!("pending-{}.jsonl", approvals::RequestId::random()));
            let audit = Arc::new(JsonlAudit::open(path).unwrap());
            Bench {
                gate: builder.channel(counting).audit(Arc::clone(&audit)).build(),
                delivered: Box::new(move || delivered.load(Ordering::SeqCst)),
                jsonl: Some(audit),
            }
        }
    }
}

/// What each waiting caller runs.
async fn caller(gate: Gate, request: ActionRequest<Refund>) -> Result<u64, Error> {
    gate.run(
        request,
        |refund| async move { Ok::<_, Error>(refund.cents) },
    )
    .await
}

/// Spawns `n` callers and waits until every request is delivered.
async fn make_pending(bench: &Bench, n: usize) -> Vec<JoinHandle<Result<u64, Error>>> {
    let bot = Identity::new("agent:support-bot");
    let callers: Vec<_> = (0..n)
        .map(|i| {
            let gate = bench.gate.clone();
            let request = ActionRequest::new(
                ACTION,
                Refund {
                    customer: format!("c_{i}"),
                    cents: 1_500,
                },
            )
            .requester(bot.clone())
            .justification("double charge reported by the customer");
            tokio::spawn(caller(gate, request))
        })
        .collect();
    while (bench.delivered)() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    callers
}

/// Casts one approving ballot per pending request, from `casters` tasks,
/// then waits for every caller.
async fn conclude(
    bench: &Bench,
    callers: Vec<JoinHandle<Result<u64, Error>>>,
    casters: usize,
) -> Duration {
    let votes = bench.gate.votes();
    let pending = votes.pending();
    assert_eq!(pending.len(), callers.len());
    let voter = Identity::new(APPROVER);
    let chunk = pending.len().div_ceil(casters).max(1);
    let start = Instant::now();
    let casting: Vec<_> = pending
        .chunks(chunk)
        .map(|requests| {
            let (votes, voter, requests) = (votes.clone(), voter.clone(), requests.to_vec());
            tokio::spawn(async move {
                for request in requests {
                    let outcome = votes
                        .cast(Ballot::new(&request, voter.clone(), Choice::Approve))
                        .await;
                    assert!(matches!(
                        outcome,
                        VoteOutcome::Counted {
                            conclusion: Some(_),
                            ..
                        }
                    ));
                }
            })
        })
        .collect();
    for caster in casting {
        caster.await.unwrap();
    }
    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap(), 1_500);
    }
    start.elapsed()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// How many tasks cast ballots: one when the audit is in memory, 64 when each
/// record waits for the disk (so that records share syncs).
fn casters(setup: Setup) -> usize {
    if setup == Setup::Jsonl { 64 } else { 1 }
}

fn report(rt: &Runtime, dir: &Path, setup: Setup) {
    let bench = build(setup, dir);
    let (before, after, callers) = rt.block_on(async {
        // Let the runtime's own allocations settle first.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let before = live_bytes();
        let callers = make_pending(&bench, REQUESTS).await;
        assert_eq!(bench.gate.votes().pending().len(), REQUESTS);
        let after = live_bytes();
        (before, after, callers)
    });
    let per_request = (after - before) as f64 / REQUESTS as f64;
    let took = rt.block_on(conclude(&bench, callers, casters(setup)));
    let memory = if counting() {
        format!(
            "live heap {:.1} MiB -> {:.1} MiB, {per_request:.0} bytes ({:.2} KiB) per pending request",
            before as f64 / 1_048_576.0,
            after as f64 / 1_048_576.0,
            per_request / 1024.0,
        )
    } else {
        "memory not measured (counting allocator off)".to_owned()
    };
    println!(
        "pending/{REQUESTS} {}: {memory}; concluding all took {:.3} s ({:.2} µs per request, {} casting task(s))",
        setup.name(),
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / REQUESTS as f64,
        casters(setup),
    );
    if let Some(audit) = &bench.jsonl {
        rt.block_on(audit.close()).unwrap();
    }
}

/// Where the memory of one pending request goes, in the `gate` set-up.
fn breakdown(rt: &Runtime, dir: &Path) {
    let bench = build(Setup::Gate, dir);
    let request = || {
        ActionRequest::new(
            ACTION,
            Refund {
                customer: "c_1".to_owned(),
                cents: 1_500,
            },
        )
        .requester("agent:support-bot")
    };
    let authorize_size = std::mem::size_of_val(&bench.gate.authorize(request()));
    let future_size = std::mem::size_of_val(&caller(bench.gate.clone(), request()));

    // A Tokio task (and its JoinHandle in a Vec) around a future that holds
    // nothing, to isolate the runtime's own cost per task.
    let empty_task = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let before = live_bytes();
        let tasks: Vec<JoinHandle<()>> = (0..REQUESTS)
            .map(|_| tokio::spawn(std::future::pending::<()>()))
            .collect();
        let after = live_bytes();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        (after - before) as f64 / REQUESTS as f64
    });

    // The masked request the gate keeps for reviewers (a deep copy of it).
    let (total, review) = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let before = live_bytes();
        let callers = make_pending(&bench, REQUESTS).await;
        let total = (live_bytes() - before) as f64 / REQUESTS as f64;
        let pending = bench.gate.votes().pending();
        let before = live_bytes();
        // `Review::clone` shares the masked view (an `Arc`), so
        // the view is copied explicitly to count it.
        let copies: Vec<Review> = pending
            .iter()
            .map(|r| Review {
                arguments: MaskedView::from_masked(r.arguments.as_value().clone()),
                ..(**r).clone()
            })
            .collect();
        let review =
            (live_bytes() - before) as f64 / REQUESTS as f64 - std::mem::size_of::<Review>() as f64;
        drop(copies);
        drop(pending);
        let _ = conclude(&bench, callers, 1).await;
        (total, review)
    });

    // The binding the waiting caller keeps for the check before its body
    // runs: `serde_json::to_vec` of the arguments, as `Gate::prepare` makes
    // it (the outer `Vec` is allocated before the reading).
    let binding = {
        let refunds: Vec<Refund> = (0..REQUESTS)
            .map(|i| Refund {
                customer: format!("c_{i}"),
                cents: 1_500,
            })
            .collect();
        let mut bindings: Vec<Vec<u8>> = Vec::with_capacity(REQUESTS);
        let before = live_bytes();
        bindings.extend(refunds.iter().map(|r| serde_json::to_vec(r).unwrap()));
        let binding = (live_bytes() - before) as f64 / REQUESTS as f64;
        drop(bindings);
        binding
    };
    println!(
        "pending breakdown, gate set-up, bytes per pending request: total {total:.0}; \
         the caller's future `gate.run(..)` {future_size} (held inline in its task; \
         `gate.authorize(..)` alone is {authorize_size}); \
         a Tokio task around an empty future plus its JoinHandle {empty_task:.0}; \
         heap owned by the masked Review (beyond its {} inline bytes; the shared masked view included) {review:.0}; \
         the binding bytes kept by the caller (serde_json::to_vec of the arguments) {binding:.0}; \
         the rest (registry entry, Pending state, oneshot, Arc headers, the inline Review, arguments) {:.0}",
        std::mem::size_of::<Review>(),
        total - future_size as f64 - empty_task - review - binding,
    );
}

/// Criterion times only the conclusion; setting up the pending requests
/// happens outside the timed region.
fn criterion_conclude(c: &mut Criterion, rt: &Runtime, dir: &Path) {
    let mut group = c.benchmark_group("pending");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, n) in [
        ("conclude_10k_test_kit", 10_000),
        ("conclude_100k_test_kit", REQUESTS),
    ] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let bench = build(Setup::TestKit, dir);
                    let callers = rt.block_on(make_pending(&bench, n));
                    total += rt.block_on(conclude(&bench, callers, 1));
                }
                total
            });
        });
    }
    group.finish();
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let rt = runtime();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then only criterion's quick check of each benchmark runs.
    if std::env::args().any(|arg| arg == "--bench") {
        for setup in [Setup::Gate, Setup::TestKit, Setup::Jsonl] {
            report(&rt, dir.path(), setup);
        }
        if counting() {
            breakdown(&rt, dir.path());
        }
    }
    let mut c = Criterion::default().configure_from_args();
    criterion_conclude(&mut c, &rt, dir.path());
    c.final_summary();
}
