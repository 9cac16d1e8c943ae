//! The HTTP channel's API on any vote body: `POST /v1/requests/{id}/approve`
//! and `/deny`, through the public handler `HttpChannel::handle`.
//!
//! The first byte picks the route (approve or deny) and the content type
//! (`application/json`, a `+json` type with parameters, or `text/plain`);
//! the rest is the body, sent by an authenticated caller. No request is
//! pending, so no vote can count. Properties checked:
//!
//! - the handler never panics, and always answers JSON with an error code;
//! - the answer is one of 400 (`malformed_body`), 404 (`unknown_request`:
//!   the body was read and the vote reached the lookup), 413, 415, 422;
//! - a body sent as `text/plain` is refused as 415 unless it is blank;
//! - a blank body, or a compact JSON object with only a valid `fingerprint`
//!   (and for deny a short `reason`), is read: the answer is 404, never 400.

use approvals_backends::http::{HttpChannel, StaticTokens};
use approvals_core::Gate;
use approvals_core::audit::{AuditError, AuditRecord, AuditSink};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::Value;

/// The runtime the handler runs on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => panic!("no runtime: {error}"),
        }
    })
}

const TOKEN: &str = "fuzz-token-alice";

/// Keeps nothing: a fuzzing run judges millions of votes.
struct DiscardAudit;

#[approvals_core::async_trait]
impl AuditSink for DiscardAudit {
    async fn record(&self, _record: &AuditRecord) -> Result<(), AuditError> {
        Ok(())
    }
}

/// The channel, attached to a gate that judges every vote (and never
/// throttles the votes on unknown ids, so every input is judged).
fn approver() -> &'static HttpChannel {
    static APPROVER: std::sync::OnceLock<(HttpChannel, Gate)> = std::sync::OnceLock::new();
    let (approver, _gate) = APPROVER.get_or_init(|| {
        let tokens = StaticTokens::new().token(TOKEN, "alice@example.com");
        let approver = match HttpChannel::builder().authenticator(tokens).build() {
            Ok(approver) => approver,
            Err(error) => panic!("the HTTP channel does not build: {error}"),
        };
        let gate = Gate::builder()
            .channel(approver.clone())
            .stray_vote_limit(u32::MAX)
            .audit(DiscardAudit)
            .build();
        (approver, gate)
    });
    approver
}

/// Runs one input.
pub(crate) fn run(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let deny = selector & 1 == 1;
    let content_type = match (selector >> 1) % 3 {
        0 => "application/json",
        1 => "application/vnd.approvals+json; charset=utf-8",
        _ => "text/plain",
    };
    let path = if deny {
        "/v1/requests/4f7c2a9e-0000-4000-8000-000000000001/deny"
    } else {
        "/v1/requests/4f7c2a9e-0000-4000-8000-000000000001/approve"
    };
    let request = match Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(http::header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Bytes::copy_from_slice(body))
    {
        Ok(request) => request,
        Err(error) => panic!("the request does not build: {error}"),
    };
    let response = runtime().block_on(approver().handle(request));
    let status = response.status();
    let answer: Value = match serde_json::from_slice(response.body()) {
        Ok(answer) => answer,
        Err(error) => panic!("the API answered {status} with a body that is not JSON: {error}"),
    };
    let code = answer["error"]["code"].as_str().unwrap_or_default();
    let expected_code = match status {
        StatusCode::BAD_REQUEST => "malformed_body",
        StatusCode::NOT_FOUND => "unknown_request",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        other => panic!("the API answered a vote body with {other}"),
    };
    assert_eq!(
        code, expected_code,
        "the error code does not match the status"
    );

    if content_type == "text/plain" {
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a text/plain body was read"
        );
        return;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "a blank body was read as a vote"
        );
        return;
    }
    if well_formed(body, deny) {
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "a well-formed body was refused"
        );
    }
}

/// A compact JSON object (so without duplicate keys) with a valid
/// `fingerprint` (64 hex digits) and, for deny, perhaps a `reason` string
/// (the gate, not the channel, judges its length).
fn well_formed(body: &[u8], deny: bool) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    if serde_json::to_vec(&value).ok().as_deref() != Some(body) {
        return false;
    }
    let Value::Object(map) = value else {
        return false;
    };
    map.contains_key("fingerprint")
        && map.iter().all(|(key, value)| match (key.as_str(), value) {
            ("fingerprint", Value::String(hex)) => {
                approvals_core::Fingerprint::from_hex(hex).is_some()
            }
            ("reason", Value::String(_) | Value::Null) => deny,
            _ => false,
        })
}
