//! The store: durable across reopen, atomic per block, idempotent, strict about heights and
//! conflicts, and pruning without breaking recent proofs.

mod common;

use common::{Chain, certificate, genesis_block, header, proposer};
use medchain_state::{
    BlockEnv, BlockExecutor, Overlay, StateReadExt, keys, prove,
    testkit::{
        Actor, doctor_identity, grant, lift_revocation, org_name, register, release, request,
        revoke_doctor, set_state, store as store_payload,
    },
    verify_proof,
};
use medchain_storage::{
    CommitBatch, CommitOutcome, PRUNE_EVERY, STORAGE_FORMAT, StorageError, Store, StoreOptions,
};
use medchain_types::{
    Block, ContentHash, Expiry, Hash32, OrgKind, OrgState, Purpose, RecordId, VerifiedTransaction,
};
use std::{num::NonZeroU64, sync::Arc};

/// A chain with an audited hospital, a released and stored record, a grant and an access.
struct Populated {
    chain: Chain,
    doctor: Actor,
    patient: Actor,
    grantee: Actor,
    record: RecordId,
}

fn populate(store: Store) -> Populated {
    let mut chain = Chain::new(store);
    let doctor = Actor::new(1);
    let grantee = Actor::new(2);
    let patient = Actor::new(50);
    let regulator = chain.regulator.clone();
    for (founder, name) in [(&doctor, "Seoul General"), (&grantee, "Busan Clinic")] {
        chain.run(founder, register(&org_name(name), OrgKind::Hospital));
        chain.run(&regulator, set_state(&org_name(name), OrgState::Audited));
    }
    chain.license(&org_name("Seoul General"), &doctor);
    let release_tx = chain.tx(
        &doctor,
        release(&doctor, &patient.address, &ContentHash::of(b"EMR")),
    );
    let record = RecordId::from(release_tx.id());
    chain.commit(&[release_tx]);
    let txs = [
        patient.sign(
            0,
            store_payload(&record, &ContentHash::of(b"blob"), "s3://b/1"),
        ),
        patient.sign(
            1,
            grant(
                &grantee.address,
                &[record],
                Purpose::Treatment,
                Expiry::AtHeight(1_000),
            ),
        ),
        chain.tx(&grantee, request(&record, Purpose::Treatment)),
    ];
    chain.commit(&txs);
    Populated {
        chain,
        doctor,
        patient,
        grantee,
        record,
    }
}

/// An execution result that matches `block` (height, root, tx ids) without being one: enough
/// for the checks a store makes before finding the height already committed.
fn stand_in_execution(block: &Block) -> medchain_state::ExecutedBlock {
    let mut executed = genesis_block().1;
    executed.height = block.header().height;
    executed.state_root = block.header().state_root;
    executed.events = block.tx_ids().iter().map(|id| (*id, vec![])).collect();
    executed
}

impl Populated {
    /// Drops the chain (and its store handle), then picks it up again from the store `open`
    /// returns: a restart on the same in-memory handle, or a reopen of the file.
    fn restart_with(self, open: impl FnOnce() -> Store) -> Self {
        drop(self.chain);
        Self {
            chain: Chain::resume(open()),
            ..self
        }
    }
}

/// Everything a query can see, to compare a store before and after something.
#[derive(Debug, PartialEq)]
struct View {
    last: Option<medchain_storage::LastApplied>,
    blocks: Vec<Option<Block>>,
    finalizations: Vec<Option<Vec<u8>>>,
    receipts: Vec<Option<medchain_types::Receipt>>,
    values: Vec<Option<Vec<u8>>>,
    log: Vec<medchain_storage::LogEntry>,
}

fn view(store: &Store, populated: &Populated) -> View {
    let heights = 0..=populated.chain.height() + 1;
    let tx_ids: Vec<_> = heights
        .clone()
        .filter_map(|h| store.block_by_height(h).unwrap())
        .flat_map(|block| block.tx_ids().to_vec())
        .collect();
    let state_keys = [
        keys::record(&populated.record).as_bytes().to_vec(),
        keys::storage_pointer(&populated.record).as_bytes().to_vec(),
        keys::account(&populated.patient.address)
            .as_bytes()
            .to_vec(),
        keys::org(&org_name("Seoul General")).as_bytes().to_vec(),
        keys::block_info().as_bytes().to_vec(),
    ];
    View {
        last: store.last_applied().unwrap(),
        blocks: heights
            .clone()
            .map(|h| store.block_by_height(h).unwrap())
            .collect(),
        finalizations: heights.map(|h| store.finalization(h).unwrap()).collect(),
        receipts: tx_ids.iter().map(|id| store.receipt(id).unwrap()).collect(),
        values: state_keys
            .iter()
            .map(|key| store.get(key).unwrap())
            .collect(),
        log: store
            .access_log(&populated.patient.address, 0, 100)
            .unwrap(),
    }
}

