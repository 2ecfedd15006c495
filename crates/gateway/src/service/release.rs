//! The release of a record (S1-release, S1-storage, S3-release) as a resumable outbox over the
//! EMR store's states:
//!
//! 1. `written`: the doctor's signed release is checked against the bundle's bytes, then the bundle
//!    is validated (never parsed for an unauthenticated request), and
//!    the row inserted with its EMR index j and the signed release — a `record.release`
//!    transaction, or on a chain with MED the doctor's tx_mr and BLS signature;
//! 2. `released`: that same release is filed through the record ledger (or found final) and
//!    followed to finality — on MED, until SUP checkpointed its Mblock;
//! 3. `stored`: the bundle is sealed under its record key — HKDF of the encryption factor
//!    s_α^j of the patient's enrolment (`EncryptionFactor::record_key`) — put in the blob store,
//!    and the storage pointer filed on chain with the hospital's key.
//!
//! A release not final when its request returns, or left by a gateway stopped anywhere, is
//! resumed from its state by the gateway's resumer while it runs (`resume.rs`): the release is
//! the same signed transaction (it executes at most once), and a pointer already filed for a
//! blob this store holds is reused rather than sealed again. A release that can never become
//! final — on MED, one that expired unmined or that SUP refused to import — ends: the row is
//! kept as `expired` or `refused`, no longer resumed, until the doctor writes the same bundle
//! with a newly signed release. A stored record then goes on to `attested` when it can
//! (`attest.rs`).

use super::{Gateway, ServiceError, attest::held_attestation, now_ms, patient_row};
use crate::{
    blobs::{RecordBinding, RecordKey, SealedRecord},
    emr::{self, EmrError, Hemr, Release, ReleaseEnd, ReleaseTxId},
    fhir::{self, PatientRef},
    ledger::{DoctorRelease, LedgerError},
    wire::{HeldRecord, MedFinal, WriteRecord, WrittenRecord},
};
use medchain_med::{aggregate::verify_release, chain::future_drift_ms};
use medchain_types::{
    Address, ContentHash, Hash32, Payload, RecordId, RecordPayload, Role, TxId,
    med::RELEASE_VALIDITY_MS,
};
use zeroize::Zeroizing;

/// How long before the gateway's clock a doctor's MED release may have been signed when it is
/// written (a tenth of the hour miners accept it in). Ahead of the clock, the bound is the MED
/// chain's future drift, as nodes apply it to the releases they pool.
const MAX_RELEASE_AGE_MS: u64 = RELEASE_VALIDITY_MS / 10;

/// Whether a filing of a written row is the write request's own first one, or the resumer
/// filing it again (after a request that returned pending, or a restart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Filing {
    First,
    Again,
}

impl Gateway {
    /// `POST /v1/records`.
    pub(crate) fn write_record(&self, request: WriteRecord) -> Result<WrittenRecord, ServiceError> {
        let patient = request.patient;
        // The enrolment is needed to seal the record: check it before anything is written.
        self.enrolment(&patient)?;
        let reference = PatientRef::parse(&request.fhir_patient)?;
        let bundle = request.bundle.into_bytes();
        // Authenticate before parsing: only a doctor of this hospital who signed a release of
        // exactly these bytes gets the bundle parsed and walked, so the parser's cost cannot be
        // imposed by anyone who can reach the port.
        let record_hash = ContentHash::of(&bundle);
        let doctor = self.check_release(&request.release, &patient, &record_hash)?;
        fhir::validate_bundle(&bundle, &reference, fhir::DEFAULT_MAX_BUNDLE_BYTES)?;
        let hemr = Hemr(record_hash.0.0);
        // Held until the record is complete: the resumer leaves it to this request.
        let _claim = self.completing.claim(patient_row(&patient), hemr);
        let key =
            match self
                .emr
                .insert_record(&patient_row(&patient), &hemr, &bundle, &request.release)
            {
                Ok(key) => key,
                Err(EmrError::DuplicateRecord { existing_index, .. }) => {
                    self.renew_ended(&patient, existing_index, &request.release)?
                }
                Err(other) => return Err(other.into()),
            };
        tracing::info!(%patient, index = key.index, %doctor, "record written");
        let _stored_claim = self.claim_stored(&key)?;
        let record = self
            .emr
            .get(&key)?
            .ok_or_else(|| ServiceError::Internal(format!("record {key} vanished")))?;
        let written = self.complete_release(&record, Filing::First)?;
        Ok(WrittenRecord {
            attestation: self.attest_if_possible(&key),
            ..written
        })
    }

