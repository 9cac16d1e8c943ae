//! An agent loop as it looks for real: a chat-completions model calls tools,
//! every tool is a gated function, and a person at the terminal approves.
//!
//! With `OPENAI_API_KEY` set (and `OPENAI_BASE_URL` for any
//! OpenAI-compatible endpoint; default `https://api.openai.com/v1`, model
//! from `OPENAI_MODEL`, default `gpt-4o-mini`), the model is asked over
//! HTTP. Without the key it runs on a scripted model, offline, and says so.
//!
//! ```text
//! cargo run --example agent_loop --features terminal
//! ```
//!
//! Reading an invoice is allowed by policy; a refund of 100.00 or more asks
//! the terminal's user (who is not the agent, so may approve); exporting
//! customers is refused. Without a terminal (CI, a pipe), the refund fails
//! closed at once, and the model is told so.

#![allow(clippy::print_stdout)]

use std::error::Error as StdError;

use approvals::policy::Policy;
use approvals::terminal::TerminalChannel;
use approvals::{Error, Gate, requires_approval};
use serde_json::{Value, json};

const POLICY: &str = r#"
[[rule]]
name = "reading invoices is free"
action = "billing.get_invoice"
effect = "allow"

[[rule]]
name = "small refunds are free"
action = "billing.refund"
when = [{ arg = "amount_cents", lt = 10000 }]
effect = "allow"

[[rule]]
name = "large refunds need a person"
action = "billing.refund"
effect = "require_approval"
approvers = ["*"]
timeout = "2m"

[[rule]]
name = "no bulk exports by agents"
action = "crm.export_customers"
effect = "refuse"
reason = "customer exports go through the data team"
"#;

/// Reads an invoice.
#[requires_approval(name = "billing.get_invoice", risk = "low")]
async fn get_invoice(invoice_id: String) -> Result<Value, Error> {
    Ok(
        json!({ "invoice_id": invoice_id, "amount_cents": 42_000, "customer": "c_1042", "status": "paid twice" }),
    )
}

/// Refunds part of an invoice.
#[requires_approval(name = "billing.refund", risk = "high")]
async fn refund(invoice_id: String, amount_cents: u64) -> Result<Value, Error> {
    Ok(json!({ "refunded": amount_cents, "invoice_id": invoice_id }))
}

/// Exports the customer table.
#[requires_approval(name = "crm.export_customers", risk = "critical")]
async fn export_customers(destination: String) -> Result<Value, Error> {
    Ok(json!({ "exported_to": destination }))
}

/// The tools, as the chat-completions API describes them.
fn tools() -> Value {
    let tool = |name: &str, description: &str, properties: Value, required: &[&str]| {
        json!({ "type": "function", "function": {
            "name": name, "description": description,
            "parameters": { "type": "object", "properties": properties, "required": required },
        }})
    };
    json!([
        tool(
            "get_invoice",
            "Read an invoice",
            json!({ "invoice_id": { "type": "string" } }),
            &["invoice_id"]
        ),
        tool(
            "refund",
            "Refund part of an invoice, in cents",
            json!({ "invoice_id": { "type": "string" }, "amount_cents": { "type": "integer" } }),
            &["invoice_id", "amount_cents"],
        ),
        tool(
            "export_customers",
            "Export the customer table",
            json!({ "destination": { "type": "string" } }),
            &["destination"],
        ),
    ])
}

/// Runs one tool call through its gated function; the model sees the
/// result, or why it did not run.
async fn call_tool(name: &str, arguments: &Value) -> Value {
    let text = |key: &str| arguments[key].as_str().unwrap_or_default().to_owned();
    let result = match name {
        "get_invoice" => get_invoice(text("invoice_id")).await,
        "refund" => {
            refund(
                text("invoice_id"),
                arguments["amount_cents"].as_u64().unwrap_or(0),
            )
            .await
        }
        "export_customers" => export_customers(text("destination")).await,
        other => return json!({ "error": format!("no tool named {other}") }),
    };
    match result {
        Ok(value) => value,
        // A denial, an expiry or a refusal is an answer the model can use.
        Err(error) => json!({ "not_run": error.to_string() }),
    }
}

