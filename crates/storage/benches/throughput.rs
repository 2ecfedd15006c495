//! Per-transaction cost of a validator for blocks of 10,000 mixed transactions (a quarter
//! each of release, store, grant and access request), on a state that grows by ~20,000 keys
//! a block: batch ed25519 verification of the block's transactions (the node's verifier, with
//! its cache of decompressed keys; a last column shows the same check decompressing every
//! key), applying them, `finish` (one tree update and the state root), and the durable
//! redb commit — of one block, or of a group of blocks in one `commit_group`, as a node's
//! finalizer does when several finalized blocks wait. Single-threaded; signing happens before
//! the clock starts.
//!
//! Run: `cargo bench -p medchain-storage --bench throughput` (or build with
//! `cargo build --release -p medchain-storage --benches` and run the binary).
//! `MEDCHAIN_BENCH_GROUPS=1,4` picks the group sizes, `MEDCHAIN_BENCH_CACHE_MIB=1024` the size
//! of redb's page cache (default: the store's default), `MEDCHAIN_BENCH_IN_MEMORY=1` adds a run
//! on an in-memory database, `MEDCHAIN_BENCH_CLOCK=cpu` times with the thread's CPU time (for
//! comparisons on a loaded machine; it leaves out waiting for the disk).

#[path = "../tests/common/mod.rs"]
mod common;
mod workload;

/// The `medchain` binary's allocator, so that the bench measures what a validator runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use common::{genesis_block, header, proposer};
use medchain_state::{
    BlockEnv, BlockExecutor, ExecutedBlock, Overlay,
    testkit::{self, BLOCK_INTERVAL_MS},
};
use medchain_storage::{CommitBatch, DEFAULT_CACHE_BYTES, Store, StoreOptions};
use medchain_types::{
    Block, SignatureCache, SignatureCacheLimits, Transaction, VerifiedTransaction, verify_batch,
};
use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
use std::{
    num::NonZeroU64,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};
use workload::{TXS_PER_BLOCK, Workload};

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
    /// Verification decompressing every signer's key (not counted in the total).
    verify_uncached_keys: Duration,
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
        self.verify_uncached_keys += other.verify_uncached_keys;
    }
}

/// Batch-verifies the block's transactions as a validator does when they first arrive (the
/// node's verifier, keeping decompressed keys of earlier blocks' signers in `cache`), and
/// returns how long that took, and how long the same check takes decompressing every key.
fn verify(
    rng: &mut ChaCha8Rng,
    cache: &SignatureCache,
    txs: &[VerifiedTransaction],
) -> (Duration, Duration) {
    let unverified: Vec<Transaction> = txs.iter().map(|tx| tx.tx().clone()).collect();
    let started = now();
    let verified = cache.verify_batch(rng, &testkit::chain_id(), &unverified);
    let cached = now() - started;
    assert!(verified.iter().all(Result::is_ok), "a signature failed");
    let started = now();
    let verified = verify_batch(rng, &testkit::chain_id(), &unverified);
    let decompressing = now() - started;
    assert!(verified.iter().all(Result::is_ok), "a signature failed");
    (cached, decompressing)
}

/// Executes each of `blocks` in turn as the next block after `parent` (each on the ones
/// before it, as a node executes finalized blocks it has not committed yet), then commits them
/// all with one `commit_group`, timing each step. Returns the last block.
fn run_group(
    store: &Store,
    parent: &Block,
    blocks: &[Vec<VerifiedTransaction>],
    rng: &mut ChaCha8Rng,
    cache: &SignatureCache,
) -> (Block, Timing) {
    let mut timing = Timing::default();
    let mut executed: Vec<Arc<ExecutedBlock>> = Vec::with_capacity(blocks.len());
    let mut built: Vec<Block> = Vec::with_capacity(blocks.len());
    for txs in blocks {
        let parent = built.last().unwrap_or(parent);
        let (verify, uncached_keys) = verify(rng, cache, txs);
        timing.verify += verify;
        timing.verify_uncached_keys += uncached_keys;
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
    let mut workload = Workload::new();
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    // Each block is verified once, so only the key half of the cache can hit.
    let cache = SignatureCache::new(SignatureCacheLimits::default());
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
        parent = run_group(&store, &parent, &[txs], &mut rng, &cache).0;
    }
    println!(
        "\n{name}: {TXS_PER_BLOCK} txs per block (release/store/grant/request), \
         {WARMUP_BLOCKS} warm-up blocks, {group} block(s) per commit, proofs kept for \
         {KEEP_VERSIONS} heights, {} clock",
        if cpu_clock() { "thread CPU" } else { "wall" }
    );
    println!(
        "| height | txs | group | apply µs/tx | finish (root) µs/tx | commit µs/tx | verify µs/tx | total µs/tx | total tx/s | state keys | verify, every key decompressed µs/tx |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut measured = Vec::new();
    let mut block_index = 0;
    while block_index < WARMUP_BLOCKS + MEASURED_BLOCKS {
        let blocks: Vec<Vec<VerifiedTransaction>> = (0..group)
            .map(|i| workload.mixed_block(parent.header().height + 1 + i as u64))
            .collect();
        let (block, timing) = run_group(&store, &parent, &blocks, &mut rng, &cache);
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
        "| {label} | {} | {group} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {keys} | {:.1} |",
        timing.txs,
        us(timing.apply),
        us(timing.finish),
        us(timing.commit),
        us(timing.verify),
        us(timing.total()),
        1e6 / us(timing.total()),
        us(timing.verify_uncached_keys),
    );
}

fn main() {
    let cache_bytes =
        std::env::var("MEDCHAIN_BENCH_CACHE_MIB").map_or(DEFAULT_CACHE_BYTES, |mib| {
            mib.parse::<usize>()
                .expect("MEDCHAIN_BENCH_CACHE_MIB: mebibytes")
                << 20
        });
    println!("redb page cache: {} MiB", cache_bytes >> 20);
    let options = StoreOptions {
        keep_versions: NonZeroU64::new(KEEP_VERSIONS).expect("non-zero"),
        cache_bytes,
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
