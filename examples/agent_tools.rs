//! Agent tools gated with `#[requires_approval]`.
//!
//! An agent has four tools, each an ordinary `async fn` with the attribute:
//!
//! - `read_record`: allowed by a policy rule (and still audited);
//! - `send_email`: a policy rule asks the communications desk, which
//!   approves; the message body is dropped from what reviewers see;
//! - `export_table`: no rule matches, so the requirement the attribute
//!   declares applies (two of the data-governance group); the first export is
//!   approved, the second denied with a reason;
//! - `rotate_key`: refused by a policy rule, whatever it declares.
//!
//! Reviewers are scripted in-memory approvers, so this runs with no set-up,
//! account or network. At the end it prints the audit timeline.
//!
//! ```text
//! cargo run --example agent_tools
//! ```

#![allow(clippy::print_stdout)]

use std::error::Error as StdError;
use std::sync::atomic::{AtomicUsize, Ordering};

use approvals::audit::{AuditEvent, AuditRecord, MemoryAudit};
use approvals::channel::Choice;
use approvals::policy::Policy;
use approvals::testing::MockChannel;
use approvals::{Conclusion, Error, ExecutionOutcome, Gate, requires_approval};

/// The policy, as it would sit in `policy.toml`.
const POLICY: &str = r#"
[groups]
comms = ["comms@example.com"]
data-governance = ["alice@example.com", "bob@example.com", "carol@example.com"]

[[rule]]
name = "reads are free"
action = "tools.read_*"
effect = "allow"

[[rule]]
name = "outbound email needs the comms desk"
action = "tools.send_email"
effect = "require_approval"
approvers = ["group:comms"]
timeout = "10m"

[[rule]]
name = "keys rotate in the release pipeline only"
action = "tools.rotate_key"
effect = "refuse"
reason = "signing keys are rotated by the release pipeline, not by agents"
"#;

/// A data warehouse client: not part of any request.
struct Warehouse {
    name: &'static str,
}

/// Reads one customer record.
#[requires_approval(name = "tools.read_record", risk = "low")]
async fn read_record(customer_id: u64) -> Result<String, Error> {
    Ok(format!("customer {customer_id}: active, 3 orders"))
}

/// Sends an email on the customer's behalf.
#[requires_approval(name = "tools.send_email", risk = "medium")]
async fn send_email(
    #[approval(mask = "email")] to: String,
    subject: String,
    #[approval(mask = "drop")] body: String,
) -> Result<String, Error> {
    Ok(format!(
        "sent \"{subject}\" ({} characters) to {to}",
        body.len()
    ))
}

/// Exports a table to a bucket.
#[requires_approval(
    name = "tools.export_table",
    risk = "high",
    approvers = "data-governance",
    quorum = 2,
    timeout = "15m",
    justification = format!("monthly report needs the {table} table"),
)]
async fn export_table(
    table: &str,
    destination: &str,
    #[approval(skip)] warehouse: &Warehouse,
) -> Result<String, Error> {
    Ok(format!(
        "{table} exported from {} to {destination}",
        warehouse.name
    ))
}