#[test]
fn a_reopened_store_restores_everything_and_the_chain_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medchain.redb");
    let populated = populate(Store::open(&path).unwrap());
    let before = view(&populated.chain.store, &populated);
    let proven_before = populated
        .chain
        .store
        .get_proven(keys::record(&populated.record).as_bytes())
        .unwrap();
    assert_eq!(before.log.len(), 1);
    assert!(before.receipts.iter().all(Option::is_some));
    let record = populated.record;
    let populated = populated.restart_with(|| Store::open(&path).unwrap());
    let reopened = populated.chain.store.clone();
    assert_eq!(view(&reopened, &populated), before);
    assert_eq!(
        reopened
            .get_proven(keys::record(&record).as_bytes())
            .unwrap(),
        proven_before
    );

    // The next block executes on the reopened state and commits on top.
    let mut chain = populated.chain;
    let last_height = chain.height();
    chain.run(&populated.grantee, request(&record, Purpose::Research));
    assert_eq!(
        reopened.last_applied().unwrap().unwrap().height,
        last_height + 1
    );
    assert_eq!(
        reopened
            .access_log(&populated.patient.address, 0, 10)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn an_in_memory_store_outlives_a_dropped_clone() {
    let store = Store::in_memory().unwrap();
    let populated = populate(store.clone());
    let before = view(&store, &populated);
    let restarted = populated.restart_with(|| store.clone());
    assert_eq!(restarted.chain.height(), before.last.unwrap().height);
    assert_eq!(view(&store, &restarted), before);
}

#[test]
fn recommitting_a_committed_block_is_a_no_op() {
    let populated = populate(Store::in_memory().unwrap());
    let store = &populated.chain.store;
    let before = view(store, &populated);
    let last = store.last_applied().unwrap().unwrap();

    for height in [last.height, 1, 0] {
        let block = store.block_by_height(height).unwrap().unwrap();
        assert!(
            store
                .is_committed(height, &block.header().digest())
                .unwrap()
        );
        // Its execution result only needs to match the block; the store does not redo it.
        let executed = stand_in_execution(&block);
        let outcome = store
            .commit(CommitBatch {
                block: &block,
                executed: &executed,
                finalization: None,
            })
            .unwrap();
        assert_eq!(outcome, CommitOutcome::AlreadyCommitted);
    }
    assert_eq!(view(store, &populated), before);
    assert!(
        !store
            .is_committed(last.height + 1, &Hash32::from([0; 32]))
            .unwrap()
    );
}

#[test]
fn a_different_block_at_a_committed_height_is_a_conflict() {
    let populated = populate(Store::in_memory().unwrap());
    let store = &populated.chain.store;
    let before = view(store, &populated);
    let committed = populated.chain.last.clone();
    let height = committed.header().height;

    // Same parent, same transactions, another timestamp: another digest.
    let mut other_header = committed.header().clone();
    other_header.timestamp_ms += 1;
    let other = Block::new(other_header, committed.txs().to_vec());
    let executed = stand_in_execution(&other);
    let result = store.commit(CommitBatch {
        block: &other,
        executed: &executed,
        finalization: None,
    });
    assert!(matches!(result, Err(StorageError::Conflict { height: h, .. }) if h == height));
    assert!(matches!(
        store.is_committed(height, &other.header().digest()),
        Err(StorageError::Conflict { .. })
    ));
    assert_eq!(view(store, &populated), before);
}

#[test]
fn heights_must_be_contiguous_and_blocks_must_extend_the_last() {
    let store = Store::in_memory().unwrap();
    let (block_0, executed_0) = genesis_block();

    // Nothing committed: only height 0 is accepted.
    let mut chain = Chain::new(Store::in_memory().unwrap());
    let (block_1, executed_1) = chain.build(&[]);
    assert!(matches!(
        store.commit(CommitBatch {
            block: &block_1,
            executed: &executed_1,
            finalization: None
        }),
        Err(StorageError::NotContiguous {
            expected: 0,
            got: 1
        })
    ));
    store
        .commit(CommitBatch {
            block: &block_0,
            executed: &executed_0,
            finalization: None,
        })
        .unwrap();

    // Skipping a height.
    chain.commit(&[]);
    let (block_2, executed_2) = chain.build(&[]);
    assert!(matches!(
        store.commit(CommitBatch {
            block: &block_2,
            executed: &executed_2,
            finalization: None
        }),
        Err(StorageError::NotContiguous {
            expected: 1,
            got: 2
        })
    ));

    // The right height on another parent.
    let env = BlockEnv {
        height: 1,
        timestamp_ms: block_0.header().timestamp_ms + 5,
    };
    let snapshot = store.snapshot().unwrap();
    let executed = BlockExecutor::new(&snapshot, env)
        .unwrap()
        .finish(proposer())
        .unwrap();
    let orphan = Block::new(
        header(
            1,
            Hash32::from([9; 32]),
            env.timestamp_ms,
            executed.state_root,
        ),
        vec![],
    );
    assert!(matches!(
        store.commit(CommitBatch {
            block: &orphan,
            executed: &executed,
            finalization: None
        }),
        Err(StorageError::NotAChild { .. })
    ));
    assert_eq!(store.last_applied().unwrap().unwrap().height, 0);
}

#[test]
fn a_batch_whose_block_and_execution_disagree_is_refused() {
    let populated = populate(Store::in_memory().unwrap());
    let chain = &populated.chain;
    let tx = chain.tx(
        &populated.grantee,
        request(&populated.record, Purpose::Audit),
    );
    let (block, executed) = chain.build(&[tx]);

    let mut wrong_root = executed.clone();
    wrong_root.state_root = Hash32::from([1; 32]);
    let mut wrong_txs = executed.clone();
    wrong_txs.events.clear();
    let mut wrong_height = executed.clone();
    wrong_height.height += 1;
    for executed in [wrong_root, wrong_txs, wrong_height] {
        let result = chain.store.commit(CommitBatch {
            block: &block,
            executed: &executed,
            finalization: None,
        });
        assert!(
            matches!(result, Err(StorageError::Mismatch(_))),
            "{result:?}"
        );
    }
}

#[test]
fn a_commit_that_fails_midway_leaves_the_previous_state() {
    let populated = populate(Store::in_memory().unwrap());
    let store = populated.chain.store.clone();
    let before = view(&store, &populated);
    let stats_before = store.stats().unwrap();
    let tx = populated.chain.tx(
        &populated.doctor,
        release(
            &populated.doctor,
            &populated.patient.address,
            &ContentHash::of(b"EMR 2"),
        ),
    );
    let new_record = RecordId::from(tx.id());
    let (block, executed) = populated.chain.build(std::slice::from_ref(&tx));

    // A state root the header agrees with but the tree delta does not produce: every early
    // check passes, the writes happen, and the final root check fails inside the transaction.
    let forged_root = Hash32::from([3; 32]);
    let mut forged_header = block.header().clone();
    forged_header.state_root = forged_root;
    let forged_block = Block::new(forged_header, block.txs().to_vec());
    let mut forged = executed.clone();
    forged.state_root = forged_root;
    let result = store.commit(CommitBatch {
        block: &forged_block,
        executed: &forged,
        finalization: Some(b"cert"),
    });
    assert!(
        matches!(result, Err(StorageError::Mismatch(_))),
        "{result:?}"
    );

    assert_eq!(view(&store, &populated), before);
    assert_eq!(store.stats().unwrap(), stats_before);
    assert_eq!(
        store.get(keys::record(&new_record).as_bytes()).unwrap(),
        None
    );
    assert_eq!(store.receipt(&tx.id()).unwrap(), None);
    assert_eq!(
        store
            .block_by_digest(&forged_block.header().digest())
            .unwrap(),
        None
    );

    // The honest batch still commits afterwards.
    let certificate = certificate(&block);
    store
        .commit(CommitBatch {
            block: &block,
            executed: &executed,
            finalization: Some(&certificate),
        })
        .unwrap();
    assert!(
        store
            .get(keys::record(&new_record).as_bytes())
            .unwrap()
            .is_some()
    );
}

#[test]
fn queries_return_what_was_committed() {
    let populated = populate(Store::in_memory().unwrap());
    let store = &populated.chain.store;
    let last_block = populated.chain.last.clone();
    let height = last_block.header().height;

    assert_eq!(
        store
            .block_by_digest(&last_block.header().digest())
            .unwrap(),
        Some(last_block.clone())
    );
    assert_eq!(
        store.block_by_height(height).unwrap(),
        Some(last_block.clone())
    );
    assert_eq!(store.block_by_height(height + 1).unwrap(), None);
    assert_eq!(
        store.finalization(height).unwrap(),
        Some(certificate(&last_block))
    );
    assert_eq!(store.finalization(0).unwrap(), None);

    let request_id = last_block.tx_ids()[2];
    let location = store.tx_location(&request_id).unwrap().unwrap();
    assert_eq!((location.height, location.index), (height, 2));
    let receipt = store.receipt(&request_id).unwrap().unwrap();
    assert_eq!(
        (receipt.tx, receipt.height, receipt.index),
        (request_id, height, 2)
    );
    assert!(
        matches!(&receipt.events[..], [medchain_types::Event::AccessDecided { decision, .. }] if decision.is_allowed())
    );
    let unknown = medchain_types::TxId(Hash32::from([5; 32]));
    assert_eq!(store.receipt(&unknown).unwrap(), None);
    assert_eq!(store.tx_location(&unknown).unwrap(), None);

    let last = store.last_applied().unwrap().unwrap();
    assert_eq!(
        (last.height, last.block_digest, last.state_root),
        (
            height,
            last_block.header().digest(),
            last_block.header().state_root
        )
    );
}

#[test]
fn proofs_from_the_store_verify_against_the_header_state_root() {
    let populated = populate(Store::in_memory().unwrap());
    let store = &populated.chain.store;
    let header_root = populated.chain.last.header().state_root;

    let key = keys::consent(&medchain_types::ConsentId(
        populated.chain.last.tx_ids()[1].0,
    ));
    let proven = store.get_proven(key.as_bytes()).unwrap();
    let consent = proven.verified_value(&header_root, &key).unwrap().unwrap();
    assert_eq!(consent.grantee, populated.grantee.address);

    let absent = keys::record(&medchain_state::testkit::record_id(404));
    let proven = store.get_proven(absent.as_bytes()).unwrap();
    assert_eq!(proven.verified_value(&header_root, &absent).unwrap(), None);

    // An older height's proof verifies against that block's header.
    let older = store.block_by_height(2).unwrap().unwrap();
    let proven = store
        .get_proven_at(keys::org(&org_name("Seoul General")).as_bytes(), 2)
        .unwrap();
    let org = proven
        .verified_value(
            &older.header().state_root,
            &keys::org(&org_name("Seoul General")),
        )
        .unwrap()
        .unwrap();
    assert_eq!(org.state, OrgState::Audited);
    assert!(proven.verify_against(&header_root).is_err());
    assert!(matches!(
        store.get_proven_at(key.as_bytes(), populated.chain.height() + 1),
        Err(StorageError::NotCommitted { .. })
    ));
}

#[test]
fn pruning_bounds_the_tree_and_keeps_recent_proofs() {
    let keep = 3;
    let options = StoreOptions {
        keep_versions: NonZeroU64::new(keep).unwrap(),
        ..StoreOptions::default()
    };
    let mut chain = Chain::new(Store::in_memory_with(options).unwrap());
    let founder = Actor::new(1);
    chain.run(
        &founder,
        register(&org_name("Seoul General"), OrgKind::Hospital),
    );
    // Each block rewrites the same keys (the regulator's nonce, the org, cfg/block).
    let regulator = chain.regulator.clone();
    let toggle = |i: u64| {
        if i.is_multiple_of(2) {
            OrgState::Audited
        } else {
            OrgState::Suspended
        }
    };
    let mut stats = Vec::new();
    for i in 0..3 * PRUNE_EVERY {
        chain.run(&regulator, set_state(&org_name("Seoul General"), toggle(i)));
        stats.push(chain.store.stats().unwrap());
    }
    // Pruning runs every PRUNE_EVERY heights: one period later, the tables are the same size.
    let period = PRUNE_EVERY as usize;
    for i in stats.len() - period..stats.len() {
        let (settled, later) = (stats[i - period], stats[i]);
        assert_eq!(
            (
                settled.tree_nodes,
                settled.history_values,
                settled.stale_versions
            ),
            (later.tree_nodes, later.history_values, later.stale_versions)
        );
    }
    // Three keys change every block (the regulator's nonce, the org, cfg/block): each keeps
    // at most `keep` superseded values (plus those awaiting the next pruning), not one per
    // block.
    let later = stats[stats.len() - 1];
    assert!(
        later.history_values <= 3 * (keep + PRUNE_EVERY),
        "superseded values are pruned: {later:?}"
    );

    let store = &chain.store;
    let last = chain.height();
    let org_key = keys::org(&org_name("Seoul General"));
    for height in last + 1 - keep..=last {
        let block = store.block_by_height(height).unwrap().unwrap();
        let proven = store.get_proven_at(org_key.as_bytes(), height).unwrap();
        let org = proven
            .verified_value(&block.header().state_root, &org_key)
            .unwrap()
            .unwrap();
        assert_eq!(org.state, toggle(height - 2), "height {height}");
    }
    let pruned = last - keep;
    assert!(
        matches!(store.get_proven_at(org_key.as_bytes(), pruned), Err(StorageError::Pruned { oldest, .. }) if oldest == last + 1 - keep)
    );
    // A version a pruning has passed has its nodes really gone.
    let gone = pruned + 1 - PRUNE_EVERY;
    assert!(prove(&store.snapshot().unwrap(), org_key.as_bytes(), gone).is_err());
    assert_eq!(
        store.oldest_provable_height().unwrap(),
        Some(last + 1 - keep)
    );
}

#[test]
fn a_pinned_proof_outlives_the_retention_window_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinned.redb");
    let options = StoreOptions {
        keep_versions: NonZeroU64::new(2).unwrap(),
        ..StoreOptions::default()
    };
    let mut chain = Chain::new(Store::open_with(&path, options).unwrap());
    let name = org_name("Seoul General");
    let org_key = keys::org(&name);
    chain.run(&Actor::new(1), register(&name, OrgKind::Hospital));
    let pinned_at = chain.height();
    let pinned = chain
        .store
        .pin_proof(org_key.as_bytes(), pinned_at)
        .unwrap();
    // Pinning again is a no-op that returns the same proof.
    assert_eq!(
        chain
            .store
            .pin_proof(org_key.as_bytes(), pinned_at)
            .unwrap(),
        pinned
    );
    let regulator = chain.regulator.clone();
    for state in [OrgState::Audited, OrgState::Suspended, OrgState::Audited] {
        chain.run(&regulator, set_state(&name, state));
    }
    drop(chain);
    let store = Store::open_with(&path, options).unwrap();
    // The tree no longer proves that height, and a proof cannot be pinned there any more...
    assert!(matches!(
        store.get_proven_at(org_key.as_bytes(), pinned_at),
        Err(StorageError::Pruned { .. })
    ));
    assert!(matches!(
        store.pin_proof(keys::org(&org_name("Nowhere")).as_bytes(), pinned_at),
        Err(StorageError::Pruned { .. })
    ));
    // ...but the pinned one is kept, and proves the value of then against that block's root.
    let kept = store
        .pinned_proof(org_key.as_bytes(), pinned_at)
        .unwrap()
        .unwrap();
    assert_eq!(kept, pinned);
    let block = store.block_by_height(pinned_at).unwrap().unwrap();
    let org = kept
        .verified_value(&block.header().state_root, &org_key)
        .unwrap()
        .unwrap();
    assert_eq!(org.state, OrgState::ToAudit);
    // Only what was pinned is kept: another key, or another height, has nothing.
    assert_eq!(
        store
            .pinned_proof(keys::org(&org_name("Nowhere")).as_bytes(), pinned_at)
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .pinned_proof(org_key.as_bytes(), pinned_at + 1)
            .unwrap(),
        None
    );
}

