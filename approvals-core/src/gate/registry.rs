//! Pending requests, votes and conclusions: the rules of the gate.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::audit::{AuditError, AuditEvent, AuditRecord, AuditSink};
use crate::mask::Masker;
use crate::time::Clock;
use crate::{
    ApprovalRequest, Ballot, Choice, Conclusion, Identity, Refusal, RequestId, VoteOutcome,
};

/// How many concluded request ids are remembered, so that a late vote is
/// refused as "already concluded" rather than "unknown".
const RECENT_CAPACITY: usize = 65_536;

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
    pending: Mutex<HashMap<RequestId, Arc<Pending>>>,
    recent: Mutex<Recent>,
    stray: Mutex<StrayVotes>,
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
    pub(crate) request: Arc<ApprovalRequest>,
    /// Votes on one request are judged and recorded one at a time, so that
    /// the audit trail holds them in the order they counted.
    pub(crate) state: tokio::sync::Mutex<PendingState>,
}

pub(crate) struct PendingState {
    pub(crate) eligible: Vec<Identity>,
    approvals: Vec<Identity>,
    voted: HashSet<Identity>,
    pub(crate) conclusion: Option<Conclusion>,
    waiter: Option<oneshot::Sender<Outcome>>,
}

#[derive(Default)]
struct Recent {
    order: VecDeque<RequestId>,
    ids: HashSet<RequestId>,
}

impl Registry {
    pub(crate) fn new(
        audit: Arc<dyn AuditSink>,
        masker: Arc<dyn Masker>,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Self {
        Self {
            audit,
            masker,
            clock,
            limits,
            pending: Mutex::new(HashMap::new()),
            recent: Mutex::new(Recent::default()),
            stray: Mutex::new(StrayVotes {
                window: Instant::now(),
                count: 0,
            }),
        }
    }

    /// Registers a request whose `requested` record is written; votes for it
    /// are accepted from now on. Refused when `max_pending` requests are
    /// already pending.
    pub(crate) fn open(
        &self,
        request: Arc<ApprovalRequest>,
    ) -> Result<(Arc<Pending>, oneshot::Receiver<Outcome>), Full> {
        let (sender, receiver) = oneshot::channel();
        let pending = Arc::new(Pending {
            state: tokio::sync::Mutex::new(PendingState {
                eligible: request.approvers.clone(),
                approvals: Vec::new(),
                voted: HashSet::new(),
                conclusion: None,
                waiter: Some(sender),
            }),
            request,
        });
        let mut requests = lock(&self.pending);
        if requests.len() >= self.limits.max_pending {
            return Err(Full);
        }
        requests.insert(pending.request.id.clone(), Arc::clone(&pending));
        drop(requests);
        Ok((pending, receiver))
    }

    /// Whether one more vote naming no pending request may be judged and
    /// recorded this minute.
    fn admit_stray_vote(&self) -> bool {
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

    pub(crate) fn pending_requests(&self) -> Vec<Arc<ApprovalRequest>> {
        lock(&self.pending)
            .values()
            .map(|pending| Arc::clone(&pending.request))
            .collect()
    }

    pub(crate) fn pending_count(&self) -> usize {
        lock(&self.pending).len()
    }

    fn was_concluded(&self, id: &RequestId) -> bool {
        lock(&self.recent).ids.contains(id)
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
        let id = pending.request.id.clone();
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

    fn retire(&self, id: &RequestId) {
        lock(&self.pending).remove(id);
        let mut recent = lock(&self.recent);
        if recent.ids.insert(id.clone()) {
            recent.order.push_back(id.clone());
            if recent.order.len() > RECENT_CAPACITY {
                if let Some(oldest) = recent.order.pop_front() {
                    recent.ids.remove(&oldest);
                }
            }
        }
    }

    /// Judges, records and applies one vote.
    pub(crate) async fn cast(&self, mut ballot: Ballot) -> VoteOutcome {
        // A reviewer's reason is free text: it may quote what it should not.
        if let Choice::Deny {
            reason: Some(reason),
        } = &mut ballot.choice
        {
            *reason = self.mask_text(reason);
        }
        let Some(pending) = self.get(&ballot.request_id) else {
            if !self.admit_stray_vote() {
                return VoteOutcome::Refused {
                    refusal: Refusal::Throttled,
                };
            }
            let refusal = if self.was_concluded(&ballot.request_id) {
                Refusal::AlreadyConcluded
            } else {
                Refusal::UnknownRequest
            };
            return match self.record_vote(&ballot, Some(refusal)).await {
                Ok(()) => VoteOutcome::Refused { refusal },
                Err(_) => VoteOutcome::Refused {
                    refusal: Refusal::NotRecorded,
                },
            };
        };
        let request = &pending.request;
        let mut state = pending.state.lock().await;
        let refusal = judge(request, &state, &ballot, &*self.clock);
        if let Err(error) = self.record_vote(&ballot, refusal).await {
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
        VoteOutcome::Counted {
            approvals: u32::try_from(state.approvals.len()).unwrap_or(u32::MAX),
            quorum: request.quorum,
            conclusion,
        }
    }

    async fn record_vote(
        &self,
        ballot: &Ballot,
        refusal: Option<Refusal>,
    ) -> Result<(), AuditError> {
        self.record(&AuditRecord::now(
            ballot.request_id.clone(),
            AuditEvent::Vote {
                voter: ballot.voter.clone(),
                choice: ballot.choice.clone(),
                channel: ballot.channel.clone(),
                fingerprint: ballot.fingerprint,
                counted: refusal.is_none(),
                refusal,
            },
        ))
        .await
    }
}

/// The rules a vote must pass to count, in the order they are checked.
fn judge(
    request: &ApprovalRequest,
    state: &PendingState,
    ballot: &Ballot,
    clock: &dyn Clock,
) -> Option<Refusal> {
    if state.conclusion.is_some() {
        Some(Refusal::AlreadyConcluded)
    } else if clock.now() >= request.deadline {
        Some(Refusal::DeadlinePassed)
    } else if ballot.fingerprint != request.fingerprint {
        Some(Refusal::FingerprintMismatch)
    } else if ballot.voter == request.requester {
        Some(Refusal::SelfApproval)
    } else if !state.eligible.contains(&ballot.voter) {
        Some(Refusal::NotEligible)
    } else if state.voted.contains(&ballot.voter) {
        Some(Refusal::AlreadyVoted)
    } else if request.deny_reason_required
        && matches!(&ballot.choice, Choice::Deny { reason } if reason.as_deref().is_none_or(|r| r.trim().is_empty()))
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

fn quorum_len(quorum: u32) -> usize {
    usize::try_from(quorum.max(1)).unwrap_or(usize::MAX)
}

/// A poisoned lock only means another thread panicked while holding it; the
/// maps it guards stay consistent (every update is a single insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
