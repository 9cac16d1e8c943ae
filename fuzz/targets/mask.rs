//! The masking engine on any text, under each strategy.
//!
//! The first byte picks the engine: the defaults, or every built-in kind
//! under one strategy (label, pseudonym, drop, partial), all with a fixed
//! pseudonym key. The rest, read as UTF-8 (lossily), is the text.
//!
//! Properties checked:
//!
//! - `detect` never panics; its detections are sorted, do not overlap, are
//!   not empty and fall on `char` boundaries; `mask` reports the same ones
//!   and returns the text untouched (borrowed) when there are none.
//! - Outside the detections the text is copied as it was, in order: the
//!   output starts with the text before the first detection and ends with
//!   the text after the last.
//! - Under label, pseudonym and drop, the output is exactly the text with
//!   each detection replaced by `[KIND]`, by `KIND_` and six hex digits, or
//!   by nothing.
//! - The length bound of the renderers: each detection of `s` bytes is
//!   replaced by at most `bound(s)` bytes, where `bound` is 0 for drop,
//!   `kind.len() + 2` for label (`[DATE_OF_BIRTH]`: 15), `kind.len() + 7`
//!   for pseudonym (`DATE_OF_BIRTH_9f2c1a`: 20), and for partial the largest
//!   of 26 (the longest fixed form, an IBAN's `DE•• •••• 3000`; a kind
//!   without a partial form falls back to its label), `s + 3` (an email's
//!   `j***@domain`) and, for names, `3s + 2` (initials, whose capitals may
//!   take up to three times the bytes of the letter). So the output is at
//!   most `text.len() + Σ (bound(s) - s)` bytes, which under label,
//!   pseudonym and drop is at most `text.len() + 20 × n` for `n`
//!   detections.
//! - Every detection is masked: the text of a detection of 8 bytes or more
//!   occurs in the output no more often than it occurs in the input outside
//!   every detection (where the engine, which reads context, may rightly
//!   leave it).
//! - `mask_value` and `detect_value` never panic on the text read as JSON.

use std::borrow::Cow;

use approvals_core::mask::{Detection, KINDS, Kind, MaskingEngine, Strategy};

/// The engines, built once.
struct Engines {
    default: MaskingEngine,
    /// One engine per strategy, every built-in kind set to it.
    uniform: Vec<(Strategy, MaskingEngine)>,
}

fn engines() -> &'static Engines {
    static ENGINES: std::sync::OnceLock<Engines> = std::sync::OnceLock::new();
    ENGINES.get_or_init(|| {
        let key = b"fuzz pseudonym key";
        let uniform = [
            Strategy::Label,
            Strategy::Pseudonym,
            Strategy::Drop,
            Strategy::Partial,
        ]
        .into_iter()
        .map(|strategy| {
            let mut builder = MaskingEngine::builder().pseudonym_key(key);
            for kind in built_in_kinds() {
                builder = builder.strategy(kind, strategy);
            }
            (strategy, builder.build())
        })
        .collect();
        Engines {
            default: MaskingEngine::builder().pseudonym_key(key).build(),
            uniform,
        }
    })
}

fn built_in_kinds() -> Vec<Kind> {
    KINDS
        .iter()
        .map(|name| match name.parse::<Kind>() {
            Ok(kind) => kind,
            Err(_) => panic!("a built-in kind name does not parse"),
        })
        .collect()
}

/// Runs one input.
pub(crate) fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let engines = engines();
    let (strategy, engine) = match usize::from(selector) % (engines.uniform.len() + 1) {
        0 => (None, &engines.default),
        n => {
            let (strategy, engine) = &engines.uniform[n - 1];
            (Some(*strategy), engine)
        }
    };

    let detections = engine.detect(&text);
    check_detections(&text, &detections);
    let masked = engine.mask(&text);
    assert_eq!(masked.detections, detections, "mask and detect disagree");
    if detections.is_empty() {
        assert!(
            matches!(masked.text, Cow::Borrowed(t) if t == text.as_ref()),
            "text without detections was changed"
        );
    }
    let out = masked.text.as_ref();
    check_copied_outside(&text, &detections, out);
    match strategy {
        Some(Strategy::Label) => assert_eq!(
            out,
            rebuild(&text, &detections, |d, _| label(&d.kind)),
            "label: the output is not the text with each detection labelled"
        ),
        Some(Strategy::Drop) => assert_eq!(
            out,
            rebuild(&text, &detections, |_, _| String::new()),
            "drop: the output is not the text with each detection cut out"
        ),
        Some(Strategy::Pseudonym) => check_pseudonyms(&text, &detections, out),
        _ => {}
    }
    check_length_bound(&text, &detections, strategy, out);
    check_masked(&text, &detections, out);

    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        let _ = engine.mask_value(&value);
        let _ = engine.detect_value(&value);
    }
}

