//! Lists with proofs — a patient's records, consents, EMR entries and notifications, an
//! organisation's members, the organisations, the licences, every emergency request, the
//! consents granted to a grantee, an address's token outputs and token history, the validator
//! candidates, the studies, the attested commitments, a study's enrolments and an enrolment's
//! re-encryptions — and id-prefix lookups.
//!
//! A list page proves, at one certified height, the list's length and each entry on the page
//! together with the value the entry names (a record id and the record), so a client learns
//! what exists without knowing any id and trusts no node for it. A named value may be proven
//! absent where that is its meaning (a spent output); a history's entries name nothing.

use super::{
    ApiError, ApiState, certified_height, committed_block, finalization_hex, hash_json, parse,
};
use axum::{
    Json, Router,
    extract::rejection::{PathRejection, QueryRejection},
    extract::{Path, Query, State},
    routing::get,
};
use medchain_api::{
    HeaderView, IdKind, IdMatchesView, IdPrefix, ListedEntryView, MAX_ID_MATCHES, MAX_LIST_PAGE,
    ProvenListView,
};
use medchain_state::{
    ProvenValue, StateValue,
    keys::{self, IndexList, StateKey, StateList},
};
use medchain_storage::Store;
use medchain_types::{
    Address, ConsentId, Hash32, OrgName, RecordId, TxId,
    research::{EnrolmentId, StudyId},
};
use serde::{Deserialize, Serialize};

/// Most transaction ids a prefix lookup scans before it reports an incomplete answer (a
/// record or consent lookup skips the other transactions under the prefix).
const MAX_PREFIX_SCAN: usize = 4_096;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/lists/records/{patient}", get(patient_records))
        .route("/v1/lists/consents/{patient}", get(patient_consents))
        .route("/v1/lists/entries/{patient}", get(patient_entries))
        .route(
            "/v1/lists/notifications/{patient}",
            get(patient_notifications),
        )
        .route("/v1/lists/members/{name}", get(org_members))
        .route("/v1/lists/orgs", get(orgs))
        .route("/v1/lists/licences", get(licences))
        .route("/v1/lists/emergencies", get(emergencies))
        .route(
            "/v1/lists/grantee-consents/{address}",
            get(grantee_consents),
        )
        .route("/v1/lists/outputs/{address}", get(owner_outputs))
        .route("/v1/lists/token-history/{address}", get(token_history))
        .route("/v1/lists/candidates", get(candidates))
        .route("/v1/lists/studies", get(studies))
        .route("/v1/lists/attested-commitments", get(attested_commitments))
        .route("/v1/lists/study-enrolments/{study}", get(study_enrolments))
        .route("/v1/lists/reencryptions/{enrolment}", get(reencryptions))
        .route("/v1/ids/{kind}/{prefix}", get(resolve_id))
}

/// Which part of a list to return.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::api) struct Page {
    /// First sequence number (default 0); past the end, the page is empty.
    #[param(minimum = 0, maximum = 18446744073709551615u64, format = "uint64")]
    from: Option<u64>,
    /// Entries to return (default and maximum 100).
    #[param(minimum = 0, maximum = 100)]
    limit: Option<usize>,
}

/// A list served page by page with proofs: its entries, and what each entry names, if
/// anything.
trait ProvableList {
    /// What the list stores at each position.
    type Entry: StateValue;

    /// The entries.
    fn entries(&self) -> &StateList<Self::Entry>;

    /// An entry as JSON.
    fn entry_json(&self, entry: &Self::Entry) -> Result<serde_json::Value, ApiError>;

    /// The value `entry` names at `height` (decoded for display) with its proof; `None` for a
    /// list whose entries are the values themselves.
    fn item(
        &self,
        store: &Store,
        entry: &Self::Entry,
        height: u64,
    ) -> Result<Option<(serde_json::Value, ProvenValue)>, ApiError>;
}

impl<E: StateValue + Serialize, V: StateValue + Serialize> ProvableList for IndexList<E, V> {
    type Entry = E;

    fn entries(&self) -> &StateList<E> {
        &self.list
    }

