//! Deterministic simulation of a 4-validator medchain network (issue 2 §6): the real node
//! stack (simplex, marshal, broadcast, backfill, gossip, execution, redb state) on
//! commonware's deterministic runtime and simulated network.
//!
//! Scenarios: all honest; one Byzantine validator sending conflicting votes; one validator
//! crashed and restarted on its own storage; a partition that halts progress and then heals.
//! Every scenario first runs the threshold PKG's key generation (issue 8 §1); two more check
//! its result with all validators up and with one crashed from the start.
//! In each, every honest validator must commit the same blocks with the same state roots, and
//! the medical workload (register → approve → enrol → license → release → store → grant →
//! access → revoke → access denied) must reach its expected outcome. Each scenario runs over several seeds.
//!
//! Epoch scenarios (issue 11, S1-dpos) run on a token genesis with 20-block epochs: the same
//! set through three boundaries; a validator restarted across boundaries; a standby node
//! elected in place of the weakest validator (then read back by a light client); an
//! equivocating validator slashed and left out of the next set.

use commonware_codec::{Copying, Decode as _, Encode as _};
use commonware_consensus::{
    Application, marshal::ancestry::Ancestry, simplex::mocks::conflicter, simplex::types::Context,
};
use commonware_consensus::{
    Epochable as _,
    simplex::types::Finalization,
    types::{Epoch, Epocher as _, FixedEpocher},
};
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::{Digested, Hasher as _, Sha256, Signer as _, ed25519};
use commonware_p2p::{
    Recipients, Sender as _,
    simulated::{self, Link, Network, Oracle},
    utils::mux::Muxer,
};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Runner, Spawner, Supervisor, deterministic};
use commonware_utils::{NZUsize, TryCollect, ordered::Set, probability};
use futures::channel::oneshot;
// The client tests' fixtures (a dependency of `served`) and a real node API on loopback.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
mod served;

use medchain_client::{Client, LightClient, NodeClient, StateQuery};
use medchain_med::{MedStore, aggregate, pow};
use medchain_node::{
    app::ChainApplication,
    chain::Chain,
    engine::{self, Channels, Tuning, channel},
    epochs::{self, EpochSchemes, Epochs, Orchestrator, OrchestratorConfig},
    finalizer, gossip,
    med::{self as med_service, MedService, miner},
    mempool::{Mempool, MempoolLimits},
    metrics::NodeMetrics,
    pkg::{self as dkg, DkgConfig, ShareStore},
    slashing,
};
use medchain_state::{
    StateReadExt as _, keys,
    testkit::{self, Actor, HospitalDesk},
};
use medchain_storage::Store;
use medchain_types::{
    Address, Allocation, Block, ConsensusScheme, ConsentId, ContentHash, Event, Expiry,
    FeeSchedule, Genesis, Hash32, OrgKind, OrgState, Purpose, RecordId, StakingParams,
    TokenGenesis, Transaction, TxId, ValidatorInfo,
    med::{Mblock, MblockBody, MblockHeader, MedParams, SignedBatch, TxMr},
};
use rand_core::CryptoRng;
use std::{
    num::{NonZeroU64, NonZeroUsize},
    sync::Arc,
    time::Duration,
};

/// A validator that proposes blocks claiming a state root their transactions do not produce
/// (application-level Byzantine behaviour commonware has no mock for); it verifies honestly.
#[derive(Clone)]
struct ForgingProposer(ChainApplication);

impl<E> Application<E> for ForgingProposer
where
    E: Clock + CryptoRng + Spawner + Supervisor,
{
    type SigningScheme = ConsensusScheme;
    type Context = Context<Hash32, PublicKey>;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        context: (E, Self::Context),
        ancestry: impl Ancestry<Block>,
        input: (),
    ) -> Option<Digested<Block>> {
        let honest = Application::<E>::propose(&mut self.0, context, ancestry, input).await?;
        let mut header = honest.inner().header().clone();
        header.state_root = Sha256::hash(&[b"a state root nobody computed"]);
        let forged = Block::new(header, honest.inner().txs().to_vec());
        let digest = forged.digest();
        Some(Digested::precomputed(forged, digest))
    }

    async fn verify(
        &mut self,
        context: (E, Self::Context),
        ancestry: impl Ancestry<Block>,
    ) -> bool {
        Application::<E>::verify(&mut self.0, context, ancestry).await
    }
}

const VALIDATORS: usize = 4;
/// Node `i`'s key is `PrivateKey::from_seed(SIGNER_SEED + i)` (so `Actor::new` signs as it).
const SIGNER_SEED: u64 = 1_000;
const PATIENTS: u64 = 12;

type PublicKey = ed25519::PublicKey;

/// One running validator.
struct Node {
    handle: Handle<()>,
    chain: Arc<Chain>,
    epochs: Epochs,
    shares: ShareStore,
    /// Its MED chain, on a cluster whose genesis has one.
    med: Option<Arc<MedService>>,
}

type SimSender = simulated::Sender<PublicKey, deterministic::Context>;
type SimReceiver = simulated::Receiver<PublicKey>;

/// One node's consensus stack before it starts: marshal, then the epochs' engines.
struct Stack {
    signer: ed25519::PrivateKey,
    genesis: Genesis,
    prefix: String,
    epocher: FixedEpocher,
    chain: Arc<Chain>,
    oracle: Oracle<PublicKey, deterministic::Context>,
    channels: Channels<SimSender, SimReceiver>,
}

impl Stack {
    /// Starts marshal with `application` and enters the epoch the store is in.
    async fn start<A>(
        self,
        context: &deterministic::Context,
        genesis_block: Digested<Block>,
        application: A,
        finalizer: finalizer::Finalizer,
    ) -> (engine::MarshalMailbox, Epochs)
    where
        A: Application<
                deterministic::Context,
                SigningScheme = ConsensusScheme,
                Context = Context<Hash32, PublicKey>,
                Block = Block,
                Input = (),
            >,
    {
        let Self {
            signer,
            genesis,
            prefix,
            epocher,
            chain,
            oracle,
            channels,
        } = self;
        let schemes = EpochSchemes::new(&genesis.consensus_namespace(), signer.clone());
        let (evidence, faults) = slashing::channel();
        slashing::start(
            context.child("slashing"),
            chain.clone(),
            &genesis,
            signer.clone(),
            faults,
        );
        let initial = epochs::resume(chain.store(), &epocher, &schemes).unwrap();
        let control = oracle.control(signer.public_key());
        let tuning = Tuning::default();
        let marshal = engine::start_marshal(
            context.child("engine"),
            signer.public_key(),
            &prefix,
            &tuning,
            epocher.clone(),
            schemes.clone(),
            genesis_block,
            application,
            finalizer,
            channels.broadcast,
            channels.backfill,
            oracle.manager(),
            control.clone(),
        )
        .await
        .unwrap();
        let (_orchestrator, epochs) = Orchestrator::start(
            context.child("epochs"),
            OrchestratorConfig {
                partition_prefix: prefix,
                tuning,
                blocker: control,
                wrapper: marshal.wrapper,
                evidence,
                marshal: marshal.mailbox.clone(),
                page_cache: marshal.page_cache,
                schemes,
                epocher,
            },
            channels.votes,
            channels.certificates,
            channels.resolver,
            initial,
        );
        (marshal.mailbox, epochs)
    }
}

/// The simulated network and each validator's durable store (kept across crashes).
struct Cluster {
    context: deterministic::Context,
    oracle: Oracle<PublicKey, deterministic::Context>,
    signers: Vec<ed25519::PrivateKey>,
    participants: Set<PublicKey>,
    genesis: Genesis,
    stores: Vec<Store>,
    /// Each validator's data directory for its PKG files (kept across crashes).
    data_dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Option<Node>>,
    /// Blocks per consensus epoch.
    epoch_length: NonZeroU64,
    /// Each validator's MED block store, on disk in its data directory (kept across crashes;
    /// a restarted validator rebuilds its Mblock tree from it). Empty without MED.
    med_stores: Vec<MedStore>,
}

fn link() -> Link {
    Link {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        success_rate: probability!(1.0),
    }
}

impl Cluster {
    /// Four validators on a chain without tokens (one endless epoch).
    async fn new(context: deterministic::Context) -> Self {
        Self::with_tokens(context, |_| None, 0).await
    }

