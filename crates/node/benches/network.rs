//! `cargo bench -p medchain-node --bench network`: a 4-validator network on loopback (real
//! authenticated TCP p2p between four in-process validators, each on its own tokio runtime,
//! redb state on disk) driven with signed registry, record, consent and access transactions.
//!
//! Prints sustained finalized tx/s, finality latency (submission to commit, p50/p99), block
//! statistics (heights finalized per second; node 0's consensus views entered, nullified and
//! timed out, from its simplex voter's metrics), and this machine's ed25519
//! batch-verification bound for 4 validators (verifications/s per core × cores ÷ 4), measured
//! in the same run (issue 2 §7).
//!
//! Environment: `MEDCHAIN_BENCH_TXS` (timed transactions, default 40000),
//! `MEDCHAIN_BENCH_INFLIGHT` (most unfinalized submitted transactions, default 4000: at the
//! 10,000 tx/s target a second's latency allows about 6,000; each sender's transactions go to one
//! validator, and at most 1,024 of a sender's may wait, so keep it under ≈ 3 × 16 × 1,024),
//! `MEDCHAIN_BENCH_FLOOD` (throwaway keys flooding every validator with gapped nonces 1..=64
//! during the timed run, issue 7 §1; default 0: no flood), `MEDCHAIN_BENCH_FEES` (`free`, the
//! default: a chain without tokens; `default`: every transaction pays the least fee of a
//! 10 + 1-per-byte schedule and every actor is funded at genesis, issue 11 §7),
//! `MEDCHAIN_BENCH_METRICS` (a file to write node 0's metrics to at the end),
//! `MEDCHAIN_BENCH_WORKLOAD` (`mix`, the default; `transfers`: every timed transaction is a
//! token transfer of 1 from one patient's coin to the next patient, with change — S1-utxo),
//! `MEDCHAIN_BENCH_CACHE_MIB` (each validator's redb page cache, `[storage] cache_mib`;
//! default the node's, 256 MiB).

/// The `medchain` binary's allocator, so that the bench measures what a validator runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use commonware_codec::EncodeSize as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{Metrics as _, Runner as _, Supervisor as _, tokio};
use medchain_node::{
    config::{ApiConfig, LoadedConfig, NodeConfig, P2pConfig, PeerConfig, StorageSettings},
    engine::Tuning,
    run::{Running, launch, runtime_for},
};
use medchain_state::testkit::{self, Actor};
use medchain_types::{
    Address, Allocation, ContentHash, Event, Expiry, FeeSchedule, Genesis, OrgKind, OrgState,
    PrivateKey, Purpose, RecordId, StakingParams, TokenGenesis, Transaction, TxId, ValidatorInfo,
    token::{OutPoint, TxOutput},
    verify_batch,
};
use std::{
    collections::HashMap,
    net::{SocketAddr, TcpListener},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

const VALIDATORS: usize = 4;
const HOSPITAL: &str = "Bench Hospital";
const DOCTORS: u64 = 32;
const RESEARCHERS: u64 = 16;
const PATIENTS: u64 = 2_000;
const CHUNK: usize = 512;
/// What each actor holds at genesis on a chain with tokens: far more than any run spends.
const FUNDS: u64 = 1_000_000_000;
/// Genesis coins per patient in the transfers workload: each transfer spends its own coin, since
/// admission refuses an input whose creating transfer is not finalized yet.
const COINS_PER_PATIENT: usize = 20;

/// Fees on or off (`MEDCHAIN_BENCH_FEES`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fees {
    Free,
    Default,
}

/// What the timed run sends (`MEDCHAIN_BENCH_WORKLOAD`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// Record releases, consent grants and access requests, in turn.
    Mix,
    /// Token transfers between patients.
    Transfers,
}

fn env_choice<T: Copy>(name: &str, choices: &[(&str, T)]) -> T {
    let Ok(value) = std::env::var(name) else {
        return choices[0].1;
    };
    choices
        .iter()
        .find(|(text, _)| *text == value)
        .map(|(_, choice)| *choice)
        .unwrap_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(text, _)| *text).collect();
            panic!("{name}={value}: expected one of {names:?}")
        })
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address")
}

