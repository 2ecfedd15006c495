//! The threshold PKG's distributed key generation (S3-setup): the genesis validators run
//! commonware's BLS12-381 Joint-Feldman DKG (`feldman_desmedt`, variant `MinPk`, so the
//! public polynomial lives in G1 like `taka`'s P_pub) and publish their signed dealer logs in
//! [`PkgPayload::Deal`] transactions. The chain is the DKG's agreed transcript: this module
//! accepts a log only from a validator, for the running round, once per dealer, and only if it
//! is usable (its signature, acknowledgements and reveals check out against the round). When a
//! quorum of logs (n − f) is accepted it derives the public output with `observe` over exactly
//! those logs and writes [`PkgState`] under [`keys::pkg`]: from then on P_pub is on chain
//! while the master secret exists only as the validators' shares.
//!
//! Dealings and acknowledgements travel privately between validators (the node's DKG
//! channel); only logs reach the chain. The node module `medchain_node::pkg` drives a
//! validator's dealer and player and derives its share from the logs accepted here.
//!
//! Why a round cannot fail here: each log is checked on its own before it is accepted, so
//! every accepted log is usable and `observe` over the first quorum of them always succeeds.
//! A round therefore completes as soon as n − f validators (the same quorum consensus needs)
//! have dealt. If it ever did fail, the transaction that reached the quorum is refused and the
//! state is unchanged; starting round 1 with fresh dealings is the recovery path (the round
//! counter is already in the keys and the [`PkgPayload::Deal`] payload).

