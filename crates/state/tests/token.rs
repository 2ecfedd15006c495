//! The token module (S1-tokens, S1-utxo): transfers, their rejections (each leaving the state
//! exactly as an empty block would: same root, nonce unmoved), escrow, fees, block rewards and
//! access rewards.

use medchain_state::{
    ExecError, keys,
    testkit::{
        ACCESS_REWARD_DEFAULT, Actor, Sharing, TREASURY_BALANCE, World, escrow_open, register,
        request, request_paying, revoke, serve, to_balance, token_genesis, transfer,
    },
    values::{LedgerEntry, LedgerKind},
};
use medchain_types::{
    AccessDecision, AccessGrounds, Address, ConsentId, ConsentPayload, EscrowId, Event, Expiry,
    Genesis, OrgKind, OrgName, Payload, Purpose, RecordId, TokenPayload, TxId, VerifiedTransaction,
    token::{Lock, LockTime, OutPoint, Payee, TxOutput},
};

fn world() -> World {
    World::with_genesis(&token_genesis())
}

fn genesis_coin(index: u16) -> OutPoint {
    OutPoint {
        tx: TxId(token_genesis().digest()),
        index,
    }
}

fn value_of(world: &World, point: &OutPoint) -> u64 {
    world
        .value(&keys::output(point))
        .expect("an unspent output")
        .value
}

/// `sender` spends `inputs` into `outputs`, with a change output to itself sized so that the
/// surplus is exactly the least fee.
fn pay(
    world: &World,
    sender: &Actor,
    inputs: &[OutPoint],
    outputs: &[TxOutput],
    cosigners: &[&Actor],
) -> VerifiedTransaction {
    let total: u64 = inputs.iter().map(|point| value_of(world, point)).sum();
    let mut all = outputs.to_vec();
    all.push(TxOutput::to_key(1, sender.address));
    let fee = world.transfer_fee(sender, (inputs, 0, &all), cosigners);
    let paid: u64 = outputs.iter().map(|output| output.value).sum();
    all.last_mut().unwrap().value = total - paid - fee;
    world.transfer_with_fee(sender, (inputs, 0, &all), cosigners, fee)
}

/// A fresh output of `value` under `lock` (from the treasury's balance), committed.
fn coin_with(world: &mut World, lock: Lock, unlock: Option<LockTime>, value: u64) -> OutPoint {
    let treasury = world.treasury();
    let outputs = [TxOutput {
        value,
        to: Payee::Output { lock, unlock },
    }];
    let fee = world.transfer_fee(&treasury, (&[], value, &outputs), &[]);
    let tx = world.transfer_with_fee(&treasury, (&[], value + fee, &outputs), &[], fee);
    world.run_tx(&tx).unwrap();
    OutPoint {
        tx: tx.id(),
        index: 0,
    }
}

fn coin(world: &mut World, owner: &Actor, value: u64) -> OutPoint {
    coin_with(world, Lock::Key(owner.address), None, value)
}

fn history(world: &World, address: &Address) -> Vec<LedgerEntry> {
    world.list(&keys::token_history(address))
}

fn held(world: &World, address: &Address) -> u64 {
    world.value(&keys::held(address)).unwrap_or(0)
}

#[test]
fn genesis_allocates_balances_outputs_and_the_supply() {
    let world = world();
    let treasury = world.treasury();
    let tokens = token_genesis().tokens.unwrap();
    assert_eq!(world.balance(&treasury.address), TREASURY_BALANCE);
    assert_eq!(value_of(&world, &genesis_coin(0)), 500_000);
    assert_eq!(value_of(&world, &genesis_coin(1)), 250_000);
    assert_eq!(held(&world, &treasury.address), 750_000);
    assert_eq!(
        world.list(&keys::owner_outputs(&treasury.address).list),
        vec![genesis_coin(0), genesis_coin(1)]
    );
    let supply = world.value(&keys::supply()).unwrap();
    assert_eq!(supply.genesis, tokens.initial_supply());
    assert_eq!((supply.minted, supply.burned), (0, 0));
    assert_eq!(
        world.value(&keys::token_config()).unwrap().block_reward,
        100
    );
    assert_eq!(world.value(&keys::epoch_state()).unwrap().fee_pool, 0);
}

#[test]
fn a_chain_without_tokens_refuses_token_transactions_and_charges_nothing() {
    let mut world = World::new();
    let alice = Actor::new(10);
    world.assert_rejected(
        &alice,
        transfer(&[], 5, &[to_balance(5, &alice.address)]),
        |e| matches!(e, ExecError::NoTokens),
    );
    world
        .run(
            &alice,
            register(&OrgName::new("Free").unwrap(), OrgKind::Hospital),
        )
        .unwrap();
    assert_eq!(world.balance(&alice.address), 0);
    assert!(world.value(&keys::supply()).is_none());
}

