//! The rules of the gate about votes: pending requests, how each ballot is
//! judged, recorded and applied, how requests conclude, and the
//! [`VoteBox`] through which channels cast.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use lru::LruCache;
use tokio::sync::oneshot;

use super::finish::Finish;
use crate::audit::{AuditError, AuditEvent, AuditRecord, AuditSink};
use crate::channel::{Channel, ChannelError};
use crate::mask::Masker;
use crate::telemetry;
use crate::time::Clock;
use crate::{
    Ballot, Choice, Conclusion, Identity, MAX_REASON_CHARS, Progress, Refusal, RequestId, Review,
    VoteOutcome,
};

/// How many concluded request ids are remembered, so that a late vote is
/// refused as "already concluded" rather than "unknown".
const RECENT_CAPACITY: NonZeroUsize = match NonZeroUsize::new(65_536) {
    Some(capacity) => capacity,
    None => NonZeroUsize::MIN,
};

/// What the waiting caller learns when its request ends: the conclusion, or
/// the audit failure that kept the conclusion from being recorded.
pub(crate) type Outcome = Result<Conclusion, AuditError>;

/// The state every gate clone and every [`VoteBox`](super::VoteBox) shares.
pub(crate) struct Registry {
    pub(crate) audit: Arc<dyn AuditSink>,
    /// Masks the free text that votes and conclusions carry.
    masker: Arc<dyn Masker>,
    /// Where deadlines are set and votes are judged against them.
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: Limits,
    /// Every channel requests are delivered to.
    pub(crate) channels: Vec<Arc<dyn Channel>>,
    /// How long a channel is given to take note of a change.
    pub(crate) channel_timeout: Duration,
    pending: Mutex<HashMap<RequestId, Arc<Pending>>>,
    /// Recently concluded ids, least recently concluded first out.
    recent: Mutex<LruCache<RequestId, ()>>,
    stray: Mutex<StrayVotes>,
    /// The store, when requests are kept in one.
    pub(crate) durable: Option<super::durable::Durable>,
    /// The policy in force, shared with the gate: edits are judged by it.
    pub(crate) policy: Arc<std::sync::RwLock<Arc<crate::policy::Policy>>>,
}

/// The bounds on what callers and voters can make the gate hold or write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Requests pending at once.
    pub(crate) max_pending: usize,
    /// Votes naming no pending request that are judged and recorded per
    /// minute.
    pub(crate) stray_votes_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending: DEFAULT_MAX_PENDING,
            stray_votes_per_minute: DEFAULT_STRAY_VOTES_PER_MINUTE,
        }
    }
}

/// The default bound on requests pending at once.
pub(crate) const DEFAULT_MAX_PENDING: usize = 10_000;

/// The default bound on votes for requests that are not pending, per minute.
pub(crate) const DEFAULT_STRAY_VOTES_PER_MINUTE: u32 = 600;

/// Counts the votes naming no pending request in the current minute.
struct StrayVotes {
    window: Instant,
    count: u32,
}

/// The request is not registered: too many are pending.
#[derive(Debug)]
pub(crate) struct Full;

/// One request awaiting its conclusion.
pub(crate) struct Pending {
    /// The version reviewers see: replaced, under the state's lock, when an
    /// edit is accepted.
    current: Mutex<Arc<Review>>,
    /// Votes on one request are judged and recorded one at a time, so that
    /// the audit trail holds them in the order they counted.
    pub(crate) state: tokio::sync::Mutex<PendingState>,
}

pub(crate) struct PendingState {
    pub(crate) eligible: Vec<Identity>,
    pub(super) approvals: Vec<Identity>,
    pub(super) voted: HashSet<Identity>,
    pub(crate) conclusion: Option<Conclusion>,
    waiter: Option<oneshot::Sender<Outcome>>,
    /// What editing needs, for a call that takes edits.
    pub(super) editing: Option<Box<super::edits::Editing>>,
}

impl Pending {
    /// The version reviewers see now.
    pub(crate) fn request(&self) -> Arc<Review> {
        Arc::clone(&lock(&self.current))
    }

    /// Shows `review` from now on. Called with the state's lock held.
    pub(super) fn revise(&self, review: Arc<Review>) {
        *lock(&self.current) = review;
    }
}

