//! Supply conservation (S1-tokens, issue 11 §1.8), as a property over long random runs: after
//! every block, every balance, every unspent output, every candidate's bonded and unbonding
//! pools and the epoch's fee pool add up exactly to the tokens in existence (genesis + minted −
//! burned, slashes burned) — research study pools included, as the contract-locked outputs they
//! are —, each `held/` sum matches its owner's
//! single-key outputs, and a block with rejected transactions has exactly the root of the same
//! block without them.

use medchain_state::{
    ExecError, StateValue, keys,
    staking::epoch_of,
    testkit::{
        Actor, ELIGIBLE, Market, ResearchPatient, Sharing, World, acknowledge, claim, delegate,
        dispute, double_notarize, escrow_open, fund_study, refund_study, register,
        register_candidate, report, request, resolve, staked_genesis, to_balance, undelegate,
        validator_seed, withdraw, zk_keys,
    },
    values::{Account, Candidate, Escrow, Output, Study},
};
use medchain_types::{
    Address, ConsentPayload, EnrolmentId, EscrowId, Expiry, OrgKind, OrgName, Payload, Purpose,
    StudyId, TokenPayload, VerifiedTransaction,
    token::{Lock, LockTime, OutPoint, TxOutput},
};
use proptest::prelude::*;
use std::{collections::BTreeMap, sync::OnceLock};

/// One random action: what, by which actor, towards which other actor, how much.
#[derive(Clone, Debug)]
struct Step {
    op: u8,
    actor: usize,
    other: usize,
    amount: u64,
}

const ACTORS: usize = 8;
/// Blocks per epoch in these runs.
const GENESIS_EPOCH_LENGTH: std::num::NonZeroU64 = std::num::NonZeroU64::new(5).unwrap();
const PROPOSERS: u64 = 4;

fn step() -> impl Strategy<Value = Step> {
    (0..20u8, 0..ACTORS, 0..ACTORS, 1..20_000u64).prop_map(|(op, actor, other, amount)| Step {
        op,
        actor,
        other,
        amount,
    })
}

/// 60 blocks, each with a proposer and up to 4 actions.
fn blocks() -> impl Strategy<Value = Vec<(u64, Vec<Step>)>> {
    proptest::collection::vec((0..PROPOSERS, proptest::collection::vec(step(), 0..5)), 60)
}

/// A chain with tokens (epochs of 5 blocks), a released record and a consent paying 7 per
/// access; the actors are six funded newcomers, the treating doctor and the patient. Two
/// candidates take delegations: the genesis validator (self-bonded) and a registered standby.
/// A research study pays 1 000 per enrolment from its pool until 30 s after the setup; the
/// patient's attested record may enrol once (a proven enrolment filed by a one-time key), whose
/// owed reward the researcher acknowledges or disputes, the regulator resolves and the
/// one-time key claims.
struct Run {
    world: World,
    actors: Vec<Actor>,
    record: medchain_types::RecordId,
    candidates: [Actor; 2],
    researcher: Actor,
    study: StudyId,
    enrolment: (Actor, Payload),
}

/// What the genesis validator self-bonds.
const GENESIS_STAKE: u64 = 5_000;

impl Run {
    fn new() -> Self {
        let mut genesis = staked_genesis(&[GENESIS_STAKE]);
        let tokens = genesis.tokens.as_mut().unwrap();
        tokens.staking.epoch_length = GENESIS_EPOCH_LENGTH.get();
        let validator = Actor::new(validator_seed(0));
        let mut sharing = Sharing::with_genesis(&genesis);
        let (doctor, patient) = (sharing.doctor.clone(), sharing.patient.clone());
        let world = &mut sharing.world;
        let consent = world.tx(
            &patient,
            Payload::Consent(ConsentPayload::Grant {
                grantee: doctor.address,
                records: vec![sharing.record],
                purpose: Purpose::Treatment,
                expiry: Expiry::AtHeight(u64::MAX),
                reward: Some(7),
            }),
        );
        world.run_tx(&consent).unwrap();
        let mut actors: Vec<Actor> = (0..6).map(|i| Actor::new(100 + i)).collect();
        for actor in &actors {
            world.fund(&actor.address, 50_000);
        }
        let standby = Actor::new(4_242);
        world.fund(&standby.address, 50_000);
        let org = medchain_state::testkit::org_name("Seoul General");
        let registration = world.tx(
            &standby,
            register_candidate(&org, &sharing.seoul_doctor, &standby, "127.0.0.1:9004"),
        );
        world.run_tx(&registration).unwrap();
        actors.extend([doctor, patient.clone()]);
        let (world, researcher, study, enrolment) =
            research_market(sharing.world, &sharing.seoul_doctor, patient);
        Self {
            world,
            actors,
            record: sharing.record,
            candidates: [validator, standby],
            researcher,
            study,
            enrolment,
        }
    }

