//! What an agent asks to do.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Identity;
use crate::edit::EditCheck;
use crate::policy::RequirementBuilder;

/// How much harm the action can do if it should not have run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Reads or reversible changes.
    Low,
    /// Changes that can be undone with some effort.
    Medium,
    /// Changes that are hard to undo or touch personal data.
    High,
    /// Changes that cannot be undone or affect production at large.
    Critical,
}

impl Risk {
    /// Every risk level, lowest first.
    pub const ALL: [Risk; 4] = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];

    /// The lowercase name (`"high"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `low`, `medium`, `high`, `critical`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown risk `{0}`, expected one of `low`, `medium`, `high`, `critical`")]
pub struct UnknownRisk(pub String);

impl FromStr for Risk {
    type Err = UnknownRisk;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Risk::Low),
            "medium" => Ok(Risk::Medium),
            "high" => Ok(Risk::High),
            "critical" => Ok(Risk::Critical),
            _ => Err(UnknownRisk(text.to_owned())),
        }
    }
}

/// A sensitive call, described for the gate: what, how risky, by whom, why,
/// and with which arguments.
///
/// The arguments are kept as the caller's own value `A`. The gate serializes
/// them once to fingerprint and mask them, and later hands the very same value
/// to the body it runs, so the body cannot run with arguments other than the
/// ones that were approved.
///
/// `Debug` shows everything but the arguments, which it never prints.
///
/// ```
/// use approvals_core::{ActionRequest, Identity, Risk};
///
/// #[derive(serde::Serialize)]
/// struct Refund { customer: String, cents: u64 }
///
/// let request = ActionRequest::new("billing.refund", Refund { customer: "c_42".into(), cents: 1_500 })
///     .description("Refund a customer's last invoice")
///     .risk(Risk::High)
///     .requester(Identity::new("agent:support-bot"))
///     .justification("The customer reports a double charge.");
/// assert_eq!(request.action(), "billing.refund");
/// assert!(!format!("{request:?}").contains("c_42"));
/// ```
pub struct ActionRequest<A> {
    pub(crate) action: Cow<'static, str>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) risk: Risk,
    pub(crate) requester: Option<Identity>,
    pub(crate) justification: Option<String>,
    pub(crate) arguments: A,
    pub(crate) argument_masks: Vec<ArgumentMask>,
    pub(crate) requirement: Option<RequirementBuilder>,
    pub(crate) declared_at: Option<&'static str>,
    pub(crate) key: Option<String>,
    pub(crate) edits: Option<Edits<A>>,
    pub(crate) argument_schema: Option<std::sync::Arc<serde_json::Value>>,
}

/// How a call takes edits: what it declares editable, how an edit is
/// checked against the argument type, and how the arguments are rebuilt
/// from the approved bytes.
pub(crate) struct Edits<A> {
    /// The paths the call declares editable, used where the requirement
    /// says nothing.
    pub(crate) declared: Vec<String>,
    pub(crate) check: EditCheck,
    /// `None` where the caller rebuilds the arguments itself (the
    /// attribute's expansion).
    pub(crate) rebuild: Option<Rebuild<A>>,
}

/// Rebuilds a call's arguments from approved JSON bytes (`None` if they do
/// not deserialize).
pub(crate) type Rebuild<A> = fn(&[u8]) -> Option<A>;

/// How one top-level argument is masked, whatever the masker would choose
/// for it by itself.
///
/// The `spec` is a masking kind (`"email"`), a strategy (`"drop"`), or
/// both (`"email:pseudonym"`); the [`Masker`](crate::mask::Masker) interprets
/// it and masks the whole argument when it cannot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgumentMask {
    /// The argument's name: a top-level key of the serialized arguments.
    pub argument: Cow<'static, str>,
    /// What to mask it as.
    pub spec: Cow<'static, str>,
}

