//! The Teams channel: posts a card per request, refreshes it as votes
//! count, and replaces it with the outcome when the request ends.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use approvals_core::{
    Channel, ChannelError, Conclusion, Identity, Progress, RequestId, Review, Timestamp, VoteBox,
    async_trait,
};
use serde_json::{Value, json};

use super::config::{Conversation, TeamsConfig};
use super::identity::UserDirectory;
use super::inbound::TeamsEndpoint;
use super::outbound::{ConnectorClient, ConnectorError};
use super::render::{self, ADAPTIVE_CARD_CONTENT_TYPE};
use super::token::BotTokenClient;
use crate::jwt::{JwtConfigError, JwtValidator, KeySet, KeySource};
use crate::kit::{Ledger, lock};

/// The channel's name in ballots, records and logs.
pub(crate) const CHANNEL: &str = "teams";

/// How many conversations the endpoint remembers having seen.
const RECENT_CONVERSATIONS: usize = 16;

/// Approval requests as Adaptive Cards in Microsoft Teams.
///
/// Each request is posted as a card to the configured conversation through
/// the Bot Framework Connector. Reviewers click Approve or Deny (with a
/// reason in the card's text field); Teams sends the click to the bot's
/// messaging endpoint, served by [`TeamsChannel::inbound`], which checks
/// the request's JWT, maps the user's Entra ID object id to an [`Identity`](approvals_core::Identity)
/// through a [`UserDirectory`], and hands the vote to the gate. The clicker
/// gets the refreshed card or the reason the vote did not count; everyone
/// sees the card updated when a vote counts and when the request ends
/// (without buttons).
///
/// ```no_run
/// use approvals_backends::teams::{Conversation, StaticDirectory, TeamsChannel, TeamsConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = TeamsConfig::new(
///     "bot-app-id",
///     "bot-client-secret",
///     "tenant-id",
///     Conversation::new("https://smba.trafficmanager.net/emea/", "19:abc@thread.tacv2"),
/// );
/// let directory = StaticDirectory::new().user("entra-object-id-of-alice", "alice@example.com");
/// let teams = TeamsChannel::builder(config, directory).build()?;
/// let app = teams.inbound().router(); // serve this with axum at /api/messages
/// // Gate::builder().channel(teams)…
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TeamsChannel {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) app_id: String,
    pub(crate) conversation: Conversation,
    pub(crate) connector: ConnectorClient,
    pub(crate) validator: JwtValidator,
    pub(crate) directory: Arc<dyn UserDirectory>,
    pub(crate) ledger: Ledger<Posted>,
    /// The largest activity read.
    pub(crate) max_body_bytes: usize,
    recent_conversations: Mutex<VecDeque<Conversation>>,
}

/// The card of one request.
#[derive(Default)]
pub(crate) struct Posted {
    /// The activity id, once the Connector has answered the post.
    activity_id: Option<String>,
    /// Serializes the card updates of one request, so that a late progress
    /// update never lands after the final one.
    updates: Arc<tokio::sync::Mutex<()>>,
    /// Approvers added by escalations, shown on the card from then on.
    escalated: Vec<Identity>,
}

/// Builds a [`TeamsChannel`].
pub struct TeamsChannelBuilder {
    config: TeamsConfig,
    directory: Arc<dyn UserDirectory>,
    http: Option<reqwest::Client>,
}

impl TeamsChannelBuilder {
    /// The HTTP client for every outbound call (token endpoint, Connector,
    /// signing keys); default: a new `reqwest::Client`.
    #[must_use]
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the channel; its messaging endpoint is
    /// [`TeamsChannel::inbound`]. Fails only if the configuration names no
    /// issuer.
    pub fn build(self) -> Result<TeamsChannel, JwtConfigError> {
        let Self {
            config,
            directory,
            http,
        } = self;
        let http = http.unwrap_or_default();
        let tokens = BotTokenClient::new(
            http.clone(),
            config.token_url(),
            config.app_id.clone(),
            config.app_password.clone(),
            config.token_scope.clone(),
            config.request_timeout,
        );
        let connector =
            ConnectorClient::new(http.clone(), tokens, config.retry, config.request_timeout);
        let keys = KeySet::with_client(
            KeySource::openid_metadata(config.openid_metadata_url.clone()),
            http,
        )
        .min_refresh_interval(config.key_refresh_interval);
        let validator = JwtValidator::new(keys, config.issuers.clone(), [config.app_id.clone()])?
            .leeway(config.leeway);
        Ok(TeamsChannel {
            shared: Arc::new(Shared {
                app_id: config.app_id,
                conversation: config.conversation,
                connector,
                validator,
                ledger: Ledger::default(),
                max_body_bytes: config.max_body_bytes,
                recent_conversations: Mutex::new(VecDeque::new()),
                directory,
            }),
        })
    }
}

