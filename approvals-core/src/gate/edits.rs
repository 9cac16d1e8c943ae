//! The rules of the gate about edits: how a reviewer's change of the
//! arguments is judged, recorded and made a new version of the request.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError};

use serde_json::Value;

use super::votes::{Cast, Pending, PendingState, Registry, Tally, judge, quorum_len};
use crate::audit::{AuditEvent, AuditRecord};
use crate::edit::{Edit, EditCheck, EditOutcome, EditProblem};
use crate::mask::MaskedView;
use crate::policy::{Decision, PolicyInput, RequirementBuilder, Verdict};
use crate::{
    ArgumentMask, Ballot, Choice, Conclusion, Fingerprint, Progress, Refusal, Review, Risk,
};

/// What judging an edit needs of a call that takes edits: kept with the
/// pending request, in this process's memory only (it holds the raw
/// arguments, which no record, store or channel ever does).
pub(crate) struct Editing {
    pub(crate) action: String,
    pub(crate) risk: Risk,
    pub(crate) argument_masks: Vec<ArgumentMask>,
    pub(crate) declared_requirement: Option<RequirementBuilder>,
    /// The paths the call declares editable, where the requirement says
    /// nothing.
    pub(crate) declared: Vec<String>,
    pub(crate) check: EditCheck,
    /// Whether the declared paths are all that may ever change, whatever
    /// policy allows: the caller rebuilds only those (the attribute's
    /// editable parameters).
    pub(crate) capped: bool,
    /// The arguments of the version pending now.
    pub(crate) arguments: Value,
    /// Set once an edit is accepted: the bytes of the version pending now,
    /// which the body runs with if it is approved.
    pub(crate) binding: Option<Box<[u8]>>,
}

/// The arguments an approval runs with when an edit changed them.
pub(crate) struct Edited {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) binding: Box<[u8]>,
}

impl Editing {
    /// The paths editable under a requirement that says `rule` (`None`:
    /// nothing).
    pub(crate) fn editable(&self, rule: Option<&[String]>) -> Vec<String> {
        let Some(rule) = rule else {
            return self.declared.clone();
        };
        if !self.capped {
            return rule.to_vec();
        }
        // What both allow: a declared path the rule covers, or a rule's
        // path under a declared one.
        let mut both: Vec<String> = Vec::new();
        for path in &self.declared {
            if crate::edit::first_not_editable(std::slice::from_ref(path), rule).is_none() {
                both.push(path.clone());
            }
        }
        for path in rule {
            if path != "*"
                && crate::edit::first_not_editable(std::slice::from_ref(path), &self.declared)
                    .is_none()
                && !both.contains(path)
            {
                both.push(path.clone());
            }
        }
        both
    }
}

impl PendingState {
    /// The edited arguments of a concluded request, if an edit changed them.
    pub(crate) fn take_edited(&mut self, fingerprint: Fingerprint) -> Option<Edited> {
        let binding = self.editing.as_mut()?.binding.take()?;
        Some(Edited {
            fingerprint,
            binding,
        })
    }
}

/// An edit that passed every rule, ready to be recorded and applied.
struct Accepted {
    review: Review,
    arguments: Value,
    binding: Box<[u8]>,
    changed: Vec<String>,
}

impl Registry {
    /// Judges, records and applies one edit handed in through `channel`.
    pub(crate) async fn edit(&self, edit: Edit, channel: &str) -> EditOutcome {
        if self.durable.is_some() {
            // The raw arguments an edit is applied to stay in the memory of
            // the process that asked; a stored request is voted on from any
            // process, so it takes no edits.
            let problem = EditProblem::new("", "requests kept in a store take no edits");
            return self
                .refuse_edit(&edit, channel, None, Refusal::NotEditable, Some(problem))
                .await;
        }
        let Some(pending) = self.get(&edit.request_id) else {
            if !self.admit_stray_vote() {
                return EditOutcome::refused(Refusal::Throttled);
            }
            let refusal = if self.was_concluded(&edit.request_id) {
                Refusal::AlreadyConcluded
            } else {
                Refusal::UnknownRequest
            };
            return self.refuse_edit(&edit, channel, None, refusal, None).await;
        };
        let mut state = pending.state.lock().await;
        let review = pending.request();
        match self.judge_edit(&review, &state, &edit, channel) {
            Err((refusal, problem)) => {
                let outcome = self
                    .refuse_edit(&edit, channel, Some(&review), refusal, problem)
                    .await;
                if refusal == Refusal::DeadlinePassed {
                    self.conclude(&pending, &mut state, Conclusion::Expired)
                        .await;
                }
                outcome
            }
            Ok(accepted) => {
                self.apply_edit(&pending, &mut state, &review, edit, channel, accepted)
                    .await
            }
        }
    }

