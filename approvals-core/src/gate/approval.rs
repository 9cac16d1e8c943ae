//! A granted permission to run one call, once.

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use super::votes::Registry;
use crate::audit::{AuditEvent, AuditRecord};
use crate::request::Rebuild;
use crate::{Conclusion, Error, ExecutionOutcome, Fingerprint, RequestId};

/// Permission to run one call, once, with the arguments that were approved.
///
/// [`run`](Approval::run) and [`run_exact`](Approval::run_exact) consume the
/// approval, so it cannot be used twice. After the body ends, its outcome
/// (ok, error or panic) is recorded. An approval dropped without running is
/// recorded as not run.
///
/// What the body is given:
///
/// - [`run`](Approval::run) hands the body the caller's own value, after
///   serializing it again and comparing the bytes with the ones that were
///   fingerprinted, masked, shown to policy and approved: if they differ
///   (interior mutability, a `Serialize` impl that answers differently), the
///   body does not run. What holds is that the value serialized to the
///   approved bytes just before the body started; a value shared with other
///   code (an `Arc<Mutex<_>>`) can still be changed by that code while the
///   body runs.
/// - [`run_exact`](Approval::run_exact), for arguments that are also
///   `DeserializeOwned`, drops the caller's value and hands the body a new
///   one deserialized from the approved bytes: what runs is exactly what was
///   approved, shared state or not (a shared handle is then a new one, not
///   the caller's).
///
/// `Debug` never shows the arguments.
#[must_use = "an approval does nothing until it is run"]
pub struct Approval<A> {
    unrun: Unrun,
    fingerprint: Fingerprint,
    binding: Box<[u8]>,
    action: Cow<'static, str>,
    arguments: Option<A>,
    conclusion: Conclusion,
    /// The call's `approval` span: the body runs in it.
    span: tracing::Span,
    /// Set when a reviewer's edit changed the arguments: `binding` is then
    /// the edited version's, and the caller's value is not what runs.
    /// How they are rebuilt from the approved bytes (`None`: by the
    /// caller, with [`Approval::edited_arguments`]).
    edited: Option<Option<Rebuild<A>>>,
}

impl<A> Approval<A> {
    pub(super) fn new(
        unrun: Unrun,
        fingerprint: Fingerprint,
        binding: Box<[u8]>,
        action: Cow<'static, str>,
        arguments: A,
        conclusion: Conclusion,
        span: tracing::Span,
    ) -> Self {
        Self {
            unrun,
            fingerprint,
            binding,
            action,
            arguments: Some(arguments),
            conclusion,
            span,
            edited: None,
        }
    }

    /// This approval, for the arguments a reviewer's edit made.
    pub(super) fn edited(
        mut self,
        edited: super::edits::Edited,
        rebuild: Option<Rebuild<A>>,
    ) -> Self {
        self.fingerprint = edited.fingerprint;
        self.binding = edited.binding;
        self.edited = Some(rebuild);
        self
    }

    /// The approved arguments as compact JSON, when a reviewer's edit
    /// changed them (`None`: the caller's own arguments were approved as
    /// they are). What the body must run with.
    pub fn edited_arguments(&self) -> Option<&[u8]> {
        self.edited.is_some().then_some(&*self.binding)
    }

    /// The id of the request this approval concluded.
    pub fn request_id(&self) -> &RequestId {
        &self.unrun.request_id
    }

    /// The fingerprint the approval is bound to.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// How permission was given: approved by whom, or allowed by policy.
    pub fn conclusion(&self) -> &Conclusion {
        &self.conclusion
    }

    /// The caller's arguments (not the edited ones, when a reviewer edited
    /// them: see [`edited_arguments`](Self::edited_arguments)).
    pub fn arguments(&self) -> Option<&A> {
        self.arguments.as_ref()
    }
}

impl<A: Serialize> Approval<A> {
    /// Runs `body` with the approved arguments and records how it ended.
    ///
    /// A panic in the body is recorded as `panicked` and then resumed.
    pub async fn run<F, Fut, T, E>(self, body: F) -> Result<T, E>
    where
        F: FnOnce(A) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Error>,
    {
        self.run_converting(body, E::from).await
    }

