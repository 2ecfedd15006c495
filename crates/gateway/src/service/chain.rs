//! The gateway's view of the chain: verified reads (each proven against a finalized header)
//! and the hospital's own transactions, signed with its chain key and followed to finality
//! through the record ledger (which keeps the key's nonces across concurrent requests).

use super::ServiceError;
use crate::ledger::{ConsortiumLedger, DoctorRelease, MedLedger, RecordLedger, ReleaseDecodeError};
use medchain_client::{Client, Confirmed, StateQuery, WaitPolicy};
use medchain_state::values::{EmergencyRecord, IdentityRecord, Licence};
use medchain_types::{Address, BlsPublicKey, EmergencyId, IdentityName, Payload, PrivateKey};
use std::sync::Arc;

/// The chain as the hospital sees and acts on it.
pub(crate) struct ChainAccess {
    pub(crate) client: Client,
    /// Every transaction the hospital files on SUP (one nonce sequence for its key).
    consortium: Arc<ConsortiumLedger>,
    /// Releases, storage pointers and attestations: on MED when the chain has a MED chain
    /// (S3-dual), else on SUP.
    pub(crate) ledger: Arc<dyn RecordLedger + Send + Sync>,
    key: PrivateKey,
}

impl ChainAccess {
    pub(crate) fn new(
        client: Client,
        wait: WaitPolicy,
        key: PrivateKey,
    ) -> Result<Self, ServiceError> {
        let consortium = Arc::new(ConsortiumLedger::new(client.clone(), wait));
        let ledger: Arc<dyn RecordLedger + Send + Sync> = if client.light.genesis().med.is_some() {
            Arc::new(MedLedger::new(consortium.clone(), &key, wait)?)
        } else {
            consortium.clone()
        };
        Ok(Self {
            consortium,
            ledger,
            client,
            key,
        })
    }

    /// Whether records are released on a MED chain (the genesis has MED parameters).
    pub(crate) fn has_med(&self) -> bool {
        self.client.light.genesis().med.is_some()
    }

    /// A doctor's release as sent or stored: tx_mr and signature on a MED chain, a signed
    /// `record.release` otherwise.
    pub(crate) fn doctor_release(&self, bytes: &[u8]) -> Result<DoctorRelease, ReleaseDecodeError> {
        DoctorRelease::from_bytes(bytes, self.has_med())
    }

    pub(crate) fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// An enrolled identity, proven (`None`: proven absent).
    pub(crate) fn identity(
        &self,
        name: &IdentityName,
    ) -> Result<Option<IdentityRecord>, ServiceError> {
        Ok(self.client.read(&StateQuery::identity(name))?.value)
    }

    /// The identity bound to an address, proven.
    pub(crate) fn identity_of(
        &self,
        address: &Address,
    ) -> Result<Option<IdentityName>, ServiceError> {
        Ok(self.client.read(&StateQuery::identity_of(address))?.value)
    }

    /// A doctor's licence, proven.
    pub(crate) fn licence(&self, doctor: &IdentityName) -> Result<Option<Licence>, ServiceError> {
        Ok(self.client.read(&StateQuery::licence(doctor))?.value)
    }

    /// Whether the doctor is on the revocation list (proven present or proven absent).
    pub(crate) fn revoked(&self, doctor: &IdentityName) -> Result<bool, ServiceError> {
        Ok(self
            .client
            .read(&StateQuery::revocation(doctor))?
            .value
            .is_some())
    }

    /// An address's registered vouching key, proven.
    pub(crate) fn vouching_key(
        &self,
        address: &Address,
    ) -> Result<Option<BlsPublicKey>, ServiceError> {
        Ok(self
            .client
            .read(&StateQuery::vouching_key(address))?
            .value
            .map(|registered| registered.key))
    }

    /// An emergency request tx_ur, proven.
    pub(crate) fn emergency(
        &self,
        id: &EmergencyId,
    ) -> Result<Option<EmergencyRecord>, ServiceError> {
        Ok(self.client.read(&StateQuery::emergency(id))?.value)
    }

    /// The patient's nullifier key (`research.nullifier_key`), proven; `None` while the patient
    /// has filed none. Every commitment the hospital attests for the patient binds it.
    pub(crate) fn nullifier_key(
        &self,
        patient: &Address,
    ) -> Result<Option<zk::NullifierKey>, ServiceError> {
        self.client
            .read(&StateQuery::nullifier_key(patient))?
            .value
            .map(|key| {
                zk::NullifierKey::from_bytes(key.as_ref()).map_err(|error| {
                    ServiceError::Internal(format!(
                        "the chain holds an unusable nullifier key for {patient}: {error}"
                    ))
                })
            })
            .transpose()
    }

    /// Signs `payload` as the hospital, submits it and waits until it is final.
    pub(crate) fn file(&self, payload: Payload) -> Result<Confirmed, ServiceError> {
        Ok(self.consortium.file(&self.key, payload)?)
    }
}
