//! Which gate a call uses when none is passed explicitly, and who asks when
//! the request names nobody.

use std::future::Future;
use std::sync::OnceLock;

use super::Gate;
use crate::{Error, Identity};

tokio::task_local! {
    static CURRENT: Gate;
    static REQUESTER: Identity;
}

static DEFAULT: OnceLock<Gate> = OnceLock::new();
static DEFAULT_REQUESTER: OnceLock<Identity> = OnceLock::new();

/// Runs `future` with `gate` as the current gate for every gated call inside
/// it (on this task).
///
/// ```
/// # use approvals_core::{gate, audit::MemoryAudit, Gate};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = Gate::builder().audit(MemoryAudit::new()).build();
/// let found = gate::scope(gate, async { gate::current().is_ok() }).await;
/// assert!(found);
/// # }
/// ```
pub async fn scope<F: Future>(gate: Gate, future: F) -> F::Output {
    CURRENT.scope(gate, future).await
}

/// Sets the process-wide default gate, once. Returns the gate back if a
/// default was already set.
pub fn set_default(gate: Gate) -> Result<(), Gate> {
    DEFAULT.set(gate)
}

/// The gate in scope, else the process default; with neither,
/// [`Error::NoGate`] (the call must fail closed).
pub fn current() -> Result<Gate, Error> {
    CURRENT
        .try_with(Gate::clone)
        .ok()
        .or_else(|| DEFAULT.get().cloned())
        .ok_or(Error::NoGate)
}

/// Runs `future` with `requester` as the requester of every gated call
/// inside it (on this task) whose request names none.
///
/// A request's requester is, in order: the one it names (`.requester(…)`, or
/// `requester = …` in `#[requires_approval]`); the one in scope; the gate's
/// default requester; the process default ([`set_default_requester`]). With
/// none, the call fails closed with [`Error::NoRequester`].
///
/// ```
/// # use approvals_core::{gate, audit::{AuditEvent, MemoryAudit}, policy::{Policy, Rule}, ActionRequest, Error, Gate};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let audit = MemoryAudit::new();
/// let gate = Gate::builder()
///     .policy(Policy::new().rule(Rule::new("all").allow()))
///     .audit(audit.clone())
///     .build();
/// let request = ActionRequest::new("crm.read_record", 42);
/// gate::scope_requester("agent:crm-bot", gate.run(request, |id| async move { Ok::<_, Error>(id) }))
///     .await?;
/// let AuditEvent::Requested { requester, .. } = &audit.records()[0].event else { unreachable!() };
/// assert_eq!(requester.as_str(), "agent:crm-bot");
/// # Ok(()) }
/// ```
pub async fn scope_requester<F: Future>(requester: impl Into<Identity>, future: F) -> F::Output {
    REQUESTER.scope(requester.into(), future).await
}

/// Sets the process-wide default requester, once: the requester of requests
/// that name none, when no requester is in scope and the gate has no
/// default requester. Returns the identity back if one was already set.
pub fn set_default_requester(requester: impl Into<Identity>) -> Result<(), Identity> {
    DEFAULT_REQUESTER.set(requester.into())
}

/// The requester in scope ([`scope_requester`]), if any.
pub(crate) fn scoped_requester() -> Option<Identity> {
    REQUESTER.try_with(Identity::clone).ok()
}

/// The process default requester ([`set_default_requester`]), if set.
pub(crate) fn default_requester() -> Option<Identity> {
    DEFAULT_REQUESTER.get().cloned()
}