impl<A> ActionRequest<A> {
    /// A request to run `action` with `arguments`, at medium risk, with no
    /// description, requester or justification yet.
    pub fn new(action: impl Into<Cow<'static, str>>, arguments: A) -> Self {
        Self {
            action: action.into(),
            description: Cow::Borrowed(""),
            risk: Risk::Medium,
            requester: None,
            justification: None,
            arguments,
            argument_masks: Vec::new(),
            requirement: None,
            declared_at: None,
            key: None,
            edits: None,
            argument_schema: None,
        }
    }

    /// Sets the key a restarted process finds this request by, with a
    /// [store](crate::store) (e.g. a run id and a step: `"run-81/step-3"`).
    ///
    /// Without it the key is derived from the fingerprint (action,
    /// requester and arguments), so the same call made again finds the
    /// stored request: still pending, it waits for it; approved and not
    /// run, it runs it; run, or ended otherwise within the gate's
    /// [resume window](crate::GateBuilder::resume_window), it gets that
    /// outcome as an error. A key names one call: made again with other
    /// arguments, the call fails with [`Error::KeyConflict`](crate::Error::KeyConflict).
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The key set with [`key`](Self::key).
    pub fn get_key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Sets what the action does, for reviewers.
    #[must_use]
    pub fn description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the risk level.
    #[must_use]
    pub fn risk(mut self, risk: Risk) -> Self {
        self.risk = risk;
        self
    }

    /// Sets who asks (the agent or the user it acts for). Without it, the
    /// requester in scope ([`gate::scope_requester`](crate::gate::scope_requester))
    /// is used, else the gate's default requester, else the process default
    /// ([`gate::set_default_requester`](crate::gate::set_default_requester));
    /// with none, the call fails closed.
    #[must_use]
    pub fn requester(mut self, requester: impl Into<Identity>) -> Self {
        self.requester = Some(requester.into());
        self
    }

    /// Sets the agent's reason for the call. It is shown to reviewers masked.
    #[must_use]
    pub fn justification(mut self, justification: impl Into<String>) -> Self {
        self.justification = Some(justification.into());
        self
    }

    /// Masks the top-level argument `argument` as `spec` (a kind such as
    /// `"email"`, a strategy such as `"drop"`, or `"kind:strategy"`),
    /// overriding what the masker would detect in it.
    ///
    /// ```
    /// # use approvals_core::ActionRequest;
    /// let request = ActionRequest::new("crm.export", serde_json::json!({"contact": "jo@x.io"}))
    ///     .mask_argument("contact", "email");
    /// assert_eq!(request.argument_masks()[0].spec, "email");
    /// ```
    #[must_use]
    pub fn mask_argument(
        mut self,
        argument: impl Into<Cow<'static, str>>,
        spec: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.argument_masks.push(ArgumentMask {
            argument: argument.into(),
            spec: spec.into(),
        });
        self
    }

    /// Declares who must approve this call when no policy rule matches it.
    ///
    /// Precedence, from the policy's point of view:
    ///
    /// 1. a policy rule that matches the call decides (allow, require
    ///    approval with its own requirement, or refuse);
    /// 2. else this declared requirement;
    /// 3. else the policy's default requirement (`[default]`);
    /// 4. else nobody can approve, and the call fails closed.
    ///
    /// The declared requirement is resolved like a rule's: `group:NAME`s must
    /// be defined by the policy (else the call fails closed), and its
    /// approvers other than the requester must be able to reach its quorum.
    /// `#[requires_approval(approvers = …, quorum = …, timeout = …)]` sets it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use approvals_core::ActionRequest;
    /// use approvals_core::policy::RequirementBuilder;
    ///
    /// let request = ActionRequest::new("data.export", "customers").requirement(
    ///     RequirementBuilder::new()
    ///         .approvers(["group:data-governance"])
    ///         .quorum(2)
    ///         .timeout(Duration::from_secs(15 * 60)),
    /// );
    /// assert_eq!(request.declared_requirement().map(|r| r.get_quorum()), Some(2));
    /// ```
    #[must_use]
    pub fn requirement(mut self, requirement: RequirementBuilder) -> Self {
        self.requirement = Some(requirement);
        self
    }

