//! `approvals mask`: the masking engine on real data.

use crate::exit;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use approvals_core::mask::MaskingEngine;
use clap::Args;
use serde_json::{Value, json};

/// Masks personal data and secrets, or shows where they are.
#[derive(Debug, Args)]
#[command(
    after_help = "Reads standard input when no FILE is given. Pseudonyms (EMAIL_9f2c1a) \
are keyed with APPROVALS_MASK_KEY if set, else with a random key for this run.\n\n\
Examples:\n  approvals mask app.log\n  kubectl logs my-agent | approvals mask --detect\n  approvals mask --jsonl transcripts.jsonl"
)]
pub(crate) struct MaskArgs {
    /// The input file (standard input if absent).
    file: Option<PathBuf>,
    /// Read JSON Lines: each line is a JSON object whose `text` field is masked.
    #[arg(long)]
    jsonl: bool,
    /// Mask the whole object of each JSON line (strings at any depth and
    /// values under keys such as `email` or `password`), not only `text`.
    /// Implies `--jsonl`.
    #[arg(long)]
    json: bool,
    /// Print, for each input line, `{"spans":[{"start":…,"end":…,"kind":"…"}]}`
    /// with byte offsets into the line (or into its `text` with `--jsonl`)
    /// instead of masking.
    #[arg(long)]
    detect: bool,
}

/// Why a run failed.
#[derive(Debug)]
enum Failure {
    Io(io::Error),
    Line { number: usize, message: String },
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Io(error)
    }
}

/// The environment variable holding the pseudonym key: with it, the same
/// value gets the same pseudonym in every run.
const KEY_VARIABLE: &str = "APPROVALS_MASK_KEY";

/// The masking engine of the command: the default configuration, keyed
/// with `APPROVALS_MASK_KEY` when it is set.
pub(crate) fn engine() -> MaskingEngine {
    let mut engine = MaskingEngine::builder();
    if let Some(key) = std::env::var_os(KEY_VARIABLE).filter(|key| !key.is_empty()) {
        engine = engine.pseudonym_key(key.as_encoded_bytes());
    }
    engine.build()
}

pub(crate) fn run(args: &MaskArgs) -> u8 {
    let engine = engine();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = match &args.file {
        Some(path) => match File::open(path) {
            Ok(file) => mask_stream(&engine, args, BufReader::new(file), &mut out),
            Err(error) => {
                report(&format!("cannot open {}: {error}", path.display()));
                return exit::TROUBLE;
            }
        },
        None => mask_stream(&engine, args, io::stdin().lock(), &mut out),
    };
    let flushed = out.flush();
    match result.and(flushed.map_err(Failure::Io)) {
        Ok(()) => exit::OK,
        // The reader of our output went away (`| head`): not an error.
        Err(Failure::Io(error)) if error.kind() == io::ErrorKind::BrokenPipe => exit::OK,
        Err(Failure::Io(error)) => {
            report(&format!("i/o error: {error}"));
            exit::TROUBLE
        }
        Err(Failure::Line { number, message }) => {
            report(&format!("line {number}: {message}"));
            exit::FAILED
        }
    }
}

#[allow(clippy::print_stderr)]
fn report(message: &str) {
    eprintln!("approvals mask: {message}");
}

fn mask_stream(
    engine: &MaskingEngine,
    args: &MaskArgs,
    mut input: impl BufRead,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let jsonl = args.jsonl || args.json;
    if !jsonl && !args.detect {
        // Plain text: the whole input at once, so that a private key block
        // or a signature spanning lines is seen whole.
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        out.write_all(engine.mask_str(&text).as_bytes())?;
        return Ok(());
    }
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        let newline = line.last() == Some(&b'\n');
        if newline {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let text = String::from_utf8_lossy(&line);
        if jsonl {
            if text.trim().is_empty() {
                continue;
            }
            jsonl_line(engine, args, &text, number, out)?;
        } else {
            writeln!(out, "{}", spans(engine, &text))?;
        }
    }
}

fn spans(engine: &MaskingEngine, text: &str) -> Value {
    let spans: Vec<Value> = engine
        .detect(text)
        .into_iter()
        .map(|d| json!({"start": d.range.start, "end": d.range.end, "kind": d.kind.name()}))
        .collect();
    json!({ "spans": spans })
}

fn jsonl_line(
    engine: &MaskingEngine,
    args: &MaskArgs,
    line: &str,
    number: usize,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let value: Value = serde_json::from_str(line).map_err(|error| Failure::Line {
        number,
        message: format!("not JSON: {}", crate::parse::json_problem(&error)),
    })?;
    let Value::Object(mut object) = value else {
        return Err(Failure::Line {
            number,
            message: "not a JSON object".to_owned(),
        });
    };
    if args.detect {
        let text = object
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default();
        writeln!(out, "{}", spans(engine, text))?;
        return Ok(());
    }
    let masked = if args.json {
        engine.mask_value(&Value::Object(object))
    } else {
        if let Some(Value::String(text)) = object.get_mut("text") {
            let masked = engine.mask_str(text).into_owned();
            *text = masked;
        }
        Value::Object(object)
    };
    writeln!(out, "{masked}")?;
    Ok(())
}
