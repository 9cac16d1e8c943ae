//! A small MCP server to put `approvals mcp proxy` in front of: a bank with
//! one read-only tool (`get_balance`) and one destructive tool (`refund`).
//!
//! ```text
//! cargo build -p approvals-cli --example mcp_server
//! approvals mcp proxy --policy policy.toml --audit audit.jsonl \
//!     --http-listen 127.0.0.1:8080 --http-token-file tokens.txt \
//!     -- target/debug/examples/mcp_server
//! ```
//!
//! It speaks MCP on standard input and output, or, with `--http ADDR`,
//! streamable HTTP at `http://ADDR/mcp` (the address is printed on standard
//! error; port 0 picks a free one). When `MCP_EXAMPLE_CALL_LOG`
//! names a file, it appends `started <pid>` when it starts and one line per
//! tool call it receives (`call <tool> <arguments as JSON>`), so one can
//! check which calls reached it.

#![allow(clippy::print_stderr)]

use std::io::Write;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The arguments of `get_balance`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Account {
    /// The account's id.
    account: String,
}

/// The arguments of `refund`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Refund {
    /// The customer's email address.
    customer_email: String,
    /// The amount, in cents.
    cents: u64,
}

#[derive(Debug, Clone)]
struct Bank;

fn record(tool: &str, arguments: &impl Serialize) {
    let Ok(path) = std::env::var("MCP_EXAMPLE_CALL_LOG") else {
        return;
    };
    let arguments = serde_json::to_string(arguments).unwrap_or_default();
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "call {tool} {arguments}");
    }
}

#[tool_router]
impl Bank {
    /// The balance of an account, in cents.
    #[tool(annotations(title = "Get balance", read_only_hint = true))]
    async fn get_balance(&self, Parameters(account): Parameters<Account>) -> String {
        record("get_balance", &account);
        format!("{{\"account\":\"{}\",\"cents\":125000}}", account.account)
    }

    /// Refund a customer. Money leaves the bank.
    #[tool(annotations(title = "Refund", read_only_hint = false, destructive_hint = true))]
    async fn refund(&self, Parameters(refund): Parameters<Refund>) -> String {
        record("refund", &refund);
        format!("refunded {} cents", refund.cents)
    }
}

#[tool_handler]
impl ServerHandler for Bank {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bank", env!("CARGO_PKG_VERSION")))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(path) = std::env::var("MCP_EXAMPLE_CALL_LOG") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "started {}", std::process::id())?;
    }
    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(addr)) = (args.next(), args.next())
        && flag == "--http"
    {
        return serve_http(&addr).await;
    }
    let server = Bank.serve(rmcp::transport::stdio()).await?;
    server.waiting().await?;
    Ok(())
}

async fn serve_http(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

    let service = StreamableHttpService::new(
        || Ok(Bank),
        std::sync::Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!(
        "bank MCP server listens on http://{}/mcp",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
