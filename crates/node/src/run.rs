//! Running a validator in production: tokio runtime, authenticated `lookup` p2p over TCP,
//! the consensus stack, the HTTP API, and a clean stop on Ctrl-C / SIGTERM.

use crate::{
    api::{self, ApiState},
    app::ChainApplication,
    chain::{BlockError, BuildBudget, Chain},
    config::{LoadedConfig, NodeConfig},
    engine::{self, EngineError, Tuning, channel},
    enrolment::{Enrolment, nonces::NonceLimits},
    epochs::{
        self, EpochError, EpochSchemes, Epochs, Orchestrator, OrchestratorConfig, PeerTracker as _,
    },
    finalizer, gossip,
    med::{self, MedService, MedStartError, miner},
    mempool::{Mempool, MempoolLimits},
    metrics::NodeMetrics,
    pkg::{self, DkgError, ShareStore},
    slashing,
};
use commonware_consensus::types::FixedEpocher;
use commonware_cryptography::{ChaCha20Poly1305, Signer};
use commonware_p2p::{AddressableManager, authenticated::lookup};
use commonware_runtime::{Metrics as _, Runner, Spawner as _, Supervisor as _, tokio};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZU32, NZUsize, TryCollect, ordered::Map, union};
use medchain_storage::Store;
use medchain_types::{Address, PublicKey, limits, namespace};
use std::{sync::Arc, time::Duration};
use tracing::{info, warn};

/// Most peers one tracked set holds: every validator the chain can elect, and this node.
const PEER_SET_LIMIT: std::num::NonZeroUsize = NZUsize!(limits::MAX_VALIDATORS + 1);

/// Prefix of every consensus partition under the data directory.
const PARTITION_PREFIX: &str = "medchain";

/// The MED chain's block store inside the data directory.
pub const MED_STORE_FILE: &str = "med.redb";

/// Most transactions a proposer puts in one block.
pub const MAX_BLOCK_TXS: usize = 20_000;

/// A proposer spends at most the leader timeout divided by this building a block: applying
/// transactions and rooting the state afterwards (the budget counts both, see
/// [`BuildBudget`]), so a proposal is ready in a quarter of the leader timeout however loaded
/// the validator is, and every verifier's replay (the same work) fits before the
/// certification timeout. Before the root was counted, a tenth for applying alone let a
/// proposal take three to four times that again; counting it, a tenth cut blocks under load
/// to ≈ 560 transactions, against ≈ 1,700 before (network bench, issue 14).
const BUILD_BUDGET_DIVISOR: u32 = 4;

