//! Parsing: the attribute's arguments and each parameter's `#[approval(…)]`.
//!
//! Every check that can be made without types is made here, and every
//! problem is collected in [`Errors`], so that one compilation reports them
//! all, each on the offending token and naming the valid choices.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::parse::{ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Attribute, Expr, Ident, LitInt, LitStr, Path, Token, bracketed};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(description);
    syn::custom_keyword!(risk);
    syn::custom_keyword!(approvers);
    syn::custom_keyword!(quorum);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(gate);
    syn::custom_keyword!(requester);
    syn::custom_keyword!(justification);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(mask);
    syn::custom_keyword!(rename);
    syn::custom_keyword!(editable);
}

/// The attribute's arguments, in the order the docs list them.
const ARGUMENTS: &[&str] = &[
    "name",
    "description",
    "risk",
    "approvers",
    "quorum",
    "timeout",
    "gate",
    "requester",
    "justification",
    "crate",
];

/// The arguments of a parameter's `#[approval(…)]`.
const PARAMETER_ARGUMENTS: &[&str] = &["skip", "mask", "rename", "editable"];

const RISKS: &[&str] = &["low", "medium", "high", "critical"];

/// The masking kinds and strategies that `mask = "…"` accepts, alone or as
/// `kind:strategy`.
const MASK_KINDS: &[&str] = &[
    "email",
    "phone",
    "credit_card",
    "us_ssn",
    "iban",
    "ip_address",
    "date_of_birth",
    "name",
    "address",
    "secret",
];
const MASK_STRATEGIES: &[&str] = &["label", "partial", "pseudonym", "drop"];

/// Every problem found, reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn into_compile_errors(self) -> proc_macro2::TokenStream {
        self.0
            .map(syn::Error::into_compile_error)
            .unwrap_or_default()
    }
}

/// A value and the span of the key that gave it.
pub(crate) struct Given<T> {
    pub(crate) key: Span,
    pub(crate) value: T,
}

/// Stores `value` under `key` unless the key was already given, which is an
/// error on the second one. Every argument goes through here, so that no key
/// can be checked against another's slot by mistake.
fn set_once<T>(slot: &mut Option<Given<T>>, key: &str, span: Span, value: T, errors: &mut Errors) {
    if slot.is_some() {
        errors.at(
            span,
            format!("duplicate argument `{key}`: it is already given; remove one of them"),
        );
    } else {
        *slot = Some(Given { key: span, value });
    }
}

/// A risk level, as the attribute names it.
#[derive(Clone, Copy)]
pub(crate) enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Risk::Low => "Low",
            Risk::Medium => "Medium",
            Risk::High => "High",
            Risk::Critical => "Critical",
        }
    }
}

/// One approver as written, read with the policy's syntax.
pub(crate) enum Channel {
    /// `alice@example.com`, `agent:ops-bot`: anything with `@` or `:`.
    Identity(String),
    /// `group:NAME`, or a bare name without `@` or `:`.
    Group(String),
}

impl Channel {
    /// The text the policy reads (`group:NAME` for groups).
    pub(crate) fn policy_text(&self) -> String {
        match self {
            Channel::Identity(identity) => identity.clone(),
            Channel::Group(name) => format!("group:{name}"),
        }
    }
}

/// The arguments of `#[requires_approval(…)]`.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<Given<LitStr>>,
    pub(crate) description: Option<Given<LitStr>>,
    pub(crate) risk: Option<Given<Risk>>,
    pub(crate) approvers: Option<Given<Vec<Channel>>>,
    pub(crate) quorum: Option<Given<u32>>,
    /// Seconds.
    pub(crate) timeout: Option<Given<std::time::Duration>>,
    pub(crate) gate: Option<Given<Expr>>,
    pub(crate) requester: Option<Given<Expr>>,
    pub(crate) justification: Option<Given<Expr>>,
    pub(crate) krate: Option<Given<Path>>,
}

