//! Fakes of Microsoft's services on loopback, a bot served on loopback, and
//! helpers to mint Bot Framework tokens with the test-only keys.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use approvals_backends::teams::{Conversation, StaticDirectory, TeamsChannel, TeamsConfig};
use approvals_core::audit::{AuditEventKind, MemoryAudit};
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::store::MemoryStore;
use approvals_core::{ActionRequest, Error, Gate, Risk};
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub(crate) use approvals_test_support::oidc::{
    KEY_A_N, KEY_A_PEM, KEY_B_N, KEY_B_PEM, Provider, jwk, now, sign, with,
};

pub(crate) const APP_ID: &str = "11111111-2222-3333-4444-555555555555";
pub(crate) const APP_PASSWORD: &str = "test-only-client-secret";
pub(crate) const TENANT: &str = "tenant-0000";
pub(crate) const CONVERSATION: &str = "19:approvals@thread.tacv2";
pub(crate) const ISSUER: &str = "https://api.botframework.com";

pub(crate) const ALICE: &str = "aad-alice";
pub(crate) const BOB: &str = "aad-bob";
pub(crate) const CAROL: &str = "aad-carol";
pub(crate) const MALLORY: &str = "aad-mallory";

/// One call the fake Connector took.
#[derive(Debug, Clone)]
pub(crate) struct ConnectorCall {
    pub(crate) method: &'static str,
    pub(crate) conversation: String,
    pub(crate) activity_id: String,
    pub(crate) body: Value,
}

impl ConnectorCall {
    pub(crate) fn card(&self) -> &Value {
        &self.body["attachments"][0]["content"]
    }
}

/// A scripted answer the fake Connector gives instead of the normal one.
#[derive(Debug, Clone)]
pub(crate) struct Scripted {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<&'static str>,
}

#[derive(Default)]
pub(crate) struct FakeState {
    pub(crate) token_requests: Mutex<Vec<HashMap<String, String>>>,
    pub(crate) token_lifetime: AtomicU64,
    pub(crate) valid_tokens: Mutex<HashSet<String>>,
    issued: AtomicUsize,
    pub(crate) calls: Mutex<Vec<ConnectorCall>>,
    pub(crate) refused_calls: AtomicUsize,
    pub(crate) scripted: Mutex<VecDeque<Scripted>>,
    pub(crate) changed: Notify,
}

/// Microsoft, faked: the Entra ID token endpoint and the Bot Framework
/// Connector (under `/svc/`), and the Bot Framework's OpenID provider
/// (metadata and key set, endorsing key `a` for `msteams`).
pub(crate) struct Microsoft {
    pub(crate) base: String,
    pub(crate) state: Arc<FakeState>,
    pub(crate) provider: Arc<Provider>,
    server: tokio::task::JoinHandle<()>,
}

impl Microsoft {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(FakeState::default());
        state.token_lifetime.store(3600, Ordering::SeqCst);
        let provider = Provider::start(
            ISSUER,
            json!({"keys": [jwk("key-a", KEY_A_N, json!({"endorsements": ["msteams"]}))]}),
        )
        .await;
        let router = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route(
                "/svc/v3/conversations/{conversation}/activities",
                post(send),
            )
            .route(
                "/svc/v3/conversations/{conversation}/activities/{activity}",
                put(update),
            )
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base,
            state,
            provider: Arc::new(provider),
            server,
        }
    }

    pub(crate) fn service_url(&self) -> String {
        format!("{}/svc/", self.base)
    }

    pub(crate) fn config(&self) -> TeamsConfig {
        TeamsConfig::new(
            APP_ID,
            APP_PASSWORD,
            TENANT,
            Conversation::new(self.service_url(), CONVERSATION),
        )
        .authority(self.base.clone())
        .openid_metadata_url(self.provider.openid_url())
        .retry(approvals_backends::kit::RetryPolicy::default().max_wait(Duration::from_secs(5)))
        .request_timeout(Duration::from_secs(10))
    }

    pub(crate) fn calls(&self) -> Vec<ConnectorCall> {
        self.state.calls.lock().unwrap().clone()
    }

    pub(crate) fn updates(&self) -> Vec<ConnectorCall> {
        self.calls()
            .into_iter()
            .filter(|call| call.method == "PUT")
            .collect()
    }

    pub(crate) fn tokens_issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    pub(crate) fn key_fetches(&self) -> usize {
        self.provider.fetches()
    }

    pub(crate) fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.state.scripted.lock().unwrap().extend(answers);
    }

    /// Makes every issued token unknown to the Connector (as after a key
    /// rotation on Microsoft's side).
    pub(crate) fn revoke_tokens(&self) {
        self.state.valid_tokens.lock().unwrap().clear();
    }

    /// Waits until the Connector has taken `count` calls matching `method`.
    pub(crate) async fn wait_for(&self, method: &str, count: usize) -> Vec<ConnectorCall> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let changed = self.state.changed.notified();
            let calls: Vec<_> = self
                .calls()
                .into_iter()
                .filter(|call| call.method == method)
                .collect();
            if calls.len() >= count {
                return calls;
            }
            assert!(
                tokio::time::timeout_at(deadline, changed).await.is_ok(),
                "waited too long for {count} {method} calls; got {calls:?}"
            );
        }
    }
}

