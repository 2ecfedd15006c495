//! Reads of finalized chain data: status, blocks, and state with proofs.

use super::{
    AccessLogView, ApiError, ApiState, BlockView, EpochTransitionView, HeaderView, ProvenView,
    StatusView, ValidatorView,
};
use crate::chain;
use axum::{
    Json, Router,
    extract::rejection::{PathRejection, QueryRejection},
    extract::{Path, Query, State},
    routing::get,
};
use medchain_state::{
    ProvenValue, StateRead, StateReadExt as _, StateValue, keys, keys::StateKey, staking,
    values::ValidatorSet,
};
use medchain_types::{
    Address, Block, ConsentId, EscrowId, OrgName, Purpose, RecordId, token::OutPoint,
};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

pub(super) mod identity;
pub(super) mod lists;
pub(super) mod med;
pub(super) mod research;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .merge(lists::routes())
        .merge(identity::routes())
        .merge(research::routes())
        .merge(med::routes())
        .route("/v1/status", get(chain_status))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{height}", get(block_by_height))
        .route("/v1/blocks/by-digest/{digest}", get(block_by_digest))
        .route("/v1/state/orgs/{name}", get(org))
        .route("/v1/state/accounts/{address}", get(account))
        .route("/v1/state/members/{address}", get(membership))
        .route("/v1/state/records/{id}", get(record))
        .route("/v1/state/storage/{record}", get(storage_pointer))
        .route("/v1/state/consents/{id}", get(consent))
        .route("/v1/state/grants/{grantee}/{record}/{purpose}", get(grant))
        .route(
            "/v1/state/access-log/{patient}/{seq}",
            get(access_log_entry),
        )
        .route("/v1/access-log/{patient}", get(access_log))
        .route("/v1/state/held/{address}", get(held))
        .route("/v1/state/outputs/{outpoint}", get(output))
        .route("/v1/state/escrows/{id}", get(escrow))
        .route("/v1/state/candidates/{address}", get(candidate))
        .route(
            "/v1/state/delegations/{candidate}/{delegator}",
            get(delegation),
        )
        .route(
            "/v1/state/unbonding/{candidate}/{delegator}",
            get(unbonding),
        )
        .route("/v1/state/validator-sets/{epoch}", get(validator_set))
        .route("/v1/epochs/{epoch}/transition", get(epoch_transition))
}

pub(super) fn parse<T: FromStr>(text: &str, what: &'static str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| {
        ApiError::bad_request(
            format!("invalid {what} {}: {e}", medchain_api::echo(text)),
            "see /openapi.json for each parameter's format",
        )
    })
}

fn parse_purpose(text: &str) -> Result<Purpose, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        ApiError::bad_request(
            format!("invalid purpose {}", medchain_api::echo(text)),
            "purpose is one of treatment, research, billing, public_health, audit",
        )
    })
}

/// Last committed block and the chain's parameters.
#[utoipa::path(get, path = "/v1/status", tag = "chain", responses((status = 200, body = StatusView)))]
pub(super) async fn chain_status(
    State(state): State<ApiState>,
) -> Result<Json<StatusView>, ApiError> {
    let inner = &state.inner;
    let store = inner.chain.store();
    let applied = store
        .last_applied()?
        .ok_or_else(|| ApiError::internal("no committed block yet"))?;
    let block = committed_block(&state, applied.height)?;
    let snapshot = store.snapshot()?;
    let epoch = snapshot
        .value(&keys::epoch_state())
        .map_err(ApiError::internal)?
        .map_or(0, |epoch| epoch.epoch);
    let set = snapshot
        .value(&keys::validator_set(epoch))
        .map_err(ApiError::internal)?;
    let validators = match set {
        Some(set) => elected_validators(&state, &snapshot, set)?,
        // A store without validator sets: the genesis validators are the set for good.
        None => inner
            .genesis
            .validators
            .iter()
            .map(|v| ValidatorView {
                name: v.name.clone(),
                public_key: v.public_key,
                stake: None,
            })
            .collect(),
    };
    Ok(Json(StatusView {
        chain_id: inner.genesis.chain_id.clone(),
        height: applied.height,
        block_digest: hex::encode(applied.block_digest),
        state_root: hex::encode(block.header().state_root),
        timestamp_ms: block.header().timestamp_ms,
        regulator: inner.genesis.regulator,
        epoch,
        validators,
        mempool_size: inner.chain.mempool().len(),
    }))
}

