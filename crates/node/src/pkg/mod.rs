//! The threshold PKG's distributed key generation on a validator (S3-setup): one task that is
//! both this validator's DKG *dealer* and *player* (commonware's Joint-Feldman
//! `feldman_desmedt`, variant `MinPk`; the rules the chain applies to the result are in
//! `medchain_state::pkg`).
//!
//! 1. *Dealing.* The dealer draws its polynomial from an rng seeded by `pkg/dealer-seed` (so a
//!    restart deals the same polynomial again) and sends each validator its private share over
//!    the DKG channel, retransmitting until that validator acknowledges.
//! 2. *Acknowledging.* The player checks each dealing against its commitment, persists it, then
//!    acknowledges it (and re-sends the same acknowledgement when a dealing is retransmitted).
//! 3. *Publishing.* Once every validator acknowledged, or [`DkgConfig::deal_timeout`] after
//!    dealing with at least a quorum (n − f) of acknowledgements, the dealer signs its log
//!    (acknowledgements, and the shares of validators that did not acknowledge, revealed) and
//!    submits it as a `pkg.deal` transaction signed by the validator key, through the node's
//!    own admission path. It re-submits until the log is on chain.
//! 4. *Deriving the share.* When the chain has accepted a quorum of logs and written `cfg/pkg`,
//!    the player combines exactly those logs (read back from finalized state) into its share,
//!    checks it against the on-chain public polynomial and saves it in the [`ShareStore`].
//!
//! No process ever holds the master secret: each validator knows only its dealing and its share.
//! A validator restarted after the DKG reloads its share; one that lost it (or never acknowledged)
//! recovers it from the chain if the dealers revealed it, and otherwise runs without a share
//! (logged; enrolment then needs the other t validators).

mod store;
mod wire;

pub use store::{
    NewShare, PUBLIC_FILE, PublicPkg, SHARE_FILE, ShareStore, ShareStoreError, WORK_DIR,
};

use crate::{
    chain::{Chain, account_nonce},
    signing::sign_paying_min_fee,
};
use commonware_codec::{Copying, Decode, Encode, EncodeSize, Read, ReadExt, Write};
use commonware_cryptography::{
    Signer as _,
    bls12381::{
        dkg::feldman_desmedt::{Dealer, DealerPrivMsg, DealerPubMsg, Player, PlayerAck},
        primitives::variant::MinPk,
    },
};
use commonware_macros::select;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Spawner};
use commonware_utils::{N3f1, ordered::Quorum as _, ordered::Set};
use medchain_state::{
    StateReadExt, keys,
    pkg::{self as rules, DkgInfo, FIRST_ROUND, SignedLog},
    values::PkgState,
};
use medchain_storage::Snapshot;
use medchain_types::{
    Address, DealerLogBytes, FeeSchedule, Genesis, Payload, PkgPayload, PrivateKey, PublicKey,
    TxBody,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use rand_core::CryptoRng;
use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU32,
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};
use tracing::{debug, error, info, warn};
use wire::Message;
use zeroize::Zeroizing;

/// Timing of the DKG.
#[derive(Clone, Debug)]
pub struct DkgConfig {
    /// How long a dealer with a quorum of acknowledgements waits for the rest before it
    /// publishes its log (the missing validators' shares revealed).
    pub deal_timeout: Duration,
    /// Interval between retransmissions, chain checks and log re-submissions.
    pub tick: Duration,
    /// Wait before submitting a log that is not on chain yet again.
    pub resubmit: Duration,
}

impl Default for DkgConfig {
    fn default() -> Self {
        Self {
            deal_timeout: Duration::from_secs(5),
            tick: Duration::from_millis(500),
            resubmit: Duration::from_secs(10),
        }
    }
}

