//! The MED chain's routes (S3-dual): hospitals submit signed batches of releases and their
//! patients' entries (S3-entry); anyone reads this node's MED chain — status, headers, Mblocks,
//! a record's inclusion proof and where an entry stands. MED answers are this
//! node's current view, not finalized state: a record is final once its Mblock is
//! checkpointed by SUP (`checkpointed` says so; the client checks it on SUP's proven state).

use super::{ApiError, ApiState, queries::HexHash};
use crate::med::{BatchRefused, MedService, Throttled};
use axum::{
    Json, Router,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse as _, Response},
    routing::{get, post},
};
use medchain_api::{
    BatchAccepted, HeadersQuery, MAX_MED_HEADERS, MedEntryView, MedRecordView, MedStatus,
};
use medchain_med::aggregate::AggregateError;
use medchain_types::{
    EntryId, RecordId,
    med::{
        MAX_BATCH_ENTRIES, MAX_BATCH_TXS, MAX_MED_ENTRY_BYTES, Mblock, MblockHeader, SignedBatch,
    },
};
use std::sync::Arc;

/// Largest batch body: a full batch of releases (each about 300 bytes as JSON) and of full
/// entries (hex: twice their bytes), with room.
const MAX_BATCH_BODY_BYTES: usize =
    MAX_BATCH_TXS * 512 + MAX_BATCH_ENTRIES * (2 * MAX_MED_ENTRY_BYTES + 256) + 64 * 1024;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/med/batches", post(submit_batch))
        .route("/v1/med/status", get(status))
        .route("/v1/med/headers", get(headers))
        .route("/v1/med/blocks/{hash}", get(block))
        .route("/v1/med/records/{record}", get(record))
        .route("/v1/med/entries/{entry}", get(entry))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES))
}

/// The node's MED service, or the error saying the chain has none.
fn service(state: &ApiState) -> Result<Arc<MedService>, ApiError> {
    state.med.clone().ok_or_else(|| {
        ApiError::with_hint(
            StatusCode::NOT_FOUND,
            "no_med_chain",
            "this chain has no MED chain: its genesis has no `med` parameters",
            "file records with `record.release` on the consortium chain, or use a network created with MED (`medchain init --med`, `medchain devnet`)",
        )
    })
}

/// Submit a hospital batch of releases (tx_mr) and entries (EEE, S3-entry) with its one
/// aggregate signature. Before any pairing the node checks, cheaply: the counts, every item's
/// time (within an hour of its clock), no item already final on MED, and — for a batch from
/// this API — that SUP knows the hospital and every entry's patient (an enrolled patient with
/// a registered key) and that the hospital has verifications left.
#[utoipa::path(
    post, path = "/v1/med/batches", tag = "med",
    request_body(content = Object, description = "A `SignedBatch`: `{\"batch\": {\"hospital\": address, \"txs\": [{\"doctor\", \"patient\", \"record_hash\", \"issued_at_ms\"}…], \"entries\": [{\"patient\", \"entry\": hex, \"issued_at_ms\"}…]}, \"signature\": hex}`; up to 1024 releases and 64 entries of 1 to 2048 bytes, one item at least"),
    responses(
        (status = 202, description = "Verified and waiting for a miner (resubmitting a waiting batch is accepted again)", body = BatchAccepted),
        (status = 400, description = "Not the documented JSON shape or size", body = medchain_api::ErrorBody),
        (status = 404, description = "This chain has no MED chain", body = medchain_api::ErrorBody),
        (status = 409, description = "A record or entry of the batch is already on the MED chain", body = medchain_api::ErrorBody),
        (status = 422, description = "The aggregate signature or a signer is refused", body = medchain_api::ErrorBody),
        (status = 429, description = "The hospital's share of verifications is used up, or every verification slot is taken: retry after the `Retry-After` seconds", body = medchain_api::ErrorBody),
        (status = 503, description = "The batch pool is full, or the node unavailable", body = medchain_api::ErrorBody),
    )
)]
pub(super) async fn submit_batch(
    State(state): State<ApiState>,
    request: Result<Json<SignedBatch>, JsonRejection>,
) -> Result<(StatusCode, Json<BatchAccepted>), Response> {
    let med = service(&state).map_err(|error| error.into_response())?;
    let Json(batch) = request.map_err(|error| ApiError::from(error).into_response())?;
    // Pairings are CPU work: off the async workers consensus shares (the service admits only
    // a few at a time).
    let root = tokio::task::spawn_blocking(move || med.submit_batch(batch, true))
        .await
        .map_err(|error| ApiError::internal(error).into_response())?
        .map_err(|error| match &error {
            BatchRefused::Throttled(throttled) => {
                let seconds = throttled.retry_after_ms().div_ceil(1_000).max(1);
                ([(header::RETRY_AFTER, seconds.to_string())], refused(error)).into_response()
            }
            _ => refused(error).into_response(),
        })?;
    Ok((StatusCode::ACCEPTED, Json(BatchAccepted::of(&root))))
}

