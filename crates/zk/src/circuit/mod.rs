//! The universal eligibility circuit (S4-flow step 4, issue 4).
//!
//! Public inputs, in order: the record commitment `C`, the predicate digest `D`, the result bit
//! `R`. The circuit proves knowledge of a record, a blinding and `K` attribute openings such that:
//!
//! 1. `C = H(TAG_RECORD, N, root, blinding)` — the record is the one the hospital committed to;
//! 2. `D = H(TAG_PREDICATE, N, K, slot fields…)` — the clauses evaluated are the verifier's;
//! 3. for each slot, the opened value is leaf `index` of `root`, where the index bits *are* the
//!    Merkle path directions and `first ≤ index ≤ last` (32-bit comparisons);
//! 4. each value is a 64-bit unsigned integer (bit decomposition), and the comparisons
//!    `low ≤ v ≤ high` use 65-bit decompositions of `v − low + 2^64` and `high − v + 2^64`,
//!    which cannot wrap around the field (see [`clause`]);
//! 5. `R` is the AND over groups of the OR over each group's slots — computed, not asserted.
//!
//! A false predicate therefore yields only proofs with `R = 0`; a verifier demands `R = 1`.

mod clause;

use crate::error::{Result, ZkError};
use crate::poseidon::{
    AttributeTreeConfig, AttributeTreeConfigVar, Fr, poseidon_config, tag_predicate, tag_record,
};
use crate::predicate::Predicate;
use crate::predicate::slots::{self, ClauseSlot};
use crate::record::{AttributePath, AttributeTree, Blinding, MISSING, Record, RecordOpening};
use crate::shape::CircuitShape;
use ark_crypto_primitives::crh::poseidon::constraints::CRHParametersVar;
use ark_crypto_primitives::merkle_tree::constraints::PathVar;
use ark_crypto_primitives::sponge::constraints::CryptographicSpongeVar;
use ark_crypto_primitives::sponge::poseidon::constraints::PoseidonSpongeVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::prelude::*;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, OptimizationGoal, SynthesisError,
    SynthesisMode,
};
use clause::{CnfAccumulator, SlotVar};

type SynthResult<T> = std::result::Result<T, SynthesisError>;

/// Number of public inputs: commitment, predicate digest, result.
pub(crate) const PUBLIC_INPUTS: usize = 3;

/// One clause slot's witness: the slot, the opened index and value, and its Merkle path.
#[derive(Clone)]
pub(crate) struct SlotWitness {
    slot: ClauseSlot,
    index: u32,
    value: u64,
    path: AttributePath,
}

/// The circuit with a full assignment (Groth16 setup uses a blank but well-shaped one).
#[derive(Clone)]
pub(crate) struct EligibilityCircuit {
    shape: CircuitShape,
    commitment: Fr,
    digest: Fr,
    result: bool,
    root: Fr,
    blinding: Fr,
    slots: Vec<SlotWitness>,
}

impl EligibilityCircuit {
    /// Builds the honest assignment for `predicate` on the opened record.
    pub(crate) fn new(
        shape: &CircuitShape,
        opening: &RecordOpening,
        predicate: &Predicate,
    ) -> Result<Self> {
        let record = opening.record();
        if record.num_attributes() != shape.num_attributes() {
            return Err(ZkError::ShapeMismatch(format!(
                "record has {} attributes, circuit expects {}",
                record.num_attributes(),
                shape.num_attributes()
            )));
        }
        let slots = slots::lower(predicate, shape)?;
        let result = predicate.evaluate(record);
        Self::assign(shape, record, opening.blinding(), slots, result)
    }

    /// A well-shaped assignment for key generation: a missing-everywhere record and disabled
    /// slots. Its values are irrelevant to the keys; only the constraint structure matters.
    pub(crate) fn blank(shape: &CircuitShape) -> Result<Self> {
        let record = Record::new(vec![MISSING; shape.num_attributes() as usize])?;
        let slots = vec![ClauseSlot::default(); usize::from(shape.max_clauses())];
        Self::assign(shape, &record, &Blinding(Fr::from(0u64)), slots, true)
    }

