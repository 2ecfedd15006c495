//! Receives finalized blocks from marshal, commits them with their finalization certificate,
//! and acknowledges them only once the commit is durable (docs/architecture.md § Finalization
//! and storage: never ack before the redb commit).

use crate::{chain::Chain, engine::MarshalMailbox, metrics::NodeMetrics};
use commonware_actor::Feedback;
use commonware_codec::Encode;
use commonware_consensus::{Heightable, Reporter, marshal::Update};
use commonware_cryptography::Digested;
use commonware_runtime::{Clock, Handle, Spawner, Supervisor};
use commonware_utils::{Acknowledgement, acknowledgement::Exact};
use futures::{StreamExt, channel::mpsc};
use medchain_types::Block;
use rand_core::CryptoRng;
use std::sync::Arc;
use tracing::{error, info};

type Delivery = (Digested<Block>, Exact);

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

/// Starts the commit task. It ends on a failure to commit a finalized block: that means this
/// node's state diverged, and continuing would serve wrong data, so `run` stops the process
/// when this task's handle completes.
pub fn spawn<E>(
    context: E,
    chain: Arc<Chain>,
    metrics: NodeMetrics,
    Deliveries(mut inbox): Deliveries,
    marshal: MarshalMailbox,
) -> Handle<()>
where
    E: Spawner + Clock + CryptoRng + Supervisor,
{
    context.spawn(move |context| async move {
        while let Some((block, ack)) = inbox.next().await {
            // Marshal holds the finalization of a block finalized through consensus; a block it
            // fetched to repair a gap below a later finalization comes without one (`None`),
            // and the API then serves proofs at the newest height that has a certificate.
            let finalization = marshal
                .get_finalization(block.height())
                .await
                .map(|finalization| finalization.encode());
            // The commit executes (if needed) and fsyncs: keep it off the async workers.
            let committing = chain.clone();
            let delivered = block.clone();
            let outcome = context
                .child("commit")
                .shared(true)
                .spawn(move |mut rng| async move {
                    committing.finalize(&mut rng, delivered.inner(), finalization.as_deref())
                })
                .await
                .map_err(|e| crate::chain::BlockError::State(e.to_string()))
                .and_then(|outcome| outcome);
            match outcome {
                Ok(finalized) => {
                    ack.acknowledge();
                    if !finalized.redelivered {
                        metrics.finalized(&context, block.inner(), chain.mempool().len());
                        info!(height = finalized.height, txs = finalized.txs, "finalized");
                    }
                }
                Err(err) => {
                    error!(%err, height = block.inner().number(), "cannot commit finalized block; stopping");
                    return;
                }
            }
        }
    })
}
