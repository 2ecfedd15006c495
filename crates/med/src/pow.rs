//! The MED chain's proof of work (S3-dual): SHA-256d over the encoded [`MblockHeader`],
//! difficulty retargeting from observed block times, median-time-past, and the header rules
//! every MED node and SUP's execution (which re-checks checkpointed headers) apply alike.
//!
//! SHA-256d is the well-known PoW of Bitcoin and needs no new primitive (`sha256` is already
//! everyone's hash). ASIC-friendliness does not matter here: the miners are the consortium's
//! hospitals, and SUP checkpoints cap what any hash-power advantage can rewrite
//! (S3-supervise).
//!
//! Everything here is pure: time enters as arguments, never from a clock.

use crate::MedError;
use commonware_codec::{Encode, FixedSize};
use commonware_cryptography::{Hasher, Sha256};
use medchain_types::{
    Address, ChainId, Hash32,
    med::{Mblock, MblockBody, MblockHeader, MedParams},
};

/// How many recent timestamps the median time past is taken over (Bitcoin's 11).
pub const MEDIAN_TIME_SPAN: usize = 11;

/// The most retargeting changes the difficulty from one block to the next, either way.
pub const MAX_RETARGET_FACTOR: u64 = 4;

/// Domain of the genesis Mblock's parent hash.
const GENESIS_PARENT_DOMAIN: &[u8] = b"medchain MED genesis";

/// Whether `hash` proves `difficulty` expected hashes of work: its first 16 bytes, read as a
/// big-endian integer, are at most `u128::MAX / difficulty`. Difficulty 0 is never met (it
/// would make blocks free).
pub fn meets_difficulty(hash: &Hash32, difficulty: u64) -> bool {
    if difficulty == 0 {
        return false;
    }
    let mut high = [0u8; 16];
    high.copy_from_slice(&hash[..16]);
    u128::from_be_bytes(high) <= u128::MAX / u128::from(difficulty)
}

/// The difficulty the child of `window.last()` must claim.
///
/// `window` is the last at most `params.retarget_window` ancestors, oldest first, ending at
/// the parent, as `(timestamp_ms, difficulty)`. The hash rate is estimated as the work of the
/// window's blocks after the first divided by the time they took; the new difficulty is that
/// rate times the target interval. Averaging over the window (rather than scaling the parent's
/// difficulty by the last interval) keeps a per-block retarget from oscillating. The change is
/// clamped to ×[`MAX_RETARGET_FACTOR`] / ÷[`MAX_RETARGET_FACTOR`] of the parent's difficulty
/// and never goes below `params.min_difficulty`. With fewer than two entries there is no
/// interval to measure: the parent's difficulty (for an empty window,
/// `params.initial_difficulty`). Never panics, whatever the window or the parameters.
pub fn next_difficulty(params: &MedParams, window: &[(u64, u64)]) -> u64 {
    let window = tail(
        window,
        usize::try_from(params.retarget_window).unwrap_or(usize::MAX),
    );
    let Some(&(parent_time, parent_difficulty)) = window.last() else {
        return params.initial_difficulty.max(params.min_difficulty);
    };
    if window.len() < 2 {
        return parent_difficulty.max(params.min_difficulty);
    }
    let first_time = window[0].0;
    // Timestamps only have to pass median-time-past, so they may go backwards: a span of at
    // least 1 ms keeps the estimate defined, and the clamp bounds what a skewed clock can do.
    let span_ms = u128::from(parent_time.saturating_sub(first_time).max(1));
    // Saturating: absurd genesis parameters must not overflow (u128 holds any real chain).
    let work = window[1..]
        .iter()
        .fold(0u128, |sum, &(_, d)| sum.saturating_add(u128::from(d)));
    let estimate = work.saturating_mul(u128::from(params.target_interval_ms)) / span_ms;
    // A 0-difficulty parent never passed `check_header`, but windows may come from unchecked
    // headers (a light client's): treat it as 1 rather than clamp into an empty range.
    let parent = u128::from(parent_difficulty.max(1));
    let factor = u128::from(MAX_RETARGET_FACTOR);
    let clamped = estimate.clamp((parent / factor).max(1), parent.saturating_mul(factor));
    u64::try_from(clamped)
        .unwrap_or(u64::MAX)
        .max(params.min_difficulty)
}

