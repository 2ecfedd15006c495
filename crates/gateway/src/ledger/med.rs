//! [`MedLedger`]: record releases on the MED chain (S3-release), final once SUP checkpoints
//! them (S3-supervise).
//!
//! The hospital's side of the two-level aggregation: each doctor's tx_mr is checked against
//! the doctor's BLS key on SUP before it is accepted, and so is each patient's entry EEE
//! against the patient's (S3-entry); releases and entries are collected for a short window
//! ([`MED_BATCH_WINDOW`] or [`MED_BATCH_ITEMS`], whichever comes first), sealed into one batch
//! with the hospital's own signature over TX_mr (`aggregate::seal_batch`, the hospital's key
//! being the vouching key of the gateway's identity key) and handed to the node's MED pool. A
//! release returns once SUP holds the record — which it imports only from a checkpointed
//! Mblock — with the Mblock and the SUP height that checkpointed it; an entry returns once it is
//! in the pool, and [`MedLedger`]'s `entry_status` follows it to SUP's `entry/<id>`.
//!
//! Filing again is safe: a record SUP already holds is returned at once, one already on MED is
//! waited for, and a batch that vanished (its Mblock reorganised away before a checkpoint, or
//! the pool lost it) is submitted again; SUP imports an htxM once.

use super::{
    Checkpointed, ConsortiumLedger, DoctorRelease, EntryStatus, EntryTicket, LedgerError,
    MedRelease, ProvenRecord, RecordLedger, Released,
};
use medchain_client::{Client, ClientError, StateQuery, WaitPolicy, keys::address_of, med::MedApi};
use medchain_med::aggregate::{
    SignerKeys, SignerRefusal, seal_batch, verify_entry, verify_release,
};
use medchain_state::values::RecordOrigin;
use medchain_types::{
    Address, BlsPublicKey, BlsSignature, ContentHash, EntryId, Hash32, PrivateKey, RecordId, Role,
    Uri,
    emergency::{BlsVouchingKey, vouching_key_from},
    med::{SignedEntry, TxMr},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, mpsc},
    thread,
    time::{Duration, Instant},
};

/// How long the hospital collects releases before sealing a batch.
pub const MED_BATCH_WINDOW: Duration = Duration::from_millis(250);

/// Most releases and entries in one sealed batch (a batch is sealed at once when it is full;
/// at most `MAX_BATCH_ENTRIES` of them can be entries, so entries never overflow it).
pub const MED_BATCH_ITEMS: usize = 64;

/// How long a submitted release may be absent from the node's MED chain before it is submitted
/// again (several Mblock intervals: a batch waits in the pool until a miner includes it).
const RESUBMIT_AFTER: Duration = Duration::from_secs(30);

/// How long a release may stay absent from SUP after the node reports its Mblock checkpointed
/// before it counts as refused by SUP's release rules (SUP's certified state trails
/// finalization slightly).
const IMPORT_GRACE: Duration = Duration::from_secs(10);

/// How often, and after how long, a batch the node throttled (429) is submitted again before
/// the releases are reported not submitted (their records stay written).
const THROTTLED_RETRIES: usize = 3;
const THROTTLED_PAUSE: Duration = Duration::from_secs(1);

/// What a hospital batch carries: doctors' releases and patients' entries.
#[derive(Clone)]
enum BatchItem {
    Release(MedRelease),
    Entry(SignedEntry),
}

/// An item waiting for its batch, and where to say how submitting it went.
struct Queued {
    item: BatchItem,
    submitted: mpsc::Sender<Result<(), LedgerError>>,
}

/// The MED chain as the record ledger; storage pointers and attestations go to SUP through
/// the [`ConsortiumLedger`] it shares with the gateway's other transactions (one nonce
/// sequence per key).
pub struct MedLedger {
    consortium: Arc<ConsortiumLedger>,
    med: MedApi,
    wait: WaitPolicy,
    queue: mpsc::Sender<Queued>,
    signers: ChainSigners,
    /// The entries this ledger submitted and not yet saw final, with when they were last
    /// submitted: one absent from MED for [`RESUBMIT_AFTER`] is submitted again when its
    /// status is asked.
    entries: Mutex<HashMap<EntryId, (SignedEntry, Instant)>>,
}

