//! Shadow mode: a candidate policy evaluated beside the policy in force.
//!
//! The candidate sees the same input as the policy (action, risk,
//! requester, arguments, the requirement the call declares) and never
//! decides: its decision is compared with the policy's, and a disagreement
//! is written to the trail and to `tracing`. Nothing it does (an error, a
//! record that cannot be written) reaches the call.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError};

use super::Gate;
use super::finish::Finish;
use super::votes::Registry;
use crate::RequestId;
use crate::audit::{AuditEvent, AuditRecord, PolicyDecisionRecord};
use crate::policy::{Decision, Policy, PolicyError, PolicyInput, RequirementBuilder, Verdict};

impl Gate {
    /// Replaces the candidate of shadow mode (see
    /// [`GateBuilder::shadow_policy`](crate::GateBuilder::shadow_policy));
    /// `None` turns shadow mode off.
    pub fn set_shadow_policy(&self, candidate: Option<Policy>) {
        *self
            .inner
            .shadow
            .write()
            .unwrap_or_else(PoisonError::into_inner) = candidate.map(Arc::new);
    }

    /// The candidate of shadow mode, if there is one.
    pub fn shadow_policy(&self) -> Option<Arc<Policy>> {
        self.inner
            .shadow
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The record of the candidate's disagreement with `decision` on
    /// `input`, if there is a candidate and it disagrees or fails.
    pub(super) fn shadow_disagreement(
        &self,
        id: &RequestId,
        input: &PolicyInput<'_>,
        declared: Option<&RequirementBuilder>,
        decision: &Result<Decision, PolicyError>,
    ) -> Option<AuditRecord> {
        let candidate = self.shadow_policy()?;
        let candidate = candidate.evaluate_with(input, declared);
        if candidate.is_ok() && agree(decision, &candidate) {
            return None;
        }
        let registry = &self.inner.registry;
        let current = summary(registry, decision);
        let candidate = summary(registry, &candidate);
        tracing::info!(
            approval.request_id = %id,
            approval.action = %input.action,
            approval.decision = %current.verdict,
            approval.rule = current.rule.as_deref().unwrap_or(""),
            approval.shadow.decision = %candidate.verdict,
            approval.shadow.rule = candidate.rule.as_deref().unwrap_or(""),
            "the shadow policy disagrees with the policy in force"
        );
        Some(AuditRecord::now(
            id.clone(),
            AuditEvent::ShadowDisagreement { current, candidate },
        ))
    }
}

/// Whether two decisions agree: the same verdict and, for approval, the
/// same approvers (in any order) and quorum. The rule's name, a refusal's
/// reason and the timeout may differ.
fn agree(a: &Result<Decision, PolicyError>, b: &Result<Decision, PolicyError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => match (&a.verdict, &b.verdict) {
            (Verdict::Allow, Verdict::Allow) | (Verdict::Refuse { .. }, Verdict::Refuse { .. }) => {
                true
            }
            (Verdict::RequireApproval(a), Verdict::RequireApproval(b)) => {
                a.quorum == b.quorum
                    && a.approvers.iter().collect::<HashSet<_>>()
                        == b.approvers.iter().collect::<HashSet<_>>()
            }
            _ => false,
        },
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

/// A decision as the trail shows it, free texts masked.
fn summary(registry: &Registry, decision: &Result<Decision, PolicyError>) -> PolicyDecisionRecord {
    match decision {
        Err(error) => PolicyDecisionRecord {
            verdict: "error".to_owned(),
            rule: None,
            approvers: Vec::new(),
            quorum: None,
            reason: Some(registry.mask_text(&error.to_string())),
        },
        Ok(decision) => {
            let mut record = PolicyDecisionRecord {
                verdict: decision.verdict.as_str().to_owned(),
                rule: decision.rule.clone(),
                approvers: Vec::new(),
                quorum: None,
                reason: None,
            };
            match &decision.verdict {
                Verdict::Allow => {}
                Verdict::Refuse { reason } => record.reason = Some(registry.mask_text(reason)),
                Verdict::RequireApproval(requirement) => {
                    record.approvers = requirement.approvers.clone();
                    record.quorum = Some(requirement.quorum);
                }
            }
            record
        }
    }
}

/// `opening`, after writing `record`: a record that cannot be written is
/// logged and the call goes on, since the candidate must never change it.
pub(super) fn record_first<T: Send + 'static>(
    registry: &Arc<Registry>,
    record: AuditRecord,
    opening: Finish<T>,
) -> Finish<T> {
    let registry = Arc::clone(registry);
    Finish::new(async move {
        if let Err(error) = registry.record(&record).await {
            tracing::warn!(
                approval.request_id = %record.request_id,
                %error,
                "the shadow policy's disagreement could not be recorded"
            );
        }
        opening.await
    })
}
