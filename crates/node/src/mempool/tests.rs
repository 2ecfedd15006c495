use super::*;
use commonware_cryptography::Signer;
use medchain_types::{
    ChainId, OrgKind, OrgName, Payload, PrivateKey, RegistryPayload, StakePayload, TokenPayload,
    TxBody,
    token::{LockTime, OutPoint, Payee, TxOutput},
};

fn signed(seed: u64, nonce: u64, fee: u64, payload: Payload) -> VerifiedTransaction {
    let key = PrivateKey::from_seed(seed);
    let chain = ChainId::new("medchain-test").unwrap();
    TxBody {
        chain_id: chain.clone(),
        sender: Address::from(key.public_key()),
        nonce,
        valid_until_ms: u64::MAX,
        fee,
        payload,
    }
    .sign(&key)
    .unwrap()
    .verify(&chain)
    .unwrap()
}

/// A transaction of sender `seed` at `nonce` paying `fee` from its balance.
fn paying(seed: u64, nonce: u64, fee: u64) -> VerifiedTransaction {
    let payload = Payload::Registry(RegistryPayload::Register {
        name: OrgName::new(format!("org {seed} {nonce}")).unwrap(),
        kind: OrgKind::Hospital,
    });
    signed(seed, nonce, fee, payload)
}

/// A transfer by sender `seed` at `nonce` naming `fee`, spending `inputs` and `from_balance`
/// of its balance (the mempool does not read the inputs: admission checked them).
fn transferring(
    seed: u64,
    nonce: u64,
    fee: u64,
    inputs: &[OutPoint],
    from_balance: u64,
) -> VerifiedTransaction {
    let payload = Payload::Token(TokenPayload::Transfer {
        inputs: inputs.to_vec(),
        from_balance,
        outputs: vec![TxOutput::to_key(90, sender(seed))],
        cosignatures: vec![],
    });
    signed(seed, nonce, fee, payload)
}

/// The output `index` of a made-up transaction.
fn coin(index: u16) -> OutPoint {
    OutPoint {
        tx: TxId::of_encoded(b"funding"),
        index,
    }
}

/// A free transaction (as on a chain without tokens).
fn tx(seed: u64, nonce: u64) -> VerifiedTransaction {
    paying(seed, nonce, 0)
}

/// A sender with committed next nonce `nonce` and no balance (enough on a free chain).
fn at(nonce: u64) -> SenderAccount {
    SenderAccount { nonce, balance: 0 }
}

/// A sender at nonce 0 holding `balance`.
fn funded(balance: u64) -> SenderAccount {
    SenderAccount { nonce: 0, balance }
}

fn sender(seed: u64) -> Address {
    tx(seed, 0).body().sender
}

fn admitted(pool: &Mempool, seed: u64, nonce: u64, committed: u64) -> Admitted {
    pool.admit(tx(seed, nonce), at(committed), 0)
        .unwrap()
        .admitted
}

fn small(limits: impl FnOnce(&mut MempoolLimits)) -> Mempool {
    let mut bounds = MempoolLimits::default();
    limits(&mut bounds);
    Mempool::new(bounds)
}

fn dropped(pool: &Mempool, seed: u64, nonce: u64) -> DropReason {
    drop_reason(pool, &tx(seed, nonce))
}

