//! Argument predicates: tests on one value of a call's serialized arguments.
//!
//! A predicate addresses a value by a dotted path (`amount`,
//! `customer.country`, `items.0.sku`): each segment is an object key, or,
//! where the value is an array, an index. Keys that contain a `.` cannot be
//! addressed.
//!
//! **A predicate whose path is missing, or whose value has the wrong type
//! for the test, is false** (only [`Arg::absent`] holds for a missing path).
//! So a rule that allows small refunds with `amount < 100` does not apply to
//! a call without an amount, or with the amount as a string: policy fails
//! closed, and the next rule (or the default requirement) decides.
//!
//! Equality is by JSON type: numbers compare by value (`100` equals
//! `100.0`), strings, booleans and `null` exactly, arrays and objects element
//! by element. A value of another type than the operand is neither equal nor
//! unequal: `ne` is false for it too.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::glob::Glob;

/// A path into a call's arguments; its methods make a [`Predicate`].
///
/// ```
/// use approvals_core::policy::Arg;
/// use serde_json::json;
///
/// let arguments = json!({ "amount": 42, "customer": { "country": "FR" }, "items": [{ "sku": "A-1" }] });
/// assert!(Arg::path("amount").lt(100).holds(&arguments));
/// assert!(Arg::path("customer.country").one_of(["FR", "DE"]).holds(&arguments));
/// assert!(Arg::path("items.0.sku").matches("A-*").holds(&arguments));
/// assert!(Arg::path("coupon").absent().holds(&arguments));
/// // Missing or mistyped values never satisfy a test:
/// assert!(!Arg::path("discount").lt(100).holds(&arguments));
/// assert!(!Arg::path("customer").lt(100).holds(&arguments));
/// ```
#[derive(Debug, Clone)]
#[must_use = "an `Arg` does nothing until a test such as `.lt(100)` makes it a `Predicate`"]
pub struct Arg {
    path: ArgPath,
}

/// A test on one value of a call's arguments, made by [`Arg`]; added to a
/// rule with [`RuleBuilder::when`](super::RuleBuilder::when).
#[derive(Debug, Clone)]
pub struct Predicate {
    path: ArgPath,
    test: Test,
}

#[derive(Debug, Clone)]
struct ArgPath {
    text: Box<str>,
    segments: Box<[Segment]>,
    /// Why the path addresses nothing, if it is malformed.
    defect: Option<String>,
}

#[derive(Debug, Clone)]
struct Segment {
    key: Box<str>,
    /// The segment as an array index, when it is one.
    index: Option<usize>,
}

#[derive(Debug, Clone)]
enum Test {
    Eq(Value),
    Ne(Value),
    Compare(Comparison, Number),
    OneOf(Box<[Value]>),
    Matches(Glob),
    Exists,
    Absent,
    /// An operand that cannot work; the message says why.
    Invalid(String),
}

#[derive(Debug, Clone, Copy)]
enum Comparison {
    Lt,
    Le,
    Gt,
    Ge,
}

/// Which part of a predicate is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PredicatePart {
    Path,
    Operand,
}

impl Arg {
    /// The value at `path`: dot-separated object keys and array indices.
    pub fn path(path: impl AsRef<str>) -> Self {
        Self {
            path: ArgPath::new(path.as_ref()),
        }
    }

    /// Holds when the value equals `value` (numbers by value: `100` equals
    /// `100.0`).
    pub fn eq(self, value: impl Into<Value>) -> Predicate {
        self.with(Test::Eq(value.into()))
    }

    /// Holds when the value has the type of `value` but differs from it.
    /// A missing value, or one of another type, does not hold.
    pub fn ne(self, value: impl Into<Value>) -> Predicate {
        self.with(Test::Ne(value.into()))
    }

    /// Holds when the value is a number less than `bound`.
    pub fn lt(self, bound: impl Into<Value>) -> Predicate {
        self.compare(Comparison::Lt, bound.into())
    }

    /// Holds when the value is a number less than or equal to `bound`.
    pub fn le(self, bound: impl Into<Value>) -> Predicate {
        self.compare(Comparison::Le, bound.into())
    }

