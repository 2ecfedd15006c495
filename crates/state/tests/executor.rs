//! Block execution through the public API: replay and cross-chain protection, per-transaction
//! atomicity inside a block, block-level checks, determinism and genesis.

use medchain_state::{
    BlockEnv, BlockExecutor, ExecError, MemoryStore, StateError, StateReadExt, genesis, keys,
    testkit::{
        Actor, GENESIS_TIME_MS, World, chain_id, genesis_document, org_name, register, release,
    },
};
use medchain_types::{ChainId, ContentHash, OrgKind, TxError};

fn world_with_licensed_doctor() -> (World, Actor) {
    let mut world = World::new();
    let doctor = Actor::new(1);
    world.licensed_hospital(&doctor, &org_name("Seoul General"));
    (world, doctor)
}

#[test]
fn a_replayed_transaction_fails_with_bad_nonce_and_changes_nothing() {
    let (mut world, doctor) = world_with_licensed_doctor();
    let patient = Actor::new(50);
    let tx = world.tx(
        &doctor,
        release(&doctor, &patient.address, &ContentHash::of(b"EMR")),
    );
    let nonce = tx.body().nonce;
    world.run_tx(&tx).unwrap();
    assert_eq!(world.nonce(&doctor), nonce + 1);

    // Replayed in a later block.
    let root = world.root();
    let (results, block) = world.execute(std::slice::from_ref(&tx));
    assert!(matches!(
        results[0],
        Err(ExecError::BadNonce { expected, got }) if expected == nonce + 1 && got == nonce
    ));
    assert!(block.events.is_empty());
    assert_eq!(world.root(), root);

    // Replayed within one block: the second copy fails.
    let fresh = world.tx(
        &doctor,
        release(&doctor, &patient.address, &ContentHash::of(b"EMR 2")),
    );
    let (results, block) = world.execute(&[fresh.clone(), fresh]);
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(ExecError::BadNonce { .. })));
    assert_eq!(block.events.len(), 1);
}

/// Issue 7: a signed transaction whose deadline has passed never executes, even with the right
/// nonce — a forgotten or dropped transaction cannot surface later.
#[test]
fn a_transaction_past_its_deadline_never_executes_and_changes_nothing() {
    let (world, doctor) = world_with_licensed_doctor();
    let patient = Actor::new(50);
    let next_block_ms = world.next_env().timestamp_ms;
    let signed_with = |valid_until_ms: u64| {
        let body = medchain_types::TxBody {
            chain_id: chain_id(),
            sender: doctor.address,
            nonce: world.nonce(&doctor),
            valid_until_ms,
            fee: 0,
            payload: release(&doctor, &patient.address, &ContentHash::of(b"EMR")),
        };
        body.sign(&doctor.key).unwrap().verify(&chain_id()).unwrap()
    };
    let root = world.root();
    let (results, block) = world.execute(&[signed_with(next_block_ms - 1)]);
    assert!(matches!(
        results[0],
        Err(ExecError::TxExpired { valid_until_ms, block_time_ms })
            if valid_until_ms == next_block_ms - 1 && block_time_ms == next_block_ms
    ));
    assert!(block.events.is_empty());
    assert_eq!(world.root(), root);
    // The deadline itself is still in time.
    let (results, _) = world.execute(&[signed_with(next_block_ms)]);
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

#[test]
fn a_nonce_from_the_future_is_rejected() {
    let (world, doctor) = world_with_licensed_doctor();
    let patient = Actor::new(50);
    let ahead = world.tx_at(
        &doctor,
        1,
        release(&doctor, &patient.address, &ContentHash::of(b"EMR")),
    );
    let (results, _) = world.execute(&[ahead]);
    assert!(
        matches!(results[0], Err(ExecError::BadNonce { got, expected }) if got == expected + 1)
    );
}

#[test]
fn a_transaction_for_another_chain_never_executes() {
    let world = World::new();
    let other = ChainId::new("medchain-other").unwrap();
    let payload = register(&org_name("Elsewhere"), OrgKind::Cloud);
    let founder = Actor::new(9);

    // Signed for the other chain: verification against this chain refuses it.
    let foreign = founder.sign_for(&other, 0, payload.clone());
    assert!(matches!(
        foreign.tx().verify(&chain_id()),
        Err(TxError::WrongChain { .. })
    ));

    // Even verified for the other chain, the executor refuses it and writes nothing.
    let (results, block) = world.execute(&[foreign]);
    assert!(
        matches!(&results[0], Err(ExecError::WrongChain { expected, got }) if *expected == chain_id() && *got == other)
    );
    let (_, empty) = world.execute(&[]);
    assert_eq!(block.state_root, empty.state_root);
}

#[test]
fn a_failed_transaction_inside_a_block_leaves_no_trace() {
    let (world, doctor) = world_with_licensed_doctor();
    let patient = Actor::new(50);
    let stranger = Actor::new(60);
    let good_1 = world.tx_at(
        &doctor,
        0,
        release(&doctor, &patient.address, &ContentHash::of(b"A")),
    );
    // A stranger tries to release: rejected after its nonce and identity were read.
    let bad = world.tx(
        &stranger,
        release(&stranger, &patient.address, &ContentHash::of(b"B")),
    );
    // The same record again: rejected after the doctor's nonce check passed.
    let duplicate = world.tx_at(
        &doctor,
        1,
        release(&doctor, &patient.address, &ContentHash::of(b"A")),
    );
    let good_2 = world.tx_at(
        &doctor,
        1,
        release(&doctor, &patient.address, &ContentHash::of(b"C")),
    );

    let (results, with_failures) = world.execute(&[good_1.clone(), bad, duplicate, good_2.clone()]);
    assert!(results[0].is_ok() && results[3].is_ok());
    assert!(matches!(results[1], Err(ExecError::NotEnrolled)));
    assert!(matches!(
        results[2],
        Err(ExecError::RecordAlreadyReleased(_))
    ));

    let (_, clean) = world.execute(&[good_1.clone(), good_2.clone()]);
    assert_eq!(with_failures.state_root, clean.state_root);
    assert_eq!(with_failures.writes, clean.writes);
    let ids: Vec<_> = with_failures.events.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![good_1.id(), good_2.id()]);
}

