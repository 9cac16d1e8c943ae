//! Verifying JSON Web Tokens signed with RSA keys that an identity provider
//! publishes as a JSON Web Key Set (JWKS).
//!
//! Two parts, usable together or apart:
//!
//! - [`KeySet`]: the provider's public keys, fetched from its OpenID
//!   metadata (`jwks_uri`) or straight from a JWKS URL, cached, and fetched
//!   again when a token names a key id that is not in the cache, at most once
//!   per [`min_refresh_interval`](KeySet::min_refresh_interval) so that a
//!   flood of forged tokens cannot hammer the provider.
//! - [`JwtValidator`]: checks one token: the header's algorithm (RS256,
//!   RS384 or RS512 only; `none`, HMAC and everything else are refused before
//!   any key is looked up), the signature, the issuer, the audience, the
//!   expiry and not-before times with a leeway (5 minutes by default), and
//!   returns the verified claims together with the signing key's
//!   `endorsements`, for callers that must check more (such as the Bot
//!   Framework's `serviceurl` claim and channel endorsements).
//!
//! Nothing here is specific to one provider. The module is built with the
//! `jwt` feature, which the `teams` and `http` features turn on; it uses
//! `jsonwebtoken` (with its pure-Rust `rust_crypto` backend) for signatures
//! and claims, `reqwest` to fetch keys, `base64` and `serde_json` to read
//! headers and key sets, and `tracing` to log fetches.
//!
//! ```no_run
//! use approvals_backends::jwt::{JwtValidator, KeySet, KeySource};
//!
//! # async fn check(authorization: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
//! let keys = KeySet::new(KeySource::openid_metadata(
//!     "https://login.example.com/.well-known/openid-configuration",
//! ));
//! let validator = JwtValidator::new(keys, ["https://login.example.com"], ["my-app-id"])?;
//! let token = validator.validate_authorization(authorization).await?;
//! let subject = token.claim_str("sub");
//! # let _ = subject; Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::kit::lock;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// How long a key set is trusted before it is fetched again, by default.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The shortest time between two fetches of a key set, by default.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The clock skew allowed on `exp` and `nbf`, by default.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// The largest token accepted, in bytes. Real tokens are a few kilobytes;
/// refusing larger ones early bounds the work a forged token can cause.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The largest metadata or key set document read, in bytes.
const MAX_DOCUMENT_LEN: usize = 1024 * 1024;

/// How long one fetch of metadata or keys may take with the default client.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A signature algorithm a [`JwtValidator`] may accept: RSASSA-PKCS1-v1_5
/// with SHA-256, -384 or -512. Symmetric (`HS*`) and unsigned (`none`)
/// tokens are never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RS256.
    Rs256,
    /// RS384.
    Rs384,
    /// RS512.
    Rs512,
}

impl SigningAlgorithm {
    /// Every accepted algorithm.
    pub const ALL: [SigningAlgorithm; 3] = [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Rs384,
        SigningAlgorithm::Rs512,
    ];

    /// The name in a JWT header (`"RS256"`).
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Rs384 => "RS384",
            SigningAlgorithm::Rs512 => "RS512",
        }
    }

    /// The algorithm named `name` in a JWT header, if it is one of these.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.name() == name)
    }

    fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            SigningAlgorithm::Rs256 => Algorithm::RS256,
            SigningAlgorithm::Rs384 => Algorithm::RS384,
            SigningAlgorithm::Rs512 => Algorithm::RS512,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a token was not accepted, or the keys could not be had.
