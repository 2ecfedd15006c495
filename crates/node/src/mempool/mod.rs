//! The mempool: verified transactions waiting for a block.
//!
//! Shaped after production pools (reth's pending/queued sub-pools, CometBFT's bounded mempool)
//! so that junk cannot push out honest work (issue 7 §1):
//!
//! - **Pending vs queued.** A sender's transactions whose nonces run without a gap from its
//!   committed nonce are *pending*: they can execute, are gossiped, and count against the pending
//!   bound. A transaction after a gap is *queued*: it waits for the gap to fill, is neither
//!   gossiped nor proposed, and counts only against the (much smaller) queued bounds. When the gap
//!   fills — by admission or by a finalized block — the run that became contiguous is promoted
//!   and handed back to be gossiped.
//! - **Fees** (issue 11). A transaction paying less than the genesis fee schedule's minimum for
//!   its size is refused ([`AdmissionError::FeeTooLow`]), and so is one whose sender's committed
//!   balance cannot cover what everything it already has waiting plus this one takes from it
//!   ([`AdmissionError::CannotAfford`]): fees, and the amounts a transaction moves out of the
//!   balance (a delegation, an escrow deposit, the balance part of a transfer). A flood from
//!   unfunded keys costs nothing to refuse, and a funded flood pays for every transaction that
//!   executes. A `token.transfer` pays its fee from its inputs instead: the caller checks them
//!   against committed state before admission, and the mempool holds at most one transaction
//!   spending each output ([`AdmissionError::InputConflict`]), so a flood of transfers cannot
//!   name the same coins twice.
//!   A `research.enrol` is filed by a one-time address with no balance: the reward its study
//!   pays on acceptance is credited before the fee is taken, so admission counts it as
//!   prepaid ([`Charge::prepaid`]). Such an enrolment costs its sender nothing if refused, so
//!   the node verifies its proof at admission (a dry run on committed state, after the cheap
//!   checks of [`Mempool::precheck`]) and admits it only as its sender's next transaction
//!   ([`AdmissionError::EnrolmentNotNext`]): junk is refused before it is held or gossiped.
//! - **Bounds.** Per sender: at most [`MempoolLimits::max_queued_per_sender`] queued and
//!   [`MempoolLimits::max_pending_per_sender`] pending. In total: when the queued space is full,
//!   the worst-placed queued transaction (the one furthest from executable, newest first) is
//!   evicted for a better-placed newcomer; when the pending space is full, the newest pending
//!   transaction of the lowest-paying sender (by the fee of its next transaction; the newest
//!   sender among equals) is evicted for a newcomer that pays more, and at an equal fee a
//!   sender that has already executed a transaction (an *established* account) may push out a
//!   sender that never has. Executable transactions from established accounts are therefore
//!   never refused because of gapped or fresh-key junk paying no more than they do.
//! - **Expiry.** Queued transactions expire after [`MempoolLimits::queued_ttl_blocks`] committed
//!   blocks, pending ones after [`MempoolLimits::pending_ttl_blocks`]: a forgotten signed
//!   transaction does not surface thousands of blocks later.
//! - **No silent drop** (issue 7 §3). Every transaction that leaves without a block — failed at
//!   block building, expired, evicted, superseded by another use of its nonce, or orphaned by a
//!   dropped predecessor — is recorded in a bounded [`DropLog`] with its [`DropReason`].
//!
//! Selection for a block takes the highest fee first across senders (ties in the senders'
//! arrival order) and each sender's transactions in nonce order starting from the nonce the
//! proposal's parent state expects, so a block never carries a gap or a replay.

mod dropped;

pub use dropped::{DropLog, DropReason, Dropped};
use medchain_types::{
    Address, Payload, StakePayload, TokenPayload, TxId, VerifiedTransaction, token::OutPoint,
};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap},
    sync::Mutex,
};

/// How far ahead of its committed nonce a sender's transaction may be at all.
pub const NONCE_WINDOW: u64 = 1024;

/// How far past its first missing nonce a sender's queued transaction may be (out-of-order
/// arrival through different validators, not parking).
pub const FUTURE_WINDOW: u64 = 64;

