//! Small records the store keeps about commits and transactions.

use crate::{StorageError, tables};
use medchain_types::Hash32;

/// The last committed block: its height, digest, and the state root after it. Committed in
/// the same transaction as the state it describes, so it is never ahead of or behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastApplied {
    /// Height.
    pub height: u64,
    /// Block digest (header hash).
    pub block_digest: Hash32,
    /// State root after the block.
    pub state_root: Hash32,
}

impl LastApplied {
    const SIZE: usize = 8 + 32 + 32;

    pub(crate) fn to_bytes(self) -> Vec<u8> {
        [
            &self.height.to_be_bytes()[..],
            self.block_digest.as_ref(),
            self.state_root.as_ref(),
        ]
        .concat()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, StorageError> {
        if bytes.len() != Self::SIZE {
            return Err(StorageError::corrupt("last_applied", "wrong length"));
        }
        let height = tables::u64_at(bytes, "last_applied")?;
        // Every use counts from the next height; no chain gets near this one.
        if height == u64::MAX {
            return Err(StorageError::corrupt(
                "last_applied",
                "no height follows it",
            ));
        }
        Ok(Self {
            height,
            block_digest: tables::hash_at(&bytes[8..], "last_applied")?,
            state_root: tables::hash_at(&bytes[40..], "last_applied")?,
        })
    }
}

/// Where a transaction is: its block's height and its position in the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
}

impl TxLocation {
    pub(crate) const SIZE: usize = 12;

    pub(crate) fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut bytes = [0u8; Self::SIZE];
        bytes[..8].copy_from_slice(&self.height.to_be_bytes());
        bytes[8..].copy_from_slice(&self.index.to_be_bytes());
        bytes
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, StorageError> {
        let index: [u8; 4] = bytes
            .get(8..Self::SIZE)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| StorageError::corrupt("tx location", "wrong length"))?;
        Ok(Self {
            height: tables::u64_at(bytes, "tx location")?,
            index: u32::from_be_bytes(index),
        })
    }
}
