//! The two numbers that fix a circuit, and hence a key pair.

use crate::error::{Result, ZkError};

/// Largest supported number of attributes per record (2^20): keeps the tree depth ≤ 20 and every
/// attribute index well inside the 32-bit in-circuit index registers.
pub const MAX_ATTRIBUTES: u32 = 1 << 20;
/// Largest supported number of clause slots per predicate.
pub const MAX_CLAUSES: u16 = 64;

/// Shape of the universal eligibility circuit: `N` attributes per record, `K` clause slots.
///
/// One setup serves every predicate with at most `K` clauses over records of exactly `N`
/// attributes (S4-flow step 4, "one universal circuit" of issue 4). The record commitment is a
/// Poseidon Merkle tree of depth `ceil(log2 N)` (at least 1), so each clause costs
/// `O(log N)` constraints and the whole circuit `O(K log N)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CircuitShape {
    num_attributes: u32,
    max_clauses: u16,
}

impl CircuitShape {
    /// Checks `1 ≤ num_attributes ≤ 2^20` and `1 ≤ max_clauses ≤ 64`.
    pub fn new(num_attributes: u32, max_clauses: u16) -> Result<Self> {
        if num_attributes == 0 || num_attributes > MAX_ATTRIBUTES {
            return Err(ZkError::InvalidShape(format!(
                "num_attributes {num_attributes} not in 1..={MAX_ATTRIBUTES}"
            )));
        }
        if max_clauses == 0 || max_clauses > MAX_CLAUSES {
            return Err(ZkError::InvalidShape(format!(
                "max_clauses {max_clauses} not in 1..={MAX_CLAUSES}"
            )));
        }
        Ok(Self {
            num_attributes,
            max_clauses,
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

    /// Merkle tree depth: the number of index bits, `max(1, ceil(log2 N))`.
    pub fn depth(&self) -> usize {
        self.leaf_count().trailing_zeros() as usize
    }

    /// Leaves in the tree: `N` rounded up to a power of two, at least 2 (arkworks' minimum).
    pub(crate) fn leaf_count(&self) -> usize {
        crate::record::leaf_count(self.num_attributes)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.num_attributes.to_le_bytes());
        out.extend_from_slice(&self.max_clauses.to_le_bytes());
    }

    pub(crate) fn read(reader: &mut crate::codec::Reader<'_>) -> Result<Self> {
        let num_attributes = reader.u32()?;
        let max_clauses = reader.u16()?;
        Self::new(num_attributes, max_clauses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_ceil_log2_with_minimum_one() {
        let depth = |n| CircuitShape::new(n, 8).map(|s| s.depth());
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
        assert!(CircuitShape::new(0, 8).is_err());
        assert!(CircuitShape::new(MAX_ATTRIBUTES + 1, 8).is_err());
        assert!(CircuitShape::new(10, 0).is_err());
        assert!(CircuitShape::new(10, MAX_CLAUSES + 1).is_err());
    }
}
