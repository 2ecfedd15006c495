//! The hospital's EMR database (S0-layers "existing database"): FHIR bundles per patient, each with
//! its EMR index j, its hash hEMR and the progress of its release (S1-release, S1-storage).
//!
//! One schema and one set of migrations (`schema.rs`) serve both engines: SQLite, a file under the
//! gateway's data directory (the embedded default), and PostgreSQL by URL (deployments). The calls
//! are synchronous; an async caller runs them on a blocking thread.
//!
//! # Release outbox and crash recovery
//!
//! A record's `state` column is the outbox of its release. `insert_record` commits the bundle as
//! `written` with its j; the release flow then files the release on chain and calls
//! [`EmrStore::mark_released`] with the release transaction id, then stores the encrypted blob and
//! calls [`EmrStore::mark_stored`] with its reference. Each step is one committed transaction, and
//! the schema's CHECKs forbid a `released` row without its transaction id or a `stored` row without
//! its blob reference, so after a crash at any point a record is in exactly one of those states with
//! everything that state requires. On restart the gateway calls [`EmrStore::pending`] and resumes
//! each unfinished record from its state; both marks are idempotent (repeating one with the same
//! value succeeds, a different value is refused), so a step whose effect happened but whose mark
//! was lost is simply redone and marked.
//!
//! # Attestation (issue 12)
//!
//! A `stored` record goes one step further when the hospital attests a commitment to its
//! attributes: [`EmrStore::keep_opening`] keeps the commitment, its date and the opening sealed
//! for the patient (`sealed`, before anything is filed, so a crash after filing never loses the
//! opening of a commitment on chain), then [`EmrStore::mark_attested`] records that
//! `research.attest` is final (`attested`). A record that cannot be attested (its bundle does
//! not map to the schema, its patient has no nullifier key yet) stays `stored`;
//! [`EmrStore::unattested`] lists what is left to attest.
//!
//! # Entries on MED (S3-entry)
//!
//! A patient's signed entry EEE the gateway accepted is kept `queued` ([`EmrStore::keep_entry`])
//! until the chain says where it ended: `final` or `refused` ([`EmrStore::settle_entry`]);
//! [`EmrStore::queued_entries`] lists what a restarted gateway submits again.

mod backend;
mod entries;
mod schema;

pub use entries::{EntryState, StoredEntry};

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use backend::{Access, Connection, Param, Row, Transaction};

/// File name of the SQLite database inside the gateway's data directory.
pub const SQLITE_FILE_NAME: &str = "emr.sqlite3";

/// Why an EMR store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EmrError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "SQLite cannot keep {} in write-ahead-log mode (journal mode {journal_mode}): use a file on a local disk",
        path.display()
    )]
    NoWriteAheadLog { path: PathBuf, journal_mode: String },
    #[error("the database holds an unexpected value: {reason}")]
    CorruptRow { reason: String },
    #[error(
        "the database schema is at version {found}, newer than this gateway's {supported}: run a newer gateway"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("patient {patient} already has a record with hEMR {hemr} (EMR index {existing_index})")]
    DuplicateRecord {
        patient: PatientAddress,
        hemr: Hemr,
        existing_index: u64,
    },
    #[error("no record {key}")]
    NotFound { key: RecordKey },
    #[error("record {key} is {from}, so it cannot become {to}")]
    InvalidTransition {
        key: RecordKey,
        from: RecordState,
        to: RecordState,
    },
    #[error("record {key} was released by transaction {recorded}, not {offered}")]
    ReleaseConflict {
        key: RecordKey,
        recorded: ReleaseTxId,
        offered: ReleaseTxId,
    },
    #[error("record {key} is stored at {recorded:?}, not {offered:?}")]
    StorageConflict {
        key: RecordKey,
        recorded: String,
        offered: String,
    },
    #[error("record {key} is committed to as {recorded}, not {offered}")]
    AttestationConflict {
        key: RecordKey,
        recorded: RecordCommitment,
        offered: RecordCommitment,
    },
}

