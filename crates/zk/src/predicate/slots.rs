//! Lowering a predicate to the circuit's `K` clause slots, and the predicate digest.
//!
//! Clauses are laid out group by group; the first clause of each group starts a new conjunct,
//! the others carry `or_previous`. Unused slots are *disabled* (all fields zero) and count as
//! true. Each slot is packed into one field element (200 bits, below the 254-bit modulus):
//!
//! ```text
//! slot = enabled + 2·negated + 4·or_previous + 2^8·first + 2^40·last + 2^72·low + 2^136·high
//! ```
//!
//! with `first, last < 2^32` and `low, high < 2^64` (the circuit range-checks every field, so the
//! packing is injective), and the digest is `D = H(TAG_PREDICATE, N, K, slot_0, …, slot_{K-1})`.
//! Hashing the clause list into one public input (instead of `5K` public inputs) keeps the
//! verifying key at four G1 points whatever `K` is (issue 4: vk ≤ 2 KB).

use super::{Clause, Predicate};
use crate::error::Result;
use crate::poseidon::{Fr, hash, tag_predicate};
use crate::shape::CircuitShape;
use ark_ff::Field;

/// Bit offsets of the packed slot fields.
pub(crate) const FIRST_SHIFT: u64 = 8;
pub(crate) const LAST_SHIFT: u64 = 40;
pub(crate) const LOW_SHIFT: u64 = 72;
pub(crate) const HIGH_SHIFT: u64 = 136;

/// One clause slot, as the circuit sees it: a clause, or `None` for a disabled (padding) slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ClauseSlot {
    pub(crate) clause: Option<Clause>,
    pub(crate) or_previous: bool,
}

/// A slot's fields as integers, zero for a disabled slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SlotFields {
    pub(crate) enabled: bool,
    pub(crate) negated: bool,
    pub(crate) first: u32,
    pub(crate) last: u32,
    pub(crate) low: u64,
    pub(crate) high: u64,
}

impl ClauseSlot {
    pub(crate) fn fields(&self) -> SlotFields {
        self.clause
            .map_or_else(SlotFields::default, |c| SlotFields {
                enabled: true,
                negated: c.negated(),
                first: c.first(),
                last: c.last(),
                low: c.interval().0,
                high: c.interval().1,
            })
    }

    /// The index the prover opens: a satisfying one if any, else the first (then the slot is
    /// false, and so is the result); index 0 for disabled slots.
    pub(crate) fn witness_index(&self, values: &[u64]) -> u32 {
        self.clause
            .map_or(0, |c| c.witness_index(values).unwrap_or(c.first()))
    }

    /// The slot packed into one field element, as the circuit packs it.
    pub(crate) fn packed(&self) -> Fr {
        let f = self.fields();
        let flags =
            u64::from(f.enabled) | u64::from(f.negated) << 1 | u64::from(self.or_previous) << 2;
        let shifted = |value: u64, shift: u64| Fr::from(value) * Fr::from(2u64).pow([shift]);
        Fr::from(flags)
            + shifted(u64::from(f.first), FIRST_SHIFT)
            + shifted(u64::from(f.last), LAST_SHIFT)
            + shifted(f.low, LOW_SHIFT)
            + shifted(f.high, HIGH_SHIFT)
    }
}

/// The predicate's clauses in slot order, padded with disabled slots to `K`.
pub(crate) fn lower(predicate: &Predicate, shape: &CircuitShape) -> Result<Vec<ClauseSlot>> {
    predicate.check_fits(shape)?;
    let mut slots: Vec<ClauseSlot> = predicate
        .groups()
        .iter()
        .flat_map(|group| {
            group
                .iter()
                .enumerate()
                .map(|(position, clause)| ClauseSlot {
                    clause: Some(*clause),
                    or_previous: position > 0,
                })
        })
        .collect();
    slots.resize(usize::from(shape.max_clauses()), ClauseSlot::default());
    Ok(slots)
}

/// Native digest of lowered slots; the circuit recomputes exactly this.
pub(crate) fn digest(shape: &CircuitShape, slots: &[ClauseSlot]) -> Fr {
    let mut inputs = Vec::with_capacity(3 + slots.len());
    inputs.extend([
        tag_predicate(),
        Fr::from(shape.num_attributes()),
        Fr::from(shape.max_clauses()),
    ]);
    inputs.extend(slots.iter().map(ClauseSlot::packed));
    hash(&inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(k: u16) -> CircuitShape {
        CircuitShape::new(16, k).expect("shape")
    }

    fn clause(index: u32, low: u64, high: u64, negated: bool) -> Clause {
        Clause::on(index, low, high, negated).expect("clause")
    }

    #[test]
    fn groups_become_or_chains_and_padding_is_disabled() {
        let p = Predicate::new(vec![
            vec![clause(1, 1, 2, false)],
            vec![clause(2, 3, 4, true), clause(3, 5, 6, false)],
        ])
        .expect("p");
        let slots = lower(&p, &shape(4)).expect("fits");
        let flags: Vec<_> = slots
            .iter()
            .map(|s| (s.fields().enabled, s.fields().negated, s.or_previous))
            .collect();
        assert_eq!(
            flags,
            [
                (true, false, false),
                (true, true, false),
                (true, false, true),
                (false, false, false)
            ]
        );
        assert_eq!(slots[3], ClauseSlot::default());
    }

    #[test]
    fn digest_separates_structure_values_and_shape() {
        let a = clause(1, 1, 2, false);
        let b = clause(2, 1, 2, false);
        let and = Predicate::new(vec![vec![a], vec![b]]).expect("p");
        let or = Predicate::new(vec![vec![a, b]]).expect("p");
        let negated = Predicate::new(vec![vec![a], vec![clause(2, 1, 2, true)]]).expect("p");
        let shifted = Predicate::new(vec![vec![a], vec![clause(2, 1, 3, false)]]).expect("p");
        let digests = [&and, &or, &negated, &shifted].map(|p| p.digest(&shape(4)).expect("fits"));
        for (i, x) in digests.iter().enumerate() {
            for y in &digests[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_ne!(and.digest(&shape(4)), and.digest(&shape(5)));
    }

    #[test]
    fn packing_places_fields_without_overlap() {
        let slot = ClauseSlot {
            clause: Some(Clause::new(1, u32::MAX, 7, u64::MAX, true).expect("clause")),
            or_previous: true,
        };
        let two = Fr::from(2u64);
        let expected = Fr::from(7u64)
            + two.pow([8u64])
            + Fr::from(u64::from(u32::MAX)) * two.pow([40u64])
            + Fr::from(7u64) * two.pow([72u64])
            + Fr::from(u64::MAX) * two.pow([136u64]);
        assert_eq!(slot.packed(), expected);
        assert_eq!(ClauseSlot::default().packed(), Fr::from(0u64));
    }
}
