//! A hash-chained JSON Lines audit log, and its verifier. The format is
//! documented on [`JsonlAudit`], where users can see it. The sink is here;
//! `config` opens a log, `writer` is the thread that owns the file,
//! `chain` the line format, `tree` the Merkle tree beside the log and
//! `verify` the verifier.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use self::tree::{TreeAppender, TreeCatchUp};
use super::checkpoint::{
    Checkpoint, CheckpointError, CheckpointSink, FileCheckpointSink, SignedCheckpoint, SignerKey,
};
use super::merkle::{Hash, leaf_hash};
use super::{AuditError, AuditRecord, AuditSink};
use crate::canonical_json;

type HmacSha256 = Hmac<Sha256>;
/// The last acknowledged record's `seq` and hash, updated by the writer.
type SharedHead = Arc<Mutex<Option<(u64, [u8; 32])>>>;

mod chain;
mod config;
mod writer;

#[allow(clippy::wildcard_imports)]
use self::chain::*;
pub use self::config::{Fsync, JsonlAuditBuilder, OpenError, Recovery};
#[allow(clippy::wildcard_imports)]
use self::writer::*;

/// An [`AuditSink`] that appends to a hash-chained JSON Lines file.
///
/// One writer thread owns the file. `record` hands it the record and waits
/// until the line is written and synced as the [`Fsync`] policy says; lines
/// are in the order records were accepted. If a write or sync fails (a full
/// disk), the file is cut back to its last complete record, the affected
/// records get [`AuditError::Io`], and later records succeed once the cause
/// is gone: a failed write never leaves a partial line or a gap in the
/// chain.
///
/// ```
/// use approvals_core::audit::{verify, AuditEvent, AuditRecord, AuditSink, Fsync, JsonlAudit};
/// use approvals_core::RequestId;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit.jsonl");
/// let audit = JsonlAudit::builder(&path).fsync(Fsync::group_commit()).open()?;
/// audit.record(&AuditRecord::now(RequestId::random(), AuditEvent::Escalated { added: vec![] })).await?;
/// let head = audit.head();
/// audit.close().await?;
///
/// let report = verify(&path, None)?;
/// assert_eq!(report.records, 1);
/// assert_eq!(report.head, head);
/// # Ok(()) }
/// ```
///
/// # One writer per file
///
/// Opening takes an exclusive lock on the file (`flock` on Unix, `LockFileEx`
/// on Windows), held until the `JsonlAudit` is closed or dropped: a second
/// `JsonlAudit` on the same file, in this process or another, fails with
/// [`OpenError::Locked`] instead of writing records that overwrite or fork
/// the first one's. On Unix the lock is advisory: it stops other
/// `JsonlAudit`s, not every program that can write the file; the file is
/// opened in append mode, so that such a program's lines break the chain,
/// where [`verify`] finds them, rather than silently replace acknowledged
/// records. On Windows it is mandatory, and other handles cannot read the
/// file while it is held, [`verify`]'s included. Readers on Unix need no
/// lock: [`verify`] may run while the log is written, and at worst finds the
/// last line incomplete ([`VerifyError::Cut`]).
///
/// [`close`](JsonlAudit::close) and dropping finish the queued records, stop
/// the writer and close the file before they return. A child process forked
/// by another thread at that moment shares the file, and so the lock, until
/// it starts its program; `open` waits up to a quarter of a second for a
/// lock to be released before it fails.
///
/// # Crashes and tampering
///
/// Every line is written with its newline, in the same write. If the process
/// dies (or the machine loses power) while writing, the file may end with a
/// line that has no newline, after complete lines of records that were
/// written but not yet acknowledged (valid records, which stay). Lines
/// acknowledged before are never affected (with [`Fsync::Never`], a power
/// loss may lose them, as said there). The next
/// [`open`](JsonlAuditBuilder::open) moves that incomplete line to a side
/// file, reports it in [`recovered`](JsonlAudit::recovered), and continues
/// the chain from the last complete record; [`verify`] reports it as
/// [`VerifyError::Cut`] until then.
///
/// Only a missing newline is taken for a crash. A complete line that does
/// not parse as a record, or whose hash does not match, is a change made
/// after it was written, even on the last line: the open fails with
/// [`OpenError::Broken`], naming the line ([`VerifyError::line`]), and
/// nothing on disk is moved or changed. (A write torn by a power loss on a
/// file system that can leave unwritten blocks inside a file's length would
/// also fail the open this way, for someone to look at: the log fails
/// closed rather than guess.)
///
/// # File format
///
/// One record per line, each line ended by `\n`. A line is the canonical JSON
/// (see [`canonical_json`](crate::canonical_json): keys sorted by their UTF-8
/// bytes, no whitespace) of
///
/// ```text
/// {"hash":"<64 hex>","prev":"<64 hex>","record":{…},"seq":N}
/// ```
///
/// - `seq` counts records from 1, without gaps.
/// - `record` is the [`AuditRecord`] as JSON.
/// - `prev` is the `hash` of the line before, or 64 zeros on the first line.
/// - `hash` is SHA-256, in lowercase hex, over the canonical JSON of the same
///   object without its `hash` key: the bytes `{"prev":…,"seq":N}`, which
///   are the line with its leading `"hash":"…",` member and its newline
///   taken out. With a key it is HMAC-SHA256 under that key over the same
///   bytes.
///
/// # What the chain shows, and what it does not
///
/// Changing, removing, reordering or inserting a record breaks the chain at
/// that record, and [`verify`] names it. A hash chain alone cannot show the
/// removal of whole records at the end: the shorter file is a valid chain
/// too. To detect that, keep the [`head`](JsonlAudit::head) where the log's
/// writer cannot rewrite it (another system, a signed checkpoint) and check
/// it with [`verify_with_head`]. Without a key, anyone who can write the file
/// can also recompute every hash; with an HMAC key kept away from the log, a
/// rewritten chain fails verification.
///
/// # The Merkle tree and signed checkpoints
///
/// Beside the log, in `<log>.tree`, the sink keeps an RFC 9162 Merkle tree
/// over the lines (see [`merkle`](crate::audit::merkle) and
/// [`merkle_tree`](JsonlAuditBuilder::merkle_tree)). With a
/// [`checkpoint_key`](JsonlAuditBuilder::checkpoint_key) it signs
/// checkpoints of it ([`checkpoint`](crate::audit::checkpoint)): hand them
/// to someone who does not run the log, and [`verify_with_checkpoint`]
/// later shows a cut tail (naming the first missing record) or a rewritten
/// history; inclusion and consistency proofs show a record's place and that
/// a later checkpoint extends an earlier one.
///
/// ```
/// use approvals_core::audit::checkpoint::SignerKey;
/// use approvals_core::audit::{verify_with_checkpoint, AuditEvent, AuditRecord, AuditSink, JsonlAudit};
/// use approvals_core::RequestId;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit.jsonl");
/// let key = SignerKey::generate("audit.example.com/approvals")?;
/// let verifier = key.verifier();
/// let audit = JsonlAudit::builder(&path).checkpoint_key(key).checkpoint_every(1_000).open()?;
/// audit.record(&AuditRecord::now(RequestId::random(), AuditEvent::Escalated { added: vec![] })).await?;
/// let signed = audit.checkpoint().await?; // also written to audit.jsonl.checkpoint
/// audit.close().await?;
///
/// let checkpoint = verifier.open(&signed.note)?;
/// assert_eq!(checkpoint.size, 1);
/// verify_with_checkpoint(&path, None, &checkpoint)?;
/// # Ok(()) }
/// ```
pub struct JsonlAudit {
    sender: Option<Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    head: SharedHead,
    path: PathBuf,
    recovered: Option<Recovery>,
}

