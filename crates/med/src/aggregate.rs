//! Two-level BLS12-381 aggregation of MED signatures (S3-release, S3-dual).
//!
//! A doctor signs its release tx_mr ([`htxm_message`]) and a patient its encrypted EMR entry
//! EEE ([`entry_message`], S3-entry); the hospital checks each doctor's and patient's
//! signature, signs its batch root TX_mr ([`batch_message`]) and sums everything into one
//! batch signature ([`seal_batch`]); a miner sums the batch signatures of an Mblock into the
//! block's one signature ([`block_signature`]); every MED validator checks that signature
//! against every (key, message) pair of the block at once ([`verify_block`]).
//!
//! Keys are the doctors', patients' and hospitals' vouching keys (commonware's bls12381 MinPk: 48-byte
//! G1 keys, 96-byte G2 signatures), registered on SUP with a proof of possession. Signatures
//! are made with commonware's `sign_message` under [`namespace::MED`]; the aggregate check
//! over distinct messages and signers is blst's `aggregate_verify` (the IETF BLS
//! AggregateVerify), the library under commonware's bls12381, given the exact bytes commonware
//! hashes to the curve (`union_unique(namespace, message)` with the MinPk message DST). The
//! pinned commonware release only verifies aggregates over one message or one signer.

use blst::{BLST_ERROR, min_pk};
use commonware_codec::{Copying, DecodeExt, Encode, FixedSize, Write};
use commonware_cryptography::{
    Verifier as _,
    bls12381::{
        self,
        primitives::{
            ops::aggregate,
            variant::{MinPk, Variant},
        },
    },
};
use commonware_utils::{iter::NonEmpty, union_unique};
use medchain_types::{
    Address, BlsPublicKey, BlsSignature, ChainId, EntryId, Hash32, RecordId,
    emergency::BlsVouchingKey,
    med::{
        EntryMr, HospitalBatch, MAX_BATCH_ENTRIES, MAX_BATCH_TXS, MAX_MBLOCK_BATCHES,
        MAX_MBLOCK_ENTRIES, MAX_MBLOCK_TXS, MAX_MED_ENTRY_BYTES, MblockBody, SignedBatch,
        SignedEntry, TxMr,
    },
    namespace,
};
use std::collections::{HashMap, HashSet, hash_map::Entry};
use std::fmt;

/// Tag of a doctor's release message: keeps it apart from a hospital's batch message.
const RELEASE_TAG: u8 = 0;
/// Tag of a hospital's batch message.
const BATCH_TAG: u8 = 1;
/// Tag of a patient's entry message: no entry signature can pass for a release or a batch
/// signature, whatever the hashes.
const ENTRY_TAG: u8 = 2;

/// What a doctor signs to release `htxm` (a [`TxMr::htxm`]) on `chain_id`.
pub fn htxm_message(chain_id: &ChainId, htxm: &Hash32) -> Vec<u8> {
    tagged_message(RELEASE_TAG, chain_id, htxm)
}

/// What a hospital signs for its batch: `tx_mr_root` is the batch's TX_mr
/// ([`HospitalBatch::root`]).
pub fn batch_message(chain_id: &ChainId, tx_mr_root: &Hash32) -> Vec<u8> {
    tagged_message(BATCH_TAG, chain_id, tx_mr_root)
}

/// What a patient signs to file its entry `hentry` (an [`EntryMr::hentry`]) on `chain_id`
/// (S3-entry).
pub fn entry_message(chain_id: &ChainId, hentry: &Hash32) -> Vec<u8> {
    tagged_message(ENTRY_TAG, chain_id, hentry)
}

fn tagged_message(tag: u8, chain_id: &ChainId, hash: &Hash32) -> Vec<u8> {
    let mut message = vec![tag];
    chain_id.write(&mut message);
    hash.write(&mut message);
    message
}

/// Who may sign on MED and with which key: SUP's identity, licence and revocation state
/// (the state crate implements it over a SUP state at a given time).
pub trait SignerKeys {
    /// The BLS key of `doctor` if it may release records through `hospital` now.
    fn doctor(&self, doctor: &Address, hospital: &Address) -> Result<BlsPublicKey, SignerRefusal>;
    /// The BLS key of `hospital` if it may sign batches.
    fn hospital(&self, hospital: &Address) -> Result<BlsPublicKey, SignerRefusal>;
    /// The BLS key of `patient` if it may file entries (S3-entry): an enrolled patient with a
    /// registered key. Never a doctor's or hospital's key, nor a patient's for them.
    fn patient(&self, patient: &Address) -> Result<BlsPublicKey, SignerRefusal>;
}

/// Why a [`SignerKeys`] refused a signer (unknown, not practising, revoked, no key, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignerRefusal(pub String);

/// The three kinds of MED signers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerRole {
    /// A doctor signing a release.
    Doctor,
    /// A hospital signing a batch.
    Hospital,
    /// A patient signing its entry.
    Patient,
}

impl fmt::Display for SignerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Doctor => "doctor",
            Self::Hospital => "hospital",
            Self::Patient => "patient",
        })
    }
}

