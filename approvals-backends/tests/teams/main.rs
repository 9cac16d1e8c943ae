//! The Teams channel end to end, over real HTTP on loopback: fakes of the
//! Entra ID token endpoint, the Bot Framework Connector, the OpenID metadata
//! and the key set; the bot's endpoint served with axum; a gate behind it.
//! Tokens are signed with the test-only keys of `approvals-test-support`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod edits;
mod flow;
#[path = "../leak/mod.rs"]
mod leak;
mod no_echo;
mod outbound;
mod support;
