//! Break-glass access (S3-emergency), on both sides.
//!
//! At the doctor's own hospital B (`POST /v1/emergencies`): B checks on chain that the doctor
//! is its own, licensed and not revoked, signs htxu = `emergency_message(…)` with its vouching
//! key (derived from its chain key, `vouching_key_from`), aggregates its signature with the
//! doctor's, and files tx_ur (`emergency.request`); the chain verifies the aggregate against
//! both registered vouching keys and notifies the patient.
//!
//! At the hospital A holding the record (`POST /v1/emergency-access`): A reads tx_ur from the
//! chain (proven), checks that the HTTP request is signed by the emergency's doctor (401 and
//! nothing filed otherwise), that the doctor's TAKA hello is for that emergency (htxU = its id),
//! that record, patient, doctor and hUR, files `access.serve` with grounds `Emergency` (the
//! chain re-checks licence, revocation and the emergency's age) and releases the record key
//! only on the chain's `BreakGlass` decision; the access is kept for the patient's
//! notification feed.

use super::{Gateway, ServiceError, enrol::chain_name, now_ms, patient_row, share::decision};
use crate::{
    doctor_request::{DoctorRequest, DoctorRoute},
    emr::{ReleaseTxId, ServedEmergency},
    wire::{EmergencyAccess, EmergencyFiled, EmergencyFiling, Notification, Served},
};
use medchain_types::{
    AccessDecision, AccessGrounds, Address, EmergencyId, EmergencyPayload, Event, Hash32,
    IdentityName, IdentityPayload, Payload, Purpose, RecordId, RefusalReason, TxId,
    emergency::{aggregate, emergency_message, vouching_key_from},
};
use rand_core::OsRng;

impl Gateway {
    /// Registers the hospital's vouching key on chain (with its proof of possession) unless
    /// the chain holds it already.
    pub(crate) fn register_vouching_key(&self) -> Result<(), ServiceError> {
        let key = vouching_key_from(self.chain.key());
        if self.chain.vouching_key(&self.hospital.address)? == Some(key.public()) {
            return Ok(());
        }
        let proof =
            key.proof_of_possession(self.chain.client.light.chain_id(), &self.hospital.address);
        self.chain
            .file(Payload::Identity(IdentityPayload::SetVouchingKey {
                key: key.public(),
                proof,
            }))?;
        tracing::info!("vouching key registered on chain");
        Ok(())
    }

    /// `POST /v1/emergencies`.
    pub(crate) fn file_emergency(
        &self,
        filing: EmergencyFiling,
    ) -> Result<EmergencyFiled, ServiceError> {
        self.own_doctor(&filing.doctor)?;
        let hur = Hash32::from(filing.hur);
        let message = emergency_message(
            self.chain.client.light.chain_id(),
            &filing.doctor,
            &self.hospital.identity,
            &filing.record,
            &hur,
            filing.issued_at_ms,
        );
        let ours = vouching_key_from(self.chain.key()).sign(&message);
        let vouch = aggregate(&filing.doctor_vouch, &ours)
            .ok_or_else(|| ServiceError::bad("doctor_vouch", "not a valid BLS12-381 signature"))?;
        let confirmed = self
            .chain
            .file(Payload::Emergency(EmergencyPayload::Request {
                doctor: filing.doctor.clone(),
                record: filing.record,
                hur,
                issued_at_ms: filing.issued_at_ms,
                vouch,
            }))?;
        let emergency = confirmed
            .receipt
            .events
            .iter()
            .find_map(|event| match event {
                Event::EmergencyFiled { emergency, .. } => Some(*emergency),
                _ => None,
            })
            .ok_or(ServiceError::NotApplied {
                tx: confirmed.receipt.tx,
                expected: "the emergency request",
            })?;
        tracing::info!(%emergency, doctor = %filing.doctor, record = %filing.record, "emergency filed");
        Ok(EmergencyFiled { emergency })
    }

