//! A channel whose decisions come from test or app code.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use approvals_core::edit::{Edit, EditOutcome};
use approvals_core::{
    Ballot, Channel, ChannelError, Choice, Conclusion, Fingerprint, Identity, Progress, RequestId,
    Review, VoteBox, VoteOutcome, async_trait,
};
use tokio::sync::Notify;

use crate::kit::{Ledger, NotAttached, lock};

/// A channel that queues requests for code to decide, like a review inbox.
///
/// Made in a pair with its [`QueueHandle`] (as `tower-test`'s mock pair): the
/// approver goes to the gate, the handle stays with the test or app, which
/// lists pending requests and votes as any identity. Votes go through the
/// gate's [`VoteBox`], so the gate's rules judge them exactly as they judge
/// votes from Slack or Teams.
///
/// ```
/// use approvals_core::{ActionRequest, Gate, Error, audit::MemoryAudit};
/// use approvals_core::policy::{Policy, Rule, RequirementBuilder};
/// use approvals_backends::testing::QueueChannel;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let (approver, inbox) = QueueChannel::new();
/// let gate = Gate::builder()
///     .policy(Policy::new().rule(Rule::new("keys").action("keys.rotate")
///         .require(RequirementBuilder::new().approvers(["sec@example.com"]))))
///     .channel(approver)
///     .audit(MemoryAudit::new())
///     .build();
///
/// let reviewer = tokio::spawn(async move {
///     let request = inbox.next_request().await;
///     inbox.approve(&request.id, "sec@example.com").await
/// });
/// let request = ActionRequest::new("keys.rotate", "k-1").requester("agent:ops");
/// gate.run(request, |_key| async { Ok::<_, Error>(()) }).await?;
/// assert!(reviewer.await.map(|vote| vote.is_ok_and(|v| v.counted())).unwrap_or(false));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct QueueChannel {
    shared: Arc<Shared>,
}

/// The test's or app's side of a [`QueueChannel`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct QueueHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    ledger: Ledger<()>,
    inbox: Mutex<VecDeque<Arc<Review>>>,
    changed: Notify,
}

/// How many conclusions a handle remembers.
const CONCLUDED_CAPACITY: usize = 10_000;

/// A vote the handle could not hand to the gate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The queue was never added to a gate, so it has no gate to vote with.
    #[error("this queue is not attached to a gate")]
    NotConnected,
}

impl From<NotAttached> for QueueError {
    fn from(_: NotAttached) -> Self {
        QueueError::NotConnected
    }
}

impl QueueChannel {
    /// A new queue channel and its handle.
    pub fn new() -> (Self, QueueHandle) {
        let shared = Arc::new(Shared {
            ledger: Ledger::new(CONCLUDED_CAPACITY),
            inbox: Mutex::new(VecDeque::new()),
            changed: Notify::new(),
        });
        (
            Self {
                shared: Arc::clone(&shared),
            },
            QueueHandle { shared },
        )
    }
}

impl QueueHandle {
    /// The requests delivered and not yet concluded, oldest first.
    pub fn pending(&self) -> Vec<Arc<Review>> {
        self.shared.ledger.pending()
    }

    /// Waits for the next request not yet taken with this method (each
    /// delivered request is returned once across clones of the handle, even
    /// if it has concluded since).
    pub async fn next_request(&self) -> Arc<Review> {
        loop {
            let changed = self.shared.changed.notified();
            if let Some(request) = lock(&self.shared.inbox).pop_front() {
                return request;
            }
            changed.await;
        }
    }

    /// How a request ended, once the gate has announced it.
    pub fn conclusion(&self, id: &RequestId) -> Option<Conclusion> {
        self.shared
            .ledger
            .with(id, |delivery| delivery.conclusion.clone())
            .flatten()
    }

    /// Who has approved a pending request so far, as the gate last reported
    /// it (from any channel).
    pub fn progress(&self, id: &RequestId) -> Option<Progress> {
        self.shared
            .ledger
            .with(id, |delivery| delivery.progress.clone())
            .flatten()
    }

