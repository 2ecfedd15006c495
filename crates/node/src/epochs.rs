//! Consensus epochs (S1-dpos): one simplex engine per epoch, each with the validator set the
//! chain elected for it, over per-epoch subchannels of the fixed vote, certificate and
//! resolver channels.
//!
//! The lifecycle follows commonware's epoch pattern (docs/architecture.md § Consensus
//! (epochs)). When the finalizer commits the last block of epoch e (`Epocher::last(e)`), the
//! state already holds the set elected for e+1. The finalizer then, before it acknowledges that
//! block to marshal: registers the new set in [`EpochSchemes`] (marshal verifies certificates of
//! e+1 with it), starts the engine of e+1 with the boundary block as its genesis, and stops the
//! engine of e ([`Epochs::transition`]). Until e+1 runs, the engine of e can only re-propose
//! the boundary block, so nothing slow may sit on this path.
//!
//! A node outside an epoch's set runs that epoch's engine as an observer (a verify-only scheme):
//! it follows every certificate and signs nothing, so a validator that leaves the set stops
//! signing and a newly elected one has followed the chain up to its first epoch.

use crate::{
    engine::{ConsensusScheme, IO_BUFFER, MarshalMailbox, Tuning, Wrapper},
    slashing::EvidenceReporter,
};
use commonware_consensus::{
    Application, Reporters,
    simplex::{self, ForwardPolicy, SkipBudget, SkipPolicy, elector::RoundRobin, types::Context},
    types::{Epoch, Epocher as _, FixedEpocher, Height, ViewDelta},
};
use commonware_cryptography::{
    Sha256,
    certificate::{Membership, Provider, Scheme as _, Scoped},
    ed25519,
};
use commonware_macros::select;
use commonware_p2p::{
    Blocker, Receiver, Sender,
    utils::mux::{Builder as _, MuxHandle, Muxer},
};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Handle, Metrics, Spawner, Storage, Supervisor, buffer::paged::CacheRef,
};
use commonware_utils::{NZDuration, NZUsize, ordered::Set, vec::NonEmptyVec};
use futures::{
    StreamExt,
    channel::{mpsc, oneshot},
};
use medchain_state::{StateError, StateRead, StateReadExt as _, keys};
use medchain_storage::Store;
use medchain_types::{Address, Block, Hash32, PeerAddress};
use rand_core::CryptoRng;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::Duration,
};
use tracing::{info, warn};

/// The simplex journal of `epoch`. Epoch 0 keeps the name of the single engine that ran before
/// epochs existed, so existing data directories resume; a partition is never reused, because an
/// engine that found another epoch's votes in its journal would refuse to start.
pub fn partition_name(prefix: &str, epoch: Epoch) -> String {
    if epoch.is_zero() {
        format!("{prefix}-simplex")
    } else {
        format!("{prefix}-simplex-e{}", epoch.get())
    }
}

/// The consensus scheme of every epoch this node knows the validator set of: marshal's
/// certificate provider, and the scheme each epoch's engine signs (or only verifies) with.
///
/// Sets are added in the order the chain decides them (the set of e+1 is known once the last
/// block of e is committed), so every epoch marshal may be asked to verify is present.
#[derive(Clone)]
pub struct EpochSchemes {
    namespace: Arc<[u8]>,
    key: ed25519::PrivateKey,
    schemes: Arc<RwLock<BTreeMap<Epoch, Arc<ConsensusScheme>>>>,
}

impl EpochSchemes {
    /// No epochs yet; this node signs as `key` in the epochs whose set contains it.
    pub fn new(namespace: &[u8], key: ed25519::PrivateKey) -> Self {
        Self {
            namespace: namespace.into(),
            key,
            schemes: Arc::default(),
        }
    }

    /// Records the set of `epoch` and returns its scheme: a signer when this node is in the
    /// set, otherwise a verifier (an observer's). Recording an epoch again keeps the first set:
    /// a decided set never changes.
    pub fn insert(&self, epoch: Epoch, participants: Set<ed25519::PublicKey>) -> ConsensusScheme {
        let mut schemes = self.schemes.write().unwrap_or_else(PoisonError::into_inner);
        let scheme = schemes.entry(epoch).or_insert_with(|| {
            Arc::new(
                ConsensusScheme::signer(&self.namespace, participants.clone(), self.key.clone())
                    .unwrap_or_else(|| ConsensusScheme::verifier(&self.namespace, participants)),
            )
        });
        scheme.as_ref().clone()
    }