/// Why the DKG task could not start.
#[derive(Debug, thiserror::Error)]
pub enum DkgError {
    /// The genesis validator set is unusable, or this node is not in it.
    #[error("DKG setup: {0}")]
    Setup(String),
    /// A PKG file could not be read or written.
    #[error(transparent)]
    Files(#[from] ShareStoreError),
}

/// Starts the DKG task of validator `key` on `channel` (the node's DKG channel). Saves the share
/// to `shares`, whose directory also holds the DKG's working files.
pub fn start<E, S, R>(
    context: E,
    chain: Arc<Chain>,
    genesis: &Genesis,
    key: PrivateKey,
    shares: ShareStore,
    config: DkgConfig,
    channel: (S, R),
) -> Result<Handle<()>, DkgError>
where
    E: Spawner + Clock + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let validators = genesis
        .validator_set()
        .map_err(|e| DkgError::Setup(e.to_string()))?;
    let info = rules::round_info(&genesis.digest(), &validators, FIRST_ROUND)
        .map_err(|e| DkgError::Setup(e.to_string()))?;
    let work_dir = shares
        .path()
        .parent()
        .map_or_else(|| PathBuf::from(WORK_DIR), |dir| dir.join(WORK_DIR));
    let dealings = PersistedDealings::load(
        work_dir.join(format!("dealings-{FIRST_ROUND}")),
        &validators,
    )?;
    let (player, acks) = resume_player(&info, &key, &dealings);
    let me = key.public_key();
    let driver = Driver {
        address: Address::from(me.clone()),
        me,
        quorum: validators.quorum::<N3f1>(),
        validators,
        info,
        chain,
        key,
        shares,
        config,
        seed_file: work_dir.join("dealer-seed"),
        player,
        dealings,
        acks,
        dealer: None,
        log: None,
        submitted_at: None,
        fees: genesis.fee_schedule(),
    };
    Ok(context.spawn(move |context| driver.run(context, channel)))
}

/// A player rebuilt from the dealings it persisted (and the acknowledgements it sent for
/// them, to re-send). Dealings that no longer verify are dropped with a warning: the player
/// then relies on the dealers' reveals.
fn resume_player(
    info: &DkgInfo,
    key: &PrivateKey,
    dealings: &PersistedDealings,
) -> (Option<DkgPlayer>, Acks) {
    match Player::resume::<N3f1>(info.clone(), key.clone(), &BTreeMap::new(), dealings.iter()) {
        Ok((player, acks)) => (Some(player), acks),
        Err(e) => {
            warn!(%e, "pkg: persisted dealings do not verify; continuing without them");
            (Player::new(info.clone(), key.clone()).ok(), BTreeMap::new())
        }
    }
}

type DkgPlayer = Player<MinPk, PrivateKey>;
/// The acknowledgement this player sent each dealer.
type Acks = BTreeMap<PublicKey, PlayerAck<PublicKey>>;

/// This validator's dealer while it collects acknowledgements.
struct Dealing {
    dealer: Dealer<MinPk, PrivateKey>,
    public: DealerPubMsg<MinPk>,
    private: BTreeMap<PublicKey, DealerPrivMsg>,
    acked: BTreeSet<PublicKey>,
    started: SystemTime,
}

struct Driver {
    key: PrivateKey,
    me: PublicKey,
    address: Address,
    validators: Set<PublicKey>,
    quorum: u32,
    info: DkgInfo,
    chain: Arc<Chain>,
    shares: ShareStore,
    config: DkgConfig,
    seed_file: PathBuf,
    /// `None` once the share is derived (or could not be).
    player: Option<Player<MinPk, PrivateKey>>,
    dealings: PersistedDealings,
    /// The acknowledgement this player sent each dealer, re-sent on retransmission.
    acks: BTreeMap<PublicKey, PlayerAck<PublicKey>>,
    dealer: Option<Dealing>,
    /// This dealer's signed log, until it is on chain.
    log: Option<SignedLog>,
    submitted_at: Option<SystemTime>,
    /// The chain's fee schedule: the dealer log pays the minimum fee.
    fees: FeeSchedule,
}