    /// The record held at `index` whose release ended, pending again under the doctor's new
    /// signed release; a record still pending or complete is a duplicate, and one that ended
    /// under this very release says how it ended.
    fn renew_ended(
        &self,
        patient: &Address,
        index: u64,
        signed_release: &[u8],
    ) -> Result<emr::RecordKey, ServiceError> {
        let key = emr::RecordKey {
            patient: patient_row(patient),
            index,
        };
        let duplicate = ServiceError::DuplicateRecord {
            patient: *patient,
            index,
        };
        let Some(record) = self.emr.get(&key)? else {
            return Err(duplicate);
        };
        let Some(ended) = record.ended else {
            return Err(duplicate);
        };
        if record.signed_release.as_deref() == Some(signed_release)
            || !self.emr.renew_release(&key, signed_release)?
        {
            return Err(ServiceError::ReleaseEnded {
                patient: *patient,
                index,
                ended,
            });
        }
        tracing::info!(%key, "release signed again; record pending again");
        Ok(key)
    }

    /// `GET /v1/patients/{address}/records`: the stored records only. The route is not
    /// authenticated, and a record not yet stored may never be (its release can still be
    /// refused), so neither its existence nor its hEMR is told before the chain has it.
    pub(crate) fn held_records(&self, patient: &Address) -> Result<Vec<HeldRecord>, ServiceError> {
        self.emr
            .list_by_patient(&patient_row(patient))?
            .iter()
            .filter(|record| matches!(record.release, Release::Stored { .. }))
            .map(|record| {
                Ok(HeldRecord {
                    record: self.record_id(record)?,
                    index: record.key.index,
                    record_hash: ContentHash(Hash32::from(record.hemr.0)),
                    blob_hash: match &record.release {
                        Release::Stored { blob_ref, .. } => Some(parse_blob_ref(blob_ref)?),
                        _ => None,
                    },
                    state: record.state().to_string(),
                    attestation: held_attestation(record),
                })
            })
            .collect()
    }

    /// The signed release is a release of exactly this bundle for this patient, for this chain,
    /// signed by a doctor of this hospital's organisation; returns the doctor.
    fn check_release(
        &self,
        signed: &[u8],
        patient: &Address,
        record_hash: &ContentHash,
    ) -> Result<medchain_types::IdentityName, ServiceError> {
        let release = self
            .chain
            .doctor_release(signed)
            .map_err(|e| ServiceError::bad("release", e))?;
        let (signer, released_for, released_hash) = self.signed_release(&release)?;
        if released_for != *patient {
            return Err(ServiceError::BadRelease(format!(
                "it releases a record of {released_for}, not of {patient}"
            )));
        }
        if released_hash != *record_hash {
            return Err(ServiceError::BadRelease(format!(
                "it commits to hEMR {released_hash}, the bundle hashes to {record_hash}"
            )));
        }
        let doctor = self.chain.identity_of(&signer)?.ok_or_else(|| {
            ServiceError::NotOurDoctor(format!("no identity is bound to the signer {signer}"))
        })?;
        let ours = self.chain.identity(&doctor)?.is_some_and(|record| {
            record.role == Role::Doctor && record.org.as_ref() == Some(&self.hospital.org)
        });
        if !ours {
            return Err(ServiceError::NotOurDoctor(format!(
                "{doctor} is not a doctor of {}",
                self.hospital.org
            )));
        }
        // The chain refuses the release of an unlicensed or revoked doctor: say so now.
        self.own_doctor(&doctor)?;
        Ok(doctor)
    }

