//! The EMR database schema, as numbered migrations shared by SQLite and PostgreSQL.
//!
//! The DDL is the common subset of both dialects: `BIGINT`, `TEXT` and `BYTEA` columns (SQLite
//! stores integers, text and blobs in them unchanged), `CHECK` constraints, composite keys and a
//! partial index. A migration is never edited once released; a change is a new migration.

/// `(version, script)` in ascending order; the version recorded in `schema_migrations` is the
/// highest applied.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[(1, INITIAL)];

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
