//! The MED chain from a client's side (S3-dual, S3-supervise).
//!
//! - [`MedApi`]: the node's `/v1/med/*` routes — submit a hospital batch, MED status, headers
//!   along the best chain, an Mblock, a record's inclusion proof. Nothing it answers is trusted.
//! - [`LightMed`]: a patient's light MED node (S3 "PN"). It follows Mblock headers from the
//!   genesis Mblock, checking each one's proof of work, difficulty, timestamp (after the median
//!   time past, and no further in the future than the MED chain's drift rule allows) and link
//!   to the previous one (`medchain_med::pow::check_header`), at most [`MAX_SYNC_HEADERS`] per
//!   sync; keeps only headers and SUP's newest checkpoint (in a file, between runs); follows
//!   SUP's checkpoints through verified state reads (`med/tip`, `med/header/<hash>`); and
//!   verifies a record where SUP says it is (Mblock, index): it fetches that Mblock, proves the
//!   record's htxM a leaf of the `tx_root` of a header it synced itself, and that header is
//!   checkpointed by SUP — or the record is reported pending on MED.
//!
//! A node can withhold headers or Mblocks, or serve an older branch; it cannot make a light MED
//! node accept a header without its proof of work, a release under a header it did not sync,
//! another inclusion than the one SUP names, or call final an Mblock SUP's validators did not
//! checkpoint; nor can it keep a sync going forever or grow the headers file past what a load
//! accepts (docs/architecture.md § MED chain).

use crate::{Client, ClientError, NodeClient, StateQuery, enrol::now_ms};
use commonware_codec::{Copying, Encode, RangeCfg, Read, ReadExt};
use medchain_api::{BatchAccepted, MedEntryView, MedRecordView, MedStatus};
use medchain_med::{
    MedError,
    chain::future_drift_ms,
    inclusion::{InclusionError, RecordInclusion, prove, verify_inclusion},
    pow::{check_header, genesis_mblock},
};
use medchain_types::{
    ChainId, EntryId, Genesis, Hash32, RecordId,
    med::{Mblock, MblockHeader, MedParams, SignedBatch, TxMr},
};
use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

/// Most headers one `GET /v1/med/headers` page may carry (the node's own bound).
pub const HEADERS_PAGE: usize = 2_000;

/// Most headers one sync follows (about 42 hours of 3 s Mblocks): a node serving headers
/// without end — cheap ones, if it could drive the difficulty down — cannot keep a sync going
/// or its memory growing. A sync that stops there says so ([`SyncReport::complete`]); the next
/// one goes on from the headers kept.
pub const MAX_SYNC_HEADERS: usize = 50_000;

/// Most headers a light node holds, and so a headers file (years of 3 s blocks; bounds what a
/// corrupt or planted file can make the decoder allocate). A light node refuses to grow past
/// it, so it never writes a file its own load would refuse.
pub const MAX_FILE_HEADERS: usize = 64 * 1024 * 1024;

/// How long [`LightMed::sync_settled`] waits before each new try when the node has not
/// adopted SUP's newest checkpoint yet (3.5 s in all, about one Mblock interval of the
/// devnet, longer than a node takes to fetch a checkpointed Mblock it lacked).
pub const SETTLE_WAITS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_millis(1_000),
    Duration::from_millis(2_000),
];

/// Version tag at the start of a headers file: the chain id, then the headers.
const HEADERS_FILE_MAGIC_V1: &[u8; 8] = b"MEDHDRS1";

/// Version tag of the headers file written now: the chain id, SUP's newest checkpoint as
/// synced (if any), then the headers.
const HEADERS_FILE_MAGIC: &[u8; 8] = b"MEDHDRS2";

/// Why a light MED node stopped.
#[derive(Debug, thiserror::Error)]
pub enum LightMedError {
    /// The chain's genesis has no MED parameters: records are released on the consortium chain.
    #[error("this chain has no MED chain (its genesis has no MED parameters)")]
    NoMedChain,
    /// A node could not be reached, refused, or a SUP read did not verify.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A header the node served breaks the MED rules (proof of work, difficulty, timestamp).
    #[error("Mblock header {height} is invalid: {source}")]
    BadHeader {
        /// Its height.
        height: u64,
        /// The rule it breaks.
        source: MedError,
    },
    /// The light node holds [`MAX_FILE_HEADERS`] headers already: a longer chain could not be
    /// saved and loaded again.
    #[error(
        "the light MED node holds {limit} headers, the most a headers file may; a node serving more is not following the MED chain's difficulty (ask another node)"
    )]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The node's headers do not extend the chain held, down to the newest checkpoint (which
    /// no branch may replace): the node follows another MED chain than SUP checkpointed.
    #[error(
        "the node's MED chain does not extend the checkpointed Mblock at height {checkpointed}; ask another node"
    )]
    Diverged {
        /// The height of the newest checkpointed Mblock held.
        checkpointed: u64,
    },
    /// SUP's newest checkpoint (proven) is not on the MED chain the node served.
    #[error(
        "SUP checkpointed Mblock {hash} at height {height}, which the node's MED chain does not contain; ask another node"
    )]
    CheckpointNotServed {
        /// The checkpointed Mblock.
        hash: Hash32,
        /// Its height.
        height: u64,
    },
    /// SUP state is inconsistent with itself: an Mblock below the checkpointed tip is not
    /// proven checkpointed.
    #[error(
        "SUP state proves Mblock {hash} (height {height}) not checkpointed, below the checkpointed tip"
    )]
    CheckpointGap {
        /// The Mblock.
        hash: Hash32,
        /// Its height.
        height: u64,
    },
    /// The node does not serve the Mblock SUP names for a record: it withholds it, or does not
    /// know it.
    #[error(
        "the node does not serve Mblock {mblock}, which SUP names for record {record}; ask another node"
    )]
    MblockNotServed {
        /// The record.
        record: RecordId,
        /// The Mblock SUP names.
        mblock: Hash32,
    },
    /// Asked for one Mblock, the node served another.
    #[error("asked the node for Mblock {asked}, it served Mblock {served}")]
    WrongMblock {
        /// The Mblock asked for.
        asked: Hash32,
        /// The hash of the one served.
        served: Hash32,
    },
    /// The Mblock served has no release at the index SUP names, or its body is not the one its
    /// header commits to.
    #[error("Mblock {mblock} as served holds no release at index {index} under its header")]
    NotInMblock {
        /// The Mblock.
        mblock: Hash32,
        /// The index SUP names.
        index: u32,
    },
    /// The inclusion's header is not the one synced at its height.
    #[error(
        "the record's inclusion names an Mblock at height {height} that is not the header synced there (sync again, or ask another node)"
    )]
    HeaderNotSynced {
        /// The height the inclusion claims.
        height: u64,
    },
    /// The inclusion proof does not verify against its header.
    #[error("the inclusion proof of record {record} does not verify: {source}")]
    BadInclusion {
        /// The record asked about.
        record: RecordId,
        /// Why.
        source: InclusionError,
    },
    /// The inclusion proves another record than the one asked about.
    #[error("asked for record {asked}, the inclusion proves record {proven}")]
    WrongRecord {
        /// The record asked about.
        asked: RecordId,
        /// The record the proof is for.
        proven: RecordId,
    },
    /// The headers file could not be read or written.
    #[error("headers file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The headers file is not a headers file of this chain.
    #[error(
        "headers file {path} is not a MED headers file of chain {chain}: {reason} (delete it to sync from genesis)"
    )]
    BadFile {
        /// The file.
        path: PathBuf,
        /// The chain expected.
        chain: ChainId,
        /// What is wrong.
        reason: String,
    },
}