///
/// Messages never contain the token nor text taken from it: an algorithm is
/// named only when it is a registered JOSE name, and the key id a token
/// names is not repeated (a key id from the published set is, cut to a
/// short length).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// No `Authorization: Bearer …` header, or an empty token.
    #[error("no bearer token")]
    MissingToken,
    /// The token is not a well-formed JWT.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm that is not accepted (`none`, `HS256`, …).
    #[error("the token's algorithm `{algorithm}` is not accepted")]
    UnsupportedAlgorithm {
        /// The algorithm the header named when it is a registered JOSE
        /// algorithm name (`none`, `HS256`, `ES256`, …), else `unrecognised`.
        algorithm: String,
    },
    /// The header asks for extensions (`crit`) that are not understood.
    #[error("the token requires header extensions that are not supported")]
    CriticalHeader,
    /// The header names no key id (`kid`).
    #[error("the token names no key id")]
    MissingKeyId,
    /// No key with the token's key id is published, even after fetching the
    /// keys again. The id is not repeated: it is the token's text.
    #[error("no published key has the token's key id")]
    UnknownKey,
    /// The published key is for another algorithm than the token's.
    #[error("key `{kid}` is not for algorithm {algorithm}")]
    KeyAlgorithmMismatch {
        /// The key id.
        kid: String,
        /// The token's algorithm.
        algorithm: SigningAlgorithm,
    },
    /// The signature does not verify with the published key.
    #[error("the token's signature is not valid")]
    BadSignature,
    /// `exp` is past, beyond the leeway.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not an accepted issuer.
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    /// `aud` names no accepted audience.
    #[error("the token is not meant for this audience")]
    WrongAudience,
    /// A required claim (`exp`, `iss`, `aud`) is missing.
    #[error("the token has no `{claim}` claim")]
    MissingClaim {
        /// The claim's name.
        claim: String,
    },
    /// A claim has the wrong type (a string `exp`, …).
    #[error("the token's `{claim}` claim is not valid")]
    InvalidClaim {
        /// The claim's name.
        claim: String,
    },
    /// The keys could not be fetched or read.
    #[error("the signing keys are unavailable: {message}")]
    KeySetUnavailable {
        /// What went wrong.
        message: String,
    },
}

/// A [`JwtValidator`] that could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// No accepted issuer was given, so no token could ever pass.
    #[error("a JWT validator needs at least one accepted issuer")]
    NoIssuer,
    /// No accepted audience was given, so no token could ever pass.
    #[error("a JWT validator needs at least one accepted audience")]
    NoAudience,
}

/// Where a [`KeySet`] fetches its keys from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// An OpenID Connect discovery document whose `jwks_uri` names the keys.
    /// The document is read again on every refresh, so a moved `jwks_uri` is
    /// followed.
    OpenIdMetadata(String),
    /// A JWKS document.
    Jwks(String),
}

impl KeySource {
    /// Keys named by the `jwks_uri` of the OpenID metadata at `url`.
    pub fn openid_metadata(url: impl Into<String>) -> Self {
        KeySource::OpenIdMetadata(url.into())
    }

    /// Keys at the JWKS `url`.
    pub fn jwks(url: impl Into<String>) -> Self {
        KeySource::Jwks(url.into())
    }
}

/// One published public key.
#[derive(Clone)]
pub struct VerificationKey {
    kid: String,
    algorithm: Option<SigningAlgorithm>,
    endorsements: Vec<String>,
    decoding: DecodingKey,
}

impl VerificationKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm the key is restricted to, if the key set names one.
    pub fn algorithm(&self) -> Option<SigningAlgorithm> {
        self.algorithm
    }

    /// The key's `endorsements` (for the Bot Framework, the channels the key
    /// may sign for); empty when the key set gives none.
    pub fn endorsements(&self) -> &[String] {
        &self.endorsements
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("endorsements", &self.endorsements)
            .finish_non_exhaustive()
    }
}

/// A provider's public keys, fetched on first use and cached.
///
/// The cache is fetched again when it is older than
/// [`max_age`](Self::max_age), and when a token names a key id it does not
/// hold (keys rotate), but never twice within
/// [`min_refresh_interval`](Self::min_refresh_interval): tokens with made-up
/// key ids are refused from the cache until then. Concurrent misses share one
/// fetch. A failed fetch keeps no stale keys past their age: validation fails
/// closed until a fetch succeeds.
///
/// Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct KeySet {
    inner: Arc<KeySetInner>,
}