#[test]
fn a_transfer_pays_moves_coins_returns_change_and_lists_both_sides() {
    let mut world = world();
    let treasury = world.treasury();
    let alice = Actor::new(10);
    let tx = pay(
        &world,
        &treasury,
        &[genesis_coin(0)],
        &[TxOutput::to_key(100_000, alice.address)],
        &[],
    );
    let fee = tx.body().fee;
    let events = world.run_tx(&tx).unwrap();
    assert_eq!(
        events,
        vec![Event::Transferred {
            inputs: 1,
            outputs: 2,
            fee
        }]
    );
    // The input is spent (absent), the outputs exist.
    assert!(world.value(&keys::output(&genesis_coin(0))).is_none());
    let paid = OutPoint {
        tx: tx.id(),
        index: 0,
    };
    let change = OutPoint {
        tx: tx.id(),
        index: 1,
    };
    assert_eq!(value_of(&world, &paid), 100_000);
    assert_eq!(value_of(&world, &change), 400_000 - fee);
    assert_eq!(held(&world, &alice.address), 100_000);
    assert_eq!(held(&world, &treasury.address), 250_000 + 400_000 - fee);
    assert_eq!(
        world.list(&keys::owner_outputs(&alice.address).list),
        vec![paid]
    );
    let received = history(&world, &alice.address);
    assert_eq!(received.len(), 1);
    assert_eq!(
        (
            received[0].kind,
            received[0].amount,
            received[0].counterparty
        ),
        (LedgerKind::Received, 100_000, Some(treasury.address))
    );
    let sent = history(&world, &treasury.address);
    assert_eq!(
        (sent[0].kind, sent[0].amount, sent[0].counterparty),
        (LedgerKind::Sent, 100_000, Some(alice.address))
    );
    assert_eq!(sent[0].tx, tx.id());
    // The transfer paid its fee from its surplus: the balance is untouched.
    assert_eq!(world.balance(&treasury.address), TREASURY_BALANCE);
}

#[test]
fn the_fee_goes_to_the_proposer_and_the_pool_with_the_block_reward() {
    let mut world = world();
    let founder = Actor::new(10);
    world.fund(&founder.address, 10_000);
    let proposer = world.proposer();
    let before = (
        world.balance(&proposer),
        world.value(&keys::epoch_state()).unwrap().fee_pool,
        world.value(&keys::supply()).unwrap(),
    );
    let tx = world.tx(
        &founder,
        register(&OrgName::new("Paying").unwrap(), OrgKind::Hospital),
    );
    let fee = tx.body().fee;
    assert!(fee > 10, "a base fee plus a size fee");
    world.run_tx(&tx).unwrap();
    let cut = fee / 2; // proposer_share_bps = 5000
    assert_eq!(world.balance(&founder.address), 10_000 - fee);
    assert_eq!(world.balance(&proposer), before.0 + cut + 100);
    assert_eq!(
        world.value(&keys::epoch_state()).unwrap().fee_pool,
        before.1 + fee - cut
    );
    let supply = world.value(&keys::supply()).unwrap();
    assert_eq!(supply.minted, before.2.minted + 100);
    assert_eq!(world.nonce(&founder), 1);
}

#[test]
fn minting_stops_at_the_supply_cap() {
    let mut genesis = token_genesis();
    let tokens = genesis.tokens.as_mut().unwrap();
    tokens.max_supply = tokens.initial_supply() + 150;
    let mut world = World::with_genesis(&genesis);
    let proposer = world.proposer();
    let start = world.balance(&proposer);
    for (block, total) in [(1, 100), (2, 150), (3, 150)] {
        world.advance_time(1_000);
        assert_eq!(world.balance(&proposer), start + total, "block {block}");
    }
    assert_eq!(world.value(&keys::supply()).unwrap().minted, 150);
}

#[test]
fn a_fee_below_the_schedule_or_beyond_the_balance_is_refused_and_costs_nothing() {
    let mut world = world();
    let founder = Actor::new(10);
    let payload = register(&OrgName::new("Cheap").unwrap(), OrgKind::Hospital);
    // Unfunded: cannot pay even the least fee.
    world.assert_rejected(&founder, payload.clone(), |e| {
        matches!(e, ExecError::InsufficientBalance { balance: 0, .. })
    });
    world.fund(&founder.address, 10_000);
    let minimum = world.min_fee(&world.tx(&founder, payload.clone()));
    let cheap = founder.sign_with_fee(world.nonce(&founder), minimum - 1, payload.clone());
    world.assert_tx_rejected(&cheap, |e| {
        matches!(e, ExecError::FeeTooLow { fee, minimum: m } if *fee == minimum - 1 && *m == minimum)
    });
    let rich = founder.sign_with_fee(world.nonce(&founder), 10_001, payload);
    world.assert_tx_rejected(&rich, |e| {
        matches!(
            e,
            ExecError::InsufficientBalance {
                balance: 10_000,
                needed: 10_001
            }
        )
    });
    assert_eq!(world.nonce(&founder), 0);
    assert_eq!(world.balance(&founder.address), 10_000);
}

// Every UTXO rule, rejected with no state change.