    /// Names the place in the code that declares this action
    /// (`file:line:column`); `#[requires_approval]` sets it.
    ///
    /// The gate remembers, per action name, the first declaration it sees
    /// with its risk and declared requirement. A call declared elsewhere
    /// with a different risk or requirement under the same name fails with
    /// [`Error::ConflictingDeclarations`](crate::Error::ConflictingDeclarations)
    /// before anything is recorded: otherwise a policy rule written for one
    /// action would govern the other.
    #[must_use]
    pub fn declared_at(mut self, site: &'static str) -> Self {
        self.declared_at = Some(site);
        self
    }

    /// The requirement the call declares for itself, if any (see
    /// [`requirement`](Self::requirement)).
    pub fn declared_requirement(&self) -> Option<&RequirementBuilder> {
        self.requirement.as_ref()
    }

    /// Lets reviewers change `paths` of the arguments, each edit checked by
    /// `check`; the caller rebuilds the arguments from
    /// [`Approval::edited_arguments`](crate::Approval::edited_arguments)
    /// itself. For the `#[requires_approval]` attribute's expansion, whose
    /// arguments hold references: use [`editable`](Self::editable).
    #[doc(hidden)]
    #[must_use]
    pub fn editable_with<S: Into<String>>(
        mut self,
        paths: impl IntoIterator<Item = S>,
        check: impl Fn(&[u8]) -> Result<(), crate::edit::EditProblem> + Send + Sync + 'static,
    ) -> Self {
        self.edits = Some(Edits {
            declared: paths.into_iter().map(Into::into).collect(),
            check: std::sync::Arc::new(check),
            rebuild: None,
        });
        self
    }

    /// Gives reviewers' tools a JSON Schema of the argument type (for
    /// example `serde_json::to_value(schemars::schema_for!(Refund))`),
    /// shown with the request ([`Review::argument_schema`](crate::Review::argument_schema))
    /// and published by the HTTP API, so that a client can check an edit
    /// before sending it. It is shown as given, so it must describe types
    /// only; the gate checks every edit against the type itself, whatever
    /// the schema says.
    #[must_use]
    pub fn argument_schema(mut self, schema: serde_json::Value) -> Self {
        self.argument_schema = Some(std::sync::Arc::new(schema));
        self
    }

    /// The paths the call declares editable (empty if it takes no edits or
    /// declares none).
    pub fn declared_editable(&self) -> &[String] {
        self.edits
            .as_ref()
            .map_or(&[], |edits| edits.declared.as_slice())
    }

    /// The per-argument masking overrides, in the order they were given.
    pub fn argument_masks(&self) -> &[ArgumentMask] {
        &self.argument_masks
    }

    /// The action name.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The description.
    pub fn get_description(&self) -> &str {
        &self.description
    }

    /// The risk level.
    pub fn get_risk(&self) -> Risk {
        self.risk
    }

    /// The requester, if set.
    pub fn get_requester(&self) -> Option<&Identity> {
        self.requester.as_ref()
    }

    /// The arguments.
    pub fn arguments(&self) -> &A {
        &self.arguments
    }
}