    /// Waits until the gate announces how `id` ended.
    pub async fn wait_concluded(&self, id: &RequestId) -> Conclusion {
        loop {
            let changed = self.shared.changed.notified();
            if let Some(conclusion) = self.conclusion(id) {
                return conclusion;
            }
            changed.await;
        }
    }

    /// Approves `id` as `voter`.
    pub async fn approve(
        &self,
        id: &RequestId,
        voter: impl Into<Identity>,
    ) -> Result<VoteOutcome, QueueError> {
        self.vote(id, voter, Choice::Approve).await
    }

    /// Denies `id` as `voter` with `reason`.
    pub async fn deny(
        &self,
        id: &RequestId,
        voter: impl Into<Identity>,
        reason: impl Into<String>,
    ) -> Result<VoteOutcome, QueueError> {
        self.vote(id, voter, Choice::deny(reason)).await
    }

    /// Votes on request `id` as `voter`, naming the fingerprint the request
    /// was delivered here with. An id this queue was never given still goes
    /// to the gate, which refuses and records it (the ballot then names the
    /// fingerprint of no call at all).
    pub async fn vote(
        &self,
        id: &RequestId,
        voter: impl Into<Identity>,
        choice: Choice,
    ) -> Result<VoteOutcome, QueueError> {
        let voter = voter.into();
        let fingerprint = self.shared.ledger.review(id).map_or_else(
            || Fingerprint::of("", &serde_json::Value::Null, &voter),
            |review| review.fingerprint,
        );
        Ok(self
            .shared
            .ledger
            .cast(Ballot {
                request_id: id.clone(),
                fingerprint,
                voter,
                choice,
            })
            .await?)
    }

    /// Approves `id` as `voter` with the arguments changed by `changes`, a
    /// JSON merge patch (`{"amount_cents": 42000}`): the gate judges the
    /// edit ([`VoteBox::edit`]) and, if it accepts it, the edited call is a
    /// new version of the request that this counts as `voter`'s approval
    /// of. Names the fingerprint of the version delivered (or revised)
    /// here last.
    pub async fn approve_with(
        &self,
        id: &RequestId,
        voter: impl Into<Identity>,
        changes: serde_json::Value,
    ) -> Result<EditOutcome, QueueError> {
        let editor = voter.into();
        let fingerprint = self.shared.ledger.review(id).map_or_else(
            || Fingerprint::of("", &serde_json::Value::Null, &editor),
            |review| review.fingerprint,
        );
        Ok(self
            .shared
            .ledger
            .edit(Edit {
                request_id: id.clone(),
                fingerprint,
                editor,
                changes,
            })
            .await?)
    }

    /// The review of `id` as delivered here, or as last revised by an
    /// accepted edit.
    pub fn review(&self, id: &RequestId) -> Option<Arc<Review>> {
        self.shared.ledger.review(id)
    }

    /// Hands any ballot to the gate as it is (for example one naming a wrong
    /// fingerprint or an id that was never delivered), to see how the gate
    /// treats it.
    pub async fn cast(&self, ballot: Ballot) -> Result<VoteOutcome, QueueError> {
        Ok(self.shared.ledger.cast(ballot).await?)
    }
}

#[async_trait]
impl Channel for QueueChannel {
    fn name(&self) -> &str {
        "queue"
    }

    fn attach(&self, votes: VoteBox) {
        self.shared.ledger.attach(votes);
    }

    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        let review = self.shared.ledger.delivered(request, votes, ());
        lock(&self.shared.inbox).push_back(review);
        self.shared.changed.notify_waiters();
        Ok(())
    }

    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        self.shared.ledger.revised(request, |_| ());
        self.shared.changed.notify_waiters();
        Ok(())
    }

    async fn progress(&self, request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        self.shared.ledger.progressed(&request.id, progress, |_| ());
        self.shared.changed.notify_waiters();
        Ok(())
    }

    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        self.shared
            .ledger
            .concluded(&request.id, conclusion, |_| ());
        self.shared.changed.notify_waiters();
        Ok(())
    }
}
