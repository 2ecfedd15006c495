//! Execution and commit throughput for blocks of 10,000 mixed transactions (a quarter each of
//! release, store, grant and access request), on a state that grows by ~40,000 keys a block.
//!
//! Per block it measures, single-threaded: applying every transaction, `finish` (one tree
//! update and the state root), and the redb commit (durable for the file store). Signing and
//! signature verification happen before the clock starts: they belong to the mempool and
//! block verification, not to execution.
//!
//! Run: `cargo bench -p medchain-storage --bench throughput` (or build with
//! `cargo build --release -p medchain-storage --benches` and run the binary).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{genesis_block, header, proposer};
use medchain_state::{
    BlockEnv, BlockExecutor, ExecutedBlock,
    testkit::{
        Actor, BLOCK_INTERVAL_MS, HospitalDesk, doctor_identity, enrol_doctor, grant,
        issue_licence, join, org_name, register, release, request, set_state, store,
    },
};
use medchain_storage::{CommitBatch, Store, StoreOptions};
use medchain_types::{
    Address, Block, ContentHash, Expiry, OrgKind, OrgState, Payload, Purpose, RecordId,
    VerifiedTransaction,
};
use std::{
    collections::HashMap,
    num::NonZeroU64,
    time::{Duration, Instant},
};

const TXS_PER_BLOCK: usize = 10_000;
const QUARTER: usize = TXS_PER_BLOCK / 4;
const DOCTORS: u64 = 40;
const GRANTEES: u64 = 40;
const WARMUP_BLOCKS: usize = 6;
const MEASURED_BLOCKS: usize = 6;
/// Small, so that every measured commit also prunes a version (the steady state of a node).
const KEEP_VERSIONS: u64 = 4;

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

struct Timing {
    txs: usize,
    apply: Duration,
    finish: Duration,
    commit: Duration,
}

/// Executes `txs` as the next block on `store`, commits it, and times each step.
fn run_block(store: &Store, parent: &Block, txs: &[VerifiedTransaction]) -> (Block, Timing) {
    let env = BlockEnv {
        height: parent.header().height + 1,
        timestamp_ms: parent.header().timestamp_ms + BLOCK_INTERVAL_MS,
    };
    let snapshot = store.snapshot().expect("snapshot");
    let started = Instant::now();
    let mut executor = BlockExecutor::new(&snapshot, env).expect("executor");
    for tx in txs {
        if let Err(e) = executor.apply(tx) {
            panic!("{} failed: {e}", tx.body().payload.kind());
        }
    }
    let applied = Instant::now();
    let executed: ExecutedBlock = executor.finish(proposer()).expect("finish");
    let finished = Instant::now();
    let block = Block::new(
        header(
            env.height,
            parent.header().digest(),
            env.timestamp_ms,
            executed.state_root,
        ),
        txs.iter().map(|tx| tx.tx().clone()).collect(),
    );
    let certificate = vec![0u8; 300];
    let committing = Instant::now();
    store
        .commit(CommitBatch {
            block: &block,
            executed: &executed,
            finalization: Some(&certificate),
        })
        .expect("commit");
    let timing = Timing {
        txs: txs.len(),
        apply: applied - started,
        finish: finished - applied,
        commit: committing.elapsed(),
    };
    (block, timing)
}

fn per_second(txs: usize, elapsed: Duration) -> f64 {
    txs as f64 / elapsed.as_secs_f64()
}

fn bench(name: &str, store: Store) {
    let mut workload = Workload {
        nonces: HashMap::new(),
        doctors: (0..DOCTORS).map(|i| Actor::new(10 + i)).collect(),
        grantees: (0..GRANTEES).map(|i| Actor::new(10_000 + i)).collect(),
        released: Vec::new(),
        next_patient: 0,
    };
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
        parent = run_block(&store, &parent, &txs).0;
    }
    println!(
        "\n{name}: {TXS_PER_BLOCK} txs per block (release/store/grant/request), \
         {WARMUP_BLOCKS} warm-up blocks, proofs kept for {KEEP_VERSIONS} heights"
    );
    println!(
        "| height | txs | apply ms | finish (root) ms | execute tx/s | commit ms | commit tx/s | total tx/s | state keys |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut measured = Vec::new();
    for block_index in 0..WARMUP_BLOCKS + MEASURED_BLOCKS {
        let txs = workload.mixed_block(parent.header().height + 1);
        let (block, timing) = run_block(&store, &parent, &txs);
        parent = block;
        if block_index >= WARMUP_BLOCKS {
            let keys = store.stats().expect("stats").state_entries;
            print_row(
                &parent.header().height.to_string(),
                &timing,
                &keys.to_string(),
            );
            measured.push(timing);
        }
    }
    let total = Timing {
        txs: measured.iter().map(|t| t.txs).sum(),
        apply: measured.iter().map(|t| t.apply).sum(),
        finish: measured.iter().map(|t| t.finish).sum(),
        commit: measured.iter().map(|t| t.commit).sum(),
    };
    let blocks = measured.len() as u32;
    let mean = Timing {
        txs: total.txs / measured.len(),
        apply: total.apply / blocks,
        finish: total.finish / blocks,
        commit: total.commit / blocks,
    };
    print_row("**mean**", &mean, "");
    if let Some(best) = measured
        .iter()
        .min_by_key(|t| t.apply + t.finish + t.commit)
    {
        print_row("best", best, "");
    }
}

fn print_row(label: &str, timing: &Timing, keys: &str) {
    let execute = timing.apply + timing.finish;
    println!(
        "| {label} | {} | {:.1} | {:.1} | {:.0} | {:.1} | {:.0} | {:.0} | {keys} |",
        timing.txs,
        timing.apply.as_secs_f64() * 1e3,
        timing.finish.as_secs_f64() * 1e3,
        per_second(timing.txs, execute),
        timing.commit.as_secs_f64() * 1e3,
        per_second(timing.txs, timing.commit),
        per_second(timing.txs, execute + timing.commit),
    );
}

fn main() {
    let options = StoreOptions {
        keep_versions: NonZeroU64::new(KEEP_VERSIONS).expect("non-zero"),
    };
    bench(
        "in-memory redb",
        Store::in_memory_with(options).expect("store"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.redb");
    bench(
        "file redb (durable commits)",
        Store::open_with(path, options).expect("store"),
    );
}