    fn entry_json(&self, entry: &E) -> Result<serde_json::Value, ApiError> {
        to_json(entry)
    }

    fn item(
        &self,
        store: &Store,
        entry: &E,
        height: u64,
    ) -> Result<Option<(serde_json::Value, ProvenValue)>, ApiError> {
        let item = (self.item)(entry);
        let item_proof = store.get_proven_at(item.as_bytes(), height)?;
        let value = decoded(&item, &item_proof)?;
        Ok(Some((to_json(&value)?, item_proof)))
    }
}

impl<E: StateValue + Serialize> ProvableList for StateList<E> {
    type Entry = E;

    fn entries(&self) -> &StateList<E> {
        self
    }

    fn entry_json(&self, entry: &E) -> Result<serde_json::Value, ApiError> {
        to_json(entry)
    }

    fn item(
        &self,
        _: &Store,
        _: &E,
        _: u64,
    ) -> Result<Option<(serde_json::Value, ProvenValue)>, ApiError> {
        Ok(None)
    }
}

/// A list of bare 32-byte values (the attested commitments), shown as hex.
struct HashList(StateList<Hash32>);

impl ProvableList for HashList {
    type Entry = Hash32;

    fn entries(&self) -> &StateList<Hash32> {
        &self.0
    }

    fn entry_json(&self, entry: &Hash32) -> Result<serde_json::Value, ApiError> {
        hash_json(entry)
    }

    fn item(
        &self,
        _: &Store,
        _: &Hash32,
        _: u64,
    ) -> Result<Option<(serde_json::Value, ProvenValue)>, ApiError> {
        Ok(None)
    }
}

/// Proves `index`'s length (where its entries stop) and the entries of `page`, each with the
/// value it names, at the newest certified height.
fn proven_list(
    state: &ApiState,
    index: &impl ProvableList,
    page: Page,
) -> Result<Json<ProvenListView>, ApiError> {
    let limit = page.limit.unwrap_or(MAX_LIST_PAGE);
    if limit > MAX_LIST_PAGE {
        return Err(ApiError::bad_request(
            format!("limit {limit} is above the maximum page of {MAX_LIST_PAGE} entries"),
            "ask for at most 100 entries and page on with `from`",
        ));
    }
    let from = page.from.unwrap_or(0);
    let store = state.inner.chain.store();
    let height = certified_height(state)?;
    let entry = |seq| store.get_proven_at(index.entries().entry(seq).as_bytes(), height);
    let total = index
        .entries()
        .find_length(|seq| Ok::<_, ApiError>(entry(seq)?.value.is_some()))?;
    let end_proof = entry(total)?;
    let last_proof = total.checked_sub(1).map(entry).transpose()?;
    let end = total.min(from.saturating_add(limit as u64));
    let entries = (from..end)
        .map(|seq| proven_entry(store, index, seq, height))
        .collect::<Result<_, _>>()?;
    let block = committed_block(state, height)?;
    Ok(Json(ProvenListView {
        total,
        from,
        end_proof,
        last_proof,
        entries,
        header: HeaderView::from(block.header()),
        finalization: finalization_hex(state, height)?,
    }))
}

fn proven_entry(
    store: &Store,
    index: &impl ProvableList,
    seq: u64,
    height: u64,
) -> Result<ListedEntryView, ApiError> {
    let key = index.entries().entry(seq);
    let entry_proof = store.get_proven_at(key.as_bytes(), height)?;
    // Entries below the length exist (lists have no gaps): a missing one is a corrupt store.
    let id = decoded(&key, &entry_proof)?
        .ok_or_else(|| ApiError::internal(format!("list entry {seq} is missing")))?;
    let (value, item_proof) = match index.item(store, &id, height)? {
        Some((value, proof)) => (value, Some(proof)),
        None => (serde_json::Value::Null, None),
    };
    Ok(ListedEntryView {
        seq,
        id: index.entry_json(&id)?,
        value,
        entry_proof,
        item_proof,
    })
}

