//! The channel trait: how requests reach people and votes reach the gate.

use std::sync::Arc;

use async_trait::async_trait;

use crate::gate::VoteBox;
use crate::{ApprovalRequest, Conclusion, Identity};

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
#[async_trait]
pub trait Approver: Send + Sync {
    /// A short name for records and logs (`"slack"`, `"mock"`).
    fn name(&self) -> &str;

    /// Delivers a new request. Keep `votes` to cast the votes that arrive.
    async fn deliver(&self, request: &ApprovalRequest, votes: VoteBox) -> Result<(), ChannelError>;

    /// The request was escalated: `added` may now vote as well.
    async fn escalated(
        &self,
        _request: &ApprovalRequest,
        _added: &[Identity],
    ) -> Result<(), ChannelError> {
        Ok(())
    }

    /// The request ended; update or withdraw what was delivered.
    async fn concluded(
        &self,
        _request: &ApprovalRequest,
        _conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        Ok(())
    }
}

#[async_trait]
impl<T: Approver + ?Sized> Approver for &T {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn deliver(&self, request: &ApprovalRequest, votes: VoteBox) -> Result<(), ChannelError> {
        (**self).deliver(request, votes).await
    }
    async fn escalated(
        &self,
        request: &ApprovalRequest,
        added: &[Identity],
    ) -> Result<(), ChannelError> {
        (**self).escalated(request, added).await
    }
    async fn concluded(
        &self,
        request: &ApprovalRequest,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        (**self).concluded(request, conclusion).await
    }
}

#[async_trait]
impl<T: Approver + ?Sized> Approver for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn deliver(&self, request: &ApprovalRequest, votes: VoteBox) -> Result<(), ChannelError> {
        (**self).deliver(request, votes).await
    }
    async fn escalated(
        &self,
        request: &ApprovalRequest,
        added: &[Identity],
    ) -> Result<(), ChannelError> {
        (**self).escalated(request, added).await
    }
    async fn concluded(
        &self,
        request: &ApprovalRequest,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        (**self).concluded(request, conclusion).await
    }
}

#[async_trait]
impl<T: Approver + ?Sized> Approver for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn deliver(&self, request: &ApprovalRequest, votes: VoteBox) -> Result<(), ChannelError> {
        (**self).deliver(request, votes).await
    }
    async fn escalated(
        &self,
        request: &ApprovalRequest,
        added: &[Identity],
    ) -> Result<(), ChannelError> {
        (**self).escalated(request, added).await
    }
    async fn concluded(
        &self,
        request: &ApprovalRequest,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        (**self).concluded(request, conclusion).await
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
    #[error("no approver channel is configured")]
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
