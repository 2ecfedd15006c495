//! Zero-knowledge enrolment proofs over hospital-attested medical records (issues 4 and 12).
//!
//! Seed 004 (S4-flow) lets a patient prove to a research institution's contract that their data
//! meets its requirements without revealing the data. This crate is that proving system, with
//! the seed's weaknesses fixed: the proof is about a record a *hospital* committed to, it proves
//! eligibility only, and enrolments are unlinkable.
//!
//! 1. The patient derives a [`PatientSecret`] and files its [`NullifierKey`] once.
//! 2. The hospital maps a FHIR R4 bundle to an attribute vector ([`record_from_bundle`], schema
//!    [`Schema::clinical_v1`]), commits to it with the patient's nullifier key and the bundle's
//!    SHA-256 ([`RecordOpening::commit`]) and attests the [`Commitment`]; the chain appends it to the
//!    [`Accumulator`] of attested commitments; the patient keeps the [`RecordOpening`].
//! 3. The institution publishes a [`Predicate`] (parsed from text such as
//!    `age in 40..=70 and hba1c >= 6.5 and icd10 != E11`).
//! 4. One trusted [`setup`] per [`CircuitShape`] (`N` attributes, `K` clause slots, `E` none-of
//!    slots) serves every such predicate; the patient runs [`prove`] with the commitment's
//!    [`membership_path`], the contract runs [`verify`] on [`Statement::enrolment`] and records
//!    the [`Nullifier`] (one per patient and study), the [`ExclusivityNullifier`] (one per
//!    record) and the [`DeliveryTag`], which the researcher later checks against the bundle it
//!    receives ([`delivery_tag`]).
//!
//! Groth16 on BN254 (arkworks 0.6); every wire type has a canonical, length-checked
//! `to_bytes`/`from_bytes`. This crate knows nothing about chains.
//!
//! ```
//! # fn main() -> Result<(), zk::ZkError> {
//! use ark_std::rand::{SeedableRng, rngs::StdRng};
//! use zk::*;
//!
//! // A seeded RNG makes the example reproducible; real keys and blindings need OsRng.
//! let mut rng = StdRng::seed_from_u64(1);
//! let schema = Schema::new("example_v1", vec![
//!     Attribute::new("age", Encoding::Integer, FhirSource::None),
//!     Attribute::new("ldl", Encoding::Quantity { decimals: 1, unit: "mg/dL".into() }, FhirSource::None),
//! ])?;
//! let shape = CircuitShape::new(schema.num_attributes(), 2, 0)?;
//! let (pk, vk) = setup(&shape, &mut rng, &mut |_phase, _fraction| {})?;
//!
//! // Patient: a secret, whose nullifier key goes on chain.
//! let secret = PatientSecret::from_seed(&[7; 32]);
//! // Hospital: encode, commit, attest; the chain appends the commitment.
//! let record = schema.encode(&[("age", "52"), ("ldl", "131.5")])?;
//! // hEMR: the SHA-256 of the released bundle's bytes.
//! let bundle_hash = [0x5a; 32];
//! let opening = RecordOpening::random(&schema, record, secret.nullifier_key(), bundle_hash, &mut rng)?;
//! let mut accumulator = Accumulator::new();
//! let leaf = accumulator.append(&opening.commit()?)?;
//!
//! // Patient proves membership, eligibility and the study's nullifier.
//! let predicate = Predicate::parse("age >= 50 and ldl < 160", &schema)?;
//! let path = membership_path(&[opening.commit()?], leaf)?;
//! let study = study_tag(&[1; 32]);
//! let binding = binding_of(&[2; 32]);
//! let witness = EnrolmentWitness { opening: &opening, secret: &secret, path: &path };
//! let (statement, proof) = prove(&pk, &witness, &predicate, study, binding, &mut rng)?;
//!
//! // The contract rebuilds the statement from its own predicate and the chain's root.
//! let expected = Statement::enrolment(&vk, accumulator.root(), &predicate, study, binding,
//!                                     statement.nullifier, statement.exclusivity,
//!                                     statement.delivery)?;
//! assert!(verify(&vk, &expected, &Proof::from_bytes(&proof.to_bytes())?)?);
//!
//! // Researcher: the bundle it decrypted is the one the proof is about.
//! // (the patient sends it the delivery key with the bundle)
//! let key = secret.delivery_key(study)?;
//! assert_eq!(delivery_tag(&bundle_hash, &key, binding)?, statement.delivery);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod accumulator;
mod circuit;
mod codec;
mod error;
mod fhir;
mod ids;
mod poseidon;
mod predicate;
mod record;
mod schema;
mod shape;
mod snark;

pub use accumulator::{Accumulator, MembershipPath, membership_path};
pub use chrono::NaiveDate;
pub use codec::FIELD_BYTES;
pub use error::{Result, ZkError};
pub use fhir::record_from_bundle;
pub use ids::{
    AccumulatorRoot, Binding, Commitment, DeliveryKey, DeliveryTag, ExclusivityNullifier,
    Nullifier, NullifierKey, PatientSecret, StudyTag, binding_of, delivery_tag, study_tag,
};
pub use poseidon::poseidon_config;
pub use predicate::{Clause, Exclusion, Predicate, PredicateDigest};
pub use record::{Blinding, MISSING, Record, RecordOpening};
pub use schema::{Attribute, Encoding, FhirSource, Schema};
pub use shape::{
    ACCUMULATOR_DEPTH, CircuitShape, EXCLUSION_WIDTH, MAX_ATTRIBUTES, MAX_CLAUSES, MAX_EXCLUSIONS,
    SHAPE_BYTES,
};
pub use snark::{
    EnrolmentWitness, PROOF_BYTES, Proof, ProvingKey, STATEMENT_BYTES, SetupPhase, SetupProgress,
    Statement, VerifyingKey, prove, setup, verify,
};

/// Number of constraints of the circuit of `shape` (synthesised with a blank witness).
pub fn constraint_count(shape: &CircuitShape) -> Result<usize> {
    circuit::dimensions(shape).map(|d| d.constraints)
}