#[test]
fn double_spends_are_refused_in_one_tx_one_block_and_later_blocks() {
    let mut world = world();
    let treasury = world.treasury();
    let alice = Actor::new(10);
    let input = genesis_coin(1);
    // The same input twice in one transfer.
    let outputs = [TxOutput::to_key(1_000, alice.address)];
    let fee = world.transfer_fee(&treasury, (&[input, input], 0, &outputs), &[]);
    let twice = world.transfer_with_fee(&treasury, (&[input, input], 0, &outputs), &[], fee);
    world.assert_tx_rejected(&twice, |e| matches!(e, ExecError::DuplicateInput));
    // Two transfers of one input in one block: the second fails and leaves no trace.
    let first = pay(&world, &treasury, &[input], &[], &[]);
    let outputs = [TxOutput::to_key(249_000, alice.address)];
    let fee = world.transfer_fee(&treasury, (&[input], 0, &outputs), &[]);
    let outputs = [TxOutput::to_key(250_000 - fee, alice.address)];
    let second = treasury.sign_with_fee(
        world.nonce(&treasury) + 1,
        fee,
        transfer(&[input], 0, &outputs),
    );
    let (results, both) = world.execute(&[first.clone(), second.clone()]);
    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(ExecError::UnknownOutput(p)) if *p == input));
    let (_, only_first) = world.execute(std::slice::from_ref(&first));
    assert_eq!(both.state_root, only_first.state_root);
    world.run_tx(&first).unwrap();
    // Spent in an earlier block.
    let again = world.transfer_with_fee(&treasury, (&[input], 0, &outputs), &[], fee);
    world.assert_tx_rejected(
        &again,
        |e| matches!(e, ExecError::UnknownOutput(p) if *p == input),
    );
}

#[test]
fn outputs_beyond_inputs_and_a_surplus_other_than_the_fee_are_refused() {
    let mut world = world();
    let treasury = world.treasury();
    let input = genesis_coin(1); // 250 000
    let to_self = |value| [TxOutput::to_key(value, treasury.address)];
    let fee = world.transfer_fee(&treasury, (&[input], 0, &to_self(1)), &[]);
    let over = world.transfer_with_fee(&treasury, (&[input], 0, &to_self(250_001)), &[], fee);
    world.assert_tx_rejected(&over, |e| {
        matches!(
            e,
            ExecError::OutputsExceedInputs {
                inputs: 250_000,
                outputs: 250_001
            }
        )
    });
    // A forgotten change output: the surplus is far more than the fee.
    let forgot = world.transfer_with_fee(&treasury, (&[input], 0, &to_self(1_000)), &[], fee);
    world.assert_tx_rejected(&forgot, |e| {
        matches!(e, ExecError::FeeMismatch { surplus, fee: f } if *surplus == 249_000 && *f == fee)
    });
    // A surplus one short of the fee.
    let short = world.transfer_with_fee(
        &treasury,
        (&[input], 0, &to_self(250_000 - fee + 1)),
        &[],
        fee,
    );
    world.assert_tx_rejected(&short, |e| matches!(e, ExecError::FeeMismatch { .. }));
    // Exactly right is accepted.
    let exact =
        world.transfer_with_fee(&treasury, (&[input], 0, &to_self(250_000 - fee)), &[], fee);
    world.run_tx(&exact).unwrap();
}

#[test]
fn spending_needs_the_owners_signatures() {
    let mut world = world();
    let (alice, bob, carol) = (Actor::new(10), Actor::new(11), Actor::new(12));
    let alices = coin(&mut world, &alice, 5_000);
    let bobs = coin(&mut world, &bob, 7_000);
    let pay_carol = [TxOutput::to_key(10_000, carol.address)];
    // Alice alone spends Bob's coin: the wrong key.
    let wrong_key = pay(&world, &alice, &[bobs], &[], &[]);
    world.assert_tx_rejected(&wrong_key, |e| {
        matches!(e, ExecError::MissingSignature { output, owner } if *output == bobs && *owner == bob.address)
    });
    // A joint payment without Bob's cosignature.
    let unsigned = pay(&world, &alice, &[alices, bobs], &pay_carol, &[]);
    world.assert_tx_rejected(
        &unsigned,
        |e| matches!(e, ExecError::MissingSignature { owner, .. } if *owner == bob.address),
    );
    // Carol's cosignature does not stand for Bob's.
    let other = pay(&world, &alice, &[alices, bobs], &pay_carol, &[&carol]);
    world.assert_tx_rejected(&other, |e| matches!(e, ExecError::MissingSignature { .. }));
    // With Bob's cosignature the joint payment goes through.
    let joint = pay(&world, &alice, &[alices, bobs], &pay_carol, &[&bob]);
    world.run_tx(&joint).unwrap();
    assert_eq!(held(&world, &carol.address), 10_000);
    assert_eq!(held(&world, &bob.address), 0);
    assert!(
        world.value(&keys::held(&bob.address)).is_none(),
        "0 is absent"
    );
}

#[test]
fn a_k_of_m_output_needs_k_signers() {
    let mut world = world();
    let (alice, bob, carol, dave) = (
        Actor::new(10),
        Actor::new(11),
        Actor::new(12),
        Actor::new(13),
    );
    let lock = Lock::Multi {
        threshold: 2,
        keys: vec![alice.address, bob.address, carol.address],
    };
    let shared = coin_with(&mut world, lock, None, 9_000);
    for key in [&alice, &bob, &carol] {
        assert_eq!(
            world.list(&keys::owner_outputs(&key.address).list),
            vec![shared]
        );
    }
    let to_dave = [TxOutput::to_key(1_000, dave.address)];
    // threshold - 1 signers (Alice alone; Alice with an outsider).
    for cosigners in [&[][..], &[&dave]] {
        let tx = pay(&world, &alice, &[shared], &to_dave, cosigners);
        world.assert_tx_rejected(&tx, |e| matches!(e, ExecError::MissingSignature { .. }));
    }
    let tx = pay(&world, &alice, &[shared], &to_dave, &[&carol]);
    world.run_tx(&tx).unwrap();
    assert_eq!(held(&world, &dave.address), 1_000);
}