    /// The transaction `step` asks for, given the state: valid or not.
    fn tx(&self, step: &Step) -> VerifiedTransaction {
        let world = &self.world;
        let actor = &self.actors[step.actor];
        let other = self.actors[step.other].address;
        let balance = world.balance(&actor.address);
        let candidate = self.candidates[step.other % 2].address;
        match step.op {
            0 => self.pay_from_balance(actor, step.amount, to_balance(step.amount, &other)),
            1 => self.pay_from_balance(actor, step.amount, TxOutput::to_key(step.amount, other)),
            2 => self.spend_coins(actor, other, step.amount, false),
            // Invalid: a change output one token short of balancing, or a balance overdraft.
            3 if step.amount.is_multiple_of(2) => self.spend_coins(actor, other, step.amount, true),
            3 => self.pay_from_balance(actor, balance + 1, to_balance(balance + 1, &other)),
            4 => world.tx(
                actor,
                escrow_open(
                    &other,
                    &self.actors[(step.other + 1) % ACTORS].address,
                    step.amount,
                    LockTime::Height(world.height() + step.amount % 4),
                ),
            ),
            5 => {
                let escrows = unsettled_escrows(world);
                let payload = match escrows.get(step.amount as usize % escrows.len().max(1)) {
                    Some(id) if step.amount.is_multiple_of(2) => {
                        Payload::Token(TokenPayload::EscrowRelease { escrow: *id })
                    }
                    Some(id) => Payload::Token(TokenPayload::EscrowRefund { escrow: *id }),
                    None => return self.pay_from_balance(actor, 1, to_balance(1, &other)),
                };
                world.tx(actor, payload)
            }
            6 => world.tx(
                actor,
                register(
                    &OrgName::new(format!("org {} {}", step.actor, world.height())).unwrap(),
                    OrgKind::Research,
                ),
            ),
            // The doctor asks for the record: allowed under the consent, it pays the patient.
            7 | 8 => world.tx(&self.actors[6], request(&self.record, Purpose::Treatment)),
            // Staking: amounts may be 0 or more than held, so some are refused.
            9 => world.tx(actor, delegate(&candidate, step.amount % 4_000)),
            10 => world.tx(actor, undelegate(&candidate, step.amount % 600)),
            // Withdraw where something is unbonding, if anywhere (it may be too early).
            11 => {
                let unbonding = self
                    .candidates
                    .iter()
                    .map(|c| c.address)
                    .find(|c| world.value(&keys::unbonding(c, &actor.address)).is_some());
                world.tx(actor, withdraw(&unbonding.unwrap_or(candidate)))
            }
            12 => world.tx(actor, report(self.equivocation(step.amount))),
            // Research: funding (refused after the deadline), the one enrolment (refused once
            // made, or once closed), refunding (refused while open and once empty).
            13 => world.tx(&self.researcher, fund_study(&self.study, step.amount)),
            14 => {
                let (sender, payload) = &self.enrolment;
                world.tx(sender, payload.clone())
            }
            15 => world.tx(&self.researcher, refund_study(&self.study)),
            // Settlement of the enrolment's owed reward (refused before it exists, twice, out of
            // turn, or too early).
            16 => world.tx(&self.researcher, acknowledge(&self.enrolment_id())),
            17 => world.tx(&self.researcher, dispute(&self.enrolment_id())),
            18 => world.tx(
                &world.regulator,
                resolve(&self.enrolment_id(), step.amount.is_multiple_of(2)),
            ),
            _ => world.tx(&self.enrolment.0, claim(&self.enrolment_id())),
        }
    }

    /// The study's enrolment once accepted; before, an id no enrolment has.
    fn enrolment_id(&self) -> EnrolmentId {
        self.world
            .list(&keys::study_enrolments(&self.study).list)
            .first()
            .copied()
            .unwrap_or(EnrolmentId(medchain_types::Hash32::from([9; 32])))
    }

