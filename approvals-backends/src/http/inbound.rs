//! The REST API: routing, authentication, bodies and answers.
//!
//! The handler is framework-agnostic (`http::Request<Bytes>` in,
//! `http::Response<Bytes>` out); the axum router is a thin wrapper over it.

use approvals_core::{Ballot, Choice, Fingerprint, Identity, Refusal, RequestId, VoteOutcome};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Serialize;

use super::channel::HttpChannel;
use super::render::{
    ApproveBody, DenyBody, EditBody, EditReceipt, ErrorBody, ErrorDetail, PendingList, VoteReceipt,
};
use crate::kit::NotAttached;
use approvals_core::edit::{Edit, EditOutcome};

/// The OpenAPI 3.1 document of this API, as served at `GET /v1/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// Every route of the API: method and path template (OpenAPI's `{id}`
/// syntax, which axum shares). The OpenAPI document describes exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/requests"),
    ("GET", "/v1/requests/{id}"),
    ("POST", "/v1/requests/{id}/approve"),
    ("POST", "/v1/requests/{id}/deny"),
    ("POST", "/v1/requests/{id}/edit"),
    ("GET", "/v1/requests/{id}/schema"),
    ("GET", "/v1/openapi.json"),
];

/// The longest request id the API looks up; the gate's ids are UUIDs.
const MAX_ID_LEN: usize = 128;

enum Operation {
    List,
    Get(RequestId),
    Approve(RequestId),
    Deny(RequestId),
    Edit(RequestId),
    Schema(RequestId),
}

