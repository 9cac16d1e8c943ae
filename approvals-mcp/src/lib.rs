//! # approvals-mcp
//!
//! An approval gateway for [MCP](https://modelcontextprotocol.io) servers,
//! built on `rmcp`, the official Rust SDK.
//!
//! The proxy sits between an MCP client (an agent) and a real MCP server.
//! Every message passes through unchanged in both directions, except
//! `tools/call`: each call becomes an action request through an
//! [`approvals_core::Gate`], named `mcp.<server>.<tool>`, with the call's
//! arguments (masked for reviewers and the audit trail like any other), and
//! reaches the server only if the gate allows it.
//!
//! - **Defaults from the server's annotations.** The proxy reads the tools'
//!   annotations from the *server's* `tools/list` answers, never from the
//!   client. A tool marked `readOnlyHint: true` is allowed (a rule named
//!   [`READ_ONLY_RULE`] placed after the policy's own rules); any other tool,
//!   marked `destructiveHint` or not annotated at all, falls to the policy's
//!   default requirement. The policy's rules still decide first, on the
//!   action and the argument values.
//! - **Unknown tools.** A call to a tool the server never listed gets a
//!   JSON-RPC error and never reaches the server.
//! - **Refusals are tool results.** A call denied, expired, refused by
//!   policy or that nobody may approve gets a normal result with
//!   `isError: true` and the gate's message (with the reviewer's reason,
//!   masked by the gate), so the agent can read why.
//! - **Long waits.** While a call waits for a human, the proxy sends
//!   `notifications/progress` every ten seconds (configurable) when the
//!   call carried a progress token, so clients that reset their timeout on
//!   progress keep waiting.
//! - **A server that dies** leaves every call it had not answered with a
//!   JSON-RPC error, and calls still waiting are cancelled.
//!
//! ```no_run
//! use approvals_core::{Gate, audit::JsonlAudit, policy::Policy};
//! use approvals_mcp::{McpProxy, ProxyConfig};
//!
//! # async fn run(channel: impl approvals_core::channel::Channel + 'static) -> Result<(), Box<dyn std::error::Error>> {
//! let gate = Gate::builder()
//!     .policy(Policy::from_toml_file("policy.toml")?)
//!     .channel(channel)
//!     .audit(JsonlAudit::open("audit.jsonl")?)
//!     .build();
//! let mut server = tokio::process::Command::new("npx");
//! server.args(["-y", "@modelcontextprotocol/server-everything"]);
//! McpProxy::new(gate, ProxyConfig::new("agent:claude-desktop"))
//!     .serve_stdio(server)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `streamable-http` | no | [`HttpGateway`]: the gateway over streamable HTTP, in front of an upstream server reached over HTTP, with the requester from each request's authentication |
//! | `rmcp-router` | no | [`gate_tool_router`]: the gate inside your own rmcp server, around every route of its `ToolRouter` |
//!
//! ## Why a library and a command
//!
//! The `approvals mcp proxy` command (in `approvals-cli`) wires this crate
//! to a policy file, a JSON Lines audit log and the HTTP API channel, which
//! covers the common case: put approvals in front of a server a client
//! starts. The proxy itself is a library so that an app can choose its own
//! channels (Slack, Teams, its own), store, masker and telemetry, or serve
//! other transports ([`McpProxy::serve`] takes any pair of `rmcp`
//! transports), without the command's choices.

mod catalog;
mod error;
#[cfg(feature = "streamable-http")]
mod http;
mod proxy;
#[cfg(feature = "rmcp-router")]
mod router;

pub use catalog::{READ_ONLY_RULE, action_segment};
pub use error::ProxyError;
#[cfg(feature = "streamable-http")]
#[cfg_attr(docsrs, doc(cfg(feature = "streamable-http")))]
pub use http::HttpGateway;
pub use proxy::{DEFAULT_PROGRESS_INTERVAL, McpProxy, ProxyConfig};
#[cfg(feature = "rmcp-router")]
#[cfg_attr(docsrs, doc(cfg(feature = "rmcp-router")))]
pub use router::gate_tool_router;
