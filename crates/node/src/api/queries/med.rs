//! The MED chain as SUP checkpointed it (S3-supervise), with proofs: the newest checkpointed
//! Mblock and each checkpointed Mblock's header. A patient's light client checks its MED
//! headers and records against these, so it trusts no node for what SUP finalized.

use super::{
    ApiError, ApiState, AtHeight, HexHash, ProvenView, parse, proven_at_route, proven_key,
};
use axum::{
    Json, Router,
    extract::rejection::{PathRejection, QueryRejection},
    extract::{Path, Query, State},
    routing::get,
};
use medchain_state::{
    keys::{self, StateKey},
    values::CheckpointedHeader,
};

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/state/med/tip", get(med_tip))
        .route("/v1/state/med/headers/{hash}", get(med_header))
}

/// The newest Mblock SUP has checkpointed: its hash, MED height and the SUP height that
/// checkpointed it, with proof; proven absent before the first checkpoint (the tip is then
/// the MED genesis Mblock).
#[utoipa::path(get, path = "/v1/state/med/tip", tag = "state",
    params(AtHeight),
    responses((status = 200, body = ProvenView), (status = 400, body = medchain_api::ErrorBody),
        (status = 404, body = medchain_api::ErrorBody)))]
pub(in crate::api) async fn med_tip(
    State(state): State<ApiState>,
    at: Result<Query<AtHeight>, QueryRejection>,
) -> Result<Json<ProvenView>, ApiError> {
    proven_key(&state, keys::med_tip(), at)
}

proven_at_route!(
    /// A checkpointed Mblock's header and the SUP height that checkpointed it, with proof;
    /// proven absent if SUP never checkpointed that Mblock.
    med_header, "/v1/state/med/headers/{hash}", "hash", "Mblock hash (hex)",
    "^[0-9a-fA-F]{64}$", HexHash, header_key
);

fn header_key(hash: &HexHash) -> StateKey<CheckpointedHeader> {
    keys::med_header(&hash.0)
}
