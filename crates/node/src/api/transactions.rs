//! Submitting transactions and following them to finality.

use super::{
    ApiError, ApiState, BatchItem, BatchRequest, BatchResponse, SubmitRequest, SubmitResponse,
    TxState, TxStatusView,
};
use crate::{
    chain::{Admission, TxStatus},
    mempool::{Admitted, DropReason, Dropped, MempoolStatus},
};
use axum::{
    Json, Router,
    extract::rejection::{JsonRejection, PathRejection},
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use commonware_codec::Encode as _;
use medchain_api::DroppedView;
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
        (status = 202, description = "Accepted into the mempool: `pending` (executable) or `queued` (waiting for an earlier nonce)", body = SubmitResponse),
        (status = 400, description = "Malformed, wrong chain or bad signature", body = medchain_api::ErrorBody),
        (status = 409, description = "Nonce already used or taken", body = medchain_api::ErrorBody),
        (status = 413, description = "Body larger than a transaction may be", body = medchain_api::ErrorBody),
        (status = 415, description = "Not sent as application/json", body = medchain_api::ErrorBody),
        (status = 422, description = "Not the documented JSON shape, or the state machine rejects it", body = medchain_api::ErrorBody),
        (status = 429, description = "The sender already has as many waiting transactions as it may", body = medchain_api::ErrorBody),
        (status = 503, description = "Mempool full or node unavailable", body = medchain_api::ErrorBody),
    )
)]
pub(super) async fn submit(
    State(state): State<ApiState>,
    request: Result<Json<SubmitRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    let Json(request) = request?;
    let tx = decode(&request.tx)?;
    let admission = admit(&state, vec![tx]).await?.remove(0)?;
    Ok((StatusCode::ACCEPTED, Json(accepted(admission))))
}

/// What a client is told about an admitted transaction.
fn accepted(admission: Admission) -> SubmitResponse {
    let (status, waiting_for) = match admission.admitted {
        Admitted::Queued { waiting_for } => (TxState::Queued, Some(waiting_for)),
        Admitted::Pending | Admitted::Duplicate => (TxState::Pending, None),
    };
    SubmitResponse {
        id: admission.id,
        status,
        waiting_for,
    }
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
    for ((index, _), outcome) in valid.into_iter().zip(outcomes) {
        results[index] = match outcome {
            Ok(admission) => BatchItem {
                id: Some(admission.id),
                error: None,
            },
            Err(error) => BatchItem {
                id: None,
                error: Some(ApiError::from(error).into_body()),
            },
        };
    }
    Ok(Json(BatchResponse { results }))
}

/// A transaction's status: pending, queued, finalized (with its receipt and the receipt's
/// Merkle proof), dropped (with why), or unknown.
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
    let mut view = TxStatusView {
        id,
        status: TxState::Unknown,
        receipt: None,
        receipt_proof: None,
        waiting_for: None,
        dropped: None,
    };
    match chain.tx_status(&id)? {
        TxStatus::Finalized(receipt, proof) => {
            view.status = TxState::Finalized;
            view.receipt = Some(receipt);
            view.receipt_proof = Some(hex::encode(proof.encode()));
        }
        TxStatus::Mempool(MempoolStatus::Pending) => view.status = TxState::Pending,
        TxStatus::Mempool(MempoolStatus::Queued { waiting_for }) => {
            view.status = TxState::Queued;
            view.waiting_for = Some(waiting_for);
        }
        TxStatus::Mempool(MempoolStatus::Dropped(dropped)) => {
            view.status = TxState::Dropped;
            view.dropped = Some(dropped_view(dropped));
        }
        TxStatus::Unknown => {}
    }
    Ok(Json(view))
}

fn dropped_view(Dropped { reason, height }: Dropped) -> DroppedView {
    DroppedView {
        reason: reason.code().to_string(),
        error: match &reason {
            DropReason::Failed { code, .. } => Some(code.clone()),
            _ => None,
        },
        message: reason.to_string(),
        height,
    }
}
