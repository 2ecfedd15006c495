//! Attested commitments (issue 12), the step after `stored` in the release outbox: the hospital
//! commits to the record's attributes and signs the commitment on chain, so that a patient can
//! later prove facts about data the hospital vouches for — never about data it made up.
//!
//! 1. the bundle is mapped to a `zk::Record` (schema `clinical_v1`, ages as of today, UTC —
//!    the gateway is outside the state machine, its clock is fine here);
//! 2. the opening `RecordOpening::random(schema, record, nk, hEMR, OsRng)` binds the patient's
//!    nullifier key nk (read from the chain, proven) and the bundle's hash hEMR (so the
//!    enrolment's delivery tag lets a researcher check the record it is handed); it is sealed for the patient under
//!    the record key's [`RecordKey::opening_key`], bound to the record id and the patient,
//!    and kept in the EMR row with its commitment and date (`sealed`) — before anything is
//!    filed, so a crash can never leave a commitment on chain whose opening is lost;
//! 3. `research.attest { record, commitment }` is filed with the hospital's key through the
//!    record ledger, unless the chain already holds the attestation (a resumed attempt finds
//!    it, never files twice), and the record is marked `attested`.
//!
//! A record whose bundle does not map to the schema, or whose patient has no nullifier key yet,
//! stays `stored` (released and usable, just not attestable) with the reason logged. At start
//! the gateway retries every stored record lacking an attestation whose patient now has a key;
//! `POST /v1/patients/{address}/attest` lets the patient ask for that retry after filing its
//! key.

use super::{Gateway, ServiceError, now_ms, patient_row};
use crate::{
    blobs::{OpeningBinding, RecordKey, SealedOpening},
    emr::{self, PatientAddress, RecordCommitment, Release},
    ledger::LedgerError,
    wire::{AttestOutcome, HeldAttestation},
};
use chrono::{DateTime, NaiveDate};
use medchain_types::{Address, Hash32, RecordId};
use rand_core::OsRng;
use std::collections::HashMap;
use std::sync::PoisonError;
use zeroize::Zeroizing;

/// Most records `POST /v1/patients/{address}/attest` attests in one request (each waits for a
/// final transaction); the answer says which were left for the next request.
pub const MAX_ATTESTATIONS_PER_REQUEST: usize = 8;

impl Gateway {
    /// Attests a stored record if it can be now, for the write's answer: `None` (the record
    /// stays `stored`) with the reason logged otherwise.
    pub(crate) fn attest_if_possible(&self, key: &emr::RecordKey) -> Option<HeldAttestation> {
        let patient = Address::from_bytes(key.patient.0);
        let attested = self
            .chain
            .nullifier_key(&patient)
            .and_then(|nullifier_key| {
                let nullifier_key = nullifier_key.ok_or(ServiceError::NoNullifierKey(patient))?;
                self.attest_record(key, &nullifier_key)
            });
        match attested {
            Ok(attestation) => Some(attestation),
            Err(error) => {
                log_not_attested(key, &error);
                None
            }
        }
    }

