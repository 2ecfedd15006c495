//! The gateway's view of the chain: verified reads (each proven against a finalized header)
//! and the hospital's own transactions, signed with its chain key and followed to finality.

use super::ServiceError;
use medchain_client::{Client, Confirmed, StateQuery, TxOutcome, WaitPolicy};
use medchain_state::values::{IdentityRecord, Licence, StoragePointer};
use medchain_types::{Address, IdentityName, Payload, PrivateKey, Transaction, TxId};
use std::sync::{Mutex, PoisonError};

/// The chain as the hospital sees and acts on it.
pub(crate) struct ChainAccess {
    pub(crate) client: Client,
    wait: WaitPolicy,
    key: PrivateKey,
    /// The nonce of the hospital's next transaction, once known. Requests are served
    /// concurrently, so nonces are handed out here rather than read from the chain per
    /// transaction (two reads before either is final would give one nonce twice). Forgotten
    /// (read again) after any failure, so a lost transaction cannot stall the ones after it.
    next_nonce: Mutex<Option<u64>>,
}

impl ChainAccess {
    pub(crate) fn new(client: Client, wait: WaitPolicy, key: PrivateKey) -> Self {
        Self {
            client,
            wait,
            key,
            next_nonce: Mutex::new(None),
        }
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

    /// A record's newest storage pointer, proven.
    pub(crate) fn storage(
        &self,
        id: &medchain_types::RecordId,
    ) -> Result<Option<StoragePointer>, ServiceError> {
        Ok(self.client.read(&StateQuery::storage(id))?.value)
    }

    /// Signs `payload` as the hospital, submits it and waits until it is final.
    pub(crate) fn file(&self, payload: Payload) -> Result<Confirmed, ServiceError> {
        let id = self.submit(payload)?;
        self.wait(&id)
    }

    /// Signs `payload` as the hospital with its next nonce and submits it.
    pub(crate) fn submit(&self, payload: Payload) -> Result<TxId, ServiceError> {
        let mut next = self
            .next_nonce
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let nonce = match *next {
            Some(nonce) => nonce,
            None => self
                .client
                .next_nonce(&medchain_client::keys::address_of(&self.key))?,
        };
        let signer = self.client.signer(self.key.clone());
        let submitted = signer
            .sign(payload, nonce)
            .and_then(|tx| self.client.node.submit(&tx));
        *next = submitted.is_ok().then_some(nonce + 1);
        Ok(submitted?)
    }

    /// Waits until `id` is final; a failure makes the next transaction read its nonce again.
    pub(crate) fn wait(&self, id: &TxId) -> Result<Confirmed, ServiceError> {
        self.client.wait_finalized(id, &self.wait).map_err(|error| {
            *self
                .next_nonce
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
            error.into()
        })
    }

    /// Follows someone else's signed transaction to finality: if the chain already has it
    /// final (a release filed before a restart) that is the answer, otherwise it is submitted
    /// (again: the same bytes, so it executes at most once) and waited for.
    pub(crate) fn submit_signed(&self, tx: &Transaction) -> Result<Confirmed, ServiceError> {
        let id = tx.id();
        match self.client.transaction(&id)? {
            TxOutcome::Finalized(confirmed) => return Ok(*confirmed),
            TxOutcome::Pending | TxOutcome::Queued { .. } => {}
            TxOutcome::Dropped(_) | TxOutcome::Unknown => {
                self.client.node.submit(tx)?;
            }
        }
        Ok(self.client.wait_finalized(&id, &self.wait)?)
    }
}
