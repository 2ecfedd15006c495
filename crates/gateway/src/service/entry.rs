//! Entries on MED (S3-entry, S3-dual): `POST /v1/entries` takes a patient's signed entry EEE,
//! checks it — the patient's BLS signature against its key on SUP, the signer an enrolled
//! patient, enrolled at this hospital too — queues it with the doctors' releases of the next
//! sealed batch through the record ledger, keeps it in the EMR database and answers 202 with its
//! id; `GET /v1/entries/{entry}` reports it pending on MED, final once SUP imported it from a
//! checkpointed Mblock, or refused at import.
//!
//! Nothing is kept for an entry that does not verify. One that is kept survives a restart: the
//! gateway submits every entry still queued again when it starts ([`Gateway::resume_entries`]);
//! the chain files an entry id once, so that never doubles it.

use super::{Gateway, ServiceError, now_ms, patient_row};
use crate::{
    emr::{EntryState, StoredEntry},
    ledger::{EntryStatus, LedgerError},
    wire::{EntryProgress, FiledEntry},
};
use medchain_types::{EntryId, med::SignedEntry};

impl Gateway {
    /// `POST /v1/entries`.
    pub(crate) fn file_entry(&self, signed: SignedEntry) -> Result<FiledEntry, ServiceError> {
        if !self.chain.has_med() {
            return Err(ServiceError::NoMedChain);
        }
        let patient = signed.entry.patient;
        // The hospital files entries for its own patients only: anyone else's would cost its
        // batches room without a relation to answer for.
        if self.emr.enrolment(&patient_row(&patient))?.is_none() {
            return Err(ServiceError::NotEnrolled(patient));
        }
        let ticket = self
            .chain
            .ledger
            .file_entry(&signed)
            .map_err(entry_refusal)?;
        let kept = serde_json::to_string(&signed)
            .map_err(|error| ServiceError::Internal(format!("cannot keep the entry: {error}")))?;
        self.emr
            .keep_entry(&ticket.entry.0.0, &patient_row(&patient), &kept, now_ms())?;
        tracing::info!(entry = %ticket.entry, %patient, submitted = ticket.submitted, "entry accepted for MED");
        Ok(FiledEntry {
            entry: ticket.entry,
            progress: EntryProgress::Pending {
                mblock_height: None,
            },
        })
    }

    /// `GET /v1/entries/{entry}`: asks the chain, and settles the kept entry once it is final
    /// or refused.
    pub(crate) fn entry_progress(&self, entry: &EntryId) -> Result<FiledEntry, ServiceError> {
        let kept = self
            .emr
            .entry(&entry.0.0)?
            .ok_or(ServiceError::UnknownEntry(*entry))?;
        let status = self.chain.ledger.entry_status(entry)?;
        let settled = match status {
            EntryStatus::Final(_) => Some(EntryState::Final),
            EntryStatus::Refused { .. } => Some(EntryState::Refused),
            EntryStatus::Pending { .. } => None,
        };
        if let Some(state) = settled
            && kept.state == EntryState::Queued
        {
            self.emr.settle_entry(&kept.entry, state)?;
        }
        Ok(FiledEntry {
            entry: *entry,
            progress: status.into(),
        })
    }

    /// Every entry still queued, submitted again (one already on MED or final is found, not
    /// doubled); failures are logged and left for the next start.
    pub(crate) fn resume_entries(&self) {
        if !self.chain.has_med() {
            return;
        }
        let queued = match self.emr.queued_entries() {
            Ok(queued) => queued,
            Err(error) => {
                tracing::error!(%error, "cannot list queued entries");
                return;
            }
        };
        for kept in queued {
            match self.resume_entry(&kept) {
                Ok(entry) => tracing::info!(%entry, "queued entry submitted again"),
                Err(error) => {
                    tracing::error!(entry = %hex::encode(kept.entry), %error, "queued entry not submitted; retried at the next start")
                }
            }
        }
    }

    fn resume_entry(&self, kept: &StoredEntry) -> Result<EntryId, ServiceError> {
        let signed: SignedEntry = serde_json::from_str(&kept.signed).map_err(|error| {
            ServiceError::Internal(format!("a kept entry does not decode: {error}"))
        })?;
        Ok(self
            .chain
            .ledger
            .file_entry(&signed)
            .map_err(entry_refusal)?
            .entry)
    }
}

/// The ledger's refusal of an entry, as the patient's error (a release's is `BadRelease`).
fn entry_refusal(error: LedgerError) -> ServiceError {
    match error {
        LedgerError::Refused(reason) => ServiceError::BadEntry(reason),
        other => other.into(),
    }
}
