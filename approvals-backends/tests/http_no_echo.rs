//! Regression: the HTTP API answered a body it could not read with
//! `serde_json`'s message, which quotes the value (`the body is not valid:
//! invalid type: integer `5551234567`, expected a string`).
//!
//! Vote bodies and credentials seeded with values shaped like personal
//! data, and invalid in every way below, are refused with no run of six
//! characters of any seeded value in the answer (status, headers, body), in
//! the reader's error (`Display` and `Debug`), or in anything logged.

#![cfg(all(feature = "http", feature = "axum"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod leak;
mod support;

use approvals_backends::http::{ApproveBody, DenyBody, HttpChannel};
use bytes::Bytes;
use leak::{Captured, assert_no_echo, pii, pii_number};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use support::*;

/// A call to the API, and the personal data seeded in it.
#[derive(Debug, Clone)]
struct Case {
    path: &'static str,
    content_type: &'static str,
    token: String,
    body: String,
    seeds: Vec<String>,
}

const APPROVE: &str = "/v1/requests/req-1/approve";
const DENY: &str = "/v1/requests/req-1/deny";

fn vote(path: &'static str, body: String, seeds: Vec<String>) -> Case {
    Case {
        path,
        content_type: "application/json",
        token: ALICE_TOKEN.to_owned(),
        body,
        seeds,
    }
}

fn invalid_call() -> impl Strategy<Value = Case> {
    let wrong_types = (pii(), pii_number(), 0..5usize).prop_map(|(text, number, at)| {
        let (path, body) = match at {
            0 => (APPROVE, json!({"fingerprint": number})),
            1 => (DENY, json!({"reason": number})),
            2 => (DENY, json!({"reason": [text.clone(), number]})),
            3 => (DENY, json!({"reason": {"text": text.clone()}})),
            _ => (APPROVE, json!([text.clone(), number])),
        };
        vote(path, body.to_string(), vec![text, number.to_string()])
    });
    let invalid_values = pii().prop_map(|text| {
        vote(
            APPROVE,
            json!({"fingerprint": text.clone()}).to_string(),
            vec![text],
        )
    });
    let unknown_fields = (pii(), pii(), any::<bool>()).prop_map(|(key, value, deny)| {
        let path = if deny { DENY } else { APPROVE };
        vote(
            path,
            json!({ key.clone(): value.clone(), "reason": value.clone() }).to_string(),
            vec![key, value],
        )
    });
    let truncated = (pii(), 0.0..1.0f64).prop_map(|(text, cut)| {
        let body = json!({"reason": text.clone(), "fingerprint": "ab"}).to_string();
        let mut at = ((body.len() as f64) * cut) as usize;
        while !body.is_char_boundary(at) {
            at -= 1;
        }
        // An empty body is a plain vote: cut one character at least.
        let at = at.clamp(1, body.len() - 1);
        vote(DENY, body[..at].to_owned(), vec![text])
    });
    let not_json = (pii(), pii()).prop_map(|(first, second)| {
        vote(
            DENY,
            format!("{{\"reason\": {first}, \"fingerprint\": \"{second}\"}} {second}"),
            vec![first, second],
        )
    });
    let over_long = pii().prop_map(|text| {
        let long = text.repeat(70 * 1024 / text.len() + 2);
        vote(DENY, json!({"reason": long}).to_string(), vec![text])
    });
    let not_json_media = pii().prop_map(|text| Case {
        content_type: "text/plain",
        ..vote(DENY, format!("reason={text}"), vec![text.clone()])
    });
    let strangers = (pii(), pii()).prop_map(|(token, reason)| Case {
        token,
        ..vote(
            DENY,
            json!({"reason": reason.clone()}).to_string(),
            vec![reason],
        )
    });
    prop_oneof![
        wrong_types,
        invalid_values,
        unknown_fields,
        truncated,
        not_json,
        over_long,
        not_json_media,
        strangers
    ]
}

fn request(case: &Case) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri(case.path)
        .header("content-type", case.content_type)
        .header("authorization", format!("Bearer {}", case.token))
        .body(Bytes::from(case.body.clone()))
        .unwrap()
}

#[test]
fn refused_bodies_never_repeat_the_personal_data_they_carry() {
    let runtime = leak::runtime();
    let (captured, _guard) = Captured::start();
    let approver = HttpChannel::builder()
        .authenticator(tokens())
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config::with_cases(384));
    runner
        .run(&invalid_call(), |case| {
            let response = runtime.block_on(approver.handle(request(&case)));
            prop_assert!(
                response.status().is_client_error(),
                "answered {}",
                response.status()
            );
            assert_no_echo(&case.seeds, "the answer", &leak::answer_text(&response));
            assert_no_echo(&case.seeds, "the log", &captured.take());

            // The same bodies through the reader the API uses.
            let fields = &["reason", "fingerprint"];
            for error in [
                approvals_backends::json::from_slice::<ApproveBody>(case.body.as_bytes(), fields)
                    .err(),
                approvals_backends::json::from_slice::<DenyBody>(case.body.as_bytes(), fields)
                    .err(),
            ]
            .into_iter()
            .flatten()
            {
                assert_no_echo(&case.seeds, "the error", &error.to_string());
                assert_no_echo(&case.seeds, "the error's Debug", &format!("{error:?}"));
            }
            Ok(())
        })
        .unwrap();
}

/// The example from the report, exactly, over real HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_type_is_named_by_its_field_not_its_value() {
    let api = Api::start(1).await;
    let (status, answer) = api
        .post(
            DENY,
            Some(ALICE_TOKEN),
            Some(json!({"reason": 5_551_234_567u64})),
        )
        .await;
    assert_eq!((status, code(&answer)), (400, "malformed_body"));
    let message = answer["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "the body is not valid: a value of the wrong type, expected a string at `reason` (line 1, column 20)"
    );
}