impl MedLedger {
    /// A MED ledger for the hospital whose identity key is `hospital`, and the thread that
    /// seals and submits its batches. Miners accept the batches only once SUP holds the
    /// hospital's vouching key (with its proof of possession); the gateway registers it when it
    /// starts.
    pub fn new(
        consortium: Arc<ConsortiumLedger>,
        hospital: &PrivateKey,
        wait: WaitPolicy,
    ) -> Result<Self, LedgerError> {
        let client = consortium.client().clone();
        let address = address_of(hospital);
        let vouching = vouching_key_from(hospital);
        let med = MedApi::new(client.node.clone());
        let signers = ChainSigners {
            client: client.clone(),
            hospital: (address, vouching.public()),
        };
        let (queue, queued) = mpsc::channel();
        let sealer = Sealer {
            med: med.clone(),
            signers: signers.clone(),
            hospital: vouching,
            address,
        };
        thread::Builder::new()
            .name("med-batches".into())
            .spawn(move || sealer.run(&queued))
            .map_err(|error| {
                LedgerError::Unavailable(format!("cannot start the batch sealer: {error}"))
            })?;
        Ok(Self {
            consortium,
            med,
            wait,
            queue,
            signers,
            entries: Mutex::default(),
        })
    }

    fn client(&self) -> &Client {
        self.consortium.client()
    }

    /// Where the record is final, if SUP holds it: a mined record with its Mblock's checkpoint,
    /// or a record released on SUP itself (`None` there).
    fn final_on_sup(&self, record: &RecordId) -> Result<Option<Released>, LedgerError> {
        let Some(held) = self.client().read(&StateQuery::record(record))?.value else {
            return Ok(None);
        };
        let med = match held.origin {
            RecordOrigin::Mined { mblock, .. } => {
                let checkpointed = self
                    .client()
                    .read(&StateQuery::med_header(&mblock))?
                    .value
                    .ok_or(LedgerError::NotImported {
                        record: *record,
                        mblock,
                    })?;
                Some(Checkpointed {
                    mblock,
                    mblock_height: checkpointed.header.height,
                    checkpointed_at: checkpointed.checkpointed_at,
                })
            }
            RecordOrigin::Signed { .. } => None,
        };
        Ok(Some(Released {
            record: *record,
            med,
        }))
    }

    /// The doctor's signature checked against its key on SUP, then the release queued for the
    /// next batch; returns once the batch is in the node's pool.
    fn submit(&self, release: &MedRelease) -> Result<(), LedgerError> {
        let chain_id = self.client().light.chain_id();
        let doctor = &release.tx.doctor;
        let key = registered_key(self.client(), doctor)?.ok_or_else(|| no_key(doctor))?;
        if !verify_release(chain_id, &release.tx, &key, &release.signature) {
            return Err(LedgerError::Refused(format!(
                "the signature of doctor {} does not verify over this tx_mr",
                release.tx.doctor
            )));
        }
        self.enqueue(BatchItem::Release(release.clone()))
    }

    /// Queues an item for the next batch; returns once the batch is in the node's pool.
    fn enqueue(&self, item: BatchItem) -> Result<(), LedgerError> {
        let (submitted, outcome) = mpsc::channel();
        self.queue
            .send(Queued { item, submitted })
            .map_err(|_| LedgerError::Unavailable("the batch sealer has stopped".into()))?;
        outcome
            .recv()
            .map_err(|_| LedgerError::Unavailable("the batch sealer has stopped".into()))?
    }

    /// Queues an entry (again) and remembers when, for [`MedLedger::entry_status`].
    fn submit_entry(&self, id: EntryId, entry: &SignedEntry) -> Result<(), LedgerError> {
        self.enqueue(BatchItem::Entry(entry.clone()))?;
        self.pending_entries()
            .insert(id, (entry.clone(), Instant::now()));
        Ok(())
    }

