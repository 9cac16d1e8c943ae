//! What the expansion of `#[requires_approval]` names.
//!
//! **Not a stable API.** Everything here exists for the attribute's generated
//! code, which reaches it as `::approvals::__private::…` (or through the
//! attribute's `crate = "…"` path). It may change in any release, patch
//! releases included; the attribute crate is pinned to this crate's exact
//! version so that the two always agree.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use serde::ser::{Serialize, SerializeMap, Serializer};

pub use approvals_core::policy::RequirementBuilder;
pub use approvals_core::{ActionRequest, Error, Gate, Identity, Risk};
pub use std::time::Duration;

/// The arguments of one gated call: the parameter names and their values,
/// serialized as a map from name to value.
///
/// The values are the call's own parameters, moved in (a parameter that is a
/// reference stays a reference): the gate fingerprints them where they are,
/// and hands this very value back to the body, which takes the parameters
/// out again with [`into_values`](Self::into_values). Nothing is cloned.
pub struct Arguments<V> {
    names: &'static [&'static str],
    values: V,
}

impl<V> Arguments<V> {
    /// `values` is a list in the form `(first, (second, ()))`, one value per
    /// name.
    #[inline]
    pub fn new(names: &'static [&'static str], values: V) -> Self {
        Self { names, values }
    }

    /// The values, for the body.
    #[inline]
    pub fn into_values(self) -> V {
        self.values
    }
}

impl<V: ArgumentValues> Serialize for Arguments<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.names.len()))?;
        self.values.serialize_entries(self.names, &mut map)?;
        map.end()
    }
}

/// A list of argument values, `(first, (second, ()))`, each serialized under
/// the name at its position.
pub trait ArgumentValues {
    /// Writes one map entry per value, named from `names` in order.
    fn serialize_entries<M: SerializeMap>(
        &self,
        names: &[&'static str],
        map: &mut M,
    ) -> Result<(), M::Error>;
}

impl ArgumentValues for () {
    #[inline]
    fn serialize_entries<M: SerializeMap>(
        &self,
        _names: &[&'static str],
        _map: &mut M,
    ) -> Result<(), M::Error> {
        Ok(())
    }
}

impl<H: Serialize, T: ArgumentValues> ArgumentValues for (H, T) {
    #[inline]
    fn serialize_entries<M: SerializeMap>(
        &self,
        names: &[&'static str],
        map: &mut M,
    ) -> Result<(), M::Error> {
        // The expansion writes one name per value; a shorter list would be a
        // bug of the attribute, reported as a serialization error rather
        // than a panic.
        let Some((name, rest)) = names.split_first() else {
            return Err(serde::ser::Error::custom(
                "an argument has no name (a bug of `#[requires_approval]`)",
            ));
        };
        map.serialize_entry(name, &self.0)?;
        self.1.serialize_entries(rest, map)
    }
}

/// A parameter that can be part of an approval request: one that implements
/// `serde::Serialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Serialize`, so it cannot be shown to reviewers or fingerprinted",
    label = "this parameter is part of the approval request",
    note = "derive or implement `serde::Serialize` for `{Self}`, or leave the parameter out of the request with `#[approval(skip)]`"
)]
pub trait Argument {
    /// The parameter as something that serializes.
    fn erased(&self) -> &dyn erased_serde::Serialize;
}

impl<T: Serialize> Argument for T {
    #[inline]
    fn erased(&self) -> &dyn erased_serde::Serialize {
        self
    }
}

/// A parameter on its way into the request, with how to serialize it.
///
/// Made only by [`argument`], which requires the parameter to be
/// `Serialize`; from there on nothing is required of its type again, so a
/// parameter that is not `Serialize` is reported once, at the parameter,
/// and not again at the call that takes all of them.
pub struct Arg<T> {
    /// The parameter, handed back to the body.
    pub value: T,
    serialize: for<'a> fn(&'a T) -> &'a dyn erased_serde::Serialize,
}