    /// A cluster on a chain with the tokens `tokens` gives for the validators' keys, and
    /// `standby` nodes besides the genesis validators (nodes `VALIDATORS..`).
    async fn with_tokens(
        context: deterministic::Context,
        tokens: impl FnOnce(&[Address]) -> Option<TokenGenesis>,
        standby: usize,
    ) -> Self {
        let nodes = VALIDATORS + standby;
        let signers: Vec<_> = (0..nodes as u64)
            .map(|i| ed25519::PrivateKey::from_seed(SIGNER_SEED + i))
            .collect();
        let participants: Set<PublicKey> = signers[..VALIDATORS]
            .iter()
            .map(|s| s.public_key())
            .try_collect()
            .unwrap();
        let everyone: Set<PublicKey> = signers
            .iter()
            .map(|s| s.public_key())
            .try_collect()
            .unwrap();
        let mut genesis = testkit::genesis_document();
        genesis.genesis_time_ms = 0;
        genesis.validators = signers[..VALIDATORS]
            .iter()
            .enumerate()
            .map(|(i, s)| ValidatorInfo {
                name: format!("hospital-{i}"),
                public_key: Address::from(s.public_key()),
            })
            .collect();
        genesis.tokens = tokens(&genesis.validator_keys());
        let epoch_length = genesis.epoch_length();
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: engine::max_message_size(nodes),
                max_peers_per_set: NonZeroUsize::new(nodes).unwrap(),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            everyone,
        )
        .await;
        network.start();
        let mut cluster = Self {
            context,
            oracle,
            signers,
            participants,
            genesis,
            stores: (0..nodes).map(|_| Store::in_memory().unwrap()).collect(),
            data_dirs: (0..nodes).map(|_| tempfile::tempdir().unwrap()).collect(),
            nodes: (0..nodes).map(|_| None).collect(),
            epoch_length,
            med_stores: Vec::new(),
        };
        cluster.set_links(|_, _| true, true).await;
        cluster
    }

    /// Four mining validators on a chain with a MED chain of `params`, and one more key on the
    /// network (node [`VALIDATORS`], never started: a stranger peer for the tests to speak as).
    async fn with_med(context: deterministic::Context, params: MedParams) -> Self {
        let mut cluster = Self::with_tokens(context, |_| None, 1).await;
        cluster.genesis.med = Some(params);
        cluster.med_stores = cluster
            .data_dirs
            .iter()
            .map(|dir| MedStore::open(dir.path().join("med.redb")).unwrap())
            .collect();
        cluster
    }

    /// Adds (or removes) the links between every ordered pair `(a, b)` with `pick(a, b)`.
    async fn set_links(&mut self, pick: impl Fn(usize, usize) -> bool, up: bool) {
        for a in 0..self.signers.len() {
            for b in 0..self.signers.len() {
                if a == b || !pick(a, b) {
                    continue;
                }
                let (from, to) = (self.signers[a].public_key(), self.signers[b].public_key());
                if up {
                    self.oracle.add_link(from, to, link()).await.unwrap();
                } else {
                    self.oracle.remove_link(from, to).await.unwrap();
                }
            }
        }
    }

    async fn channels(
        &self,
        index: usize,
    ) -> Vec<(
        simulated::Sender<PublicKey, deterministic::Context>,
        simulated::Receiver<PublicKey>,
    )> {
        let control = self.oracle.control(self.signers[index].public_key());
        let mut channels = Vec::new();
        for (id, quota) in channel::all() {
            channels.push(control.register(id, quota).await.unwrap());
        }
        channels
    }

    /// Starts validator `index` on its store; everything it spawns dies with its handle.
    async fn start(&mut self, index: usize) {
        self.start_as(index, false).await;
    }

    /// Starts validator `index`, forging the state root of its proposals if `forging`.
    async fn start_as(&mut self, index: usize, forging: bool) {
        let mut channels = self.channels(index).await.into_iter();
        let mut next = || channels.next().unwrap();
        let (votes, certificates, resolver, broadcast, backfill, gossip_channel, dkg_channel) =
            (next(), next(), next(), next(), next(), next(), next());
        let (med_blocks, med_batches) = (next(), next());
        let med_store = self.med_stores.get(index).cloned();
        let shares = ShareStore::open(self.data_dirs[index].path()).unwrap();
        let node_shares = shares.clone();
        let signer = self.signers[index].clone();
        let store = self.stores[index].clone();
        let genesis = self.genesis.clone();
        let oracle = self.oracle.clone();
        let epocher = FixedEpocher::new(self.epoch_length);
        let (ready, started) = oneshot::channel();
        let handle = self
            .context
            .child("validator")
            .with_attribute("index", index)
            .spawn(move |context| async move {
                let med = med_store.map(|med_store| {
                    MedService::with_store(
                        med_store,
                        &genesis,
                        store.clone(),
                        med_service::clock_of(context.child("med_clock")),
                    )
                    .unwrap()
                    .expect("the genesis has MED parameters")
                });
                let mut chain = Chain::open(store, &genesis, Mempool::default(), 2_000).unwrap();
                if let Some((service, _)) = &med {
                    chain = chain.with_med(service.clone());
                }
                let chain = Arc::new(chain);
                let miner_address = Address::from(signer.public_key());
                let metrics = NodeMetrics::register(&context.child("medchain"));
                let (_gossip, _) =
                    gossip::start(context.child("gossip"), chain.clone(), gossip_channel);
                let (finalizer, deliveries) = finalizer::channel();
                let application = ChainApplication::new(chain.clone(), signer.public_key());
                let stack = Stack {
                    signer: signer.clone(),
                    genesis: genesis.clone(),
                    prefix: format!("validator-{index}"),
                    epocher: epocher.clone(),
                    chain: chain.clone(),
                    oracle,
                    channels: Channels {
                        votes,
                        certificates,
                        resolver,
                        broadcast,
                        backfill,
                    },
                };
                let genesis_block = application.genesis_block();
                let (marshal, epochs) = if forging {
                    let forger = ForgingProposer(application);
                    stack
                        .start(&context, genesis_block, forger, finalizer)
                        .await
                } else {
                    stack
                        .start(&context, genesis_block, application, finalizer)
                        .await
                };
                let _finalizer = finalizer::spawn(
                    context.child("finalizer"),
                    chain.clone(),
                    metrics,
                    deliveries,
                    finalizer::Consensus {
                        marshal,
                        epochs: epochs.clone(),
                        epocher,
                        // The simulated network links every node from the start.
                        peers: None,
                    },
                );
                if genesis
                    .validator_keys()
                    .contains(&Address::from(signer.public_key()))
                {
                    dkg::start(
                        context.child("pkg"),
                        chain.clone(),
                        &genesis,
                        signer,
                        shares,
                        DkgConfig::default(),
                        dkg_channel,
                    )
                    .unwrap();
                }
                let med = med.map(|(service, mailbox)| {
                    med_service::start_network(
                        context.child("med"),
                        service.clone(),
                        mailbox,
                        med_blocks,
                        med_batches,
                    );
                    miner::start(
                        context.child("med_miner"),
                        service.clone(),
                        miner_address,
                        SIM_PACE,
                    );
                    service
                });
                let _ = ready.send((chain, epochs, med));
                futures::future::pending::<()>().await;
            });
        let (chain, epochs, med) = started.await.unwrap();
        self.nodes[index] = Some(Node {
            handle,
            chain,
            epochs,
            shares: node_shares,
            med,
        });
    }

    /// Replaces validator `index` with a Byzantine one that signs a conflicting vote for every
    /// vote it sees in epoch 0 (and runs nothing else).
    async fn start_conflicter(&mut self, index: usize) {
        let (sender, receiver) = self.channels(index).await.into_iter().next().unwrap();
        let scheme = ConsensusScheme::signer(
            &self.genesis.consensus_namespace(),
            self.participants.clone(),
            self.signers[index].clone(),
        )
        .unwrap();
        let (mux, mut votes) = Muxer::new(self.context.child("byzantine_mux"), sender, receiver);
        mux.start();
        let votes = votes.register(0).await.unwrap();
        let engine: conflicter::Conflicter<_, _, Sha256> = conflicter::Conflicter::new(
            self.context.child("byzantine"),
            conflicter::Config { scheme },
        );
        engine.start(votes);
    }

    fn crash(&mut self, index: usize) {
        if let Some(node) = self.nodes[index].take() {
            node.handle.abort();
        }
    }

    fn honest(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flatten()
    }

    fn height(&self, index: usize) -> u64 {
        self.stores[index]
            .last_applied()
            .unwrap()
            .map_or(0, |a| a.height)
    }

    /// Submits transactions round-robin through the running validators and waits until every
    /// running validator has committed all of them. Returns their receipts' events.
    async fn submit_and_wait(&mut self, txs: Vec<Transaction>) -> Vec<Vec<Event>> {
        let nodes: Vec<&Node> = self.honest().collect();
        let mut rng = commonware_utils::test_rng();
        for (i, tx) in txs.iter().enumerate() {
            let node = nodes[i % nodes.len()];
            let result = node.chain.admit(&mut rng, vec![tx.clone()]).remove(0);
            result.unwrap_or_else(|e| panic!("tx {i} ({}) refused: {e}", tx.body.payload.kind()));
        }
        let ids: Vec<TxId> = txs.iter().map(Transaction::id).collect();
        let deadline = self.context.current() + Duration::from_secs(120);
        loop {
            let done = self.honest().all(|node| {
                ids.iter()
                    .all(|id| node.chain.store().receipt(id).unwrap().is_some())
            });
            if done {
                break;
            }
            assert!(
                self.context.current() < deadline,
                "transactions not finalized in time"
            );
            self.context.sleep(Duration::from_millis(50)).await;
        }
        let store = self.honest().next().unwrap().chain.store().clone();
        ids.iter()
            .map(|id| store.receipt(id).unwrap().unwrap().events)
            .collect()
    }

    /// The flood of issue 7 §1 on every running validator: `keys` throwaway keys, each sending
    /// nonces 1..=`per_key` (never 0, so none can ever execute). Returns how many were held.
    fn flood(&self, keys: u64, per_key: u64) -> usize {
        self.flood_paying(keys, per_key, 0)
    }

    /// [`Cluster::flood`] with every junk transaction naming `fee`.
    fn flood_paying(&self, keys: u64, per_key: u64, fee: u64) -> usize {
        let mut rng = commonware_utils::test_rng();
        let chain = self.genesis.chain_id.clone();
        let junk: Vec<Transaction> = (0..keys)
            .flat_map(|key| {
                let actor = Actor::new(1_000_000 + key);
                let chain = chain.clone();
                (1..=per_key).map(move |nonce| {
                    let name = testkit::org_name(&format!("Junk {key} {nonce}"));
                    let payload = testkit::register(&name, OrgKind::Hospital);
                    actor
                        .sign_with_fee_for(&chain, nonce, fee, payload)
                        .tx()
                        .clone()
                })
            })
            .collect();
        let mut held = 0;
        for node in self.honest() {
            for chunk in junk.chunks(512) {
                node.chain.admit(&mut rng, chunk.to_vec());
            }
            assert_eq!(
                node.chain.mempool().pending_len(),
                0,
                "gapped junk was counted as executable"
            );
            held += node.chain.mempool().len();
        }
        held
    }

    /// Waits until every running validator committed at least `height`.
    async fn wait_for_height(&self, height: u64) {
        let deadline = self.context.current() + Duration::from_secs(120);
        while (0..self.nodes.len()).any(|i| self.nodes[i].is_some() && self.height(i) < height) {
            assert!(
                self.context.current() < deadline,
                "height {height} not reached in time"
            );
            self.context.sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every pair of the given validators committed identical blocks and state roots up to the
    /// lowest height among them.
    fn assert_agreement(&self, validators: &[usize]) {
        let top = validators.iter().map(|&i| self.height(i)).min().unwrap();
        assert!(top > 0, "nothing finalized");
        for height in 0..=top {
            let blocks: Vec<_> = validators
                .iter()
                .map(|&i| self.stores[i].block_by_height(height).unwrap().unwrap())
                .collect();
            for (block, &i) in blocks.iter().zip(validators) {
                assert_eq!(
                    block.digest(),
                    blocks[0].digest(),
                    "validator {i} diverges at height {height}"
                );
                assert_eq!(block.header().state_root, blocks[0].header().state_root);
            }
        }
        let roots: Vec<_> = validators
            .iter()
            .map(|&i| {
                self.stores[i]
                    .get_proven(keys::chain_config().as_bytes())
                    .unwrap()
            })
            .collect();
        for proven in &roots {
            proven.verify().unwrap();
        }
    }
}

/// The medical workload, phase by phase (each phase needs the previous one finalized).
struct Workload {
    regulator: Actor,
    doctor: Actor,
    researcher: Actor,
    patients: Vec<Actor>,
    nonces: std::collections::HashMap<Address, u64>,
    records: Vec<RecordId>,
    consents: Vec<ConsentId>,
}

impl Workload {
    fn new() -> Self {
        Self {
            regulator: Actor::new(testkit::REGULATOR_SEED),
            doctor: Actor::new(10),
            researcher: Actor::new(11),
            patients: (0..PATIENTS).map(|i| Actor::new(100 + i)).collect(),
            nonces: Default::default(),
            records: Vec::new(),
            consents: Vec::new(),
        }
    }

    fn tx(&mut self, actor: &Actor, payload: medchain_types::Payload) -> Transaction {
        let nonce = self.nonces.entry(actor.address).or_default();
        let tx = actor.sign(*nonce, payload).tx().clone();
        *nonce += 1;
        tx
    }

    fn hospital() -> medchain_types::OrgName {
        testkit::org_name("General Hospital")
    }

    fn lab() -> medchain_types::OrgName {
        testkit::org_name("Cohort Lab")
    }

    fn register(&mut self) -> Vec<Transaction> {
        let (doctor, researcher) = (self.doctor.clone(), self.researcher.clone());
        vec![
            self.tx(
                &doctor,
                testkit::register(&Self::hospital(), OrgKind::Hospital),
            ),
            self.tx(
                &researcher,
                testkit::register(&Self::lab(), OrgKind::Research),
            ),
        ]
    }

    fn approve(&mut self) -> Vec<Transaction> {
        let regulator = self.regulator.clone();
        vec![
            self.tx(
                &regulator,
                testkit::set_state(&Self::hospital(), OrgState::Audited),
            ),
            self.tx(
                &regulator,
                testkit::set_state(&Self::lab(), OrgState::Audited),
            ),
        ]
    }

    /// Releasing needs a licence: the hospital's desk joins and enrols, the doctor enrols.
    fn enrol(&mut self) -> Vec<Transaction> {
        let (doctor, desk) = (self.doctor.clone(), HospitalDesk::of(&Self::hospital()));
        let mut txs: Vec<Transaction> = desk
            .opening(&Self::hospital(), &doctor)
            .into_iter()
            .map(|payload| self.tx(&desk.actor, payload))
            .collect();
        txs.push(self.tx(&doctor, testkit::enrol_doctor(&doctor)));
        txs
    }

    /// The doctor and the hospital's desk register their BLS vouching keys, with which they
    /// sign releases and batches on MED (S3-release).
    fn vouching_keys(&mut self) -> Vec<Transaction> {
        let (doctor, desk) = (self.doctor.clone(), HospitalDesk::of(&Self::hospital()));
        vec![
            self.tx(&doctor, testkit::set_vouching_key(&doctor)),
            self.tx(&desk.actor, testkit::set_vouching_key(&desk.actor)),
        ]
    }

    /// The desk licenses the doctor (after [`Self::enrol`] is final).
    fn license(&mut self) -> Vec<Transaction> {
        let desk = HospitalDesk::of(&Self::hospital());
        let licence = testkit::issue_licence(&testkit::doctor_identity(&self.doctor), u64::MAX);
        vec![self.tx(&desk.actor, licence)]
    }

    fn release(&mut self) -> Vec<Transaction> {
        let doctor = self.doctor.clone();
        self.patients
            .clone()
            .iter()
            .map(|patient| {
                let hash = ContentHash::of(patient.address.as_bytes());
                self.tx(&doctor, testkit::release(&doctor, &patient.address, &hash))
            })
            .collect()
    }

    fn store_and_grant(&mut self, released: &[Vec<Event>]) -> Vec<Transaction> {
        self.records = released
            .iter()
            .map(|events| match &events[0] {
                Event::RecordReleased { record, .. } => *record,
                other => panic!("unexpected event {other:?}"),
            })
            .collect();
        let grantee = self.researcher.address;
        let mut txs = Vec::new();
        for (patient, record) in self.patients.clone().iter().zip(self.records.clone()) {
            let blob = ContentHash::of(record.as_bytes());
            txs.push(self.tx(patient, testkit::store(&record, &blob, "file:///blobs/x")));
            txs.push(self.tx(
                patient,
                testkit::grant(
                    &grantee,
                    &[record],
                    Purpose::Research,
                    Expiry::AtHeight(1_000_000),
                ),
            ));
        }
        txs
    }

    fn request_all(&mut self) -> Vec<Transaction> {
        let researcher = self.researcher.clone();
        self.records
            .clone()
            .iter()
            .map(|record| self.tx(&researcher, testkit::request(record, Purpose::Research)))
            .collect()
    }

    fn revoke_all(&mut self, granted: &[Vec<Event>]) -> Vec<Transaction> {
        self.consents = granted
            .iter()
            .filter_map(|events| match events.first() {
                Some(Event::ConsentGranted { consent, .. }) => Some(*consent),
                _ => None,
            })
            .collect();
        assert_eq!(self.consents.len(), PATIENTS as usize);
        self.patients
            .clone()
            .iter()
            .zip(self.consents.clone())
            .map(|(patient, consent)| self.tx(patient, testkit::revoke(&consent)))
            .collect()
    }
}

fn decisions(events: &[Vec<Event>]) -> Vec<bool> {
    events
        .iter()
        .map(|events| match &events[0] {
            Event::AccessDecided { decision, .. } => decision.is_allowed(),
            other => panic!("unexpected event {other:?}"),
        })
        .collect()
}

/// Which disruption a run applies.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    Honest,
    Conflicter,
    ForgingProposer,
    CrashRestart,
    Partition,
    Flood,
}

