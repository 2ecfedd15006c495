//! Messages of the MED channels ([`crate::engine::channel::MED_BLOCKS`],
//! [`crate::engine::channel::MED_BATCHES`]).
//!
//! On `MED_BLOCKS` a node announces each Mblock it mines to every peer, and asks one peer for
//! an Mblock it lacks by hash (the answer is an ordinary announcement to that peer). To catch
//! up it syncs headers first: it sends a peer a locator of its best chain, the peer answers
//! with up to [`MAX_SYNC_HEADERS`] headers after the last Mblock they share, and the node
//! checks their links and proof of work before asking for the bodies, oldest first. On
//! `MED_BATCHES` it hands the hospital batches it accepted to every miner. Decoding is bounded
//! by the types' own limits, so an oversized message is refused before anything is allocated
//! for it.

use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use medchain_med::chain::MAX_LOCATOR;
use medchain_types::{
    Address, BlsSignature, Hash32,
    med::{
        MAX_BATCH_ENTRIES, MAX_BATCH_TXS, MAX_MBLOCK_BATCHES, MAX_MBLOCK_ENTRIES, MAX_MBLOCK_TXS,
        MAX_MED_ENTRY_BYTES, Mblock, MblockHeader, TxMr,
    },
};

/// Room for a length prefix (a varint of a `usize`).
const LENGTH_PREFIX: usize = 5;

/// Most headers in one answer to a locator (a little over 100 KB).
pub const MAX_SYNC_HEADERS: usize = 1_000;

/// Largest encoded entry EEE (S3-entry): patient, length-prefixed bytes, issue time.
const MAX_ENTRY_MR_BYTES: usize = Address::SIZE + LENGTH_PREFIX + MAX_MED_ENTRY_BYTES + 8;

/// Largest encoded Mblock: a full header, [`MAX_MBLOCK_BATCHES`] hospitals,
/// [`MAX_MBLOCK_TXS`] releases and [`MAX_MBLOCK_ENTRIES`] full entries, and the signature.
pub const MAX_MBLOCK_BYTES: usize = MblockHeader::SIZE
    + LENGTH_PREFIX
    + MAX_MBLOCK_BATCHES * (Address::SIZE + 2 * LENGTH_PREFIX)
    + MAX_MBLOCK_TXS * TxMr::SIZE
    + MAX_MBLOCK_ENTRIES * MAX_ENTRY_MR_BYTES
    + 1
    + BlsSignature::SIZE;

/// Largest encoded hospital batch.
pub const MAX_BATCH_BYTES: usize = Address::SIZE
    + 2 * LENGTH_PREFIX
    + MAX_BATCH_TXS * TxMr::SIZE
    + MAX_BATCH_ENTRIES * MAX_ENTRY_MR_BYTES
    + BlsSignature::SIZE;

/// Largest message on either MED channel (a tag byte and an Mblock).
pub const MAX_MESSAGE_BYTES: usize = 1 + MAX_MBLOCK_BYTES;

/// A message on [`crate::engine::channel::MED_BLOCKS`].
#[derive(Clone, Debug)]
pub enum BlockMessage {
    /// An Mblock: newly mined, or the answer to a [`BlockMessage::Request`].
    Block(Box<Mblock>),
    /// "Send me the Mblock with this hash" (a parent this node lacks).
    Request(Hash32),
    /// "Send me the headers of your best chain after the newest of these you have" (a locator
    /// of the sender's best chain, newest first).
    GetHeaders(Vec<Hash32>),
    /// The answer to [`BlockMessage::GetHeaders`]: consecutive headers, oldest first.
    Headers(Vec<MblockHeader>),
}

impl Write for BlockMessage {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Block(block) => {
                0u8.write(buf);
                block.write(buf);
            }
            Self::Request(hash) => {
                1u8.write(buf);
                hash.write(buf);
            }
            Self::GetHeaders(locator) => {
                2u8.write(buf);
                locator.write(buf);
            }
            Self::Headers(headers) => {
                3u8.write(buf);
                headers.write(buf);
            }
        }
    }
}

impl EncodeSize for BlockMessage {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Block(block) => block.encode_size(),
            Self::Request(hash) => hash.encode_size(),
            Self::GetHeaders(locator) => locator.encode_size(),
            Self::Headers(headers) => headers.encode_size(),
        }
    }
}

