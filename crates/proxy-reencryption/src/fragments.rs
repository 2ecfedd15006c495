//! Key fragments sealed to proxies, re-encryption, and the researcher's decryption.

use std::collections::BTreeSet;

use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::OsRng;
use umbral_pre::{CapsuleFrag, DefaultDeserialize, KeyFrag, VerifiedCapsuleFrag, VerifiedKeyFrag};
use zeroize::Zeroizing;

use crate::keys::{PUBLIC_KEY_LEN, public_key};
use crate::{
    EncryptedRecord, PreError, RecordCapsule, ResearcherKey, StudyKeys, decode_canonical, encode,
};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm256;

/// HPKE `info` prefix; the enrolment id follows, and is also the AAD, so a fragment sealed for
/// one enrolment does not open for another.
const KFRAG_INFO: &[u8] = b"medchain/research/kfrag/v1";
/// X25519 public key / encapsulated key length.
pub const PROXY_PUBLIC_KEY_LEN: usize = 32;
/// AES-256-GCM tag length.
const TAG_LEN: usize = 16;
/// Where a capsule fragment's key-fragment id sits in `CapsuleFrag::to_bytes_simple`
/// (after e1 and v1, two 33-byte points): fragments with the same id add nothing.
const KFRAG_ID_RANGE: std::ops::Range<usize> = 66..98;

/// A proxy's HPKE key (X25519): key fragments are sealed to its public half, which it
/// registers on chain (`research.register_proxy`'s `encryption_key`).
pub struct ProxyKey {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: <Kem as hpke::Kem>::PublicKey,
}

impl ProxyKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let (secret, public) = Kem::gen_keypair();
        Self { secret, public }
    }

    /// Decodes the 32-byte X25519 secret.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PreError> {
        if bytes.len() != 32 {
            return Err(PreError::BadSecretKey { role: "proxy" });
        }
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map_err(|_| PreError::BadSecretKey { role: "proxy" })?;
        let public = Kem::sk_to_pk(&secret);
        Ok(Self { secret, public })
    }

    /// The secret, wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    /// The public key kfrags are sealed to.
    pub fn public(&self) -> [u8; PROXY_PUBLIC_KEY_LEN] {
        self.public.to_bytes().into()
    }

    /// Opens a key fragment sealed to this proxy for enrolment `context` and verifies it was
    /// made by the enrolment's signer (`verifying`) from its delegating key for the study's
    /// researcher (`receiving`).
    pub fn open_kfrag(
        &self,
        sealed: &SealedKeyFrag,
        context: &[u8; 32],
        delegating: &[u8; PUBLIC_KEY_LEN],
        verifying: &[u8; PUBLIC_KEY_LEN],
        receiving: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<VerifiedKFrag, PreError> {
        let delegating = public_key(delegating, "delegating")?;
        let verifying = public_key(verifying, "verifying")?;
        let receiving = public_key(receiving, "receiving")?;
        let (encapped, ciphertext) = sealed.0.split_at(PROXY_PUBLIC_KEY_LEN);
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(encapped)
            .map_err(|_| PreError::MalformedSealedKeyFrag("bad encapsulated key"))?;
        let plaintext = Zeroizing::new(
            hpke::single_shot_open::<Aead, Kdf, Kem>(
                &OpModeR::Base,
                &self.secret,
                &encapped,
                &kfrag_info(context),
                ciphertext,
                context,
            )
            .map_err(|_| PreError::SealNotForUs)?,
        );
        let kfrag = decode_canonical::<KeyFrag>(&plaintext).ok_or(PreError::MalformedKeyFrag)?;
        kfrag
            .verify(&verifying, Some(&delegating), Some(&receiving))
            .map(VerifiedKFrag)
            .map_err(|(err, _)| PreError::KeyFragRejected(err.to_string()))
    }
}

/// A key fragment HPKE-sealed to one proxy: `encapsulated key (32) ‖ AES-256-GCM ciphertext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedKeyFrag(Vec<u8>);

impl SealedKeyFrag {
    /// Checks the length only: the content is authenticated when the proxy opens it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PreError> {
        if bytes.len() <= PROXY_PUBLIC_KEY_LEN + TAG_LEN {
            return Err(PreError::MalformedSealedKeyFrag("too short"));
        }
        Ok(Self(bytes.to_vec()))
    }

    /// The sealed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A key fragment that verified against the enrolment's keys: the only kind `reencrypt` takes.
#[derive(Clone, Debug)]
pub struct VerifiedKFrag(VerifiedKeyFrag);

/// A capsule fragment as it travels from a proxy to the researcher (MessagePack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapsuleFragBytes(Vec<u8>);

impl CapsuleFragBytes {
    /// Checks that the bytes decode as a capsule fragment; it is verified when opened.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PreError> {
        decode_canonical::<CapsuleFrag>(bytes).ok_or(PreError::MalformedCapsuleFrag)?;
        Ok(Self(bytes.to_vec()))
    }

    /// The encoded fragment.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Splits the study's delegating key for `receiving` (the researcher) into one key fragment per
