//! The gate's rules applied to requests kept in a [`Store`]: every step
//! reads the stored state, judges it as the memory path does, and writes the
//! new state with its records in one compare-and-set transition.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::votes::{Cast, Registry, Tally, judge, lock, mask_conclusion, quorum_len};
use crate::audit::{AuditError, AuditEvent, AuditRecord, AuditSink};
use crate::channel::{Channel, ChannelError};
use crate::store::{Change, Execution, RequestState, Store, StoreError, StoredRequest};
use crate::{Choice, Conclusion, Identity, Progress, Refusal, RequestId, Review, VoteOutcome};

/// How often a waiter reads its request again when no hint woke it.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(2);
/// How often the sweeper looks for requests past their deadline or
/// escalation that no live process waits for.
pub(crate) const DEFAULT_SWEEP: Duration = Duration::from_secs(1);
/// How long after a request ends the same call still finds it by its key.
pub(crate) const DEFAULT_RESUME_WINDOW: Duration = Duration::from_secs(3600);
/// How many times a transition is tried again when another one won.
const RETRIES: usize = 64;

/// The store and what this process keeps beside it.
pub(crate) struct Durable {
    pub(crate) store: Arc<dyn Store>,
    /// The requests this process waits for: woken on a change.
    watchers: Mutex<HashMap<RequestId, Watched>>,
    started: OnceLock<()>,
    /// Drains from this process, one at a time; a caller whose records a
    /// drain that started after them has written does not drain again.
    draining: tokio::sync::Mutex<()>,
    tickets: AtomicU64,
    covered: AtomicU64,
    pub(crate) poll: Duration,
    pub(crate) sweep: Duration,
    pub(crate) resume_window: Duration,
}

struct Watched {
    notify: Arc<Notify>,
    review: Arc<Review>,
    /// This process concluded the request while its caller waited: the
    /// caller tells the channels before it returns.
    handed: bool,
}

impl Durable {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        poll: Duration,
        sweep: Duration,
        resume_window: Duration,
    ) -> Self {
        Self {
            store,
            watchers: Mutex::new(HashMap::new()),
            started: OnceLock::new(),
            draining: tokio::sync::Mutex::new(()),
            tickets: AtomicU64::new(0),
            covered: AtomicU64::new(0),
            poll,
            sweep,
            resume_window,
        }
    }

    /// Wakes the waiter of `id` in this process, if there is one.
    pub(crate) fn wake(&self, id: &RequestId) {
        if let Some(watched) = lock(&self.watchers).get(id) {
            watched.notify.notify_one();
        }
    }

    fn wake_all(&self) {
        for watched in lock(&self.watchers).values() {
            watched.notify.notify_one();
        }
    }

    /// The requests this process waits for.
    pub(crate) fn watched(&self) -> Vec<Arc<Review>> {
        lock(&self.watchers)
            .values()
            .map(|watched| Arc::clone(&watched.review))
            .collect()
    }

    pub(crate) fn watched_request(&self, id: &RequestId) -> Option<Arc<Review>> {
        lock(&self.watchers)
            .get(id)
            .map(|watched| Arc::clone(&watched.review))
    }

    pub(crate) fn watched_count(&self) -> usize {
        lock(&self.watchers).len()
    }

    /// Hands the announcement of a conclusion made in this process to the
    /// caller waiting for it here, if one is; `false` if none is.
    fn hand_to_waiter(&self, id: &RequestId) -> bool {
        lock(&self.watchers).get_mut(id).is_some_and(|watched| {
            watched.handed = true;
            true
        })
    }
}

/// Keeps a request in its process's watch list while someone waits for it.
pub(crate) struct Watch<'a> {
    durable: &'a Durable,
    id: RequestId,
    pub(crate) notify: Arc<Notify>,
}

impl Watch<'_> {
    /// Stops watching; whether this process concluded the request while
    /// it was watched (so the caller is the one to tell the channels).
    pub(crate) fn finish(self) -> bool {
        lock(&self.durable.watchers)
            .remove(&self.id)
            .is_some_and(|watched| watched.handed)
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        lock(&self.durable.watchers).remove(&self.id);
    }
}

