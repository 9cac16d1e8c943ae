//! Full loops: a gated call posts a card, reviewers click, the gate decides,
//! the card is updated for everyone.

use std::time::Duration;

use approvals_core::Error;
use serde_json::{Value, json};

use crate::support::*;

fn error_code(answer: &Value) -> (&Value, &str) {
    assert_eq!(
        answer["type"], "application/vnd.microsoft.error",
        "{answer}"
    );
    (
        &answer["statusCode"],
        answer["value"]["code"].as_str().unwrap_or_default(),
    )
}

fn answered_card(answer: &Value) -> &Value {
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(
        answer["type"], "application/vnd.microsoft.card.adaptive",
        "{answer}"
    );
    &answer["value"]
}

#[tokio::test]
async fn an_approval_runs_the_call_and_updates_the_card() {
    let bot = Bot::start(requirement()).await;
    let pending = bot.request_export("agent:support-bot");
    let posted = bot.next_card(1).await;
    assert_eq!(posted.conversation, CONVERSATION);
    let card = posted.card();
    assert_eq!(card["version"], "1.5");
    assert_eq!(
        posted.body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let text = card_text(card);
    for shown in [
        "crm.export",
        "Export the customer table",
        "high",
        "agent:support-bot",
        "Justification",
        "customer_email",
    ] {
        assert!(text.contains(shown), "{shown} is not on the card");
    }
    // Only the masked view leaves the process.
    assert!(
        !text.contains("jane@example.com"),
        "raw argument on the card"
    );
    assert!(!posted.body.to_string().contains("jane@example.com"));
    assert!(has_buttons(card));

    let answer = bot.click(card, "approve", ALICE, None).await;
    let refreshed = answered_card(&answer);
    assert!(!has_buttons(refreshed));
    assert!(card_text(refreshed).contains("Approved"));
    assert!(card_text(refreshed).contains("alice@example.com"));

    assert_eq!(pending.await.unwrap().unwrap(), "exported");
    let updates = bot.microsoft.wait_for("PUT", 1).await;
    let last = updates.last().unwrap();
    assert_eq!(last.activity_id, posted.activity_id);
    assert!(!has_buttons(last.card()));
    let text = card_text(last.card());
    assert!(
        text.contains("Approved by") && text.contains("alice@example.com"),
        "{text}"
    );
    assert!(text.contains("Concluded at"));
    assert!(bot.teams.tracked().is_empty());
}

#[tokio::test]
async fn a_deny_needs_the_reason_policy_asks_for_and_shows_it() {
    let bot = Bot::start(requirement().deny_reason_required(true)).await;
    let pending = bot.request_export("agent:support-bot");
    let posted = bot.next_card(1).await;
    let input = posted.card()["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|block| block["type"] == "Input.Text")
        .unwrap()
        .clone();
    assert_eq!(input["isRequired"], true);

    let answer = bot.click(posted.card(), "deny", BOB, Some("   ")).await;
    assert_eq!(error_code(&answer), (&json!(422), "reason_required"));
    assert_eq!(
        answer["value"]["message"],
        "a reason is required to deny this request"
    );

    let answer = bot
        .click(posted.card(), "deny", BOB, Some("not during the freeze"))
        .await;
    let refreshed = answered_card(&answer);
    assert!(card_text(refreshed).contains("not during the freeze"));
    assert!(!has_buttons(refreshed));

    match pending.await.unwrap() {
        Err(Error::Denied { by, reason, .. }) => {
            assert_eq!(by.as_str(), "bob@example.com");
            assert_eq!(reason.as_deref(), Some("not during the freeze"));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    let updates = bot.microsoft.wait_for("PUT", 1).await;
    let text = card_text(updates.last().unwrap().card());
    assert!(
        text.contains("Denied by")
            && text.contains("bob@example.com")
            && text.contains("not during the freeze")
    );
}

#[tokio::test]
async fn an_expired_request_updates_the_card_and_refuses_late_clicks() {
    let bot = Bot::start(requirement().timeout(Duration::from_millis(300))).await;
    let pending = bot.request_export("agent:support-bot");
    let posted = bot.next_card(1).await;
    assert!(matches!(pending.await.unwrap(), Err(Error::Expired { .. })));

    let updates = bot.microsoft.wait_for("PUT", 1).await;
    let card = updates.last().unwrap().card();
    assert!(!has_buttons(card));
    assert!(card_text(card).contains("Expired"));

    let answer = bot.click(posted.card(), "approve", ALICE, None).await;
    assert_eq!(error_code(&answer), (&json!(409), "already_concluded"));
    assert_eq!(bot.microsoft.updates().len(), 1);
}

#[tokio::test]
async fn a_quorum_of_two_needs_two_people_and_shows_progress() {
    let bot = Bot::start(requirement().quorum(2)).await;
    let pending = bot.request_export("agent:support-bot");
    let posted = bot.next_card(1).await;

    let answer = bot.click(posted.card(), "approve", ALICE, None).await;
    let progress = answered_card(&answer);
    assert!(has_buttons(progress), "still open after one approval");
    assert!(card_text(progress).contains("1 of 2"));

    // Everyone sees the progress.
    let updates = bot.microsoft.wait_for("PUT", 1).await;
    assert!(card_text(updates[0].card()).contains("1 of 2"));
    assert!(has_buttons(updates[0].card()));

    let again = bot.click(posted.card(), "approve", ALICE, None).await;
    assert_eq!(error_code(&again), (&json!(409), "already_voted"));
    assert!(!pending.is_finished());

    let answer = bot.click(posted.card(), "approve", BOB, None).await;
    let done = answered_card(&answer);
    assert!(!has_buttons(done));
    assert!(card_text(done).contains("alice@example.com, bob@example.com"));
    assert_eq!(pending.await.unwrap().unwrap(), "exported");

    let updates = bot.microsoft.wait_for("PUT", 2).await;
    let last = updates.last().unwrap().card();
    assert!(!has_buttons(last), "the final card is the last update");
    assert!(card_text(last).contains("alice@example.com, bob@example.com"));
}

/// Two replicas on one store: the card replica A posted is updated by
/// replica B, where the clicks landed and the request concluded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_on_another_replica_update_the_card_it_did_not_post() {
    use approvals_core::store::{MemoryStore, Store};

    let store = MemoryStore::new();
    let a = Bot::start_on(
        Microsoft::start().await,
        microsoft_config,
        requirement().quorum(2),
        Some(store.clone()),
    )
    .await;
    let b = Bot::start_on(
        a.microsoft.twin(),
        microsoft_config,
        requirement().quorum(2),
        Some(store.clone()),
    )
    .await;
    let pending = a.request_export("agent:support-bot");
    let posted = a.next_card(1).await;
    // A stores the card's activity id once the Connector has answered.
    let id = store.pending(1).await.unwrap().remove(0).review.id;
    for _ in 0..500 {
        if store
            .load(&id)
            .await
            .unwrap()
            .unwrap()
            .state
            .receipts
            .contains_key("teams")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let answer = b.click(posted.card(), "approve", ALICE, None).await;
    assert!(card_text(answered_card(&answer)).contains("1 of 2"));
    let updates = a.microsoft.wait_for("PUT", 1).await;
    assert!(
        card_text(updates[0].card()).contains("1 of 2"),
        "B updated A's card"
    );

    b.click(posted.card(), "approve", BOB, None).await;
    assert_eq!(pending.await.unwrap().unwrap(), "exported");
    let updates = a.microsoft.wait_for("PUT", 2).await;
    let last = updates.last().unwrap().card();
    assert!(!has_buttons(last), "the final card is the last update");
    assert!(card_text(last).contains("alice@example.com, bob@example.com"));
    assert_eq!(a.microsoft.wait_for("POST", 1).await.len(), 1, "one card");
}

#[tokio::test]
async fn self_approval_and_ineligible_voters_are_refused_with_the_reason() {
    let bot = Bot::start(requirement()).await;
    // Carol is an approver, but this is her own request.
    let pending = bot.request_export("carol@example.com");
    let posted = bot.next_card(1).await;

    let answer = bot.click(posted.card(), "approve", CAROL, None).await;
    assert_eq!(error_code(&answer), (&json!(403), "self_approval"));
    assert_eq!(
        answer["value"]["message"],
        "you cannot approve or deny your own request"
    );

    let answer = bot.click(posted.card(), "approve", MALLORY, None).await;
    assert_eq!(error_code(&answer), (&json!(403), "not_eligible"));

    let answer = bot
        .click(posted.card(), "approve", "aad-stranger", None)
        .await;
    assert_eq!(error_code(&answer), (&json!(403), "UnknownUser"));

    let mut tampered = posted.card().clone();
    let wrong = "0".repeat(64);
    for action in tampered["body"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(|b| b["type"] == "ActionSet")
    {
        action["actions"][0]["data"]["fingerprint"] = json!(wrong);
    }
    let answer = bot.click(&tampered, "approve", ALICE, None).await;
    assert_eq!(error_code(&answer), (&json!(409), "fingerprint_mismatch"));

    assert!(!pending.is_finished());
    // Refused votes are recorded, and nothing was decided.
    assert_eq!(bot.votes_recorded(), 3);
    assert!(bot.microsoft.updates().is_empty());

    let answer = bot.click(posted.card(), "approve", ALICE, None).await;
    answered_card(&answer);
    assert_eq!(pending.await.unwrap().unwrap(), "exported");
}

#[tokio::test]
async fn a_click_on_something_that_is_not_an_approval_card_is_a_bad_request() {
    let bot = Bot::start(requirement()).await;
    let pending = bot.request_export("agent:support-bot");
    let posted = bot.next_card(1).await;
    let service_url = bot.microsoft.service_url();

    let mut activity = click(&service_url, posted.card(), "escalate", ALICE, None);
    let (_, answer) = bot
        .post(
            Some(&bot_token(&claims(&service_url))),
            activity.to_string(),
        )
        .await;
    assert_eq!(error_code(&answer), (&json!(400), "BadRequest"));

    activity["value"]["action"]["data"] = json!({"something": "else"});
    activity["value"]["action"]["verb"] = json!("approve");
    let (_, answer) = bot
        .post(
            Some(&bot_token(&claims(&service_url))),
            activity.to_string(),
        )
        .await;
    assert_eq!(error_code(&answer), (&json!(400), "BadRequest"));
    assert_eq!(bot.votes_recorded(), 0);
    pending.abort();
}