/// Declares a 32-byte identifier shown in hex.
macro_rules! bytes32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            fn from_column(bytes: &[u8]) -> Result<Self, EmrError> {
                bytes.try_into().map(Self).map_err(|_| EmrError::CorruptRow {
                    reason: format!(
                        "{} should be 32 bytes, found {}",
                        stringify!($name),
                        bytes.len()
                    ),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

bytes32!(
    /// A patient's pseudonymous chain address (the chain's `Address`).
    PatientAddress
);
bytes32!(
    /// hEMR: the SHA-256 of a record's bundle, as released on chain.
    Hemr
);
bytes32!(
    /// The id of the release transaction on chain (the record id of S1-release).
    ReleaseTxId
);
bytes32!(
    /// The commitment to a record's attributes the hospital attests (`zk::Commitment`'s bytes).
    RecordCommitment
);

/// Names a record: the patient and the EMR index j the gateway assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    pub patient: PatientAddress,
    pub index: u64,
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.patient, self.index)
    }
}

/// Where a record is in its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// In the hospital database only.
    Written,
    /// The release transaction is on chain.
    Released,
    /// The encrypted copy is stored and its pointer filed: the release is complete.
    Stored,
    /// Stored, and the hospital's commitment to its attributes is attested on chain.
    Attested,
    /// Written, and its release can no longer be mined ([`ReleaseEnd::Expired`]).
    Expired,
    /// Written, and the chain refused its release for good ([`ReleaseEnd::Refused`]).
    Refused,
}

impl RecordState {
    fn as_str(self) -> &'static str {
        match self {
            RecordState::Written => "written",
            RecordState::Released => "released",
            RecordState::Stored => "stored",
            RecordState::Attested => "attested",
            RecordState::Expired => "expired",
            RecordState::Refused => "refused",
        }
    }
}

impl fmt::Display for RecordState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record's release progress, with what each stage requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    Written,
    Released { tx: ReleaseTxId },
    Stored { tx: ReleaseTxId, blob_ref: String },
}

impl Release {
    pub fn state(&self) -> RecordState {
        match self {
            Release::Written => RecordState::Written,
            Release::Released { .. } => RecordState::Released,
            Release::Stored { .. } => RecordState::Stored,
        }
    }

    fn tx(&self) -> Option<ReleaseTxId> {
        match self {
            Release::Written => None,
            Release::Released { tx } | Release::Stored { tx, .. } => Some(*tx),
        }
    }
}

/// How a release that never became final ended; the record stays `written`, no longer resumed,
/// until the doctor signs its release again ([`EmrStore::renew_release`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseEnd {
    /// It can no longer be mined (MED: issued too long ago for any Mblock SUP can still
    /// checkpoint).
    Expired,
    /// The chain refused it for good (MED: SUP checkpointed its Mblock but did not import it).
    Refused,
}

impl ReleaseEnd {
    fn state(self) -> RecordState {
        match self {
            ReleaseEnd::Expired => RecordState::Expired,
            ReleaseEnd::Refused => RecordState::Refused,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ReleaseEnd::Expired => "expired",
            ReleaseEnd::Refused => "refused",
        }
    }
}

/// A stored record's commitment and its opening, sealed for the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    pub commitment: RecordCommitment,
    /// The date (UTC) the bundle's attributes were taken as of (ages are counted to it).
    pub as_of: NaiveDate,
    /// `blobs::SealedOpening`'s bytes.
    pub sealed_opening: Vec<u8>,
    /// Whether `research.attest` is final on chain (otherwise the opening is only kept).
    pub attested: bool,
}

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: RecordKey,
    pub hemr: Hemr,
    /// The FHIR R4 JSON bundle, as submitted.
    pub bundle: Vec<u8>,
    /// The doctor's signed release transaction, kept so that an unfinished release is resumed
    /// with the same transaction.
    pub signed_release: Option<Vec<u8>>,
    pub release: Release,
    /// How its release ended, if it never became final.
    pub ended: Option<ReleaseEnd>,
    /// The commitment kept for a stored record, once there is one.
    pub attestation: Option<Attestation>,
}

impl Record {
    /// The record's step: its release's, `attested` once its attestation is final, or how its
    /// release ended.
    pub fn state(&self) -> RecordState {
        match (&self.attestation, self.ended) {
            (Some(attestation), _) if attestation.attested => RecordState::Attested,
            (_, Some(ended)) => ended.state(),
            _ => self.release.state(),
        }
    }
}