use crate::{
    ExecError, StateError, StateRead, StateReadExt,
    context::TxContext,
    keys,
    values::{ChainConfig, PkgState},
};
use commonware_codec::{Copying, Decode, Encode, FixedSize, RangeCfg};
use commonware_cryptography::{
    Hasher, Sha256,
    bls12381::{
        dkg::feldman_desmedt::{
            DealerLog, Failure, Info, Logs, Output, Reveal, SignedDealerLog, observe,
        },
        primitives::{sharing::Mode, variant::MinPk},
    },
};
use commonware_parallel::Sequential;
use commonware_utils::{N3f1, ordered::Quorum, ordered::Set};
use medchain_types::{
    Address, DealerLogBytes, Event, G1Point, Hash32, PkgPayload, PublicKey, limits,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use std::num::NonZeroU32;

/// Application namespace of the DKG; the genesis digest is appended
/// ([`dkg_namespace`]), so no two chains' transcripts are interchangeable.
pub const DKG_NAMESPACE: &[u8] = b"_MEDCHAIN_PKG_DKG_V1";

/// The DKG round the chain runs: the first (and, since rounds cannot fail, only) key
/// generation.
pub const FIRST_ROUND: u64 = 0;

/// A DKG round's configuration (dealers = players = the genesis validators).
pub type DkgInfo = Info<MinPk, PublicKey>;
/// A dealer's signed transcript, as published on chain.
pub type SignedLog = SignedDealerLog<MinPk, PublicKey>;
/// A checked dealer log.
pub type Log = DealerLog<MinPk, PublicKey>;
/// The DKG's public result.
pub type DkgOutput = Output<MinPk, PublicKey>;
/// Dealer logs bound to a round, as the DKG library combines them.
pub type DkgLogs = Logs<MinPk, PublicKey, N3f1>;

/// The DKG namespace of the chain with genesis digest `genesis_digest`.
pub fn dkg_namespace(genesis_digest: &Hash32) -> Vec<u8> {
    commonware_utils::union(DKG_NAMESPACE, genesis_digest.as_ref())
}

/// Round `round`'s configuration: every validator deals and receives a share, threshold
/// n − f (`N3f1`), shares evaluated at 1..=n (`Mode::NonZeroCounter`: validator `i` of the
/// sorted set holds f(i + 1)).
pub fn round_info(
    genesis_digest: &Hash32,
    validators: &Set<PublicKey>,
    round: u64,
) -> Result<DkgInfo, StateError> {
    Info::new::<N3f1>(
        &dkg_namespace(genesis_digest),
        round,
        None,
        Mode::NonZeroCounter,
        Reveal::V1,
        validators.clone(),
        validators.clone(),
    )
    .map_err(|e| StateError::Inconsistent(format!("DKG round configuration: {e}")))
}

/// The validator addresses as the sorted key set the DKG indexes participants by.
pub fn validator_set(validators: &[Address]) -> Result<Set<PublicKey>, StateError> {
    validators
        .iter()
        .map(|address| {
            address
                .public_key()
                .map_err(|_| StateError::Inconsistent(format!("validator {address} is not a key")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Set::from_iter_dedup)
}

/// Round `round`'s configuration for the chain described by `config`.
pub fn chain_round_info(config: &ChainConfig, round: u64) -> Result<DkgInfo, StateError> {
    round_info(
        &config.genesis_digest,
        &validator_set(&config.validators)?,
        round,
    )
}

/// Decodes a published log for a DKG among `validators` participants.
pub fn decode_log(bytes: &DealerLogBytes, validators: usize) -> Result<SignedLog, ExecError> {
    let max = NonZeroU32::new(u32::try_from(validators).unwrap_or(u32::MAX))
        .ok_or_else(|| ExecError::MalformedDealerLog("no validators".into()))?;
    SignedLog::decode_cfg(Copying(bytes.0.as_slice()), &max)
        .map_err(|e| ExecError::MalformedDealerLog(e.to_string()))
}

/// The randomness `observe` and `Player::finalize` draw: it only picks the random linear
/// combinations of batch signature and reveal verification, so any seed is sound; seeding it
/// from the logs themselves keeps execution deterministic (every validator draws the same).
pub fn verification_rng<'a>(logs: impl IntoIterator<Item = &'a Log>) -> ChaCha20Rng {
    let encoded: Vec<_> = logs.into_iter().map(Encode::encode).collect();
    let parts: Vec<&[u8]> = encoded.iter().map(|log| log.as_ref()).collect();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(Sha256::hash(&parts).as_ref());
    ChaCha20Rng::from_seed(seed)
}

/// `logs` bound to `info`, with the randomness to verify them ([`verification_rng`]).
pub fn collect_logs(info: &DkgInfo, logs: Vec<(PublicKey, Log)>) -> (DkgLogs, ChaCha20Rng) {
    let rng = verification_rng(logs.iter().map(|(_, log)| log));
    let mut collected = DkgLogs::new(info.clone());
    for (dealer, log) in logs {
        collected.record(dealer, log);
    }
    (collected, rng)
}

/// The public output of round `info` from `logs`.
pub fn observe_logs(
    info: &DkgInfo,
    logs: Vec<(PublicKey, Log)>,
) -> Result<DkgOutput, Failure<PublicKey>> {
    let (logs, mut rng) = collect_logs(info, logs);
    observe(&mut rng, logs, &Sequential)
}

/// Every log the chain accepted for `round`, checked again (each was checked on acceptance, so
/// a failure here means the state is corrupt), in validator-key order.
pub fn accepted_logs(
    state: &impl StateRead,
    config: &ChainConfig,
    round: u64,
) -> Result<Vec<(PublicKey, Log)>, StateError> {
    let info = chain_round_info(config, round)?;
    let mut logs = Vec::new();
    for validator in &config.validators {
        let key = keys::pkg_deal(round, validator);
        let Some(bytes) = state.value(&key)? else {
            continue;
        };
        let corrupt = |reason: String| StateError::Inconsistent(format!("{key:?}: {reason}"));
        let signed =
            decode_log(&bytes, config.validators.len()).map_err(|e| corrupt(e.to_string()))?;
        let (dealer, log) = signed
            .check(&info)
            .ok_or_else(|| corrupt("signature does not verify".into()))?;
        logs.push((dealer, log));
    }
    logs.sort_by(|(a, _), (b, _)| a.cmp(b));
    Ok(logs)
}

/// The compressed G1 coefficient commitments of `output`'s public polynomial, constant
/// (P_pub) first.
pub fn public_polynomial(output: &DkgOutput) -> Result<Vec<G1Point>, StateError> {
    // The library exposes the polynomial only through its encoding: the sharing mode, the
    // participant count (u32), then the coefficients as a length-prefixed list of points.
    let encoded = output.public().encode();
    let coefficients = encoded
        .get(Mode::SIZE + u32::SIZE..)
        .ok_or_else(|| StateError::Inconsistent("DKG output too short".into()))?;
    Vec::<G1Point>::decode_cfg(
        Copying(coefficients),
        &(RangeCfg::from(1..=limits::MAX_VALIDATORS), ()),
    )
    .map_err(|e| StateError::Inconsistent(format!("DKG public polynomial: {e}")))
}

/// Executes a [`PkgPayload`].
pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &PkgPayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        PkgPayload::Deal { round, log } => deal(ctx, *round, log),
    }
}

/// Accepts the sender's dealer log for `round`; completes the DKG when it is the quorum-th.
fn deal<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    round: u64,
    bytes: &DealerLogBytes,
) -> Result<Vec<Event>, ExecError> {
    let chain = ctx.chain;
    let sender = *ctx.sender;
    if !chain.validators.contains(&sender) {
        return Err(ExecError::NotValidator);
    }
    if let Some(pkg) = ctx.value(&keys::pkg())? {
        return Err(ExecError::PkgAlreadyReady { round: pkg.round });
    }
    if round != FIRST_ROUND {
        return Err(ExecError::WrongDkgRound {
            expected: FIRST_ROUND,
            got: round,
        });
    }
    let key = keys::pkg_deal(round, &sender);
    if ctx.value(&key)?.is_some() {
        return Err(ExecError::DuplicateDealerLog(sender));
    }
    let info = chain_round_info(chain, round)?;
    let (dealer, log) = decode_log(bytes, chain.validators.len())?
        .check(&info)
        .ok_or(ExecError::DealerLogSignature)?;
    let signer = Address::from(dealer.clone());
    if signer != sender {
        return Err(ExecError::DealerLogSigner { signer });
    }
    check_usable(&info, dealer, log)?;
    ctx.put(&key, bytes);
    let mut events = vec![Event::DealerLogRecorded {
        dealer: sender,
        round,
    }];

    let accepted = accepted_logs(ctx, chain, round)?;
    let quorum = validator_set(&chain.validators)?.quorum::<N3f1>();
    if u32::try_from(accepted.len()).unwrap_or(u32::MAX) >= quorum {
        // Unreachable with usable logs (see the module docs); refusing keeps the state as is.
        let output = observe_logs(&info, accepted)
            .map_err(|failure| ExecError::UnusableDealerLog(failure.to_string()))?;
        let public_polynomial = public_polynomial(&output)?;
        let master_public_key = public_polynomial[0];
        let pkg = PkgState {
            round,
            threshold: output.quorum::<N3f1>(),
            public_polynomial,
            dealers: output
                .dealers()
                .iter()
                .cloned()
                .map(Address::from)
                .collect(),
        };
        ctx.put(&keys::pkg(), &pkg);
        events.push(Event::PkgReady {
            round,
            threshold: pkg.threshold,
            master_public_key,
        });
    }
    Ok(events)
}

