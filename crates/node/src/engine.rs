//! Wiring of one validator's consensus stack, generic over the runtime and the network so the
//! same code runs in production (tokio + authenticated `lookup` p2p over TCP) and in the
//! deterministic simulation (deterministic runtime + simulated network).
//!
//! Order of construction follows commonware's reference stack (docs/architecture.md § Consensus):
//! marshal resolver → buffered broadcast → archives → marshal actor → `Inline` wrapper →
//! marshal started with our finalizer as reporter → simplex engine with the wrapper as
//! automaton, relay and reporter.

use crate::finalizer::Finalizer;
use commonware_broadcast::buffered;
use commonware_consensus::{
    Application,
    marshal::{
        self,
        core::Actor as MarshalActor,
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
    },
    simplex::types::Context,
    simplex::{self, ForwardPolicy, SkipBudget, SkipPolicy, elector::RoundRobin},
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    Digested, Sha256, Signer as _,
    certificate::{ConstantProvider, Verifier as _},
    ed25519,
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Handle, Metrics, Quota, Spawner, Storage, Supervisor, buffer::paged::CacheRef,
};
use commonware_storage::{archive::prunable, translator::EightCap};
use commonware_utils::{NZDuration, NZU16, NZU32, NZU64, NZUsize, ordered::Set};
use medchain_types::{Block, Hash32};
use rand_core::CryptoRng;
use std::{
    num::{NonZeroU64, NonZeroUsize},
    time::Duration,
};

pub use medchain_types::ConsensusScheme;

/// The marshal mailbox for our block type.
pub type MarshalMailbox = marshal::core::Mailbox<ConsensusScheme, Standard<Block>>;

/// One epoch forever: validator-set changes (S1-dpos) will start a new engine per epoch.
pub const EPOCH_LENGTH: NonZeroU64 = NZU64!(u64::MAX);

/// p2p channel ids; identical on every node.
pub mod channel {
    /// Simplex votes.
    pub const VOTES: u64 = 0;
    /// Simplex certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Simplex certificate resolver.
    pub const RESOLVER: u64 = 2;
    /// Block bytes (buffered broadcast).
    pub const BROADCAST: u64 = 3;
    /// Marshal backfill of finalized blocks.
    pub const BACKFILL: u64 = 4;
    /// Transaction gossip.
    pub const GOSSIP: u64 = 5;
    /// The threshold PKG's key generation: dealings and acknowledgements between validators
    /// (`crate::pkg`), private thanks to the authenticated, encrypted p2p.
    pub const DKG: u64 = 6;
    /// Every channel with its per-peer rate limit.
    pub fn all() -> [(u64, commonware_runtime::Quota); 7] {
        use super::*;
        [
            (VOTES, Quota::per_second(NZU32!(1_000))),
            (CERTIFICATES, Quota::per_second(NZU32!(1_000))),
            (RESOLVER, Quota::per_second(NZU32!(256))),
            (BROADCAST, Quota::per_second(NZU32!(256))),
            (BACKFILL, Quota::per_second(NZU32!(256))),
            (GOSSIP, Quota::per_second(NZU32!(1_000))),
            (DKG, Quota::per_second(NZU32!(64))),
        ]
    }
}

/// Timeouts and buffer sizes. The defaults suit a LAN of hospitals; tests shorten nothing
/// (simulated time is free).
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Wait for the leader's proposal before voting to skip the view.
    pub leader_timeout: Duration,
    /// Wait for a notarization before voting to skip the view.
    pub certification_timeout: Duration,
    /// Re-broadcast interval for stuck views.
    pub timeout_retry: Duration,
    /// Views retained for laggards.
    pub view_retention: u64,
    /// Sections of the prunable archives.
    pub items_per_section: NonZeroU64,
    /// Page cache pages (4 KiB each).
    pub page_cache_pages: NonZeroUsize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(5),
            view_retention: 256,
            items_per_section: NZU64!(4096),
            page_cache_pages: NZUsize!(8192),
        }
    }
}

/// The p2p channels a validator needs, as `(sender, receiver)` pairs.
pub struct Channels<S, R> {
    /// [`channel::VOTES`].
    pub votes: (S, R),
    /// [`channel::CERTIFICATES`].
    pub certificates: (S, R),
    /// [`channel::RESOLVER`].
    pub resolver: (S, R),
    /// [`channel::BROADCAST`].
    pub broadcast: (S, R),
    /// [`channel::BACKFILL`].
    pub backfill: (S, R),
}

/// Largest message any channel carries, for the network configuration.
pub fn max_message_size(validators: usize) -> u32 {
    let participants = u32::try_from(validators).unwrap_or(u32::MAX);
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<ConsensusScheme, Hash32>(participants),
        marshal::max_payload_size::<Standard<Block>, ConsensusScheme>(participants, &()),
        crate::gossip::MAX_BATCH_BYTES,
    ])
}

/// Who this validator is, whom it validates with, and for which chain.
pub struct Identity {
    /// This validator's key.
    pub signer: ed25519::PrivateKey,
    /// All validators (including this one).
    pub participants: Set<ed25519::PublicKey>,
    /// The chain's consensus namespace ([`medchain_types::Genesis::consensus_namespace`]).
    pub namespace: Vec<u8>,
}

