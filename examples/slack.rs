//! Slack: a gated deploy that waits for a click in a Slack channel.
//!
//! Serves the interactivity endpoint, asks the gate to run
//! `deploy.production`, and waits until someone in `SLACK_APPROVERS`
//! approves or denies it in Slack (or ten minutes pass: silence means deny).
//!
//! ```text
//! SLACK_BOT_TOKEN=xoxb-… SLACK_SIGNING_SECRET=… SLACK_CHANNEL=C0123456789 \
//! SLACK_APPROVERS=you@example.com \
//! cargo run --example slack --features slack
//! ```
//!
//! Optional: `APPROVALS_LISTEN` (default `127.0.0.1:3000`), the address the
//! interactivity endpoint listens on at `/slack/interactivity`. Slack must
//! reach it: the README's Slack section shows how, with a tunnel.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error as StdError;
use std::process::ExitCode;
use std::time::Duration;

use approvals::audit::MemoryAudit;
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::slack::{SlackChannel, SlackClient};
use approvals::{ActionRequest, Error, Gate, Risk};
use serde::Serialize;

/// What each variable is for, shown when it is missing.
const REQUIRED: [(&str, &str); 4] = [
    (
        "SLACK_BOT_TOKEN",
        "the app's Bot User OAuth Token (xoxb-…), under OAuth & Permissions",
    ),
    (
        "SLACK_SIGNING_SECRET",
        "the app's Signing Secret, under Basic Information",
    ),
    (
        "SLACK_CHANNEL",
        "the id of the channel to post to (C…), with the app invited to it",
    ),
    (
        "SLACK_APPROVERS",
        "comma-separated emails of who may approve (their Slack profile emails)",
    ),
];

#[derive(Serialize)]
struct Deploy {
    service: String,
    version: String,
    notify_email: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut values = Vec::new();
    let mut missing = Vec::new();
    for (name, what) in REQUIRED {
        match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => values.push(value.trim().to_owned()),
            _ => missing.push((name, what)),
        }
    }
    if !missing.is_empty() {
        eprintln!("The Slack example needs these environment variables:");
        for (name, what) in missing {
            eprintln!("  {name}: {what}");
        }
        eprintln!("See the README's Slack section for setting up the app.");
        return ExitCode::from(2);
    }
    let [token, secret, channel, approvers] = <[String; 4]>::try_from(values).unwrap_or_default();
    match run(token, secret, channel, &approvers).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    token: String,
    secret: String,
    channel: String,
    approvers: &str,
) -> Result<(), Box<dyn StdError>> {
    let client = SlackClient::new(token)?;
    // Slack users are mapped to identities by their profile email.
    let slack = SlackChannel::builder(client, channel, secret)
        .mention_approvers(true)
        .build();
    let interactivity = slack.inbound();

    let listen = std::env::var("APPROVALS_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "interactivity endpoint: http://{}/slack/interactivity",
        listener.local_addr()?
    );
    let app = interactivity.router("/slack/interactivity");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("production deploys need a human")
                    .action("deploy.production")
                    .require(
                        RequirementBuilder::new()
                            .approvers(approvers.split(',').map(str::trim))
                            .timeout(Duration::from_secs(600)),
                    ),
            ),
        )
        .channel(slack.clone())
        .audit(audit.clone())
        .build();

    let request = ActionRequest::new(
        "deploy.production",
        Deploy {
            service: "checkout".into(),
            version: "2.4.1".into(),
            notify_email: "oncall@example.com".into(),
        },
    )
    .description("Deploy a release of a service to production")
    .risk(Risk::High)
    .requester("agent:release-bot")
    .justification("Fixes the failing payment retries reported this morning.");

    println!("asking for approval in Slack; approve or deny the message there…");
    let outcome = gate
        .run(request, |deploy| async move {
            println!("deploying {} {}", deploy.service, deploy.version);
            Ok::<_, Error>(())
        })
        .await;
    match &outcome {
        Ok(()) => println!("approved and run"),
        Err(error) => println!("not run: {error}"),
    }
    // Let the message update reach Slack before exiting.
    slack.drain().await;
    println!("audit trail:");
    for record in audit.records() {
        println!("  {}", serde_json::to_string(&record)?);
    }
    Ok(())
}
