//! Test support shared by the `approvals` workspace's tests and benchmarks,
//! as `tracing-mock` is for `tracing`: one place for what several test
//! files would otherwise each copy. Never published; depend on it in
//! `[dev-dependencies]` only.
//!
//! | module | what |
//! | --- | --- |
//! | [`identities`] | the reviewers and agent the tests act as |
//! | [`served`] | an axum router served on `127.0.0.1`, port 0, stopped when dropped |
//! | [`oidc`] | a fake OpenID provider (metadata and key set) and tokens signed with the test-only keys |
//! | [`slack`] | a fake Slack Web API |
//! | `pty` (Unix) | a pseudo-terminal to type into and read from |
//! | [`audit`] | an audit sink that keeps nothing |
//!
//! Everything here panics on failure: in a test, a failure of the set-up is
//! a failed test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod audit;
pub mod identities;
pub mod oidc;
#[cfg(unix)]
pub mod pty;
pub mod served;
pub mod slack;
