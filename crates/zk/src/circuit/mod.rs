//! The universal enrolment circuit (S4-flow step 4, issues 4 and 12).
//!
//! Public inputs, in order: the accumulator root, the predicate digest `D`, the study tag, the
//! binding, the nullifier, the exclusivity nullifier and the delivery tag. The circuit proves
//! knowledge of a patient secret `s`, a record, its blinding, its bundle hash `h`, its leaf
//! position and `K + 16·E` attribute openings such that:
//!
//! 1. `nk = H(TAG_NK, s)` and `C = H(TAG_RECORD, schema tag, N, record root, blinding, nk, h)`;
//! 2. `C` is leaf `index` of the depth-24 accumulator with the public root (the index bits are the
//!    path directions; neither index nor `C` is revealed);
//! 3. `nullifier = H(TAG_STUDY, s, study)` and `exclusivity = H(TAG_EXCL, s, C)`;
//! 4. `D = H(TAG_PREDICATE, schema tag, N, K, E, slots…)`: the clauses evaluated are the
//!    verifier's, and the schema tag is the one inside `C`;
//! 5. each clause slot opens leaf `index` of the record root with `first ≤ index ≤ last`; each
//!    none-of slot opens *every* index `first..first+count` and requires each value missing or
//!    outside the interval;
//! 6. the AND over groups of the OR over each group's slots is **true** (enforced, not output):
//!    a record that fails the predicate has no proof at all;
//! 7. `k = H(TAG_DKEY, s, study)` and `delivery = H(TAG_DELIVERY, h, k, binding)`: the released
//!    bundle the enrolment must deliver (its SHA-256 reduced to `h`), bound to this enrolment and
//!    checkable only with `k`, which the patient gives the researcher (the bundle's hEMR is
//!    public, so without `k` anyone could link the enrolment to the release).
//!
//! Values are 64-bit and indices 32-bit unsigned (bit decompositions), so comparisons cannot wrap
//! around the field (see [`clause`]).

mod clause;

use crate::accumulator::MembershipPath;
use crate::error::{Result, ZkError};
use crate::ids::{
    Binding, StudyTag, delivery_hash, delivery_key_hash, exclusivity_hash, nullifier_hash,
};
use crate::poseidon::{
    AttributeTreeConfig, AttributeTreeConfigVar, Fr, hash, poseidon_config, tag_delivery,
    tag_delivery_key, tag_exclusivity, tag_leaf, tag_nullifier_key, tag_predicate, tag_record,
    tag_study,
};
use crate::predicate::Predicate;
use crate::predicate::slots::{self, ClauseSlot, ExclusionSlot};
use crate::record::{AttributePath, AttributeTree, MISSING, RecordOpening};
use crate::schema::schema_tag;
use crate::shape::{ACCUMULATOR_DEPTH, CircuitShape, EXCLUSION_WIDTH};
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
use clause::{CnfAccumulator, ExclusionVar, SlotVar};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

type SynthResult<T> = std::result::Result<T, SynthesisError>;

/// Number of public inputs: root, digest, study, binding, nullifier, exclusivity, delivery.
pub(crate) const PUBLIC_INPUTS: usize = 7;

/// One opened attribute: index, value and Merkle path in the record tree.
#[derive(Clone)]
pub(crate) struct Opening {
    index: u32,
    value: u64,
    path: AttributePath,
}

impl Opening {
    fn of(tree: &AttributeTree, values: &[u64], index: u32) -> Result<Self> {
        Ok(Self {
            index,
            value: values.get(index as usize).copied().unwrap_or(MISSING),
            path: tree.path(index)?,
        })
    }
}

/// One clause slot's witness.
#[derive(Clone)]
pub(crate) struct SlotWitness {
    slot: ClauseSlot,
    opening: Opening,
}

/// One none-of slot's witness: [`EXCLUSION_WIDTH`] openings (unused positions open index 0).
#[derive(Clone)]
pub(crate) struct ExclusionWitness {
    slot: ExclusionSlot,
    openings: Vec<Opening>,
}

/// The public inputs, as field elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PublicInputs {
    pub(crate) root: Fr,
    pub(crate) digest: Fr,
    pub(crate) study: Fr,
    pub(crate) binding: Fr,
    pub(crate) nullifier: Fr,
    pub(crate) exclusivity: Fr,
    pub(crate) delivery: Fr,
}

impl PublicInputs {
    pub(crate) fn to_vec(self) -> Vec<Fr> {
        vec![
            self.root,
            self.digest,
            self.study,
            self.binding,
            self.nullifier,
            self.exclusivity,
            self.delivery,
        ]
    }
}

/// The private part of the assignment.
#[derive(Clone)]
pub(crate) struct PrivateInputs {
    schema_tag: Fr,
    record_root: Fr,
    blinding: Fr,
    record_hash: Fr,
    secret: Fr,
    path: MembershipPath,
}

