//! Verification of a log: the chain, line by line.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

#[cfg(doc)]
use super::JsonlAudit;
use super::tree::{TreeCatchUp, TreeFile};
use super::{BODY_START, ChainKey, GENESIS, HASH_PREFIX, write_hex};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::{Frontier, Hash, HashStore, leaf_hash, stored_hash_index, tree_root};

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// How many records the log holds.
    pub records: u64,
    /// The sequence number and hash of the last record, `None` for an empty
    /// log.
    pub head: Option<(u64, String)>,
    /// The Merkle tree root over all the records, when it was computed
    /// ([`verify_with_checkpoint`]).
    pub root: Option<Hash>,
}

/// The first thing wrong with a log, by line number (from 1) and sequence
/// number.
///
/// For a record that cannot be trusted, `seq` is the sequence number that
/// belongs at that line, the one after the last good record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A record's hash does not match its bytes: it was edited, or rewritten
    /// without the HMAC key.
    #[error("record {seq} (line {line}) was changed: its hash does not match its content")]
    Changed {
        /// The line.
        line: u64,
        /// The record's place in the chain.
        seq: u64,
    },
    /// Records are missing before this line: its `seq` skips ahead, or its
    /// `prev` is not the hash of the record before it.
    #[error("{}", removed_message(*line, *seq, *expected))]
    Removed {
        /// The line.
        line: u64,
        /// The sequence number found on the line.
        seq: u64,
        /// The sequence number that belongs there.
        expected: u64,
    },
    /// A record is out of place: its `seq` goes back or repeats, or skips
    /// ahead while the missing record comes later in the file.
    #[error("record {seq} (line {line}) is out of order: record {expected} belongs there")]
    Reordered {
        /// The line.
        line: u64,
        /// The sequence number found on the line.
        seq: u64,
        /// The sequence number that belongs there.
        expected: u64,
    },
    /// The last line is incomplete: it has no newline. This is what a crash
    /// during a write leaves; [`JsonlAudit`] moves it aside on open.
    #[error(
        "record {seq} (line {line}) was cut: the last {bytes} bytes of the log are a line without its newline, \
         which a crash while writing leaves (opening the log to write sets it aside)"
    )]
    Cut {
        /// The line.
        line: u64,
        /// The record's place in the chain.
        seq: u64,
        /// Where the cut line starts in the file.
        offset: u64,
        /// How long it is.
        bytes: u64,
    },
    /// A complete line (ended by its newline, the last one included) is not
    /// a record of this format.
    #[error("line {line} is not an audit record (record {seq} belongs there): {reason}")]
    Malformed {
        /// The line.
        line: u64,
        /// The record's place in the chain.
        seq: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The chain is intact but does not contain the expected head: records
    /// were removed from the end, or the chain was rewritten.
    #[error("{}", head_message(*seq, expected, found.as_deref(), *records))]
    HeadMismatch {
        /// The expected head's sequence number.
        seq: u64,
        /// The expected head's hash.
        expected: String,
        /// The hash of the record with that sequence number, `None` if the
        /// log has no such record.
        found: Option<String>,
        /// How many records were verified when the mismatch was found: all
        /// of them when `found` is `None`.
        records: u64,
    },
    /// The log holds fewer records than a signed checkpoint covers: records
    /// were removed from the end.
    #[error(
        "records were removed from the end: the log holds {records} records but the signed checkpoint covers {size}; \
         the first missing record is {}", records + 1
    )]
    CutBeforeCheckpoint {
        /// How many records the log holds.
        records: u64,
        /// How many the checkpoint covers.
        size: u64,
    },
    /// The first `size` records do not hash to the signed checkpoint's
    /// root: the log is not the one that was signed (a fork, or a chain
    /// rewritten without a key).
    #[error("{}", fork_message(*size, root, expected, *changed))]
    Forked {
        /// The checkpoint's tree size.
        size: u64,
        /// The checkpoint's root, in hex.
        expected: String,
        /// The root of the log's first `size` records, in hex.
        root: String,
        /// The first record that differs from the one signed, when the tree
        /// stored beside the log still holds the signed history.
        changed: Option<u64>,
    },
    /// The log could not be read.
    #[error("could not read the audit log: {0}")]
    Io(#[from] io::Error),
}

