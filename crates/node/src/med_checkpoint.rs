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
//!
//! MED freshness must not veto SUP (review R4): the proposer checkpoints only Mblocks it has
//! held for a while, and a voter that lacks one asks for it and waits a bounded
//! [`CHECKPOINT_WAIT`] ([`wait_until_known`]) before judging the proposal — well within the
//! time simplex gives a vote.

use commonware_runtime::Clock;
use medchain_types::{Address, Hash32, med::Checkpoint};
use std::time::Duration;

/// Longest a voter waits for the Mblocks a proposal checkpoints (fetched when `knows` says
/// no): half the default certification timeout, so the vote still comes in time.
pub const CHECKPOINT_WAIT: Duration = Duration::from_secs(1);
/// How often the voter looks again meanwhile.
const CHECKPOINT_POLL: Duration = Duration::from_millis(50);

/// The MED side of SUP's checkpointing.
pub trait CheckpointSource: Send + Sync {
    /// What this proposer checkpoints now in a SUP block whose parent's state checkpointed
    /// up to the Mblock `after` (finalized or not: SUP builds on notarized blocks): the branch
    /// chosen by S3-supervise's rules (its first Mblock's parent is `after`; the longest; the
    /// smallest Merkle root on a tie), empty if nothing new.
    fn propose(&self, after: &Hash32) -> Checkpoint;
    /// Whether every Mblock of `checkpoint` is one this validator knows as fully valid (from
    /// where the branch starts: execution checks that on the parent's state). What it lacks
    /// is asked of `proposer` first (the block's proposer holds it), not of every peer.
    fn knows(&self, checkpoint: &Checkpoint, proposer: &Address) -> bool;
    /// A finalized SUP block proposed by `proposer` checkpointed `checkpoint`.
    fn finalized(&self, checkpoint: &Checkpoint, proposer: &Address);
}

/// Waits until `knows` holds or [`CHECKPOINT_WAIT`] has passed on `clock`; whether it holds.
/// `knows` asks the MED source, which fetches what it lacks the first time it is asked.
pub async fn wait_until_known(clock: &impl Clock, knows: impl Fn() -> bool) -> bool {
    let deadline = clock.current() + CHECKPOINT_WAIT;
    loop {
        if knows() {
            return true;
        }
        if clock.current() >= deadline {
            return false;
        }
        clock.sleep(CHECKPOINT_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{Runner as _, Spawner as _, Supervisor as _, deterministic};
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    /// An Mblock that arrives while the voter waits gets the proposal judged with it; one
    /// that never arrives ends the wait at [`CHECKPOINT_WAIT`], not later.
    #[test]
    fn a_voter_waits_a_bounded_time_for_a_checkpointed_mblock() {
        deterministic::Runner::default().start(|context| async move {
            let arrived = Arc::new(AtomicBool::new(false));
            let delivery = arrived.clone();
            context.child("delivery").spawn(move |context| async move {
                context.sleep(CHECKPOINT_WAIT / 2).await;
                delivery.store(true, Ordering::Release);
            });
            let start = context.current();
            assert!(wait_until_known(&context, || arrived.load(Ordering::Acquire)).await);
            assert!(context.current() < start + CHECKPOINT_WAIT);

            let start = context.current();
            assert!(!wait_until_known(&context, || false).await);
            let waited = context.current().duration_since(start).unwrap();
            assert!(waited >= CHECKPOINT_WAIT && waited < CHECKPOINT_WAIT + CHECKPOINT_POLL * 2);
        });
    }
}
