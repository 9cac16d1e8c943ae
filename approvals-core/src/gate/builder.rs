//! Building a [`Gate`]: its policy, masker, channels, clock, limits and
//! audit sink.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::durable;
use super::votes::{Limits, Registry};
use super::{Gate, Inner, VoteBox};
use crate::Identity;
use crate::audit::AuditSink;
use crate::channel::Channel;
use crate::mask::{Masker, MaskingEngine};
use crate::policy::Policy;
use crate::store::Store;
use crate::time::{Clock, SystemClock};

/// How long a channel is given, by default, to take note of a change.
const DEFAULT_CHANNEL_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a [`Gate`]. An audit sink is required; everything else has a safe
/// default: the empty policy (every call needs an approval nobody can give,
/// so every call fails closed), no channels, and the [`MaskingEngine`] with
/// its default configuration.
pub struct GateBuilder<S = ()> {
    policy: Policy,
    shadow: Option<Policy>,
    masker: Arc<dyn Masker>,
    channels: Vec<Arc<dyn Channel>>,
    default_requester: Option<Identity>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    channel_timeout: Duration,
    store: Option<Arc<dyn Store>>,
    poll: Duration,
    sweep: Duration,
    resume_window: Duration,
    audit: S,
}

impl Gate {
    /// Starts building a gate.
    pub fn builder() -> GateBuilder {
        GateBuilder {
            policy: Policy::default(),
            shadow: None,
            masker: Arc::new(MaskingEngine::new()),
            channels: Vec::new(),
            default_requester: None,
            clock: Arc::new(SystemClock),
            limits: Limits::default(),
            channel_timeout: DEFAULT_CHANNEL_TIMEOUT,
            store: None,
            poll: durable::DEFAULT_POLL,
            sweep: durable::DEFAULT_SWEEP,
            resume_window: durable::DEFAULT_RESUME_WINDOW,
            audit: (),
        }
    }
}

impl<S> GateBuilder<S> {
    /// Sets the policy (default: the empty, fail-closed policy).
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Evaluates `candidate` beside the policy on every call, as a dry run
    /// (shadow mode): the policy decides, and whenever the candidate would
    /// decide otherwise (another verdict, other approvers, another quorum)
    /// or cannot decide (an error), the gate writes an
    /// [`AuditEvent::ShadowDisagreement`](crate::audit::AuditEvent::ShadowDisagreement)
    /// record and an `INFO` `tracing` event, and goes on as the policy says.
    /// The candidate never changes a call's outcome; a record that cannot
    /// be written is logged, never an error of the call. Replace or remove
    /// it later with [`Gate::set_shadow_policy`].
    ///
    /// ```
    /// use approvals_core::audit::MemoryAudit;
    /// use approvals_core::policy::{Policy, Rule};
    /// use approvals_core::Gate;
    ///
    /// let current = Policy::new().rule(Rule::new("reads").action("crm.read").allow());
    /// let candidate = Policy::new().rule(Rule::new("no reads").action("crm.read").refuse("not yet"));
    /// let gate = Gate::builder().policy(current).shadow_policy(candidate).audit(MemoryAudit::new()).build();
    /// assert!(gate.shadow_policy().is_some());
    /// ```
    #[must_use]
    pub fn shadow_policy(mut self, candidate: Policy) -> Self {
        self.shadow = Some(candidate);
        self
    }

    /// Sets the masker (default: [`MaskingEngine::new`]). It masks the
    /// arguments, the justification, and every free-text reason the gate
    /// records or returns (a channel's error, a deny reason).
    #[must_use]
    pub fn masker(mut self, masker: impl Masker + 'static) -> Self {
        self.masker = Arc::new(masker);
        self
    }

    /// Adds a channel. Each request is delivered to every channel.
    #[must_use]
    pub fn channel(mut self, channel: impl Channel + 'static) -> Self {
        self.channels.push(Arc::new(channel));
        self
    }

    /// The requester for requests that name none.
    #[must_use]
    pub fn default_requester(mut self, requester: impl Into<Identity>) -> Self {
        self.default_requester = Some(requester.into());
        self
    }

    /// Sets the clock that deadlines are set and votes judged by (default:
    /// [`SystemClock`]). A vote judged at or after its request's deadline
    /// never counts: it is refused with
    /// [`Refusal::DeadlinePassed`](crate::Refusal::DeadlinePassed) and the
    /// request expires at once.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Bounds how many requests may be pending at once (default 10,000).
    /// A request past the bound is recorded and concluded as failed, and
    /// the call fails closed with
    /// [`Error::TooManyPending`](crate::Error::TooManyPending).
    #[must_use]
    pub fn max_pending(mut self, limit: usize) -> Self {
        self.limits.max_pending = limit;
        self
    }