impl<T> Serialize for Arg<T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        erased_serde::serialize((self.serialize)(&self.value), serializer)
    }
}

/// Wraps a parameter for the request, checking that it can be serialized
/// (with a message that suggests `#[approval(skip)]` when it cannot).
#[inline(always)]
pub fn argument<T: Argument>(value: T) -> Arg<T> {
    Arg {
        value,
        serialize: <T as Argument>::erased,
    }
}

/// Something that holds a gate: `gate = …` accepts a [`Gate`], a reference to
/// one, or an `Arc` or `Box` of one.
#[diagnostic::on_unimplemented(
    message = "`gate = …` needs an `approvals::Gate`, found `{Self}`",
    label = "not a gate",
    note = "pass a `Gate`, a `&Gate`, an `Arc<Gate>` or a `Box<Gate>`"
)]
pub trait AsGate {
    /// The gate.
    fn as_gate(&self) -> &Gate;
}

impl AsGate for Gate {
    #[inline]
    fn as_gate(&self) -> &Gate {
        self
    }
}

impl<G: AsGate + ?Sized> AsGate for &G {
    #[inline]
    fn as_gate(&self) -> &Gate {
        (**self).as_gate()
    }
}

impl<G: AsGate + ?Sized> AsGate for &mut G {
    #[inline]
    fn as_gate(&self) -> &Gate {
        (**self).as_gate()
    }
}

impl<G: AsGate + ?Sized> AsGate for Arc<G> {
    #[inline]
    fn as_gate(&self) -> &Gate {
        (**self).as_gate()
    }
}

impl<G: AsGate + ?Sized> AsGate for Box<G> {
    #[inline]
    fn as_gate(&self) -> &Gate {
        (**self).as_gate()
    }
}

/// The gate named by `gate = …`. Cloned (a reference count) so that the
/// expression's borrows end before the parameters move.
#[inline]
pub fn explicit_gate<G: AsGate + ?Sized>(gate: &G) -> Result<Gate, Error> {
    Ok(gate.as_gate().clone())
}

/// The gate in scope, else the process default, else [`Error::NoGate`].
#[inline]
pub fn current_gate() -> Result<Gate, Error> {
    approvals_core::gate::current()
}

/// The identity given by `requester = …`.
#[inline]
pub fn requester(requester: impl Into<Identity>) -> Identity {
    requester.into()
}

/// The text given by `justification = …`.
#[inline]
pub fn justification(justification: impl Into<String>) -> String {
    justification.into()
}

/// The default action name of one gated function (one without `name = …`),
/// worked out on its first call and kept.
///
/// The expansion declares an empty function, `__approvals_action`, in the
/// gated function's body and passes it to [`name`](Self::name): the
/// marker's type name is the gated function's own path followed by the
/// marker's name, which Rust writes with the `Self` type, and the trait for
/// a trait impl. A `static` per gated function keeps the result: it does not
/// depend on generic parameters, which the marker cannot see.
pub struct DefaultAction(OnceLock<Box<str>>);

/// The name of the empty function the expansion declares in a gated body.
const DEFAULT_ACTION_MARKER: &str = "__approvals_action";