/// A signer counts once toward k, however often it signs: the same cosigner twice, or the
/// sender cosigning its own transfer, is one key of the k-of-m, not two.
#[test]
fn a_repeated_signer_counts_once_toward_k() {
    let mut world = world();
    let (alice, bob, carol, dave) = (
        Actor::new(10),
        Actor::new(11),
        Actor::new(12),
        Actor::new(13),
    );
    let lock = Lock::Multi {
        threshold: 2,
        keys: vec![alice.address, bob.address, carol.address],
    };
    let shared = coin_with(&mut world, lock, None, 9_000);
    let to_dave = [TxOutput::to_key(1_000, dave.address)];
    for (sender, cosigners) in [(&dave, [&bob, &bob]), (&alice, [&alice, &alice])] {
        let tx = pay(&world, sender, &[shared], &to_dave, &cosigners);
        world.assert_tx_rejected(&tx, |e| matches!(e, ExecError::MissingSignature { .. }));
    }
}

#[test]
fn lock_times_hold_until_their_height_or_time() {
    let mut world = world();
    let alice = Actor::new(10);
    let at_height = world.height() + 4;
    let height_lock = LockTime::Height(at_height);
    let by_height = coin_with(
        &mut world,
        Lock::Key(alice.address),
        Some(height_lock),
        3_000,
    );
    // One block early (and every block before), then at the bound.
    while world.next_env().height < at_height {
        let tx = pay(&world, &alice, &[by_height], &[], &[]);
        world.assert_tx_rejected(&tx, |e| {
            matches!(e, ExecError::OutputLocked { output, until } if *output == by_height && *until == height_lock)
        });
        world.advance_time(1);
    }
    world
        .run_tx(&pay(&world, &alice, &[by_height], &[], &[]))
        .unwrap();

    let at_time = world.timestamp_ms() + 5_000;
    let time_lock = LockTime::TimeMs(at_time);
    let by_time = coin_with(&mut world, Lock::Key(alice.address), Some(time_lock), 3_000);
    // The next block's time is 1 ms before the bound, then at it.
    world.advance_time(at_time - 1 - world.next_env().timestamp_ms);
    assert_eq!(world.next_env().timestamp_ms, at_time - 1);
    let tx = pay(&world, &alice, &[by_time], &[], &[]);
    world.assert_tx_rejected(
        &tx,
        |e| matches!(e, ExecError::OutputLocked { until, .. } if *until == time_lock),
    );
    world.advance_time(1);
    assert_eq!(world.next_env().timestamp_ms, at_time);
    world.run_tx(&tx).unwrap();
}

#[test]
fn malformed_transfers_are_refused() {
    let mut world = world();
    let treasury = world.treasury();
    let alice = Actor::new(10);
    let input = genesis_coin(1);
    let signed = |world: &World, inputs: &[OutPoint], outputs: &[TxOutput]| {
        let fee = world.transfer_fee(&treasury, (inputs, 0, outputs), &[]);
        world.transfer_with_fee(&treasury, (inputs, 0, outputs), &[], fee)
    };
    type Case = (&'static str, VerifiedTransaction, fn(&ExecError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "overflow",
            signed(
                &world,
                &[input],
                &[
                    TxOutput::to_key(u64::MAX, alice.address),
                    TxOutput::to_key(u64::MAX, alice.address),
                ],
            ),
            |e| matches!(e, ExecError::AmountOverflow),
        ),
        (
            "zero value",
            signed(&world, &[input], &[TxOutput::to_key(0, alice.address)]),
            |e| matches!(e, ExecError::ZeroValueOutput),
        ),
        (
            "too many inputs",
            signed(
                &world,
                &(0..17)
                    .map(|index| OutPoint {
                        tx: input.tx,
                        index,
                    })
                    .collect::<Vec<_>>(),
                &[TxOutput::to_key(1, alice.address)],
            ),
            |e| matches!(e, ExecError::TransferTooLarge { .. }),
        ),
        (
            "escrow output",
            signed(
                &world,
                &[input],
                &[TxOutput {
                    value: 5,
                    to: Payee::Output {
                        lock: Lock::Escrow(EscrowId(input.tx.0)),
                        unlock: None,
                    },
                }],
            ),
            |e| matches!(e, ExecError::ContractOutput),
        ),
        (
            "threshold above the keys",
            signed(
                &world,
                &[input],
                &[TxOutput {
                    value: 5,
                    to: Payee::Output {
                        lock: Lock::Multi {
                            threshold: 2,
                            keys: vec![alice.address],
                        },
                        unlock: None,
                    },
                }],
            ),
            |e| matches!(e, ExecError::InvalidMultisig),
        ),
        (
            "repeated multisig key",
            signed(
                &world,
                &[input],
                &[TxOutput {
                    value: 5,
                    to: Payee::Output {
                        lock: Lock::Multi {
                            threshold: 1,
                            keys: vec![alice.address, alice.address],
                        },
                        unlock: None,
                    },
                }],
            ),
            |e| matches!(e, ExecError::InvalidMultisig),
        ),
        ("no outputs", signed(&world, &[input], &[]), |e| {
            matches!(e, ExecError::EmptyTransfer)
        }),
        (
            "nothing spent",
            signed(&world, &[], &[TxOutput::to_key(1, alice.address)]),
            |e| matches!(e, ExecError::EmptyTransfer),
        ),
        (
            "unknown output",
            signed(
                &world,
                &[OutPoint {
                    tx: TxId::of_encoded(b"nothing"),
                    index: 0,
                }],
                &[TxOutput::to_key(1, alice.address)],
            ),
            |e| matches!(e, ExecError::UnknownOutput(_)),
        ),
    ];
    for (name, tx, expected) in cases {
        let (results, _) = world.execute(std::slice::from_ref(&tx));
        assert!(results[0].is_err(), "{name}");
        world.assert_tx_rejected(&tx, expected);
    }
    // Spending more balance than the sender holds.
    let outputs = [to_balance(10, &alice.address)];
    let fee = world.transfer_fee(&alice, (&[], 10, &outputs), &[]);
    let broke = world.transfer_with_fee(&alice, (&[], 10 + fee, &outputs), &[], fee);
    world.assert_tx_rejected(&broke, |e| {
        matches!(e, ExecError::InsufficientBalance { balance: 0, .. })
    });
}

