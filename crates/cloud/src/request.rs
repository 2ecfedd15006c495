//! A researcher's signature over a re-encryption request (`POST /v1/enrolments/{id}/reencrypt`).
//!
//! A proxy re-encrypts only for the study's researcher (the address on chain), so nobody else
//! can make it file `research.reencrypted` (and spend its fees) or collect capsule fragments.
//! The signed message is domain-separated ([`REENCRYPT_NAMESPACE`]) and names the enrolment and
//! when it was signed; the proxy accepts it within [`REENCRYPT_VALIDITY_MS`] of its clock, and
//! once (it remembers every request it authenticated for twice that long).

use commonware_codec::{Copying, DecodeExt as _, Encode as _, Write};
use commonware_cryptography::{Signer as _, Verifier as _};
use medchain_types::{Address, ContentHash, EnrolmentId, PrivateKey, Signature};

/// Namespace of a researcher's re-encryption request signature.
pub const REENCRYPT_NAMESPACE: &[u8] = b"_MEDCHAIN_CLOUD_REENCRYPT_V1";
/// How far a request's `issued_at_ms` may be from the proxy's clock, either way.
pub const REENCRYPT_VALIDITY_MS: u64 = 5 * 60 * 1000;

/// Why a re-encryption request is not authenticated.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestAuthError {
    #[error("the signature is not 64 bytes of ed25519")]
    Malformed,
    #[error("the request is not signed by {0}, the study's researcher")]
    BadSignature(Address),
    #[error(
        "the request was signed at {issued_at_ms} ms, more than {REENCRYPT_VALIDITY_MS} ms from the proxy's clock ({now_ms} ms)"
    )]
    Stale { issued_at_ms: u64, now_ms: u64 },
}

/// What a researcher signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReencryptRequest {
    pub enrolment: EnrolmentId,
    /// The researcher's clock when signing, unix milliseconds.
    pub issued_at_ms: u64,
}

impl ReencryptRequest {
    fn message(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.enrolment.write(&mut buf);
        self.issued_at_ms.write(&mut buf);
        buf
    }

    /// Signs with the researcher's chain key; the signature as sent (hex in JSON).
    pub fn sign(&self, key: &PrivateKey) -> Vec<u8> {
        key.sign(REENCRYPT_NAMESPACE, &self.message())
            .encode()
            .to_vec()
    }

    /// Checks `signature` under `researcher` and the validity window against `now_ms`; returns
    /// a digest identifying this exact request, for replay detection.
    pub fn verify(
        &self,
        researcher: &Address,
        signature: &[u8],
        now_ms: u64,
    ) -> Result<[u8; 32], RequestAuthError> {
        let signature =
            Signature::decode(Copying(signature)).map_err(|_| RequestAuthError::Malformed)?;
        let message = self.message();
        let verifies = researcher
            .public_key()
            .is_ok_and(|key| key.verify(REENCRYPT_NAMESPACE, &message, &signature));
        if !verifies {
            return Err(RequestAuthError::BadSignature(*researcher));
        }
        if self.issued_at_ms.abs_diff(now_ms) > REENCRYPT_VALIDITY_MS {
            return Err(RequestAuthError::Stale {
                issued_at_ms: self.issued_at_ms,
                now_ms,
            });
        }
        Ok(ContentHash::of(&message).0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_types::Hash32;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn a_request_verifies_only_as_signed_by_the_researcher_recently() {
        let key = PrivateKey::from_seed(1);
        let researcher = Address::from(key.public_key());
        let request = ReencryptRequest {
            enrolment: EnrolmentId(Hash32::from([3; 32])),
            issued_at_ms: NOW,
        };
        let signature = request.sign(&key);
        let digest = request
            .verify(&researcher, &signature, NOW + 299_000)
            .unwrap();
        assert_eq!(
            digest,
            request.verify(&researcher, &signature, NOW).unwrap()
        );

        let someone_else = Address::from(PrivateKey::from_seed(2).public_key());
        assert_eq!(
            request.verify(&someone_else, &signature, NOW),
            Err(RequestAuthError::BadSignature(someone_else))
        );
        assert_eq!(
            request.verify(&researcher, &signature[..63], NOW),
            Err(RequestAuthError::Malformed)
        );
        assert!(matches!(
            request.verify(&researcher, &signature, NOW - REENCRYPT_VALIDITY_MS - 1),
            Err(RequestAuthError::Stale { .. })
        ));
        // The enrolment and the time are signed.
        for changed in [
            ReencryptRequest {
                enrolment: EnrolmentId(Hash32::from([4; 32])),
                ..request
            },
            ReencryptRequest {
                issued_at_ms: NOW + 1,
                ..request
            },
        ] {
            assert_eq!(
                changed.verify(&researcher, &signature, NOW),
                Err(RequestAuthError::BadSignature(researcher))
            );
        }
        // A signature in another namespace (a transaction's, a gateway request's) is refused.
        let foreign = key
            .sign(
                medchain_types::namespace::GATEWAY_REQUEST,
                &request.message(),
            )
            .encode()
            .to_vec();
        assert_eq!(
            request.verify(&researcher, &foreign, NOW),
            Err(RequestAuthError::BadSignature(researcher))
        );
    }
}
