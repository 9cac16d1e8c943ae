//! The HTTP channel over real HTTP on loopback.

#![cfg(all(feature = "http", feature = "axum"))]
// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use approvals_backends::http::HttpChannel;
use approvals_core::audit::{AuditEvent, AuditEventKind};
use approvals_core::{Error, Refusal};
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_over_http_runs_the_call() {
    let api = Api::start(1).await;
    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let (status, body) = api.approve(&id, ALICE_TOKEN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "counted");
    assert_eq!(body["request_id"], id.as_str());
    assert_eq!(body["approvals"], 1);
    assert_eq!(body["quorum"], 1);
    assert_eq!(body["conclusion"]["outcome"], "approved");
    assert_eq!(body["conclusion"]["by"], json!([ALICE]));
    assert_eq!(call.await.unwrap().unwrap(), "ran");

    let votes: Vec<_> = api
        .audit
        .for_request(&id)
        .into_iter()
        .filter_map(|record| match record.event {
            AuditEvent::Vote {
                voter,
                channel,
                counted,
                ..
            } => Some((voter.to_string(), channel, counted)),
            _ => None,
        })
        .collect();
    assert_eq!(votes, [(ALICE.to_owned(), "http".to_owned(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_the_masked_view_deadline_and_votes_so_far() {
    let api = Api::start(2).await;
    let _call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let (status, list) = api.get("/v1/requests", Some(BOB_TOKEN)).await;
    assert_eq!(status, 200);
    let text = list.to_string();
    assert!(!text.contains(SECRET_EMAIL), "raw value leaked: {text}");
    let request = &list["requests"][0];
    assert_eq!(request["id"], id.as_str());
    assert_eq!(request["status"], "pending");
    assert_eq!(request["action"], "deploy");
    assert_eq!(request["requester"], AGENT);
    // The default masker shows the email as a stable pseudonym.
    assert!(
        request["arguments"]["customer"]
            .as_str()
            .unwrap()
            .starts_with("EMAIL_")
    );
    assert_eq!(request["quorum"], 2);
    assert_eq!(request["approvals"], 0);
    assert_eq!(request["approvers"], json!([ALICE, BOB, AGENT]));
    assert!(request["deadline"].as_str().unwrap().ends_with('Z'));
    assert_eq!(request["fingerprint"].as_str().unwrap().len(), 64);
    assert_eq!(request["approved_by"], json!([]));
    assert_eq!(request["conclusion"], json!(null));

    let (status, _) = api.approve(&id, ALICE_TOKEN).await;
    assert_eq!(status, 200);
    let (status, one) = api
        .get(&format!("/v1/requests/{id}"), Some(BOB_TOKEN))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["approvals"], 1);
    assert_eq!(one["approved_by"], json!([ALICE]));
    assert!(!one.to_string().contains(SECRET_EMAIL));
}

/// Two replicas on one store: the API of either lists and decides a
/// request the other one asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_replica_lists_and_decides_every_pending_request() {
    let store = approvals_core::store::MemoryStore::new();
    let tokens = || HttpChannel::builder().authenticator(tokens());
    let a = Api::start_on(1, tokens(), Some(store.clone())).await;
    let b = Api::start_on(1, tokens(), Some(store.clone())).await;
    let call = a.request("deploy");
    let id = a.pending(1).await.remove(0);

    let (status, list) = b.get("/v1/requests", Some(ALICE_TOKEN)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["requests"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["requests"][0]["id"], id.as_str());
    assert_eq!(list["requests"][0]["status"], "pending");
    let (status, one) = b
        .get(&format!("/v1/requests/{id}"), Some(ALICE_TOKEN))
        .await;
    assert_eq!(status, 200, "{one}");

    let (status, body) = b.approve(&id, ALICE_TOKEN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "counted");
    assert_eq!(call.await.unwrap().unwrap(), "ran");
    let (_, list) = b.get("/v1/requests", Some(ALICE_TOKEN)).await;
    assert_eq!(list["requests"].as_array().unwrap().len(), 0, "{list}");
    let (_, list) = a.get("/v1/requests", Some(ALICE_TOKEN)).await;
    assert_eq!(list["requests"].as_array().unwrap().len(), 0, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_cannot_approve_their_own_request() {
    let api = Api::start(1).await;
    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let (status, body) = api.approve(&id, AGENT_TOKEN).await;
    assert_eq!(status, 403);
    assert_eq!(code(&body), "self_approval");
    assert_eq!(body["error"]["message"], Refusal::SelfApproval.to_string());
    let (status, body) = api.deny(&id, AGENT_TOKEN, Some("never mind")).await;
    assert_eq!((status, code(&body)), (403, "self_approval"));

    // The refused votes are recorded, and the request still waits.
    let refused = api
        .audit
        .for_request(&id)
        .into_iter()
        .filter(|record| {
            matches!(
                record.event,
                AuditEvent::Vote {
                    counted: false,
                    refusal: Some(Refusal::SelfApproval),
                    ..
                }
            )
        })
        .count();
    assert_eq!(refused, 2);
    assert!(!call.is_finished());
    let (status, _) = api.approve(&id, BOB_TOKEN).await;
    assert_eq!(status, 200);
    assert!(call.await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ineligible_identity_is_refused() {
    let api = Api::start(1).await;
    let _call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let (status, body) = api.approve(&id, MALLORY_TOKEN).await;
    assert_eq!((status, code(&body)), (403, "not_eligible"));
    let (status, body) = api.deny(&id, MALLORY_TOKEN, Some("no")).await;
    assert_eq!((status, code(&body)), (403, "not_eligible"));
    // Authenticated but ineligible callers may still read the masked view.
    let (status, _) = api
        .get(&format!("/v1/requests/{id}"), Some(MALLORY_TOKEN))
        .await;
    assert_eq!(status, 200);
    assert_eq!(api.approver.pending().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_not_found() {
    let api = Api::start(1).await;
    // Before any request reached the channel.
    let (status, body) = api.approve(&"nope".into_id(), ALICE_TOKEN).await;
    assert_eq!((status, code(&body)), (404, "unknown_request"));

    let _call = api.request("deploy");
    let _ = api.pending(1).await;
    let unknown = "00000000-0000-4000-8000-000000000000".into_id();
    let (status, body) = api
        .get(&format!("/v1/requests/{unknown}"), Some(ALICE_TOKEN))
        .await;
    assert_eq!((status, code(&body)), (404, "unknown_request"));
    let (status, body) = api.approve(&unknown, ALICE_TOKEN).await;
    assert_eq!((status, code(&body)), (404, "unknown_request"));
    let (status, body) = api.deny(&unknown, ALICE_TOKEN, Some("x")).await;
    assert_eq!((status, code(&body)), (404, "unknown_request"));
    // The gate judged and recorded them.
    let refused = api.audit.for_request(&unknown);
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|r| matches!(
        r.event,
        AuditEvent::Vote {
            refusal: Some(Refusal::UnknownRequest),
            ..
        }
    )));

    let (status, body) = api.get("/v1/nothing", Some(ALICE_TOKEN)).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, body) = api.post("/v1/requests", Some(ALICE_TOKEN), None).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_rejected_without_a_vote() {
    let api = Api::start(1).await;
    let _call = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    let approve = format!("/v1/requests/{id}/approve");
    let deny = format!("/v1/requests/{id}/deny");
    let url = api.server.url(&approve);

    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut call = api.client.post(&url).bearer_auth(ALICE_TOKEN).body(body);
        if let Some(content_type) = content_type {
            call = call.header("content-type", content_type);
        }
        call.send()
    };
    let json = Some("application/json");
    for (body, content_type, expected, expected_code) in [
        ("{not json", json, 400, "malformed_body"),
        ("[1, 2]", json, 400, "malformed_body"),
        (r#"{"fingerprint": "abc"}"#, json, 400, "malformed_body"),
        (r#"{"fingerprint": 42}"#, json, 400, "malformed_body"),
        (r#"{"aprove": true}"#, json, 400, "malformed_body"),
        // A vote names the fingerprint of the call its voter saw: the API
        // never fills it in.
        (r#"{}"#, json, 400, "malformed_body"),
        ("", json, 400, "malformed_body"),
        (r#"{}"#, Some("text/plain"), 415, "unsupported_media_type"),
        (r#"{}"#, None, 415, "unsupported_media_type"),
    ] {
        let (status, answer) = read(send(body, content_type).await.unwrap()).await;
        assert_eq!((status, code(&answer)), (expected, expected_code), "{body}");
    }
    let huge = "x".repeat(100 * 1024);
    let (status, answer) = read(
        api.client
            .post(&url)
            .bearer_auth(ALICE_TOKEN)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&answer)), (413, "body_too_large"));
    let (status, answer) = api
        .post(&deny, Some(ALICE_TOKEN), Some(json!({"reason": 7})))
        .await;
    assert_eq!((status, code(&answer)), (400, "malformed_body"));

    // Nothing reached the gate.
    assert!(!api.audit.kinds_for(&id).contains(&AuditEventKind::Vote));
    // A reason too long is the gate's to refuse, and it is recorded.
    let fingerprint = api.seen_fingerprint(&id, ALICE_TOKEN).await;
    let (status, answer) = api
        .post(
            &deny,
            Some(ALICE_TOKEN),
            Some(json!({"fingerprint": fingerprint, "reason": "r".repeat(5000)})),
        )
        .await;
    assert_eq!((status, code(&answer)), (422, "reason_too_long"));
    assert!(api.audit.kinds_for(&id).contains(&AuditEventKind::Vote));
    let (status, answer) = api
        .post(
            &approve,
            Some(ALICE_TOKEN),
            Some(json!({"fingerprint": fingerprint})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_missing_tokens_get_401_and_learn_nothing() {
    let api = Api::start(1).await;
    let _call = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    let unknown = "00000000-0000-4000-8000-000000000000";

    let mut answers = Vec::new();
    for path in [
        "/v1/requests".to_owned(),
        format!("/v1/requests/{id}"),
        format!("/v1/requests/{unknown}"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong-token"),
            Some(&*format!("Bearer {ALICE_TOKEN}x")),
            Some(&*format!("Basic {ALICE_TOKEN}")),
            Some("Bearer"),
            Some(ALICE_TOKEN),
        ] {
            let mut call = api.client.get(api.server.url(&path));
            if let Some(auth) = auth {
                call = call.header("authorization", auth);
            }
            let response = call.send().await.unwrap();
            assert_eq!(response.status(), 401, "{path} {auth:?}");
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"approvals\""
            );
            answers.push(response.text().await.unwrap());
        }
    }
    for path in [
        format!("/v1/requests/{id}/approve"),
        format!("/v1/requests/{id}/deny"),
        format!("/v1/requests/{unknown}/approve"),
    ] {
        let response = api
            .client
            .post(api.server.url(&path))
            .bearer_auth("not-a-token")
            .header("content-type", "application/json")
            .body("{not even json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        answers.push(response.text().await.unwrap());
    }
    // Every refusal is the same bytes: no id, no hint of what exists.
    assert!(answers.iter().all(|answer| answer == &answers[0]));
    assert!(!answers[0].contains(id.as_str()));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&answers[0]).unwrap()["error"]["code"],
        "unauthorized"
    );
    // No vote reached the gate, and the request still waits.
    assert!(!api.audit.kinds_for(&id).contains(&AuditEventKind::Vote));
    assert_eq!(api.approver.pending().len(), 1);
    // The OpenAPI document is public: it says nothing about requests.
    let (status, doc) = api.get("/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_decisions_are_refused() {
    let api = Api::start(2).await;
    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);

    let (status, body) = api.approve(&id, ALICE_TOKEN).await;
    assert_eq!((status, body["approvals"].as_u64()), (200, Some(1)));
    assert_eq!(body["conclusion"], json!(null));
    let (status, body) = api.approve(&id, ALICE_TOKEN).await;
    assert_eq!((status, code(&body)), (409, "already_voted"));
    let (status, body) = api.deny(&id, ALICE_TOKEN, Some("changed my mind")).await;
    assert_eq!((status, code(&body)), (409, "already_voted"));
    let (status, body) = api.approve(&id, BOB_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(body["conclusion"]["outcome"], "approved");
    assert!(call.await.unwrap().is_ok());

    // Late votes change nothing and are recorded.
    let (status, body) = api.approve(&id, BOB_TOKEN).await;
    assert_eq!((status, code(&body)), (409, "already_concluded"));
    let (status, body) = api.deny(&id, ALICE_TOKEN, Some("too late")).await;
    assert_eq!((status, code(&body)), (409, "already_concluded"));
    // The concluded request is still shown by id, with how it ended.
    let (status, view) = api
        .get(&format!("/v1/requests/{id}"), Some(ALICE_TOKEN))
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "approved");
    assert_eq!(view["conclusion"]["by"], json!([ALICE, BOB]));
    assert_eq!(view["approvals"], 2);
    let (_, list) = api.get("/v1/requests", Some(ALICE_TOKEN)).await;
    assert_eq!(list["requests"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_needs_the_reason_policy_asks_for() {
    let api = Api::start(1).await;
    let call = api.request("purge");
    let id = api.pending(1).await.remove(0);

    let (status, body) = api.deny(&id, BOB_TOKEN, None).await;
    assert_eq!((status, code(&body)), (422, "reason_required"));
    let (status, body) = api.deny(&id, BOB_TOKEN, Some("   ")).await;
    assert_eq!((status, code(&body)), (422, "reason_required"));
    let (status, body) = api
        .deny(&id, BOB_TOKEN, Some("not during the freeze"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conclusion"]["outcome"], "denied");
    assert_eq!(body["conclusion"]["reason"], "not during the freeze");
    match call.await.unwrap() {
        Err(Error::Denied { by, reason, .. }) => {
            assert_eq!(by.as_str(), BOB);
            assert_eq!(reason.as_deref(), Some("not during the freeze"));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_for_another_fingerprint_is_refused() {
    let api = Api::start(1).await;
    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    let (_, view) = api
        .get(&format!("/v1/requests/{id}"), Some(ALICE_TOKEN))
        .await;
    let path = format!("/v1/requests/{id}/approve");

    let other = "ab".repeat(32);
    let (status, body) = api
        .post(
            &path,
            Some(ALICE_TOKEN),
            Some(json!({ "fingerprint": other })),
        )
        .await;
    assert_eq!((status, code(&body)), (409, "fingerprint_mismatch"));
    let (status, body) = api
        .post(
            &path,
            Some(ALICE_TOKEN),
            Some(json!({ "fingerprint": view["fingerprint"] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(call.await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_can_be_mounted_under_a_prefix() {
    let approver = HttpChannel::builder()
        .authenticator(tokens())
        .build()
        .unwrap();
    let server = Served::start(axum::Router::new().nest("/approvals", approver.router())).await;
    let client = reqwest::Client::new();
    let answer = client
        .get(server.url("/approvals/v1/requests"))
        .bearer_auth(ALICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer = client
        .get(server.url("/v1/requests"))
        .bearer_auth(ALICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_is_still_shown_by_id() {
    let api = Api::start(1).await;
    let call = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    // The caller stops waiting: the gate cancels the request.
    call.abort();
    for _ in 0..500 {
        if api.approver.pending().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, view) = api
        .get(&format!("/v1/requests/{id}"), Some(ALICE_TOKEN))
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "cancelled");
    assert_eq!(view["conclusion"]["outcome"], "cancelled");
    let (status, body) = api.approve(&id, ALICE_TOKEN).await;
    assert_eq!((status, code(&body)), (409, "already_concluded"));
}

trait IntoId {
    fn into_id(self) -> approvals_core::RequestId;
}

impl IntoId for &str {
    fn into_id(self) -> approvals_core::RequestId {
        approvals_core::RequestId::from_string(self)
    }
}