/// The circuit with a full assignment (Groth16 setup uses a blank but well-shaped one).
#[derive(Clone)]
pub(crate) struct EnrolmentCircuit {
    shape: CircuitShape,
    public: PublicInputs,
    private: PrivateInputs,
    slots: Vec<SlotWitness>,
    exclusions: Vec<ExclusionWitness>,
}

/// What the prover brings: opening, secret, path, and the public predicate, study and binding.
pub(crate) struct Assignment<'a> {
    pub(crate) opening: &'a RecordOpening,
    pub(crate) secret: Fr,
    pub(crate) path: &'a MembershipPath,
    pub(crate) predicate: &'a Predicate,
    pub(crate) study: StudyTag,
    pub(crate) binding: Binding,
}

impl EnrolmentCircuit {
    /// Builds the honest assignment; refuses a record that fails the predicate
    /// ([`ZkError::NotEligible`]) and inconsistent inputs.
    pub(crate) fn new(shape: &CircuitShape, assignment: &Assignment<'_>) -> Result<Self> {
        let Assignment {
            opening, predicate, ..
        } = assignment;
        let record = opening.record();
        if record.num_attributes() != shape.num_attributes() {
            return Err(ZkError::ShapeMismatch(format!(
                "record has {} attributes, circuit expects {}",
                record.num_attributes(),
                shape.num_attributes()
            )));
        }
        if opening.schema_id() != predicate.schema_id() {
            return Err(ZkError::SchemaMismatch(format!(
                "record of `{}`, predicate over `{}`",
                opening.schema_id(),
                predicate.schema_id()
            )));
        }
        let nk = hash(&[tag_nullifier_key(), assignment.secret]);
        if nk != opening.nullifier_key_field() {
            return Err(ZkError::InvalidWitness(
                "the patient secret does not match the commitment's nullifier key".into(),
            ));
        }
        if !predicate.evaluate(record) {
            return Err(ZkError::NotEligible);
        }
        Self::assign_unchecked(shape, assignment)
    }

    /// The assignment a prover would make without first checking eligibility (tests use it to
    /// show a false predicate leaves the circuit unsatisfiable).
    fn assign_unchecked(shape: &CircuitShape, assignment: &Assignment<'_>) -> Result<Self> {
        let Assignment {
            opening, predicate, ..
        } = assignment;
        let (slots, exclusions) = slots::lower(predicate, shape)?;
        Self::assign(
            shape,
            opening,
            (assignment.secret, assignment.path),
            (slots, exclusions),
            (assignment.study.field()?, assignment.binding.field()?),
        )
    }

    /// A well-shaped assignment for key generation: every value zero, every path of the right
    /// length. It satisfies nothing, but it allocates exactly the variables and constraints of an
    /// honest assignment (tested), which is all key generation and key validation look at; and it
    /// costs no native hashing, so counting a shape's circuit does not grow with `N`.
    pub(crate) fn blank(shape: &CircuitShape) -> Result<Self> {
        let zero = Fr::from(0u64);
        let opening = Opening {
            index: 0,
            value: MISSING,
            path: AttributePath {
                leaf_sibling_hash: zero,
                auth_path: vec![zero; shape.depth() - 1],
                leaf_index: 0,
            },
        };
        let slot = SlotWitness {
            slot: ClauseSlot::default(),
            opening: opening.clone(),
        };
        let exclusion = ExclusionWitness {
            slot: ExclusionSlot::default(),
            openings: vec![opening; EXCLUSION_WIDTH as usize],
        };
        Ok(Self {
            shape: *shape,
            public: PublicInputs {
                root: zero,
                digest: zero,
                study: zero,
                binding: zero,
                nullifier: zero,
                exclusivity: zero,
                delivery: zero,
            },
            private: PrivateInputs {
                schema_tag: zero,
                record_root: zero,
                blinding: zero,
                record_hash: zero,
                secret: zero,
                path: MembershipPath::blank(),
            },
            slots: vec![slot; usize::from(shape.max_clauses())],
            exclusions: vec![exclusion; usize::from(shape.max_exclusions())],
        })
    }