fn run(seed: u64, scenario: Scenario) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(1_800)));
    deterministic::Runner::new(config).start(|context| async move {
        let mut cluster = Cluster::new(context).await;
        let byzantine = matches!(scenario, Scenario::Conflicter).then_some(VALIDATORS - 1);
        let forger = VALIDATORS - 1;
        for index in 0..VALIDATORS {
            if Some(index) == byzantine {
                cluster.start_conflicter(index).await;
            } else {
                let forging = matches!(scenario, Scenario::ForgingProposer) && index == forger;
                cluster.start_as(index, forging).await;
            }
        }
        let honest: Vec<usize> = (0..VALIDATORS).filter(|i| Some(*i) != byzantine).collect();
        // The threshold PKG's key generation runs first in every scenario (its transactions
        // would otherwise blur the flood scenario's idle block rate).
        cluster.wait_for_shares().await;

        let mut workload = Workload::new();
        cluster.submit_and_wait(workload.register()).await;
        cluster.submit_and_wait(workload.approve()).await;
        cluster.submit_and_wait(workload.enrol()).await;
        cluster.submit_and_wait(workload.license()).await;

        if let Scenario::Partition = scenario {
            let halves = |a: usize, b: usize| (a < 2) != (b < 2);
            cluster.set_links(halves, false).await;
            // Let in-flight views settle, then no quorum exists: nothing may finalize.
            cluster.context.sleep(Duration::from_secs(3)).await;
            let frozen: Vec<u64> = honest.iter().map(|&i| cluster.height(i)).collect();
            cluster.context.sleep(Duration::from_secs(20)).await;
            let after: Vec<u64> = honest.iter().map(|&i| cluster.height(i)).collect();
            assert_eq!(frozen, after, "a minority partition finalized blocks");
            cluster.set_links(halves, true).await;
        }

        if let Scenario::Flood = scenario {
            // Junk waits in every mempool, never gossiped, while the honest workload below
            // must still finalize within `submit_and_wait`'s bound.
            let held = cluster.flood(200, 64);
            assert!(
                held > 0,
                "the flood was refused outright; it must be held, bounded"
            );
            assert!(held <= VALIDATORS * MempoolLimits::default().max_queued);
            // Queued junk cannot fill a block: an idle chain keeps its idle block rate
            // (at most two a second) instead of proposing empty blocks as fast as it can.
            let before = cluster.height(0);
            cluster.context.sleep(Duration::from_secs(10)).await;
            let made = cluster.height(0) - before;
            assert!(
                made <= 25,
                "{made} blocks in 10 s of idle time with junk held"
            );
        }

        let released = cluster.submit_and_wait(workload.release()).await;
        if let Scenario::CrashRestart = scenario {
            cluster.crash(2);
        }
        let granted = cluster
            .submit_and_wait(workload.store_and_grant(&released))
            .await;
        let allowed = cluster.submit_and_wait(workload.request_all()).await;
        assert!(decisions(&allowed).iter().all(|&allowed| allowed));

        if let Scenario::CrashRestart = scenario {
            let before = cluster.height(2);
            cluster.start(2).await;
            let target = cluster.height(0);
            cluster.wait_for_height(target).await;
            assert!(
                cluster.height(2) > before,
                "restarted validator did not catch up"
            );
        }

        cluster.submit_and_wait(workload.revoke_all(&granted)).await;
        let denied = cluster.submit_and_wait(workload.request_all()).await;
        assert!(decisions(&denied).iter().all(|&allowed| !allowed));

        let top = honest.iter().map(|&i| cluster.height(i)).max().unwrap();
        cluster.wait_for_height(top).await;
        cluster.assert_agreement(&honest);

        if let Scenario::ForgingProposer = scenario {
            // Every block the forger proposed was refused: none is on the chain.
            let forger_address = Address::from(cluster.signers[forger].public_key());
            for height in 1..=cluster.height(0) {
                let block = cluster.stores[0].block_by_height(height).unwrap().unwrap();
                assert_ne!(
                    block.header().proposer,
                    forger_address,
                    "a forged block was finalized"
                );
            }
        }
        if byzantine.is_some() {
            let blocked = cluster.oracle.blocked().await.unwrap();
            let byzantine_key = cluster.signers[VALIDATORS - 1].public_key();
            assert!(
                !blocked.is_empty(),
                "the conflicting validator was never blocked"
            );
            assert!(
                blocked.iter().all(|(_, b)| *b == byzantine_key),
                "an honest validator was blocked"
            );
        }
    });
}

