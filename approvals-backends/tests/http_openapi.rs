//! The checked-in OpenAPI document against the router: every documented
//! operation answers, every route is documented, and real answers match the
//! documented shapes.

#![cfg(all(feature = "http", feature = "axum"))]
// Helpers outside `#[test]` functions: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use approvals_backends::http::{OPENAPI_JSON, ROUTES};
use serde_json::{Value, json};
use support::*;

fn document() -> Value {
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .expect("approvals-backends/openapi.json");
    assert_eq!(
        on_disk, OPENAPI_JSON,
        "the served document is the checked-in file"
    );
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete", "head", "options"]
                .contains(&method.as_str())
            {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// Resolves a local `$ref`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local reference");
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {reference}")),
            )
        }
        None => schema,
    }
}

/// Checks `value` against the subset of JSON Schema the document uses.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|option| check(doc, option, value, at).is_ok())
            .count();
        return if matching == 1 {
            Ok(())
        } else {
            Err(format!("{at}: {matching} of oneOf match {value}"))
        };
    }
    if let Some(expected) = schema.get("const") {
        if expected != value {
            return Err(format!("{at}: expected {expected}, got {value}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad type in schema")),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !fits {
            return Err(format!("{at}: {value} is {actual}, not {types:?}"));
        }
    }
    if let (Some(pattern), Some(text)) = (schema.get("pattern"), value.as_str()) {
        // The only pattern in use: 64 lowercase hex digits.
        assert_eq!(pattern, "^[0-9a-f]{64}$");
        if text.len() != 64
            || !text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!("{at}: {text} does not match {pattern}"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap();
            if !object.contains_key(name) {
                return Err(format!("{at}: missing required `{name}` in {value}"));
            }
        }
        for (name, item) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => check(doc, property, item, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: undocumented property `{name}`"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{index}]"))?;
        }
    }
    Ok(())
}

