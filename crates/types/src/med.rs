//! The MED chain's data (S3-dual): record releases tx_mr, hospital batches, Mblocks, and the
//! checkpoints the consortium (SUP) chain records of them (S3-supervise).
//!
//! Only data, encodings and hashes live here — the proof-of-work, fork-choice, aggregation
//! and checkpoint rules are the `medchain-med` crate's. Decoding checks the structural limits
//! (counting releases as it reads, so it never allocates past them) and what needs no chain
//! id: an [`Mblock`]'s body matches its header's `body_hash`, and a [`Checkpoint`]'s Mblocks
//! each name the previous one as parent. It does NOT check `tx_root` (it depends on the chain
//! id): [`Mblock::body_matches`] and [`CheckpointedMblock::txs_match`] do, and every consumer
//! must call them — a decoded [`CheckpointedMblock`] may carry other releases than its header
//! commits to.

use crate::{Address, BlsSignature, ChainId, ContentHash, Hash32, RecordId, serde_hex};
use bytes::BufMut;
use commonware_codec::{
    Buf, Encode, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use commonware_cryptography::{Digest as _, Hasher, Sha256};
use commonware_storage::bmt;
use serde::{Deserialize, Serialize};

/// Domain of an htxM: the hash a doctor signs for a release.
const HTXM_DOMAIN: &[u8] = b"_MEDCHAIN_MED_TXMR_V1";
/// Domain of TX_mr: the Merkle root a hospital signs for its batch.
const BATCH_DOMAIN: &[u8] = b"_MEDCHAIN_MED_BATCH_V1";
/// Domain of a checkpoint's commitment in a SUP header.
const CHECKPOINT_DOMAIN: &[u8] = b"_MEDCHAIN_MED_CHECKPOINT_V1";

/// Most tx_mr in one hospital batch.
pub const MAX_BATCH_TXS: usize = 1_024;
/// Most hospital batches in one Mblock.
pub const MAX_MBLOCK_BATCHES: usize = 64;
/// Most tx_mr in one Mblock.
pub const MAX_MBLOCK_TXS: usize = 4_096;
/// Most Mblocks one SUP block checkpoints.
pub const MAX_CHECKPOINT_MBLOCKS: usize = 32;
/// Most tx_mr in one checkpoint, all its Mblocks together: what decoding a checkpoint may
/// allocate. Two full Mblocks' worth, above what a SUP block's checkpoint bytes can hold, so it
/// only bounds memory; the checkpoint rules stay within it too.
pub const MAX_CHECKPOINT_TXS: usize = 2 * MAX_MBLOCK_TXS;
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

/// The Merkle root over the htxM of `txs`, in order: an Mblock's `tx_root`.
pub fn tx_root<'a>(chain_id: &ChainId, txs: impl IntoIterator<Item = &'a TxMr>) -> Hash32 {
    let leaves: Vec<Hash32> = txs.into_iter().map(|tx| tx.htxm(chain_id)).collect();
    merkle_root(&leaves)
}

/// A hospital's batch of its doctors' releases (S3-release).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HospitalBatch {
    /// The hospital identity's address (its BLS key is on SUP) that checked and signed it.
    pub hospital: Address,
    /// The releases, 1 to [`MAX_BATCH_TXS`].
    pub txs: Vec<TxMr>,
}

impl HospitalBatch {
    /// TX_mr, what the hospital signs: the domain-separated Merkle root of its htxM.
    pub fn root(&self, chain_id: &ChainId) -> Hash32 {
        let root = tx_root(chain_id, &self.txs);
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
    }
}

impl EncodeSize for HospitalBatch {
    fn encode_size(&self) -> usize {
        Address::SIZE + self.txs.encode_size()
    }
}

impl HospitalBatch {
    /// Decodes a batch of at most `max_txs` releases (and at most [`MAX_BATCH_TXS`]), refusing
    /// a longer one before reading its releases.
    fn read_at_most(buf: &mut impl Buf, max_txs: usize) -> Result<Self, CodecError> {
        Ok(Self {
            hospital: Address::read(buf)?,
            txs: read_txs(buf, 1, max_txs.min(MAX_BATCH_TXS))?,
        })
    }
}

impl Read for HospitalBatch {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Self::read_at_most(buf, MAX_BATCH_TXS)
    }
}

