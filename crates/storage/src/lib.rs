//! medchain's durable application data, in redb: the committed state and its authenticated
//! tree, receipts, the transaction index, finalized blocks and their finalization
//! certificates, proofs pinned for good, and `last_applied`. It decides no validity: the
//! state machine (`medchain-state`) and consensus do; this crate makes their results
//! durable, atomically per block, and answers queries (with proofs) about them.
//!
//! ```text
//! let store = Store::open(path)?;
//! let snapshot = store.snapshot()?;                       // StateRead + TreeReader
//! let executed = BlockExecutor::new(&snapshot, env)?...finish()?;
//! store.commit(CommitBatch { block: &block, executed: &executed, finalization })?;
//! let proven = store.get_proven(keys::consent(&id).as_bytes())?;
//! ```

#![warn(missing_docs)]

mod commit;
mod error;
mod meta;
mod snapshot;
mod store;
mod tables;

pub use commit::{CommitBatch, CommitOutcome, PRUNE_EVERY};
pub use error::StorageError;
pub use meta::{LastApplied, TxLocation};
pub use snapshot::Snapshot;
pub use store::{
    DEFAULT_CACHE_BYTES, DEFAULT_KEEP_VERSIONS, LogEntry, MAX_LOG_PAGE, STORAGE_FORMAT, Store,
    StoreOptions, StoreStats,
};
