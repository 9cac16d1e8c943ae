//! The HTTP channel: a JSON REST API for custom review UIs and other
//! systems, with pluggable authentication and signed webhooks.
//!
//! - [`HttpChannel`] is the channel: give a clone to the gate, and mount
//!   [`HttpChannel::router`] in your axum app (or call
//!   [`HttpChannel::handle`] from another framework).
//! - Every call is authenticated by an [`Authenticator`]: [`StaticTokens`]
//!   (bearer tokens mapped to identities), [`OidcAuthenticator`] (JWTs
//!   checked against an OpenID provider's keys), or your own. A caller
//!   that is not authenticated gets `401` and learns nothing.
//! - Votes go to the gate, which alone judges them; a vote that does not
//!   count is answered with a status and a stable code:
//!
//! | gate's answer | status | `error.code` |
//! | --- | --- | --- |
//! | counted | `200` | (a [`VoteReceipt`]) |
//! | unknown request | `404` | `unknown_request` |
//! | self-approval | `403` | `self_approval` |
//! | not an eligible approver | `403` | `not_eligible` |
//! | already voted | `409` | `already_voted` |
//! | already concluded | `409` | `already_concluded` |
//! | fingerprint mismatch | `409` | `fingerprint_mismatch` |
//! | reason required | `422` | `reason_required` |
//! | vote could not be recorded | `503` | `not_recorded` |
//! | judged after the deadline | `409` | `deadline_passed` |
//! | too many votes on no pending request | `429` | `throttled` |
//!
//! Other errors: `400 malformed_body`, `401 unauthorized`, `404 not_found`,
//! `405 method_not_allowed`, `413 body_too_large`, `415
//! unsupported_media_type`, `422 reason_too_long`.
//!
//! - [`Webhook`]s are told of new and concluded requests, signed with the
//!   `v0` scheme of [`crate::signature`] and retried with bounded backoff.
//!
//! The OpenAPI 3.1 description is [`OPENAPI_JSON`] (the file
//! `approvals-backends/openapi.json`), also served at `GET /v1/openapi.json`.

mod channel;
mod identity;
mod inbound;
mod oidc;
mod outbound;
mod render;

pub use channel::{HttpChannel, HttpChannelBuilder, HttpSetupError};
pub use identity::{AuthError, Authenticator, StaticTokens, bearer_token};
pub use inbound::{OPENAPI_JSON, ROUTES};
pub use oidc::OidcAuthenticator;
pub use outbound::{
    DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhook, WebhookEvent,
};
pub use render::{
    ApproveBody, DenyBody, EditBody, EditReceipt, ErrorBody, ErrorDetail, PendingList, RequestView,
    VoteReceipt,
};
