//! The MED chain on a node (S3-dual, S3-supervise): its Mblock tree on disk, the pool of
//! verified hospital batches, the miner, the MED channels, and the checkpoint source the SUP
//! chain proposes and verifies checkpoints with.
//!
//! A received Mblock is checked in order of cost, so junk costs its sender more than us:
//! decode (bounded) → `body_matches` (the header commits to this body) → its parent known
//! (else it waits, bounded, while the parent is fetched from the sender) → the header's proof
//! of work, difficulty and timestamps against the parent (`pow::check_header`: forging one
//! costs real hashing) → the one aggregate signature over every doctor's and hospital's
//! message, with the signers' keys and standing read from the latest committed SUP state,
//! licences judged at the Mblock's timestamp (`aggregate::verify_block` + `StateSigners`) →
//! `MedChain::insert` (fork choice, refusing anything that does not descend from the newest
//! SUP checkpoint). An Mblock SUP already checkpointed skips the pairings, the local clock and
//! the fork cap (`MedChain::insert_supervised`). A missing Mblock is asked of one peer at a
//! time: the announcer or SUP proposer first, then the peers heard, in turn. A peer whose message fails
//! a check that depends on nothing but its bytes (undecodable, body mismatch, bad proof of
//! work) is muted for a while (its MED messages dropped; its connection, which SUP shares,
//! stays up); the others are dropped, since they may only mean our SUP state lags.

mod admission;
pub mod miner;
mod network;
mod orphans;
pub mod pool;
pub mod wire;

pub use admission::{
    BUSY_RETRY_MS, CONCURRENT_API_VERIFICATIONS, HOSPITAL_BURST_RELEASES,
    HOSPITAL_RELEASES_PER_SECOND, Throttled,
};
pub use network::{MAX_STRIKES, MAX_WORKERS, start as start_network};

use crate::med_checkpoint::CheckpointSource;
use admission::{Admission, NodeClock};
use futures::channel::mpsc;
use medchain_api::{MedEntryStatus, MedEntryView};
use medchain_med::{
    MedChain, MedError, MedStore,
    aggregate::{self, AggregateError, SignerKeys as _, SignerRole},
    chain::{check_entries, future_drift_ms},
    inclusion::{self, RecordInclusion},
    pow,
};
use medchain_state::{StateReadExt as _, keys, med::StateSigners, values::RecordOrigin};
use medchain_storage::Store;
use medchain_types::{
    Address, ChainId, EntryId, Genesis, Hash32, PublicKey, RecordId,
    med::{
        Checkpoint, MAX_BATCH_ENTRIES, MAX_BATCH_TXS, Mblock, MblockBody, MblockHeader, MedParams,
        RELEASE_VALIDITY_MS, SignedBatch,
    },
};
use orphans::OrphanPool;
use pool::{BatchItems, BatchPool, HospitalQuota, PoolFull, Pooled};
use std::{
    collections::{BTreeMap, BTreeSet, HashSet, VecDeque},
    ops::Bound,
    path::Path,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};
use tracing::{debug, info, warn};
use wire::BlockMessage;

/// Bodies asked for at a time while syncing from one peer: a few full Mblocks' worth, so the
/// answers fit the peer's queue on this node (they are verified in order as they come).
pub const SYNC_WINDOW: usize = 16;
/// How long a node waits for a peer asked for a missing Mblock before asking the next one,
/// milliseconds.
pub const REQUEST_RETRY_MS: u64 = 1_000;
/// How long a node remembers whom it asked for a missing Mblock, milliseconds: long enough to
/// go round a few peers in turn.
const FETCH_MEMORY_MS: u64 = 30_000;
/// Most MED peers remembered to ask in turn (the p2p layer only connects known peers).
const MAX_PEERS: usize = 1_024;
/// How long a proposer holds an Mblock before checkpointing it, milliseconds (review R4): the
/// time for it to reach the other validators and be verified there (a full body is a few
/// thousand pairings), so that a fresh Mblock — one a miner sent to the leader alone, say —
/// does not get the whole SUP proposal refused by voters that lack it.
pub const MIN_CHECKPOINT_AGE_MS: u64 = 2_000;

/// Why the MED service could not start.
#[derive(Debug, thiserror::Error)]
pub enum MedStartError {
    /// The MED block store could not be opened, or holds another chain.
    #[error("MED chain store {path}: {source}")]
    Store {
        /// The store file.
        path: std::path::PathBuf,
        /// What went wrong.
        source: MedError,
    },
}

/// Why a hospital batch was not taken.
#[derive(Debug, thiserror::Error)]
pub enum BatchRefused {
    /// It has no item, or more releases or entries than a batch may hold.
    #[error(
        "a batch holds 1 item at least, at most {MAX_BATCH_TXS} releases and {MAX_BATCH_ENTRIES} entries; this one has {releases} releases and {entries} entries"
    )]
    Size {
        /// Its releases.
        releases: usize,
        /// Its entries.
        entries: usize,
    },
    /// One of its records is already on the MED chain's best branch (the batch stays pooled
    /// until that record is final, in case a reorg drops its Mblock).
    #[error("record {0} is already on the MED chain")]
    AlreadyOnMed(RecordId),
    /// One of its entries is already on the MED chain's best branch (S3-entry; pooled like a
    /// record until final).
    #[error("entry {0} is already on the MED chain")]
    EntryOnMed(EntryId),
    /// An entry's time is further than [`RELEASE_VALIDITY_MS`] from this node's clock
    /// (S3-entry): no Mblock could carry it.
    #[error(
        "entry {entry} was issued at {issued_at_ms}, more than an hour from this node's clock ({now_ms})"
    )]
    StaleEntry {
        /// The entry.
        entry: EntryId,
        /// Its time.
        issued_at_ms: u64,
        /// This node's clock.
        now_ms: u64,
    },
    /// Its signature or one of its signers is refused.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
    /// A release was issued more than [`RELEASE_VALIDITY_MS`] before this node's clock: no
    /// Mblock could carry it, so it would only sit in (and fill) the pool.
    #[error(
        "record {record} was issued at {issued_at_ms}, more than an hour before this node's clock ({now_ms})"
    )]
    Stale {
        /// The release.
        record: RecordId,
        /// Its time.
        issued_at_ms: u64,
        /// This node's clock.
        now_ms: u64,
    },
    /// A release is dated further ahead of this node's clock than an Mblock's timestamp may
    /// be ([`future_drift_ms`]): an honest signer's clock is not that far off, and a
    /// release dated ahead stays minable — and pooled — that much longer (review R6).
    #[error(
        "record {record} is dated {issued_at_ms}, later than this node's clock allows ({latest_ms})"
    )]
    FromFuture {
        /// The release.
        record: RecordId,
        /// Its time.
        issued_at_ms: u64,
        /// The latest time this node accepts now.
        latest_ms: u64,
    },
    /// The pool is full.
    #[error(transparent)]
    PoolFull(#[from] PoolFull),
    /// The batch's hospital has its share of the pool waiting already (review R6).
    #[error(transparent)]
    HospitalQuota(#[from] HospitalQuota),
    /// The node verifies no more of this hospital's batches, or no more batches at all, for
    /// now (an API submission only).
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// The node could not read its committed SUP state.
    #[error("cannot read the committed state: {0}")]
    State(String),
}

/// Why a received (or mined) Mblock was not added.
#[derive(Debug, thiserror::Error)]
pub enum BlockRefused {
    /// Its header does not commit to its body.
    #[error("the header does not commit to the body (tx_root or body_hash)")]
    BodyMismatch,
    /// Its header is not a valid child of its parent (proof of work, difficulty, timestamp).
    #[error("invalid header: {0}")]
    Header(MedError),
    /// Headers sent for a sync are not a chain (each the parent of the next).
    #[error("the headers are not a chain: each must be the parent of the next")]
    Unlinked,
    /// Its parent is unknown here and it claims less work than a waiting block must: below a
    /// quarter (`pow::MAX_RETARGET_FACTOR`) of this node's best tip's difficulty. Judged
    /// against this node's tip, not the block's own ancestry, so an honest peer sends such
    /// blocks (the early, cheap Mblocks of its own branch, mined before it heard of ours).
    #[error(
        "its parent is unknown here and it claims difficulty {difficulty}, below the {floor} a waiting Mblock must claim"
    )]
    LowWork {
        /// The difficulty it claims (and its hash meets).
        difficulty: u64,
        /// The least a block waiting for its parent must claim here now.
        floor: u64,
    },
    /// Its aggregate signature or a signer is refused.
    #[error("invalid signature: {0}")]
    Aggregate(#[from] AggregateError),
    /// The chain refused it (e.g. it does not descend from the newest SUP checkpoint).
    #[error("refused by the MED chain: {0}")]
    Chain(MedError),
    /// The node could not read its committed SUP state.
    #[error("cannot read the committed state: {0}")]
    State(String),
}

