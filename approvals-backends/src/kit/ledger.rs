//! The deliveries of one channel.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use approvals_core::{Ballot, Conclusion, Progress, RequestId, Review, VoteBox, VoteOutcome};
use lru::LruCache;

use super::lock;

/// How many concluded requests a ledger keeps by default, so that a late
/// click can still be shown how its request ended.
pub const DEFAULT_RETAINED: usize = 1_024;

/// What a channel delivered and how it stands: the review, the channel's
/// own data about it (a message's timestamp, an activity id), the gate's
/// progress and, once it ended, the conclusion.
#[derive(Debug, Clone)]
pub struct Delivery<T> {
    /// The review as delivered.
    pub review: Arc<Review>,
    /// The channel's own data about the delivery.
    pub data: T,
    /// The gate's tally, as last reported.
    pub progress: Option<Progress>,
    /// How the request ended, once the gate has said.
    pub conclusion: Option<Conclusion>,
}

/// The deliveries of one channel, and the vote box the gate attached to it.
///
/// Pending deliveries are kept until the gate says they ended; concluded
/// ones are kept up to a bound (least recently used first out). A ledger
/// holds no rule: [`cast`](Ledger::cast) hands every ballot to the gate,
/// for requests it never saw too.
#[derive(Debug)]
pub struct Ledger<T> {
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    votes: Option<VoteBox>,
    /// Pending deliveries, with the order they arrived in.
    live: HashMap<RequestId, (u64, Delivery<T>)>,
    next: u64,
    ended: LruCache<RequestId, Delivery<T>>,
    /// Deliveries another process made, taken up to update their message.
    /// Another process may conclude them without a word to this one, so
    /// they are bounded like concluded ones and never listed as pending.
    resumed: LruCache<RequestId, Delivery<T>>,
}

/// The channel was never attached to a gate: there is nobody to hand the
/// ballot to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the channel is not attached to a gate")]
pub struct NotAttached;

impl<T> Default for Ledger<T> {
    fn default() -> Self {
        Self::new(DEFAULT_RETAINED)
    }
}

impl<T> Ledger<T> {
    /// A ledger that keeps up to `retained` concluded requests (at least
    /// one).
    pub fn new(retained: usize) -> Self {
        Self {
            state: Mutex::new(State {
                votes: None,
                live: HashMap::new(),
                next: 0,
                ended: LruCache::new(NonZeroUsize::new(retained).unwrap_or(NonZeroUsize::MIN)),
                resumed: LruCache::new(NonZeroUsize::new(retained).unwrap_or(NonZeroUsize::MIN)),
            }),
        }
    }

    /// Keeps the vote box the gate attached ([`Channel::attach`](approvals_core::Channel::attach)).
    pub fn attach(&self, votes: VoteBox) {
        lock(&self.state).votes = Some(votes);
    }

    /// The attached vote box.
    pub fn votes(&self) -> Option<VoteBox> {
        lock(&self.state).votes.clone()
    }

    /// Hands `ballot` to the gate, which judges and records it, whether or
    /// not this channel delivered its request.
    pub async fn cast(&self, ballot: Ballot) -> Result<VoteOutcome, NotAttached> {
        let votes = self.votes().ok_or(NotAttached)?;
        Ok(votes.cast(ballot).await)
    }

    /// Hands an edit to the gate through the attached box.
    pub async fn edit(
        &self,
        edit: approvals_core::edit::Edit,
    ) -> Result<approvals_core::edit::EditOutcome, NotAttached> {
        let votes = self.votes().ok_or(NotAttached)?;
        Ok(votes.edit(edit).await)
    }

    /// Replaces a pending delivery's review with the new version an edit
    /// made, then runs `f` on it; `None` if `id` is not pending here.
    pub fn revised<R>(&self, review: &Review, f: impl FnOnce(&mut Delivery<T>) -> R) -> Option<R> {
        let mut state = lock(&self.state);
        let delivery = match state.live.get_mut(&review.id) {
            Some((_, delivery)) => delivery,
            None => state.resumed.get_mut(&review.id)?,
        };
        delivery.review = Arc::new(review.clone());
        Some(f(delivery))
    }

