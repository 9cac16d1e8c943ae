//! A hash-chained JSON Lines audit log, and its verifier. The format is
//! documented on [`JsonlAudit`], where users can see it.

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

/// The `prev` of the first record.
const GENESIS: [u8; 32] = [0; 32];
/// Every line starts with this, then 64 hex digits, then `",`.
const HASH_PREFIX: &[u8] = b"{\"hash\":\"";
/// Where the hashed bytes start within a line, after `{"hash":"<64 hex>",`.
const BODY_START: usize = HASH_PREFIX.len() + 64 + 2;

/// When the log file is synced to disk.
///
/// A record is acknowledged (its `record` call returns) only once it is
/// written, and, unless the policy is [`Never`](Fsync::Never), synced with
/// `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fsync {
    /// Writes and syncs each record on its own. The slowest and simplest.
    EveryRecord,
    /// Writes every record already waiting, up to `max_batch`, with one
    /// write and one sync, then acknowledges them all.
    ///
    /// Records arriving while a sync runs form the next batch, so a busy log
    /// syncs far less than once per record while a lone record is written at
    /// once. With a non-zero `max_delay` the writer also waits up to that
    /// long after the first record of a batch for more: bigger batches, but
    /// that much more latency when the log is quiet.
    GroupCommit {
        /// The most records written and synced together (at least 1).
        max_batch: usize,
        /// How long to wait for more records once a batch has begun.
        max_delay: Duration,
    },
    /// Writes but never syncs, leaving durability to the operating system:
    /// a power loss may lose acknowledged records. Records are still batched.
    Never,
}

impl Fsync {
    /// Group commit of up to 256 records without waiting: the default.
    pub const fn group_commit() -> Self {
        Fsync::GroupCommit {
            max_batch: 256,
            max_delay: Duration::ZERO,
        }
    }
}

impl Default for Fsync {
    fn default() -> Self {
        Self::group_commit()
    }
}

/// Configures and opens a [`JsonlAudit`].
#[derive(Clone)]
pub struct JsonlAuditBuilder {
    path: PathBuf,
    fsync: Fsync,
    key: Option<Vec<u8>>,
    tree: bool,
    signer: Option<Arc<SignerKey>>,
    origin: Option<String>,
    sink: Option<Arc<dyn CheckpointSink>>,
    every: Option<u64>,
    interval: Option<Duration>,
}

