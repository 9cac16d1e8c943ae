//! What the gate adds to a call.
//!
//! - `gate/direct`: the async body called directly, as the baseline.
//! - `gate/allowed_memory_audit`: the same body through `Gate::run`, with a
//!   policy whose first rule allows the action and a `MemoryAudit` sink
//!   (cleared every 1,024 calls, outside the timed region).
//! - `gate/allowed_discard_audit`: the same, with a sink that drops every
//!   record, to separate the gate from the in-memory sink.
//! - `gate/approved_by_mock`: the full approval path: the policy requires one
//!   approval from `fin@example.com`, a `MockChannel` votes at once, and the
//!   audit is a `MemoryAudit`. A fresh gate, approver and sink are built
//!   every 1,024 calls (outside the timed region), since the mock keeps a
//!   log of every request.
//! - `gate_parts/*`: the steps of the allowed path on their own, as the gate
//!   does them: serialize the arguments to a value and to the binding bytes,
//!   fingerprint, mask (the default `MaskingEngine`, and `TypeLabelMasker`
//!   for comparison), ask the policy, make the id (`Gate::prepare`); build
//!   and record the `requested` and `concluded` records (`Gate::open`);
//!   serialize and compare the binding bytes, build the `executed` record
//!   (`Approval::run`). The binding steps use a scratch buffer kept by the
//!   thread, as the gate does.
//!
//! Run with `cargo bench --bench gate`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::borrow::Cow;
use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use approvals::audit::{AuditEvent, AuditRecord, AuditSink, MemoryAudit};
use approvals::mask::{Masker, MaskingEngine, TypeLabelMasker};
use approvals::policy::{Policy, PolicyInput, RequirementBuilder, Rule};
use approvals::testing::MockChannel;
use approvals::{
    ActionRequest, Conclusion, Error, ExecutionOutcome, Fingerprint, Gate, Identity, RequestId,
    Risk, Timestamp, canonical_json,
};
use approvals_test_support::audit::Discard;
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Serialize;
use tokio::runtime::Runtime;

/// Calls timed between two pauses (to clear the sink or rebuild the gate).
const CHUNK: u64 = 1_024;
const ACTION: &str = "billing.refund";
const APPROVER: &str = "fin@example.com";

#[derive(Debug, Clone, Serialize)]
struct Refund {
    customer: String,
    cents: u64,
}

fn refund(i: u64) -> Refund {
    Refund {
        customer: String::from("c_42"),
        cents: 1_500 + (i & 7),
    }
}

async fn body(refund: Refund) -> Result<u64, Error> {
    Ok(black_box(refund).cents)
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// As the gate serializes arguments for their binding: in a buffer kept by
/// the thread.
fn with_scratch<R>(serialize: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut bytes = scratch.borrow_mut();
        bytes.clear();
        serialize(&mut bytes)
    })
}

fn allow_policy() -> Policy {
    Policy::new().rule(Rule::new("refunds are allowed").action(ACTION).allow())
}

fn approval_policy() -> Policy {
    Policy::new().rule(
        Rule::new("refunds need finance")
            .action(ACTION)
            .require(RequirementBuilder::new().approvers([APPROVER])),
    )
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// Runs `iters` calls in chunks of [`CHUNK`], calling `reset` between chunks
/// outside the timed region, and returns the time spent in the calls.
async fn chunked<S, R, C>(iters: u64, mut reset: R, mut call: C) -> Duration
where
    R: FnMut() -> S,
    C: AsyncFnMut(&S, u64),
{
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let state = reset();
        let start = Instant::now();
        for i in 0..n {
            call(&state, i).await;
        }
        total += start.elapsed();
        drop(state);
        done += n;
    }
    total
}

