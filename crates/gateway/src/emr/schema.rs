//! The EMR database schema, as numbered migrations shared by SQLite and PostgreSQL.
//!
//! The DDL is the common subset of both dialects: `BIGINT`, `TEXT` and `BYTEA` columns (SQLite
//! stores integers, text and blobs in them unchanged), `CHECK` constraints, composite keys and a
//! partial index. A migration is never edited once released; a change is a new migration.

/// `(version, script)` in ascending order; the version recorded in `schema_migrations` is the
/// highest applied.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, INITIAL),
    (2, GATEWAY),
    (3, ATTESTATION),
    (4, RELEASE_ENDED),
    (5, RELEASE_CLAIM),
    (6, MED_ENTRIES),
];

/// The bookkeeping table, created before any migration runs.
pub(crate) const MIGRATIONS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)";

/// Patients by pseudonymous chain address; records by (patient, EMR index j).
///
/// `next_index` is the per-patient counter j is drawn from: incrementing it is a row update, which
/// both engines serialise, so concurrent inserts for one patient get distinct, gap-free indexes.
/// A record's `state` is its release outbox: `written` (in the hospital database only),
/// `released` (the release transaction `release_tx` is on chain), `stored` (the encrypted copy is
/// at `blob_ref` and its pointer filed). The CHECKs make a half-released row unrepresentable.
const INITIAL: &str = "
CREATE TABLE patients (
    address BYTEA PRIMARY KEY,
    enrolment TEXT NOT NULL DEFAULT 'none' CHECK (enrolment IN ('none', 'enrolled')),
    next_index BIGINT NOT NULL DEFAULT 0 CHECK (next_index >= 0)
);
CREATE TABLE records (
    patient BYTEA NOT NULL REFERENCES patients (address),
    emr_index BIGINT NOT NULL CHECK (emr_index >= 0),
    hemr BYTEA NOT NULL,
    bundle BYTEA NOT NULL,
    state TEXT NOT NULL DEFAULT 'written' CHECK (state IN ('written', 'released', 'stored')),
    release_tx BYTEA,
    blob_ref TEXT,
    PRIMARY KEY (patient, emr_index),
    UNIQUE (patient, hemr),
    CHECK ((state = 'written') = (release_tx IS NULL)),
    CHECK ((state = 'stored') = (blob_ref IS NOT NULL))
);
CREATE INDEX records_unfinished ON records (patient, emr_index) WHERE state <> 'stored';
";

/// What the running gateway keeps beside the records (issue 9):
///
/// - `records.release_signed`: the doctor's signed release transaction, stored with the
///   `written` row so that a gateway restarted before the release was final submits the very
///   same transaction again (never a second release);
/// - `patients.taka_enrolment`: the hospital's side of the patient's S3-agree enrolment (the
///   initial factors every record key derives from), sealed by the gateway before it is stored;
/// - `share_replays`: the replay tag of every sharing request accepted, so a replayed request
///   is refused even after a restart;
/// - `notifications`: the break-glass accesses this gateway served, for the patient's feed;
/// - an index finding a record by its release transaction (its record id on chain).
const GATEWAY: &str = "
ALTER TABLE records ADD COLUMN release_signed BYTEA;
ALTER TABLE patients ADD COLUMN taka_enrolment BYTEA;
CREATE UNIQUE INDEX records_by_release ON records (release_tx);
CREATE TABLE share_replays (
    tag BYTEA PRIMARY KEY,
    seen_at_ms BIGINT NOT NULL
);
CREATE TABLE notifications (
    emergency BYTEA PRIMARY KEY,
    patient BYTEA NOT NULL REFERENCES patients (address),
    record BYTEA NOT NULL,
    emr_index BIGINT NOT NULL CHECK (emr_index >= 1),
    doctor TEXT NOT NULL,
    access_tx BYTEA NOT NULL,
    served_at_ms BIGINT NOT NULL
);
CREATE INDEX notifications_by_patient ON notifications (patient, served_at_ms);
";

/// A stored record's attested commitment (issue 12), a step after `stored`:
///
/// - `commitment`: the record's commitment C = `opening.commit()`;
/// - `attested_as_of`: the date (`YYYY-MM-DD`, UTC) the bundle was mapped to attributes as of;
/// - `sealed_opening`: the opening, sealed for the patient (`blobs::SealedOpening`);
/// - `attestation`: `sealed` once the opening is kept (before anything is filed, so a crash
///   after filing never loses the opening of a commitment on chain), `attested` once
///   `research.attest` is final.
///
/// The columns are added to `records` (SQLite cannot add a table constraint to an existing
/// table, so the CHECK is the last column's): either none is set, or all are and the record
/// is `stored`.
const ATTESTATION: &str = "
ALTER TABLE records ADD COLUMN commitment BYTEA;
ALTER TABLE records ADD COLUMN attested_as_of TEXT;
ALTER TABLE records ADD COLUMN sealed_opening BYTEA;
ALTER TABLE records ADD COLUMN attestation TEXT CHECK (
    (attestation IS NULL AND commitment IS NULL AND attested_as_of IS NULL
        AND sealed_opening IS NULL)
    OR (attestation IN ('sealed', 'attested') AND state = 'stored' AND commitment IS NOT NULL
        AND attested_as_of IS NOT NULL AND sealed_opening IS NOT NULL)
);
CREATE INDEX records_unattested ON records (patient, emr_index)
    WHERE state = 'stored' AND (attestation IS NULL OR attestation = 'sealed');
";

/// How a release that never became final ended (issue 13, MED): `expired` (it can no longer be
/// mined: no Mblock SUP can still checkpoint may hold it) or `refused` (SUP checkpointed its
/// Mblock but its release rules refused the record). The row stays `written` — bundle, index
/// and signed release kept, so the doctor can see why and sign the release again — and is no
/// longer resumed. Only a `written` row ends so.
const RELEASE_ENDED: &str = "
ALTER TABLE records ADD COLUMN release_ended TEXT CHECK (
    release_ended IS NULL OR (release_ended IN ('expired', 'refused') AND state = 'written')
);
";

/// Which gateway process is completing a record's release, until when (unix ms): several
/// gateways may share one database, and each resumes the unfinished releases, so a record is
/// claimed in the database before it is filed, sealed and pointed, and a claim whose holder
/// stopped lapses.
const RELEASE_CLAIM: &str = "
ALTER TABLE records ADD COLUMN claimed_by TEXT;
ALTER TABLE records ADD COLUMN claimed_until BIGINT;
";

/// The encrypted EMR entries EEE patients filed through this gateway on MED (S3-entry):
///
/// - `entry`: its id (`EntryMr::entry_id`), `patient` the patient who signed it;
/// - `signed`: the patient's `SignedEntry` as JSON, kept so that a restarted gateway submits
///   the very same entry again (the chain files an id once);
/// - `state`: `queued` once the gateway accepted it (its batch in the node's pool), `final`
///   once SUP imported it from a checkpointed Mblock, `refused` if SUP checkpointed its Mblock
///   without importing it.
const MED_ENTRIES: &str = "
CREATE TABLE entries (
    entry BYTEA PRIMARY KEY,
    patient BYTEA NOT NULL REFERENCES patients (address),
    signed TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'final', 'refused')),
    received_at_ms BIGINT NOT NULL
);
CREATE INDEX entries_queued ON entries (received_at_ms) WHERE state = 'queued';
";