    fn pending_entries(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<EntryId, (SignedEntry, Instant)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An entry this ledger submitted that has been absent from MED for [`RESUBMIT_AFTER`]
    /// (its batch left the pool unmined, or its Mblock was reorganised away), submitted again.
    fn resubmit_entry_if_lost(&self, id: &EntryId) {
        let lost = self
            .pending_entries()
            .get(id)
            .filter(|(_, submitted)| submitted.elapsed() >= RESUBMIT_AFTER)
            .map(|(entry, _)| entry.clone());
        if let Some(entry) = lost
            && let Err(error) = self.submit_entry(*id, &entry)
        {
            tracing::warn!(entry = %id, %error, "resubmitting a MED entry failed; still pending");
        }
    }

    /// Waits until SUP holds the record, submitting it again if it stays absent from MED.
    fn wait_final(&self, release: &MedRelease, record: &RecordId) -> Result<Released, LedgerError> {
        let deadline = Instant::now() + self.wait.timeout;
        let mut pause = self.wait.first_interval;
        let mut seen_on_med = Instant::now();
        let mut checkpointed_since = None;
        let mut mblock_height = None;
        loop {
            if let Some(released) = self.final_on_sup(record)? {
                return Ok(released);
            }
            match self.med.record(record)? {
                Some(view) => {
                    // Its Mblock proven checkpointed on SUP while the record is proven absent
                    // there (the node's own `checkpointed` flag is neither proof nor, since it
                    // means "imported", the question): SUP's certified state can trail a
                    // checkpoint by a block or two, so only a lasting absence means SUP's
                    // release rules refused it.
                    let mblock = view.header.hash();
                    if self
                        .client()
                        .read(&StateQuery::med_header(&mblock))?
                        .value
                        .is_some()
                    {
                        let since = *checkpointed_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= IMPORT_GRACE {
                            return Err(LedgerError::NotImported {
                                record: *record,
                                mblock,
                            });
                        }
                    }
                    mblock_height = Some(view.header.height);
                    seen_on_med = Instant::now();
                }
                None if seen_on_med.elapsed() >= RESUBMIT_AFTER => {
                    mblock_height = None;
                    // Submitted once already: other nodes may still mine it, so a refusal now
                    // (a lagging node, a full pool) is no reason to give the record up — keep
                    // waiting, and report it pending if the wait runs out.
                    if let Err(error) = self.submit(release) {
                        tracing::warn!(%record, %error, "resubmitting a MED release failed; still waiting for it");
                    }
                    seen_on_med = Instant::now();
                }
                None => {}
            }
            if Instant::now() >= deadline {
                return Err(LedgerError::PendingOnMed {
                    record: *record,
                    mblock_height,
                });
            }
            thread::sleep(pause);
            pause = (pause * 2).min(self.wait.max_interval);
        }
    }
}

impl RecordLedger for MedLedger {
    fn release(&self, release: &DoctorRelease) -> Result<Released, LedgerError> {
        let release = match release {
            // SUP still takes record.release: a doctor's transaction is filed there as before.
            DoctorRelease::Transaction(_) => return self.consortium.release(release),
            DoctorRelease::Med(release) => release,
        };
        let record = release.tx.record_id(self.client().light.chain_id());
        if let Some(released) = self.final_on_sup(&record)? {
            return Ok(released);
        }
        if self.med.record(&record)?.is_none() {
            self.submit(release)?;
        }
        self.wait_final(release, &record)
    }

    fn store_pointer(
        &self,
        custodian: &PrivateKey,
        record: RecordId,
        blob_hash: ContentHash,
        location: Uri,
    ) -> Result<(), LedgerError> {
        self.consortium
            .store_pointer(custodian, record, blob_hash, location)
    }

    fn record(&self, id: &RecordId) -> Result<Option<ProvenRecord>, LedgerError> {
        self.consortium.record(id)
    }

    fn attest(
        &self,
        hospital: &PrivateKey,
        record: RecordId,
        commitment: Hash32,
    ) -> Result<(), LedgerError> {
        self.consortium.attest(hospital, record, commitment)
    }

    fn attested(&self, record: &RecordId) -> Result<Option<Hash32>, LedgerError> {
        self.consortium.attested(record)
    }

    fn file_entry(&self, entry: &SignedEntry) -> Result<EntryTicket, LedgerError> {
        let chain_id = self.client().light.chain_id();
        verify_entry(chain_id, entry, &self.signers)
            .map_err(|error| LedgerError::Refused(error.to_string()))?;
        let id = entry.entry.entry_id(chain_id);
        let held = self.client().read(&StateQuery::entry(&id))?.value;
        let submitted = held.is_none() && self.med.entry_status(&id)?.is_none();
        if submitted {
            self.submit_entry(id, entry)?;
        }
        Ok(EntryTicket {
            entry: id,
            submitted,
        })
    }