    /// Every rule an edit must pass, in order: those of a vote, then that
    /// the call takes edits of these paths, that the edited arguments fit
    /// their type, and that policy does not refuse them.
    fn judge_edit(
        &self,
        review: &Review,
        state: &PendingState,
        edit: &Edit,
        channel: &str,
    ) -> Result<Accepted, (Refusal, Option<EditProblem>)> {
        let cast = Cast {
            ballot: Ballot {
                request_id: edit.request_id.clone(),
                fingerprint: edit.fingerprint,
                voter: edit.editor.clone(),
                choice: Choice::Approve,
            },
            channel,
            too_long: false,
        };
        // An editor who approved an earlier version may edit: their edit is
        // their approval of the new one.
        let tally = Tally {
            concluded: state.conclusion.is_some(),
            eligible: &state.eligible,
            voted: false,
        };
        if let Some(refusal) = judge(review, tally, &cast, &*self.clock) {
            return Err((refusal, None));
        }
        let Some(editing) = state.editing.as_deref() else {
            let problem = EditProblem::new("", "this call takes no edits");
            return Err((Refusal::NotEditable, Some(problem)));
        };
        if review.editable.is_empty() {
            let problem = EditProblem::new("", "policy declares no argument of this call editable");
            return Err((Refusal::NotEditable, Some(problem)));
        }
        if !edit.changes.is_object() {
            let problem = EditProblem::new(
                "",
                "an edit is a JSON object of the arguments it changes (a merge patch)",
            );
            return Err((Refusal::InvalidEdit, Some(problem)));
        }
        let arguments = crate::edit::merge_patch(&editing.arguments, &edit.changes);
        let changed = crate::edit::changed_paths(&editing.arguments, &arguments);
        if changed.is_empty() {
            let problem = EditProblem::new("", "the edit changes nothing");
            return Err((Refusal::InvalidEdit, Some(problem)));
        }
        if let Some(path) = crate::edit::first_not_editable(&changed, &review.editable) {
            let problem = EditProblem::new(path, "is not editable");
            return Err((Refusal::NotEditable, Some(problem)));
        }
        let binding = super::approval::binding_of(&arguments).map_err(|_| {
            let problem = EditProblem::new("", "the edited arguments nest too deeply");
            (Refusal::InvalidEdit, Some(problem))
        })?;
        (editing.check)(&binding).map_err(|problem| (Refusal::InvalidEdit, Some(problem)))?;
        let input = PolicyInput {
            action: &editing.action,
            risk: editing.risk,
            requester: &review.requester,
            arguments: &arguments,
        };
        let decision = self
            .policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .evaluate_with(&input, editing.declared_requirement.as_ref());
        let mut next = review.clone();
        match decision {
            Err(error) => {
                let problem = EditProblem::new("", self.mask_text(&format!("policy: {error}")));
                return Err((Refusal::EditRefusedByPolicy, Some(problem)));
            }
            Ok(Decision {
                verdict: Verdict::Refuse { reason },
                ..
            }) => {
                let problem = EditProblem::new("", self.mask_text(&reason));
                return Err((Refusal::EditRefusedByPolicy, Some(problem)));
            }
            // Policy would let the edited call run unreviewed: it still
            // needs the edited version's approval under the requirement
            // it is pending under.
            Ok(Decision {
                verdict: Verdict::Allow,
                ..
            }) => {}
            Ok(Decision {
                rule,
                verdict: Verdict::RequireApproval(requirement),
                ..
            }) => {
                // Escalation approvers already added stay eligible.
                let added = state
                    .eligible
                    .iter()
                    .filter(|identity| !review.approvers.contains(identity));
                let mut approvers = requirement.approvers.clone();
                for identity in added {
                    if !approvers.contains(identity) {
                        approvers.push(identity.clone());
                    }
                }
                if !approvers.contains(&edit.editor) {
                    // The edit would be the editor's approval of a call
                    // they may not approve.
                    return Err((Refusal::NotEligible, None));
                }
                next.approvers = approvers;
                next.quorum = requirement.quorum;
                next.deny_reason_required = requirement.deny_reason_required;
                next.editable = editing.editable(requirement.editable.as_deref());
                next.rule = rule;
            }
        }
        let masked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.masker()
                .mask_arguments(&editing.action, &arguments, &editing.argument_masks)
        }))
        .map_err(|_| {
            let problem = EditProblem::new("", "the edited arguments could not be masked");
            (Refusal::InvalidEdit, Some(problem))
        })?;
        next.fingerprint = Fingerprint::of(&editing.action, &arguments, &review.requester);
        next.arguments = masked;
        next.version = review.version.saturating_add(1);
        Ok(Accepted {
            review: next,
            arguments,
            binding,
            changed,
        })
    }

    /// Records an accepted edit, then makes it the version pending: the
    /// editor's approval is the only one it has, and it concludes the
    /// request if that is the quorum.
    async fn apply_edit(
        &self,
        pending: &Pending,
        state: &mut PendingState,
        review: &Review,
        edit: Edit,
        channel: &str,
        accepted: Accepted,
    ) -> EditOutcome {
        let Accepted {
            review: next,
            arguments,
            binding,
            changed,
        } = accepted;
        let record = edit_record(
            &edit,
            channel,
            Some(review),
            EditRecord {
                after: Some(next.arguments.clone()),
                to_fingerprint: Some(next.fingerprint),
                changed: changed.clone(),
                refusal: None,
                problem: None,
            },
        );
        if let Err(error) = self.record(&record).await {
            // An edit that should have counted but left no record must not
            // count, and the request cannot go on without a trail.
            self.conclude(
                pending,
                state,
                Conclusion::Failed {
                    reason: format!("an edit could not be recorded: {error}"),
                },
            )
            .await;
            return EditOutcome::refused(Refusal::NotRecorded);
        }
        if let Some(editing) = state.editing.as_deref_mut() {
            editing.arguments = arguments;
            editing.binding = Some(binding);
        }
        let next = Arc::new(next);
        let editor = edit.editor;
        state.eligible.clone_from(&next.approvers);
        state.approvals = vec![editor.clone()];
        state.voted = std::iter::once(editor.clone()).collect();
        pending.revise(Arc::clone(&next));
        let quorum = next.quorum;
        let conclusion = if state.approvals.len() >= quorum_len(quorum) {
            Some(
                self.conclude(
                    pending,
                    state,
                    Conclusion::Approved {
                        by: vec![editor.clone()],
                    },
                )
                .await,
            )
        } else {
            None
        };
        if conclusion.is_none() {
            let progress = Progress {
                approved_by: vec![editor],
                quorum,
            };
            self.tell_channels("an edit", &next.id, |channel| channel.revised(&next))
                .await;
            self.tell_channels("an approval", &next.id, |channel| {
                channel.progress(&next, &progress)
            })
            .await;
        }
        EditOutcome::Accepted {
            version: next.version,
            fingerprint: next.fingerprint,
            changed,
            approvals: 1,
            quorum,
            conclusion,
        }
    }

    /// Records a refused edit and says why.
    async fn refuse_edit(
        &self,
        edit: &Edit,
        channel: &str,
        review: Option<&Review>,
        refusal: Refusal,
        problem: Option<EditProblem>,
    ) -> EditOutcome {
        let record = edit_record(
            edit,
            channel,
            review,
            EditRecord {
                after: None,
                to_fingerprint: None,
                changed: Vec::new(),
                refusal: Some(refusal),
                problem: problem.clone(),
            },
        );
        match self.record(&record).await {
            Ok(()) => EditOutcome::Refused { refusal, problem },
            Err(_) => EditOutcome::refused(Refusal::NotRecorded),
        }
    }
}

/// The parts of an `edited` record that depend on how the edit went.
struct EditRecord {
    after: Option<MaskedView>,
    to_fingerprint: Option<Fingerprint>,
    changed: Vec<String>,
    refusal: Option<Refusal>,
    problem: Option<EditProblem>,
}

fn edit_record(
    edit: &Edit,
    channel: &str,
    review: Option<&Review>,
    record: EditRecord,
) -> AuditRecord {
    AuditRecord::now(
        edit.request_id.clone(),
        AuditEvent::Edited {
            editor: edit.editor.clone(),
            channel: channel.to_owned(),
            from_version: review.map_or(0, |review| review.version),
            from_fingerprint: edit.fingerprint,
            before: review.map(|review| review.arguments.clone()),
            after: record.after,
            to_fingerprint: record.to_fingerprint,
            changed: record.changed,
            accepted: record.refusal.is_none(),
            refusal: record.refusal,
            problem: record.problem,
        },
    )
}
