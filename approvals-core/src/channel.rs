//! The channel trait: how requests reach people and votes reach the gate.

use std::sync::Arc;

use async_trait::async_trait;

use crate::gate::VoteBox;
use crate::{Conclusion, Identity, Progress, RequestId, Review};

/// A channel that delivers approval requests to people and hands their votes
/// to the gate.
///
/// A channel never judges a vote: it translates its user into an
/// [`Identity`], passes a [`Ballot`](crate::Ballot) to the [`VoteBox`], and
/// shows the voter the answer (for example "you cannot approve your own
/// request"). The gate decides, then tells every channel how the request
/// ended so that it can update its message.
///
/// `deliver` should return once the request has been handed over (a message
/// posted, a card sent), not wait for votes. An error, or a panic, fails the
/// request closed.
///
/// A channel never answers a vote itself, not even for a request it has
/// never heard of: every ballot goes to the gate, which judges and records
/// it. The gate hands each channel its [`VoteBox`] when it is built
/// ([`attach`](Channel::attach)) and again with every delivery; the box
/// stamps the channel's name on each ballot cast into it.
#[async_trait]
pub trait Channel: Send + Sync {
    /// A short name for records and logs (`"slack"`, `"mock"`).
    fn name(&self) -> &str;

    /// The gate this channel was added to is built: `votes` is where the
    /// channel casts every ballot, including those for requests it did not
    /// deliver. Called once per gate, before any delivery.
    fn attach(&self, _votes: VoteBox) {}

    /// Delivers a new request. `votes` is the same box as the one attached.
    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError>;

    /// An approval counted and the request is still pending: `progress` is
    /// the gate's tally, whichever channel the vote came through.
    async fn progress(&self, _request: &Review, _progress: &Progress) -> Result<(), ChannelError> {
        Ok(())
    }

    /// The request was escalated: `added` may now vote as well.
    async fn escalated(&self, _request: &Review, _added: &[Identity]) -> Result<(), ChannelError> {
        Ok(())
    }

    /// A reviewer's edit made a new version of the request: `request` is
    /// it, with its own arguments (masked), fingerprint, version and
    /// requirement. Votes must name the new fingerprint: a channel that
    /// keeps showing the old version gets its votes refused as
    /// [`FingerprintMismatch`](crate::Refusal::FingerprintMismatch), so it
    /// should show this one. The editor's approval of it follows as
    /// [`progress`](Channel::progress).
    async fn revised(&self, _request: &Review) -> Result<(), ChannelError> {
        Ok(())
    }

    /// The request ended; update or withdraw what was delivered.
    async fn concluded(
        &self,
        _request: &Review,
        _conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        Ok(())
    }

    /// What this channel needs to find a delivery again from another
    /// process (a message's channel and timestamp, an activity id), as
    /// JSON; `None` if it needs nothing. Asked once `deliver` has returned.
    ///
    /// With a store, the gate keeps it with the request, so that whichever
    /// replica later tells the channel of an approval, an escalation or the
    /// conclusion can update the message another process delivered (see
    /// [`resume`](Channel::resume)). It is stored as given: it must hold
    /// nothing a reviewer should not see.
    fn receipt(&self, _request: &RequestId) -> Option<serde_json::Value> {
        None
    }

    /// Takes up a delivery another process made: `receipt` is what
    /// [`receipt`](Channel::receipt) answered there. The gate calls it
    /// before [`progress`](Channel::progress),
    /// [`escalated`](Channel::escalated) or
    /// [`concluded`](Channel::concluded) of a stored request; a channel
    /// that already holds the delivery ignores it, as it ignores a receipt
    /// it cannot read.
    fn resume(&self, _request: &Review, _receipt: &serde_json::Value) {}
}

#[async_trait]
impl<T: Channel + ?Sized> Channel for &T {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn attach(&self, votes: VoteBox) {
        (**self).attach(votes);
    }
    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        (**self).deliver(request, votes).await
    }
    async fn progress(&self, request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        (**self).progress(request, progress).await
    }
    async fn escalated(&self, request: &Review, added: &[Identity]) -> Result<(), ChannelError> {
        (**self).escalated(request, added).await
    }
    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        (**self).revised(request).await
    }
    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        (**self).concluded(request, conclusion).await
    }
    fn receipt(&self, request: &RequestId) -> Option<serde_json::Value> {
        (**self).receipt(request)
    }
    fn resume(&self, request: &Review, receipt: &serde_json::Value) {
        (**self).resume(request, receipt);
    }
}

#[async_trait]
impl<T: Channel + ?Sized> Channel for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn attach(&self, votes: VoteBox) {
        (**self).attach(votes);
    }
    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        (**self).deliver(request, votes).await
    }
    async fn progress(&self, request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        (**self).progress(request, progress).await
    }
    async fn escalated(&self, request: &Review, added: &[Identity]) -> Result<(), ChannelError> {
        (**self).escalated(request, added).await
    }
    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        (**self).revised(request).await
    }
    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        (**self).concluded(request, conclusion).await
    }
    fn receipt(&self, request: &RequestId) -> Option<serde_json::Value> {
        (**self).receipt(request)
    }
    fn resume(&self, request: &Review, receipt: &serde_json::Value) {
        (**self).resume(request, receipt);
    }
}

#[async_trait]
impl<T: Channel + ?Sized> Channel for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn attach(&self, votes: VoteBox) {
        (**self).attach(votes);
    }
    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        (**self).deliver(request, votes).await
    }
    async fn progress(&self, request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        (**self).progress(request, progress).await
    }
    async fn escalated(&self, request: &Review, added: &[Identity]) -> Result<(), ChannelError> {
        (**self).escalated(request, added).await
    }
    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        (**self).revised(request).await
    }
    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        (**self).concluded(request, conclusion).await
    }
    fn receipt(&self, request: &RequestId) -> Option<serde_json::Value> {
        (**self).receipt(request)
    }
    fn resume(&self, request: &Review, receipt: &serde_json::Value) {
        (**self).resume(request, receipt);
    }
}

/// A channel could not deliver or update a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The channel's service could not be reached or answered with an error.
    #[error("channel `{channel}` is unavailable: {message}")]
    Unavailable {
        /// The channel's name.
        channel: String,
        /// What went wrong (no argument values).
        message: String,
    },
    /// The channel refused the request (bad configuration, a limit).
    #[error("channel `{channel}` rejected the request: {message}")]
    Rejected {
        /// The channel's name.
        channel: String,
        /// What went wrong (no argument values).
        message: String,
    },
    /// The channel panicked while delivering.
    #[error("channel `{channel}` panicked")]
    Panicked {
        /// The channel's name.
        channel: String,
    },
    /// The gate has no channel to deliver approval requests to.
    #[error("no channel is configured")]
    NoChannel,
}

impl ChannelError {
    /// An unavailable channel.
    pub fn unavailable(channel: impl Into<String>, message: impl Into<String>) -> Self {
        ChannelError::Unavailable {
            channel: channel.into(),
            message: message.into(),
        }
    }

    /// A channel that rejected the request.
    pub fn rejected(channel: impl Into<String>, message: impl Into<String>) -> Self {
        ChannelError::Rejected {
            channel: channel.into(),
            message: message.into(),
        }
    }
}
