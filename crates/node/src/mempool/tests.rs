use super::*;
use commonware_cryptography::Signer;
use medchain_types::{ChainId, OrgKind, OrgName, Payload, PrivateKey, RegistryPayload, TxBody};

fn tx(seed: u64, nonce: u64) -> VerifiedTransaction {
    let key = PrivateKey::from_seed(seed);
    let chain = ChainId::new("medchain-test").unwrap();
    TxBody {
        chain_id: chain.clone(),
        sender: Address::from(key.public_key()),
        nonce,
        valid_until_ms: u64::MAX,
        fee: 0,
        payload: Payload::Registry(RegistryPayload::Register {
            name: OrgName::new(format!("org {seed} {nonce}")).unwrap(),
            kind: OrgKind::Hospital,
        }),
    }
    .sign(&key)
    .unwrap()
    .verify(&chain)
    .unwrap()
}

fn sender(seed: u64) -> Address {
    tx(seed, 0).body().sender
}

fn admitted(pool: &Mempool, seed: u64, nonce: u64, committed: u64) -> Admitted {
    pool.admit(tx(seed, nonce), committed).unwrap().admitted
}

fn small(limits: impl FnOnce(&mut MempoolLimits)) -> Mempool {
    let mut bounds = MempoolLimits::default();
    limits(&mut bounds);
    Mempool::new(bounds)
}

fn dropped(pool: &Mempool, seed: u64, nonce: u64) -> DropReason {
    match pool.status(&tx(seed, nonce).id()) {
        Some(MempoolStatus::Dropped(dropped)) => dropped.reason,
        other => panic!("expected a drop record, got {other:?}"),
    }
}

/// Finalizes a block holding `txs` (sender seed, nonce) at `height`; each sender's committed
/// nonce becomes one past its highest included nonce.
fn finalize(pool: &Mempool, height: u64, txs: &[(u64, u64)]) -> Vec<VerifiedTransaction> {
    let included: Vec<(Address, u64, TxId)> = txs
        .iter()
        .map(|&(seed, nonce)| (sender(seed), nonce, tx(seed, nonce).id()))
        .collect();
    let next: HashMap<Address, u64> =
        included.iter().fold(HashMap::new(), |mut next, (s, n, _)| {
            let slot = next.entry(*s).or_default();
            *slot = (*slot).max(n + 1);
            next
        });
    pool.on_finalized(
        height,
        included.iter().map(|(s, n, id)| (s, *n, *id)),
        |s| next[s],
    )
}

#[test]
fn admission_enforces_the_nonce_window_and_duplicates() {
    let pool = Mempool::default();
    assert_eq!(admitted(&pool, 1, 5, 5), Admitted::Pending);
    assert_eq!(admitted(&pool, 1, 5, 5), Admitted::Duplicate);
    assert!(matches!(
        pool.admit(tx(1, 4), 5),
        Err(AdmissionError::StaleNonce { .. })
    ));
    assert!(matches!(
        pool.admit(tx(1, 5 + NONCE_WINDOW), 5),
        Err(AdmissionError::NonceTooFar { .. })
    ));
    assert_eq!(pool.len(), 1);
}

#[test]
fn candidates_follow_nonces_without_gaps() {
    let pool = Mempool::default();
    for nonce in [0, 1] {
        admitted(&pool, 1, nonce, 0);
    }
    admitted(&pool, 2, 0, 0);
    let picked: Vec<_> = pool
        .candidates(10, |_| 0)
        .iter()
        .map(|t| (t.body().sender, t.body().nonce))
        .collect();
    let (a, b) = (sender(1), sender(2));
    assert_eq!(picked, vec![(a, 0), (a, 1), (b, 0)]);
    assert_eq!(pool.candidates(2, |_| 0).len(), 2);
    // A parent that already included nonce 0 and 1 of sender a.
    let after = pool.candidates(10, |s| if *s == a { 2 } else { 0 });
    assert_eq!(after.len(), 1);
}

#[test]
fn finalization_prunes_included_transactions_without_a_drop_record() {
    let pool = Mempool::default();
    for nonce in 0..3 {
        admitted(&pool, 1, nonce, 0);
    }
    finalize(&pool, 1, &[(1, 0), (1, 1)]);
    assert!(!pool.contains(&tx(1, 0).id()) && !pool.contains(&tx(1, 1).id()));
    assert_eq!(pool.status(&tx(1, 0).id()), None, "included is not dropped");
    assert_eq!(pool.status(&tx(1, 2).id()), Some(MempoolStatus::Pending));
    finalize(&pool, 2, &[(1, 2)]);
    assert!(pool.is_empty());
    assert_eq!(pool.pending_len(), 0);
    assert!(pool.candidates(10, |_| 0).is_empty());
}

