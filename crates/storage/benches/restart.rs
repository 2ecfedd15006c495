//! Restart of a validator's store with a million transactions of history: how long a fresh
//! process takes from its start to its first verified answer, how much memory it holds then,
//! and the same after `kill -9` in the middle of a commit (redb's recovery included).
//!
//! The history is the throughput bench's mix (`workload`), committed block by block into a
//! durable file store with default options, as a node's finalizer would. Building it takes a
//! few minutes, so it is kept in `$MEDCHAIN_BENCH_DIR` (default `target/restart-bench`) and
//! reused by later runs, which then only measure. Every measurement runs in a child process
//! (this binary again, told its role by an environment variable): a restart is a new process
//! with none of the builder's caches, and its peak resident memory is its own.
//!
//! - *answer* children open the store cleanly closed, read the last header, take a present
//!   and an absent key with proofs and verify both against that header's state root, and
//!   print their timings and peak RSS (`VmHWM`). Five runs with the file in the page cache
//!   (a killed process leaves it there), five with the file's cached pages dropped first
//!   (`posix_fadvise(DONTNEED)`: a reboot or a cache-cold machine);
//! - *commit* children keep committing blocks on top of the history and are killed with
//!   SIGKILL at a seeded random moment inside a commit; an answer child then reopens the
//!   store and must be at a height at least the last one acknowledged.
//!
//! Run: `cargo bench -p medchain-storage --bench restart` (the measured part only needs
//! the store: delete `$MEDCHAIN_BENCH_DIR` to build it again, e.g. after a format change).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/reopen/mod.rs"]
mod reopen;
mod workload;

use common::Chain;
use medchain_state::testkit::Actor;
use medchain_storage::Store;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::{
    collections::HashMap,
    fs,
    io::{BufRead, BufReader},
    num::NonZeroU64,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};
use workload::{FIRST_DOCTOR_SEED, Workload};

/// Which child this process is (`answer` or `commit`); unset in the parent.
const ROLE_ENV: &str = "MEDCHAIN_RESTART_ROLE";
/// The store a child opens.
const STORE_ENV: &str = "MEDCHAIN_RESTART_STORE";
/// Where the built history is kept between runs.
const DIR_ENV: &str = "MEDCHAIN_BENCH_DIR";
const HISTORY_TXS: u64 = 1_000_000;
const ANSWER_RUNS: usize = 5;
const CRASH_ROUNDS: usize = 5;
/// Transactions per block of the killed writer: big enough that a commit on a large store
/// takes a while, so the kill lands inside one.
const CRASH_FILERS: usize = 2_000;
const SEED: u64 = 14;
/// The line an answer child prints, followed by `key=value` figures.
const ANSWER_LINE: &str = "verified-answer";

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("answer") => answer_child(),
        Ok("commit") => commit_child(),
        _ => parent(),
    }
}

fn child_store() -> PathBuf {
    std::env::var_os(STORE_ENV)
        .expect("a child is told its store")
        .into()
}

/// Prints the first verified answer's figures and this process's peak RSS at that moment.
fn answer_child() {
    let present = Actor::new(FIRST_DOCTOR_SEED);
    let (_store, answer) = reopen::first_verified_answer(&child_store(), &present);
    println!(
        "{ANSWER_LINE} height={} open_us={} answer_us={} hwm_kib={}",
        answer.height,
        answer.open.as_micros(),
        answer.answered.as_micros(),
        peak_rss_kib(),
    );
}

fn commit_child() {
    let store = Store::open(child_store()).expect("open the store");
    reopen::commit_until_killed(store, &reopen::filers(CRASH_FILERS), 1);
}

/// This process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    reopen::peak_rss_kib("/proc/self/status")
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn parent() {
    let dir = std::env::var_os(DIR_ENV).map_or_else(default_dir, PathBuf::from);
    fs::create_dir_all(&dir).expect("create the bench directory");
    let path = dir.join("history.redb");
    println!(
        "\nrestart: store {} (load {})",
        path.display(),
        load_average()
    );
    let build = match fs::read_to_string(dir.join(BUILD_REPORT)) {
        Ok(text) if path.exists() => format!("{} (built by an earlier run)", text.trim()),
        _ => build_history(&dir, &path),
    };
    println!("history: {build}");
    let store = Store::open(&path).expect("open the history");
    let stats = store.stats().expect("stats");
    drop(store);
    let file_mib = fs::metadata(&path).expect("store file").len() as f64 / MIB;
    println!(
        "\n| history txs | blocks | state keys | file MiB | page cache | open ms | first verified answer ms | process start → answer ms | child RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for cold in [false, true] {
        let runs: Vec<Answer> = (0..ANSWER_RUNS)
            .map(|_| {
                if cold {
                    drop_cached_pages(&path);
                }
                run_answer_child(&path)
            })
            .collect();
        println!(
            "| {} | {} | {} | {file_mib:.0} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            stats.receipts,
            stats.blocks,
            stats.state_entries,
            if cold { "dropped" } else { "warm" },
            median(&runs, |a| a.open_ms),
            median(&runs, |a| a.answer_ms),
            median(&runs, |a| a.spawn_to_answer_ms),
            median(&runs, |a| a.rss_mib),
        );
    }
    println!(
        "(medians of {ANSWER_RUNS} child processes each; load {})",
        load_average()
    );
    crash_rounds(&path);
}

fn default_dir() -> PathBuf {
    // `cargo bench` runs a bench with the package directory as working directory.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/restart-bench")
}

