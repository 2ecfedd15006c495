//! The authenticated state (docs/architecture.md § Authenticated state): a Jellyfish Merkle
//! tree over SHA-256, one tree version per block height. A state entry `(key, value)` is the
//! tree leaf `(SHA-256(key), SHA-256(value))`; the root over all leaves is the header's
//! `state_root`.

use crate::{StateError, proof::StateProof};
use jmt::{
    JellyfishMerkleTree, KeyHash, RootHash,
    storage::{TreeReader, TreeUpdateBatch},
};
use medchain_types::Hash32;
use std::collections::BTreeMap;

/// The tree's hash function (SHA-256, the `sha2` crate that `jmt` is built on).
pub type TreeHasher = sha2::Sha256;

type Tree<'a, R> = JellyfishMerkleTree<'a, R, TreeHasher>;

/// Where a state key lives in the tree.
pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<TreeHasher>(key)
}

pub(crate) fn to_hash32(root: RootHash) -> Hash32 {
    Hash32::from(root.0)
}

/// Applies one block's writes as tree version `version` on top of version `version - 1`
/// (which `reader` must hold), in one `jmt` call per block.
///
/// Without deletions (only lifting a revocation deletes) it uses `jmt`'s sorted batch insert, which
/// builds and hashes each touched node once; per-key insertion rehashes the whole path for
/// every key, several times slower on large blocks. Both give the same root.
pub(crate) fn apply_writes<R: TreeReader>(
    reader: &R,
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    version: u64,
) -> Result<(Hash32, TreeUpdateBatch), StateError> {
    let inserts: Option<Vec<(KeyHash, Vec<u8>)>> = writes
        .iter()
        .map(|(key, value)| value.clone().map(|value| (key_hash(key), value)))
        .collect();
    match inserts {
        Some(inserts) if !inserts.is_empty() => batch_insert(reader, inserts, version),
        _ => put_each(reader, writes, version),
    }
}

fn batch_insert<R: TreeReader>(
    reader: &R,
    inserts: Vec<(KeyHash, Vec<u8>)>,
    version: u64,
) -> Result<(Hash32, TreeUpdateBatch), StateError> {
    let (roots, batch) = Tree::new(reader)
        .batch_put_value_sets(vec![inserts], None, version)
        .map_err(StateError::tree)?;
    let root = roots
        .first()
        .copied()
        .ok_or_else(|| StateError::Tree("batch insert returned no root".into()))?;
    Ok((to_hash32(root), batch))
}

fn put_each<R: TreeReader>(
    reader: &R,
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    version: u64,
) -> Result<(Hash32, TreeUpdateBatch), StateError> {
    let value_set = writes
        .iter()
        .map(|(key, value)| (key_hash(key), value.clone()));
    let (root, batch) = Tree::new(reader)
        .put_value_set(value_set, version)
        .map_err(StateError::tree)?;
    Ok((to_hash32(root), batch))
}

/// The state root at `version`; an error if that version is unknown or pruned.
pub fn root_at<R: TreeReader>(reader: &R, version: u64) -> Result<Hash32, StateError> {
    Tree::new(reader)
        .get_root_hash(version)
        .map(to_hash32)
        .map_err(StateError::tree)
}