/// Checks an answer against the document's response for its status.
fn conforms(doc: &Value, method: &str, template: &str, status: u16, body: &Value) {
    let operation = &doc["paths"][template][method.to_lowercase()];
    let response = resolve(doc, &operation["responses"][status.to_string()]);
    assert!(
        response.is_object(),
        "{method} {template} answered {status}, which is not documented: {body}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    check(doc, schema, body, &format!("{method} {template} {status}"))
        .unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let doc = document();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(routed, documented_operations(&doc));
}

#[test]
fn every_reference_resolves_and_every_error_code_is_listed() {
    let doc = document();
    fn walk(doc: &Value, value: &Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key("$ref") {
                    resolve(doc, value);
                }
                map.values().for_each(|v| walk(doc, v));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v)),
            _ => {}
        }
    }
    walk(&doc, &doc);
    let codes =
        &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
    let source = include_str!("../src/http/inbound.rs");
    for code in codes.as_array().unwrap() {
        let code = code.as_str().unwrap();
        // The API's own codes, or the gate's refusal table.
        assert!(
            source.contains(&format!("\"{code}\""))
                || approvals_core::Refusal::ALL
                    .iter()
                    .any(|refusal| refusal.code() == code),
            "{code} is documented but never sent"
        );
    }
    for refusal in approvals_core::Refusal::ALL {
        assert!(
            codes
                .as_array()
                .unwrap()
                .iter()
                .any(|code| code == refusal.code()),
            "{} is sent but not documented",
            refusal.code()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_in_its_documented_shape() {
    let doc = document();
    let api = Api::start(2).await;
    let _deploy = api.request("deploy");
    let id = api.pending(1).await.remove(0);
    let fingerprint = api.seen_fingerprint(&id, ALICE_TOKEN).await;

    let mut seen = BTreeSet::new();
    let mut call =
        async |method: &str, template: &str, token: Option<&str>, body: Option<Value>| {
            let path = template.replace("{id}", id.as_str());
            // A vote names the fingerprint its voter saw.
            let body = match body {
                None if method == "POST" => Some(json!({ "fingerprint": fingerprint })),
                Some(Value::Object(mut fields)) if !fields.contains_key("fingerprint") => {
                    fields.insert("fingerprint".to_owned(), json!(fingerprint));
                    Some(Value::Object(fields))
                }
                other => other,
            };
            let (status, answer) = match method {
                "GET" => api.get(&path, token).await,
                _ => api.post(&path, token, body).await,
            };
            assert_ne!(
                status, 405,
                "{method} {template} is documented but not routed"
            );
            conforms(&doc, method, template, status, &answer);
            seen.insert((method.to_owned(), template.to_owned()));
            (status, answer)
        };

    // The successful shapes, on a request with a vote so far.
    assert_eq!(
        call("GET", "/v1/requests", Some(ALICE_TOKEN), None).await.0,
        200
    );
    assert_eq!(
        call("POST", "/v1/requests/{id}/approve", Some(ALICE_TOKEN), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call("GET", "/v1/requests", Some(ALICE_TOKEN), None).await.0,
        200
    );
    assert_eq!(
        call("GET", "/v1/requests/{id}", Some(BOB_TOKEN), None)
            .await
            .0,
        200
    );
    assert_eq!(call("GET", "/v1/openapi.json", None, None).await.0, 200);
    // Errors.
    assert_eq!(call("GET", "/v1/requests", None, None).await.0, 401);
    assert_eq!(
        call("GET", "/v1/requests/{id}", Some("bad"), None).await.0,
        401
    );
    assert_eq!(
        call("POST", "/v1/requests/{id}/approve", Some(AGENT_TOKEN), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(
            "POST",
            "/v1/requests/{id}/approve",
            Some(MALLORY_TOKEN),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call("POST", "/v1/requests/{id}/approve", Some(ALICE_TOKEN), None)
            .await
            .0,
        409
    );
    assert_eq!(
        call(
            "POST",
            "/v1/requests/{id}/deny",
            Some(BOB_TOKEN),
            Some(json!({"why": 1}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        call(
            "POST",
            "/v1/requests/{id}/deny",
            Some(BOB_TOKEN),
            Some(json!({"reason": "x".repeat(5000)}))
        )
        .await
        .0,
        422
    );
    // This call takes no edits, and gave no schema.
    assert_eq!(
        call(
            "POST",
            "/v1/requests/{id}/edit",
            Some(BOB_TOKEN),
            Some(json!({"changes": {"replicas": 1}}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call("GET", "/v1/requests/{id}/schema", Some(BOB_TOKEN), None)
            .await
            .0,
        404
    );
    // The deny that ends it, with the concluded shapes.
    assert_eq!(
        call(
            "POST",
            "/v1/requests/{id}/deny",
            Some(BOB_TOKEN),
            Some(json!({"reason": "no"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call("GET", "/v1/requests/{id}", Some(BOB_TOKEN), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call("POST", "/v1/requests/{id}/deny", Some(ALICE_TOKEN), None)
            .await
            .0,
        409
    );
    // An editable call: its schema, an accepted edit and a refused one.
    let _editable = api.editable_request("scale");
    let editable = api.pending_for("scale").await;
    let seen_version = api.seen_fingerprint(&editable, BOB_TOKEN).await;
    let path = |suffix: &str| format!("/v1/requests/{editable}{suffix}");
    let (status, schema) = api.get(&path("/schema"), Some(BOB_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(schema.is_object());
    seen.insert(("GET".to_owned(), "/v1/requests/{id}/schema".to_owned()));
    let (status, refused) = api
        .post(
            &path("/edit"),
            Some(BOB_TOKEN),
            Some(json!({"fingerprint": seen_version, "changes": {"replicas": "many"}})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    conforms(&doc, "POST", "/v1/requests/{id}/edit", status, &refused);
    let (status, accepted) = api
        .post(
            &path("/edit"),
            Some(BOB_TOKEN),
            Some(json!({"fingerprint": seen_version, "changes": {"replicas": 1}})),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    conforms(&doc, "POST", "/v1/requests/{id}/edit", status, &accepted);
    let (status, view) = api.get(&path(""), Some(BOB_TOKEN)).await;
    conforms(&doc, "GET", "/v1/requests/{id}", status, &view);
    assert_eq!(view["version"], 2);

    assert_eq!(
        seen,
        documented_operations(&doc),
        "every documented operation was called"
    );

    // A reason-required deny, and unknown ids.
    let _purge = api.request("purge");
    let purge = api.pending_for("purge").await;
    let path = format!("/v1/requests/{purge}/deny");
    let seen = api.seen_fingerprint(&purge, BOB_TOKEN).await;
    let (status, answer) = api
        .post(&path, Some(BOB_TOKEN), Some(json!({ "fingerprint": seen })))
        .await;
    assert_eq!(status, 422);
    conforms(&doc, "POST", "/v1/requests/{id}/deny", status, &answer);
    for (method, template) in [
        ("GET", "/v1/requests/{id}"),
        ("POST", "/v1/requests/{id}/approve"),
    ] {
        let path = template.replace("{id}", "no-such-request");
        let (status, answer) = match method {
            "GET" => api.get(&path, Some(ALICE_TOKEN)).await,
            _ => {
                let body = json!({ "fingerprint": "ab".repeat(32) });
                api.post(&path, Some(ALICE_TOKEN), Some(body)).await
            }
        };
        assert_eq!(status, 404);
        conforms(&doc, method, template, status, &answer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undocumented_methods_and_paths_are_refused() {
    let doc = document();
    let api = Api::start(1).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = api.server.url(&path.replace("{id}", "some-id"));
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if item.get(method.to_lowercase()).is_some() {
                continue;
            }
            let answer = api
                .client
                .request(method.parse().unwrap(), &concrete)
                .bearer_auth(ALICE_TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 405, "{method} {path}");
            let body: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "method_not_allowed");
        }
    }
    let (status, body) = api.get("/v1/elsewhere", Some(ALICE_TOKEN)).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
}

#[test]
fn the_shape_checker_catches_what_the_document_forbids() {
    let doc = document();
    let error = json!({"$ref": "#/components/schemas/Error"});
    assert!(
        check(
            &doc,
            &error,
            &json!({"error": {"code": "not_found", "message": "m"}}),
            ""
        )
        .is_ok()
    );
    for bad in [
        json!({"error": {"code": "no_such_code", "message": "m"}}),
        json!({"error": {"code": "not_found"}}),
        json!({"error": {"code": "not_found", "message": "m"}, "extra": 1}),
        json!({"error": "not_found"}),
    ] {
        assert!(check(&doc, &error, &bad, "").is_err(), "{bad}");
    }
    let receipt = json!({"$ref": "#/components/schemas/VoteReceipt"});
    let good = json!({"result": "counted", "request_id": "r", "approvals": 1,
                      "approved_by": ["a"], "quorum": 1,
                      "conclusion": {"outcome": "approved", "by": ["a"]}});
    assert!(check(&doc, &receipt, &good, "").is_ok());
    let mut bad = good.clone();
    bad["conclusion"] = json!({"outcome": "approved", "by": "a"});
    assert!(check(&doc, &receipt, &bad, "").is_err());
}