/// The token economy of the run: none (`free` mixes, as before tokens), or every actor and
/// validator funded, with the fee schedule `fees` (a `free` transfer run still needs coins).
/// Patients hold one coin each (`COINS_PER_PATIENT` in the transfers workload), numbered in
/// allocation order from `OutPoint{genesis digest, 0}`.
fn tokens(
    fees: Fees,
    workload: Workload,
    people: &People,
    validators: &[Address],
) -> Option<TokenGenesis> {
    if fees == Fees::Free && workload == Workload::Mix {
        return None;
    }
    let funded = |address: Address, outputs: Vec<u64>| Allocation {
        address,
        balance: FUNDS,
        outputs,
        stake: 0,
    };
    let mut allocations: Vec<Allocation> = people
        .patients
        .iter()
        .map(|patient| {
            let coins = match workload {
                Workload::Transfers => COINS_PER_PATIENT,
                Workload::Mix => 1,
            };
            funded(patient.address, vec![FUNDS; coins])
        })
        .collect();
    allocations.extend(
        people
            .others()
            .chain(validators.iter().copied())
            .map(|address| funded(address, Vec::new())),
    );
    Some(TokenGenesis {
        fees: match fees {
            Fees::Free => FeeSchedule::FREE,
            Fees::Default => FeeSchedule {
                base: 10,
                per_byte: 1,
            },
        },
        block_reward: 10,
        max_supply: u64::MAX / 2,
        proposer_share_bps: 5_000,
        access_reward_default: 5,
        // One epoch for the whole run: the bench measures throughput, not epoch changes.
        staking: StakingParams {
            epoch_length: u64::MAX / 4,
            max_validators: VALIDATORS as u16,
            min_validators: 1,
            min_stake: 1,
            unbonding_epochs: 2,
            slash_bps: 1_000,
        },
        allocations,
    })
}

/// Four validator configurations sharing one genesis, in `dir`.
fn network(
    dir: &std::path::Path,
    fees: Fees,
    workload: Workload,
    people: &People,
) -> Vec<LoadedConfig> {
    let keys: Vec<PrivateKey> = (0..VALIDATORS as u64)
        .map(|i| PrivateKey::from_seed(5_000 + i))
        .collect();
    let validators: Vec<Address> = keys
        .iter()
        .map(|key| Address::from(key.public_key()))
        .collect();
    let genesis = Genesis {
        chain_id: testkit::chain_id(),
        genesis_time_ms: 0,
        regulator: testkit::address(testkit::REGULATOR_SEED),
        validators: keys
            .iter()
            .enumerate()
            .map(|(i, key)| ValidatorInfo {
                name: format!("hospital-{i}"),
                public_key: Address::from(key.public_key()),
            })
            .collect(),
        tokens: tokens(fees, workload, people, &validators),
        med: None,
    };
    let p2p: Vec<SocketAddr> = (0..VALIDATORS).map(|_| free_port()).collect();
    let peers: Vec<PeerConfig> = keys
        .iter()
        .zip(&p2p)
        .map(|(key, address)| PeerConfig {
            public_key: Address::from(key.public_key()),
            address: *address,
        })
        .collect();
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| LoadedConfig {
            config: NodeConfig {
                data_dir: dir.join(format!("node-{i}")),
                key_file: dir.join("unused.key"),
                genesis_file: dir.join("unused.json"),
                p2p: P2pConfig {
                    listen: p2p[i],
                    peers: peers.clone(),
                },
                api: ApiConfig {
                    listen: free_port(),
                },
                dkg: Default::default(),
                med: Default::default(),
                storage: StorageSettings {
                    cache_mib: env_usize(
                        "MEDCHAIN_BENCH_CACHE_MIB",
                        StorageSettings::default().cache_mib,
                    ),
                },
            },
            key,
            genesis: genesis.clone(),
        })
        .collect()
}

/// Starts each validator on its own runtime thread; returns their handles and runtime
/// contexts (to read their metrics).
fn start(configs: Vec<LoadedConfig>) -> Vec<(Running, tokio::Context)> {
    let (sender, receiver) = mpsc::channel();
    for (index, loaded) in configs.into_iter().enumerate() {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let runtime = runtime_for(&loaded).expect("runtime");
            runtime.start(|context| async move {
                // Any context of the runtime encodes the whole runtime's metrics.
                let metrics = context.child("bench");
                let running = launch(context, loaded, Tuning::default(), None)
                    .await
                    .expect("launch");
                sender.send((index, (running, metrics))).expect("report");
                futures::future::pending::<()>().await;
            });
        });
    }
    let mut nodes: Vec<(usize, (Running, tokio::Context))> = (0..VALIDATORS)
        .map(|_| receiver.recv().expect("validator started"))
        .collect();
    nodes.sort_by_key(|(index, _)| *index);
    nodes.into_iter().map(|(_, node)| node).collect()
}

