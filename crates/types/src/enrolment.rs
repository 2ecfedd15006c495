//! The enrolment service's requests (S3-register with a threshold PKG): what an enrollee signs
//! when it asks a validator for a nonce commitment (round 1) or a partial key (round 2).
//!
//! Every request names the chain, the route, the requester's address, a session id, the
//! identity and the round's body, and is signed by the requester's chain key under [`namespace::ENROLMENT`]. A node answers only for
//! an identity bound to the signing address on its finalized state, so a request signature is
//! what stops one party from obtaining another's keys. `issued_at_ms` bounds replays to
//! [`REQUEST_VALIDITY_MS`] either side of the node's clock; a replay inside the window gains
//! nothing: round 1 only hands out another commitment, and round 2 needs a nonce that the
//! first answer consumed (and a partial key is sealed to the enrollee's L_U1 with
//! `taka::SealedPartialKey`, so only the holder of x_U opens it).

use crate::{Address, ChainId, IdentityName, PrivateKey, Signature, namespace};
use bytes::BufMut;
use commonware_codec::{EncodeSize, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

/// How far a request's `issued_at_ms` may be from the node's clock, either way.
pub const REQUEST_VALIDITY_MS: u64 = 60_000;
/// Length of a session id.
pub const SESSION_LEN: usize = 16;
/// Largest request body (a round-2 extraction request for 256 nodes is about 26 KB).
pub const MAX_BODY_BYTES: usize = 32 * 1024;

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
    /// The body is larger than any valid one.
    #[error("the request body has {0} bytes, more than an enrolment request holds")]
    TooLarge(usize),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &PrivateKey) -> EnrolmentRequest {
        let requester = Address::from(key.public_key());
        EnrolmentRequest {
            chain_id: ChainId::new("medchain-test".to_string()).unwrap(),
            route: EnrolmentRoute::PartialKeys,
            requester,
            issued_at_ms: 1_000_000,
            session: [7; SESSION_LEN],
            identity: IdentityName::patient_pseudonym(&requester),
            body: vec![1, 2, 3],
        }
    }

    #[test]
    fn requests_verify_only_as_signed_for_their_chain_route_and_time() {
        let key = PrivateKey::from_seed(1);
        let request = request(&key);
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
}