    /// `POST /v1/emergency-access`.
    pub(crate) fn emergency_access(&self, asked: EmergencyAccess) -> Result<Served, ServiceError> {
        let hello = taka::EmergencyHello::from_bytes(&asked.hello)
            .map_err(|e| ServiceError::bad("emergency hello", e))?;
        let emergency = self
            .chain
            .emergency(&asked.emergency)?
            .ok_or(ServiceError::UnknownEmergency(asked.emergency))?;
        self.authenticate(
            &DoctorRequest {
                chain_id: self.chain.client.light.chain_id(),
                holder: &self.hospital.identity,
                route: DoctorRoute::EmergencyAccess,
                subject: asked.emergency.0,
                purpose: Purpose::Treatment,
                taka_message: &asked.hello,
                issued_at_ms: asked.issued_at_ms,
            },
            &emergency.doctor_address,
            &asked.signature,
        )?;
        let held = self.stored_record(&emergency.record)?;
        let patient = Address::from_bytes(held.key.patient.0);
        let request = hello.request();
        let fits = hello.htxu() == &asked.emergency.0.0
            && chain_name(hello.doctor())? == emergency.doctor
            && request.hur() == emergency.hur.0
            && request.record().get() == held.key.index
            && request.patient().as_bytes()
                == IdentityName::patient_pseudonym(&patient)
                    .as_str()
                    .as_bytes()
            && emergency.patient == patient
            && self.opened_the_entry(&patient, held.key.index, &asked, hello.doctor())?;
        let grounds = if fits {
            AccessGrounds::Emergency(asked.emergency)
        } else {
            AccessGrounds::Refused(RefusalReason::BadAuthorisation)
        };
        let access = self.file_access(
            emergency.doctor_address,
            emergency.record,
            Purpose::Treatment,
            grounds,
        )?;
        let access_tx = access.receipt.tx;
        match decision(&access)? {
            AccessDecision::BreakGlass { .. } if fits => {}
            AccessDecision::Denied { reason } => {
                tracing::info!(emergency = %asked.emergency, ?reason, %access_tx, "emergency access refused");
                return Err(ServiceError::refused(reason, Some(access_tx)));
            }
            other => {
                return Err(ServiceError::Internal(format!(
                    "the chain decided {other:?} on an emergency this gateway refuses; nothing released"
                )));
            }
        }
        let (release, blob) = self.release_of(&patient, &held, emergency.record)?;
        let response = taka::respond_emergency(&self.hospital.keys, &hello, &release, &mut OsRng)
            .map_err(|e| ServiceError::bad("emergency hello", e))?;
        self.emr.add_notification(&ServedEmergency {
            emergency: asked.emergency.0.0,
            patient: patient_row(&patient),
            record: ReleaseTxId(emergency.record.0.0),
            index: held.key.index,
            doctor: emergency.doctor.as_str().to_owned(),
            access_tx: access_tx.0.0,
            served_at_ms: now_ms(),
        })?;
        tracing::warn!(emergency = %asked.emergency, doctor = %emergency.doctor, record = %emergency.record, %access_tx, "break-glass access served");
        Ok(Served {
            response: response.to_bytes(),
            access_tx,
            blobs: vec![blob],
        })
    }

    /// Whether the doctor proved it opened the patient's EMR entry for record j — which only
    /// the patient's biometric template does — by a MAC under the record's emergency gate,
    /// which this hospital derives from the patient's enrolment factor (S3-entry,
    /// S3-emergency). Without this check the record's hospital and index, which are not
    /// secret, would be all a vouched doctor needs to break the glass.
    fn opened_the_entry(
        &self,
        patient: &Address,
        index: u64,
        asked: &EmergencyAccess,
        doctor: &taka::Identity,
    ) -> Result<bool, ServiceError> {
        let Ok(proof) = <[u8; 32]>::try_from(asked.gate_proof.as_slice()) else {
            return Ok(false);
        };
        let j = taka::RecordIndex::new(index)
            .map_err(|e| ServiceError::Internal(format!("a stored record index: {e}")))?;
        let gate = self
            .enrolment(patient)?
            .factors()
            .factor(j)
            .emergency_gate();
        Ok(taka::verify_emergency_gate_proof(
            &gate,
            &asked.emergency.0.0,
            doctor,
            &proof,
        ))
    }

    /// `GET /v1/patients/{address}/notifications`.
    pub(crate) fn notifications(
        &self,
        patient: &Address,
    ) -> Result<Vec<Notification>, ServiceError> {
        self.emr
            .notifications(&patient_row(patient))?
            .into_iter()
            .map(|served| {
                Ok(Notification {
                    emergency: EmergencyId(Hash32::from(served.emergency)),
                    record: RecordId(Hash32::from(served.record.0)),
                    index: served.index,
                    doctor: IdentityName::new(served.doctor.as_str()).map_err(|e| {
                        ServiceError::Internal(format!("a stored doctor identity: {e}"))
                    })?,
                    access_tx: TxId(Hash32::from(served.access_tx)),
                    served_at_ms: served.served_at_ms,
                })
            })
            .collect()
    }
}
