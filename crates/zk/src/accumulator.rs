//! The accumulator of attested commitments: an append-only Poseidon Merkle tree of depth 24.
//!
//! The chain stores only the *frontier* (one node per set bit of the leaf count) and recomputes
//! the root after each append, as Zcash's note commitment tree and Semaphore's groups do. An
//! enrolment proves its commitment is *some* leaf under a root the chain has seen, without saying
//! which, so enrolments are not linked to the attestation nor to each other.
//!
//! Nodes are `H(left, right)` (one Poseidon permutation); an empty leaf is `0` (no commitment is
//! 0 except with negligible probability) and an empty subtree of height `h` is
//! `Z_h = H(Z_{h-1}, Z_{h-1})`. The depth is fixed, so a node can never be confused with a leaf.

use crate::codec::{FIELD_BYTES, Reader, fr_to_bytes};
use crate::error::{Result, ZkError};
use crate::ids::{AccumulatorRoot, Commitment};
use crate::poseidon::{Fr, hash};
use crate::shape::ACCUMULATOR_DEPTH;
use ark_ff::PrimeField;
use std::sync::OnceLock;

const DEPTH: usize = ACCUMULATOR_DEPTH as usize;
/// Leaves the accumulator can hold.
const CAPACITY: u64 = 1 << DEPTH;
const MAGIC: &[u8] = b"MCZKAC\x01";

/// A Merkle node from its two children.
pub(crate) fn node(left: Fr, right: Fr) -> Fr {
    hash(&[left, right])
}

/// `Z_0 … Z_DEPTH`: roots of empty subtrees of each height.
fn empty_roots() -> &'static [Fr; DEPTH + 1] {
    static EMPTY: OnceLock<[Fr; DEPTH + 1]> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let mut roots = [Fr::from(0u64); DEPTH + 1];
        for height in 1..=DEPTH {
            roots[height] = node(roots[height - 1], roots[height - 1]);
        }
        roots
    })
}

/// Incremental Merkle tree (frontier only): what the chain stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accumulator {
    count: u64,
    /// `frontier[h]` is the root of the complete subtree of height `h` left of the next free
    /// leaf, present exactly when bit `h` of `count` is set.
    frontier: [Option<Fr>; DEPTH + 1],
    root: Fr,
}

impl Default for Accumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Accumulator {
    /// The empty accumulator, depth 24.
    pub fn new() -> Self {
        Self {
            count: 0,
            frontier: [None; DEPTH + 1],
            root: empty_roots()[DEPTH],
        }
    }

    /// Appends a commitment and returns its leaf index; [`ZkError::AccumulatorFull`] after 2^24.
    pub fn append(&mut self, leaf: &Commitment) -> Result<u64> {
        let leaf = leaf.field()?;
        if self.count == CAPACITY {
            return Err(ZkError::AccumulatorFull);
        }
        let mut carry = leaf;
        let mut height = 0;
        while self.count >> height & 1 == 1 {
            let left = self.frontier[height].take().unwrap_or_default();
            carry = node(left, carry);
            height += 1;
        }
        self.frontier[height] = Some(carry);
        let index = self.count;
        self.count += 1;
        self.root = self.compute_root();
        Ok(index)
    }

    /// The current root.
    pub fn root(&self) -> AccumulatorRoot {
        AccumulatorRoot::from_field(self.root)
    }

    /// Number of leaves appended.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no leaf was appended yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Folds the frontier with empty subtrees up to the root.
    fn compute_root(&self) -> Fr {
        if self.count == CAPACITY {
            return self.frontier[DEPTH].unwrap_or_default();
        }
        let empty = empty_roots();
        let mut current = empty[0];
        for (left, empty_sibling) in self.frontier.iter().zip(empty).take(DEPTH) {
            current = match left {
                Some(left) => node(*left, current),
                None => node(current, *empty_sibling),
            };
        }
        current
    }

    /// Wire form: magic+version (7 bytes), leaf count (u64), then one 32-byte node per set bit of
    /// the count, lowest height first.
    pub fn to_bytes(&self) -> Vec<u8> {
        let nodes = self.frontier.iter().flatten();
        let mut out = Vec::with_capacity(MAGIC.len() + 8 + FIELD_BYTES * (DEPTH + 1));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.count.to_le_bytes());
        for node in nodes {
            out.extend_from_slice(&fr_to_bytes(node));
        }
        out
    }

    /// Decodes [`Self::to_bytes`]: count ≤ 2^24, exactly one canonical node per set bit.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new("accumulator", bytes);
        reader.expect_magic(MAGIC)?;
        let count = reader.u64()?;
        if count > CAPACITY {
            return Err(ZkError::malformed("accumulator", "more leaves than 2^24"));
        }
        let mut frontier = [None; DEPTH + 1];
        for (height, slot) in frontier.iter_mut().enumerate() {
            if count >> height & 1 == 1 {
                *slot = Some(reader.field()?);
            }
        }
        reader.finish()?;
        let mut accumulator = Self {
            count,
            frontier,
            root: Fr::from(0u64),
        };
        accumulator.root = accumulator.compute_root();
        Ok(accumulator)
    }
}

/// A leaf's authentication path: its index and the 24 siblings from the leaf up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipPath {
    index: u64,
    siblings: [Fr; DEPTH],
}

impl MembershipPath {
    /// The leaf index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The root this path leads to from `leaf`. (A non-canonical commitment, which
    /// [`crate::RecordOpening::commit`] never yields and [`Accumulator::append`] refuses, is
    /// reduced modulo the field order.)
    pub fn root(&self, leaf: &Commitment) -> AccumulatorRoot {
        let leaf = Fr::from_le_bytes_mod_order(&leaf.0);
        AccumulatorRoot::from_field(self.root_of(leaf))
    }

