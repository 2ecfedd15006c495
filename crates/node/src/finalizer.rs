//! Receives finalized blocks from marshal, commits them with their finalization certificate,
//! and acknowledges them only once the commit is durable (docs/architecture.md § Finalization
//! and storage: never ack before the redb commit). After the last block of an epoch it also
//! moves consensus into the next epoch before the ack ([`crate::epochs`]).

use crate::{
    chain::{BlockError, Chain, Finalized},
    engine::MarshalMailbox,
    epochs::{self, EpochError, Epochs, PeerTracker, Transition},
    metrics::NodeMetrics,
};
use commonware_actor::Feedback;
use commonware_codec::Encode;
use commonware_consensus::{Heightable, Reporter, marshal::Update, types::FixedEpocher};
use commonware_cryptography::Digested;
use commonware_runtime::{Clock, Handle, Spawner, Supervisor};
use commonware_utils::{Acknowledgement, NZUsize, acknowledgement::Exact};
use futures::{StreamExt, channel::mpsc};
use medchain_types::Block;
use rand_core::CryptoRng;
use std::{num::NonZeroUsize, sync::Arc};
use tracing::{error, info};

type Delivery = (Digested<Block>, Exact);

/// Most finalized blocks committed in one write: marshal hands over this many before it waits
/// for their acknowledgements (`max_pending_acks`, [`crate::engine`]).
pub const MAX_GROUP: NonZeroUsize = NZUsize!(16);

/// Marshal's reporter: queues finalized blocks for the commit task.
#[derive(Clone)]
pub struct Finalizer {
    queue: mpsc::UnboundedSender<Delivery>,
}

/// The receiving end of a [`Finalizer`], consumed by [`spawn`].
pub struct Deliveries(mpsc::UnboundedReceiver<Delivery>);

/// A reporter for marshal and the queue it feeds.
pub fn channel() -> (Finalizer, Deliveries) {
    let (queue, inbox) = mpsc::unbounded();
    (Finalizer { queue }, Deliveries(inbox))
}

impl Reporter for Finalizer {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        if let Update::Block(block, ack) = activity {
            // If the commit task is gone the node is stopping; dropping the ack stops marshal,
            // which is what we want then.
            let _ = self.queue.unbounded_send((block, ack));
        }
        Feedback::Ok
    }
}

/// What the commit task drives besides the state: marshal (for certificates) and the epochs.
pub struct Consensus {
    /// Marshal, which holds each block's finalization certificate.
    pub marshal: MarshalMailbox,
    /// The running epochs.
    pub epochs: Epochs,
    /// The chain's epoch lengths.
    pub epocher: FixedEpocher,
    /// Told whom to connect to in each new epoch (none in a simulation, whose network links
    /// every node).
    pub peers: Option<Box<dyn PeerTracker>>,
}

/// Starts the commit task. It ends on a failure to commit a finalized block: that means this
/// node's state diverged, and continuing would serve wrong data, so `run` stops the process
/// when this task's handle completes.
pub fn spawn<E>(
    context: E,
    chain: Arc<Chain>,
    metrics: NodeMetrics,
    Deliveries(mut inbox): Deliveries,
    mut consensus: Consensus,
) -> Handle<()>
where
    E: Spawner + Clock + CryptoRng + Supervisor,
{
    context.spawn(move |context| async move {
        while let Some(first) = inbox.next().await {
            let group = drain_group(first, &mut inbox, &consensus.epocher);
            let mut certified = Vec::with_capacity(group.len());
            for (block, _) in &group {
                // Marshal holds the finalization of a block finalized through consensus; a block
                // it fetched to repair a gap below a later finalization comes without one
                // (`None`), and the API then serves proofs at the newest height that has a
                // certificate.
                let finalization = consensus
                    .marshal
                    .get_finalization(block.height())
                    .await
                    .map(|finalization| finalization.encode());
                certified.push((block.clone(), finalization));
            }
            let last = certified.last().map(|(block, _)| block.inner().clone());
            let outcome = match (commit(&context, &chain, certified).await, last) {
                (Ok(finalized), Some(last)) => enter_next_epoch(&chain, &mut consensus, &last)
                    .await
                    .map(|()| finalized),
                (outcome, _) => outcome,
            };
            let finalized = match outcome {
                Ok(finalized) => finalized,
                Err(err) => {
                    let height = group.first().map(|(block, _)| block.inner().number());
                    error!(%err, ?height, "cannot follow the finalized chain; stopping");
                    return;
                }
            };
            // Durable (and in the next epoch, after its last block): only now acknowledged.
            for ((block, ack), finalized) in group.into_iter().zip(finalized) {
                ack.acknowledge();
                if !finalized.redelivered {
                    metrics.finalized(&context, block.inner(), chain.mempool().len());
                    info!(height = finalized.height, txs = finalized.txs, "finalized");
                }
            }
        }
    })
}

