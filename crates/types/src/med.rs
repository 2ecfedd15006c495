//! The MED chain's data (S3-dual): record releases tx_mr, patients' encrypted EMR entries EEE
//! (S3-entry), hospital batches, Mblocks, and the checkpoints the consortium (SUP) chain
//! records of them (S3-supervise).
//!
//! Only data, encodings and hashes live here — the proof-of-work, fork-choice, aggregation
//! and checkpoint rules are the `medchain-med` crate's. Decoding checks the structural limits
//! (counting releases and entries as it reads, so it never allocates past them) and what needs
//! no chain id: an [`Mblock`]'s body matches its header's `body_hash`, and a [`Checkpoint`]'s
//! Mblocks each name the previous one as parent. It does NOT check `tx_root` (it depends on
//! the chain id): [`Mblock::body_matches`] and [`CheckpointedMblock::txs_match`] do, and every
//! consumer must call them — a decoded [`CheckpointedMblock`] may carry other releases or
//! entries than its header commits to.

use crate::{
    Address, BlsSignature, ChainId, ContentHash, EntryBytes, EntryId, Hash32, RecordId, serde_hex,
};
use bytes::BufMut;
use commonware_codec::{
    Buf, Encode, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, ReadRangeExt,
    Write,
};
use commonware_cryptography::{Digest as _, Hasher, Sha256};
use commonware_storage::bmt;
use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

/// Domain of an htxM: the hash a doctor signs for a release.
const HTXM_DOMAIN: &[u8] = b"_MEDCHAIN_MED_TXMR_V1";
/// Domain of an hentry: the hash a patient signs for its MED entry (S3-entry).
const HENTRY_DOMAIN: &[u8] = b"medchain/med/entry/v1";
/// Domain of TX_mr: the Merkle root a hospital signs for its batch.
const BATCH_DOMAIN: &[u8] = b"_MEDCHAIN_MED_BATCH_V1";
/// Domain of a checkpoint's commitment in a SUP header.
const CHECKPOINT_DOMAIN: &[u8] = b"_MEDCHAIN_MED_CHECKPOINT_V1";

/// Most tx_mr in one hospital batch.
pub const MAX_BATCH_TXS: usize = 1_024;
/// Most patient entries EEE in one hospital batch.
pub const MAX_BATCH_ENTRIES: usize = 64;
/// Largest encrypted entry EEE on MED (S3-entry). Smaller than SUP's
/// [`crate::limits::MAX_ENTRY_BYTES`]: entries travel in batches and Mblocks, and SUP
/// checkpoints carry them whole, so each one is kept to what a biometric-locked summary needs.
pub const MAX_MED_ENTRY_BYTES: usize = 2_048;
// Every entry MED accepts is one SUP's `EntryBytes` holds once imported.
const _: () = assert!(MAX_MED_ENTRY_BYTES < crate::limits::MAX_ENTRY_BYTES);
/// Most hospital batches in one Mblock.
pub const MAX_MBLOCK_BATCHES: usize = 64;
/// Most tx_mr in one Mblock.
pub const MAX_MBLOCK_TXS: usize = 4_096;
/// Most patient entries in one Mblock: 256 full entries are half a megabyte.
pub const MAX_MBLOCK_ENTRIES: usize = 256;
/// Most Mblocks one SUP block checkpoints.
pub const MAX_CHECKPOINT_MBLOCKS: usize = 32;
/// Most tx_mr in one checkpoint, all its Mblocks together: what decoding a checkpoint may
/// allocate. Two full Mblocks' worth, above what a SUP block's checkpoint bytes can hold, so it
/// only bounds memory; the checkpoint rules stay within it too.
pub const MAX_CHECKPOINT_TXS: usize = 2 * MAX_MBLOCK_TXS;
/// Most entries in one checkpoint, all its Mblocks together: like [`MAX_CHECKPOINT_TXS`], two
/// full Mblocks' worth, which bounds what decoding a checkpoint may allocate.
pub const MAX_CHECKPOINT_ENTRIES: usize = 2 * MAX_MBLOCK_ENTRIES;
/// Most Mblocks the retarget window may span: every insert and every SUP import walks it.
pub const MAX_RETARGET_WINDOW: u64 = 2_016;
/// How far a release's `issued_at_ms` may be from the timestamp of the Mblock that carries it,
/// either way (one hour). It bounds the replay window: a release (or a whole signed batch)
/// copied from an old Mblock is stale once its Mblock is an hour older than the release, so
/// nodes need to index only the releases of the last hour's Mblocks to refuse replays; and
/// it still leaves a hospital ample time to batch and a miner to include.
pub const RELEASE_VALIDITY_MS: u64 = 60 * 60 * 1_000;

/// The MED chain's parameters, fixed in the genesis document (absent: no MED chain, and SUP
/// blocks checkpoint nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedParams {
    /// The block interval difficulty retargeting aims at, milliseconds.
    pub target_interval_ms: u64,
    /// Difficulty of the genesis Mblock's children: the expected number of hashes per block.
    pub initial_difficulty: u64,
    /// The floor retargeting never goes below.
    pub min_difficulty: u64,
    /// How many recent Mblocks retargeting measures the interval over.
    pub retarget_window: u64,
}

