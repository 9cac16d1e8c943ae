//! `approvals pending`, `approve` and `deny`: the HTTP API from the command
//! line.

use std::time::{Duration, SystemTime};

use approvals_core::Timestamp;
use clap::Args;
use serde_json::{Value, json};

use crate::exit;
use crate::out::{Out, Tone, clean};

/// Where the API is and who you are.
#[derive(Debug, Args)]
pub(crate) struct Remote {
    /// The API's base URL, where the app mounts it
    /// (http://127.0.0.1:8080 or https://ops.example.com/approvals).
    #[arg(long, env = "APPROVALS_URL", value_name = "URL")]
    url: String,
    /// Your bearer token. Prefer the APPROVALS_TOKEN environment variable:
    /// other users can see command-line arguments in the process list.
    #[arg(
        long,
        env = "APPROVALS_TOKEN",
        hide_env_values = true,
        value_name = "T"
    )]
    token: String,
    /// How long to wait for the API.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    timeout: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct PendingArgs {
    #[command(flatten)]
    remote: Remote,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    /// The request's id (from `approvals pending`).
    id: String,
    /// The fingerprint of the call you reviewed (from `approvals pending`);
    /// without it, the request is read first and its fingerprint used.
    /// The vote counts only for exactly that call.
    #[arg(long, value_name = "HEX")]
    fingerprint: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub(crate) struct DenyArgs {
    /// The request's id (from `approvals pending`).
    id: String,
    /// Why; required when the request's policy says so.
    #[arg(long, short, value_name = "R")]
    reason: Option<String>,
    /// As for `approve`.
    #[arg(long, value_name = "HEX")]
    fingerprint: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// An answer of the API: its status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

fn call(
    remote: &Remote,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(remote.timeout)
        .user_agent(concat!("approvals-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| format!("could not start the HTTP client: {error}"))?;
    let url = format!("{}{path}", remote.url.trim_end_matches('/'));
    let mut request = client.request(method, &url).bearer_auth(&remote.token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .map_err(|error| format!("could not reach {url}: {}", root_cause(&error)))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .map_err(|error| format!("could not read the answer from {url}: {error}"))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

/// Reports an answer that is not the expected success; returns the exit code.
fn failure(answer: &Answer, out: &Out) -> u8 {
    let code = answer.body["error"]["code"].as_str().unwrap_or("");
    let message = answer.body["error"]["message"]
        .as_str()
        .map(clean)
        .unwrap_or_else(|| format!("the API answered {}", answer.status));
    match answer.status {
        401 => {
            out.error("the API did not accept the token (check --token or APPROVALS_TOKEN)");
            exit::UNAUTHORIZED
        }
        403 | 404 | 409 | 422 => {
            out.line(format!(
                "{} {message} ({code})",
                out.paint(Tone::Bad, "not counted:")
            ));
            exit::FAILED
        }
        _ => {
            out.error(format!("{message} (HTTP {})", answer.status));
            exit::TROUBLE
        }
    }
}

pub(crate) fn pending(args: PendingArgs, out: &Out) -> u8 {
    let answer = match call(&args.remote, reqwest::Method::GET, "/v1/requests", None) {
        Ok(answer) => answer,
        Err(message) => {
            out.error(message);
            return exit::TROUBLE;
        }
    };
    if answer.status != 200 {
        return match answer.status {
            401 => failure(&answer, out),
            _ => {
                out.error(format!("the API answered {}", answer.status));
                exit::TROUBLE
            }
        };
    }
    if args.json {
        out.line(serde_json::to_string_pretty(&answer.body).unwrap_or_default());
        return exit::OK;
    }
    let Some(requests) = answer.body["requests"].as_array() else {
        out.error("the API's answer has no `requests` list");
        return exit::TROUBLE;
    };
    if requests.is_empty() {
        out.line("no pending requests");
        return exit::OK;
    }
    for (index, request) in requests.iter().enumerate() {
        if index > 0 {
            out.line("");
        }
        show_request(request, out);
    }
    exit::OK
}

pub(crate) fn show_request(request: &Value, out: &Out) {
    let text = |key: &str| clean(request[key].as_str().unwrap_or("?"));
    let names = |key: &str| {
        request[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(clean)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let deadline = request["deadline"]
        .as_str()
        .and_then(Timestamp::parse)
        .map(|at| format!("{at} ({})", until(at)))
        .unwrap_or_else(|| text("deadline"));
    let risk = text("risk");
    let risk = match risk.as_str() {
        "high" | "critical" => out.paint(Tone::Bad, risk),
        "medium" => out.paint(Tone::Warn, risk),
        _ => risk,
    };
    out.line(format!(
        "{} {}",
        out.paint(Tone::Bold, text("id")),
        text("action")
    ));
    if let Some(description) = request["description"].as_str().filter(|d| !d.is_empty()) {
        out.line(format!("  description    {}", clean(description)));
    }
    out.line(format!("  risk           {risk}"));
    out.line(format!("  requester      {}", text("requester")));
    if let Some(justification) = request["justification"].as_str() {
        out.line(format!("  justification  {}", clean(justification)));
    }
    out.line(format!(
        "  arguments      {}",
        clean(&request["arguments"].to_string())
    ));
    out.line(format!(
        "  approvals      {} of {} from {}",
        request["approvals"],
        request["quorum"],
        names("approvers")
    ));
    if let Some(votes) = request["votes"].as_array().filter(|v| !v.is_empty()) {
        for vote in votes {
            let reason = vote["reason"]
                .as_str()
                .map(|r| format!(": {}", clean(r)))
                .unwrap_or_default();
            out.line(format!(
                "  vote           {} {}{reason}",
                clean(vote["voter"].as_str().unwrap_or("?")),
                clean(vote["choice"].as_str().unwrap_or("?"))
            ));
        }
    }
    if request["deny_reason_required"] == json!(true) {
        out.line("  deny           needs a reason (--reason)");
    }
    out.line(format!("  deadline       {deadline}"));
    out.line(format!(
        "  fingerprint    {}",
        out.paint(Tone::Dim, text("fingerprint"))
    ));
}

fn until(at: Timestamp) -> String {
    let round = |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs()));
    match at.as_system_time().duration_since(SystemTime::now()) {
        Ok(left) => format!("in {}", round(left)),
        Err(passed) => format!("{} ago", round(passed.duration())),
    }
}

pub(crate) fn approve(args: ApproveArgs, out: &Out) -> u8 {
    vote(
        &args.remote,
        &args.id,
        "approve",
        args.fingerprint,
        json!({}),
        out,
    )
}

pub(crate) fn deny(args: DenyArgs, out: &Out) -> u8 {
    let mut body = json!({});
    if let Some(reason) = &args.reason {
        body["reason"] = json!(reason);
    }
    vote(&args.remote, &args.id, "deny", args.fingerprint, body, out)
}

fn vote(
    remote: &Remote,
    id: &str,
    verb: &str,
    fingerprint: Option<String>,
    mut body: Value,
    out: &Out,
) -> u8 {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        out.error(format!("`{}` is not a request id", clean(id)));
        return exit::FAILED;
    }
    // A vote names the call its voter saw: the one given, else the one the
    // API shows under this id now.
    let fingerprint = match fingerprint {
        Some(fingerprint) => fingerprint,
        None => match call(
            remote,
            reqwest::Method::GET,
            &format!("/v1/requests/{id}"),
            None,
        ) {
            Ok(answer) if answer.status == 200 => match answer.body["fingerprint"].as_str() {
                Some(fingerprint) => fingerprint.to_owned(),
                None => {
                    out.error("the API showed the request without a fingerprint");
                    return exit::TROUBLE;
                }
            },
            Ok(answer) => return failure(&answer, out),
            Err(message) => {
                out.error(message);
                return exit::TROUBLE;
            }
        },
    };
    body["fingerprint"] = json!(fingerprint);
    let body = &body;
    let path = format!("/v1/requests/{id}/{verb}");
    let answer = match call(remote, reqwest::Method::POST, &path, Some(body)) {
        Ok(answer) => answer,
        Err(message) => {
            out.error(message);
            return exit::TROUBLE;
        }
    };
    if answer.status != 200 {
        return failure(&answer, out);
    }
    let receipt = &answer.body;
    let conclusion = &receipt["conclusion"];
    let text = match conclusion["outcome"].as_str() {
        Some("approved") => out.paint(Tone::Good, "the request is approved"),
        Some("denied") => out.paint(Tone::Bad, "the request is denied"),
        Some(other) => format!("the request is {}", clean(other)),
        None => format!(
            "{} of {} approvals so far",
            receipt["approvals"], receipt["quorum"]
        ),
    };
    out.line(format!("{} {text}", out.paint(Tone::Good, "counted:")));
    exit::OK
}