    /// [`run`](Self::run), with the gate's own errors turned into the
    /// body's error type by `convert` rather than `From`. For the
    /// `#[requires_approval]` attribute's expansion, which states the
    /// bound with a message of its own.
    #[doc(hidden)]
    pub async fn run_converting<F, Fut, T, E>(
        mut self,
        body: F,
        convert: fn(Error) -> E,
    ) -> Result<T, E>
    where
        F: FnOnce(A) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(arguments) = self.take_arguments() else {
            return Err(convert(self.no_arguments()));
        };
        if let Some(rebuild) = self.edited {
            // A reviewer changed the arguments: the body runs with the
            // edited ones, rebuilt from the approved bytes, never the
            // caller's.
            drop(arguments);
            let Some(approved) = rebuild.and_then(|rebuild| rebuild(&self.binding)) else {
                let reason = "the edited arguments could not be rebuilt";
                return Err(convert(Box::pin(self.refuse(reason)).await));
            };
            return self.execute(approved, body).await;
        }
        if !self.still_bound(&arguments) {
            let reason = "the arguments no longer match the approved fingerprint";
            return Err(convert(Box::pin(self.refuse(reason)).await));
        }
        self.execute(arguments, body).await
    }

    /// [`run_converting`](Self::run_converting) for the attribute's
    /// expansion, whose arguments hold references and cannot be rebuilt
    /// whole: when a reviewer's edit changed them, the body is handed the
    /// edited arguments as a JSON object beside the caller's, and rebuilds
    /// its `editable` parameters from it. Every other argument must still
    /// serialize as approved, else the body does not run.
    #[doc(hidden)]
    pub async fn run_edited_converting<F, Fut, T, E>(
        mut self,
        editable: &[&str],
        body: F,
        convert: fn(Error) -> E,
    ) -> Result<T, E>
    where
        F: FnOnce(A, Option<serde_json::Map<String, serde_json::Value>>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if self.edited.is_none() {
            return self
                .run_converting(|arguments| body(arguments, None), convert)
                .await;
        }
        let Some(arguments) = self.take_arguments() else {
            return Err(convert(self.no_arguments()));
        };
        let approved = serde_json::from_slice::<serde_json::Value>(&self.binding);
        // Serialized once, as for the binding (within the depth limit),
        // and read back to compare field by field.
        let mut bytes = Vec::new();
        let caller = super::depth::to_writer(&arguments, &mut bytes)
            .ok()
            .and_then(|()| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
        let bound = match (approved, caller) {
            (Ok(serde_json::Value::Object(approved)), Some(serde_json::Value::Object(caller))) => {
                // Only the editable arguments may differ from the caller's.
                let same = |key: &String| {
                    editable.contains(&key.as_str()) || approved.get(key) == caller.get(key)
                };
                (approved.keys().all(same) && caller.keys().all(same)).then_some(approved)
            }
            _ => None,
        };
        let Some(approved) = bound else {
            let reason = "the arguments no longer match the approved fingerprint";
            return Err(convert(Box::pin(self.refuse(reason)).await));
        };
        self.execute(arguments, move |arguments| body(arguments, Some(approved)))
            .await
    }

    /// Whether the arguments serialize as they did when they were
    /// fingerprinted (and, like then, within `MAX_ARGUMENT_DEPTH`).
    fn still_bound(&self, arguments: &A) -> bool {
        with_scratch(|bytes| {
            super::depth::to_writer(arguments, bytes).is_ok() && **bytes == *self.binding
        })
    }
}