/// The median of the last at most [`MEDIAN_TIME_SPAN`] timestamps of `window` (the upper one
/// of an even count); 0 for an empty window. A child's timestamp must be after it.
pub fn median_time_past(window: &[(u64, u64)]) -> u64 {
    let mut times: Vec<u64> = tail(window, MEDIAN_TIME_SPAN)
        .iter()
        .map(|&(time, _)| time)
        .collect();
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or(0)
}

/// Tries `attempts` nonces from `header.nonce` on. Returns `true` with `header.nonce` set to
/// the first that meets `header.difficulty`; otherwise `false` with `header.nonce` moved past
/// the nonces tried, so the next call continues where this one stopped.
///
/// The header is encoded once and only its trailing nonce is rewritten per attempt.
pub fn mine(header: &mut MblockHeader, attempts: u64) -> bool {
    let mut encoded = header.encode().to_vec();
    let nonce_at = encoded.len() - u64::SIZE;
    let mut nonce = header.nonce;
    for _ in 0..attempts {
        encoded[nonce_at..].copy_from_slice(&nonce.to_be_bytes());
        if meets_difficulty(&sha256d(&encoded), header.difficulty) {
            header.nonce = nonce;
            return true;
        }
        nonce = nonce.wrapping_add(1);
    }
    header.nonce = nonce;
    false
}

/// SHA-256d, as [`MblockHeader::hash`] computes it over the header's encoding.
fn sha256d(bytes: &[u8]) -> Hash32 {
    let once = Sha256::hash(&[bytes]);
    Sha256::hash(&[once.as_ref()])
}

/// The genesis Mblock of `chain_id`'s MED chain: empty, height 0, timestamp
/// `genesis_time_ms`, difficulty `params.initial_difficulty`, nonce 0, mined by nobody, and
/// a parent hash that binds the chain id (`SHA-256("medchain MED genesis" ‖ chain_id)`). Every
/// node derives the same one from the genesis document; its work is never checked.
pub fn genesis_mblock(chain_id: &ChainId, genesis_time_ms: u64, params: &MedParams) -> Mblock {
    let body = MblockBody {
        batches: Vec::new(),
        signature: None,
    };
    let header = MblockHeader {
        height: 0,
        parent: Sha256::hash(&[GENESIS_PARENT_DOMAIN, &chain_id.encode()]),
        tx_root: body.item_root(chain_id),
        body_hash: body.hash(),
        timestamp_ms: genesis_time_ms,
        difficulty: params.initial_difficulty,
        miner: Address::from_bytes([0; 32]),
        nonce: 0,
    };
    Mblock { header, body }
}

/// Checks `header` as the child of `parent`, whose retarget window (see [`next_difficulty`])
/// is `window`: height, parent hash, difficulty as retargeted, proof of work, and a timestamp
/// after the median time past. Whether the timestamp is too far in the future needs a clock,
/// so it is the caller's ([`crate::chain::MedChain::insert`]).
pub fn check_header(
    params: &MedParams,
    parent: &MblockHeader,
    window: &[(u64, u64)],
    header: &MblockHeader,
) -> Result<(), MedError> {
    let expected_height = parent.height.saturating_add(1);
    if header.height != expected_height {
        return Err(MedError::WrongHeight {
            expected: expected_height,
            got: header.height,
        });
    }
    let parent_hash = parent.hash();
    if header.parent != parent_hash {
        return Err(MedError::WrongParent {
            expected: parent_hash,
            got: header.parent,
        });
    }
    let difficulty = next_difficulty(params, window);
    if header.difficulty != difficulty {
        return Err(MedError::WrongDifficulty {
            expected: difficulty,
            got: header.difficulty,
        });
    }
    if !meets_difficulty(&header.hash(), header.difficulty) {
        return Err(MedError::InsufficientWork {
            difficulty: header.difficulty,
        });
    }
    let median_time_past_ms = median_time_past(window);
    if header.timestamp_ms <= median_time_past_ms {
        return Err(MedError::TimestampTooOld {
            timestamp_ms: header.timestamp_ms,
            median_time_past_ms,
        });
    }
    Ok(())
}

