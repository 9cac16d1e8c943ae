//! Every request to the bot is authenticated; a request that fails any check
//! is turned away and decides nothing.

use std::time::Duration;

use approvals_core::audit::AuditEventKind;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::*;

fn unsigned(header: Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

#[tokio::test]
async fn requests_that_fail_authentication_are_rejected_and_decide_nothing() {
    let bot = Bot::start(requirement()).await;
    let pending = bot.request_export("agent:support-bot");
    let card = bot.next_card(1).await;
    let service_url = bot.microsoft.service_url();
    let genuine = claims(&service_url);
    let approve = click(&service_url, card.card(), "approve", ALICE, None);
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-a".into());
        jsonwebtoken::encode(
            &header,
            &genuine,
            &EncodingKey::from_secret(KEY_A_N.trim().as_bytes()),
        )
        .unwrap()
    };

    let cases: Vec<(&str, Option<String>, String, StatusCode)> = vec![
        (
            "wrong issuer",
            Some(bot_token(&with(
                genuine.clone(),
                json!({"iss": "https://sts.windows.net/evil/"}),
            ))),
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong audience",
            Some(bot_token(&with(
                genuine.clone(),
                json!({"aud": "another-bot"}),
            ))),
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "expired",
            Some(bot_token(&with(
                genuine.clone(),
                json!({"exp": now() - 600, "nbf": now() - 4000}),
            ))),
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "not yet valid",
            Some(bot_token(&with(
                genuine.clone(),
                json!({"nbf": now() + 600}),
            ))),
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bad signature",
            Some(sign(Algorithm::RS256, "key-a", KEY_B_PEM, &genuine)),
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "alg none",
            Some(unsigned(
                json!({"alg": "none", "kid": "key-a"}),
                &genuine,
                "",
            )),
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "HS256 keyed with the public key",
            Some(hs256),
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown kid",
            Some(sign(Algorithm::RS256, "key-unknown", KEY_A_PEM, &genuine)),
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "serviceurl claim for another service",
            Some(bot_token(&with(
                genuine.clone(),
                json!({"serviceurl": "https://evil.example/"}),
            ))),
            approve.to_string(),
            StatusCode::FORBIDDEN,
        ),
        (
            "no serviceurl claim",
            Some(bot_token(&with(
                genuine.clone(),
                json!({"serviceurl": null}),
            ))),
            approve.to_string(),
            StatusCode::FORBIDDEN,
        ),
        (
            "activity from another serviceUrl than the token's",
            Some(bot_token(&genuine)),
            click("https://evil.example/", card.card(), "approve", ALICE, None).to_string(),
            StatusCode::FORBIDDEN,
        ),
        (
            "channel the key does not endorse",
            Some(bot_token(&genuine)),
            with(approve.clone(), json!({"channelId": "webchat"})).to_string(),
            StatusCode::FORBIDDEN,
        ),
        (
            "missing header",
            None,
            approve.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "malformed activity JSON",
            Some(bot_token(&genuine)),
            "{\"type\": \"invoke\", \"name\": ".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "JSON that is not an activity",
            Some(bot_token(&genuine)),
            json!({"hello": "world"}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (case, token, body, expected) in cases {
        let (status, answer) = bot.post(token.as_deref(), body).await;
        assert_eq!(status, expected, "{case}: {answer}");
        assert!(answer["error"].is_string(), "{case}: {answer}");
        assert_eq!(bot.votes_recorded(), 0, "{case} decided something");
    }
    assert_eq!(bot.gate.votes().pending().len(), 1);
    assert!(bot.microsoft.updates().is_empty());

    // A scheme other than Bearer is no token either.
    let response = bot
        .http
        .post(&bot.url)
        .header("authorization", format!("Basic {}", bot_token(&genuine)))
        .body(approve.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer"
    );

    // The same click, genuinely signed, counts.
    let answer = bot.click(card.card(), "approve", ALICE, None).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(pending.await.unwrap().unwrap(), "exported");
    assert_eq!(bot.audit.of_kind(AuditEventKind::Vote).len(), 1);
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_does_not_hammer_the_key_endpoint() {
    let bot = Bot::start(requirement()).await;
    let service_url = bot.microsoft.service_url();
    let genuine = claims(&service_url);
    let activity =
        json!({"type": "message", "serviceUrl": service_url, "channelId": "msteams"}).to_string();
    for attempt in 0..100 {
        let forged = unsigned(
            json!({"alg": "RS256", "kid": format!("rotated-{attempt}")}),
            &genuine,
            "c2lnbmF0dXJl",
        );
        let (status, _) = bot.post(Some(&forged), activity.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        bot.microsoft.key_fetches(),
        1,
        "one fetch for 100 forged tokens"
    );
    let (status, _) = bot.post(Some(&bot_token(&genuine)), activity).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bot.microsoft.key_fetches(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_after_the_refresh_interval() {
    let microsoft = Microsoft::start().await;
    let bot = Bot::start_with(
        microsoft,
        |microsoft| microsoft.config().key_refresh_interval(Duration::ZERO),
        requirement(),
    )
    .await;
    let service_url = bot.microsoft.service_url();
    let activity =
        json!({"type": "message", "serviceUrl": service_url, "channelId": "msteams"}).to_string();
    let (status, _) = bot
        .post(Some(&bot_token(&claims(&service_url))), activity.clone())
        .await;
    assert_eq!(status, StatusCode::OK);

    // Microsoft rotates to key b.
    bot.microsoft.provider.publish(json!({"keys": [
        jwk("key-b", KEY_B_N, json!({"endorsements": ["msteams"]})),
    ]}));
    let rotated = sign(Algorithm::RS256, "key-b", KEY_B_PEM, &claims(&service_url));
    let (status, _) = bot.post(Some(&rotated), activity).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bot.microsoft.key_fetches(), 2);
}

#[tokio::test]
async fn the_handler_works_without_a_web_framework() {
    let bot = Bot::start(requirement()).await;
    let endpoint = bot.teams.inbound();
    let service_url = bot.microsoft.service_url();
    let body = json!({
        "type": "conversationUpdate",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "conversation": {"id": "19:new-channel@thread.tacv2", "tenantId": TENANT},
    })
    .to_string();

    let get = http::Request::get("/api/messages")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(endpoint.handle(get).await.status(), 405);

    let anonymous = http::Request::post("/api/messages")
        .body(Bytes::from(body.clone()))
        .unwrap();
    assert_eq!(endpoint.handle(anonymous).await.status(), 401);
    assert!(endpoint.recent_conversations().is_empty());

    let signed = http::Request::post("/api/messages")
        .header(
            "authorization",
            format!("Bearer {}", bot_token(&claims(&service_url))),
        )
        .body(Bytes::from(body))
        .unwrap();
    assert_eq!(endpoint.handle(signed).await.status(), 200);
    let seen = endpoint.recent_conversations();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].conversation_id, "19:new-channel@thread.tacv2");
    assert_eq!(seen[0].service_url, service_url);
}