impl<A: DeserializeOwned> Approval<A> {
    /// Runs `body` with arguments deserialized from the approved bytes, and
    /// records how it ended: the body runs with exactly what was approved,
    /// whatever happened to the caller's value since (which is dropped).
    ///
    /// If the approved bytes do not deserialize back into `A` (a type whose
    /// `Deserialize` does not accept what its `Serialize` writes), the body
    /// does not run, the approval is recorded as not run, and the error is
    /// [`Error::BindingMismatch`].
    ///
    /// A panic in the body is recorded as `panicked` and then resumed.
    ///
    /// ```
    /// use approvals_core::audit::MemoryAudit;
    /// use approvals_core::policy::{Policy, Rule};
    /// use approvals_core::{ActionRequest, Error, Gate};
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Refund { customer: String, cents: u64 }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
    /// let gate = Gate::builder()
    ///     .policy(Policy::new().rule(Rule::new("refunds").action("billing.refund").allow()))
    ///     .audit(MemoryAudit::new())
    ///     .build();
    /// let request = ActionRequest::new("billing.refund", Refund { customer: "c_42".into(), cents: 250 })
    ///     .requester("agent:billing");
    /// let approval = gate.authorize(request).await?;
    /// let cents = approval.run_exact(|refund| async move { Ok::<_, Error>(refund.cents) }).await?;
    /// assert_eq!(cents, 250);
    /// # Ok(()) }
    /// ```
    pub async fn run_exact<F, Fut, T, E>(mut self, body: F) -> Result<T, E>
    where
        F: FnOnce(A) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Error>,
    {
        let Some(arguments) = self.take_arguments() else {
            return Err(E::from(self.no_arguments()));
        };
        drop(arguments);
        let Ok(approved) = serde_json::from_slice::<A>(&self.binding) else {
            let reason = "the approved arguments do not deserialize into their type";
            return Err(E::from(Box::pin(self.refuse(reason)).await));
        };
        self.execute(approved, body).await
    }
}

impl<A> Approval<A> {
    /// Takes the arguments out to run them; from here on, this approval is
    /// recorded by its run, not by its drop.
    fn take_arguments(&mut self) -> Option<A> {
        self.unrun.armed = false;
        self.arguments.take()
    }

    fn no_arguments(&self) -> Error {
        Error::Failed {
            request_id: self.unrun.request_id.clone(),
            reason: "the approval has no arguments left to run".to_owned(),
        }
    }

    /// Records that the body did not run because its arguments are not the
    /// approved ones (`reason` says how), and says so.
    async fn refuse(&self, reason: &str) -> Error {
        self.record(ExecutionOutcome::NotRun {
            reason: reason.to_owned(),
        })
        .await;
        Error::BindingMismatch {
            request_id: self.unrun.request_id.clone(),
        }
    }