/// What a refusal says about the peer that sent the refused message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Penalty {
    /// Nothing: our own SUP view may lag the peer's (a signer's standing), or the refusal is
    /// ours (a full pool, a state read).
    None,
    /// Likely misbehaviour: an aggregate that does not verify over keys our SUP state knows
    /// (a key replaced in a SUP block one of us has not committed yet would explain one).
    /// A few of these get the peer muted.
    Strike,
    /// Misbehaviour whatever the peer's view of SUP: the bytes alone are wrong. The peer's
    /// MED messages are dropped for a while (`network::MUTE_DURATION`); its p2p connection,
    /// which SUP consensus shares, is never cut for MED.
    Mute,
}

/// The penalty of an aggregate refusal.
fn aggregate_penalty(error: &AggregateError) -> Penalty {
    match error {
        AggregateError::Malformed(_)
        | AggregateError::DuplicateRelease(_)
        | AggregateError::DuplicateEntry(_) => Penalty::Mute,
        AggregateError::BadSignature
        | AggregateError::BadRelease { .. }
        | AggregateError::BadEntry { .. } => Penalty::Strike,
        AggregateError::Signer { .. } => Penalty::None,
    }
}

impl BlockRefused {
    /// What the refusal says about the block's sender: a block is refused for nothing but its
    /// bytes and its parent when its header does not commit to its body or is no valid child.
    pub fn penalty(&self) -> Penalty {
        match self {
            Self::BodyMismatch | Self::Header(_) | Self::Unlinked => Penalty::Mute,
            Self::Aggregate(error) => aggregate_penalty(error),
            // A peer is never penalised for what only our own tip makes wrong: validators
            // that started mining a few seconds apart once blocked each other this way (when
            // MED still blocked whole connections) and SUP never finalized a block.
            Self::LowWork { .. } | Self::Chain(_) | Self::State(_) => Penalty::None,
        }
    }
}

impl BatchRefused {
    /// What the refusal says about the batch's sender (a peer: the API has no sender to
    /// penalise).
    pub fn penalty(&self) -> Penalty {
        match self {
            Self::Size { .. } => Penalty::Mute,
            Self::Aggregate(error) => aggregate_penalty(error),
            Self::AlreadyOnMed(_)
            | Self::EntryOnMed(_)
            | Self::Stale { .. }
            | Self::FromFuture { .. }
            | Self::StaleEntry { .. }
            | Self::PoolFull(_)
            | Self::HospitalQuota(_)
            | Self::Throttled(_)
            | Self::State(_) => Penalty::None,
        }
    }
}

/// What became of a block handed to [`MedService::accept_block`].
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Already known.
    Known,
    /// Added to the tree (and, if `new_best`, now the tip of the best chain).
    Inserted {
        /// Its hash.
        hash: Hash32,
        /// Whether it became the best tip.
        new_best: bool,
    },
    /// Its parent is unknown: it waits while `missing` is fetched.
    Orphan {
        /// The parent to fetch.
        missing: Hash32,
    },
}

/// What the network task sends for the service.
#[derive(Debug)]
pub enum Outgoing {
    /// A message to every peer.
    Broadcast(BlockMessage),
    /// A message to one peer.
    To(PublicKey, BlockMessage),
    /// A batch for every miner.
    Batch(SignedBatch),
}

/// The MED service's mutable part.
struct Inner {
    chain: MedChain,
    pool: BatchPool,
    /// Mblocks whose parent is unknown.
    orphans: OrphanPool,
    /// Peers asked for headers after our locator, and when (their answer is expected).
    syncing: BTreeMap<PublicKey, u64>,
    /// The peer a sync goes on with once the last body asked of it is inserted.
    sync_next: Option<(PublicKey, Hash32)>,
    /// A checkpoint SUP finalized whose tip this node has not received yet.
    pending_checkpoint: Option<Hash32>,
    /// Each missing Mblock asked for: of whom last, and when.
    requested: BTreeMap<Hash32, Fetch>,
    /// When Mblocks inserted in the last [`MIN_CHECKPOINT_AGE_MS`] arrived, milliseconds (an
    /// Mblock absent here is old enough to checkpoint).
    arrived: BTreeMap<Hash32, u64>,
}

/// A missing Mblock asked of one peer (review R9: never of every peer at once — each would
/// answer with the whole Mblock).
struct Fetch {
    /// The peer asked last.
    peer: PublicKey,
    /// When, milliseconds.
    at_ms: u64,
}

/// One node's MED chain: shared by the API, the miner, the network task and the SUP chain
/// (as its [`CheckpointSource`]).
pub struct MedService {
    chain_id: ChainId,
    params: MedParams,
    /// The Mblock database, read without the lock (review R9: a body is up to a few hundred
    /// KB, and the lock is what SUP's `propose` and `knows` take).
    store: MedStore,
    /// The genesis Mblock (not in the database).
    genesis: Mblock,
    /// The SUP chain's committed state, where signers' keys and standing are read.
    sup: Store,
    inner: Mutex<Inner>,
    /// Peers heard on the MED channels: asked in turn for a missing Mblock when the first
    /// one asked does not answer. In a lock of their own (review V9): noted for every
    /// message, they must not contend with SUP's `propose` and `knows` for `inner`; taken
    /// after `inner` when both are.
    peers: Mutex<BTreeSet<PublicKey>>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    mining: AtomicBool,
    /// Bumped whenever the best tip or the pool changes: the miner's template is stale.
    generation: AtomicU64,
    /// The node's clock, unix milliseconds (simulated time in tests).
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// What strangers may make this node verify, and what it refused already.
    admission: Admission,
    /// Aggregate signature checks run (each a product of pairings).
    aggregate_checks: AtomicU64,
}