#[test]
fn sixteen_outputs_consolidate_into_one() {
    let mut world = world();
    let alice = Actor::new(10);
    let coins: Vec<OutPoint> = (0..16).map(|_| coin(&mut world, &alice, 1_000)).collect();
    assert_eq!(held(&world, &alice.address), 16_000);
    let tx = pay(&world, &alice, &coins, &[], &[]);
    let fee = tx.body().fee;
    world.run_tx(&tx).unwrap();
    assert_eq!(held(&world, &alice.address), 16_000 - fee);
    assert!(
        coins
            .iter()
            .all(|point| world.value(&keys::output(point)).is_none())
    );
    assert!(
        history(&world, &alice.address)
            .iter()
            .all(|entry| entry.kind == LedgerKind::Received)
    );
}

#[test]
fn coins_fund_a_balance_that_pays_fees() {
    let mut world = world();
    let alice = Actor::new(10);
    let coin = coin(&mut world, &alice, 20_000);
    let tx = pay(
        &world,
        &alice,
        &[coin],
        &[to_balance(15_000, &alice.address)],
        &[],
    );
    world.run_tx(&tx).unwrap();
    assert_eq!(world.balance(&alice.address), 15_000);
    // Now an ordinary transaction pays its fee from that balance.
    let register = world.tx(
        &alice,
        register(&OrgName::new("Funded").unwrap(), OrgKind::Research),
    );
    let fee = register.body().fee;
    world.run_tx(&register).unwrap();
    assert_eq!(world.balance(&alice.address), 15_000 - fee);
}

// Escrow.

struct EscrowCase {
    world: World,
    payer: Actor,
    payee: Actor,
    arbiter: Actor,
    id: EscrowId,
    refund_at: u64,
}

fn opened_escrow() -> EscrowCase {
    let mut world = world();
    let (payer, payee, arbiter) = (Actor::new(10), Actor::new(11), Actor::new(12));
    for party in [&payer, &payee, &arbiter] {
        world.fund(&party.address, 10_000);
    }
    let refund_at = world.height() + 5;
    let tx = world.tx(
        &payer,
        escrow_open(
            &payee.address,
            &arbiter.address,
            4_000,
            LockTime::Height(refund_at),
        ),
    );
    let fee = tx.body().fee;
    let events = world.run_tx(&tx).unwrap();
    let id = EscrowId::from(tx.id());
    assert_eq!(
        events,
        vec![Event::EscrowOpened {
            escrow: id,
            payer: payer.address,
            payee: payee.address,
            amount: 4_000
        }]
    );
    assert_eq!(world.balance(&payer.address), 10_000 - 4_000 - fee);
    let escrow = world.value(&keys::escrow(&id)).unwrap();
    assert_eq!(value_of(&world, &escrow.output), 4_000);
    let locked = history(&world, &payer.address).pop().unwrap();
    assert_eq!(
        (locked.kind, locked.amount, locked.counterparty),
        (LedgerKind::EscrowLocked, 4_000, Some(payee.address))
    );
    EscrowCase {
        world,
        payer,
        payee,
        arbiter,
        id,
        refund_at,
    }
}

#[test]
fn an_escrow_refereed_by_its_own_payer_is_refused() {
    let mut world = world();
    let (payer, payee) = (Actor::new(10), Actor::new(11));
    world.fund(&payer.address, 10_000);
    let before = world.balance(&payer.address);
    world.assert_rejected(
        &payer,
        escrow_open(&payee.address, &payer.address, 4_000, LockTime::Height(50)),
        |e| matches!(e, ExecError::ArbiterIsPayer),
    );
    assert_eq!(world.balance(&payer.address), before);
}

fn release(id: EscrowId) -> Payload {
    Payload::Token(TokenPayload::EscrowRelease { escrow: id })
}

