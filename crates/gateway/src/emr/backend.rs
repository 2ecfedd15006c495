//! The two database engines behind one narrow interface: run a transaction, and inside it execute
//! statements and read rows. The store's SQL is written once against this interface; the SQL text
//! itself is portable: parameters are written PostgreSQL's way, `$n`, and rewritten to SQLite's
//! numbered `?n` (SQLite reads `$n` as a *named* parameter, numbered by first appearance).

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postgres::types::Type;
use rusqlite::TransactionBehavior;

use super::EmrError;

/// How long an SQLite writer waits for another connection's write lock before failing: inserts
/// serialise on the lock, so a short wait is normal under concurrent releases.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a transaction will write. SQLite takes its write lock up front for writers, so two
/// writers never deadlock upgrading read locks; PostgreSQL runs readers as READ ONLY.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    Read,
    Write,
}

/// A statement parameter.
pub(crate) enum Param<'a> {
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl Param<'_> {
    fn for_sqlite(&self) -> &dyn rusqlite::ToSql {
        match self {
            Param::Int(value) => value,
            Param::Text(value) => value,
            Param::Bytes(value) => value,
        }
    }

    fn for_postgres(&self) -> &(dyn postgres::types::ToSql + Sync) {
        match self {
            Param::Int(value) => value,
            Param::Text(value) => value,
            Param::Bytes(value) => value,
        }
    }
}

/// One column value read back, independent of the engine.
#[derive(Debug)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A row read back; typed getters turn an unexpected value into [`EmrError::CorruptRow`].
pub(crate) struct Row(Vec<Cell>);

impl Row {
    pub(crate) fn int(&self, column: usize) -> Result<i64, EmrError> {
        match self.cell(column)? {
            Cell::Int(value) => Ok(*value),
            other => Err(unexpected(column, "an integer", other)),
        }
    }

    pub(crate) fn text(&self, column: usize) -> Result<&str, EmrError> {
        match self.cell(column)? {
            Cell::Text(value) => Ok(value),
            other => Err(unexpected(column, "text", other)),
        }
    }

    pub(crate) fn optional_text(&self, column: usize) -> Result<Option<&str>, EmrError> {
        match self.cell(column)? {
            Cell::Null => Ok(None),
            _ => self.text(column).map(Some),
        }
    }

    pub(crate) fn bytes(&self, column: usize) -> Result<&[u8], EmrError> {
        match self.cell(column)? {
            Cell::Bytes(value) => Ok(value),
            other => Err(unexpected(column, "bytes", other)),
        }
    }

    pub(crate) fn optional_bytes(&self, column: usize) -> Result<Option<&[u8]>, EmrError> {
        match self.cell(column)? {
            Cell::Null => Ok(None),
            _ => self.bytes(column).map(Some),
        }
    }

    fn cell(&self, column: usize) -> Result<&Cell, EmrError> {
        self.0.get(column).ok_or_else(|| EmrError::CorruptRow {
            reason: format!("the query returned no column {column}"),
        })
    }
}

fn unexpected(column: usize, expected: &str, found: &Cell) -> EmrError {
    EmrError::CorruptRow {
        reason: format!("column {column} should be {expected}, found {found:?}"),
    }
}

/// Statements inside one open transaction.
pub(crate) trait Transaction {
    /// Runs one statement; returns the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, EmrError>;
    /// Runs one query; returns all its rows.
    fn select(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, EmrError>;
    /// Runs several parameterless statements (a migration script).
    fn exec_script(&mut self, sql: &str) -> Result<(), EmrError>;
    /// Serialises schema migrations between processes sharing the database.
    fn lock_for_migration(&mut self) -> Result<(), EmrError>;
}

/// An open connection to either engine. One connection per store; a store is shared between
/// threads behind the mutex, and several stores (processes) may share one database.
pub(crate) enum Connection {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(Mutex<postgres::Client>),
}

impl Connection {
    /// Opens (creating if needed) an SQLite database file in WAL mode with foreign keys enforced.
    pub(crate) fn open_sqlite(path: &Path) -> Result<Self, EmrError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| EmrError::DataDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        let connection = rusqlite::Connection::open(path)?;
        // First, so that the pragmas below also wait for a concurrent opener instead of failing.
        connection.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        let journal_mode: String =
            connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            return Err(EmrError::NoWriteAheadLog {
                path: path.to_owned(),
                journal_mode,
            });
        }
        // A released record must survive a power cut once the gateway has acknowledged it.
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", true)?;
        Ok(Self::Sqlite(Mutex::new(connection)))
    }

    /// Connects to PostgreSQL by URL (`postgres://user@host:port/database`), without TLS.
    pub(crate) fn open_postgres(url: &str) -> Result<Self, EmrError> {
        let client = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(Self::Postgres(Mutex::new(client)))
    }

    /// Runs `body` in one transaction, committed if it returns `Ok`, rolled back otherwise.
    pub(crate) fn transaction<T>(
        &self,
        access: Access,
        body: impl FnOnce(&mut dyn Transaction) -> Result<T, EmrError>,
    ) -> Result<T, EmrError> {
        match self {
            Connection::Sqlite(connection) => {
                let mut connection = lock(connection);
                let behavior = match access {
                    Access::Read => TransactionBehavior::Deferred,
                    Access::Write => TransactionBehavior::Immediate,
                };
                let mut transaction = connection.transaction_with_behavior(behavior)?;
                let output = body(&mut transaction)?;
                transaction.commit()?;
                Ok(output)
            }
            Connection::Postgres(client) => {
                let mut client = lock(client);
                let mut transaction = client
                    .build_transaction()
                    .read_only(matches!(access, Access::Read))
                    .start()?;
                let output = body(&mut transaction)?;
                transaction.commit()?;
                Ok(output)
            }
        }
    }
}

