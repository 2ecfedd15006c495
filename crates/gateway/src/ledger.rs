//! The record ledger: where a record's release (S1-release), its storage pointer
//! (S1-storage) and the hospital's commitment to its attributes (issue 12) are filed, and
//! where anyone looks them up with a proof.
//!
//! [`RecordLedger`] is the boundary the gateway's release and sharing logic talks to. Today
//! the consortium chain is the ledger ([`ConsortiumLedger`]); a dedicated MED chain can take
//! record releases over by implementing the same trait, without touching that logic.

use medchain_client::{
    Client, ClientError, Confirmed, FinalizedHeader, StateQuery, TxOutcome, WaitPolicy,
    keys::address_of,
};
use medchain_state::values::{Record, StoragePointer};
use medchain_types::{
    Address, ContentHash, Event, Hash32, Payload, PrivateKey, RecordId, RecordPayload, Transaction,
    TxId, Uri, research::ResearchPayload,
};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Why the ledger could not file or prove something.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The chain could not be reached, or answered something that did not verify.
    #[error(transparent)]
    Chain(#[from] ClientError),
    /// The node refused the transaction (the chain's rules reject it, or the node cannot take
    /// it now): it is not filed, and will not execute.
    #[error(transparent)]
    NotAdmitted(ClientError),
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
    /// The release: patient, doctor, hospital, hEMR and its origin (the doctor's attestation on
    /// SUP, or the Mblock it was mined in).
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
    /// S1-release: files the doctor's signed release (a `record.release` the doctor signed over
    /// hEMR and the patient) and returns the record's id once it is final. Filing the same
    /// transaction again — a gateway resuming after a crash — is safe: a release already final
    /// is found, never doubled.
    fn release(&self, signed: &Transaction) -> Result<RecordId, LedgerError>;

    /// S1-storage: the record's patient, or its hospital's identity (the gateway's key, not a
    /// doctor's), files where its encrypted blob is; returns once final.
    fn store_pointer(
        &self,
        custodian: &PrivateKey,
        record: RecordId,
        blob_hash: ContentHash,
        location: Uri,
    ) -> Result<(), LedgerError>;

    /// The record and its storage pointer, proven; `None` when the record is proven absent.
    fn record(&self, id: &RecordId) -> Result<Option<ProvenRecord>, LedgerError>;

    /// The hospital's identity (the gateway's key) attests `commitment` to the record's
    /// attributes (`research.attest`); returns once final. A record is attested once: the
    /// chain refuses a second commitment.
    fn attest(
        &self,
        hospital: &PrivateKey,
        record: RecordId,
        commitment: Hash32,
    ) -> Result<(), LedgerError>;

    /// The commitment attested for the record, proven; `None` when proven absent.
    fn attested(&self, record: &RecordId) -> Result<Option<Hash32>, LedgerError>;
}

/// The consortium chain as the record ledger, through the client SDK: transactions signed
/// with a verified nonce and followed to a verified finalized block, reads verified against
/// finalized headers by the genesis validator set.
pub struct ConsortiumLedger {
    client: Client,
    wait: WaitPolicy,
    /// The next nonce of each key that filed through this ledger. Callers file concurrently
    /// (a gateway serves requests in parallel with one key), so nonces are handed out here
    /// rather than read from the chain per transaction — two reads before either transaction is
    /// final would give one nonce twice. A key's entry is forgotten (read again from the chain)
    /// after any failure, so a lost transaction cannot stall the ones after it.
    nonces: Mutex<HashMap<Address, u64>>,
}

impl ConsortiumLedger {
    /// A ledger on `client`'s node, waiting for finality as `wait` says.
    pub fn new(client: Client, wait: WaitPolicy) -> Self {
        Self {
            client,
            wait,
            nonces: Mutex::default(),
        }
    }

    /// The verifying client the ledger reads and files through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Signs `payload` as `key`'s account with its next nonce, submits it and waits until it
    /// is final.
    pub fn file(&self, key: &PrivateKey, payload: Payload) -> Result<Confirmed, LedgerError> {
        let address = address_of(key);
        let id = self.submit(key, &address, payload)?;
        self.client
            .wait_finalized(&id, &self.wait)
            .map_err(|error| {
                self.forget_nonce(&address);
                error.into()
            })
    }

