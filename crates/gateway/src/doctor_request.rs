//! A doctor's signature over an HTTP request to the gateway holding a record (S3-share,
//! S3-emergency).
//!
//! Every request a holding gateway answers by filing `access.serve` in a doctor's name is
//! signed by that doctor's chain key, so nobody else can make the patient's access history
//! blame the doctor (or spend the hospital's transactions). The signed message names the
//! chain, the holding hospital, the route, the record or emergency asked, the purpose, the
//! SHA-256 of the TAKA message sent, and when it was signed; the gateway accepts it within
//! [`REQUEST_VALIDITY_MS`] of its clock, under the address the chain binds to the doctor, and
//! once (it remembers each request it authenticated).

use commonware_codec::{Copying, DecodeExt as _, Encode as _, Write};
use commonware_cryptography::{Signer as _, Verifier as _};
use medchain_types::{
    Address, ChainId, ContentHash, Hash32, IdentityName, PrivateKey, Purpose, Signature, namespace,
};

pub use medchain_types::enrolment::REQUEST_VALIDITY_MS;

/// The doctor-signed routes, each part of what is signed so a signature for one is never
/// accepted by the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoctorRoute {
    /// `POST /v1/shares`.
    Share,
    /// `POST /v1/emergency-access`.
    EmergencyAccess,
}

impl DoctorRoute {
    /// The HTTP path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Share => "/v1/shares",
            Self::EmergencyAccess => "/v1/emergency-access",
        }
    }
}

/// Why a doctor's request is not authenticated.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestAuthError {
    #[error("the signature is not 64 bytes of ed25519")]
    Malformed,
    #[error("the request is not signed by {0}, the doctor it names, for this gateway and route")]
    BadSignature(Address),
    #[error(
        "the request was signed at {issued_at_ms} ms, more than {REQUEST_VALIDITY_MS} ms from the gateway's clock ({now_ms} ms)"
    )]
    Stale { issued_at_ms: u64, now_ms: u64 },
}

/// What a doctor signs.
#[derive(Clone, Debug)]
pub struct DoctorRequest<'a> {
    pub chain_id: &'a ChainId,
    /// The hospital holding the record (the gateway's identity).
    pub holder: &'a IdentityName,
    pub route: DoctorRoute,
    /// The record (share) or emergency request (break-glass) asked.
    pub subject: Hash32,
    pub purpose: Purpose,
    /// The TAKA share request or emergency hello, as sent.
    pub taka_message: &'a [u8],
    /// The doctor's clock when signing, unix milliseconds.
    pub issued_at_ms: u64,
}

impl DoctorRequest<'_> {
    fn message(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.chain_id.write(&mut buf);
        self.holder.write(&mut buf);
        self.route.path().as_bytes().to_vec().write(&mut buf);
        self.subject.write(&mut buf);
        self.purpose.write(&mut buf);
        ContentHash::of(self.taka_message).write(&mut buf);
        self.issued_at_ms.write(&mut buf);
        buf
    }

    /// The doctor signs with their chain key; the signature as sent (hex in JSON).
    pub fn sign(&self, key: &PrivateKey) -> Vec<u8> {
        let signature = key.sign(namespace::GATEWAY_REQUEST, &self.message());
        signature.encode().to_vec()
    }

    /// Checks `signature` under `doctor` (the address the chain binds to the doctor named)
    /// and the validity window against `now_ms`; returns a digest that identifies this exact
    /// request, for replay detection.
    pub fn verify(
        &self,
        doctor: &Address,
        signature: &[u8],
        now_ms: u64,
    ) -> Result<[u8; 32], RequestAuthError> {
        let signature =
            Signature::decode(Copying(signature)).map_err(|_| RequestAuthError::Malformed)?;
        let message = self.message();
        let verifies = doctor
            .public_key()
            .is_ok_and(|key| key.verify(namespace::GATEWAY_REQUEST, &message, &signature));
        if !verifies {
            return Err(RequestAuthError::BadSignature(*doctor));
        }
        if self.issued_at_ms.abs_diff(now_ms) > REQUEST_VALIDITY_MS {
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

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn a_request_verifies_only_as_signed_by_its_doctor_recently() {
        let chain = ChainId::new("medchain-test".to_string()).unwrap();
        let holder = IdentityName::new("seoul-general").unwrap();
        let key = PrivateKey::from_seed(1);
        let doctor = Address::from(key.public_key());
        let request = DoctorRequest {
            chain_id: &chain,
            holder: &holder,
            route: DoctorRoute::Share,
            subject: Hash32::from([3; 32]),
            purpose: Purpose::Treatment,
            taka_message: b"a TAKA share request",
            issued_at_ms: NOW,
        };
        let signature = request.sign(&key);
        let digest = request.verify(&doctor, &signature, NOW + 59_000).unwrap();
        assert_eq!(digest, request.verify(&doctor, &signature, NOW).unwrap());

        let someone_else = Address::from(PrivateKey::from_seed(2).public_key());
        assert_eq!(
            request.verify(&someone_else, &signature, NOW),
            Err(RequestAuthError::BadSignature(someone_else))
        );
        assert_eq!(
            request.verify(&doctor, &[], NOW),
            Err(RequestAuthError::Malformed)
        );
        assert!(matches!(
            request.verify(&doctor, &signature, NOW + REQUEST_VALIDITY_MS + 1),
            Err(RequestAuthError::Stale { .. })
        ));
        // Every field is signed.
        let other_chain = ChainId::new("medchain-other".to_string()).unwrap();
        let other_holder = IdentityName::new("busan-medical").unwrap();
        let changes: [DoctorRequest<'_>; 7] = [
            DoctorRequest {
                chain_id: &other_chain,
                ..request.clone()
            },
            DoctorRequest {
                holder: &other_holder,
                ..request.clone()
            },
            DoctorRequest {
                route: DoctorRoute::EmergencyAccess,
                ..request.clone()
            },
            DoctorRequest {
                subject: Hash32::from([4; 32]),
                ..request.clone()
            },
            DoctorRequest {
                purpose: Purpose::Research,
                ..request.clone()
            },
            DoctorRequest {
                taka_message: b"another TAKA share request",
                ..request.clone()
            },
            DoctorRequest {
                issued_at_ms: NOW + 1,
                ..request.clone()
            },
        ];
        for changed in changes {
            assert_eq!(
                changed.verify(&doctor, &signature, NOW),
                Err(RequestAuthError::BadSignature(doctor)),
                "{changed:?}"
            );
        }
    }
}
