//! `approvals audit`: verify a log's hash chain, or read it as a timeline.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::SystemTime;

use approvals_core::audit::{
    AuditEvent, AuditRecord, PolicyDecisionRecord, VerifyError, verify, verify_with_checkpoint,
    verify_with_head,
};
use approvals_core::{Choice, Conclusion, ExecutionOutcome, Timestamp};
use clap::{Args, Subcommand};

use crate::exit;
use crate::out::{Out, Tone, clean};
use crate::tlog;

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the hash chain of a log; name the first bad record.
    ///
    /// Every record's hash, sequence number and link to the record before
    /// it are checked. Exits 0 if the log verifies, 1 naming the first
    /// record that was changed, removed, reordered or cut.
    ///
    /// With --checkpoint and --key, also checks the log against a signed
    /// checkpoint: a log shorter than the checkpoint names the first missing
    /// record; a log whose first records do not hash to the signed root is a
    /// fork (the changed record is named when the tree beside the log still
    /// holds the signed history).
    Verify(VerifyArgs),
    /// Make an Ed25519 key for signing checkpoints.
    ///
    /// Writes the signing key to --out (mode 0600) and its public key to
    /// --out.pub and standard output, in the formats of Go's sumdb note.
    Keygen(tlog::KeygenArgs),
    /// Sign a checkpoint of the log's Merkle tree now.
    ///
    /// Opens the log as its writer (it must not be open elsewhere), checks
    /// it and its tree, and writes a C2SP signed checkpoint.
    Checkpoint(tlog::CheckpointArgs),
    /// Print inclusion proofs of every record of one request against a
    /// signed checkpoint, each checked, as JSON lines.
    Prove(tlog::ProveArgs),
    /// Prove and check that a newer signed checkpoint extends an older one.
    Consistency(tlog::ConsistencyArgs),
    /// Show a log as a readable timeline of requests, votes, conclusions
    /// and outcomes.
    ///
    /// This reads the log without checking it: run `approvals audit verify`
    /// to know that it is intact.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The JSON Lines audit log.
    #[arg(required_unless_present = "postgres")]
    file: Option<PathBuf>,
    /// Check a `PostgresAudit` table instead of a file: its PostgreSQL URL
    /// (or APPROVALS_POSTGRES).
    #[arg(
        long,
        env = "APPROVALS_POSTGRES",
        hide_env_values = true,
        value_name = "URL",
        conflicts_with_all = ["file", "key_file", "head", "checkpoint"]
    )]
    postgres: Option<String>,
    /// The schema of the `PostgresAudit` table (with --postgres).
    #[arg(long, default_value = "approvals", value_name = "NAME")]
    schema: String,
    /// A file holding the HMAC key the log was written with. Its whole
    /// content is the key, less one trailing newline.
    #[arg(long, value_name = "K")]
    key_file: Option<PathBuf>,
    /// A head kept elsewhere, as SEQ:HASH (from an earlier verify): also
    /// checks that no record up to it was cut from the end.
    #[arg(long, value_name = "SEQ:HASH")]
    head: Option<String>,
    /// A signed checkpoint to check the log against (needs --key).
    #[arg(long, value_name = "FILE", requires = "key", conflicts_with = "head")]
    checkpoint: Option<PathBuf>,
    /// The checkpoint's public key (name+hash+key), or a file holding it.
    #[arg(long, value_name = "PUB", requires = "checkpoint")]
    key: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The JSON Lines audit log.
    file: PathBuf,
    /// Only this request (its id, or the start of it).
    #[arg(long, value_name = "ID")]
    request: Option<String>,
    /// Only records at or after T: an RFC 3339 time
    /// (2026-05-01T09:00:00Z) or a duration ago (90m, 2h, 7d).
    #[arg(long, value_name = "T")]
    since: Option<String>,
}