impl Registry {
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a part of the gate the builder hands over once"
    )]
    pub(crate) fn new(
        audit: Arc<dyn AuditSink>,
        masker: Arc<dyn Masker>,
        clock: Arc<dyn Clock>,
        limits: Limits,
        channels: Vec<Arc<dyn Channel>>,
        channel_timeout: Duration,
        durable: Option<super::durable::Durable>,
        policy: Arc<std::sync::RwLock<Arc<crate::policy::Policy>>>,
    ) -> Self {
        Self {
            policy,
            audit,
            masker,
            clock,
            limits,
            channels,
            channel_timeout,
            pending: Mutex::new(HashMap::new()),
            recent: Mutex::new(LruCache::new(RECENT_CAPACITY)),
            stray: Mutex::new(StrayVotes {
                window: Instant::now(),
                count: 0,
            }),
            durable,
        }
    }

    /// Registers a request whose `requested` record is written; votes for it
    /// are accepted from now on. Refused when `max_pending` requests are
    /// already pending.
    pub(crate) fn open(
        &self,
        request: Arc<Review>,
        editing: Option<Box<super::edits::Editing>>,
    ) -> Result<(Arc<Pending>, oneshot::Receiver<Outcome>), Full> {
        let (sender, receiver) = oneshot::channel();
        let id = request.id.clone();
        let pending = Arc::new(Pending {
            state: tokio::sync::Mutex::new(PendingState {
                eligible: request.approvers.clone(),
                approvals: Vec::new(),
                voted: HashSet::new(),
                conclusion: None,
                waiter: Some(sender),
                editing,
            }),
            current: Mutex::new(request),
        });
        let mut requests = lock(&self.pending);
        if requests.len() >= self.limits.max_pending {
            return Err(Full);
        }
        requests.insert(id, Arc::clone(&pending));
        drop(requests);
        Ok((pending, receiver))
    }

    /// Whether one more vote naming no pending request may be judged and
    /// recorded this minute.
    pub(super) fn admit_stray_vote(&self) -> bool {
        let mut stray = lock(&self.stray);
        if stray.window.elapsed() >= Duration::from_secs(60) {
            stray.window = Instant::now();
            stray.count = 0;
        }
        stray.count = stray.count.saturating_add(1);
        let admitted = stray.count <= self.limits.stray_votes_per_minute;
        if stray.count == self.limits.stray_votes_per_minute.saturating_add(1) {
            tracing::warn!(
                limit = self.limits.stray_votes_per_minute,
                "votes for requests that are not pending are refused unrecorded until the minute ends"
            );
        }
        admitted
    }

    /// The masker of free text.
    pub(crate) fn masker(&self) -> &dyn Masker {
        self.masker.as_ref()
    }

    /// `text` masked; a masker that panics yields a fixed placeholder, so
    /// that the step masking it still ends.
    pub(crate) fn mask_text(&self, text: &str) -> String {
        safe_mask_text(self.masker.as_ref(), text)
    }

    pub(crate) fn get(&self, id: &RequestId) -> Option<Arc<Pending>> {
        lock(&self.pending).get(id).cloned()
    }

    pub(crate) fn pending_requests(&self) -> Vec<Arc<Review>> {
        if let Some(durable) = &self.durable {
            return durable.watched();
        }
        lock(&self.pending)
            .values()
            .map(|pending| pending.request())
            .collect()
    }

    pub(crate) fn pending_count(&self) -> usize {
        if let Some(durable) = &self.durable {
            return durable.watched_count();
        }
        lock(&self.pending).len()
    }

    pub(crate) fn was_concluded(&self, id: &RequestId) -> bool {
        lock(&self.recent).contains(id)
    }

    /// Ends a request: records the conclusion, retires the request and wakes
    /// the caller. Does nothing if the request has already ended.
    ///
    /// The conclusion is set in memory before it is recorded, so that no vote
    /// can count while the record is being written.
    pub(crate) async fn conclude(
        &self,
        pending: &Pending,
        state: &mut PendingState,
        conclusion: Conclusion,
    ) -> Conclusion {
        if let Some(existing) = &state.conclusion {
            return existing.clone();
        }
        let conclusion = mask_conclusion(self.masker.as_ref(), conclusion);
        state.conclusion = Some(conclusion.clone());
        let id = pending.request().id.clone();
        let written = self
            .record(&AuditRecord::now(
                id.clone(),
                AuditEvent::Concluded {
                    conclusion: conclusion.clone(),
                },
            ))
            .await;
        self.retire(&id);
        let (effective, outcome) = match written {
            Ok(()) => (conclusion.clone(), Ok(conclusion)),
            Err(error) => {
                let failed = Conclusion::Failed {
                    reason: format!("the conclusion could not be recorded: {error}"),
                };
                state.conclusion = Some(failed.clone());
                (failed, Err(error))
            }
        };
        if let Some(waiter) = state.waiter.take() {
            // The caller may have gone (cancelled): nobody is left to tell.
            let _ = waiter.send(outcome);
        }
        effective
    }

    pub(crate) fn retire(&self, id: &RequestId) {
        lock(&self.pending).remove(id);
        lock(&self.recent).put(id.clone(), ());
    }

    /// Judges, records and applies one vote cast through `channel`.
    pub(crate) async fn cast(&self, ballot: Ballot, channel: &str) -> VoteOutcome {
        // Kept only for a subscriber that listens.
        let traced = tracing::enabled!(target: "approvals::vote", tracing::Level::INFO)
            .then(|| (ballot.request_id.clone(), ballot.voter.clone()));
        let outcome = self.judge_and_apply(ballot, channel).await;
        if let Some(refusal) = outcome.refusal() {
            telemetry::vote_refused(refusal.code());
        }
        if let Some((request_id, voter)) = traced {
            // One event per ballot (its record is in the audit trail): who,
            // on which request, through which channel, and what the gate
            // made of it.
            tracing::info!(
                target: "approvals::vote",
                request_id = %request_id,
                voter = %voter,
                channel,
                counted = outcome.counted(),
                refusal = outcome.refusal().map(Refusal::code),
                "vote judged"
            );
        }
        outcome
    }

    async fn judge_and_apply(&self, mut ballot: Ballot, channel: &str) -> VoteOutcome {
        let too_long = normalize_reason(&mut ballot.choice);
        // A reviewer's reason is free text: it may quote what it should not.
        if let Choice::Deny {
            reason: Some(reason),
        } = &mut ballot.choice
        {
            *reason = self.mask_text(reason);
        }
        let cast = Cast {
            ballot,
            channel,
            too_long,
        };
        if self.durable.is_some() {
            return self.cast_stored(cast).await;
        }
        let Some(pending) = self.get(&cast.ballot.request_id) else {
            return self.refuse_stray(&cast).await;
        };
        let mut state = pending.state.lock().await;
        // Read under the lock: an accepted edit replaces it under the lock.
        let request = &pending.request();
        let refusal = judge(
            request,
            Tally {
                concluded: state.conclusion.is_some(),
                eligible: &state.eligible,
                voted: state.voted.contains(&cast.ballot.voter),
            },
            &cast,
            &*self.clock,
        );
        if let Err(error) = self.record_vote(&cast, refusal).await {
            if refusal.is_none() {
                // A vote that should have counted but left no record must not
                // count, and the request cannot go on without a trail.
                self.conclude(
                    &pending,
                    &mut state,
                    Conclusion::Failed {
                        reason: format!("a vote could not be recorded: {error}"),
                    },
                )
                .await;
            }
            return VoteOutcome::Refused {
                refusal: Refusal::NotRecorded,
            };
        }
        if let Some(refusal) = refusal {
            if refusal == Refusal::DeadlinePassed {
                // The deadline is the gate's rule, not only the caller's
                // timer: the request ends now, whoever is late.
                self.conclude(&pending, &mut state, Conclusion::Expired)
                    .await;
            }
            return VoteOutcome::Refused { refusal };
        }
        let ballot = cast.ballot;
        state.voted.insert(ballot.voter.clone());
        let conclusion = match ballot.choice {
            Choice::Approve => {
                state.approvals.push(ballot.voter);
                if state.approvals.len() >= quorum_len(request.quorum) {
                    let by = state.approvals.clone();
                    Some(
                        self.conclude(&pending, &mut state, Conclusion::Approved { by })
                            .await,
                    )
                } else {
                    None
                }
            }
            Choice::Deny { reason } => Some(
                self.conclude(
                    &pending,
                    &mut state,
                    Conclusion::Denied {
                        by: ballot.voter,
                        reason,
                    },
                )
                .await,
            ),
        };
        let approved_by = state.approvals.clone();
        drop(state);
        let quorum = request.quorum;
        if conclusion.is_none() && !approved_by.is_empty() {
            let progress = Progress {
                approved_by: approved_by.clone(),
                quorum,
            };
            self.tell_channels("an approval", &request.id, |channel| {
                channel.progress(request, &progress)
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

    /// Judges and records a vote naming no pending request, unless such
    /// votes are over their limit.
    pub(crate) async fn refuse_stray(&self, cast: &Cast<'_>) -> VoteOutcome {
        if !self.admit_stray_vote() {
            return VoteOutcome::Refused {
                refusal: Refusal::Throttled,
            };
        }
        let refusal = if self.was_concluded(&cast.ballot.request_id) {
            Refusal::AlreadyConcluded
        } else {
            Refusal::UnknownRequest
        };
        match self.record_vote(cast, Some(refusal)).await {
            Ok(()) => VoteOutcome::Refused { refusal },
            Err(_) => VoteOutcome::Refused {
                refusal: Refusal::NotRecorded,
            },
        }
    }

    /// The tally of a pending request.
    pub(crate) async fn progress(&self, id: &RequestId) -> Option<Progress> {
        if let Some(durable) = &self.durable {
            let stored = durable.store.load(id).await.ok()??;
            return stored.state.conclusion.is_none().then_some(Progress {
                approved_by: stored.state.approvals,
                quorum: stored.review.quorum,
            });
        }
        let pending = self.get(id)?;
        let state = pending.state.lock().await;
        state.conclusion.is_none().then(|| Progress {
            approved_by: state.approvals.clone(),
            quorum: pending.request().quorum,
        })
    }

    async fn record_vote(
        &self,
        cast: &Cast<'_>,
        refusal: Option<Refusal>,
    ) -> Result<(), AuditError> {
        self.record(&cast.record(refusal)).await
    }

    /// Tells every channel of a change, all at once, each within the
    /// channel timeout. The gate's decision is already made and recorded,
    /// so a channel that fails, panics or does not answer in time is only
    /// logged.
    pub(crate) async fn tell_channels<'a, F>(&'a self, what: &str, id: &RequestId, tell: F)
    where
        F: Fn(&'a Arc<dyn Channel>) -> futures::future::BoxFuture<'a, Result<(), ChannelError>>,
    {
        self.tell_some_channels(what, id, |_| true, tell).await;
    }

    /// [`tell_channels`](Self::tell_channels), to the channels `which`
    /// picks.
    pub(crate) async fn tell_some_channels<'a, F>(
        &'a self,
        what: &str,
        id: &RequestId,
        which: impl Fn(&dyn Channel) -> bool,
        tell: F,
    ) where
        F: Fn(&'a Arc<dyn Channel>) -> futures::future::BoxFuture<'a, Result<(), ChannelError>>,
    {
        let bound = self.channel_timeout;
        let told = self
            .channels
            .iter()
            .filter(|channel| which(&***channel))
            .map(|channel| {
                let telling = AssertUnwindSafe(tell(channel)).catch_unwind();
                async move { (channel, tokio::time::timeout(bound, telling).await) }
            });
        for (channel, told) in futures::future::join_all(told).await {
            if !matches!(told, Ok(Ok(Ok(())))) {
                telemetry::channel_failed(channel.name(), "update");
                tracing::warn!(
                    channel = channel.name(),
                    request_id = %id,
                    "a channel could not be told of {what}"
                );
            }
        }
    }
}

/// A ballot with what the gate adds to it before judging.
pub(crate) struct Cast<'a> {
    pub(crate) ballot: Ballot,
    /// The channel whose vote box it was cast into.
    pub(crate) channel: &'a str,
    /// Its deny reason was longer than [`MAX_REASON_CHARS`].
    pub(crate) too_long: bool,
}

impl Cast<'_> {
    /// The record of this vote, counted or refused.
    pub(crate) fn record(&self, refusal: Option<Refusal>) -> AuditRecord {
        let ballot = &self.ballot;
        // A reason past the limit is not kept: the refusal says why.
        let choice = match (&ballot.choice, self.too_long) {
            (Choice::Deny { .. }, true) => Choice::Deny { reason: None },
            (choice, _) => choice.clone(),
        };
        AuditRecord::now(
            ballot.request_id.clone(),
            AuditEvent::Vote {
                voter: ballot.voter.clone(),
                choice,
                channel: self.channel.to_owned(),
                fingerprint: ballot.fingerprint,
                counted: refusal.is_none(),
                refusal,
            },
        )
    }
}

/// One rule for reasons, whatever the channel: surrounding white space is
/// trimmed, a reason of nothing else is no reason, and whether it is too
/// long is returned.
fn normalize_reason(choice: &mut Choice) -> bool {
    let Choice::Deny { reason } = choice else {
        return false;
    };
    let Some(text) = reason.take() else {
        return false;
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return false;
    }
    let too_long = trimmed.chars().count() > MAX_REASON_CHARS;
    *reason = Some(if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_owned()
    });
    too_long
}