/// Who drains the outbox after a transition.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// The transition, logging a failure (the sweeper drains again).
    Logged,
    /// Its caller, which needs to know whether the records arrived.
    ByCaller,
}

/// Which channels a stored request's news goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Told {
    /// Every channel of this process.
    All,
    /// Those that stored a receipt (any process can reach their delivery).
    WithReceipt,
    /// Those that did not (only the delivering process knows it).
    WithoutReceipt,
}

/// What a settling step may do to a pending request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// The waiting caller's deadline timer fired: expire it.
    Expire,
    /// The waiting caller's escalation timer fired: escalate it.
    Escalate,
    /// The sweeper found it due by the gate's clock: whichever is due.
    Due,
}

/// Writes records drained from the outbox, turning a sink's panic into an
/// error like the memory path does.
struct Guarded<'a>(&'a Registry);

#[async_trait::async_trait]
impl AuditSink for Guarded<'_> {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.0.record(record).await
    }

    async fn record_all(&self, records: &[AuditRecord]) -> Result<(), AuditError> {
        let started = crate::telemetry::enabled().then(std::time::Instant::now);
        let written = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            self.0.audit.record_all(records),
        ))
        .await
        .unwrap_or(Err(AuditError::Panicked));
        crate::telemetry::audit_written(started, records, &written);
        written
    }
}

impl Registry {
    pub(crate) fn stored(&self) -> &Durable {
        // Only called on the store's paths, which exist only with one.
        match &self.durable {
            Some(durable) => durable,
            None => unreachable!("a store path was taken without a store"),
        }
    }

