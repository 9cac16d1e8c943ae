//! The Slack channel: posts requests, remembers their messages, updates them
//! when the request ends.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use approvals_core::{
    Channel, ChannelError, Conclusion, Identity, Progress, RequestId, Review, Timestamp, VoteBox,
    async_trait,
};
use lru::LruCache;
use tokio_util::task::TaskTracker;

use crate::kit::{Delivery, Ledger, lock};

use super::identity::{EmailIdentities, SlackIdentities};
use super::inbound::InteractivityHandler;
use super::outbound::{PostedMessage, SlackClient, SlackError};
use super::render::{self, Extras};

/// The channel name in records and logs.
pub(crate) const CHANNEL: &str = "slack";

/// How many concluded requests are remembered, so that a late click is
/// answered "already concluded" and the message can still be found.
const CONCLUDED_CAPACITY: usize = 10_000;

/// How many approvers are looked up for mentions, at most, per request.
const MENTION_LOOKUPS: usize = 20;

/// How many Slack user ids found by email are remembered for mentions.
const MENTION_CAPACITY: usize = 10_000;

/// A source of Unix time in seconds, for the signature's replay window.
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The Slack channel.
///
/// Made in a pair with its [`InteractivityHandler`]: the approver goes to the
/// gate, the handler is served at the Slack app's interactivity request URL.
///
/// - `deliver` posts a Block Kit message (the masked request, Approve and
///   Deny buttons) to the configured channel with `chat.postMessage`, and
///   remembers where it went; a failed post fails the request closed.
/// - A click is verified, acknowledged at once, and then handled: the Slack
///   user is mapped to an [`Identity`], the vote goes to the gate, and a vote
///   the gate refuses is explained to the clicker alone
///   (`chat.postEphemeral`). Deny opens a modal asking for a reason.
/// - When the request ends, the message is replaced for everyone
///   (`chat.update`) by its outcome, without buttons.
///
/// ```no_run
/// use approvals_backends::slack::{SlackChannel, SlackClient, StaticIdentities};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = SlackClient::new(std::env::var("SLACK_BOT_TOKEN")?)?;
/// let approver = SlackChannel::builder(
///     client,
///     "C0123456789",
///     std::env::var("SLACK_SIGNING_SECRET")?,
/// )
/// .identities(StaticIdentities::new().user("U024BE7LH", "alice@example.com"))
/// .build();
/// let interactivity = approver.inbound();
/// // `approver` goes to `Gate::builder().channel(..)`;
/// // `interactivity.router("/slack/interactivity")` is merged into the app's axum router.
/// # let _ = (approver, interactivity); Ok(()) }
/// ```
#[derive(Clone)]
pub struct SlackChannel {
    shared: Arc<Shared>,
}

impl fmt::Debug for SlackChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackChannel")
            .field("channel", &self.shared.channel)
            .field("base_url", &self.shared.client.base_url())
            .field("pending", &self.shared.ledger.pending().len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`SlackChannel`] and its [`InteractivityHandler`].
pub struct SlackChannelBuilder {
    client: SlackClient,
    channel: String,
    signing_secret: Vec<u8>,
    identities: Option<Arc<dyn SlackIdentities>>,
    clock: Clock,
    replay_window: Duration,
    max_body_bytes: usize,
    replay_cache_capacity: usize,
    mention_approvers: bool,
}

impl fmt::Debug for SlackChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackChannelBuilder")
            .field("channel", &self.channel)
            .field("replay_window", &self.replay_window)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("replay_cache_capacity", &self.replay_cache_capacity)
            .field("mention_approvers", &self.mention_approvers)
            .finish_non_exhaustive()
    }
}

impl SlackChannelBuilder {
    /// How Slack users become identities (default: [`EmailIdentities`], the
    /// profile email read with `users.info`).
    #[must_use]
    pub fn identities(mut self, identities: impl SlackIdentities + 'static) -> Self {
        self.identities = Some(Arc::new(identities));
        self
    }

    /// The clock for the replay window, in Unix seconds (default: the system
    /// clock). Tests fix it.
    #[must_use]
    pub fn clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How far a request's timestamp may be from now (default 300 s, as
    /// Slack recommends).
    #[must_use]
    pub fn replay_window(mut self, window: Duration) -> Self {
        self.replay_window = window;
        self
    }

