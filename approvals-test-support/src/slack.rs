//! A fake Slack Web API on loopback, shared by the Slack tests, the
//! contract suite and the Slack bench.
//!
//! It checks what Slack checks (the bearer token, the JSON content type,
//! Block Kit limits), answers as Slack does (`ok: false` errors, HTTP 429
//! with `Retry-After`), and records every call.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

/// The bot token the fake accepts.
pub const TOKEN: &str = "xoxb-fake-token";
/// The channel id the fake gives every posted message.
pub const CHANNEL_ID: &str = "C0FAKE0001";

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The Web API method (`chat.postMessage`).
    pub method: String,
    /// The JSON body, or the query as an object for GET calls.
    pub body: Value,
}

/// A scripted answer for the next call of a method.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// `{"ok": false, "error": …}`.
    Error(&'static str),
    /// HTTP 429 with this `Retry-After` (seconds).
    RateLimited(u64),
}

#[derive(Default)]
struct State_ {
    calls: Mutex<Vec<Call>>,
    violations: Mutex<Vec<String>>,
    script: Mutex<HashMap<String, VecDeque<Scripted>>>,
    holds: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Slack user id → profile email.
    users: Mutex<HashMap<String, String>>,
    changed: Notify,
    next_ts: AtomicU64,
}

/// The fake, running on 127.0.0.1 at an ephemeral port.
#[derive(Clone)]
pub struct FakeSlack {
    state: Arc<State_>,
    /// The base URL to give `SlackClient::builder(..).base_url(..)`.
    pub base_url: String,
    server: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        if Arc::strong_count(&self.server) == 1 {
            self.server.abort();
        }
    }
}

impl FakeSlack {
    /// Starts the fake on `127.0.0.1` at a port the system picks.
    pub async fn start() -> Self {
        let state = Arc::new(State_::default());
        let app = Router::new()
            .route("/api/{method}", axum::routing::any(api))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            state,
            base_url: format!("http://{address}/api/"),
            server: Arc::new(server),
        }
    }

    /// Gives Slack user `id` the profile email `email`.
    pub fn user(&self, id: &str, email: &str) {
        self.state
            .users
            .lock()
            .unwrap()
            .insert(id.to_owned(), email.to_owned());
    }

    /// Answers the next call of `method` with `answer`.
    pub fn script(&self, method: &str, answer: Scripted) {
        self.state
            .script
            .lock()
            .unwrap()
            .entry(method.to_owned())
            .or_default()
            .push_back(answer);
    }

    /// Makes calls of `method` wait until `release` is called.
    pub fn hold(&self, method: &str) {
        self.state
            .holds
            .lock()
            .unwrap()
            .insert(method.to_owned(), Arc::new(Semaphore::new(0)));
    }

    /// Lets the held calls of `method` through.
    pub fn release(&self, method: &str) {
        if let Some(gate) = self.state.holds.lock().unwrap().remove(method) {
            gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The calls of `method` so far, in order.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|call| call.method == method)
            .collect()
    }

    /// Waits until `method` has been called `count` times, and returns the
    /// calls.
    pub async fn wait_for(&self, method: &str, count: usize) -> Vec<Call> {
        loop {
            let changed = self.state.changed.notified();
            let calls = self.calls_of(method);
            if calls.len() >= count {
                return calls;
            }
            changed.await;
        }
    }

    /// Everything the fake found wrong in what it was sent.
    pub fn violations(&self) -> Vec<String> {
        self.state.violations.lock().unwrap().clone()
    }
}

async fn api(
    State(state): State<Arc<State_>>,
    Path(method): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 10 << 20)
        .await
        .unwrap_or_default();
    let recorded = record(&state, &method, &parts.headers, parts.uri.query(), &body);
    state.changed.notify_waiters();
    let hold = state.holds.lock().unwrap().get(&method).cloned();
    if let Some(hold) = hold {
        let _permit = hold.acquire().await;
    }
    let answer = answer(&state, &method, recorded);
    state.changed.notify_waiters();
    answer
}

/// Checks and records a call; returns the body it was sent, if acceptable.
fn record(
    state: &State_,
    method: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &Bytes,
) -> Result<Value, &'static str> {
    let mut problems = Vec::new();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let parsed = if auth != Some(&format!("Bearer {TOKEN}")) {
        problems.push(format!("{method}: bad authorization header {auth:?}"));
        Err("invalid_auth")
    } else if body.is_empty() {
        let query: serde_json::Map<String, Value> =
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
        Ok(Value::Object(query))
    } else {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if content_type != Some("application/json; charset=utf-8") {
            problems.push(format!("{method}: content type {content_type:?}"));
            Err("invalid_form_data")
        } else {
            serde_json::from_slice(body).map_err(|_| "invalid_json")
        }
    };
    if let Ok(value) = &parsed {
        if let Some(blocks) = value.get("blocks") {
            check_blocks(method, blocks, &mut problems);
        }
        if let Some(view) = value.get("view") {
            check_view(view, &mut problems);
        }
    }
    let limits_broken = problems.iter().any(|p| p.contains("limit"));
    state.calls.lock().unwrap().push(Call {
        method: method.to_owned(),
        body: parsed.clone().unwrap_or(Value::Null),
    });
    state.violations.lock().unwrap().extend(problems);
    if limits_broken {
        return Err("invalid_blocks");
    }
    parsed
}

