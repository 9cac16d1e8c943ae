//! Approval channels for `approvals`.
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `memory` (default) | [`memory`] | [`MockApprover`](memory::MockApprover) for tests, [`QueueApprover`](memory::QueueApprover) for app-driven decisions |
//! | `slack` | `slack` | `SlackApprover`: Block Kit requests, a signed interactivity endpoint (framework-agnostic, with an axum adapter), Slack user to identity, messages updated when requests end |
//!
//! Every channel implements [`approvals_core::Approver`]: it delivers the
//! masked request and hands votes to the gate through a
//! [`VoteBox`](approvals_core::VoteBox); it never judges a vote itself.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub mod memory;

// The HTTP channel's outbound webhooks sign with the same scheme.
#[cfg(any(feature = "slack", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "slack", feature = "http"))))]
pub mod signature;

#[cfg(feature = "slack")]
#[cfg_attr(docsrs, doc(cfg(feature = "slack")))]
pub mod slack;