/// What judging a vote needs of a request's state, wherever it is kept.
pub(crate) struct Tally<'a> {
    pub(crate) concluded: bool,
    pub(crate) eligible: &'a [Identity],
    /// Whether the voter's vote has already counted.
    pub(crate) voted: bool,
}

/// The rules a vote must pass to count, in the order they are checked.
pub(crate) fn judge(
    request: &Review,
    state: Tally<'_>,
    cast: &Cast<'_>,
    clock: &dyn Clock,
) -> Option<Refusal> {
    let ballot = &cast.ballot;
    if state.concluded {
        Some(Refusal::AlreadyConcluded)
    } else if clock.now() >= request.deadline {
        Some(Refusal::DeadlinePassed)
    } else if ballot.fingerprint != request.fingerprint {
        Some(Refusal::FingerprintMismatch)
    } else if ballot.voter == request.requester {
        Some(Refusal::SelfApproval)
    } else if !state.eligible.contains(&ballot.voter) {
        Some(Refusal::NotEligible)
    } else if state.voted {
        Some(Refusal::AlreadyVoted)
    } else if cast.too_long {
        Some(Refusal::ReasonTooLong)
    } else if request.deny_reason_required
        && matches!(&ballot.choice, Choice::Deny { reason: None })
    {
        Some(Refusal::ReasonRequired)
    } else {
        None
    }
}