    /// Holds when the value is a number greater than `bound`.
    pub fn gt(self, bound: impl Into<Value>) -> Predicate {
        self.compare(Comparison::Gt, bound.into())
    }

    /// Holds when the value is a number greater than or equal to `bound`.
    pub fn ge(self, bound: impl Into<Value>) -> Predicate {
        self.compare(Comparison::Ge, bound.into())
    }

    /// Holds when the value equals one of `values` (`in` in a policy file).
    pub fn one_of<V: Into<Value>>(self, values: impl IntoIterator<Item = V>) -> Predicate {
        let values: Box<[Value]> = values.into_iter().map(Into::into).collect();
        if values.is_empty() {
            let message = format!("`in` on `{}` lists no values", self.path.text);
            return self.with(Test::Invalid(message));
        }
        self.with(Test::OneOf(values))
    }

    /// Holds when the value is a string matching the glob `pattern` (`*` any
    /// run of characters, `?` one character).
    pub fn matches(self, pattern: &str) -> Predicate {
        let test = match Glob::new(pattern) {
            Ok(glob) => Test::Matches(glob),
            Err(error) => Test::Invalid(format!(
                "invalid pattern in `matches` on `{}`: {error}",
                self.path.text
            )),
        };
        self.with(test)
    }

    /// Holds when the path leads to a value (`null` included).
    pub fn exists(self) -> Predicate {
        self.with(Test::Exists)
    }

    /// Holds when the path leads to no value.
    pub fn absent(self) -> Predicate {
        self.with(Test::Absent)
    }

    fn compare(self, comparison: Comparison, bound: Value) -> Predicate {
        let test = match bound {
            Value::Number(bound) => Test::Compare(comparison, bound),
            _ => Test::Invalid(format!(
                "`{}` on `{}` needs a number",
                comparison.operator(),
                self.path.text
            )),
        };
        self.with(test)
    }

    fn with(self, test: Test) -> Predicate {
        Predicate {
            path: self.path,
            test,
        }
    }
}

impl Predicate {
    /// Whether the predicate holds for `arguments` (the serialized arguments
    /// of a call). Never allocates.
    pub fn holds(&self, arguments: &Value) -> bool {
        if self.path.defect.is_some() {
            return false;
        }
        let found = self.path.lookup(arguments);
        match (&self.test, found) {
            (Test::Exists, found) => found.is_some(),
            (Test::Absent, found) => found.is_none(),
            (_, None) => false,
            (Test::Eq(expected), Some(value)) => json_equal(value, expected) == Some(true),
            (Test::Ne(expected), Some(value)) => json_equal(value, expected) == Some(false),
            (Test::Compare(comparison, bound), Some(Value::Number(value))) => {
                compare_numbers(value, bound).is_some_and(|ordering| comparison.accepts(ordering))
            }
            (Test::OneOf(values), Some(value)) => values
                .iter()
                .any(|expected| json_equal(value, expected) == Some(true)),
            (Test::Matches(glob), Some(Value::String(text))) => glob.matches(text),
            _ => false,
        }
    }

    /// The path, as written.
    pub fn path(&self) -> &str {
        &self.path.text
    }

    /// The operator as written in a policy file: `eq`, `ne`, `lt`, `le`,
    /// `gt`, `ge`, `in`, `matches`, `exists` or `absent` (`invalid` for a
    /// malformed operand).
    pub fn operator(&self) -> &'static str {
        match &self.test {
            Test::Eq(_) => "eq",
            Test::Ne(_) => "ne",
            Test::Compare(comparison, _) => comparison.operator(),
            Test::OneOf(_) => "in",
            Test::Matches(_) => "matches",
            Test::Exists => "exists",
            Test::Absent => "absent",
            Test::Invalid(_) => "invalid",
        }
    }

    /// Why the predicate cannot work, if it cannot.
    pub(crate) fn defect(&self) -> Option<(PredicatePart, &str)> {
        if let Some(defect) = &self.path.defect {
            return Some((PredicatePart::Path, defect));
        }
        match &self.test {
            Test::Invalid(message) => Some((PredicatePart::Operand, message)),
            _ => None,
        }
    }
}

