//! An in-memory audit sink for tests.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{AuditError, AuditEventKind, AuditRecord, AuditSink};
use crate::RequestId;

/// Keeps audit records in memory, for tests and examples.
///
/// Clones share the same records, so keep a clone to inspect what a
/// [`Gate`](crate::Gate) recorded. It can also be told to fail, to check that
/// a caller fails closed when the audit trail cannot be written.
///
/// ```
/// use approvals_core::RequestId;
/// use approvals_core::audit::{AuditEvent, AuditEventKind, AuditRecord, AuditSink, MemoryAudit};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), approvals_core::audit::AuditError> {
/// let audit = MemoryAudit::new();
/// let id = RequestId::random();
/// let record = AuditRecord::now(id.clone(), AuditEvent::Escalated { added: vec![] });
/// audit.record(&record).await?;
/// assert_eq!(audit.kinds_for(&id), [AuditEventKind::Escalated]);
///
/// audit.fail_after(0);
/// assert!(audit.record(&record).await.is_err());
/// assert_eq!(audit.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryAudit {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    notify: Notify,
    /// Tasks inside [`MemoryAudit::wait_for`]; `record` skips waking anyone
    /// while it is zero, which keeps the common path to one lock.
    waiters: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    records: Vec<AuditRecord>,
    /// How many more records are accepted before failing; `None`: no limit.
    accept: Option<u64>,
    rejected: usize,
}

impl MemoryAudit {
    /// An empty sink that accepts every record.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty sink that refuses every record until
    /// [`set_failing(false)`](Self::set_failing).
    pub fn failing() -> Self {
        let audit = Self::new();
        audit.set_failing(true);
        audit
    }

    /// Makes every following record fail (`true`) or succeed (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.state().accept = if failing { Some(0) } else { None };
    }

    /// Accepts `n` more records, then fails every record until
    /// [`set_failing(false)`](Self::set_failing).
    pub fn fail_after(&self, n: u64) {
        self.state().accept = Some(n);
    }

    /// All records, in the order they were recorded.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.state().records.clone()
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.state().records.len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.state().records.is_empty()
    }

    /// How many records were refused because the sink was failing.
    pub fn rejected(&self) -> usize {
        self.state().rejected
    }

    /// The records of one request, in order.
    pub fn for_request(&self, request_id: &RequestId) -> Vec<AuditRecord> {
        self.filtered(|record| &record.request_id == request_id)
    }

    /// The kinds of the events of one request, in order.
    pub fn kinds_for(&self, request_id: &RequestId) -> Vec<AuditEventKind> {
        self.state()
            .records
            .iter()
            .filter(|record| &record.request_id == request_id)
            .map(AuditRecord::kind)
            .collect()
    }

    /// The records of one kind, in order.
    pub fn of_kind(&self, kind: AuditEventKind) -> Vec<AuditRecord> {
        self.filtered(|record| record.kind() == kind)
    }

    /// Forgets all records. Whether the sink fails is unchanged.
    pub fn clear(&self) {
        self.state().records.clear();
    }

    /// Waits until at least `count` records of `kind` exist, and returns the
    /// records of that kind.
    ///
    /// Useful when the gate runs in another task; wrap it in
    /// `tokio::time::timeout` so a test cannot hang.
    pub async fn wait_for(&self, kind: AuditEventKind, count: usize) -> Vec<AuditRecord> {
        self.inner.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.inner.waiters);
        loop {
            // Registered before counting, so a record that lands between the
            // count and the await still wakes this task.
            let mut notified = pin!(self.inner.notify.notified());
            notified.as_mut().enable();
            let matching = self.of_kind(kind);
            if matching.len() >= count {
                return matching;
            }
            notified.await;
        }
    }

    fn filtered(&self, keep: impl Fn(&AuditRecord) -> bool) -> Vec<AuditRecord> {
        self.state()
            .records
            .iter()
            .filter(|record| keep(record))
            .cloned()
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the Vec consistent (pushes and
        // clears are atomic from the outside), so poisoning is ignored.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl AuditSink for MemoryAudit {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        // Cloned before locking, to keep the critical section to a push.
        let record = record.clone();
        {
            let mut state = self.state();
            match state.accept {
                Some(0) => {
                    state.rejected += 1;
                    return Err(AuditError::Io(std::io::Error::other(
                        "the in-memory audit sink was told to fail",
                    )));
                }
                Some(ref mut remaining) => *remaining -= 1,
                None => {}
            }
            state.records.push(record);
        }
        if self.inner.waiters.load(Ordering::SeqCst) > 0 {
            self.inner.notify.notify_waiters();
        }
        Ok(())
    }
}