impl DefaultAction {
    /// Not yet worked out.
    #[inline]
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// The action name of the function that declared `marker`.
    #[inline]
    pub fn name<F: Fn()>(&'static self, marker: F) -> &'static str {
        let _ = marker;
        self.0
            .get_or_init(|| default_action_name(std::any::type_name::<F>()).into_boxed_str())
    }
}

impl Default for DefaultAction {
    fn default() -> Self {
        Self::new()
    }
}

/// The default action name from the type name of the marker declared in a
/// gated function's body:
///
/// - free function: `my_app::tools::export` (its module path and name);
/// - inherent method: `my_app::tools::Search::call` (the `Self` type's path,
///   with `_` for the parameters of a generic impl: `my_app::tools::Cache<_>::get`);
/// - method of a trait impl: `my_app::tools::<Search as Tool>::call`, the
///   `Self` type's module first (so that `my_app::tools::*` covers it), then
///   Rust's qualified form; the trait by its full path unless it is in that
///   same module (`my_app::tools::<Search as rig::tool::Tool>::call`);
///   a `Self` type that is not a path stays in Rust's form
///   (`<[u8; 4] as my_app::tools::Tool>::call`);
/// - default method of a trait: `my_app::tools::Tool::call`.
///
/// `::{{closure}}` segments at the end (the body of an `async fn` or an
/// `async` block) are left out.
fn default_action_name(marker: &str) -> String {
    let mut path = marker
        .strip_suffix(DEFAULT_ACTION_MARKER)
        .and_then(|path| path.strip_suffix("::"))
        .unwrap_or(marker);
    while let Some(rest) = path.strip_suffix("}}") {
        match rest.rfind("::{{") {
            Some(at) => path = &rest[..at],
            None => break,
        }
    }
    readable_qualified_path(path).unwrap_or_else(|| path.to_owned())
}

/// `<a::b::Type as a::b::Trait>::method` as `a::b::<Type as Trait>::method`;
/// `None` when `path` is not a qualified path with a plain `Self` type.
fn readable_qualified_path(path: &str) -> Option<String> {
    let inner = path.strip_prefix('<')?;
    // The `>` that closes the leading `<`, and the ` as ` at its level
    // (`->` in a function type is not a bracket).
    let mut depth = 1_usize;
    let mut as_at = None;
    let mut close = None;
    let mut previous = '<';
    for (at, c) in inner.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if previous != '-' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(at);
                    break;
                }
            }
            ' ' if depth == 1 && as_at.is_none() && inner[at..].starts_with(" as ") => {
                as_at = Some(at);
            }
            _ => {}
        }
        previous = c;
    }
    let (as_at, close) = (as_at?, close?);
    let self_type = &inner[..as_at];
    let trait_path = &inner[as_at + " as ".len()..close];
    let rest = &inner[close + 1..];
    let head = self_type.split('<').next().unwrap_or(self_type);
    let plain_path = head.split("::").all(|segment| {
        !segment.is_empty() && segment.chars().all(|c| c.is_alphanumeric() || c == '_')
    });
    let module_end = head.rfind("::")?;
    if !plain_path {
        return None;
    }
    let module = &self_type[..module_end];
    let type_name = &self_type[module_end + 2..];
    let trait_path = trait_path
        .strip_prefix(module)
        .and_then(|trait_path| trait_path.strip_prefix("::"))
        .filter(|short| !short.split('<').next().unwrap_or(short).contains("::"))
        .unwrap_or(trait_path);
    Some(format!("{module}::<{type_name} as {trait_path}>{rest}"))
}

/// The error type of a `#[requires_approval]` function: it must carry the
/// gate's refusals and faults, so it converts from [`Error`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry the gate's answer: implement `From<approvals::Error>` for it",
    label = "the error type of a `#[requires_approval]` function",
    note = "a denial, an expiry or a fault reaches the caller as this error type: add `impl From<approvals::Error> for {Self}` (with thiserror, a variant `Approval(#[from] approvals::Error)`)"
)]
pub trait ErrorType: Sized {
    /// The gate's answer as this error.
    fn from_gate(error: Error) -> Self;
}

impl<E: From<Error>> ErrorType for E {
    #[inline]
    fn from_gate(error: Error) -> Self {
        E::from(error)
    }
}

/// Asks `gate` for permission to run `request` and runs `body` with its
/// arguments if given; a missing gate fails closed with the body's own error
/// type.
#[inline]
pub async fn run<A, F, Fut, T, E>(
    gate: Result<Gate, Error>,
    request: ActionRequest<A>,
    body: F,
) -> Result<T, E>
where
    A: Serialize,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: ErrorType,
{
    let gate = gate.map_err(E::from_gate)?;
    let approval = gate.authorize(request).await.map_err(E::from_gate)?;
    approval.run_converting(body, E::from_gate).await
}

