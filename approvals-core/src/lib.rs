//! The core of `approvals`: action-level human approval for AI agents.
//!
//! Most users depend on the `approvals` facade instead; integration authors
//! (a new channel, a new audit sink) can depend on this crate alone.
//!
//! The path of a gated call:
//!
//! 1. An [`ActionRequest`] describes the call: action name, description,
//!    [`Risk`], requester [`Identity`], justification and arguments.
//! 2. The [`Gate`] serializes the arguments once, computes the
//!    [`Fingerprint`], masks them into a [`MaskedView`](mask::MaskedView),
//!    and asks the [`Policy`](policy::Policy): allow, refuse, or require
//!    approval.
//! 3. If approval is required, every [`Channel`] (channel) delivers the
//!    masked [`Review`]; votes come back through a [`VoteBox`]; the
//!    gate alone decides whether each vote counts.
//! 4. Each step is written to the [`AuditSink`](audit::AuditSink) before the
//!    next; the body runs only after the approval is durably recorded, with
//!    exactly the arguments that were fingerprinted, and its outcome is
//!    recorded after.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod channel;
pub mod edit;
mod error;
mod fingerprint;
pub mod gate;
mod identity;
pub mod mask;
pub mod parse;
pub mod policy;
mod request;
mod review;
pub mod store;
pub mod telemetry;
mod time;

pub use channel::{Channel, ChannelError};
pub use error::Error;
pub use fingerprint::{Fingerprint, canonical_json};
pub use gate::{Approval, Gate, GateBuilder, MAX_ARGUMENT_DEPTH, VoteBox};
pub use identity::{Identity, IdentityError, RequestId};
pub use request::{Action, ActionRequest, ArgumentMask, Risk, UnknownRisk};
pub use review::{
    Ballot, Choice, Conclusion, ExecutionOutcome, MAX_REASON_CHARS, Progress, Refusal, Review,
    VoteOutcome,
};
pub use time::{Clock, SystemClock, Timestamp};

/// Re-exported so that implementors of [`Channel`] and
/// [`AuditSink`](audit::AuditSink) use the same version.
pub use async_trait::async_trait;