    /// Runs the body once with `arguments` and records how it ended.
    async fn execute<F, Fut, T, E>(&self, arguments: A, body: F) -> Result<T, E>
    where
        F: FnOnce(A) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = self
            .span
            .in_scope(|| std::panic::catch_unwind(AssertUnwindSafe(|| body(arguments))));
        let finished = match started {
            Ok(future) => {
                AssertUnwindSafe(future)
                    .catch_unwind()
                    .instrument(self.span.clone())
                    .await
            }
            Err(panic) => Err(panic),
        };
        match finished {
            Ok(result) => {
                let outcome = match &result {
                    Ok(_) => ExecutionOutcome::Ok,
                    Err(_) => ExecutionOutcome::Error {
                        error_type: std::any::type_name::<E>().to_owned(),
                    },
                };
                self.span.record(
                    "approval.outcome",
                    if result.is_ok() { "ok" } else { "error" },
                );
                if result.is_err() {
                    // The body's own error type is the application's: the
                    // span says only that the body failed.
                    self.span.record("error.type", "body_error");
                    self.span.record("otel.status_code", "ERROR");
                }
                Box::pin(self.record(outcome))
                    .instrument(self.span.clone())
                    .await;
                result
            }
            Err(panic) => {
                self.span.record("approval.outcome", "panicked");
                self.span.record("error.type", "panicked");
                self.span.record("otel.status_code", "ERROR");
                Box::pin(self.record(ExecutionOutcome::Panicked))
                    .instrument(self.span.clone())
                    .await;
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Records the outcome (boxed by callers, so that the body's future is
    /// not made larger by the record's). The body has already run (or never will), so a
    /// failure here cannot stop anything: it is logged, and the body's own
    /// result is returned to the caller, who must learn what really happened.
    async fn record(&self, outcome: ExecutionOutcome) {
        let unrun = &self.unrun;
        let record = AuditRecord::now(unrun.request_id.clone(), AuditEvent::Executed { outcome });
        if let Err(error) =
            super::stored::record_execution(&unrun.registry, unrun.stored, &record).await
        {
            tracing::error!(request_id = %unrun.request_id, %error, "the outcome of a call could not be recorded");
        }
    }
}

/// The serialized form of `arguments`, which they must still have when the
/// body runs.
pub(super) fn binding_of<A: Serialize>(
    arguments: &A,
) -> Result<Box<[u8]>, super::depth::Unserializable> {
    with_scratch(|bytes| {
        super::depth::to_writer(arguments, bytes)?;
        Ok(Box::from(bytes.as_slice()))
    })
}

/// A scratch buffer larger than this is not kept for the next call.
const SCRATCH_KEPT: usize = 16 * 1024;

thread_local! {
    /// Where arguments are serialized for their binding: kept per thread, so
    /// that the binding is one allocation of its exact size, and checking it
    /// none.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `serialize` with an empty buffer: the thread's scratch buffer, or a
/// new one when that is in use (a `Serialize` impl that runs a gated call) or
/// gone (the thread is ending).
fn with_scratch<R>(mut serialize: impl FnMut(&mut Vec<u8>) -> R) -> R {
    let kept = SCRATCH.try_with(|scratch| {
        let mut bytes = scratch.try_borrow_mut().ok()?;
        bytes.clear();
        let result = serialize(&mut bytes);
        if bytes.capacity() > SCRATCH_KEPT {
            *bytes = Vec::new();
        }
        Some(result)
    });
    match kept {
        Ok(Some(result)) => result,
        _ => serialize(&mut Vec::new()),
    }
}

/// An allowed or approved call that has not run yet: dropped armed, it
/// records the call as not run, so that every such call ends with an
/// `executed` record, wherever its caller stopped.
pub(super) struct Unrun {
    registry: Arc<Registry>,
    request_id: RequestId,
    armed: bool,
    /// The request is kept in the gate's store, whose execution state the
    /// outcome also settles.
    stored: bool,
}

impl Unrun {
    pub(super) fn new(registry: Arc<Registry>, request_id: RequestId) -> Self {
        Self {
            registry,
            request_id,
            armed: true,
            stored: false,
        }
    }

    /// An approval of a stored request, claimed by this caller.
    pub(super) fn stored(registry: Arc<Registry>, request_id: RequestId) -> Self {
        Self {
            registry,
            request_id,
            armed: true,
            stored: true,
        }
    }
}

impl Drop for Unrun {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let registry = Arc::clone(&self.registry);
        let stored = self.stored;
        let record = AuditRecord::now(
            self.request_id.clone(),
            AuditEvent::Executed {
                outcome: ExecutionOutcome::NotRun {
                    reason: "the approval was dropped without running".to_owned(),
                },
            },
        );
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) =
                        super::stored::record_execution(&registry, stored, &record).await
                    {
                        tracing::error!(%error, "an unused approval could not be recorded");
                    }
                });
            }
            Err(_) => tracing::warn!(
                request_id = %self.request_id,
                "an unused approval was dropped outside a Tokio runtime and is not recorded"
            ),
        }
    }
}

impl<A> std::fmt::Debug for Approval<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("request_id", &self.unrun.request_id)
            .field("action", &self.action)
            .field("fingerprint", &self.fingerprint)
            .field("conclusion", &self.conclusion)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_binding_is_the_serialization() {
        let args = json!({"customer": "c_42", "cents": 250, "note": "x".repeat(100)});
        let binding = binding_of(&args).unwrap();
        assert_eq!(*binding, *serde_json::to_vec(&args).unwrap());
        // The buffer is emptied between uses: a shorter value is not mixed
        // with what the longer one left.
        assert_eq!(*binding_of(&1u8).unwrap(), *b"1");
    }

    #[test]
    fn a_large_serialization_is_not_kept_by_the_thread() {
        let large = "y".repeat(SCRATCH_KEPT * 2);
        assert_eq!(binding_of(&large).unwrap().len(), large.len() + 2);
        SCRATCH.with(|scratch| assert!(scratch.borrow().capacity() <= SCRATCH_KEPT));
    }

    /// Serializes its inner value's binding while being serialized, as a
    /// `Serialize` impl that makes a gated call would.
    struct Reentrant(u32);

    impl Serialize for Reentrant {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let inner =
                binding_of(&self.0).map_err(|_| serde::ser::Error::custom("unserializable"))?;
            serializer.serialize_bytes(&inner)
        }
    }

    #[test]
    fn serializing_inside_a_serialization_uses_its_own_buffer() {
        let binding = binding_of(&Reentrant(7)).unwrap();
        assert_eq!(*binding, *serde_json::to_vec(&Reentrant(7)).unwrap());
        assert_eq!(&*binding, b"[55]");
    }
}
