//! Verifying each transaction's signatures once per validator.
//!
//! A validator meets the same transaction up to three times: at admission (from a client or a
//! peer's gossip), inside a proposal it votes on, and inside a finalized block it had not
//! executed. [`SignatureCache`] remembers which transactions verified, by [`TxId`], so only
//! the first meeting pays for the signatures. The id is SHA-256 of the whole signed encoding
//! (body, chain id and signature included) and is computed here from the bytes being checked,
//! never taken from the caller: a verdict can only be reused for exactly the bytes that
//! verified. Only successes are remembered; a refused transaction is checked again each time
//! (it may be refused for a reason the caller handles, such as the wrong chain).
//!
//! It also keeps signers' decompressed public keys by address: an address is a compressed
//! ed25519 point, and decompressing it costs about as much as checking the signature, while
//! a chain's senders (doctors, hospitals, patients) sign again and again.
//!
//! Both maps are bounded least-recently-used caches, so a flood of distinct transactions or
//! throwaway keys costs a bounded amount of memory and only evicts older entries.

use crate::{
    Address, ChainId, PublicKey, Transaction, TxId,
    tx::{KeySource, TxError, VerifiedTransaction, verify_batch_with},
};
use hashlink::LruCache;
use rand_core::CryptoRng;
use std::sync::{Mutex, MutexGuard};

/// How many verdicts and keys a [`SignatureCache`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureCacheLimits {
    /// Transaction ids that verified.
    pub verdicts: usize,
    /// Decompressed public keys (0 turns the key cache off).
    pub keys: usize,
}

impl Default for SignatureCacheLimits {
    /// Room for a full mempool and the blocks in flight (32 bytes an entry), and for the keys
    /// of a few thousand active signers (≈ 200 bytes each): a few MiB per validator.
    fn default() -> Self {
        Self {
            verdicts: 65_536,
            keys: 16_384,
        }
    }
}

/// Verdicts of signature verification by transaction id, and decompressed keys by address,
/// shared by every path of a validator that verifies transactions.
pub struct SignatureCache {
    verdicts: Mutex<LruCache<TxId, ()>>,
    keys: Mutex<LruCache<Address, PublicKey>>,
}

impl SignatureCache {
    /// An empty cache holding at most `limits`.
    pub fn new(limits: SignatureCacheLimits) -> Self {
        Self {
            verdicts: Mutex::new(LruCache::new(limits.verdicts)),
            keys: Mutex::new(LruCache::new(limits.keys)),
        }
    }

    /// [`crate::verify_batch`], skipping the transactions that verified before and
    /// remembering the ones that verify now. Results are in input order.
    pub fn verify_batch(
        &self,
        rng: &mut impl CryptoRng,
        chain_id: &ChainId,
        txs: &[Transaction],
    ) -> Vec<Result<VerifiedTransaction, TxError>> {
        let ids: Vec<TxId> = txs.iter().map(Transaction::id).collect();
        let mut results: Vec<Option<Result<VerifiedTransaction, TxError>>> = {
            let mut verdicts = lock(&self.verdicts);
            txs.iter()
                .zip(&ids)
                .map(|(tx, id)| {
                    verdicts.get(id).map(|()| {
                        // The id covers the chain id; checked anyway so that a cache shared
                        // by mistake across chains still refuses the other chain's transactions.
                        tx.check_chain(chain_id)?;
                        Ok(VerifiedTransaction::trusted(*id, tx.clone()))
                    })
                })
                .collect()
        };
        let fresh: Vec<usize> = (0..txs.len()).filter(|&i| results[i].is_none()).collect();
        let fresh_txs: Vec<Transaction> = fresh.iter().map(|&i| txs[i].clone()).collect();
        let fresh_ids: Vec<TxId> = fresh.iter().map(|&i| ids[i]).collect();
        let checked = verify_batch_with(rng, chain_id, &fresh_txs, &fresh_ids, self);
        let mut verdicts = lock(&self.verdicts);
        for (index, result) in fresh.into_iter().zip(checked) {
            if result.is_ok() {
                verdicts.insert(ids[index], ());
            }
            results[index] = Some(result);
        }
        results.into_iter().flatten().collect()
    }

    /// Transactions whose verdict is held.
    pub fn verdicts(&self) -> usize {
        lock(&self.verdicts).len()
    }

    /// Decompressed keys held.
    pub fn keys(&self) -> usize {
        lock(&self.keys).len()
    }
}

impl KeySource for SignatureCache {
    fn key(&self, address: &Address) -> Option<PublicKey> {
        if let Some(key) = lock(&self.keys).get(address) {
            return Some(key.clone());
        }
        // Decompressed outside the lock: other threads keep verifying meanwhile.
        let key = address.public_key().ok()?;
        lock(&self.keys).insert(*address, key.clone());
        Some(key)
    }
}

