//! The 32-byte field-element values of the enrolment protocol, the patient secret and the
//! hash-to-field maps that make them.
//!
//! Each value is one BN254 scalar field element, stored as its canonical 32-byte little-endian
//! encoding. The byte array is public so a chain can store and compare it as it is; whoever turns
//! one into a field element (proving, verifying) checks it is canonical (< the modulus), so two
//! encodings of the same element never coexist.

use crate::codec::{FIELD_BYTES, fr_from_slice, fr_to_bytes};
use crate::error::Result;
use crate::poseidon::{
    Fr, hash, hash_to_field, tag_delivery, tag_delivery_key, tag_exclusivity, tag_nullifier_key,
    tag_study,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

macro_rules! field_value {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; FIELD_BYTES]);

        impl $name {
            /// The canonical 32-byte little-endian encoding.
            pub fn to_bytes(&self) -> [u8; FIELD_BYTES] {
                self.0
            }

            /// Decodes exactly 32 bytes holding a canonical field element.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
                fr_from_slice($what, bytes).map(Self::from_field)
            }

            pub(crate) fn from_field(value: Fr) -> Self {
                Self(fr_to_bytes(&value))
            }

            /// The field element; refuses a non-canonical encoding.
            pub(crate) fn field(&self) -> Result<Fr> {
                fr_from_slice($what, &self.0)
            }
        }

        impl std::fmt::Display for $name {
            /// Lowercase hex of the 32 bytes.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
    };
}

field_value!(
    /// The public record commitment `C` the hospital attests and the accumulator holds:
    /// `Poseidon(TAG_RECORD, schema tag, N, record root, blinding, nk, h)`.
    Commitment,
    "commitment"
);
field_value!(
    /// `nk = Poseidon(TAG_NK, s)`: filed on chain once per patient, hashed into every commitment
    /// the hospitals make for that patient.
    NullifierKey,
    "nullifier key"
);
field_value!(
    /// Root of the accumulator of attested commitments (a public input of every enrolment).
    AccumulatorRoot,
    "accumulator root"
);
field_value!(
    /// A study identifier mapped into the field ([`study_tag`]).
    StudyTag,
    "study tag"
);
field_value!(
    /// A transaction digest mapped into the field ([`binding_of`]): ties a proof to its
    /// transaction's sender and keys.
    Binding,
    "binding"
);
field_value!(
    /// `Poseidon(TAG_STUDY, s, study)`: one per (patient, study); refuses a second enrolment.
    Nullifier,
    "nullifier"
);
field_value!(
    /// `Poseidon(TAG_EXCL, s, C)`: one per attested record, whatever the study (S4-exclusive).
    ExclusivityNullifier,
    "exclusivity nullifier"
);

field_value!(
    /// `Poseidon(TAG_DELIVERY, h, k, binding)` with `h` the field reduction of the released
    /// record's SHA-256 and `k` the enrolment's [`DeliveryKey`] ([`delivery_tag`]): what the
    /// researcher who decrypts the delivered bundle recomputes to check it is the record the
    /// proof is about. Without `k` it cannot be recomputed, even by whoever knows the public hEMR.
    DeliveryTag,
    "delivery tag"
);
field_value!(
    /// `k = Poseidon(TAG_DKEY, s, study)`: the per-enrolment key the patient ships to the
    /// researcher with the bundle ([`PatientSecret::delivery_key`]), so that only the researcher
    /// can check the delivery tag.
    DeliveryKey,
    "delivery key"
);

/// Maps a study id (e.g. the publishing transaction's id) into the field.
pub fn study_tag(study_id: &[u8; 32]) -> StudyTag {
    StudyTag::from_field(hash_to_field(b"medchain/zk/study/v1", study_id))
}

/// Maps a 32-byte digest of the enrolment transaction's sender and keys into the field.
pub fn binding_of(digest: &[u8; 32]) -> Binding {
    Binding::from_field(hash_to_field(b"medchain/zk/binding/v1", digest))
}

/// The delivery tag of the record whose bundle hashes (SHA-256) to `record_hash`, delivered in
/// the enrolment bound to `binding` with delivery key `key`: a researcher computes it from the
/// bundle it decrypted and the key that came with it, and compares it with the enrolment's
/// proven [`DeliveryTag`].
///
/// Refuses a non-canonical key or binding (32 bytes ≥ the modulus).
pub fn delivery_tag(
    record_hash: &[u8; 32],
    key: &DeliveryKey,
    binding: Binding,
) -> Result<DeliveryTag> {
    Ok(DeliveryTag::from_field(delivery_hash(
        record_hash_field(record_hash),
        key.field()?,
        binding.field()?,
    )))
}

/// `h`: a released record's SHA-256 (hEMR) reduced into the field (the crate's SHA-256 based
/// hash to field), as the commitment and the delivery tag hash it.
pub(crate) fn record_hash_field(record_hash: &[u8; 32]) -> Fr {
    hash_to_field(b"medchain/zk/record-hash/v1", record_hash)
}

