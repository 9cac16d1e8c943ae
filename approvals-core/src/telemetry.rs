//! The metrics the gate emits, through the [`metrics`] facade.
//!
//! Nothing is emitted until the application installs a recorder (for
//! Prometheus, `metrics-exporter-prometheus`; for OpenTelemetry, a bridge
//! such as `metrics-exporter-opentelemetry`) and then calls [`enable`],
//! which also gives every metric its help text and unit. Until then each
//! emission point costs one atomic load: no clock is read and no label is
//! built for a recorder that would drop them.
//!
//! | Name | Kind | Labels | What |
//! |---|---|---|---|
//! | [`REQUESTS`] | counter | `action`, `conclusion` | gated calls, by how they ended |
//! | [`PENDING`] | gauge | `action` | calls of this process waiting for reviewers now |
//! | [`DECISION_SECONDS`] | histogram | `action`, `conclusion` | from the call to its conclusion |
//! | [`VOTES_REFUSED`] | counter | `reason` | votes the gate did not count, by [`Refusal::code`] |
//! | [`AUDIT_WRITE_SECONDS`] | histogram | | one write to the audit sink |
//! | [`AUDIT_WRITE_FAILURES`] | counter | | writes the audit sink refused (the step fails closed) |
//! | [`CHANNEL_FAILURES`] | counter | `channel`, `stage` | deliveries (`stage="deliver"`) and updates (`"update"`) a channel failed |
//!
//! `conclusion` is [`Conclusion::outcome`](crate::Conclusion::outcome) for a
//! call that reached one (`approved`, `allowed_by_policy`, …) and
//! [`Error::outcome`](crate::Error::outcome) otherwise (`denied`,
//! `expired`, `refused_by_policy`, `cancelled`, `audit`, …). No label ever
//! holds an argument value, a requester or a reviewer: labels are bounded
//! by the actions the application declares.
//!
//! `examples/metrics.rs` serves them to Prometheus.
//!
//! [`Refusal::code`]: crate::Refusal::code

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use metrics::Unit;

use crate::audit::{AuditEventKind, AuditRecord};

/// Counter of gated calls by `action` and `conclusion`.
pub const REQUESTS: &str = "approvals_requests_total";
/// Gauge of the calls this process is waiting on for a human decision, by
/// `action`.
pub const PENDING: &str = "approvals_pending_requests";
/// Histogram of the seconds from a call to its conclusion, by `action` and
/// `conclusion`.
pub const DECISION_SECONDS: &str = "approvals_decision_duration_seconds";
/// Counter of votes the gate refused, by `reason`.
pub const VOTES_REFUSED: &str = "approvals_votes_refused_total";
/// Histogram of the seconds one write to the audit sink takes.
pub const AUDIT_WRITE_SECONDS: &str = "approvals_audit_write_duration_seconds";
/// Counter of writes the audit sink refused or panicked in.
pub const AUDIT_WRITE_FAILURES: &str = "approvals_audit_write_failures_total";
/// Counter of channel failures, by `channel` and `stage` (`deliver` or
/// `update`).
pub const CHANNEL_FAILURES: &str = "approvals_channel_failures_total";

/// Whether [`enable`] was called.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether the gate emits its metrics.
#[inline]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns the gate's metrics on, and gives each its unit and help text in
/// the installed recorder. Call it once the recorder is installed; calling
/// it again describes them again.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    metrics::describe_counter!(
        REQUESTS,
        Unit::Count,
        "Gated calls, by action and conclusion."
    );
    metrics::describe_gauge!(
        PENDING,
        Unit::Count,
        "Gated calls of this process waiting for a human decision."
    );
    metrics::describe_histogram!(
        DECISION_SECONDS,
        Unit::Seconds,
        "Time from a gated call to its conclusion."
    );
    metrics::describe_counter!(
        VOTES_REFUSED,
        Unit::Count,
        "Votes the gate did not count, by reason."
    );
    metrics::describe_histogram!(
        AUDIT_WRITE_SECONDS,
        Unit::Seconds,
        "Time one write to the audit sink takes."
    );
    metrics::describe_counter!(
        AUDIT_WRITE_FAILURES,
        Unit::Count,
        "Writes the audit sink refused; each fails its step closed."
    );
    metrics::describe_counter!(
        CHANNEL_FAILURES,
        Unit::Count,
        "Deliveries and updates a channel failed, by channel and stage."
    );
}