pub(crate) fn run(command: AuditCommand, out: &Out) -> u8 {
    match command {
        AuditCommand::Verify(args) => run_verify(&args, out),
        AuditCommand::Show(args) => run_show(&args, out),
        AuditCommand::Keygen(args) => tlog::keygen(&args, out),
        AuditCommand::Checkpoint(args) => tlog::checkpoint(&args, out),
        AuditCommand::Prove(args) => tlog::prove(&args, out),
        AuditCommand::Consistency(args) => tlog::consistency(&args, out),
    }
}

fn run_verify(args: &VerifyArgs, out: &Out) -> u8 {
    let file = match (&args.file, &args.postgres) {
        (_, Some(url)) => return crate::store::verify_postgres_audit(url, &args.schema, out),
        (Some(file), None) => file,
        // clap requires one of the two.
        (None, None) => return exit::USAGE,
    };
    let key = match &args.key_file {
        Some(path) => match std::fs::read(path) {
            Ok(key) => Some(strip_newline(key)),
            Err(error) => {
                out.error(format!(
                    "could not read the key file {}: {error}",
                    path.display()
                ));
                return exit::TROUBLE;
            }
        },
        None => None,
    };
    let head = match args.head.as_deref().map(parse_head) {
        Some(Ok(head)) => Some(head),
        Some(Err(message)) => {
            out.error(message);
            return exit::TROUBLE;
        }
        None => None,
    };
    let checkpoint = match (&args.checkpoint, &args.key) {
        (Some(path), Some(public)) => match tlog::checkpoint_for_verify(path, public) {
            Ok(checkpoint) => Some(checkpoint),
            Err(message) => {
                out.line(format!("{} {message}", out.paint(Tone::Bad, "FAILED")));
                return exit::FAILED;
            }
        },
        _ => None,
    };
    let result = match (&head, &checkpoint) {
        (_, Some(checkpoint)) => verify_with_checkpoint(file, key.as_deref(), checkpoint),
        (Some((seq, hash)), None) => verify_with_head(file, key.as_deref(), (*seq, hash)),
        (None, None) => verify(file, key.as_deref()),
    };
    let name = file.display();
    match result {
        Ok(report) => {
            let head = report.head.map_or_else(
                || "empty log".to_owned(),
                |(seq, hash)| format!("head {seq}:{hash}"),
            );
            out.line(format!(
                "{} {name}: {} records verified ({head})",
                out.paint(Tone::Good, "ok"),
                report.records
            ));
            if let Some(checkpoint) = &checkpoint {
                out.line(format!(
                    "the first {} records match the checkpoint signed for {}",
                    checkpoint.size, checkpoint.origin
                ));
            }
            exit::OK
        }
        Err(VerifyError::Io(error)) => {
            out.error(format!("could not read {name}: {error}"));
            exit::TROUBLE
        }
        Err(error) => {
            out.line(format!(
                "{} {name}: {error}",
                out.paint(Tone::Bad, "FAILED")
            ));
            if let Some(line) = error.line() {
                out.line(format!("the first bad record is on line {line}"));
            }
            if key.is_none() && matches!(error, VerifyError::Changed { .. }) {
                out.line("if the log was written with an HMAC key, pass it with --key-file");
            }
            exit::FAILED
        }
    }
}

fn strip_newline(mut key: Vec<u8>) -> Vec<u8> {
    if key.last() == Some(&b'\n') {
        key.pop();
        if key.last() == Some(&b'\r') {
            key.pop();
        }
    }
    key
}

fn parse_head(text: &str) -> Result<(u64, String), String> {
    let (seq, hash) = text
        .split_once(':')
        .ok_or_else(|| "--head: expected SEQ:HASH".to_owned())?;
    let seq = seq
        .trim()
        .parse()
        .map_err(|_| "--head: SEQ is not a number".to_owned())?;
    let hash = hash.trim();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("--head: HASH is not 64 hex digits".to_owned());
    }
    Ok((seq, hash.to_owned()))
}

/// One line of the log: the record inside its chain envelope.
#[derive(serde::Deserialize)]
struct Line {
    record: AuditRecord,
}