/// Why [`MedParams`] are unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MedParamsError {
    /// A target interval of 0 makes every measured interval "too slow": difficulty decays to
    /// the floor.
    #[error("med.target_interval_ms must be at least 1")]
    ZeroTargetInterval,
    /// Difficulty 0 is never met: no Mblock could ever be mined.
    #[error("med.min_difficulty must be at least 1")]
    ZeroMinDifficulty,
    /// The genesis difficulty must not be below the floor retargeting keeps.
    #[error("med.initial_difficulty ({initial}) must be at least med.min_difficulty ({min})")]
    InitialBelowMin {
        /// `initial_difficulty`.
        initial: u64,
        /// `min_difficulty`.
        min: u64,
    },
    /// Retargeting needs two timestamps to measure an interval, and every insert and SUP
    /// import walks the window.
    #[error("med.retarget_window ({0}) must be within 2..={MAX_RETARGET_WINDOW}")]
    RetargetWindow(u64),
}

impl MedParams {
    /// Checks the parameters are usable: a target interval of at least 1 ms,
    /// `1 <= min_difficulty <= initial_difficulty`, and a retarget window of
    /// `2..=`[`MAX_RETARGET_WINDOW`] Mblocks. Both the genesis document and the MED chain
    /// refuse anything else, so MED nodes and SUP's import never disagree on degenerate values.
    pub fn validate(&self) -> Result<(), MedParamsError> {
        if self.target_interval_ms == 0 {
            return Err(MedParamsError::ZeroTargetInterval);
        }
        if self.min_difficulty == 0 {
            return Err(MedParamsError::ZeroMinDifficulty);
        }
        if self.initial_difficulty < self.min_difficulty {
            return Err(MedParamsError::InitialBelowMin {
                initial: self.initial_difficulty,
                min: self.min_difficulty,
            });
        }
        if !(2..=MAX_RETARGET_WINDOW).contains(&self.retarget_window) {
            return Err(MedParamsError::RetargetWindow(self.retarget_window));
        }
        Ok(())
    }
}

impl Write for MedParams {
    fn write(&self, buf: &mut impl BufMut) {
        self.target_interval_ms.write(buf);
        self.initial_difficulty.write(buf);
        self.min_difficulty.write(buf);
        self.retarget_window.write(buf);
    }
}

impl FixedSize for MedParams {
    const SIZE: usize = 4 * u64::SIZE;
}

impl Read for MedParams {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            target_interval_ms: u64::read(buf)?,
            initial_difficulty: u64::read(buf)?,
            min_difficulty: u64::read(buf)?,
            retarget_window: u64::read(buf)?,
        })
    }
}

/// tx_mr (S3-release): a doctor's release of a record about a patient, as the MED chain keeps
/// it — without the doctor's signature, which the Mblock's one aggregate replaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TxMr {
    /// The releasing doctor's address (its identity, licence and BLS key are on SUP).
    pub doctor: Address,
    /// The patient's pseudonymous address.
    pub patient: Address,
    /// hEMR: hash of the record's plaintext.
    pub record_hash: ContentHash,
    /// The doctor's clock when it signed (ts1), unix milliseconds.
    pub issued_at_ms: u64,
}

impl TxMr {
    /// htxM: the hash the doctor signs and the Merkle leaf, bound to the chain.
    pub fn htxm(&self, chain_id: &ChainId) -> Hash32 {
        let mut buf = Vec::with_capacity(HTXM_DOMAIN.len() + chain_id.encode_size() + Self::SIZE);
        buf.extend_from_slice(HTXM_DOMAIN);
        chain_id.write(&mut buf);
        self.write(&mut buf);
        Sha256::hash(&[&buf])
    }

    /// Whether an Mblock stamped `timestamp_ms` may carry this release: within
    /// [`RELEASE_VALIDITY_MS`] of its `issued_at_ms`, either way (a MED rule, and a SUP one
    /// at import).
    pub fn valid_at(&self, timestamp_ms: u64) -> bool {
        self.issued_at_ms.abs_diff(timestamp_ms) <= RELEASE_VALIDITY_MS
    }

    /// The record's id: its htxM.
    pub fn record_id(&self, chain_id: &ChainId) -> RecordId {
        RecordId(self.htxm(chain_id))
    }
}

impl Write for TxMr {
    fn write(&self, buf: &mut impl BufMut) {
        self.doctor.write(buf);
        self.patient.write(buf);
        self.record_hash.write(buf);
        self.issued_at_ms.write(buf);
    }
}

impl FixedSize for TxMr {
    const SIZE: usize = 2 * Address::SIZE + ContentHash::SIZE + u64::SIZE;
}

impl Read for TxMr {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            doctor: Address::read(buf)?,
            patient: Address::read(buf)?,
            record_hash: ContentHash::read(buf)?,
            issued_at_ms: u64::read(buf)?,
        })
    }
}

/// Binary Merkle root (commonware's, which also commits to the leaf count) over hashes.
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    let mut builder = bmt::Builder::<Sha256>::new(leaves.len());
    for leaf in leaves {
        builder.add(leaf);
    }
    builder.build().root()
}

/// The leaves of an item tree: the htxM of `txs`, then the hentry of `entries`, in order.
pub fn item_leaves<'a, 'b>(
    chain_id: &ChainId,
    txs: impl IntoIterator<Item = &'a TxMr>,
    entries: impl IntoIterator<Item = &'b EntryMr>,
) -> Vec<Hash32> {
    txs.into_iter()
        .map(|tx| tx.htxm(chain_id))
        .chain(entries.into_iter().map(|entry| entry.hentry(chain_id)))
        .collect()
}

