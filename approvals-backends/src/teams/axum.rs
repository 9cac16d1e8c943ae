//! Serving the messaging endpoint with axum: a thin wrapper that reads the
//! body and calls [`TeamsEndpoint::handle`].

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};

use super::inbound::TeamsEndpoint;

use super::DEFAULT_PATH;

impl TeamsEndpoint {
    /// A router serving the endpoint at [`DEFAULT_PATH`] (`/api/messages`).
    ///
    /// ```no_run
    /// # async fn serve(teams: approvals_backends::teams::TeamsChannel) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:3978").await?;
    /// axum::serve(listener, teams.inbound().router()).await
    /// # }
    /// ```
    pub fn router(&self) -> Router {
        Router::new().route(DEFAULT_PATH, self.method_router())
    }

    /// The endpoint as a `POST` route, to mount at a path of your own in
    /// your application's router:
    /// `Router::new().route("/teams/messages", teams.inbound().method_router())`.
    pub fn method_router<S>(&self) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        post(serve).with_state(self.clone())
    }
}

async fn serve(State(endpoint): State<TeamsEndpoint>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = crate::kit::read_body(body, endpoint.max_body_bytes()).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the body is too large").into_response();
    };
    endpoint
        .handle(http::Request::from_parts(parts, body))
        .await
        .map(Body::from)
}
