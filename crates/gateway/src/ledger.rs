//! The record ledger: where a record's release (S1-release) and its storage pointer
//! (S1-storage) are filed, and where anyone looks them up with a proof.
//!
//! [`RecordLedger`] is the boundary the gateway's release and sharing logic talks to. Today
//! the consortium chain is the ledger ([`ConsortiumLedger`]); a dedicated MED chain can take
//! record releases over by implementing the same trait, without touching that logic.

use medchain_client::{Client, ClientError, Confirmed, FinalizedHeader, StateQuery, WaitPolicy};
use medchain_state::values::{Record, StoragePointer};
use medchain_types::{
    Address, ContentHash, Event, Payload, PrivateKey, RecordId, RecordPayload, Signature, Uri,
};

/// Why the ledger could not file or prove something.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The chain refused, could not be reached, or answered something that did not verify.
    #[error(transparent)]
    Chain(#[from] ClientError),
    /// The transaction was finalized without the effect it was sent for.
    #[error("transaction {tx} was finalized without {expected}")]
    NotApplied {
        /// The transaction.
        tx: medchain_types::TxId,
        /// The event that should have been in its receipt.
        expected: &'static str,
    },
}

/// A record as the ledger holds it, proven against a finalized header.
#[derive(Clone, Debug)]
pub struct ProvenRecord {
    /// The release: patient, doctor, hospital, hEMR and the doctor's attestation.
    pub record: Record,
    /// The header the release was proven at.
    pub record_at: FinalizedHeader,
    /// The newest storage pointer, if the patient filed one, with the header it was proven
    /// at (proven absent there otherwise).
    pub pointer: Option<(StoragePointer, FinalizedHeader)>,
}

/// Releases records and files and proves their storage pointers. Every method blocks until
/// the answer is final and verified (async callers run it on a blocking thread).
pub trait RecordLedger {
    /// S1-release: `doctor` releases the record with hEMR `record_hash` about `patient`, with
    /// the doctor's `attestation` over it; returns the record's id once the release is final.
    fn release(
        &self,
        doctor: &PrivateKey,
        patient: Address,
        record_hash: ContentHash,
        attestation: Signature,
    ) -> Result<RecordId, LedgerError>;

    /// S1-storage: the record's patient, or a member of its hospital (the gateway), files where
    /// its encrypted blob is; returns once final.
    fn store_pointer(
        &self,
        custodian: &PrivateKey,
        record: RecordId,
        blob_hash: ContentHash,
        location: Uri,
    ) -> Result<(), LedgerError>;

    /// The record and its storage pointer, proven; `None` when the record is proven absent.
    fn record(&self, id: &RecordId) -> Result<Option<ProvenRecord>, LedgerError>;
}

/// The consortium chain as the record ledger, through the client SDK: transactions signed
/// with a verified nonce and followed to a verified finalized block, reads verified against
/// finalized headers by the genesis validator set.
pub struct ConsortiumLedger {
    client: Client,
    wait: WaitPolicy,
}

impl ConsortiumLedger {
    /// A ledger on `client`'s node, waiting for finality as `wait` says.
    pub fn new(client: Client, wait: WaitPolicy) -> Self {
        Self { client, wait }
    }

    /// Signs and sends `payload` as `key`'s account and waits until it is final.
    fn send(&self, key: &PrivateKey, payload: Payload) -> Result<Confirmed, LedgerError> {
        let sent = self.client.signer(key.clone()).send(payload, None)?;
        Ok(self.client.wait_finalized(&sent.id, &self.wait)?)
    }
}

impl RecordLedger for ConsortiumLedger {
    fn release(
        &self,
        doctor: &PrivateKey,
        patient: Address,
        record_hash: ContentHash,
        attestation: Signature,
    ) -> Result<RecordId, LedgerError> {
        let payload = Payload::Record(RecordPayload::Release {
            patient,
            record_hash,
            attestation,
        });
        let confirmed = self.send(doctor, payload)?;
        let id = RecordId::from(confirmed.receipt.tx);
        let released =
            confirmed.receipt.events.iter().any(
                |event| matches!(event, Event::RecordReleased { record, .. } if *record == id),
            );
        if !released {
            return Err(LedgerError::NotApplied {
                tx: confirmed.receipt.tx,
                expected: "a record release",
            });
        }
        Ok(id)
    }

    fn store_pointer(
        &self,
        custodian: &PrivateKey,
        record: RecordId,
        blob_hash: ContentHash,
        location: Uri,
    ) -> Result<(), LedgerError> {
        let payload = Payload::Record(RecordPayload::Store {
            record,
            blob_hash,
            location,
        });
        let confirmed = self.send(custodian, payload)?;
        let stored = confirmed.receipt.events.iter().any(|event| {
            matches!(event, Event::RecordStored { record: r, blob_hash: h } if *r == record && *h == blob_hash)
        });
        if !stored {
            return Err(LedgerError::NotApplied {
                tx: confirmed.receipt.tx,
                expected: "a storage pointer",
            });
        }
        Ok(())
    }

    fn record(&self, id: &RecordId) -> Result<Option<ProvenRecord>, LedgerError> {
        let release = self.client.read(&StateQuery::record(id))?;
        let Some(record) = release.value else {
            return Ok(None);
        };
        let pointer = self.client.read(&StateQuery::storage(id))?;
        Ok(Some(ProvenRecord {
            record,
            record_at: release.at,
            pointer: pointer.value.map(|value| (value, pointer.at)),
        }))
    }
}
