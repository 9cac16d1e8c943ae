//! `approvals mcp proxy`: an approval gateway in front of an MCP server
//! that a client starts over stdio.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use approvals_backends::http::{Authenticator, HttpChannel, OidcAuthenticator, StaticTokens};
use approvals_core::audit::JsonlAudit;
use approvals_core::policy::Policy;
use approvals_core::{Gate, Identity};
use approvals_mcp::{HttpGateway, McpProxy, ProxyConfig, ProxyError};
use clap::{Args, Subcommand};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use zeroize::Zeroizing;

use crate::exit;

/// MCP: put approvals in front of an MCP server.
#[derive(Debug, Subcommand)]
pub(crate) enum McpCommand {
    /// Start an MCP server behind an approval gateway, speaking MCP on
    /// standard input and output.
    Proxy(ProxyArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Every message passes between the client and the server unchanged, except \
tools/call: each call is the action mcp.<server>.<tool>, decided by the \
policy. Tools the server marks readOnlyHint run unless a rule says \
otherwise; other tools fall to the policy's [default] approvers. Reviewers \
decide over the HTTP API (--http-listen) with `approvals pending`, \
`approvals approve` and `approvals deny`, or with curl. Without a channel, \
calls that need approval fail closed.\n\n\
Example (in a client's MCP configuration):\n  approvals mcp proxy --policy \
policy.toml --audit audit.jsonl --requester agent:desktop \\\n    \
--http-listen 127.0.0.1:8080 --http-token-file tokens.txt \\\n    -- npx -y \
@modelcontextprotocol/server-everything")]
pub(crate) struct ProxyArgs {
    /// The policy file (TOML).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The audit log (JSON Lines, hash-chained), created or appended to.
    #[arg(long, value_name = "FILE")]
    audit: PathBuf,
    /// Who requests the calls: the agent behind the client.
    #[arg(
        long,
        env = "APPROVALS_MCP_REQUESTER",
        default_value = "agent:mcp-client",
        value_name = "ID"
    )]
    requester: String,
    /// The server's name in action names (mcp.<NAME>.<tool>); by default,
    /// the name the server gives in its initialize answer.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// How often a waiting call sends notifications/progress to the client
    /// (when the call carries a progress token); 0s turns them off.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    progress_interval: Duration,
    /// Serve the HTTP API channel on this address (127.0.0.1:8080; port 0
    /// picks a free port). The address is printed on standard error.
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<SocketAddr>,
    /// Reviewers' static bearer tokens: a file with one `IDENTITY TOKEN`
    /// per line (`#` starts a comment).
    #[arg(long, env = "APPROVALS_HTTP_TOKEN_FILE", value_name = "FILE")]
    http_token_file: Option<PathBuf>,
    /// Accept OpenID Connect tokens from this issuer (keys from its
    /// /.well-known/openid-configuration); needs --http-oidc-audience.
    #[arg(long, value_name = "URL", requires = "http_oidc_audience")]
    http_oidc_issuer: Option<String>,
    /// The audience the OpenID Connect tokens must name.
    #[arg(long, value_name = "AUD", requires = "http_oidc_issuer")]
    http_oidc_audience: Option<String>,
    /// The claim naming the reviewer in OpenID Connect tokens.
    #[arg(long, default_value = "email", value_name = "CLAIM")]
    http_oidc_claim: String,
    /// Streamable HTTP mode: serve MCP on this address (at /mcp) instead of
    /// standard input and output, in front of --upstream. Each call's
    /// requester is the identity of its bearer token (the same token file
    /// or OpenID Connect settings as the approvals API); a request without
    /// a valid token gets 401 and never reaches the upstream server.
    #[arg(
        long,
        value_name = "ADDR",
        requires = "upstream",
        conflicts_with = "command"
    )]
    listen: Option<SocketAddr>,
    /// Streamable HTTP mode: the upstream MCP server's URL.
    #[arg(long, value_name = "URL", requires = "listen")]
    upstream: Option<String>,
    /// The MCP server's command and its arguments, after `--`.
    #[arg(last = true, required_unless_present = "upstream", num_args = 1.., value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// Runs `approvals mcp …`.
pub(crate) fn run(command: McpCommand) -> u8 {
    match command {
        McpCommand::Proxy(args) => proxy(args),
    }
}

fn proxy(args: ProxyArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&format!("could not start the runtime: {error}"));
            return exit::TROUBLE;
        }
    };
    runtime.block_on(serve(args))
}

#[allow(clippy::print_stderr)]
fn report(message: &str) {
    eprintln!("approvals mcp proxy: {message}");
}

