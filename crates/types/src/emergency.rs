//! Emergency vouching (S3-emergency): the BLS12-381 keys with which a doctor and its hospital
//! vouch for an emergency request tx_ur, and the exact messages they sign.
//!
//! Each doctor and hospital registers a vouching key on chain with a proof of possession
//! ([`vouching_pop_message`]). An emergency request carries one signature: the sum of the
//! doctor's and the hospital's signatures over the same [`emergency_message`], checked in one
//! pairing against the sum of their two keys. Summing keys is only sound because every key
//! carries a proof of possession (otherwise a rogue key could cancel the other party's).
//!
//! Keys use commonware's MinPk variant: public keys are 48-byte G1 points, signatures 96-byte
//! G2 points. A vouching key is derived from the ed25519 chain key, so no new secret has to
//! be stored.

use crate::{
    Address, BlsPublicKey, BlsSignature, ChainId, Hash32, IdentityName, PrivateKey, RecordId,
    namespace,
};
use commonware_codec::{Copying, DecodeExt, Encode, FixedSize, Write};
use commonware_cryptography::{
    Signer as _, Verifier as _,
    bls12381::{
        self,
        primitives::{
            group::{Private, Scalar},
            ops::aggregate,
            variant::{MinPk, Variant},
        },
    },
};
use commonware_utils::iter::NonEmpty;
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// HKDF info deriving a vouching key from a chain key.
const VOUCHING_KEY_INFO: &[u8] = b"medchain vouching key v1";
/// Domain separation of the hash from derived bytes to a scalar.
const VOUCHING_SCALAR_DST: &[u8] = b"MEDCHAIN_VOUCHING_KEY_V1_SCALAR";

/// The message a vouching key's proof of possession signs: it binds the key to the chain and
/// to the address registering it, so a proof cannot be replayed for another account.
pub fn vouching_pop_message(chain_id: &ChainId, address: &Address, key: &BlsPublicKey) -> Vec<u8> {
    let mut message = Vec::new();
    chain_id.write(&mut message);
    address.write(&mut message);
    key.write(&mut message);
    message
}

/// htxu, the message both the doctor and its hospital sign for an emergency request: every
/// field of the request, so a vouch for one record, time or doctor vouches for nothing else.
pub fn emergency_message(
    chain_id: &ChainId,
    doctor: &IdentityName,
    hospital: &IdentityName,
    record: &RecordId,
    hur: &Hash32,
    issued_at_ms: u64,
) -> Vec<u8> {
    let mut message = Vec::new();
    chain_id.write(&mut message);
    doctor.write(&mut message);
    hospital.write(&mut message);
    record.write(&mut message);
    hur.write(&mut message);
    issued_at_ms.write(&mut message);
    message
}

/// A doctor's or hospital's BLS vouching key.
#[derive(Clone)]
pub struct BlsVouchingKey(bls12381::PrivateKey);

/// Derives the vouching key of the holder of `chain_key`: HKDF-SHA256 over the ed25519
/// secret, then hashed to a scalar. Deterministic, so it is re-derived rather than stored,
/// and independent of the chain key in every way an observer can use.
pub fn vouching_key_from(chain_key: &PrivateKey) -> BlsVouchingKey {
    let mut secret = Zeroizing::new([0u8; PrivateKey::SIZE]);
    chain_key.write(&mut secret.as_mut_slice());
    let mut okm = Zeroizing::new([0u8; 64]);
    Hkdf::<Sha256>::new(None, secret.as_ref())
        .expand(VOUCHING_KEY_INFO, okm.as_mut())
        // 64 bytes is far below HKDF-SHA256's 8160-byte output limit.
        .unwrap_or_else(|_| unreachable!("64 bytes is a valid HKDF-SHA256 length"));
    let scalar = Scalar::map(VOUCHING_SCALAR_DST, okm.as_ref());
    BlsVouchingKey(bls12381::PrivateKey::from(Private::new(scalar)))
}

impl BlsVouchingKey {
    /// The public key to register on chain.
    pub fn public(&self) -> BlsPublicKey {
        BlsPublicKey(to_array(self.0.public_key().as_ref()))
    }

    /// Signs an [`emergency_message`].
    pub fn sign(&self, message: &[u8]) -> BlsSignature {
        BlsSignature(to_array(
            self.0.sign(namespace::EMERGENCY, message).as_ref(),
        ))
    }

