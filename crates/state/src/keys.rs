//! The state's key layout. Every key is an ASCII namespace ending in `/`, then fixed-width
//! binary fields (32-byte addresses and ids, 1-byte tags, 8-byte big-endian counters), with at
//! most one variable-length field, always last. So no two namespaces or entries collide, and
//! big-endian counters make a namespace sort in counter order (range scans over
//! `log/<patient>` list a patient's access log in sequence order).
//!
//! | key | value | module, SPEC |
//! |---|---|---|
//! | `cfg/chain` | [`ChainConfig`] | genesis (S2-flow 1) |
//! | `cfg/block` | [`BlockInfo`] | every block |
//! | `acct/<address>` | [`Account`] | replay protection |
//! | `org/<name>` | [`Org`] | registry (S2-register, S2-state) |
//! | `member/<address>` | [`Membership`] | registry (S2-register) |
//! | `rec/<record id>` | [`Record`] | records (S1-release) |
//! | `rechash/<patient><hEMR>` | [`RecordId`] | records (S1-release, one release per record) |
//! | `store/<record id>` | [`StoragePointer`] | records (S1-storage) |
//! | `consent/<consent id>` | [`Consent`] | consent (S1-sharing) |
//! | `grant/<grantee><record id><purpose>` | [`ConsentId`] | consent (S1-sharing; newest grant wins) |
//! | `log/<patient><seq u64 BE>` | [`AccessLogEntry`] | access (S1-rights) |
//! | `logseq/<patient>` | `u64` (entries so far) | access (S1-rights) |
//!
//! The authenticated tree (docs/architecture.md § Authenticated state) stores each entry at
//! `SHA-256(key)`; see [`crate::proof`]. A [`StateKey`] carries the value type, so a client that
//! builds a key here also knows how to decode what a node proves for it.

use crate::values::{
    AccessLogEntry, Account, BlockInfo, ChainConfig, Consent, Membership, Org, Record, StateValue,
    StoragePointer,
};
use medchain_types::{Address, ConsentId, ContentHash, OrgName, Purpose, RecordId};
use std::{fmt, marker::PhantomData};

/// Namespace of [`chain_config`].
pub const CHAIN_CONFIG: &[u8] = b"cfg/chain";
/// Namespace of [`block_info`].
pub const BLOCK_INFO: &[u8] = b"cfg/block";
/// Namespace of [`account`].
pub const ACCOUNT: &[u8] = b"acct/";
/// Namespace of [`org`].
pub const ORG: &[u8] = b"org/";
/// Namespace of [`membership`].
pub const MEMBER: &[u8] = b"member/";
/// Namespace of [`record`].
pub const RECORD: &[u8] = b"rec/";
/// Namespace of [`record_by_hash`].
pub const RECORD_BY_HASH: &[u8] = b"rechash/";
/// Namespace of [`storage_pointer`].
pub const STORAGE_POINTER: &[u8] = b"store/";
/// Namespace of [`consent`].
pub const CONSENT: &[u8] = b"consent/";
/// Namespace of [`grant`].
pub const GRANT: &[u8] = b"grant/";
/// Namespace of [`access_log_entry`].
pub const ACCESS_LOG: &[u8] = b"log/";
/// Namespace of [`access_log_len`].
pub const ACCESS_LOG_LEN: &[u8] = b"logseq/";

/// Longest key the layout produces (`grant/` + 32 + 32 + 1); bounds decoding of proofs.
pub const MAX_KEY_LEN: usize = 128;

/// A state key and the type of the value stored under it.
pub struct StateKey<V> {
    bytes: Vec<u8>,
    value: PhantomData<fn() -> V>,
}

impl<V: StateValue> StateKey<V> {
    fn new(parts: &[&[u8]]) -> Self {
        Self {
            bytes: parts.concat(),
            value: PhantomData,
        }
    }

    /// The raw key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Decodes a value read (or proven) under this key.
    pub fn decode(&self, bytes: &[u8]) -> Result<V, crate::StateError> {
        V::from_bytes(bytes).map_err(|reason| crate::StateError::Corrupt {
            key: hex::encode(&self.bytes),
            reason,
        })
    }
}

impl<V> Clone for StateKey<V> {
    fn clone(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
            value: PhantomData,
        }
    }
}

impl<V> PartialEq for StateKey<V> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl<V> Eq for StateKey<V> {}

impl<V> fmt::Debug for StateKey<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateKey({})", hex::encode(&self.bytes))
    }
}

/// `cfg/chain`: the chain id and the regulator.
pub fn chain_config() -> StateKey<ChainConfig> {
    StateKey::new(&[CHAIN_CONFIG])
}

/// `cfg/block`: the last executed block's height and time.
pub fn block_info() -> StateKey<BlockInfo> {
    StateKey::new(&[BLOCK_INFO])
}

/// `acct/<address>`: an account's nonce.
pub fn account(address: &Address) -> StateKey<Account> {
    StateKey::new(&[ACCOUNT, address.as_bytes()])
}

/// `org/<name>`: an organisation.
pub fn org(name: &OrgName) -> StateKey<Org> {
    StateKey::new(&[ORG, name.as_str().as_bytes()])
}

/// `member/<address>`: the organisation an address belongs to.
pub fn membership(address: &Address) -> StateKey<Membership> {
    StateKey::new(&[MEMBER, address.as_bytes()])
}