#[test]
fn a_snapshot_keeps_its_view_while_blocks_commit() {
    let mut populated = populate(Store::in_memory().unwrap());
    let snapshot = populated.chain.store.snapshot().unwrap();
    let height = snapshot.height().unwrap();
    let nonce_key = keys::account(&populated.grantee.address);
    let nonce = snapshot.value(&nonce_key).unwrap().unwrap().nonce;

    let (grantee, record) = (populated.grantee.clone(), populated.record);
    populated
        .chain
        .run(&grantee, request(&record, Purpose::Audit));
    assert_eq!(snapshot.height(), Some(height));
    assert_eq!(snapshot.value(&nonce_key).unwrap().unwrap().nonce, nonce);
    let fresh = populated.chain.store.snapshot().unwrap();
    assert_eq!(fresh.value(&nonce_key).unwrap().unwrap().nonce, nonce + 1);
    // Old proofs still come from the old snapshot.
    let (value, proof) = prove(&snapshot, nonce_key.as_bytes(), height).unwrap();
    verify_proof(
        &snapshot.last_applied().unwrap().state_root,
        nonce_key.as_bytes(),
        value.as_deref(),
        &proof,
    )
    .unwrap();
}

#[test]
fn speculative_execution_on_a_snapshot_overlay_matches_after_commit() {
    let populated = populate(Store::in_memory().unwrap());
    let mut chain = populated.chain;
    let (block_1, executed_1) = chain.build(&[chain.tx(
        &populated.grantee,
        request(&populated.record, Purpose::Audit),
    )]);
    let env_2 = BlockEnv {
        height: block_1.header().height + 1,
        timestamp_ms: block_1.header().timestamp_ms + 1,
    };
    let txs_2 = [populated.grantee.sign(
        chain.nonce(&populated.grantee) + 1,
        request(&populated.record, Purpose::Research),
    )];

    let overlay = Overlay::new(
        chain.store.snapshot().unwrap(),
        vec![Arc::new(executed_1.clone())],
    )
    .unwrap();
    let mut executor = BlockExecutor::new(&overlay, env_2).unwrap();
    executor.apply(&txs_2[0]).unwrap();
    let speculative = executor.finish(proposer()).unwrap();

    chain
        .store
        .commit(CommitBatch {
            block: &block_1,
            executed: &executed_1,
            finalization: None,
        })
        .unwrap();
    chain.last = block_1;
    let (block_2, committed) = chain.build_at(env_2, &txs_2);
    assert_eq!(speculative.state_root, committed.state_root);
    assert_eq!(speculative.tree_batch, committed.tree_batch);
    chain
        .store
        .commit(CommitBatch {
            block: &block_2,
            executed: &speculative,
            finalization: None,
        })
        .unwrap();
}

