//! The writer thread that owns the file: batches, appends, syncs, rolls
//! back a failed write, extends the tree and signs checkpoints; and the
//! file operations it needs (the lock, opening, moving a cut tail aside).

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) type Ack = oneshot::Sender<Result<(), AuditError>>;

pub(super) enum Command {
    Record { json: Vec<u8>, ack: Ack },
    Control(Control),
}

/// Commands that take effect after every record queued before them.
pub(super) enum Control {
    Flush(Ack),
    Close(Ack),
    Checkpoint(oneshot::Sender<Result<SignedCheckpoint, AuditError>>),
}

/// The tree and checkpointing, when configured.
pub(super) struct Extras {
    pub(super) tree: Option<TreeAppender>,
    pub(super) checkpoints: Option<Checkpointer>,
}

/// Signs checkpoints for the writer.
pub(super) struct Checkpointer {
    pub(super) signer: Arc<SignerKey>,
    pub(super) origin: String,
    pub(super) sink: Arc<dyn CheckpointSink>,
    pub(super) every: Option<u64>,
    pub(super) interval: Option<Duration>,
    pub(super) signed_size: Option<u64>,
    pub(super) signed_at: Instant,
}

impl Checkpointer {
    pub(super) fn due(&self, size: u64) -> bool {
        if self.signed_size == Some(size) {
            return false;
        }
        let added = size - self.signed_size.unwrap_or(0);
        self.every.is_some_and(|every| added >= every)
            || self
                .interval
                .is_some_and(|interval| self.signed_at.elapsed() >= interval)
    }

    pub(super) fn sign(&mut self, size: u64, root: Hash) -> Result<SignedCheckpoint, AuditError> {
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
pub(super) trait Storage {
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
pub(super) struct Chain {
    pub(super) seq: u64,
    pub(super) prev: [u8; 32],
    pub(super) len: u64,
}

pub(super) struct Writer<S> {
    pub(super) storage: S,
    /// What is durably in the file, as far as acknowledgements go.
    pub(super) committed: Chain,
    /// The chain including the lines in `buffer`, not yet written.
    pub(super) pending: Chain,
    pub(super) key: ChainKey,
    pub(super) sync: bool,
    pub(super) max_batch: usize,
    pub(super) max_delay: Duration,
    pub(super) buffer: Vec<u8>,
    pub(super) acks: Vec<Ack>,
    /// A failed write may have left part of a line that could not be cut
    /// off; nothing is appended until it is.
    pub(super) needs_truncate: bool,
    pub(super) head: SharedHead,
    pub(super) tree: Option<TreeAppender>,
    /// Leaf hashes of the records in `buffer`.
    pub(super) leaves: Vec<Hash>,
    pub(super) checkpoints: Option<Checkpointer>,
}

impl<S: Storage> Writer<S> {
    pub(super) fn new(
        storage: S,
        chain: Chain,
        key: ChainKey,
        fsync: Fsync,
        head: SharedHead,
    ) -> Self {
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

    pub(super) fn run(mut self, commands: &Receiver<Command>) {
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
    pub(super) fn checkpoint_wait(&self) -> Option<Duration> {
        let checkpoints = self.checkpoints.as_ref()?;
        let interval = checkpoints.interval?;
        Some(
            interval
                .saturating_sub(checkpoints.signed_at.elapsed())
                .max(Duration::from_millis(1)),
        )
    }

    pub(super) fn checkpoint_if_due(&mut self) {
        let (Some(checkpoints), Some(tree)) = (&mut self.checkpoints, &self.tree) else {
            return;
        };
        if checkpoints.due(tree.frontier.size()) {
            if let Err(error) = checkpoints.sign(tree.frontier.size(), tree.frontier.root()) {
                tracing::warn!(%error, "could not sign a checkpoint of the audit log");
            }
        }
    }

    pub(super) fn checkpoint_on_close(&self) -> bool {
        match (&self.checkpoints, &self.tree) {
            (Some(checkpoints), Some(tree)) => {
                checkpoints.signed_size != Some(tree.frontier.size())
            }
            _ => false,
        }
    }

    pub(super) fn checkpoint_now(&mut self) -> Result<SignedCheckpoint, AuditError> {
        let (Some(checkpoints), Some(tree)) = (&mut self.checkpoints, &self.tree) else {
            return Err(AuditError::other(CheckpointError::InvalidKey(
                "no checkpoint key was configured for this audit log",
            )));
        };
        checkpoints.sign(tree.frontier.size(), tree.frontier.root())
    }

    /// Adds what is already queued to the batch, stopping at a flush or
    /// close so that it runs after the records before it.
    pub(super) fn fill_batch(&mut self, commands: &Receiver<Command>) -> Option<Control> {
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
    pub(super) fn push(&mut self, record_json: &[u8], ack: Ack) {
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
    pub(super) fn commit(&mut self) {
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

    pub(super) fn write_buffer(&mut self) -> io::Result<()> {
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
    pub(super) fn roll_back(&mut self) {
        // After a failed sync the kernel may have dropped the dirty pages,
        // so the lines are removed even if their write seemed to succeed.
        self.needs_truncate = self.storage.truncate(self.committed.len).is_err();
    }

    pub(super) fn sync_now(&mut self) -> Result<(), AuditError> {
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
pub(super) const LOCK_WAIT: Duration = Duration::from_millis(250);

/// Takes the exclusive lock on the log; `false` if another writer holds it.
pub(super) fn lock(file: &File) -> io::Result<bool> {
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
pub(super) fn open_log(path: &Path) -> io::Result<(File, bool)> {
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
pub(super) fn sync_parent(path: &Path) -> io::Result<()> {
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
pub(super) fn move_cut_aside(path: &Path, mut file: &File, offset: u64) -> io::Result<PathBuf> {
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
pub(super) fn stuck() -> io::Error {
    io::Error::other("the audit log could not be cut back after an earlier write failed")
}

/// `io::Error` is not `Clone`; each record of a failed batch gets its own.
pub(super) fn copy_io_error(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}