/// Refuses a log that `observe` would not use: one that proves a fault (a bad acknowledgement
/// signature or reveal, a commitment of the wrong degree) or withholds its results because it
/// would reveal more than f shares. The library judges a log only among a round's logs, so
/// this asks it about a round holding just this one: the failure then lists this dealer as
/// faulty or unavailable exactly when its log is unusable.
fn check_usable(info: &DkgInfo, dealer: PublicKey, log: Log) -> Result<(), ExecError> {
    match observe_logs(info, vec![(dealer.clone(), log)]) {
        // A one-validator chain: the log alone completes the round.
        Ok(_) => Ok(()),
        Err(Failure::InsufficientLogs {
            faults,
            unavailable,
            ..
        }) => {
            if let Some(reason) = faults.get_value(&dealer) {
                Err(ExecError::UnusableDealerLog(reason.to_string()))
            } else if unavailable.position(&dealer).is_some() {
                Err(ExecError::UnusableDealerLog(
                    "it reveals more than f shares, so it omits its results".into(),
                ))
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Actor, World, genesis_with_validators, validator_seed};
    use commonware_codec::Encode;
    use commonware_cryptography::{
        Signer,
        bls12381::dkg::feldman_desmedt::{Dealer, Player},
    };
    use medchain_types::{Genesis, Payload, PrivateKey};

    const VALIDATORS: u64 = 4;

    /// A 4-validator chain and its DKG round, with each validator's key.
    struct Round {
        world: World,
        genesis: Genesis,
        info: DkgInfo,
        validators: Vec<Actor>,
    }

    impl Round {
        fn new() -> Self {
            let genesis = genesis_with_validators(VALIDATORS);
            let world = World::with_genesis(&genesis);
            let info = info_for(&genesis);
            Self {
                world,
                genesis,
                info,
                validators: (0..VALIDATORS)
                    .map(|i| Actor::new(validator_seed(i)))
                    .collect(),
            }
        }

        /// Validator `dealer`'s signed log after dealing to everyone, acknowledged by the
        /// validators in `ackers` (the others' shares are revealed).
        fn log(&self, dealer: usize, ackers: &[usize]) -> DealerLogBytes {
            signed_log(&self.info, &self.validators, dealer, ackers)
        }

        fn deal(
            &mut self,
            sender: usize,
            round: u64,
            log: DealerLogBytes,
        ) -> Result<Vec<Event>, ExecError> {
            let actor = self.validators[sender].clone();
            self.world
                .run(&actor, Payload::Pkg(PkgPayload::Deal { round, log }))
        }

        fn assert_refused(&mut self, sender: &Actor, round: u64, log: DealerLogBytes, code: &str) {
            self.world.assert_rejected(
                sender,
                Payload::Pkg(PkgPayload::Deal { round, log }),
                |error| error.code() == code,
            );
        }
    }

    fn info_for(genesis: &Genesis) -> DkgInfo {
        round_info(
            &genesis.digest(),
            &genesis.validator_set().unwrap(),
            FIRST_ROUND,
        )
        .unwrap()
    }

    fn signed_log(
        info: &DkgInfo,
        validators: &[Actor],
        dealer: usize,
        ackers: &[usize],
    ) -> DealerLogBytes {
        let mut rng = ChaCha20Rng::seed_from_u64(dealer as u64);
        let dealer_key: PrivateKey = validators[dealer].key.clone();
        let (mut state, pub_msg, priv_msgs) = Dealer::<MinPk, PrivateKey>::start::<N3f1>(
            &mut rng,
            info.clone(),
            dealer_key.clone(),
            None,
        )
        .unwrap();
        for (player, priv_msg) in priv_msgs {
            let Some(acker) = ackers
                .iter()
                .map(|&i| &validators[i].key)
                .find(|k| k.public_key() == player)
            else {
                continue;
            };
            let ack = Player::<MinPk, PrivateKey>::new(info.clone(), acker.clone())
                .unwrap()
                .dealer_message::<N3f1>(dealer_key.public_key(), pub_msg.clone(), priv_msg)
                .unwrap()
                .unwrap();
            state.receive_player_ack(player, ack).unwrap();
        }
        DealerLogBytes(state.finalize::<N3f1>().encode().to_vec())
    }

    const ALL: [usize; 4] = [0, 1, 2, 3];

    #[test]
    fn a_quorum_of_logs_sets_up_the_pkg_and_later_logs_change_nothing() {
        let mut round = Round::new();
        let logs: Vec<_> = (0..4).map(|i| round.log(i, &ALL)).collect();
        for (i, log) in logs.iter().enumerate().take(2) {
            let events = round.deal(i, 0, log.clone()).unwrap();
            assert_eq!(
                events,
                vec![Event::DealerLogRecorded {
                    dealer: round.validators[i].address,
                    round: 0
                }]
            );
            assert!(
                round.world.value(&keys::pkg()).is_none(),
                "ready before a quorum"
            );
        }
        let events = round.deal(2, 0, logs[2].clone()).unwrap();
        let pkg = round
            .world
            .value(&keys::pkg())
            .expect("ready at the quorum");
        assert_eq!(pkg.round, 0);
        assert_eq!(pkg.threshold, 3, "n − f of 4");
        assert_eq!(pkg.public_polynomial.len(), 3, "degree t − 1");
        let mut dealers: Vec<_> = round.validators[..3].iter().map(|a| a.address).collect();
        dealers.sort_by_key(|a| a.public_key().unwrap());
        assert_eq!(pkg.dealers, dealers);
        assert_eq!(
            events[1],
            Event::PkgReady {
                round: 0,
                threshold: 3,
                master_public_key: pkg.public_polynomial[0],
            }
        );
        // P_pub is the constant of the output any observer derives from the same logs.
        let checked: Vec<_> = logs[..3]
            .iter()
            .map(|bytes| decode_log(bytes, 4).unwrap().check(&round.info).unwrap())
            .collect();
        let output = observe_logs(&round.info, checked).unwrap();
        assert_eq!(
            pkg.public_polynomial[0].0.as_slice(),
            output.public().public().encode().as_ref()
        );

        let late = round.validators[3].clone();
        round.assert_refused(&late, 0, logs[3].clone(), "pkg_already_ready");
    }

    #[test]
    fn only_a_validator_deals() {
        let mut round = Round::new();
        let log = round.log(0, &ALL);
        round.assert_refused(&Actor::new(5), 0, log, "not_validator");
    }

    #[test]
    fn one_log_per_validator() {
        let mut round = Round::new();
        let log = round.log(0, &ALL);
        round.deal(0, 0, log.clone()).unwrap();
        let again = round.log(0, &[0, 1, 2]);
        let sender = round.validators[0].clone();
        round.assert_refused(&sender, 0, log, "duplicate_dealer_log");
        round.assert_refused(&sender, 0, again, "duplicate_dealer_log");
    }

    #[test]
    fn only_the_running_round_is_taken() {
        let mut round = Round::new();
        let log = round.log(0, &ALL);
        let sender = round.validators[0].clone();
        round.assert_refused(&sender, 1, log, "wrong_dkg_round");
    }

    #[test]
    fn garbled_and_forged_logs_are_refused() {
        let mut round = Round::new();
        let sender = round.validators[0].clone();
        round.assert_refused(
            &sender,
            0,
            DealerLogBytes(vec![7; 40]),
            "malformed_dealer_log",
        );
        let mut truncated = round.log(0, &ALL);
        truncated.0.pop();
        round.assert_refused(&sender, 0, truncated, "malformed_dealer_log");

        // Signed for another chain's DKG (another genesis digest): the signature is bound to it.
        let mut other = round.genesis.clone();
        other.genesis_time_ms += 1;
        let foreign = signed_log(&info_for(&other), &round.validators, 0, &ALL);
        round.assert_refused(&sender, 0, foreign, "dealer_log_signature");
    }

    #[test]
    fn a_log_signed_by_another_validator_is_refused() {
        let mut round = Round::new();
        let log = round.log(0, &ALL);
        let other = round.validators[1].clone();
        round.assert_refused(&other, 0, log, "dealer_log_signer");
    }

    #[test]
    fn a_log_revealing_more_than_f_shares_is_refused() {
        let mut round = Round::new();
        // Two of four players unacknowledged: two reveals, f = 1.
        let log = round.log(0, &[0, 1]);
        let sender = round.validators[0].clone();
        round.assert_refused(&sender, 0, log, "unusable_dealer_log");
        // One reveal (a crashed player) is within f and accepted.
        round.deal(0, 0, round.log(0, &[0, 1, 2])).unwrap();
    }

    #[test]
    fn the_namespace_binds_the_genesis() {
        let genesis = genesis_with_validators(VALIDATORS);
        let namespace = dkg_namespace(&genesis.digest());
        assert!(namespace.starts_with(DKG_NAMESPACE));
        assert!(namespace.ends_with(genesis.digest().as_ref()));
        assert_eq!(
            validator_set(&genesis.validator_keys()).unwrap(),
            genesis.validator_set().unwrap()
        );
    }
}