/// `rec/<record id>`: a released record.
pub fn record(id: &RecordId) -> StateKey<Record> {
    StateKey::new(&[RECORD, id.as_bytes()])
}

/// `rechash/<patient><hEMR>`: the record released for this patient and hash.
pub fn record_by_hash(patient: &Address, record_hash: &ContentHash) -> StateKey<RecordId> {
    StateKey::new(&[RECORD_BY_HASH, patient.as_bytes(), record_hash.as_bytes()])
}

/// `store/<record id>`: a record's newest storage pointer.
pub fn storage_pointer(record: &RecordId) -> StateKey<StoragePointer> {
    StateKey::new(&[STORAGE_POINTER, record.as_bytes()])
}

/// `consent/<consent id>`: a consent.
pub fn consent(id: &ConsentId) -> StateKey<Consent> {
    StateKey::new(&[CONSENT, id.as_bytes()])
}

/// `grant/<grantee><record id><purpose>`: the newest consent for this triple.
pub fn grant(grantee: &Address, record: &RecordId, purpose: Purpose) -> StateKey<ConsentId> {
    StateKey::new(&[
        GRANT,
        grantee.as_bytes(),
        record.as_bytes(),
        &[purpose as u8],
    ])
}

/// `log/<patient><seq>`: a patient's `seq`-th access log entry (from 0).
pub fn access_log_entry(patient: &Address, seq: u64) -> StateKey<AccessLogEntry> {
    StateKey::new(&[ACCESS_LOG, patient.as_bytes(), &seq.to_be_bytes()])
}

/// `logseq/<patient>`: how many access log entries the patient has.
pub fn access_log_len(patient: &Address) -> StateKey<u64> {
    StateKey::new(&[ACCESS_LOG_LEN, patient.as_bytes()])
}

/// `log/<patient>`: the prefix of every access log entry of a patient, for range scans.
pub fn access_log_prefix(patient: &Address) -> Vec<u8> {
    [ACCESS_LOG, patient.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{address, record_id};
    use std::collections::BTreeSet;

    #[test]
    fn namespaces_are_distinct_and_no_key_prefixes_another_namespace() {
        let namespaces = [
            CHAIN_CONFIG,
            BLOCK_INFO,
            ACCOUNT,
            ORG,
            MEMBER,
            RECORD,
            RECORD_BY_HASH,
            STORAGE_POINTER,
            CONSENT,
            GRANT,
            ACCESS_LOG,
            ACCESS_LOG_LEN,
        ];
        for (i, a) in namespaces.iter().enumerate() {
            for (j, b) in namespaces.iter().enumerate() {
                if i != j {
                    assert!(
                        !b.starts_with(a),
                        "{:?} is a prefix of {:?}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
    }

    #[test]
    fn keys_are_injective_and_bounded() {
        let patient = address(1);
        let name = OrgName::new("a".repeat(OrgName::MAX_LEN)).unwrap();
        let keys: Vec<Vec<u8>> = vec![
            chain_config().as_bytes().to_vec(),
            block_info().as_bytes().to_vec(),
            account(&patient).as_bytes().to_vec(),
            account(&address(2)).as_bytes().to_vec(),
            org(&name).as_bytes().to_vec(),
            membership(&patient).as_bytes().to_vec(),
            record(&record_id(1)).as_bytes().to_vec(),
            record_by_hash(&patient, &ContentHash::of(b"x"))
                .as_bytes()
                .to_vec(),
            storage_pointer(&record_id(1)).as_bytes().to_vec(),
            consent(&ConsentId(record_id(1).0)).as_bytes().to_vec(),
            grant(&patient, &record_id(1), Purpose::Treatment)
                .as_bytes()
                .to_vec(),
            grant(&patient, &record_id(1), Purpose::Research)
                .as_bytes()
                .to_vec(),
            access_log_entry(&patient, 0).as_bytes().to_vec(),
            access_log_entry(&patient, 1).as_bytes().to_vec(),
            access_log_len(&patient).as_bytes().to_vec(),
        ];
        let distinct: BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        assert!(keys.iter().all(|key| key.len() <= MAX_KEY_LEN));
    }

    #[test]
    fn access_log_keys_sort_by_sequence_under_the_patient_prefix() {
        let patient = address(1);
        let prefix = access_log_prefix(&patient);
        let seqs = [0u64, 1, 255, 256, 70_000, u64::MAX];
        let keys: Vec<_> = seqs
            .iter()
            .map(|seq| access_log_entry(&patient, *seq))
            .collect();
        assert!(keys.iter().all(|key| key.as_bytes().starts_with(&prefix)));
        assert!(
            keys.windows(2)
                .all(|pair| pair[0].as_bytes() < pair[1].as_bytes())
        );
        assert!(
            !access_log_entry(&address(2), 0)
                .as_bytes()
                .starts_with(&prefix)
        );
    }

    #[test]
    fn a_key_decodes_only_its_own_value_type() {
        let key = account(&address(1));
        assert_eq!(
            key.decode(&Account { nonce: 4 }.to_bytes()).unwrap().nonce,
            4
        );
        assert!(matches!(
            key.decode(&[1, 2, 3]),
            Err(crate::StateError::Corrupt { .. })
        ));
    }
}