    /// A member of the running epoch's set double-signs; under another chain's namespace
    /// (refused) unless `seed` is a multiple of 4, so the candidates are not all jailed early.
    fn equivocation(&self, seed: u64) -> medchain_types::evidence::Equivocation {
        let world = &self.world;
        let epoch = epoch_of(world.height() + 1, GENESIS_EPOCH_LENGTH);
        let set = world.validator_keys(epoch);
        let signer = self
            .candidates
            .iter()
            .find(|candidate| set.contains(&candidate.address))
            .expect("the set is made of the two candidates");
        let namespace = if seed.is_multiple_of(4) {
            world.consensus_namespace()
        } else {
            b"another chain".to_vec()
        };
        double_notarize(&namespace, &set, &signer.key, epoch)
    }

    /// `actor` pays `output` from its balance (`amount` plus the least fee).
    fn pay_from_balance(
        &self,
        actor: &Actor,
        amount: u64,
        output: TxOutput,
    ) -> VerifiedTransaction {
        let outputs = [output];
        let fee = self.world.transfer_fee(actor, (&[], amount, &outputs), &[]);
        self.world
            .transfer_with_fee(actor, (&[], amount.saturating_add(fee), &outputs), &[], fee)
    }

    /// `actor` spends up to three of its coins: `amount` (at most what they hold) to `other`,
    /// the rest as change; `unbalanced` makes the change one token short.
    fn spend_coins(
        &self,
        actor: &Actor,
        other: Address,
        amount: u64,
        unbalanced: bool,
    ) -> VerifiedTransaction {
        let coins: Vec<(OutPoint, u64)> = outputs(&self.world)
            .into_iter()
            .filter(|(_, output)| output.lock == Lock::Key(actor.address))
            .take(3)
            .map(|(point, output)| (point, output.value))
            .collect();
        let inputs: Vec<OutPoint> = coins.iter().map(|(point, _)| *point).collect();
        let total: u64 = coins.iter().map(|(_, value)| value).sum();
        let draft = [
            TxOutput::to_key(1, other),
            TxOutput::to_key(1, actor.address),
        ];
        let fee = self.world.transfer_fee(actor, (&inputs, 0, &draft), &[]);
        let paid = amount.min(total.saturating_sub(fee) / 2).max(1);
        let change = total
            .saturating_sub(fee + paid)
            .saturating_sub(u64::from(unbalanced))
            .max(1);
        let outputs = [
            TxOutput::to_key(paid, other),
            TxOutput::to_key(change, actor.address),
        ];
        self.world
            .transfer_with_fee(actor, (&inputs, 0, &outputs), &[], fee)
    }
}

/// Opens a research market on `world` (the patient's record attested), publishes and funds a
/// study closing 30 s later, and proves the patient's enrolment in it. Every run builds the
/// same chain, so the proof is made once per test binary.
fn research_market(
    world: World,
    doctor: &Actor,
    patient: Actor,
) -> (World, Actor, StudyId, (Actor, Payload)) {
    static ENROLMENT: OnceLock<Payload> = OnceLock::new();
    let mut market = Market::open(world, doctor.clone(), patient.clone());
    let circuit = market.register_circuit(&zk_keys().vk.to_bytes());
    let member = ResearchPatient::with_record(&mut market, patient, "61", "7.4");
    let mut terms = market.draft(circuit, ELIGIBLE);
    terms.deadline_ms = market.world.timestamp_ms() + 30_000;
    let study = market.publish(&terms);
    market.fund(&study, 2_500);
    let one_time = Actor::new(7_777);
    let payload = ENROLMENT
        .get_or_init(|| member.enrolment(&market, &study, ELIGIBLE, &one_time))
        .clone();
    (market.world, market.researcher, study, (one_time, payload))
}

fn outputs(world: &World) -> Vec<(OutPoint, Output)> {
    world
        .store
        .values_with_prefix(keys::UTXO)
        .into_iter()
        .map(|(key, value)| {
            let point = OutPoint {
                tx: medchain_types::TxId(medchain_types::Hash32::from(
                    <[u8; 32]>::try_from(&key[5..37]).unwrap(),
                )),
                index: u16::from_be_bytes([key[37], key[38]]),
            };
            assert_eq!(keys::output(&point).as_bytes(), key.as_slice());
            (point, Output::from_bytes(&value).unwrap())
        })
        .collect()
}

