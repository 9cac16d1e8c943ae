//! Scoring of masking on the independent corpus
//! (`tests/data/independent/corpus.jsonl`): shared by the
//! `mask_eval_independent` example, which prints the table, and the
//! `mask_independent` test, which holds the figures to a floor.

#![allow(dead_code, unreachable_pub, clippy::cast_precision_loss)]

use std::collections::BTreeMap;

use approvals_core::mask::MaskingEngine;
use serde::Deserialize;

/// Presidio's entity types that name a kind of this crate, and the kind.
const SCORED: [(&str, &str); 8] = [
    ("PERSON", "name"),
    ("STREET_ADDRESS", "address"),
    ("CREDIT_CARD", "credit_card"),
    ("PHONE_NUMBER", "phone"),
    ("EMAIL_ADDRESS", "email"),
    ("IBAN_CODE", "iban"),
    ("IP_ADDRESS", "ip_address"),
    ("US_SSN", "us_ssn"),
];

/// One labelled sentence of the corpus.
#[derive(Deserialize)]
pub struct Record {
    /// The Faker locale it was made in.
    pub locale: String,
    /// The sentence.
    pub text: String,
    /// Its labelled values.
    pub spans: Vec<Label>,
}

/// A labelled value: Presidio's entity type and its byte range.
#[derive(Deserialize)]
pub struct Label {
    /// Presidio's entity type.
    #[serde(rename = "type")]
    pub entity: String,
    /// Where it starts.
    pub start: usize,
    /// Where it ends.
    pub end: usize,
}

/// One line of another tool's detections.
#[derive(Deserialize)]
pub struct Found {
    /// What it found.
    pub spans: Vec<Detection>,
}

/// One detection: this crate's kind name and a byte range.
#[derive(Deserialize, Clone)]
pub struct Detection {
    /// The kind.
    pub kind: String,
    /// Where it starts.
    pub start: usize,
    /// Where it ends.
    pub end: usize,
}

/// The figures of one kind.
#[derive(Default)]
pub struct Tally {
    pub values: usize,
    pub strict_hits: usize,
    pub overlap_hits: usize,
    pub detections: usize,
    pub strict_correct: usize,
    pub overlap_correct: usize,
    pub bytes: usize,
    pub bytes_masked: usize,
    pub whole: usize,
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.1} %", 100.0 * part as f64 / whole as f64)
    }
}

fn f1(precision: (usize, usize), recall: (usize, usize)) -> String {
    if precision.1 == 0 || recall.1 == 0 {
        return "–".to_owned();
    }
    let p = precision.0 as f64 / precision.1 as f64;
    let r = recall.0 as f64 / recall.1 as f64;
    if p + r == 0.0 {
        return "0.0 %".to_owned();
    }
    format!("{:.1} %", 100.0 * 2.0 * p * r / (p + r))
}

/// Every figure of a scoring.
pub struct Scores {
    /// Per kind.
    pub tallies: BTreeMap<&'static str, Tally>,
    /// Detections overlapping no labelled value.
    pub outside: usize,
    /// Of those, per kind.
    pub outside_by_kind: BTreeMap<String, usize>,
    /// Every detection.
    pub detections_total: usize,
    /// Values of `misses_of` no detection overlapped, as text.
    pub misses: Vec<String>,
    /// Detections of `misses_of` that overlap no value of that kind, as
    /// text, with the labels they overlap instead.
    pub wrong: Vec<String>,
    /// Records scored.
    pub records: usize,
}

/// The corpus.
pub fn corpus(path: &str) -> Vec<Record> {
    std::fs::read_to_string(path)
        .expect("read the corpus")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a corpus line"))
        .collect()
}

/// The engine's detections in each record.
pub fn detect(engine: &MaskingEngine, records: &[Record]) -> Vec<Vec<Detection>> {
    records
        .iter()
        .map(|record| {
            engine
                .detect(&record.text)
                .into_iter()
                .map(|d| Detection {
                    kind: d.kind.to_string(),
                    start: d.range.start,
                    end: d.range.end,
                })
                .collect()
        })
        .collect()
}