impl VerifyError {
    /// The line of the first bad record, when one line is to blame.
    pub fn line(&self) -> Option<u64> {
        match self {
            VerifyError::Changed { line, .. }
            | VerifyError::Removed { line, .. }
            | VerifyError::Reordered { line, .. }
            | VerifyError::Cut { line, .. }
            | VerifyError::Malformed { line, .. } => Some(*line),
            VerifyError::HeadMismatch { .. }
            | VerifyError::CutBeforeCheckpoint { .. }
            | VerifyError::Forked { .. }
            | VerifyError::Io(_) => None,
        }
    }
}

fn fork_message(size: u64, root: &str, expected: &str, changed: Option<u64>) -> String {
    let mut message = format!(
        "the log forks from the signed checkpoint: its first {size} records hash to root {root}, \
         the checkpoint signed {expected}"
    );
    if let Some(seq) = changed {
        message.push_str(&format!("; record {seq} was changed"));
    }
    message
}

fn removed_message(line: u64, seq: u64, expected: u64) -> String {
    if seq > expected {
        format!("record {expected} was removed: line {line} holds record {seq} in its place")
    } else {
        format!(
            "record {seq} (line {line}) does not follow the record before it: \
             its prev is not that record's hash, so a record was removed or replaced"
        )
    }
}

fn head_message(seq: u64, expected: &str, found: Option<&str>, records: u64) -> String {
    match found {
        Some(found) => format!(
            "record {seq} does not match the expected head: its hash is {found}, expected {expected}"
        ),
        None => format!(
            "the log ends at record {records}, before the expected head, record {seq}: \
             records were removed from the end"
        ),
    }
}

/// Verifies the log at `path`: every hash, `seq` and `prev`.
///
/// `key` is the HMAC key the log was written with, `None` for plain
/// SHA-256. A hash chain alone cannot tell that whole records were removed
/// from the end; see [`verify_with_head`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("audit.jsonl");
/// # std::fs::write(&path, "")?;
/// let report = approvals_core::audit::verify(&path, None)?;
/// println!("{} records, head {:?}", report.records, report.head);
/// # Ok(()) }
/// ```
pub fn verify(path: impl AsRef<Path>, key: Option<&[u8]>) -> Result<VerifyReport, VerifyError> {
    verify_reader(BufReader::new(File::open(path)?), key)
}

/// Verifies the log at `path` and checks that it contains the head `(seq,
/// hash)` recorded earlier with [`JsonlAudit::head`].
///
/// The log may have grown since: the record with that `seq` must be there
/// with that hash. Since every hash covers the one before, this shows that
/// nothing up to the head was changed or cut off.
pub fn verify_with_head(
    path: impl AsRef<Path>,
    key: Option<&[u8]>,
    head: (u64, &str),
) -> Result<VerifyReport, VerifyError> {
    verify_reader_with_head(BufReader::new(File::open(path)?), key, head)
}

/// Verifies a log read from `reader`; see [`verify`].
pub fn verify_reader(
    reader: impl BufRead,
    key: Option<&[u8]>,
) -> Result<VerifyReport, VerifyError> {
    let mut scanner = Scanner::new(ChainKey::from_option(key), None);
    scanner.scan(reader)?;
    Ok(scanner.report())
}

/// Verifies a log read from `reader` against an expected head; see
/// [`verify_with_head`].
pub fn verify_reader_with_head(
    reader: impl BufRead,
    key: Option<&[u8]>,
    head: (u64, &str),
) -> Result<VerifyReport, VerifyError> {
    let mut scanner = Scanner::new(
        ChainKey::from_option(key),
        Some((head.0, head.1.to_ascii_lowercase())),
    );
    scanner.scan(reader)?;
    Ok(scanner.report())
}

