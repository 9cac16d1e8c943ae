//! The gate: the one place where security decisions are made.
//!
//! A [`Gate`] takes an [`ActionRequest`], asks the policy, masks the
//! arguments, delivers the masked request to its channels, judges every vote,
//! enforces the deadline, records each step in the audit trail, and hands
//! back an [`Approval`] that runs the body once, with exactly the arguments
//! that were approved. Arguments nested more than [`MAX_ARGUMENT_DEPTH`]
//! levels deep are refused first, with [`Error::Arguments`].
//!
//! ```
//! use approvals_core::audit::MemoryAudit;
//! use approvals_core::policy::{Policy, Rule};
//! use approvals_core::{ActionRequest, Gate};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), approvals_core::Error> {
//! let audit = MemoryAudit::new();
//! let gate = Gate::builder()
//!     .policy(Policy::new().rule(Rule::new("reads").action("crm.read_*").allow()))
//!     .audit(audit.clone())
//!     .build();
//!
//! let request = ActionRequest::new("crm.read_record", 42u64).requester("agent:crm-bot");
//! let record = gate.run(request, |id| async move { Ok::<_, approvals_core::Error>(format!("record {id}")) }).await?;
//! assert_eq!(record, "record 42");
//! assert_eq!(audit.len(), 3); // requested, concluded (allowed by policy), executed
//! # Ok(()) }
//! ```

mod approval;
mod builder;
mod depth;
mod durable;
mod edits;
mod finish;
mod scope;
mod shadow;
mod stored;
mod votes;

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::FutureExt as _;
use serde::Serialize;
use tracing::Instrument as _;

use crate::telemetry;

pub use approval::Approval;
pub use builder::GateBuilder;
pub use depth::MAX_ARGUMENT_DEPTH;
pub use scope::{current, scope, scope_requester, set_default, set_default_requester};
pub use votes::VoteBox;

use self::approval::Unrun;
use self::finish::Finish;
use self::votes::{Outcome, Pending, Registry};
use crate::audit::{AuditEvent, AuditRecord};
use crate::channel::{Channel, ChannelError};
use crate::mask::{MaskedView, Masker};
use crate::policy::RequirementBuilder;
use crate::policy::{Decision, Escalation, Policy, PolicyError, PolicyInput, Requirement, Verdict};
use crate::time::Clock;
use crate::{
    ActionRequest, Conclusion, Error, Fingerprint, Identity, RequestId, Review, Risk, Timestamp,
};

/// The approval gate. Cheap to clone: clones share policy, channels, audit
/// sink and pending requests.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    /// Shared with the registry, which judges edits by it.
    policy: Arc<RwLock<Arc<Policy>>>,
    /// The candidate of shadow mode, evaluated beside `policy`; it never
    /// decides.
    shadow: RwLock<Option<Arc<Policy>>>,
    /// Whether `shadow` holds a candidate: read without the lock, so that
    /// a gate without one pays a load, not a lock, per call.
    shadowing: std::sync::atomic::AtomicBool,
    masker: Arc<dyn Masker>,
    default_requester: Option<Identity>,
    registry: Arc<Registry>,
    /// The first declaration seen per action name (see
    /// [`ActionRequest::declared_at`]).
    declarations: RwLock<HashMap<String, Declaration>>,
}

