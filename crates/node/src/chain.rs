//! The execution driver: everything the node does with blocks and transactions that is not
//! consensus plumbing.
//!
//! - *Admission* (API and gossip): batch signature verification, the mempool's cheap checks
//!   (fee, nonce, affordability), a dry run of the transaction against committed state when it
//!   is next in line (so a client hears about a rule violation at once), then the mempool. A
//!   `research.enrol` is admitted only as its sender's next transaction, so its zero-knowledge
//!   proof is always verified by that dry run — after every cheap check — before the node
//!   holds or gossips it: an enrolment from a fresh one-time address pays nothing until its
//!   reward is credited, and a flood of junk ones must not be held or passed on for free.
//! - *Speculation*: proposals and verifications execute on top of their parent, which may not be
//!   final yet. Executed-but-unfinalized blocks are kept by digest and stacked as overlay layers
//!   over the committed store, so competing forks never see each other's writes.
//! - *Finalization*: marshal delivers finalized blocks in height order, at least once. Each is
//!   committed to redb in one transaction together with the height and digest it reflects
//!   (issue 2 §4); a redelivered height with the same digest is a no-op.
//!
//! Validity of a block is decided here by replaying it: its MED checkpoint must apply, every
//! transaction must verify and execute successfully, and the header's state root must equal
//! the replayed root. A proposal must also checkpoint only Mblocks this validator knows as
//! valid ([`CheckpointSource::knows`], S3-supervise).

use crate::{
    gossip::GossipHandle,
    med_checkpoint::CheckpointSource,
    mempool::{
        AdmissionError, Admitted, Charge, DropReason, Mempool, MempoolStatus, SenderAccount,
    },
};
use commonware_codec::EncodeSize;
use commonware_cryptography::Digest as _;
use medchain_state::{
    BlockEnv, BlockExecutor, ExecError, ExecutedBlock, Overlay, StateError, StateRead,
    StateReadExt,
    keys::{self, StateKey},
    med::CheckpointError,
    research, staking, token,
    values::{ChainConfig, ValidatorSet},
};
use medchain_storage::{CommitBatch, LastApplied, Snapshot, StorageError, Store};
use medchain_types::{
    Address, Block, ChainId, FeeSchedule, Genesis, Hash32, Header, Payload, SignatureCache,
    SignatureCacheLimits, Transaction, TxError, TxId, VerifiedTransaction, limits, med::Checkpoint,
    research::ResearchPayload,
};
use rand_core::CryptoRng;
use std::{
    collections::HashMap,
    num::NonZeroU64,
    sync::{
        Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// The root the header's `revocation_root` must carry until the revocation list (S3-revoke)
/// has one, so a block claiming otherwise is invalid; also `tx_root`'s placeholder before
/// [`Block::new`] computes it.
pub const EMPTY_ROOT: Hash32 = Hash32::EMPTY;

/// Why a transaction was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// Chain id or a signature is wrong.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// It would be rejected by the state machine right now.
    #[error("rejected by the state machine: {0}")]
    Rejected(#[from] ExecError),
    /// The mempool refused it.
    #[error(transparent)]
    Mempool(#[from] AdmissionError),
    /// The store failed.
    #[error("state unavailable: {0}")]
    State(String),
}

/// Why a block is invalid (a permanent verdict) or could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A transaction's signature or chain id is wrong.
    #[error("transaction {index}: {source}")]
    BadTransaction {
        /// Position in the block.
        index: usize,
        /// Why.
        source: TxError,
    },
    /// A transaction failed to execute.
    #[error("transaction {index} does not execute: {source}")]
    Execution {
        /// Position in the block.
        index: usize,
        /// Why.
        source: ExecError,
    },
    /// The header disagrees with the replayed block.
    #[error("header field {field} does not match the replayed block")]
    Header {
        /// Which field.
        field: &'static str,
    },
    /// The block's MED checkpoint breaks the checkpoint rules (S3-supervise).
    #[error("MED checkpoint: {0}")]
    Checkpoint(Box<CheckpointError>),
    /// The proposal checkpoints an Mblock this validator does not know as valid (yet): it
    /// does not vote for it (S3-supervise).
    #[error("the block checkpoints Mblocks this validator does not know as valid")]
    UnknownCheckpoint,
    /// The parent's state is not available (not executed, or on a pruned fork).
    #[error("parent {0} has no known state")]
    UnknownParent(Hash32),
    /// The block conflicts with what is already finalized.
    #[error("block at height {height} conflicts with the finalized chain")]
    Conflict {
        /// Height.
        height: u64,
    },
    /// State or storage failure (not a verdict on the block).
    #[error("state: {0}")]
    State(String),
}

impl From<StateError> for BlockError {
    fn from(error: StateError) -> Self {
        Self::State(error.to_string())
    }
}

impl From<StorageError> for BlockError {
    fn from(error: StorageError) -> Self {
        Self::State(error.to_string())
    }
}

/// A block executed on top of its parent but not final yet.
struct Pending {
    parent: Hash32,
    executed: Arc<ExecutedBlock>,
}

/// A transaction the mempool holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Its id.
    pub id: TxId,
    /// Whether it is new and executable, new and waiting for an earlier nonce, or was
    /// already held.
    pub admitted: Admitted,
}

/// Where a transaction came from: decides whether admitting it announces it to the peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client of this node: announced once executable.
    Client,
    /// A peer's gossip: the peer already announced it to everyone (validators are fully
    /// connected), so only what it makes executable here is announced.
    Peer,
}

/// Where a transaction is, as far as this node knows.
#[derive(Clone, Debug)]
pub enum TxStatus {
    /// Committed in a finalized block: its receipt and the receipt's proof against the
    /// block's `receipts_root`.
    Finalized(medchain_types::Receipt, medchain_types::ReceiptProof),
    /// Waiting in the mempool, or dropped from it (with why).
    Mempool(MempoolStatus),
    /// Never seen, or forgotten.
    Unknown,
}

/// What finalizing a block produced, for metrics and the API.
pub struct Finalized {
    /// Height committed.
    pub height: u64,
    /// Transactions committed.
    pub txs: usize,
    /// Whether this height was already committed (a redelivery).
    pub redelivered: bool,
}

/// How long a proposer may spend building a block — applying candidates, then computing the
/// state root of what it applied — before it stops adding more (liveness): a block's cost is
/// not bounded by its transaction count (a token transfer deletes its spent output, which
/// takes the Jellyfish tree's per-key path, several times dearer than a batch of inserts), and
/// a block that takes longer to build, root and replay than the view's timeouts is nullified
/// in every view, for good. The remaining transactions wait for the next block.
///
/// Applying is timed as it happens; the root comes after the last transaction, so the build
/// stops while what it has applied can still be rooted inside the limit, by the rooting cost
/// per transaction this validator last measured (build and replay alike, smoothed).
///
/// The clock is a plain function so a test can make time pass; the node uses the wall clock
/// ([`BuildBudget::wall_clock`]). The deterministic simulator sets none: its blocks stay bounded
/// by count only, so its runs stay reproducible.
pub struct BuildBudget {
    limit: Duration,
    clock: fn() -> Instant,
    /// Rooting cost per applied transaction, nanoseconds.
    root_ns_per_tx: AtomicU64,
}

/// The rooting cost a budget assumes until it has measured one: the storage bench's
/// Jellyfish update and root per transaction on this project's machine under load
/// (≈ 16–19 µs of CPU), with room for four validators sharing two cores.
pub const INITIAL_ROOT_COST_PER_TX: Duration = Duration::from_micros(40);

/// Blocks with fewer transactions do not update the rooting estimate: the root's fixed cost
/// (receipts, block info) would dominate their per-transaction figure.
const MIN_TXS_TO_MEASURE_ROOT: usize = 64;

impl BuildBudget {
    /// `limit` of wall-clock time.
    pub fn wall_clock(limit: Duration) -> Self {
        Self::with_clock(limit, Instant::now)
    }

    /// `limit` measured by `clock`.
    pub fn with_clock(limit: Duration, clock: fn() -> Instant) -> Self {
        Self {
            limit,
            clock,
            root_ns_per_tx: AtomicU64::new(nanos(INITIAL_ROOT_COST_PER_TX)),
        }
    }

    /// This budget, assuming `per_tx` of rooting per applied transaction until it measures.
    pub fn with_root_cost(self, per_tx: Duration) -> Self {
        self.root_ns_per_tx.store(nanos(per_tx), Ordering::Relaxed);
        self
    }

    /// The rooting cost per transaction assumed now.
    pub fn root_cost_per_tx(&self) -> Duration {
        Duration::from_nanos(self.root_ns_per_tx.load(Ordering::Relaxed))
    }

