//! Regression: the Slack interactivity endpoint answered and logged refused
//! payloads with their content in the error (`invalid type: integer
//! 5551234567`, `unknown action id jane.doe@example.com`).
//!
//! Signed payloads seeded with values shaped like personal data, and
//! invalid in every way below, are refused with no run of six characters of
//! any seeded value in the answer (status, headers, body), in the parser's
//! error (`Display` and `Debug`), or in anything logged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod leak;

use std::time::Duration;

use approvals_backends::signature;
use approvals_backends::slack::{
    APPROVE_ACTION, InteractivityHandler, SlackChannel, SlackClient, StaticIdentities,
    parse_interaction,
};
use bytes::Bytes;
use leak::{Captured, assert_no_echo, pii, pii_number};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

const SECRET: &str = "test-signing-secret";
const NOW: i64 = 1_700_000_000;
const MAX_BODY: usize = 16 * 1024;
const FINGERPRINT: &str = "ab00000000000000000000000000000000000000000000000000000000000000";

/// A payload and the personal data seeded in it.
#[derive(Debug, Clone)]
struct Case {
    /// The whole request body, as sent (form-encoded or not).
    body: String,
    seeds: Vec<String>,
}

fn form(payload: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", payload)
        .finish()
}

fn click(user: &Value, action: &Value, value: &Value) -> Value {
    json!({
        "type": "block_actions",
        "user": { "id": user, "team_id": "T111" },
        "container": { "type": "message", "message_ts": "1700000000.000001", "channel_id": "C111" },
        "trigger_id": "111.222.333",
        "actions": [{ "action_id": action, "block_id": "approvals.vote", "value": value, "type": "button" }],
    })
}

fn submission(user: &Value, callback: &Value, metadata: &Value, state: Value) -> Value {
    json!({
        "type": "view_submission",
        "user": { "id": user, "team_id": "T111" },
        "view": { "id": "V1", "callback_id": callback, "private_metadata": metadata, "state": state },
    })
}

fn reference() -> String {
    format!("req-1:{FINGERPRINT}")
}

/// Every way of being invalid this test knows, each seeded with personal
/// data where the payload has room for it.
fn invalid_payload() -> impl Strategy<Value = Case> {
    let wrong_types = (pii(), pii_number(), 0..6usize).prop_map(|(text, number, at)| {
        let user = json!(text);
        let payload = match at {
            // The clicker's id is a number.
            0 => click(&json!(number), &json!(APPROVE_ACTION), &json!(reference())),
            // The button's value is a number.
            1 => click(&user, &json!(APPROVE_ACTION), &json!(number)),
            // `actions` is a string.
            2 => {
                let mut payload = click(&user, &json!(APPROVE_ACTION), &json!(reference()));
                payload["actions"] = json!(text.clone());
                payload
            }
            // `type` is a number.
            3 => {
                let mut payload = click(&user, &json!(APPROVE_ACTION), &json!(reference()));
                payload["type"] = json!(number);
                payload
            }
            // A modal input under a key of the user's, of the wrong type.
            4 => submission(
                &json!("U1"),
                &json!("approvals.deny_reason"),
                &json!("{}"),
                json!({ "values": { text.clone(): { "reason": { "value": number } } } }),
            ),
            // The metadata is an object instead of a string.
            _ => submission(
                &json!("U1"),
                &json!("approvals.deny_reason"),
                &json!({ "request_id": text.clone(), "fingerprint": number }),
                json!({}),
            ),
        };
        Case {
            body: form(&payload.to_string()),
            seeds: vec![text, number.to_string()],
        }
    });
    let unknown_names = (pii(), pii(), 0..3usize).prop_map(|(name, other, at)| {
        let payload = match at {
            0 => click(&json!(other), &json!(name), &json!(reference())),
            1 => submission(&json!(other), &json!(name), &json!("{}"), json!({})),
            _ => {
                let mut payload = click(&json!(other), &json!(APPROVE_ACTION), &json!(reference()));
                payload["type"] = json!(name);
                payload
            }
        };
        Case {
            body: form(&payload.to_string()),
            seeds: vec![name, other],
        }
    });
    // Fields approvals does not read, under keys and with values of the
    // user's, next to a reference that does not parse.
    let unknown_fields = (pii(), pii(), pii()).prop_map(|(key, value, bad)| {
        let mut payload = click(&json!("U1"), &json!(APPROVE_ACTION), &json!(bad));
        payload[key.as_str()] = json!(value);
        payload["comment"] = json!({ "note": value, "more": [key] });
        Case {
            body: form(&payload.to_string()),
            seeds: vec![key, value, bad],
        }
    });
    let truncated = (pii(), pii(), 0.0..1.0f64).prop_map(|(user, value, cut)| {
        let text = click(
            &json!(user),
            &json!(APPROVE_ACTION),
            &json!(format!("{value}:{FINGERPRINT}")),
        )
        .to_string();
        let mut at = ((text.len() as f64) * cut) as usize;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        Case {
            body: form(&text[..at.min(text.len() - 1)]),
            seeds: vec![user, value],
        }
    });
    let bad_form = (pii(), pii(), 0..4usize).prop_map(|(first, second, at)| {
        let body = match at {
            // Not encoded: `&` splits the JSON, `%ZZ` is no escape.
            0 => format!(
                r#"payload={{"type":"block_actions","user":{{"id":"{first}%ZZ&{second}"}}}}"#
            ),
            // Bytes that are not UTF-8 before the JSON.
            1 => format!(
                "payload=%FF%FE{}",
                form(&click(&json!(first), &json!(second), &json!(reference())).to_string())
            ),
            // No `payload` field at all.
            2 => format!(
                "{}={}",
                form(&first).trim_start_matches("payload="),
                form(&second).trim_start_matches("payload=")
            ),
            // Two of them.
            _ => format!("{}&{}", form(&first), form(&second)),
        };
        Case {
            body,
            seeds: vec![first, second],
        }
    });
    let over_long = (pii(), 0..4usize).prop_map(|(text, at)| {
        let long = text.repeat(300 / text.len() + 2);
        let payload = match at {
            // A request id longer than any approvals makes.
            0 => click(
                &json!("U1"),
                &json!(APPROVE_ACTION),
                &json!(format!("{long}:{FINGERPRINT}")),
            ),
            // Modal metadata past Slack's limit.
            1 => submission(
                &json!("U1"),
                &json!("approvals.deny_reason"),
                &json!(text.repeat(3_100 / text.len() + 2)),
                json!({}),
            ),
            // A whole body past the handler's limit (with a value that is
            // no reference, for the parser alone).
            2 => click(
                &json!(text.repeat(MAX_BODY / text.len() + 2)),
                &json!(APPROVE_ACTION),
                &json!(text),
            ),
            // A reference whose fingerprint is not 64 hex digits.
            _ => click(
                &json!("U1"),
                &json!(APPROVE_ACTION),
                &json!(format!("req-1:{long}")),
            ),
        };
        Case {
            body: form(&payload.to_string()),
            seeds: vec![text],
        }
    });
    prop_oneof![
        wrong_types,
        unknown_names,
        unknown_fields,
        truncated,
        bad_form,
        over_long
    ]
}