fn check_detections(text: &str, detections: &[Detection]) {
    let mut end = 0;
    for detection in detections {
        let range = &detection.range;
        assert!(range.start < range.end, "an empty detection");
        assert!(range.start >= end, "detections overlap or are not sorted");
        assert!(range.end <= text.len(), "a detection past the end");
        assert!(
            text.is_char_boundary(range.start) && text.is_char_boundary(range.end),
            "a detection splits a character"
        );
        end = range.end;
    }
}

/// The text between the detections: `detections.len() + 1` pieces.
fn gaps<'t>(text: &'t str, detections: &[Detection]) -> Vec<&'t str> {
    let mut gaps = Vec::with_capacity(detections.len() + 1);
    let mut at = 0;
    for detection in detections {
        gaps.push(&text[at..detection.range.start]);
        at = detection.range.end;
    }
    gaps.push(&text[at..]);
    gaps
}

fn rebuild(
    text: &str,
    detections: &[Detection],
    replace: impl Fn(&Detection, &str) -> String,
) -> String {
    let gaps = gaps(text, detections);
    let mut out = String::new();
    for (gap, detection) in gaps.iter().zip(detections) {
        out.push_str(gap);
        out.push_str(&replace(detection, &text[detection.range.clone()]));
    }
    out.push_str(gaps.last().copied().unwrap_or_default());
    out
}

fn label(kind: &Kind) -> String {
    format!("[{}]", kind.name().to_ascii_uppercase())
}

fn check_copied_outside(text: &str, detections: &[Detection], out: &str) {
    let gaps = gaps(text, detections);
    let first = gaps.first().copied().unwrap_or_default();
    let last = gaps.last().copied().unwrap_or_default();
    assert!(
        out.starts_with(first),
        "the text before the first detection changed"
    );
    assert!(
        out.ends_with(last),
        "the text after the last detection changed"
    );
}

/// Gap, `KIND_xxxxxx`, gap, … in order.
fn check_pseudonyms(text: &str, detections: &[Detection], out: &str) {
    let gaps = gaps(text, detections);
    let mut rest = out;
    for (gap, detection) in gaps.iter().zip(detections) {
        rest = match rest.strip_prefix(gap) {
            Some(rest) => rest,
            None => panic!("pseudonym: the text between detections changed"),
        };
        let prefix = format!("{}_", detection.kind.name().to_ascii_uppercase());
        rest = match rest.strip_prefix(prefix.as_str()) {
            Some(rest) => rest,
            None => panic!("pseudonym: a detection is not replaced by its kind's token"),
        };
        let tag = rest.get(..6).unwrap_or_default();
        assert!(
            tag.len() == 6 && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "pseudonym: a token has no six-hex-digit tag"
        );
        rest = &rest[6..];
    }
    assert_eq!(
        rest,
        gaps.last().copied().unwrap_or_default(),
        "pseudonym: the text after the last detection changed"
    );
}

/// The most bytes a detection of `span` bytes is rendered in.
fn bound(kind: &Kind, strategy: Option<Strategy>, span: usize) -> usize {
    let name = kind.name().len();
    let partial = {
        let mut most = 26.max(span + 3).max(name + 2);
        if *kind == Kind::Name {
            most = most.max(3 * span + 2);
        }
        most
    };
    match strategy {
        Some(Strategy::Drop) => 0,
        Some(Strategy::Label) => name + 2,
        Some(Strategy::Pseudonym) => name + 7,
        // The defaults mix strategies: the largest bound of any.
        _ => partial.max(name + 7),
    }
}

fn check_length_bound(text: &str, detections: &[Detection], strategy: Option<Strategy>, out: &str) {
    let limit = detections.iter().fold(text.len(), |limit, d| {
        let span = d.range.len();
        limit - span + bound(&d.kind, strategy, span)
    });
    assert!(
        out.len() <= limit,
        "the output ({} bytes) is longer than the renderers' bound ({limit} bytes)",
        out.len()
    );
    if !matches!(strategy, Some(Strategy::Partial) | None) {
        assert!(out.len() <= text.len() + 20 * detections.len());
    }
}

/// Long enough that finding it again is not a coincidence of short strings.
const MEANINGFUL: usize = 8;

fn check_masked(text: &str, detections: &[Detection], out: &str) {
    for detection in detections {
        let value = &text[detection.range.clone()];
        if value.len() < MEANINGFUL {
            continue;
        }
        let left_in_input = text
            .match_indices(value)
            .filter(|(at, _)| {
                let range = *at..*at + value.len();
                detections
                    .iter()
                    .all(|d| d.range.end <= range.start || range.end <= d.range.start)
            })
            .count();
        let in_output = out.match_indices(value).count();
        assert!(
            in_output <= left_in_input,
            "a detected {} value is still in the output",
            detection.kind.name()
        );
    }
}
