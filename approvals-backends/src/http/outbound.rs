//! Outbound webhooks, signed with the `v0` scheme and retried with bounded
//! backoff.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use approvals_core::{Conclusion, Timestamp};
use serde::Serialize;

use super::render::RequestView;
use crate::kit::{Retry, RetryPolicy, retry_after_header};
use crate::signature;

/// The header carrying the Unix time (seconds) a webhook was signed at.
pub const TIMESTAMP_HEADER: &str = "x-approvals-request-timestamp";
/// The header carrying the `v0=<hex>` signature of a webhook.
pub const SIGNATURE_HEADER: &str = "x-approvals-signature";
/// The header naming the event (`request.created`, `request.concluded`).
pub const EVENT_HEADER: &str = "x-approvals-event";
/// The header carrying the delivery's id, the same on every retry, so that a
/// receiver can drop duplicates.
pub const DELIVERY_HEADER: &str = "x-approvals-delivery";

/// The events a webhook can be sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// A request was delivered to the HTTP channel and awaits votes.
    RequestCreated,
    /// A request ended (approved, denied, expired, cancelled, failed).
    RequestConcluded,
}

impl WebhookEvent {
    /// The event's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::RequestCreated => "request.created",
            WebhookEvent::RequestConcluded => "request.concluded",
        }
    }
}

/// A receiver of signed event notifications.
///
/// Each event is a `POST` of a JSON body to `url` with these headers:
///
/// | header | value |
/// | --- | --- |
/// | `Content-Type` | `application/json` |
/// | `X-Approvals-Event` | `request.created` or `request.concluded` |
/// | `X-Approvals-Delivery` | a UUID, the same on every retry of one delivery |
/// | `X-Approvals-Request-Timestamp` | Unix seconds when this attempt was signed |
/// | `X-Approvals-Signature` | `v0=` + hex(HMAC-SHA256(secret, `v0:` + timestamp + `:` + body)) |
///
/// This is Slack's signing scheme (see [`crate::signature`]): a receiver
/// recomputes the signature over the raw body, compares it in constant time,
/// and rejects timestamps more than five minutes away from its clock. Each
/// retry is signed afresh with its own timestamp.
///
/// The body is `{"event": "...", "delivery": "<uuid>", "request": {...}}`,
/// where `request` is the same masked view the API returns (with its
/// `conclusion` set for `request.concluded`). No raw argument is ever sent.
///
/// Webhooks are notifications: they are sent in the background and a
/// receiver that is down never holds up or fails a request.
#[derive(Clone)]
pub struct Webhook {
    pub(crate) url: String,
    pub(crate) secret: Vec<u8>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) events: Vec<WebhookEvent>,
}

impl Webhook {
    /// A webhook to `url`, signed with `secret`, for every event, with a
    /// 10 s timeout per attempt, retried as [`Webhook::retry`] says.
    pub fn new(url: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            retry: RetryPolicy::default()
                .max_retries(4)
                .first_backoff(Duration::from_secs(1)),
            timeout: Duration::from_secs(10),
            events: vec![WebhookEvent::RequestCreated, WebhookEvent::RequestConcluded],
        }
    }

    /// Sets how failed deliveries are retried (default: 4 retries after
    /// the first attempt, waiting 1 s, 2 s, 4 s and 8 s, or the receiver's
    /// `Retry-After` up to 30 s). A delivery is retried after a connection
    /// error, a timeout, `408`, `429` or a `5xx`; any other answer ends it.
    /// When the budget is spent, or a receiver asks to wait longer than
    /// allowed, the delivery is dropped and logged.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how long one attempt may take.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends only these events.
    #[must_use]
    pub fn events(mut self, events: impl IntoIterator<Item = WebhookEvent>) -> Self {
        self.events = events.into_iter().collect();
        self
    }

    /// The receiver's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn wants(&self, event: WebhookEvent) -> bool {
        self.events.contains(&event)
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("events", &self.events)
            .finish()
    }
}

/// The JSON body of a webhook.
#[derive(Serialize)]
pub(crate) struct Notification<'a> {
    event: &'static str,
    delivery: String,
    request: &'a RequestView,
    #[serde(skip_serializing_if = "Option::is_none")]
    conclusion: Option<&'a Conclusion>,
    sent_at: Timestamp,
}

/// One event, serialized once, ready to be sent (and re-sent).
pub(crate) struct Delivery {
    pub(crate) event: WebhookEvent,
    pub(crate) id: String,
    pub(crate) body: Vec<u8>,
}

impl Delivery {
    pub(crate) fn new(event: WebhookEvent, request: &RequestView) -> Option<Self> {
        let id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::to_vec(&Notification {
            event: event.as_str(),
            delivery: id.clone(),
            request,
            conclusion: request.conclusion.as_ref(),
            sent_at: Timestamp::now(),
        })
        .map_err(|error| tracing::warn!(%error, "a webhook body could not be serialized"))
        .ok()?;
        Some(Self { event, id, body })
    }
}

/// Sends `delivery` to `webhook`, retrying as its [`RetryPolicy`] says.
/// Returns whether a receiver accepted it.
pub(crate) async fn send(client: &reqwest::Client, webhook: &Webhook, delivery: &Delivery) -> bool {
    let mut retries = 0;
    loop {
        let timestamp = unix_now();
        let signature = signature::sign(&webhook.secret, timestamp, &delivery.body);
        let answer = client
            .post(&webhook.url)
            .timeout(webhook.timeout)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, delivery.event.as_str())
            .header(DELIVERY_HEADER, &delivery.id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(delivery.body.clone())
            .send()
            .await;
        let next = match answer {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(url = %webhook.url, event = delivery.event.as_str(), retries, "webhook delivered");
                return true;
            }
            Ok(response) if is_retryable(response.status()) => {
                tracing::info!(url = %webhook.url, status = %response.status(), retries, "webhook failed");
                let asked = retry_after_header(
                    response
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .map(|value| value.as_bytes()),
                );
                match asked {
                    Some(_) => webhook.retry.after_rate_limit(retries, asked),
                    None if response.status() == http::StatusCode::TOO_MANY_REQUESTS => {
                        webhook.retry.after_rate_limit(retries, None)
                    }
                    None => webhook.retry.after_failure(retries),
                }
            }
            Ok(response) => {
                tracing::warn!(url = %webhook.url, status = %response.status(), "webhook refused by its receiver, not retried");
                return false;
            }
            Err(error) => {
                tracing::info!(url = %webhook.url, %error, retries, "webhook could not be sent");
                webhook.retry.after_failure(retries)
            }
        };
        let Retry::After(wait) = next else {
            tracing::warn!(url = %webhook.url, event = delivery.event.as_str(), retries, "webhook dropped after its last attempt");
            return false;
        };
        retries += 1;
        tokio::time::sleep(wait).await;
    }
}

fn is_retryable(status: http::StatusCode) -> bool {
    status.is_server_error()
        || status == http::StatusCode::TOO_MANY_REQUESTS
        || status == http::StatusCode::REQUEST_TIMEOUT
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let webhook = Webhook::new("http://127.0.0.1:9/hook", "topsecret");
        assert!(!format!("{webhook:?}").contains("topsecret"));
    }
}
