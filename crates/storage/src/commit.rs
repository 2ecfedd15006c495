//! Committing a finalized block: everything in ONE redb write transaction, durable when
//! `commit` returns, so the state on disk always matches `last_applied` (issue 2: "the state
//! commit is atomic with the height it reflects").

use crate::{
    LastApplied, StorageError, TxLocation,
    error::hex,
    snapshot::StateTables,
    store::last_applied_in,
    tables::{self, Def, encode_node_into, node_key},
};
use commonware_codec::{Copying, Encode, FixedSize, ReadExt};
use medchain_state::{ExecutedBlock, root_at};
use medchain_types::{Block, Hash32, Header, encode_events};
use redb::{ReadableTable, Table, WriteTransaction};
use std::collections::BTreeMap;

/// Heights between two prunings. The stale nodes and values of one version sit at random
/// places in their tables, so deleting them dirties a page per entry; deleting several
/// versions' worth at once shares those pages (and their writes at commit).
pub const PRUNE_EVERY: u64 = 8;

/// A finalized block to commit: the block, the result of executing it, and the
/// finalization certificate the node holds for it (kept opaque, for light clients).
#[derive(Clone, Copy, Debug)]
pub struct CommitBatch<'a> {
    /// The block (its header's height, parent, state root and transactions are checked
    /// against the store and `executed`).
    pub block: &'a Block,
    /// What executing it produced.
    pub executed: &'a ExecutedBlock,
    /// Its finalization certificate, if the node has one (block 0 has none).
    pub finalization: Option<&'a [u8]>,
}

/// What [`crate::Store::commit`] (or one batch of [`crate::Store::commit_group`]) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The block is now the last committed one.
    Committed,
    /// The same block was already committed at this height: nothing changed.
    AlreadyCommitted,
}

/// Checks that `batch.executed` is the execution of `batch.block`, before touching the database.
pub(crate) fn check_batch(batch: &CommitBatch<'_>) -> Result<(), StorageError> {
    let header = batch.block.header();
    let executed = batch.executed;
    if header.height != executed.height {
        return Err(StorageError::Mismatch(format!(
            "block height {} but executed height {}",
            header.height, executed.height
        )));
    }
    if header.state_root != executed.state_root {
        return Err(StorageError::Mismatch(format!(
            "header state root {} but executed root {}",
            hex(&header.state_root),
            hex(&executed.state_root)
        )));
    }
    let executed_ids = executed.events.iter().map(|(id, _)| id);
    if !executed_ids.eq(batch.block.tx_ids()) {
        return Err(StorageError::Mismatch(
            "the executed transactions are not the block's".into(),
        ));
    }
    Ok(())
}

/// Where the block stands against what is committed.
pub(crate) enum Position {
    /// It is the next block.
    Next,
    /// It is already committed.
    Committed,
}

pub(crate) fn position(txn: &WriteTransaction, block: &Block) -> Result<Position, StorageError> {
    let header = block.header();
    let digest = header.digest();
    let Some(last) = last_applied_in(&txn.open_table(tables::META)?)? else {
        return match header.height {
            0 => Ok(Position::Next),
            got => Err(StorageError::NotContiguous { expected: 0, got }),
        };
    };
    if header.height <= last.height {
        let committed = committed_digest(&txn.open_table(tables::BLOCKS)?, header.height)?;
        return match committed == digest {
            true => Ok(Position::Committed),
            false => Err(StorageError::conflict(header.height, &committed, &digest)),
        };
    }
    if header.height != last.height + 1 {
        return Err(StorageError::NotContiguous {
            expected: last.height + 1,
            got: header.height,
        });
    }
    if header.parent != last.block_digest {
        return Err(StorageError::NotAChild {
            expected: hex(&last.block_digest),
            got: hex(&header.parent),
        });
    }
    Ok(Position::Next)
}

/// The digest of the committed block at `height`, from its stored header.
pub(crate) fn committed_digest(
    blocks: &impl ReadableTable<tables::Bytes, tables::Bytes>,
    height: u64,
) -> Result<Hash32, StorageError> {
    let bytes = blocks
        .get(height.to_be_bytes().as_slice())?
        .ok_or_else(|| {
            StorageError::corrupt("blocks", format!("no block at committed height {height}"))
        })?;
    let header_bytes = bytes
        .value()
        .get(..Header::SIZE)
        .ok_or_else(|| StorageError::corrupt("block", "shorter than a header"))?;
    let header = Header::read(&mut Copying(header_bytes))
        .map_err(|e| StorageError::corrupt("block header", e))?;
    Ok(header.digest())
}