/// Each scenario runs under `MEDCHAIN_SIM_SEEDS` seeds of the deterministic runtime (default
/// 20, the subset CI runs; `scripts/soak` runs thousands), starting at seed
/// `MEDCHAIN_SIM_SEED_OFFSET` (default 0). A failure names its scenario and seed, which replays
/// it exactly.
fn run_every_seed(scenario: Scenario) {
    run_every_seed_with(|seed| run(seed, scenario), &format!("{scenario:?}"));
}

/// Runs `scenario` under each seed of [`run_every_seed`]'s range.
fn run_every_seed_with(scenario: impl Fn(u64) + std::panic::RefUnwindSafe, name: &str) {
    let count = env_number("MEDCHAIN_SIM_SEEDS", 20);
    let offset = env_number("MEDCHAIN_SIM_SEED_OFFSET", 0);
    for seed in offset..offset + count {
        if let Err(panic) = std::panic::catch_unwind(|| scenario(seed)) {
            eprintln!(
                "{name} failed at seed {seed}: replay it with \
                 MEDCHAIN_SIM_SEED_OFFSET={seed} MEDCHAIN_SIM_SEEDS=1"
            );
            std::panic::resume_unwind(panic);
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

/// Blocks per epoch in the epoch scenarios: short, so a run crosses several boundaries.
const SHORT_EPOCH: u64 = 20;

/// Genesis stake of validator `i`: validator 3 is the weakest.
const STAKES: [u64; VALIDATORS] = [400, 300, 200, 100];

/// Tokens for the epoch scenarios: short epochs, free transactions (the workload and the
/// PKG's dealer logs pay nothing), validators staked [`STAKES`] with a balance, and
/// `accounts` funded.
fn epoch_tokens(validators: &[Address], accounts: &[Address]) -> TokenGenesis {
    let staked = validators
        .iter()
        .zip(STAKES)
        .map(|(address, stake)| Allocation {
            address: *address,
            balance: 1_000,
            outputs: Vec::new(),
            stake,
        });
    let funded = accounts.iter().map(|address| Allocation {
        address: *address,
        balance: 10_000,
        outputs: Vec::new(),
        stake: 0,
    });
    TokenGenesis {
        fees: FeeSchedule::FREE,
        block_reward: 0,
        max_supply: 1_000_000,
        proposer_share_bps: 10_000,
        access_reward_default: 0,
        staking: StakingParams {
            epoch_length: SHORT_EPOCH,
            max_validators: VALIDATORS as u16,
            min_validators: 3,
            min_stake: 50,
            unbonding_epochs: 2,
            slash_bps: 5_000,
        },
        allocations: staked.chain(funded).collect(),
    }
}

impl Cluster {
    /// The epoch of `height`, as consensus and the state both count it.
    fn epoch_of(&self, height: u64) -> Epoch {
        FixedEpocher::new(self.epoch_length)
            .containing(commonware_consensus::types::Height::new(height))
            .unwrap()
            .epoch()
    }

    /// The last height of `epoch`.
    fn last_of(&self, epoch: u64) -> u64 {
        FixedEpocher::new(self.epoch_length)
            .last(Epoch::new(epoch))
            .unwrap()
            .get()
    }

    /// Every finalization certificate `index` stored up to `top` is of the epoch its height
    /// is in and verifies with that epoch's validator set; returns how many it stored.
    fn assert_certified_by_their_epoch(&self, index: usize, top: u64) -> usize {
        let mut certified = 0;
        for height in 1..=top {
            let Some(bytes) = self.stores[index].finalization(height).unwrap() else {
                continue;
            };
            let epoch = self.epoch_of(height);
            let participants = self.participants_of(epoch);
            let verifier =
                ConsensusScheme::verifier(&self.genesis.consensus_namespace(), participants);
            let finalization = Finalization::<ConsensusScheme, Hash32>::decode_cfg(
                Copying(&bytes),
                &verifier.certificate_codec_config(),
            )
            .unwrap();
            assert_eq!(
                finalization.epoch(),
                epoch,
                "height {height} certified in another epoch"
            );
            assert!(
                finalization.verify(&mut commonware_utils::test_rng(), &verifier, &Sequential),
                "height {height}'s certificate does not verify with epoch {epoch}'s set"
            );
            certified += 1;
        }
        certified
    }

    /// The validator set of `epoch` as validator 0's committed state records it.
    fn participants_of(&self, epoch: Epoch) -> Set<PublicKey> {
        let state = self.stores[0].snapshot().unwrap();
        epochs::committed_set(&state, epoch).unwrap()
    }
}

/// S1-dpos: with short epochs, consensus crosses three boundaries, each time stopping one
/// simplex engine and starting the next with the set the chain decided, and the validators
/// stay in agreement with the medical workload finalizing across them.
fn run_epoch_turnover(seed: u64) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(1_800)));
    deterministic::Runner::new(config).start(|context| async move {
        let mut cluster = Cluster::with_tokens(context, |v| Some(epoch_tokens(v, &[])), 0).await;
        for index in 0..VALIDATORS {
            cluster.start(index).await;
        }
        let mut workload = Workload::new();
        cluster.submit_and_wait(workload.register()).await;
        cluster.submit_and_wait(workload.approve()).await;
        cluster.submit_and_wait(workload.enrol()).await;
        cluster.submit_and_wait(workload.license()).await;
        cluster.submit_and_wait(workload.release()).await;
        let crossed = 3;
        for epoch in 0..=crossed {
            cluster.wait_for_height(cluster.last_of(epoch) + 1).await;
        }
        let top = cluster.last_of(crossed) + 5;
        cluster.wait_for_height(top).await;
        let all: Vec<usize> = (0..VALIDATORS).collect();
        cluster.assert_agreement(&all);
        for index in all {
            let certified = cluster.assert_certified_by_their_epoch(index, top);
            assert!(certified > 0, "validator {index} stored no certificate");
            let epochs = &cluster.nodes[index].as_ref().unwrap().epochs;
            assert!(epochs.current() >= Some(Epoch::new(crossed + 1)));
            for epoch in 0..=crossed + 1 {
                assert!(
                    epochs.signing_epochs().contains(&Epoch::new(epoch)),
                    "validator {index} did not sign in epoch {epoch}"
                );
            }
        }
    });
}