    /// Starts, once per gate, the sweeper and the listener for other
    /// processes' changes. Both stop when the gate is dropped.
    pub(crate) fn start(self: &Arc<Self>) {
        let Some(durable) = &self.durable else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if durable.started.set(()).is_err() {
            return;
        }
        let weak = Arc::downgrade(self);
        let every = durable.sweep;
        runtime.spawn(sweeper(Weak::clone(&weak), every));
        if let Some(mut changes) = durable.store.changes() {
            runtime.spawn(async move {
                loop {
                    let change = changes.recv().await;
                    let Some(registry) = weak.upgrade() else {
                        return;
                    };
                    let durable = registry.stored();
                    match change {
                        Ok(Change::Request(id)) => durable.wake(&id),
                        Ok(Change::Resync)
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            durable.wake_all();
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
    }

    /// Registers a waiter for `id` in this process.
    pub(crate) fn watch(&self, review: &Arc<Review>) -> Watch<'_> {
        let durable = self.stored();
        let notify = Arc::new(Notify::new());
        lock(&durable.watchers).insert(
            review.id.clone(),
            Watched {
                notify: Arc::clone(&notify),
                review: Arc::clone(review),
                handed: false,
            },
        );
        Watch {
            durable,
            id: review.id.clone(),
            notify,
        }
    }

    /// Writes the outbox to the audit sink, in order: on return, every
    /// record stored before the call is in the sink (or an error says why
    /// not).
    pub(crate) async fn drain(&self) -> Result<usize, StoreError> {
        let durable = self.stored();
        let ticket = durable.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let _draining = durable.draining.lock().await;
        if durable.covered.load(Ordering::SeqCst) >= ticket {
            return Ok(0);
        }
        // Everything stored before this mark is read by the drain below.
        let mark = durable.tickets.load(Ordering::SeqCst);
        let written = durable.store.drain(&Guarded(self)).await?;
        durable.covered.fetch_max(mark, Ordering::SeqCst);
        Ok(written)
    }

    /// Drains, logging a failure: the records stay in the outbox for the
    /// next drain, and whoever needs them written drains again.
    pub(crate) async fn drain_or_log(&self) {
        if let Err(error) = self.drain().await {
            tracing::warn!(%error, "the audit outbox could not be drained; it is tried again");
        }
    }

    /// Applies `step` to the stored request by compare-and-set, reading it
    /// again whenever another transition won, and drains the outbox after.
    /// `step` returns the new state, its records and what to return, or
    /// `None` when there is nothing to do. `Ok(None)`: the id is unknown or
    /// there was nothing to do.
    pub(crate) async fn transition<T>(
        &self,
        id: &RequestId,
        step: impl FnMut(&StoredRequest) -> Option<(RequestState, Vec<AuditRecord>, T)>,
    ) -> Result<Option<(T, StoredRequest)>, StoreError> {
        self.transition_then(id, step, Drain::Logged).await
    }

    /// [`transition`](Self::transition), draining the outbox afterwards as
    /// `drain` says.
    async fn transition_then<T>(
        &self,
        id: &RequestId,
        mut step: impl FnMut(&StoredRequest) -> Option<(RequestState, Vec<AuditRecord>, T)>,
        drain: Drain,
    ) -> Result<Option<(T, StoredRequest)>, StoreError> {
        let durable = self.stored();
        for _ in 0..RETRIES {
            let Some(mut stored) = durable.store.load(id).await? else {
                return Ok(None);
            };
            let Some((state, records, value)) = step(&stored) else {
                return Ok(None);
            };
            if durable
                .store
                .update(id, stored.version, &state, &records)
                .await?
            {
                stored.state = state;
                stored.version += 1;
                durable.wake(id);
                // A step that wrote no record has nothing to wait for.
                if !records.is_empty() && drain == Drain::Logged {
                    self.drain_or_log().await;
                }
                return Ok(Some((value, stored)));
            }
        }
        Err(StoreError::Unavailable {
            operation: "update a request",
            message: format!("{RETRIES} concurrent transitions won over this one"),
        })
    }

    /// Keeps with the stored request what each channel needs to find its
    /// delivery again from another process ([`Channel::receipt`]).
    pub(crate) async fn save_receipts(&self, id: &RequestId) {
        let receipts: BTreeMap<String, serde_json::Value> = self
            .channels
            .iter()
            .filter_map(|channel| {
                let receipt = std::panic::catch_unwind(AssertUnwindSafe(|| channel.receipt(id)))
                    .ok()
                    .flatten()?;
                Some((channel.name().to_owned(), receipt))
            })
            .collect();
        if receipts.is_empty() {
            return;
        }
        let saved = self
            .transition(id, |stored| {
                let mut state = stored.state.clone();
                state.receipts.extend(receipts.clone());
                (state.receipts != stored.state.receipts).then_some((state, Vec::new(), ()))
            })
            .await;
        if let Err(error) = saved {
            tracing::warn!(request_id = %id, %error, "where a request was delivered could not be stored");
        }
    }

    /// Tells the channels of this process that `which` picks about a
    /// stored request, each first handed the receipt of a delivery another
    /// process made.
    pub(crate) async fn tell_stored<'a, F>(
        &'a self,
        what: &str,
        stored: &'a StoredRequest,
        which: Told,
        tell: F,
    ) where
        F: Fn(&'a Arc<dyn Channel>) -> futures::future::BoxFuture<'a, Result<(), ChannelError>>,
    {
        let receipts = &stored.state.receipts;
        let picked = |channel: &dyn Channel| {
            let has = receipts.contains_key(channel.name());
            match which {
                Told::All => true,
                Told::WithReceipt => has,
                Told::WithoutReceipt => !has,
            }
        };
        for channel in self.channels.iter().filter(|channel| picked(&***channel)) {
            if let Some(receipt) = receipts.get(channel.name()) {
                let resumed = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    channel.resume(&stored.review, receipt);
                }));
                if resumed.is_err() {
                    tracing::warn!(channel = channel.name(), request_id = %stored.review.id, "a channel panicked taking up a delivery");
                }
            }
        }
        self.tell_some_channels(what, &stored.review.id, picked, tell)
            .await;
    }

    /// Tells the channels how a request ended that this process has just
    /// concluded. Each channel is told once: a caller of this process
    /// waiting for the request is handed the announcement (so that the
    /// channels are told before it returns); otherwise this process tells
    /// the channels that stored a receipt, and the caller waiting
    /// elsewhere tells its own channels that did not.
    pub(crate) async fn announce_concluded(&self, stored: &StoredRequest) {
        if self.stored().hand_to_waiter(&stored.review.id) {
            return;
        }
        let Some(conclusion) = &stored.state.conclusion else {
            return;
        };
        let review = &stored.review;
        self.tell_stored(
            "how a request ended",
            stored,
            Told::WithReceipt,
            |channel| channel.concluded(review, conclusion),
        )
        .await;
    }

    /// Ends a stored request with `conclusion` unless it has ended; returns
    /// how it ended.
    pub(crate) async fn conclude_stored(
        &self,
        id: &RequestId,
        conclusion: Conclusion,
    ) -> Result<Option<Conclusion>, StoreError> {
        let conclusion = mask_conclusion(self.masker(), conclusion);
        let now = self.clock.now();
        let concluded = self
            .transition(id, |stored| {
                if stored.state.conclusion.is_some() {
                    return None;
                }
                let mut state = stored.state.clone();
                state.conclusion = Some(conclusion.clone());
                state.concluded_at = Some(now);
                let record = concluded_record(id, &conclusion);
                Some((state, vec![record], ()))
            })
            .await?;
        if concluded.is_some() {
            self.retire(id);
            return Ok(Some(conclusion));
        }
        Ok(self
            .stored()
            .store
            .load(id)
            .await?
            .and_then(|stored| stored.state.conclusion))
    }

    /// Expires or escalates a stored request that is due.
    pub(crate) async fn settle(&self, id: &RequestId, settle: Settle) -> Result<(), StoreError> {
        let now = self.clock.now();
        let settled = self
            .transition(id, |stored| {
                if stored.state.conclusion.is_some() {
                    return None;
                }
                let mut state = stored.state.clone();
                let expire = match settle {
                    Settle::Expire => true,
                    Settle::Escalate => false,
                    Settle::Due => now >= stored.review.deadline,
                };
                if expire {
                    state.conclusion = Some(Conclusion::Expired);
                    state.concluded_at = Some(now);
                    state.escalation = None;
                    let record = concluded_record(id, &Conclusion::Expired);
                    return Some((state, vec![record], None));
                }
                let escalation = state.escalation.take()?;
                if settle == Settle::Due && now < escalation.at {
                    return None;
                }
                let new: Vec<Identity> = escalation
                    .approvers
                    .into_iter()
                    .filter(|identity| !state.eligible.contains(identity))
                    .collect();
                state.eligible.extend(new.iter().cloned());
                let record =
                    AuditRecord::now(id.clone(), AuditEvent::Escalated { added: new.clone() });
                Some((state, vec![record], Some(new)))
            })
            .await?;
        match settled {
            Some((None, stored)) => {
                self.retire(id);
                self.announce_concluded(&stored).await;
            }
            Some((Some(added), stored)) => {
                let review = &stored.review;
                self.tell_stored("an escalation", &stored, Told::All, |channel| {
                    channel.escalated(review, &added)
                })
                .await;
            }
            None => {}
        }
        Ok(())
    }

    /// Judges, records and applies one vote on a stored request.
    pub(crate) async fn cast_stored(&self, cast: Cast<'_>) -> VoteOutcome {
        let id = cast.ballot.request_id.clone();
        let clock = Arc::clone(&self.clock);
        let masker_conclusion = |conclusion| mask_conclusion(self.masker(), conclusion);
        let result = self
            .transition(&id, |stored| {
                let state = &stored.state;
                let refusal = judge(
                    &stored.review,
                    Tally {
                        concluded: state.conclusion.is_some(),
                        eligible: &state.eligible,
                        voted: state.voted.contains(&cast.ballot.voter),
                    },
                    &cast,
                    &*clock,
                );
                let mut state = state.clone();
                let mut records = vec![cast.record(refusal)];
                let mut conclusion = None;
                match refusal {
                    Some(Refusal::DeadlinePassed) => conclusion = Some(Conclusion::Expired),
                    Some(_) => {}
                    None => {
                        state.voted.push(cast.ballot.voter.clone());
                        match &cast.ballot.choice {
                            Choice::Approve => {
                                state.approvals.push(cast.ballot.voter.clone());
                                if state.approvals.len() >= quorum_len(stored.review.quorum) {
                                    conclusion = Some(Conclusion::Approved {
                                        by: state.approvals.clone(),
                                    });
                                }
                            }
                            Choice::Deny { reason } => {
                                conclusion = Some(Conclusion::Denied {
                                    by: cast.ballot.voter.clone(),
                                    reason: reason.clone(),
                                });
                            }
                        }
                    }
                }
                if let Some(ended) = conclusion.take() {
                    let ended = masker_conclusion(ended);
                    records.push(concluded_record(&id, &ended));
                    state.concluded_at = Some(clock.now());
                    state.conclusion = Some(ended.clone());
                    conclusion = Some(ended);
                }
                Some((state, records, (refusal, conclusion)))
            })
            .await;
        let ((refusal, conclusion), stored) = match result {
            Ok(Some(done)) => done,
            Ok(None) => {
                // Not in the store: judged and recorded as a stray vote.
                return self.refuse_stray(&cast).await;
            }
            Err(error) => {
                tracing::warn!(request_id = %id, %error, "a vote could not be recorded in the store");
                return VoteOutcome::Refused {
                    refusal: Refusal::NotRecorded,
                };
            }
        };
        if conclusion.is_some() {
            self.retire(&id);
            self.announce_concluded(&stored).await;
        }
        if let Some(refusal) = refusal {
            return VoteOutcome::Refused { refusal };
        }
        let approved_by = stored.state.approvals.clone();
        let quorum = stored.review.quorum;
        if conclusion.is_none() && !approved_by.is_empty() {
            let progress = Progress {
                approved_by: approved_by.clone(),
                quorum,
            };
            let review = &stored.review;
            self.tell_stored("an approval", &stored, Told::All, |channel| {
                channel.progress(review, &progress)
            })
            .await;
        }
        VoteOutcome::Counted {
            approvals: u32::try_from(approved_by.len()).unwrap_or(u32::MAX),
            approved_by,
            quorum,
            conclusion,
        }
    }

    /// Claims the execution of an approved stored request: `Ok(true)` for
    /// exactly one caller.
    pub(crate) async fn claim(&self, id: &RequestId) -> Result<bool, StoreError> {
        let claimed = self
            .transition(id, |stored| {
                let approved = matches!(stored.state.conclusion, Some(Conclusion::Approved { .. }));
                if !approved || stored.state.execution != Execution::NotClaimed {
                    return None;
                }
                let mut state = stored.state.clone();
                state.execution = Execution::Running;
                Some((state, Vec::new(), ()))
            })
            .await?;
        Ok(claimed.is_some())
    }

    /// Records how a claimed execution ended, with the execution marked
    /// finished in the same transition.
    pub(crate) async fn record_stored_execution(
        &self,
        record: AuditRecord,
    ) -> Result<(), AuditError> {
        let id = record.request_id.clone();
        let mut record = Some(record);
        let written = self
            .transition_then(
                &id,
                |stored| {
                    if stored.state.execution == Execution::Finished {
                        return None;
                    }
                    let mut state = stored.state.clone();
                    state.execution = Execution::Finished;
                    Some((state, record.take().into_iter().collect(), ()))
                },
                Drain::ByCaller,
            )
            .await
            .map_err(AuditError::other)?;
        if written.is_none() {
            return Err(AuditError::other(StoreError::Unavailable {
                operation: "record an execution",
                message: "the request is not stored, or its outcome is already recorded".to_owned(),
            }));
        }
        // Drained here, to learn whether the record reached the sink.
        self.drain().await.map(drop).map_err(AuditError::other)
    }
}

fn concluded_record(id: &RequestId, conclusion: &Conclusion) -> AuditRecord {
    AuditRecord::now(
        id.clone(),
        AuditEvent::Concluded {
            conclusion: conclusion.clone(),
        },
    )
}

/// Expires and escalates stored requests that are due and that no process
/// waits for (or whose waiter is late), until the gate is dropped.
async fn sweeper(registry: Weak<Registry>, every: Duration) {
    let mut next = Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        next = Instant::now() + every;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let now = registry.clock.now();
        let due = match registry.stored().store.due(now, 256).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "the sweeper could not read the store");
                continue;
            }
        };
        for id in due {
            if let Err(error) = registry.settle(&id, Settle::Due).await {
                tracing::warn!(request_id = %id, %error, "a due request could not be settled");
            }
        }
        registry.drain_or_log().await;
    }
}
