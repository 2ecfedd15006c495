//! Reopening a store after its process died: the child process that commits blocks until it
//! is killed, and the checks (with the light client's proof verification) a reopened store
//! must pass. Shared by `tests/crash.rs` (small blocks, seconds in debug) and the `restart`
//! bench (the same child on top of a million-transaction history), so both kill the same
//! kind of writer and judge the survivor by the same rules.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::common::Chain;
use medchain_state::{keys, testkit::Actor};
use medchain_storage::Store;
use medchain_types::{Hash32, VerifiedTransaction};
use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::Child,
    time::{Duration, Instant},
};

/// Printed by the child before a commit starts: the parent aims its kill after this line.
pub const COMMITTING: &str = "committing";
/// Printed by the child after a commit returned: that height is acknowledged as durable.
pub const COMMITTED: &str = "committed";

/// Seeds of the accounts that file EMR entries in the child's blocks. Filing an entry needs
/// no prior state, so the child can extend any store, whatever history it holds.
const FILER_SEED: u64 = 70_000_000;
/// An account seed no block ever uses: its account key is the known-absent key.
const NEVER_USED_SEED: u64 = 99_999_999;

/// The accounts that file entries, one transaction each per block.
pub fn filers(count: usize) -> Vec<Actor> {
    (0..count as u64)
        .map(|i| Actor::new(FILER_SEED + i))
        .collect()
}

/// Commits blocks of one EMR entry per filer until the process is killed, `group` blocks
/// per commit (one `commit`, or one `commit_group` of several). Once a commit's blocks are
/// signed and executed it prints `committing <first height>`, so the parent's kill aims at
/// the store's commit itself; after the commit returns, `committed <height>` for each block.
/// The filers' nonces are read from the store once, so the loop resumes any earlier run.
pub fn commit_until_killed(store: Store, filers: &[Actor], group: usize) -> ! {
    let mut chain = Chain::resume(store);
    let mut nonces: Vec<u64> = filers.iter().map(|filer| chain.nonce(filer)).collect();
    let mut stdout = std::io::stdout().lock();
    loop {
        let first = chain.height() + 1;
        let heights = first..first + group as u64;
        let blocks: Vec<Vec<VerifiedTransaction>> = heights
            .clone()
            .map(|height| next_entries(filers, &mut nonces, height))
            .collect();
        let ahead = chain.build_ahead(&blocks);
        writeln!(stdout, "{COMMITTING} {first}").unwrap();
        stdout.flush().unwrap();
        chain.commit_built(&ahead);
        for height in heights {
            writeln!(stdout, "{COMMITTED} {height}").unwrap();
        }
        stdout.flush().unwrap();
    }
}

/// One EMR entry per filer, at its next nonce, different for every height.
pub fn next_entries(filers: &[Actor], nonces: &mut [u64], height: u64) -> Vec<VerifiedTransaction> {
    filers
        .iter()
        .zip(nonces.iter_mut())
        .map(|(filer, nonce)| {
            let bytes = [height.to_be_bytes(), nonce.to_be_bytes()].concat();
            let tx = filer.sign(*nonce, medchain_state::testkit::entry(&bytes));
            *nonce += 1;
            tx
        })
        .collect()
}

/// What the parent saw of a killed child's output.
#[derive(Debug, Default)]
pub struct Acknowledged {
    /// The last height the child reported committed (`commit` had returned).
    pub last: Option<u64>,
    /// How many heights it reported committed.
    pub count: u64,
    /// The first height of the last commit it announced: the kill landed inside that commit
    /// unless `last` reached it (then it came after the commit returned).
    pub announced: Option<u64>,
    /// The child's peak resident set (`VmHWM`, KiB) just before the kill.
    pub peak_rss_kib: u64,
}

impl Acknowledged {
    /// Whether the kill came before the last announced commit had returned.
    pub fn killed_inside_commit(&self) -> bool {
        self.announced > self.last
    }
}

