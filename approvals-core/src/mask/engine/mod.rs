//! The masking engine: detection, strategies and per-action configuration,
//! over free text and JSON. The configuration and its builder are in
//! `config`; this module walks text and JSON with it.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::keys::{kind_of_key, normalize_key};
use super::kind::{Detection, Kind};
use super::render::{self, PseudonymKey, REDACTED};
use super::scan::Scanner;
use super::spec::{MaskSpec, Strategy};
use super::{MaskedView, Masker};
use crate::ArgumentMask;
use crate::policy::glob::Glob;

mod config;

use self::config::*;
pub use self::config::{
    ActionMasking, CustomDetector, MaskConfigError, MaskingEngineBuilder, Validator,
};

/// The masking engine: finds personal data and secrets in text and JSON and
/// shows each as its strategy says. The gate's default [`Masker`].
///
/// Cheap to clone (the configuration is shared).
///
/// ```
/// use approvals_core::mask::{Kind, MaskingEngine, Strategy};
///
/// let engine = MaskingEngine::builder()
///     .pseudonym_key(b"a key kept in the secret store")
///     .build();
/// let masked = engine.mask_str("refund 4242 4242 4242 4242 for jane@example.com, password=hunter2");
/// assert!(masked.starts_with("refund •••• 4242 for EMAIL_"));
/// assert!(masked.ends_with(", password=[SECRET]"));
///
/// let args = serde_json::json!({"customer": {"email": "not an address", "phone": "+1 415 555 0132"}});
/// let view = engine.mask_value(&args);
/// assert!(view["customer"]["email"].as_str().unwrap().starts_with("EMAIL_"));
/// assert_eq!(view["customer"]["phone"], "•••• 0132");
/// ```
#[derive(Clone)]
pub struct MaskingEngine {
    inner: Arc<Inner>,
}

struct Inner {
    strategies: [Strategy; 10],
    custom_strategies: HashMap<Kind, Strategy>,
    key: PseudonymKey,
    keys: HashMap<String, Kind>,
    detectors: Vec<CustomDetector>,
    allowed_values: HashSet<String>,
    allowed_patterns: Vec<Regex>,
    actions: Vec<(Glob, ActionMasking)>,
}

impl std::fmt::Debug for MaskingEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskingEngine")
            .field("strategies", &self.inner.strategies)
            .field("detectors", &self.inner.detectors.len())
            .field("actions", &self.inner.actions.len())
            .finish_non_exhaustive()
    }
}

impl Default for MaskingEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// The outcome of masking a text: what was found, and the masked text.
#[derive(Clone, Debug, PartialEq)]
pub struct Masked<'a> {
    /// The masked text: borrowed, untouched, when nothing was found.
    pub text: Cow<'a, str>,
    /// What was found, in order, with byte ranges into the input.
    pub detections: Vec<Detection>,
}

/// A detection inside a JSON value.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueDetection {
    /// Where, as a JSON Pointer (`/customer/email`); a key is its object's
    /// pointer with the key appended and `key: true`.
    pub pointer: String,
    /// Whether the detection is in an object key rather than a value.
    pub key: bool,
    /// What was found and where in the string (the whole string for a value
    /// masked by its key).
    pub detection: Detection,
}

/// How a value is masked by what is around it.
#[derive(Clone, Debug)]
enum Force {
    /// Detect in it.
    Detect,
    /// Mask every scalar in it wholly as this kind.
    Kind(Kind, Strategy),
}

/// A container being masked, in the iterative walk.
enum Frame<'v> {
    Array {
        items: std::slice::Iter<'v, Value>,
        out: Vec<Value>,
        force: Force,
    },
    Object {
        entries: serde_json::map::Iter<'v>,
        out: Map<String, Value>,
        /// The masked key of the entry being masked.
        key: Option<String>,
        force: Force,
    },
}

/// What the resolved configuration of one action says.
struct Plan<'e> {
    action: Option<&'e ActionMasking>,
}