/// Verifies the log at `path` against a signed checkpoint (see
/// [`VerifierKey::open`](crate::audit::checkpoint::VerifierKey::open)): the
/// chain, as [`verify`] does, and the Merkle tree over the records.
///
/// Fails with [`VerifyError::CutBeforeCheckpoint`], naming the first
/// missing record, when the log holds fewer records than the checkpoint
/// covers, and with [`VerifyError::Forked`] when its first records do not
/// hash to the checkpoint's root. A forked log is then compared with the
/// tree stored beside it (`<log>.tree`): if that still holds the signed
/// history, the first record that differs is named.
pub fn verify_with_checkpoint(
    path: impl AsRef<Path>,
    key: Option<&[u8]>,
    checkpoint: &Checkpoint,
) -> Result<VerifyReport, VerifyError> {
    let path = path.as_ref();
    let mut scanner = Scanner::new(ChainKey::from_option(key), None);
    scanner.frontier = Some(Frontier::new());
    scanner.checkpoint = Some((checkpoint.size, checkpoint.root));
    match scanner.scan(BufReader::new(File::open(path)?)) {
        Ok(()) => Ok(scanner.report()),
        Err(VerifyError::Forked {
            size,
            expected,
            root,
            changed: None,
        }) => Err(VerifyError::Forked {
            size,
            changed: first_change(path, checkpoint).unwrap_or(None),
            expected,
            root,
        }),
        Err(error) => Err(error),
    }
}

/// The first record of the log whose leaf differs from the stored tree's,
/// if that tree holds the checkpoint's history.
fn first_change(path: &Path, checkpoint: &Checkpoint) -> io::Result<Option<u64>> {
    let tree = TreeFile::open_beside(path)?;
    if tree.size() < checkpoint.size || tree_root(&tree, checkpoint.size)? != checkpoint.root {
        return Ok(None);
    }
    let mut reader = BufReader::new(File::open(path)?);
    let mut text = Vec::new();
    for index in 0..checkpoint.size {
        text.clear();
        if reader.read_until(b'\n', &mut text)? == 0 {
            return Ok(None);
        }
        let content = text.strip_suffix(b"\n").unwrap_or(&text);
        if leaf_hash(content) != tree.stored_hash(stored_hash_index(0, index))? {
            return Ok(Some(index + 1));
        }
    }
    Ok(None)
}

/// The hashed part of a line, as parsed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    prev: String,
    /// Parsed only to check that it is a JSON object.
    #[serde(rename = "record")]
    _record: serde_json::Map<String, serde_json::Value>,
    seq: u64,
}

/// The sequence number of a line, for looking ahead.
#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// Walks a log line by line; after an error its fields still describe the
/// last good record, which is what recovery continues from.
pub(super) struct Scanner {
    key: ChainKey,
    expected_head: Option<(u64, String)>,
    head_seen: bool,
    line: u64,
    pub(super) seq: u64,
    pub(super) prev: [u8; 32],
    /// The end of the last good line.
    pub(super) offset: u64,
    scratch: Vec<u8>,
    /// The stored tree being checked and caught up, on open.
    pub(super) catch_up: Option<TreeCatchUp>,
    /// The tree's edge, when a root is wanted.
    frontier: Option<Frontier>,
    /// A signed tree size and root to check the log against.
    checkpoint: Option<(u64, Hash)>,
}

impl Scanner {
    pub(super) fn new(key: ChainKey, expected_head: Option<(u64, String)>) -> Self {
        Self {
            key,
            expected_head,
            head_seen: false,
            line: 0,
            seq: 0,
            prev: GENESIS,
            offset: 0,
            scratch: Vec::new(),
            catch_up: None,
            frontier: None,
            checkpoint: None,
        }
    }

    fn report(&self) -> VerifyReport {
        VerifyReport {
            records: self.seq,
            head: (self.seq > 0).then(|| (self.seq, hex::encode(self.prev))),
            root: self.frontier.as_ref().map(Frontier::root),
        }
    }

