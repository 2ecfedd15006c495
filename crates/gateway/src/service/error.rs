//! The service's errors, each explained at the HTTP edge as `{code, message, hint}`.

use crate::{
    blobs::BlobError,
    emr::{EmrError, ReleaseEnd},
    fhir::FhirError,
    ledger::LedgerError,
    wire::ErrorBody,
};
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use medchain_client::ClientError;
use medchain_types::{Address, DenyReason, IdentityName, RecordId, TxId};

/// Why the gateway did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request body is above its route's limit ([`crate::wire::MAX_REQUEST_BYTES`] for a
    /// record write, [`crate::wire::MAX_SMALL_REQUEST_BYTES`] otherwise).
    #[error(
        "the request body is larger than this route accepts ({} bytes for POST /v1/records, {} otherwise)",
        crate::wire::MAX_REQUEST_BYTES,
        crate::wire::MAX_SMALL_REQUEST_BYTES
    )]
    TooLarge,
    /// A POST whose body is not declared `application/json`.
    #[error("the request body must be sent as Content-Type: application/json")]
    NotJson,
    /// The request was not answered within the gateway's time limit.
    #[error("the request took longer than the gateway's time limit")]
    TimedOut,
    /// The request is malformed (a field that does not decode, a wrong shape).
    #[error("{what}: {reason}")]
    BadRequest { what: &'static str, reason: String },
    /// The bundle is not a valid FHIR R4 bundle of the named patient.
    #[error(transparent)]
    Fhir(#[from] FhirError),
    /// The signed release does not release this bundle for this patient.
    #[error("the release transaction does not fit the record: {0}")]
    BadRelease(String),
    /// The patient's signed entry does not verify, or its signer is not an enrolled patient
    /// with a registered key: nothing was kept.
    #[error("the entry was refused: {0}")]
    BadEntry(String),
    /// This gateway accepted no such entry.
    #[error("this gateway accepted no entry {0}")]
    UnknownEntry(medchain_types::EntryId),
    /// Entries go through a gateway only on a chain with MED.
    #[error("this chain has no MED chain: entries are filed on SUP by the patient")]
    NoMedChain,
    /// The patient has no enrolment at this hospital (S3-agree comes first).
    #[error("patient {0} is not enrolled at this hospital")]
    NotEnrolled(Address),
    /// The bundle is already held for this patient.
    #[error("patient {patient} already has this record here (EMR index {index})")]
    DuplicateRecord { patient: Address, index: u64 },
    /// The record is held, but its release ended without becoming final (it expired, or the
    /// chain refused it); writing it again with the same signed release changes nothing.
    #[error(
        "patient {patient}'s record at EMR index {index} is kept, but its release {}",
        ended_phrase(*ended)
    )]
    ReleaseEnded {
        patient: Address,
        index: u64,
        ended: ReleaseEnd,
    },
    /// The record is not held here, or not finished.
    #[error("record {0} is not held by this hospital")]
    UnknownRecord(RecordId),
    /// The record's release is not complete yet.
    #[error("record {0} is not stored yet")]
    RecordNotReady(RecordId),
    /// The patient has filed no nullifier key on chain, so no commitment can be attested for
    /// its records yet.
    #[error("patient {0} has no nullifier key on chain yet")]
    NoNullifierKey(Address),
    /// The record's bundle does not map to the attestation schema (`clinical_v1`): it stays
    /// stored and usable, but no commitment is attested for it.
    #[error("record {record} cannot be attested: {reason}")]
    Unattestable { record: RecordId, reason: String },
    /// No commitment is attested for the record (yet).
    #[error("record {0} has no attested commitment here")]
    NotAttested(RecordId),
    /// The patient is enrolled here and has records sealed under that enrolment.
    #[error("patient {0} is enrolled here already, with records")]
    AlreadyEnrolled(Address),
    /// No such emergency request on chain.
    #[error("no emergency request {0} on chain")]
    UnknownEmergency(medchain_types::EmergencyId),
    /// No such enrolment session (unknown, expired, or already confirmed).
    #[error("no enrolment session {0}")]
    UnknownSession(String),
    /// Too many enrolments are half done, or too many requests in flight.
    #[error("too many enrolments in progress")]
    Busy,
    /// The doctor's signature over the request is missing, wrong, stale or replayed: nothing
    /// was filed.
    #[error("the request is not authenticated: {0}")]
    Unauthenticated(String),
    /// An identity the request names is not what it must be on chain.
    #[error("identity {identity}: {reason}")]
    Identity {
        identity: IdentityName,
        reason: String,
    },
    /// No identity is bound to an address the request or the configuration names.
    #[error("no identity is bound to {0} on chain")]
    NoIdentity(Address),
    /// A doctor's licence is not this hospital's to vouch for or to sign.
    #[error("{0}")]
    NotOurDoctor(String),
    /// The access was refused; the refusal is logged on chain by `access_tx` when there is one.
    #[error("{message}")]
    Refused {
        code: String,
        message: String,
        access_tx: Option<TxId>,
    },
    /// The chain refused a transaction, could not be reached, or did not verify.
    #[error("the chain: {0}")]
    Chain(#[from] ClientError),
    /// The node refused a transaction: it is not filed and will not execute.
    #[error("the chain refused the transaction: {0}")]
    NotAdmitted(ClientError),
    /// A transaction was final without its expected effect.
    #[error("transaction {tx} was finalized without {expected}")]
    NotApplied { tx: TxId, expected: &'static str },
    /// A MED release not final: still pending on MED, or checkpointed but not imported by SUP.
    #[error("{0}")]
    Med(LedgerError),
    #[error("the EMR database: {0}")]
    Emr(#[from] EmrError),
    #[error("the blob store: {0}")]
    Blob(#[from] BlobError),
    /// A protocol step failed on data the gateway itself holds (a broken enrolment, …).
    #[error("{0}")]
    Internal(String),
}

impl From<crate::server::StartError> for ServiceError {
    fn from(error: crate::server::StartError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl ServiceError {
    pub(crate) fn bad(what: &'static str, reason: impl ToString) -> Self {
        Self::BadRequest {
            what,
            reason: reason.to_string(),
        }
    }

    /// A refusal with the chain's reason (or the gateway's verdict, as the chain logs it).
    pub(crate) fn refused(reason: DenyReason, access_tx: Option<TxId>) -> Self {
        Self::Refused {
            code: deny_code(reason),
            message: explain_denial(reason).into(),
            access_tx,
        }
    }

    fn status_code_hint(&self) -> (StatusCode, String, String) {
        use ServiceError as E;
        let (status, code, hint): (_, &str, &str) = match self {
            E::BadRequest { .. } => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "fix the request as the message says",
            ),
            E::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "records above 8 MiB are not accepted (split the bundle); other requests are a few kilobytes",
            ),
            E::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the JSON body with Content-Type: application/json",
            ),
            E::TimedOut => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timed_out",
                "try again; a write resumes where it stopped (list the patient's records first)",
            ),
            E::Fhir(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_bundle",
                "send a FHIR R4 JSON Bundle about the patient named by fhir_patient",
            ),
            E::BadRelease(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_release",
                "sign a record.release (on a chain with MED: tx_mr with your BLS vouching key) for this patient over exactly the bundle bytes sent (`medchain doctor write` does)",
            ),
            E::BadEntry(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_entry",
                "sign the entry with your own BLS vouching key, registered on SUP, as an enrolled patient (`medchain patient entry` does both)",
            ),
            E::UnknownEntry(_) => (
                StatusCode::NOT_FOUND,
                "unknown_entry",
                "ask the gateway you filed the entry through (POST /v1/entries answers its id)",
            ),
            E::NoMedChain => (
                StatusCode::CONFLICT,
                "no_med_chain",
                "file the entry on SUP yourself: `medchain patient entry` does on a chain without MED",
            ),
            E::NotEnrolled(_) => (
                StatusCode::CONFLICT,
                "not_enrolled",
                "the patient enrols first: `medchain patient enrol --hospital URL`",
            ),
            E::ReleaseEnded {
                ended: ReleaseEnd::Expired,
                ..
            }
            | E::Med(LedgerError::Expired { .. }) => (
                StatusCode::CONFLICT,
                "release_expired",
                "the release was not mined in time and never will be; the gateway kept the record: sign the release again and write the same bundle again (`medchain doctor write` signs a fresh one)",
            ),
            E::ReleaseEnded {
                ended: ReleaseEnd::Refused,
                ..
            } => (
                StatusCode::CONFLICT,
                "not_imported",
                "SUP's release rules refused the record (the doctor no longer practises, or the hEMR was released before); the gateway kept it: a licensed doctor signs the release again and writes the same bundle",
            ),
            E::DuplicateRecord { .. } => (
                StatusCode::CONFLICT,
                "duplicate_record",
                "the record is held already; list it with GET /v1/patients/{address}/records",
            ),
            E::UnknownRecord(_) => (
                StatusCode::NOT_FOUND,
                "unknown_record",
                "ask the hospital that holds the record (its organisation is on chain)",
            ),
            E::RecordNotReady(_) => (
                StatusCode::CONFLICT,
                "record_not_ready",
                "the record's release is still being completed; try again shortly",
            ),
            E::NoNullifierKey(_) => (
                StatusCode::CONFLICT,
                "no_nullifier_key",
                "the patient files its nullifier key first (research.nullifier_key; `medchain patient enrol-study` does), then asks POST /v1/patients/{address}/attest",
            ),
            E::Unattestable { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unattestable",
                "the record stays usable; only records whose bundle maps to the clinical_v1 schema can be used in studies",
            ),
            E::NotAttested(_) => (
                StatusCode::CONFLICT,
                "not_attested",
                "the patient files its nullifier key, then asks POST /v1/patients/{address}/attest; list the records to see which are attested",
            ),
            E::AlreadyEnrolled(_) => (
                StatusCode::CONFLICT,
                "already_enrolled",
                "keep using the enrolment in your key file: the records here are sealed under it",
            ),
            E::UnknownEmergency(_) => (
                StatusCode::NOT_FOUND,
                "unknown_emergency",
                "file the emergency at your own hospital first (POST /v1/emergencies) and wait until it is final",
            ),
            E::UnknownSession(_) => (
                StatusCode::NOT_FOUND,
                "unknown_session",
                "start the enrolment again with a new hello (sessions expire after 5 minutes)",
            ),
            E::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "try again in a few minutes",
            ),
            E::Identity { .. } | E::NoIdentity(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_identity",
                "enrol the identity first (`medchain identity enrol`), with the role it needs",
            ),
            E::Unauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign the request with the doctor's chain key, with the current time (`medchain doctor fetch` and `medchain doctor emergency` do)",
            ),
            E::NotOurDoctor(_) => (
                StatusCode::FORBIDDEN,
                "not_our_doctor",
                "ask the hospital that licenses the doctor",
            ),
            E::Refused { .. } => (
                StatusCode::FORBIDDEN,
                "refused",
                "the refusal is logged on chain; the patient can grant access again",
            ),
            E::Med(LedgerError::PendingOnMed { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "pending_on_med",
                "the release is on MED and becomes final when SUP checkpoints its Mblock; the gateway keeps following it and completes it once final (`medchain patient sync` shows it final; GET /v1/patients/{address}/records lists it once stored)",
            ),
            E::Med(_) => (
                StatusCode::CONFLICT,
                "not_imported",
                "SUP's release rules refused the record (the doctor no longer practises, or the hEMR was released before); check the doctor's licence",
            ),
            E::Chain(ClientError::Api { .. }) | E::NotAdmitted(_) => (
                StatusCode::CONFLICT,
                "chain_refused",
                "the chain's reason is in the message",
            ),
            E::Chain(_) | E::NotApplied { .. } => (
                StatusCode::BAD_GATEWAY,
                "chain_unavailable",
                "the gateway's node is unreachable or untrusted; try again, or check the node",
            ),
            E::Blob(BlobError::NotFound(_)) => (
                StatusCode::NOT_FOUND,
                "unknown_blob",
                "take the blob hash from the record's storage pointer",
            ),
            E::Blob(BlobError::Tampered { .. }) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "blob_tampered",
                "the stored copy was altered; the hospital's operators restore it from backup",
            ),
            E::Emr(_) | E::Blob(_) | E::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the hospital's operators find the cause in the gateway's log",
            ),
        };
        let code = match self {
            E::Refused { code, .. } => code.clone(),
            _ => code.to_owned(),
        };
        (status, code, hint.to_owned())
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let (status, code, hint) = self.status_code_hint();
        if status.is_server_error() {
            tracing::error!(%code, error = %self, "request failed");
        } else {
            tracing::info!(%code, error = %self, "request refused");
        }
        let access_tx = match &self {
            ServiceError::Refused { access_tx, .. } => *access_tx,
            _ => None,
        };
        let body = ErrorBody {
            code,
            message: medchain_api::elide(&self.to_string(), medchain_api::MAX_MESSAGE_CHARS),
            hint,
            access_tx,
        };
        (status, Json(body)).into_response()
    }
}

