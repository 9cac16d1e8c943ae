//! Pending requests, votes and conclusions: the rules of the gate.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::audit::{AuditError, AuditEvent, AuditRecord, AuditSink};
use crate::mask::Masker;
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
    pending: Mutex<HashMap<RequestId, Arc<Pending>>>,
    recent: Mutex<Recent>,
}

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
    pub(crate) fn new(audit: Arc<dyn AuditSink>, masker: Arc<dyn Masker>) -> Self {
        Self {
            audit,
            masker,
            pending: Mutex::new(HashMap::new()),
            recent: Mutex::new(Recent::default()),
        }
    }

    /// Registers a request whose `requested` record is written; votes for it
    /// are accepted from now on.
    pub(crate) fn open(
        &self,
        request: Arc<ApprovalRequest>,
    ) -> (Arc<Pending>, oneshot::Receiver<Outcome>) {
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
        lock(&self.pending).insert(pending.request.id.clone(), Arc::clone(&pending));
        (pending, receiver)
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
            .audit
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
            *reason = self.masker.mask_text(reason);
        }
        let Some(pending) = self.get(&ballot.request_id) else {
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
        let refusal = judge(request, &state, &ballot);
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
        self.audit
            .record(&AuditRecord::now(
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
fn judge(request: &ApprovalRequest, state: &PendingState, ballot: &Ballot) -> Option<Refusal> {
    if state.conclusion.is_some() {
        Some(Refusal::AlreadyConcluded)
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
            reason: Some(masker.mask_text(&reason)),
        },
        Conclusion::Failed { reason } => Conclusion::Failed {
            reason: masker.mask_text(&reason),
        },
        Conclusion::RefusedByPolicy { rule, reason } => Conclusion::RefusedByPolicy {
            rule,
            reason: masker.mask_text(&reason),
        },
        other => other,
    }
}

fn quorum_len(quorum: u32) -> usize {
    usize::try_from(quorum.max(1)).unwrap_or(usize::MAX)
}

/// A poisoned lock only means another thread panicked while holding it; the
/// maps it guards stay consistent (every update is a single insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