impl Identity {
    /// The consensus scheme for this validator.
    pub fn scheme(&self) -> Option<ConsensusScheme> {
        ConsensusScheme::signer(
            &self.namespace,
            self.participants.clone(),
            self.signer.clone(),
        )
    }
}

/// Starts marshal, broadcast, backfill and simplex for one validator, with `application`
/// proposing and verifying blocks on top of `genesis` (block 0). Returns the simplex
/// engine's handle and the marshal mailbox (which the API uses to serve blocks and certificates).
#[allow(clippy::too_many_arguments)]
pub async fn start<E, A, S, R, P, B>(
    context: E,
    identity: &Identity,
    partition_prefix: &str,
    tuning: &Tuning,
    genesis: Digested<Block>,
    application: A,
    finalizer: Finalizer,
    channels: Channels<S, R>,
    peers: P,
    blocker: B,
) -> Result<(Handle<()>, MarshalMailbox), EngineError>
where
    E: Spawner + Clock + Storage + Metrics + Supervisor + CryptoRng + rand_core::Rng,
    A: Application<
            E,
            SigningScheme = ConsensusScheme,
            Context = Context<Hash32, ed25519::PublicKey>,
            Block = Block,
            Input = (),
        >,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
    P: Provider<PublicKey = ed25519::PublicKey>,
    B: Blocker<PublicKey = ed25519::PublicKey>,
{
    let scheme = identity.scheme().ok_or(EngineError::NotAValidator)?;
    let public_key = identity.signer.public_key();
    let page_cache = CacheRef::new(NZU16!(4096), tuning.page_cache_pages);
    let io_buffer = NZUsize!(1 << 20);

    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: public_key.clone(),
            mailbox_size: NZUsize!(1024),
            deque_size: 32,
            priority: false,
            codec_config: (),
            peer_provider: peers,
            strategy: Sequential,
        },
    );
    broadcast_engine.start(channels.broadcast);

    let archive = ArchiveLayout {
        prefix: partition_prefix,
        page_cache: &page_cache,
        items_per_section: tuning.items_per_section,
        io_buffer,
    };
    let finalizations = prunable::Archive::init(
        context.child("finalizations_by_height"),
        archive.config(
            "finalizations",
            ConsensusScheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|e| EngineError::Storage(e.to_string()))?;
    let blocks = prunable::Archive::init(
        context.child("finalized_blocks"),
        archive.config("blocks", ()),
    )
    .await
    .map_err(|e| EngineError::Storage(e.to_string()))?;

    let (marshal_actor, marshal_mailbox, _floor) =
        MarshalActor::<_, Standard<Block>, _, _, _, _, _>::init(
            context.child("marshal"),
            finalizations,
            blocks,
            marshal::Config {
                provider: ConstantProvider::new(scheme.clone()),
                epocher: FixedEpocher::new(EPOCH_LENGTH),
                start: marshal::Start::Genesis(genesis.clone()),
                partition_prefix: partition_prefix.to_string(),
                mailbox_size: NZUsize!(1024),
                view_retention: ViewDelta::new(tuning.view_retention * 10),
                prunable_items_per_section: tuning.items_per_section,
                page_cache: page_cache.clone(),
                replay_buffer: io_buffer,
                key_write_buffer: io_buffer,
                value_write_buffer: io_buffer,
                block_codec_config: (),
                max_repair: NZUsize!(16),
                max_pending_acks: NZUsize!(1),
                strategy: Sequential,
            },
        )
        .await;

    let wrapper = Inline::new(
        context.child("inline"),
        application,
        marshal_mailbox.clone(),
        FixedEpocher::new(EPOCH_LENGTH),
    );
    marshal_actor.start(finalizer, buffer, resolver);

    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: wrapper.clone(),
            relay: wrapper.clone(),
            reporter: wrapper,
            strategy: Sequential,
            partition: format!("{partition_prefix}-simplex"),
            mailbox_size: NZUsize!(1024),
            epoch: Epoch::zero(),
            floor: simplex::Floor::Genesis(genesis.inner().digest()),
            replay_buffer: io_buffer,
            write_buffer: io_buffer,
            page_cache,
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
            track_historical_votes: false,
        },
    );
    let handle = engine.start(channels.votes, channels.certificates, channels.resolver);
    Ok((handle, marshal_mailbox))
}

/// Where a validator's marshal archives live.
struct ArchiveLayout<'a> {
    prefix: &'a str,
    page_cache: &'a CacheRef,
    items_per_section: NonZeroU64,
    io_buffer: NonZeroUsize,
}

impl ArchiveLayout<'_> {
    fn config<C>(&self, name: &str, codec_config: C) -> prunable::Config<EightCap, C> {
        let prefix = self.prefix;
        prunable::Config {
            translator: EightCap,
            metadata_partition: format!("{prefix}-{name}-metadata"),
            key_partition: format!("{prefix}-{name}-key"),
            key_page_cache: self.page_cache.clone(),
            value_partition: format!("{prefix}-{name}-value"),
            compression: None,
            codec_config,
            items_per_section: self.items_per_section,
            key_write_buffer: self.io_buffer,
            value_write_buffer: self.io_buffer,
            replay_buffer: self.io_buffer,
        }
    }
}

/// Why the consensus stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// This node's key is not among the genesis validators.
    #[error("this node's key is not one of the genesis validators")]
    NotAValidator,
    /// The consensus archives could not be opened.
    #[error("consensus storage: {0}")]
    Storage(String),
}
