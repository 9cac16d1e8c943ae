//! The engine's configuration: strategies per kind, per-action and
//! per-argument masking, custom detectors, allowed values and the
//! pseudonym key, checked when the engine is built.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A configuration of the engine could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MaskConfigError {
    /// A custom detector's or allow-list's pattern is not a valid regex.
    #[error("invalid pattern `{pattern}`: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why the regex engine refused it.
        message: String,
    },
    /// An action pattern is not a valid glob.
    #[error("invalid action pattern `{pattern}`: {message}")]
    ActionPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A custom detector needs a kind name.
    #[error("a custom detector needs a non-empty kind name")]
    EmptyKind,
}

/// Checks a candidate found by a [`CustomDetector`]'s pattern.
pub type Validator = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A detector of your own: a regex, an optional validator, and a kind name.
///
/// The pattern uses the [`regex`](https://docs.rs/regex) crate, whose
/// matching time is linear in the input. Each custom detector is one more
/// pass over the text, after the built-in single pass.
///
/// A kind name that is one of the built-in kinds (`"email"`) adds to that
/// kind; any other name makes a custom kind, labelled in capitals
/// (`[EMPLOYEE_ID]`).
///
/// ```
/// use approvals_core::mask::{CustomDetector, MaskingEngine};
///
/// let employee_id = CustomDetector::new("employee_id", r"\bEMP-\d{6}\b")?
///     .validator(|id: &str| !id.ends_with("000000"));
/// let engine = MaskingEngine::builder().detector(employee_id).build();
/// assert_eq!(engine.mask_str("ask EMP-123456"), "ask [EMPLOYEE_ID]");
/// assert_eq!(engine.mask_str("ask EMP-000000"), "ask EMP-000000");
/// # Ok::<(), approvals_core::mask::MaskConfigError>(())
/// ```
#[derive(Clone)]
pub struct CustomDetector {
    pub(super) kind: Kind,
    pub(super) pattern: Regex,
    pub(super) validator: Option<Validator>,
    pub(super) confidence: f32,
}

impl CustomDetector {
    /// A detector of `kind` for every match of `pattern`.
    pub fn new(kind: &str, pattern: &str) -> Result<Self, MaskConfigError> {
        if kind.trim().is_empty() {
            return Err(MaskConfigError::EmptyKind);
        }
        let kind = kind
            .parse::<Kind>()
            .unwrap_or_else(|_| Kind::Custom(Arc::from(kind.trim())));
        Ok(Self {
            kind,
            pattern: compile(pattern)?,
            validator: None,
            confidence: 0.8,
        })
    }

    /// Keeps only the matches that `validator` accepts.
    #[must_use]
    pub fn validator(mut self, validator: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.validator = Some(Arc::new(validator));
        self
    }

    /// Sets the confidence reported for its detections (default 0.8).
    #[must_use]
    pub fn confidence(mut self, confidence: f32) -> Self {
        self.confidence = confidence.clamp(0.0, 1.0);
        self
    }

    /// The kind it detects.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }
}

impl std::fmt::Debug for CustomDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomDetector")
            .field("kind", &self.kind)
            .field("pattern", &self.pattern.as_str())
            .field("validator", &self.validator.is_some())
            .finish()
    }
}

pub(super) fn compile(pattern: &str) -> Result<Regex, MaskConfigError> {
    Regex::new(pattern).map_err(|error| MaskConfigError::Pattern {
        pattern: pattern.to_owned(),
        message: error.to_string(),
    })
}

/// How the arguments of the actions that match a pattern are masked.
///
/// ```
/// use approvals_core::mask::{ActionMasking, Kind, MaskingEngine, Strategy};
///
/// let engine = MaskingEngine::builder()
///     .action("crm.*", ActionMasking::new()
///         .strategy(Kind::Email, Strategy::Partial)
///         .argument("notes", "drop".parse()?))?
///     .build();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ActionMasking {
    pub(super) strategies: HashMap<Kind, Strategy>,
    pub(super) arguments: Vec<(String, MaskSpec)>,
}

impl ActionMasking {
    /// No override yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows `kind` with `strategy` in these actions.
    #[must_use]
    pub fn strategy(mut self, kind: Kind, strategy: Strategy) -> Self {
        self.strategies.insert(kind, strategy);
        self
    }

