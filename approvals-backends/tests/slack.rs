//! The Slack channel over real HTTP on loopback: a real gate, the
//! interactivity handler served by axum, and a fake Slack Web API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use approvals_backends::signature;
use approvals_backends::slack::{
    APPROVE_ACTION, DENY_ACTION, EDIT_ACTION, EDIT_BLOCK_PREFIX, EDIT_CALLBACK, EmailIdentities,
    InteractivityHandler, SlackChannel, SlackClient, SlackError, StaticIdentities,
    parse_interaction,
};
use approvals_core::audit::{AuditEvent, MemoryAudit};
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::store::{MemoryStore, Store};
use approvals_core::{ActionRequest, Error, Gate, Refusal, RequestId};
use approvals_test_support::slack::{CHANNEL_ID, FakeSlack, Scripted, TOKEN};
use proptest::prelude::*;
use serde_json::{Value, json};

const SECRET: &str = "test-signing-secret";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const AGENT: &str = "agent:release-bot";
const NOW: i64 = 1_700_000_000;

/// How a test sets up its gate.
struct Setup {
    quorum: u32,
    deny_reason_required: bool,
    timeout: Duration,
    by_email: bool,
    mention: bool,
    escalate_to_carol: Option<Duration>,
    replay_cache_capacity: Option<usize>,
    /// Requests kept in this store (shared by replicas).
    store: Option<MemoryStore>,
    /// Another replica's fake Slack, to share.
    fake: Option<FakeSlack>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            quorum: 1,
            deny_reason_required: false,
            timeout: Duration::from_secs(60),
            by_email: false,
            mention: false,
            escalate_to_carol: None,
            replay_cache_capacity: None,
            store: None,
            fake: None,
        }
    }
}

struct Env {
    fake: FakeSlack,
    gate: Gate,
    audit: MemoryAudit,
    approver: SlackChannel,
    handler: InteractivityHandler,
    url: String,
    http: reqwest::Client,
    now: Arc<AtomicI64>,
    server: tokio::task::JoinHandle<()>,
    clicks: AtomicU64,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One click or submission, as Slack would send it.
struct Signed {
    body: String,
    timestamp: i64,
    signature: String,
}

impl Env {
    async fn start(setup: Setup) -> Self {
        let fake = match setup.fake {
            Some(fake) => fake,
            None => FakeSlack::start().await,
        };
        fake.user("U_ALICE", "Alice@Example.com");
        fake.user("U_BOB", BOB);
        let client = SlackClient::builder(TOKEN)
            .base_url(&fake.base_url)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let now = Arc::new(AtomicI64::new(NOW));
        let clock = Arc::clone(&now);
        let mut builder = SlackChannel::builder(client.clone(), "approvals", SECRET)
            .clock(move || clock.load(Ordering::SeqCst))
            .max_body_bytes(64 * 1024)
            .mention_approvers(setup.mention);
        if let Some(capacity) = setup.replay_cache_capacity {
            builder = builder.replay_cache_capacity(capacity);
        }
        builder = if setup.by_email {
            builder.identities(EmailIdentities::new(client).capacity(100))
        } else {
            builder.identities(
                StaticIdentities::new()
                    .user("U_ALICE", ALICE)
                    .user("U_BOB", BOB)
                    .user("U_CAROL", CAROL)
                    .user("U_AGENT", AGENT),
            )
        };
        let approver = builder.build();
        let handler = approver.inbound();
        let audit = MemoryAudit::new();
        let mut requirement = RequirementBuilder::new()
            .approvers([ALICE, BOB])
            .quorum(setup.quorum)
            .timeout(setup.timeout)
            .deny_reason_required(setup.deny_reason_required);
        if let Some(after) = setup.escalate_to_carol {
            requirement = requirement.escalate_after(after, [CAROL]);
        }
        let mut builder = Gate::builder()
            .policy(
                Policy::new().rule(
                    Rule::new("deploys need two eyes")
                        .action("deploy.*")
                        .require(requirement),
                ),
            )
            .channel(approver.clone());
        if let Some(store) = setup.store {
            builder = builder
                .store(store)
                .store_poll_interval(Duration::from_millis(20));
        }
        let gate = builder.audit(audit.clone()).build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = handler.router("/slack/interactivity");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            fake,
            gate,
            audit,
            approver,
            handler,
            url: format!("http://{address}/slack/interactivity"),
            http: reqwest::Client::new(),
            now,
            server,
            clicks: AtomicU64::new(0),
        }
    }

    /// Asks the gate for `deploy.production` as `requester`, and waits for
    /// the message; returns the running call and the button value.
    async fn ask(
        &self,
        requester: &str,
    ) -> (
        tokio::task::JoinHandle<Result<&'static str, Error>>,
        RequestId,
        String,
    ) {
        let gate = self.gate.clone();
        let request = ActionRequest::new(
            "deploy.production",
            json!({ "version": "v1.2.3", "owner_email": "jane.doe@example.com" }),
        )
        .description("Deploy a release to production")
        .requester(requester)
        .justification("Hotfix for the checkout outage");
        let before = self.fake.calls_of("chat.postMessage").len();
        let run = tokio::spawn(async move {
            gate.run(request, |_| async { Ok::<_, Error>("deployed") })
                .await
        });
        let posted = self.fake.wait_for("chat.postMessage", before + 1).await;
        let message = &posted[before].body;
        let value = button(message, APPROVE_ACTION);
        let id = RequestId::from_string(value.rsplit_once(':').unwrap().0);
        (run, id, value)
    }

    fn sign(&self, body: String) -> Signed {
        let timestamp = self.now.load(Ordering::SeqCst);
        let signature = signature::sign(SECRET.as_bytes(), timestamp, body.as_bytes());
        Signed {
            body,
            timestamp,
            signature,
        }
    }

    /// A signed click by Slack user `user` on `action` with `value`.
    fn click(&self, user: &str, action: &str, value: &str) -> Signed {
        let n = self.clicks.fetch_add(1, Ordering::SeqCst);
        self.sign(form(&click_payload(user, action, value, n)))
    }

    async fn post(&self, signed: &Signed) -> (u16, String) {
        self.post_raw(
            Some(&signed.timestamp.to_string()),
            Some(&signed.signature),
            "application/x-www-form-urlencoded",
            signed.body.clone(),
        )
        .await
    }

