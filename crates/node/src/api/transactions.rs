//! Submitting transactions and following them to finality.

use super::{
    ApiError, ApiState, BatchItem, BatchRequest, BatchResponse, SubmitRequest, SubmitResponse,
    TxState, TxStatusView,
};
use crate::mempool::Admitted;
use axum::{
    Json, Router,
    extract::rejection::{JsonRejection, PathRejection},
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use medchain_types::{Transaction, TxId};

/// Most transactions in one batch submission.
pub const MAX_BATCH: usize = 1024;

/// Largest request body: a full batch of maximal transactions, hex-encoded, with JSON framing.
pub const MAX_BODY_BYTES: usize = MAX_BATCH * 2 * medchain_types::limits::MAX_TX_BYTES + 64 * 1024;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/transactions", post(submit))
        .route("/v1/transactions/batch", post(submit_batch))
        .route("/v1/transactions/{id}", get(status))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

fn decode(hex_tx: &str) -> Result<Transaction, ApiError> {
    let bytes = hex::decode(hex_tx.trim()).map_err(|e| {
        ApiError::bad_request(
            format!("tx is not hex: {e}"),
            "send {\"tx\": \"<hex of the signed transaction>\"}",
        )
    })?;
    Transaction::from_bytes(&bytes)
        .map_err(|e| ApiError::from(crate::chain::AdmitError::Invalid(e)))
}

/// Admits transactions on the blocking pool: signature batches and dry runs are CPU work that
/// must not hold up the async workers consensus shares.
async fn admit(
    state: &ApiState,
    txs: Vec<Transaction>,
) -> Result<Vec<Result<crate::chain::Admission, crate::chain::AdmitError>>, ApiError> {
    let chain = state.inner.chain.clone();
    tokio::task::spawn_blocking(move || chain.admit(&mut commonware_utils::sys_rng(), txs))
        .await
        .map_err(ApiError::internal)
}

/// Submit one signed transaction.
#[utoipa::path(
    post, path = "/v1/transactions", tag = "transactions",
    request_body = SubmitRequest,
    responses(
        (status = 202, description = "Accepted into the mempool", body = SubmitResponse),
        (status = 400, description = "Malformed, wrong chain or bad signature", body = medchain_api::ErrorBody),
        (status = 409, description = "Nonce already used or taken", body = medchain_api::ErrorBody),
        (status = 413, description = "Body larger than a transaction may be", body = medchain_api::ErrorBody),
        (status = 415, description = "Not sent as application/json", body = medchain_api::ErrorBody),
        (status = 422, description = "Not the documented JSON shape, or the state machine rejects it", body = medchain_api::ErrorBody),
        (status = 503, description = "Mempool full or node unavailable", body = medchain_api::ErrorBody),
    )
)]
pub(super) async fn submit(
    State(state): State<ApiState>,
    request: Result<Json<SubmitRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    let Json(request) = request?;
    let tx = decode(&request.tx)?;
    let admission = admit(&state, vec![tx.clone()]).await?.remove(0)?;
    if admission.admitted == Admitted::New {
        state.inner.gossip.publish(tx);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(SubmitResponse { id: admission.id }),
    ))
}

/// Submit many signed transactions at once (verified as one signature batch).
#[utoipa::path(
    post, path = "/v1/transactions/batch", tag = "transactions",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Per-transaction outcome, in order", body = BatchResponse),
        (status = 400, description = "Too many transactions in one batch", body = medchain_api::ErrorBody),
        (status = 413, description = "Body larger than a batch may be", body = medchain_api::ErrorBody),
        (status = 415, description = "Not sent as application/json", body = medchain_api::ErrorBody),
        (status = 422, description = "Not the documented JSON shape", body = medchain_api::ErrorBody),
    )
)]
pub(super) async fn submit_batch(
    State(state): State<ApiState>,
    request: Result<Json<BatchRequest>, JsonRejection>,
) -> Result<Json<BatchResponse>, ApiError> {
    let Json(request) = request?;
    if request.txs.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            format!("{} transactions in one batch", request.txs.len()),
            "send at most 1024 transactions per batch",
        ));
    }
    let decoded: Vec<Result<Transaction, ApiError>> =
        request.txs.iter().map(|t| decode(t)).collect();
    let valid: Vec<(usize, Transaction)> = decoded
        .iter()
        .enumerate()
        .filter_map(|(i, tx)| tx.as_ref().ok().map(|tx| (i, tx.clone())))
        .collect();
    let outcomes = admit(&state, valid.iter().map(|(_, tx)| tx.clone()).collect()).await?;
    let mut results: Vec<BatchItem> = decoded
        .into_iter()
        .map(|tx| BatchItem {
            id: None,
            error: tx.err().map(ApiError::into_body),
        })
        .collect();
    for ((index, tx), outcome) in valid.into_iter().zip(outcomes) {
        results[index] = match outcome {
            Ok(admission) => {
                if admission.admitted == Admitted::New {
                    state.inner.gossip.publish(tx);
                }
                BatchItem {
                    id: Some(admission.id),
                    error: None,
                }
            }
            Err(error) => BatchItem {
                id: None,
                error: Some(ApiError::from(error).into_body()),
            },
        };
    }
    Ok(Json(BatchResponse { results }))
}

/// A transaction's status: pending, finalized with its receipt, or unknown.
#[utoipa::path(
    get, path = "/v1/transactions/{id}", tag = "transactions",
    params(("id" = String, Path, description = "Transaction id (hex)", pattern = "^[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "Status", body = TxStatusView),
        (status = 400, description = "Not a transaction id", body = medchain_api::ErrorBody),
    )
)]
pub(super) async fn status(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TxStatusView>, ApiError> {
    let Path(id) = path?;
    let id: TxId = id
        .parse()
        .map_err(|e| ApiError::bad_request(e, "a transaction id is 64 hex characters"))?;
    let chain = &state.inner.chain;
    if let Some(receipt) = chain.store().receipt(&id)? {
        return Ok(Json(TxStatusView {
            id,
            status: TxState::Finalized,
            receipt: Some(receipt),
        }));
    }
    let status = if chain.mempool().contains(&id) {
        TxState::Pending
    } else {
        TxState::Unknown
    };
    Ok(Json(TxStatusView {
        id,
        status,
        receipt: None,
    }))
}