/// A node's MED routes (unverified answers; [`LightMed`] verifies).
#[derive(Clone, Debug)]
pub struct MedApi {
    node: NodeClient,
}

impl MedApi {
    /// The MED routes of `node`.
    pub fn new(node: NodeClient) -> Self {
        Self { node }
    }

    /// `POST /v1/med/batches`: hands a sealed hospital batch to the node's pool; the answer
    /// names its TX_mr.
    pub fn submit_batch(&self, batch: &SignedBatch) -> Result<BatchAccepted, ClientError> {
        self.node.post_json("/v1/med/batches", batch)
    }

    /// `GET /v1/med/status`.
    pub fn status(&self) -> Result<MedStatus, ClientError> {
        self.node.get_json("/v1/med/status")
    }

    /// `GET /v1/med/headers?from=&limit=`: headers along the node's best chain.
    pub fn headers(&self, from: u64, limit: usize) -> Result<Vec<MblockHeader>, ClientError> {
        self.node
            .get_json(&format!("/v1/med/headers?from={from}&limit={limit}"))
    }

    /// `GET /v1/med/blocks/{hash}`.
    pub fn block(&self, hash: &Hash32) -> Result<Mblock, ClientError> {
        self.node
            .get_json(&format!("/v1/med/blocks/{}", hex::encode(hash)))
    }

