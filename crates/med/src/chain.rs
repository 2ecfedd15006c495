//! The MED block tree (S3-dual) and its supervision by SUP (S3-supervise).
//!
//! Fork choice is the most cumulative work (the sum of difficulties; the first seen stays best
//! on a tie) among the Mblocks that descend from the newest SUP-checkpointed Mblock. An Mblock
//! that does not descend from it is refused, and a new checkpoint prunes every fork that does
//! not: a selfish miner that withholds a longer private branch and releases it after a
//! checkpoint cannot reorganise checkpointed records, whatever its work.
//!
//! SUP's proposer picks the branch to checkpoint with [`MedChain::choose_checkpoint`] by the
//! rules of S3-supervise — (1) its first Mblock's parent is the newest checkpointed Mblock,
//! (2) the longest, (3) the smallest Merkle root on a tie — and SUP validators vote for it only
//! if [`MedChain::is_known_extension`] holds.
//!
//! No networking, no clock (time comes in as `now_ms`) and no SUP state here: the node feeds
//! Mblocks in, after verifying their aggregate signature, and tells the tree which Mblock SUP
//! finalized as checkpointed.

use crate::{
    MedError,
    pow::{check_header, genesis_mblock, median_time_past, next_difficulty},
    store::MedStore,
};
use medchain_types::{
    Address, BlsSignature, ChainId, Hash32, RecordId,
    med::{
        Checkpoint, CheckpointedMblock, HospitalBatch, MAX_BATCH_TXS, MAX_CHECKPOINT_MBLOCKS,
        MAX_MBLOCK_BATCHES, MAX_MBLOCK_TXS, Mblock, MblockBody, MblockHeader, MedParams, TxMr,
        merkle_root, tx_root,
    },
};
use std::collections::{HashMap, HashSet, VecDeque};

/// The most an Mblock's timestamp may ever run ahead of this node's clock (Bitcoin's two hours).
pub const MAX_FUTURE_DRIFT_MS: u64 = 2 * 60 * 60 * 1_000;
/// The least it is allowed to: room for honest clock skew.
pub const MIN_FUTURE_DRIFT_MS: u64 = 15_000;
/// Bitcoin's two hours are twelve of its block intervals.
const FUTURE_DRIFT_INTERVALS: u64 = 12;

/// How far ahead of this node's clock an Mblock's timestamp may be: twelve target intervals,
/// within [`MIN_FUTURE_DRIFT_MS`]..=[`MAX_FUTURE_DRIFT_MS`]. A flat two hours would be 2,400
/// intervals of a 3-second chain: a miner stamping its Mblocks that far ahead would drag
/// retargeting down and push the median time past beyond honest clocks, so that honest
/// Mblocks (which must follow it) would be refused as too far ahead until time caught up.
pub fn future_drift_ms(params: &MedParams) -> u64 {
    params
        .target_interval_ms
        .saturating_mul(FUTURE_DRIFT_INTERVALS)
        .clamp(MIN_FUTURE_DRIFT_MS, MAX_FUTURE_DRIFT_MS)
}

/// What [`MedChain::insert`] did with a valid Mblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// The Mblock's hash.
    pub hash: Hash32,
    /// Whether it is now the best tip (the caller relays it and rebuilds its template).
    pub new_best: bool,
}

/// One Mblock of the tree.
struct Node {
    header: MblockHeader,
    /// Work of the chain ending here: the sum of the difficulties above genesis.
    work: u128,
    /// The releases, kept while the Mblock is above the checkpoint (checkpoints carry them);
    /// emptied once it is checkpointed (the database still has the body).
    txs: Vec<TxMr>,
    /// Known children, in the order they arrived.
    children: Vec<Hash32>,
}

/// The MED block tree over a [`MedStore`].
pub struct MedChain {
    store: MedStore,
    chain_id: ChainId,
    params: MedParams,
    genesis: Mblock,
    nodes: HashMap<Hash32, Node>,
    best: Hash32,
    /// The best chain's hashes, indexed by height.
    best_chain: Vec<Hash32>,
    checkpointed: Hash32,
    /// Where each record is, in every Mblock of the tree (forks may repeat one).
    records: HashMap<RecordId, Vec<(Hash32, u32)>>,
}

impl MedChain {
    /// Opens the tree of `chain_id`'s MED chain over `store`, rebuilding what a previous run
    /// stored (every Mblock, the checkpointed one, the best tip).
    pub fn open(
        store: MedStore,
        chain_id: ChainId,
        genesis_time_ms: u64,
        params: MedParams,
    ) -> Result<Self, MedError> {
        let genesis = genesis_mblock(&chain_id, genesis_time_ms, &params);
        let genesis_hash = genesis.header.hash();
        let mut chain = Self {
            store,
            chain_id,
            params,
            nodes: HashMap::new(),
            best: genesis_hash,
            best_chain: Vec::new(),
            checkpointed: genesis_hash,
            records: HashMap::new(),
            genesis,
        };
        chain.attach(genesis_hash, chain.genesis.clone(), 0);
        chain.reload()?;
        Ok(chain)
    }

