//! The path of a call whose request is kept in a store: opened or found
//! again by its key, waited for in this process while any process may vote
//! on it, and claimed exactly once when approved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::approval::Unrun;
use super::durable::{Settle, Told};
use super::{Call, Gate, Opened, conclusion_to_result};
use crate::audit::AuditRecord;
use crate::channel::ChannelError;
use crate::policy::Requirement;
use crate::store::{
    Created, Execution, PendingEscalation, RequestState, StoreError, StoredRequest,
};
use crate::{Conclusion, Error, Review, Timestamp};

/// A stored request this process waits for.
pub(super) struct StoredWait {
    review: Arc<Review>,
    /// Whether this process made it (and delivers it) or found it pending.
    deliver: bool,
}

impl Gate {
    /// Stores a new request, or finds the one stored under its key, and
    /// says what to do next.
    pub(super) async fn open_stored(
        &self,
        call: Call,
        requirement: Requirement,
        rule: Option<String>,
    ) -> Result<Opened, Error> {
        let registry = Arc::clone(&self.inner.registry);
        let durable = registry.stored();
        registry.start();
        let id = call.id.clone();
        let fingerprint = call.fingerprint;
        // Faults that keep a request from being stored fail the call before
        // anything reaches the store, recorded like the memory path does.
        let refusal = if registry.channels.is_empty() {
            Some(Error::Channel {
                request_id: id.clone(),
                source: ChannelError::NoChannel,
            })
        } else if durable.watched_count() >= registry.limits.max_pending {
            Some(Error::TooManyPending {
                request_id: id.clone(),
                limit: registry.limits.max_pending,
            })
        } else {
            None
        };
        let requested_at = registry.clock.now();
        let deadline = requested_at.after(requirement.timeout);
        let requested = call.requested(&requirement, deadline, rule.clone());
        if let Some(error) = refusal {
            registry.record(&requested).await?;
            let reason = match &error {
                Error::Channel { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            self.record_conclusion(&id, Conclusion::Failed { reason })
                .await?;
            return Err(error);
        }
        let key = call
            .key
            .clone()
            .unwrap_or_else(|| format!("fingerprint:{fingerprint}"));
        let escalation = requirement
            .escalation
            .as_ref()
            .filter(|escalation| escalation.after < requirement.timeout)
            .map(|escalation| PendingEscalation {
                at: requested_at.after(escalation.after),
                approvers: escalation.approvers.clone(),
            });
        // A stored request takes no edits: the raw arguments an edit is
        // applied to stay in this process (see `VoteBox::edit`).
        let (mut review, _) = call.into_review(&requirement, rule, requested_at, deadline);
        review.editable.clear();
        let stored = StoredRequest {
            key,
            state: RequestState {
                eligible: review.approvers.clone(),
                approvals: Vec::new(),
                voted: Vec::new(),
                conclusion: None,
                escalation,
                execution: Execution::NotClaimed,
                concluded_at: None,
                receipts: BTreeMap::new(),
            },
            review,
            version: 0,
        };
        let records = [requested];
        let mut released = false;
        loop {
            match durable.store.create(&stored, &records).await? {
                Created::New => {
                    // The request is recorded before anyone is asked.
                    registry.drain().await.map_err(store_error)?;
                    return Ok(Opened::Stored(StoredWait {
                        review: Arc::new(stored.review),
                        deliver: true,
                    }));
                }
                Created::Existing(existing) => {
                    if existing.review.fingerprint != fingerprint {
                        return Err(Error::KeyConflict {
                            request_id: existing.review.id,
                        });
                    }
                    if !released && self.outlived(&existing) {
                        // Ended long enough ago: the same call is a new
                        // request. The old one keeps its row.
                        released = true;
                        durable
                            .store
                            .release_key(&existing.review.id, existing.version)
                            .await?;
                        continue;
                    }
                    return self.resume(*existing).await;
                }
            }
        }
    }

    /// Whether a stored request ended more than the resume window ago.
    fn outlived(&self, stored: &StoredRequest) -> bool {
        let registry = &self.inner.registry;
        let window = registry.stored().resume_window;
        let pending_or_approved = match &stored.state.conclusion {
            None => true,
            Some(Conclusion::Approved { .. }) => stored.state.execution == Execution::NotClaimed,
            Some(_) => false,
        };
        !pending_or_approved
            && stored
                .state
                .concluded_at
                .is_some_and(|at| at.after(window) <= registry.clock.now())
    }

    /// Takes up a request found under the call's key.
    async fn resume(&self, stored: StoredRequest) -> Result<Opened, Error> {
        let registry = Arc::clone(&self.inner.registry);
        let id = stored.review.id.clone();
        if stored.state.conclusion.is_some() {
            // A process that stopped between a conclusion and its drain
            // left the records in the outbox: they reach the audit sink
            // before this caller learns the conclusion.
            registry.drain().await.map_err(store_error)?;
        }
        match stored.state.conclusion {
            None => Ok(Opened::Stored(StoredWait {
                review: Arc::new(stored.review),
                deliver: false,
            })),
            Some(conclusion @ Conclusion::Approved { .. }) => {
                if registry.claim(&id).await? {
                    Ok(Opened::Concluded(conclusion, Unrun::stored(registry, id)))
                } else {
                    Err(Error::AlreadyRun { request_id: id })
                }
            }
            Some(conclusion) => {
                let timeout = timeout_of(&stored.review);
                Err(
                    match conclusion_to_result(conclusion, &stored.review, timeout) {
                        Err(error) => error,
                        // Policy's own conclusions are never stored.
                        Ok(_) => Error::Failed {
                            request_id: id,
                            reason: "the stored request has no conclusion a call can resume"
                                .to_owned(),
                        },
                    },
                )
            }
        }
    }

    /// Delivers a new stored request (or takes up a found one), then waits
    /// until it ends: woken by this process's votes at once, by other
    /// processes' through the store's hints, and by a timer in any case.
    pub(super) async fn await_stored(
        &self,
        waiting: StoredWait,
    ) -> Result<(Conclusion, Unrun), Error> {
        let registry = Arc::clone(&self.inner.registry);
        let durable = registry.stored();
        let StoredWait { review, deliver } = waiting;
        let id = review.id.clone();
        let watch = registry.watch(&review);
        let mut guard = CancelStored {
            gate: self.clone(),
            review: Some(Arc::clone(&review)),
        };
        let now = registry.clock.now();
        let deadline = Instant::now() + until(now, review.deadline);
        let mut escalation = match durable.store.load(&id).await {
            Ok(Some(stored)) => stored
                .state
                .escalation
                .map(|escalation| Instant::now() + until(now, escalation.at)),
            _ => None,
        };

        if deliver {
            let mut delivery = Box::pin(tokio::time::timeout_at(deadline, self.deliver(&review)));
            let delivered = loop {
                tokio::select! {
                    biased;
                    () = watch.notify.notified() => {
                        if let Ok(Some(stored)) = durable.store.load(&id).await {
                            if stored.state.conclusion.is_some() {
                                break None;
                            }
                        }
                    }
                    delivered = &mut delivery => break Some(delivered),
                }
            };
            // A deadline that passed while a channel was still delivering
            // is kept by the loop below.
            if let Some(Ok(Ok(()))) = delivered {
                registry.save_receipts(&id).await;
            }
            if let Some(Ok(Err(source))) = delivered {
                let source = super::mask_channel_error(&registry, source);
                let failed = Conclusion::Failed {
                    reason: source.to_string(),
                };
                guard.disarm();
                let ended = registry.conclude_stored(&id, failed).await;
                self.announce_stored(&review, ended.ok().flatten(), Told::All)
                    .await;
                return Err(Error::Channel {
                    request_id: id,
                    source,
                });
            }
        }

        let poll = durable.poll;
        let (conclusion, stored) = loop {
            match durable.store.load(&id).await {
                Ok(Some(stored)) => {
                    if let Some(conclusion) = stored.state.conclusion.clone() {
                        break (conclusion, stored);
                    }
                    if stored.state.escalation.is_none() {
                        escalation = None;
                    }
                }
                Ok(None) => {
                    guard.disarm();
                    return Err(Error::Failed {
                        request_id: id,
                        reason: "the request is no longer in the store".to_owned(),
                    });
                }
                Err(error) => {
                    // The store went away: keep waiting, and read again.
                    tracing::warn!(request_id = %id, %error, "a waiting request could not be read; reading again");
                }
            }
            let now = Instant::now();
            let settle = if now >= deadline {
                Some(Settle::Expire)
            } else if escalation.is_some_and(|at| now >= at) {
                escalation = None;
                Some(Settle::Escalate)
            } else {
                None
            };
            if let Some(settle) = settle {
                if let Err(error) = registry.settle(&id, settle).await {
                    tracing::warn!(request_id = %id, %error, "a waiting request could not be settled; trying again");
                    tokio::time::sleep(poll.min(Duration::from_millis(200))).await;
                }
                continue;
            }
            let wake = [Some(deadline), escalation, Some(now + poll)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(deadline);
            tokio::select! {
                () = watch.notify.notified() => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        };
        guard.disarm();
        // Concluded in this process: this caller tells every channel.
        // Elsewhere: the process that concluded it told the channels with
        // a receipt, and this caller tells the others.
        let which = if watch.finish() {
            Told::All
        } else {
            Told::WithoutReceipt
        };
        // The conclusion's record reaches the audit sink before the caller
        // learns it (and before a body can run).
        let drained = registry.drain().await;
        // The row just read holds the channels' receipts.
        registry
            .tell_stored("how a request ended", &stored, which, |channel| {
                channel.concluded(&review, &conclusion)
            })
            .await;
        drained.map_err(store_error)?;
        match conclusion {
            Conclusion::Approved { .. } => {
                if registry.claim(&id).await? {
                    Ok((conclusion, Unrun::stored(Arc::clone(&registry), id)))
                } else {
                    Err(Error::AlreadyRun { request_id: id })
                }
            }
            other => conclusion_to_result(other, &review, timeout_of(&review))
                .map(|conclusion| (conclusion, Unrun::stored(Arc::clone(&registry), id))),
        }
    }

    /// Tells every channel of this process how a stored request ended
    /// (handing each the receipt of a delivery another process made).
    async fn announce_stored(
        &self,
        review: &Arc<Review>,
        conclusion: Option<Conclusion>,
        which: Told,
    ) {
        let Some(conclusion) = conclusion else {
            return;
        };
        let registry = &self.inner.registry;
        match registry.stored().store.load(&review.id).await {
            Ok(Some(stored)) => {
                registry
                    .tell_stored("how a request ended", &stored, which, |channel| {
                        channel.concluded(review, &conclusion)
                    })
                    .await;
            }
            _ => {
                registry
                    .tell_channels("how a request ended", &review.id, |channel| {
                        channel.concluded(review, &conclusion)
                    })
                    .await;
            }
        }
    }

    /// The requests waiting in the gate's store, oldest first (at most
    /// `limit`), whichever process made them: what a restarted process
    /// has to take up again by making the same calls. Empty without a
    /// store.
    pub async fn stored_pending(&self, limit: usize) -> Result<Vec<Review>, Error> {
        let Some(durable) = &self.inner.registry.durable else {
            return Ok(Vec::new());
        };
        Ok(durable
            .store
            .pending(limit)
            .await?
            .into_iter()
            .map(|stored| stored.review)
            .collect())
    }
}

/// How long from `now` until `at` (zero once it has passed).
fn until(now: Timestamp, at: Timestamp) -> Duration {
    at.as_system_time()
        .duration_since(now.as_system_time())
        .unwrap_or(Duration::ZERO)
}

fn timeout_of(review: &Review) -> Duration {
    until(review.requested_at, review.deadline)
}

fn store_error(error: StoreError) -> Error {
    match error {
        StoreError::Audit(error) => Error::Audit(error),
        other => Error::Store(other),
    }
}

/// Cancels the stored request if its caller stops waiting. (A process that
/// stops leaves it pending: the same call made again takes it up, and the
/// deadline ends it otherwise.)
struct CancelStored {
    gate: Gate,
    review: Option<Arc<Review>>,
}

impl CancelStored {
    fn disarm(&mut self) {
        self.review = None;
    }
}

impl Drop for CancelStored {
    fn drop(&mut self) {
        let Some(review) = self.review.take() else {
            return;
        };
        let gate = self.gate.clone();
        let cancel = async move {
            let ended = gate
                .inner
                .registry
                .conclude_stored(&review.id, Conclusion::Cancelled)
                .await;
            match ended {
                Ok(conclusion) => gate.announce_stored(&review, conclusion, Told::All).await,
                Err(error) => {
                    tracing::warn!(request_id = %review.id, %error, "a cancelled request could not be stored as cancelled");
                }
            }
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(cancel);
        }
    }
}

/// The records of a stored execution go through the outbox.
pub(super) async fn record_execution(
    registry: &super::votes::Registry,
    stored: bool,
    record: &AuditRecord,
) -> Result<(), crate::audit::AuditError> {
    if stored {
        registry.record_stored_execution(record.clone()).await
    } else {
        registry.record(record).await
    }
}