    /// How many signed requests the replay cache remembers at most (default
    /// [`DEFAULT_REPLAY_CACHE_CAPACITY`], 100,000).
    ///
    /// Each handled request is remembered until its timestamp leaves the
    /// replay window, so that a second delivery of it acts nothing. When the
    /// cache is full of requests still within the window, a new request is
    /// refused with `503 Service Unavailable` and `Retry-After` (the time
    /// until the oldest leaves the window) rather than an unexpired one being
    /// forgotten, which would let it be replayed. Size it above the clicks
    /// expected within one window; each entry takes about 200 bytes.
    #[must_use]
    pub fn replay_cache_capacity(mut self, capacity: usize) -> Self {
        self.replay_cache_capacity = capacity;
        self
    }

    /// The largest request body accepted (default 256 KiB); larger ones are
    /// refused with 413 before their signature is checked.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Mentions the approvers in the message (`<@U…>`) so that Slack
    /// notifies them, finding each by email with `users.lookupByEmail`
    /// (default: off; approvers are shown by identity).
    #[must_use]
    pub fn mention_approvers(mut self, mention: bool) -> Self {
        self.mention_approvers = mention;
        self
    }

    /// Builds the channel; its interactivity handler is
    /// [`SlackChannel::inbound`].
    pub fn build(self) -> SlackChannel {
        let identities = self
            .identities
            .unwrap_or_else(|| Arc::new(EmailIdentities::new(self.client.clone())));
        let shared = Arc::new(Shared {
            client: self.client,
            channel: self.channel,
            signing_secret: self.signing_secret.into_boxed_slice(),
            identities,
            clock: self.clock,
            replay_window: i64::try_from(self.replay_window.as_secs()).unwrap_or(i64::MAX),
            max_body_bytes: self.max_body_bytes,
            mention_approvers: self.mention_approvers,
            ledger: Ledger::new(CONCLUDED_CAPACITY),
            mentions: Mutex::new(Mentions::default()),
            seen: Mutex::new(SeenSignatures::new(self.replay_cache_capacity)),
            background: TaskTracker::new(),
        });
        SlackChannel { shared }
    }
}

impl SlackChannel {
    /// Starts building a Slack channel that posts to `channel` (an id such
    /// as `C0123456789`, or a name) with `client`, and checks inbound
    /// requests with the app's `signing_secret`.
    pub fn builder(
        client: SlackClient,
        channel: impl Into<String>,
        signing_secret: impl Into<Vec<u8>>,
    ) -> SlackChannelBuilder {
        SlackChannelBuilder {
            client,
            channel: channel.into(),
            signing_secret: signing_secret.into(),
            identities: None,
            clock: Arc::new(system_clock),
            replay_window: Duration::from_secs(300),
            max_body_bytes: 256 * 1024,
            replay_cache_capacity: DEFAULT_REPLAY_CACHE_CAPACITY,
            mention_approvers: false,
        }
    }

    /// The handler of Slack's interactivity requests (button clicks, the
    /// deny-reason modal), sharing this channel's state. Serve it at the
    /// app's Interactivity Request URL.
    pub fn inbound(&self) -> InteractivityHandler {
        InteractivityHandler::new(Arc::clone(&self.shared))
    }

    /// Where the message of request `id` was posted, if it was.
    pub fn message(&self, id: &RequestId) -> Option<PostedMessage> {
        self.shared
            .ledger
            .with(id, |delivery| delivery.data.message.clone())
            .flatten()
    }

    /// Waits until the work started after acknowledging clicks, and the
    /// message updates, have finished (for graceful shutdown, and tests).
    pub async fn drain(&self) {
        self.shared.drain().await;
    }
}

fn system_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[async_trait]
impl Channel for SlackChannel {
    fn name(&self) -> &str {
        CHANNEL
    }

