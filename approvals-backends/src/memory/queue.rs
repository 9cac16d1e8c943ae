//! An approver whose decisions come from test or app code.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use approvals_core::{
    ApprovalRequest, Approver, Ballot, ChannelError, Choice, Conclusion, Identity, RequestId,
    VoteBox, VoteOutcome, async_trait,
};
use tokio::sync::Notify;

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
/// use approvals_backends::memory::QueueApprover;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let (approver, inbox) = QueueApprover::new();
/// let gate = Gate::builder()
///     .policy(Policy::new().rule(Rule::new("keys").action("keys.rotate")
///         .require(RequirementBuilder::new().approvers(["sec@example.com"]))))
///     .approver(approver)
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
pub struct QueueApprover {
    shared: Arc<Shared>,
}

/// The test's or app's side of a [`QueueApprover`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct QueueHandle {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    votes: Option<VoteBox>,
    pending: Vec<Arc<ApprovalRequest>>,
    inbox: VecDeque<Arc<ApprovalRequest>>,
    concluded: HashMap<RequestId, Conclusion>,
    concluded_order: VecDeque<RequestId>,
}

/// How many conclusions a handle remembers.
const CONCLUDED_CAPACITY: usize = 10_000;

/// A vote the handle could not hand to the gate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The handle has seen no request with this id pending.
    #[error("no pending request with id {0}")]
    UnknownRequest(RequestId),
    /// No request has reached this queue yet, so it has no gate to vote with.
    #[error("this queue has not received any request yet, so it is not connected to a gate")]
    NotConnected,
}

impl QueueApprover {
    /// A new queue approver and its handle.
    pub fn new() -> (Self, QueueHandle) {
        let shared = Arc::new(Shared::default());
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
    pub fn pending(&self) -> Vec<Arc<ApprovalRequest>> {
        lock(&self.shared.state).pending.clone()
    }

    /// Waits for the next request not yet taken with this method (each
    /// delivered request is returned once across clones of the handle, even
    /// if it has concluded since).
    pub async fn next_request(&self) -> Arc<ApprovalRequest> {
        loop {
            let changed = self.shared.changed.notified();
            if let Some(request) = lock(&self.shared.state).inbox.pop_front() {
                return request;
            }
            changed.await;
        }
    }

    /// How a request ended, once the gate has announced it.
    pub fn conclusion(&self, id: &RequestId) -> Option<Conclusion> {
        lock(&self.shared.state).concluded.get(id).cloned()
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

    /// Votes on a pending request as `voter`, naming the fingerprint the
    /// request was delivered with.
    pub async fn vote(
        &self,
        id: &RequestId,
        voter: impl Into<Identity>,
        choice: Choice,
    ) -> Result<VoteOutcome, QueueError> {
        let (request, votes) = {
            let state = lock(&self.shared.state);
            let request = state
                .pending
                .iter()
                .find(|request| &request.id == id)
                .cloned()
                .ok_or_else(|| QueueError::UnknownRequest(id.clone()))?;
            (
                request,
                state.votes.clone().ok_or(QueueError::NotConnected)?,
            )
        };
        Ok(votes
            .cast(Ballot::new(&request, voter, choice, "queue"))
            .await)
    }

    /// Hands any ballot to the gate as it is (for example one naming a wrong
    /// fingerprint or an id that was never delivered), to see how the gate
    /// treats it.
    pub async fn cast(&self, ballot: Ballot) -> Result<VoteOutcome, QueueError> {
        let votes = lock(&self.shared.state)
            .votes
            .clone()
            .ok_or(QueueError::NotConnected)?;
        Ok(votes.cast(ballot).await)
    }
}

#[async_trait]
impl Approver for QueueApprover {
    fn name(&self) -> &str {
        "queue"
    }

    async fn deliver(&self, request: &ApprovalRequest, votes: VoteBox) -> Result<(), ChannelError> {
        {
            let mut state = lock(&self.shared.state);
            state.votes.get_or_insert(votes);
            let request = Arc::new(request.clone());
            state.pending.push(Arc::clone(&request));
            state.inbox.push_back(request);
        }
        self.shared.changed.notify_waiters();
        Ok(())
    }

    async fn concluded(
        &self,
        request: &ApprovalRequest,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        {
            let mut state = lock(&self.shared.state);
            state.pending.retain(|pending| pending.id != request.id);
            if state
                .concluded
                .insert(request.id.clone(), conclusion.clone())
                .is_none()
            {
                state.concluded_order.push_back(request.id.clone());
            }
            if state.concluded_order.len() > CONCLUDED_CAPACITY {
                if let Some(oldest) = state.concluded_order.pop_front() {
                    state.concluded.remove(&oldest);
                }
            }
        }
        self.shared.changed.notify_waiters();
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
