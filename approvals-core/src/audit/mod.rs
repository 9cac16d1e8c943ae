//! The audit trail: every request, vote, escalation, conclusion and outcome.
//!
//! The gate writes each [`AuditRecord`] to an [`AuditSink`] and waits until
//! the sink says it is durable before going on: a body runs only after its
//! approval is recorded. Records carry the masked view only, never raw
//! arguments.
//!
//! Sinks provided here:
//!
//! - [`JsonlAudit`]: a JSON Lines file, hash-chained (SHA-256 or HMAC-SHA256)
//!   so that a changed, removed or reordered record is detected by
//!   [`verify`]; writes are group-committed by one writer thread.
//! - [`MemoryAudit`]: records kept in memory, for tests; it can be told to
//!   fail, to exercise fail-closed paths.
//! - [`FanOut`]: writes each record to several sinks and succeeds only if
//!   all do.
//! - `PostgresAudit` (feature `postgres`): one hash chain in a PostgreSQL
//!   table, shared by every replica, appended in batches.

pub mod checkpoint;
mod fanout;
mod file;
mod memory;
pub mod merkle;
#[cfg(feature = "postgres")]
mod postgres;

pub use fanout::{FanOut, NoSinks};
pub use file::{
    Fsync, JsonlAudit, JsonlAuditBuilder, OpenError, Recovery, TreeFile, VerifyError, VerifyReport,
    verify, verify_reader, verify_reader_with_head, verify_with_checkpoint, verify_with_head,
};
pub use memory::MemoryAudit;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresAudit, PostgresAuditError};

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::mask::MaskedView;
use crate::{
    Choice, Conclusion, ExecutionOutcome, Fingerprint, Identity, Refusal, RequestId, Risk,
    Timestamp,
};

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it happened.
    pub at: Timestamp,
    /// The request it belongs to.
    pub request_id: RequestId,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
}

impl AuditRecord {
    /// A record of `event` for `request_id`, stamped now.
    pub fn now(request_id: RequestId, event: AuditEvent) -> Self {
        Self {
            at: Timestamp::now(),
            request_id,
            event,
        }
    }

    /// The event's kind.
    pub fn kind(&self) -> AuditEventKind {
        self.event.kind()
    }
}

/// What happened, with the details an auditor needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    /// A call asked to run.
    Requested {
        /// The action name.
        action: Cow<'static, str>,
        /// What the action does.
        description: Cow<'static, str>,
        /// The risk level.
        risk: Risk,
        /// Who asked.
        requester: Identity,
        /// The requester's reason, masked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        justification: Option<String>,
        /// The arguments, masked.
        arguments: MaskedView,
        /// The fingerprint of the exact call.
        fingerprint: Fingerprint,
        /// The policy rule that matched (`None`: no rule matched).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// What policy decided: `allow`, `refuse` or `require_approval`.
        verdict: String,
        /// Eligible approvers, when approval is required.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        approvers: Vec<Identity>,
        /// Approvals needed, when approval is required.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quorum: Option<u32>,
        /// When silence becomes a denial, when approval is required.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<Timestamp>,
    },
    /// A vote arrived, counted or not.
    Vote {
        /// Who voted.
        voter: Identity,
        /// Approve or deny (with the reason).
        #[serde(flatten)]
        choice: Choice,
        /// The channel it came through.
        channel: String,
        /// The fingerprint the vote named.
        fingerprint: Fingerprint,
        /// Whether it counted.
        counted: bool,
        /// Why it did not count.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refusal: Option<Refusal>,
    },
    /// The deadline for the first approvers passed and more approvers were
    /// asked.
    Escalated {
        /// Who may now vote as well.
        added: Vec<Identity>,
    },
    /// The request ended.
    Concluded {
        /// How.
        #[serde(flatten)]
        conclusion: Conclusion,
    },
    /// The approved body ran.
    Executed {
        /// How it ended.
        #[serde(flatten)]
        outcome: ExecutionOutcome,
    },
    /// A reviewer edited the arguments of a pending request, accepted or
    /// not ([`edit`](crate::edit)). Accepted, it made a new version with
    /// its own fingerprint and counted as the editor's approval of it;
    /// approvals of the version before do not carry over.
    Edited {
        /// Who edited.
        editor: Identity,
        /// The channel it came through.
        channel: String,
        /// The version edited.
        from_version: u32,
        /// The fingerprint the editor named (the version they saw).
        from_fingerprint: Fingerprint,
        /// The arguments before the edit, masked (absent when the edit
        /// named no pending request).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<MaskedView>,
        /// The arguments as edited, masked (absent when the edit was
        /// refused before it was applied).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<MaskedView>,
        /// The new version's fingerprint, when the edit was accepted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_fingerprint: Option<Fingerprint>,
        /// The argument paths the edit changes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed: Vec<String>,
        /// Whether it was accepted.
        accepted: bool,
        /// Why it was refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refusal: Option<Refusal>,
        /// What was not valid about it (a path and a category).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem: Option<crate::edit::EditProblem>,
    },
    /// Shadow mode: a candidate policy, evaluated beside the policy in
    /// force on the same call, decided otherwise, or could not decide
    /// ([`GateBuilder::shadow_policy`](crate::GateBuilder::shadow_policy)).
    /// It changed nothing: the call went on as `current` says. Written just
    /// before the request's `requested` record.
    ShadowDisagreement {
        /// What the policy in force decided.
        current: PolicyDecisionRecord,
        /// What the candidate would have decided.
        candidate: PolicyDecisionRecord,
    },
}

