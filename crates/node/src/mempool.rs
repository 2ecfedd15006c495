//! The mempool: verified transactions waiting for a block.
//!
//! Admission (S1-block; issue 2 §4) checks, in order: size and decoding (done by the caller),
//! chain id and every signature (the caller hands in [`VerifiedTransaction`]s, batch-verified),
//! the nonce against the sender's committed nonce and pending transactions (at most
//! [`FUTURE_WINDOW`] past the sender's last pending one: room for a client's transactions
//! reaching this validator out of order through different nodes, not for parking many
//! transactions that cannot run), duplicates, and capacity. Selection for a block takes each sender's
//! transactions in nonce order starting from the nonce the proposal's parent state expects, so
//! a block never carries a gap or a replay. A transaction that fails to execute when a block is
//! built is evicted with the rest of its sender's queue ([`Mempool::evict_from`]), so a failed
//! transaction never blocks its sender.

use medchain_types::{Address, TxId, VerifiedTransaction};
use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

/// How far ahead of its committed nonce a sender may queue transactions.
pub const NONCE_WINDOW: u64 = 1024;

/// How far past its last pending transaction a sender's next one may skip (out-of-order
/// arrival through different validators).
pub const FUTURE_WINDOW: u64 = 64;

/// Mempool bounds.
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    /// Most transactions held in total.
    pub max_txs: usize,
    /// Most transactions held per sender.
    pub max_per_sender: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            max_txs: 200_000,
            max_per_sender: NONCE_WINDOW as usize,
        }
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// Nonce already used by a committed transaction.
    #[error("nonce {got} is already used; the sender's next nonce is {expected}")]
    StaleNonce {
        /// Sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// Nonce too far ahead.
    #[error(
        "nonce {got} is too far ahead of the sender's next nonce {expected} (window {NONCE_WINDOW})"
    )]
    NonceTooFar {
        /// Sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// Another transaction with the same sender and nonce is waiting.
    #[error("another transaction from this sender with nonce {0} is already pending")]
    NonceTaken(u64),
    /// Nonce skips too far ahead of the sender's pending transactions.
    #[error(
        "nonce {got} is too far past the sender's next nonce {expected} (at most {FUTURE_WINDOW} ahead)"
    )]
    NonceGap {
        /// The nonce that would follow the sender's pending transactions.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The mempool or the sender's share of it is full.
    #[error("mempool is full; retry later")]
    Full,
}

/// What [`Mempool::admit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Newly added.
    New,
    /// Already present (same id): nothing changed.
    Duplicate,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<TxId, VerifiedTransaction>,
    by_sender: HashMap<Address, BTreeMap<u64, TxId>>,
    /// Senders in order of their first pending transaction's arrival, for fair selection.
    arrival: BTreeMap<u64, Address>,
    sender_arrival: HashMap<Address, u64>,
    next_arrival: u64,
}

/// A thread-safe mempool.
#[derive(Default)]
pub struct Mempool {
    limits: MempoolLimits,
    inner: Mutex<Inner>,
}

