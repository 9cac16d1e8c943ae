//! The `#[requires_approval]` attribute of [`approvals`].
//!
//! Use it through the `approvals` crate (feature `macros`, on by default),
//! which re-exports it as `approvals::requires_approval`: the expansion
//! names items of `approvals` that this crate does not provide, and this
//! crate's version is pinned to the facade's.
//!
//! [`approvals`]: https://docs.rs/approvals

mod attr;
mod expand;

use proc_macro::TokenStream;

/// Gates an `async fn` behind the approval gate: every call asks the gate
/// first, and the body runs only if policy allows it or people approve it.
///
/// ```
/// use approvals::audit::MemoryAudit;
/// use approvals::testing::MockChannel;
/// use approvals::policy::Policy;
/// use approvals::{Error, Gate, requires_approval};
///
/// #[derive(serde::Serialize)]
/// struct Filter { country: String }
///
/// /// Export the selected customers to a bucket.
/// #[requires_approval(risk = "high", approvers = "data-governance", quorum = 2, timeout = "15m")]
/// async fn export_customers(
///     bucket: &str,
///     #[approval(mask = "email")] contact: String,
///     filter: Filter,
///     #[approval(skip)] db: &Pool,
/// ) -> Result<usize, Error> {
///     Ok(db.export(bucket, &contact, &filter.country))
/// }
/// # struct Pool;
/// # impl Pool { fn export(&self, _: &str, _: &str, _: &str) -> usize { 42 } }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let gate = Gate::builder()
///     .policy(Policy::new().group("data-governance", ["alice@example.com", "bob@example.com"]))
///     .channel(MockChannel::approve_all().voting_as(["alice@example.com", "bob@example.com"]))
///     .audit(MemoryAudit::new())
///     .default_requester("agent:analytics")
///     .build();
///
/// let filter = Filter { country: "FR".into() };
/// let exported = approvals::scope(gate, export_customers("s3://exports", "dpo@example.com".into(), filter, &Pool))
///     .await?;
/// assert_eq!(exported, 42);
/// # Ok(()) }
/// ```
///
/// The function keeps its signature. Each call builds an
/// [`ActionRequest`](https://docs.rs/approvals/latest/approvals/struct.ActionRequest.html)
/// from the arguments, asks the gate, runs the body once on approval with
/// the very arguments that were fingerprinted, and records its outcome. A
/// refusal, a denial, an expiry or any fault arrives as the function's own
/// error, through `From<approvals::Error>`.
///
/// # Arguments
///
/// All optional.
///
/// | argument | value | default |
/// | --- | --- | --- |
/// | `name` | `"crm.export_customers"`: the action name policy rules match | the function's path, with the type and trait for a method: see [Default action names](#default-action-names) |
/// | `description` | `"…"`: what the action does, for reviewers | the doc comment |
/// | `risk` | `"low"`, `"medium"`, `"high"` or `"critical"` (any case) | `"medium"` |
/// | `approvers` | `"data-governance"` or `["group:sre", "alice@example.com"]` | none: policy decides |
/// | `quorum` | distinct approvals needed, at least 1 (needs `approvers`) | 1 |
/// | `timeout` | `"30s"`, `"15m"`, `"2h"`, `"1h30m"`, `"1d"` (needs `approvers`); silence until then means deny | `"15m"` |
/// | `gate` | an expression: a `Gate`, `&Gate`, `Arc<Gate>` or `Box<Gate>` | see [Which gate](#which-gate-and-which-requester) |
/// | `requester` | an expression: anything `Into<Identity>` (`&str`, `String`, `Identity`, `&Identity`) | see [Which gate](#which-gate-and-which-requester) |
/// | `justification` | an expression: anything `Into<String>`; shown to reviewers masked | none |
/// | `crate` | `"path"` to the `approvals` crate, for a renamed dependency or a re-export | `"::approvals"` |
///
/// The expressions (`gate`, `requester`, `justification`) are evaluated
/// before anything else and may use the parameters and `self`:
/// `justification = format!("ticket {ticket}")`, `gate = self.gate`.
///
/// Per parameter, `#[approval(…)]`:
///
/// | argument | effect |
/// | --- | --- |
/// | `skip` | the parameter is not part of the request: not shown, not fingerprinted, not checked for `Serialize` (a database pool, a client) |
/// | `mask = "…"` | how the masker masks it, whatever it would detect: a kind (`email`, `phone`, `credit_card`, `us_ssn`, `iban`, `ip_address`, `date_of_birth`, `name`, `address`, `secret`), a strategy (`label`, `partial`, `pseudonym`, `drop`), or `kind:strategy` (`"email:partial"`), in any case; `drop` leaves it out of the masked view |
/// | `rename = "…"` | its name in the request (default: the parameter's name; `argN`, counted from 0 without the receiver, for a pattern such as `(a, b): (u32, u32)`) |
///
/// # Default action names
///
/// Without `name = …`, the action name is the function's own path, so that
/// two gated functions never share one (a rule that allows one tool's
/// `call` must not allow another's):
///
/// | function | default name |
/// | --- | --- |
/// | free function | `my_agent::tools::export_customers` (module path and name) |
/// | inherent method | `my_agent::tools::Search::call` (the `Self` type's path, then the method) |
/// | method of a generic impl | `my_agent::tools::Cache<_>::get` (one name for every instance: it is one function) |
/// | method of a trait impl | `my_agent::tools::<Search as Tool>::call`: the `Self` type's module, then `<Type as Trait>` |
/// | … of a trait from another module | `my_agent::tools::<Search as rig::tool::Tool>::call` (the trait's full path) |
/// | … for a `Self` type that is not a path | `<[u8; 4] as my_agent::tools::Tool>::call` |
/// | default method of a trait | `my_agent::tools::Tool::call` |
///
/// A method's attribute cannot see its `impl` block, so the name is read
/// from the compiler (`std::any::type_name` of an item declared in the
/// body, which Rust writes with the `Self` type and the trait) on the first
/// call, and kept. Paths are where the type (for a method) or the function
/// is defined, from the crate's name. The module comes first, so
/// `my_agent::tools::*` matches every gated function of `tools` and of the
/// types defined there; `my_agent::tools::<* as Tool>::call` matches every
/// implementation of `Tool::call` there; `*::call` every function named
/// `call`. `<`, `>` and spaces are plain characters in policy globs and TOML
/// strings; a `[` (an array type) must be written `\[` in a glob.
///
/// `type_name` is documented as a diagnostic whose text may change between
/// compiler versions. Should an update change it, rules written for the old
/// names stop matching: an allow rule then fails closed, but a refusal is
/// skipped and a later rule decides. Where a policy must keep matching
/// across toolchain updates, give the action a `name = …`.
///
/// # Policy wins
///
/// `risk` is input to policy (rules can match on it). `approvers`, `quorum`
/// and `timeout` declare the call's own requirement, which applies only when
/// no rule decides. The precedence:
///
/// 1. the first policy rule that matches the call decides: allow, require
///    approval (with the rule's approvers, quorum and timeout), or refuse;
/// 2. else the requirement declared by the attribute;
/// 3. else the policy's default requirement (`[default]`);
/// 4. else nobody can approve, and the call fails closed.
///
/// Approvers use the policy's syntax: `group:NAME` is a group and anything
/// with `@` or `:` is an identity (`alice@example.com`, `agent:ops-bot`). A
/// **bare name** without `@` or `:` (`"data-governance"`) is read as the
/// group of that name, the way the attribute is usually written. Groups are
/// the gate's policy's: a group the policy does not define fails the call
/// closed (`Error::Policy`), as does a quorum that the approvers other than
/// the requester cannot reach. With identities only, an unreachable quorum
/// is a compile error.
///
/// # Which gate and which requester
///
/// The gate is the `gate = …` expression if given, else the task-local gate
/// set by `approvals::scope(gate, future)`, else the process default set
/// once with `approvals::set_default(gate)`; with none, the call fails closed
/// with `Error::NoGate` and the body does not run.
///
/// The requester is the `requester = …` expression if given, else the
/// task-local requester set by `approvals::scope_requester(identity,
/// future)`, else the gate's default requester
/// (`GateBuilder::default_requester`), else the process default set once
/// with `approvals::set_default_requester(identity)`; with none, the call
/// fails closed with `Error::NoRequester`.
///
/// # The arguments
///
/// Every parameter but the receiver and the skipped ones is moved into the
/// request, by value (a reference parameter stays a reference, so `bucket:
/// &str` is serialized through the reference). The gate serializes them in
/// place to fingerprint and mask them, and hands the same values back to
/// the body, which takes them out again: nothing is cloned, and just before
/// the body starts their serialization is compared with the approved one
/// (so interior mutability cannot change them unnoticed). Each must
/// implement `serde::Serialize`, or be marked `#[approval(skip)]`. The
/// receiver (`self`) is never part of the request.
///
/// Only the masked view of the arguments leaves the gate: channels, the
/// audit trail, errors and logs never see a raw value.
///
/// `#[approval(editable)]` lets a reviewer change a parameter before
/// approving, where policy allows it too (`editable` in the requirement;
/// parameters not marked stay as passed whatever policy says). The
/// parameter's type must be an owned `serde::Deserialize` type: an edited
/// value reaches the body deserialized from the approved JSON, and every
/// other parameter must still serialize as approved, else the body does not
/// run. See `approvals::edit`.
///
/// # Where it works
///
/// Free functions; methods taking `&self`, `&mut self`, `self`, `mut self`
/// or `self: Arc<Self>`; generic functions with where clauses and
/// lifetimes; `impl Trait` parameters; returns such as
/// `Result<impl Iterator<Item = T>, E>`; pattern parameters (`(a, b): (u32,
/// u32)`, `mut x: u32`); methods in `#[async_trait]` impls (`Send` or
/// `?Send`: the attribute recognizes the method as `#[async_trait]`
/// rewrote it, and gates the `async` block inside); `anyhow::Result` and custom error enums; a `#[tokio::test]` placed below
/// the attribute.
///
/// ```
/// use std::sync::Arc;
/// use approvals::{Error, Gate, async_trait, requires_approval};
///
/// struct KeyVault { gate: Gate }
///
/// impl KeyVault {
///     /// Rotate a signing key.
///     #[requires_approval(gate = self.gate, name = "keys.rotate", risk = "critical")]
///     async fn rotate(self: Arc<Self>, key_id: String) -> anyhow::Result<String> {
///         Ok(format!("{key_id}-v2"))
///     }
/// }
///
/// #[async_trait]
/// trait Tool {
///     async fn call(&self, input: String) -> Result<String, Error>;
/// }
///
/// #[async_trait]
/// impl Tool for KeyVault {
///     #[requires_approval(gate = self.gate, name = "tools.echo", risk = "low")]
///     async fn call(&self, #[approval(rename = "text")] input: String) -> Result<String, Error> {
///         Ok(input)
///     }
/// }
/// ```
///
/// # Compile errors
///
/// Misuse is a compile error on the offending token, naming the valid
/// choices, all reported at once: an unknown or duplicate argument, a bad
/// risk, duration, mask or approver, `quorum = 0`, `quorum` or `timeout`
/// without `approvers`, a function that is not `async`, a `const fn`, a
/// return type that is not a `Result`, an error type without
/// `From<approvals::Error>`, a parameter that does not implement
/// `Serialize` without `#[approval(skip)]`.
///
/// ```compile_fail
/// use approvals::{Error, requires_approval};
///
/// // error: the `async` keyword is missing from the function declaration
/// #[requires_approval(risk = "high")]
/// fn rotate_key(key_id: String) -> Result<(), Error> { Ok(()) }
/// ```
///
/// ```compile_fail
/// use approvals::{Error, requires_approval};
///
/// struct Filter;
///
/// // error: `Filter` does not implement `Serialize`, so it cannot be shown to
/// // reviewers or fingerprinted (… or leave the parameter out of the request
/// // with `#[approval(skip)]`)
/// #[requires_approval]
/// async fn export(filter: Filter) -> Result<(), Error> { Ok(()) }
/// ```
#[proc_macro_attribute]
pub fn requires_approval(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::requires_approval(args.into(), item.into()).into()
}