fn refund(id: EscrowId) -> Payload {
    Payload::Token(TokenPayload::EscrowRefund { escrow: id })
}

#[test]
fn an_escrow_is_released_by_the_payer_or_the_arbiter_to_the_payee() {
    for by_arbiter in [false, true] {
        let EscrowCase {
            mut world,
            payer,
            payee,
            arbiter,
            id,
            ..
        } = opened_escrow();
        let escrow = world.value(&keys::escrow(&id)).unwrap();
        // The payee cannot release to itself; the escrow's coin cannot be spent directly.
        world.assert_rejected(&payee, release(id), |e| {
            matches!(e, ExecError::NotEscrowParty)
        });
        let steal = pay(&world, &payee, &[escrow.output], &[], &[]);
        world.assert_tx_rejected(&steal, |e| matches!(e, ExecError::ContractLocked));
        let releaser = if by_arbiter { &arbiter } else { &payer };
        let tx = world.tx(releaser, release(id));
        world.run_tx(&tx).unwrap();
        assert!(world.value(&keys::output(&escrow.output)).is_none());
        let paid = OutPoint {
            tx: tx.id(),
            index: 0,
        };
        assert_eq!(value_of(&world, &paid), 4_000);
        assert_eq!(held(&world, &payee.address), 4_000);
        let settled = world.value(&keys::escrow(&id)).unwrap().settled;
        assert_eq!(settled, Some((world.height(), payee.address)));
        let entry = history(&world, &payee.address).pop().unwrap();
        assert_eq!(
            (entry.kind, entry.amount, entry.counterparty),
            (LedgerKind::EscrowSettled, 4_000, Some(payer.address))
        );
        world.assert_rejected(&payer, refund(id), |e| {
            matches!(e, ExecError::EscrowAlreadySettled)
        });
    }
}

#[test]
fn an_escrow_is_refunded_by_the_payee_or_arbiter_at_once_and_by_the_payer_after_its_time() {
    for refunder in 0..2 {
        let EscrowCase {
            mut world,
            payer,
            payee,
            arbiter,
            id,
            ..
        } = opened_escrow();
        let by = [&payee, &arbiter][refunder];
        world.run(by, refund(id)).unwrap();
        assert_eq!(held(&world, &payer.address), 4_000);
    }
    let EscrowCase {
        mut world,
        payer,
        id,
        refund_at,
        ..
    } = opened_escrow();
    let outsider = Actor::new(99);
    world.fund(&outsider.address, 10_000);
    world.assert_rejected(&outsider, refund(id), |e| {
        matches!(e, ExecError::NotEscrowParty)
    });
    while world.next_env().height < refund_at {
        world.assert_rejected(&payer, refund(id), |e| matches!(e, ExecError::RefundNotYet));
        world.advance_time(1);
    }
    let events = world.run(&payer, refund(id)).unwrap();
    assert_eq!(
        events,
        vec![Event::EscrowSettled {
            escrow: id,
            to: payer.address,
            amount: 4_000
        }]
    );
    world.assert_rejected(
        &payer,
        release(EscrowId(TxId::of_encoded(b"none").0)),
        |e| matches!(e, ExecError::UnknownEscrow),
    );
}

// Access rewards (S1-tokens).

fn token_sharing() -> Sharing {
    Sharing::with_genesis(&token_genesis())
}

fn rewards(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|event| matches!(event, Event::RewardPaid { .. }))
        .collect()
}

#[test]
fn a_consented_access_pays_the_patient_the_default_or_the_consents_reward() {
    for reward in [None, Some(50)] {
        let mut sharing = token_sharing();
        let (patient, doctor) = (sharing.patient.clone(), sharing.doctor.clone());
        let world = &mut sharing.world;
        let tx = world.tx(
            &patient,
            Payload::Consent(medchain_types::ConsentPayload::Grant {
                grantee: doctor.address,
                records: vec![sharing.record],
                purpose: Purpose::Treatment,
                expiry: Expiry::AtHeight(1_000),
                reward,
            }),
        );
        world.run_tx(&tx).unwrap();
        let consent = medchain_types::ConsentId::from(tx.id());
        let amount = reward.unwrap_or(5);
        assert_eq!(
            world.value(&keys::consent(&consent)).unwrap().reward,
            amount
        );
        let (patient_before, doctor_before) = (
            world.balance(&patient.address),
            world.balance(&doctor.address),
        );
        // The doctor agrees to pay up to 80: it pays what the consent asks, not its bound.
        let ask = world.tx(
            &doctor,
            request_paying(&sharing.record, Purpose::Treatment, 80),
        );
        let fee = ask.body().fee;
        let events = world.run_tx(&ask).unwrap();
        assert_eq!(
            rewards(&events),
            vec![&Event::RewardPaid {
                consent,
                patient: patient.address,
                payer: doctor.address,
                amount
            }]
        );
        assert_eq!(world.balance(&patient.address), patient_before + amount);
        assert_eq!(world.balance(&doctor.address), doctor_before - amount - fee);
        let got = history(world, &patient.address).pop().unwrap();
        assert_eq!(
            (got.kind, got.amount, got.counterparty, got.tx),
            (
                LedgerKind::AccessReward,
                amount,
                Some(doctor.address),
                ask.id()
            )
        );
        let paid = history(world, &doctor.address).pop().unwrap();
        assert_eq!(
            (paid.kind, paid.amount, paid.counterparty),
            (LedgerKind::AccessPaid, amount, Some(patient.address))
        );
    }
}

