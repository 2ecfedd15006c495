//! A record encrypted under a patient's per-study delegating key (S4-flow step 5).

use rand_core::OsRng;
use sha2::{Digest, Sha256};
use umbral_pre::Capsule;

use crate::keys::{PUBLIC_KEY_LEN, public_key};
use crate::{PreError, decode_canonical, encode};

/// Version byte of the canonical record encoding.
const RECORD_VERSION: u8 = 1;
/// Version byte and the capsule's length (u16, big-endian).
const HEADER_LEN: usize = 3;

/// The capsule of an encrypted record: what a proxy re-encrypts (it never needs the ciphertext).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordCapsule(pub(crate) Capsule);

impl RecordCapsule {
    /// Reads only the capsule of canonical record bytes (a proxy holding a large record does
    /// not copy its ciphertext).
    pub fn from_record_bytes(bytes: &[u8]) -> Result<Self, PreError> {
        split(bytes).map(|(capsule, _)| capsule)
    }
}

/// Capsule and ciphertext of a record. Canonical bytes:
/// `version (1) ‖ capsule length (u16 BE) ‖ capsule (MessagePack) ‖ ciphertext`; the enrolment's
/// `ciphertext_hash` is [`EncryptedRecord::hash`], SHA-256 of those bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct EncryptedRecord {
    capsule: RecordCapsule,
    ciphertext: Box<[u8]>,
}

impl EncryptedRecord {
    /// Encrypts `plaintext` under the patient's public delegating key.
    pub fn encrypt(
        delegating_public: &[u8; PUBLIC_KEY_LEN],
        plaintext: &[u8],
    ) -> Result<Self, PreError> {
        let delegating = public_key(delegating_public, "delegating")?;
        let (capsule, ciphertext) =
            umbral_pre::encrypt_with_rng(&mut OsRng, &delegating, plaintext)
                .map_err(|err| PreError::Encrypt(err.to_string()))?;
        Ok(Self {
            capsule: RecordCapsule(capsule),
            ciphertext,
        })
    }

    /// The capsule proxies re-encrypt.
    pub fn capsule(&self) -> &RecordCapsule {
        &self.capsule
    }

    /// Canonical bytes (what is uploaded to the proxies and hashed on chain).
    pub fn to_bytes(&self) -> Vec<u8> {
        let capsule = encode(&self.capsule.0);
        // A capsule is two points and a scalar: ~100 bytes, far below u16::MAX.
        let capsule_len = u16::try_from(capsule.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(HEADER_LEN + capsule.len() + self.ciphertext.len());
        out.push(RECORD_VERSION);
        out.extend_from_slice(&capsule_len.to_be_bytes());
        out.extend_from_slice(&capsule);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Decodes canonical bytes; any other encoding of the same record is refused, so the hash
    /// of accepted bytes is unique.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PreError> {
        let (capsule, ciphertext) = split(bytes)?;
        Ok(Self {
            capsule,
            ciphertext: ciphertext.into(),
        })
    }

    /// SHA-256 of the canonical bytes: the enrolment's `ciphertext_hash`.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }

    pub(crate) fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
}

/// Splits canonical record bytes into the decoded capsule and the ciphertext.
fn split(bytes: &[u8]) -> Result<(RecordCapsule, &[u8]), PreError> {
    let (header, rest) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(PreError::MalformedRecord("shorter than its header"))?;
    if header[0] != RECORD_VERSION {
        return Err(PreError::MalformedRecord("unknown version"));
    }
    let capsule_len = usize::from(u16::from_be_bytes([header[1], header[2]]));
    if rest.len() < capsule_len {
        return Err(PreError::MalformedRecord("capsule truncated"));
    }
    let (capsule_bytes, ciphertext) = rest.split_at(capsule_len);
    let capsule = decode_canonical::<Capsule>(capsule_bytes).ok_or(PreError::MalformedRecord(
        "capsule does not decode canonically",
    ))?;
    if ciphertext.is_empty() {
        return Err(PreError::MalformedRecord("no ciphertext"));
    }
    Ok((RecordCapsule(capsule), ciphertext))
}
