//! Signed checkpoints of an audit log's Merkle tree, in the C2SP formats
//! that transparency-log tooling and witnesses read.
//!
//! A [`Checkpoint`] is a C2SP `tlog-checkpoint` body: the log's origin line,
//! its tree size in decimal and its root hash in base64, one per line. It is
//! signed as a C2SP `signed-note` with Ed25519:
//!
//! ```text
//! audit.example.com/approvals
//! 1024
//! 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328 (in base64)
//!
//! — audit.example.com/approvals <base64 of key hash ‖ signature>
//! ```
//!
//! The key hash is the first four bytes of
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`. Keys are written as in Go's
//! `golang.org/x/mod/sumdb/note`: a [`VerifierKey`] as
//! `name+<8 hex digits of key hash>+<base64 of 0x01 ‖ public key>`, a
//! [`SignerKey`] as the same with `PRIVATE+KEY+` in front and the 32-byte
//! secret seed in place of the public key, so keys made here work with that
//! package and the tools built on it, and the other way round.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::merkle::Hash;

/// The algorithm byte of Ed25519 keys in signed notes.
const ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// A tree head: which log, how many records, and the root over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name, unique among logs (by convention a schema-less URL,
    /// `audit.example.com/approvals`).
    pub origin: String,
    /// How many records the tree covers.
    pub size: u64,
    /// The RFC 9162 root hash of the first `size` records.
    pub root: Hash,
}

impl Checkpoint {
    /// The `tlog-checkpoint` body: origin, size and base64 root, each
    /// ended by a newline.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// Parses a `tlog-checkpoint` body; extension lines after the root are
    /// allowed and ignored.
    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let malformed = |reason| CheckpointError::Malformed(reason);
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|line| !line.is_empty());
        let origin = origin.ok_or(malformed("the origin line is missing"))?;
        let size = lines
            .next()
            .filter(|line| !line.starts_with('+') && (line.len() == 1 || !line.starts_with('0')))
            .and_then(|line| line.parse::<u64>().ok())
            .ok_or(malformed("the second line is not a tree size in decimal"))?;
        let root = lines
            .next()
            .and_then(|line| BASE64.decode(line).ok())
            .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
            .ok_or(malformed(
                "the third line is not a base64 SHA-256 root hash",
            ))?;
        if !body.ends_with('\n') {
            return Err(malformed("the body does not end with a newline"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// A checkpoint with its signed note, as written and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What was signed.
    pub checkpoint: Checkpoint,
    /// The whole signed note: body, blank line, signature line.
    pub note: String,
}

/// An Ed25519 key that signs checkpoints, under a name (usually the log's
/// origin).
///
/// The secret is zeroed when the key is dropped and never shown: `Debug`
/// prints only the name and the verifier key.
pub struct SignerKey {
    name: String,
    key: SigningKey,
    key_hash: [u8; 4],
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("verifier", &self.verifier().to_string())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SignerKey {
    /// A new random key named `name`, from the operating system's random
    /// source.
    pub fn generate(name: &str) -> Result<Self, CheckpointError> {
        check_name(name)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())
            .map_err(|error| CheckpointError::Random(error.to_string()))?;
        Ok(Self::from_seed(name, &seed))
    }

    fn from_seed(name: &str, seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let key_hash = key_hash(name, key.verifying_key().as_bytes());
        Self {
            name: name.to_owned(),
            key,
            key_hash,
        }
    }

    /// Reads a key written as `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`,
    /// checking its hash.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let invalid = || {
            CheckpointError::InvalidKey("not a signer key of the form PRIVATE+KEY+name+hash+key")
        };
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(invalid)?;
        let (name, hash, key) = split_key(rest).ok_or_else(invalid)?;
        let mut decoded = Zeroizing::new(BASE64.decode(key).map_err(|_| invalid())?);
        let seed: Zeroizing<[u8; 32]> = match decoded.split_first() {
            Some((&ED25519, seed)) if seed.len() == 32 => {
                let mut out = Zeroizing::new([0u8; 32]);
                out.copy_from_slice(seed);
                out
            }
            _ => return Err(CheckpointError::InvalidKey("not an Ed25519 key")),
        };
        decoded.zeroize();
        let signer = Self::from_seed(name, &seed);
        if hash != signer.key_hash {
            return Err(CheckpointError::InvalidKey(
                "the key hash does not match the key",
            ));
        }
        Ok(signer)
    }

    /// The key as `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`, to keep in a
    /// file or a secret store. Zeroed when dropped.
    pub fn to_private_string(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(33));
        bytes.push(ED25519);
        bytes.extend_from_slice(self.key.as_bytes());
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.key_hash),
            BASE64.encode(bytes.as_slice())
        ))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, for verifiers.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_hash: self.key_hash,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` (a note body, ending with a newline) as a C2SP signed
    /// note with one signature.
    pub fn sign_note(&self, text: &str) -> Result<String, CheckpointError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.key_hash);
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        ))
    }

    /// Signs a checkpoint.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<SignedCheckpoint, CheckpointError> {
        Ok(SignedCheckpoint {
            note: self.sign_note(&checkpoint.body())?,
            checkpoint: checkpoint.clone(),
        })
    }
}