fn drop_reason(pool: &Mempool, tx: &VerifiedTransaction) -> DropReason {
    match pool.status(&tx.id()) {
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
        pool.admit(tx(1, 4), at(5), 0),
        Err(AdmissionError::StaleNonce { .. })
    ));
    assert!(matches!(
        pool.admit(tx(1, 5 + NONCE_WINDOW), at(5), 0),
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
    pool.admit(mine.clone(), at(0), 0).unwrap();
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
    let first = pool.admit(tx(1, 0), at(0), 0).unwrap();
    assert_eq!(first.admitted, Admitted::Pending);
    assert!(first.promoted.is_empty(), "nonce 1 is still missing");
    assert_eq!(
        pool.status(&tx(1, 2).id()),
        Some(MempoolStatus::Queued { waiting_for: 1 })
    );
    let second = pool.admit(tx(1, 1), at(0), 0).unwrap();
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
        pool.admit(tx(1, far), at(0), 0).unwrap_err(),
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
        pool.admit(tx(1, 3), at(0), 0).unwrap_err(),
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
    assert_eq!(
        pool.admit(tx(3, 40), at(0), 0).unwrap_err(),
        AdmissionError::Full
    );
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
    assert_eq!(
        pool.admit(tx(3, 0), at(0), 0).unwrap_err(),
        AdmissionError::Full
    );
    // ...an established one (it has executed 4 transactions) takes the newest fresh slot.
    assert_eq!(admitted(&pool, 4, 4, 4), Admitted::Pending);
    assert_eq!(dropped(&pool, 2, 0), DropReason::Evicted);
    assert!(pool.contains(&tx(1, 0).id()));
    // With no fresh account left to push out, even an established one waits.
    assert_eq!(admitted(&pool, 5, 9, 9), Admitted::Pending);
    assert_eq!(
        pool.admit(tx(6, 3), at(3), 0).unwrap_err(),
        AdmissionError::Full
    );
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
        pool.admit(tx(1, 2), at(0), 0).unwrap_err(),
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
            refused += usize::from(pool.admit(tx(key, nonce), at(0), 0).is_err());
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
    assert_eq!(
        pool.admit(tx(3, 1), at(0), 0).unwrap_err(),
        AdmissionError::Full
    );
}

/// (sender seed, nonce) of each transaction, in order.
fn picked(txs: &[VerifiedTransaction]) -> Vec<(Address, u64)> {
    txs.iter()
        .map(|t| (t.body().sender, t.body().nonce))
        .collect()
}

#[test]
fn selection_takes_the_highest_fee_first_and_keeps_each_senders_nonce_order() {
    let pool = Mempool::default();
    let rich = funded(1_000);
    for (seed, nonce, fee) in [
        (1, 0, 1),
        (1, 1, 50),
        (2, 0, 10),
        (3, 0, 10),
        (4, 0, 100),
        (4, 1, 2),
    ] {
        pool.admit(paying(seed, nonce, fee), rich, 0).unwrap();
    }
    let (a, b, c, d) = (sender(1), sender(2), sender(3), sender(4));
    // Sender a's fee-50 transaction waits behind its fee-1 one; b and c tie, b arrived first;
    // d's fee-2 transaction waits for its fee-100 one but then comes before a's fee-1 one.
    assert_eq!(
        picked(&pool.candidates(10, |_| 0)),
        vec![(d, 0), (b, 0), (c, 0), (d, 1), (a, 0), (a, 1)]
    );
    assert_eq!(picked(&pool.candidates(2, |_| 0)), vec![(d, 0), (b, 0)]);
    // A parent that already holds d's and a's nonce 0: d now offers 2, a offers 50. Senders
    // are reached in the order of the fee at their committed nonce (state is read only for
    // the senders selection reaches), then ordered by what they offer next.
    let after = pool.candidates(10, |s| u64::from(*s == a || *s == d));
    assert_eq!(picked(&after), vec![(b, 0), (c, 0), (d, 1), (a, 1)]);
}

#[test]
fn a_fee_below_the_minimum_is_refused() {
    let pool = Mempool::default();
    assert_eq!(
        pool.admit(paying(1, 0, 3), funded(100), 4).unwrap_err(),
        AdmissionError::FeeTooLow { fee: 3, minimum: 4 }
    );
    assert!(pool.admit(paying(1, 0, 4), funded(100), 4).is_ok());
}

#[test]
fn a_sender_must_afford_the_fees_of_everything_it_has_waiting() {
    let pool = Mempool::default();
    // No balance, no admission: not even a place in the queue.
    assert_eq!(
        pool.admit(paying(1, 3, 5), funded(0), 1).unwrap_err(),
        AdmissionError::CannotAfford {
            balance: 0,
            needed: 5
        }
    );
    assert!(pool.is_empty());
    let account = funded(12);
    pool.admit(paying(2, 0, 5), account, 1).unwrap();
    pool.admit(paying(2, 2, 5), account, 1).unwrap(); // queued fees count too
    assert_eq!(
        pool.admit(paying(2, 1, 5), account, 1).unwrap_err(),
        AdmissionError::CannotAfford {
            balance: 12,
            needed: 15
        }
    );
    // Once nonce 2 is dropped, its fee is no longer owed.
    pool.evict_from(&sender(2), 2, DropReason::Evicted);
    assert!(pool.admit(paying(2, 1, 5), account, 1).is_ok());
    // Executed transactions paid already: the balance read after the block is what is left.
    finalize(&pool, 1, &[]);
    let included = paying(2, 0, 5);
    pool.on_finalized(2, [(&sender(2), 0, included.id())], |_| 1);
    let after = SenderAccount {
        nonce: 1,
        balance: 7,
    };
    assert!(pool.admit(paying(2, 2, 2), after, 1).is_ok());
}

#[test]
fn a_transfer_pays_from_its_inputs_and_needs_no_balance() {
    let pool = Mempool::default();
    let key = PrivateKey::from_seed(7);
    let to_self = TxOutput {
        value: 90,
        to: Payee::Balance(Address::from(key.public_key())),
    };
    let transfer = Payload::Token(TokenPayload::Transfer {
        inputs: vec![OutPoint {
            tx: TxId::of_encoded(b"funding"),
            index: 0,
        }],
        from_balance: 0,
        outputs: vec![to_self],
        cosignatures: vec![],
    });
    let admission = pool
        .admit(signed(7, 0, 10, transfer), funded(0), 1)
        .unwrap();
    assert_eq!(admission.admitted, Admitted::Pending);
    // The balance it feeds is not there yet: a fee from the balance still is not affordable.
    assert!(matches!(
        pool.admit(paying(7, 1, 10), funded(0), 1),
        Err(AdmissionError::CannotAfford { .. })
    ));
}

#[test]
fn the_amounts_a_transaction_takes_from_the_balance_count_as_owed() {
    let pool = Mempool::default();
    let account = funded(100);
    let delegate = Payload::Stake(StakePayload::Delegate {
        candidate: sender(99),
        amount: 60,
    });
    pool.admit(signed(1, 0, 5, delegate), account, 1).unwrap(); // owes 65
    let escrow = |amount| {
        Payload::Token(TokenPayload::EscrowOpen {
            payee: sender(2),
            arbiter: sender(3),
            amount,
            refund_after: LockTime::Height(10),
        })
    };
    // The fee alone fits; with the deposit it does not.
    assert_eq!(
        pool.admit(signed(1, 1, 5, escrow(31)), account, 1)
            .unwrap_err(),
        AdmissionError::CannotAfford {
            balance: 100,
            needed: 101
        }
    );
    pool.admit(signed(1, 1, 5, escrow(30)), account, 1).unwrap(); // owes 100
    // A transfer's fee comes from its inputs, but the balance part is owed.
    assert_eq!(
        pool.admit(transferring(1, 2, 5, &[coin(0)], 1), account, 1)
            .unwrap_err(),
        AdmissionError::CannotAfford {
            balance: 100,
            needed: 101
        }
    );
    pool.admit(transferring(1, 2, 5, &[coin(0)], 0), account, 1)
        .unwrap();
}

#[test]
fn two_waiting_transfers_never_spend_the_same_output() {
    let pool = Mempool::default();
    let first = transferring(1, 0, 5, &[coin(0), coin(1)], 0);
    pool.admit(first.clone(), funded(0), 1).unwrap();
    let conflict = AdmissionError::InputConflict {
        input: coin(1),
        held_by: first.id(),
    };
    // Another sender, or the same sender's next transaction, naming one of its inputs.
    let rival = transferring(2, 0, 5, &[coin(1)], 0);
    assert_eq!(
        pool.admit(rival.clone(), funded(0), 1).unwrap_err(),
        conflict
    );
    let again = transferring(1, 1, 5, &[coin(2), coin(1)], 0);
    assert_eq!(
        pool.admit(again.clone(), funded(0), 1).unwrap_err(),
        conflict
    );
    assert_eq!(pool.len(), 1);
    // Once the first is dropped, its outputs are free again.
    pool.evict_from(&sender(1), 0, DropReason::Evicted);
    pool.admit(rival.clone(), funded(0), 1).unwrap();
    // And once a block includes a transfer, so are its outputs (in the mempool: admission
    // then finds them spent in committed state).
    assert_eq!(
        pool.admit(again.clone(), funded(0), 1).unwrap_err(),
        AdmissionError::InputConflict {
            input: coin(1),
            held_by: rival.id(),
        }
    );
    pool.on_finalized(1, [(&sender(2), 0, rival.id())], |_| 1);
    pool.admit(again, funded(0), 1).unwrap();
    assert_consistent(&pool);
}

#[test]
fn when_pending_is_full_the_lowest_fee_senders_newest_transaction_makes_room() {
    let pool = small(|l| l.max_pending = 3);
    let rich = funded(1_000);
    pool.admit(paying(1, 0, 2), rich, 0).unwrap();
    pool.admit(paying(1, 1, 9), rich, 0).unwrap();
    pool.admit(paying(2, 0, 5), rich, 0).unwrap();
    // Paying no more than the lowest (sender 1 at 2) finds no room.
    assert_eq!(
        pool.admit(paying(3, 0, 2), rich, 0).unwrap_err(),
        AdmissionError::Full
    );
    // Paying more evicts sender 1's newest transaction, not its next one.
    pool.admit(paying(3, 0, 3), rich, 0).unwrap();
    assert_eq!(drop_reason(&pool, &paying(1, 1, 9)), DropReason::Evicted);
    assert_eq!(
        pool.status(&paying(1, 0, 2).id()),
        Some(MempoolStatus::Pending)
    );
    pool.admit(paying(4, 0, 4), rich, 0).unwrap();
    assert_eq!(drop_reason(&pool, &paying(1, 0, 2)), DropReason::Evicted);
    assert_eq!(pool.pending_len(), 3);
    let chosen = picked(&pool.candidates(10, |_| 0));
    assert_eq!(chosen, vec![(sender(2), 0), (sender(4), 0), (sender(3), 0)]);
}

#[test]
fn a_gapped_flood_from_unfunded_keys_is_refused_outright_once_fees_are_on() {
    let pool = Mempool::default();
    for key in 1_000..1_100 {
        for nonce in 1..=8 {
            assert!(matches!(
                pool.admit(paying(key, nonce, 1), at(0), 1),
                Err(AdmissionError::CannotAfford { .. })
            ));
        }
    }
    assert!(pool.is_empty());
}

/// Every index agrees with the senders' queues: what a sender owes is the sum of what its
/// held transactions take from its balance, each sender has one rank and it is the fee of its
/// next executable transaction, the pending count is the sum of the senders' runs, and the
/// spent-input index names exactly the inputs of held transfers (no two of which share one).
fn assert_consistent(pool: &Mempool) {
    let inner = pool.lock();
    let mut held = 0;
    let mut pending = 0;
    let mut spent = HashMap::new();
    for (id, entry) in &inner.by_id {
        for input in inputs(&entry.tx) {
            assert!(spent.insert(*input, *id).is_none(), "{input} spent twice");
        }
    }
    assert_eq!(inner.spent_inputs, spent);
    for (sender, queue) in &inner.senders {
        let owed: u64 = queue
            .nonces
            .values()
            .map(|id| owed(&inner.by_id[id].tx))
            .sum();
        assert_eq!(queue.owed, owed, "owed of {sender}");
        let next_fee = match queue.nonces.get(&queue.committed) {
            Some(id) if queue.pending() > 0 => fee(&inner.by_id[id].tx),
            _ => 0,
        };
        assert_eq!(queue.rank.fee.0, next_fee, "rank of {sender}");
        assert_eq!(inner.ranked.get(&queue.rank), Some(sender));
        assert!(!queue.nonces.is_empty(), "an empty sender is kept");
        held += queue.nonces.len();
        pending += queue.pending();
    }
    assert_eq!(inner.ranked.len(), inner.senders.len());
    assert_eq!(inner.by_id.len(), held);
    assert_eq!(inner.pending_count, pending);
    let unqueued = inner.by_id.values().filter(|e| e.queued.is_none()).count();
    assert_eq!(unqueued, pending);
}

/// What an admitted transaction does with the sender's balance.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Pays its fee from the balance.
    Plain,
    /// Also delegates `amount` from the balance.
    Delegate { amount: u64 },
    /// A transfer spending the made-up output `coin` and `from_balance` of the balance.
    Transfer { coin: u16, from_balance: u64 },
}

