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
//! (2) the "longest", which in a chain of varying difficulty means the most cumulative work,
//! comparing whole branches before truncating the winner to [`MAX_CHECKPOINT_MBLOCKS`],
//! (3) the smallest Merkle root among branches of equal work — and SUP validators vote for it
//! only if [`MedChain::is_known_extension`] holds: every Mblock known and verified here, and
//! no heavier chain this validator knows would be pruned. That is how honest validators hold
//! a Byzantine proposer to the rules.
//!
//! A record is filed once per chain: an Mblock repeating a release of its ancestry (replayed
//! from an earlier Mblock) is refused, and every release must be issued within
//! [`RELEASE_VALIDITY_MS`] of its Mblock's timestamp. The tree keeps at most
//! [`MAX_SIDE_MBLOCKS`] Mblocks off its best chain.
//!
//! # Checking a received Mblock
//!
//! In order of cost, so junk costs its sender more than the node:
//!
//! 1. decode (bounded by the types' limits);
//! 2. [`MedChain::precheck`]: every cheap rule — known parent, above and descending from the
//!    checkpoint, proof of work, retargeted difficulty, timestamps, body commitment, replays;
//! 3. `aggregate::verify_block`: the pairings, about a thousand times the cost of step 2;
//! 4. [`MedChain::insert`], which checks everything again (the tree may have changed while
//!    the signatures were verified) and commits.
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
    Address, BlsSignature, ChainId, EntryId, Hash32, RecordId,
    med::{
        Checkpoint, CheckpointedMblock, EntryMr, HospitalBatch, MAX_BATCH_ENTRIES, MAX_BATCH_TXS,
        MAX_CHECKPOINT_ENTRIES, MAX_CHECKPOINT_MBLOCKS, MAX_CHECKPOINT_TXS, MAX_MBLOCK_BATCHES,
        MAX_MBLOCK_ENTRIES, MAX_MBLOCK_TXS, Mblock, MblockBody, MblockHeader, MedParams,
        RELEASE_VALIDITY_MS, TxMr,
    },
};
use std::collections::{HashMap, HashSet, VecDeque};

/// The most Mblocks the tree keeps off its best chain (all of them above the checkpoint: a
/// checkpoint prunes the others). When it is full, a new side Mblock evicts the lightest side
/// leaf, or is refused ([`MedError::TooManyForks`]) when it is the lightest: forks cost a
/// miner proof of work each, but without a cap they would cost every node memory (up to
/// `MAX_MBLOCK_TXS` releases each) until the next checkpoint. The best chain itself is not
/// capped: it is what SUP checkpoints next.
pub const MAX_SIDE_MBLOCKS: usize = 2 * MAX_CHECKPOINT_MBLOCKS;

/// Most hashes in a sync locator ([`MedChain::locator`]): ten recent Mblocks and then
/// doubling steps cover a chain of 2^50 Mblocks.
pub const MAX_LOCATOR: usize = 64;

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

/// What [`MedChain::check`] found inserting an Mblock would do.
struct Checked {
    hash: Hash32,
    work: u128,
    new_best: bool,
    /// The side leaf to evict to keep [`MAX_SIDE_MBLOCKS`].
    evict: Option<Hash32>,
}

/// One Mblock of the tree.
struct Node {
    header: MblockHeader,
    /// Work of the chain ending here: the sum of the difficulties above genesis.
    work: u128,
    /// The releases, kept while the Mblock is above the checkpoint (checkpoints carry them);
    /// emptied once it is checkpointed (the database still has the body).
    txs: Vec<TxMr>,
    /// The entries (S3-entry), kept and emptied like `txs`.
    entries: Vec<EntryMr>,
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
    records: Places<RecordId>,
    /// Where each entry is (S3-entry), likewise: its Mblock and index among the entries.
    entries: Places<EntryId>,
}

/// Where each item (record or entry) is: the Mblocks carrying it and its index there.
type Places<K> = HashMap<K, Vec<(Hash32, u32)>>;

/// Records `id` at `index` of Mblock `hash`.
fn place<K: std::hash::Hash + Eq>(places: &mut Places<K>, id: K, hash: Hash32, index: u32) {
    places.entry(id).or_default().push((hash, index));
}

/// Forgets Mblock `hash` as a place of `id`.
fn unplace<K: std::hash::Hash + Eq>(places: &mut Places<K>, id: &K, hash: &Hash32) {
    if let Some(found) = places.get_mut(id) {
        found.retain(|(block, _)| block != hash);
        if found.is_empty() {
            places.remove(id);
        }
    }
}

