//! The scenarios, written once for every channel.
//!
//! Each builds the same gate (one policy, a `MemoryAudit`) with the channel
//! under test and a `QueueChannel` as a second channel, asks for one call,
//! votes through the channel under test, and checks what the voter was
//! shown and what the audit trail recorded.

use std::time::Duration;

use approvals_backends::testing::{QueueChannel, QueueHandle};
use approvals_core::audit::{AuditEvent, AuditEventKind, MemoryAudit};
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::{
    ActionRequest, Choice, Error, Fingerprint, Gate, Identity, MAX_REASON_CHARS, Refusal, RequestId,
};
use tokio::task::JoinHandle;

use crate::{
    ALICE, Answer, BOB, CAROL, ChannelUnderTest, MALLORY, REQUESTER, REVIEWERS, Scenario, Target,
    another_calls_fingerprint, eventually, unknown_id,
};

/// How the policy treats the scenario's call.
#[derive(Debug, Clone, Copy, Default)]
struct Setup {
    /// Approvals needed (at least one).
    quorum: u32,
    /// Whether a deny needs a reason.
    deny_reason_required: bool,
    /// Whether the request escalates to Carol soon after it is made.
    escalates: bool,
    /// Whether reviewers may change `replicas`.
    editable: bool,
}

/// One vote record of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VoteRecord {
    request_id: RequestId,
    voter: Identity,
    channel: String,
    fingerprint: Fingerprint,
    counted: bool,
    refusal: Option<Refusal>,
}

/// A gate with the channel under test and a queue as a second channel.
struct Harness<C> {
    channel: C,
    gate: Gate,
    audit: MemoryAudit,
    /// The other channel's handle.
    other: QueueHandle,
    /// Whether the call is declared editable.
    editable: bool,
}

impl<C: ChannelUnderTest> Harness<C> {
    async fn start(setup: Setup) -> Self {
        let (channel, delivering) = C::start(&REVIEWERS).await;
        let mut requirement = RequirementBuilder::new()
            .approvers([ALICE, BOB])
            .quorum(setup.quorum.max(1))
            .deny_reason_required(setup.deny_reason_required)
            .timeout(Duration::from_secs(60));
        if setup.escalates {
            requirement = requirement.escalate_after(Duration::from_millis(300), [CAROL]);
        }
        if setup.editable {
            requirement = requirement.editable(["replicas"]);
        }
        let (queue, other) = QueueChannel::new();
        let audit = MemoryAudit::new();
        let mut builder = Gate::builder().policy(
            Policy::new().rule(
                Rule::new("deploys need review")
                    .action("deploy")
                    .require(requirement),
            ),
        );
        for delivering in delivering {
            builder = builder.channel(delivering);
        }
        let gate = builder.channel(queue).audit(audit.clone()).build();
        Self {
            channel,
            gate,
            audit,
            other,
            editable: setup.editable,
        }
    }

    /// Asks for the call as the requester, and waits until the channel
    /// under test shows it.
    async fn ask(&self) -> (JoinHandle<Result<&'static str, Error>>, RequestId) {
        let gate = self.gate.clone();
        let mut request = ActionRequest::new(
            "deploy",
            serde_json::json!({"service": "billing", "replicas": 3}),
        )
        .description("Deploy the billing service")
        .requester(REQUESTER)
        .justification("scheduled release");
        if self.editable {
            request = request.editable(["replicas"]);
        }
        let run = tokio::spawn(async move { gate.run(request, |_| async { Ok("ran") }).await });
        let id = self.other.next_request().await.id.clone();
        self.channel.delivered(&id).await;
        (run, id)
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        self.channel.vote(reviewer, target, choice).await
    }

    async fn approve(&self, reviewer: &str, id: &RequestId) -> Answer {
        self.vote(reviewer, &Target::Shown(id.clone()), Choice::Approve)
            .await
    }

    /// The vote records of request `id`, in order.
    fn votes(&self, id: &RequestId) -> Vec<VoteRecord> {
        self.audit
            .of_kind(AuditEventKind::Vote)
            .into_iter()
            .filter(|record| &record.request_id == id)
            .filter_map(|record| match record.event {
                AuditEvent::Vote {
                    voter,
                    channel,
                    fingerprint,
                    counted,
                    refusal,
                    ..
                } => Some(VoteRecord {
                    request_id: record.request_id,
                    voter,
                    channel,
                    fingerprint,
                    counted,
                    refusal,
                }),
                _ => None,
            })
            .collect()
    }

