//! The Teams channel: posts a card per request, refreshes it as votes
//! count, and replaces it with the outcome when the request ends.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use approvals_core::{
    ApprovalRequest, Approver, ChannelError, Conclusion, Identity, RequestId, Timestamp, VoteBox,
    async_trait,
};
use serde_json::{Value, json};

use super::card::{self, ADAPTIVE_CARD_CONTENT_TYPE};
use super::config::{Conversation, TeamsConfig};
use super::connector::{ConnectorClient, ConnectorError};
use super::directory::UserDirectory;
use super::endpoint::TeamsEndpoint;
use super::token::BotTokenClient;
use crate::jwt::{JwtConfigError, JwtValidator, KeySet, KeySource};

/// The channel's name in ballots, records and logs.
pub(crate) const CHANNEL: &str = "teams";

/// How many conversations the endpoint remembers having seen.
const RECENT_CONVERSATIONS: usize = 16;

/// Approval requests as Adaptive Cards in Microsoft Teams.
///
/// Each request is posted as a card to the configured conversation through
/// the Bot Framework Connector. Reviewers click Approve or Deny (with a
/// reason in the card's text field); Teams sends the click to the bot's
/// messaging endpoint, served by [`TeamsApprover::endpoint`], which checks
/// the request's JWT, maps the user's Entra ID object id to an [`Identity`]
/// through a [`UserDirectory`], and hands the vote to the gate. The clicker
/// gets the refreshed card or the reason the vote did not count; everyone
/// sees the card updated when a vote counts and when the request ends
/// (without buttons).
///
/// ```no_run
/// use approvals_backends::teams::{Conversation, StaticDirectory, TeamsApprover, TeamsConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = TeamsConfig::new(
///     "bot-app-id",
///     "bot-client-secret",
///     "tenant-id",
///     Conversation::new("https://smba.trafficmanager.net/emea/", "19:abc@thread.tacv2"),
/// );
/// let directory = StaticDirectory::new().user("entra-object-id-of-alice", "alice@example.com");
/// let teams = TeamsApprover::new(config, directory)?;
/// let app = teams.endpoint().router(); // serve this with axum at /api/messages
/// // Gate::builder().approver(teams)…
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TeamsApprover {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) app_id: String,
    pub(crate) conversation: Conversation,
    pub(crate) connector: ConnectorClient,
    pub(crate) validator: JwtValidator,
    pub(crate) directory: Arc<dyn UserDirectory>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    deliveries: HashMap<RequestId, Delivery>,
    /// The vote box of the latest delivery, for clicks on cards this process
    /// no longer (or not yet) tracks: the gate answers those.
    latest_votes: Option<VoteBox>,
    recent_conversations: VecDeque<Conversation>,
}

struct Delivery {
    request: Arc<ApprovalRequest>,
    votes: VoteBox,
    activity_id: String,
    approvals: Vec<Identity>,
    /// Serializes the card updates of one request, so that a late progress
    /// update never lands after the final one.
    updates: Arc<tokio::sync::Mutex<()>>,
}

/// What the endpoint needs to know about a request it received a vote for.
pub(crate) struct Tracked {
    pub(crate) request: Option<Arc<ApprovalRequest>>,
    pub(crate) votes: Option<VoteBox>,
}

impl TeamsApprover {
    /// A Teams channel with `config`, mapping users with `directory`.
    ///
    /// Fails only if the configuration names no issuer.
    pub fn new(
        config: TeamsConfig,
        directory: impl UserDirectory + 'static,
    ) -> Result<Self, JwtConfigError> {
        Self::with_client(config, directory, reqwest::Client::new())
    }