struct KeySetInner {
    source: KeySource,
    http: reqwest::Client,
    max_age: Duration,
    min_refresh_interval: Duration,
    cache: Mutex<KeyCache>,
    /// Held while fetching, so that concurrent misses wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct KeyCache {
    keys: Arc<HashMap<String, Arc<VerificationKey>>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

impl KeyCache {
    fn fresh(&self, max_age: Duration) -> bool {
        self.fetched_at
            .is_some_and(|fetched| fetched.elapsed() < max_age)
    }

    fn may_fetch(&self, min_interval: Duration) -> bool {
        self.last_attempt
            .is_none_or(|attempt| attempt.elapsed() >= min_interval)
    }
}

impl KeySet {
    /// Keys from `source`, fetched with a default HTTPS client.
    pub fn new(source: KeySource) -> Self {
        Self::with_client(source, reqwest::Client::new())
    }

    /// Keys from `source`, fetched with `http`. Each fetch is limited to 10
    /// seconds and 1 MiB whatever the client's own settings.
    pub fn with_client(source: KeySource, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::new(KeySetInner {
                source,
                http,
                max_age: DEFAULT_MAX_AGE,
                min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
                cache: Mutex::new(KeyCache::default()),
                fetching: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// How long fetched keys are used before they are fetched again
    /// (default 24 hours).
    ///
    /// Set it before the key set is cloned or used; on a shared key set this
    /// makes a new, empty cache.
    #[must_use]
    pub fn max_age(self, max_age: Duration) -> Self {
        self.rebuilt(|inner| inner.max_age = max_age)
    }

    /// The shortest time between two fetches (default 5 minutes). Misses
    /// within it are answered from the cache.
    ///
    /// Set it before the key set is cloned or used; on a shared key set this
    /// makes a new, empty cache.
    #[must_use]
    pub fn min_refresh_interval(self, interval: Duration) -> Self {
        self.rebuilt(|inner| inner.min_refresh_interval = interval)
    }

    fn rebuilt(self, change: impl FnOnce(&mut KeySetInner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => KeySetInner {
                source: shared.source.clone(),
                http: shared.http.clone(),
                max_age: shared.max_age,
                min_refresh_interval: shared.min_refresh_interval,
                cache: Mutex::new(KeyCache::default()),
                fetching: tokio::sync::Mutex::new(()),
            },
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Where the keys come from.
    pub fn source(&self) -> &KeySource {
        &self.inner.source
    }

    /// The key with id `kid`, fetching the keys if the cache is empty, too
    /// old, or lacks `kid` (subject to the minimum refresh interval).
    pub async fn key(&self, kid: &str) -> Result<Arc<VerificationKey>, JwtError> {
        if let Some(found) = self.cached(kid) {
            return Ok(found);
        }
        // Misses queue here: one fetches, the others then find its result.
        let _fetching = self.inner.fetching.lock().await;
        if let Some(found) = self.cached(kid) {
            return Ok(found);
        }
        {
            let mut cache = lock(&self.inner.cache);
            if !cache.may_fetch(self.inner.min_refresh_interval) {
                return Err(self.miss(&cache));
            }
            cache.last_attempt = Some(Instant::now());
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(source = ?self.inner.source, keys = keys.len(), "fetched signing keys");
                let mut cache = lock(&self.inner.cache);
                cache.keys = Arc::new(keys);
                cache.fetched_at = Some(Instant::now());
                cache.keys.get(kid).cloned().ok_or(JwtError::UnknownKey)
            }
            Err(error) => {
                tracing::warn!(source = ?self.inner.source, %error, "could not fetch signing keys");
                Err(error)
            }
        }
    }

    /// The key, if the cache is fresh and holds it.
    fn cached(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        let cache = lock(&self.inner.cache);
        if cache.fresh(self.inner.max_age) {
            cache.keys.get(kid).cloned()
        } else {
            None
        }
    }

    fn miss(&self, cache: &KeyCache) -> JwtError {
        if cache.fresh(self.inner.max_age) {
            JwtError::UnknownKey
        } else {
            JwtError::KeySetUnavailable {
                message: "no current keys, and the last fetch was too recent to try again".into(),
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<VerificationKey>>, JwtError> {
        let jwks_url = match &self.inner.source {
            KeySource::Jwks(url) => url.clone(),
            KeySource::OpenIdMetadata(url) => {
                let metadata = self.fetch_json(url).await?;
                match metadata.get("jwks_uri").and_then(Value::as_str) {
                    Some(jwks_uri) => jwks_uri.to_owned(),
                    None => {
                        return Err(unavailable("the OpenID metadata has no `jwks_uri`"));
                    }
                }
            }
        };
        let document = self.fetch_json(&jwks_url).await?;
        parse_key_set(&document)
    }

    async fn fetch_json(&self, url: &str) -> Result<Value, JwtError> {
        let mut response = self
            .inner
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| unavailable(format!("request failed: {error}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable(format!("{url} answered {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| unavailable(format!("reading failed: {error}")))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_LEN {
                return Err(unavailable(format!("{url} sent more than 1 MiB")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| unavailable(format!("{url} sent no JSON")))
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = lock(&self.inner.cache);
        f.debug_struct("KeySet")
            .field("source", &self.inner.source)
            .field("keys", &cache.keys.len())
            .field("max_age", &self.inner.max_age)
            .field("min_refresh_interval", &self.inner.min_refresh_interval)
            .finish()
    }
}

/// Reads the RSA signing keys of a JWKS document; keys of other types, or
/// meant for encryption, are skipped.
pub(crate) fn parse_key_set(
    document: &Value,
) -> Result<HashMap<String, Arc<VerificationKey>>, JwtError> {
    let Some(entries) = document.get("keys").and_then(Value::as_array) else {
        return Err(unavailable("the key set has no `keys` array"));
    };
    let mut keys = HashMap::new();
    for entry in entries {
        let text = |name: &str| entry.get(name).and_then(Value::as_str);
        if text("kty") != Some("RSA") || text("use").is_some_and(|use_| use_ != "sig") {
            continue;
        }
        let (Some(kid), Some(modulus), Some(exponent)) = (text("kid"), text("n"), text("e")) else {
            continue;
        };
        let algorithm = match text("alg") {
            None => None,
            Some(name) => match SigningAlgorithm::from_name(name) {
                Some(algorithm) => Some(algorithm),
                // A key restricted to an algorithm that is never accepted
                // can sign nothing acceptable.
                None => continue,
            },
        };
        let Ok(decoding) = DecodingKey::from_rsa_components(modulus, exponent) else {
            tracing::debug!(kid, "skipping an RSA key that does not parse");
            continue;
        };
        let endorsements = entry
            .get("endorsements")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        keys.insert(
            kid.to_owned(),
            Arc::new(VerificationKey {
                kid: kid.to_owned(),
                algorithm,
                endorsements,
                decoding,
            }),
        );
    }
    Ok(keys)
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The token's claims.
    pub claims: Map<String, Value>,
    /// The signing key's `endorsements` (empty when the key set gives none).
    pub endorsements: Vec<String>,
    /// The signing key's id.
    pub key_id: String,
    /// The algorithm the token was signed with.
    pub algorithm: SigningAlgorithm,
}

impl VerifiedToken {
    /// A claim's value if it is a string.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// Whether the signing key endorses `value` (for example a channel id).
    pub fn is_endorsed_for(&self, value: &str) -> bool {
        self.endorsements
            .iter()
            .any(|endorsement| endorsement == value)
    }
}

/// Checks tokens against a [`KeySet`] and the accepted issuers, audiences,
/// algorithms and clock leeway.
///
/// `exp`, `iss` and `aud` are required; `nbf` is checked when present.
#[derive(Debug, Clone)]
pub struct JwtValidator {
    keys: KeySet,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    algorithms: Vec<SigningAlgorithm>,
}

impl JwtValidator {
    /// A validator accepting tokens from one of `issuers` for one of
    /// `audiences`, signed RS256, RS384 or RS512 by a key in `keys`, with 5
    /// minutes of leeway.
    pub fn new<I, A>(keys: KeySet, issuers: I, audiences: A) -> Result<Self, JwtConfigError>
    where
        I: IntoIterator,
        I::Item: Into<String>,
        A: IntoIterator,
        A::Item: Into<String>,
    {
        let issuers: Vec<String> = issuers.into_iter().map(Into::into).collect();
        let audiences: Vec<String> = audiences.into_iter().map(Into::into).collect();
        if issuers.is_empty() {
            return Err(JwtConfigError::NoIssuer);
        }
        if audiences.is_empty() {
            return Err(JwtConfigError::NoAudience);
        }
        // With both of jsonwebtoken's crypto features enabled in one build
        // (another crate may turn on the other), it cannot pick a provider by
        // itself and would panic on first use; installing one here settles
        // it. An application that installed its own keeps it.
        let _already_installed = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
            .install_default()
            .is_err();
        Ok(Self {
            keys,
            issuers,
            audiences,
            leeway: DEFAULT_LEEWAY,
            algorithms: SigningAlgorithm::ALL.to_vec(),
        })
    }

    /// The clock skew allowed on `exp` and `nbf` (default 5 minutes).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Accept only these algorithms (default: all of RS256, RS384, RS512).
    /// An empty set accepts no token.
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = SigningAlgorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The key set tokens are checked against.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Checks the token in an `Authorization` header value (`Bearer <token>`;
    /// the scheme is matched without regard to case).
    pub async fn validate_authorization(
        &self,
        authorization: Option<&str>,
    ) -> Result<VerifiedToken, JwtError> {
        let token = authorization
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(JwtError::MissingToken)?;
        self.validate(token).await
    }

    /// Checks one compact-serialized token and returns its claims.
    pub async fn validate(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        if token.is_empty() {
            return Err(JwtError::MissingToken);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed("the token is too long"));
        }
        let header = TokenHeader::parse(token)?;
        let algorithm = match SigningAlgorithm::from_name(&header.algorithm) {
            Some(algorithm) if self.algorithms.contains(&algorithm) => algorithm,
            _ => {
                return Err(JwtError::UnsupportedAlgorithm {
                    algorithm: registered_algorithm(&header.algorithm).to_owned(),
                });
            }
        };
        if header.critical {
            return Err(JwtError::CriticalHeader);
        }
        let kid = header.kid.ok_or(JwtError::MissingKeyId)?;
        let key = self.keys.key(&kid).await?;
        if key
            .algorithm
            .is_some_and(|restricted| restricted != algorithm)
        {
            return Err(JwtError::KeyAlgorithmMismatch {
                kid: short(&kid),
                algorithm,
            });
        }

        let mut validation = Validation::new(algorithm.to_jsonwebtoken());
        validation.set_issuer(&self.issuers);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = self.leeway.as_secs();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|error| from_jsonwebtoken(error.into_kind()))?;
        Ok(VerifiedToken {
            claims: data.claims,
            endorsements: key.endorsements.clone(),
            key_id: key.kid.clone(),
            algorithm,
        })
    }
}

/// What is read from a header before any key is looked up.
pub(crate) struct TokenHeader {
    pub(crate) algorithm: String,
    pub(crate) kid: Option<String>,
    pub(crate) critical: bool,
}

impl TokenHeader {
    pub(crate) fn parse(token: &str) -> Result<Self, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_claims), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("a token has three parts"));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwtError::Malformed("the header is not base64url"))?;
        let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(JwtError::Malformed("the header is not a JSON object"));
        };
        let algorithm = match header.get("alg") {
            Some(Value::String(name)) => name.clone(),
            _ => return Err(JwtError::Malformed("the header names no algorithm")),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(JwtError::Malformed("the key id is not a string")),
        };
        Ok(Self {
            algorithm,
            kid,
            critical: header.contains_key("crit"),
        })
    }
}

fn from_jsonwebtoken(kind: ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim { claim },
        ErrorKind::InvalidClaimFormat(claim) => JwtError::InvalidClaim { claim },
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            JwtError::UnsupportedAlgorithm {
                algorithm: "unexpected".into(),
            }
        }
        ErrorKind::Base64(_) => JwtError::Malformed("a part is not base64url"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => JwtError::Malformed("the claims are not JSON"),
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => JwtError::KeySetUnavailable {
            message: "a published key is not a valid RSA key".into(),
        },
        _ => JwtError::Malformed("the token could not be verified"),
    }
}

fn unavailable(message: impl Into<String>) -> JwtError {
    JwtError::KeySetUnavailable {
        message: message.into(),
    }
}

/// The name of a registered JOSE signing algorithm (RFC 7518, RFC 8037,
/// RFC 8812), or `unrecognised`: a header's text is repeated only when it is
/// one of these.
fn registered_algorithm(name: &str) -> &'static str {
    const REGISTERED: &[&str] = &[
        "none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "ES256K", "EdDSA", "Ed25519", "Ed448",
    ];
    REGISTERED
        .iter()
        .find(|registered| **registered == name)
        .copied()
        .unwrap_or("unrecognised")
}

/// Text cut to a length that is safe to log.
fn short(text: &str) -> String {
    const LIMIT: usize = 64;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn headers_are_read_before_any_key() {
        let token = format!(
            "{}.e30.c2ln",
            encode(&serde_json::json!({"alg": "RS256", "kid": "k1"}))
        );
        let header = TokenHeader::parse(&token).unwrap();
        assert_eq!(header.algorithm, "RS256");
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert!(!header.critical);

        assert_eq!(
            TokenHeader::parse("a.b").err(),
            Some(JwtError::Malformed("a token has three parts"))
        );
        assert_eq!(
            TokenHeader::parse("a.b.c.d").err(),
            Some(JwtError::Malformed("a token has three parts"))
        );
        assert!(TokenHeader::parse("!!.e30.c2ln").is_err());
    }

    #[test]
    fn only_rsa_pkcs1_algorithms_have_names() {
        assert_eq!(
            SigningAlgorithm::from_name("RS384"),
            Some(SigningAlgorithm::Rs384)
        );
        for refused in ["none", "HS256", "PS256", "ES256", "rs256", ""] {
            assert_eq!(SigningAlgorithm::from_name(refused), None, "{refused}");
        }
    }

    #[test]
    fn key_sets_keep_rsa_signing_keys_with_their_endorsements() {
        let document = serde_json::json!({"keys": [
            {"kty": "RSA", "use": "sig", "kid": "a", "n": "sXch", "e": "AQAB", "endorsements": ["msteams", "skype"]},
            {"kty": "RSA", "use": "enc", "kid": "b", "n": "sXch", "e": "AQAB"},
            {"kty": "EC", "kid": "c", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "d", "alg": "HS256", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "e", "alg": "RS512", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "n": "sXch", "e": "AQAB"}
        ]});
        let keys = parse_key_set(&document).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["a", "e"]);
        assert_eq!(keys["a"].endorsements(), ["msteams", "skype"]);
        assert_eq!(keys["e"].algorithm(), Some(SigningAlgorithm::Rs512));
        assert!(parse_key_set(&serde_json::json!({"nokeys": []})).is_err());
    }

    #[test]
    fn long_key_ids_are_cut_in_errors() {
        let kid = "k".repeat(1000);
        let error = JwtError::KeyAlgorithmMismatch {
            kid: short(&kid),
            algorithm: SigningAlgorithm::Rs256,
        };
        assert!(error.to_string().len() < 120);
    }

    #[test]
    fn only_registered_algorithm_names_are_repeated() {
        assert_eq!(registered_algorithm("HS256"), "HS256");
        assert_eq!(registered_algorithm("none"), "none");
        assert_eq!(registered_algorithm("jane.doe@example.com"), "unrecognised");
    }

    #[test]
    fn a_validator_needs_an_issuer_and_an_audience() {
        let keys = KeySet::new(KeySource::jwks("http://127.0.0.1:9/keys"));
        let none: [&str; 0] = [];
        assert_eq!(
            JwtValidator::new(keys.clone(), none, ["aud"]).err(),
            Some(JwtConfigError::NoIssuer)
        );
        assert_eq!(
            JwtValidator::new(keys, ["iss"], none).err(),
            Some(JwtConfigError::NoAudience)
        );
    }
}