    /// The one vote record by `voter` on `id`, refused for `refusal`
    /// through the channel under test.
    fn assert_refused_once(&self, id: &RequestId, voter: &str, refusal: Refusal) {
        let by: Vec<_> = self
            .votes(id)
            .into_iter()
            .filter(|vote| vote.voter.as_str() == voter)
            .collect();
        assert_eq!(by.len(), 1, "{}: one vote by {voter}: {by:?}", C::NAME);
        assert_eq!(
            (by[0].channel.as_str(), by[0].counted, by[0].refusal),
            (C::NAME, false, Some(refusal)),
            "{}: the record of {voter}'s vote",
            C::NAME
        );
    }

    fn still_pending(&self, id: &RequestId) -> bool {
        self.gate.votes().pending_request(id).is_some()
    }

    /// Waits until what `reviewer` sees of `id` satisfies `check`.
    async fn shown_until(
        &self,
        reviewer: &str,
        id: &RequestId,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let description = format!("{}: {reviewer} to see {what}", C::NAME);
        eventually(&description, || async {
            let shown = self.channel.shown(reviewer, id).await;
            check(&shown).then_some(shown)
        })
        .await
    }
}

/// Says, where a channel cannot run a scenario, why (the reason is the
/// channel's, in code); `true` when the scenario should run.
#[allow(clippy::print_stderr)]
fn applies<C: ChannelUnderTest>(scenario: Scenario) -> bool {
    match C::unsupported(scenario) {
        Some(why) => {
            assert!(!why.0.trim().is_empty(), "an unsupported scenario says why");
            eprintln!("{}: {scenario:?} does not apply: {}", C::NAME, why.0);
            false
        }
        None => true,
    }
}

fn occurrences(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// 1. The requester's vote is refused with the same refusal everywhere,
///    and recorded.
pub(crate) async fn self_approval_is_refused<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::SelfApproval) {
        return;
    }
    let harness = Harness::<C>::start(Setup::default()).await;
    let (_run, id) = harness.ask().await;
    let answer = harness.approve(REQUESTER, &id).await;
    assert_eq!(
        answer,
        Answer::Refused(Refusal::SelfApproval),
        "{}",
        C::NAME
    );
    harness.assert_refused_once(&id, REQUESTER, Refusal::SelfApproval);
    assert!(harness.still_pending(&id));
}

/// 2. A known identity that policy does not name is refused, and recorded.
pub(crate) async fn an_ineligible_voter_is_refused<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::NotEligible) {
        return;
    }
    let harness = Harness::<C>::start(Setup::default()).await;
    let (_run, id) = harness.ask().await;
    let answer = harness.approve(MALLORY, &id).await;
    assert_eq!(answer, Answer::Refused(Refusal::NotEligible), "{}", C::NAME);
    harness.assert_refused_once(&id, MALLORY, Refusal::NotEligible);
    assert!(harness.still_pending(&id));
}

/// 3. A vote for an id no request has reaches the gate, which refuses and
///    records it (the channel does not answer it itself).
pub(crate) async fn a_vote_for_an_unknown_request_is_refused_and_recorded<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::UnknownRequest) {
        return;
    }
    let harness = Harness::<C>::start(Setup::default()).await;
    let (_run, id) = harness.ask().await;
    let shown = harness.gate.votes().pending_request(&id).unwrap();
    let unknown = unknown_id();
    let answer = harness
        .vote(
            ALICE,
            &Target::Naming(unknown.clone(), shown.fingerprint),
            Choice::Approve,
        )
        .await;
    assert_eq!(
        answer,
        Answer::Refused(Refusal::UnknownRequest),
        "{}",
        C::NAME
    );
    harness.assert_refused_once(&unknown, ALICE, Refusal::UnknownRequest);
    assert!(
        harness.votes(&id).is_empty(),
        "the real request is untouched"
    );
}

/// 4. The same voter twice: the second is `already_voted`, and the vote
///    counts once.
pub(crate) async fn a_second_vote_by_the_same_voter_counts_once<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::DuplicateVote) {
        return;
    }
    let harness = Harness::<C>::start(Setup {
        quorum: 2,
        ..Setup::default()
    })
    .await;
    let (_run, id) = harness.ask().await;
    let first = harness.approve(ALICE, &id).await;
    assert!(
        matches!(first, Answer::Counted(_)),
        "{}: {first:?}",
        C::NAME
    );
    let second = harness.approve(ALICE, &id).await;
    assert_eq!(
        second,
        Answer::Refused(Refusal::AlreadyVoted),
        "{}",
        C::NAME
    );
    let votes = harness.votes(&id);
    assert_eq!(votes.len(), 2, "{}: {votes:?}", C::NAME);
    assert_eq!(
        votes
            .iter()
            .map(|v| (v.voter.as_str(), v.channel.as_str(), v.counted, v.refusal))
            .collect::<Vec<_>>(),
        [
            (ALICE, C::NAME, true, None),
            (ALICE, C::NAME, false, Some(Refusal::AlreadyVoted)),
        ]
    );
    assert!(harness.still_pending(&id), "one approval of two");
}