/// The last at most `n` entries of `items`.
fn tail<T>(items: &[T], n: usize) -> &[T] {
    &items[items.len().saturating_sub(n)..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Digest as _;

    fn params() -> MedParams {
        MedParams {
            target_interval_ms: 1_000,
            initial_difficulty: 64,
            min_difficulty: 4,
            retarget_window: 8,
        }
    }

    fn chain_id() -> ChainId {
        ChainId::new("medchain-test").unwrap()
    }

    fn genesis() -> Mblock {
        genesis_mblock(&chain_id(), 1_000_000, &params())
    }

    /// A mined child of `parent` whose window is just the parent.
    fn child(parent: &MblockHeader, timestamp_ms: u64) -> MblockHeader {
        let mut header = MblockHeader {
            height: parent.height + 1,
            parent: parent.hash(),
            tx_root: parent.tx_root,
            body_hash: parent.body_hash,
            timestamp_ms,
            difficulty: next_difficulty(&params(), &[window_entry(parent)]),
            miner: Address::from_bytes([1; 32]),
            nonce: 0,
        };
        assert!(mine(&mut header, 1_000_000));
        header
    }

    fn window_entry(header: &MblockHeader) -> (u64, u64) {
        (header.timestamp_ms, header.difficulty)
    }

    #[test]
    fn difficulty_bounds_the_hash() {
        let zero = Hash32::EMPTY;
        let max = Hash32::from([0xff; 32]);
        assert!(meets_difficulty(&zero, u64::MAX));
        assert!(!meets_difficulty(&zero, 0), "difficulty 0 is never met");
        assert!(meets_difficulty(&max, 1), "difficulty 1 accepts every hash");
        assert!(!meets_difficulty(&max, 2));
        let mut half = [0u8; 32];
        half[0] = 0x7f;
        half[1..16].fill(0xff);
        assert!(meets_difficulty(&Hash32::from(half), 2));
        half[15] = 0x00;
        half[0] = 0x80;
        assert!(!meets_difficulty(&Hash32::from(half), 2));
    }

    #[test]
    fn mining_finds_a_nonce_the_header_hash_confirms_and_resumes_where_it_stopped() {
        let parent = genesis().header;
        let header = child(&parent, 1_001_000);
        assert!(meets_difficulty(&header.hash(), header.difficulty));

        let mut hard = header.clone();
        hard.difficulty = u64::MAX;
        hard.nonce = 10;
        assert!(!mine(&mut hard, 5));
        assert_eq!(
            hard.nonce, 15,
            "the next call continues after the nonces tried"
        );
    }

    #[test]
    fn genesis_is_deterministic_and_bound_to_the_chain() {
        let other = ChainId::new("other-chain").unwrap();
        assert_eq!(genesis(), genesis());
        assert_ne!(
            genesis().header.hash(),
            genesis_mblock(&other, 1_000_000, &params()).header.hash()
        );
        let genesis = genesis();
        assert_eq!(genesis.header.height, 0);
        assert_eq!(genesis.header.difficulty, params().initial_difficulty);
        assert!(genesis.body_matches(&chain_id()));
    }

    #[test]
    fn retargeting_follows_the_observed_interval_within_the_clamp() {
        let params = params();
        assert_eq!(next_difficulty(&params, &[]), 64);
        assert_eq!(next_difficulty(&params, &[(0, 100)]), 100);
        // On target: unchanged.
        let on_target: Vec<(u64, u64)> = (0..8).map(|i| (i * 1_000, 100)).collect();
        assert_eq!(next_difficulty(&params, &on_target), 100);
        // Twice too slow: half; twice too fast: double.
        let slow: Vec<(u64, u64)> = (0..8).map(|i| (i * 2_000, 100)).collect();
        assert_eq!(next_difficulty(&params, &slow), 50);
        let fast: Vec<(u64, u64)> = (0..8).map(|i| (i * 500, 100)).collect();
        assert_eq!(next_difficulty(&params, &fast), 200);
        // Instant blocks (or a clock going backwards): at most ×4; a stall: at most ÷4.
        let instant: Vec<(u64, u64)> = (0..8).map(|_| (5_000, 100)).collect();
        assert_eq!(next_difficulty(&params, &instant), 400);
        let stalled = [(0, 100), (1_000_000, 100)];
        assert_eq!(next_difficulty(&params, &stalled), 25);
        // Never below the floor.
        let floor = [(0, 5), (1_000_000, 5)];
        assert_eq!(next_difficulty(&params, &floor), params.min_difficulty);
        // Only the last `retarget_window` entries count.
        let mut long = vec![(0, 100); 4];
        long.extend((0..8).map(|i| (1_000_000 + i * 1_000, 100)));
        assert_eq!(next_difficulty(&params, &long), 100);
    }

    #[test]
    fn median_time_past_uses_the_last_eleven() {
        assert_eq!(median_time_past(&[]), 0);
        assert_eq!(median_time_past(&[(7, 1)]), 7);
        let window: Vec<(u64, u64)> = [100, 1, 2, 3, 9, 8, 7, 6, 5, 4, 30, 20]
            .into_iter()
            .map(|t| (t, 1))
            .collect();
        // The first entry (100) is outside the last 11; sorted: 1..=9, 20, 30 → 6.
        assert_eq!(median_time_past(&window), 6);
    }

    #[test]
    fn a_valid_header_passes_and_each_broken_rule_has_its_error() {
        let parent = genesis().header;
        let window = [window_entry(&parent)];
        let header = child(&parent, parent.timestamp_ms + 1);
        check_header(&params(), &parent, &window, &header).unwrap();

        let mut wrong_height = header.clone();
        wrong_height.height = 5;
        assert!(matches!(
            check_header(&params(), &parent, &window, &wrong_height),
            Err(MedError::WrongHeight {
                expected: 1,
                got: 5
            })
        ));
        let mut wrong_parent = header.clone();
        wrong_parent.parent = Hash32::EMPTY;
        assert!(matches!(
            check_header(&params(), &parent, &window, &wrong_parent),
            Err(MedError::WrongParent { .. })
        ));
        let mut wrong_difficulty = header.clone();
        wrong_difficulty.difficulty = 1;
        assert!(matches!(
            check_header(&params(), &parent, &window, &wrong_difficulty),
            Err(MedError::WrongDifficulty {
                expected: 64,
                got: 1
            })
        ));
        let mut no_work = header.clone();
        while meets_difficulty(&no_work.hash(), no_work.difficulty) {
            no_work.nonce += 1;
        }
        assert!(matches!(
            check_header(&params(), &parent, &window, &no_work),
            Err(MedError::InsufficientWork { difficulty: 64 })
        ));
        let stale = child(&parent, parent.timestamp_ms);
        assert!(matches!(
            check_header(&params(), &parent, &window, &stale),
            Err(MedError::TimestampTooOld { .. })
        ));
    }

    /// L1: any window and any parameters give a difficulty (a 0-difficulty parent, a floor
    /// above the estimate, extreme values) instead of a panic, never below the floor.
    #[test]
    fn retargeting_never_panics() {
        let extremes = [0, 1, 2, 3, 1_000, u64::MAX / 2, u64::MAX];
        for &target_interval_ms in &extremes {
            for &min_difficulty in &extremes {
                for &retarget_window in &[0, 1, 2, 8, u64::MAX] {
                    let params = MedParams {
                        target_interval_ms,
                        initial_difficulty: 16,
                        min_difficulty,
                        retarget_window,
                    };
                    for &time in &extremes {
                        for &difficulty in &extremes {
                            let window = [(0, 5), (time, difficulty)];
                            let next = next_difficulty(&params, &window);
                            assert!(next >= min_difficulty);
                            next_difficulty(&params, &window[1..]);
                        }
                    }
                }
            }
        }
        assert_eq!(next_difficulty(&params(), &[(0, 5), (1_000, 0)]), 4);
    }
}
