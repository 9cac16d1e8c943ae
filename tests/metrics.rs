//! The gate's metrics, read from a recorder: requests by action and
//! conclusion, the pending gauge, time to decision, refused votes by
//! reason, audit write latency and failures, channel failures; and never an
//! argument value or an identity in a label.
//!
//! One recorder serves the whole binary, so each test uses actions of its
//! own and only one test casts refused votes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use approvals::audit::{AuditError, AuditRecord, AuditSink, MemoryAudit};
use approvals::channel::{Channel, ChannelError, Choice, Refusal, Review, VoteBox, VoteOutcome};
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::telemetry;
use approvals::testing::{MockChannel, QueueChannel};
use approvals::{ActionRequest, Error, Gate, async_trait};
use common::{AGENT, ALICE, BOB, MALLORY};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};

const SECRET: &str = "jane.doe@example.com";

/// A recorder that keeps every value (reading does not reset it, so tests
/// running side by side do not take each other's samples).
struct Kept {
    registry: Registry<Key, AtomicStorage>,
    described: Mutex<Vec<(String, Option<Unit>)>>,
}

impl Recorder for Kept {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.described
            .lock()
            .unwrap()
            .push((key.as_str().to_owned(), unit));
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.described
            .lock()
            .unwrap()
            .push((key.as_str().to_owned(), unit));
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.described
            .lock()
            .unwrap()
            .push((key.as_str().to_owned(), unit));
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |counter| Counter::from_arc(Arc::clone(counter)))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |gauge| Gauge::from_arc(Arc::clone(gauge)))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |histogram| Histogram::from_arc(Arc::clone(histogram)))
    }
}

/// A value read from the recorder.
#[derive(Debug, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

fn recorder() -> &'static Kept {
    static RECORDER: OnceLock<&'static Kept> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let kept: &'static Kept = Box::leak(Box::new(Kept {
            registry: Registry::atomic(),
            described: Mutex::new(Vec::new()),
        }));
        metrics::set_global_recorder(kept).expect("the only recorder of this binary");
        telemetry::enable();
        kept
    })
}

type Seen = Vec<(String, Vec<(String, String)>, Value)>;

/// Every metric now: name, labels (sorted) and value.
fn read() -> Seen {
    fn parts(key: &Key) -> (String, Vec<(String, String)>) {
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        labels.sort();
        (key.name().to_owned(), labels)
    }
    let registry = &recorder().registry;
    let mut seen = Vec::new();
    for (key, counter) in registry.get_counter_handles() {
        let (name, labels) = parts(&key);
        seen.push((name, labels, Value::Counter(counter.load(Ordering::SeqCst))));
    }
    for (key, gauge) in registry.get_gauge_handles() {
        let (name, labels) = parts(&key);
        let value = f64::from_bits(gauge.load(Ordering::SeqCst));
        seen.push((name, labels, Value::Gauge(value)));
    }
    for (key, histogram) in registry.get_histogram_handles() {
        let (name, labels) = parts(&key);
        seen.push((name, labels, Value::Histogram(histogram.data())));
    }
    seen
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    labels.sort();
    labels
}

fn find<'a>(seen: &'a Seen, name: &str, pairs: &[(&str, &str)]) -> Option<&'a Value> {
    let wanted = labels(pairs);
    seen.iter()
        .find(|(seen_name, seen_labels, _)| seen_name == name && *seen_labels == wanted)
        .map(|(_, _, value)| value)
}

fn counter(name: &str, pairs: &[(&str, &str)]) -> u64 {
    match find(&read(), name, pairs) {
        Some(Value::Counter(count)) => *count,
        None => 0,
        Some(other) => panic!("{name} is not a counter: {other:?}"),
    }
}

fn gauge(name: &str, pairs: &[(&str, &str)]) -> f64 {
    match find(&read(), name, pairs) {
        Some(Value::Gauge(value)) => *value,
        None => 0.0,
        Some(other) => panic!("{name} is not a gauge: {other:?}"),
    }
}

/// The samples a histogram took since the last read of it.
fn samples(seen: &Seen, name: &str, pairs: &[(&str, &str)]) -> Vec<f64> {
    match find(seen, name, pairs) {
        Some(Value::Histogram(values)) => values.clone(),
        None => Vec::new(),
        Some(other) => panic!("{name} is not a histogram: {other:?}"),
    }
}

fn request(action: &'static str) -> ActionRequest<serde_json::Value> {
    ActionRequest::new(
        action,
        serde_json::json!({ "customer_email": SECRET, "cents": 4_200 }),
    )
    .requester(AGENT)
}

fn gated(action: &str, timeout: Duration) -> Rule {
    Rule::new(format!("{action} is gated"))
        .action(action)
        .require(
            RequirementBuilder::new()
                .approvers([ALICE, BOB])
                .timeout(timeout),
        )
}

