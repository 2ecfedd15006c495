//! The three numbers that fix a circuit, and hence a key pair.

use crate::error::{Result, ZkError};

/// Largest supported number of attributes per record (2^20): keeps the tree depth ≤ 20 and every
/// attribute index well inside the 32-bit in-circuit index registers.
pub const MAX_ATTRIBUTES: u32 = 1 << 20;
/// Largest supported number of clause slots per predicate.
pub const MAX_CLAUSES: u16 = 64;
/// Largest supported number of none-of (exclusion) slots per predicate.
pub const MAX_EXCLUSIONS: u16 = 16;
/// Indices one none-of slot opens: an exclusion may span at most this many attribute indices
/// (the 16 diagnosis slots of `clinical_v1`).
pub const EXCLUSION_WIDTH: u32 = 16;
/// Depth of the accumulator of attested commitments: 2^24 (16.7 million) leaves.
pub const ACCUMULATOR_DEPTH: u8 = 24;

/// Shape of the universal enrolment circuit: `N` attributes per record, `K` clause slots and `E`
/// none-of slots; the accumulator depth is fixed at [`ACCUMULATOR_DEPTH`].
///
/// One setup serves every predicate with at most `K` clauses and `E` exclusions over records of
/// exactly `N` attributes (S4-flow step 4, "one universal circuit"). The record commitment is a
/// Poseidon Merkle tree of depth `ceil(log2 N)` (at least 1): each clause slot costs one opening
/// (`O(log N)`), each none-of slot [`EXCLUSION_WIDTH`] openings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CircuitShape {
    num_attributes: u32,
    max_clauses: u16,
    max_exclusions: u16,
}

/// Encoded size of a [`CircuitShape`].
pub const SHAPE_BYTES: usize = 8;

impl CircuitShape {
    /// Checks `1 ≤ attributes ≤ 2^20`, `1 ≤ clauses ≤ 64` and `exclusions ≤ 16`.
    pub fn new(attributes: u32, clauses: u16, exclusions: u16) -> Result<Self> {
        if attributes == 0 || attributes > MAX_ATTRIBUTES {
            return Err(ZkError::InvalidShape(format!(
                "attributes {attributes} not in 1..={MAX_ATTRIBUTES}"
            )));
        }
        if clauses == 0 || clauses > MAX_CLAUSES {
            return Err(ZkError::InvalidShape(format!(
                "clauses {clauses} not in 1..={MAX_CLAUSES}"
            )));
        }
        if exclusions > MAX_EXCLUSIONS {
            return Err(ZkError::InvalidShape(format!(
                "exclusions {exclusions} not in 0..={MAX_EXCLUSIONS}"
            )));
        }
        Ok(Self {
            num_attributes: attributes,
            max_clauses: clauses,
            max_exclusions: exclusions,
        })
    }

    /// `N`: attributes per record.
    pub fn num_attributes(&self) -> u32 {
        self.num_attributes
    }

    /// `K`: clause slots per predicate.
    pub fn max_clauses(&self) -> u16 {
        self.max_clauses
    }

    /// `E`: none-of slots per predicate.
    pub fn max_exclusions(&self) -> u16 {
        self.max_exclusions
    }

    /// Record tree depth: the number of attribute index bits, `max(1, ceil(log2 N))`.
    pub fn depth(&self) -> usize {
        self.leaf_count().trailing_zeros() as usize
    }

    /// Leaves in the record tree: `N` rounded up to a power of two, at least 2.
    pub(crate) fn leaf_count(&self) -> usize {
        crate::record::leaf_count(self.num_attributes)
    }

    /// Wire form: `N` (u32), `K` (u16), `E` (u16), little-endian.
    pub fn to_bytes(&self) -> [u8; SHAPE_BYTES] {
        let mut out = [0u8; SHAPE_BYTES];
        out[..4].copy_from_slice(&self.num_attributes.to_le_bytes());
        out[4..6].copy_from_slice(&self.max_clauses.to_le_bytes());
        out[6..].copy_from_slice(&self.max_exclusions.to_le_bytes());
        out
    }

    /// Decodes exactly [`Self::to_bytes`], re-checking the bounds.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = crate::codec::Reader::new("circuit shape", bytes);
        let shape = Self::read(&mut reader)?;
        reader.finish()?;
        Ok(shape)
    }

    pub(crate) fn read(reader: &mut crate::codec::Reader<'_>) -> Result<Self> {
        let num_attributes = reader.u32()?;
        let max_clauses = reader.u16()?;
        let max_exclusions = reader.u16()?;
        Self::new(num_attributes, max_clauses, max_exclusions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_ceil_log2_with_minimum_one() {
        let depth = |n| CircuitShape::new(n, 8, 1).map(|s| s.depth());
        assert_eq!(depth(1), Ok(1));
        assert_eq!(depth(2), Ok(1));
        assert_eq!(depth(3), Ok(2));
        assert_eq!(depth(10), Ok(4));
        assert_eq!(depth(1000), Ok(10));
        assert_eq!(depth(1024), Ok(10));
        assert_eq!(depth(1025), Ok(11));
    }

    #[test]
    fn out_of_range_shapes_are_refused() {
        assert!(CircuitShape::new(0, 8, 0).is_err());
        assert!(CircuitShape::new(MAX_ATTRIBUTES + 1, 8, 0).is_err());
        assert!(CircuitShape::new(10, 0, 0).is_err());
        assert!(CircuitShape::new(10, MAX_CLAUSES + 1, 0).is_err());
        assert!(CircuitShape::new(10, 1, MAX_EXCLUSIONS + 1).is_err());
    }

    #[test]
    fn shape_bytes_round_trip_and_are_checked() {
        let shape = CircuitShape::new(37, 8, 1).expect("shape");
        assert_eq!(CircuitShape::from_bytes(&shape.to_bytes()), Ok(shape));
        assert!(CircuitShape::from_bytes(&shape.to_bytes()[..7]).is_err());
        let mut bad = shape.to_bytes();
        bad[6] = 200;
        assert!(CircuitShape::from_bytes(&bad).is_err());
    }
}
