//! The HTTP channel: the requests it was given, their votes, and webhooks.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use approvals_core::{
    ApprovalRequest, Approver, ChannelError, Choice, Conclusion, Identity, RequestId, Timestamp,
    VoteBox, async_trait,
};
use tokio::task::JoinHandle;

use super::auth::Authenticator;
use super::view::{RequestView, VoteView};
use super::webhook::{self, Delivery, Webhook, WebhookEvent};

/// How many concluded requests the API still shows by id.
const CONCLUDED_CAPACITY: usize = 1_024;

/// The largest request body the API reads, in bytes.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// A channel that serves pending requests over a JSON REST API and sends
/// signed webhooks when requests are created and concluded.
///
/// Give one clone to the gate and mount [`HttpApprover::router`] (axum) in
/// your app, or call [`HttpApprover::handle`] from any other framework. Every
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
/// use approvals_backends::http::{HttpApprover, StaticTokens};
/// use approvals_core::{Gate, audit::MemoryAudit};
///
/// let approver = HttpApprover::builder()
///     .authenticator(StaticTokens::new().token("s3cr3t", "ops@example.com"))
///     .build()
///     .expect("the HTTP client starts");
/// let gate = Gate::builder().approver(approver.clone()).audit(MemoryAudit::new()).build();
/// let app = axum::Router::new().nest("/approvals", approver.router());
/// # let _ = (gate, app);
/// ```
#[derive(Clone)]
pub struct HttpApprover {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) authenticator: Arc<dyn Authenticator>,
    webhooks: Vec<Webhook>,
    client: reqwest::Client,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Any vote box seen, to hand the gate votes on ids this channel does
    /// not know (so that they are recorded and refused by the gate).
    votes: Option<VoteBox>,
    pending: HashMap<RequestId, Entry>,
    concluded: HashMap<RequestId, Entry>,
    concluded_order: VecDeque<RequestId>,
}

struct Entry {
    request: Arc<ApprovalRequest>,
    votes: VoteBox,
    approvers: Vec<Identity>,
    approvals: u32,
    counted: Vec<VoteView>,
    conclusion: Option<Conclusion>,
    /// The `request.created` deliveries, one per webhook, so that
    /// `request.concluded` is sent only after them.
    created: Vec<Option<JoinHandle<()>>>,
}

impl Entry {
    fn view(&self) -> RequestView {
        RequestView::new(
            &self.request,
            &self.approvers,
            self.approvals,
            &self.counted,
            self.conclusion.as_ref(),
        )
    }
}

/// What a vote is cast on: the request as delivered, or only an id.
pub(crate) struct Target {
    pub(crate) request: Option<Arc<ApprovalRequest>>,
    pub(crate) votes: VoteBox,
}

/// Builds an [`HttpApprover`].
#[derive(Default)]
pub struct HttpApproverBuilder {
    authenticator: Option<Arc<dyn Authenticator>>,
    webhooks: Vec<Webhook>,
    client: Option<reqwest::Client>,
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

impl HttpApproverBuilder {
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

    /// Uses this HTTP client for webhooks (for a proxy or custom roots).
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the channel.
    pub fn build(self) -> Result<HttpApprover, HttpSetupError> {
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
        Ok(HttpApprover {
            inner: Arc::new(Inner {
                authenticator,
                webhooks: self.webhooks,
                client,
                state: Mutex::new(State::default()),
            }),
        })
    }
}

impl HttpApprover {
    /// Starts building the channel.
    pub fn builder() -> HttpApproverBuilder {
        HttpApproverBuilder::default()
    }

    /// The pending requests, oldest first.
    pub fn pending(&self) -> Vec<RequestView> {
        let state = lock(&self.inner.state);
        let mut views: Vec<RequestView> = state.pending.values().map(Entry::view).collect();
        views.sort_by(|a, b| (a.requested_at, a.id.as_str()).cmp(&(b.requested_at, b.id.as_str())));
        views
    }