/// Consensus progress of one validator, from its simplex voter's metrics.
#[derive(Clone, Copy, Debug, Default)]
struct Views {
    /// The view it is in.
    current: f64,
    /// Nullifications it has seen (views that finalized nothing).
    nullified: f64,
    /// Views it timed out in, for any reason.
    timed_out: f64,
}

impl Views {
    /// Reads the voter's `current_view` gauge and its `nullifications` and `timeouts`
    /// families from the Prometheus text of a runtime's metrics.
    fn read(context: &tokio::Context) -> Self {
        let mut views = Self::default();
        for line in context
            .encode()
            .lines()
            .filter(|line| !line.starts_with('#'))
        {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let (Some(name), Ok(value)) = (series.split('{').next(), value.parse::<f64>()) else {
                continue;
            };
            if name.ends_with("current_view") {
                views.current = views.current.max(value);
            } else if name.ends_with("nullifications_total") {
                views.nullified += value;
            } else if name.contains("voter") && name.ends_with("timeouts_total") {
                views.timed_out += value;
            }
        }
        views
    }

    fn since(self, start: Self) -> Self {
        Self {
            current: self.current - start.current,
            nullified: self.nullified - start.nullified,
            timed_out: self.timed_out - start.timed_out,
        }
    }
}

/// Everyone in the workload, their next nonces, and what each transaction must pay.
struct People {
    regulator: Actor,
    doctors: Vec<Actor>,
    researchers: Vec<Actor>,
    patients: Vec<Actor>,
    nonces: HashMap<Address, u64>,
    fees: FeeSchedule,
}

impl People {
    fn new() -> Self {
        Self {
            regulator: Actor::new(testkit::REGULATOR_SEED),
            doctors: (0..DOCTORS).map(|i| Actor::new(10_000 + i)).collect(),
            researchers: (0..RESEARCHERS).map(|i| Actor::new(20_000 + i)).collect(),
            patients: (0..PATIENTS).map(|i| Actor::new(30_000 + i)).collect(),
            nonces: HashMap::new(),
            fees: FeeSchedule::FREE,
        }
    }

    /// Everyone who signs but holds no coins: the regulator, doctors, researchers and the
    /// hospital's desk.
    fn others(&self) -> impl Iterator<Item = Address> + '_ {
        let desk = testkit::HospitalDesk::of(&testkit::org_name(HOSPITAL))
            .actor
            .address;
        std::iter::once(self.regulator.address)
            .chain(self.doctors.iter().map(|actor| actor.address))
            .chain(self.researchers.iter().map(|actor| actor.address))
            .chain(std::iter::once(desk))
    }

    /// Signs `payload` as `actor`'s next transaction, paying the least fee.
    fn sign(&mut self, actor: &Actor, payload: medchain_types::Payload) -> Transaction {
        let fee = self.fee_for(actor, &payload);
        let nonce = self.nonces.entry(actor.address).or_default();
        let tx = actor.sign_with_fee(*nonce, fee, payload).tx().clone();
        *nonce += 1;
        tx
    }

    fn fee_for(&self, actor: &Actor, payload: &medchain_types::Payload) -> u64 {
        least_fee(self.fees, actor, payload)
    }
}

/// The least fee `fees` asks of `payload` signed by `actor` (its size does not depend on the
/// fee or the nonce, both fixed-width).
fn least_fee(fees: FeeSchedule, actor: &Actor, payload: &medchain_types::Payload) -> u64 {
    if fees == FeeSchedule::FREE {
        return 0;
    }
    let probe = actor.sign_with_fee(0, 0, payload.clone());
    fees.min_fee(probe.tx().encode_size())
}