enum Routed {
    /// The OpenAPI document: public, it tells nothing about requests.
    OpenApi,
    Found(Operation),
    WrongMethod(&'static str),
    NotFound,
}

fn route(method: &Method, path: &str) -> Routed {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (allowed, routed) = match segments.as_slice() {
        ["v1", "requests"] => ("GET", Routed::Found(Operation::List)),
        ["v1", "openapi.json"] => ("GET", Routed::OpenApi),
        ["v1", "requests", id] if valid_id(id) => {
            ("GET", Routed::Found(Operation::Get(request_id(id))))
        }
        ["v1", "requests", id, "approve"] if valid_id(id) => {
            ("POST", Routed::Found(Operation::Approve(request_id(id))))
        }
        ["v1", "requests", id, "deny"] if valid_id(id) => {
            ("POST", Routed::Found(Operation::Deny(request_id(id))))
        }
        ["v1", "requests", id, "edit"] if valid_id(id) => {
            ("POST", Routed::Found(Operation::Edit(request_id(id))))
        }
        ["v1", "requests", id, "schema"] if valid_id(id) => {
            ("GET", Routed::Found(Operation::Schema(request_id(id))))
        }
        _ => return Routed::NotFound,
    };
    if method.as_str() == allowed || (allowed == "GET" && method == Method::HEAD) {
        routed
    } else {
        Routed::WrongMethod(allowed)
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN
}

fn request_id(id: &str) -> RequestId {
    RequestId::from_string(id)
}

/// An answer of the API.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Answer {
    fn json(status: StatusCode, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self {
                status,
                body,
                headers: Vec::new(),
            },
            Err(error) => {
                tracing::error!(%error, "an API answer could not be serialized");
                Self::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the answer could not be produced",
                )
            }
        }
    }

    fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                path: None,
            },
        };
        Self {
            status,
            body: serde_json::to_vec(&body).unwrap_or_default(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    fn into_response(self, head_only: bool) -> Response<Bytes> {
        let mut response = Response::new(if head_only {
            Bytes::new()
        } else {
            Bytes::from(self.body)
        });
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

fn unauthorized() -> Answer {
    Answer::error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid bearer credential is required",
    )
    .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"approvals\"")
}

/// How a refusal of the gate is answered: the status and code of
/// [`Refusal`]'s own table, and its text.
fn refusal_answer(refusal: Refusal) -> Answer {
    let status =
        StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Answer::error(status, refusal.code(), refusal.to_string())
}

impl HttpChannel {
    /// Answers one API call. `request`'s path is relative to where the API
    /// is mounted (`/v1/requests`, not `/approvals/v1/requests`); its body is
    /// the raw bytes, at most the configured `max_body_bytes` (64 KiB by default).
    ///
    /// Use this from a framework other than axum; with axum, mount
    /// [`HttpChannel::router`].
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let head_only = request.method() == Method::HEAD;
        self.answer(request).await.into_response(head_only)
    }

    async fn answer(&self, request: Request<Bytes>) -> Answer {
        let operation = match route(request.method(), request.uri().path()) {
            Routed::Found(operation) => operation,
            Routed::OpenApi => {
                return Answer {
                    status: StatusCode::OK,
                    body: OPENAPI_JSON.as_bytes().to_vec(),
                    headers: Vec::new(),
                };
            }
            Routed::WrongMethod(allowed) => {
                let allow = if allowed == "GET" {
                    "GET, HEAD"
                } else {
                    "POST"
                };
                return Answer::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("this path answers {allow} only"),
                )
                .with_header(header::ALLOW, allow);
            }
            Routed::NotFound => {
                return Answer::error(StatusCode::NOT_FOUND, "not_found", "no such API path");
            }
        };
        // Authentication comes before anything that reads pending requests.
        let caller = match self
            .inner
            .authenticator
            .authenticate(request.headers())
            .await
        {
            Ok(caller) => caller,
            Err(error) => {
                tracing::debug!(%error, "an API call was not authenticated");
                return unauthorized();
            }
        };
        match operation {
            Operation::List => Answer::json(
                StatusCode::OK,
                &PendingList {
                    requests: self.pending_everywhere().await,
                },
            ),
            Operation::Get(id) => match self.request_anywhere(&id).await {
                Some(view) => Answer::json(StatusCode::OK, &view),
                None => refusal_answer(Refusal::UnknownRequest),
            },
            Operation::Approve(id) => {
                match parse_body::<ApproveBody>(&request, self.inner.max_body_bytes) {
                    Ok(body) => {
                        self.vote(id, caller, Choice::Approve, body.fingerprint)
                            .await
                    }
                    Err(answer) => answer,
                }
            }
            Operation::Edit(id) => {
                match parse_body::<EditBody>(&request, self.inner.max_body_bytes) {
                    Ok(body) => self.edit(id, caller, body).await,
                    Err(answer) => answer,
                }
            }
            Operation::Schema(id) => self.schema(&id).await,
            Operation::Deny(id) => {
                match parse_body::<DenyBody>(&request, self.inner.max_body_bytes) {
                    Ok(body) => {
                        let reason = body.reason;
                        self.vote(id, caller, Choice::Deny { reason }, body.fingerprint)
                            .await
                    }
                    Err(answer) => answer,
                }
            }
        }
    }

    /// Hands the caller's vote to the gate, which judges and records it,
    /// whether or not this channel delivered the request.
    async fn vote(
        &self,
        id: RequestId,
        voter: Identity,
        choice: Choice,
        fingerprint: Fingerprint,
    ) -> Answer {
        let ballot = Ballot {
            request_id: id.clone(),
            fingerprint,
            voter,
            choice,
        };
        match self.inner.ledger.cast(ballot).await {
            Ok(VoteOutcome::Counted {
                approvals,
                approved_by,
                quorum,
                conclusion,
            }) => Answer::json(
                StatusCode::OK,
                &VoteReceipt {
                    result: "counted".to_owned(),
                    request_id: id,
                    approvals,
                    approved_by,
                    quorum,
                    conclusion,
                },
            ),
            Ok(VoteOutcome::Refused { refusal }) => refusal_answer(refusal),
            Err(NotAttached) => Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_attached",
                "this API is not attached to a gate yet",
            ),
        }
    }

    /// Hands the caller's edit to the gate, which judges, records and, if it
    /// accepts it, makes it a new version approved by the caller.
    async fn edit(&self, id: RequestId, editor: Identity, body: EditBody) -> Answer {
        let edit = Edit {
            request_id: id.clone(),
            fingerprint: body.fingerprint,
            editor,
            changes: body.changes,
        };
        match self.inner.ledger.edit(edit).await {
            Ok(EditOutcome::Accepted {
                version,
                fingerprint,
                changed,
                approvals,
                quorum,
                conclusion,
            }) => Answer::json(
                StatusCode::OK,
                &EditReceipt {
                    result: "accepted".to_owned(),
                    request_id: id,
                    version,
                    fingerprint,
                    changed,
                    approvals,
                    quorum,
                    conclusion,
                },
            ),
            Ok(EditOutcome::Refused { refusal, problem }) => {
                let status = StatusCode::from_u16(refusal.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let message = match &problem {
                    Some(problem) => format!("{refusal}: {problem}"),
                    None => refusal.to_string(),
                };
                let path = problem
                    .map(|problem| problem.path)
                    .filter(|path| !path.is_empty());
                let body = ErrorBody {
                    error: ErrorDetail {
                        code: refusal.code().to_owned(),
                        message,
                        path,
                    },
                };
                Answer::json(status, &body)
            }
            Ok(_) => Answer::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the gate answered in a way this API does not know",
            ),
            Err(NotAttached) => Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_attached",
                "this API is not attached to a gate yet",
            ),
        }
    }

    /// The JSON Schema of a request's argument type, as the call gave it.
    async fn schema(&self, id: &RequestId) -> Answer {
        let review = match self.inner.ledger.review(id) {
            Some(review) => Some(review),
            None => match self.inner.ledger.votes() {
                Some(votes) => votes.pending_request(id),
                None => None,
            },
        };
        let Some(review) = review else {
            return refusal_answer(Refusal::UnknownRequest);
        };
        match &review.argument_schema {
            Some(schema) => Answer::json(StatusCode::OK, &**schema),
            None => Answer::error(
                StatusCode::NOT_FOUND,
                "no_schema",
                "this call gave no schema of its arguments",
            ),
        }
    }

    /// The API as an axum router, to mount where you like
    /// (`Router::new().nest("/approvals", approver.router())`).
    ///
    /// Each route of [`ROUTES`] is registered, and unknown paths and wrong
    /// methods are answered by the same handler, so that every answer is the
    /// API's JSON.
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn router(&self) -> axum::Router {
        let mut router = axum::Router::new();
        for (method, path) in ROUTES {
            let filter = if *method == "POST" {
                axum::routing::MethodFilter::POST
            } else {
                axum::routing::MethodFilter::GET
            };
            let approver = self.clone();
            router = router.route(
                path,
                axum::routing::on(filter, move |request: axum::extract::Request| {
                    let approver = approver.clone();
                    async move { approver.serve_axum(request).await }
                }),
            );
        }
        let fallback = self.clone();
        let wrong_method = self.clone();
        router
            .fallback(move |request: axum::extract::Request| {
                let approver = fallback.clone();
                async move { approver.serve_axum(request).await }
            })
            .method_not_allowed_fallback(move |request: axum::extract::Request| {
                let approver = wrong_method.clone();
                async move { approver.serve_axum(request).await }
            })
    }

    #[cfg(feature = "axum")]
    async fn serve_axum(&self, request: axum::extract::Request) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let limit = self.inner.max_body_bytes;
        let bytes = match crate::kit::read_body(body, limit).await {
            Ok(bytes) => bytes,
            Err(_) => {
                let answer = Answer::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("a request body is at most {limit} bytes"),
                );
                return answer.into_response(false).map(axum::body::Body::from);
            }
        };
        self.handle(Request::from_parts(parts, bytes))
            .await
            .map(axum::body::Body::from)
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(
    request: &Request<Bytes>,
    limit: usize,
) -> Result<T, Answer> {
    let body = request.body();
    if body.len() > limit {
        return Err(Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a request body is at most {limit} bytes"),
        ));
    }
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            let essence = value.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
                || (essence.len() > 5
                    && essence.to_ascii_lowercase().starts_with("application/")
                    && essence.to_ascii_lowercase().ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(Answer::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a request body must be JSON, sent with Content-Type: application/json",
        ));
    }
    // The error names the field and what was expected, never the body's
    // text (`serde_json`'s own message quotes the value).
    crate::json::from_slice(body, BODY_FIELDS).map_err(|error| {
        Answer::error(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            format!("the body is not valid: {error}"),
        )
    })
}

