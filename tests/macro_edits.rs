//! `#[approval(editable)]`: a reviewer's edit reaches the body of an
//! attributed function as the parameter's value, and only where both the
//! attribute and policy allow it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use approvals::audit::MemoryAudit;
use approvals::channel::Refusal;
use approvals::edit::EditOutcome;
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::testing::{MockChannel, QueueChannel};
use approvals::{Error, Gate, requires_approval};
use common::{AGENT, ALICE};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where a refund goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Destination {
    bucket: String,
    region: String,
}

/// Calls the body saw: (customer, amount, destination, note).
struct Ledger(Mutex<Vec<(String, u64, Destination, String)>>);

/// Refund a customer.
#[requires_approval(name = "billing.refund", approvers = ["alice@example.com"], timeout = "1m")]
async fn refund(
    customer: &str,
    #[approval(editable)] mut amount_cents: u64,
    #[approval(editable, rename = "to")] destination: Destination,
    #[approval(mask = "drop")] note: String,
    #[approval(skip)] ledger: &Ledger,
) -> Result<u64, Error> {
    amount_cents += 0;
    ledger
        .0
        .lock()
        .unwrap()
        .push((customer.to_owned(), amount_cents, destination, note));
    Ok(amount_cents)
}

fn policy(editable: Option<&[&str]>) -> Policy {
    let mut requirement = RequirementBuilder::new()
        .approvers([ALICE])
        .timeout(Duration::from_secs(60));
    if let Some(paths) = editable {
        requirement = requirement.editable(paths.iter().copied());
    }
    Policy::new().rule(
        Rule::new("refunds")
            .action("billing.refund")
            .require(requirement),
    )
}

fn destination() -> Destination {
    Destination {
        bucket: "prod".to_owned(),
        region: "eu".to_owned(),
    }
}

#[tokio::test]
async fn the_body_receives_the_edited_parameters_and_the_others_as_passed() {
    let mock =
        MockChannel::approve_with(json!({ "amount_cents": 42_000, "to": { "bucket": "staging" } }))
            .voting_as([ALICE]);
    let gate = Gate::builder()
        .policy(policy(None))
        .channel(mock.clone())
        .audit(MemoryAudit::new())
        .default_requester(AGENT)
        .build();
    let ledger = Ledger(Mutex::new(Vec::new()));
    let cents = approvals::scope(
        gate,
        refund(
            "c_42",
            420_000,
            destination(),
            "the customer called".to_owned(),
            &ledger,
        ),
    )
    .await
    .unwrap();
    assert_eq!(cents, 42_000);
    assert_eq!(
        mock.last_request().unwrap().editable,
        ["amount_cents", "to"]
    );
    let seen = ledger.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            "c_42".to_owned(),
            42_000,
            Destination {
                bucket: "staging".to_owned(),
                region: "eu".to_owned()
            },
            "the customer called".to_owned()
        )]
    );
}

#[tokio::test]
async fn parameters_not_declared_editable_cannot_change_whatever_policy_says() {
    let (channel, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(policy(Some(&["*"])))
        .channel(channel)
        .audit(MemoryAudit::new())
        .default_requester(AGENT)
        .build();
    let ledger = Ledger(Mutex::new(Vec::new()));
    let call = approvals::scope(
        gate,
        refund("c_42", 420_000, destination(), "n".to_owned(), &ledger),
    );
    let review = async {
        let review = inbox.next_request().await;
        // Policy says `*`, the attribute only two parameters.
        assert_eq!(review.editable, ["amount_cents", "to"]);
        let customer = inbox
            .approve_with(&review.id, ALICE, json!({ "customer": "c_1" }))
            .await
            .unwrap();
        assert_eq!(customer.refusal(), Some(Refusal::NotEditable));
        let wrong = inbox
            .approve_with(&review.id, ALICE, json!({ "amount_cents": -5 }))
            .await
            .unwrap();
        let EditOutcome::Refused {
            refusal: Refusal::InvalidEdit,
            problem: Some(problem),
        } = &wrong
        else {
            panic!("{wrong:?}");
        };
        assert_eq!(problem.path, "amount_cents");
        let nested = inbox
            .approve_with(&review.id, ALICE, json!({ "to": { "region": 7 } }))
            .await
            .unwrap();
        let EditOutcome::Refused {
            problem: Some(problem),
            ..
        } = &nested
        else {
            panic!("{nested:?}");
        };
        assert_eq!(problem.path, "to.region");
        inbox.approve(&review.id, ALICE).await.unwrap();
    };
    let (cents, ()) = tokio::join!(call, review);
    assert_eq!(cents.unwrap(), 420_000);
}
