//! The HTTP API authenticated by OIDC JWTs, against a fake JWKS on loopback.
//! Tokens are signed with the test-only keys of `approvals-test-support`.

#![cfg(all(feature = "http", feature = "axum"))]
// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use approvals_backends::http::{HttpChannel, OidcAuthenticator};
use approvals_backends::jwt::{JwtValidator, KeySet, KeySource};
use approvals_test_support::oidc::{KEY_A_N, KEY_A_PEM, KEY_B_PEM, Provider, jwk, now, sign};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use support::*;

const ISSUER: &str = "https://login.test";
const AUDIENCE: &str = "approvals-api";

/// A fake provider publishing key `a` for RS256 only.
async fn provider() -> Provider {
    Provider::start(
        ISSUER,
        json!({"keys": [jwk("a", KEY_A_N, json!({"alg": "RS256"}))]}),
    )
    .await
}

fn claims(email: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now(), "sub": "u-1", "email": email})
}

fn token(claims: &Value) -> String {
    sign(Algorithm::RS256, "a", KEY_A_PEM, claims)
}

async fn api(jwks: &Provider) -> Api {
    let validator = JwtValidator::new(
        KeySet::new(KeySource::jwks(jwks.jwks_url())).min_refresh_interval(Duration::ZERO),
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
    let jwks = provider().await;
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
    let jwks = provider().await;
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
            sign(Algorithm::RS256, "b", KEY_B_PEM, &claims(ALICE)),
        ),
        (
            "known kid, other key",
            sign(Algorithm::RS256, "a", KEY_B_PEM, &claims(ALICE)),
        ),
        (
            "RS512 where the key says RS256",
            sign(Algorithm::RS512, "a", KEY_A_PEM, &claims(ALICE)),
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
    let jwks = provider().await;
    jwks.fail(true);
    let api = api(&jwks).await;
    let _call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let (status, body) = api.approve(&id, &token(&claims(ALICE))).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    // Once the provider answers again, the same token works.
    jwks.fail(false);
    let (status, _) = api.approve(&id, &token(&claims(ALICE))).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_claim_is_configurable() {
    let jwks = provider().await;
    let validator = JwtValidator::new(
        KeySet::new(KeySource::jwks(jwks.jwks_url())),
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