/// A conclusion with its free-text reason masked.
pub(crate) fn mask_conclusion(masker: &dyn Masker, conclusion: Conclusion) -> Conclusion {
    match conclusion {
        Conclusion::Denied {
            by,
            reason: Some(reason),
        } => Conclusion::Denied {
            by,
            reason: Some(safe_mask_text(masker, &reason)),
        },
        Conclusion::Failed { reason } => Conclusion::Failed {
            reason: safe_mask_text(masker, &reason),
        },
        Conclusion::RefusedByPolicy { rule, reason } => Conclusion::RefusedByPolicy {
            rule,
            reason: safe_mask_text(masker, &reason),
        },
        other => other,
    }
}

/// What stands for a text the masker panicked on.
const MASKING_FAILED: &str = "[masking failed]";

/// `text` masked, or a fixed placeholder if the masker panics: the text is
/// then withheld, and the step that needed it still ends.
pub(crate) fn safe_mask_text(masker: &dyn Masker, text: &str) -> String {
    std::panic::catch_unwind(AssertUnwindSafe(|| masker.mask_text(text)))
        .unwrap_or_else(|_| MASKING_FAILED.to_owned())
}

pub(crate) fn quorum_len(quorum: u32) -> usize {
    usize::try_from(quorum.max(1)).unwrap_or(usize::MAX)
}