/// The API error for a refused batch, with what to do next.
fn refused(error: BatchRefused) -> ApiError {
    let (status, code, hint) = match &error {
        BatchRefused::Size { .. } => (
            StatusCode::BAD_REQUEST,
            "bad_batch_size",
            "send 1 item at least, at most 1024 releases and 64 entries per batch; split larger ones",
        ),
        BatchRefused::EntryOnMed(_) => (
            StatusCode::CONFLICT,
            "entry_on_med",
            "the entry is already on MED: follow it with GET /v1/med/entries/{entry}; a new entry needs new bytes or a new time",
        ),
        BatchRefused::StaleEntry { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "stale_entry",
            "an entry must be issued within an hour of now: check the patient's clock, and have the patient sign it again",
        ),
        BatchRefused::AlreadyOnMed(_) => (
            StatusCode::CONFLICT,
            "already_on_med",
            "the record is already released: look it up with GET /v1/med/records/{record}; a new release needs a new record hash or time",
        ),
        BatchRefused::Aggregate(aggregate) => aggregate_refusal(aggregate),
        BatchRefused::Stale { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "stale_release",
            "a release must be issued within an hour of now: check the signing machine's clock, and have the doctor sign it again",
        ),
        BatchRefused::Throttled(Throttled::Hospital { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "med_rate_limited",
            "this hospital's batches arrive faster than this node verifies them for one hospital: retry after the Retry-After seconds, or gather releases into fewer, fuller batches",
        ),
        BatchRefused::Throttled(Throttled::Busy { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "med_busy",
            "the node is verifying other batches: retry after the Retry-After seconds",
        ),
        BatchRefused::PoolFull(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "med_pool_full",
            "retry after the next Mblocks are mined (GET /v1/med/status shows pending_batches)",
        ),
        BatchRefused::State(_) => return ApiError::internal(error),
    };
    ApiError::with_hint(status, code, error, hint)
}

fn aggregate_refusal(error: &AggregateError) -> (StatusCode, &'static str, &'static str) {
    match error {
        AggregateError::Signer { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "signer_refused",
            "every doctor must be an enrolled, licensed, unrevoked member of the hospital's organisation, every patient an enrolled patient and the hospital an audited one, each with a registered vouching key (`medchain identity show`); remove the refused signer's items and seal the batch again",
        ),
        AggregateError::BadSignature
        | AggregateError::BadRelease { .. }
        | AggregateError::BadEntry { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_signature",
            "the aggregate does not verify: check each doctor's signature over its release's htxM, each patient's over its entry's hentry and the hospital's over the batch's TX_mr (seal the batch again)",
        ),
        AggregateError::DuplicateRelease(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_release",
            "list each release once per batch",
        ),
        AggregateError::DuplicateEntry(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_entry",
            "list each entry once per batch",
        ),
        AggregateError::Malformed(_) => (
            StatusCode::BAD_REQUEST,
            "malformed_batch",
            "send a batch sealed by `aggregate::seal_batch`: releases and entries, hospital, and one aggregate signature",
        ),
    }
}

/// This node's view of the MED chain.
#[utoipa::path(get, path = "/v1/med/status", tag = "med",
    responses((status = 200, body = MedStatus), (status = 404, body = medchain_api::ErrorBody)))]
pub(super) async fn status(State(state): State<ApiState>) -> Result<Json<MedStatus>, ApiError> {
    let med = service(&state)?;
    Ok(Json(med.status().map_err(ApiError::internal)?))
}