impl Microsoft {
    /// The same fake, seen by a second replica (the first one's server
    /// keeps serving both).
    pub(crate) fn twin(&self) -> Self {
        Self {
            base: self.base.clone(),
            state: Arc::clone(&self.state),
            provider: Arc::clone(&self.provider),
            server: tokio::spawn(async {}),
        }
    }
}

impl Drop for Microsoft {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn token(
    State(state): State<Arc<FakeState>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    state.token_requests.lock().unwrap().push(form.clone());
    let field = |name: &str| form.get(name).map(String::as_str);
    if tenant != TENANT
        || field("grant_type") != Some("client_credentials")
        || field("client_id") != Some(APP_ID)
        || field("client_secret") != Some(APP_PASSWORD)
        || field("scope") != Some("https://api.botframework.com/.default")
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})),
        )
            .into_response();
    }
    let number = state.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("bot-token-{number}");
    state.valid_tokens.lock().unwrap().insert(token.clone());
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": state.token_lifetime.load(Ordering::SeqCst),
        "ext_expires_in": 3600,
        "access_token": token,
    }))
    .into_response()
}

fn connector_answer(state: &FakeState, headers: &HeaderMap) -> Option<Response> {
    let bearer = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !state.valid_tokens.lock().unwrap().contains(bearer) {
        state.refused_calls.fetch_add(1, Ordering::SeqCst);
        state.changed.notify_waiters();
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "Authorization has been denied for this request."})),
            )
                .into_response(),
        );
    }
    let scripted = state.scripted.lock().unwrap().pop_front()?;
    state.refused_calls.fetch_add(1, Ordering::SeqCst);
    state.changed.notify_waiters();
    let mut response = (
        scripted.status,
        axum::Json(json!({"error": {"code": "Scripted", "message": "scripted answer"}})),
    )
        .into_response();
    if let Some(retry_after) = scripted.retry_after {
        response
            .headers_mut()
            .insert("retry-after", retry_after.parse().unwrap());
    }
    Some(response)
}

async fn send(
    State(state): State<Arc<FakeState>>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(answer) = connector_answer(&state, &headers) {
        return answer;
    }
    let activity_id = {
        let mut calls = state.calls.lock().unwrap();
        let activity_id = format!("1:activity-{}", calls.len() + 1);
        calls.push(ConnectorCall {
            method: "POST",
            conversation,
            activity_id: activity_id.clone(),
            body,
        });
        activity_id
    };
    state.changed.notify_waiters();
    axum::Json(json!({"id": activity_id})).into_response()
}

async fn update(
    State(state): State<Arc<FakeState>>,
    Path((conversation, activity_id)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(answer) = connector_answer(&state, &headers) {
        return answer;
    }
    state.calls.lock().unwrap().push(ConnectorCall {
        method: "PUT",
        conversation,
        activity_id: activity_id.clone(),
        body,
    });
    state.changed.notify_waiters();
    axum::Json(json!({"id": activity_id})).into_response()
}

/// The claims of a genuine Bot Framework token for an activity from
/// `service_url`.
pub(crate) fn claims(service_url: &str) -> Value {
    json!({
        "serviceurl": service_url,
        "nbf": now() - 5,
        "exp": now() + 3600,
        "iss": ISSUER,
        "aud": APP_ID,
    })
}

/// A correctly signed Bot Framework token.
pub(crate) fn bot_token(claims: &Value) -> String {
    sign(Algorithm::RS256, "key-a", KEY_A_PEM, claims)
}

/// The `invoke` activity Teams sends when `aad_object_id` clicks `verb`
/// on `card`.
pub(crate) fn click(
    service_url: &str,
    card: &Value,
    verb: &str,
    aad_object_id: &str,
    reason: Option<&str>,
) -> Value {
    let mut data = card_data(card);
    if let Some(reason) = reason {
        data["reason"] = json!(reason);
    }
    json!({
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": "f:invoke-1",
        "timestamp": "2026-11-21T19:42:16.123Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": format!("29:{aad_object_id}"), "aadObjectId": aad_object_id, "name": aad_object_id},
        "conversation": {"id": CONVERSATION, "tenantId": TENANT, "conversationType": "channel"},
        "recipient": {"id": format!("28:{APP_ID}"), "name": "Approvals"},
        "replyToId": "1:activity-1",
        "value": {
            "action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": "manual",
        },
    })
}