#[test]
fn a_losing_transaction_with_the_included_nonce_is_recorded_as_superseded() {
    let pool = Mempool::default();
    let mine = tx(1, 0);
    pool.admit(mine.clone(), 0).unwrap();
    // The block carried another transaction of the same sender and nonce.
    let winner = TxId::of_encoded(b"the winner");
    pool.on_finalized(1, [(&mine.body().sender, 0, winner)], |_| 1);
    assert!(pool.is_empty());
    assert_eq!(
        dropped(&pool, 1, 0),
        DropReason::Superseded { by: Some(winner) }
    );
}

#[test]
fn gapped_transactions_are_queued_then_promoted_when_the_gap_fills() {
    let pool = Mempool::default();
    assert_eq!(
        admitted(&pool, 1, 2, 0),
        Admitted::Queued { waiting_for: 0 }
    );
    assert_eq!(pool.pending_len(), 0);
    assert!(
        pool.candidates(10, |_| 0).is_empty(),
        "a queued tx was selected"
    );
    let first = pool.admit(tx(1, 0), 0).unwrap();
    assert_eq!(first.admitted, Admitted::Pending);
    assert!(first.promoted.is_empty(), "nonce 1 is still missing");
    assert_eq!(
        pool.status(&tx(1, 2).id()),
        Some(MempoolStatus::Queued { waiting_for: 1 })
    );
    let second = pool.admit(tx(1, 1), 0).unwrap();
    let promoted: Vec<u64> = second.promoted.iter().map(|t| t.body().nonce).collect();
    assert_eq!(
        promoted,
        vec![2],
        "the queued tx must be handed back for gossip"
    );
    assert_eq!(pool.pending_len(), 3);
    assert_eq!(pool.candidates(10, |_| 0).len(), 3);
}

#[test]
fn a_block_that_fills_the_gap_promotes_the_queued_transactions() {
    let pool = Mempool::default();
    admitted(&pool, 1, 1, 0);
    // Nonce 0 reached a block through another validator's mempool.
    let promoted = finalize(&pool, 1, &[(1, 0)]);
    assert_eq!(promoted.len(), 1);
    assert_eq!(pool.status(&tx(1, 1).id()), Some(MempoolStatus::Pending));
}

#[test]
fn the_nonce_gap_error_names_the_first_missing_nonce() {
    let pool = Mempool::default();
    admitted(&pool, 1, 0, 0);
    admitted(&pool, 1, 2, 0);
    let far = 2 + FUTURE_WINDOW + 1;
    // Nonce 1 is missing: that is what the sender must send next, not 3.
    assert_eq!(
        pool.admit(tx(1, far), 0).unwrap_err(),
        AdmissionError::NonceGap {
            expected: 1,
            got: far
        }
    );
}

#[test]
fn a_sender_may_queue_only_a_few_transactions() {
    let pool = small(|l| l.max_queued_per_sender = 2);
    admitted(&pool, 1, 1, 0);
    admitted(&pool, 1, 2, 0);
    assert_eq!(
        pool.admit(tx(1, 3), 0).unwrap_err(),
        AdmissionError::SenderFull {
            kind: "queued",
            held: 2
        }
    );
    // Executable transactions of the same sender are still welcome.
    assert_eq!(admitted(&pool, 1, 0, 0), Admitted::Pending);
}

#[test]
fn a_full_queue_evicts_the_worst_placed_transaction_for_a_better_one() {
    let pool = small(|l| l.max_queued = 2);
    admitted(&pool, 1, 30, 0);
    admitted(&pool, 2, 5, 0);
    // Worse placed than everything held: refused.
    assert_eq!(pool.admit(tx(3, 40), 0).unwrap_err(), AdmissionError::Full);
    // Better placed than the gap-30 one: it takes its place.
    assert!(matches!(admitted(&pool, 4, 1, 0), Admitted::Queued { .. }));
    assert_eq!(dropped(&pool, 1, 30), DropReason::Evicted);
    assert!(pool.contains(&tx(2, 5).id()));
    // Pending transactions never compete with queued ones.
    assert_eq!(admitted(&pool, 5, 0, 0), Admitted::Pending);
}

