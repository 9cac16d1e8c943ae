//! Which gate a call uses when none is passed explicitly.

use std::future::Future;
use std::sync::OnceLock;

use super::Gate;
use crate::Error;

tokio::task_local! {
    static CURRENT: Gate;
}

static DEFAULT: OnceLock<Gate> = OnceLock::new();

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