impl fmt::Debug for TeamsChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsChannelBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TeamsChannel {
    /// Starts building a Teams channel with `config`, mapping users with
    /// `directory`.
    pub fn builder(
        config: TeamsConfig,
        directory: impl UserDirectory + 'static,
    ) -> TeamsChannelBuilder {
        TeamsChannelBuilder {
            config,
            directory: Arc::new(directory),
            http: None,
        }
    }

    /// The handler for the bot's messaging endpoint, sharing this channel's
    /// state. Serve it at the URL registered as the bot's messaging endpoint.
    pub fn inbound(&self) -> TeamsEndpoint {
        TeamsEndpoint::new(Arc::clone(&self.shared))
    }

    /// The requests whose cards this channel is tracking (delivered and not
    /// yet concluded).
    pub fn tracked(&self) -> Vec<RequestId> {
        self.shared
            .ledger
            .pending()
            .iter()
            .map(|review| review.id.clone())
            .collect()
    }
}

impl Shared {
    /// The review a click names: as delivered here, else as the gate holds
    /// it pending (a card another replica or an earlier run posted).
    pub(crate) fn review(&self, id: &RequestId) -> Option<Arc<Review>> {
        self.ledger.review(id).or_else(|| {
            self.ledger
                .votes()
                .and_then(|votes| votes.pending_request(id))
        })
    }

    /// Replaces the card of `id` with `card`, after the updates before it.
    /// A progress update (`final_card` false) is skipped once the request
    /// has ended, so that the final card is always the last.
    async fn update(
        &self,
        id: &RequestId,
        card: Value,
        final_card: bool,
    ) -> Result<(), ConnectorError> {
        let Some(updates) = self
            .ledger
            .with(id, |delivery| Arc::clone(&delivery.data.updates))
        else {
            return Ok(());
        };
        let _updating = updates.lock().await;
        let current = self.ledger.with(id, |delivery| {
            (
                delivery.data.activity_id.clone(),
                Arc::clone(&delivery.review),
                delivery.conclusion.is_some(),
            )
        });
        let Some((Some(activity_id), review, ended)) = current else {
            return Ok(());
        };
        if ended && !final_card {
            return Ok(());
        }
        self.connector
            .update(&self.conversation, &activity_id, &message(&review, card))
            .await
    }

    pub(crate) fn saw_conversation(&self, conversation: Conversation) {
        let mut recent = lock(&self.recent_conversations);
        if recent.front() == Some(&conversation) {
            return;
        }
        recent.retain(|seen| seen != &conversation);
        recent.push_front(conversation);
        recent.truncate(RECENT_CONVERSATIONS);
    }

    pub(crate) fn recent_conversations(&self) -> Vec<Conversation> {
        lock(&self.recent_conversations).iter().cloned().collect()
    }
}

/// A message activity carrying `card`.
fn message(request: &Review, card: Value) -> Value {
    json!({
        "type": "message",
        "summary": render::summary(request),
        "attachments": [{
            "contentType": ADAPTIVE_CARD_CONTENT_TYPE,
            "content": card,
        }],
    })
}

fn channel_error(error: ConnectorError) -> ChannelError {
    match error {
        ConnectorError::Rejected { .. } | ConnectorError::InvalidServiceUrl(_) => {
            ChannelError::rejected(CHANNEL, error.to_string())
        }
        _ => ChannelError::unavailable(CHANNEL, error.to_string()),
    }
}

#[async_trait]
impl Channel for TeamsChannel {
    fn name(&self) -> &str {
        CHANNEL
    }