/// An elected set as the status shows it: each validator named by its genesis name, or else
/// by the organisation it runs for as a candidate.
fn elected_validators(
    state: &ApiState,
    snapshot: &impl StateRead,
    set: ValidatorSet,
) -> Result<Vec<ValidatorView>, ApiError> {
    let genesis = &state.inner.genesis.validators;
    set.validators
        .into_iter()
        .map(|entry| {
            let name = match genesis.iter().find(|v| v.public_key == entry.key) {
                Some(validator) => validator.name.clone(),
                None => snapshot
                    .value(&keys::candidate(&entry.key))
                    .map_err(ApiError::internal)?
                    .and_then(|candidate| candidate.org)
                    .map(|org| org.to_string())
                    .unwrap_or_default(),
            };
            Ok(ValidatorView {
                name,
                public_key: entry.key,
                stake: Some(entry.stake),
            })
        })
        .collect()
}

fn committed_block(state: &ApiState, height: u64) -> Result<Block, ApiError> {
    state
        .inner
        .chain
        .store()
        .block_by_height(height)?
        .ok_or_else(|| ApiError::not_found(format!("no finalized block at height {height}")))
}

fn finalization_hex(state: &ApiState, height: u64) -> Result<Option<String>, ApiError> {
    Ok(state
        .inner
        .chain
        .store()
        .finalization(height)?
        .map(hex::encode))
}

fn block_view(state: &ApiState, block: Block) -> Result<BlockView, ApiError> {
    Ok(BlockView {
        header: HeaderView::from(block.header()),
        tx_ids: block.tx_ids().to_vec(),
        finalization: finalization_hex(state, block.number())?,
    })
}

/// The newest block this node holds a finalization certificate for: the height its state
/// proofs are taken at, and what a light client compares an answer's height with.
#[utoipa::path(get, path = "/v1/blocks/latest", tag = "chain",
    responses((status = 200, body = BlockView), (status = 503, body = medchain_api::ErrorBody)))]
pub(super) async fn latest_block(
    State(state): State<ApiState>,
) -> Result<Json<BlockView>, ApiError> {
    let block = committed_block(&state, certified_height(&state)?)?;
    Ok(Json(block_view(&state, block)?))
}

/// A finalized block by height.
#[utoipa::path(get, path = "/v1/blocks/{height}", tag = "chain",
    params(("height" = u64, Path, description = "Block height", minimum = 0, maximum = 18446744073709551615u64, format = "uint64")),
    responses((status = 200, body = BlockView), (status = 400, body = medchain_api::ErrorBody), (status = 404, body = medchain_api::ErrorBody)))]
pub(super) async fn block_by_height(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BlockView>, ApiError> {
    let Path(height) = path?;
    let block = committed_block(&state, parse(&height, "height")?)?;
    Ok(Json(block_view(&state, block)?))
}

/// A finalized block by digest.
#[utoipa::path(get, path = "/v1/blocks/by-digest/{digest}", tag = "chain",
    params(("digest" = String, Path, description = "Block digest (hex)", pattern = "^[0-9a-fA-F]{64}$")),
    responses((status = 200, body = BlockView), (status = 400, body = medchain_api::ErrorBody), (status = 404, body = medchain_api::ErrorBody)))]
