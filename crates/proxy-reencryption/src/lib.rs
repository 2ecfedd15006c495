//! Threshold proxy re-encryption of research records (S4-flow steps 5–8).
//!
//! A patient encrypts a record under a per-study Umbral key ([`StudyKeys`],
//! [`EncryptedRecord`]), splits that key for the study's researcher into `n` key fragments, any
//! `t` of which suffice, and seals each to one proxy with HPKE bound to the enrolment id
//! ([`grant`]). Each proxy opens and verifies its fragment ([`ProxyKey::open_kfrag`]) and
//! re-encrypts the capsule ([`reencrypt`]); the researcher verifies `t` capsule fragments and
//! decrypts ([`ResearcherKey::open`]). No proxy, nor fewer than `t` of them together, learns the
//! record. See README.md for the security argument and the licence (umbral-pre is GPL-3.0).

mod error;
mod fragments;
mod keys;
mod record;

pub use error::PreError;
pub use fragments::{
    CapsuleFragBytes, PROXY_PUBLIC_KEY_LEN, ProxyKey, SealedKeyFrag, VerifiedKFrag, grant,
    reencrypt,
};
pub use keys::{PUBLIC_KEY_LEN, ResearcherKey, StudyKeys};
pub use record::{EncryptedRecord, RecordCapsule};

/// MessagePack encoding of an Umbral object, umbral-pre's only format with a decoder.
fn encode(value: &impl umbral_pre::DefaultSerialize) -> Vec<u8> {
    // Encoding fixed-size points and scalars into memory has no failure path.
    value
        .to_bytes()
        .expect("MessagePack encoding of an Umbral object into memory")
        .into_vec()
}

/// Decodes MessagePack that is exactly our encoding of the value: MessagePack admits several
/// encodings of one value, and rmp-serde ignores trailing bytes, so one object could otherwise
/// travel as many byte strings.
fn decode_canonical<T>(bytes: &[u8]) -> Option<T>
where
    T: umbral_pre::DefaultSerialize + for<'de> umbral_pre::DefaultDeserialize<'de>,
{
    let value = T::from_bytes(bytes).ok()?;
    (encode(&value) == bytes).then_some(value)
}