    pub(crate) fn root_of(&self, leaf: Fr) -> Fr {
        self.siblings
            .iter()
            .enumerate()
            .fold(leaf, |current, (height, sibling)| {
                if self.index >> height & 1 == 1 {
                    node(*sibling, current)
                } else {
                    node(current, *sibling)
                }
            })
    }

    pub(crate) fn siblings(&self) -> &[Fr; DEPTH] {
        &self.siblings
    }

    /// A path of the right length for circuit synthesis at setup (values irrelevant).
    pub(crate) fn blank() -> Self {
        Self {
            index: 0,
            siblings: [Fr::from(0u64); DEPTH],
        }
    }

    #[cfg(test)]
    pub(crate) fn with_index(&self, index: u64) -> Self {
        Self {
            index,
            siblings: self.siblings,
        }
    }
}

/// The path of leaf `index` in the accumulator holding `leaves` in order (a client rebuilds the
/// tree from every attested commitment and never asks a node for its own path). `O(len)` hashes.
pub fn membership_path(leaves: &[Commitment], index: u64) -> Result<MembershipPath> {
    if leaves.len() as u64 > CAPACITY {
        return Err(ZkError::AccumulatorFull);
    }
    if index >= leaves.len() as u64 {
        return Err(ZkError::InvalidWitness(format!(
            "no leaf {index} among {} commitments",
            leaves.len()
        )));
    }
    let mut level = leaves
        .iter()
        .map(Commitment::field)
        .collect::<Result<Vec<_>>>()?;
    let empty = empty_roots();
    let mut siblings = [Fr::from(0u64); DEPTH];
    let mut position = index as usize;
    for (height, sibling) in siblings.iter_mut().enumerate() {
        *sibling = level.get(position ^ 1).copied().unwrap_or(empty[height]);
        level = level
            .chunks(2)
            .map(|pair| node(pair[0], pair.get(1).copied().unwrap_or(empty[height])))
            .collect();
        position /= 2;
    }
    Ok(MembershipPath { index, siblings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u64) -> Commitment {
        Commitment::from_field(Fr::from(1000 + i))
    }

    #[test]
    fn appended_roots_match_paths_rebuilt_from_the_leaves() {
        let mut accumulator = Accumulator::new();
        assert_eq!(accumulator.root().field(), Ok(empty_roots()[DEPTH]));
        let mut leaves = Vec::new();
        for i in 0..13 {
            let index = accumulator.append(&leaf(i)).expect("room");
            assert_eq!(index, i);
            leaves.push(leaf(i));
            let root = accumulator.root();
            for (j, l) in leaves.iter().enumerate() {
                let path = membership_path(&leaves, j as u64).expect("path");
                assert_eq!(path.root(l), root, "leaf {j} of {}", leaves.len());
            }
            // A wrong leaf or a wrong position leads elsewhere.
            let path = membership_path(&leaves, 0).expect("path");
            assert_ne!(path.root(&leaf(99)), root);
            if i > 0 {
                assert_ne!(path.with_index(1).root(&leaves[0]), root);
            }
        }
        assert_eq!(accumulator.len(), 13);
        assert!(membership_path(&leaves, 13).is_err());
    }

    #[test]
    fn a_full_accumulator_refuses_appends() {
        let mut frontier = [None; DEPTH + 1];
        frontier[DEPTH] = Some(Fr::from(7u64));
        let mut full = Accumulator {
            count: CAPACITY,
            frontier,
            root: Fr::from(7u64),
        };
        assert_eq!(full.compute_root(), Fr::from(7u64));
        assert_eq!(full.append(&leaf(0)), Err(ZkError::AccumulatorFull));
        // One short of full: the last append fills it and the root is the carried subtree.
        let mut almost = Accumulator::new();
        almost.count = CAPACITY - 1;
        for (height, slot) in almost.frontier.iter_mut().enumerate().take(DEPTH) {
            *slot = Some(empty_roots()[height]);
        }
        assert_eq!(almost.append(&leaf(0)), Ok(CAPACITY - 1));
        assert_eq!(almost.append(&leaf(1)), Err(ZkError::AccumulatorFull));
        assert!(almost.frontier[DEPTH].is_some());
    }

    #[test]
    fn codec_round_trips_and_validates() {
        let mut accumulator = Accumulator::new();
        assert_eq!(
            Accumulator::from_bytes(&accumulator.to_bytes()),
            Ok(accumulator.clone())
        );
        for i in 0..6 {
            accumulator.append(&leaf(i)).expect("room");
        }
        let bytes = accumulator.to_bytes();
        assert_eq!(bytes.len(), 7 + 8 + 2 * 32, "6 = 0b110: two frontier nodes");
        assert_eq!(Accumulator::from_bytes(&bytes), Ok(accumulator.clone()));
        for cut in 0..bytes.len() {
            assert!(
                Accumulator::from_bytes(&bytes[..cut]).is_err(),
                "prefix {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Accumulator::from_bytes(&longer).is_err());
        let mut more = bytes.clone();
        more[7] = 7; // claims 7 leaves (three nodes) with two present
        assert!(Accumulator::from_bytes(&more).is_err());
        let mut huge = bytes.clone();
        huge[7..15].copy_from_slice(&(CAPACITY + 1).to_le_bytes());
        assert!(Accumulator::from_bytes(&huge).is_err());
        let mut non_canonical = bytes;
        non_canonical[15..47].copy_from_slice(&[0xff; 32]);
        assert!(Accumulator::from_bytes(&non_canonical).is_err());
        assert!(accumulator.append(&Commitment([0xff; 32])).is_err());
    }
}
