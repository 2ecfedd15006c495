//! Proof that a release tx_mr is in an Mblock: a Merkle path from its htxM to the header's
//! `tx_root` (commonware's binary Merkle tree, as [`medchain_types::med::tx_root`] builds
//! it). A light node holding only headers checks a record with it (S3 "PN").

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
    let mut builder = bmt::Builder::<Sha256>::new(block.body.txs().count());
    for tx in block.body.txs() {
        builder.add(&tx.htxm(chain_id));
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

/// Checks `inclusion` on `chain_id` and returns the record id (htxM) it proves.
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