/// Submits transactions and watches node 0's committed blocks.
struct Driver {
    nodes: Vec<Running>,
    /// The validator each sender submits to: a client talks to one validator, so its
    /// transactions reach the others in nonce order by gossip, never ahead of it.
    home: HashMap<Address, usize>,
    next_height: u64,
    submitted: HashMap<TxId, Instant>,
    latencies: Vec<Duration>,
    finalized: usize,
    blocks: Vec<usize>,
    finalized_at: Vec<Instant>,
    /// CPU seconds spent in [`Driver::scan`].
    scan_cpu: f64,
}

impl Driver {
    /// Submits `txs` (each sender's in nonce order) to their senders' validators, spreading
    /// senders over the validators in order of first appearance.
    fn submit(&mut self, txs: &[Transaction]) {
        let mut by_node: Vec<Vec<Transaction>> = vec![Vec::new(); VALIDATORS];
        for tx in txs {
            let next = self.home.len() % VALIDATORS;
            let node = *self.home.entry(tx.body.sender).or_insert(next);
            by_node[node].push(tx.clone());
        }
        for (node, txs) in by_node.iter().enumerate() {
            self.admit(node, txs);
        }
    }

    fn admit(&mut self, node: usize, txs: &[Transaction]) {
        let mut rng = commonware_utils::sys_rng();
        let node = &self.nodes[node];
        for chunk in txs.chunks(CHUNK) {
            let now = Instant::now();
            for (tx, result) in chunk.iter().zip(node.chain.admit(&mut rng, chunk.to_vec())) {
                match result {
                    Ok(admission) => {
                        self.submitted.insert(admission.id, now);
                    }
                    Err(error) => panic!("{} refused: {error}", tx.body.payload.kind()),
                }
            }
        }
    }

    /// Reads newly committed blocks of node 0, timing the transactions it submitted. The CPU
    /// this takes is the bench's, not a validator's: it is counted apart.
    fn scan(&mut self) {
        let cpu_before = thread_cpu_seconds();
        let store = self.nodes[0].chain.store().clone();
        while let Some(block) = store.block_by_height(self.next_height).expect("store") {
            let now = Instant::now();
            for id in block.tx_ids() {
                if let Some(sent) = self.submitted.remove(id) {
                    self.latencies.push(now - sent);
                    self.finalized += 1;
                    self.finalized_at.push(now);
                }
            }
            self.blocks.push(block.txs().len());
            self.next_height += 1;
        }
        self.scan_cpu += thread_cpu_seconds() - cpu_before;
    }