/// Why a release, batch or Mblock body is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AggregateError {
    /// A signer may not sign (unknown, revoked, not practising, no registered key, …).
    #[error("{role} {address} may not sign: {refusal}")]
    Signer {
        /// Doctor, hospital or patient.
        role: SignerRole,
        /// The signer's address.
        address: Address,
        /// The reason given by the [`SignerKeys`] (shown in the message, so not a `source`).
        refusal: SignerRefusal,
    },
    /// One doctor's signature over its release does not verify (found by the hospital).
    #[error("release {index} (record {record}) is not validly signed by doctor {doctor}")]
    BadRelease {
        /// Position of the release in the batch.
        index: usize,
        /// The release's record id (its htxM).
        record: RecordId,
        /// The doctor that should have signed it.
        doctor: Address,
    },
    /// A patient's signature over its entry does not verify (found by the gateway or the
    /// hospital).
    #[error("entry {index} ({entry}) is not validly signed by patient {patient}")]
    BadEntry {
        /// Position of the entry in the batch (0 for an entry checked alone).
        index: usize,
        /// The entry's id (its hentry).
        entry: EntryId,
        /// The patient that should have signed it.
        patient: Address,
    },
    /// The aggregate signature does not verify against the batch's or block's pairs.
    #[error("the aggregate signature does not verify")]
    BadSignature,
    /// The input breaks a structural rule.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The same release appears twice.
    #[error("release {0} appears twice")]
    DuplicateRelease(RecordId),
    /// The same entry appears twice.
    #[error("entry {0} appears twice")]
    DuplicateEntry(EntryId),
}

/// A doctor's signature over `tx` (it signs `tx`'s htxM).
pub fn sign_release(chain_id: &ChainId, doctor: &BlsVouchingKey, tx: &TxMr) -> BlsSignature {
    doctor.sign_med(&htxm_message(chain_id, &tx.htxm(chain_id)))
}

/// Whether `signature` is `doctor_key`'s signature over `tx`. False for bytes that are not
/// valid points.
pub fn verify_release(
    chain_id: &ChainId,
    tx: &TxMr,
    doctor_key: &BlsPublicKey,
    signature: &BlsSignature,
) -> bool {
    verify_signature(
        doctor_key,
        &htxm_message(chain_id, &tx.htxm(chain_id)),
        signature,
    )
}

/// Whether `signature` is `key`'s signature over `message` under [`namespace::MED`]. False
/// for bytes that are not valid points.
fn verify_signature(key: &BlsPublicKey, message: &[u8], signature: &BlsSignature) -> bool {
    let (Ok(key), Ok(signature)) = (
        bls12381::PublicKey::decode(Copying(&key.0)),
        bls12381::Signature::decode(Copying(&signature.0)),
    ) else {
        return false;
    };
    key.verify(namespace::MED, message, &signature)
}

/// A batch holds 1 to [`MAX_BATCH_TXS`] releases and [`MAX_BATCH_ENTRIES`] entries, at least
/// one item in all.
fn check_batch_size(releases: usize, entries: usize) -> Result<(), AggregateError> {
    if releases + entries == 0 || releases > MAX_BATCH_TXS || entries > MAX_BATCH_ENTRIES {
        return Err(AggregateError::Malformed(
            "a batch holds 1 item at least, at most 1024 releases and 64 entries",
        ));
    }
    Ok(())
}

/// A patient's signature over its entry (it signs the entry's hentry, S3-entry).
pub fn sign_entry(chain_id: &ChainId, key: &BlsVouchingKey, entry: &EntryMr) -> BlsSignature {
    key.sign_med(&entry_message(chain_id, &entry.hentry(chain_id)))
}

/// The gateway's and hospital's check of one patient entry (S3-entry): the entry fits MED's
/// size limit, `keys` names the patient as one that may file entries (an enrolled patient
/// with a registered key — never a doctor's or hospital's key), and the signature is that
/// key's over the entry's hentry on `chain_id`. Checked before the hospital adds the
/// signature to its batch's aggregate, so a forged entry is named here, not found later as a
/// batch that fails as a whole.
pub fn verify_entry(
    chain_id: &ChainId,
    signed: &SignedEntry,
    keys: &impl SignerKeys,
) -> Result<(), AggregateError> {
    check_entry_size(&signed.entry)?;
    let key = patient_key(keys, &signed.entry.patient)?;
    if !verify_signature(
        &key,
        &entry_message(chain_id, &signed.entry.hentry(chain_id)),
        &signed.signature,
    ) {
        return Err(AggregateError::BadEntry {
            index: 0,
            entry: signed.entry.entry_id(chain_id),
            patient: signed.entry.patient,
        });
    }
    Ok(())
}

/// An entry longer than MED's limit could be signed and aggregated, but no MED node would
/// decode the batch carrying it.
fn check_entry_size(entry: &EntryMr) -> Result<(), AggregateError> {
    if entry.entry.0.is_empty() || entry.entry.0.len() > MAX_MED_ENTRY_BYTES {
        return Err(AggregateError::Malformed(
            "an entry on MED holds 1 to 2048 bytes",
        ));
    }
    Ok(())
}