    /// As [`new`](Self::new), with the HTTP client for every outbound call
    /// (token endpoint, Connector, signing keys).
    pub fn with_client(
        config: TeamsConfig,
        directory: impl UserDirectory + 'static,
        http: reqwest::Client,
    ) -> Result<Self, JwtConfigError> {
        let tokens = BotTokenClient::new(
            http.clone(),
            config.token_url(),
            config.app_id.clone(),
            config.app_password.clone(),
            config.token_scope.clone(),
            config.request_timeout,
        );
        let connector = ConnectorClient::new(
            http.clone(),
            tokens,
            config.max_retries,
            config.max_retry_wait,
            config.request_timeout,
        );
        let keys = KeySet::with_client(
            KeySource::openid_metadata(config.openid_metadata_url.clone()),
            http,
        )
        .min_refresh_interval(config.key_refresh_interval);
        let validator = JwtValidator::new(keys, config.issuers.clone(), [config.app_id.clone()])?
            .leeway(config.leeway);
        Ok(Self {
            shared: Arc::new(Shared {
                app_id: config.app_id,
                conversation: config.conversation,
                connector,
                validator,
                directory: Arc::new(directory),
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// The handler for the bot's messaging endpoint, sharing this channel's
    /// state. Serve it at the URL registered as the bot's messaging endpoint.
    pub fn endpoint(&self) -> TeamsEndpoint {
        TeamsEndpoint::new(Arc::clone(&self.shared))
    }

    /// The requests whose cards this channel is tracking (delivered and not
    /// yet concluded).
    pub fn tracked(&self) -> Vec<RequestId> {
        self.shared.state().deliveries.keys().cloned().collect()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn tracked(&self, id: &RequestId) -> Tracked {
        let state = self.state();
        match state.deliveries.get(id) {
            Some(delivery) => Tracked {
                request: Some(Arc::clone(&delivery.request)),
                votes: Some(delivery.votes.clone()),
            },
            None => {
                let votes = state.latest_votes.clone();
                Tracked {
                    request: votes.as_ref().and_then(|votes| votes.pending_request(id)),
                    votes,
                }
            }
        }
    }

    /// Notes an approval that counted and returns everyone who approved so
    /// far (as this channel saw them).
    pub(crate) fn approved(&self, id: &RequestId, voter: &Identity) -> Vec<Identity> {
        let mut state = self.state();
        match state.deliveries.get_mut(id) {
            Some(delivery) => {
                if !delivery.approvals.contains(voter) {
                    delivery.approvals.push(voter.clone());
                }
                delivery.approvals.clone()
            }
            None => vec![voter.clone()],
        }
    }

    /// Updates the card of `id` to show the approvals so far, unless the
    /// request has ended meanwhile (its final card wins).
    pub(crate) async fn refresh_pending(&self, id: &RequestId) {
        let Some(updates) = self
            .state()
            .deliveries
            .get(id)
            .map(|delivery| Arc::clone(&delivery.updates))
        else {
            return;
        };
        let _updating = updates.lock().await;
        let Some((activity_id, activity)) = self.state().deliveries.get(id).map(|delivery| {
            (
                delivery.activity_id.clone(),
                message(
                    &delivery.request,
                    card::pending_card(&delivery.request, &delivery.approvals),
                ),
            )
        }) else {
            return;
        };
        if let Err(error) = self
            .connector
            .update(&self.conversation, &activity_id, &activity)
            .await
        {
            tracing::warn!(request = %id, %error, "could not refresh the Teams card");
        }
    }

    pub(crate) fn saw_conversation(&self, conversation: Conversation) {
        let mut state = self.state();
        let recent = &mut state.recent_conversations;
        if recent.front() == Some(&conversation) {
            return;
        }
        recent.retain(|seen| seen != &conversation);
        recent.push_front(conversation);
        recent.truncate(RECENT_CONVERSATIONS);
    }

    pub(crate) fn recent_conversations(&self) -> Vec<Conversation> {
        self.state().recent_conversations.iter().cloned().collect()
    }
}

/// A message activity carrying `card`.
fn message(request: &ApprovalRequest, card: Value) -> Value {
    json!({
        "type": "message",
        "summary": card::summary(request),
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
impl Approver for TeamsApprover {
    fn name(&self) -> &str {
        CHANNEL
    }

    async fn deliver(&self, request: &ApprovalRequest, votes: VoteBox) -> Result<(), ChannelError> {
        let shared = &self.shared;
        // Set before posting: a reviewer may click before the post returns.
        shared.state().latest_votes = Some(votes.clone());
        let activity = message(request, card::pending_card(request, &[]));
        let activity_id = shared
            .connector
            .send(&shared.conversation, &activity)
            .await
            .map_err(channel_error)?;
        tracing::debug!(request = %request.id, activity = %activity_id, "posted the Teams card");
        shared.state().deliveries.insert(
            request.id.clone(),
            Delivery {
                request: Arc::new(request.clone()),
                votes,
                activity_id,
                approvals: Vec::new(),
                updates: Arc::new(tokio::sync::Mutex::new(())),
            },
        );
        Ok(())
    }

    async fn concluded(
        &self,
        request: &ApprovalRequest,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        let shared = &self.shared;
        let Some(delivery) = shared.state().deliveries.remove(&request.id) else {
            return Ok(());
        };
        let _updating = delivery.updates.lock().await;
        let activity = message(
            request,
            card::concluded_card(request, conclusion, Timestamp::now()),
        );
        shared
            .connector
            .update(&shared.conversation, &delivery.activity_id, &activity)
            .await
            .map_err(channel_error)
    }
}

impl fmt::Debug for TeamsApprover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsApprover")
            .field("app_id", &self.shared.app_id)
            .field("conversation", &self.shared.conversation)
            .field("tracked", &self.shared.state().deliveries.len())
            .finish_non_exhaustive()
    }
}