impl Args {
    /// Reads the arguments; problems go to `errors` and the argument is left
    /// out.
    pub(crate) fn parse(tokens: proc_macro2::TokenStream, errors: &mut Errors) -> Self {
        let mut args = Args::default();
        let parser = |input: ParseStream<'_>| {
            parse_list(input, errors, |input, errors| args.parse_one(input, errors));
            Ok(())
        };
        if let Err(error) = parser.parse2(tokens) {
            errors.push(error);
        }
        args.check_together(errors);
        args
    }

    fn parse_one(&mut self, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            let key = input.parse::<kw::name>()?.span;
            let name = string_value(input)?;
            if name.value().trim().is_empty() {
                errors.at(
                    name.span(),
                    "`name` cannot be empty: it is the action name that policy rules match",
                );
            } else {
                set_once(&mut self.name, "name", key, name, errors);
            }
        } else if lookahead.peek(kw::description) {
            let key = input.parse::<kw::description>()?.span;
            let description = string_value(input)?;
            set_once(
                &mut self.description,
                "description",
                key,
                description,
                errors,
            );
        } else if lookahead.peek(kw::risk) {
            let key = input.parse::<kw::risk>()?.span;
            let literal = string_value(input)?;
            match parse_risk(&literal.value()) {
                Some(risk) => set_once(&mut self.risk, "risk", key, risk, errors),
                None => errors.at(
                    literal.span(),
                    format!(
                        "unknown risk `{}`, expected one of {}",
                        literal.value(),
                        quoted(RISKS)
                    ),
                ),
            }
        } else if lookahead.peek(kw::approvers) {
            let key = input.parse::<kw::approvers>()?.span;
            input.parse::<Token![=]>()?;
            let approvers = parse_approvers(input, key, errors)?;
            if let Some(approvers) = approvers {
                set_once(&mut self.approvers, "approvers", key, approvers, errors);
            }
        } else if lookahead.peek(kw::quorum) {
            let key = input.parse::<kw::quorum>()?.span;
            input.parse::<Token![=]>()?;
            let literal: LitInt = input.parse()?;
            match literal.base10_parse::<u32>() {
                Ok(0) => errors.at(
                    literal.span(),
                    "`quorum` must be at least 1: it is the number of distinct approvals needed",
                ),
                Ok(quorum) => set_once(&mut self.quorum, "quorum", key, quorum, errors),
                Err(_) => errors.at(
                    literal.span(),
                    "`quorum` must be a whole number from 1 to 4294967295",
                ),
            }
        } else if lookahead.peek(kw::timeout) {
            let key = input.parse::<kw::timeout>()?.span;
            let literal = string_value(input)?;
            match parse_duration(&literal.value()) {
                Ok(duration) => set_once(&mut self.timeout, "timeout", key, duration, errors),
                Err(message) => errors.at(literal.span(), message),
            }
        } else if lookahead.peek(kw::gate) {
            let key = input.parse::<kw::gate>()?.span;
            let gate = expression_value(input)?;
            set_once(&mut self.gate, "gate", key, gate, errors);
        } else if lookahead.peek(kw::requester) {
            let key = input.parse::<kw::requester>()?.span;
            let requester = expression_value(input)?;
            set_once(&mut self.requester, "requester", key, requester, errors);
        } else if lookahead.peek(kw::justification) {
            let key = input.parse::<kw::justification>()?.span;
            let justification = expression_value(input)?;
            set_once(
                &mut self.justification,
                "justification",
                key,
                justification,
                errors,
            );
        } else if lookahead.peek(Token![crate]) {
            let key = input.parse::<Token![crate]>()?.span;
            let literal = string_value(input)?;
            match literal.parse::<Path>() {
                Ok(path) => set_once(&mut self.krate, "crate", key, path, errors),
                Err(_) => errors.at(
                    literal.span(),
                    format!(
                        "`crate` must be a path to the `approvals` crate, such as `\"approvals\"` or `\"::my_approvals\"`; found `{}`",
                        literal.value()
                    ),
                ),
            }
        } else if input.peek(Ident::peek_any) {
            let unknown = input.call(Ident::parse_any)?;
            errors.push(unknown_key("argument", &unknown, ARGUMENTS));
            // Skip its value, if any, to read the arguments after it.
            skip_to_comma(input)?;
        } else {
            return Err(lookahead.error());
        }
        Ok(())
    }

    /// Problems between arguments.
    fn check_together(&self, errors: &mut Errors) {
        if self.approvers.is_none() {
            for (key, span) in [
                ("quorum", self.quorum.as_ref().map(|given| given.key)),
                ("timeout", self.timeout.as_ref().map(|given| given.key)),
            ] {
                if let Some(span) = span {
                    errors.at(
                        span,
                        format!(
                            "`{key}` needs `approvers`: it belongs to the call's own requirement (used when no policy rule matches), which must name who approves; add `approvers = \"…\"`, or set `{key}` in a policy rule"
                        ),
                    );
                }
            }
        }
        let (Some(approvers), Some(quorum)) = (&self.approvers, &self.quorum) else {
            return;
        };
        // Groups are resolved at run time; with identities only, an
        // unreachable quorum is known now.
        let mut identities: Vec<String> = Vec::new();
        for approver in &approvers.value {
            match approver {
                Channel::Group(_) => return,
                Channel::Identity(identity) => {
                    let canonical = identity.to_lowercase();
                    if !identities.contains(&canonical) {
                        identities.push(canonical);
                    }
                }
            }
        }
        if identities.len() < quorum.value as usize {
            errors.at(
                quorum.key,
                format!(
                    "`quorum = {}` can never be reached: `approvers` names {} distinct {}; name more approvers or lower the quorum",
                    quorum.value,
                    identities.len(),
                    if identities.len() == 1 { "identity" } else { "identities" },
                ),
            );
        }
    }
}

