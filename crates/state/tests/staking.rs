//! Delegated proof of stake through the public API (S1-dpos): genesis candidates and the set
//! of epoch 0, the election at each epoch's last height, registration, delegation pools,
//! unbonding, the validators' fee pool, and slashing on equivocation evidence. Every
//! rejection is checked to change nothing.

use medchain_state::{
    ExecError, keys,
    staking::{self, epoch_of, last_height},
    testkit::{
        Actor, World, address, delegate, double_notarize, genesis_with_validators, key, org_name,
        register_candidate, report, staked_genesis, undelegate, validator_seed, withdraw,
    },
    token,
    values::{Candidate, LedgerKind, ValidatorSet},
};
use medchain_types::{
    Address, Allocation, Event, FeeSchedule, Genesis, OrgKind, OrgName, OrgState, StakingParams,
};
use std::num::NonZeroU64;

/// Blocks per epoch in these tests: epoch e ends at height 4e + 3.
const EPOCH_LENGTH: u64 = 4;
/// The balance each funded delegator starts with.
const FUNDS: u64 = 1_000_000;

fn length() -> NonZeroU64 {
    NonZeroU64::new(EPOCH_LENGTH).unwrap()
}

fn params() -> StakingParams {
    StakingParams {
        epoch_length: EPOCH_LENGTH,
        max_validators: 4,
        min_validators: 1,
        min_stake: 100,
        unbonding_epochs: 2,
        slash_bps: 1_000,
    }
}

/// Validator `i` of the genesis.
fn validator(i: u64) -> Actor {
    Actor::new(validator_seed(i))
}

/// Delegators (funded in every test genesis).
fn delegator(i: u64) -> Actor {
    Actor::new(500 + i)
}

/// A genesis whose validators self-bond `stakes`, with `params`, free fees, no block reward,
/// and 4 funded delegators.
fn genesis(stakes: &[u64], params: StakingParams) -> Genesis {
    let mut document = staked_genesis(stakes);
    let tokens = document.tokens.as_mut().unwrap();
    tokens.fees = FeeSchedule::FREE;
    tokens.block_reward = 0;
    tokens.proposer_share_bps = 10_000;
    tokens.staking = params;
    tokens.allocations.extend((0..4).map(|i| Allocation {
        address: delegator(i).address,
        balance: FUNDS,
        outputs: Vec::new(),
        stake: 0,
    }));
    document
}

fn world(stakes: &[u64]) -> World {
    World::with_genesis(&genesis(stakes, params()))
}

fn set(world: &World, epoch: u64) -> Option<ValidatorSet> {
    world.value(&keys::validator_set(epoch))
}

fn candidate(world: &World, key: &Address) -> Candidate {
    world.value(&keys::candidate(key)).expect("a candidate")
}

fn balance(world: &World, who: &Address) -> u64 {
    world.value(&keys::account(who)).map_or(0, |a| a.balance)
}

fn burned(world: &World) -> u64 {
    world.value(&keys::supply()).expect("a supply").burned
}

fn sorted(mut keys: Vec<Address>) -> Vec<Address> {
    keys.sort();
    keys
}

/// The epoch the next block runs in, and its last height.
fn next_epoch_end(world: &World) -> (u64, u64) {
    let epoch = epoch_of(world.height() + 1, length());
    (epoch, last_height(epoch, length()).unwrap())
}

/// The audited hospital "Seoul General", founded by the returned member.
fn hospital(world: &mut World) -> (OrgName, Actor) {
    let name = org_name("Seoul General");
    let founder = Actor::new(77);
    world.audited_org(&founder, &name, OrgKind::Hospital);
    (name, founder)
}