/// A validator down while the others cross three epoch boundaries restarts in the epoch its
/// state is in, learns from the votes of a later epoch that it fell behind, fetches each
/// boundary block, and enters every epoch in turn until it signs in the current one.
fn run_restart_across_boundaries(seed: u64) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(1_800)));
    deterministic::Runner::new(config).start(|context| async move {
        let mut cluster = Cluster::with_tokens(context, |v| Some(epoch_tokens(v, &[])), 0).await;
        for index in 0..VALIDATORS {
            cluster.start(index).await;
        }
        // Down in epoch 1, so it resumes that epoch's engine from its journal, built on the
        // boundary block of epoch 0 from its store.
        let crashed = 2;
        cluster.wait_for_height(cluster.last_of(0) + 3).await;
        cluster.crash(crashed);
        let stopped_at = cluster.height(crashed);
        assert_eq!(cluster.epoch_of(stopped_at + 1), Epoch::new(1));
        let ahead = cluster.last_of(3) + 3;
        cluster.wait_for_height(ahead).await;

        cluster.start(crashed).await;
        let top = cluster.last_of(4) + 5;
        cluster.wait_for_height(top).await;
        let all: Vec<usize> = (0..VALIDATORS).collect();
        cluster.assert_agreement(&all);
        cluster.assert_certified_by_their_epoch(crashed, top);
        // What a light client needs to learn each next set from this node too.
        for epoch in 0..=4 {
            let boundary = cluster.last_of(epoch);
            assert!(
                cluster.stores[crashed]
                    .finalization(boundary)
                    .unwrap()
                    .is_some(),
                "no certificate for boundary block {boundary}"
            );
        }
        let epochs = &cluster.nodes[crashed].as_ref().unwrap().epochs;
        assert!(epochs.current() >= Some(Epoch::new(5)));
        assert!(
            epochs.signing_epochs().contains(&Epoch::new(5)),
            "the restarted validator does not sign in the current epoch"
        );
    });
}

#[test]
fn a_validator_restarted_across_a_boundary_catches_up() {
    run_every_seed_with(
        run_restart_across_boundaries,
        "a_validator_restarted_across_a_boundary_catches_up",
    );
}

#[test]
fn epochs_turn_over_with_the_same_set() {
    run_every_seed_with(run_epoch_turnover, "epochs_turn_over_with_the_same_set");
}

/// Seeds of the accounts the validator-replacement scenario uses.
const FOUNDER_SEED: u64 = 20;
const DELEGATOR_SEED: u64 = 21;

/// S1-dpos end to end: a standby node (node 4, outside genesis) follows as an observer; a
/// hospital vouches for it, it registers as a candidate, and a delegation lifts its stake
/// above validator 3's. At the next boundary the chain elects it in validator 3's place: from
/// that epoch on, every certificate verifies with the new set, node 3 stops signing and node 4
/// signs, and with validator 0 crashed the chain still finalizes, which needs node 4's vote.
fn run_validator_replacement(seed: u64) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(1_800)));
    let (store, genesis, elected, standby_key) =
        deterministic::Runner::new(config).start(|context| async move {
            let (founder, delegator) = (Actor::new(FOUNDER_SEED), Actor::new(DELEGATOR_SEED));
            let accounts = [founder.address, delegator.address];
            let mut cluster =
                Cluster::with_tokens(context, |v| Some(epoch_tokens(v, &accounts)), 1).await;
            for index in 0..cluster.nodes.len() {
                cluster.start(index).await;
            }
            let (retiring, standby) = (VALIDATORS - 1, VALIDATORS);
            let standby_actor = Actor::new(SIGNER_SEED + standby as u64);
            let org = testkit::org_name("Standby Hospital");
            let mut workload = Workload::new();
            cluster
                .submit_and_wait(vec![
                    workload.tx(&founder, testkit::register(&org, OrgKind::Hospital)),
                ])
                .await;
            let regulator = workload.regulator.clone();
            cluster
                .submit_and_wait(vec![
                    workload.tx(&regulator, testkit::set_state(&org, OrgState::Audited)),
                ])
                .await;
            let register =
                testkit::register_candidate(&org, &founder, &standby_actor, "127.0.0.1:9004");
            cluster
                .submit_and_wait(vec![workload.tx(&standby_actor, register)])
                .await;
            cluster
                .submit_and_wait(vec![
                    workload.tx(&delegator, testkit::delegate(&standby_actor.address, 150)),
                ])
                .await;

            // The first epoch whose set the election decided after the delegation.
            let delegated_at = cluster.height(0);
            let elected = cluster.epoch_of(delegated_at).next();
            cluster
                .wait_for_height(cluster.last_of(elected.get() - 1))
                .await;
            let set = cluster.participants_of(elected);
            let key = |index: usize| cluster.signers[index].public_key();
            assert!(
                set.position(&key(standby)).is_some(),
                "the candidate was not elected"
            );
            assert!(
                set.position(&key(retiring)).is_none(),
                "the weakest validator stayed"
            );
            assert_eq!(set.len(), VALIDATORS);

            let top = cluster.last_of(elected.get()) + 5;
            cluster.wait_for_height(top).await;
            let everyone: Vec<usize> = (0..cluster.nodes.len()).collect();
            cluster.assert_agreement(&everyone);
            for &index in &everyone {
                cluster.assert_certified_by_their_epoch(index, top);
            }
            // ...and the new epoch's blocks do carry certificates (of the new set, checked above).
            let first = cluster.last_of(elected.get() - 1) + 1;
            assert!(
                (first..=top)
                    .any(|height| cluster.stores[0].finalization(height).unwrap().is_some()),
                "no certificate of the new epoch was stored"
            );
            let signing = |index: usize| {
                cluster.nodes[index]
                    .as_ref()
                    .unwrap()
                    .epochs
                    .signing_epochs()
            };
            assert!(
                !signing(retiring).contains(&elected),
                "the retired validator still signs"
            );
            assert!(signing(retiring).contains(&Epoch::zero()));
            assert!(
                signing(standby).contains(&elected),
                "the elected node does not sign"
            );
            assert!(!signing(standby).contains(&Epoch::zero()));

            // Validators 1, 2 and 4 are a quorum of the new set only with node 4's vote.
            cluster.crash(0);
            let resumed = cluster.height(1);
            cluster.wait_for_height(resumed + 10).await;
            cluster.assert_agreement(&everyone[1..]);
            (
                cluster.stores[1].clone(),
                cluster.genesis.clone(),
                elected,
                cluster.signers[standby].public_key(),
            )
        });
    assert_light_client_follows(store, genesis, elected.get(), &standby_key);
}