/// The Merkle root over the htxM of `txs` then the hentry of `entries` ([`item_leaves`]): a
/// batch's root under TX_mr and, over the whole body (every batch's releases, then every
/// batch's entries), an Mblock's `tx_root`. Releases keep their body index as leaf index.
pub fn item_root<'a, 'b>(
    chain_id: &ChainId,
    txs: impl IntoIterator<Item = &'a TxMr>,
    entries: impl IntoIterator<Item = &'b EntryMr>,
) -> Hash32 {
    merkle_root(&item_leaves(chain_id, txs, entries))
}

/// A patient's encrypted EMR entry EEE as the MED chain keeps it (S3-entry, S3-dual): filed
/// through its hospital's gateway in a batch, without the patient's signature, which the
/// Mblock's one aggregate replaces. SUP imports it as `entry/<EntryId>` once checkpointed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMr {
    /// The patient's pseudonymous address (its BLS key is on SUP).
    pub patient: Address,
    /// The encrypted entry, 1 to [`MAX_MED_ENTRY_BYTES`] bytes (hex in JSON).
    #[serde(deserialize_with = "med_entry_bytes")]
    pub entry: EntryBytes,
    /// The patient's clock when it signed, unix milliseconds.
    pub issued_at_ms: u64,
}

impl EntryMr {
    /// hentry: the hash the patient signs and the Merkle leaf, bound to the chain.
    pub fn hentry(&self, chain_id: &ChainId) -> Hash32 {
        let mut buf =
            Vec::with_capacity(HENTRY_DOMAIN.len() + chain_id.encode_size() + self.encode_size());
        buf.extend_from_slice(HENTRY_DOMAIN);
        chain_id.write(&mut buf);
        self.write(&mut buf);
        Sha256::hash(&[&buf])
    }

    /// The entry's id: its hentry.
    pub fn entry_id(&self, chain_id: &ChainId) -> EntryId {
        EntryId(self.hentry(chain_id))
    }
}

/// Refuses an entry longer than [`MAX_MED_ENTRY_BYTES`] in JSON as the codec does, so a
/// gateway never queues what no MED node would decode.
fn med_entry_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<EntryBytes, D::Error> {
    let entry = EntryBytes::deserialize(d)?;
    if entry.0.len() > MAX_MED_ENTRY_BYTES {
        return Err(D::Error::custom(format!(
            "an entry on MED is at most {MAX_MED_ENTRY_BYTES} bytes, got {}",
            entry.0.len()
        )));
    }
    Ok(entry)
}

impl Write for EntryMr {
    fn write(&self, buf: &mut impl BufMut) {
        self.patient.write(buf);
        self.entry.write(buf);
        self.issued_at_ms.write(buf);
    }
}

impl EncodeSize for EntryMr {
    fn encode_size(&self) -> usize {
        Address::SIZE + self.entry.encode_size() + u64::SIZE
    }
}

impl Read for EntryMr {
    type Cfg = ();
    /// Refuses an entry over [`MAX_MED_ENTRY_BYTES`] at its length prefix.
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            patient: Address::read(buf)?,
            entry: EntryBytes(Vec::<u8>::read_range(buf, 1..=MAX_MED_ENTRY_BYTES)?),
            issued_at_ms: u64::read(buf)?,
        })
    }
}

/// An entry as its patient hands it to its hospital's gateway: the patient's BLS signature
/// (its vouching key, registered on SUP) over the entry's hentry (S3-entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEntry {
    /// The entry.
    pub entry: EntryMr,
    /// The patient's signature.
    pub signature: BlsSignature,
}

impl Write for SignedEntry {
    fn write(&self, buf: &mut impl BufMut) {
        self.entry.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedEntry {
    fn encode_size(&self) -> usize {
        self.entry.encode_size() + BlsSignature::SIZE
    }
}

impl Read for SignedEntry {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            entry: EntryMr::read(buf)?,
            signature: BlsSignature::read(buf)?,
        })
    }
}

/// A hospital's batch of its doctors' releases (S3-release) and its patients' entries
/// (S3-entry): at least one item in all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HospitalBatch {
    /// The hospital identity's address (its BLS key is on SUP) that checked and signed it.
    pub hospital: Address,
    /// The releases, 0 to [`MAX_BATCH_TXS`].
    pub txs: Vec<TxMr>,
    /// The entries, 0 to [`MAX_BATCH_ENTRIES`].
    #[serde(default)]
    pub entries: Vec<EntryMr>,
}

impl HospitalBatch {
    /// TX_mr, what the hospital signs: the domain-separated Merkle root of its htxM then its
    /// hentry ([`item_root`]).
    pub fn root(&self, chain_id: &ChainId) -> Hash32 {
        let root = item_root(chain_id, &self.txs, &self.entries);
        let mut buf = Vec::with_capacity(BATCH_DOMAIN.len() + 2 * Hash32::SIZE + 64);
        buf.extend_from_slice(BATCH_DOMAIN);
        chain_id.write(&mut buf);
        self.hospital.write(&mut buf);
        root.write(&mut buf);
        Sha256::hash(&[&buf])
    }
}

impl Write for HospitalBatch {
    fn write(&self, buf: &mut impl BufMut) {
        self.hospital.write(buf);
        self.txs.write(buf);
        self.entries.write(buf);
    }
}

impl EncodeSize for HospitalBatch {
    fn encode_size(&self) -> usize {
        Address::SIZE + self.txs.encode_size() + self.entries.encode_size()
    }
}

