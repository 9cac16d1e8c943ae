//! The channel contract: one set of scenarios that every channel runs,
//! through the public API and each channel's real inbound path (a signed
//! Slack click, a Teams invoke with a Bot Framework token, an HTTP call with
//! a static bearer token or an OIDC ID token, a line typed into a
//! pseudo-terminal, a `QueueHandle`).
//!
//! Each channel implements [`ChannelUnderTest`] once (`channels/`); the
//! scenarios (`scenarios.rs`) are written once, generic over it, and the
//! [`contract!`] macro instantiates every scenario for every channel, so a
//! test is named `slack::self_approval_is_refused`. Each scenario checks
//! both what the voter is shown (decoded with the gate's one `Refusal`
//! table: status and code, or the refusal's own words) and the vote records
//! of the audit trail. A scenario a channel cannot express is answered by
//! [`ChannelUnderTest::unsupported`] with the reason, in code, never skipped
//! silently.
//!
//! A new channel joins by adding a file to `channels/` that implements
//! [`ChannelUnderTest`] and one `contract!` line below.

// Test set-up: a failure in a helper is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The fakes of Microsoft's services, shared with the Teams tests (which use
// more of it).
#[allow(dead_code, unused_imports)]
#[path = "../teams/support.rs"]
mod teams_support;

mod channels;
mod scenarios;

use std::future::Future;
use std::time::Duration;

use approvals_core::{Choice, Fingerprint, Identity, Refusal, RequestId};
pub(crate) use approvals_test_support::identities::{
    AGENT as REQUESTER, ALICE, BOB, CAROL, MALLORY,
};

/// Everyone a scenario may act as; every channel can map each of them.
pub(crate) const REVIEWERS: [&str; 5] = [REQUESTER, ALICE, BOB, CAROL, MALLORY];

/// The scenarios of the contract, for [`ChannelUnderTest::unsupported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// The requester votes on their own request.
    SelfApproval,
    /// A known identity outside the approvers votes.
    NotEligible,
    /// A vote names a request id the gate never saw.
    UnknownRequest,
    /// The same voter votes twice.
    DuplicateVote,
    /// A vote arrives after the request concluded.
    AfterConclusion,
    /// Deny reasons missing where required, or too long.
    DenyReason,
    /// A vote names another call's fingerprint.
    FingerprintMismatch,
    /// What the channel shows is updated when the request ends.
    UpdatedOnConclusion,
    /// What the channel shows is updated when the request escalates.
    UpdatedOnEscalation,
    /// An approval through another channel shows on this one.
    ProgressFromAnotherChannel,
    /// An edit accepted through another channel shows on this one, and
    /// this one's later votes name the new version's fingerprint.
    EditedElsewhere,
}

impl Scenario {
    /// Every scenario, in the order of the contract.
    pub(crate) const ALL: [Scenario; 11] = [
        Scenario::SelfApproval,
        Scenario::NotEligible,
        Scenario::UnknownRequest,
        Scenario::DuplicateVote,
        Scenario::AfterConclusion,
        Scenario::DenyReason,
        Scenario::FingerprintMismatch,
        Scenario::UpdatedOnConclusion,
        Scenario::UpdatedOnEscalation,
        Scenario::ProgressFromAnotherChannel,
        Scenario::EditedElsewhere,
    ];
}

/// Why a scenario cannot apply to a channel. The reason is part of the
/// contract: it says what in the channel's protocol rules the scenario out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported(pub(crate) &'static str);

/// Which request a vote is about.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The request as the channel showed it to the voter (the button, card
    /// or prompt they answer), with the fingerprint it carried.
    Shown(RequestId),
    /// A vote naming this id and fingerprint, as a voter (or a crafted
    /// request) can where the channel's protocol carries both.
    Naming(RequestId, Fingerprint),
}

/// What the voter was shown in answer to their vote, decoded with the
/// gate's `Refusal` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The vote counted; what the channel showed.
    Counted(String),
    /// The channel showed exactly this refusal: its code and status, or its
    /// text, as the table gives them.
    Refused(Refusal),
    /// Anything else, as shown (a failed scenario prints it).
    Other(String),
}

impl Answer {
    /// The refusal whose code is `code`, if the channel answered with its
    /// table status too.
    pub(crate) fn from_code(status: u16, code: &str, shown: &str) -> Self {
        match Refusal::ALL.into_iter().find(|r| r.code() == code) {
            Some(refusal) if refusal.http_status() == status => Answer::Refused(refusal),
            _ => Answer::Other(format!("{status} {shown}")),
        }
    }

    /// The refusal whose words `shown` is, wrapped as `before{refusal}after`.
    pub(crate) fn from_text(shown: &str, before: &str, after: &str) -> Option<Self> {
        Refusal::ALL
            .into_iter()
            .find(|refusal| shown == format!("{before}{refusal}{after}"))
            .map(Answer::Refused)
    }
}