fn run_show(args: &ShowArgs, out: &Out) -> u8 {
    let since = match args.since.as_deref().map(parse_since) {
        Some(Ok(since)) => Some(since),
        Some(Err(message)) => {
            out.error(message);
            return exit::TROUBLE;
        }
        None => None,
    };
    let file = match File::open(&args.file) {
        Ok(file) => file,
        Err(error) => {
            out.error(format!("could not read {}: {error}", args.file.display()));
            return exit::TROUBLE;
        }
    };
    let mut shown = 0usize;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                out.error(format!("could not read {}: {error}", args.file.display()));
                return exit::TROUBLE;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let record = match serde_json::from_str::<Line>(&line) {
            Ok(line) => line.record,
            Err(error) => {
                out.warn(format!(
                    "line {number} is not an audit record ({}); skipped",
                    crate::parse::json_problem(&error)
                ));
                continue;
            }
        };
        if let Some(wanted) = &args.request {
            if !record.request_id.as_str().starts_with(wanted.as_str()) {
                continue;
            }
        }
        if since.is_some_and(|since| record.at < since) {
            continue;
        }
        for text in describe(&record, out) {
            out.line(text);
        }
        shown += 1;
    }
    if shown == 0 {
        out.line(out.paint(Tone::Dim, "no records match"));
    }
    exit::OK
}

fn parse_since(text: &str) -> Result<Timestamp, String> {
    if let Some(at) = Timestamp::parse(text) {
        return Ok(at);
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        "--since: expected an RFC 3339 time (2026-05-01T09:00:00Z) or a duration (90m, 2h, 7d)"
            .to_owned()
    })?;
    let at = SystemTime::now()
        .checked_sub(ago)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(Timestamp::from_system_time(at))
}

