//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) through its target, so every
//! input a fuzzer ever kept is re-checked by `cargo test`, on stable, without libFuzzer.

use std::{fs, path::PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_target_replays_its_whole_corpus() {
    for (target, run) in medchain_fuzzing::TARGETS {
        let dir = corpus_dir(target);
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no corpus for {target} at {}: {e}", dir.display()));
        let mut replayed = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let input = fs::read(&path).expect("corpus file");
            if let Err(panic) = std::panic::catch_unwind(|| run(&input)) {
                eprintln!("fuzz target {target} panicked on {}", path.display());
                std::panic::resume_unwind(panic);
            }
            replayed += 1;
        }
        assert!(replayed > 0, "the corpus of {target} is empty");
    }
}

#[test]
fn every_fuzz_target_has_a_body_here() {
    let targets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    let mut names: Vec<String> = fs::read_dir(&targets)
        .expect("fuzz/fuzz_targets")
        .map(|entry| {
            let path = entry.expect("target entry").path();
            path.file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let mut ours: Vec<String> = medchain_fuzzing::TARGETS
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    ours.sort();
    assert_eq!(
        names, ours,
        "fuzz/fuzz_targets and TARGETS name different targets"
    );
}

/// Every payload kind the chain knows has at least one input in the `payload` corpus, so a
/// new action cannot land without its decoder being fuzzed from a genuine encoding.
#[test]
fn the_payload_corpus_holds_every_payload_kind() {
    use commonware_codec::{Copying, DecodeExt as _};
    use medchain_types::Payload;
    let mut kinds: Vec<&str> = fs::read_dir(corpus_dir("payload"))
        .expect("payload corpus")
        .filter_map(|entry| {
            let input = fs::read(entry.expect("corpus entry").path()).expect("corpus file");
            Payload::decode(Copying(&input)).ok().map(|p| p.kind())
        })
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let every_kind = [
        "access.request",
        "access.serve",
        "consent.grant",
        "consent.revoke",
        "emergency.request",
        "identity.enrol",
        "identity.vouching_key",
        "licence.issue",
        "licence.renew",
        "pkg.deal",
        "record.entry",
        "record.release",
        "record.store",
        "registry.join",
        "registry.register",
        "registry.set_state",
        "revocation.add",
        "revocation.remove",
        "stake.delegate",
        "stake.register",
        "stake.report",
        "stake.undelegate",
        "stake.withdraw",
        "token.escrow_open",
        "token.escrow_refund",
        "token.escrow_release",
        "token.transfer",
    ];
    let missing: Vec<&str> = every_kind
        .into_iter()
        .filter(|kind| !kinds.contains(kind))
        .collect();
    assert!(missing.is_empty(), "no payload seed for {missing:?}");
}

/// The `block` corpus decodes in today's format, with and without a MED checkpoint
/// (S3-supervise), so the block fuzzer mutates both the transactions and the checkpoint.
#[test]
fn the_block_corpus_holds_blocks_with_and_without_a_checkpoint() {
    use commonware_codec::{Copying, DecodeExt as _};
    use medchain_types::Block;
    let (mut plain, mut checkpointing) = (0, 0);
    for entry in fs::read_dir(corpus_dir("block")).expect("block corpus") {
        let input = fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        match Block::decode(Copying(&input)) {
            Ok(block) if block.checkpoint().branch.is_empty() => plain += 1,
            Ok(_) => checkpointing += 1,
            Err(_) => {}
        }
    }
    assert!(plain >= 3, "{plain} blocks without a checkpoint decode");
    assert!(checkpointing >= 2, "{checkpointing} blocks with one decode");
}
