//! Where requests that wait for people are kept, so that they survive a
//! restart and can be voted on from any replica.
//!
//! Without a store, the gate keeps pending requests in its own memory: the
//! fastest path, and the default. With one
//! ([`GateBuilder::store`](crate::GateBuilder::store)), every request that
//! needs approval is a row that moves
//! `pending → concluded (approved | denied | expired | cancelled | failed) → running → executed`
//! by compare-and-set transitions ([`Store::update`] succeeds only on the
//! version it was read at), so exactly one conclusion wins any race, in any
//! process. The rules stay in the gate: it reads the stored state, judges a
//! vote by the same rules as in memory, and writes the new state and the
//! audit records of the step in one transition. Records go to the store's
//! outbox in the same transaction and are then drained to the
//! [`AuditSink`], in order ([`Store::drain`]).
//!
//! Stores provided here:
//!
//! - [`MemoryStore`]: the same lifecycle in memory, shared by the gates that
//!   hold a clone of it (for tests, and for several gates in one process);
//! - `SqliteStore` (feature `sqlite`): one file, one machine, nothing to run;
//! - `PostgresStore` (feature `postgres`): many replicas on one database,
//!   woken by `LISTEN`/`NOTIFY`.
//!
//! Only what reviewers see is stored: the masked [`Review`], the
//! fingerprint, identities and the conclusion. Raw arguments never reach a
//! store; a process that resumes a request is given them again by its
//! caller, and they must have the stored fingerprint.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditError, AuditRecord, AuditSink};
use crate::{Conclusion, Identity, RequestId, Review, Timestamp};

/// The version of the stored schema this library writes. A store whose
/// schema is newer refuses to open ([`StoreError::SchemaTooNew`]).
pub const SCHEMA_VERSION: i64 = 1;

/// One request as stored: what reviewers see, its key, and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    /// The key a resumed call finds it by (unique per store).
    pub key: String,
    /// The masked request shown to reviewers.
    pub review: Review,
    /// Votes, conclusion and execution.
    pub state: RequestState,
    /// Bumped by every transition; [`Store::update`] compares it.
    pub version: u64,
}

/// The part of a stored request that transitions change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestState {
    /// Who may approve now (the requirement's approvers, plus the
    /// escalation's once escalated).
    pub eligible: Vec<Identity>,
    /// Counted approvals, in order.
    pub approvals: Vec<Identity>,
    /// Everyone whose vote counted (each identity votes once).
    pub voted: Vec<Identity>,
    /// How the request ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<Conclusion>,
    /// An escalation still to come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<PendingEscalation>,
    /// Whether an approved request has been claimed to run, and finished.
    #[serde(default)]
    pub execution: Execution,
    /// When it concluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concluded_at: Option<Timestamp>,
    /// What each channel needs to find its delivery again from any
    /// process, by channel name ([`Channel::receipt`](crate::Channel::receipt)).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub receipts: BTreeMap<String, serde_json::Value>,
}

/// An escalation that has not happened yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEscalation {
    /// When it happens.
    pub at: Timestamp,
    /// Who becomes eligible then.
    pub approvers: Vec<Identity>,
}

/// The execution of an approved request: claimed by exactly one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Execution {
    /// Not claimed yet.
    #[default]
    NotClaimed,
    /// A caller claimed it and runs (or ran, and stopped before recording)
    /// the body.
    Running,
    /// The body ran (or will never run) and its outcome is recorded.
    Finished,
}

impl RequestState {
    /// The state's status, as stored in its own column:
    /// `pending`, `approved`, `denied`, `expired`, `cancelled`, `failed`,
    /// `running` or `executed`.
    pub fn status(&self) -> &'static str {
        match (&self.conclusion, self.execution) {
            (None, _) => "pending",
            (Some(Conclusion::Approved { .. } | Conclusion::AllowedByPolicy { .. }), execution) => {
                match execution {
                    Execution::NotClaimed => "approved",
                    Execution::Running => "running",
                    Execution::Finished => "executed",
                }
            }
            (Some(Conclusion::Denied { .. } | Conclusion::RefusedByPolicy { .. }), _) => "denied",
            (Some(Conclusion::Expired), _) => "expired",
            (Some(Conclusion::Cancelled), _) => "cancelled",
            (Some(Conclusion::Failed { .. }), _) => "failed",
        }
    }

    /// When the sweeper must next look at a pending request: its
    /// escalation, else its deadline.
    pub fn next_due(&self, deadline: Timestamp) -> Timestamp {
        match &self.escalation {
            Some(escalation) if escalation.at < deadline => escalation.at,
            _ => deadline,
        }
    }
}

/// What [`Store::create`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The request is new and stored, with its records in the outbox.
    New,
    /// A request with the same key was already stored: nothing was written.
    Existing(Box<StoredRequest>),
}

