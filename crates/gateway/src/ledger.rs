//! The record ledger: where a record's release (S1-release), its storage pointer
//! (S1-storage) and the hospital's commitment to its attributes (issue 12) are filed, and
//! where anyone looks them up with a proof.
//!
//! [`RecordLedger`] is the boundary the gateway's release and sharing logic talks to. On a chain
//! without a MED chain the consortium chain is the ledger ([`ConsortiumLedger`]); on a chain
//! with one, [`MedLedger`] releases records on MED — checked, batched and aggregated by the
//! hospital, mined, and final once SUP checkpoints them (S3-release, S3-supervise) — and files
//! storage pointers and attestations on SUP as before.

mod med;

pub use med::{MED_BATCH_ITEMS, MED_BATCH_WINDOW, MedLedger};

use bytes::BufMut;
use commonware_codec::{
    Buf, Copying, Decode, Encode, Error as CodecError, FixedSize, Read, ReadExt, Write,
};
use medchain_client::{
    Client, ClientError, Confirmed, FinalizedHeader, StateQuery, TxOutcome, WaitPolicy,
    keys::address_of,
};
use medchain_state::values::{Record, StoragePointer};
use medchain_types::{
    Address, BlsSignature, ChainId, ContentHash, EntryId, Event, Hash32, Payload, PrivateKey,
    RecordId, RecordPayload, Transaction, TxError, TxId, Uri,
    med::{SignedEntry, TxMr},
    research::ResearchPayload,
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
    /// The release cannot be filed on this ledger and never will be as it is: a bad doctor
    /// signature, a doctor or hospital the chain does not accept as a signer, or a release of
    /// the other ledger's kind.
    #[error("the release was refused: {0}")]
    Refused(String),
    /// The ledger cannot work now (its batch sealer stopped).
    #[error("the record ledger is unavailable: {0}")]
    Unavailable(String),
    /// SUP checkpointed the release's Mblock but did not import the release (its rules refused
    /// it: the doctor no longer practises, or the hEMR was already released for the patient).
    #[error("record {record} was checkpointed in Mblock {mblock} but SUP refused to import it")]
    NotImported {
        /// The record.
        record: RecordId,
        /// The Mblock that holds it.
        mblock: Hash32,
    },
    /// The release can no longer be filed: it is absent from SUP and from the node's MED
    /// chain, and SUP's newest checkpoint is stamped so late (its median time past) that no
    /// Mblock SUP can still checkpoint may hold a release issued then (`RELEASE_VALIDITY_MS`).
    /// The doctor signs the release again.
    #[error(
        "record {record} was issued at {issued_at_ms} (unix ms) and can no longer be mined: no Mblock SUP can still checkpoint may hold it"
    )]
    Expired {
        /// The record.
        record: RecordId,
        /// When the doctor signed the release.
        issued_at_ms: u64,
    },
    /// The release is on MED but not final yet when the wait ran out: it stays pending and
    /// filing it again waits for it (it is never released twice).
    #[error("record {record} is {}", pending_phrase(*.mblock_height))]
    PendingOnMed {
        /// The record.
        record: RecordId,
        /// The height of the Mblock holding it, if one does yet.
        mblock_height: Option<u64>,
    },
}

/// "pending on MED (Mblock h)", or not mined yet.
fn pending_phrase(mblock_height: Option<u64>) -> String {
    match mblock_height {
        Some(height) => {
            format!("pending on MED (Mblock {height}): SUP has not checkpointed it yet")
        }
        None => "pending on MED: submitted, not mined yet".to_string(),
    }
}

/// A doctor's release as a ledger files it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DoctorRelease {
    /// A `record.release` transaction the doctor signed (S1-release; chains without MED).
    Transaction(Box<Transaction>),
    /// tx_mr and the doctor's BLS signature over its htxM (S3-release; chains with MED).
    Med(MedRelease),
}

/// tx_mr with the doctor's own signature, as the doctor hands it to its hospital (the
/// signature is aggregated away once the hospital seals its batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedRelease {
    /// The release.
    pub tx: TxMr,
    /// The doctor's BLS signature over `htxm_message(chain, htxM)`.
    pub signature: BlsSignature,
}

impl Write for MedRelease {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        self.signature.write(buf);
    }
}

impl FixedSize for MedRelease {
    const SIZE: usize = TxMr::SIZE + BlsSignature::SIZE;
}

impl Read for MedRelease {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            tx: TxMr::read(buf)?,
            signature: BlsSignature::read(buf)?,
        })
    }
}

impl DoctorRelease {
    /// Decodes a release as the gateway receives and stores it: a [`MedRelease`] on a chain
    /// with MED (`med`), a transaction otherwise.
    pub fn from_bytes(bytes: &[u8], med: bool) -> Result<Self, ReleaseDecodeError> {
        if med {
            Ok(Self::Med(MedRelease::decode_cfg(Copying(bytes), &())?))
        } else {
            Ok(Self::Transaction(Box::new(Transaction::from_bytes(bytes)?)))
        }
    }

    /// The encoding [`DoctorRelease::from_bytes`] reads.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Transaction(tx) => tx.encode().to_vec(),
            Self::Med(release) => release.encode().to_vec(),
        }
    }

    /// The id the record will have: the transaction's id, or the release's htxM.
    pub fn record_id(&self, chain_id: &ChainId) -> RecordId {
        match self {
            Self::Transaction(tx) => RecordId::from(tx.id()),
            Self::Med(release) => release.tx.record_id(chain_id),
        }
    }
}

