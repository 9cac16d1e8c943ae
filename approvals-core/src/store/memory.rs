//! The lifecycle in memory, shared by every gate holding a clone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Change, Created, RequestState, Store, StoreError, StoredRequest};
use crate::audit::{AuditRecord, AuditSink};
use crate::{RequestId, Timestamp};

/// A [`Store`] in memory: the durable stores' lifecycle (compare-and-set
/// transitions, keys, the outbox) without the durability. Clones share one
/// store, so several gates in one process act as replicas of each other.
/// Nothing survives the process.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    rows: Mutex<Rows>,
    /// One drain at a time, so records reach the sink in order.
    draining: tokio::sync::Mutex<()>,
    changes: broadcast::Sender<Change>,
}

#[derive(Default)]
struct Rows {
    requests: HashMap<RequestId, StoredRequest>,
    keys: HashMap<String, RequestId>,
    /// Pending ids in the order they were created.
    order: Vec<RequestId>,
    outbox: VecDeque<AuditRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                rows: Mutex::new(Rows::default()),
                draining: tokio::sync::Mutex::new(()),
                changes: broadcast::channel(1024).0,
            }),
        }
    }

    /// How many requests are stored, in any state.
    pub fn len(&self) -> usize {
        self.rows().requests.len()
    }

    /// Whether no request is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.inner
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("requests", &self.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create(
        &self,
        request: &StoredRequest,
        records: &[AuditRecord],
    ) -> Result<Created, StoreError> {
        let mut rows = self.rows();
        if let Some(id) = rows.keys.get(&request.key) {
            if let Some(existing) = rows.requests.get(id) {
                return Ok(Created::Existing(Box::new(existing.clone())));
            }
        }
        let id = request.review.id.clone();
        rows.keys.insert(request.key.clone(), id.clone());
        rows.order.push(id.clone());
        rows.requests.insert(id, request.clone());
        rows.outbox.extend(records.iter().cloned());
        Ok(Created::New)
    }

    async fn load(&self, id: &RequestId) -> Result<Option<StoredRequest>, StoreError> {
        Ok(self.rows().requests.get(id).cloned())
    }

    async fn update(
        &self,
        id: &RequestId,
        version: u64,
        state: &RequestState,
        records: &[AuditRecord],
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        let Some(stored) = rows.requests.get_mut(id) else {
            return Ok(false);
        };
        if stored.version != version {
            return Ok(false);
        }
        stored.version += 1;
        stored.state = state.clone();
        if state.conclusion.is_some() {
            rows.order.retain(|pending| pending != id);
        }
        rows.outbox.extend(records.iter().cloned());
        drop(rows);
        let _ = self.inner.changes.send(Change::Request(id.clone()));
        Ok(true)
    }

    async fn release_key(&self, id: &RequestId, version: u64) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        let Some(stored) = rows.requests.get_mut(id) else {
            return Ok(false);
        };
        if stored.version != version {
            return Ok(false);
        }
        stored.version += 1;
        let released = format!("{}#{id}", stored.key);
        let old = std::mem::replace(&mut stored.key, released);
        let new = stored.key.clone();
        rows.keys.remove(&old);
        rows.keys.insert(new, id.clone());
        Ok(true)
    }

    async fn pending(&self, limit: usize) -> Result<Vec<StoredRequest>, StoreError> {
        let rows = self.rows();
        Ok(rows
            .order
            .iter()
            .filter_map(|id| rows.requests.get(id))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        let rows = self.rows();
        Ok(rows
            .order
            .iter()
            .filter(|id| {
                rows.requests.get(*id).is_some_and(|stored| {
                    stored.state.conclusion.is_none()
                        && stored.state.next_due(stored.review.deadline) <= now
                })
            })
            .take(limit)
            .cloned()
            .collect())
    }

    async fn drain(&self, sink: &dyn AuditSink) -> Result<usize, StoreError> {
        let _draining = self.inner.draining.lock().await;
        let mut written = 0;
        loop {
            let batch: Vec<AuditRecord> = self.rows().outbox.iter().take(256).cloned().collect();
            if batch.is_empty() {
                return Ok(written);
            }
            sink.record_all(&batch).await?;
            self.rows().outbox.drain(..batch.len());
            written += batch.len();
        }
    }

    fn changes(&self) -> Option<broadcast::Receiver<Change>> {
        Some(self.inner.changes.subscribe())
    }
}