#[test]
fn when_pending_is_full_established_accounts_push_out_fresh_ones() {
    let pool = small(|l| l.max_pending = 2);
    admitted(&pool, 1, 0, 0);
    admitted(&pool, 2, 0, 0);
    // A fresh account is refused...
    assert_eq!(pool.admit(tx(3, 0), 0).unwrap_err(), AdmissionError::Full);
    // ...an established one (it has executed 4 transactions) takes the newest fresh slot.
    assert_eq!(admitted(&pool, 4, 4, 4), Admitted::Pending);
    assert_eq!(dropped(&pool, 2, 0), DropReason::Evicted);
    assert!(pool.contains(&tx(1, 0).id()));
    // With no fresh account left to push out, even an established one waits.
    assert_eq!(admitted(&pool, 5, 9, 9), Admitted::Pending);
    assert_eq!(pool.admit(tx(6, 3), 3).unwrap_err(), AdmissionError::Full);
}

#[test]
fn queued_and_pending_transactions_expire_with_a_recorded_reason() {
    let pool = small(|l| {
        l.queued_ttl_blocks = 10;
        l.pending_ttl_blocks = 100;
    });
    pool.observe_height(50);
    admitted(&pool, 1, 3, 0); // queued
    admitted(&pool, 2, 0, 0); // pending
    admitted(&pool, 2, 1, 0); // pending, after it
    finalize(&pool, 59, &[]);
    assert!(pool.contains(&tx(1, 3).id()), "not yet");
    finalize(&pool, 60, &[]);
    assert_eq!(
        dropped(&pool, 1, 3),
        DropReason::Expired {
            queued: true,
            blocks: 10
        }
    );
    assert_eq!(pool.status(&tx(2, 0).id()), Some(MempoolStatus::Pending));
    finalize(&pool, 150, &[]);
    assert_eq!(
        dropped(&pool, 2, 0),
        DropReason::Expired {
            queued: false,
            blocks: 100
        }
    );
    assert!(matches!(
        dropped(&pool, 2, 1),
        DropReason::Expired { .. } | DropReason::PredecessorDropped { nonce: 0 }
    ));
    assert!(pool.is_empty());
}

#[test]
fn a_failed_transaction_is_evicted_with_its_successors_and_the_reasons_kept() {
    let pool = Mempool::default();
    for nonce in 0..3 {
        admitted(&pool, 1, nonce, 0);
    }
    let failure = DropReason::Failed {
        code: "org_exists".into(),
        message: "organisation exists".into(),
    };
    pool.evict_from(&sender(1), 1, failure.clone());
    assert_eq!(pool.len(), 1);
    assert_eq!(dropped(&pool, 1, 1), failure);
    assert_eq!(
        dropped(&pool, 1, 2),
        DropReason::PredecessorDropped { nonce: 1 }
    );
    // The sender can submit a replacement for the evicted nonce.
    assert_eq!(admitted(&pool, 1, 1, 0), Admitted::Pending);
    assert_eq!(pool.status(&tx(1, 1).id()), Some(MempoolStatus::Pending));
}

#[test]
fn per_sender_pending_bound_is_enforced() {
    let pool = small(|l| l.max_pending_per_sender = 2);
    admitted(&pool, 1, 0, 0);
    admitted(&pool, 1, 1, 0);
    assert_eq!(
        pool.admit(tx(1, 2), 0).unwrap_err(),
        AdmissionError::SenderFull {
            kind: "pending",
            held: 2
        }
    );
}

#[test]
fn a_gapped_flood_from_fresh_keys_never_blocks_an_established_sender() {
    let pool = small(|l| {
        l.max_queued = 500;
        l.max_pending = 1_000;
    });
    // 200 throwaway keys, each sending nonces 1.. (never 0): nothing of theirs can execute.
    let mut refused = 0;
    for key in 1_000..1_200 {
        for nonce in 1..=FUTURE_WINDOW {
            refused += usize::from(pool.admit(tx(key, nonce), 0).is_err());
        }
    }
    assert!(refused > 0, "the flood must hit the queued bounds");
    assert_eq!(pool.pending_len(), 0);
    assert!(pool.len() <= 500);
    for nonce in 7..107 {
        assert_eq!(admitted(&pool, 1, nonce, 7), Admitted::Pending);
    }
    assert_eq!(pool.candidates(1_000, |_| 7).len(), 100);
}

#[test]
fn a_full_queue_prefers_established_senders_over_fresh_ones() {
    let pool = small(|l| l.max_queued = 1);
    admitted(&pool, 1, 2, 0); // a fresh key, gap 2
    // An established sender (4 transactions executed) with a worse gap still wins the slot.
    assert!(matches!(
        admitted(&pool, 2, 4 + 9, 4),
        Admitted::Queued { .. }
    ));
    assert_eq!(dropped(&pool, 1, 2), DropReason::Evicted);
    // Another fresh key cannot push it out.
    assert_eq!(pool.admit(tx(3, 1), 0).unwrap_err(), AdmissionError::Full);
}