/// One channel as the contract drives it: built with its fakes, voted
/// through its real inbound path, and read as a reviewer reads it.
pub(crate) trait ChannelUnderTest: Sized {
    /// The name the gate stamps on this channel's ballots.
    const NAME: &'static str;

    /// Builds the channel, the fakes it talks to and its inbound server,
    /// for the identities in `reviewers`. Returns the channels to add to
    /// the gate (one, or one per reviewer where a channel votes as one
    /// person, like the terminal).
    fn start(
        reviewers: &[&'static str],
    ) -> impl Future<Output = (Self, Vec<Box<dyn approvals_core::Channel>>)>;

    /// Waits until request `id` has been delivered and is shown to
    /// reviewers.
    fn delivered(&self, id: &RequestId) -> impl Future<Output = ()>;

    /// Votes as `reviewer` on `target` through the channel's inbound path,
    /// and returns what the reviewer was shown.
    fn vote(&self, reviewer: &str, target: &Target, choice: Choice)
    -> impl Future<Output = Answer>;

    /// What `reviewer` sees of request `id` now (the message, card, API
    /// view or screen), once the channel's pending updates have run.
    fn shown(&self, reviewer: &str, id: &RequestId) -> impl Future<Output = String>;

    /// Why `scenario` cannot apply to this channel, if it cannot.
    fn unsupported(_scenario: Scenario) -> Option<Unsupported> {
        None
    }
}

/// Polls `check` until it answers, for at most ten seconds.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The fingerprint of a call other than any the scenarios make.
pub(crate) fn another_calls_fingerprint() -> Fingerprint {
    Fingerprint::of(
        "deploy",
        &serde_json::json!({"service": "another", "replicas": 1}),
        &Identity::new(REQUESTER),
    )
}

/// An id no request has.
pub(crate) fn unknown_id() -> RequestId {
    RequestId::from_string("00000000-0000-4000-8000-00000000beef")
}

/// Instantiates every scenario for one channel, in a module named for it.
macro_rules! contract {
    ($module:ident, $channel:ty) => {
        mod $module {
            use crate::scenarios;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn self_approval_is_refused() {
                scenarios::self_approval_is_refused::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_ineligible_voter_is_refused() {
                scenarios::an_ineligible_voter_is_refused::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_vote_for_an_unknown_request_is_refused_and_recorded() {
                scenarios::a_vote_for_an_unknown_request_is_refused_and_recorded::<$channel>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_second_vote_by_the_same_voter_counts_once() {
                scenarios::a_second_vote_by_the_same_voter_counts_once::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_vote_after_the_conclusion_is_refused() {
                scenarios::a_vote_after_the_conclusion_is_refused::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn deny_reasons_are_judged_by_the_gate() {
                scenarios::deny_reasons_are_judged_by_the_gate::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_vote_naming_another_fingerprint_is_refused() {
                scenarios::a_vote_naming_another_fingerprint_is_refused::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn what_is_shown_is_updated_on_conclusion() {
                scenarios::what_is_shown_is_updated_on_conclusion::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn what_is_shown_is_updated_on_escalation() {
                scenarios::what_is_shown_is_updated_on_escalation::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn progress_from_another_channel_is_shown() {
                scenarios::progress_from_another_channel_is_shown::<$channel>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_accepted_edit_updates_the_channel_and_later_votes_name_the_new_fingerprint()
             {
                scenarios::an_accepted_edit_updates_the_channel_and_later_votes_name_the_new_fingerprint::<$channel>()
                    .await;
            }
        }
    };
}

contract!(memory, crate::channels::memory::Memory);
contract!(slack, crate::channels::slack::Slack);
contract!(teams, crate::channels::teams::Teams);
contract!(http, crate::channels::http::Http);
contract!(http_oidc, crate::channels::http::HttpOidc);
#[cfg(unix)]
contract!(terminal, crate::channels::terminal::Terminal);

/// The scenarios each channel declares it cannot run. A change here is a
/// decision about the contract, made in review, not a test that went quiet.
#[test]
fn each_channel_declares_what_it_cannot_run() {
    fn declared<C: ChannelUnderTest>() -> Vec<Scenario> {
        Scenario::ALL
            .into_iter()
            .filter(|scenario| C::unsupported(*scenario).is_some())
            .collect()
    }
    use Scenario::*;
    assert_eq!(
        declared::<channels::memory::Memory>(),
        [UpdatedOnEscalation]
    );
    assert_eq!(declared::<channels::slack::Slack>(), []);
    assert_eq!(declared::<channels::teams::Teams>(), []);
    assert_eq!(declared::<channels::http::Http>(), []);
    assert_eq!(declared::<channels::http::HttpOidc>(), []);
    #[cfg(unix)]
    assert_eq!(
        declared::<channels::terminal::Terminal>(),
        [
            UnknownRequest,
            DuplicateVote,
            FingerprintMismatch,
            UpdatedOnEscalation
        ]
    );
}