#[test]
fn the_store_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<medchain_storage::Snapshot>();

    let populated = populate(Store::in_memory().unwrap());
    let store = populated.chain.store.clone();
    let start = store.last_applied().unwrap().unwrap().height;
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..50 {
            let snapshot = store.snapshot().unwrap();
            let info = snapshot.value(&keys::block_info()).unwrap().unwrap();
            // last_applied and the state in one snapshot always agree.
            assert_eq!(Some(info.height), snapshot.height());
            seen.push(info.height);
        }
        seen
    });
    let mut chain = populated.chain;
    for _ in 0..5 {
        chain.commit(&[]);
    }
    let seen = reader.join().unwrap();
    assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]));
    assert!(
        seen.iter()
            .all(|height| (start..=start + 5).contains(height))
    );
}

#[test]
fn access_log_pages_in_order() {
    let mut populated = populate(Store::in_memory().unwrap());
    let (grantee, record, patient) = (
        populated.grantee.clone(),
        populated.record,
        populated.patient.clone(),
    );
    let base = populated.chain.nonce(&grantee);
    let txs: Vec<_> = (0..5)
        .map(|i| grantee.sign(base + i, request(&record, Purpose::Research)))
        .collect();
    populated.chain.commit(&txs);
    let store = &populated.chain.store;
    let all = store.access_log(&patient.address, 0, 100).unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>()
    );
    let page = store.access_log(&patient.address, 2, 3).unwrap();
    assert_eq!(page, all[2..5].to_vec());
    assert!(
        store
            .access_log(&patient.address, 6, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .access_log(&grantee.address, 0, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(all[5].entry.tx, txs[4].id());
    assert_eq!(store.access_log(&patient.address, 0, 0).unwrap(), vec![]);
}

/// One block per transaction after the chain's last, each executed on an overlay of the ones
/// before it (as a node executes finalized blocks it has not committed yet).
fn blocks_ahead(
    populated: &Populated,
    txs: &[VerifiedTransaction],
) -> Vec<(Block, medchain_state::ExecutedBlock)> {
    let blocks: Vec<Vec<VerifiedTransaction>> = txs.iter().map(|tx| vec![tx.clone()]).collect();
    populated.chain.build_ahead(&blocks)
}

/// `n` access requests by the grantee, with consecutive nonces, for [`blocks_ahead`].
fn requests(populated: &Populated, n: u64) -> Vec<VerifiedTransaction> {
    let first_nonce = populated.chain.nonce(&populated.grantee);
    (0..n)
        .map(|i| {
            populated.grantee.sign(
                first_nonce + i,
                request(&populated.record, Purpose::Research),
            )
        })
        .collect()
}

fn batches(blocks: &[(Block, medchain_state::ExecutedBlock)]) -> Vec<CommitBatch<'_>> {
    blocks
        .iter()
        .map(|(block, executed)| CommitBatch {
            block,
            executed,
            finalization: Some(b"cert"),
        })
        .collect()
}

#[test]
fn a_group_commits_its_blocks_in_order_and_each_height_stays_provable() {
    let populated = populate(Store::in_memory().unwrap());
    let store = populated.chain.store.clone();
    let ahead = blocks_ahead(&populated, &requests(&populated, 4));
    let outcomes = store.commit_group(&batches(&ahead)).unwrap();
    assert_eq!(outcomes, vec![CommitOutcome::Committed; 4]);
    let (last_block, _) = ahead.last().unwrap();
    assert_eq!(
        store.last_applied().unwrap().unwrap().block_digest,
        last_block.header().digest()
    );
    let nonce_key = keys::account(&populated.grantee.address);
    for (block, executed) in &ahead {
        let height = block.header().height;
        assert_eq!(store.block_by_height(height).unwrap().as_ref(), Some(block));
        assert_eq!(
            store.finalization(height).unwrap().as_deref(),
            Some(&b"cert"[..])
        );
        let tx = block.tx_ids()[0];
        assert_eq!(store.tx_location(&tx).unwrap().unwrap().height, height);
        let proven = store.get_proven_at(nonce_key.as_bytes(), height).unwrap();
        assert_eq!(proven.state_root, executed.state_root);
        verify_proof(
            &block.header().state_root,
            nonce_key.as_bytes(),
            proven.value.as_deref(),
            &proven.proof,
        )
        .unwrap();
    }
}

#[test]
fn a_group_is_all_or_nothing_when_a_later_batch_fails() {
    let populated = populate(Store::in_memory().unwrap());
    let store = populated.chain.store.clone();
    let before = view(&store, &populated);
    let stats_before = store.stats().unwrap();
    let mut ahead = blocks_ahead(&populated, &requests(&populated, 2));

    // The second batch's header and execution agree on a root its tree delta does not give:
    // it fails inside the transaction, after the first batch's writes.
    let forged_root = Hash32::from([3; 32]);
    let (second_block, second_executed) = ahead[1].clone();
    let mut forged_header = second_block.header().clone();
    forged_header.state_root = forged_root;
    let mut forged_executed = second_executed.clone();
    forged_executed.state_root = forged_root;
    ahead[1] = (
        Block::new(forged_header, second_block.txs().to_vec()),
        forged_executed,
    );
    let result = store.commit_group(&batches(&ahead));
    assert!(
        matches!(result, Err(StorageError::Mismatch(_))),
        "{result:?}"
    );
    assert_eq!(view(&store, &populated), before);
    assert_eq!(store.stats().unwrap(), stats_before);
    assert_eq!(store.receipt(&ahead[0].0.tx_ids()[0]).unwrap(), None);

    // The honest pair commits afterwards.
    ahead[1] = (second_block, second_executed);
    let outcomes = store.commit_group(&batches(&ahead)).unwrap();
    assert_eq!(outcomes, vec![CommitOutcome::Committed; 2]);
}

#[test]
fn a_group_redelivering_committed_blocks_commits_only_the_new_ones() {
    let populated = populate(Store::in_memory().unwrap());
    let store = populated.chain.store.clone();
    let ahead = blocks_ahead(&populated, &requests(&populated, 3));
    store.commit_group(&batches(&ahead[..1])).unwrap();
    let before = store.stats().unwrap();

    let outcomes = store.commit_group(&batches(&ahead)).unwrap();
    assert_eq!(
        outcomes,
        vec![
            CommitOutcome::AlreadyCommitted,
            CommitOutcome::Committed,
            CommitOutcome::Committed
        ]
    );
    assert_eq!(store.stats().unwrap().blocks, before.blocks + 2);
    // All of it again: nothing to do, nothing written.
    let after = store.stats().unwrap();
    let outcomes = store.commit_group(&batches(&ahead)).unwrap();
    assert_eq!(outcomes, vec![CommitOutcome::AlreadyCommitted; 3]);
    assert_eq!(store.stats().unwrap(), after);
    assert_eq!(store.commit_group(&[]).unwrap(), vec![]);
}

#[test]
fn a_group_with_a_gap_is_refused_whole() {
    let populated = populate(Store::in_memory().unwrap());
    let store = populated.chain.store.clone();
    let before = view(&store, &populated);
    let height = populated.chain.height();
    let ahead = blocks_ahead(&populated, &requests(&populated, 3));

    let gap = [ahead[0].clone(), ahead[2].clone()];
    let result = store.commit_group(&batches(&gap));
    assert!(
        matches!(
            result,
            Err(StorageError::NotContiguous { expected, got })
                if expected == height + 2 && got == height + 3
        ),
        "{result:?}"
    );
    let not_first = [ahead[1].clone(), ahead[2].clone()];
    assert!(matches!(
        store.commit_group(&batches(&not_first)),
        Err(StorageError::NotContiguous { .. })
    ));
    assert_eq!(view(&store, &populated), before);
}

#[test]
fn group_commits_with_deletions_keep_every_kept_height_provable_and_history_bounded() {
    let keep = 3;
    let options = StoreOptions {
        keep_versions: NonZeroU64::new(keep).unwrap(),
        ..StoreOptions::default()
    };
    let mut populated = populate(Store::in_memory_with(options).unwrap());
    let store = populated.chain.store.clone();
    let regulator = populated.chain.regulator.clone();
    let doctor = doctor_identity(&populated.doctor);
    let revocation = keys::revocation(&doctor);
    let mut revoked_at = std::collections::BTreeMap::new();
    let mut stats = Vec::new();
    let rounds = 2 * PRUNE_EVERY;
    for round in 0..rounds {
        // Two blocks per group: the doctor is revoked, then the revocation lifted (a deletion).
        let nonce = populated.chain.nonce(&regulator);
        let txs = [
            regulator.sign(nonce, revoke_doctor(&doctor)),
            regulator.sign(nonce + 1, lift_revocation(&doctor)),
        ];
        let ahead = blocks_ahead(&populated, &txs);
        let outcomes = store.commit_group(&batches(&ahead)).unwrap();
        assert_eq!(outcomes, vec![CommitOutcome::Committed; 2], "round {round}");
        for (i, (block, _)) in ahead.iter().enumerate() {
            revoked_at.insert(block.header().height, i == 0);
        }
        populated.chain.last = ahead[1].0.clone();
        stats.push(store.stats().unwrap());

        let last = populated.chain.height();
        for height in last + 1 - keep..=last {
            let block = store.block_by_height(height).unwrap().unwrap();
            let proven = store.get_proven_at(revocation.as_bytes(), height).unwrap();
            let value = proven
                .verified_value(&block.header().state_root, &revocation)
                .unwrap();
            // Before the first round the doctor was never revoked.
            let revoked = revoked_at.get(&height).copied().unwrap_or(false);
            assert_eq!(value.is_some(), revoked, "height {height}");
        }
        let pruned = last - keep;
        assert!(matches!(
            store.get_proven_at(revocation.as_bytes(), pruned),
            Err(StorageError::Pruned { .. })
        ));
        let gone = pruned + 1 - PRUNE_EVERY;
        assert!(prove(&store.snapshot().unwrap(), revocation.as_bytes(), gone).is_err());
    }
    // Every group rewrites the same keys (the regulator's nonce, the revocation, cfg/block):
    // the superseded values and tombstones kept stop growing once pruning has caught up (a
    // pruning every PRUNE_EVERY heights is every PRUNE_EVERY / 2 groups of two).
    let period = (PRUNE_EVERY / 2) as usize;
    let (settled, later) = (stats[stats.len() - 1 - period], stats[stats.len() - 1]);
    assert_eq!(
        (
            settled.tree_nodes,
            settled.history_values,
            settled.stale_versions
        ),
        (later.tree_nodes, later.history_values, later.stale_versions)
    );
    assert!(
        later.history_values <= 3 * (keep + PRUNE_EVERY),
        "{later:?}"
    );
}

fn keep(versions: u64) -> StoreOptions {
    StoreOptions {
        keep_versions: NonZeroU64::new(versions).unwrap(),
        ..StoreOptions::default()
    }
}

/// The regulator moves the org between audited and suspended, one block each, `blocks` times.
fn toggle_org(chain: &mut Chain, org: &medchain_types::OrgName, blocks: u64) {
    let regulator = chain.regulator.clone();
    for _ in 0..blocks {
        let state = match chain.height().is_multiple_of(2) {
            true => OrgState::Audited,
            false => OrgState::Suspended,
        };
        chain.run(&regulator, set_state(org, state));
    }
}

/// The store calls exactly `oldest..=last` provable: every height there proves `key` against
/// its header's state root, and the height below is `Pruned` (for a proof and for a pin).
fn assert_provable_from(store: &Store, key: &[u8], oldest: u64) {
    let last = store.last_applied().unwrap().unwrap().height;
    assert_eq!(store.oldest_provable_height().unwrap(), Some(oldest));
    for height in oldest..=last {
        let root = store
            .block_by_height(height)
            .unwrap()
            .unwrap()
            .header()
            .state_root;
        let proven = store
            .get_proven_at(key, height)
            .unwrap_or_else(|e| panic!("height {height} of {oldest}..={last}: {e}"));
        proven.verify_against(&root).unwrap();
    }
    if let Some(below) = oldest.checked_sub(1) {
        for refused in [store.get_proven_at(key, below), store.pin_proof(key, below)] {
            assert!(
                matches!(refused, Err(StorageError::Pruned { height, oldest: said }) if height == below && said == oldest),
                "height {below}: {refused:?}"
            );
        }
    }
}

/// A node restarted with a longer retention window than its store was pruned with: the heights
/// the shorter window pruned stay `Pruned` (their tree nodes are gone), also after the longer
/// window's own prunings, whose horizon is below the earlier one; the window then grows back
/// as new heights commit.
#[test]
fn reopening_with_a_longer_window_never_claims_pruned_heights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("window.redb");
    let (short, long) = (2, 3 * PRUNE_EVERY);
    let org = org_name("Seoul General");
    let org_key = keys::org(&org);
    let mut chain = Chain::new(Store::open_with(&path, keep(short)).unwrap());
    chain.run(&Actor::new(1), register(&org, OrgKind::Hospital));
    toggle_org(&mut chain, &org, 3 * PRUNE_EVERY);
    // The last pruning kept the versions from the newest multiple of PRUNE_EVERY within the
    // short window on.
    let last = chain.height();
    let pruned_below = (last + 1 - short) / PRUNE_EVERY * PRUNE_EVERY;
    assert!(
        pruned_below > last + 1 - long,
        "the test needs a gap to fall in"
    );
    drop(chain);

    let mut chain = Chain::resume(Store::open_with(&path, keep(long)).unwrap());
    assert_provable_from(&chain.store, org_key.as_bytes(), pruned_below);
    // Up to where the long window reaches the horizon, through the long window's prunings
    // below it (they keep versions from 8 and 16 on): the horizon holds.
    while chain.height() + 2 - long <= pruned_below {
        toggle_org(&mut chain, &org, 1);
        assert_provable_from(&chain.store, org_key.as_bytes(), pruned_below);
    }
    drop(chain);
    let mut chain = Chain::resume(Store::open_with(&path, keep(long)).unwrap());
    assert_provable_from(&chain.store, org_key.as_bytes(), pruned_below);
    // Once the long window has moved past the horizon, it alone decides.
    toggle_org(&mut chain, &org, PRUNE_EVERY);
    let oldest = chain.height() + 1 - long;
    assert!(oldest > pruned_below);
    assert_provable_from(&chain.store, org_key.as_bytes(), oldest);
}

