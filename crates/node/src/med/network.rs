//! The MED channels' task: sends what the service queues, answers requests for Mblocks, and
//! hands received Mblocks and batches to the service (see the module documentation of
//! [`super`] for the checks). Each channel's per-peer quota bounds what a peer can send us.
//!
//! The task itself never verifies anything (review R3): a received message joins its peer's
//! queue (bounded; a peer's messages are handled in order, one at a time) and at most
//! [`MAX_WORKERS`] messages are handled at once on the runtime's blocking pool, taking peers in
//! turn. So a peer sending junk that costs pairings delays only its own queue and one worker,
//! never this node's announcements, answers or other peers' blocks. A peer whose bytes are
//! provably bad is muted at once; one whose aggregates fail to verify over keys we know is
//! muted after [`MAX_STRIKES`] of them (a refusal remembered counts, so resending the same
//! junk ends the same way, without the pairings).
//!
//! Muted, not blocked: MED never calls the p2p blocker, which would cut the peer's whole
//! connection — SUP votes, certificates and block resolution included — for half an hour. A
//! MED refusal that misjudged an honest validator (our state lagging, a version skew, a bug)
//! once blocked validators from each other until SUP lost its quorum; now the worst it costs is
//! that peer's MED messages to us for [`MUTE_DURATION`]. A muted peer's messages are dropped on
//! arrival, before any decoding, so junk costs us no more than the channels' quotas allow.

use super::{Accepted, Mailbox, MedService, Outgoing, Penalty, wire::BlockMessage};
use commonware_codec::{Copying, Decode, Encode};
use commonware_macros::select;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Handle, Spawner, Supervisor};
use futures::{StreamExt, channel::mpsc};
use medchain_types::{PublicKey, med::SignedBatch};
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::Arc,
    time::{Duration, SystemTime},
};
use tracing::{debug, warn};

/// Messages handled at the same time (each may verify an aggregate: up to a few thousand
/// pairings), on the runtime's blocking pool.
pub const MAX_WORKERS: usize = 2;
/// Messages waiting per peer, and their bytes (a few full Mblocks): beyond, a peer's newest
/// messages are dropped (an honest one announces again, or is asked).
const MAX_QUEUED_PER_PEER: usize = 64;
const MAX_QUEUED_BYTES_PER_PEER: usize = 8 << 20;
/// Aggregates that fail to verify before their sender is muted.
pub const MAX_STRIKES: u32 = 3;
/// How long a muted peer's MED messages are dropped.
pub const MUTE_DURATION: Duration = Duration::from_secs(10 * 60);

/// Starts the MED network task on the `blocks` and `batches` channels.
pub fn start<E, S, R>(
    context: E,
    service: Arc<MedService>,
    mailbox: Mailbox,
    blocks: (S, R),
    batches: (S, R),
) -> Handle<()>
where
    E: Spawner + Supervisor + Clock,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    context.spawn(move |context| {
        let task = Task {
            service,
            queues: BTreeMap::new(),
            busy: BTreeSet::new(),
            penalties: Penalties::default(),
            turn: None,
        };
        task.run(context, mailbox, blocks, batches)
    })
}

/// Strikes and mutes, per peer. Time is passed in (the runtime's clock), so this is plain data.
#[derive(Default)]
struct Penalties {
    strikes: BTreeMap<PublicKey, u32>,
    /// Until when each muted peer's messages are dropped.
    muted: BTreeMap<PublicKey, SystemTime>,
}

impl Penalties {
    /// Records `penalty` against `peer` at `now`; whether it mutes the peer now.
    fn record(&mut self, peer: &PublicKey, penalty: Penalty, now: SystemTime) -> bool {
        let mute = match penalty {
            Penalty::None => false,
            Penalty::Mute => true,
            Penalty::Strike => {
                let strikes = self.strikes.entry(peer.clone()).or_default();
                *strikes += 1;
                *strikes >= MAX_STRIKES
            }
        };
        if mute {
            self.strikes.remove(peer);
            self.muted.insert(peer.clone(), now + MUTE_DURATION);
        }
        mute
    }

    /// Whether `peer` is muted at `now` (a mute that ran out is forgotten).
    fn is_muted(&mut self, peer: &PublicKey, now: SystemTime) -> bool {
        match self.muted.get(peer) {
            Some(until) if now < *until => true,
            Some(_) => {
                self.muted.remove(peer);
                false
            }
            None => false,
        }
    }
}

/// On which channel a message came.
#[derive(Clone, Copy)]
enum Channel {
    Blocks,
    Batches,
}

/// A received message waiting for a worker.
struct Work {
    channel: Channel,
    bytes: Vec<u8>,
}