impl Driver {
    async fn run<E, S, R>(mut self, mut context: E, (mut sender, mut receiver): (S, R))
    where
        E: Clock + CryptoRng,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        if self.shares.is_ready() {
            info!(path = %self.shares.path().display(), "pkg: master-key share loaded");
        } else {
            self.start_dealer(&mut context, &mut sender);
            let mut next_tick = context.current();
            while self.player.is_some() {
                select! {
                    _ = context.sleep_until(next_tick) => {
                        self.tick(&mut context, &mut sender);
                        next_tick = context.current() + self.config.tick;
                    },
                    message = receiver.recv() => {
                        let Ok((peer, bytes)) = message else { return };
                        self.on_message(&mut sender, peer, bytes.as_ref());
                    },
                }
            }
        }
        // Done: drain the channel so late retransmissions from peers do not back up.
        while receiver.recv().await.is_ok() {}
    }

    /// Deals, unless the chain already holds this validator's log or the PKG is set up.
    fn start_dealer(
        &mut self,
        context: &mut (impl Clock + CryptoRng),
        sender: &mut impl Sender<PublicKey = PublicKey>,
    ) {
        let done = self.on_chain(|state| {
            Ok(state.value(&keys::pkg())?.is_some()
                || state
                    .value(&keys::pkg_deal(FIRST_ROUND, &self.address))?
                    .is_some())
        });
        if done != Some(false) {
            return;
        }
        let seed = match dealer_seed(&self.seed_file, context) {
            Ok(seed) => seed,
            Err(e) => {
                error!(%e, "pkg: cannot keep the dealer seed; this validator does not deal");
                return;
            }
        };
        let started = Dealer::<MinPk, PrivateKey>::start::<N3f1>(
            ChaCha20Rng::from_seed(*seed),
            self.info.clone(),
            self.key.clone(),
            None,
        );
        let (dealer, public, private) = match started {
            Ok(started) => started,
            Err(e) => {
                error!(%e, "pkg: cannot deal");
                return;
            }
        };
        let private: BTreeMap<_, _> = private.into_iter().collect();
        let own = private.get(&self.me).cloned();
        self.dealer = Some(Dealing {
            dealer,
            public: public.clone(),
            private,
            acked: BTreeSet::new(),
            started: context.current(),
        });
        if let Some(own) = own {
            let me = self.me.clone();
            self.on_dealing(sender, me, public, own);
        }
    }

    fn tick(
        &mut self,
        context: &mut (impl Clock + CryptoRng),
        sender: &mut impl Sender<PublicKey = PublicKey>,
    ) {
        if let Some(pkg) = self.on_chain(|state| state.value(&keys::pkg())).flatten() {
            self.derive_share(&pkg);
            return;
        }
        self.publish_when_dealt(context);
        self.retransmit(sender);
        self.submit(context);
    }

    /// Finalizes the dealer once every validator acknowledged, or after the timeout with a
    /// quorum (a log revealing more than f shares would be refused by the chain).
    fn publish_when_dealt(&mut self, clock: &impl Clock) {
        let Some(dealing) = &self.dealer else { return };
        let acks = dealing.acked.len();
        let waited = clock
            .current()
            .duration_since(dealing.started)
            .unwrap_or_default();
        let complete = acks == self.validators.len();
        let timed_out = acks >= self.quorum as usize && waited >= self.config.deal_timeout;
        if !(complete || timed_out) {
            return;
        }
        if let Some(dealing) = self.dealer.take() {
            info!(
                acks,
                validators = self.validators.len(),
                "pkg: dealing acknowledged; publishing the dealer log"
            );
            self.log = Some(dealing.dealer.finalize::<N3f1>());
        }
    }

    /// Re-sends this dealer's dealing to every validator that has not acknowledged it.
    fn retransmit(&self, sender: &mut impl Sender<PublicKey = PublicKey>) {
        let Some(dealing) = &self.dealer else { return };
        for (player, private) in &dealing.private {
            if *player == self.me || dealing.acked.contains(player) {
                continue;
            }
            let message = Message::Dealing {
                round: FIRST_ROUND,
                public: dealing.public.clone(),
                private: private.clone(),
            };
            let _ = sender.send(Recipients::One(player.clone()), message.encode(), true);
        }
    }

    /// Submits (again, if it is still not on chain after a while) this dealer's log.
    fn submit(&mut self, context: &mut (impl Clock + CryptoRng)) {
        let Some(log) = &self.log else { return };
        let on_chain = self.on_chain(|state| {
            Ok(state
                .value(&keys::pkg_deal(FIRST_ROUND, &self.address))?
                .is_some())
        });
        if on_chain == Some(true) {
            info!("pkg: dealer log on chain");
            self.log = None;
            return;
        }
        let now = context.current();
        let due = self
            .submitted_at
            .is_none_or(|at| now.duration_since(at).unwrap_or_default() >= self.config.resubmit);
        if !due {
            return;
        }
        let Some(nonce) = self.on_chain(|state| account_nonce(state, &self.address)) else {
            return;
        };
        let body = TxBody {
            chain_id: self.chain.chain_id().clone(),
            sender: self.address,
            nonce,
            valid_until_ms: u64::MAX,
            fee: 0,
            payload: Payload::Pkg(PkgPayload::Deal {
                round: FIRST_ROUND,
                log: DealerLogBytes(log.encode().to_vec()),
            }),
        };
        let tx = match sign_paying_min_fee(body, &self.key, self.fees) {
            Ok(tx) => tx,
            Err(e) => {
                error!(%e, "pkg: cannot sign the dealer log transaction");
                return;
            }
        };
        self.submitted_at = Some(now);
        match self.chain.admit(context, vec![tx]).remove(0) {
            Ok(admission) => info!(tx = %admission.id, "pkg: dealer log submitted"),
            Err(e) => warn!(%e, "pkg: dealer log refused; retrying"),
        }
    }

    fn on_message(
        &mut self,
        sender: &mut impl Sender<PublicKey = PublicKey>,
        peer: PublicKey,
        bytes: &[u8],
    ) {
        if self.validators.position(&peer).is_none() {
            return;
        }
        let Some(validators) = NonZeroU32::new(self.validators.len() as u32) else {
            return;
        };
        match Message::decode_cfg(Copying(bytes), &validators) {
            Ok(Message::Dealing {
                round: FIRST_ROUND,
                public,
                private,
            }) => self.on_dealing(sender, peer, public, private),
            Ok(Message::Ack {
                round: FIRST_ROUND,
                ack,
            }) => self.on_ack(peer, ack),
            Ok(_) => debug!(%peer, "pkg: message for another DKG round"),
            Err(e) => debug!(%peer, %e, "pkg: malformed DKG message"),
        }
    }

    /// Checks a dealing, persists it, then acknowledges it (to the dealer, or to our own dealer).
    fn on_dealing(
        &mut self,
        sender: &mut impl Sender<PublicKey = PublicKey>,
        dealer: PublicKey,
        public: DealerPubMsg<MinPk>,
        private: DealerPrivMsg,
    ) {
        let Some(player) = &mut self.player else {
            return;
        };
        let ack =
            match player.dealer_message::<N3f1>(dealer.clone(), public.clone(), private.clone()) {
                Ok(Some(ack)) => {
                    self.dealings.push(dealer.clone(), public, private);
                    if let Err(e) = self.dealings.save() {
                        // Unpersisted, the dealing must not be acknowledged: the dealer reveals it.
                        error!(%e, "pkg: cannot persist a dealing; not acknowledging it");
                        return;
                    }
                    self.acks.insert(dealer.clone(), ack.clone());
                    ack
                }
                // A retransmission: our acknowledgement was lost (or the dealer restarted).
                Ok(None) => match self.acks.get(&dealer) {
                    Some(ack) => ack.clone(),
                    None => return,
                },
                Err(e) => {
                    warn!(%dealer, %e, "pkg: invalid dealing");
                    return;
                }
            };
        if dealer == self.me {
            self.on_ack(dealer, ack);
        } else {
            let message = Message::Ack {
                round: FIRST_ROUND,
                ack,
            };
            let _ = sender.send(Recipients::One(dealer), message.encode(), true);
        }
    }

    fn on_ack(&mut self, player: PublicKey, ack: PlayerAck<PublicKey>) {
        let Some(dealing) = &mut self.dealer else {
            return;
        };
        match dealing.dealer.receive_player_ack(player.clone(), ack) {
            Ok(()) => {
                dealing.acked.insert(player);
            }
            Err(e) => debug!(%player, %e, "pkg: unusable acknowledgement"),
        }
    }

    /// Derives this validator's share from exactly the logs the chain combined into `pkg`,
    /// checks it against the on-chain public polynomial, and saves it.
    fn derive_share(&mut self, pkg: &PkgState) {
        let Some(player) = self.player.take() else {
            return;
        };
        self.dealer = None;
        self.log = None;
        let n = self.validators.len();
        match self.share_from_chain(player, pkg) {
            Ok(share) => {
                let revealed = share.revealed;
                if let Err(e) = self.shares.save(share) {
                    error!(%e, "pkg: cannot save the master-key share; it is lost when the node stops");
                }
                info!(
                    "pkg: dkg round {} complete, threshold {} of {n}, P_pub={:?}",
                    pkg.round, pkg.threshold, pkg.public_polynomial[0]
                );
                if revealed {
                    warn!(
                        "pkg: this validator's share was revealed on chain (it acknowledged too late); treat it as public"
                    );
                }
            }
            Err(reason) => warn!(
                "pkg: dkg round {} complete, but this validator has no share ({reason}); it runs without one, and enrolment needs {} of the other validators",
                pkg.round, pkg.threshold
            ),
        }
    }

    fn share_from_chain(
        &self,
        player: Player<MinPk, PrivateKey>,
        pkg: &PkgState,
    ) -> Result<NewShare, String> {
        let snapshot = self.chain.store().snapshot().map_err(|e| e.to_string())?;
        let config = snapshot
            .value(&keys::chain_config())
            .map_err(|e| e.to_string())?
            .ok_or("no chain config")?;
        let logs =
            rules::accepted_logs(&snapshot, &config, pkg.round).map_err(|e| e.to_string())?;
        let dealers: Vec<Address> = logs
            .iter()
            .map(|(dealer, _)| Address::from(dealer.clone()))
            .collect();
        if dealers != pkg.dealers {
            return Err("the accepted logs are not the ones the chain combined".into());
        }
        let (logs, mut rng) = rules::collect_logs(&self.info, logs);
        let (output, share) = player
            .finalize::<N3f1>(&mut rng, logs, &Sequential)
            .map_err(|e| e.to_string())?;
        let public_polynomial = rules::public_polynomial(&output).map_err(|e| e.to_string())?;
        if public_polynomial != pkg.public_polynomial {
            return Err("the derived public polynomial differs from the chain's".into());
        }
        let expected = output
            .public()
            .partial_public(share.index)
            .map_err(|e| e.to_string())?;
        if share.public::<MinPk>() != expected {
            return Err("the derived share does not match the public polynomial".into());
        }
        let mut scalar = Zeroizing::new([0u8; 32]);
        share
            .private
            .expose(|secret| secret.write(&mut scalar.as_mut_slice()));
        Ok(NewShare {
            round: pkg.round,
            threshold: pkg.threshold,
            validators: self.validators.len() as u32,
            x: share.index.get() + 1,
            share: scalar,
            public_polynomial,
            revealed: output.revealed().position(&self.me).is_some(),
            output: output.encode().to_vec(),
        })
    }

    /// Reads committed state; `None` (logged) if the store fails.
    fn on_chain<T>(
        &self,
        read: impl FnOnce(&Snapshot) -> Result<T, medchain_state::StateError>,
    ) -> Option<T> {
        let snapshot = match self.chain.store().snapshot() {
            Ok(snapshot) => snapshot,
            Err(e) => {
                warn!(%e, "pkg: cannot read the state");
                return None;
            }
        };
        read(&snapshot)
            .map_err(|e| warn!(%e, "pkg: cannot read the state"))
            .ok()
    }
}

