//! The HTTP API authenticated by OIDC JWTs, against a fake JWKS on loopback.
//! Tokens are signed with the test-only keys in `tests/fixtures`.

#![cfg(all(feature = "http", feature = "axum"))]
// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use approvals_backends::http::{HttpChannel, OidcAuthenticator};
use approvals_backends::jwt::{JwtValidator, KeySet, KeySource};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::*;

const KEY_A_PEM: &[u8] = include_bytes!("fixtures/TEST-ONLY-rsa-a.pem");
const KEY_A_N: &str = include_str!("fixtures/TEST-ONLY-rsa-a.n");
const KEY_B_PEM: &[u8] = include_bytes!("fixtures/TEST-ONLY-rsa-b.pem");

const ISSUER: &str = "https://login.test";
const AUDIENCE: &str = "approvals-api";

/// A fake provider publishing key `a` as a JWKS, which can be made to fail.
async fn jwks_server(failing: Arc<AtomicBool>) -> Served {
    let router = axum::Router::new().route(
        "/keys",
        axum::routing::get(move || {
            let failing = Arc::clone(&failing);
            async move {
                if failing.load(Ordering::SeqCst) {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                let keys = json!({"keys": [{
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "a",
                    "n": KEY_A_N.trim(), "e": "AQAB"
                }]});
                ([("content-type", "application/json")], keys.to_string()).into_response()
            }
        }),
    );
    Served::start(router).await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(email: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now(), "sub": "u-1", "email": email})
}

fn sign_with(pem: &[u8], kid: &str, algorithm: Algorithm, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

fn token(claims: &Value) -> String {
    sign_with(KEY_A_PEM, "a", Algorithm::RS256, claims)
}

async fn api(jwks: &Served) -> Api {
    let validator = JwtValidator::new(
        KeySet::new(KeySource::jwks(jwks.url("/keys"))).min_refresh_interval(Duration::ZERO),
        [ISSUER],
        [AUDIENCE],
    )
    .unwrap()
    .leeway(Duration::from_secs(5));
    Api::start_with(
        1,
        HttpChannel::builder().authenticator(OidcAuthenticator::new(validator)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_votes_as_its_email() {
    let jwks = jwks_server(Arc::default()).await;
    let api = api(&jwks).await;
    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let (status, list) = api.get("/v1/requests", Some(&token(&claims(BOB)))).await;
    assert_eq!(status, 200);
    assert_eq!(list["requests"][0]["id"], id.as_str());
    // The requester's own token is refused by the gate, not by the API.
    let (status, body) = api.approve(&id, &token(&claims(AGENT))).await;
    assert_eq!((status, code(&body)), (403, "self_approval"));
    let (status, body) = api.approve(&id, &token(&claims("Alice@Example.com"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conclusion"]["by"], json!([ALICE]));
    assert!(call.await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_401_and_learn_nothing() {
    let jwks = jwks_server(Arc::default()).await;
    let api = api(&jwks).await;
    let _call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let mut expired = claims(ALICE);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_issuer = claims(ALICE);
    wrong_issuer["iss"] = json!("https://evil.test");
    let mut wrong_audience = claims(ALICE);
    wrong_audience["aud"] = json!("another-app");
    let mut not_yet = claims(ALICE);
    not_yet["nbf"] = json!(now() + 3600);
    let mut no_email = claims(ALICE);
    no_email.as_object_mut().unwrap().remove("email");
    let mut unverified = claims(ALICE);
    unverified["email_verified"] = json!(false);
    let mut no_expiry = claims(ALICE);
    no_expiry.as_object_mut().unwrap().remove("exp");
    let good = token(&claims(ALICE));
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });

    let cases = [
        ("expired", token(&expired)),
        ("wrong issuer", token(&wrong_issuer)),
        ("wrong audience", token(&wrong_audience)),
        ("not yet valid", token(&not_yet)),
        ("no identity claim", token(&no_email)),
        ("unverified email", token(&unverified)),
        ("no expiry", token(&no_expiry)),
        (
            "unknown key",
            sign_with(KEY_B_PEM, "b", Algorithm::RS256, &claims(ALICE)),
        ),
        (
            "known kid, other key",
            sign_with(KEY_B_PEM, "a", Algorithm::RS256, &claims(ALICE)),
        ),
        (
            "RS512 where the key says RS256",
            sign_with(KEY_A_PEM, "a", Algorithm::RS512, &claims(ALICE)),
        ),
        ("tampered signature", tampered),
        ("not a JWT", "abc.def".to_owned()),
    ];
    let mut bodies = Vec::new();
    for (case, token) in &cases {
        for path in ["/v1/requests".to_owned(), format!("/v1/requests/{id}")] {
            let (status, body) = api.get(&path, Some(token)).await;
            assert_eq!(status, 401, "{case} on {path}");
            bodies.push(body);
        }
        let (status, body) = api.approve(&id, token).await;
        assert_eq!(status, 401, "{case} approving");
        bodies.push(body);
    }
    assert!(bodies.iter().all(|body| body == &bodies[0]));
    assert!(!bodies[0].to_string().contains(id.as_str()));
    assert_eq!(api.approver.pending().len(), 1, "nothing was decided");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_key_set_fails_closed() {
    let failing = Arc::new(AtomicBool::new(true));
    let jwks = jwks_server(Arc::clone(&failing)).await;
    let api = api(&jwks).await;
    let _call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let (status, body) = api.approve(&id, &token(&claims(ALICE))).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    // Once the provider answers again, the same token works.
    failing.store(false, Ordering::SeqCst);
    let (status, _) = api.approve(&id, &token(&claims(ALICE))).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_claim_is_configurable() {
    let jwks = jwks_server(Arc::default()).await;
    let validator = JwtValidator::new(
        KeySet::new(KeySource::jwks(jwks.url("/keys"))),
        [ISSUER],
        [AUDIENCE],
    )
    .unwrap();
    let api = Api::start_with(
        1,
        HttpChannel::builder()
            .authenticator(OidcAuthenticator::new(validator).identity_claim("upn")),
    )
    .await;
    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    // An unverified email is irrelevant when the identity is another claim.
    let mut token_claims = claims("someone-else@example.com");
    token_claims["upn"] = json!(ALICE);
    token_claims["email_verified"] = json!(false);
    let (status, body) = api.approve(&id, &token(&token_claims)).await;
    assert_eq!(status, 200, "{body}");
    assert!(call.await.unwrap().is_ok());
}
