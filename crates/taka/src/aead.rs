//! Session keys and the AEAD that protects EMRs and authorizations with them.
//!
//! AES-256-GCM (`aes-gcm`). Nonces are 96 random bits from the caller's CSPRNG, sent in front of
//! the ciphertext. Every session key comes from a fresh handshake (new ephemeral scalars) and
//! seals a handful of messages, far below the ~2^32 messages per key at which random GCM nonces
//! would need rethinking. The associated data binds each ciphertext to its protocol context
//! (who, which record), so a ciphertext cannot be replayed into another context.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::codec::MAX_BYTES_LEN;
use crate::error::{Error, Result};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A 256-bit symmetric key sk = H_sk(…), wiped on drop.
#[derive(Clone)]
pub struct SessionKey(Zeroizing<[u8; 32]>);

impl SessionKey {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self(key)
    }

    /// The raw key, for callers that layer their own protocol on top.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Encrypts `plaintext`, authenticating `aad`; output is nonce ‖ ciphertext ‖ tag. Refuses
    /// ([`Error::PlaintextTooLong`]) a plaintext whose ciphertext would exceed what a message
    /// field carries ([`crate::MAX_BYTES_LEN`]), so every ciphertext made here can be sent.
    pub fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>> {
        seal_with(&self.0, aad, plaintext, rng)
    }

    /// Decrypts the output of [`SessionKey::seal`]; fails on any wrong key, aad or tampering.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        open_with(&self.0, aad, sealed)
    }
}

impl PartialEq for SessionKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&*other.0).into()
    }
}

impl Eq for SessionKey {}

impl core::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// Most plaintext bytes one sealed message may carry: its nonce, ciphertext and tag must fit in
/// one length-prefixed field of [`MAX_BYTES_LEN`] bytes.
pub const MAX_PLAINTEXT_LEN: usize = MAX_BYTES_LEN - NONCE_LEN - TAG_LEN;

pub(crate) fn seal_with(
    key: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_PLAINTEXT_LEN || aad.len() > MAX_BYTES_LEN {
        return Err(Error::PlaintextTooLong);
    }
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::PlaintextTooLong)?;
    Ok([&nonce[..], &ciphertext].concat())
}

pub(crate) fn open_with(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return Err(Error::Decryption);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| Error::Decryption)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn seal_open_and_failures() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let key = SessionKey::new(Zeroizing::new([7u8; 32]));
        let sealed = key.seal(b"ctx", b"record", &mut rng).unwrap();
        assert_eq!(key.open(b"ctx", &sealed).as_deref(), Ok(&b"record"[..]));
        assert_eq!(key.open(b"other", &sealed), Err(Error::Decryption));
        assert_eq!(
            SessionKey::new(Zeroizing::new([8u8; 32])).open(b"ctx", &sealed),
            Err(Error::Decryption)
        );
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(key.open(b"ctx", &tampered), Err(Error::Decryption));
        assert_eq!(key.open(b"ctx", &sealed[..5]), Err(Error::Decryption));
        assert_ne!(
            sealed,
            key.seal(b"ctx", b"record", &mut rng).unwrap(),
            "fresh nonce each time"
        );
    }

    /// Before: `seal_with` dropped the ciphertext when AES-GCM refused, and sealed plaintexts
    /// whose ciphertext no decoder accepts. Now both are an error, and the largest plaintext
    /// allowed still fits a message field.
    #[test]
    fn seal_refuses_what_the_wire_cannot_carry() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let key = SessionKey::new(Zeroizing::new([7u8; 32]));
        let too_long = vec![0u8; MAX_PLAINTEXT_LEN + 1];
        assert_eq!(
            key.seal(b"ctx", &too_long, &mut rng),
            Err(Error::PlaintextTooLong)
        );
        let largest = key.seal(b"ctx", &too_long[1..], &mut rng).unwrap();
        assert_eq!(largest.len(), MAX_BYTES_LEN);
    }
}