    /// The signer, patient and hEMR of a release whose signature verifies: the transaction's
    /// (a `record.release` for this chain), or tx_mr's, signed with the doctor's BLS key on
    /// chain.
    fn signed_release(
        &self,
        release: &DoctorRelease,
    ) -> Result<(Address, Address, ContentHash), ServiceError> {
        let chain_id = self.chain.client.light.chain_id();
        match release {
            DoctorRelease::Transaction(tx) => {
                let verified = tx
                    .verify(chain_id)
                    .map_err(|e| ServiceError::BadRelease(e.to_string()))?;
                let body = verified.body();
                match &body.payload {
                    Payload::Record(RecordPayload::Release {
                        patient,
                        record_hash,
                        ..
                    }) => Ok((body.sender, *patient, *record_hash)),
                    other => Err(ServiceError::BadRelease(format!(
                        "it is a {}, not a record.release",
                        other.kind()
                    ))),
                }
            }
            DoctorRelease::Med(release) => {
                // Every MED chain has its parameters in the genesis.
                let drift_ms = self
                    .chain
                    .client
                    .light
                    .genesis()
                    .med
                    .as_ref()
                    .map_or(0, future_drift_ms);
                if let Some(refusal) =
                    release_time_refusal(release.tx.issued_at_ms, now_ms(), drift_ms)
                {
                    return Err(refusal);
                }
                let doctor = release.tx.doctor;
                let key = self.chain.vouching_key(&doctor)?.ok_or_else(|| {
                    ServiceError::BadRelease(format!(
                        "doctor {doctor} has no BLS key on chain (`medchain doctor write` registers it)"
                    ))
                })?;
                if !verify_release(chain_id, &release.tx, &key, &release.signature) {
                    return Err(ServiceError::BadRelease(format!(
                        "the signature does not verify under doctor {doctor}'s BLS key on chain"
                    )));
                }
                Ok((doctor, release.tx.patient, release.tx.record_hash))
            }
        }
    }

    /// Takes a record from whatever state it is in to `stored`.
    pub(super) fn complete_release(
        &self,
        record: &emr::Record,
        filing: Filing,
    ) -> Result<WrittenRecord, ServiceError> {
        let (release_tx, med) = match &record.release {
            Release::Written => match self.file_release(record) {
                Ok(filed) => filed,
                Err(refused) if refusal_discards(&refused, filing, self.chain.has_med()) => {
                    // Never filed, so never executing: retrying it would fail forever and its
                    // hEMR would block the doctor's next write.
                    self.emr.discard_written(&record.key)?;
                    tracing::warn!(key = %record.key, error = %refused, "release refused by the chain; record discarded");
                    return Err(refused);
                }
                Err(ServiceError::Med(error)) => {
                    // Filed, and proven never to become final: kept (the doctor may sign it
                    // again), and no longer resumed.
                    if let Some(end) = release_end(&error) {
                        self.emr.mark_ended(&record.key, end)?;
                        tracing::warn!(key = %record.key, %error, "release ended without becoming final; record kept");
                    }
                    return Err(ServiceError::Med(error));
                }
                Err(error) => return Err(error),
            },
            Release::Released { tx } | Release::Stored { tx, .. } => {
                (TxId(Hash32::from(tx.0)), None)
            }
        };
        let record_id = RecordId::from(release_tx);
        let blob_hash = match &record.release {
            Release::Stored { blob_ref, .. } => parse_blob_ref(blob_ref)?,
            _ => {
                let blob_hash = self.store_blob(record, record_id)?;
                self.emr.mark_stored(&record.key, &blob_hash.to_string())?;
                tracing::info!(record = %record_id, index = record.key.index, %blob_hash, "record stored");
                blob_hash
            }
        };
        Ok(WrittenRecord {
            record: record_id,
            index: record.key.index,
            record_hash: ContentHash(Hash32::from(record.hemr.0)),
            blob_hash,
            release_tx,
            attestation: held_attestation(record),
            med,
        })
    }

    /// Step 2: the doctor's release, final on chain (the ledger files the same signed
    /// release, or finds it final); marks the record `released`. Returns the release's id (the
    /// record id: the transaction's, or on MED the htxM) and, on MED, where it is final.
    fn file_release(&self, record: &emr::Record) -> Result<(TxId, Option<MedFinal>), ServiceError> {
        let release = self.stored_release(record)?;
        let released = self.chain.ledger.release(&release)?;
        let id = TxId(released.record.0);
        self.emr.mark_released(&record.key, &ReleaseTxId(id.0.0))?;
        tracing::info!(record = %id, index = record.key.index, "record released on chain");
        Ok((id, released.med.map(MedFinal::from)))
    }

