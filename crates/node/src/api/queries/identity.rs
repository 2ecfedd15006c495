//! Identities, licences and the doctor revocation list (S3-register, S3-revoke, S4-ca), and
//! what emergency access rests on — EMR entries, vouching keys and emergency requests
//! (S3-entry, S3-emergency) — with proofs.
//!
//! Each answer is a [`ProvenView`] like every other state read. A revocation answer with a
//! `null` value carries an exclusion proof: "not revoked at height h" is checked against the
//! state root of the finalized header at h. Every route takes an optional `height` so a
//! client can ask about a past height still in the node's proof window.

use super::{ApiError, ApiState, ProvenView, certified_height, parse, proven_at};
use axum::{
    Json, Router,
    extract::rejection::{PathRejection, QueryRejection},
    extract::{Path, Query, State},
    routing::get,
};
use medchain_state::{StateValue, keys, keys::StateKey};
use medchain_types::{Address, EmergencyId, EntryId, IdentityName};
use serde::{Deserialize, Serialize};

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/state/identities/{name}", get(identity))
        .route(
            "/v1/state/identities/by-address/{address}",
            get(identity_of),
        )
        .route("/v1/state/licences/{doctor}", get(licence))
        .route("/v1/state/revocations/{doctor}", get(revocation))
        .route("/v1/state/entries/{id}", get(entry))
        .route("/v1/state/vouching-keys/{address}", get(vouching_key))
        .route("/v1/state/emergencies/{id}", get(emergency))
}

/// The height to prove at.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::api) struct AtHeight {
    /// A finalized height still in this node's proof window (default: the newest certified).
    #[param(minimum = 0, maximum = 18446744073709551615u64, format = "uint64")]
    height: Option<u64>,
}

/// `height`, or the newest certified height; a height this node cannot prove with a
/// certificate is "not found", with what it can prove instead.
fn provable_height(state: &ApiState, height: Option<u64>) -> Result<u64, ApiError> {
    let newest = certified_height(state)?;
    let Some(height) = height else {
        return Ok(newest);
    };
    if height > newest {
        return Err(ApiError::not_found(format!(
            "height {height} is not finalized with a certificate here yet; the newest is {newest}"
        )));
    }
    let store = state.inner.chain.store();
    let oldest = store.oldest_provable_height()?.unwrap_or(newest);
    if height < oldest {
        return Err(ApiError::not_found(format!(
            "height {height} is pruned; this node proves heights {oldest} to {newest}"
        )));
    }
    if height != 0 && store.finalization(height)?.is_none() {
        return Err(ApiError::not_found(format!(
            "this node holds no finalization certificate for height {height}; ask another node"
        )));
    }
    Ok(height)
}

fn proven_key<V: StateValue + Serialize>(
    state: &ApiState,
    key: StateKey<V>,
    at: Result<Query<AtHeight>, QueryRejection>,
) -> Result<Json<ProvenView>, ApiError> {
    let Query(at) = at?;
    proven_at(state, key, provable_height(state, at.height)?)
}

/// Defines a proven-state route keyed by one path parameter, with an optional `height`.
macro_rules! proven_at_route {
    ($(#[$doc:meta])* $name:ident, $path:literal, $param:literal, $what:literal, $pattern:literal, $ty:ty, $key:expr) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = "state",
            params(($param = String, Path, description = $what, pattern = $pattern), AtHeight),
            responses((status = 200, body = ProvenView), (status = 400, body = medchain_api::ErrorBody),
                (status = 404, body = medchain_api::ErrorBody)))]
        pub(in crate::api) async fn $name(
            State(state): State<ApiState>,
            path: Result<Path<String>, PathRejection>,
            at: Result<Query<AtHeight>, QueryRejection>,
        ) -> Result<Json<ProvenView>, ApiError> {
            let Path(param) = path?;
            let parsed: $ty = parse(&param, $what)?;
            proven_key(&state, $key(&parsed), at)
        }
    };
}

proven_at_route!(
    /// An enrolled identity (S3-register, S4-ca): its address, role, organisation and key part,
    /// with proof; absence is proven too.
    identity, "/v1/state/identities/{name}", "name", "identity name",
    "^[a-z0-9._@:-]{1,80}$", IdentityName, keys::identity
);
proven_at_route!(
    /// The identity bound to an address (at most one), with proof; absence is proven too.
    identity_of, "/v1/state/identities/by-address/{address}", "address",
    "address (hex public key)", "^[0-9a-fA-F]{64}$", Address, keys::identity_of
);
proven_at_route!(
    /// A doctor's licence ρ = (hospital, doctor, expiry) (S3-register), with proof; absence is
    /// proven too.
    licence, "/v1/state/licences/{doctor}", "doctor", "doctor identity name",
    "^[a-z0-9._@:-]{1,80}$", IdentityName, keys::licence
);
proven_at_route!(
    /// A doctor's entry on the revocation list (S3-revoke), with proof. A `null` value comes
    /// with an exclusion proof: the doctor is not revoked at the header's height.
    revocation, "/v1/state/revocations/{doctor}", "doctor", "doctor identity name",
    "^[a-z0-9._@:-]{1,80}$", IdentityName, keys::revocation
);
proven_at_route!(
    /// A patient's encrypted EMR entry EEE (S3-entry), with proof; absence is proven too. A
    /// patient's entries are listed at `/v1/lists/entries/{patient}`.
    entry, "/v1/state/entries/{id}", "id", "entry id (hex)", "^[0-9a-fA-F]{64}$", EntryId,
    keys::entry
);
proven_at_route!(
    /// A doctor's or hospital's BLS vouching key for emergency requests (S3-emergency), with
    /// proof; absence is proven too.
    vouching_key, "/v1/state/vouching-keys/{address}", "address", "address (hex public key)",
    "^[0-9a-fA-F]{64}$", Address, keys::vouching_key
);
proven_at_route!(
    /// A vouched emergency request tx_ur (S3-emergency): doctor, hospital, record, patient,
    /// h_ur and times, with proof; absence is proven too. A patient's are listed at
    /// `/v1/lists/notifications/{patient}`.
    emergency, "/v1/state/emergencies/{id}", "id", "emergency id (hex)", "^[0-9a-fA-F]{64}$",
    EmergencyId, keys::emergency
);
