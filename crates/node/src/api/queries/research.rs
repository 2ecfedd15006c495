//! The research market (S4-flow, S4-exclusive) with proofs: registered circuits, patients'
//! nullifier keys, hospital attestations and the accumulator of attested commitments, cloud
//! proxies, studies, enrolments, the nullifiers that refuse a second enrolment and the
//! exclusivity of records.
//!
//! Every answer is a [`ProvenView`] like every other state read; absence is proven too (an
//! unused nullifier is how a patient checks it has not enrolled yet). A client rebuilds the
//! accumulator from `/v1/lists/attested-commitments` itself and checks its root against
//! `/v1/state/research/accumulator`: it never asks a node for its own membership path, which
//! would tell the node which commitment is its.

use super::{
    ApiError, ApiState, AtHeight, HexHash, ProvenView, hash_json, parse, proven_at_route,
    proven_key, proven_key_as,
};
use axum::{
    Json, Router,
    extract::rejection::{PathRejection, QueryRejection},
    extract::{Path, Query, State},
    routing::get,
};
use medchain_state::keys::{self, StateKey};
use medchain_types::{
    Address, Hash32, RecordId,
    research::{EnrolmentId, StudyId},
};

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/state/research/circuits/{digest}", get(circuit))
        .route(
            "/v1/state/research/nullifier-keys/{address}",
            get(nullifier_key),
        )
        .route("/v1/state/research/attestations/{record}", get(attestation))
        .route("/v1/state/research/accumulator", get(accumulator))
        .route("/v1/state/research/roots/{root}", get(accumulator_root))
        .route("/v1/state/research/proxies/{address}", get(proxy))
        .route("/v1/state/research/studies/{id}", get(study))
        .route("/v1/state/research/enrolments/{id}", get(enrolment))
        .route(
            "/v1/state/research/study-nullifiers/{study}/{nullifier}",
            get(study_nullifier),
        )
        .route(
            "/v1/state/research/exclusivity/{nullifier}",
            get(exclusivity),
        )
}

/// The key of a 32-byte value named by its hex in a path.
fn by_hash<V>(key: fn(&Hash32) -> StateKey<V>) -> impl Fn(&HexHash) -> StateKey<V> {
    move |hash| key(&hash.0)
}

proven_at_route!(
    /// A circuit shape the regulator registered (S4-flow): schema, verifying key, the digest
    /// of the proving key distributed with it, and when; keyed by the verifying key's digest.
    circuit, "/v1/state/research/circuits/{digest}", "digest",
    "verifying key digest (hex SHA-256)", "^[0-9a-fA-F]{64}$", HexHash, by_hash(keys::circuit)
);
proven_at_route!(
    /// A record's attestation (S4-flow): the commitment its hospital signed, the hospital,
    /// the commitment's leaf in the accumulator and the height; absence is proven too.
    attestation, "/v1/state/research/attestations/{record}", "record", "record id (hex)",
    "^[0-9a-fA-F]{64}$", RecordId, keys::attestation
);
proven_at_route!(
    /// How many commitments the accumulator held when it had this root (every root it ever
    /// had is kept, so a proof made against a slightly older root still verifies); absence
    /// means the chain never had this root.
    accumulator_root, "/v1/state/research/roots/{root}", "root", "accumulator root (hex)",
    "^[0-9a-fA-F]{64}$", HexHash, by_hash(keys::accumulator_root)
);
proven_at_route!(
    /// A registered cloud proxy (S4-flow steps 6–8): its organisation, HPKE encryption key and
    /// URL; absence is proven too.
    proxy, "/v1/state/research/proxies/{address}", "address", "proxy address (hex public key)",
    "^[0-9a-fA-F]{64}$", Address, keys::proxy
);
proven_at_route!(
    /// A study contract (S4-flow step 1): researcher, predicate, reward, participants,
    /// deadline, exclusivity, proxies and threshold, and its funded pool.
    study, "/v1/state/research/studies/{id}", "id", "study id: the publishing transaction's id (hex)",
    "^[0-9a-fA-F]{64}$", StudyId, keys::study
);
proven_at_route!(
    /// An accepted enrolment (S4-flow steps 4–5): study, payee (the one-time address), the
    /// nullifiers, the Umbral keys the record is encrypted under, the ciphertext's hash and
    /// the reward paid.
    enrolment, "/v1/state/research/enrolments/{id}", "id",
    "enrolment id: the enrolling transaction's id (hex)", "^[0-9a-fA-F]{64}$", EnrolmentId,
    keys::enrolment
);
proven_at_route!(
    /// A record's exclusivity (S4-exclusive), by its exclusivity nullifier: the study holding
    /// it exclusively, if any, and how many studies used it; absence means never used.
    exclusivity, "/v1/state/research/exclusivity/{nullifier}", "nullifier",
    "exclusivity nullifier (hex)", "^[0-9a-fA-F]{64}$", HexHash, by_hash(keys::exclusivity)
);

/// A patient's nullifier key nk (S4-flow), which hospitals put in the commitments they attest,
/// as hex; absence is proven too (the patient has not filed one yet).
#[utoipa::path(get, path = "/v1/state/research/nullifier-keys/{address}", tag = "state",
    params(("address" = String, Path, description = "patient address (hex public key)", pattern = "^[0-9a-fA-F]{64}$"), AtHeight),
    responses((status = 200, body = ProvenView), (status = 400, body = medchain_api::ErrorBody),
        (status = 404, body = medchain_api::ErrorBody)))]
pub(in crate::api) async fn nullifier_key(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    at: Result<Query<AtHeight>, QueryRejection>,
) -> Result<Json<ProvenView>, ApiError> {
    let Path(patient) = path?;
    let patient: Address = parse(&patient, "patient address")?;
    proven_key_as(&state, keys::nullifier_key(&patient), at, hash_json)
}

/// The accumulator of attested commitments (S4-flow): its frontier (`zk::Accumulator` bytes),
/// its root and its number of leaves, with proof.
#[utoipa::path(get, path = "/v1/state/research/accumulator", tag = "state",
    params(AtHeight),
    responses((status = 200, body = ProvenView), (status = 400, body = medchain_api::ErrorBody),
        (status = 404, body = medchain_api::ErrorBody)))]
pub(in crate::api) async fn accumulator(
    State(state): State<ApiState>,
    at: Result<Query<AtHeight>, QueryRejection>,
) -> Result<Json<ProvenView>, ApiError> {
    proven_key(&state, keys::accumulator(), at)
}

/// The enrolment (if any) that used a nullifier in a study (S4-flow): proven absent means the
/// record has not enrolled in the study.
#[utoipa::path(get, path = "/v1/state/research/study-nullifiers/{study}/{nullifier}", tag = "state",
    params(
        ("study" = String, Path, description = "study id (hex)", pattern = "^[0-9a-fA-F]{64}$"),
        ("nullifier" = String, Path, description = "the enrolment's nullifier (hex)", pattern = "^[0-9a-fA-F]{64}$"),
        AtHeight,
    ),
    responses((status = 200, body = ProvenView), (status = 400, body = medchain_api::ErrorBody),
        (status = 404, body = medchain_api::ErrorBody)))]
pub(in crate::api) async fn study_nullifier(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    at: Result<Query<AtHeight>, QueryRejection>,
) -> Result<Json<ProvenView>, ApiError> {
    let Path((study, nullifier)) = path?;
    let study: StudyId = parse(&study, "study id")?;
    let nullifier: HexHash = parse(&nullifier, "nullifier")?;
    proven_key(&state, keys::study_nullifier(&study, &nullifier.0), at)
}