impl MaskingEngine {
    /// The engine with its defaults: every built-in detector, the default
    /// strategies and a random pseudonym key.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts configuring an engine.
    pub fn builder() -> MaskingEngineBuilder {
        MaskingEngineBuilder {
            strategies: DEFAULT_STRATEGIES,
            custom_strategies: HashMap::new(),
            key: None,
            keys: HashMap::new(),
            detectors: Vec::new(),
            allowed_values: HashSet::new(),
            allowed_patterns: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Finds personal data and secrets in `text`: sorted, without overlaps,
    /// allow-listed values left out.
    pub fn detect(&self, text: &str) -> Vec<Detection> {
        let mut found = Scanner::new(text).run();
        for detector in &self.inner.detectors {
            for hit in detector.pattern.find_iter(text) {
                if detector
                    .validator
                    .as_ref()
                    .is_none_or(|valid| valid(hit.as_str()))
                {
                    found.push(Detection::new(
                        detector.kind.clone(),
                        hit.range(),
                        detector.confidence,
                    ));
                }
            }
        }
        if found.is_empty() {
            return found;
        }
        let mut merged = merge(found);
        if !self.inner.allowed_values.is_empty() || !self.inner.allowed_patterns.is_empty() {
            merged.retain(|d| !self.allowed(&text[d.range.clone()]));
        }
        merged
    }

    fn allowed(&self, value: &str) -> bool {
        self.inner.allowed_values.contains(value)
            || self
                .inner
                .allowed_patterns
                .iter()
                .any(|p| p.is_match(value))
    }

    /// Masks `text` with the default strategies. Returns the text itself,
    /// without allocating, when nothing is found.
    pub fn mask_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.mask(text).text
    }

    /// Masks `text` and says what was found.
    pub fn mask<'a>(&self, text: &'a str) -> Masked<'a> {
        let detections = self.detect(text);
        let text = self.apply(text, &detections, &Plan { action: None });
        Masked { text, detections }
    }

    fn apply<'a>(&self, text: &'a str, detections: &[Detection], plan: &Plan<'_>) -> Cow<'a, str> {
        if detections.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for detection in detections {
            let range = detection.range.clone();
            out.push_str(&text[at..range.start]);
            let strategy = self.strategy_for(&detection.kind, plan);
            render::render(
                &detection.kind,
                strategy,
                &text[range.clone()],
                &self.inner.key,
                &mut out,
            );
            at = range.end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    fn strategy_for(&self, kind: &Kind, plan: &Plan<'_>) -> Strategy {
        if let Some(strategy) = plan.action.and_then(|a| a.strategies.get(kind)) {
            return *strategy;
        }
        match kind.index() {
            Some(index) => self.inner.strategies[index],
            None => self
                .inner
                .custom_strategies
                .get(kind)
                .copied()
                .unwrap_or(Strategy::Label),
        }
    }

    fn plan(&self, action: &str) -> Plan<'_> {
        Plan {
            action: self
                .inner
                .actions
                .iter()
                .find(|(glob, _)| glob.matches(action))
                .map(|(_, masking)| masking),
        }
    }

    /// Masks a JSON value with the default strategies: strings at any depth
    /// by detection, values under keys that name a kind as that kind.
    ///
    /// The walk is iterative: values nested 10,000 deep are fine.
    pub fn mask_value(&self, value: &Value) -> Value {
        self.walk(value, Force::Detect, &Plan { action: None })
    }

    /// Finds personal data and secrets in a JSON value: in strings at any
    /// depth, in object keys, and values under keys that name a kind.
    pub fn detect_value(&self, value: &Value) -> Vec<ValueDetection> {
        let mut found = Vec::new();
        let mut stack: Vec<(String, &Value, Option<Kind>)> = vec![(String::new(), value, None)];
        while let Some((pointer, value, forced)) = stack.pop() {
            match value {
                Value::Object(map) => {
                    for (key, child) in map.iter().rev() {
                        let child_pointer = format!("{pointer}/{}", escape_pointer(key));
                        for detection in self.detect(key) {
                            found.push(ValueDetection {
                                pointer: child_pointer.clone(),
                                key: true,
                                detection,
                            });
                        }
                        let kind = forced
                            .clone()
                            .or_else(|| kind_of_key(key, &self.inner.keys));
                        stack.push((child_pointer, child, kind));
                    }
                }
                Value::Array(items) => {
                    for (index, child) in items.iter().enumerate().rev() {
                        stack.push((format!("{pointer}/{index}"), child, forced.clone()));
                    }
                }
                Value::String(text) => match forced {
                    Some(kind) if !text.is_empty() && !self.allowed(text) => {
                        found.push(ValueDetection {
                            pointer,
                            key: false,
                            detection: Detection::new(kind, 0..text.len(), 0.9),
                        });
                    }
                    Some(_) => {}
                    None => {
                        for detection in self.detect(text) {
                            found.push(ValueDetection {
                                pointer: pointer.clone(),
                                key: false,
                                detection,
                            });
                        }
                    }
                },
                Value::Number(number) => {
                    let text = number.to_string();
                    let detections = match forced {
                        Some(kind) => vec![Detection::new(kind, 0..text.len(), 0.9)],
                        None => self.detect(&text),
                    };
                    for detection in detections {
                        found.push(ValueDetection {
                            pointer: pointer.clone(),
                            key: false,
                            detection,
                        });
                    }
                }
                Value::Bool(_) | Value::Null => {}
            }
        }
        found
    }

    /// Masks a string, wholly as a kind or by detection.
    fn leaf_string(&self, text: &str, force: &Force, plan: &Plan<'_>) -> Value {
        match force {
            Force::Kind(kind, strategy) => {
                if text.is_empty() || self.allowed(text) {
                    return Value::String(text.to_owned());
                }
                let mut out = String::new();
                render::render(kind, *strategy, text, &self.inner.key, &mut out);
                Value::String(out)
            }
            Force::Detect => {
                let detections = self.detect(text);
                Value::String(self.apply(text, &detections, plan).into_owned())
            }
        }
    }

    fn leaf(&self, value: &Value, force: &Force, plan: &Plan<'_>) -> Value {
        match value {
            Value::String(text) => self.leaf_string(text, force, plan),
            Value::Number(number) => {
                let text = number.to_string();
                match force {
                    Force::Kind(..) => self.leaf_string(&text, force, plan),
                    // Long integers may be card numbers or phone numbers.
                    Force::Detect if text.len() >= 9 => {
                        let detections = self.detect(&text);
                        if detections.is_empty() {
                            value.clone()
                        } else {
                            Value::String(self.apply(&text, &detections, plan).into_owned())
                        }
                    }
                    Force::Detect => value.clone(),
                }
            }
            Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => value.clone(),
        }
    }

    /// What an object key says about its value, unless something above
    /// already forces it.
    fn child_force(&self, key: &str, parent: &Force, plan: &Plan<'_>) -> Force {
        match parent {
            Force::Kind(..) => parent.clone(),
            Force::Detect => match kind_of_key(key, &self.inner.keys) {
                Some(kind) => {
                    let strategy = self.strategy_for(&kind, plan);
                    Force::Kind(kind, strategy)
                }
                None => Force::Detect,
            },
        }
    }

    /// Masks a JSON value without recursion.
    fn walk(&self, root: &Value, force: Force, plan: &Plan<'_>) -> Value {
        let mut stack = match self.open(root, force, plan) {
            Ok(frame) => vec![frame],
            Err(leaf) => return leaf,
        };
        while let Some(top) = stack.last_mut() {
            let next = match top {
                Frame::Array { items, force, .. } => {
                    items.next().map(|child| (child, force.clone()))
                }
                Frame::Object {
                    entries,
                    key,
                    force,
                    ..
                } => loop {
                    let Some((name, child)) = entries.next() else {
                        break None;
                    };
                    let child_force = self.child_force(name, force, plan);
                    if matches!(child_force, Force::Kind(_, Strategy::Drop)) {
                        continue;
                    }
                    *key = Some(self.mask_key(name, plan));
                    break Some((child, child_force));
                },
            };
            let done = match next {
                Some((child, child_force)) => match self.open(child, child_force, plan) {
                    Ok(frame) => {
                        stack.push(frame);
                        continue;
                    }
                    Err(leaf) => leaf,
                },
                None => {
                    let Some(frame) = stack.pop() else { break };
                    let finished = match frame {
                        Frame::Array { out, .. } => Value::Array(out),
                        Frame::Object { out, .. } => Value::Object(out),
                    };
                    match stack.last_mut() {
                        Some(_) => finished,
                        None => return finished,
                    }
                }
            };
            match stack.last_mut() {
                Some(Frame::Array { out, .. }) => out.push(done),
                Some(Frame::Object { out, key, .. }) => {
                    let name = key.take().unwrap_or_default();
                    out.insert(name, done);
                }
                None => return done,
            }
        }
        Value::Null
    }

    /// A frame for a container, or the masked value of a scalar.
    fn open<'v>(
        &self,
        value: &'v Value,
        force: Force,
        plan: &Plan<'_>,
    ) -> Result<Frame<'v>, Value> {
        match value {
            Value::Array(items) => Ok(Frame::Array {
                items: items.iter(),
                out: Vec::with_capacity(items.len()),
                force,
            }),
            Value::Object(map) => Ok(Frame::Object {
                entries: map.iter(),
                out: Map::new(),
                key: None,
                force,
            }),
            scalar => Err(self.leaf(scalar, &force, plan)),
        }
    }

    fn mask_key(&self, key: &str, plan: &Plan<'_>) -> String {
        let detections = self.detect(key);
        self.apply(key, &detections, plan).into_owned()
    }

    /// A whole top-level argument masked by a spec.
    fn by_spec(&self, value: &Value, spec: &MaskSpec, plan: &Plan<'_>) -> Option<Value> {
        match (spec.kind(), spec.strategy()) {
            (_, Some(Strategy::Drop)) => None,
            (Some(kind), strategy) => {
                let strategy = strategy.unwrap_or_else(|| self.strategy_for(kind, plan));
                Some(self.walk(value, Force::Kind(kind.clone(), strategy), plan))
            }
            (None, Some(Strategy::Label) | None) => Some(Value::from(REDACTED)),
            (None, Some(Strategy::Pseudonym)) => {
                let canonical = crate::canonical_json(value);
                let mut out = String::new();
                self.inner
                    .key
                    .pseudonym("value", &String::from_utf8_lossy(&canonical), &mut out);
                Some(Value::String(out))
            }
            (None, Some(Strategy::Partial)) => {
                // The partial form of what the value is recognised as, if it
                // is one value of one kind; otherwise nothing of it.
                let recognised = value.as_str().and_then(|text| {
                    let trimmed = text.trim();
                    let detections = self.detect(trimmed);
                    match detections.as_slice() {
                        [one] if one.range == (0..trimmed.len()) => {
                            Some((one.kind.clone(), trimmed))
                        }
                        _ => None,
                    }
                });
                Some(match recognised {
                    Some((kind, text)) => {
                        let mut out = String::new();
                        render::render(&kind, Strategy::Partial, text, &self.inner.key, &mut out);
                        Value::String(out)
                    }
                    None => Value::from(REDACTED),
                })
            }
        }
    }
}