/// What a place in the code declares for an action.
struct Declaration {
    site: &'static str,
    risk: Risk,
    requirement: Option<RequirementBuilder>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field(
                "channels",
                &self
                    .inner
                    .registry
                    .channels
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>(),
            )
            .field("pending", &self.inner.registry.pending_count())
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// Replaces the policy. Requests already pending keep the requirement they
    /// were given; new requests use the new policy.
    pub fn set_policy(&self, policy: Policy) {
        *self
            .inner
            .policy
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(
            &self
                .inner
                .policy
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// A vote box for app code, stamped with the channel name `"app"`:
    /// it can cast a ballot as anyone, so it exists only with the `testing`
    /// feature. Channels get theirs from the gate
    /// ([`Channel::attach`]).
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub fn votes(&self) -> VoteBox {
        VoteBox::new(&self.inner.registry, "app")
    }

    /// Asks for permission to run `request`, and runs `body` with its
    /// arguments if permission is given. The body's outcome is recorded.
    ///
    /// A refusal, denial, expiry or fault arrives as the body's own error
    /// type through `From<Error>`.
    pub async fn run<A, F, Fut, T, E>(&self, request: ActionRequest<A>, body: F) -> Result<T, E>
    where
        A: Serialize,
        F: FnOnce(A) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Error>,
    {
        let approval = self.authorize(request).await?;
        approval.run(body).await
    }

    /// Asks for permission to run `request` and waits for the conclusion.
    ///
    /// On success the [`Approval`] holds the arguments and runs a body once
    /// with them. Every other conclusion is an [`Error`]: refused by policy,
    /// denied, expired, or any fault (fail closed). Dropping the returned
    /// future before it completes cancels the request and tells the channels.
    ///
    /// Arguments that do not serialize, or that nest more than
    /// [`MAX_ARGUMENT_DEPTH`] levels deep, fail with [`Error::Arguments`]
    /// before anything is recorded or delivered.
    pub async fn authorize<A: Serialize>(
        &self,
        request: ActionRequest<A>,
    ) -> Result<Approval<A>, Error> {
        let meter = telemetry::CallMeter::start(&request.action);
        let Prepared {
            opening,
            fingerprint,
            binding,
            action,
            arguments,
            rebuild,
            span,
        } = match self.prepare(request) {
            Ok(prepared) => prepared,
            Err(error) => {
                meter.end(error.outcome());
                return Err(error);
            }
        };
        // Timed only for a subscriber that listens (clocks are not free).
        let started =
            (!span.is_disabled()).then(|| meter.started().unwrap_or_else(std::time::Instant::now));
        // Recording the request is boxed and done before waiting begins, so
        // that a pending request's future holds only what waiting needs. It
        // finishes even if this future is dropped while it runs: what it
        // returns then ends the request (cancelled, or allowed and not run).
        let concluded = async {
            let opened = opening.await?;
            let _pending = (!matches!(opened, Opened::Concluded(..)))
                .then(|| telemetry::PendingGauge::new(&action));
            match opened {
                Opened::Concluded(conclusion, unrun) => Ok((conclusion, unrun, None)),
                Opened::Pending(waiting) => self.await_conclusion(waiting).await,
                Opened::Stored(waiting) => Box::pin(self.await_stored(waiting))
                    .await
                    .map(|(conclusion, unrun)| (conclusion, unrun, None)),
            }
        }
        .instrument(span.clone())
        .await;
        if let Some(started) = started {
            span.record("approval.wait_ms", elapsed_ms(started));
        }
        let (conclusion, unrun, edited) = match concluded {
            Ok(concluded) => concluded,
            Err(error) => {
                span.record("approval.conclusion", error.outcome());
                span.record("error.type", error.outcome());
                span.record("otel.status_code", "ERROR");
                meter.end(error.outcome());
                return Err(error);
            }
        };
        span.record("approval.conclusion", conclusion.outcome());
        meter.end(conclusion.outcome());
        let approval = Approval::new(
            unrun,
            fingerprint,
            binding,
            action,
            arguments,
            conclusion,
            span,
        );
        Ok(match edited {
            Some(edited) => approval.edited(edited, rebuild),
            None => approval,
        })
    }

    /// Everything before the first record, without awaiting: serializes,
    /// fingerprints and masks the arguments and asks the policy. Kept out of
    /// `authorize`'s future so that none of it takes room there.
    fn prepare<A: Serialize>(&self, request: ActionRequest<A>) -> Result<Prepared<A>, Error> {
        let ActionRequest {
            action,
            description,
            risk,
            requester,
            justification,
            arguments,
            argument_masks,
            requirement,
            declared_at,
            key,
            edits,
            argument_schema,
        } = request;
        if let Some(edits) = &edits
            && let Some(problem) = edits
                .declared
                .iter()
                .find_map(|path| crate::edit::check_path(path).err())
        {
            return Err(Error::EditablePath {
                action: action.into_owned(),
                problem,
            });
        }
        if let Some(site) = declared_at {
            self.check_declaration(&action, site, risk, requirement.as_ref())?;
        }
        let requester = requester
            .or_else(scope::scoped_requester)
            .or_else(|| self.inner.default_requester.clone())
            .or_else(scope::default_requester)
            .filter(|requester| !requester.as_str().is_empty())
            .ok_or(Error::NoRequester)?;
        // The arguments are serialized once: these bytes are what the
        // fingerprint, the masked view and policy are made from, what a vote
        // approves, and what the body's arguments must still serialize to
        // when it runs (compared byte for byte). A `Serialize` impl that
        // answers differently each time cannot show policy one value and
        // run another. The serialization refuses arguments nested deeper
        // than `MAX_ARGUMENT_DEPTH` and numbers JSON cannot carry exactly.
        let binding = approval::binding_of(&arguments).map_err(arguments_error)?;
        let value: serde_json::Value =
            serde_json::from_slice(&binding).map_err(|error| Error::Arguments {
                category: serde_category(&error),
            })?;
        let fingerprint = Fingerprint::of(&action, &value, &requester);
        let masked = self
            .inner
            .masker
            .mask_arguments(&action, &value, &argument_masks);
        // Every free text a caller sets is masked: it reaches records and
        // reviewers beside the masked arguments.
        let justification = justification
            .as_deref()
            .map(|text| votes::safe_mask_text(self.inner.masker.as_ref(), text));
        let description = mask_description(self.inner.masker.as_ref(), description);
        let input = PolicyInput {
            action: &action,
            risk,
            requester: &requester,
            arguments: &value,
        };
        let decision = self
            .inner
            .policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .evaluate_with(&input, requirement.as_ref());
        let id = RequestId::random();
        let disagreement = self.shadow_disagreement(&id, &input, requirement.as_ref(), &decision);
        // What an edit needs, kept only for a call that takes edits and
        // waits for people.
        let (editing, rebuild) = match edits {
            Some(edits) => {
                let editing = matches!(
                    &decision,
                    Ok(Decision {
                        verdict: Verdict::RequireApproval(_),
                        ..
                    })
                )
                .then(|| {
                    Box::new(edits::Editing {
                        action: action.clone().into_owned(),
                        risk,
                        argument_masks,
                        declared_requirement: requirement,
                        declared: edits.declared,
                        check: edits.check,
                        capped: edits.rebuild.is_none(),
                        arguments: value,
                        binding: None,
                    })
                });
                (editing, edits.rebuild)
            }
            None => (None, None),
        };
        // One span per gated call: what it is and how it ended, never an
        // argument value.
        let span = tracing::info_span!(
            "approval",
            approval.action = %action,
            approval.request_id = %id,
            approval.risk = risk.as_str(),
            approval.requester = %requester,
            approval.decision = decision_name(&decision),
            approval.conclusion = tracing::field::Empty,
            approval.wait_ms = tracing::field::Empty,
            approval.outcome = tracing::field::Empty,
            error.r#type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let call = Call {
            id,
            action: action.clone(),
            description,
            risk,
            requester,
            justification,
            masked,
            fingerprint,
            key,
            editing,
            argument_schema,
        };
        let gate = self.clone();
        let opening = match decision {
            // The common path, with a future of its own: a third of the
            // size of `open`'s, which is quicker to allocate.
            Ok(Decision {
                rule,
                verdict: Verdict::Allow,
                ..
            }) => Finish::new(gate.allow(
                call.into_requested(Verdict::Allow.as_str(), rule.clone()),
                rule,
            )),
            decision => Finish::new(gate.open(call, decision)),
        };
        Ok(Prepared {
            opening: match disagreement {
                None => opening,
                Some(record) => shadow::record_first(&self.inner.registry, record, opening),
            },
            fingerprint,
            binding,
            action,
            arguments,
            rebuild,
            span,
        })
    }

    /// Records the request and applies the policy's decision: concluded at
    /// once, or pending and ready to be delivered.
    async fn open(
        self,
        call: Call,
        decision: Result<Decision, PolicyError>,
    ) -> Result<Opened, Error> {
        let audit = &*self.inner.registry;
        let id = call.id.clone();
        let Decision { rule, verdict, .. } = match decision {
            Ok(decision) => decision,
            Err(error) => {
                audit.record(&call.into_requested("error", None)).await?;
                let failed = Conclusion::Failed {
                    reason: audit.mask_text(&format!("policy: {error}")),
                };
                self.record_conclusion(&id, failed).await?;
                return Err(Error::Policy(error));
            }
        };
        match verdict {
            Verdict::Allow => {
                let requested = call.into_requested(Verdict::Allow.as_str(), rule.clone());
                self.allow(requested, rule).await
            }
            Verdict::Refuse { reason } => {
                audit
                    .record(&call.into_requested("refuse", rule.clone()))
                    .await?;
                let reason = audit.mask_text(&reason);
                let refused = Conclusion::RefusedByPolicy {
                    rule: rule.clone(),
                    reason: reason.clone(),
                };
                self.record_conclusion(&id, refused).await?;
                Err(Error::RefusedByPolicy { rule, reason })
            }
            Verdict::RequireApproval(requirement) if audit.durable.is_some() => {
                // Boxed, so that the futures of calls that never reach a
                // store do not carry its state.
                Box::pin(self.open_stored(call, requirement, rule)).await
            }
            Verdict::RequireApproval(requirement) => {
                let requested_at = audit.clock.now();
                let deadline = requested_at.after(requirement.timeout);
                let requested = call.requested(&requirement, deadline, rule.clone());
                audit.record(&requested).await?;
                drop(requested);
                if self.inner.registry.channels.is_empty() {
                    let failed = Conclusion::Failed {
                        reason: ChannelError::NoChannel.to_string(),
                    };
                    self.record_conclusion(&id, failed).await?;
                    return Err(Error::Channel {
                        request_id: id,
                        source: ChannelError::NoChannel,
                    });
                }
                let (review, editing) =
                    call.into_review(&requirement, rule, requested_at, deadline);
                let review = Arc::new(review);
                let Ok((pending, receiver)) = self.inner.registry.open(review, editing) else {
                    let limit = self.inner.registry.limits.max_pending;
                    let failed = Conclusion::Failed {
                        reason: format!("{limit} requests are already pending"),
                    };
                    self.record_conclusion(&id, failed).await?;
                    return Err(Error::TooManyPending {
                        request_id: id,
                        limit,
                    });
                };
                // From here on, the request ends as cancelled if nobody
                // takes it up.
                let guard = CancelOnDrop {
                    gate: self.clone(),
                    pending: Some(Arc::clone(&pending)),
                };
                Ok(Opened::Pending(Waiting {
                    pending,
                    receiver,
                    guard,
                    wait: Wait {
                        timeout: requirement.timeout,
                        escalation: requirement.escalation,
                    },
                }))
            }
        }
    }

    /// Records a call that policy allows: its `requested` record, then the
    /// same record turned into its conclusion.
    ///
    /// An `async` block rather than an `async fn`, so that the record is kept
    /// once in the future rather than as an argument and again as a local.
    #[allow(clippy::manual_async_fn)]
    fn allow(
        self,
        mut record: AuditRecord,
        rule: Option<String>,
    ) -> impl Future<Output = Result<Opened, Error>> + Send + 'static {
        async move {
            let audit = &self.inner.registry;
            audit.record(&record).await?;
            let conclusion = Conclusion::AllowedByPolicy { rule };
            record.at = Timestamp::now();
            record.event = AuditEvent::Concluded {
                conclusion: votes::mask_conclusion(self.inner.masker.as_ref(), conclusion),
            };
            audit.record(&record).await.map_err(Error::Audit)?;
            match record.event {
                AuditEvent::Concluded { conclusion } => Ok(Opened::Concluded(
                    conclusion,
                    Unrun::new(Arc::clone(&self.inner.registry), record.request_id),
                )),
                // Set just above; failing closed costs nothing here.
                _ => Err(Error::Failed {
                    request_id: record.request_id,
                    reason: "the conclusion of an allowed call was lost".to_owned(),
                }),
            }
        }
    }

    /// Delivers the request, then waits for votes, escalation or the deadline.
    ///
    /// Every step that changes the request (escalating, expiring, failing
    /// it, telling the channels) finishes even if this future is dropped
    /// half-way; the guard in `waiting` cancels the request if it is dropped
    /// before it ends.
    async fn await_conclusion(
        &self,
        waiting: Waiting,
    ) -> Result<(Conclusion, Unrun, Option<edits::Edited>), Error> {
        let Waiting {
            pending,
            mut receiver,
            mut guard,
            wait,
        } = waiting;
        let review = pending.request();
        let start = tokio::time::Instant::now();
        let deadline = start + wait.timeout;

        // Work off the waiting path is boxed, so that the state of a pending
        // request's future holds only what waiting needs: with many requests
        // pending, that is most of their memory. Delivery is bounded by the
        // deadline, and a conclusion reached while it runs (a vote through a
        // channel that has delivered) ends the wait at once.
        let delivery = Box::pin(tokio::time::timeout_at(deadline, self.deliver(&review)));
        let delivered = tokio::select! {
            biased;
            outcome = &mut receiver => Err(outcome.unwrap_or_else(|_| Ok(Conclusion::Cancelled))),
            delivered = delivery => Ok(delivered),
        };
        let outcome: Outcome = match delivered {
            Ok(Ok(Ok(()))) => {
                Box::pin(self.wait_for_votes(&pending, &mut receiver, &wait, start, deadline)).await
            }
            Ok(Ok(Err(source))) => {
                let failed = self.fail_delivery(&pending, source).await;
                guard.disarm();
                return Err(failed);
            }
            // The deadline passed while a channel was still delivering.
            Ok(Err(_)) => Box::pin(self.expire(&pending, &mut receiver)).await,
            Err(outcome) => outcome,
        };
        guard.disarm();
        let result = match outcome {
            Err(error) => Err(Error::Audit(error)),
            Ok(conclusion) => conclusion_to_result(conclusion, &review, wait.timeout),
        };
        // An approval exists from the moment it is concluded: if this
        // future is dropped before it is handed over, it is recorded as not
        // run.
        let result = result.map(|conclusion| {
            let unrun = Unrun::new(Arc::clone(&self.inner.registry), review.id.clone());
            (conclusion, unrun)
        });
        // Approved after an edit: the body runs with the edited arguments.
        let edited = match &result {
            Ok(_) => {
                let fingerprint = pending.request().fingerprint;
                pending.state.lock().await.take_edited(fingerprint)
            }
            Err(_) => None,
        };
        self.announce(&pending).await;
        result.map(|(conclusion, unrun)| (conclusion, unrun, edited))
    }

    /// Waits for the votes to end the request, escalating on time, and ends
    /// it as expired at the deadline.
    async fn wait_for_votes(
        &self,
        pending: &Arc<Pending>,
        receiver: &mut tokio::sync::oneshot::Receiver<Outcome>,
        wait: &Wait,
        start: tokio::time::Instant,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let mut escalation = wait
            .escalation
            .as_ref()
            .filter(|escalation| escalation.after < wait.timeout)
            .map(|escalation| (start + escalation.after, escalation.approvers.clone()));
        // One timer: first for the escalation, if any, then for the deadline.
        let timer = tokio::time::sleep_until(escalation.as_ref().map_or(deadline, |(at, _)| *at));
        tokio::pin!(timer);
        loop {
            tokio::select! {
                biased;
                outcome = &mut *receiver => {
                    return outcome.unwrap_or_else(|_| Ok(Conclusion::Cancelled));
                }
                () = &mut timer => {}
            }
            if let Some((_, added)) = escalation.take() {
                self.escalate(pending, added).await;
                timer.as_mut().reset(deadline);
                continue;
            }
            return self.expire(pending, receiver).await;
        }
    }

    /// Ends the request as expired (unless something ended it first) and
    /// returns how it ended.
    async fn expire(
        &self,
        pending: &Arc<Pending>,
        receiver: &mut tokio::sync::oneshot::Receiver<Outcome>,
    ) -> Outcome {
        self.conclude_now(pending, Conclusion::Expired).await;
        // The request has ended, by this step or by one before it, and
        // whoever ended it told this caller. Should that word ever be lost,
        // the request's own state answers: the deadline has passed and is
        // not awaited again.
        match receiver.try_recv() {
            Ok(outcome) => outcome,
            Err(_) => Ok(pending
                .state
                .lock()
                .await
                .conclusion
                .clone()
                .unwrap_or(Conclusion::Expired)),
        }
    }

    /// Ends a request whose delivery failed, tells the channels, and says
    /// why.
    fn fail_delivery(&self, pending: &Arc<Pending>, source: ChannelError) -> Finish<Error> {
        let gate = self.clone();
        let pending = Arc::clone(pending);
        Finish::new(async move {
            let source = mask_channel_error(&gate.inner.registry, source);
            let failed = Conclusion::Failed {
                reason: source.to_string(),
            };
            gate.conclude_now(&pending, failed).await;
            gate.announce(&pending).await;
            Error::Channel {
                request_id: pending.request().id.clone(),
                source,
            }
        })
    }

    /// Ends a pending request, unless a vote ended it first. Runs to its end
    /// once started.
    fn conclude_now(&self, pending: &Arc<Pending>, conclusion: Conclusion) -> Finish<()> {
        let registry = Arc::clone(&self.inner.registry);
        let pending = Arc::clone(pending);
        Finish::new(async move {
            let mut state = pending.state.lock().await;
            registry.conclude(&pending, &mut state, conclusion).await;
        })
    }

    async fn deliver(&self, review: &Review) -> Result<(), ChannelError> {
        let registry = &self.inner.registry;
        let deliveries = registry.channels.iter().map(|approver| {
            let votes = VoteBox::new(registry, approver.name());
            async move {
                match AssertUnwindSafe(approver.deliver(review, votes))
                    .catch_unwind()
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(ChannelError::Panicked {
                        channel: approver.name().to_owned(),
                    }),
                }
            }
        });
        let mut first = Ok(());
        for (channel, result) in registry
            .channels
            .iter()
            .zip(futures::future::join_all(deliveries).await)
        {
            if let Err(error) = result {
                telemetry::channel_failed(channel.name(), "deliver");
                if first.is_ok() {
                    first = Err(error);
                }
            }
        }
        first
    }

