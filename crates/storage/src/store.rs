//! [`Store`]: opening the database, committing blocks, and the queries the API serves.

use crate::{
    CommitBatch, CommitOutcome, LastApplied, Snapshot, StorageError, TxLocation,
    commit::{self, Position},
    snapshot::StateTables,
    tables,
};
use commonware_codec::{Copying, Decode};
use medchain_state::{
    ProvenValue, StateReadExt, key_hash, keys, prove, root_at, values::AccessLogEntry,
};
use medchain_types::{
    Address, Block, Hash32, Receipt, ReceiptProof, TxId, decode_events, receipts_tree,
};
use redb::{
    Builder, Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, WriteTransaction, backends::InMemoryBackend,
};
use std::{num::NonZeroU64, path::Path, sync::Arc};

/// How many recent tree versions (heights) keep their nodes, so proofs at those heights work.
pub const DEFAULT_KEEP_VERSIONS: NonZeroU64 = NonZeroU64::new(64).unwrap();

/// The layout of the tables, recorded in a new store and checked at every open: a build opens
/// only stores of its own number. Bump it with any change an existing store's rows do not
/// follow. 1: superseded values listed for pruning in `state_history_expiry`, the pruning
/// horizon in `meta`.
pub const STORAGE_FORMAT: u64 = 1;

/// Most access log entries one query returns.
pub const MAX_LOG_PAGE: usize = 1_000;

/// Store settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Heights whose state stays provable (the newest one included); older tree nodes are
    /// pruned as new blocks commit.
    pub keep_versions: NonZeroU64,
    /// Bytes of redb's page cache (read cache and write buffer), allocated as pages are
    /// touched and kept up to this size.
    pub cache_bytes: usize,
}

/// The page cache of a store by default. redb's own default (1 GiB) is per database, so a
/// validator's resident memory grew with its file; the storage bench (10,000-transaction
/// blocks, 113k → 305k keys) spends 1–3 µs more per transaction committing with 256 MiB than
/// with 1 GiB, and 5–7 µs more with 64 MiB (docs/benchmarks.md, issue 14).
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            keep_versions: DEFAULT_KEEP_VERSIONS,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// Entry counts per table, for metrics and to watch pruning work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Latest state values.
    pub state_entries: u64,
    /// Superseded state values kept for proofs at recent heights.
    pub history_values: u64,
    /// Authenticated tree nodes (all retained versions).
    pub tree_nodes: u64,
    /// Versions whose stale tree nodes await pruning.
    pub stale_versions: u64,
    /// Committed blocks.
    pub blocks: u64,
    /// Stored receipts.
    pub receipts: u64,
}

/// One access log entry and its position in the patient's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Sequence number (from 0); the entry is provable under
    /// `medchain_state::keys::access_log_entry(patient, seq)`.
    pub seq: u64,
    /// The entry.
    pub entry: AccessLogEntry,
}

/// The node's durable application data. Cheap to clone (an `Arc`); usable from several
/// threads (redb serialises writers and gives readers consistent snapshots).
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    options: StoreOptions,
}

