//! Wiring of one node's consensus stack, generic over the runtime and the network so the
//! same code runs in production (tokio + authenticated `lookup` p2p over TCP) and in the
//! deterministic simulation (deterministic runtime + simulated network).
//!
//! Order of construction follows commonware's reference stack (docs/architecture.md § Consensus):
//! marshal resolver → buffered broadcast → archives → marshal actor → `Inline` wrapper →
//! marshal started with our finalizer as reporter ([`start_marshal`], once per process) →
//! one simplex engine per epoch with the wrapper as automaton, relay and reporter
//! ([`crate::epochs::Orchestrator`]).

use crate::{epochs::EpochSchemes, finalizer::Finalizer};
use commonware_broadcast::buffered;
use commonware_consensus::{
    Application,
    marshal::{
        self,
        core::Actor as MarshalActor,
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
    },
    simplex::{self, types::Context},
    types::{FixedEpocher, ViewDelta},
};
use commonware_cryptography::{Digested, certificate::Verifier as _, ed25519};
use commonware_p2p::{Blocker, Provider, Receiver, Sender, utils::mux};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Metrics, Quota, Spawner, Storage, Supervisor, buffer::paged::CacheRef,
};
use commonware_storage::{archive::prunable, translator::EightCap};
use commonware_utils::{NZDuration, NZU16, NZU32, NZU64, NZUsize};
use medchain_types::{Block, Hash32};
use rand_core::CryptoRng;
use std::{
    num::{NonZeroU64, NonZeroUsize},
    time::Duration,
};

pub use medchain_types::ConsensusScheme;

/// The marshal mailbox for our block type.
pub type MarshalMailbox = marshal::core::Mailbox<ConsensusScheme, Standard<Block>>;

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
    /// MED chain blocks: announcements of newly mined Mblocks, and requests and responses
    /// for unknown parents by hash (`crate::med`).
    pub const MED_BLOCKS: u64 = 7;
    /// MED chain hospital batches waiting for a miner (`crate::med`).
    pub const MED_BATCHES: u64 = 8;
    /// Every channel with its per-peer rate limit.
    ///
    /// The burst is what a peer may send at once; commonware's network preallocates, per
    /// channel, a mailbox slot for a whole burst from each of the 129 peers the chain could
    /// ever elect (`MAX_VALIDATORS` and this node), and as many again in the shared outbound
    /// mailbox. With bursts equal to the rates (governor's default) that was 129 × 3,960 slots
    /// twice, ≈ 1 GiB resident per validator before its first block (issue 14 §4: lowering
    /// the bursts freed ≈ 860 MiB a validator). The bursts below cover what an honest node
    /// sends at once — a view's votes and certificates, a 10 ms gossip
    /// batch, a block and its backfill — and the rates are unchanged; a sender over its burst
    /// is delayed by the receiver, not cut off. Outbound, a message over the burst is dropped
    /// by commonware's sender, so no burst may be below what one protocol step sends a peer.
    pub fn all() -> [(u64, commonware_runtime::Quota); 9] {
        use super::*;
        let quota = |per_second, burst| Quota::per_second(per_second).allow_burst(burst);
        [
            (VOTES, quota(NZU32!(1_000), NZU32!(128))),
            (CERTIFICATES, quota(NZU32!(1_000), NZU32!(128))),
            (RESOLVER, quota(NZU32!(256), NZU32!(64))),
            (BROADCAST, quota(NZU32!(256), NZU32!(64))),
            (BACKFILL, quota(NZU32!(256), NZU32!(64))),
            (GOSSIP, quota(NZU32!(1_000), NZU32!(128))),
            (DKG, Quota::per_second(NZU32!(64))),
            // A few blocks a second at most, plus bursts of parent fetches after a partition:
            // a peer flooding more is throttled by the network, not by us.
            (MED_BLOCKS, Quota::per_second(NZU32!(64))),
            (MED_BATCHES, Quota::per_second(NZU32!(64))),
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

/// The p2p channels a node needs, as `(sender, receiver)` pairs. Votes, certificates and
/// resolver traffic are multiplexed per epoch ([`crate::epochs::Orchestrator`]).
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
        // Simplex traffic travels on per-epoch subchannels, which prefix every message.
        mux::prefixed(simplex::max_payload_size::<ConsensusScheme, Hash32>(
            participants,
        )),
        marshal::max_payload_size::<Standard<Block>, ConsensusScheme>(participants, &()),
        crate::gossip::MAX_BATCH_BYTES,
        crate::med::wire::MAX_MESSAGE_BYTES,
    ])
}