/// What a parameter's `#[approval(…)]` says.
#[derive(Default)]
pub(crate) struct ParamArgs {
    pub(crate) skip: Option<Given<()>>,
    /// The mask spec, lower-cased.
    pub(crate) mask: Option<Given<String>>,
    pub(crate) rename: Option<Given<LitStr>>,
    /// A reviewer may change it (where policy allows).
    pub(crate) editable: Option<Given<()>>,
}

impl ParamArgs {
    /// Reads and removes the `#[approval(…)]` attributes of one parameter.
    pub(crate) fn take(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Self {
        let mut args = ParamArgs::default();
        attrs.retain(|attr| {
            if !attr.path().is_ident("approval") {
                return true;
            }
            let parsed = attr.parse_args_with(|input: ParseStream<'_>| {
                parse_list(input, errors, |input, errors| args.parse_one(input, errors));
                Ok(())
            });
            if parsed.is_err() {
                errors.at(
                    attr.span(),
                    "expected `#[approval(skip)]`, `#[approval(editable)]`, `#[approval(mask = \"…\")]` or `#[approval(rename = \"…\")]`",
                );
            }
            false
        });
        args.check_together(errors);
        args
    }

    fn parse_one(&mut self, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::skip) {
            let key = input.parse::<kw::skip>()?.span;
            set_once(&mut self.skip, "skip", key, (), errors);
        } else if lookahead.peek(kw::editable) {
            let key = input.parse::<kw::editable>()?.span;
            set_once(&mut self.editable, "editable", key, (), errors);
        } else if lookahead.peek(kw::mask) {
            let key = input.parse::<kw::mask>()?.span;
            let literal = string_value(input)?;
            match parse_mask(&literal.value()) {
                Ok(spec) => set_once(&mut self.mask, "mask", key, spec, errors),
                Err(message) => errors.at(literal.span(), message),
            }
        } else if lookahead.peek(kw::rename) {
            let key = input.parse::<kw::rename>()?.span;
            let literal = string_value(input)?;
            if literal.value().trim().is_empty() {
                errors.at(
                    literal.span(),
                    "`rename` cannot be empty: it is the argument's name in the request",
                );
            } else {
                set_once(&mut self.rename, "rename", key, literal, errors);
            }
        } else if input.peek(Ident::peek_any) {
            let unknown = input.call(Ident::parse_any)?;
            errors.push(unknown_key(
                "`#[approval]` argument",
                &unknown,
                PARAMETER_ARGUMENTS,
            ));
            skip_to_comma(input)?;
        } else {
            return Err(lookahead.error());
        }
        Ok(())
    }

    fn check_together(&self, errors: &mut Errors) {
        if self.skip.is_none() {
            return;
        }
        for (key, given) in [
            ("mask", self.mask.as_ref().map(|given| given.key)),
            ("rename", self.rename.as_ref().map(|given| given.key)),
            ("editable", self.editable.as_ref().map(|given| given.key)),
        ] {
            if let Some(span) = given {
                errors.at(
                    span,
                    format!("`{key}` has no effect on a skipped parameter: it is not part of the request; remove `{key}` or `skip`"),
                );
            }
        }
    }
}