impl fmt::Debug for JsonlAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonlAudit")
            .field("path", &self.path)
            .field("head", &self.head())
            .field("recovered", &self.recovered)
            .finish_non_exhaustive()
    }
}

impl JsonlAudit {
    /// A builder for the log at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> JsonlAuditBuilder {
        JsonlAuditBuilder {
            path: path.into(),
            fsync: Fsync::default(),
            key: None,
            tree: true,
            signer: None,
            origin: None,
            sink: None,
            every: None,
            interval: None,
        }
    }

    /// Opens the log at `path` with group commit and plain SHA-256; see
    /// [`JsonlAuditBuilder::open`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, OpenError> {
        Self::builder(path).open()
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence number and hash (64 hex digits) of the last record in
    /// the log, `None` while it is empty.
    ///
    /// Store it outside the log (and outside the reach of whoever can write
    /// the log) to detect later truncation with [`verify_with_head`].
    pub fn head(&self) -> Option<(u64, String)> {
        let head = *self.head.lock().unwrap_or_else(PoisonError::into_inner);
        head.map(|(seq, hash)| (seq, hex::encode(hash)))
    }

    /// The incomplete last record removed when the log was opened, if any.
    pub fn recovered(&self) -> Option<&Recovery> {
        self.recovered.as_ref()
    }

    /// Waits until every record accepted so far is written and synced to
    /// disk, whatever the [`Fsync`] policy.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Control(Control::Flush(ack)))?;
        done.await.unwrap_or(Err(AuditError::Closed))
    }

    /// Writes and syncs every record accepted so far, then stops the writer
    /// and closes the file, releasing its lock. Later records fail with
    /// [`AuditError::Closed`].
    pub async fn close(&self) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Control(Control::Close(ack)))?;
        done.await.unwrap_or(Err(AuditError::Closed))
    }

    /// Signs a checkpoint of every record written so far, hands it to the
    /// checkpoint sink, and returns it. Fails unless a
    /// [`checkpoint_key`](JsonlAuditBuilder::checkpoint_key) was set.
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint, AuditError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Control(Control::Checkpoint(ack)))?;
        done.await.unwrap_or(Err(AuditError::Closed))
    }

    fn send(&self, command: Command) -> Result<(), AuditError> {
        self.sender
            .as_ref()
            .ok_or(AuditError::Closed)?
            .send(command)
            .map_err(|_| AuditError::Closed)
    }

    fn start<S: Storage + Send + 'static>(
        storage: S,
        chain: Chain,
        key: ChainKey,
        fsync: Fsync,
        path: PathBuf,
        recovered: Option<Recovery>,
        extras: Extras,
    ) -> io::Result<Self> {
        let head = Arc::new(Mutex::new(
            (chain.seq > 0).then_some((chain.seq, chain.prev)),
        ));
        let (sender, receiver) = mpsc::channel();
        let mut writer = Writer::new(storage, chain, key, fsync, Arc::clone(&head));
        writer.tree = extras.tree;
        writer.checkpoints = extras.checkpoints;
        let handle = std::thread::Builder::new()
            .name("approvals-audit-writer".to_owned())
            .spawn(move || writer.run(&receiver))?;
        Ok(Self {
            sender: Some(sender),
            writer: Some(handle),
            head,
            path,
            recovered,
        })
    }
}

impl Drop for JsonlAudit {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued and stop;
        // joining means that once the sink is gone no stray line can land
        // after a new writer reopened the file.
        drop(self.sender.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[async_trait]
impl AuditSink for JsonlAudit {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let value = serde_json::to_value(record).map_err(AuditError::other)?;
        let (ack, done) = oneshot::channel();
        self.send(Command::Record {
            json: canonical_json(&value),
            ack,
        })?;
        done.await.unwrap_or(Err(AuditError::Closed))
    }

    /// Queues every record before waiting for any, so that the writer
    /// commits them together (one `fsync`), in order.
    async fn record_all(&self, records: &[AuditRecord]) -> Result<(), AuditError> {
        let written = futures::future::join_all(records.iter().map(|record| self.record(record)));
        written.await.into_iter().collect()
    }
}

mod tree;
mod verify;
pub use tree::TreeFile;
use verify::Scanner;
pub use verify::{
    VerifyError, VerifyReport, verify, verify_reader, verify_reader_with_head,
    verify_with_checkpoint, verify_with_head,
};

#[cfg(test)]
mod tests;
