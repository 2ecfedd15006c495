//! Mblocks waiting for their parent (review R5): bounded in count and bytes, each kept at most
//! [`ORPHAN_TTL_MS`], and when full the OLDEST is evicted rather than the newcomer refused —
//! so junk cannot keep the pool full for good, and an honest out-of-order block still gets in.
//! Catching up on a long gap goes through headers-first sync, not through this pool.

use commonware_codec::EncodeSize as _;
use medchain_types::{Hash32, med::Mblock};
use std::collections::BTreeMap;

/// Most Mblocks waiting for their parent.
pub const MAX_ORPHANS: usize = 256;
/// Most bytes they take (about 38 full Mblocks).
pub const MAX_ORPHAN_BYTES: usize = 16 << 20;
/// How long an Mblock waits for its parent, milliseconds: far longer than fetching a parent
/// takes, far shorter than forever.
pub const ORPHAN_TTL_MS: u64 = 60_000;

struct Orphan {
    block: Mblock,
    bytes: usize,
    at_ms: u64,
}

/// The waiting Mblocks, by parent hash.
#[derive(Default)]
pub struct OrphanPool {
    by_parent: BTreeMap<Hash32, Vec<Orphan>>,
    count: usize,
    bytes: usize,
}

impl OrphanPool {
    /// Mblocks waiting.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether none waits.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Keeps `block` (received at `now_ms`) until its parent arrives, dropping the expired
    /// ones and then the oldest until it fits.
    pub fn keep(&mut self, block: Mblock, now_ms: u64) {
        let parent = block.header.parent;
        if self.by_parent.get(&parent).is_some_and(|siblings| {
            siblings
                .iter()
                .any(|known| known.block.header == block.header)
        }) {
            return;
        }
        self.expire(now_ms);
        let bytes = block.encode_size();
        while self.count >= MAX_ORPHANS || self.bytes + bytes > MAX_ORPHAN_BYTES {
            if !self.evict_oldest() {
                return;
            }
        }
        self.count += 1;
        self.bytes += bytes;
        self.by_parent.entry(parent).or_default().push(Orphan {
            block,
            bytes,
            at_ms: now_ms,
        });
    }

    /// The Mblocks that waited for `parent`.
    pub fn take(&mut self, parent: &Hash32) -> Vec<Mblock> {
        let children = self.by_parent.remove(parent).unwrap_or_default();
        self.forget(&children);
        children.into_iter().map(|orphan| orphan.block).collect()
    }

    /// Drops the Mblocks that waited longer than [`ORPHAN_TTL_MS`].
    fn expire(&mut self, now_ms: u64) {
        let mut expired = Vec::new();
        self.by_parent.retain(|_, siblings| {
            let (old, young): (Vec<Orphan>, Vec<Orphan>) = std::mem::take(siblings)
                .into_iter()
                .partition(|orphan| now_ms >= orphan.at_ms.saturating_add(ORPHAN_TTL_MS));
            expired.extend(old);
            *siblings = young;
            !siblings.is_empty()
        });
        self.forget(&expired);
    }

    /// Drops the Mblock that waited longest; false when none waits.
    fn evict_oldest(&mut self) -> bool {
        let oldest = self
            .by_parent
            .iter()
            .flat_map(|(parent, siblings)| {
                siblings
                    .iter()
                    .enumerate()
                    .map(move |(index, orphan)| (orphan.at_ms, *parent, index))
            })
            .min();
        let Some((_, parent, index)) = oldest else {
            return false;
        };
        let Some(siblings) = self.by_parent.get_mut(&parent) else {
            return false;
        };
        let evicted = siblings.remove(index);
        if siblings.is_empty() {
            self.by_parent.remove(&parent);
        }
        self.forget(std::slice::from_ref(&evicted));
        true
    }

    fn forget(&mut self, gone: &[Orphan]) {
        self.count -= gone.len();
        self.bytes -= gone.iter().map(|orphan| orphan.bytes).sum::<usize>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Digest as _;
    use medchain_types::{
        Address,
        med::{MblockBody, MblockHeader},
    };

    fn orphan(parent: u8, nonce: u64) -> Mblock {
        Mblock {
            header: MblockHeader {
                height: 5,
                parent: Hash32::from([parent; 32]),
                tx_root: Hash32::EMPTY,
                body_hash: Hash32::EMPTY,
                timestamp_ms: 0,
                difficulty: 1,
                miner: Address::from_bytes([1; 32]),
                nonce,
            },
            body: MblockBody {
                batches: Vec::new(),
                signature: None,
            },
        }
    }

    /// Review R5: junk orphans neither fill the pool for good (they expire) nor keep an honest
    /// newcomer out (the oldest is evicted for it).
    #[test]
    fn orphans_expire_and_a_full_pool_evicts_the_oldest() {
        let mut pool = OrphanPool::default();
        for nonce in 0..MAX_ORPHANS as u64 {
            pool.keep(orphan(1, nonce), nonce);
        }
        assert_eq!(pool.len(), MAX_ORPHANS);
        pool.keep(orphan(2, 0), MAX_ORPHANS as u64);
        assert_eq!(pool.len(), MAX_ORPHANS);
        assert_eq!(pool.take(&Hash32::from([2; 32])), vec![orphan(2, 0)]);
        let junk = pool.take(&Hash32::from([1; 32]));
        assert_eq!(junk.len(), MAX_ORPHANS - 1);
        assert!(!junk.contains(&orphan(1, 0)), "the oldest went");
        assert!(pool.is_empty());

        pool.keep(orphan(1, 0), 0);
        pool.keep(orphan(1, 0), 1);
        assert_eq!(pool.len(), 1, "kept once");
        pool.keep(orphan(3, 0), ORPHAN_TTL_MS);
        assert_eq!(pool.len(), 1, "the first expired");
        assert!(pool.take(&Hash32::from([1; 32])).is_empty());
        assert_eq!(pool.take(&Hash32::from([3; 32])).len(), 1);
    }
}
