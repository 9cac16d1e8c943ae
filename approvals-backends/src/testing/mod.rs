//! In-memory channels: a scripted [`MockChannel`] for tests and a
//! [`QueueChannel`] whose [`QueueHandle`] lets tests or app code list
//! pending requests and vote as any identity.
//!
//! Both cast their votes through the [`VoteBox`](approvals_core::VoteBox),
//! the same entry point real channels use, so every rule of the gate applies
//! to them.

mod mock;
mod queue;

pub use mock::{Behaviour, MockChannel};
pub use queue::{QueueChannel, QueueError, QueueHandle};