/// What a worker found, for the task to act on.
enum Outcome {
    /// Nothing to do.
    Done,
    /// Answer the peer.
    Send(BlockMessage),
    /// Penalise the peer, for this refusal.
    Penalty(Penalty, String),
}

/// A peer's waiting messages.
#[derive(Default)]
struct Queue {
    messages: VecDeque<Work>,
    bytes: usize,
}

struct Task {
    service: Arc<MedService>,
    queues: BTreeMap<PublicKey, Queue>,
    /// Peers with a message being handled.
    busy: BTreeSet<PublicKey>,
    penalties: Penalties,
    /// The peer served last: the next worker goes to the one after it.
    turn: Option<PublicKey>,
}

impl Task {
    async fn run<E, S, R>(
        mut self,
        context: E,
        Mailbox(mut outbox): Mailbox,
        (mut block_sender, mut block_receiver): (S, R),
        (mut batch_sender, mut batch_receiver): (S, R),
    ) where
        E: Spawner + Supervisor + Clock,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        let (done, mut finished) = mpsc::unbounded::<(PublicKey, Outcome)>();
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
                    self.enqueue(peer, Channel::Blocks, payload.as_ref(), context.current());
                },
                message = batch_receiver.recv() => {
                    let Ok((peer, payload)) = message else { return };
                    self.enqueue(peer, Channel::Batches, payload.as_ref(), context.current());
                },
                result = finished.next() => {
                    // The task holds a sender itself: the stream never ends.
                    let Some((peer, outcome)) = result else { return };
                    self.busy.remove(&peer);
                    match outcome {
                        Outcome::Done => {}
                        Outcome::Send(message) => {
                            block_sender.send(Recipients::One(peer), message.encode(), false);
                        }
                        Outcome::Penalty(penalty, refused) => {
                            if self.penalties.record(&peer, penalty, context.current()) {
                                warn!(
                                    %peer, %refused, minutes = MUTE_DURATION.as_secs() / 60,
                                    "muting a MED peer (its SUP connection stays up)"
                                );
                                self.queues.remove(&peer);
                                self.service.forget_peer(&peer);
                            }
                        }
                    }
                },
            }
            self.dispatch(&context, &done);
        }
    }

    /// Queues a peer's message, unless the peer is muted or its queue is full.
    fn enqueue(&mut self, peer: PublicKey, channel: Channel, bytes: &[u8], now: SystemTime) {
        if self.penalties.is_muted(&peer, now) {
            debug!(%peer, "dropping a muted MED peer's message");
            return;
        }
        let queue = self.queues.entry(peer).or_default();
        if queue.messages.len() >= MAX_QUEUED_PER_PEER
            || queue.bytes + bytes.len() > MAX_QUEUED_BYTES_PER_PEER
        {
            debug!("a MED peer's queue is full; dropping its message");
            return;
        }
        queue.bytes += bytes.len();
        queue.messages.push_back(Work {
            channel,
            bytes: bytes.to_vec(),
        });
    }

    /// Hands waiting messages to free workers, taking the peers in turn.
    fn dispatch<E: Spawner + Supervisor>(
        &mut self,
        context: &E,
        done: &mpsc::UnboundedSender<(PublicKey, Outcome)>,
    ) {
        while self.busy.len() < MAX_WORKERS {
            let Some(peer) = self.next_peer() else { return };
            let Some(work) = self.take(&peer) else { return };
            self.busy.insert(peer.clone());
            self.turn = Some(peer.clone());
            let (service, done) = (self.service.clone(), done.clone());
            context
                .child("med_verify")
                .shared(true)
                .spawn(move |_| async move {
                    let outcome = handle(&service, &peer, work);
                    // The task is gone only when the node stops.
                    let _ = done.unbounded_send((peer, outcome));
                });
        }
    }

    /// The first idle peer with a waiting message after the one served last, wrapping round.
    fn next_peer(&self) -> Option<PublicKey> {
        let ready = |(peer, queue): (&PublicKey, &Queue)| {
            (!queue.messages.is_empty() && !self.busy.contains(peer)).then(|| peer.clone())
        };
        let after = match &self.turn {
            Some(turn) => self
                .queues
                .range((std::ops::Bound::Excluded(turn), std::ops::Bound::Unbounded))
                .find_map(ready),
            None => None,
        };
        after.or_else(|| self.queues.iter().find_map(ready))
    }

    /// A peer's oldest waiting message (an emptied queue is forgotten).
    fn take(&mut self, peer: &PublicKey) -> Option<Work> {
        let queue = self.queues.get_mut(peer)?;
        let work = queue.messages.pop_front()?;
        queue.bytes -= work.bytes.len();
        if queue.messages.is_empty() {
            self.queues.remove(peer);
        }
        Some(work)
    }
}

