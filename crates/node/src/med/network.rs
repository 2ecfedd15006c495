//! The MED channels' task: sends what the service queues, answers requests for Mblocks, and
//! hands received Mblocks and batches to the service (see the module documentation of
//! [`super`] for the checks). Each channel's per-peer quota bounds what a peer can make us do;
//! a peer whose bytes are provably bad is blocked.

use super::{Accepted, BlockRefused, Mailbox, MedService, Outgoing, wire::BlockMessage};
use commonware_codec::{Copying, Decode, Encode};
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Handle, Spawner, Supervisor};
use futures::StreamExt;
use medchain_types::{PublicKey, med::SignedBatch};
use std::sync::Arc;
use tracing::debug;

/// Starts the MED network task on the `blocks` and `batches` channels.
pub fn start<E, S, R, B>(
    context: E,
    service: Arc<MedService>,
    mailbox: Mailbox,
    blocks: (S, R),
    batches: (S, R),
    blocker: B,
) -> Handle<()>
where
    E: Spawner + Supervisor,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    context.spawn(move |context| run(context, service, mailbox, blocks, batches, blocker))
}

/// Runs `check` on the runtime's blocking pool: verifying an Mblock's aggregate is up to a
/// few thousand pairings, which must not hold an async worker consensus shares.
async fn off_workers<E, T>(
    context: &E,
    service: &Arc<MedService>,
    check: impl FnOnce(&MedService) -> T + Send + 'static,
) -> Option<T>
where
    E: Spawner + Supervisor,
    T: Send + 'static,
{
    let service = service.clone();
    context
        .child("med_verify")
        .shared(true)
        .spawn(move |_| async move { check(&service) })
        .await
        .ok()
}

async fn run<E, S, R, B>(
    context: E,
    service: Arc<MedService>,
    Mailbox(mut outbox): Mailbox,
    (mut block_sender, mut block_receiver): (S, R),
    (mut batch_sender, mut batch_receiver): (S, R),
    mut blocker: B,
) where
    E: Spawner + Supervisor,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    loop {
        select! {
            outgoing = outbox.next() => {
                let Some(outgoing) = outgoing else { return };
                match outgoing {
                    Outgoing::Broadcast(message) => {
                        block_sender.send(Recipients::All, message.encode(), false);
                    }
                    Outgoing::To(peer, message) => {
                        block_sender.send(Recipients::One(peer), message.encode(), false);
                    }
                    Outgoing::Batch(batch) => {
                        batch_sender.send(Recipients::All, batch.encode(), false);
                    }
                }
            },
            message = block_receiver.recv() => {
                let Ok((peer, payload)) = message else { return };
                let (from, bytes) = (peer.clone(), payload.as_ref().to_vec());
                let reply = off_workers(&context, &service, move |service| {
                    on_block_message(service, &from, &bytes)
                })
                .await
                .flatten();
                if let Some(reply) = reply {
                    match reply {
                        Reply::Send(message) => {
                            block_sender.send(Recipients::One(peer), message.encode(), false);
                        }
                        Reply::Block => {
                            let _ = blocker.block(peer);
                        }
                    }
                }
            },
            message = batch_receiver.recv() => {
                let Ok((peer, payload)) = message else { return };
                let (from, bytes) = (peer.clone(), payload.as_ref().to_vec());
                let decoded = off_workers(&context, &service, move |service| {
                    on_batch(service, &from, &bytes)
                })
                .await;
                if decoded == Some(Err(())) {
                    let _ = blocker.block(peer);
                }
            },
        }
    }
}

/// What to do about a peer after its message.
enum Reply {
    /// Answer it.
    Send(BlockMessage),
    /// Block it: its bytes are provably bad.
    Block,
}

fn on_block_message(service: &MedService, peer: &PublicKey, payload: &[u8]) -> Option<Reply> {
    let message = match BlockMessage::decode_cfg(Copying(payload), &()) {
        Ok(message) => message,
        Err(error) => {
            debug!(%peer, %error, "undecodable MED block message");
            return Some(Reply::Block);
        }
    };
    match message {
        BlockMessage::Request(hash) => match service.block(&hash) {
            Ok(Some(block)) => Some(Reply::Send(BlockMessage::Block(Box::new(block)))),
            Ok(None) => None,
            Err(error) => {
                debug!(%error, %hash, "cannot read a requested Mblock");
                None
            }
        },
        BlockMessage::Block(block) => match service.accept_with_descendants(*block) {
            Ok(Accepted::Orphan { missing }) => {
                service.request(missing, Some(peer.clone()));
                None
            }
            Ok(_) => None,
            Err(refused) => on_refused(peer, &refused),
        },
    }
}

fn on_refused(peer: &PublicKey, refused: &BlockRefused) -> Option<Reply> {
    debug!(%peer, %refused, "refused an Mblock");
    refused.is_objective().then_some(Reply::Block)
}

/// Takes a peer's batch; `Err` when the bytes do not decode (the peer is then blocked). A
/// batch refused for its signers is only dropped: our SUP state may lag the peer's.
fn on_batch(service: &MedService, peer: &PublicKey, payload: &[u8]) -> Result<(), ()> {
    let batch = SignedBatch::decode_cfg(Copying(payload), &()).map_err(|error| {
        debug!(%peer, %error, "undecodable MED batch");
    })?;
    if let Err(refused) = service.submit_batch(batch, false) {
        debug!(%peer, %refused, "refused a MED batch");
    }
    Ok(())
}
