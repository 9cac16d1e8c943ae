//! Shared set-up for the HTTP channel's tests: a gate with the API served on
//! loopback, and helpers to call it.

// Test set-up: a failure here is a failed test.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use approvals_backends::http::{HttpChannel, HttpChannelBuilder, StaticTokens};
use approvals_core::audit::MemoryAudit;
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::{ActionRequest, Error, Gate, RequestId};
use serde_json::Value;

pub use approvals_test_support::identities::{AGENT, ALICE, BOB, MALLORY};
pub use approvals_test_support::served::Served;

pub const ALICE_TOKEN: &str = "token-alice-0123456789";
pub const BOB_TOKEN: &str = "token-bob-0123456789";
pub const MALLORY_TOKEN: &str = "token-mallory-0123456789";
pub const AGENT_TOKEN: &str = "token-agent-0123456789";

/// The raw value that must never appear in anything the API says.
pub const SECRET_EMAIL: &str = "jane.doe@customer.example";

pub fn tokens() -> StaticTokens {
    StaticTokens::new()
        .token(ALICE_TOKEN, ALICE)
        .token(BOB_TOKEN, BOB)
        .token(MALLORY_TOKEN, MALLORY)
        .token(AGENT_TOKEN, AGENT)
}

/// `deploy` needs `quorum` of alice and bob (and the agent, who is the
/// requester, to show that being listed does not allow self-approval);
/// `purge` needs a reason to deny.
pub fn policy(quorum: u32) -> Policy {
    Policy::new()
        .rule(
            Rule::new("purges need a reason").action("purge").require(
                RequirementBuilder::new()
                    .approvers([ALICE, BOB])
                    .deny_reason_required(true)
                    .timeout(Duration::from_secs(60)),
            ),
        )
        .rule(
            Rule::new("deploys need review").action("*").require(
                RequirementBuilder::new()
                    .approvers([ALICE, BOB, AGENT])
                    .quorum(quorum)
                    .timeout(Duration::from_secs(60)),
            ),
        )
}

/// The arguments of an editable call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub customer: String,
    pub service: String,
    pub replicas: u32,
}

/// A gate whose only channel is the HTTP API, served on loopback.
pub struct Api {
    pub gate: Gate,
    pub approver: HttpChannel,
    pub audit: MemoryAudit,
    pub server: Served,
    pub client: reqwest::Client,
}

impl Api {
    pub async fn start(quorum: u32) -> Self {
        Self::start_with(quorum, HttpChannel::builder().authenticator(tokens())).await
    }

    pub async fn start_with(quorum: u32, builder: HttpChannelBuilder) -> Self {
        Self::start_on(quorum, builder, None).await
    }

    /// An API whose gate keeps its requests in `store` (a replica of every
    /// other API on it).
    pub async fn start_on(
        quorum: u32,
        builder: HttpChannelBuilder,
        store: Option<approvals_core::store::MemoryStore>,
    ) -> Self {
        let approver = builder.build().unwrap();
        let audit = MemoryAudit::new();
        let gate = Gate::builder()
            .policy(policy(quorum))
            .channel(approver.clone());
        let gate = match store {
            Some(store) => gate
                .store(store)
                .store_poll_interval(Duration::from_millis(20)),
            None => gate,
        };
        let gate = gate.audit(audit.clone()).build();
        let server = Served::start(approver.router()).await;
        Self {
            gate,
            approver,
            audit,
            server,
            client: reqwest::Client::new(),
        }
    }

    /// Starts a gated call by the agent; resolves to whether its body ran.
    pub fn request(&self, action: &str) -> tokio::task::JoinHandle<Result<&'static str, Error>> {
        let gate = self.gate.clone();
        let request = ActionRequest::new(
            action.to_owned(),
            serde_json::json!({"customer": SECRET_EMAIL, "service": "billing", "replicas": 3}),
        )
        .requester(AGENT)
        .justification(format!("asked by {SECRET_EMAIL}"));
        tokio::spawn(async move { gate.run(request, |_args| async { Ok("ran") }).await })
    }

    /// Starts a gated call by the agent whose `replicas` and `service` an
    /// approver may edit, with a JSON Schema of its argument type; resolves
    /// to the arguments its body ran with.
    pub fn editable_request(&self, action: &str) -> tokio::task::JoinHandle<Result<Deploy, Error>> {
        let gate = self.gate.clone();
        let request = ActionRequest::new(
            action.to_owned(),
            Deploy {
                customer: SECRET_EMAIL.to_owned(),
                service: "billing".to_owned(),
                replicas: 3,
            },
        )
        .requester(AGENT)
        .editable(["replicas", "service"])
        .argument_schema(serde_json::to_value(schemars::schema_for!(Deploy)).unwrap());
        tokio::spawn(async move { gate.run(request, |deploy| async move { Ok(deploy) }).await })
    }

    /// Waits until `n` requests are pending on the API, and returns their ids.
    pub async fn pending(&self, n: usize) -> Vec<RequestId> {
        for _ in 0..500 {
            let views = self.approver.pending();
            if views.len() >= n {
                return views.into_iter().map(|v| v.id).collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} requests never became pending");
    }

    /// Waits until a request for `action` is pending on the API, and
    /// returns its id.
    pub async fn pending_for(&self, action: &str) -> RequestId {
        for _ in 0..500 {
            if let Some(view) = self
                .approver
                .pending()
                .into_iter()
                .find(|v| v.action == action)
            {
                return view.id;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no request for {action} became pending");
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut call = self.client.get(self.server.url(path));
        if let Some(token) = token {
            call = call.bearer_auth(token);
        }
        read(call.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut call = self.client.post(self.server.url(path));
        if let Some(token) = token {
            call = call.bearer_auth(token);
        }
        if let Some(body) = body {
            call = call
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        read(call.send().await.unwrap()).await
    }

    /// The fingerprint a reviewer sees for `id` (`GET /v1/requests/{id}`),
    /// or, for an id the API does not show, that of no call at all.
    pub async fn seen_fingerprint(&self, id: &RequestId, token: &str) -> String {
        let (status, view) = self.get(&format!("/v1/requests/{id}"), Some(token)).await;
        match view["fingerprint"].as_str() {
            Some(fingerprint) if status == 200 => fingerprint.to_owned(),
            _ => "ab".repeat(32),
        }
    }

    /// Approves `id` as a reviewer does: reads the request, then votes on
    /// the fingerprint it showed.
    pub async fn approve(&self, id: &RequestId, token: &str) -> (u16, Value) {
        let fingerprint = self.seen_fingerprint(id, token).await;
        let body = serde_json::json!({ "fingerprint": fingerprint });
        self.post(
            &format!("/v1/requests/{id}/approve"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// Denies `id` as a reviewer does, with `reason` if given.
    pub async fn deny(&self, id: &RequestId, token: &str, reason: Option<&str>) -> (u16, Value) {
        let fingerprint = self.seen_fingerprint(id, token).await;
        let mut body = serde_json::json!({ "fingerprint": fingerprint });
        if let Some(reason) = reason {
            body["reason"] = reason.into();
        }
        self.post(&format!("/v1/requests/{id}/deny"), Some(token), Some(body))
            .await
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, value)
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}
