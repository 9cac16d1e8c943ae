//! Slack: approval requests as interactive Block Kit messages.
//!
//! A [`SlackChannel`] posts each request to a channel: the action, its
//! description and risk, the requester, the masked justification and
//! arguments, the deadline and the request id, with **Approve** and **Deny**
//! buttons. Deny asks for a reason in a modal (required when the policy says
//! so). When the request ends the message is replaced, for everyone, by how
//! it ended, and the buttons are gone.
//!
//! When policy lets reviewers change some arguments
//! ([`Review::editable`](approvals_core::Review::editable)), the message
//! also has an **Edit** button. It opens a modal with one input per editable
//! field, filled with the field's value from the masked view unless that
//! value looks masked (a masked value is never shown: its input starts
//! empty). On submit, the fields the reviewer changed become a JSON merge
//! patch that goes to the gate with
//! [`VoteBox::edit`](approvals_core::VoteBox::edit); the gate alone judges
//! it. A refused edit keeps the modal open with the gate's words under the
//! field it names; an accepted one closes it, and the message is updated
//! to the new version, whose fingerprint the buttons then carry.
//!
//! Its [`InteractivityHandler`] serves the Slack app's interactivity request
//! URL. Every request is checked before anything else: size, the `v0`
//! signature over the raw body (constant time) and a 300-second replay
//! window. A signed request is acted on once: its signature is remembered
//! until it leaves the window, in a cache of bounded size that, when full,
//! refuses new requests (`503`) rather than forget one that could still be
//! replayed ([`replay_cache_capacity`](SlackChannelBuilder::replay_cache_capacity)).
//! Refusals name the header or field that was wrong, never the request's
//! content. A valid click is acknowledged at once, within Slack's 3 seconds;
//! the user is then mapped to an [`Identity`](approvals_core::Identity) (by
//! [profile email](EmailIdentities) or a [static map](StaticIdentities)) and
//! the vote goes to the gate, which alone judges it. A vote the gate refuses
//! (self-approval, not eligible, already concluded, unknown request) or that
//! comes from an unmapped user changes nothing, and the clicker alone is told
//! why with `chat.postEphemeral` (rather than the click's `response_url`,
//! whose five uses in thirty minutes a long-lived request can outlast).
//!
//! The [`SlackClient`] is a thin client of the Web API over `reqwest` and
//! rustls: `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
//! `views.open`, `users.info` and `users.lookupByEmail`, with a configurable
//! base URL and timeouts, Slack's `ok: false` errors as [`SlackError::Api`],
//! and HTTP 429 retried after `Retry-After` a bounded number of times.
//!
//! ```no_run
//! use approvals_backends::slack::{SlackChannel, SlackClient};
//! use approvals_core::audit::MemoryAudit;
//! use approvals_core::policy::{Policy, RequirementBuilder, Rule};
//! use approvals_core::{ActionRequest, Error, Gate};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = SlackClient::new(std::env::var("SLACK_BOT_TOKEN")?)?;
//! let slack = SlackChannel::builder(
//!     client,
//!     std::env::var("SLACK_CHANNEL")?,
//!     std::env::var("SLACK_SIGNING_SECRET")?,
//! )
//! .build();
//! let interactivity = slack.inbound(); // Slack users are mapped by their profile email.
//!
//! // Serve the interactivity URL that the Slack app points to.
//! let app = interactivity.router("/slack/interactivity");
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! let gate = Gate::builder()
//!     .policy(Policy::new().rule(Rule::new("deploys").action("deploy.*")
//!         .require(RequirementBuilder::new().approvers(["alice@example.com"]))))
//!     .channel(slack)
//!     .audit(MemoryAudit::new())
//!     .build();
//! let request = ActionRequest::new("deploy.production", "v1.2.3").requester("agent:release-bot");
//! gate.run(request, |version| async move { Ok::<_, Error>(version) }).await?;
//! # Ok(()) }
//! ```

mod channel;
mod identity;
mod inbound;
mod outbound;
mod payload;
mod render;

pub use channel::{
    DEFAULT_REPLAY_CACHE_CAPACITY, ReplayCacheFull, SlackChannel, SlackChannelBuilder,
};
pub use identity::{EmailIdentities, SlackIdentities, StaticIdentities};
pub use inbound::{InteractivityHandler, SIGNATURE_HEADER, TIMESTAMP_HEADER};
pub use outbound::{
    DEFAULT_BASE_URL, PostedMessage, SlackClient, SlackClientBuilder, SlackError, SlackUser,
};
pub use payload::{
    Button, Click, DenyReason, EditSubmission, Interaction, PayloadError, Reference,
    parse_interaction, parse_payload,
};
pub use render::{
    APPROVE_ACTION, DENY_ACTION, DENY_REASON_CALLBACK, EDIT_ACTION, EDIT_BLOCK_PREFIX,
    EDIT_CALLBACK, Message, limits as block_limits,
};
