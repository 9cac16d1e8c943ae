//! The in-memory channel: a `QueueChannel`, voted through its handle.

use approvals_backends::testing::{QueueChannel, QueueHandle};
use approvals_core::{Ballot, Channel, Choice, Identity, RequestId, VoteOutcome};

use crate::{Answer, ChannelUnderTest, Scenario, Target, Unsupported, eventually};

/// A `QueueChannel` and its handle.
pub(crate) struct Memory {
    handle: QueueHandle,
}

impl ChannelUnderTest for Memory {
    const NAME: &'static str = "queue";

    async fn start(_reviewers: &[&'static str]) -> (Self, Vec<Box<dyn Channel>>) {
        let (channel, handle) = QueueChannel::new();
        (Self { handle }, vec![Box::new(channel)])
    }

    async fn delivered(&self, id: &RequestId) {
        eventually("the queue to hold the request", || async {
            self.handle
                .pending()
                .iter()
                .any(|review| &review.id == id)
                .then_some(())
        })
        .await;
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        let outcome = match target {
            Target::Shown(id) => self.handle.vote(id, reviewer, choice).await,
            Target::Naming(id, fingerprint) => {
                self.handle
                    .cast(Ballot {
                        request_id: id.clone(),
                        fingerprint: *fingerprint,
                        voter: Identity::new(reviewer),
                        choice,
                    })
                    .await
            }
        };
        match outcome.unwrap() {
            VoteOutcome::Refused { refusal } => Answer::Refused(refusal),
            counted => Answer::Counted(format!("{counted:?}")),
        }
    }

    /// The handle's view: the version's fingerprint, who approved so far
    /// and how the request ended.
    async fn shown(&self, _reviewer: &str, id: &RequestId) -> String {
        let approved_by = self
            .handle
            .progress(id)
            .map(|progress| {
                let names: Vec<&str> = progress.approved_by.iter().map(Identity::as_str).collect();
                names.join(", ")
            })
            .unwrap_or_default();
        let conclusion = self
            .handle
            .conclusion(id)
            .map(|conclusion| conclusion.to_string())
            .unwrap_or_default();
        let fingerprint = self
            .handle
            .review(id)
            .map(|review| review.fingerprint.to_hex())
            .unwrap_or_default();
        format!("fingerprint: {fingerprint}; approved so far: {approved_by}; ended: {conclusion}")
    }

    fn unsupported(scenario: Scenario) -> Option<Unsupported> {
        match scenario {
            Scenario::UpdatedOnEscalation => Some(Unsupported(
                "a QueueChannel shows nothing of an escalation: its handle reports progress and \
                 conclusions (QueueHandle::progress, ::conclusion) and QueueChannel keeps \
                 Channel::escalated's default; the gate's escalation itself is covered by the \
                 other channels",
            )),
            _ => None,
        }
    }
}