/// The public key that checks a [`SignerKey`]'s signatures, written
/// `name+hash+base64(0x01 ‖ public key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_hash: [u8; 4],
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(33);
        bytes.push(ED25519);
        bytes.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_hash),
            BASE64.encode(bytes)
        )
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = CheckpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid =
            || CheckpointError::InvalidKey("not a verifier key of the form name+hash+key");
        let (name, hash, key) = split_key(text.trim()).ok_or_else(invalid)?;
        let decoded = BASE64.decode(key).map_err(|_| invalid())?;
        let key = match decoded.split_first() {
            Some((&ED25519, key)) => <[u8; 32]>::try_from(key)
                .ok()
                .and_then(|key| VerifyingKey::from_bytes(&key).ok())
                .ok_or(CheckpointError::InvalidKey(
                    "not a valid Ed25519 public key",
                ))?,
            _ => return Err(CheckpointError::InvalidKey("not an Ed25519 key")),
        };
        if hash != key_hash(name, key.as_bytes()) {
            return Err(CheckpointError::InvalidKey(
                "the key hash does not match the key",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            key_hash: hash,
            key,
        })
    }
}

impl VerifierKey {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks a signed note: it must carry a valid signature by this key
    /// (other signatures are ignored). Returns the signed text.
    pub fn open_note<'a>(&self, note: &'a str) -> Result<&'a str, CheckpointError> {
        let malformed = CheckpointError::Malformed;
        let split = note.rfind("\n\n").ok_or(malformed(
            "a signed note has a blank line before its signatures",
        ))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        check_text(text)?;
        if !signatures.ends_with('\n') {
            return Err(malformed("the signature lines do not end with a newline"));
        }
        let mut found = false;
        for line in signatures[..signatures.len() - 1].split('\n') {
            let line = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or(malformed("a signature line does not start with an em dash"))?;
            let (name, blob) = line
                .split_once(' ')
                .ok_or(malformed("a signature line has no signature"))?;
            let blob = BASE64
                .decode(blob)
                .map_err(|_| malformed("a signature is not base64"))?;
            if name != self.name || blob.len() < 4 || blob[..4] != self.key_hash {
                continue;
            }
            let signature = Signature::from_slice(&blob[4..])
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
            self.key
                .verify(text.as_bytes(), &signature)
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
            found = true;
        }
        if found {
            Ok(text)
        } else {
            Err(CheckpointError::Unsigned(self.name.clone()))
        }
    }

    /// Checks a signed checkpoint note and returns the checkpoint.
    pub fn open(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse_body(self.open_note(note)?)
    }
}

fn key_hash(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519]);
    hasher.update(public);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Splits `name+hash+key`, decoding the 8-digit hash.
fn split_key(text: &str) -> Option<(&str, [u8; 4], &str)> {
    let mut parts = text.splitn(3, '+');
    let (name, hash, key) = (parts.next()?, parts.next()?, parts.next()?);
    check_name(name).ok()?;
    let mut decoded = [0u8; 4];
    (hash.len() == 8).then_some(())?;
    hex::decode_to_slice(hash, &mut decoded).ok()?;
    Some((name, decoded, key))
}

/// Key names are non-empty, without `+`, spaces or control characters.
fn check_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control())
    {
        return Err(CheckpointError::InvalidKey(
            "a key name must be non-empty, without '+', spaces or control characters",
        ));
    }
    Ok(())
}

/// Note text: no control characters but newlines, ending with a newline.
fn check_text(text: &str) -> Result<(), CheckpointError> {
    if !text.ends_with('\n') || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CheckpointError::Malformed(
            "note text must end with a newline and hold no control characters but newlines",
        ));
    }
    Ok(())
}