/// Handles one message (on a worker).
fn handle(service: &MedService, peer: &PublicKey, work: Work) -> Outcome {
    // A peer on the MED channels: one to ask for missing Mblocks in turn (review R9).
    service.heard_from(peer);
    match work.channel {
        Channel::Blocks => on_block_message(service, peer, &work.bytes),
        Channel::Batches => on_batch(service, peer, &work.bytes),
    }
}

fn on_block_message(service: &MedService, peer: &PublicKey, payload: &[u8]) -> Outcome {
    let message = match BlockMessage::decode_cfg(Copying(payload), &()) {
        Ok(message) => message,
        Err(error) => {
            debug!(%peer, %error, "undecodable MED block message");
            return Outcome::Penalty(Penalty::Mute, format!("undecodable: {error}"));
        }
    };
    match message {
        BlockMessage::Request(hash) => match service.block(&hash) {
            Ok(Some(block)) => Outcome::Send(BlockMessage::Block(Box::new(block))),
            Ok(None) => Outcome::Done,
            Err(error) => {
                debug!(%error, %hash, "cannot read a requested Mblock");
                Outcome::Done
            }
        },
        BlockMessage::GetHeaders(locator) => match service.headers_after(&locator) {
            headers if headers.is_empty() => Outcome::Done,
            headers => Outcome::Send(BlockMessage::Headers(headers)),
        },
        BlockMessage::Headers(headers) => match service.accept_headers(peer, &headers) {
            Ok(_) => Outcome::Done,
            Err(refused) => {
                debug!(%peer, %refused, "refused a MED header chain");
                Outcome::Penalty(refused.penalty(), refused.to_string())
            }
        },
        BlockMessage::Block(block) => match service.accept_with_descendants(*block) {
            // The parent, and whatever else this node lacks of the peer's chain: its parent at
            // once (the usual gap is one missed announcement), the rest headers first.
            Ok(Accepted::Orphan { missing }) => {
                service.request(missing, Some(peer.clone()));
                service.sync_with(peer.clone());
                Outcome::Done
            }
            Ok(_) => Outcome::Done,
            Err(refused) => {
                debug!(%peer, %refused, "refused an Mblock");
                Outcome::Penalty(refused.penalty(), refused.to_string())
            }
        },
    }
}

/// Takes a peer's batch. Bytes that do not decode get the peer muted; a batch refused for
/// its signers is only dropped (our SUP state may lag the peer's).
fn on_batch(service: &MedService, peer: &PublicKey, payload: &[u8]) -> Outcome {
    let batch = match SignedBatch::decode_cfg(Copying(payload), &()) {
        Ok(batch) => batch,
        Err(error) => {
            debug!(%peer, %error, "undecodable MED batch");
            return Outcome::Penalty(Penalty::Mute, format!("undecodable batch: {error}"));
        }
    };
    match service.submit_batch(batch, false) {
        Ok(_) => Outcome::Done,
        Err(refused) => {
            debug!(%peer, %refused, "refused a MED batch");
            Outcome::Penalty(refused.penalty(), refused.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_STRIKES, MUTE_DURATION, Penalties, Penalty};
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
    use std::time::{Duration, SystemTime};

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn bad_bytes_mute_a_peer_for_the_mute_duration_only() {
        let (peer, other) = (
            PrivateKey::from_seed(1).public_key(),
            PrivateKey::from_seed(2).public_key(),
        );
        let mut penalties = Penalties::default();
        assert!(penalties.record(&peer, Penalty::Mute, at(100)));
        assert!(penalties.is_muted(&peer, at(100)));
        assert!(!penalties.is_muted(&other, at(100)));
        let end = at(100) + MUTE_DURATION;
        assert!(penalties.is_muted(&peer, end - Duration::from_secs(1)));
        assert!(!penalties.is_muted(&peer, end));
        assert!(
            penalties.muted.is_empty(),
            "a mute that ran out is forgotten"
        );
    }

    #[test]
    fn strikes_mute_at_the_last_and_refusals_of_our_own_never() {
        let peer = PrivateKey::from_seed(3).public_key();
        let mut penalties = Penalties::default();
        for _ in 0..10 {
            assert!(!penalties.record(&peer, Penalty::None, at(0)));
        }
        for strike in 1..MAX_STRIKES {
            assert!(!penalties.record(&peer, Penalty::Strike, at(strike.into())));
            assert!(!penalties.is_muted(&peer, at(strike.into())));
        }
        assert!(penalties.record(&peer, Penalty::Strike, at(10)));
        assert!(penalties.is_muted(&peer, at(10)));
        assert!(
            penalties.strikes.is_empty(),
            "a mute starts the count again"
        );
    }
}