/// The dealings this player acknowledged, persisted in its data directory.
struct PersistedDealings {
    path: PathBuf,
    entries: Vec<(PublicKey, DealerPubMsg<MinPk>, DealerPrivMsg)>,
}

impl PersistedDealings {
    fn load(path: PathBuf, validators: &Set<PublicKey>) -> Result<Self, ShareStoreError> {
        let mut entries = Vec::new();
        if let Some(bytes) = store::read_private(&path)? {
            let max = NonZeroU32::new(validators.len() as u32).unwrap_or(NonZeroU32::MIN);
            let mut buf = Copying(bytes.as_slice());
            let corrupt = |e: commonware_codec::Error| ShareStoreError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            };
            let count = u32::read(&mut buf).map_err(corrupt)?;
            for _ in 0..count.min(validators.len() as u32) {
                entries.push((
                    PublicKey::read(&mut buf).map_err(corrupt)?,
                    DealerPubMsg::read_cfg(&mut buf, &max).map_err(corrupt)?,
                    DealerPrivMsg::read(&mut buf).map_err(corrupt)?,
                ));
            }
        }
        Ok(Self { path, entries })
    }

    fn iter(&self) -> impl Iterator<Item = (PublicKey, DealerPubMsg<MinPk>, DealerPrivMsg)> + '_ {
        self.entries.iter().cloned()
    }

    fn push(&mut self, dealer: PublicKey, public: DealerPubMsg<MinPk>, private: DealerPrivMsg) {
        self.entries.push((dealer, public, private));
    }

    fn save(&self) -> Result<(), ShareStoreError> {
        let size = 4 + self
            .entries
            .iter()
            .map(|(d, p, s)| d.encode_size() + p.encode_size() + s.encode_size())
            .sum::<usize>();
        let mut bytes = Zeroizing::new(Vec::with_capacity(size));
        (self.entries.len() as u32).write(&mut *bytes);
        for (dealer, public, private) in &self.entries {
            dealer.write(&mut *bytes);
            public.write(&mut *bytes);
            private.write(&mut *bytes);
        }
        store::write_private(&self.path, &bytes)
    }
}

/// The dealer's seed: read from `path`, or drawn from `rng` and persisted there first.
fn dealer_seed(
    path: &std::path::Path,
    rng: &mut impl CryptoRng,
) -> Result<Zeroizing<[u8; 32]>, ShareStoreError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    match store::read_private(path)? {
        Some(bytes) if bytes.len() == 32 => seed.copy_from_slice(&bytes),
        Some(_) => {
            return Err(ShareStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "a dealer seed is 32 bytes".into(),
            });
        }
        None => {
            rng.fill_bytes(seed.as_mut_slice());
            store::write_private(path, seed.as_slice())?;
        }
    }
    Ok(seed)
}
