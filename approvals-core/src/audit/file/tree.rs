//! The Merkle tree kept beside a log, `<log>.tree`: its stored hashes (see
//! [`merkle`](crate::audit::merkle)), 32 bytes each, appended as records are.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::audit::merkle::{Frontier, Hash, HashStore, size_for_stored_hashes, stored_hash_count};

/// `<log>.tree`.
pub(crate) fn tree_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".tree");
    PathBuf::from(name)
}

/// A stored tree read from a file, for proofs: each hash read is one
/// positioned read of 32 bytes.
#[derive(Debug)]
pub struct TreeFile {
    file: File,
    size: u64,
}

impl TreeFile {
    /// Opens the tree kept beside the log at `log` (`<log>.tree`), for
    /// reading.
    pub fn open_beside(log: impl AsRef<Path>) -> io::Result<Self> {
        let file = File::open(tree_path(log.as_ref()))?;
        let hashes = file.metadata()?.len() / 32;
        Ok(Self {
            file,
            size: size_for_stored_hashes(hashes),
        })
    }

    /// How many records the stored tree covers.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl HashStore for TreeFile {
    fn stored_hash(&self, index: u64) -> io::Result<Hash> {
        let mut hash = [0u8; 32];
        read_at(&self.file, &mut hash, index * 32)?;
        Ok(hash)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// Checks the stored tree against the log's leaves as the log is scanned on
/// open, and appends what the tree lacks.
pub(super) struct TreeCatchUp {
    pub(super) frontier: Frontier,
    /// The stored tree's size once cut to whole leaves.
    pub(super) stored_size: u64,
    reader: BufReader<File>,
    writer: File,
    /// Stored hashes still to compare.
    to_compare: u64,
    /// The first leaf (from 0) whose stored hashes differ from the log's.
    pub(super) mismatch: Option<u64>,
    stored: Vec<Hash>,
    out: Vec<u8>,
}

impl TreeCatchUp {
    /// Opens (or creates) `<log>.tree`, cutting any partial tail.
    pub(super) fn open(log: &Path) -> io::Result<Self> {
        let path = tree_path(log);
        let writer = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let hashes = writer.metadata()?.len() / 32;
        let stored_size = size_for_stored_hashes(hashes);
        let keep = stored_hash_count(stored_size);
        writer.set_len(keep * 32)?;
        let mut writer = writer;
        writer.seek(SeekFrom::End(0))?;
        Ok(Self {
            frontier: Frontier::new(),
            stored_size,
            reader: BufReader::with_capacity(64 * 1024, File::open(&path)?),
            writer,
            to_compare: keep,
            mismatch: None,
            stored: Vec::with_capacity(64),
            out: Vec::with_capacity(64 * 1024),
        })
    }

    /// Adds the next leaf.
    pub(super) fn push(&mut self, leaf: Hash) -> io::Result<()> {
        if self.mismatch.is_some() {
            return Ok(());
        }
        let index = self.frontier.size();
        self.stored.clear();
        self.frontier.push(leaf, &mut self.stored);
        for hash in &self.stored {
            if self.to_compare > 0 {
                self.to_compare -= 1;
                let mut found = [0u8; 32];
                self.reader.read_exact(&mut found)?;
                if found != *hash {
                    self.mismatch = Some(index);
                    return Ok(());
                }
            } else {
                self.out.extend_from_slice(hash);
            }
        }
        if self.out.len() >= 60 * 1024 {
            self.writer.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Cuts the stored tree back to the leaves pushed so far.
    pub(super) fn truncate_to_frontier(&mut self) -> io::Result<()> {
        let len = stored_hash_count(self.frontier.size()) * 32;
        self.writer.set_len(len)?;
        self.writer.seek(SeekFrom::Start(len))?;
        self.to_compare = 0;
        self.stored_size = self.frontier.size();
        Ok(())
    }

    /// Writes what is left and hands over the file and the tree's edge.
    pub(super) fn finish(mut self) -> io::Result<(File, Frontier)> {
        self.writer.write_all(&self.out)?;
        Ok((self.writer, self.frontier))
    }
}

/// The writer's side of the tree: appends the hashes of acknowledged
/// records. The tree is derived from the log and caught up on open, so it
/// is not synced; a failed write is cut back and retried with the next batch.
pub(super) struct TreeAppender {
    file: File,
    pub(super) frontier: Frontier,
    /// The file's length up to its last whole write.
    len: u64,
    /// Hashes not yet written.
    out: Vec<u8>,
    stored: Vec<Hash>,
}

impl TreeAppender {
    pub(super) fn new(file: File, frontier: Frontier) -> Self {
        Self {
            file,
            len: stored_hash_count(frontier.size()) * 32,
            frontier,
            out: Vec::with_capacity(8 * 1024),
            stored: Vec::with_capacity(64),
        }
    }

    pub(super) fn push(&mut self, leaf: Hash) {
        self.stored.clear();
        self.frontier.push(leaf, &mut self.stored);
        for hash in &self.stored {
            self.out.extend_from_slice(hash);
        }
    }

    pub(super) fn write(&mut self) {
        if self.out.is_empty() {
            return;
        }
        match self.file.write_all(&self.out) {
            Ok(()) => {
                self.len += self.out.len() as u64;
                self.out.clear();
            }
            Err(_) => {
                // Kept for the next batch; a file that cannot be cut back is
                // rebuilt from the log on the next open.
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
            }
        }
    }
}