    /// The release a row was written with.
    fn stored_release(&self, record: &emr::Record) -> Result<DoctorRelease, ServiceError> {
        let signed = record.signed_release.as_deref().ok_or_else(|| {
            ServiceError::Internal(format!("record {} has no signed release", record.key))
        })?;
        self.chain
            .doctor_release(signed)
            .map_err(|e| ServiceError::Internal(format!("stored release: {e}")))
    }

    /// The record id of a row: its release's once released, else the id its signed release
    /// will have.
    pub(crate) fn record_id(&self, record: &emr::Record) -> Result<RecordId, ServiceError> {
        match &record.release {
            Release::Released { tx } | Release::Stored { tx, .. } => {
                Ok(RecordId::from(TxId(Hash32::from(tx.0))))
            }
            Release::Written => Ok(self
                .stored_release(record)?
                .record_id(self.chain.client.light.chain_id())),
        }
    }

    /// Step 3: the sealed blob stored and its pointer filed; returns the blob's hash.
    fn store_blob(
        &self,
        record: &emr::Record,
        record_id: RecordId,
    ) -> Result<ContentHash, ServiceError> {
        let filed = self.chain.ledger.record(&record_id)?;
        if let Some((pointer, _)) = filed.and_then(|proven| proven.pointer)
            && self
                .runtime
                .block_on(self.blobs.exists(&pointer.blob_hash))?
        {
            // Filed before a restart: the blob and its pointer are already in place.
            return Ok(pointer.blob_hash);
        }
        let patient = Address::from_bytes(record.key.patient.0);
        let key = RecordKey::new(*self.record_key(&patient, record.key.index)?);
        let binding = RecordBinding {
            patient,
            index: record.key.index,
            record_hash: ContentHash(Hash32::from(record.hemr.0)),
        };
        let sealed = SealedRecord::seal(&key, &binding, &record.bundle)
            .map_err(|e| ServiceError::Internal(format!("sealing record {}: {e}", record.key)))?
            .to_bytes();
        let blob_hash = self.runtime.block_on(self.blobs.put(sealed))?;
        let location = self.blobs.location(&blob_hash)?;
        self.chain
            .ledger
            .store_pointer(self.chain.key(), record_id, blob_hash, location)?;
        Ok(blob_hash)
    }

    /// The key record j of `patient` is sealed under: HKDF of s_α^j (S3-release).
    pub(crate) fn record_key(
        &self,
        patient: &Address,
        index: u64,
    ) -> Result<Zeroizing<[u8; 32]>, ServiceError> {
        let enrolment = self.enrolment(patient)?;
        let j = taka::RecordIndex::new(index)
            .map_err(|e| ServiceError::Internal(format!("EMR index {index}: {e}")))?;
        Ok(enrolment.factors().factor(j).record_key())
    }
}

/// Whether a refused filing proves the release can never be final, so that its written row
/// may go: only a refusal by the chain's rules (never a throttled, full, failing or unreachable
/// node), and on MED only of the write request's own first submission. A MED release filed
/// before may have been admitted to a pool and be mined by any node later, whatever one node
/// answers now; it ends only as `expired` or `refused`, both proven. (On SUP a refused
/// transaction was first proven not final.)
fn refusal_discards(error: &ServiceError, filing: Filing, med: bool) -> bool {
    matches!(
        error,
        ServiceError::NotAdmitted(_) | ServiceError::BadRelease(_)
    ) && (filing == Filing::First || !med)
}

