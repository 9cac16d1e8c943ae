use proptest::prelude::*;

use super::*;

/// Hex to bytes, for the vectors below.
fn h(hex: &str) -> Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).unwrap();
    out
}

// Known answers from transparency-dev/merkle (Apache-2.0), which Certificate
// Transparency and Trillian share: testonly/constants.go (leaf inputs, roots
// of every tree size) and proof/verify_test.go (inclusion and consistency
// proofs). The inclusion vectors there number leaves from 1.
const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
/// (leaf number from 1, tree size, proof).
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        3,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        2,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];
/// (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn vector_leaves() -> Vec<Hash> {
    LEAF_INPUTS
        .iter()
        .map(|input| leaf_hash(&hex::decode(input).unwrap()))
        .collect()
}

/// The stored form and frontier of a tree over `leaves`.
fn build(leaves: &[Hash]) -> (Vec<Hash>, Frontier) {
    let mut stored = Vec::new();
    let mut frontier = Frontier::new();
    for leaf in leaves {
        frontier.push(*leaf, &mut stored);
    }
    (stored, frontier)
}

fn hashes(hex: &[&str]) -> Vec<Hash> {
    hex.iter().map(|hex| h(hex)).collect()
}

#[test]
fn the_empty_tree_is_the_hash_of_nothing() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    assert_eq!(Frontier::new().root(), h(ROOTS[0]));
    assert_eq!(tree_root(&Vec::new(), 0).unwrap(), h(ROOTS[0]));
}

#[test]
fn roots_of_small_trees_match_the_reference() {
    let leaves = vector_leaves();
    let (stored, _) = build(&leaves);
    for size in 0..=leaves.len() {
        let (_, frontier) = build(&leaves[..size]);
        assert_eq!(frontier.root(), h(ROOTS[size]), "size {size}");
        assert_eq!(root_of(&leaves[..size]), h(ROOTS[size]), "size {size}");
        assert_eq!(tree_root(&stored, size as u64).unwrap(), h(ROOTS[size]));
        assert_eq!(
            Frontier::from_store(&stored, size as u64).unwrap(),
            frontier
        );
    }
    assert_eq!(stored.len() as u64, stored_hash_count(8));
}

#[test]
fn inclusion_proofs_match_the_reference() {
    let leaves = vector_leaves();
    let (stored, _) = build(&leaves);
    for (number, size, proof) in INCLUSION {
        let index = number - 1;
        let proof = hashes(proof);
        assert_eq!(inclusion_proof(&stored, index, size).unwrap(), proof);
        let root = h(ROOTS[size as usize]);
        verify_inclusion(index, size, &leaves[index as usize], &proof, &root).unwrap();
        // Corruptions from the same suite: wrong index, size, root, length.
        let leaf = &leaves[index as usize];
        assert!(verify_inclusion(index ^ 2, size, leaf, &proof, &root).is_err());
        assert!(verify_inclusion(index, size * 2, leaf, &proof, &root).is_err());
        assert!(verify_inclusion(index, size, leaf, &proof, &h(ROOTS[0])).is_err());
        let mut longer = proof.clone();
        longer.push(root);
        assert!(verify_inclusion(index, size, leaf, &longer, &root).is_err());
        for at in 0..proof.len() {
            let mut flipped = proof.clone();
            flipped[at][0] ^= 8;
            assert!(verify_inclusion(index, size, leaf, &flipped, &root).is_err());
        }
    }
}

#[test]
fn consistency_proofs_match_the_reference() {
    let leaves = vector_leaves();
    let (stored, _) = build(&leaves);
    for (old, new, proof) in CONSISTENCY {
        let proof = hashes(proof);
        assert_eq!(consistency_proof(&stored, old, new).unwrap(), proof);
        let (old_root, new_root) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
        if !proof.is_empty() {
            assert!(verify_consistency(old, new, &new_root, &old_root, &proof).is_err());
            assert!(verify_consistency(old, new, &old_root, &new_root, &[]).is_err());
            assert!(verify_consistency(old, new, &old_root, &new_root, &proof[1..]).is_err());
            assert!(verify_consistency(old ^ 2, new, &old_root, &new_root, &proof).is_err());
        }
    }
}

#[test]
fn trivial_consistency_follows_the_reference() {
    let (a, b) = (h(ROOTS[1]), h(ROOTS[2]));
    verify_consistency(0, 0, &a, &a, &[]).unwrap();
    verify_consistency(0, 1, &a, &b, &[]).unwrap();
    assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 1, &a, &a, &[h(ROOTS[0])]).is_err());
}

#[test]
fn the_stored_layout_is_go_tlogs() {
    // golang.org/x/mod/sumdb/tlog: leaves 0, 1, then their parent, leaf 2, ...
    assert_eq!(stored_hash_index(0, 0), 0);
    assert_eq!(stored_hash_index(0, 1), 1);
    assert_eq!(stored_hash_index(1, 0), 2);
    assert_eq!(stored_hash_index(0, 2), 3);
    assert_eq!(stored_hash_index(0, 3), 4);
    assert_eq!(stored_hash_index(1, 1), 5);
    assert_eq!(stored_hash_index(2, 0), 6);
    for size in 0..2_000 {
        assert_eq!(size_for_stored_hashes(stored_hash_count(size)), size);
        assert_eq!(
            size_for_stored_hashes(stored_hash_count(size + 1) - 1),
            size
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_proof_of_a_random_tree_verifies(size in 1u64..=10_000, seed in any::<u64>()) {
        let leaves: Vec<Hash> = (0..size)
            .map(|i| leaf_hash(&(seed ^ i).to_le_bytes()))
            .collect();
        let (stored, frontier) = build(&leaves);
        let root = frontier.root();
        prop_assert_eq!(tree_root(&stored, size).unwrap(), root);
        let step = (size / 200).max(1);
        for index in (0..size).step_by(step as usize).chain([size - 1]) {
            let proof = inclusion_proof(&stored, index, size).unwrap();
            prop_assert!(verify_inclusion(index, size, &leaves[index as usize], &proof, &root).is_ok());
            // Another leaf at that place does not verify.
            let other = leaf_hash(b"changed");
            prop_assert!(matches!(
                verify_inclusion(index, size, &other, &proof, &root),
                Err(ProofError::RootMismatch)
            ));
            let old = index + 1;
            let old_root = tree_root(&stored, old).unwrap();
            let proof = consistency_proof(&stored, old, size).unwrap();
            prop_assert!(verify_consistency(old, size, &old_root, &root, &proof).is_ok());
        }
    }

    #[test]
    fn every_leaf_of_a_small_tree_verifies(size in 1u64..=300) {
        let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let (stored, frontier) = build(&leaves);
        let root = frontier.root();
        prop_assert_eq!(root_of(&leaves), root);
        for index in 0..size {
            let proof = inclusion_proof(&stored, index, size).unwrap();
            prop_assert!(verify_inclusion(index, size, &leaves[index as usize], &proof, &root).is_ok());
        }
        for old in 0..=size {
            let old_root = tree_root(&stored, old).unwrap();
            let proof = consistency_proof(&stored, old, size).unwrap();
            prop_assert!(verify_consistency(old, size, &old_root, &root, &proof).is_ok());
            if old > 0 && old < size {
                // A different history at the old size is caught.
                let forked = leaf_hash(b"fork");
                prop_assert!(verify_consistency(old, size, &forked, &root, &proof).is_err());
            }
        }
    }
}
