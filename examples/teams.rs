//! Teams: an agent's export waits for a reviewer's click in Microsoft Teams.
//!
//! Serves the bot's messaging endpoint, posts an approval card to a Teams
//! conversation, and runs the export only if an eligible reviewer approves
//! before the deadline. The README's "Microsoft Teams" section says how to
//! register the bot and install it in Teams.
//!
//! ```text
//! TEAMS_APP_ID=…  TEAMS_APP_PASSWORD=…  TEAMS_TENANT_ID=… \
//! TEAMS_SERVICE_URL=https://smba.trafficmanager.net/emea/ \
//! TEAMS_CONVERSATION_ID='19:…@thread.tacv2' \
//! TEAMS_APPROVERS='<entra object id>=alice@example.com,<entra object id>=bob@example.com' \
//! cargo run --example teams --features teams
//! ```
//!
//! Optional: `TEAMS_BIND` (default `127.0.0.1:3978`; the endpoint is
//! `/api/messages`), `TEAMS_REQUESTER` (default `agent:support-bot`),
//! `TEAMS_AUTHORITY` and `TEAMS_OPENID_METADATA_URL` (national clouds).
//! With only the first three set and `TEAMS_DISCOVER=1`, it serves the
//! endpoint and prints the conversations the bot is addressed in, which is
//! how to find `TEAMS_SERVICE_URL` and `TEAMS_CONVERSATION_ID`.
//!
//! Without its settings it says which are missing and exits with status 2.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashSet;
use std::error::Error as StdError;
use std::process::ExitCode;
use std::time::Duration;

use approvals::audit::MemoryAudit;
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::teams::{Conversation, StaticDirectory, TeamsChannel, TeamsConfig};
use approvals::{ActionRequest, Error, Gate, Identity, Risk};
use serde::Serialize;

const REQUIRED: [&str; 3] = ["TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID"];
const REQUIRED_TO_POST: [&str; 3] = [
    "TEAMS_SERVICE_URL",
    "TEAMS_CONVERSATION_ID",
    "TEAMS_APPROVERS",
];

#[derive(Serialize)]
struct Export {
    table: String,
    bucket: String,
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    let discover = setting("TEAMS_DISCOVER").is_some_and(|value| value == "1");
    let needed: Vec<&str> = if discover {
        REQUIRED.to_vec()
    } else {
        REQUIRED.iter().chain(&REQUIRED_TO_POST).copied().collect()
    };
    let missing: Vec<&str> = needed
        .into_iter()
        .filter(|name| setting(name).is_none())
        .collect();
    if !missing.is_empty() {
        eprintln!("teams example: missing settings: {}", missing.join(", "));
        eprintln!();
        eprintln!(
            "  TEAMS_APP_ID        the bot's Microsoft App ID (Azure Bot resource, Configuration)"
        );
        eprintln!("  TEAMS_APP_PASSWORD  a client secret of that app registration");
        eprintln!("  TEAMS_TENANT_ID     the tenant the single-tenant bot is registered in");
        eprintln!("  TEAMS_SERVICE_URL   the conversation's service URL (see TEAMS_DISCOVER=1)");
        eprintln!("  TEAMS_CONVERSATION_ID  where to post cards (see TEAMS_DISCOVER=1)");
        eprintln!("  TEAMS_APPROVERS     '<entra object id>=<email>,…': who may approve");
        eprintln!();
        eprintln!("See the README's \"Microsoft Teams\" section for the set-up.");
        return ExitCode::from(2);
    }
    let result = if discover {
        discover_conversations().await
    } else {
        request_approval().await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("teams example: {error}");
            ExitCode::FAILURE
        }
    }
}

fn config(conversation: Conversation) -> TeamsConfig {
    let mut config = TeamsConfig::new(
        setting("TEAMS_APP_ID").unwrap_or_default(),
        setting("TEAMS_APP_PASSWORD").unwrap_or_default(),
        setting("TEAMS_TENANT_ID").unwrap_or_default(),
        conversation,
    );
    if let Some(authority) = setting("TEAMS_AUTHORITY") {
        config = config.authority(authority);
    }
    if let Some(url) = setting("TEAMS_OPENID_METADATA_URL") {
        config = config.openid_metadata_url(url);
    }
    config
}

async fn serve(teams: &TeamsChannel) -> Result<tokio::task::JoinHandle<()>, Box<dyn StdError>> {
    let bind = setting("TEAMS_BIND").unwrap_or_else(|| "127.0.0.1:3978".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!(
        "messaging endpoint: http://{}/api/messages",
        listener.local_addr()?
    );
    let router = teams.inbound().router();
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            eprintln!("the endpoint stopped: {error}");
        }
    }))
}

/// Serves the endpoint and prints each conversation the bot is addressed in
/// (install the app in a team, or mention the bot in a channel).
async fn discover_conversations() -> Result<(), Box<dyn StdError>> {
    let teams =
        TeamsChannel::builder(config(Conversation::new("", "")), StaticDirectory::new()).build()?;
    let _server = serve(&teams).await?;
    println!("waiting for Teams to address the bot (Ctrl-C to stop)…");
    let endpoint = teams.inbound();
    let mut printed = HashSet::new();
    loop {
        for conversation in endpoint.recent_conversations() {
            if printed.insert(conversation.clone()) {
                println!(
                    "TEAMS_SERVICE_URL={} TEAMS_CONVERSATION_ID='{}'",
                    conversation.service_url, conversation.conversation_id
                );
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn request_approval() -> Result<(), Box<dyn StdError>> {
    let mut directory = StaticDirectory::new();
    let mut approvers: Vec<Identity> = Vec::new();
    for pair in setting("TEAMS_APPROVERS").unwrap_or_default().split(',') {
        let Some((object_id, identity)) = pair.split_once('=') else {
            return Err(
                format!("TEAMS_APPROVERS: `{pair}` is not `<object id>=<identity>`").into(),
            );
        };
        directory = directory.user(object_id, identity);
        approvers.push(Identity::new(identity));
    }
    let conversation = Conversation::new(
        setting("TEAMS_SERVICE_URL").unwrap_or_default(),
        setting("TEAMS_CONVERSATION_ID").unwrap_or_default(),
    );
    let teams = TeamsChannel::builder(config(conversation), directory).build()?;
    let _server = serve(&teams).await?;

    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("exports need a reviewer")
                    .action("crm.export")
                    .require(
                        RequirementBuilder::new()
                            .approvers(approvers)
                            .timeout(Duration::from_secs(10 * 60))
                            .deny_reason_required(true),
                    ),
            ),
        )
        .channel(teams)
        .audit(audit.clone())
        .build();

    let requester = setting("TEAMS_REQUESTER").unwrap_or_else(|| "agent:support-bot".to_owned());
    let request = ActionRequest::new(
        "crm.export",
        Export {
            table: "customers".into(),
            bucket: "s3://analytics-exports".into(),
        },
    )
    .description("Export the customer table for the churn analysis")
    .risk(Risk::High)
    .requester(requester)
    .justification("The quarterly churn report is due on Friday.");

    println!("posted an approval card; waiting up to 10 minutes for a reviewer…");
    let outcome = gate
        .run(request, |export| async move {
            println!("exporting {} to {}", export.table, export.bucket);
            Ok::<_, Error>(())
        })
        .await;
    match outcome {
        Ok(()) => println!("approved and run"),
        Err(error) => println!("not run: {error}"),
    }
    println!("audit trail:");
    for record in audit.records() {
        println!("  {}", serde_json::to_string(&record)?);
    }
    Ok(())
}