    fn assign(
        shape: &CircuitShape,
        opening: &RecordOpening,
        (secret, path): (Fr, &MembershipPath),
        (slots, exclusions): (Vec<ClauseSlot>, Vec<ExclusionSlot>),
        (study, binding): (Fr, Fr),
    ) -> Result<Self> {
        let tree = AttributeTree::build(opening.record())?;
        let values = opening.record().values();
        let digest_tag = schema_tag(opening.schema_id());
        let digest = slots::digest(digest_tag, shape, &slots, &exclusions);
        let slots = slots
            .into_iter()
            .map(|slot| {
                let opening = Opening::of(&tree, values, slot.witness_index(values))?;
                Ok(SlotWitness { slot, opening })
            })
            .collect::<Result<Vec<_>>>()?;
        let exclusions = exclusions
            .into_iter()
            .map(|slot| {
                let fields = slot.fields();
                let openings = (0..EXCLUSION_WIDTH)
                    .map(|position| {
                        let index = if position < u32::from(fields.count) {
                            fields.first + position
                        } else {
                            0
                        };
                        Opening::of(&tree, values, index)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(ExclusionWitness { slot, openings })
            })
            .collect::<Result<Vec<_>>>()?;
        let commitment = opening.commitment_of(tree.root());
        Ok(Self {
            shape: *shape,
            public: PublicInputs {
                root: path.root_of(commitment),
                digest,
                study,
                binding,
                nullifier: nullifier_hash(secret, study),
                exclusivity: exclusivity_hash(secret, commitment),
                delivery: delivery_hash(
                    opening.record_hash_field(),
                    delivery_key_hash(secret, study),
                    binding,
                ),
            },
            private: PrivateInputs {
                schema_tag: digest_tag,
                record_root: tree.root(),
                blinding: opening.blinding(),
                record_hash: opening.record_hash_field(),
                secret,
                path: path.clone(),
            },
            slots,
            exclusions,
        })
    }

    /// The public inputs.
    pub(crate) fn public_inputs(&self) -> PublicInputs {
        self.public
    }
}

impl ConstraintSynthesizer<Fr> for EnrolmentCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> SynthResult<()> {
        let public = self.public;
        let input = |value: Fr| FpVar::new_input(cs.clone(), || Ok(value));
        let root = input(public.root)?;
        let digest = input(public.digest)?;
        let study = input(public.study)?;
        let binding = input(public.binding)?;
        let nullifier = input(public.nullifier)?;
        let exclusivity = input(public.exclusivity)?;
        let delivery = input(public.delivery)?;

        let private = &self.private;
        let witness = |value: Fr| FpVar::new_witness(cs.clone(), || Ok(value));
        let schema = witness(private.schema_tag)?;
        let record_root = witness(private.record_root)?;
        let blinding = witness(private.blinding)?;
        let record_hash = witness(private.record_hash)?;
        let secret = witness(private.secret)?;

        // 1. The commitment, with the nullifier key derived from the secret.
        let nk = hash_var(&cs, &[FpVar::constant(tag_nullifier_key()), secret.clone()])?;
        let num_attributes = FpVar::constant(Fr::from(self.shape.num_attributes()));
        let commitment = hash_var(
            &cs,
            &[
                FpVar::constant(tag_record()),
                schema.clone(),
                num_attributes.clone(),
                record_root.clone(),
                blinding,
                nk,
                record_hash.clone(),
            ],
        )?;

        // 2. Membership in the accumulator.
        enforce_membership(&cs, &commitment, &private.path, &root)?;

        // 3. Nullifiers.
        hash_var(
            &cs,
            &[FpVar::constant(tag_study()), secret.clone(), study.clone()],
        )?
        .enforce_equal(&nullifier)?;
        hash_var(
            &cs,
            &[
                FpVar::constant(tag_exclusivity()),
                secret.clone(),
                commitment,
            ],
        )?
        .enforce_equal(&exclusivity)?;

        // 7. The delivery tag: the bundle in `C`, bound to this enrolment, keyed by `k`.
        let key = hash_var(
            &cs,
            &[
                FpVar::constant(tag_delivery_key()),
                secret.clone(),
                study.clone(),
            ],
        )?;
        hash_var(
            &cs,
            &[FpVar::constant(tag_delivery()), record_hash, key, binding],
        )?
        .enforce_equal(&delivery)?;

        // 4–6. The predicate.
        let tree_params = CRHParametersVar {
            parameters: poseidon_config().clone(),
        };
        let depth = self.shape.depth();
        let mut digest_inputs = vec![
            FpVar::constant(tag_predicate()),
            schema,
            num_attributes,
            FpVar::constant(Fr::from(self.shape.max_clauses())),
            FpVar::constant(Fr::from(self.shape.max_exclusions())),
        ];
        let mut cnf = CnfAccumulator::default();
        for (position, witness) in self.slots.iter().enumerate() {
            let slot = SlotVar::new(cs.clone(), &witness.slot, position == 0)?;
            digest_inputs.push(slot.packed()?);
            let (index_bits, value) =
                open_attribute(&cs, &witness.opening, depth, &record_root, &tree_params)?;
            let mut padded = index_bits;
            padded.resize(32, Boolean::FALSE);
            slot.enforce_index_in_range(&UInt32::from_bits_le(&padded))?;
            cnf.push(&slot.or_previous, &slot.accepts(&value)?)?;
        }
        for witness in &self.exclusions {
            let slot = ExclusionVar::new(cs.clone(), &witness.slot)?;
            digest_inputs.push(slot.packed()?);
            for (position, opening) in (0u8..).zip(&witness.openings) {
                let (index_bits, value) =
                    open_attribute(&cs, opening, depth, &record_root, &tree_params)?;
                let index = Boolean::le_bits_to_fp(&index_bits)?;
                slot.enforce_position(position, &index, &value)?;
            }
        }
        hash_var(&cs, &digest_inputs)?.enforce_equal(&digest)?;
        cnf.finish()?.enforce_equal(&Boolean::TRUE)
    }
}

/// Folds `leaf` up the accumulator along the path (index bits private) and enforces the root.
fn enforce_membership(
    cs: &ConstraintSystemRef<Fr>,
    leaf: &FpVar<Fr>,
    path: &MembershipPath,
    root: &FpVar<Fr>,
) -> SynthResult<()> {
    let mut current = leaf.clone();
    for (height, sibling) in path.siblings().iter().enumerate() {
        let is_right = Boolean::new_witness(cs.clone(), || Ok(path.index() >> height & 1 == 1))?;
        let sibling = FpVar::new_witness(cs.clone(), || Ok(*sibling))?;
        let left = is_right.select(&sibling, &current)?;
        let right = is_right.select(&current, &sibling)?;
        current = hash_var(cs, &[left, right])?;
    }
    debug_assert_eq!(path.siblings().len(), usize::from(ACCUMULATOR_DEPTH));
    current.enforce_equal(root)
}

/// Allocates one opened value and its index bits and proves the value is leaf `index` of the
/// record tree.
fn open_attribute(
    cs: &ConstraintSystemRef<Fr>,
    opening: &Opening,
    depth: usize,
    root: &FpVar<Fr>,
    params: &CRHParametersVar<Fr>,
) -> SynthResult<(Vec<Boolean<Fr>>, UInt64<Fr>)> {
    let index_bits = (0..depth)
        .map(|bit| Boolean::new_witness(cs.clone(), || Ok(opening.index >> bit & 1 == 1)))
        .collect::<SynthResult<Vec<_>>>()?;
    let value = UInt64::new_witness(cs.clone(), || Ok(opening.value))?;
    let mut path = PathVar::<AttributeTreeConfig, Fr, AttributeTreeConfigVar>::new_witness(
        cs.clone(),
        || Ok(&opening.path),
    )?;
    // Bind the path directions to the index bits: the leaf opened is exactly leaf `index`.
    path.set_leaf_position(index_bits.clone());
    let leaf = [FpVar::constant(tag_leaf()), value.to_fp()?];
    path.verify_membership(params, params, root, &leaf[..])?
        .enforce_equal(&Boolean::TRUE)?;
    Ok((index_bits, value))
}

/// Sizes of the circuit of a shape: what every vector of its keys must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dimensions {
    pub(crate) constraints: usize,
    /// Instance variables, including the constant one.
    pub(crate) instance: usize,
    pub(crate) witness: usize,
}

