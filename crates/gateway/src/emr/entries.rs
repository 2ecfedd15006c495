//! The entries EEE patients filed through the gateway on MED (S3-entry), kept from the moment
//! the gateway accepts one until the chain settles it.

use super::{EmrError, EmrStore, PatientAddress, array_from_column, index_from_column, to_column};
use crate::emr::backend::{Access, Param, Row};
use std::fmt;

/// Where a kept entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Accepted, in a batch the node's pool took; not final yet.
    Queued,
    /// SUP imported it from a checkpointed Mblock.
    Final,
    /// SUP checkpointed its Mblock without importing it.
    Refused,
}

impl EntryState {
    fn column(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Final => "final",
            Self::Refused => "refused",
        }
    }

    fn from_column(text: &str) -> Result<Self, EmrError> {
        match text {
            "queued" => Ok(Self::Queued),
            "final" => Ok(Self::Final),
            "refused" => Ok(Self::Refused),
            other => Err(EmrError::CorruptRow {
                reason: format!("unknown entry state {other:?}"),
            }),
        }
    }
}

impl fmt::Display for EntryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.column())
    }
}

/// An entry as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Its id on chain.
    pub entry: [u8; 32],
    /// The patient who signed it.
    pub patient: PatientAddress,
    /// The patient's signed entry, as JSON (opaque to the store).
    pub signed: String,
    pub state: EntryState,
    /// When the gateway accepted it, unix milliseconds.
    pub received_at_ms: u64,
}

const ENTRY_COLUMNS: &str = "entry, patient, signed, state, received_at_ms";

impl EmrStore {
    /// Keeps an accepted entry as `queued`; keeping the same entry again changes nothing.
    pub fn keep_entry(
        &self,
        entry: &[u8; 32],
        patient: &PatientAddress,
        signed: &str,
        received_at_ms: u64,
    ) -> Result<(), EmrError> {
        self.connection.transaction(Access::Write, |tx| {
            tx.exec(
                "INSERT INTO patients (address) VALUES ($1) ON CONFLICT (address) DO NOTHING",
                &[Param::Bytes(&patient.0)],
            )?;
            tx.exec(
                "INSERT INTO entries (entry, patient, signed, received_at_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (entry) DO NOTHING",
                &[
                    Param::Bytes(entry),
                    Param::Bytes(&patient.0),
                    Param::Text(signed),
                    Param::Int(to_column(received_at_ms)),
                ],
            )?;
            Ok(())
        })
    }

    /// A kept entry, if the gateway accepted it.
    pub fn entry(&self, entry: &[u8; 32]) -> Result<Option<StoredEntry>, EmrError> {
        self.connection.transaction(Access::Read, |tx| {
            tx.select(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE entry = $1"),
                &[Param::Bytes(entry)],
            )?
            .first()
            .map(entry_from_row)
            .transpose()
        })
    }

    /// The entries not settled yet, oldest first: what a restarted gateway submits again.
    pub fn queued_entries(&self) -> Result<Vec<StoredEntry>, EmrError> {
        self.connection.transaction(Access::Read, |tx| {
            tx.select(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries WHERE state = 'queued' \
                     ORDER BY received_at_ms, entry"
                ),
                &[],
            )?
            .iter()
            .map(entry_from_row)
            .collect()
        })
    }

    /// Settles a queued entry as `final` or `refused`; settling it again the same way changes
    /// nothing, and a settled entry never changes state (the chain's answer is final).
    pub fn settle_entry(&self, entry: &[u8; 32], state: EntryState) -> Result<(), EmrError> {
        self.connection.transaction(Access::Write, |tx| {
            tx.exec(
                "UPDATE entries SET state = $2 WHERE entry = $1 AND state = 'queued'",
                &[Param::Bytes(entry), Param::Text(state.column())],
            )?;
            Ok(())
        })
    }
}

fn entry_from_row(row: &Row) -> Result<StoredEntry, EmrError> {
    Ok(StoredEntry {
        entry: array_from_column(row.bytes(0)?)?,
        patient: PatientAddress(array_from_column(row.bytes(1)?)?),
        signed: row.text(2)?.to_owned(),
        state: EntryState::from_column(row.text(3)?)?,
        received_at_ms: index_from_column(row.int(4)?)?,
    })
}