#[test]
fn genesis_makes_its_validators_candidates_and_the_set_of_epoch_0() {
    let world = world(&[300, 100, 200]);
    let vset = set(&world, 0).expect("vset/0");
    assert_eq!(vset.epoch, 0);
    let keys_in_order: Vec<_> = vset.validators.iter().map(|v| v.key).collect();
    assert_eq!(
        keys_in_order,
        sorted((0..3).map(|i| validator(i).address).collect())
    );
    for (i, stake) in [300, 100, 200].into_iter().enumerate() {
        let key = validator(i as u64).address;
        let entry = vset.validators.iter().find(|v| v.key == key).unwrap();
        assert_eq!((entry.stake, &entry.p2p), (stake, &None));
        let pool = candidate(&world, &key);
        assert_eq!(pool.org, None);
        assert_eq!((pool.bonded_tokens, pool.bonded_shares), (stake, stake));
        assert!(!pool.jailed);
        assert_eq!(
            world.value(&keys::delegation(&key, &key)).map(|d| d.shares),
            Some(stake),
            "the self-bond is the validator's own delegation"
        );
    }
    // Listed in genesis order.
    assert_eq!(
        world.list(&keys::candidates().list),
        (0..3).map(|i| validator(i).address).collect::<Vec<_>>()
    );
    let epoch = world.value(&keys::epoch_state()).unwrap();
    assert_eq!((epoch.epoch, epoch.fee_pool), (0, 0));
}

#[test]
fn a_chain_without_tokens_has_its_genesis_set_for_good() {
    let mut world = World::with_genesis(&genesis_with_validators(3));
    let vset = set(&world, 0).expect("vset/0 without tokens too");
    assert_eq!(vset.validators.len(), 3);
    assert!(vset.validators.iter().all(|v| v.stake == 0));
    assert_eq!(token::config(&world.store).unwrap(), None);
    // Staking transactions need tokens.
    let (org, member) = hospital(&mut world);
    let candidate = Actor::new(4_000);
    world.assert_rejected(
        &candidate,
        register_candidate(&org, &member, &candidate, "10.0.0.4:9000"),
        |e| matches!(e, ExecError::NoTokens),
    );
    world.advance_to(20);
    assert_eq!(set(&world, 1), None, "no election ever runs");
    assert_eq!(world.value(&keys::epoch_state()).unwrap().epoch, 0);
}

#[test]
fn the_next_set_is_written_only_at_the_epochs_last_height() {
    let mut world = world(&[300, 100, 200]);
    let last = last_height(0, length()).unwrap();
    assert_eq!(last, EPOCH_LENGTH - 1);
    world.advance_to(last - 1);
    assert_eq!(set(&world, 1), None);
    assert_eq!(world.value(&keys::epoch_state()).unwrap().epoch, 0);
    world.advance_to(last);
    let next = set(&world, 1).expect("elected at last(0)");
    assert_eq!(next.epoch, 1);
    assert_eq!(world.value(&keys::epoch_state()).unwrap().epoch, 1);
    assert_eq!(epoch_of(last + 1, length()), 1);
    // Nothing more until last(1).
    world.advance_to(last_height(1, length()).unwrap() - 1);
    assert_eq!(set(&world, 2), None);
    world.advance_to(last_height(1, length()).unwrap());
    assert!(set(&world, 2).is_some());
}

#[test]
fn the_election_takes_the_top_n_by_stake_with_ties_to_the_lower_key() {
    // Five validators, four seats, min stake 100: validator 4 (50) is below the minimum, and
    // validators 1 and 2 tie at 200 for the last seat.
    let stakes = [300, 200, 200, 400, 50];
    let mut params = params();
    params.max_validators = 3;
    let mut world = World::with_genesis(&genesis(&stakes, params));
    world.advance_to(EPOCH_LENGTH - 1);
    let elected = world.validator_keys(1);
    let (v1, v2) = (validator(1).address, validator(2).address);
    let tie_winner = v1.min(v2);
    assert_eq!(
        elected,
        sorted(vec![validator(0).address, validator(3).address, tie_winner])
    );
    let stakes_of: Vec<_> = set(&world, 1)
        .unwrap()
        .validators
        .iter()
        .map(|v| v.stake)
        .collect();
    assert!(stakes_of.iter().all(|stake| *stake >= 200));
}