    /// Adds the escalation's approvers, records it and tells the channels.
    /// Runs to its end once started.
    fn escalate(&self, pending: &Arc<Pending>, added: Vec<Identity>) -> Finish<()> {
        let gate = self.clone();
        let pending = Arc::clone(pending);
        Finish::new(async move {
            let registry = &gate.inner.registry;
            let mut state = pending.state.lock().await;
            if state.conclusion.is_some() {
                return;
            }
            let added: Vec<Identity> = added
                .into_iter()
                .filter(|identity| !state.eligible.contains(identity))
                .collect();
            let record = AuditRecord::now(
                pending.request().id.clone(),
                AuditEvent::Escalated {
                    added: added.clone(),
                },
            );
            if let Err(error) = registry.record(&record).await {
                registry
                    .conclude(
                        &pending,
                        &mut state,
                        Conclusion::Failed {
                            reason: format!("the escalation could not be recorded: {error}"),
                        },
                    )
                    .await;
                return;
            }
            state.eligible.extend(added.iter().cloned());
            drop(state);
            let review = pending.request();
            gate.inner
                .registry
                .tell_channels("an escalation", &review.id, |approver| {
                    approver.escalated(&review, &added)
                })
                .await;
        })
    }

    /// Tells every channel how the request ended, so it can update its
    /// message. Failures are logged: the decision is already made. Runs to
    /// its end once started.
    fn announce(&self, pending: &Arc<Pending>) -> Finish<()> {
        let gate = self.clone();
        let pending = Arc::clone(pending);
        Finish::new(async move {
            let Some(conclusion) = pending.state.lock().await.conclusion.clone() else {
                return;
            };
            let review = &pending.request();
            gate.inner
                .registry
                .tell_channels("how a request ended", &review.id, |approver| {
                    approver.concluded(review, &conclusion)
                })
                .await;
        })
    }

