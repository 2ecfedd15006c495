//! Per-transaction cost of a validator for blocks of 10,000 mixed transactions (a quarter
//! each of release, store, grant and access request), on a state that grows by ~20,000 keys
//! a block: batch ed25519 verification of the block's transactions (the node's admission
//! verifier), applying them, `finish` (one tree update and the state root), and the durable
//! redb commit — of one block, or of a group of blocks in one `commit_group`, as a node's
//! finalizer does when several finalized blocks wait. Single-threaded; signing happens before
//! the clock starts.
//!
//! Run: `cargo bench -p medchain-storage --bench throughput` (or build with
//! `cargo build --release -p medchain-storage --benches` and run the binary).
//! `MEDCHAIN_BENCH_GROUPS=1,4` picks the group sizes, `MEDCHAIN_BENCH_IN_MEMORY=1` adds a run
//! on an in-memory database, `MEDCHAIN_BENCH_CLOCK=cpu` times with the thread's CPU time (for
//! comparisons on a loaded machine; it leaves out waiting for the disk).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{genesis_block, header, proposer};
use medchain_state::{
    BlockEnv, BlockExecutor, ExecutedBlock, Overlay,
    testkit::{
        self, Actor, BLOCK_INTERVAL_MS, HospitalDesk, doctor_identity, enrol_doctor, grant,
        issue_licence, join, org_name, register, release, request, set_state, store,
    },
};
use medchain_storage::{CommitBatch, Store, StoreOptions};
use medchain_types::{
    Address, Block, ContentHash, Expiry, OrgKind, OrgState, Payload, Purpose, RecordId,
    Transaction, VerifiedTransaction, verify_batch,
};
use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
use std::{
    collections::HashMap,
    num::NonZeroU64,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

const TXS_PER_BLOCK: usize = 10_000;
const QUARTER: usize = TXS_PER_BLOCK / 4;
const DOCTORS: u64 = 40;
const GRANTEES: u64 = 40;
const WARMUP_BLOCKS: usize = 4;
/// A multiple of `medchain_storage::PRUNE_EVERY`, so the measured blocks carry their share of
/// pruning.
const MEASURED_BLOCKS: usize = 8;
/// Small, so that every measured commit also prunes a version (the steady state of a node).
const KEEP_VERSIONS: u64 = 4;
/// Blocks per `commit_group`: one (a commit per block), and four (a finalizer that found four
/// finalized blocks waiting). `MEDCHAIN_BENCH_GROUPS=1,2,4` overrides; each divides the
/// warm-up and measured block counts.
const DEFAULT_GROUPS: [usize; 2] = [1, 4];

/// Signs transactions with the right nonces and remembers who released what.
struct Workload {
    nonces: HashMap<Address, u64>,
    doctors: Vec<Actor>,
    grantees: Vec<Actor>,
    /// Records released per block, with their patients.
    released: Vec<Vec<(RecordId, Actor)>>,
    next_patient: u64,
}

impl Workload {
    fn sign(&mut self, actor: &Actor, payload: Payload) -> VerifiedTransaction {
        let nonce = self.nonces.entry(actor.address).or_insert(0);
        let tx = actor.sign(*nonce, payload);
        *nonce += 1;
        tx
    }

    /// Setup blocks: two audited orgs, doctors and grantees joined, doctors licensed.
    fn setup_blocks(&mut self) -> Vec<Vec<VerifiedTransaction>> {
        let regulator = Actor::new(0);
        let (hospital, lab) = (org_name("Seoul General"), org_name("Genome Lab"));
        let (doctor_0, grantee_0) = (self.doctors[0].clone(), self.grantees[0].clone());
        let registrations = vec![
            self.sign(&doctor_0, register(&hospital, OrgKind::Hospital)),
            self.sign(&grantee_0, register(&lab, OrgKind::Research)),
        ];
        let audits = vec![
            self.sign(&regulator, set_state(&hospital, OrgState::Audited)),
            self.sign(&regulator, set_state(&lab, OrgState::Audited)),
        ];
        let mut joins = Vec::new();
        for (members, org) in [
            (self.doctors.clone(), &hospital),
            (self.grantees.clone(), &lab),
        ] {
            for member in &members[1..] {
                joins.push(self.sign(member, join(org, &members[0], member)));
            }
        }
        // Releasing needs a licence: the hospital's desk opens, every doctor enrols, then the
        // desk licenses them.
        let desk = HospitalDesk::of(&hospital);
        let mut enrolments: Vec<VerifiedTransaction> = desk
            .opening(&hospital, &doctor_0)
            .into_iter()
            .map(|payload| self.sign(&desk.actor, payload))
            .collect();
        for doctor in self.doctors.clone() {
            enrolments.push(self.sign(&doctor, enrol_doctor(&doctor)));
        }
        let licences = self
            .doctors
            .clone()
            .iter()
            .map(|doctor| {
                self.sign(
                    &desk.actor,
                    issue_licence(&doctor_identity(doctor), u64::MAX),
                )
            })
            .collect();
        vec![registrations, audits, joins, enrolments, licences]
    }

    /// The next measured-kind block: releases to new patients, stores and grants by the
    /// patients of the previous block's records, requests for the records granted before.
    fn mixed_block(&mut self, height: u64) -> Vec<VerifiedTransaction> {
        let mut txs = Vec::with_capacity(TXS_PER_BLOCK);
        let mut released = Vec::with_capacity(QUARTER);
        for i in 0..QUARTER {
            let doctor = self.doctors[i % self.doctors.len()].clone();
            let patient = Actor::new(1_000_000 + self.next_patient);
            self.next_patient += 1;
            let tx = self.sign(
                &doctor,
                release(
                    &doctor,
                    &patient.address,
                    &ContentHash::of(&self.next_patient.to_be_bytes()),
                ),
            );
            released.push((RecordId::from(tx.id()), patient));
            txs.push(tx);
        }
        if let Some(previous) = self.released.last().cloned() {
            for (i, (record, patient)) in previous.iter().enumerate() {
                let grantee = self.grantees[i % self.grantees.len()].address;
                txs.push(self.sign(
                    patient,
                    store(
                        record,
                        &ContentHash::of(record.as_bytes()),
                        "s3://bucket/blob",
                    ),
                ));
                txs.push(self.sign(
                    patient,
                    grant(
                        &grantee,
                        &[*record],
                        Purpose::Research,
                        Expiry::AtHeight(height + 1_000),
                    ),
                ));
            }
        }
        if self.released.len() >= 2 {
            let granted = self.released[self.released.len() - 2].clone();
            for (i, (record, _)) in granted.iter().enumerate() {
                let grantee = self.grantees[i % self.grantees.len()].clone();
                txs.push(self.sign(&grantee, request(record, Purpose::Research)));
            }
        }
        self.released.push(released);
        txs
    }
}

/// Whether the bench times with the thread's CPU time (`MEDCHAIN_BENCH_CLOCK=cpu`), which a
/// loaded machine disturbs less but which leaves out waiting for the disk, rather than wall
/// time.
fn cpu_clock() -> bool {
    static CPU: OnceLock<bool> = OnceLock::new();
    *CPU.get_or_init(|| std::env::var("MEDCHAIN_BENCH_CLOCK").as_deref() == Ok("cpu"))
}

/// The bench's clock reading ([`cpu_clock`]).
fn now() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    if !cpu_clock() {
        return START.get_or_init(Instant::now).elapsed();
    }
    // The first field is the nanoseconds this thread has run on a CPU.
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let nanos = stat.split_whitespace().next().and_then(|n| n.parse().ok());
    Duration::from_nanos(nanos.expect("schedstat: on-CPU nanoseconds"))
}

