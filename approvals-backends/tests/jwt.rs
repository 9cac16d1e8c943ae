//! The JWT validator against a fake OpenID provider on loopback: metadata,
//! key set, fetch counting. Tokens are signed with the test-only keys of
//! `approvals-test-support`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use approvals_backends::jwt::{
    JwtError, JwtValidator, KeySet, KeySource, SigningAlgorithm, VerifiedToken,
};
use approvals_test_support::oidc::{
    KEY_A_N, KEY_A_PEM, KEY_B_N, KEY_B_PEM, Provider, jwk, now, sign, with,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "app-123";

fn key_a() -> Value {
    jwk(
        "key-a",
        KEY_A_N,
        json!({"endorsements": ["msteams", "webchat"]}),
    )
}

fn key_b() -> Value {
    jwk("key-b", KEY_B_N, json!({}))
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "someone", "nbf": now() - 10, "exp": now() + 600})
}

fn token(claims: &Value) -> String {
    sign(Algorithm::RS256, "key-a", KEY_A_PEM, claims)
}

fn unsigned(header: Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

fn validator(keys: KeySet) -> JwtValidator {
    JwtValidator::new(keys, [ISSUER], [AUDIENCE]).unwrap()
}

async fn provider_and_validator() -> (Provider, JwtValidator) {
    let provider = Provider::start(ISSUER, json!({"keys": [key_a(), key_b()]})).await;
    let keys = KeySet::new(KeySource::openid_metadata(provider.openid_url()));
    (provider, validator(keys))
}

fn verified(result: Result<VerifiedToken, JwtError>) -> VerifiedToken {
    match result {
        Ok(token) => token,
        Err(error) => panic!("expected a verified token, got {error}"),
    }
}

#[tokio::test]
async fn a_valid_token_yields_its_claims_and_the_keys_endorsements() {
    let (provider, validator) = provider_and_validator().await;
    let token = verified(validator.validate(&token(&claims())).await);
    assert_eq!(token.claim_str("sub"), Some("someone"));
    assert_eq!(token.claims["aud"], AUDIENCE);
    assert_eq!(token.key_id, "key-a");
    assert_eq!(token.algorithm, SigningAlgorithm::Rs256);
    assert!(token.is_endorsed_for("msteams"));
    assert!(!token.is_endorsed_for("slack"));
    assert_eq!(provider.fetches(), 1);

    // Cached: a second token needs no fetch.
    verified(validator.validate(&token_b(&claims())).await);
    assert_eq!(provider.fetches(), 1);
}

fn token_b(claims: &Value) -> String {
    sign(Algorithm::RS256, "key-b", KEY_B_PEM, claims)
}

#[tokio::test]
async fn keys_can_come_straight_from_a_jwks_url() {
    let provider = Provider::start(ISSUER, json!({"keys": [key_a()]})).await;
    let validator = validator(KeySet::new(KeySource::jwks(provider.jwks_url())));
    let token = verified(validator.validate(&token(&claims())).await);
    assert_eq!(token.endorsements, ["msteams", "webchat"]);
}

#[tokio::test]
async fn rs384_and_rs512_are_accepted_and_can_be_turned_off() {
    let (_provider, validator) = provider_and_validator().await;
    for (algorithm, expected) in [
        (Algorithm::RS384, SigningAlgorithm::Rs384),
        (Algorithm::RS512, SigningAlgorithm::Rs512),
    ] {
        let token = sign(algorithm, "key-a", KEY_A_PEM, &claims());
        assert_eq!(
            verified(validator.validate(&token).await).algorithm,
            expected
        );
    }
    let strict = validator.algorithms([SigningAlgorithm::Rs256]);
    let token = sign(Algorithm::RS512, "key-a", KEY_A_PEM, &claims());
    assert_eq!(
        strict.validate(&token).await.unwrap_err(),
        JwtError::UnsupportedAlgorithm {
            algorithm: "RS512".into()
        }
    );
}

#[tokio::test]
async fn a_key_restricted_to_one_algorithm_signs_no_other() {
    let provider = Provider::start(
        ISSUER,
        json!({"keys": [jwk("key-a", KEY_A_N, json!({"alg": "RS256"}))]}),
    )
    .await;
    let validator = validator(KeySet::new(KeySource::jwks(provider.jwks_url())));
    let token = sign(Algorithm::RS384, "key-a", KEY_A_PEM, &claims());
    assert!(matches!(
        validator.validate(&token).await,
        Err(JwtError::KeyAlgorithmMismatch { .. })
    ));
}

#[tokio::test]
async fn tokens_that_fail_a_check_are_refused_with_the_reason() {
    let (_provider, validator) = provider_and_validator().await;
    let cases: Vec<(&str, String, JwtError)> = vec![
        (
            "wrong issuer",
            token(&with(claims(), json!({"iss": "https://evil.test"}))),
            JwtError::WrongIssuer,
        ),
        (
            "wrong audience",
            token(&with(claims(), json!({"aud": "another-app"}))),
            JwtError::WrongAudience,
        ),
        (
            "expired beyond the leeway",
            token(&with(claims(), json!({"exp": now() - 301 - 5}))),
            JwtError::Expired,
        ),
        (
            "not valid yet beyond the leeway",
            token(&with(claims(), json!({"nbf": now() + 301 + 5}))),
            JwtError::NotYetValid,
        ),
        (
            "signed by another key under this key's id",
            sign(Algorithm::RS256, "key-a", KEY_B_PEM, &claims()),
            JwtError::BadSignature,
        ),
        (
            "no expiry",
            token(&with(claims(), json!({"exp": null}))),
            JwtError::MissingClaim {
                claim: "exp".into(),
            },
        ),
        (
            "no audience",
            token(&with(claims(), json!({"aud": null}))),
            JwtError::MissingClaim {
                claim: "aud".into(),
            },
        ),
        (
            "a string not-before (type confusion)",
            token(&with(claims(), json!({"nbf": "99999999999"}))),
            JwtError::InvalidClaim {
                claim: "nbf".into(),
            },
        ),
        (
            "alg none",
            unsigned(json!({"alg": "none", "kid": "key-a"}), &claims(), ""),
            JwtError::UnsupportedAlgorithm {
                algorithm: "none".into(),
            },
        ),
        (
            "unknown key id",
            sign(Algorithm::RS256, "key-z", KEY_A_PEM, &claims()),
            JwtError::UnknownKey,
        ),
        (
            "no key id",
            unsigned(json!({"alg": "RS256"}), &claims(), "c2ln"),
            JwtError::MissingKeyId,
        ),
        (
            "critical extensions",
            unsigned(
                json!({"alg": "RS256", "kid": "key-a", "crit": ["exp"]}),
                &claims(),
                "c2ln",
            ),
            JwtError::CriticalHeader,
        ),
        (
            "not a JWT",
            "not-a-token".to_owned(),
            JwtError::Malformed("a token has three parts"),
        ),
    ];
    for (case, token, expected) in cases {
        assert_eq!(
            validator.validate(&token).await.err(),
            Some(expected),
            "{case}"
        );
    }
}

#[tokio::test]
async fn hmac_tokens_are_refused_even_when_keyed_with_the_public_key() {
    let (_provider, validator) = provider_and_validator().await;
    // The classic confusion attack: an HS256 token whose secret is the
    // published RSA key.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("key-a".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(KEY_A_N.trim().as_bytes()),
    )
    .unwrap();
    assert_eq!(
        validator.validate(&token).await.unwrap_err(),
        JwtError::UnsupportedAlgorithm {
            algorithm: "HS256".into()
        }
    );
}