    /// Rebuilds the tree from the store: parents before children, then the checkpoint and the
    /// best tip.
    fn reload(&mut self) -> Result<(), MedError> {
        let mut blocks = self.store.blocks()?;
        blocks.sort_by_key(|block| block.header.height);
        for block in blocks {
            let hash = block.header.hash();
            let Some(parent) = self.nodes.get(&block.header.parent) else {
                return Err(MedError::Corrupt(format!(
                    "Mblock {hash} at height {} has no parent in the database (another genesis?)",
                    block.header.height
                )));
            };
            let work = parent.work + u128::from(block.header.difficulty);
            self.attach(hash, block, work);
        }
        if let Some(checkpointed) = self.store.checkpointed()? {
            if !self.nodes.contains_key(&checkpointed) {
                return Err(MedError::Corrupt(format!(
                    "the checkpointed Mblock {checkpointed} is not in the database"
                )));
            }
            self.checkpointed = checkpointed;
            self.forget_checkpointed_txs(checkpointed, self.genesis.header.hash());
        }
        let stored_best = self.store.best()?;
        let best = self.heaviest_descendant(self.checkpointed, stored_best);
        self.set_best(best);
        Ok(())
    }

    /// Adds a checked Mblock to the tree (memory only).
    fn attach(&mut self, hash: Hash32, block: Mblock, work: u128) {
        for (index, tx) in (0u32..).zip(block.body.txs()) {
            self.records
                .entry(tx.record_id(&self.chain_id))
                .or_default()
                .push((hash, index));
        }
        if let Some(parent) = self.nodes.get_mut(&block.header.parent) {
            parent.children.push(hash);
        }
        let txs = block.body.txs().cloned().collect();
        self.nodes.insert(
            hash,
            Node {
                header: block.header,
                work,
                txs,
                children: Vec::new(),
            },
        );
    }

    /// Checks `block` and adds it to the tree: its body keeps the limits and matches the
    /// header, it extends a known parent that descends from the newest checkpoint, passes
    /// [`check_header`], and its timestamp is at most [`future_drift_ms`] after `now_ms`. A
    /// refused Mblock changes nothing. The aggregate signature is NOT checked here: the caller
    /// verifies it (`aggregate::verify_block`) before inserting.
    pub fn insert(&mut self, block: Mblock, now_ms: u64) -> Result<Inserted, MedError> {
        let hash = block.header.hash();
        if self.nodes.contains_key(&hash) {
            return Err(MedError::AlreadyKnown(hash));
        }
        check_body(&block.body)?;
        if !block.body_matches(&self.chain_id) {
            return Err(MedError::BodyMismatch);
        }
        let Some(parent) = self.nodes.get(&block.header.parent) else {
            return Err(MedError::UnknownParent(block.header.parent));
        };
        if !self.descends_from(&block.header.parent, &self.checkpointed) {
            return Err(MedError::NotAfterCheckpoint {
                block: hash,
                checkpointed: self.checkpointed,
            });
        }
        let window = self.window(&block.header.parent);
        check_header(&self.params, &parent.header, &window, &block.header)?;
        let latest_ms = now_ms.saturating_add(future_drift_ms(&self.params));
        if block.header.timestamp_ms > latest_ms {
            return Err(MedError::TimestampInFuture {
                timestamp_ms: block.header.timestamp_ms,
                latest_ms,
            });
        }
        let work = parent.work + u128::from(block.header.difficulty);
        let new_best = work > self.nodes[&self.best].work;
        self.store.put_block(&hash, &block, new_best)?;
        self.attach(hash, block, work);
        if new_best {
            self.set_best(hash);
        }
        Ok(Inserted { hash, new_best })
    }

    /// The best tip's header.
    pub fn best(&self) -> &MblockHeader {
        &self.nodes[&self.best].header
    }

    /// The best tip's hash.
    pub fn best_hash(&self) -> Hash32 {
        self.best
    }

    /// The genesis Mblock's hash.
    pub fn genesis_hash(&self) -> Hash32 {
        self.best_chain[0]
    }

    /// The chain's parameters.
    pub fn params(&self) -> &MedParams {
        &self.params
    }

    /// The header of a known Mblock.
    pub fn header(&self, hash: &Hash32) -> Option<&MblockHeader> {
        self.nodes.get(hash).map(|node| &node.header)
    }

    /// A known Mblock, header and body (the body comes from the database).
    pub fn block(&self, hash: &Hash32) -> Result<Option<Mblock>, MedError> {
        if !self.nodes.contains_key(hash) {
            return Ok(None);
        }
        if *hash == self.genesis_hash() {
            return Ok(Some(self.genesis.clone()));
        }
        self.store.block(hash)
    }

    /// Whether the Mblock is in the tree.
    pub fn contains(&self, hash: &Hash32) -> bool {
        self.nodes.contains_key(hash)
    }

