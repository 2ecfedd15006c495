//! The proxy's durable state in its data directory (redb, one file): the encrypted records and
//! sealed kfrags patients delivered, the `research.reencrypted` transaction that logged each
//! enrolment, and the re-encryption requests already served (replay refusal survives a
//! restart). Records are stored as delivered; kfrags stay HPKE-sealed at rest and are opened
//! and verified again on each use.

use medchain_types::{EnrolmentId, Hash32, TxId};
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use std::path::Path;

/// File name of the database inside the data directory.
pub const STORE_FILE: &str = "cloud.redb";

type Bytes = TableDefinition<'static, &'static [u8], &'static [u8]>;
/// Enrolment id → encrypted record bytes.
const RECORDS: Bytes = TableDefinition::new("records");
/// Enrolment id → sealed kfrag bytes.
const KFRAGS: Bytes = TableDefinition::new("kfrags");
/// Enrolment id → id of the `research.reencrypted` transaction that logged it.
const LOGS: Bytes = TableDefinition::new("logs");
/// Request digest → its `issued_at_ms`.
const SERVED: TableDefinition<'static, &'static [u8], u64> = TableDefinition::new("served");

/// A storage failure (disk, corruption).
#[derive(Debug, thiserror::Error)]
#[error("the proxy's database: {0}")]
pub struct StoreError(#[from] redb::Error);

fn err(error: impl Into<redb::Error>) -> StoreError {
    StoreError(error.into())
}

/// The proxy's database.
pub(crate) struct CloudStore {
    db: Database,
}

impl CloudStore {
    /// Opens (or creates) the database in `data_dir`.
    pub(crate) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let db = Database::create(data_dir.join(STORE_FILE)).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        for table in [RECORDS, KFRAGS, LOGS] {
            txn.open_table(table).map_err(err)?;
        }
        txn.open_table(SERVED).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Self { db })
    }

    pub(crate) fn put_record(
        &self,
        enrolment: &EnrolmentId,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.put(RECORDS, enrolment, bytes)
    }

    pub(crate) fn record(&self, enrolment: &EnrolmentId) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(RECORDS, enrolment)
    }

    pub(crate) fn put_kfrag(
        &self,
        enrolment: &EnrolmentId,
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        self.put(KFRAGS, enrolment, sealed)
    }

    pub(crate) fn kfrag(&self, enrolment: &EnrolmentId) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(KFRAGS, enrolment)
    }

    pub(crate) fn put_log(&self, enrolment: &EnrolmentId, tx: &TxId) -> Result<(), StoreError> {
        self.put(LOGS, enrolment, tx.as_bytes())
    }

    /// The transaction that logged this proxy's re-encryption of `enrolment`, if any.
    pub(crate) fn log(&self, enrolment: &EnrolmentId) -> Result<Option<TxId>, StoreError> {
        Ok(self.get(LOGS, enrolment)?.and_then(|bytes| {
            <[u8; 32]>::try_from(bytes.as_slice())
                .ok()
                .map(|bytes| TxId(Hash32::from(bytes)))
        }))
    }

    /// Remembers a request by its digest; `false` if it was served before. Requests issued
    /// more than `forget_before_ms` ago are forgotten (they are refused as stale anyway).
    pub(crate) fn first_use(
        &self,
        digest: &[u8; 32],
        issued_at_ms: u64,
        forget_before_ms: u64,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        let fresh = {
            let mut served = txn.open_table(SERVED).map_err(err)?;
            served
                .retain(|_, issued| issued >= forget_before_ms)
                .map_err(err)?;
            let seen = served.get(digest.as_slice()).map_err(err)?.is_some();
            if !seen {
                served
                    .insert(digest.as_slice(), issued_at_ms)
                    .map_err(err)?;
            }
            !seen
        };
        txn.commit().map_err(err)?;
        Ok(fresh)
    }

    fn put(&self, table: Bytes, enrolment: &EnrolmentId, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        txn.open_table(table)
            .map_err(err)?
            .insert(enrolment.as_bytes(), value)
            .map_err(err)?;
        txn.commit().map_err(err)
    }

    fn get(&self, table: Bytes, enrolment: &EnrolmentId) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(table).map_err(err)?;
        let value = table.get(enrolment.as_bytes()).map_err(err)?;
        Ok(value.map(|value| value.value().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_a_reopen_and_requests_are_served_once() {
        let dir = tempfile::tempdir().unwrap();
        let enrolment = EnrolmentId(Hash32::from([1; 32]));
        {
            let store = CloudStore::open(dir.path()).unwrap();
            assert_eq!(store.record(&enrolment).unwrap(), None);
            store.put_record(&enrolment, b"ciphertext").unwrap();
            store.put_kfrag(&enrolment, b"sealed").unwrap();
            store
                .put_log(&enrolment, &TxId(Hash32::from([9; 32])))
                .unwrap();
            assert!(store.first_use(&[5; 32], 1_000, 0).unwrap());
            assert!(!store.first_use(&[5; 32], 1_000, 0).unwrap());
        }
        let store = CloudStore::open(dir.path()).unwrap();
        assert_eq!(store.record(&enrolment).unwrap().unwrap(), b"ciphertext");
        assert_eq!(store.kfrag(&enrolment).unwrap().unwrap(), b"sealed");
        assert_eq!(
            store.log(&enrolment).unwrap(),
            Some(TxId(Hash32::from([9; 32])))
        );
        assert_eq!(
            store.log(&EnrolmentId(Hash32::from([2; 32]))).unwrap(),
            None
        );
        // Still refused after a restart while it could be fresh…
        assert!(!store.first_use(&[5; 32], 1_000, 500).unwrap());
        // …and forgotten once it is too old to pass the clock check anyway.
        assert!(store.first_use(&[5; 32], 1_000, 2_000).unwrap());
    }
}
