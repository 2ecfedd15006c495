//! The enrolment service's routes (S3-register with a threshold PKG): round 1
//! (`POST /v1/pkg/commitments`) and round 2 (`POST /v1/pkg/partial-keys`), each a request
//! signed by the enrollee's chain key; and the PKG's public state (`GET /v1/state/pkg`).

use super::{ApiError, ApiState, CommitmentView, EnrolmentRequestView, PartialKeyView, ProvenView};
use crate::enrolment::{Enrolment, Refusal, nonces};
use axum::{
    Json, Router,
    extract::{State, rejection::JsonRejection},
    routing::{get, post},
};
use medchain_state::keys;
use medchain_storage::Snapshot;
use medchain_types::enrolment::{EnrolmentError, EnrolmentRequest, EnrolmentRoute};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Largest request body: a round-2 request for 256 nodes, hex-encoded, with JSON framing.
const MAX_BODY_BYTES: usize = 2 * medchain_types::enrolment::MAX_BODY_BYTES + 4 * 1024;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(EnrolmentRoute::Commitments.path(), post(commitments))
        .route(EnrolmentRoute::PartialKeys.path(), post(partial_keys))
        .route("/v1/state/pkg", get(pkg_state))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Round 1 of key extraction: this validator commits to fresh one-time nonces for the
/// requester's session and keeps them (bounded, expiring) for round 2.
#[utoipa::path(
    post, path = "/v1/pkg/commitments", tag = "enrolment",
    request_body = EnrolmentRequestView,
    responses(
        (status = 200, description = "The node's nonce commitment", body = CommitmentView),
        (status = 400, description = "Malformed, stale (more than 60 s off) or wrongly signed request", body = medchain_api::ErrorBody),
        (status = 403, description = "The identity is not bound to the signer on the finalized chain, or a doctor/hospital is not a member of its audited hospital", body = medchain_api::ErrorBody),
        (status = 409, description = "The session already has a commitment from this node", body = medchain_api::ErrorBody),
        (status = 413, description = "Body too large", body = medchain_api::ErrorBody),
        (status = 422, description = "Not the documented JSON shape", body = medchain_api::ErrorBody),
        (status = 429, description = "The requester has too many open sessions", body = medchain_api::ErrorBody),
        (status = 503, description = "PKG not set up, no share on this node, or too many open sessions", body = medchain_api::ErrorBody),
    )
)]
pub(super) async fn commitments(
    State(state): State<ApiState>,
    body: Result<Json<EnrolmentRequestView>, JsonRejection>,
) -> Result<Json<CommitmentView>, ApiError> {
    serve(
        &state,
        EnrolmentRoute::Commitments,
        body,
        |service, snapshot, request, now| service.commit(snapshot, request, now),
    )
    .await
}

/// Round 2 of key extraction: this validator's partial key for the extraction request in the
/// body (which must carry its round-1 commitment), sealed to the request's response key. The
/// session's nonces are consumed.
#[utoipa::path(
    post, path = "/v1/pkg/partial-keys", tag = "enrolment",
    request_body = EnrolmentRequestView,
    responses(
        (status = 200, description = "The node's sealed partial key", body = PartialKeyView),
        (status = 400, description = "Malformed, stale or wrongly signed request, or an extraction request this node cannot answer", body = medchain_api::ErrorBody),
        (status = 403, description = "Not bound to the signer, not an audited member, or L_U1 is not the enrolled key part", body = medchain_api::ErrorBody),
        (status = 409, description = "No open commitment from this node for the session (unknown, used or expired)", body = medchain_api::ErrorBody),
        (status = 413, description = "Body too large", body = medchain_api::ErrorBody),
        (status = 422, description = "Not the documented JSON shape", body = medchain_api::ErrorBody),
        (status = 503, description = "PKG not set up or no share on this node", body = medchain_api::ErrorBody),
    )
)]
pub(super) async fn partial_keys(
    State(state): State<ApiState>,
    body: Result<Json<EnrolmentRequestView>, JsonRejection>,
) -> Result<Json<PartialKeyView>, ApiError> {
    serve(
        &state,
        EnrolmentRoute::PartialKeys,
        body,
        |service, snapshot, request, now| service.partial_key(snapshot, request, now),
    )
    .await
}