fn decoded<V: StateValue>(key: &StateKey<V>, proven: &ProvenValue) -> Result<Option<V>, ApiError> {
    proven
        .value
        .as_deref()
        .map(|bytes| key.decode(bytes))
        .transpose()
        .map_err(ApiError::internal)
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// Defines a list handler whose list is named by one path parameter, or by none.
macro_rules! list_route {
    ($(#[$doc:meta])* $name:ident, $path:literal, $index:expr) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = "lists", params(Page),
            responses((status = 200, body = ProvenListView), (status = 400, body = medchain_api::ErrorBody)))]
        pub(in crate::api) async fn $name(
            State(state): State<ApiState>,
            page: Result<Query<Page>, QueryRejection>,
        ) -> Result<Json<ProvenListView>, ApiError> {
            let Query(page) = page?;
            proven_list(&state, &$index(), page)
        }
    };
    ($(#[$doc:meta])* $name:ident, $path:literal, $param:literal, $what:literal, $pattern:literal, $ty:ty, $index:expr) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = "lists",
            params(($param = String, Path, description = $what, pattern = $pattern), Page),
            responses((status = 200, body = ProvenListView), (status = 400, body = medchain_api::ErrorBody)))]
        pub(in crate::api) async fn $name(
            State(state): State<ApiState>,
            path: Result<Path<String>, PathRejection>,
            page: Result<Query<Page>, QueryRejection>,
        ) -> Result<Json<ProvenListView>, ApiError> {
            let Path(param) = path?;
            let Query(page) = page?;
            let parsed: $ty = parse(&param, $what)?;
            proven_list(&state, &$index(&parsed), page)
        }
    };
}

list_route!(
    /// A patient's records in release order (S1-release): each record id with its record.
    patient_records, "/v1/lists/records/{patient}", "patient", "patient address (hex)", "^[0-9a-fA-F]{64}$", Address, keys::patient_records
);
list_route!(
    /// A patient's consents in grant order, revoked ones included (S1-sharing): each consent
    /// id with its consent (`revoked_at` set once revoked).
    patient_consents, "/v1/lists/consents/{patient}", "patient", "patient address (hex)", "^[0-9a-fA-F]{64}$", Address, keys::patient_consents
);
list_route!(
    /// A patient's encrypted EMR entries in filing order (S3-entry): each entry id with its
    /// entry.
    patient_entries, "/v1/lists/entries/{patient}", "patient", "patient address (hex)", "^[0-9a-fA-F]{64}$", Address, keys::patient_entries
);
list_route!(
    /// A patient's notifications (S3-emergency): the emergency requests filed for its records,
    /// in filing order, each id with its request. Who then opened the record break-glass is
    /// in the patient's access log.
    patient_notifications, "/v1/lists/notifications/{patient}", "patient", "patient address (hex)", "^[0-9a-fA-F]{64}$", Address, keys::patient_notifications
);
list_route!(
    /// An organisation's members, founder first (S2-register): each address with its
    /// membership. An unknown organisation has no members.
    org_members, "/v1/lists/members/{name}", "name", "organisation name", "^[A-Za-z0-9 ._-]{1,64}$", OrgName, keys::org_members
);
list_route!(
    /// Every organisation in registration order (S2-register): each name with its organisation.
    orgs, "/v1/lists/orgs", keys::orgs
);
list_route!(
    /// Every licensed doctor in the order its licence was first issued (S3-register): each
    /// doctor identity with its licence (a renewal shows in the licence, not as an entry).
    /// Whether a doctor is revoked is `/v1/state/revocations/{doctor}`.
    licences, "/v1/lists/licences", keys::licences
);
list_route!(
    /// Every emergency request in filing order (S3-emergency): each id with its request.
    emergencies, "/v1/lists/emergencies", keys::emergencies
);
list_route!(
    /// The consents granted to an address in grant order, revoked ones included
    /// (S1-sharing): each consent id with its consent.
    grantee_consents, "/v1/lists/grantee-consents/{address}", "address", "grantee address (hex)", "^[0-9a-fA-F]{64}$", Address, keys::grantee_consents
);

