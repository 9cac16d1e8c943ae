//! Durable approvals: a request that survives its process.
//!
//! Run it twice:
//!
//! ```text
//! cargo run --example durable --features sqlite,testing
//! cargo run --example durable --features sqlite,testing
//! ```
//!
//! The first run asks to rotate a key, which needs the security team's
//! approval, and stops (as a deploy or a crash would) before anyone answers.
//! The request stays in a SQLite file. The second run finds it pending,
//! approves it as the reviewer would from Slack while nothing waited, then
//! makes the same call again: the call takes up the stored request (nobody
//! is asked twice) and runs it once. A third run is told the call already
//! ran; `-- --reset` starts over.
//!
//! The store file and the audit trail are in the system's temporary
//! directory.

#![allow(clippy::print_stdout)]

use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use approvals::audit::JsonlAudit;
use approvals::channel::{Ballot, Choice};
use approvals::policy::Policy;
use approvals::store::SqliteStore;
use approvals::testing::QueueChannel;
use approvals::{ActionRequest, Error, Gate};

const POLICY: &str = r#"
[groups]
security = ["sec@example.com"]

[[rule]]
name = "key rotation needs security"
action = "keys.rotate"
effect = "require_approval"
approvers = ["group:security"]
timeout = "1h"
"#;

fn place(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("approvals-durable-example.{name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn StdError>> {
    if std::env::args().any(|arg| arg == "--reset") {
        for name in ["db", "db-wal", "db-shm", "audit.jsonl"] {
            let _ = std::fs::remove_file(place(name));
        }
        println!("started over: the next run asks again");
        return Ok(());
    }
    let store = SqliteStore::open(place("db")).await?;
    let audit = Arc::new(JsonlAudit::open(place("audit.jsonl"))?);
    let (channel, reviewer) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY)?)
        .channel(channel)
        .store(store)
        .audit(Arc::clone(&audit))
        .build();

    // A request left pending by an earlier run: the reviewer approves it
    // now, as they would from Slack while no process was waiting.
    let pending = gate.stored_pending(10).await?;
    for review in &pending {
        println!(
            "found request {} ({}) pending since {}",
            review.id, review.action, review.requested_at
        );
        let outcome = reviewer
            .cast(Ballot::new(review, "sec@example.com", Choice::Approve))
            .await?;
        println!(
            "sec@example.com approves it: counted = {}",
            outcome.counted()
        );
    }

    // The agent's call. The same call, in a later run, finds the stored
    // request by its key rather than asking again.
    let request = ActionRequest::new("keys.rotate", serde_json::json!({ "key_id": "k-prod-7" }))
        .requester("agent:ops-bot")
        .key("maintenance-2026-12/rotate-k-prod-7");
    let call = gate.run(request, |arguments| async move {
        println!("rotating {} (the body runs, once)", arguments["key_id"]);
        Ok::<_, Error>(())
    });
    let outcome = if pending.is_empty() {
        println!("the agent asks to rotate k-prod-7");
        // Stop before anyone answers, as a deploy or a crash would.
        match tokio::time::timeout(Duration::from_millis(500), call).await {
            Ok(outcome) => outcome,
            Err(_) => {
                println!(
                    "the security team has not answered; this process stops now, with the request pending: run the example again"
                );
                std::process::exit(0);
            }
        }
    } else {
        call.await
    };
    match outcome {
        Ok(()) => println!("done: the approved call ran once"),
        Err(Error::AlreadyRun { request_id }) => {
            println!(
                "request {request_id} already ran: it never runs twice (`-- --reset` starts over)"
            );
        }
        Err(other) => println!("the call did not run: {other}"),
    }
    audit.close().await?;
    Ok(())
}
