//! The MED chain's durable part (redb): every Mblock of the tree and the newest checkpointed
//! Mblock, so a miner restarted from disk rebuilds the same tree, best tip and checkpoint
//! ([`crate::chain::MedChain::open`]).
//!
//! | table | key | value |
//! |---|---|---|
//! | `mblocks` | Mblock hash (32) | encoded [`Mblock`] |
//! | `meta` | `checkpointed` | hash of the newest checkpointed Mblock (32) |
//! | `meta` | `best` | hash of the best tip (32): among equal work, the first seen stays best |
//!
//! Pruned forks (a checkpoint) and evicted side Mblocks (the fork cap) are deleted.

use crate::MedError;
use commonware_codec::{Copying, DecodeExt, Encode};
use medchain_types::{Hash32, med::Mblock};
use redb::{
    Builder, Database, ReadableDatabase as _, ReadableTable as _, TableDefinition,
    backends::InMemoryBackend,
};
use std::{path::Path, sync::Arc};

type Bytes = TableDefinition<'static, &'static [u8], &'static [u8]>;
const MBLOCKS: Bytes = TableDefinition::new("mblocks");
const META: Bytes = TableDefinition::new("meta");
const CHECKPOINTED: &[u8] = b"checkpointed";
const BEST: &[u8] = b"best";

/// The MED chain's database. Clones share it, so a simulated miner can "restart" on the same
/// in-memory handle.
#[derive(Clone)]
pub struct MedStore {
    db: Arc<Database>,
}

impl MedStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MedError> {
        Self::init(Database::create(path).map_err(database)?)
    }

    /// A database in memory (tests, simulations): it lives as long as a clone does.
    pub fn in_memory() -> Result<Self, MedError> {
        let db = Builder::new()
            .create_with_backend(InMemoryBackend::new())
            .map_err(database)?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<Self, MedError> {
        // Both tables exist from the start, so read transactions never meet a missing one.
        let txn = db.begin_write().map_err(database)?;
        for table in [MBLOCKS, META] {
            txn.open_table(table).map_err(database)?;
        }
        txn.commit().map_err(database)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Stores `block` under its hash and, when it becomes the best tip, records that too
    /// (atomically, so a restart never sees a best tip it does not have).
    pub(crate) fn put_block(
        &self,
        hash: &Hash32,
        block: &Mblock,
        new_best: bool,
    ) -> Result<(), MedError> {
        let txn = self.db.begin_write().map_err(database)?;
        txn.open_table(MBLOCKS)
            .map_err(database)?
            .insert(hash.as_ref(), block.encode().as_ref())
            .map_err(database)?;
        if new_best {
            txn.open_table(META)
                .map_err(database)?
                .insert(BEST, hash.as_ref())
                .map_err(database)?;
        }
        txn.commit().map_err(database)?;
        Ok(())
    }

    /// Deletes the Mblocks `hashes` (evicted forks), atomically.
    pub(crate) fn remove_blocks(&self, hashes: &[Hash32]) -> Result<(), MedError> {
        let txn = self.db.begin_write().map_err(database)?;
        remove(&txn, hashes)?;
        txn.commit().map_err(database)?;
        Ok(())
    }

    /// The Mblock stored under `hash` (a read transaction of its own: a clone of the store
    /// reads without the tree's lock).
    pub fn block(&self, hash: &Hash32) -> Result<Option<Mblock>, MedError> {
        let txn = self.db.begin_read().map_err(database)?;
        let table = txn.open_table(MBLOCKS).map_err(database)?;
        let Some(value) = table.get(hash.as_ref()).map_err(database)? else {
            return Ok(None);
        };
        decode_block(value.value()).map(Some)
    }

    /// Every stored Mblock, in no particular order.
    pub(crate) fn blocks(&self) -> Result<Vec<Mblock>, MedError> {
        let txn = self.db.begin_read().map_err(database)?;
        let table = txn.open_table(MBLOCKS).map_err(database)?;
        let mut blocks = Vec::new();
        for row in table.iter().map_err(database)? {
            let (_, value) = row.map_err(database)?;
            blocks.push(decode_block(value.value())?);
        }
        Ok(blocks)
    }

    /// The newest checkpointed Mblock, if one was ever recorded.
    pub(crate) fn checkpointed(&self) -> Result<Option<Hash32>, MedError> {
        self.meta_hash(CHECKPOINTED)
    }

    /// The best tip last recorded.
    pub(crate) fn best(&self) -> Result<Option<Hash32>, MedError> {
        self.meta_hash(BEST)
    }

    fn meta_hash(&self, key: &[u8]) -> Result<Option<Hash32>, MedError> {
        let txn = self.db.begin_read().map_err(database)?;
        let table = txn.open_table(META).map_err(database)?;
        let Some(value) = table.get(key).map_err(database)? else {
            return Ok(None);
        };
        let bytes = <[u8; 32]>::try_from(value.value()).map_err(|_| {
            MedError::Corrupt(format!(
                "meta `{}` is not a 32-byte hash",
                String::from_utf8_lossy(key)
            ))
        })?;
        Ok(Some(Hash32::from(bytes)))
    }

    /// Records a new checkpointed Mblock and the best tip after it, and deletes the Mblocks
    /// it prunes, atomically.
    pub(crate) fn checkpoint(
        &self,
        tip: &Hash32,
        best: &Hash32,
        pruned: &[Hash32],
    ) -> Result<(), MedError> {
        let txn = self.db.begin_write().map_err(database)?;
        remove(&txn, pruned)?;
        {
            let mut meta = txn.open_table(META).map_err(database)?;
            meta.insert(CHECKPOINTED, tip.as_ref()).map_err(database)?;
            meta.insert(BEST, best.as_ref()).map_err(database)?;
        }
        txn.commit().map_err(database)?;
        Ok(())
    }
}

/// Deletes the Mblocks `hashes` within `txn`.
fn remove(txn: &redb::WriteTransaction, hashes: &[Hash32]) -> Result<(), MedError> {
    let mut blocks = txn.open_table(MBLOCKS).map_err(database)?;
    for hash in hashes {
        blocks.remove(hash.as_ref()).map_err(database)?;
    }
    Ok(())
}

fn database(error: impl Into<redb::Error>) -> MedError {
    MedError::Database(error.into())
}

fn decode_block(bytes: &[u8]) -> Result<Mblock, MedError> {
    Mblock::decode(Copying(bytes)).map_err(|error| MedError::Corrupt(format!("an Mblock: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes raw bytes under `key` in `table`, as a damaged file would hold them.
    fn damage(store: &MedStore, table: Bytes, key: &[u8], value: &[u8]) {
        let txn = store.db.begin_write().unwrap();
        txn.open_table(table).unwrap().insert(key, value).unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn damaged_rows_are_reported_as_corrupt_not_skipped() {
        let store = MedStore::in_memory().unwrap();
        assert!(store.blocks().unwrap().is_empty());
        assert_eq!(store.checkpointed().unwrap(), None);

        damage(&store, MBLOCKS, &[1; 32], b"not an Mblock");
        assert!(matches!(store.blocks(), Err(MedError::Corrupt(_))));
        assert!(matches!(
            store.block(&Hash32::from([1; 32])),
            Err(MedError::Corrupt(_))
        ));
        damage(&store, META, CHECKPOINTED, &[1; 31]);
        assert!(matches!(store.checkpointed(), Err(MedError::Corrupt(_))));
    }
}
