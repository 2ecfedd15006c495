//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong in `zk`. Bad input (bytes, text, FHIR JSON) always ends here,
/// never in a panic.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ZkError {
    /// A byte string did not decode: wrong length, bad header, non-canonical or invalid encoding
    /// (a point not on the curve or not in the prime-order subgroup, a field element ≥ the modulus).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which wire type was being decoded.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A circuit shape outside the supported bounds.
    #[error("invalid circuit shape: {0}")]
    InvalidShape(String),
    /// A predicate that is structurally invalid or does not fit the circuit.
    #[error("invalid predicate: {0}")]
    InvalidPredicate(String),
    /// The predicate text did not parse.
    #[error("predicate syntax error at byte {position}: {message}")]
    Syntax {
        /// Byte offset in the input where the problem was noticed.
        position: usize,
        /// What was expected or found.
        message: String,
    },
    /// A value that the attribute's encoding cannot represent.
    #[error("cannot encode attribute `{attribute}`: {reason}")]
    Encoding {
        /// Attribute name from the schema.
        attribute: String,
        /// Why the value was refused.
        reason: String,
    },
    /// An invalid schema definition.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// The FHIR bundle could not be mapped to an attribute vector.
    #[error("FHIR bundle: {0}")]
    Fhir(String),
    /// A record whose length does not match the circuit, or an invalid attribute value.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// Keys, proof or statement belong to different circuit shapes.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// The proving system failed (constraint synthesis or key generation).
    #[error("proving system: {0}")]
    ProvingSystem(String),
    /// The record does not satisfy the predicate: no enrolment proof exists for it (the circuit
    /// only proves eligibility, never its absence).
    #[error("the record does not satisfy the predicate: nothing to prove")]
    NotEligible,
    /// The accumulator holds 2^24 commitments already.
    #[error("the accumulator is full (2^24 leaves)")]
    AccumulatorFull,
    /// Opening, predicate or schema belong to different schemas.
    #[error("schema mismatch: {0}")]
    SchemaMismatch(String),
    /// The witness is inconsistent (a membership path for a leaf that is not there, …).
    #[error("invalid witness: {0}")]
    InvalidWitness(String),
    /// A freshly generated proof did not verify under the proving key's own verifying key: the
    /// proving key is corrupt or the witness inconsistent. Nothing is returned to submit.
    #[error("generated proof failed its self-check (corrupt proving key?)")]
    SelfCheckFailed,
}

impl ZkError {
    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            reason: reason.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ZkError>;
