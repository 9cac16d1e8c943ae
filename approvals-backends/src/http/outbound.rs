//! Outbound webhooks, signed with the `v0` scheme and retried with bounded
//! backoff.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use approvals_core::{Conclusion, Timestamp};
use serde::Serialize;

use super::render::RequestView;
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

/// How a failed webhook delivery is retried.
///
/// Attempt `n` (from 1) that fails waits `first_delay × 2^(n-1)`, at most
/// `max_delay`, before the next; a `Retry-After` header in seconds replaces
/// that wait (still at most `max_delay`). A delivery is retried after a
/// connection error, a timeout, `408`, `429` or a `5xx`; any other answer
/// ends it. After `max_attempts` the delivery is dropped and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failure.
    pub first_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for Retry {
    /// 5 attempts, waiting 1 s, 2 s, 4 s and 8 s between them.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl Retry {
    /// The wait after failed attempt `attempt` (from 1).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
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
    pub(crate) retry: Retry,
    pub(crate) timeout: Duration,
    pub(crate) events: Vec<WebhookEvent>,
}

impl Webhook {
    /// A webhook to `url`, signed with `secret`, for every event, with the
    /// default [`Retry`] and a 10 s timeout per attempt.
    pub fn new(url: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            retry: Retry::default(),
            timeout: Duration::from_secs(10),
            events: vec![WebhookEvent::RequestCreated, WebhookEvent::RequestConcluded],
        }
    }

    /// Sets how failed deliveries are retried.
    #[must_use]
    pub fn retry(mut self, retry: Retry) -> Self {
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

/// Sends `delivery` to `webhook`, retrying as its [`Retry`] says. Returns
/// whether a receiver accepted it.
pub(crate) async fn send(client: &reqwest::Client, webhook: &Webhook, delivery: &Delivery) -> bool {
    let attempts = webhook.retry.max_attempts.max(1);
    for attempt in 1..=attempts {
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
        let retry_after = match answer {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(url = %webhook.url, event = delivery.event.as_str(), attempt, "webhook delivered");
                return true;
            }
            Ok(response) if is_retryable(response.status()) => {
                tracing::info!(url = %webhook.url, status = %response.status(), attempt, "webhook failed, will retry");
                retry_after(response.headers())
            }
            Ok(response) => {
                tracing::warn!(url = %webhook.url, status = %response.status(), "webhook refused by its receiver, not retried");
                return false;
            }
            Err(error) => {
                tracing::info!(url = %webhook.url, %error, attempt, "webhook could not be sent, will retry");
                None
            }
        };
        if attempt < attempts {
            let delay = retry_after
                .unwrap_or_else(|| webhook.retry.delay_after(attempt))
                .min(webhook.retry.max_delay);
            tokio::time::sleep(delay).await;
        }
    }
    tracing::warn!(url = %webhook.url, event = delivery.event.as_str(), attempts, "webhook dropped after its last attempt");
    false
}

fn is_retryable(status: http::StatusCode) -> bool {
    status.is_server_error()
        || status == http::StatusCode::TOO_MANY_REQUESTS
        || status == http::StatusCode::REQUEST_TIMEOUT
}

fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
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
    fn backoff_doubles_up_to_the_cap() {
        let retry = Retry {
            max_attempts: 10,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let delays: Vec<_> = (1..=6).map(|n| retry.delay_after(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(retry.delay_after(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn debug_hides_the_secret() {
        let webhook = Webhook::new("http://127.0.0.1:9/hook", "topsecret");
        assert!(!format!("{webhook:?}").contains("topsecret"));
    }
}