/// 5. A vote after the request concluded is `already_concluded`.
pub(crate) async fn a_vote_after_the_conclusion_is_refused<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::AfterConclusion) {
        return;
    }
    let harness = Harness::<C>::start(Setup::default()).await;
    let (run, id) = harness.ask().await;
    let approved = harness.approve(ALICE, &id).await;
    assert!(
        matches!(approved, Answer::Counted(_)),
        "{}: {approved:?}",
        C::NAME
    );
    assert_eq!(run.await.unwrap().unwrap(), "ran");
    let late = harness.approve(BOB, &id).await;
    assert_eq!(
        late,
        Answer::Refused(Refusal::AlreadyConcluded),
        "{}",
        C::NAME
    );
    harness.assert_refused_once(&id, BOB, Refusal::AlreadyConcluded);
}

/// 6. A deny without the reason policy requires is `reason_required`; one
///    longer than `MAX_REASON_CHARS` is `reason_too_long`; both recorded,
///    neither decides; a proper reason then denies.
pub(crate) async fn deny_reasons_are_judged_by_the_gate<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::DenyReason) {
        return;
    }
    let harness = Harness::<C>::start(Setup {
        deny_reason_required: true,
        ..Setup::default()
    })
    .await;
    let (run, id) = harness.ask().await;
    let shown = Target::Shown(id.clone());
    let missing = harness
        .vote(BOB, &shown, Choice::Deny { reason: None })
        .await;
    assert_eq!(
        missing,
        Answer::Refused(Refusal::ReasonRequired),
        "{}",
        C::NAME
    );
    let long = "x".repeat(MAX_REASON_CHARS + 1);
    let too_long = harness.vote(BOB, &shown, Choice::deny(long)).await;
    assert_eq!(
        too_long,
        Answer::Refused(Refusal::ReasonTooLong),
        "{}",
        C::NAME
    );
    assert!(harness.still_pending(&id));
    let denied = harness
        .vote(BOB, &shown, Choice::deny("not during the freeze"))
        .await;
    assert!(
        matches!(denied, Answer::Counted(_)),
        "{}: {denied:?}",
        C::NAME
    );
    assert!(matches!(run.await.unwrap(), Err(Error::Denied { .. })));
    let votes = harness.votes(&id);
    assert_eq!(
        votes
            .iter()
            .map(|v| (v.voter.as_str(), v.channel.as_str(), v.counted, v.refusal))
            .collect::<Vec<_>>(),
        [
            (BOB, C::NAME, false, Some(Refusal::ReasonRequired)),
            (BOB, C::NAME, false, Some(Refusal::ReasonTooLong)),
            (BOB, C::NAME, true, None),
        ]
    );
}

/// 7. A vote naming another call's fingerprint is refused, and the record
///    names the fingerprint the vote carried.
pub(crate) async fn a_vote_naming_another_fingerprint_is_refused<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::FingerprintMismatch) {
        return;
    }
    let harness = Harness::<C>::start(Setup::default()).await;
    let (_run, id) = harness.ask().await;
    let other = another_calls_fingerprint();
    let answer = harness
        .vote(ALICE, &Target::Naming(id.clone(), other), Choice::Approve)
        .await;
    assert_eq!(
        answer,
        Answer::Refused(Refusal::FingerprintMismatch),
        "{}",
        C::NAME
    );
    harness.assert_refused_once(&id, ALICE, Refusal::FingerprintMismatch);
    assert_eq!(harness.votes(&id)[0].fingerprint, other);
    assert!(harness.still_pending(&id));
}

/// 8a. When the request ends, what the other reviewers see says how.
pub(crate) async fn what_is_shown_is_updated_on_conclusion<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::UpdatedOnConclusion) {
        return;
    }
    let harness = Harness::<C>::start(Setup::default()).await;
    let (run, id) = harness.ask().await;
    let before = harness.channel.shown(BOB, &id).await;
    let approved = harness.approve(ALICE, &id).await;
    assert!(
        matches!(approved, Answer::Counted(_)),
        "{}: {approved:?}",
        C::NAME
    );
    assert_eq!(run.await.unwrap().unwrap(), "ran");
    harness
        .shown_until(BOB, &id, "the approval by alice", |shown| {
            shown.to_lowercase().contains("approved")
                && occurrences(shown, ALICE) > occurrences(&before, ALICE)
        })
        .await;
}