    fn entry_status(&self, id: &EntryId) -> Result<EntryStatus, LedgerError> {
        // The node's word says where to look; finality is read from SUP, verified, in this
        // order: whether SUP checkpointed the entry's Mblock, then SUP's `entry/<id>`. SUP
        // imports an entry in the very block that checkpoints its Mblock, and each verified
        // read is at a finalized height no lower than the one before, so an entry absent after
        // its Mblock was seen checkpointed was refused at import.
        let known = self.med.entry_status(id)?;
        let mined = known
            .as_ref()
            .and_then(|view| view.mblock.as_ref())
            .map(|summary| Ok::<_, LedgerError>((mblock_hash(&summary.hash)?, summary.height)))
            .transpose()?;
        let checkpointed = match &mined {
            Some((mblock, _)) => self
                .client()
                .read(&StateQuery::med_header(mblock))?
                .value
                .is_some(),
            None => false,
        };
        let held = self.client().read(&StateQuery::entry(id))?.value;
        let status = match (held, mined) {
            (Some(held), Some((mblock, mblock_height))) => EntryStatus::Final(Checkpointed {
                mblock,
                mblock_height,
                checkpointed_at: held.filed_at,
            }),
            // Final on SUP after the node was asked: the next question finds its Mblock.
            (Some(_), None) => EntryStatus::Pending {
                mblock_height: None,
            },
            (None, Some((mblock, _))) if checkpointed => EntryStatus::Refused { mblock },
            (None, Some((_, mblock_height))) => EntryStatus::Pending {
                mblock_height: Some(mblock_height),
            },
            (None, None) => EntryStatus::Pending {
                mblock_height: None,
            },
        };
        match status {
            EntryStatus::Pending { .. } if known.is_some() => {
                // In the node's pool or on MED: the clock of absence starts again.
                if let Some((_, seen)) = self.pending_entries().get_mut(id) {
                    *seen = Instant::now();
                }
            }
            EntryStatus::Pending { .. } => self.resubmit_entry_if_lost(id),
            EntryStatus::Final(_) | EntryStatus::Refused { .. } => {
                self.pending_entries().remove(id);
            }
        }
        Ok(status)
    }
}

/// The signers' keys as SUP holds them, through verified reads: a doctor's registered
/// vouching key (the gateway checked before that the doctor is its own and practises), and the
/// hospital's own key.
#[derive(Clone)]
struct ChainSigners {
    client: Client,
    hospital: (Address, BlsPublicKey),
}

impl SignerKeys for ChainSigners {
    fn doctor(&self, doctor: &Address, _hospital: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        registered_key(&self.client, doctor)
            .map_err(|error| SignerRefusal(format!("cannot read doctor {doctor}'s key: {error}")))?
            .ok_or_else(|| SignerRefusal(no_key(doctor).to_string()))
    }

    fn hospital(&self, hospital: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        if *hospital == self.hospital.0 {
            Ok(self.hospital.1)
        } else {
            Err(SignerRefusal(format!("{hospital} is not this hospital")))
        }
    }