#[test]
fn an_unfunded_requester_is_refused_and_nothing_is_logged() {
    let mut sharing = token_sharing();
    let (patient, doctor) = (sharing.patient.clone(), sharing.doctor.clone());
    let record = sharing.record;
    sharing.consent_for(&doctor);
    let world = &mut sharing.world;
    // The doctor moves all but 4 tokens away: not enough for the reward of 5.
    let outputs = [to_balance(1, &patient.address)];
    let spent = world.balance(&doctor.address) - 4;
    let fee = world.transfer_fee(&doctor, (&[], spent, &outputs), &[]);
    let outputs = [to_balance(spent - fee, &patient.address)];
    let drain = world.transfer_with_fee(&doctor, (&[], spent, &outputs), &[], fee);
    world.run_tx(&drain).unwrap();
    assert_eq!(world.balance(&doctor.address), 4);
    let log_len = world.value(&keys::access_log_len(&patient.address));
    world.assert_rejected(&doctor, request(&record, Purpose::Treatment), |e| {
        matches!(
            e,
            ExecError::InsufficientBalance {
                balance: 4,
                needed: 5
            }
        )
    });
    assert_eq!(
        world.value(&keys::access_log_len(&patient.address)),
        log_len
    );
    // Funded again, a denied request (no consent for research) pays its fee, no reward.
    world.fund(&doctor.address, 10_000);
    let denied = world.tx(&doctor, request(&record, Purpose::Research));
    let events = world.run_tx(&denied).unwrap();
    assert!(rewards(&events).is_empty());
    assert_eq!(world.balance(&doctor.address), 10_004 - denied.body().fee);
    assert_eq!(
        world.value(&keys::access_log_len(&patient.address)),
        Some(log_len.unwrap_or(0) + 1)
    );
}

/// `patient` grants `grantee` treatment access to `record`, asking `reward` per access.
fn priced_consent(
    world: &mut World,
    patient: &Actor,
    grantee: &Actor,
    record: RecordId,
    reward: u64,
) {
    world
        .run(
            patient,
            Payload::Consent(ConsentPayload::Grant {
                grantee: grantee.address,
                records: vec![record],
                purpose: Purpose::Treatment,
                expiry: Expiry::AtHeight(1_000),
                reward: Some(reward),
            }),
        )
        .unwrap();
}

#[test]
fn a_patient_prices_a_consent_at_the_gateways_balance_and_a_served_request_is_refused() {
    let mut sharing = token_sharing();
    let (patient, doctor) = (sharing.patient.clone(), sharing.doctor.clone());
    let gateway = sharing.holder.actor.clone();
    let record = sharing.record;
    let world = &mut sharing.world;
    let served = || {
        serve(
            &doctor.address,
            &record,
            Purpose::Treatment,
            AccessGrounds::Consent,
        )
    };
    let probe = world.tx(&gateway, served());
    let price = world.balance(&gateway.address) - probe.body().fee;
    priced_consent(world, &patient, &doctor, record, price);
    let before = (
        world.balance(&gateway.address),
        world.balance(&patient.address),
        world.value(&keys::access_log_len(&patient.address)),
    );
    // The gateway signs at most the default reward; the consent asks its whole balance.
    world.assert_rejected(&gateway, served(), |e| {
        matches!(
            e,
            ExecError::RewardAboveLimit { reward, limit: ACCESS_REWARD_DEFAULT } if *reward == price
        )
    });
    assert_eq!(
        (
            world.balance(&gateway.address),
            world.balance(&patient.address),
            world.value(&keys::access_log_len(&patient.address)),
        ),
        before
    );
}

#[test]
fn a_patient_re_grants_at_the_requesters_whole_balance_and_the_request_is_refused() {
    let mut sharing = token_sharing();
    let (patient, doctor) = (sharing.patient.clone(), sharing.doctor.clone());
    let record = sharing.record;
    sharing.consent_for(&doctor); // the price the doctor saw: the default
    let world = &mut sharing.world;
    let ask = world.tx(&doctor, request(&record, Purpose::Treatment));
    let price = world.balance(&doctor.address) - ask.body().fee;
    priced_consent(world, &patient, &doctor, record, price);
    let before = (
        world.balance(&doctor.address),
        world.nonce(&doctor),
        world.value(&keys::access_log_len(&patient.address)),
    );
    world.assert_tx_rejected(&ask, |e| {
        matches!(
            e,
            ExecError::RewardAboveLimit { reward, limit: ACCESS_REWARD_DEFAULT } if *reward == price
        )
    });
    assert_eq!(
        (
            world.balance(&doctor.address),
            world.nonce(&doctor),
            world.value(&keys::access_log_len(&patient.address)),
        ),
        before
    );
    // Having read the new price, the doctor may still accept it: a bound equal to the
    // reward pays exactly the reward.
    let patient_before = world.balance(&patient.address);
    let accepted = world.tx(&doctor, request_paying(&record, Purpose::Treatment, price));
    assert_eq!(accepted.body().fee, ask.body().fee);
    world.run_tx(&accepted).unwrap();
    assert_eq!(world.balance(&doctor.address), 0);
    assert_eq!(world.balance(&patient.address), patient_before + price);
}

