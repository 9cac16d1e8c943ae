//! The proxy: MCP messages pass between a client and a server unchanged,
//! except `tools/call`, which passes through the gate first.

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::time::Duration;

use approvals_core::policy::Policy;
use approvals_core::{ActionRequest, Error, Gate, Identity};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientJsonRpcMessage,
    ClientNotification, ClientRequest, ContentBlock, ErrorCode, ErrorData, GetExtensions,
    ProgressNotification, ProgressNotificationParam, ProgressToken, RequestId,
    ServerJsonRpcMessage, ServerNotification, ServerResult,
};
use rmcp::service::{RoleClient, RoleServer};
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::catalog::{ToolCatalog, ToolHints, action_name, action_segment};
use crate::error::ProxyError;

/// How often a waiting call tells the client it is still waiting, unless
/// configured otherwise.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// How the proxy names calls and whom it names as their requester.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    requester: Identity,
    server_name: Option<String>,
    progress_interval: Duration,
}

impl ProxyConfig {
    #[cfg(any(feature = "rmcp-router", feature = "streamable-http"))]
    pub(crate) fn configured_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    #[cfg(feature = "rmcp-router")]
    pub(crate) fn requester(&self) -> &Identity {
        &self.requester
    }

    #[cfg(feature = "streamable-http")]
    pub(crate) fn interval(&self) -> Duration {
        self.progress_interval
    }

    /// Calls are requested by `requester` (the agent behind the client; the
    /// stdio transport carries no identity of its own). The server's name
    /// is taken from its `initialize` (or `server/discover`) answer, and a
    /// waiting call reports progress every [`DEFAULT_PROGRESS_INTERVAL`].
    pub fn new(requester: impl Into<Identity>) -> Self {
        Self {
            requester: requester.into(),
            server_name: None,
            progress_interval: DEFAULT_PROGRESS_INTERVAL,
        }
    }

    /// Names the server in action names (`mcp.<name>.<tool>`) instead of
    /// the name the server gives itself. Characters other than letters,
    /// digits, `-` and `_` become `_`.
    #[must_use]
    pub fn server_name(mut self, name: impl AsRef<str>) -> Self {
        self.server_name = Some(action_segment(name.as_ref()));
        self
    }

    /// How often a call that waits for a decision sends
    /// `notifications/progress` to the client (only when the call carried
    /// a `_meta.progressToken`). Zero turns these notifications off.
    #[must_use]
    pub fn progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
    }
}

/// An approval gateway in front of one MCP server.
///
/// Every message passes between the client and the server as it came,
/// except `tools/call`: the call becomes an [`ActionRequest`] named
/// `mcp.<server>.<tool>`, with the call's arguments, and reaches the
/// server only once the gate allows it (see the [crate docs](crate)).
#[derive(Debug, Clone)]
pub struct McpProxy {
    gate: Gate,
    base_policy: Policy,
    config: ProxyConfig,
}

impl McpProxy {
    /// A proxy deciding through `gate`. The gate's current policy is the
    /// base: the proxy adds, after its rules, one rule allowing the tools the
    /// server marks read-only, and sets the result on the gate
    /// ([`Gate::set_policy`]) each time it learns the server's tools. The
    /// gate should serve this proxy alone.
    pub fn new(gate: Gate, config: ProxyConfig) -> Self {
        let base_policy = Policy::clone(&gate.policy());
        Self {
            gate,
            base_policy,
            config,
        }
    }

    /// Starts `command` as the MCP server (its standard input and output
    /// speak MCP; its standard error is the proxy's) and serves the client
    /// on this process's standard input and output until the client
    /// closes them.
    pub async fn serve_stdio(self, command: tokio::process::Command) -> Result<(), ProxyError> {
        let server = rmcp::transport::TokioChildProcess::builder(command)
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .map_err(ProxyError::Spawn)?
            .0;
        let (stdin, stdout) = rmcp::transport::stdio();
        let client =
            rmcp::transport::async_rw::AsyncRwTransport::<RoleServer, _, _>::new(stdin, stdout);
        self.serve(client, server).await
    }

