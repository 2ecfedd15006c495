//! Nothing acknowledged is lost to `kill -9`: a child process commits small blocks to a file
//! store, printing each height once the commit returned, and is killed with SIGKILL at seeded
//! pseudo-random moments inside a commit, several rounds on the same file. After each kill the
//! store reopens at a height at least the last acknowledged one, that block's header carries
//! the stored root, proofs verify against it, and the chain commits on. With group commits
//! the store also never holds part of a group.
//!
//! The child is this test binary run again (`child_commits_until_killed`, ignored unless the
//! parent asks for it), so the test needs nothing beyond `cargo test`.

mod common;
mod reopen;

use common::Chain;
use medchain_storage::Store;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use reopen::{filers, first_verified_answer, kill_during_commit, next_entries};
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// Tells a re-run of this binary that it is the child, and where its store is.
const CHILD_STORE_ENV: &str = "MEDCHAIN_CRASH_CHILD_STORE";
/// Blocks per commit in the child (1: `commit`; more: `commit_group`).
const CHILD_GROUP_ENV: &str = "MEDCHAIN_CRASH_CHILD_GROUP";
const CHILD_TEST: &str = "child_commits_until_killed";
/// Small blocks keep a debug child fast; a few transactions still make a commit write many
/// tree nodes, receipts and index rows.
const FILERS: usize = 8;
const ROUNDS: u64 = 6;

#[test]
#[ignore = "the crash tests' child process: they run it, then kill it mid-commit"]
fn child_commits_until_killed() {
    let Ok(path) = std::env::var(CHILD_STORE_ENV) else {
        eprintln!("only meaningful when started by the crash tests, with {CHILD_STORE_ENV} set");
        return;
    };
    let group = std::env::var(CHILD_GROUP_ENV)
        .ok()
        .and_then(|group| group.parse().ok())
        .unwrap_or(1);
    let store = Store::open(path).expect("open the store");
    reopen::commit_until_killed(store, &filers(FILERS), group);
}

fn spawn_child(path: &Path, group: u64) -> Child {
    Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
        .env(CHILD_STORE_ENV, path)
        .env(CHILD_GROUP_ENV, group.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child")
}

/// `ROUNDS` kills of a child committing `group` blocks at a time, each checked on reopen.
fn kill_and_reopen(group: u64, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let filers = filers(FILERS);
    // One block before the first child, so the filers' accounts exist for the proofs.
    let mut chain = Chain::new(Store::open(&path).unwrap());
    chain.commit(&next_entries(&filers, &mut [0; FILERS], 1));
    let mut start = chain.height();
    drop(chain);

    let mut rng = StdRng::seed_from_u64(seed);
    let mut acknowledged_total = 0;
    let mut killed_inside = 0;
    for round in 0..ROUNDS {
        let commits = rng.random_range(1..=5) * group;
        let delay = Duration::from_micros(rng.random_range(0..5_000));
        let acknowledged = kill_during_commit(spawn_child(&path, group), commits, delay);
        let last = acknowledged.last.expect("the child acknowledged commits");
        acknowledged_total += acknowledged.count;
        killed_inside += u64::from(acknowledged.killed_inside_commit());

        let (store, answer) = first_verified_answer(&path, &filers[0]);
        assert!(
            answer.height >= last,
            "round {round}: reopened at {} but {last} was acknowledged",
            answer.height
        );
        // A kill lands after a commit or before it, never inside: the store holds whole
        // groups, and at most the one whose acknowledgement was cut short.
        assert_eq!(
            (answer.height - start) % group,
            0,
            "round {round}: {} is not a group boundary after {start}",
            answer.height
        );
        assert!(answer.height < last + group + 1, "round {round}");

        let mut chain = Chain::resume(store);
        let mut nonces: Vec<u64> = filers.iter().map(|filer| chain.nonce(filer)).collect();
        let (block, _) = chain.commit(&next_entries(&filers, &mut nonces, answer.height + 1));
        assert_eq!(block.header().height, answer.height + 1);
        let resumed = chain.store.last_applied().unwrap().unwrap();
        assert_eq!(resumed.state_root, block.header().state_root);
        start = chain.height();
    }
    assert!(acknowledged_total >= ROUNDS * group);
    // Where a kill lands depends on the machine's speed, so it is reported, not asserted.
    eprintln!("group {group}: {killed_inside} of {ROUNDS} kills landed inside a commit");
}

#[test]
fn a_store_killed_mid_commit_reopens_with_every_acknowledged_block() {
    kill_and_reopen(1, 14);
}

#[test]
fn a_store_killed_mid_group_commit_holds_whole_groups() {
    kill_and_reopen(3, 15);
}