    /// The scheme of `epoch`, if its set is known.
    pub fn get(&self, epoch: Epoch) -> Option<Arc<ConsensusScheme>> {
        self.schemes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&epoch)
            .cloned()
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = ConsensusScheme;

    /// Marshal only verifies with it (and reads the participants), so an observer's
    /// verify-only scheme serves as the full scheme too.
    fn scoped(&self, epoch: Epoch) -> Option<Scoped<ConsensusScheme>> {
        self.get(epoch).map(Scoped::scheme)
    }
}

/// Entering an epoch: its number, its validators, and the block its engine starts from (the
/// last block of the previous epoch, or the genesis block for epoch 0).
#[derive(Clone, Debug)]
pub struct Transition {
    /// The epoch to enter.
    pub epoch: Epoch,
    /// Its validator set.
    pub participants: Set<ed25519::PublicKey>,
    /// The digest of the block its engine builds on first.
    pub floor: Hash32,
}

enum Command {
    Enter(Transition, oneshot::Sender<()>),
}

#[derive(Default)]
struct Status {
    current: Option<Epoch>,
    signing: BTreeSet<Epoch>,
}

/// A handle on a running [`Orchestrator`].
#[derive(Clone)]
pub struct Epochs {
    commands: mpsc::UnboundedSender<Command>,
    status: Arc<Mutex<Status>>,
}

impl Epochs {
    /// Enters `next` (a no-op if this node already is in that epoch or a later one) and stops
    /// the engine of the epoch before it. Returns once the new engine runs; `false` if the
    /// orchestrator has stopped (the node is stopping).
    pub async fn transition(&self, next: Transition) -> bool {
        let (done, entered) = oneshot::channel();
        if self
            .commands
            .unbounded_send(Command::Enter(next, done))
            .is_err()
        {
            return false;
        }
        entered.await.is_ok()
    }

    /// The epoch whose engine runs now.
    pub fn current(&self) -> Option<Epoch> {
        self.status().current
    }