/// `first` and the deliveries marshal has already queued behind it, in height order: at most
/// [`MAX_GROUP`], and ending at the last block of an epoch, since consensus must enter the next
/// epoch before any of its blocks is taken in.
fn drain_group(
    first: Delivery,
    inbox: &mut mpsc::UnboundedReceiver<Delivery>,
    epocher: &FixedEpocher,
) -> Vec<Delivery> {
    let ends_epoch =
        |(block, _): &Delivery| epochs::boundary_after(epocher, block.inner().number()).is_some();
    let mut group = vec![first];
    while group.len() < MAX_GROUP.get() && !group.last().is_some_and(ends_epoch) {
        match inbox.try_recv() {
            Ok(delivery) => group.push(delivery),
            Err(_) => break,
        }
    }
    group
}

/// Why a finalized block could not be taken in.
#[derive(Debug, thiserror::Error)]
enum FollowError {
    /// Its commit failed.
    #[error("cannot commit the block: {0}")]
    Commit(#[from] BlockError),
    /// The epoch it ends could not be left.
    #[error("cannot enter the next epoch: {0}")]
    Epoch(#[from] EpochError),
}

/// Commits `blocks` in one durable write; it executes (if needed) and fsyncs, so it runs off
/// the async workers.
async fn commit<E>(
    context: &E,
    chain: &Arc<Chain>,
    blocks: Vec<(Digested<Block>, Option<bytes::Bytes>)>,
) -> Result<Vec<Finalized>, FollowError>
where
    E: Spawner + Supervisor + CryptoRng,
{
    let committing = chain.clone();
    let outcome = context
        .child("commit")
        .shared(true)
        .spawn(move |mut rng| async move {
            let group: Vec<(&Block, Option<&[u8]>)> = blocks
                .iter()
                .map(|(block, finalization)| (block.inner(), finalization.as_deref()))
                .collect();
            committing.finalize_group(&mut rng, &group)
        })
        .await
        .map_err(|e| BlockError::State(e.to_string()))?;
    Ok(outcome?)
}

/// After the last block of an epoch is committed (again, after a restart), enters the next
/// epoch with the set that block's state elected; a no-op for any other block.
async fn enter_next_epoch(
    chain: &Chain,
    consensus: &mut Consensus,
    block: &Block,
) -> Result<(), FollowError> {
    let Some(next) = epochs::boundary_after(&consensus.epocher, block.number()) else {
        return Ok(());
    };
    let state = chain
        .store()
        .snapshot()
        .map_err(|e| EpochError::State(e.to_string()))?;
    let participants = epochs::committed_set(&state, next)?;
    if let Some(peers) = &mut consensus.peers {
        peers.track(block.number(), epochs::committed_peers(&state, next)?);
    }
    // `false` means the node is stopping; the ack that follows is then harmless.
    consensus
        .epochs
        .transition(Transition {
            epoch: next,
            participants,
            floor: block.digest(),
        })
        .await;
    Ok(())
}