impl Masker for MaskingEngine {
    /// Masks the arguments of `action`: the request's overrides first, then
    /// the action's configured arguments, then keys and detection.
    ///
    /// An override whose spec is not valid masks its whole argument as
    /// `[REDACTED]` (fail safe).
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        let plan = self.plan(action);
        let configured = plan
            .action
            .map(|a| a.arguments.as_slice())
            .unwrap_or_default();
        let Value::Object(map) = arguments else {
            return MaskedView::from_masked(self.walk(arguments, Force::Detect, &plan));
        };
        if overrides.is_empty() && configured.is_empty() {
            return MaskedView::from_masked(self.walk(arguments, Force::Detect, &plan));
        }
        let mut out = Map::new();
        for (name, value) in map {
            let requested = overrides.iter().rev().find(|o| o.argument == name.as_str());
            let spec: Option<Result<MaskSpec, ()>> = match requested {
                Some(mask) => Some(mask.spec.parse::<MaskSpec>().map_err(|_| {
                    tracing::warn!(action, argument = %name, "an argument mask is not valid; the whole argument is redacted");
                })),
                None => configured
                    .iter()
                    .rev()
                    .find(|(argument, _)| argument == name)
                    .map(|(_, spec)| Ok(spec.clone())),
            };
            let masked = match spec {
                Some(Ok(spec)) => self.by_spec(value, &spec, &plan),
                Some(Err(())) => Some(Value::from(REDACTED)),
                None => {
                    let force = self.child_force(name, &Force::Detect, &plan);
                    if matches!(force, Force::Kind(_, Strategy::Drop)) {
                        None
                    } else {
                        Some(self.walk(value, force, &plan))
                    }
                }
            };
            if let Some(masked) = masked {
                out.insert(self.mask_key(name, &plan), masked);
            }
        }
        MaskedView::from_masked(Value::Object(out))
    }

    fn mask_text(&self, text: &str) -> String {
        self.mask_str(text).into_owned()
    }
}

/// Sorts detections and merges those that overlap: the union is masked, as
/// a secret if either is one, else as the longer.
fn merge(mut found: Vec<Detection>) -> Vec<Detection> {
    if found.len() > 1
        && !found
            .windows(2)
            .all(|w| w[0].range.start <= w[1].range.start)
    {
        found.sort_by(|a, b| {
            a.range
                .start
                .cmp(&b.range.start)
                .then(b.range.end.cmp(&a.range.end))
        });
    }
    let mut merged: Vec<Detection> = Vec::with_capacity(found.len());
    for detection in found {
        match merged.last_mut() {
            Some(last) if detection.range.start < last.range.end => {
                let keep_new = !last.kind.is_secret()
                    && (detection.kind.is_secret() || detection.range.len() > last.range.len());
                let end = last.range.end.max(detection.range.end);
                if keep_new {
                    last.kind = detection.kind;
                    last.confidence = detection.confidence;
                }
                last.range.end = end;
            }
            _ => merged.push(detection),
        }
    }
    merged
}

fn escape_pointer(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}