#[test]
fn fewer_qualified_candidates_than_min_validators_keeps_the_running_set() {
    let mut params = params();
    params.min_validators = 3;
    params.min_stake = 250;
    // Only validator 0 reaches the minimum stake: too few, so epoch 1 keeps epoch 0's set.
    let mut world = World::with_genesis(&genesis(&[300, 100, 200], params));
    world.advance_to(EPOCH_LENGTH - 1);
    let next = set(&world, 1).unwrap();
    assert_eq!(next.epoch, 1);
    assert_eq!(next.validators, set(&world, 0).unwrap().validators);
}

#[test]
fn a_registered_candidate_with_enough_delegations_replaces_the_weakest_validator() {
    let mut params = params();
    params.max_validators = 3;
    let mut world = World::with_genesis(&genesis(&[300, 100, 200], params));
    let (org, member) = hospital(&mut world);
    let standby = Actor::new(4_000);
    let events = world
        .run(
            &standby,
            register_candidate(&org, &member, &standby, "10.0.0.4:9000"),
        )
        .unwrap();
    assert_eq!(
        events,
        vec![Event::CandidateRegistered {
            candidate: standby.address,
            org: org.clone(),
        }]
    );
    let pool = candidate(&world, &standby.address);
    assert_eq!(pool.org, Some(org));
    assert_eq!(pool.p2p.as_ref().map(|p| p.as_str()), Some("10.0.0.4:9000"));
    assert_eq!(pool.bonded_tokens, 0);
    assert_eq!(
        world.list(&keys::candidates().list).last(),
        Some(&standby.address)
    );
    world
        .run(&delegator(0), delegate(&standby.address, 150))
        .unwrap();
    let (epoch, epoch_end) = next_epoch_end(&world);
    world.advance_to(epoch_end);
    let next = set(&world, epoch + 1).unwrap();
    let keys_of: Vec<_> = next.validators.iter().map(|v| v.key).collect();
    assert!(keys_of.contains(&standby.address));
    assert!(!keys_of.contains(&validator(1).address), "100 < 150");
    let entry = next
        .validators
        .iter()
        .find(|v| v.key == standby.address)
        .unwrap();
    assert_eq!(entry.stake, 150);
    assert_eq!(
        entry.p2p.as_ref().map(|p| p.as_str()),
        Some("10.0.0.4:9000")
    );
}

#[test]
fn registration_is_refused_unless_an_audited_hospital_member_endorses_a_new_key() {
    let mut world = world(&[300]);
    let (org, member) = hospital(&mut world);
    let candidate = Actor::new(4_000);

    // An organisation that does not exist.
    let nowhere = org_name("Nowhere");
    world.assert_rejected(
        &candidate,
        register_candidate(&nowhere, &member, &candidate, "10.0.0.4:9000"),
        |e| matches!(e, ExecError::UnknownOrg(name) if *name == nowhere),
    );
    // A hospital not audited (yet).
    let pending = org_name("Busan Clinic");
    let pending_founder = Actor::new(78);
    world
        .run(
            &pending_founder,
            medchain_state::testkit::register(&pending, OrgKind::Hospital),
        )
        .unwrap();
    world.assert_rejected(
        &candidate,
        register_candidate(&pending, &pending_founder, &candidate, "10.0.0.4:9000"),
        |e| matches!(e, ExecError::OrgNotAudited(_)),
    );
    // An audited organisation that is not a hospital.
    let lab = org_name("Research Lab");
    let researcher = Actor::new(79);
    world.audited_org(&researcher, &lab, OrgKind::Research);
    world.assert_rejected(
        &candidate,
        register_candidate(&lab, &researcher, &candidate, "10.0.0.4:9000"),
        |e| matches!(e, ExecError::EndorserNotHospital),
    );
    // An endorser who is not a member of the hospital (a member of another org).
    world.assert_rejected(
        &candidate,
        register_candidate(&org, &researcher, &candidate, "10.0.0.4:9000"),
        |e| matches!(e, ExecError::EndorserNotMember(who) if *who == researcher.address),
    );
    // A genesis validator is a candidate already.
    let v0 = validator(0);
    world.assert_rejected(
        &v0,
        register_candidate(&org, &member, &v0, "10.0.0.1:9000"),
        |e| matches!(e, ExecError::CandidateExists),
    );
    // A key registers once.
    world
        .run(
            &candidate,
            register_candidate(&org, &member, &candidate, "10.0.0.4:9000"),
        )
        .unwrap();
    world.assert_rejected(
        &candidate,
        register_candidate(&org, &member, &candidate, "10.0.0.5:9000"),
        |e| matches!(e, ExecError::CandidateExists),
    );
    // A withdrawn audit drops the candidate from the next election.
    world
        .run(&delegator(0), delegate(&candidate.address, 500))
        .unwrap();
    let regulator = world.regulator.clone();
    world
        .run(
            &regulator,
            medchain_state::testkit::set_state(&org, OrgState::Suspended),
        )
        .unwrap();
    let (epoch, epoch_end) = next_epoch_end(&world);
    // ... and from new delegations, which could never count.
    world.assert_rejected(
        &delegator(1),
        delegate(&candidate.address, 500),
        |e| matches!(e, ExecError::OrgNotAudited(name) if *name == org),
    );
    world.advance_to(epoch_end);
    assert!(!world.validator_keys(epoch + 1).contains(&candidate.address));
}