/// Mempool bounds.
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    /// Most pending (executable) transactions in total.
    pub max_pending: usize,
    /// Most queued (gapped) transactions in total.
    pub max_queued: usize,
    /// Most pending transactions of one sender.
    pub max_pending_per_sender: usize,
    /// Most queued transactions of one sender.
    pub max_queued_per_sender: usize,
    /// Committed blocks after which a pending transaction is dropped.
    pub pending_ttl_blocks: u64,
    /// Committed blocks after which a queued transaction is dropped.
    pub queued_ttl_blocks: u64,
    /// How many recent drops are remembered for status queries.
    pub dropped_kept: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            max_pending: 200_000,
            max_queued: 10_000,
            max_pending_per_sender: NONCE_WINDOW as usize,
            // A client may spread its transactions over several validators: each may see up
            // to a window's worth before the earlier ones arrive by gossip.
            max_queued_per_sender: FUTURE_WINDOW as usize,
            // An idle chain makes at most two blocks a second, a busy one more: about ten
            // minutes, and one minute, at the idle rate.
            pending_ttl_blocks: 1_200,
            queued_ttl_blocks: 120,
            dropped_kept: 100_000,
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
    /// Nonce skips too far past the first nonce the sender is missing.
    #[error(
        "nonce {got} is too far ahead: the sender's next missing nonce is {expected} (at most {FUTURE_WINDOW} ahead of it)"
    )]
    NonceGap {
        /// The first nonce of the sender that is neither committed nor pending.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The sender already has as many transactions of this kind waiting as it may.
    #[error("the sender already has {held} {kind} transactions waiting (the limit)")]
    SenderFull {
        /// `pending` or `queued`.
        kind: &'static str,
        /// How many it has.
        held: usize,
    },
    /// The mempool has no room for a transaction placed like this one.
    #[error("mempool is full; retry later")]
    Full,
    /// The fee is below the genesis fee schedule's minimum for the transaction's size.
    #[error("fee {fee} is below the minimum {minimum} for this transaction's size")]
    FeeTooLow {
        /// The transaction's fee.
        fee: u64,
        /// The least it must pay.
        minimum: u64,
    },
    /// The sender's committed balance does not cover what its waiting transactions and this
    /// one take from it (fees and amounts).
    #[error(
        "the sender's balance {balance} cannot pay the fees and amounts of its waiting transactions and this one ({needed})"
    )]
    CannotAfford {
        /// The sender's committed balance.
        balance: u64,
        /// What it would owe with this transaction admitted.
        needed: u64,
    },
    /// A transfer spends an output that another waiting transaction already spends.
    #[error(
        "input {input} is already spent by waiting transaction {held_by}; wait until that one is finalized or dropped"
    )]
    InputConflict {
        /// The output both spend.
        input: OutPoint,
        /// The waiting transaction that spends it.
        held_by: TxId,
    },
    /// A `research.enrol` that is not its sender's next transaction: enrolments are not
    /// queued, because a queued transaction is not executed on committed state at admission
    /// and so its proof would go unverified.
    #[error(
        "an enrolment is admitted only as its sender's next transaction (nonce {expected}), got nonce {got}; enrol from a fresh one-time key with nonce 0"
    )]
    EnrolmentNotNext {
        /// The sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// A transfer spends an output that is not unspent in committed state.
    #[error(
        "input {0} is not an unspent output in committed state: it was never created, is already spent, or was created by a transaction that is not finalized yet (wait until that one is finalized, then send again)"
    )]
    UnknownInput(OutPoint),
}

/// What admission reads about a transaction's sender from committed state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderAccount {
    /// The nonce its next transaction must carry.
    pub nonce: u64,
    /// Its balance, which pays the fees of every transaction but a transfer, and the amounts
    /// transactions move out of it.
    pub balance: u64,
}

/// What a transaction must pay and what it brings with it, as the chain's rules say before
/// it executes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Charge {
    /// The least fee the genesis fee schedule asks for its size.
    pub min_fee: u64,
    /// What executing it credits to the sender's balance before the fee is taken (the
    /// reward of a `research.enrol` in an open, funded study): counted towards what the
    /// sender can afford, so a one-time address with no balance can enrol.
    pub prepaid: u64,
}

/// What [`Mempool::admit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Newly added and executable: it is gossiped and may be proposed.
    Pending,
    /// Newly added after a gap: it waits for the sender's nonce `waiting_for`.
    Queued {
        /// The first missing nonce of the sender.
        waiting_for: u64,
    },
    /// Already present (same id): nothing changed.
    Duplicate,
}

