//! An in-memory committed state: the base store for tests, benchmarks and light tools that
//! replay blocks without a database. It keeps every tree version (no pruning).

use crate::{ExecutedBlock, StateError, StateRead};
use jmt::{
    KeyHash, OwnedValue, Version,
    storage::{LeafNode, Node, NodeKey, TreeReader},
};
use std::collections::{BTreeMap, HashMap};

/// Committed state in memory: latest values, tree nodes, and value history per tree version.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    values: HashMap<Vec<u8>, Vec<u8>>,
    nodes: HashMap<NodeKey, Node>,
    history: BTreeMap<(KeyHash, Version), Option<OwnedValue>>,
    height: Option<u64>,
}

impl MemoryStore {
    /// An empty store, ready for genesis.
    pub fn new() -> Self {
        Self::default()
    }

    /// Height of the last committed block; `None` before genesis.
    pub fn height(&self) -> Option<u64> {
        self.height
    }

    /// Commits an executed block, which must be the next height (0 for the first).
    pub fn commit(&mut self, block: &ExecutedBlock) -> Result<(), StateError> {
        let expected = self.height.map_or(0, |height| height + 1);
        if block.height != expected {
            return Err(StateError::HeightMismatch {
                state: expected,
                got: block.height,
            });
        }
        for (key, value) in &block.writes {
            match value {
                Some(value) => self.values.insert(key.clone(), value.clone()),
                None => self.values.remove(key),
            };
        }
        let batch = &block.tree_batch.node_batch;
        self.nodes.extend(
            batch
                .nodes()
                .iter()
                .map(|(key, node)| (key.clone(), node.clone())),
        );
        self.history.extend(
            batch
                .values()
                .iter()
                .map(|((version, key_hash), value)| ((*key_hash, *version), value.clone())),
        );
        self.height = Some(block.height);
        Ok(())
    }
}

#[cfg(any(test, feature = "testkit"))]
impl MemoryStore {
    /// Every latest value whose key starts with `prefix`, sorted by key (for tests that sum
    /// over a namespace, e.g. every balance).
    pub fn values_with_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut found: Vec<_> = self
            .values
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        found.sort();
        found
    }
}

impl StateRead for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.values.get(key).cloned())
    }
}

impl TreeReader for MemoryStore {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .history
            .range((key_hash, 0)..=(key_hash, max_version))
            .next_back()
            .and_then(|(_, value)| value.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the memory store does not support tree restoration")
    }
}

/// Lets an [`crate::Overlay`] borrow a memory store instead of owning it.
impl TreeReader for &MemoryStore {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        (**self).get_node_option(node_key)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        (**self).get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        (**self).get_rightmost_leaf()
    }
}