    /// The newest Mblock SUP checkpointed (the genesis Mblock until the first checkpoint).
    pub fn checkpointed(&self) -> Hash32 {
        self.checkpointed
    }

    /// Whether the Mblock is checkpointed: the newest checkpointed one or an ancestor of it.
    /// Its records are final.
    pub fn is_checkpointed(&self, hash: &Hash32) -> bool {
        self.nodes.get(hash).is_some_and(|node| {
            node.header.height <= self.nodes[&self.checkpointed].header.height
                && self.best_chain.get(height_index(node.header.height)) == Some(hash)
        })
    }

    /// SUP finalized a checkpoint whose newest Mblock is `tip` (S3-supervise): from now on
    /// every Mblock must descend from it. Forks that do not are pruned (memory and database),
    /// and the best tip becomes the heaviest descendant of `tip`. `tip` must be known (else
    /// [`MedError::UnknownBlock`]: fetch it first) and descend from the previous checkpoint.
    pub fn set_checkpointed(&mut self, tip: Hash32) -> Result<(), MedError> {
        if tip == self.checkpointed {
            return Ok(());
        }
        if !self.nodes.contains_key(&tip) {
            return Err(MedError::UnknownBlock(tip));
        }
        if !self.descends_from(&tip, &self.checkpointed) {
            return Err(MedError::NotAfterCheckpoint {
                block: tip,
                checkpointed: self.checkpointed,
            });
        }
        let pruned = self.pruned_by(&tip);
        let best = if pruned.contains(&self.best) {
            self.heaviest_descendant(tip, None)
        } else {
            self.best
        };
        self.store.checkpoint(&tip, &best, &pruned)?;
        for hash in &pruned {
            self.detach(hash);
        }
        let previous = self.checkpointed;
        self.checkpointed = tip;
        self.forget_checkpointed_txs(tip, previous);
        self.set_best(best);
        Ok(())
    }

    /// The Mblocks a checkpoint at `tip` prunes: every descendant of the current checkpoint
    /// that is neither an ancestor nor a descendant of `tip`.
    fn pruned_by(&self, tip: &Hash32) -> Vec<Hash32> {
        let path: HashSet<Hash32> = self.ancestors(tip, &self.checkpointed).collect();
        let mut pruned = Vec::new();
        let mut queue: VecDeque<Hash32> = self.nodes[&self.checkpointed]
            .children
            .iter()
            .copied()
            .collect();
        while let Some(hash) = queue.pop_front() {
            if hash == *tip {
                continue;
            }
            if !path.contains(&hash) {
                pruned.push(hash);
            }
            queue.extend(self.nodes[&hash].children.iter().copied());
        }
        pruned
    }

    /// Removes a pruned Mblock from memory: from its parent's children and the record index.
    fn detach(&mut self, hash: &Hash32) {
        let Some(node) = self.nodes.remove(hash) else {
            return;
        };
        if let Some(parent) = self.nodes.get_mut(&node.header.parent) {
            parent.children.retain(|child| child != hash);
        }
        for tx in &node.txs {
            let id = tx.record_id(&self.chain_id);
            if let Some(places) = self.records.get_mut(&id) {
                places.retain(|(block, _)| block != hash);
                if places.is_empty() {
                    self.records.remove(&id);
                }
            }
        }
    }

    /// Drops the in-memory releases of the Mblocks from `tip` down to (excluding) `below`:
    /// checkpointed, they are never checkpointed again.
    fn forget_checkpointed_txs(&mut self, tip: Hash32, below: Hash32) {
        let newly_checkpointed: Vec<Hash32> = self.ancestors(&tip, &below).collect();
        for hash in newly_checkpointed {
            if let Some(node) = self.nodes.get_mut(&hash) {
                node.txs = Vec::new();
            }
        }
    }

    /// The branch SUP's proposer checkpoints now (S3-supervise): among the branches that
    /// start at a child of the newest checkpointed Mblock (rule 1), the longest, capped at
    /// [`MAX_CHECKPOINT_MBLOCKS`] (rule 2), and of those the one with the smallest Merkle root
    /// (`Checkpoint::root`, rule 3). Empty when nothing new descends from the checkpoint.
    pub fn choose_checkpoint(&self) -> Checkpoint {
        let ends = self.deepest_descendants(&self.checkpointed, MAX_CHECKPOINT_MBLOCKS);
        let chosen = ends
            .into_iter()
            .map(|end| {
                let mut branch: Vec<Hash32> = self.ancestors(&end, &self.checkpointed).collect();
                branch.reverse();
                (merkle_root(&branch), branch)
            })
            .min_by_key(|(root, _)| *root);
        let Some((_, branch)) = chosen else {
            return Checkpoint::default();
        };
        Checkpoint {
            branch: branch
                .iter()
                .map(|hash| {
                    let node = &self.nodes[hash];
                    CheckpointedMblock {
                        header: node.header.clone(),
                        txs: node.txs.clone(),
                    }
                })
                .collect(),
        }
    }