impl MedChain {
    /// Opens the tree of `chain_id`'s MED chain over `store`, rebuilding what a previous run
    /// stored (every Mblock, the checkpointed one, the best tip). Unusable `params` (see
    /// [`MedParams::validate`]) are refused with [`MedError::Params`].
    pub fn open(
        store: MedStore,
        chain_id: ChainId,
        genesis_time_ms: u64,
        params: MedParams,
    ) -> Result<Self, MedError> {
        params.validate()?;
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
            entries: HashMap::new(),
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
            place(&mut self.records, tx.record_id(&self.chain_id), hash, index);
        }
        for (index, entry) in (0u32..).zip(block.body.entries()) {
            place(
                &mut self.entries,
                entry.entry_id(&self.chain_id),
                hash,
                index,
            );
        }
        if let Some(parent) = self.nodes.get_mut(&block.header.parent) {
            parent.children.push(hash);
        }
        let txs = block.body.txs().cloned().collect();
        let entries = block.body.entries().cloned().collect();
        self.nodes.insert(
            hash,
            Node {
                header: block.header,
                work,
                txs,
                entries,
                children: Vec::new(),
            },
        );
    }

    /// Checks `block` and adds it to the tree: every rule of [`Self::precheck`], checked again
    /// here (the tree may have changed since). A refused Mblock changes nothing. The aggregate
    /// signature is NOT checked here: the caller verifies it (`aggregate::verify_block`) after
    /// [`Self::precheck`] and before inserting. When the tree already holds
    /// [`MAX_SIDE_MBLOCKS`] Mblocks off the best chain, a new side Mblock evicts the lightest
    /// side leaf (memory and database), or is refused if it is the lightest.
    pub fn insert(&mut self, block: Mblock, now_ms: u64) -> Result<Inserted, MedError> {
        let Checked {
            hash,
            work,
            new_best,
            evict,
        } = self.check(&block, now_ms)?;
        self.store.put_block(&hash, &block, new_best)?;
        if let Some(evicted) = evict {
            self.store.remove_blocks(&[evicted])?;
            self.detach(&evicted);
        }
        self.attach(hash, block, work);
        if new_best {
            self.set_best(hash);
        }
        Ok(Inserted { hash, new_best })
    }

    /// Every rule of [`Self::insert`], without changing anything: the Mblock is new; its body
    /// keeps the limits; its height is above the checkpoint's; it extends a known parent that
    /// descends from the newest checkpoint; its header passes [`check_header`] (height,
    /// retargeted difficulty, proof of work, median time past) and its timestamp is at most
    /// [`future_drift_ms`] after `now_ms`; the header commits to the body; no release is
    /// repeated in it or in its ancestry, and each was issued within
    /// [`RELEASE_VALIDITY_MS`] of its timestamp (see [`Self::check_releases`]); the fork cap
    /// leaves room for it.
    ///
    /// A node checks a received Mblock in this order: decode → `precheck` →
    /// `aggregate::verify_block` → `insert`. The pairings of `verify_block` cost about a
    /// thousand times what every check here does together, so an Mblock without proof of
    /// work, on an unknown parent ([`MedError::UnknownParent`]: fetch it, then precheck
    /// again) or below the checkpoint must never reach them.
    pub fn precheck(&self, block: &Mblock, now_ms: u64) -> Result<(), MedError> {
        self.check(block, now_ms).map(|_| ())
    }

    /// [`Self::precheck`], cheapest rules first, and what inserting would do.
    fn check(&self, block: &Mblock, now_ms: u64) -> Result<Checked, MedError> {
        let header = &block.header;
        let hash = header.hash();
        if self.nodes.contains_key(&hash) {
            return Err(MedError::AlreadyKnown(hash));
        }
        let not_after_checkpoint = MedError::NotAfterCheckpoint {
            block: hash,
            checkpointed: self.checkpointed,
        };
        // Before the parent lookup: such an Mblock can never be accepted, so its parent is
        // not worth fetching.
        if header.height <= self.nodes[&self.checkpointed].header.height {
            return Err(not_after_checkpoint);
        }
        let Some(parent) = self.nodes.get(&header.parent) else {
            return Err(MedError::UnknownParent(header.parent));
        };
        if !self.descends_from(&header.parent, &self.checkpointed) {
            return Err(not_after_checkpoint);
        }
        let window = self.window(&header.parent);
        check_header(&self.params, &parent.header, &window, header)?;
        let latest_ms = now_ms.saturating_add(future_drift_ms(&self.params));
        if header.timestamp_ms > latest_ms {
            return Err(MedError::TimestampInFuture {
                timestamp_ms: header.timestamp_ms,
                latest_ms,
            });
        }
        check_body(&block.body)?;
        if !block.body_matches(&self.chain_id) {
            return Err(MedError::BodyMismatch);
        }
        self.check_releases(&header.parent, header.timestamp_ms, block.body.txs())?;
        check_entries(&self.chain_id, header.timestamp_ms, block.body.entries())?;
        let work = parent.work + u128::from(header.difficulty);
        let new_best = work > self.nodes[&self.best].work;
        let evict = if new_best {
            None
        } else {
            self.room_for_side_block(&header.parent, work)
                .ok_or(MedError::TooManyForks(hash))?
        };
        Ok(Checked {
            hash,
            work,
            new_best,
            evict,
        })
    }

    /// Whether `txs` may be the releases of a child of `parent` stamped `timestamp_ms`: each
    /// issued within [`RELEASE_VALIDITY_MS`] of it (either way), none twice, and none already
    /// in `parent` or its ancestors — a release is filed once per chain, so a release or a
    /// whole signed batch copied from an earlier Mblock is refused (the freshness bound makes
    /// such copies stale within the hour anyway). Miners filter their pool with it before
    /// building a template.
    pub fn check_releases<'a>(
        &self,
        parent: &Hash32,
        timestamp_ms: u64,
        txs: impl IntoIterator<Item = &'a TxMr>,
    ) -> Result<(), MedError> {
        let mut seen = HashSet::new();
        // The ancestors above the checkpoint, gathered the first time a release is found
        // elsewhere in the tree (the checkpointed ones are everyone's ancestors).
        let mut pending_ancestors: Option<HashSet<Hash32>> = None;
        for tx in txs {
            let record = tx.record_id(&self.chain_id);
            if tx.issued_at_ms.abs_diff(timestamp_ms) > RELEASE_VALIDITY_MS {
                return Err(MedError::StaleRelease {
                    record,
                    issued_at_ms: tx.issued_at_ms,
                    timestamp_ms,
                });
            }
            if !seen.insert(record) {
                return Err(MedError::DuplicateRelease(record));
            }
            let Some(places) = self.records.get(&record) else {
                continue;
            };
            let ancestors = pending_ancestors
                .get_or_insert_with(|| self.ancestors(parent, &self.checkpointed).collect());
            if let Some(&(mblock, _)) = places
                .iter()
                .find(|(mblock, _)| ancestors.contains(mblock) || self.is_checkpointed(mblock))
            {
                return Err(MedError::ReplayedRelease { record, mblock });
            }
        }
        Ok(())
    }

    /// Room for a side Mblock of `work` on `parent`: `Some(None)` while the tree holds fewer
    /// than [`MAX_SIDE_MBLOCKS`] Mblocks off the best chain, or when `parent` is the only side
    /// leaf; `Some(Some(leaf))` when the lightest other side leaf is lighter and makes room;
    /// `None` when it is not. A lone side branch may grow past the cap: retargeting and the
    /// future-drift bound keep its length close to the best chain's (blocks cheaper than the
    /// best chain's need timestamps spread over real time), and refusing it would stop a node
    /// from ever following a long heavier branch (a healed partition). The cap is for forks.
    fn room_for_side_block(&self, parent: &Hash32, work: u128) -> Option<Option<Hash32>> {
        if self.nodes.len() - self.best_chain.len() < MAX_SIDE_MBLOCKS {
            return Some(None);
        }
        let Some((lightest, node)) = self
            .nodes
            .iter()
            .filter(|(hash, node)| {
                node.children.is_empty() && *hash != parent && !self.is_on_best_chain(hash)
            })
            .min_by_key(|(hash, node)| (node.work, **hash))
        else {
            return Some(None);
        };
        (node.work < work).then_some(Some(*lightest))
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
                && self.is_on_best_chain(hash)
        })
    }

    /// Whether the Mblock is on the best chain (genesis to the best tip).
    fn is_on_best_chain(&self, hash: &Hash32) -> bool {
        self.nodes
            .get(hash)
            .is_some_and(|node| self.best_chain.get(height_index(node.header.height)) == Some(hash))
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

    /// Removes a pruned Mblock from memory: from its parent's children and the record and
    /// entry indexes.
    fn detach(&mut self, hash: &Hash32) {
        let Some(node) = self.nodes.remove(hash) else {
            return;
        };
        if let Some(parent) = self.nodes.get_mut(&node.header.parent) {
            parent.children.retain(|child| child != hash);
        }
        for tx in &node.txs {
            unplace(&mut self.records, &tx.record_id(&self.chain_id), hash);
        }
        for entry in &node.entries {
            unplace(&mut self.entries, &entry.entry_id(&self.chain_id), hash);
        }
    }

    /// Drops the in-memory releases of the Mblocks from `tip` down to (excluding) `below`:
    /// checkpointed, they are never checkpointed again.
    fn forget_checkpointed_txs(&mut self, tip: Hash32, below: Hash32) {
        let newly_checkpointed: Vec<Hash32> = self.ancestors(&tip, &below).collect();
        for hash in newly_checkpointed {
            if let Some(node) = self.nodes.get_mut(&hash) {
                node.txs = Vec::new();
                node.entries = Vec::new();
            }
        }
    }

    /// The branch SUP's proposer checkpoints now (S3-supervise): (1) it starts at a child of
    /// the newest checkpointed Mblock; (2) it is the "longest" — the whole branch from there
    /// to a tip with the most cumulative work (the sum of difficulties, what longest means
    /// in a chain of varying difficulty; a longer but lighter branch loses); (3) among tips of
    /// equal work, the one whose checkpoint has the smallest Merkle root
    /// (`Checkpoint::root`). Whole branches are compared first and the chosen one is then
    /// truncated to its first [`MAX_CHECKPOINT_MBLOCKS`] Mblocks and
    /// [`MAX_CHECKPOINT_TXS`] releases (so a branch cut to the cap never ties with a longer,
    /// heavier one). With one heaviest tip this is the best chain's next stretch. Empty when
    /// nothing new descends from the checkpoint.
    pub fn choose_checkpoint(&self) -> Checkpoint {
        self.heaviest_tips(self.checkpointed)
            .into_iter()
            .filter(|tip| *tip != self.checkpointed)
            .map(|tip| {
                let mut branch: Vec<Hash32> = self.ancestors(&tip, &self.checkpointed).collect();
                branch.reverse();
                self.checkpoint_of(branch)
            })
            .min_by_key(Checkpoint::root)
            .unwrap_or_default()
    }

    /// The checkpoint of `branch` (oldest first, starting at a child of the checkpoint): its
    /// longest prefix within [`MAX_CHECKPOINT_MBLOCKS`], [`MAX_CHECKPOINT_TXS`] and
    /// [`MAX_CHECKPOINT_ENTRIES`].
    fn checkpoint_of(&self, branch: Vec<Hash32>) -> Checkpoint {
        let (mut releases, mut entries) = (0, 0);
        let branch = branch
            .iter()
            .take(MAX_CHECKPOINT_MBLOCKS)
            .map(|hash| {
                let node = &self.nodes[hash];
                CheckpointedMblock {
                    header: node.header.clone(),
                    txs: node.txs.clone(),
                    entries: node.entries.clone(),
                }
            })
            .take_while(|block| {
                releases += block.txs.len();
                entries += block.entries.len();
                releases <= MAX_CHECKPOINT_TXS && entries <= MAX_CHECKPOINT_ENTRIES
            })
            .collect();
        Checkpoint { branch }
    }

    /// The Mblocks at or below `root` with the most work (`root` itself when it has no
    /// descendant): the tips of the heaviest branches from it.
    fn heaviest_tips(&self, root: Hash32) -> Vec<Hash32> {
        let mut heaviest = vec![root];
        let mut most = self.nodes[&root].work;
        let mut queue = VecDeque::from([root]);
        while let Some(hash) = queue.pop_front() {
            let node = &self.nodes[&hash];
            if node.work > most {
                most = node.work;
                heaviest.clear();
            }
            if node.work == most && hash != root {
                heaviest.push(hash);
            }
            queue.extend(node.children.iter().copied());
        }
        heaviest
    }

    /// Whether a SUP validator may vote for a block checkpointing `checkpoint`
    /// (S3-supervise). The branch must be one this node knows fully: its first Mblock's parent
    /// is the newest checkpointed Mblock (rule 1), each next one is the child of the one
    /// before, at most [`MAX_CHECKPOINT_MBLOCKS`] Mblocks and [`MAX_CHECKPOINT_TXS`]
    /// releases, and every one is in this tree — so it passed [`Self::insert`] and its
    /// aggregate signature was verified — with exactly the releases it has here. And it must
    /// not prune a heavier chain this node knows (rule 2): its tip is on this node's best
    /// chain, or leads to a tip with at least the best tip's work (the tip itself or one of
    /// its descendants; this also admits the prefix of an equally heavy branch that rule (3)
    /// chose over this node's first-seen best).
    ///
    /// This is how validators hold a Byzantine proposer to rules (1)–(3): a short or light
    /// rival fork is refused, so it cannot prune the honest chain with its pending releases.
    /// The slack: a validator that knows less than the proposer only refuses (it votes for no
    /// branch it does not know), and between branches of equal work it accepts either (rule
    /// (3) picks among them, but no choice among them prunes more work than it keeps).
    /// A proposer may still checkpoint a prefix of the best chain, or nothing: that only
    /// delays finality. An empty checkpoint asks nothing: true.
    pub fn is_known_extension(&self, checkpoint: &Checkpoint) -> bool {
        let releases: usize = checkpoint.branch.iter().map(|block| block.txs.len()).sum();
        let entries: usize = checkpoint
            .branch
            .iter()
            .map(|block| block.entries.len())
            .sum();
        if checkpoint.branch.len() > MAX_CHECKPOINT_MBLOCKS
            || releases > MAX_CHECKPOINT_TXS
            || entries > MAX_CHECKPOINT_ENTRIES
        {
            return false;
        }
        let mut parent = self.checkpointed;
        for block in &checkpoint.branch {
            let hash = block.header.hash();
            let known = self
                .nodes
                .get(&hash)
                .is_some_and(|node| node.txs == block.txs && node.entries == block.entries);
            if block.header.parent != parent || !known {
                return false;
            }
            parent = hash;
        }
        parent == self.checkpointed || self.prunes_no_heavier_chain(&parent)
    }

    /// Whether a checkpoint at the known Mblock `tip` keeps a chain with at least the best
    /// tip's work.
    fn prunes_no_heavier_chain(&self, tip: &Hash32) -> bool {
        if self.is_on_best_chain(tip) {
            return true;
        }
        let best_work = self.nodes[&self.best].work;
        self.heaviest_tips(*tip)
            .first()
            .is_some_and(|heaviest| self.nodes[heaviest].work >= best_work)
    }

    /// A locator of the best chain for headers-first sync: the hashes of the tip, the nine
    /// Mblocks below it, then every Mblock at twice the distance of the one before, and the
    /// genesis Mblock — at most [`MAX_LOCATOR`] hashes, newest first. A peer answers with the
    /// headers after the newest one on its own best chain ([`Self::headers_after`]).
    pub fn locator(&self) -> Vec<Hash32> {
        let mut locator = Vec::new();
        let mut height = self.best_chain.len() - 1;
        let mut step = 1;
        while height > 0 && locator.len() < MAX_LOCATOR - 1 {
            locator.push(self.best_chain[height]);
            if locator.len() >= 10 {
                step *= 2;
            }
            height = height.saturating_sub(step);
        }
        locator.push(self.best_chain[0]);
        locator
    }

    /// Up to `limit` headers of the best chain after the newest Mblock of `locator` that is on
    /// it (the answer to a peer's [`Self::locator`]); none when the locator shares nothing
    /// with this chain (not even its genesis Mblock).
    pub fn headers_after(&self, locator: &[Hash32], limit: usize) -> Vec<MblockHeader> {
        locator
            .iter()
            .find(|hash| self.is_on_best_chain(hash))
            .map(|hash| self.headers(self.nodes[hash].header.height + 1, limit))
            .unwrap_or_default()
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
            tx_root: body.item_root(&self.chain_id),
            body_hash: body.hash(),
            timestamp_ms: self.template_timestamp(now_ms),
            difficulty: next_difficulty(&self.params, &window),
            miner,
            nonce: 0,
        }
    }

    /// The timestamp [`Self::template`] gives an Mblock on the best tip at `now_ms`: `now_ms`,
    /// or just after the median time past if the clock is behind it. A miner checks its
    /// batches with [`Self::check_releases`] at this time before building the template.
    pub fn template_timestamp(&self, now_ms: u64) -> u64 {
        now_ms.max(median_time_past(&self.window(&self.best)).saturating_add(1))
    }

    /// Where the record `id` is on the best chain: its Mblock and its index among the
    /// Mblock's releases, in body order.
    pub fn find_record(&self, id: &RecordId) -> Option<(Hash32, u32)> {
        self.on_best_chain(self.records.get(id)?)
    }

    /// The Mblock of the best chain carrying entry `id` (S3-entry) and its index among that
    /// Mblock's entries.
    pub fn find_entry(&self, id: &EntryId) -> Option<(Hash32, u32)> {
        self.on_best_chain(self.entries.get(id)?)
    }

    fn on_best_chain(&self, places: &[(Hash32, u32)]) -> Option<(Hash32, u32)> {
        places
            .iter()
            .copied()
            .find(|(hash, _)| self.is_on_best_chain(hash))
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
        let tips = self.heaviest_tips(root);
        preferred
            .filter(|preferred| tips.contains(preferred))
            .unwrap_or(tips[0])
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

/// Whether `entries` may be the entries of an Mblock stamped `timestamp_ms` (S3-entry): each
/// issued within [`RELEASE_VALIDITY_MS`] of it, either way, like a release — so a batch of
/// entries copied from an old Mblock is stale within the hour. An entry filed twice is not
/// refused here: SUP's import files an entry id once and skips the copy (`MedEntryRefused`).
pub fn check_entries<'a>(
    chain_id: &ChainId,
    timestamp_ms: u64,
    entries: impl IntoIterator<Item = &'a EntryMr>,
) -> Result<(), MedError> {
    for entry in entries {
        if entry.issued_at_ms.abs_diff(timestamp_ms) > RELEASE_VALIDITY_MS {
            return Err(MedError::StaleEntry {
                entry: entry.entry_id(chain_id),
                issued_at_ms: entry.issued_at_ms,
                timestamp_ms,
            });
        }
    }
    Ok(())
}