impl fmt::Debug for JsonlAuditBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonlAuditBuilder")
            .field("path", &self.path)
            .field("fsync", &self.fsync)
            .field("hmac_key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("merkle_tree", &self.tree)
            .field(
                "checkpoint_key",
                &self.signer.as_ref().map(|signer| signer.verifier()),
            )
            .field("checkpoint_origin", &self.origin)
            .field("checkpoint_every", &self.every)
            .field("checkpoint_interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl JsonlAuditBuilder {
    /// Sets when the file is synced (default: [`Fsync::group_commit`]).
    #[must_use]
    pub fn fsync(mut self, fsync: Fsync) -> Self {
        self.fsync = fsync;
        self
    }

    /// Chains with HMAC-SHA256 under `key` instead of plain SHA-256, so that
    /// only holders of the key can produce a chain that verifies.
    ///
    /// The same key must be given to every later open and to [`verify`].
    #[must_use]
    pub fn hmac_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Whether to keep the Merkle tree beside the log, in `<log>.tree`
    /// (default: yes). Without it no checkpoint can be signed.
    ///
    /// The tree file holds the hashes of the tree's complete subtrees, 32
    /// bytes each, about two per record, appended as records are
    /// acknowledged. It is derived from the log: on open it is checked
    /// against the log's records and completed if behind (after a crash, or
    /// when missing). A tree that does not match the log, or holds more
    /// records than the log, fails the open ([`OpenError::TreeMismatch`],
    /// [`OpenError::TreeAhead`]): the log was changed or cut since.
    #[must_use]
    pub fn merkle_tree(mut self, keep: bool) -> Self {
        self.tree = keep;
        self
    }

    /// Signs checkpoints of the tree with `key`: on [`JsonlAudit::checkpoint`],
    /// on close, and as often as [`checkpoint_every`](Self::checkpoint_every)
    /// and [`checkpoint_interval`](Self::checkpoint_interval) say.
    /// Checkpoints go to `<log>.checkpoint` unless another
    /// [`checkpoint_sink`](Self::checkpoint_sink) is set.
    #[must_use]
    pub fn checkpoint_key(mut self, key: SignerKey) -> Self {
        self.signer = Some(Arc::new(key));
        self
    }

    /// The origin line of the checkpoints (default: the key's name).
    #[must_use]
    pub fn checkpoint_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Signs a checkpoint once at least `records` records were added since
    /// the last one.
    #[must_use]
    pub fn checkpoint_every(mut self, records: u64) -> Self {
        self.every = Some(records.max(1));
        self
    }

    /// Signs a checkpoint when `interval` has passed since the last one and
    /// records were added, even while the log is otherwise quiet.
    #[must_use]
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Where checkpoints go (default: [`FileCheckpointSink::beside`] the log).
    #[must_use]
    pub fn checkpoint_sink(mut self, sink: impl CheckpointSink + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Opens the log, creating it if missing, takes its lock, verifies the
    /// existing chain, and starts the writer that continues it.
    ///
    /// Fails with [`OpenError::Locked`] while another `JsonlAudit`, in this
    /// process or another, has the file open. A last line without its
    /// newline, which is what a crash during a write leaves, is moved to a
    /// side file and removed (see [`JsonlAudit::recovered`]). Any other break
    /// in the chain, a complete last line that does not parse or whose hash
    /// does not match included, fails the open with [`OpenError::Broken`]
    /// and leaves the file as it was, so that nothing is ever appended to a
    /// tampered log.
    pub fn open(self) -> Result<JsonlAudit, OpenError> {
        let key = match &self.key {
            Some(key) if key.is_empty() => return Err(OpenError::EmptyKey),
            Some(key) => ChainKey::keyed(key),
            None => ChainKey::Plain,
        };
        let io_error = |source| OpenError::Io {
            path: self.path.clone(),
            source,
        };
        let (file, created) = open_log(&self.path).map_err(io_error)?;
        // Taken before anything is read, so that a writer never takes the
        // line another is writing for a crash's leftovers.
        if !lock(&file).map_err(io_error)? {
            return Err(OpenError::Locked { path: self.path });
        }
        if created {
            sync_parent(&self.path).map_err(io_error)?;
        }

        let keep_tree = self.tree || self.signer.is_some();
        let mut scanner = Scanner::new(key.clone(), None);
        if keep_tree {
            scanner.catch_up = Some(TreeCatchUp::open(&self.path).map_err(io_error)?);
        }
        let recovered = match scanner.scan(BufReader::new(&file)) {
            Ok(()) => None,
            Err(VerifyError::Cut {
                line,
                seq,
                offset,
                bytes,
            }) => Some(
                move_cut_aside(&self.path, &file, offset)
                    .map(|side_file| Recovery {
                        line,
                        seq,
                        bytes,
                        side_file,
                    })
                    .map_err(io_error)?,
            ),
            Err(VerifyError::Io(source)) => return Err(io_error(source)),
            Err(source) => {
                return Err(OpenError::Broken {
                    path: self.path,
                    source,
                });
            }
        };
        let chain = Chain {
            seq: scanner.seq,
            prev: scanner.prev,
            len: scanner.offset,
        };
        let tree = match scanner.catch_up.take() {
            None => None,
            Some(mut catch_up) => {
                if let Some(index) = catch_up.mismatch {
                    return Err(OpenError::TreeMismatch {
                        path: self.path,
                        seq: index + 1,
                    });
                }
                // A crash can leave the tree ahead of the log: the record
                // set aside as cut, or, without syncs, lines the system
                // lost while the tree's write survived. Then the tree
                // follows the log. Otherwise records were removed.
                let crashed = recovered.is_some() || self.fsync == Fsync::Never;
                if catch_up.stored_size > chain.seq && crashed {
                    catch_up.truncate_to_frontier().map_err(io_error)?;
                } else if catch_up.stored_size > chain.seq {
                    return Err(OpenError::TreeAhead {
                        path: self.path,
                        records: chain.seq,
                        tree: catch_up.stored_size,
                    });
                }
                let (tree_file, frontier) = catch_up.finish().map_err(io_error)?;
                Some(TreeAppender::new(tree_file, frontier))
            }
        };
        let checkpoints = self.signer.map(|signer| Checkpointer {
            origin: self.origin.unwrap_or_else(|| signer.name().to_owned()),
            signer,
            sink: self
                .sink
                .unwrap_or_else(|| Arc::new(FileCheckpointSink::beside(&self.path))),
            every: self.every,
            interval: self.interval,
            signed_size: None,
            signed_at: Instant::now(),
        });
        (&file).seek(SeekFrom::Start(chain.len)).map_err(io_error)?;
        let extras = Extras { tree, checkpoints };
        JsonlAudit::start(
            file,
            chain,
            key,
            self.fsync,
            self.path.clone(),
            recovered,
            extras,
        )
        .map_err(io_error)
    }
}

/// A tail cut short by a crash that [`JsonlAuditBuilder::open`] removed from
/// the log and saved next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The line number of the cut record.
    pub line: u64,
    /// The sequence number the cut record would have had. The next record
    /// written takes it.
    pub seq: u64,
    /// How many bytes were moved out of the log.
    pub bytes: u64,
    /// The file that now holds those bytes, `<log>.cut-<unix millis>`.
    pub side_file: PathBuf,
}

/// The log could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Reading, creating, repairing or syncing the file failed.
    #[error("could not open the audit log {}: {source}", path.display())]
    Io {
        /// The log.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The existing chain does not verify; the log is left untouched.
    #[error("the audit log {} does not verify, refusing to append to it: {source}", path.display())]
    Broken {
        /// The log.
        path: PathBuf,
        /// The first bad record.
        source: VerifyError,
    },
    /// Another [`JsonlAudit`], in this process or another, has the log open
    /// for writing. Two writers would each continue the chain from where
    /// they found it and overwrite or fork each other's records.
    #[error("the audit log {} is already open for writing by another process or sink", path.display())]
    Locked {
        /// The log.
        path: PathBuf,
    },
    /// The Merkle tree beside the log (`<log>.tree`) does not match the
    /// log from this record on: the log or the tree was changed. Verify the
    /// log against its last signed checkpoint; the tree can be rebuilt by
    /// removing it.
    #[error(
        "the Merkle tree beside the audit log {} does not match record {seq}: the log or its tree was changed \
         (verify the log against a signed checkpoint; remove the .tree file to rebuild it)",
        path.display()
    )]
    TreeMismatch {
        /// The log.
        path: PathBuf,
        /// The first record that differs.
        seq: u64,
    },
    /// The Merkle tree beside the log covers more records than the log
    /// holds: records were removed from the end of the log.
    #[error(
        "the audit log {} holds {records} records but its Merkle tree covers {tree}: records {} to {tree} were \
         removed from the end (verify the log against a signed checkpoint; remove the .tree file to rebuild it)",
        path.display(), records + 1
    )]
    TreeAhead {
        /// The log.
        path: PathBuf,
        /// How many records the log holds.
        records: u64,
        /// How many the tree covers.
        tree: u64,
    },
    /// An empty HMAC key was configured, which would protect nothing.
    #[error("the HMAC key for the audit log is empty")]
    EmptyKey,
}

