//! Serializing arguments with a bound on how deeply they nest.
//!
//! `serde` serializes recursively: a value nested 10,000 deep takes 10,000
//! nested calls, and after it every step that walks the serialized form
//! (fingerprint, masking, audit records, channels) would walk it as deep. The
//! gate therefore serializes the arguments through [`Bounded`], which counts
//! the levels as they are entered and stops the whole serialization with an
//! error at the first level past the limit: the stack used is bounded by the
//! limit, whatever the value, and the call fails closed with a typed error.

use std::cell::Cell;

use serde::ser::{self, Serialize, Serializer};

/// How deeply the arguments of a gated call may nest: arrays and objects
/// (and enum variants that serialize as objects) inside one another, the
/// outermost counting as one. A call whose arguments nest deeper fails
/// closed with [`Error::Arguments`](crate::Error::Arguments) before anything
/// else happens: nothing is fingerprinted, masked, shown to policy or
/// recorded, and the body does not run.
///
/// The limit keeps every later step, which walks the arguments or their
/// masked view recursively (serializers, channels, audit sinks), within a
/// small, known amount of stack, and keeps every audit record readable by
/// `serde_json`'s parser, which refuses more than 128 levels.
///
/// ```
/// use approvals_core::audit::MemoryAudit;
/// use approvals_core::policy::{Policy, Rule};
/// use approvals_core::{ActionRequest, Error, Gate, MAX_ARGUMENT_DEPTH};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let gate = Gate::builder()
///     .policy(Policy::new().rule(Rule::new("all").action("*").allow()))
///     .audit(MemoryAudit::new())
///     .build();
/// let mut arguments = serde_json::json!("leaf");
/// for _ in 0..=MAX_ARGUMENT_DEPTH {
///     arguments = serde_json::Value::Array(vec![arguments]);
/// }
/// let request = ActionRequest::new("deep", arguments).requester("agent:bot");
/// let result = gate.run(request, |_| async { Ok::<_, Error>(()) }).await;
/// assert!(matches!(result, Err(Error::Arguments { .. })));
/// # }
/// ```
pub const MAX_ARGUMENT_DEPTH: usize = 64;

/// Calls that add no level to the JSON (`Some`, newtype structs) still nest
/// on the stack: they are bounded too, more loosely, so that a recursive
/// type serializing as a flat value cannot exhaust the stack either.
const MAX_NESTING: usize = 4 * MAX_ARGUMENT_DEPTH;

/// The [`Error::Arguments`](crate::Error::Arguments) category of arguments
/// nested deeper than [`MAX_ARGUMENT_DEPTH`].
pub(crate) const TOO_DEEP: &str = "nested more than 64 levels deep";

/// The [`Error::Arguments`](crate::Error::Arguments) category of arguments
/// holding a NaN or an infinity, which JSON cannot represent (`serde_json`
/// would write `null`, and policy would judge `null`).
pub(crate) const NON_FINITE: &str = "a non-finite number (NaN or infinity)";

/// The [`Error::Arguments`](crate::Error::Arguments) category of arguments
/// holding a 128-bit integer outside the 64-bit range, which a JSON reader
/// would turn into an inexact float.
pub(crate) const OUT_OF_RANGE: &str = "an integer outside the 64-bit range";

/// A value the gate refuses to serialize, whatever the `Serialize`
/// implementation does with the error it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// Nested deeper than [`MAX_ARGUMENT_DEPTH`] (or than the looser bound
    /// on calls that add no level).
    TooDeep,
    /// A NaN or an infinity.
    NonFinite,
    /// A 128-bit integer that does not fit in 64 bits.
    OutOfRange,
}

impl Limit {
    /// The category named in [`Error::Arguments`](crate::Error::Arguments).
    pub(crate) fn category(self) -> &'static str {
        match self {
            Limit::TooDeep => TOO_DEEP,
            Limit::NonFinite => NON_FINITE,
            Limit::OutOfRange => OUT_OF_RANGE,
        }
    }
}

/// Why arguments could not be serialized.
#[derive(Debug)]
pub(crate) enum Unserializable {
    /// A limit of the gate was passed.
    Refused(Limit),
    /// `serde_json` refused them.
    Json(serde_json::Error),
}

/// `arguments` as a JSON value, refused if nested too deeply.
#[cfg(test)]
pub(crate) fn to_value<T: Serialize + ?Sized>(
    arguments: &T,
) -> Result<serde_json::Value, Unserializable> {
    let refused = Cell::new(None);
    let result = Guarded::new(arguments, &refused).serialize(serde_json::value::Serializer);
    settle(result, &refused)
}

