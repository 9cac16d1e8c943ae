//! A fake OpenID provider on loopback, and tokens signed with the
//! test-only keys in `fixtures/` (see its README: they protect nothing).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::served::Served;

/// Test-only RSA key `a`, PEM.
pub const KEY_A_PEM: &[u8] = include_bytes!("../fixtures/TEST-ONLY-rsa-a.pem");
/// The modulus of key `a`, base64url (its exponent is `AQAB`).
pub const KEY_A_N: &str = include_str!("../fixtures/TEST-ONLY-rsa-a.n");
/// Test-only RSA key `b`, PEM.
pub const KEY_B_PEM: &[u8] = include_bytes!("../fixtures/TEST-ONLY-rsa-b.pem");
/// The modulus of key `b`, base64url.
pub const KEY_B_N: &str = include_str!("../fixtures/TEST-ONLY-rsa-b.n");

/// A fake identity provider: OpenID metadata at `/openid`, the key set at
/// `/keys`. It counts key fetches, and can publish other keys or fail.
#[derive(Debug)]
pub struct Provider {
    server: Served,
    state: Arc<ProviderState>,
}

#[derive(Debug)]
struct ProviderState {
    issuer: String,
    base: Mutex<String>,
    keys: Mutex<Value>,
    key_fetches: AtomicUsize,
    failing: AtomicBool,
}

impl Provider {
    /// A provider for `issuer` publishing the key set `keys`
    /// (`{"keys": [...]}`).
    pub async fn start(issuer: &str, keys: Value) -> Self {
        let state = Arc::new(ProviderState {
            issuer: issuer.to_owned(),
            base: Mutex::new(String::new()),
            keys: Mutex::new(keys),
            key_fetches: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
        });
        let router = axum::Router::new()
            .route("/openid", get(openid))
            .route("/keys", get(jwks))
            .with_state(Arc::clone(&state));
        let server = Served::start(router).await;
        *state.base.lock().unwrap() = server.url("");
        Self { server, state }
    }

    /// The OpenID metadata's URL.
    pub fn openid_url(&self) -> String {
        self.server.url("/openid")
    }

    /// The key set's URL.
    pub fn jwks_url(&self) -> String {
        self.server.url("/keys")
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.state.key_fetches.load(Ordering::SeqCst)
    }

    /// Publishes `keys` from now on (a key rotation).
    pub fn publish(&self, keys: Value) {
        *self.state.keys.lock().unwrap() = keys;
    }

    /// Makes the key set answer `500` (or not).
    pub fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }
}

async fn openid(State(state): State<Arc<ProviderState>>) -> Response {
    let base = state.base.lock().unwrap().clone();
    axum::Json(json!({
        "issuer": state.issuer,
        "jwks_uri": format!("{base}/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn jwks(State(state): State<Arc<ProviderState>>) -> Response {
    state.key_fetches.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let keys = state.keys.lock().unwrap().clone();
    axum::Json(keys).into_response()
}

/// An RSA key as a key set lists it, with `extra` members (`alg`,
/// `endorsements`).
pub fn jwk(kid: &str, modulus: &str, extra: Value) -> Value {
    let mut key = json!({"kty": "RSA", "use": "sig", "kid": kid, "n": modulus.trim(), "e": "AQAB"});
    if let (Value::Object(key), Value::Object(extra)) = (&mut key, extra) {
        key.extend(extra);
    }
    key
}

/// Now, in seconds since the Unix epoch (for `exp`, `nbf`, `iat`).
pub fn now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(seconds).unwrap()
}

/// `claims` with `changes` applied: a `null` removes the claim.
pub fn with(mut claims: Value, changes: Value) -> Value {
    if let (Value::Object(claims), Value::Object(changes)) = (&mut claims, changes) {
        for (name, value) in changes {
            if value.is_null() {
                claims.remove(&name);
            } else {
                claims.insert(name, value);
            }
        }
    }
    claims
}

/// A JWT of `claims`, signed with the RSA key `pem` under key id `kid`.
pub fn sign(algorithm: Algorithm, kid: &str, pem: &[u8], claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}
