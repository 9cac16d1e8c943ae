//! Approvals in Microsoft Teams: Adaptive Cards with `Action.Execute`,
//! JWT-verified clicks, cards that refresh.
//!
//! Interactive approval in Teams needs a bot (an incoming webhook can show a
//! card but cannot deliver a click back). The pieces:
//!
//! | piece | what it does |
//! | --- | --- |
//! | [`TeamsChannel`] | the [`Channel`](approvals_core::Channel): posts a card per request, updates it as votes count and when the request ends |
//! | [`TeamsEndpoint`] | the bot's messaging endpoint: `http::Request<Bytes>` in, `http::Response<Bytes>` out; `TeamsEndpoint::router` (feature `axum`) serves it with axum |
//! | [`TeamsConfig`] | the bot's registration, the conversation, and every Microsoft URL (configurable) |
//! | [`UserDirectory`], [`StaticDirectory`] | from a user's Entra ID object id to the [`Identity`](approvals_core::Identity) that policies name |
//! | [`BotTokenClient`] | the bot's token (client-credentials grant), cached until shortly before expiry |
//! | [`ConnectorClient`] | posts and updates activities, with `401` token refresh and `429` `Retry-After` |
//! | [`render`] | the Adaptive Cards (version 1.5) |
//!
//! Inbound requests are authenticated with [`crate::jwt`]: the Bot Framework's
//! signing keys come from its OpenID metadata, and each request's token must
//! name the bot's app id as audience and the activity's `serviceUrl` in its
//! `serviceurl` claim, and its key must endorse the activity's channel. The
//! channel never judges a vote: it hands each click to the gate as a
//! [`Ballot`](approvals_core::Ballot) and shows the clicker the gate's answer.

#[cfg(feature = "axum")]
mod axum;
mod channel;
mod config;
mod identity;
mod inbound;
mod outbound;
pub mod render;
mod token;

/// The path Teams bots conventionally use for their messaging endpoint.
pub const DEFAULT_PATH: &str = "/api/messages";
pub use self::channel::{TeamsChannel, TeamsChannelBuilder};
pub use self::config::{
    Conversation, DEFAULT_AUTHORITY, DEFAULT_ISSUER, DEFAULT_OPENID_METADATA_URL,
    DEFAULT_TOKEN_SCOPE, TeamsConfig,
};
pub use self::identity::{DirectoryError, StaticDirectory, TeamsUser, UserDirectory};
pub use self::inbound::TeamsEndpoint;
pub use self::outbound::{ConnectorClient, ConnectorError};
pub use self::token::{BotTokenClient, TokenError};