    /// Serves `client` (the transport facing the MCP client) with `server`
    /// (the transport facing the MCP server) until the client closes its
    /// side. When the server closes first, the calls it had not answered
    /// are answered with an error and [`ProxyError::ServerExited`] is
    /// returned.
    pub async fn serve<C, S>(self, client: C, server: S) -> Result<(), ProxyError>
    where
        C: Transport<RoleServer>,
        S: Transport<RoleClient>,
    {
        let (events, receiver) = mpsc::unbounded_channel();
        let session = Session {
            proxy: self,
            client,
            server,
            events,
            receiver,
            catalog: ToolCatalog::default(),
            learned_name: None,
            handshakes: HashSet::new(),
            listings: HashSet::new(),
            forwarded: HashSet::new(),
            waiting: HashMap::new(),
            in_flight: HashMap::new(),
            refresh: None,
            refreshes: 0,
            deferred: Vec::new(),
        };
        session.run().await
    }
}

/// What a gated call's task asks of the session.
enum Event {
    /// Send this to the client.
    ToClient(ServerJsonRpcMessage),
    /// The call was approved: send it to the server and hand back its answer.
    Forward {
        id: RequestId,
        request: ClientRequest,
        answer: oneshot::Sender<ServerJsonRpcMessage>,
    },
    /// The call's task is over.
    Finished(RequestId),
}

struct Session<C, S> {
    proxy: McpProxy,
    client: C,
    server: S,
    events: mpsc::UnboundedSender<Event>,
    receiver: mpsc::UnboundedReceiver<Event>,
    catalog: ToolCatalog,
    learned_name: Option<String>,
    /// Ids of the client's `initialize` and `server/discover` requests.
    handshakes: HashSet<RequestId>,
    /// Ids of the client's `tools/list` requests.
    listings: HashSet<RequestId>,
    /// Ids of other client requests sent to the server and not answered.
    forwarded: HashSet<RequestId>,
    /// Gated calls not yet answered, by id.
    waiting: HashMap<RequestId, JoinHandle<()>>,
    /// Approved calls sent to the server, by id.
    in_flight: HashMap<RequestId, oneshot::Sender<ServerJsonRpcMessage>>,
    /// The id of the proxy's own `tools/list` request under way, if any.
    refresh: Option<RequestId>,
    /// How many `tools/list` requests the proxy has made (for their ids).
    refreshes: u64,
    /// Calls for tools not (yet) listed, waiting for the proxy's own
    /// `tools/list` to finish.
    deferred: Vec<(RequestId, CallToolRequest)>,
}

