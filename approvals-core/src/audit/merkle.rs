//! An RFC 9162 Merkle tree over audit records: hashing, the compact form
//! kept beside a log, and inclusion and consistency proofs with their
//! verifiers.
//!
//! The tree's leaves are the log's records in order; leaf `i` (from 0) is
//! the record with sequence number `i + 1`. A leaf hash is
//! `SHA-256(0x00 ‖ data)` and an inner node `SHA-256(0x01 ‖ left ‖ right)`
//! (RFC 9162 §2.1.1), so the roots and proofs are those any Certificate
//! Transparency or `tlog` tool computes over the same leaves.
//!
//! # Stored form
//!
//! A tree of `n` leaves is kept as the hashes of its complete subtrees (a
//! subtree of `2^k` leaves starting at a multiple of `2^k`), in the order
//! they are completed: each leaf's hash, followed by the hashes of the
//! subtrees it completes, lowest first. This is the layout of Go's
//! `golang.org/x/mod/sumdb/tlog` (`StoredHashIndex`). It is append-only, holds
//! `2n - popcount(n)` hashes, and any subtree hash, root or proof needs only
//! O(log n) of them ([`HashStore`]).

use std::io;

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of no bytes (RFC 9162 §2.1.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hash of a leaf holding `data`: `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an inner node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the tree over `leaves` (leaf hashes), computed directly: for
/// tests and small trees. Logs keep a [`Frontier`] instead.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The largest power of two below `n` (for `n >= 2`): where RFC 9162 splits
/// a tree of `n` leaves.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where the hash of the complete subtree at `level` (0 for leaves) and
/// position `index` within that level sits in the stored form.
pub fn stored_hash_index(level: u32, index: u64) -> u64 {
    // Level L's n-th hash is written right after level L-1's (2n+1)-th:
    // walk down to the leaf that completes it, which sits at
    // n + n/2 + n/4 + …, then skip the L hashes it completes below.
    let mut n = index;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut at = 0u64;
    let mut rest = n;
    while rest > 0 {
        at += rest;
        rest >>= 1;
    }
    at + u64::from(level)
}

/// How many hashes the stored form of a tree of `size` leaves holds.
pub fn stored_hash_count(size: u64) -> u64 {
    2 * size - u64::from(size.count_ones())
}

/// The largest tree size whose stored form fits in `hashes` stored hashes.
pub fn size_for_stored_hashes(hashes: u64) -> u64 {
    // stored_hash_count is increasing; it lies between n and 2n.
    let (mut low, mut high) = (hashes / 2, hashes);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if stored_hash_count(mid) <= hashes {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

/// Random access to a tree's stored hashes (see the [module](self) docs).
pub trait HashStore {
    /// The stored hash at `index` (see [`stored_hash_index`]).
    fn stored_hash(&self, index: u64) -> io::Result<Hash>;
}

impl HashStore for [Hash] {
    fn stored_hash(&self, index: u64) -> io::Result<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|index| self.get(index))
            .copied()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the tree does not hold this hash",
                )
            })
    }
}

impl HashStore for Vec<Hash> {
    fn stored_hash(&self, index: u64) -> io::Result<Hash> {
        self.as_slice().stored_hash(index)
    }
}

impl<T: HashStore + ?Sized> HashStore for &T {
    fn stored_hash(&self, index: u64) -> io::Result<Hash> {
        (**self).stored_hash(index)
    }
}

/// The hash of leaves `[low, high)`, a subtree as RFC 9162 splits trees:
/// `low` is a multiple of the largest power of two not above `high - low`.
fn subtree_hash(store: &impl HashStore, low: u64, high: u64) -> io::Result<Hash> {
    let size = high - low;
    if size.is_power_of_two() {
        let level = size.trailing_zeros();
        return store.stored_hash(stored_hash_index(level, low >> level));
    }
    let k = split(size);
    Ok(node_hash(
        &subtree_hash(store, low, low + k)?,
        &subtree_hash(store, low + k, high)?,
    ))
}

/// The root of the first `size` leaves of a stored tree, from O(log size)
/// stored hashes.
pub fn tree_root(store: &impl HashStore, size: u64) -> io::Result<Hash> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(store, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of the first `size`
/// leaves (RFC 9162 §2.1.3.1), from O(log size) stored hashes.
pub fn inclusion_proof(
    store: &impl HashStore,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(store, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(
    store: &impl HashStore,
    m: u64,
    low: u64,
    high: u64,
    out: &mut Vec<Hash>,
) -> io::Result<()> {
    let n = high - low;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m - low < k {
        path(store, m, low, low + k, out)?;
        out.push(subtree_hash(store, low + k, high)?);
    } else {
        path(store, m, low + k, high, out)?;
        out.push(subtree_hash(store, low, low + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of the first `old` and the first
/// `new` leaves (RFC 9162 §2.1.4.1): empty when `old` is 0 or equal to `new`.
pub fn consistency_proof(
    store: &impl HashStore,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    let mut proof = Vec::new();
    if old > 0 && old < new {
        subproof(store, old, 0, new, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof(
    store: &impl HashStore,
    m: u64,
    low: u64,
    high: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> io::Result<()> {
    let n = high - low;
    if m == n {
        if !complete {
            out.push(subtree_hash(store, low, high)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(store, m, low, low + k, complete, out)?;
        out.push(subtree_hash(store, low + k, high)?);
    } else {
        subproof(store, m - k, low + k, high, false, out)?;
        out.push(subtree_hash(store, low, low + k)?);
    }
    Ok(())
}

/// Checks that `leaf` (a [`leaf_hash`]) is leaf `index` of the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `new` leaves with root `new_root` extends the
/// tree of `old` leaves with root `old_root` (RFC 9162 §2.1.4.2): same
/// leaves, in the same order, only more of them.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old == 0 {
        // Every tree extends the empty tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Why a proof could not be made or did not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf is not in a tree of that size.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf (from 0).
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("a tree of {old} leaves cannot be extended by a tree of {new} leaves")]
    SizesOutOfOrder {
        /// The older tree's size.
        old: u64,
        /// The newer tree's size.
        new: u64,
    },
    /// The proof has too many or too few hashes for the sizes given.
    #[error("the proof has the wrong number of hashes for these tree sizes")]
    WrongLength,
    /// The proof leads to another root: the leaf, or the older tree, is not
    /// part of the tree with that root.
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
    /// The stored tree could not be read.
    #[error("could not read the tree: {0}")]
    Io(#[from] io::Error),
}

/// The right edge of a growing tree: the roots of its complete subtrees,
/// one per set bit of its size, enough to append a leaf and compute the root
/// in O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Complete subtree roots, largest (leftmost) first.
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The right edge of the first `size` leaves of a stored tree, read
    /// from O(log size) stored hashes.
    pub fn from_store(store: &impl HashStore, size: u64) -> io::Result<Self> {
        let mut hashes = Vec::new();
        let mut low = 0;
        for level in (0..64).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                hashes.push(store.stored_hash(stored_hash_index(level, low >> level))?);
                low += width;
            }
        }
        Ok(Self { size, hashes })
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; pushes onto `stored` the hashes the stored form
    /// gains: the leaf's, then those of the subtrees it completes.
    pub fn push(&mut self, leaf: Hash, stored: &mut Vec<Hash>) {
        self.push_with(leaf, |hash| stored.push(hash));
    }

    /// Appends a leaf hash, keeping nothing but the edge.
    pub fn append(&mut self, leaf: Hash) {
        self.push_with(leaf, drop);
    }

    fn push_with(&mut self, leaf: Hash, mut stored: impl FnMut(Hash)) {
        stored(leaf);
        let mut hash = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            hash = node_hash(&left, &hash);
            stored(hash);
            size >>= 1;
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The root hash of the tree.
    pub fn root(&self) -> Hash {
        let mut hashes = self.hashes.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests;
