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
        self.test.holds(self.path.lookup(arguments))
    }

    /// Whether the predicate holds for `arguments` and, when it does not,
    /// why: the value is missing, has another type than the test needs, or
    /// fails the test. Tells nothing of the value itself.
    ///
    /// ```
    /// use approvals_core::policy::{Arg, PredicateOutcome};
    /// use serde_json::json;
    ///
    /// let small = Arg::path("amount").lt(100);
    /// assert_eq!(small.outcome(&json!({ "amount": 5 })), PredicateOutcome::Holds);
    /// assert_eq!(small.outcome(&json!({ "amount": 500 })), PredicateOutcome::Fails);
    /// assert_eq!(small.outcome(&json!({ "amount": "5" })), PredicateOutcome::WrongType);
    /// assert_eq!(small.outcome(&json!({})), PredicateOutcome::Missing);
    /// ```
    pub fn outcome(&self, arguments: &Value) -> PredicateOutcome {
        if self.path.defect.is_some() {
            return PredicateOutcome::Fails;
        }
        let found = self.path.lookup(arguments);
        if self.test.holds(found) {
            return PredicateOutcome::Holds;
        }
        match (&self.test, found) {
            (Test::Exists | Test::Absent, _) => PredicateOutcome::Fails,
            (_, None) => PredicateOutcome::Missing,
            (test, Some(value)) if !test.accepts_type_of(value) => PredicateOutcome::WrongType,
            _ => PredicateOutcome::Fails,
        }
    }

    /// Whether this predicate holding proves that `other` holds, for any
    /// arguments. Sound, not complete: `false` means "not proven".
    pub(crate) fn implies(&self, other: &Predicate) -> bool {
        if self.defect().is_some() || other.defect().is_some() || self.path.text != other.path.text
        {
            return false;
        }
        match (&self.test, &other.test) {
            (Test::Absent, Test::Absent) => true,
            (Test::Absent, _) | (_, Test::Absent) => false,
            (_, Test::Exists) => true,
            (Test::Eq(value), _) => other.test.holds(Some(value)),
            (Test::OneOf(values), _) => values.iter().all(|value| other.test.holds(Some(value))),
            (Test::Ne(a), Test::Ne(b)) => json_equal(a, b) == Some(true),
            (Test::Compare(inner, a), Test::Compare(outer, b)) => {
                interval_within((*inner, a), (*outer, b))
            }
            (Test::Matches(inner), Test::Matches(outer)) => outer.covers(inner),
            _ => false,
        }
    }

    /// Whether no arguments can make both this predicate and `other` hold.
    /// Sound, not complete: `false` means "not proven".
    pub(crate) fn contradicts(&self, other: &Predicate) -> bool {
        if self.defect().is_some() || other.defect().is_some() || self.path.text != other.path.text
        {
            return false;
        }
        match (&self.test, &other.test) {
            (Test::Absent, Test::Absent) => false,
            (Test::Absent, _) | (_, Test::Absent) => true,
            (Test::Eq(value), test) | (test, Test::Eq(value)) => !test.holds(Some(value)),
            (Test::OneOf(values), test) | (test, Test::OneOf(values)) => {
                !values.iter().any(|value| test.holds(Some(value)))
            }
            (Test::Compare(a, x), Test::Compare(b, y)) => disjoint((*a, x), (*b, y)),
            (Test::Compare(..), Test::Matches(_)) | (Test::Matches(_), Test::Compare(..)) => true,
            _ => false,
        }
    }
}

/// Why a [`Predicate`] does or does not hold for some arguments
/// ([`Predicate::outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PredicateOutcome {
    /// It holds.
    Holds,
    /// The path leads to no value.
    Missing,
    /// The value has another type than the test needs (a string where a
    /// number is compared, say).
    WrongType,
    /// The value fails the test.
    Fails,
}

