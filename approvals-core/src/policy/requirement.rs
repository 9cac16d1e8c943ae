//! Who must approve, as a policy writes it: the unresolved form of a
//! [`Requirement`](super::Requirement).

use std::time::Duration;

use super::check::Field;
use super::principal::Principal;

/// Who must approve a call, how many of them, how long they have, and who
/// is asked if they stay silent: the effect of a rule
/// ([`RuleBuilder::require`](super::RuleBuilder::require)) or the policy's
/// default requirement
/// ([`Policy::default_requirement`](super::Policy::default_requirement)).
///
/// Approvers are identities or `group:NAME`s ([`Principal`]); the policy
/// resolves groups into identities each time it is evaluated, giving a
/// [`Requirement`](super::Requirement). Unless set, the quorum is 1, the
/// timeout 15 minutes, there is no escalation, and a deny needs no reason.
/// [`new`](Self::new) names nobody: add approvers, or no quorum can be
/// reached.
///
/// ```
/// use std::time::Duration;
/// use approvals_core::policy::RequirementBuilder;
///
/// let minutes = |count: u64| Duration::from_secs(count * 60);
/// let exports = RequirementBuilder::new()
///     .approvers(["group:data-governance", "dave@example.com"])
///     .quorum(2)
///     .timeout(minutes(30))
///     .escalate_after(minutes(10), ["group:sre-leads"])
///     .deny_reason_required(true);
/// # let _ = exports;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RequirementBuilder {
    pub(crate) approvers: Vec<Principal>,
    pub(crate) quorum: u32,
    pub(crate) timeout: Duration,
    pub(crate) escalation: Option<EscalationSpec>,
    pub(crate) deny_reason_required: bool,
    pub(crate) editable: Option<Vec<String>>,
}

/// An escalation as written: after a delay, more principals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EscalationSpec {
    pub(crate) after: Duration,
    pub(crate) approvers: Vec<Principal>,
}

impl RequirementBuilder {
    /// The timeout when none is set: 15 minutes.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

    /// The quorum when none is set: 1.
    pub const DEFAULT_QUORUM: u32 = 1;

    /// A requirement naming nobody yet, with quorum 1 and a 15-minute
    /// timeout. As it is, no quorum can be reached: it is the built-in
    /// default requirement, which makes unmatched calls fail closed.
    pub const fn new() -> Self {
        Self {
            approvers: Vec::new(),
            quorum: Self::DEFAULT_QUORUM,
            timeout: Self::DEFAULT_TIMEOUT,
            escalation: None,
            deny_reason_required: false,
            editable: None,
        }
    }

    /// Adds `approvers`: identities and `group:NAME`s. Calls add up.
    pub fn approvers<P: Into<Principal>>(mut self, approvers: impl IntoIterator<Item = P>) -> Self {
        self.approvers.extend(approvers.into_iter().map(Into::into));
        self
    }

    /// Distinct approvals needed (1 unless set; 0 is invalid). The requester
    /// never counts toward it.
    pub fn quorum(mut self, quorum: u32) -> Self {
        self.quorum = quorum;
        self
    }