/// Counts one call as pending while it lives.
pub(crate) struct PendingGauge(Option<metrics::Gauge>);

impl PendingGauge {
    #[allow(
        clippy::ptr_arg,
        reason = "cloned only when metrics are on, so that a static name stays borrowed"
    )]
    pub(crate) fn new(action: &Cow<'static, str>) -> Self {
        PendingGauge(enabled().then(|| {
            let gauge = metrics::gauge!(PENDING, "action" => action.clone());
            gauge.increment(1.0);
            gauge
        }))
    }
}

impl Drop for PendingGauge {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.decrement(1.0);
        }
    }
}

/// Counts a call when it ends; a call dropped before its end is counted
/// as `cancelled`. Holds nothing while metrics are off.
pub(crate) struct CallMeter(Option<(Cow<'static, str>, Instant)>);

impl CallMeter {
    #[allow(
        clippy::ptr_arg,
        reason = "cloned only when metrics are on, so that a static name stays borrowed"
    )]
    pub(crate) fn start(action: &Cow<'static, str>) -> Self {
        CallMeter(enabled().then(|| (action.clone(), Instant::now())))
    }

    /// When the call started, if metrics are on.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.0.as_ref().map(|(_, started)| *started)
    }

    /// The call ended with `conclusion` (an outcome code).
    pub(crate) fn end(mut self, conclusion: &'static str) {
        if let Some((action, started)) = self.0.take() {
            emit(action, started, conclusion);
        }
    }
}

fn emit(action: Cow<'static, str>, started: Instant, conclusion: &'static str) {
    let seconds = started.elapsed().as_secs_f64();
    metrics::counter!(REQUESTS, "action" => action.clone(), "conclusion" => conclusion)
        .increment(1);
    metrics::histogram!(DECISION_SECONDS, "action" => action, "conclusion" => conclusion)
        .record(seconds);
}

impl Drop for CallMeter {
    fn drop(&mut self) {
        if let Some((action, started)) = self.0.take() {
            emit(action, started, "cancelled");
        }
    }
}

/// Times one write of `records` to the audit sink, and tells a `tracing`
/// subscriber of each step of a request it holds (votes have an event of
/// their own).
pub(crate) fn audit_written<T, E>(
    started: Option<Instant>,
    records: &[AuditRecord],
    result: &Result<T, E>,
) {
    if let Some(started) = started {
        metrics::histogram!(AUDIT_WRITE_SECONDS).record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!(AUDIT_WRITE_FAILURES).increment(1);
        }
    }
    if !tracing::enabled!(target: "approvals::transition", tracing::Level::INFO) {
        return;
    }
    for record in records {
        let kind = record.kind();
        if kind != AuditEventKind::Vote {
            tracing::info!(
                target: "approvals::transition",
                request_id = %record.request_id,
                transition = kind.as_str(),
                recorded = result.is_ok(),
                "request transition"
            );
        }
    }
}

/// Counts a vote the gate refused.
pub(crate) fn vote_refused(reason: &'static str) {
    if !enabled() {
        return;
    }
    metrics::counter!(VOTES_REFUSED, "reason" => reason).increment(1);
}

/// Counts a channel's failure at `stage`.
pub(crate) fn channel_failed(channel: &str, stage: &'static str) {
    if !enabled() {
        return;
    }
    metrics::counter!(CHANNEL_FAILURES, "channel" => channel.to_owned(), "stage" => stage)
        .increment(1);
}
