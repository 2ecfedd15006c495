//! [`MedLedger`]: record releases on the MED chain (S3-release), final once SUP checkpoints
//! them (S3-supervise).
//!
//! The hospital's side of the two-level aggregation: each doctor's tx_mr is checked against
//! the doctor's BLS key on SUP before it is accepted, releases are collected for a short
//! window ([`MED_BATCH_WINDOW`] or [`MED_BATCH_RELEASES`], whichever comes first), sealed into
//! one batch with the hospital's own signature over TX_mr (`aggregate::seal_batch`, the
//! hospital's key being the vouching key of the gateway's identity key) and handed to the
//! node's MED pool. A release returns once SUP holds the record — which it imports only from a
//! checkpointed Mblock — with the Mblock and the SUP height that checkpointed it.
//!
//! Filing again is safe: a record SUP already holds is returned at once, one already on MED is
//! waited for, and a batch that vanished (its Mblock reorganised away before a checkpoint, or
//! the pool lost it) is submitted again; SUP imports an htxM once.

use super::{
    Checkpointed, ConsortiumLedger, DoctorRelease, LedgerError, MedRelease, ProvenRecord,
    RecordLedger, Released,
};
use crate::service::now_ms;
use medchain_client::{Client, ClientError, StateQuery, WaitPolicy, keys::address_of, med::MedApi};
use medchain_med::aggregate::{SignerKeys, SignerRefusal, seal_batch, verify_release};
use medchain_med::pow::{MEDIAN_TIME_SPAN, median_time_past};
use medchain_state::values::RecordOrigin;
use medchain_types::{
    Address, BlsPublicKey, BlsSignature, ContentHash, Hash32, PrivateKey, RecordId, Role, Uri,
    emergency::{BlsVouchingKey, vouching_key_from},
    med::{RELEASE_VALIDITY_MS, TxMr},
};
use std::{
    sync::{Arc, mpsc},
    thread,
    time::{Duration, Instant},
};

/// How long the hospital collects releases before sealing a batch.
pub const MED_BATCH_WINDOW: Duration = Duration::from_millis(250);

/// Most releases in one sealed batch (a batch is sealed at once when it is full).
pub const MED_BATCH_RELEASES: usize = 64;

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