    /// How long approvers have (15 minutes unless set); silence until then
    /// means deny.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// After `after` without a conclusion, `to` (identities and
    /// `group:NAME`s) become eligible as well. `after` must be shorter than
    /// the timeout. A later call replaces an earlier one.
    pub fn escalate_after<P: Into<Principal>>(
        mut self,
        after: Duration,
        to: impl IntoIterator<Item = P>,
    ) -> Self {
        self.escalation = Some(EscalationSpec {
            after,
            approvers: to.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Whether a deny must carry a reason (`false` unless set).
    pub fn deny_reason_required(mut self, required: bool) -> Self {
        self.deny_reason_required = required;
        self
    }

    /// The argument paths a reviewer may change before approving
    /// (`"amount_cents"`, `"destination.bucket"`, or `"*"` for all).
    ///
    /// Unset, the call's own declaration applies
    /// ([`ActionRequest::editable`](crate::ActionRequest::editable)); set,
    /// even to an empty list, it replaces it. Nothing is editable by
    /// default, and a call whose arguments cannot be rebuilt from JSON takes
    /// no edits whatever this says. An edit is a new version of the request,
    /// judged again by policy and approved again (see
    /// [`VoteBox::edit`](crate::VoteBox::edit)).
    pub fn editable<S: Into<String>>(mut self, paths: impl IntoIterator<Item = S>) -> Self {
        self.editable = Some(paths.into_iter().map(Into::into).collect());
        self
    }

    /// The editable argument paths, if set.
    pub fn get_editable(&self) -> Option<&[String]> {
        self.editable.as_deref()
    }

    /// The approvers, as written (groups not resolved).
    pub fn get_approvers(&self) -> &[Principal] {
        &self.approvers
    }

    /// The distinct approvals needed.
    pub fn get_quorum(&self) -> u32 {
        self.quorum
    }

    /// How long approvers have.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// Every principal named, escalation included, with where it is named.
    pub(crate) fn principals(&self) -> impl Iterator<Item = (Field, &Principal)> {
        let escalation = self
            .escalation
            .iter()
            .flat_map(|escalation| escalation.approvers.iter().enumerate())
            .map(|(index, principal)| (Field::EscalateTo(index), principal));
        self.approvers
            .iter()
            .enumerate()
            .map(|(index, principal)| (Field::Channel(index), principal))
            .chain(escalation)
    }

    /// The first thing that makes this requirement unusable whatever the
    /// groups: an empty principal, quorum 0, a zero timeout, an escalation
    /// that names nobody or comes too late. Never allocates unless there is
    /// a defect.
    pub(crate) fn defect(&self) -> Option<(Field, String)> {
        for (field, principal) in self.principals() {
            if let Some(defect) = principal.defect() {
                let which = match field {
                    Field::EscalateTo(index) => format!("escalation approver {}", index + 1),
                    Field::Channel(index) => format!("approver {}", index + 1),
                    _ => "an approver".to_owned(),
                };
                return Some((field, format!("{which} {defect}")));
            }
        }
        if self.quorum == 0 {
            return Some((Field::Quorum, "quorum must be at least 1".to_owned()));
        }
        if self.timeout.is_zero() {
            return Some((
                Field::Timeout,
                "timeout must be longer than zero".to_owned(),
            ));
        }
        if let Some(escalation) = &self.escalation {
            if escalation.approvers.is_empty() {
                return Some((
                    Field::Escalation,
                    "escalation names no approvers".to_owned(),
                ));
            }
            if escalation.after.is_zero() {
                return Some((
                    Field::EscalateAfter,
                    "escalation delay must be longer than zero".to_owned(),
                ));
            }
            if escalation.after >= self.timeout {
                return Some((
                    Field::EscalateAfter,
                    format!(
                        "escalation after {} would never happen: the request times out after {}",
                        humantime::format_duration(escalation.after),
                        humantime::format_duration(self.timeout)
                    ),
                ));
            }
        }
        None
    }
}

/// The same as [`RequirementBuilder::new`]: nobody yet.
impl Default for RequirementBuilder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let approvers = RequirementBuilder::new().approvers(["a"]);
        assert_eq!(approvers.quorum, 1);
        assert_eq!(approvers.timeout, Duration::from_secs(900));
        assert_eq!(approvers.escalation, None);
        assert!(!approvers.deny_reason_required);
        assert_eq!(RequirementBuilder::default(), RequirementBuilder::new());
        assert_eq!(
            RequirementBuilder::new()
                .approvers(["a"])
                .approvers(["b"])
                .approvers
                .len(),
            2
        );
        assert_eq!(approvers.defect(), None);
    }

    #[test]
    fn defects() {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let defect = |approvers: RequirementBuilder| approvers.defect().map(|(field, _)| field);
        assert_eq!(
            defect(RequirementBuilder::new().approvers(["a"]).quorum(0)),
            Some(Field::Quorum)
        );
        assert_eq!(
            defect(RequirementBuilder::new().approvers(["a", "group:"])),
            Some(Field::Channel(1))
        );
        assert_eq!(
            defect(
                RequirementBuilder::new()
                    .approvers(["a"])
                    .timeout(Duration::ZERO)
            ),
            Some(Field::Timeout)
        );
        assert_eq!(
            defect(
                RequirementBuilder::new()
                    .approvers(["a"])
                    .escalate_after(minutes(5), Vec::<&str>::new())
            ),
            Some(Field::Escalation)
        );
        assert_eq!(
            defect(
                RequirementBuilder::new()
                    .approvers(["a"])
                    .escalate_after(minutes(15), ["b"])
            ),
            Some(Field::EscalateAfter)
        );
        assert_eq!(
            defect(
                RequirementBuilder::new()
                    .approvers(["a"])
                    .escalate_after(minutes(5), ["b", " "])
            ),
            Some(Field::EscalateTo(1))
        );
        assert_eq!(
            defect(
                RequirementBuilder::new()
                    .approvers(["a"])
                    .escalate_after(minutes(5), ["b"])
            ),
            None
        );
    }
}