/// 8b. When the request escalates, what reviewers see names who was
///     added, and the added approver can then decide through the channel.
pub(crate) async fn what_is_shown_is_updated_on_escalation<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::UpdatedOnEscalation) {
        return;
    }
    let harness = Harness::<C>::start(Setup {
        escalates: true,
        ..Setup::default()
    })
    .await;
    let (run, id) = harness.ask().await;
    let escalated = || !harness.audit.of_kind(AuditEventKind::Escalated).is_empty();
    let before = harness.channel.shown(CAROL, &id).await;
    // The gate records the escalation before it tells channels: with no
    // record yet, `before` was shown before the escalation.
    if !escalated() {
        assert!(!before.contains(CAROL), "{}: {before}", C::NAME);
    }
    eventually("the escalation", || async { escalated().then_some(()) }).await;
    harness
        .shown_until(CAROL, &id, "carol added by the escalation", |shown| {
            shown.contains(CAROL)
        })
        .await;
    let approved = harness.approve(CAROL, &id).await;
    assert!(
        matches!(approved, Answer::Counted(_)),
        "{}: {approved:?}",
        C::NAME
    );
    assert_eq!(run.await.unwrap().unwrap(), "ran");
}

/// 9. With a quorum of two, an approval through another channel shows on
///    this one, and this one's approval then concludes the request.
pub(crate) async fn progress_from_another_channel_is_shown<C: ChannelUnderTest>() {
    if !applies::<C>(Scenario::ProgressFromAnotherChannel) {
        return;
    }
    let harness = Harness::<C>::start(Setup {
        quorum: 2,
        ..Setup::default()
    })
    .await;
    let (run, id) = harness.ask().await;
    let before = harness.channel.shown(BOB, &id).await;
    let elsewhere = harness.other.approve(&id, ALICE).await.unwrap();
    assert!(elsewhere.counted());
    harness
        .shown_until(BOB, &id, "alice's approval through the queue", |shown| {
            occurrences(shown, ALICE) > occurrences(&before, ALICE)
        })
        .await;
    let approved = harness.approve(BOB, &id).await;
    assert!(
        matches!(approved, Answer::Counted(_)),
        "{}: {approved:?}",
        C::NAME
    );
    assert_eq!(run.await.unwrap().unwrap(), "ran");
    let votes = harness.votes(&id);
    assert_eq!(
        votes
            .iter()
            .map(|v| (v.voter.as_str(), v.channel.as_str(), v.counted))
            .collect::<Vec<_>>(),
        [(ALICE, "queue", true), (BOB, C::NAME, true)]
    );
}

/// 10. An edit accepted through another channel (the queue) makes a new
///     version: this channel shows it, and a vote through it then names
///     the new fingerprint and counts, with the editor's approval.
pub(crate) async fn an_accepted_edit_updates_the_channel_and_later_votes_name_the_new_fingerprint<
    C: ChannelUnderTest,
>() {
    if !applies::<C>(Scenario::EditedElsewhere) {
        return;
    }
    let harness = Harness::<C>::start(Setup {
        quorum: 2,
        editable: true,
        ..Setup::default()
    })
    .await;
    let (run, id) = harness.ask().await;
    let edited = harness
        .other
        .approve_with(&id, ALICE, serde_json::json!({"replicas": 5}))
        .await
        .unwrap();
    let approvals_core::edit::EditOutcome::Accepted {
        version,
        fingerprint,
        ..
    } = edited
    else {
        panic!("{}: the edit was refused: {edited:?}", C::NAME);
    };
    assert_eq!(version, 2);
    harness
        .shown_until(BOB, &id, "the edited version", |shown| {
            shown.contains(&fingerprint.to_hex())
        })
        .await;
    let approved = harness.approve(BOB, &id).await;
    assert!(
        matches!(approved, Answer::Counted(_)),
        "{}: {approved:?}",
        C::NAME
    );
    assert_eq!(run.await.unwrap().unwrap(), "ran");
    let votes = harness.votes(&id);
    let by_bob: Vec<_> = votes
        .iter()
        .filter(|vote| vote.voter.as_str() == BOB)
        .collect();
    assert_eq!(by_bob.len(), 1, "{}: {votes:?}", C::NAME);
    assert_eq!(
        (
            by_bob[0].channel.as_str(),
            by_bob[0].fingerprint,
            by_bob[0].counted
        ),
        (C::NAME, fingerprint, true),
        "{}: bob's vote names the new version",
        C::NAME
    );
}