    /// At start: every stored record without a final attestation whose patient has a
    /// nullifier key is attested; the rest stay `stored` (logged) for the next start or the
    /// patient's request.
    pub(crate) fn resume_attestations(&self) {
        let unattested = match self.emr.unattested() {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(%error, "cannot list records awaiting attestation");
                return;
            }
        };
        // One proven read per patient, not per record.
        let mut keys: HashMap<PatientAddress, Option<zk::NullifierKey>> = HashMap::new();
        for record in unattested {
            let patient = record.key.patient;
            let nullifier_key = match keys.get(&patient) {
                Some(known) => *known,
                None => match self.chain.nullifier_key(&Address::from_bytes(patient.0)) {
                    Ok(read) => *keys.entry(patient).or_insert(read),
                    Err(error) => {
                        log_not_attested(&record.key, &error);
                        continue;
                    }
                },
            };
            let attested = nullifier_key
                .ok_or(ServiceError::NoNullifierKey(Address::from_bytes(patient.0)))
                .and_then(|nullifier_key| self.attest_record(&record.key, &nullifier_key));
            match attested {
                Ok(attestation) => tracing::info!(
                    key = %record.key,
                    commitment = %hex::encode(attestation.commitment),
                    "attestation resumed and completed"
                ),
                Err(error) => log_not_attested(&record.key, &error),
            }
        }
    }

    /// `POST /v1/patients/{address}/attest`: attests the patient's stored records lacking an
    /// attestation, at most [`MAX_ATTESTATIONS_PER_REQUEST`] per request. Idempotent (an
    /// attested record is never filed again) and cheap when there is nothing to do (no chain
    /// read at all); a patient without a nullifier key is `no_nullifier_key`.
    pub(crate) fn attest_patient(
        &self,
        patient: &Address,
    ) -> Result<Vec<AttestOutcome>, ServiceError> {
        let stored = self
            .emr
            .list_by_patient(&patient_row(patient))?
            .into_iter()
            .filter(|record| matches!(record.release, Release::Stored { .. }));
        // Read on the first record that needs it: none when everything is attested already.
        let mut nullifier_key = None;
        let mut attempts = 0;
        let mut outcomes = Vec::new();
        for record in stored {
            let (attestation, reason) = match held_attestation(&record) {
                Some(attestation) => (Some(attestation), None),
                None if attempts == MAX_ATTESTATIONS_PER_REQUEST => (
                    None,
                    Some(format!(
                        "not tried: at most {MAX_ATTESTATIONS_PER_REQUEST} records are attested per request; ask again"
                    )),
                ),
                None => {
                    let key = match nullifier_key {
                        Some(key) => key,
                        None => *nullifier_key.insert(
                            self.chain
                                .nullifier_key(patient)?
                                .ok_or(ServiceError::NoNullifierKey(*patient))?,
                        ),
                    };
                    attempts += 1;
                    match self.attest_record(&record.key, &key) {
                        Ok(attestation) => (Some(attestation), None),
                        Err(unattestable @ ServiceError::Unattestable { .. }) => {
                            log_not_attested(&record.key, &unattestable);
                            (None, Some(unattestable.to_string()))
                        }
                        Err(error) => return Err(error),
                    }
                }
            };
            outcomes.push(AttestOutcome {
                record: self.record_id(&record)?,
                index: record.key.index,
                attestation,
                reason,
            });
        }
        Ok(outcomes)
    }

    /// `GET /v1/records/{record}/opening`: the opening of an attested record, sealed for its
    /// patient (only the patient's record key opens it).
    pub(crate) fn sealed_opening(&self, record: &RecordId) -> Result<Vec<u8>, ServiceError> {
        let row = self
            .emr
            .find_by_release(&emr::ReleaseTxId(record.0.0))?
            .ok_or(ServiceError::UnknownRecord(*record))?;
        match row.attestation {
            Some(attestation) if attestation.attested => Ok(attestation.sealed_opening),
            _ => Err(ServiceError::NotAttested(*record)),
        }
    }

    /// Takes a stored record to `attested`, from wherever it stopped: returns the attestation
    /// as filed. Serialised within the gateway, so two requests never file for one record.
    fn attest_record(
        &self,
        key: &emr::RecordKey,
        nullifier_key: &zk::NullifierKey,
    ) -> Result<HeldAttestation, ServiceError> {
        let _one_at_a_time = self
            .attesting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Read under the lock: another request may have attested it meanwhile.
        let record = self
            .emr
            .get(key)?
            .ok_or_else(|| ServiceError::Internal(format!("record {key} vanished")))?;
        let record_id = self.record_id(&record)?;
        let kept = match record.attestation {
            Some(kept) if kept.attested => return Ok(held(&kept)),
            Some(kept) => kept,
            None => self.keep_opening(&record, record_id, nullifier_key)?,
        };
        self.file_attestation(record_id, Hash32::from(kept.commitment.0))?;
        self.emr.mark_attested(&record.key, &kept.commitment)?;
        tracing::info!(record = %record_id, index = record.key.index, commitment = %kept.commitment, "record attested");
        Ok(held(&kept))
    }

    /// Steps 1–2: the commitment and its opening, sealed and kept (the first kept wins).
    fn keep_opening(
        &self,
        record: &emr::Record,
        record_id: RecordId,
        nullifier_key: &zk::NullifierKey,
    ) -> Result<emr::Attestation, ServiceError> {
        let unattestable = |reason: String| ServiceError::Unattestable {
            record: record_id,
            reason,
        };
        let schema = zk::Schema::clinical_v1();
        let as_of = today_utc();
        let bundle = std::str::from_utf8(&record.bundle)
            .map_err(|_| unattestable("the bundle is not UTF-8 text".into()))?;
        let attributes = zk::record_from_bundle(bundle, &schema, as_of)
            .map_err(|error| unattestable(error.to_string()))?;
        // hEMR (the bundle's SHA-256) enters the commitment, so the researcher can check that the
        // record a patient delivers is the one it proved facts about (the delivery tag).
        let opening = zk::RecordOpening::random(
            &schema,
            attributes,
            *nullifier_key,
            record.hemr.0,
            &mut OsRng,
        )
        .map_err(|error| unattestable(error.to_string()))?;
        let commitment = opening
            .commit()
            .map_err(|error| unattestable(error.to_string()))?;
        let patient = Address::from_bytes(record.key.patient.0);
        let key = RecordKey::new(*self.record_key(&patient, record.key.index)?).opening_key();
        let binding = OpeningBinding {
            patient,
            record: record_id,
        };
        let sealed = SealedOpening::seal(&key, &binding, &Zeroizing::new(opening.to_bytes()))
            .map_err(|error| {
                ServiceError::Internal(format!("sealing the opening of {record_id}: {error}"))
            })?;
        Ok(self.emr.keep_opening(
            &record.key,
            &RecordCommitment(commitment.to_bytes()),
            as_of,
            &sealed.to_bytes(),
        )?)
    }

    /// Step 3: `research.attest` final on chain, found rather than filed again when it is
    /// there already (a resumed attempt, or another gateway process that won the race).
    fn file_attestation(&self, record: RecordId, commitment: Hash32) -> Result<(), ServiceError> {
        if let Some(on_chain) = self.chain.ledger.attested(&record)? {
            return same_commitment(record, on_chain, commitment);
        }
        match self
            .chain
            .ledger
            .attest(self.chain.key(), record, commitment)
        {
            Ok(()) => Ok(()),
            // Refused, or final without effect: perhaps because it was attested meanwhile.
            Err(error @ (LedgerError::NotAdmitted(_) | LedgerError::NotApplied { .. })) => {
                match self.chain.ledger.attested(&record)? {
                    Some(on_chain) => same_commitment(record, on_chain, commitment),
                    None => Err(error.into()),
                }
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// The chain's commitment for `record` is the one whose opening this gateway kept.
fn same_commitment(record: RecordId, on_chain: Hash32, kept: Hash32) -> Result<(), ServiceError> {
    if on_chain == kept {
        return Ok(());
    }
    Err(ServiceError::Internal(format!(
        "record {record} is attested on chain as {on_chain}, but the opening kept here is of {kept}: restore the EMR database that kept it"
    )))
}

/// A final attestation as the API shows it.
fn held(attestation: &emr::Attestation) -> HeldAttestation {
    HeldAttestation {
        commitment: attestation.commitment.0,
        as_of: attestation.as_of.to_string(),
    }
}

/// The record's attestation, if final.
pub(crate) fn held_attestation(record: &emr::Record) -> Option<HeldAttestation> {
    record
        .attestation
        .as_ref()
        .filter(|attestation| attestation.attested)
        .map(held)
}

/// Today's date by this machine's clock, UTC.
fn today_utc() -> NaiveDate {
    let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
    DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .date_naive()
}

/// Why a record stays `stored` for now: expected reasons at info level, failures as warnings.
fn log_not_attested(key: &emr::RecordKey, error: &ServiceError) {
    match error {
        ServiceError::NoNullifierKey(_) | ServiceError::Unattestable { .. } => {
            tracing::info!(%key, reason = %error, "record stays stored, not attested")
        }
        other => {
            tracing::warn!(%key, error = %other, "attestation not completed; retried at the next start or on the patient's request")
        }
    }
}