/// The hospital's side (S3-release, S3-entry): checks each doctor may release through
/// `hospital_address` and signed its release, and each patient may file and signed its entry
/// (the first bad one is named), then sums the doctors' and patients' signatures with its own
/// over the batch root TX_mr into the batch's one signature.
pub fn seal_batch(
    chain_id: &ChainId,
    hospital: &BlsVouchingKey,
    hospital_address: Address,
    releases: Vec<(TxMr, BlsSignature)>,
    entries: Vec<SignedEntry>,
    keys: &impl SignerKeys,
) -> Result<SignedBatch, AggregateError> {
    check_batch_size(releases.len(), entries.len())?;
    let registered = hospital_key(keys, &hospital_address)?;
    if registered != hospital.public() {
        return Err(AggregateError::Signer {
            role: SignerRole::Hospital,
            address: hospital_address,
            refusal: SignerRefusal(
                "the signing key is not the hospital's registered vouching key".into(),
            ),
        });
    }
    let mut seen = HashSet::new();
    for (index, (tx, signature)) in releases.iter().enumerate() {
        let record = tx.record_id(chain_id);
        if !seen.insert(record) {
            return Err(AggregateError::DuplicateRelease(record));
        }
        let key = doctor_key(keys, &tx.doctor, &hospital_address)?;
        if !verify_release(chain_id, tx, &key, signature) {
            return Err(AggregateError::BadRelease {
                index,
                record,
                doctor: tx.doctor,
            });
        }
    }
    let mut filed = HashSet::new();
    for (index, signed) in entries.iter().enumerate() {
        let entry = signed.entry.entry_id(chain_id);
        if !filed.insert(entry) {
            return Err(AggregateError::DuplicateEntry(entry));
        }
        verify_entry(chain_id, signed, keys).map_err(|error| match error {
            AggregateError::BadEntry { entry, patient, .. } => AggregateError::BadEntry {
                index,
                entry,
                patient,
            },
            other => other,
        })?;
    }
    let (txs, mut signatures): (Vec<TxMr>, Vec<BlsSignature>) = releases.into_iter().unzip();
    let entries: Vec<EntryMr> = entries
        .into_iter()
        .map(|signed| {
            signatures.push(signed.signature);
            signed.entry
        })
        .collect();
    let batch = HospitalBatch {
        hospital: hospital_address,
        txs,
        entries,
    };
    signatures.push(hospital.sign_med(&batch_message(chain_id, &batch.root(chain_id))));
    let signature = sum(&signatures).ok_or(AggregateError::Malformed(
        "a signature is not a valid G2 point",
    ))?;
    Ok(SignedBatch { batch, signature })
}

/// A miner's or pool's check of a hospital batch: every signer may sign and the batch's one
/// signature verifies against all its (key, message) pairs.
pub fn verify_batch(
    chain_id: &ChainId,
    batch: &SignedBatch,
    keys: &impl SignerKeys,
) -> Result<(), AggregateError> {
    let mut pairs = Pairs::new(chain_id, keys);
    pairs.add_batch(&batch.batch)?;
    pairs.verify(&batch.signature)
}

/// The miner's Mblock signature: the sum of its batches' signatures. `None` when there is
/// no batch (an empty body carries no signature) or a batch signature is not a G2 point
/// (which [`verify_batch`], run on every batch first, rules out).
pub fn block_signature(batches: &[SignedBatch]) -> Option<BlsSignature> {
    let signatures: Vec<BlsSignature> = batches.iter().map(|batch| batch.signature).collect();
    sum(&signatures)
}

/// Every MED validator's check of an Mblock body: each signer may sign, no release or entry
/// appears twice, and the block's one signature verifies against all (key, message) pairs of all
/// batches in ONE aggregate check (a pairing per pair plus one, whatever the batch count).
///
/// Summing signatures of different signers is sound only because every key comes with a
/// proof of possession registered on SUP (a rogue key chosen to cancel another's cannot
/// carry one). Messages are distinct within a block: releases by their htxM and entries by
/// their hentry, which are checked, and batch roots by the hospital and the items they commit
/// to; the three kinds carry distinct tags.
pub fn verify_block(
    chain_id: &ChainId,
    body: &MblockBody,
    keys: &impl SignerKeys,
) -> Result<(), AggregateError> {
    if body.batches.len() > MAX_MBLOCK_BATCHES {
        return Err(AggregateError::Malformed(
            "an Mblock holds at most 64 batches",
        ));
    }
    if body.txs().count() > MAX_MBLOCK_TXS {
        return Err(AggregateError::Malformed(
            "an Mblock holds at most 4096 releases",
        ));
    }
    if body.entries().count() > MAX_MBLOCK_ENTRIES {
        return Err(AggregateError::Malformed(
            "an Mblock holds at most 256 entries",
        ));
    }
    let signature = match (body.batches.is_empty(), &body.signature) {
        (true, None) => return Ok(()),
        (false, Some(signature)) => signature,
        _ => {
            return Err(AggregateError::Malformed(
                "an Mblock carries a signature exactly when it has batches",
            ));
        }
    };
    let mut pairs = Pairs::new(chain_id, keys);
    for batch in &body.batches {
        pairs.add_batch(batch)?;
    }
    pairs.verify(signature)
}

/// The (key, message) pairs an aggregate signature must cover, gathered batch by batch.
/// Each distinct key is looked up and point-checked once.
struct Pairs<'a, K> {
    chain_id: &'a ChainId,
    keys: &'a K,
    doctors: HashMap<(Address, Address), BlsPublicKey>,
    patients: HashMap<Address, BlsPublicKey>,
    points: HashMap<BlsPublicKey, min_pk::PublicKey>,
    releases: HashSet<RecordId>,
    entries: HashSet<EntryId>,
    pairs: Vec<(BlsPublicKey, Vec<u8>)>,
}

impl<'a, K: SignerKeys> Pairs<'a, K> {
    fn new(chain_id: &'a ChainId, keys: &'a K) -> Self {
        Self {
            chain_id,
            keys,
            doctors: HashMap::new(),
            patients: HashMap::new(),
            points: HashMap::new(),
            releases: HashSet::new(),
            entries: HashSet::new(),
            pairs: Vec::new(),
        }
    }