fn gate(c: &mut Criterion) {
    let rt = runtime();
    let bot = Identity::new("agent:support-bot");

    let mut group = c.benchmark_group("gate");

    group.bench_function("direct", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(
                iters,
                || (),
                async |(), i| {
                    black_box(body(refund(i)).await.unwrap());
                },
            ))
        });
    });

    let audit = MemoryAudit::new();
    let memory_gate = Gate::builder()
        .policy(allow_policy())
        .audit(audit.clone())
        .build();
    group.bench_function("allowed_memory_audit", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(
                iters,
                || audit.clear(),
                async |(), i| {
                    let request = ActionRequest::new(ACTION, refund(i)).requester(bot.clone());
                    black_box(memory_gate.run(request, body).await.unwrap());
                },
            ))
        });
    });
    // Requested, concluded (allowed by policy), executed.
    assert_eq!(
        rt.block_on(async {
            audit.clear();
            let request = ActionRequest::new(ACTION, refund(0)).requester(bot.clone());
            memory_gate.run(request, body).await.unwrap();
            audit.len()
        }),
        3
    );

    let discard_gate = Gate::builder()
        .policy(allow_policy())
        .audit(Discard)
        .build();
    group.bench_function("allowed_discard_audit", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(
                iters,
                || (),
                async |(), i| {
                    let request = ActionRequest::new(ACTION, refund(i)).requester(bot.clone());
                    black_box(discard_gate.run(request, body).await.unwrap());
                },
            ))
        });
    });

    let approval_gate = || {
        let audit = MemoryAudit::new();
        let gate = Gate::builder()
            .policy(approval_policy())
            .channel(MockChannel::approve_all().voting_as([APPROVER]))
            .audit(audit.clone())
            .build();
        (gate, audit)
    };
    group.bench_function("approved_by_mock", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(
                iters,
                approval_gate,
                async |(gate, _): &(Gate, MemoryAudit), i| {
                    let request = ActionRequest::new(ACTION, refund(i)).requester(bot.clone());
                    black_box(gate.run(request, body).await.unwrap());
                },
            ))
        });
    });
    // Requested, the vote, concluded (approved), executed.
    assert_eq!(
        rt.block_on(async {
            let (gate, audit) = approval_gate();
            let request = ActionRequest::new(ACTION, refund(0)).requester(bot.clone());
            gate.run(request, body).await.unwrap();
            audit.len()
        }),
        4
    );
    group.finish();
}