impl<C, S> Session<C, S>
where
    C: Transport<RoleServer>,
    S: Transport<RoleClient>,
{
    async fn run(mut self) -> Result<(), ProxyError> {
        loop {
            tokio::select! {
                message = self.client.receive() => match message {
                    Some(message) => self.on_client(message).await?,
                    None => break,
                },
                message = self.server.receive() => match message {
                    Some(message) => self.on_server(message).await?,
                    None => return self.server_gone().await,
                },
                Some(event) = self.receiver.recv() => self.on_event(event).await?,
            }
        }
        // The client is gone: whatever waits is cancelled (and recorded so).
        for (_, task) in self.waiting.drain() {
            task.abort();
        }
        let _ = self.server.close().await;
        settle().await;
        Ok(())
    }

    fn server_name(&self) -> String {
        self.proxy
            .config
            .server_name
            .clone()
            .or_else(|| self.learned_name.clone())
            .unwrap_or_else(|| "server".to_owned())
    }

    fn update_policy(&self) {
        let policy = self
            .catalog
            .layered_policy(&self.proxy.base_policy, &self.server_name());
        self.proxy.gate.set_policy(policy);
    }

    async fn send_client(&mut self, message: ServerJsonRpcMessage) -> Result<(), ProxyError> {
        self.client
            .send(message)
            .await
            .map_err(|error| ProxyError::Write {
                peer: "client",
                source: Box::new(error),
            })
    }

    async fn send_server(&mut self, message: ClientJsonRpcMessage) -> Result<(), ProxyError> {
        self.server
            .send(message)
            .await
            .map_err(|error| ProxyError::Write {
                peer: "server",
                source: Box::new(error),
            })
    }

    async fn on_client(&mut self, message: ClientJsonRpcMessage) -> Result<(), ProxyError> {
        match message {
            ClientJsonRpcMessage::Request(request) => {
                let id = request.id;
                match request.request {
                    ClientRequest::CallToolRequest(call) => self.gate_call(id, call).await,
                    other => {
                        match &other {
                            ClientRequest::InitializeRequest(_)
                            | ClientRequest::DiscoverRequest(_) => {
                                self.handshakes.insert(id.clone());
                            }
                            ClientRequest::ListToolsRequest(_) => {
                                self.listings.insert(id.clone());
                            }
                            _ => {}
                        }
                        self.forwarded.insert(id.clone());
                        self.send_server(ClientJsonRpcMessage::request(other, id))
                            .await
                    }
                }
            }
            ClientJsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                {
                    let waiting = cancelled
                        .params
                        .request_id
                        .as_ref()
                        .and_then(|id| self.waiting.remove(id));
                    if let Some(task) = waiting {
                        // Not sent yet: the server never saw it. Dropping the
                        // wait cancels the request and records it.
                        task.abort();
                        return Ok(());
                    }
                }
                self.send_server(ClientJsonRpcMessage::Notification(notification))
                    .await
            }
            // Answers to the server's own requests, and errors.
            other => self.send_server(other).await,
        }
    }

    async fn gate_call(&mut self, id: RequestId, call: CallToolRequest) -> Result<(), ProxyError> {
        let reused = self.waiting.contains_key(&id)
            || self.forwarded.contains(&id)
            || self.deferred.iter().any(|(waiting, _)| *waiting == id);
        if reused {
            let error = ErrorData::invalid_request(
                "a request with this id is still waiting for an answer",
                None,
            );
            return self
                .send_client(ServerJsonRpcMessage::error(error, Some(id)))
                .await;
        }
        if self.catalog.get(&call.params.name).is_none() {
            // The client may call a tool it listed earlier, or before the
            // server answered its `tools/list`: ask the server once more.
            self.deferred.push((id, call));
            if self.refresh.is_none() {
                self.request_tools(None).await?;
            }
            return Ok(());
        }
        self.start_call(id, call);
        Ok(())
    }

    /// Sends the proxy's own `tools/list` (a page of it) to the server.
    async fn request_tools(&mut self, cursor: Option<String>) -> Result<(), ProxyError> {
        self.refreshes += 1;
        let id = RequestId::String(format!("approvals-mcp/tools-list/{}", self.refreshes).into());
        self.refresh = Some(id.clone());
        let params = cursor
            .map(|cursor| rmcp::model::PaginatedRequestParams::default().with_cursor(Some(cursor)));
        let request = rmcp::model::ListToolsRequest {
            params,
            ..Default::default()
        };
        self.send_server(ClientJsonRpcMessage::request(
            ClientRequest::ListToolsRequest(request),
            id,
        ))
        .await
    }

    /// The proxy's own `tools/list` has ended: the deferred calls go on,
    /// or fail as calls to unknown tools.
    async fn release_deferred(&mut self) -> Result<(), ProxyError> {
        self.refresh = None;
        for (id, call) in std::mem::take(&mut self.deferred) {
            if self.catalog.get(&call.params.name).is_some() {
                self.start_call(id, call);
            } else {
                let error = ErrorData::new(
                    ErrorCode::INVALID_PARAMS,
                    "unknown tool: the server does not list a tool of this name",
                    None,
                );
                self.send_client(ServerJsonRpcMessage::error(error, Some(id)))
                    .await?;
            }
        }
        Ok(())
    }

    fn start_call(&mut self, id: RequestId, call: CallToolRequest) {
        let Some(hints) = self.catalog.get(&call.params.name) else {
            return;
        };
        let progress = progress_token(&call)
            .filter(|_| !self.proxy.config.progress_interval.is_zero())
            .map(|token| (token, self.proxy.config.progress_interval));
        let task = GatedCall {
            gate: self.proxy.gate.clone(),
            requester: self.proxy.config.requester.clone(),
            action: action_name(&self.server_name(), &call.params.name),
            hints,
            id: id.clone(),
            call,
            progress,
            events: self.events.clone(),
        };
        self.waiting.insert(id, tokio::spawn(task.run()));
    }

    async fn on_server(&mut self, message: ServerJsonRpcMessage) -> Result<(), ProxyError> {
        let id = match &message {
            ServerJsonRpcMessage::Response(response) => Some(response.id.clone()),
            ServerJsonRpcMessage::Error(error) => error.id.clone(),
            _ => None,
        };
        if let Some(id) = id {
            if self.refresh.as_ref() == Some(&id) {
                // The proxy's own request: the client never sees its answer.
                let mut next = None;
                if let ServerJsonRpcMessage::Response(response) = &message
                    && let ServerResult::ListToolsResult(list) = &response.result
                {
                    self.catalog.learn(&list.tools);
                    self.update_policy();
                    next = list.next_cursor.clone();
                }
                return match next {
                    Some(cursor) => self.request_tools(Some(cursor)).await,
                    None => self.release_deferred().await,
                };
            }
            if let Some(answer) = self.in_flight.remove(&id) {
                // The call's task records the outcome and answers the client.
                let _ = answer.send(message);
                return Ok(());
            }
            self.forwarded.remove(&id);
            let listing = self.listings.remove(&id);
            let handshake = self.handshakes.remove(&id);
            if let ServerJsonRpcMessage::Response(response) = &message {
                match &response.result {
                    ServerResult::ListToolsResult(list) if listing => {
                        self.catalog.learn(&list.tools);
                        self.update_policy();
                    }
                    ServerResult::InitializeResult(init) if handshake => {
                        self.learned_name = Some(action_segment(&init.server_info.name));
                        self.update_policy();
                    }
                    ServerResult::DiscoverResult(discover) if handshake => {
                        if let Some(info) = discover.server_info() {
                            self.learned_name = Some(action_segment(&info.name));
                            self.update_policy();
                        }
                    }
                    _ => {}
                }
            }
        }
        self.send_client(message).await
    }

    async fn on_event(&mut self, event: Event) -> Result<(), ProxyError> {
        match event {
            Event::ToClient(message) => self.send_client(message).await,
            Event::Forward {
                id,
                request,
                answer,
            } => {
                self.in_flight.insert(id.clone(), answer);
                if let Err(error) = self
                    .send_server(ClientJsonRpcMessage::request(request, id.clone()))
                    .await
                {
                    // The call's task learns it from its answer being dropped.
                    self.in_flight.remove(&id);
                    tracing::warn!(%error, "an approved call could not be sent to the MCP server");
                }
                Ok(())
            }
            Event::Finished(id) => {
                self.waiting.remove(&id);
                Ok(())
            }
        }
    }

    /// The server closed its side: every call it had not answered gets an
    /// error; calls still waiting for a decision are cancelled.
    async fn server_gone(mut self) -> Result<(), ProxyError> {
        tracing::warn!("the MCP server exited or closed its output");
        // Approved calls learn it from their answers being dropped.
        self.in_flight.clear();
        let waiting: Vec<_> = self.waiting.drain().collect();
        for (id, task) in waiting {
            if task.is_finished() {
                continue;
            }
            task.abort();
            let error = ErrorData::internal_error(
                "the MCP server exited before the call was decided; it was not run",
                None,
            );
            let _ = self
                .send_client(ServerJsonRpcMessage::error(error, Some(id)))
                .await;
        }
        let deferred: Vec<_> = self.deferred.drain(..).map(|(id, _)| id).collect();
        for id in deferred {
            let error = ErrorData::internal_error(
                "the MCP server exited before the call was decided; it was not run",
                None,
            );
            let _ = self
                .send_client(ServerJsonRpcMessage::error(error, Some(id)))
                .await;
        }
        let forwarded: Vec<_> = self.forwarded.drain().collect();
        for id in forwarded {
            let error = ErrorData::internal_error("the MCP server exited before answering", None);
            let _ = self
                .send_client(ServerJsonRpcMessage::error(error, Some(id)))
                .await;
        }
        // Answers the tasks of approved calls send on their way out.
        drop(self.events);
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_secs(1), self.receiver.recv()).await
        {
            if let Event::ToClient(message) = event {
                let _ = self.client.send(message).await;
            }
        }
        settle().await;
        let _ = self.client.close().await;
        Err(ProxyError::ServerExited)
    }
}

