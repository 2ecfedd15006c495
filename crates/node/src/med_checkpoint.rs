//! Where SUP blocks get their MED checkpoints from (S3-supervise): the node's MED service
//! implements [`CheckpointSource`] over its Mblock tree and hands it to
//! [`crate::chain::Chain::with_med`]. A chain without one (no MED parameters in the genesis)
//! builds blocks that checkpoint nothing, and refuses any block that checkpoints something.
//!
//! The SUP validators' part of supervision: a proposer checkpoints the branch
//! [`CheckpointSource::propose`] chooses by the fixed rules; a validator votes for a block only
//! if [`CheckpointSource::knows`] every Mblock of its checkpoint as fully valid (aggregate
//! signature verified), so 2f + 1 votes mean at least f + 1 honest validators checked it;
//! execution then re-checks what is deterministic (`medchain_state::med`); and once the block
//! is finalized, [`CheckpointSource::finalized`] moves MED's checkpointed tip, below which no
//! reorganisation is accepted.

use medchain_types::med::Checkpoint;

/// The MED side of SUP's checkpointing.
pub trait CheckpointSource: Send + Sync {
    /// What this proposer checkpoints now: the branch chosen by S3-supervise's rules (its
    /// parent is the newest checkpointed Mblock; the longest; the smallest Merkle root on a
    /// tie), empty if nothing new.
    fn propose(&self) -> Checkpoint;
    /// Whether every Mblock of `checkpoint` is one this validator knows as fully valid.
    fn knows(&self, checkpoint: &Checkpoint) -> bool;
    /// A finalized SUP block checkpointed `checkpoint`.
    fn finalized(&self, checkpoint: &Checkpoint);
}
