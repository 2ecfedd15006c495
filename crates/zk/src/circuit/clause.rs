//! Clause and none-of slots inside the circuit: allocation, digest packing, evaluation, CNF
//! folding.
//!
//! Bit widths (all enforced by bit decomposition, so no value can wrap modulo the field):
//! - attribute values, `low`, `high`: 64-bit unsigned (`UInt64`: 64 boolean witnesses each);
//! - attribute indices, `first`, `last`: 32-bit unsigned (`UInt32`), the opened index being the
//!   Merkle path bits zero-extended;
//! - comparisons use arkworks' `UInt::is_ge`: `a − b + 2^n` is decomposed into exactly `n + 1`
//!   bits and the top bit is `a ≥ b`. With `a, b < 2^n` the sum lies in `(0, 2^(n+1))`, far
//!   below the 254-bit modulus, so the decomposition is unique and the bit is sound.

use crate::poseidon::Fr;
use crate::predicate::slots::{
    ClauseSlot, EXCLUSION_FIRST_SHIFT, EXCLUSION_HIGH_SHIFT, EXCLUSION_LOW_SHIFT, ExclusionSlot,
    FIRST_SHIFT, HIGH_SHIFT, LAST_SHIFT, LOW_SHIFT,
};
use ark_ff::Field;
use ark_r1cs_std::cmp::CmpGadget;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::prelude::*;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

/// A clause slot's public fields as circuit variables (bound to the verifier's values through
/// the predicate digest).
pub(super) struct SlotVar {
    enabled: Boolean<Fr>,
    negated: Boolean<Fr>,
    pub(super) or_previous: Boolean<Fr>,
    first: UInt32<Fr>,
    last: UInt32<Fr>,
    low: UInt64<Fr>,
    high: UInt64<Fr>,
}

impl SlotVar {
    /// Allocates the fields as witnesses. The first slot's `or_previous` is the constant false, so
    /// the digest of a predicate whose first slot claims to continue a group cannot be matched.
    pub(super) fn new(
        cs: ConstraintSystemRef<Fr>,
        slot: &ClauseSlot,
        first_slot: bool,
    ) -> Result<Self, SynthesisError> {
        let fields = slot.fields();
        let flag = |value: bool| Boolean::new_witness(cs.clone(), || Ok(value));
        Ok(Self {
            enabled: flag(fields.enabled)?,
            negated: flag(fields.negated)?,
            or_previous: if first_slot {
                Boolean::FALSE
            } else {
                flag(slot.or_previous)?
            },
            first: UInt32::new_witness(cs.clone(), || Ok(fields.first))?,
            last: UInt32::new_witness(cs.clone(), || Ok(fields.last))?,
            low: UInt64::new_witness(cs.clone(), || Ok(fields.low))?,
            high: UInt64::new_witness(cs, || Ok(fields.high))?,
        })
    }

    /// The slot packed into one field element, as in [`ClauseSlot::packed`]. The packing is
    /// injective because every packed field is range-checked to its bit width above.
    pub(super) fn packed(&self) -> Result<FpVar<Fr>, SynthesisError> {
        Ok(FpVar::from(self.enabled.clone())
            + shifted(FpVar::from(self.negated.clone()), 1)
            + shifted(FpVar::from(self.or_previous.clone()), 2)
            + shifted(self.first.to_fp()?, FIRST_SHIFT)
            + shifted(self.last.to_fp()?, LAST_SHIFT)
            + shifted(self.low.to_fp()?, LOW_SHIFT)
            + shifted(self.high.to_fp()?, HIGH_SHIFT))
    }

    /// Enforces `first ≤ index ≤ last`.
    pub(super) fn enforce_index_in_range(&self, index: &UInt32<Fr>) -> Result<(), SynthesisError> {
        (index.is_ge(&self.first)? & index.is_le(&self.last)?).enforce_equal(&Boolean::TRUE)
    }

    /// `¬enabled ∨ (v ≠ 0 ∧ ((low ≤ v ≤ high) ⊕ negated))`: a disabled slot is true, a missing
    /// value never satisfies an enabled one.
    pub(super) fn accepts(&self, value: &UInt64<Fr>) -> Result<Boolean<Fr>, SynthesisError> {
        let present = value.to_fp()?.is_neq(&FpVar::zero())?;
        let matched = inside(value, &self.low, &self.high)? ^ &self.negated;
        Ok(!&self.enabled | (present & matched))
    }
}