/// Gives the records of cancelled requests (written by tasks the gate
/// spawns) a moment to land before the process ends.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn progress_token(call: &CallToolRequest) -> Option<ProgressToken> {
    let meta = call.extensions().get::<rmcp::model::RequestMetaObject>();
    meta.and_then(|meta| meta.get_progress_token()).or_else(|| {
        call.params
            .meta
            .as_ref()
            .and_then(|meta| meta.get_progress_token())
    })
}

/// One `tools/call`, from the gate's decision to the client's answer.
struct GatedCall {
    gate: Gate,
    requester: Identity,
    action: String,
    hints: ToolHints,
    id: RequestId,
    call: CallToolRequest,
    progress: Option<(ProgressToken, Duration)>,
    events: mpsc::UnboundedSender<Event>,
}

/// Why an approved call has no answer from the server.
enum CallFailure {
    Gate(Error),
    ServerGone,
}

impl From<Error> for CallFailure {
    fn from(error: Error) -> Self {
        Self::Gate(error)
    }
}

impl GatedCall {
    async fn run(self) {
        let Self {
            gate,
            requester,
            action,
            hints,
            id,
            call,
            progress,
            events,
        } = self;
        let had_arguments = call.params.arguments.is_some();
        let arguments = Value::Object(call.params.arguments.clone().unwrap_or_default());
        let request = request_for(
            action,
            arguments,
            describe(&call.params.name, hints),
            hints,
            requester,
        );

        let decided = {
            let mut authorize = pin!(gate.authorize(request));
            match progress {
                None => authorize.await,
                Some((token, period)) => {
                    let mut ticks =
                        tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                    let mut count = 0_u32;
                    loop {
                        tokio::select! {
                            decided = &mut authorize => break decided,
                            _ = ticks.tick() => {
                                count += 1;
                                let waited = period.saturating_mul(count);
                                let notification = ProgressNotification::new(
                                    ProgressNotificationParam::new(token.clone(), f64::from(count))
                                        .with_message(format!(
                                            "waiting for a human approval ({}s so far)",
                                            waited.as_secs()
                                        )),
                                );
                                let _ = events.send(Event::ToClient(ServerJsonRpcMessage::notification(
                                    ServerNotification::ProgressNotification(notification),
                                )));
                            }
                        }
                    }
                }
            }
        };

        let answer = match decided {
            Err(error) => refusal(error, id.clone()),
            Ok(approval) => {
                let forward_events = events.clone();
                let forward_id = id.clone();
                let outcome = approval
                    .run_exact(|approved: Value| async move {
                        let mut call = call;
                        call.params = approved_params(call.params, approved, had_arguments);
                        let (answer, answered) = oneshot::channel();
                        let _ = forward_events.send(Event::Forward {
                            id: forward_id,
                            request: ClientRequest::CallToolRequest(call),
                            answer,
                        });
                        answered.await.map_err(|_| CallFailure::ServerGone)
                    })
                    .await;
                match outcome {
                    Ok(message) => message,
                    Err(CallFailure::ServerGone) => ServerJsonRpcMessage::error(
                        ErrorData::internal_error(
                            "the MCP server exited before answering this call; it may have run",
                            None,
                        ),
                        Some(id.clone()),
                    ),
                    Err(CallFailure::Gate(error)) => refusal(error, id.clone()),
                }
            }
        };
        let _ = events.send(Event::ToClient(answer));
        let _ = events.send(Event::Finished(id));
    }
}