impl Kind {
    fn signed(self, seed: u64, nonce: u64, fee: u64) -> VerifiedTransaction {
        match self {
            Kind::Plain => paying(seed, nonce, fee),
            Kind::Delegate { amount } => {
                let payload = Payload::Stake(StakePayload::Delegate {
                    candidate: sender(99),
                    amount,
                });
                signed(seed, nonce, fee, payload)
            }
            Kind::Transfer {
                coin: index,
                from_balance,
            } => transferring(seed, nonce, fee, &[coin(index)], from_balance),
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        2 => Just(Kind::Plain),
        1 => (0..10u64).prop_map(|amount| Kind::Delegate { amount }),
        1 => (0..4u16, 0..10u64).prop_map(|(coin, from_balance)| Kind::Transfer { coin, from_balance }),
    ]
}

/// One thing that happens to a mempool.
#[derive(Clone, Debug)]
enum Op {
    /// Sender `seed` submits `nonce` of `kind` paying `fee`, holding `balance`.
    Admit {
        seed: u64,
        nonce: u64,
        fee: u64,
        balance: u64,
        kind: Kind,
    },
    /// A block includes sender `seed`'s next transaction.
    Include { seed: u64 },
    /// Sender `seed`'s transaction at `nonce` fails at block building.
    Fail { seed: u64, nonce: u64 },
    /// Blocks pass (expiry).
    Wait { blocks: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..6u64, 0..8u64, 0..5u64, 0..20u64, kind()).prop_map(|(seed, nonce, fee, balance, kind)| {
            Op::Admit { seed, nonce, fee, balance, kind }
        }),
        2 => (0..6u64).prop_map(|seed| Op::Include { seed }),
        1 => (0..6u64, 0..8u64).prop_map(|(seed, nonce)| Op::Fail { seed, nonce }),
        1 => (1..4u64).prop_map(|blocks| Op::Wait { blocks }),
    ]
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Under any sequence of admissions (of plain transactions, delegations and transfers
    /// competing for a few outputs), inclusions, failures and expiries, the indexes stay
    /// consistent (no output is spent by two held transfers), a block's candidates keep each
    /// sender's nonces contiguous from its committed nonce, and no sender ever owes more than
    /// its balance at admission allowed.
    #[test]
    fn the_mempool_stays_consistent_under_any_sequence(ops in prop::collection::vec(op(), 1..60)) {
        let pool = small(|l| {
            l.max_pending = 6;
            l.max_queued = 4;
            l.max_queued_per_sender = 2;
            l.pending_ttl_blocks = 6;
            l.queued_ttl_blocks = 3;
        });
        // Each sender's committed next nonce.
        let mut committed: HashMap<Address, u64> = HashMap::new();
        let mut height = 0;
        for op in ops {
            match op {
                Op::Admit { seed, nonce, fee, balance, kind } => {
                    let account = SenderAccount {
                        nonce: committed.get(&sender(seed)).copied().unwrap_or(0),
                        balance,
                    };
                    let admitted = pool.admit(kind.signed(seed, nonce, fee), account, 1);
                    if admitted.is_ok_and(|a| a.admitted != Admitted::Duplicate) {
                        // What it owes now, this one included, its balance covers.
                        let owed = pool.lock().senders.get(&sender(seed)).map_or(0, |q| q.owed);
                        prop_assert!(owed <= balance);
                    }
                }
                Op::Include { seed } => {
                    let next = committed.get(&sender(seed)).copied().unwrap_or(0);
                    let chosen = pool.candidates(usize::MAX, |s| committed.get(s).copied().unwrap_or(0));
                    let Some(tx) = chosen.iter().find(|tx| tx.body().sender == sender(seed)) else {
                        continue;
                    };
                    prop_assert_eq!(tx.body().nonce, next);
                    height += 1;
                    committed.insert(sender(seed), next + 1);
                    let id = tx.id();
                    pool.on_finalized(height, [(&sender(seed), next, id)], |_| next + 1);
                }
                Op::Fail { seed, nonce } => {
                    pool.evict_from(&sender(seed), nonce, DropReason::Evicted);
                }
                Op::Wait { blocks } => {
                    height += blocks;
                    pool.on_finalized(height, [], |_| 0);
                }
            }
            assert_consistent(&pool);
            // Each sender's candidates run contiguously from its committed nonce.
            let chosen = pool.candidates(usize::MAX, |s| committed.get(s).copied().unwrap_or(0));
            for seed in 0..6 {
                let nonces: Vec<u64> = chosen
                    .iter()
                    .filter(|tx| tx.body().sender == sender(seed))
                    .map(|tx| tx.body().nonce)
                    .collect();
                let start = committed.get(&sender(seed)).copied().unwrap_or(0);
                let expected: Vec<u64> = (start..start + nonces.len() as u64).collect();
                prop_assert_eq!(nonces, expected);
            }
        }
    }
}

#[test]
fn what_a_transaction_brings_counts_towards_what_its_sender_can_afford() {
    let pool = Mempool::default();
    let prepaid = |prepaid| Charge {
        min_fee: 1,
        prepaid,
    };
    // A fresh address with no balance, whose transaction brings 5 before its fee of 5.
    let enrol = paying(1, 0, 5);
    pool.precheck(&enrol, funded(0), prepaid(5)).unwrap();
    assert_eq!(
        pool.admit_charged(enrol.clone(), funded(0), prepaid(4))
            .unwrap_err(),
        AdmissionError::CannotAfford {
            balance: 0,
            needed: 1
        }
    );
    assert_eq!(
        pool.admit_charged(enrol, funded(0), prepaid(5))
            .unwrap()
            .admitted,
        Admitted::Pending
    );
    // What it brings pays for itself only: the sender's next transaction pays as usual.
    assert_eq!(
        pool.admit_charged(paying(1, 1, 5), funded(0), prepaid(0))
            .unwrap_err(),
        AdmissionError::CannotAfford {
            balance: 0,
            needed: 5
        }
    );
    // Dropping a prepaid transaction forgets what it owed (nothing), not its fee: what the
    // sender's earlier transaction owes still counts.
    pool.admit(paying(2, 0, 5), funded(10), 1).unwrap();
    pool.admit_charged(paying(2, 1, 5), funded(10), prepaid(5))
        .unwrap();
    pool.evict_from(&sender(2), 1, DropReason::Evicted);
    assert_eq!(
        pool.admit_charged(paying(2, 1, 6), funded(10), prepaid(0))
            .unwrap_err(),
        AdmissionError::CannotAfford {
            balance: 10,
            needed: 11
        }
    );
}

#[test]
fn the_precheck_refuses_cheaply_and_admits_nothing() {
    let pool = Mempool::default();
    let charge = Charge {
        min_fee: 4,
        prepaid: 0,
    };
    assert_eq!(
        pool.precheck(&paying(1, 0, 3), funded(100), charge)
            .unwrap_err(),
        AdmissionError::FeeTooLow { fee: 3, minimum: 4 }
    );
    assert_eq!(
        pool.precheck(&paying(1, 0, 5), funded(4), charge)
            .unwrap_err(),
        AdmissionError::CannotAfford {
            balance: 4,
            needed: 5
        }
    );
    assert!(matches!(
        pool.precheck(&paying(1, 0, 5), at(2), charge),
        Err(AdmissionError::StaleNonce { .. })
    ));
    pool.precheck(&paying(1, 0, 5), funded(5), charge).unwrap();
    assert!(pool.is_empty(), "a precheck holds nothing");
    pool.admit_charged(paying(1, 0, 5), funded(5), charge)
        .unwrap();
    // Another transaction with a held nonce is refused; the held one itself passes.
    assert_eq!(
        pool.precheck(&paying(1, 0, 6), funded(50), charge)
            .unwrap_err(),
        AdmissionError::NonceTaken(0)
    );
    pool.precheck(&paying(1, 0, 5), funded(50), charge).unwrap();
}
