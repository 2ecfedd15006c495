//! The JSON bodies of the gateway's HTTP API, shared by the service ([`crate::service`]) and
//! its client ([`crate::client::GatewayClient`]). Binary fields travel as lowercase hex: TAKA
//! messages in their canonical encodings, transactions in the chain's codec.

use medchain_types::{
    Address, BlsSignature, ContentHash, EmergencyId, EntryId, IdentityName, OrgName, Purpose,
    RecordId, TxId,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest request body the gateway reads, for `POST /v1/records`: a bundle of up to
/// [`crate::fhir::DEFAULT_MAX_BUNDLE_BYTES`] as one JSON string (escaping can double it) and
/// its signed release.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// Largest body of any other request (the largest, a TAKA share request or enrolment
/// message with its signature, is a few kilobytes).
pub const MAX_SMALL_REQUEST_BYTES: usize = 64 * 1024;

/// `GET /v1/info`: who runs this gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    /// The hospital's identity (the issuer of its doctors' licences).
    pub hospital: IdentityName,
    /// The hospital's chain address (the sender of the gateway's transactions).
    pub address: Address,
    /// The hospital's organisation.
    pub org: OrgName,
    /// Where patients and doctors reach this gateway.
    pub public_url: String,
}

/// An enrolment in progress between hello and confirmation: 16 random bytes, hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnrolmentSession(#[serde(with = "hex::serde")] pub [u8; 16]);

impl fmt::Debug for EnrolmentSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnrolmentSession({})", hex::encode(self.0))
    }
}

/// `POST /v1/enrolments/hello`: the patient's TAKA enrolment hello (S3-agree).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolmentHello {
    /// `taka::Hello` (an enrolment hello addressed to this hospital).
    #[serde(with = "hex::serde")]
    pub hello: Vec<u8>,
}

/// The answer to [`EnrolmentHello`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolmentStarted {
    /// Names the pending enrolment in the confirmation.
    pub session: EnrolmentSession,
    /// `taka::EnrolmentReply`.
    #[serde(with = "hex::serde")]
    pub reply: Vec<u8>,
}

/// `POST /v1/enrolments/confirm`: the patient's key confirmation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolmentConfirm {
    pub session: EnrolmentSession,
    /// `taka::EnrolmentConfirmation`.
    #[serde(with = "hex::serde")]
    pub confirmation: Vec<u8>,
}

/// The answer to [`EnrolmentConfirm`]: the patient's chain address, as the chain binds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    pub patient: Address,
}

/// `POST /v1/records`: a doctor writes a record (S1-release, S1-storage, S3-release).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WriteRecord {
    /// The patient's chain address (enrolled at this hospital).
    pub patient: Address,
    /// The FHIR reference of the patient inside the bundle (`Patient/<id>` or a `urn:uuid:`).
    pub fhir_patient: String,
    /// The FHIR R4 JSON bundle, exactly the bytes hEMR is computed over.
    pub bundle: String,
    /// The doctor's signed release for this patient and hEMR = SHA-256(`bundle`), chain codec:
    /// a `record.release` transaction, or on a chain with a MED chain the doctor's tx_mr and
    /// its BLS signature ([`crate::ledger::MedRelease`]).
    #[serde(with = "hex::serde")]
    pub release: Vec<u8>,
}

/// The answer to [`WriteRecord`], once the record is released, sealed, stored and pointed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenRecord {
    /// The record id on chain (the release transaction's id; on MED, its htxM).
    pub record: RecordId,
    /// The record's EMR index j at this hospital (from 1).
    pub index: u64,
    /// hEMR.
    pub record_hash: ContentHash,
    /// SHA-256 of the sealed blob (`GET /v1/blobs/{blob_hash}`).
    pub blob_hash: ContentHash,
    /// The release transaction (on MED: the htxM, the record id).
    pub release_tx: TxId,
    /// The commitment to the record's attributes, when the gateway could attest it at once
    /// (the patient has filed its nullifier key and the bundle maps to the schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<HeldAttestation>,
    /// On a chain with a MED chain: the Mblock that holds the release and the SUP height that
    /// checkpointed it (absent when the record was released before this request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<MedFinal>,
}