    fn attach(&self, votes: VoteBox) {
        self.shared.ledger.attach(votes);
    }

    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        let shared = &self.shared;
        // Kept before posting: a reviewer may click before the post returns.
        shared.ledger.delivered(request, votes, Posted::default());
        let activity = message(request, render::pending_card(request, &[]));
        let activity_id = match shared.connector.send(&shared.conversation, &activity).await {
            Ok(activity_id) => activity_id,
            Err(error) => {
                shared.ledger.forget(&request.id);
                return Err(channel_error(error));
            }
        };
        tracing::debug!(request = %request.id, activity = %activity_id, "posted the Teams card");
        // A new version or an approval that came while the card was being
        // posted could not update it: it is brought up to date now.
        let late = shared.ledger.with(&request.id, |delivery| {
            delivery.data.activity_id = Some(activity_id);
            let changed = delivery.review.version != request.version || delivery.progress.is_some();
            (changed && delivery.conclusion.is_none()).then(|| {
                let approvals = delivery
                    .progress
                    .as_ref()
                    .map(|progress| progress.approved_by.clone())
                    .unwrap_or_default();
                render::pending_card_escalated(
                    &delivery.review,
                    &approvals,
                    &delivery.data.escalated,
                )
            })
        });
        if let Some(Some(card)) = late {
            if let Err(error) = shared.update(&request.id, card, false).await {
                tracing::warn!(request_id = %request.id, %error, "the Teams card could not be brought up to date");
            }
        }
        Ok(())
    }

    async fn progress(&self, request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        let Some(escalated) = self
            .shared
            .ledger
            .progressed(&request.id, progress, |delivery| {
                delivery.data.escalated.clone()
            })
        else {
            return Ok(());
        };
        let card = render::pending_card_escalated(request, &progress.approved_by, &escalated);
        self.shared
            .update(&request.id, card, false)
            .await
            .map_err(channel_error)
    }

    /// An accepted edit made a new version: the card shows it (its version,
    /// masked arguments, edit inputs and the new fingerprint in every
    /// button's data), with no approvals yet (those of the version before do
    /// not count for it; the gate reports the editor's next).
    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        let shown = self.shared.ledger.revised(request, |delivery| {
            delivery.progress = None;
            delivery
                .conclusion
                .is_none()
                .then(|| delivery.data.escalated.clone())
        });
        let Some(Some(escalated)) = shown else {
            return Ok(());
        };
        let card = render::pending_card_escalated(request, &[], &escalated);
        self.shared
            .update(&request.id, card, false)
            .await
            .map_err(channel_error)
    }

    async fn escalated(&self, request: &Review, added: &[Identity]) -> Result<(), ChannelError> {
        let shown = self.shared.ledger.with(&request.id, |delivery| {
            delivery.data.escalated.extend(added.iter().cloned());
            let approvals = delivery
                .progress
                .as_ref()
                .map(|progress| progress.approved_by.clone())
                .unwrap_or_default();
            (delivery.conclusion.is_none()).then(|| (approvals, delivery.data.escalated.clone()))
        });
        let Some(Some((approvals, escalated))) = shown else {
            return Ok(());
        };
        let card = render::pending_card_escalated(request, &approvals, &escalated);
        self.shared
            .update(&request.id, card, false)
            .await
            .map_err(channel_error)
    }

    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        if self
            .shared
            .ledger
            .concluded(&request.id, conclusion, |_| ())
            .is_none()
        {
            return Ok(());
        }
        let card = render::concluded_card(request, conclusion, Timestamp::now());
        self.shared
            .update(&request.id, card, true)
            .await
            .map_err(channel_error)
    }

    fn receipt(&self, request: &RequestId) -> Option<serde_json::Value> {
        let activity_id = self
            .shared
            .ledger
            .with(request, |delivery| delivery.data.activity_id.clone())??;
        Some(serde_json::json!({ "activity_id": activity_id }))
    }

    fn resume(&self, request: &Review, receipt: &serde_json::Value) {
        let Some(activity_id) = receipt["activity_id"].as_str() else {
            tracing::warn!(request_id = %request.id, "a stored Teams receipt could not be read");
            return;
        };
        self.shared.ledger.resumed(
            request,
            Posted {
                activity_id: Some(activity_id.to_owned()),
                ..Posted::default()
            },
        );
    }
}

impl fmt::Debug for TeamsChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsChannel")
            .field("app_id", &self.shared.app_id)
            .field("conversation", &self.shared.conversation)
            .field("tracked", &self.shared.ledger.pending().len())
            .finish_non_exhaustive()
    }
}
