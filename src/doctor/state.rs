//! The doctor's side of an agreement between `doctor ask` and `doctor fetch` (the TAKA
//! initiator's ephemeral scalars c1, c2): sealed with AES-256-GCM under a key derived from the
//! doctor's chain key (HKDF-SHA256), so it needs no passphrase of its own, opens only for the
//! key that wrote it, and is bound to the doctor's address.
//!
//! Layout: version (1 byte) ‖ nonce (12) ‖ ciphertext with tag.

use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use commonware_codec::Encode as _;
use hkdf::Hkdf;
use medchain_types::{Address, PrivateKey};
use rand_core_06::RngCore as _;
use sha2::Sha256;
use taka::Initiator;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
/// HKDF info of the sealing key: one purpose per key derived from the chain key.
const KEY_INFO: &[u8] = b"medchain doctor agreement state v1";
/// Associated data prefix; the doctor's address follows.
const AAD_LABEL: &[u8] = b"medchain/agreement-state/v1";

/// Why a stored state does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// Not a state file of a known format.
    #[error("not an agreement state written by `medchain doctor ask`")]
    Malformed,
    /// Sealed by another key, or altered.
    #[error("it does not open with this key (written by another doctor's key, or altered)")]
    Refused,
    /// It opened but does not decode as the initiator state.
    #[error("its contents are not a valid agreement state: {0}")]
    Invalid(taka::Error),
}

fn cipher(chain_key: &PrivateKey) -> Aes256Gcm {
    let ikm = Zeroizing::new(chain_key.encode().to_vec());
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is within HKDF-SHA256's output range, so expanding cannot fail.
    let _ = Hkdf::<Sha256>::new(None, &ikm).expand(KEY_INFO, &mut key[..]);
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key[..]))
}

fn aad(address: &Address) -> Vec<u8> {
    [AAD_LABEL, address.as_bytes()].concat()
}

/// Seals `state` for the holder of `chain_key` (whose address is `address`).
pub fn seal(state: &Initiator, chain_key: &PrivateKey, address: &Address) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand_core_06::OsRng.fill_bytes(&mut nonce);
    let plaintext = state.to_bytes();
    let ciphertext = cipher(chain_key)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &aad(address),
            },
        )
        // AES-GCM fails only beyond 2^36 bytes; a state is under 300.
        .unwrap_or_default();
    [&[FORMAT_V1][..], &nonce, &ciphertext].concat()
}

/// Opens a state sealed by [`seal`] for the same key.
pub fn open(
    sealed: &[u8],
    chain_key: &PrivateKey,
    address: &Address,
) -> Result<Initiator, StateError> {
    let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
        return Err(StateError::Malformed);
    };
    if rest.len() <= NONCE_LEN {
        return Err(StateError::Malformed);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let plaintext = Zeroizing::new(
        cipher(chain_key)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad(address),
                },
            )
            .map_err(|_| StateError::Refused)?,
    );
    Initiator::from_bytes(&plaintext).map_err(StateError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_client::keys::{address_of, generate};
    use rand_core_06::OsRng;

    fn initiator() -> Initiator {
        let pkg = taka::Pkg::setup(&mut OsRng);
        let id = |name: &str| taka::Identity::new(name).unwrap();
        let (pending, request) = taka::PendingRegistration::new(id("dr-kim"), &mut OsRng);
        let response = pkg.register(&request, &mut OsRng);
        let doctor = pending.complete(pkg.params(), response).unwrap();
        taka::Initiator::start(&doctor, id("patient:c"), &mut OsRng).0
    }

    #[test]
    fn a_state_opens_for_its_own_key_only_and_unaltered() {
        let key = generate();
        let address = address_of(&key);
        let state = initiator();
        let sealed = seal(&state, &key, &address);
        assert_eq!(
            open(&sealed, &key, &address).unwrap().to_bytes(),
            state.to_bytes()
        );

        let other = generate();
        assert_eq!(
            open(&sealed, &other, &address).err(),
            Some(StateError::Refused)
        );
        let elsewhere = address_of(&other);
        assert_eq!(
            open(&sealed, &key, &elsewhere).err(),
            Some(StateError::Refused)
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            open(&altered, &key, &address).err(),
            Some(StateError::Refused)
        );
        for malformed in [&[][..], &[2u8, 0, 0][..], &sealed[..NONCE_LEN]] {
            assert_eq!(
                open(malformed, &key, &address).err(),
                Some(StateError::Malformed)
            );
        }
    }
}