/// A record final on MED: the Mblock holding its release, checkpointed by SUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedFinal {
    /// The Mblock's hash.
    #[serde(with = "hex::serde")]
    pub mblock: [u8; 32],
    /// Its height.
    pub mblock_height: u64,
    /// The SUP height of the block that checkpointed it.
    pub checkpointed_at: u64,
}

impl From<crate::ledger::Checkpointed> for MedFinal {
    fn from(checkpointed: crate::ledger::Checkpointed) -> Self {
        Self {
            mblock: checkpointed.mblock.0,
            mblock_height: checkpointed.mblock_height,
            checkpointed_at: checkpointed.checkpointed_at,
        }
    }
}

/// `POST /v1/entries` (answered 202) and `GET /v1/entries/{entry}`: where a patient's entry
/// EEE filed through this gateway on MED is (S3-entry). The request body is the patient's
/// `medchain_types::med::SignedEntry`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiledEntry {
    /// The entry's id on chain (`EntryMr::entry_id`).
    pub entry: EntryId,
    /// Where it is.
    #[serde(flatten)]
    pub progress: EntryProgress,
}

/// How far an entry is, as `status` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EntryProgress {
    /// In the node's pool (`mblock_height` null) or in an Mblock SUP has not checkpointed.
    Pending {
        /// The height of the Mblock holding it, if one does yet.
        mblock_height: Option<u64>,
    },
    /// SUP imported it from a checkpointed Mblock: `doctor emergency` can open it.
    Final(MedFinal),
    /// SUP checkpointed its Mblock without importing it (the patient was no longer enrolled,
    /// or had no key, at the checkpoint; or the same entry was filed before).
    Refused {
        /// The Mblock holding it.
        #[serde(with = "hex::serde")]
        mblock: [u8; 32],
    },
}

impl From<crate::ledger::EntryStatus> for EntryProgress {
    fn from(status: crate::ledger::EntryStatus) -> Self {
        use crate::ledger::EntryStatus;
        match status {
            EntryStatus::Pending { mblock_height } => Self::Pending { mblock_height },
            EntryStatus::Final(checkpointed) => Self::Final(checkpointed.into()),
            EntryStatus::Refused { mblock } => Self::Refused { mblock: mblock.0 },
        }
    }
}

/// A record's attested commitment (issue 12): what the hospital filed in `research.attest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAttestation {
    /// `zk::Commitment`'s bytes, as attested on chain (hex).
    #[serde(with = "hex::serde")]
    pub commitment: [u8; 32],
    /// The date (UTC, `YYYY-MM-DD`) the record's attributes are as of (ages count to it).
    pub as_of: String,
}

/// One of a patient's records at this hospital (`GET /v1/patients/{address}/records`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRecord {
    /// The record id on chain (the release transaction's id, known before it is final).
    pub record: RecordId,
    /// EMR index j (from 1).
    pub index: u64,
    /// hEMR.
    pub record_hash: ContentHash,
    /// The sealed blob, once stored.
    pub blob_hash: Option<ContentHash>,
    /// `stored` or `attested` (the list holds stored records only).
    pub state: String,
    /// The attested commitment, once `attested` (its opening: `GET /v1/records/{record}/opening`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<HeldAttestation>,
}

/// One record in the answer to `POST /v1/patients/{address}/attest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestOutcome {
    /// The record id on chain.
    pub record: RecordId,
    /// Its EMR index j.
    pub index: u64,
    /// The attested commitment, if the record is attested now.
    pub attestation: Option<HeldAttestation>,
    /// Why it is not (the bundle does not map to the schema, or it was not tried in this
    /// request: ask again).
    pub reason: Option<String>,
}