    /// `GET /v1/med/records/{id}`: the record's inclusion in an Mblock of the node's best
    /// chain, `None` when the node answers 404.
    pub fn record(&self, record: &RecordId) -> Result<Option<MedRecordView>, ClientError> {
        match self.node.get_json(&format!("/v1/med/records/{record}")) {
            Ok(view) => Ok(Some(view)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Where a patient's entry stands on the node's MED chain (S3-entry): pending in its
    /// pool, mined, final or refused by SUP's import; `None` when the node knows it nowhere
    /// (an error when the chain has no MED chain). The node's word: a client that must know
    /// reads `entry/<id>` from SUP's proven state ([`StateQuery::entry`]).
    pub fn entry_status(&self, entry: &EntryId) -> Result<Option<MedEntryView>, ClientError> {
        match self.node.get_json(&format!("/v1/med/entries/{entry}")) {
            Ok(view) => Ok(Some(view)),
            Err(ClientError::Api {
                status: 404,
                ref body,
            }) if body.error == "not_on_med" => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The newest Mblock SUP checkpointed, as a light MED node verified it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncedCheckpoint {
    /// The checkpointed Mblock (on the synced chain).
    pub hash: Hash32,
    /// Its height.
    pub height: u64,
    /// The SUP height of the block that checkpointed it.
    pub sup_height: u64,
}

impl SyncedCheckpoint {
    /// The fields as a headers file keeps them.
    fn to_tuple(self) -> (Hash32, u64, u64) {
        (self.hash, self.height, self.sup_height)
    }

    fn from_tuple((hash, height, sup_height): (Hash32, u64, u64)) -> Self {
        Self {
            hash,
            height,
            sup_height,
        }
    }
}

/// Where a verified record stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MedFinality {
    /// In a synced Mblock that SUP has not checkpointed yet: a MED reorganisation can still
    /// drop it.
    Pending,
    /// In an Mblock SUP checkpointed in its block at `checkpointed_at`.
    Final {
        /// The SUP height.
        checkpointed_at: u64,
    },
}

/// A record verified on MED.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedRecord {
    /// The record (its htxM).
    pub record: RecordId,
    /// The release.
    pub tx: TxMr,
    /// The Mblock that holds it.
    pub mblock: Hash32,
    /// That Mblock's height.
    pub mblock_height: u64,
    /// The release's position in the Mblock's body.
    pub index: u32,
    /// Pending or final.
    pub finality: MedFinality,
}

/// What one sync did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncReport {
    /// Headers checked and added.
    pub added: usize,
    /// Headers dropped because the node's best chain moved to another branch above the
    /// checkpoint.
    pub dropped: usize,
    /// The height of the newest header held.
    pub best: u64,
    /// SUP's newest checkpoint, if SUP has checkpointed anything (as of the last complete
    /// sync, when this one stopped at [`MAX_SYNC_HEADERS`]).
    pub checkpoint: Option<SyncedCheckpoint>,
    /// Whether the node had no newer header; `false` when the sync stopped after
    /// [`MAX_SYNC_HEADERS`] or at a header stamped ahead of this machine's clock (sync again
    /// to go on).
    pub complete: bool,
    /// The sync stopped at a header stamped later than the MED chain's future drift after
    /// this machine's clock (review V5): it is not taken yet — the clock may be behind (check
    /// it), or the node served a header from the future.
    pub ahead_of_clock: bool,
}

/// Where a light node gets headers: a node's `GET /v1/med/headers` ([`MedApi`]).
trait HeaderSource {
    /// At most `limit` headers of the source's best chain from height `from` on.
    fn headers(&self, from: u64, limit: usize) -> Result<Vec<MblockHeader>, ClientError>;
}

impl HeaderSource for MedApi {
    fn headers(&self, from: u64, limit: usize) -> Result<Vec<MblockHeader>, ClientError> {
        MedApi::headers(self, from, limit)
    }
}

/// What following a node's headers did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Followed {
    added: usize,
    dropped: usize,
    /// Stopped at the sync's header budget, or at a header ahead of the clock, rather than at
    /// the node's newest header.
    capped: bool,
    /// Stopped at a header stamped beyond the future drift after the clock.
    ahead: bool,
}

/// The last Mblock [`LightMed::verify_record`] fetched: one only, so memory stays one Mblock
/// however many records a patient has (not trusted: every record is proven in it again).
#[derive(Debug, Default)]
pub struct FetchedMblock(Option<(Hash32, Mblock)>);

impl FetchedMblock {
    /// Mblock `hash`: the one held if it is that one, else what `fetch` gives (then held).
    fn get<E>(
        &mut self,
        hash: &Hash32,
        fetch: impl FnOnce() -> Result<Mblock, E>,
    ) -> Result<&Mblock, E> {
        if self.0.as_ref().is_none_or(|(held, _)| held != hash) {
            self.0 = Some((*hash, fetch()?));
        }
        Ok(&self.0.as_ref().expect("just filled").1)
    }
}

/// A patient's light MED node: the headers of one MED chain from genesis, each checked, and
/// SUP's newest checkpoint on it.
#[derive(Clone, Debug)]
pub struct LightMed {
    chain_id: ChainId,
    params: MedParams,
    /// `headers[h]` is the header at height h; `headers[0]` is the genesis Mblock's.
    headers: Vec<MblockHeader>,
    checkpoint: Option<SyncedCheckpoint>,
    /// The most headers held ([`MAX_FILE_HEADERS`]; lower in tests).
    max_headers: usize,
}

impl LightMed {
    /// A light node holding only the genesis Mblock of `genesis`'s chain.
    pub fn new(genesis: &Genesis) -> Result<Self, LightMedError> {
        let params = genesis.med.ok_or(LightMedError::NoMedChain)?;
        let first = genesis_mblock(&genesis.chain_id, genesis.genesis_time_ms, &params);
        Ok(Self {
            chain_id: genesis.chain_id.clone(),
            params,
            headers: vec![first.header],
            checkpoint: None,
            max_headers: MAX_FILE_HEADERS,
        })
    }

    /// The light node saved at `path` (every header checked again: the file is not trusted;
    /// the checkpoint saved with them only if it names a header held), or a new one if there
    /// is no file.
    pub fn load(genesis: &Genesis, path: &Path) -> Result<Self, LightMedError> {
        let mut light = Self::new(genesis)?;
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(light),
            Err(source) => {
                return Err(LightMedError::File {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let bad = |reason: String| LightMedError::BadFile {
            path: path.to_path_buf(),
            chain: genesis.chain_id.clone(),
            reason,
        };
        let saved = decode_headers_file(&bytes).map_err(bad)?;
        if saved.chain != genesis.chain_id {
            return Err(bad(format!("it holds chain {}", saved.chain)));
        }
        if saved.headers.first() != light.headers.first() {
            return Err(bad("it starts at another genesis Mblock".into()));
        }
        // No future check here (review V5): the headers were within the drift when a sync
        // took them, and a clock set back since must not make the file unloadable.
        light
            .append(&saved.headers[1..], u64::MAX)
            .map_err(|error| bad(error.to_string()))?;
        if let Some(checkpoint) = saved.checkpoint {
            if light
                .header(checkpoint.height)
                .is_none_or(|held| held.hash() != checkpoint.hash)
            {
                return Err(bad(format!(
                    "its checkpoint names a header at height {} it does not hold",
                    checkpoint.height
                )));
            }
            light.checkpoint = Some(checkpoint);
        }
        Ok(light)
    }

    /// Writes the headers and the checkpoint to `path` (through a temporary file, so a crash
    /// leaves the old one).
    pub fn save(&self, path: &Path) -> Result<(), LightMedError> {
        if self.headers.len() > MAX_FILE_HEADERS {
            return Err(LightMedError::TooManyHeaders {
                limit: MAX_FILE_HEADERS,
            });
        }
        let mut bytes = HEADERS_FILE_MAGIC.to_vec();
        bytes.extend_from_slice(&self.chain_id.encode());
        bytes.extend_from_slice(&self.checkpoint.map(SyncedCheckpoint::to_tuple).encode());
        bytes.extend_from_slice(&self.headers.encode());
        let temporary = path.with_extension("tmp");
        let file_error = |source| LightMedError::File {
            path: path.to_path_buf(),
            source,
        };
        fs::write(&temporary, bytes).map_err(file_error)?;
        fs::rename(&temporary, path).map_err(file_error)
    }

    /// The newest header held.
    pub fn best(&self) -> &MblockHeader {
        self.headers
            .last()
            .expect("the genesis header is always held")
    }

    /// The header held at `height`.
    pub fn header(&self, height: u64) -> Option<&MblockHeader> {
        usize::try_from(height)
            .ok()
            .and_then(|index| self.headers.get(index))
    }

    /// SUP's newest checkpoint on the headers held, as of the last sync.
    pub fn checkpoint(&self) -> Option<SyncedCheckpoint> {
        self.checkpoint
    }

    /// Checks and appends `headers`, each the child of the one before (the first a child of
    /// the newest held), none stamped later than the MED chain's future drift after `now_ms`
    /// (the rule full nodes apply: without it a node could stamp a branch far ahead and
    /// retarget its difficulty down to the floor). Returns how many were appended; on an
    /// invalid header, or at [`MAX_FILE_HEADERS`], the ones before stay appended.
    pub fn extend(
        &mut self,
        headers: &[MblockHeader],
        now_ms: u64,
    ) -> Result<usize, LightMedError> {
        self.append(headers, self.latest_ms(now_ms))
    }

    /// The newest timestamp a header may carry when the clock reads `now_ms`.
    fn latest_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_add(future_drift_ms(&self.params))
    }

    /// [`Self::extend`] with headers stamped up to `latest_ms`.
    fn append(&mut self, headers: &[MblockHeader], latest_ms: u64) -> Result<usize, LightMedError> {
        for header in headers {
            if self.headers.len() >= self.max_headers {
                return Err(LightMedError::TooManyHeaders {
                    limit: self.max_headers,
                });
            }
            let bad = |source| LightMedError::BadHeader {
                height: header.height,
                source,
            };
            check_header(&self.params, self.best(), &self.window(), header).map_err(bad)?;
            if header.timestamp_ms > latest_ms {
                return Err(bad(MedError::TimestampInFuture {
                    timestamp_ms: header.timestamp_ms,
                    latest_ms,
                }));
            }
            self.headers.push(header.clone());
        }
        Ok(headers.len())
    }

    /// The retarget window of the next header: the `(timestamp, difficulty)` of the last
    /// `retarget_window` headers held, oldest first (the same window the MED chain measures).
    fn window(&self) -> Vec<(u64, u64)> {
        let size = usize::try_from(self.params.retarget_window).unwrap_or(usize::MAX);
        let start = self.headers.len().saturating_sub(size);
        self.headers[start..]
            .iter()
            .map(|header| (header.timestamp_ms, header.difficulty))
            .collect()
    }

    /// The lowest height a reorganisation may drop down to: the newest checkpointed Mblock
    /// stays.
    fn floor(&self) -> u64 {
        self.checkpoint.map_or(0, |checkpoint| checkpoint.height)
    }

    /// Drops the headers above `height` (never the checkpointed one); returns how many.
    fn truncate_above(&mut self, height: u64) -> usize {
        let keep = usize::try_from(height.max(self.floor()))
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(self.headers.len());
        let dropped = self.headers.len() - keep;
        self.headers.truncate(keep);
        dropped
    }

    /// Follows the node's best MED chain — at most [`MAX_SYNC_HEADERS`] new headers, up to
    /// the first stamped ahead of this machine's clock — and SUP's newest checkpoint (a
    /// verified state read). On an error the headers checked before it stay held (save them:
    /// the next sync goes on from there).
    pub fn sync(&mut self, client: &Client, med: &MedApi) -> Result<SyncReport, LightMedError> {
        let mut budget = MAX_SYNC_HEADERS;
        // SUP's checkpoint first (review V10), so that a node serving another branch is
        // caught as soon as the headers followed pass its height, not after the download.
        let known = client
            .read(&StateQuery::med_tip())?
            .value
            .map(|tip| (tip.hash, tip.height));
        let mut followed = self.follow_headers(med, now_ms, &mut budget, known)?;
        let tip = client.read(&StateQuery::med_tip())?.value;
        let checkpoint = match tip {
            None => None,
            Some(tip) => {
                if !followed.capped && !self.holds(&tip.hash, tip.height) {
                    // Checkpointed after the headers were fetched, or the node had moved
                    // branch: follow once more before judging.
                    let more = self.follow_headers(med, now_ms, &mut budget, known)?;
                    followed = Followed {
                        added: followed.added + more.added,
                        dropped: followed.dropped + more.dropped,
                        ..more
                    };
                }
                if self.holds(&tip.hash, tip.height) {
                    Some(SyncedCheckpoint {
                        hash: tip.hash,
                        height: tip.height,
                        sup_height: tip.checkpointed_at,
                    })
                } else if followed.capped && tip.height > self.best().height {
                    // Not synced that far yet: the checkpoint held stays until a later sync
                    // reaches SUP's.
                    self.checkpoint
                } else {
                    return Err(LightMedError::CheckpointNotServed {
                        hash: tip.hash,
                        height: tip.height,
                    });
                }
            }
        };
        self.checkpoint = checkpoint;
        Ok(SyncReport {
            added: followed.added,
            dropped: followed.dropped,
            best: self.best().height,
            checkpoint,
            complete: !followed.capped,
            ahead_of_clock: followed.ahead,
        })
    }

    /// [`LightMed::sync`], tried again after each of [`SETTLE_WAITS`] while the node does not
    /// serve SUP's newest checkpoint. A node commits a SUP block before its MED chain adopts
    /// the checkpoint the block carries (fetching the Mblock first if another miner's branch
    /// won), so for a moment after each checkpoint an honest node answers with its previous
    /// branch; a node that keeps serving another branch is still refused, a few seconds later.
    /// Each try starts from the headers the last one left (a refused branch is dropped above
    /// the light node's own checkpoint, which only a served checkpoint moves).
    pub fn sync_settled(
        &mut self,
        client: &Client,
        med: &MedApi,
    ) -> Result<SyncReport, LightMedError> {
        settle(&SETTLE_WAITS, || self.sync(client, med))
    }

    /// Whether the header held at `height` is `hash`.
    fn holds(&self, hash: &Hash32, height: u64) -> bool {
        self.header(height).is_some_and(|held| held.hash() == *hash)
    }

    /// Fetches and checks headers until the node has no newer one, `budget` headers were
    /// added, or the next is stamped beyond the future drift after `now_ms()` — read for each
    /// page (review V5: headers mined during a long sync are stamped by the miners' clocks,
    /// later than the sync's start). Where the node's chain no longer extends the headers
    /// held (it moved to another branch), steps back — twice as far each time, never below
    /// the checkpoint — and follows the node's branch from there. Once the headers pass the
    /// height of `checkpoint` (SUP's, hash and height) they must hold it.
    fn follow_headers(
        &mut self,
        source: &impl HeaderSource,
        now_ms: impl Fn() -> u64,
        budget: &mut usize,
        checkpoint: Option<(Hash32, u64)>,
    ) -> Result<Followed, LightMedError> {
        let mut followed = Followed::default();
        let mut step_back = 1u64;
        loop {
            if *budget == 0 {
                followed.capped = true;
                return Ok(followed);
            }
            let from = self.best().height + 1;
            let mut page = source.headers(from, HEADERS_PAGE.min(*budget))?;
            // A node answering more than asked is cut to what was asked.
            page.truncate(HEADERS_PAGE.min(*budget));
            let Some(first) = page.first() else {
                return Ok(followed);
            };
            if first.parent != self.best().hash() || first.height != from {
                let floor = self.floor();
                if self.best().height <= floor {
                    return Err(LightMedError::Diverged {
                        checkpointed: floor,
                    });
                }
                followed.dropped +=
                    self.truncate_above(self.best().height.saturating_sub(step_back));
                step_back = step_back.saturating_mul(2);
                continue;
            }
            let latest_ms = self.latest_ms(now_ms());
            let in_time = page
                .iter()
                .take_while(|header| header.timestamp_ms <= latest_ms)
                .count();
            let added = self.append(&page[..in_time], latest_ms)?;
            followed.added += added;
            *budget = budget.saturating_sub(added);
            self.check_holds(checkpoint)?;
            if in_time < page.len() {
                followed.capped = true;
                followed.ahead = true;
                return Ok(followed);
            }
        }
    }

    /// Whether the headers held agree with SUP's `checkpoint` (hash, height) once they reach
    /// its height; if not, the node serves another branch: the headers from that height on
    /// are dropped (never the light node's own checkpoint) and the sync refused.
    fn check_holds(&mut self, checkpoint: Option<(Hash32, u64)>) -> Result<(), LightMedError> {
        let Some((hash, height)) = checkpoint else {
            return Ok(());
        };
        if self.best().height < height || self.holds(&hash, height) {
            return Ok(());
        }
        self.truncate_above(height.saturating_sub(1));
        Err(LightMedError::CheckpointNotServed { hash, height })
    }

    /// Verifies `record` where SUP says it is — release `index` of Mblock `mblock`
    /// (`RecordOrigin::Mined`): fetches that Mblock and proves the record in it locally
    /// ([`LightMed::check_mblock`]), so the node chooses nothing and can only withhold. Final
    /// when the Mblock is at or below SUP's newest checkpoint (with the SUP height that
    /// checkpointed it, a verified read), pending otherwise.
    /// The Mblock is taken from `fetched` when it was the last one fetched (review V11:
    /// check a patient's records Mblock by Mblock and each is downloaded once).
    pub fn verify_record(
        &self,
        client: &Client,
        med: &MedApi,
        fetched: &mut FetchedMblock,
        record: &RecordId,
        mblock: &Hash32,
        index: u32,
    ) -> Result<MedRecord, LightMedError> {
        let block = fetched.get(mblock, || match med.block(mblock) {
            Err(ClientError::Api { status: 404, .. }) => Err(LightMedError::MblockNotServed {
                record: *record,
                mblock: *mblock,
            }),
            other => Ok(other?),
        })?;
        let proven = self.check_mblock(record, mblock, index, block)?;
        let finality = match self.checkpoint {
            Some(checkpoint) if proven.mblock_height <= checkpoint.height => {
                let checkpointed = client.read(&StateQuery::med_header(mblock))?.value;
                let checkpointed = checkpointed.ok_or(LightMedError::CheckpointGap {
                    hash: *mblock,
                    height: proven.mblock_height,
                })?;
                MedFinality::Final {
                    checkpointed_at: checkpointed.checkpointed_at,
                }
            }
            _ => MedFinality::Pending,
        };
        Ok(MedRecord { finality, ..proven })
    }

    /// The offline half of [`LightMed::verify_record`]: `block` is the Mblock `mblock`, its
    /// header is the one synced at its height, and its release `index` — proven against the
    /// header's `tx_root` from the body — is `record`. Pending until a checkpoint says
    /// otherwise.
    pub fn check_mblock(
        &self,
        record: &RecordId,
        mblock: &Hash32,
        index: u32,
        block: &Mblock,
    ) -> Result<MedRecord, LightMedError> {
        let served = block.header.hash();
        if served != *mblock {
            return Err(LightMedError::WrongMblock {
                asked: *mblock,
                served,
            });
        }
        let inclusion = prove(&self.chain_id, block, index).ok_or(LightMedError::NotInMblock {
            mblock: *mblock,
            index,
        })?;
        self.check_inclusion(record, &inclusion)
            .map(|(_, proven)| proven)
    }

    /// The offline half of [`LightMed::verify_record`]: `inclusion` is under the header synced
    /// at its height and proves `record`. Returns the Mblock's hash and the record, pending
    /// until a checkpoint says otherwise.
    pub fn check_inclusion(
        &self,
        record: &RecordId,
        inclusion: &RecordInclusion,
    ) -> Result<(Hash32, MedRecord), LightMedError> {
        let height = inclusion.header.height;
        if self.header(height) != Some(&inclusion.header) {
            return Err(LightMedError::HeaderNotSynced { height });
        }
        let proven = verify_inclusion(&self.chain_id, inclusion).map_err(|source| {
            LightMedError::BadInclusion {
                record: *record,
                source,
            }
        })?;
        if proven != *record {
            return Err(LightMedError::WrongRecord {
                asked: *record,
                proven,
            });
        }
        let mblock = inclusion.header.hash();
        Ok((
            mblock,
            MedRecord {
                record: proven,
                tx: inclusion.tx.clone(),
                mblock,
                mblock_height: height,
                index: inclusion.index,
                finality: MedFinality::Pending,
            },
        ))
    }
}

/// What a headers file holds.
struct HeadersFile {
    chain: ChainId,
    checkpoint: Option<SyncedCheckpoint>,
    headers: Vec<MblockHeader>,
}

/// Decodes a headers file: this version's, or the first (headers only, no checkpoint).
fn decode_headers_file(bytes: &[u8]) -> Result<HeadersFile, String> {
    let (with_checkpoint, rest) = if let Some(rest) = bytes.strip_prefix(HEADERS_FILE_MAGIC) {
        (true, rest)
    } else if let Some(rest) = bytes.strip_prefix(HEADERS_FILE_MAGIC_V1) {
        (false, rest)
    } else {
        return Err("it does not start with the headers file tag".into());
    };
    let mut rest = Copying(rest);
    let chain = ChainId::read(&mut rest).map_err(|e| e.to_string())?;
    let checkpoint = if with_checkpoint {
        Option::<(Hash32, u64, u64)>::read_cfg(&mut rest, &((), (), ()))
            .map_err(|e| e.to_string())?
            .map(SyncedCheckpoint::from_tuple)
    } else {
        None
    };
    let headers =
        Vec::<MblockHeader>::read_cfg(&mut rest, &(RangeCfg::from(1..=MAX_FILE_HEADERS), ()))
            .map_err(|e| e.to_string())?;
    if !rest.0.is_empty() {
        return Err("trailing bytes after the headers".into());
    }
    Ok(HeadersFile {
        chain,
        checkpoint,
        headers,
    })
}

/// `attempt`, tried again after each of `waits` while it answers
/// [`LightMedError::CheckpointNotServed`]; any other answer is returned at once.
fn settle<T>(
    waits: &[Duration],
    mut attempt: impl FnMut() -> Result<T, LightMedError>,
) -> Result<T, LightMedError> {
    for wait in waits {
        match attempt() {
            Err(LightMedError::CheckpointNotServed { .. }) => std::thread::sleep(*wait),
            answer => return answer,
        }
    }
    attempt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::address_of;
    use commonware_cryptography::Signer as _;
    use medchain_med::{
        inclusion::prove,
        pow::{mine, next_difficulty},
    };
    use medchain_types::{
        Address, BlsSignature, ContentHash, PrivateKey,
        med::{HospitalBatch, MblockBody, item_root},
    };

    const GENESIS_TIME_MS: u64 = 1_700_000_000_000;

    /// The light node's clock in these tests: a day after genesis.
    const NOW_MS: u64 = GENESIS_TIME_MS + 86_400_000;

    fn address(seed: u64) -> Address {
        address_of(&PrivateKey::from_seed(seed))
    }

    fn genesis() -> Genesis {
        Genesis {
            chain_id: "medchain-light-med".parse().unwrap(),
            genesis_time_ms: GENESIS_TIME_MS,
            regulator: address(1),
            validators: Vec::new(),
            tokens: None,
            med: Some(MedParams {
                target_interval_ms: 1_000,
                initial_difficulty: 64,
                min_difficulty: 16,
                retarget_window: 4,
            }),
        }
    }

    fn release(n: u8) -> TxMr {
        TxMr {
            doctor: address(2),
            patient: address(3),
            record_hash: ContentHash::of(&[n]),
            issued_at_ms: GENESIS_TIME_MS + u64::from(n),
        }
    }

    /// A MED chain mined on top of `light`'s headers, one Mblock per entry of `bodies`
    /// (releases of one hospital batch each; empty: an empty Mblock), one target interval
    /// apart. The aggregate signature is a placeholder: a light node never sees it.
    fn mine_chain(light: &LightMed, bodies: &[Vec<TxMr>]) -> Vec<Mblock> {
        let mut headers = light.headers.clone();
        let mut blocks = Vec::new();
        for txs in bodies {
            let timestamp_ms = headers.last().unwrap().timestamp_ms + 1_000;
            let block = mine_on(&headers, txs, timestamp_ms);
            headers.push(block.header.clone());
            blocks.push(block);
        }
        blocks
    }

    /// One Mblock holding `txs`, stamped `timestamp_ms`, on top of `headers`.
    fn mine_on(headers: &[MblockHeader], txs: &[TxMr], timestamp_ms: u64) -> Mblock {
        let chain_id = genesis().chain_id;
        let params = genesis().med.unwrap();
        let body = MblockBody {
            batches: if txs.is_empty() {
                Vec::new()
            } else {
                vec![HospitalBatch {
                    hospital: address(4),
                    txs: txs.to_vec(),
                    entries: Vec::new(),
                }]
            },
            signature: (!txs.is_empty()).then_some(BlsSignature([7; BlsSignature::LEN])),
        };
        let parent = headers.last().unwrap();
        let start = headers.len().saturating_sub(4);
        let window: Vec<_> = headers[start..]
            .iter()
            .map(|header| (header.timestamp_ms, header.difficulty))
            .collect();
        let mut header = MblockHeader {
            height: parent.height + 1,
            parent: parent.hash(),
            tx_root: body.item_root(&chain_id),
            body_hash: body.hash(),
            timestamp_ms,
            difficulty: next_difficulty(&params, &window),
            miner: address(5),
            nonce: 0,
        };
        assert!(mine(&mut header, u64::MAX));
        Mblock { header, body }
    }

    fn headers(blocks: &[Mblock]) -> Vec<MblockHeader> {
        blocks.iter().map(|block| block.header.clone()).collect()
    }

    #[test]
    fn synced_headers_prove_a_record_in_them() {
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(
            &light,
            &[vec![], vec![release(1), release(2), release(3)], vec![]],
        );
        assert_eq!(light.extend(&headers(&blocks), NOW_MS).unwrap(), 3);
        assert_eq!(light.best().height, 3);

        let chain_id = genesis().chain_id;
        let inclusion = prove(&chain_id, &blocks[1], 2).unwrap();
        let record = release(3).record_id(&chain_id);
        let (mblock, proven) = light.check_inclusion(&record, &inclusion).unwrap();
        assert_eq!(mblock, blocks[1].header.hash());
        assert_eq!(proven.mblock_height, 2);
        assert_eq!(proven.tx, release(3));
        assert_eq!(proven.finality, MedFinality::Pending);
    }

    #[test]
    fn a_tampered_header_is_refused() {
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(&light, &[vec![release(1)], vec![]]);

        // Another body under the same proof of work: the hash changes, the work does not hold.
        let mut forged = blocks[0].header.clone();
        forged.tx_root = item_root(&genesis().chain_id, [&release(9)], []);
        assert!(matches!(
            light.extend(&[forged], NOW_MS),
            Err(LightMedError::BadHeader { height: 1, .. })
        ));

        // A lower difficulty than the retarget rule requires.
        let mut easier = blocks[0].header.clone();
        easier.difficulty = 16;
        assert!(mine(&mut easier, u64::MAX));
        assert!(matches!(
            light.extend(&[easier], NOW_MS),
            Err(LightMedError::BadHeader { height: 1, .. })
        ));

        // A valid header that does not follow the newest held: unlinked.
        assert!(matches!(
            light.extend(&headers(&blocks[1..]), NOW_MS),
            Err(LightMedError::BadHeader { height: 2, .. })
        ));
        assert_eq!(light.best().height, 0);
        light.extend(&headers(&blocks), NOW_MS).unwrap();
        assert_eq!(light.best().height, 2);
    }

    #[test]
    fn a_tampered_inclusion_proof_is_refused() {
        let chain_id = genesis().chain_id;
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(&light, &[vec![release(1), release(2), release(3)]]);
        light.extend(&headers(&blocks), NOW_MS).unwrap();
        let honest = prove(&chain_id, &blocks[0], 1).unwrap();
        let record = release(2).record_id(&chain_id);
        light.check_inclusion(&record, &honest).unwrap();

        let mut flipped = honest.clone();
        let last = flipped.proof.len() - 1;
        flipped.proof[last] ^= 1;
        assert!(matches!(
            light.check_inclusion(&record, &flipped),
            Err(LightMedError::BadInclusion { .. })
        ));

        let mut moved = honest.clone();
        moved.index = 2;
        assert!(matches!(
            light.check_inclusion(&record, &moved),
            Err(LightMedError::BadInclusion { .. })
        ));

        // A release that is not in the block, under the honest proof.
        let mut swapped = honest.clone();
        swapped.tx = release(9);
        assert!(matches!(
            light.check_inclusion(&release(9).record_id(&chain_id), &swapped),
            Err(LightMedError::BadInclusion { .. })
        ));

        // Asking about one record and being answered with another's proof.
        assert!(matches!(
            light.check_inclusion(&release(1).record_id(&chain_id), &honest),
            Err(LightMedError::WrongRecord { .. })
        ));

        assert!(matches!(
            light.check_inclusion(
                &record,
                &RecordInclusion {
                    proof: vec![1, 2, 3],
                    ..honest.clone()
                }
            ),
            Err(LightMedError::BadInclusion { .. })
        ));
    }

    #[test]
    fn an_inclusion_under_a_header_not_synced_is_refused() {
        let chain_id = genesis().chain_id;
        let mut light = LightMed::new(&genesis()).unwrap();
        let ours = mine_chain(&light, &[vec![release(1)]]);
        light.extend(&headers(&ours), NOW_MS).unwrap();
        // A valid Mblock of another branch at the same height, holding another release.
        let theirs = mine_chain(&LightMed::new(&genesis()).unwrap(), &[vec![release(2)]]);
        let inclusion = prove(&chain_id, &theirs[0], 0).unwrap();
        assert!(matches!(
            light.check_inclusion(&release(2).record_id(&chain_id), &inclusion),
            Err(LightMedError::HeaderNotSynced { height: 1 })
        ));
        // Nor above the newest header held.
        let later = mine_chain(&light, &[vec![], vec![release(3)]]);
        let inclusion = prove(&chain_id, &later[1], 0).unwrap();
        assert!(matches!(
            light.check_inclusion(&release(3).record_id(&chain_id), &inclusion),
            Err(LightMedError::HeaderNotSynced { height: 3 })
        ));
    }

    #[test]
    fn headers_survive_a_restart_and_a_tampered_file_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("med-headers.bin");
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(&light, &[vec![release(1)], vec![], vec![release(2)]]);
        light.extend(&headers(&blocks), NOW_MS).unwrap();
        light.save(&path).unwrap();
        let loaded = LightMed::load(&genesis(), &path).unwrap();
        assert_eq!(loaded.headers, light.headers);

        // One header's nonce changed on disk: its proof of work no longer holds.
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            LightMed::load(&genesis(), &path),
            Err(LightMedError::BadFile { .. })
        ));

        let other = Genesis {
            chain_id: "another-chain".parse().unwrap(),
            ..genesis()
        };
        light.save(&path).unwrap();
        assert!(matches!(
            LightMed::load(&other, &path),
            Err(LightMedError::BadFile { .. })
        ));
        let no_med = Genesis {
            med: None,
            ..genesis()
        };
        assert!(matches!(
            LightMed::new(&no_med),
            Err(LightMedError::NoMedChain)
        ));
    }

    #[test]
    fn a_reorganisation_never_drops_the_checkpointed_header() {
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(&light, &[vec![], vec![], vec![]]);
        light.extend(&headers(&blocks), NOW_MS).unwrap();
        light.checkpoint = Some(SyncedCheckpoint {
            hash: blocks[1].header.hash(),
            height: 2,
            sup_height: 10,
        });
        assert_eq!(light.truncate_above(0), 1);
        assert_eq!(light.best().height, 2);
    }

    /// A node's best chain as a header source (what `GET /v1/med/headers` answers).
    struct Served(Vec<MblockHeader>);

    impl HeaderSource for Served {
        fn headers(&self, from: u64, limit: usize) -> Result<Vec<MblockHeader>, ClientError> {
            let from = usize::try_from(from).unwrap();
            Ok(self.0.iter().skip(from).take(limit).cloned().collect())
        }
    }

    /// The genesis header and `blocks`' headers, as a node serves them from height 0.
    fn served(light: &LightMed, blocks: &[Mblock]) -> Served {
        let mut all = light.headers.clone();
        all.extend(headers(blocks));
        Served(all)
    }

    #[test]
    fn a_header_stamped_beyond_the_future_drift_is_refused() {
        let params = genesis().med.unwrap();
        let drift = future_drift_ms(&params);
        let mut light = LightMed::new(&genesis()).unwrap();
        let now_ms = GENESIS_TIME_MS + 5_000;
        let too_new = mine_on(&light.headers, &[], now_ms + drift + 1);
        assert!(matches!(
            light.extend(std::slice::from_ref(&too_new.header), now_ms),
            Err(LightMedError::BadHeader {
                height: 1,
                source: MedError::TimestampInFuture { .. }
            })
        ));
        assert_eq!(light.best().height, 0);
        // The same header once the clock caught up, and one at the edge of the drift.
        light
            .extend(std::slice::from_ref(&too_new.header), now_ms + 1)
            .unwrap();
        let at_edge = mine_on(&light.headers, &[], now_ms + 2 + drift);
        light
            .extend(std::slice::from_ref(&at_edge.header), now_ms + 2)
            .unwrap();
        assert_eq!(light.best().height, 2);
    }

    #[test]
    fn one_sync_follows_a_bounded_number_of_headers() {
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(&light, &vec![vec![]; 12]);
        let node = served(&light, &blocks);

        let mut budget = 5;
        let followed = light
            .follow_headers(&node, || NOW_MS, &mut budget, None)
            .unwrap();
        assert_eq!(
            followed,
            Followed {
                added: 5,
                dropped: 0,
                capped: true,
                ahead: false,
            }
        );
        assert_eq!((budget, light.best().height), (0, 5));

        // The next sync goes on from the headers held, to the node's newest.
        let mut budget = 100;
        let followed = light
            .follow_headers(&node, || NOW_MS, &mut budget, None)
            .unwrap();
        assert_eq!((followed.added, followed.capped), (7, false));
        assert_eq!(light.best().height, 12);
    }

    /// Review V5: the clock is read for each page, so headers mined while a long sync runs
    /// (stamped by the miners' clocks, later than its start) are taken; and a header beyond
    /// the drift after this machine's clock ends the sync as "not yet", keeping the ones
    /// before, instead of failing it.
    #[test]
    fn a_sync_reads_the_clock_per_page_and_stops_at_a_header_ahead_of_it() {
        let mut light = LightMed::new(&genesis()).unwrap();
        let mut blocks = mine_chain(&light, &vec![vec![]; HEADERS_PAGE]);
        let first_page_end_ms = blocks.last().unwrap().header.timestamp_ms;
        let mut held = light.headers.clone();
        held.extend(headers(&blocks));
        // Mined an hour into the sync: beyond the drift after the clock at its start.
        let late_ms = first_page_end_ms + 3_600_000;
        blocks.push(mine_on(&held, &[], late_ms));
        let node = served(&light, &blocks);

        // A clock that stands still at the sync's start: the late header is not taken yet.
        let mut stopped = light.clone();
        let mut budget = MAX_SYNC_HEADERS;
        let followed = stopped
            .follow_headers(&node, || first_page_end_ms, &mut budget, None)
            .unwrap();
        assert_eq!(
            followed,
            Followed {
                added: HEADERS_PAGE,
                dropped: 0,
                capped: true,
                ahead: true,
            }
        );
        assert_eq!(stopped.best().height, HEADERS_PAGE as u64);

        // A clock that moves on an hour a page: read per page, every header is taken.
        let clock = std::cell::Cell::new(first_page_end_ms);
        let now = || clock.replace(clock.get() + 3_600_000);
        let mut budget = MAX_SYNC_HEADERS;
        let followed = light.follow_headers(&node, now, &mut budget, None).unwrap();
        assert_eq!(
            (followed.added, followed.capped, followed.ahead),
            (HEADERS_PAGE + 1, false, false)
        );
    }

    /// Review V5: a clock set back after a sync does not make the saved headers unloadable:
    /// the drift is checked when headers are taken, not when the file is loaded.
    #[test]
    fn saved_headers_load_whatever_the_clock_says_now() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("med-headers.bin");
        let mut light = LightMed::new(&genesis()).unwrap();
        // Stamped a century ahead of this machine's clock, taken with a clock that agreed.
        let far_ms = now_ms() + 100 * 365 * 86_400_000;
        let block = mine_on(&light.headers, &[], far_ms);
        light
            .extend(std::slice::from_ref(&block.header), far_ms)
            .unwrap();
        light.save(&path).unwrap();
        let loaded = LightMed::load(&genesis(), &path).unwrap();
        assert_eq!(loaded.best(), &block.header);
    }

