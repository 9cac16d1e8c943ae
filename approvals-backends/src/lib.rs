//! Approval channels for `approvals`.
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `testing` | `testing` | `MockChannel` (scripted reviewers) and `QueueChannel` (a handle that votes as anyone), for tests only |
//! | `axum` | | the axum adapters of the Slack, Teams and HTTP channels (`router()`) |
//! | `teams` | [`teams`] | Microsoft Teams: Adaptive Cards with `Action.Execute` through the Bot Framework, a JWT-verified messaging endpoint (framework-agnostic, with an axum adapter), cards updated as votes count and when requests end |
//! | `jwt` (on with `teams` or `http`) | [`jwt`] | JWT validation (RS256/384/512) against keys from OpenID metadata or a JWKS URL, cached, refreshed on an unknown key id at most once per interval |
//! | `http` | [`http`] | [`HttpChannel`](http::HttpChannel): a REST API (axum router), bearer-token and OIDC authentication, signed webhooks |
//! | `terminal` | [`terminal`] | [`TerminalChannel`](terminal::TerminalChannel): a prompt on the controlling terminal for local development |
//! | `slack` | [`slack`] | [`SlackChannel`](slack::SlackChannel): Block Kit requests, a signed interactivity endpoint (framework-agnostic, with an axum adapter), Slack user to identity, messages updated when requests end |
//!
//! Every channel implements [`approvals_core::Channel`]: it delivers the
//! masked request and hands votes to the gate through a
//! [`VoteBox`](approvals_core::VoteBox); it never judges a vote itself.
//! What channels share (the ledger of deliveries, retries, body limits) is
//! in [`kit`].

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod kit;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;

// Entry points for the fuzz targets; not a stable API.
#[doc(hidden)]
pub mod fuzzing;

#[cfg(feature = "teams")]
#[cfg_attr(docsrs, doc(cfg(feature = "teams")))]
pub mod teams;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

#[cfg(feature = "terminal")]
#[cfg_attr(docsrs, doc(cfg(feature = "terminal")))]
pub mod terminal;

// JSON bodies read with errors that quote nothing of the body.
#[cfg(any(feature = "slack", feature = "teams", feature = "http"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "slack", feature = "teams", feature = "http")))
)]
pub mod json;

// Slack's request signature; the HTTP channel's webhooks sign with it too.
#[cfg(any(feature = "slack", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "slack", feature = "http"))))]
pub mod signature;

#[cfg(feature = "slack")]
#[cfg_attr(docsrs, doc(cfg(feature = "slack")))]
pub mod slack;
