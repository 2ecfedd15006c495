//! What a node lets strangers make it verify (review R2, R3). An aggregate check costs a
//! pairing per release (≈ 0.4 s of CPU for a full batch), and anyone reaching the HTTP API
//! or a MED channel can ask for one; so, before any pairing:
//! - a hospital batch from the API is charged to its hospital (known and audited on SUP —
//!   a state read — so the buckets are bounded by the hospitals that exist) in a token bucket
//!   counted in releases, and at most [`CONCURRENT_API_VERIFICATIONS`] run at once; beyond
//!   either the node answers "busy, retry in …" instead of working;
//! - a batch (by TX_mr and signature) or an Mblock (by hash) whose aggregate was refused is
//!   remembered, so the same bytes sent again are refused from memory.

use commonware_utils::NZU32;
use governor::{
    Quota, RateLimiter, clock::Clock, middleware::NoOpMiddleware, nanos::Nanos,
    state::keyed::DashMapStateStore,
};
use hashlink::LruCache;
use medchain_med::aggregate::AggregateError;
use medchain_types::{Address, BlsSignature, Hash32, med::MAX_BATCH_TXS};
use std::{
    hash::Hash,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Releases per second a hospital's API submissions may make this node verify: one full batch.
pub const HOSPITAL_RELEASES_PER_SECOND: NonZeroU32 = NZU32!(MAX_BATCH_TXS as u32);
/// Releases a hospital may submit at once after a quiet spell: four full batches.
pub const HOSPITAL_BURST_RELEASES: NonZeroU32 = NZU32!(4 * MAX_BATCH_TXS as u32);
/// API batches verified at the same time; more wait for the client's retry, not for a core.
pub const CONCURRENT_API_VERIFICATIONS: usize = 2;
/// Refused batches and Mblocks remembered (each entry is a key and a short error).
const REFUSALS_REMEMBERED: usize = 4_096;
/// How long a refusal that does not depend on SUP's state changing is trusted, milliseconds.
const REFUSAL_TTL_MS: u64 = 60_000;
/// The retry hint when every verification slot is taken, milliseconds.
pub const BUSY_RETRY_MS: u64 = 1_000;

/// The node's clock (unix milliseconds) as a rate limiter's clock.
#[derive(Clone)]
pub(super) struct NodeClock(pub(super) Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock for NodeClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Duration::from_millis((self.0)()))
    }
}

/// A refusal remembered with what it was judged against.
#[derive(Clone)]
struct Remembered {
    error: AggregateError,
    /// SUP's committed height when it was judged.
    sup_height: u64,
    /// The node's clock then.
    at_ms: u64,
}

/// Refused keys (batches or Mblocks), least recently used evicted first.
pub(super) struct Refusals<K: Hash + Eq> {
    entries: Mutex<LruCache<K, Remembered>>,
}

impl<K: Hash + Eq> Default for Refusals<K> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(LruCache::new(REFUSALS_REMEMBERED)),
        }
    }
}

impl<K: Hash + Eq> Refusals<K> {
    /// The refusal of `key` if it still holds: a signer's standing only changes with a SUP
    /// block, so a signer refusal holds while SUP's committed height is the one it was judged
    /// at; a bad signature or a malformed body only changes if a key is replaced, so it holds
    /// for [`REFUSAL_TTL_MS`].
    pub(super) fn get(&self, key: &K, sup_height: u64, now_ms: u64) -> Option<AggregateError> {
        let mut entries = self.lock();
        let remembered = entries.get(key)?;
        let holds = match remembered.error {
            AggregateError::Signer { .. } => remembered.sup_height == sup_height,
            _ => now_ms < remembered.at_ms.saturating_add(REFUSAL_TTL_MS),
        };
        if holds {
            return Some(remembered.error.clone());
        }
        entries.remove(key);
        None
    }

    /// Remembers that `key` was refused for `error`.
    pub(super) fn remember(&self, key: K, error: &AggregateError, sup_height: u64, now_ms: u64) {
        self.lock().insert(
            key,
            Remembered {
                error: error.clone(),
                sup_height,
                at_ms: now_ms,
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<K, Remembered>> {
        // The cache is only a shortcut: a poisoned one is as good as the entries it holds.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why an API batch is not verified now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Throttled {
    /// Its hospital used its share of this node's verifications.
    #[error(
        "hospital {hospital} submitted more releases than this node verifies for it; retry in {retry_after_ms} ms"
    )]
    Hospital {
        /// The batch's hospital.
        hospital: Address,
        /// When its bucket holds the batch again.
        retry_after_ms: u64,
    },
    /// Every verification slot is taken.
    #[error("this node is verifying other batches; retry in {retry_after_ms} ms")]
    Busy {
        /// A hint: about one batch's verification.
        retry_after_ms: u64,
    },
}

impl Throttled {
    /// When the client may try again, milliseconds.
    pub fn retry_after_ms(&self) -> u64 {
        match self {
            Self::Hospital { retry_after_ms, .. } | Self::Busy { retry_after_ms } => {
                *retry_after_ms
            }
        }
    }
}

/// The admission state of a MED service.
pub(super) struct Admission {
    clock: NodeClock,
    hospitals: RateLimiter<Address, DashMapStateStore<Address>, NodeClock, NoOpMiddleware<Nanos>>,
    verifying: Semaphore,
    /// Refused batches, by TX_mr and signature (the root does not cover the signature: an
    /// honest batch with the same releases must not inherit a forgery's refusal).
    pub(super) batches: Refusals<(Hash32, BlsSignature)>,
    /// Refused Mblocks, by hash (which covers the body and its signature).
    pub(super) blocks: Refusals<Hash32>,
}

impl Admission {
    pub(super) fn new(clock: NodeClock) -> Self {
        let quota =
            Quota::per_second(HOSPITAL_RELEASES_PER_SECOND).allow_burst(HOSPITAL_BURST_RELEASES);
        Self {
            hospitals: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            verifying: Semaphore::new(CONCURRENT_API_VERIFICATIONS),
            batches: Refusals::default(),
            blocks: Refusals::default(),
        }
    }

    /// Charges `releases` to `hospital`'s bucket (a hospital SUP knows: the caller checked).
    pub(super) fn charge(&self, hospital: Address, releases: usize) -> Result<(), Throttled> {
        let cells = u32::try_from(releases)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(HOSPITAL_BURST_RELEASES);
        let retry_after = match self.hospitals.check_key_n(&hospital, cells) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => not_until.wait_time_from(self.clock.now()),
            // More than a burst: never admissible; the size check rules it out first.
            Err(_) => Duration::from_secs(60),
        };
        self.hospitals.retain_recent();
        Err(Throttled::Hospital {
            hospital,
            retry_after_ms: u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// A verification slot, held while the pairings run.
    pub(super) fn slot(&self) -> Result<SemaphorePermit<'_>, Throttled> {
        self.verifying.try_acquire().map_err(|_| Throttled::Busy {
            retry_after_ms: BUSY_RETRY_MS,
        })
    }
}
