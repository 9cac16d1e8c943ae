//! The bot's own calls: its token, and the Connector's failures.

use std::sync::atomic::Ordering;
use std::time::Duration;

use approvals_core::{ChannelError, Error};
use axum::http::StatusCode;

use crate::support::*;

fn scripted(status: StatusCode, retry_after: Option<&'static str>) -> Scripted {
    Scripted {
        status,
        retry_after,
    }
}

#[tokio::test]
async fn the_token_is_fetched_with_client_credentials_and_cached() {
    let bot = Bot::start(requirement()).await;
    let first = bot.request_export("agent:support-bot");
    let second = bot.request_export("agent:support-bot");
    let cards = bot.microsoft.wait_for("POST", 2).await;
    assert_eq!(bot.microsoft.tokens_issued(), 1);
    let requests = bot.microsoft.state.token_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["grant_type"], "client_credentials");
    assert_eq!(requests[0]["client_id"], APP_ID);
    assert_eq!(
        requests[0]["scope"],
        "https://api.botframework.com/.default"
    );

    for card in &cards {
        bot.click(card.card(), "approve", ALICE, None).await;
    }
    assert!(first.await.unwrap().is_ok());
    assert!(second.await.unwrap().is_ok());
    assert_eq!(
        bot.microsoft.tokens_issued(),
        1,
        "updates reuse the cached token"
    );
}

#[tokio::test]
async fn a_token_near_its_expiry_is_renewed() {
    let microsoft = Microsoft::start().await;
    // A token that lives no longer than its renewal margin is never reused.
    microsoft.state.token_lifetime.store(0, Ordering::SeqCst);
    let bot = Bot::start_with(microsoft, microsoft_config, requirement()).await;
    let _first = bot.request_export("agent:support-bot");
    bot.next_card(1).await;
    let _second = bot.request_export("agent:support-bot");
    bot.next_card(2).await;
    assert_eq!(bot.microsoft.tokens_issued(), 2);
}

#[tokio::test]
async fn a_refused_token_is_renewed_once() {
    let bot = Bot::start(requirement()).await;
    let first = bot.request_export("agent:support-bot");
    let card = bot.next_card(1).await;
    bot.click(card.card(), "approve", ALICE, None).await;
    assert!(first.await.unwrap().is_ok());
    assert_eq!(bot.microsoft.tokens_issued(), 1);

    // The Connector stops accepting the cached token: one new token, and the
    // card goes out.
    bot.microsoft.revoke_tokens();
    let second = bot.request_export("agent:support-bot");
    bot.next_card(2).await;
    assert_eq!(bot.microsoft.tokens_issued(), 2);
    second.abort();
}

#[tokio::test]
async fn a_connector_that_keeps_refusing_the_token_fails_the_request_closed() {
    let bot = Bot::start(requirement()).await;
    bot.microsoft.script([
        scripted(StatusCode::UNAUTHORIZED, None),
        scripted(StatusCode::UNAUTHORIZED, None),
    ]);
    let result = bot.request_export("agent:support-bot").await.unwrap();
    match result {
        Err(Error::Channel {
            source: ChannelError::Unavailable { message, .. },
            ..
        }) => {
            assert!(message.contains("refused the bot's token"), "{message}");
        }
        other => panic!("expected a channel failure, got {other:?}"),
    }
    assert_eq!(bot.microsoft.tokens_issued(), 2, "renewed once, not more");
}

#[tokio::test]
async fn rate_limits_are_waited_out_within_the_retry_budget() {
    let bot = Bot::start(requirement()).await;
    bot.microsoft.script([
        scripted(StatusCode::TOO_MANY_REQUESTS, Some("0")),
        scripted(StatusCode::TOO_MANY_REQUESTS, Some("1")),
        scripted(StatusCode::SERVICE_UNAVAILABLE, None),
    ]);
    let pending = bot.request_export("agent:support-bot");
    let card = bot.next_card(1).await;
    assert_eq!(bot.microsoft.state.refused_calls.load(Ordering::SeqCst), 3);
    bot.click(card.card(), "approve", ALICE, None).await;
    assert!(pending.await.unwrap().is_ok());
}

#[tokio::test]
async fn rate_limits_past_the_retry_budget_fail_the_request_closed() {
    let bot = Bot::start(requirement()).await;
    bot.microsoft
        .script((0..4).map(|_| scripted(StatusCode::TOO_MANY_REQUESTS, Some("0"))));
    let result = bot.request_export("agent:support-bot").await.unwrap();
    assert!(
        matches!(&result, Err(Error::Channel { source: ChannelError::Unavailable { message, .. }, .. }) if message.contains("rate limited")),
        "{result:?}"
    );
    assert_eq!(
        bot.microsoft.state.refused_calls.load(Ordering::SeqCst),
        4,
        "1 try + 3 retries"
    );
    assert!(bot.microsoft.calls().is_empty());
}

#[tokio::test]
async fn a_retry_after_longer_than_allowed_is_not_waited_for() {
    let bot = Bot::start(requirement()).await;
    // The fakes' configuration allows waits of up to 5 s.
    bot.microsoft
        .script([scripted(StatusCode::TOO_MANY_REQUESTS, Some("3600"))]);
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        bot.request_export("agent:support-bot"),
    )
    .await
    .expect("did not wait an hour")
    .unwrap();
    assert!(matches!(result, Err(Error::Channel { .. })), "{result:?}");
    assert_eq!(bot.microsoft.state.refused_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connector_error_is_typed_and_fails_the_request_closed() {
    let bot = Bot::start(requirement()).await;
    bot.microsoft
        .script([scripted(StatusCode::NOT_FOUND, None)]);
    let result = bot.request_export("agent:support-bot").await.unwrap();
    match result {
        Err(Error::Channel {
            source: ChannelError::Rejected { channel, message },
            ..
        }) => {
            assert_eq!(channel, "teams");
            assert!(
                message.contains("404") && message.contains("Scripted"),
                "{message}"
            );
        }
        other => panic!("expected a rejected delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_bot_credentials_fail_the_request_closed_without_leaking_the_secret() {
    let microsoft = Microsoft::start().await;
    let bot = Bot::start_with(
        microsoft,
        |microsoft| {
            approvals_backends::teams::TeamsConfig::new(
                APP_ID,
                "a-wrong-secret",
                TENANT,
                approvals_backends::teams::Conversation::new(microsoft.service_url(), CONVERSATION),
            )
            .authority(microsoft.base.clone())
            .openid_metadata_url(format!("{}/openid", microsoft.base))
        },
        requirement(),
    )
    .await;
    let result = bot.request_export("agent:support-bot").await.unwrap();
    let error = result.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Channel { .. }), "{error:?}");
    assert!(message.contains("invalid_client"), "{message}");
    assert!(!message.contains("a-wrong-secret"));
    assert!(!format!("{:?}", bot.teams).contains("a-wrong-secret"));
}