    /// Every epoch in which this node ran a signing (not an observing) engine.
    pub fn signing_epochs(&self) -> BTreeSet<Epoch> {
        self.status().signing.clone()
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What every epoch's engine shares.
pub struct OrchestratorConfig<E, A, B>
where
    A: Application<E>,
{
    /// Prefix of the per-epoch simplex partitions ([`partition_name`]).
    pub partition_prefix: String,
    /// Timeouts and buffer sizes.
    pub tuning: Tuning,
    /// Blocks peers that send invalid consensus messages.
    pub blocker: B,
    /// Automaton, relay and reporter of every engine.
    pub wrapper: Wrapper<E, A>,
    /// Also receives every engine's activity, for the faults in it.
    pub evidence: EvidenceReporter,
    /// Marshal, asked to fetch the boundary block when peers are already in a later epoch.
    pub marshal: MarshalMailbox,
    /// The page cache the simplex journals share with marshal.
    pub page_cache: CacheRef,
    /// The scheme of each epoch.
    pub schemes: EpochSchemes,
    /// The chain's epoch lengths.
    pub epocher: FixedEpocher,
}

/// Starts and stops one simplex engine per epoch over subchannels (one per epoch) of the vote,
/// certificate and resolver channels.
pub struct Orchestrator<E, A, B, S>
where
    A: Application<E>,
    S: Sender<PublicKey = ed25519::PublicKey>,
{
    context: E,
    config: OrchestratorConfig<E, A, B>,
    votes: MuxHandle<S>,
    certificates: MuxHandle<S>,
    resolver: MuxHandle<S>,
    engines: BTreeMap<Epoch, Handle<()>>,
    status: Arc<Mutex<Status>>,
    /// Peers already named to marshal as holding the current epoch's boundary block.
    hinted: BTreeSet<ed25519::PublicKey>,
}

impl<E, A, B, S> Orchestrator<E, A, B, S>
where
    E: Spawner + Clock + Storage + Metrics + Supervisor + CryptoRng + rand_core::Rng,
    A: Application<
            E,
            SigningScheme = ConsensusScheme,
            Context = Context<Hash32, ed25519::PublicKey>,
            Block = Block,
            Input = (),
        >,
    B: Blocker<PublicKey = ed25519::PublicKey>,
    S: Sender<PublicKey = ed25519::PublicKey>,
{
    /// Multiplexes the three simplex channels and starts in `initial` (the epoch the committed
    /// state is in). Returns the task's handle and a handle to drive transitions.
    pub fn start<R>(
        context: E,
        config: OrchestratorConfig<E, A, B>,
        votes: (S, R),
        certificates: (S, R),
        resolver: (S, R),
        initial: Transition,
    ) -> (Handle<()>, Epochs)
    where
        R: Receiver<PublicKey = ed25519::PublicKey>,
    {
        // Votes of an epoch this node has not entered land in the backup queue: they tell a
        // node that fell behind an epoch change where to fetch the boundary block.
        let (vote_mux, votes, backup) =
            Muxer::builder(context.child("votes_mux"), votes.0, votes.1)
                .with_backup()
                .build();
        vote_mux.start();
        let (certificate_mux, certificates) = Muxer::new(
            context.child("certificates_mux"),
            certificates.0,
            certificates.1,
        );
        certificate_mux.start();
        let (resolver_mux, resolver) =
            Muxer::new(context.child("resolver_mux"), resolver.0, resolver.1);
        resolver_mux.start();

        let (commands, mut inbox) = mpsc::unbounded();
        let status = Arc::new(Mutex::new(Status::default()));
        let epochs = Epochs {
            commands,
            status: status.clone(),
        };
        let handle = context
            .child("orchestrator")
            .spawn(move |context| async move {
                let mut orchestrator = Self {
                    context,
                    config,
                    votes,
                    certificates,
                    resolver,
                    engines: BTreeMap::new(),
                    status,
                    hinted: BTreeSet::new(),
                };
                orchestrator.enter(initial).await;
                let mut backup = backup;
                loop {
                    select! {
                        command = inbox.next() => match command {
                            Some(Command::Enter(next, done)) => {
                                orchestrator.enter(next).await;
                                let _ = done.send(());
                            }
                            None => return,
                        },
                        message = backup.recv() => match message {
                            Some((subchannel, (peer, _))) => orchestrator.peer_ahead(subchannel, peer),
                            None => return,
                        },
                    }
                }
            });
        (handle, epochs)
    }

    /// Starts the engine of `next` unless this node already reached that epoch, then stops
    /// every earlier engine.
    async fn enter(&mut self, next: Transition) {
        let epoch = next.epoch;
        if self.current().is_some_and(|current| current >= epoch) {
            return;
        }
        let scheme = self.config.schemes.insert(epoch, next.participants);
        let signing = matches!(scheme.me(), Some(Membership::Signer(_)));
        let channels = (
            self.votes.register(epoch.get()).await,
            self.certificates.register(epoch.get()).await,
            self.resolver.register(epoch.get()).await,
        );
        let (Ok(votes), Ok(certificates), Ok(resolver)) = channels else {
            // The muxers stop only with the node; nothing can run without them.
            warn!(%epoch, "consensus channels closed; cannot enter the epoch");
            return;
        };
        let engine = simplex::Engine::new(
            self.context
                .child("simplex")
                .with_attribute("epoch", epoch.get()),
            self.engine_config(epoch, scheme, next.floor),
        );
        let handle = engine.start(votes, certificates, resolver);
        self.engines.insert(epoch, handle);
        for (_, retired) in self.engines.extract_if(.., |e, _| *e < epoch) {
            retired.abort();
        }
        self.hinted.clear();
        {
            let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            status.current = Some(epoch);
            if signing {
                status.signing.insert(epoch);
            }
        }
        info!(%epoch, signing, "entered epoch");
    }

    fn current(&self) -> Option<Epoch> {
        self.engines.last_key_value().map(|(epoch, _)| *epoch)
    }

    /// A vote of epoch `subchannel` arrived from `peer` while no engine of that epoch runs. If
    /// it is ahead of us, `peer` finalized our epoch's last block: ask marshal to fetch it from
    /// them, whose commit then moves this node into the next epoch.
    fn peer_ahead(&mut self, subchannel: u64, peer: ed25519::PublicKey) {
        let Some(current) = self.current() else {
            return;
        };
        if subchannel <= current.get() || self.hinted.contains(&peer) {
            return;
        }
        let Some(boundary) = self.config.epocher.last(current) else {
            return;
        };
        self.hinted.insert(peer.clone());
        self.config
            .marshal
            .hint_finalized(boundary, NonEmptyVec::new(peer));
    }

    #[allow(clippy::type_complexity)]
    fn engine_config(
        &self,
        epoch: Epoch,
        scheme: ConsensusScheme,
        floor: Hash32,
    ) -> simplex::Config<
        ConsensusScheme,
        RoundRobin<Sha256>,
        B,
        Hash32,
        Wrapper<E, A>,
        Wrapper<E, A>,
        Reporters<Wrapper<E, A>, EvidenceReporter>,
        Sequential,
    > {
        let tuning = &self.config.tuning;
        let wrapper = self.config.wrapper.clone();
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker: self.config.blocker.clone(),
            automaton: wrapper.clone(),
            relay: wrapper.clone(),
            reporter: Reporters::from((wrapper, self.config.evidence.clone())),
            strategy: Sequential,
            partition: partition_name(&self.config.partition_prefix, epoch),
            mailbox_size: NZUsize!(1024),
            epoch,
            floor: simplex::Floor::Genesis(floor),
            replay_buffer: IO_BUFFER,
            write_buffer: IO_BUFFER,
            page_cache: self.config.page_cache.clone(),
            leader_timeout: tuning.leader_timeout,
            certification_timeout: tuning.certification_timeout,
            timeout_retry: tuning.timeout_retry,
            view_retention: ViewDelta::new(tuning.view_retention),
            skip: SkipPolicy::Enabled {
                timeout: tuning.certification_timeout.max(tuning.timeout_retry) * 2,
                budget: SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(Duration::from_secs(1)),
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::Disabled,
            // Keeps each vote until its round is pruned, so a conflicting one arriving later
            // is still caught as evidence (S1-dpos slashing).
            track_historical_votes: true,
        }
    }
}

/// The epoch of height `height` and, when `height` is that epoch's last block, the epoch that
/// follows it.
pub fn boundary_after(epocher: &FixedEpocher, height: u64) -> Option<Epoch> {
    let info = epocher.containing(Height::new(height))?;
    (info.last().get() == height).then(|| info.epoch().next())
}

/// The epoch a node whose state committed `height` is in: the one containing the next block.
pub fn epoch_after(epocher: &FixedEpocher, height: u64) -> Epoch {
    epocher
        .containing(Height::new(height.saturating_add(1)))
        .map_or(Epoch::zero(), |info| info.epoch())
}

/// Why the validator set of an epoch could not be read from the committed state.
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    /// The state could not be read.
    #[error("state: {0}")]
    State(String),
    /// The state holds no set for the epoch: the chain never decided it.
    #[error("the committed state holds no validator set for epoch {0}")]
    UnknownSet(Epoch),
    /// A stored validator key is not a valid ed25519 key.
    #[error("a validator key of epoch {0} is not a valid ed25519 key")]
    BadKey(Epoch),
    /// The block an epoch starts from is not in the store.
    #[error("block {0}, where epoch {1} starts, is not in the store")]
    MissingBoundary(u64, Epoch),
}

/// The validator set of `epoch` as the committed state records it (`vset/<epoch>`, S1-dpos).
/// A state from before validator sets were recorded knows only the genesis validators, who are
/// then the set of epoch 0, the only epoch such a chain has.
pub fn committed_set(
    state: &impl StateRead,
    epoch: Epoch,
) -> Result<Set<ed25519::PublicKey>, EpochError> {
    let read = |e: StateError| EpochError::State(e.to_string());
    let addresses = match state
        .value(&keys::validator_set(epoch.get()))
        .map_err(read)?
    {
        Some(set) => set.validators.into_iter().map(|entry| entry.key).collect(),
        None if epoch.is_zero() => {
            state
                .value(&keys::chain_config())
                .map_err(read)?
                .ok_or(EpochError::UnknownSet(epoch))?
                .validators
        }
        None => return Err(EpochError::UnknownSet(epoch)),
    };
    let keys = addresses
        .iter()
        .map(|address| address.public_key().map_err(|_| EpochError::BadKey(epoch)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Set::from_iter_dedup(keys))
}

/// Keeps the p2p layer connected to whom this node needs. The finalizer calls it at start-up
/// and at each epoch boundary with [`committed_peers`].
pub trait PeerTracker: Send + 'static {
    /// Tracks `peers` as peer set `id` (the height they were read at: ids only increase).
    fn track(&mut self, id: u64, peers: Vec<(ed25519::PublicKey, Option<PeerAddress>)>);
}

/// Whom a node talks to in `epoch`: its validators, then every other registered candidate (a
/// standby must be reachable to follow the chain before it is elected), each with the p2p
/// address it registered (`None` for a genesis validator: the configuration has it).
pub fn committed_peers(
    state: &impl StateRead,
    epoch: Epoch,
) -> Result<Vec<(ed25519::PublicKey, Option<PeerAddress>)>, EpochError> {
    let read = |e: StateError| EpochError::State(e.to_string());
    let key = |address: &Address| address.public_key().map_err(|_| EpochError::BadKey(epoch));
    let mut peers = Vec::new();
    if let Some(set) = state
        .value(&keys::validator_set(epoch.get()))
        .map_err(read)?
    {
        for entry in &set.validators {
            peers.push((key(&entry.key)?, entry.p2p.clone()));
        }
    }
    let candidates = keys::candidates();
    let count = candidates
        .list
        .find_length(|seq| {
            state
                .get(candidates.list.entry(seq).as_bytes())
                .map(|value| value.is_some())
        })
        .map_err(read)?;
    for seq in 0..count {
        let Some(address) = state.value(&candidates.list.entry(seq)).map_err(read)? else {
            continue;
        };
        let public_key = key(&address)?;
        if peers.iter().any(|(known, _)| *known == public_key) {
            continue;
        }
        let candidate = state.value(&(candidates.item)(&address)).map_err(read)?;
        peers.push((public_key, candidate.and_then(|candidate| candidate.p2p)));
    }
    Ok(peers)
}

/// Where a node (re)starts: the epoch its committed state is in, with every set up to it
/// recorded in `schemes`, and the block that epoch's engine starts from.
pub fn resume(
    store: &Store,
    epocher: &FixedEpocher,
    schemes: &EpochSchemes,
) -> Result<Transition, EpochError> {
    let state = store
        .snapshot()
        .map_err(|e| EpochError::State(e.to_string()))?;
    let committed = state.height().unwrap_or(0);
    let epoch = epoch_after(epocher, committed);
    // Marshal may still be asked about blocks of the epochs before (a redelivery after a crash
    // between commit and ack).
    for earlier in 0..epoch.get() {
        let earlier = Epoch::new(earlier);
        schemes.insert(earlier, committed_set(&state, earlier)?);
    }
    // Epoch e starts from the last block of e−1; epoch 0 from the genesis block (height 0).
    let start = epoch
        .previous()
        .and_then(|previous| epocher.last(previous))
        .map_or(0, Height::get);
    let floor = store
        .block_by_height(start)
        .map_err(|e| EpochError::State(e.to_string()))?
        .ok_or(EpochError::MissingBoundary(start, epoch))?
        .digest();
    let participants = committed_set(&state, epoch)?;
    schemes.insert(epoch, participants.clone());
    Ok(Transition {
        epoch,
        participants,
        floor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use commonware_utils::NZU64;

    fn keys(seeds: &[u64]) -> Vec<ed25519::PrivateKey> {
        seeds
            .iter()
            .map(|seed| ed25519::PrivateKey::from_seed(*seed))
            .collect()
    }

    fn set(keys: &[ed25519::PrivateKey]) -> Set<ed25519::PublicKey> {
        Set::from_iter_dedup(keys.iter().map(|key| key.public_key()))
    }

    #[test]
    fn epoch_zero_keeps_the_single_engine_partition_and_later_epochs_get_their_own() {
        assert_eq!(
            partition_name("medchain", Epoch::zero()),
            "medchain-simplex"
        );
        assert_eq!(
            partition_name("medchain", Epoch::new(1)),
            "medchain-simplex-e1"
        );
        assert_ne!(
            partition_name("v", Epoch::new(12)),
            partition_name("v", Epoch::new(1))
        );
    }

    #[test]
    fn a_member_signs_and_anyone_else_only_verifies() {
        let validators = keys(&[1, 2, 3, 4]);
        let outsider = ed25519::PrivateKey::from_seed(9);
        let member = EpochSchemes::new(b"ns", validators[2].clone());
        let observer = EpochSchemes::new(b"ns", outsider);
        let signing = member.insert(Epoch::zero(), set(&validators));
        let observing = observer.insert(Epoch::zero(), set(&validators));
        assert!(matches!(signing.me(), Some(Membership::Signer(_))));
        assert!(observing.me().is_none());
        // Marshal verifies with either; an unknown epoch has no scheme.
        assert!(observer.scoped(Epoch::zero()).is_some());
        assert!(observer.scoped(Epoch::new(1)).is_none());
    }

    #[test]
    fn a_decided_set_is_never_replaced() {
        let (first, second) = (keys(&[1, 2, 3]), keys(&[4, 5, 6]));
        let schemes = EpochSchemes::new(b"ns", first[0].clone());
        schemes.insert(Epoch::new(3), set(&first));
        let again = schemes.insert(Epoch::new(3), set(&second));
        assert_eq!(again.participants(), &set(&first));
        assert_eq!(
            schemes.get(Epoch::new(3)).unwrap().participants(),
            &set(&first)
        );
    }

    #[test]
    fn the_boundary_is_the_last_height_of_each_epoch() {
        let epocher = FixedEpocher::new(NZU64!(10));
        // Heights 0..=9 are epoch 0 (0 is genesis), 10..=19 epoch 1.
        assert_eq!(boundary_after(&epocher, 8), None);
        assert_eq!(boundary_after(&epocher, 9), Some(Epoch::new(1)));
        assert_eq!(boundary_after(&epocher, 10), None);
        assert_eq!(boundary_after(&epocher, 19), Some(Epoch::new(2)));
        assert_eq!(epoch_after(&epocher, 0), Epoch::zero());
        assert_eq!(epoch_after(&epocher, 8), Epoch::zero());
        assert_eq!(epoch_after(&epocher, 9), Epoch::new(1));
        assert_eq!(epoch_after(&epocher, 10), Epoch::new(1));
    }

    #[test]
    fn an_epochs_peers_are_its_validators_then_the_other_candidates_at_their_addresses() {
        use medchain_state::testkit::{self, Actor, World};
        let mut world = World::with_genesis(&testkit::token_genesis());
        let (founder, standby) = (Actor::new(77), Actor::new(4_000));
        world.fund(&founder.address, 1_000_000);
        world.fund(&standby.address, 1_000_000);
        let org = testkit::org_name("Standby General");
        world.audited_org(&founder, &org, medchain_types::OrgKind::Hospital);
        let register = testkit::register_candidate(&org, &founder, &standby, "10.0.0.4:9000");
        world.run(&standby, register).unwrap();

        let peers = committed_peers(&world.store, Epoch::zero()).unwrap();
        let validators = committed_set(&world.store, Epoch::zero()).unwrap();
        assert_eq!(peers.len(), validators.len() + 1);
        for ((key, address), validator) in peers.iter().zip(validators.iter()) {
            assert_eq!((key, address), (validator, &None));
        }
        let (key, address) = peers.last().unwrap();
        assert_eq!(*key, standby.key.public_key());
        assert_eq!(address.as_ref().map(|a| a.as_str()), Some("10.0.0.4:9000"));
        // An epoch the chain has not decided has no validators, only candidates.
        let later = committed_peers(&world.store, Epoch::new(7)).unwrap();
        assert_eq!(later.len(), peers.len());
        assert!(committed_set(&world.store, Epoch::new(7)).is_err());
    }

    #[test]
    fn a_chain_without_epochs_never_reaches_a_boundary() {
        let genesis = medchain_state::testkit::genesis_document();
        assert!(genesis.tokens.is_none());
        let epocher = FixedEpocher::new(genesis.epoch_length());
        for height in [0, 1, 1 << 40, u64::MAX - 2] {
            assert_eq!(boundary_after(&epocher, height), None);
            assert_eq!(epoch_after(&epocher, height), Epoch::zero());
        }
    }
}
