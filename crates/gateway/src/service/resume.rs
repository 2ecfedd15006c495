//! Completing unfinished releases while the gateway runs (S3-release, S3-supervise).
//!
//! A release can outlive the request that wrote it: on a MED chain the doctor's wait may run
//! out before SUP checkpoints the Mblock (503 `pending_on_med`), and a gateway stopped midway
//! leaves its rows `written` or `released`. The [`Resumer`] thread goes over every unfinished
//! record ([`crate::emr::EmrStore::pending`]) when the gateway starts — after it serves, so a
//! long list never holds the start up — and again every [`RESUME_EVERY`], several records at
//! once ([`RESUME_WORKERS`]): each is completed once final, resubmitted by the ledger if it
//! vanished from MED, or ended for good (`expired`, `refused`: kept, no longer resumed, the
//! doctor told when writing it again).
//!
//! A record is completed by one thread at a time: a request and the resumer claim it by
//! (patient, hEMR) first ([`Claims`]), so one record is never sealed, stored or pointed to
//! twice. Several gateway processes may share one EMR database, each with its resumer, so the
//! record is then claimed in the database too (`EmrStore::claim`, for [`CLAIM_LEASE`]): a
//! resumer leaves a record another process holds, a request waits for it, and the claim of a
//! process that stopped lapses.

use super::{Gateway, now_ms, release::Filing};
use crate::{
    emr::{self, EmrError, EmrStore, Hemr, PatientAddress, RecordKey, RecordState},
    ledger::LedgerError,
    service::ServiceError,
};
use std::{
    collections::HashSet,
    io,
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
    time::Duration,
};

/// How often the resumer goes over the unfinished releases again.
pub const RESUME_EVERY: Duration = Duration::from_secs(10);

/// Most unfinished releases one pass follows at once (each may wait for finality up to the
/// gateway's wait policy).
pub const RESUME_WORKERS: usize = 4;

/// How long a record's claim in the EMR database holds unless its process gives it up: longer
/// than completing one record takes (the release's wait for finality, then the blob and its
/// pointer), so that a claim lapses only when its gateway stopped.
pub const CLAIM_LEASE: Duration = Duration::from_secs(10 * 60);

/// How often a request polls for a record another gateway process holds.
const CLAIM_POLL: Duration = Duration::from_secs(1);

/// The thread completing unfinished releases; dropping it stops the thread (after the records
/// in hand are done) and waits for it.
pub(crate) struct Resumer {
    stop: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl Resumer {
    /// Starts the thread: the entries a stopped gateway left queued are submitted again once
    /// (S3-entry: re-sealing them on every pass would only fill the node's pool with new batch
    /// roots of the same entries), then a first release pass at once, then one every
    /// [`RESUME_EVERY`].
    pub(crate) fn start(gateway: Arc<Gateway>) -> io::Result<Self> {
        let stop = Arc::new(StopSignal::default());
        let stopping = stop.clone();
        let thread = thread::Builder::new()
            .name("release-resumer".into())
            .spawn(move || {
                gateway.resume_entries();
                loop {
                    gateway.resume_releases(&stopping);
                    if stopping.sleep(RESUME_EVERY) {
                        break;
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Resumer {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Tells the resumer to stop, and wakes it.
#[derive(Default)]
pub(crate) struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    fn stop(&self) {
        *lock(&self.stopped) = true;
        self.changed.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Waits `timeout` or until stopped; returns whether stopped.
    fn sleep(&self, timeout: Duration) -> bool {
        let (stopped, _) = self
            .changed
            .wait_timeout_while(lock(&self.stopped), timeout, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *stopped
    }
}

/// The records (patient, hEMR) a thread is completing, and the name this process claims
/// records under in the EMR database.
pub(crate) struct Claims {
    held: Mutex<HashSet<(PatientAddress, Hemr)>>,
    released: Condvar,
    owner: String,
}

impl Default for Claims {
    fn default() -> Self {
        Self {
            held: Mutex::default(),
            released: Condvar::default(),
            owner: process_owner(),
        }
    }
}

/// A name no other gateway process sharing the database has: random (the process id and the
/// clock should the system have no randomness to give).
fn process_owner() -> String {
    let mut name = [0u8; 16];
    if getrandom::fill(&mut name).is_err() {
        name[..4].copy_from_slice(&std::process::id().to_le_bytes());
        name[4..12].copy_from_slice(&now_ms().to_le_bytes());
    }
    hex::encode(name)
}

/// A record claimed in the EMR database by this process; given up when dropped.
pub(crate) struct StoredClaim<'a> {
    emr: &'a EmrStore,
    key: RecordKey,
    owner: &'a str,
}

impl Drop for StoredClaim<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.emr.unclaim(&self.key, self.owner) {
            tracing::warn!(key = %self.key, %error, "cannot give up a record's claim; it lapses");
        }
    }
}

/// A record claimed; the claim is released when this is dropped.
pub(crate) struct Claim<'a> {
    claims: &'a Claims,
    record: (PatientAddress, Hemr),
}

impl Claims {
    /// Claims the record, waiting while another thread completes it.
    pub(crate) fn claim(&self, patient: PatientAddress, hemr: Hemr) -> Claim<'_> {
        let record = (patient, hemr);
        let mut held = self
            .released
            .wait_while(lock(&self.held), |held| held.contains(&record))
            .unwrap_or_else(PoisonError::into_inner);
        held.insert(record);
        Claim {
            claims: self,
            record,
        }
    }

    /// Claims the record unless another thread holds it.
    ///
    /// The guard is built only when the record was free, and after the lock is given back:
    /// a `Claim` built (and dropped) for a held record would remove the holder's claim, and
    /// its drop would take the lock this thread still held — the deadlock that once hung
    /// every request of a gateway whose resumer met a record a request was completing.
    fn try_claim(&self, patient: PatientAddress, hemr: Hemr) -> Option<Claim<'_>> {
        let record = (patient, hemr);
        let free = lock(&self.held).insert(record);
        free.then(|| Claim {
            claims: self,
            record,
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(&self.claims.held).remove(&self.record);
        self.claims.released.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Gateway {
    /// Claims the record in the EMR database for this process, unless another process holds
    /// it.
    fn try_claim_stored(&self, key: &RecordKey) -> Result<Option<StoredClaim<'_>>, EmrError> {
        let now = now_ms();
        let lease_ms = u64::try_from(CLAIM_LEASE.as_millis()).unwrap_or(u64::MAX);
        let owner = self.completing.owner.as_str();
        let held = self
            .emr
            .claim(key, owner, now, now.saturating_add(lease_ms))?;
        // Built only when claimed: dropping one would give up the holder's claim (a request
        // of this very process holds its records under the same owner name).
        Ok(held.then(|| StoredClaim {
            emr: &self.emr,
            key: *key,
            owner,
        }))
    }

    /// Claims the record in the EMR database, waiting while another gateway process holds it
    /// (at most until its claim lapses).
    pub(crate) fn claim_stored(&self, key: &RecordKey) -> Result<StoredClaim<'_>, EmrError> {
        loop {
            if let Some(claim) = self.try_claim_stored(key)? {
                return Ok(claim);
            }
            thread::sleep(CLAIM_POLL);
        }
    }

    /// One pass over the unfinished releases, [`RESUME_WORKERS`] at a time; a record another
    /// thread is completing is left to it. Failures are logged and retried at the next pass.
    pub(crate) fn resume_releases(&self, stop: &StopSignal) {
        let pending = match self.emr.pending() {
            Ok(pending) => pending,
            Err(error) => {
                tracing::error!(%error, "cannot list unfinished releases");
                return;
            }
        };
        let workers = pending.len().min(RESUME_WORKERS);
        let queue = Mutex::new(pending.into_iter());
        thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while !stop.is_stopped() {
                        let Some(record) = lock(&queue).next() else {
                            break;
                        };
                        self.resume_release(&record);
                    }
                });
            }
        });
    }

