//! Blocks of the consortium (SUP) chain: a [`Header`] (docs/architecture.md § Block header),
//! the transactions, and the MED [`Checkpoint`] the block records (S3-supervise).
//!
//! The block digest is the SHA-256 of the encoded header, and the header commits to the body
//! through `tx_root` and `med_checkpoint`. Decoding recomputes both and refuses a body that does
//! not match, so a decoded [`Block`] is always internally consistent: a peer cannot pair a valid
//! header with a different body under the same digest.

use crate::{Address, Hash32, Transaction, TxId, limits, med::Checkpoint};
use bytes::BufMut;
use commonware_codec::{
    Buf, Encode, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use commonware_consensus::{Block as ConsensusBlock, BoundedBlock, Heightable, types::Height};
use commonware_cryptography::{Digestible, Hasher, Sha256};
use commonware_storage::bmt;

/// A block header (docs/architecture.md § Block header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Height; genesis is 0.
    pub height: u64,
    /// Digest of the parent block (for genesis: the digest of the genesis document).
    pub parent: Hash32,
    /// Proposer's clock, unix milliseconds; never below the parent's (validators check).
    pub timestamp_ms: u64,
    /// The validator that built the block.
    pub proposer: Address,
    /// Binary Merkle root over the transaction ids, in block order (S1-block).
    pub tx_root: Hash32,
    /// Authenticated state root *after* executing this block (docs/architecture.md
    /// § Authenticated state).
    pub state_root: Hash32,
    /// Binary Merkle root over the block's receipt leaves, in transaction order
    /// ([`crate::receipt_leaf`]): what each transaction did, checkable by light clients.
    pub receipts_root: Hash32,
    /// Root of the doctor revocation list (S3-revoke); the empty-list root until revocation lands.
    pub revocation_root: Hash32,
    /// [`Checkpoint::commitment`] of the block's MED checkpoint (S3-supervise): a hash of every
    /// Mblock header AND release it checkpoints, [`Hash32::EMPTY`] when it checkpoints nothing.
    pub med_checkpoint: Hash32,
}

impl Header {
    /// The block digest.
    pub fn digest(&self) -> Hash32 {
        Sha256::hash(&[&self.encode()])
    }
}

impl Write for Header {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.parent.write(buf);
        self.timestamp_ms.write(buf);
        self.proposer.write(buf);
        self.tx_root.write(buf);
        self.state_root.write(buf);
        self.receipts_root.write(buf);
        self.revocation_root.write(buf);
        self.med_checkpoint.write(buf);
    }
}

impl FixedSize for Header {
    const SIZE: usize = 2 * u64::SIZE + Address::SIZE + 6 * Hash32::SIZE;
}

impl Read for Header {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            height: u64::read(buf)?,
            parent: Hash32::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            proposer: Address::read(buf)?,
            tx_root: Hash32::read(buf)?,
            state_root: Hash32::read(buf)?,
            receipts_root: Hash32::read(buf)?,
            revocation_root: Hash32::read(buf)?,
            med_checkpoint: Hash32::read(buf)?,
        })
    }
}

/// The Merkle root over transaction ids (S1-block), using commonware's binary Merkle tree,
/// whose root also commits to the leaf count.
pub fn tx_root(ids: &[TxId]) -> Hash32 {
    let mut builder = bmt::Builder::<Sha256>::new(ids.len());
    for id in ids {
        builder.add(&id.0);
    }
    builder.build().root()
}

/// The consensus signing scheme: attributable ed25519 votes, certificates naming their signers.
/// Validators sign with it and light clients verify finalization certificates with it.
pub type ConsensusScheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// A block: header, transactions (with their ids computed once) and the MED checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    header: Header,
    txs: Vec<Transaction>,
    tx_ids: Vec<TxId>,
    checkpoint: Checkpoint,
    digest: Hash32,
}

impl Block {
    /// Assembles a block that checkpoints nothing, computing `tx_root` from `txs` (the
    /// header's `tx_root` and `med_checkpoint` are overwritten).
    pub fn new(header: Header, txs: Vec<Transaction>) -> Self {
        Self::with_checkpoint(header, txs, Checkpoint::default())
    }

    /// Assembles a block that checkpoints `checkpoint` (S3-supervise), computing `tx_root`
    /// from `txs` and `med_checkpoint` from the checkpoint (both overwritten in `header`).
    pub fn with_checkpoint(
        mut header: Header,
        txs: Vec<Transaction>,
        checkpoint: Checkpoint,
    ) -> Self {
        let tx_ids: Vec<TxId> = txs.iter().map(Transaction::id).collect();
        header.tx_root = tx_root(&tx_ids);
        header.med_checkpoint = checkpoint.commitment();
        Self::from_parts(header, txs, tx_ids, checkpoint)
    }