/// A panic while holding the lock leaves no half-done work behind (the open transaction rolls back
/// when dropped), so a poisoned lock is safe to keep using.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Transaction for rusqlite::Transaction<'_> {
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, EmrError> {
        let params: Vec<_> = params.iter().map(Param::for_sqlite).collect();
        let changed = self.execute(&sqlite_parameters(sql), params.as_slice())?;
        Ok(changed as u64)
    }

    fn select(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, EmrError> {
        let params: Vec<_> = params.iter().map(Param::for_sqlite).collect();
        let mut statement = self.prepare(&sqlite_parameters(sql))?;
        let columns = statement.column_count();
        let rows = statement.query_map(params.as_slice(), |row| {
            (0..columns)
                .map(|column| row.get_ref(column).map(sqlite_cell))
                .collect::<Result<Vec<_>, _>>()
        })?;
        rows.map(|row| Ok(Row(row?.into_iter().collect::<Result<_, _>>()?)))
            .collect()
    }

    fn exec_script(&mut self, sql: &str) -> Result<(), EmrError> {
        Ok(self.execute_batch(sql)?)
    }

    fn lock_for_migration(&mut self) -> Result<(), EmrError> {
        // The write transaction already holds SQLite's database-wide write lock.
        Ok(())
    }
}

/// Rewrites `$n` parameters to `?n`. The store's SQL has no `$` inside string literals.
fn sqlite_parameters(sql: &str) -> String {
    let mut rewritten = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let numbered = c == '$' && chars.peek().is_some_and(char::is_ascii_digit);
        rewritten.push(if numbered { '?' } else { c });
    }
    rewritten
}

fn sqlite_cell(value: rusqlite::types::ValueRef<'_>) -> Result<Cell, EmrError> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Ok(Cell::Null),
        ValueRef::Integer(value) => Ok(Cell::Int(value)),
        ValueRef::Text(text) => String::from_utf8(text.to_vec())
            .map(Cell::Text)
            .map_err(|_| EmrError::CorruptRow {
                reason: "a text column holds invalid UTF-8".into(),
            }),
        ValueRef::Blob(bytes) => Ok(Cell::Bytes(bytes.to_vec())),
        ValueRef::Real(value) => Err(EmrError::CorruptRow {
            reason: format!("unexpected floating-point value {value}"),
        }),
    }
}

impl Transaction for postgres::Transaction<'_> {
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, EmrError> {
        let params: Vec<_> = params.iter().map(Param::for_postgres).collect();
        Ok(self.execute(sql, &params)?)
    }

    fn select(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, EmrError> {
        let params: Vec<_> = params.iter().map(Param::for_postgres).collect();
        self.query(sql, &params)?
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|column| postgres_cell(row, column))
                    .collect::<Result<_, _>>()
                    .map(Row)
            })
            .collect()
    }

    fn exec_script(&mut self, sql: &str) -> Result<(), EmrError> {
        Ok(self.batch_execute(sql)?)
    }

    fn lock_for_migration(&mut self) -> Result<(), EmrError> {
        // Two gateways starting at once against one database must not both apply a migration;
        // the lock is released when the transaction ends.
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
        Ok(())
    }
}

/// The advisory-lock key the gateway's migrations serialise on (any constant unique to it).
const MIGRATION_LOCK_KEY: i64 = 0x4d45_4443_4841_494e; // "MEDCHAIN"

fn postgres_cell(row: &postgres::Row, column: usize) -> Result<Cell, EmrError> {
    let cell = match *row.columns()[column].type_() {
        Type::INT8 => row.try_get::<_, Option<i64>>(column)?.map(Cell::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(column)?
            .map(|value| Cell::Int(value.into())),
        Type::TEXT | Type::VARCHAR => row.try_get::<_, Option<String>>(column)?.map(Cell::Text),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(column)?.map(Cell::Bytes),
        ref other => {
            return Err(EmrError::CorruptRow {
                reason: format!("column {column} has unexpected type {other}"),
            });
        }
    };
    Ok(cell.unwrap_or(Cell::Null))
}
