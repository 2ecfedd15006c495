//! The wire contract of the node's HTTP API: every JSON request and response body, shared by
//! the node (which serves them, with OpenAPI schemas) and clients (which parse them). Field
//! names and meanings here are the API's compatibility surface: add fields, never repurpose.

mod lists;

pub use lists::{
    IdKind, IdMatchesView, IdPrefix, IdPrefixError, ListedEntryView, MAX_ID_MATCHES, MAX_LIST_PAGE,
    ProvenListView,
};

use medchain_state::ProvenValue;
use medchain_types::{Address, ChainId, Hash32, Header, Receipt, TxId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A block header (all hashes hex).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HeaderView {
    /// Block digest: SHA-256 of the canonical header encoding (`header_hex`).
    pub digest: String,
    /// Height.
    pub height: u64,
    /// Parent digest.
    pub parent: String,
    /// Proposer's timestamp, unix milliseconds.
    pub timestamp_ms: u64,
    /// Proposing validator.
    pub proposer: Address,
    /// Merkle root of the transaction ids.
    pub tx_root: String,
    /// State root after the block.
    pub state_root: String,
    /// Revocation-list root (S3-revoke).
    pub revocation_root: String,
    /// Latest MED checkpoint (S3-supervise).
    pub med_checkpoint: String,
    /// Canonical encoding of the header, to recompute `digest`.
    pub header_hex: String,
}

fn hex32(hash: &Hash32) -> String {
    hex::encode(hash)
}

impl From<&Header> for HeaderView {
    fn from(header: &Header) -> Self {
        use commonware_codec::Encode;
        Self {
            digest: hex32(&header.digest()),
            height: header.height,
            parent: hex32(&header.parent),
            timestamp_ms: header.timestamp_ms,
            proposer: header.proposer,
            tx_root: hex32(&header.tx_root),
            state_root: hex32(&header.state_root),
            revocation_root: hex32(&header.revocation_root),
            med_checkpoint: hex32(&header.med_checkpoint),
            header_hex: hex::encode(header.encode()),
        }
    }
}

/// A finalized block.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    /// The header.
    pub header: HeaderView,
    /// Transaction ids in block order.
    pub tx_ids: Vec<TxId>,
    /// The finalization certificate (hex; absent for genesis).
    pub finalization: Option<String>,
}

/// A validator named in genesis.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidatorView {
    /// Operator name.
    pub name: String,
    /// Validator key.
    pub public_key: Address,
}

/// Chain status.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    /// Chain id (part of every signed transaction).
    pub chain_id: ChainId,
    /// Last committed height.
    pub height: u64,
    /// Its digest.
    pub block_digest: String,
    /// Its state root.
    pub state_root: String,
    /// Its timestamp, unix milliseconds.
    pub timestamp_ms: u64,
    /// The regulator (S2-state).
    pub regulator: Address,
    /// The validators.
    pub validators: Vec<ValidatorView>,
    /// Transactions waiting in this node's mempool.
    pub mempool_size: usize,
}

/// A signed transaction to submit.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// Hex of the canonically encoded signed transaction.
    pub tx: String,
}

/// The id of an accepted transaction (accepted into the mempool, not yet final).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitResponse {
    /// Transaction id; poll `GET /v1/transactions/{id}`.
    pub id: TxId,
}

/// Several signed transactions (batch signature verification on the node).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchRequest {
    /// Hex of each signed transaction.
    pub txs: Vec<String>,
}

/// The outcome of one transaction of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    /// Its id, when accepted.
    pub id: Option<TxId>,
    /// Why it was refused.
    pub error: Option<ErrorBody>,
}

/// The outcomes of a batch, in order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// One per submitted transaction.
    pub results: Vec<BatchItem>,
}

/// Where a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// In this node's mempool.
    Pending,
    /// Executed in a finalized block; the receipt says what it did.
    Finalized,
    /// Not known to this node (never submitted here, dropped, or not gossiped yet).
    Unknown,
}

/// A transaction's status.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxStatusView {
    /// The transaction.
    pub id: TxId,
    /// Where it is.
    pub status: TxState,
    /// What it did, once finalized.
    pub receipt: Option<Receipt>,
}

/// A state value with everything needed to verify it without trusting the node.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvenView {
    /// The decoded value, for display (`null` when absent). Verify `proven` before trusting it.
    /// Any JSON type: an object, a string (a consent id), a number (a nonce) or `null`.
    #[schema(value_type = Option<serde_json::Value>)]
    pub value: Option<serde_json::Value>,
    /// Key, encoded value and Merkle proof (inclusion, or exclusion when absent) at `height`.
    #[schema(value_type = Object)]
    pub proven: ProvenValue,
    /// The header at that height, whose `state_root` the proof verifies against.
    pub header: HeaderView,
    /// That header's finalization certificate (hex; absent for genesis).
    pub finalization: Option<String>,
}

/// One page of a patient's access log (S1-rights).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessLogView {
    /// The patient.
    pub patient: Address,
    /// Entries in the log in total.
    pub total: u64,
    /// Entries from `from`, in order; each is provable at `/v1/state/access-log/{patient}/{seq}`.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<serde_json::Value>,
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code, e.g. `bad_signature`, `not_found`.
    pub error: String,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}