fn shifted(value: FpVar<Fr>, shift: u64) -> FpVar<Fr> {
    value * Fr::from(2u64).pow([shift])
}

/// `low ≤ v ≤ high` (two 65-bit decompositions).
fn inside(
    value: &UInt64<Fr>,
    low: &UInt64<Fr>,
    high: &UInt64<Fr>,
) -> Result<Boolean<Fr>, SynthesisError> {
    Ok(value.is_ge(low)? & value.is_le(high)?)
}

/// A none-of slot's public fields as circuit variables (bound through the predicate digest).
pub(super) struct ExclusionVar {
    /// Indices covered, `0` for a disabled slot.
    count: UInt8<Fr>,
    first: UInt32<Fr>,
    low: UInt64<Fr>,
    high: UInt64<Fr>,
}

impl ExclusionVar {
    pub(super) fn new(
        cs: ConstraintSystemRef<Fr>,
        slot: &ExclusionSlot,
    ) -> Result<Self, SynthesisError> {
        let fields = slot.fields();
        Ok(Self {
            count: UInt8::new_witness(cs.clone(), || Ok(fields.count))?,
            first: UInt32::new_witness(cs.clone(), || Ok(fields.first))?,
            low: UInt64::new_witness(cs.clone(), || Ok(fields.low))?,
            high: UInt64::new_witness(cs, || Ok(fields.high))?,
        })
    }

    /// The slot packed into one field element, as in [`ExclusionSlot::packed`] (injective: every
    /// field is range-checked to its width).
    pub(super) fn packed(&self) -> Result<FpVar<Fr>, SynthesisError> {
        Ok(self.count.to_fp()?
            + shifted(self.first.to_fp()?, EXCLUSION_FIRST_SHIFT)
            + shifted(self.low.to_fp()?, EXCLUSION_LOW_SHIFT)
            + shifted(self.high.to_fp()?, EXCLUSION_HIGH_SHIFT))
    }

    /// Enforces the slot's condition on its `position`-th index: when `position < count`, the
    /// opened index is `first + position` and its value is missing or outside `low..=high`.
    pub(super) fn enforce_position(
        &self,
        position: u8,
        index: &FpVar<Fr>,
        value: &UInt64<Fr>,
    ) -> Result<(), SynthesisError> {
        let active = self.count.is_gt(&UInt8::constant(position))?;
        let expected = self.first.to_fp()? + Fr::from(position);
        index.conditional_enforce_equal(&expected, &active)?;
        let present = value.to_fp()?.is_neq(&FpVar::zero())?;
        let excluded = present & inside(value, &self.low, &self.high)?;
        (active & excluded).enforce_equal(&Boolean::FALSE)
    }
}

/// Folds slot results into `AND` over groups of `OR` over a group's slots.
#[derive(Default)]
pub(super) struct CnfAccumulator {
    closed: Option<Boolean<Fr>>,
    open: Option<Boolean<Fr>>,
}

impl CnfAccumulator {
    /// Adds one slot: it joins the open group when `or_previous`, else starts a new one.
    pub(super) fn push(
        &mut self,
        or_previous: &Boolean<Fr>,
        accepted: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        let Some(open) = self.open.take() else {
            self.open = Some(accepted.clone());
            return Ok(());
        };
        // A group closes when the next slot does not continue it.
        let closing = or_previous | &open;
        self.closed = Some(match self.closed.take() {
            Some(closed) => closed & closing,
            None => closing,
        });
        self.open = Some(or_previous.select(&(&open | accepted), accepted)?);
        Ok(())
    }

    /// The conjunction of all groups (true for no slots).
    pub(super) fn finish(self) -> Result<Boolean<Fr>, SynthesisError> {
        Ok(match (self.closed, self.open) {
            (Some(closed), Some(open)) => closed & open,
            (None, Some(open)) => open,
            (closed, None) => closed.unwrap_or(Boolean::TRUE),
        })
    }
}
