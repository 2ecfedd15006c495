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
use crate::service::now_ms;
use medchain_api::MedRecordView;
use medchain_client::{Client, ClientError, StateQuery, WaitPolicy, keys::address_of, med::MedApi};
use medchain_med::aggregate::{
    SignerKeys, SignerRefusal, seal_batch, verify_entry, verify_release,
};
use medchain_med::inclusion::{RecordInclusion, verify_inclusion};
use medchain_med::pow::{MEDIAN_TIME_SPAN, median_time_past};
use medchain_state::values::RecordOrigin;
use medchain_types::{
    Address, BlsPublicKey, BlsSignature, ChainId, ContentHash, EntryId, Hash32, PrivateKey,
    RecordId, Role, Uri,
    emergency::{BlsVouchingKey, vouching_key_from},
    med::{RELEASE_VALIDITY_MS, SignedEntry, TxMr},
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
/// again (several Mblock intervals: a batch waits in the pool until a miner includes it). Each
/// further resubmission of the same release waits twice as long, up to [`MAX_RESUBMIT_AFTER`]:
/// the node answers 404 for a release still pooled, and every re-seal is a new batch in every
/// node's pool, counted against the hospital's share.
const RESUBMIT_AFTER: Duration = Duration::from_secs(30);
const MAX_RESUBMIT_AFTER: Duration = Duration::from_secs(8 * 60);

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
    submissions: Submissions,
}

/// The releases this ledger had admitted to the node's pool, and when each may be submitted
/// again. A release once admitted may be pooled or mined on other nodes, so a later
/// submission's failure never refuses it (it ends only as proven `Expired` or `NotImported`).
#[derive(Default)]
struct Submissions {
    admitted: Mutex<HashMap<RecordId, Resubmit>>,
}

/// When an admitted release was last submitted, and how long it waits before the next time.
#[derive(Clone, Copy)]
struct Resubmit {
    at: Instant,
    after: Duration,
}

impl Submissions {
    fn admitted(&self) -> std::sync::MutexGuard<'_, HashMap<RecordId, Resubmit>> {
        self.admitted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `record` was admitted to the pool by this ledger.
    fn was_admitted(&self, record: &RecordId) -> bool {
        self.admitted().contains_key(record)
    }

    /// Whether `record` may be submitted now: never admitted, or its wait is over.
    fn due(&self, record: &RecordId, now: Instant) -> bool {
        self.admitted()
            .get(record)
            .is_none_or(|last| now.duration_since(last.at) >= last.after)
    }

    /// `record` was just submitted (admitted, or tried again after an admission): the next
    /// submission waits twice as long as the last.
    fn submitted(&self, record: RecordId, now: Instant) {
        let mut admitted = self.admitted();
        let after = admitted.get(&record).map_or(RESUBMIT_AFTER, |last| {
            (last.after * 2).min(MAX_RESUBMIT_AFTER)
        });
        admitted.insert(record, Resubmit { at: now, after });
    }