impl From<OpenError> for AuditError {
    fn from(error: OpenError) -> Self {
        AuditError::other(error)
    }
}

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

type Ack = oneshot::Sender<Result<(), AuditError>>;

enum Command {
    Record { json: Vec<u8>, ack: Ack },
    Control(Control),
}

/// Commands that take effect after every record queued before them.
enum Control {
    Flush(Ack),
    Close(Ack),
    Checkpoint(oneshot::Sender<Result<SignedCheckpoint, AuditError>>),
}

/// The tree and checkpointing, when configured.
struct Extras {
    tree: Option<TreeAppender>,
    checkpoints: Option<Checkpointer>,
}

/// Signs checkpoints for the writer.
struct Checkpointer {
    signer: Arc<SignerKey>,
    origin: String,
    sink: Arc<dyn CheckpointSink>,
    every: Option<u64>,
    interval: Option<Duration>,
    signed_size: Option<u64>,
    signed_at: Instant,
}

impl Checkpointer {
    fn due(&self, size: u64) -> bool {
        if self.signed_size == Some(size) {
            return false;
        }
        let added = size - self.signed_size.unwrap_or(0);
        self.every.is_some_and(|every| added >= every)
            || self
                .interval
                .is_some_and(|interval| self.signed_at.elapsed() >= interval)
    }

    fn sign(&mut self, size: u64, root: Hash) -> Result<SignedCheckpoint, AuditError> {
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        };
        let signed = self.signer.sign(&checkpoint).map_err(AuditError::other)?;
        self.sink.publish(&signed).map_err(AuditError::Io)?;
        self.signed_size = Some(size);
        self.signed_at = Instant::now();
        Ok(signed)
    }
}