/// Sets (or, with `None`, removes) a `meta` row of a closed store file with redb itself, as a
/// file written by another build of the store, or damaged, would have it.
fn write_meta_row(path: &std::path::Path, key: &[u8], value: Option<&[u8]>) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        match value {
            Some(value) => meta.insert(key, value).unwrap(),
            None => meta.remove(key).unwrap(),
        };
    }
    txn.commit().unwrap();
}

const META: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("meta");

/// The `format` row of a closed store file.
fn read_format_row(path: &std::path::Path) -> Option<Vec<u8>> {
    use redb::ReadableDatabase;
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    meta.get(b"format".as_slice())
        .unwrap()
        .map(|value| value.value().to_vec())
}

/// A store with blocks but no format number was written before formats were numbered (its
/// superseded values were never listed for pruning): refused, with what to do, and left as it
/// was, so it is refused again.
#[test]
fn a_store_from_before_format_numbers_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    drop(populate(Store::open(&path).unwrap()));
    write_meta_row(&path, b"format", None);
    for _ in 0..2 {
        let refused = Store::open(&path)
            .err()
            .expect("an unnumbered store with data opened");
        assert!(
            matches!(refused, StorageError::Format { found: None, expected } if expected == STORAGE_FORMAT),
            "{refused:?}"
        );
        let message = refused.to_string();
        for hint in ["data directory aside", "re-sync", "medchain init"] {
            assert!(message.contains(hint), "{message:?} lacks {hint:?}");
        }
        assert_eq!(read_format_row(&path), None);
    }
}