/// A light client that trusts only the genesis learns every set up to `epoch` from the
/// transitions a node of the simulated chain serves (each boundary certificate made by that
/// epoch's engine) and verifies that `member` was elected into it.
fn assert_light_client_follows(store: Store, genesis: Genesis, epoch: u64, member: &PublicKey) {
    let chain = Arc::new(Chain::open(store, &genesis, Mempool::default(), 100).unwrap());
    let url = served::serve_genesis(chain, genesis.clone());
    let client = Client::new(
        NodeClient::new(&url).unwrap(),
        LightClient::new(genesis).unwrap(),
    );
    let set = client.read(&StateQuery::validator_set(epoch)).unwrap();
    assert!(client.light.known_epoch() >= epoch);
    let elected = set.value.expect("the set of the elected epoch");
    assert!(
        elected
            .validators
            .iter()
            .any(|entry| entry.key == Address::from(member.clone())),
        "the light client does not see the elected node in the set"
    );
}

#[test]
fn an_epoch_change_replaces_a_validator() {
    run_every_seed_with(
        run_validator_replacement,
        "an_epoch_change_replaces_a_validator",
    );
}

/// S1-dpos slashing: validator 3 signs a conflicting vote for every vote it sees. The honest
/// validators report it; the chain records one slash, burns `slash_bps` of its stake, jails
/// it, and the next set it elects leaves it out, while the honest three keep finalizing.
fn run_slashing(seed: u64) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(1_800)));
    deterministic::Runner::new(config).start(|context| async move {
        let mut cluster = Cluster::with_tokens(context, |v| Some(epoch_tokens(v, &[])), 0).await;
        let byzantine = VALIDATORS - 1;
        for index in 0..VALIDATORS {
            if index == byzantine {
                cluster.start_conflicter(index).await;
            } else {
                cluster.start(index).await;
            }
        }
        let honest: Vec<usize> = (0..byzantine).collect();
        let offender = Address::from(cluster.signers[byzantine].public_key());
        let slash = keys::slash(0, &offender);
        let deadline = cluster.context.current() + Duration::from_secs(120);
        while honest.iter().any(|&i| {
            cluster.stores[i]
                .snapshot()
                .unwrap()
                .value(&slash)
                .unwrap()
                .is_none()
        }) {
            assert!(
                cluster.context.current() < deadline,
                "the equivocation was never slashed"
            );
            cluster.context.sleep(Duration::from_millis(100)).await;
        }
        let record = cluster.stores[0]
            .snapshot()
            .unwrap()
            .value(&slash)
            .unwrap()
            .unwrap();
        assert!(
            honest
                .iter()
                .any(|&i| { Address::from(cluster.signers[i].public_key()) == record.reporter })
        );

        let next = cluster.epoch_of(record.height).next();
        cluster
            .wait_for_height(cluster.last_of(next.get() - 1) + 3)
            .await;
        let set = cluster.participants_of(next);
        assert!(
            set.position(&cluster.signers[byzantine].public_key())
                .is_none(),
            "the slashed validator was elected again"
        );
        assert_eq!(set.len(), VALIDATORS - 1);
        let state = cluster.stores[0].snapshot().unwrap();
        let candidate = state.value(&keys::candidate(&offender)).unwrap().unwrap();
        let slash_bps = u64::from(epoch_tokens(&[], &[]).staking.slash_bps);
        assert_eq!(
            candidate.bonded_tokens,
            STAKES[byzantine] - STAKES[byzantine] * slash_bps / 10_000
        );
        assert!(candidate.jailed);
        cluster.assert_agreement(&honest);
    });
}

#[test]
fn an_equivocating_validator_is_slashed() {
    run_every_seed_with(run_slashing, "an_equivocating_validator_is_slashed");
}

#[test]
fn honest_validators_agree() {
    run_every_seed(Scenario::Honest);
}

#[test]
fn a_conflicting_validator_cannot_break_agreement() {
    run_every_seed(Scenario::Conflicter);
}

#[test]
fn blocks_with_a_forged_state_root_are_refused() {
    run_every_seed(Scenario::ForgingProposer);
}

#[test]
fn a_crashed_validator_recovers_and_catches_up() {
    run_every_seed(Scenario::CrashRestart);
}

/// Issue 7 §1: 200 throwaway keys flooding every validator with gapped nonces do not stop
/// honest transactions from finalizing (the run asserts every phase finalizes in time).
#[test]
fn a_gapped_nonce_flood_does_not_stop_honest_transactions() {
    for seed in 0..5 {
        run(seed, Scenario::Flood);
    }
}

/// Issue 11 §1.9: on a chain with fees the same flood, even naming the minimum fee, is refused
/// at admission (its keys hold no balance to pay it), so none of it is held, and a funded
/// sender's transaction still finalizes.
fn run_fee_flood(seed: u64) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(1_800)));
    deterministic::Runner::new(config).start(|context| async move {
        const FEE: u64 = 10;
        let honest = Actor::new(77);
        let with_fees = |validators: &[Address]| {
            let mut tokens = epoch_tokens(validators, &[honest.address]);
            tokens.fees = FeeSchedule {
                base: FEE,
                per_byte: 0,
            };
            Some(tokens)
        };
        let mut cluster = Cluster::with_tokens(context, with_fees, 0).await;
        for index in 0..VALIDATORS {
            cluster.start(index).await;
        }
        // The junk pays the minimum fee, but from keys that hold nothing.
        assert_eq!(
            cluster.flood_paying(200, 64, FEE),
            0,
            "an unfunded flood was held"
        );
        let chain = cluster.genesis.chain_id.clone();
        let name = testkit::org_name("Paying Clinic");
        let paid =
            honest.sign_with_fee_for(&chain, 0, FEE, testkit::register(&name, OrgKind::Hospital));
        cluster.submit_and_wait(vec![paid.tx().clone()]).await;
        cluster.assert_agreement(&(0..VALIDATORS).collect::<Vec<_>>());
    });
}

#[test]
fn a_gapped_flood_on_a_fee_chain_is_refused_at_admission() {
    run_every_seed_with(
        run_fee_flood,
        "a_gapped_flood_on_a_fee_chain_is_refused_at_admission",
    );
}

#[test]
fn a_partition_halts_finality_and_heals() {
    run_every_seed(Scenario::Partition);
}

