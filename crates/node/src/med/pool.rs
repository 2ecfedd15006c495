//! The pool of verified hospital batches waiting for an Mblock: bounded (in batches, releases
//! and entries), deduplicated by TX_mr, in arrival order. A batch stays pooled until its
//! releases or entries are final (checkpointed) or stale: an Mblock only holds the block's aggregate signature, not the batch's, so a batch
//! dropped when a fork carried it could never be mined again once that fork lost a reorg.

use medchain_types::{
    ChainId, EntryId, Hash32, RecordId,
    med::{MAX_MBLOCK_BATCHES, MAX_MBLOCK_ENTRIES, MAX_MBLOCK_TXS, SignedBatch},
};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Most batches a pool holds.
pub const MAX_POOL_BATCHES: usize = 1_024;
/// Most releases a pool holds (sixteen full Mblocks).
pub const MAX_POOL_TXS: usize = 16 * MAX_MBLOCK_TXS;
/// Most entries a pool holds (sixteen full Mblocks; up to 2 KB each, 8 MB in all).
pub const MAX_POOL_ENTRIES: usize = 16 * MAX_MBLOCK_ENTRIES;

/// The ids of a batch's items: its releases' record ids and its entries' ids (S3-entry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchItems {
    /// The releases' record ids (htxM), in batch order.
    pub records: Vec<RecordId>,
    /// The entries' ids (hentry), in batch order.
    pub entries: Vec<EntryId>,
}

impl BatchItems {
    /// The items of `batch` on `chain_id`.
    pub fn of(chain_id: &ChainId, batch: &SignedBatch) -> Self {
        Self {
            records: batch
                .batch
                .txs
                .iter()
                .map(|tx| tx.record_id(chain_id))
                .collect(),
            entries: batch
                .batch
                .entries
                .iter()
                .map(|entry| entry.entry_id(chain_id))
                .collect(),
        }
    }
}

/// One waiting batch with the ids of its items.
struct Waiting {
    batch: SignedBatch,
    items: BatchItems,
}

/// Verified batches not yet in an Mblock.
#[derive(Default)]
pub struct BatchPool {
    waiting: BTreeMap<Hash32, Waiting>,
    order: VecDeque<Hash32>,
    txs: usize,
    entries: usize,
}

/// Whether [`BatchPool::insert`] took a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Pooled {
    /// New to the pool.
    Added,
    /// Already waiting (a resubmission, or the same batch from another peer).
    Known,
}

/// The pool cannot take a batch.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the MED batch pool is full ({batches} batches, {txs} releases, {entries} entries waiting)"
)]
pub struct PoolFull {
    /// Batches waiting.
    pub batches: usize,
    /// Releases waiting.
    pub txs: usize,
    /// Entries waiting.
    pub entries: usize,
}

impl BatchPool {
    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether the batch whose TX_mr is `root` waits.
    pub fn contains(&self, root: &Hash32) -> bool {
        self.waiting.contains_key(root)
    }

    /// Whether a new batch of `items` would fit (checked before verifying one, so that a
    /// full pool costs a caller no pairings).
    pub fn has_room(&self, items: &BatchItems) -> Result<(), PoolFull> {
        if self.waiting.len() >= MAX_POOL_BATCHES
            || self.txs + items.records.len() > MAX_POOL_TXS
            || self.entries + items.entries.len() > MAX_POOL_ENTRIES
        {
            return Err(PoolFull {
                batches: self.waiting.len(),
                txs: self.txs,
                entries: self.entries,
            });
        }
        Ok(())
    }

    /// Adds a verified batch named by its TX_mr `root`, whose items have the ids `items`.
    pub fn insert(
        &mut self,
        root: Hash32,
        batch: SignedBatch,
        items: BatchItems,
    ) -> Result<Pooled, PoolFull> {
        if self.waiting.contains_key(&root) {
            return Ok(Pooled::Known);
        }
        self.has_room(&items)?;
        self.txs += items.records.len();
        self.entries += items.entries.len();
        self.order.push_back(root);
        self.waiting.insert(root, Waiting { batch, items });
        Ok(Pooled::Added)
    }