    pub(super) fn scan<R: BufRead>(&mut self, mut reader: R) -> Result<(), VerifyError> {
        self.check_head()?;
        let mut text = Vec::with_capacity(1024);
        loop {
            text.clear();
            let read = reader.read_until(b'\n', &mut text)?;
            if read == 0 {
                break;
            }
            self.line += 1;
            let line = self.line;
            let expected = self.seq + 1;
            // Only a missing newline marks a crash: the writer ends every
            // line with one, in the same write. A complete line that is not
            // a record was made so by something else, even the last.
            let Some((&b'\n', content)) = text.split_last() else {
                return Err(VerifyError::Cut {
                    line,
                    seq: expected,
                    offset: self.offset,
                    bytes: read as u64,
                });
            };
            let Some(body) = self.parse(content) else {
                return Err(VerifyError::Malformed {
                    line,
                    seq: expected,
                    reason: "not a JSON object of the form {\"hash\",\"prev\",\"record\",\"seq\"}",
                });
            };
            let hash = self.key.digest(&content[BODY_START..]);
            let mut hash_hex = [0u8; 64];
            write_hex(&mut hash_hex, &hash);
            if content[HASH_PREFIX.len()..HASH_PREFIX.len() + 64] != hash_hex {
                return Err(VerifyError::Changed {
                    line,
                    seq: expected,
                });
            }
            if body.seq < expected {
                return Err(VerifyError::Reordered {
                    line,
                    seq: body.seq,
                    expected,
                });
            }
            if body.seq > expected {
                return Err(if comes_later(&mut reader, expected..body.seq)? {
                    VerifyError::Reordered {
                        line,
                        seq: body.seq,
                        expected,
                    }
                } else {
                    VerifyError::Removed {
                        line,
                        seq: body.seq,
                        expected,
                    }
                });
            }
            let mut prev_hex = [0u8; 64];
            write_hex(&mut prev_hex, &self.prev);
            if body.prev.as_bytes() != prev_hex {
                return Err(VerifyError::Removed {
                    line,
                    seq: body.seq,
                    expected,
                });
            }
            self.seq = body.seq;
            self.prev = hash;
            self.offset += read as u64;
            self.check_head()?;
            if self.catch_up.is_some() || self.frontier.is_some() {
                let leaf = leaf_hash(content);
                if let Some(catch_up) = &mut self.catch_up {
                    catch_up.push(leaf)?;
                }
                if let Some(frontier) = &mut self.frontier {
                    frontier.append(leaf);
                    self.check_checkpoint()?;
                }
            }
        }
        if let Some((size, _)) = self.checkpoint {
            if self.seq < size {
                return Err(VerifyError::CutBeforeCheckpoint {
                    records: self.seq,
                    size,
                });
            }
        }
        match &self.expected_head {
            Some((seq, expected)) if !self.head_seen => Err(VerifyError::HeadMismatch {
                seq: *seq,
                expected: expected.clone(),
                found: None,
                records: self.seq,
            }),
            _ => Ok(()),
        }
    }

    /// Parses a line (without its newline) of the form
    /// `{"hash":"<64>",` + body tail, returning the body.
    fn parse(&mut self, content: &[u8]) -> Option<Body> {
        if content.len() <= BODY_START
            || !content.starts_with(HASH_PREFIX)
            || &content[BODY_START - 2..BODY_START] != b"\","
        {
            return None;
        }
        self.scratch.clear();
        self.scratch.push(b'{');
        self.scratch.extend_from_slice(&content[BODY_START..]);
        serde_json::from_slice(&self.scratch).ok()
    }

    fn check_checkpoint(&self) -> Result<(), VerifyError> {
        let (Some((size, expected)), Some(frontier)) = (&self.checkpoint, &self.frontier) else {
            return Ok(());
        };
        if frontier.size() != *size {
            return Ok(());
        }
        let root = frontier.root();
        if root == *expected {
            return Ok(());
        }
        Err(VerifyError::Forked {
            size: *size,
            expected: hex::encode(expected),
            root: hex::encode(root),
            changed: None,
        })
    }

    fn check_head(&mut self) -> Result<(), VerifyError> {
        let Some((seq, expected)) = &self.expected_head else {
            return Ok(());
        };
        if *seq != self.seq {
            return Ok(());
        }
        self.head_seen = true;
        let found = hex::encode(self.prev);
        if found == *expected {
            Ok(())
        } else {
            Err(VerifyError::HeadMismatch {
                seq: *seq,
                expected: expected.clone(),
                found: Some(found),
                records: self.seq,
            })
        }
    }
}

/// Whether a line further on carries a sequence number in `missing`: then
/// the skip ahead is a reordering rather than a removal.
fn comes_later<R: BufRead>(reader: &mut R, missing: std::ops::Range<u64>) -> io::Result<bool> {
    let mut text = Vec::new();
    loop {
        text.clear();
        if reader.read_until(b'\n', &mut text)? == 0 {
            return Ok(false);
        }
        if let Ok(SeqOnly { seq }) = serde_json::from_slice(text.trim_ascii_end()) {
            if missing.contains(&seq) {
                return Ok(true);
            }
        }
    }
}