/// A poisoned lock still holds a consistent map: every update is a single insert or get.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChainId, TxBody, fixtures::*, verify_batch};
    use commonware_codec::Encode;
    use commonware_utils::test_rng;

    fn cache(verdicts: usize, keys: usize) -> SignatureCache {
        SignatureCache::new(SignatureCacheLimits { verdicts, keys })
    }

    /// `count` transactions, each from its own sender (seeds 100, 101, ...).
    fn from_senders(count: u64) -> Vec<Transaction> {
        (0..count)
            .map(|i| {
                TxBody {
                    chain_id: chain(),
                    sender: address(100 + i),
                    nonce: 0,
                    valid_until_ms: u64::MAX,
                    fee: 0,
                    payload: payloads()[0].clone(),
                }
                .sign(&key(100 + i))
                .unwrap()
            })
            .collect()
    }

    /// The same body with one bit of its signature flipped: a different id, and invalid.
    fn tampered(tx: &Transaction) -> Transaction {
        let mut bytes = tx.encode().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        Transaction::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn every_kind_verifies_as_the_uncached_verifier_says_and_again_from_the_cache() {
        let txs = signed_txs();
        let cache = cache(1024, 1024);
        let expected = verify_batch(&mut test_rng(), &chain(), &txs);
        for round in 0..2 {
            let got = cache.verify_batch(&mut test_rng(), &chain(), &txs);
            assert_eq!(got.len(), expected.len());
            for (got, expected) in got.iter().zip(&expected) {
                assert_eq!(got.as_ref().ok(), expected.as_ref().ok(), "round {round}");
            }
            assert_eq!(cache.verdicts(), txs.len(), "round {round}");
        }
    }

    #[test]
    fn a_cached_verdict_never_vouches_for_tampered_bytes() {
        let txs = from_senders(3);
        let cache = cache(1024, 1024);
        assert!(
            cache
                .verify_batch(&mut test_rng(), &chain(), &txs)
                .iter()
                .all(Result::is_ok)
        );
        // Bad copies of cached transactions, between and after good ones.
        let mixed = vec![
            txs[0].clone(),
            tampered(&txs[0]),
            txs[1].clone(),
            tampered(&txs[2]),
        ];
        let results = cache.verify_batch(&mut test_rng(), &chain(), &mixed);
        assert_eq!(results[0].as_ref().unwrap().tx(), &txs[0]);
        assert!(matches!(results[1], Err(TxError::BadSignature(_))));
        assert_eq!(results[2].as_ref().unwrap().tx(), &txs[1]);
        assert!(matches!(results[3], Err(TxError::BadSignature(_))));
        // Refusals are not remembered.
        assert_eq!(cache.verdicts(), 3);
    }

    #[test]
    fn a_cached_verdict_never_vouches_for_another_transaction_of_the_same_sender() {
        let [tx] = <[Transaction; 1]>::try_from(from_senders(1)).unwrap();
        let cache = cache(1024, 1024);
        assert!(
            cache.verify_batch(&mut test_rng(), &chain(), std::slice::from_ref(&tx))[0].is_ok()
        );
        // The same signature on another body (nonce 1): its key is cached, its verdict not.
        let mut other = tx.clone();
        other.body.nonce = 1;
        assert!(matches!(
            cache.verify_batch(&mut test_rng(), &chain(), &[other])[0],
            Err(TxError::BadSignature(_))
        ));
        assert_eq!(cache.verdicts(), 1);
        assert!(lock(&cache.keys).contains_key(&tx.body.sender));
    }

    #[test]
    fn a_cached_verdict_is_not_accepted_for_another_chain() {
        let txs = from_senders(1);
        let cache = cache(1024, 1024);
        assert!(cache.verify_batch(&mut test_rng(), &chain(), &txs)[0].is_ok());
        let other = ChainId::new("another-chain").unwrap();
        assert!(matches!(
            cache.verify_batch(&mut test_rng(), &other, &txs)[0],
            Err(TxError::WrongChain { .. })
        ));
    }

    #[test]
    fn verdicts_and_keys_are_bounded_and_the_oldest_go_first() {
        let txs = from_senders(5);
        let cache = cache(2, 3);
        for results in [
            cache.verify_batch(&mut test_rng(), &chain(), &txs),
            cache.verify_batch(&mut test_rng(), &chain(), &txs[..1]),
        ] {
            assert!(results.iter().all(Result::is_ok));
        }
        assert_eq!(cache.verdicts(), 2);
        assert_eq!(cache.keys(), 3);
        // The last two verdicts kept are of txs[4] (from the first call) and txs[0] (again).
        let held = lock(&cache.verdicts);
        assert!(held.contains_key(&txs[0].id()) && held.contains_key(&txs[4].id()));
    }

    #[test]
    fn without_a_key_cache_the_verdicts_still_work() {
        let txs = from_senders(3);
        let cache = cache(16, 0);
        for _ in 0..2 {
            let results = cache.verify_batch(&mut test_rng(), &chain(), &txs);
            assert!(results.iter().all(Result::is_ok));
        }
        assert_eq!((cache.verdicts(), cache.keys()), (3, 0));
        assert!(cache.verify_batch(&mut test_rng(), &chain(), &[tampered(&txs[1])])[0].is_err());
    }
}