impl HospitalBatch {
    /// Decodes a batch within `budget` (and the per-batch limits), refusing a longer one
    /// before reading its releases or entries, and an empty one.
    fn read_at_most(buf: &mut impl Buf, budget: Items) -> Result<Self, CodecError> {
        let batch = Self {
            hospital: Address::read(buf)?,
            txs: read_txs(buf, budget.txs.min(MAX_BATCH_TXS))?,
            entries: read_entries(buf, budget.entries.min(MAX_BATCH_ENTRIES))?,
        };
        if batch.txs.is_empty() && batch.entries.is_empty() {
            return Err(CodecError::Invalid(
                "hospital batch",
                "a batch holds at least one release or entry",
            ));
        }
        Ok(batch)
    }

    fn items(&self) -> Items {
        Items {
            txs: self.txs.len(),
            entries: self.entries.len(),
        }
    }
}

impl Read for HospitalBatch {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Self::read_at_most(
            buf,
            Items {
                txs: MAX_BATCH_TXS,
                entries: MAX_BATCH_ENTRIES,
            },
        )
    }
}

/// A count of releases and entries: what a list being decoded may still hold.
#[derive(Clone, Copy, Debug)]
struct Items {
    txs: usize,
    entries: usize,
}

/// Decodes a list of at most `max_items` items holding at most `budget` releases and entries
/// in all: each item is read by `read` with what is left of the budget, so a list over a limit
/// is refused at the length prefix that crosses it, before anything past it is read or
/// allocated (rather than decoded whole and counted afterwards).
fn read_within_budget<B: Buf, T>(
    buf: &mut B,
    max_items: usize,
    budget: Items,
    read: impl Fn(&mut B, Items) -> Result<T, CodecError>,
    items_of: impl Fn(&T) -> Items,
) -> Result<Vec<T>, CodecError> {
    let count = usize::read_cfg(buf, &RangeCfg::from(0..=max_items))?;
    let mut items = Vec::with_capacity(count);
    let mut left = budget;
    for _ in 0..count {
        let item = read(buf, left)?;
        let used = items_of(&item);
        left.txs -= used.txs;
        left.entries -= used.entries;
        items.push(item);
    }
    Ok(items)
}

/// Decodes a list of at most `max` releases; the length prefix is checked before any release
/// is read or allocated.
fn read_txs(buf: &mut impl Buf, max: usize) -> Result<Vec<TxMr>, CodecError> {
    Vec::<TxMr>::read_cfg(buf, &(RangeCfg::from(0..=max), ()))
}

/// Decodes a list of at most `max` entries, checking the length prefix first.
fn read_entries(buf: &mut impl Buf, max: usize) -> Result<Vec<EntryMr>, CodecError> {
    Vec::<EntryMr>::read_cfg(buf, &(RangeCfg::from(0..=max), ()))
}

/// A batch as its hospital hands it to miners: one BLS signature aggregating each doctor's
/// signature over its htxM, each patient's over its hentry and the hospital's over TX_mr.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBatch {
    /// The batch.
    pub batch: HospitalBatch,
    /// The batch's aggregate signature.
    pub signature: BlsSignature,
}

impl Write for SignedBatch {
    fn write(&self, buf: &mut impl BufMut) {
        self.batch.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedBatch {
    fn encode_size(&self) -> usize {
        self.batch.encode_size() + BlsSignature::SIZE
    }
}

impl Read for SignedBatch {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            batch: HospitalBatch::read(buf)?,
            signature: BlsSignature::read(buf)?,
        })
    }
}

/// An Mblock header. Its hash (SHA-256d of the encoding) is the proof of work.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MblockHeader {
    /// Height; the genesis Mblock is 0.
    pub height: u64,
    /// Hash of the parent Mblock.
    #[serde(with = "serde_hex")]
    pub parent: Hash32,
    /// Merkle root over every htxM of the body, batch after batch, then every hentry, batch
    /// after batch ([`item_root`]).
    #[serde(with = "serde_hex")]
    pub tx_root: Hash32,
    /// SHA-256 of the encoded body (batch structure and the aggregate signature).
    #[serde(with = "serde_hex")]
    pub body_hash: Hash32,
    /// The miner's clock, unix milliseconds.
    pub timestamp_ms: u64,
    /// The difficulty this block claims: the expected number of hashes to find it.
    pub difficulty: u64,
    /// The miner's address.
    pub miner: Address,
    /// The proof-of-work nonce.
    pub nonce: u64,
}

impl MblockHeader {
    /// The block hash: SHA-256d of the encoded header.
    pub fn hash(&self) -> Hash32 {
        let once = Sha256::hash(&[&self.encode()]);
        Sha256::hash(&[once.as_ref()])
    }
}

impl Write for MblockHeader {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.parent.write(buf);
        self.tx_root.write(buf);
        self.body_hash.write(buf);
        self.timestamp_ms.write(buf);
        self.difficulty.write(buf);
        self.miner.write(buf);
        self.nonce.write(buf);
    }
}

impl FixedSize for MblockHeader {
    const SIZE: usize = 4 * u64::SIZE + 3 * Hash32::SIZE + Address::SIZE;
}

impl Read for MblockHeader {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            height: u64::read(buf)?,
            parent: Hash32::read(buf)?,
            tx_root: Hash32::read(buf)?,
            body_hash: Hash32::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            difficulty: u64::read(buf)?,
            miner: Address::read(buf)?,
            nonce: u64::read(buf)?,
        })
    }
}