/// Reads `key` at `version` with a proof of its value, or of its absence.
///
/// A node the reader cannot load (a damaged row on disk) is an error, never a crash: `jmt` 0.12
/// unwraps some reader errors while it collects a proof's siblings, so its panic is caught here
/// and returned as [`StateError::Tree`] — one bad row must not take down a node's query API.
pub fn prove<R: TreeReader>(
    reader: &R,
    key: &[u8],
    version: u64,
) -> Result<(Option<Vec<u8>>, StateProof), StateError> {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tree::new(reader).get_with_proof(key_hash(key), version)
    }))
    .map_err(|_| {
        StateError::Tree(format!(
            "the tree at version {version} cannot be read: a node is damaged or missing"
        ))
    })?;
    let (value, proof) = read.map_err(StateError::tree)?;
    Ok((value, StateProof::from(proof)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExecutedBlock, MemoryStore};
    use proptest::prelude::*;

    fn commit(
        store: &mut MemoryStore,
        version: u64,
        root: Hash32,
        tree_batch: TreeUpdateBatch,
        writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) {
        store
            .commit(&ExecutedBlock {
                height: version,
                timestamp_ms: 0,
                writes,
                tree_batch,
                state_root: root,
                receipts_root: medchain_types::receipts_root(&[]),
                events: vec![],
                checkpoint_events: vec![],
            })
            .unwrap();
    }

    /// A reader whose every node below the root fails to load, as a damaged row on disk does.
    struct DamagedBelowRoot<'a>(&'a MemoryStore);

    impl TreeReader for DamagedBelowRoot<'_> {
        fn get_node_option(
            &self,
            node_key: &jmt::storage::NodeKey,
        ) -> anyhow::Result<Option<jmt::storage::Node>> {
            match node_key.nibble_path().num_nibbles() {
                0 => self.0.get_node_option(node_key),
                _ => anyhow::bail!("corrupt tree node"),
            }
        }

        fn get_value_option(
            &self,
            max_version: jmt::Version,
            key_hash: KeyHash,
        ) -> anyhow::Result<Option<jmt::OwnedValue>> {
            self.0.get_value_option(max_version, key_hash)
        }

        fn get_rightmost_leaf(
            &self,
        ) -> anyhow::Result<Option<(jmt::storage::NodeKey, jmt::storage::LeafNode)>> {
            self.0.get_rightmost_leaf()
        }
    }

    #[test]
    fn a_damaged_node_is_an_error_not_a_panic() {
        let mut store = MemoryStore::new();
        let writes: BTreeMap<_, _> = (0u16..64)
            .map(|key| (key.to_be_bytes().to_vec(), Some(vec![1])))
            .collect();
        let (root, batch) = apply_writes(&store, &writes, 0).unwrap();
        commit(&mut store, 0, root, batch, writes);
        assert!(prove(&store, &7u16.to_be_bytes(), 0).is_ok());
        for key in [7u16, 1_000] {
            let err = prove(&DamagedBelowRoot(&store), &key.to_be_bytes(), 0).unwrap_err();
            assert!(matches!(err, StateError::Tree(_)), "{err}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// The batch path and the per-key path agree on every root, version after version,
        /// and deletions (per-key only) work on top of batch-built versions.
        #[test]
        fn batch_and_per_key_insertion_agree(
            blocks in proptest::collection::vec(
                proptest::collection::btree_map(0u16..300, any::<u8>(), 1..40), 1..5),
            deleted in proptest::collection::btree_set(0u16..300, 1..10),
        ) {
            let (mut batched, mut each) = (MemoryStore::new(), MemoryStore::new());
            for (version, block) in blocks.iter().enumerate() {
                let writes: BTreeMap<_, _> = block
                    .iter()
                    .map(|(key, value)| (key.to_be_bytes().to_vec(), Some(vec![*value])))
                    .collect();
                let inserts = writes.iter().map(|(k, v)| (key_hash(k), v.clone().unwrap_or_default())).collect();
                let (root_a, batch_a) = batch_insert(&batched, inserts, version as u64).unwrap();
                let (root_b, batch_b) = put_each(&each, &writes, version as u64).unwrap();
                prop_assert_eq!(root_a, root_b);
                commit(&mut batched, version as u64, root_a, batch_a, writes.clone());
                commit(&mut each, version as u64, root_b, batch_b, writes);
            }
            let version = blocks.len() as u64;
            let deletes: BTreeMap<_, _> = deleted.iter().map(|key| (key.to_be_bytes().to_vec(), None)).collect();
            let (root_a, _) = apply_writes(&batched, &deletes, version).unwrap();
            let (root_b, _) = apply_writes(&each, &deletes, version).unwrap();
            prop_assert_eq!(root_a, root_b);
        }
    }
}