    /// Completes one unfinished record unless another thread holds it or it moved on since it
    /// was listed.
    fn resume_release(&self, listed: &emr::Record) {
        let Some(_claim) = self.completing.try_claim(listed.key.patient, listed.hemr) else {
            return;
        };
        let _stored = match self.try_claim_stored(&listed.key) {
            Ok(Some(claim)) => claim,
            // Another gateway process on this database is completing it.
            Ok(None) => return,
            Err(error) => {
                tracing::error!(key = %listed.key, %error, "cannot claim an unfinished release");
                return;
            }
        };
        let record = match self.emr.get(&listed.key) {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(key = %listed.key, %error, "cannot read an unfinished release");
                return;
            }
        };
        if record.ended.is_some() || record.release.state() == RecordState::Stored {
            return;
        }
        match self.complete_release(&record, Filing::Again) {
            Ok(done) => {
                tracing::info!(record = %done.record, index = done.index, "release resumed and completed")
            }
            Err(ServiceError::Med(pending @ LedgerError::PendingOnMed { .. })) => {
                tracing::info!(key = %record.key, %pending, "release still pending; followed again at the next pass")
            }
            Err(error) => {
                tracing::warn!(key = %record.key, %error, "release not completed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn record(byte: u8) -> (PatientAddress, Hemr) {
        (PatientAddress([byte; 32]), Hemr([byte; 32]))
    }

    /// Runs `work` on its own thread; fails the test if it has not finished within 10 s (a
    /// deadlock would otherwise hang the test run).
    fn within_seconds<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || sender.send(work()));
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("claims deadlocked")
    }

    /// The resumer meeting a record a request holds: refused, without removing the request's
    /// claim and without deadlocking (both happened when the guard was built eagerly).
    #[test]
    fn a_held_record_is_refused_and_stays_held() {
        let outcome = within_seconds(|| {
            let claims = Claims::default();
            let (patient, hemr) = record(1);
            let request = claims.claim(patient, hemr);
            let first_try = claims.try_claim(patient, hemr).is_none();
            let second_try = claims.try_claim(patient, hemr).is_none();
            let other = claims.try_claim(record(2).0, record(2).1).is_some();
            drop(request);
            let after_release = claims.try_claim(patient, hemr).is_some();
            (first_try, second_try, other, after_release)
        });
        assert_eq!(outcome, (true, true, true, true));
    }

    /// A request waiting for a record the resumer holds goes on once the resumer drops it.
    #[test]
    fn a_waiting_claim_proceeds_when_released() {
        let claims = Arc::new(Claims::default());
        let (patient, hemr) = record(3);
        let resumer = claims.try_claim(patient, hemr).expect("free");
        let waiting = {
            let claims = claims.clone();
            std::thread::spawn(move || {
                let _claim = claims.claim(patient, hemr);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiting.is_finished(), "claimed twice");
        drop(resumer);
        within_seconds(move || waiting.join().expect("waiter"));
    }
}
