//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong in `taka`.
///
/// Decoding errors say *what* was malformed; protocol rejections deliberately say little
/// (an attacker probing a hospital learns only "rejected", not which check failed).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Input ended before the value was complete.
    #[error("truncated input while reading {0}")]
    Truncated(&'static str),
    /// Bytes were left over after a complete value.
    #[error("{0} trailing bytes after a complete value")]
    TrailingBytes(usize),
    /// A field did not decode to a valid value.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A group element was not a valid, subgroup-checked compressed point.
    #[error("invalid curve point for {0}")]
    InvalidPoint(&'static str),
    /// A group element was the identity where the protocol needs a generator of the group.
    #[error("identity point not allowed for {0}")]
    IdentityPoint(&'static str),
    /// A scalar was not canonical (not below the group order).
    #[error("non-canonical scalar for {0}")]
    NonCanonicalScalar(&'static str),
    /// A scalar was zero where the protocol needs an element of Zq*.
    #[error("zero scalar not allowed for {0}")]
    ZeroScalar(&'static str),
    /// An identity string was empty or too long.
    #[error("identity must be 1..={max} bytes, got {len}")]
    InvalidIdentity {
        /// Length that was given.
        len: usize,
        /// Largest accepted length.
        max: usize,
    },
    /// Record indices start at 1 (S3-release numbers EMRs 1..n).
    #[error("record index must be at least 1")]
    InvalidRecordIndex,
    /// A list was empty, too long, or contained duplicates.
    #[error("invalid list of {0}")]
    InvalidList(&'static str),
    /// Public parameters failed their consistency check (S3-setup).
    #[error("inconsistent public parameters")]
    InconsistentParams,
    /// The PKG's registration response failed the entity's checks (S3-register).
    #[error("registration response rejected: {0}")]
    RegistrationRejected(&'static str),
    /// A Schnorr-like signature did not verify (S3-register).
    #[error("signature does not verify")]
    BadSignature,
    /// A licence was not issued to this doctor, by a valid signature, or has expired.
    #[error("licence rejected: {0}")]
    LicenceRejected(&'static str),
    /// A message named a different party than the one this state belongs to.
    #[error("message addressed to another party: {0}")]
    WrongParty(&'static str),
    /// The agreement's G1/G2 copies of the initiator's ephemeral key disagree (S3-agree).
    #[error("inconsistent ephemeral key pair")]
    InconsistentEphemeral,
    /// c1 + Q_A + Q_B is zero, so no authorization exists for this pair (S3-share).
    #[error("degenerate authorization")]
    DegenerateAuthorization,
    /// The hospital rejected a sharing request (S3-share): forged or foreign authorization,
    /// α_CB̄ not bound to T_b, tampered record list, header or σ, or records the patient did
    /// not grant.
    #[error("sharing request rejected")]
    RequestRejected,
    /// Authenticated decryption failed: wrong key, wrong context or tampered ciphertext.
    #[error("decryption failed")]
    Decryption,
    /// The biometric key-derivation parameters were out of the accepted range (S3-entry).
    #[error("biometric KDF parameters rejected: {0}")]
    KdfParams(&'static str),
    /// A stored entry asks for more Argon2 work than a reader accepts (S3-entry): refused before
    /// any memory is allocated, so a planted entry cannot exhaust the reader.
    #[error("biometric KDF cost above the reader's cap: {0}")]
    KdfCostAboveCap(&'static str),
    /// Sealing an entry with Argon2 parameters below the recommended floor (S3-entry): the
    /// entry is public, so weak parameters make guessing templates cheap.
    #[error("biometric KDF parameters below the recommended floor: {0}")]
    KdfTooWeak(&'static str),
    /// A plaintext too long for its ciphertext to fit one message field.
    #[error("plaintext too long to seal")]
    PlaintextTooLong,
    /// Key confirmation failed (S3-agree enrolment): the other party does not hold the
    /// identity key of the identity it claims, or the messages were tampered with.
    #[error("key confirmation failed")]
    KeyConfirmation,
    /// The patient's authorization has expired (S3-share).
    #[error("authorization expired")]
    AuthorizationExpired,
    /// A master-key share does not match the public polynomial at its evaluation point
    /// (wrong share, wrong index mapping or another DKG's polynomial).
    #[error("master key share at x = {x} does not match the public polynomial")]
    ShareMismatch {
        /// The share's evaluation point.
        x: u32,
    },
    /// A node refused a threshold extraction request: its own nonce commitment is not in it,
    /// or it does not name exactly `threshold` commitments.
    #[error("extraction request refused: {0}")]
    InvalidExtractionRequest(&'static str),
    /// The partial key from the node at evaluation point x failed its checks against the public
    /// polynomial: that node is faulty or malicious. Restart the extraction without it.
    #[error("partial key from the node at x = {x} is invalid")]
    BadPartialKey {
        /// The evaluation point of the node that sent it.
        x: u32,
    },
    /// Fewer valid partial keys than the threshold: wait for more nodes or restart the
    /// extraction with nodes that are up.
    #[error("{got} partial keys, {need} needed")]
    NotEnoughPartials {
        /// Partial keys received.
        got: usize,
        /// The threshold t.
        need: usize,
    },
    /// A partial key from a node whose commitment is not in the request, or a second one from
    /// the same node.
    #[error("unexpected partial key from the node at x = {x}")]
    UnexpectedPartial {
        /// The evaluation point named in the partial key.
        x: u32,
    },
}

/// Result alias used throughout the crate.
pub type Result<T> = core::result::Result<T, Error>;
