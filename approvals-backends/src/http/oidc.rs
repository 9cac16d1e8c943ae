//! OIDC bearer tokens: JWTs checked against an OpenID provider's keys.

use approvals_core::{Identity, async_trait};

use super::identity::{AuthError, Authenticator, bearer_token};
use crate::jwt::{JwtConfigError, JwtError, JwtValidator, KeySet, KeySource};

/// Authenticates callers by a JWT from your OpenID provider (Entra ID,
/// Okta, Auth0, Keycloak, Google...).
///
/// The token's signature is checked against the provider's published keys
/// (RS256, RS384 or RS512 only; fetched from the OpenID metadata or a JWKS
/// URL, cached, refreshed on an unknown key id at most once per interval),
/// and its issuer, audience, expiry and not-before times (with 5 minutes of
/// leeway by default). The caller's identity is one claim of the token,
/// `email` by default; a token whose `email_verified` claim is `false` is
/// refused, since an unverified address is not an identity.
///
/// Use a claim your policy's approvers are named by, and that the user
/// cannot choose: a provider that lets users set their own `email` would let
/// them become anyone.
///
/// ```no_run
/// use approvals_backends::http::{HttpChannel, OidcAuthenticator};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let authenticator = OidcAuthenticator::openid(
///     "https://login.example.com/.well-known/openid-configuration",
///     "https://login.example.com",
///     "approvals-api",
/// )?;
/// let approver = HttpChannel::builder().authenticator(authenticator).build()?;
/// # let _ = approver; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OidcAuthenticator {
    validator: JwtValidator,
    identity_claim: String,
}

impl OidcAuthenticator {
    /// Checks tokens with `validator` (which holds the key set, issuers,
    /// audiences, leeway and algorithms).
    pub fn new(validator: JwtValidator) -> Self {
        Self {
            validator,
            identity_claim: "email".to_owned(),
        }
    }

    /// Tokens from `issuer` for `audience`, with keys found through the
    /// provider's OpenID metadata at `metadata_url`.
    pub fn openid(
        metadata_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwtConfigError> {
        let keys = KeySet::new(KeySource::openid_metadata(metadata_url));
        Ok(Self::new(JwtValidator::new(
            keys,
            [issuer.into()],
            [audience.into()],
        )?))
    }

    /// Tokens from `issuer` for `audience`, with keys from the JWKS at
    /// `jwks_url`.
    pub fn jwks(
        jwks_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwtConfigError> {
        let keys = KeySet::new(KeySource::jwks(jwks_url));
        Ok(Self::new(JwtValidator::new(
            keys,
            [issuer.into()],
            [audience.into()],
        )?))
    }

    /// The claim that names the caller (default `email`; for example
    /// `preferred_username` or `upn`). It must be a non-empty string.
    #[must_use]
    pub fn identity_claim(mut self, claim: impl Into<String>) -> Self {
        self.identity_claim = claim.into();
        self
    }

    /// The validator tokens are checked with.
    pub fn validator(&self) -> &JwtValidator {
        &self.validator
    }
}

#[async_trait]
impl Authenticator for OidcAuthenticator {
    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        let token = bearer_token(headers)?;
        let verified = self
            .validator
            .validate(token)
            .await
            .map_err(|error| match error {
                JwtError::MissingToken => AuthError::MissingCredentials,
                JwtError::KeySetUnavailable { .. } => AuthError::Unavailable(error.to_string()),
                other => AuthError::Invalid(other.to_string()),
            })?;
        if self.identity_claim == "email"
            && verified.claims.get("email_verified") == Some(&serde_json::Value::Bool(false))
        {
            return Err(AuthError::Invalid(
                "the token's email address is not verified".into(),
            ));
        }
        let name = verified
            .claim_str(&self.identity_claim)
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "the token has no `{}` claim to identify the caller",
                    self.identity_claim
                ))
            })?;
        Ok(Identity::new(name))
    }
}