    /// Review V10: a node serving a branch without SUP's checkpointed Mblock is caught as
    /// soon as the headers followed pass its height, and that branch is not kept from there.
    #[test]
    fn a_branch_without_sups_checkpoint_is_refused_once_followed_past_it() {
        let mut light = LightMed::new(&genesis()).unwrap();
        let honest = mine_chain(&light, &vec![vec![]; 3]);
        let fake = mine_chain(&light, &vec![vec![release(9)]; 5]);
        assert_ne!(honest[1].header.hash(), fake[1].header.hash());
        let checkpoint = Some((honest[1].header.hash(), 2));
        let mut budget = MAX_SYNC_HEADERS;
        let refused =
            light.follow_headers(&served(&light, &fake), || NOW_MS, &mut budget, checkpoint);
        assert!(matches!(
            refused,
            Err(LightMedError::CheckpointNotServed { height: 2, .. })
        ));
        assert_eq!(
            light.best(),
            &fake[0].header,
            "only below SUP's height kept"
        );

        // The honest branch, holding it, is followed.
        let mut light = LightMed::new(&genesis()).unwrap();
        let followed = light
            .follow_headers(&served(&light, &honest), || NOW_MS, &mut budget, checkpoint)
            .unwrap();
        assert_eq!(followed.added, 3);
    }