/// Appends `arguments` as compact JSON text to `out`, refused if nested too
/// deeply or if they hold a number JSON cannot carry exactly.
pub(crate) fn to_writer<T: Serialize + ?Sized>(
    arguments: &T,
    out: &mut Vec<u8>,
) -> Result<(), Unserializable> {
    let refused = Cell::new(None);
    let result = Guarded::new(arguments, &refused).serialize(&mut serde_json::Serializer::new(out));
    settle(result, &refused)
}

/// A passed limit wins over whatever the serialization returned: a
/// `Serialize` implementation may have swallowed the error.
fn settle<T>(
    result: Result<T, serde_json::Error>,
    refused: &Cell<Option<Limit>>,
) -> Result<T, Unserializable> {
    if let Some(limit) = refused.get() {
        return Err(Unserializable::Refused(limit));
    }
    result.map_err(Unserializable::Json)
}

/// Where a value sits: its depth in JSON levels, its nesting in calls, and
/// the flag set when a limit is passed.
#[derive(Clone, Copy)]
struct Budget<'a> {
    depth: usize,
    nesting: usize,
    refused: &'a Cell<Option<Limit>>,
}

impl<'a> Budget<'a> {
    /// Refuses the whole serialization for `limit`.
    fn refuse<E: ser::Error>(self, limit: Limit) -> E {
        if self.refused.get().is_none() {
            self.refused.set(Some(limit));
        }
        E::custom(limit.category())
    }

    /// Enters a value `levels` JSON levels below this one.
    fn enter<E: ser::Error>(self, levels: usize) -> Result<Self, E> {
        let depth = self.depth + levels;
        let nesting = self.nesting + 1;
        if depth > MAX_ARGUMENT_DEPTH || nesting > MAX_NESTING {
            return Err(self.refuse(Limit::TooDeep));
        }
        Ok(Self {
            depth,
            nesting,
            refused: self.refused,
        })
    }
}

/// A value to serialize through [`Bounded`] at its place in the budget.
struct Guarded<'a, T: ?Sized> {
    value: &'a T,
    budget: Budget<'a>,
}

impl<'a, T: ?Sized> Guarded<'a, T> {
    fn new(value: &'a T, refused: &'a Cell<Option<Limit>>) -> Self {
        Self {
            value,
            budget: Budget {
                depth: 0,
                nesting: 0,
                refused,
            },
        }
    }
}

impl<T: Serialize + ?Sized> Serialize for Guarded<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Bounded {
            inner: serializer,
            budget: self.budget,
        })
    }
}

/// A serializer (or one of its compound states) that passes everything on
/// to `inner`, entering each nested value through [`Budget::enter`].
struct Bounded<'a, S> {
    inner: S,
    budget: Budget<'a>,
}

impl<'a, S> Bounded<'a, S> {
    fn guard<T: ?Sized>(&self, value: &'a T) -> Guarded<'a, T> {
        Guarded {
            value,
            budget: self.budget,
        }
    }
}

/// The `serialize_*` methods of scalars, passed on as they are.
macro_rules! pass_scalars {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(
            fn $method(self, value: $type) -> Result<S::Ok, S::Error> {
                self.inner.$method(value)
            }
        )*
    };
}