const MIB: f64 = 1024.0 * 1024.0;
/// Written next to a completed history: how it was built, for later runs to show.
const BUILD_REPORT: &str = "build.txt";

/// Commits `HISTORY_TXS` transactions of the workload into a new store at `path`. A signer
/// thread prepares the next blocks while this thread executes and commits, so signing
/// (which a node does not do) overlaps the work that is a node's. The store is built under
/// another name and renamed when complete, so an interrupted build is never reused.
fn build_history(dir: &Path, path: &Path) -> String {
    let partial = dir.join("history.redb.partial");
    let _ = fs::remove_file(&partial);
    let started = Instant::now();
    let mut chain = Chain::new(Store::open(&partial).expect("create the store"));
    let (blocks, receiver) = mpsc::sync_channel(2);
    let signer = thread::spawn(move || {
        let mut workload = Workload::new();
        let mut height = 0;
        let mut signed = 0;
        for txs in workload.setup_blocks() {
            height += 1;
            signed += txs.len() as u64;
            blocks.send(txs).expect("the builder waits for blocks");
        }
        while signed < HISTORY_TXS {
            height += 1;
            let txs = workload.mixed_block(height);
            signed += txs.len() as u64;
            blocks.send(txs).expect("the builder waits for blocks");
        }
    });
    let mut committed = 0u64;
    for txs in receiver {
        chain.commit(&txs);
        committed += txs.len() as u64;
        if chain.height().is_multiple_of(10) {
            eprintln!(
                "built height {}: {committed} txs, {:.0} s",
                chain.height(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    signer.join().expect("the signer thread");
    drop(chain);
    fs::rename(&partial, path).expect("keep the built history");
    let elapsed = started.elapsed().as_secs_f64();
    let report = format!(
        "{committed} txs committed in {elapsed:.0} s ({:.0} tx/s, signing overlapped); \
         builder peak RSS {:.0} MiB; load {}",
        committed as f64 / elapsed,
        peak_rss_kib() as f64 / 1024.0,
        load_average()
    );
    fs::write(dir.join(BUILD_REPORT), &report).expect("write the build report");
    report
}

/// Evicts the store file's pages from the page cache, so the next open reads the disk.
fn drop_cached_pages(path: &Path) {
    let file = fs::File::open(path).expect("store file");
    rustix::fs::fadvise(&file, 0, None::<NonZeroU64>, rustix::fs::Advice::DontNeed)
        .expect("posix_fadvise");
}

/// An answer child's figures.
struct Answer {
    height: u64,
    open_ms: f64,
    answer_ms: f64,
    spawn_to_answer_ms: f64,
    rss_mib: f64,
}

fn spawn_child(role: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().expect("this bench binary"))
        .env(ROLE_ENV, role)
        .env(STORE_ENV, path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a child")
}

/// Runs an answer child and parses its line; panics if it failed (an answer that did not
/// verify) or printed none. Process start → answer is the parent's clock from spawning the
/// child to reading that line: exec and loading included, the child's exit not.
fn run_answer_child(path: &Path) -> Answer {
    let spawned = Instant::now();
    let mut child = spawn_child("answer", path);
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let line = stdout
        .lines()
        .map(|line| line.expect("the child's output"))
        .find_map(|line| line.strip_prefix(ANSWER_LINE).map(str::to_owned));
    let spawn_to_answer = spawned.elapsed();
    assert!(
        child.wait().expect("the answer child").success(),
        "the answer child failed"
    );
    let line = line.expect("the answer line");
    let figures: HashMap<&str, u64> = line
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key, value.parse().expect("a number")))
        .collect();
    let figure = |key: &str| figures.get(key).copied().expect("every figure");
    Answer {
        height: figure("height"),
        open_ms: figure("open_us") as f64 / 1e3,
        answer_ms: figure("answer_us") as f64 / 1e3,
        spawn_to_answer_ms: spawn_to_answer.as_secs_f64() * 1e3,
        rss_mib: figure("hwm_kib") as f64 / 1024.0,
    }
}

fn median(runs: &[Answer], figure: impl Fn(&Answer) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(figure).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Kills a committing child mid-commit, then times an answer child's reopen, in seeded rounds.
fn crash_rounds(path: &Path) {
    println!(
        "\nkill -9 during a commit of {CRASH_FILERS} transactions, then a new process reopens:"
    );
    println!(
        "| round | killed inside the commit | committing child RSS MiB | last acknowledged | reopened at | open ms (recovery) | first verified answer ms | process start → answer ms | child RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut rng = StdRng::seed_from_u64(SEED);
    for round in 0..CRASH_ROUNDS {
        let commits = rng.random_range(1..=3);
        let delay = Duration::from_millis(rng.random_range(0..150));
        let acknowledged = reopen::kill_during_commit(spawn_child("commit", path), commits, delay);
        let last = acknowledged.last.expect("the child acknowledged commits");
        let answer = run_answer_child(path);
        assert!(
            (last..=last + 1).contains(&answer.height),
            "round {round}: reopened at {} after {last} was acknowledged",
            answer.height
        );
        println!(
            "| {round} | {} | {:.0} | {last} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            if acknowledged.killed_inside_commit() {
                "yes"
            } else {
                "no (after it returned)"
            },
            acknowledged.peak_rss_kib as f64 / 1024.0,
            answer.height,
            answer.open_ms,
            answer.answer_ms,
            answer.spawn_to_answer_ms,
            answer.rss_mib
        );
    }
    println!("(load {})", load_average());
}