    /// Signs a MED chain message (a doctor's release or a hospital's batch root, see the
    /// `medchain-med` crate's `aggregate` module) under its own namespace, so a release
    /// signature can never pass for an emergency vouch or the reverse.
    pub fn sign_med(&self, message: &[u8]) -> BlsSignature {
        BlsSignature(to_array(self.0.sign(namespace::MED, message).as_ref()))
    }

    /// The proof of possession registered with the key by `address` on `chain_id`.
    pub fn proof_of_possession(&self, chain_id: &ChainId, address: &Address) -> BlsSignature {
        let message = vouching_pop_message(chain_id, address, &self.public());
        BlsSignature(to_array(
            self.0.sign(namespace::VOUCH_POP, &message).as_ref(),
        ))
    }
}

impl fmt::Debug for BlsVouchingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsVouchingKey(public {:?})", self.public())
    }
}

/// The sum of two signatures over the same message. `None` if either is not a valid G2 point.
pub fn aggregate(a: &BlsSignature, b: &BlsSignature) -> Option<BlsSignature> {
    let a = signature(a)?;
    let b = signature(b)?;
    let parts = [a.as_ref(), b.as_ref()];
    let sum = aggregate::combine_signatures::<MinPk, _>(NonEmpty::try_new(parts.into_iter())?);
    Some(BlsSignature(to_array(&sum.encode())))
}

/// Whether `proof` is `key`'s proof of possession for `address` on `chain_id`. False for
/// bytes that are not valid, non-identity points.
pub fn verify_proof_of_possession(
    chain_id: &ChainId,
    address: &Address,
    key: &BlsPublicKey,
    proof: &BlsSignature,
) -> bool {
    let (Some(public), Some(proof)) = (public_key(key), signature(proof)) else {
        return false;
    };
    public.verify(
        namespace::VOUCH_POP,
        &vouching_pop_message(chain_id, address, key),
        &proof,
    )
}

/// Whether `vouch` is the aggregate of signatures by both `first` and `second` over
/// `message` (an [`emergency_message`]). Both keys must carry verified proofs of possession;
/// two equal keys are refused, since the aggregate must come from two parties.
pub fn verify_aggregate(
    first: &BlsPublicKey,
    second: &BlsPublicKey,
    message: &[u8],
    vouch: &BlsSignature,
) -> bool {
    if first == second {
        return false;
    }
    let (Some(first), Some(second), Some(vouch)) = (
        public_key(first),
        public_key(second),
        aggregate_signature(vouch),
    ) else {
        return false;
    };
    let keys = [first.as_ref(), second.as_ref()];
    let Some(keys) = NonEmpty::try_new(keys.into_iter()) else {
        return false;
    };
    let sum = aggregate::combine_public_keys::<MinPk, _>(keys);
    aggregate::verify_same_message::<MinPk>(&sum, namespace::EMERGENCY, message, &vouch).is_ok()
}

fn public_key(key: &BlsPublicKey) -> Option<bls12381::PublicKey> {
    bls12381::PublicKey::decode(Copying(&key.0)).ok()
}

fn signature(signature: &BlsSignature) -> Option<bls12381::Signature> {
    bls12381::Signature::decode(Copying(&signature.0)).ok()
}

fn aggregate_signature(signature: &BlsSignature) -> Option<aggregate::Signature<MinPk>> {
    // Decoding the G2 point group-checks it, as aggregate verification requires.
    aggregate::Signature::<MinPk>::decode(Copying(&signature.0)).ok()
}

fn to_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut array = [0u8; N];
    array.copy_from_slice(bytes);
    array
}

