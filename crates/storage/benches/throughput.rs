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
mod workload;

use common::{genesis_block, header, proposer};
use medchain_state::{BlockEnv, BlockExecutor, ExecutedBlock, testkit::BLOCK_INTERVAL_MS};
use medchain_storage::{CommitBatch, Store, StoreOptions};
use medchain_types::{Block, VerifiedTransaction};
use std::{
    num::NonZeroU64,
    time::{Duration, Instant},
};
use workload::{TXS_PER_BLOCK, Workload};

const WARMUP_BLOCKS: usize = 6;
const MEASURED_BLOCKS: usize = 6;
/// Small, so that every measured commit also prunes a version (the steady state of a node).
const KEEP_VERSIONS: u64 = 4;

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
    let mut workload = Workload::new();
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