/// What reviewers read about a call of `tool`.
pub(crate) fn describe(tool: &str, hints: ToolHints) -> String {
    let kind = if hints.read_only {
        " (read-only)"
    } else if hints.destructive {
        " (may be destructive)"
    } else {
        ""
    };
    format!("Call the MCP tool `{tool}`{kind}")
}

/// The gate's request for one tool call. It takes edits where policy's
/// requirement says `editable` (a reviewer's edit is forwarded to the
/// server as the tool call's arguments).
pub(crate) fn request_for(
    action: String,
    arguments: Value,
    description: String,
    hints: ToolHints,
    requester: Identity,
) -> ActionRequest<Value> {
    ActionRequest::new(action, arguments)
        .description(description)
        .risk(hints.risk())
        .requester(requester)
        .editable::<&str>([])
}

/// The approved arguments (deserialized from the approved bytes) in place
/// of the ones the client sent.
fn approved_params(
    mut params: CallToolRequestParams,
    approved: Value,
    had_arguments: bool,
) -> CallToolRequestParams {
    params.arguments = match approved {
        Value::Object(map) if had_arguments || !map.is_empty() => Some(map),
        _ => None,
    };
    params
}

/// The answer for a call that did not run: a tool result with `isError`
/// for the gate's conclusions (denied, expired, refused, no approver
/// possible, cancelled), a JSON-RPC error for faults. Both carry the
/// gate's message, which names ids, identities, rules and reasons (already
/// masked), never argument values.
pub(crate) fn refusal(error: Error, id: RequestId) -> ServerJsonRpcMessage {
    let concluded = matches!(
        error,
        Error::Denied { .. }
            | Error::Expired { .. }
            | Error::RefusedByPolicy { .. }
            | Error::Policy(_)
            | Error::Cancelled { .. }
    );
    if concluded {
        let result = CallToolResult::error(vec![ContentBlock::text(format!("Not run: {error}."))]);
        ServerJsonRpcMessage::response(ServerResult::CallToolResult(result), id)
    } else {
        let error = ErrorData::internal_error(
            format!("the approval gate failed closed, so the call was not run: {error}"),
            None,
        );
        ServerJsonRpcMessage::error(error, Some(id))
    }
}