fn answer(state: &State_, method: &str, recorded: Result<Value, &'static str>) -> Response {
    let body = match recorded {
        Ok(body) => body,
        Err(error) => return ok_false(error),
    };
    let scripted = state
        .script
        .lock()
        .unwrap()
        .get_mut(method)
        .and_then(VecDeque::pop_front);
    match scripted {
        Some(Scripted::Error(error)) => return ok_false(error),
        Some(Scripted::RateLimited(seconds)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, seconds.to_string())],
                "",
            )
                .into_response();
        }
        None => {}
    }
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match method {
        "chat.postMessage" => {
            let n = state.next_ts.fetch_add(1, Ordering::SeqCst) + 1;
            let ts = format!("1700000000.{n:06}");
            ok(json!({ "channel": CHANNEL_ID, "ts": ts, "message": { "text": body.get("text") } }))
        }
        "chat.update" => {
            if text("channel") != CHANNEL_ID {
                return ok_false("channel_not_found");
            }
            ok(json!({ "channel": CHANNEL_ID, "ts": text("ts") }))
        }
        "chat.postEphemeral" => ok(json!({ "message_ts": "1700000000.999999" })),
        "views.open" => ok(json!({ "view": { "id": "V1" } })),
        "users.info" => {
            let id = text("user");
            match state.users.lock().unwrap().get(&id) {
                Some(email) => ok(
                    json!({ "user": { "id": id, "deleted": false, "is_bot": false, "profile": { "email": email } } }),
                ),
                None => ok_false("user_not_found"),
            }
        }
        "users.lookupByEmail" => {
            let email = text("email");
            let found = state
                .users
                .lock()
                .unwrap()
                .iter()
                .find(|(_, e)| e.eq_ignore_ascii_case(&email))
                .map(|(id, _)| id.clone());
            match found {
                Some(id) => ok(json!({ "user": { "id": id, "profile": { "email": email } } })),
                None => ok_false("users_not_found"),
            }
        }
        _ => ok_false("unknown_method"),
    }
}

fn ok(mut value: Value) -> Response {
    value["ok"] = Value::Bool(true);
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

fn ok_false(error: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({ "ok": false, "error": error }).to_string(),
    )
        .into_response()
}

fn chars(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

/// Block Kit limits, as the Slack reference states them.
pub fn check_blocks(method: &str, blocks: &Value, problems: &mut Vec<String>) {
    let Some(blocks) = blocks.as_array() else {
        problems.push(format!("{method}: blocks is not an array"));
        return;
    };
    let mut limit = |ok: bool, what: String| {
        if !ok {
            problems.push(format!("{method}: limit broken: {what}"));
        }
    };
    limit(blocks.len() <= 50, format!("{} blocks", blocks.len()));
    for block in blocks {
        if let Some(id) = block.get("block_id") {
            limit(chars(id) <= 255, "block_id".into());
        }
        match block["type"].as_str() {
            Some("section") => {
                if let Some(text) = block.get("text") {
                    let n = chars(&text["text"]);
                    limit((1..=3000).contains(&n), format!("section text of {n}"));
                }
                if let Some(fields) = block.get("fields").and_then(Value::as_array) {
                    limit(fields.len() <= 10, format!("{} fields", fields.len()));
                    for field in fields {
                        let n = chars(&field["text"]);
                        limit((1..=2000).contains(&n), format!("field of {n}"));
                    }
                }
            }
            Some("actions") => {
                let elements = block["elements"].as_array().cloned().unwrap_or_default();
                limit(elements.len() <= 25, format!("{} elements", elements.len()));
                for element in elements {
                    limit(chars(&element["action_id"]) <= 255, "action_id".into());
                    limit(chars(&element["text"]["text"]) <= 75, "button text".into());
                    limit(chars(&element["value"]) <= 2000, "button value".into());
                }
            }
            Some("input") => {
                limit(
                    chars(&block["element"]["action_id"]) <= 255,
                    "input action_id".into(),
                );
                limit(chars(&block["label"]["text"]) <= 2000, "input label".into());
            }
            Some("context") => {
                let elements = block["elements"].as_array().cloned().unwrap_or_default();
                limit(elements.len() <= 10, "context elements".into());
            }
            Some("divider") => {}
            other => limit(false, format!("unexpected block type {other:?}")),
        }
    }
}

fn check_view(view: &Value, problems: &mut Vec<String>) {
    for key in ["title", "submit", "close"] {
        let n = chars(&view[key]["text"]);
        if !(1..=24).contains(&n) {
            problems.push(format!("views.open: limit broken: {key} of {n}"));
        }
    }
    if chars(&view["private_metadata"]) > 3000 {
        problems.push("views.open: limit broken: private_metadata".into());
    }
    check_blocks("views.open", &view["blocks"], problems);
}
