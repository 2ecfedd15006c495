//! Bodies of the enrolment routes (`POST /v1/pkg/commitments`, `POST /v1/pkg/partial-keys`):
//! a request signed by the enrollee's chain key, and the validator's answers.

use commonware_codec::{DecodeExt as _, Encode as _};
use medchain_types::{
    Address, ChainId, IdentityName, Signature,
    enrolment::{EnrolmentRequest, EnrolmentRoute, SESSION_LEN},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A request to a validator's enrolment service, signed by the requester's chain key under
/// the enrolment namespace over chain id ‖ route ‖ these fields (the chain id and route are
/// the node's own and the path's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentRequestView {
    /// The enrollee's chain address: the address the identity is bound to on chain.
    pub requester: Address,
    /// When the enrollee signed, unix milliseconds; refused more than 60 s from the node's
    /// clock.
    #[schema(minimum = 0, maximum = 18446744073709551615u64, format = "uint64")]
    pub issued_at_ms: u64,
    /// The enrolment attempt (16 random bytes, hex); round 2 must use round 1's.
    #[schema(pattern = "^[0-9a-fA-F]{32}$")]
    pub session: String,
    /// The identity keys are asked for (`patient:<address>` for a patient).
    pub identity: IdentityName,
    /// Round 1: empty. Round 2: hex of the encoded extraction request (ID_U ‖ L_U1 ‖ the t
    /// chosen nonce commitments).
    #[schema(max_length = 65536, pattern = "^([0-9a-fA-F]{2})*$")]
    pub body: String,
    /// ed25519 signature (hex) by `requester`.
    #[schema(pattern = "^[0-9a-fA-F]{128}$")]
    pub signature: String,
}

/// Why an [`EnrolmentRequestView`] does not decode.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is malformed")]
pub struct EnrolmentViewError(pub &'static str);

impl EnrolmentRequestView {
    /// Signs `request` and renders it for the wire.
    pub fn signed(request: &EnrolmentRequest, key: &medchain_types::PrivateKey) -> Self {
        Self {
            requester: request.requester,
            issued_at_ms: request.issued_at_ms,
            session: hex::encode(request.session),
            identity: request.identity.clone(),
            body: hex::encode(&request.body),
            signature: hex::encode(request.sign(key).encode()),
        }
    }

    /// The request as signed for `chain_id` and `route`, and its signature (unchecked).
    pub fn decode(
        &self,
        chain_id: &ChainId,
        route: EnrolmentRoute,
    ) -> Result<(EnrolmentRequest, Signature), EnrolmentViewError> {
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| Signature::decode(commonware_codec::Copying(bytes.as_slice())).ok())
            .ok_or(EnrolmentViewError("signature"))?;
        let request = EnrolmentRequest {
            chain_id: chain_id.clone(),
            route,
            requester: self.requester,
            issued_at_ms: self.issued_at_ms,
            session: fixed_hex::<SESSION_LEN>(&self.session, "session")?,
            identity: self.identity.clone(),
            body: hex::decode(&self.body).map_err(|_| EnrolmentViewError("body"))?,
        };
        Ok((request, signature))
    }
}

fn fixed_hex<const N: usize>(
    text: &str,
    field: &'static str,
) -> Result<[u8; N], EnrolmentViewError> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(EnrolmentViewError(field))
}

/// Round 1's answer: the node's commitment to fresh one-time nonces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitmentView {
    /// The node's evaluation point x (its share is s_x = a(x)).
    pub x: u32,
    /// Hex of the encoded nonce commitment (x ‖ Y_x ‖ Z_x, 100 bytes).
    #[schema(pattern = "^[0-9a-fA-F]{200}$")]
    pub commitment: String,
    /// The validator answering (its genesis key), so an enrollee names a faulty node.
    pub validator: Address,
}

/// Round 2's answer: the node's partial key, sealed to the enrollee's L_U1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartialKeyView {
    /// The node's evaluation point x.
    pub x: u32,
    /// Hex of the sealed partial key (x ‖ ephemeral r·P ‖ AES-256-GCM ciphertext under a key
    /// only the holder of x_U derives).
    #[schema(pattern = "^([0-9a-fA-F]{2})+$")]
    pub sealed: String,
    /// The validator answering.
    pub validator: Address,
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;

    #[test]
    fn signed_views_decode_to_the_signed_request() {
        let key = medchain_types::PrivateKey::from_seed(5);
        let requester = Address::from(key.public_key());
        let chain = ChainId::new("medchain-test".to_string()).unwrap();
        let request = EnrolmentRequest {
            chain_id: chain.clone(),
            route: EnrolmentRoute::Commitments,
            requester,
            issued_at_ms: 42,
            session: [3; SESSION_LEN],
            identity: IdentityName::patient_pseudonym(&requester),
            body: vec![],
        };
        let view = EnrolmentRequestView::signed(&request, &key);
        let (decoded, signature) = view.decode(&chain, EnrolmentRoute::Commitments).unwrap();
        assert_eq!(decoded, request);
        assert_eq!(decoded.verify(&signature, 42), Ok(()));
        let bad = EnrolmentRequestView {
            session: "00".into(),
            ..view.clone()
        };
        assert_eq!(
            bad.decode(&chain, EnrolmentRoute::Commitments),
            Err(EnrolmentViewError("session"))
        );
        let bad = EnrolmentRequestView {
            signature: "zz".into(),
            ..view
        };
        assert!(bad.decode(&chain, EnrolmentRoute::Commitments).is_err());
    }
}