    /// Bounds how many votes naming no pending request (unknown ids, or
    /// requests already concluded) are judged and recorded per minute
    /// (default 600). Past it, such votes are refused with
    /// [`Refusal::Throttled`](crate::Refusal::Throttled) without a record,
    /// and one warning is logged, so that a flood of made-up ids cannot
    /// grow the audit trail without bound. Votes on pending requests are
    /// never throttled.
    #[must_use]
    pub fn stray_vote_limit(mut self, per_minute: u32) -> Self {
        self.limits.stray_votes_per_minute = per_minute;
        self
    }

    /// Bounds how long each channel is given to take note of an escalation
    /// or of how a request ended (default 10 seconds). Channels are told all
    /// at once; one that fails, panics or takes longer is logged and no
    /// longer waited for, so a caller's answer comes at most this long after
    /// its request ends. (Delivering a request is bounded by the request's
    /// own deadline.)
    #[must_use]
    pub fn channel_timeout(mut self, timeout: Duration) -> Self {
        self.channel_timeout = timeout;
        self
    }

    /// Keeps requests that wait for approval in `store`
    /// ([`crate::store`]): they survive a restart (the same call made again
    /// takes its request up), any process sharing the store can take votes
    /// on them, and the first process to notice a deadline ends the request.
    /// Their audit records reach the sink through the store's outbox, in
    /// order, before the step that made them goes on. Without a store
    /// (the default), pending requests live in this gate's memory.
    #[must_use]
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// How often a caller waiting on a stored request reads it again when
    /// nothing woke it (default 2 seconds). Votes in the same process wake
    /// it at once, and a store with change hints (PostgreSQL's `NOTIFY`)
    /// wakes it for votes elsewhere; this bounds the delay when a hint is
    /// lost, and for stores without hints (SQLite shared by processes).
    #[must_use]
    pub fn store_poll_interval(mut self, interval: Duration) -> Self {
        self.poll = interval.max(Duration::from_millis(1));
        self
    }

    /// How often the gate looks in its store for requests past their
    /// deadline or escalation that no caller is waiting for (default 1
    /// second), and ends or escalates them.
    #[must_use]
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep = interval.max(Duration::from_millis(1));
        self
    }

    /// How long after a stored request ended (denied, expired, cancelled,
    /// failed, run) the same call still finds it by its key and gets its
    /// outcome rather than asking again (default 1 hour). A request still
    /// pending, or approved and not yet run, is always found.
    #[must_use]
    pub fn resume_window(mut self, window: Duration) -> Self {
        self.resume_window = window;
        self
    }

    /// Sets the audit sink (required).
    pub fn audit(self, audit: impl AuditSink + 'static) -> GateBuilder<Arc<dyn AuditSink>> {
        GateBuilder {
            policy: self.policy,
            shadow: self.shadow,
            masker: self.masker,
            channels: self.channels,
            default_requester: self.default_requester,
            clock: self.clock,
            limits: self.limits,
            channel_timeout: self.channel_timeout,
            store: self.store,
            poll: self.poll,
            sweep: self.sweep,
            resume_window: self.resume_window,
            audit: Arc::new(audit),
        }
    }
}

impl GateBuilder<Arc<dyn AuditSink>> {
    /// Builds the gate, and attaches each channel to it
    /// ([`Channel::attach`]).
    pub fn build(self) -> Gate {
        let policy = Arc::new(RwLock::new(Arc::new(self.policy)));
        let registry = Arc::new(Registry::new(
            self.audit,
            Arc::clone(&self.masker),
            self.clock,
            self.limits,
            self.channels,
            self.channel_timeout,
            self.store.map(|store| {
                durable::Durable::new(store, self.poll, self.sweep, self.resume_window)
            }),
            Arc::clone(&policy),
        ));
        registry.start();
        for channel in &registry.channels {
            channel.attach(VoteBox::new(&registry, channel.name()));
        }
        Gate {
            inner: Arc::new(Inner {
                policy,
                shadowing: std::sync::atomic::AtomicBool::new(self.shadow.is_some()),
                shadow: RwLock::new(self.shadow.map(Arc::new)),
                registry,
                masker: self.masker,
                default_requester: self.default_requester,
                declarations: RwLock::new(HashMap::new()),
            }),
        }
    }
}