fn unsettled_escrows(world: &World) -> Vec<EscrowId> {
    world
        .store
        .values_with_prefix(keys::ESCROW)
        .into_iter()
        .filter(|(_, value)| Escrow::from_bytes(value).unwrap().settled.is_none())
        .map(|(key, _)| {
            EscrowId(medchain_types::Hash32::from(
                <[u8; 32]>::try_from(&key[keys::ESCROW.len()..]).unwrap(),
            ))
        })
        .collect()
}

/// Every balance, every unspent output and the fee pool.
fn accounted(world: &World) -> u128 {
    let balances: u128 = world
        .store
        .values_with_prefix(keys::ACCOUNT)
        .iter()
        .map(|(_, value)| u128::from(Account::from_bytes(value).unwrap().balance))
        .sum();
    let coins: u128 = outputs(world)
        .iter()
        .map(|(_, output)| u128::from(output.value))
        .sum();
    let pool = world.value(&keys::epoch_state()).unwrap().fee_pool;
    let staked: u128 = world
        .store
        .values_with_prefix(keys::CANDIDATE)
        .iter()
        .map(|(_, value)| {
            let candidate = Candidate::from_bytes(value).unwrap();
            u128::from(candidate.bonded_tokens) + u128::from(candidate.unbonding_tokens)
        })
        .sum();
    balances + coins + u128::from(pool) + staked
}

fn check_invariants(world: &World) {
    let supply = world.value(&keys::supply()).unwrap();
    assert_eq!(
        accounted(world),
        u128::from(supply.circulating()),
        "supply at height {}",
        world.height()
    );
    let mut held: BTreeMap<Address, u64> = BTreeMap::new();
    for (_, output) in outputs(world) {
        if let Lock::Key(owner) = output.lock {
            *held.entry(owner).or_default() += output.value;
        }
    }
    let stored: BTreeMap<Address, u64> = world
        .store
        .values_with_prefix(keys::HELD)
        .into_iter()
        .map(|(key, value)| {
            let owner = Address::from_bytes(key[keys::HELD.len()..].try_into().unwrap());
            (owner, u64::from_bytes(&value).unwrap())
        })
        .collect();
    assert_eq!(held, stored, "held/ sums");
    for (_, value) in world.store.values_with_prefix(keys::STUDY) {
        let study = Study::from_bytes(&value).unwrap();
        let held = study.pool.map_or(0, |point| {
            world
                .value(&keys::output(&point))
                .expect("a study's pool output is unspent")
                .value
        });
        assert_eq!(
            held,
            study.pooled + study.owed,
            "a study's pool is free + owed"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fees_rewards_transfers_and_escrow_conserve_the_supply(blocks in blocks()) {
        let mut run = Run::new();
        check_invariants(&run.world);
        let (mut accepted, mut rejected) = (0, 0);
        for (proposer, steps) in blocks {
            // One transaction per actor per block, so each carries its committed nonce.
            let mut seen = [false; ACTORS];
            let txs: Vec<VerifiedTransaction> = steps
                .iter()
                .filter(|step| {
                    let actor = if matches!(step.op, 7 | 8) { 6 } else { step.actor };
                    !std::mem::replace(&mut seen[actor], true)
                })
                .map(|step| run.tx(step))
                .collect();
            let proposer = medchain_state::testkit::address(5_000 + proposer);
            let (results, block) = run.world.execute_by(&proposer, &txs);
            let kept: Vec<VerifiedTransaction> = txs
                .iter()
                .zip(&results)
                .filter(|(_, result)| result.is_ok())
                .map(|(tx, _)| tx.clone())
                .collect();
            for result in &results {
                if let Err(error) = result {
                    prop_assert!(!matches!(error, ExecError::State(_)), "{error}");
                }
            }
            if kept.len() < txs.len() {
                let (_, without) = run.world.execute_by(&proposer, &kept);
                prop_assert_eq!(without.state_root, block.state_root);
                prop_assert_eq!(&without.writes, &block.writes);
            }
            accepted += kept.len();
            rejected += txs.len() - kept.len();
            run.world.store.commit(&block).unwrap();
            check_invariants(&run.world);
        }
        prop_assert!(accepted > 0, "{accepted} accepted, {rejected} rejected");
    }
}
