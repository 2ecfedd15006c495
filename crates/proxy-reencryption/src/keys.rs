//! Umbral keys: the patient's per-study delegating key and signer, and the researcher's key.

use hkdf::Hkdf;
use rand_core::OsRng;
use sha2::Sha256;
use umbral_pre::{PublicKey, SecretKey, SecretKeyFactory, Signer};
use zeroize::Zeroizing;

use crate::PreError;

/// Length of a compressed secp256k1 public key: every Umbral public key on the wire.
pub const PUBLIC_KEY_LEN: usize = 33;

/// HKDF salt of the per-study keys; the study id is the HKDF info, so two studies' keys are
/// independent pseudorandom values and cannot be linked to each other or to the seed.
const STUDY_KEYS_LABEL: &[u8] = b"medchain/research/umbral/v1";
/// HKDF salt of a researcher key derived from a seed.
const RESEARCHER_KEY_LABEL: &[u8] = b"medchain/research/researcher-umbral/v1";

/// A patient's Umbral keys for one study (S4-flow step 5): the delegating key the record is
/// encrypted under and the signer that vouches for the key fragments.
pub struct StudyKeys {
    pub(crate) delegating: SecretKey,
    pub(crate) signer: Signer,
}

impl StudyKeys {
    /// Derives the keys of `study` from the patient's 32-byte secret seed.
    pub fn derive(seed: &[u8; 32], study: &[u8; 32]) -> Self {
        let factory = factory_from(seed, STUDY_KEYS_LABEL, study);
        Self {
            delegating: factory.make_key(b"delegating"),
            signer: Signer::new(factory.make_key(b"signing")),
        }
    }

    /// The public delegating key (`research.enrol`'s `delegating_key`).
    pub fn delegating_public(&self) -> [u8; PUBLIC_KEY_LEN] {
        compressed(self.delegating.public_key())
    }

    /// The public verifying key of the kfrag signer (`research.enrol`'s `verifying_key`).
    pub fn verifying_public(&self) -> [u8; PUBLIC_KEY_LEN] {
        compressed(self.signer.verifying_key())
    }
}

/// The researcher's Umbral key: capsule fragments are re-encrypted to its public half
/// (`research.publish`'s `researcher_key`).
pub struct ResearcherKey(pub(crate) SecretKey);

impl ResearcherKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(SecretKey::random_with_rng(&mut OsRng))
    }

    /// Derives the key from a 32-byte secret seed (for instance material derived from the
    /// researcher's chain key), so it needs no file of its own.
    pub fn derive(seed: &[u8; 32]) -> Self {
        Self(factory_from(seed, RESEARCHER_KEY_LABEL, b"").make_key(b"receiving"))
    }

    /// Decodes a big-endian scalar (32 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PreError> {
        let bad = PreError::BadSecretKey { role: "researcher" };
        if bytes.len() != 32 {
            return Err(bad);
        }
        // umbral-pre only builds its zeroizing `SecretBox` itself: take one of the right size
        // and overwrite it, so the scalar never sits in an unwiped buffer of ours.
        let mut boxed = SecretKey::random_with_rng(&mut OsRng).to_be_bytes();
        boxed.as_mut_secret().copy_from_slice(bytes);
        SecretKey::try_from_be_bytes(&boxed)
            .map(Self)
            .map_err(|_| bad)
    }

    /// The secret scalar, big-endian; wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(self.0.to_be_bytes().as_secret());
        out
    }

    /// The public key, compressed.
    pub fn public(&self) -> [u8; PUBLIC_KEY_LEN] {
        compressed(self.0.public_key())
    }
}

/// An Umbral key factory seeded by HKDF-SHA256(salt = label, ikm = seed, info).
fn factory_from(seed: &[u8; 32], label: &[u8], info: &[u8]) -> SecretKeyFactory {
    let mut factory_seed = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    Hkdf::<Sha256>::new(Some(label), seed)
        .expand(info, factory_seed.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    SecretKeyFactory::from_secure_randomness(factory_seed.as_ref())
        .expect("the factory seed is exactly SecretKeyFactory::seed_size() = 32 bytes")
}

/// Decodes a compressed public key; `role` names it in the error.
pub(crate) fn public_key(
    bytes: &[u8; PUBLIC_KEY_LEN],
    role: &'static str,
) -> Result<PublicKey, PreError> {
    PublicKey::try_from_compressed_bytes(bytes).map_err(|_| PreError::BadPublicKey { role })
}

fn compressed(key: PublicKey) -> [u8; PUBLIC_KEY_LEN] {
    let bytes = key.to_compressed_bytes();
    let mut out = [0u8; PUBLIC_KEY_LEN];
    out.copy_from_slice(&bytes);
    out
}