/// The field names of the vote bodies, the only keys shown in error paths.
const BODY_FIELDS: &[&str] = &["reason", "fingerprint", "changes"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_the_route_table() {
        for (method, path) in ROUTES {
            let concrete = path.replace("{id}", "abc");
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert!(
                matches!(
                    route(&method, &concrete),
                    Routed::Found(_) | Routed::OpenApi
                ),
                "{method} {concrete}"
            );
        }
        assert!(matches!(
            route(&Method::DELETE, "/v1/requests/abc"),
            Routed::WrongMethod("GET")
        ));
        assert!(matches!(
            route(&Method::GET, "/v1/requests/abc/approve"),
            Routed::WrongMethod("POST")
        ));
        assert!(matches!(
            route(&Method::GET, "/v2/requests"),
            Routed::NotFound
        ));
        assert!(matches!(
            route(&Method::GET, "/v1/requests/"),
            Routed::NotFound
        ));
        let long = format!("/v1/requests/{}", "a".repeat(MAX_ID_LEN + 1));
        assert!(matches!(route(&Method::GET, &long), Routed::NotFound));
    }

    #[test]
    fn every_refusal_is_answered_with_the_gate_table() {
        for refusal in Refusal::ALL {
            let answer = refusal_answer(refusal);
            assert_eq!(answer.status.as_u16(), refusal.http_status(), "{refusal:?}");
            let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(body["error"]["code"], refusal.code());
        }
    }
}