/// What one policy decided for a call, as a
/// [`ShadowDisagreement`](AuditEvent::ShadowDisagreement) record shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDecisionRecord {
    /// `allow`, `refuse`, `require_approval`, or `error` when the policy
    /// could not decide (the call then fails closed).
    pub verdict: String,
    /// The rule that decided (`None`: no rule matched, or an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Eligible approvers, when approval is required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<Identity>,
    /// Approvals needed, when approval is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// The refusal reason, or the error, masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditEvent {
    /// The event's kind.
    pub fn kind(&self) -> AuditEventKind {
        match self {
            AuditEvent::Requested { .. } => AuditEventKind::Requested,
            AuditEvent::Vote { .. } => AuditEventKind::Vote,
            AuditEvent::Escalated { .. } => AuditEventKind::Escalated,
            AuditEvent::Concluded { .. } => AuditEventKind::Concluded,
            AuditEvent::Executed { .. } => AuditEventKind::Executed,
            AuditEvent::ShadowDisagreement { .. } => AuditEventKind::ShadowDisagreement,
            AuditEvent::Edited { .. } => AuditEventKind::Edited,
        }
    }
}

/// The kinds of [`AuditEvent`], for queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEventKind {
    /// [`AuditEvent::Requested`].
    Requested,
    /// [`AuditEvent::Vote`].
    Vote,
    /// [`AuditEvent::Escalated`].
    Escalated,
    /// [`AuditEvent::Concluded`].
    Concluded,
    /// [`AuditEvent::Executed`].
    Executed,
    /// [`AuditEvent::ShadowDisagreement`].
    ShadowDisagreement,
    /// [`AuditEvent::Edited`].
    Edited,
}

impl AuditEventKind {
    /// The kind as serialized: `requested`, `vote`, `escalated`,
    /// `concluded`, `executed`, `shadow_disagreement`, `edited`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEventKind::Requested => "requested",
            AuditEventKind::Vote => "vote",
            AuditEventKind::Escalated => "escalated",
            AuditEventKind::Concluded => "concluded",
            AuditEventKind::Executed => "executed",
            AuditEventKind::ShadowDisagreement => "shadow_disagreement",
            AuditEventKind::Edited => "edited",
        }
    }
}

/// Durably records audit events.
///
/// `record` returns once the record is as durable as the sink promises; the
/// gate does not go on until then, and an error stops the call (fail closed).
/// Implement it with [`async_trait`](https://docs.rs/async-trait):
///
/// ```
/// use approvals_core::audit::{AuditError, AuditRecord, AuditSink};
///
/// struct Stdout;
///
/// #[async_trait::async_trait]
/// impl AuditSink for Stdout {
///     async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
///         let line = serde_json::to_string(record).map_err(|e| AuditError::other(e))?;
///         let _ = line; // send it somewhere durable
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Records one event.
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError>;

    /// Records several events, in order, and returns once all are durable.
    /// A store's outbox is drained through it. The default records them one
    /// at a time; a sink that can make a batch durable at once (one `fsync`
    /// for all) should override it. On an error, some of the records may
    /// have been written: the outbox writes them all again, so a sink may
    /// see a record twice after a failure, never out of order.
    async fn record_all(&self, records: &[AuditRecord]) -> Result<(), AuditError> {
        for record in records {
            self.record(record).await?;
        }
        Ok(())
    }
}

/// The future [`AuditSink::record`] returns, as `#[async_trait]` writes it.
type RecordFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), AuditError>> + Send + 'a>>;

// The forwarding impls hand back the inner sink's future as it is, rather
// than boxing a future that awaits it: one allocation per record instead of
// two, on the gate's every path.
impl<T: AuditSink + ?Sized> AuditSink for &T {
    fn record<'s, 'r, 'f>(&'s self, record: &'r AuditRecord) -> RecordFuture<'f>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).record(record)
    }

    fn record_all<'s, 'r, 'f>(&'s self, records: &'r [AuditRecord]) -> RecordFuture<'f>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).record_all(records)
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Box<T> {
    fn record<'s, 'r, 'f>(&'s self, record: &'r AuditRecord) -> RecordFuture<'f>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).record(record)
    }

    fn record_all<'s, 'r, 'f>(&'s self, records: &'r [AuditRecord]) -> RecordFuture<'f>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).record_all(records)
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    fn record<'s, 'r, 'f>(&'s self, record: &'r AuditRecord) -> RecordFuture<'f>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).record(record)
    }

    fn record_all<'s, 'r, 'f>(&'s self, records: &'r [AuditRecord]) -> RecordFuture<'f>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).record_all(records)
    }
}

/// A record could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The storage failed (a full disk, a permission, a closed file).
    #[error("audit storage failed: {0}")]
    Io(#[from] std::io::Error),
    /// The sink has been closed or its writer has stopped.
    #[error("the audit sink is closed")]
    Closed,
    /// The sink panicked while writing; the record may or may not have been
    /// written.
    #[error("the audit sink panicked")]
    Panicked,
    /// Any other failure of a custom sink.
    #[error("audit sink failed: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AuditError {
    /// Wraps any error of a custom sink.
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        AuditError::Other(Box::new(error))
    }
}