    /// `record` is final or ended: nothing to resubmit any more.
    fn forget(&self, record: &RecordId) {
        self.admitted().remove(record);
    }
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
            submissions: Submissions::default(),
            signers,
            entries: Mutex::default(),
        })
    }

    fn client(&self) -> &Client {
        self.consortium.client()
    }

    /// Where the record is final, if SUP holds it, and the SUP height that answer is proven
    /// at (`at`, or the node's newest): a mined record with its Mblock's checkpoint read at
    /// that same height, or a record released on SUP itself (`None` there).
    fn final_on_sup(
        &self,
        record: &RecordId,
        at: Option<u64>,
    ) -> Result<(Option<Released>, u64), LedgerError> {
        let read = self
            .client()
            .read(&pinned(StateQuery::record(record), at))?;
        let height = read.at.header.height;
        let Some(held) = read.value else {
            return Ok((None, height));
        };
        let med = match held.origin {
            RecordOrigin::Mined { mblock, .. } => {
                // SUP imports a release only from an Mblock it checkpoints, in the same state
                // transition: at one height a record without its checkpoint is a node
                // answering from two states — an error to retry, never an end.
                let checkpointed = self
                    .client()
                    .read(&StateQuery::med_header(&mblock).at_height(height))?
                    .value
                    .ok_or_else(|| {
                        LedgerError::Unavailable(format!(
                            "SUP holds record {record} as mined in Mblock {mblock} but not that Mblock's checkpoint at height {height}"
                        ))
                    })?;
                Some(Checkpointed {
                    mblock,
                    mblock_height: checkpointed.header.height,
                    checkpointed_at: checkpointed.checkpointed_at,
                })
            }
            RecordOrigin::Signed { .. } => None,
        };
        Ok((
            Some(Released {
                record: *record,
                med,
            }),
            height,
        ))
    }

    /// Whether SUP refused to import the record the node places in `view`: the release's
    /// inclusion in that Mblock is proven from the header (so the node cannot name just any
    /// checkpointed Mblock), and at ONE SUP height the Mblock is proven checkpointed and the
    /// record proven absent. `None` when SUP holds the record after all.
    fn refused_by_sup(
        &self,
        record: &RecordId,
        view: &MedRecordView,
    ) -> Result<Option<Verdict>, LedgerError> {
        let mblock = proven_inclusion(self.client().light.chain_id(), record, view)?;
        let (held, height) = self.final_on_sup(record, None)?;
        if let Some(released) = held {
            return Ok(Some(Verdict::Final(released)));
        }
        let checkpointed = self
            .client()
            .read(&StateQuery::med_header(&mblock).at_height(height))?
            .value
            .is_some();
        Ok(checkpointed.then_some(Verdict::Refused { mblock }))
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

    /// Waits until SUP holds the record, submitting it again if it stays absent from MED while
    /// it can still be mined; ends with [`LedgerError::Expired`] once it never can.
    fn wait_final(&self, release: &MedRelease, record: &RecordId) -> Result<Released, LedgerError> {
        let deadline = Instant::now() + self.wait.timeout;
        let mut pause = self.wait.first_interval;
        let mut seen_on_med = Instant::now();
        let mut checkpointed_since = None;
        let mut mblock_height = None;
        loop {
            if let (Some(released), _) = self.final_on_sup(record, None)? {
                return Ok(released);
            }
            match self.med.record(record)? {
                Some(view) => {
                    // The node's view is only where to look (its `checkpointed` flag is
                    // neither proof nor, since it means "imported", the question); the
                    // refusal must be proven, and last: SUP's certified state can trail a
                    // checkpoint by a block or two.
                    match self.refused_by_sup(record, &view)? {
                        Some(Verdict::Final(released)) => return Ok(released),
                        Some(Verdict::Refused { mblock }) => {
                            let since = *checkpointed_since.get_or_insert_with(Instant::now);
                            if since.elapsed() >= IMPORT_GRACE {
                                return Err(LedgerError::NotImported {
                                    record: *record,
                                    mblock,
                                });
                            }
                        }
                        None => checkpointed_since = None,
                    }
                    mblock_height = Some(view.header.height);
                    seen_on_med = Instant::now();
                }
                None if past_validity(&release.tx, now_ms()) => {
                    // Miners refuse it now; whether one that SUP can still checkpoint might
                    // hold it is decided by SUP's newest checkpoint.
                    mblock_height = None;
                    if let Some(height) = self.outlived(&release.tx)? {
                        // The record's absence read at the height the checkpoint's window was
                        // proven at: imported by then, it is found.
                        if let (Some(released), _) = self.final_on_sup(record, Some(height))? {
                            return Ok(released);
                        }
                        return Err(LedgerError::Expired {
                            record: *record,
                            issued_at_ms: release.tx.issued_at_ms,
                        });
                    }
                }
                None if seen_on_med.elapsed() >= RESUBMIT_AFTER
                    && self.submissions.due(record, Instant::now()) =>
                {
                    mblock_height = None;
                    // Submitted once already: other nodes may still mine it, so a refusal now
                    // (a lagging node, a full pool) is no reason to give the record up — keep
                    // waiting, and report it pending if the wait runs out.
                    self.resubmit(release, record);
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

impl MedLedger {
    /// Submits a release admitted before again; a failure is logged, never a refusal.
    fn resubmit(&self, release: &MedRelease, record: &RecordId) {
        self.submissions.submitted(*record, Instant::now());
        if let Err(error) = self.submit(release) {
            tracing::warn!(%record, %error, "resubmitting a MED release failed; still waiting for it");
        }
    }

    /// The SUP height at which no Mblock SUP can still checkpoint may hold `tx`, if that is
    /// proven: every Mblock of a later
    /// checkpoint descends from SUP's newest checkpointed one, so it is stamped after the
    /// median time past of that one's window (a median never falls as the window slides on:
    /// each newer timestamp is above it); past `RELEASE_VALIDITY_MS` after `tx` was issued,
    /// `check_releases` refuses `tx` in all of them. Only proven headers count, and a window
    /// shorter than the median's span (the chain's first Mblocks) never decides. The tip and
    /// its window are read at one SUP height, the one returned.
    fn outlived(&self, tx: &TxMr) -> Result<Option<u64>, LedgerError> {
        let read = self.client().read(&StateQuery::med_tip())?;
        let height = read.at.header.height;
        let Some(tip) = read.value else {
            return Ok(None);
        };
        let mut window = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut next = Some(tip.hash);
        while window.len() < MEDIAN_TIME_SPAN
            && let Some(hash) = next
        {
            let Some(checkpointed) = self
                .client()
                .read(&StateQuery::med_header(&hash).at_height(height))?
                .value
            else {
                break;
            };
            window.push((
                checkpointed.header.timestamp_ms,
                checkpointed.header.difficulty,
            ));
            next = Some(checkpointed.header.parent);
        }
        Ok(outlives(tx, window).then_some(height))
    }
}

/// What SUP's state at one height says of a release proven in a checkpointed Mblock.
enum Verdict {
    /// SUP holds it.
    Final(Released),
    /// SUP checkpointed its Mblock without importing it.
    Refused { mblock: Hash32 },
}

/// `query` pinned to `height` when one is given.
fn pinned<V>(query: StateQuery<V>, height: Option<u64>) -> StateQuery<V> {
    match height {
        Some(height) => query.at_height(height),
        None => query,
    }
}

/// The Mblock the node's `view` proves `record` in: the release at its index under the
/// header's `tx_root`, the Mblock being the header's hash. Anything else is the node's word,
/// which ends nothing.
fn proven_inclusion(
    chain_id: &ChainId,
    record: &RecordId,
    view: &MedRecordView,
) -> Result<Hash32, LedgerError> {
    let unproven = |reason: String| {
        LedgerError::Unavailable(format!(
            "the node places record {record} in Mblock {} without proving it: {reason}",
            view.header.hash()
        ))
    };
    let inclusion = RecordInclusion {
        header: view.header.clone(),
        index: view.index,
        tx: view.tx.clone(),
        proof: hex::decode(&view.proof).map_err(|error| unproven(error.to_string()))?,
    };
    let proven =
        verify_inclusion(chain_id, &inclusion).map_err(|error| unproven(error.to_string()))?;
    if proven != *record {
        return Err(unproven(format!("the proof is of record {proven}")));
    }
    Ok(view.header.hash())
}

/// Whether the checkpoint whose window (`(timestamp, difficulty)`, newest first) is
/// `newest_first` outlives `tx`: its median time past is past `tx`'s validity. A window
/// shorter than the median's span never decides.
fn outlives(tx: &TxMr, mut newest_first: Vec<(u64, u64)>) -> bool {
    if newest_first.len() < MEDIAN_TIME_SPAN {
        return false;
    }
    newest_first.reverse();
    past_validity(tx, median_time_past(&newest_first))
}

/// Whether a release issued as `tx` says is no longer valid in an Mblock stamped `time_ms`.
fn past_validity(tx: &TxMr, time_ms: u64) -> bool {
    tx.issued_at_ms.saturating_add(RELEASE_VALIDITY_MS) < time_ms
}

#[cfg(test)]
mod expiry_tests {
    use super::*;

    fn issued_at(issued_at_ms: u64) -> TxMr {
        TxMr {
            doctor: Address::from_bytes([1; 32]),
            patient: Address::from_bytes([2; 32]),
            record_hash: ContentHash::of(b"bundle"),
            issued_at_ms,
        }
    }

    #[test]
    fn a_release_expires_once_the_checkpoints_median_time_is_past_its_validity() {
        // Eleven checkpointed Mblocks a second apart, newest first; the newest stamped far
        // ahead does not move the median.
        const START_MS: u64 = 1_700_000_000_000;
        let mut window: Vec<_> = (0..11u64)
            .rev()
            .map(|i| (START_MS + i * 1_000, 1))
            .collect();
        window[0].0 = u64::MAX;
        let median = median_time_past(&window.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(median, START_MS + 5_000);
        let deadline = median - RELEASE_VALIDITY_MS;
        assert!(outlives(&issued_at(deadline - 1), window.clone()));
        assert!(!outlives(&issued_at(deadline), window.clone()));
        // The chain's first Mblocks never decide.
        window.pop();
        assert!(!outlives(&issued_at(0), window));
    }

    /// Review V3: the node's word that a record is in some Mblock ends nothing: the view must
    /// prove the release under that Mblock's header, or the gateway never calls it refused.
    #[test]
    fn a_node_placing_a_record_in_an_mblock_must_prove_it() {
        use medchain_med::inclusion::prove;
        use medchain_types::med::{HospitalBatch, Mblock, MblockBody, MblockHeader, item_root};
        let chain_id = ChainId::new("medchain-test").expect("a chain id");
        let txs = vec![issued_at(1), issued_at(2)];
        let block = Mblock {
            header: MblockHeader {
                height: 1,
                parent: Hash32::from([0u8; 32]),
                tx_root: item_root(&chain_id, &txs, []),
                body_hash: Hash32::from([0u8; 32]),
                timestamp_ms: 1,
                difficulty: 1,
                miner: Address::from_bytes([3; 32]),
                nonce: 0,
            },
            body: MblockBody {
                batches: vec![HospitalBatch {
                    hospital: Address::from_bytes([4; 32]),
                    txs,
                    entries: Vec::new(),
                }],
                signature: None,
            },
        };
        let inclusion = prove(&chain_id, &block, 1).expect("the release at index 1");
        let view = |record: RecordId, proof: String| MedRecordView {
            record,
            header: inclusion.header.clone(),
            index: inclusion.index,
            tx: inclusion.tx.clone(),
            proof,
            checkpointed: true,
        };
        let in_block = issued_at(2).record_id(&chain_id);
        let honest = view(in_block, hex::encode(&inclusion.proof));
        assert_eq!(
            proven_inclusion(&chain_id, &in_block, &honest).expect("proven"),
            block.header.hash()
        );
        // A lying node names a real Mblock for a record that is not in it.
        let elsewhere = issued_at(3).record_id(&chain_id);
        let lie = view(elsewhere, hex::encode(&inclusion.proof));
        assert!(matches!(
            proven_inclusion(&chain_id, &elsewhere, &lie),
            Err(LedgerError::Unavailable(_))
        ));
        let garbled = view(in_block, "00".into());
        assert!(matches!(
            proven_inclusion(&chain_id, &in_block, &garbled),
            Err(LedgerError::Unavailable(_))
        ));
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
        if let (Some(released), _) = self.final_on_sup(&record, None)? {
            self.submissions.forget(&record);
            return Ok(released);
        }
        // A release past its validity is refused by every node: whether it is still final
        // somewhere, refused or expired is `wait_final`'s to find out, never a refusal that
        // would discard the record. One admitted before is submitted again only when its
        // backoff is over, and how that goes never refuses it.
        let now = Instant::now();
        if !past_validity(&release.tx, now_ms())
            && self.submissions.due(&record, now)
            && self.med.record(&record)?.is_none()
        {
            if self.submissions.was_admitted(&record) {
                self.resubmit(release, &record);
            } else {
                self.submit(release)?;
                self.submissions.submitted(record, now);
            }
        }
        let outcome = self.wait_final(release, &record);
        if matches!(
            outcome,
            Ok(_) | Err(LedgerError::Expired { .. } | LedgerError::NotImported { .. })
        ) {
            self.submissions.forget(&record);
        }
        outcome
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
            // `seal` says what kind of failure it was: a throttled, full or failing node is
            // not a refusal, which would discard the written record.
            Err(error) => {
                if let Some(queued) = batch.into_iter().next() {
                    let _ = queued.submitted.send(Err(error));
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