#[test]
fn a_served_access_is_paid_by_the_gateway_and_the_patients_own_access_is_free() {
    let mut sharing = token_sharing();
    let (patient, doctor) = (sharing.patient.clone(), sharing.doctor.clone());
    let gateway = sharing.holder.actor.clone();
    let record = sharing.record;
    let consent = sharing.consent_for(&doctor);
    let world = &mut sharing.world;
    let (gateway_before, doctor_before) = (
        world.balance(&gateway.address),
        world.balance(&doctor.address),
    );
    let tx = world.tx(
        &gateway,
        serve(
            &doctor.address,
            &record,
            Purpose::Treatment,
            AccessGrounds::Consent,
        ),
    );
    let events = world.run_tx(&tx).unwrap();
    assert!(matches!(
        &events[0],
        Event::AccessDecided {
            decision: AccessDecision::Allowed { consent: Some(c) },
            ..
        } if *c == consent
    ));
    assert_eq!(
        rewards(&events),
        vec![&Event::RewardPaid {
            consent,
            patient: patient.address,
            payer: gateway.address,
            amount: 5
        }]
    );
    assert_eq!(
        world.balance(&gateway.address),
        gateway_before - 5 - tx.body().fee
    );
    assert_eq!(world.balance(&doctor.address), doctor_before);
    // The patient reads its own record: no reward.
    let own = world
        .run(&patient, request(&record, Purpose::Treatment))
        .unwrap();
    assert!(rewards(&own).is_empty());
}

#[test]
fn a_genesis_over_the_cap_is_refused() {
    let mut genesis: Genesis = token_genesis();
    genesis.tokens.as_mut().unwrap().max_supply = 1;
    assert!(medchain_state::genesis(&genesis).is_err());
}

#[test]
fn balances_and_outputs_are_provable_and_a_spent_output_is_proven_absent() {
    let mut world = world();
    let treasury = world.treasury();
    let tx = pay(&world, &treasury, &[genesis_coin(0)], &[], &[]);
    world.run_tx(&tx).unwrap();
    let root = world.root();
    let height = world.height();
    for (key, present) in [
        (keys::account(&treasury.address).as_bytes().to_vec(), true),
        (keys::held(&treasury.address).as_bytes().to_vec(), true),
        (keys::output(&genesis_coin(1)).as_bytes().to_vec(), true),
        (keys::output(&genesis_coin(0)).as_bytes().to_vec(), false),
    ] {
        let (value, proof) = medchain_state::prove(&world.store, &key, height).unwrap();
        assert_eq!(value.is_some(), present);
        medchain_state::verify_proof(&root, &key, value.as_deref(), &proof).unwrap();
    }
}

// Withdrawing a consent is free (S1-rights).

#[test]
fn a_patient_without_tokens_withdraws_a_consent_and_a_bad_revoke_still_fails() {
    let mut sharing = token_sharing();
    let (patient, doctor) = (sharing.patient.clone(), sharing.doctor.clone());
    let consent = sharing.consent_for(&doctor);
    let world = &mut sharing.world;
    // The patient gives its whole balance away.
    let treasury = world.treasury();
    let balance = world.balance(&patient.address);
    let outputs = [to_balance(1, &treasury.address)];
    let fee = world.transfer_fee(&patient, (&[], balance, &outputs), &[]);
    let outputs = [to_balance(balance - fee, &treasury.address)];
    let empty = world.transfer_with_fee(&patient, (&[], balance, &outputs), &[], fee);
    world.run_tx(&empty).unwrap();
    assert_eq!(world.balance(&patient.address), 0);
    // A revoke of a consent that does not exist, or of someone else's, fails and pays nothing.
    let unknown = ConsentId(TxId::of_encoded(b"no such consent").0);
    world.assert_rejected(
        &patient,
        revoke(&unknown),
        |e| matches!(e, ExecError::UnknownConsent(id) if *id == unknown),
    );
    world.assert_rejected(
        &doctor,
        revoke(&consent),
        |e| matches!(e, ExecError::NotGrantor(id) if *id == consent),
    );
    // Its own consent it withdraws for free, and the grantee is denied from then on.
    let withdraw = world.tx(&patient, revoke(&consent));
    assert_eq!(withdraw.body().fee, 0);
    world.run_tx(&withdraw).unwrap();
    assert_eq!(world.balance(&patient.address), 0);
    assert!(
        world
            .value(&keys::consent(&consent))
            .unwrap()
            .revoked_at
            .is_some()
    );
    // Every other transaction still pays: a grant without a fee is refused.
    let grant = Payload::Consent(ConsentPayload::Grant {
        grantee: doctor.address,
        records: vec![sharing.record],
        purpose: Purpose::Research,
        expiry: Expiry::AtHeight(1_000),
        reward: None,
    });
    let unpaid = patient.sign_with_fee(world.nonce(&patient), 0, grant);
    world.assert_tx_rejected(&unpaid, |e| {
        matches!(e, ExecError::FeeTooLow { fee: 0, .. })
    });
}