/// The body limits decoding enforces, for an Mblock that was built rather than decoded.
fn check_body(body: &MblockBody) -> Result<(), MedError> {
    if body.batches.len() > MAX_MBLOCK_BATCHES {
        return Err(MedError::Malformed("more batches than MAX_MBLOCK_BATCHES"));
    }
    if body.batches.iter().any(|batch| {
        (batch.txs.is_empty() && batch.entries.is_empty())
            || batch.txs.len() > MAX_BATCH_TXS
            || batch.entries.len() > MAX_BATCH_ENTRIES
    }) {
        return Err(MedError::Malformed(
            "a batch without items or above MAX_BATCH_TXS or MAX_BATCH_ENTRIES",
        ));
    }
    if body.txs().count() > MAX_MBLOCK_TXS {
        return Err(MedError::Malformed("more releases than MAX_MBLOCK_TXS"));
    }
    if body.entries().count() > MAX_MBLOCK_ENTRIES {
        return Err(MedError::Malformed("more entries than MAX_MBLOCK_ENTRIES"));
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
    use medchain_types::{ContentHash, med::merkle_root};

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
                entries: Vec::new(),
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

    /// Headers-first sync (review R5): a node behind, or on a fork, learns from one answer to
    /// its locator every header it lacks after the last Mblock both best chains share.
    #[test]
    fn a_locator_finds_the_fork_point_and_the_headers_after_it() {
        let mut ahead = fresh();
        let shared = extend(&mut ahead, 1, 30);
        let mut behind = fresh();
        relay(&ahead, &mut behind, &shared[..12]);
        let more = extend(&mut ahead, 1, 5);

        let locator = behind.locator();
        assert_eq!(locator[0], shared[11], "newest first");
        assert_eq!(*locator.last().unwrap(), behind.genesis_hash());
        let long = ahead.locator();
        assert_eq!(
            long[..10],
            ahead
                .headers(26, 10)
                .iter()
                .rev()
                .map(MblockHeader::hash)
                .collect::<Vec<_>>()[..]
        );
        assert!(long.len() < 16, "steps double after ten: {}", long.len());
        let headers = ahead.headers_after(&locator, 100);
        assert_eq!(headers.len(), 18 + 5);
        assert_eq!(headers[0].parent, shared[11]);
        assert_eq!(headers.last().unwrap().hash(), more[4]);
        assert_eq!(ahead.headers_after(&locator, 3).len(), 3);

        // Behind mined a fork of its own: the answer starts after the shared part.
        extend(&mut behind, 2, 2);
        let headers = ahead.headers_after(&behind.locator(), 100);
        assert_eq!(headers[0].parent, shared[11]);
        // Up to date: nothing; another chain entirely: nothing.
        assert!(ahead.headers_after(&ahead.locator(), 100).is_empty());
        assert!(
            ahead
                .headers_after(&[Hash32::from([9; 32])], 100)
                .is_empty()
        );
        let new = fresh();
        assert_eq!(new.locator(), vec![new.genesis_hash()]);
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
        empty_batch.header.tx_root = empty_batch.body.item_root(&chain_id());
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
            // H1: the precheck the node runs before the pairings refuses exactly what insert
            // refuses (these bodies carry a placeholder signature: none is needed).
            let early = chain.precheck(&block, now_ms).unwrap_err();
            let error = chain.insert(block, now_ms).unwrap_err();
            for error in [early, error] {
                assert!(
                    format!("{error:?}").starts_with(expected),
                    "{expected}: got {error:?}"
                );
            }
            assert!(!chain.contains(&hash));
            assert!(chain.block(&hash).unwrap().is_none());
        }
        assert_eq!((chain.best_hash(), chain.headers(0, 100)), before);
        assert_eq!(chain.find_record(&record(1)), None);

        chain.precheck(&good, now_ms).unwrap();
        assert!(
            !chain.contains(&good.header.hash()),
            "a precheck changes nothing"
        );
        let inserted = chain.insert(good.clone(), now_ms).unwrap();
        assert!(matches!(
            chain.precheck(&good, now_ms),
            Err(MedError::AlreadyKnown(_))
        ));
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

    /// A mined child of the known Mblock `parent` stamped `timestamp_ms` carrying `txs`, its
    /// nonce search starting at `nonce` (so siblings differ).
    fn child_of(
        chain: &MedChain,
        parent: Hash32,
        timestamp_ms: u64,
        txs: Vec<TxMr>,
        nonce: u64,
    ) -> Mblock {
        child_with(chain, parent, timestamp_ms, body_of(txs), nonce)
    }

    /// A mined child of `parent` with `body`.
    fn child_with(
        chain: &MedChain,
        parent: Hash32,
        timestamp_ms: u64,
        body: MblockBody,
        nonce: u64,
    ) -> Mblock {
        let mut header = MblockHeader {
            height: chain.header(&parent).unwrap().height + 1,
            parent,
            tx_root: body.item_root(&chain_id()),
            body_hash: body.hash(),
            timestamp_ms,
            difficulty: next_difficulty(chain.params(), &chain.window(&parent)),
            miner: Address::from_bytes([9; 32]),
            nonce,
        };
        assert!(mine(&mut header, u64::MAX));
        Mblock { header, body }
    }

    fn body_of(txs: Vec<TxMr>) -> MblockBody {
        if txs.is_empty() {
            return body(&[]);
        }
        MblockBody {
            batches: vec![HospitalBatch {
                hospital: Address::from_bytes([3; 32]),
                txs,
                entries: Vec::new(),
            }],
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        }
    }

    fn releases(ns: &[u64]) -> Vec<TxMr> {
        ns.iter().copied().map(release).collect()
    }

    /// Inserts a chain of Mblocks on `parent`, the i-th (from 1) stamped
    /// `start_ms + i * step_ms` carrying release `first + i` when `first` is given; their
    /// hashes.
    fn branch(
        chain: &mut MedChain,
        parent: Hash32,
        n: u64,
        start_ms: u64,
        step_ms: u64,
        first: Option<u64>,
        nonce: u64,
    ) -> Vec<Hash32> {
        let mut parent = parent;
        (1..=n)
            .map(|i| {
                let txs = first
                    .map(|first| releases(&[first + i]))
                    .unwrap_or_default();
                let block = child_of(chain, parent, start_ms + i * step_ms, txs, nonce);
                parent = chain.insert(block, u64::MAX / 2).unwrap().hash;
                parent
            })
            .collect()
    }

    fn checkpoint_of(chain: &MedChain, hashes: &[Hash32]) -> Checkpoint {
        Checkpoint {
            branch: hashes
                .iter()
                .map(|hash| CheckpointedMblock::of(&chain.block(hash).unwrap().unwrap()))
                .collect(),
        }
    }

    fn work(chain: &MedChain, hashes: &[Hash32]) -> u64 {
        hashes
            .iter()
            .map(|h| chain.header(h).unwrap().difficulty)
            .sum()
    }

    /// H3: a Byzantine SUP proposer cannot checkpoint a short rival fork (known, valid, but
    /// lighter) over the honest chain: validators refuse it.
    #[test]
    fn a_short_rival_fork_is_not_an_acceptable_checkpoint() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let honest = branch(&mut chain, genesis, 3, GENESIS_MS, 1_000, Some(0), 0);
        let rival = branch(&mut chain, genesis, 1, GENESIS_MS + 500, 1_000, None, 99);
        assert_eq!(chain.choose_checkpoint().hashes(), honest);
        assert!(chain.is_known_extension(&checkpoint_of(&chain, &honest)));
        assert!(chain.is_known_extension(&checkpoint_of(&chain, &honest[..1])));
        assert!(
            !chain.is_known_extension(&checkpoint_of(&chain, &rival)),
            "it would prune 3 heavier honest Mblocks and their releases"
        );
    }

    /// M1: rule (2) counts work, not Mblocks: a longer branch made light by slow timestamps
    /// is neither chosen nor accepted over the heavier best chain.
    #[test]
    fn a_longer_lighter_branch_is_not_checkpointed_over_the_heavier_chain() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let heavy = branch(&mut chain, genesis, 3, GENESIS_MS, 1, None, 0);
        let light = branch(&mut chain, genesis, 4, GENESIS_MS, 10_000, Some(100), 0);
        assert!(work(&chain, &heavy) > work(&chain, &light));
        assert_eq!(chain.best_hash(), heavy[2]);
        assert_eq!(chain.choose_checkpoint().hashes(), heavy);
        assert!(!chain.is_known_extension(&checkpoint_of(&chain, &light)));
        assert!(chain.is_known_extension(&checkpoint_of(&chain, &heavy)));
    }

    /// M2: whole branches are compared before the cap truncates them: a branch of exactly
    /// MAX_CHECKPOINT_MBLOCKS with a ground (smaller) root does not tie with a longer,
    /// heavier chain.
    #[test]
    fn past_the_cap_a_ground_root_does_not_beat_a_longer_heavier_chain() {
        let cap = MAX_CHECKPOINT_MBLOCKS as u64;
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let honest = branch(&mut chain, genesis, cap + 8, GENESIS_MS, 1_000, None, 0);
        let honest_root = merkle_root(&honest[..MAX_CHECKPOINT_MBLOCKS]);
        let mut attacker = branch(&mut chain, genesis, cap - 1, GENESIS_MS + 1, 1_000, None, 0);
        let parent = *attacker.last().unwrap();
        for tries in 1.. {
            let timestamp_ms = GENESIS_MS + 1 + cap * 1_000;
            let last = child_of(&chain, parent, timestamp_ms, vec![], tries * 1_000_000);
            let mut ground = attacker.clone();
            ground.push(last.header.hash());
            if merkle_root(&ground) < honest_root {
                chain.insert(last, u64::MAX / 2).unwrap();
                attacker = ground;
                break;
            }
        }
        assert_eq!(
            chain.choose_checkpoint().hashes(),
            honest[..MAX_CHECKPOINT_MBLOCKS]
        );
        assert!(!chain.is_known_extension(&checkpoint_of(&chain, &attacker)));
    }

    /// Rule (3) only decides between branches of equal work, and validators accept either.
    #[test]
    fn equal_work_branches_are_both_acceptable() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let first = branch(&mut chain, genesis, 1, GENESIS_MS, 1_000, None, 0);
        let second = branch(&mut chain, genesis, 1, GENESIS_MS, 1_000, Some(0), 7);
        assert_eq!(work(&chain, &first), work(&chain, &second));
        assert_eq!(chain.best_hash(), first[0], "the first seen is best");
        let chosen = chain.choose_checkpoint();
        assert_eq!(chosen.root(), merkle_root(&first).min(merkle_root(&second)));
        assert!(chain.is_known_extension(&checkpoint_of(&chain, &first)));
        assert!(chain.is_known_extension(&checkpoint_of(&chain, &second)));
    }

    /// S3-entry: an Mblock of entries alone is accepted, its entries travel in the checkpoint
    /// (which validators then match entry for entry), and a stale entry is refused like a
    /// stale release.
    #[test]
    fn entries_are_checkpointed_and_must_be_fresh() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let t = GENESIS_MS;
        let entry = |issued_at_ms: u64| EntryMr {
            patient: Address::from_bytes([2; 32]),
            entry: medchain_types::EntryBytes(vec![0xee; 16]),
            issued_at_ms,
        };
        let entries_body = |entries: Vec<EntryMr>| MblockBody {
            batches: vec![HospitalBatch {
                hospital: Address::from_bytes([3; 32]),
                txs: Vec::new(),
                entries,
            }],
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        };
        let timestamp_ms = t + 2 * RELEASE_VALIDITY_MS;
        let stale = child_with(
            &chain,
            genesis,
            timestamp_ms,
            entries_body(vec![entry(timestamp_ms - RELEASE_VALIDITY_MS - 1)]),
            0,
        );
        assert!(matches!(
            chain.insert(stale, timestamp_ms),
            Err(MedError::StaleEntry { .. })
        ));
        let fresh_entries = vec![
            entry(timestamp_ms),
            entry(timestamp_ms - RELEASE_VALIDITY_MS),
        ];
        let block = child_with(
            &chain,
            genesis,
            timestamp_ms,
            entries_body(fresh_entries.clone()),
            0,
        );
        let hash = block.header.hash();
        chain.insert(block, timestamp_ms).unwrap();
        assert_eq!(
            chain.find_entry(&fresh_entries[1].entry_id(&chain_id())),
            Some((hash, 1))
        );
        let checkpoint = chain.choose_checkpoint();
        assert_eq!(checkpoint.hashes(), [hash]);
        assert_eq!(checkpoint.branch[0].entries, fresh_entries);
        assert!(checkpoint.branch[0].txs_match(&chain_id()));
        assert!(chain.is_known_extension(&checkpoint));
        let mut altered = checkpoint;
        altered.branch[0].entries.pop();
        assert!(!chain.is_known_extension(&altered));
    }

    /// M3: a release is filed once per chain: a later Mblock (above or below the checkpoint)
    /// repeating it is refused, a rival fork may carry it, and it must be fresh.
    #[test]
    fn releases_are_neither_replayed_nor_repeated_nor_stale() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let t = GENESIS_MS;
        let first = chain
            .insert(
                child_of(&chain, genesis, t + 1_000, releases(&[1, 2]), 0),
                t,
            )
            .unwrap()
            .hash;
        let replay = child_of(&chain, first, t + 2_000, releases(&[3, 1]), 0);
        let refused = chain.precheck(&replay, t).unwrap_err();
        assert!(
            matches!(refused, MedError::ReplayedRelease { record, mblock }
                if record == self::record(1) && mblock == first),
            "{refused:?}"
        );
        assert!(chain.insert(replay, t).is_err());
        let twice = child_of(&chain, first, t + 2_000, releases(&[4, 4]), 0);
        assert!(matches!(
            chain.insert(twice, t),
            Err(MedError::DuplicateRelease(record)) if record == self::record(4)
        ));
        let sibling = child_of(&chain, genesis, t + 1_500, releases(&[1]), 5);
        chain.insert(sibling, t).unwrap();

        // Checkpointed ancestors count too (their releases are no longer kept in memory).
        let second = chain
            .insert(child_of(&chain, first, t + 2_000, releases(&[3]), 0), t)
            .unwrap()
            .hash;
        chain.set_checkpointed(second).unwrap();
        let late = child_of(&chain, second, t + 3_000, releases(&[2]), 0);
        assert!(matches!(
            chain.insert(late, t),
            Err(MedError::ReplayedRelease { mblock, .. }) if mblock == first
        ));

        let stamped = |issued_at_ms| TxMr {
            issued_at_ms,
            ..release(9)
        };
        let timestamp_ms = t + 2 * RELEASE_VALIDITY_MS;
        let now_ms = timestamp_ms;
        for issued_at_ms in [
            timestamp_ms - RELEASE_VALIDITY_MS - 1,
            timestamp_ms + RELEASE_VALIDITY_MS + 1,
        ] {
            let stale = child_of(&chain, second, timestamp_ms, vec![stamped(issued_at_ms)], 0);
            assert!(matches!(
                chain.insert(stale, now_ms),
                Err(MedError::StaleRelease { issued_at_ms: at, .. }) if at == issued_at_ms
            ));
        }
        for issued_at_ms in [
            timestamp_ms - RELEASE_VALIDITY_MS,
            timestamp_ms + RELEASE_VALIDITY_MS,
        ] {
            let fresh = child_of(&chain, second, timestamp_ms, vec![stamped(issued_at_ms)], 0);
            chain.precheck(&fresh, now_ms).unwrap();
        }
    }

    /// L2: unusable parameters are refused when the tree opens.
    #[test]
    fn unusable_parameters_are_refused_at_open() {
        let params = MedParams {
            retarget_window: 0,
            ..params()
        };
        let opened = MedChain::open(MedStore::in_memory().unwrap(), chain_id(), 0, params);
        assert!(matches!(
            opened,
            Err(MedError::Params(
                medchain_types::med::MedParamsError::RetargetWindow(0)
            ))
        ));
    }

    /// L3: an Mblock at or below the checkpoint's height is refused as such, even with an
    /// unknown parent: there is nothing worth fetching.
    #[test]
    fn a_block_below_the_checkpoint_with_an_unknown_parent_is_not_fetched() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let ours = branch(&mut chain, genesis, 3, GENESIS_MS, 1_000, None, 0);
        chain.set_checkpointed(ours[2]).unwrap();
        let mut stale = child_of(&chain, ours[0], GENESIS_MS + 2_500, vec![], 7);
        stale.header.parent = Hash32::from([0xab; 32]);
        for result in [
            chain.precheck(&stale, u64::MAX / 2),
            chain.insert(stale, u64::MAX / 2).map(|_| ()),
        ] {
            assert!(matches!(result, Err(MedError::NotAfterCheckpoint { .. })));
        }
    }

    /// M6: the tree keeps at most MAX_SIDE_MBLOCKS off its best chain: a new side Mblock
    /// evicts the lightest side leaf, or is refused when it is among the lightest.
    #[test]
    fn forks_above_the_checkpoint_are_capped() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        // Fast, so its difficulty climbs: heavier than any two-Mblock fork below.
        let best = branch(&mut chain, genesis, 3, GENESIS_MS, 1, None, 0);
        let sides: Vec<Hash32> = (1..=MAX_SIDE_MBLOCKS as u64)
            .map(|i| {
                let side = child_of(&chain, genesis, GENESIS_MS + i, vec![], i << 40);
                chain.insert(side, u64::MAX / 2).unwrap().hash
            })
            .collect();
        let one_more = child_of(&chain, genesis, GENESIS_MS + 999, vec![], 999 << 40);
        let hash = one_more.header.hash();
        assert!(matches!(
            chain.precheck(&one_more, u64::MAX / 2),
            Err(MedError::TooManyForks(refused)) if refused == hash
        ));
        assert!(chain.insert(one_more, u64::MAX / 2).is_err());
        assert!(!chain.contains(&hash));

        // A heavier side Mblock (a child of a side leaf) evicts a lighter side leaf.
        let heavier = child_of(&chain, sides[0], GENESIS_MS + 2_000, vec![], 0);
        let inserted = chain.insert(heavier, u64::MAX / 2).unwrap();
        assert!(!inserted.new_best);
        assert_eq!(chain.best_hash(), best[2]);
        assert!(chain.contains(&inserted.hash) && chain.contains(&sides[0]));
        let evicted: Vec<&Hash32> = sides.iter().filter(|h| !chain.contains(h)).collect();
        assert_eq!(evicted.len(), 1);
        assert!(chain.block(evicted[0]).unwrap().is_none(), "gone from disk");
    }

    /// The chosen branch is also cut to MAX_CHECKPOINT_TXS releases (what a checkpoint may
    /// decode), and validators refuse one above it.
    #[test]
    fn a_checkpoint_holds_at_most_the_release_limit() {
        let mut chain = fresh();
        let mut parent = chain.genesis_hash();
        let full_blocks = MAX_CHECKPOINT_TXS / MAX_MBLOCK_TXS + 1;
        let mut hashes = Vec::new();
        for i in 0..full_blocks as u64 {
            let first = i * MAX_MBLOCK_TXS as u64;
            let body = MblockBody {
                batches: (0..(MAX_MBLOCK_TXS / MAX_BATCH_TXS) as u64)
                    .map(|b| HospitalBatch {
                        hospital: Address::from_bytes([3; 32]),
                        txs: (0..MAX_BATCH_TXS as u64)
                            .map(|n| release(first + b * MAX_BATCH_TXS as u64 + n))
                            .collect(),
                        entries: Vec::new(),
                    })
                    .collect(),
                signature: Some(BlsSignature([7; BlsSignature::LEN])),
            };
            let block = child_with(&chain, parent, GENESIS_MS + (i + 1) * 1_000, body, 0);
            parent = chain.insert(block, u64::MAX / 2).unwrap().hash;
            hashes.push(parent);
        }
        let checkpoint = chain.choose_checkpoint();
        assert_eq!(checkpoint.hashes(), hashes[..full_blocks - 1]);
        assert!(chain.is_known_extension(&checkpoint));
        assert!(!chain.is_known_extension(&checkpoint_of(&chain, &hashes)));
    }

    /// The fork cap bounds forks, not the length of one branch: a lone side branch longer
    /// than the cap is kept (it may still overtake the best chain).
    #[test]
    fn a_lone_side_branch_may_outgrow_the_fork_cap() {
        let mut chain = fresh();
        let genesis = chain.genesis_hash();
        let best = branch(&mut chain, genesis, 3, GENESIS_MS, 1, None, 0);
        let long = MAX_SIDE_MBLOCKS as u64 + 6;
        let side = branch(&mut chain, genesis, long, GENESIS_MS, 10_000, None, 0);
        assert_eq!(chain.best_hash(), best[2]);
        assert!(side.iter().all(|hash| chain.contains(hash)));
    }
}
