//! Quickstart: an agent calls three sensitive actions through the gate.
//!
//! - reading a customer record is allowed by policy (and still audited);
//! - a refund is approved by the finance desk;
//! - a full customer export is denied by the privacy desk, with a reason.
//!
//! The reviewers are scripted in-memory approvers, so this runs with no
//! set-up, account or network. The audit trail goes to a hash-chained JSON
//! Lines file, which is then verified, and a tampered copy is shown failing.
//!
//! ```text
//! cargo run --example quickstart
//! ```

#![allow(clippy::print_stdout)]

use std::error::Error as StdError;
use std::sync::Arc;

use approvals::audit::{self, JsonlAudit};
use approvals::channel::Choice;
use approvals::policy::Policy;
use approvals::testing::MockChannel;
use approvals::{ActionRequest, Error, Gate, Risk};
use serde::Serialize;

/// The policy, as it would sit in `policy.toml`.
const POLICY: &str = r#"
[groups]
finance = ["fin@example.com"]
privacy = ["dpo@example.com"]

[[rule]]
name = "reads are free"
action = "crm.read_*"
effect = "allow"

[[rule]]
name = "refunds need finance"
action = "billing.refund"
effect = "require_approval"
approvers = ["group:finance"]
timeout = "5m"

[[rule]]
name = "exports need the privacy officer"
action = "crm.export_*"
effect = "require_approval"
approvers = ["group:privacy"]
deny_reason_required = true
timeout = "15m"
"#;

const AGENT: &str = "agent:support-bot";

#[derive(Serialize)]
struct Refund {
    customer_email: String,
    amount_cents: u64,
}

#[derive(Serialize)]
struct Export {
    table: String,
    destination: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn StdError>> {
    let dir = std::env::temp_dir().join(format!("approvals-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let log_path = dir.join("audit.jsonl");
    let audit = Arc::new(JsonlAudit::open(&log_path)?);

    // Two scripted reviewers: each votes only on what they are responsible for.
    let finance_desk = MockChannel::decide(|request| {
        (request.action == "billing.refund").then_some(Choice::Approve)
    })
    .voting_as(["fin@example.com"])
    .named("finance-desk");
    let privacy_desk = MockChannel::decide(|request| {
        request
            .action
            .starts_with("crm.export_")
            .then(|| Choice::deny("a full export needs a data-processing ticket"))
    })
    .voting_as(["dpo@example.com"])
    .named("privacy-desk");

    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY)?)
        .channel(finance_desk.clone())
        .channel(privacy_desk)
        .default_requester(AGENT)
        .audit(Arc::clone(&audit))
        .build();

    println!("An agent makes three calls:\n");

    // 1. Allowed by policy.
    let read = ActionRequest::new("crm.read_customer", "c_1042")
        .description("Read one customer record")
        .risk(Risk::Low);
    let record = gate
        .run(read, |id| async move {
            Ok::<_, Error>(format!("customer {id}: active, 3 orders"))
        })
        .await?;
    println!("  crm.read_customer     allowed by policy  -> {record}");

    // 2. Approved by the finance desk.
    let refund = ActionRequest::new(
        "billing.refund",
        Refund {
            customer_email: "jane.doe@example.com".into(),
            amount_cents: 4_200,
        },
    )
    .description("Refund a customer's last invoice")
    .risk(Risk::High)
    .justification("Jane Doe reports a double charge on her last invoice.");
    let refunded = gate
        .run(refund, |refund| async move {
            Ok::<_, Error>(refund.amount_cents)
        })
        .await?;
    println!("  billing.refund        approved           -> refunded {refunded} cents");
    if let Some(seen) = finance_desk.last_request() {
        println!(
            "                        the reviewer saw the arguments as {}",
            seen.arguments
        );
    }

    // 3. Denied by the privacy desk, with a reason; the body never runs.
    let export = ActionRequest::new(
        "crm.export_customers",
        Export {
            table: "customers".into(),
            destination: "s3://partner-bucket/dump.csv".into(),
        },
    )
    .description("Export the customer table")
    .risk(Risk::Critical);
    let denied = gate
        .run(export, |_| async { Ok::<_, Error>("exported") })
        .await;
    match denied {
        Err(error @ Error::Denied { .. }) => {
            println!("  crm.export_customers  denied             -> {error}")
        }
        other => return Err(format!("the export should have been denied, got {other:?}").into()),
    }

    audit.close().await?;
    println!("\nThe audit trail is in {}:\n", log_path.display());
    for line in std::fs::read_to_string(&log_path)?.lines() {
        println!("  {}", summarize(line)?);
    }

    let report = audit::verify(&log_path, None)?;
    println!("\nHash chain verified: {} records, intact.", report.records);

    // Change who approved the refund in a copy of the log, and verify again.
    let tampered = dir.join("audit-tampered.jsonl");
    let original = std::fs::read_to_string(&log_path)?;
    std::fs::write(
        &tampered,
        original.replacen(
            "\"by\":[\"fin@example.com\"]",
            "\"by\":[\"eve@example.com\"]",
            1,
        ),
    )?;
    match audit::verify(&tampered, None) {
        Err(error) => println!("A copy with one approver's name changed fails: {error}."),
        Ok(_) => return Err("the tampered copy verified".into()),
    }
    Ok(())
}

/// One line of the audit log in a few words.
fn summarize(line: &str) -> Result<String, Box<dyn StdError>> {
    let entry: serde_json::Value = serde_json::from_str(line)?;
    let record = &entry["record"];
    let text = |key: &str| record[key].as_str().unwrap_or_default().to_owned();
    let id = text("request_id");
    let detail = match text("event").as_str() {
        "requested" => format!(
            "requested  {} by {} ({})",
            text("action"),
            text("requester"),
            text("verdict")
        ),
        "vote" => format!(
            "vote       {} {} via {}{}",
            text("voter"),
            text("choice"),
            text("channel"),
            if record["counted"] == true {
                String::new()
            } else {
                format!(" (not counted: {})", text("refusal"))
            }
        ),
        "concluded" => match text("outcome").as_str() {
            "denied" => format!("concluded  denied by {}: {}", text("by"), text("reason")),
            "approved" => format!("concluded  approved by {}", record["by"]),
            outcome => format!("concluded  {}", outcome.replace('_', " ")),
        },
        "executed" => format!("executed   {}", text("result")),
        other => other.to_owned(),
    };
    let seq = format!("#{}", entry["seq"]);
    Ok(format!("{seq:<4} {}  {detail}", &id[..8.min(id.len())]))
}
