//! Every way a threshold re-encryption step can fail.

use thiserror::Error;

/// Errors of this crate. Malformed input is an error, never a panic.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PreError {
    /// A public key is not a compressed secp256k1 point (33 bytes) on the curve.
    #[error("the {role} public key is not a compressed secp256k1 point")]
    BadPublicKey {
        /// Which key: "delegating", "verifying", "receiving".
        role: &'static str,
    },
    /// A secret key's bytes are not a valid non-zero scalar (or not 32 bytes).
    #[error("the {role} secret key is malformed (expected 32 bytes of a valid non-zero key)")]
    BadSecretKey {
        /// Which key: "researcher", "proxy".
        role: &'static str,
    },
    /// The threshold must satisfy 1 ≤ threshold ≤ proxies ≤ 255.
    #[error("threshold {threshold} of {proxies} proxies is invalid (need 1 <= t <= n <= 255)")]
    BadThreshold {
        /// The requested threshold.
        threshold: u8,
        /// The number of proxies.
        proxies: usize,
    },
    /// The record could not be encrypted (plaintext too large for the DEM).
    #[error("the record could not be encrypted: {0}")]
    Encrypt(String),
    /// Encrypted record bytes do not decode.
    #[error("malformed encrypted record: {0}")]
    MalformedRecord(&'static str),
    /// Sealed key fragment bytes are too short to hold an HPKE encapsulated key and tag.
    #[error("malformed sealed key fragment: {0}")]
    MalformedSealedKeyFrag(&'static str),
    /// HPKE refused to open the sealed key fragment: it was sealed to another proxy or for
    /// another enrolment, or altered on the way.
    #[error("the key fragment was not sealed to this proxy for this enrolment (or was altered)")]
    SealNotForUs,
    /// Sealing a key fragment to a proxy failed (its public key is not a valid X25519 key).
    #[error("could not seal a key fragment to proxy {index}: {reason}")]
    Seal {
        /// Index of the proxy in the list given to `grant`.
        index: usize,
        /// What HPKE reported.
        reason: String,
    },
    /// The opened key fragment does not decode.
    #[error("malformed key fragment inside the seal")]
    MalformedKeyFrag,
    /// The key fragment does not verify against the delegating, verifying and receiving keys.
    #[error("the key fragment does not verify against the enrolment's keys: {0}")]
    KeyFragRejected(String),
    /// A capsule fragment's bytes do not decode.
    #[error("malformed capsule fragment")]
    MalformedCapsuleFrag,
    /// Capsule fragment number `index` does not verify: its proxy re-encrypted wrongly or
    /// altered it.
    #[error("capsule fragment {index} does not verify: {reason}")]
    BadCapsuleFrag {
        /// Position of the fragment in the list given to `open`.
        index: usize,
        /// What failed.
        reason: String,
    },
    /// Fewer valid capsule fragments than the threshold.
    #[error("{valid} valid capsule fragments, the threshold is {threshold}")]
    NotEnoughCapsuleFrags {
        /// Distinct fragments that verified.
        valid: usize,
        /// Fragments needed.
        threshold: u8,
    },
    /// The verified fragments did not open the capsule, or the ciphertext failed to authenticate.
    #[error("the record could not be decrypted: {0}")]
    Decrypt(String),
}
