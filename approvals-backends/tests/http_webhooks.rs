//! Webhooks of the HTTP channel, received by a loopback receiver.

#![cfg(all(feature = "http", feature = "axum"))]
// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use approvals_backends::http::{HttpChannel, Webhook, WebhookEvent};
use approvals_backends::kit::RetryPolicy;
use approvals_backends::signature;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use support::*;

const SECRET: &[u8] = b"whsec-test-0123456789";

#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: String,
    signature_ok: bool,
    body: Value,
    raw: String,
}

/// A webhook receiver that answers with scripted statuses (then 200) and
/// checks every signature as a real receiver would.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    fn answering(statuses: impl IntoIterator<Item = u16>) -> Self {
        let receiver = Self::default();
        receiver.script.lock().unwrap().extend(statuses);
        receiver
    }

    async fn serve(&self) -> Served {
        let receiver = self.clone();
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let receiver = receiver.clone();
                async move { receiver.receive(&headers, &body) }
            }),
        );
        Served::start(router).await
    }

    fn receive(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature_ok = signature::verify(
            SECRET,
            header("x-approvals-request-timestamp"),
            header("x-approvals-signature"),
            body,
            now,
            300,
        )
        .is_ok();
        assert_eq!(header("content-type"), Some("application/json"));
        self.received.lock().unwrap().push(Received {
            event: header("x-approvals-event").unwrap_or_default().to_owned(),
            delivery: header("x-approvals-delivery")
                .unwrap_or_default()
                .to_owned(),
            signature_ok,
            body: serde_json::from_slice(body).unwrap(),
            raw: String::from_utf8_lossy(body).into_owned(),
        });
        let status = self.script.lock().unwrap().pop_front().unwrap_or(200);
        StatusCode::from_u16(status).unwrap()
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..1_000 {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} webhooks never arrived: {:?}", self.received());
    }
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(max_attempts.saturating_sub(1))
        .first_backoff(Duration::from_millis(20))
        .max_wait(Duration::from_millis(100))
}

async fn api_with(receiver: &Served, retry: RetryPolicy) -> Api {
    let hook = Webhook::new(receiver.url("/hook"), SECRET).retry(retry);
    Api::start_with(
        1,
        HttpChannel::builder().authenticator(tokens()).webhook(hook),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_and_concluded_requests_are_announced_with_valid_signatures() {
    let receiver = Receiver::default();
    let served = receiver.serve().await;
    let api = api_with(&served, fast_retry(3)).await;

    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    let created = receiver.wait_for(1).await.remove(0);
    assert_eq!(created.event, "request.created");
    assert!(created.signature_ok, "bad signature on {}", created.raw);
    assert_eq!(created.body["event"], "request.created");
    assert_eq!(created.body["delivery"], created.delivery.as_str());
    assert_eq!(created.body["request"]["id"], id.as_str());
    assert_eq!(created.body["request"]["status"], "pending");
    assert!(!created.raw.contains(SECRET_EMAIL), "raw value leaked");

    let (status, _) = api.deny(&id, BOB_TOKEN, Some("not today")).await;
    assert_eq!(status, 200);
    assert!(call.await.unwrap().is_err());
    let received = receiver.wait_for(2).await;
    let concluded = &received[1];
    assert_eq!(concluded.event, "request.concluded");
    assert!(concluded.signature_ok);
    assert_ne!(concluded.delivery, created.delivery);
    assert_eq!(concluded.body["request"]["status"], "denied");
    assert_eq!(concluded.body["conclusion"]["outcome"], "denied");
    assert_eq!(concluded.body["conclusion"]["by"], BOB);
    assert_eq!(concluded.body["conclusion"]["reason"], "not today");
    assert_eq!(
        concluded.body["request"]["approved_by"],
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_with_the_same_delivery_id() {
    let receiver = Receiver::answering([500, 503]);
    let served = receiver.serve().await;
    let hook = Webhook::new(served.url("/hook"), SECRET)
        .retry(fast_retry(5))
        .events([WebhookEvent::RequestCreated]);
    let api = Api::start_with(
        1,
        HttpChannel::builder().authenticator(tokens()).webhook(hook),
    )
    .await;

    let _call = api.request("deploy");
    let attempts = receiver.wait_for(3).await;
    assert!(
        attempts
            .iter()
            .all(|a| a.signature_ok && a.event == "request.created")
    );
    assert!(attempts.iter().all(|a| a.delivery == attempts[0].delivery));
    // The third attempt succeeded: no fourth comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded_and_a_refusal_is_not_retried() {
    let down = Receiver::answering([500; 10]);
    let served_down = down.serve().await;
    let refusing = Receiver::answering([400]);
    let served_refusing = refusing.serve().await;
    let api = Api::start_with(
        1,
        HttpChannel::builder()
            .authenticator(tokens())
            .webhook(
                Webhook::new(served_down.url("/hook"), SECRET)
                    .retry(fast_retry(3))
                    .events([WebhookEvent::RequestCreated]),
            )
            .webhook(
                Webhook::new(served_refusing.url("/hook"), SECRET)
                    .retry(fast_retry(3))
                    .events([WebhookEvent::RequestCreated]),
            ),
    )
    .await;

    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    down.wait_for(3).await;
    refusing.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(down.received().len(), 3, "exactly max_attempts");
    assert_eq!(refusing.received().len(), 1, "a 4xx is final");
    // Webhook failures never hold up the request.
    let (status, _) = api.approve(&id, ALICE_TOKEN).await;
    assert_eq!(status, 200);
    assert!(call.await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_does_not_fail_the_request() {
    // A port that was just free: connections are refused.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let api = Api::start_with(
        1,
        HttpChannel::builder()
            .authenticator(tokens())
            .webhook(Webhook::new(format!("http://{addr}/hook"), SECRET).retry(fast_retry(2))),
    )
    .await;
    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    let (status, _) = api.approve(&id, ALICE_TOKEN).await;
    assert_eq!(status, 200);
    assert!(call.await.unwrap().is_ok());
}

#[test]
fn bad_webhook_settings_are_refused_at_build() {
    let build = |hook: Webhook| {
        HttpChannel::builder()
            .authenticator(tokens())
            .webhook(hook)
            .build()
            .err()
            .map(|e| e.to_string())
    };
    assert!(build(Webhook::new("ftp://example.com/x", SECRET)).is_some());
    assert!(build(Webhook::new("http://", SECRET)).is_some());
    assert!(build(Webhook::new("127.0.0.1:9/x", SECRET)).is_some());
    assert!(build(Webhook::new("http://127.0.0.1:9/x", b"".to_vec())).is_some());
    assert!(HttpChannel::builder().build().is_err());
}
