//! The miner (S3-dual): builds an Mblock template on the best tip from the batch pool (their
//! aggregates summed into the block's one signature) and searches its nonce in short slices,
//! resting between them, so mining takes a bounded share of one core and never holds an async
//! worker for more than [`MAX_SLICE`]. A new best tip or new batches make it start over on a
//! fresh template.

use super::MedService;
use commonware_runtime::{Clock, Handle, Spawner, Supervisor};
use medchain_med::pow;
use medchain_types::{
    Address,
    med::{Mblock, MblockHeader},
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Longest stretch of hashing between two rests.
pub const MAX_SLICE: Duration = Duration::from_millis(5);
/// The share of one core a miner uses unless configured otherwise, percent.
pub const DEFAULT_DUTY_PERCENT: u8 = 20;
/// A template older than this is rebuilt (fresh timestamp, newly pooled batches).
const TEMPLATE_AGE: Duration = Duration::from_secs(1);
/// Nonces tried in the first slice of a duty-cycled miner, before it measures itself.
const FIRST_SLICE_ATTEMPTS: u64 = 256;

/// How a miner paces itself.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Hash for at most [`MAX_SLICE`] at a time and rest so that hashing takes `percent` of
    /// the time (measured on the wall clock: a production node).
    DutyCycle {
        /// Share of one core, 1 to 100.
        percent: u8,
    },
    /// Try `attempts` nonces, then rest `rest` (a deterministic simulation, where hash power
    /// is a number of attempts per simulated time).
    Fixed {
        /// Nonces per slice.
        attempts: u64,
        /// Rest after each slice.
        rest: Duration,
    },
}

/// Starts mining with `address` as the Mblocks' miner.
pub fn start<E>(context: E, service: Arc<MedService>, address: Address, pace: Pace) -> Handle<()>
where
    E: Spawner + Clock + Supervisor,
{
    service.set_mining(true);
    context.spawn(move |context| run(context, service, address, pace))
}

async fn run<E>(context: E, service: Arc<MedService>, address: Address, pace: Pace)
where
    E: Spawner + Clock + Supervisor,
{
    let mut slicer = Slicer::new(pace);
    loop {
        let (mut header, body, generation) = service.template(address);
        let built = context.current();
        let found = loop {
            if slicer.slice(&mut header) {
                break true;
            }
            context.sleep(slicer.rest()).await;
            let stale = service.generation() != generation
                || context
                    .current()
                    .duration_since(built)
                    .is_ok_and(|age| age >= TEMPLATE_AGE);
            if stale {
                break false;
            }
        };
        if found {
            // Adding it re-verifies its aggregate: on the blocking pool, like a peer's.
            let service = service.clone();
            let _ = context
                .child("med_mined")
                .shared(true)
                .spawn(move |_| async move { service.mined(Mblock { header, body }) })
                .await;
        }
    }
}

/// One slice of hashing at a time, sized to the pace.
struct Slicer {
    pace: Pace,
    attempts: u64,
    last_slice: Duration,
}

impl Slicer {
    fn new(pace: Pace) -> Self {
        let attempts = match pace {
            Pace::DutyCycle { .. } => FIRST_SLICE_ATTEMPTS,
            Pace::Fixed { attempts, .. } => attempts.max(1),
        };
        Self {
            pace,
            attempts,
            last_slice: Duration::ZERO,
        }
    }

    /// Tries one slice of nonces on `header`; `true` if it found one.
    fn slice(&mut self, header: &mut MblockHeader) -> bool {
        let started = Instant::now();
        let found = pow::mine(header, self.attempts);
        if let Pace::DutyCycle { .. } = self.pace {
            self.last_slice = started.elapsed();
            self.attempts = resize(self.attempts, self.last_slice);
        }
        found
    }

    /// How long to rest after the last slice.
    fn rest(&self) -> Duration {
        match self.pace {
            Pace::DutyCycle { percent } => duty_rest(self.last_slice, percent),
            Pace::Fixed { rest, .. } => rest,
        }
    }
}

/// The next slice's attempts: halved after a slice longer than [`MAX_SLICE`], grown by half
/// after one shorter than half of it.
fn resize(attempts: u64, took: Duration) -> u64 {
    if took > MAX_SLICE {
        (attempts / 2).max(1)
    } else if took < MAX_SLICE / 2 {
        attempts.saturating_add(attempts / 2 + 1)
    } else {
        attempts
    }
}

/// The rest after hashing for `busy` so that hashing takes `percent` of the time.
fn duty_rest(busy: Duration, percent: u8) -> Duration {
    let percent = u32::from(percent.clamp(1, 100));
    busy * (100 - percent) / percent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duty_cycle_rests_four_times_as_long_as_it_hashes_at_twenty_percent() {
        let busy = Duration::from_millis(4);
        assert_eq!(duty_rest(busy, 20), Duration::from_millis(16));
        assert_eq!(duty_rest(busy, 100), Duration::ZERO);
        assert_eq!(duty_rest(busy, 50), busy);
        // Out of range is clamped (the configuration refuses it before).
        assert_eq!(duty_rest(busy, 0), busy * 99);
    }

    #[test]
    fn slices_shrink_when_too_long_and_grow_when_short() {
        assert_eq!(resize(1_000, Duration::from_millis(8)), 500);
        assert_eq!(resize(1, Duration::from_millis(8)), 1);
        assert_eq!(resize(1_000, Duration::from_millis(1)), 1_501);
        assert_eq!(resize(1_000, Duration::from_millis(3)), 1_000);
        assert_eq!(resize(u64::MAX, Duration::ZERO), u64::MAX);
    }
}
