//! Identities, licences and the doctor revocation list (S3-register, S3-revoke, S4-ca), and
//! what emergency access rests on — EMR entries, vouching keys and emergency requests
//! (S3-entry, S3-emergency) — with proofs.
//!
//! Each answer is a [`ProvenView`] like every other state read. A revocation answer with a
//! `null` value carries an exclusion proof: "not revoked at height h" is checked against the
//! state root of the finalized header at h. Every route takes an optional `height` so a
//! client can ask about a past height still in the node's proof window.

use super::{ApiError, ApiState, AtHeight, ProvenView, parse, proven_at_route, proven_key};
use axum::{
    Json, Router,
    extract::rejection::{PathRejection, QueryRejection},
    extract::{Path, Query, State},
    routing::get,
};
use medchain_state::keys;
use medchain_types::{Address, EmergencyId, EntryId, IdentityName};

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
