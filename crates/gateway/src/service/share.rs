//! Normal sharing at the hospital holding the record (S3-share, S1-sharing, S1-rights).
//!
//! The chain decides who may see a record; the gateway decides whether the TAKA request is
//! genuine. For a request naming record `record`:
//!
//! 0. the HTTP request must be signed by the doctor the TAKA request names (the address the
//!    chain binds to that identity), recently and once; otherwise 401 and nothing is filed;
//! 1. the doctor's identity, licence and revocation status are read from the chain, each
//!    proven: a doctor the chain would refuse anyway (no licence, revoked, licence expired)
//!    is not verified further — the access is filed and the chain's reason logged;
//! 2. otherwise the TAKA request is verified against the patient's enrolment with the chain's
//!    facts (`LicenceCheck`: the licence's issuer on chain is the only accepted issuer of ρ);
//!    the asked record must be among those the authorisation grants, and the request's
//!    replay tag must be new (kept in the EMR database, so a restart forgets none);
//! 3. the access is filed on chain (`access.serve`, grounds `Consent`, or `Refused(reason)`
//!    with the gateway's verdict) and followed to finality; the record key is released only
//!    when the chain's decision, read from the verified receipt, is `Allowed`.
//!
//! Every refusal is answered 403 with its reason and the transaction that logged it.

use super::{Gateway, ServiceError, enrol::chain_name, now_ms, patient_row};
use crate::{
    doctor_request::{DoctorRequest, DoctorRoute},
    emr::{self, Release, ReleaseTxId},
    wire::{Served, ServedBlob, ShareRecord},
};
use medchain_client::Confirmed;
use medchain_types::{
    AccessDecision, AccessGrounds, AccessPayload, Address, Hash32, IdentityName, Payload, Purpose,
    RecordId, RefusalReason, Role,
};
use rand_core::OsRng;

/// The gateway's verdict on a request, before the chain's.
enum Verdict {
    /// The protocol checks passed: the chain decides on consent.
    Verified(Box<taka::VerifiedShare>),
    /// The chain's own facts refuse the doctor (no licence, revoked, expired): it decides,
    /// and names the reason.
    ChainRefuses,
    /// The gateway refuses; the chain logs it.
    Refused(RefusalReason),
}

impl Gateway {
    /// `POST /v1/shares`.
    pub(crate) fn share(&self, asked: ShareRecord) -> Result<Served, ServiceError> {
        let request = taka::ShareRequest::from_bytes(&asked.request)
            .map_err(|e| ServiceError::bad("share request", e))?;
        let held = self.stored_record(&asked.record)?;
        let patient = Address::from_bytes(held.key.patient.0);
        let doctor_name = chain_name(request.doctor())?;
        let requester = self.doctor_address(&doctor_name)?;
        self.authenticate(
            &DoctorRequest {
                chain_id: self.chain.client.light.chain_id(),
                holder: &self.hospital.identity,
                route: DoctorRoute::Share,
                subject: asked.record.0,
                purpose: asked.purpose,
                taka_message: &asked.request,
                issued_at_ms: asked.issued_at_ms,
            },
            &requester,
            &asked.signature,
        )?;
        let verdict = self.judge(&request, &patient, &doctor_name, held.key.index)?;
        let grounds = match &verdict {
            // No refusal reason says "unlicensed" or "revoked": the chain finds those itself,
            // re-checking licence and revocation at block time, and denies. The request is the
            // doctor's own (authenticated above), and whatever the chain decides nothing is
            // released below unless the gateway verified the TAKA request.
            Verdict::Verified(_) | Verdict::ChainRefuses => AccessGrounds::Consent,
            Verdict::Refused(reason) => AccessGrounds::Refused(*reason),
        };
        let access = self.file_access(requester, asked.record, asked.purpose, grounds)?;
        let access_tx = access.receipt.tx;
        let verified = match (verdict, decision(&access)?) {
            (Verdict::Verified(verified), AccessDecision::Allowed { .. }) => verified,
            (_, AccessDecision::Denied { reason }) => {
                tracing::info!(record = %asked.record, doctor = %doctor_name, ?reason, %access_tx, "share refused");
                return Err(ServiceError::refused(reason, Some(access_tx)));
            }
            (_, other) => {
                return Err(ServiceError::Internal(format!(
                    "the chain decided {other:?} on a request this gateway refuses; nothing released"
                )));
            }
        };
        // The authorisation may grant more records than the one asked: each is filed and
        // decided on chain before its key leaves the gateway.
        let mut blobs = Vec::new();
        let mut releases = Vec::new();
        for &j in verified.records() {
            let (record, id) = self.held(&patient, j.get())?;
            if id != asked.record {
                let other =
                    self.file_access(requester, id, asked.purpose, AccessGrounds::Consent)?;
                if let AccessDecision::Denied { reason } = decision(&other)? {
                    return Err(ServiceError::refused(reason, Some(other.receipt.tx)));
                }
            }
            let (release, blob) = self.release_of(&patient, &record, id)?;
            releases.push(release);
            blobs.push(blob);
        }
        let response = verified
            .respond(&releases, &mut OsRng)
            .map_err(|e| ServiceError::Internal(format!("TAKA response: {e}")))?;
        tracing::info!(record = %asked.record, doctor = %doctor_name, %access_tx, "record shared");
        Ok(Served {
            response: response.to_bytes(),
            access_tx,
            blobs,
        })
    }

