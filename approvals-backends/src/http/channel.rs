//! The HTTP channel: the requests it was given, their votes, and webhooks.

use std::fmt;
use std::sync::Arc;

use approvals_core::{
    Channel, ChannelError, Conclusion, Identity, Progress, RequestId, Review, VoteBox, async_trait,
};
use tokio::task::JoinHandle;

use super::identity::Authenticator;
use super::outbound::{self, Delivery, Webhook, WebhookEvent};
use super::render::RequestView;
use crate::kit::{self, Ledger};

/// How many concluded requests the API still shows by id.
const CONCLUDED_CAPACITY: usize = 1_024;

/// The largest request body the API reads by default, in bytes.
const BODY_LIMIT: usize = 64 * 1024;

/// A channel that serves pending requests over a JSON REST API and sends
/// signed webhooks when requests are created and concluded.
///
/// Give one clone to the gate and mount [`HttpChannel::router`] (axum) in
/// your app, or call [`HttpChannel::handle`] from any other framework. Every
/// call is authenticated by the [`Authenticator`]; votes go to the gate's
/// [`VoteBox`], which alone judges them, and the answer says whether the vote
/// counted or why not.
///
/// | method and path | what |
/// | --- | --- |
/// | `GET /v1/requests` | pending requests (masked), oldest first |
/// | `GET /v1/requests/{id}` | one request, pending or recently concluded |
/// | `POST /v1/requests/{id}/approve` | approve, as the caller |
/// | `POST /v1/requests/{id}/deny` | deny, as the caller, with `{"reason": "..."}` |
/// | `GET /v1/openapi.json` | the OpenAPI document (no authentication) |
///
/// ```
/// use approvals_backends::http::{HttpChannel, StaticTokens};
/// use approvals_core::{Gate, audit::MemoryAudit};
///
/// let approver = HttpChannel::builder()
///     .authenticator(StaticTokens::new().token("s3cr3t", "ops@example.com"))
///     .build()
///     .expect("the HTTP client starts");
/// let gate = Gate::builder().channel(approver.clone()).audit(MemoryAudit::new()).build();
/// let app = axum::Router::new().nest("/approvals", approver.router());
/// # let _ = (gate, app);
/// ```
#[derive(Clone)]
pub struct HttpChannel {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) authenticator: Arc<dyn Authenticator>,
    webhooks: Vec<Webhook>,
    client: reqwest::Client,
    pub(crate) ledger: Ledger<Sent>,
    /// The largest body read.
    pub(crate) max_body_bytes: usize,
}

/// The most pending requests listed from a store.
const STORED_PENDING_LIMIT: usize = 1_000;

/// What this channel keeps per request beside the review.
#[derive(Default)]
pub(crate) struct Sent {
    /// Who may vote (escalation adds to it).
    approvers: Vec<Identity>,
    /// The `request.created` deliveries, one per webhook, so that
    /// `request.concluded` is sent only after them.
    created: Vec<Option<JoinHandle<()>>>,
}

fn view(delivery: &kit::Delivery<Sent>) -> RequestView {
    RequestView::new(
        &delivery.review,
        &delivery.data.approvers,
        delivery
            .progress
            .as_ref()
            .map_or(&[][..], |progress| &progress.approved_by),
        delivery.conclusion.as_ref(),
    )
}

/// Builds an [`HttpChannel`].
#[derive(Default)]
pub struct HttpChannelBuilder {
    authenticator: Option<Arc<dyn Authenticator>>,
    webhooks: Vec<Webhook>,
    client: Option<reqwest::Client>,
    max_body_bytes: Option<usize>,
}

/// The HTTP channel could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSetupError {
    /// No authenticator was given: the API would have to trust anyone.
    #[error("the HTTP API needs an authenticator")]
    NoAuthenticator,
    /// A webhook URL is not an absolute `http` or `https` URL.
    #[error("the webhook URL `{0}` is not an absolute http(s) URL")]
    WebhookUrl(String),
    /// A webhook has an empty signing secret.
    #[error("the webhook to `{0}` has an empty signing secret")]
    WebhookSecret(String),
    /// The HTTP client for webhooks could not start.
    #[error("the HTTP client for webhooks could not start: {0}")]
    Client(#[source] reqwest::Error),
}