/// A poisoned lock only means another thread panicked while holding it; the
/// maps it guards stay consistent (every update is a single insert or remove).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where channels hand in votes. Cheap to clone; holds no policy and makes no
/// decision of its own: the gate's rules judge every ballot.
///
/// Each [`Channel`] is given its own when the gate is built
/// ([`Channel::attach`]) and with every request it delivers; the box
/// stamps that channel's name on every ballot cast into it. A box does not
/// keep its gate alive: once the gate is dropped, a ballot is refused with
/// [`Refusal::NotRecorded`].
#[derive(Clone)]
pub struct VoteBox {
    registry: Weak<Registry>,
    channel: Arc<str>,
}

impl VoteBox {
    pub(crate) fn new(registry: &Arc<Registry>, channel: &str) -> Self {
        Self {
            registry: Arc::downgrade(registry),
            channel: Arc::from(channel),
        }
    }

    /// The name of the channel this box casts for.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// With a store, the requests waiting for votes in every process that
    /// shares it, oldest first (at most `limit`): what a channel lists when
    /// any replica may be asked. `None` without a store (this gate's
    /// [`pending`](Self::pending) are all there are), and if the store
    /// cannot be read.
    pub async fn stored_pending(&self, limit: usize) -> Option<Vec<Arc<Review>>> {
        let registry = self.registry.upgrade()?;
        let durable = registry.durable.as_ref()?;
        match durable.store.pending(limit).await {
            Ok(stored) => Some(
                stored
                    .into_iter()
                    .map(|stored| Arc::new(stored.review))
                    .collect(),
            ),
            Err(error) => {
                tracing::warn!(%error, "the store could not list pending requests");
                None
            }
        }
    }