#[test]
fn a_hospital_registers_at_most_max_candidates_per_org() {
    let mut world = world(&[300]);
    let (org, member) = hospital(&mut world);
    for i in 0..staking::MAX_CANDIDATES_PER_ORG {
        let node = Actor::new(4_000 + i);
        world
            .run(
                &node,
                register_candidate(&org, &member, &node, "10.0.0.4:9000"),
            )
            .unwrap();
    }
    assert_eq!(
        world.list(&keys::org_candidates(&org).list),
        (0..staking::MAX_CANDIDATES_PER_ORG)
            .map(|i| Actor::new(4_000 + i).address)
            .collect::<Vec<_>>()
    );
    let one_more = Actor::new(4_100);
    world.assert_rejected(
        &one_more,
        register_candidate(&org, &member, &one_more, "10.0.0.5:9000"),
        |e| matches!(e, ExecError::TooManyCandidates(name) if *name == org),
    );
    // Another hospital's count is its own.
    let other = org_name("Busan Clinic");
    let founder = Actor::new(78);
    world.audited_org(&founder, &other, OrgKind::Hospital);
    world
        .run(
            &one_more,
            register_candidate(&other, &founder, &one_more, "10.0.0.5:9000"),
        )
        .unwrap();
}

#[test]
fn delegation_buys_shares_and_undelegation_waits_out_the_unbonding_delay() {
    let mut world = world(&[300, 200]);
    let v0 = validator(0).address;
    let alice = delegator(0);

    let events = world.run(&alice, delegate(&v0, 700)).unwrap();
    assert_eq!(
        events,
        vec![Event::Delegated {
            candidate: v0,
            delegator: alice.address,
            amount: 700,
        }]
    );
    assert_eq!(balance(&world, &alice.address), FUNDS - 700);
    let pool = candidate(&world, &v0);
    assert_eq!((pool.bonded_tokens, pool.bonded_shares), (1_000, 1_000));
    assert_eq!(
        world
            .value(&keys::delegation(&v0, &alice.address))
            .unwrap()
            .shares,
        700
    );

    // Undelegate 200 of 700 in epoch 0: locked through epochs 1 and 2 (unbonding_epochs),
    // withdrawable from epoch 3.
    let events = world.run(&alice, undelegate(&v0, 200)).unwrap();
    assert_eq!(
        events,
        vec![Event::Undelegated {
            candidate: v0,
            delegator: alice.address,
            amount: 200,
            release_epoch: 3,
        }]
    );
    let pool = candidate(&world, &v0);
    assert_eq!(
        (
            pool.bonded_tokens,
            pool.bonded_shares,
            pool.unbonding_tokens,
            pool.unbonding_shares
        ),
        (800, 800, 200, 200)
    );
    let unbonding = world.value(&keys::unbonding(&v0, &alice.address)).unwrap();
    assert_eq!((unbonding.shares, unbonding.release_epoch), (200, 3));
    assert_eq!(balance(&world, &alice.address), FUNDS - 700, "not paid yet");

    // Still unbonding in epoch 1.
    world.advance_to(last_height(0, length()).unwrap());
    world.assert_rejected(&alice, withdraw(&v0), |e| {
        matches!(e, ExecError::StillUnbonding { release_epoch: 3 })
    });
    // A second undelegation in epoch 1 adds to it and moves the release to epoch 4.
    world.run(&alice, undelegate(&v0, 100)).unwrap();
    let unbonding = world.value(&keys::unbonding(&v0, &alice.address)).unwrap();
    assert_eq!((unbonding.shares, unbonding.release_epoch), (300, 4));
    // The last block of epoch 3 is still too early; the first of epoch 4 is not.
    world.advance_to(last_height(3, length()).unwrap() - 1);
    world.assert_rejected(&alice, withdraw(&v0), |e| {
        matches!(e, ExecError::StillUnbonding { release_epoch: 4 })
    });
    world.advance_to(last_height(3, length()).unwrap());
    assert_eq!(world.value(&keys::epoch_state()).unwrap().epoch, 4);
    let events = world.run(&alice, withdraw(&v0)).unwrap();
    assert_eq!(
        events,
        vec![Event::Withdrawn {
            candidate: v0,
            delegator: alice.address,
            amount: 300,
        }]
    );
    assert_eq!(balance(&world, &alice.address), FUNDS - 400);
    assert_eq!(world.value(&keys::unbonding(&v0, &alice.address)), None);
    let pool = candidate(&world, &v0);
    assert_eq!((pool.unbonding_tokens, pool.unbonding_shares), (0, 0));
    // Nothing left to withdraw.
    world.assert_rejected(&alice, withdraw(&v0), |e| {
        matches!(e, ExecError::NothingToWithdraw)
    });
}