/// A break-glass access this gateway served (S3-emergency), kept for the patient's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedEmergency {
    /// The emergency request on chain (tx_ur's id).
    pub emergency: [u8; 32],
    pub patient: PatientAddress,
    /// The record released (its release transaction id).
    pub record: ReleaseTxId,
    /// Its EMR index j.
    pub index: u64,
    /// The doctor's identity.
    pub doctor: String,
    /// The `access.serve` transaction that logged the access on chain.
    pub access_tx: [u8; 32],
    /// When the gateway released it, unix milliseconds.
    pub served_at_ms: u64,
}

/// Which database to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmrLocation {
    /// An SQLite file, created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:port/database`).
    Postgres(String),
}

impl EmrLocation {
    /// A `postgres://` or `postgresql://` URL names a PostgreSQL database; anything else is an
    /// SQLite file path.
    pub fn parse(location: &str) -> Self {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            EmrLocation::Postgres(location.to_owned())
        } else {
            EmrLocation::Sqlite(PathBuf::from(location))
        }
    }

    /// The embedded default: [`SQLITE_FILE_NAME`] in the gateway's data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        EmrLocation::Sqlite(data_dir.join(SQLITE_FILE_NAME))
    }
}

/// The hospital's EMR database. Safe to share between threads; several stores (gateway processes)
/// may open the same database.
pub struct EmrStore {
    connection: Connection,
}

const RECORD_COLUMNS: &str = "patient, emr_index, hemr, bundle, state, release_tx, blob_ref, \
     release_signed, commitment, attested_as_of, sealed_opening, attestation, release_ended";

impl EmrStore {
    /// Opens the database and brings its schema up to date.
    pub fn open(location: &EmrLocation) -> Result<Self, EmrError> {
        let connection = match location {
            EmrLocation::Sqlite(path) => Connection::open_sqlite(path)?,
            EmrLocation::Postgres(url) => Connection::open_postgres(url)?,
        };
        let store = Self { connection };
        store.migrate()?;
        Ok(store)
    }

    /// Applies the migrations the database lacks, all in one transaction; returns how many ran
    /// (0 when the schema is current). Refuses a database migrated by a newer gateway.
    pub fn migrate(&self) -> Result<usize, EmrError> {
        let supported = latest_schema_version();
        self.connection.transaction(Access::Write, |tx| {
            tx.lock_for_migration()?;
            tx.exec_script(schema::MIGRATIONS_TABLE)?;
            let found = current_schema_version(tx)?;
            if found > supported {
                return Err(EmrError::SchemaTooNew { found, supported });
            }
            let missing: Vec<_> = schema::MIGRATIONS
                .iter()
                .filter(|(version, _)| *version > found)
                .collect();
            for (version, script) in &missing {
                tx.exec_script(script)?;
                tx.exec(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[Param::Int(*version)],
                )?;
            }
            Ok(missing.len())
        })
    }

    /// The highest migration applied to the database.
    pub fn schema_version(&self) -> Result<i64, EmrError> {
        self.connection
            .transaction(Access::Read, current_schema_version)
    }

    /// The patient's sealed enrolment (S3-agree), or `None` if the patient has not enrolled
    /// here.
    pub fn enrolment(&self, patient: &PatientAddress) -> Result<Option<Vec<u8>>, EmrError> {
        self.connection.transaction(Access::Read, |tx| {
            let rows = tx.select(
                "SELECT taka_enrolment FROM patients WHERE address = $1",
                &[Param::Bytes(&patient.0)],
            )?;
            match rows.first() {
                Some(row) => Ok(row.optional_bytes(0)?.map(<[u8]>::to_vec)),
                None => Ok(None),
            }
        })
    }

    /// Records the patient's sealed enrolment, adding the patient if new; a new enrolment
    /// replaces the old one (the gateway allows that only while the patient has no records).
    pub fn set_enrolment(&self, patient: &PatientAddress, sealed: &[u8]) -> Result<(), EmrError> {
        self.connection.transaction(Access::Write, |tx| {
            tx.exec(
                "INSERT INTO patients (address, enrolment, taka_enrolment) VALUES ($1, 'enrolled', $2) \
                 ON CONFLICT (address) DO UPDATE SET enrolment = 'enrolled', \
                 taka_enrolment = excluded.taka_enrolment",
                &[Param::Bytes(&patient.0), Param::Bytes(sealed)],
            )?;
            Ok(())
        })
    }

