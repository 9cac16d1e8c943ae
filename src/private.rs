//! What the expansion of `#[requires_approval]` names.
//!
//! **Not a stable API.** Everything here exists for the attribute's generated
//! code, which reaches it as `::approvals::__private::…` (or through the
//! attribute's `crate = "…"` path). It may change in any release, patch
//! releases included; the attribute crate is pinned to this crate's exact
//! version so that the two always agree.

use std::future::Future;
use std::sync::Arc;

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
pub trait Argument {}

impl<T: Serialize + ?Sized> Argument for T {}

/// Passes a parameter through, checking that it can be serialized (with a
/// message that suggests `#[approval(skip)]` when it cannot).
#[inline(always)]
pub fn argument<T: Argument>(value: T) -> T {
    value
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
    E: From<Error>,
{
    match gate {
        Ok(gate) => gate.run(request, body).await,
        Err(error) => Err(E::from(error)),
    }
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
    fn a_missing_name_is_an_error_not_a_panic() {
        let arguments = Arguments::new(&["one"], (1, (2, ())));
        assert!(serde_json::to_string(&arguments).is_err());
    }
}