    fn attach(&self, votes: VoteBox) {
        self.shared.ledger.attach(votes);
    }

    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        let shared = &self.shared;
        let mentions = if shared.mention_approvers {
            shared.mentions_for(&request.approvers).await
        } else {
            Vec::new()
        };
        // Registered before posting, so that a click racing the answer to
        // `chat.postMessage` finds its request.
        shared.ledger.delivered(
            request,
            votes,
            Posted {
                mentions,
                ..Posted::default()
            },
        );
        let Some(message) = shared.ledger.with(&request.id, |d| render_delivery(d)) else {
            return Err(ChannelError::unavailable(CHANNEL, "the delivery was lost"));
        };
        // The post runs in a task of its own: if the caller stops waiting
        // while it is under way, the message is still posted, so its answer
        // is still needed to replace it with "cancelled".
        let id = request.id.clone();
        let version = request.version;
        let task = Arc::clone(shared);
        let post = shared.spawn_tracked(async move {
            let posted = task.client.post_message(&task.channel, &message).await?;
            // If the request ended, was edited or was approved while it was
            // being posted, the message is brought up to date at once.
            let late = task.ledger.with(&id, |delivery| {
                delivery.data.message = Some(posted.clone());
                let changed = delivery.conclusion.is_some()
                    || delivery.review.version != version
                    || delivery.progress.is_some();
                changed.then(|| render_delivery(delivery))
            });
            if let Some(Some(concluded)) = late {
                task.update_later(id, posted, concluded);
            }
            Ok::<_, SlackError>(())
        });
        let Some(post) = post else {
            shared.ledger.forget(&request.id);
            return Err(ChannelError::unavailable(CHANNEL, "no Tokio runtime"));
        };
        match post.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                tracing::warn!(request_id = %request.id, %error, "the Slack message could not be posted");
                shared.ledger.forget(&request.id);
                Err(channel_error(&error))
            }
            Err(_) => Err(ChannelError::unavailable(
                CHANNEL,
                "posting the message stopped unexpectedly",
            )),
        }
    }

    async fn escalated(&self, request: &Review, added: &[Identity]) -> Result<(), ChannelError> {
        let update = self.shared.ledger.with(&request.id, |delivery| {
            delivery.data.escalated.extend(added.iter().cloned());
            match (&delivery.data.message, &delivery.conclusion) {
                (Some(posted), None) => Some((posted.clone(), render_delivery(delivery))),
                _ => None,
            }
        });
        if let Some(Some((posted, message))) = update {
            self.shared
                .update_later(request.id.clone(), posted, message);
        }
        Ok(())
    }

    /// An accepted edit made a new version: the message shows it (its
    /// version, masked arguments and fingerprint, which the buttons carry
    /// from now on), with no approvals yet (those of the version before do
    /// not count for it; the gate reports the editor's next).
    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        let update = self.shared.ledger.revised(request, |delivery| {
            delivery.progress = None;
            match delivery.conclusion {
                None => refreshed(delivery),
                Some(_) => None,
            }
        });
        if let Some(Some((posted, message))) = update {
            self.shared
                .update_later(request.id.clone(), posted, message);
        }
        Ok(())
    }

    async fn progress(&self, request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        let update = self
            .shared
            .ledger
            .progressed(&request.id, progress, |delivery| refreshed(delivery));
        if let Some(Some((posted, message))) = update {
            self.shared
                .update_later(request.id.clone(), posted, message);
        }
        Ok(())
    }

    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        let update = self
            .shared
            .ledger
            .concluded(&request.id, conclusion, |delivery| {
                delivery.data.concluded_at = Some(Timestamp::now());
                // An edit that concluded the request at once made a version
                // this message never showed: the outcome shows it.
                if request.version > delivery.review.version {
                    delivery.review = Arc::new(request.clone());
                }
                refreshed(delivery)
            });
        // The gate waits for every channel before the caller resumes: the
        // update goes to a task of its own. A message still being posted is
        // updated when its answer arrives.
        if let Some(Some((posted, message))) = update {
            self.shared
                .update_later(request.id.clone(), posted, message);
        }
        Ok(())
    }

    fn receipt(&self, request: &RequestId) -> Option<serde_json::Value> {
        let receipt = self.shared.ledger.with(request, |delivery| {
            delivery.data.message.clone().map(|message| Receipt {
                message,
                mentions: delivery.data.mentions.clone(),
            })
        })??;
        serde_json::to_value(receipt).ok()
    }

    fn resume(&self, request: &Review, receipt: &serde_json::Value) {
        let Ok(receipt) = serde_json::from_value::<Receipt>(receipt.clone()) else {
            tracing::warn!(request_id = %request.id, "a stored Slack receipt could not be read");
            return;
        };
        self.shared.ledger.resumed(
            request,
            Posted {
                message: Some(receipt.message),
                mentions: receipt.mentions,
                ..Posted::default()
            },
        );
    }
}

/// What another replica needs to update a posted message: where it is,
/// and whom it mentions.
#[derive(serde::Serialize, serde::Deserialize)]
struct Receipt {
    message: PostedMessage,
    #[serde(default)]
    mentions: Vec<(Identity, String)>,
}

/// A client error as the gate sees it: transient faults make the channel
/// unavailable, refusals (bad channel, scopes, blocks) reject the request.
fn channel_error(error: &SlackError) -> ChannelError {
    if error.is_transient() {
        ChannelError::unavailable(CHANNEL, error.to_string())
    } else {
        ChannelError::rejected(CHANNEL, error.to_string())
    }
}

