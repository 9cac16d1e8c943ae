//! Approve with edits on Teams: the card's edit inputs, the
//! `approve_with_edits` invoke (JWT-verified like every other), the gate's
//! judgement, and the card of the new version.

use approvals_core::audit::AuditEventKind;
use approvals_core::policy::RequirementBuilder;
use approvals_core::{ActionRequest, Error, Refusal, RequestId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// An export whose arguments have a type, so that the gate can check an
/// edit against it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Export {
    table: String,
    rows: u32,
    customer_email: String,
}

fn two_of(editable: &[&str]) -> RequirementBuilder {
    requirement().quorum(2).editable(editable.iter().copied())
}

/// Asks for an export that reviewers may edit; the call answers the rows
/// it ran with.
fn request_export(bot: &Bot) -> tokio::task::JoinHandle<Result<u32, Error>> {
    let gate = bot.gate.clone();
    let request = ActionRequest::new(
        "crm.export",
        Export {
            table: "customers".to_owned(),
            rows: 100,
            customer_email: "jane@example.com".to_owned(),
        },
    )
    .requester("agent:support-bot")
    .editable(["*"]);
    tokio::spawn(async move {
        gate.run(request, |export: Export| async move {
            Ok::<_, Error>(export.rows)
        })
        .await
    })
}

/// The card's input with id `id`.
fn input<'a>(card: &'a Value, id: &str) -> Option<&'a Value> {
    card["body"]
        .as_array()?
        .iter()
        .find(|block| block["type"] == "Input.Text" && block["id"] == id)
}

/// The card's action with `verb`.
fn action<'a>(card: &'a Value, verb: &str) -> Option<&'a Value> {
    card["body"]
        .as_array()?
        .iter()
        .filter(|block| block["type"] == "ActionSet")
        .flat_map(|block| block["actions"].as_array().into_iter().flatten())
        .find(|action| action["verb"] == verb)
}

/// The invoke Teams sends when `aad_object_id` clicks "Approve with edits"
/// on `card` with `inputs` typed (Teams adds the inputs to the data).
fn edit_click(bot: &Bot, card: &Value, aad_object_id: &str, inputs: &[(&str, &str)]) -> Value {
    let mut activity = click(
        &bot.microsoft.service_url(),
        card,
        "approve_with_edits",
        aad_object_id,
        None,
    );
    let data = &mut activity["value"]["action"]["data"];
    for (id, value) in inputs {
        data[*id] = json!(value);
    }
    activity
}