/// The steps of the allowed path, each on its own, as the gate does them
/// (`Gate::prepare`, `Gate::open`, `Approval::run`).
fn gate_parts(c: &mut Criterion) {
    let rt = runtime();
    let bot = Identity::new("agent:support-bot");
    let policy = allow_policy();
    let args = refund(0);
    let arguments = serde_json::to_value(&args).unwrap();
    let binding = serde_json::to_vec(&args).unwrap();
    let engine = MaskingEngine::new();
    let masked = engine.mask_arguments(ACTION, &arguments, &[]);
    let fingerprint = Fingerprint::of(ACTION, &arguments, &bot);
    let id = RequestId::random();
    // The names as an `ActionRequest` built from `&'static str` holds them.
    let action: Cow<'static, str> = Cow::Borrowed(ACTION);
    let description: Cow<'static, str> = Cow::Borrowed("");
    let rule = Some("refunds are allowed".to_owned());
    let requested = AuditRecord::now(
        id.clone(),
        AuditEvent::Requested {
            action: action.clone(),
            description: description.clone(),
            risk: Risk::Medium,
            requester: bot.clone(),
            justification: None,
            arguments: masked.clone(),
            fingerprint,
            rule: rule.clone(),
            verdict: "allow".to_owned(),
            approvers: Vec::new(),
            quorum: None,
            deadline: None,
        },
    );
    let allowed = Conclusion::AllowedByPolicy { rule: rule.clone() };

    let mut group = c.benchmark_group("gate_parts");
    group.bench_function("serialize_arguments", |b| {
        // `Gate::prepare`: the value the fingerprint, masker and policy read.
        b.iter(|| serde_json::to_value(black_box(&args)).unwrap());
    });
    group.bench_function("binding_bytes", |b| {
        // `Gate::prepare`: the bytes the arguments must still serialize to,
        // written in the thread's scratch buffer and copied out at their size.
        b.iter(|| {
            with_scratch(|bytes| {
                serde_json::to_writer(&mut *bytes, black_box(&args)).unwrap();
                Box::<[u8]>::from(bytes.as_slice())
            })
        });
    });
    group.bench_function("fingerprint", |b| {
        b.iter(|| Fingerprint::of(ACTION, black_box(&arguments), &bot));
    });
    group.bench_function("mask_arguments", |b| {
        // The gate's default masker.
        b.iter(|| engine.mask_arguments(ACTION, black_box(&arguments), &[]));
    });
    group.bench_function("mask_arguments_type_label", |b| {
        b.iter(|| TypeLabelMasker.mask_arguments(ACTION, black_box(&arguments), &[]));
    });
    group.bench_function("policy_evaluate", |b| {
        b.iter(|| {
            policy
                .evaluate(&PolicyInput {
                    action: ACTION,
                    risk: Risk::Medium,
                    requester: &bot,
                    arguments: black_box(&arguments),
                })
                .unwrap()
        });
    });
    group.bench_function("request_id_random", |b| b.iter(RequestId::random));
    group.bench_function("timestamp_now", |b| b.iter(Timestamp::now));
    group.bench_function("approval_span_no_subscriber", |b| {
        // The `approval` span as `Gate::prepare` makes it, the wait timed
        // and the span's fields recorded as `authorize` and `run` do, with
        // no subscriber installed (the common case).
        let id = RequestId::random();
        let requester = Identity::new("agent:support-bot");
        b.iter(|| {
            let span = tracing::info_span!(
                "approval",
                approval.action = %ACTION,
                approval.request_id = %id,
                approval.risk = Risk::High.as_str(),
                approval.requester = %requester,
                approval.decision = "allow",
                approval.conclusion = tracing::field::Empty,
                approval.wait_ms = tracing::field::Empty,
                approval.outcome = tracing::field::Empty,
            );
            let started = (!span.is_disabled()).then(Instant::now);
            let entered = span.in_scope(|| black_box(1));
            if let Some(started) = started {
                span.record("approval.wait_ms", started.elapsed().as_millis() as u64);
            }
            span.record("approval.conclusion", "allowed_by_policy");
            span.record("approval.outcome", "ok");
            black_box((span, entered))
        });
    });
    group.bench_function("build_requested_record", |b| {
        // `Call::requested`: clone the id, the Cow names (borrowed), the
        // requester, the shared masked view and the rule name; stamp.
        b.iter(|| {
            AuditRecord::now(
                id.clone(),
                AuditEvent::Requested {
                    action: black_box(&action).clone(),
                    description: black_box(&description).clone(),
                    risk: Risk::Medium,
                    requester: bot.clone(),
                    justification: None,
                    arguments: black_box(&masked).clone(),
                    fingerprint,
                    rule: black_box(&rule).clone(),
                    verdict: "allow".to_owned(),
                    approvers: Vec::new(),
                    quorum: None,
                    deadline: None,
                },
            )
        });
    });
    group.bench_function("build_concluded_record", |b| {
        // `Gate::record_conclusion`: the conclusion (rule name) cloned, stamped.
        b.iter(|| {
            AuditRecord::now(
                id.clone(),
                AuditEvent::Concluded {
                    conclusion: black_box(&allowed).clone(),
                },
            )
        });
    });
    group.bench_function("build_executed_record", |b| {
        // `Approval::record`: the outcome of a body that returned `Ok`.
        b.iter(|| {
            AuditRecord::now(
                black_box(&id).clone(),
                AuditEvent::Executed {
                    outcome: ExecutionOutcome::Ok,
                },
            )
        });
    });
    group.bench_function("binding_check", |b| {
        // `Approval::run`: serialize again in the scratch buffer and compare
        // with the bytes kept.
        b.iter(|| {
            with_scratch(|bytes| {
                serde_json::to_writer(&mut *bytes, black_box(&args)).is_ok()
                    && **bytes == *black_box(&binding)
            })
        });
    });
    let audit = MemoryAudit::new();
    group.bench_function("memory_audit_record_requested", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(
                iters,
                || audit.clear(),
                async |(), _| audit.record(&requested).await.unwrap(),
            ))
        });
    });
    group.bench_function("discard_audit_record_requested", |b| {
        b.iter_custom(|iters| {
            rt.block_on(chunked(
                iters,
                || (),
                async |(), _| Discard.record(&requested).await.unwrap(),
            ))
        });
    });
    group.bench_function("canonical_json_requested", |b| {
        // Not on the in-memory path; what `JsonlAudit::record` does first.
        b.iter(|| canonical_json(&serde_json::to_value(black_box(&requested)).unwrap()));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = gate, gate_parts
}
criterion_main!(benches);
