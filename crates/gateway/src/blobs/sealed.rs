//! The envelope a record is stored in (S1-storage: "the encrypted record"): AES-256-GCM under a
//! per-record key, with the record's identity as associated data, so a blob opens only as the
//! record it was sealed as.
//!
//! The key is the caller's: one 32-byte key per record. Deriving it from the record's TAKA
//! encryption factor (S3-agree) is the release flow's job, not this module's.

use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use medchain_types::{Address, ContentHash};
use zeroize::Zeroizing;

/// The envelope's format version, its first byte, so a later format can be told apart.
const FORMAT_V1: u8 = 1;
/// AES-GCM's standard 96-bit nonce.
const NONCE_LEN: usize = 12;
/// AES-GCM's authentication tag.
const TAG_LEN: usize = 16;
/// Separates this associated data from any other use of a record key.
const AAD_DOMAIN: &[u8] = b"medchain/sealed-record/v1";

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
            AAD_DOMAIN,
            self.patient.as_bytes(),
            &self.index.to_be_bytes(),
            self.record_hash.as_bytes(),
        ]
        .concat()
    }
}

/// A record encrypted with AES-256-GCM: a random 96-bit nonce and the ciphertext with its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRecord {
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl SealedRecord {
    /// Encrypts `plaintext` (whose SHA-256 must be `binding.record_hash`) under `key`.
    pub fn seal(
        key: &RecordKey,
        binding: &RecordBinding,
        plaintext: &[u8],
    ) -> Result<Self, SealError> {
        let found = ContentHash::of(plaintext);
        if found != binding.record_hash {
            return Err(SealError::WrongRecord {
                expected: binding.record_hash,
                found,
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(SealError::Randomness)?;
        let ciphertext = key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &binding.associated_data(),
                },
            )
            .map_err(|_| SealError::TooLarge)?;
        Ok(Self { nonce, ciphertext })
    }

    /// Decrypts and authenticates the record, and checks it against hEMR.
    pub fn open(
        &self,
        key: &RecordKey,
        binding: &RecordBinding,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let plaintext = Zeroizing::new(
            key.cipher()
                .decrypt(
                    Nonce::from_slice(&self.nonce),
                    Payload {
                        msg: &self.ciphertext,
                        aad: &binding.associated_data(),
                    },
                )
                .map_err(|_| SealError::Refused)?,
        );
        // The tag already binds hEMR; this catches a sealer that encrypted other bytes.
        let found = ContentHash::of(&plaintext);
        if found != binding.record_hash {
            return Err(SealError::WrongRecord {
                expected: binding.record_hash,
                found,
            });
        }
        Ok(plaintext)
    }

    /// The blob's bytes: format version, nonce, ciphertext with tag.
    pub fn to_bytes(&self) -> Vec<u8> {
        [&[FORMAT_V1][..], &self.nonce, &self.ciphertext].concat()
    }

    /// Parses [`SealedRecord::to_bytes`]'s output; it authenticates only when opened.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
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
}
