//! The HTTP API, served on loopback, called with bearer tokens.

use std::collections::HashMap;
use std::sync::Mutex;

use approvals_backends::http::{HttpChannel, StaticTokens};
use approvals_core::{Channel, Choice, Fingerprint, RequestId};
use serde_json::{Value, json};

use crate::{Answer, ChannelUnderTest, Target, eventually};
use approvals_test_support::served::Served;

/// The API, its server and a client.
pub(crate) struct Http {
    server: Served,
    client: reqwest::Client,
    /// The fingerprint each request was shown with (`GET /v1/requests/{id}`).
    seen: Mutex<HashMap<RequestId, Fingerprint>>,
}

/// Each reviewer's bearer token.
fn token(reviewer: &str) -> String {
    format!("token-{reviewer}-0123456789")
}

impl Http {
    async fn get(&self, reviewer: &str, id: &RequestId) -> (u16, Value) {
        let call = self
            .client
            .get(self.server.url(&format!("/v1/requests/{id}")))
            .bearer_auth(token(reviewer));
        read(call.send().await.unwrap()).await
    }
}

/// The status and JSON body of an answer.
async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl ChannelUnderTest for Http {
    const NAME: &'static str = "http";

    async fn start(reviewers: &[&'static str]) -> (Self, Vec<Box<dyn Channel>>) {
        let tokens = reviewers
            .iter()
            .fold(StaticTokens::new(), |tokens, reviewer| {
                tokens.token(token(reviewer), *reviewer)
            });
        let channel = HttpChannel::builder()
            .authenticator(tokens)
            .build()
            .unwrap();
        let server = Served::start(channel.router()).await;
        let http = Self {
            server,
            client: reqwest::Client::new(),
            seen: Mutex::new(HashMap::new()),
        };
        (http, vec![Box::new(channel)])
    }

    async fn delivered(&self, id: &RequestId) {
        let fingerprint = eventually("the API to show the request", || async {
            let (status, view) = self.get(crate::ALICE, id).await;
            (status == 200)
                .then(|| Fingerprint::from_hex(view["fingerprint"].as_str()?))
                .flatten()
        })
        .await;
        self.seen.lock().unwrap().insert(id.clone(), fingerprint);
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        let (id, fingerprint) = match target {
            Target::Shown(id) => (id, self.seen.lock().unwrap()[id]),
            Target::Naming(id, fingerprint) => (id, *fingerprint),
        };
        let (verb, body) = match choice {
            Choice::Approve => ("approve", json!({ "fingerprint": fingerprint })),
            Choice::Deny { reason: None } => ("deny", json!({ "fingerprint": fingerprint })),
            Choice::Deny {
                reason: Some(reason),
            } => (
                "deny",
                json!({ "fingerprint": fingerprint, "reason": reason }),
            ),
        };
        let call = self
            .client
            .post(self.server.url(&format!("/v1/requests/{id}/{verb}")))
            .bearer_auth(token(reviewer))
            .header("content-type", "application/json")
            .body(body.to_string());
        let (status, answer) = read(call.send().await.unwrap()).await;
        match (status, answer["result"].as_str()) {
            (200, Some("counted")) => Answer::Counted(answer.to_string()),
            _ => Answer::from_code(
                status,
                answer["error"]["code"].as_str().unwrap_or_default(),
                &answer.to_string(),
            ),
        }
    }

    /// The request as `GET /v1/requests/{id}` shows it to `reviewer`.
    async fn shown(&self, reviewer: &str, id: &RequestId) -> String {
        let (status, view) = self.get(reviewer, id).await;
        format!("{status} {view}")
    }
}