list_route!(
    /// The outputs ever locked to an address (S1-utxo), in creation order, each outpoint with
    /// the output; a spent output is proven absent (`null`). A k-of-m output is listed for each
    /// of its keys.
    owner_outputs, "/v1/lists/outputs/{address}", "address", "owner address (hex)", "^[0-9a-fA-F]{64}$", Address, keys::owner_outputs
);
list_route!(
    /// An address's token history (S1-tokens): transfers in and out, access rewards paid and
    /// received, escrow, staking, slashes and epoch rewards, oldest first. Each entry is the
    /// ledger entry itself (there is no named value). Fees and block rewards show in the
    /// balance, not here.
    token_history, "/v1/lists/token-history/{address}", "address", "address (hex)", "^[0-9a-fA-F]{64}$", Address, keys::token_history
);
list_route!(
    /// Every validator candidate in registration order (S1-dpos), genesis validators first:
    /// each node key with its candidacy and staking pool.
    candidates, "/v1/lists/candidates", keys::candidates
);

list_route!(
    /// Every study in publication order (S4-flow step 1): each study id with its contract and
    /// pool. Which studies a patient qualifies for is decided on the patient's machine.
    studies, "/v1/lists/studies", keys::studies
);
list_route!(
    /// Every hospital-attested commitment in leaf order (S4-flow): the accumulator's leaves.
    /// A patient rebuilds the accumulator from all of them and checks its root against
    /// `/v1/state/research/accumulator`, so no node learns which leaf is the patient's.
    attested_commitments, "/v1/lists/attested-commitments", attested_commitments_list
);

fn attested_commitments_list() -> HashList {
    HashList(keys::attested_commitments())
}
list_route!(
    /// A study's enrolments in acceptance order (S4-flow steps 4–5): each enrolment id with
    /// the enrolment.
    study_enrolments, "/v1/lists/study-enrolments/{study}", "study", "study id (hex)", "^[0-9a-fA-F]{64}$", StudyId, keys::study_enrolments
);
list_route!(
    /// The proxies that logged a re-encryption of an enrolment's record, in order (S4-flow
    /// step 8): each entry is the proxy's address.
    reencryptions, "/v1/lists/reencryptions/{enrolment}", "enrolment", "enrolment id (hex)", "^[0-9a-fA-F]{64}$", EnrolmentId, keys::reencryptions
);

/// The full ids of finalized records, consents or transactions that start with a prefix.
///
/// An unproven index lookup: a node could leave ids out or name ones that do not exist, so a
/// client checks that each id has the prefix and then verifies the id it picks like one typed
/// in full (a state proof for a record or consent, an inclusion check for a transaction).
#[utoipa::path(get, path = "/v1/ids/{kind}/{prefix}", tag = "lists",
    params(
        ("kind" = IdKind, Path, description = "what to look among"),
        ("prefix" = String, Path, description = "the first 4 to 64 hex digits of the id", pattern = "^[0-9a-fA-F]{4,64}$"),
    ),
    responses((status = 200, body = IdMatchesView), (status = 400, body = medchain_api::ErrorBody)))]
pub(in crate::api) async fn resolve_id(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<IdMatchesView>, ApiError> {
    let Path((kind, prefix)) = path?;
    let kind: IdKind = parse(&kind, "id kind")?;
    let prefix: IdPrefix = parse(&prefix, "id prefix")?;
    let store = state.inner.chain.store();
    let (low, high) = prefix.bounds();
    let scanned = store.tx_ids_between(&low, &high, MAX_PREFIX_SCAN)?;
    let exists = |id: &TxId| -> Result<bool, ApiError> {
        let key = match kind {
            IdKind::Record => keys::record(&RecordId::from(*id)).as_bytes().to_vec(),
            IdKind::Consent => keys::consent(&ConsentId::from(*id)).as_bytes().to_vec(),
            IdKind::Tx => return Ok(true),
        };
        Ok(store.get(&key)?.is_some())
    };
    let mut matches = Vec::new();
    for id in &scanned {
        if exists(id)? {
            matches.push(*id);
        }
    }
    let complete = scanned.len() < MAX_PREFIX_SCAN && matches.len() <= MAX_ID_MATCHES;
    matches.truncate(MAX_ID_MATCHES);
    Ok(Json(IdMatchesView {
        kind,
        prefix: prefix.to_string(),
        matches,
        complete,
    }))
}
