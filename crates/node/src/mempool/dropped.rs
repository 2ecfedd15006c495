//! What happened to transactions the mempool let go of without a block (issue 7 §3: no silent
//! drop). A client that was told "accepted" must be able to learn why its transaction will never
//! be final; the log keeps the most recent drops, bounded, and the API reports them.

use medchain_types::TxId;
use std::collections::{HashMap, VecDeque};

/// Why the mempool dropped a transaction it had admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// It failed to execute when a block was built: the state machine's typed error, as text.
    Failed {
        /// Stable code of the state machine error (e.g. `org_exists`).
        code: String,
        /// The error's message.
        message: String,
    },
    /// It waited longer than the mempool keeps a transaction of its kind.
    Expired {
        /// Whether it was still waiting for an earlier nonce (queued) when it expired.
        queued: bool,
        /// How many blocks it waited.
        blocks: u64,
    },
    /// Better-placed transactions needed its room (the worst-placed queued ones go first).
    Evicted,
    /// Another transaction of the same sender used its nonce in a finalized block.
    Superseded {
        /// The transaction that used the nonce, when this node saw which one it was.
        by: Option<TxId>,
    },
    /// An earlier transaction of the same sender was dropped, so this one can never execute.
    PredecessorDropped {
        /// The nonce of the dropped predecessor.
        nonce: u64,
    },
}

impl DropReason {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Failed { .. } => "failed",
            Self::Expired { .. } => "expired",
            Self::Evicted => "evicted",
            Self::Superseded { .. } => "superseded",
            Self::PredecessorDropped { .. } => "predecessor_dropped",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed { message, .. } => {
                write!(f, "failed when a block was built: {message}")
            }
            Self::Expired {
                queued: true,
                blocks,
            } => write!(
                f,
                "expired after {blocks} blocks waiting for an earlier nonce of its sender"
            ),
            Self::Expired {
                queued: false,
                blocks,
            } => {
                write!(f, "expired after {blocks} blocks in the mempool")
            }
            Self::Evicted => write!(
                f,
                "evicted: the mempool needed room for better-placed transactions"
            ),
            Self::Superseded { by: Some(by) } => {
                write!(
                    f,
                    "its nonce was used by transaction {by} in a finalized block"
                )
            }
            Self::Superseded { by: None } => {
                write!(
                    f,
                    "its nonce was used by another transaction in a finalized block"
                )
            }
            Self::PredecessorDropped { nonce } => write!(
                f,
                "its sender's transaction with nonce {nonce} was dropped, so it can never execute"
            ),
        }
    }
}

/// A dropped transaction: why, and the committed height when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Why.
    pub reason: DropReason,
    /// The committed height at the time.
    pub height: u64,
}

/// The most recent drops, oldest forgotten first.
#[derive(Debug)]
pub struct DropLog {
    capacity: usize,
    order: VecDeque<TxId>,
    entries: HashMap<TxId, Dropped>,
}

impl DropLog {
    /// A log keeping at most `capacity` drops.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            order: VecDeque::new(),
            entries: HashMap::new(),
        }
    }

    /// Records a drop (a later drop of the same id replaces the earlier record).
    pub fn record(&mut self, id: TxId, dropped: Dropped) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.insert(id, dropped).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }

    /// Forgets a drop: the transaction was admitted again.
    pub fn forget(&mut self, id: &TxId) {
        if self.entries.remove(id).is_some() {
            self.order.retain(|kept| kept != id);
        }
    }

    /// Why `id` was dropped, if it was recently.
    pub fn get(&self, id: &TxId) -> Option<&Dropped> {
        self.entries.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TxId {
        TxId::of_encoded(&[n])
    }

    #[test]
    fn the_log_is_bounded_and_forgets_the_oldest_first() {
        let mut log = DropLog::new(2);
        for n in 0..3 {
            log.record(
                id(n),
                Dropped {
                    reason: DropReason::Evicted,
                    height: u64::from(n),
                },
            );
        }
        assert!(log.get(&id(0)).is_none());
        assert_eq!(log.get(&id(2)).map(|d| d.height), Some(2));
        log.forget(&id(1));
        assert!(log.get(&id(1)).is_none());
        assert_eq!(log.order.len(), 1);
    }
}
