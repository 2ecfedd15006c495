//! The redb tables and their key/value layouts. Integers in keys are big-endian so that
//! ranges iterate in numeric order.
//!
//! | table | key | value |
//! |---|---|---|
//! | `state` | key hash (32): `SHA-256(state key)` | version written (8) ‖ latest value |
//! | `state_history` | key hash (32) ‖ version (8) | 1 ‖ superseded value, or 0 (deleted then) |
//! | `tree_nodes` | version (8) ‖ borsh nibble path ([`node_key`]) | borsh `Node` |
//! | `tree_stale` | stale-since version (8) | the node keys that version made stale ([`stale_list`]) |
//! | `state_history_expiry` | version (8) | the `state_history` keys that version superseded, 40 bytes each |
//! | `receipts` | tx id (32) | height (8) ‖ index in block (4) ‖ encoded events ([`crate::events`]) |
//! | `blocks` | height (8) | encoded `Block` |
//! | `block_digests` | block digest (32) | height (8) |
//! | `finalizations` | height (8) | finalization certificate (opaque, from the node) |
//! | `pinned_proofs` | height (8) ‖ state key | encoded `ProvenValue` ([`crate::Store::pin_proof`]) |
//! | `meta` | `last_applied` | height (8) ‖ block digest (32) ‖ state root (32) |
//!
//! Latest values live once, under the key's tree hash, so a block writes each value once and
//! the tree's value lookups need no second copy; a value moves to `state_history` only when
//! overwritten (needed for proofs at recent heights, pruned with the tree). Blocks,
//! finalizations and pinned proofs are never pruned.

use crate::StorageError;
use medchain_state::jmt_types::{Node, NodeKey};
use medchain_types::Hash32;
use redb::TableDefinition;

pub(crate) type Bytes = &'static [u8];
pub(crate) type Def = TableDefinition<'static, Bytes, Bytes>;

pub(crate) const STATE: Def = TableDefinition::new("state");
pub(crate) const STATE_HISTORY: Def = TableDefinition::new("state_history");
pub(crate) const TREE_NODES: Def = TableDefinition::new("tree_nodes");
pub(crate) const TREE_STALE: Def = TableDefinition::new("tree_stale");
pub(crate) const STATE_HISTORY_EXPIRY: Def = TableDefinition::new("state_history_expiry");
pub(crate) const RECEIPTS: Def = TableDefinition::new("receipts");
pub(crate) const BLOCKS: Def = TableDefinition::new("blocks");
pub(crate) const BLOCK_DIGESTS: Def = TableDefinition::new("block_digests");
pub(crate) const FINALIZATIONS: Def = TableDefinition::new("finalizations");
pub(crate) const META: Def = TableDefinition::new("meta");
pub(crate) const PINNED_PROOFS: Def = TableDefinition::new("pinned_proofs");

pub(crate) const ALL: [Def; 11] = [
    STATE,
    STATE_HISTORY,
    TREE_NODES,
    TREE_STALE,
    STATE_HISTORY_EXPIRY,
    RECEIPTS,
    BLOCKS,
    BLOCK_DIGESTS,
    FINALIZATIONS,
    META,
    PINNED_PROOFS,
];

pub(crate) const LAST_APPLIED: &[u8] = b"last_applied";

/// `state` value: the version that wrote it, then the value.
pub(crate) fn state_row(version: u64, value: &[u8]) -> Vec<u8> {
    [&version.to_be_bytes()[..], value].concat()
}

/// Splits a `state` row into (version, value).
pub(crate) fn read_state_row(row: &[u8]) -> Result<(u64, &[u8]), StorageError> {
    let version = u64_at(row, "state row")?;
    Ok((version, &row[8..]))
}

/// `state_history` key.
pub(crate) fn history_key(key_hash: &[u8; 32], version: u64) -> [u8; HISTORY_KEY_LEN] {
    let mut key = [0u8; HISTORY_KEY_LEN];
    key[..32].copy_from_slice(key_hash);
    key[32..].copy_from_slice(&version.to_be_bytes());
    key
}