    /// Records how a request ended when it ended without being pending.
    async fn record_conclusion(&self, id: &RequestId, conclusion: Conclusion) -> Result<(), Error> {
        let registry = &self.inner.registry;
        let conclusion = votes::mask_conclusion(registry.masker(), conclusion);
        registry
            .record(&AuditRecord::now(
                id.clone(),
                AuditEvent::Concluded { conclusion },
            ))
            .await
            .map_err(Error::Audit)
    }

    /// Refuses a declaration of `action` that differs from the first one
    /// seen under that name.
    fn check_declaration(
        &self,
        action: &str,
        site: &'static str,
        risk: Risk,
        requirement: Option<&RequirementBuilder>,
    ) -> Result<(), Error> {
        let judge = |first: &Declaration| {
            if first.risk == risk && first.requirement.as_ref() == requirement {
                Ok(())
            } else {
                Err(Error::ConflictingDeclarations {
                    action: action.to_owned(),
                    first: first.site,
                    second: site,
                })
            }
        };
        // Every call of a declared action reads the map; only its first
        // call writes it.
        let declarations = &self.inner.declarations;
        if let Some(first) = declarations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(action)
        {
            return judge(first);
        }
        let mut declarations = declarations.write().unwrap_or_else(PoisonError::into_inner);
        match declarations.get(action) {
            Some(first) => judge(first),
            None => {
                declarations.insert(
                    action.to_owned(),
                    Declaration {
                        site,
                        risk,
                        requirement: requirement.cloned(),
                    },
                );
                Ok(())
            }
        }
    }
}

