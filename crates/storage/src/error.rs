//! Typed storage errors.

use medchain_types::Hash32;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed (I/O, corruption detected by redb, a full disk).
    #[error("database: {0}")]
    Database(#[from] redb::Error),
    /// Bytes in the database do not decode: the file is damaged or from another version.
    #[error("corrupt {what} in the database: {reason}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Why it did not decode.
        reason: String,
    },
    /// A height already committed with another block: never overwritten.
    #[error("height {height} is committed with block {committed}, not {offered}")]
    Conflict {
        /// The height.
        height: u64,
        /// Digest of the committed block.
        committed: String,
        /// Digest of the block offered.
        offered: String,
    },
    /// Heights commit in order, each one above the last.
    #[error("expected height {expected}, got {got}")]
    NotContiguous {
        /// The next height to commit.
        expected: u64,
        /// The height offered.
        got: u64,
    },
    /// The block's parent is not the last committed block.
    #[error("block's parent is {got}, the last committed block is {expected}")]
    NotAChild {
        /// Digest of the last committed block.
        expected: String,
        /// The block's parent digest.
        got: String,
    },
    /// The block and its execution result disagree (a node bug: wrong executed layer).
    #[error("block and execution result disagree: {0}")]
    Mismatch(String),
    /// Nothing is committed yet.
    #[error("nothing is committed yet")]
    Empty,
    /// The height is above the last committed one.
    #[error("height {height} is not committed (last is {last})")]
    NotCommitted {
        /// The height asked for.
        height: u64,
        /// The last committed height.
        last: u64,
    },
    /// Tree versions below the retention window are pruned: no proofs there.
    #[error("state at height {height} is pruned (oldest kept: {oldest})")]
    Pruned {
        /// The height asked for.
        height: u64,
        /// The oldest height whose proofs still work.
        oldest: u64,
    },
    /// The database was written in another layout than this build's ([`crate::STORAGE_FORMAT`]);
    /// `found` is `None` for a store with data from before the layout was numbered. Nothing
    /// converts it (the chain is pre-release): the node rebuilds its data from its peers.
    #[error(
        "the database is {}, but this build reads storage format {expected} only and cannot convert it: move the node's data directory aside and let the node re-sync from its peers (on a local devnet, re-run `medchain init`)",
        describe_format(.found)
    )]
    Format {
        /// The format number the database holds.
        found: Option<u64>,
        /// The one this build reads.
        expected: u64,
    },
    /// The state machine failed on stored data (a proof, a tree read).
    #[error(transparent)]
    State(#[from] medchain_state::StateError),
}

impl StorageError {
    pub(crate) fn conflict(height: u64, committed: &Hash32, offered: &Hash32) -> Self {
        Self::Conflict {
            height,
            committed: hex(committed),
            offered: hex(offered),
        }
    }

    pub(crate) fn corrupt(what: &'static str, reason: impl ToString) -> Self {
        Self::Corrupt {
            what,
            reason: reason.to_string(),
        }
    }
}

fn describe_format(found: &Option<u64>) -> String {
    match found {
        Some(format) => format!("storage format {format}"),
        None => "from before storage formats were numbered".into(),
    }
}

pub(crate) fn hex(digest: &Hash32) -> String {
    hex::encode(digest)
}

macro_rules! from_redb {
    ($($error:ty),+) => {$(
        impl From<$error> for StorageError {
            fn from(error: $error) -> Self {
                Self::Database(error.into())
            }
        }
    )+};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