/// The writer's view of the file, so that tests can make it fail.
trait Storage {
    /// Appends all of `bytes` at the end (it may leave part of them on error).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes the appended bytes durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

// On Unix the file is opened in append mode, so that every write lands at the
// end whatever else has happened to the file: a writer that ignored the lock
// would add lines that break the chain rather than silently overwrite
// acknowledged ones. Windows refuses to truncate a file opened for appending,
// and truncating is how a failed write is undone, so there the file is
// written at its cursor, kept at the end of the last good line; its lock is
// mandatory, so no other handle writes in between.
impl Storage for File {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)?;
        self.seek(SeekFrom::Start(len)).map(drop)
    }
}

/// Where the chain stands: the last good record and the file length after it.
#[derive(Debug, Clone, Copy)]
struct Chain {
    seq: u64,
    prev: [u8; 32],
    len: u64,
}

struct Writer<S> {
    storage: S,
    /// What is durably in the file, as far as acknowledgements go.
    committed: Chain,
    /// The chain including the lines in `buffer`, not yet written.
    pending: Chain,
    key: ChainKey,
    sync: bool,
    max_batch: usize,
    max_delay: Duration,
    buffer: Vec<u8>,
    acks: Vec<Ack>,
    /// A failed write may have left part of a line that could not be cut
    /// off; nothing is appended until it is.
    needs_truncate: bool,
    head: SharedHead,
    tree: Option<TreeAppender>,
    /// Leaf hashes of the records in `buffer`.
    leaves: Vec<Hash>,
    checkpoints: Option<Checkpointer>,
}

impl<S: Storage> Writer<S> {
    fn new(storage: S, chain: Chain, key: ChainKey, fsync: Fsync, head: SharedHead) -> Self {
        let (sync, max_batch, max_delay) = match fsync {
            Fsync::EveryRecord => (true, 1, Duration::ZERO),
            Fsync::GroupCommit {
                max_batch,
                max_delay,
            } => (true, max_batch.max(1), max_delay),
            Fsync::Never => (false, 256, Duration::ZERO),
        };
        Self {
            storage,
            committed: chain,
            pending: chain,
            key,
            sync,
            max_batch,
            max_delay,
            buffer: Vec::with_capacity(4096),
            acks: Vec::with_capacity(max_batch.min(1024)),
            needs_truncate: false,
            head,
            tree: None,
            leaves: Vec::new(),
            checkpoints: None,
        }
    }

    fn run(mut self, commands: &Receiver<Command>) {
        // `recv` fails only once every sender is gone and the queue is empty,
        // so records accepted before a drop are still written.
        loop {
            let command = match self.checkpoint_wait() {
                None => commands.recv().ok(),
                Some(wait) => match commands.recv_timeout(wait) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => {
                        self.checkpoint_if_due();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                },
            };
            let Some(command) = command else { break };
            let control = match command {
                Command::Record { json, ack } => {
                    self.push(&json, ack);
                    self.fill_batch(commands)
                }
                Command::Control(control) => Some(control),
            };
            self.commit();
            self.checkpoint_if_due();
            match control {
                Some(Control::Flush(ack)) => {
                    let _ = ack.send(self.sync_now());
                }
                Some(Control::Checkpoint(ack)) => {
                    let _ = ack.send(self.checkpoint_now());
                }
                Some(Control::Close(ack)) => {
                    let mut result = self.sync_now();
                    if result.is_ok() && self.checkpoint_on_close() {
                        result = self.checkpoint_now().map(drop);
                    }
                    // The file, and its lock, go before the caller hears that
                    // the log is closed, so that it can be reopened at once.
                    drop(self);
                    let _ = ack.send(result);
                    return;
                }
                None => {}
            }
        }
        // Nobody is left to hear of a failure; the sync is best effort.
        if self.sync_now().is_ok() && self.checkpoint_on_close() {
            if let Err(error) = self.checkpoint_now() {
                tracing::warn!(%error, "could not sign the audit log's closing checkpoint");
            }
        }
    }

    /// How long the writer may wait for a command before a timed
    /// checkpoint is due.
    fn checkpoint_wait(&self) -> Option<Duration> {
        let checkpoints = self.checkpoints.as_ref()?;
        let interval = checkpoints.interval?;
        Some(
            interval
                .saturating_sub(checkpoints.signed_at.elapsed())
                .max(Duration::from_millis(1)),
        )
    }