    /// Stores a new record for `patient` as `written` and returns its key, with the next EMR index
    /// j of that patient. The index is drawn and the record inserted in one transaction, so
    /// concurrent inserts get distinct indexes and a refused insert consumes none. A bundle whose
    /// hEMR the patient already has is refused. Indexes start at 1, as S3-release numbers a
    /// patient's EMRs (the encryption factor of record j). `signed_release` is the doctor's
    /// signed release transaction, kept with the row until the release is final.
    pub fn insert_record(
        &self,
        patient: &PatientAddress,
        hemr: &Hemr,
        bundle: &[u8],
        signed_release: &[u8],
    ) -> Result<RecordKey, EmrError> {
        self.connection.transaction(Access::Write, |tx| {
            tx.exec(
                "INSERT INTO patients (address) VALUES ($1) ON CONFLICT (address) DO NOTHING",
                &[Param::Bytes(&patient.0)],
            )?;
            // Locks the patient's row until commit: the next insert for this patient waits here.
            let drawn = tx.select(
                "UPDATE patients SET next_index = next_index + 1 WHERE address = $1 \
                 RETURNING next_index",
                &[Param::Bytes(&patient.0)],
            )?;
            let drawn = single_row(&drawn)?.int(0)?;
            let index = index_from_column(drawn)?;
            let existing = tx.select(
                "SELECT emr_index FROM records WHERE patient = $1 AND hemr = $2",
                &[Param::Bytes(&patient.0), Param::Bytes(&hemr.0)],
            )?;
            if let Some(row) = existing.first() {
                return Err(EmrError::DuplicateRecord {
                    patient: *patient,
                    hemr: *hemr,
                    existing_index: index_from_column(row.int(0)?)?,
                });
            }
            tx.exec(
                "INSERT INTO records (patient, emr_index, hemr, bundle, release_signed) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    Param::Bytes(&patient.0),
                    Param::Int(drawn),
                    Param::Bytes(&hemr.0),
                    Param::Bytes(bundle),
                    Param::Bytes(signed_release),
                ],
            )?;
            Ok(RecordKey {
                patient: *patient,
                index,
            })
        })
    }

    /// Marks a `written` record released by transaction `tx`. Repeating the call with the same
    /// transaction succeeds (crash recovery); a different transaction is refused.
    pub fn mark_released(&self, key: &RecordKey, tx: &ReleaseTxId) -> Result<(), EmrError> {
        self.advance(key, Step::Release(tx))
    }

    /// Marks a `released` record stored at `blob_ref`, completing its release. Repeating the call
    /// with the same reference succeeds; a different reference, or a record not yet released, is
    /// refused.
    pub fn mark_stored(&self, key: &RecordKey, blob_ref: &str) -> Result<(), EmrError> {
        self.advance(key, Step::Store(blob_ref))
    }

    /// Keeps the commitment of a `stored` record, the date its attributes were taken as of and
    /// its opening sealed for the patient, before the commitment is filed. The first opening
    /// kept wins: if one is kept already (a concurrent attestation, a retry) it is returned and
    /// the one offered is dropped, so every attempt files the same commitment.
    pub fn keep_opening(
        &self,
        key: &RecordKey,
        commitment: &RecordCommitment,
        as_of: NaiveDate,
        sealed_opening: &[u8],
    ) -> Result<Attestation, EmrError> {
        let Ok(index) = i64::try_from(key.index) else {
            return Err(EmrError::NotFound { key: *key });
        };
        let as_of = as_of.to_string();
        self.connection.transaction(Access::Write, |tx| {
            tx.exec(
                "UPDATE records SET attestation = 'sealed', commitment = $3, \
                 attested_as_of = $4, sealed_opening = $5 \
                 WHERE patient = $1 AND emr_index = $2 AND state = 'stored' \
                 AND attestation IS NULL",
                &[
                    Param::Bytes(&key.patient.0),
                    Param::Int(index),
                    Param::Bytes(&commitment.0),
                    Param::Text(&as_of),
                    Param::Bytes(sealed_opening),
                ],
            )?;
            let record = read_record(tx, key)?.ok_or(EmrError::NotFound { key: *key })?;
            let from = record.state();
            record.attestation.ok_or(EmrError::InvalidTransition {
                key: *key,
                from,
                to: RecordState::Attested,
            })
        })
    }

    /// Marks the kept commitment attested on chain. Repeating the call succeeds; another
    /// commitment than the one kept is refused (`AttestationConflict`), and so is a record
    /// with no commitment kept.
    pub fn mark_attested(
        &self,
        key: &RecordKey,
        commitment: &RecordCommitment,
    ) -> Result<(), EmrError> {
        let Ok(index) = i64::try_from(key.index) else {
            return Err(EmrError::NotFound { key: *key });
        };
        self.connection.transaction(Access::Write, |tx| {
            let marked = tx.exec(
                "UPDATE records SET attestation = 'attested' \
                 WHERE patient = $1 AND emr_index = $2 AND attestation = 'sealed' \
                 AND commitment = $3",
                &[
                    Param::Bytes(&key.patient.0),
                    Param::Int(index),
                    Param::Bytes(&commitment.0),
                ],
            )?;
            if marked == 1 {
                return Ok(());
            }
            let record = read_record(tx, key)?.ok_or(EmrError::NotFound { key: *key })?;
            match &record.attestation {
                Some(kept) if kept.commitment == *commitment => Ok(()),
                Some(kept) => Err(EmrError::AttestationConflict {
                    key: *key,
                    recorded: kept.commitment,
                    offered: *commitment,
                }),
                None => Err(EmrError::InvalidTransition {
                    key: *key,
                    from: record.state(),
                    to: RecordState::Attested,
                }),
            }
        })
    }

    /// Stored records whose commitment is not attested yet (none kept, or kept but not final
    /// on chain), by patient and index: what the gateway retries at start.
    pub fn unattested(&self) -> Result<Vec<Record>, EmrError> {
        self.connection.transaction(Access::Read, |tx| {
            tx.select(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM records WHERE state = 'stored' \
                     AND (attestation IS NULL OR attestation = 'sealed') \
                     ORDER BY patient, emr_index"
                ),
                &[],
            )?
            .iter()
            .map(record_from_row)
            .collect()
        })
    }

    /// Deletes a `written` record whose release the chain refused (it was never filed, so it
    /// will never execute): the doctor writes it again. Its index goes back to the counter when
    /// no later one was drawn, so indexes stay gap-free unless a later record exists. Returns
    /// whether a record was deleted; a record past `written` is never deleted.
    pub fn discard_written(&self, key: &RecordKey) -> Result<bool, EmrError> {
        let Ok(index) = i64::try_from(key.index) else {
            return Ok(false);
        };
        self.connection.transaction(Access::Write, |tx| {
            let deleted = tx.exec(
                "DELETE FROM records WHERE patient = $1 AND emr_index = $2 AND state = 'written'",
                &[Param::Bytes(&key.patient.0), Param::Int(index)],
            )?;
            if deleted == 1 {
                tx.exec(
                    "UPDATE patients SET next_index = next_index - 1 \
                     WHERE address = $1 AND next_index = $2",
                    &[Param::Bytes(&key.patient.0), Param::Int(index)],
                )?;
            }
            Ok(deleted == 1)
        })
    }

    /// Marks the release of a `written` record ended (`ended`): it is kept, and no longer
    /// pending. Repeating the call succeeds; a record past `written` is refused.
    pub fn mark_ended(&self, key: &RecordKey, ended: ReleaseEnd) -> Result<(), EmrError> {
        let Ok(index) = i64::try_from(key.index) else {
            return Err(EmrError::NotFound { key: *key });
        };
        self.connection.transaction(Access::Write, |tx| {
            let updated = tx.exec(
                "UPDATE records SET release_ended = $3 \
                 WHERE patient = $1 AND emr_index = $2 AND state = 'written'",
                &[
                    Param::Bytes(&key.patient.0),
                    Param::Int(index),
                    Param::Text(ended.as_str()),
                ],
            )?;
            if updated == 1 {
                return Ok(());
            }
            let record = read_record(tx, key)?.ok_or(EmrError::NotFound { key: *key })?;
            Err(EmrError::InvalidTransition {
                key: *key,
                from: record.state(),
                to: ended.state(),
            })
        })
    }

    /// The record whose release ended, pending again with the doctor's new signed release of
    /// the same bundle (same patient and hEMR, EMR index kept). Returns whether it was renewed:
    /// `false` for a record whose release has not ended.
    pub fn renew_release(&self, key: &RecordKey, signed_release: &[u8]) -> Result<bool, EmrError> {
        let Ok(index) = i64::try_from(key.index) else {
            return Ok(false);
        };
        self.connection.transaction(Access::Write, |tx| {
            let updated = tx.exec(
                "UPDATE records SET release_signed = $3, release_ended = NULL \
                 WHERE patient = $1 AND emr_index = $2 AND state = 'written' \
                 AND release_ended IS NOT NULL",
                &[
                    Param::Bytes(&key.patient.0),
                    Param::Int(index),
                    Param::Bytes(signed_release),
                ],
            )?;
            Ok(updated == 1)
        })
    }

    /// Claims the record for `owner` (one gateway process) until `until_ms` (unix ms), unless
    /// another owner's claim runs at `now_ms`; returns whether `owner` holds it now. Claiming
    /// again extends the owner's claim.
    pub fn claim(
        &self,
        key: &RecordKey,
        owner: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, EmrError> {
        let Ok(index) = i64::try_from(key.index) else {
            return Ok(false);
        };
        self.connection.transaction(Access::Write, |tx| {
            let updated = tx.exec(
                "UPDATE records SET claimed_by = $3, claimed_until = $4 \
                 WHERE patient = $1 AND emr_index = $2 \
                 AND (claimed_by IS NULL OR claimed_by = $3 OR claimed_until < $5)",
                &[
                    Param::Bytes(&key.patient.0),
                    Param::Int(index),
                    Param::Text(owner),
                    Param::Int(to_column(until_ms)),
                    Param::Int(to_column(now_ms)),
                ],
            )?;
            Ok(updated == 1)
        })
    }

    /// Gives up `owner`'s claim on the record, if it holds one.
    pub fn unclaim(&self, key: &RecordKey, owner: &str) -> Result<(), EmrError> {
        let Ok(index) = i64::try_from(key.index) else {
            return Ok(());
        };
        self.connection.transaction(Access::Write, |tx| {
            tx.exec(
                "UPDATE records SET claimed_by = NULL, claimed_until = NULL \
                 WHERE patient = $1 AND emr_index = $2 AND claimed_by = $3",
                &[
                    Param::Bytes(&key.patient.0),
                    Param::Int(index),
                    Param::Text(owner),
                ],
            )?;
            Ok(())
        })
    }

    /// The record, or `None` if there is none under this key.
    pub fn get(&self, key: &RecordKey) -> Result<Option<Record>, EmrError> {
        self.connection
            .transaction(Access::Read, |tx| read_record(tx, key))
    }

    /// The patient's records in EMR-index order.
    pub fn list_by_patient(&self, patient: &PatientAddress) -> Result<Vec<Record>, EmrError> {
        self.connection.transaction(Access::Read, |tx| {
            tx.select(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM records WHERE patient = $1 ORDER BY emr_index"
                ),
                &[Param::Bytes(&patient.0)],
            )?
            .iter()
            .map(record_from_row)
            .collect()
        })
    }

    /// Records whose release is unfinished (`written` or `released`) and has not ended, by
    /// patient and index: what the gateway resumes.
    pub fn pending(&self) -> Result<Vec<Record>, EmrError> {
        self.connection.transaction(Access::Read, |tx| {
            tx.select(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM records \
                     WHERE state <> 'stored' AND release_ended IS NULL \
                     ORDER BY patient, emr_index"
                ),
                &[],
            )?
            .iter()
            .map(record_from_row)
            .collect()
        })
    }

    /// The record released by transaction `tx` (its record id on chain), if it is this
    /// hospital's.
    pub fn find_by_release(&self, tx: &ReleaseTxId) -> Result<Option<Record>, EmrError> {
        self.connection.transaction(Access::Read, |t| {
            t.select(
                &format!("SELECT {RECORD_COLUMNS} FROM records WHERE release_tx = $1"),
                &[Param::Bytes(&tx.0)],
            )?
            .first()
            .map(record_from_row)
            .transpose()
        })
    }

    /// Remembers the replay tag of an accepted sharing request (or the digest of an
    /// authenticated doctor request, `doctor_request`); `false` if it was seen before
    /// (a replay). Atomic: of two concurrent requests with one tag, exactly one gets `true`.
    pub fn remember_share(&self, tag: &[u8; 32], now_ms: u64) -> Result<bool, EmrError> {
        self.connection.transaction(Access::Write, |tx| {
            let inserted = tx.exec(
                "INSERT INTO share_replays (tag, seen_at_ms) VALUES ($1, $2) \
                 ON CONFLICT (tag) DO NOTHING",
                &[Param::Bytes(tag), Param::Int(to_column(now_ms))],
            )?;
            Ok(inserted == 1)
        })
    }

    /// Records a break-glass access served; recording the same emergency again changes
    /// nothing.
    pub fn add_notification(&self, served: &ServedEmergency) -> Result<(), EmrError> {
        self.connection.transaction(Access::Write, |tx| {
            tx.exec(
                "INSERT INTO notifications \
                 (emergency, patient, record, emr_index, doctor, access_tx, served_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (emergency) DO NOTHING",
                &[
                    Param::Bytes(&served.emergency),
                    Param::Bytes(&served.patient.0),
                    Param::Bytes(&served.record.0),
                    Param::Int(to_column(served.index)),
                    Param::Text(&served.doctor),
                    Param::Bytes(&served.access_tx),
                    Param::Int(to_column(served.served_at_ms)),
                ],
            )?;
            Ok(())
        })
    }

    /// The break-glass accesses served for `patient`, oldest first.
    pub fn notifications(
        &self,
        patient: &PatientAddress,
    ) -> Result<Vec<ServedEmergency>, EmrError> {
        self.connection.transaction(Access::Read, |tx| {
            tx.select(
                "SELECT emergency, patient, record, emr_index, doctor, access_tx, served_at_ms \
                 FROM notifications WHERE patient = $1 ORDER BY served_at_ms, emergency",
                &[Param::Bytes(&patient.0)],
            )?
            .iter()
            .map(|row| {
                Ok(ServedEmergency {
                    emergency: array_from_column(row.bytes(0)?)?,
                    patient: PatientAddress::from_column(row.bytes(1)?)?,
                    record: ReleaseTxId::from_column(row.bytes(2)?)?,
                    index: index_from_column(row.int(3)?)?,
                    doctor: row.text(4)?.to_owned(),
                    access_tx: array_from_column(row.bytes(5)?)?,
                    served_at_ms: index_from_column(row.int(6)?)?,
                })
            })
            .collect()
        })
    }

    fn advance(&self, key: &RecordKey, step: Step<'_>) -> Result<(), EmrError> {
        let Ok(index) = i64::try_from(key.index) else {
            return Err(EmrError::NotFound { key: *key });
        };
        self.connection.transaction(Access::Write, |tx| {
            let (sql, value) = match step {
                Step::Release(release_tx) => (
                    "UPDATE records SET state = 'released', release_tx = $3 \
                     WHERE patient = $1 AND emr_index = $2 AND state = 'written'",
                    Param::Bytes(&release_tx.0),
                ),
                Step::Store(blob_ref) => (
                    "UPDATE records SET state = 'stored', blob_ref = $3 \
                     WHERE patient = $1 AND emr_index = $2 AND state = 'released'",
                    Param::Text(blob_ref),
                ),
            };
            if tx.exec(
                sql,
                &[Param::Bytes(&key.patient.0), Param::Int(index), value],
            )? == 1
            {
                return Ok(());
            }
            let record = read_record(tx, key)?.ok_or(EmrError::NotFound { key: *key })?;
            step.check_already_done(&record)
        })
    }
}

