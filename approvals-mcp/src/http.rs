//! Streamable HTTP mode: the gateway as an MCP server over HTTP, in front of
//! an upstream MCP server reached over HTTP. The requester of each call is
//! the identity the app's authentication put on the HTTP request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use approvals_core::policy::Policy;
use approvals_core::{Error, Gate, Identity};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorCode, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, ServerConfig,
    ServerJsonRpcMessage, ServerResult,
};
use rmcp::service::{Peer, RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;

use crate::catalog::{ToolCatalog, action_name, action_segment};
use crate::error::ProxyError;
use crate::proxy::{ProxyConfig, describe, refusal, request_for};

/// An MCP server (an rmcp [`ServerHandler`]) that forwards `tools/list` to
/// an upstream MCP server and passes each `tools/call` through the gate
/// first, as the stdio proxy does. Serve it with rmcp's
/// `StreamableHttpService`, behind authentication that puts the caller's
/// [`Identity`] in the HTTP request's extensions: rmcp hands the request's
/// `http::request::Parts` to the handler, and a call without an identity
/// there is refused (fail closed).
///
/// Only tools pass (and `ping`, which rmcp answers); the gateway
/// advertises the tools capability alone, with the upstream server's name
/// and instructions. The configured requester is not used: each call's
/// requester is the authenticated caller.
#[derive(Clone)]
pub struct HttpGateway {
    inner: Arc<Inner>,
}

struct Inner {
    gate: Gate,
    base_policy: Policy,
    server: String,
    info: ServerConfig,
    progress_interval: Duration,
    upstream: RunningService<RoleClient, ()>,
    catalog: Mutex<ToolCatalog>,
}

impl std::fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGateway")
            .field("server", &self.inner.server)
            .finish_non_exhaustive()
    }
}

impl HttpGateway {
    /// Connects to the upstream MCP server at `url` (streamable HTTP) and
    /// learns its name and tools.
    pub async fn connect(gate: Gate, config: ProxyConfig, url: &str) -> Result<Self, ProxyError> {
        let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
        let upstream =
            ().serve(transport)
                .await
                .map_err(|error| ProxyError::Upstream {
                    reason: error.to_string(),
                })?;
        let peer_info = upstream.peer_info();
        let upstream_name = peer_info
            .as_ref()
            .and_then(|info| info.server_info.as_ref())
            .map(|info| info.name.clone());
        let server = config
            .configured_name()
            .map(str::to_owned)
            .or_else(|| upstream_name.as_deref().map(action_segment))
            .unwrap_or_else(|| "server".to_owned());
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                upstream_name.unwrap_or_else(|| server.clone()),
                env!("CARGO_PKG_VERSION"),
            ));
        if let Some(instructions) = peer_info
            .as_ref()
            .and_then(|info| info.instructions.clone())
        {
            info = info.with_instructions(instructions);
        }
        let base_policy = Policy::clone(&gate.policy());
        let gateway = Self {
            inner: Arc::new(Inner {
                gate,
                base_policy,
                server,
                info,
                progress_interval: config.interval(),
                upstream,
                catalog: Mutex::new(ToolCatalog::default()),
            }),
        };
        gateway.refresh().await?;
        Ok(gateway)
    }

    fn upstream(&self) -> &Peer<RoleClient> {
        self.inner.upstream.peer()
    }

    /// Lists the upstream server's tools (every page) and learns them.
    async fn refresh(&self) -> Result<(), ProxyError> {
        let tools =
            self.upstream()
                .list_all_tools()
                .await
                .map_err(|error| ProxyError::Upstream {
                    reason: error.to_string(),
                })?;
        self.learn(&tools);
        Ok(())
    }

    fn learn(&self, tools: &[rmcp::model::Tool]) {
        let mut catalog = self
            .inner
            .catalog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        catalog.learn(tools);
        let policy = catalog.layered_policy(&self.inner.base_policy, &self.inner.server);
        self.inner.gate.set_policy(policy);
    }

    fn hints(&self, tool: &str) -> Option<crate::catalog::ToolHints> {
        self.inner
            .catalog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tool)
    }
}