    /// Review V11: records of one Mblock checked in a row download it once; another Mblock
    /// replaces it, and a failed fetch keeps nothing.
    #[test]
    fn the_last_mblock_fetched_is_reused() {
        let light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(&light, &[vec![release(1)], vec![release(2)]]);
        let [first, second] = [0, 1].map(|i| blocks[i].header.hash());
        let fetches = std::cell::Cell::new(0);
        let fetch = |block: &Mblock| {
            fetches.set(fetches.get() + 1);
            Ok::<_, ()>(block.clone())
        };
        let mut fetched = FetchedMblock::default();
        for hash in [first, first, second, second, first] {
            let block = if hash == first {
                &blocks[0]
            } else {
                &blocks[1]
            };
            let got = fetched.get(&hash, || fetch(block)).unwrap();
            assert_eq!(got.header.hash(), hash);
        }
        assert_eq!(fetches.get(), 3);
        let mut failed = FetchedMblock::default();
        assert_eq!(failed.get(&first, || Err(())).map(|_| ()), Err(()));
        assert!(failed.0.is_none());
    }

    #[test]
    fn a_light_node_never_holds_more_headers_than_a_file_loads() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("med-headers.bin");
        let mut light = LightMed::new(&genesis()).unwrap();
        light.max_headers = 4;
        let blocks = mine_chain(&light, &vec![vec![]; 6]);
        assert!(matches!(
            light.extend(&headers(&blocks), NOW_MS),
            Err(LightMedError::TooManyHeaders { limit: 4 })
        ));
        assert_eq!(light.headers.len(), 4);
        // A sync stops there too, with the headers before kept and saved.
        let mut budget = MAX_SYNC_HEADERS;
        assert!(matches!(
            light.follow_headers(&served(&light, &blocks), || NOW_MS, &mut budget, None),
            Err(LightMedError::TooManyHeaders { limit: 4 })
        ));
        light.save(&path).unwrap();
        assert_eq!(
            LightMed::load(&genesis(), &path).unwrap().headers,
            light.headers
        );
    }

    #[test]
    fn the_synced_checkpoint_is_saved_with_the_headers() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("med-headers.bin");
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(&light, &[vec![], vec![], vec![]]);
        light.extend(&headers(&blocks), NOW_MS).unwrap();
        let checkpoint = SyncedCheckpoint {
            hash: blocks[1].header.hash(),
            height: 2,
            sup_height: 10,
        };
        light.checkpoint = Some(checkpoint);
        light.save(&path).unwrap();

        let mut loaded = LightMed::load(&genesis(), &path).unwrap();
        assert_eq!(loaded.checkpoint(), Some(checkpoint));
        // So a reorganisation right after a load still stops at it.
        assert_eq!(loaded.truncate_above(0), 1);
        assert_eq!(loaded.best().height, 2);

        // A checkpoint naming a header the file does not hold is refused.
        light.checkpoint = Some(SyncedCheckpoint {
            hash: blocks[0].header.hash(),
            ..checkpoint
        });
        light.save(&path).unwrap();
        assert!(matches!(
            LightMed::load(&genesis(), &path),
            Err(LightMedError::BadFile { .. })
        ));

        // A file of the first version (headers only) still loads, without a checkpoint.
        let mut first = HEADERS_FILE_MAGIC_V1.to_vec();
        first.extend_from_slice(&genesis().chain_id.encode());
        first.extend_from_slice(&light.headers.encode());
        fs::write(&path, first).unwrap();
        let loaded = LightMed::load(&genesis(), &path).unwrap();
        assert_eq!((loaded.best().height, loaded.checkpoint()), (3, None));
    }

    #[test]
    fn a_record_is_proven_in_the_mblock_sup_names_not_where_the_node_points() {
        let chain_id = genesis().chain_id;
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(
            &light,
            &[
                vec![release(1)],
                vec![release(2), release(3)],
                vec![release(3)],
            ],
        );
        light.extend(&headers(&blocks), NOW_MS).unwrap();
        let record = release(3).record_id(&chain_id);
        let named = blocks[1].header.hash();

        let proven = light.check_mblock(&record, &named, 1, &blocks[1]).unwrap();
        assert_eq!(
            (proven.mblock, proven.mblock_height, proven.index),
            (named, 2, 1)
        );
        assert_eq!(proven.tx, release(3));

        // Another Mblock holding the same release is not the one SUP names.
        assert!(matches!(
            light.check_mblock(&record, &named, 0, &blocks[2]),
            Err(LightMedError::WrongMblock { asked, .. }) if asked == named
        ));
        // No release at that index, or another release there.
        assert!(matches!(
            light.check_mblock(&record, &named, 2, &blocks[1]),
            Err(LightMedError::NotInMblock { index: 2, .. })
        ));
        assert!(matches!(
            light.check_mblock(&record, &named, 0, &blocks[1]),
            Err(LightMedError::WrongRecord { .. })
        ));
        // A body that is not the one under the header.
        let mut swapped = blocks[1].clone();
        swapped.body.batches[0].txs.reverse();
        assert!(matches!(
            light.check_mblock(&record, &named, 1, &swapped),
            Err(LightMedError::NotInMblock { .. })
        ));
        // An Mblock of a branch the light node did not sync.
        let theirs = mine_chain(&LightMed::new(&genesis()).unwrap(), &[vec![release(3)]]);
        let side = theirs[0].header.hash();
        assert!(matches!(
            light.check_mblock(&record, &side, 0, &theirs[0]),
            Err(LightMedError::HeaderNotSynced { height: 1 })
        ));
    }

    fn not_served() -> LightMedError {
        LightMedError::CheckpointNotServed {
            hash: Hash32::from([9; 32]),
            height: 7,
        }
    }

    /// A node that adopts the checkpoint on the third try is answered; one that never does is
    /// refused after the last wait; any other error is not retried.
    #[test]
    fn settling_retries_only_an_unserved_checkpoint() {
        let waits = [Duration::ZERO; 3];
        let mut tries = 0;
        let settled = settle(&waits, || {
            tries += 1;
            if tries < 3 {
                Err(not_served())
            } else {
                Ok(tries)
            }
        });
        assert_eq!(settled.unwrap(), 3);

        let mut tries = 0;
        let refused: Result<(), _> = settle(&waits, || {
            tries += 1;
            Err(not_served())
        });
        assert!(matches!(
            refused,
            Err(LightMedError::CheckpointNotServed { height: 7, .. })
        ));
        assert_eq!(tries, waits.len() + 1);

        let mut tries = 0;
        let diverged: Result<(), _> = settle(&waits, || {
            tries += 1;
            Err(LightMedError::Diverged { checkpointed: 3 })
        });
        assert!(matches!(diverged, Err(LightMedError::Diverged { .. })));
        assert_eq!(tries, 1);
    }
}