/// A release step, with the value it records.
#[derive(Clone, Copy)]
enum Step<'a> {
    Release(&'a ReleaseTxId),
    Store(&'a str),
}

impl Step<'_> {
    fn target(self) -> RecordState {
        match self {
            Step::Release(_) => RecordState::Released,
            Step::Store(_) => RecordState::Stored,
        }
    }

    /// The step did not apply to `record`: succeed if it already happened with the same value
    /// (a retry), otherwise say why it cannot.
    fn check_already_done(self, record: &Record) -> Result<(), EmrError> {
        let key = record.key;
        let invalid = || EmrError::InvalidTransition {
            key,
            from: record.release.state(),
            to: self.target(),
        };
        match (self, &record.release) {
            (Step::Release(offered), release) => match release.tx() {
                Some(recorded) if recorded == *offered => Ok(()),
                Some(recorded) => Err(EmrError::ReleaseConflict {
                    key,
                    recorded,
                    offered: *offered,
                }),
                None => Err(invalid()),
            },
            (Step::Store(offered), Release::Stored { blob_ref, .. }) if blob_ref == offered => {
                Ok(())
            }
            (Step::Store(offered), Release::Stored { blob_ref, .. }) => {
                Err(EmrError::StorageConflict {
                    key,
                    recorded: blob_ref.clone(),
                    offered: offered.to_owned(),
                })
            }
            (Step::Store(_), _) => Err(invalid()),
        }
    }
}

