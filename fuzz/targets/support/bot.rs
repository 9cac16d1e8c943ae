//! A Bot Framework identity provider on loopback, for the targets that need
//! a token that verifies: it serves OpenID metadata and a key set with the
//! test-only key `approvals-test-support/fixtures/TEST-ONLY-rsa-a`, and
//! [`TOKEN`] is signed with that key (expiring in 2100).
//!
//! The keys are fetched once per process and cached (24 hours); the server
//! answers only on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use approvals_backends::jwt::{JwtValidator, KeySet, KeySource};
use approvals_backends::teams::{
    Conversation, StaticDirectory, TeamsChannel, TeamsConfig, TeamsEndpoint,
};

/// The bot's app id: the audience of [`TOKEN`].
pub(crate) const APP_ID: &str = "11111111-2222-3333-4444-555555555555";
/// The issuer of [`TOKEN`].
pub(crate) const ISSUER: &str = "https://api.botframework.com";
/// The `serviceurl` claim of [`TOKEN`].
pub(crate) const SERVICE_URL: &str = "https://smba.example.com/fuzz/";
/// An RS256 token with key id `key-a`, issuer [`ISSUER`], audience
/// [`APP_ID`], `serviceurl` [`SERVICE_URL`], valid from 2023 to 2100.
pub(crate) const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS1hIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2FwaS5ib3RmcmFtZXdvcmsuY29tIiwiYXVkIjoiMTExMTExMTEtMjIyMi0zMzMzLTQ0NDQtNTU1NTU1NTU1NTU1Iiwic2VydmljZXVybCI6Imh0dHBzOi8vc21iYS5leGFtcGxlLmNvbS9mdXp6LyIsImV4cCI6NDEwMjQ0NDgwMCwibmJmIjoxNzAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9.PrNQSgHmkcR2qz-WaDkAYa16yXlxprZ2XssEeY4rR-K3Pzod4tTa57yj_sO2Ggd-oPfTfNV_l7RTUAnTDzb29Lzr53XxJ_yKOUvKr1w44WbRMh6F2oLp2rLFeaO7dp1eC5W3IVeI2ZMB1Bt6HXbPkcuuRs665D71bo-G-5jUYplAruT31z-HIzbEPvF2tC7bVliJ77uBFr6fKQsfj_841ZQpE7UmD3QnJkWK_L05Cai9XatUYrMCUJiSB3w7Iz87A6hLJ_SL3l2Dnlt_IzaXzPSURkBqS7R5k5dLkVdyXnI-F4ddkX97jZh0Jpw3ndaY2og-M86ajDuCBZlGdgme_Q";
/// The modulus of the test-only key that signed [`TOKEN`].
const KEY_A_N: &str = include_str!("../../../approvals-test-support/fixtures/TEST-ONLY-rsa-a.n");

/// The runtime the targets run the async handlers on.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => panic!("no runtime: {error}"),
        }
    })
}

/// The provider's base URL (`http://127.0.0.1:<port>`), started on first use.
fn provider() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        let listener = match TcpListener::bind("127.0.0.1:0") {
            Ok(listener) => listener,
            Err(error) => panic!("cannot listen on loopback: {error}"),
        };
        let base = match listener.local_addr() {
            Ok(address) => format!("http://{address}"),
            Err(error) => panic!("no local address: {error}"),
        };
        let jwks_uri = format!("{base}/keys");
        std::thread::spawn(move || serve(&listener, &jwks_uri));
        base
    })
}

/// Answers `GET /openid` and `GET /keys`, one connection at a time.
fn serve(listener: &TcpListener, jwks_uri: &str) {
    let metadata = serde_json::json!({ "issuer": ISSUER, "jwks_uri": jwks_uri }).to_string();
    let keys = serde_json::json!({ "keys": [{
        "kty": "RSA", "use": "sig", "kid": "key-a", "n": KEY_A_N.trim(), "e": "AQAB",
        "endorsements": ["msteams"],
    }]})
    .to_string();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut reader = BufReader::new(&stream);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            continue;
        }
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let (status, body) = match request_line.split_whitespace().nth(1) {
            Some("/openid") => ("200 OK", metadata.as_str()),
            Some("/keys") => ("200 OK", keys.as_str()),
            _ => ("404 Not Found", "{}"),
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// A Teams channel whose endpoint trusts the provider; `aad-alice` is
/// alice@example.com.
pub(crate) fn teams_endpoint() -> &'static TeamsEndpoint {
    static ENDPOINT: OnceLock<(TeamsChannel, TeamsEndpoint)> = OnceLock::new();
    let (_, endpoint) = ENDPOINT.get_or_init(|| {
        let base = provider();
        let config = TeamsConfig::new(
            APP_ID,
            "test-only-client-secret",
            "tenant-0000",
            Conversation::new(SERVICE_URL, "19:approvals@thread.tacv2"),
        )
        .authority(base)
        .openid_metadata_url(format!("{base}/openid"))
        .key_refresh_interval(Duration::from_secs(3600))
        .request_timeout(Duration::from_secs(10));
        let directory = StaticDirectory::new().user("aad-alice", "alice@example.com");
        let approver = match TeamsChannel::builder(config, directory).build() {
            Ok(approver) => approver,
            Err(error) => panic!("the Teams channel does not build: {error}"),
        };
        let endpoint = approver.inbound();
        (approver, endpoint)
    });
    endpoint
}

/// A validator that trusts the provider's keys, for [`ISSUER`] and
/// [`APP_ID`]; keys are fetched at most once an hour.
pub(crate) fn validator() -> &'static JwtValidator {
    static VALIDATOR: OnceLock<JwtValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let keys = KeySet::new(KeySource::jwks(format!("{}/keys", provider())))
            .min_refresh_interval(Duration::from_secs(3600));
        match JwtValidator::new(keys, [ISSUER], [APP_ID]) {
            Ok(validator) => validator,
            Err(error) => panic!("the validator does not build: {error}"),
        }
    })
}
