//! Teams: the bot's messaging endpoint on loopback, invokes signed with a
//! Bot Framework token from the fake key set, and the fake Connector the
//! cards are posted to.

use approvals_backends::teams::{StaticDirectory, TeamsChannel};
use approvals_core::{Channel, Choice, RequestId};
use serde_json::{Value, json};

use crate::teams_support::{Microsoft, bot_token, card_text, claims, click};
use crate::{Answer, ChannelUnderTest, Scenario, Target, Unsupported};
use approvals_test_support::served::Served;

/// The channel, its endpoint and the fakes of Microsoft's services.
pub(crate) struct Teams {
    microsoft: Microsoft,
    server: Served,
    http: reqwest::Client,
}

/// Each reviewer's Entra ID object id.
fn aad(reviewer: &str) -> String {
    format!("aad-{}", reviewer.replace(['@', ':', '.'], "-"))
}

impl Teams {
    /// The card posted for `id`, if it has been.
    fn posted(&self, id: &RequestId) -> Option<crate::teams_support::ConnectorCall> {
        self.microsoft
            .calls()
            .into_iter()
            .find(|call| call.method == "POST" && data(call.card())["requestId"] == id.as_str())
    }

    /// The card of `id` as last shown with buttons: posted, or updated to
    /// a new version.
    fn with_buttons(&self, id: &RequestId) -> Option<Value> {
        let posted = self.posted(id)?;
        let updated = self
            .microsoft
            .updates()
            .into_iter()
            .rev()
            .filter(|update| update.activity_id == posted.activity_id)
            .map(|update| update.card().clone())
            .find(|card| data(card)["requestId"] == id.as_str());
        Some(updated.unwrap_or_else(|| posted.card().clone()))
    }
}

/// The `data` of a card's first `Action.Execute`, if it has buttons.
fn data(card: &Value) -> Value {
    card["body"]
        .as_array()
        .and_then(|body| body.iter().find(|block| block["type"] == "ActionSet"))
        .map(|block| block["actions"][0]["data"].clone())
        .unwrap_or(Value::Null)
}

impl ChannelUnderTest for Teams {
    const NAME: &'static str = "teams";

    async fn start(reviewers: &[&'static str]) -> (Self, Vec<Box<dyn Channel>>) {
        let microsoft = Microsoft::start().await;
        let directory = reviewers
            .iter()
            .fold(StaticDirectory::new(), |directory, reviewer| {
                directory.user(&aad(reviewer), *reviewer)
            });
        let channel = TeamsChannel::builder(microsoft.config(), directory)
            .build()
            .unwrap();
        let server = Served::start(channel.inbound().router()).await;
        let teams = Self {
            microsoft,
            server,
            http: reqwest::Client::new(),
        };
        (teams, vec![Box::new(channel)])
    }

    async fn delivered(&self, id: &RequestId) {
        crate::eventually("the card", || async { self.posted(id) }).await;
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        let card = match target {
            Target::Shown(id) => self.with_buttons(id).unwrap(),
            // A card carrying this id and fingerprint in its actions' data.
            Target::Naming(id, fingerprint) => json!({"body": [{"type": "ActionSet", "actions": [
                {"data": {"requestId": id.as_str(), "fingerprint": fingerprint.to_hex()}},
            ]}]}),
        };
        let (verb, reason) = match &choice {
            Choice::Approve => ("approve", None),
            Choice::Deny { reason } => ("deny", reason.as_deref()),
        };
        let service_url = self.microsoft.service_url();
        let activity = click(&service_url, &card, verb, &aad(reviewer), reason);
        let response = self
            .http
            .post(self.server.url("/api/messages"))
            .bearer_auth(bot_token(&claims(&service_url)))
            .header("content-type", "application/json")
            .body(activity.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "an invoke is answered 200");
        let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        match answer["type"].as_str() {
            Some("application/vnd.microsoft.card.adaptive") if answer["statusCode"] == 200 => {
                Answer::Counted(card_text(&answer["value"]))
            }
            Some("application/vnd.microsoft.error") => Answer::from_code(
                answer["statusCode"]
                    .as_u64()
                    .and_then(|status| u16::try_from(status).ok())
                    .unwrap_or_default(),
                answer["value"]["code"].as_str().unwrap_or_default(),
                &answer.to_string(),
            ),
            _ => Answer::Other(answer.to_string()),
        }
    }

    /// The card as last posted or updated.
    async fn shown(&self, _reviewer: &str, id: &RequestId) -> String {
        let Some(posted) = self.posted(id) else {
            return String::new();
        };
        let card = self
            .microsoft
            .updates()
            .into_iter()
            .rev()
            .find(|update| update.activity_id == posted.activity_id)
            .unwrap_or(posted);
        card_text(card.card())
    }

    fn unsupported(_scenario: Scenario) -> Option<Unsupported> {
        None
    }
}
