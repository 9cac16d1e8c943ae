//! Approving with edits over the HTTP API: the published JSON Schema of
//! the arguments (checked with a real validator), accepted and refused
//! edits, and nothing raw in any answer.

#![cfg(all(feature = "http", feature = "axum"))]
// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_edits_over_the_api_and_the_body_runs_with_the_edit() {
    let api = Api::start(1).await;
    let call = api.editable_request("scale");
    let id = api.pending(1).await.remove(0);
    let (status, view) = api
        .get(&format!("/v1/requests/{id}"), Some(ALICE_TOKEN))
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["version"], 1);
    assert_eq!(view["editable"], json!(["replicas", "service"]));
    let fingerprint = view["fingerprint"].as_str().unwrap().to_owned();

    // The published schema is a JSON Schema a real validator compiles, and
    // it agrees with the gate on what fits the type.
    let (status, schema) = api
        .get(&format!("/v1/requests/{id}/schema"), Some(ALICE_TOKEN))
        .await;
    assert_eq!(status, 200);
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let fits = json!({"customer": "c", "service": "billing", "replicas": 1});
    let does_not_fit = json!({"customer": "c", "service": "billing", "replicas": "many"});
    assert!(validator.is_valid(&fits));
    assert!(!validator.is_valid(&does_not_fit));
    let (status, refused) = edit(
        &api,
        &id,
        ALICE_TOKEN,
        &fingerprint,
        json!({"replicas": "many"}),
    )
    .await;
    assert_eq!((status, code(&refused)), (422, "invalid_edit"), "{refused}");
    assert_eq!(refused["error"]["path"], "replicas");

    // An accepted edit: a new version, approved by the editor (quorum 1).
    let (status, receipt) =
        edit(&api, &id, ALICE_TOKEN, &fingerprint, json!({"replicas": 1})).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["result"], "accepted");
    assert_eq!(receipt["version"], 2);
    assert_eq!(receipt["changed"], json!(["replicas"]));
    assert_eq!(receipt["conclusion"]["outcome"], "approved");
    assert_ne!(receipt["fingerprint"], json!(fingerprint));
    let ran = call.await.unwrap().unwrap();
    assert_eq!(ran.replicas, 1);
    assert_eq!(ran.customer, SECRET_EMAIL);

    for answer in [&view, &refused, &receipt] {
        assert!(!answer.to_string().contains(SECRET_EMAIL), "{answer}");
    }
    let trail = serde_json::to_string(&api.audit.records()).unwrap();
    assert!(!trail.contains(SECRET_EMAIL));
    assert_eq!(trail.matches("\"event\":\"edited\"").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_refuses_edits_the_rules_do_not_allow() {
    let api = Api::start(2).await;
    let _call = api.editable_request("scale");
    let id = api.pending(1).await.remove(0);
    let fingerprint = api.seen_fingerprint(&id, BOB_TOKEN).await;

    let (status, own) = edit(&api, &id, AGENT_TOKEN, &fingerprint, json!({"replicas": 1})).await;
    assert_eq!((status, code(&own)), (403, "self_approval"));
    let (status, outsider) = edit(
        &api,
        &id,
        MALLORY_TOKEN,
        &fingerprint,
        json!({"replicas": 1}),
    )
    .await;
    assert_eq!((status, code(&outsider)), (403, "not_eligible"));
    let (status, masked) = edit(&api, &id, BOB_TOKEN, &fingerprint, json!({"customer": "x"})).await;
    assert_eq!((status, code(&masked)), (403, "not_editable"));
    assert_eq!(masked["error"]["path"], "customer");
    let (status, stale) = edit(
        &api,
        &id,
        BOB_TOKEN,
        &"ab".repeat(32),
        json!({"replicas": 1}),
    )
    .await;
    assert_eq!((status, code(&stale)), (409, "fingerprint_mismatch"));
    let (status, not_a_patch) = edit(&api, &id, BOB_TOKEN, &fingerprint, json!(5)).await;
    assert_eq!((status, code(&not_a_patch)), (422, "invalid_edit"));
    let (status, malformed) = api
        .post(
            &format!("/v1/requests/{id}/edit"),
            Some(BOB_TOKEN),
            Some(json!({"changes": {}})),
        )
        .await;
    assert_eq!((status, code(&malformed)), (400, "malformed_body"));
    let (status, _) = api
        .post(&format!("/v1/requests/{id}/edit"), None, Some(json!({})))
        .await;
    assert_eq!(status, 401);

    // With quorum 2, an accepted edit needs a second approval of the new
    // version: alice's vote on the version she saw before no longer counts.
    let (status, receipt) = edit(
        &api,
        &id,
        BOB_TOKEN,
        &fingerprint,
        json!({"service": "billing-eu"}),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["conclusion"], Value::Null);
    let old = json!({ "fingerprint": fingerprint });
    let (status, late) = api
        .post(
            &format!("/v1/requests/{id}/approve"),
            Some(ALICE_TOKEN),
            Some(old),
        )
        .await;
    assert_eq!((status, code(&late)), (409, "fingerprint_mismatch"));
    let (status, counted) = api.approve(&id, ALICE_TOKEN).await;
    assert_eq!(status, 200, "{counted}");
    assert_eq!(counted["conclusion"]["outcome"], "approved");
}

async fn edit(
    api: &Api,
    id: &approvals_core::RequestId,
    token: &str,
    fingerprint: &str,
    changes: Value,
) -> (u16, Value) {
    api.post(
        &format!("/v1/requests/{id}/edit"),
        Some(token),
        Some(json!({ "fingerprint": fingerprint, "changes": changes })),
    )
    .await
}
