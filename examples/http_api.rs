//! The HTTP channel: an agent's deploy waits until an operator approves it
//! over the REST API, with the `approvals` command or with curl.
//!
//! ```text
//! cargo run --example http_api --features http
//! ```
//!
//! It serves the API on 127.0.0.1:8080 (set `APPROVALS_ADDR` to change it)
//! with two static tokens, starts a gated call, and prints the commands to
//! decide it. The call waits ten minutes; silence means deny. The audit
//! trail is printed at the end.
//!
//! | token | identity |
//! | --- | --- |
//! | `ops-token` (or `$APPROVALS_DEMO_TOKEN`) | `ops@example.com`, the approver |
//! | `agent-token` | `agent:deploy-bot`, the requester (its votes never count) |

#![allow(clippy::print_stdout)]

use std::error::Error as StdError;
use std::time::Duration;

use approvals::audit::MemoryAudit;
use approvals::http::{HttpChannel, StaticTokens};
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::{ActionRequest, Error, Gate, Risk};
use serde::Serialize;

#[derive(Serialize)]
struct Deploy {
    service: String,
    version: String,
    notify: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    let addr = std::env::var("APPROVALS_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let ops_token =
        std::env::var("APPROVALS_DEMO_TOKEN").unwrap_or_else(|_| "ops-token".to_owned());

    let approver = HttpChannel::builder()
        .authenticator(
            StaticTokens::new()
                .token(&ops_token, "ops@example.com")
                .token("agent-token", "agent:deploy-bot"),
        )
        .build()?;
    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("production deploys need ops")
                    .action("deploy.*")
                    .require(
                        RequirementBuilder::new()
                            .approvers(["ops@example.com"])
                            .timeout(Duration::from_secs(600)),
                    ),
            ),
        )
        .channel(approver.clone())
        .audit(audit.clone())
        .build();

    // The app mounts the API wherever it likes; here, at the root.
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().merge(approver.router());
    tokio::spawn(async move { axum::serve(listener, app).await });

    println!("The approvals API is listening on {url}.\n");
    println!("With the `approvals` command:");
    println!("  export APPROVALS_URL={url} APPROVALS_TOKEN={ops_token}");
    println!("  cargo run -q -p approvals-cli -- pending");
    println!("  cargo run -q -p approvals-cli -- approve <ID>");
    println!("  cargo run -q -p approvals-cli -- deny <ID> --reason 'not during the freeze'\n");
    println!("With curl:");
    println!("  curl -s -H 'authorization: Bearer {ops_token}' {url}/v1/requests");
    println!(
        "  curl -s -X POST -H 'authorization: Bearer {ops_token}' {url}/v1/requests/<ID>/approve"
    );
    println!(
        "  curl -s -X POST -H 'authorization: Bearer {ops_token}' -H 'content-type: application/json' \\\n       -d '{{\"reason\":\"not now\"}}' {url}/v1/requests/<ID>/deny\n"
    );

    let request = ActionRequest::new(
        "deploy.production",
        Deploy {
            service: "billing".into(),
            version: "2.14.0".into(),
            notify: "oncall-lead@example.com".into(),
        },
    )
    .description("Deploy a service version to production")
    .risk(Risk::High)
    .requester("agent:deploy-bot")
    .justification("Release train 42 passed staging.");

    let gate_for_call = gate.clone();
    let call = tokio::spawn(async move {
        gate_for_call
            .run(request, |deploy| async move {
                println!("Deploying {} {} ...", deploy.service, deploy.version);
                Ok::<_, Error>(())
            })
            .await
    });
    // Show the id the operator needs as soon as the request is pending.
    for _ in 0..100 {
        if let Some(pending) = approver.pending().first() {
            println!("Waiting for a decision on request {}", pending.id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    match call.await? {
        Ok(()) => println!("Deployed."),
        Err(error) => println!("Not deployed: {error}"),
    }
    println!("\nThe audit trail:");
    for record in audit.records() {
        println!("  {}", serde_json::to_string(&record)?);
    }
    Ok(())
}