    /// Submits with the key's next nonce: the one this ledger handed out last, or the chain's.
    /// A cached nonce can be stale when the same key also signs elsewhere (the hospital's
    /// administrator issuing licences with the gateway's key), so a refused submission with a
    /// cached nonce is retried once with the chain's.
    fn submit(
        &self,
        key: &PrivateKey,
        address: &Address,
        payload: Payload,
    ) -> Result<TxId, LedgerError> {
        let mut nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = nonces.remove(address);
        let mut nonce = match cached {
            Some(nonce) => nonce,
            None => self.client.next_nonce(address)?,
        };
        let mut submitted = self.sign_and_submit(key, &payload, nonce);
        if submitted.is_err() && cached.is_some() {
            nonce = self.client.next_nonce(address)?;
            submitted = self.sign_and_submit(key, &payload, nonce);
        }
        if submitted.is_ok() {
            nonces.insert(*address, nonce + 1);
        }
        submitted
    }

    fn sign_and_submit(
        &self,
        key: &PrivateKey,
        payload: &Payload,
        nonce: u64,
    ) -> Result<TxId, LedgerError> {
        let tx = self
            .client
            .signer(key.clone())
            .sign(payload.clone(), nonce)?;
        self.client.node.submit(&tx).map_err(not_admitted)
    }

    fn forget_nonce(&self, address: &Address) {
        self.nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(address);
    }
}

impl RecordLedger for ConsortiumLedger {
    fn release(&self, signed: &Transaction) -> Result<RecordId, LedgerError> {
        let id = signed.id();
        let confirmed = match self.client.transaction(&id)? {
            TxOutcome::Finalized(confirmed) => *confirmed,
            TxOutcome::Pending | TxOutcome::Queued { .. } => {
                self.client.wait_finalized(&id, &self.wait)?
            }
            TxOutcome::Dropped(_) | TxOutcome::Unknown => {
                if let Err(refused) = self.client.node.submit(signed) {
                    // Refused unless it executed meanwhile (a final transaction is refused
                    // when submitted again): only then is it final rather than never filed.
                    let TxOutcome::Finalized(confirmed) = self.client.transaction(&id)? else {
                        return Err(not_admitted(refused));
                    };
                    return released(*confirmed, id);
                }
                self.client.wait_finalized(&id, &self.wait)?
            }
        };
        let record = RecordId::from(id);
        let released =
            confirmed.receipt.events.iter().any(
                |event| matches!(event, Event::RecordReleased { record: r, .. } if *r == record),
            );
        if !released {
            return Err(LedgerError::NotApplied {
                tx: id,
                expected: "a record release",
            });
        }
        Ok(record)
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
        let confirmed = self.file(custodian, payload)?;
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

    fn attest(
        &self,
        hospital: &PrivateKey,
        record: RecordId,
        commitment: Hash32,
    ) -> Result<(), LedgerError> {
        let payload = Payload::Research(ResearchPayload::Attest { record, commitment });
        let confirmed = self.file(hospital, payload)?;
        let attested =
            confirmed.receipt.events.iter().any(
                |event| matches!(event, Event::RecordAttested { record: r, .. } if *r == record),
            );
        if !attested {
            return Err(LedgerError::NotApplied {
                tx: confirmed.receipt.tx,
                expected: "an attested commitment",
            });
        }
        Ok(())
    }

    fn attested(&self, record: &RecordId) -> Result<Option<Hash32>, LedgerError> {
        let attestation = self.client.read(&StateQuery::attestation(record))?;
        Ok(attestation.value.map(|attestation| attestation.commitment))
    }
}

/// The record a final release transaction released, if its receipt shows it.
fn released(confirmed: Confirmed, id: TxId) -> Result<RecordId, LedgerError> {
    let record = RecordId::from(id);
    let released = confirmed
        .receipt
        .events
        .iter()
        .any(|event| matches!(event, Event::RecordReleased { record: r, .. } if *r == record));
    if !released {
        return Err(LedgerError::NotApplied {
            tx: id,
            expected: "a record release",
        });
    }
    Ok(record)
}

/// A submission the node answered with a refusal was not admitted; any other failure (no
/// answer) leaves it unknown whether it was.
fn not_admitted(error: ClientError) -> LedgerError {
    match error {
        ClientError::Api { .. } => LedgerError::NotAdmitted(error),
        other => LedgerError::Chain(other),
    }
}