/// Rotates a signing key.
#[requires_approval(
    name = "tools.rotate_key",
    risk = "critical",
    approvers = "group:data-governance"
)]
async fn rotate_key(key_id: String) -> Result<String, Error> {
    Ok(format!("{key_id} rotated"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn StdError>> {
    let audit = MemoryAudit::new();
    // Every request goes to every channel; each scripted desk answers only
    // what it is responsible for.
    let comms_desk = MockChannel::decide(|request| {
        (request.action == "tools.send_email").then_some(Choice::Approve)
    })
    .voting_as(["comms@example.com"])
    .named("comms-desk");
    // The board approves the first export and denies the second.
    let exports_seen = AtomicUsize::new(0);
    let governance = MockChannel::decide(move |request| {
        if request.action != "tools.export_table" {
            return None;
        }
        Some(match exports_seen.fetch_add(1, Ordering::SeqCst) {
            0 => Choice::Approve,
            _ => Choice::deny("payroll data never leaves the warehouse"),
        })
    })
    .voting_as(["alice@example.com", "bob@example.com"])
    .named("governance-board");
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY)?)
        .channel(comms_desk.clone())
        .channel(governance)
        .audit(audit.clone())
        .build();
    let warehouse = Warehouse { name: "analytics" };

    println!("The agent uses its tools:\n");
    let session = async {
        report("read_record", read_record(1042).await);
        report(
            "send_email",
            send_email(
                "jane.doe@example.com".into(),
                "Your refund".into(),
                "Hello Jane, your refund of 42.00 EUR is on its way.".into(),
            )
            .await,
        );
        report(
            "export_table",
            export_table("customers", "s3://reports/customers.csv", &warehouse).await,
        );
        report(
            "export_table",
            export_table("payroll", "s3://reports/payroll.csv", &warehouse).await,
        );
        report("rotate_key", rotate_key("signing-2024".into()).await);
    };
    // Every call inside runs through this gate, as this agent.
    approvals::scope(
        gate,
        approvals::scope_requester("agent:support-bot", session),
    )
    .await;

    let email_review = comms_desk
        .asked()
        .into_iter()
        .find(|request| request.action == "tools.send_email");
    if let Some(seen) = email_review {
        println!(
            "\nThe comms desk saw the email as {} (the body is dropped, the address masked).",
            seen.arguments
        );
    }

    println!("\nThe audit timeline:\n");
    let records = audit.records();
    let start = records
        .first()
        .map(|record| record.at.unix_millis())
        .unwrap_or_default();
    for record in &records {
        let elapsed = record.at.unix_millis().saturating_sub(start);
        let id = record.request_id.to_string();
        println!(
            "  +{elapsed:>4} ms  {}  {}",
            &id[..8.min(id.len())],
            describe(record)
        );
    }
    Ok(())
}

/// Prints how one tool call ended.
fn report(tool: &str, result: Result<String, Error>) {
    match result {
        Ok(done) => println!("  {tool:<13} ran      -> {done}"),
        Err(error) => println!("  {tool:<13} stopped  -> {error}"),
    }
}

/// One audit record in a few words (the record holds only masked values).
fn describe(record: &AuditRecord) -> String {
    match &record.event {
        AuditEvent::Requested {
            action,
            requester,
            verdict,
            rule,
            arguments,
            ..
        } => format!(
            "requested  {action} by {requester}: {verdict}{} {arguments}",
            rule.as_ref()
                .map(|rule| format!(" (rule `{rule}`)"))
                .unwrap_or_else(|| " (no rule matched)".to_owned())
        ),
        AuditEvent::Vote {
            voter,
            choice,
            counted,
            ..
        } => format!(
            "vote       {voter} {}{}",
            match choice {
                Choice::Approve => "approves".to_owned(),
                Choice::Deny { reason } => format!("denies: {}", reason.as_deref().unwrap_or("")),
            },
            if *counted { "" } else { " (not counted)" }
        ),
        AuditEvent::Escalated { added } => format!("escalated  to {added:?}"),
        AuditEvent::Edited {
            editor,
            changed,
            accepted,
            ..
        } => format!(
            "edited     by {editor}: {}{}",
            changed.join(", "),
            if *accepted { "" } else { " (refused)" }
        ),
        AuditEvent::Concluded { conclusion } => format!(
            "concluded  {}",
            match conclusion {
                Conclusion::Approved { .. } => "approved".to_owned(),
                Conclusion::AllowedByPolicy { .. } => "allowed by policy".to_owned(),
                Conclusion::RefusedByPolicy { reason, .. } =>
                    format!("refused by policy: {reason}"),
                Conclusion::Denied { by, .. } => format!("denied by {by}"),
                other => format!("{other:?}"),
            }
        ),
        AuditEvent::Executed { outcome } => format!(
            "executed   {}",
            match outcome {
                ExecutionOutcome::Ok => "ok".to_owned(),
                other => format!("{other:?}"),
            }
        ),
        AuditEvent::ShadowDisagreement { candidate, .. } => {
            format!("shadow     candidate would {}", candidate.verdict)
        }
    }
}