#[tokio::test]
async fn each_call_is_counted_by_action_and_conclusion_and_timed() {
    recorder();
    let policy = Policy::new()
        .rule(Rule::new("reads").action("metrics.read").allow())
        .rule(Rule::new("drops").action("metrics.drop").refuse("never"))
        .rule(gated("metrics.approved", Duration::from_secs(60)))
        .rule(gated("metrics.denied", Duration::from_secs(60)))
        .rule(gated("metrics.expired", Duration::from_millis(50)));
    let reviewer = MockChannel::decide(|review| match review.action.as_str() {
        "metrics.approved" => Some(Choice::Approve),
        "metrics.denied" => Some(Choice::deny("not today")),
        _ => None,
    })
    .voting_as([ALICE]);
    let gate = Gate::builder()
        .policy(policy)
        .channel(reviewer)
        .audit(MemoryAudit::new())
        .build();

    for _ in 0..3 {
        gate.run(request("metrics.read"), |_| async { Ok::<_, Error>(()) })
            .await
            .unwrap();
    }
    gate.run(request("metrics.approved"), |_| async {
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    for action in ["metrics.drop", "metrics.denied", "metrics.expired"] {
        assert!(gate.authorize(request(action)).await.is_err());
    }
    // A call that fails before anything is recorded is counted too.
    let anonymous = ActionRequest::new("metrics.anonymous", 1);
    assert!(matches!(
        gate.authorize(anonymous).await,
        Err(Error::NoRequester)
    ));

    let seen = read();
    for (action, conclusion, count) in [
        ("metrics.read", "allowed_by_policy", 3),
        ("metrics.approved", "approved", 1),
        ("metrics.drop", "refused_by_policy", 1),
        ("metrics.denied", "denied", 1),
        ("metrics.expired", "expired", 1),
        ("metrics.anonymous", "no_requester", 1),
    ] {
        let pairs = [("action", action), ("conclusion", conclusion)];
        assert_eq!(
            find(&seen, telemetry::REQUESTS, &pairs),
            Some(&Value::Counter(count)),
            "{action} {conclusion}"
        );
        let times = samples(&seen, telemetry::DECISION_SECONDS, &pairs);
        assert_eq!(times.len(), count as usize, "{action}: one time per call");
        assert!(times.iter().all(|seconds| *seconds >= 0.0));
    }
    let expired = samples(
        &seen,
        telemetry::DECISION_SECONDS,
        &[("action", "metrics.expired"), ("conclusion", "expired")],
    );
    assert!(expired[0] >= 0.05, "the wait is in the time: {expired:?}");
    for action in ["metrics.approved", "metrics.denied", "metrics.expired"] {
        assert_eq!(gauge(telemetry::PENDING, &[("action", action)]), 0.0);
    }
}

#[tokio::test]
async fn the_pending_gauge_follows_waiting_calls_and_cancellation_is_counted() {
    recorder();
    let (queue, handle) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(Policy::new().rule(gated("metrics.waits", Duration::from_secs(60))))
        .channel(queue)
        .audit(MemoryAudit::new())
        .build();
    let pending = [("action", "metrics.waits")];

    let first = tokio::spawn({
        let gate = gate.clone();
        async move { gate.authorize(request("metrics.waits")).await.map(drop) }
    });
    let second = tokio::spawn({
        let gate = gate.clone();
        async move { gate.authorize(request("metrics.waits")).await.map(drop) }
    });
    let one = handle.next_request().await;
    let _two = handle.next_request().await;
    assert_eq!(gauge(telemetry::PENDING, &pending), 2.0);

    handle.approve(&one.id, ALICE).await.unwrap();
    first.await.unwrap().unwrap();
    assert_eq!(gauge(telemetry::PENDING, &pending), 1.0);

    second.abort();
    assert!(second.await.unwrap_err().is_cancelled());
    assert_eq!(gauge(telemetry::PENDING, &pending), 0.0);
    assert_eq!(
        counter(
            telemetry::REQUESTS,
            &[("action", "metrics.waits"), ("conclusion", "cancelled")]
        ),
        1
    );
}

#[tokio::test]
async fn refused_votes_are_counted_by_reason() {
    recorder();
    let (queue, handle) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(Policy::new().rule(gated("metrics.voted", Duration::from_secs(60))))
        .channel(queue)
        .audit(MemoryAudit::new())
        .build();
    let call = tokio::spawn({
        let gate = gate.clone();
        async move { gate.authorize(request("metrics.voted")).await.map(drop) }
    });
    let review = handle.next_request().await;
    let refused = |outcome: VoteOutcome| outcome.refusal().expect("refused");
    assert_eq!(
        refused(handle.approve(&review.id, AGENT).await.unwrap()),
        Refusal::SelfApproval
    );
    assert_eq!(
        refused(handle.approve(&review.id, MALLORY).await.unwrap()),
        Refusal::NotEligible
    );
    assert_eq!(
        refused(handle.approve(&review.id, MALLORY).await.unwrap()),
        Refusal::NotEligible
    );
    assert!(handle.approve(&review.id, ALICE).await.unwrap().counted());
    call.await.unwrap().unwrap();

    assert_eq!(
        counter(telemetry::VOTES_REFUSED, &[("reason", "self_approval")]),
        1
    );
    assert_eq!(
        counter(telemetry::VOTES_REFUSED, &[("reason", "not_eligible")]),
        2
    );
    assert_eq!(
        counter(telemetry::VOTES_REFUSED, &[("reason", "already_voted")]),
        0
    );
}

/// A sink that refuses every write after the first `good` ones.
struct Failing {
    good: usize,
    writes: AtomicUsize,
}

#[async_trait]
impl AuditSink for Failing {
    async fn record(&self, _record: &AuditRecord) -> Result<(), AuditError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) < self.good {
            Ok(())
        } else {
            Err(AuditError::Io(std::io::Error::other("the disk is full")))
        }
    }
}

