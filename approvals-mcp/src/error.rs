//! The proxy's errors.

/// Why the proxy stopped, or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The MCP server's command could not be started.
    #[error("the MCP server could not be started: {0}")]
    Spawn(#[source] std::io::Error),
    /// The MCP server closed its side (it exited or closed its standard
    /// output) while the client was still connected. Calls it had not
    /// answered were answered with an error.
    #[error("the MCP server exited or closed its output while the client was connected")]
    ServerExited,
    /// The upstream MCP server (streamable HTTP mode) could not be reached
    /// or did not answer as an MCP server.
    #[error("the upstream MCP server could not be used: {reason}")]
    Upstream {
        /// What went wrong.
        reason: String,
    },
    /// A message could not be written to the client or the server.
    #[error("a message could not be written to the {peer}: {source}")]
    Write {
        /// `client` or `server`.
        peer: &'static str,
        /// The transport's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