    /// Block 0 of the chain started from `genesis`, whose genesis state has root `state_root`.
    /// Its parent is the genesis document's digest, so chains from different genesis documents
    /// never share a block; the revocation and MED roots are empty until those chains exist.
    pub fn genesis(genesis: &crate::Genesis, state_root: Hash32) -> Self {
        use commonware_cryptography::Digest as _;
        Self::new(
            Header {
                height: 0,
                parent: genesis.digest(),
                timestamp_ms: genesis.genesis_time_ms,
                proposer: genesis.regulator,
                tx_root: Hash32::EMPTY,
                state_root,
                receipts_root: crate::receipts_root(&[]),
                revocation_root: Hash32::EMPTY,
                med_checkpoint: Hash32::EMPTY,
            },
            Vec::new(),
        )
    }

    fn from_parts(
        header: Header,
        txs: Vec<Transaction>,
        tx_ids: Vec<TxId>,
        checkpoint: Checkpoint,
    ) -> Self {
        let digest = header.digest();
        Self {
            header,
            txs,
            tx_ids,
            checkpoint,
            digest,
        }
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The transactions, in execution order.
    pub fn txs(&self) -> &[Transaction] {
        &self.txs
    }

    /// The transaction ids, in execution order.
    pub fn tx_ids(&self) -> &[TxId] {
        &self.tx_ids
    }

    /// The MED checkpoint (empty when the block checkpoints nothing).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The block digest (SHA-256 of the encoded header).
    pub fn digest(&self) -> Hash32 {
        self.digest
    }

    /// Height as a plain number.
    pub fn number(&self) -> u64 {
        self.header.height
    }
}

/// Decoding bounds for blocks (fixed by [`limits`]; a type so the codec `Cfg` names it).
pub type BlockDecodeConfig = ();

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.txs.write(buf);
        self.checkpoint.write(buf);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        Header::SIZE + self.txs.encode_size() + self.checkpoint.encode_size()
    }
}

impl Read for Block {
    type Cfg = BlockDecodeConfig;
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let header = Header::read(buf)?;
        let count = usize::read_cfg(buf, &RangeCfg::from(0..=limits::MAX_BLOCK_TXS))?;
        let start = buf.remaining();
        let mut txs = Vec::with_capacity(count.min(start / 100));
        for _ in 0..count {
            txs.push(Transaction::read(buf)?);
            if start - buf.remaining() > limits::MAX_BLOCK_BODY_BYTES {
                return Err(CodecError::Invalid("block", "body exceeds the size limit"));
            }
        }
        let tx_ids: Vec<TxId> = txs.iter().map(Transaction::id).collect();
        if tx_root(&tx_ids) != header.tx_root {
            return Err(CodecError::Invalid(
                "block",
                "tx_root does not match the body",
            ));
        }
        let checkpoint = Checkpoint::read(buf)?;
        if checkpoint.encode_size() > limits::MAX_CHECKPOINT_BYTES {
            return Err(CodecError::Invalid(
                "block",
                "checkpoint exceeds the size limit",
            ));
        }
        if checkpoint.commitment() != header.med_checkpoint {
            return Err(CodecError::Invalid(
                "block",
                "med_checkpoint does not match the checkpoint",
            ));
        }
        Ok(Self::from_parts(header, txs, tx_ids, checkpoint))
    }
}

impl Digestible for Block {
    type Digest = Hash32;
    fn digest(&self) -> Hash32 {
        self.digest
    }
}

impl Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.header.height)
    }
}

impl ConsensusBlock for Block {
    fn parent(&self) -> Hash32 {
        self.header.parent
    }
}