/// A prepared call: the step that records and opens it, and what the
/// approval will need.
struct Prepared<A> {
    opening: Finish<Result<Opened, Error>>,
    fingerprint: Fingerprint,
    binding: Box<[u8]>,
    action: Cow<'static, str>,
    arguments: A,
    /// How the arguments are rebuilt from approved bytes, for a call that
    /// takes edits.
    rebuild: Option<crate::request::Rebuild<A>>,
    span: tracing::Span,
}

/// What policy decided, as the `approval` span's `approval.decision`.
fn decision_name(decision: &Result<Decision, PolicyError>) -> &'static str {
    match decision {
        Ok(decision) => decision.verdict.as_str(),
        Err(_) => "policy_error",
    }
}

/// Milliseconds since `started`, for span fields.
fn elapsed_ms(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How [`Gate::open`] left a request.
enum Opened {
    /// Allowed by policy: no one needs to be asked. The guard records the
    /// call as not run if no approval is made of it.
    Concluded(Conclusion, Unrun),
    /// Recorded, registered, and waiting to be delivered.
    Pending(Waiting),
    /// Kept in the store: new and waiting to be delivered, or found there
    /// pending and waited for again.
    Stored(stored::StoredWait),
}

/// A registered request and what waiting for it needs.
struct Waiting {
    pending: Arc<Pending>,
    receiver: tokio::sync::oneshot::Receiver<Outcome>,
    /// Cancels the request if it is dropped before it ends.
    guard: CancelOnDrop,
    wait: Wait,
}

/// What waiting for a conclusion needs of the requirement.
struct Wait {
    timeout: Duration,
    escalation: Option<Escalation>,
}

/// A call, serialized, fingerprinted and masked: everything the rest of the
/// path needs, and nothing raw.
struct Call {
    id: RequestId,
    action: Cow<'static, str>,
    description: Cow<'static, str>,
    risk: Risk,
    requester: Identity,
    justification: Option<String>,
    masked: MaskedView,
    fingerprint: Fingerprint,
    key: Option<String>,
    /// What judging an edit needs, for a call that takes edits.
    editing: Option<Box<edits::Editing>>,
    argument_schema: Option<Arc<serde_json::Value>>,
}

impl Call {
    /// The `requested` record of a call that waits for approval: the call
    /// stays, to become the request shown to reviewers.
    fn requested(
        &self,
        requirement: &Requirement,
        deadline: Timestamp,
        rule: Option<String>,
    ) -> AuditRecord {
        AuditRecord::now(
            self.id.clone(),
            AuditEvent::Requested {
                action: self.action.clone(),
                description: self.description.clone(),
                risk: self.risk,
                requester: self.requester.clone(),
                justification: self.justification.clone(),
                arguments: self.masked.clone(),
                fingerprint: self.fingerprint,
                rule,
                verdict: "require_approval".to_owned(),
                approvers: requirement.approvers.clone(),
                quorum: Some(requirement.quorum),
                deadline: Some(deadline),
            },
        )
    }

    /// The `requested` record of a call that policy settled at once (allowed,
    /// refused, or failed): it takes the call's parts rather than copies.
    fn into_requested(self, verdict: &str, rule: Option<String>) -> AuditRecord {
        AuditRecord::now(
            self.id,
            AuditEvent::Requested {
                action: self.action,
                description: self.description,
                risk: self.risk,
                requester: self.requester,
                justification: self.justification,
                arguments: self.masked,
                fingerprint: self.fingerprint,
                rule,
                verdict: verdict.to_owned(),
                approvers: Vec::new(),
                quorum: None,
                deadline: None,
            },
        )
    }

    /// The request reviewers see, and what judging its edits needs (`None`
    /// when nothing of it is editable).
    fn into_review(
        self,
        requirement: &Requirement,
        rule: Option<String>,
        requested_at: Timestamp,
        deadline: Timestamp,
    ) -> (Review, Option<Box<edits::Editing>>) {
        let editable = self.editing.as_ref().map_or_else(Vec::new, |editing| {
            editing.editable(requirement.editable.as_deref())
        });
        let editing = self.editing.filter(|_| !editable.is_empty());
        let review = Review {
            id: self.id,
            action: self.action.into_owned(),
            description: self.description.into_owned(),
            risk: self.risk,
            requester: self.requester,
            justification: self.justification,
            arguments: self.masked,
            fingerprint: self.fingerprint,
            approvers: requirement.approvers.clone(),
            quorum: requirement.quorum,
            deny_reason_required: requirement.deny_reason_required,
            rule,
            requested_at,
            deadline,
            version: 1,
            editable,
            argument_schema: self.argument_schema,
        };
        (review, editing)
    }
}

fn conclusion_to_result(
    conclusion: Conclusion,
    review: &Review,
    timeout: Duration,
) -> Result<Conclusion, Error> {
    let request_id = review.id.clone();
    match conclusion {
        Conclusion::Approved { .. } | Conclusion::AllowedByPolicy { .. } => Ok(conclusion),
        Conclusion::Denied { by, reason } => Err(Error::Denied {
            request_id,
            by,
            reason,
        }),
        Conclusion::Expired => Err(Error::Expired {
            request_id,
            timeout,
        }),
        Conclusion::Cancelled => Err(Error::Cancelled { request_id }),
        Conclusion::RefusedByPolicy { rule, reason } => {
            Err(Error::RefusedByPolicy { rule, reason })
        }
        Conclusion::Failed { reason } => Err(Error::Failed { request_id, reason }),
    }
}

/// A channel's error with its free-text message masked: channels may quote
/// what a service answered, and that text reaches records and callers.
fn mask_channel_error(registry: &Registry, error: ChannelError) -> ChannelError {
    match error {
        ChannelError::Unavailable { channel, message } => ChannelError::Unavailable {
            channel,
            message: registry.mask_text(&message),
        },
        ChannelError::Rejected { channel, message } => ChannelError::Rejected {
            channel,
            message: registry.mask_text(&message),
        },
        other => other,
    }
}

/// The description masked like every other free text; kept as it is (and
/// unallocated, when it is a literal) when there is nothing to mask.
fn mask_description(masker: &dyn Masker, description: Cow<'static, str>) -> Cow<'static, str> {
    if description.is_empty() {
        return description;
    }
    let masked = votes::safe_mask_text(masker, &description);
    if masked == *description {
        description
    } else {
        Cow::Owned(masked)
    }
}

/// The typed error for arguments that could not be serialized: the
/// category names what went wrong, never a value.
fn arguments_error(error: depth::Unserializable) -> Error {
    let category = match error {
        depth::Unserializable::Refused(limit) => limit.category(),
        depth::Unserializable::Json(error) => serde_category(&error),
    };
    Error::Arguments { category }
}

fn serde_category(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Io => "i/o",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "eof",
    }
}

/// Cancels the request if the caller stops waiting for it.
struct CancelOnDrop {
    gate: Gate,
    pending: Option<Arc<Pending>>,
}

impl CancelOnDrop {
    fn disarm(&mut self) {
        self.pending = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let gate = self.gate.clone();
        let cancel = async move {
            gate.conclude_now(&pending, Conclusion::Cancelled).await;
            gate.announce(&pending).await;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(cancel);
            }
            // Without a runtime there is nobody to record the cancellation;
            // the request stays closed because nobody waits to run it.
            Err(_) => tracing::warn!("an approval request was dropped outside a Tokio runtime"),
        }
    }
}