/// Time spent on `txs` transactions, per step.
#[derive(Clone, Copy, Default)]
struct Timing {
    txs: usize,
    apply: Duration,
    finish: Duration,
    commit: Duration,
    verify: Duration,
}

impl Timing {
    fn total(&self) -> Duration {
        self.apply + self.finish + self.commit + self.verify
    }

    fn add(&mut self, other: &Timing) {
        self.txs += other.txs;
        self.apply += other.apply;
        self.finish += other.finish;
        self.commit += other.commit;
        self.verify += other.verify;
    }
}

/// Batch-verifies the block's transactions as a validator does when they arrive (the node's
/// admission verifier), and returns how long that took.
fn verify(rng: &mut ChaCha8Rng, txs: &[VerifiedTransaction]) -> Duration {
    let unverified: Vec<Transaction> = txs.iter().map(|tx| tx.tx().clone()).collect();
    let started = now();
    let verified = verify_batch(rng, &testkit::chain_id(), &unverified);
    let elapsed = now() - started;
    assert!(verified.iter().all(Result::is_ok), "a signature failed");
    elapsed
}

/// Executes each of `blocks` in turn as the next block after `parent` (each on the ones
/// before it, as a node executes finalized blocks it has not committed yet), then commits them
/// all with one `commit_group`, timing each step. Returns the last block.
fn run_group(
    store: &Store,
    parent: &Block,
    blocks: &[Vec<VerifiedTransaction>],
    rng: &mut ChaCha8Rng,
) -> (Block, Timing) {
    let mut timing = Timing::default();
    let mut executed: Vec<Arc<ExecutedBlock>> = Vec::with_capacity(blocks.len());
    let mut built: Vec<Block> = Vec::with_capacity(blocks.len());
    for txs in blocks {
        let parent = built.last().unwrap_or(parent);
        timing.verify += verify(rng, txs);
        let env = BlockEnv {
            height: parent.header().height + 1,
            timestamp_ms: parent.header().timestamp_ms + BLOCK_INTERVAL_MS,
        };
        let snapshot = store.snapshot().expect("snapshot");
        let base = Overlay::new(snapshot, executed.clone()).expect("overlay");
        let started = now();
        let mut executor = BlockExecutor::new(&base, env).expect("executor");
        for tx in txs {
            if let Err(e) = executor.apply(tx) {
                panic!("{} failed: {e}", tx.body().payload.kind());
            }
        }
        let applied = now();
        let block_executed = executor.finish(proposer()).expect("finish");
        timing.apply += applied - started;
        timing.finish += now() - applied;
        timing.txs += txs.len();
        built.push(Block::new(
            header(
                env.height,
                parent.header().digest(),
                env.timestamp_ms,
                block_executed.state_root,
            ),
            txs.iter().map(|tx| tx.tx().clone()).collect(),
        ));
        executed.push(Arc::new(block_executed));
    }
    let certificate = vec![0u8; 300];
    let batches: Vec<CommitBatch<'_>> = built
        .iter()
        .zip(&executed)
        .map(|(block, executed)| CommitBatch {
            block,
            executed,
            finalization: Some(&certificate),
        })
        .collect();
    let committing = now();
    store.commit_group(&batches).expect("commit");
    timing.commit = now() - committing;
    let last = built.pop().expect("a group has blocks");
    (last, timing)
}

