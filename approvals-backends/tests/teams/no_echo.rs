//! Regression: refusals must not repeat what a request carried. Activities
//! and tokens seeded with values shaped like personal data, and invalid in
//! every way below, are refused with no run of six characters of any seeded
//! value in the answer (status, headers, body) or in anything logged.

use approvals_backends::teams::TeamsEndpoint;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::leak::{self, Captured, assert_no_echo, pii, pii_number};
use crate::support::*;

const FINGERPRINT: &str = "ab00000000000000000000000000000000000000000000000000000000000000";

/// What is sent, and the personal data seeded in it.
#[derive(Debug, Clone)]
struct Case {
    body: String,
    /// `None`: a genuine token for the fake service.
    authorization: Option<String>,
    seeds: Vec<String>,
}

/// A click on a card of ours, from `service_url`, with `verb` and `data`.
fn activity(service_url: &str, verb: &Value, data: Value) -> Value {
    json!({
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": "f:invoke-1",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": "29:aad-alice", "aadObjectId": ALICE, "name": "Alice"},
        "conversation": {"id": CONVERSATION, "tenantId": TENANT},
        "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data}},
    })
}

fn data() -> Value {
    json!({"requestId": "req-1", "fingerprint": FINGERPRINT})
}

fn genuine(body: Value, seeds: Vec<String>) -> Case {
    Case {
        body: body.to_string(),
        authorization: None,
        seeds,
    }
}

fn invalid_request(service_url: String) -> impl Strategy<Value = Case> {
    let url = service_url.clone();
    let wrong_types = (pii(), pii_number(), 0..5usize).prop_map(move |(text, number, at)| {
        let mut body = activity(&url, &json!("approve"), data());
        match at {
            0 => body["serviceUrl"] = json!(number),
            1 => body["from"] = json!(text.clone()),
            2 => body["conversation"]["id"] = json!(number),
            3 => body["channelId"] = json!([text.clone(), number]),
            _ => body["type"] = json!(number),
        }
        genuine(body, vec![text, number.to_string()])
    });
    let url = service_url.clone();
    let bad_clicks = (pii(), pii_number(), 0..4usize).prop_map(move |(text, number, at)| {
        let body = match at {
            // A verb that is not ours.
            0 => activity(&url, &json!(text.clone()), data()),
            // A request id that is not a string.
            1 => activity(
                &url,
                &json!("approve"),
                json!({"requestId": number, "fingerprint": FINGERPRINT}),
            ),
            // A fingerprint that is not 64 hex digits.
            2 => activity(
                &url,
                &json!("deny"),
                json!({"requestId": "req-1", "fingerprint": text.clone(), "reason": number}),
            ),
            // A verb of the wrong type.
            _ => activity(&url, &json!({"verb": text.clone()}), data()),
        };
        genuine(body, vec![text, number.to_string()])
    });
    let url = service_url.clone();
    let unknown_fields = (pii(), pii(), pii()).prop_map(move |(key, value, verb)| {
        let mut body = activity(&url, &json!(verb), data());
        body[key.as_str()] = json!(value);
        body["value"]["action"]["data"][key.as_str()] = json!({"note": value});
        body["channelData"] = json!({"note": value, "tenant": {"id": key}});
        genuine(body, vec![key, value, verb])
    });
    let url = service_url.clone();
    let truncated = (pii(), pii(), 0.0..1.0f64).prop_map(move |(name, verb, cut)| {
        let mut body = activity(&url, &json!(verb), data());
        body["from"]["name"] = json!(name);
        let text = body.to_string();
        let mut at = ((text.len() as f64) * cut) as usize;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        Case {
            body: text[..at.min(text.len() - 1)].to_owned(),
            authorization: None,
            seeds: vec![name, verb],
        }
    });
    let not_json = (pii(), pii()).prop_map(|(first, second)| Case {
        body: format!("{{\"type\": {first}, \"from\": [{second}"),
        authorization: None,
        seeds: vec![first, second],
    });
    let url = service_url.clone();
    let over_long = pii().prop_map(move |text| {
        let long = text.repeat(4_000 / text.len() + 2);
        let body = activity(
            &url,
            &json!(long.clone()),
            json!({"requestId": long.clone(), "fingerprint": long}),
        );
        genuine(body, vec![text])
    });
    let url = service_url;
    let bad_tokens = (pii(), pii(), 0..3usize).prop_map(move |(first, second, at)| {
        let header = match at {
            0 => json!({"alg": first.clone(), "kid": "key-a", "typ": "JWT"}),
            1 => json!({"alg": "RS256", "kid": first.clone(), "typ": "JWT"}),
            _ => json!({"alg": "RS256", "kid": "key-a", "crit": [first.clone()]}),
        };
        let claims = json!({"iss": ISSUER, "aud": APP_ID, "sub": second.clone(), "serviceurl": url.clone(), "exp": now() + 600});
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(second.as_bytes()),
        );
        Case {
            body: activity(&url, &json!("approve"), data()).to_string(),
            authorization: Some(format!("Bearer {token}")),
            seeds: vec![first, second],
        }
    });
    let not_tokens = (pii(), pii()).prop_map(|(first, second)| Case {
        body: json!({"type": "message", "text": second}).to_string(),
        authorization: Some(format!("Bearer {first}")),
        seeds: vec![first, second],
    });
    prop_oneof![
        wrong_types,
        bad_clicks,
        unknown_fields,
        truncated,
        not_json,
        over_long,
        bad_tokens,
        not_tokens
    ]
}

fn request(authorization: &str, body: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri("/api/messages")
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

/// How an answer says it refused: an HTTP error, or an invoke error.
fn refused(response: &http::Response<Bytes>) -> bool {
    if response.status().is_client_error() {
        return true;
    }
    let answer: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    answer["type"] == "application/vnd.microsoft.error"
        && answer["statusCode"]
            .as_u64()
            .is_some_and(|code| code >= 400)
}

#[test]
fn refused_activities_and_tokens_never_repeat_the_personal_data_they_carry() {
    let runtime = leak::runtime();
    let (captured, _guard) = Captured::start();
    let bot = runtime.block_on(Bot::start(requirement()));
    let endpoint: TeamsEndpoint = bot.teams.inbound();
    let service_url = bot.microsoft.service_url();
    let token = format!("Bearer {}", bot_token(&claims(&service_url)));
    let mut runner = TestRunner::new(Config::with_cases(256));
    runner
        .run(&invalid_request(service_url), |case| {
            let authorization = case.authorization.as_deref().unwrap_or(&token);
            let response = runtime.block_on(endpoint.handle(request(authorization, &case.body)));
            prop_assert!(
                refused(&response),
                "not refused: {}",
                leak::answer_text(&response)
            );
            assert_no_echo(&case.seeds, "the answer", &leak::answer_text(&response));
            let logged = captured.take();
            if response.status().is_client_error() {
                prop_assert!(
                    logged.contains("rejected a request to the Teams endpoint"),
                    "nothing logged: {}",
                    logged
                );
            }
            assert_no_echo(&case.seeds, "the log", &logged);
            Ok(())
        })
        .unwrap();
    assert_eq!(bot.votes_recorded(), 0);
}