/// Leaves the waiter count when `wait_for` returns or is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::audit::AuditEvent;
    use crate::{Conclusion, ExecutionOutcome, Identity};

    fn escalated(id: &RequestId) -> AuditRecord {
        AuditRecord::now(
            id.clone(),
            AuditEvent::Escalated {
                added: vec![Identity::new("boss@example.com")],
            },
        )
    }

    fn concluded(id: &RequestId) -> AuditRecord {
        AuditRecord::now(
            id.clone(),
            AuditEvent::Concluded {
                conclusion: Conclusion::Expired,
            },
        )
    }

    fn executed(id: &RequestId) -> AuditRecord {
        AuditRecord::now(
            id.clone(),
            AuditEvent::Executed {
                outcome: ExecutionOutcome::Ok,
            },
        )
    }

    #[tokio::test]
    async fn keeps_records_in_order_and_answers_queries() {
        let audit = MemoryAudit::new();
        assert!(audit.is_empty());
        let (a, b) = (RequestId::random(), RequestId::random());
        for record in [escalated(&a), concluded(&b), concluded(&a), executed(&a)] {
            audit.record(&record).await.unwrap();
        }
        assert_eq!(audit.len(), 4);
        assert_eq!(
            audit.kinds_for(&a),
            [
                AuditEventKind::Escalated,
                AuditEventKind::Concluded,
                AuditEventKind::Executed
            ]
        );
        assert_eq!(audit.for_request(&b).len(), 1);
        assert_eq!(audit.for_request(&b)[0].request_id, b);
        let concluded = audit.of_kind(AuditEventKind::Concluded);
        assert_eq!(concluded.len(), 2);
        assert_eq!(concluded[0].request_id, b);
        assert_eq!(audit.records()[3].kind(), AuditEventKind::Executed);
        audit.clear();
        assert!(audit.is_empty());
    }

    #[tokio::test]
    async fn clones_share_records() {
        let audit = MemoryAudit::new();
        let clone = audit.clone();
        clone.record(&executed(&RequestId::random())).await.unwrap();
        assert_eq!(audit.len(), 1);
    }

    #[tokio::test]
    async fn failing_refuses_until_reset_and_keeps_nothing() {
        let audit = MemoryAudit::failing();
        let id = RequestId::random();
        let error = audit.record(&executed(&id)).await.unwrap_err();
        assert!(matches!(error, AuditError::Io(_)));
        assert!(audit.is_empty());
        assert_eq!(audit.rejected(), 1);
        audit.set_failing(false);
        audit.record(&executed(&id)).await.unwrap();
        assert_eq!(audit.len(), 1);
        audit.set_failing(true);
        assert!(audit.record(&executed(&id)).await.is_err());
        assert_eq!(audit.len(), 1);
        assert_eq!(audit.rejected(), 2);
    }

    #[tokio::test]
    async fn fail_after_accepts_exactly_n_more() {
        let audit = MemoryAudit::new();
        let id = RequestId::random();
        audit.record(&escalated(&id)).await.unwrap();
        audit.fail_after(2);
        audit.record(&escalated(&id)).await.unwrap();
        audit.record(&concluded(&id)).await.unwrap();
        assert!(audit.record(&executed(&id)).await.is_err());
        assert!(audit.record(&executed(&id)).await.is_err());
        assert_eq!(
            audit.kinds_for(&id),
            [
                AuditEventKind::Escalated,
                AuditEventKind::Escalated,
                AuditEventKind::Concluded
            ]
        );
    }

    #[tokio::test]
    async fn wait_for_returns_once_enough_records_arrive() {
        let audit = MemoryAudit::new();
        let id = RequestId::random();
        let writer = audit.clone();
        let task = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::task::yield_now().await;
                writer.record(&concluded(&id)).await.unwrap();
            }
        });
        let found = tokio::time::timeout(
            Duration::from_secs(5),
            audit.wait_for(AuditEventKind::Concluded, 3),
        )
        .await
        .unwrap();
        assert_eq!(found.len(), 3);
        task.await.unwrap();
        assert_eq!(audit.inner.waiters.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn wait_for_returns_at_once_when_already_there() {
        let audit = MemoryAudit::new();
        audit.record(&executed(&RequestId::random())).await.unwrap();
        let found = audit.wait_for(AuditEventKind::Executed, 1).await;
        assert_eq!(found.len(), 1);
        assert!(audit.wait_for(AuditEventKind::Vote, 0).await.is_empty());
    }
}
