//! # approvals
//!
//! Action-level human approval for AI agents.
//!
//! Mark a sensitive call, and when an agent makes it the call pauses: policy
//! decides whether a human must look; the arguments are masked so reviewers
//! see enough to decide and never enough to leak personal data; the request
//! goes to people through a channel; nobody approves their own request;
//! silence means deny; and every request, vote, decision and outcome lands in
//! a tamper-evident audit trail, before and after the call runs with exactly
//! the arguments that were approved.
//!
//! ```
//! use approvals::audit::MemoryAudit;
//! use approvals::testing::MockChannel;
//! use approvals::policy::{Policy, RequirementBuilder, Rule};
//! use approvals::{ActionRequest, Error, Gate, Risk};
//!
//! #[derive(serde::Serialize)]
//! struct Refund { customer: String, cents: u64 }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! let audit = MemoryAudit::new();
//! let gate = Gate::builder()
//!     .policy(Policy::new().rule(
//!         Rule::new("refunds need finance").action("billing.refund")
//!             .require(RequirementBuilder::new().approvers(["fin@example.com"])),
//!     ))
//!     .channel(MockChannel::approve_all().voting_as(["fin@example.com"]))
//!     .audit(audit.clone())
//!     .build();
//!
//! let request = ActionRequest::new("billing.refund", Refund { customer: "c_42".into(), cents: 1_500 })
//!     .risk(Risk::High)
//!     .requester("agent:support-bot")
//!     .justification("double charge reported by the customer");
//!
//! let refunded = gate
//!     .run(request, |refund| async move { Ok::<_, Error>(refund.cents) })
//!     .await?;
//! assert_eq!(refunded, 1_500);
//! // requested, the vote, concluded (approved), executed (ok)
//! assert_eq!(audit.len(), 4);
//! # Ok(()) }
//! ```
//!
//! ## The attribute
//!
//! [`requires_approval`] gates an `async fn` the same way, building the
//! request from the function's name, doc comment and arguments:
//!
//! ```
//! use approvals::audit::MemoryAudit;
//! use approvals::testing::MockChannel;
//! use approvals::policy::Policy;
//! use approvals::{Error, Gate, requires_approval};
//!
//! /// Refund a customer's last invoice.
//! #[requires_approval(name = "billing.refund", risk = "high", approvers = "finance")]
//! async fn refund(#[approval(mask = "email")] customer: String, cents: u64) -> Result<u64, Error> {
//!     Ok(cents)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! let gate = Gate::builder()
//!     .policy(Policy::new().group("finance", ["fin@example.com"]))
//!     .channel(MockChannel::approve_all().voting_as(["fin@example.com"]))
//!     .audit(MemoryAudit::new())
//!     .build();
//! let refunded = approvals::scope(
//!     gate,
//!     approvals::scope_requester("agent:support-bot", refund("jane@example.com".into(), 1_500)),
//! )
//! .await?;
//! assert_eq!(refunded, 1_500);
//! # Ok(()) }
//! ```
//!
//! ## Guarantees
//!
//! - **Fail closed.** A missing gate, a policy error, a channel that fails or
//!   panics, a deadline, or an audit write that fails before the run: the body
//!   does not run and the caller gets an [`Error`] saying why.
//! - **No self-approval.** The requester's vote never counts, whatever groups
//!   they belong to. It is recorded.
//! - **Eligibility and quorum.** Only the policy's approvers count, each once;
//!   a quorum of `n` needs `n` distinct approvals; one eligible deny ends the
//!   request.
//! - **Binding.** A decision is bound to the [`Fingerprint`] of the call; the
//!   body receives the very arguments that were fingerprinted; an
//!   [`Approval`] runs once.
//! - **Nothing raw leaves.** Channels, audit records, errors and `Debug`
//!   output carry the masked view only.
//! - **Audit before run, outcome after**, in a hash-chained file that
//!   [`audit::verify`] checks.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `macros` | yes | the [`requires_approval`] attribute |
//! | `testing` | no | `testing::MockChannel` (scripted reviewers) and `testing::QueueChannel` (a handle that votes as anyone), and `Gate::votes`: tools for tests, never for production; turn it on in `[dev-dependencies]` |
//! | `axum` | no | the axum adapters (`router()`) of the Slack, Teams and HTTP channels; their handlers take `http` types and work with any framework |
//! | `slack` | no | `slack::SlackChannel`: Block Kit requests with Approve and Deny, a signed interactivity endpoint (framework-agnostic, with an axum adapter), Slack user to identity, messages updated when requests end |
//! | `teams` | no | `teams::TeamsChannel`: Microsoft Teams through a Bot Framework bot (Adaptive Cards with `Action.Execute`, a JWT-verified messaging endpoint with an axum adapter, cards updated as votes count and when requests end) |
//! | `http` | no | `http::HttpChannel`: a REST API to mount in an axum app (list pending requests, approve, deny), static bearer tokens or OIDC JWTs, signed webhooks |
//! | `terminal` | no | `terminal::TerminalChannel`: a prompt on the terminal for local development; fails closed without one |
//! | `sqlite` | no | `store::SqliteStore`: pending requests kept in one SQLite file, so they survive a restart |
//! | `postgres` | no | `store::PostgresStore`: pending requests in PostgreSQL, shared by every replica |

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use approvals_core::{
    Action, ActionRequest, Approval, ArgumentMask, Clock, Conclusion, Error, ExecutionOutcome,
    Fingerprint, Gate, GateBuilder, Identity, MAX_ARGUMENT_DEPTH, RequestId, Risk, SystemClock,
    Timestamp, UnknownRisk, async_trait, audit, canonical_json, edit, mask, policy, store,
    telemetry,
};

/// For authors of a channel: the trait, what the gate hands a channel
/// (the reviewer's view of a request, a vote box, the tally), what a
/// channel hands back (a ballot), and the shared [`kit`](channel::kit).
///
/// An app that only uses the channels of this crate needs none of it.
pub mod channel {
    pub use approvals_backends::kit;
    pub use approvals_core::channel::{Channel, ChannelError};
    pub use approvals_core::{
        Ballot, Choice, MAX_REASON_CHARS, Progress, Refusal, Review, VoteBox, VoteOutcome,
        async_trait,
    };
}

pub use approvals_core::gate::{
    current, scope, scope_requester, set_default, set_default_requester,
};

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use approvals_macros::requires_approval;

// Not a stable API: the items that `#[requires_approval]`'s expansion names.
// They may change in any release; the attribute crate is pinned to this
// crate's exact version.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use approvals_backends::testing;

#[cfg(feature = "slack")]
#[cfg_attr(docsrs, doc(cfg(feature = "slack")))]
pub use approvals_backends::slack;

#[cfg(feature = "teams")]
#[cfg_attr(docsrs, doc(cfg(feature = "teams")))]
pub use approvals_backends::teams;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use approvals_backends::http;

#[cfg(any(feature = "slack", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "slack", feature = "http"))))]
pub use approvals_backends::signature;

#[cfg(any(feature = "teams", feature = "http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "teams", feature = "http"))))]
pub use approvals_backends::jwt;

#[cfg(feature = "terminal")]
#[cfg_attr(docsrs, doc(cfg(feature = "terminal")))]
pub use approvals_backends::terminal;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