impl<A: Serialize + DeserializeOwned> ActionRequest<A> {
    /// Lets reviewers change `paths` of the arguments before approving
    /// (`"amount_cents"`, `"destination.bucket"`, `"*"` for all): the call
    /// takes edits, and declares these paths editable where the requirement
    /// that applies does not say
    /// ([`RequirementBuilder::editable`](crate::policy::RequirementBuilder::editable)
    /// in a rule, `editable = [...]` in TOML, which win). With no paths, it
    /// takes exactly the edits the requirement allows.
    ///
    /// Only arguments that deserialize can be edited: an edit is checked
    /// against `A` before it is accepted, and an approved edit reaches the
    /// body as an `A` deserialized from the approved bytes (by
    /// [`Approval::run`](crate::Approval::run) as by
    /// [`run_exact`](crate::Approval::run_exact)). An edit is a new version
    /// of the request, judged by policy again and approved again (see
    /// [`edit`](crate::edit)). A path that is not `*` or names joined by
    /// `.` fails the call with [`Error::EditablePath`](crate::Error::EditablePath).
    ///
    /// ```
    /// use approvals_core::ActionRequest;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Refund { customer: String, amount_cents: u64 }
    ///
    /// let request = ActionRequest::new("billing.refund", Refund { customer: "c_42".into(), amount_cents: 420_000 })
    ///     .editable(["amount_cents"]);
    /// assert_eq!(request.declared_editable(), ["amount_cents"]);
    /// ```
    #[must_use]
    pub fn editable<S: Into<String>>(mut self, paths: impl IntoIterator<Item = S>) -> Self {
        self.edits = Some(Edits {
            declared: paths.into_iter().map(Into::into).collect(),
            check: {
                // A function pointer is `'static` whatever `A` borrows.
                let check: fn(&[u8]) -> Result<(), crate::edit::EditProblem> =
                    crate::edit::check_type::<A>;
                std::sync::Arc::new(check)
            },
            rebuild: Some(|bytes| serde_json::from_slice(bytes).ok()),
        });
        self
    }
}

impl<A: Action> ActionRequest<A> {
    /// A request for an [`Action`], with its name, description and risk.
    pub fn for_action(action: A) -> Self {
        let name = action.name().into_owned();
        let description = action.description().into_owned();
        let risk = action.risk();
        Self::new(name, action).description(description).risk(risk)
    }
}

impl<A> fmt::Debug for ActionRequest<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionRequest")
            .field("action", &self.action)
            .field("description", &self.description)
            .field("risk", &self.risk)
            .field("requester", &self.requester)
            .field(
                "justification",
                &self.justification.as_ref().map(|_| "<withheld>"),
            )
            .field(
                "arguments",
                &format_args!("<withheld: {}>", std::any::type_name::<A>()),
            )
            .finish()
    }
}

/// A type that describes itself as a sensitive action: its value is the
/// arguments, and the trait gives the name, description and risk.
///
/// ```
/// use std::borrow::Cow;
/// use approvals_core::{Action, ActionRequest, Risk};
///
/// #[derive(serde::Serialize)]
/// struct RotateKey { key_id: String }
///
/// impl Action for RotateKey {
///     fn name(&self) -> Cow<'_, str> { "keys.rotate".into() }
///     fn description(&self) -> Cow<'_, str> { "Rotate a signing key".into() }
///     fn risk(&self) -> Risk { Risk::Critical }
/// }
///
/// let request = ActionRequest::for_action(RotateKey { key_id: "k1".into() });
/// assert_eq!(request.get_risk(), Risk::Critical);
/// ```
pub trait Action: Serialize {
    /// The action name that policy rules match, such as `keys.rotate`.
    fn name(&self) -> Cow<'_, str>;

    /// What the action does, for reviewers.
    fn description(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    /// The risk level (medium unless overridden).
    fn risk(&self) -> Risk {
        Risk::Medium
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_parses_and_orders() {
        assert_eq!("HIGH".parse::<Risk>().ok(), Some(Risk::High));
        assert!(Risk::Low < Risk::Critical);
        let err = "severe".parse::<Risk>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown risk `severe`, expected one of `low`, `medium`, `high`, `critical`")
        );
    }

    #[test]
    fn debug_withholds_arguments_and_justification() {
        let request = ActionRequest::new("x", "secret-value-123").justification("for jane@doe.com");
        let debug = format!("{request:?}");
        assert!(!debug.contains("secret-value-123"));
        assert!(!debug.contains("jane@doe.com"));
    }
}