impl ArgPath {
    fn new(text: &str) -> Self {
        let segments: Box<[Segment]> = text
            .split('.')
            .map(|key| Segment {
                key: key.into(),
                index: if !key.is_empty() && key.bytes().all(|byte| byte.is_ascii_digit()) {
                    key.parse().ok()
                } else {
                    None
                },
            })
            .collect();
        let defect = if text.is_empty() {
            Some("argument path is empty".to_owned())
        } else if segments.iter().any(|segment| segment.key.is_empty()) {
            Some(format!("argument path `{text}` has an empty segment"))
        } else {
            None
        };
        Self {
            text: text.into(),
            segments,
            defect,
        }
    }

    fn lookup<'v>(&self, arguments: &'v Value) -> Option<&'v Value> {
        let mut value = arguments;
        for segment in &*self.segments {
            value = match value {
                Value::Object(map) => map.get(&*segment.key)?,
                Value::Array(items) => items.get(segment.index?)?,
                _ => return None,
            };
        }
        Some(value)
    }
}

impl Comparison {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Lt => ordering.is_lt(),
            Comparison::Le => ordering.is_le(),
            Comparison::Gt => ordering.is_gt(),
            Comparison::Ge => ordering.is_ge(),
        }
    }

    fn operator(self) -> &'static str {
        match self {
            Comparison::Lt => "lt",
            Comparison::Le => "le",
            Comparison::Gt => "gt",
            Comparison::Ge => "ge",
        }
    }
}