    /// Checks the doctor's signature over the HTTP request under `doctor`, the address the
    /// chain binds to the doctor it names, and that this exact request was not received
    /// before; nothing is verified further or filed for a request that fails.
    pub(crate) fn authenticate(
        &self,
        request: &DoctorRequest<'_>,
        doctor: &Address,
        signature: &[u8],
    ) -> Result<(), ServiceError> {
        let digest = request
            .verify(doctor, signature, now_ms())
            .map_err(|e| ServiceError::Unauthenticated(e.to_string()))?;
        // Remembered beside the TAKA replay tags (a different hash domain): a replayed refused
        // request would otherwise cost one more chain transaction each time.
        if !self.emr.remember_share(&digest, now_ms())? {
            return Err(ServiceError::Unauthenticated(
                "this signed request was received before; sign a new one".into(),
            ));
        }
        Ok(())
    }

    /// Steps 1–2: the gateway's verdict.
    fn judge(
        &self,
        request: &taka::ShareRequest,
        patient: &Address,
        doctor: &IdentityName,
        index: u64,
    ) -> Result<Verdict, ServiceError> {
        let Some(licence) = self.chain.licence(doctor)? else {
            return Ok(Verdict::ChainRefuses);
        };
        if self.chain.revoked(doctor)? || licence.expires_at_ms <= now_ms() {
            return Ok(Verdict::ChainRefuses);
        }
        let issuer = taka::Identity::new(licence.hospital.as_str())
            .map_err(|e| ServiceError::Internal(format!("licence issuer: {e}")))?;
        let check = taka::LicenceCheck {
            expected_issuer: &issuer,
            revocation: taka::RevocationStatus::NotRevoked,
            now: now_ms() / 1000,
        };
        let enrolment = self.enrolment(patient)?;
        let verified = match enrolment.verify_request(
            &self.hospital.keys,
            &self.hospital.params,
            request,
            &check,
        ) {
            Ok(verified) => verified,
            Err(error) => return Ok(Verdict::Refused(refusal(&error))),
        };
        if !verified.records().iter().any(|j| j.get() == index) {
            return Ok(Verdict::Refused(RefusalReason::WrongRecord));
        }
        if !self.emr.remember_share(&verified.replay_tag(), now_ms())? {
            return Ok(Verdict::Refused(RefusalReason::Replayed));
        }
        Ok(Verdict::Verified(Box::new(verified)))
    }

