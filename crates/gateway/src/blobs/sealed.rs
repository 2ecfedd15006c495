//! The envelope a record is stored in (S1-storage: "the encrypted record"): AES-256-GCM under a
//! per-record key, with the record's identity as associated data, so a blob opens only as the
//! record it was sealed as.
//!
//! The same envelope carries the record's commitment opening (`zk::RecordOpening`, issue 12's
//! attested commitments) to the patient: [`SealedOpening`], under a key derived from the record
//! key with its own label ([`RecordKey::opening_key`]) and bound to the record id and the
//! patient. One envelope, two bindings: each associated data starts with its own domain tag,
//! so a sealed record never opens as an opening or the other way round.
//!
//! The key is the caller's: one 32-byte key per record. Deriving it from the record's TAKA
//! encryption factor (S3-agree) is the release flow's job, not this module's.

use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use hkdf::Hkdf;
use medchain_types::{Address, ContentHash, RecordId};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The envelope's format version, its first byte, so a later format can be told apart.
const FORMAT_V1: u8 = 1;
/// AES-GCM's standard 96-bit nonce.
const NONCE_LEN: usize = 12;
/// AES-GCM's authentication tag.
const TAG_LEN: usize = 16;
/// Separates a record's associated data from any other use of a record key.
const RECORD_DOMAIN: &[u8] = b"medchain/sealed-record/v1";
/// Separates an opening's associated data from a record's.
const OPENING_DOMAIN: &[u8] = b"medchain/sealed-opening/v1";
/// HKDF label of the key an opening is sealed under, derived from the record key.
const OPENING_KEY_LABEL: &[u8] = b"medchain/gateway/opening-key/v1";

/// Why a record could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The bytes are not a sealed record of a known format.
    #[error("not a sealed record: {0}")]
    Malformed(&'static str),
    /// Wrong key, wrong record identity (patient, index or hEMR), or altered bytes: AES-GCM
    /// refuses them all alike, on purpose.
    #[error(
        "the sealed record does not open with this key for this record (wrong key, wrong record, or altered bytes)"
    )]
    Refused,
    /// It opened, but the plaintext is not the record the chain's hEMR names.
    #[error("the opened record hashes to {found}, not the expected hEMR {expected}")]
    WrongRecord {
        /// hEMR from the binding.
        expected: ContentHash,
        /// The plaintext's hash.
        found: ContentHash,
    },
    /// The operating system's random source failed.
    #[error("no randomness for a nonce: {0}")]
    Randomness(getrandom::Error),
    /// AES-GCM's length limit (about 64 GB).
    #[error("the record is too large to encrypt")]
    TooLarge,
}

/// A record's 32-byte AES-256 key, wiped from memory when dropped.
pub struct RecordKey(Zeroizing<[u8; 32]>);

impl RecordKey {
    /// Wraps a key the caller derived for one record.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key the record's commitment opening is sealed under: HKDF-SHA256 of this key with
    /// its own label, so the opening and the record never share a key (the gateway and the
    /// patient both derive it from the record key of factor j).
    pub fn opening_key(&self) -> RecordKey {
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is within HKDF-SHA256's output range: expand cannot fail.
        let _ =
            Hkdf::<Sha256>::new(None, self.0.as_slice()).expand(OPENING_KEY_LABEL, &mut key[..]);
        RecordKey(key)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.as_slice()))
    }
}

/// Which record a blob is: bound into the envelope as associated data, so a blob swapped for
/// another record's (or another patient's) does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordBinding {
    /// The patient's pseudonym.
    pub patient: Address,
    /// The record's index j in the hospital's EMR store.
    pub index: u64,
    /// hEMR: SHA-256 of the plaintext record, as released on chain (S1-release).
    pub record_hash: ContentHash,
}

impl RecordBinding {
    fn associated_data(&self) -> Vec<u8> {
        [
            RECORD_DOMAIN,
            self.patient.as_bytes(),
            &self.index.to_be_bytes(),
            self.record_hash.as_bytes(),
        ]
        .concat()
    }
}

/// Which record an opening belongs to: bound into its envelope, so an opening served for
/// another record (or another patient) does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpeningBinding {
    /// The patient's pseudonym.
    pub patient: Address,
    /// The record's id on chain (its release transaction).
    pub record: RecordId,
}

impl OpeningBinding {
    fn associated_data(&self) -> Vec<u8> {
        [
            OPENING_DOMAIN,
            self.patient.as_bytes(),
            self.record.as_bytes(),
        ]
        .concat()
    }
}