/// The outcome of an admission: what happened to the transaction, and the sender's queued
/// transactions it made executable (to be gossiped now).
#[derive(Debug)]
pub struct Admission {
    /// What happened to the transaction.
    pub admitted: Admitted,
    /// Queued transactions promoted to pending, in nonce order.
    pub promoted: Vec<VerifiedTransaction>,
}

/// Where a transaction is, as far as this mempool knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MempoolStatus {
    /// Executable, waiting for a block.
    Pending,
    /// Waiting for an earlier nonce of its sender.
    Queued {
        /// The first missing nonce of the sender.
        waiting_for: u64,
    },
    /// Dropped without a block.
    Dropped(Dropped),
}

struct Entry {
    tx: VerifiedTransaction,
    /// Committed height when admitted (for expiry).
    admitted_at: u64,
    /// Admission order: with `admitted_at`, its key in the expiry index of its kind.
    seq: u64,
    /// Its place in the queued index, while queued.
    queued: Option<QueuedPlace>,
    /// What it takes from its sender's balance ([`owed`], less what it brings: [`Charge`]).
    owes: u64,
}

/// Orders queued transactions from best to worst placed: established senders' before fresh
/// ones', then by how far past the sender's first missing nonce they were on admission, then
/// newest last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct QueuedPlace {
    fresh: bool,
    gap: u64,
    seq: u64,
}

/// A sender's place in selection: the fee of its next transaction (highest first), then its
/// arrival (earliest first). Unique per sender, as arrivals are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    fee: Reverse<u64>,
    arrival: u64,
}

struct SenderQueue {
    nonces: BTreeMap<u64, TxId>,
    /// What its waiting transactions will take from its balance ([`owed`]).
    owed: u64,
    /// The sender's committed next nonce, as last learned.
    committed: u64,
    /// First nonce not in the contiguous run from `committed`: nonces below it are pending.
    ready_end: u64,
    /// Whether the sender has executed a transaction (committed nonce above zero).
    established: bool,
    /// Its key in `Inner::ranked`.
    rank: Rank,
}

impl SenderQueue {
    /// Pending transactions: the nonces `committed..ready_end`, all held (the run is
    /// contiguous and nothing below `committed` is kept), so counting is arithmetic, not a walk
    /// over up to a thousand entries on every admission.
    fn pending(&self) -> usize {
        self.ready_end.saturating_sub(self.committed) as usize
    }

    fn queued(&self) -> usize {
        self.nonces.len() - self.pending()
    }
}

struct Inner {
    limits: MempoolLimits,
    by_id: HashMap<TxId, Entry>,
    senders: HashMap<Address, SenderQueue>,
    /// Senders best ranked first: selection walks it from the front, eviction from the back.
    ranked: BTreeMap<Rank, Address>,
    /// Queued transactions, best placed first.
    queued: BTreeSet<(QueuedPlace, TxId)>,
    /// Pending transactions by admission height, oldest first.
    pending_expiry: BTreeMap<(u64, u64), TxId>,
    /// Queued transactions by admission height, oldest first.
    queued_expiry: BTreeMap<(u64, u64), TxId>,
    /// The outputs waiting transfers spend, and which transfer spends each.
    spent_inputs: HashMap<OutPoint, TxId>,
    pending_count: usize,
    next_seq: u64,
    dropped: DropLog,
    /// The committed height as last learned.
    height: u64,
}

/// A thread-safe mempool.
pub struct Mempool {
    inner: Mutex<Inner>,
}

impl Default for Mempool {
    fn default() -> Self {
        Self::new(MempoolLimits::default())
    }
}