    /// Starts a build: the returned check says whether the budget is spent once `applied`
    /// transactions are in (applying another one, and rooting it, would exceed it).
    fn start(&self) -> impl Fn(usize) -> bool {
        let (started, limit, clock) = ((self.clock)(), self.limit, self.clock);
        let root_per_tx = self.root_cost_per_tx();
        move |applied| {
            let rooting =
                root_per_tx.saturating_mul(u32::try_from(applied + 1).unwrap_or(u32::MAX));
            clock().saturating_duration_since(started) + rooting > limit
        }
    }

    /// Times `finish`, a state root over `txs` applied transactions, and learns its cost.
    fn time_root<T>(&self, txs: usize, finish: impl FnOnce() -> T) -> T {
        let started = (self.clock)();
        let result = finish();
        self.record_root(txs, (self.clock)().saturating_duration_since(started));
        result
    }

    /// Moves the estimate a quarter of the way to what rooting `txs` transactions took.
    fn record_root(&self, txs: usize, took: Duration) {
        if txs < MIN_TXS_TO_MEASURE_ROOT {
            return;
        }
        let measured = nanos(took) / txs as u64;
        // One writer at a time in practice (builds and replays are serialised by consensus);
        // a lost update only delays learning by a block.
        let old = self.root_ns_per_tx.load(Ordering::Relaxed);
        self.root_ns_per_tx
            .store((3 * old + measured) / 4, Ordering::Relaxed);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The execution driver shared by the consensus application, the finalizer, gossip and the API.
pub struct Chain {
    chain_id: ChainId,
    fees: FeeSchedule,
    store: Store,
    mempool: Mempool,
    genesis_block: Block,
    pending: Mutex<HashMap<Hash32, Pending>>,
    max_block_txs: usize,
    build_budget: Option<BuildBudget>,
    /// Which transactions verified, and signers' decompressed keys: each transaction's
    /// signatures are checked once per validator, whether it came by admission, in a
    /// proposal or in a finalized block first.
    signatures: SignatureCache,
    announcer: OnceLock<GossipHandle>,
    /// Keeps admission's view of committed state no older than the mempool's: an admission
    /// reads state and admits under it (shared), a finalized block updates the mempool under it
    /// (exclusive). Without it, a block committed between the two could empty a sender's waiting
    /// transactions (the mempool then forgets the sender) and the admission would place the
    /// sender's next transaction against its old nonce: queued behind nonces already committed,
    /// or refused as too far ahead of them.
    admission_gate: RwLock<()>,
    epoch_length: NonZeroU64,
    med: Option<Arc<dyn CheckpointSource>>,
}

impl Chain {
    /// Opens the chain on `store`, committing the genesis state if the store is empty and
    /// checking that a non-empty store belongs to this genesis.
    pub fn open(
        store: Store,
        genesis: &Genesis,
        mempool: Mempool,
        max_block_txs: usize,
    ) -> Result<Self, BlockError> {
        let (genesis_block, executed) = medchain_state::genesis_block(genesis)?;
        if store.last_applied()?.is_none() {
            store.commit(CommitBatch {
                block: &genesis_block,
                executed: &executed,
                finalization: None,
            })?;
        } else if !store.is_committed(0, &genesis_block.digest())? {
            return Err(BlockError::Conflict { height: 0 });
        }
        let committed = store.last_applied()?.map_or(0, |applied| applied.height);
        mempool.observe_height(committed);
        let epoch_length = genesis.epoch_length();
        keep_provable_transitions(&store, epoch_length)?;
        Ok(Self {
            chain_id: genesis.chain_id.clone(),
            fees: genesis.fee_schedule(),
            store,
            mempool,
            genesis_block,
            pending: Mutex::default(),
            max_block_txs,
            build_budget: None,
            signatures: SignatureCache::new(SignatureCacheLimits::default()),
            announcer: OnceLock::new(),
            admission_gate: RwLock::default(),
            epoch_length,
            med: None,
        })
    }

    /// This chain, supervising MED (S3-supervise): proposals checkpoint what `source`
    /// proposes, verification refuses checkpoints `source` does not know, and finalized
    /// checkpoints are reported to it. Without a source, blocks checkpoint nothing.
    pub fn with_med(mut self, source: Arc<dyn CheckpointSource>) -> Self {
        self.med = Some(source);
        self
    }

    /// What a block built now on the state `parent` checkpoints: the source's proposal from
    /// where `parent`'s checkpoint ends — not the finalized one (review R16: the parent may be
    /// notarized only, and a branch from the older checkpoint would not apply on its state,
    /// so back-to-back blocks could not both checkpoint) — cut to its longest prefix that
    /// fits [`limits::MAX_CHECKPOINT_BYTES`] (a prefix of a valid branch is one too).
    fn proposed_checkpoint(&self, parent: &impl StateRead, chain: &ChainConfig) -> Checkpoint {
        let Some(source) = &self.med else {
            return Checkpoint::default();
        };
        let after = match medchain_state::med::checkpointed_tip(parent, chain) {
            Ok(Some(tip)) => tip.hash(),
            // No MED chain in this state: nothing to checkpoint.
            Ok(None) => return Checkpoint::default(),
            Err(error) => {
                tracing::warn!(%error, "cannot read the parent's MED checkpoint");
                return Checkpoint::default();
            }
        };
        let mut checkpoint = source.propose(&after);
        while checkpoint.encode_size() > limits::MAX_CHECKPOINT_BYTES {
            checkpoint.branch.pop();
        }
        checkpoint
    }

    /// This chain, with proposals that stop taking transactions once `budget` is spent (none
    /// by default: blocks are then bounded by count and bytes only).
    pub fn with_build_budget(mut self, budget: BuildBudget) -> Self {
        self.build_budget = Some(budget);
        self
    }

    /// Where transactions that become executable here are announced to the other validators.
    /// Set once, when gossip starts; until then (and in tests) nothing is announced.
    pub fn announce_with(&self, gossip: GossipHandle) {
        let _ = self.announcer.set(gossip);
    }

    fn announce(&self, txs: impl IntoIterator<Item = Transaction>) {
        if let Some(gossip) = self.announcer.get() {
            txs.into_iter().for_each(|tx| gossip.publish(tx));
        }
    }

    /// Where transaction `id` is: finalized (with its receipt), waiting, dropped, or unknown.
    pub fn tx_status(&self, id: &TxId) -> Result<TxStatus, StorageError> {
        if let Some((receipt, proof)) = self.store.receipt_with_proof(id)? {
            return Ok(TxStatus::Finalized(receipt, proof));
        }
        Ok(self
            .mempool
            .status(id)
            .map_or(TxStatus::Unknown, TxStatus::Mempool))
    }

    /// The chain id.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// Block 0.
    pub fn genesis_block(&self) -> &Block {
        &self.genesis_block
    }

    /// The durable store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// Shared by admissions from reading committed state to admitting against it.
    fn admission_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.admission_gate
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Exclusive while a committed block's effects reach the mempool.
    fn finalization_gate(&self) -> RwLockWriteGuard<'_, ()> {
        self.admission_gate
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<Hash32, Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits transactions from a client of this node. Results are in input order.
    pub fn admit(
        &self,
        rng: &mut impl CryptoRng,
        txs: Vec<Transaction>,
    ) -> Vec<Result<Admission, AdmitError>> {
        self.admit_from(rng, txs, Origin::Client)
    }

    /// Admits transactions from `origin`, announcing what became executable. Results are in
    /// input order.
    pub fn admit_from(
        &self,
        rng: &mut impl CryptoRng,
        txs: Vec<Transaction>,
        origin: Origin,
    ) -> Vec<Result<Admission, AdmitError>> {
        // Transactions already pending were verified when they arrived: skip their signatures
        // (and the cache skips those verified in a block before their gossip arrived).
        let ids: Vec<TxId> = txs.iter().map(Transaction::id).collect();
        let (known, fresh): (Vec<usize>, Vec<usize>) =
            (0..txs.len()).partition(|&i| self.mempool.contains(&ids[i]));
        let to_verify: Vec<Transaction> = fresh.iter().map(|&i| txs[i].clone()).collect();
        let verified = self
            .signatures
            .verify_batch(rng, &self.chain_id, &to_verify);
        let mut results: Vec<Option<Result<Admission, AdmitError>>> =
            (0..txs.len()).map(|_| None).collect();
        for i in known {
            results[i] = Some(Ok(Admission {
                id: ids[i],
                admitted: Admitted::Duplicate,
            }));
        }
        // Committed state is read after verifying, under the gate (see `admission_gate`).
        let _gate = self.admission_gate();
        let state = self.admission_state();
        for (i, verified) in fresh.into_iter().zip(verified) {
            results[i] = Some(match &state {
                Ok((snapshot, env)) => verified
                    .map_err(AdmitError::from)
                    .and_then(|tx| self.admit_verified(snapshot, *env, tx, origin)),
                Err(reason) => Err(AdmitError::State(reason.clone())),
            });
        }
        results.into_iter().flatten().collect()
    }

    /// Committed state to admit against, and the block a transaction admitted now would
    /// execute in at the earliest (read once per batch, not per transaction).
    /// Fails with why the store could not be read.
    fn admission_state(&self) -> Result<(Snapshot, BlockEnv), String> {
        let snapshot = self.store.snapshot().map_err(|e| e.to_string())?;
        let parent = snapshot
            .value(&keys::block_info())
            .map_err(|e| e.to_string())?
            .ok_or("no genesis")?;
        let env = BlockEnv {
            height: parent.height + 1,
            timestamp_ms: parent.timestamp_ms,
        };
        Ok((snapshot, env))
    }

    fn admit_verified(
        &self,
        snapshot: &Snapshot,
        env: BlockEnv,
        tx: VerifiedTransaction,
        origin: Origin,
    ) -> Result<Admission, AdmitError> {
        let id = tx.id();
        let sender = snapshot
            .value(&keys::account(&tx.body().sender))
            .map_err(|e| AdmitError::State(e.to_string()))?
            .map_or_else(SenderAccount::default, |account| SenderAccount {
                nonce: account.nonce,
                balance: account.balance,
            });
        let size = tx.tx().encode_size();
        let next_in_line = tx.body().nonce == sender.nonce;
        // A consent revoke is free (S1-rights) only as the sender's next transaction, where the
        // dry run below proves it applies: queued behind a gap it pays like any other, or free
        // revokes naming nothing could fill the queue at no cost.
        let min_fee = if next_in_line {
            self.fees.min_fee_for(&tx.body().payload, size)
        } else {
            self.fees.min_fee(size)
        };
        let prepaid = research::prepaid_by_reward(snapshot, &tx.body().payload)
            .map_err(|e| AdmitError::State(e.to_string()))?;
        let charge = Charge { min_fee, prepaid };
        self.mempool.precheck(&tx, sender, charge)?;
        check_transfer_inputs(snapshot, &tx)?;
        if is_enrolment(&tx) && !next_in_line {
            // Queued, it would skip the dry run below and with it the proof verification.
            return Err(AdmissionError::EnrolmentNotNext {
                expected: sender.nonce,
                got: tx.body().nonce,
            }
            .into());
        }
        if next_in_line {
            // Executed alone on committed state, result discarded: refuses what cannot apply.
            BlockExecutor::new(snapshot, env)
                .map_err(|e| AdmitError::State(e.to_string()))?
                .apply(&tx)?;
        }
        let announce_it = origin == Origin::Client;
        let own = announce_it.then(|| tx.tx().clone());
        let outcome = self.mempool.admit_charged(tx, sender, charge)?;
        let own = own.filter(|_| outcome.admitted == Admitted::Pending);
        self.announce(
            own.into_iter()
                .chain(outcome.promoted.iter().map(|tx| tx.tx().clone())),
        );
        Ok(Admission {
            id,
            admitted: outcome.admitted,
        })
    }

    /// The overlay layers (oldest first) that lead from `snapshot` to the state after `tip`.
    /// `Err(UnknownParent(d))` names the first block on the way that has not been executed.
    fn layers(
        &self,
        snapshot: &Snapshot,
        tip: Hash32,
    ) -> Result<Vec<Arc<ExecutedBlock>>, BlockError> {
        let applied = snapshot
            .last_applied()
            .ok_or_else(|| BlockError::State("store has no genesis".into()))?;
        let pending = self.pending();
        let mut layers = Vec::new();
        let mut cursor = tip;
        while cursor != applied.block_digest {
            let Some(entry) = pending.get(&cursor) else {
                return Err(BlockError::UnknownParent(cursor));
            };
            if entry.executed.height <= applied.height {
                return Err(BlockError::Conflict {
                    height: entry.executed.height,
                });
            }
            layers.push(entry.executed.clone());
            cursor = entry.parent;
        }
        layers.reverse();
        Ok(layers)
    }

    /// Height of the last committed block (0 before anything but genesis).
    pub fn committed_height(&self) -> u64 {
        self.store
            .last_applied()
            .ok()
            .flatten()
            .map_or(0, |applied| applied.height)
    }

    /// Whether the state after `digest` is known (committed tip or executed pending block).
    pub fn knows(&self, digest: &Hash32) -> bool {
        self.pending().contains_key(digest)
            || self
                .store
                .last_applied()
                .ok()
                .flatten()
                .is_some_and(|applied| applied.block_digest == *digest)
    }

    /// Builds a block on `parent` from the mempool. The parent's state must be known.
    pub fn build(
        &self,
        parent: &Block,
        timestamp_ms: u64,
        proposer: Address,
    ) -> Result<Block, BlockError> {
        let snapshot = self.store.snapshot()?;
        let layers = self.layers(&snapshot, parent.digest())?;
        let overlay = Overlay::new(snapshot, layers)?;
        let env = BlockEnv {
            height: parent.number() + 1,
            timestamp_ms: timestamp_ms.max(parent.header().timestamp_ms),
        };
        let max_txs = self.max_block_txs.min(limits::MAX_BLOCK_TXS);
        let candidates = self.mempool.candidates(max_txs, |sender| {
            account_nonce(&overlay, sender).unwrap_or(u64::MAX)
        });
        let mut executor = BlockExecutor::new(&overlay, env)?;
        let proposed = self.proposed_checkpoint(&overlay, executor.chain());
        let checkpoint = match executor.apply_checkpoint(&proposed) {
            Ok(_) => proposed,
            Err(error) if error.is_fatal() => return Err(BlockError::State(error.to_string())),
            // MED's view ran ahead of or behind this parent's state (e.g. the parent already
            // checkpoints part of it): nothing is checkpointed this time.
            Err(error) => {
                tracing::debug!(%error, "not checkpointing MED in this block");
                Checkpoint::default()
            }
        };
        let mut included = Vec::with_capacity(candidates.len());
        let mut body_bytes = 0;
        let mut failed = Vec::new();
        let spent = self.build_budget.as_ref().map(BuildBudget::start);
        for tx in candidates {
            let size = tx.tx().encode_size();
            if body_bytes + size > limits::MAX_BLOCK_BODY_BYTES {
                break;
            }
            // Checked before each candidate, so the first is always tried: a block always
            // makes progress however slow this validator is.
            if !included.is_empty() && spent.as_ref().is_some_and(|spent| spent(included.len())) {
                break;
            }
            match executor.apply(&tx) {
                Ok(_) => {
                    body_bytes += size;
                    included.push(tx.tx().clone());
                }
                Err(error) if error.is_fatal() => return Err(BlockError::State(error.to_string())),
                // Its sender's earlier transaction failed in this block: nothing to do here.
                Err(ExecError::BadNonce { .. }) => {}
                // It would fail in any block from now on: drop it (and its sender's later
                // transactions) so the sender is not stuck behind it, keeping why.
                Err(error) => failed.push((tx.body().sender, tx.body().nonce, error)),
            }
        }
        for (sender, nonce, error) in failed {
            let reason = DropReason::Failed {
                code: error.code().to_string(),
                message: error.to_string(),
            };
            self.mempool.evict_from(&sender, nonce, reason);
        }
        let executed = self.root(included.len(), || executor.finish(proposer))?;
        let block = Block::with_checkpoint(
            Header {
                height: env.height,
                parent: parent.digest(),
                timestamp_ms: env.timestamp_ms,
                proposer,
                tx_root: EMPTY_ROOT, // computed from the transactions by `Block::new`
                state_root: executed.state_root,
                receipts_root: executed.receipts_root,
                revocation_root: EMPTY_ROOT,
                med_checkpoint: EMPTY_ROOT, // computed from the checkpoint
            },
            included,
            checkpoint,
        );
        self.remember(&block, executed);
        Ok(block)
    }

    /// Replays `block` on its parent's state and remembers the result if it is valid.
    /// The parent's state must be known.
    pub fn execute(
        &self,
        rng: &mut impl CryptoRng,
        block: &Block,
        parent: &Block,
    ) -> Result<(), BlockError> {
        if self.pending().contains_key(&block.digest()) {
            return Ok(());
        }
        let header = block.header();
        if header.parent != parent.digest() || header.height != parent.number() + 1 {
            return Err(BlockError::Header { field: "parent" });
        }
        if header.timestamp_ms < parent.header().timestamp_ms {
            return Err(BlockError::Header {
                field: "timestamp_ms",
            });
        }
        if header.revocation_root != EMPTY_ROOT {
            return Err(BlockError::Header {
                field: "revocation_root",
            });
        }
        let txs = self.verified_txs(rng, block)?;
        let snapshot = self.store.snapshot()?;
        let layers = self.layers(&snapshot, parent.digest())?;
        let overlay = Overlay::new(snapshot, layers)?;
        let env = BlockEnv {
            height: header.height,
            timestamp_ms: header.timestamp_ms,
        };
        let mut executor = BlockExecutor::new(&overlay, env)?;
        executor
            .apply_checkpoint(block.checkpoint())
            .map_err(|error| match error {
                CheckpointError::State(error) => BlockError::from(error),
                invalid => BlockError::Checkpoint(Box::new(invalid)),
            })?;
        for (index, tx) in txs.iter().enumerate() {
            executor
                .apply(tx)
                .map_err(|source| BlockError::Execution { index, source })?;
        }
        let executed = self.root(txs.len(), || executor.finish(header.proposer))?;
        if executed.state_root != header.state_root {
            return Err(BlockError::Header {
                field: "state_root",
            });
        }
        if executed.receipts_root != header.receipts_root {
            return Err(BlockError::Header {
                field: "receipts_root",
            });
        }
        self.remember(block, executed);
        Ok(())
    }

    /// Verifies a proposal before voting for it: every Mblock it checkpoints must be one the
    /// MED source knows as fully valid (S3-supervise; without a source, only an empty
    /// checkpoint is), then [`Self::execute`]. Ancestors being replayed and finalized blocks
    /// skip the first check: the quorum decided them.
    pub fn verify(
        &self,
        rng: &mut impl CryptoRng,
        block: &Block,
        parent: &Block,
    ) -> Result<(), BlockError> {
        if !self.knows_checkpoint(block) {
            return Err(BlockError::UnknownCheckpoint);
        }
        self.execute(rng, block, parent)
    }

    /// Whether this validator may vote for `block` as far as its MED checkpoint goes (the MED
    /// source fetches what it lacks when asked, from the block's proposer first).
    pub fn knows_checkpoint(&self, block: &Block) -> bool {
        let checkpoint = block.checkpoint();
        checkpoint.branch.is_empty()
            || self
                .med
                .as_ref()
                .is_some_and(|med| med.knows(checkpoint, &block.header().proposer))
    }

    /// The block's transactions as verified transactions: those pending in the mempool were
    /// verified on admission; the rest are batch-verified now, unless this validator verified
    /// them before (see [`SignatureCache`]).
    fn verified_txs(
        &self,
        rng: &mut impl CryptoRng,
        block: &Block,
    ) -> Result<Vec<VerifiedTransaction>, BlockError> {
        let mut known: Vec<Option<VerifiedTransaction>> = block
            .tx_ids()
            .iter()
            .map(|id| self.mempool.get(id))
            .collect();
        let unknown: Vec<usize> = (0..known.len()).filter(|&i| known[i].is_none()).collect();
        let to_verify: Vec<Transaction> = unknown.iter().map(|&i| block.txs()[i].clone()).collect();
        for (&index, result) in unknown.iter().zip(self.signatures.verify_batch(
            rng,
            &self.chain_id,
            &to_verify,
        )) {
            known[index] =
                Some(result.map_err(|source| BlockError::BadTransaction { index, source })?);
        }
        Ok(known.into_iter().flatten().collect())
    }

    /// Runs `finish` (the state root over `applied` transactions), teaching the build budget
    /// what rooting costs on this validator.
    fn root<T>(&self, applied: usize, finish: impl FnOnce() -> T) -> T {
        match &self.build_budget {
            Some(budget) => budget.time_root(applied, finish),
            None => finish(),
        }
    }

    fn cached(&self, digest: &Hash32) -> Option<Arc<ExecutedBlock>> {
        self.pending()
            .get(digest)
            .map(|entry| entry.executed.clone())
    }

    fn remember(&self, block: &Block, executed: ExecutedBlock) {
        self.pending().insert(
            block.digest(),
            Pending {
                parent: block.header().parent,
                executed: Arc::new(executed),
            },
        );
    }

    /// Commits a finalized block (delivered in height order, possibly again after a restart).
    /// Returns once the commit is durable.
    pub fn finalize(
        &self,
        rng: &mut impl CryptoRng,
        block: &Block,
        finalization: Option<&[u8]>,
    ) -> Result<Finalized, BlockError> {
        let mut outcomes = self.finalize_group(rng, &[(block, finalization)])?;
        outcomes
            .pop()
            .ok_or(BlockError::State("a group of one gave no outcome".into()))
    }

    /// Commits finalized blocks delivered in height order (possibly again after a restart),
    /// each with its finalization certificate if the node has one, in ONE durable write: each
    /// is executed unless it was when built or verified (on the previous one's state), then
    /// all are committed together (one fsync), all or nothing. Already committed blocks may
    /// only lead the group. Returns once the commit is durable, one outcome per block.
    pub fn finalize_group(
        &self,
        rng: &mut impl CryptoRng,
        blocks: &[(&Block, Option<&[u8]>)],
    ) -> Result<Vec<Finalized>, BlockError> {
        let applied = self
            .store
            .last_applied()?
            .ok_or(BlockError::State("store has no genesis".into()))?;
        let committed = blocks
            .iter()
            .take_while(|(block, _)| block.number() <= applied.height)
            .count();
        let mut outcomes = blocks[..committed]
            .iter()
            .map(|(block, _)| self.redelivered(block))
            .collect::<Result<Vec<_>, _>>()?;
        let fresh = &blocks[committed..];
        let Some((last, _)) = fresh.last() else {
            return Ok(outcomes);
        };
        let executed = self.executed_group(rng, fresh, &applied)?;
        let batches: Vec<CommitBatch<'_>> = fresh
            .iter()
            .zip(&executed)
            .map(|((block, finalization), executed)| CommitBatch {
                block,
                executed,
                finalization: *finalization,
            })
            .collect();
        self.store.commit_group(&batches)?;
        for (block, _) in fresh {
            // A crash right here leaves the boundary unpinned; `open` pins it on restart.
            keep_transition(&self.store, self.epoch_length, block.number())?;
            if let Some(med) = self
                .med
                .as_ref()
                .filter(|_| !block.checkpoint().branch.is_empty())
            {
                med.finalized(block.checkpoint(), &block.header().proposer);
            }
        }
        // Keep the last block committed: an execution that took its snapshot before this commit
        // still walks through it to reach that snapshot.
        self.pending()
            .retain(|_, entry| entry.executed.height >= last.number());
        let gate = self.finalization_gate();
        let snapshot = self.store.snapshot()?;
        let included = fresh.iter().flat_map(|(block, _)| {
            block
                .txs()
                .iter()
                .zip(block.tx_ids())
                .map(|(tx, id)| (&tx.body.sender, tx.body.nonce, *id))
        });
        let promoted = self
            .mempool
            .on_finalized(last.number(), included, |sender| {
                account_nonce(&snapshot, sender).unwrap_or(0)
            });
        drop(gate);
        self.announce(promoted.into_iter().map(|tx| tx.tx().clone()));
        outcomes.extend(fresh.iter().map(|(block, _)| Finalized {
            height: block.number(),
            txs: block.txs().len(),
            redelivered: false,
        }));
        Ok(outcomes)
    }

    /// The executions of `blocks`, which must extend the committed tip `applied` one after
    /// another: cached since each was built or verified, or replayed now on its parent.
    fn executed_group(
        &self,
        rng: &mut impl CryptoRng,
        blocks: &[(&Block, Option<&[u8]>)],
        applied: &LastApplied,
    ) -> Result<Vec<Arc<ExecutedBlock>>, BlockError> {
        let mut executed = Vec::with_capacity(blocks.len());
        let mut parent: Option<&Block> = None;
        for (block, _) in blocks {
            let (height, digest) = parent.map_or((applied.height, applied.block_digest), |p| {
                (p.number(), p.digest())
            });
            if block.number() != height + 1 || block.header().parent != digest {
                return Err(BlockError::Conflict {
                    height: block.number(),
                });
            }
            // Bind first: a guard in a match scrutinee would live through `execute`, which locks too.
            let cached = self.cached(&block.digest());
            let execution = match (cached, parent) {
                (Some(execution), _) => execution,
                (None, Some(parent)) => self.replay(rng, block, parent)?,
                (None, None) => {
                    let parent = self
                        .store
                        .block_by_height(applied.height)?
                        .ok_or(BlockError::UnknownParent(applied.block_digest))?;
                    self.replay(rng, block, &parent)?
                }
            };
            executed.push(execution);
            parent = Some(block);
        }
        Ok(executed)
    }

    /// Executes `block` on `parent` and returns what it produced.
    fn replay(
        &self,
        rng: &mut impl CryptoRng,
        block: &Block,
        parent: &Block,
    ) -> Result<Arc<ExecutedBlock>, BlockError> {
        self.execute(rng, block, parent)?;
        self.cached(&block.digest())
            .ok_or(BlockError::UnknownParent(block.digest()))
    }

    fn redelivered(&self, block: &Block) -> Result<Finalized, BlockError> {
        let conflict = BlockError::Conflict {
            height: block.number(),
        };
        let committed = match self.store.is_committed(block.number(), &block.digest()) {
            Err(StorageError::Conflict { .. }) => return Err(conflict),
            other => other?,
        };
        if !committed {
            return Err(conflict);
        }
        Ok(Finalized {
            height: block.number(),
            txs: block.txs().len(),
            redelivered: true,
        })
    }
}

/// The key a light client learns epoch `epoch + 1`'s validator set from, proven at the last
/// block of `epoch` (`GET /v1/epochs/{epoch}/transition`).
pub fn transition_key(epoch: u64) -> StateKey<ValidatorSet> {
    keys::validator_set(epoch + 1)
}

/// When `height` is the last block of its epoch, pins the proof of the next epoch's set there,
/// so the transition stays servable after the tree prunes that height.
fn keep_transition(
    store: &Store,
    epoch_length: NonZeroU64,
    height: u64,
) -> Result<(), StorageError> {
    if staking::is_last_height(height, epoch_length) {
        let epoch = staking::epoch_of(height, epoch_length);
        store.pin_proof(transition_key(epoch).as_bytes(), height)?;
    }
    Ok(())
}

/// Pins every transition still provable here: the boundaries a node committed before it
/// pinned them (an upgrade, or a crash between the commit and the pin). Older ones are lost
/// to pruning on this node.
fn keep_provable_transitions(store: &Store, epoch_length: NonZeroU64) -> Result<(), StorageError> {
    let (Some(oldest), Some(last)) = (store.oldest_provable_height()?, store.last_applied()?)
    else {
        return Ok(());
    };
    let first_epoch = staking::epoch_of(oldest, epoch_length);
    let boundaries = (first_epoch..)
        .map_while(|epoch| staking::last_height(epoch, epoch_length))
        .take_while(|&boundary| boundary <= last.height)
        .filter(|&boundary| boundary >= oldest);
    for boundary in boundaries {
        keep_transition(store, epoch_length, boundary)?;
    }
    Ok(())
}

/// The next nonce of `sender` in `state` (0 for an address that never sent).
pub fn account_nonce(state: &impl StateRead, sender: &Address) -> Result<u64, StateError> {
    Ok(state
        .value(&keys::account(sender))?
        .map_or(0, |account| account.nonce))
}

/// A transfer pays its fee from its inputs, not from the balance admission checks: its inputs
/// are checked against committed state before it is held, because a queued one is never dry
/// run and one that fails when a block is built pays nothing (a flood of transfers naming
/// made-up, spent, escrow-locked or someone else's inputs would cost nothing). An input
/// created by a transfer that is not finalized yet is refused too: the client waits for it.
/// Whether `tx` enrols a patient in a study (its proof is verified at admission).
fn is_enrolment(tx: &VerifiedTransaction) -> bool {
    matches!(
        tx.body().payload,
        Payload::Research(ResearchPayload::Enrol { .. })
    )
}

fn check_transfer_inputs(snapshot: &Snapshot, tx: &VerifiedTransaction) -> Result<(), AdmitError> {
    let body = tx.body();
    let Payload::Token(payload) = &body.payload else {
        return Ok(());
    };
    token::check_transfer(snapshot, &body.sender, body.fee, payload).map_err(|error| match error {
        ExecError::UnknownOutput(input) => AdmissionError::UnknownInput(input).into(),
        error => AdmitError::Rejected(error),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode;
    use commonware_cryptography::{Hasher as _, Sha256};
    use commonware_utils::test_rng;
    use medchain_state::testkit::{self, Actor};
    use medchain_types::OrgKind;

    fn chain() -> Chain {
        let genesis = testkit::genesis_document();
        Chain::open(
            Store::in_memory().unwrap(),
            &genesis,
            Mempool::default(),
            100,
        )
        .unwrap()
    }

    fn register(actor: &Actor, nonce: u64, name: &str) -> Transaction {
        actor
            .sign(
                nonce,
                testkit::register(&testkit::org_name(name), OrgKind::Hospital),
            )
            .tx()
            .clone()
    }

    /// A chain with one valid block built on genesis (not yet finalized).
    fn with_block() -> (Chain, Block) {
        let chain = chain();
        let doctor = Actor::new(10);
        let admitted = chain.admit(&mut test_rng(), vec![register(&doctor, 0, "General")]);
        assert!(admitted[0].is_ok());
        let genesis = chain.genesis_block().clone();
        let block = chain
            .build(&genesis, 1_700_000_001_000, doctor.address)
            .unwrap();
        assert_eq!(block.txs().len(), 1);
        (chain, block)
    }

    /// Rebuilds `block` with `edit` applied to its header and transactions.
    fn tampered(block: &Block, edit: impl FnOnce(&mut Header, &mut Vec<Transaction>)) -> Block {
        let mut header = block.header().clone();
        let mut txs = block.txs().to_vec();
        edit(&mut header, &mut txs);
        Block::new(header, txs)
    }

    fn verdict(chain: &Chain, block: &Block) -> Result<(), BlockError> {
        chain.execute(&mut test_rng(), block, chain.genesis_block())
    }

    #[test]
    fn a_transfer_is_admitted_only_with_committed_inputs_its_signers_may_spend() {
        use medchain_types::token::{OutPoint, TxOutput};
        let genesis = testkit::token_genesis();
        let chain = Chain::open(
            Store::in_memory().unwrap(),
            &genesis,
            Mempool::default(),
            100,
        )
        .unwrap();
        let admit = |tx: VerifiedTransaction| {
            chain
                .admit(&mut test_rng(), vec![tx.tx().clone()])
                .remove(0)
        };
        let fee = 1_000;
        // A key without balance or outputs names made-up inputs in gapped transfers (never
        // dry run): each is refused at the door and holds no space.
        let stranger = Actor::new(4_242);
        let to_stranger = |value| [TxOutput::to_key(value, stranger.address)];
        for nonce in 1..=8 {
            let made_up = OutPoint {
                tx: TxId::of_encoded(format!("made up {nonce}").as_bytes()),
                index: 0,
            };
            let transfer = testkit::transfer(&[made_up], 0, &to_stranger(500));
            assert!(matches!(
                admit(stranger.sign_with_fee(nonce, fee, transfer)),
                Err(AdmitError::Mempool(AdmissionError::UnknownInput(input))) if input == made_up
            ));
        }
        assert!(chain.mempool.is_empty());
        // The treasury's genesis coin of 500 000 is someone else's to the stranger.
        let coin = OutPoint {
            tx: TxId(genesis.digest()),
            index: 0,
        };
        let spend = |value| testkit::transfer(&[coin], 0, &to_stranger(value));
        assert!(matches!(
            admit(stranger.sign_with_fee(1, fee, spend(500_000 - fee))),
            Err(AdmitError::Rejected(ExecError::MissingSignature { .. }))
        ));
        // Its owner may spend it in a gapped transfer, if the surplus is the fee ...
        let treasury = Actor::new(testkit::TREASURY_SEED);
        assert!(matches!(
            admit(treasury.sign_with_fee(1, fee, spend(500_000))),
            Err(AdmitError::Rejected(ExecError::FeeMismatch { .. }))
        ));
        let first = treasury.sign_with_fee(1, fee, spend(500_000 - fee));
        assert_eq!(
            admit(first.clone()).unwrap().admitted,
            Admitted::Queued { waiting_for: 0 }
        );
        // ... and only once while that transfer waits.
        let second = treasury.sign_with_fee(2, fee, spend(500_000 - fee));
        assert!(matches!(
            admit(second.clone()),
            Err(AdmitError::Mempool(AdmissionError::InputConflict { input, held_by }))
                if input == coin && held_by == first.id()
        ));
        chain
            .mempool
            .evict_from(&treasury.address, 1, DropReason::Evicted);
        assert!(admit(second).is_ok());
    }

    #[test]
    fn a_free_consent_revoke_is_admitted_only_as_the_senders_next_transaction() {
        use medchain_types::{ConsentId, ConsentPayload, Payload};
        let chain = Chain::open(
            Store::in_memory().unwrap(),
            &testkit::token_genesis(),
            Mempool::default(),
            100,
        )
        .unwrap();
        let patient = Actor::new(4_243);
        let revoke = Payload::Consent(ConsentPayload::Revoke {
            consent: ConsentId(Sha256::hash(&[b"some consent"])),
        });
        let admit = |nonce| {
            chain
                .admit(
                    &mut test_rng(),
                    vec![patient.sign_with_fee(nonce, 0, revoke.clone()).tx().clone()],
                )
                .remove(0)
        };
        // Behind a gap it would never be dry run, so it pays like any other transaction ...
        assert!(matches!(
            admit(1),
            Err(AdmitError::Mempool(AdmissionError::FeeTooLow {
                fee: 0,
                ..
            }))
        ));
        // ... and next in line the fee is waived, but the dry run still refuses a revoke of
        // nothing.
        assert!(matches!(admit(0), Err(AdmitError::Rejected(_))));
        assert!(chain.mempool.is_empty());
    }

    #[test]
    fn a_built_block_replays_on_another_validator() {
        let (_, block) = with_block();
        let other = chain();
        assert!(verdict(&other, &block).is_ok());
        assert!(other.knows(&block.digest()));
    }

    /// A MED source knowing a fixed branch (the node's MED service knows its Mblock tree).
    #[derive(Default)]
    struct KnownBranch {
        branch: Checkpoint,
        finalized: Mutex<Vec<Checkpoint>>,
    }

    impl CheckpointSource for KnownBranch {
        fn propose(&self, _after: &Hash32) -> Checkpoint {
            self.branch.clone()
        }

        fn knows(&self, checkpoint: &Checkpoint, _proposer: &Address) -> bool {
            let known = self.branch.hashes();
            checkpoint.hashes().iter().all(|hash| known.contains(hash))
        }

        fn finalized(&self, checkpoint: &Checkpoint, _proposer: &Address) {
            self.finalized.lock().unwrap().push(checkpoint.clone());
        }
    }

    const MED: medchain_types::med::MedParams = medchain_types::med::MedParams {
        target_interval_ms: 1_000,
        initial_difficulty: 4,
        min_difficulty: 2,
        retarget_window: 4,
    };

    fn med_genesis() -> Genesis {
        Genesis {
            med: Some(MED),
            ..testkit::genesis_document()
        }
    }

    /// A chain started from `genesis`, checkpointing with `source` if any.
    fn med_chain(genesis: &Genesis, source: Option<Arc<KnownBranch>>) -> Chain {
        let chain = Chain::open(
            Store::in_memory().unwrap(),
            genesis,
            Mempool::default(),
            100,
        )
        .unwrap();
        match source {
            Some(source) => chain.with_med(source),
            None => chain,
        }
    }

    /// `count` empty Mblocks mined honestly on the MED genesis (low difficulty).
    fn mined_branch(count: u64) -> Checkpoint {
        use medchain_med::pow;
        let mut headers =
            vec![pow::genesis_mblock(&testkit::chain_id(), testkit::GENESIS_TIME_MS, &MED).header];
        let mut branch = Vec::new();
        for _ in 0..count {
            let parent = headers.last().unwrap().clone();
            let window: Vec<(u64, u64)> = headers
                .iter()
                .rev()
                .take(4)
                .rev()
                .map(|header| (header.timestamp_ms, header.difficulty))
                .collect();
            let mut header = medchain_types::med::MblockHeader {
                height: parent.height + 1,
                parent: parent.hash(),
                tx_root: medchain_types::med::item_root(&testkit::chain_id(), [], []),
                body_hash: Sha256::hash(&[b"empty body"]),
                timestamp_ms: parent.timestamp_ms + MED.target_interval_ms,
                difficulty: pow::next_difficulty(&MED, &window),
                miner: Actor::new(77).address,
                nonce: 0,
            };
            assert!(pow::mine(&mut header, 1_000_000));
            headers.push(header.clone());
            branch.push(medchain_types::med::CheckpointedMblock {
                header,
                txs: Vec::new(),
                entries: Vec::new(),
            });
        }
        Checkpoint { branch }
    }

    #[test]
    fn without_a_med_source_blocks_checkpoint_nothing_and_refuse_checkpoints() {
        let (_, block) = with_block();
        assert!(block.checkpoint().branch.is_empty());
        assert_eq!(block.header().med_checkpoint, Hash32::EMPTY);
        let forged = Block::with_checkpoint(
            block.header().clone(),
            block.txs().to_vec(),
            mined_branch(1),
        );
        let other = chain();
        assert!(matches!(
            other.verify(&mut test_rng(), &forged, other.genesis_block()),
            Err(BlockError::UnknownCheckpoint)
        ));
        // Replayed as an ancestor, the state refuses it: the genesis has no MED chain.
        assert!(matches!(
            verdict(&other, &forged),
            Err(BlockError::Checkpoint(error)) if matches!(*error, CheckpointError::NoMedChain)
        ));
        assert!(!other.knows(&forged.digest()));
    }

    /// The first block a proposer builds when its MED source knows `branch`, with its parent
    /// (the genesis block) and the source.
    fn proposed_over(genesis: &Genesis, branch: &Checkpoint) -> (Block, Block, Arc<KnownBranch>) {
        let source = Arc::new(KnownBranch {
            branch: branch.clone(),
            ..KnownBranch::default()
        });
        let proposer = med_chain(genesis, Some(source.clone()));
        let parent = proposer.genesis_block().clone();
        let block = proposer
            .build(
                &parent,
                testkit::GENESIS_TIME_MS + 1_000,
                Actor::new(10).address,
            )
            .unwrap();
        (block, parent, source)
    }

    #[test]
    fn a_proposal_checkpoints_its_sources_branch_and_only_validators_knowing_it_vote() {
        let genesis = med_genesis();
        let branch = mined_branch(2);
        let (block, parent, _) = proposed_over(&genesis, &branch);
        assert_eq!(block.checkpoint(), &branch);
        assert_eq!(block.header().med_checkpoint, branch.commitment());

        // A validator whose MED node has not seen these Mblocks does not vote for it.
        let behind = med_chain(&genesis, Some(Arc::new(KnownBranch::default())));
        assert!(matches!(
            behind.verify(&mut test_rng(), &block, &parent),
            Err(BlockError::UnknownCheckpoint)
        ));
        // One that knows them replays it, and finalizing reports the checkpoint.
        let knowing = Arc::new(KnownBranch {
            branch: branch.clone(),
            ..KnownBranch::default()
        });
        let validator = med_chain(&genesis, Some(knowing.clone()));
        validator.verify(&mut test_rng(), &block, &parent).unwrap();
        validator.finalize(&mut test_rng(), &block, None).unwrap();
        assert_eq!(*knowing.finalized.lock().unwrap(), vec![branch.clone()]);
        let tip = validator
            .store()
            .snapshot()
            .unwrap()
            .value(&keys::med_tip())
            .unwrap()
            .unwrap();
        assert_eq!(tip.hash, branch.tip().unwrap().hash());
        // The validator that missed the Mblocks still commits the block once it is final.
        behind.finalize(&mut test_rng(), &block, None).unwrap();
    }

    #[test]
    fn an_invalid_checkpoint_is_refused_and_never_proposed() {
        let genesis = med_genesis();
        let mut branch = mined_branch(1);
        let header = &mut branch.branch[0].header;
        while medchain_med::pow::meets_difficulty(&header.hash(), header.difficulty) {
            header.nonce += 1;
        }
        let (block, parent, source) = proposed_over(&genesis, &branch);
        assert!(
            block.checkpoint().branch.is_empty(),
            "an invalid branch is left out"
        );
        let forged = Block::with_checkpoint(block.header().clone(), Vec::new(), branch);
        let validator = med_chain(&genesis, Some(source));
        assert!(matches!(
            validator.verify(&mut test_rng(), &forged, &parent),
            Err(BlockError::Checkpoint(error))
                if matches!(*error, CheckpointError::InvalidMblock { height: 1, .. })
        ));
    }

    #[test]
    fn tampered_headers_are_refused_and_nothing_is_remembered() {
        let (_, block) = with_block();
        let cases: [(&str, Block); 5] = [
            (
                "state_root",
                tampered(&block, |h, _| h.state_root = Sha256::hash(&[b"x"])),
            ),
            (
                "parent",
                tampered(&block, |h, _| h.parent = Sha256::hash(&[b"x"])),
            ),
            ("timestamp_ms", tampered(&block, |h, _| h.timestamp_ms = 0)),
            (
                "receipts_root",
                tampered(&block, |h, _| h.receipts_root = Sha256::hash(&[b"x"])),
            ),
            (
                "revocation_root",
                tampered(&block, |h, _| h.revocation_root = Sha256::hash(&[b"x"])),
            ),
        ];
        for (field, forged) in cases {
            let other = chain();
            match verdict(&other, &forged) {
                Err(BlockError::Header { field: got }) => assert_eq!(got, field),
                other => panic!("{field}: expected a header error, got {other:?}"),
            }
            assert!(!other.knows(&forged.digest()));
        }
    }

    #[test]
    fn blocks_with_forged_or_failing_transactions_are_refused() {
        let (_, block) = with_block();
        let forged_signature = tampered(&block, |_, txs| txs[0].body.nonce = 7);
        assert!(matches!(
            verdict(&chain(), &forged_signature),
            Err(BlockError::BadTransaction { index: 0, .. })
        ));

        // A replay of the same transaction within the block: the second fails its nonce.
        let replayed = tampered(&block, |_, txs| txs.push(txs[0].clone()));
        assert!(matches!(
            verdict(&chain(), &replayed),
            Err(BlockError::Execution { index: 1, .. })
        ));

        // Validly signed but against the rules: the regulator may not register (S2-register).
        let regulator = Actor::new(testkit::REGULATOR_SEED);
        let breaking = tampered(&block, |_, txs| {
            txs[0] = register(&regulator, 0, "Regulated")
        });
        assert!(matches!(
            verdict(&chain(), &breaking),
            Err(BlockError::Execution { index: 0, .. })
        ));
    }

    #[test]
    fn finalization_is_idempotent_and_refuses_conflicts() {
        let (chain, block) = with_block();
        let first = chain.finalize(&mut test_rng(), &block, None).unwrap();
        assert!(!first.redelivered);
        assert!(
            chain.mempool().is_empty(),
            "the included transaction stayed pending"
        );
        let again = chain.finalize(&mut test_rng(), &block, None).unwrap();
        assert!(again.redelivered);
        let other = tampered(&block, |h, _| h.timestamp_ms += 1);
        assert!(matches!(
            chain.finalize(&mut test_rng(), &other, None),
            Err(BlockError::Conflict { height: 1 })
        ));
        assert_eq!(chain.committed_height(), 1);
    }

    #[test]
    fn a_sender_s_next_transaction_stays_executable_while_blocks_empty_its_queue() {
        let chain = Arc::new(chain());
        let patient = Actor::new(300);
        let txs: Vec<Transaction> = (0..400)
            .map(|nonce| {
                let entry = testkit::entry(format!("entry {nonce}").as_bytes());
                patient.sign(nonce, entry).tx().clone()
            })
            .collect();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Blocks are built and finalized while the sender submits, one transaction at a time:
        // each block may take every waiting transaction of the sender.
        let finalizing = {
            let (chain, done) = (chain.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let block = build_next(&chain);
                    chain.finalize(&mut test_rng(), &block, None).unwrap();
                }
            })
        };
        for tx in txs {
            let nonce = tx.body.nonce;
            let admitted = chain.admit(&mut test_rng(), vec![tx]).remove(0);
            // Never queued behind (or refused past) a nonce a block has already committed.
            assert!(
                matches!(&admitted, Ok(a) if a.admitted == Admitted::Pending),
                "nonce {nonce}: {admitted:?}"
            );
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        finalizing.join().unwrap();
    }

    /// Three blocks built one on another by one validator, none finalized.
    fn three_blocks(chain: &Chain) -> Vec<Block> {
        let mut parent = chain.genesis_block().clone();
        (0..3)
            .map(|i| {
                let doctor = Actor::new(200 + i);
                let name = format!("Group {i}");
                let admitted = chain.admit(&mut test_rng(), vec![register(&doctor, 0, &name)]);
                assert!(admitted[0].is_ok());
                let timestamp = parent.header().timestamp_ms + 1_000;
                let block = chain.build(&parent, timestamp, doctor.address).unwrap();
                assert_eq!(
                    block.txs().len(),
                    1,
                    "block {i} took the new transaction only"
                );
                parent = block.clone();
                block
            })
            .collect()
    }

    fn group(blocks: &[Block]) -> Vec<(&Block, Option<&[u8]>)> {
        blocks.iter().map(|block| (block, None)).collect()
    }

    #[test]
    fn a_group_of_finalized_blocks_commits_in_one_write_replaying_each_on_the_previous() {
        let builder = chain();
        let blocks = three_blocks(&builder);
        // Another validator never saw them: each is replayed on the one before, uncommitted.
        let other = chain();
        let outcomes = other
            .finalize_group(&mut test_rng(), &group(&blocks))
            .unwrap();
        let heights: Vec<(u64, bool)> =
            outcomes.iter().map(|f| (f.height, f.redelivered)).collect();
        assert_eq!(heights, [(1, false), (2, false), (3, false)]);
        assert_eq!(other.committed_height(), 3);
        let tip = other.store().last_applied().unwrap().unwrap();
        assert_eq!(tip.block_digest, blocks[2].digest());
        // The builder commits the first alone, then the group again: it is redelivered.
        builder
            .finalize_group(&mut test_rng(), &group(&blocks[..1]))
            .unwrap();
        let outcomes = builder
            .finalize_group(&mut test_rng(), &group(&blocks))
            .unwrap();
        let redelivered: Vec<bool> = outcomes.iter().map(|f| f.redelivered).collect();
        assert_eq!(redelivered, [true, false, false]);
        assert!(builder.mempool().is_empty(), "included transactions stayed");
    }

    #[test]
    fn a_group_with_a_gap_or_a_conflict_commits_nothing() {
        let builder = chain();
        let blocks = three_blocks(&builder);
        let other = chain();
        let gapped = [blocks[0].clone(), blocks[2].clone()];
        assert!(matches!(
            other.finalize_group(&mut test_rng(), &group(&gapped)),
            Err(BlockError::Conflict { height: 3 })
        ));
        assert_eq!(
            other.committed_height(),
            0,
            "the first block was committed alone"
        );
        let forked = tampered(&blocks[1], |h, _| h.timestamp_ms += 1);
        let conflicting = [blocks[0].clone(), forked];
        assert!(
            other
                .finalize_group(&mut test_rng(), &group(&conflicting))
                .is_err()
        );
        assert_eq!(other.committed_height(), 0);
        // A redelivered block after a fresh one is out of order.
        other
            .finalize_group(&mut test_rng(), &group(&blocks[..1]))
            .unwrap();
        let backwards = [blocks[1].clone(), blocks[0].clone()];
        assert!(matches!(
            other.finalize_group(&mut test_rng(), &group(&backwards)),
            Err(BlockError::Conflict { height: 1 })
        ));
        assert_eq!(other.committed_height(), 1);
    }

    /// Admits twenty registrations, one per sender; returns the senders.
    fn twenty_registrations(chain: &Chain) -> Vec<Actor> {
        let senders: Vec<Actor> = (0..20).map(|i| Actor::new(100 + i)).collect();
        let txs: Vec<Transaction> = senders
            .iter()
            .enumerate()
            .map(|(i, actor)| register(actor, 0, &format!("Hospital {i}")))
            .collect();
        assert!(chain.admit(&mut test_rng(), txs).iter().all(Result::is_ok));
        senders
    }

    /// A clock that moves 1 ms every time it is read: each candidate costs 1 ms.
    fn slow_clock() -> Instant {
        static READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        let reads = READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *EPOCH.get_or_init(Instant::now) + Duration::from_millis(reads)
    }

    #[test]
    fn a_build_stops_at_its_budget_and_the_rest_waits_for_the_next_block() {
        let budget = BuildBudget::with_clock(Duration::from_millis(5), slow_clock);
        let chain = chain().with_build_budget(budget);
        let senders = twenty_registrations(&chain);
        let genesis = chain.genesis_block().clone();
        let first = chain
            .build(&genesis, 1_700_000_001_000, senders[0].address)
            .unwrap();
        let included = first.txs().len();
        assert!(
            (1..20).contains(&included),
            "the budget should cut the block short, not empty it: {included} of 20"
        );
        assert_eq!(
            chain.mempool().len(),
            20,
            "nothing is dropped by the budget"
        );
        // The block is valid as built, and the next one carries on where it stopped.
        assert!(verdict(&self::chain(), &first).is_ok());
        chain.finalize(&mut test_rng(), &first, None).unwrap();
        assert_eq!(chain.mempool().len(), 20 - included);
        let second = chain
            .build(&first, 1_700_000_002_000, senders[0].address)
            .unwrap();
        assert!(!second.txs().is_empty());
        assert!(second.txs().iter().all(|tx| !first.txs().contains(tx)));
    }

    /// A clock that never moves: applying costs nothing, only the rooting estimate counts.
    fn frozen_clock() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    /// A block built from twenty waiting registrations with a 5 ms budget on a frozen clock,
    /// assuming `root_cost` of rooting per transaction.
    fn built_with_root_cost(root_cost: Duration) -> Block {
        let budget = BuildBudget::with_clock(Duration::from_millis(5), frozen_clock)
            .with_root_cost(root_cost);
        let chain = chain().with_build_budget(budget);
        let senders = twenty_registrations(&chain);
        chain
            .build(chain.genesis_block(), 1_700_000_001_000, senders[0].address)
            .unwrap()
    }

    #[test]
    fn a_build_stops_while_what_it_applied_can_still_be_rooted_within_the_budget() {
        let block = built_with_root_cost(Duration::from_millis(1));
        // Applying took no time, but rooting a sixth transaction would pass 5 ms.
        assert_eq!(block.txs().len(), 5);
        assert!(verdict(&chain(), &block).is_ok());
    }

    #[test]
    fn a_build_takes_one_transaction_even_if_its_root_alone_exceeds_the_budget() {
        let block = built_with_root_cost(Duration::from_secs(1));
        assert_eq!(block.txs().len(), 1, "a block always makes progress");
    }

    #[test]
    fn the_rooting_estimate_follows_measured_roots_of_large_enough_blocks() {
        let budget = BuildBudget::wall_clock(Duration::from_millis(100))
            .with_root_cost(Duration::from_micros(40));
        // A small block's root is mostly fixed cost: it teaches nothing.
        budget.record_root(MIN_TXS_TO_MEASURE_ROOT - 1, Duration::from_secs(1));
        assert_eq!(budget.root_cost_per_tx(), Duration::from_micros(40));
        // 1 ms a transaction measured: a quarter of the way from 40 µs.
        budget.record_root(100, Duration::from_millis(100));
        assert_eq!(budget.root_cost_per_tx(), Duration::from_micros(280));
        // The estimate shrinks again as faster roots are measured.
        for _ in 0..40 {
            budget.record_root(1_000, Duration::from_millis(10));
        }
        assert!(budget.root_cost_per_tx() < Duration::from_micros(11));
    }

    #[test]
    fn a_replayed_block_teaches_the_budget_what_rooting_costs_here() {
        let budget = BuildBudget::with_clock(Duration::from_secs(10), slow_clock)
            .with_root_cost(Duration::from_secs(1));
        let chain = chain().with_build_budget(budget);
        let actors: Vec<Actor> = (0..MIN_TXS_TO_MEASURE_ROOT as u64)
            .map(|i| Actor::new(500 + i))
            .collect();
        let txs = actors
            .iter()
            .enumerate()
            .map(|(i, actor)| register(actor, 0, &format!("Clinic {i}")))
            .collect();
        let producer = self::chain();
        assert!(
            producer
                .admit(&mut test_rng(), txs)
                .iter()
                .all(Result::is_ok)
        );
        let block = producer
            .build(
                producer.genesis_block(),
                1_700_000_001_000,
                actors[0].address,
            )
            .unwrap();
        assert_eq!(block.txs().len(), MIN_TXS_TO_MEASURE_ROOT);
        assert!(verdict(&chain, &block).is_ok());
        // The slow clock gives the root a millisecond or so, far below the assumed second.
        let learned = chain.build_budget.as_ref().unwrap().root_cost_per_tx();
        assert!(learned < Duration::from_millis(800), "{learned:?}");
    }

    #[test]
    fn a_verdict_cached_at_admission_never_covers_a_tampered_copy_in_a_block() {
        let (chain, block) = with_block();
        assert_eq!(chain.signatures.verdicts(), 1);
        // The admitted transaction's signature with one bit flipped: another id.
        let forged = tampered(&block, |_, txs| {
            let mut bytes = txs[0].encode().to_vec();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            txs[0] = Transaction::from_bytes(&bytes).unwrap();
        });
        assert!(matches!(
            verdict(&chain, &forged),
            Err(BlockError::BadTransaction { index: 0, .. })
        ));
        assert!(verdict(&chain, &block).is_ok());
    }

    #[test]
    fn a_transaction_verified_in_a_block_is_admitted_later_on_its_cached_verdict() {
        let (_, block) = with_block();
        let voter = chain();
        assert!(verdict(&voter, &block).is_ok());
        assert_eq!(voter.signatures.verdicts(), 1);
        // Its gossip arrives after the block: admitted on the cached verdict.
        let admitted = voter.admit(&mut test_rng(), block.txs().to_vec());
        assert!(admitted[0].is_ok(), "{:?}", admitted[0]);
        assert_eq!(voter.signatures.verdicts(), 1);
    }

    #[test]
    fn without_a_budget_a_build_takes_every_candidate() {
        let chain = chain();
        let senders = twenty_registrations(&chain);
        let block = chain
            .build(chain.genesis_block(), 1_700_000_001_000, senders[0].address)
            .unwrap();
        assert_eq!(block.txs().len(), 20);
    }

    #[test]
    fn a_transaction_that_stops_applying_is_evicted_when_building() {
        let chain = chain();
        let (first, second) = (Actor::new(10), Actor::new(11));
        // Both want the same name; the second can never succeed once the first is in.
        for tx in [
            register(&first, 0, "Same Name"),
            register(&second, 0, "Same Name"),
        ] {
            assert!(chain.admit(&mut test_rng(), vec![tx])[0].is_ok());
        }
        let genesis = chain.genesis_block().clone();
        let block = chain
            .build(&genesis, 1_700_000_001_000, first.address)
            .unwrap();
        assert_eq!(block.txs().len(), 1);
        assert_eq!(
            chain.mempool().len(),
            1,
            "the losing registration should be evicted"
        );
        // ...and its sender can learn why (issue 7 §3: no silent drop).
        let loser = register(&second, 0, "Same Name").id();
        match chain.tx_status(&loser).unwrap() {
            TxStatus::Mempool(MempoolStatus::Dropped(dropped)) => assert!(matches!(
                dropped.reason,
                DropReason::Failed { ref code, .. } if code == "org_exists"
            )),
            other => panic!("expected a drop record, got {other:?}"),
        }
    }

    /// Builds the next block on the committed tip from the mempool.
    fn build_next(chain: &Chain) -> Block {
        let parent = chain
            .store()
            .block_by_height(chain.committed_height())
            .unwrap()
            .unwrap();
        let header = parent.header();
        chain
            .build(&parent, header.timestamp_ms + 1_000, header.proposer)
            .unwrap()
    }

    #[test]
    fn transitions_are_pinned_at_each_boundary_and_on_open_for_those_committed_before() {
        let mut genesis = testkit::token_genesis();
        if let Some(tokens) = genesis.tokens.as_mut() {
            tokens.staking.epoch_length = 4;
        }
        let store = Store::in_memory().unwrap();
        let open = || Chain::open(store.clone(), &genesis, Mempool::default(), 100).unwrap();
        // Heights 1 to 5 committed straight to the store, as a node did before it pinned
        // transitions: the boundary of epoch 0 (height 3) is unpinned.
        let old = open();
        for _ in 0..5 {
            let block = build_next(&old);
            let executed = old.cached(&block.digest()).unwrap();
            store
                .commit(CommitBatch {
                    block: &block,
                    executed: &executed,
                    finalization: None,
                })
                .unwrap();
        }
        let key = transition_key(0);
        assert_eq!(store.pinned_proof(key.as_bytes(), 3).unwrap(), None);
        drop(old);
        // Opening pins it, proving the set elected for epoch 1 at that block's root.
        let chain = open();
        let pinned = store.pinned_proof(key.as_bytes(), 3).unwrap().unwrap();
        let root = store
            .block_by_height(3)
            .unwrap()
            .unwrap()
            .header()
            .state_root;
        let set = pinned.verified_value(&root, &key).unwrap().unwrap();
        assert_eq!(set.epoch, 1);
        // Finalizing pins the next boundary (height 7) itself, and nothing in between.
        for _ in 0..3 {
            let block = build_next(&chain);
            chain.finalize(&mut test_rng(), &block, None).unwrap();
        }
        let next = transition_key(1);
        assert!(store.pinned_proof(next.as_bytes(), 7).unwrap().is_some());
        assert_eq!(store.pinned_proof(next.as_bytes(), 6).unwrap(), None);
    }
}
