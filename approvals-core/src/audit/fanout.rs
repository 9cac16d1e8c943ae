//! Writing each record to several sinks.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::join_all;

use super::{AuditError, AuditRecord, AuditSink};

/// Writes each record to several sinks at once, and succeeds only if every
/// one of them does.
///
/// The sinks are written concurrently. If any fails, `record` returns the
/// error of the first failing sink in the order they were added, and the gate
/// fails closed; the sinks that succeeded keep the record, so the trails may
/// then differ by that record (more, never less, is recorded).
///
/// A `FanOut` without sinks refuses every record, so that a configuration
/// mistake cannot silently turn the audit trail off.
///
/// ```
/// use approvals_core::audit::{AuditError, AuditEvent, AuditRecord, AuditSink, FanOut, MemoryAudit};
/// use approvals_core::RequestId;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AuditError> {
/// let (local, remote) = (MemoryAudit::new(), MemoryAudit::new());
/// let audit = FanOut::new().with(local.clone()).with(remote.clone());
/// let record = AuditRecord::now(RequestId::random(), AuditEvent::Escalated { added: vec![] });
/// audit.record(&record).await?;
/// assert_eq!((local.len(), remote.len()), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct FanOut {
    sinks: Vec<Arc<dyn AuditSink>>,
}

impl FanOut {
    /// A fan-out without sinks; add them with [`with`](Self::with).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sink.
    #[must_use]
    pub fn with(mut self, sink: impl AuditSink + 'static) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Adds a sink that is shared with other owners.
    #[must_use]
    pub fn with_shared(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// The number of sinks.
    pub fn len(&self) -> usize {
        self.sinks.len()
    }

    /// Whether no sink was added.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }
}

impl fmt::Debug for FanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

/// A [`FanOut`] was asked to record without any sink to record to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fan-out audit sink has no sinks to record to")]
pub struct NoSinks;

#[async_trait]
impl AuditSink for FanOut {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        match self.sinks.as_slice() {
            [] => Err(AuditError::other(NoSinks)),
            // The common single-sink case skips join_all's allocation.
            [only] => only.record(record).await,
            sinks => join_all(sinks.iter().map(|sink| sink.record(record)))
                .await
                .into_iter()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestId;
    use crate::audit::{AuditEvent, AuditEventKind, MemoryAudit};

    fn record() -> AuditRecord {
        AuditRecord::now(RequestId::random(), AuditEvent::Escalated { added: vec![] })
    }

    #[tokio::test]
    async fn writes_every_sink() {
        let (a, b) = (MemoryAudit::new(), MemoryAudit::new());
        let audit = FanOut::new().with(a.clone()).with(b.clone());
        assert_eq!(audit.len(), 2);
        audit.record(&record()).await.unwrap();
        audit.record(&record()).await.unwrap();
        assert_eq!((a.len(), b.len()), (2, 2));
        assert_eq!(a.records(), b.records());
        assert_eq!(a.records()[0].kind(), AuditEventKind::Escalated);
    }

    #[tokio::test]
    async fn fails_when_any_sink_fails_and_the_healthy_one_still_records() {
        let (healthy, broken) = (MemoryAudit::new(), MemoryAudit::failing());
        for audit in [
            FanOut::new().with(healthy.clone()).with(broken.clone()),
            FanOut::new().with(broken.clone()).with(healthy.clone()),
        ] {
            let error = audit.record(&record()).await.unwrap_err();
            assert!(matches!(error, AuditError::Io(_)), "{error}");
        }
        assert_eq!(healthy.len(), 2);
        assert!(broken.is_empty());
        assert_eq!(broken.rejected(), 2);
    }

    #[tokio::test]
    async fn returns_the_first_failing_sinks_error() {
        let closed = MemoryAudit::new();
        struct Closed;
        #[async_trait]
        impl AuditSink for Closed {
            async fn record(&self, _: &AuditRecord) -> Result<(), AuditError> {
                Err(AuditError::Closed)
            }
        }
        let audit = FanOut::new()
            .with(closed.clone())
            .with(Closed)
            .with(MemoryAudit::failing());
        assert!(matches!(
            audit.record(&record()).await,
            Err(AuditError::Closed)
        ));
        assert_eq!(closed.len(), 1);
    }

    #[tokio::test]
    async fn a_single_shared_sink_works() {
        let memory = MemoryAudit::new();
        let shared: Arc<dyn AuditSink> = Arc::new(memory.clone());
        let audit = FanOut::new().with_shared(shared);
        audit.record(&record()).await.unwrap();
        assert_eq!(memory.len(), 1);
        memory.set_failing(true);
        assert!(audit.record(&record()).await.is_err());
    }

    #[tokio::test]
    async fn refuses_records_without_sinks() {
        let audit = FanOut::new();
        assert!(audit.is_empty());
        let error = audit.record(&record()).await.unwrap_err();
        assert!(matches!(error, AuditError::Other(_)));
        assert_eq!(
            error.to_string(),
            "audit sink failed: the fan-out audit sink has no sinks to record to"
        );
    }
}
