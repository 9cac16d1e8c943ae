//! A scripted approver for tests.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kit::lock;
use approvals_core::edit::{Edit, EditOutcome};
use approvals_core::{
    Ballot, Channel, ChannelError, Choice, Conclusion, Identity, RequestId, Review, VoteBox,
    VoteOutcome, async_trait,
};
use tokio::sync::Notify;

type Decide = dyn Fn(&Review) -> Option<Choice> + Send + Sync;

/// What a mock answers a request with.
enum Answer {
    Vote(Choice),
    Edit(serde_json::Value),
}

/// How a [`MockChannel`] answers each request.
pub enum Behaviour {
    /// Every voter approves.
    ApproveAll,
    /// The first voter denies with this reason.
    DenyAll(Option<String>),
    /// A function decides per request; `None` stays silent.
    Decide(Box<Decide>),
    /// One choice per request, in order; once the script runs out, silent.
    Script(VecDeque<Choice>),
    /// Never votes (the request expires, is cancelled or is decided
    /// elsewhere).
    Silent,
    /// The first voter approves with the arguments changed by this JSON
    /// merge patch (an edit, judged by the gate); the other voters then
    /// approve the edited version.
    ApproveWith(serde_json::Value),
}

impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::ApproveAll => f.write_str("ApproveAll"),
            Behaviour::DenyAll(reason) => f.debug_tuple("DenyAll").field(reason).finish(),
            Behaviour::Decide(_) => f.write_str("Decide(..)"),
            Behaviour::Script(script) => f.debug_tuple("Script").field(script).finish(),
            Behaviour::Silent => f.write_str("Silent"),
            Behaviour::ApproveWith(_) => f.write_str("ApproveWith(..)"),
        }
    }
}

/// A scripted approver for tests.
///
/// It decides each request by its [`Behaviour`], casting one ballot per
/// configured voter (`voting_as`), optionally after a delay, through the
/// gate's [`VoteBox`]. It records every request it was asked, every vote
/// outcome and every conclusion, with assertion helpers.
///
/// Clones share their records, so keep one clone for assertions and give the
/// other to the gate.
///
/// ```
/// use approvals_core::{ActionRequest, Gate, Error, audit::MemoryAudit};
/// use approvals_core::policy::{Policy, Rule, RequirementBuilder};
/// use approvals_backends::testing::MockChannel;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let approver = MockChannel::approve_all().voting_as(["bob@example.com"]);
/// let gate = Gate::builder()
///     .policy(Policy::new().rule(Rule::new("refunds").action("billing.refund")
///         .require(RequirementBuilder::new().approvers(["bob@example.com"]))))
///     .channel(approver.clone())
///     .audit(MemoryAudit::new())
///     .build();
/// let request = ActionRequest::new("billing.refund", 1_500u32).requester("agent:bot");
/// gate.run(request, |cents| async move { Ok::<_, Error>(cents) }).await?;
/// approver.assert_asked(1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MockChannel {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    behaviour: Mutex<Behaviour>,
    voters: Vec<Identity>,
    delay: Option<Duration>,
    log: Mutex<Log>,
    changed: Notify,
}

#[derive(Default)]
struct Log {
    asked: Vec<Arc<Review>>,
    outcomes: Vec<(Identity, VoteOutcome)>,
    edits: Vec<(Identity, EditOutcome)>,
    revisions: Vec<Arc<Review>>,
    escalations: Vec<(RequestId, Vec<Identity>)>,
    conclusions: Vec<(RequestId, Conclusion)>,
}

/// The voter a mock uses unless told otherwise.
const DEFAULT_VOTER: &str = "mock-approver";

