//! Reading state: the [`StateRead`] trait every backing store implements (next to `jmt`'s
//! [`TreeReader`] for the tree nodes), and [`Overlay`], which stacks executed but not yet
//! committed blocks on top of a committed store, for speculative execution of forks.

use crate::{ExecutedBlock, StateError, StateValue, keys::StateKey};
use jmt::{
    KeyHash, OwnedValue, Version,
    storage::{LeafNode, Node, NodeKey, TreeReader},
};
use std::sync::Arc;

/// The latest value of each state key, as of some point (a commit, or a commit plus layers).
pub trait StateRead {
    /// The raw value under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

impl<T: StateRead + ?Sized> StateRead for &T {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get(key)
    }
}

/// Typed reads through a [`StateKey`].
pub trait StateReadExt: StateRead {
    /// The decoded value under `key`, if any.
    fn value<V: StateValue>(&self, key: &StateKey<V>) -> Result<Option<V>, StateError> {
        self.get(key.as_bytes())?
            .map(|bytes| key.decode(&bytes))
            .transpose()
    }
}

impl<T: StateRead + ?Sized> StateReadExt for T {}

/// A committed store (`base`) seen through executed blocks that are not committed yet.
///
/// Layers are consecutive heights, oldest first, and must start right after the base's
/// height: the node keeps one `Arc<ExecutedBlock>` per unfinalized block of a fork and
/// builds an overlay of the fork's ancestry to execute (or verify) its next block. Reads look
/// in the layers newest first, then in the base, so executing block `h + 1` on
/// `Overlay(base at h - 1, [h])` gives exactly what it gives after `h` is committed.
pub struct Overlay<B> {
    base: B,
    layers: Vec<Arc<ExecutedBlock>>,
}

impl<B> Overlay<B> {
    /// Stacks `layers` (oldest first, consecutive heights) on `base`.
    pub fn new(base: B, layers: Vec<Arc<ExecutedBlock>>) -> Result<Self, StateError> {
        if let Some(pair) = layers
            .windows(2)
            .find(|pair| pair[0].height.checked_add(1) != Some(pair[1].height))
        {
            return Err(StateError::LayersNotConsecutive {
                previous: pair[0].height,
                next: pair[1].height,
            });
        }
        Ok(Self { base, layers })
    }

    /// The committed store underneath.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// The layers, oldest first.
    pub fn layers(&self) -> &[Arc<ExecutedBlock>] {
        &self.layers
    }

    fn newest_first(&self) -> impl Iterator<Item = &ExecutedBlock> {
        self.layers.iter().rev().map(Arc::as_ref)
    }
}

impl<B: StateRead> StateRead for Overlay<B> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.newest_first().find_map(|layer| layer.writes.get(key)) {
            Some(written) => Ok(written.clone()),
            None => self.base.get(key),
        }
    }
}

impl<B: TreeReader> TreeReader for Overlay<B> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self
            .newest_first()
            .find_map(|layer| layer.tree_batch.node_batch.nodes().get(node_key))
        {
            Some(node) => Ok(Some(node.clone())),
            None => self.base.get_node_option(node_key),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        // Each layer holds the values written at its own height (its tree version).
        let written = self
            .newest_first()
            .filter(|layer| layer.height <= max_version)
            .find_map(|layer| {
                layer
                    .tree_batch
                    .node_batch
                    .values()
                    .get(&(layer.height, key_hash))
            });
        match written {
            Some(value) => Ok(value.clone()),
            None => self.base.get_value_option(max_version, key_hash),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("an overlay does not support tree restoration")
    }
}