/// Decodes a list of at most `max_items` items holding at most `max_txs` releases in all:
/// each item is read by `read` with what is left of the release budget, so a list over the
/// limit is refused at the length prefix that crosses it, before anything past it is read or
/// allocated (rather than decoded whole and counted afterwards).
fn read_within_budget<B: Buf, T>(
    buf: &mut B,
    max_items: usize,
    max_txs: usize,
    read: impl Fn(&mut B, usize) -> Result<T, CodecError>,
    txs_of: impl Fn(&T) -> usize,
) -> Result<Vec<T>, CodecError> {
    let count = usize::read_cfg(buf, &RangeCfg::from(0..=max_items))?;
    let mut items = Vec::with_capacity(count);
    let mut left = max_txs;
    for _ in 0..count {
        let item = read(buf, left)?;
        left -= txs_of(&item);
        items.push(item);
    }
    Ok(items)
}

/// Decodes a list of `min..=max` releases; the length prefix is checked before any release is
/// read or allocated (an empty range, `min > max`, refuses every length).
fn read_txs(buf: &mut impl Buf, min: usize, max: usize) -> Result<Vec<TxMr>, CodecError> {
    Vec::<TxMr>::read_cfg(buf, &(RangeCfg::from(min..=max), ()))
}

/// A batch as its hospital hands it to miners: one BLS signature aggregating each doctor's
/// signature over its htxM and the hospital's over TX_mr.
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
    /// Merkle root over every htxM of the body, batch after batch ([`tx_root`]).
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

/// An Mblock's body: hospital batches and one aggregate signature over every doctor's and
/// hospital's message in it (absent exactly when there is no batch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MblockBody {
    /// The batches, at most [`MAX_MBLOCK_BATCHES`] and [`MAX_MBLOCK_TXS`] releases in all.
    pub batches: Vec<HospitalBatch>,
    /// The block's one signature.
    pub signature: Option<BlsSignature>,
}

impl MblockBody {
    /// Every release in the body, batch after batch.
    pub fn txs(&self) -> impl Iterator<Item = &TxMr> {
        self.batches.iter().flat_map(|batch| batch.txs.iter())
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
            MAX_MBLOCK_TXS,
            HospitalBatch::read_at_most,
            |batch| batch.txs.len(),
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
            && self.header.tx_root == tx_root(chain_id, self.body.txs())
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

/// One Mblock as a SUP block checkpoints it: the header and its releases, without the
/// aggregate signature (SUP validators verified it on MED before voting).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointedMblock {
    /// The header.
    pub header: MblockHeader,
    /// Every release of the Mblock, in body order.
    pub txs: Vec<TxMr>,
}

impl CheckpointedMblock {
    /// The checkpoint form of `block`.
    pub fn of(block: &Mblock) -> Self {
        Self {
            header: block.header.clone(),
            txs: block.body.txs().cloned().collect(),
        }
    }

    /// Checks the releases are the ones the header's `tx_root` commits to.
    pub fn txs_match(&self, chain_id: &ChainId) -> bool {
        self.header.tx_root == tx_root(chain_id, &self.txs)
    }
}

impl Write for CheckpointedMblock {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.txs.write(buf);
    }
}

impl EncodeSize for CheckpointedMblock {
    fn encode_size(&self) -> usize {
        MblockHeader::SIZE + self.txs.encode_size()
    }
}

impl CheckpointedMblock {
    /// Decodes one with at most `max_txs` (and at most [`MAX_MBLOCK_TXS`]) releases.
    fn read_at_most(buf: &mut impl Buf, max_txs: usize) -> Result<Self, CodecError> {
        Ok(Self {
            header: MblockHeader::read(buf)?,
            txs: read_txs(buf, 0, max_txs.min(MAX_MBLOCK_TXS))?,
        })
    }
}

impl Read for CheckpointedMblock {
    type Cfg = ();
    /// Does not check `txs_match` (it needs the chain id): the consumer must.
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Self::read_at_most(buf, MAX_MBLOCK_TXS)
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
    /// every header AND every release — so a block digest pins the releases it imports and no
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
            MAX_CHECKPOINT_TXS,
            CheckpointedMblock::read_at_most,
            |block| block.txs.len(),
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

    fn block(parent: Hash32, height: u64, txs: Vec<TxMr>) -> Mblock {
        let body = MblockBody {
            batches: vec![HospitalBatch {
                hospital: address(3),
                txs,
            }],
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        };
        Mblock {
            header: MblockHeader {
                height,
                parent,
                tx_root: tx_root(&chain(), body.txs()),
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
}