/// Why a MED release signed at `issued_at_ms` is refused at write, if it is: signed more than
/// the node's future drift ahead of the gateway's clock (nodes refuse it as from the future),
/// or so long ago that it may expire before it is mined.
fn release_time_refusal(
    issued_at_ms: u64,
    now_ms: u64,
    future_drift_ms: u64,
) -> Option<ServiceError> {
    let refusal = |how: String| {
        Some(ServiceError::BadRelease(format!(
            "it was signed at {issued_at_ms} (unix ms), {how}: sign it again now (check the doctor's clock)"
        )))
    };
    if issued_at_ms > now_ms.saturating_add(future_drift_ms) {
        return refusal(format!(
            "{} s ahead of the gateway's clock, and MED nodes take releases at most {} s ahead",
            (issued_at_ms - now_ms) / 1_000,
            future_drift_ms / 1_000
        ));
    }
    if now_ms.saturating_sub(issued_at_ms) > MAX_RELEASE_AGE_MS {
        return refusal(format!(
            "{} s before the gateway's clock, and it may expire before it is mined",
            (now_ms - issued_at_ms) / 1_000
        ));
    }
    None
}

/// How a ledger's answer ends a release for good, if it does.
fn release_end(error: &LedgerError) -> Option<ReleaseEnd> {
    match error {
        LedgerError::Expired { .. } => Some(ReleaseEnd::Expired),
        LedgerError::NotImported { .. } => Some(ReleaseEnd::Refused),
        _ => None,
    }
}

fn parse_blob_ref(blob_ref: &str) -> Result<ContentHash, ServiceError> {
    blob_ref
        .parse()
        .map_err(|_| ServiceError::Internal(format!("blob reference {blob_ref:?} is not a hash")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_api::ErrorBody;
    use medchain_client::ClientError;

    fn node_answer(status: u16, code: &str) -> ClientError {
        ClientError::Api {
            status,
            body: ErrorBody {
                error: code.into(),
                message: String::new(),
                hint: String::new(),
            },
        }
    }

    /// Review V1: a MED release answered 503 `med_pool_quota`, 429 or 500 — or refused outright
    /// — when the resumer files it again was admitted before and may be mined by any node:
    /// its written row must survive. Only the write's own first submission, refused by the
    /// chain's rules, discards it.
    #[test]
    fn a_release_filed_again_is_never_discarded_on_a_node_refusal() {
        use LedgerError as L;
        let refiled = [
            L::Chain(node_answer(503, "med_pool_quota")),
            L::Chain(node_answer(429, "med_rate_limited")),
            L::Chain(node_answer(500, "internal")),
            L::NotAdmitted(node_answer(422, "stale_release")),
            L::Refused("the signer's key changed".into()),
        ];
        for error in refiled {
            let error = ServiceError::from(error);
            assert!(
                !refusal_discards(&error, Filing::Again, true),
                "a re-filing answered {error} discarded the record"
            );
        }
        for retryable in [503, 429, 500] {
            let error = ServiceError::from(L::Chain(node_answer(retryable, "busy")));
            assert!(!refusal_discards(&error, Filing::First, true));
        }
        let bad_signature = ServiceError::from(L::NotAdmitted(node_answer(422, "bad_signature")));
        assert!(refusal_discards(&bad_signature, Filing::First, true));
        // On SUP the ledger proved the refused transaction not final first.
        assert!(refusal_discards(&bad_signature, Filing::Again, false));
    }

    /// Review V7: the gateway takes a release signed ahead of its clock only as far as MED
    /// nodes do, so that nothing it writes is refused as from the future.
    #[test]
    fn a_release_is_taken_only_as_far_ahead_as_med_nodes_take_it() {
        const NOW_MS: u64 = 1_700_000_000_000;
        const DRIFT_MS: u64 = 36_000;
        assert!(release_time_refusal(NOW_MS + DRIFT_MS, NOW_MS, DRIFT_MS).is_none());
        let ahead = release_time_refusal(NOW_MS + DRIFT_MS + 1, NOW_MS, DRIFT_MS)
            .expect("a release beyond the drift is refused");
        assert!(ahead.to_string().contains("at most 36 s ahead"), "{ahead}");
        assert!(release_time_refusal(NOW_MS - MAX_RELEASE_AGE_MS, NOW_MS, DRIFT_MS).is_none());
        assert!(release_time_refusal(NOW_MS - MAX_RELEASE_AGE_MS - 1, NOW_MS, DRIFT_MS).is_some());
    }
}