    fn add_batch(&mut self, batch: &HospitalBatch) -> Result<(), AggregateError> {
        check_batch_size(batch.txs.len(), batch.entries.len())?;
        let hospital = hospital_key(self.keys, &batch.hospital)?;
        self.add(
            hospital,
            batch_message(self.chain_id, &batch.root(self.chain_id)),
        )?;
        for tx in &batch.txs {
            let htxm = tx.htxm(self.chain_id);
            if !self.releases.insert(RecordId(htxm)) {
                return Err(AggregateError::DuplicateRelease(RecordId(htxm)));
            }
            let doctor = match self.doctors.entry((tx.doctor, batch.hospital)) {
                Entry::Occupied(known) => *known.get(),
                Entry::Vacant(slot) => {
                    *slot.insert(doctor_key(self.keys, &tx.doctor, &batch.hospital)?)
                }
            };
            self.add(doctor, htxm_message(self.chain_id, &htxm))?;
        }
        for entry in &batch.entries {
            self.add_entry(entry)?;
        }
        Ok(())
    }

    /// One (patient key, entry message) pair: the key is the patient's as `keys` knows it
    /// (looked up once per patient), so an entry signed by anyone else — a doctor or the
    /// hospital included — fails the aggregate.
    fn add_entry(&mut self, entry: &EntryMr) -> Result<(), AggregateError> {
        check_entry_size(entry)?;
        let hentry = entry.hentry(self.chain_id);
        if !self.entries.insert(EntryId(hentry)) {
            return Err(AggregateError::DuplicateEntry(EntryId(hentry)));
        }
        let patient = match self.patients.entry(entry.patient) {
            Entry::Occupied(known) => *known.get(),
            Entry::Vacant(slot) => *slot.insert(patient_key(self.keys, &entry.patient)?),
        };
        self.add(patient, entry_message(self.chain_id, &hentry))
    }

    fn add(&mut self, key: BlsPublicKey, message: Vec<u8>) -> Result<(), AggregateError> {
        if let Entry::Vacant(slot) = self.points.entry(key) {
            // Group and identity check, once per distinct key.
            let point = min_pk::PublicKey::key_validate(&key.0)
                .map_err(|_| AggregateError::Malformed("a signer's key is not a valid G1 point"))?;
            slot.insert(point);
        }
        self.pairs
            .push((key, union_unique(namespace::MED, &message)));
        Ok(())
    }

    fn verify(&self, signature: &BlsSignature) -> Result<(), AggregateError> {
        let signature = min_pk::Signature::sig_validate(&signature.0, true)
            .map_err(|_| AggregateError::Malformed("the signature is not a valid G2 point"))?;
        let messages: Vec<&[u8]> = self.pairs.iter().map(|(_, m)| m.as_slice()).collect();
        let keys: Vec<&min_pk::PublicKey> = self
            .pairs
            .iter()
            .map(|(key, _)| &self.points[key])
            .collect();
        // Keys and signature were validated above.
        match signature.aggregate_verify(false, &messages, MinPk::MESSAGE, &keys, false) {
            BLST_ERROR::BLST_SUCCESS => Ok(()),
            _ => Err(AggregateError::BadSignature),
        }
    }
}

fn hospital_key(
    keys: &impl SignerKeys,
    hospital: &Address,
) -> Result<BlsPublicKey, AggregateError> {
    keys.hospital(hospital)
        .map_err(|refusal| AggregateError::Signer {
            role: SignerRole::Hospital,
            address: *hospital,
            refusal,
        })
}

fn doctor_key(
    keys: &impl SignerKeys,
    doctor: &Address,
    hospital: &Address,
) -> Result<BlsPublicKey, AggregateError> {
    keys.doctor(doctor, hospital)
        .map_err(|refusal| AggregateError::Signer {
            role: SignerRole::Doctor,
            address: *doctor,
            refusal,
        })
}

fn patient_key(keys: &impl SignerKeys, patient: &Address) -> Result<BlsPublicKey, AggregateError> {
    keys.patient(patient)
        .map_err(|refusal| AggregateError::Signer {
            role: SignerRole::Patient,
            address: *patient,
            refusal,
        })
}

/// The sum of `signatures`; `None` if there is none or one is not a valid G2 point.
fn sum(signatures: &[BlsSignature]) -> Option<BlsSignature> {
    let points = signatures
        .iter()
        .map(|signature| bls12381::Signature::decode(Copying(&signature.0)).ok())
        .collect::<Option<Vec<_>>>()?;
    let points = NonEmpty::try_new(points.iter().map(|point| point.as_ref()))?;
    let total = aggregate::combine_signatures::<MinPk, _>(points);
    let mut bytes = [0u8; BlsSignature::LEN];
    bytes.copy_from_slice(&total.encode());
    Some(BlsSignature(bytes))
}

