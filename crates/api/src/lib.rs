//! The wire contract of the node's HTTP API: every JSON request and response body, shared by
//! the node (which serves them, with OpenAPI schemas) and clients (which parse them). Field
//! names and meanings here are the API's compatibility surface: add fields, never repurpose.

mod enrolment;
mod lists;
mod med;

pub use enrolment::{CommitmentView, EnrolmentRequestView, EnrolmentViewError, PartialKeyView};

pub use med::{
    BatchAccepted, HeadersQuery, MAX_MED_HEADERS, MblockSummary, MedEntryStatus, MedEntryView,
    MedRecordView, MedStatus,
};

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
    /// Merkle root of the block's receipts, in transaction order.
    pub receipts_root: String,
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
            receipts_root: hex32(&header.receipts_root),
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

/// A validator of the current epoch.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidatorView {
    /// Operator name: the genesis name of a genesis validator, else the organisation the
    /// candidate runs for (empty if neither is known).
    pub name: String,
    /// Validator key.
    pub public_key: Address,
    /// Stake bonded to it when it was elected (S1-dpos); absent where the node's state holds
    /// no validator set (a store from before tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stake: Option<u64>,
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
    /// The epoch the next block belongs to (S1-dpos; always 0 on a chain without tokens).
    #[serde(default)]
    pub epoch: u64,
    /// The validator set of that epoch, from the committed state.
    pub validators: Vec<ValidatorView>,
    /// Transactions waiting in this node's mempool.
    pub mempool_size: usize,
}

/// A signed transaction to submit.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// Hex of the canonically encoded signed transaction (at most `MAX_TX_BYTES` = 4096
    /// bytes). A string of this shape that does not decode to a validly signed transaction
    /// for this chain is refused with 400; no schema can express a valid signature.
    #[schema(min_length = 2, max_length = 8192, pattern = "^([0-9a-fA-F]{2})+$")]
    pub tx: String,
}

/// The id of an accepted transaction (accepted into the mempool, not yet final).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitResponse {
    /// Transaction id; poll `GET /v1/transactions/{id}`.
    pub id: TxId,
    /// `pending` (executable, gossiped) or `queued` (waiting for an earlier nonce of its
    /// sender; dropped as expired if that never comes).
    #[serde(default = "TxState::pending")]
    pub status: TxState,
    /// For a queued transaction: the sender's first missing nonce it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<u64>,
}

/// Several signed transactions (batch signature verification on the node).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchRequest {
    /// Hex of each signed transaction, at most 1024; each is admitted or refused on its own
    /// (a refused one gets its error in the response, not a 400).
    #[schema(max_items = 1024)]
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
    /// In this node's mempool, executable.
    Pending,
    /// In this node's mempool, waiting for an earlier nonce of its sender.
    Queued,
    /// Executed in a finalized block; the receipt says what it did.
    Finalized,
    /// Left the mempool without a block; `dropped` says why. It will never execute.
    Dropped,
    /// Not known to this node (never submitted here, not gossiped yet, or dropped so long
    /// ago that the reason was forgotten).
    Unknown,
}

impl TxState {
    fn pending() -> Self {
        Self::Pending
    }
}

/// Why a transaction was dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DroppedView {
    /// Stable code: `failed`, `expired`, `evicted`, `superseded` or `predecessor_dropped`.
    pub reason: String,
    /// For `failed`: the state machine's error code (e.g. `org_exists`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What happened, for people.
    pub message: String,
    /// The node's committed height when it was dropped.
    pub height: u64,
}

/// A transaction's status.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxStatusView {
    /// The transaction.
    pub id: TxId,
    /// Where it is.
    pub status: TxState,
    /// What it did, once finalized. Verify it with `receipt_proof` before trusting it.
    pub receipt: Option<Receipt>,
    /// Once finalized: hex of the binary Merkle proof that the receipt is leaf `receipt.index`
    /// of the `receipts_root` in the header of block `receipt.height`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_proof: Option<String>,
    /// For a queued transaction: the sender's first missing nonce it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<u64>,
    /// For a dropped transaction: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<DroppedView>,
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

/// How a light client learns epoch `epoch + 1`'s validator set from epoch `epoch`'s (S1-dpos):
/// the state at epoch `epoch`'s last block holds the elected set, and that block is finalized
/// by epoch `epoch`'s validators. Verify `next_set` against `next_set.header` and its
/// certificate, which must be signed by the set of `epoch`, in a round of `epoch`, at the
/// height `boundary`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EpochTransitionView {
    /// The epoch that ends.
    pub epoch: u64,
    /// Its last height, where the next set is elected: `(epoch + 1) × epoch length − 1`.
    pub boundary: u64,
    /// `vset/<epoch + 1>` proven at `boundary`, with that block's header and finalization.
    pub next_set: ProvenView,
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
    /// What went wrong; at most [`MAX_MESSAGE_CHARS`] characters (an input it repeats is cut,
    /// see [`echo`]).
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Most characters of a user's input an error message repeats; a longer input is shown by its
/// head and tail with its length, so an error never echoes a large input back whole.
pub const ECHO_CHARS: usize = 64;

/// Most characters of an [`ErrorBody::message`]; longer messages lose their middle.
pub const MAX_MESSAGE_CHARS: usize = 512;

/// `input` as an error message repeats it: quoted, and if longer than [`ECHO_CHARS`], cut in
/// the middle with an ellipsis and followed by its length, e.g. `"aaaa…aaaa" (10000 bytes)`.
pub fn echo(input: &str) -> String {
    if input.chars().count() <= ECHO_CHARS {
        format!("{input:?}")
    } else {
        format!("{:?} ({} bytes)", elide(input, ECHO_CHARS), input.len())
    }
}

/// `text` cut to at most `max_chars` characters by replacing its middle with an ellipsis
/// (the head says what was wrong, the tail often says where); shorter text is unchanged.
pub fn elide(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_string();
    }
    let kept = max_chars.saturating_sub(1);
    let head: String = text.chars().take(kept - kept / 2).collect();
    let tail: String = text.chars().skip(count - kept / 2).collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_inputs_are_echoed_whole_and_long_ones_cut_with_their_length() {
        assert_eq!(echo("Seoul"), "\"Seoul\"");
        let long = format!("{}{}", "a".repeat(10_000), "z");
        let echoed = echo(&long);
        assert!(echoed.len() < 200, "{echoed}");
        assert!(
            echoed.contains('…') && echoed.ends_with("(10001 bytes)"),
            "{echoed}"
        );
        assert!(echoed.contains("az\""), "the tail is kept: {echoed}");
    }

    #[test]
    fn elision_keeps_head_and_tail_within_the_bound() {
        assert_eq!(elide("abcdef", 6), "abcdef");
        assert_eq!(elide("abcdefgh", 5), "ab…gh");
        let cut = elide(&"é".repeat(1_000), 9);
        assert_eq!(cut.chars().count(), 9);
    }
}