/// Writes the whole batch into `txn`, prunes tree versions older than `keep_versions`, then
/// checks that the stored tree's root at the new height is the block's state root.
pub(crate) fn write(
    txn: &WriteTransaction,
    batch: &CommitBatch<'_>,
    keep_versions: u64,
) -> Result<(), StorageError> {
    let executed = batch.executed;
    let mut state = StateTables::open(|table| txn.open_table(table))?;
    write_values(txn, &mut state, executed)?;
    write_nodes(&mut state.nodes, executed)?;
    write_stale(txn, executed)?;
    prune(txn, &mut state, executed.height, keep_versions)?;
    verify_root(&state, executed)?;
    drop(state);
    write_receipts(txn, executed)?;
    write_block(txn, batch)?;
    let last = LastApplied {
        height: executed.height,
        block_digest: batch.block.header().digest(),
        state_root: executed.state_root,
    };
    txn.open_table(tables::META)?
        .insert(tables::LAST_APPLIED, last.to_bytes().as_slice())?;
    Ok(())
}

type WriteTables<'txn> = StateTables<Table<'txn, tables::Bytes, tables::Bytes>>;

/// Each value the block wrote (as the tree batch lists them, by key hash, in key order)
/// becomes the latest; the value it replaces moves to the history, which proofs at recent
/// heights read, and is listed under the writing version in `state_history_expiry`: only
/// versions below that one read it, so it goes when they are pruned. A deletion leaves a
/// tombstone, listed the same way (versions from the deletion on have no leaf for the key, so
/// the tree never asks for its value there).
fn write_values(
    txn: &WriteTransaction,
    state: &mut WriteTables<'_>,
    executed: &ExecutedBlock,
) -> Result<(), StorageError> {
    let mut superseded: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for ((version, key_hash), value) in executed.tree_batch.node_batch.values() {
        let key = key_hash.0.as_slice();
        let replaced = match value {
            Some(value) => state
                .state
                .insert(key, tables::state_row(*version, value).as_slice())?,
            None => state.state.remove(key)?,
        }
        .map(|row| row.value().to_vec());
        let expiring = superseded.entry(*version).or_default();
        if let Some(row) = replaced {
            let (old_version, old_value) = tables::read_state_row(&row)?;
            let history_key = tables::history_key(&key_hash.0, old_version);
            state.history.insert(
                history_key.as_slice(),
                tables::history_value(Some(old_value)).as_slice(),
            )?;
            expiring.extend_from_slice(&history_key);
        }
        if value.is_none() {
            let tombstone = tables::history_key(&key_hash.0, *version);
            state
                .history
                .insert(tombstone.as_slice(), tables::history_value(None).as_slice())?;
            expiring.extend_from_slice(&tombstone);
        }
    }
    let mut expiry = txn.open_table(tables::STATE_HISTORY_EXPIRY)?;
    for (version, keys) in superseded.iter().filter(|(_, keys)| !keys.is_empty()) {
        expiry.insert(version.to_be_bytes().as_slice(), keys.as_slice())?;
    }
    Ok(())
}

fn write_nodes(
    nodes: &mut Table<'_, tables::Bytes, tables::Bytes>,
    executed: &ExecutedBlock,
) -> Result<(), StorageError> {
    let mut encoded = Vec::new();
    for (key, node) in executed.tree_batch.node_batch.nodes() {
        encode_node_into(&mut encoded, node)?;
        nodes.insert(node_key(key)?.as_slice(), encoded.as_slice())?;
    }
    Ok(())
}

/// Records, per version, the nodes it made stale, for [`prune`].
fn write_stale(txn: &WriteTransaction, executed: &ExecutedBlock) -> Result<(), StorageError> {
    let mut by_version: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    for index in &executed.tree_batch.stale_node_index_batch {
        by_version
            .entry(index.stale_since_version)
            .or_default()
            .push(node_key(&index.node_key)?);
    }
    let mut stale = txn.open_table(tables::TREE_STALE)?;
    for (version, keys) in by_version {
        let list = tables::stale_list(keys.iter().map(Vec::as_slice))?;
        stale.insert(version.to_be_bytes().as_slice(), list.as_slice())?;
    }
    Ok(())
}

