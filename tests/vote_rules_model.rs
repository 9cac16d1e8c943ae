//! A property test of the vote rules: for many random sequences of ballots
//! (eligible and ineligible voters, the requester, approvals and denials with
//! and without a reason, right and wrong fingerprints), the gate's answer to
//! every ballot and its conclusion match a small reference model of the
//! rules, and the body runs exactly when the model approves.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use approvals::audit::{AuditEventKind, MemoryAudit};
use approvals::channel::{Ballot, Choice, Refusal, VoteOutcome};
use approvals::policy::{Policy, RequirementBuilder, Rule};
use approvals::testing::QueueChannel;
use approvals::{ActionRequest, Conclusion, Error, Fingerprint, Gate, Identity};
use common::{AGENT, ALICE, BOB, CAROL, MALLORY};

const CASES: u64 = 400;
const VOTERS: [&str; 5] = [ALICE, BOB, CAROL, MALLORY, AGENT];
const ELIGIBLE: [&str; 3] = [ALICE, BOB, CAROL];

/// A small deterministic generator, so that a failing case can be replayed
/// from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone)]
struct Step {
    voter: &'static str,
    choice: Choice,
    right_fingerprint: bool,
}

/// The rules, in the order the gate documents them.
#[derive(Default)]
struct Model {
    approvals: Vec<&'static str>,
    voted: Vec<&'static str>,
    conclusion: Option<Conclusion>,
}

impl Model {
    fn cast(&mut self, step: &Step, quorum: usize, reason_required: bool) -> Result<(), Refusal> {
        if self.conclusion.is_some() {
            return Err(Refusal::AlreadyConcluded);
        }
        if !step.right_fingerprint {
            return Err(Refusal::FingerprintMismatch);
        }
        if step.voter == AGENT {
            return Err(Refusal::SelfApproval);
        }
        if !ELIGIBLE.contains(&step.voter) {
            return Err(Refusal::NotEligible);
        }
        if self.voted.contains(&step.voter) {
            return Err(Refusal::AlreadyVoted);
        }
        if let Choice::Deny { reason } = &step.choice {
            if reason_required && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(Refusal::ReasonRequired);
            }
        }
        self.voted.push(step.voter);
        match &step.choice {
            Choice::Approve => {
                self.approvals.push(step.voter);
                if self.approvals.len() >= quorum {
                    self.conclusion = Some(Conclusion::Approved {
                        by: self.approvals.iter().map(|v| Identity::new(*v)).collect(),
                    });
                }
            }
            Choice::Deny { reason } => {
                self.conclusion = Some(Conclusion::Denied {
                    by: Identity::new(step.voter),
                    reason: reason.clone(),
                });
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn the_gate_follows_the_vote_rules_for_random_ballot_sequences() {
    let mut seen = [0usize; 3];
    for seed in 1..=CASES {
        seen[check_case(seed).await as usize] += 1;
    }
    // The generator reaches every ending, so each rule is exercised.
    let [approved, denied, cancelled] = seen;
    assert!(approved > 20 && denied > 20 && cancelled > 20, "{seen:?}");
    eprintln!("approved {approved}, denied {denied}, cancelled {cancelled}");
}

/// How a case ended.
#[derive(Clone, Copy)]
enum Ending {
    Approved = 0,
    Denied = 1,
    Cancelled = 2,
}

async fn check_case(seed: u64) -> Ending {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let quorum = 1 + rng.below(3) as usize;
    let reason_required = rng.below(2) == 0;
    let steps: Vec<Step> = (0..1 + rng.below(8))
        .map(|_| Step {
            voter: VOTERS[rng.below(VOTERS.len() as u64) as usize],
            choice: match rng.below(4) {
                0 => Choice::Deny { reason: None },
                1 => Choice::deny("not now"),
                _ => Choice::Approve,
            },
            right_fingerprint: rng.below(10) != 0,
        })
        .collect();

    let audit = MemoryAudit::new();
    let (approver, inbox) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("model").require(
                    RequirementBuilder::new()
                        .approvers(ELIGIBLE)
                        .quorum(quorum as u32)
                        .timeout(Duration::from_secs(3600))
                        .deny_reason_required(reason_required),
                ),
            ),
        )
        .channel(approver)
        .audit(audit.clone())
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = tokio::spawn({
        let (gate, runs) = (gate.clone(), Arc::clone(&runs));
        async move {
            gate.run(
                ActionRequest::new("model.call", seed).requester(AGENT),
                |_| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(())
                },
            )
            .await
        }
    });
    let request = inbox.next_request().await;
    let wrong = Fingerprint::of(
        "model.call",
        &serde_json::json!(seed + 1),
        &Identity::new(AGENT),
    );

    let mut model = Model::default();
    for (index, step) in steps.iter().enumerate() {
        let mut ballot = Ballot::new(&request, step.voter, step.choice.clone());
        if !step.right_fingerprint {
            ballot.fingerprint = wrong;
        }
        let got = gate.votes().cast(ballot).await;
        let expected = model.cast(step, quorum, reason_required);
        let context = format!(
            "seed {seed}, step {index} {step:?}, quorum {quorum}, reason required {reason_required}"
        );
        match (&got, expected) {
            (VoteOutcome::Counted { conclusion, .. }, Ok(())) => {
                if conclusion.is_some() {
                    assert_eq!(conclusion, &model.conclusion, "{context}");
                }
            }
            (VoteOutcome::Refused { refusal }, Err(expected)) => {
                assert_eq!(*refusal, expected, "{context}")
            }
            (got, expected) => panic!("{context}: gate said {got:?}, model said {expected:?}"),
        }
    }

    if model.conclusion.is_none() {
        caller.abort();
        let _ = caller.await;
        // The cancellation is recorded by a task of its own.
        audit.wait_for(AuditEventKind::Concluded, 1).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0, "seed {seed}");
        return Ending::Cancelled;
    }
    let result = caller.await.unwrap();
    // Every ballot was recorded, counted or not.
    assert_eq!(
        audit.of_kind(AuditEventKind::Vote).len(),
        steps.len(),
        "seed {seed}"
    );
    if let Some(Conclusion::Approved { .. }) = model.conclusion {
        assert!(result.is_ok(), "seed {seed}: {result:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "seed {seed}");
        Ending::Approved
    } else {
        assert!(
            matches!(result, Err(Error::Denied { .. })),
            "seed {seed}: {result:?}"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0, "seed {seed}");
        Ending::Denied
    }
}