/// Scores `found` against the labels of `records`.
pub fn score(records: &[Record], found: &[Vec<Detection>], misses_of: Option<&str>) -> Scores {
    assert_eq!(
        found.len(),
        records.len(),
        "one line of detections per record"
    );
    let mut misses = Vec::new();
    let mut wrong = Vec::new();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut outside = 0usize;
    let mut outside_by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut detections_total = 0usize;
    for (record, detections) in records.iter().zip(found) {
        detections_total += detections.len();
        for detection in detections {
            let range = (detection.start, detection.end);
            if !record
                .spans
                .iter()
                .any(|label| overlaps(range, (label.start, label.end)))
            {
                outside += 1;
                *outside_by_kind.entry(detection.kind.clone()).or_default() += 1;
            }
        }
        for (entity, kind) in SCORED {
            let tally = tallies.entry(kind).or_default();
            let labels: Vec<(usize, usize)> = record
                .spans
                .iter()
                .filter(|label| label.entity == entity)
                .map(|label| (label.start, label.end))
                .collect();
            let mine: Vec<(usize, usize)> = detections
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| (d.start, d.end))
                .collect();
            tally.detections += mine.len();
            tally.strict_correct += mine.iter().filter(|d| labels.contains(d)).count();
            tally.overlap_correct += mine
                .iter()
                .filter(|d| labels.iter().any(|label| overlaps(**d, *label)))
                .count();
            if misses_of == Some(kind) {
                for d in mine
                    .iter()
                    .filter(|d| !labels.iter().any(|label| overlaps(**d, *label)))
                {
                    let under: Vec<&str> = record
                        .spans
                        .iter()
                        .filter(|label| overlaps(*d, (label.start, label.end)))
                        .map(|label| label.entity.as_str())
                        .collect();
                    wrong.push(format!(
                        "[{}] {:?} over {under:?} in {:?}",
                        record.locale,
                        &record.text[d.0..d.1],
                        record.text
                    ));
                }
            }
            for &label in &labels {
                tally.values += 1;
                let strict = mine.contains(&label);
                let overlap = mine.iter().any(|d| overlaps(*d, label));
                tally.strict_hits += usize::from(strict);
                tally.overlap_hits += usize::from(overlap);
                let bytes = &record.text.as_bytes()[label.0..label.1];
                let mut counted = 0;
                let mut masked = 0;
                for (offset, byte) in bytes.iter().enumerate() {
                    if byte.is_ascii_whitespace() {
                        continue;
                    }
                    counted += 1;
                    let at = label.0 + offset;
                    if detections.iter().any(|d| d.start <= at && at < d.end) {
                        masked += 1;
                    }
                }
                tally.bytes += counted;
                tally.bytes_masked += masked;
                tally.whole += usize::from(masked == counted);
                if misses_of == Some(kind) && !overlap {
                    misses.push(format!(
                        "[{}] {:?} in {:?}",
                        record.locale,
                        &record.text[label.0..label.1],
                        record.text
                    ));
                }
            }
        }
    }

    Scores {
        tallies,
        outside,
        outside_by_kind,
        detections_total,
        misses,
        wrong,
        records: records.len(),
    }
}

impl Scores {
    /// The table, in Markdown.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| kind | values | strict P | strict R | strict F1 | overlap P | overlap R | overlap F1 | characters masked | masked whole |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for (kind, t) in &self.tallies {
            out.push_str(&format!(
                "| {kind} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                t.values,
                percent(t.strict_correct, t.detections),
                percent(t.strict_hits, t.values),
                f1((t.strict_correct, t.detections), (t.strict_hits, t.values)),
                percent(t.overlap_correct, t.detections),
                percent(t.overlap_hits, t.values),
                f1(
                    (t.overlap_correct, t.detections),
                    (t.overlap_hits, t.values)
                ),
                percent(t.bytes_masked, t.bytes),
                percent(t.whole, t.values),
            ));
        }
        out.push_str(&format!(
            "\ndetections outside every labelled value: {} of {} ({:.2} per 1,000 records): {:?}\n",
            self.outside,
            self.detections_total,
            1000.0 * self.outside as f64 / self.records as f64,
            self.outside_by_kind
        ));
        out
    }

    /// Overlap recall of `kind`, in percent.
    pub fn recall(&self, kind: &str) -> f64 {
        let t = &self.tallies[kind];
        100.0 * t.overlap_hits as f64 / t.values as f64
    }

    /// Overlap precision of `kind`, in percent.
    pub fn precision(&self, kind: &str) -> f64 {
        let t = &self.tallies[kind];
        100.0 * t.overlap_correct as f64 / t.detections.max(1) as f64
    }
}