#[test]
fn staking_rejections_change_nothing() {
    let mut world = world(&[300]);
    let v0 = validator(0).address;
    let alice = delegator(0);
    let nobody = address(9_999);
    world.assert_rejected(&alice, delegate(&nobody, 10), |e| {
        matches!(e, ExecError::NotACandidate)
    });
    world.assert_rejected(&alice, delegate(&v0, 0), |e| {
        matches!(e, ExecError::StakeTooLow)
    });
    world.assert_rejected(&alice, delegate(&v0, FUNDS + 1), |e| {
        matches!(e, ExecError::InsufficientBalance { .. })
    });
    let broke = Actor::new(6_000);
    world.assert_rejected(&broke, delegate(&v0, 1), |e| {
        matches!(e, ExecError::InsufficientBalance { .. })
    });
    world.assert_rejected(&alice, undelegate(&v0, 1), |e| {
        matches!(e, ExecError::InsufficientStake)
    });
    world.run(&alice, delegate(&v0, 100)).unwrap();
    world.assert_rejected(&alice, undelegate(&v0, 101), |e| {
        matches!(e, ExecError::InsufficientStake)
    });
    world.assert_rejected(&alice, undelegate(&v0, 0), |e| {
        matches!(e, ExecError::StakeTooLow)
    });
    world.assert_rejected(&alice, undelegate(&nobody, 1), |e| {
        matches!(e, ExecError::NotACandidate)
    });
    world.assert_rejected(&alice, withdraw(&v0), |e| {
        matches!(e, ExecError::NothingToWithdraw)
    });
}