impl Dimensions {
    /// Size of the QAP evaluation domain (constraints plus instance copies, rounded up to a
    /// power of two, as arkworks' radix-2 domain does).
    pub(crate) fn domain_size(&self) -> usize {
        (self.constraints + self.instance).next_power_of_two()
    }
}

/// The circuit's dimensions, synthesised once per shape and process (as Groth16 key generation
/// synthesises it, minus the linear-combination inlining, which with the `Constraints` goal adds
/// neither constraints nor variables: `setup` checks its fresh keys against these counts).
pub(crate) fn dimensions(shape: &CircuitShape) -> Result<Dimensions> {
    static CACHE: OnceLock<Mutex<HashMap<CircuitShape, Dimensions>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(shape).copied()) {
        return Ok(found);
    }
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    EnrolmentCircuit::blank(shape)?
        .generate_constraints(cs.clone())
        .map_err(|e| ZkError::ProvingSystem(e.to_string()))?;
    let found = Dimensions {
        constraints: cs.num_constraints(),
        instance: cs.num_instance_variables(),
        witness: cs.num_witness_variables(),
    };
    if let Ok(mut cache) = cache.lock() {
        cache.insert(*shape, found);
    }
    Ok(found)
}

/// In-circuit Poseidon sponge hash, identical to [`crate::poseidon::hash`].
fn hash_var(cs: &ConstraintSystemRef<Fr>, inputs: &[FpVar<Fr>]) -> SynthResult<FpVar<Fr>> {
    let mut sponge = PoseidonSpongeVar::new(cs.clone(), poseidon_config());
    sponge.absorb(&inputs)?;
    Ok(sponge.squeeze_field_elements(1)?.remove(0))
}

#[cfg(test)]
mod tests;