impl HttpChannelBuilder {
    /// Who may call the API (required).
    #[must_use]
    pub fn authenticator(mut self, authenticator: impl Authenticator + 'static) -> Self {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// Adds a webhook for new and concluded requests.
    #[must_use]
    pub fn webhook(mut self, webhook: Webhook) -> Self {
        self.webhooks.push(webhook);
        self
    }

    /// The largest request body the API reads (default 64 KiB); a larger
    /// one is answered `413` before it is parsed.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// Uses this HTTP client for webhooks (for a proxy or custom roots).
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the channel.
    pub fn build(self) -> Result<HttpChannel, HttpSetupError> {
        let authenticator = self.authenticator.ok_or(HttpSetupError::NoAuthenticator)?;
        for hook in &self.webhooks {
            let url = hook.url.to_ascii_lowercase();
            let has_host = url
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
            if !(url.starts_with("http://") || url.starts_with("https://")) || !has_host {
                return Err(HttpSetupError::WebhookUrl(hook.url.clone()));
            }
            if hook.secret.is_empty() {
                return Err(HttpSetupError::WebhookSecret(hook.url.clone()));
            }
        }
        let client = match self.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .user_agent(concat!("approvals/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(HttpSetupError::Client)?,
        };
        Ok(HttpChannel {
            inner: Arc::new(Inner {
                authenticator,
                webhooks: self.webhooks,
                client,
                ledger: Ledger::new(CONCLUDED_CAPACITY),
                max_body_bytes: self.max_body_bytes.unwrap_or(BODY_LIMIT),
            }),
        })
    }
}

impl HttpChannel {
    /// Starts building the channel.
    pub fn builder() -> HttpChannelBuilder {
        HttpChannelBuilder::default()
    }

    /// The pending requests, oldest first.
    pub fn pending(&self) -> Vec<RequestView> {
        self.inner
            .ledger
            .pending()
            .iter()
            .filter_map(|review| self.request(&review.id))
            .collect()
    }

    /// One request, pending or recently concluded.
    pub fn request(&self, id: &RequestId) -> Option<RequestView> {
        self.inner.ledger.with(id, |delivery| view(delivery))
    }

    /// The pending requests, oldest first; with a store, those of every
    /// replica (a request another replica delivered is shown with the
    /// gate's tally).
    pub(crate) async fn pending_everywhere(&self) -> Vec<RequestView> {
        let Some(votes) = self.inner.ledger.votes() else {
            return self.pending();
        };
        let Some(stored) = votes.stored_pending(STORED_PENDING_LIMIT).await else {
            return self.pending();
        };
        let mut views = Vec::with_capacity(stored.len());
        for review in stored {
            let approved_by = votes
                .progress(&review.id)
                .await
                .map(|progress| progress.approved_by)
                .unwrap_or_default();
            let approvers = self
                .inner
                .ledger
                .with(&review.id, |delivery| delivery.data.approvers.clone())
                .unwrap_or_else(|| review.approvers.clone());
            views.push(RequestView::new(&review, &approvers, &approved_by, None));
        }
        views
    }

    /// One request: as delivered here, else (with a store) as any replica
    /// left it pending.
    pub(crate) async fn request_anywhere(&self, id: &RequestId) -> Option<RequestView> {
        if let Some(view) = self.request(id) {
            return Some(view);
        }
        self.pending_everywhere()
            .await
            .into_iter()
            .find(|view| &view.id == id)
    }

    fn notify(
        &self,
        event: WebhookEvent,
        view: &RequestView,
        after: Vec<Option<JoinHandle<()>>>,
    ) -> Vec<Option<JoinHandle<()>>> {
        let mut after = after.into_iter();
        let mut handles = Vec::with_capacity(self.inner.webhooks.len());
        let runtime = tokio::runtime::Handle::try_current();
        for (index, hook) in self.inner.webhooks.iter().enumerate() {
            let before = after.next().flatten();
            if !hook.wants(event) {
                handles.push(before);
                continue;
            }
            let (Ok(runtime), Some(delivery)) = (&runtime, Delivery::new(event, view)) else {
                tracing::warn!(url = %hook.url, "a webhook could not be sent: no Tokio runtime");
                handles.push(before);
                continue;
            };
            let inner = Arc::clone(&self.inner);
            handles.push(Some(runtime.spawn(async move {
                if let Some(before) = before {
                    // Keep each receiver's events in order: created first.
                    let _ = before.await;
                }
                if let Some(hook) = inner.webhooks.get(index) {
                    outbound::send(&inner.client, hook, &delivery).await;
                }
            })));
        }
        handles
    }
}

impl fmt::Debug for HttpChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpChannel")
            .field("pending", &self.inner.ledger.pending().len())
            .field("webhooks", &self.inner.webhooks)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for HttpChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpChannelBuilder")
            .field("authenticator", &self.authenticator.is_some())
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for HttpChannel {
    fn name(&self) -> &str {
        "http"
    }

    fn attach(&self, votes: VoteBox) {
        self.inner.ledger.attach(votes);
    }

    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        let review = self.inner.ledger.delivered(
            request,
            votes,
            Sent {
                approvers: request.approvers.clone(),
                created: Vec::new(),
            },
        );
        let created = RequestView::new(&review, &review.approvers, &[], None);
        let handles = self.notify(WebhookEvent::RequestCreated, &created, Vec::new());
        self.inner
            .ledger
            .with(&review.id, |delivery| delivery.data.created = handles);
        Ok(())
    }

    async fn escalated(&self, request: &Review, added: &[Identity]) -> Result<(), ChannelError> {
        self.inner.ledger.with(&request.id, |delivery| {
            for identity in added {
                if !delivery.data.approvers.contains(identity) {
                    delivery.data.approvers.push(identity.clone());
                }
            }
        });
        Ok(())
    }

    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        // The new version is what the API shows, and the fingerprint a
        // vote must name from now on.
        self.inner.ledger.revised(request, |delivery| {
            delivery.data.approvers.clone_from(&request.approvers);
        });
        Ok(())
    }

    async fn progress(&self, request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        self.inner.ledger.progressed(&request.id, progress, |_| ());
        Ok(())
    }

    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        let Some((view, created)) =
            self.inner
                .ledger
                .concluded(&request.id, conclusion, |delivery| {
                    (view(delivery), std::mem::take(&mut delivery.data.created))
                })
        else {
            return Ok(());
        };
        // Deliveries run on their own; nothing waits for the handles.
        drop(self.notify(WebhookEvent::RequestConcluded, &view, created));
        Ok(())
    }

    fn receipt(&self, request: &RequestId) -> Option<serde_json::Value> {
        let approvers = self
            .inner
            .ledger
            .with(request, |delivery| delivery.data.approvers.clone())?;
        Some(serde_json::json!({ "approvers": approvers }))
    }

    fn resume(&self, request: &Review, receipt: &serde_json::Value) {
        let approvers = serde_json::from_value::<Vec<Identity>>(receipt["approvers"].clone())
            .unwrap_or_else(|_| request.approvers.clone());
        self.inner.ledger.resumed(
            request,
            Sent {
                approvers,
                created: Vec::new(),
            },
        );
    }
}
