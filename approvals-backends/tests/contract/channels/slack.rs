//! Slack: the interactivity endpoint on loopback, signed clicks and
//! deny-reason submissions, and the fake Slack Web API it posts to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use approvals_backends::signature;
use approvals_backends::slack::{
    APPROVE_ACTION, DENY_ACTION, InteractivityHandler, SlackChannel, SlackClient, StaticIdentities,
};
use approvals_core::{Channel, Choice, RequestId};
use serde_json::{Value, json};

use crate::{Answer, ChannelUnderTest, Target, eventually};
use approvals_test_support::served::Served;
use approvals_test_support::slack::{CHANNEL_ID, FakeSlack, TOKEN};

const SECRET: &str = "contract-signing-secret";
/// The channel's clock: every request is signed at this time.
const NOW: i64 = 1_700_000_000;

/// The channel, its endpoint and the fake Web API.
pub(crate) struct Slack {
    fake: FakeSlack,
    channel: SlackChannel,
    handler: InteractivityHandler,
    server: Served,
    http: reqwest::Client,
    /// Numbers each click and submission, so no two are the same request.
    sent: AtomicU64,
}

/// Each reviewer's Slack user id: `U_` and the name, upper-cased.
fn user(reviewer: &str) -> String {
    let name = reviewer
        .split(['@', ':'])
        .find(|part| *part != "agent")
        .unwrap_or(reviewer);
    format!(
        "U_{}",
        name.split('-').next().unwrap_or(name).to_uppercase()
    )
}