impl MockChannel {
    /// An approver with the given behaviour, voting as `mock-approver`.
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: "mock".to_owned(),
                behaviour: Mutex::new(behaviour),
                voters: vec![Identity::new(DEFAULT_VOTER)],
                delay: None,
                log: Mutex::new(Log::default()),
                changed: Notify::new(),
            }),
        }
    }

    /// Approves every request.
    pub fn approve_all() -> Self {
        Self::new(Behaviour::ApproveAll)
    }

    /// Denies every request with `reason`.
    pub fn deny_all(reason: impl Into<String>) -> Self {
        Self::new(Behaviour::DenyAll(Some(reason.into())))
    }

    /// Decides each request with `decide`; `None` stays silent.
    pub fn decide(decide: impl Fn(&Review) -> Option<Choice> + Send + Sync + 'static) -> Self {
        Self::new(Behaviour::Decide(Box::new(decide)))
    }

    /// Answers the requests in order with `choices`, then stays silent.
    pub fn script(choices: impl IntoIterator<Item = Choice>) -> Self {
        Self::new(Behaviour::Script(choices.into_iter().collect()))
    }

    /// Approves every request with the arguments changed by `changes`, a
    /// JSON merge patch (`{"amount_cents": 42000}`): the first voter's edit
    /// goes to the gate ([`VoteBox::edit`]); the other voters approve the
    /// edited version. See [`edit_outcomes`](Self::edit_outcomes).
    pub fn approve_with(changes: serde_json::Value) -> Self {
        Self::new(Behaviour::ApproveWith(changes))
    }

    /// Never votes.
    pub fn silent() -> Self {
        Self::new(Behaviour::Silent)
    }

    /// Votes as these identities, each casting the same choice (for quorum).
    /// Call before sharing the approver.
    #[must_use]
    pub fn voting_as<I>(self, voters: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Identity>,
    {
        self.rebuild(|inner| inner.voters = voters.into_iter().map(Into::into).collect())
    }

    /// Waits this long after delivery before voting.
    #[must_use]
    pub fn with_delay(self, delay: Duration) -> Self {
        self.rebuild(|inner| inner.delay = Some(delay))
    }

    /// The channel name in records (default `mock`).
    #[must_use]
    pub fn named(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.rebuild(|inner| inner.name = name)
    }

    fn rebuild(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            change(inner);
            return self;
        }
        // Already shared: the builder methods are meant for set-up, so the
        // configured mock moves to a new record book with the same behaviour.
        let behaviour = std::mem::replace(&mut *lock(&self.inner.behaviour), Behaviour::Silent);
        let mut inner = Inner {
            name: self.inner.name.clone(),
            behaviour: Mutex::new(behaviour),
            voters: self.inner.voters.clone(),
            delay: self.inner.delay,
            log: Mutex::new(Log::default()),
            changed: Notify::new(),
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Replaces the behaviour for requests delivered from now on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.inner.behaviour) = behaviour;
    }

    /// Every request delivered so far, in order.
    pub fn asked(&self) -> Vec<Arc<Review>> {
        lock(&self.inner.log).asked.clone()
    }

    /// The last request delivered.
    pub fn last_request(&self) -> Option<Arc<Review>> {
        lock(&self.inner.log).asked.last().cloned()
    }

    /// What the gate answered to each vote this mock cast, with the voter.
    pub fn vote_outcomes(&self) -> Vec<(Identity, VoteOutcome)> {
        lock(&self.inner.log).outcomes.clone()
    }

    /// What the gate answered to each edit this mock handed in, with the
    /// editor.
    pub fn edit_outcomes(&self) -> Vec<(Identity, EditOutcome)> {
        lock(&self.inner.log).edits.clone()
    }

    /// Every new version of a request an accepted edit made, as the gate
    /// announced it to this channel.
    pub fn revisions(&self) -> Vec<Arc<Review>> {
        lock(&self.inner.log).revisions.clone()
    }

    /// Every conclusion the gate announced to this channel.
    pub fn conclusions(&self) -> Vec<(RequestId, Conclusion)> {
        lock(&self.inner.log).conclusions.clone()
    }

    /// Every escalation announced to this channel.
    pub fn escalations(&self) -> Vec<(RequestId, Vec<Identity>)> {
        lock(&self.inner.log).escalations.clone()
    }

    /// Waits until at least `count` requests have been delivered.
    pub async fn wait_asked(&self, count: usize) {
        loop {
            let changed = self.inner.changed.notified();
            if lock(&self.inner.log).asked.len() >= count {
                return;
            }
            changed.await;
        }
    }

    /// Panics unless exactly `count` requests were delivered.
    #[track_caller]
    pub fn assert_asked(&self, count: usize) {
        let asked = lock(&self.inner.log).asked.len();
        assert_eq!(
            asked, count,
            "the mock approver was asked {asked} times, expected {count}"
        );
    }

    /// Panics unless a request for `action` was delivered.
    #[track_caller]
    pub fn assert_asked_for(&self, action: &str) {
        let log = lock(&self.inner.log);
        let actions: Vec<&str> = log.asked.iter().map(|r| r.action.as_str()).collect();
        assert!(
            actions.contains(&action),
            "the mock approver was never asked for `{action}`; it was asked for {actions:?}"
        );
    }

    /// Panics if any request was delivered.
    #[track_caller]
    pub fn assert_not_asked(&self) {
        self.assert_asked(0);
    }

    fn choose(&self, request: &Review) -> Option<Answer> {
        let choice = match &mut *lock(&self.inner.behaviour) {
            Behaviour::ApproveWith(changes) => return Some(Answer::Edit(changes.clone())),
            Behaviour::ApproveAll => Some(Choice::Approve),
            Behaviour::DenyAll(reason) => Some(Choice::Deny {
                reason: reason.clone(),
            }),
            Behaviour::Decide(decide) => decide(request),
            Behaviour::Script(script) => script.pop_front(),
            Behaviour::Silent => None,
        };
        choice.map(Answer::Vote)
    }

    async fn answer(&self, request: &Review, votes: &VoteBox, answer: Answer) {
        match answer {
            Answer::Vote(choice) => self.vote(request, votes, choice, &self.inner.voters).await,
            Answer::Edit(changes) => {
                let Some((editor, others)) = self.inner.voters.split_first() else {
                    return;
                };
                let edit = Edit::new(request, editor.clone(), changes);
                let outcome = votes.edit(edit).await;
                let next = match &outcome {
                    EditOutcome::Accepted {
                        fingerprint,
                        conclusion: None,
                        ..
                    } => Some(*fingerprint),
                    _ => None,
                };
                lock(&self.inner.log).edits.push((editor.clone(), outcome));
                self.inner.changed.notify_waiters();
                if let Some(fingerprint) = next {
                    let mut revised = request.clone();
                    revised.fingerprint = fingerprint;
                    self.vote(&revised, votes, Choice::Approve, others).await;
                }
            }
        }
    }

    async fn vote(&self, request: &Review, votes: &VoteBox, choice: Choice, voters: &[Identity]) {
        for voter in voters {
            let ballot = Ballot::new(request, voter.clone(), choice.clone());
            let outcome = votes.cast(ballot).await;
            let concluded = matches!(
                &outcome,
                VoteOutcome::Counted {
                    conclusion: Some(_),
                    ..
                }
            );
            lock(&self.inner.log)
                .outcomes
                .push((voter.clone(), outcome));
            if concluded {
                break;
            }
        }
        self.inner.changed.notify_waiters();
    }
}

impl fmt::Debug for MockChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockChannel")
            .field("name", &self.inner.name)
            .field("behaviour", &*lock(&self.inner.behaviour))
            .field("voters", &self.inner.voters)
            .field("delay", &self.inner.delay)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for MockChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        let shared = Arc::new(request.clone());
        lock(&self.inner.log).asked.push(Arc::clone(&shared));
        self.inner.changed.notify_waiters();
        let Some(answer) = self.choose(request) else {
            return Ok(());
        };
        match self.inner.delay {
            None => self.answer(request, &votes, answer).await,
            Some(delay) => {
                let this = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    this.answer(&shared, &votes, answer).await;
                });
            }
        }
        Ok(())
    }

    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        lock(&self.inner.log)
            .revisions
            .push(Arc::new(request.clone()));
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn escalated(&self, request: &Review, added: &[Identity]) -> Result<(), ChannelError> {
        lock(&self.inner.log)
            .escalations
            .push((request.id.clone(), added.to_vec()));
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        lock(&self.inner.log)
            .conclusions
            .push((request.id.clone(), conclusion.clone()));
        self.inner.changed.notify_waiters();
        Ok(())
    }
}