/// The patient's secret `s`: it derives the nullifier key and every nullifier. Whoever holds it
/// can enrol the patient's records; it is wiped from memory on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PatientSecret(Fr);

impl PatientSecret {
    /// Derives the secret from 32 bytes of key material (the caller derives those from the
    /// patient's chain key with HKDF): SHA-256 based hash to field, uniform up to 2^-250.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(hash_to_field(b"medchain/zk/patient-secret/v1", seed))
    }

    /// The canonical 32-byte encoding (secret material: keep it sealed).
    pub fn to_bytes(&self) -> [u8; FIELD_BYTES] {
        fr_to_bytes(&self.0)
    }

    /// Decodes exactly 32 canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        fr_from_slice("patient secret", bytes).map(Self)
    }

    /// `nk = Poseidon(TAG_NK, s)`.
    pub fn nullifier_key(&self) -> NullifierKey {
        NullifierKey::from_field(hash(&[tag_nullifier_key(), self.0]))
    }

    /// `Poseidon(TAG_STUDY, s, study)`: what an enrolment in `study` reveals.
    pub fn nullifier(&self, study: StudyTag) -> Result<Nullifier> {
        Ok(Nullifier::from_field(nullifier_hash(
            self.0,
            study.field()?,
        )))
    }

    /// `Poseidon(TAG_EXCL, s, C)`: what every enrolment of the record committed in `commitment`
    /// reveals.
    pub fn exclusivity(&self, commitment: Commitment) -> Result<ExclusivityNullifier> {
        Ok(ExclusivityNullifier::from_field(exclusivity_hash(
            self.0,
            commitment.field()?,
        )))
    }

    /// `k = Poseidon(TAG_DKEY, s, study)`: the key to send the researcher with the bundle of
    /// the enrolment in `study`. It depends on the study, not on the binding, because the
    /// binding covers the ciphertext's hash and the ciphertext carries `k`; one enrolment per
    /// patient and study (the nullifier) makes it per enrolment all the same.
    pub fn delivery_key(&self, study: StudyTag) -> Result<DeliveryKey> {
        Ok(DeliveryKey::from_field(delivery_key_hash(
            self.0,
            study.field()?,
        )))
    }

    pub(crate) fn field(&self) -> Fr {
        self.0
    }
}

impl std::fmt::Debug for PatientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientSecret(..)")
    }
}

pub(crate) fn nullifier_hash(secret: Fr, study: Fr) -> Fr {
    hash(&[tag_study(), secret, study])
}

pub(crate) fn delivery_key_hash(secret: Fr, study: Fr) -> Fr {
    hash(&[tag_delivery_key(), secret, study])
}

pub(crate) fn delivery_hash(record_hash: Fr, key: Fr, binding: Fr) -> Fr {
    hash(&[tag_delivery(), record_hash, key, binding])
}

pub(crate) fn exclusivity_hash(secret: Fr, commitment: Fr) -> Fr {
    hash(&[tag_exclusivity(), secret, commitment])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_deterministic_and_separate_their_outputs() {
        let a = PatientSecret::from_seed(&[1; 32]);
        let b = PatientSecret::from_seed(&[2; 32]);
        assert_eq!(a, PatientSecret::from_seed(&[1; 32]));
        assert_ne!(a, b);
        assert_eq!(PatientSecret::from_bytes(&a.to_bytes()), Ok(a.clone()));
        assert_ne!(a.nullifier_key(), b.nullifier_key());
        let (s1, s2) = (study_tag(&[7; 32]), study_tag(&[8; 32]));
        let nullifier = a.nullifier(s1).expect("canonical");
        assert_eq!(nullifier, a.nullifier(s1).expect("canonical"));
        assert_ne!(nullifier, a.nullifier(s2).expect("canonical"));
        assert_ne!(nullifier, b.nullifier(s1).expect("canonical"));
        let c = Commitment::from_field(Fr::from(5u64));
        let exclusive = a.exclusivity(c).expect("canonical");
        assert_ne!(exclusive, b.exclusivity(c).expect("canonical"));
        // Same inputs, different tags: a nullifier is never an exclusivity nullifier.
        assert_ne!(
            nullifier_hash(a.field(), Fr::from(5u64)),
            exclusivity_hash(a.field(), Fr::from(5u64))
        );
        assert_eq!(format!("{a:?}"), "PatientSecret(..)");
    }

    #[test]
    fn hash_to_field_values_are_canonical_and_domain_separated() {
        assert_ne!(study_tag(&[1; 32]).0, binding_of(&[1; 32]).0);
        assert!(StudyTag::from_bytes(&study_tag(&[9; 32]).0).is_ok());
        assert!(Nullifier::from_bytes(&[0xff; 32]).is_err());
        assert!(Nullifier([0xff; 32]).field().is_err());
        assert!(PatientSecret::from_bytes(&[0xff; 32]).is_err());
        assert!(PatientSecret::from_bytes(&[1; 31]).is_err());
        assert_eq!(
            Binding::from_field(Fr::from(1u64)).to_string(),
            format!("01{}", "00".repeat(31))
        );
    }
}
