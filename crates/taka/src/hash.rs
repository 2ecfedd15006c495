//! The seed's hash functions H0…H7 and H_sk (S3-setup), each under its own domain-separation tag.
//!
//! * to Zq*: RFC 9380 `hash_to_field` (expand_message_xmd/SHA-256 to 48 bytes, reduced mod q),
//!   resampled with a counter in the (2^-255) event of zero — never truncation;
//! * to G1*/G2*: RFC 9380 hash-to-curve (SSWU, random oracle);
//! * to keys (H_sk, record-binding tags): HKDF-SHA256; the seed's H3 pad is not used (S3-share
//!   encrypts the record list instead, see [`crate::ShareRequest`]);
//! * H6 (biometric) is replaced by Argon2id, see [`crate::entry`].
//!
//! Multi-part inputs are encoded injectively with [`Writer`] (length prefixes, fixed-size points).

use blst::blst_scalar;
use blstrs::{G1Affine, G2Affine, Scalar};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::codec::Writer;
use crate::curve;
use crate::identity::Identity;

const DST_H0: &[u8] = b"MEDCHAIN-TAKA-V1-H0-ID-TO-ZQ";
const DST_H1_G1: &[u8] = b"MEDCHAIN-TAKA-V1-H1_BLS12381G1_XMD:SHA-256_SSWU_RO_";
const DST_H1_G2: &[u8] = b"MEDCHAIN-TAKA-V1-H1_BLS12381G2_XMD:SHA-256_SSWU_RO_";
const DST_H2: &[u8] = b"MEDCHAIN-TAKA-V1-H2-SIGNATURE-CHALLENGE";
const DST_H4: &[u8] = b"MEDCHAIN-TAKA-V1-H4-FACTOR-SEED";
const DST_FACTOR: &[u8] = b"MEDCHAIN-TAKA-V1-INITIAL-FACTOR";
const DST_H5: &[u8] = b"MEDCHAIN-TAKA-V1-H5-FACTOR-CHAIN";
const DST_H7: &[u8] = b"MEDCHAIN-TAKA-V1-H7-KEY-BINDING";
const DST_HSK: &[u8] = b"MEDCHAIN-TAKA-V1-HSK-SESSION-KEY";
const DST_TAU: &[u8] = b"MEDCHAIN-TAKA-V1-RECORD-BINDING-TAG";
const DST_HUR: &[u8] = b"MEDCHAIN-TAKA-V1-HUR";

/// Hashes to a non-zero scalar (RFC 9380 hash_to_field, L = 48).
fn to_scalar(msg: &[u8], dst: &[u8]) -> Scalar {
    let mut counter: u32 = 0;
    loop {
        let mut input = Zeroizing::new(msg.to_vec());
        if counter > 0 {
            input.extend_from_slice(&counter.to_be_bytes());
        }
        // `hash_to` returns None exactly when the reduced value is zero.
        let hashed = blst_scalar::hash_to(&input, dst).and_then(|s| s.try_into().ok());
        if let Some(s) = hashed {
            return s;
        }
        counter += 1;
    }
}

/// H0: {0,1}* → Zq*, Q_U = H0(ID_U), the authorization value (S3-register, S3-share).
pub(crate) fn h0(id: &Identity) -> Scalar {
    to_scalar(id.as_bytes(), DST_H0)
}

/// H1 into G1: Q̂_U = H1(ID_U) ∈ G1 (the seed's only H1; the asymmetric adaptation adds G2).
pub(crate) fn h1_g1(id: &Identity) -> G1Affine {
    curve::hash_to_g1(id.as_bytes(), DST_H1_G1)
}

/// H1 into G2: Q̌_U = H1'(ID_U) ∈ G2.
pub(crate) fn h1_g2(id: &Identity) -> G2Affine {
    curve::hash_to_g2(id.as_bytes(), DST_H1_G2)
}

/// The inputs of the signature challenge H2.
pub(crate) struct Challenge<'a> {
    pub message: &'a [u8],
    pub signer: &'a Identity,
    pub p_pub: &'a G1Affine,
    pub l: &'a G1Affine,
    pub t: &'a G1Affine,
}

/// H2: {0,1}* × G1^3 → Zq*, h = H2(m ‖ ID ‖ P_pub ‖ L ‖ T) (S3-share).
pub(crate) fn h2(c: &Challenge<'_>) -> Scalar {
    let mut w = Writer::new();
    w.bytes(c.message);
    c.signer.write(&mut w);
    w.g1(c.p_pub).g1(c.l).g1(c.t);
    to_scalar(&w.into_bytes(), DST_H2)
}

/// H4: Zq* × segment → Zq*, the first link of a factor chain (S3-release). The seed's H4 takes
/// the G1 point s_α; here s_α is already a scalar derived from the whole enrolment transcript
/// (see [`initial_factor`]).
pub(crate) fn h4(seed: &Scalar, segment: u64) -> Scalar {
    let mut w = Writer::new();
    w.scalar(seed).u64(segment);
    to_scalar(&w.into_secret_bytes(), DST_H4)
}

/// H5: Zq*^k → Zq*, one step of a factor chain (S3-release). The seed's `s ⊕ t` input is
/// encoded as the pair (s, t): injective, and without XOR's algebraic cancellations.
pub(crate) fn h5(inputs: &[&Scalar]) -> Scalar {
    let mut w = Writer::new();
    for s in inputs {
        w.scalar(s);
    }
    to_scalar(&w.into_secret_bytes(), DST_H5)
}