/// Why the node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory is unusable.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The state database could not be opened or is inconsistent with genesis.
    #[error("state database: {0}")]
    State(String),
    /// The chain could not start.
    #[error(transparent)]
    Chain(#[from] BlockError),
    /// Consensus could not start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The epoch to resume in could not be found from the committed state.
    #[error("consensus epochs: {0}")]
    Epoch(#[from] EpochError),
    /// The API could not bind.
    #[error("HTTP API: {0}")]
    Api(std::io::Error),
    /// A finalized block could not be committed: this node's state cannot follow the chain.
    #[error(
        "a finalized block could not be committed; see the log above (the data directory may be corrupt or from another chain)"
    )]
    Diverged,
    /// The genesis validator set is unusable.
    #[error("genesis: {0}")]
    Genesis(String),
    /// The configured peers are unusable.
    #[error("p2p peers: {0}")]
    Peers(String),
    /// The threshold PKG's key generation could not start.
    #[error("threshold PKG: {0}")]
    Pkg(#[from] DkgError),
    /// The MED chain could not start.
    #[error(transparent)]
    Med(#[from] MedStartError),
}

/// A validator started by [`launch`]: handles for driving it in-process (benchmarks, tests).
pub struct Running {
    /// The execution driver.
    pub chain: Arc<Chain>,
    /// The commit task; it completes only if committing a finalized block failed.
    pub finalizer: commonware_runtime::Handle<()>,
    /// This validator's threshold-PKG share, once its key generation completed.
    pub shares: ShareStore,
    /// The consensus epochs this node runs.
    pub epochs: Epochs,
    /// The MED chain, on a chain whose genesis has one.
    pub med: Option<Arc<MedService>>,
}

/// Runs a validator until Ctrl-C or SIGTERM.
pub fn run(loaded: LoadedConfig, tuning: Tuning) -> Result<(), NodeError> {
    let runtime = runtime_for(&loaded)?;
    runtime.start(|context| async move {
        let api = loaded.config.api.listen;
        let running = launch(context, loaded, tuning, Some(api)).await?;
        ::tokio::select! {
            _ = shutdown_signal() => {
                info!("stopping");
                Ok(())
            }
            _ = running.finalizer => Err(NodeError::Diverged),
        }
    })
}

/// The tokio runtime a validator runs on, storing consensus data under its data directory.
pub fn runtime_for(loaded: &LoadedConfig) -> Result<tokio::Runner, NodeError> {
    let data_dir = &loaded.config.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|source| NodeError::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    Ok(tokio::Runner::new(
        tokio::Config::new()
            .with_storage_directory(data_dir.join("consensus"))
            .with_worker_threads(2)
            .with_catch_panics(false),
    ))
}

/// The state database of the node `config` describes, with its `[storage]` settings.
pub fn open_state(config: &NodeConfig) -> Result<Store, NodeError> {
    Store::open_with(
        config.data_dir.join("state.redb"),
        config.storage.store_options(),
    )
    .map_err(|e| NodeError::State(e.to_string()))
}

/// Starts every part of a validator on `context`: state, p2p, gossip, consensus, the finalizer
/// and (when `api` is given) the HTTP API. Returns once all are running.
pub async fn launch(
    context: tokio::Context,
    loaded: LoadedConfig,
    tuning: Tuning,
    api: Option<std::net::SocketAddr>,
) -> Result<Running, NodeError> {
    let LoadedConfig {
        config,
        key,
        genesis,
    } = loaded;
    let store = open_state(&config)?;
    let participants = genesis
        .validator_set()
        .map_err(|e| NodeError::Genesis(e.to_string()))?;
    // The MED chain (when genesis has one) supplies the checkpoints SUP blocks carry.
    let med = MedService::open(
        &config.data_dir.join(MED_STORE_FILE),
        &genesis,
        store.clone(),
        med::clock_of(context.child("med_clock")),
    )?;
    let mut chain = Chain::open(
        store,
        &genesis,
        Mempool::new(MempoolLimits::default()),
        MAX_BLOCK_TXS,
    )?
    .with_build_budget(BuildBudget::wall_clock(
        tuning.leader_timeout / BUILD_BUDGET_DIVISOR,
    ));
    if let Some((service, _)) = &med {
        chain = chain.with_med(service.clone());
    }
    let chain = Arc::new(chain);
    let metrics = NodeMetrics::register(&context.child("medchain"));

    let p2p = p2p_config(&key, &genesis, config.p2p.listen);
    let (mut network, oracle) = lookup::Network::new(context.child("network"), p2p);
    let peers: Map<PublicKey, commonware_p2p::Address> = config
        .p2p
        .peers
        .iter()
        .map(|peer| Ok((peer.public_key.public_key()?, peer.address.into())))
        .collect::<Result<Vec<_>, medchain_types::ParseAddressError>>()
        .map_err(|e| NodeError::Peers(e.to_string()))?
        .into_iter()
        .try_collect()
        .map_err(|_| NodeError::Peers("a peer is listed twice".into()))?;
    let mut peers = LookupPeers {
        oracle: oracle.clone(),
        configured: peers,
    };
    let [
        votes,
        certificates,
        resolver,
        broadcast,
        backfill,
        gossip_channel,
        dkg_channel,
        med_blocks,
        med_batches,
    ] = channel::all().map(|(id, quota)| network.register(id, quota));
    network.start();
    let med = med.map(|(service, mailbox)| {
        med::start_network(
            context.child("med"),
            service.clone(),
            mailbox,
            med_blocks,
            med_batches,
        );
        if config.med.mine {
            miner::start(
                context.child("med_miner"),
                service.clone(),
                Address::from(key.public_key()),
                miner::Pace::DutyCycle {
                    percent: config.med.duty_percent,
                },
            );
        }
        service
    });

    let (_gossip, _) = gossip::start(context.child("gossip"), chain.clone(), gossip_channel);
    let (finalizer, deliveries) = finalizer::channel();
    let application = ChainApplication::new(chain.clone(), key.public_key());
    let epocher = FixedEpocher::new(genesis.epoch_length());
    let (evidence, faults) = slashing::channel();
    slashing::start(
        context.child("slashing"),
        chain.clone(),
        &genesis,
        key.clone(),
        faults,
    );
    let schemes = EpochSchemes::new(&genesis.consensus_namespace(), key.clone());
    let initial = epochs::resume(chain.store(), &epocher, &schemes)?;
    let state = chain
        .store()
        .snapshot()
        .map_err(|e| NodeError::State(e.to_string()))?;
    peers.track(
        chain.committed_height(),
        epochs::committed_peers(&state, initial.epoch)?,
    );
    let marshal = engine::start_marshal(
        context.child("engine"),
        key.public_key(),
        PARTITION_PREFIX,
        &tuning,
        epocher.clone(),
        schemes.clone(),
        application.genesis_block(),
        application,
        finalizer,
        broadcast,
        backfill,
        oracle.clone(),
        oracle.clone(),
    )
    .await?;
    let (_orchestrator, epochs) = Orchestrator::start(
        context.child("epochs"),
        OrchestratorConfig {
            partition_prefix: PARTITION_PREFIX.to_string(),
            tuning,
            blocker: oracle,
            wrapper: marshal.wrapper,
            evidence,
            marshal: marshal.mailbox.clone(),
            page_cache: marshal.page_cache,
            schemes,
            epocher: epocher.clone(),
        },
        votes,
        certificates,
        resolver,
        initial,
    );
    let finalizer = finalizer::spawn(
        context.child("finalizer"),
        chain.clone(),
        metrics.clone(),
        deliveries,
        finalizer::Consensus {
            marshal: marshal.mailbox,
            epochs: epochs.clone(),
            epocher,
            peers: Some(Box::new(peers)),
        },
    );
    let shares = ShareStore::open(&config.data_dir).map_err(DkgError::from)?;
    // The threshold PKG's committee is the genesis validators, whatever the elected set.
    if participants.position(&key.public_key()).is_some() {
        pkg::start(
            context.child("pkg"),
            chain.clone(),
            &genesis,
            key.clone(),
            shares.clone(),
            config.dkg.config(),
            dkg_channel,
        )?;
    }
    if let Some(address) = api {
        let listener = ::tokio::net::TcpListener::bind(address)
            .await
            .map_err(NodeError::Api)?;
        let registry = context.child("api");
        let enrolment = Enrolment::new(
            shares.clone(),
            Address::from(key.public_key()),
            NonceLimits::default(),
        );
        let mut state = ApiState::new(
            Box::new(move || registry.encode()),
            chain.clone(),
            genesis,
            metrics,
            enrolment,
        );
        if let Some(service) = &med {
            state = state.with_med(service.clone());
        }
        context
            .child("http")
            .spawn(move |_| api::serve(listener, state));
    }
    info!(api = ?api, p2p = %config.p2p.listen, "validator running");
    Ok(Running {
        chain,
        finalizer,
        shares,
        epochs,
        med,
    })
}

/// The lookup network's peers: the configured ones (where genesis validators are found), then
/// the epoch's validators and the candidates at the addresses they registered (S1-dpos: a
/// newly elected validator must be dialled, and a standby reached to follow the chain).
struct LookupPeers {
    oracle: lookup::Oracle<PublicKey>,
    configured: Map<PublicKey, commonware_p2p::Address>,
}

impl epochs::PeerTracker for LookupPeers {
    fn track(&mut self, id: u64, peers: Vec<(PublicKey, Option<medchain_types::PeerAddress>)>) {
        let mut tracked: Vec<(PublicKey, commonware_p2p::Address)> = self
            .configured
            .iter_pairs()
            .map(|(key, address)| (key.clone(), address.clone()))
            .collect();
        for (key, address) in peers {
            let Some(address) = address else { continue };
            if tracked.iter().any(|(known, _)| *known == key) {
                continue;
            }
            match address.as_str().parse::<std::net::SocketAddr>() {
                Ok(socket) => tracked.push((key, socket.into())),
                Err(_) => {
                    warn!(%address, "a registered p2p address is not ip:port; not dialling it")
                }
            }
        }
        // The network refuses a set larger than it was sized for.
        tracked.truncate(PEER_SET_LIMIT.get() - 1);
        self.oracle.track(id, Map::from_iter_dedup(tracked));
    }
}

/// The authenticated p2p configuration: production defaults, adapted to a fixed consortium.
fn p2p_config(
    key: &medchain_types::PrivateKey,
    genesis: &medchain_types::Genesis,
    listen: std::net::SocketAddr,
) -> lookup::Config<commonware_stream::SakeCups<medchain_types::PrivateKey, ChaCha20Poly1305>> {
    let mut p2p = lookup::Config::recommended(
        Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: key.clone(),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        ),
        &union(namespace::P2P, genesis.chain_id.as_str().as_bytes()),
        listen,
        // Sized for the largest set the chain can elect, never for today's: sizes must not
        // shrink when the set changes (S1-dpos).
        PEER_SET_LIMIT,
        engine::max_message_size(limits::MAX_VALIDATORS),
        NZUsize!(4096),
    );
    // Hospitals sit on private networks; peers are a fixed, known set (unknown IPs are refused
    // anyway), so the per-IP handshake limit can allow quick reconnects after a restart.
    p2p.allow_private_ips = true;
    p2p.allowed_handshake_rate_per_ip = commonware_runtime::Quota::per_second(NZU32!(16));
    p2p.peer_connection_cooldown = Duration::from_secs(1);
    p2p.dial_frequency = Duration::from_millis(500);
    p2p.ping_frequency = Duration::from_secs(5);
    p2p.block_duration = Duration::from_secs(30 * 60);
    p2p
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match ::tokio::signal::unix::signal(::tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    ::tokio::select! {
        _ = ::tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
}