fn latest_schema_version() -> i64 {
    schema::MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

fn current_schema_version(tx: &mut dyn Transaction) -> Result<i64, EmrError> {
    let rows = tx.select(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        &[],
    )?;
    single_row(&rows)?.int(0)
}

fn read_record(tx: &mut dyn Transaction, key: &RecordKey) -> Result<Option<Record>, EmrError> {
    let Ok(index) = i64::try_from(key.index) else {
        return Ok(None);
    };
    tx.select(
        &format!("SELECT {RECORD_COLUMNS} FROM records WHERE patient = $1 AND emr_index = $2"),
        &[Param::Bytes(&key.patient.0), Param::Int(index)],
    )?
    .first()
    .map(record_from_row)
    .transpose()
}

/// Decodes a row of [`RECORD_COLUMNS`].
fn record_from_row(row: &Row) -> Result<Record, EmrError> {
    let tx = row
        .optional_bytes(5)?
        .map(ReleaseTxId::from_column)
        .transpose()?;
    let blob_ref = row.optional_text(6)?;
    let release = match (row.text(4)?, tx, blob_ref) {
        ("written", None, None) => Release::Written,
        ("released", Some(tx), None) => Release::Released { tx },
        ("stored", Some(tx), Some(blob_ref)) => Release::Stored {
            tx,
            blob_ref: blob_ref.to_owned(),
        },
        (state, tx, blob_ref) => {
            return Err(EmrError::CorruptRow {
                reason: format!(
                    "record state {state:?} with release tx {tx:?} and blob reference {blob_ref:?}"
                ),
            });
        }
    };
    Ok(Record {
        key: RecordKey {
            patient: PatientAddress::from_column(row.bytes(0)?)?,
            index: index_from_column(row.int(1)?)?,
        },
        hemr: Hemr::from_column(row.bytes(2)?)?,
        bundle: row.bytes(3)?.to_vec(),
        signed_release: row.optional_bytes(7)?.map(<[u8]>::to_vec),
        release,
        ended: match row.optional_text(12)? {
            None => None,
            Some("expired") => Some(ReleaseEnd::Expired),
            Some("refused") => Some(ReleaseEnd::Refused),
            Some(other) => {
                return Err(EmrError::CorruptRow {
                    reason: format!("release ended {other:?}"),
                });
            }
        },
        attestation: attestation_from_row(row)?,
    })
}

/// The attestation columns of a [`RECORD_COLUMNS`] row (the schema sets all or none).
fn attestation_from_row(row: &Row) -> Result<Option<Attestation>, EmrError> {
    let Some(state) = row.optional_text(11)? else {
        return Ok(None);
    };
    let as_of = row.text(9)?;
    Ok(Some(Attestation {
        commitment: RecordCommitment::from_column(row.bytes(8)?)?,
        as_of: as_of.parse().map_err(|_| EmrError::CorruptRow {
            reason: format!("attestation date {as_of:?} is not YYYY-MM-DD"),
        })?,
        sealed_opening: row.bytes(10)?.to_vec(),
        attested: match state {
            "sealed" => false,
            "attested" => true,
            other => {
                return Err(EmrError::CorruptRow {
                    reason: format!("attestation state {other:?}"),
                });
            }
        },
    }))
}

fn single_row(rows: &[Row]) -> Result<&Row, EmrError> {
    match rows {
        [row] => Ok(row),
        _ => Err(EmrError::CorruptRow {
            reason: format!("expected one row, got {}", rows.len()),
        }),
    }
}

fn index_from_column(value: i64) -> Result<u64, EmrError> {
    u64::try_from(value).map_err(|_| EmrError::CorruptRow {
        reason: format!("negative value {value} where a count, index or time belongs"),
    })
}

/// An unsigned count or time as a BIGINT column (values beyond `i64::MAX` are centuries away
/// for times and unreachable for indexes; they saturate rather than wrap).
fn to_column(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn array_from_column(bytes: &[u8]) -> Result<[u8; 32], EmrError> {
    bytes.try_into().map_err(|_| EmrError::CorruptRow {
        reason: format!("a 32-byte id column holds {} bytes", bytes.len()),
    })
}

#[cfg(test)]
mod tests;