pub(super) async fn block_by_digest(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BlockView>, ApiError> {
    let Path(digest) = path?;
    let digest = parse::<HexHash>(&digest, "digest")?.0;
    let block = state
        .inner
        .chain
        .store()
        .block_by_digest(&digest)?
        .ok_or_else(|| {
            ApiError::not_found(format!("no finalized block {}", hex::encode(digest)))
        })?;
    Ok(Json(block_view(&state, block)?))
}

/// The newest committed height whose finalization certificate this node holds (block 0 needs
/// none). Blocks marshal delivered while repairing a gap come without their own certificate;
/// proofs are served at a certified height so a light client can always check them.
fn certified_height(state: &ApiState) -> Result<u64, ApiError> {
    let store = state.inner.chain.store();
    let tip = store
        .last_applied()?
        .ok_or_else(|| ApiError::internal("no committed block yet"))?
        .height;
    let oldest = store.oldest_provable_height()?.unwrap_or(tip);
    for height in (oldest..=tip).rev() {
        if height == 0 || store.finalization(height)?.is_some() {
            return Ok(height);
        }
    }
    Ok(tip)
}

/// Reads `key` at the newest certified height with its proof, header and finalization.
pub(super) async fn proven<V: StateValue + Serialize>(
    state: &ApiState,
    key: StateKey<V>,
) -> Result<Json<ProvenView>, ApiError> {
    proven_at(state, key, certified_height(state)?, as_json)
}

/// A value as JSON, by its serde form.
pub(super) fn as_json<V: Serialize>(value: &V) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// A bare 32-byte value (a nullifier key, an attested commitment) as JSON: its hex.
pub(super) fn hash_json(hash: &medchain_types::Hash32) -> Result<serde_json::Value, ApiError> {
    Ok(serde_json::Value::String(hex::encode(hash)))
}

/// How a route shows a value of type `V` as JSON.
pub(super) type ToJson<V> = fn(&V) -> Result<serde_json::Value, ApiError>;

/// Reads `key` at `height`, which must be certified (or 0) and still provable, with its proof,
/// header and finalization.
fn proven_at<V: StateValue>(
    state: &ApiState,
    key: StateKey<V>,
    height: u64,
    json: ToJson<V>,
) -> Result<Json<ProvenView>, ApiError> {
    let proven = state
        .inner
        .chain
        .store()
        .get_proven_at(key.as_bytes(), height)?;
    proven_view(state, &key, proven, json)
}

/// A proof of `key` as the API serves it: the value decoded (shown as `json` says), with the
/// header and the finalization of the height it was taken at.
fn proven_view<V: StateValue>(
    state: &ApiState,
    key: &StateKey<V>,
    proven: ProvenValue,
    json: ToJson<V>,
) -> Result<Json<ProvenView>, ApiError> {
    let value = match proven.value.as_deref() {
        Some(bytes) => Some(json(&key.decode(bytes).map_err(ApiError::internal)?)?),
        None => None,
    };
    let block = committed_block(state, proven.height)?;
    let finalization = finalization_hex(state, proven.height)?;
    Ok(Json(ProvenView {
        value,
        proven,
        header: HeaderView::from(block.header()),
        finalization,
    }))
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

pub(super) fn proven_key<V: StateValue + Serialize>(
    state: &ApiState,
    key: StateKey<V>,
    at: Result<Query<AtHeight>, QueryRejection>,
) -> Result<Json<ProvenView>, ApiError> {
    proven_key_as(state, key, at, as_json)
}

/// [`proven_key`] for a value with no serde form of its own, shown as `json` says.
pub(super) fn proven_key_as<V: StateValue>(
    state: &ApiState,
    key: StateKey<V>,
    at: Result<Query<AtHeight>, QueryRejection>,
    json: ToJson<V>,
) -> Result<Json<ProvenView>, ApiError> {
    let Query(at) = at?;
    proven_at(state, key, provable_height(state, at.height)?, json)
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
pub(super) use proven_at_route;

proven_at_route!(
    /// An organisation (S2-register, S2-state), with proof.
    org, "/v1/state/orgs/{name}", "name", "organisation name", "^[A-Za-z0-9 ._-]{1,64}$", OrgName, keys::org
);
proven_at_route!(
    /// An account's next nonce, with proof.
    account, "/v1/state/accounts/{address}", "address", "address (hex public key)", "^[0-9a-fA-F]{64}$", Address, keys::account
);
proven_at_route!(
    /// Which organisation an address belongs to, with proof.
    membership, "/v1/state/members/{address}", "address", "address (hex public key)", "^[0-9a-fA-F]{64}$", Address, keys::membership
);
proven_at_route!(
    /// A released record (S1-release), with proof.
    record, "/v1/state/records/{id}", "id", "record id (hex)", "^[0-9a-fA-F]{64}$", RecordId, keys::record
);
proven_at_route!(
    /// A record's storage pointer (S1-storage), with proof.
    storage_pointer, "/v1/state/storage/{record}", "record", "record id (hex)", "^[0-9a-fA-F]{64}$", RecordId, keys::storage_pointer
);
proven_at_route!(
    /// A consent (S1-sharing), with proof.
    consent, "/v1/state/consents/{id}", "id", "consent id (hex)", "^[0-9a-fA-F]{64}$", ConsentId, keys::consent
);

// Tokens and staking (issue 11).

proven_at_route!(
    /// The sum of an address's unspent outputs locked to its key alone (S1-utxo), with proof;
    /// absent means 0. Its fee balance is `/v1/state/accounts/{address}`.
    held, "/v1/state/held/{address}", "address", "address (hex public key)", "^[0-9a-fA-F]{64}$", Address, keys::held
);
proven_at_route!(
    /// An unspent output (S1-utxo): value, lock, lock time and creation height, with proof. A
    /// spent output and one that never existed are both proven absent.
    output, "/v1/state/outputs/{outpoint}", "outpoint", "output: its transaction id in hex, a colon, its index", "^[0-9a-fA-F]{64}:[0-9]{1,5}$", OutPoint, keys::output
);
proven_at_route!(
    /// An escrow (S1-utxo, contract lock): payer, payee, arbiter, amount, refund time and how
    /// it was settled, with proof.
    escrow, "/v1/state/escrows/{id}", "id", "escrow id: the opening transaction's id (hex)", "^[0-9a-fA-F]{64}$", EscrowId, keys::escrow
);
proven_at_route!(
    /// A validator candidate and its staking pool (S1-dpos), with proof.
    candidate, "/v1/state/candidates/{address}", "address", "candidate's node key (hex)", "^[0-9a-fA-F]{64}$", Address, keys::candidate
);
proven_at_route!(
    /// The validator set elected for an epoch (S1-dpos), with proof; set 0 is the genesis set.
    validator_set, "/v1/state/validator-sets/{epoch}", "epoch", "epoch number", "^[0-9]{1,20}$", u64, validator_set_key
);

fn validator_set_key(epoch: &u64) -> StateKey<ValidatorSet> {
    keys::validator_set(*epoch)
}

/// Defines a proven-state route keyed by a (candidate, delegator) pair, with an optional
/// `height`.
macro_rules! stake_pair_route {
    ($(#[$doc:meta])* $name:ident, $path:literal, $key:path) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = "state",
            params(
                ("candidate" = String, Path, description = "candidate's node key (hex)", pattern = "^[0-9a-fA-F]{64}$"),
                ("delegator" = String, Path, description = "delegator address (hex)", pattern = "^[0-9a-fA-F]{64}$"),
                AtHeight,
            ),
            responses((status = 200, body = ProvenView), (status = 400, body = medchain_api::ErrorBody),
                (status = 404, body = medchain_api::ErrorBody)))]
        pub(super) async fn $name(
            State(state): State<ApiState>,
            path: Result<Path<(String, String)>, PathRejection>,
            at: Result<Query<AtHeight>, QueryRejection>,
        ) -> Result<Json<ProvenView>, ApiError> {
            let (candidate, delegator) = stake_pair(path)?;
            proven_key(&state, $key(&candidate, &delegator), at)
        }
    };
}

stake_pair_route!(
    /// A delegator's shares in a candidate's pool (S1-dpos), with proof.
    delegation, "/v1/state/delegations/{candidate}/{delegator}", keys::delegation
);
stake_pair_route!(
    /// What a delegator is unbonding from a candidate and the epoch it can be withdrawn in
    /// (S1-dpos), with proof.
    unbonding, "/v1/state/unbonding/{candidate}/{delegator}", keys::unbonding
);

/// The (candidate, delegator) pair of a staking route.
fn stake_pair(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(Address, Address), ApiError> {
    let Path((candidate, delegator)) = path?;
    Ok((
        parse(&candidate, "candidate")?,
        parse(&delegator, "delegator")?,
    ))
}

/// How a light client learns an epoch's successor set (S1-dpos): `vset/<epoch + 1>` proven at
/// the epoch's last block, whose finalization the epoch's own validators signed. Served from
/// the proof the node pinned when it committed that block, so it outlives pruning. 404 when
/// the epoch has not ended, when this node holds no certificate for the boundary (it repaired
/// the block from a peer), or when it passed the boundary before it pinned transitions: ask
/// another node.
#[utoipa::path(get, path = "/v1/epochs/{epoch}/transition", tag = "chain",
    params(("epoch" = u64, Path, description = "the epoch that ends", minimum = 0, maximum = 18446744073709551615u64, format = "uint64")),
    responses((status = 200, body = EpochTransitionView), (status = 400, body = medchain_api::ErrorBody), (status = 404, body = medchain_api::ErrorBody)))]
pub(super) async fn epoch_transition(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<EpochTransitionView>, ApiError> {
    let Path(epoch) = path?;
    let epoch: u64 = parse(&epoch, "epoch")?;
    let boundary = staking::last_height(epoch, state.inner.genesis.epoch_length())
        .ok_or_else(|| ApiError::not_found(format!("epoch {epoch} never ends on this chain")))?;
    let store = state.inner.chain.store();
    let committed = store.last_applied()?.map_or(0, |last| last.height);
    if boundary > committed {
        return Err(ApiError::not_found(format!(
            "epoch {epoch} has not ended here yet: it ends at height {boundary}, this node is at {committed}"
        )));
    }
    if store.finalization(boundary)?.is_none() {
        return Err(ApiError::not_found(format!(
            "this node holds no finalization certificate for height {boundary}, the last of epoch {epoch}; ask another node"
        )));
    }
    let key = chain::transition_key(epoch);
    let proven = store.pinned_proof(key.as_bytes(), boundary)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "this node passed the end of epoch {epoch} before it kept transitions, and has pruned it since; ask another node"
        ))
    })?;
    let Json(next_set) = proven_view(&state, &key, proven, as_json)?;
    Ok(Json(EpochTransitionView {
        epoch,
        boundary,
        next_set,
    }))
}