/// The marshal wrapper every epoch's simplex engine uses as automaton, relay and reporter.
pub type Wrapper<E, A> = Inline<E, ConsensusScheme, A, Block, FixedEpocher>;

/// The once-per-process half of the consensus stack: marshal (ordered finalized blocks, with
/// backfill) and the `Inline` wrapper the per-epoch simplex engines share.
pub struct Marshal<E, A>
where
    A: Application<E>,
{
    /// Automaton, relay and reporter for every epoch's engine.
    pub wrapper: Wrapper<E, A>,
    /// Marshal's mailbox (the API serves blocks and certificates through it).
    pub mailbox: MarshalMailbox,
    /// The page cache marshal's archives use, shared with the simplex journals.
    pub page_cache: CacheRef,
}

/// Starts broadcast, backfill and marshal for one node, with `application` proposing and
/// verifying blocks on top of `genesis` (block 0) and `finalizer` receiving finalized blocks in
/// order. Certificates are checked with the set of their epoch from `schemes`. Runs once per
/// process; the simplex engines come and go per epoch ([`crate::epochs::Orchestrator`]).
#[allow(clippy::too_many_arguments)]
pub async fn start_marshal<E, A, S, R, P, B>(
    context: E,
    public_key: ed25519::PublicKey,
    partition_prefix: &str,
    tuning: &Tuning,
    epocher: FixedEpocher,
    schemes: EpochSchemes,
    genesis: Digested<Block>,
    application: A,
    finalizer: Finalizer,
    broadcast: (S, R),
    backfill: (S, R),
    peers: P,
    blocker: B,
) -> Result<Marshal<E, A>, EngineError>
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
    let page_cache = CacheRef::new(NZU16!(4096), tuning.page_cache_pages);
    let io_buffer = IO_BUFFER;

    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peers.clone(),
            blocker,
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );

    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key,
            mailbox_size: NZUsize!(1024),
            deque_size: 32,
            priority: false,
            codec_config: (),
            peer_provider: peers,
            strategy: Sequential,
        },
    );
    broadcast_engine.start(broadcast);

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

    let (marshal_actor, mailbox, _floor) = MarshalActor::<_, Standard<Block>, _, _, _, _, _>::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: schemes,
            epocher: epocher.clone(),
            start: marshal::Start::Genesis(genesis),
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
            // The finalizer commits what marshal delivered in one write: let it queue a group.
            max_pending_acks: crate::finalizer::MAX_GROUP,
            strategy: Sequential,
        },
    )
    .await;

    let wrapper = Inline::new(
        context.child("inline"),
        application,
        mailbox.clone(),
        epocher,
    );
    marshal_actor.start(finalizer, buffer, resolver);
    Ok(Marshal {
        wrapper,
        mailbox,
        page_cache,
    })
}

/// Replay and write buffer of every consensus journal and archive.
pub(crate) const IO_BUFFER: NonZeroUsize = NZUsize!(1 << 20);

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
    /// The consensus archives could not be opened.
    #[error("consensus storage: {0}")]
    Storage(String),
}

#[cfg(test)]
mod tests {
    use super::channel;
    use medchain_types::limits::MAX_VALIDATORS;

    /// Slots commonware's network preallocates for our channels: one burst per channel from
    /// every peer the chain could elect, inbound and again in the shared outbound mailbox.
    fn preallocated_slots() -> usize {
        let bursts: usize = channel::all()
            .iter()
            .map(|(_, quota)| quota.burst_size().get() as usize)
            .sum();
        2 * (MAX_VALIDATORS + 1) * bursts
    }

    #[test]
    fn bursts_keep_the_preallocated_mailboxes_small() {
        // Bursts equal to the rates preallocated 1,021,680 slots (≈ 1 GiB a validator).
        assert!(
            preallocated_slots() <= 200_000,
            "{} slots",
            preallocated_slots()
        );
    }

    #[test]
    fn bursts_cover_a_protocol_step_and_never_exceed_the_rate() {
        for (id, quota) in channel::all() {
            let burst = quota.burst_size().get();
            let refill_nanos = quota.replenish_interval().as_nanos() * u128::from(burst);
            assert!(burst >= 64, "channel {id}: burst {burst}");
            assert!(
                refill_nanos <= 1_000_000_000,
                "channel {id}: burst above a second's rate"
            );
        }
        // A gossip batch leaves every 10 ms: a burst holds at least 100 ms of them.
        let gossip = channel::all()[channel::GOSSIP as usize].1;
        let flushes = std::time::Duration::from_millis(100).as_millis()
            / crate::gossip::FLUSH_INTERVAL.as_millis();
        assert!(u128::from(gossip.burst_size().get()) >= flushes);
    }
}