/// A parameter declared `#[approval(editable)]`: one the body can be given
/// as a reviewer changed it, rebuilt from JSON.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be rebuilt from JSON, so it cannot be `#[approval(editable)]`",
    label = "this parameter is declared editable",
    note = "an edited argument reaches the body deserialized from the approved JSON: derive or implement `serde::Deserialize` for an owned type (not a reference), or remove `#[approval(editable)]`"
)]
pub trait EditableArgument: serde::de::DeserializeOwned {}

impl<T: serde::de::DeserializeOwned> EditableArgument for T {}

/// Checks one editable parameter of edited arguments against its type.
pub type FieldCheck = fn(&str, &serde_json::Value) -> Result<(), approvals_core::edit::EditProblem>;

/// How one editable parameter of type `T` is checked and rebuilt. Made by
/// [`field`], the one place that requires `T` to be editable, so that a
/// parameter that is not is reported once.
pub struct Field<T> {
    /// Checks a value against `T`.
    pub check: FieldCheck,
    rebuild: fn(serde_json::Value) -> Option<T>,
}

impl<T> Clone for Field<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Field<T> {}

/// The [`Field`] of an editable parameter.
#[inline]
pub fn field<T: EditableArgument>() -> Field<T> {
    Field {
        check: approvals_core::edit::check_value::<T>,
        rebuild: |value| serde_json::from_value(value).ok(),
    }
}

/// Checks edited arguments: a JSON object whose editable parameters each
/// fit their type (`fields`: name and check).
pub fn check_editable(
    bytes: &[u8],
    fields: &[(&str, FieldCheck)],
) -> Result<(), approvals_core::edit::EditProblem> {
    let Ok(serde_json::Value::Object(arguments)) = serde_json::from_slice(bytes) else {
        return Err(approvals_core::edit::EditProblem {
            path: String::new(),
            problem: "the arguments are not a JSON object".to_owned(),
        });
    };
    for (name, check) in fields {
        check(
            name,
            arguments.get(*name).unwrap_or(&serde_json::Value::Null),
        )?;
    }
    Ok(())
}

