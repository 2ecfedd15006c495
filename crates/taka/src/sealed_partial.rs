//! Partial keys sealed to the enrollee (S3-register, threshold extraction).
//!
//! Any t partial keys of one request combine into the identity keys Ŝ_U and Š_U, so a node's
//! answer is as sensitive as the key itself and must not depend on the transport being
//! encrypted (a TLS-terminating proxy, a log of response bodies, a mis-set `http://` URL). Each
//! node therefore seals its [`PartialKey`] to the key part L_U1 = x_U·P of the very request it
//! answers: ECIES over G1 with a fresh ephemeral r, key = H_sk(r·L_U1 ‖ r·P ‖ request ‖ x), then
//! AES-256-GCM. Only the holder of x_U — the enrollee that bound L_U1 to its address on chain —
//! can open it; the request and the node's x are in the key derivation and the associated
//! data, so a sealed answer cannot be replayed into another request or attributed to another
//! node.

use blstrs::G1Affine;
use rand_core::{CryptoRng, RngCore};

use crate::aead::{open_with, seal_with};
use crate::codec::{Writer, decode, encode};
use crate::curve::{mul_g1, mul_p, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::hash;
use crate::register::PendingRegistration;
use crate::secret::Secret;
use crate::threshold::{ExtractionRequest, PartialKey};

/// Key-derivation label of the sealing key.
const LABEL: &[u8] = b"partial-key-seal";

/// A node's [`PartialKey`] encrypted to the enrollee of one [`ExtractionRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedPartialKey {
    x: u32,
    ephemeral: G1Affine,
    ciphertext: Vec<u8>,
}

impl SealedPartialKey {
    /// Node side: seals `partial` to the enrollee of `request` (its L_U1).
    pub fn seal(
        partial: &PartialKey,
        request: &ExtractionRequest,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self> {
        let r = Secret::new(random_nonzero_scalar(rng));
        let ephemeral = mul_p(r.expose());
        let shared = Secret::new(mul_g1(request.l_u1(), r.expose()));
        let request = request.to_bytes();
        let key = sealing_key(shared.expose(), &ephemeral, &request, partial.x());
        let ciphertext = seal_with(&key, &aad(&request, partial.x()), &partial.to_bytes(), rng)?;
        Ok(Self {
            x: partial.x(),
            ephemeral,
            ciphertext,
        })
    }

    /// Enrollee side: opens a sealed answer to `request` with the x_U kept in `pending`. Fails
    /// with [`Error::Decryption`] if it was sealed to another key or request, or tampered with,
    /// and with [`Error::UnexpectedPartial`] if the node inside is not the one on the envelope.
    pub fn open(
        &self,
        pending: &PendingRegistration,
        request: &ExtractionRequest,
    ) -> Result<PartialKey> {
        let shared = Secret::new(mul_g1(&self.ephemeral, pending.secret_key_part()));
        let request = request.to_bytes();
        let key = sealing_key(shared.expose(), &self.ephemeral, &request, self.x);
        let plaintext =
            zeroize::Zeroizing::new(open_with(&key, &aad(&request, self.x), &self.ciphertext)?);
        let partial = PartialKey::from_bytes(&plaintext)?;
        if partial.x() != self.x {
            return Err(Error::UnexpectedPartial { x: partial.x() });
        }
        Ok(partial)
    }

    /// The sealing node's evaluation point x (in clear, so the enrollee knows whom to blame).
    pub fn x(&self) -> u32 {
        self.x
    }

    /// Canonical encoding: x ‖ r·P ‖ ciphertext.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(|w| {
            w.u32(self.x).g1(&self.ephemeral).bytes(&self.ciphertext);
        })
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            let x = r.u32("evaluation point")?;
            if x == 0 {
                return Err(Error::Malformed("evaluation point"));
            }
            Ok(Self {
                x,
                ephemeral: r.g1("sealing ephemeral")?,
                ciphertext: r.bytes("sealed partial key")?.to_vec(),
            })
        })
    }
}

/// `request` is the request's canonical encoding, computed once per seal or open.
fn sealing_key(
    shared: &G1Affine,
    ephemeral: &G1Affine,
    request: &[u8],
    x: u32,
) -> zeroize::Zeroizing<[u8; 32]> {
    let mut w = Writer::new();
    w.g1(shared).g1(ephemeral).bytes(request).u32(x);
    hash::h_sk(LABEL, &w.into_secret_bytes())
}

fn aad(request: &[u8], x: u32) -> Vec<u8> {
    encode(|w| {
        w.bytes(LABEL).bytes(request).u32(x);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, Pkg};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn setup() -> (
        PendingRegistration,
        PendingRegistration,
        ExtractionRequest,
        PartialKey,
        ChaCha20Rng,
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let (polynomial, shares) = Pkg::setup(&mut rng)
            .deal_shares(4, 3, &mut rng)
            .expect("dealing");
        let (pending, registration) =
            PendingRegistration::new(Identity::new("dr-bob").expect("id"), &mut rng);
        let (eavesdropper, _) =
            PendingRegistration::new(Identity::new("dr-bob").expect("id"), &mut rng);
        let (nonces, commitments): (Vec<_>, Vec<_>) = shares[..3]
            .iter()
            .map(|share| share.commit(&mut rng))
            .unzip();
        let request = ExtractionRequest::new(&registration, commitments).expect("request");
        let nonce = nonces.into_iter().next().expect("three nonces");
        let partial = shares[0]
            .extract(nonce, &request, &polynomial)
            .expect("partial");
        (pending, eavesdropper, request, partial, rng)
    }

    #[test]
    fn only_the_enrollee_opens_a_sealed_partial_key() {
        let (pending, eavesdropper, request, partial, mut rng) = setup();
        let sealed = SealedPartialKey::seal(&partial, &request, &mut rng).expect("seal");
        let sealed = SealedPartialKey::from_bytes(&sealed.to_bytes()).expect("round trip");
        let opened = sealed
            .open(&pending, &request)
            .expect("the enrollee opens it");
        assert_eq!(opened.to_bytes(), partial.to_bytes());
        // An enrollee that saved its pending registration and restarted opens it too.
        let resumed = PendingRegistration::from_bytes(&pending.to_bytes()).expect("resume");
        assert_eq!(resumed.request().l1(), request.l_u1());
        assert!(sealed.open(&resumed, &request).is_ok());
        // Another key part (someone who saw the request but lacks x_U) cannot open it.
        assert!(matches!(
            sealed.open(&eavesdropper, &request),
            Err(Error::Decryption)
        ));
    }

    #[test]
    fn a_sealed_partial_key_is_bound_to_its_node_and_bytes() {
        let (pending, _, request, partial, mut rng) = setup();
        let sealed = SealedPartialKey::seal(&partial, &request, &mut rng).expect("seal");
        let mut relabelled = sealed.clone();
        relabelled.x += 1;
        assert!(matches!(
            relabelled.open(&pending, &request),
            Err(Error::Decryption)
        ));
        let mut bytes = sealed.to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = SealedPartialKey::from_bytes(&bytes).expect("still well-formed");
        assert!(matches!(
            tampered.open(&pending, &request),
            Err(Error::Decryption)
        ));
        let encoded = sealed.to_bytes();
        for cut in 0..encoded.len() {
            assert!(SealedPartialKey::from_bytes(&encoded[..cut]).is_err());
        }
    }
}