#[tokio::test]
async fn the_leeway_forgives_small_clock_skew_and_is_configurable() {
    let (_provider, validator) = provider_and_validator().await;
    let skewed = token(&with(
        claims(),
        json!({"exp": now() - 60, "nbf": now() + 60}),
    ));
    verified(validator.validate(&skewed).await);
    let strict = validator.leeway(Duration::from_secs(5));
    assert_eq!(
        strict.validate(&skewed).await.unwrap_err(),
        JwtError::Expired
    );
}

#[tokio::test]
async fn authorization_headers_need_the_bearer_scheme() {
    let (_provider, validator) = provider_and_validator().await;
    let token = token(&claims());
    verified(
        validator
            .validate_authorization(Some(&format!("Bearer {token}")))
            .await,
    );
    verified(
        validator
            .validate_authorization(Some(&format!("bearer  {token}")))
            .await,
    );
    for header in [
        None,
        Some(""),
        Some("Bearer "),
        Some(&*format!("Basic {token}")),
    ] {
        assert_eq!(
            validator.validate_authorization(header).await.unwrap_err(),
            JwtError::MissingToken,
            "{header:?}"
        );
    }
}

#[tokio::test]
async fn a_rotated_key_is_found_by_fetching_again() {
    let provider = Provider::start(ISSUER, json!({"keys": [key_a()]})).await;
    let keys = KeySet::new(KeySource::openid_metadata(provider.openid_url()))
        .min_refresh_interval(Duration::ZERO);
    let validator = validator(keys);
    verified(validator.validate(&token(&claims())).await);
    assert_eq!(provider.fetches(), 1);

    provider.publish(json!({"keys": [key_a(), key_b()]}));
    verified(validator.validate(&token_b(&claims())).await);
    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_does_not_hammer_the_key_endpoint() {
    let (provider, validator) = provider_and_validator().await;
    let validator = Arc::new(validator);
    verified(validator.validate(&token(&claims())).await);
    assert_eq!(provider.fetches(), 1);

    let mut flood = tokio::task::JoinSet::new();
    for attempt in 0..200 {
        let validator = Arc::clone(&validator);
        // The key id is looked up before the signature is checked, so a
        // made-up signature is as good as a real one here.
        let forged = unsigned(
            json!({"alg": "RS256", "kid": format!("made-up-{attempt}")}),
            &claims(),
            "c2ln",
        );
        flood.spawn(async move { validator.validate(&forged).await });
    }
    let mut refused = 0;
    while let Some(result) = flood.join_next().await {
        assert!(matches!(result.unwrap(), Err(JwtError::UnknownKey)));
        refused += 1;
    }
    assert_eq!(refused, 200);
    // The first unknown id was allowed one refresh; every later one was
    // answered from the cache.
    assert!(
        provider.fetches() <= 2,
        "{} fetches for 200 forged tokens",
        provider.fetches()
    );
    // Genuine tokens still pass during and after the flood.
    verified(validator.validate(&token_b(&claims())).await);
}

#[tokio::test]
async fn concurrent_first_uses_share_one_fetch() {
    let (provider, validator) = provider_and_validator().await;
    let validator = Arc::new(validator);
    let mut first = tokio::task::JoinSet::new();
    let token = token(&claims());
    for _ in 0..50 {
        let validator = Arc::clone(&validator);
        let token = token.clone();
        first.spawn(async move { validator.validate(&token).await.is_ok() });
    }
    while let Some(ok) = first.join_next().await {
        assert!(ok.unwrap());
    }
    assert_eq!(provider.fetches(), 1);
}

#[tokio::test]
async fn an_unreachable_key_set_fails_closed_and_is_not_retried_at_once() {
    let provider = Provider::start(ISSUER, json!({"keys": [key_a()]})).await;
    provider.fail(true);
    let validator = validator(KeySet::new(KeySource::jwks(provider.jwks_url())));
    assert!(matches!(
        validator.validate(&token(&claims())).await,
        Err(JwtError::KeySetUnavailable { .. })
    ));
    provider.fail(false);
    assert!(matches!(
        validator.validate(&token(&claims())).await,
        Err(JwtError::KeySetUnavailable { .. })
    ));
    assert_eq!(provider.fetches(), 1);

    let no_provider = validator_for_closed_port().await;
    assert!(matches!(
        no_provider.validate(&token(&claims())).await,
        Err(JwtError::KeySetUnavailable { .. })
    ));
}

async fn validator_for_closed_port() -> JwtValidator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    drop(listener);
    validator(KeySet::new(KeySource::jwks(url)))
}

#[tokio::test]
async fn keys_older_than_their_max_age_are_fetched_again() {
    let provider = Provider::start(ISSUER, json!({"keys": [key_a()]})).await;
    let keys = KeySet::new(KeySource::jwks(provider.jwks_url()))
        .max_age(Duration::ZERO)
        .min_refresh_interval(Duration::ZERO);
    let validator = validator(keys);
    verified(validator.validate(&token(&claims())).await);
    verified(validator.validate(&token(&claims())).await);
    assert_eq!(provider.fetches(), 2);
}