    /// Submits `txs` and waits until all are committed; returns their events.
    fn settle(&mut self, txs: Vec<Transaction>) -> Vec<Vec<Event>> {
        let ids: Vec<TxId> = txs.iter().map(Transaction::id).collect();
        self.submit(&txs);
        let deadline = Instant::now() + Duration::from_secs(120);
        // Every validator must have committed them: the next phase is admitted (and dry-run)
        // by any of them.
        let everywhere = |nodes: &[Running]| {
            nodes.iter().all(|node| {
                let store = node.chain.store();
                ids.iter()
                    .all(|id| store.receipt(id).ok().flatten().is_some())
            })
        };
        while !self.submitted.is_empty() || !everywhere(&self.nodes) {
            self.scan();
            assert!(
                Instant::now() < deadline,
                "setup transactions not finalized"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let store = self.nodes[0].chain.store();
        ids.iter()
            .map(|id| store.receipt(id).expect("store").expect("receipt").events)
            .collect()
    }

    fn reset_stats(&mut self) {
        self.latencies.clear();
        self.blocks.clear();
        self.finalized = 0;
        self.finalized_at.clear();
        self.scan_cpu = 0.0;
    }
}

/// Organisations, members and one released record per patient (not timed).
fn setup(driver: &mut Driver, people: &mut People) -> Vec<RecordId> {
    let hospital = testkit::org_name(HOSPITAL);
    let lab = testkit::org_name("Bench Lab");
    let (founder, lead) = (people.doctors[0].clone(), people.researchers[0].clone());
    let regulator = people.regulator.clone();
    let txs = vec![
        people.sign(&founder, testkit::register(&hospital, OrgKind::Hospital)),
        people.sign(&lead, testkit::register(&lab, OrgKind::Research)),
    ];
    driver.settle(txs);
    let txs = vec![
        people.sign(&regulator, testkit::set_state(&hospital, OrgState::Audited)),
        people.sign(&regulator, testkit::set_state(&lab, OrgState::Audited)),
    ];
    driver.settle(txs);
    let mut joins = Vec::new();
    for doctor in people.doctors.clone().iter().skip(1) {
        joins.push(people.sign(doctor, testkit::join(&hospital, &founder, doctor)));
    }
    for researcher in people.researchers.clone().iter().skip(1) {
        joins.push(people.sign(researcher, testkit::join(&lab, &lead, researcher)));
    }
    driver.settle(joins);
    // Releasing needs a licence: the hospital's desk joins and enrols, every doctor enrols,
    // then the desk licenses them.
    let desk = testkit::HospitalDesk::of(&hospital);
    let mut enrolments: Vec<Transaction> = desk
        .opening(&hospital, &founder)
        .into_iter()
        .map(|payload| people.sign(&desk.actor, payload))
        .collect();
    for doctor in people.doctors.clone().iter() {
        enrolments.push(people.sign(doctor, testkit::enrol_doctor(doctor)));
    }
    driver.settle(enrolments);
    let licences = people
        .doctors
        .clone()
        .iter()
        .map(|doctor| {
            let licence = testkit::issue_licence(&testkit::doctor_identity(doctor), u64::MAX);
            people.sign(&desk.actor, licence)
        })
        .collect();
    driver.settle(licences);
    let mut releases = Vec::new();
    for (i, patient) in people.patients.clone().iter().enumerate() {
        let doctor = people.doctors[i % people.doctors.len()].clone();
        let hash = ContentHash::of(&(i as u64).to_be_bytes());
        releases.push(people.sign(&doctor, testkit::release(&doctor, &patient.address, &hash)));
    }
    driver
        .settle(releases)
        .iter()
        .map(|events| match &events[0] {
            Event::RecordReleased { record, .. } => *record,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// The timed load: a round-robin mix of record releases, consent grants and access requests.
fn load(people: &mut People, records: &[RecordId], count: usize) -> Vec<Transaction> {
    let lab = people.researchers[0].address;
    (0..count)
        .map(|i| match i % 3 {
            0 => {
                let doctor = people.doctors[i % people.doctors.len()].clone();
                let patient = people.patients[i % people.patients.len()].address;
                let hash = ContentHash::of(format!("timed record {i}").as_bytes());
                people.sign(&doctor, testkit::release(&doctor, &patient, &hash))
            }
            1 => {
                let p = i % people.patients.len();
                let patient = people.patients[p].clone();
                let grant = testkit::grant(
                    &lab,
                    &[records[p]],
                    Purpose::Research,
                    Expiry::AtHeight(u64::MAX),
                );
                people.sign(&patient, grant)
            }
            _ => {
                let researcher = people.researchers[i % people.researchers.len()].clone();
                people.sign(
                    &researcher,
                    testkit::request(&records[i % records.len()], Purpose::Research),
                )
            }
        })
        .collect()
}

/// The timed transfers: patient i pays 1 token to patient i+1 from one of its genesis coins,
/// with the change back to itself; round r spends each patient's coin r, so no transfer waits
/// for another to finalize.
fn transfers(people: &mut People, genesis_digest: TxId, count: usize) -> Vec<Transaction> {
    let patients = people.patients.clone();
    assert!(
        count <= patients.len() * COINS_PER_PATIENT,
        "at most {} transfers",
        patients.len() * COINS_PER_PATIENT
    );
    (0..count)
        .map(|i| {
            let (p, round) = (i % patients.len(), i / patients.len());
            let index = u16::try_from(p * COINS_PER_PATIENT + round)
                .expect("fewer genesis coins than outpoint indices");
            let coin = OutPoint {
                tx: genesis_digest,
                index,
            };
            let next = patients[(p + 1) % patients.len()].address;
            let pay = |change| {
                testkit::transfer(
                    &[coin],
                    0,
                    &[
                        TxOutput::to_key(1, next),
                        TxOutput::to_key(change, patients[p].address),
                    ],
                )
            };
            // The fee does not depend on the values: price the transfer, then make it exact.
            let fee = people.fee_for(&patients[p], &pay(FUNDS - 1));
            people.sign(&patients[p], pay(FUNDS - 1 - fee))
        })
        .collect()
}

/// ed25519 batch verifications per second on one core, over these transactions.
fn batch_verification_rate(txs: &[Transaction]) -> f64 {
    let mut rng = commonware_utils::sys_rng();
    let chain = testkit::chain_id();
    let batch = &txs[..txs.len().min(1024)];
    let started = Instant::now();
    let mut verified = 0usize;
    while started.elapsed() < Duration::from_secs(2) {
        assert!(
            verify_batch(&mut rng, &chain, batch)
                .iter()
                .all(Result::is_ok)
        );
        verified += batch.len();
    }
    verified as f64 / started.elapsed().as_secs_f64()
}

/// What a flood did: junk transactions offered to validators, how many were admitted (a
/// better-placed one may evict a worse one), and the most one validator's mempool held.
struct FloodReport {
    offered: usize,
    accepted: usize,
    peak_held: usize,
}

/// Starts flooding every validator with gapped junk from `keys` throwaway keys (nonces 1..=64,
/// never 0, so none can execute): signed up front, then offered in batches until `stop`.
/// On a chain with fees the junk names the least fee, so what refuses it is that its senders
/// hold nothing.
fn flood(
    nodes: &[Running],
    keys: u64,
    fees: FeeSchedule,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<FloodReport> {
    let junk: Vec<Transaction> = (0..keys)
        .flat_map(|key| {
            let actor = Actor::new(9_000_000 + key);
            (1..=64).map(move |nonce| {
                let name = testkit::org_name(&format!("Junk {key} {nonce}"));
                let payload = testkit::register(&name, OrgKind::Hospital);
                let fee = least_fee(fees, &actor, &payload);
                actor.sign_with_fee(nonce, fee, payload).tx().clone()
            })
        })
        .collect();
    let chains: Vec<_> = nodes.iter().map(|node| node.chain.clone()).collect();
    std::thread::spawn(move || {
        let mut rng = commonware_utils::sys_rng();
        let mut report = FloodReport {
            offered: 0,
            accepted: 0,
            peak_held: 0,
        };
        for chunk in junk.chunks(CHUNK) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            for chain in &chains {
                let results = chain.admit(&mut rng, chunk.to_vec());
                report.offered += results.len();
                report.accepted += results.iter().filter(|r| r.is_ok()).count();
                report.peak_held = report.peak_held.max(chain.mempool().len());
            }
        }
        report
    })
}

/// Resident memory of this process from `/proc/self/status`: (VmRSS, VmHWM) in MiB. The four
/// validators share the process, so a validator's share is a quarter of it.
fn resident_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Linux reports `/proc` CPU times in USER_HZ ticks, fixed at 100 per second by its ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU time from a `/proc/.../stat` file (fields 14 and 15).
fn cpu_seconds(stat_file: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_file).unwrap_or_default();
    // The command name (field 2) is parenthesised and may hold spaces: count after it.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |field: usize| fields.get(field - 3).and_then(|t| t.parse::<f64>().ok());
    match (ticks(14), ticks(15)) {
        (Some(user), Some(system)) => (user + system) / TICKS_PER_SECOND,
        _ => f64::NAN,
    }
}

/// CPU time of the whole process, exited threads included.
fn process_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat")
}

/// CPU time of the calling thread.
fn thread_cpu_seconds() -> f64 {
    cpu_seconds("/proc/thread-self/stat")
}

/// One run's figures, as one line of the table `scripts/bench-network` gathers.
struct Row {
    sustained: f64,
    whole: f64,
    p50: Duration,
    p99: Duration,
    blocks: usize,
    count: usize,
    bound: f64,
    rss: f64,
    hwm: f64,
    cpu_per_tx: f64,
    /// Heights node 0 committed in the timed run, empty blocks included.
    heights: usize,
    /// Node 0's consensus views over the timed run.
    views: Views,
    elapsed: Duration,
}

impl Row {
    const HEADER: &str = "columns: sustained_tx/s whole_tx/s p50_ms p99_ms blocks mean_txs bound_tx/s sustained/bound rss_MiB hwm_MiB rss/validator_MiB cpu_us/tx/validator projected_1core_tx/s heights heights/s views nullified timed_out";

    fn mean_block(&self) -> f64 {
        self.count as f64 / self.blocks.max(1) as f64
    }

    fn projected(&self) -> f64 {
        1.0 / self.cpu_per_tx
    }

    fn line(&self) -> String {
        format!(
            "row: {:.0} {:.0} {} {} {} {:.0} {:.0} {:.3} {:.0} {:.0} {:.0} {:.1} {:.0} {} {:.2} {:.0} {:.0} {:.0}",
            self.sustained,
            self.whole,
            self.p50.as_millis(),
            self.p99.as_millis(),
            self.blocks,
            self.mean_block(),
            self.bound,
            self.sustained / self.bound,
            self.rss,
            self.hwm,
            self.rss / VALIDATORS as f64,
            self.cpu_per_tx * 1e6,
            self.projected(),
            self.heights,
            self.heights as f64 / self.elapsed.as_secs_f64(),
            self.views.current,
            self.views.nullified,
            self.views.timed_out,
        )
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let count = env_usize("MEDCHAIN_BENCH_TXS", 40_000);
    let max_in_flight = env_usize("MEDCHAIN_BENCH_INFLIGHT", 4_000);
    let flood_keys = env_usize("MEDCHAIN_BENCH_FLOOD", 0) as u64;
    let fees = env_choice(
        "MEDCHAIN_BENCH_FEES",
        &[("free", Fees::Free), ("default", Fees::Default)],
    );
    let workload = env_choice(
        "MEDCHAIN_BENCH_WORKLOAD",
        &[("mix", Workload::Mix), ("transfers", Workload::Transfers)],
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut people = People::new();

    let configs = network(dir.path(), fees, workload, &people);
    let genesis = configs[0].genesis.clone();
    people.fees = genesis.fee_schedule();
    let (nodes, contexts): (Vec<Running>, Vec<tokio::Context>) = start(configs).into_iter().unzip();
    let mut driver = Driver {
        nodes,
        home: HashMap::new(),
        next_height: 1,
        submitted: HashMap::new(),
        latencies: Vec::new(),
        finalized: 0,
        blocks: Vec::new(),
        finalized_at: Vec::new(),
        scan_cpu: 0.0,
    };
    let txs = match workload {
        Workload::Mix => {
            eprintln!(
                "setting up organisations, {DOCTORS} doctors, {RESEARCHERS} researchers, {PATIENTS} patients..."
            );
            let records = setup(&mut driver, &mut people);
            load(&mut people, &records, count)
        }
        Workload::Transfers => transfers(&mut people, TxId(genesis.digest()), count),
    };
    eprintln!("measuring ed25519 batch verification (network idle)...");
    let per_core = batch_verification_rate(&txs);

    eprintln!("timed run: {count} transactions, at most {max_in_flight} in flight...");
    driver.scan();
    driver.reset_stats();
    let stop_flood = Arc::new(AtomicBool::new(false));
    let flooding = (flood_keys > 0).then(|| {
        eprintln!("signing the flood: {flood_keys} keys x 64 gapped nonces...");
        flood(&driver.nodes, flood_keys, people.fees, stop_flood.clone())
    });
    let cpu_at_start = process_cpu_seconds();
    let views_at_start = Views::read(&contexts[0]);
    let started = Instant::now();
    let mut next = 0;
    let mut reported = started;
    // Resident memory when a quarter, half, three quarters and all of the run is finalized.
    let mut memory: Vec<(usize, (f64, f64))> = Vec::new();
    while driver.finalized < count {
        if reported.elapsed() > Duration::from_secs(10) {
            reported = Instant::now();
            eprintln!(
                "  {} of {count} finalized, height {}, {} waiting",
                driver.finalized,
                driver.next_height.saturating_sub(1),
                driver.submitted.len()
            );
        }
        if next < txs.len() && driver.submitted.len() < max_in_flight {
            let end = (next + CHUNK * VALIDATORS).min(txs.len());
            driver.submit(&txs[next..end]);
            next = end;
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
        driver.scan();
        let quarters = (4 * driver.finalized / count).min(4);
        while memory.len() < quarters {
            memory.push((25 * (memory.len() + 1), resident_mib()));
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "timed run did not finish"
        );
    }
    let elapsed = started.elapsed();
    let validator_cpu = process_cpu_seconds() - cpu_at_start - driver.scan_cpu;
    let views = Views::read(&contexts[0]).since(views_at_start);
    if let Some(path) = std::env::var_os("MEDCHAIN_BENCH_METRICS") {
        std::fs::write(path, contexts[0].encode()).expect("MEDCHAIN_BENCH_METRICS: writable");
    }
    stop_flood.store(true, Ordering::Relaxed);
    let flood_report = flooding.map(|handle| handle.join().expect("flood thread"));
    let mut latencies = driver.latencies.clone();
    latencies.sort();
    let at = |fraction: f64| driver.finalized_at[((count as f64) * fraction) as usize] - started;
    let bound = per_core * cores as f64 / VALIDATORS as f64;
    let (rss, hwm) = memory.last().map_or((f64::NAN, f64::NAN), |(_, m)| *m);
    // The validators do the same work (each verifies, executes and commits every block; the
    // leader and the clients' validator rotate), so each spent a quarter of the process's CPU.
    let cpu_per_tx = validator_cpu / VALIDATORS as f64 / count as f64;
    let row = Row {
        sustained: (0.8 * count as f64) / (at(0.9) - at(0.1)).as_secs_f64(),
        whole: count as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        blocks: driver.blocks.iter().filter(|&&n| n > 0).count(),
        count,
        bound,
        rss,
        hwm,
        cpu_per_tx,
        heights: driver.blocks.len(),
        views,
        elapsed,
    };
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| validators | {VALIDATORS} in-process, authenticated TCP p2p on loopback, redb on disk |"
    );
    println!("| machine cores | {cores} |");
    let mix = match workload {
        Workload::Mix => "1/3 record release, 1/3 consent grant, 1/3 access request",
        Workload::Transfers => "token transfers, 1 input and 2 outputs (payment and change)",
    };
    println!("| timed transactions | {count} ({mix}), at most {max_in_flight} in flight |");
    println!(
        "| fees | {} |",
        match fees {
            Fees::Free => "none".to_string(),
            Fees::Default => format!(
                "the least of {} + {} per byte, every actor funded at genesis",
                people.fees.base, people.fees.per_byte
            ),
        }
    );
    if let Some(report) = &flood_report {
        println!(
            "| flood during the run | {flood_keys} throwaway keys x 64 gapped nonces: {} offered to the validators, {} admitted as queued (never gossiped; worse-placed ones evicted), at most {} transactions in one validator's mempool |",
            report.offered, report.accepted, report.peak_held
        );
    }
    println!("| wall time | {:.2} s |", elapsed.as_secs_f64());
    println!("| finalized tx/s (whole run) | {:.0} |", row.whole);
    println!(
        "| sustained finalized tx/s (10%–90%) | {:.0} |",
        row.sustained
    );
    println!("| finality latency p50 | {} ms |", row.p50.as_millis());
    println!("| finality latency p99 | {} ms |", row.p99.as_millis());
    println!(
        "| non-empty blocks | {} (mean {:.0} txs) |",
        row.blocks,
        row.mean_block()
    );
    println!(
        "| heights finalized (node 0) | {} in {:.1} s: {:.2} a second |",
        row.heights,
        elapsed.as_secs_f64(),
        row.heights as f64 / elapsed.as_secs_f64()
    );
    println!(
        "| consensus views (node 0) | {:.0} entered, {:.0} nullified, {:.0} timed out |",
        row.views.current, row.views.nullified, row.views.timed_out
    );
    println!("| ed25519 batch verification, one core | {per_core:.0} /s |");
    println!(
        "| verification bound for {VALIDATORS} validators ({cores} cores) | {bound:.0} tx/s (sustained is {:.2} of it) |",
        row.sustained / bound
    );
    for (percent, (rss, hwm)) in &memory {
        println!(
            "| resident memory at {percent} % finalized | VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB (process of {VALIDATORS} validators; ≈ {:.0} MiB each) |",
            rss / VALIDATORS as f64
        );
    }
    println!(
        "| CPU per finalized transaction, one validator | {:.1} µs (process CPU {validator_cpu:.1} s in the timed run, less the bench's block scan, ÷ {VALIDATORS} validators ÷ {count}) |",
        row.cpu_per_tx * 1e6
    );
    println!(
        "| one validator on one dedicated core (projection) | {:.0} tx/s |",
        row.projected()
    );
    println!();
    println!("{}", Row::HEADER);
    println!("{}", row.line());
    // Validators run on detached runtime threads; end the process rather than wait for them.
    std::process::exit(0);
}