impl Store {
    /// Opens (or creates) the database file at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens (or creates) the database file at `path`.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StorageError> {
        let db = Builder::new()
            .set_cache_size(options.cache_bytes)
            .create(path)?;
        Self::init(db, options)
    }

    /// A database in memory, for deterministic simulations: it lives as long as a clone of
    /// the `Store` does, so a simulated node can "restart" on the same handle.
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::in_memory_with(StoreOptions::default())
    }

    /// [`Self::in_memory`] with options.
    pub fn in_memory_with(options: StoreOptions) -> Result<Self, StorageError> {
        Self::init(
            Builder::new()
                .set_cache_size(options.cache_bytes)
                .create_with_backend(InMemoryBackend::new())?,
            options,
        )
    }

    fn init(db: Database, options: StoreOptions) -> Result<Self, StorageError> {
        // Create every table up front so read transactions never meet a missing one.
        let txn = durable_write(&db)?;
        for table in tables::ALL {
            txn.open_table(table)?;
        }
        // On a refusal `txn` drops uncommitted: the file stays as it was.
        check_format(&txn)?;
        txn.commit()?;
        Ok(Self {
            db: Arc::new(db),
            options,
        })
    }

    /// The options in force.
    pub fn options(&self) -> StoreOptions {
        self.options
    }

    /// Bytes redb holds in its page cache now. Counted only when redb's `cache_metrics`
    /// feature is on (this crate's tests turn it on); 0 otherwise.
    pub fn page_cache_bytes(&self) -> usize {
        self.db.cache_stats().used_bytes()
    }

    /// Commits a finalized block in one durable write transaction: state writes, tree nodes
    /// and values, pruning, receipts, the tx index, the block by height and digest, its
    /// finalization, and `last_applied`.
    ///
    /// Idempotent: a block already committed at its height returns `AlreadyCommitted`; a
    /// different block at a committed height is a `Conflict` and nothing is overwritten.
    /// Otherwise the block must be the next height and a child of the last committed block.
    /// On any error nothing is written. The same as [`Self::commit_group`] of one batch.
    pub fn commit(&self, batch: CommitBatch<'_>) -> Result<CommitOutcome, StorageError> {
        let mut outcomes = self.commit_group(&[batch])?;
        outcomes
            .pop()
            .ok_or_else(|| StorageError::Mismatch("a group of one gave no outcome".into()))
    }

    /// Commits several finalized blocks, in order, in ONE durable write transaction: the
    /// same outcomes as [`Self::commit`] on each batch in turn (already committed leading
    /// blocks give `AlreadyCommitted`, the others must follow contiguously), but one fsync
    /// for all of them, and all-or-nothing: on any error the store is exactly as before.
    /// Each batch's execution may rest on the previous batch's (an `Overlay`).
    pub fn commit_group(
        &self,
        batches: &[CommitBatch<'_>],
    ) -> Result<Vec<CommitOutcome>, StorageError> {
        for batch in batches {
            commit::check_batch(batch)?;
        }
        let txn = durable_write(&self.db)?;
        let mut outcomes = Vec::with_capacity(batches.len());
        // On error `txn` drops uncommitted, which aborts it.
        for batch in batches {
            let outcome = match commit::position(&txn, batch.block)? {
                Position::Committed => CommitOutcome::AlreadyCommitted,
                Position::Next => {
                    commit::write(&txn, batch, self.options.keep_versions.get())?;
                    CommitOutcome::Committed
                }
            };
            outcomes.push(outcome);
        }
        match outcomes.contains(&CommitOutcome::Committed) {
            true => txn.commit()?,
            false => txn.abort()?,
        }
        Ok(outcomes)
    }

    /// Whether the block with `digest` is committed at `height`: `true` if so, `false` if
    /// `height` is not committed yet, `Conflict` if another block is. Lets a node acknowledge
    /// a redelivered block without executing it again.
    pub fn is_committed(&self, height: u64, digest: &Hash32) -> Result<bool, StorageError> {
        let txn = self.db.begin_read()?;
        match last_applied_in(&txn.open_table(tables::META)?)? {
            Some(last) if height <= last.height => {
                let committed = commit::committed_digest(&txn.open_table(tables::BLOCKS)?, height)?;
                match committed == *digest {
                    true => Ok(true),
                    false => Err(StorageError::conflict(height, &committed, digest)),
                }
            }
            _ => Ok(false),
        }
    }

    /// A consistent view of the last commit, for executing (and speculating) on.
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        Snapshot::new(&self.db.begin_read()?)
    }

    /// The last committed block; `None` before genesis is committed.
    pub fn last_applied(&self) -> Result<Option<LastApplied>, StorageError> {
        last_applied_in(&self.read()?.open_table(tables::META)?)
    }

    /// The lowest height whose state is still provable.
    pub fn oldest_provable_height(&self) -> Result<Option<u64>, StorageError> {
        let txn = self.read()?;
        let meta = txn.open_table(tables::META)?;
        let Some(last) = last_applied_in(&meta)? else {
            return Ok(None);
        };
        Ok(Some(
            self.oldest_provable(last.height, pruned_below_in(&meta)?),
        ))
    }

    /// The newest `keep_versions` heights, but none below the last pruning's horizon: a store
    /// pruned with a shorter window than the one it is opened with has lost the heights in
    /// between, until the longer window has moved past them.
    fn oldest_provable(&self, last: u64, pruned_below: u64) -> u64 {
        (last + 1)
            .saturating_sub(self.options.keep_versions.get())
            .max(pruned_below)
    }

    /// The latest value of a state key, without proof.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.read()?;
        StateTables::open(|table| txn.open_table(table))?.latest(&key_hash(key))
    }

    /// The latest value of `key` (or its absence) with a proof against the last committed
    /// state root.
    pub fn get_proven(&self, key: &[u8]) -> Result<ProvenValue, StorageError> {
        let snapshot = self.snapshot()?;
        let last = *snapshot.last_applied().ok_or(StorageError::Empty)?;
        let (value, proof) = prove(&snapshot, key, last.height)?;
        Ok(ProvenValue {
            height: last.height,
            state_root: last.state_root,
            key: key.to_vec(),
            value,
            proof,
        })
    }

    /// The value of `key` (or its absence) at a recent `height` (within the retention
    /// window), with a proof against that height's state root.
    pub fn get_proven_at(&self, key: &[u8], height: u64) -> Result<ProvenValue, StorageError> {
        let snapshot = self.snapshot()?;
        let last = *snapshot.last_applied().ok_or(StorageError::Empty)?;
        if height > last.height {
            return Err(StorageError::NotCommitted {
                height,
                last: last.height,
            });
        }
        let oldest = self.oldest_provable(last.height, snapshot.pruned_below);
        if height < oldest {
            return Err(StorageError::Pruned { height, oldest });
        }
        let (value, proof) = prove(&snapshot, key, height)?;
        Ok(ProvenValue {
            height,
            state_root: root_at(&snapshot, height)?,
            key: key.to_vec(),
            value,
            proof,
        })
    }

    /// Keeps the proof of `key` at `height` for good, out of reach of pruning, and returns it:
    /// for the few proofs a light client needs long after the retention window has moved on
    /// (the node pins each epoch's next validator set at the epoch's last block). `height`
    /// must still be provable ([`Self::get_proven_at`]); pinning again is a no-op.
    pub fn pin_proof(&self, key: &[u8], height: u64) -> Result<ProvenValue, StorageError> {
        if let Some(pinned) = self.pinned_proof(key, height)? {
            return Ok(pinned);
        }
        // The proof is taken from a snapshot and checks itself, so a commit landing between
        // the read and the write below cannot make it wrong.
        let proven = self.get_proven_at(key, height)?;
        let txn = durable_write(&self.db)?;
        txn.open_table(tables::PINNED_PROOFS)?.insert(
            tables::pin_key(height, key).as_slice(),
            proven.to_bytes().as_slice(),
        )?;
        txn.commit()?;
        Ok(proven)
    }

    /// The proof of `key` at `height` kept by [`Self::pin_proof`], if it was pinned.
    pub fn pinned_proof(
        &self,
        key: &[u8],
        height: u64,
    ) -> Result<Option<ProvenValue>, StorageError> {
        let txn = self.read()?;
        let pinned = txn.open_table(tables::PINNED_PROOFS)?;
        pinned
            .get(tables::pin_key(height, key).as_slice())?
            .map(|bytes| {
                ProvenValue::from_bytes(bytes.value())
                    .map_err(|e| StorageError::corrupt("pinned proof", e))
            })
            .transpose()
    }

    /// The receipt of a committed transaction.
    pub fn receipt(&self, tx: &TxId) -> Result<Option<Receipt>, StorageError> {
        let txn = self.read()?;
        let receipts = txn.open_table(tables::RECEIPTS)?;
        receipts
            .get(tx.as_bytes())?
            .map(|row| decode_receipt(tx, row.value()))
            .transpose()
    }

    /// The receipt of a committed transaction with the Merkle proof that it is leaf
    /// `receipt.index` of its block's `receipts_root` (issue 7 §2). Rebuilds the block's
    /// receipts tree from the stored receipts, in one read transaction.
    pub fn receipt_with_proof(
        &self,
        tx: &TxId,
    ) -> Result<Option<(Receipt, ReceiptProof)>, StorageError> {
        let txn = self.read()?;
        let receipts = txn.open_table(tables::RECEIPTS)?;
        let Some(row) = receipts.get(tx.as_bytes())? else {
            return Ok(None);
        };
        let receipt = decode_receipt(tx, row.value())?;
        let block = txn
            .open_table(tables::BLOCKS)?
            .get(receipt.height.to_be_bytes().as_slice())?
            .map(|bytes| decode_block(bytes.value()))
            .transpose()?
            .ok_or_else(|| StorageError::Mismatch(format!("no block {}", receipt.height)))?;
        let mut leaves = Vec::with_capacity(block.tx_ids().len());
        for id in block.tx_ids() {
            let row = receipts
                .get(id.as_bytes())?
                .ok_or_else(|| StorageError::Mismatch(format!("no receipt for {id}")))?;
            leaves.push(decode_receipt(id, row.value())?.leaf());
        }
        let proof = receipts_tree(&leaves)
            .proof(receipt.index)
            .map_err(|e| StorageError::Mismatch(format!("receipt proof: {e}")))?;
        Ok(Some((receipt, proof)))
    }

    /// Where a committed transaction is.
    pub fn tx_location(&self, tx: &TxId) -> Result<Option<TxLocation>, StorageError> {
        let txn = self.read()?;
        let receipts = txn.open_table(tables::RECEIPTS)?;
        receipts
            .get(tx.as_bytes())?
            .map(|row| TxLocation::from_bytes(row.value()))
            .transpose()
    }

    /// The committed block at `height`.
    pub fn block_by_height(&self, height: u64) -> Result<Option<Block>, StorageError> {
        let txn = self.read()?;
        let blocks = txn.open_table(tables::BLOCKS)?;
        blocks
            .get(height.to_be_bytes().as_slice())?
            .map(|bytes| decode_block(bytes.value()))
            .transpose()
    }

    /// The committed block with this digest.
    pub fn block_by_digest(&self, digest: &Hash32) -> Result<Option<Block>, StorageError> {
        let txn = self.read()?;
        let height = txn
            .open_table(tables::BLOCK_DIGESTS)?
            .get(digest.as_ref())?
            .map(|bytes| tables::u64_at(bytes.value(), "block digest index"))
            .transpose()?;
        drop(txn);
        match height {
            Some(height) => self.block_by_height(height),
            None => Ok(None),
        }
    }

    /// The finalization certificate stored with the block at `height`.
    pub fn finalization(&self, height: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.read()?;
        let finalizations = txn.open_table(tables::FINALIZATIONS)?;
        Ok(finalizations
            .get(height.to_be_bytes().as_slice())?
            .map(|bytes| bytes.value().to_vec()))
    }

    /// Up to `limit` (at most [`MAX_LOG_PAGE`]) entries of `patient`'s access log, from
    /// sequence number `from_seq` on, in order. Each is provable with
    /// [`Self::get_proven`] on `keys::access_log_entry(patient, seq)`.
    pub fn access_log(
        &self,
        patient: &Address,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, StorageError> {
        let snapshot = self.snapshot()?;
        let len = snapshot.value(&keys::access_log_len(patient))?.unwrap_or(0);
        let end = len.min(from_seq.saturating_add(limit.min(MAX_LOG_PAGE) as u64));
        (from_seq..end)
            .map(|seq| {
                let entry = snapshot
                    .value(&keys::access_log_entry(patient, seq))?
                    .ok_or_else(|| {
                        StorageError::corrupt("access log", format!("entry {seq} missing"))
                    })?;
                Ok(LogEntry { seq, entry })
            })
            .collect()
    }

    /// Up to `limit` ids of committed transactions between `low` and `high` (inclusive), in
    /// ascending order (none if `low > high`): the transaction index scanned as a range, to
    /// resolve the first hex digits of an id that a user typed. Unproven; a client verifies
    /// the id it picks.
    pub fn tx_ids_between(
        &self,
        low: &[u8; 32],
        high: &[u8; 32],
        limit: usize,
    ) -> Result<Vec<TxId>, StorageError> {
        if low > high {
            return Ok(Vec::new());
        }
        let txn = self.read()?;
        let receipts = txn.open_table(tables::RECEIPTS)?;
        let mut ids = Vec::new();
        for row in receipts
            .range(low.as_slice()..=high.as_slice())?
            .take(limit)
        {
            let hash = tables::hash_at(row?.0.value(), "receipt key")?;
            ids.push(TxId(hash));
        }
        Ok(ids)
    }

    /// Entry counts per table.
    pub fn stats(&self) -> Result<StoreStats, StorageError> {
        let txn = self.read()?;
        let count = |table| -> Result<u64, StorageError> { Ok(txn.open_table(table)?.len()?) };
        Ok(StoreStats {
            state_entries: count(tables::STATE)?,
            history_values: count(tables::STATE_HISTORY)?,
            tree_nodes: count(tables::TREE_NODES)?,
            stale_versions: count(tables::TREE_STALE)?,
            blocks: count(tables::BLOCKS)?,
            receipts: count(tables::RECEIPTS)?,
        })
    }

    fn read(&self) -> Result<ReadTransaction, StorageError> {
        Ok(self.db.begin_read()?)
    }
}