impl Read for BlockMessage {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::Block(Box::new(Mblock::read(buf)?))),
            1 => Ok(Self::Request(Hash32::read(buf)?)),
            2 => Ok(Self::GetHeaders(Vec::read_cfg(
                buf,
                &(RangeCfg::from(1..=MAX_LOCATOR), ()),
            )?)),
            3 => Ok(Self::Headers(Vec::read_cfg(
                buf,
                &(RangeCfg::from(1..=MAX_SYNC_HEADERS), ()),
            )?)),
            tag => Err(CodecError::InvalidEnum(tag)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};
    use commonware_cryptography::Digest as _;
    use medchain_types::{
        ContentHash, EntryBytes,
        med::{EntryMr, HospitalBatch, MblockBody, SignedBatch},
    };

    fn release(n: u64) -> TxMr {
        TxMr {
            doctor: Address::from_bytes([1; 32]),
            patient: Address::from_bytes([2; 32]),
            record_hash: ContentHash::of(&n.to_be_bytes()),
            issued_at_ms: n,
        }
    }

    fn entry(n: u64) -> EntryMr {
        EntryMr {
            patient: Address::from_bytes([2; 32]),
            entry: EntryBytes(vec![0xee; MAX_MED_ENTRY_BYTES]),
            issued_at_ms: n,
        }
    }

    /// The fullest Mblock the limits allow.
    fn full_block() -> Mblock {
        let per_batch = MAX_MBLOCK_TXS / MAX_MBLOCK_BATCHES;
        let entries_per_batch = MAX_MBLOCK_ENTRIES / MAX_MBLOCK_BATCHES;
        let batches: Vec<HospitalBatch> = (0..MAX_MBLOCK_BATCHES)
            .map(|b| HospitalBatch {
                hospital: Address::from_bytes([b as u8; 32]),
                txs: (0..per_batch)
                    .map(|i| release((b * per_batch + i) as u64))
                    .collect(),
                entries: (0..entries_per_batch)
                    .map(|i| entry((b * entries_per_batch + i) as u64))
                    .collect(),
            })
            .collect();
        let body = MblockBody {
            batches,
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        };
        let chain = "medchain-test".parse().unwrap();
        Mblock {
            header: MblockHeader {
                height: u64::MAX,
                parent: Hash32::EMPTY,
                tx_root: body.item_root(&chain),
                body_hash: body.hash(),
                timestamp_ms: u64::MAX,
                difficulty: u64::MAX,
                miner: Address::from_bytes([9; 32]),
                nonce: u64::MAX,
            },
            body,
        }
    }

    #[test]
    fn the_largest_messages_fit_the_bounds_the_network_is_sized_for() {
        let block = BlockMessage::Block(Box::new(full_block()));
        assert!(block.encode_size() <= MAX_MESSAGE_BYTES);
        let batch = SignedBatch {
            batch: HospitalBatch {
                hospital: Address::from_bytes([1; 32]),
                txs: (0..MAX_BATCH_TXS as u64).map(release).collect(),
                entries: (0..MAX_BATCH_ENTRIES as u64).map(entry).collect(),
            },
            signature: BlsSignature([7; BlsSignature::LEN]),
        };
        assert!(batch.encode_size() <= MAX_BATCH_BYTES);
    }

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let request = BlockMessage::Request(Hash32::EMPTY);
        assert!(matches!(
            BlockMessage::decode(request.encode()).unwrap(),
            BlockMessage::Request(hash) if hash == Hash32::EMPTY
        ));
        let block = full_block();
        let decoded = BlockMessage::decode(BlockMessage::Block(Box::new(block.clone())).encode());
        assert!(matches!(decoded, Ok(BlockMessage::Block(b)) if *b == block));
        let locator = BlockMessage::GetHeaders(vec![Hash32::EMPTY; MAX_LOCATOR]);
        assert!(matches!(
            BlockMessage::decode(locator.encode()),
            Ok(BlockMessage::GetHeaders(hashes)) if hashes.len() == MAX_LOCATOR
        ));
        let headers = BlockMessage::Headers(vec![block.header.clone(); MAX_SYNC_HEADERS]);
        assert!(headers.encode_size() <= MAX_MESSAGE_BYTES);
        assert!(matches!(
            BlockMessage::decode(headers.encode()),
            Ok(BlockMessage::Headers(got)) if got.len() == MAX_SYNC_HEADERS
        ));
        // Beyond the bounds, or empty: refused.
        for refused in [
            BlockMessage::GetHeaders(vec![Hash32::EMPTY; MAX_LOCATOR + 1]),
            BlockMessage::GetHeaders(Vec::new()),
            BlockMessage::Headers(vec![block.header.clone(); MAX_SYNC_HEADERS + 1]),
        ] {
            assert!(BlockMessage::decode(refused.encode()).is_err());
        }
        assert!(BlockMessage::decode(bytes::Bytes::from_static(&[4u8])).is_err());
        assert!(BlockMessage::decode(bytes::Bytes::from_static(&[0u8, 1, 2, 3])).is_err());
    }
}
