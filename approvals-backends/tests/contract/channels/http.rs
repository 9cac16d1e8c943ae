//! The HTTP API, served on loopback, called with bearer tokens: static
//! tokens ([`Http`]) or OIDC ID tokens from the fake provider ([`HttpOidc`]).

use std::collections::HashMap;
use std::sync::Mutex;

use approvals_backends::http::{HttpChannel, HttpChannelBuilder, OidcAuthenticator, StaticTokens};
use approvals_backends::jwt::{JwtValidator, KeySet, KeySource};
use approvals_core::{Channel, Choice, Fingerprint, RequestId};
use approvals_test_support::oidc::{KEY_A_N, KEY_A_PEM, Provider, jwk, now, sign};
use approvals_test_support::served::Served;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::{Answer, ChannelUnderTest, Target, eventually};

/// The API with static bearer tokens, its server and a client.
pub(crate) struct Http {
    server: Served,
    client: reqwest::Client,
    /// The bearer credential of each reviewer.
    bearer: fn(&str) -> String,
    /// The fingerprint each request was shown with (`GET /v1/requests/{id}`).
    seen: Mutex<HashMap<RequestId, Fingerprint>>,
}

/// Each reviewer's static bearer token.
fn token(reviewer: &str) -> String {
    format!("token-{reviewer}-0123456789")
}

const ISSUER: &str = "https://login.test";
const AUDIENCE: &str = "approvals-api";

/// Each reviewer's ID token from the fake provider, naming them by email.
fn id_token(reviewer: &str) -> String {
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": reviewer, "email": reviewer,
        "iat": now(), "exp": now() + 600,
    });
    sign(Algorithm::RS256, "a", KEY_A_PEM, &claims)
}

impl Http {
    async fn serve(
        builder: HttpChannelBuilder,
        bearer: fn(&str) -> String,
    ) -> (Self, Box<dyn Channel>) {
        let channel = builder.build().unwrap();
        let server = Served::start(channel.router()).await;
        let http = Self {
            server,
            client: reqwest::Client::new(),
            bearer,
            seen: Mutex::new(HashMap::new()),
        };
        (http, Box::new(channel))
    }

    async fn get(&self, reviewer: &str, id: &RequestId) -> (u16, Value) {
        let call = self
            .client
            .get(self.server.url(&format!("/v1/requests/{id}")))
            .bearer_auth((self.bearer)(reviewer));
        read(call.send().await.unwrap()).await
    }
}

impl Http {
    /// The fingerprint the API shows for `id` now (a new version after an
    /// edit), else the one it showed when the request was delivered.
    async fn fingerprint_shown(&self, id: &RequestId) -> Fingerprint {
        let (status, view) = self.get(crate::ALICE, id).await;
        let now = (status == 200)
            .then(|| Fingerprint::from_hex(view["fingerprint"].as_str()?))
            .flatten();
        match now {
            Some(fingerprint) => {
                self.seen.lock().unwrap().insert(id.clone(), fingerprint);
                fingerprint
            }
            None => self.seen.lock().unwrap()[id],
        }
    }
}

/// The status and JSON body of an answer.
async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl ChannelUnderTest for Http {
    const NAME: &'static str = "http";

    async fn start(reviewers: &[&'static str]) -> (Self, Vec<Box<dyn Channel>>) {
        let tokens = reviewers
            .iter()
            .fold(StaticTokens::new(), |tokens, reviewer| {
                tokens.token(token(reviewer), *reviewer)
            });
        let (http, channel) =
            Self::serve(HttpChannel::builder().authenticator(tokens), token).await;
        (http, vec![channel])
    }

    async fn delivered(&self, id: &RequestId) {
        let fingerprint = eventually("the API to show the request", || async {
            let (status, view) = self.get(crate::ALICE, id).await;
            (status == 200)
                .then(|| Fingerprint::from_hex(view["fingerprint"].as_str()?))
                .flatten()
        })
        .await;
        self.seen.lock().unwrap().insert(id.clone(), fingerprint);
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        let (id, fingerprint) = match target {
            Target::Shown(id) => (id, self.fingerprint_shown(id).await),
            Target::Naming(id, fingerprint) => (id, *fingerprint),
        };
        let (verb, body) = match choice {
            Choice::Approve => ("approve", json!({ "fingerprint": fingerprint })),
            Choice::Deny { reason: None } => ("deny", json!({ "fingerprint": fingerprint })),
            Choice::Deny {
                reason: Some(reason),
            } => (
                "deny",
                json!({ "fingerprint": fingerprint, "reason": reason }),
            ),
        };
        let call = self
            .client
            .post(self.server.url(&format!("/v1/requests/{id}/{verb}")))
            .bearer_auth((self.bearer)(reviewer))
            .header("content-type", "application/json")
            .body(body.to_string());
        let (status, answer) = read(call.send().await.unwrap()).await;
        match (status, answer["result"].as_str()) {
            (200, Some("counted")) => Answer::Counted(answer.to_string()),
            _ => Answer::from_code(
                status,
                answer["error"]["code"].as_str().unwrap_or_default(),
                &answer.to_string(),
            ),
        }
    }

    /// The request as `GET /v1/requests/{id}` shows it to `reviewer`.
    async fn shown(&self, reviewer: &str, id: &RequestId) -> String {
        let (status, view) = self.get(reviewer, id).await;
        format!("{status} {view}")
    }
}

/// The API authenticating reviewers by OIDC ID tokens, whose keys it
/// fetches from the fake provider.
pub(crate) struct HttpOidc {
    http: Http,
    _provider: Provider,
}

impl ChannelUnderTest for HttpOidc {
    const NAME: &'static str = "http";

    async fn start(_reviewers: &[&'static str]) -> (Self, Vec<Box<dyn Channel>>) {
        let provider = Provider::start(
            ISSUER,
            json!({"keys": [jwk("a", KEY_A_N, json!({"alg": "RS256"}))]}),
        )
        .await;
        let validator = JwtValidator::new(
            KeySet::new(KeySource::openid_metadata(provider.openid_url())),
            [ISSUER],
            [AUDIENCE],
        )
        .unwrap();
        let builder = HttpChannel::builder().authenticator(OidcAuthenticator::new(validator));
        let (http, channel) = Http::serve(builder, id_token).await;
        let oidc = Self {
            http,
            _provider: provider,
        };
        (oidc, vec![channel])
    }

    async fn delivered(&self, id: &RequestId) {
        self.http.delivered(id).await;
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        self.http.vote(reviewer, target, choice).await
    }

    async fn shown(&self, reviewer: &str, id: &RequestId) -> String {
        self.http.shown(reviewer, id).await
    }
}
