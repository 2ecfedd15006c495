//! The enrolment service's requests and answers (S3-register with a threshold PKG): what an
//! enrollee signs when it asks a validator for a nonce commitment (round 1) or a partial key
//! (round 2), and how the partial key travels back sealed to the enrollee.
//!
//! **Signed requests.** Every request names the chain, the route, the requester's address, a
//! session id, the identity, the key the answer is sealed to and the round's body, and is
//! signed by the requester's chain key under [`namespace::ENROLMENT`]. A node answers only for
//! an identity bound to the signing address on its finalized state, so a request signature is
//! what stops one party from obtaining another's keys. `issued_at_ms` bounds replays to
//! [`REQUEST_VALIDITY_MS`] either side of the node's clock; a replay inside the window gains
//! nothing: round 1 only hands out another commitment, and round 2 needs a nonce that the
//! first answer consumed.
//!
//! **Sealed answers.** A partial key holds secrets (t of them give the identity keys) and the
//! node API is plain HTTP behind whatever proxy an operator puts in front. So the enrollee puts
//! a fresh X25519 public key in its signed request, and the node seals the partial key to it:
//! an ephemeral X25519 key of its own, SHA-256 over the shared secret, both public keys and
//! the context (chain, session, requester, node) as the AES-256-GCM key. Only the enrollee
//! opens it, and an answer cannot be moved to another session or node.

use crate::{Address, ChainId, IdentityName, PrivateKey, Signature, namespace};
use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use bytes::BufMut;
use commonware_codec::{EncodeSize, Write};
use commonware_cryptography::{Hasher as _, Sha256, Signer as _, Verifier as _};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

/// How far a request's `issued_at_ms` may be from the node's clock, either way.
pub const REQUEST_VALIDITY_MS: u64 = 60_000;
/// Length of a session id.
pub const SESSION_LEN: usize = 16;
/// Largest request body (a round-2 extraction request for 256 nodes is about 26 KB).
pub const MAX_BODY_BYTES: usize = 32 * 1024;
/// Largest sealed answer a client opens.
pub const MAX_SEALED_BYTES: usize = 4 * 1024;

const SEAL_LABEL: &[u8] = b"_MEDCHAIN_ENROLMENT_ANSWER_V1";
const X25519_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The enrolment routes, each part of what is signed so a request for one is never accepted
/// by the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrolmentRoute {
    /// Round 1: `POST /v1/pkg/commitments`.
    Commitments,
    /// Round 2: `POST /v1/pkg/partial-keys`.
    PartialKeys,
}

impl EnrolmentRoute {
    /// The HTTP path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Commitments => "/v1/pkg/commitments",
            Self::PartialKeys => "/v1/pkg/partial-keys",
        }
    }
}

/// Why an enrolment request or answer was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnrolmentError {
    /// The requester field is not an ed25519 key.
    #[error("the requester {0} is not a valid key")]
    NotAKey(Address),
    /// The signature is not the requester's over this request.
    #[error("the request is not signed by {0} for this chain and route")]
    BadSignature(Address),
    /// Issued too long ago or too far in the future.
    #[error(
        "the request was issued at {issued_at_ms} ms, more than {REQUEST_VALIDITY_MS} ms from this node's clock ({now_ms} ms)"
    )]
    Stale {
        /// When the request says it was issued.
        issued_at_ms: u64,
        /// The node's clock.
        now_ms: u64,
    },
    /// The body (or a secret to seal) is larger than any valid one.
    #[error("{0} bytes is more than an enrolment request or answer holds")]
    TooLarge(usize),
    /// A sealed answer that does not open (not for this key, session or node, or modified).
    #[error("the sealed answer does not open: it is not for this request, or it was modified")]
    Unsealable,
}

/// One request to the enrolment service, as signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentRequest {
    /// The chain (the node refuses another chain's requests).
    pub chain_id: ChainId,
    /// Which round.
    pub route: EnrolmentRoute,
    /// The enrollee's chain address; must be the address the identity is bound to.
    pub requester: Address,
    /// The enrollee's clock when it signed, unix milliseconds.
    pub issued_at_ms: u64,
    /// Chosen by the enrollee per enrolment attempt; round 2 finds round 1's nonces under
    /// (requester, session).
    pub session: [u8; SESSION_LEN],
    /// The identity keys are asked for.
    pub identity: IdentityName,
    /// The X25519 public key the answer is sealed to.
    pub response_key: [u8; X25519_LEN],
    /// Round 1: empty. Round 2: the encoded extraction request (ID_U, L_U1, commitments).
    pub body: Vec<u8>,
}

