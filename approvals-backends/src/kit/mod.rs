//! The parts every channel shares, for the channels of this crate and for
//! authors of new ones.
//!
//! A channel does four things: it delivers a [`Review`](approvals_core::Review)
//! (outbound), renders it for its medium, turns its user into an
//! [`Identity`](approvals_core::Identity), and casts that user's ballot into
//! the [`VoteBox`](approvals_core::VoteBox) the gate attached to it
//! (inbound). It never judges a vote. The kit holds what is the same in
//! every channel:
//!
//! - [`Ledger`]: the deliveries (the review, the channel's own handle on its
//!   message, the gate's progress and the conclusion), with bounded
//!   retention of concluded ones, and the one [`cast`](Ledger::cast) that
//!   hands a ballot to the gate, whether or not this channel delivered the
//!   request.
//! - [`RetryPolicy`]: retries of a service that is rate-limited (`429` with
//!   `Retry-After`) or failing (`5xx`), within one budget.
//! - [`read_body`] (with `axum`): a request body read up to a limit.
//! - `edit` (with `slack`, `teams` or `terminal`): the fields a channel offers for an edit and the merge patch
//!   it builds from what the reviewer typed.

#[cfg(any(feature = "slack", feature = "teams", feature = "terminal"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "slack", feature = "teams", feature = "terminal")))
)]
pub mod edit;
mod ledger;
mod retry;

#[cfg(feature = "axum")]
mod body;

pub use ledger::{DEFAULT_RETAINED, Delivery, Ledger, NotAttached};
pub use retry::{Retry, RetryPolicy, retry_after_header};

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use body::{BodyTooLarge, read_body};

/// A poisoned lock only means another thread panicked while holding it; the
/// channels' maps stay consistent (every update is a single insert, remove
/// or field write), so the guard is taken anyway.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
