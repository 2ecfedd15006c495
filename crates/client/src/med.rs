//! The MED chain from a client's side (S3-dual, S3-supervise).
//!
//! - [`MedApi`]: the node's `/v1/med/*` routes — submit a hospital batch, MED status, headers
//!   along the best chain, an Mblock, a record's inclusion proof. Nothing it answers is trusted.
//! - [`LightMed`]: a patient's light MED node (S3 "PN"). It follows Mblock headers from the
//!   genesis Mblock, checking each one's proof of work, difficulty, timestamp and link to the
//!   previous one (`medchain_med::pow::check_header`), keeps only headers (in a file, between
//!   runs), follows SUP's checkpoints through verified state reads (`med/tip`,
//!   `med/header/<hash>`), and verifies a record: its htxM is a leaf of the `tx_root` of a
//!   header it synced itself, and that header is checkpointed by SUP — or the record is
//!   reported pending on MED.
//!
//! A node can withhold headers or serve an older branch; it cannot make a light MED node accept
//! a header without its proof of work, a release under a header it did not sync, or call final
//! an Mblock SUP's validators did not checkpoint (docs/architecture.md § MED chain).

use crate::{Client, ClientError, NodeClient, StateQuery};
use commonware_codec::{Copying, Encode, RangeCfg, Read, ReadExt};
use medchain_api::{BatchAccepted, MedEntryView, MedRecordView, MedStatus};
use medchain_med::{
    MedError,
    inclusion::{InclusionError, RecordInclusion, verify_inclusion},
    pow::{check_header, genesis_mblock},
};
use medchain_types::{
    ChainId, EntryId, Genesis, Hash32, RecordId,
    med::{Mblock, MblockHeader, MedParams, SignedBatch, TxMr},
};
use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// Most headers one `GET /v1/med/headers` page may carry (the node's own bound).
pub const HEADERS_PAGE: usize = 2_000;

/// Most headers a headers file may hold (years of 3 s blocks; bounds what a corrupt or planted
/// file can make the decoder allocate).
const MAX_FILE_HEADERS: usize = 64 * 1024 * 1024;