#[test]
fn the_fee_pool_is_paid_out_equally_to_the_epochs_unjailed_validators() {
    // Every transaction pays the least fee, 10, all of it to the pool (the proposer keeps none),
    // and there is no block reward.
    let mut document = genesis(&[300, 200, 100], params());
    let tokens = document.tokens.as_mut().unwrap();
    tokens.fees = FeeSchedule {
        base: 10,
        per_byte: 0,
    };
    tokens.proposer_share_bps = 0;
    let mut world = World::with_genesis(&document);
    let validators: Vec<Address> = world.validator_keys(0);
    let before: Vec<u64> = validators.iter().map(|v| balance(&world, v)).collect();
    // Seven delegations paying 10 each: a pool of 70 over 3 validators is 23 each, 1 left.
    let alice = delegator(0);
    let txs: Vec<_> = (0..7)
        .map(|i| world.tx_at(&alice, i, delegate(&validators[0], 1)))
        .collect();
    world.commit_block(&txs);
    assert_eq!(world.value(&keys::epoch_state()).unwrap().fee_pool, 70);
    world.advance_to(last_height(0, length()).unwrap() - 1);
    for (validator, before) in validators.iter().zip(&before) {
        assert_eq!(
            balance(&world, validator),
            *before,
            "not paid before the end"
        );
    }
    world.advance_to(last_height(0, length()).unwrap());
    for (validator, before) in validators.iter().zip(&before) {
        assert_eq!(balance(&world, validator), before + 23);
        let history = world.list(&keys::token_history(validator));
        let reward = history.last().expect("an epoch reward entry");
        assert_eq!((reward.kind, reward.amount), (LedgerKind::EpochReward, 23));
    }
    let epoch = world.value(&keys::epoch_state()).unwrap();
    assert_eq!((epoch.epoch, epoch.fee_pool), (1, 1), "the remainder stays");

    // In epoch 1 validator 0 is slashed: the pool (1 + 10 for the report + 10) goes to the
    // other two only, 10 each, 1 left.
    let offender = validator(0).address;
    let reporter = delegator(1);
    let evidence = equivocation(&world, 0, 1);
    world.commit_block(&[
        world.tx(&reporter, report(evidence)),
        world.tx(&alice, delegate(&validators[1], 1)),
    ]);
    let paid_before: Vec<u64> = validators.iter().map(|v| balance(&world, v)).collect();
    world.advance_to(last_height(1, length()).unwrap());
    for (validator, before) in validators.iter().zip(&paid_before) {
        let expected = if *validator == offender { 0 } else { 10 };
        assert_eq!(balance(&world, validator), before + expected);
    }
    assert_eq!(world.value(&keys::epoch_state()).unwrap().fee_pool, 1);
}

/// A validator of `world`'s epoch `epoch` double-signs; returns the evidence.
fn equivocation(
    world: &World,
    validator_index: u64,
    epoch: u64,
) -> medchain_types::evidence::Equivocation {
    double_notarize(
        &world.consensus_namespace(),
        &world.validator_keys(epoch),
        &key(validator_seed(validator_index)),
        epoch,
    )
}

#[test]
fn an_equivocating_validator_is_slashed_burned_jailed_and_not_elected() {
    let mut world = world(&[1_000, 500, 400]);
    let offender = validator(0).address;
    let alice = delegator(0);
    let reporter = delegator(1);
    // Alice has 600 bonded and 400 unbonding with the offender: both pools are slashed.
    world.run(&alice, delegate(&offender, 1_000)).unwrap();
    world.run(&alice, undelegate(&offender, 400)).unwrap();
    let before = candidate(&world, &offender);
    assert_eq!(
        (before.bonded_tokens, before.unbonding_tokens),
        (1_600, 400)
    );
    let burned_before = burned(&world);

    let evidence = equivocation(&world, 0, 0);
    let events = world.run(&reporter, report(evidence.clone())).unwrap();
    // 10 %: 160 bonded + 40 unbonding.
    assert_eq!(
        events,
        vec![Event::Slashed {
            offender,
            epoch: 0,
            amount: 200,
        }]
    );
    let after = candidate(&world, &offender);
    assert_eq!(
        (
            after.bonded_tokens,
            after.bonded_shares,
            after.unbonding_tokens,
            after.unbonding_shares,
            after.jailed
        ),
        (1_440, 1_600, 360, 400, true)
    );
    assert_eq!(burned(&world), burned_before + 200, "the slash is burned");
    let record = world.value(&keys::slash(0, &offender)).unwrap();
    assert_eq!(
        (record.amount, record.reporter, record.height),
        (200, reporter.address, world.height())
    );

    // Reported again: refused, nothing changes.
    world.assert_rejected(&reporter, report(evidence), |e| {
        matches!(e, ExecError::AlreadySlashed)
    });
    // A jailed candidate takes no delegations, but its delegators can still leave.
    world.assert_rejected(&alice, delegate(&offender, 10), |e| {
        matches!(e, ExecError::CandidateJailed)
    });
    // Alice's 1 000 shares of the bonded pool are worth 1 440 × 600 / 1 600 = 540.
    world.assert_rejected(&alice, undelegate(&offender, 541), |e| {
        matches!(e, ExecError::InsufficientStake)
    });
    world.run(&alice, undelegate(&offender, 540)).unwrap();

    world.advance_to(last_height(0, length()).unwrap());
    assert!(
        !world.validator_keys(1).contains(&offender),
        "the offender is out of the next set"
    );
    assert_eq!(world.validator_keys(1).len(), 2);
}