impl Write for EnrolmentRequest {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        // The path, length-prefixed like every variable field.
        self.route.path().as_bytes().to_vec().write(buf);
        self.requester.write(buf);
        self.issued_at_ms.write(buf);
        self.session.write(buf);
        self.identity.write(buf);
        self.response_key.write(buf);
        self.body.write(buf);
    }
}

impl EncodeSize for EnrolmentRequest {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size()
            + self.route.path().as_bytes().to_vec().encode_size()
            + self.requester.encode_size()
            + self.issued_at_ms.encode_size()
            + self.session.encode_size()
            + self.identity.encode_size()
            + self.response_key.encode_size()
            + self.body.encode_size()
    }
}

impl EnrolmentRequest {
    /// The requester signs (with the key of `requester`).
    pub fn sign(&self, key: &PrivateKey) -> Signature {
        key.sign(
            namespace::ENROLMENT,
            &commonware_codec::Encode::encode(self),
        )
    }

    /// Checks the body size, the signature and the validity window against `now_ms`.
    pub fn verify(&self, signature: &Signature, now_ms: u64) -> Result<(), EnrolmentError> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(EnrolmentError::TooLarge(self.body.len()));
        }
        let key = self
            .requester
            .public_key()
            .map_err(|_| EnrolmentError::NotAKey(self.requester))?;
        if !key.verify(
            namespace::ENROLMENT,
            &commonware_codec::Encode::encode(self),
            signature,
        ) {
            return Err(EnrolmentError::BadSignature(self.requester));
        }
        if self.issued_at_ms.abs_diff(now_ms) > REQUEST_VALIDITY_MS {
            return Err(EnrolmentError::Stale {
                issued_at_ms: self.issued_at_ms,
                now_ms,
            });
        }
        Ok(())
    }

    /// What binds a sealed answer to this request and to the answering node `x`.
    fn seal_context(&self, x: u32) -> Vec<u8> {
        let mut context = Vec::new();
        self.chain_id.write(&mut context);
        self.requester.write(&mut context);
        self.session.write(&mut context);
        self.identity.write(&mut context);
        x.write(&mut context);
        context
    }

    /// Node side: seals `secret` (the partial key of node `x`) to the request's response key.
    /// Refuses a secret larger than an enrollee opens.
    pub fn seal_answer(
        &self,
        x: u32,
        secret: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, EnrolmentError> {
        if X25519_LEN + secret.len() + TAG_LEN > MAX_SEALED_BYTES {
            return Err(EnrolmentError::TooLarge(secret.len()));
        }
        let ephemeral = x25519_dalek::EphemeralSecret::random_from_rng(rng);
        let ephemeral_public = x25519_dalek::PublicKey::from(&ephemeral);
        let recipient = x25519_dalek::PublicKey::from(self.response_key);
        let shared = ephemeral.diffie_hellman(&recipient);
        let key = answer_key(
            shared.as_bytes(),
            ephemeral_public.as_bytes(),
            &self.response_key,
            &self.seal_context(x),
        );
        // One key per ephemeral: a fixed nonce never repeats under a key.
        let ciphertext = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&*key))
            .encrypt(Nonce::from_slice(&[0u8; 12]), secret)
            .map_err(|_| EnrolmentError::TooLarge(secret.len()))?;
        let mut sealed = ephemeral_public.as_bytes().to_vec();
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Enrollee side: opens node `x`'s sealed answer with the secret of `response_key`.
    pub fn open_answer(
        &self,
        x: u32,
        response_secret: &x25519_dalek::StaticSecret,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, EnrolmentError> {
        if sealed.len() < X25519_LEN + TAG_LEN || sealed.len() > MAX_SEALED_BYTES {
            return Err(EnrolmentError::Unsealable);
        }
        let (ephemeral_public, ciphertext) = sealed.split_at(X25519_LEN);
        let mut ephemeral = [0u8; X25519_LEN];
        ephemeral.copy_from_slice(ephemeral_public);
        let shared = response_secret.diffie_hellman(&x25519_dalek::PublicKey::from(ephemeral));
        // A low-order point from the node would make the key public.
        if !shared.was_contributory() {
            return Err(EnrolmentError::Unsealable);
        }
        let key = answer_key(
            shared.as_bytes(),
            &ephemeral,
            &self.response_key,
            &self.seal_context(x),
        );
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&*key))
            .decrypt(
                Nonce::from_slice(&[0u8; 12]),
                Payload {
                    msg: ciphertext,
                    aad: &[],
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| EnrolmentError::Unsealable)
    }
}

/// A fresh X25519 key pair for one enrolment's answers.
pub fn response_key_pair(
    rng: &mut impl CryptoRng,
) -> (x25519_dalek::StaticSecret, [u8; X25519_LEN]) {
    let secret = x25519_dalek::StaticSecret::random_from_rng(rng);
    let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
    (secret, public)
}