/// An Mblock's body: hospital batches and one aggregate signature over every doctor's,
/// patient's and hospital's message in it (absent exactly when there is no batch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MblockBody {
    /// The batches, at most [`MAX_MBLOCK_BATCHES`], [`MAX_MBLOCK_TXS`] releases and
    /// [`MAX_MBLOCK_ENTRIES`] entries in all.
    pub batches: Vec<HospitalBatch>,
    /// The block's one signature.
    pub signature: Option<BlsSignature>,
}

impl MblockBody {
    /// Every release in the body, batch after batch.
    pub fn txs(&self) -> impl Iterator<Item = &TxMr> {
        self.batches.iter().flat_map(|batch| batch.txs.iter())
    }

    /// Every entry in the body, batch after batch.
    pub fn entries(&self) -> impl Iterator<Item = &EntryMr> {
        self.batches.iter().flat_map(|batch| batch.entries.iter())
    }

    /// The leaves of the header's `tx_root`: every htxM, then every hentry ([`item_leaves`]).
    pub fn item_leaves(&self, chain_id: &ChainId) -> Vec<Hash32> {
        item_leaves(chain_id, self.txs(), self.entries())
    }

    /// The header's `tx_root` for this body on `chain_id`.
    pub fn item_root(&self, chain_id: &ChainId) -> Hash32 {
        merkle_root(&self.item_leaves(chain_id))
    }

    /// SHA-256 of the encoding.
    pub fn hash(&self) -> Hash32 {
        Sha256::hash(&[&self.encode()])
    }
}

impl Write for MblockBody {
    fn write(&self, buf: &mut impl BufMut) {
        self.batches.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for MblockBody {
    fn encode_size(&self) -> usize {
        self.batches.encode_size() + self.signature.encode_size()
    }
}

impl Read for MblockBody {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let batches = read_within_budget(
            buf,
            MAX_MBLOCK_BATCHES,
            Items {
                txs: MAX_MBLOCK_TXS,
                entries: MAX_MBLOCK_ENTRIES,
            },
            HospitalBatch::read_at_most,
            HospitalBatch::items,
        )?;
        let signature = Option::<BlsSignature>::read(buf)?;
        let body = Self { batches, signature };
        if body.batches.is_empty() != body.signature.is_none() {
            return Err(CodecError::Invalid(
                "mblock",
                "a signature must be present exactly when there are batches",
            ));
        }
        Ok(body)
    }
}

/// An Mblock: header and body, consistent with each other once decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mblock {
    /// The header.
    pub header: MblockHeader,
    /// The body.
    pub body: MblockBody,
}

impl Mblock {
    /// Checks the header commits to this body under `chain_id` (`tx_root`, `body_hash`).
    pub fn body_matches(&self, chain_id: &ChainId) -> bool {
        self.header.body_hash == self.body.hash()
            && self.header.tx_root == self.body.item_root(chain_id)
    }
}

impl Write for Mblock {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.body.write(buf);
    }
}

impl EncodeSize for Mblock {
    fn encode_size(&self) -> usize {
        MblockHeader::SIZE + self.body.encode_size()
    }
}

impl Read for Mblock {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let header = MblockHeader::read(buf)?;
        let body = MblockBody::read(buf)?;
        if header.body_hash != body.hash() {
            return Err(CodecError::Invalid(
                "mblock",
                "body does not match body_hash",
            ));
        }
        // `tx_root` depends on the chain id, so it is checked by `body_matches` where the chain
        // is known; `body_hash` already binds every byte of the body.
        Ok(Self { header, body })
    }
}

/// One Mblock as a SUP block checkpoints it: the header, its releases and its entries,
/// without the aggregate signature (SUP validators verified it on MED before voting).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointedMblock {
    /// The header.
    pub header: MblockHeader,
    /// Every release of the Mblock, in body order.
    pub txs: Vec<TxMr>,
    /// Every entry of the Mblock, in body order (S3-entry).
    #[serde(default)]
    pub entries: Vec<EntryMr>,
}

impl CheckpointedMblock {
    /// The checkpoint form of `block`.
    pub fn of(block: &Mblock) -> Self {
        Self {
            header: block.header.clone(),
            txs: block.body.txs().cloned().collect(),
            entries: block.body.entries().cloned().collect(),
        }
    }

    /// Checks the releases and entries are the ones the header's `tx_root` commits to.
    pub fn txs_match(&self, chain_id: &ChainId) -> bool {
        self.header.tx_root == item_root(chain_id, &self.txs, &self.entries)
    }

    fn items(&self) -> Items {
        Items {
            txs: self.txs.len(),
            entries: self.entries.len(),
        }
    }
}

impl Write for CheckpointedMblock {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.txs.write(buf);
        self.entries.write(buf);
    }
}

impl EncodeSize for CheckpointedMblock {
    fn encode_size(&self) -> usize {
        MblockHeader::SIZE + self.txs.encode_size() + self.entries.encode_size()
    }
}

impl CheckpointedMblock {
    /// Decodes one within `budget` (and the per-Mblock limits).
    fn read_at_most(buf: &mut impl Buf, budget: Items) -> Result<Self, CodecError> {
        Ok(Self {
            header: MblockHeader::read(buf)?,
            txs: read_txs(buf, budget.txs.min(MAX_MBLOCK_TXS))?,
            entries: read_entries(buf, budget.entries.min(MAX_MBLOCK_ENTRIES))?,
        })
    }
}

impl Read for CheckpointedMblock {
    type Cfg = ();
    /// Does not check `txs_match` (it needs the chain id): the consumer must.
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Self::read_at_most(
            buf,
            Items {
                txs: MAX_MBLOCK_TXS,
                entries: MAX_MBLOCK_ENTRIES,
            },
        )
    }
}