/// The node's clock in unix milliseconds, read from a runtime context (simulated time in the
/// deterministic runtime).
pub fn clock_of<E>(context: E) -> Box<dyn Fn() -> u64 + Send + Sync>
where
    E: commonware_runtime::Clock + Send + Sync + 'static,
{
    Box::new(move || {
        context
            .current()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            })
    })
}

/// The receiving end of a service's messages, consumed by [`start_network`].
pub struct Mailbox(pub(crate) mpsc::UnboundedReceiver<Outgoing>);

impl MedService {
    /// Opens the MED chain of `genesis` (which must have MED parameters; `None` otherwise)
    /// from its store at `path` (created on first use), reading signers from `sup`, the SUP
    /// chain's store. `clock` is the node's clock in unix milliseconds.
    pub fn open(
        path: &Path,
        genesis: &Genesis,
        sup: Store,
        clock: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<Option<(Arc<Self>, Mailbox)>, MedStartError> {
        if genesis.med.is_none() {
            return Ok(None);
        }
        let store = MedStore::open(path).map_err(|source| MedStartError::Store {
            path: path.to_path_buf(),
            source,
        })?;
        Self::with_store(store, genesis, sup, clock).map_err(|source| MedStartError::Store {
            path: path.to_path_buf(),
            source,
        })
    }

    /// [`MedService::open`] over an already opened store.
    pub fn with_store(
        store: MedStore,
        genesis: &Genesis,
        sup: Store,
        clock: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<Option<(Arc<Self>, Mailbox)>, MedError> {
        let Some(params) = genesis.med else {
            return Ok(None);
        };
        let mut chain = MedChain::open(
            store.clone(),
            genesis.chain_id.clone(),
            genesis.genesis_time_ms,
            params,
        )?;
        let pending_checkpoint = catch_up_checkpoint(&mut chain, &sup);
        let genesis_mblock = chain
            .block(&chain.genesis_hash())?
            .ok_or_else(|| MedError::Corrupt("the genesis Mblock is missing".into()))?;
        info!(
            height = chain.best().height,
            checkpointed = %chain.checkpointed(),
            "MED chain opened"
        );
        let (outbox, inbox) = mpsc::unbounded();
        let clock: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::from(clock);
        let service = Self {
            chain_id: genesis.chain_id.clone(),
            params,
            store,
            genesis: genesis_mblock,
            sup,
            inner: Mutex::new(Inner {
                chain,
                pool: BatchPool::default(),
                orphans: OrphanPool::default(),
                syncing: BTreeMap::new(),
                sync_next: None,
                pending_checkpoint,
                requested: BTreeMap::new(),
                arrived: BTreeMap::new(),
            }),
            peers: Mutex::default(),
            outbox,
            mining: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            admission: Admission::new(NodeClock(clock.clone())),
            clock,
            aggregate_checks: AtomicU64::new(0),
        };
        Ok(Some((Arc::new(service), Mailbox(inbox))))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the tree as consistent as the store it is
        // rebuilt from; keep serving rather than poison every later call.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    fn send(&self, message: Outgoing) {
        // The network task is gone only when the node stops.
        let _ = self.outbox.unbounded_send(message);
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The chain id MED messages are bound to.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// The genesis MED parameters.
    pub fn params(&self) -> &MedParams {
        &self.params
    }

    /// Whether a miner runs on this node.
    pub fn is_mining(&self) -> bool {
        self.mining.load(Ordering::Acquire)
    }

    /// Whether the latest committed SUP state holds `record` as a release mined in `mblock`
    /// (a checkpointed release SUP's rules refused at import is none).
    fn sup_imported(&self, record: &RecordId, mblock: &Hash32) -> bool {
        self.sup
            .snapshot()
            .ok()
            .and_then(|state| state.value(&keys::record(record)).ok())
            .flatten()
            .is_some_and(|value| {
                matches!(value.origin, RecordOrigin::Mined { mblock: m, .. } if m == *mblock)
            })
    }

    /// Whether the latest committed SUP state holds `hash` as a checkpointed Mblock.
    fn sup_checkpointed(&self, hash: &Hash32) -> bool {
        self.sup
            .snapshot()
            .ok()
            .and_then(|state| state.value(&keys::med_header(hash)).ok())
            .is_some_and(|header| header.is_some())
    }

    /// The signers' view: the latest committed SUP state, at the node's clock.
    fn verify_signers<T>(
        &self,
        check: impl FnOnce(&StateSigners<'_, medchain_storage::Snapshot>) -> T,
    ) -> Result<T, String> {
        self.verify_signers_at(self.now_ms(), check)
    }

    /// The signers' view: the latest committed SUP state, at time `at_ms` (a licence must be
    /// valid then).
    fn verify_signers_at<T>(
        &self,
        at_ms: u64,
        check: impl FnOnce(&StateSigners<'_, medchain_storage::Snapshot>) -> T,
    ) -> Result<T, String> {
        let snapshot = self.sup.snapshot().map_err(|e| e.to_string())?;
        Ok(check(&StateSigners::new(&snapshot, at_ms)))
    }

    /// SUP's committed height (0 before genesis or if unreadable): the version of the signers'
    /// standing a refusal was judged against.
    fn sup_height(&self) -> u64 {
        self.sup
            .snapshot()
            .ok()
            .and_then(|snapshot| snapshot.height())
            .unwrap_or(0)
    }

    /// Aggregate signature checks this node ran (batches and Mblocks): each is a product of a
    /// pairing per signed message, the cost admission control keeps strangers from spending.
    pub fn aggregate_checks(&self) -> u64 {
        self.aggregate_checks.load(Ordering::Relaxed)
    }

    /// The refusal this batch (its TX_mr `root` and signature) got before, if it still holds.
    fn refused_before(&self, root: Hash32, batch: &SignedBatch) -> Result<(), BatchRefused> {
        let key = (root, batch.signature);
        match self
            .admission
            .batches
            .get(&key, self.sup_height(), self.now_ms())
        {
            Some(refused) => Err(refused.into()),
            None => Ok(()),
        }
    }

    /// Verifies a batch's aggregate, remembering a refusal so the same bytes are refused
    /// without pairings next time.
    fn verify_batch(&self, root: Hash32, batch: &SignedBatch) -> Result<(), BatchRefused> {
        let key = (root, batch.signature);
        let (sup_height, now_ms) = (self.sup_height(), self.now_ms());
        self.aggregate_checks.fetch_add(1, Ordering::Relaxed);
        let verdict = self
            .verify_signers(|signers| aggregate::verify_batch(&self.chain_id, batch, signers))
            .map_err(BatchRefused::State)?;
        if let Err(refused) = &verdict {
            self.admission
                .batches
                .remember(key, refused, sup_height, now_ms);
        }
        Ok(verdict?)
    }

    /// The API's admission of a batch before its pairings: its hospital and the patients of
    /// its entries are ones SUP knows (state reads: an enrolled patient with a key, S3-entry),
    /// its hospital has items left in its bucket (releases and entries count alike: each is a
    /// pairing), and a verification slot is free.
    fn admit_from_api(&self, batch: &SignedBatch) -> Result<(), BatchRefused> {
        let hospital = batch.batch.hospital;
        self.verify_signers(|signers| signers.hospital(&hospital))
            .map_err(BatchRefused::State)?
            .map_err(|refusal| AggregateError::Signer {
                role: SignerRole::Hospital,
                address: hospital,
                refusal,
            })?;
        let patients: HashSet<Address> = batch
            .batch
            .entries
            .iter()
            .map(|entry| entry.patient)
            .collect();
        for patient in patients {
            self.verify_signers(|signers| signers.patient(&patient))
                .map_err(BatchRefused::State)?
                .map_err(|refusal| AggregateError::Signer {
                    role: SignerRole::Patient,
                    address: patient,
                    refusal,
                })?;
        }
        let items = batch.batch.txs.len() + batch.batch.entries.len();
        Ok(self.admission.charge(hospital, items)?)
    }

    /// Takes a hospital batch (from the API or a peer) into the pool after verifying its
    /// aggregate and signers; a batch from the API is handed on to every peer's miner.
    /// Returns its TX_mr; a batch already waiting is accepted again (idempotent). A batch
    /// with a release already on the best chain is refused as [`BatchRefused::AlreadyOnMed`],
    /// but kept pooled while that release is not final, in case a reorg drops it.
    pub fn submit_batch(&self, batch: SignedBatch, from_api: bool) -> Result<Hash32, BatchRefused> {
        let (releases, entries) = (batch.batch.txs.len(), batch.batch.entries.len());
        if releases + entries == 0 || releases > MAX_BATCH_TXS || entries > MAX_BATCH_ENTRIES {
            return Err(BatchRefused::Size { releases, entries });
        }
        let now_ms = self.now_ms();
        self.check_release_times(&batch, now_ms)?;
        if let Err(MedError::StaleEntry {
            entry,
            issued_at_ms,
            ..
        }) = check_entries(&self.chain_id, now_ms, &batch.batch.entries)
        {
            return Err(BatchRefused::StaleEntry {
                entry,
                issued_at_ms,
                now_ms,
            });
        }
        let root = batch.batch.root(&self.chain_id);
        let items = BatchItems::of(&self.chain_id, &batch);
        let (on_med, pooled) = {
            let inner = self.lock();
            (inner.on_med(&items), inner.pool.contains(&root))
        };
        let on_med = match on_med {
            Some((refusal, true)) => return Err(refusal),
            None if pooled => return Ok(root),
            on_med => on_med.map(|(refusal, _)| refusal),
        };
        // A batch on the best chain but not final yet is still pooled (and passed on): it
        // stays until a checkpoint makes it final, so that it is mined again if a reorg drops
        // its Mblock — the Mblock keeps only its block's aggregate, not the batch's signature.
        if !pooled {
            // The cheap refusals first: a full pool, a refusal remembered, and (from the API,
            // where anyone may call) an unknown hospital, its bucket, a free slot.
            // Stale batches leave every node's pool here, not only a miner's template: they
            // could never be mined, and would hold room honest batches need.
            let mut inner = self.lock();
            inner.evict_stale(now_ms);
            inner.pool.has_room(&items)?;
            inner.hospital_room(&batch.batch.hospital, &items.records)?;
            drop(inner);
            self.refused_before(root, &batch)?;
            let slot = if from_api {
                self.admit_from_api(&batch)?;
                Some(self.admission.slot()?)
            } else {
                None
            };
            self.verify_batch(root, &batch)?;
            drop(slot);
            let added = {
                // Checked again: other batches of the hospital may have come in meanwhile.
                let mut inner = self.lock();
                inner.hospital_room(&batch.batch.hospital, &items.records)?;
                inner.pool.insert(root, batch.clone(), items)?
            };
            if added == Pooled::Added {
                self.changed();
                if from_api {
                    self.send(Outgoing::Batch(batch));
                }
            }
        }
        match on_med {
            Some(refusal) => Err(refusal),
            None => Ok(root),
        }
    }

    /// Before any pairing, for the price of a clock read: every release of `batch` may go in
    /// an Mblock stamped now — not stale, not dated ahead of honest clocks (review R6).
    fn check_release_times(&self, batch: &SignedBatch, now_ms: u64) -> Result<(), BatchRefused> {
        let latest_ms = now_ms.saturating_add(future_drift_ms(&self.params));
        for tx in &batch.batch.txs {
            if tx.issued_at_ms.saturating_add(RELEASE_VALIDITY_MS) < now_ms {
                return Err(BatchRefused::Stale {
                    record: tx.record_id(&self.chain_id),
                    issued_at_ms: tx.issued_at_ms,
                    now_ms,
                });
            }
            if tx.issued_at_ms > latest_ms {
                return Err(BatchRefused::FromFuture {
                    record: tx.record_id(&self.chain_id),
                    issued_at_ms: tx.issued_at_ms,
                    latest_ms,
                });
            }
        }
        Ok(())
    }

    /// Checks `block` and adds it to the tree (see the module documentation for the order).
    /// A block whose parent is unknown waits (bounded) while the caller fetches it.
    pub fn accept_block(&self, block: Mblock) -> Result<Accepted, BlockRefused> {
        if !block.body_matches(&self.chain_id) {
            return Err(BlockRefused::BodyMismatch);
        }
        let hash = block.header.hash();
        // An Mblock SUP already checkpointed was verified by at least f + 1 honest validators
        // when it was fresh; checking it again against today's keys and licences could refuse
        // it (a doctor revoked or a key replaced since) and split this node from the chain,
        // and so could the rules that depend on this node alone (review R10: its clock, its
        // fork cap): it is held to the rules of its bytes and ancestry only.
        let supervised = self.sup_checkpointed(&hash);
        // A block refused before is refused again at the price of a lookup, before anything
        // else (it may have fallen below the checkpoint since: its sender still sent junk).
        let sup_height = self.sup_height();
        if let Some(refused) = self
            .admission
            .blocks
            .get(&hash, sup_height, self.now_ms())
            .filter(|_| !supervised)
        {
            return Err(refused.into());
        }
        {
            let mut inner = self.lock();
            if inner.chain.contains(&hash) {
                return Ok(Accepted::Known);
            }
            let parent_hash = block.header.parent;
            if !inner.chain.contains(&parent_hash) {
                // SUP's branch waits for its parent whatever work it claims next to our tip's.
                if !supervised {
                    inner.check_orphan(&hash, &block.header, &self.params)?;
                }
                inner.orphans.keep(block, self.now_ms());
                return Ok(Accepted::Orphan {
                    missing: parent_hash,
                });
            }
            // Every cheap rule (work, difficulty, time, checkpoint descent, replays) before
            // the pairings, which cost thousands of times more.
            let checked = if supervised {
                inner.chain.precheck_supervised(&block)
            } else {
                inner.chain.precheck(&block, self.now_ms())
            };
            match checked {
                Err(MedError::AlreadyKnown(_)) => return Ok(Accepted::Known),
                Err(
                    header @ (MedError::InsufficientWork { .. }
                    | MedError::WrongDifficulty { .. }
                    | MedError::WrongHeight { .. }
                    | MedError::WrongParent { .. }
                    | MedError::TimestampTooOld { .. }
                    | MedError::DuplicateRelease(_)
                    | MedError::Malformed(_)),
                ) => return Err(BlockRefused::Header(header)),
                Err(refused) => return Err(BlockRefused::Chain(refused)),
                Ok(()) => {}
            }
        }
        if !supervised {
            self.verify_block(hash, sup_height, &block)?;
        }
        let now = self.now_ms();
        let mut inner = self.lock();
        let inserted = if supervised {
            inner.chain.insert_supervised(block)
        } else {
            inner.chain.insert(block, now)
        };
        let inserted = match inserted {
            Ok(inserted) => inserted,
            // Another task inserted it while the signatures were checked.
            Err(MedError::AlreadyKnown(_)) => return Ok(Accepted::Known),
            Err(refused) => return Err(BlockRefused::Chain(refused)),
        };
        inner.requested.remove(&inserted.hash);
        inner.arrived.insert(inserted.hash, now);
        let sync_next = inner
            .sync_next
            .take_if(|(_, last)| *last == inserted.hash)
            .map(|(peer, _)| peer);
        if inner.pending_checkpoint == Some(inserted.hash) {
            inner.apply_pending_checkpoint();
        }
        drop(inner);
        self.changed();
        if let Some(peer) = sync_next {
            self.sync_with(peer);
        }
        Ok(Accepted::Inserted {
            hash: inserted.hash,
            new_best: inserted.new_best,
        })
    }

    /// Verifies an Mblock body's aggregate (without the lock: the API and the miner keep going
    /// meanwhile), remembering a refusal so the same block sent again costs no pairings.
    /// Licences are judged at the Mblock's timestamp, not at this node's clock (review R13):
    /// every node then judges it alike, however late it receives it — a licence that expired
    /// meanwhile must not split the nodes that verified it in time from those that did not
    /// (SUP's import judges the releases again at its own time).
    ///
    /// The timestamp is the miner's choice within the header rules (review V6): above the
    /// median time past of the parent's last `MEDIAN_TIME_SPAN` (11) Mblocks — about six
    /// target intervals behind the tip on an honest chain — and at most the future drift
    /// ahead of the receivers' clocks. So a miner may judge a licence up to about six
    /// intervals in the past (18 s with 3 s Mblocks, an hour with 10-minute ones), or the
    /// drift ahead. That only lets junk onto MED: no release becomes a record unless SUP's
    /// import finds the doctor practising at the SUP block's time (the gateway then ends such
    /// a release `refused`).
    fn verify_block(
        &self,
        hash: Hash32,
        sup_height: u64,
        block: &Mblock,
    ) -> Result<(), BlockRefused> {
        let now_ms = self.now_ms();
        self.aggregate_checks.fetch_add(1, Ordering::Relaxed);
        let verdict = self
            .verify_signers_at(block.header.timestamp_ms, |signers| {
                aggregate::verify_block(&self.chain_id, &block.body, signers)
            })
            .map_err(BlockRefused::State)?;
        if let Err(refused) = &verdict {
            self.admission
                .blocks
                .remember(hash, refused, sup_height, now_ms);
        }
        Ok(verdict?)
    }

    /// Accepts `block` and then every waiting block it was the missing parent of, in turn.
    /// Returns the outcome for `block` itself.
    pub fn accept_with_descendants(&self, block: Mblock) -> Result<Accepted, BlockRefused> {
        let outcome = self.accept_block(block)?;
        let Accepted::Inserted { hash, .. } = outcome else {
            return Ok(outcome);
        };
        let mut ready: VecDeque<Hash32> = VecDeque::from([hash]);
        while let Some(parent) = ready.pop_front() {
            let children = self.lock().orphans.take(&parent);
            for child in children {
                match self.accept_block(child) {
                    Ok(Accepted::Inserted { hash, .. }) => ready.push_back(hash),
                    Ok(_) => {}
                    Err(refused) => debug!(%refused, "a waiting MED block was refused"),
                }
            }
        }
        Ok(outcome)
    }

    /// Asks one peer for the Mblock `hash` (review R9): first `first` if given (the peer that
    /// announced a child of it, or the SUP proposer that checkpointed it: each holds it),
    /// then, each time the peer asked has not answered within [`REQUEST_RETRY_MS`], the next
    /// peer heard on the MED channels in turn. Never every peer at once: each would answer
    /// with the whole Mblock. Nothing is asked while no peer is known.
    pub fn request(&self, hash: Hash32, first: Option<PublicKey>) {
        let now = self.now_ms();
        let peer = {
            let mut inner = self.lock();
            if inner.chain.contains(&hash) {
                return;
            }
            // Forget old fetches so the map stays small.
            inner
                .requested
                .retain(|_, fetch| now < fetch.at_ms.saturating_add(FETCH_MEMORY_MS));
            let asked = inner.requested.get(&hash);
            if asked.is_some_and(|fetch| now < fetch.at_ms.saturating_add(REQUEST_RETRY_MS)) {
                return;
            }
            let peer = match asked {
                None => first.or_else(|| self.next_peer(None)),
                Some(fetch) => self.next_peer(Some(&fetch.peer)).or(first),
            };
            let Some(peer) = peer else {
                return;
            };
            inner.requested.insert(
                hash,
                Fetch {
                    peer: peer.clone(),
                    at_ms: now,
                },
            );
            peer
        };
        self.send(Outgoing::To(peer, BlockMessage::Request(hash)));
    }

    /// Notes a peer heard on the MED channels: one to ask in turn for missing Mblocks.
    pub(crate) fn heard_from(&self, peer: &PublicKey) {
        let mut peers = self.peers();
        if peers.len() < MAX_PEERS && !peers.contains(peer) {
            peers.insert(peer.clone());
        }
    }

    /// Forgets a peer this node muted.
    pub(crate) fn forget_peer(&self, peer: &PublicKey) {
        self.peers().remove(peer);
    }

    fn peers(&self) -> MutexGuard<'_, BTreeSet<PublicKey>> {
        // A set of keys is consistent whatever panicked while it was held.
        self.peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next peer to ask for a missing Mblock after `after` (the first one heard when
    /// none), in turn round the peers heard.
    fn next_peer(&self, after: Option<&PublicKey>) -> Option<PublicKey> {
        let peers = self.peers();
        after
            .and_then(|after| {
                peers
                    .range((Bound::Excluded(after), Bound::Unbounded))
                    .next()
            })
            .or_else(|| peers.first())
            .cloned()
    }

    /// Asks `peer` for the headers of its best chain after ours (headers-first sync), unless
    /// it was asked within the last second. The answer goes to [`MedService::accept_headers`].
    pub fn sync_with(&self, peer: PublicKey) {
        let now = self.now_ms();
        let locator = {
            let mut inner = self.lock();
            if inner
                .syncing
                .get(&peer)
                .is_some_and(|at| now < at.saturating_add(REQUEST_RETRY_MS))
            {
                return;
            }
            // A peer that did not answer within the retry time is asked afresh.
            inner
                .syncing
                .retain(|_, at| now < at.saturating_add(REQUEST_RETRY_MS));
            inner.syncing.insert(peer.clone(), now);
            inner.chain.locator()
        };
        self.send(Outgoing::To(peer, BlockMessage::GetHeaders(locator)));
    }

    /// A locator of this node's best chain (see [`MedChain::locator`]).
    pub fn locator(&self) -> Vec<Hash32> {
        self.lock().chain.locator()
    }

    /// The answer to a peer's locator: the headers of this node's best chain after the newest
    /// Mblock of `locator` on it, up to [`wire::MAX_SYNC_HEADERS`].
    pub fn headers_after(&self, locator: &[Hash32]) -> Vec<MblockHeader> {
        self.lock()
            .chain
            .headers_after(locator, wire::MAX_SYNC_HEADERS)
    }

    /// Headers `peer` sent in answer to our locator: each the next one's parent, each with
    /// the work it claims done, the first one's parent known here. Then the bodies this node
    /// lacks are asked of `peer`, oldest first, [`SYNC_WINDOW`] at a time (the next window is
    /// asked once the last of these is inserted). Returns the hashes asked for; headers no one
    /// asked `peer` for are ignored.
    pub fn accept_headers(
        &self,
        peer: &PublicKey,
        headers: &[MblockHeader],
    ) -> Result<Vec<Hash32>, BlockRefused> {
        let missing = {
            let mut inner = self.lock();
            if inner.syncing.remove(peer).is_none() {
                return Ok(Vec::new());
            }
            check_header_chain(headers, &self.params)?;
            let Some(first) = headers.first() else {
                return Ok(Vec::new());
            };
            // The peer answered a locator we sent, so it starts after an Mblock we have (unless
            // our chain moved meanwhile): otherwise there is nothing to link the bodies to.
            if inner
                .chain
                .header(&first.parent)
                .is_none_or(|parent| parent.height + 1 != first.height)
            {
                return Ok(Vec::new());
            }
            let unknown: Vec<Hash32> = headers
                .iter()
                .map(MblockHeader::hash)
                .filter(|hash| !inner.chain.contains(hash))
                .collect();
            let window: Vec<Hash32> = unknown.iter().take(SYNC_WINDOW).copied().collect();
            let more = unknown.len() > SYNC_WINDOW || headers.len() == wire::MAX_SYNC_HEADERS;
            inner.sync_next = window
                .last()
                .filter(|_| more)
                .map(|last| (peer.clone(), *last));
            window
        };
        for hash in &missing {
            self.request(*hash, Some(peer.clone()));
        }
        Ok(missing)
    }

    /// The Mblock `hash`, if this node has it: read from the database without the service's
    /// lock (review R9), so that peers' and the API's reads never hold up SUP's `propose` and
    /// `knows`, the miner or the tree's updates.
    pub fn block(&self, hash: &Hash32) -> Result<Option<Mblock>, MedError> {
        if *hash == self.genesis.header.hash() {
            return Ok(Some(self.genesis.clone()));
        }
        self.store.block(hash)
    }

    /// A template for the next Mblock on the best tip, mined by `miner`, with the pool's
    /// batches that may go on it and their aggregate; and the generation it reflects.
    pub fn template(&self, miner: Address) -> (MblockHeader, MblockBody, u64) {
        let generation = self.generation.load(Ordering::Acquire);
        let now = self.now_ms();
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.evict_stale(now);
        let tip = inner.chain.best_hash();
        let timestamp = inner.chain.template_timestamp(now);
        // The rules the chain will check the Mblock with: a batch already on the best chain
        // (pooled until final, in case a reorg drops it) would get the Mblock refused.
        let batches = inner.pool.select(|batch| {
            inner
                .chain
                .check_releases(&tip, timestamp, &batch.batch.txs)
                .is_ok()
                && check_entries(&self.chain_id, timestamp, &batch.batch.entries).is_ok()
        });
        let signature = aggregate::block_signature(&batches);
        let header = inner.chain.template(
            miner,
            batches.iter().map(|batch| batch.batch.clone()).collect(),
            signature,
            now,
        );
        let body = MblockBody {
            batches: batches.into_iter().map(|batch| batch.batch).collect(),
            signature,
        };
        (header, body, generation)
    }

    /// The generation of the best tip and pool (see [`MedService::template`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Adds an Mblock this node mined and announces it. A block refused for a signer (one
    /// lost its standing since its batch was pooled) clears the pool of batches that no
    /// longer verify.
    pub fn mined(&self, block: Mblock) {
        let announce = BlockMessage::Block(Box::new(block.clone()));
        match self.accept_block(block) {
            Ok(Accepted::Inserted { hash, .. }) => {
                info!(%hash, "mined an Mblock");
                self.send(Outgoing::Broadcast(announce));
            }
            Ok(_) => {}
            Err(BlockRefused::Aggregate(error)) => {
                warn!(%error, "a mined Mblock no longer verifies; re-checking the batch pool");
                self.recheck_pool();
            }
            Err(refused) => warn!(%refused, "a mined Mblock was refused"),
        }
    }

    /// Drops every pooled batch that no longer verifies against the committed SUP state.
    fn recheck_pool(&self) {
        let batches = self.lock().pool.select_all();
        let failing: Vec<BatchItems> = batches
            .iter()
            .filter(|batch| {
                !matches!(
                    self.verify_signers(|signers| aggregate::verify_batch(
                        &self.chain_id,
                        batch,
                        signers
                    )),
                    Ok(Ok(()))
                )
            })
            .map(|batch| BatchItems::of(&self.chain_id, batch))
            .collect();
        let mut inner = self.lock();
        inner.pool.evict(
            &failing
                .iter()
                .flat_map(|items| items.records.clone())
                .collect(),
        );
        inner.pool.evict_entries(
            &failing
                .iter()
                .flat_map(|items| items.entries.clone())
                .collect(),
        );
        drop(inner);
        self.changed();
    }

    /// Marks this node as running a miner.
    pub(crate) fn set_mining(&self, mining: bool) {
        self.mining.store(mining, Ordering::Release);
    }

    /// This node's view of the MED chain.
    pub fn status(&self) -> Result<medchain_api::MedStatus, MedError> {
        let (best, checkpointed, pending_batches, difficulty) = {
            let inner = self.lock();
            let best = inner.chain.best().clone();
            let checkpointed = inner
                .chain
                .header(&inner.chain.checkpointed())
                .cloned()
                .unwrap_or_else(|| best.clone());
            let difficulty = pow::next_difficulty(&self.params, &inner.chain.window(&best.hash()));
            (best, checkpointed, inner.waiting_batches(), difficulty)
        };
        Ok(medchain_api::MedStatus {
            best: self.summary(&best)?,
            checkpointed: self.summary(&checkpointed)?,
            pending_batches: pending_batches as u64,
            mining: self.is_mining(),
            difficulty,
        })
    }

    /// The API's summary of the Mblock `header` (its body read without the lock).
    fn summary(&self, header: &MblockHeader) -> Result<medchain_api::MblockSummary, MedError> {
        let txs = self
            .block(&header.hash())?
            .map_or(0, |block| block.body.txs().count());
        Ok(medchain_api::MblockSummary::of(
            header,
            u32::try_from(txs).unwrap_or(u32::MAX),
        ))
    }

    /// Up to `limit` headers of the best chain from height `from`.
    pub fn headers(&self, from: u64, limit: usize) -> Vec<MblockHeader> {
        self.lock().chain.headers(from, limit)
    }

    /// Where entry `id` stands (S3-entry): in an Mblock of the best chain — final once SUP
    /// filed it from a checkpoint, refused if checkpointed but not filed, mined otherwise —
    /// or pending in this node's pool; `None` if this node knows it nowhere.
    pub fn entry(&self, id: &EntryId) -> Result<Option<MedEntryView>, MedError> {
        let inner = self.lock();
        let Some((hash, _)) = inner.chain.find_entry(id) else {
            let pending = inner
                .pool
                .batches()
                .any(|(_, items)| items.entries.contains(id));
            return Ok(pending.then_some(MedEntryView {
                entry: *id,
                status: MedEntryStatus::Pending,
                mblock: None,
                filed_at: None,
            }));
        };
        let header = inner.chain.header(&hash).cloned();
        let checkpointed = inner.chain.is_checkpointed(&hash);
        drop(inner);
        let mblock =
            self.summary(&header.ok_or(MedError::Malformed("an entry's Mblock has no header"))?)?;
        let filed_at = self.sup_filed(id);
        let status = match (checkpointed, filed_at) {
            (false, _) => MedEntryStatus::Mined,
            (true, Some(_)) => MedEntryStatus::Final,
            (true, None) => MedEntryStatus::Refused,
        };
        Ok(Some(MedEntryView {
            entry: *id,
            status,
            mblock: Some(mblock),
            filed_at: filed_at.filter(|_| checkpointed),
        }))
    }

    /// The SUP height at which the latest committed SUP state filed entry `id`, if it did.
    fn sup_filed(&self, id: &EntryId) -> Option<u64> {
        self.sup
            .snapshot()
            .ok()
            .and_then(|state| state.value(&keys::entry(id)).ok())
            .flatten()
            .map(|filed| filed.filed_at)
    }

    /// A record's inclusion in the best chain, and whether its Mblock is checkpointed.
    pub fn record(&self, id: &RecordId) -> Result<Option<(RecordInclusion, bool)>, MedError> {
        let (hash, index, checkpointed_height) = {
            let inner = self.lock();
            let Some((hash, index)) = inner.chain.find_record(id) else {
                return Ok(None);
            };
            let checkpointed_height = inner
                .chain
                .header(&inner.chain.checkpointed())
                .map_or(0, |header| header.height);
            (hash, index, checkpointed_height)
        };
        let Some(block) = self.block(&hash)? else {
            return Ok(None);
        };
        let checkpointed =
            block.header.height <= checkpointed_height && self.sup_imported(id, &hash);
        Ok(inclusion::prove(&self.chain_id, &block, index)
            .map(|inclusion| (inclusion, checkpointed)))
    }
}

/// The ids among `ids` that `place` finds in a checkpointed Mblock of `chain`'s best chain.
fn checkpointed<'a, K: Copy + Eq + std::hash::Hash + 'a>(
    chain: &MedChain,
    ids: impl Iterator<Item = &'a K>,
    place: impl Fn(&K) -> Option<(Hash32, u32)>,
) -> HashSet<K> {
    ids.filter(|id| place(id).is_some_and(|(mblock, _)| chain.is_checkpointed(&mblock)))
        .copied()
        .collect()
}

/// The cheap checks of a peer's headers before any body is asked for: consecutive (each the
/// parent of the next, one height up), and each meeting the difficulty it claims, at least
/// the genesis minimum (the retargeted difficulty is checked when the body is inserted).
fn check_header_chain(headers: &[MblockHeader], params: &MedParams) -> Result<(), BlockRefused> {
    for pair in headers.windows(2) {
        if pair[1].parent != pair[0].hash() || pair[1].height != pair[0].height + 1 {
            return Err(BlockRefused::Unlinked);
        }
    }
    match headers.iter().find(|header| {
        header.difficulty < params.min_difficulty
            || !pow::meets_difficulty(&header.hash(), header.difficulty)
    }) {
        Some(header) => Err(BlockRefused::Header(MedError::InsufficientWork {
            difficulty: header.difficulty,
        })),
        None => Ok(()),
    }
}

impl Inner {
    /// The cheap checks of an Mblock whose parent is unknown, before it waits: not at or
    /// below the checkpoint (it could never be accepted, so nothing is fetched for it), and
    /// the work it claims is done and not far below the best tip's (its difficulty cannot be
    /// checked without its parent, but a waiting block must cost its sender real hashing).
    fn check_orphan(
        &self,
        hash: &Hash32,
        header: &MblockHeader,
        params: &MedParams,
    ) -> Result<(), BlockRefused> {
        let checkpointed = self.chain.checkpointed();
        if self
            .chain
            .header(&checkpointed)
            .is_some_and(|tip| header.height <= tip.height)
        {
            return Err(BlockRefused::Chain(MedError::NotAfterCheckpoint {
                block: *hash,
                checkpointed,
            }));
        }
        let difficulty = header.difficulty;
        // Wrong whatever the sender's chain: its hash does not meet what it claims, or no
        // Mblock may claim so little.
        if difficulty < params.min_difficulty || !pow::meets_difficulty(hash, difficulty) {
            return Err(BlockRefused::Header(MedError::InsufficientWork {
                difficulty,
            }));
        }
        // Cheap for our tip is not wrong: the sender's branch may have retargeted less (a
        // miner that started later), so this one is only dropped.
        let floor = self.chain.best().difficulty / pow::MAX_RETARGET_FACTOR;
        if difficulty < floor {
            return Err(BlockRefused::LowWork { difficulty, floor });
        }
        Ok(())
    }

    /// Applies the checkpoint SUP finalized before its tip arrived. It stays pending until
    /// it applies (review R10: a store error must not make the node forget SUP's checkpoint
    /// until it restarts).
    fn apply_pending_checkpoint(&mut self) {
        let Some(tip) = self.pending_checkpoint else {
            return;
        };
        match self.chain.set_checkpointed(tip) {
            Ok(()) => {
                self.pending_checkpoint = None;
                self.evict_final();
            }
            Err(error) => warn!(%error, %tip, "cannot apply a finalized MED checkpoint yet"),
        }
    }

    /// Drops the pooled batches a checkpoint made final: no reorg can drop them any more.
    fn evict_final(&mut self) {
        let chain = &self.chain;
        let records = self.pool.batches().flat_map(|(_, items)| &items.records);
        let final_records = checkpointed(chain, records, |id| chain.find_record(id));
        let entries = self.pool.batches().flat_map(|(_, items)| &items.entries);
        let final_entries = checkpointed(chain, entries, |id| chain.find_entry(id));
        self.pool.evict(&final_records);
        self.pool.evict_entries(&final_entries);
    }

    /// Drops the pooled batches with a release or entry issued more than
    /// [`RELEASE_VALIDITY_MS`] before `now_ms`: no Mblock may carry them any more.
    fn evict_stale(&mut self, now_ms: u64) {
        let oldest_ms = now_ms.saturating_sub(RELEASE_VALIDITY_MS);
        let stale: HashSet<RecordId> = self
            .pool
            .batches()
            .flat_map(|(batch, items)| batch.batch.txs.iter().zip(&items.records))
            .filter(|(tx, _)| tx.issued_at_ms < oldest_ms)
            .map(|(_, id)| *id)
            .collect();
        let stale_entries: HashSet<EntryId> = self
            .pool
            .batches()
            .flat_map(|(batch, items)| batch.batch.entries.iter().zip(&items.entries))
            .filter(|(entry, _)| entry.issued_at_ms < oldest_ms)
            .map(|(_, id)| *id)
            .collect();
        self.pool.evict(&stale);
        self.pool.evict_entries(&stale_entries);
    }

    /// Whether `hospital` may pool one more batch releasing `records`
    /// ([`BatchPool::hospital_room`], mined meaning on the best chain).
    fn hospital_room(&self, hospital: &Address, records: &[RecordId]) -> Result<(), HospitalQuota> {
        self.pool
            .hospital_room(hospital, records, |id| self.chain.find_record(id).is_some())
    }

    /// Pooled batches not on the best chain yet.
    fn waiting_batches(&self) -> usize {
        self.pool
            .batches()
            .filter(|(_, items)| {
                items
                    .records
                    .iter()
                    .any(|id| self.chain.find_record(id).is_none())
                    || items
                        .entries
                        .iter()
                        .any(|id| self.chain.find_entry(id).is_none())
            })
            .count()
    }

    /// The refusal of a batch with an item already on the best chain, and whether that item
    /// is final (its Mblock checkpointed).
    fn on_med(&self, items: &BatchItems) -> Option<(BatchRefused, bool)> {
        let chain = &self.chain;
        let record = items.records.iter().find_map(|id| {
            let (mblock, _) = chain.find_record(id)?;
            Some((
                BatchRefused::AlreadyOnMed(*id),
                chain.is_checkpointed(&mblock),
            ))
        });
        record.or_else(|| {
            items.entries.iter().find_map(|id| {
                let (mblock, _) = chain.find_entry(id)?;
                Some((
                    BatchRefused::EntryOnMed(*id),
                    chain.is_checkpointed(&mblock),
                ))
            })
        })
    }
}

/// Moves the MED checkpoint to SUP's committed `med/tip`: SUP blocks committed while this
/// node was down (or replayed at start) never called [`CheckpointSource::finalized`], and a
/// MED view lagging SUP would refuse SUP's next checkpoints and accept forks below them.
/// Returns the tip still to apply when this node lacks its Mblock (fetched from peers).
fn catch_up_checkpoint(chain: &mut MedChain, sup: &Store) -> Option<Hash32> {
    let read = sup
        .snapshot()
        .map_err(|error| error.to_string())
        .and_then(|state| {
            state
                .value(&keys::med_tip())
                .map_err(|error| error.to_string())
        });
    let tip = match read {
        Ok(Some(tip)) => tip.hash,
        Ok(None) => return None,
        Err(error) => {
            warn!(%error, "cannot read SUP's MED checkpoint");
            return None;
        }
    };
    if chain.checkpointed() == tip {
        return None;
    }
    if !chain.contains(&tip) {
        return Some(tip);
    }
    if let Err(error) = chain.set_checkpointed(tip) {
        warn!(%error, %tip, "cannot apply SUP's MED checkpoint");
    }
    None
}

impl CheckpointSource for MedService {
    /// The branch S3-supervise's rules choose from `after` (where the parent SUP block's
    /// checkpoint ends, review R16), cut before its first Mblock this node has held for less
    /// than [`MIN_CHECKPOINT_AGE_MS`] (a prefix of the chosen branch is still a valid
    /// checkpoint: it only leaves the rest for a later SUP block).
    fn propose(&self, after: &Hash32) -> Checkpoint {
        self.retry_pending_checkpoint();
        let now = self.now_ms();
        let mut inner = self.lock();
        inner
            .arrived
            .retain(|_, at| now < at.saturating_add(MIN_CHECKPOINT_AGE_MS));
        if !inner.chain.contains(after) {
            drop(inner);
            self.request(*after, None);
            return Checkpoint::default();
        }
        let mut checkpoint = inner.chain.choose_checkpoint_after(after);
        if let Some(fresh) = checkpoint
            .branch
            .iter()
            .position(|block| inner.arrived.contains_key(&block.header.hash()))
        {
            checkpoint.branch.truncate(fresh);
        }
        checkpoint
    }

    fn knows(&self, checkpoint: &Checkpoint, proposer: &Address) -> bool {
        self.retry_pending_checkpoint();
        let Some(first) = checkpoint.branch.first() else {
            return true;
        };
        // From where the branch says it starts: SUP's execution checks that this is where
        // the parent block's checkpoint ends (review R16).
        if self
            .lock()
            .chain
            .is_known_extension_after(&first.header.parent, checkpoint)
        {
            return true;
        }
        // Fetch what we lack so that this proposal, or the next carrying it, is voted for:
        // from its proposer first, who checkpointed it so holds it.
        if let Some(tip) = checkpoint.tip() {
            self.request(tip.hash(), proposer.public_key().ok());
        }
        false
    }

    fn finalized(&self, checkpoint: &Checkpoint, proposer: &Address) {
        let Some(tip) = checkpoint.tip().map(MblockHeader::hash) else {
            return;
        };
        let mut inner = self.lock();
        inner.pending_checkpoint = Some(tip);
        if inner.chain.contains(&tip) {
            inner.apply_pending_checkpoint();
            drop(inner);
            self.changed();
        } else {
            drop(inner);
            self.request(tip, proposer.public_key().ok());
        }
    }
}

impl MedService {
    /// Goes on with a checkpoint SUP finalized that this node could not apply yet (review
    /// R10): asks for its tip again (of the next peer in turn) while it is missing, and
    /// applies it once it is here. Called on each of SUP's `propose` and `knows`, about once
    /// a view.
    fn retry_pending_checkpoint(&self) {
        let mut inner = self.lock();
        let Some(tip) = inner.pending_checkpoint else {
            return;
        };
        if inner.chain.contains(&tip) {
            inner.apply_pending_checkpoint();
            let applied = inner.pending_checkpoint.is_none();
            drop(inner);
            if applied {
                self.changed();
            }
        } else {
            drop(inner);
            self.request(tip, None);
        }
    }
}

#[cfg(test)]
mod tests;