    /// The batches for the next Mblock: oldest first, those `admissible` (not yet on the
    /// chain the Mblock extends, fresh), within the Mblock's limits, never two that release
    /// the same record or file the same entry (an Mblock must not, and the second would be
    /// refused).
    pub fn select(&self, admissible: impl Fn(&SignedBatch) -> bool) -> Vec<SignedBatch> {
        let mut chosen = Vec::new();
        let mut records = HashSet::new();
        let mut entries = HashSet::new();
        for root in &self.order {
            let Some(waiting) = self.waiting.get(root) else {
                continue;
            };
            if chosen.len() == MAX_MBLOCK_BATCHES {
                break;
            }
            let items = &waiting.items;
            if records.len() + items.records.len() > MAX_MBLOCK_TXS
                || entries.len() + items.entries.len() > MAX_MBLOCK_ENTRIES
                || items.records.iter().any(|id| records.contains(id))
                || items.entries.iter().any(|id| entries.contains(id))
                || !admissible(&waiting.batch)
            {
                continue;
            }
            records.extend(items.records.iter().copied());
            entries.extend(items.entries.iter().copied());
            chosen.push(waiting.batch.clone());
        }
        chosen
    }

    /// Every waiting batch, oldest first.
    pub fn select_all(&self) -> Vec<SignedBatch> {
        self.batches().map(|(batch, _)| batch.clone()).collect()
    }