/// A branch of Mblocks a SUP block checkpoints (S3-supervise), oldest first, each the parent
/// of the next. Empty when the SUP block checkpoints nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The branch.
    pub branch: Vec<CheckpointedMblock>,
}

impl Checkpoint {
    /// The hashes of the branch's Mblocks, oldest first.
    pub fn hashes(&self) -> Vec<Hash32> {
        self.branch
            .iter()
            .map(|block| block.header.hash())
            .collect()
    }

    /// What a SUP header records of its checkpoint: SHA-256 of the whole encoded checkpoint —
    /// every header AND every release and entry — so a block digest pins the releases it imports and no
    /// peer can serve another checkpoint under it (the branch root alone covers only the
    /// headers, and decoding cannot check `tx_root` without the chain id);
    /// [`Hash32::EMPTY`] for an empty checkpoint.
    pub fn commitment(&self) -> Hash32 {
        if self.branch.is_empty() {
            return Hash32::EMPTY;
        }
        let mut buf = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + self.encode_size());
        buf.extend_from_slice(CHECKPOINT_DOMAIN);
        self.write(&mut buf);
        Sha256::hash(&[&buf])
    }

    /// The branch's Merkle root over its Mblock hashes (S3-supervise records a branch "as a
    /// Merkle tree"; rule 3 compares it between equal-work branches); [`Hash32::EMPTY`] for an
    /// empty checkpoint.
    pub fn root(&self) -> Hash32 {
        if self.branch.is_empty() {
            return Hash32::EMPTY;
        }
        merkle_root(&self.hashes())
    }

    /// The newest Mblock of the branch.
    pub fn tip(&self) -> Option<&MblockHeader> {
        self.branch.last().map(|block| &block.header)
    }
}

impl Write for Checkpoint {
    fn write(&self, buf: &mut impl BufMut) {
        self.branch.write(buf);
    }
}

impl EncodeSize for Checkpoint {
    fn encode_size(&self) -> usize {
        self.branch.encode_size()
    }
}

