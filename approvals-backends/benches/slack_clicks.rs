//! Verified Slack clicks handled per second by the interactivity handler,
//! over HTTP on loopback: signature check, parse, identity, vote (recorded
//! in the audit trail), and the ephemeral "your approval counted" sent to a
//! fake Slack Web API, also on loopback.
//!
//! ```text
//! cargo bench -p approvals-backends --features slack --bench slack_clicks
//! ```

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use approvals_backends::signature;
use approvals_backends::slack::{
    APPROVE_ACTION, InteractivityHandler, SlackChannel, SlackClient, StaticIdentities,
};
use approvals_core::audit::MemoryAudit;
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::{ActionRequest, Error, Gate};
use approvals_test_support::slack::{CHANNEL_ID, FakeSlack, TOKEN};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tokio::sync::Semaphore;

const SECRET: &[u8] = b"bench-signing-secret";
/// Approvers per request; each request takes one click fewer than this, so
/// none concludes and every click counts.
const APPROVERS: usize = 50;
/// Clicks in flight at once, as from many reviewers.
const CONCURRENCY: usize = 32;

struct Bench {
    fake: FakeSlack,
    gate: Gate,
    handler: InteractivityHandler,
    url: String,
    http: reqwest::Client,
}

async fn start() -> Bench {
    let fake = FakeSlack::start().await;
    let client = SlackClient::builder(TOKEN)
        .base_url(&fake.base_url)
        .build()
        .unwrap();
    let identities: StaticIdentities = (0..APPROVERS)
        .map(|i| (format!("U{i}"), format!("reviewer{i}@example.com")))
        .collect();
    let approver = SlackChannel::builder(client, CHANNEL_ID, SECRET)
        .identities(identities)
        .build();
    let handler = approver.inbound();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("all").action("*").require(
                    RequirementBuilder::new()
                        .approvers((0..APPROVERS).map(|i| format!("reviewer{i}@example.com")))
                        .quorum(u32::try_from(APPROVERS).unwrap())
                        .timeout(Duration::from_secs(3600)),
                ),
            ),
        )
        .channel(approver)
        .audit(MemoryAudit::new())
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack", listener.local_addr().unwrap());
    let app = handler.router("/slack");
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Bench {
        fake,
        gate,
        handler,
        url,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .unwrap(),
    }
}

/// Opens enough pending requests for `clicks`, and signs one click per
/// (request, approver) pair. Returns the waiting calls and the clicks.
async fn prepare(
    bench: &Bench,
    clicks: u64,
) -> (
    Vec<tokio::task::JoinHandle<()>>,
    Vec<(String, String, String)>,
) {
    let per_request = (APPROVERS - 1) as u64;
    let requests = clicks.div_ceil(per_request).max(1);
    let before = bench.fake.calls_of("chat.postMessage").len();
    let waiting: Vec<_> = (0..requests)
        .map(|n| {
            let gate = bench.gate.clone();
            tokio::spawn(async move {
                let request = ActionRequest::new("deploy.production", n).requester("agent:bench");
                let _ = gate.run(request, |_| async { Ok::<_, Error>(()) }).await;
            })
        })
        .collect();
    let posted = bench
        .fake
        .wait_for(
            "chat.postMessage",
            before + usize::try_from(requests).unwrap(),
        )
        .await;
    let values: Vec<String> = posted[before..]
        .iter()
        .map(|call| {
            call.body["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["type"] == "actions")
                .unwrap()["elements"][0]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let timestamp = i64::try_from(timestamp).unwrap();
    let signed = (0..clicks)
        .map(|k| {
            let value = &values[usize::try_from(k / per_request).unwrap()];
            let user = format!("U{}", k % per_request);
            let payload = json!({
                "type": "block_actions",
                "user": { "id": user, "team_id": "T1" },
                "container": { "type": "message", "message_ts": "1.1", "channel_id": CHANNEL_ID },
                "trigger_id": format!("t.{k}"),
                "channel": { "id": CHANNEL_ID },
                "actions": [{ "action_id": APPROVE_ACTION, "value": value, "action_ts": format!("{k}") }],
            });
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &payload.to_string())
                .finish();
            let signature = signature::sign(SECRET, timestamp, body.as_bytes());
            (timestamp.to_string(), signature, body)
        })
        .collect();
    (waiting, signed)
}

async fn send_all(bench: &Bench, clicks: Vec<(String, String, String)>) -> Duration {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let mut sent = Vec::with_capacity(clicks.len());
    for (timestamp, signature, body) in clicks {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let request = bench
            .http
            .post(&bench.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body);
        sent.push(tokio::spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            drop(permit);
        }));
    }
    for click in sent {
        click.await.unwrap();
    }
    // Until every vote is cast and every explanation sent.
    bench.handler.drain().await;
    start.elapsed()
}

fn clicks(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bench = runtime.block_on(start());
    let bench = &bench;
    let mut group = c.benchmark_group("slack");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verified_click_to_counted_vote", |b| {
        b.to_async(&runtime).iter_custom(|iters| async move {
            let (waiting, clicks) = prepare(bench, iters).await;
            let elapsed = send_all(bench, clicks).await;
            for call in waiting {
                call.abort();
            }
            elapsed
        });
    });
    group.finish();
}

criterion_group!(benches, clicks);
criterion_main!(benches);