fn handler() -> InteractivityHandler {
    // Nothing here reaches Slack: every payload is refused before any work.
    let client = SlackClient::builder("xoxb-test")
        .base_url("http://127.0.0.1:9/api/")
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let approver = SlackChannel::builder(client, "approvals", SECRET)
        .clock(|| NOW)
        .max_body_bytes(MAX_BODY)
        .identities(StaticIdentities::new().user("U1", "alice@example.com"))
        .build();
    approver.inbound()
}

fn signed_request(body: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri("/slack/interactivity")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", NOW.to_string())
        .header(
            "x-slack-signature",
            signature::sign(SECRET.as_bytes(), NOW, body.as_bytes()),
        )
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

#[test]
fn refused_payloads_never_repeat_the_personal_data_they_carry() {
    let runtime = leak::runtime();
    let (captured, _guard) = Captured::start();
    let handler = handler();
    let mut runner = TestRunner::new(Config::with_cases(384));
    runner
        .run(&invalid_payload(), |case| {
            let response = runtime.block_on(handler.handle(signed_request(&case.body)));
            runtime.block_on(handler.drain());
            let status = response.status().as_u16();
            prop_assert!(status == 400 || status == 413, "answered {}", status);
            assert_no_echo(&case.seeds, "the answer", &leak::answer_text(&response));

            let error = parse_interaction(case.body.as_bytes());
            prop_assert!(error.is_err(), "{:?} parsed", case.body);
            if let Err(error) = error {
                assert_no_echo(&case.seeds, "the error", &error.to_string());
                assert_no_echo(&case.seeds, "the error's Debug", &format!("{error:?}"));
            }

            let logged = captured.take();
            if status == 400 {
                prop_assert!(
                    logged.contains("payload refused"),
                    "nothing logged: {}",
                    logged
                );
            }
            assert_no_echo(&case.seeds, "the log", &logged);
            Ok(())
        })
        .unwrap();
}

/// The two examples from the report, exactly.
#[test]
fn a_wrong_type_or_an_unknown_action_is_refused_by_name_not_value() {
    let runtime = leak::runtime();
    let (captured, _guard) = Captured::start();
    let handler = handler();
    let cases = [
        (
            click(
                &json!(5_551_234_567u64),
                &json!(APPROVE_ACTION),
                &json!(reference()),
            ),
            "5551234567",
            "a value of the wrong type, expected a string at `user.id`",
        ),
        (
            click(
                &json!("U1"),
                &json!("jane.doe@example.com"),
                &json!(reference()),
            ),
            "jane.doe@example.com",
            "unknown action at `actions[0].action_id`",
        ),
    ];
    for (payload, value, named) in cases {
        let body = form(&payload.to_string());
        let response = runtime.block_on(handler.handle(signed_request(&body)));
        let answer = leak::answer_text(&response);
        assert_eq!(response.status(), 400, "{answer}");
        assert!(answer.contains(named), "{answer}");
        assert!(!answer.contains(value), "{answer}");
        let logged = captured.take();
        assert!(logged.contains(named), "{logged}");
        assert!(!logged.contains(value), "{logged}");
    }
}