/// Another format number is refused; a damaged one is reported as such; neither is rewritten.
#[test]
fn a_store_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    drop(populate(Store::open(&path).unwrap()));
    let newer = (STORAGE_FORMAT + 1).to_be_bytes();
    write_meta_row(&path, b"format", Some(&newer));
    let refused = Store::open(&path).err().expect("another format opened");
    assert!(
        matches!(refused, StorageError::Format { found: Some(found), expected } if found == STORAGE_FORMAT + 1 && expected == STORAGE_FORMAT),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains(&format!("format {}", STORAGE_FORMAT + 1))
    );
    assert_eq!(read_format_row(&path).as_deref(), Some(newer.as_slice()));
    write_meta_row(&path, b"format", Some(b"v1"));
    assert!(matches!(
        Store::open(&path),
        Err(StorageError::Corrupt {
            what: "storage format",
            ..
        })
    ));
    // This build's number opens it again, blocks and all.
    write_meta_row(&path, b"format", Some(&STORAGE_FORMAT.to_be_bytes()));
    assert!(
        Store::open(&path)
            .unwrap()
            .last_applied()
            .unwrap()
            .is_some()
    );
}

/// A new store (a new file, or an empty redb database) records this build's format number, and
/// reopens with it.
#[test]
fn a_new_store_records_its_format_number() {
    let dir = tempfile::tempdir().unwrap();
    let new_file = dir.path().join("new.redb");
    let empty_database = dir.path().join("empty.redb");
    drop(redb::Database::create(&empty_database).unwrap());
    for path in [new_file, empty_database] {
        drop(Store::open(&path).unwrap());
        assert_eq!(
            read_format_row(&path),
            Some(STORAGE_FORMAT.to_be_bytes().to_vec()),
            "{}",
            path.display()
        );
        drop(populate(Store::open(&path).unwrap()));
        assert!(Store::open(&path).is_ok());
    }
}