impl Slack {
    async fn post(&self, payload: &Value) -> (u16, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let signature = signature::sign(SECRET.as_bytes(), NOW, body.as_bytes());
        let response = self
            .http
            .post(self.server.url("/slack/interactivity"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", NOW.to_string())
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Clicks `action` as `user` on a button carrying `value`.
    async fn click(&self, user: &str, action: &str, value: &str) {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let payload = json!({
            "type": "block_actions",
            "user": { "id": user, "team_id": "T111" },
            "container": { "type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL_ID },
            "trigger_id": format!("111.222.{n}"),
            "team": { "id": "T111" },
            "channel": { "id": CHANNEL_ID, "name": "approvals" },
            "actions": [{
                "action_id": action, "block_id": "approvals.vote", "value": value,
                "type": "button", "action_ts": format!("1700000000.{n}"),
            }],
        });
        let answer = self.post(&payload).await;
        assert_eq!(
            answer,
            (200, String::new()),
            "a click is acknowledged at once"
        );
    }

    /// Submits the deny-reason modal whose metadata is `metadata`.
    async fn submit(&self, user: &str, metadata: &str, reason: Option<&str>) -> (u16, String) {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let payload = json!({
            "type": "view_submission",
            "user": { "id": user, "team_id": "T111" },
            "team": { "id": "T111" },
            "view": {
                "id": format!("V{n}"),
                "callback_id": "approvals.deny_reason",
                "private_metadata": metadata,
                "state": { "values": { "approvals.reason": { "reason": { "type": "plain_text_input", "value": reason } } } },
            },
        });
        self.post(&payload).await
    }

    /// Waits for everything clicks started (votes, modals, explanations,
    /// message updates).
    async fn settle(&self) {
        self.handler.drain().await;
        self.channel.drain().await;
    }

    /// The private notes shown to `user`.
    fn told(&self, user: &str) -> Vec<String> {
        self.fake
            .calls_of("chat.postEphemeral")
            .into_iter()
            .filter(|call| call.body["user"] == user)
            .map(|call| call.body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The Approve button's value on the message for `id` as last shown
    /// with buttons (posted, or updated to a new version).
    fn button(&self, id: &RequestId) -> Option<String> {
        let mut shown = self.fake.calls_of("chat.postMessage");
        shown.extend(self.fake.calls_of("chat.update"));
        shown
            .iter()
            .rev()
            .filter_map(|call| {
                call.body["blocks"]
                    .as_array()?
                    .iter()
                    .find(|block| block["type"] == "actions")?["elements"]
                    .as_array()?
                    .iter()
                    .find(|element| element["action_id"] == APPROVE_ACTION)?["value"]
                    .as_str()
                    .map(str::to_owned)
            })
            .find(|value| value.starts_with(&format!("{id}:")))
    }

    /// What the clicker was told after their click: a private note, or,
    /// when the vote ended the request, nothing but the updated message.
    fn answer(&self, user: &str, notes_before: usize) -> Answer {
        let told = self.told(user);
        match told.get(notes_before..).unwrap_or_default() {
            [] => Answer::Counted("the message says how the request ended".to_owned()),
            [note] if note.starts_with("Your approval counted") => Answer::Counted(note.clone()),
            [note] => Answer::from_text(note, "Your vote was not counted: ", ".")
                .unwrap_or_else(|| Answer::Other(note.clone())),
            notes => Answer::Other(notes.join(" | ")),
        }
    }
}

impl ChannelUnderTest for Slack {
    const NAME: &'static str = "slack";

    async fn start(reviewers: &[&'static str]) -> (Self, Vec<Box<dyn Channel>>) {
        let fake = FakeSlack::start().await;
        let client = SlackClient::builder(TOKEN)
            .base_url(&fake.base_url)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let identities = reviewers
            .iter()
            .fold(StaticIdentities::new(), |identities, reviewer| {
                identities.user(user(reviewer), *reviewer)
            });
        let channel = SlackChannel::builder(client, "approvals", SECRET)
            .clock(|| NOW)
            .identities(identities)
            .build();
        let handler = channel.inbound();
        let server = Served::start(handler.router("/slack/interactivity")).await;
        let slack = Self {
            fake,
            channel: channel.clone(),
            handler,
            server,
            http: reqwest::Client::new(),
            sent: AtomicU64::new(0),
        };
        (slack, vec![Box::new(channel)])
    }

    async fn delivered(&self, id: &RequestId) {
        eventually("the message with buttons", || async { self.button(id) }).await;
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        let user = user(reviewer);
        let value = match target {
            Target::Shown(id) => self.button(id).unwrap(),
            Target::Naming(id, fingerprint) => format!("{id}:{}", fingerprint.to_hex()),
        };
        let notes_before = self.told(&user).len();
        let Choice::Deny { reason } = choice else {
            self.click(&user, APPROVE_ACTION, &value).await;
            self.settle().await;
            return self.answer(&user, notes_before);
        };
        // Deny opens a modal for the reason when the request is pending;
        // the reason comes back in its submission.
        let modals_before = self.fake.calls_of("views.open").len();
        self.click(&user, DENY_ACTION, &value).await;
        self.settle().await;
        let modals = self.fake.calls_of("views.open");
        let Some(modal) = modals.get(modals_before) else {
            return self.answer(&user, notes_before);
        };
        let metadata = modal.body["view"]["private_metadata"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, body) = self.submit(&user, &metadata, reason.as_deref()).await;
        self.settle().await;
        if status == 200 && !body.is_empty() {
            // The modal stays open with the gate's words under the input.
            let answer: Value = serde_json::from_str(&body).unwrap();
            let error = answer["errors"]["approvals.reason"]
                .as_str()
                .unwrap_or_default();
            return Answer::from_text(error, "", "").unwrap_or(Answer::Other(body));
        }
        if status != 200 {
            return Answer::Other(format!("{status} {body}"));
        }
        self.answer(&user, notes_before)
    }

    /// The blocks of the last message posted or updated.
    async fn shown(&self, _reviewer: &str, _id: &RequestId) -> String {
        self.settle().await;
        self.fake
            .calls()
            .iter()
            .rev()
            .find(|call| call.method == "chat.postMessage" || call.method == "chat.update")
            .map(|call| call.body["blocks"].to_string())
            .unwrap_or_default()
    }
}