/// Why a store could not do what was asked. Messages name the operation
/// and the driver's error class, never a stored value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or the operation failed; the step
    /// did not happen (a transaction is all or nothing).
    #[error("the store is unavailable ({operation}): {message}")]
    Unavailable {
        /// What was being done.
        operation: &'static str,
        /// The driver's message.
        message: String,
    },
    /// The stored schema was written by a newer version of this library;
    /// nothing is downgraded.
    #[error(
        "the store's schema is version {found}, newer than version {supported} that this library knows: upgrade the library"
    )]
    SchemaTooNew {
        /// The version found.
        found: i64,
        /// The newest this library knows.
        supported: i64,
    },
    /// The store was configured wrongly (a schema name, a URL).
    #[error("the store is misconfigured: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
    },
    /// A stored row could not be read back.
    #[error("a stored request could not be read ({what})")]
    Corrupt {
        /// What could not be read.
        what: &'static str,
    },
    /// The audit sink refused a record from the outbox; it stays there and
    /// is written on the next drain.
    #[error("the outbox could not be drained: {0}")]
    Audit(#[from] AuditError),
}

/// A durable home for the lifecycle of requests that wait for approval.
///
/// Implementations keep rows and an outbox of audit records; they make no
/// decision. Every method is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new pending request and its first records, unless a request
    /// with the same key is stored: then nothing is written and that one is
    /// returned.
    async fn create(
        &self,
        request: &StoredRequest,
        records: &[AuditRecord],
    ) -> Result<Created, StoreError>;

    /// The stored request with this id.
    async fn load(&self, id: &RequestId) -> Result<Option<StoredRequest>, StoreError>;

    /// Replaces the state of request `id` if it is still at `version`, and
    /// appends `records` to the outbox, in one transaction. `Ok(false)`: the
    /// version moved on (or the id is unknown) and nothing was written.
    async fn update(
        &self,
        id: &RequestId,
        version: u64,
        state: &RequestState,
        records: &[AuditRecord],
    ) -> Result<bool, StoreError>;

    /// Frees the key of request `id` if it is still at `version` (the
    /// request keeps its row under a key no call makes), so that the same
    /// call may be asked again as a new request. `Ok(false)`: the version
    /// moved on.
    async fn release_key(&self, id: &RequestId, version: u64) -> Result<bool, StoreError>;

    /// Up to `limit` requests still pending, oldest first.
    async fn pending(&self, limit: usize) -> Result<Vec<StoredRequest>, StoreError>;

    /// Up to `limit` pending requests whose escalation or deadline is at or
    /// before `now`.
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError>;

    /// Writes the outbox to `sink` in the order it was appended, removing
    /// what was written; returns how many records were written. One drain
    /// runs at a time across every process sharing the store. A sink error
    /// stops the drain and leaves the rest in the outbox.
    async fn drain(&self, sink: &dyn AuditSink) -> Result<usize, StoreError>;

    /// Hints that a request changed in another process (`None` for a store
    /// no other process writes to). Hints can be lost; waiters also re-read
    /// on a timer.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }
}

/// A shared store is a store (so one can be chosen at run time as an
/// `Arc<dyn Store>`).
#[async_trait]
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    async fn create(
        &self,
        request: &StoredRequest,
        records: &[AuditRecord],
    ) -> Result<Created, StoreError> {
        (**self).create(request, records).await
    }

    async fn load(&self, id: &RequestId) -> Result<Option<StoredRequest>, StoreError> {
        (**self).load(id).await
    }

    async fn update(
        &self,
        id: &RequestId,
        version: u64,
        state: &RequestState,
        records: &[AuditRecord],
    ) -> Result<bool, StoreError> {
        (**self).update(id, version, state, records).await
    }

    async fn release_key(&self, id: &RequestId, version: u64) -> Result<bool, StoreError> {
        (**self).release_key(id, version).await
    }

    async fn pending(&self, limit: usize) -> Result<Vec<StoredRequest>, StoreError> {
        (**self).pending(limit).await
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        (**self).due(now, limit).await
    }

    async fn drain(&self, sink: &dyn AuditSink) -> Result<usize, StoreError> {
        (**self).drain(sink).await
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        (**self).changes()
    }
}

/// A hint that stored requests changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// This request changed.
    Request(RequestId),
    /// Hints may have been lost (a reconnect): every waiter should re-read.
    Resync,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// How a stored row's JSON is read back.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt { what })
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// JSON for a stored column. The types are plain data, so this cannot fail
/// short of running out of memory.
pub(crate) fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Milliseconds since the Unix epoch, as the stores' integer columns hold.
pub(crate) fn millis(at: Timestamp) -> i64 {
    i64::try_from(at.unix_millis()).unwrap_or(i64::MAX)
}