/// A channel that cannot deliver.
struct Down;

#[async_trait]
impl Channel for Down {
    fn name(&self) -> &str {
        "down"
    }

    async fn deliver(&self, _request: &Review, _votes: VoteBox) -> Result<(), ChannelError> {
        Err(ChannelError::unavailable("down", "the service is down"))
    }
}

#[tokio::test]
async fn audit_writes_are_timed_and_failures_of_sinks_and_channels_counted() {
    recorder();
    // Audit writes: each call here writes two records (requested, then
    // executed after an allowed body); other tests write too, so the
    // histogram is read before and after.
    let before = read();
    let gate = Gate::builder()
        .policy(Policy::new().rule(Rule::new("reads").action("metrics.audited").allow()))
        .audit(MemoryAudit::new())
        .build();
    gate.run(request("metrics.audited"), |_| async { Ok::<_, Error>(()) })
        .await
        .unwrap();
    let after = read();
    let written = samples(&after, telemetry::AUDIT_WRITE_SECONDS, &[]);
    let earlier = samples(&before, telemetry::AUDIT_WRITE_SECONDS, &[]);
    assert!(
        written.len() >= earlier.len() + 2,
        "the two writes of the call were timed: {} then {}",
        earlier.len(),
        written.len()
    );
    assert!(written.iter().all(|seconds| *seconds >= 0.0));

    let failures = counter(telemetry::AUDIT_WRITE_FAILURES, &[]);
    let refusing = Gate::builder()
        .policy(Policy::new().rule(Rule::new("reads").action("metrics.unaudited").allow()))
        .audit(Failing {
            good: 0,
            writes: AtomicUsize::new(0),
        })
        .build();
    let failed = refusing
        .run(request("metrics.unaudited"), |_| async {
            Ok::<_, Error>(())
        })
        .await;
    assert!(matches!(failed, Err(Error::Audit(_))), "{failed:?}");
    assert!(counter(telemetry::AUDIT_WRITE_FAILURES, &[]) > failures);
    assert_eq!(
        counter(
            telemetry::REQUESTS,
            &[("action", "metrics.unaudited"), ("conclusion", "audit")]
        ),
        1
    );

    let undelivered = Gate::builder()
        .policy(Policy::new().rule(gated("metrics.undelivered", Duration::from_secs(60))))
        .channel(Down)
        .audit(MemoryAudit::new())
        .build();
    let failed = undelivered.authorize(request("metrics.undelivered")).await;
    assert!(matches!(failed, Err(Error::Channel { .. })), "{failed:?}");
    assert_eq!(
        counter(
            telemetry::CHANNEL_FAILURES,
            &[("channel", "down"), ("stage", "deliver")]
        ),
        1
    );
}

#[tokio::test]
async fn no_label_holds_an_argument_value_or_an_identity() {
    recorder();
    let gate = Gate::builder()
        .policy(Policy::new().rule(gated("metrics.private", Duration::from_secs(60))))
        .channel(MockChannel::approve_all().voting_as([BOB]))
        .audit(MemoryAudit::new())
        .build();
    gate.run(request("metrics.private"), |_| async { Ok::<_, Error>(()) })
        .await
        .unwrap();
    for (name, labels, _) in read() {
        for (key, value) in labels {
            for private in [SECRET, "4200", AGENT, ALICE, BOB] {
                assert!(
                    !value.contains(private),
                    "{name} has {key}={value}, which holds {private}"
                );
            }
        }
    }
}

#[test]
fn every_metric_is_described_with_its_unit() {
    recorder();
    let described = recorder().described.lock().unwrap().clone();
    for (name, unit) in [
        (telemetry::REQUESTS, Unit::Count),
        (telemetry::PENDING, Unit::Count),
        (telemetry::DECISION_SECONDS, Unit::Seconds),
        (telemetry::VOTES_REFUSED, Unit::Count),
        (telemetry::AUDIT_WRITE_SECONDS, Unit::Seconds),
        (telemetry::AUDIT_WRITE_FAILURES, Unit::Count),
        (telemetry::CHANNEL_FAILURES, Unit::Count),
    ] {
        assert!(
            described.contains(&(name.to_owned(), Some(unit))),
            "{name} is described in {unit:?}: {described:?}"
        );
    }
}
