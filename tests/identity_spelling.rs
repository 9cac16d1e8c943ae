//! Regression tests for self-approval through another spelling of one's own
//! identity: a zero-width space, a byte-order mark, fullwidth letters,
//! `mailto:`, a trailing dot on the domain, or a decomposed accent used to
//! make one person two in the gate's eyes.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use approvals::audit::MemoryAudit;
use approvals::channel::{Channel, Refusal};
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::testing::{MockChannel, QueueChannel};
use approvals::{ActionRequest, Error, Gate, Identity};
use common::BOB;

const MINUTE: Duration = Duration::from_secs(60);

/// Every action needs one approval from the `admins` group.
fn admins(members: &[&str]) -> Policy {
    Policy::new().group("admins", members.iter().copied()).rule(
        Rule::new("gated").action("*").require(
            RequirementBuilder::new()
                .approvers(["group:admins"])
                .timeout(MINUTE),
        ),
    )
}

fn gate_with(policy: Policy, approver: impl Channel + 'static) -> Gate {
    Gate::builder()
        .policy(policy)
        .channel(approver)
        .audit(MemoryAudit::new())
        .build()
}

fn request(requester: &str) -> ActionRequest<serde_json::Value> {
    ActionRequest::new("billing.refund", serde_json::json!({ "cents": 100 })).requester(requester)
}

/// Asks for approval as `requester`, votes as `voter`, and says whether the
/// vote was refused as a self-approval; the body must not have run.
async fn self_approval_is_refused(policy: Policy, requester: &str, voter: &str) {
    let (approver, inbox) = QueueChannel::new();
    let gate = gate_with(policy, approver);
    let runs = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn({
        let (gate, runs, request) = (gate.clone(), Arc::clone(&runs), request(requester));
        async move {
            gate.run(request, |_| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(())
            })
            .await
        }
    });
    let pending = inbox.next_request().await;
    let outcome = inbox.approve(&pending.id, voter).await.unwrap();
    assert_eq!(
        outcome.refusal(),
        Some(Refusal::SelfApproval),
        "requester {requester:?} approving as {voter:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // The request is still pending: someone else can still decide.
    assert!(inbox.approve(&pending.id, BOB).await.unwrap().counted());
    task.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_requester_cannot_approve_their_own_request_as_a_zero_width_spelling() {
    // The approvers list holds the spelling with a zero-width space (as a
    // directory sync might write it); the requester is the plain address.
    self_approval_is_refused(
        admins(&["alice@example.com\u{200B}", BOB]),
        "alice@example.com",
        "alice@example.com\u{200B}",
    )
    .await;
}

#[tokio::test]
async fn a_requester_spelled_with_a_zero_width_space_cannot_approve_as_the_plain_address() {
    self_approval_is_refused(
        admins(&["alice@example.com", BOB]),
        "alice@example.com\u{200B}",
        "alice@example.com",
    )
    .await;
}

#[tokio::test]
async fn no_other_spelling_of_the_requester_can_approve() {
    for spelling in [
        "\u{FEFF}alice@example.com",
        "ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ",
        "mailto:alice@example.com",
        "MAILTO:Alice@Example.com",
        "alice@example.com.",
        "al\u{AD}ice@example.com",
        "alice\u{200D}@example.com",
    ] {
        self_approval_is_refused(
            admins(&["alice@example.com", BOB]),
            spelling,
            "alice@example.com",
        )
        .await;
        self_approval_is_refused(admins(&[spelling, BOB]), "alice@example.com", spelling).await;
    }
    // `josé` composed (NFC) and decomposed (NFD).
    self_approval_is_refused(
        admins(&["jos\u{E9}@example.com", BOB]),
        "jose\u{301}@example.com",
        "jos\u{E9}@example.com",
    )
    .await;
}

#[tokio::test]
async fn a_requester_that_is_not_an_identity_fails_closed() {
    let approver = MockChannel::approve_all().voting_as(["alice@example.com", BOB]);
    let gate = gate_with(admins(&["alice@example.com", BOB]), approver.clone());
    for requester in [
        "alice@example.com\u{202E}",
        "\u{2066}alice",
        "alice\u{0}",
        "\u{200B}",
    ] {
        let result = gate
            .run(request(requester), |_| async { Ok::<_, Error>(()) })
            .await;
        assert!(matches!(result, Err(Error::NoRequester)), "{requester:?}");
    }
    approver.assert_not_asked();
}

#[tokio::test]
async fn a_voter_that_is_not_an_identity_never_counts() {
    let (approver, inbox) = QueueChannel::new();
    let gate = gate_with(admins(&["alice@example.com", BOB]), approver);
    let task = tokio::spawn({
        let gate = gate.clone();
        async move {
            gate.run(request("agent:ops-bot"), |_| async { Ok::<_, Error>(()) })
                .await
        }
    });
    let pending = inbox.next_request().await;
    for voter in [
        "alice@example.com\u{202E}",
        "\u{200F}bob@example.com",
        "",
        "\u{FEFF}",
    ] {
        let outcome = inbox.approve(&pending.id, voter).await.unwrap();
        assert_eq!(outcome.refusal(), Some(Refusal::NotEligible), "{voter:?}");
    }
    assert!(inbox.approve(&pending.id, BOB).await.unwrap().counted());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_group_member_that_is_not_an_identity_fails_the_call_closed() {
    // Not validated on purpose: evaluation must still refuse the member,
    // or a vote cast as the empty identity would count.
    let approver = MockChannel::approve_all().voting_as([Identity::new("\u{202E}")]);
    let gate = gate_with(admins(&["bob\u{202E}@example.com"]), approver.clone());
    let result = gate
        .run(request("agent:ops-bot"), |_| async { Ok::<_, Error>(()) })
        .await;
    assert!(matches!(result, Err(Error::Policy(_))), "{result:?}");
    approver.assert_not_asked();
    assert!(admins(&["bob\u{202E}@example.com"]).validate().is_err());
    assert!(Policy::from_toml_str("[groups]\nadmins = [\"bob\\u202E@example.com\"]\n").is_err());
}