    /// The descendants of `from` at the greatest depth reachable, at most `max_depth`.
    fn deepest_descendants(&self, from: &Hash32, max_depth: usize) -> Vec<Hash32> {
        let mut level = vec![*from];
        for _ in 0..max_depth {
            let next: Vec<Hash32> = level
                .iter()
                .flat_map(|hash| self.nodes[hash].children.iter().copied())
                .collect();
            if next.is_empty() {
                break;
            }
            level = next;
        }
        if level == [*from] { Vec::new() } else { level }
    }

    /// Whether a SUP validator may vote for a block checkpointing `checkpoint`
    /// (S3-supervise): its first Mblock's parent is the newest checkpointed Mblock, each next
    /// one is the child of the one before, at most [`MAX_CHECKPOINT_MBLOCKS`], and every one is
    /// in this tree — so it passed [`Self::insert`] and its aggregate signature was verified —
    /// with exactly the releases it has here. An empty checkpoint asks nothing: true.
    pub fn is_known_extension(&self, checkpoint: &Checkpoint) -> bool {
        if checkpoint.branch.len() > MAX_CHECKPOINT_MBLOCKS {
            return false;
        }
        let mut parent = self.checkpointed;
        for block in &checkpoint.branch {
            let hash = block.header.hash();
            let known = self
                .nodes
                .get(&hash)
                .is_some_and(|node| node.txs == block.txs);
            if block.header.parent != parent || !known {
                return false;
            }
            parent = hash;
        }
        true
    }

    /// Up to `limit` headers of the best chain from height `from_height` up.
    pub fn headers(&self, from_height: u64, limit: usize) -> Vec<MblockHeader> {
        self.best_chain
            .iter()
            .skip(height_index(from_height))
            .take(limit)
            .map(|hash| self.nodes[hash].header.clone())
            .collect()
    }

    /// The retarget window of `parent`'s child (see [`next_difficulty`]): the last at most
    /// `retarget_window` Mblocks ending at `parent`, oldest first, as `(timestamp_ms,
    /// difficulty)`. Empty if `parent` is unknown.
    pub fn window(&self, parent: &Hash32) -> Vec<(u64, u64)> {
        let size = usize::try_from(self.params.retarget_window).unwrap_or(usize::MAX);
        let mut window = Vec::new();
        let mut cursor = self.nodes.get(parent);
        while let Some(node) = cursor.filter(|_| window.len() < size) {
            window.push((node.header.timestamp_ms, node.header.difficulty));
            cursor = self.nodes.get(&node.header.parent);
        }
        window.reverse();
        window
    }

    /// An unmined header for an Mblock of `batches` (with their aggregate `signature`) on the
    /// best tip: the retargeted difficulty, a timestamp of `now_ms` or just after the median
    /// time past if the clock is behind it, nonce 0. Mine it with [`crate::pow::mine`], then
    /// insert `Mblock { header, body: MblockBody { batches, signature } }`.
    pub fn template(
        &self,
        miner: Address,
        batches: Vec<HospitalBatch>,
        signature: Option<BlsSignature>,
        now_ms: u64,
    ) -> MblockHeader {
        let body = MblockBody { batches, signature };
        let window = self.window(&self.best);
        MblockHeader {
            height: self.best().height + 1,
            parent: self.best,
            tx_root: tx_root(&self.chain_id, body.txs()),
            body_hash: body.hash(),
            timestamp_ms: now_ms.max(median_time_past(&window).saturating_add(1)),
            difficulty: next_difficulty(&self.params, &window),
            miner,
            nonce: 0,
        }
    }

    /// Where the record `id` is on the best chain: its Mblock and its index among the
    /// Mblock's releases, in body order.
    pub fn find_record(&self, id: &RecordId) -> Option<(Hash32, u32)> {
        self.records.get(id)?.iter().copied().find(|(hash, _)| {
            self.nodes.get(hash).is_some_and(|node| {
                self.best_chain.get(height_index(node.header.height)) == Some(hash)
            })
        })
    }

    /// Makes `tip` the best tip and rewrites the best chain's suffix that changed.
    fn set_best(&mut self, tip: Hash32) {
        let mut suffix = Vec::new();
        let mut cursor = tip;
        loop {
            let header = &self.nodes[&cursor].header;
            let height = height_index(header.height);
            if self.best_chain.get(height) == Some(&cursor) {
                self.best_chain.truncate(height + 1);
                break;
            }
            suffix.push(cursor);
            if header.height == 0 {
                self.best_chain.clear();
                break;
            }
            cursor = header.parent;
        }
        self.best_chain.extend(suffix.into_iter().rev());
        self.best = tip;
    }