    /// Records a delivery. `votes` is the box the gate delivered with; it is
    /// kept if none was attached.
    pub fn delivered(&self, review: &Review, votes: VoteBox, data: T) -> Arc<Review> {
        let review = Arc::new(review.clone());
        let mut state = lock(&self.state);
        state.votes.get_or_insert(votes);
        let order = state.next;
        state.next += 1;
        state.live.insert(
            review.id.clone(),
            (
                order,
                Delivery {
                    review: Arc::clone(&review),
                    data,
                    progress: None,
                    conclusion: None,
                },
            ),
        );
        review
    }

    /// Takes up a delivery another process made (from what it stored with
    /// the request), unless this ledger already holds `review`'s id;
    /// returns whether it did.
    ///
    /// A delivery taken up is kept (up to the bound of concluded ones) for
    /// the updates this process makes, and is not among
    /// [`pending`](Ledger::pending): only the gate knows whether it still is.
    pub fn resumed(&self, review: &Review, data: T) -> bool {
        let mut state = lock(&self.state);
        if state.live.contains_key(&review.id)
            || state.ended.contains(&review.id)
            || state.resumed.contains(&review.id)
        {
            return false;
        }
        state.resumed.put(
            review.id.clone(),
            Delivery {
                review: Arc::new(review.clone()),
                data,
                progress: None,
                conclusion: None,
            },
        );
        true
    }

    /// Runs `f` on the delivery of `id`, pending or concluded.
    pub fn with<R>(&self, id: &RequestId, f: impl FnOnce(&mut Delivery<T>) -> R) -> Option<R> {
        let mut state = lock(&self.state);
        if let Some((_, delivery)) = state.live.get_mut(id) {
            return Some(f(delivery));
        }
        if state.ended.contains(id) {
            return state.ended.get_mut(id).map(f);
        }
        state.resumed.get_mut(id).map(f)
    }

    /// The review delivered under `id`, pending or concluded.
    pub fn review(&self, id: &RequestId) -> Option<Arc<Review>> {
        self.with(id, |delivery| Arc::clone(&delivery.review))
    }

    /// Whether `id` was delivered here and has not concluded.
    pub fn is_pending(&self, id: &RequestId) -> bool {
        lock(&self.state).live.contains_key(id)
    }

    /// The pending deliveries' reviews, oldest first.
    pub fn pending(&self) -> Vec<Arc<Review>> {
        let state = lock(&self.state);
        let mut live: Vec<_> = state
            .live
            .values()
            .map(|(order, delivery)| (*order, Arc::clone(&delivery.review)))
            .collect();
        live.sort_unstable_by_key(|(order, _)| *order);
        live.into_iter().map(|(_, review)| review).collect()
    }

    /// Records the gate's progress on a pending delivery, then runs `f` on
    /// it; `None` if `id` is not pending here (never delivered, or already
    /// concluded, so that a late progress report never overwrites the
    /// outcome).
    pub fn progressed<R>(
        &self,
        id: &RequestId,
        progress: &Progress,
        f: impl FnOnce(&mut Delivery<T>) -> R,
    ) -> Option<R> {
        let mut state = lock(&self.state);
        let delivery = match state.live.get_mut(id) {
            Some((_, delivery)) => delivery,
            None => state.resumed.get_mut(id)?,
        };
        delivery.progress = Some(progress.clone());
        Some(f(delivery))
    }

    /// Records how `id` ended, moves it to the concluded ones and runs `f`
    /// on it; `None` if it was never delivered here (or is no longer
    /// retained).
    pub fn concluded<R>(
        &self,
        id: &RequestId,
        conclusion: &Conclusion,
        f: impl FnOnce(&mut Delivery<T>) -> R,
    ) -> Option<R> {
        let mut state = lock(&self.state);
        let mut delivery = match state.live.remove(id) {
            Some((_, delivery)) => delivery,
            None => match state.resumed.pop(id) {
                Some(delivery) => delivery,
                None => state.ended.pop(id)?,
            },
        };
        if let Conclusion::Approved { by } = conclusion {
            delivery.progress = Some(Progress {
                approved_by: by.clone(),
                quorum: delivery.review.quorum,
            });
        }
        delivery.conclusion = Some(conclusion.clone());
        let answer = f(&mut delivery);
        state.ended.put(id.clone(), delivery);
        Some(answer)
    }