impl Mempool {
    /// An empty mempool with these bounds.
    pub fn new(limits: MempoolLimits) -> Self {
        Self {
            inner: Mutex::new(Inner {
                limits,
                by_id: HashMap::new(),
                senders: HashMap::new(),
                ranked: BTreeMap::new(),
                queued: BTreeSet::new(),
                pending_expiry: BTreeMap::new(),
                queued_expiry: BTreeMap::new(),
                spent_inputs: HashMap::new(),
                pending_count: 0,
                next_seq: 0,
                dropped: DropLog::new(limits.dropped_kept),
                height: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps (every mutation is a single
        // insert/remove sequence), so poisoning carries no information here.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a verified transaction whose sender's committed account is `sender` and whose
    /// size calls for a fee of at least `min_fee`.
    pub fn admit(
        &self,
        tx: VerifiedTransaction,
        sender: SenderAccount,
        min_fee: u64,
    ) -> Result<Admission, AdmissionError> {
        self.admit_charged(
            tx,
            sender,
            Charge {
                min_fee,
                prepaid: 0,
            },
        )
    }

    /// Admits a verified transaction whose sender's committed account is `sender`, charged
    /// as `charge` says.
    pub fn admit_charged(
        &self,
        tx: VerifiedTransaction,
        sender: SenderAccount,
        charge: Charge,
    ) -> Result<Admission, AdmissionError> {
        check_fee_and_nonce(&tx, sender, charge.min_fee)?;
        self.lock().admit(tx, sender, charge.prepaid)
    }

    /// The cheap checks of admission, without admitting: the fee, the nonce, whether another
    /// waiting transaction holds the nonce, and whether the sender can pay for this one
    /// alone. The caller runs them before anything expensive (executing the transaction on
    /// committed state, verifying an enrolment's proof), so junk costs a lookup to refuse.
    /// Passing them promises nothing: [`Mempool::admit_charged`] checks everything again.
    pub fn precheck(
        &self,
        tx: &VerifiedTransaction,
        sender: SenderAccount,
        charge: Charge,
    ) -> Result<(), AdmissionError> {
        check_fee_and_nonce(tx, sender, charge.min_fee)?;
        let owes = owed(tx).saturating_sub(charge.prepaid);
        if owes > sender.balance {
            return Err(AdmissionError::CannotAfford {
                balance: sender.balance,
                needed: owes,
            });
        }
        let inner = self.lock();
        let nonce = tx.body().nonce;
        match inner.senders.get(&tx.body().sender) {
            Some(queue) if queue.nonces.get(&nonce).is_some_and(|id| *id != tx.id()) => {
                Err(AdmissionError::NonceTaken(nonce))
            }
            _ => Ok(()),
        }
    }

    /// Learns the committed height (at start-up; [`Mempool::on_finalized`] keeps it current),
    /// from which expiry counts.
    pub fn observe_height(&self, height: u64) {
        let mut inner = self.lock();
        inner.height = inner.height.max(height);
    }

    /// A waiting transaction by id (used to skip re-verifying signatures of block contents).
    pub fn get(&self, id: &TxId) -> Option<VerifiedTransaction> {
        self.lock().by_id.get(id).map(|entry| entry.tx.clone())
    }

    /// Whether a transaction is waiting (pending or queued).
    pub fn contains(&self, id: &TxId) -> bool {
        self.lock().by_id.contains_key(id)
    }

    /// Where `id` is: pending, queued, recently dropped (with why), or `None` if unknown.
    pub fn status(&self, id: &TxId) -> Option<MempoolStatus> {
        let inner = self.lock();
        if let Some(entry) = inner.by_id.get(id) {
            let sender = &inner.senders[&entry.tx.body().sender];
            return Some(match entry.queued {
                None => MempoolStatus::Pending,
                Some(_) => MempoolStatus::Queued {
                    waiting_for: sender.ready_end,
                },
            });
        }
        inner.dropped.get(id).cloned().map(MempoolStatus::Dropped)
    }

    /// Number of waiting transactions, pending and queued.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Number of pending (executable) transactions.
    pub fn pending_len(&self) -> usize {
        self.lock().pending_count
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Candidates for a block, at most `max_txs`: the highest fee first across senders (ties in
    /// arrival order), each sender's transactions in nonce order starting at
    /// `next_nonce(sender)` with no gaps.
    ///
    /// `next_nonce` reads state, so it is asked only of the senders selection reaches: those
    /// are visited in rank order (the fee at their committed nonce) and merged with the
    /// senders already visited by the fee of their actual next transaction.
    pub fn candidates(
        &self,
        max_txs: usize,
        mut next_nonce: impl FnMut(&Address) -> u64,
    ) -> Vec<VerifiedTransaction> {
        let inner = self.lock();
        let mut selected = Vec::new();
        let mut unvisited = inner.ranked.iter().peekable();
        // Visited senders by their next transaction: (rank, sender, nonce), best first.
        let mut heads = BinaryHeap::new();
        while selected.len() < max_txs {
            let visit_next = match (heads.peek(), unvisited.peek()) {
                (None, None) => break,
                (Some(Reverse((best, _, _))), Some((rank, _))) => *rank < best,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if visit_next {
                if let Some((rank, sender)) = unvisited.next() {
                    let start = next_nonce(sender);
                    heads.extend(inner.head(sender, start, rank.arrival));
                }
            } else if let Some(Reverse((rank, sender, nonce))) = heads.pop() {
                let id = inner.senders[&sender].nonces[&nonce];
                selected.push(inner.by_id[&id].tx.clone());
                heads.extend(inner.head(&sender, nonce + 1, rank.arrival));
            }
        }
        selected
    }

    /// Takes in a finalized block at `height`: for every sender of `included` (with the id of
    /// its transaction), drops its transactions whose nonce is now below `next_nonce(sender)`
    /// (the included one silently, a different one with a used nonce as superseded), promotes
    /// what became contiguous, then expires what waited too long. Returns the promoted
    /// transactions, to be gossiped.
    pub fn on_finalized<'a>(
        &self,
        height: u64,
        included: impl IntoIterator<Item = (&'a Address, u64, TxId)>,
        mut next_nonce: impl FnMut(&Address) -> u64,
    ) -> Vec<VerifiedTransaction> {
        let mut used: BTreeMap<Address, HashMap<u64, TxId>> = BTreeMap::new();
        for (sender, nonce, id) in included {
            used.entry(*sender).or_default().insert(nonce, id);
        }
        let mut inner = self.lock();
        inner.height = inner.height.max(height);
        let mut promoted = Vec::new();
        for (sender, nonces) in used {
            let committed = next_nonce(&sender);
            promoted.extend(inner.advance(&sender, committed, &nonces));
        }
        inner.expire();
        promoted
    }

    /// Evicts `sender`'s transaction at `nonce` (it failed to execute for `reason`) and every
    /// later one, which follow it in nonce order and so can never run either.
    pub fn evict_from(&self, sender: &Address, nonce: u64, reason: DropReason) {
        self.lock().drop_from(sender, nonce, reason);
    }
}

/// The fee against the schedule's minimum, and the nonce against the sender's committed one.
fn check_fee_and_nonce(
    tx: &VerifiedTransaction,
    sender: SenderAccount,
    min_fee: u64,
) -> Result<(), AdmissionError> {
    let committed_nonce = sender.nonce;
    let nonce = tx.body().nonce;
    let fee = fee(tx);
    if fee < min_fee {
        return Err(AdmissionError::FeeTooLow {
            fee,
            minimum: min_fee,
        });
    }
    if nonce < committed_nonce {
        return Err(AdmissionError::StaleNonce {
            expected: committed_nonce,
            got: nonce,
        });
    }
    if nonce >= committed_nonce.saturating_add(NONCE_WINDOW) {
        return Err(AdmissionError::NonceTooFar {
            expected: committed_nonce,
            got: nonce,
        });
    }
    Ok(())
}

impl Inner {
    /// `sender`'s transaction at `nonce` as a selection head ranked by its fee, if held.
    fn head(
        &self,
        sender: &Address,
        nonce: u64,
        arrival: u64,
    ) -> Option<Reverse<(Rank, Address, u64)>> {
        let id = self.senders.get(sender)?.nonces.get(&nonce)?;
        let rank = Rank {
            fee: Reverse(fee(&self.by_id[id].tx)),
            arrival,
        };
        Some(Reverse((rank, *sender, nonce)))
    }

    fn admit(
        &mut self,
        tx: VerifiedTransaction,
        account: SenderAccount,
        prepaid: u64,
    ) -> Result<Admission, AdmissionError> {
        let committed = account.nonce;
        let id = tx.id();
        if self.by_id.contains_key(&id) {
            return Ok(Admission {
                admitted: Admitted::Duplicate,
                promoted: Vec::new(),
            });
        }
        let sender = tx.body().sender;
        let nonce = tx.body().nonce;
        // Learn the committed nonce first: what it made contiguous is promoted now.
        let mut promoted = self.advance(&sender, committed, &HashMap::new());
        let (ready_end, established) = self
            .senders
            .get(&sender)
            .map_or((committed, committed > 0), |q| (q.ready_end, q.established));
        if let Some(queue) = self.senders.get(&sender) {
            if queue.nonces.contains_key(&nonce) {
                return Err(AdmissionError::NonceTaken(nonce));
            }
            // Below the contiguous run and not in it: a block used it since `committed` was read.
            if nonce < queue.committed {
                return Err(AdmissionError::StaleNonce {
                    expected: queue.committed,
                    got: nonce,
                });
            }
        }
        if let Some((&input, &held_by)) = inputs(&tx)
            .iter()
            .find_map(|input| self.spent_inputs.get_key_value(input))
        {
            return Err(AdmissionError::InputConflict { input, held_by });
        }
        let owed_before = self.senders.get(&sender).map_or(0, |queue| queue.owed);
        let owes = owed(&tx).saturating_sub(prepaid);
        let needed = owed_before.saturating_add(owes);
        if needed > account.balance {
            return Err(AdmissionError::CannotAfford {
                balance: account.balance,
                needed,
            });
        }
        let (admitted, queued) = if nonce == ready_end {
            self.make_room_pending(&sender, established, fee(&tx))?;
            (Admitted::Pending, None)
        } else {
            if nonce > ready_end + FUTURE_WINDOW {
                return Err(AdmissionError::NonceGap {
                    expected: ready_end,
                    got: nonce,
                });
            }
            let place = QueuedPlace {
                fresh: !established,
                gap: nonce - ready_end,
                seq: self.next_seq,
            };
            self.make_room_queued(&sender, place)?;
            let waiting_for = ready_end;
            (Admitted::Queued { waiting_for }, Some(place))
        };
        self.dropped.forget(&id);
        self.insert(tx, committed, queued, owes);
        if admitted == Admitted::Pending {
            promoted.extend(self.promote(&sender));
        }
        self.refresh(&sender);
        Ok(Admission { admitted, promoted })
    }

    /// Room for a pending transaction of `sender` paying `fee`: if the pool is full, the
    /// newest pending transaction of the lowest-ranked other sender is pushed out when it pays
    /// less, or as much while it never executed a transaction and `sender` has.
    fn make_room_pending(
        &mut self,
        sender: &Address,
        established: bool,
        fee: u64,
    ) -> Result<(), AdmissionError> {
        let held = self.senders.get(sender).map_or(0, SenderQueue::pending);
        if held >= self.limits.max_pending_per_sender {
            return Err(AdmissionError::SenderFull {
                kind: "pending",
                held,
            });
        }
        if self.pending_count < self.limits.max_pending {
            return Ok(());
        }
        let (victim_sender, victim_nonce) = self
            .eviction_victim(sender, established, fee)
            .ok_or(AdmissionError::Full)?;
        self.drop_from(&victim_sender, victim_nonce, DropReason::Evicted);
        Ok(())
    }

    /// The newest pending transaction of the lowest-ranked sender other than `newcomer` that
    /// a newcomer paying `fee` outbids (see [`Inner::make_room_pending`]).
    fn eviction_victim(
        &self,
        newcomer: &Address,
        established: bool,
        fee: u64,
    ) -> Option<(Address, u64)> {
        self.ranked
            .iter()
            .rev()
            // Ranked lowest fee first: past the newcomer's fee nobody is outbid.
            .take_while(|(rank, _)| rank.fee.0 <= fee)
            .find_map(|(rank, sender)| {
                let queue = &self.senders[sender];
                let last = queue.nonces.range(..queue.ready_end).next_back()?;
                let outbid = rank.fee.0 < fee || (established && !queue.established);
                (outbid && sender != newcomer).then_some((*sender, *last.0))
            })
    }

    /// Room for a queued transaction of `sender` placed at `place`, evicting a worse-placed
    /// queued transaction if the queued space is full.
    fn make_room_queued(
        &mut self,
        sender: &Address,
        place: QueuedPlace,
    ) -> Result<(), AdmissionError> {
        let held = self.senders.get(sender).map_or(0, SenderQueue::queued);
        if held >= self.limits.max_queued_per_sender {
            return Err(AdmissionError::SenderFull {
                kind: "queued",
                held,
            });
        }
        if self.queued.len() < self.limits.max_queued {
            return Ok(());
        }
        let &(worst, victim) = self.queued.last().ok_or(AdmissionError::Full)?;
        // The newcomer is the newest: it loses every tie.
        if worst < place {
            return Err(AdmissionError::Full);
        }
        self.drop_one(&victim, DropReason::Evicted);
        Ok(())
    }

    /// Holds `tx`, which takes `owes` from its sender's balance.
    fn insert(
        &mut self,
        tx: VerifiedTransaction,
        committed: u64,
        queued: Option<QueuedPlace>,
        owes: u64,
    ) {
        let (id, sender, nonce) = (tx.id(), tx.body().sender, tx.body().nonce);
        let seq = self.next_seq;
        self.next_seq += 1;
        let expiry_key = (self.height, seq);
        match queued {
            Some(place) => {
                self.queued.insert((place, id));
                self.queued_expiry.insert(expiry_key, id);
            }
            None => {
                self.pending_count += 1;
                self.pending_expiry.insert(expiry_key, id);
            }
        }
        let ranked = &mut self.ranked;
        let queue = self.senders.entry(sender).or_insert_with(|| {
            let rank = Rank {
                fee: Reverse(0),
                arrival: seq,
            };
            ranked.insert(rank, sender);
            SenderQueue {
                nonces: BTreeMap::new(),
                owed: 0,
                committed,
                ready_end: committed,
                established: committed > 0,
                rank,
            }
        });
        queue.nonces.insert(nonce, id);
        queue.owed = queue.owed.saturating_add(owes);
        for input in inputs(&tx) {
            self.spent_inputs.insert(*input, id);
        }
        if queued.is_none() {
            queue.ready_end = nonce + 1;
        }
        self.by_id.insert(
            id,
            Entry {
                tx,
                admitted_at: self.height,
                seq,
                queued,
                owes,
            },
        );
    }

    /// Moves `sender`'s queued transactions that now follow its contiguous run to pending.
    fn promote(&mut self, sender: &Address) -> Vec<VerifiedTransaction> {
        let mut promoted = Vec::new();
        let Some(queue) = self.senders.get_mut(sender) else {
            return promoted;
        };
        while let Some(&id) = queue.nonces.get(&queue.ready_end) {
            queue.ready_end += 1;
            let entry = self.by_id.get_mut(&id).expect("indexed transaction");
            if let Some(place) = entry.queued.take() {
                let expiry_key = (entry.admitted_at, entry.seq);
                self.queued.remove(&(place, id));
                self.queued_expiry.remove(&expiry_key);
                self.pending_expiry.insert(expiry_key, id);
                self.pending_count += 1;
                promoted.push(entry.tx.clone());
            }
        }
        promoted
    }

    /// Learns that `sender`'s committed next nonce is `committed`: drops what it made stale
    /// (`used` names the transactions that used those nonces in a block) and promotes what
    /// became contiguous.
    fn advance(
        &mut self,
        sender: &Address,
        committed: u64,
        used: &HashMap<u64, TxId>,
    ) -> Vec<VerifiedTransaction> {
        let Some(queue) = self.senders.get_mut(sender) else {
            return Vec::new();
        };
        if committed <= queue.committed {
            return Vec::new();
        }
        queue.committed = committed;
        queue.established = true;
        queue.ready_end = queue.ready_end.max(committed);
        let keep = queue.nonces.split_off(&committed);
        let stale = std::mem::replace(&mut queue.nonces, keep);
        for (nonce, id) in stale {
            match used.get(&nonce) {
                Some(by) if *by != id => {
                    self.remove(&id, Some(DropReason::Superseded { by: Some(*by) }));
                }
                // Included in the block: not a drop.
                Some(_) => self.remove(&id, None),
                // Used by a block this node did not see the transaction of.
                None => self.remove(&id, Some(DropReason::Superseded { by: None })),
            }
        }
        let promoted = self.promote(sender);
        self.refresh(sender);
        promoted
    }

    /// Drops `sender`'s transaction at `nonce` for `reason` and every later one as orphaned.
    fn drop_from(&mut self, sender: &Address, nonce: u64, reason: DropReason) {
        let Some(queue) = self.senders.get_mut(sender) else {
            return;
        };
        let dropped = queue.nonces.split_off(&nonce);
        queue.ready_end = queue.ready_end.min(nonce);
        for (n, id) in dropped {
            let why = if n == nonce {
                reason.clone()
            } else {
                DropReason::PredecessorDropped { nonce }
            };
            self.remove(&id, Some(why));
        }
        self.refresh(sender);
    }

    /// Drops one queued transaction (nothing follows from it: it is already after a gap).
    fn drop_one(&mut self, id: &TxId, reason: DropReason) {
        let Some(entry) = self.by_id.get(id) else {
            return;
        };
        let (sender, nonce) = (entry.tx.body().sender, entry.tx.body().nonce);
        if entry.queued.is_some() {
            if let Some(queue) = self.senders.get_mut(&sender) {
                queue.nonces.remove(&nonce);
            }
            self.remove(id, Some(reason));
            self.refresh(&sender);
        } else {
            self.drop_from(&sender, nonce, reason);
        }
    }

    /// Drops every transaction that waited longer than its kind may.
    fn expire(&mut self) {
        let old_queued = expired(
            &self.queued_expiry,
            self.height,
            self.limits.queued_ttl_blocks,
        );
        let old_pending = expired(
            &self.pending_expiry,
            self.height,
            self.limits.pending_ttl_blocks,
        );
        for (queued, id) in old_queued
            .into_iter()
            .map(|id| (true, id))
            .chain(old_pending.into_iter().map(|id| (false, id)))
        {
            // Dropping a pending transaction drops its successors: some may be gone already.
            let Some(entry) = self.by_id.get(&id) else {
                continue;
            };
            let blocks = self.height - entry.admitted_at;
            self.drop_one(&id, DropReason::Expired { queued, blocks });
        }
    }

    /// Removes one transaction from every index except its sender's nonce map (the caller
    /// edits that), recording `reason` if it was dropped.
    fn remove(&mut self, id: &TxId, reason: Option<DropReason>) {
        let Some(entry) = self.by_id.remove(id) else {
            return;
        };
        if let Some(queue) = self.senders.get_mut(&entry.tx.body().sender) {
            queue.owed = queue.owed.saturating_sub(entry.owes);
        }
        for input in inputs(&entry.tx) {
            self.spent_inputs.remove(input);
        }
        let expiry_key = (entry.admitted_at, entry.seq);
        match entry.queued {
            Some(place) => {
                self.queued.remove(&(place, *id));
                self.queued_expiry.remove(&expiry_key);
            }
            None => {
                self.pending_count -= 1;
                self.pending_expiry.remove(&expiry_key);
            }
        }
        if let Some(reason) = reason {
            let height = self.height;
            self.dropped.record(*id, Dropped { reason, height });
        }
    }

    /// Re-ranks `sender` after its transactions changed (by the fee of the one at its
    /// committed nonce, if that is pending; 0 if it has none executable), or forgets it once it
    /// has none.
    fn refresh(&mut self, sender: &Address) {
        let Some(queue) = self.senders.get_mut(sender) else {
            return;
        };
        if queue.nonces.is_empty() {
            self.ranked.remove(&queue.rank);
            self.senders.remove(sender);
            return;
        }
        let next_fee = match queue.nonces.get(&queue.committed) {
            Some(id) if queue.pending() > 0 => fee(&self.by_id[id].tx),
            _ => 0,
        };
        let rank = Rank {
            fee: Reverse(next_fee),
            arrival: queue.rank.arrival,
        };
        if rank != queue.rank {
            self.ranked.remove(&queue.rank);
            self.ranked.insert(rank, *sender);
            queue.rank = rank;
        }
    }
}

/// The fee a transaction offers.
fn fee(tx: &VerifiedTransaction) -> u64 {
    tx.body().fee
}

/// What a transaction takes from its sender's balance: its fee (a transfer pays it from its
/// inputs instead, S1-utxo) and the amounts it moves out of the balance. An access request's
/// consent reward is not named by the payload; the dry run of the sender's next nonce
/// catches a balance that cannot pay it.
fn owed(tx: &VerifiedTransaction) -> u64 {
    let fee = fee(tx);
    match &tx.body().payload {
        Payload::Token(TokenPayload::Transfer { from_balance, .. }) => *from_balance,
        Payload::Token(TokenPayload::EscrowOpen { amount, .. })
        | Payload::Stake(StakePayload::Delegate { amount, .. }) => fee.saturating_add(*amount),
        _ => fee,
    }
}

/// The outputs a transaction spends (none unless it is a transfer).
fn inputs(tx: &VerifiedTransaction) -> &[OutPoint] {
    match &tx.body().payload {
        Payload::Token(TokenPayload::Transfer { inputs, .. }) => inputs,
        _ => &[],
    }
}

/// The ids in `index` that have waited `ttl` blocks or more at `height`.
fn expired(index: &BTreeMap<(u64, u64), TxId>, height: u64, ttl: u64) -> Vec<TxId> {
    let Some(cutoff) = height.checked_sub(ttl) else {
        return Vec::new();
    };
    index
        .range(..=(cutoff, u64::MAX))
        .map(|(_, id)| *id)
        .collect()
}

#[cfg(test)]
mod tests;