/// The lines of the timeline for one record.
fn describe(record: &AuditRecord, out: &Out) -> Vec<String> {
    let id: String = record.request_id.as_str().chars().take(8).collect();
    let lead = format!("{}  {}", record.at, out.paint(Tone::Dim, clean(&id)));
    let pad = " ".repeat(record.at.to_string().len() + 2 + id.chars().count());
    let event = |name: &str| format!("{name:<10}");
    match &record.event {
        AuditEvent::Requested {
            action,
            risk,
            requester,
            justification,
            arguments,
            rule,
            verdict,
            approvers,
            quorum,
            deadline,
            ..
        } => {
            let mut text = format!(
                "{lead}  {} {} (risk {}) by {}, {}",
                out.paint(Tone::Bold, event("requested")),
                clean(action),
                risk.as_str(),
                clean(requester.as_str()),
                clean(&verdict.replace('_', " "))
            );
            if !approvers.is_empty() {
                let names: Vec<String> = approvers.iter().map(|a| clean(a.as_str())).collect();
                text.push_str(&format!(
                    ": {} of {}",
                    quorum.unwrap_or(1),
                    names.join(", ")
                ));
            }
            if let Some(deadline) = deadline {
                text.push_str(&format!(" by {deadline}"));
            }
            if let Some(rule) = rule {
                text.push_str(&format!(" [rule: {}]", clean(rule)));
            }
            let mut lines = vec![
                text,
                format!(
                    "{pad}  {} {}",
                    event("arguments"),
                    clean(&arguments.to_string())
                ),
            ];
            if let Some(justification) = justification {
                lines.push(format!(
                    "{pad}  {} {}",
                    event("because"),
                    clean(justification)
                ));
            }
            lines.push(format!(
                "{pad}  {}",
                out.paint(
                    Tone::Dim,
                    format!("request {}", clean(record.request_id.as_str()))
                )
            ));
            lines
        }
        AuditEvent::Vote {
            voter,
            choice,
            channel,
            counted,
            refusal,
            ..
        } => {
            let (choice, reason) = match choice {
                Choice::Approve => ("approves", String::new()),
                Choice::Deny {
                    reason: Some(reason),
                } => ("denies", format!(": {}", clean(reason))),
                Choice::Deny { reason: None } => ("denies", String::new()),
            };
            let verdict = match (counted, refusal) {
                (true, _) => out.paint(Tone::Good, "counted"),
                (false, Some(refusal)) => out.paint(Tone::Warn, format!("not counted: {refusal}")),
                (false, None) => out.paint(Tone::Warn, "not counted"),
            };
            vec![format!(
                "{lead}  {} {} {choice} via {} ({verdict}){reason}",
                event("vote"),
                clean(voter.as_str()),
                clean(channel)
            )]
        }
        AuditEvent::Edited {
            editor,
            channel,
            from_version,
            after,
            changed,
            accepted,
            refusal,
            problem,
            ..
        } => {
            let verdict = match (accepted, refusal) {
                (true, _) => out.paint(
                    Tone::Good,
                    format!("version {} approved by the editor", from_version + 1),
                ),
                (false, Some(refusal)) => out.paint(Tone::Warn, format!("refused: {refusal}")),
                (false, None) => out.paint(Tone::Warn, "refused"),
            };
            let fields: Vec<String> = changed.iter().map(|path| clean(path)).collect();
            let mut lines = vec![format!(
                "{lead}  {} {} edits version {from_version} via {} ({verdict}){}",
                event("edited"),
                clean(editor.as_str()),
                clean(channel),
                if fields.is_empty() {
                    String::new()
                } else {
                    format!(": {}", fields.join(", "))
                }
            )];
            if let Some(problem) = problem {
                lines.push(format!(
                    "{pad}  {} {}",
                    event("problem"),
                    clean(&problem.to_string())
                ));
            }
            if let Some(after) = after {
                lines.push(format!(
                    "{pad}  {} {}",
                    event("arguments"),
                    clean(&after.to_string())
                ));
            }
            lines
        }
        AuditEvent::Escalated { added } => {
            let names: Vec<String> = added.iter().map(|a| clean(a.as_str())).collect();
            vec![format!(
                "{lead}  {} now also {}",
                event("escalated"),
                names.join(", ")
            )]
        }
        AuditEvent::Concluded { conclusion } => {
            let tone = match conclusion {
                Conclusion::Approved { .. } | Conclusion::AllowedByPolicy { .. } => Tone::Good,
                _ => Tone::Bad,
            };
            vec![format!(
                "{lead}  {} {}",
                out.paint(Tone::Bold, event("concluded")),
                out.paint(tone, clean(&conclusion.to_string()))
            )]
        }
        AuditEvent::Executed { outcome } => {
            let (tone, text) = match outcome {
                ExecutionOutcome::Ok => (Tone::Good, "ok".to_owned()),
                ExecutionOutcome::Error { error_type } => (
                    Tone::Bad,
                    format!("returned an error ({})", clean(error_type)),
                ),
                ExecutionOutcome::Panicked => (Tone::Bad, "panicked".to_owned()),
                ExecutionOutcome::NotRun { reason } => {
                    (Tone::Warn, format!("not run: {}", clean(reason)))
                }
            };
            vec![format!(
                "{lead}  {} {}",
                event("executed"),
                out.paint(tone, text)
            )]
        }
        AuditEvent::ShadowDisagreement { current, candidate } => vec![format!(
            "{lead}  {} policy: {}; candidate would: {}",
            out.paint(Tone::Warn, event("shadow")),
            policy_decision(current),
            policy_decision(candidate)
        )],
    }
}

/// `require approval: 2 of a, b [rule: r]`, as `describe` shows decisions.
fn policy_decision(decision: &PolicyDecisionRecord) -> String {
    let mut text = clean(&decision.verdict.replace('_', " "));
    if !decision.approvers.is_empty() {
        let names: Vec<String> = decision
            .approvers
            .iter()
            .map(|a| clean(a.as_str()))
            .collect();
        text.push_str(&format!(
            ": {} of {}",
            decision.quorum.unwrap_or(1),
            names.join(", ")
        ));
    }
    if let Some(reason) = &decision.reason {
        text.push_str(&format!(" ({})", clean(reason)));
    }
    if let Some(rule) = &decision.rule {
        text.push_str(&format!(" [rule: {}]", clean(rule)));
    }
    text
}