fn answer_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
    context: &[u8],
) -> Zeroizing<[u8; 32]> {
    // Every part but the last has a fixed length, so the concatenation is unambiguous.
    let digest = Sha256::hash(&[SEAL_LABEL, shared, ephemeral, recipient, context]);
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(digest.as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_utils::test_rng;

    fn request(key: &PrivateKey) -> (EnrolmentRequest, x25519_dalek::StaticSecret) {
        let (secret, response_key) = response_key_pair(&mut test_rng());
        let requester = Address::from(key.public_key());
        let request = EnrolmentRequest {
            chain_id: ChainId::new("medchain-test".to_string()).unwrap(),
            route: EnrolmentRoute::PartialKeys,
            requester,
            issued_at_ms: 1_000_000,
            session: [7; SESSION_LEN],
            identity: IdentityName::patient_pseudonym(&requester),
            response_key,
            body: vec![1, 2, 3],
        };
        (request, secret)
    }

    #[test]
    fn requests_verify_only_as_signed_for_their_chain_route_and_time() {
        let key = PrivateKey::from_seed(1);
        let (request, _) = request(&key);
        let signature = request.sign(&key);
        assert_eq!(request.verify(&signature, 1_000_000), Ok(()));
        assert_eq!(
            request.verify(&signature, 1_000_000 + REQUEST_VALIDITY_MS),
            Ok(())
        );
        assert!(matches!(
            request.verify(&signature, 1_000_001 + REQUEST_VALIDITY_MS),
            Err(EnrolmentError::Stale { .. })
        ));

        let other_route = EnrolmentRequest {
            route: EnrolmentRoute::Commitments,
            ..request.clone()
        };
        let other_chain = EnrolmentRequest {
            chain_id: ChainId::new("medchain-other".to_string()).unwrap(),
            ..request.clone()
        };
        let other_body = EnrolmentRequest {
            body: vec![1, 2, 4],
            ..request.clone()
        };
        let impostor = EnrolmentRequest {
            requester: Address::from(PrivateKey::from_seed(2).public_key()),
            ..request.clone()
        };
        for forged in [other_route, other_chain, other_body, impostor] {
            assert!(matches!(
                forged.verify(&signature, 1_000_000),
                Err(EnrolmentError::BadSignature(_))
            ));
        }
        let huge = EnrolmentRequest {
            body: vec![0; MAX_BODY_BYTES + 1],
            ..request
        };
        assert_eq!(
            huge.verify(&huge.sign(&key), 1_000_000),
            Err(EnrolmentError::TooLarge(MAX_BODY_BYTES + 1))
        );
    }

    #[test]
    fn sealed_answers_open_only_for_their_request_node_and_key() {
        let key = PrivateKey::from_seed(1);
        let (request, secret) = request(&key);
        let sealed = request
            .seal_answer(3, b"partial key", &mut test_rng())
            .unwrap();
        assert!(
            request
                .seal_answer(3, &[0; MAX_SEALED_BYTES], &mut test_rng())
                .is_err()
        );
        assert!(!sealed.windows(11).any(|w| w == b"partial key"));
        assert_eq!(
            request.open_answer(3, &secret, &sealed).unwrap().as_slice(),
            b"partial key"
        );
        // Another node's position, another session, another key, a modified answer.
        assert_eq!(
            request.open_answer(2, &secret, &sealed),
            Err(EnrolmentError::Unsealable)
        );
        let other_session = EnrolmentRequest {
            session: [8; SESSION_LEN],
            ..request.clone()
        };
        assert_eq!(
            other_session.open_answer(3, &secret, &sealed),
            Err(EnrolmentError::Unsealable)
        );
        let (stranger, _) = response_key_pair(&mut commonware_utils::TestRng::new(9));
        assert_eq!(
            request.open_answer(3, &stranger, &sealed),
            Err(EnrolmentError::Unsealable)
        );
        let mut modified = sealed.clone();
        *modified.last_mut().unwrap() ^= 1;
        assert_eq!(
            request.open_answer(3, &secret, &modified),
            Err(EnrolmentError::Unsealable)
        );
        assert_eq!(
            request.open_answer(3, &secret, &sealed[..20]),
            Err(EnrolmentError::Unsealable)
        );
        // A low-order ephemeral key from a malicious node is refused, not trusted.
        let mut low_order = vec![0u8; 32];
        low_order.extend_from_slice(&sealed[32..]);
        assert_eq!(
            request.open_answer(3, &secret, &low_order),
            Err(EnrolmentError::Unsealable)
        );
    }
}
