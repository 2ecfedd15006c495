//! The proxy's work for each route (S4-flow steps 6–7): every request is checked against the
//! chain (proven reads) before anything is stored or re-encrypted.

use super::{
    Cloud, CloudError,
    chain::{ProvenEnrolment, StudyTerms},
    now_ms,
};
use crate::{
    request::{REENCRYPT_VALIDITY_MS, ReencryptRequest},
    wire::{CloudInfo, KfragStored, KfragUpload, RecordStored, ReencryptAnswer, ReencryptBody},
};
use medchain_client::build;
use medchain_types::{ContentHash, EnrolmentId, Event, TxId};
use proxy_reencryption::{RecordCapsule, SealedKeyFrag, VerifiedKFrag, reencrypt};
use std::sync::PoisonError;

impl Cloud {
    /// `GET /v1/info`.
    pub(crate) fn info(&self) -> CloudInfo {
        CloudInfo {
            proxy: self.chain.address(),
            encryption_key: self.proxy_key.public(),
            url: self.public_url.clone(),
        }
    }

    /// `PUT /v1/enrolments/{id}/record`: stored only if it is the enrolment's record.
    pub(crate) fn put_record(
        &self,
        id: &EnrolmentId,
        bytes: &[u8],
    ) -> Result<RecordStored, CloudError> {
        let (enrolment, _) = self.served_enrolment(id)?;
        let hash = ContentHash::of(bytes);
        if hash != enrolment.ciphertext_hash {
            return Err(CloudError::HashMismatch {
                expected: enrolment.ciphertext_hash,
                got: hash,
            });
        }
        RecordCapsule::from_record_bytes(bytes).map_err(CloudError::BadRecord)?;
        self.store.put_record(id, bytes)?;
        tracing::info!(enrolment = %id, bytes = bytes.len(), "record stored");
        Ok(RecordStored {
            enrolment: *id,
            ciphertext_hash: hash,
            bytes: bytes.len() as u64,
        })
    }

    /// `GET /v1/enrolments/{id}/record`.
    pub(crate) fn record(&self, id: &EnrolmentId) -> Result<Vec<u8>, CloudError> {
        self.store.record(id)?.ok_or(CloudError::NotDelivered {
            what: "record",
            enrolment: *id,
        })
    }

    /// `POST /v1/enrolments/{id}/kfrag`: opened and verified before it is stored.
    pub(crate) fn store_kfrag(
        &self,
        id: &EnrolmentId,
        upload: &KfragUpload,
    ) -> Result<KfragStored, CloudError> {
        let sealed = SealedKeyFrag::from_bytes(&upload.sealed).map_err(CloudError::BadKfrag)?;
        let (enrolment, study) = self.served_enrolment(id)?;
        self.open_kfrag(id, &sealed, &enrolment, &study)?;
        self.store.put_kfrag(id, sealed.as_bytes())?;
        tracing::info!(enrolment = %id, "kfrag stored");
        Ok(KfragStored { enrolment: *id })
    }

    /// `POST /v1/enrolments/{id}/reencrypt`: for the study's researcher, once per signed
    /// request; logged on chain before the capsule fragment is returned.
    pub(crate) fn reencrypt(
        &self,
        id: &EnrolmentId,
        body: &ReencryptBody,
    ) -> Result<ReencryptAnswer, CloudError> {
        let (enrolment, study) = self.served_enrolment(id)?;
        let now = now_ms();
        let request = ReencryptRequest {
            enrolment: *id,
            issued_at_ms: body.issued_at_ms,
        };
        let digest = request.verify(&study.researcher, &body.signature, now)?;
        // Records flow only to a researcher of a research organisation audited now (S2-state):
        // a suspended organisation, or a researcher who left it, gets nothing.
        if let Some(reason) = self
            .chain
            .not_audited_member(&study.researcher, &study.org)?
        {
            return Err(CloudError::ResearcherNotAudited {
                researcher: study.researcher,
                reason,
            });
        }
        let forget_before = now.saturating_sub(2 * REENCRYPT_VALIDITY_MS);
        if !self
            .store
            .first_use(&digest, body.issued_at_ms, forget_before)?
        {
            return Err(CloudError::Replayed);
        }
        let not_delivered = |what| CloudError::NotDelivered {
            what,
            enrolment: *id,
        };
        let sealed = self
            .store
            .kfrag(id)?
            .ok_or_else(|| not_delivered("kfrag"))?;
        let record = self
            .store
            .record(id)?
            .ok_or_else(|| not_delivered("record"))?;
        let sealed = SealedKeyFrag::from_bytes(&sealed).map_err(CloudError::BadKfrag)?;
        let kfrag = self.open_kfrag(id, &sealed, &enrolment, &study)?;
        let capsule = RecordCapsule::from_record_bytes(&record).map_err(CloudError::BadRecord)?;
        let log_tx = self.log_reencryption(id)?;
        let cfrag = reencrypt(&kfrag, &capsule);
        tracing::info!(enrolment = %id, researcher = %study.researcher, %log_tx, "re-encrypted");
        Ok(ReencryptAnswer {
            cfrag: cfrag.as_bytes().to_vec(),
            log_tx,
        })
    }

    /// The enrolment and its study, proven on chain, if the study lists this proxy.
    fn served_enrolment(
        &self,
        id: &EnrolmentId,
    ) -> Result<(ProvenEnrolment, StudyTerms), CloudError> {
        let enrolment = self
            .chain
            .enrolment(id)?
            .ok_or(CloudError::UnknownEnrolment(*id))?;
        let study = self.chain.study(&enrolment.study)?.ok_or_else(|| {
            CloudError::Internal(format!(
                "enrolment {id} names study {}, which the chain does not hold",
                enrolment.study
            ))
        })?;
        let proxy = self.chain.address();
        if !study.proxies.contains(&proxy) {
            return Err(CloudError::NotStudyProxy {
                study: study.id,
                proxy,
            });
        }
        Ok((enrolment, study))
    }

    fn open_kfrag(
        &self,
        id: &EnrolmentId,
        sealed: &SealedKeyFrag,
        enrolment: &ProvenEnrolment,
        study: &StudyTerms,
    ) -> Result<VerifiedKFrag, CloudError> {
        let context: [u8; 32] = id.0.into();
        self.proxy_key
            .open_kfrag(
                sealed,
                &context,
                &enrolment.delegating,
                &enrolment.verifying,
                &study.researcher_key,
            )
            .map_err(CloudError::BadKfrag)
    }

    /// The transaction logging this proxy's re-encryption of the enrolment: the one filed
    /// before, or `research.reencrypted` filed now (the chain takes one per proxy).
    fn log_reencryption(&self, id: &EnrolmentId) -> Result<TxId, CloudError> {
        let _serial = self.logging.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = self.store.log(id)? {
            return Ok(tx);
        }
        let confirmed = self.chain.file(build::log_reencryption(*id))?;
        let proxy = self.chain.address();
        let logged = confirmed.receipt.events.iter().any(|event| {
            matches!(event, Event::Reencrypted { enrolment, proxy: p } if enrolment == id && *p == proxy)
        });
        if !logged {
            return Err(CloudError::NotApplied {
                tx: confirmed.receipt.tx,
                expected: "the re-encryption log",
            });
        }
        self.store.put_log(id, &confirmed.receipt.tx)?;
        Ok(confirmed.receipt.tx)
    }
}