    /// The heaviest Mblock at or below `root` in the tree: `preferred` when it is among the
    /// heaviest (it was seen first), else the first found breadth-first, children in arrival
    /// order.
    fn heaviest_descendant(&self, root: Hash32, preferred: Option<Hash32>) -> Hash32 {
        let mut heaviest = root;
        let mut queue = VecDeque::from([root]);
        while let Some(hash) = queue.pop_front() {
            let node = &self.nodes[&hash];
            let best_work = self.nodes[&heaviest].work;
            if node.work > best_work || (node.work == best_work && preferred == Some(hash)) {
                heaviest = hash;
            }
            queue.extend(node.children.iter().copied());
        }
        heaviest
    }

    /// Whether `hash` is `ancestor` or one of its descendants.
    fn descends_from(&self, hash: &Hash32, ancestor: &Hash32) -> bool {
        let Some(target) = self.nodes.get(ancestor) else {
            return false;
        };
        let mut cursor = *hash;
        while let Some(node) = self.nodes.get(&cursor) {
            if node.header.height <= target.header.height {
                return cursor == *ancestor;
            }
            cursor = node.header.parent;
        }
        false
    }

    /// The hashes from `from` back to, excluding, its ancestor `until`, newest first.
    fn ancestors<'a>(
        &'a self,
        from: &Hash32,
        until: &'a Hash32,
    ) -> impl Iterator<Item = Hash32> + 'a {
        let mut cursor = Some(*from);
        std::iter::from_fn(move || {
            let hash = cursor.filter(|hash| hash != until)?;
            let node = self.nodes.get(&hash)?;
            cursor = (node.header.height > 0).then_some(node.header.parent);
            Some(hash)
        })
    }
}

/// The body limits decoding enforces, for an Mblock that was built rather than decoded.
fn check_body(body: &MblockBody) -> Result<(), MedError> {
    if body.batches.len() > MAX_MBLOCK_BATCHES {
        return Err(MedError::Malformed("more batches than MAX_MBLOCK_BATCHES"));
    }
    if body
        .batches
        .iter()
        .any(|batch| batch.txs.is_empty() || batch.txs.len() > MAX_BATCH_TXS)
    {
        return Err(MedError::Malformed(
            "a batch without releases or above MAX_BATCH_TXS",
        ));
    }
    if body.txs().count() > MAX_MBLOCK_TXS {
        return Err(MedError::Malformed("more releases than MAX_MBLOCK_TXS"));
    }
    if body.batches.is_empty() != body.signature.is_none() {
        return Err(MedError::Malformed(
            "a signature must be present exactly when there are batches",
        ));
    }
    Ok(())
}