/// The consent (if any) covering a grantee, record and purpose, with proof; absence is proven too.
#[utoipa::path(get, path = "/v1/state/grants/{grantee}/{record}/{purpose}", tag = "state",
    params(
        ("grantee" = String, Path, description = "grantee address (hex)", pattern = "^[0-9a-fA-F]{64}$"),
        ("record" = String, Path, description = "record id (hex)", pattern = "^[0-9a-fA-F]{64}$"),
        ("purpose" = medchain_types::Purpose, Path, description = "why access is needed"),
        AtHeight,
    ),
    responses((status = 200, body = ProvenView), (status = 400, body = medchain_api::ErrorBody)))]
pub(super) async fn grant(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    at: Result<Query<AtHeight>, QueryRejection>,
) -> Result<Json<ProvenView>, ApiError> {
    let Path((grantee, record, purpose)) = path?;
    let grantee: Address = parse(&grantee, "grantee")?;
    let record: RecordId = parse(&record, "record id")?;
    proven_key(
        &state,
        keys::grant(&grantee, &record, parse_purpose(&purpose)?),
        at,
    )
}

/// One entry of a patient's access log, with proof.
#[utoipa::path(get, path = "/v1/state/access-log/{patient}/{seq}", tag = "state",
    params(
        ("patient" = String, Path, description = "patient address (hex)", pattern = "^[0-9a-fA-F]{64}$"),
        ("seq" = u64, Path, description = "position in the log, from 0", minimum = 0, maximum = 18446744073709551615u64, format = "uint64"),
        AtHeight,
    ),
    responses((status = 200, body = ProvenView), (status = 400, body = medchain_api::ErrorBody)))]
