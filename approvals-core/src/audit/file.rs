//! A hash-chained JSON Lines audit log, and its verifier. The format is
//! documented on [`JsonlAudit`], where users can see it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

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
}

impl fmt::Debug for JsonlAuditBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonlAuditBuilder")
            .field("path", &self.path)
            .field("fsync", &self.fsync)
            .field("hmac_key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
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

        let mut scanner = Scanner::new(key.clone(), None);
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
        (&file).seek(SeekFrom::Start(chain.len)).map_err(io_error)?;
        JsonlAudit::start(file, chain, key, self.fsync, self.path.clone(), recovered)
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
    ) -> io::Result<Self> {
        let head = Arc::new(Mutex::new(
            (chain.seq > 0).then_some((chain.seq, chain.prev)),
        ));
        let (sender, receiver) = mpsc::channel();
        let writer = Writer::new(storage, chain, key, fsync, Arc::clone(&head));
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
        }
    }

    fn run(mut self, commands: &Receiver<Command>) {
        // `recv` fails only once every sender is gone and the queue is empty,
        // so records accepted before a drop are still written.
        while let Ok(command) = commands.recv() {
            let control = match command {
                Command::Record { json, ack } => {
                    self.push(&json, ack);
                    self.fill_batch(commands)
                }
                Command::Control(control) => Some(control),
            };
            self.commit();
            match control {
                Some(Control::Flush(ack)) => {
                    let _ = ack.send(self.sync_now());
                }
                Some(Control::Close(ack)) => {
                    let result = self.sync_now();
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
        let _ = self.sync_now();
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
            }
            Err(_) => {
                self.pending = self.committed;
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

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// How many records the log holds.
    pub records: u64,
    /// The sequence number and hash of the last record, `None` for an empty
    /// log.
    pub head: Option<(u64, String)>,
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
            VerifyError::HeadMismatch { .. } | VerifyError::Io(_) => None,
        }
    }
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
struct Scanner {
    key: ChainKey,
    expected_head: Option<(u64, String)>,
    head_seen: bool,
    line: u64,
    seq: u64,
    prev: [u8; 32],
    /// The end of the last good line.
    offset: u64,
    scratch: Vec<u8>,
}

impl Scanner {
    fn new(key: ChainKey, expected_head: Option<(u64, String)>) -> Self {
        Self {
            key,
            expected_head,
            head_seen: false,
            line: 0,
            seq: 0,
            prev: GENESIS,
            offset: 0,
            scratch: Vec::new(),
        }
    }

    fn report(&self) -> VerifyReport {
        VerifyReport {
            records: self.seq,
            head: (self.seq > 0).then(|| (self.seq, hex::encode(self.prev))),
        }
    }

    fn scan<R: BufRead>(&mut self, mut reader: R) -> Result<(), VerifyError> {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::FutureExt as _;
    use serde_json::{Value, json};

    use super::*;
    use crate::audit::AuditEvent;
    use crate::mask::MaskedView;
    use crate::{Choice, Conclusion, Fingerprint, Identity, RequestId, Risk, Timestamp};

    const KEY: &[u8] = b"a secret kept away from the log";

    /// Records of every shape, with text that needs escaping, unicode and
    /// numbers of each kind, so the format is exercised beyond ASCII.
    fn sample(index: u64) -> AuditRecord {
        let id = RequestId::from_string(format!("req-{index}"));
        let fingerprint =
            Fingerprint::of("billing.refund", &json!({"cents": index}), &"bot".into());
        let event = match index % 3 {
            0 => AuditEvent::Requested {
                action: "billing.refund".into(),
                description: "Refund a \"charge\"\n(ünïcode ✓)".into(),
                risk: Risk::High,
                requester: Identity::new("agent:bot"),
                justification: Some("double charge".into()),
                arguments: MaskedView::from_masked(json!({
                    "customer": "c_***", "cents": index, "ratio": 0.1, "neg": -3,
                    "nested": {"z": [1, 2.5e-8, null, true], "a": "\u{1F600}\t"}
                })),
                fingerprint,
                rule: Some("refunds".into()),
                verdict: "require_approval".into(),
                approvers: vec![Identity::new("fin@example.com")],
                quorum: Some(1),
                deadline: Some(Timestamp::now()),
            },
            1 => AuditEvent::Vote {
                voter: Identity::new("fin@example.com"),
                choice: Choice::deny("not a duplicate"),
                channel: "queue".into(),
                fingerprint,
                counted: true,
                refusal: None,
            },
            _ => AuditEvent::Concluded {
                conclusion: Conclusion::Approved {
                    by: vec![Identity::new("fin@example.com")],
                },
            },
        };
        AuditRecord::now(id, event)
    }

    async fn write_log(path: &Path, count: u64, key: Option<&[u8]>) -> Vec<(u64, String)> {
        let mut builder = JsonlAudit::builder(path);
        if let Some(key) = key {
            builder = builder.hmac_key(key);
        }
        let audit = builder.open().unwrap();
        let mut heads = Vec::new();
        for index in 1..=count {
            audit.record(&sample(index)).await.unwrap();
            heads.push(audit.head().unwrap());
        }
        audit.close().await.unwrap();
        heads
    }

    fn log_bytes(count: u64, key: Option<&[u8]>) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(write_log(&path, count, key));
        std::fs::read(&path).unwrap()
    }

    /// Lines with their newlines.
    fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn check(bytes: &[u8], key: Option<&[u8]>) -> Result<VerifyReport, VerifyError> {
        verify_reader(bytes, key)
    }

    /// Rebuilds a file from parsed lines the way the documentation says,
    /// recomputing every `prev` and `hash`, as an attacker without the key
    /// (or with it) could.
    fn rechain(values: &[Value], key: Option<&[u8]>) -> Vec<u8> {
        let mut prev = hex::encode(GENESIS);
        let mut out = Vec::new();
        for value in values {
            let mut value = value.clone();
            let object = value.as_object_mut().unwrap();
            object.remove("hash");
            object.insert("prev".into(), Value::String(prev.clone()));
            let body = canonical_json(&Value::Object(object.clone()));
            let hash = match key {
                None => hex::encode(Sha256::digest(&body)),
                Some(key) => {
                    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
                    mac.update(&body);
                    hex::encode(mac.finalize().into_bytes())
                }
            };
            object.insert("hash".into(), Value::String(hash.clone()));
            out.extend(canonical_json(&value));
            out.push(b'\n');
            prev = hash;
        }
        out
    }

    fn parse_lines(bytes: &[u8]) -> Vec<Value> {
        split(bytes)
            .iter()
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn lines_follow_the_documented_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let heads = write_log(&path, 4, None).await;
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.ends_with(b"\n"));
        let mut prev = "0".repeat(64);
        for (index, line) in split(&bytes).iter().enumerate() {
            let seq = index as u64 + 1;
            let value: Value = serde_json::from_slice(line).unwrap();
            let mut canonical = canonical_json(&value);
            canonical.push(b'\n');
            assert_eq!(&canonical, line, "line {seq} is canonical JSON");
            let object = value.as_object().unwrap();
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 4);
            for key in ["hash", "prev", "record", "seq"] {
                assert!(keys.contains(&key));
            }
            assert_eq!(object["seq"], json!(seq));
            assert_eq!(object["prev"], json!(prev));
            let mut body = object.clone();
            body.remove("hash");
            let hash = hex::encode(Sha256::digest(canonical_json(&Value::Object(body))));
            assert_eq!(object["hash"], json!(hash));
            let original = serde_json::to_value(sample(seq)).unwrap();
            assert_eq!(object["record"]["request_id"], original["request_id"]);
            assert_eq!(object["record"]["event"], original["event"]);
            let record: AuditRecord = serde_json::from_value(object["record"].clone()).unwrap();
            assert_eq!(record.kind(), sample(seq).kind());
            assert_eq!(heads[index], (seq, hash.clone()));
            prev = hash;
        }
        let report = verify(&path, None).unwrap();
        assert_eq!(report.records, 4);
        assert_eq!(report.head, Some((4, prev)));
    }

    #[test]
    fn hmac_lines_use_the_key() {
        let bytes = log_bytes(3, Some(KEY));
        for line in parse_lines(&bytes) {
            let mut body = line.as_object().unwrap().clone();
            let hash = body.remove("hash").unwrap();
            let mut mac = <HmacSha256 as Mac>::new_from_slice(KEY).unwrap();
            mac.update(&canonical_json(&Value::Object(body)));
            assert_eq!(hash, json!(hex::encode(mac.finalize().into_bytes())));
        }
        assert_eq!(check(&bytes, Some(KEY)).unwrap().records, 3);
        assert!(matches!(
            check(&bytes, None),
            Err(VerifyError::Changed { line: 1, seq: 1 })
        ));
        assert!(matches!(
            check(&bytes, Some(b"another key")),
            Err(VerifyError::Changed { line: 1, seq: 1 })
        ));
    }

    #[test]
    fn a_chain_rewritten_without_the_key_fails_with_the_key() {
        let bytes = log_bytes(4, Some(KEY));
        let mut values = parse_lines(&bytes);
        values[2]["record"]["event"] = json!("concluded");
        values[2]["record"]["outcome"] = json!("cancelled");
        let forged = rechain(&values, None);
        // Without a key, a rewritten chain is indistinguishable.
        assert_eq!(check(&forged, None).unwrap().records, 4);
        assert!(matches!(
            check(&forged, Some(KEY)),
            Err(VerifyError::Changed { line: 1, seq: 1 })
        ));
        // Keeping the keyed lines before the change and forging from it on.
        let mut mixed: Vec<u8> = split(&bytes)[..2].concat();
        let tail = rechain(&values, None);
        mixed.extend(split(&tail)[2..].concat());
        assert!(matches!(
            check(&mixed, Some(KEY)),
            Err(VerifyError::Changed { line: 3, seq: 3 })
        ));
    }

    #[test]
    fn every_changed_byte_is_named_at_its_line() {
        for key in [None, Some(KEY)] {
            let bytes = log_bytes(3, key);
            let lines = split(&bytes);
            let mut line_of = Vec::new();
            for (index, line) in lines.iter().enumerate() {
                line_of.extend(std::iter::repeat_n(index as u64 + 1, line.len()));
            }
            for position in 0..bytes.len() {
                for replacement in [bytes[position] ^ 0x01, b'x', b' '] {
                    if replacement == bytes[position] {
                        continue;
                    }
                    let mut changed = bytes.clone();
                    changed[position] = replacement;
                    let line = line_of[position];
                    let error = check(&changed, key).unwrap_err();
                    // Only the final newline's loss is a crash's mark.
                    let final_newline = position == bytes.len() - 1;
                    let named = match error {
                        VerifyError::Changed { line: at, seq } => at == line && seq == line,
                        VerifyError::Malformed { line: at, seq, .. } => {
                            !final_newline && at == line && seq == line
                        }
                        VerifyError::Cut { line: at, seq, .. } => {
                            final_newline && at == line && seq == line
                        }
                        _ => false,
                    };
                    assert!(named, "byte {position} of line {line}: {error}");
                }
            }
        }
    }

    #[test]
    fn a_removed_line_is_named() {
        let lines = split(&log_bytes(5, None));
        let without_third = [&lines[..2], &lines[3..]].concat().concat();
        let error = check(&without_third, None).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::Removed {
                line: 3,
                seq: 4,
                expected: 3
            }
        ));
        assert_eq!(
            error.to_string(),
            "record 3 was removed: line 3 holds record 4 in its place"
        );
        assert_eq!(error.line(), Some(3));

        let without_first = lines[1..].concat();
        assert!(matches!(
            check(&without_first, None),
            Err(VerifyError::Removed {
                line: 1,
                seq: 2,
                expected: 1
            })
        ));
    }

    #[test]
    fn a_removal_hidden_by_renumbering_is_named() {
        // The attacker renumbers and rehashes the lines after the removed one
        // but cannot know to fix `prev` as well.
        let mut values = parse_lines(&log_bytes(5, None));
        values.remove(2);
        for (index, value) in values.iter_mut().enumerate().skip(2) {
            value["seq"] = json!(index as u64 + 1);
            let mut body = value.as_object().unwrap().clone();
            body.remove("hash");
            value["hash"] = json!(hex::encode(Sha256::digest(canonical_json(&Value::Object(
                body
            )))));
        }
        let forged: Vec<u8> = values
            .iter()
            .flat_map(|value| {
                let mut line = canonical_json(value);
                line.push(b'\n');
                line
            })
            .collect();
        let error = check(&forged, None).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::Removed {
                line: 3,
                seq: 3,
                expected: 3
            }
        ));
        assert!(
            error
                .to_string()
                .starts_with("record 3 (line 3) does not follow")
        );
    }

    #[test]
    fn reordered_lines_are_named() {
        let lines = split(&log_bytes(5, None));
        let arrange = |order: &[usize]| -> Vec<u8> {
            order
                .iter()
                .flat_map(|&index| lines[index].clone())
                .collect()
        };
        let cases: [(&[usize], u64, u64, u64); 5] = [
            (&[0, 2, 1, 3, 4], 2, 3, 2),
            (&[1, 0, 2, 3, 4], 1, 2, 1),
            (&[0, 1, 2, 4, 3], 4, 5, 4),
            (&[0, 4, 1, 2, 3], 2, 5, 2),
            (&[0, 1, 1, 2, 3, 4], 3, 2, 3),
        ];
        for (order, line, seq, expected) in cases {
            let error = check(&arrange(order), None).unwrap_err();
            assert!(
                matches!(error, VerifyError::Reordered { line: l, seq: s, expected: e } if (l, s, e) == (line, seq, expected)),
                "{order:?}: {error}"
            );
        }
        let error = check(&arrange(&[0, 2, 1, 3, 4]), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "record 3 (line 2) is out of order: record 2 belongs there"
        );
    }

    #[test]
    fn a_cut_last_line_is_named() {
        let bytes = log_bytes(5, None);
        let lines = split(&bytes);
        let before_last = lines[..4].concat().len();
        let cut_at =
            |len: usize| -> Result<VerifyReport, VerifyError> { check(&bytes[..len], None) };
        for len in [before_last + 1, before_last + 40, bytes.len() - 1] {
            let error = cut_at(len).unwrap_err();
            assert!(
                matches!(error, VerifyError::Cut { line: 5, seq: 5, offset, bytes } if offset == before_last as u64 && bytes == (len - before_last) as u64),
                "{len}: {error}"
            );
        }
        assert_eq!(
            cut_at(bytes.len() - 1).unwrap_err().to_string(),
            format!(
                "record 5 (line 5) was cut: the last {} bytes of the log are a line without its newline, \
                 which a crash while writing leaves (opening the log to write sets it aside)",
                lines[4].len() - 1
            )
        );
        // A whole number of lines is a valid, shorter chain.
        assert_eq!(cut_at(before_last).unwrap().records, 4);

        // A complete last line that is not a record is no crash's leftover.
        let mut garbage_last = lines[..4].concat();
        garbage_last.extend_from_slice(b"{\"hash\":\0\0\0\0\n");
        assert!(matches!(
            check(&garbage_last, None),
            Err(VerifyError::Malformed {
                line: 5,
                seq: 5,
                ..
            })
        ));
        let mut garbage_middle = lines[..2].concat();
        garbage_middle.extend_from_slice(b"not json\n");
        garbage_middle.extend(lines[2..].concat());
        let error = check(&garbage_middle, None).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::Malformed {
                line: 3,
                seq: 3,
                ..
            }
        ));
        assert!(
            error
                .to_string()
                .starts_with("line 3 is not an audit record (record 3 belongs there)")
        );
    }

    #[test]
    fn a_changed_record_is_named() {
        let bytes = log_bytes(3, None);
        let text = String::from_utf8(bytes).unwrap();
        let changed = text.replacen("fin@example.com", "fin@example.org", 1);
        let error = check(changed.as_bytes(), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "record 1 (line 1) was changed: its hash does not match its content"
        );
    }

    #[tokio::test]
    async fn removing_records_at_the_end_is_caught_only_with_a_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let heads = write_log(&path, 5, None).await;
        let (seq5, hash5) = heads[4].clone();
        let (seq3, hash3) = heads[2].clone();
        verify_with_head(&path, None, (seq5, &hash5)).unwrap();
        verify_with_head(&path, None, (seq3, &hash3)).unwrap();
        verify_with_head(&path, None, (seq3, &hash3.to_ascii_uppercase())).unwrap();
        verify_with_head(&path, None, (0, &"0".repeat(64))).unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let shorter = split(&bytes)[..4].concat();
        std::fs::write(&path, &shorter).unwrap();
        assert_eq!(verify(&path, None).unwrap().records, 4);
        verify_with_head(&path, None, (seq3, &hash3)).unwrap();
        let error = verify_with_head(&path, None, (seq5, &hash5)).unwrap_err();
        assert!(
            matches!(
                &error,
                VerifyError::HeadMismatch {
                    seq: 5,
                    found: None,
                    records: 4,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            "the log ends at record 4, before the expected head, record 5: records were removed from the end"
        );
        let error = verify_with_head(&path, None, (seq3, &hash5)).unwrap_err();
        assert!(matches!(
            &error,
            VerifyError::HeadMismatch { seq: 3, found: Some(found), .. } if *found == hash3
        ));
        // The first bad record wins over the head.
        let mut broken = shorter.clone();
        broken[10] ^= 1;
        let error = verify_reader_with_head(&broken[..], None, (seq5, &hash5)).unwrap_err();
        assert!(matches!(error, VerifyError::Changed { line: 1, .. }));
    }

    #[test]
    fn an_empty_log_verifies() {
        let report = check(b"", None).unwrap();
        assert_eq!(report.records, 0);
        assert_eq!(report.head, None);
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = verify(dir.path().join("nope.jsonl"), None).unwrap_err();
        assert!(matches!(error, VerifyError::Io(_)));
        assert_eq!(error.line(), None);
    }

    #[tokio::test]
    async fn reopening_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let heads = write_log(&path, 2, Some(KEY)).await;
        let audit = JsonlAudit::builder(&path).hmac_key(KEY).open().unwrap();
        assert_eq!(audit.head(), Some(heads[1].clone()));
        assert!(audit.recovered().is_none());
        audit.record(&sample(3)).await.unwrap();
        assert_eq!(audit.head().unwrap().0, 3);
        drop(audit);
        let report = verify(&path, Some(KEY)).unwrap();
        assert_eq!(report.records, 3);
    }

    #[tokio::test]
    async fn open_moves_a_cut_last_line_aside_and_continues() {
        let tails: [&[u8]; 3] = [
            b"{\"hash\":\"0123",
            b"\0\0\0\0\0\0\0\0",
            b"{\"hash\":\"garbage that a torn write left\"}",
        ];
        for tail in tails {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("audit.jsonl");
            let heads = write_log(&path, 3, None).await;
            let good = std::fs::read(&path).unwrap();
            let mut file = OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(tail).unwrap();
            drop(file);

            let audit = JsonlAudit::open(&path).unwrap();
            let recovery = audit.recovered().unwrap().clone();
            assert_eq!((recovery.line, recovery.seq), (4, 4));
            assert_eq!(recovery.bytes, tail.len() as u64);
            assert_eq!(std::fs::read(&recovery.side_file).unwrap(), tail);
            assert!(
                recovery
                    .side_file
                    .to_string_lossy()
                    .starts_with(&format!("{}.cut-", path.display()))
            );
            assert_eq!(std::fs::read(&path).unwrap(), good);
            assert_eq!(audit.head(), Some(heads[2].clone()));
            audit.record(&sample(4)).await.unwrap();
            audit.close().await.unwrap();
            assert_eq!(verify(&path, None).unwrap().records, 4);
        }
    }

    #[tokio::test]
    async fn open_refuses_a_tampered_log_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 3, None).await;
        let mut bytes = std::fs::read(&path).unwrap();
        let second = split(&bytes)[0].len() + 100;
        bytes[second] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let error = JsonlAudit::open(&path).unwrap_err();
        assert!(
            matches!(
                &error,
                OpenError::Broken {
                    source: VerifyError::Changed { line: 2, seq: 2 },
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("refusing to append to it: record 2 (line 2) was changed")
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(matches!(AuditError::from(error), AuditError::Other(_)));
    }

    #[tokio::test]
    async fn open_refuses_a_log_under_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 2, Some(KEY)).await;
        for builder in [
            JsonlAudit::builder(&path),
            JsonlAudit::builder(&path).hmac_key(b"wrong".to_vec()),
        ] {
            assert!(matches!(
                builder.open(),
                Err(OpenError::Broken {
                    source: VerifyError::Changed { line: 1, .. },
                    ..
                })
            ));
        }
        assert!(matches!(
            JsonlAudit::builder(&path).hmac_key(Vec::new()).open(),
            Err(OpenError::EmptyKey)
        ));
    }

    #[test]
    fn the_builder_does_not_show_the_key() {
        let builder = JsonlAudit::builder("audit.jsonl").hmac_key(KEY);
        let shown = format!("{builder:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("secret"));
    }

    #[test]
    fn the_padded_key_is_standard_hmac() {
        for length in [0usize, 1, 31, 32, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..length).map(|i| (i * 7 + 1) as u8).collect();
            let tail = b"\"prev\":\"x\",\"seq\":1}";
            let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
            mac.update(b"{");
            mac.update(tail);
            let expected: [u8; 32] = mac.finalize().into_bytes().into();
            assert_eq!(ChainKey::keyed(&key).digest(tail), expected, "{length}");
        }
    }

    #[tokio::test]
    async fn records_after_close_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let audit = JsonlAudit::open(dir.path().join("audit.jsonl")).unwrap();
        audit.record(&sample(1)).await.unwrap();
        audit.flush().await.unwrap();
        audit.close().await.unwrap();
        assert!(matches!(
            audit.record(&sample(2)).await,
            Err(AuditError::Closed)
        ));
        assert!(matches!(audit.flush().await, Err(AuditError::Closed)));
        assert!(matches!(audit.close().await, Err(AuditError::Closed)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_records_are_all_chained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = Arc::new(JsonlAudit::open(&path).unwrap());
        let tasks: Vec<_> = (0..32)
            .map(|task| {
                let audit = Arc::clone(&audit);
                tokio::spawn(async move {
                    for index in 0..20 {
                        audit.record(&sample(task * 100 + index)).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(audit.head().unwrap().0, 640);
        drop(audit);
        assert_eq!(verify(&path, None).unwrap().records, 640);
    }

    /// A disk in memory that fills up, fails syncs or truncations on demand,
    /// and counts syncs.
    #[derive(Clone, Default)]
    struct TestDisk(Arc<Mutex<Disk>>);

    #[derive(Default)]
    struct Disk {
        bytes: Vec<u8>,
        capacity: Option<usize>,
        fail_sync: bool,
        fail_truncate: bool,
        syncs: usize,
        sync_delay: Duration,
    }

    impl TestDisk {
        fn with<R>(&self, change: impl FnOnce(&mut Disk) -> R) -> R {
            change(&mut self.0.lock().unwrap())
        }

        fn bytes(&self) -> Vec<u8> {
            self.with(|disk| disk.bytes.clone())
        }

        fn syncs(&self) -> usize {
            self.with(|disk| disk.syncs)
        }

        fn start(&self, fsync: Fsync) -> JsonlAudit {
            let chain = Chain {
                seq: 0,
                prev: GENESIS,
                len: 0,
            };
            JsonlAudit::start(
                self.clone(),
                chain,
                ChainKey::Plain,
                fsync,
                "test".into(),
                None,
            )
            .unwrap()
        }
    }

    impl Storage for TestDisk {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.with(|disk| {
                let room = disk.capacity.map_or(usize::MAX, |capacity| {
                    capacity.saturating_sub(disk.bytes.len())
                });
                if bytes.len() > room {
                    disk.bytes.extend_from_slice(&bytes[..room]);
                    return Err(io::Error::new(
                        io::ErrorKind::StorageFull,
                        "no space left on device",
                    ));
                }
                disk.bytes.extend_from_slice(bytes);
                Ok(())
            })
        }

        fn sync(&mut self) -> io::Result<()> {
            let delay = self.with(|disk| disk.sync_delay);
            std::thread::sleep(delay);
            self.with(|disk| {
                disk.syncs += 1;
                if disk.fail_sync {
                    Err(io::Error::other("sync failed"))
                } else {
                    Ok(())
                }
            })
        }

        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.with(|disk| {
                if disk.fail_truncate {
                    return Err(io::Error::other("truncate failed"));
                }
                disk.bytes.truncate(len as usize);
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn a_full_disk_fails_the_record_and_keeps_the_log_valid() {
        let disk = TestDisk::default();
        let audit = disk.start(Fsync::EveryRecord);
        audit.record(&sample(1)).await.unwrap();
        audit.record(&sample(2)).await.unwrap();
        let head = audit.head();
        let good = disk.bytes();
        disk.with(|disk| disk.capacity = Some(good.len() + 100));

        for index in [3, 4] {
            let error = audit.record(&sample(index)).await.unwrap_err();
            match error {
                AuditError::Io(error) => assert_eq!(error.kind(), io::ErrorKind::StorageFull),
                other => panic!("{other}"),
            }
            assert_eq!(disk.bytes(), good, "the partial line is cut off");
            assert_eq!(audit.head(), head);
            assert_eq!(check(&disk.bytes(), None).unwrap().records, 2);
        }

        disk.with(|disk| disk.capacity = None);
        audit.record(&sample(5)).await.unwrap();
        let report = check(&disk.bytes(), None).unwrap();
        assert_eq!(report.records, 3);
        assert_eq!(audit.head(), report.head);
        let third = parse_lines(&disk.bytes()).pop().unwrap();
        assert_eq!(third["seq"], json!(3));
        assert_eq!(third["prev"], json!(head.unwrap().1));
        assert_eq!(third["record"]["request_id"], json!("req-5"));
    }

    #[tokio::test]
    async fn a_failed_sync_rolls_the_lines_back() {
        let disk = TestDisk::default();
        let audit = disk.start(Fsync::group_commit());
        audit.record(&sample(1)).await.unwrap();
        let good = disk.bytes();
        disk.with(|disk| disk.fail_sync = true);
        assert!(matches!(
            audit.record(&sample(2)).await,
            Err(AuditError::Io(_))
        ));
        assert_eq!(disk.bytes(), good);
        assert!(audit.flush().await.is_err());
        disk.with(|disk| disk.fail_sync = false);
        audit.record(&sample(3)).await.unwrap();
        assert_eq!(check(&disk.bytes(), None).unwrap().records, 2);
    }

    #[tokio::test]
    async fn nothing_is_appended_until_a_partial_line_is_cut_off() {
        let disk = TestDisk::default();
        let audit = disk.start(Fsync::EveryRecord);
        audit.record(&sample(1)).await.unwrap();
        let good = disk.bytes();
        disk.with(|disk| {
            disk.capacity = Some(good.len() + 50);
            disk.fail_truncate = true;
        });
        assert!(audit.record(&sample(2)).await.is_err());
        let stuck = disk.bytes();
        assert_eq!(stuck.len(), good.len() + 50);
        disk.with(|disk| disk.capacity = None);
        assert!(audit.record(&sample(3)).await.is_err());
        assert_eq!(disk.bytes(), stuck, "nothing lands after the partial line");

        disk.with(|disk| disk.fail_truncate = false);
        audit.record(&sample(4)).await.unwrap();
        let report = check(&disk.bytes(), None).unwrap();
        assert_eq!(report.records, 2);
    }

    /// Records `sample(index)` for every index at once, from one task each.
    async fn record_concurrently(audit: &Arc<JsonlAudit>, indexes: impl Iterator<Item = u64>) {
        let tasks: Vec<_> = indexes
            .map(|index| {
                let audit = Arc::clone(audit);
                tokio::spawn(async move { audit.record(&sample(index)).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn group_commit_syncs_once_per_batch() {
        let disk = TestDisk::default();
        disk.with(|disk| disk.sync_delay = Duration::from_millis(20));
        let audit = Arc::new(disk.start(Fsync::group_commit()));
        record_concurrently(&audit, 0..50).await;
        let syncs = disk.syncs();
        assert!(syncs < 10, "{syncs} syncs for 50 records");
        assert_eq!(check(&disk.bytes(), None).unwrap().records, 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn max_batch_and_max_delay_bound_a_batch() {
        let disk = TestDisk::default();
        let audit = Arc::new(disk.start(Fsync::GroupCommit {
            max_batch: 4,
            max_delay: Duration::from_millis(5),
        }));
        audit.record(&sample(0)).await.unwrap();
        assert_eq!(disk.syncs(), 1);
        record_concurrently(&audit, 1..=12).await;
        // The lone record, then batches of at most 4 for the other 12.
        assert!(disk.syncs() >= 4, "{} syncs", disk.syncs());
        assert_eq!(check(&disk.bytes(), None).unwrap().records, 13);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn every_record_syncs_each_record() {
        let disk = TestDisk::default();
        let audit = Arc::new(disk.start(Fsync::EveryRecord));
        record_concurrently(&audit, 0..10).await;
        assert_eq!(disk.syncs(), 10);
    }

    #[tokio::test]
    async fn never_syncs_only_when_asked() {
        let disk = TestDisk::default();
        let audit = disk.start(Fsync::Never);
        for index in 0..10 {
            audit.record(&sample(index)).await.unwrap();
        }
        assert_eq!(disk.syncs(), 0);
        audit.flush().await.unwrap();
        assert_eq!(disk.syncs(), 1);
        audit.close().await.unwrap();
        assert_eq!(disk.syncs(), 2);
        assert_eq!(check(&disk.bytes(), None).unwrap().records, 10);
    }

    #[test]
    fn dropping_writes_what_was_queued() {
        let disk = TestDisk::default();
        disk.with(|disk| disk.sync_delay = Duration::from_millis(5));
        let audit = disk.start(Fsync::group_commit());
        for index in 0..5 {
            // Polled once: sent to the writer, then abandoned by its caller.
            assert!(audit.record(&sample(index)).now_or_never().is_none());
        }
        drop(audit);
        assert_eq!(check(&disk.bytes(), None).unwrap().records, 5);
    }
}