    /// One request, pending or recently concluded.
    pub fn request(&self, id: &RequestId) -> Option<RequestView> {
        let state = lock(&self.inner.state);
        state
            .pending
            .get(id)
            .or_else(|| state.concluded.get(id))
            .map(Entry::view)
    }

    /// Where to cast a vote on `id`, if this channel has a gate to cast to.
    pub(crate) fn target(&self, id: &RequestId) -> Option<Target> {
        let state = lock(&self.inner.state);
        if let Some(entry) = state.pending.get(id).or_else(|| state.concluded.get(id)) {
            return Some(Target {
                request: Some(Arc::clone(&entry.request)),
                votes: entry.votes.clone(),
            });
        }
        state.votes.clone().map(|votes| Target {
            request: None,
            votes,
        })
    }

    /// Notes a vote the gate counted, for the views.
    pub(crate) fn counted(&self, id: &RequestId, voter: Identity, choice: Choice, approvals: u32) {
        let mut state = lock(&self.inner.state);
        let state = &mut *state;
        if let Some(entry) = state
            .pending
            .get_mut(id)
            .or_else(|| state.concluded.get_mut(id))
        {
            entry.approvals = entry.approvals.max(approvals);
            entry.counted.push(VoteView {
                voter,
                choice,
                at: Timestamp::now(),
            });
        }
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
                    webhook::send(&inner.client, hook, &delivery).await;
                }
            })));
        }
        handles
    }
}

impl fmt::Debug for HttpApprover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("HttpApprover")
            .field("pending", &state.pending.len())
            .field("webhooks", &self.inner.webhooks)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for HttpApproverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpApproverBuilder")
            .field("authenticator", &self.authenticator.is_some())
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Approver for HttpApprover {
    fn name(&self) -> &str {
        "http"
    }

    async fn deliver(&self, request: &ApprovalRequest, votes: VoteBox) -> Result<(), ChannelError> {
        let request = Arc::new(request.clone());
        let mut entry = Entry {
            approvers: request.approvers.clone(),
            request,
            votes: votes.clone(),
            approvals: 0,
            counted: Vec::new(),
            conclusion: None,
            created: Vec::new(),
        };
        entry.created = self.notify(WebhookEvent::RequestCreated, &entry.view(), Vec::new());
        let mut state = lock(&self.inner.state);
        state.votes.get_or_insert(votes);
        state.pending.insert(entry.request.id.clone(), entry);
        Ok(())
    }

    async fn escalated(
        &self,
        request: &ApprovalRequest,
        added: &[Identity],
    ) -> Result<(), ChannelError> {
        if let Some(entry) = lock(&self.inner.state).pending.get_mut(&request.id) {
            for identity in added {
                if !entry.approvers.contains(identity) {
                    entry.approvers.push(identity.clone());
                }
            }
        }
        Ok(())
    }

    async fn concluded(
        &self,
        request: &ApprovalRequest,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        let (view, created) = {
            let mut state = lock(&self.inner.state);
            let Some(mut entry) = state.pending.remove(&request.id) else {
                return Ok(());
            };
            entry.conclusion = Some(conclusion.clone());
            if let Conclusion::Approved { by } = conclusion {
                entry.approvals = u32::try_from(by.len()).unwrap_or(u32::MAX);
            }
            let created = std::mem::take(&mut entry.created);
            let view = entry.view();
            state.concluded_order.push_back(request.id.clone());
            state.concluded.insert(request.id.clone(), entry);
            if state.concluded_order.len() > CONCLUDED_CAPACITY {
                if let Some(oldest) = state.concluded_order.pop_front() {
                    state.concluded.remove(&oldest);
                }
            }
            (view, created)
        };
        // Deliveries run on their own; nothing waits for the handles.
        drop(self.notify(WebhookEvent::RequestConcluded, &view, created));
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