/// Version tag at the start of a headers file.
const HEADERS_FILE_MAGIC: &[u8; 8] = b"MEDHDRS1";

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
    /// The node has no inclusion proof for the record: it is not on its best MED chain.
    #[error("record {record} is not on the node's MED chain")]
    NotOnMed {
        /// The record.
        record: RecordId,
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
    /// SUP's newest checkpoint, if SUP has checkpointed anything.
    pub checkpoint: Option<SyncedCheckpoint>,
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
        })
    }

    /// The light node saved at `path` (every header checked again: the file is not trusted),
    /// or a new one if there is no file.
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
        let (chain, headers) = decode_headers_file(&bytes).map_err(bad)?;
        if chain != genesis.chain_id {
            return Err(bad(format!("it holds chain {chain}")));
        }
        if headers.first() != light.headers.first() {
            return Err(bad("it starts at another genesis Mblock".into()));
        }
        light
            .extend(&headers[1..])
            .map_err(|error| bad(error.to_string()))?;
        Ok(light)
    }

    /// Writes the headers to `path` (through a temporary file, so a crash leaves the old one).
    pub fn save(&self, path: &Path) -> Result<(), LightMedError> {
        let mut bytes = HEADERS_FILE_MAGIC.to_vec();
        bytes.extend_from_slice(&self.chain_id.encode());
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
    /// the newest held). Returns how many were appended; on an invalid header, the ones before
    /// it stay appended.
    pub fn extend(&mut self, headers: &[MblockHeader]) -> Result<usize, LightMedError> {
        for header in headers {
            let parent = self.best();
            let window = self.window();
            check_header(&self.params, parent, &window, header).map_err(|source| {
                LightMedError::BadHeader {
                    height: header.height,
                    source,
                }
            })?;
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

    /// Follows the node's best MED chain and SUP's newest checkpoint (a verified state read).
    pub fn sync(&mut self, client: &Client, med: &MedApi) -> Result<SyncReport, LightMedError> {
        let (mut added, mut dropped) = self.follow_headers(med)?;
        let tip = client.read(&StateQuery::med_tip())?.value;
        let checkpoint = match tip {
            None => None,
            Some(tip) => {
                if self
                    .header(tip.height)
                    .is_none_or(|held| held.hash() != tip.hash)
                {
                    // Checkpointed after the headers were fetched, or the node had moved
                    // branch: follow once more before judging.
                    let (more, less) = self.follow_headers(med)?;
                    added += more;
                    dropped += less;
                }
                if self
                    .header(tip.height)
                    .is_none_or(|held| held.hash() != tip.hash)
                {
                    return Err(LightMedError::CheckpointNotServed {
                        hash: tip.hash,
                        height: tip.height,
                    });
                }
                Some(SyncedCheckpoint {
                    hash: tip.hash,
                    height: tip.height,
                    sup_height: tip.checkpointed_at,
                })
            }
        };
        self.checkpoint = checkpoint;
        Ok(SyncReport {
            added,
            dropped,
            best: self.best().height,
            checkpoint,
        })
    }

    /// Fetches and checks headers until the node has no newer one. Where the node's chain no
    /// longer extends the headers held (it moved to another branch), steps back — twice as far
    /// each time, never below the checkpoint — and follows the node's branch from there.
    /// Returns (added, dropped).
    fn follow_headers(&mut self, med: &MedApi) -> Result<(usize, usize), LightMedError> {
        let (mut added, mut dropped) = (0, 0);
        let mut step_back = 1u64;
        loop {
            let from = self.best().height + 1;
            let page = med.headers(from, HEADERS_PAGE)?;
            let Some(first) = page.first() else {
                return Ok((added, dropped));
            };
            if first.parent != self.best().hash() || first.height != from {
                let floor = self.floor();
                if self.best().height <= floor {
                    return Err(LightMedError::Diverged {
                        checkpointed: floor,
                    });
                }
                dropped += self.truncate_above(self.best().height.saturating_sub(step_back));
                step_back = step_back.saturating_mul(2);
                continue;
            }
            added += self.extend(&page)?;
        }
    }

    /// Verifies `record` on MED: the node's inclusion proof is under a header this node synced
    /// at that height, and proves the record's htxM against the header's `tx_root`; final when
    /// the Mblock is at or below SUP's newest checkpoint (with the SUP height that
    /// checkpointed it, a verified read), pending otherwise.
    pub fn verify_record(
        &self,
        client: &Client,
        med: &MedApi,
        record: &RecordId,
    ) -> Result<MedRecord, LightMedError> {
        let view = med
            .record(record)?
            .ok_or(LightMedError::NotOnMed { record: *record })?;
        let inclusion = inclusion_of(record, view)?;
        let (mblock, proven) = self.check_inclusion(record, &inclusion)?;
        let finality = match self.checkpoint {
            Some(checkpoint) if proven.mblock_height <= checkpoint.height => {
                let checkpointed = client.read(&StateQuery::med_header(&mblock))?.value;
                let checkpointed = checkpointed.ok_or(LightMedError::CheckpointGap {
                    hash: mblock,
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

/// The inclusion a node's record view carries (its proof hex-decoded).
pub fn inclusion_of(
    record: &RecordId,
    view: MedRecordView,
) -> Result<RecordInclusion, LightMedError> {
    let proof = view
        .proof_bytes()
        .map_err(|_| LightMedError::BadInclusion {
            record: *record,
            source: InclusionError::Malformed(commonware_codec::Error::Invalid(
                "inclusion proof",
                "not hex",
            )),
        })?;
    Ok(RecordInclusion {
        header: view.header,
        index: view.index,
        tx: view.tx,
        proof,
    })
}

/// The chain id and headers of a headers file.
fn decode_headers_file(bytes: &[u8]) -> Result<(ChainId, Vec<MblockHeader>), String> {
    let mut rest = Copying(
        bytes
            .strip_prefix(HEADERS_FILE_MAGIC.as_slice())
            .ok_or("it does not start with the headers file tag")?,
    );
    let chain = ChainId::read(&mut rest).map_err(|e| e.to_string())?;
    let headers =
        Vec::<MblockHeader>::read_cfg(&mut rest, &(RangeCfg::from(1..=MAX_FILE_HEADERS), ()))
            .map_err(|e| e.to_string())?;
    if !rest.0.is_empty() {
        return Err("trailing bytes after the headers".into());
    }
    Ok((chain, headers))
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
    /// (releases of one hospital batch each; empty: an empty Mblock). The aggregate signature
    /// is a placeholder: a light node never sees it.
    fn mine_chain(light: &LightMed, bodies: &[Vec<TxMr>]) -> Vec<Mblock> {
        let chain_id = genesis().chain_id;
        let params = genesis().med.unwrap();
        let mut headers = light.headers.clone();
        let mut blocks = Vec::new();
        for txs in bodies {
            let body = MblockBody {
                batches: if txs.is_empty() {
                    Vec::new()
                } else {
                    vec![HospitalBatch {
                        hospital: address(4),
                        txs: txs.clone(),
                        entries: Vec::new(),
                    }]
                },
                signature: (!txs.is_empty()).then_some(BlsSignature([7; BlsSignature::LEN])),
            };
            let parent = headers.last().unwrap().clone();
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
                timestamp_ms: parent.timestamp_ms + 1_000,
                difficulty: next_difficulty(&params, &window),
                miner: address(5),
                nonce: 0,
            };
            assert!(mine(&mut header, u64::MAX));
            headers.push(header.clone());
            blocks.push(Mblock { header, body });
        }
        blocks
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
        assert_eq!(light.extend(&headers(&blocks)).unwrap(), 3);
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
            light.extend(&[forged]),
            Err(LightMedError::BadHeader { height: 1, .. })
        ));

        // A lower difficulty than the retarget rule requires.
        let mut easier = blocks[0].header.clone();
        easier.difficulty = 16;
        assert!(mine(&mut easier, u64::MAX));
        assert!(matches!(
            light.extend(&[easier]),
            Err(LightMedError::BadHeader { height: 1, .. })
        ));

        // A valid header that does not follow the newest held: unlinked.
        assert!(matches!(
            light.extend(&headers(&blocks[1..])),
            Err(LightMedError::BadHeader { height: 2, .. })
        ));
        assert_eq!(light.best().height, 0);
        light.extend(&headers(&blocks)).unwrap();
        assert_eq!(light.best().height, 2);
    }

    #[test]
    fn a_tampered_inclusion_proof_is_refused() {
        let chain_id = genesis().chain_id;
        let mut light = LightMed::new(&genesis()).unwrap();
        let blocks = mine_chain(&light, &[vec![release(1), release(2), release(3)]]);
        light.extend(&headers(&blocks)).unwrap();
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
        light.extend(&headers(&ours)).unwrap();
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
        light.extend(&headers(&blocks)).unwrap();
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
        light.extend(&headers(&blocks)).unwrap();
        light.checkpoint = Some(SyncedCheckpoint {
            hash: blocks[1].header.hash(),
            height: 2,
            sup_height: 10,
        });
        assert_eq!(light.truncate_above(0), 1);
        assert_eq!(light.best().height, 2);
    }
}
