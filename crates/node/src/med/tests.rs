//! The MED service's own bookkeeping, watched through its outbox: how missing Mblocks are
//! fetched (review R9) and a finalized checkpoint followed until it applies (review R10).

use super::{MedService, Outgoing, REQUEST_RETRY_MS, wire::BlockMessage};
use crate::med_checkpoint::CheckpointSource as _;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use futures::channel::mpsc::UnboundedReceiver;
use medchain_med::MedStore;
use medchain_state::testkit;
use medchain_storage::Store;
use medchain_types::{
    Address, Genesis, Hash32, PublicKey,
    med::{Checkpoint, CheckpointedMblock, Mblock, MblockBody, MblockHeader, MedParams},
};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

const PARAMS: MedParams = MedParams {
    target_interval_ms: 1_000,
    initial_difficulty: 16,
    min_difficulty: 8,
    retarget_window: 4,
};

/// A MED service over empty stores whose clock is `clock`, and its outbox.
fn service(clock: Arc<AtomicU64>) -> (Arc<MedService>, UnboundedReceiver<Outgoing>) {
    let genesis = Genesis {
        med: Some(PARAMS),
        ..testkit::genesis_document()
    };
    let (service, mailbox) = MedService::with_store(
        MedStore::in_memory().unwrap(),
        &genesis,
        Store::in_memory().unwrap(),
        Box::new(move || clock.load(Ordering::Relaxed)),
    )
    .unwrap()
    .expect("the genesis has MED");
    (service, mailbox.0)
}

fn peer(seed: u64) -> PublicKey {
    PrivateKey::from_seed(seed).public_key()
}

/// A checkpoint of one Mblock this node has never seen.
fn unknown_checkpoint() -> Checkpoint {
    let header = MblockHeader {
        height: 1,
        parent: Hash32::from([1; 32]),
        tx_root: Hash32::from([2; 32]),
        body_hash: Hash32::from([3; 32]),
        timestamp_ms: testkit::GENESIS_TIME_MS,
        difficulty: PARAMS.initial_difficulty,
        miner: testkit::address(9),
        nonce: 0,
    };
    let block = Mblock {
        header,
        body: MblockBody {
            batches: Vec::new(),
            signature: None,
        },
    };
    Checkpoint {
        branch: vec![CheckpointedMblock::of(&block)],
    }
}

/// Every message queued since the last call: (to whom — `None` for every peer, the hash
/// requested — `None` for anything but a request).
fn sent(outbox: &mut UnboundedReceiver<Outgoing>) -> Vec<(Option<PublicKey>, Option<Hash32>)> {
    let request = |message: &BlockMessage| match message {
        BlockMessage::Request(hash) => Some(*hash),
        _ => None,
    };
    std::iter::from_fn(|| outbox.try_recv().ok())
        .map(|outgoing| match outgoing {
            Outgoing::To(peer, message) => (Some(peer), request(&message)),
            Outgoing::Broadcast(message) => (None, request(&message)),
            Outgoing::Batch(_) => (None, None),
        })
        .collect()
}

/// Review R9: a validator lacking an Mblock a proposal checkpoints asks the proposer alone
/// (it checkpointed it, so it holds it) — never every peer, each of which would answer with
/// the whole Mblock — once per retry time, and asks the next peer heard in turn each time the
/// one asked did not answer in time.
#[test]
fn a_missing_mblock_is_asked_of_one_peer_at_a_time_in_turn() {
    let clock = Arc::new(AtomicU64::new(testkit::GENESIS_TIME_MS));
    let (service, mut outbox) = service(clock.clone());
    let mut peers = [peer(1), peer(2), peer(3)];
    peers.sort();
    for peer in &peers {
        service.heard_from(peer);
    }
    let checkpoint = unknown_checkpoint();
    let tip = checkpoint.tip().unwrap().hash();
    let proposer = Address::from(peers[1].clone());

    assert!(!service.knows(&checkpoint, &proposer));
    assert!(!service.knows(&checkpoint, &proposer));
    assert_eq!(
        sent(&mut outbox),
        [(Some(peers[1].clone()), Some(tip))],
        "the proposer, once"
    );
    for next in [2, 0, 1] {
        clock.fetch_add(REQUEST_RETRY_MS, Ordering::Relaxed);
        assert!(!service.knows(&checkpoint, &proposer));
        assert_eq!(
            sent(&mut outbox),
            [(Some(peers[next].clone()), Some(tip))],
            "then the next peer heard, in turn"
        );
    }
    // A muted peer is asked no more.
    service.forget_peer(&peers[2]);
    clock.fetch_add(REQUEST_RETRY_MS, Ordering::Relaxed);
    assert!(!service.knows(&checkpoint, &proposer));
    assert_eq!(sent(&mut outbox), [(Some(peers[0].clone()), Some(tip))]);
}

/// Review R10: a checkpoint SUP finalized before its tip arrived is not forgotten: its tip is
/// asked for again, of the next peer in turn, each time SUP asks for a proposal or a vote
/// after the retry time.
#[test]
fn a_finalized_checkpoint_is_fetched_until_it_arrives() {
    let clock = Arc::new(AtomicU64::new(testkit::GENESIS_TIME_MS));
    let (service, mut outbox) = service(clock.clone());
    let mut peers = [peer(1), peer(2)];
    peers.sort();
    for peer in &peers {
        service.heard_from(peer);
    }
    let checkpoint = unknown_checkpoint();
    let tip = checkpoint.tip().unwrap().hash();
    service.finalized(&checkpoint, &Address::from(peers[0].clone()));
    assert_eq!(sent(&mut outbox), [(Some(peers[0].clone()), Some(tip))]);

    let genesis = service.headers(0, 1).remove(0).hash();
    clock.fetch_add(REQUEST_RETRY_MS, Ordering::Relaxed);
    assert!(service.propose(&genesis).branch.is_empty());
    assert_eq!(sent(&mut outbox), [(Some(peers[1].clone()), Some(tip))]);
    clock.fetch_add(REQUEST_RETRY_MS, Ordering::Relaxed);
    assert!(service.knows(&Checkpoint::default(), &Address::from(peers[1].clone())));
    assert_eq!(sent(&mut outbox), [(Some(peers[0].clone()), Some(tip))]);
}
