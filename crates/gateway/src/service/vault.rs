//! The hospital's side of each enrolment (S3-agree) holds the initial factors every record key
//! of that patient derives from, so it is sealed before it reaches the EMR database: a copy of
//! the database (a backup, a replica) alone opens no record. The sealing key is derived from
//! the hospital's chain key, which the gateway holds anyway, so no new secret needs keeping.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use commonware_codec::Encode as _;
use hkdf::Hkdf;
use medchain_types::{Address, PrivateKey};
use sha2::Sha256;
use zeroize::Zeroizing;

const INFO: &[u8] = b"medchain gateway enrolment seal v1";
const NONCE_LEN: usize = 12;

/// Seals and opens enrolments, each bound to its patient's address.
pub(crate) struct Vault {
    cipher: Aes256Gcm,
}

/// A sealed enrolment did not open: another hospital key, another patient, or altered bytes.
#[derive(Debug, thiserror::Error)]
#[error("a stored enrolment does not open with this hospital's key")]
pub(crate) struct VaultError;

impl Vault {
    pub(crate) fn new(chain_key: &PrivateKey) -> Self {
        let secret = Zeroizing::new(chain_key.encode().to_vec());
        let mut key = Zeroizing::new([0u8; 32]);
        // 32 bytes is within HKDF-SHA256's output range: expand cannot fail.
        let _ = Hkdf::<Sha256>::new(None, &secret).expand(INFO, &mut key[..]);
        Self {
            cipher: Aes256Gcm::new(key.as_ref().into()),
        }
    }

    pub(crate) fn seal(&self, patient: &Address, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| VaultError)?;
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: patient.as_bytes(),
                },
            )
            .map_err(|_| VaultError)?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    pub(crate) fn open(
        &self,
        patient: &Address,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: patient.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::{address, key};

    #[test]
    fn sealed_enrolments_open_only_for_their_hospital_and_patient() {
        let vault = Vault::new(&key(1));
        let sealed = vault.seal(&address(5), b"factors").unwrap();
        assert_eq!(
            vault.open(&address(5), &sealed).unwrap().as_slice(),
            b"factors"
        );
        assert!(vault.open(&address(6), &sealed).is_err(), "another patient");
        assert!(
            Vault::new(&key(2)).open(&address(5), &sealed).is_err(),
            "another hospital"
        );
        let mut altered = sealed.clone();
        altered[NONCE_LEN] ^= 1;
        assert!(vault.open(&address(5), &altered).is_err(), "altered");
        assert!(vault.open(&address(5), &sealed[..5]).is_err(), "truncated");
    }
}