    async fn post_raw(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        content_type: &str,
        body: String,
    ) -> (u16, String) {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", content_type)
            .body(body);
        if let Some(timestamp) = timestamp {
            request = request.header("x-slack-request-timestamp", timestamp);
        }
        if let Some(signature) = signature {
            request = request.header("x-slack-signature", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Clicks and waits for everything the click started.
    async fn click_and_settle(&self, user: &str, action: &str, value: &str) {
        let (status, body) = self.post(&self.click(user, action, value)).await;
        assert_eq!((status, body.as_str()), (200, ""));
        self.handler.drain().await;
    }

    /// The ephemeral texts shown to `user`.
    fn told(&self, user: &str) -> Vec<String> {
        self.fake
            .calls_of("chat.postEphemeral")
            .into_iter()
            .filter(|call| call.body["user"] == user)
            .map(|call| call.body["text"].as_str().unwrap().to_owned())
            .collect()
    }

    fn votes(&self) -> Vec<AuditEvent> {
        self.audit
            .records()
            .into_iter()
            .map(|record| record.event)
            .filter(|event| matches!(event, AuditEvent::Vote { .. }))
            .collect()
    }

    fn counted_votes(&self) -> usize {
        self.votes()
            .iter()
            .filter(|event| matches!(event, AuditEvent::Vote { counted: true, .. }))
            .count()
    }

    fn still_pending(&self, id: &RequestId) -> bool {
        self.gate.votes().pending_request(id).is_some()
    }

    /// The last `chat.update`'s blocks, once the updates have run.
    async fn last_update(&self) -> Value {
        self.approver.drain().await;
        let updates = self.fake.calls_of("chat.update");
        assert!(!updates.is_empty(), "no chat.update");
        updates.last().unwrap().body.clone()
    }

    fn assert_clean(&self) {
        assert_eq!(self.fake.violations(), Vec::<String>::new());
        let everything = serde_json::to_string(
            &self
                .fake
                .calls()
                .iter()
                .map(|c| c.body.clone())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        // The version stays visible (reviewers need it); the email never
        // reaches Slack.
        assert!(
            !everything.contains("jane.doe@example.com"),
            "a raw argument reached Slack"
        );
    }
}

fn click_payload(user: &str, action: &str, value: &str, n: u64) -> String {
    json!({
        "type": "block_actions",
        "user": { "id": user, "username": user.to_lowercase(), "team_id": "T111" },
        "api_app_id": "A111",
        "container": { "type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL_ID },
        "trigger_id": format!("111.222.{n}"),
        "team": { "id": "T111", "domain": "workspace-domain" },
        "channel": { "id": CHANNEL_ID, "name": "approvals" },
        "response_url": "https://hooks.slack.com/actions/T111/111/random-value",
        "actions": [{
            "action_id": action, "block_id": "approvals.vote", "value": value,
            "type": "button", "action_ts": format!("1700000000.{n}"),
        }],
    })
    .to_string()
}

fn submission_payload(user: &str, metadata: &str, reason: Option<&str>) -> String {
    json!({
        "type": "view_submission",
        "user": { "id": user, "team_id": "T111" },
        "team": { "id": "T111" },
        "view": {
            "id": "V1",
            "callback_id": "approvals.deny_reason",
            "private_metadata": metadata,
            "state": { "values": { "approvals.reason": { "reason": { "type": "plain_text_input", "value": reason } } } },
        },
    })
    .to_string()
}

fn form(payload: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", payload)
        .finish()
}

/// The value of the button `action` in a posted message.
fn button(message: &Value, action: &str) -> String {
    actions(message)
        .and_then(|actions| {
            actions["elements"]
                .as_array()?
                .iter()
                .find(|e| e["action_id"] == action)
                .map(|e| e["value"].as_str().unwrap().to_owned())
        })
        .expect("the message has the button")
}

fn actions(message: &Value) -> Option<&Value> {
    message["blocks"]
        .as_array()?
        .iter()
        .find(|block| block["type"] == "actions")
}

fn text_of(message: &Value) -> String {
    message["blocks"].to_string()
}

// ---------------------------------------------------------------- full loop

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_over_http_concludes_and_updates_the_message() {
    let env = Env::start(Setup::default()).await;
    let (run, id, value) = env.ask(AGENT).await;

    let posted = &env.fake.calls_of("chat.postMessage")[0].body;
    assert_eq!(posted["channel"], "approvals");
    let shown = text_of(posted);
    for expected in [
        "deploy.production",
        "Deploy a release to production",
        "agent:release-bot",
        "Arguments",
        "owner_email",
        "Request id",
        id.as_str(),
        "Decide by",
        "Risk",
        "Justification",
    ] {
        assert!(shown.contains(expected), "the message lacks {expected}");
    }
    let deny = actions(posted).unwrap()["elements"][1].clone();
    assert_eq!(deny["style"], "danger");
    assert!(deny["confirm"].is_object(), "deny has a confirm dialog");
    assert_eq!(actions(posted).unwrap()["elements"][0]["style"], "primary");

    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");

    let update = env.last_update().await;
    assert_eq!(update["channel"], CHANNEL_ID);
    assert_eq!(update["ts"], "1700000000.000001");
    assert!(actions(&update).is_none(), "the buttons are gone");
    assert!(text_of(&update).contains("Approved* by alice@example.com"));
    assert_eq!(
        env.approver.message(&id).map(|m| m.channel),
        Some(CHANNEL_ID.to_owned())
    );
    assert_eq!(env.counted_votes(), 1);
    env.assert_clean();
}

/// Two replicas on one store: the message replica A posted is updated by
/// replica B, where the click landed and the request concluded, and by B
/// alone (A's caller returns without touching it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_another_replica_updates_the_message_once() {
    let store = MemoryStore::new();
    let a = Env::start(Setup {
        quorum: 2,
        store: Some(store.clone()),
        ..Setup::default()
    })
    .await;
    let b = Env::start(Setup {
        quorum: 2,
        store: Some(store.clone()),
        fake: Some(a.fake.clone()),
        ..Setup::default()
    })
    .await;
    let (run, id, value) = a.ask(AGENT).await;
    let posted_ts = "1700000000.000001";
    // A stores where its message is once the post has answered.
    for _ in 0..500 {
        let stored = store.load(&id).await.unwrap().unwrap();
        if stored.state.receipts.contains_key("slack") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // The first approval, on B: B shows the progress on A's message.
    b.click_and_settle("U_ALICE", APPROVE_ACTION, &value).await;
    b.approver.drain().await;
    let updates = b.fake.calls_of("chat.update");
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].body["ts"], posted_ts);
    assert!(text_of(&updates[0].body).contains("alice@example.com"));
    assert!(
        actions(&updates[0].body).is_some(),
        "still pending: buttons stay"
    );

    // The second, on B too: it concludes there, and B updates the message.
    b.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    a.approver.drain().await;
    b.approver.drain().await;
    let updates = b.fake.calls_of("chat.update");
    assert_eq!(
        updates.len(),
        2,
        "one update per step, none twice: {updates:?}"
    );
    let last = &updates[1].body;
    assert_eq!(last["ts"], posted_ts);
    assert!(actions(last).is_none(), "the buttons are gone");
    assert!(text_of(last).contains("Approved"));
    assert_eq!(
        b.approver.message(&id).map(|m| m.ts),
        Some(posted_ts.to_owned())
    );
    assert_eq!(a.fake.calls_of("chat.postMessage").len(), 1);
    a.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_opens_a_modal_and_the_reason_concludes_the_request() {
    let env = Env::start(Setup {
        deny_reason_required: true,
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask(AGENT).await;

    env.click_and_settle("U_BOB", DENY_ACTION, &value).await;
    let opened = env.fake.calls_of("views.open");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].body["trigger_id"], "111.222.0");
    let view = &opened[0].body["view"];
    assert_eq!(view["callback_id"], "approvals.deny_reason");
    assert_eq!(
        view["blocks"][1]["optional"], false,
        "the policy requires a reason"
    );
    let metadata = view["private_metadata"].as_str().unwrap().to_owned();
    assert!(
        env.still_pending(&id),
        "a click on Deny decides nothing yet"
    );

    // A blank reason keeps the modal open with the gate's error, and
    // decides nothing; the gate judged and recorded it.
    let blank = env.sign(form(&submission_payload("U_BOB", &metadata, Some("   "))));
    let (status, body) = env.post(&blank).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["response_action"], "errors");
    assert_eq!(
        body["errors"]["approvals.reason"],
        Refusal::ReasonRequired.to_string()
    );
    env.handler.drain().await;
    assert!(env.still_pending(&id));
    assert!(matches!(
        env.votes().as_slice(),
        [AuditEvent::Vote {
            counted: false,
            refusal: Some(Refusal::ReasonRequired),
            ..
        }]
    ));

    let reasoned = env.sign(form(&submission_payload(
        "U_BOB",
        &metadata,
        Some("Not during the <!channel> freeze"),
    )));
    assert_eq!(env.post(&reasoned).await, (200, String::new()));
    match run.await.unwrap() {
        Err(Error::Denied { by, reason, .. }) => {
            assert_eq!(by.as_str(), BOB);
            assert_eq!(reason.as_deref(), Some("Not during the <!channel> freeze"));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    let update = env.last_update().await;
    assert!(actions(&update).is_none());
    let shown = text_of(&update);
    assert!(shown.contains("Denied* by bob@example.com"));
    assert!(
        shown.contains("Not during the &lt;!channel&gt; freeze"),
        "the reason is shown, escaped"
    );
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_expires_the_request_and_the_message_says_so() {
    let env = Env::start(Setup {
        timeout: Duration::from_millis(300),
        ..Setup::default()
    })
    .await;
    let (run, _id, value) = env.ask(AGENT).await;
    assert!(matches!(run.await.unwrap(), Err(Error::Expired { .. })));
    let update = env.last_update().await;
    assert!(actions(&update).is_none());
    assert!(text_of(&update).contains("Expired"));

    // A click after the deadline changes nothing, and the clicker is told.
    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    assert_eq!(env.counted_votes(), 0);
    assert_eq!(
        env.told("U_ALICE"),
        vec![format!(
            "Your vote was not counted: {}.",
            Refusal::AlreadyConcluded
        )]
    );
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_of_two_needs_two_distinct_users() {
    let env = Env::start(Setup {
        quorum: 2,
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask(AGENT).await;

    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    assert!(env.still_pending(&id));
    assert_eq!(
        env.told("U_ALICE"),
        vec!["Your approval counted: 1 of 2 needed."]
    );

    // The same user again does not make two.
    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    assert!(env.still_pending(&id));
    assert_eq!(
        env.told("U_ALICE").last().unwrap(),
        &format!("Your vote was not counted: {}.", Refusal::AlreadyVoted)
    );

    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    let update = env.last_update().await;
    assert!(text_of(&update).contains("alice@example.com, bob@example.com"));
    assert_eq!(env.counted_votes(), 2);
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_approval_is_refused_and_explained() {
    let env = Env::start(Setup::default()).await;
    let (run, id, value) = env.ask(ALICE).await;

    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    assert!(env.still_pending(&id));
    assert_eq!(
        env.told("U_ALICE"),
        vec![format!(
            "Your vote was not counted: {}.",
            Refusal::SelfApproval
        )]
    );
    assert!(env.fake.calls_of("chat.update").is_empty());

    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_mapped_by_profile_email_through_a_cache_and_strangers_refused() {
    let env = Env::start(Setup {
        by_email: true,
        quorum: 2,
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask(AGENT).await;

    // Slack's email has capitals; the identity is canonical.
    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    assert_eq!(
        env.fake.calls_of("users.info").len(),
        1,
        "the second lookup is cached"
    );
    assert_eq!(env.counted_votes(), 1);

    env.click_and_settle("U_STRANGER", APPROVE_ACTION, &value)
        .await;
    assert!(env.still_pending(&id));
    assert_eq!(
        env.told("U_STRANGER"),
        vec![
            "Your vote was not counted: your Slack account is not mapped to an approver identity."
        ]
    );
    assert_eq!(
        env.votes().len(),
        2,
        "an unmapped user's click never reaches the gate"
    );

    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_click_is_acknowledged_before_slow_work_finishes() {
    let env = Env::start(Setup {
        by_email: true,
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask(AGENT).await;
    env.fake.hold("users.info");

    // users.info is held by the fake: the answer comes back all the same.
    let (status, _) = env
        .post(&env.click("U_ALICE", APPROVE_ACTION, &value))
        .await;
    assert_eq!(status, 200);
    env.fake.wait_for("users.info", 1).await;
    assert!(env.still_pending(&id), "the vote waits for the lookup");

    env.fake.release("users.info");
    env.handler.drain().await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_are_mentioned_when_found_by_email() {
    let env = Env::start(Setup {
        mention: true,
        ..Setup::default()
    })
    .await;
    let (run, _id, value) = env.ask(AGENT).await;
    let posted = text_of(&env.fake.calls_of("chat.postMessage")[0].body);
    assert!(posted.contains("<@U_ALICE>") && posted.contains("<@U_BOB>"));
    assert_eq!(env.fake.calls_of("users.lookupByEmail").len(), 2);
    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    run.await.unwrap().unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_updates_the_message_and_lets_the_fallback_approve() {
    let env = Env::start(Setup {
        escalate_to_carol: Some(Duration::from_millis(200)),
        ..Setup::default()
    })
    .await;
    let (run, _id, value) = env.ask(AGENT).await;
    let escalated = env.fake.wait_for("chat.update", 1).await;
    let shown = text_of(&escalated[0].body);
    assert!(shown.contains("Escalated to: carol@example.com"), "{shown}");
    assert!(
        actions(&escalated[0].body).is_some(),
        "still open for votes"
    );

    env.click_and_settle("U_CAROL", APPROVE_ACTION, &value)
        .await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    let update = env.last_update().await;
    assert!(text_of(&update).contains("Approved* by carol@example.com"));
    env.assert_clean();
}

// ------------------------------------------------------------ rejections

/// Posts each request, expects `status`, and checks that nothing reached
/// the gate and the request is still pending.
async fn rejected(
    env: &Env,
    id: &RequestId,
    status: u16,
    request: impl Future<Output = (u16, String)>,
) {
    let (got, _) = request.await;
    assert_eq!(got, status);
    env.handler.drain().await;
    assert!(env.votes().is_empty(), "nothing reached the gate");
    assert!(env.still_pending(id));
    assert!(env.fake.calls_of("chat.postEphemeral").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_nothing_decided() {
    let env = Env::start(Setup::default()).await;
    let (run, id, value) = env.ask(AGENT).await;
    let good = env.click("U_ALICE", APPROVE_ACTION, &value);
    let ts = good.timestamp.to_string();
    let form_type = "application/x-www-form-urlencoded";

    // Signature: wrong, from another secret, missing headers, malformed.
    let tampered = good.body.replace("U_ALICE", "U_BOB__");
    rejected(
        &env,
        &id,
        401,
        env.post_raw(Some(&ts), Some(&good.signature), form_type, tampered),
    )
    .await;
    let other = signature::sign(b"another secret", good.timestamp, good.body.as_bytes());
    rejected(
        &env,
        &id,
        401,
        env.post_raw(Some(&ts), Some(&other), form_type, good.body.clone()),
    )
    .await;
    rejected(
        &env,
        &id,
        401,
        env.post_raw(None, Some(&good.signature), form_type, good.body.clone()),
    )
    .await;
    rejected(
        &env,
        &id,
        401,
        env.post_raw(Some(&ts), None, form_type, good.body.clone()),
    )
    .await;
    rejected(
        &env,
        &id,
        401,
        env.post_raw(
            Some("soon"),
            Some(&good.signature),
            form_type,
            good.body.clone(),
        ),
    )
    .await;

    // Stale and future timestamps, correctly signed.
    env.now.store(NOW + 301, Ordering::SeqCst);
    rejected(&env, &id, 401, env.post(&good)).await;
    env.now.store(NOW - 301, Ordering::SeqCst);
    rejected(&env, &id, 401, env.post(&good)).await;
    env.now.store(NOW, Ordering::SeqCst);

    // Well signed, but not a form, not a payload, not JSON, not ours.
    let signed = |body: &str| env.sign(body.to_owned());
    let json_body = signed(&click_payload("U_ALICE", APPROVE_ACTION, &value, 99));
    rejected(
        &env,
        &id,
        415,
        env.post_raw(
            Some(&ts),
            Some(&json_body.signature),
            "application/json",
            json_body.body.clone(),
        ),
    )
    .await;
    for (body, what) in [
        (signed("%%%&&&=").body, "malformed form"),
        (signed("token=abc").body, "no payload"),
        (
            signed(&form("{\"type\": \"block_actions\", ")).body,
            "malformed JSON",
        ),
        (signed(&form("[1, 2, 3]")).body, "JSON of the wrong shape"),
        (
            signed(&form(&click_payload(
                "U_ALICE",
                "launch_missiles",
                &value,
                98,
            )))
            .body,
            "unknown action id",
        ),
        (
            signed(&form(&click_payload(
                "U_ALICE",
                APPROVE_ACTION,
                "not-a-reference",
                97,
            )))
            .body,
            "malformed value",
        ),
        (
            signed(&form(
                &json!({"type": "shortcut", "user": {"id": "U_ALICE"}}).to_string(),
            ))
            .body,
            "unsupported type",
        ),
        (
            signed(&form(&submission_payload("U_ALICE", "{}", Some("x")))).body,
            "malformed view metadata",
        ),
    ] {
        let signed = env.sign(body);
        let (status, text) = env.post(&signed).await;
        assert_eq!(status, 400, "{what}: {text}");
        env.handler.drain().await;
        assert!(env.votes().is_empty(), "{what} reached the gate");
    }

    // Too large: refused before reading it all, whatever its signature.
    let huge = form(&"x".repeat(70 * 1024));
    let huge = env.sign(huge);
    rejected(&env, &id, 413, env.post(&huge)).await;

    // Not a POST.
    let (status, _) = {
        let response = env.http.get(&env.url).send().await.unwrap();
        (response.status().as_u16(), ())
    };
    assert_eq!(status, 405);

    assert!(env.still_pending(&id));
    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_request_is_explained_and_decides_nothing() {
    let env = Env::start(Setup::default()).await;
    let (run, id, value) = env.ask(AGENT).await;
    let fingerprint = value.rsplit_once(':').unwrap().1;
    let unknown = format!("00000000-0000-4000-8000-000000000000:{fingerprint}");

    env.click_and_settle("U_ALICE", APPROVE_ACTION, &unknown)
        .await;
    env.click_and_settle("U_ALICE", DENY_ACTION, &unknown).await;
    assert!(
        env.fake.calls_of("views.open").is_empty(),
        "no modal for an unknown request"
    );
    let unknown_text = format!("Your vote was not counted: {}.", Refusal::UnknownRequest);
    assert_eq!(
        env.told("U_ALICE"),
        vec![unknown_text.clone(), unknown_text]
    );
    assert_eq!(env.counted_votes(), 0);
    assert!(env.still_pending(&id));

    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    run.await.unwrap().unwrap();
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_duplicate_clicks_change_nothing() {
    let env = Env::start(Setup::default()).await;
    let (run, _id, value) = env.ask(AGENT).await;
    let click = env.click("U_ALICE", APPROVE_ACTION, &value);

    // The same signed request twice, even with its hex in capitals: acted
    // on once.
    assert_eq!(env.post(&click).await.0, 200);
    assert_eq!(env.post(&click).await.0, 200);
    let shouted = Signed {
        body: click.body.clone(),
        timestamp: click.timestamp,
        signature: format!("v0={}", click.signature[3..].to_ascii_uppercase()),
    };
    assert_eq!(env.post(&shouted).await.0, 200);
    env.handler.drain().await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    assert_eq!(env.votes().len(), 1);
    let conclusions = || {
        env.audit
            .records()
            .into_iter()
            .filter(|r| matches!(r.event, AuditEvent::Concluded { .. }))
            .count()
    };
    assert_eq!(conclusions(), 1);

    // A click replayed after the conclusion, freshly signed (Slack's replay
    // window is no help here): refused, explained, nothing changes.
    env.now.fetch_add(1, Ordering::SeqCst);
    let replay = env.sign(click.body.clone());
    assert_eq!(env.post(&replay).await.0, 200);
    env.handler.drain().await;
    assert_eq!(
        env.told("U_ALICE"),
        vec![format!(
            "Your vote was not counted: {}.",
            Refusal::AlreadyConcluded
        )]
    );
    // Deny on a concluded request opens no modal either.
    env.click_and_settle("U_BOB", DENY_ACTION, &value).await;
    assert!(env.fake.calls_of("views.open").is_empty());
    assert_eq!(env.counted_votes(), 1);
    assert_eq!(conclusions(), 1);
    assert_eq!(env.fake.calls_of("chat.update").len(), 1);
    env.assert_clean();
}

// ----------------------------------------------------------- the client

/// Regression: a flood of valid signed requests pushed unexpired
/// signatures out of the replay cache, after which a request it forgot could
/// be replayed and acted on again. A full cache now refuses new requests
/// and forgets a signature only once it is outside the replay window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_replay_cache_refuses_new_requests_instead_of_forgetting_unexpired_ones() {
    let env = Env::start(Setup {
        replay_cache_capacity: Some(3),
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask(AGENT).await;
    let fingerprint = value.rsplit_once(':').unwrap().1;
    let unknown = format!("00000000-0000-4000-8000-000000000000:{fingerprint}");
    let explained =
        |n: usize| vec![format!("Your vote was not counted: {}.", Refusal::UnknownRequest); n];

    // Fill the cache with valid signed clicks; each is acted on once.
    let first = env.click("U_ALICE", APPROVE_ACTION, &unknown);
    assert_eq!(env.post(&first).await, (200, String::new()));
    for _ in 0..2 {
        let click = env.click("U_ALICE", APPROVE_ACTION, &unknown);
        assert_eq!(env.post(&click).await, (200, String::new()));
    }
    env.handler.drain().await;
    assert_eq!(env.told("U_ALICE"), explained(3));

    // The next new one is refused, with when to try again.
    let next = env.click("U_ALICE", APPROVE_ACTION, &unknown);
    let response = env
        .http
        .post(&env.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", next.timestamp.to_string())
        .header("x-slack-signature", &next.signature)
        .body(next.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "301");
    let text = response.text().await.unwrap();
    assert!(text.contains("replay cache is full"), "{text}");

    // A replay of the first is still a duplicate: acknowledged, not acted on.
    assert_eq!(env.post(&first).await, (200, String::new()));
    env.handler.drain().await;
    assert_eq!(env.told("U_ALICE"), explained(3));

    // Once the window has passed, the old ones are forgotten (and their
    // signatures are stale), and new requests are accepted again.
    env.now.store(NOW + 301, Ordering::SeqCst);
    assert_eq!(env.post(&first).await.0, 401);
    let later = env.click("U_ALICE", APPROVE_ACTION, &unknown);
    assert_eq!(env.post(&later).await, (200, String::new()));
    env.handler.drain().await;
    assert_eq!(env.told("U_ALICE"), explained(4));
    assert_eq!(env.counted_votes(), 0);

    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
    assert!(!env.still_pending(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_errors_fail_delivery_closed_with_slacks_error_string() {
    let env = Env::start(Setup::default()).await;
    env.fake
        .script("chat.postMessage", Scripted::Error("channel_not_found"));
    let request = ActionRequest::new("deploy.production", 1).requester(AGENT);
    let result = env
        .gate
        .run(request, |_| async { Ok::<_, Error>(()) })
        .await;
    match result {
        Err(Error::Channel { source, .. }) => {
            assert!(source.to_string().contains("channel_not_found"), "{source}");
        }
        other => panic!("expected a channel error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_after_the_wait_slack_asks_for_a_bounded_number_of_times() {
    let fake = FakeSlack::start().await;
    let client = SlackClient::builder(TOKEN)
        .base_url(&fake.base_url)
        .retry(approvals_backends::kit::RetryPolicy::default().max_retries(1))
        .build()
        .unwrap();
    fake.script("chat.postEphemeral", Scripted::RateLimited(1));
    client.post_ephemeral("C1", "U1", "hello").await.unwrap();
    assert_eq!(fake.calls_of("chat.postEphemeral").len(), 2);

    fake.script("chat.postEphemeral", Scripted::RateLimited(0));
    fake.script("chat.postEphemeral", Scripted::RateLimited(0));
    let error = client
        .post_ephemeral("C1", "U1", "hello")
        .await
        .unwrap_err();
    assert!(
        matches!(error, SlackError::RateLimited { retries: 1, .. }),
        "{error}"
    );

    // A wait longer than the client accepts fails at once.
    let impatient = SlackClient::builder(TOKEN)
        .base_url(&fake.base_url)
        .retry(approvals_backends::kit::RetryPolicy::default().max_wait(Duration::from_secs(5)))
        .build()
        .unwrap();
    fake.script("chat.postEphemeral", Scripted::RateLimited(3600));
    let error = impatient
        .post_ephemeral("C1", "U1", "hello")
        .await
        .unwrap_err();
    assert!(matches!(error, SlackError::RateLimited { retries: 0, .. }));

    let wrong_token = SlackClient::builder("xoxb-wrong")
        .base_url(&fake.base_url)
        .build()
        .unwrap();
    let error = wrong_token.user_info("U1").await.unwrap_err();
    assert_eq!(error.slack_error(), Some("invalid_auth"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_methods_speak_slacks_api() {
    let fake = FakeSlack::start().await;
    fake.user("U1", "one@example.com");
    let client = SlackClient::builder(TOKEN)
        .base_url(fake.base_url.trim_end_matches('/'))
        .build()
        .unwrap();
    assert_eq!(
        client.user_info("U1").await.unwrap().email.as_deref(),
        Some("one@example.com")
    );
    assert_eq!(
        client.lookup_by_email("one@example.com").await.unwrap().id,
        "U1"
    );
    assert_eq!(
        client.user_info("U404").await.unwrap_err().slack_error(),
        Some("user_not_found")
    );
    let view = json!({"type": "modal", "title": {"type": "plain_text", "text": "T"}, "submit": {"type": "plain_text", "text": "S"}, "close": {"type": "plain_text", "text": "C"}, "blocks": []});
    client.open_view("trigger", &view).await.unwrap();
    assert_eq!(fake.violations(), Vec::<String>::new());
    let unreachable = SlackClient::builder(TOKEN)
        .base_url("http://127.0.0.1:9/api/")
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let error = unreachable.user_info("U1").await.unwrap_err();
    assert!(matches!(error, SlackError::Transport { .. }) && error.is_transient());
}

// ----------------------------------------------------------- limits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_requests_respect_every_block_kit_limit_with_a_visible_marker() {
    let env = Env::start(Setup {
        deny_reason_required: true,
        ..Setup::default()
    })
    .await;
    let arguments: serde_json::Map<String, Value> = (0..2_000)
        .map(|i| (format!("field_{i:04}_<&>"), json!(i)))
        .collect();
    let gate = env.gate.clone();
    let request = ActionRequest::new(
        format!("deploy.{}", "x".repeat(600)),
        Value::Object(arguments),
    )
    .description("d<&>".repeat(2_000))
    .requester(format!("agent:{}", "r".repeat(3000)))
    .justification("j".repeat(10_000));
    let run =
        tokio::spawn(async move { gate.run(request, |_| async { Ok::<_, Error>(()) }).await });
    let posted = env.fake.wait_for("chat.postMessage", 1).await;
    let shown = text_of(&posted[0].body);
    assert!(shown.contains("[truncated: "), "the cut is marked");
    assert_eq!(env.fake.violations(), Vec::<String>::new());

    let value = button(&posted[0].body, APPROVE_ACTION);
    env.click_and_settle("U_ALICE", DENY_ACTION, &value).await;
    assert_eq!(env.fake.calls_of("views.open").len(), 1);
    assert_eq!(env.fake.violations(), Vec::<String>::new());
    let metadata = env.fake.calls_of("views.open")[0].body["view"]["private_metadata"]
        .as_str()
        .unwrap()
        .to_owned();
    // Past the gate's limit, the modal stays open with the gate's words.
    let too_long = env.sign(form(&submission_payload(
        "U_ALICE",
        &metadata,
        Some(&"no ".repeat(700)),
    )));
    let (status, body) = env.post(&too_long).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["errors"]["approvals.reason"],
        Refusal::ReasonTooLong.to_string()
    );
    let submission = env.sign(form(&submission_payload(
        "U_ALICE",
        &metadata,
        Some(&"no ".repeat(600)),
    )));
    assert_eq!(env.post(&submission).await.0, 200);
    assert!(matches!(run.await.unwrap(), Err(Error::Denied { .. })));
    env.last_update().await;
    assert_eq!(env.fake.violations(), Vec::<String>::new());
}

// ----------------------------------------------------------- the parser

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn the_parser_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_interaction(&body);
    }

    /// Arbitrary JSON in a payload never panics, and what parses names one
    /// of our actions.
    #[test]
    fn the_parser_never_panics_on_json(payload in arbitrary_json()) {
        let body = form(&payload.to_string());
        if let Ok(interaction) = parse_interaction(body.as_bytes()) {
            prop_assert!(matches!(
                interaction,
                approvals_backends::slack::Interaction::Click(_)
                    | approvals_backends::slack::Interaction::DenyReason(_)
            ));
        }
    }

    /// Clicks shaped like Slack's, with arbitrary values, parse exactly when
    /// the action and reference are ours.
    #[test]
    fn clicks_parse_exactly_when_they_are_ours(
        user in "[A-Z0-9]{1,12}",
        action in prop_oneof![Just(APPROVE_ACTION.to_owned()), Just(DENY_ACTION.to_owned()), "[a-z._]{0,20}"],
        id in "[a-z0-9-]{0,40}",
        fingerprint in prop_oneof!["[0-9a-f]{64}", "[0-9a-zA-Z]{0,70}"],
    ) {
        let value = format!("{id}:{fingerprint}");
        let body = form(&click_payload(&user, &action, &value, 0));
        let ours = (action == APPROVE_ACTION || action == DENY_ACTION)
            && !id.is_empty()
            && fingerprint.len() == 64
            && fingerprint.chars().all(|c| c.is_ascii_hexdigit());
        match parse_interaction(body.as_bytes()) {
            Ok(approvals_backends::slack::Interaction::Click(click)) => {
                prop_assert!(ours);
                prop_assert_eq!(click.user_id, user);
                prop_assert_eq!(click.reference.request_id.as_str(), id.as_str());
            }
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
            Err(_) => prop_assert!(!ours),
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("block_actions".to_owned()),
            Just("view_submission".to_owned()),
            Just(APPROVE_ACTION.to_owned()),
            Just("approvals.deny_reason".to_owned()),
            ".{0,20}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::hash_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("user".to_owned()),
                    Just("id".to_owned()),
                    Just("actions".to_owned()),
                    Just("action_id".to_owned()),
                    Just("value".to_owned()),
                    Just("view".to_owned()),
                    Just("private_metadata".to_owned()),
                    Just("callback_id".to_owned()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Regression: a caller that stops waiting while the message is still being
/// posted left the message with live buttons, since the answer giving its
/// `ts` was dropped with the caller's future.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cancelled_while_its_message_is_posted_still_loses_its_buttons() {
    let env = Env::start(Setup::default()).await;
    env.fake.hold("chat.postMessage");
    let (run, id, _value) = env.ask(AGENT).await;
    run.abort();
    // The gate cancels the request when its caller stops waiting.
    while env.still_pending(&id) {
        tokio::task::yield_now().await;
    }
    env.fake.release("chat.postMessage");
    let update = env.last_update().await;
    assert!(actions(&update).is_none());
    assert!(text_of(&update).contains("Cancelled"));
    assert_eq!(env.fake.calls_of("chat.update").len(), 1);
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_framework_agnostic_handler_checks_before_reading() {
    let env = Env::start(Setup::default()).await;
    let request = |method: &str, body: Vec<u8>| {
        http::Request::builder()
            .method(method)
            .uri("/anywhere")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(bytes::Bytes::from(body))
            .unwrap()
    };
    let oversized = env
        .handler
        .handle(request("POST", vec![b'a'; 64 * 1024 + 1]))
        .await;
    assert_eq!(oversized.status(), 413);
    let get = env.handler.handle(request("GET", Vec::new())).await;
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let unsigned = env
        .handler
        .handle(request("POST", b"payload=%7B%7D".to_vec()))
        .await;
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        unsigned.body().as_ref(),
        b"the request timestamp header is missing"
    );
    assert!(env.votes().is_empty());
}

// ------------------------------------------------------- approve with edits

/// A deploy whose arguments have a type, so that the gate can check an
/// edit against it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Deploy {
    version: String,
    replicas: u32,
    owner_email: String,
}

impl Env {
    /// Asks for a deploy whose `editable` paths reviewers may change;
    /// returns the running call (which answers the replicas it ran with),
    /// the request id and the Approve button's value.
    async fn ask_editable(
        &self,
        editable: &[&str],
    ) -> (
        tokio::task::JoinHandle<Result<u32, Error>>,
        RequestId,
        String,
    ) {
        let gate = self.gate.clone();
        let request = ActionRequest::new(
            "deploy.production",
            Deploy {
                version: "v1.2.3".to_owned(),
                replicas: 3,
                owner_email: "jane.doe@example.com".to_owned(),
            },
        )
        .requester(AGENT)
        .editable(editable.iter().copied());
        let before = self.fake.calls_of("chat.postMessage").len();
        let run = tokio::spawn(async move {
            gate.run(request, |deploy: Deploy| async move {
                Ok::<_, Error>(deploy.replicas)
            })
            .await
        });
        let posted = self.fake.wait_for("chat.postMessage", before + 1).await;
        let value = button(&posted[before].body, APPROVE_ACTION);
        let id = RequestId::from_string(value.rsplit_once(':').unwrap().0);
        (run, id, value)
    }

    /// Clicks Edit as `user` and returns the modal opened.
    async fn open_edit(&self, user: &str, value: &str) -> Value {
        let before = self.fake.calls_of("views.open").len();
        self.click_and_settle(user, EDIT_ACTION, value).await;
        let opened = self.fake.calls_of("views.open");
        assert_eq!(opened.len(), before + 1, "the edit modal was opened");
        opened[before].body["view"].clone()
    }

    fn edits(&self) -> Vec<AuditEvent> {
        self.audit
            .records()
            .into_iter()
            .map(|record| record.event)
            .filter(|event| matches!(event, AuditEvent::Edited { .. }))
            .collect()
    }
}

fn edit_submission_payload(user: &str, metadata: &str, inputs: &[(&str, Option<&str>)]) -> String {
    let values: serde_json::Map<String, Value> = inputs
        .iter()
        .map(|(path, value)| {
            (
                format!("{EDIT_BLOCK_PREFIX}{path}"),
                json!({ "value": { "type": "plain_text_input", "value": value } }),
            )
        })
        .collect();
    json!({
        "type": "view_submission",
        "user": { "id": user, "team_id": "T111" },
        "team": { "id": "T111" },
        "view": {
            "id": "V2",
            "callback_id": EDIT_CALLBACK,
            "private_metadata": metadata,
            "state": { "values": values },
        },
    })
    .to_string()
}

/// The input block of `path` in an edit modal.
fn input_block<'a>(view: &'a Value, path: &str) -> Option<&'a Value> {
    view["blocks"]
        .as_array()?
        .iter()
        .find(|block| block["block_id"] == format!("{EDIT_BLOCK_PREFIX}{path}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_edit_updates_the_message_and_later_votes_name_the_new_fingerprint() {
    let env = Env::start(Setup {
        quorum: 2,
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask_editable(&["*"]).await;
    let posted = &env.fake.calls_of("chat.postMessage")[0].body;
    assert_eq!(
        button(posted, EDIT_ACTION),
        value,
        "an Edit button is shown"
    );

    let view = env.open_edit("U_ALICE", &value).await;
    assert_eq!(view["callback_id"], EDIT_CALLBACK);
    assert_eq!(
        env.fake.calls_of("views.open")[0].body["trigger_id"],
        "111.222.0"
    );
    let version = input_block(&view, "version").expect("an input for `version`");
    assert_eq!(version["element"]["initial_value"], "v1.2.3");
    assert_eq!(version["optional"], true);
    let replicas = input_block(&view, "replicas").expect("an input for `replicas`");
    assert_eq!(replicas["element"]["initial_value"], "3");
    // The email is masked: its input starts empty, with a hint, and the
    // mask itself is not offered as a value either.
    let email = input_block(&view, "owner_email").expect("an input for `owner_email`");
    assert!(email["element"].get("initial_value").is_none(), "{email}");
    assert_eq!(
        email["hint"]["text"],
        "masked: enter a new value to replace it"
    );
    let metadata = view["private_metadata"].as_str().unwrap().to_owned();
    assert!(metadata.contains(id.as_str()));
    assert!(env.still_pending(&id), "opening the modal decides nothing");

    // Only `replicas` changed: the others are sent as they were opened.
    let submit = env.sign(form(&edit_submission_payload(
        "U_ALICE",
        &metadata,
        &[
            ("version", Some("v1.2.3")),
            ("replicas", Some("5")),
            ("owner_email", None),
        ],
    )));
    assert_eq!(
        env.post(&submit).await,
        (200, String::new()),
        "the modal closes"
    );
    env.handler.drain().await;
    let revised = env
        .gate
        .votes()
        .pending_request(&id)
        .expect("still pending");
    assert_eq!(revised.version, 2);
    assert_eq!(revised.arguments.as_value()["replicas"], 5);
    assert!(
        env.told("U_ALICE")
            .last()
            .unwrap()
            .contains("version 2 of the request, and counted as your approval: 1 of 2"),
        "{:?}",
        env.told("U_ALICE")
    );

    // The message now shows version 2, and its buttons carry the new
    // fingerprint.
    let update = env.last_update().await;
    let new_value = button(&update, APPROVE_ACTION);
    assert_ne!(new_value, value);
    assert!(new_value.ends_with(&revised.fingerprint.to_hex()));
    assert!(text_of(&update).contains("version 2"));
    assert!(text_of(&update).contains("\\\"replicas\\\": 5"));

    // A click on the old message names the old version: refused.
    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert!(env.still_pending(&id));
    assert_eq!(
        env.told("U_BOB").last().unwrap(),
        &format!(
            "Your vote was not counted: {}.",
            Refusal::FingerprintMismatch
        )
    );
    // On the updated message it counts, and concludes with the editor's.
    env.click_and_settle("U_BOB", APPROVE_ACTION, &new_value)
        .await;
    assert_eq!(run.await.unwrap().unwrap(), 5, "the body ran as edited");
    let update = env.last_update().await;
    assert!(actions(&update).is_none());
    assert!(text_of(&update).contains("Approved* by alice@example.com, bob@example.com"));
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_edit_keeps_the_modal_open_with_the_gates_words_and_changes_nothing() {
    let env = Env::start(Setup {
        quorum: 2,
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask_editable(&["replicas"]).await;
    let view = env.open_edit("U_ALICE", &value).await;
    assert!(input_block(&view, "replicas").is_some());
    assert!(
        input_block(&view, "version").is_none(),
        "only editable fields are offered"
    );
    let metadata = view["private_metadata"].as_str().unwrap().to_owned();

    // Of the wrong type: the error sits under the field, naming no value.
    let wrong_type = env.sign(form(&edit_submission_payload(
        "U_ALICE",
        &metadata,
        &[("replicas", Some("many"))],
    )));
    let (status, body) = env.post(&wrong_type).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["response_action"], "errors");
    let error = body["errors"][format!("{EDIT_BLOCK_PREFIX}replicas")]
        .as_str()
        .unwrap();
    assert!(error.contains(&Refusal::InvalidEdit.to_string()), "{error}");
    assert!(error.contains("`replicas`"), "{error}");
    assert!(!error.contains("many"), "the value is not echoed: {error}");

    // A field that is not editable, sent by a crafted submission.
    let not_editable = env.sign(form(&edit_submission_payload(
        "U_ALICE",
        &metadata,
        &[("version", Some("v9.9.9"))],
    )));
    let (status, body) = env.post(&not_editable).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["response_action"], "errors");
    let error = body["errors"][format!("{EDIT_BLOCK_PREFIX}replicas")]
        .as_str()
        .unwrap();
    assert!(error.contains(&Refusal::NotEditable.to_string()), "{error}");

    env.handler.drain().await;
    let current = env.gate.votes().pending_request(&id).unwrap();
    assert_eq!(current.version, 1);
    assert!(value.ends_with(&current.fingerprint.to_hex()));
    assert!(env.fake.calls_of("chat.update").is_empty());
    assert!(
        env.edits().iter().all(|event| matches!(
            event,
            AuditEvent::Edited {
                accepted: false,
                ..
            }
        )),
        "every refused edit is recorded: {:?}",
        env.edits()
    );
    assert_eq!(env.edits().len(), 2);

    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert_eq!(run.await.unwrap().unwrap(), 3, "the body ran as asked");
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_edit_submission_is_refused_before_the_gate() {
    let env = Env::start(Setup {
        quorum: 2,
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask_editable(&["*"]).await;
    let view = env.open_edit("U_ALICE", &value).await;
    let metadata = view["private_metadata"].as_str().unwrap().to_owned();
    let mut forged = env.sign(form(&edit_submission_payload(
        "U_ALICE",
        &metadata,
        &[("replicas", Some("500"))],
    )));
    forged.signature = signature::sign(b"not-the-secret", forged.timestamp, forged.body.as_bytes());
    let (status, _) = env.post(&forged).await;
    assert_eq!(status, 401);
    env.handler.drain().await;
    assert!(env.edits().is_empty(), "nothing reached the gate");
    assert_eq!(env.gate.votes().pending_request(&id).unwrap().version, 1);
    assert!(env.fake.calls_of("chat.update").is_empty());

    // The request goes on as asked.
    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert_eq!(run.await.unwrap().unwrap(), 3);
    env.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_edits_has_no_edit_button() {
    let env = Env::start(Setup::default()).await;
    let (run, _id, value) = env.ask(AGENT).await;
    let posted = &env.fake.calls_of("chat.postMessage")[0].body;
    let elements = actions(posted).unwrap()["elements"].as_array().unwrap();
    assert_eq!(elements.len(), 2);
    assert!(elements.iter().all(|e| e["action_id"] != EDIT_ACTION));
    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    assert_eq!(run.await.unwrap().unwrap(), "deployed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_by_an_unmapped_user_stays_in_the_modal_and_reaches_no_gate() {
    let env = Env::start(Setup {
        quorum: 2,
        ..Setup::default()
    })
    .await;
    let (run, id, value) = env.ask_editable(&["replicas"]).await;
    let view = env.open_edit("U_ALICE", &value).await;
    let metadata = view["private_metadata"].as_str().unwrap().to_owned();

    let stranger = env.sign(form(&edit_submission_payload(
        "U_STRANGER",
        &metadata,
        &[("replicas", Some("7"))],
    )));
    let (status, body) = env.post(&stranger).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["response_action"], "errors");
    assert!(
        body["errors"][format!("{EDIT_BLOCK_PREFIX}replicas")]
            .as_str()
            .unwrap()
            .contains("not mapped to an approver identity")
    );
    env.handler.drain().await;
    assert!(env.edits().is_empty(), "no identity, no edit for the gate");
    assert_eq!(env.gate.votes().pending_request(&id).unwrap().version, 1);

    env.click_and_settle("U_ALICE", APPROVE_ACTION, &value)
        .await;
    env.click_and_settle("U_BOB", APPROVE_ACTION, &value).await;
    assert_eq!(run.await.unwrap().unwrap(), 3);

    // Once the request has ended, Edit opens nothing and says why.
    env.click_and_settle("U_ALICE", EDIT_ACTION, &value).await;
    assert_eq!(env.fake.calls_of("views.open").len(), 1);
    assert_eq!(
        env.told("U_ALICE").last().unwrap(),
        "This request cannot be edited: it is no longer waiting for a decision."
    );
    env.assert_clean();
}