    /// An enrolled patient's registered key: another role's key never signs an entry.
    fn patient(&self, patient: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        let unreadable =
            |error: ClientError| SignerRefusal(format!("cannot read patient {patient}: {error}"));
        let role = match self
            .client
            .read(&StateQuery::identity_of(patient))
            .map_err(unreadable)?
            .value
        {
            Some(name) => self
                .client
                .read(&StateQuery::identity(&name))
                .map_err(unreadable)?
                .value
                .map(|identity| identity.role),
            None => None,
        };
        if role != Some(Role::Patient) {
            return Err(SignerRefusal(format!(
                "{patient} is not an enrolled patient (`medchain identity enrol --role patient`)"
            )));
        }
        registered_key(&self.client, patient)
            .map_err(unreadable)?
            .ok_or_else(|| {
                SignerRefusal(format!(
                    "patient {patient} has no BLS key on chain (`medchain patient entry` registers it)"
                ))
            })
    }
}

/// A signer's registered vouching key, proven (`None`: proven absent).
fn registered_key(client: &Client, signer: &Address) -> Result<Option<BlsPublicKey>, ClientError> {
    let registered = client.read(&StateQuery::vouching_key(signer))?.value;
    Ok(registered.map(|registered| registered.key))
}

/// The refusal of a doctor without a registered key.
fn no_key(doctor: &Address) -> LedgerError {
    LedgerError::Refused(format!(
        "doctor {doctor} has no BLS key on chain (`medchain doctor write` registers it)"
    ))
}

/// The thread that collects releases and entries into batches, seals and submits them.
struct Sealer {
    med: MedApi,
    signers: ChainSigners,
    hospital: BlsVouchingKey,
    address: Address,
}

impl Sealer {
    /// Runs until every [`MedLedger`] handle is dropped.
    fn run(&self, queue: &mpsc::Receiver<Queued>) {
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            let closes = Instant::now() + MED_BATCH_WINDOW;
            while batch.len() < MED_BATCH_ITEMS {
                let left = closes.saturating_duration_since(Instant::now());
                match queue.recv_timeout(left) {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.seal_and_submit(batch);
        }
    }

    /// Seals the items into one batch and submits it; tells each item's caller. A batch the
    /// hospital cannot seal (a signer's key changed since its item was checked) is sealed item
    /// by item, so one bad release or entry does not hold the others back.
    fn seal_and_submit(&self, batch: Vec<Queued>) {
        let items: Vec<_> = batch.iter().map(|queued| queued.item.clone()).collect();
        match self.seal(items) {
            Ok(()) => {
                for queued in batch {
                    let _ = queued.submitted.send(Ok(()));
                }
            }
            Err(_) if batch.len() > 1 => {
                for queued in batch {
                    let alone = vec![queued.item];
                    let _ = queued.submitted.send(self.seal(alone));
                }
            }
            Err(error) => {
                for queued in batch {
                    let _ = queued
                        .submitted
                        .send(Err(LedgerError::Refused(error.to_string())));
                }
            }
        }
    }

    fn seal(&self, items: Vec<BatchItem>) -> Result<(), LedgerError> {
        let chain_id = self.signers.client.light.chain_id();
        let (releases, entries) = split_items(items);
        let sealed = seal_batch(
            chain_id,
            &self.hospital,
            self.address,
            releases,
            entries,
            &self.signers,
        )
        .map_err(|error| LedgerError::Refused(error.to_string()))?;
        let root = sealed.batch.root(chain_id);
        tracing::info!(
            batch = %hex_short(&root),
            releases = sealed.batch.txs.len(),
            entries = sealed.batch.entries.len(),
            "MED batch sealed and submitted"
        );
        let mut submitted = self.med.submit_batch(&sealed);
        // Throttled (429: the node verifies no more of this hospital's batches just now): wait
        // out a few of its hints before reporting it.
        for _ in 0..THROTTLED_RETRIES {
            if !matches!(submitted, Err(ClientError::Api { status: 429, .. })) {
                break;
            }
            thread::sleep(THROTTLED_PAUSE);
            submitted = self.med.submit_batch(&sealed);
        }
        match submitted {
            Ok(_) => Ok(()),
            // Submitted again while the first is already mined: nothing to do.
            Err(ClientError::Api { ref body, .. }) if body.error == "already_on_med" => Ok(()),
            // The node is throttling, full or failing (429, 503, 500): the batch may be
            // admitted later, and a release resubmitted after a first acceptance may be mined
            // elsewhere — never a refusal, which would discard the written record.
            Err(
                error @ ClientError::Api {
                    status: 429 | 500..,
                    ..
                },
            ) => Err(LedgerError::Chain(error)),
            Err(error @ ClientError::Api { .. }) => Err(LedgerError::NotAdmitted(error)),
            Err(other) => Err(LedgerError::Chain(other)),
        }
    }
}

/// An Mblock hash as the node's API spells it (hex).
fn mblock_hash(hex_hash: &str) -> Result<Hash32, LedgerError> {
    let bytes: [u8; 32] = hex::decode(hex_hash)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            LedgerError::Unavailable(format!(
                "the node names an entry's Mblock {hex_hash:?}, not a 32-byte hex hash"
            ))
        })?;
    Ok(Hash32::from(bytes))
}

/// A batch's items as `seal_batch` takes them: the releases, then the entries.
fn split_items(items: Vec<BatchItem>) -> (Vec<(TxMr, BlsSignature)>, Vec<SignedEntry>) {
    let mut releases = Vec::new();
    let mut entries = Vec::new();
    for item in items {
        match item {
            BatchItem::Release(release) => releases.push((release.tx, release.signature)),
            BatchItem::Entry(entry) => entries.push(entry),
        }
    }
    (releases, entries)
}

/// The first bytes of a hash, for logs.
fn hex_short(hash: &Hash32) -> String {
    hex::encode(&hash.as_ref()[..6])
}