    /// Forgets a pending delivery (its delivery failed).
    pub fn forget(&self, id: &RequestId) {
        lock(&self.state).live.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approvals_core::mask::MaskedView;
    use approvals_core::{Fingerprint, Identity, Risk, Timestamp};

    fn review(id: &str) -> Review {
        Review {
            id: RequestId::from_string(id.to_owned()),
            action: "a".to_owned(),
            description: String::new(),
            risk: Risk::Low,
            requester: Identity::new("r@example.com"),
            justification: None,
            arguments: MaskedView::from_masked(serde_json::Value::Null),
            fingerprint: Fingerprint::of("a", &serde_json::Value::Null, &Identity::new("r")),
            approvers: Vec::new(),
            quorum: 1,
            deny_reason_required: false,
            rule: None,
            requested_at: Timestamp::now(),
            deadline: Timestamp::now(),
            version: 1,
            editable: Vec::new(),
            argument_schema: None,
        }
    }

    #[test]
    fn deliveries_taken_up_from_elsewhere_are_updated_but_never_listed_and_are_bounded() {
        let ledger: Ledger<u32> = Ledger::new(2);
        assert!(ledger.resumed(&review("r1"), 7));
        assert!(!ledger.resumed(&review("r1"), 8), "taken up once");
        assert!(
            ledger.pending().is_empty(),
            "only the gate knows if it still waits"
        );
        assert!(!ledger.is_pending(&RequestId::from_string("r1")));
        let progress = Progress {
            approved_by: vec![Identity::new("a@example.com")],
            quorum: 2,
        };
        assert_eq!(
            ledger.progressed(&RequestId::from_string("r1"), &progress, |d| d.data),
            Some(7)
        );
        assert_eq!(
            ledger.concluded(&RequestId::from_string("r1"), &Conclusion::Expired, |d| d
                .data),
            Some(7)
        );
        assert!(
            !ledger.resumed(&review("r1"), 9),
            "concluded here: not taken up again"
        );
        for id in ["r2", "r3", "r4"] {
            assert!(ledger.resumed(&review(id), 0));
        }
        assert!(
            ledger.review(&RequestId::from_string("r2")).is_none(),
            "the oldest taken up is let go"
        );
    }

    #[test]
    fn concluded_deliveries_are_kept_up_to_the_bound_and_progress_never_follows_a_conclusion() {
        let ledger: Ledger<u32> = Ledger::new(2);
        let store = |id: &str, n: u32| {
            let review = Arc::new(review(id));
            let mut state = lock(&ledger.state);
            let order = state.next;
            state.next += 1;
            state.live.insert(
                review.id.clone(),
                (
                    order,
                    Delivery {
                        review,
                        data: n,
                        progress: None,
                        conclusion: None,
                    },
                ),
            );
        };
        for (n, id) in ["r1", "r2", "r3"].into_iter().enumerate() {
            store(id, u32::try_from(n).unwrap());
        }
        let ids: Vec<_> = ledger.pending().iter().map(|r| r.id.to_string()).collect();
        assert_eq!(ids, ["r1", "r2", "r3"]);
        for id in ["r1", "r2", "r3"] {
            assert!(
                ledger
                    .concluded(&RequestId::from_string(id), &Conclusion::Expired, |_| ())
                    .is_some()
            );
        }
        assert!(ledger.pending().is_empty());
        assert!(
            ledger.review(&RequestId::from_string("r1")).is_none(),
            "the oldest is let go"
        );
        assert_eq!(
            ledger.with(&RequestId::from_string("r3"), |d| d.data),
            Some(2)
        );
        let progress = Progress {
            approved_by: vec![Identity::new("a@example.com")],
            quorum: 2,
        };
        assert!(
            ledger
                .progressed(&RequestId::from_string("r3"), &progress, |_| ())
                .is_none()
        );
        assert_eq!(
            ledger.with(&RequestId::from_string("r3"), |d| d.conclusion.clone()),
            Some(Some(Conclusion::Expired))
        );
    }
}