async fn send(bot: &Bot, activity: &Value) -> Value {
    let service_url = bot.microsoft.service_url();
    let (status, answer) = bot
        .post(
            Some(&bot_token(&claims(&service_url))),
            activity.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

fn pending_version(bot: &Bot, id: &RequestId) -> u32 {
    bot.gate.votes().pending_request(id).unwrap().version
}

fn request_id(card: &Value) -> RequestId {
    RequestId::from_string(card_data(card)["requestId"].as_str().unwrap())
}

#[tokio::test]
async fn an_accepted_edit_refreshes_the_card_and_later_votes_name_the_new_fingerprint() {
    let bot = Bot::start(two_of(&["*"])).await;
    let pending = request_export(&bot);
    let posted = bot.next_card(1).await;
    let card = posted.card();
    let id = request_id(card);

    let rows = input(card, "edit.rows").expect("an input for `rows`");
    assert_eq!(rows["value"], "100");
    assert_eq!(input(card, "edit.table").unwrap()["value"], "customers");
    // The email is masked: its input starts empty, saying so.
    let email = input(card, "edit.customer_email").expect("an input for `customer_email`");
    assert!(email.get("value").is_none(), "{email}");
    assert_eq!(
        email["placeholder"],
        "masked: enter a new value to replace it"
    );
    let with_edits = action(card, "approve_with_edits").expect("an Approve with edits action");
    assert_eq!(with_edits["type"], "Action.Execute");
    assert_eq!(with_edits["data"], card_data(card));
    assert!(!posted.body.to_string().contains("jane@example.com"));

    // Teams sends every input; only `rows` changed.
    let answer = send(
        &bot,
        &edit_click(
            &bot,
            card,
            ALICE,
            &[
                ("edit.table", "customers"),
                ("edit.rows", "250"),
                ("edit.customer_email", ""),
            ],
        ),
    )
    .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let refreshed = &answer["value"];
    let revised = bot.gate.votes().pending_request(&id).unwrap();
    assert_eq!(revised.version, 2);
    assert_eq!(
        card_data(refreshed)["fingerprint"],
        revised.fingerprint.to_hex()
    );
    assert_eq!(input(refreshed, "edit.rows").unwrap()["value"], "250");
    assert!(card_text(refreshed).contains("alice@example.com"));

    // Everyone's card shows version 2 with its fingerprint, then the
    // editor's approval of it.
    let updates = bot.microsoft.wait_for("PUT", 2).await;
    let latest = updates.last().unwrap().card().clone();
    assert!(card_text(&latest).contains("alice@example.com"));
    assert_eq!(updates[0].activity_id, posted.activity_id);
    assert_eq!(
        card_data(&latest)["fingerprint"],
        revised.fingerprint.to_hex()
    );
    assert!(card_text(&latest).contains("edited by a reviewer"));

    // The old card names version 1: refused.
    let stale = bot.click(card, "approve", BOB, None).await;
    assert_eq!(stale["statusCode"], 409, "{stale}");
    assert_eq!(stale["value"]["code"], Refusal::FingerprintMismatch.code());
    // The updated card counts, and concludes with the editor's approval.
    let answer = bot.click(&latest, "approve", BOB, None).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(
        pending.await.unwrap().unwrap(),
        250,
        "the body ran as edited"
    );
}

#[tokio::test]
async fn a_refused_edit_is_answered_with_the_gates_words_and_changes_nothing() {
    let bot = Bot::start(two_of(&["rows"])).await;
    let pending = request_export(&bot);
    let posted = bot.next_card(1).await;
    let card = posted.card();
    let id = request_id(card);
    assert!(input(card, "edit.rows").is_some());
    assert!(
        input(card, "edit.table").is_none(),
        "only editable fields are offered"
    );

    // Of the wrong type: the field and the kind of problem, not the value.
    let answer = send(
        &bot,
        &edit_click(&bot, card, ALICE, &[("edit.rows", "many")]),
    )
    .await;
    assert_eq!(
        answer["type"], "application/vnd.microsoft.error",
        "{answer}"
    );
    assert_eq!(answer["statusCode"], 422);
    assert_eq!(answer["value"]["code"], Refusal::InvalidEdit.code());
    let message = answer["value"]["message"].as_str().unwrap();
    assert!(message.contains("`rows`"), "{message}");
    assert!(!message.contains("many"), "{message}");

    // A field policy does not let change.
    let answer = send(
        &bot,
        &edit_click(&bot, card, ALICE, &[("edit.table", "orders")]),
    )
    .await;
    assert_eq!(answer["statusCode"], 403, "{answer}");
    assert_eq!(answer["value"]["code"], Refusal::NotEditable.code());

    // A user the directory does not know is refused before the gate.
    let answer = send(
        &bot,
        &edit_click(&bot, card, "aad-stranger", &[("edit.rows", "1")]),
    )
    .await;
    assert_eq!(answer["value"]["code"], "UnknownUser", "{answer}");

    assert_eq!(pending_version(&bot, &id), 1);
    assert!(
        bot.microsoft
            .calls()
            .iter()
            .all(|call| call.method != "PUT")
    );
    assert_eq!(bot.audit.of_kind(AuditEventKind::Edited).len(), 2);

    bot.click(card, "approve", ALICE, None).await;
    bot.click(card, "approve", BOB, None).await;
    assert_eq!(
        pending.await.unwrap().unwrap(),
        100,
        "the body ran as asked"
    );
}

#[tokio::test]
async fn an_unauthenticated_edit_is_refused_and_reaches_no_gate() {
    let bot = Bot::start(two_of(&["*"])).await;
    let pending = request_export(&bot);
    let posted = bot.next_card(1).await;
    let card = posted.card();
    let id = request_id(card);
    let activity = edit_click(&bot, card, ALICE, &[("edit.rows", "5000")]);

    let (status, _) = bot.post(None, activity.to_string()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut wrong_audience = claims(&bot.microsoft.service_url());
    wrong_audience["aud"] = json!("someone-else");
    let (status, _) = bot
        .post(Some(&bot_token(&wrong_audience)), activity.to_string())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert!(bot.audit.of_kind(AuditEventKind::Edited).is_empty());
    assert_eq!(pending_version(&bot, &id), 1);
    bot.click(card, "approve", ALICE, None).await;
    bot.click(card, "approve", BOB, None).await;
    assert_eq!(pending.await.unwrap().unwrap(), 100);
}