    /// Masks the top-level argument `argument` as `spec` in these actions.
    /// A request's own [`mask_argument`](crate::ActionRequest::mask_argument)
    /// for the same argument takes precedence.
    #[must_use]
    pub fn argument(mut self, argument: impl Into<String>, spec: MaskSpec) -> Self {
        self.arguments.push((argument.into(), spec));
        self
    }
}

/// Builds a [`MaskingEngine`].
#[derive(Clone)]
pub struct MaskingEngineBuilder {
    pub(super) strategies: [Strategy; 10],
    pub(super) custom_strategies: HashMap<Kind, Strategy>,
    pub(super) key: Option<PseudonymKey>,
    pub(super) keys: HashMap<String, Kind>,
    pub(super) detectors: Vec<CustomDetector>,
    pub(super) allowed_values: HashSet<String>,
    pub(super) allowed_patterns: Vec<Regex>,
    pub(super) actions: Vec<(Glob, ActionMasking)>,
}

/// The default strategy of each built-in kind, in the order of
/// [`KINDS`](super::KINDS): partial for cards, phones and bank accounts,
/// pseudonyms for emails, names and IP addresses (a reviewer can tell
/// whether two are the same), labels for the rest, and always for secrets.
pub(super) const DEFAULT_STRATEGIES: [Strategy; 10] = [
    Strategy::Pseudonym, // email
    Strategy::Partial,   // phone
    Strategy::Partial,   // credit_card
    Strategy::Label,     // us_ssn
    Strategy::Partial,   // iban
    Strategy::Pseudonym, // ip_address
    Strategy::Label,     // date_of_birth
    Strategy::Pseudonym, // name
    Strategy::Label,     // address
    Strategy::Label,     // secret
];

impl MaskingEngineBuilder {
    /// Sets the strategy for `kind` in every action (unless an action says
    /// otherwise).
    #[must_use]
    pub fn strategy(mut self, kind: Kind, strategy: Strategy) -> Self {
        match kind.index() {
            Some(index) => self.strategies[index] = strategy,
            None => {
                self.custom_strategies.insert(kind, strategy);
            }
        }
        self
    }

    /// Sets the secret key for pseudonyms. Without one, a random key is made
    /// when the engine is built, so tokens are stable for the life of the
    /// engine but differ between processes.
    #[must_use]
    pub fn pseudonym_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(PseudonymKey::new(key.as_ref()));
        self
    }

    /// Masks values under `key` in structured data as `kind`, whatever the
    /// case or separators of the key (`member_no` also covers `memberNo`
    /// and `MEMBER-NO`).
    #[must_use]
    pub fn key(mut self, key: &str, kind: Kind) -> Self {
        self.keys.insert(normalize_key(key), kind);
        self
    }

    /// Adds a custom detector.
    #[must_use]
    pub fn detector(mut self, detector: CustomDetector) -> Self {
        self.detectors.push(detector);
        self
    }

    /// Never masks this exact value (the company's support address, say).
    #[must_use]
    pub fn allow_value(mut self, value: impl Into<String>) -> Self {
        self.allowed_values.insert(value.into());
        self
    }

    /// Never masks a value that `pattern` matches in full.
    pub fn allow_pattern(mut self, pattern: &str) -> Result<Self, MaskConfigError> {
        self.allowed_patterns
            .push(compile(&format!("^(?:{pattern})$"))?);
        Ok(self)
    }

    /// Overrides masking for the actions whose name matches `pattern` (a
    /// glob as in policy rules: `crm.*`). The first matching pattern wins.
    pub fn action(
        mut self,
        pattern: &str,
        masking: ActionMasking,
    ) -> Result<Self, MaskConfigError> {
        let glob = Glob::new(pattern).map_err(|error| MaskConfigError::ActionPattern {
            pattern: pattern.to_owned(),
            message: error.to_string(),
        })?;
        self.actions.push((glob, masking));
        Ok(self)
    }

    /// Builds the engine.
    pub fn build(self) -> MaskingEngine {
        MaskingEngine {
            inner: Arc::new(Inner {
                strategies: self.strategies,
                custom_strategies: self.custom_strategies,
                key: self.key.unwrap_or_else(PseudonymKey::random),
                keys: self.keys,
                detectors: self.detectors,
                allowed_values: self.allowed_values,
                allowed_patterns: self.allowed_patterns,
                actions: self.actions,
            }),
        }
    }
}