    /// Casts a vote and says whether it counted, and if not, why.
    ///
    /// Every ballot is recorded, counted or not (but for votes past the
    /// [`stray_vote_limit`](super::GateBuilder::stray_vote_limit)), with
    /// this box's channel. Reasons are trimmed; a blank reason is no reason;
    /// a reason over [`MAX_REASON_CHARS`] is refused. Once cast, a vote is
    /// judged, recorded and applied to the end even if the future is
    /// dropped (an HTTP client that disconnects, say).
    pub async fn cast(&self, ballot: Ballot) -> VoteOutcome {
        let Some(registry) = self.registry.upgrade() else {
            return VoteOutcome::Refused {
                refusal: Refusal::NotRecorded,
            };
        };
        let channel = Arc::clone(&self.channel);
        Finish::new(async move { registry.cast(ballot, &channel).await }).await
    }

    /// The requests waiting for votes (masked).
    pub fn pending(&self) -> Vec<Arc<Review>> {
        self.registry
            .upgrade()
            .map(|registry| registry.pending_requests())
            .unwrap_or_default()
    }

    /// One pending request, if it is still waiting.
    pub fn pending_request(&self, id: &RequestId) -> Option<Arc<Review>> {
        let registry = self.registry.upgrade()?;
        if let Some(durable) = &registry.durable {
            return durable.watched_request(id);
        }
        registry.get(id).map(|pending| pending.request())
    }

    /// Hands in a reviewer's edit of a pending request's arguments, and
    /// says whether it was accepted, and if not, why.
    ///
    /// The gate judges it like a vote (the editor may vote on the request,
    /// before its deadline, naming the fingerprint of the version pending),
    /// then checks that it changes only arguments the requirement declares
    /// editable, that the edited arguments fit their type, and that policy,
    /// evaluated again on them, does not refuse them. Accepted, the edited
    /// call is a new version of the request with its own fingerprint, and
    /// the edit is the editor's approval of it: approvals of the version
    /// before do not carry over. Every edit is recorded, accepted or not
    /// (see [`edit`](crate::edit)). Like [`cast`](Self::cast), it runs to
    /// its end once handed in.
    ///
    /// Requests kept in a [store](crate::store) take no edits (the raw
    /// arguments an edit is applied to live only in the asking process):
    /// such an edit is refused with [`Refusal::NotEditable`].
    pub async fn edit(&self, edit: crate::edit::Edit) -> crate::edit::EditOutcome {
        let Some(registry) = self.registry.upgrade() else {
            return crate::edit::EditOutcome::refused(Refusal::NotRecorded);
        };
        let channel = Arc::clone(&self.channel);
        Finish::new(async move { registry.edit(edit, &channel).await }).await
    }

    /// Who has approved a pending request so far (`None` once it has
    /// ended, or for an id that is not pending).
    pub async fn progress(&self, id: &RequestId) -> Option<Progress> {
        let registry = self.registry.upgrade()?;
        registry.progress(id).await
    }
}

impl std::fmt::Debug for VoteBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoteBox")
            .field("channel", &self.channel)
            .field(
                "pending",
                &self
                    .registry
                    .upgrade()
                    .map_or(0, |registry| registry.pending_count()),
            )
            .finish()
    }
}