/// Every [`PRUNE_EVERY`] heights, deletes the tree nodes and superseded values needed only by
/// versions below `height + 1 - keep_versions`, so proofs keep working for the last
/// `keep_versions` heights (and a little longer, until the next pruning).
///
/// A node stale since version `s` belongs to trees of versions `< s` only, and a value
/// superseded at `s` is read by versions `< s` only, so both go once `s <= oldest kept`: each
/// is a listed key to remove, with nothing to read or decode first.
fn prune(
    txn: &WriteTransaction,
    state: &mut WriteTables<'_>,
    height: u64,
    keep_versions: u64,
) -> Result<(), StorageError> {
    let Some(oldest_kept) = (height + 1).checked_sub(keep_versions) else {
        return Ok(());
    };
    if !oldest_kept.is_multiple_of(PRUNE_EVERY) {
        return Ok(());
    }
    let bound = (oldest_kept + 1).to_be_bytes();
    for list in take_expired(&mut txn.open_table(tables::TREE_STALE)?, &bound)? {
        for key in tables::read_stale_list(&list)? {
            state.nodes.remove(key)?;
        }
    }
    for list in take_expired(&mut txn.open_table(tables::STATE_HISTORY_EXPIRY)?, &bound)? {
        if list.len() % tables::HISTORY_KEY_LEN != 0 {
            return Err(StorageError::corrupt("history expiry list", "truncated"));
        }
        for key in list.chunks_exact(tables::HISTORY_KEY_LEN) {
            state.history.remove(key)?;
        }
    }
    Ok(())
}

/// Removes the rows of a version-keyed list table below `bound` and returns their values.
fn take_expired(
    table: &mut Table<'_, tables::Bytes, tables::Bytes>,
    bound: &[u8; 8],
) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut lists = Vec::new();
    for entry in table.extract_from_if(..bound.as_slice(), |_, _| true)? {
        lists.push(entry?.1.value().to_vec());
    }
    Ok(lists)
}

/// One row per transaction: its location, then its events. Inserted in tx id order, so the
/// B-tree is walked once instead of at random.
fn write_receipts(txn: &WriteTransaction, executed: &ExecutedBlock) -> Result<(), StorageError> {
    let mut rows = Vec::with_capacity(executed.events.len());
    for (position, (tx, events)) in executed.events.iter().enumerate() {
        let location = TxLocation {
            height: executed.height,
            index: u32::try_from(position)
                .map_err(|_| StorageError::Mismatch("too many transactions".into()))?,
        };
        rows.push((
            tx,
            [&location.to_bytes()[..], &encode_events(events)].concat(),
        ));
    }
    rows.sort_unstable_by_key(|(tx, _)| **tx);
    let mut receipts = txn.open_table(tables::RECEIPTS)?;
    for (tx, row) in rows {
        receipts.insert(tx.as_bytes(), row.as_slice())?;
    }
    Ok(())
}

fn write_block(txn: &WriteTransaction, batch: &CommitBatch<'_>) -> Result<(), StorageError> {
    let height = batch.block.header().height.to_be_bytes();
    insert(txn, tables::BLOCKS, &height, &batch.block.encode())?;
    insert(
        txn,
        tables::BLOCK_DIGESTS,
        batch.block.header().digest().as_ref(),
        &height,
    )?;
    if let Some(finalization) = batch.finalization {
        insert(txn, tables::FINALIZATIONS, &height, finalization)?;
    }
    Ok(())
}

fn insert(
    txn: &WriteTransaction,
    table: Def,
    key: &[u8],
    value: &[u8],
) -> Result<(), StorageError> {
    txn.open_table(table)?.insert(key, value)?;
    Ok(())
}

/// The root of the tree as now stored at the new height must be the block's state root:
/// catches an `ExecutedBlock` whose tree delta and root disagree, before anything is durable.
fn verify_root(state: &WriteTables<'_>, executed: &ExecutedBlock) -> Result<(), StorageError> {
    let stored = root_at(state, executed.height)?;
    if stored != executed.state_root {
        return Err(StorageError::Mismatch(format!(
            "the stored tree's root {} is not the executed root {}",
            hex(&stored),
            hex(&executed.state_root)
        )));
    }
    Ok(())
}