    /// A record this hospital holds and has finished releasing.
    pub(crate) fn stored_record(&self, id: &RecordId) -> Result<emr::Record, ServiceError> {
        let record = self
            .emr
            .find_by_release(&ReleaseTxId(id.0.0))?
            .ok_or(ServiceError::UnknownRecord(*id))?;
        match record.release {
            Release::Stored { .. } => Ok(record),
            _ => Err(ServiceError::RecordNotReady(*id)),
        }
    }

    /// Record j of `patient`, finished, with its record id.
    fn held(&self, patient: &Address, index: u64) -> Result<(emr::Record, RecordId), ServiceError> {
        let key = emr::RecordKey {
            patient: patient_row(patient),
            index,
        };
        let missing = || {
            ServiceError::Internal(format!(
                "granted record {key} is not held here, or not stored yet"
            ))
        };
        let record = self.emr.get(&key)?.ok_or_else(missing)?;
        let Release::Stored { tx, .. } = &record.release else {
            return Err(missing());
        };
        let id = RecordId(Hash32::from(tx.0));
        Ok((record, id))
    }

    /// The chain address of an enrolled doctor, proven.
    pub(crate) fn doctor_address(&self, doctor: &IdentityName) -> Result<Address, ServiceError> {
        match self.chain.identity(doctor)? {
            Some(record) if record.role == Role::Doctor => Ok(record.address),
            _ => Err(ServiceError::Identity {
                identity: doctor.clone(),
                reason: "not an enrolled doctor".into(),
            }),
        }
    }

    /// Files `access.serve` for `requester`, paying a consent's reward up to the configured
    /// cap, and waits for the chain's decision.
    pub(crate) fn file_access(
        &self,
        requester: Address,
        record: RecordId,
        purpose: Purpose,
        grounds: AccessGrounds,
    ) -> Result<Confirmed, ServiceError> {
        self.chain.file(Payload::Access(AccessPayload::Serve {
            requester,
            record,
            purpose,
            grounds,
            max_reward: self.max_access_reward,
        }))
    }

    /// What releasing `record` gives the doctor: its key and record id inside the TAKA
    /// response, and where its sealed blob is.
    pub(crate) fn release_of(
        &self,
        patient: &Address,
        record: &emr::Record,
        id: RecordId,
    ) -> Result<(taka::RecordRelease, ServedBlob), ServiceError> {
        let Release::Stored { blob_ref, .. } = &record.release else {
            return Err(ServiceError::RecordNotReady(id));
        };
        let blob_hash = blob_ref
            .parse()
            .map_err(|_| ServiceError::Internal(format!("blob reference {blob_ref:?}")))?;
        let j = taka::RecordIndex::new(record.key.index)
            .map_err(|e| ServiceError::Internal(format!("EMR index: {e}")))?;
        let key = self.record_key(patient, record.key.index)?;
        let release = taka::RecordRelease::new(j, id.0.0, key.to_vec())
            .map_err(|e| ServiceError::Internal(format!("record release: {e}")))?;
        Ok((
            release,
            ServedBlob {
                record: id,
                index: record.key.index,
                blob_hash,
            },
        ))
    }
}

/// The decision in a final `access.serve` receipt.
pub(crate) fn decision(confirmed: &Confirmed) -> Result<AccessDecision, ServiceError> {
    confirmed
        .access_decision()
        .cloned()
        .ok_or(ServiceError::NotApplied {
            tx: confirmed.receipt.tx,
            expected: "an access decision",
        })
}

/// The refusal a failed TAKA verification is logged with.
fn refusal(error: &taka::Error) -> RefusalReason {
    match error {
        taka::Error::LicenceRejected(_) => RefusalReason::LicenceMismatch,
        taka::Error::AuthorizationExpired => RefusalReason::AuthorisationExpired,
        _ => RefusalReason::BadAuthorisation,
    }
}