/// A height as an index into the best chain (saturating: heights beyond memory find nothing).
fn height_index(height: u64) -> usize {
    usize::try_from(height).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pow::{meets_difficulty, mine};
    use medchain_types::ContentHash;

    const GENESIS_MS: u64 = 1_000_000;
    const INTERVAL_MS: u64 = 1_000;

    fn params() -> MedParams {
        MedParams {
            target_interval_ms: INTERVAL_MS,
            initial_difficulty: 16,
            min_difficulty: 4,
            retarget_window: 8,
        }
    }

    fn chain_id() -> ChainId {
        ChainId::new("medchain-test").unwrap()
    }

    fn open(store: MedStore) -> MedChain {
        MedChain::open(store, chain_id(), GENESIS_MS, params()).unwrap()
    }

    fn fresh() -> MedChain {
        open(MedStore::in_memory().unwrap())
    }

    fn release(n: u64) -> TxMr {
        TxMr {
            doctor: Address::from_bytes([1; 32]),
            patient: Address::from_bytes([2; 32]),
            record_hash: ContentHash::of(&n.to_be_bytes()),
            issued_at_ms: n,
        }
    }

    fn record(n: u64) -> RecordId {
        release(n).record_id(&chain_id())
    }

    /// The body of one hospital batch of `releases` (empty: no batch, no signature).
    fn body(releases: &[u64]) -> MblockBody {
        let batches: Vec<HospitalBatch> = (!releases.is_empty())
            .then(|| HospitalBatch {
                hospital: Address::from_bytes([3; 32]),
                txs: releases.iter().copied().map(release).collect(),
            })
            .into_iter()
            .collect();
        let signature = (!batches.is_empty()).then_some(BlsSignature([7; BlsSignature::LEN]));
        MblockBody { batches, signature }
    }

    /// An Mblock of `releases` mined by `miner` on `chain`'s best tip, one interval after it.
    fn mined(chain: &MedChain, miner: u8, releases: &[u64]) -> Mblock {
        let body = body(releases);
        let now_ms = chain.best().timestamp_ms + INTERVAL_MS;
        let header = chain.template(
            Address::from_bytes([miner; 32]),
            body.batches.clone(),
            body.signature,
            now_ms,
        );
        Mblock {
            header: remined(header),
            body,
        }
    }

    fn remined(mut header: MblockHeader) -> MblockHeader {
        header.nonce = 0;
        assert!(mine(&mut header, u64::MAX));
        header
    }

    fn now(chain: &MedChain) -> u64 {
        chain.best().timestamp_ms + INTERVAL_MS
    }

    /// Mines and inserts `n` empty Mblocks by `miner`; their hashes.
    fn extend(chain: &mut MedChain, miner: u8, n: usize) -> Vec<Hash32> {
        (0..n)
            .map(|_| {
                let block = mined(chain, miner, &[]);
                let now_ms = now(chain);
                chain.insert(block, now_ms).unwrap().hash
            })
            .collect()
    }

    /// Copies the Mblocks `hashes` from `from` into `to`; whether each became the best tip.
    fn relay(from: &MedChain, to: &mut MedChain, hashes: &[Hash32]) -> Vec<bool> {
        hashes
            .iter()
            .map(|hash| {
                let block = from.block(hash).unwrap().unwrap();
                let now_ms = block.header.timestamp_ms;
                to.insert(block, now_ms).unwrap().new_best
            })
            .collect()
    }

    #[test]
    fn the_future_drift_scales_with_the_interval() {
        let drift = |target_interval_ms| {
            future_drift_ms(&MedParams {
                target_interval_ms,
                ..params()
            })
        };
        assert_eq!(drift(1_000), MIN_FUTURE_DRIFT_MS);
        assert_eq!(drift(3_000), 36_000);
        assert_eq!(drift(600_000), MAX_FUTURE_DRIFT_MS);
        assert_eq!(drift(u64::MAX), MAX_FUTURE_DRIFT_MS);
    }

    #[test]
    fn the_tree_can_be_shared_across_tasks() {
        fn shareable<T: Send + Sync>() {}
        shareable::<MedChain>();
    }

    #[test]
    fn mined_blocks_extend_the_best_chain() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let hashes = extend(&mut chain, 1, 3);
        assert_eq!(chain.best_hash(), hashes[2]);
        assert_eq!(chain.best().height, 3);
        let headers = chain.headers(0, 10);
        assert_eq!(headers.len(), 4);
        assert_eq!(headers[0].hash(), genesis);
        assert_eq!(chain.headers(2, 1)[0].hash(), hashes[1]);
        assert!(chain.headers(9, 10).is_empty());
        assert_eq!(chain.window(&hashes[2]).len(), 4);
        assert!(chain.window(&Hash32::from([9; 32])).is_empty());
        let again = chain.block(&hashes[1]).unwrap().unwrap();
        assert!(matches!(
            chain.insert(again, now(&chain)),
            Err(MedError::AlreadyKnown(hash)) if hash == hashes[1]
        ));
        assert_eq!(
            chain.block(&genesis).unwrap().unwrap().header.hash(),
            genesis
        );
    }

    #[test]
    fn refused_blocks_are_typed_and_change_nothing() {
        let mut chain = fresh();
        extend(&mut chain, 1, 2);
        let before = (chain.best_hash(), chain.headers(0, 100));
        let now_ms = now(&chain);
        let good = mined(&chain, 1, &[1]);

        let mut bad_pow = good.clone();
        while meets_difficulty(&bad_pow.header.hash(), bad_pow.header.difficulty) {
            bad_pow.header.nonce += 1;
        }
        let with_header = |change: &dyn Fn(&mut MblockHeader)| {
            let mut block = good.clone();
            change(&mut block.header);
            block.header = remined(block.header);
            block
        };
        let wrong_difficulty = with_header(&|header| header.difficulty *= 2);
        let wrong_height = with_header(&|header| header.height += 1);
        let unknown_parent = with_header(&|header| header.parent = Hash32::from([9; 32]));
        let median = median_time_past(&chain.window(&good.header.parent));
        let too_old = with_header(&|header| header.timestamp_ms = median);
        let too_new =
            with_header(&|header| header.timestamp_ms = now_ms + future_drift_ms(&params()) + 1);
        let mut other_body = good.clone();
        other_body.body = body(&[2]);
        let mut empty_batch = good.clone();
        empty_batch.body.batches[0].txs.clear();
        empty_batch.header.tx_root = tx_root(&chain_id(), empty_batch.body.txs());
        empty_batch.header.body_hash = empty_batch.body.hash();
        empty_batch.header = remined(empty_batch.header);

        let refusals = [
            (bad_pow, "InsufficientWork"),
            (wrong_difficulty, "WrongDifficulty"),
            (wrong_height, "WrongHeight"),
            (unknown_parent, "UnknownParent"),
            (too_old, "TimestampTooOld"),
            (too_new, "TimestampInFuture"),
            (other_body, "BodyMismatch"),
            (empty_batch, "Malformed"),
        ];
        for (block, expected) in refusals {
            let hash = block.header.hash();
            let error = chain.insert(block, now_ms).unwrap_err();
            assert!(
                format!("{error:?}").starts_with(expected),
                "{expected}: got {error:?}"
            );
            assert!(!chain.contains(&hash));
            assert!(chain.block(&hash).unwrap().is_none());
        }
        assert_eq!((chain.best_hash(), chain.headers(0, 100)), before);
        assert_eq!(chain.find_record(&record(1)), None);

        let inserted = chain.insert(good, now_ms).unwrap();
        assert!(inserted.new_best);
        assert_eq!(chain.find_record(&record(1)), Some((inserted.hash, 0)));
    }

    #[test]
    fn more_work_above_the_checkpoint_reorganises_and_moves_records() {
        let mut chain = fresh();
        let common = extend(&mut chain, 1, 1);
        chain.set_checkpointed(common[0]).unwrap();
        let mut rival = fresh();
        relay(&chain, &mut rival, &common);

        let ours = mined(&chain, 1, &[1]);
        let ours = chain.insert(ours, now(&chain)).unwrap().hash;
        let ours_tip = extend(&mut chain, 1, 1)[0];
        let theirs = mined(&rival, 2, &[2, 1]);
        let theirs = rival.insert(theirs, now(&rival)).unwrap().hash;
        let theirs_rest = extend(&mut rival, 2, 2);
        assert_eq!(chain.find_record(&record(1)), Some((ours, 0)));

        // Equal work: the first seen stays best; more work takes over.
        let became_best = relay(
            &rival,
            &mut chain,
            &[theirs, theirs_rest[0], theirs_rest[1]],
        );
        assert_eq!(became_best, [false, false, true]);
        assert_eq!(chain.best_hash(), theirs_rest[1]);
        assert!(
            chain.contains(&ours_tip),
            "the losing fork is kept until a checkpoint"
        );
        assert_eq!(chain.find_record(&record(1)), Some((theirs, 1)));
        assert_eq!(chain.find_record(&record(2)), Some((theirs, 0)));
        let best_hashes: Vec<Hash32> = chain.headers(0, 10).iter().map(|h| h.hash()).collect();
        assert_eq!(
            best_hashes[1..],
            [common[0], theirs, theirs_rest[0], theirs_rest[1]]
        );
    }

    #[test]
    fn a_checkpoint_prunes_forks_and_refuses_blocks_below_it() {
        let store = MedStore::in_memory().unwrap();
        let mut chain = open(store.clone());
        let ours = extend(&mut chain, 1, 3);
        let mut rival = fresh();
        let theirs = extend(&mut rival, 2, 5);
        relay(&rival, &mut chain, &theirs[..4]);
        assert_eq!(chain.best_hash(), theirs[3]);

        chain.set_checkpointed(ours[1]).unwrap();
        assert_eq!(chain.checkpointed(), ours[1]);
        assert_eq!(
            chain.best_hash(),
            ours[2],
            "the best tip descends from the checkpoint"
        );
        for hash in &theirs[..4] {
            assert!(!chain.contains(hash));
            assert!(chain.block(hash).unwrap().is_none());
        }
        let next = rival.block(&theirs[4]).unwrap().unwrap();
        assert!(matches!(
            chain.insert(next, now(&chain)),
            Err(MedError::UnknownParent(parent)) if parent == theirs[3]
        ));
        let first = rival.block(&theirs[0]).unwrap().unwrap();
        assert!(matches!(
            chain.insert(first, now(&chain)),
            Err(MedError::NotAfterCheckpoint { checkpointed, .. }) if checkpointed == ours[1]
        ));
        assert!(!chain.contains(&theirs[0]) && chain.best_hash() == ours[2]);
        assert!(matches!(
            chain.set_checkpointed(ours[0]),
            Err(MedError::NotAfterCheckpoint { .. })
        ));
        assert!(matches!(
            chain.set_checkpointed(theirs[4]),
            Err(MedError::UnknownBlock(_))
        ));
        assert_eq!(chain.checkpointed(), ours[1]);
        assert!(chain.is_checkpointed(&ours[0]) && chain.is_checkpointed(&ours[1]));
        assert!(!chain.is_checkpointed(&ours[2]));
        assert_eq!(chain.choose_checkpoint().hashes(), [ours[2]]);

        // The pruning is durable: a restart does not bring the fork back.
        let restarted = open(store);
        assert_eq!(restarted.checkpointed(), ours[1]);
        assert_eq!(restarted.best_hash(), ours[2]);
        assert!(theirs.iter().all(|hash| !restarted.contains(hash)));
    }

    /// S3-supervise rule (3): between branches of equal length, the smallest Merkle root wins;
    /// rule (2) first: a longer branch wins whatever its root.
    #[test]
    fn the_checkpoint_is_the_longest_branch_then_the_smallest_root() {
        let mut chain = fresh();
        let mut rival = fresh();
        let ours = extend(&mut chain, 1, 1)[0];
        let theirs = extend(&mut rival, 2, 2);
        relay(&rival, &mut chain, &theirs[..1]);

        let tie = chain.choose_checkpoint();
        let smallest = merkle_root(&[ours]).min(merkle_root(&[theirs[0]]));
        assert_eq!(tie.root(), smallest);
        let expected = if smallest == merkle_root(&[ours]) {
            ours
        } else {
            theirs[0]
        };
        assert_eq!(tie.hashes(), [expected]);
        assert_eq!(tie.branch[0].header.parent, chain.genesis_hash());

        relay(&rival, &mut chain, &theirs[1..]);
        assert_eq!(chain.choose_checkpoint().hashes(), theirs);
    }

    #[test]
    fn a_checkpoint_holds_at_most_the_limit_and_nothing_when_nothing_is_new() {
        let mut chain = fresh();
        assert_eq!(chain.choose_checkpoint(), Checkpoint::default());
        let hashes = extend(&mut chain, 1, MAX_CHECKPOINT_MBLOCKS + 1);
        let checkpoint = chain.choose_checkpoint();
        assert_eq!(checkpoint.hashes(), hashes[..MAX_CHECKPOINT_MBLOCKS]);
        assert!(checkpoint.branch.iter().all(|b| b.txs_match(&chain_id())));
        let tip = checkpoint.tip().unwrap().hash();
        chain.set_checkpointed(tip).unwrap();
        assert_eq!(
            chain.choose_checkpoint().hashes(),
            [hashes[MAX_CHECKPOINT_MBLOCKS]]
        );
        chain
            .set_checkpointed(hashes[MAX_CHECKPOINT_MBLOCKS])
            .unwrap();
        assert_eq!(chain.choose_checkpoint(), Checkpoint::default());
    }

    #[test]
    fn known_extensions_are_exactly_known_branches_from_the_checkpoint() {
        let mut chain = fresh();
        let ours = mined(&chain, 1, &[1, 2]);
        chain.insert(ours, now(&chain)).unwrap();
        extend(&mut chain, 1, 1);
        let checkpoint = chain.choose_checkpoint();
        assert_eq!(checkpoint.branch.len(), 2);
        assert!(chain.is_known_extension(&checkpoint));
        assert!(chain.is_known_extension(&Checkpoint::default()));

        let mut other_txs = checkpoint.clone();
        other_txs.branch[0].txs.swap(0, 1);
        assert!(!chain.is_known_extension(&other_txs));
        let mut not_from_checkpoint = checkpoint.clone();
        not_from_checkpoint.branch.remove(0);
        assert!(!chain.is_known_extension(&not_from_checkpoint));
        let mut rival = fresh();
        extend(&mut rival, 2, 1);
        assert!(!chain.is_known_extension(&rival.choose_checkpoint()));

        chain
            .set_checkpointed(checkpoint.tip().unwrap().hash())
            .unwrap();
        assert!(
            !chain.is_known_extension(&checkpoint),
            "once checkpointed, the branch no longer extends the checkpoint"
        );
    }

    #[test]
    fn a_restart_from_disk_keeps_the_tree_the_best_tip_and_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("med.redb");
        let mut chain = open(MedStore::open(&path).unwrap());
        let common = extend(&mut chain, 1, 1);
        chain.set_checkpointed(common[0]).unwrap();
        let mut rival = fresh();
        relay(&chain, &mut rival, &common);
        let ours = mined(&chain, 1, &[1]);
        chain.insert(ours, now(&chain)).unwrap();
        extend(&mut chain, 1, 1);
        let theirs = extend(&mut rival, 2, 2);
        relay(&rival, &mut chain, &theirs);
        let before = (
            chain.best_hash(),
            chain.checkpointed(),
            chain.headers(0, 100),
            chain.find_record(&record(1)),
            chain.choose_checkpoint(),
        );
        assert!(before.3.is_some());
        drop(chain);

        let mut chain = open(MedStore::open(&path).unwrap());
        let after = (
            chain.best_hash(),
            chain.checkpointed(),
            chain.headers(0, 100),
            chain.find_record(&record(1)),
            chain.choose_checkpoint(),
        );
        assert_eq!(
            after, before,
            "same tip among equal work, checkpoint, records"
        );
        assert!(theirs.iter().all(|hash| chain.contains(hash)));
        assert_eq!(
            chain.block(&theirs[0]).unwrap(),
            rival.block(&theirs[0]).unwrap()
        );
        extend(&mut chain, 1, 1);
        drop(chain);

        let other: ChainId = ChainId::new("another-chain").unwrap();
        let reopened = MedChain::open(MedStore::open(&path).unwrap(), other, GENESIS_MS, params());
        assert!(matches!(reopened, Err(MedError::Corrupt(_))));
    }

    #[test]
    fn a_template_with_a_clock_behind_stays_after_median_time_past() {
        let mut chain = fresh();
        extend(&mut chain, 1, 3);
        let median = median_time_past(&chain.window(&chain.best_hash()));
        let behind_ms = median - 5_000;
        let header = chain.template(Address::from_bytes([1; 32]), Vec::new(), None, behind_ms);
        assert_eq!(header.timestamp_ms, median + 1);
        let block = Mblock {
            header: remined(header),
            body: body(&[]),
        };
        chain.insert(block, behind_ms).unwrap();
    }
}
