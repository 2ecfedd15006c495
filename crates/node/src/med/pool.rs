//! The pool of verified hospital batches waiting for an Mblock: bounded, deduplicated by
//! TX_mr, in arrival order. A batch stays pooled until its releases are final (checkpointed)
//! or stale: an Mblock only holds the block's aggregate signature, not the batch's, so a batch
//! dropped when a fork carried it could never be mined again once that fork lost a reorg.

use medchain_types::{
    Hash32, RecordId,
    med::{MAX_MBLOCK_BATCHES, MAX_MBLOCK_TXS, SignedBatch},
};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Most batches a pool holds.
pub const MAX_POOL_BATCHES: usize = 1_024;
/// Most releases a pool holds (sixteen full Mblocks).
pub const MAX_POOL_TXS: usize = 16 * MAX_MBLOCK_TXS;

/// One waiting batch with the ids of its releases.
struct Waiting {
    batch: SignedBatch,
    records: Vec<RecordId>,
}

/// Verified batches not yet in an Mblock.
#[derive(Default)]
pub struct BatchPool {
    waiting: BTreeMap<Hash32, Waiting>,
    order: VecDeque<Hash32>,
    txs: usize,
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
#[error("the MED batch pool is full ({batches} batches, {txs} releases waiting)")]
pub struct PoolFull {
    /// Batches waiting.
    pub batches: usize,
    /// Releases waiting.
    pub txs: usize,
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

    /// Whether a new batch of `releases` would fit (checked before verifying one, so that a
    /// full pool costs a caller no pairings).
    pub fn has_room(&self, releases: usize) -> Result<(), PoolFull> {
        if self.waiting.len() >= MAX_POOL_BATCHES || self.txs + releases > MAX_POOL_TXS {
            return Err(PoolFull {
                batches: self.waiting.len(),
                txs: self.txs,
            });
        }
        Ok(())
    }

    /// Adds a verified batch named by its TX_mr `root`, whose releases have the ids `records`.
    pub fn insert(
        &mut self,
        root: Hash32,
        batch: SignedBatch,
        records: Vec<RecordId>,
    ) -> Result<Pooled, PoolFull> {
        if self.waiting.contains_key(&root) {
            return Ok(Pooled::Known);
        }
        self.has_room(records.len())?;
        self.txs += records.len();
        self.order.push_back(root);
        self.waiting.insert(root, Waiting { batch, records });
        Ok(Pooled::Added)
    }

    /// The batches for the next Mblock: oldest first, those `admissible` (not yet on the
    /// chain the Mblock extends, fresh), within the Mblock's limits, never two that release
    /// the same record (an Mblock must not, and the second would be refused).
    pub fn select(&self, admissible: impl Fn(&SignedBatch) -> bool) -> Vec<SignedBatch> {
        let mut chosen = Vec::new();
        let mut records = HashSet::new();
        for root in &self.order {
            let Some(waiting) = self.waiting.get(root) else {
                continue;
            };
            if chosen.len() == MAX_MBLOCK_BATCHES {
                break;
            }
            if records.len() + waiting.records.len() > MAX_MBLOCK_TXS
                || waiting.records.iter().any(|id| records.contains(id))
                || !admissible(&waiting.batch)
            {
                continue;
            }
            records.extend(waiting.records.iter().copied());
            chosen.push(waiting.batch.clone());
        }
        chosen
    }

    /// Every waiting batch, oldest first.
    pub fn select_all(&self) -> Vec<SignedBatch> {
        self.batches().map(|(batch, _)| batch.clone()).collect()
    }

    /// Every waiting batch with the ids of its releases, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = (&SignedBatch, &[RecordId])> {
        self.order
            .iter()
            .filter_map(|root| self.waiting.get(root))
            .map(|waiting| (&waiting.batch, waiting.records.as_slice()))
    }

    /// Drops every batch that releases one of `included` (final, stale or no longer signed
    /// validly: the batch itself, or another carrying the same release, which would be
    /// refused as a replay).
    pub fn evict(&mut self, included: &HashSet<RecordId>) {
        if included.is_empty() {
            return;
        }
        let gone: Vec<Hash32> = self
            .waiting
            .iter()
            .filter(|(_, waiting)| waiting.records.iter().any(|id| included.contains(id)))
            .map(|(root, _)| *root)
            .collect();
        for root in &gone {
            if let Some(waiting) = self.waiting.remove(root) {
                self.txs -= waiting.records.len();
            }
        }
        self.order.retain(|root| self.waiting.contains_key(root));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_types::{
        Address, BlsSignature, ContentHash,
        med::{HospitalBatch, TxMr},
    };

    fn batch(first: u64, count: u64) -> (Hash32, SignedBatch, Vec<RecordId>) {
        let txs: Vec<TxMr> = (first..first + count)
            .map(|n| TxMr {
                doctor: Address::from_bytes([1; 32]),
                patient: Address::from_bytes([2; 32]),
                record_hash: ContentHash::of(&n.to_be_bytes()),
                issued_at_ms: n,
            })
            .collect();
        let chain = "medchain-test".parse().unwrap();
        let records = txs.iter().map(|tx| tx.record_id(&chain)).collect();
        let batch = HospitalBatch {
            hospital: Address::from_bytes([3; 32]),
            txs,
            entries: Vec::new(),
        };
        let root = batch.root(&chain);
        let signed = SignedBatch {
            batch,
            signature: BlsSignature([7; BlsSignature::LEN]),
        };
        (root, signed, records)
    }

    fn add(pool: &mut BatchPool, first: u64, count: u64) -> Result<Pooled, PoolFull> {
        let (root, signed, records) = batch(first, count);
        pool.insert(root, signed, records)
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
        pool.evict(&batch(3, 1).2.into_iter().collect());
        assert_eq!(pool.len(), 2);
        assert!(!pool.contains(&batch(2, 2).0));
        pool.evict(&batch(0, 11).2.into_iter().collect());
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
}