/// What the approver and its handler share.
pub(crate) struct Shared {
    pub(crate) client: SlackClient,
    pub(crate) channel: String,
    pub(crate) signing_secret: Box<[u8]>,
    pub(crate) identities: Arc<dyn SlackIdentities>,
    pub(crate) clock: Clock,
    pub(crate) replay_window: i64,
    pub(crate) max_body_bytes: usize,
    mention_approvers: bool,
    pub(crate) ledger: Ledger<Posted>,
    mentions: Mutex<Mentions>,
    pub(crate) seen: Mutex<SeenSignatures>,
    pub(crate) background: TaskTracker,
}

impl Shared {
    /// The review a click names: as delivered here, else as the gate holds
    /// it pending (a message another replica or an earlier run posted).
    pub(crate) fn pending_review(&self, id: &RequestId) -> Option<Arc<Review>> {
        self.ledger
            .votes()
            .and_then(|votes| votes.pending_request(id))
    }

    /// Waits until the background work has finished.
    pub(crate) async fn drain(&self) {
        self.background.close();
        self.background.wait().await;
        self.background.reopen();
    }

    /// Runs `work` after the current request has been answered.
    pub(crate) fn spawn_background(&self, work: impl Future<Output = ()> + Send + 'static) {
        if self.spawn_tracked(work).is_none() {
            tracing::warn!("no Tokio runtime: Slack background work dropped");
        }
    }

    /// Runs `work` in a task that [`Shared::drain`] waits for; `None`
    /// outside a Tokio runtime.
    pub(crate) fn spawn_tracked<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Option<tokio::task::JoinHandle<T>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(self.background.spawn_on(work, &runtime))
    }

    fn update_later(&self, id: RequestId, posted: PostedMessage, message: render::Message) {
        let client = self.client.clone();
        self.spawn_background(async move {
            if let Err(error) = client
                .update_message(&posted.channel, &posted.ts, &message)
                .await
            {
                tracing::warn!(request_id = %id, %error, "the Slack message could not be updated");
            }
        });
    }

    /// Slack user ids for approvers that look like emails, found with
    /// `users.lookupByEmail` and remembered.
    async fn mentions_for(&self, approvers: &[Identity]) -> Vec<(Identity, String)> {
        let mut found = Vec::new();
        for identity in approvers
            .iter()
            .filter(|identity| identity.as_str().contains('@'))
            .take(MENTION_LOOKUPS)
        {
            let known = lock(&self.mentions).users.get(identity).cloned();
            let user = match known {
                Some(user) => user,
                None => match self.client.lookup_by_email(identity.as_str()).await {
                    Ok(user) if !user.deleted => {
                        lock(&self.mentions).remember(identity.clone(), user.id.clone());
                        user.id
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        tracing::debug!(%error, "an approver could not be found in Slack by email");
                        continue;
                    }
                },
            };
            found.push((identity.clone(), user));
        }
        found
    }
}

/// What this channel keeps per request beside the review.
#[derive(Default, Clone)]
pub(crate) struct Posted {
    /// Where the message went, once `chat.postMessage` has answered.
    pub(crate) message: Option<PostedMessage>,
    escalated: Vec<Identity>,
    mentions: Vec<(Identity, String)>,
    concluded_at: Option<Timestamp>,
}

/// Where a posted message is and what now replaces it; `None` while it is
/// still being posted (it is brought up to date when the post answers).
fn refreshed(delivery: &Delivery<Posted>) -> Option<(PostedMessage, render::Message)> {
    delivery
        .data
        .message
        .clone()
        .map(|posted| (posted, render_delivery(delivery)))
}

/// The message of a delivery as it should read now: the request with its
/// buttons and the approvals so far, or how it ended.
fn render_delivery(delivery: &Delivery<Posted>) -> render::Message {
    let approved_by = delivery
        .progress
        .as_ref()
        .map_or(&[][..], |progress| &progress.approved_by);
    let extras = Extras {
        escalated: &delivery.data.escalated,
        mentions: &delivery.data.mentions,
        approved_by,
    };
    match &delivery.conclusion {
        None => render::request_message(&delivery.review, &extras),
        Some(conclusion) => render::concluded_message(
            &delivery.review,
            conclusion,
            delivery.data.concluded_at.unwrap_or_else(Timestamp::now),
            &extras,
        ),
    }
}

struct Mentions {
    users: LruCache<Identity, String>,
}

impl Default for Mentions {
    fn default() -> Self {
        Self {
            users: LruCache::new(NonZeroUsize::new(MENTION_CAPACITY).unwrap_or(NonZeroUsize::MIN)),
        }
    }
}

impl Mentions {
    fn remember(&mut self, identity: Identity, user: String) {
        self.users.put(identity, user);
    }
}