/// Issue 8 §1: the validators' DKG sets up the threshold PKG without any process holding the
/// master secret. With `crashed` down from the start, the other three still complete it (the
/// dealers reveal the missing validator's shares in their logs); started afterwards, it
/// recovers its share from those reveals.
fn run_dkg(seed: u64, crashed: Option<usize>) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(1_800)));
    deterministic::Runner::new(config).start(|context| async move {
        let mut cluster = Cluster::new(context).await;
        for index in (0..VALIDATORS).filter(|&i| Some(i) != crashed) {
            cluster.start(index).await;
        }
        cluster.wait_for_shares().await;
        let pkg = cluster.stores[0]
            .snapshot()
            .unwrap()
            .value(&keys::pkg())
            .unwrap()
            .expect("PKG ready on chain");
        assert_eq!(pkg.threshold, 3);
        assert_eq!(pkg.dealers.len(), 3, "exactly a quorum of logs combined");
        if let Some(crashed) = crashed {
            let absent = Address::from(cluster.signers[crashed].public_key());
            assert!(!pkg.dealers.contains(&absent));
        }
        let shares = cluster.live_shares();
        assert_eq!(shares.len(), VALIDATORS - usize::from(crashed.is_some()));
        threshold_math::assert_consistent(&pkg.public_polynomial, &shares);

        if let Some(crashed) = crashed {
            cluster.start(crashed).await;
            cluster.wait_for_shares().await;
            let node = cluster.nodes[crashed].as_ref().unwrap();
            assert_eq!(
                node.shares.revealed(),
                Some(true),
                "its share came from reveals"
            );
            threshold_math::assert_consistent(&pkg.public_polynomial, &cluster.live_shares());
        }
        cluster.assert_agreement(&(0..VALIDATORS).collect::<Vec<_>>());
    });
}

impl Cluster {
    /// Waits until every running validator holds its PKG share.
    async fn wait_for_shares(&self) {
        let deadline = self.context.current() + Duration::from_secs(120);
        while self.honest().any(|node| !node.shares.is_ready()) {
            assert!(
                self.context.current() < deadline,
                "the DKG did not complete in time"
            );
            self.context.sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every running validator's share (x, big-endian scalar), checked against its store's
    /// public polynomial.
    fn live_shares(&self) -> Vec<(u32, [u8; 32])> {
        self.honest()
            .map(|node| {
                let (x, share) = node.shares.master_share().unwrap();
                (x, *share)
            })
            .collect()
    }
}

/// Test-only threshold arithmetic: nothing in the node ever combines shares.
mod threshold_math {
    use commonware_codec::{Copying, Decode};
    use commonware_cryptography::bls12381::primitives::group::{G1, Scalar, ScalarReadCfg};
    use commonware_math::{
        algebra::{Additive, CryptoGroup},
        poly::Interpolator,
    };
    use commonware_parallel::Sequential;
    use commonware_utils::ordered::Map;
    use medchain_types::G1Point;

    fn scalar(bytes: &[u8; 32]) -> Scalar {
        Scalar::decode_cfg(Copying(&bytes[..]), &ScalarReadCfg::RejectZero).unwrap()
    }

    /// Each share lies on the public polynomial (g·s_x = Σ C_j x^j), and every `t` of them
    /// interpolate to the secret whose public key is P_pub.
    pub fn assert_consistent(polynomial: &[G1Point], shares: &[(u32, [u8; 32])]) {
        let coefficients: Vec<G1> = polynomial
            .iter()
            .map(|point| G1::decode_cfg(Copying(&point.0[..]), &()).unwrap())
            .collect();
        for (x, share) in shares {
            let x_scalar = Scalar::from_u64(u64::from(*x));
            let mut power = Scalar::from_u64(1);
            let mut expected = G1::zero();
            for coefficient in &coefficients {
                expected += &(*coefficient * &power);
                power *= &x_scalar;
            }
            assert_eq!(
                G1::generator() * &scalar(share),
                expected,
                "share {x} is off the polynomial"
            );
        }
        let t = coefficients.len();
        for skip in 0..shares.len() {
            let subset: Vec<_> = shares
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, share)| share)
                .take(t)
                .collect();
            if subset.len() < t {
                continue;
            }
            let interpolator = Interpolator::new(
                subset
                    .iter()
                    .map(|(x, _)| (*x, Scalar::from_u64(u64::from(*x)))),
            );
            let evaluations: Map<u32, Scalar> =
                Map::from_iter_dedup(subset.iter().map(|(x, share)| (*x, scalar(share))));
            let secret = interpolator.interpolate(&evaluations, &Sequential).unwrap();
            assert_eq!(
                G1::generator() * &secret,
                coefficients[0],
                "{t} shares do not interpolate to P_pub's secret"
            );
        }
    }
}

#[test]
fn the_validators_dkg_sets_up_the_threshold_pkg() {
    for seed in 0..env_number("MEDCHAIN_SIM_SEEDS", 20).min(5) {
        run_dkg(seed, None);
    }
}

#[test]
fn the_dkg_completes_with_a_validator_crashed_from_the_start() {
    for seed in 0..env_number("MEDCHAIN_SIM_SEEDS", 20).min(5) {
        run_dkg(seed, Some(1));
    }
}

// The MED chain (issue 13, S3-dual, S3-supervise): every validator mines at a low
// difficulty; SUP blocks checkpoint Mblocks; checkpointed releases become SUP records.

/// A low difficulty: the four simulated miners find an Mblock every few hundred milliseconds
/// at first, and retargeting slows them toward one a second.
const MED_PARAMS: MedParams = MedParams {
    target_interval_ms: 1_000,
    initial_difficulty: 200,
    min_difficulty: 100,
    retarget_window: 8,
};

/// Each simulated miner tries 50 nonces every 10 ms of simulated time (5,000 a second).
const SIM_PACE: miner::Pace = miner::Pace::Fixed {
    attempts: 50,
    rest: Duration::from_millis(10),
};

impl Cluster {
    fn med(&self, index: usize) -> Arc<MedService> {
        self.nodes[index]
            .as_ref()
            .and_then(|node| node.med.clone())
            .expect("a running MED validator")
    }