/// Reads `child`'s output until it has acknowledged `commits` heights and then announced the
/// next commit, waits `delay` (to land inside that commit), kills it with SIGKILL, and returns
/// everything it acknowledged — including lines written between the decision and the kill.
pub fn kill_during_commit(mut child: Child, commits: u64, delay: Duration) -> Acknowledged {
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut seen = Acknowledged::default();
    let mut inside_commit = false;
    for line in lines.by_ref() {
        let line = line.expect("child output");
        note(&mut seen, &line);
        if seen.count >= commits && line.starts_with(COMMITTING) {
            inside_commit = true;
            break;
        }
    }
    assert!(
        inside_commit,
        "the child stopped before its commit {commits}"
    );
    std::thread::sleep(delay);
    seen.peak_rss_kib = peak_rss_kib(&format!("/proc/{}/status", child.id()));
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no clean redb shutdown.
    child.kill().expect("kill the child");
    let status = child.wait().expect("reap the child");
    assert!(!status.success(), "the child was killed, not finished");
    for line in lines {
        note(&mut seen, &line.expect("child output"));
    }
    seen
}

fn note(seen: &mut Acknowledged, line: &str) {
    let height = |text: &str| Some(text.trim().parse().expect("a height"));
    if let Some(text) = line.strip_prefix(COMMITTED) {
        seen.last = height(text);
        seen.count += 1;
    } else if let Some(text) = line.strip_prefix(COMMITTING) {
        seen.announced = height(text);
    }
}

/// The peak resident set (`VmHWM`, KiB) in a `/proc/<pid>/status` file.
pub fn peak_rss_kib(status_file: &str) -> u64 {
    let status = std::fs::read_to_string(status_file).expect("a /proc status file");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

/// A reopened store's first verified answers, and how long they took.
#[derive(Debug)]
pub struct VerifiedAnswer {
    /// The last committed height.
    pub height: u64,
    /// That block's header state root, which both proofs verified against.
    pub state_root: Hash32,
    /// From the start of `Store::open` to its return (redb's recovery included).
    pub open: Duration,
    /// From the start of `Store::open` to both proofs verified.
    pub answered: Duration,
}

/// Opens the store at `path` and answers like a restarted validator's first query: reads the
/// last committed block's header, takes `present`'s account and a never-used account with
/// proofs, and verifies both against the header's state root the way the light client does
/// (`ProvenValue::verified_value`, its state step once the header is trusted). Panics on any
/// inconsistency: a root that disagrees with the header, or a proof that does not verify.
pub fn first_verified_answer(path: &Path, present: &Actor) -> (Store, VerifiedAnswer) {
    let started = Instant::now();
    let store = Store::open(path).expect("reopen the store");
    let open = started.elapsed();
    let last = store.last_applied().unwrap().expect("a committed block");
    let header = store
        .block_by_height(last.height)
        .unwrap()
        .expect("the last committed block is stored")
        .header()
        .clone();
    assert_eq!(header.height, last.height);
    assert_eq!(header.digest(), last.block_digest, "last_applied's block");
    assert_eq!(header.state_root, last.state_root, "last_applied's root");

    let key = keys::account(&present.address);
    let proven = store.get_proven(key.as_bytes()).unwrap();
    let account = proven
        .verified_value(&header.state_root, &key)
        .expect("the inclusion proof verifies")
        .expect("the account exists");
    assert!(account.nonce > 0, "the account has sent transactions");

    let absent = keys::account(&Actor::new(NEVER_USED_SEED).address);
    let proven = store.get_proven(absent.as_bytes()).unwrap();
    let value = proven
        .verified_value(&header.state_root, &absent)
        .expect("the exclusion proof verifies");
    assert_eq!(value, None, "the never-used account is absent");
    let answer = VerifiedAnswer {
        height: last.height,
        state_root: header.state_root,
        open,
        answered: started.elapsed(),
    };
    (store, answer)
}