/// A `last_applied` whose height is the largest u64 (a damaged row) has no next height: every
/// query that works from it reports the row as corrupt instead of overflowing.
#[test]
fn a_last_applied_height_at_the_end_of_u64_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("end.redb");
    drop(Chain::new(Store::open_with(&path, keep(3)).unwrap()));
    write_meta_row(&path, b"last_applied", Some(&[0xff; 72]));
    let store = Store::open_with(&path, keep(3)).unwrap();
    let key = keys::block_info();
    let corrupt = |result: Result<_, StorageError>| {
        matches!(
            result,
            Err(StorageError::Corrupt {
                what: "last_applied",
                ..
            })
        )
    };
    assert!(corrupt(store.oldest_provable_height().map(|_| ())));
    assert!(corrupt(store.get_proven_at(key.as_bytes(), 0).map(|_| ())));
    assert!(corrupt(store.last_applied().map(|_| ())));
    let (genesis, executed) = genesis_block();
    let batch = CommitBatch {
        block: &genesis,
        executed: &executed,
        finalization: None,
    };
    assert!(corrupt(store.commit(batch).map(|_| ())));
}

#[test]
fn the_page_cache_stays_within_its_configured_size() {
    // Commits 8 blocks of 100 releases, reads every block back; returns the bytes cached.
    let cached_after_work = |cache_bytes: usize| {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            cache_bytes,
            ..StoreOptions::default()
        };
        let store = Store::open_with(dir.path().join("state.redb"), options).unwrap();
        assert_eq!(store.options().cache_bytes, cache_bytes);
        let mut populated = populate(store.clone());
        let doctor = populated.doctor.clone();
        for block in 0..8u64 {
            let nonce = populated.chain.nonce(&doctor);
            let txs: Vec<VerifiedTransaction> = (0..100u64)
                .map(|i| {
                    let patient = Actor::new(1_000 + block * 100 + i);
                    let emr = ContentHash::of(&(block * 100 + i).to_be_bytes());
                    doctor.sign(nonce + i, release(&doctor, &patient.address, &emr))
                })
                .collect();
            populated.chain.commit(&txs);
        }
        for height in 0..=populated.chain.height() {
            assert!(store.block_by_height(height).unwrap().is_some());
        }
        store.page_cache_bytes()
    };
    let cap = 256 << 10;
    let uncapped = cached_after_work(StoreOptions::default().cache_bytes);
    assert!(
        uncapped > cap,
        "the work should fill more than {cap} bytes of cache: {uncapped}"
    );
    let capped = cached_after_work(cap);
    assert!(capped <= cap, "{capped} bytes cached over a {cap}-byte cap");
}
