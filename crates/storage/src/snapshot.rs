//! [`Snapshot`]: a consistent read view of the last commit, which the state machine executes
//! on (directly, or under an `Overlay` of unfinalized blocks).

use crate::{LastApplied, StorageError, tables};
use medchain_state::{
    StateError, StateRead, TreeReader,
    jmt_types::{KeyHash, LeafNode, Node, NodeKey, OwnedValue, Version},
    key_hash,
};
use redb::{ReadOnlyTable, ReadableTable};

/// The stored state as the tree sees it — nodes, latest values, superseded values — in any
/// redb table handles (read-only in a snapshot, writable inside a commit).
pub(crate) struct StateTables<T> {
    pub nodes: T,
    pub state: T,
    pub history: T,
}

impl<T: ReadableTable<tables::Bytes, tables::Bytes>> StateTables<T> {
    pub(crate) fn open(
        open: impl Fn(tables::Def) -> Result<T, redb::TableError>,
    ) -> Result<Self, StorageError> {
        Ok(Self {
            nodes: open(tables::TREE_NODES)?,
            state: open(tables::STATE)?,
            history: open(tables::STATE_HISTORY)?,
        })
    }

    fn node(&self, node_key: &NodeKey) -> Result<Option<Node>, StorageError> {
        self.nodes
            .get(tables::node_key(node_key)?.as_slice())?
            .map(|bytes| tables::decode_node(bytes.value()))
            .transpose()
    }

    /// The latest value under a key hash.
    pub(crate) fn latest(&self, key_hash: &KeyHash) -> Result<Option<Vec<u8>>, StorageError> {
        match self.state.get(key_hash.0.as_slice())? {
            Some(row) => Ok(Some(tables::read_state_row(row.value())?.1.to_vec())),
            None => Ok(None),
        }
    }

    /// The newest value of `key_hash` written at a version `<= max_version`: the latest if it
    /// is that old, else the newest superseded one.
    fn value_at(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> Result<Option<OwnedValue>, StorageError> {
        if let Some(row) = self.state.get(key_hash.0.as_slice())? {
            let (version, value) = tables::read_state_row(row.value())?;
            if version <= max_version {
                return Ok(Some(value.to_vec()));
            }
        }
        let low = tables::history_key(&key_hash.0, 0);
        let high = tables::history_key(&key_hash.0, max_version);
        match self
            .history
            .range(low.as_slice()..=high.as_slice())?
            .next_back()
        {
            Some(entry) => tables::read_history_value(entry?.1.value()),
            None => Ok(None),
        }
    }
}

impl<T: ReadableTable<tables::Bytes, tables::Bytes>> TreeReader for StateTables<T> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.node(node_key)?)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.value_at(max_version, key_hash)?)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the store does not support tree restoration")
    }
}

/// A consistent view of the store as of its last commit. Later commits do not change it.
/// Implements [`StateRead`] and [`TreeReader`], so a `BlockExecutor` or an `Overlay` runs on
/// it directly. It is a redb read transaction: while it lives, the pages it sees are not
/// reused, so take a fresh one per block rather than holding one for long.
pub struct Snapshot {
    last: Option<LastApplied>,
    /// The pruning horizon this view's tree was pruned to.
    pub(crate) pruned_below: u64,
    tables: StateTables<ReadOnlyTable<tables::Bytes, tables::Bytes>>,
}

impl Snapshot {
    pub(crate) fn new(txn: &redb::ReadTransaction) -> Result<Self, StorageError> {
        let meta = txn.open_table(tables::META)?;
        Ok(Self {
            last: crate::store::last_applied_in(&meta)?,
            pruned_below: crate::store::pruned_below_in(&meta)?,
            tables: StateTables::open(|table| txn.open_table(table))?,
        })
    }

    /// The commit this snapshot shows; `None` before genesis.
    pub fn last_applied(&self) -> Option<&LastApplied> {
        self.last.as_ref()
    }

    /// Its height; `None` before genesis.
    pub fn height(&self) -> Option<u64> {
        self.last.as_ref().map(|last| last.height)
    }
}

impl StateRead for Snapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.tables
            .latest(&key_hash(key))
            .map_err(StateError::backend)
    }
}

impl TreeReader for Snapshot {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.tables.get_node_option(node_key)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        self.tables.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.tables.get_rightmost_leaf()
    }
}
