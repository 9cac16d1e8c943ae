//! In-memory channels: a scripted [`MockApprover`] for tests and a
//! [`QueueApprover`] whose [`QueueHandle`] lets tests or app code list
//! pending requests and vote as any identity.
//!
//! Both cast their votes through the [`VoteBox`](approvals_core::VoteBox),
//! the same entry point real channels use, so every rule of the gate applies
//! to them.

mod mock;
mod queue;

pub use mock::{Behaviour, MockApprover};
pub use queue::{QueueApprover, QueueError, QueueHandle};