/// Reads `key = value, key = value, …`, reporting each bad entry and going
/// on with the next.
fn parse_list(
    input: ParseStream<'_>,
    errors: &mut Errors,
    mut parse_one: impl FnMut(ParseStream<'_>, &mut Errors) -> syn::Result<()>,
) {
    while !input.is_empty() {
        if let Err(error) = parse_one(input, errors) {
            errors.push(error);
            if skip_to_comma(input).is_err() {
                return;
            }
        }
        if input.is_empty() {
            return;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            errors.push(error);
            if skip_to_comma(input).is_err() {
                return;
            }
            // The comma itself, if one was found.
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
}

/// Skips tokens up to (not including) the next top-level comma.
fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(punct) = &tree {
                if punct.as_char() == ',' {
                    return Ok(((), rest));
                }
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// `= "text"`.
fn string_value(input: ParseStream<'_>) -> syn::Result<LitStr> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// `= expression`.
fn expression_value(input: ParseStream<'_>) -> syn::Result<Expr> {
    input.parse::<Token![=]>()?;
    input.parse()
}

fn parse_risk(text: &str) -> Option<Risk> {
    match text.trim().to_ascii_lowercase().as_str() {
        "low" => Some(Risk::Low),
        "medium" => Some(Risk::Medium),
        "high" => Some(Risk::High),
        "critical" => Some(Risk::Critical),
        _ => None,
    }
}

/// `"name"` or `["name", …]`; `None` when every problem was reported.
fn parse_approvers(
    input: ParseStream<'_>,
    key: Span,
    errors: &mut Errors,
) -> syn::Result<Option<Vec<Channel>>> {
    let literals: Vec<LitStr> = if input.peek(syn::token::Bracket) {
        let content;
        bracketed!(content in input);
        Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?
            .into_iter()
            .collect()
    } else {
        vec![input.parse()?]
    };
    if literals.is_empty() {
        errors.at(key, "`approvers` names nobody: list identities (`\"alice@example.com\"`) or groups (`\"group:sre\"`)");
        return Ok(None);
    }
    let mut approvers = Vec::new();
    let mut valid = true;
    for literal in &literals {
        match parse_approver(&literal.value()) {
            Ok(approver) => approvers.push(approver),
            Err(message) => {
                errors.at(literal.span(), message);
                valid = false;
            }
        }
    }
    Ok(valid.then_some(approvers))
}

/// Reads one approver with the policy's syntax: `group:NAME` is a group,
/// anything with `@` or `:` an identity, and a bare name a group.
fn parse_approver(text: &str) -> Result<Channel, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an approver cannot be empty: write an identity (`\"alice@example.com\"`) or a group (`\"group:sre\"`)".to_owned());
    }
    // `Identity` refuses these at run time (the approver would name
    // nobody); said here, at the literal.
    if text.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{61C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }) {
        return Err("an approver cannot contain a control or bidirectional formatting character: it would not be an identity".to_owned());
    }
    let prefix = "group:";
    if text
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    {
        let name = text.get(prefix.len()..).unwrap_or_default().trim();
        if name.is_empty() {
            return Err("`group:` needs a group name, such as `\"group:sre\"`".to_owned());
        }
        return Ok(Channel::Group(name.to_owned()));
    }
    if text.contains('@') || text.contains(':') {
        Ok(Channel::Identity(text.to_owned()))
    } else {
        Ok(Channel::Group(text.to_owned()))
    }
}

/// Reads a duration in the policy file's grammar (`humantime`'s): `"30s"`,
/// `"15m"`, `"2h"`, `"1h 30m"`, `"1d"`, `"200ms"`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|error| {
        format!(
            "invalid duration `{text}` ({error}), expected a number and a unit, such as `\"30s\"`, `\"15m\"`, `\"2h\"` or `\"1h 30m\"`"
        )
    })?;
    if duration.is_zero() {
        return Err(format!(
            "`timeout` must be longer than zero (found `{text}`): silence until then means deny"
        ));
    }
    Ok(duration)
}

