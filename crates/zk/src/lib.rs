//! Zero-knowledge eligibility proofs over hospital-attested medical records (issue 4).
//!
//! Seed 004 (S4-flow) lets a patient prove to a research institution's contract that their data
//! meets its requirements without revealing the data. This crate is that proving system, with
//! the seed's weakness fixed: the proof is about a record the *hospital* committed to.
//!
//! 1. The hospital maps a FHIR R4 bundle to an attribute vector ([`record_from_bundle`], schema
//!    [`Schema::clinical_v1`]), commits to it ([`RecordOpening::commit`]: Poseidon Merkle tree +
//!    blinding) and signs the [`Commitment`]; the patient keeps the [`RecordOpening`].
//! 2. The institution publishes a [`Predicate`] (parsed from text such as
//!    `age in 40..=70 and icd10 == E11 and hba1c >= 6.5`).
//! 3. One trusted [`setup`] per [`CircuitShape`] (`N` attributes, `K` clause slots) serves every
//!    such predicate; the patient runs [`prove`], the contract runs [`verify`] on
//!    [`Statement::eligibility`].
//!
//! Groth16 on BN254 (arkworks 0.6); every wire type has a canonical, length-checked
//! `to_bytes`/`from_bytes`. This crate knows nothing about chains.
//!
//! ```
//! # fn main() -> Result<(), zk::ZkError> {
//! use ark_std::rand::{SeedableRng, rngs::StdRng};
//! use zk::*;
//!
//! let mut rng = StdRng::seed_from_u64(1); // use OsRng-backed randomness in production
//! let schema = Schema::new(vec![
//!     Attribute::new("age", Encoding::Integer, FhirSource::None),
//!     Attribute::new("ldl", Encoding::Quantity { decimals: 1, unit: "mg/dL".into() }, FhirSource::None),
//! ])?;
//! let shape = CircuitShape::new(schema.num_attributes(), 2)?;
//! let (pk, vk) = setup(&shape, &mut rng, &mut |_phase, _fraction| {})?;
//!
//! // Hospital: encode, commit, sign `commitment` (signing is another crate's job).
//! let record = schema.encode(&[("age", "52"), ("ldl", "131.5")])?;
//! let opening = RecordOpening::random(record, &mut rng);
//! let commitment = opening.commit()?;
//!
//! // Patient proves; the contract verifies against the signed commitment and its predicate.
//! let predicate = Predicate::parse("age >= 50 and ldl < 160", &schema)?;
//! let (_statement, proof) = prove(&pk, &opening, &predicate, &mut rng)?;
//! let statement = Statement::eligibility(&vk, commitment, &predicate)?;
//! assert!(verify(&vk, &statement, &Proof::from_bytes(&proof.to_bytes())?)?);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod circuit;
mod codec;
mod error;
mod fhir;
mod poseidon;
mod predicate;
mod record;
mod schema;
mod shape;
mod snark;

pub use chrono::NaiveDate;
pub use codec::FIELD_BYTES;
pub use error::{Result, ZkError};
pub use fhir::record_from_bundle;
pub use poseidon::poseidon_config;
pub use predicate::{Clause, Predicate, PredicateDigest};
pub use record::{Blinding, Commitment, MISSING, Record, RecordOpening};
pub use schema::{Attribute, Encoding, FhirSource, Schema};
pub use shape::{CircuitShape, MAX_ATTRIBUTES, MAX_CLAUSES};
pub use snark::{
    PROOF_BYTES, Proof, ProvingKey, SetupPhase, SetupProgress, Statement, VerifyingKey, prove,
    setup, verify,
};

/// Number of constraints of the circuit of `shape` (synthesised with a blank witness).
pub fn constraint_count(shape: &CircuitShape) -> Result<usize> {
    circuit::constraint_count(shape)
}
