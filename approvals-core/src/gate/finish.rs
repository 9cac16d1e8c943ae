//! Steps that must finish once started, whoever stops waiting for them.
//!
//! A step of the gate that writes the trail and changes a request's state
//! (recording a vote and counting it, recording a conclusion and waking the
//! caller, recording a request and registering it) must not stop half-way:
//! a conclusion set in memory but never recorded leaves the caller unwoken,
//! and a request recorded but never registered has no conclusion at all.
//! Futures stop half-way whenever they are dropped: an HTTP client that
//! disconnects drops the handler that was casting its vote. [`Finish`] runs
//! such a step in the caller's own task while the caller waits for it, and,
//! if the caller goes away first, hands the rest of the step to the runtime.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;

use super::votes::Registry;
use crate::audit::{AuditError, AuditRecord};

/// A step that runs to its end even if the future awaiting it is dropped:
/// the rest of it is then spawned on the current Tokio runtime.
///
/// Outside a runtime nothing can take the rest over; it is dropped with a
/// warning (the process is then ending, and with it every waiting caller).
#[must_use = "a step does nothing until it is awaited"]
pub(crate) struct Finish<T: Send + 'static> {
    step: Option<BoxFuture<'static, T>>,
}

impl<T: Send + 'static> Finish<T> {
    pub(crate) fn new(step: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            step: Some(Box::pin(step)),
        }
    }
}

impl<T: Send + 'static> Future for Finish<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(step) = self.step.as_mut() else {
            // Polled again after it finished: a caller's bug, never the gate's.
            return Poll::Pending;
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| step.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                self.step = None;
                Poll::Ready(output)
            }
            Err(panic) => {
                // A step that panicked cannot be resumed: it is not handed on.
                self.step = None;
                std::panic::resume_unwind(panic)
            }
        }
    }
}

impl<T: Send + 'static> Drop for Finish<T> {
    fn drop(&mut self) {
        let Some(step) = self.step.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    // Nobody waits for the output: what it holds (a guard
                    // that records a cancellation, say) is dropped here.
                    drop(step.await);
                });
            }
            Err(_) => {
                tracing::warn!("a step of the approval gate was dropped outside a Tokio runtime");
            }
        }
    }
}

impl Registry {
    /// Writes `record`, turning a panic of the sink into an error: a sink
    /// that panics fails the step like one that returns an error, and the
    /// request still ends with a conclusion.
    pub(crate) async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let started = crate::telemetry::enabled().then(std::time::Instant::now);
        let written = futures::FutureExt::catch_unwind(AssertUnwindSafe(self.audit.record(record)))
            .await
            .unwrap_or(Err(AuditError::Panicked));
        crate::telemetry::audit_written(started, std::slice::from_ref(record), &written);
        written
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_dropped_step_is_finished_by_the_runtime() {
        let done = Arc::new(AtomicBool::new(false));
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let step = Finish::new({
            let done = Arc::clone(&done);
            async move {
                let _ = wait.await;
                done.store(true, Ordering::SeqCst);
            }
        });
        // Polled once, then dropped half-way.
        let mut step = Box::pin(step);
        assert!(futures::poll!(step.as_mut()).is_pending());
        drop(step);
        assert!(!done.load(Ordering::SeqCst));
        let _ = release.send(());
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(done.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_finished_step_returns_its_output() {
        assert_eq!(Finish::new(async { 7 }).await, 7);
    }
}