async fn serve(args: ProxyArgs) -> u8 {
    let policy = match Policy::from_toml_file(&args.policy) {
        Ok(policy) => policy,
        Err(error) => {
            report(&format!("the policy does not load: {error}"));
            return exit::TROUBLE;
        }
    };
    let audit = match JsonlAudit::open(&args.audit) {
        Ok(audit) => std::sync::Arc::new(audit),
        Err(error) => {
            report(&format!("the audit log does not open: {error}"));
            return exit::TROUBLE;
        }
    };
    let mut gate = Gate::builder().policy(policy);
    if let Some(addr) = args.http_listen {
        let channel = match http_channel(&args) {
            Ok(channel) => channel,
            Err(message) => {
                report(&message);
                return exit::USAGE;
            }
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(error) => {
                report(&format!("could not listen on {addr}: {error}"));
                return exit::TROUBLE;
            }
        };
        match listener.local_addr() {
            Ok(bound) => report(&format!("the approvals API listens on http://{bound}")),
            Err(error) => {
                report(&format!("could not read the listening address: {error}"));
                return exit::TROUBLE;
            }
        }
        let app = axum::Router::new().merge(channel.router());
        tokio::spawn(async move { axum::serve(listener, app).await });
        gate = gate.channel(channel);
    } else {
        report("no channel is configured (--http-listen): calls that need approval fail closed");
    }
    let gate = gate.audit(audit.clone()).build();

    let mut config =
        ProxyConfig::new(args.requester.as_str()).progress_interval(args.progress_interval);
    if let Some(name) = &args.server_name {
        config = config.server_name(name);
    }
    if let (Some(listen), Some(upstream)) = (args.listen, &args.upstream) {
        let outcome = serve_http(&args, gate, config, listen, upstream).await;
        let closed = audit.close().await;
        return match (outcome, closed) {
            (Ok(()), Ok(())) => exit::OK,
            (Err(message), _) => {
                report(&message);
                exit::TROUBLE
            }
            (Ok(()), Err(error)) => {
                report(&format!("the audit log could not be closed: {error}"));
                exit::TROUBLE
            }
        };
    }
    let Some((program, rest)) = args.command.split_first() else {
        report("no server command was given after --");
        return exit::USAGE;
    };
    let mut command = tokio::process::Command::new(program);
    command.args(rest);

    let outcome = McpProxy::new(gate, config).serve_stdio(command).await;
    let closed = audit.close().await;
    match (outcome, closed) {
        (Ok(()), Ok(())) => exit::OK,
        (Ok(()), Err(error)) => {
            report(&format!("the audit log could not be closed: {error}"));
            exit::TROUBLE
        }
        (Err(error @ ProxyError::ServerExited), _) => {
            report(&error.to_string());
            exit::FAILED
        }
        (Err(error), _) => {
            report(&error.to_string());
            exit::TROUBLE
        }
    }
}

/// Streamable HTTP mode: MCP at `http://LISTEN/mcp`, every request
/// authenticated first.
async fn serve_http(
    args: &ProxyArgs,
    gate: Gate,
    config: ProxyConfig,
    listen: SocketAddr,
    upstream: &str,
) -> Result<(), String> {
    let authenticator = Arc::new(Authenticators(authenticators(args)?));
    let gateway = HttpGateway::connect(gate, config, upstream)
        .await
        .map_err(|error| error.to_string())?;
    let service = StreamableHttpService::new(
        move || Ok(gateway.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service).layer(
        axum::middleware::from_fn_with_state(authenticator, authenticate),
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| format!("could not listen on {listen}: {error}"))?;
    let bound = listener
        .local_addr()
        .map_err(|error| format!("could not read the listening address: {error}"))?;
    report(&format!(
        "MCP (streamable HTTP) listens on http://{bound}/mcp"
    ));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|error| format!("the MCP endpoint stopped: {error}"))
}

/// Several authenticators: the first that knows the caller answers.
struct Authenticators(Vec<Box<dyn Authenticator>>);

impl Authenticators {
    async fn identify(&self, headers: &axum::http::HeaderMap) -> Option<Identity> {
        for authenticator in &self.0 {
            if let Ok(identity) = authenticator.authenticate(headers).await {
                return Some(identity);
            }
        }
        None
    }
}

/// Puts the caller's identity on the request, or answers 401: nothing
/// unauthenticated reaches the gateway.
async fn authenticate(
    axum::extract::State(authenticators): axum::extract::State<Arc<Authenticators>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match authenticators.identify(request.headers()).await {
        Some(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        None => (
            axum::http::StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            "a valid bearer token is required",
        )
            .into_response(),
    }
}

/// The authenticators the options name.
fn authenticators(args: &ProxyArgs) -> Result<Vec<Box<dyn Authenticator>>, String> {
    let mut all: Vec<Box<dyn Authenticator>> = Vec::new();
    if let Some(path) = &args.http_token_file {
        all.push(Box::new(read_tokens(path)?));
    }
    if let (Some(issuer), Some(audience)) = (&args.http_oidc_issuer, &args.http_oidc_audience) {
        let metadata = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let oidc = OidcAuthenticator::openid(metadata, issuer.as_str(), audience.as_str())
            .map_err(|error| format!("the OpenID Connect settings are wrong: {error}"))?
            .identity_claim(args.http_oidc_claim.as_str());
        all.push(Box::new(oidc));
    }
    if all.is_empty() {
        return Err(
            "reviewers and callers need tokens: --http-token-file, or --http-oidc-issuer with --http-oidc-audience"
                .to_owned(),
        );
    }
    Ok(all)
}

fn http_channel(args: &ProxyArgs) -> Result<HttpChannel, String> {
    let mut builder = HttpChannel::builder();
    for authenticator in authenticators(args)? {
        builder = builder.authenticator(authenticator);
    }
    builder
        .build()
        .map_err(|error| format!("the HTTP channel could not be set up: {error}"))
}

/// Reads `IDENTITY TOKEN` lines; errors name the line, never its text.
fn read_tokens(path: &Path) -> Result<StaticTokens, String> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|error| {
        format!(
            "the token file {} could not be read: {error}",
            path.display()
        )
    })?);
    let mut tokens = StaticTokens::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(identity), Some(token), None) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!(
                "{}:{}: expected `IDENTITY TOKEN`",
                path.display(),
                index + 1
            ));
        };
        tokens = tokens.token(token, identity);
    }
    if tokens.is_empty() {
        return Err(format!("the token file {} has no tokens", path.display()));
    }
    Ok(tokens)
}