/// proxy, any `threshold` of which re-encrypt (S4-flow step 6), and seals fragment `i` to
/// `proxies[i]` (X25519 public keys) for enrolment `context`.
pub fn grant(
    keys: &StudyKeys,
    receiving: &[u8; PUBLIC_KEY_LEN],
    threshold: u8,
    proxies: &[[u8; PROXY_PUBLIC_KEY_LEN]],
    context: &[u8; 32],
) -> Result<Vec<SealedKeyFrag>, PreError> {
    if threshold == 0 || usize::from(threshold) > proxies.len() || proxies.len() > 255 {
        return Err(PreError::BadThreshold {
            threshold,
            proxies: proxies.len(),
        });
    }
    let receiving = public_key(receiving, "receiving")?;
    let recipients = proxies
        .iter()
        .enumerate()
        .map(|(index, key)| {
            <Kem as hpke::Kem>::PublicKey::from_bytes(key).map_err(|err| PreError::Seal {
                index,
                reason: err.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kfrags = umbral_pre::generate_kfrags_with_rng(
        &mut OsRng,
        &keys.delegating,
        &receiving,
        &keys.signer,
        usize::from(threshold),
        proxies.len(),
        true,
        true,
    );
    kfrags
        .iter()
        .zip(&recipients)
        .enumerate()
        .map(|(index, (kfrag, recipient))| seal(kfrag, recipient, context, index))
        .collect()
}

fn seal(
    kfrag: &VerifiedKeyFrag,
    recipient: &<Kem as hpke::Kem>::PublicKey,
    context: &[u8; 32],
    index: usize,
) -> Result<SealedKeyFrag, PreError> {
    let plaintext = Zeroizing::new(encode(kfrag));
    let (encapped, ciphertext) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        recipient,
        &kfrag_info(context),
        &plaintext,
        context,
    )
    .map_err(|err| PreError::Seal {
        index,
        reason: err.to_string(),
    })?;
    let mut sealed = encapped.to_bytes().to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(SealedKeyFrag(sealed))
}

fn kfrag_info(context: &[u8; 32]) -> Vec<u8> {
    [KFRAG_INFO, context.as_slice()].concat()
}

/// A proxy's step (S4-flow step 7): re-encrypts the record's capsule with its verified fragment.
pub fn reencrypt(kfrag: &VerifiedKFrag, capsule: &RecordCapsule) -> CapsuleFragBytes {
    let cfrag = umbral_pre::reencrypt_with_rng(&mut OsRng, &capsule.0, kfrag.0.clone());
    CapsuleFragBytes(encode(&cfrag))
}

impl ResearcherKey {
    /// Verifies one capsule fragment against the record's capsule and the enrolment's keys:
    /// a proxy that re-encrypted wrongly, or with a fragment not from this enrolment, fails.
    pub fn check_cfrag(
        &self,
        capsule: &RecordCapsule,
        cfrag: &CapsuleFragBytes,
        delegating: &[u8; PUBLIC_KEY_LEN],
        verifying: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<(), PreError> {
        let delegating = public_key(delegating, "delegating")?;
        let verifying = public_key(verifying, "verifying")?;
        self.verified(capsule, cfrag, &delegating, &verifying)
            .map(drop)
            .map_err(|reason| PreError::BadCapsuleFrag { index: 0, reason })
    }

    /// Verifies every capsule fragment (the first that fails is named by its index), needs
    /// `threshold` distinct valid ones, and decrypts the record (S4-flow step 8).
    pub fn open(
        &self,
        record: &EncryptedRecord,
        cfrags: &[CapsuleFragBytes],
        delegating: &[u8; PUBLIC_KEY_LEN],
        verifying: &[u8; PUBLIC_KEY_LEN],
        threshold: u8,
    ) -> Result<Vec<u8>, PreError> {
        let delegating = public_key(delegating, "delegating")?;
        let verifying = public_key(verifying, "verifying")?;
        let verified = cfrags
            .iter()
            .enumerate()
            .map(|(index, cfrag)| {
                self.verified(record.capsule(), cfrag, &delegating, &verifying)
                    .map_err(|reason| PreError::BadCapsuleFrag { index, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let distinct = distinct_by_kfrag(verified);
        if threshold == 0 || distinct.len() < usize::from(threshold) {
            return Err(PreError::NotEnoughCapsuleFrags {
                valid: distinct.len(),
                threshold,
            });
        }
        let plaintext = umbral_pre::decrypt_reencrypted(
            &self.0,
            &delegating,
            &record.capsule().0,
            distinct,
            record.ciphertext(),
        )
        .map_err(|err| PreError::Decrypt(err.to_string()))?;
        Ok(plaintext.into_vec())
    }

    fn verified(
        &self,
        capsule: &RecordCapsule,
        cfrag: &CapsuleFragBytes,
        delegating: &umbral_pre::PublicKey,
        verifying: &umbral_pre::PublicKey,
    ) -> Result<VerifiedCapsuleFrag, String> {
        let cfrag = CapsuleFrag::from_bytes(&cfrag.0).map_err(|_| "does not decode".to_owned())?;
        cfrag
            .verify(&capsule.0, verifying, delegating, &self.0.public_key())
            .map_err(|(err, _)| err.to_string())
    }
}

/// Keeps one capsule fragment per key fragment: the same proxy asked twice adds nothing.
fn distinct_by_kfrag(cfrags: Vec<VerifiedCapsuleFrag>) -> Vec<VerifiedCapsuleFrag> {
    let mut seen = BTreeSet::new();
    cfrags
        .into_iter()
        .filter(|cfrag| seen.insert(cfrag.to_bytes_simple()[KFRAG_ID_RANGE].to_vec()))
        .collect()
}
