//! `gate_tool_router`: a real rmcp server whose routes ask the gate, and a
//! real rmcp client, over an in-memory pipe.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use approvals_backends::testing::MockChannel;
use approvals_core::Gate;
use approvals_core::audit::MemoryAudit;
use approvals_core::policy::{Policy, RequirementBuilder};
use approvals_mcp::{ProxyConfig, READ_ONLY_RULE, gate_tool_router};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolRequestParams;
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Refund {
    customer_email: String,
    cents: u64,
}

#[derive(Clone)]
struct Bank {
    refunds: Arc<AtomicUsize>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Bank {
    /// The balance.
    #[tool(annotations(read_only_hint = true))]
    async fn get_balance(&self) -> String {
        "125000".to_owned()
    }

    /// Refund a customer.
    #[tool(annotations(destructive_hint = true))]
    async fn refund(&self, Parameters(refund): Parameters<Refund>) -> String {
        self.refunds.fetch_add(1, Ordering::SeqCst);
        format!(
            "refunded {} cents to {}",
            refund.cents, refund.customer_email
        )
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bank {}

async fn serve(
    channel: MockChannel,
) -> (
    rmcp::service::RunningService<rmcp::RoleClient, ()>,
    Arc<AtomicUsize>,
    MemoryAudit,
) {
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(
            Policy::new()
                .default_requirement(RequirementBuilder::new().approvers(["fin@example.com"])),
        )
        .channel(channel)
        .audit(audit.clone())
        .build();
    let refunds = Arc::new(AtomicUsize::new(0));
    let bank = Bank {
        refunds: refunds.clone(),
        tool_router: gate_tool_router(
            Bank::tool_router(),
            &gate,
            &ProxyConfig::new("agent:bot").server_name("bank"),
        ),
    };
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let server = bank.serve(server_io).await.unwrap();
        let _ = server.waiting().await;
    });
    let client = ().serve(client_io).await.unwrap();
    (client, refunds, audit)
}

fn refund() -> CallToolRequestParams {
    let arguments = serde_json::json!({ "customer_email": "jane@example.com", "cents": 700 });
    CallToolRequestParams::new("refund").with_arguments(arguments.as_object().unwrap().clone())
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn a_read_only_route_runs_and_a_destructive_one_waits_for_approval() {
    let channel = MockChannel::approve_all().voting_as(["fin@example.com"]);
    let (client, refunds, audit) = serve(channel.clone()).await;
    let balance = client
        .call_tool(CallToolRequestParams::new("get_balance"))
        .await
        .unwrap();
    assert_eq!(text(&balance), "125000");
    channel.assert_not_asked();

    let refunded = client.call_tool(refund()).await.unwrap();
    assert_eq!(refunded.is_error, Some(false));
    assert_eq!(text(&refunded), "refunded 700 cents to jane@example.com");
    assert_eq!(refunds.load(Ordering::SeqCst), 1);
    channel.assert_asked_for("mcp.bank.refund");
    let review = channel.last_request().unwrap();
    assert!(
        !serde_json::to_string(&review.arguments)
            .unwrap()
            .contains("jane@example.com")
    );
    let records = serde_json::to_string(&audit.records()).unwrap();
    assert!(records.contains(READ_ONLY_RULE));
    assert!(!records.contains("jane@example.com"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_denied_route_answers_is_error_and_its_handler_never_runs() {
    let channel = MockChannel::deny_all("not this quarter").voting_as(["fin@example.com"]);
    let (client, refunds, _audit) = serve(channel).await;
    let denied = client.call_tool(refund()).await.unwrap();
    assert_eq!(denied.is_error, Some(true));
    assert!(
        text(&denied).contains("not this quarter"),
        "{}",
        text(&denied)
    );
    assert_eq!(refunds.load(Ordering::SeqCst), 0);
    client.cancel().await.unwrap();
}