/// The attack the unbonding delay exists for: a validator double-signs in epoch 0 and at once
/// undelegates its whole self-bond. For as long as evidence about epoch 0 is taken, the tokens
/// must still sit in the (slashable) unbonding pool: the withdrawal is refused in every epoch
/// in which the report is still accepted, and the late report then slashes them.
#[test]
fn a_validator_cannot_withdraw_its_stake_before_its_fault_stops_being_reportable() {
    let mut world = world(&[1_000, 500, 400]);
    let v0 = validator(0);
    let evidence = equivocation(&world, 0, 0);
    world.run(&v0, undelegate(&v0.address, 1_000)).unwrap();
    let unbonding_epochs = params().unbonding_epochs;
    // Wait until the last epoch in which evidence about epoch 0 is still taken.
    world.advance_to(last_height(unbonding_epochs - 1, length()).unwrap());
    assert_eq!(
        world.value(&keys::epoch_state()).unwrap().epoch,
        unbonding_epochs
    );
    world.assert_rejected(&v0, withdraw(&v0.address), |e| {
        matches!(e, ExecError::StillUnbonding { .. })
    });
    let events = world.run(&delegator(1), report(evidence)).unwrap();
    assert!(matches!(&events[..], [Event::Slashed { amount: 100, .. }]));
    assert_eq!(candidate(&world, &v0.address).unbonding_tokens, 900);
}

#[test]
fn shares_bought_after_a_slash_are_priced_at_the_slashed_rate() {
    let mut world = world(&[1_000, 500, 400]);
    let offender = validator(0).address;
    // 10 % of the offender's 1 000 bonded is burned: 900 tokens back 1 000 shares.
    world
        .run(&delegator(1), report(equivocation(&world, 0, 0)))
        .unwrap();
    let pool = candidate(&world, &offender);
    assert_eq!((pool.bonded_tokens, pool.bonded_shares), (900, 1_000));
    // The validator withdraws its whole self-bond: it gets what its shares are worth.
    let v0 = validator(0);
    world.run(&v0, undelegate(&offender, 900)).unwrap();
    let pool = candidate(&world, &offender);
    assert_eq!(
        (
            pool.bonded_tokens,
            pool.bonded_shares,
            pool.unbonding_tokens
        ),
        (0, 0, 900)
    );
    assert_eq!(world.value(&keys::delegation(&offender, &v0.address)), None);
}