/// A release waiting for its batch, and where to say how submitting it went.
struct Queued {
    release: MedRelease,
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
            signers,
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
        let key = doctor_key(self.client(), doctor)?.ok_or_else(|| no_key(doctor))?;
        if !verify_release(chain_id, &release.tx, &key, &release.signature) {
            return Err(LedgerError::Refused(format!(
                "the signature of doctor {} does not verify over this tx_mr",
                release.tx.doctor
            )));
        }
        let (submitted, outcome) = mpsc::channel();
        self.queue
            .send(Queued {
                release: release.clone(),
                submitted,
            })
            .map_err(|_| LedgerError::Unavailable("the batch sealer has stopped".into()))?;
        outcome
            .recv()
            .map_err(|_| LedgerError::Unavailable("the batch sealer has stopped".into()))?
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
                None if past_validity(&release.tx, now_ms()) => {
                    // Miners refuse it now; whether one that SUP can still checkpoint might
                    // hold it is decided by SUP's newest checkpoint.
                    mblock_height = None;
                    if self.outlived(&release.tx)? {
                        // Read after the checkpoint: a release imported by then is found.
                        if let Some(released) = self.final_on_sup(record)? {
                            return Ok(released);
                        }
                        return Err(LedgerError::Expired {
                            record: *record,
                            issued_at_ms: release.tx.issued_at_ms,
                        });
                    }
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

impl MedLedger {
    /// Whether no Mblock SUP can still checkpoint may hold `tx`: every Mblock of a later
    /// checkpoint descends from SUP's newest checkpointed one, so it is stamped after the
    /// median time past of that one's window (a median never falls as the window slides on:
    /// each newer timestamp is above it); past `RELEASE_VALIDITY_MS` after `tx` was issued,
    /// `check_releases` refuses `tx` in all of them. Only proven headers count, and a window
    /// shorter than the median's span (the chain's first Mblocks) never decides.
    fn outlived(&self, tx: &TxMr) -> Result<bool, LedgerError> {
        let Some(tip) = self.client().read(&StateQuery::med_tip())?.value else {
            return Ok(false);
        };
        let mut window = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut next = Some(tip.hash);
        while window.len() < MEDIAN_TIME_SPAN
            && let Some(hash) = next
        {
            let Some(checkpointed) = self.client().read(&StateQuery::med_header(&hash))?.value
            else {
                break;
            };
            window.push((
                checkpointed.header.timestamp_ms,
                checkpointed.header.difficulty,
            ));
            next = Some(checkpointed.header.parent);
        }
        Ok(outlives(tx, window))
    }
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
        // A release past its validity is refused by every node: whether it is still final
        // somewhere, refused or expired is `wait_final`'s to find out, never a refusal that
        // would discard the record.
        if !past_validity(&release.tx, now_ms()) && self.med.record(&record)?.is_none() {
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
        doctor_key(&self.client, doctor)
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

    /// An enrolled patient's registered key, proven (S3-entry): the role is read with it, so
    /// a doctor's or hospital's key never passes for a patient's.
    fn patient(&self, patient: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        let unreadable =
            |error: ClientError| SignerRefusal(format!("cannot read patient {patient}: {error}"));
        let name = self
            .client
            .read(&StateQuery::identity_of(patient))
            .map_err(unreadable)?
            .value
            .ok_or_else(|| SignerRefusal(format!("{patient} is not enrolled")))?;
        let identity = self
            .client
            .read(&StateQuery::identity(&name))
            .map_err(unreadable)?
            .value
            .ok_or_else(|| SignerRefusal(format!("{patient} is not enrolled")))?;
        if identity.role != Role::Patient {
            return Err(SignerRefusal(format!(
                "{patient} is not a patient: only patients file entries"
            )));
        }
        let registered = self
            .client
            .read(&StateQuery::vouching_key(patient))
            .map_err(unreadable)?
            .value;
        registered.map(|registered| registered.key).ok_or_else(|| {
            SignerRefusal(format!(
                "patient {patient} has no BLS key on chain (`medchain patient entry` registers it)"
            ))
        })
    }
}

/// The doctor's registered vouching key, proven (`None`: proven absent).
fn doctor_key(client: &Client, doctor: &Address) -> Result<Option<BlsPublicKey>, ClientError> {
    let registered = client.read(&StateQuery::vouching_key(doctor))?.value;
    Ok(registered.map(|registered| registered.key))
}

/// The refusal of a doctor without a registered key.
fn no_key(doctor: &Address) -> LedgerError {
    LedgerError::Refused(format!(
        "doctor {doctor} has no BLS key on chain (`medchain doctor write` registers it)"
    ))
}

/// The thread that collects releases into batches, seals and submits them.
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
            while batch.len() < MED_BATCH_RELEASES {
                let left = closes.saturating_duration_since(Instant::now());
                match queue.recv_timeout(left) {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.seal_and_submit(batch);
        }
    }

    /// Seals the releases into one batch and submits it; tells each release's caller. A batch
    /// the hospital cannot seal (a signer's key changed since its release was checked) is
    /// sealed release by release, so one bad release does not hold the others back.
    fn seal_and_submit(&self, batch: Vec<Queued>) {
        let releases: Vec<_> = batch
            .iter()
            .map(|queued| (queued.release.tx.clone(), queued.release.signature))
            .collect();
        match self.seal(releases) {
            Ok(()) => {
                for queued in batch {
                    let _ = queued.submitted.send(Ok(()));
                }
            }
            Err(_) if batch.len() > 1 => {
                for queued in batch {
                    let alone = vec![(queued.release.tx.clone(), queued.release.signature)];
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

    fn seal(&self, releases: Vec<(TxMr, BlsSignature)>) -> Result<(), LedgerError> {
        let chain_id = self.signers.client.light.chain_id();
        let sealed = seal_batch(
            chain_id,
            &self.hospital,
            self.address,
            releases,
            Vec::new(),
            &self.signers,
        )
        .map_err(|error| LedgerError::Refused(error.to_string()))?;
        let root = sealed.batch.root(chain_id);
        tracing::info!(batch = %hex_short(&root), releases = sealed.batch.txs.len(), "MED batch sealed and submitted");
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

/// The first bytes of a hash, for logs.
fn hex_short(hash: &Hash32) -> String {
    hex::encode(&hash.as_ref()[..6])
}