    fn checkpoint_if_due(&mut self) {
        let (Some(checkpoints), Some(tree)) = (&mut self.checkpoints, &self.tree) else {
            return;
        };
        if checkpoints.due(tree.frontier.size()) {
            if let Err(error) = checkpoints.sign(tree.frontier.size(), tree.frontier.root()) {
                tracing::warn!(%error, "could not sign a checkpoint of the audit log");
            }
        }
    }

    fn checkpoint_on_close(&self) -> bool {
        match (&self.checkpoints, &self.tree) {
            (Some(checkpoints), Some(tree)) => {
                checkpoints.signed_size != Some(tree.frontier.size())
            }
            _ => false,
        }
    }

    fn checkpoint_now(&mut self) -> Result<SignedCheckpoint, AuditError> {
        let (Some(checkpoints), Some(tree)) = (&mut self.checkpoints, &self.tree) else {
            return Err(AuditError::other(CheckpointError::InvalidKey(
                "no checkpoint key was configured for this audit log",
            )));
        };
        checkpoints.sign(tree.frontier.size(), tree.frontier.root())
    }

    /// Adds what is already queued to the batch, stopping at a flush or
    /// close so that it runs after the records before it.
    fn fill_batch(&mut self, commands: &Receiver<Command>) -> Option<Control> {
        let deadline = Instant::now() + self.max_delay;
        while self.acks.len() < self.max_batch {
            let command = match commands.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) if self.max_delay.is_zero() => return None,
                Err(TryRecvError::Empty) => {
                    match commands.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    {
                        Ok(command) => command,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                            return None;
                        }
                    }
                }
            };
            match command {
                Command::Record { json, ack } => self.push(&json, ack),
                Command::Control(control) => return Some(control),
            }
        }
        None
    }

    /// Appends the line for `record_json` to the buffer.
    fn push(&mut self, record_json: &[u8], ack: Ack) {
        let seq = self.pending.seq + 1;
        let start = self.buffer.len();
        self.buffer.extend_from_slice(HASH_PREFIX);
        let hash_at = self.buffer.len();
        self.buffer.extend_from_slice(&[b'0'; 64]);
        self.buffer.extend_from_slice(b"\",\"prev\":\"");
        push_hex(&mut self.buffer, &self.pending.prev);
        self.buffer.extend_from_slice(b"\",\"record\":");
        self.buffer.extend_from_slice(record_json);
        self.buffer.extend_from_slice(b",\"seq\":");
        push_decimal(&mut self.buffer, seq);
        self.buffer.push(b'}');
        let hash = self.key.digest(&self.buffer[start + BODY_START..]);
        write_hex(&mut self.buffer[hash_at..hash_at + 64], &hash);
        if self.tree.is_some() {
            self.leaves.push(leaf_hash(&self.buffer[start..]));
        }
        self.buffer.push(b'\n');
        self.pending = Chain {
            seq,
            prev: hash,
            len: self.pending.len + (self.buffer.len() - start) as u64,
        };
        self.acks.push(ack);
    }

    /// Writes the buffered lines, syncs per policy, and acknowledges them.
    fn commit(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        let outcome = self.write_buffer();
        match &outcome {
            Ok(()) => {
                self.committed = self.pending;
                *self.head.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((self.committed.seq, self.committed.prev));
                if let Some(tree) = &mut self.tree {
                    for leaf in self.leaves.drain(..) {
                        tree.push(leaf);
                    }
                    tree.write();
                }
            }
            Err(_) => {
                self.pending = self.committed;
                self.leaves.clear();
                self.roll_back();
            }
        }
        for ack in self.acks.drain(..) {
            let result = match &outcome {
                Ok(()) => Ok(()),
                Err(error) => Err(AuditError::Io(copy_io_error(error))),
            };
            // A caller that stopped waiting still has its record written.
            let _ = ack.send(result);
        }
        self.buffer.clear();
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        if self.needs_truncate {
            self.roll_back();
            if self.needs_truncate {
                return Err(stuck());
            }
        }
        self.storage.append(&self.buffer)?;
        if self.sync {
            self.storage.sync()?;
        }
        Ok(())
    }

    /// Cuts the file back to the last acknowledged record.
    fn roll_back(&mut self) {
        // After a failed sync the kernel may have dropped the dirty pages,
        // so the lines are removed even if their write seemed to succeed.
        self.needs_truncate = self.storage.truncate(self.committed.len).is_err();
    }

    fn sync_now(&mut self) -> Result<(), AuditError> {
        if self.needs_truncate {
            self.roll_back();
        }
        if self.needs_truncate {
            return Err(AuditError::Io(stuck()));
        }
        self.storage.sync().map_err(AuditError::Io)
    }
}

