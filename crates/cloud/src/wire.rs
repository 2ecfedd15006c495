//! The JSON bodies of `medchain cloud`'s HTTP API (byte fields in hex), shared by the service
//! and [`crate::client::CloudClient`]. Errors are the gateway's `{code, message, hint}`
//! ([`ErrorBody`]).

use medchain_types::{Address, ContentHash, EnrolmentId, TxId};
use serde::{Deserialize, Serialize};

pub use medchain_gateway::wire::ErrorBody;

/// Largest encrypted record accepted (`PUT /v1/enrolments/{id}/record`).
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// Largest body of every other request (a sealed kfrag is well under 1 KiB).
pub const MAX_SMALL_REQUEST_BYTES: usize = 64 * 1024;

/// `GET /v1/info`: who this proxy is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudInfo {
    /// The proxy's chain address (a member of an audited cloud organisation).
    pub proxy: Address,
    /// The X25519 public key kfrags are sealed to, as registered on chain.
    #[serde(with = "hex::serde")]
    pub encryption_key: [u8; 32],
    /// The URL the proxy registered on chain.
    pub url: String,
}

/// `PUT /v1/enrolments/{id}/record`: what was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordStored {
    pub enrolment: EnrolmentId,
    /// SHA-256 of the bytes, equal to the enrolment's `ciphertext_hash` on chain.
    pub ciphertext_hash: ContentHash,
    pub bytes: u64,
}

/// `POST /v1/enrolments/{id}/kfrag`: a key fragment HPKE-sealed to this proxy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KfragUpload {
    #[serde(with = "hex::serde")]
    pub sealed: Vec<u8>,
}

/// The answer to a kfrag upload: it opened, verified against the enrolment, and is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KfragStored {
    pub enrolment: EnrolmentId,
}

/// `POST /v1/enrolments/{id}/reencrypt`: the study's researcher asks for a capsule fragment
/// ([`crate::request::ReencryptRequest`] says what is signed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReencryptBody {
    /// The researcher's clock when signing, unix milliseconds.
    pub issued_at_ms: u64,
    /// ed25519 signature by the researcher's chain key.
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

/// The answer to a re-encryption request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReencryptAnswer {
    /// The capsule fragment (`proxy_reencryption::CapsuleFragBytes`).
    #[serde(with = "hex::serde")]
    pub cfrag: Vec<u8>,
    /// The `research.reencrypted` transaction that logged this proxy's action on chain.
    pub log_tx: TxId,
}
