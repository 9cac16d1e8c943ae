//! The metrics the gate emits, through the [`metrics`] facade.
//!
//! Nothing is collected until the application installs a recorder (for
//! Prometheus, `metrics-exporter-prometheus`; for OpenTelemetry, a bridge
//! such as `metrics-exporter-opentelemetry`); without one each emission is a
//! load of the global recorder and nothing else. Call [`describe`] once
//! after installing the recorder to give every metric its help text and
//! unit.
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

/// Gives every metric of this module its unit and help text in the
/// installed recorder. Safe to call more than once.
pub fn describe() {
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
pub(crate) struct PendingGauge(metrics::Gauge);

impl PendingGauge {
    pub(crate) fn new(action: Cow<'static, str>) -> Self {
        let gauge = metrics::gauge!(PENDING, "action" => action);
        gauge.increment(1.0);
        PendingGauge(gauge)
    }
}

impl Drop for PendingGauge {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Counts a call when it ends; a call dropped before its end is counted
/// as `cancelled`.
pub(crate) struct CallMeter {
    action: Cow<'static, str>,
    started: Instant,
    done: bool,
}

impl CallMeter {
    pub(crate) fn start(action: Cow<'static, str>) -> Self {
        CallMeter {
            action,
            started: Instant::now(),
            done: false,
        }
    }

    /// When the call started.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// The call ended with `conclusion` (an outcome code).
    pub(crate) fn end(mut self, conclusion: &'static str) {
        self.done = true;
        self.emit(conclusion);
    }

    fn emit(&self, conclusion: &'static str) {
        let seconds = self.started.elapsed().as_secs_f64();
        let action = self.action.clone();
        metrics::counter!(REQUESTS, "action" => action.clone(), "conclusion" => conclusion)
            .increment(1);
        metrics::histogram!(DECISION_SECONDS, "action" => action, "conclusion" => conclusion)
            .record(seconds);
    }
}

impl Drop for CallMeter {
    fn drop(&mut self) {
        if !self.done {
            self.emit("cancelled");
        }
    }
}

/// Times one write of `records` to the audit sink, and tells a `tracing`
/// subscriber of each step of a request it holds (votes have an event of
/// their own).
pub(crate) fn audit_written<T, E>(
    started: Instant,
    records: &[AuditRecord],
    result: &Result<T, E>,
) {
    metrics::histogram!(AUDIT_WRITE_SECONDS).record(started.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!(AUDIT_WRITE_FAILURES).increment(1);
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
    metrics::counter!(VOTES_REFUSED, "reason" => reason).increment(1);
}

/// Counts a channel's failure at `stage`.
pub(crate) fn channel_failed(channel: &str, stage: &'static str) {
    metrics::counter!(CHANNEL_FAILURES, "channel" => channel.to_owned(), "stage" => stage)
        .increment(1);
}