/// How long [`lock`] waits for a lock held by someone else.
///
/// A process that forks while its writer closes the file (any thread
/// spawning a command) hands its child a share of the file, and so of the
/// lock, until the child starts its program, a matter of milliseconds.
/// Reopening right after a close must not fail because of that.
const LOCK_WAIT: Duration = Duration::from_millis(250);

/// Takes the exclusive lock on the log; `false` if another writer holds it.
fn lock(file: &File) -> io::Result<bool> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        // `fs4` does what std's `File::try_lock` does (`flock`, `LockFileEx`)
        // on compilers before 1.89, which the workspace still supports.
        match <File as fs4::FileExt>::try_lock(file) {
            Ok(()) => return Ok(true),
            Err(fs4::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(fs4::TryLockError::WouldBlock) => return Ok(false),
            Err(fs4::TryLockError::Error(error)) => return Err(error),
        }
    }
}

/// Opens for reading and appending; `true` if the file was created.
fn open_log(path: &Path) -> io::Result<(File, bool)> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    #[cfg(unix)]
    options.append(true);
    match options.clone().create_new(true).open(path) {
        Ok(file) => Ok((file, true)),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            Ok((options.open(path)?, false))
        }
        Err(error) => Err(error),
    }
}

/// Makes a new directory entry durable, so that a synced record cannot be
/// lost with the file that holds it.
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files here; NTFS journals the entry.
        let _ = path;
        Ok(())
    }
}

/// Saves the bytes of `file` from `offset` on to a side file, then cuts them
/// from the log. The side file is durable before the log is cut, so a crash
/// in between loses nothing.
fn move_cut_aside(path: &Path, mut file: &File, offset: u64) -> io::Result<PathBuf> {
    let mut cut = Vec::new();
    file.seek(SeekFrom::Start(offset))?;
    file.read_to_end(&mut cut)?;
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    let mut attempt = 0u32;
    let (mut side, side_path) = loop {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".cut-{millis}"));
        if attempt > 0 {
            name.push(format!("-{attempt}"));
        }
        let side_path = PathBuf::from(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&side_path)
        {
            Ok(side) => break (side, side_path),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    };
    side.write_all(&cut)?;
    side.sync_all()?;
    sync_parent(&side_path)?;
    file.set_len(offset)?;
    file.sync_all()?;
    Ok(side_path)
}

/// Why nothing is written while a partial line could not be cut off.
fn stuck() -> io::Error {
    io::Error::other("the audit log could not be cut back after an earlier write failed")
}

/// `io::Error` is not `Clone`; each record of a failed batch gets its own.
fn copy_io_error(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}

/// SHA-256, or HMAC-SHA256 with the key already absorbed.
#[derive(Clone)]
enum ChainKey {
    Plain,
    Keyed(Box<HmacSha256>),
}

impl ChainKey {
    fn keyed(key: &[u8]) -> Self {
        // HMAC hashes keys longer than a block and zero-pads the rest; doing
        // it here gives a full block, for which construction cannot fail.
        let mut block = Key::<HmacSha256>::default();
        if key.len() > block.len() {
            let digest = Sha256::digest(key);
            block[..digest.len()].copy_from_slice(&digest);
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        ChainKey::Keyed(Box::new(<HmacSha256 as KeyInit>::new(&block)))
    }

    fn from_option(key: Option<&[u8]>) -> Self {
        key.map_or(ChainKey::Plain, ChainKey::keyed)
    }

    /// The hash of the body `{` + `after_brace`: the line without its hash
    /// member. Taking the tail spares copying the line.
    fn digest(&self, after_brace: &[u8]) -> [u8; 32] {
        match self {
            ChainKey::Plain => {
                let mut hasher = Sha256::new();
                hasher.update(b"{");
                hasher.update(after_brace);
                hasher.finalize().into()
            }
            ChainKey::Keyed(mac) => {
                let mut mac = (**mac).clone();
                mac.update(b"{");
                mac.update(after_brace);
                mac.finalize().into_bytes().into()
            }
        }
    }
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8; 32]) {
    let at = out.len();
    out.resize(at + 64, 0);
    write_hex(&mut out[at..], bytes);
}

fn write_hex(slot: &mut [u8], bytes: &[u8; 32]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in slot.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
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