impl PredicateOutcome {
    /// `holds`, `missing`, `wrong type` or `fails`.
    pub fn as_str(self) -> &'static str {
        match self {
            PredicateOutcome::Holds => "holds",
            PredicateOutcome::Missing => "missing",
            PredicateOutcome::WrongType => "wrong type",
            PredicateOutcome::Fails => "fails",
        }
    }
}

/// Whether every number within the bound `inner` is within `outer`; bounds
/// in different directions never are.
fn interval_within(inner: (Comparison, &Number), outer: (Comparison, &Number)) -> bool {
    let inner_upper = inner.0.is_upper();
    if inner_upper != outer.0.is_upper() {
        return false;
    }
    let Some(ordering) = compare_numbers(inner.1, outer.1) else {
        return false;
    };
    let ordering = if inner_upper {
        ordering
    } else {
        ordering.reverse()
    };
    match ordering {
        Ordering::Less => true,
        Ordering::Equal => inner.0.is_strict() || !outer.0.is_strict(),
        Ordering::Greater => false,
    }
}

/// Whether no number is within both bounds.
fn disjoint(a: (Comparison, &Number), b: (Comparison, &Number)) -> bool {
    let (upper, lower) = match (a.0.is_upper(), b.0.is_upper()) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        _ => return false,
    };
    match compare_numbers(upper.1, lower.1) {
        Some(Ordering::Less) => true,
        Some(Ordering::Equal) => upper.0.is_strict() || lower.0.is_strict(),
        _ => false,
    }
}

impl Test {
    /// Whether the test holds for `found` (the value at the path, if any).
    fn holds(&self, found: Option<&Value>) -> bool {
        match (self, found) {
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

    /// Whether a value of `value`'s type can pass the test at all.
    fn accepts_type_of(&self, value: &Value) -> bool {
        match self {
            Test::Eq(expected) | Test::Ne(expected) => json_equal(value, expected).is_some(),
            Test::Compare(..) => value.is_number(),
            Test::OneOf(values) => values
                .iter()
                .any(|expected| json_equal(value, expected).is_some()),
            Test::Matches(_) => value.is_string(),
            Test::Exists | Test::Absent => true,
            Test::Invalid(_) => false,
        }
    }
}

impl Predicate {
    /// The operand as written in the policy (`100` of `lt = 100`, the list
    /// of `in`, the pattern of `matches`); `None` for `exists` and `absent`.
    /// It is a value of the kind that arguments hold: show it masked.
    pub fn operand(&self) -> Option<Value> {
        match &self.test {
            Test::Eq(value) | Test::Ne(value) => Some(value.clone()),
            Test::Compare(_, bound) => Some(Value::Number(bound.clone())),
            Test::OneOf(values) => Some(Value::Array(values.to_vec())),
            Test::Matches(glob) => Some(Value::String(glob.as_str().to_owned())),
            Test::Exists | Test::Absent | Test::Invalid(_) => None,
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

/// The value at a predicate's dotted `path` in `arguments`, looked up as
/// predicates look it up: for showing what a predicate tested, masked.
///
/// ```
/// use approvals_core::policy::argument_at;
/// use serde_json::json;
///
/// let arguments = json!({ "items": [{ "sku": "A-1" }] });
/// assert_eq!(argument_at(&arguments, "items.0.sku"), Some(&json!("A-1")));
/// assert_eq!(argument_at(&arguments, "items.1"), None);
/// ```
pub fn argument_at<'v>(arguments: &'v Value, path: &str) -> Option<&'v Value> {
    let path = ArgPath::new(path);
    if path.defect.is_some() {
        return None;
    }
    path.lookup(arguments)
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

    /// Whether this is an upper bound (`lt`, `le`) rather than a lower one.
    fn is_upper(self) -> bool {
        matches!(self, Comparison::Lt | Comparison::Le)
    }

    fn is_strict(self) -> bool {
        matches!(self, Comparison::Lt | Comparison::Gt)
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
