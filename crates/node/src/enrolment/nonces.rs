//! The one-time nonces a node committed to in round 1, waiting for round 2.
//!
//! Bounded so that a flood of round-1 requests cannot exhaust a node's memory: at most
//! [`NonceLimits::per_requester`] open sessions per address and [`NonceLimits::total`] in all,
//! each forgotten after [`NonceLimits::ttl`]. An entry is removed when round 2 takes it, so a
//! nonce pair answers one request at most (answering two with one pair would reveal the
//! node's share of the master key).

use medchain_types::{Address, enrolment::SESSION_LEN};
use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

/// Where round 2 finds round 1's nonces.
pub type SessionKey = (Address, [u8; SESSION_LEN]);

/// The table's bounds.
#[derive(Clone, Copy, Debug)]
pub struct NonceLimits {
    /// Open sessions per requester: an enrollee needs one (a few while it retries).
    pub per_requester: usize,
    /// Open sessions in all.
    pub total: usize,
    /// How long committed nonces wait for round 2.
    pub ttl: Duration,
}

impl Default for NonceLimits {
    fn default() -> Self {
        Self {
            per_requester: 4,
            total: 4096,
            ttl: Duration::from_secs(120),
        }
    }
}

/// Why nonces could not be stored.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NonceTableError {
    /// The requester already has as many open sessions as it may.
    #[error("this address already has {0} open enrolment sessions")]
    RequesterFull(usize),
    /// The node holds as many open sessions as it may.
    #[error("this node already holds {0} open enrolment sessions")]
    Full(usize),
    /// A session id is used once.
    #[error("this session already has a commitment from this node")]
    SessionExists,
}

struct Entry<T> {
    value: T,
    expires: Instant,
}

/// Committed nonces by (requester, session), in insertion order for expiry.
pub struct NonceTable<T> {
    limits: NonceLimits,
    entries: HashMap<SessionKey, Entry<T>>,
    per_requester: HashMap<Address, usize>,
    /// Insertion order = expiry order (one TTL for all); keys already taken are skipped.
    order: VecDeque<(Instant, SessionKey)>,
}

impl<T> NonceTable<T> {
    /// An empty table.
    pub fn new(limits: NonceLimits) -> Self {
        Self {
            limits,
            entries: HashMap::new(),
            per_requester: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Open sessions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stores `value` for `key` until `now + ttl`, within the bounds.
    pub fn insert(
        &mut self,
        key: SessionKey,
        value: T,
        now: Instant,
    ) -> Result<(), NonceTableError> {
        self.expire(now);
        if self.entries.contains_key(&key) {
            return Err(NonceTableError::SessionExists);
        }
        let open = self.per_requester.get(&key.0).copied().unwrap_or(0);
        if open >= self.limits.per_requester {
            return Err(NonceTableError::RequesterFull(self.limits.per_requester));
        }
        if self.entries.len() >= self.limits.total {
            return Err(NonceTableError::Full(self.limits.total));
        }
        let expires = now + self.limits.ttl;
        self.entries.insert(key, Entry { value, expires });
        self.per_requester.insert(key.0, open + 1);
        self.order.push_back((expires, key));
        Ok(())
    }

    /// Takes (removes) the value for `key` if it has not expired.
    pub fn take(&mut self, key: &SessionKey, now: Instant) -> Option<T> {
        self.expire(now);
        let entry = self.entries.remove(key)?;
        self.release(&key.0);
        Some(entry.value)
    }

    /// Forgets every entry whose time is up.
    fn expire(&mut self, now: Instant) {
        while let Some(&(expires, key)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            // The key may have been taken, or taken and inserted again with a later expiry.
            if self
                .entries
                .get(&key)
                .is_some_and(|entry| entry.expires == expires)
            {
                self.entries.remove(&key);
                self.release(&key.0);
            }
        }
    }

    fn release(&mut self, requester: &Address) {
        if let Some(open) = self.per_requester.get_mut(requester) {
            *open -= 1;
            if *open == 0 {
                self.per_requester.remove(requester);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(requester: u8, session: u8) -> SessionKey {
        (Address::from_bytes([requester; 32]), [session; SESSION_LEN])
    }

    fn table() -> NonceTable<u32> {
        NonceTable::new(NonceLimits {
            per_requester: 2,
            total: 5,
            ttl: Duration::from_secs(10),
        })
    }

    #[test]
    fn nonces_are_taken_once() {
        let mut table = table();
        let now = Instant::now();
        table.insert(key(1, 1), 11, now).unwrap();
        assert_eq!(
            table.insert(key(1, 1), 12, now),
            Err(NonceTableError::SessionExists)
        );
        assert_eq!(table.take(&key(1, 2), now), None);
        assert_eq!(table.take(&key(2, 1), now), None);
        assert_eq!(table.take(&key(1, 1), now), Some(11));
        assert_eq!(table.take(&key(1, 1), now), None, "consumed on use");
        assert!(table.is_empty());
    }

    #[test]
    fn a_flood_of_round_one_requests_is_bounded_per_requester_and_in_total() {
        let mut table = table();
        let now = Instant::now();
        table.insert(key(1, 1), 0, now).unwrap();
        table.insert(key(1, 2), 0, now).unwrap();
        for session in 3..100 {
            assert_eq!(
                table.insert(key(1, session), 0, now),
                Err(NonceTableError::RequesterFull(2))
            );
        }
        // Many requesters fill the node's total, and no further.
        let refused = (2..200u8)
            .filter(|&requester| table.insert(key(requester, 1), 0, now).is_err())
            .count();
        assert_eq!(table.len(), 5);
        assert_eq!(refused, 198 - 3);
        assert_eq!(
            table.insert(key(250, 1), 0, now),
            Err(NonceTableError::Full(5))
        );
        // Taking one frees a place for its requester and in total.
        assert_eq!(table.take(&key(1, 1), now), Some(0));
        table.insert(key(1, 9), 0, now).unwrap();
    }

    #[test]
    fn unused_nonces_expire_and_free_their_places() {
        let mut table = table();
        let start = Instant::now();
        table.insert(key(1, 1), 1, start).unwrap();
        table
            .insert(key(1, 2), 2, start + Duration::from_secs(5))
            .unwrap();
        let later = start + Duration::from_secs(10);
        assert_eq!(table.take(&key(1, 1), later), None, "expired");
        assert_eq!(table.len(), 1);
        // The requester has a free place again.
        table.insert(key(1, 3), 3, later).unwrap();
        assert_eq!(table.take(&key(1, 2), later), Some(2));
        assert!(
            table
                .take(&key(1, 3), later + Duration::from_secs(11))
                .is_none()
        );
        assert!(table.is_empty());
        assert!(table.per_requester.is_empty());
    }
}