    /// Every waiting batch with the ids of its items, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = (&SignedBatch, &BatchItems)> {
        self.order
            .iter()
            .filter_map(|root| self.waiting.get(root))
            .map(|waiting| (&waiting.batch, &waiting.items))
    }

    /// Drops every batch that releases one of `included` (final, stale or no longer signed
    /// validly: the batch itself, or another carrying the same release, which would be
    /// refused as a replay).
    pub fn evict(&mut self, included: &HashSet<RecordId>) {
        if !included.is_empty() {
            self.evict_if(|items| items.records.iter().any(|id| included.contains(id)));
        }
    }

    /// Drops every batch that files one of `included` (S3-entry; final, stale or no longer
    /// signed validly).
    pub fn evict_entries(&mut self, included: &HashSet<EntryId>) {
        if !included.is_empty() {
            self.evict_if(|items| items.entries.iter().any(|id| included.contains(id)));
        }
    }

    fn evict_if(&mut self, gone: impl Fn(&BatchItems) -> bool) {
        let roots: Vec<Hash32> = self
            .waiting
            .iter()
            .filter(|(_, waiting)| gone(&waiting.items))
            .map(|(root, _)| *root)
            .collect();
        for root in &roots {
            if let Some(waiting) = self.waiting.remove(root) {
                self.txs -= waiting.items.records.len();
                self.entries -= waiting.items.entries.len();
            }
        }
        self.order.retain(|root| self.waiting.contains_key(root));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_types::{
        Address, BlsSignature, ContentHash, EntryBytes,
        med::{EntryMr, HospitalBatch, MAX_BATCH_ENTRIES, TxMr},
    };

    fn batch(first: u64, count: u64) -> (Hash32, SignedBatch, BatchItems) {
        with_entries(first, count, 0)
    }

    /// A batch of `count` releases from `first` and `entries` entries from `first`.
    fn with_entries(first: u64, count: u64, entries: u64) -> (Hash32, SignedBatch, BatchItems) {
        let txs: Vec<TxMr> = (first..first + count)
            .map(|n| TxMr {
                doctor: Address::from_bytes([1; 32]),
                patient: Address::from_bytes([2; 32]),
                record_hash: ContentHash::of(&n.to_be_bytes()),
                issued_at_ms: n,
            })
            .collect();
        let chain = "medchain-test".parse().unwrap();
        let batch = HospitalBatch {
            hospital: Address::from_bytes([3; 32]),
            txs,
            entries: (first..first + entries)
                .map(|n| EntryMr {
                    patient: Address::from_bytes([2; 32]),
                    entry: EntryBytes(n.to_be_bytes().to_vec()),
                    issued_at_ms: n,
                })
                .collect(),
        };
        let root = batch.root(&chain);
        let signed = SignedBatch {
            batch,
            signature: BlsSignature([7; BlsSignature::LEN]),
        };
        let items = BatchItems::of(&chain, &signed);
        (root, signed, items)
    }

    fn add(pool: &mut BatchPool, first: u64, count: u64) -> Result<Pooled, PoolFull> {
        let (root, signed, items) = batch(first, count);
        pool.insert(root, signed, items)
    }

    #[test]
    fn batches_are_deduplicated_selected_in_order_and_evicted_once_included() {
        let mut pool = BatchPool::default();
        assert_eq!(add(&mut pool, 0, 3), Ok(Pooled::Added));
        assert_eq!(add(&mut pool, 0, 3), Ok(Pooled::Known));
        // Overlaps the first batch's release 2: never in the same Mblock.
        assert_eq!(add(&mut pool, 2, 2), Ok(Pooled::Added));
        assert_eq!(add(&mut pool, 10, 1), Ok(Pooled::Added));
        assert_eq!(pool.len(), 3);
        let selected = pool.select(|_| true);
        assert_eq!(selected.len(), 2);
        assert_eq!(selected[0], batch(0, 3).1);
        assert_eq!(selected[1], batch(10, 1).1);
        // The first one already on the chain being extended: the overlapping one may go in.
        let first = batch(0, 3).1;
        let fresh = pool.select(|waiting| *waiting != first);
        assert_eq!(fresh, vec![batch(2, 2).1, batch(10, 1).1]);
        // An Mblock carried release 3: the overlapping batch goes, the others stay.
        pool.evict(&batch(3, 1).2.records.into_iter().collect());
        assert_eq!(pool.len(), 2);
        assert!(!pool.contains(&batch(2, 2).0));
        pool.evict(&batch(0, 11).2.records.into_iter().collect());
        assert!(pool.is_empty());
        assert!(pool.select(|_| true).is_empty());
    }

    #[test]
    fn a_full_pool_refuses_more() {
        let mut pool = BatchPool::default();
        for i in 0..MAX_POOL_BATCHES as u64 {
            assert_eq!(add(&mut pool, i, 1), Ok(Pooled::Added));
        }
        assert!(add(&mut pool, u64::MAX - 1, 1).is_err());
        // A known batch is still acknowledged.
        assert_eq!(add(&mut pool, 0, 1), Ok(Pooled::Known));
    }

    #[test]
    fn selection_respects_the_mblock_limits() {
        let mut pool = BatchPool::default();
        for i in 0..(MAX_MBLOCK_BATCHES as u64 + 5) {
            add(&mut pool, i * 10, 1).unwrap();
        }
        assert_eq!(pool.select(|_| true).len(), MAX_MBLOCK_BATCHES);
        let mut big = BatchPool::default();
        let half = (MAX_MBLOCK_TXS / 2) as u64;
        add(&mut big, 0, half).unwrap();
        add(&mut big, half, half + 1).unwrap();
        add(&mut big, 10 * half, 1).unwrap();
        let selected = big.select(|_| true);
        assert_eq!(selected.len(), 2, "the one that would overflow is skipped");
    }

    /// S3-entry: entries count against the pool's and the Mblock's entry limits, two batches
    /// filing the same entry never go in one Mblock, and a batch goes once an entry of it is
    /// final or stale.
    #[test]
    fn entries_are_counted_deduplicated_and_evicted() {
        let mut pool = BatchPool::default();
        let (root, signed, items) = with_entries(0, 0, 3);
        pool.insert(root, signed.clone(), items.clone()).unwrap();
        // Releases 10.. with entry 2 again: never with the first batch.
        let (overlap_root, overlap, overlap_items) = with_entries(2, 0, 1);
        pool.insert(overlap_root, overlap.clone(), overlap_items)
            .unwrap();
        let (mixed_root, mixed, mixed_items) = with_entries(100, 2, 1);
        pool.insert(mixed_root, mixed.clone(), mixed_items).unwrap();
        assert_eq!(pool.select(|_| true), vec![signed.clone(), mixed.clone()]);
        assert_eq!(
            pool.select(|waiting| *waiting != signed),
            vec![overlap, mixed]
        );
        pool.evict_entries(&[items.entries[2]].into_iter().collect());
        assert!(!pool.contains(&root) && !pool.contains(&overlap_root));
        assert!(pool.contains(&mixed_root));
        // The entry budget: a full Mblock's worth, then the next batch is skipped.
        let mut big = BatchPool::default();
        let per = MAX_BATCH_ENTRIES as u64;
        for b in 0..(MAX_MBLOCK_ENTRIES as u64 / per + 1) {
            let (root, signed, items) = with_entries(b * per, 0, per);
            big.insert(root, signed, items).unwrap();
        }
        assert_eq!(
            big.select(|_| true).len(),
            MAX_MBLOCK_ENTRIES / MAX_BATCH_ENTRIES
        );
        let full = BatchPool {
            entries: MAX_POOL_ENTRIES,
            ..BatchPool::default()
        };
        assert!(full.has_room(&with_entries(0, 0, 1).2).is_err());
        assert!(full.has_room(&batch(0, 1).2).is_ok());
    }
}