/// Decodes and verifies a signed request, then runs `answer` on the blocking pool against a
/// snapshot of the committed (finalized) state: pairing-curve work must not hold up the async
/// workers consensus shares.
async fn serve<T: Send + 'static>(
    state: &ApiState,
    route: EnrolmentRoute,
    body: Result<Json<EnrolmentRequestView>, JsonRejection>,
    answer: impl FnOnce(&Enrolment, &Snapshot, &EnrolmentRequest, Instant) -> Result<T, Refusal>
    + Send
    + 'static,
) -> Result<Json<T>, ApiError> {
    let Json(view) = body?;
    let (request, signature) = view
        .decode(&state.inner.genesis.chain_id, route)
        .map_err(|e| {
            ApiError::bad_request(
                e,
                "send the fields documented at /openapi.json (hex where marked)",
            )
        })?;
    request
        .verify(&signature, now_ms())
        .map_err(|e| ApiError::from(Refusal::Request(e)))?;
    let inner = state.inner.clone();
    tokio::task::spawn_blocking(move || {
        let snapshot = inner.chain.store().snapshot()?;
        answer(&inner.enrolment, &snapshot, &request, Instant::now()).map_err(ApiError::from)
    })
    .await
    .map_err(ApiError::internal)?
    .map(Json)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The threshold PKG (S3-setup), with proof: the public polynomial (P_pub first) an enrollee
/// checks partial keys against, and the threshold. Absent (proven) until the validators' key
/// generation completed.
#[utoipa::path(get, path = "/v1/state/pkg", tag = "state",
    responses((status = 200, body = ProvenView)))]
pub(super) async fn pkg_state(State(state): State<ApiState>) -> Result<Json<ProvenView>, ApiError> {
    super::queries::proven(&state, keys::pkg()).await
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        use axum::http::StatusCode as S;
        let (status, code, hint) = match &refusal {
            Refusal::Request(EnrolmentError::Stale { .. }) => (
                S::BAD_REQUEST,
                "stale_request",
                "sign the request again now (check this computer's clock: requests are valid for 60 s)",
            ),
            Refusal::Request(EnrolmentError::TooLarge(_)) => (
                S::PAYLOAD_TOO_LARGE,
                "too_large",
                "an extraction request names at most 256 commitments",
            ),
            Refusal::Request(_) => (
                S::BAD_REQUEST,
                "bad_signature",
                "sign the request with the chain key of `requester`, for this chain and route (GET /v1/status gives the chain id)",
            ),
            Refusal::Malformed(_) | Refusal::Extraction(_) => (
                S::BAD_REQUEST,
                "bad_extraction_request",
                "send the extraction request built from this node's round-1 commitment and exactly threshold-many commitments (GET /v1/state/pkg)",
            ),
            Refusal::PkgNotReady => (
                S::SERVICE_UNAVAILABLE,
                "pkg_not_ready",
                "the validators' key generation has not completed yet: retry in a few seconds (GET /v1/state/pkg)",
            ),
            Refusal::NoShare | Refusal::ShareMismatch => (
                S::SERVICE_UNAVAILABLE,
                "no_share",
                "this validator cannot answer enrolments now: ask the other validators (--pkg-node), and tell its operator to check its log",
            ),
            Refusal::NotEnrolled(_) => (
                S::FORBIDDEN,
                "identity_not_enrolled",
                "bind the identity to your address first (`medchain identity enrol` sends the identity.enrol transaction) and wait until it is final",
            ),
            Refusal::BoundElsewhere { .. } => (
                S::FORBIDDEN,
                "identity_bound_elsewhere",
                "an identity's keys go only to the address it is bound to: sign with that key, or enrol another identity",
            ),
            Refusal::NotAuditedMember(_) => (
                S::FORBIDDEN,
                "not_audited_member",
                "doctors and hospitals obtain keys only while members of their audited hospital (GET /v1/state/members/{address})",
            ),
            Refusal::KeyPartMismatch(_) => (
                S::FORBIDDEN,
                "key_part_mismatch",
                "send the L_U1 the identity was enrolled with (its key_part on chain): use the key file that enrolled it",
            ),
            Refusal::UnknownSession => (
                S::CONFLICT,
                "unknown_session",
                "start again from round 1 (POST /v1/pkg/commitments) with a new session: nonces are used once and expire after 120 s",
            ),
            Refusal::Nonces(nonces::NonceTableError::SessionExists) => (
                S::CONFLICT,
                "session_exists",
                "use a new random session id for each enrolment attempt",
            ),
            Refusal::Nonces(nonces::NonceTableError::RequesterFull(_)) => (
                S::TOO_MANY_REQUESTS,
                "too_many_sessions",
                "finish (or let expire, 120 s) your open enrolment sessions before starting more",
            ),
            Refusal::Nonces(nonces::NonceTableError::Full(_)) => (
                S::SERVICE_UNAVAILABLE,
                "enrolment_busy",
                "this validator is answering many enrolments: retry in a minute, or ask another validator",
            ),
            Refusal::State(_) => return Self::internal(refusal),
        };
        Self::with_hint(status, code, refusal, hint)
    }
}
