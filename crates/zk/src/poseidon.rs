//! Poseidon over the BN254 scalar field: the one hash used natively and in-circuit.
//!
//! Parameters (S4-flow step 3/4, fixed by this crate, version 1):
//! - field: BN254 scalar field `Fr` (254-bit prime `r`);
//! - state width `t = 3` (rate 2, capacity 1), S-box `x^5` (`alpha = 5`, valid because
//!   `gcd(5, r - 1) = 1`), 8 full rounds and 57 partial rounds: the Poseidon paper's
//!   128-bit-security choice for `t = 3` over a 254-bit field;
//! - round constants and MDS matrix from arkworks' Grain-LFSR routine
//!   (`find_poseidon_ark_and_mds`, the reference `generate_parameters_grain` procedure, no
//!   matrices skipped): a Cauchy matrix, hence MDS.
//!
//! The same [`PoseidonConfig`] drives the native sponge and the R1CS sponge gadget, so what the
//! hospital computes and what the circuit recomputes cannot drift apart.
//!
//! Every hash input starts with a domain tag (or sits in a fixed-depth Merkle layer), so values
//! hashed for one purpose can never be replayed as another.

use ark_crypto_primitives::crh::poseidon::{
    TwoToOneCRH, constraints::CRHGadget, constraints::TwoToOneCRHGadget,
};
use ark_crypto_primitives::merkle_tree::{
    Config, IdentityDigestConverter, constraints::ConfigGadget,
};
use ark_crypto_primitives::sponge::poseidon::{
    PoseidonConfig, PoseidonSponge, find_poseidon_ark_and_mds,
};
use ark_crypto_primitives::sponge::{CryptographicSponge, FieldBasedCryptographicSponge};
use ark_ff::PrimeField;
use ark_r1cs_std::fields::fp::FpVar;
use std::sync::OnceLock;

/// The BN254 scalar field, over which the circuit is written.
pub type Fr = ark_bn254::Fr;

const RATE: usize = 2;
const FULL_ROUNDS: usize = 8;
const PARTIAL_ROUNDS: usize = 57;
const ALPHA: u64 = 5;

/// Domain tag of attribute leaves: `leaf = H(TAG_LEAF, value)`.
pub(crate) fn tag_leaf() -> Fr {
    tag(b"medchain/zk/leaf/v2")
}

/// Domain tag of record commitments: `C = H(TAG_RECORD, schema, N, root, blinding, nk, h)`.
pub(crate) fn tag_record() -> Fr {
    tag(b"medchain/zk/record/v3")
}

/// Domain tag of predicate digests: `D = H(TAG_PREDICATE, schema, N, K, E, slots...)`.
pub(crate) fn tag_predicate() -> Fr {
    tag(b"medchain/zk/predicate/v2")
}

/// Domain tag of nullifier keys: `nk = H(TAG_NK, s)`.
pub(crate) fn tag_nullifier_key() -> Fr {
    tag(b"medchain/zk/nullifier-key/v1")
}

/// Domain tag of per-study nullifiers: `H(TAG_STUDY, s, study)`.
pub(crate) fn tag_study() -> Fr {
    tag(b"medchain/zk/study-nullifier/v1")
}

/// Domain tag of exclusivity nullifiers: `H(TAG_EXCL, s, C)`.
pub(crate) fn tag_exclusivity() -> Fr {
    tag(b"medchain/zk/exclusivity/v1")
}

/// Domain tag of delivery tags: `H(TAG_DELIVERY, h, k, binding)`.
pub(crate) fn tag_delivery() -> Fr {
    tag(b"medchain/zk/delivery/v1")
}

/// Domain tag of delivery keys: `k = H(TAG_DKEY, s, study)`.
pub(crate) fn tag_delivery_key() -> Fr {
    tag(b"medchain/zk/delivery-key/v1")
}

/// A label as a field element: its bytes read little-endian (every label is < 32 bytes, so
/// distinct labels are distinct elements).
fn tag(label: &[u8]) -> Fr {
    Fr::from_le_bytes_mod_order(label)
}

