//! The Teams messaging endpoint on any activity, sent with a valid Bot
//! Framework token, through the public handler `TeamsEndpoint::handle`.
//!
//! The token (see `support/bot.rs`) verifies, names the service URL
//! `https://smba.example.com/fuzz/` and is signed by a key endorsed for
//! `msteams`; the user `aad-alice` is known; no request is pending.
//! Properties checked:
//!
//! - the handler never panics and never refuses the token (401);
//! - a body that is not JSON is answered 400;
//! - an activity is acted on (200 or 501) only if its `serviceUrl` is the
//!   token's and its `channelId` is one the key is endorsed for: the
//!   binding of the activity to the token holds for every input;
//! - answers are JSON or empty, and no vote ever counts (nothing is
//!   pending): a card action is answered with an error, never a card.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::Value;

use crate::bot;

/// Runs one input.
pub(crate) fn run(data: &[u8]) {
    let endpoint = bot::teams_endpoint();
    let request = match Request::builder()
        .method(Method::POST)
        .uri("/api/messages")
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", bot::TOKEN),
        )
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::copy_from_slice(data))
    {
        Ok(request) => request,
        Err(error) => panic!("the request does not build: {error}"),
    };
    let response = bot::runtime().block_on(endpoint.handle(request));
    let status = response.status();
    let body = response.body();
    assert_ne!(
        status,
        StatusCode::UNAUTHORIZED,
        "the valid token was refused: {}",
        String::from_utf8_lossy(body)
    );
    let answer: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(body) {
            Ok(answer) => Some(answer),
            Err(error) => {
                panic!("the endpoint answered {status} with a body that is not JSON: {error}")
            }
        }
    };

    let Ok(activity) = serde_json::from_slice::<Value>(data) else {
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "a body that is not JSON was not refused"
        );
        return;
    };
    if matches!(status, StatusCode::OK | StatusCode::NOT_IMPLEMENTED) {
        assert_eq!(
            activity["serviceUrl"].as_str(),
            Some(bot::SERVICE_URL),
            "an activity for another service URL was acted on"
        );
        assert_eq!(
            activity["channelId"].as_str(),
            Some("msteams"),
            "an activity for a channel the key is not endorsed for was acted on"
        );
    }
    if let (StatusCode::OK, Some(answer)) = (status, answer) {
        assert_eq!(
            answer["type"], "application/vnd.microsoft.error",
            "a card action was answered with something other than an error though nothing is pending"
        );
    }
}