/// The authenticated caller of an HTTP request, as the app's
/// authentication put it in the request's extensions.
fn caller(context: &RequestContext<RoleServer>) -> Option<Identity> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Identity>())
        .cloned()
}

fn upstream_error(error: rmcp::ServiceError) -> ErrorData {
    match error {
        rmcp::ServiceError::McpError(error) => error,
        other => ErrorData::internal_error(
            format!("the upstream MCP server did not answer: {other}"),
            None,
        ),
    }
}

/// Why an approved call has no answer from upstream.
enum CallFailure {
    Gate(Error),
    Upstream(ErrorData),
}

impl From<Error> for CallFailure {
    fn from(error: Error) -> Self {
        Self::Gate(error)
    }
}

fn answer(error: Error) -> Result<CallToolResponse, ErrorData> {
    match refusal(error, rmcp::model::RequestId::Number(0)) {
        ServerJsonRpcMessage::Response(response) => match response.result {
            ServerResult::CallToolResult(result) => Ok(result.into()),
            _ => Err(ErrorData::internal_error(
                "the approval gate failed closed",
                None,
            )),
        },
        ServerJsonRpcMessage::Error(error) => Err(error.error),
        _ => Err(ErrorData::internal_error(
            "the approval gate failed closed",
            None,
        )),
    }
}

impl ServerHandler for HttpGateway {
    fn get_info(&self) -> ServerConfig {
        self.inner.info.clone()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let listed = self
            .upstream()
            .list_tools(request)
            .await
            .map_err(upstream_error)?;
        self.learn(&listed.tools);
        Ok(listed)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(requester) = caller(&context) else {
            return Err(ErrorData::invalid_request(
                "the call has no authenticated caller, so it was not run",
                None,
            ));
        };
        let hints = match self.hints(&request.name) {
            Some(hints) => Some(hints),
            None => {
                self.refresh()
                    .await
                    .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
                self.hints(&request.name)
            }
        };
        let Some(hints) = hints else {
            return Err(ErrorData::new(
                ErrorCode::INVALID_PARAMS,
                "unknown tool: the server does not list a tool of this name",
                None,
            ));
        };
        let had_arguments = request.arguments.is_some();
        let gated = request_for(
            action_name(&self.inner.server, &request.name),
            Value::Object(request.arguments.clone().unwrap_or_default()),
            describe(&request.name, hints),
            hints,
            requester,
        );
        let authorize = self.inner.gate.authorize(gated);
        let decided = match context.meta.get_progress_token() {
            Some(token) if !self.inner.progress_interval.is_zero() => {
                let period = self.inner.progress_interval;
                let mut authorize = std::pin::pin!(authorize);
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                let mut count = 0_u32;
                loop {
                    tokio::select! {
                        decided = &mut authorize => break decided,
                        _ = ticks.tick() => {
                            count += 1;
                            let waited = period.saturating_mul(count).as_secs();
                            let _ = context.peer.notify_progress(
                                ProgressNotificationParam::new(token.clone(), f64::from(count))
                                    .with_message(format!("waiting for a human approval ({waited}s so far)")),
                            ).await;
                        }
                    }
                }
            }
            _ => authorize.await,
        };
        let approval = match decided {
            Ok(approval) => approval,
            Err(error) => return answer(error),
        };
        let upstream = self.upstream().clone();
        let ran = approval
            .run_exact(|approved: Value| async move {
                let mut request = request;
                request.arguments = match approved {
                    Value::Object(map) if had_arguments || !map.is_empty() => Some(map),
                    _ => None,
                };
                upstream
                    .call_tool_once(request)
                    .await
                    .map_err(|error| CallFailure::Upstream(upstream_error(error)))
            })
            .await;
        match ran {
            Ok(response) => Ok(response),
            Err(CallFailure::Upstream(error)) => Err(error),
            Err(CallFailure::Gate(error)) => answer(error),
        }
    }
}