/// Length of a `state_history` key.
pub(crate) const HISTORY_KEY_LEN: usize = 40;

/// `state_history` value: a presence tag, then the value.
pub(crate) fn history_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(value) => [&[1u8][..], value].concat(),
        None => vec![0],
    }
}

pub(crate) fn read_history_value(bytes: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
    match bytes.split_first() {
        Some((1, value)) => Ok(Some(value.to_vec())),
        Some((0, [])) => Ok(None),
        _ => Err(StorageError::corrupt("state history", "bad presence tag")),
    }
}

/// `pinned_proofs` key: the height first, so a height's pins sit together.
pub(crate) fn pin_key(height: u64, key: &[u8]) -> Vec<u8> {
    [&height.to_be_bytes()[..], key].concat()
}

/// `tree_nodes` key: the version first, big-endian, so one block's new nodes land together
/// at the end of the table (appends, not scattered inserts).
pub(crate) fn node_key(key: &NodeKey) -> Result<Vec<u8>, StorageError> {
    // Sized for the longest key up front: a commit builds tens of thousands of them.
    let mut bytes = Vec::with_capacity(NODE_KEY_MAX_LEN);
    bytes.extend_from_slice(&key.version().to_be_bytes());
    borsh::to_writer(&mut bytes, key.nibble_path())
        .map_err(|e| StorageError::corrupt("tree node key", e))?;
    Ok(bytes)
}

/// The longest [`node_key`]: version (8), then borsh's nibble count (8) and byte vector (4 +
/// at most 32).
const NODE_KEY_MAX_LEN: usize = 8 + 8 + 4 + 32;

/// `tree_stale` value: each node key, length-prefixed (one byte; keys are at most
/// [`NODE_KEY_MAX_LEN`] bytes).
pub(crate) fn stale_list<'a>(
    node_keys: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, StorageError> {
    let mut bytes = Vec::new();
    for key in node_keys {
        let len = u8::try_from(key.len())
            .map_err(|_| StorageError::corrupt("tree node key", "longer than 255 bytes"))?;
        bytes.push(len);
        bytes.extend_from_slice(key);
    }
    Ok(bytes)
}

/// Splits a [`stale_list`] value back into node keys.
pub(crate) fn read_stale_list(mut bytes: &[u8]) -> Result<Vec<&[u8]>, StorageError> {
    let mut keys = Vec::new();
    while let Some((&len, rest)) = bytes.split_first() {
        let len = usize::from(len);
        if rest.len() < len {
            return Err(StorageError::corrupt("stale node list", "truncated"));
        }
        let (key, rest) = rest.split_at(len);
        keys.push(key);
        bytes = rest;
    }
    Ok(keys)
}

pub(crate) fn u64_at(bytes: &[u8], what: &'static str) -> Result<u64, StorageError> {
    let array: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StorageError::corrupt(what, "too short"))?;
    Ok(u64::from_be_bytes(array))
}

pub(crate) fn hash_at(bytes: &[u8], what: &'static str) -> Result<Hash32, StorageError> {
    let array: [u8; 32] = bytes
        .get(..32)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StorageError::corrupt(what, "too short"))?;
    Ok(Hash32::from(array))
}

/// Borsh, the encoding `jmt` derives for its nodes, into `buffer` (cleared first), so a commit
/// reuses one buffer for all its nodes.
pub(crate) fn encode_node_into(buffer: &mut Vec<u8>, node: &Node) -> Result<(), StorageError> {
    buffer.clear();
    borsh::to_writer(buffer, node).map_err(|e| StorageError::corrupt("tree node", e))
}

pub(crate) fn decode_node(bytes: &[u8]) -> Result<Node, StorageError> {
    borsh::from_slice(bytes).map_err(|e| StorageError::corrupt("tree node", e))
}