/// Integers exactly (any mix of signed and unsigned), otherwise as floats.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    fn integer(number: &Number) -> Option<i128> {
        number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from))
    }
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// `None` when the two values have different JSON types.
fn json_equal(a: &Value, b: &Value) -> Option<bool> {
    Some(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b) == Some(Ordering::Equal),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_equal(a, b) == Some(true))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| json_equal(a, b) == Some(true)))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn arguments() -> Value {
        json!({
            "amount": 42,
            "price": 9.5,
            "big": u64::MAX,
            "negative": -3,
            "currency": "EUR",
            "urgent": false,
            "note": null,
            "customer": { "country": "FR", "tags": ["vip", "beta"] },
            "items": [ { "sku": "A-1", "qty": 2 }, { "sku": "B-7", "qty": 1 } ],
            "7": "seven"
        })
    }

    #[test]
    fn numbers_compare_as_ints_and_floats() {
        let args = arguments();
        assert!(Arg::path("amount").lt(100).holds(&args));
        assert!(Arg::path("amount").lt(42.5).holds(&args));
        assert!(!Arg::path("amount").lt(42).holds(&args));
        assert!(Arg::path("amount").le(42).holds(&args));
        assert!(Arg::path("amount").le(42.0).holds(&args));
        assert!(Arg::path("amount").ge(42).holds(&args));
        assert!(!Arg::path("amount").gt(42).holds(&args));
        assert!(Arg::path("price").gt(9).holds(&args));
        assert!(Arg::path("price").lt(10u8).holds(&args));
        assert!(Arg::path("amount").eq(42.0).holds(&args));
        assert!(Arg::path("amount").eq(42u64).holds(&args));
        assert!(Arg::path("negative").lt(0).holds(&args));
        assert!(Arg::path("negative").gt(-3.5).holds(&args));
        // u64::MAX is compared exactly, not rounded through f64.
        assert!(Arg::path("big").gt(u64::MAX - 1).holds(&args));
        assert!(Arg::path("big").gt(i64::MAX).holds(&args));
        assert!(!Arg::path("big").lt(0).holds(&args));
    }

    #[test]
    fn missing_paths_are_false() {
        let args = arguments();
        assert!(!Arg::path("discount").lt(100).holds(&args));
        assert!(!Arg::path("discount").ne(1).holds(&args));
        assert!(!Arg::path("discount").eq(Value::Null).holds(&args));
        assert!(!Arg::path("customer.city").matches("*").holds(&args));
        assert!(!Arg::path("items.5.sku").exists().holds(&args));
        assert!(Arg::path("items.5.sku").absent().holds(&args));
        assert!(!Arg::path("amount.value").exists().holds(&args));
        assert!(Arg::path("amount.value").absent().holds(&args));
        assert!(Arg::path("discount").absent().holds(&args));
        assert!(!Arg::path("amount").absent().holds(&args));
        assert!(Arg::path("note").exists().holds(&args));
        assert!(!Arg::path("x").lt(1).holds(&json!(5)));
    }

    #[test]
    fn wrong_types_are_false() {
        let args = arguments();
        assert!(!Arg::path("currency").lt(100).holds(&args));
        assert!(!Arg::path("customer").gt(0).holds(&args));
        assert!(!Arg::path("amount").matches("*").holds(&args));
        assert!(!Arg::path("amount").eq("42").holds(&args));
        assert!(!Arg::path("amount").ne("42").holds(&args));
        assert!(!Arg::path("note").ne("x").holds(&args));
        assert!(Arg::path("note").eq(Value::Null).holds(&args));
        assert!(!Arg::path("urgent").eq(0).holds(&args));
        assert!(Arg::path("urgent").eq(false).holds(&args));
        assert!(Arg::path("urgent").ne(true).holds(&args));
        assert!(!Arg::path("currency").one_of([1, 2]).holds(&args));
    }

    #[test]
    fn nested_values_and_array_indices() {
        let args = arguments();
        assert!(Arg::path("customer.country").eq("FR").holds(&args));
        assert!(Arg::path("customer.country").ne("US").holds(&args));
        assert!(Arg::path("customer.tags.1").eq("beta").holds(&args));
        assert!(Arg::path("items.0.sku").eq("A-1").holds(&args));
        assert!(Arg::path("items.1.qty").lt(2).holds(&args));
        assert!(Arg::path("items.1.sku").matches("B-?").holds(&args));
        assert!(!Arg::path("items.first.sku").exists().holds(&args));
        // On an object, a numeric segment is a key.
        assert!(Arg::path("7").eq("seven").holds(&args));
        assert!(
            Arg::path("customer.tags")
                .eq(json!(["vip", "beta"]))
                .holds(&args)
        );
        assert!(
            !Arg::path("customer.tags")
                .eq(json!(["beta", "vip"]))
                .holds(&args)
        );
        assert!(
            Arg::path("items.0")
                .eq(json!({ "qty": 2.0, "sku": "A-1" }))
                .holds(&args)
        );
        assert!(Arg::path("items.0.qty").exists().holds(&args));
    }

    #[test]
    fn one_of_and_matches() {
        let args = arguments();
        assert!(Arg::path("currency").one_of(["USD", "EUR"]).holds(&args));
        assert!(!Arg::path("currency").one_of(["USD", "GBP"]).holds(&args));
        assert!(Arg::path("amount").one_of([41.0, 42.0]).holds(&args));
        assert!(Arg::path("currency").matches("E*").holds(&args));
        assert!(!Arg::path("currency").matches("e*").holds(&args));
    }

    #[test]
    fn malformed_predicates_report_a_defect_and_never_hold() {
        let args = arguments();
        let empty = Arg::path("").exists();
        assert_eq!(
            empty.defect(),
            Some((PredicatePart::Path, "argument path is empty"))
        );
        assert!(!empty.holds(&args));
        assert!(!Arg::path("").absent().holds(&args));
        let gap = Arg::path("customer..country").exists();
        assert_eq!(
            gap.defect(),
            Some((
                PredicatePart::Path,
                "argument path `customer..country` has an empty segment"
            ))
        );
        assert!(!gap.holds(&args));
        let word = Arg::path("amount").lt("100");
        assert_eq!(
            word.defect(),
            Some((PredicatePart::Operand, "`lt` on `amount` needs a number"))
        );
        assert!(!word.holds(&args));
        assert!(Arg::path("amount").lt(f64::NAN).defect().is_some());
        assert!(Arg::path("x").matches("[a]").defect().is_some());
        assert!(Arg::path("x").one_of(Vec::<i32>::new()).defect().is_some());
        assert_eq!(Arg::path("amount").lt(1).defect(), None);
    }

    #[test]
    fn describes_itself() {
        let predicate = Arg::path("items.0.sku").one_of(["a"]);
        assert_eq!(predicate.path(), "items.0.sku");
        assert_eq!(predicate.operator(), "in");
        assert_eq!(Arg::path("a").ge(1).operator(), "ge");
    }
}