fn bench(name: &str, store: Store, group: usize) {
    let mut workload = Workload {
        nonces: HashMap::new(),
        doctors: (0..DOCTORS).map(|i| Actor::new(10 + i)).collect(),
        grantees: (0..GRANTEES).map(|i| Actor::new(10_000 + i)).collect(),
        released: Vec::new(),
        next_patient: 0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let (genesis, executed) = genesis_block();
    store
        .commit(CommitBatch {
            block: &genesis,
            executed: &executed,
            finalization: None,
        })
        .expect("genesis");
    let mut parent = genesis;
    for txs in workload.setup_blocks() {
        parent = run_group(&store, &parent, &[txs], &mut rng).0;
    }
    println!(
        "\n{name}: {TXS_PER_BLOCK} txs per block (release/store/grant/request), \
         {WARMUP_BLOCKS} warm-up blocks, {group} block(s) per commit, proofs kept for \
         {KEEP_VERSIONS} heights, {} clock",
        if cpu_clock() { "thread CPU" } else { "wall" }
    );
    println!(
        "| height | txs | group | apply µs/tx | finish (root) µs/tx | commit µs/tx | verify µs/tx | total µs/tx | total tx/s | state keys |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut measured = Vec::new();
    let mut block_index = 0;
    while block_index < WARMUP_BLOCKS + MEASURED_BLOCKS {
        let blocks: Vec<Vec<VerifiedTransaction>> = (0..group)
            .map(|i| workload.mixed_block(parent.header().height + 1 + i as u64))
            .collect();
        let (block, timing) = run_group(&store, &parent, &blocks, &mut rng);
        parent = block;
        if block_index >= WARMUP_BLOCKS {
            let keys = store.stats().expect("stats").state_entries;
            print_row(
                &parent.header().height.to_string(),
                &timing,
                group,
                &keys.to_string(),
            );
            measured.push(timing);
        }
        block_index += group;
    }
    let mut total = Timing::default();
    for timing in &measured {
        total.add(timing);
    }
    print_row("**mean**", &total, group, "");
    if let Some(best) = measured
        .iter()
        .min_by(|a, b| per_tx(a.total(), a.txs).total_cmp(&per_tx(b.total(), b.txs)))
    {
        print_row("best", best, group, "");
    }
}

/// Microseconds per transaction.
fn per_tx(elapsed: Duration, txs: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / txs as f64
}

fn print_row(label: &str, timing: &Timing, group: usize, keys: &str) {
    let us = |elapsed| per_tx(elapsed, timing.txs);
    println!(
        "| {label} | {} | {group} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {keys} |",
        timing.txs,
        us(timing.apply),
        us(timing.finish),
        us(timing.commit),
        us(timing.verify),
        us(timing.total()),
        1e6 / us(timing.total()),
    );
}

fn main() {
    let options = StoreOptions {
        keep_versions: NonZeroU64::new(KEEP_VERSIONS).expect("non-zero"),
    };
    let groups: Vec<usize> = match std::env::var("MEDCHAIN_BENCH_GROUPS") {
        Ok(list) => list
            .split(',')
            .map(|group| {
                group
                    .trim()
                    .parse()
                    .expect("MEDCHAIN_BENCH_GROUPS: a list of sizes")
            })
            .collect(),
        Err(_) => DEFAULT_GROUPS.to_vec(),
    };
    if std::env::var_os("MEDCHAIN_BENCH_IN_MEMORY").is_some() {
        bench(
            "in-memory redb",
            Store::in_memory_with(options).expect("store"),
            groups[0],
        );
    }
    for group in groups {
        assert!(
            group > 0
                && MEASURED_BLOCKS.is_multiple_of(group)
                && WARMUP_BLOCKS.is_multiple_of(group),
            "a group size divides {WARMUP_BLOCKS} and {MEASURED_BLOCKS}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bench.redb");
        bench(
            "file redb (durable commits)",
            Store::open_with(path, options).expect("store"),
            group,
        );
    }
}