/// What the body of a function with editable parameters is handed beside
/// its arguments: the approved arguments, when a reviewer's edit changed
/// them.
pub struct Edited {
    request_id: approvals_core::RequestId,
    approved: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Edited {
    /// An editable parameter as the body runs with it: the caller's
    /// `value`, or, when an edit changed the arguments, the approved one.
    pub fn take<T>(&mut self, name: &str, value: T, field: Field<T>) -> Result<T, Error> {
        let Some(approved) = &mut self.approved else {
            return Ok(value);
        };
        let approved = approved.remove(name).unwrap_or(serde_json::Value::Null);
        // The gate checked the edit against this type: failing here means
        // a type whose `Deserialize` changed its mind.
        (field.rebuild)(approved).ok_or_else(|| Error::BindingMismatch {
            request_id: self.request_id.clone(),
        })
    }
}

/// [`run`] for a function with editable parameters (`editable`, their
/// names): the body is also handed the edited arguments, when a reviewer
/// changed them.
#[inline]
pub async fn run_editable<A, F, Fut, T, E>(
    gate: Result<Gate, Error>,
    request: ActionRequest<A>,
    editable: &[&str],
    body: F,
) -> Result<T, E>
where
    A: Serialize,
    F: FnOnce(A, Edited) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: ErrorType,
{
    let gate = gate.map_err(E::from_gate)?;
    let approval = gate.authorize(request).await.map_err(E::from_gate)?;
    let request_id = approval.request_id().clone();
    approval
        .run_edited_converting(
            editable,
            move |arguments, approved| {
                body(
                    arguments,
                    Edited {
                        request_id,
                        approved,
                    },
                )
            },
            E::from_gate,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_serialize_as_a_map_in_order() {
        let contact = String::from("jo@x.io");
        let arguments = Arguments::new(&["bucket", "contact"], ("exports", (&contact, ())));
        assert_eq!(
            serde_json::to_string(&arguments).unwrap(),
            r#"{"bucket":"exports","contact":"jo@x.io"}"#
        );
        let (bucket, (contact, ())) = arguments.into_values();
        assert_eq!((bucket, contact.as_str()), ("exports", "jo@x.io"));
        assert_eq!(
            serde_json::to_string(&Arguments::new(&[], ())).unwrap(),
            "{}"
        );
    }

    #[test]
    fn default_action_names_read_as_rust_paths_with_the_module_first() {
        for (marker, name) in [
            (
                "app::tools::export::{{closure}}::__approvals_action",
                "app::tools::export",
            ),
            (
                "app::tools::export::__approvals_action",
                "app::tools::export",
            ),
            (
                "app::tools::Search::call::{{closure}}::__approvals_action",
                "app::tools::Search::call",
            ),
            (
                "app::tools::Cache<_>::get::{{closure}}::__approvals_action",
                "app::tools::Cache<_>::get",
            ),
            (
                "<app::tools::Search as app::tools::Tool>::call::{{closure}}::{{closure}}::__approvals_action",
                "app::tools::<Search as Tool>::call",
            ),
            (
                "<app::tools::Search as rig::tool::Tool>::call::{{closure}}::__approvals_action",
                "app::tools::<Search as rig::tool::Tool>::call",
            ),
            (
                "<app::tools::Search as app::tools::inner::Tool>::call::__approvals_action",
                "app::tools::<Search as app::tools::inner::Tool>::call",
            ),
            (
                "<app::tools::Wrap<_, N> as app::tools::Tool<app::X>>::call::__approvals_action",
                "app::tools::<Wrap<_, N> as Tool<app::X>>::call",
            ),
            (
                "<app::Wrap<<app::A as app::B>::Out> as app::Tool>::call::__approvals_action",
                "app::<Wrap<<app::A as app::B>::Out> as Tool>::call",
            ),
            (
                "<[u8; 4] as app::tools::Tool>::call::{{closure}}::__approvals_action",
                "<[u8; 4] as app::tools::Tool>::call",
            ),
            (
                "<fn() -> u8 as app::Tool>::call::__approvals_action",
                "<fn() -> u8 as app::Tool>::call",
            ),
            (
                "<&app::tools::Search as app::tools::Tool>::call::__approvals_action",
                "<&app::tools::Search as app::tools::Tool>::call",
            ),
            (
                "app::tools::Tool::call::{{closure}}::__approvals_action",
                "app::tools::Tool::call",
            ),
        ] {
            assert_eq!(default_action_name(marker), name, "{marker}");
        }
    }

    #[test]
    fn default_action_names_come_from_the_marker_type() {
        struct Search;
        trait Tool {
            fn name(&self) -> &'static str;
        }
        impl Tool for Search {
            fn name(&self) -> &'static str {
                fn __approvals_action() {}
                static NAME: DefaultAction = DefaultAction::new();
                NAME.name(__approvals_action)
            }
        }
        impl Search {
            fn name(&self) -> &'static str {
                fn __approvals_action() {}
                static NAME: DefaultAction = DefaultAction::new();
                NAME.name(__approvals_action)
            }
        }
        let prefix = concat!(module_path!(), "::");
        let inherent = Search.name();
        let of_trait = Tool::name(&Search);
        assert_eq!(
            inherent.strip_prefix(prefix),
            Some("default_action_names_come_from_the_marker_type::Search::name")
        );
        assert_eq!(
            of_trait.strip_prefix(prefix),
            Some("default_action_names_come_from_the_marker_type::<Search as Tool>::name")
        );
    }

    #[test]
    fn a_missing_name_is_an_error_not_a_panic() {
        let arguments = Arguments::new(&["one"], (1, (2, ())));
        assert!(serde_json::to_string(&arguments).is_err());
    }
}
