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
//! packing is injective). Exclusions fill the `E` none-of slots, unused ones disabled
//! (`count = 0`), each packed as
//!
//! ```text
//! exclusion = count + 2^8·first + 2^40·low + 2^104·high      (count = last − first + 1 ≤ 16)
//! ```
//!
//! and the digest is `D = H(TAG_PREDICATE, schema tag, N, K, E, slot_0, …, slot_{K-1},
//! exclusion_0, …, exclusion_{E-1})`. Hashing the lists into one public input (instead of `5K`
//! public inputs) keeps the verifying key small whatever `K` and `E` are.

use super::{Clause, Exclusion, Predicate};
use crate::error::Result;
use crate::poseidon::{Fr, hash, tag_predicate};
use crate::shape::CircuitShape;
use ark_ff::Field;

/// Bit offsets of the packed slot fields.
pub(crate) const FIRST_SHIFT: u64 = 8;
pub(crate) const LAST_SHIFT: u64 = 40;
pub(crate) const LOW_SHIFT: u64 = 72;
pub(crate) const HIGH_SHIFT: u64 = 136;
/// Bit offsets of the packed exclusion fields (the count occupies the low 8 bits).
pub(crate) const EXCLUSION_FIRST_SHIFT: u64 = 8;
pub(crate) const EXCLUSION_LOW_SHIFT: u64 = 40;
pub(crate) const EXCLUSION_HIGH_SHIFT: u64 = 104;

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
        Fr::from(flags)
            + shifted(u64::from(f.first), FIRST_SHIFT)
            + shifted(u64::from(f.last), LAST_SHIFT)
            + shifted(f.low, LOW_SHIFT)
            + shifted(f.high, HIGH_SHIFT)
    }
}

/// One none-of slot: an exclusion, or `None` for a disabled (padding) slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ExclusionSlot {
    pub(crate) exclusion: Option<Exclusion>,
}

/// An exclusion slot's fields as integers, zero for a disabled slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ExclusionFields {
    /// Indices covered, `0` when disabled.
    pub(crate) count: u8,
    pub(crate) first: u32,
    pub(crate) low: u64,
    pub(crate) high: u64,
}

impl ExclusionSlot {
    pub(crate) fn fields(&self) -> ExclusionFields {
        self.exclusion
            .map_or_else(ExclusionFields::default, |e| ExclusionFields {
                // `Exclusion::new` bounds the width by 16.
                count: (e.last() - e.first() + 1) as u8,
                first: e.first(),
                low: e.interval().0,
                high: e.interval().1,
            })
    }

    /// The slot packed into one field element, as the circuit packs it.
    pub(crate) fn packed(&self) -> Fr {
        let f = self.fields();
        Fr::from(f.count)
            + shifted(u64::from(f.first), EXCLUSION_FIRST_SHIFT)
            + shifted(f.low, EXCLUSION_LOW_SHIFT)
            + shifted(f.high, EXCLUSION_HIGH_SHIFT)
    }
}

fn shifted(value: u64, shift: u64) -> Fr {
    Fr::from(value) * Fr::from(2u64).pow([shift])
}

/// The predicate's clauses in slot order, padded with disabled slots to `K`, and its exclusions
/// padded to `E`.
pub(crate) fn lower(
    predicate: &Predicate,
    shape: &CircuitShape,
) -> Result<(Vec<ClauseSlot>, Vec<ExclusionSlot>)> {
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
    let mut exclusions: Vec<ExclusionSlot> = predicate
        .exclusions()
        .iter()
        .map(|e| ExclusionSlot {
            exclusion: Some(*e),
        })
        .collect();
    exclusions.resize(
        usize::from(shape.max_exclusions()),
        ExclusionSlot::default(),
    );
    Ok((slots, exclusions))
}

/// Native digest of lowered slots; the circuit recomputes exactly this.
pub(crate) fn digest(
    schema_tag: Fr,
    shape: &CircuitShape,
    slots: &[ClauseSlot],
    exclusions: &[ExclusionSlot],
) -> Fr {
    let mut inputs = Vec::with_capacity(5 + slots.len() + exclusions.len());
    inputs.extend([
        tag_predicate(),
        schema_tag,
        Fr::from(shape.num_attributes()),
        Fr::from(shape.max_clauses()),
        Fr::from(shape.max_exclusions()),
    ]);
    inputs.extend(slots.iter().map(ClauseSlot::packed));
    inputs.extend(exclusions.iter().map(ExclusionSlot::packed));
    hash(&inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(k: u16) -> CircuitShape {
        CircuitShape::new(16, k, 1).expect("shape")
    }

    fn schema() -> crate::Schema {
        crate::Schema::clinical_v1()
    }

    fn clause(index: u32, low: u64, high: u64, negated: bool) -> Clause {
        Clause::on(index, low, high, negated).expect("clause")
    }

    #[test]
    fn groups_become_or_chains_and_padding_is_disabled() {
        let p = Predicate::new(
            &schema(),
            vec![
                vec![clause(1, 1, 2, false)],
                vec![clause(2, 3, 4, true), clause(3, 5, 6, false)],
            ],
            vec![],
        )
        .expect("p");
        let (slots, exclusions) = lower(&p, &shape(4)).expect("fits");
        assert_eq!(exclusions, [ExclusionSlot::default()]);
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
        let s = schema();
        let p = |groups, exclusions| Predicate::new(&s, groups, exclusions).expect("p");
        let and = p(vec![vec![a], vec![b]], vec![]);
        let or = p(vec![vec![a, b]], vec![]);
        let negated = p(vec![vec![a], vec![clause(2, 1, 2, true)]], vec![]);
        let shifted = p(vec![vec![a], vec![clause(2, 1, 3, false)]], vec![]);
        let none_of = p(
            vec![vec![a], vec![b]],
            vec![Exclusion::new(2, 2, 1, 2).expect("e")],
        );
        let digests =
            [&and, &or, &negated, &shifted, &none_of].map(|p| p.digest(&shape(4)).expect("fits"));
        for (i, x) in digests.iter().enumerate() {
            for y in &digests[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_ne!(and.digest(&shape(4)), and.digest(&shape(5)));
        let more_exclusions = CircuitShape::new(16, 4, 2).expect("shape");
        assert_ne!(and.digest(&shape(4)), and.digest(&more_exclusions));
        let other_schema =
            crate::Schema::new("clinical_v2", schema().attributes().to_vec()).expect("schema");
        let same_clauses =
            Predicate::new(&other_schema, vec![vec![a], vec![b]], vec![]).expect("p");
        assert_ne!(and.digest(&shape(4)), same_clauses.digest(&shape(4)));
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
        let exclusion = ExclusionSlot {
            exclusion: Some(Exclusion::new(3, 18, 9, u64::MAX).expect("e")),
        };
        let expected = Fr::from(16u64)
            + Fr::from(3u64) * two.pow([8u64])
            + Fr::from(9u64) * two.pow([40u64])
            + Fr::from(u64::MAX) * two.pow([104u64]);
        assert_eq!(exclusion.packed(), expected);
        assert_eq!(ExclusionSlot::default().packed(), Fr::from(0u64));
    }
}