/// The `data` of the card's first `Action.Execute`.
pub(crate) fn card_data(card: &Value) -> Value {
    card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|block| block["type"] == "ActionSet")
        .map(|block| block["actions"][0]["data"].clone())
        .expect("the card has buttons")
}

/// Every piece of text in a card, for assertions.
pub(crate) fn card_text(card: &Value) -> String {
    card.to_string()
}

pub(crate) fn has_buttons(card: &Value) -> bool {
    card.to_string().contains("Action.Execute")
}

/// The bot's messaging endpoint served on loopback, with a gate behind it.
pub(crate) struct Bot {
    pub(crate) microsoft: Microsoft,
    pub(crate) teams: TeamsChannel,
    pub(crate) gate: Gate,
    pub(crate) audit: MemoryAudit,
    pub(crate) url: String,
    pub(crate) http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(crate) fn directory() -> StaticDirectory {
    StaticDirectory::new()
        .user(ALICE, "alice@example.com")
        .user(BOB, "bob@example.com")
        .user(CAROL, "carol@example.com")
        .user(MALLORY, "mallory@example.com")
}

/// Alice, Bob and Carol approve exports; Mallory is known but not eligible.
pub(crate) fn requirement() -> RequirementBuilder {
    RequirementBuilder::new()
        .approvers(["alice@example.com", "bob@example.com", "carol@example.com"])
        .timeout(Duration::from_secs(60))
}

impl Bot {
    pub(crate) async fn start(requirement: RequirementBuilder) -> Self {
        let microsoft = Microsoft::start().await;
        Self::start_with(microsoft, microsoft_config, requirement).await
    }

    pub(crate) async fn start_with(
        microsoft: Microsoft,
        configure: impl FnOnce(&Microsoft) -> TeamsConfig,
        requirement: RequirementBuilder,
    ) -> Self {
        Self::start_on(microsoft, configure, requirement, None).await
    }

    /// A bot whose gate keeps its requests in `store` (a replica of every
    /// other bot on it).
    pub(crate) async fn start_on(
        microsoft: Microsoft,
        configure: impl FnOnce(&Microsoft) -> TeamsConfig,
        requirement: RequirementBuilder,
        store: Option<MemoryStore>,
    ) -> Self {
        let teams = TeamsChannel::builder(configure(&microsoft), directory())
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/messages", listener.local_addr().unwrap());
        let router = teams.inbound().router();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let audit = MemoryAudit::new();
        let gate = Gate::builder()
            .policy(
                Policy::new().rule(
                    Rule::new("exports need review")
                        .action("crm.export")
                        .require(requirement),
                ),
            )
            .channel(teams.clone());
        let gate = match store {
            Some(store) => gate
                .store(store)
                .store_poll_interval(Duration::from_millis(20)),
            None => gate,
        };
        let gate = gate.audit(audit.clone()).build();
        Self {
            microsoft,
            teams,
            gate,
            audit,
            url,
            http: reqwest::Client::new(),
            server,
        }
    }

    /// Asks for an export as `requester`; the result is the body's value or
    /// the gate's error.
    pub(crate) fn request_export(
        &self,
        requester: &str,
    ) -> tokio::task::JoinHandle<Result<&'static str, Error>> {
        let gate = self.gate.clone();
        let request = ActionRequest::new(
            "crm.export",
            json!({"table": "customers", "bucket": "s3://exports", "customer_email": "jane@example.com"}),
        )
        .description("Export the customer table")
        .risk(Risk::High)
        .requester(requester)
        .justification("quarterly churn analysis");
        tokio::spawn(async move {
            gate.run(request, |_args| async { Ok::<_, Error>("exported") })
                .await
        })
    }

    /// Waits for the card of the next request and returns it.
    pub(crate) async fn next_card(&self, count: usize) -> ConnectorCall {
        self.microsoft
            .wait_for("POST", count)
            .await
            .remove(count - 1)
    }

    /// Posts `activity` to the bot as Teams would, with `token`.
    pub(crate) async fn post(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Clicks `verb` on `card` as `aad_object_id`, with a genuine token, and
    /// returns the invoke answer.
    pub(crate) async fn click(
        &self,
        card: &Value,
        verb: &str,
        aad_object_id: &str,
        reason: Option<&str>,
    ) -> Value {
        let service_url = self.microsoft.service_url();
        let activity = click(&service_url, card, verb, aad_object_id, reason);
        let (status, answer) = self
            .post(
                Some(&bot_token(&claims(&service_url))),
                activity.to_string(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    pub(crate) fn votes_recorded(&self) -> usize {
        self.audit.of_kind(AuditEventKind::Vote).len()
    }
}

pub(crate) fn microsoft_config(microsoft: &Microsoft) -> TeamsConfig {
    microsoft.config()
}