    fn now_ms(&self) -> u64 {
        self.context
            .current()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    /// The workload's doctor releases a record with `content` for each of `patients`, and its
    /// hospital's desk seals them into one batch (checking each signature against the
    /// committed state of validator 0). Returns the batch and the records' ids.
    fn sealed_batch(
        &self,
        workload: &Workload,
        patients: &[Actor],
        content: &[u8],
    ) -> (SignedBatch, Vec<RecordId>) {
        let chain_id = &self.genesis.chain_id;
        let doctor_key = medchain_types::emergency::vouching_key_from(&workload.doctor.key);
        let releases: Vec<(TxMr, medchain_types::BlsSignature)> = patients
            .iter()
            .map(|patient| {
                let tx = TxMr {
                    doctor: workload.doctor.address,
                    patient: patient.address,
                    record_hash: ContentHash::of(content),
                    issued_at_ms: self.now_ms(),
                };
                let signature = aggregate::sign_release(chain_id, &doctor_key, &tx);
                (tx, signature)
            })
            .collect();
        let records = releases
            .iter()
            .map(|(tx, _)| tx.record_id(chain_id))
            .collect();
        let desk = HospitalDesk::of(&Workload::hospital());
        let snapshot = self.stores[0].snapshot().unwrap();
        let batch = aggregate::seal_batch(
            chain_id,
            &medchain_types::emergency::vouching_key_from(&desk.actor.key),
            desk.actor.address,
            releases,
            Vec::new(),
            &medchain_state::med::StateSigners::new(&snapshot, self.now_ms()),
        )
        .unwrap();
        (batch, records)
    }

    /// Waits until `done` holds for every running validator.
    async fn wait_until(&self, what: &str, done: impl Fn(&Node) -> bool) {
        let deadline = self.context.current() + Duration::from_secs(120);
        while !self.honest().all(&done) {
            assert!(self.context.current() < deadline, "{what}: not in time");
            self.context.sleep(Duration::from_millis(100)).await;
        }
    }

    /// An Mblock on validator 0's best tip carrying `body`, mined at the difficulty
    /// retargeting requires there, by the stranger.
    fn mine_on_best(&self, body: MblockBody) -> Mblock {
        let status = self.med(0).status().unwrap();
        let best = status.best.hash.parse::<medchain_types::TxId>().unwrap().0;
        let parent = self.med(0).block(&best).unwrap().unwrap().header;
        let difficulty = status.difficulty;
        let mut header = MblockHeader {
            height: parent.height + 1,
            parent: parent.hash(),
            tx_root: body.item_root(&self.genesis.chain_id),
            body_hash: body.hash(),
            timestamp_ms: self.now_ms(),
            difficulty,
            miner: Address::from(self.signers[VALIDATORS].public_key()),
            nonce: 0,
        };
        assert!(pow::mine(&mut header, u64::MAX));
        Mblock { header, body }
    }
}

/// Whether `node` holds `record` on SUP as a record mined on MED.
fn imported(node: &Node, record: &RecordId) -> bool {
    let state = node.chain.store().snapshot().unwrap();
    state
        .value(&keys::record(record))
        .unwrap()
        .is_some_and(|value| {
            matches!(
                value.origin,
                medchain_state::values::RecordOrigin::Mined { .. }
            )
        })
}

fn run_med(seed: u64) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(1_800)));
    deterministic::Runner::new(config).start(|context| async move {
        let mut cluster = Cluster::with_med(context, MED_PARAMS).await;
        for index in 0..VALIDATORS {
            cluster.start(index).await;
        }
        let mut workload = Workload::new();
        cluster.submit_and_wait(workload.register()).await;
        cluster.submit_and_wait(workload.approve()).await;
        cluster.submit_and_wait(workload.enrol()).await;
        cluster.submit_and_wait(workload.license()).await;
        cluster.submit_and_wait(workload.vouching_keys()).await;

        // A hospital batch submitted to one validator reaches every miner, lands in an
        // Mblock, is checkpointed by a SUP block, and its records become SUP records.
        let patients = workload.patients.clone();
        let (batch, records) = cluster.sealed_batch(&workload, &patients[..3], b"EMR 1");
        let root = cluster.med(0).submit_batch(batch.clone(), true).unwrap();
        assert_eq!(root, batch.batch.root(&cluster.genesis.chain_id));
        assert_eq!(cluster.med(0).submit_batch(batch, true).unwrap(), root);
        cluster
            .wait_until("records imported on SUP", |node| {
                records.iter().all(|record| imported(node, record))
            })
            .await;
        cluster
            .wait_until("records final on MED", |node| {
                let med = node.med.as_ref().unwrap();
                records
                    .iter()
                    .all(|record| matches!(med.record(record), Ok(Some((_, true)))))
            })
            .await;
        for index in 0..VALIDATORS {
            let status = cluster.med(index).status().unwrap();
            assert!(status.mining && status.best.height > 0, "{status:?}");
            assert_eq!(status.pending_batches, 0, "the included batch stays pooled");
        }

        // The same hEMR for the same patient again, under a new htxM: MED mines and SUP
        // checkpoints it, but SUP's release rules refuse it at import — so it is never
        // reported final, though its Mblock is checkpointed.
        let (again, again_records) = cluster.sealed_batch(&workload, &patients[..1], b"EMR 1");
        assert_ne!(again_records[0], records[0]);
        cluster.med(0).submit_batch(again, true).unwrap();
        cluster
            .wait_until("the repeated release checkpointed", |node| {
                let med = node.med.as_ref().unwrap();
                let checkpointed = med.status().unwrap().checkpointed.height;
                matches!(med.record(&again_records[0]),
                    Ok(Some((inclusion, false))) if inclusion.header.height <= checkpointed)
            })
            .await;
        assert!(
            cluster
                .honest()
                .all(|node| !imported(node, &again_records[0]))
        );

        // A stranger gossips an Mblock whose aggregate signature is not the batch's: refused
        // by every validator. The same Mblock with the right signature is taken.
        let mut stranger = cluster.channels(VALIDATORS).await;
        let (mut blocks, _requests) = stranger.swap_remove(channel::MED_BLOCKS as usize);
        let (second, second_records) = cluster.sealed_batch(&workload, &patients[3..5], b"EMR 2");
        let (other, _) = cluster.sealed_batch(&workload, &patients[5..6], b"EMR 3");
        let forged = cluster.mine_on_best(MblockBody {
            batches: vec![second.batch.clone()],
            signature: Some(other.signature),
        });
        let announce = |block: &Mblock| {
            med_service::wire::BlockMessage::Block(Box::new(block.clone())).encode()
        };
        blocks.send(Recipients::All, announce(&forged), false);
        cluster.context.sleep(Duration::from_secs(3)).await;
        for index in 0..VALIDATORS {
            let med = cluster.med(index);
            assert!(
                med.block(&forged.header.hash()).unwrap().is_none(),
                "validator {index} took an Mblock with a bad aggregate"
            );
        }
        // Mined on the tip of now: the one above may be below a checkpoint by now.
        let honest = cluster.mine_on_best(MblockBody {
            batches: vec![second.batch.clone()],
            signature: Some(second.signature),
        });
        blocks.send(Recipients::All, announce(&honest), false);
        cluster
            .wait_until("the honest stranger's Mblock taken", |node| {
                let med = node.med.as_ref().unwrap();
                med.block(&honest.header.hash()).unwrap().is_some()
            })
            .await;
        // Its Mblock may lose a race at its height; the batch then goes through the pool (a
        // batch already on the best chain is refused as such).
        match cluster.med(0).submit_batch(second, true) {
            Ok(_) | Err(med_service::BatchRefused::AlreadyOnMed(_)) => {}
            Err(refused) => panic!("the second batch refused: {refused}"),
        }

        // A miner crashes and restarts from its store on disk: it keeps its Mblock tree and
        // goes on following (and mining) the chain.
        let before = cluster.med(3).status().unwrap();
        cluster.crash(3);
        cluster.context.sleep(Duration::from_secs(5)).await;
        cluster.start(3).await;
        let after = cluster.med(3).status().unwrap();
        assert!(
            after.best.height >= before.best.height,
            "{after:?} < {before:?}"
        );
        assert!(after.checkpointed.height >= before.checkpointed.height);
        assert!(
            cluster
                .med(3)
                .block(&honest.header.hash())
                .unwrap()
                .is_some()
        );
        let target = cluster.med(0).status().unwrap().best.height + 2;
        cluster
            .wait_until("the restarted miner follows", |node| {
                node.med.as_ref().unwrap().status().unwrap().best.height >= target
            })
            .await;
        cluster
            .wait_until("the stranger's records imported on SUP", |node| {
                second_records.iter().all(|record| imported(node, record))
            })
            .await;
        let top = (0..VALIDATORS).map(|i| cluster.height(i)).max().unwrap();
        cluster.wait_for_height(top).await;
        cluster.assert_agreement(&[0, 1, 2, 3]);

        // A forged aggregate sent again and again costs validator 0 one verification (the
        // refusal is remembered) and the stranger its MED messages to it for a while: a valid
        // Mblock it announces next is not heard.
        let (third, _) = cluster.sealed_batch(&workload, &patients[6..7], b"EMR 4");
        let forged = cluster.mine_on_best(MblockBody {
            batches: vec![third.batch.clone()],
            signature: Some(other.signature),
        });
        let validator = cluster.signers[0].public_key();
        for _ in 0..med_service::MAX_STRIKES {
            blocks.send(Recipients::One(validator.clone()), announce(&forged), false);
            cluster.context.sleep(Duration::from_millis(500)).await;
        }
        cluster.context.sleep(Duration::from_secs(1)).await;
        let unheard = cluster.mine_on_best(MblockBody {
            batches: vec![third.batch.clone()],
            signature: Some(third.signature),
        });
        blocks.send(Recipients::One(validator), announce(&unheard), false);
        cluster.context.sleep(Duration::from_secs(3)).await;
        assert!(
            cluster
                .med(0)
                .block(&unheard.header.hash())
                .unwrap()
                .is_none(),
            "validator 0 heard the stranger after {} forged aggregates",
            med_service::MAX_STRIKES
        );

        // Bytes that are no MED message get the stranger muted by everyone and its connection
        // cut by no one: a MED refusal never reaches the p2p blocker, whose block would cut
        // SUP consensus too (two honest validators misjudged that way left SUP without a
        // quorum once).
        blocks.send(Recipients::All, vec![0xff, 1, 2, 3], false);
        cluster.context.sleep(Duration::from_secs(2)).await;
        let blocked = cluster.oracle.blocked().await.unwrap();
        assert!(
            blocked.is_empty(),
            "MED refusals blocked peers: {blocked:?}"
        );
    });
}

#[test]
fn med_blocks_are_mined_checkpointed_and_imported() {
    run_every_seed_with(run_med, "Med");
}