/// `GET /v1/licences/{doctor}`: the doctor's licence ρ signed by this hospital (S3-register).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LicenceIssued {
    /// `taka::Licence`; its EXP is the chain licence's expiry in seconds.
    #[serde(with = "hex::serde")]
    pub licence: Vec<u8>,
}

/// `POST /v1/shares`: a doctor's TAKA sharing request for one record (S3-share).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareRecord {
    /// The record the doctor asks for (must be among those the authorisation grants).
    pub record: RecordId,
    /// The purpose the access is for (the consent must cover it).
    pub purpose: Purpose,
    /// `taka::ShareRequest`.
    #[serde(with = "hex::serde")]
    pub request: Vec<u8>,
    /// When the doctor signed, unix milliseconds (accepted within a minute of the gateway's
    /// clock).
    pub issued_at_ms: u64,
    /// The doctor's ed25519 signature (chain key) over the request
    /// (`crate::doctor_request::DoctorRequest`).
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

/// What a gateway releases under a share or an emergency: the TAKA response, whose
/// `RecordRelease` per record carries the 32-byte record key (`emr`) and the record id
/// (`htxm`), and where each sealed blob is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Served {
    /// `taka::HospitalResponse`.
    #[serde(with = "hex::serde")]
    pub response: Vec<u8>,
    /// The `access.serve` transaction that logged the access on chain (the asked record's).
    pub access_tx: TxId,
    /// The released records' blobs.
    pub blobs: Vec<ServedBlob>,
}

/// Where one released record's sealed blob is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedBlob {
    pub record: RecordId,
    /// EMR index j.
    pub index: u64,
    /// `GET /v1/blobs/{blob_hash}`.
    pub blob_hash: ContentHash,
}

/// Every error answer: a stable `code`, what happened and what to do. A refused access also
/// names the `access.serve` transaction that logged the refusal on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub hint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_tx: Option<TxId>,
}

/// `POST /v1/emergencies`, at the doctor's own hospital B: file tx_ur (S3-emergency).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmergencyFiling {
    /// The treating doctor, licensed by this hospital.
    pub doctor: IdentityName,
    /// The record needed (from the patient's EMR entry).
    pub record: RecordId,
    /// hUR, the hash of the doctor's emergency request η.
    #[serde(with = "hex::serde")]
    pub hur: [u8; 32],
    /// When the doctor issued the request, unix milliseconds.
    pub issued_at_ms: u64,
    /// The doctor's BLS signature over `medchain_types::emergency::emergency_message`.
    pub doctor_vouch: BlsSignature,
}

/// The answer to [`EmergencyFiling`]: tx_ur, final on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyFiled {
    pub emergency: EmergencyId,
}

/// `POST /v1/emergency-access`, at the hospital holding the record: the doctor's TAKA
/// emergency hello, whose htxU is the emergency's id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmergencyAccess {
    pub emergency: EmergencyId,
    /// `taka::EmergencyHello`.
    #[serde(with = "hex::serde")]
    pub hello: Vec<u8>,
    /// `taka::emergency_gate_proof` under the gate found in the patient's EMR entry, over the
    /// emergency's id and the doctor's identity: proof the doctor opened the entry with the
    /// patient's template.
    #[serde(with = "hex::serde")]
    pub gate_proof: Vec<u8>,
    /// When the doctor signed, unix milliseconds.
    pub issued_at_ms: u64,
    /// The doctor's ed25519 signature (chain key) over the request
    /// (`crate::doctor_request::DoctorRequest`, purpose `treatment`).
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

/// A break-glass access this gateway served (`GET /v1/patients/{address}/notifications`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The emergency request on chain.
    pub emergency: EmergencyId,
    /// The record released.
    pub record: RecordId,
    /// Its EMR index j.
    pub index: u64,
    /// The doctor it was released to.
    pub doctor: IdentityName,
    /// The `access.serve` that logged it on chain.
    pub access_tx: TxId,
    /// When, unix milliseconds (the gateway's clock).
    pub served_at_ms: u64,
}