/// H7: {0,1}* × G1 × G1 → Zq*, f = H7(ID_U ‖ P_pub ‖ L_U) (S3-register).
pub(crate) fn h7(id: &Identity, p_pub: &G1Affine, l: &G1Affine) -> Scalar {
    let mut w = Writer::new();
    id.write(&mut w);
    w.g1(p_pub).g1(l);
    to_scalar(&w.into_bytes(), DST_H7)
}

/// The initial factor s_α (`which` = "alpha") or s_β ("beta") of an enrolment (S3-agree): a
/// hash of the transcript that holds the identity-based K as well as the DH values c1·a2·P and
/// c2·a1·P, so only holders of both the ephemerals and the identity keys can compute it.
pub(crate) fn initial_factor(which: &[u8], transcript: &[u8]) -> Scalar {
    let mut w = Writer::new();
    w.bytes(which).bytes(transcript);
    to_scalar(&w.into_secret_bytes(), DST_FACTOR)
}

/// H_sk: {0,1}* → {0,1}^256 (HKDF-SHA256), a session key from its transcript.
pub(crate) fn h_sk(label: &[u8], transcript: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    let expanded = Hkdf::<Sha256>::new(Some(DST_HSK), transcript).expand(label, &mut key[..]);
    debug_assert!(expanded.is_ok(), "32 bytes is within HKDF's range");
    key
}

/// The record-binding tag τ_j that the patient hands the doctor with W_j (our S3-share addition):
/// derived from the factor s_α^j that only patient and hospital know.
pub(crate) fn record_tag(factor_input: &[u8]) -> [u8; 32] {
    let mut tag = [0u8; 32];
    let expanded = Hkdf::<Sha256>::new(Some(DST_TAU), factor_input).expand(b"tau", &mut tag);
    debug_assert!(expanded.is_ok(), "32 bytes is within HKDF's range");
    tag
}

/// HKDF info of a record's blob key: the label fixes what the key is for, so the same factor
/// never yields the same bytes for another purpose (e.g. the record-binding tag τ_j).
const RECORD_KEY_INFO: &[u8] = b"medchain record key v1";

/// The AES-256-GCM key of one record's blob, HKDF-SHA256 over the factor's canonical bytes.
pub(crate) fn record_key(factor_bytes: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    let expanded = Hkdf::<Sha256>::new(None, factor_bytes).expand(RECORD_KEY_INFO, &mut key[..]);
    debug_assert!(expanded.is_ok(), "32 bytes is within HKDF's range");
    key
}

const EMERGENCY_GATE_INFO: &[u8] = b"medchain emergency gate v1";

/// The emergency gate of a record: HKDF-SHA256 of its factor's bytes under its own label (see
/// `EncryptionFactor::emergency_gate`).
pub(crate) fn emergency_gate(factor_bytes: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut gate = Zeroizing::new([0u8; 32]);
    let expanded =
        Hkdf::<Sha256>::new(None, factor_bytes).expand(EMERGENCY_GATE_INFO, &mut gate[..]);
    debug_assert!(expanded.is_ok(), "32 bytes is within HKDF's range");
    gate
}

/// H: the plain SHA-256 digest used for hUR = H(η) (S3-emergency).
pub(crate) fn h_ur(eta: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(DST_HUR)
        .chain_update(eta)
        .finalize()
        .into()
}

/// Tag of H_ρ, the binding factors of threshold key extraction.
const DST_RHO: &[u8] = b"MEDCHAIN-TAKA-V1-RHO-THRESHOLD-BINDING-FACTOR";

/// H_ρ: ({0,1}*, x) → Zq*, the binding factor ρ_x = H_ρ(x ‖ SHA-256(tag ‖ context)) of node x
/// in a threshold key extraction (FROST-style), one per node of the request. `context` is the
/// request (ID_U, P_pub, L_U1, every nonce commitment); it is digested once, so the t factors
/// cost t short hashes rather than t hashes of the whole request.
pub(crate) fn binding_factors(context: &[u8], nodes: impl Iterator<Item = u32>) -> Vec<Scalar> {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(DST_RHO)
        .chain_update(context)
        .finalize()
        .into();
    nodes
        .map(|x| {
            let mut w = Writer::new();
            w.u32(x).raw(&digest);
            to_scalar(&w.into_bytes(), DST_RHO)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::Field;

    fn id(s: &str) -> Identity {
        Identity::new(s).unwrap()
    }

    #[test]
    fn hashes_are_deterministic_and_domain_separated() {
        assert_eq!(h0(&id("alice")), h0(&id("alice")));
        assert_ne!(h0(&id("alice")), h0(&id("bob")));
        // The same input under H0 and H5's tags differs.
        assert_ne!(to_scalar(b"x", DST_H0), to_scalar(b"x", DST_H5));
        assert!(!bool::from(h0(&id("alice")).is_zero()));
        assert_ne!(h1_g1(&id("alice")), h1_g1(&id("bob")));
        assert_ne!(h1_g2(&id("alice")), h1_g2(&id("bob")));
    }

    #[test]
    fn h5_distinguishes_arity_and_order() {
        let (a, b) = (Scalar::from(1u64), Scalar::from(2u64));
        assert_ne!(h5(&[&a, &b]), h5(&[&b, &a]));
        assert_ne!(h5(&[&a]), h5(&[&a, &a]));
    }
}