pub(crate) fn last_applied_in(
    meta: &impl ReadableTable<tables::Bytes, tables::Bytes>,
) -> Result<Option<LastApplied>, StorageError> {
    meta.get(tables::LAST_APPLIED)?
        .map(|bytes| LastApplied::from_bytes(bytes.value()))
        .transpose()
}

/// The oldest version the last pruning kept (0 before any pruning): versions below it have
/// lost tree nodes, whatever window the store is opened with now.
pub(crate) fn pruned_below_in(
    meta: &impl ReadableTable<tables::Bytes, tables::Bytes>,
) -> Result<u64, StorageError> {
    Ok(meta
        .get(tables::PRUNED_BELOW)?
        .map(|bytes| tables::read_meta_number(bytes.value(), "pruning horizon"))
        .transpose()?
        .unwrap_or(0))
}

/// Records [`STORAGE_FORMAT`] in a new store (no rows in any table) and refuses a store in
/// another format, or with data but no number: one written before the number existed, whose
/// superseded values no expiry list names, so pruning would never delete them.
fn check_format(txn: &WriteTransaction) -> Result<(), StorageError> {
    let found = txn
        .open_table(tables::META)?
        .get(tables::FORMAT)?
        .map(|bytes| tables::read_meta_number(bytes.value(), "storage format"))
        .transpose()?;
    match found {
        Some(STORAGE_FORMAT) => Ok(()),
        None if !holds_data(txn)? => {
            txn.open_table(tables::META)?
                .insert(tables::FORMAT, STORAGE_FORMAT.to_be_bytes().as_slice())?;
            Ok(())
        }
        found => Err(StorageError::Format {
            found,
            expected: STORAGE_FORMAT,
        }),
    }
}