// The wire types' lengths are the MinPk variant's, so `to_array` always gets N bytes.
const _: () = assert!(BlsPublicKey::LEN == <<MinPk as Variant>::Public as FixedSize>::SIZE);
const _: () = assert!(BlsSignature::LEN == <<MinPk as Variant>::Signature as FixedSize>::SIZE);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{address, chain, key, record_id};

    fn doctor() -> IdentityName {
        IdentityName::new("dr-kim@seoul-general").unwrap()
    }

    fn hospital() -> IdentityName {
        IdentityName::new("seoul-general").unwrap()
    }

    fn message(record: u64, issued_at_ms: u64) -> Vec<u8> {
        emergency_message(
            &chain(),
            &doctor(),
            &hospital(),
            &record_id(record),
            &record_id(9).0,
            issued_at_ms,
        )
    }

    #[test]
    fn vouching_keys_are_deterministic_per_chain_key() {
        assert_eq!(
            vouching_key_from(&key(1)).public(),
            vouching_key_from(&key(1)).public()
        );
        assert_ne!(
            vouching_key_from(&key(1)).public(),
            vouching_key_from(&key(2)).public()
        );
    }

    #[test]
    fn a_proof_of_possession_binds_key_chain_and_address() {
        let vouching = vouching_key_from(&key(1));
        let public = vouching.public();
        let proof = vouching.proof_of_possession(&chain(), &address(1));
        assert!(verify_proof_of_possession(
            &chain(),
            &address(1),
            &public,
            &proof
        ));
        assert!(!verify_proof_of_possession(
            &chain(),
            &address(2),
            &public,
            &proof
        ));
        let other_chain = ChainId::new("other-chain").unwrap();
        assert!(!verify_proof_of_possession(
            &other_chain,
            &address(1),
            &public,
            &proof
        ));
        let other = vouching_key_from(&key(2)).public();
        assert!(!verify_proof_of_possession(
            &chain(),
            &address(1),
            &other,
            &proof
        ));
        // A signature over the emergency message is not a proof of possession.
        let not_a_proof = vouching.sign(&vouching_pop_message(&chain(), &address(1), &public));
        assert!(!verify_proof_of_possession(
            &chain(),
            &address(1),
            &public,
            &not_a_proof
        ));
    }

    #[test]
    fn an_aggregate_vouch_needs_both_parties_over_the_same_message() {
        let doctor_key = vouching_key_from(&key(1));
        let hospital_key = vouching_key_from(&key(2));
        let (doctor_public, hospital_public) = (doctor_key.public(), hospital_key.public());
        let htxu = message(1, 1_000);
        let vouch = aggregate(&doctor_key.sign(&htxu), &hospital_key.sign(&htxu)).unwrap();
        assert!(verify_aggregate(
            &doctor_public,
            &hospital_public,
            &htxu,
            &vouch
        ));
        assert!(verify_aggregate(
            &hospital_public,
            &doctor_public,
            &htxu,
            &vouch
        ));
        // Another record or time.
        assert!(!verify_aggregate(
            &doctor_public,
            &hospital_public,
            &message(2, 1_000),
            &vouch
        ));
        assert!(!verify_aggregate(
            &doctor_public,
            &hospital_public,
            &message(1, 1_001),
            &vouch
        ));
        // One party alone.
        let alone = doctor_key.sign(&htxu);
        assert!(!verify_aggregate(
            &doctor_public,
            &hospital_public,
            &htxu,
            &alone
        ));
        // The doctor signing twice is not the hospital vouching.
        let twice = aggregate(&alone, &alone).unwrap();
        assert!(!verify_aggregate(
            &doctor_public,
            &hospital_public,
            &htxu,
            &twice
        ));
        // One key counted twice.
        assert!(!verify_aggregate(
            &doctor_public,
            &doctor_public,
            &htxu,
            &twice
        ));
        // A third party's key in place of the hospital's.
        let stranger = vouching_key_from(&key(3)).public();
        assert!(!verify_aggregate(&doctor_public, &stranger, &htxu, &vouch));
    }

    #[test]
    fn bytes_that_are_not_points_never_verify() {
        let vouching = vouching_key_from(&key(1));
        let garbage_key = BlsPublicKey([0xff; BlsPublicKey::LEN]);
        let garbage_signature = BlsSignature([0xff; BlsSignature::LEN]);
        assert!(aggregate(&garbage_signature, &vouching.sign(b"m")).is_none());
        assert!(!verify_proof_of_possession(
            &chain(),
            &address(1),
            &garbage_key,
            &vouching.proof_of_possession(&chain(), &address(1))
        ));
        assert!(!verify_aggregate(
            &garbage_key,
            &vouching.public(),
            b"m",
            &vouching.sign(b"m")
        ));
        assert!(!verify_aggregate(
            &vouching.public(),
            &vouching_key_from(&key(2)).public(),
            b"m",
            &garbage_signature
        ));
    }
}
