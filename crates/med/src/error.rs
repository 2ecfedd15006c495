//! Why the MED chain refused an Mblock or a request, typed so callers (the node's gossip, the
//! miner, the light client) can tell "fetch the parent" from "drop this peer's block".

use medchain_types::{EntryId, Hash32, RecordId, med::MedParamsError};

/// A refused Mblock, checkpoint update, or a storage failure.
#[derive(Debug, thiserror::Error)]
pub enum MedError {
    /// The parent is not in the tree: fetch it from the peer, then retry.
    #[error("unknown parent Mblock {0}")]
    UnknownParent(Hash32),
    /// The Mblock is already in the tree (nothing to do, nothing to relay).
    #[error("Mblock {0} is already known")]
    AlreadyKnown(Hash32),
    /// The Mblock is not in the tree.
    #[error("unknown Mblock {0}")]
    UnknownBlock(Hash32),
    /// The body breaks a structural limit (built rather than decoded: decoding refuses it).
    #[error("malformed Mblock body: {0}")]
    Malformed(&'static str),
    /// The header's `tx_root` or `body_hash` does not commit to the body it came with.
    #[error("the header does not commit to this body (tx_root or body_hash differs)")]
    BodyMismatch,
    /// The height is not the parent's plus one.
    #[error("height {got} is not the parent's height plus one ({expected})")]
    WrongHeight {
        /// The parent's height plus one.
        expected: u64,
        /// The header's height.
        got: u64,
    },
    /// The header names another parent than the one it is checked against.
    #[error("the header's parent is {got}, expected {expected}")]
    WrongParent {
        /// The hash of the parent it was checked against.
        expected: Hash32,
        /// The parent the header names.
        got: Hash32,
    },
    /// The claimed difficulty is not the one retargeting requires.
    #[error("difficulty {got} is not the retargeted difficulty {expected}")]
    WrongDifficulty {
        /// What [`crate::pow::next_difficulty`] requires.
        expected: u64,
        /// What the header claims.
        got: u64,
    },
    /// The header's hash does not meet its difficulty.
    #[error("the header's hash does not meet its difficulty {difficulty}")]
    InsufficientWork {
        /// The claimed difficulty.
        difficulty: u64,
    },
    /// The timestamp is not after the median time past of its ancestors.
    #[error("timestamp {timestamp_ms} is not after the median time past {median_time_past_ms}")]
    TimestampTooOld {
        /// The header's timestamp.
        timestamp_ms: u64,
        /// The median of the recent ancestors' timestamps.
        median_time_past_ms: u64,
    },
    /// The timestamp is too far ahead of this node's clock; retry once the clock catches up.
    #[error("timestamp {timestamp_ms} is after the latest acceptable {latest_ms}")]
    TimestampInFuture {
        /// The header's timestamp.
        timestamp_ms: u64,
        /// This node's clock plus the allowed drift.
        latest_ms: u64,
    },
    /// The Mblock does not descend from the newest SUP checkpoint (S3-supervise): it would
    /// reorganise checkpointed records. Also the answer for an Mblock at or below the
    /// checkpoint's height whose parent is unknown: it can never be accepted, so there is
    /// nothing to fetch.
    #[error("Mblock {block} does not descend from the checkpointed Mblock {checkpointed}")]
    NotAfterCheckpoint {
        /// The refused Mblock (or checkpoint tip).
        block: Hash32,
        /// The newest checkpointed Mblock.
        checkpointed: Hash32,
    },
    /// The Mblock carries a release twice (the one aggregate would count its signature
    /// twice; SUP would import it once).
    #[error("release {0} appears twice in the Mblock")]
    DuplicateRelease(RecordId),
    /// The Mblock carries a release already in one of its ancestors (checkpointed or not): a
    /// replayed release or batch, copied from an earlier Mblock.
    #[error("release {record} is already in the ancestor Mblock {mblock}")]
    ReplayedRelease {
        /// The replayed release.
        record: RecordId,
        /// The ancestor that already carries it.
        mblock: Hash32,
    },
    /// A release's `issued_at_ms` is more than `RELEASE_VALIDITY_MS` away from the Mblock's
    /// timestamp: stale (or post-dated); the doctor signs it again.
    #[error(
        "release {record} issued at {issued_at_ms} is too far from the Mblock's timestamp {timestamp_ms}"
    )]
    StaleRelease {
        /// The release.
        record: RecordId,
        /// When its doctor says it was issued.
        issued_at_ms: u64,
        /// The Mblock's timestamp.
        timestamp_ms: u64,
    },
    /// An entry's `issued_at_ms` is more than `RELEASE_VALIDITY_MS` from its Mblock's
    /// timestamp: stale (or post-dated); the patient signs it again.
    #[error(
        "entry {entry} issued at {issued_at_ms} is too far from the Mblock's timestamp {timestamp_ms}"
    )]
    StaleEntry {
        /// The entry.
        entry: EntryId,
        /// When its patient says it was issued.
        issued_at_ms: u64,
        /// The Mblock's timestamp.
        timestamp_ms: u64,
    },
    /// The tree holds `MAX_SIDE_MBLOCKS` Mblocks off the best chain, each at least as heavy as
    /// this one would be: it is dropped (it may be offered again once it is heavier, or after
    /// a checkpoint pruned the forks).
    #[error("too many forks above the checkpoint; Mblock {0} is lighter than all of them")]
    TooManyForks(Hash32),
    /// The chain's parameters are unusable.
    #[error("MED parameters: {0}")]
    Params(#[from] MedParamsError),
    /// The database failed (I/O, a full disk, corruption redb detected).
    #[error("MED database: {0}")]
    Database(#[from] redb::Error),
    /// Bytes in the database do not decode or do not link: the file is damaged or belongs to
    /// another chain (another genesis).
    #[error("corrupt MED database: {0}")]
    Corrupt(String),
}