pub(super) async fn access_log_entry(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    at: Result<Query<AtHeight>, QueryRejection>,
) -> Result<Json<ProvenView>, ApiError> {
    let Path((patient, seq)) = path?;
    let patient: Address = parse(&patient, "patient")?;
    proven_key(
        &state,
        keys::access_log_entry(&patient, parse(&seq, "sequence number")?),
        at,
    )
}

/// A 32-byte hash in a path (a block digest, an accumulator root, a nullifier): 64 hex
/// characters.
pub(super) struct HexHash(pub(super) medchain_types::Hash32);

impl FromStr for HexHash {
    type Err = medchain_types::ParseIdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Same text form as every other 32-byte id.
        text.parse::<medchain_types::TxId>().map(|id| Self(id.0))
    }
}

/// Paging of the access log.
#[derive(Debug, Deserialize)]
pub(super) struct LogPage {
    from: Option<u64>,
    limit: Option<u64>,
}

/// Most entries per page.
const MAX_PAGE: usize = 500;

/// A patient's access log: who asked for which record, when, and the decision (S1-rights).
#[utoipa::path(get, path = "/v1/access-log/{patient}", tag = "state",
    params(
        ("patient" = String, Path, description = "patient address (hex)", pattern = "^[0-9a-fA-F]{64}$"),
        ("from" = Option<u64>, Query, description = "first sequence number (default 0)", minimum = 0, maximum = 18446744073709551615u64, format = "uint64"),
        ("limit" = Option<u64>, Query, description = "entries to return (default 500; more is served as 500)", minimum = 0, maximum = 18446744073709551615u64, format = "uint64"),
    ),
    responses((status = 200, body = AccessLogView), (status = 400, body = medchain_api::ErrorBody)))]
pub(super) async fn access_log(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    page: Result<Query<LogPage>, QueryRejection>,
) -> Result<Json<AccessLogView>, ApiError> {
    let Path(patient) = path?;
    let Query(page) = page?;
    let patient: Address = parse(&patient, "patient")?;
    let limit = page
        .limit
        .map_or(MAX_PAGE, |limit| usize::try_from(limit).unwrap_or(MAX_PAGE))
        .min(MAX_PAGE);
    let store = state.inner.chain.store();
    let total_key = keys::access_log_len(&patient);
    let total = match store.get(total_key.as_bytes())? {
        Some(bytes) => total_key.decode(&bytes).map_err(ApiError::internal)?,
        None => 0,
    };
    let entries = store
        .access_log(&patient, page.from.unwrap_or(0), limit)?
        .into_iter()
        .map(|logged| {
            serde_json::to_value(&logged.entry)
                .map(|entry| serde_json::json!({ "seq": logged.seq, "entry": entry }))
                .map_err(ApiError::internal)
        })
        .collect::<Result<_, _>>()?;
    Ok(Json(AccessLogView {
        patient,
        total,
        entries,
    }))
}