// A MinPk signature encodes to exactly a `BlsSignature`.
const _: () = assert!(BlsSignature::LEN == <<MinPk as Variant>::Signature as FixedSize>::SIZE);

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use medchain_types::{ContentHash, PrivateKey, emergency::vouching_key_from};

    fn chain() -> ChainId {
        ChainId::new("medchain-test").unwrap()
    }

    /// A doctor or hospital: its address and vouching key, derived from a seed.
    struct Party {
        address: Address,
        key: BlsVouchingKey,
    }

    fn party(seed: u64) -> Party {
        let chain_key = PrivateKey::from_seed(seed);
        Party {
            address: Address::from(chain_key.public_key()),
            key: vouching_key_from(&chain_key),
        }
    }

    /// SUP's view in miniature: hospitals and their doctors, some of them revoked.
    #[derive(Default)]
    struct Registry {
        hospitals: HashMap<Address, BlsPublicKey>,
        doctors: HashMap<Address, (Address, BlsPublicKey)>,
        patients: HashMap<Address, BlsPublicKey>,
        revoked: HashSet<Address>,
    }

    impl SignerKeys for Registry {
        fn doctor(
            &self,
            doctor: &Address,
            hospital: &Address,
        ) -> Result<BlsPublicKey, SignerRefusal> {
            if self.revoked.contains(doctor) {
                return Err(SignerRefusal("the doctor's licence is revoked".into()));
            }
            match self.doctors.get(doctor) {
                Some((member_of, key)) if member_of == hospital => Ok(*key),
                Some(_) => Err(SignerRefusal("not a member of this hospital".into())),
                None => Err(SignerRefusal("unknown doctor".into())),
            }
        }

        fn hospital(&self, hospital: &Address) -> Result<BlsPublicKey, SignerRefusal> {
            self.hospitals
                .get(hospital)
                .copied()
                .ok_or_else(|| SignerRefusal("unknown hospital".into()))
        }

        fn patient(&self, patient: &Address) -> Result<BlsPublicKey, SignerRefusal> {
            self.patients
                .get(patient)
                .copied()
                .ok_or_else(|| SignerRefusal("unknown patient".into()))
        }
    }

    /// Two hospitals (seeds 100, 200) with two doctors each (101, 102; 201, 202), and two
    /// patients (1, 2) with registered keys.
    struct World {
        registry: Registry,
        hospitals: Vec<Party>,
        doctors: Vec<Party>,
        patients: Vec<Party>,
    }

    fn world() -> World {
        let mut registry = Registry::default();
        let hospitals = vec![party(100), party(200)];
        let doctors = vec![party(101), party(102), party(201), party(202)];
        for hospital in &hospitals {
            registry
                .hospitals
                .insert(hospital.address, hospital.key.public());
        }
        for (i, doctor) in doctors.iter().enumerate() {
            registry.doctors.insert(
                doctor.address,
                (hospitals[i / 2].address, doctor.key.public()),
            );
        }
        let patients = vec![party(1), party(2)];
        for patient in &patients {
            registry
                .patients
                .insert(patient.address, patient.key.public());
        }
        World {
            registry,
            hospitals,
            doctors,
            patients,
        }
    }

    fn release(doctor: &Party, n: u64) -> TxMr {
        TxMr {
            doctor: doctor.address,
            patient: party(1_000 + n).address,
            record_hash: ContentHash::of(&n.to_be_bytes()),
            issued_at_ms: 1_700_000_000_000 + n,
        }
    }

    /// `count` releases through hospital `h` (0 or 1), alternating its two doctors, each
    /// signed by its doctor.
    fn signed_releases(
        world: &World,
        h: usize,
        first: u64,
        count: u64,
    ) -> Vec<(TxMr, BlsSignature)> {
        (first..first + count)
            .map(|n| {
                let doctor = &world.doctors[2 * h + (n % 2) as usize];
                let tx = release(doctor, n);
                let signature = sign_release(&chain(), &doctor.key, &tx);
                (tx, signature)
            })
            .collect()
    }

    fn sealed(world: &World, h: usize, first: u64, count: u64) -> SignedBatch {
        let hospital = &world.hospitals[h];
        seal_batch(
            &chain(),
            &hospital.key,
            hospital.address,
            signed_releases(world, h, first, count),
            Vec::new(),
            &world.registry,
        )
        .unwrap()
    }

    fn body(batches: &[SignedBatch]) -> MblockBody {
        MblockBody {
            batches: batches.iter().map(|b| b.batch.clone()).collect(),
            signature: block_signature(batches),
        }
    }

    /// The sum of `signatures`, for building aggregates the honest path would not.
    fn summed(signatures: &[BlsSignature]) -> BlsSignature {
        sum(signatures).unwrap()
    }

    #[test]
    fn an_honest_batch_and_a_block_of_two_hospitals_verify() {
        let world = world();
        let first = sealed(&world, 0, 0, 5);
        let second = sealed(&world, 1, 5, 3);
        verify_batch(&chain(), &first, &world.registry).unwrap();
        verify_batch(&chain(), &second, &world.registry).unwrap();
        let body = body(&[first.clone(), second.clone()]);
        verify_block(&chain(), &body, &world.registry).unwrap();
        // Each release's own signature verifies on its own, and only on its chain.
        let (tx, signature) = signed_releases(&world, 0, 0, 1).remove(0);
        let key = world.doctors[0].key.public();
        assert!(verify_release(&chain(), &tx, &key, &signature));
        let other_chain = ChainId::new("other-chain").unwrap();
        assert!(!verify_release(&other_chain, &tx, &key, &signature));
        assert!(!verify_release(
            &chain(),
            &tx,
            &world.doctors[1].key.public(),
            &signature
        ));
        // The same key and message under the emergency namespace is not a release signature.
        let vouch = world.doctors[0]
            .key
            .sign(&htxm_message(&chain(), &tx.htxm(&chain())));
        assert!(!verify_release(&chain(), &tx, &key, &vouch));
        // One batch's signature is not the block's.
        let short = MblockBody {
            signature: Some(first.signature),
            ..body
        };
        assert!(matches!(
            verify_block(&chain(), &short, &world.registry),
            Err(AggregateError::BadSignature)
        ));
    }

    #[test]
    fn the_hospital_names_the_bad_doctor_signature() {
        let world = world();
        let mut releases = signed_releases(&world, 0, 0, 4);
        // Release 2 carries the signature of release 0 (a valid signature, of something else).
        releases[2].1 = releases[0].1;
        let record = releases[2].0.record_id(&chain());
        let doctor = releases[2].0.doctor;
        let hospital = &world.hospitals[0];
        let error = seal_batch(
            &chain(),
            &hospital.key,
            hospital.address,
            releases,
            Vec::new(),
            &world.registry,
        )
        .unwrap_err();
        match error {
            AggregateError::BadRelease {
                index,
                record: named,
                doctor: by,
            } => assert_eq!((index, named, by), (2, record, doctor)),
            other => panic!("expected BadRelease, got {other:?}"),
        }
        // Bytes that are not a point are named the same way, without panicking.
        let mut releases = signed_releases(&world, 0, 0, 2);
        releases[1].1 = BlsSignature([0xff; BlsSignature::LEN]);
        assert!(matches!(
            seal_batch(
                &chain(),
                &hospital.key,
                hospital.address,
                releases,
                Vec::new(),
                &world.registry
            ),
            Err(AggregateError::BadRelease { index: 1, .. })
        ));
    }

    #[test]
    fn a_block_whose_aggregate_holds_one_bad_signature_is_rejected() {
        let world = world();
        let honest = sealed(&world, 0, 0, 4);
        // The other hospital's batch aggregates one doctor signature made over another
        // release: the hospital skipped its check (or a miner forged the batch).
        let releases = signed_releases(&world, 1, 10, 3);
        let batch = HospitalBatch {
            hospital: world.hospitals[1].address,
            txs: releases.iter().map(|(tx, _)| tx.clone()).collect(),
            entries: Vec::new(),
        };
        let mut signatures: Vec<BlsSignature> = releases.iter().map(|(_, s)| *s).collect();
        let forged_over = release(&world.doctors[2], 99);
        signatures[1] = sign_release(&chain(), &world.doctors[2].key, &forged_over);
        signatures.push(
            world.hospitals[1]
                .key
                .sign_med(&batch_message(&chain(), &batch.root(&chain()))),
        );
        let bad = SignedBatch {
            batch,
            signature: summed(&signatures),
        };
        assert!(matches!(
            verify_batch(&chain(), &bad, &world.registry),
            Err(AggregateError::BadSignature)
        ));
        let body = body(&[honest, bad]);
        assert!(matches!(
            verify_block(&chain(), &body, &world.registry),
            Err(AggregateError::BadSignature)
        ));
    }

    #[test]
    fn a_refused_signer_rejects_the_batch_and_the_block() {
        let mut world = world();
        let batch = sealed(&world, 0, 0, 4);
        let revoked = world.doctors[1].address;
        world.registry.revoked.insert(revoked);
        let refused = |result: Result<(), AggregateError>| matches!(result, Err(AggregateError::Signer { role: SignerRole::Doctor, address, .. }) if address == revoked);
        assert!(refused(verify_batch(&chain(), &batch, &world.registry)));
        assert!(refused(verify_block(
            &chain(),
            &body(&[batch]),
            &world.registry
        )));
        let hospital = &world.hospitals[0];
        let sealing = seal_batch(
            &chain(),
            &hospital.key,
            hospital.address,
            signed_releases(&world, 0, 0, 4),
            Vec::new(),
            &world.registry,
        )
        .map(|_| ());
        assert!(refused(sealing));
        // A doctor of one hospital cannot release through the other.
        let mut foreign = signed_releases(&world, 1, 20, 1);
        foreign.extend(signed_releases(&world, 0, 22, 1));
        assert!(matches!(
            seal_batch(
                &chain(),
                &world.hospitals[1].key,
                world.hospitals[1].address,
                foreign,
                Vec::new(),
                &world.registry
            ),
            Err(AggregateError::Signer {
                role: SignerRole::Doctor,
                ..
            })
        ));
        // An unknown hospital, and a hospital sealing with a key that is not its registered one.
        let batch = sealed(&world, 1, 30, 2);
        world.registry.hospitals.remove(&world.hospitals[1].address);
        assert!(matches!(
            verify_block(&chain(), &body(&[batch]), &world.registry),
            Err(AggregateError::Signer {
                role: SignerRole::Hospital,
                ..
            })
        ));
        let impostor = party(300);
        assert!(matches!(
            seal_batch(
                &chain(),
                &impostor.key,
                world.hospitals[0].address,
                signed_releases(&world, 0, 40, 2),
                Vec::new(),
                &world.registry
            ),
            Err(AggregateError::Signer {
                role: SignerRole::Hospital,
                ..
            })
        ));
    }

    #[test]
    fn a_swapped_reordered_or_altered_release_breaks_the_aggregate() {
        let world = world();
        let batch = sealed(&world, 0, 0, 4);
        let rejected = |batch: &SignedBatch| {
            matches!(
                verify_batch(&chain(), batch, &world.registry),
                Err(AggregateError::BadSignature)
            ) && matches!(
                verify_block(
                    &chain(),
                    &body(std::slice::from_ref(batch)),
                    &world.registry
                ),
                Err(AggregateError::BadSignature)
            )
        };
        let mut swapped = batch.clone();
        swapped.batch.txs[3] = release(&world.doctors[1], 50);
        assert!(rejected(&swapped));
        let mut reordered = batch.clone();
        reordered.batch.txs.swap(0, 2);
        assert!(rejected(&reordered));
        let mut altered = batch.clone();
        altered.batch.txs[1].issued_at_ms += 1;
        assert!(rejected(&altered));
        let mut dropped = batch.clone();
        dropped.batch.txs.pop();
        assert!(rejected(&dropped));
        // The batch, moved to another chain, does not verify there.
        let other_chain = ChainId::new("other-chain").unwrap();
        assert!(matches!(
            verify_batch(&other_chain, &batch, &world.registry),
            Err(AggregateError::BadSignature)
        ));
    }

    #[test]
    fn a_release_appearing_twice_is_refused() {
        let world = world();
        let batch = sealed(&world, 0, 0, 3);
        let record = batch.batch.txs[0].record_id(&chain());
        // The same batch twice in a block (a miner replaying it).
        let twice = body(&[batch.clone(), batch.clone()]);
        assert!(matches!(
            verify_block(&chain(), &twice, &world.registry),
            Err(AggregateError::DuplicateRelease(r)) if r == record
        ));
        // The same release twice in one batch.
        let mut releases = signed_releases(&world, 0, 0, 2);
        releases.push(releases[0].clone());
        let hospital = &world.hospitals[0];
        assert!(matches!(
            seal_batch(&chain(), &hospital.key, hospital.address, releases, Vec::new(), &world.registry),
            Err(AggregateError::DuplicateRelease(r)) if r == record
        ));
    }

    #[test]
    fn an_empty_body_verifies_and_a_mismatched_signature_slot_is_malformed() {
        let world = world();
        let empty = MblockBody {
            batches: Vec::new(),
            signature: None,
        };
        verify_block(&chain(), &empty, &world.registry).unwrap();
        assert_eq!(block_signature(&[]), None);
        let batch = sealed(&world, 0, 0, 2);
        let signed_but_empty = MblockBody {
            batches: Vec::new(),
            signature: Some(batch.signature),
        };
        let unsigned = MblockBody {
            batches: vec![batch.batch.clone()],
            signature: None,
        };
        for body in [signed_but_empty, unsigned] {
            assert!(matches!(
                verify_block(&chain(), &body, &world.registry),
                Err(AggregateError::Malformed(_))
            ));
        }
        // A batch without releases.
        let hospital = &world.hospitals[0];
        assert!(matches!(
            seal_batch(
                &chain(),
                &hospital.key,
                hospital.address,
                Vec::new(),
                Vec::new(),
                &world.registry
            ),
            Err(AggregateError::Malformed(_))
        ));
        let mut hollow = batch;
        hollow.batch.txs.clear();
        assert!(matches!(
            verify_batch(&chain(), &hollow, &world.registry),
            Err(AggregateError::Malformed(_))
        ));
    }

    #[test]
    fn bytes_that_are_not_points_are_malformed_never_a_panic() {
        let mut world = world();
        let batch = sealed(&world, 0, 0, 2);
        // Not a point, and the point at infinity (compressed flag bits 0b11 then zeros).
        let mut infinity = [0u8; BlsSignature::LEN];
        infinity[0] = 0xc0;
        for signature in [
            BlsSignature([0xff; BlsSignature::LEN]),
            BlsSignature(infinity),
        ] {
            let forged = SignedBatch {
                signature,
                ..batch.clone()
            };
            assert!(matches!(
                verify_batch(&chain(), &forged, &world.registry),
                Err(AggregateError::Malformed(_))
            ));
        }
        let garbage = SignedBatch {
            signature: BlsSignature([0xff; BlsSignature::LEN]),
            ..batch.clone()
        };
        assert_eq!(block_signature(&[batch.clone(), garbage]), None);
        // A registered key that is not a point.
        let doctor = world.doctors[0].address;
        let hospital = world.hospitals[0].address;
        world
            .registry
            .doctors
            .insert(doctor, (hospital, BlsPublicKey([0xff; BlsPublicKey::LEN])));
        assert!(matches!(
            verify_batch(&chain(), &batch, &world.registry),
            Err(AggregateError::Malformed(_))
        ));
    }

    fn entry(patient: &Party, n: u8) -> EntryMr {
        EntryMr {
            patient: patient.address,
            entry: medchain_types::EntryBytes(vec![n; 64]),
            issued_at_ms: 1_700_000_000_000 + u64::from(n),
        }
    }

    fn signed_entry(patient: &Party, n: u8) -> SignedEntry {
        let entry = entry(patient, n);
        SignedEntry {
            signature: sign_entry(&chain(), &patient.key, &entry),
            entry,
        }
    }

    fn sealed_with_entries(world: &World, entries: Vec<SignedEntry>) -> SignedBatch {
        let hospital = &world.hospitals[0];
        seal_batch(
            &chain(),
            &hospital.key,
            hospital.address,
            signed_releases(world, 0, 0, 2),
            entries,
            &world.registry,
        )
        .unwrap()
    }

    #[test]
    fn entries_join_the_batch_and_block_aggregate() {
        let world = world();
        let entries = vec![
            signed_entry(&world.patients[0], 1),
            signed_entry(&world.patients[1], 2),
            signed_entry(&world.patients[0], 3),
        ];
        for signed in &entries {
            verify_entry(&chain(), signed, &world.registry).unwrap();
        }
        let mixed = sealed_with_entries(&world, entries.clone());
        assert_eq!(mixed.batch.entries.len(), 3);
        verify_batch(&chain(), &mixed, &world.registry).unwrap();
        // A batch of entries alone, next to another hospital's batch of releases.
        let hospital = &world.hospitals[1];
        let only_entries = seal_batch(
            &chain(),
            &hospital.key,
            hospital.address,
            Vec::new(),
            vec![signed_entry(&world.patients[1], 4)],
            &world.registry,
        )
        .unwrap();
        verify_batch(&chain(), &only_entries, &world.registry).unwrap();
        let body = body(&[mixed.clone(), only_entries, sealed(&world, 1, 10, 2)]);
        verify_block(&chain(), &body, &world.registry).unwrap();
        // An altered or dropped entry breaks the aggregate.
        let mut altered = mixed.clone();
        altered.batch.entries[1].entry.0[0] ^= 1;
        assert!(matches!(
            verify_batch(&chain(), &altered, &world.registry),
            Err(AggregateError::BadSignature)
        ));
        let mut dropped = mixed;
        dropped.batch.entries.pop();
        assert!(matches!(
            verify_batch(&chain(), &dropped, &world.registry),
            Err(AggregateError::BadSignature)
        ));
    }

    /// A forged entry is named before it reaches the aggregate: signed by someone else (the
    /// hospital, a doctor, another patient), or over another chain.
    #[test]
    fn a_forged_entry_signature_is_named() {
        let world = world();
        let patient = &world.patients[0];
        let honest = signed_entry(patient, 1);
        let forgers = [&world.hospitals[0], &world.doctors[0], &world.patients[1]];
        for forger in forgers {
            let forged = SignedEntry {
                signature: sign_entry(&chain(), &forger.key, &honest.entry),
                ..honest.clone()
            };
            assert!(matches!(
                verify_entry(&chain(), &forged, &world.registry),
                Err(AggregateError::BadEntry { index: 0, patient: p, .. }) if p == patient.address
            ));
        }
        let other_chain = ChainId::new("other-chain").unwrap();
        assert!(matches!(
            verify_entry(&other_chain, &honest, &world.registry),
            Err(AggregateError::BadEntry { .. })
        ));
        // A release signature over the same hash is not an entry signature (distinct tags).
        let hentry = honest.entry.hentry(&chain());
        assert_ne!(
            entry_message(&chain(), &hentry),
            htxm_message(&chain(), &hentry)
        );
        assert_ne!(
            entry_message(&chain(), &hentry),
            batch_message(&chain(), &hentry)
        );
        let as_release = SignedEntry {
            signature: patient.key.sign_med(&htxm_message(&chain(), &hentry)),
            ..honest.clone()
        };
        assert!(verify_entry(&chain(), &as_release, &world.registry).is_err());
        // The hospital names the bad one by its place in the batch.
        let mut entries = vec![
            signed_entry(patient, 2),
            honest.clone(),
            signed_entry(patient, 3),
        ];
        entries[2].signature = entries[0].signature;
        let hospital = &world.hospitals[0];
        let refused = seal_batch(
            &chain(),
            &hospital.key,
            hospital.address,
            Vec::new(),
            entries,
            &world.registry,
        );
        assert!(matches!(
            refused,
            Err(AggregateError::BadEntry { index: 2, .. })
        ));
        // Bytes that are not a point: refused, never a panic.
        let garbage = SignedEntry {
            signature: BlsSignature([0xff; BlsSignature::LEN]),
            ..honest
        };
        assert!(matches!(
            verify_entry(&chain(), &garbage, &world.registry),
            Err(AggregateError::BadEntry { .. })
        ));
    }

    #[test]
    fn an_unknown_patient_a_duplicate_or_an_oversized_entry_is_refused() {
        let world = world();
        let stranger = party(3);
        let unknown = signed_entry(&stranger, 1);
        assert!(matches!(
            verify_entry(&chain(), &unknown, &world.registry),
            Err(AggregateError::Signer { role: SignerRole::Patient, address, .. }) if address == stranger.address
        ));
        // A batch smuggling it past the hospital fails at every miner and validator.
        let mut batch = sealed_with_entries(&world, vec![signed_entry(&world.patients[0], 1)]);
        batch.batch.entries.push(unknown.entry.clone());
        assert!(matches!(
            verify_batch(&chain(), &batch, &world.registry),
            Err(AggregateError::Signer {
                role: SignerRole::Patient,
                ..
            })
        ));
        let twice = signed_entry(&world.patients[0], 5);
        let id = twice.entry.entry_id(&chain());
        let hospital = &world.hospitals[0];
        assert!(matches!(
            seal_batch(
                &chain(),
                &hospital.key,
                hospital.address,
                Vec::new(),
                vec![twice.clone(), twice.clone()],
                &world.registry
            ),
            Err(AggregateError::DuplicateEntry(e)) if e == id
        ));
        // The same batch of entries twice in a block (a miner replaying it).
        let once = seal_batch(
            &chain(),
            &hospital.key,
            hospital.address,
            Vec::new(),
            vec![twice],
            &world.registry,
        )
        .unwrap();
        assert!(matches!(
            verify_block(&chain(), &body(&[once.clone(), once]), &world.registry),
            Err(AggregateError::DuplicateEntry(e)) if e == id
        ));
        let mut oversized = entry(&world.patients[0], 6);
        oversized.entry.0 = vec![6; MAX_MED_ENTRY_BYTES + 1];
        let oversized = SignedEntry {
            signature: sign_entry(&chain(), &world.patients[0].key, &oversized),
            entry: oversized,
        };
        assert!(matches!(
            verify_entry(&chain(), &oversized, &world.registry),
            Err(AggregateError::Malformed(_))
        ));
        let too_many: Vec<SignedEntry> = (0..=MAX_BATCH_ENTRIES as u8)
            .map(|n| signed_entry(&world.patients[0], n))
            .collect();
        assert!(matches!(
            seal_batch(
                &chain(),
                &hospital.key,
                hospital.address,
                Vec::new(),
                too_many,
                &world.registry
            ),
            Err(AggregateError::Malformed(_))
        ));
    }
}
