//! Proof that a release tx_mr is in an Mblock: a Merkle path from its htxM to the header's
//! `tx_root` (commonware's binary Merkle tree, as [`medchain_types::med::item_root`] builds
//! it; releases come first, so a release's leaf index is its index in body order). A light node holding only headers checks a record with it (S3 "PN").

use commonware_codec::{Copying, Decode, Encode};
use commonware_cryptography::Sha256;
use commonware_storage::bmt::{self, Proof};
use medchain_types::{
    ChainId, Hash32, RecordId,
    med::{Mblock, MblockHeader, TxMr},
};
use serde::{Deserialize, Serialize};

/// A release, its place in an Mblock, and the Merkle proof binding them to the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordInclusion {
    /// The Mblock's header (its hash is the Mblock's id).
    pub header: MblockHeader,
    /// The release's position in body order (batch after batch).
    pub index: u32,
    /// The release.
    pub tx: TxMr,
    /// The codec-encoded commonware bmt proof (hex in JSON).
    #[serde(with = "hex::serde")]
    pub proof: Vec<u8>,
}

/// Why an inclusion proof is refused.
#[derive(Debug, thiserror::Error)]
pub enum InclusionError {
    /// The proof bytes are not a single-element Merkle proof.
    #[error("the inclusion proof is malformed: {0}")]
    Malformed(#[from] commonware_codec::Error),
    /// The proof does not lead from the release at its index to the header's `tx_root`.
    #[error("the release is not at index {index} of Mblock {mblock}: {reason}")]
    NotIncluded {
        /// The claimed index.
        index: u32,
        /// The Mblock's hash.
        mblock: Hash32,
        /// What the Merkle check found.
        reason: bmt::Error,
    },
}

/// The inclusion of the `index`th release of `block` (body order) on `chain_id` (the leaves,
/// htxM, are bound to the chain). `None` if there is no such release or the block's
/// `tx_root` is not the root of its releases on `chain_id`.
pub fn prove(chain_id: &ChainId, block: &Mblock, index: u32) -> Option<RecordInclusion> {
    let leaves = block.body.item_leaves(chain_id);
    let mut builder = bmt::Builder::<Sha256>::new(leaves.len());
    for leaf in &leaves {
        builder.add(leaf);
    }
    let tree = builder.build();
    if tree.root() != block.header.tx_root {
        return None;
    }
    let proof = tree.proof(index).ok()?;
    let tx = block.body.txs().nth(usize::try_from(index).ok()?)?.clone();
    Some(RecordInclusion {
        header: block.header.clone(),
        index,
        tx,
        proof: proof.encode().to_vec(),
    })
}

/// Checks `inclusion` on `chain_id` and returns the record id (htxM) it proves. Only the
/// Merkle path is checked here: whether the header is a valid Mblock on the chain (proof of
/// work, linkage, a SUP checkpoint above it) is the caller's, which holds the headers.
pub fn verify_inclusion(
    chain_id: &ChainId,
    inclusion: &RecordInclusion,
) -> Result<RecordId, InclusionError> {
    // A single-element proof carries at most one sibling per tree level.
    let proof = Proof::<Hash32>::decode_cfg(Copying(inclusion.proof.as_slice()), &1)?;
    let htxm = inclusion.tx.htxm(chain_id);
    proof
        .verify_element_inclusion::<Sha256>(&htxm, inclusion.index, &inclusion.header.tx_root)
        .map_err(|reason| InclusionError::NotIncluded {
            index: inclusion.index,
            mblock: inclusion.header.hash(),
            reason,
        })?;
    Ok(RecordId(htxm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Digest as _, Signer as _};
    use medchain_types::{
        Address, BlsSignature, ContentHash, PrivateKey,
        med::{HospitalBatch, MblockBody},
    };

    fn chain() -> ChainId {
        ChainId::new("medchain-test").unwrap()
    }

    fn address(seed: u64) -> Address {
        Address::from(PrivateKey::from_seed(seed).public_key())
    }

    fn release(n: u8) -> TxMr {
        TxMr {
            doctor: address(1),
            patient: address(2),
            record_hash: ContentHash::of(&[n]),
            issued_at_ms: 1_700_000_000_000 + u64::from(n),
        }
    }

    /// An Mblock of two batches holding releases `first..first + 5` and an entry each (7
    /// leaves: an odd level on the way up; the entries' leaves come after every release's).
    /// Inclusion does not look at the signature.
    fn block(first: u8) -> Mblock {
        let batch = |range: std::ops::Range<u8>| HospitalBatch {
            hospital: address(3),
            entries: vec![medchain_types::med::EntryMr {
                patient: address(2),
                entry: medchain_types::EntryBytes(vec![range.start; 8]),
                issued_at_ms: 1_700_000_000_000,
            }],
            txs: range.map(release).collect(),
        };
        let body = MblockBody {
            batches: vec![batch(first..first + 3), batch(first + 3..first + 5)],
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        };
        Mblock {
            header: MblockHeader {
                height: 1,
                parent: Hash32::EMPTY,
                tx_root: body.item_root(&chain()),
                body_hash: body.hash(),
                timestamp_ms: 1_700_000_000_000,
                difficulty: 16,
                miner: address(4),
                nonce: 0,
            },
            body,
        }
    }

    #[test]
    fn every_release_of_a_block_is_proven_against_its_header() {
        let block = block(0);
        for (index, tx) in block.body.txs().enumerate() {
            let inclusion = prove(&chain(), &block, index as u32).unwrap();
            assert_eq!(&inclusion.tx, tx);
            assert_eq!(
                verify_inclusion(&chain(), &inclusion).unwrap(),
                tx.record_id(&chain())
            );
            let json = serde_json::to_string(&inclusion).unwrap();
            assert_eq!(
                serde_json::from_str::<RecordInclusion>(&json).unwrap(),
                inclusion
            );
        }
        assert!(prove(&chain(), &block, 5).is_none());
        // Proving on another chain: the header does not commit to those leaves.
        assert!(prove(&ChainId::new("other-chain").unwrap(), &block, 0).is_none());
    }

    #[test]
    fn a_proof_for_another_leaf_index_header_or_chain_fails() {
        let block = block(0);
        let inclusion = prove(&chain(), &block, 1).unwrap();
        let refused = |inclusion: &RecordInclusion, chain_id: &ChainId| {
            matches!(
                verify_inclusion(chain_id, inclusion),
                Err(InclusionError::NotIncluded { .. })
            )
        };
        let mut other_leaf = inclusion.clone();
        other_leaf.tx = release(2);
        assert!(refused(&other_leaf, &chain()));
        let mut altered_leaf = inclusion.clone();
        altered_leaf.tx.issued_at_ms += 1;
        assert!(refused(&altered_leaf, &chain()));
        for index in [0, 2, 4, 5, u32::MAX] {
            let mut other_index = inclusion.clone();
            other_index.index = index;
            assert!(refused(&other_index, &chain()));
        }
        let mut other_header = inclusion.clone();
        other_header.header = block_with_other_txs().header;
        assert!(refused(&other_header, &chain()));
        assert!(refused(&inclusion, &ChainId::new("other-chain").unwrap()));
        // A proof from another block, paired with this header.
        let mut foreign_proof = inclusion.clone();
        foreign_proof.proof = prove(&chain(), &block_with_other_txs(), 1).unwrap().proof;
        assert!(refused(&foreign_proof, &chain()));
    }

    fn block_with_other_txs() -> Mblock {
        block(10)
    }

    #[test]
    fn malformed_proof_bytes_are_an_error_never_a_panic() {
        let inclusion = prove(&chain(), &block(0), 3).unwrap();
        let good = inclusion.proof.clone();
        let mut trailing = good.clone();
        trailing.push(0);
        let mut huge_count = good[..4].to_vec();
        huge_count.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        let candidates = [
            Vec::new(),
            vec![0; 3],
            good[..good.len() - 1].to_vec(),
            trailing,
            huge_count,
            vec![0xff; 300],
        ];
        for proof in candidates {
            let malformed = RecordInclusion {
                proof,
                ..inclusion.clone()
            };
            assert!(matches!(
                verify_inclusion(&chain(), &malformed),
                Err(InclusionError::Malformed(_))
            ));
        }
        // Well-formed but wrong: a leaf count of zero, or of another tree size.
        let mut empty_tree = Proof::<Hash32>::default().encode().to_vec();
        assert!(
            verify_inclusion(
                &chain(),
                &RecordInclusion {
                    proof: std::mem::take(&mut empty_tree),
                    ..inclusion.clone()
                }
            )
            .is_err()
        );
        let mut resized = Proof::<Hash32>::decode_cfg(Copying(good.as_slice()), &1).unwrap();
        resized.leaf_count += 1;
        assert!(matches!(
            verify_inclusion(
                &chain(),
                &RecordInclusion {
                    proof: resized.encode().to_vec(),
                    ..inclusion
                }
            ),
            Err(InclusionError::NotIncluded { .. })
        ));
    }
}
