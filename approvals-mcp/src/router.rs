//! The gate inside an rmcp server: every route of a [`ToolRouter`] asks the
//! gate before its handler runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use approvals_core::{Error, Gate};
use rmcp::ErrorData;
use rmcp::handler::server::router::tool::{ToolRoute, ToolRouter};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResponse, ServerJsonRpcMessage, ServerResult};
use serde_json::Value;

use crate::catalog::{ToolCatalog, action_name};
use crate::proxy::{ProxyConfig, describe, refusal, request_for};

type RouteFuture<'s> =
    Pin<Box<dyn Future<Output = Result<CallToolResponse, ErrorData>> + Send + 's>>;

/// Why a gated route did not give the tool's answer.
enum RouteFailure {
    Gate(Error),
    Tool(ErrorData),
}

impl From<Error> for RouteFailure {
    fn from(error: Error) -> Self {
        Self::Gate(error)
    }
}

/// Wraps every route of `router` so that a call first passes through
/// `gate`, exactly as through the proxy: the action is
/// `mcp.<server>.<tool>` (the server name from [`ProxyConfig::server_name`],
/// `server` if unset), the arguments are the call's, the requester is the
/// configured one, and the tool's own annotations give the defaults (the
/// gate's policy gets the read-only rule after its own rules, as with
/// [`McpProxy`](crate::McpProxy)). The handler runs with the approved
/// arguments; a denied, expired or refused call answers `isError: true`
/// with the reason, and the handler never runs.
///
/// ```
/// use approvals_core::{Gate, audit::MemoryAudit, policy::Policy};
/// use approvals_mcp::{ProxyConfig, gate_tool_router};
/// use rmcp::handler::server::router::tool::ToolRouter;
///
/// #[derive(Clone)]
/// struct Bank;
///
/// let gate = Gate::builder().policy(Policy::new()).audit(MemoryAudit::new()).build();
/// let router: ToolRouter<Bank> = ToolRouter::new(); // usually `Self::tool_router()`
/// let router = gate_tool_router(router, &gate, &ProxyConfig::new("agent:bot").server_name("bank"));
/// # let _ = router;
/// ```
pub fn gate_tool_router<S>(
    router: ToolRouter<S>,
    gate: &Gate,
    config: &ProxyConfig,
) -> ToolRouter<S>
where
    S: Send + Sync + 'static,
{
    let server = config.configured_name().unwrap_or("server").to_owned();
    let mut catalog = ToolCatalog::default();
    catalog.learn(&router.list_all());
    gate.set_policy(catalog.layered_policy(&gate.policy(), &server));

    let mut gated = router.clone();
    for route in router {
        let Some(hints) = catalog.get(&route.attr.name) else {
            continue;
        };
        let inner = Arc::clone(&route.call);
        let action = action_name(&server, &route.attr.name);
        let description = describe(&route.attr.name, hints);
        let gate = gate.clone();
        let requester = config.requester().clone();
        let call = handler(move |mut context: ToolCallContext<'_, S>| {
            let inner = Arc::clone(&inner);
            let gate = gate.clone();
            let arguments = Value::Object(context.arguments.clone().unwrap_or_default());
            let had_arguments = context.arguments.is_some();
            let request = request_for(
                action.clone(),
                arguments,
                description.clone(),
                hints,
                requester.clone(),
            );
            Box::pin(async move {
                let approval = match gate.authorize(request).await {
                    Ok(approval) => approval,
                    Err(error) => return answer(error),
                };
                let ran = approval
                    .run_exact(|approved: Value| async move {
                        context.arguments = match approved {
                            Value::Object(map) if had_arguments || !map.is_empty() => Some(map),
                            _ => None,
                        };
                        inner(context).await.map_err(RouteFailure::Tool)
                    })
                    .await;
                match ran {
                    Ok(response) => Ok(response),
                    Err(RouteFailure::Tool(error)) => Err(error),
                    Err(RouteFailure::Gate(error)) => answer(error),
                }
            })
        });
        gated.add_route(ToolRoute::new_dyn(route.attr.clone(), call));
    }
    gated
}

/// Gives a closure the higher-ranked signature of a route handler.
fn handler<S, F>(handler: F) -> F
where
    F: for<'s> Fn(ToolCallContext<'s, S>) -> RouteFuture<'s> + Send + Sync + 'static,
{
    handler
}

/// The gate's refusal as the route's answer.
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