    fn assign(
        shape: &CircuitShape,
        record: &Record,
        blinding: &Blinding,
        slots: Vec<ClauseSlot>,
        result: bool,
    ) -> Result<Self> {
        let tree = AttributeTree::build(record)?;
        let values = record.values();
        let slots = slots
            .into_iter()
            .map(|slot| {
                let index = slot.witness_index(values);
                Ok(SlotWitness {
                    slot,
                    index,
                    value: values.get(index as usize).copied().unwrap_or(MISSING),
                    path: tree.path(index)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            shape: *shape,
            commitment: tree.commitment(blinding).0,
            digest: slots::digest(shape, &slots.iter().map(|s| s.slot).collect::<Vec<_>>()),
            result,
            root: tree.root(),
            blinding: blinding.0,
            slots,
        })
    }

    /// The public inputs in circuit order.
    pub(crate) fn public_inputs(&self) -> [Fr; PUBLIC_INPUTS] {
        [self.commitment, self.digest, Fr::from(self.result)]
    }

    pub(crate) fn result(&self) -> bool {
        self.result
    }

    #[cfg(test)]
    pub(crate) fn with_result(self, result: bool) -> Self {
        Self { result, ..self }
    }
}

impl ConstraintSynthesizer<Fr> for EligibilityCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> SynthResult<()> {
        let commitment = FpVar::new_input(cs.clone(), || Ok(self.commitment))?;
        let digest = FpVar::new_input(cs.clone(), || Ok(self.digest))?;
        let result = Boolean::new_input(cs.clone(), || Ok(self.result))?;
        let root = FpVar::new_witness(cs.clone(), || Ok(self.root))?;
        let blinding = FpVar::new_witness(cs.clone(), || Ok(self.blinding))?;

        let num_attributes = FpVar::constant(Fr::from(self.shape.num_attributes()));
        let opened = hash_var(
            &cs,
            &[
                FpVar::constant(tag_record()),
                num_attributes.clone(),
                root.clone(),
                blinding,
            ],
        )?;
        opened.enforce_equal(&commitment)?;

        let tree_params = CRHParametersVar {
            parameters: poseidon_config().clone(),
        };
        let mut digest_inputs = vec![
            FpVar::constant(tag_predicate()),
            num_attributes,
            FpVar::constant(Fr::from(self.shape.max_clauses())),
        ];
        let mut cnf = CnfAccumulator::default();
        for (position, witness) in self.slots.iter().enumerate() {
            let slot = SlotVar::new(cs.clone(), &witness.slot, position == 0)?;
            digest_inputs.push(slot.packed()?);
            let value = open_attribute(
                cs.clone(),
                witness,
                self.shape.depth(),
                &root,
                &tree_params,
                &slot,
            )?;
            cnf.push(&slot.or_previous, &slot.accepts(&value)?)?;
        }
        hash_var(&cs, &digest_inputs)?.enforce_equal(&digest)?;
        cnf.finish()?.enforce_equal(&result)
    }
}

/// Allocates the opened value and index of one slot and proves the value is leaf `index` of
/// `root`, with `first ≤ index ≤ last`.
fn open_attribute(
    cs: ConstraintSystemRef<Fr>,
    witness: &SlotWitness,
    depth: usize,
    root: &FpVar<Fr>,
    params: &CRHParametersVar<Fr>,
    slot: &SlotVar,
) -> SynthResult<UInt64<Fr>> {
    let index_bits = (0..depth)
        .map(|bit| Boolean::new_witness(cs.clone(), || Ok(witness.index >> bit & 1 == 1)))
        .collect::<SynthResult<Vec<_>>>()?;
    let value = UInt64::new_witness(cs.clone(), || Ok(witness.value))?;
    let mut path =
        PathVar::<AttributeTreeConfig, Fr, AttributeTreeConfigVar>::new_witness(cs, || {
            Ok(&witness.path)
        })?;
    // Bind the path directions to the index bits: the leaf opened is exactly leaf `index`.
    path.set_leaf_position(index_bits.clone());
    let leaf = [FpVar::constant(crate::poseidon::tag_leaf()), value.to_fp()?];
    path.verify_membership(params, params, root, &leaf[..])?
        .enforce_equal(&Boolean::TRUE)?;
    let mut padded = index_bits;
    padded.resize(32, Boolean::FALSE);
    slot.enforce_index_in_range(&UInt32::from_bits_le(&padded))?;
    Ok(value)
}

/// Constraints of the circuit of `shape`, counted as Groth16 key generation synthesises it.
pub(crate) fn constraint_count(shape: &CircuitShape) -> Result<usize> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    EligibilityCircuit::blank(shape)?
        .generate_constraints(cs.clone())
        .map_err(|e| ZkError::ProvingSystem(e.to_string()))?;
    cs.finalize();
    Ok(cs.num_constraints())
}

/// In-circuit Poseidon sponge hash, identical to [`crate::poseidon::hash`].
fn hash_var(cs: &ConstraintSystemRef<Fr>, inputs: &[FpVar<Fr>]) -> SynthResult<FpVar<Fr>> {
    let mut sponge = PoseidonSpongeVar::new(cs.clone(), poseidon_config());
    sponge.absorb(&inputs)?;
    Ok(sponge.squeeze_field_elements(1)?.remove(0))
}

#[cfg(test)]
mod tests;
