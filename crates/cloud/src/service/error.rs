//! The service's errors, each explained at the HTTP edge as `{code, message, hint}`.

use crate::{request::RequestAuthError, store::StoreError, wire::ErrorBody};
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use medchain_client::ClientError;
use medchain_gateway::ledger::LedgerError;
use medchain_types::{Address, ContentHash, EnrolmentId, StudyId, TxId};
use proxy_reencryption::PreError;

/// Why the proxy did not do what it was asked (or did not start).
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The request body is above its route's limit.
    #[error(
        "the request body is larger than this route accepts ({} bytes for a record, {} otherwise)",
        crate::wire::MAX_RECORD_BYTES,
        crate::wire::MAX_SMALL_REQUEST_BYTES
    )]
    TooLarge,
    /// A POST whose body is not declared `application/json`, or a PUT whose body is not
    /// declared `application/octet-stream`.
    #[error("the request body must be sent as Content-Type: {expected}")]
    WrongContentType { expected: &'static str },
    #[error("the request took longer than the proxy's time limit")]
    TimedOut,
    #[error("too many requests in flight")]
    Busy,
    /// The request is malformed (a field that does not decode).
    #[error("{what}: {reason}")]
    BadRequest { what: &'static str, reason: String },
    /// No such enrolment is final on chain.
    #[error("no enrolment {0} on chain")]
    UnknownEnrolment(EnrolmentId),
    /// The enrolment's study does not list this proxy.
    #[error("study {study} does not list this proxy ({proxy})")]
    NotStudyProxy { study: StudyId, proxy: Address },
    /// The uploaded record is not the one the enrolment committed to.
    #[error("the record hashes to {got}, the enrolment on chain says {expected}")]
    HashMismatch {
        expected: ContentHash,
        got: ContentHash,
    },
    /// The uploaded record has the enrolment's hash but is not an encrypted record.
    #[error("the record does not decode: {0}")]
    BadRecord(PreError),
    /// The kfrag does not open for this proxy and enrolment, or does not verify against the
    /// enrolment's keys and the study's researcher.
    #[error("the key fragment is refused: {0}")]
    BadKfrag(PreError),
    /// Nothing stored yet for the enrolment.
    #[error("no {what} was delivered for enrolment {enrolment}")]
    NotDelivered {
        what: &'static str,
        enrolment: EnrolmentId,
    },
    /// The researcher's signature is missing, wrong or stale.
    #[error("the request is not authenticated: {0}")]
    Unauthenticated(#[from] RequestAuthError),
    /// The study's researcher has left its organisation, or the organisation is not audited
    /// now (suspended by the regulator).
    #[error("the study's researcher {researcher} {reason}")]
    ResearcherNotAudited { researcher: Address, reason: String },
    /// This exact signed request was served before.
    #[error("this re-encryption request was already served; sign a new one")]
    Replayed,
    /// This proxy's address has another encryption key on chain than its key file.
    #[error(
        "the chain registers {proxy} as a proxy with another encryption key than the key file's; start with the key file it registered"
    )]
    ProxyKeyMismatch { proxy: Address },
    /// The configuration cannot work (a URL the chain refuses, an unreadable key file…).
    #[error("{0}")]
    Config(String),
    /// The chain refused a transaction, could not be reached, or did not verify.
    #[error("the chain: {0}")]
    Chain(#[from] ClientError),
    /// The node refused a transaction: it is not filed.
    #[error("the chain refused the transaction: {0}")]
    NotAdmitted(ClientError),
    /// A transaction was final without its expected effect.
    #[error("transaction {tx} was finalized without {expected}")]
    NotApplied { tx: TxId, expected: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<medchain_gateway::server::StartError> for CloudError {
    fn from(error: medchain_gateway::server::StartError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<LedgerError> for CloudError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::Chain(error) => Self::Chain(error),
            LedgerError::NotAdmitted(error) => Self::NotAdmitted(error),
            LedgerError::NotApplied { tx, expected } => Self::NotApplied { tx, expected },
            // Record releases' outcomes: the proxy files only its own transactions.
            other @ (LedgerError::Refused(_)
            | LedgerError::Unavailable(_)
            | LedgerError::NotImported { .. }
            | LedgerError::Expired { .. }
            | LedgerError::PendingOnMed { .. }) => Self::Internal(other.to_string()),
        }
    }
}

impl CloudError {
    pub(crate) fn bad(what: &'static str, reason: impl ToString) -> Self {
        Self::BadRequest {
            what,
            reason: reason.to_string(),
        }
    }

    fn status_code_hint(&self) -> (StatusCode, &'static str, &'static str) {
        use CloudError as E;
        match self {
            E::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "records above 16 MiB are not accepted; other requests are a few kilobytes",
            ),
            E::WrongContentType { .. } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send JSON bodies as application/json and records as application/octet-stream",
            ),
            E::TimedOut => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timed_out",
                "try again with a newly signed request",
            ),
            E::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "try again shortly, or ask another of the study's proxies",
            ),
            E::BadRequest { .. } => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "fix the request as the message says",
            ),
            E::UnknownEnrolment(_) => (
                StatusCode::NOT_FOUND,
                "unknown_enrolment",
                "deliver only after the research.enrol transaction is final (`medchain patient enrol-study` waits for it)",
            ),
            E::NotStudyProxy { .. } => (
                StatusCode::FORBIDDEN,
                "not_study_proxy",
                "deliver to the proxies the study lists (`medchain research show STUDY`)",
            ),
            E::HashMismatch { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "hash_mismatch",
                "upload exactly the encrypted record whose hash the enrolment filed",
            ),
            E::BadRecord(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_record",
                "upload the canonical bytes of a proxy_reencryption::EncryptedRecord",
            ),
            E::BadKfrag(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_kfrag",
                "seal the kfrag made for the study's researcher with the enrolment's keys to this proxy's registered key, for this enrolment",
            ),
            E::NotDelivered { .. } => (
                StatusCode::NOT_FOUND,
                "not_delivered",
                "the patient delivers the record and this proxy's kfrag first; ask another of the study's proxies meanwhile",
            ),
            E::Unauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign the request with the study's researcher key, with the current time (`medchain research read` does)",
            ),
            E::ResearcherNotAudited { .. } => (
                StatusCode::FORBIDDEN,
                "researcher_not_audited",
                "nothing is re-encrypted for a researcher outside an audited research organisation; the regulator restores the audit, or a member of an audited one publishes a new study",
            ),
            E::Replayed => (
                StatusCode::CONFLICT,
                "replayed",
                "sign a new request (a fresh issued_at_ms)",
            ),
            E::Chain(ClientError::Api { .. }) | E::NotAdmitted(_) => (
                StatusCode::CONFLICT,
                "chain_refused",
                "the chain's reason is in the message",
            ),
            E::Chain(_) | E::NotApplied { .. } => (
                StatusCode::BAD_GATEWAY,
                "chain_unavailable",
                "the proxy's node is unreachable or untrusted; try again, or ask another proxy",
            ),
            E::ProxyKeyMismatch { .. } | E::Config(_) | E::Store(_) | E::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the proxy's operators find the cause in its log",
            ),
        }
    }
}

impl IntoResponse for CloudError {
    fn into_response(self) -> Response {
        let (status, code, hint) = self.status_code_hint();
        if status.is_server_error() {
            tracing::error!(%code, error = %self, "request failed");
        } else {
            tracing::info!(%code, error = %self, "request refused");
        }
        let body = ErrorBody {
            code: code.to_owned(),
            message: medchain_api::elide(&self.to_string(), medchain_api::MAX_MESSAGE_CHARS),
            hint: hint.to_owned(),
            access_tx: None,
        };
        (status, Json(body)).into_response()
    }
}