impl Read for Checkpoint {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let branch = read_within_budget(
            buf,
            MAX_CHECKPOINT_MBLOCKS,
            Items {
                txs: MAX_CHECKPOINT_TXS,
                entries: MAX_CHECKPOINT_ENTRIES,
            },
            CheckpointedMblock::read_at_most,
            CheckpointedMblock::items,
        )?;
        let linked = branch.windows(2).all(|pair| {
            pair[1].header.parent == pair[0].header.hash()
                && pair[1].header.height == pair[0].header.height + 1
        });
        if !linked {
            return Err(CodecError::Invalid(
                "checkpoint",
                "each Mblock must be the child of the one before",
            ));
        }
        Ok(Self { branch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::address;
    use commonware_codec::DecodeExt;

    fn chain() -> ChainId {
        "medchain-test".parse().unwrap()
    }

    fn release(n: u8) -> TxMr {
        TxMr {
            doctor: address(1),
            patient: address(2),
            record_hash: ContentHash::of(&[n]),
            issued_at_ms: 1_700_000_000_000 + u64::from(n),
        }
    }

    fn entry(n: u8, len: usize) -> EntryMr {
        EntryMr {
            patient: address(2),
            entry: EntryBytes(vec![n; len]),
            issued_at_ms: 1_700_000_000_000 + u64::from(n),
        }
    }

    fn block(parent: Hash32, height: u64, txs: Vec<TxMr>) -> Mblock {
        block_with(parent, height, txs, Vec::new())
    }

    fn block_with(parent: Hash32, height: u64, txs: Vec<TxMr>, entries: Vec<EntryMr>) -> Mblock {
        let body = MblockBody {
            batches: vec![HospitalBatch {
                hospital: address(3),
                txs,
                entries,
            }],
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        };
        Mblock {
            header: MblockHeader {
                height,
                parent,
                tx_root: body.item_root(&chain()),
                body_hash: body.hash(),
                timestamp_ms: 1_700_000_000_000,
                difficulty: 16,
                miner: address(4),
                nonce: 9,
            },
            body,
        }
    }

    #[test]
    fn an_mblock_round_trips_and_a_changed_body_is_refused() {
        let mblock = block(Hash32::EMPTY, 1, vec![release(1), release(2)]);
        assert!(mblock.body_matches(&chain()));
        let bytes = mblock.encode();
        assert_eq!(Mblock::decode(bytes.clone()).unwrap(), mblock);
        let mut tampered = mblock.clone();
        tampered.body.batches[0].txs[1].issued_at_ms += 1;
        let mut forged = tampered.header.encode().to_vec();
        forged.extend_from_slice(&tampered.body.encode());
        assert!(Mblock::decode(bytes::Bytes::from(forged)).is_err());
        assert!(!tampered.body_matches(&chain()));
    }

    #[test]
    fn htxm_binds_the_chain_and_every_field() {
        let tx = release(1);
        let other: ChainId = "other-chain".parse().unwrap();
        assert_ne!(tx.htxm(&chain()), tx.htxm(&other));
        let mut later = tx.clone();
        later.issued_at_ms += 1;
        assert_ne!(tx.htxm(&chain()), later.htxm(&chain()));
    }

    #[test]
    fn a_checkpoint_must_be_a_linked_branch() {
        let first = block(Hash32::EMPTY, 1, vec![release(1)]);
        let second = block(first.header.hash(), 2, vec![release(2)]);
        let checkpoint = Checkpoint {
            branch: vec![
                CheckpointedMblock::of(&first),
                CheckpointedMblock::of(&second),
            ],
        };
        assert!(checkpoint.branch.iter().all(|b| b.txs_match(&chain())));
        assert_eq!(Checkpoint::decode(checkpoint.encode()).unwrap(), checkpoint);
        assert_ne!(checkpoint.root(), Hash32::EMPTY);
        let unlinked = Checkpoint {
            branch: vec![
                CheckpointedMblock::of(&second),
                CheckpointedMblock::of(&first),
            ],
        };
        assert!(Checkpoint::decode(unlinked.encode()).is_err());
        assert_eq!(Checkpoint::default().root(), Hash32::EMPTY);
    }

    #[test]
    fn a_body_without_batches_has_no_signature() {
        let empty = MblockBody {
            batches: Vec::new(),
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        };
        assert!(MblockBody::decode(empty.encode()).is_err());
    }

    fn params() -> MedParams {
        MedParams {
            target_interval_ms: 3_000,
            initial_difficulty: 20_000,
            min_difficulty: 1_000,
            retarget_window: 16,
        }
    }

    #[test]
    fn unusable_parameters_are_refused() {
        params().validate().unwrap();
        let with = |change: fn(&mut MedParams)| {
            let mut params = params();
            change(&mut params);
            params.validate()
        };
        assert_eq!(
            with(|p| p.target_interval_ms = 0),
            Err(MedParamsError::ZeroTargetInterval)
        );
        assert_eq!(
            with(|p| {
                p.min_difficulty = 0;
                p.initial_difficulty = 0;
            }),
            Err(MedParamsError::ZeroMinDifficulty)
        );
        assert_eq!(
            with(|p| p.initial_difficulty = 999),
            Err(MedParamsError::InitialBelowMin {
                initial: 999,
                min: 1_000
            })
        );
        for window in [0, 1, MAX_RETARGET_WINDOW + 1, u64::MAX] {
            let mut params = params();
            params.retarget_window = window;
            assert_eq!(
                params.validate(),
                Err(MedParamsError::RetargetWindow(window))
            );
        }
        assert_eq!(with(|p| p.retarget_window = 2), Ok(()));
        assert_eq!(with(|p| p.retarget_window = MAX_RETARGET_WINDOW), Ok(()));
        assert_eq!(with(|p| p.initial_difficulty = 1_000), Ok(()));
    }

    fn full_batch(from: usize, txs: usize) -> HospitalBatch {
        HospitalBatch {
            hospital: address(3),
            entries: Vec::new(),
            txs: (from..from + txs)
                .map(|n| TxMr {
                    issued_at_ms: n as u64,
                    ..release(0)
                })
                .collect(),
        }
    }

    /// A body over MAX_MBLOCK_TXS is refused at the length prefix of the batch that crosses
    /// the limit, before its releases are read: decoding never holds more than the limit.
    #[test]
    fn a_body_over_the_release_limit_is_refused_before_reading_past_it() {
        let batches = MAX_MBLOCK_TXS / MAX_BATCH_TXS;
        let mut body = MblockBody {
            batches: (0..batches)
                .map(|i| full_batch(i * MAX_BATCH_TXS, MAX_BATCH_TXS))
                .collect(),
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        };
        assert_eq!(MblockBody::decode(body.encode()).unwrap(), body);
        body.batches.push(full_batch(MAX_MBLOCK_TXS, 1));
        assert!(matches!(
            MblockBody::decode(body.encode()),
            Err(CodecError::InvalidLength(1))
        ));
        // The refusal needs none of the batch's releases: cut right after its length prefix.
        let encoded = body.encode();
        let cut = encoded.len() - BlsSignature::SIZE - 1 - TxMr::SIZE;
        assert!(matches!(
            MblockBody::read(&mut encoded.slice(..cut)),
            Err(CodecError::InvalidLength(1))
        ));
    }

    #[test]
    fn a_checkpoint_over_the_release_limit_is_refused_before_reading_past_it() {
        let mblocks = MAX_CHECKPOINT_TXS / MAX_MBLOCK_TXS;
        let mut parent = Hash32::EMPTY;
        let mut branch = Vec::new();
        for height in 1..=mblocks as u64 + 1 {
            let mblock = CheckpointedMblock {
                header: block(parent, height, vec![release(1)]).header,
                txs: full_batch(0, MAX_MBLOCK_TXS).txs,
                entries: Vec::new(),
            };
            parent = mblock.header.hash();
            branch.push(mblock);
        }
        let over = Checkpoint { branch };
        assert!(matches!(
            Checkpoint::decode(over.encode()),
            Err(CodecError::InvalidLength(MAX_MBLOCK_TXS))
        ));
        let mut at_limit = over.clone();
        at_limit.branch.pop();
        assert_eq!(Checkpoint::decode(at_limit.encode()).unwrap(), at_limit);
    }

    #[test]
    fn decoding_a_checkpointed_mblock_does_not_check_its_releases() {
        let mblock = block(Hash32::EMPTY, 1, vec![release(1)]);
        let mut other = CheckpointedMblock::of(&mblock);
        other.txs[0].issued_at_ms += 1;
        let decoded = CheckpointedMblock::decode(other.encode()).unwrap();
        assert!(
            !decoded.txs_match(&chain()),
            "the consumer must call txs_match"
        );
    }

    #[test]
    fn hentry_binds_the_chain_and_every_field_and_differs_from_any_htxm() {
        let filed = entry(1, 300);
        let other: ChainId = "other-chain".parse().unwrap();
        assert_ne!(filed.hentry(&chain()), filed.hentry(&other));
        let changes: [fn(&mut EntryMr); 3] = [
            |e| e.patient = address(9),
            |e| e.entry.0[0] ^= 1,
            |e| e.issued_at_ms += 1,
        ];
        for change in changes {
            let mut changed = filed.clone();
            change(&mut changed);
            assert_ne!(filed.hentry(&chain()), changed.hentry(&chain()));
        }
        assert_eq!(filed.entry_id(&chain()), EntryId(filed.hentry(&chain())));
        assert_ne!(filed.hentry(&chain()), release(1).htxm(&chain()));
    }

    /// An entry over MAX_MED_ENTRY_BYTES is refused by the codec (at its length prefix) and
    /// in JSON, though SUP's larger EntryBytes limit would take it.
    #[test]
    fn an_entry_over_the_med_limit_is_refused_in_both_encodings() {
        let at_limit = SignedEntry {
            entry: entry(1, MAX_MED_ENTRY_BYTES),
            signature: BlsSignature([7; BlsSignature::LEN]),
        };
        assert_eq!(SignedEntry::decode(at_limit.encode()).unwrap(), at_limit);
        let json = serde_json::to_string(&at_limit).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedEntry>(&json).unwrap(),
            at_limit
        );
        let over = SignedEntry {
            entry: entry(1, MAX_MED_ENTRY_BYTES + 1),
            ..at_limit
        };
        assert!(matches!(
            SignedEntry::decode(over.encode()),
            Err(CodecError::InvalidLength(_))
        ));
        let json = serde_json::to_string(&over).unwrap();
        let error = serde_json::from_str::<SignedEntry>(&json).unwrap_err();
        assert!(error.to_string().contains("at most 2048 bytes"), "{error}");
        let empty = SignedEntry {
            entry: entry(1, 0),
            ..over
        };
        assert!(SignedEntry::decode(empty.encode()).is_err());
    }

    #[test]
    fn entries_travel_in_batches_mblocks_and_checkpoints_under_the_item_root() {
        let mblock = block_with(
            Hash32::EMPTY,
            1,
            vec![release(1)],
            vec![entry(1, 40), entry(2, 50)],
        );
        assert!(mblock.body_matches(&chain()));
        assert_eq!(Mblock::decode(mblock.encode()).unwrap(), mblock);
        assert_eq!(mblock.body.entries().count(), 2);
        // Releases first, then entries: a release keeps its body index as leaf index.
        let leaves = mblock.body.item_leaves(&chain());
        assert_eq!(leaves[0], release(1).htxm(&chain()));
        assert_eq!(leaves[2], entry(2, 50).hentry(&chain()));
        let checkpointed = CheckpointedMblock::of(&mblock);
        assert!(checkpointed.txs_match(&chain()));
        let checkpoint = Checkpoint {
            branch: vec![checkpointed.clone()],
        };
        assert_eq!(Checkpoint::decode(checkpoint.encode()).unwrap(), checkpoint);
        // An altered, dropped or moved entry breaks the commitments.
        let mut altered = checkpointed.clone();
        altered.entries[1].entry.0[0] ^= 1;
        assert!(!altered.txs_match(&chain()));
        let mut dropped = checkpointed.clone();
        dropped.entries.pop();
        assert!(!dropped.txs_match(&chain()));
        let mut changed = mblock.clone();
        changed.body.batches[0].entries.swap(0, 1);
        assert!(!changed.body_matches(&chain()));
        // The batch root (TX_mr) covers the entries too.
        let batch = &mblock.body.batches[0];
        let mut without = batch.clone();
        without.entries.pop();
        assert_ne!(batch.root(&chain()), without.root(&chain()));
    }

    #[test]
    fn a_batch_holds_one_item_at_least_and_entries_alone_are_enough() {
        let only_entries = HospitalBatch {
            hospital: address(3),
            txs: Vec::new(),
            entries: vec![entry(1, 10)],
        };
        assert_eq!(
            HospitalBatch::decode(only_entries.encode()).unwrap(),
            only_entries
        );
        let empty = HospitalBatch {
            entries: Vec::new(),
            ..only_entries.clone()
        };
        assert!(HospitalBatch::decode(empty.encode()).is_err());
        let too_many = HospitalBatch {
            entries: (0..=MAX_BATCH_ENTRIES as u8).map(|n| entry(n, 1)).collect(),
            ..only_entries
        };
        assert!(matches!(
            HospitalBatch::decode(too_many.encode()),
            Err(CodecError::InvalidLength(_))
        ));
    }

    /// Entries have their own Mblock budget, refused at the batch that crosses it.
    #[test]
    fn a_body_over_the_entry_limit_is_refused() {
        let batch = |n: usize| HospitalBatch {
            hospital: address(3),
            txs: Vec::new(),
            entries: (0..MAX_BATCH_ENTRIES)
                .map(|i| entry((n * MAX_BATCH_ENTRIES + i) as u8, 1))
                .collect(),
        };
        let mut body = MblockBody {
            batches: (0..MAX_MBLOCK_ENTRIES / MAX_BATCH_ENTRIES)
                .map(batch)
                .collect(),
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        };
        assert_eq!(MblockBody::decode(body.encode()).unwrap(), body);
        body.batches.push(batch(0));
        assert!(matches!(
            MblockBody::decode(body.encode()),
            Err(CodecError::InvalidLength(_))
        ));
    }
}