/// Hashes bytes to a field element: SHA-256 of `domain ‖ 0x00 ‖ input`, twice with a counter
/// byte, the 64 bytes reduced modulo `r` (bias below 2^-250).
pub(crate) fn hash_to_field(domain: &[u8], input: &[u8]) -> Fr {
    use sha2::{Digest, Sha256};
    let mut wide = [0u8; 64];
    for (counter, half) in wide.chunks_mut(32).enumerate() {
        let digest = Sha256::new()
            .chain_update(domain)
            .chain_update([0u8])
            .chain_update(input)
            .chain_update([counter as u8])
            .finalize();
        half.copy_from_slice(&digest);
    }
    let value = Fr::from_le_bytes_mod_order(&wide);
    zeroize::Zeroize::zeroize(&mut wide);
    value
}

/// The crate's Poseidon parameters, generated once per process.
pub fn poseidon_config() -> &'static PoseidonConfig<Fr> {
    static CONFIG: OnceLock<PoseidonConfig<Fr>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(
            u64::from(Fr::MODULUS_BIT_SIZE),
            RATE,
            FULL_ROUNDS as u64,
            PARTIAL_ROUNDS as u64,
            0,
        );
        PoseidonConfig::new(FULL_ROUNDS, PARTIAL_ROUNDS, ALPHA, mds, ark, RATE, 1)
    })
}

/// Native Poseidon sponge hash of a sequence of field elements to one field element.
pub(crate) fn hash(inputs: &[Fr]) -> Fr {
    let mut sponge = PoseidonSponge::new(poseidon_config());
    sponge.absorb(&inputs);
    sponge.squeeze_native_field_elements(1)[0]
}

/// Merkle tree over attribute leaves `[TAG_LEAF, value]` with Poseidon 2-to-1 inner nodes.
pub(crate) struct AttributeTreeConfig;

impl Config for AttributeTreeConfig {
    type Leaf = [Fr];
    type LeafDigest = Fr;
    type LeafInnerDigestConverter = IdentityDigestConverter<Fr>;
    type InnerDigest = Fr;
    type LeafHash = ark_crypto_primitives::crh::poseidon::CRH<Fr>;
    type TwoToOneHash = TwoToOneCRH<Fr>;
}

/// In-circuit counterpart of [`AttributeTreeConfig`].
pub(crate) struct AttributeTreeConfigVar;

impl ConfigGadget<AttributeTreeConfig, Fr> for AttributeTreeConfigVar {
    type Leaf = [FpVar<Fr>];
    type LeafDigest = FpVar<Fr>;
    type LeafInnerConverter = IdentityDigestConverter<FpVar<Fr>>;
    type InnerDigest = FpVar<Fr>;
    type LeafHash = CRHGadget<Fr>;
    type TwoToOneHash = TwoToOneCRHGadget<Fr>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{BigInteger, One};

    #[test]
    fn alpha_five_is_a_permutation_of_the_field() {
        // x -> x^5 is a bijection iff gcd(5, r - 1) = 1, i.e. 5 does not divide r - 1.
        let mut r_minus_one = Fr::MODULUS;
        r_minus_one.sub_with_borrow(&Fr::one().into_bigint());
        let residue = r_minus_one
            .to_bytes_be()
            .iter()
            .fold(0u32, |acc, byte| (acc * 256 + u32::from(*byte)) % 5);
        assert_ne!(residue, 0);
    }

    #[test]
    fn parameters_have_the_documented_shape() {
        let config = poseidon_config();
        assert_eq!(config.ark.len(), FULL_ROUNDS + PARTIAL_ROUNDS);
        assert!(config.ark.iter().all(|row| row.len() == RATE + 1));
        assert_eq!(config.mds.len(), RATE + 1);
        assert_eq!((config.alpha, config.rate, config.capacity), (5, 2, 1));
    }

    #[test]
    fn hash_is_deterministic_and_input_sensitive() {
        let a = hash(&[Fr::from(1u64), Fr::from(2u64)]);
        assert_eq!(a, hash(&[Fr::from(1u64), Fr::from(2u64)]));
        assert_ne!(a, hash(&[Fr::from(2u64), Fr::from(1u64)]));
        let tags = [
            tag_leaf(),
            tag_record(),
            tag_predicate(),
            tag_nullifier_key(),
            tag_study(),
            tag_exclusivity(),
            tag_delivery(),
            tag_delivery_key(),
        ];
        for (i, a) in tags.iter().enumerate() {
            assert!(tags[i + 1..].iter().all(|b| a != b));
        }
        assert_ne!(hash_to_field(b"a", b"bc"), hash_to_field(b"ab", b"c"));
    }
}