/// AES-256-GCM with a random 96-bit nonce: the one envelope behind [`SealedRecord`] and
/// [`SealedOpening`], which differ only in their associated data.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Envelope {
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl Envelope {
    fn seal(key: &RecordKey, associated_data: &[u8], plaintext: &[u8]) -> Result<Self, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(SealError::Randomness)?;
        let ciphertext = key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| SealError::TooLarge)?;
        Ok(Self { nonce, ciphertext })
    }

    fn open(
        &self,
        key: &RecordKey,
        associated_data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        key.cipher()
            .decrypt(
                Nonce::from_slice(&self.nonce),
                Payload {
                    msg: &self.ciphertext,
                    aad: associated_data,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Refused)
    }

    /// Format version, nonce, ciphertext with tag.
    fn to_bytes(&self) -> Vec<u8> {
        [&[FORMAT_V1][..], &self.nonce, &self.ciphertext].concat()
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let (&version, rest) = bytes.split_first().ok_or(SealError::Malformed("empty"))?;
        if version != FORMAT_V1 {
            return Err(SealError::Malformed("unknown format version"));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed("shorter than a nonce and a tag"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        Ok(Self {
            nonce: nonce
                .try_into()
                .map_err(|_| SealError::Malformed("nonce"))?,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// A record encrypted with AES-256-GCM: a random 96-bit nonce and the ciphertext with its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRecord(Envelope);

impl SealedRecord {
    /// Encrypts `plaintext` (whose SHA-256 must be `binding.record_hash`) under `key`.
    pub fn seal(
        key: &RecordKey,
        binding: &RecordBinding,
        plaintext: &[u8],
    ) -> Result<Self, SealError> {
        check_record_hash(binding, plaintext)?;
        Envelope::seal(key, &binding.associated_data(), plaintext).map(Self)
    }

    /// Decrypts and authenticates the record, and checks it against hEMR.
    pub fn open(
        &self,
        key: &RecordKey,
        binding: &RecordBinding,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let plaintext = self.0.open(key, &binding.associated_data())?;
        // The tag already binds hEMR; this catches a sealer that encrypted other bytes.
        check_record_hash(binding, &plaintext)?;
        Ok(plaintext)
    }

    /// The blob's bytes: format version, nonce, ciphertext with tag.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// Parses [`SealedRecord::to_bytes`]'s output; it authenticates only when opened.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        Envelope::from_bytes(bytes).map(Self)
    }
}

fn check_record_hash(binding: &RecordBinding, plaintext: &[u8]) -> Result<(), SealError> {
    let found = ContentHash::of(plaintext);
    if found != binding.record_hash {
        return Err(SealError::WrongRecord {
            expected: binding.record_hash,
            found,
        });
    }
    Ok(())
}

/// A record's commitment opening (the bytes of `zk::RecordOpening`), encrypted for its patient
/// under [`RecordKey::opening_key`] and bound to the record id and the patient. The bytes are
/// the same format as a [`SealedRecord`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedOpening(Envelope);

impl SealedOpening {
    /// Encrypts the opening's bytes under `key` (the record key's [`RecordKey::opening_key`]).
    pub fn seal(
        key: &RecordKey,
        binding: &OpeningBinding,
        opening: &[u8],
    ) -> Result<Self, SealError> {
        Envelope::seal(key, &binding.associated_data(), opening).map(Self)
    }

    /// Decrypts and authenticates the opening's bytes (decoding them is the caller's).
    pub fn open(
        &self,
        key: &RecordKey,
        binding: &OpeningBinding,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.0.open(key, &binding.associated_data())
    }

    /// Format version, nonce, ciphertext with tag.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// Parses [`SealedOpening::to_bytes`]'s output; it authenticates only when opened.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        Envelope::from_bytes(bytes).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::address;

    const RECORD: &[u8] = br#"{"resourceType":"Bundle","type":"collection"}"#;

    fn binding() -> RecordBinding {
        RecordBinding {
            patient: address(7),
            index: 3,
            record_hash: ContentHash::of(RECORD),
        }
    }

    fn sealed() -> Vec<u8> {
        SealedRecord::seal(&RecordKey::new([9; 32]), &binding(), RECORD)
            .unwrap()
            .to_bytes()
    }

    fn open(bytes: &[u8], key: [u8; 32], binding: &RecordBinding) -> Result<Vec<u8>, SealError> {
        SealedRecord::from_bytes(bytes)?
            .open(&RecordKey::new(key), binding)
            .map(|plaintext| plaintext.to_vec())
    }

    #[test]
    fn a_sealed_record_opens_with_its_key_and_binding() {
        let bytes = sealed();
        assert_eq!(bytes.len(), 1 + NONCE_LEN + RECORD.len() + TAG_LEN);
        assert_eq!(open(&bytes, [9; 32], &binding()).unwrap(), RECORD);
        // Fresh nonce each time: sealing twice gives two different blobs.
        assert_ne!(sealed(), bytes);
    }

    #[test]
    fn a_wrong_key_or_binding_is_refused() {
        let bytes = sealed();
        assert!(matches!(
            open(&bytes, [8; 32], &binding()),
            Err(SealError::Refused)
        ));
        let wrong_bindings = [
            RecordBinding {
                patient: address(8),
                ..binding()
            },
            RecordBinding {
                index: 4,
                ..binding()
            },
            RecordBinding {
                record_hash: ContentHash::of(b"another record"),
                ..binding()
            },
        ];
        for wrong in wrong_bindings {
            assert!(
                matches!(open(&bytes, [9; 32], &wrong), Err(SealError::Refused)),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let bytes = sealed();
        for at in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[at] ^= 0x01;
            assert!(
                open(&altered, [9; 32], &binding()).is_err(),
                "flipping byte {at} went unnoticed"
            );
        }
        assert!(matches!(
            open(&bytes[..bytes.len() - 1], [9; 32], &binding()),
            Err(SealError::Refused)
        ));
        assert!(matches!(
            open(&bytes[..NONCE_LEN], [9; 32], &binding()),
            Err(SealError::Malformed(_))
        ));
        assert!(matches!(
            open(&[], [9; 32], &binding()),
            Err(SealError::Malformed(_))
        ));
    }

    #[test]
    fn sealing_refuses_bytes_that_are_not_the_bound_record() {
        let refused = SealedRecord::seal(&RecordKey::new([9; 32]), &binding(), b"other bytes");
        assert!(matches!(refused, Err(SealError::WrongRecord { .. })));
    }

    fn opening_binding() -> OpeningBinding {
        OpeningBinding {
            patient: address(7),
            record: RecordId::from(medchain_types::TxId(medchain_types::Hash32::from([4; 32]))),
        }
    }

    #[test]
    fn an_opening_opens_only_under_the_derived_key_and_its_binding() {
        let record_key = RecordKey::new([9; 32]);
        let key = record_key.opening_key();
        assert_ne!(*key.0, *record_key.0, "the opening has its own key");
        assert_eq!(
            *key.0,
            *RecordKey::new([9; 32]).opening_key().0,
            "derived, not drawn"
        );
        let sealed = SealedOpening::seal(&key, &opening_binding(), b"opening").unwrap();
        let bytes = sealed.to_bytes();
        let parsed = SealedOpening::from_bytes(&bytes).unwrap();
        assert_eq!(
            parsed.open(&key, &opening_binding()).unwrap().as_slice(),
            b"opening"
        );
        // The record key itself, another patient, another record: refused.
        assert!(matches!(
            parsed.open(&record_key, &opening_binding()),
            Err(SealError::Refused)
        ));
        for wrong in [
            OpeningBinding {
                patient: address(8),
                ..opening_binding()
            },
            OpeningBinding {
                record: RecordId::from(medchain_types::TxId(medchain_types::Hash32::from([5; 32]))),
                ..opening_binding()
            },
        ] {
            assert!(matches!(parsed.open(&key, &wrong), Err(SealError::Refused)));
        }
        for at in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[at] ^= 0x80;
            let opened = SealedOpening::from_bytes(&altered)
                .and_then(|sealed| sealed.open(&key, &opening_binding()));
            assert!(opened.is_err(), "flipping byte {at} went unnoticed");
        }
    }

    #[test]
    fn a_sealed_record_never_opens_as_an_opening() {
        // Same key, same envelope format: the domain tags keep the two apart.
        let key = RecordKey::new([9; 32]);
        let record = SealedRecord::seal(&key, &binding(), RECORD)
            .unwrap()
            .to_bytes();
        let as_opening = SealedOpening::from_bytes(&record)
            .unwrap()
            .open(&key, &opening_binding());
        assert!(matches!(as_opening, Err(SealError::Refused)));
    }
}
