//! Transaction gossip: every validator forwards the transactions that became executable in its
//! mempool (admitted from its API, or promoted when a nonce gap filled) to all other validators
//! in small batches, so whichever validator leads the next view can include them. Queued
//! (gapped) transactions are never gossiped: they cost only the node that accepted them.
//!
//! Received batches are decoded with their own bounds ([`MAX_BATCH_TXS`] transactions, each
//! bounded like any transaction) and admitted through the same path as API submissions ([`Chain::admit`]): batch signature verification, nonce window,
//! dedup. Admitted transactions are not re-gossiped (validators are fully connected); only
//! those a batch makes executable here are ([`crate::chain::Origin::Peer`]).

use crate::chain::{Chain, Origin};
use bytes::BufMut;
use commonware_codec::{
    Buf, Copying, Decode, Encode, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write,
};
use commonware_macros::select;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Handle, Spawner};
use futures::{StreamExt, channel::mpsc};
use medchain_types::{PublicKey, Transaction, limits};
use rand_core::CryptoRng;
use std::{sync::Arc, time::Duration};
use tracing::debug;

/// Most transactions in one gossip message.
pub const MAX_BATCH_TXS: usize = 512;
/// Largest gossip message.
pub const MAX_BATCH_BYTES: usize = MAX_BATCH_TXS * limits::MAX_TX_BYTES + 8;
/// How long a transaction may wait for its batch to fill.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// A batch of transactions on the wire.
struct Batch(Vec<Transaction>);

impl Write for Batch {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for Batch {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

impl Read for Batch {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let count = usize::read_cfg(buf, &RangeCfg::from(1..=MAX_BATCH_TXS))?;
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            txs.push(Transaction::read(buf)?);
        }
        Ok(Self(txs))
    }
}

/// Hands admitted transactions to the gossip task.
#[derive(Clone)]
pub struct GossipHandle {
    outbox: mpsc::UnboundedSender<Transaction>,
}

impl GossipHandle {
    /// A handle that publishes to no one: for a node without peers (a single-validator chain,
    /// or an API served in isolation).
    pub fn disconnected() -> Self {
        let (outbox, _) = mpsc::unbounded();
        Self { outbox }
    }

    /// Queues a transaction for broadcast; dropped silently if the node is shutting down.
    pub fn publish(&self, tx: Transaction) {
        let _ = self.outbox.unbounded_send(tx);
    }
}

/// Starts the gossip task on `channel`.
pub fn start<E, S, R>(context: E, chain: Arc<Chain>, channel: (S, R)) -> (Handle<()>, GossipHandle)
where
    E: Spawner + Clock + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let (outbox, inbox) = mpsc::unbounded();
    let gossip = GossipHandle { outbox };
    chain.announce_with(gossip.clone());
    let handle = context.spawn(move |context| run(context, chain, channel, inbox));
    (handle, gossip)
}

async fn run<E, S, R>(
    mut context: E,
    chain: Arc<Chain>,
    (mut sender, mut receiver): (S, R),
    mut inbox: mpsc::UnboundedReceiver<Transaction>,
) where
    E: Clock + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let mut pending = Vec::new();
    let mut bytes = 0usize;
    let mut deadline = None;
    loop {
        let flush_at = deadline.unwrap_or_else(|| context.current() + Duration::from_secs(3600));
        select! {
            tx = inbox.next() => {
                let Some(tx) = tx else { return };
                bytes += tx.encode_size();
                pending.push(tx);
                deadline.get_or_insert_with(|| context.current() + FLUSH_INTERVAL);
                if pending.len() == MAX_BATCH_TXS || bytes + limits::MAX_TX_BYTES > MAX_BATCH_BYTES {
                    flush(&mut sender, &mut pending, &mut bytes);
                    deadline = None;
                }
            },
            _ = context.sleep_until(flush_at) => {
                flush(&mut sender, &mut pending, &mut bytes);
                deadline = None;
            },
            message = receiver.recv() => {
                let Ok((peer, payload)) = message else { return };
                match Batch::decode_cfg(Copying(payload.as_ref()), &()) {
                    Ok(Batch(txs)) => {
                        let admitted = chain.admit_from(&mut context, txs, Origin::Peer).iter().filter(|r| r.is_ok()).count();
                        debug!(%peer, admitted, "gossip batch");
                    }
                    Err(error) => debug!(%peer, %error, "malformed gossip batch"),
                }
            },
        }
    }
}

fn flush<S: Sender<PublicKey = PublicKey>>(
    sender: &mut S,
    pending: &mut Vec<Transaction>,
    bytes: &mut usize,
) {
    if pending.is_empty() {
        return;
    }
    let batch = Batch(std::mem::take(pending));
    *bytes = 0;
    sender.send(Recipients::All, batch.encode(), false);
}