#[test]
fn execution_is_deterministic() {
    let (world, doctor) = world_with_licensed_doctor();
    let txs: Vec<_> = (0..20)
        .map(|i| {
            world.tx_at(
                &doctor,
                i,
                release(
                    &doctor,
                    &Actor::new(100 + i).address,
                    &ContentHash::of(&i.to_be_bytes()),
                ),
            )
        })
        .collect();
    let (_, first) = world.execute(&txs);
    let (_, second) = world.execute(&txs);
    assert_eq!(first.state_root, second.state_root);
    assert_eq!(first.writes, second.writes);
    assert_eq!(first.tree_batch, second.tree_batch);
    assert_eq!(first.events, second.events);
}

#[test]
fn every_block_records_its_height_and_time_and_moves_the_root() {
    let mut world = World::new();
    let before = world.root();
    let env = world.next_env();
    let block = world.commit_block(&[]);
    assert_ne!(block.state_root, before);
    let info = world.value(&keys::block_info()).unwrap();
    assert_eq!(
        (info.height, info.timestamp_ms),
        (env.height, env.timestamp_ms)
    );
}

#[test]
fn a_block_must_follow_its_parent_in_height_and_time() {
    let world = World::new();
    let next = world.next_env();
    for height in [next.height + 1, next.height - 1] {
        let result = BlockExecutor::new(&world.store, BlockEnv { height, ..next });
        assert!(
            matches!(result, Err(StateError::HeightMismatch { state: 0, got }) if got == height)
        );
    }
    let result = BlockExecutor::new(
        &world.store,
        BlockEnv {
            timestamp_ms: GENESIS_TIME_MS - 1,
            ..next
        },
    );
    assert!(matches!(result, Err(StateError::TimeWentBackwards { .. })));
    // The same timestamp as the parent is allowed.
    assert!(
        BlockExecutor::new(
            &world.store,
            BlockEnv {
                timestamp_ms: GENESIS_TIME_MS,
                ..next
            }
        )
        .is_ok()
    );
}

#[test]
fn a_state_without_genesis_cannot_execute() {
    let empty = MemoryStore::new();
    let result = BlockExecutor::new(
        &empty,
        BlockEnv {
            height: 1,
            timestamp_ms: 0,
        },
    );
    assert!(matches!(result, Err(StateError::NoGenesis)));
}

#[test]
fn genesis_holds_the_chain_config_and_is_deterministic() {
    let document = genesis_document();
    let block = genesis(&document).unwrap();
    assert_eq!(block.height, 0);
    assert_eq!(genesis(&document).unwrap().state_root, block.state_root);

    let mut store = MemoryStore::new();
    store.commit(&block).unwrap();
    let config = store.value(&keys::chain_config()).unwrap().unwrap();
    assert_eq!(
        (config.chain_id, config.regulator),
        (document.chain_id.clone(), document.regulator)
    );
    // The threshold PKG's DKG binds to these (S3-setup).
    assert_eq!(config.genesis_digest, document.digest());
    assert_eq!(config.validators, document.validator_keys());
    assert_eq!(
        store
            .value(&keys::block_info())
            .unwrap()
            .unwrap()
            .timestamp_ms,
        GENESIS_TIME_MS
    );

    let mut other = document.clone();
    other.regulator = Actor::new(77).address;
    assert_ne!(genesis(&other).unwrap().state_root, block.state_root);
}

#[test]
fn an_invalid_genesis_is_refused_and_genesis_cannot_be_committed_twice() {
    let mut document = genesis_document();
    document.validators.clear();
    assert!(matches!(genesis(&document), Err(StateError::Genesis(_))));

    let block = genesis(&genesis_document()).unwrap();
    let mut store = MemoryStore::new();
    store.commit(&block).unwrap();
    assert!(matches!(
        store.commit(&block),
        Err(StateError::HeightMismatch { .. })
    ));
}
