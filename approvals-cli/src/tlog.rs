//! `approvals audit keygen | checkpoint | prove | consistency`, and the
//! checkpoint half of `verify`: the log's Merkle tree and its signed
//! checkpoints.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use approvals_core::audit::checkpoint::{Checkpoint, FileCheckpointSink, SignerKey, VerifierKey};
use approvals_core::audit::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, tree_root, verify_consistency, verify_inclusion,
};
use approvals_core::audit::{AuditRecord, JsonlAudit, TreeFile};
use clap::Args;

use crate::exit;
use crate::out::{Out, Tone};

/// The environment variable that may hold the signing key.
pub(crate) const SIGNING_KEY_ENV: &str = "APPROVALS_AUDIT_SIGNING_KEY";

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The key's name, also the checkpoints' origin line by default
    /// (for example audit.example.com/approvals).
    #[arg(long)]
    name: String,
    /// Where to write the signing key (created with mode 0600, never
    /// overwritten). The public key goes to FILE.pub and standard output.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CheckpointArgs {
    /// The JSON Lines audit log (not open by a running writer).
    file: PathBuf,
    /// A file holding the signing key from `approvals audit keygen`.
    /// Without it, the key is read from $APPROVALS_AUDIT_SIGNING_KEY.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// The origin line (default: the key's name).
    #[arg(long)]
    origin: Option<String>,
    /// Where to write the checkpoint (default: <log>.checkpoint).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ProveArgs {
    /// The JSON Lines audit log.
    file: PathBuf,
    /// The request whose records to prove (its full id).
    #[arg(long, value_name = "ID")]
    request: String,
    /// The signed checkpoint to prove against (default: <log>.checkpoint).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// The public key (name+hash+key), or a file holding it.
    #[arg(long, value_name = "PUB")]
    key: String,
}

#[derive(Debug, Args)]
pub(crate) struct ConsistencyArgs {
    /// The JSON Lines audit log, whose tree beside it makes the proof.
    file: PathBuf,
    /// The older signed checkpoint.
    old: PathBuf,
    /// The newer signed checkpoint.
    new: PathBuf,
    /// The public key (name+hash+key), or a file holding it.
    #[arg(long, value_name = "PUB")]
    key: String,
}

pub(crate) fn keygen(args: &KeygenArgs, out: &Out) -> u8 {
    let signer = match SignerKey::generate(&args.name) {
        Ok(signer) => signer,
        Err(error) => {
            out.error(error);
            return exit::TROUBLE;
        }
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&args.out).and_then(|mut file| {
        file.write_all(signer.to_private_string().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    });
    if let Err(error) = written {
        out.error(format!("could not write {}: {error}", args.out.display()));
        return exit::TROUBLE;
    }
    let public = signer.verifier().to_string();
    let mut pub_path = args.out.as_os_str().to_owned();
    pub_path.push(".pub");
    if let Err(error) = std::fs::write(&pub_path, format!("{public}\n")) {
        out.error(format!(
            "could not write {}: {error}",
            Path::new(&pub_path).display()
        ));
        return exit::TROUBLE;
    }
    out.line(public);
    exit::OK
}

fn read_signer(path: Option<&Path>) -> Result<SignerKey, String> {
    let text = match path {
        Some(path) => zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|error| format!("could not read {}: {error}", path.display()))?,
        ),
        None => zeroize::Zeroizing::new(std::env::var(SIGNING_KEY_ENV).map_err(|_| {
            format!("no signing key: pass --signing-key FILE or set ${SIGNING_KEY_ENV}")
        })?),
    };
    SignerKey::parse(&text).map_err(|error| error.to_string())
}

/// A verifier key given inline or in a file.
fn read_verifier(text: &str) -> Result<VerifierKey, String> {
    if let Ok(key) = text.parse() {
        return Ok(key);
    }
    let content = std::fs::read_to_string(text)
        .map_err(|error| format!("--key is neither a public key nor a readable file: {error}"))?;
    content
        .parse()
        .map_err(|error| format!("--key {text}: {error}"))
}

/// Reads a signed checkpoint and checks its signature.
pub(crate) fn read_checkpoint(path: &Path, key: &VerifierKey) -> Result<Checkpoint, String> {
    let note = std::fs::read_to_string(path)
        .map_err(|error| format!("could not read {}: {error}", path.display()))?;
    key.open(&note)
        .map_err(|error| format!("{}: {error}", path.display()))
}

/// `verify --checkpoint`: the key and the checkpoint, checked.
pub(crate) fn checkpoint_for_verify(path: &Path, key: &str) -> Result<Checkpoint, String> {
    read_checkpoint(path, &read_verifier(key)?)
}

fn beside(log: &Path, suffix: &str) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub(crate) fn checkpoint(args: &CheckpointArgs, out: &Out) -> u8 {
    let signer = match read_signer(args.signing_key.as_deref()) {
        Ok(signer) => signer,
        Err(message) => {
            out.error(message);
            return exit::TROUBLE;
        }
    };
    let sink = FileCheckpointSink::new(
        args.out
            .clone()
            .unwrap_or_else(|| beside(&args.file, ".checkpoint")),
    );
    let mut builder = JsonlAudit::builder(&args.file)
        .checkpoint_key(signer)
        .checkpoint_sink(sink.clone());
    if let Some(origin) = &args.origin {
        builder = builder.checkpoint_origin(origin);
    }
    let audit = match builder.open() {
        Ok(audit) => audit,
        Err(error) => {
            out.error(error);
            return exit::FAILED;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            out.error(error);
            return exit::TROUBLE;
        }
    };
    let signed = runtime.block_on(async {
        let signed = audit.checkpoint().await;
        audit.close().await.and(signed)
    });
    match signed {
        Ok(signed) => {
            out.line(format!(
                "{} checkpoint of {} records written to {}",
                out.paint(Tone::Good, "ok"),
                signed.checkpoint.size,
                sink.path().display()
            ));
            exit::OK
        }
        Err(error) => {
            out.error(error);
            exit::TROUBLE
        }
    }
}