/// The replay cache is full: every remembered request is still within the
/// replay window, and forgetting one would let it be replayed. New requests
/// are refused (503, with `Retry-After`) until the oldest expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the replay cache is full ({capacity} requests within the replay window); new requests are refused for {retry_after_secs} s"
)]
pub struct ReplayCacheFull {
    /// How many requests the cache holds
    /// ([`SlackChannelBuilder::replay_cache_capacity`]).
    pub capacity: usize,
    /// Seconds until the oldest remembered request leaves the window.
    pub retry_after_secs: u64,
}

/// The default of [`SlackChannelBuilder::replay_cache_capacity`].
pub const DEFAULT_REPLAY_CACHE_CAPACITY: usize = 100_000;

/// Signatures of requests already handled within the replay window: Slack
/// signs each request once, so a second delivery of the same signed request
/// is a duplicate (or a replay) and is acknowledged without acting again.
///
/// A signature is forgotten only once its timestamp is outside the window,
/// when the signature check refuses the request anyway. The number held is
/// bounded: when the cache is full of unexpired signatures, new requests are
/// refused rather than an unexpired one forgotten (which would let it be
/// replayed).
pub(crate) struct SeenSignatures {
    seen: HashMap<String, i64>,
    /// The same signatures by timestamp, oldest first, to forget expired
    /// ones.
    by_time: BTreeSet<(i64, String)>,
    capacity: usize,
}

/// What the replay cache says of a signed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Not seen within the window: handle it (it is now remembered).
    First,
    /// Seen before: a duplicate or a replay.
    Again,
}

impl SeenSignatures {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            seen: HashMap::new(),
            by_time: BTreeSet::new(),
            capacity,
        }
    }

    /// Records `signature` sent at `timestamp`, after forgetting signatures
    /// whose timestamp is more than `window` seconds before `now`.
    pub(crate) fn check(
        &mut self,
        signature: &str,
        timestamp: i64,
        now: i64,
        window: i64,
    ) -> Result<Seen, ReplayCacheFull> {
        while let Some((at, _)) = self.by_time.first() {
            if now.saturating_sub(*at) <= window {
                break;
            }
            if let Some((_, oldest)) = self.by_time.pop_first() {
                self.seen.remove(&oldest);
            }
        }
        if self.seen.contains_key(signature) {
            return Ok(Seen::Again);
        }
        if self.seen.len() >= self.capacity {
            let oldest = self.by_time.first().map_or(now, |(at, _)| *at);
            let expires = oldest.saturating_add(window).saturating_add(1);
            return Err(ReplayCacheFull {
                capacity: self.capacity,
                retry_after_secs: expires.saturating_sub(now).max(1).unsigned_abs(),
            });
        }
        self.seen.insert(signature.to_owned(), timestamp);
        self.by_time.insert((timestamp, signature.to_owned()));
        Ok(Seen::First)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_seen_once_within_the_window() {
        let mut seen = SeenSignatures::new(10);
        assert_eq!(seen.check("v0=a", 100, 100, 300), Ok(Seen::First));
        assert_eq!(seen.check("v0=a", 100, 200, 300), Ok(Seen::Again));
        assert_eq!(seen.check("v0=b", 150, 200, 300), Ok(Seen::First));
        // Past the window the signature is forgotten (the signature check
        // refuses such a request anyway).
        assert_eq!(seen.check("v0=a", 100, 401, 300), Ok(Seen::First));
        assert_eq!(seen.seen.len(), 2);
        assert_eq!(seen.by_time.len(), 2);
    }

    #[test]
    fn a_full_cache_refuses_rather_than_forgets() {
        let mut seen = SeenSignatures::new(2);
        // Out of order: the one sent earliest is the one to expire first.
        assert_eq!(seen.check("v0=a", 120, 130, 300), Ok(Seen::First));
        assert_eq!(seen.check("v0=b", 100, 130, 300), Ok(Seen::First));
        assert_eq!(
            seen.check("v0=c", 130, 130, 300),
            Err(ReplayCacheFull {
                capacity: 2,
                retry_after_secs: 271
            })
        );
        assert_eq!(seen.check("v0=a", 120, 400, 300), Ok(Seen::Again));
        assert_eq!(seen.check("v0=b", 100, 400, 300), Ok(Seen::Again));
        // `b` leaves the window first; `a` is still remembered.
        assert_eq!(seen.check("v0=c", 130, 401, 300), Ok(Seen::First));
        assert_eq!(seen.check("v0=a", 120, 401, 300), Ok(Seen::Again));
    }
}