fn holds_data(txn: &WriteTransaction) -> Result<bool, StorageError> {
    for table in tables::ALL {
        if !txn.open_table(table)?.is_empty()? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn decode_block(bytes: &[u8]) -> Result<Block, StorageError> {
    Block::decode_cfg(Copying(bytes), &()).map_err(|e| StorageError::corrupt("block", e))
}

/// A `receipts` row: location, then the canonically encoded events.
fn decode_receipt(tx: &TxId, row: &[u8]) -> Result<Receipt, StorageError> {
    let location = TxLocation::from_bytes(row)?;
    let events =
        decode_events(&row[TxLocation::SIZE..]).map_err(|e| StorageError::corrupt("receipt", e))?;
    Ok(Receipt {
        tx: *tx,
        height: location.height,
        index: location.index,
        events,
    })
}

/// A write transaction that is durable when it commits (fsync) and that saves redb's allocator
/// state with it (`quick_repair`), so that reopening after a crash — `kill -9` mid-commit —
/// takes milliseconds instead of a repair that walks the whole file: 10–27 s at a million
/// transactions of history (storage `restart` bench), longer than a validator may stay away.
/// The cost is a second fsync per commit, shared by every block of a group.
fn durable_write(db: &Database) -> Result<WriteTransaction, StorageError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StorageError::Database(e.into()))?;
    txn.set_quick_repair(true);
    Ok(txn)
}