/// A checkpoint could not be made, parsed or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A key string is not in the expected form.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A note or checkpoint is not in the expected form.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The note has no signature by the given key.
    #[error("the checkpoint is not signed by the key {0}")]
    Unsigned(String),
    /// The note has a signature by the given key that does not verify.
    #[error(
        "the checkpoint's signature by {0} does not verify: the checkpoint was changed or forged"
    )]
    BadSignature(String),
    /// No random bytes for a new key.
    #[error("could not get random bytes for a new key: {0}")]
    Random(String),
    /// Writing or reading a checkpoint failed.
    #[error("could not write or read the checkpoint: {0}")]
    Io(#[from] io::Error),
}

/// Where signed checkpoints go: a file beside the log ([`FileCheckpointSink`]),
/// a witness, another account's bucket.
///
/// Called from the log's writer thread after the records a checkpoint covers
/// are written and synced; it should not block for long.
pub trait CheckpointSink: Send + Sync {
    /// Publishes a new checkpoint.
    fn publish(&self, checkpoint: &SignedCheckpoint) -> io::Result<()>;
}

impl<T: CheckpointSink + ?Sized> CheckpointSink for std::sync::Arc<T> {
    fn publish(&self, checkpoint: &SignedCheckpoint) -> io::Result<()> {
        (**self).publish(checkpoint)
    }
}

impl<T: CheckpointSink + ?Sized> CheckpointSink for Box<T> {
    fn publish(&self, checkpoint: &SignedCheckpoint) -> io::Result<()> {
        (**self).publish(checkpoint)
    }
}

/// Keeps the latest checkpoint in a file, replaced atomically (written
/// beside it, synced, renamed over it).
#[derive(Debug, Clone)]
pub struct FileCheckpointSink {
    path: PathBuf,
}

impl FileCheckpointSink {
    /// A sink writing to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The default place for a log's checkpoint: `<log>.checkpoint`.
    pub fn beside(log: &Path) -> Self {
        let mut name = log.as_os_str().to_owned();
        name.push(".checkpoint");
        Self::new(name)
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CheckpointSink for FileCheckpointSink {
    fn publish(&self, checkpoint: &SignedCheckpoint) -> io::Result<()> {
        let mut temporary = self.path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file: File = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)?;
        file.write_all(checkpoint.note.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of Go's golang.org/x/mod/sumdb/note package documentation
    // and note_test.go (BSD-3-Clause), which the C2SP signed-note
    // specification follows: Ed25519 signatures are deterministic, so
    // signing the text with this key gives exactly this note.
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n\
                        \n\
                        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn signing_the_go_note_example_gives_its_note() {
        let signer = SignerKey::parse(SKEY).unwrap();
        assert_eq!(signer.verifier().to_string(), VKEY);
        assert_eq!(signer.sign_note(TEXT).unwrap(), NOTE);
        assert_eq!(signer.to_private_string().as_str(), SKEY);
    }

    #[test]
    fn the_go_note_example_verifies_and_a_changed_one_does_not() {
        let verifier: VerifierKey = VKEY.parse().unwrap();
        assert_eq!(verifier.open_note(NOTE).unwrap(), TEXT);
        let changed = NOTE.replace("cryptography", "cryptographY");
        assert!(matches!(
            verifier.open_note(&changed),
            Err(CheckpointError::BadSignature(_))
        ));
        let other = SignerKey::generate("PeterNeumann").unwrap().verifier();
        assert!(matches!(
            other.open_note(NOTE),
            Err(CheckpointError::Unsigned(_))
        ));
    }

    #[test]
    fn checkpoints_round_trip() {
        let signer = SignerKey::generate("audit.example.com/log").unwrap();
        let checkpoint = Checkpoint {
            origin: "audit.example.com/log".to_owned(),
            size: 42,
            root: [7; 32],
        };
        let signed = signer.sign(&checkpoint).unwrap();
        assert!(signed.note.starts_with(
            "audit.example.com/log\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n\u{2014} audit.example.com/log "
        ));
        assert_eq!(signer.verifier().open(&signed.note).unwrap(), checkpoint);
        let reparsed = SignerKey::parse(&signer.to_private_string()).unwrap();
        assert_eq!(reparsed.verifier(), signer.verifier());
    }

    #[test]
    fn keys_are_not_shown() {
        let signer = SignerKey::parse(SKEY).unwrap();
        let shown = format!("{signer:?}");
        assert!(!shown.contains("AYEKFALVFGyNhPJEMzD1QIDr"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn malformed_keys_and_bodies_are_refused() {
        assert!(
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
                .parse::<VerifierKey>()
                .is_err()
        );
        assert!(SignerKey::parse(VKEY).is_err());
        assert!(Checkpoint::parse_body("origin\n01\nAAAA\n").is_err());
        assert!(Checkpoint::parse_body("origin\n1\n").is_err());
    }
}