/// A chat-completions model: over HTTP, or scripted.
enum Model {
    Remote {
        http: reqwest::Client,
        url: String,
        key: String,
        model: String,
    },
    Scripted {
        turn: usize,
    },
}

impl Model {
    fn from_env() -> Self {
        match std::env::var("OPENAI_API_KEY") {
            Ok(key) if !key.is_empty() => {
                let base = std::env::var("OPENAI_BASE_URL")
                    .unwrap_or_else(|_| "https://api.openai.com/v1".to_owned());
                Model::Remote {
                    http: reqwest::Client::new(),
                    url: format!("{}/chat/completions", base.trim_end_matches('/')),
                    key,
                    model: std::env::var("OPENAI_MODEL")
                        .unwrap_or_else(|_| "gpt-4o-mini".to_owned()),
                }
            }
            _ => {
                println!(
                    "(OPENAI_API_KEY is not set: a scripted model plays the agent, offline)\n"
                );
                Model::Scripted { turn: 0 }
            }
        }
    }

    /// The assistant's next message.
    async fn next(&mut self, messages: &[Value]) -> Result<Value, Box<dyn StdError>> {
        match self {
            Model::Remote {
                http,
                url,
                key,
                model,
            } => {
                let answer: Value = http
                    .post(url.as_str())
                    .bearer_auth(key.as_str())
                    .json(&json!({ "model": model, "messages": messages, "tools": tools() }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                Ok(answer["choices"][0]["message"].clone())
            }
            Model::Scripted { turn } => {
                *turn += 1;
                let call = |id: &str, name: &str, arguments: Value| {
                    json!({ "id": id, "type": "function",
                            "function": { "name": name, "arguments": arguments.to_string() } })
                };
                Ok(match *turn {
                    1 => json!({ "role": "assistant", "content": null, "tool_calls": [
                        call("c1", "get_invoice", json!({ "invoice_id": "inv_2231" })) ] }),
                    2 => json!({ "role": "assistant", "content": null, "tool_calls": [
                        call("c2", "refund", json!({ "invoice_id": "inv_2231", "amount_cents": 21_000 })),
                        call("c3", "export_customers", json!({ "destination": "s3://scratch/customers.csv" })) ] }),
                    _ => json!({ "role": "assistant",
                                 "content": "I looked at the invoice and asked for the refund; see above for what was allowed." }),
                })
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn StdError>> {
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY)?)
        .channel(TerminalChannel::new())
        .audit(approvals::audit::MemoryAudit::new())
        .build();
    let mut model = Model::from_env();
    let mut messages = vec![
        json!({ "role": "system", "content": "You are a billing assistant. Use the tools." }),
        json!({ "role": "user", "content": "Invoice inv_2231 was charged twice; refund the double charge, and send me the customer list." }),
    ];
    let session = async {
        for _ in 0..8 {
            let reply = model.next(&messages).await?;
            messages.push(reply.clone());
            let Some(calls) = reply["tool_calls"]
                .as_array()
                .filter(|calls| !calls.is_empty())
            else {
                println!("agent: {}", reply["content"].as_str().unwrap_or_default());
                return Ok::<_, Box<dyn StdError>>(());
            };
            for call in calls {
                let name = call["function"]["name"].as_str().unwrap_or_default();
                let arguments: Value =
                    serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("{}"))
                        .unwrap_or(Value::Null);
                let result = call_tool(name, &arguments).await;
                println!("tool {name}: {result}");
                messages.push(json!({ "role": "tool", "tool_call_id": call["id"], "content": result.to_string() }));
            }
        }
        Ok(())
    };
    approvals::scope(
        gate,
        approvals::scope_requester("agent:billing-assistant", session),
    )
    .await
}
