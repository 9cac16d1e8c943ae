//! Approval channels for `approvals`.
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `memory` (default) | [`memory`] | [`MockApprover`](memory::MockApprover) for tests, [`QueueApprover`](memory::QueueApprover) for app-driven decisions |
//! | `http` | [`http`] | [`HttpApprover`](http::HttpApprover): a REST API (axum router), bearer-token and OIDC authentication, signed webhooks |
//! | `terminal` | [`terminal`] | [`TerminalApprover`](terminal::TerminalApprover): a prompt on the controlling terminal for local development |
//!
//! Every channel implements [`approvals_core::Approver`]: it delivers the
//! masked request and hands votes to the gate through a
//! [`VoteBox`](approvals_core::VoteBox); it never judges a vote itself.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub mod memory;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

#[cfg(feature = "terminal")]
#[cfg_attr(docsrs, doc(cfg(feature = "terminal")))]
pub mod terminal;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod signature;
