//! Speculative execution: blocks executed on an `Overlay` of unfinalized parents give exactly
//! the state (root, writes, proofs) they give once the parents are committed, and competing
//! forks do not see each other.

use medchain_state::{
    BlockEnv, BlockExecutor, ExecutedBlock, Overlay, StateError, StateRead, StateReadExt,
    TreeReader, keys, prove, root_at,
    testkit::{self, BLOCK_INTERVAL_MS, Cast, World, grant, release, request, store},
};
use medchain_types::{ContentHash, Expiry, Purpose, RecordId, VerifiedTransaction};
use std::sync::Arc;

fn execute_on<R: StateRead + TreeReader>(
    reader: &R,
    env: BlockEnv,
    txs: &[VerifiedTransaction],
) -> ExecutedBlock {
    let mut executor = BlockExecutor::new(reader, env).unwrap();
    for tx in txs {
        executor.apply(tx).unwrap();
    }
    executor
        .finish(testkit::address(testkit::validator_seed(0)))
        .unwrap()
}

fn after(env: BlockEnv) -> BlockEnv {
    BlockEnv {
        height: env.height + 1,
        timestamp_ms: env.timestamp_ms + BLOCK_INTERVAL_MS,
    }
}

#[test]
fn executing_on_an_overlay_matches_executing_after_commit() {
    let Cast {
        mut world,
        doctor,
        patient,
        grantee,
    } = Cast::new();
    let base = world.store.clone();
    let env_1 = world.next_env();
    let release_tx = world.tx(
        &doctor,
        release(&doctor, &patient.address, &ContentHash::of(b"EMR")),
    );
    let record = RecordId::from(release_tx.id());
    let block_1 = Arc::new(execute_on(&base, env_1, std::slice::from_ref(&release_tx)));

    // Block 2 reads and rewrites what block 1 wrote: the record, the nonces.
    let block_2_txs = [
        patient.sign(0, store(&record, &ContentHash::of(b"blob"), "s3://b/1")),
        patient.sign(
            1,
            grant(
                &grantee.address,
                &[record],
                Purpose::Treatment,
                Expiry::AtHeight(100),
            ),
        ),
        grantee.sign(world.nonce(&grantee), request(&record, Purpose::Treatment)),
        doctor.sign(
            world.nonce(&doctor) + 1,
            release(&doctor, &patient.address, &ContentHash::of(b"EMR 2")),
        ),
    ];
    let env_2 = after(env_1);
    let overlay = Overlay::new(&base, vec![block_1.clone()]).unwrap();
    let speculative = execute_on(&overlay, env_2, &block_2_txs);

    world.store.commit(&block_1).unwrap();
    let committed = execute_on(&world.store, env_2, &block_2_txs);
    assert_eq!(speculative.state_root, committed.state_root);
    assert_eq!(speculative.writes, committed.writes);
    assert_eq!(speculative.tree_batch, committed.tree_batch);
    assert_eq!(speculative.events, committed.events);

    // Two layers deep: block 3 on Overlay(base, [1, 2]) matches block 3 after committing both.
    let env_3 = after(env_2);
    let block_3_txs = [grantee.sign(
        world.nonce(&grantee) + 1,
        request(&record, Purpose::Research),
    )];
    let deep = Overlay::new(&base, vec![block_1, Arc::new(speculative)]).unwrap();
    let speculative_3 = execute_on(&deep, env_3, &block_3_txs);
    world.store.commit(&committed).unwrap();
    let committed_3 = execute_on(&world.store, env_3, &block_3_txs);
    assert_eq!(speculative_3.state_root, committed_3.state_root);
    assert_eq!(speculative_3.tree_batch, committed_3.tree_batch);
}

#[test]
fn an_overlay_reads_and_proves_like_the_committed_store() {
    let Cast {
        mut world,
        doctor,
        patient,
        ..
    } = Cast::new();
    let base = world.store.clone();
    let release_tx = world.tx(
        &doctor,
        release(&doctor, &patient.address, &ContentHash::of(b"EMR")),
    );
    let record = RecordId::from(release_tx.id());
    let block = Arc::new(execute_on(&base, world.next_env(), &[release_tx]));
    let overlay = Overlay::new(&base, vec![block.clone()]).unwrap();
    world.store.commit(&block).unwrap();

    let record_key = keys::record(&record);
    assert_eq!(
        overlay.value(&record_key).unwrap(),
        world.value(&record_key)
    );
    assert!(base.value(&record_key).unwrap().is_none());
    assert_eq!(root_at(&overlay, block.height).unwrap(), block.state_root);
    for key in [
        record_key.as_bytes(),
        keys::account(&doctor.address).as_bytes(),
        b"absent/key".as_slice(),
    ] {
        assert_eq!(
            prove(&overlay, key, block.height).unwrap(),
            prove(&world.store, key, block.height).unwrap()
        );
    }
    // Older versions stay readable through the overlay.
    let previous = block.height - 1;
    assert_eq!(
        root_at(&overlay, previous).unwrap(),
        root_at(&base, previous).unwrap()
    );
}

#[test]
fn competing_forks_do_not_see_each_other() {
    let Cast {
        world,
        doctor,
        patient,
        ..
    } = Cast::new();
    let env = world.next_env();
    let fork_a_tx = world.tx(
        &doctor,
        release(&doctor, &patient.address, &ContentHash::of(b"A")),
    );
    let fork_b_tx = world.tx(
        &doctor,
        release(&doctor, &patient.address, &ContentHash::of(b"B")),
    );
    let fork_a = Arc::new(execute_on(
        &world.store,
        env,
        std::slice::from_ref(&fork_a_tx),
    ));
    let fork_b = Arc::new(execute_on(
        &world.store,
        env,
        std::slice::from_ref(&fork_b_tx),
    ));
    assert_ne!(fork_a.state_root, fork_b.state_root);

    let on_a = Overlay::new(&world.store, vec![fork_a]).unwrap();
    let on_b = Overlay::new(&world.store, vec![fork_b]).unwrap();
    let record_a = keys::record(&RecordId::from(fork_a_tx.id()));
    assert!(on_a.value(&record_a).unwrap().is_some());
    assert!(on_b.value(&record_a).unwrap().is_none());

    // The same next transaction succeeds on both forks but yields different roots.
    let next = doctor.sign(
        world.nonce(&doctor) + 1,
        release(&doctor, &patient.address, &ContentHash::of(b"C")),
    );
    let child_a = execute_on(&on_a, after(env), std::slice::from_ref(&next));
    let child_b = execute_on(&on_b, after(env), &[next]);
    assert_ne!(child_a.state_root, child_b.state_root);
}

#[test]
fn layers_must_be_consecutive() {
    let world = World::new();
    let env = world.next_env();
    let one = Arc::new(execute_on(&world.store, env, &[]));
    let overlay = Overlay::new(&world.store, vec![one.clone()]).unwrap();
    let two = Arc::new(execute_on(&overlay, after(env), &[]));
    assert!(Overlay::new(&world.store, vec![one.clone(), two.clone()]).is_ok());
    assert!(matches!(
        Overlay::new(&world.store, vec![two, one]),
        Err(StateError::LayersNotConsecutive {
            previous: 2,
            next: 1
        })
    ));
    // Executing at a height the overlay is not at is refused.
    let stale = BlockExecutor::new(&overlay, env);
    assert!(matches!(stale, Err(StateError::HeightMismatch { .. })));
}