/// Why bytes are not a doctor's release.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseDecodeError {
    /// Not tx_mr followed by a BLS signature.
    #[error("not a MED release (tx_mr and the doctor's BLS signature): {0}")]
    Med(#[from] CodecError),
    /// Not a signed transaction.
    #[error("not a signed record.release transaction: {0}")]
    Transaction(#[from] TxError),
}

/// Where a released record is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Released {
    /// The record.
    pub record: RecordId,
    /// On a MED chain: the Mblock holding it and the SUP block that checkpointed it.
    pub med: Option<Checkpointed>,
}

/// A record final on MED: its Mblock, and the SUP height that checkpointed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpointed {
    /// The Mblock holding the release.
    pub mblock: Hash32,
    /// Its height.
    pub mblock_height: u64,
    /// The SUP height of the block that checkpointed it.
    pub checkpointed_at: u64,
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
    /// S1-release, S3-release: files the doctor's signed release and returns the record once it
    /// is final (on a MED chain: checkpointed by SUP). Filing the same release again — a
    /// gateway resuming after a crash — is safe: a release already final is found, one already
    /// pending is waited for, never doubled.
    fn release(&self, release: &DoctorRelease) -> Result<Released, LedgerError>;

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

    /// S3-entry on MED: checks a patient's signed entry EEE (its signature against the
    /// patient's key on SUP) and queues it with the releases of the next sealed batch; returns
    /// once the batch is in the node's pool, without waiting for finality
    /// ([`RecordLedger::entry_status`] follows it). Filing the same entry again is safe: one
    /// already on MED or final is not submitted twice.
    fn file_entry(&self, entry: &SignedEntry) -> Result<EntryTicket, LedgerError>;

    /// Where a filed entry is: pending on MED, final (SUP imported it from a checkpointed
    /// Mblock), or refused by SUP at import.
    fn entry_status(&self, entry: &EntryId) -> Result<EntryStatus, LedgerError>;
}

/// An entry [`RecordLedger::file_entry`] accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryTicket {
    /// Its id (`EntryMr::entry_id`).
    pub entry: EntryId,
    /// Whether this call submitted it; `false` when it was on MED or final already.
    pub submitted: bool,
}

/// Where an entry filed through [`RecordLedger::file_entry`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    /// Not final yet: in the pool (`None`) or in an Mblock of that height SUP has not
    /// checkpointed.
    Pending {
        /// The height of the Mblock holding it, if one does yet.
        mblock_height: Option<u64>,
    },
    /// SUP imported it from the Mblock it checkpointed: `entry/<id>` holds it.
    Final(Checkpointed),
    /// SUP checkpointed its Mblock but did not import it (the patient lost its enrolment or
    /// key before the checkpoint, or the entry was filed before).
    Refused {
        /// The Mblock holding it.
        mblock: Hash32,
    },
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

    /// Files a signed `record.release` (or finds it final) and returns the record once final.
    pub fn release_transaction(&self, signed: &Transaction) -> Result<RecordId, LedgerError> {
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
        released(confirmed, id)
    }

    fn forget_nonce(&self, address: &Address) {
        self.nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(address);
    }
}

impl RecordLedger for ConsortiumLedger {
    fn release(&self, release: &DoctorRelease) -> Result<Released, LedgerError> {
        let DoctorRelease::Transaction(signed) = release else {
            return Err(LedgerError::Refused(
                "a MED release (tx_mr) on a chain without a MED chain: sign a record.release"
                    .into(),
            ));
        };
        let record = self.release_transaction(signed)?;
        Ok(Released { record, med: None })
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

    fn file_entry(&self, _entry: &SignedEntry) -> Result<EntryTicket, LedgerError> {
        Err(no_med_entries())
    }

    fn entry_status(&self, _entry: &EntryId) -> Result<EntryStatus, LedgerError> {
        Err(no_med_entries())
    }
}

/// Entries through a gateway on a chain without MED: the patient files them on SUP itself.
fn no_med_entries() -> LedgerError {
    LedgerError::Refused(
        "this chain has no MED chain: the patient files its entry on SUP itself (`medchain patient entry`)"
            .into(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use medchain_med::aggregate::{sign_release, verify_release};
    use medchain_types::emergency::vouching_key_from;

    #[test]
    fn a_med_release_round_trips_and_is_read_by_the_chains_kind() {
        let chain_id: ChainId = "medchain-ledger".parse().unwrap();
        let doctor = PrivateKey::from_seed(1);
        let tx = TxMr {
            doctor: Address::from(doctor.public_key()),
            patient: Address::from(PrivateKey::from_seed(2).public_key()),
            record_hash: ContentHash::of(b"bundle"),
            issued_at_ms: 1_700_000_000_000,
        };
        let vouching = vouching_key_from(&doctor);
        let release = DoctorRelease::Med(MedRelease {
            signature: sign_release(&chain_id, &vouching, &tx),
            tx: tx.clone(),
        });
        let bytes = release.to_bytes();
        let read = DoctorRelease::from_bytes(&bytes, true).unwrap();
        assert_eq!(read, release);
        assert_eq!(read.record_id(&chain_id), tx.record_id(&chain_id));
        let DoctorRelease::Med(read) = read else {
            unreachable!()
        };
        assert!(verify_release(
            &chain_id,
            &read.tx,
            &vouching.public(),
            &read.signature
        ));
        // On a chain without MED the same bytes are not a release; truncated ones never are.
        assert!(DoctorRelease::from_bytes(&bytes, false).is_err());
        assert!(DoctorRelease::from_bytes(&bytes[..bytes.len() - 1], true).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(DoctorRelease::from_bytes(&trailing, true).is_err());
    }
}