impl Mempool {
    /// An empty mempool with these bounds.
    pub fn new(limits: MempoolLimits) -> Self {
        Self {
            limits,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps (every mutation is a single
        // insert/remove sequence), so poisoning carries no information here.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a verified transaction whose sender's committed next nonce is `committed_nonce`.
    pub fn admit(
        &self,
        tx: VerifiedTransaction,
        committed_nonce: u64,
    ) -> Result<Admitted, AdmissionError> {
        let nonce = tx.body().nonce;
        if nonce < committed_nonce {
            return Err(AdmissionError::StaleNonce {
                expected: committed_nonce,
                got: nonce,
            });
        }
        if nonce >= committed_nonce + NONCE_WINDOW {
            return Err(AdmissionError::NonceTooFar {
                expected: committed_nonce,
                got: nonce,
            });
        }
        let mut inner = self.lock();
        if inner.by_id.contains_key(&tx.id()) {
            return Ok(Admitted::Duplicate);
        }
        let sender = tx.body().sender;
        let queue = inner.by_sender.get(&sender);
        let queue_len = queue.map_or(0, BTreeMap::len);
        if queue.is_some_and(|q| q.contains_key(&nonce)) {
            return Err(AdmissionError::NonceTaken(nonce));
        }
        let next = queue
            .and_then(|q| q.last_key_value())
            .map_or(committed_nonce, |(last, _)| last + 1)
            .max(committed_nonce);
        if nonce > next + FUTURE_WINDOW {
            return Err(AdmissionError::NonceGap {
                expected: next,
                got: nonce,
            });
        }
        if inner.by_id.len() >= self.limits.max_txs || queue_len >= self.limits.max_per_sender {
            return Err(AdmissionError::Full);
        }
        if queue_len == 0 {
            let seq = inner.next_arrival;
            inner.next_arrival += 1;
            inner.arrival.insert(seq, sender);
            inner.sender_arrival.insert(sender, seq);
        }
        inner
            .by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, tx.id());
        inner.by_id.insert(tx.id(), tx);
        Ok(Admitted::New)
    }

    /// A pending transaction by id (used to skip re-verifying signatures of block contents).
    pub fn get(&self, id: &TxId) -> Option<VerifiedTransaction> {
        self.lock().by_id.get(id).cloned()
    }

    /// Whether a transaction is pending.
    pub fn contains(&self, id: &TxId) -> bool {
        self.lock().by_id.contains_key(id)
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Candidates for a block, at most `max_txs`: senders in arrival order, each sender's
    /// transactions in nonce order starting at `next_nonce(sender)` with no gaps.
    pub fn candidates(
        &self,
        max_txs: usize,
        mut next_nonce: impl FnMut(&Address) -> u64,
    ) -> Vec<VerifiedTransaction> {
        let inner = self.lock();
        let mut selected = Vec::new();
        for sender in inner.arrival.values() {
            let Some(queue) = inner.by_sender.get(sender) else {
                continue;
            };
            let start = next_nonce(sender);
            for (expected, (&nonce, id)) in (start..).zip(queue.range(start..)) {
                if nonce != expected || selected.len() == max_txs {
                    break;
                }
                selected.push(inner.by_id[id].clone());
            }
            if selected.len() == max_txs {
                break;
            }
        }
        selected
    }

    /// Drops transactions made obsolete by a finalized block: for every sender of `included`,
    /// each of its transactions whose nonce is now below `next_nonce(sender)` (the included one,
    /// or a different transaction with the same nonce that lost the race).
    pub fn remove_finalized<'a>(
        &self,
        included: impl IntoIterator<Item = &'a Address>,
        mut next_nonce: impl FnMut(&Address) -> u64,
    ) {
        let mut senders: Vec<Address> = included.into_iter().copied().collect();
        senders.sort();
        senders.dedup();
        let mut inner = self.lock();
        for sender in senders {
            let floor = next_nonce(&sender);
            let Some(queue) = inner.by_sender.get_mut(&sender) else {
                continue;
            };
            let keep = queue.split_off(&floor);
            let dropped = std::mem::replace(queue, keep);
            inner.forget(&sender, dropped);
        }
    }

    /// Evicts `sender`'s transaction at `nonce` and every later one: it failed to execute, so
    /// the later ones (which follow it in nonce order) can never run either.
    pub fn evict_from(&self, sender: &Address, nonce: u64) {
        let mut inner = self.lock();
        let Some(queue) = inner.by_sender.get_mut(sender) else {
            return;
        };
        let dropped = queue.split_off(&nonce);
        inner.forget(sender, dropped);
    }
}

impl Inner {
    /// Removes the dropped transactions of `sender`, and the sender itself once it has none.
    fn forget(&mut self, sender: &Address, dropped: BTreeMap<u64, TxId>) {
        for id in dropped.values() {
            self.by_id.remove(id);
        }
        if self.by_sender.get(sender).is_some_and(BTreeMap::is_empty) {
            self.by_sender.remove(sender);
            if let Some(seq) = self.sender_arrival.remove(sender) {
                self.arrival.remove(&seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer;
    use medchain_types::{ChainId, OrgKind, OrgName, Payload, PrivateKey, RegistryPayload, TxBody};

    fn tx(seed: u64, nonce: u64) -> VerifiedTransaction {
        let key = PrivateKey::from_seed(seed);
        let chain = ChainId::new("medchain-test").unwrap();
        TxBody {
            chain_id: chain.clone(),
            sender: Address::from(key.public_key()),
            nonce,
            payload: Payload::Registry(RegistryPayload::Register {
                name: OrgName::new(format!("org {seed} {nonce}")).unwrap(),
                kind: OrgKind::Hospital,
            }),
        }
        .sign(&key)
        .unwrap()
        .verify(&chain)
        .unwrap()
    }

    #[test]
    fn admission_enforces_the_nonce_window_and_duplicates() {
        let pool = Mempool::default();
        assert_eq!(pool.admit(tx(1, 5), 5), Ok(Admitted::New));
        assert_eq!(pool.admit(tx(1, 5), 5), Ok(Admitted::Duplicate));
        assert!(matches!(
            pool.admit(tx(1, 4), 5),
            Err(AdmissionError::StaleNonce { .. })
        ));
        assert!(matches!(
            pool.admit(tx(1, 5 + NONCE_WINDOW), 5),
            Err(AdmissionError::NonceTooFar { .. })
        ));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn candidates_follow_nonces_without_gaps() {
        let pool = Mempool::default();
        for nonce in [0, 1] {
            pool.admit(tx(1, nonce), 0).unwrap();
        }
        pool.admit(tx(2, 0), 0).unwrap();
        let picked: Vec<_> = pool
            .candidates(10, |_| 0)
            .iter()
            .map(|t| (t.body().sender, t.body().nonce))
            .collect();
        let a = tx(1, 0).body().sender;
        let b = tx(2, 0).body().sender;
        assert_eq!(picked, vec![(a, 0), (a, 1), (b, 0)]);
        assert_eq!(pool.candidates(2, |_| 0).len(), 2);
        // A parent that already included nonce 0 and 1 of sender a.
        let after = pool.candidates(10, |s| if *s == tx(1, 0).body().sender { 2 } else { 0 });
        assert_eq!(after.len(), 1);
    }

    #[test]
    fn finalization_prunes_included_and_stale_transactions() {
        let pool = Mempool::default();
        let (t0, t1, t2) = (tx(1, 0), tx(1, 1), tx(1, 2));
        for t in [&t0, &t1, &t2] {
            pool.admit(t.clone(), 0).unwrap();
        }
        let sender = t0.body().sender;
        pool.remove_finalized([&sender], |_| 2);
        assert!(!pool.contains(&t0.id()) && !pool.contains(&t1.id()));
        assert!(pool.contains(&t2.id()));
        pool.remove_finalized([&sender], |_| 3);
        assert!(pool.is_empty());
        assert!(pool.candidates(10, |_| 0).is_empty());
    }

    #[test]
    fn a_losing_transaction_with_the_included_nonce_is_pruned_too() {
        let pool = Mempool::default();
        let mine = tx(1, 0);
        pool.admit(mine.clone(), 0).unwrap();
        // The block carried another transaction of the same sender and nonce: the sender's
        // nonce moved past 0, so the pending one can never run.
        pool.remove_finalized([&mine.body().sender], |_| 1);
        assert!(pool.is_empty());
    }

    #[test]
    fn far_gaps_are_refused_and_failed_transactions_evicted_with_their_successors() {
        let pool = Mempool::default();
        let far = FUTURE_WINDOW + 1;
        assert_eq!(
            pool.admit(tx(1, far), 0),
            Err(AdmissionError::NonceGap {
                expected: 0,
                got: far
            })
        );
        // A little out of order is fine (it waits for the gap to fill).
        pool.admit(tx(1, 2), 0).unwrap();
        assert!(
            pool.candidates(10, |_| 0).is_empty(),
            "a gapped transaction was selected"
        );
        for nonce in 0..2 {
            pool.admit(tx(1, nonce), 0).unwrap();
        }
        assert_eq!(pool.candidates(10, |_| 0).len(), 3);
        let sender = tx(1, 0).body().sender;
        pool.evict_from(&sender, 1);
        assert_eq!(pool.len(), 1);
        assert!(pool.contains(&tx(1, 0).id()));
        // The sender can submit a replacement for the evicted nonce.
        assert_eq!(pool.admit(tx(1, 1), 0), Ok(Admitted::New));
    }

    #[test]
    fn capacity_is_enforced() {
        let pool = Mempool::new(MempoolLimits {
            max_txs: 2,
            max_per_sender: 2,
        });
        pool.admit(tx(1, 0), 0).unwrap();
        pool.admit(tx(1, 1), 0).unwrap();
        assert_eq!(pool.admit(tx(1, 2), 0), Err(AdmissionError::Full));
        assert_eq!(pool.admit(tx(2, 0), 0), Err(AdmissionError::Full));
    }
}