impl From<LedgerError> for ServiceError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::Chain(error) => Self::Chain(error),
            LedgerError::NotAdmitted(error) => Self::NotAdmitted(error),
            LedgerError::NotApplied { tx, expected } => Self::NotApplied { tx, expected },
            LedgerError::Refused(reason) => Self::BadRelease(reason),
            LedgerError::Unavailable(reason) => Self::Internal(reason),
            error @ (LedgerError::NotImported { .. }
            | LedgerError::PendingOnMed { .. }
            | LedgerError::Expired { .. }) => Self::Med(error),
        }
    }
}

/// How an ended release is told.
fn ended_phrase(ended: ReleaseEnd) -> &'static str {
    match ended {
        ReleaseEnd::Expired => "expired before it was mined: sign it again",
        ReleaseEnd::Refused => "was refused by SUP's release rules",
    }
}

/// A deny reason as the API spells it (`no_consent`, `doctor_revoked`, …).
pub(crate) fn deny_code(reason: DenyReason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(code)) => code,
        _ => format!("{reason:?}").to_lowercase(),
    }
}

/// What a refusal means for the doctor.
fn explain_denial(reason: DenyReason) -> &'static str {
    match reason {
        DenyReason::NoConsent => "the patient has not consented to this access for this purpose",
        DenyReason::ConsentExpired => "the patient's consent has expired",
        DenyReason::ConsentRevoked => "the patient revoked the consent",
        DenyReason::RequesterNotAudited => "the doctor's organisation is not audited",
        DenyReason::NotADoctor => "the requester is not an enrolled doctor",
        DenyReason::Unlicensed => "the doctor holds no licence",
        DenyReason::LicenceExpired => "the doctor's licence has expired",
        DenyReason::DoctorRevoked => "the doctor is on the revocation list",
        DenyReason::NoEmergency => "no such emergency request on chain",
        DenyReason::EmergencyMismatch => "the emergency request names another record or doctor",
        DenyReason::EmergencyExpired => "the emergency request is too old to rely on",
        DenyReason::BadAuthorisation => {
            "the patient's authorisation does not verify for this doctor and hospital"
        }
        DenyReason::Replayed => "this request was already served once; make a new one",
        DenyReason::WrongRecord => "the authorisation does not cover the record asked for",
        DenyReason::LicenceMismatch => {
            "the licence presented is not the doctor's, or not issued by the doctor's hospital"
        }
        DenyReason::AuthorisationExpired => "the patient's authorisation has expired",
    }
}