/// Headers of the best chain from a height (a light client checks each one's proof of work
/// and its link to the one before).
#[utoipa::path(get, path = "/v1/med/headers", tag = "med", params(HeadersQuery),
    responses((status = 200, description = "Headers, lowest first", body = Vec<Object>), (status = 400, body = medchain_api::ErrorBody), (status = 404, body = medchain_api::ErrorBody)))]
pub(super) async fn headers(
    State(state): State<ApiState>,
    query: Result<Query<HeadersQuery>, QueryRejection>,
) -> Result<Json<Vec<MblockHeader>>, ApiError> {
    let med = service(&state)?;
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(MAX_MED_HEADERS);
    if limit == 0 || limit > MAX_MED_HEADERS {
        return Err(ApiError::bad_request(
            format!("limit {limit} is out of range"),
            "ask for 1 to 2000 headers at a time",
        ));
    }
    Ok(Json(med.headers(query.from, limit)))
}

/// An Mblock by hash.
#[utoipa::path(get, path = "/v1/med/blocks/{hash}", tag = "med",
    params(("hash" = String, Path, description = "Mblock hash (hex)", pattern = "^[0-9a-fA-F]{64}$")),
    responses((status = 200, description = "The Mblock: header and body (batches and the aggregate signature)", body = Object), (status = 400, body = medchain_api::ErrorBody), (status = 404, body = medchain_api::ErrorBody)))]
pub(super) async fn block(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Mblock>, ApiError> {
    let med = service(&state)?;
    let Path(hash) = path?;
    let hash = super::queries::parse::<HexHash>(&hash, "Mblock hash")?.0;
    med.block(&hash)
        .map_err(ApiError::internal)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::with_hint(
                StatusCode::NOT_FOUND,
                "unknown_mblock",
                format!("this node knows no Mblock {}", hex::encode(hash)),
                "check the hash; a block mined elsewhere appears here once it reaches this node (GET /v1/med/status)",
            )
        })
}

/// A record's inclusion in the best MED chain, with whether it is final (checkpointed).
#[utoipa::path(get, path = "/v1/med/records/{record}", tag = "med",
    params(("record" = String, Path, description = "Record id: the release's htxM (hex)", pattern = "^[0-9a-fA-F]{64}$")),
    responses((status = 200, body = MedRecordView), (status = 400, body = medchain_api::ErrorBody), (status = 404, body = medchain_api::ErrorBody)))]
pub(super) async fn record(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<MedRecordView>, ApiError> {
    let med = service(&state)?;
    let Path(record) = path?;
    let record: RecordId = super::queries::parse(&record, "record id")?;
    let (inclusion, checkpointed) = med
        .record(&record)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::with_hint(
                StatusCode::NOT_FOUND,
                "not_on_med",
                format!("record {record} is in no Mblock of this node's best MED chain"),
                "a batch waits for a miner for a few seconds (GET /v1/med/status shows pending_batches); if it was never accepted, submit it again (POST /v1/med/batches)",
            )
        })?;
    Ok(Json(MedRecordView {
        record,
        header: inclusion.header,
        index: inclusion.index,
        tx: inclusion.tx,
        proof: hex::encode(inclusion.proof),
        checkpointed,
    }))
}

/// Where a patient's entry EEE stands on this node's MED chain (S3-entry): pending in the
/// batch pool, mined in an Mblock of the best chain, or final (checkpointed and filed by SUP).
#[utoipa::path(get, path = "/v1/med/entries/{entry}", tag = "med",
    params(("entry" = String, Path, description = "Entry id: the entry's hentry (hex)", pattern = "^[0-9a-fA-F]{64}$")),
    responses((status = 200, body = MedEntryView), (status = 400, body = medchain_api::ErrorBody), (status = 404, body = medchain_api::ErrorBody)))]
pub(super) async fn entry(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<MedEntryView>, ApiError> {
    let med = service(&state)?;
    let Path(entry) = path?;
    let entry: EntryId = super::queries::parse(&entry, "entry id")?;
    med.entry(&entry)
        .map_err(ApiError::internal)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::with_hint(
                StatusCode::NOT_FOUND,
                "not_on_med",
                format!("entry {entry} is neither pooled nor in an Mblock of this node's best MED chain"),
                "the patient's gateway submits it in its next batch; if the gateway refused it or it went stale (older than an hour), sign and submit it again (`medchain patient entry`)",
            )
        })
}