/// One line of the log, for its request id.
#[derive(serde::Deserialize)]
struct Line {
    record: AuditRecord,
    seq: u64,
}

pub(crate) fn prove(args: &ProveArgs, out: &Out) -> u8 {
    match prove_inner(args, out) {
        Ok(code) => code,
        Err(message) => {
            out.error(message);
            exit::TROUBLE
        }
    }
}

fn prove_inner(args: &ProveArgs, out: &Out) -> Result<u8, String> {
    let key = read_verifier(&args.key)?;
    let checkpoint_path = args
        .checkpoint
        .clone()
        .unwrap_or_else(|| beside(&args.file, ".checkpoint"));
    let checkpoint = read_checkpoint(&checkpoint_path, &key)?;
    let tree = TreeFile::open_beside(&args.file).map_err(|error| {
        format!(
            "could not read the tree beside {}: {error}",
            args.file.display()
        )
    })?;
    let read_error =
        |error: std::io::Error| format!("could not read {}: {error}", args.file.display());
    let reader = BufReader::new(File::open(&args.file).map_err(read_error)?);
    let mut found = 0;
    let mut failed = false;
    for (index, line) in reader.split(b'\n').enumerate() {
        let index = index as u64;
        if index >= checkpoint.size {
            break;
        }
        let line = line.map_err(read_error)?;
        let Ok(parsed) = serde_json::from_slice::<Line>(&line) else {
            continue;
        };
        if parsed.record.request_id.as_str() != args.request {
            continue;
        }
        found += 1;
        let leaf = leaf_hash(&line);
        let proof =
            inclusion_proof(&tree, index, checkpoint.size).map_err(|error| error.to_string())?;
        let verified = verify_inclusion(index, checkpoint.size, &leaf, &proof, &checkpoint.root);
        failed |= verified.is_err();
        let evidence = serde_json::json!({
            "seq": parsed.seq,
            "leaf_index": index,
            "leaf_hash": hex(&leaf),
            "tree_size": checkpoint.size,
            "root": hex(&checkpoint.root),
            "inclusion_proof": proof.iter().map(hex).collect::<Vec<_>>(),
            "verified": verified.is_ok(),
            "record": serde_json::from_slice::<serde_json::Value>(&line).unwrap_or_default(),
        });
        out.line(evidence);
        if let Err(error) = verified {
            out.error(format!("record {}: {error}", parsed.seq));
        }
    }
    if found == 0 {
        out.error(format!(
            "no record of request {} among the {} records of the checkpoint",
            args.request, checkpoint.size
        ));
        return Ok(exit::FAILED);
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

pub(crate) fn consistency(args: &ConsistencyArgs, out: &Out) -> u8 {
    let result = (|| -> Result<u8, String> {
        let key = read_verifier(&args.key)?;
        let old = read_checkpoint(&args.old, &key)?;
        let new = read_checkpoint(&args.new, &key)?;
        if old.origin != new.origin {
            out.line(format!(
                "{} the checkpoints are of different logs: {} and {}",
                out.paint(Tone::Bad, "FAILED"),
                old.origin,
                new.origin
            ));
            return Ok(exit::FAILED);
        }
        if old.size > new.size {
            return Err(format!(
                "the old checkpoint ({} records) is larger than the new one ({})",
                old.size, new.size
            ));
        }
        let tree = TreeFile::open_beside(&args.file).map_err(|error| {
            format!(
                "could not read the tree beside {}: {error}",
                args.file.display()
            )
        })?;
        let proof =
            consistency_proof(&tree, old.size, new.size).map_err(|error| error.to_string())?;
        match verify_consistency(old.size, new.size, &old.root, &new.root, &proof) {
            Ok(()) => {
                out.line(serde_json::json!({
                    "old_size": old.size,
                    "new_size": new.size,
                    "old_root": hex(&old.root),
                    "new_root": hex(&new.root),
                    "consistency_proof": proof.iter().map(hex).collect::<Vec<_>>(),
                }));
                out.line(format!(
                    "{} the checkpoint of {} records extends the one of {}",
                    out.paint(Tone::Good, "ok"),
                    new.size,
                    old.size
                ));
                Ok(exit::OK)
            }
            Err(error) => {
                let current = tree_root(&tree, new.size).ok();
                out.line(format!(
                    "{} the checkpoints are not consistent: {error}{}",
                    out.paint(Tone::Bad, "FAILED"),
                    if current == Some(new.root) {
                        " (the older checkpoint signed another history: a fork)"
                    } else {
                        ""
                    }
                ));
                Ok(exit::FAILED)
            }
        }
    })();
    result.unwrap_or_else(|message| {
        out.error(message);
        exit::TROUBLE
    })
}

fn hex(hash: &[u8; 32]) -> String {
    use std::fmt::Write as _;
    hash.iter()
        .fold(String::with_capacity(64), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}
