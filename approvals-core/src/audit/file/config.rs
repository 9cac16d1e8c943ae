//! Opening a log: the fsync policy, the builder and what opening can
//! report (a recovered tail, an error).

#[allow(clippy::wildcard_imports)]
use super::*;

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
    pub(super) path: PathBuf,
    pub(super) fsync: Fsync,
    pub(super) key: Option<Vec<u8>>,
    pub(super) tree: bool,
    pub(super) signer: Option<Arc<SignerKey>>,
    pub(super) origin: Option<String>,
    pub(super) sink: Option<Arc<dyn CheckpointSink>>,
    pub(super) every: Option<u64>,
    pub(super) interval: Option<Duration>,
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