/// Reads a mask spec: `KIND`, `STRATEGY` or `KIND:STRATEGY`, in any case.
fn parse_mask(text: &str) -> Result<String, String> {
    let spec = text.trim().to_ascii_lowercase();
    let expected = format!(
        "expected a kind ({}), a strategy ({}), or `kind:strategy` such as `\"email:partial\"`",
        quoted(MASK_KINDS),
        quoted(MASK_STRATEGIES)
    );
    match spec.split_once(':') {
        Some((kind, strategy)) => {
            let (kind, strategy) = (kind.trim(), strategy.trim());
            if !MASK_KINDS.contains(&kind) {
                return Err(format!(
                    "unknown mask kind `{kind}` in `{text}`, expected one of {}",
                    quoted(MASK_KINDS)
                ));
            }
            if !MASK_STRATEGIES.contains(&strategy) {
                return Err(format!(
                    "unknown mask strategy `{strategy}` in `{text}`, expected one of {}",
                    quoted(MASK_STRATEGIES)
                ));
            }
            Ok(format!("{kind}:{strategy}"))
        }
        None if MASK_KINDS.contains(&spec.as_str()) || MASK_STRATEGIES.contains(&spec.as_str()) => {
            Ok(spec)
        }
        None => Err(format!("unknown mask `{text}`, {expected}")),
    }
}

/// "unknown argument `rsk`, expected one of … (did you mean `risk`?)".
fn unknown_key(what: &str, unknown: &Ident, valid: &[&str]) -> syn::Error {
    let text = unknown.unraw().to_string();
    let suggestion = valid
        .iter()
        .map(|candidate| (edit_distance(&text, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| format!("; did you mean `{candidate}`?"))
        .unwrap_or_default();
    syn::Error::new(
        unknown.span(),
        format!(
            "unknown {what} `{text}`, expected one of {}{suggestion}",
            quoted(valid)
        ),
    )
}

/// `` `a`, `b`, `c` ``.
fn quoted(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|choice| format!("`{choice}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Levenshtein distance, for suggestions (without indexing, so that it
/// cannot panic).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let diagonal = previous.get(j).copied().unwrap_or(usize::MAX);
            let above = previous.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = current.last().copied().unwrap_or(usize::MAX);
            let substitution = diagonal.saturating_add(usize::from(ca != *cb));
            current.push(
                substitution
                    .min(above.saturating_add(1))
                    .min(left.saturating_add(1)),
            );
        }
        previous = current;
    }
    previous.last().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let secs = |n| Ok(std::time::Duration::from_secs(n));
        assert_eq!(parse_duration("30s"), secs(30));
        assert_eq!(parse_duration("15m"), secs(900));
        assert_eq!(parse_duration("2h"), secs(7_200));
        assert_eq!(parse_duration("1h30m"), secs(5_400));
        assert_eq!(parse_duration(" 1h 30m "), secs(5_400));
        assert_eq!(parse_duration("1d"), secs(86_400));
        assert_eq!(
            parse_duration("200ms"),
            Ok(std::time::Duration::from_millis(200))
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("15 minutes and more").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(parse_mask("EMAIL").as_deref(), Ok("email"));
        assert_eq!(parse_mask("drop").as_deref(), Ok("drop"));
        assert_eq!(
            parse_mask("credit_card:Partial").as_deref(),
            Ok("credit_card:partial")
        );
        assert!(parse_mask("emial").is_err());
        assert!(parse_mask("email:hide").is_err());
        assert!(parse_mask("mail:drop").is_err());
    }

    #[test]
    fn approvers() {
        let text = |approver: Channel| approver.policy_text();
        assert_eq!(
            parse_approver("data-governance").map(text),
            Ok("group:data-governance".to_owned())
        );
        assert_eq!(
            parse_approver("Group: sre ").map(text),
            Ok("group:sre".to_owned())
        );
        assert_eq!(
            parse_approver("alice@example.com").map(text),
            Ok("alice@example.com".to_owned())
        );
        assert_eq!(
            parse_approver("agent:ops-bot").map(text),
            Ok("agent:ops-bot".to_owned())
        );
        assert!(parse_approver(" ").is_err());
        assert!(parse_approver("group: ").is_err());
        assert!(parse_approver("alice@example.com\u{202E}").is_err());
        assert!(parse_approver("\u{2066}sre").is_err());
        assert!(parse_approver("bob\u{0}@example.com").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("rsk", "risk"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("quorum", "quorum"), 0);
    }
}