#[test]
fn bad_evidence_is_refused_and_changes_nothing() {
    let mut world = world(&[1_000, 500, 400]);
    let reporter = delegator(1);
    let set0 = world.validator_keys(0);

    // Signed under another chain's namespace.
    let foreign = double_notarize(
        b"_MEDCHAIN_CONSENSUS_V1another-chain",
        &set0,
        &key(validator_seed(0)),
        0,
    );
    world.assert_rejected(
        &reporter,
        report(foreign),
        |e| matches!(e, ExecError::BadEvidence(reason) if reason.contains("does not verify")),
    );

    // Signed by a key outside the epoch's set, in a set of its own where it takes the index
    // of a real validator: the votes do not verify under the real validator's key.
    let outsider = Actor::new(8_888);
    let mut forged_set = set0.clone();
    let outsider_slot = forged_set
        .iter()
        .position(|k| *k == validator(1).address)
        .unwrap();
    forged_set[outsider_slot] = outsider.address;
    let forged_set = sorted(forged_set);
    let forged = double_notarize(&world.consensus_namespace(), &forged_set, &outsider.key, 0);
    world.assert_rejected(
        &reporter,
        report(forged),
        |e| matches!(e, ExecError::BadEvidence(reason) if reason.contains("does not verify")),
    );

    // A signer index beyond the set: five outsiders join a larger set, and the one sorted
    // last (at least two of the five sort after index 2) signs.
    let outsiders: Vec<Actor> = (0..5).map(|i| Actor::new(9_000 + i)).collect();
    let bigger = sorted(
        set0.iter()
            .copied()
            .chain(outsiders.iter().map(|o| o.address))
            .collect(),
    );
    let last = outsiders
        .iter()
        .max_by_key(|o| bigger.iter().position(|k| *k == o.address))
        .unwrap();
    assert!(bigger.iter().position(|k| *k == last.address).unwrap() >= set0.len());
    let beyond = double_notarize(&world.consensus_namespace(), &bigger, &last.key, 0);
    world.assert_rejected(&reporter, report(beyond), |e| {
        matches!(e, ExecError::BadEvidence(reason) if reason.contains("not in the epoch's validator set"))
    });

    // An epoch that has not started.
    let future = double_notarize(
        &world.consensus_namespace(),
        &set0,
        &key(validator_seed(0)),
        1,
    );
    world.assert_rejected(&reporter, report(future), |e| {
        matches!(e, ExecError::UnknownEpoch(1))
    });
}

#[test]
fn evidence_older_than_the_unbonding_window_is_refused() {
    let mut world = world(&[1_000, 500, 400]);
    let reporter = delegator(1);
    let old = equivocation(&world, 1, 0);
    // Epoch 2 = 0 + unbonding_epochs: still in the window.
    world.advance_to(last_height(1, length()).unwrap() + 1);
    assert_eq!(world.value(&keys::epoch_state()).unwrap().epoch, 2);
    let (results, _) = world.execute(&[world.tx(&reporter, report(old.clone()))]);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    // Epoch 3: too old.
    world.advance_to(last_height(2, length()).unwrap() + 1);
    world.assert_rejected(&reporter, report(old), |e| {
        matches!(e, ExecError::EvidenceTooOld)
    });
}

#[test]
fn executing_the_same_epoch_end_block_twice_gives_the_same_root() {
    let mut params = params();
    params.max_validators = 2;
    let mut world = World::with_genesis(&genesis(&[300, 200, 100], params));
    let (org, member) = hospital(&mut world);
    let standby = Actor::new(4_000);
    world
        .run(
            &standby,
            register_candidate(&org, &member, &standby, "10.0.0.4:9000"),
        )
        .unwrap();
    let (epoch, epoch_end) = next_epoch_end(&world);
    world.advance_to(epoch_end - 1);
    // The epoch's last block carries delegations, an undelegation and a slash.
    let txs = [
        world.tx(&delegator(0), delegate(&standby.address, 250)),
        world.tx(&delegator(1), delegate(&validator(2).address, 50)),
        world.tx(&validator(1), undelegate(&validator(1).address, 20)),
        world.tx(&delegator(2), report(equivocation(&world, 0, epoch))),
    ];
    let (first_results, first) = world.execute(&txs);
    let (second_results, second) = world.execute(&txs);
    assert!(first_results.iter().all(Result::is_ok), "{first_results:?}");
    assert_eq!(second_results.len(), first_results.len());
    assert_eq!(first.state_root, second.state_root);
    assert_eq!(first.writes, second.writes);
    assert_eq!(first.receipts_root, second.receipts_root);
    world.store.commit(&first).unwrap();
    // Validator 0 (slashed) is out, the standby (250) and validator 1 (180) are in.
    assert_eq!(
        world.validator_keys(epoch + 1),
        sorted(vec![standby.address, validator(1).address])
    );
}