impl<'a, S: Serializer> Serializer for Bounded<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Bounded<'a, S::SerializeSeq>;
    type SerializeTuple = Bounded<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Bounded<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Bounded<'a, S::SerializeTupleVariant>;
    type SerializeMap = Bounded<'a, S::SerializeMap>;
    type SerializeStruct = Bounded<'a, S::SerializeStruct>;
    type SerializeStructVariant = Bounded<'a, S::SerializeStructVariant>;

    pass_scalars! {
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    }

    /// Written as `i64` when it fits (as `serde_json` does), else refused.
    fn serialize_i128(self, value: i128) -> Result<S::Ok, S::Error> {
        match i64::try_from(value) {
            Ok(value) => self.inner.serialize_i64(value),
            Err(_) => Err(self.budget.refuse(Limit::OutOfRange)),
        }
    }

    /// Written as `u64` when it fits (as `serde_json` does), else refused.
    fn serialize_u128(self, value: u128) -> Result<S::Ok, S::Error> {
        match u64::try_from(value) {
            Ok(value) => self.inner.serialize_u64(value),
            Err(_) => Err(self.budget.refuse(Limit::OutOfRange)),
        }
    }

    /// NaN and the infinities are refused: JSON has no such numbers.
    fn serialize_f32(self, value: f32) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            self.inner.serialize_f32(value)
        } else {
            Err(self.budget.refuse(Limit::NonFinite))
        }
    }

    /// NaN and the infinities are refused: JSON has no such numbers.
    fn serialize_f64(self, value: f64) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            self.inner.serialize_f64(value)
        } else {
            Err(self.budget.refuse(Limit::NonFinite))
        }
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let budget = self.budget.enter(0)?;
        self.inner.serialize_some(&Guarded { value, budget })
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let budget = self.budget.enter(0)?;
        self.inner
            .serialize_newtype_struct(name, &Guarded { value, budget })
    }

    /// `{"variant": value}`: one level.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let budget = self.budget.enter(1)?;
        self.inner
            .serialize_newtype_variant(name, index, variant, &Guarded { value, budget })
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let budget = self.budget.enter(1)?;
        Ok(Bounded {
            inner: self.inner.serialize_seq(len)?,
            budget,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let budget = self.budget.enter(1)?;
        Ok(Bounded {
            inner: self.inner.serialize_tuple(len)?,
            budget,
        })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let budget = self.budget.enter(1)?;
        Ok(Bounded {
            inner: self.inner.serialize_tuple_struct(name, len)?,
            budget,
        })
    }

    /// `{"variant": [..]}`: two levels.
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let budget = self.budget.enter(2)?;
        Ok(Bounded {
            inner: self
                .inner
                .serialize_tuple_variant(name, index, variant, len)?,
            budget,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let budget = self.budget.enter(1)?;
        Ok(Bounded {
            inner: self.inner.serialize_map(len)?,
            budget,
        })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let budget = self.budget.enter(1)?;
        Ok(Bounded {
            inner: self.inner.serialize_struct(name, len)?,
            budget,
        })
    }

    /// `{"variant": {..}}`: two levels.
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let budget = self.budget.enter(2)?;
        Ok(Bounded {
            inner: self
                .inner
                .serialize_struct_variant(name, index, variant, len)?,
            budget,
        })
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<S: ser::SerializeSeq> ser::SerializeSeq for Bounded<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let value = self.guard(value);
        self.inner.serialize_element(&value)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeTuple> ser::SerializeTuple for Bounded<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let value = self.guard(value);
        self.inner.serialize_element(&value)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeTupleStruct> ser::SerializeTupleStruct for Bounded<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let value = self.guard(value);
        self.inner.serialize_field(&value)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeTupleVariant> ser::SerializeTupleVariant for Bounded<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let value = self.guard(value);
        self.inner.serialize_field(&value)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeMap> ser::SerializeMap for Bounded<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        let key = self.guard(key);
        self.inner.serialize_key(&key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let value = self.guard(value);
        self.inner.serialize_value(&value)
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), S::Error> {
        let (key, value) = (self.guard(key), self.guard(value));
        self.inner.serialize_entry(&key, &value)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeStruct> ser::SerializeStruct for Bounded<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        let value = self.guard(value);
        self.inner.serialize_field(key, &value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeStructVariant> ser::SerializeStructVariant for Bounded<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        let value = self.guard(value);
        self.inner.serialize_field(key, &value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::{Value, json};

    use super::*;

    fn to_vec<T: Serialize + ?Sized>(arguments: &T) -> Result<Vec<u8>, Unserializable> {
        let mut out = Vec::new();
        to_writer(arguments, &mut out).map(|()| out)
    }

    fn nested(depth: usize) -> Value {
        let mut value = json!("leaf");
        for level in 0..depth {
            value = if level % 2 == 0 {
                Value::Array(vec![value])
            } else {
                json!({ "k": value })
            };
        }
        value
    }

    #[test]
    fn the_category_names_the_limit() {
        assert!(TOO_DEEP.contains(&MAX_ARGUMENT_DEPTH.to_string()));
    }

    #[test]
    fn values_up_to_the_limit_serialize_as_serde_json_does() {
        for depth in [0, 1, 2, 10, MAX_ARGUMENT_DEPTH] {
            let value = nested(depth);
            assert_eq!(to_value(&value).ok(), Some(value.clone()), "{depth}");
            assert_eq!(
                to_vec(&value).ok(),
                serde_json::to_vec(&value).ok(),
                "{depth}"
            );
        }
    }

    #[test]
    fn one_level_past_the_limit_is_refused() {
        let value = nested(MAX_ARGUMENT_DEPTH + 1);
        assert!(matches!(
            to_value(&value),
            Err(Unserializable::Refused(Limit::TooDeep))
        ));
        assert!(matches!(
            to_vec(&value),
            Err(Unserializable::Refused(Limit::TooDeep))
        ));
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(Box<Shape>),
        Tuple(u8, Box<Shape>),
        Struct { inner: Box<Shape> },
    }

    #[derive(Serialize)]
    struct Wrapper(Option<Box<Wrapper>>);

    #[test]
    fn every_kind_of_value_serializes_as_serde_json_does() {
        #[derive(Serialize)]
        struct Record<'a> {
            name: &'a str,
            tuple: (u8, char, f64),
            bytes: &'a [u8],
            map: BTreeMap<u32, Option<bool>>,
            shapes: Vec<Shape>,
            wrapper: Wrapper,
            #[serde(flatten)]
            extra: BTreeMap<String, i128>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
        }
        let record = Record {
            name: "n",
            tuple: (1, 'c', 1.5),
            bytes: b"ab",
            map: BTreeMap::from([(1, Some(true)), (2, None)]),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(Box::new(Shape::Unit)),
                Shape::Tuple(3, Box::new(Shape::Unit)),
                Shape::Struct {
                    inner: Box::new(Shape::Unit),
                },
            ],
            wrapper: Wrapper(Some(Box::new(Wrapper(None)))),
            extra: BTreeMap::from([("big".to_owned(), i128::from(i64::MIN))]),
            skipped: None,
        };
        assert_eq!(to_vec(&record).ok(), serde_json::to_vec(&record).ok());
        assert_eq!(to_value(&record).ok(), serde_json::to_value(&record).ok());
    }

    #[test]
    fn numbers_json_cannot_carry_are_refused() {
        let refused = |result: Result<Vec<u8>, Unserializable>| match result {
            Err(Unserializable::Refused(limit)) => Some(limit),
            _ => None,
        };
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(refused(to_vec(&json_free(value))), Some(Limit::NonFinite));
            assert_eq!(refused(to_vec(&[1.0, value])), Some(Limit::NonFinite));
        }
        assert_eq!(refused(to_vec(&f32::NAN)), Some(Limit::NonFinite));
        assert_eq!(
            refused(to_vec(&(u128::from(u64::MAX) + 1))),
            Some(Limit::OutOfRange)
        );
        assert_eq!(
            refused(to_vec(&(i128::from(i64::MIN) - 1))),
            Some(Limit::OutOfRange)
        );
        // In range, they are written as serde_json writes them.
        assert_eq!(
            to_vec(&u128::from(u64::MAX)).ok(),
            serde_json::to_vec(&u64::MAX).ok()
        );
        assert_eq!(to_vec(&-2.5f64).ok(), serde_json::to_vec(&-2.5f64).ok());
    }

    /// A float inside a struct, as arguments usually hold one.
    fn json_free(amount: f64) -> impl Serialize {
        #[derive(Serialize)]
        struct Transfer {
            amount: f64,
        }
        Transfer { amount }
    }

    #[test]
    fn variants_count_the_levels_they_add() {
        // `{"Struct":{"inner":…}}` is two levels per variant.
        let mut shape = Shape::Unit;
        for _ in 0..MAX_ARGUMENT_DEPTH / 2 {
            shape = Shape::Struct {
                inner: Box::new(shape),
            };
        }
        assert!(to_vec(&shape).is_ok());
        let shape = Shape::Newtype(Box::new(shape));
        assert!(matches!(
            to_vec(&shape),
            Err(Unserializable::Refused(Limit::TooDeep))
        ));
    }

    #[test]
    fn calls_that_add_no_level_are_bounded_too() {
        // `Wrapper(Some(Wrapper(Some(…))))` is `null` in JSON, but each
        // level is two nested calls.
        let mut wrapper = Wrapper(None);
        for _ in 0..MAX_NESTING {
            wrapper = Wrapper(Some(Box::new(wrapper)));
        }
        assert!(matches!(
            to_vec(&wrapper),
            Err(Unserializable::Refused(Limit::TooDeep))
        ));
        let mut wrapper = Wrapper(None);
        for _ in 0..MAX_NESTING / 2 - 1 {
            wrapper = Wrapper(Some(Box::new(wrapper)));
        }
        assert_eq!(to_vec(&wrapper).ok(), Some(b"null".to_vec()));
    }

    #[test]
    fn other_failures_keep_their_serde_json_error() {
        let map = BTreeMap::from([(vec![1u8], 1)]);
        assert!(matches!(to_value(&map), Err(Unserializable::Json(_))));
    }

    #[test]
    fn a_swallowed_error_still_refuses() {
        /// Serializes its value as a one-element array, but carries on as
        /// if the element had been written when it fails.
        struct Swallowing(Value);
        impl Serialize for Swallowing {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = serializer.serialize_seq(Some(1))?;
                let _ = seq.serialize_element(&self.0);
                seq.end()
            }
        }
        let deep = Swallowing(nested(MAX_ARGUMENT_DEPTH + 1));
        assert!(matches!(
            to_vec(&deep),
            Err(Unserializable::Refused(Limit::TooDeep))
        ));
        assert!(matches!(
            to_value(&deep),
            Err(Unserializable::Refused(Limit::TooDeep))
        ));
    }
}