impl BoundedBlock for Block {
    fn max_encode_size(_: &()) -> usize {
        // Header, a length prefix, the body bound, one maximal transaction of slack (the body
        // limit is checked after the transaction that crosses it is read), and the checkpoint.
        Header::SIZE
            + 5
            + limits::MAX_BLOCK_BODY_BYTES
            + limits::MAX_TX_BYTES
            + limits::MAX_CHECKPOINT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::med::{CheckpointedMblock, MblockHeader, TxMr};
    use commonware_codec::DecodeExt;
    use commonware_cryptography::Digest as _;

    fn header() -> Header {
        Header {
            height: 7,
            parent: Sha256::hash(&[b"parent"]),
            timestamp_ms: 1_700_000_000_000,
            proposer: address(1),
            tx_root: Hash32::from([0; 32]),
            state_root: Sha256::hash(&[b"state"]),
            receipts_root: Sha256::hash(&[b"receipts"]),
            revocation_root: Hash32::from([0; 32]),
            med_checkpoint: Hash32::from([0; 32]),
        }
    }

    #[test]
    fn blocks_round_trip_and_commit_to_their_body() {
        let block = Block::new(header(), signed_txs());
        let bytes = block.encode();
        let decoded = Block::decode(bytes.clone()).unwrap();
        assert_eq!(decoded, block);
        assert_eq!(decoded.encode(), bytes);
        assert_eq!(decoded.digest(), block.header().digest());
        assert_eq!(decoded.tx_ids().len(), signed_txs().len());
    }

    #[test]
    fn a_body_swapped_under_a_valid_header_is_rejected() {
        let block = Block::new(header(), signed_txs());
        let mut txs = signed_txs();
        txs.swap(0, 1);
        let forged = Block::from_parts(block.header().clone(), txs, vec![], Checkpoint::default());
        assert!(Block::decode(forged.encode()).is_err());
        let mut dropped = signed_txs();
        dropped.pop();
        let forged = Block::from_parts(
            block.header().clone(),
            dropped,
            vec![],
            Checkpoint::default(),
        );
        assert!(Block::decode(forged.encode()).is_err());
    }

    #[test]
    fn empty_blocks_are_valid_and_bounded_size_covers_the_limit() {
        let block = Block::new(header(), vec![]);
        assert_eq!(Block::decode(block.encode()).unwrap(), block);
        assert_eq!(block.header().med_checkpoint, Hash32::EMPTY);
        assert!(
            Block::max_encode_size(&())
                > limits::MAX_BLOCK_BODY_BYTES + limits::MAX_CHECKPOINT_BYTES
        );
    }

    /// A linked branch of `blocks` Mblocks with `txs` releases each (the codec checks linkage,
    /// not proof of work: that is the state's check, S3-supervise).
    fn branch(blocks: u64, txs: u32) -> Checkpoint {
        let mut parent = Sha256::hash(&[b"previous checkpoint tip"]);
        let branch = (1..=blocks)
            .map(|height| {
                let txs: Vec<TxMr> = (0..txs)
                    .map(|n| TxMr {
                        doctor: address(1),
                        patient: address(2),
                        record_hash: crate::ContentHash::of(&n.to_be_bytes()),
                        issued_at_ms: 1_700_000_000_000 + height,
                    })
                    .collect();
                let header = MblockHeader {
                    height,
                    parent,
                    tx_root: Hash32::EMPTY,
                    body_hash: Hash32::EMPTY,
                    timestamp_ms: 1_700_000_000_000 + height,
                    difficulty: 1,
                    miner: address(3),
                    nonce: height,
                };
                parent = header.hash();
                CheckpointedMblock {
                    header,
                    txs,
                    entries: Vec::new(),
                }
            })
            .collect();
        Checkpoint { branch }
    }

    #[test]
    fn a_block_with_a_checkpoint_round_trips_and_commits_to_it() {
        let checkpoint = branch(3, 2);
        let block = Block::with_checkpoint(header(), signed_txs(), checkpoint.clone());
        assert_eq!(block.header().med_checkpoint, checkpoint.commitment());
        assert_ne!(block.header().med_checkpoint, Hash32::EMPTY);
        let decoded = Block::decode(block.encode()).unwrap();
        assert_eq!(decoded, block);
        assert_eq!(decoded.checkpoint(), &checkpoint);
        assert_eq!(decoded.encode().len(), block.encode_size());
    }

    #[test]
    fn a_checkpoint_other_than_the_headers_is_refused() {
        let block = Block::with_checkpoint(header(), signed_txs(), branch(2, 1));
        // The same header over another branch, over no branch at all, and over the same
        // Mblock headers with one release altered (the branch root covers only the headers).
        let mut altered = branch(2, 1);
        altered.branch[1].txs[0].issued_at_ms += 1;
        assert_eq!(altered.root(), branch(2, 1).root());
        for other in [branch(1, 1), Checkpoint::default(), altered] {
            let forged = Block::from_parts(
                block.header().clone(),
                signed_txs(),
                block.tx_ids().to_vec(),
                other,
            );
            assert!(matches!(
                Block::decode(forged.encode()),
                Err(CodecError::Invalid(
                    "block",
                    "med_checkpoint does not match the checkpoint"
                ))
            ));
        }
    }

    #[test]
    fn an_oversized_checkpoint_is_refused() {
        let releases = u32::try_from(crate::med::MAX_MBLOCK_TXS).unwrap();
        let checkpoint = branch(3, releases);
        assert!(checkpoint.encode_size() > limits::MAX_CHECKPOINT_BYTES);
        let block = Block::with_checkpoint(header(), vec![], checkpoint);
        // Refused while reading, by the release budget (`MAX_CHECKPOINT_TXS`) before the byte
        // bound is reached: either way before the oversized branch is held in memory.
        assert!(matches!(
            Block::decode(block.encode()),
            Err(CodecError::InvalidLength(_))
        ));
    }
}
