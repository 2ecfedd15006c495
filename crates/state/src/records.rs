//! Records module (S1-release, S1-storage, S3-entry): a doctor releases a record about a
//! patient (the record itself stays off chain; the chain keeps hEMR and the doctor's signature
//! over it), the patient or the releasing hospital's gateway files where its encrypted copy is
//! stored, and a patient files its encrypted EMR entry.
//!
//! | action | rule | error |
//! |---|---|---|
//! | release | the sender is an enrolled doctor identity | `NotEnrolled`, `NotADoctor` |
//! | release | the doctor is not on the revocation list (S3-revoke) | `DoctorRevoked` |
//! | release | the doctor holds a licence valid at the block's time (S3-register) | `Unlicensed`, `LicenceExpired` |
//! | release | the licence's organisation is still audited (S2-state) | `OrgNotAudited` |
//! | release | (patient, hEMR) was not released before | `RecordAlreadyReleased` |
//! | store | the record exists | `UnknownRecord` |
//! | store | the sender is the record's patient, or the hospital identity of the organisation that released it (its gateway stores the blob; its doctors and staff may not) | `NotRecordCustodian` |
//! | entry | none beyond the entry's size (1 to `MAX_ENTRY_BYTES`, checked when decoding): an entry is about its sender | — |
//! | release, entry | the chain has no MED chain (S3-dual): with one, both are MED transactions | `FiledOnMed` |
//!
//! A release also appends the record id to the patient's record list
//! ([`keys::patient_records`]), so a patient can list (and prove) its records without knowing
//! their ids.
//!
//! The record id is the release transaction's id, so the storage pointer's `record` field is
//! the hash pointer to the release transaction that S1-storage asks for. The pointer may be
//! filed again (migrating the blob); the newest pointer wins.
//!
//! An EMR entry EEE (S3-entry) is opaque to the chain: encrypted under a key only the
//! patient's biometric template recovers, it is stored under `entry/<id>` (the id is the
//! filing transaction's) and appended to the patient's entry list ([`keys::patient_entries`]),
//! where a treating doctor finds it in an emergency ([`crate::emergency`]).
//!
//! On a chain whose genesis names MED parameters (`cfg/med`), releases tx_mr (S3-release) and
//! entries EEE (S3-entry) live on MED: a doctor's release and a patient's entry go through the
//! hospital's gateway into a batch with one aggregate signature, and SUP files them only when
//! it checkpoints their Mblock ([`crate::med`]). A `record.release` or entry transaction is
//! refused there (`FiledOnMed`, nothing written): filed on SUP too, a release or entry would
//! bypass the MED chain that light clients verify records against.

use crate::{
    ExecError, StateRead, StateReadExt,
    context::TxContext,
    identity::enrolled,
    keys,
    licence::releasing_doctor,
    values::{EmrEntryRecord, Record, RecordOrigin, StoragePointer},
};
use medchain_types::{
    Address, ContentHash, EntryBytes, EntryId, Event, RecordId, RecordPayload, Role, Signature, Uri,
};

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &RecordPayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        RecordPayload::Release {
            patient,
            record_hash,
            attestation,
        } => {
            ensure_no_med_chain(ctx, "record releases")?;
            release(ctx, patient, record_hash, attestation)
        }
        RecordPayload::Store {
            record,
            blob_hash,
            location,
        } => store(ctx, record, blob_hash, location),
        RecordPayload::Entry { entry } => {
            ensure_no_med_chain(ctx, "EMR entries")?;
            let patient = *ctx.sender;
            Ok(vec![file_entry(
                ctx,
                EntryId::from(ctx.tx_id),
                patient,
                entry,
            )?])
        }
    }
}

/// Refuses a transaction filing `what` on SUP when the chain has a MED chain (S3-dual): its
/// genesis wrote `cfg/med`, and from then on releases and entries are filed on MED only.
fn ensure_no_med_chain(state: &impl StateRead, what: &'static str) -> Result<(), ExecError> {
    if state.get(keys::med_config().as_bytes())?.is_some() {
        return Err(ExecError::FiledOnMed(what));
    }
    Ok(())
}

fn release<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    patient: &Address,
    record_hash: &ContentHash,
    attestation: &Signature,
) -> Result<Vec<Event>, ExecError> {
    let release = Release {
        id: RecordId::from(ctx.tx_id),
        doctor: *ctx.sender,
        patient: *patient,
        record_hash: *record_hash,
        origin: RecordOrigin::Signed {
            attestation: attestation.clone(),
        },
    };
    Ok(vec![file_release(ctx, release)?])
}

/// A release to file as a record: from a `record.release` transaction, or a tx_mr imported
/// from a MED checkpoint ([`crate::med`], S3-supervise).
pub(crate) struct Release {
    /// The record id: the release transaction's id, or the tx_mr's htxM.
    pub id: RecordId,
    /// The releasing doctor's address.
    pub doctor: Address,
    /// The patient.
    pub patient: Address,
    /// hEMR.
    pub record_hash: ContentHash,
    /// How it reached the chain.
    pub origin: RecordOrigin,
}

/// Files `release` as a record if the release rule holds at the block's time: the doctor is
/// practising ([`releasing_doctor`]) and (patient, hEMR) was not released before. Writes the
/// record, its hash index and the patient's list entry; returns `RecordReleased`.
pub(crate) fn file_release<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    release: Release,
) -> Result<Event, ExecError> {
    let Release {
        id,
        doctor,
        patient,
        record_hash,
        origin,
    } = release;
    let hospital = releasing_doctor(ctx, &doctor, ctx.env.timestamp_ms)?;
    let by_hash = keys::record_by_hash(&patient, &record_hash);
    if let Some(existing) = ctx.value(&by_hash)? {
        return Err(ExecError::RecordAlreadyReleased(existing));
    }
    ctx.put(&by_hash, &id);
    ctx.put(
        &keys::record(&id),
        &Record {
            patient,
            doctor,
            hospital: hospital.clone(),
            record_hash,
            origin,
            released_at: ctx.env.height,
            timestamp_ms: ctx.env.timestamp_ms,
        },
    );
    ctx.append(&keys::patient_records(&patient).list, &id)?;
    Ok(Event::RecordReleased {
        record: id,
        patient,
        doctor,
        hospital,
    })
}

fn store<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    record: &RecordId,
    blob_hash: &ContentHash,
    location: &Uri,
) -> Result<Vec<Event>, ExecError> {
    let released = existing_record(ctx, record)?;
    if !is_custodian(ctx, &released, ctx.sender)? {
        return Err(ExecError::NotRecordCustodian(*record));
    }
    ctx.put(
        &keys::storage_pointer(record),
        &StoragePointer {
            record: *record,
            blob_hash: *blob_hash,
            location: location.clone(),
            stored_at: ctx.env.height,
        },
    );
    Ok(vec![Event::RecordStored {
        record: *record,
        blob_hash: *blob_hash,
    }])
}

/// Files `entry` about `patient` as `entry/<id>` at the block's height and time, and lists it
/// for the patient: an entry transaction (the id is the transaction's) or an entry imported
/// from a MED checkpoint (the id is its hentry; [`crate::med`] checks the patient first).
pub(crate) fn file_entry<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: EntryId,
    patient: Address,
    entry: &EntryBytes,
) -> Result<Event, ExecError> {
    ctx.put(
        &keys::entry(&id),
        &EmrEntryRecord {
            patient,
            entry: entry.clone(),
            filed_at: ctx.env.height,
            timestamp_ms: ctx.env.timestamp_ms,
        },
    );
    ctx.append(&keys::patient_entries(&patient).list, &id)?;
    Ok(Event::EntryFiled { entry: id, patient })
}

/// Whether `address` may file a record's storage pointer: its patient, or the hospital
/// identity of the organisation that released it.
fn is_custodian(
    state: &impl StateRead,
    record: &Record,
    address: &Address,
) -> Result<bool, ExecError> {
    Ok(record.patient == *address || is_releasing_hospital(state, record, address)?)
}

/// Whether `address` is the hospital identity of the organisation that released `record`:
/// the key its gateway runs with. Membership is not enough: every doctor and staff member of
/// the organisation is a member (a revoked doctor too), and none of them is the gateway that
/// checks a requester before filing its decision or that keeps the record's blob.
pub(crate) fn is_releasing_hospital(
    state: &impl StateRead,
    record: &Record,
    address: &Address,
) -> Result<bool, ExecError> {
    let identity = match enrolled(state, address) {
        Ok(identity) => identity,
        Err(ExecError::NotEnrolled) => return Ok(false),
        Err(other) => return Err(other),
    };
    Ok(identity.role == Role::Hospital && identity.org.as_ref() == Some(&record.hospital))
}

/// The record, or `UnknownRecord`.
pub(crate) fn existing_record(state: &impl StateRead, id: &RecordId) -> Result<Record, ExecError> {
    state
        .value(&keys::record(id))?
        .ok_or(ExecError::UnknownRecord(*id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{
        Actor, BLOCK_INTERVAL_MS, HospitalDesk, World, entry as entry_payload, issue_licence, join,
        lift_revocation, org_name, release as release_payload, revoke_doctor, set_state,
        store as store_payload,
    };
    use medchain_types::OrgState;

    struct Setup {
        world: World,
        doctor: Actor,
        patient: Actor,
    }

    fn setup() -> Setup {
        let mut world = World::new();
        let doctor = Actor::new(1);
        world.licensed_hospital(&doctor, &org_name("Seoul General"));
        Setup {
            world,
            doctor,
            patient: Actor::new(50),
        }
    }

    #[test]
    fn a_licensed_doctor_releases_a_record() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let hash = ContentHash::of(b"EMR 1");
        let tx = world.tx(&doctor, release_payload(&doctor, &patient.address, &hash));
        let id = RecordId::from(tx.id());
        let events = world.run_tx(&tx).unwrap();
        assert_eq!(
            events,
            vec![Event::RecordReleased {
                record: id,
                patient: patient.address,
                doctor: doctor.address,
                hospital: org_name("Seoul General"),
            }]
        );
        let record = world.value(&keys::record(&id)).unwrap();
        assert_eq!(record.patient, patient.address);
        assert_eq!(record.doctor, doctor.address);
        assert_eq!(record.record_hash, hash);
        assert_eq!(record.released_at, world.height());
        assert_eq!(record.timestamp_ms, world.timestamp_ms());
        assert_eq!(
            world.value(&keys::record_by_hash(&patient.address, &hash)),
            Some(id)
        );
    }

    #[test]
    fn a_joined_and_licensed_doctor_may_release_too() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let second = Actor::new(2);
        world
            .run(&second, join(&org_name("Seoul General"), &doctor, &second))
            .unwrap();
        let hash = ContentHash::of(b"EMR 2");
        world.assert_rejected(
            &second,
            release_payload(&second, &patient.address, &hash),
            |e| matches!(e, ExecError::NotEnrolled),
        );
        world.license(&org_name("Seoul General"), &second);
        world
            .run(&second, release_payload(&second, &patient.address, &hash))
            .unwrap();
    }

    #[test]
    fn only_an_enrolled_doctor_releases() {
        let Setup {
            mut world, patient, ..
        } = setup();
        let hash = ContentHash::of(b"EMR");
        // A member of an audited hospital is no longer enough: the backbone rule is replaced.
        let outsider = Actor::new(7);
        world.assert_rejected(
            &outsider,
            release_payload(&outsider, &patient.address, &hash),
            |e| matches!(e, ExecError::NotEnrolled),
        );
        let desk = HospitalDesk::of(&org_name("Seoul General"));
        world.assert_rejected(
            &desk.actor,
            release_payload(&desk.actor, &patient.address, &hash),
            |e| matches!(e, ExecError::NotADoctor(n) if *n == desk.identity),
        );
    }

    #[test]
    fn an_unlicensed_doctor_cannot_release() {
        let mut world = World::new();
        let staff = world.staffed_hospital(&org_name("Busan Clinic"), 10);
        let patient = Actor::new(50);
        world.assert_rejected(
            &staff.doctor,
            release_payload(&staff.doctor, &patient.address, &ContentHash::of(b"EMR")),
            |e| matches!(e, ExecError::Unlicensed(n) if *n == staff.doctor_name),
        );
    }

    #[test]
    fn an_expired_licence_no_longer_releases() {
        let mut world = World::new();
        let staff = world.staffed_hospital(&org_name("Busan Clinic"), 10);
        let patient = Actor::new(50);
        // Issued in the next block; valid in the block after it, expired in the one after that.
        let issued_at_ms = world.timestamp_ms() + BLOCK_INTERVAL_MS;
        let expires = issued_at_ms + BLOCK_INTERVAL_MS + BLOCK_INTERVAL_MS / 2;
        world
            .run(&staff.hospital, issue_licence(&staff.doctor_name, expires))
            .unwrap();
        world
            .run(
                &staff.doctor,
                release_payload(&staff.doctor, &patient.address, &ContentHash::of(b"EMR 1")),
            )
            .unwrap();
        world.assert_rejected(
            &staff.doctor,
            release_payload(&staff.doctor, &patient.address, &ContentHash::of(b"EMR 2")),
            |e| {
                matches!(e, ExecError::LicenceExpired { doctor, expired_at_ms }
                    if *doctor == staff.doctor_name && *expired_at_ms == expires)
            },
        );
    }

    #[test]
    fn a_revoked_doctor_cannot_release_until_the_revocation_is_lifted() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let desk = HospitalDesk::of(&org_name("Seoul General"));
        let name = crate::testkit::doctor_identity(&doctor);
        world.run(&desk.actor, revoke_doctor(&name)).unwrap();
        let hash = ContentHash::of(b"EMR");
        world.assert_rejected(
            &doctor,
            release_payload(&doctor, &patient.address, &hash),
            |e| matches!(e, ExecError::DoctorRevoked(n) if *n == name),
        );
        world.run(&desk.actor, lift_revocation(&name)).unwrap();
        world
            .run(&doctor, release_payload(&doctor, &patient.address, &hash))
            .unwrap();
    }

    #[test]
    fn a_doctor_of_a_suspended_hospital_cannot_release() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let regulator = world.regulator.clone();
        world
            .run(
                &regulator,
                set_state(&org_name("Seoul General"), OrgState::Suspended),
            )
            .unwrap();
        world.assert_rejected(
            &doctor,
            release_payload(&doctor, &patient.address, &ContentHash::of(b"EMR")),
            |e| matches!(e, ExecError::OrgNotAudited(org) if *org == org_name("Seoul General")),
        );
    }

    #[test]
    fn the_same_record_cannot_be_released_twice_for_a_patient() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let hash = ContentHash::of(b"EMR");
        let tx = world.tx(&doctor, release_payload(&doctor, &patient.address, &hash));
        world.run_tx(&tx).unwrap();
        world.assert_rejected(
            &doctor,
            release_payload(&doctor, &patient.address, &hash),
            |e| matches!(e, ExecError::RecordAlreadyReleased(id) if *id == RecordId::from(tx.id())),
        );
        // The same hash for another patient is another record.
        let other = Actor::new(51);
        world
            .run(&doctor, release_payload(&doctor, &other.address, &hash))
            .unwrap();
    }

    #[test]
    fn releases_are_listed_per_patient_in_order_and_rejected_ones_are_not() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let earlier = world.released(&doctor, &patient, b"EMR 0");
        let other = Actor::new(51);
        let release = |content: &[u8], who: &Actor| {
            release_payload(&doctor, &who.address, &ContentHash::of(content))
        };
        // One block: a release, a duplicate (rejected), a release for someone else, a release.
        let txs = [
            world.tx_at(&doctor, 0, release(b"EMR 1", &patient)),
            world.tx_at(&doctor, 1, release(b"EMR 0", &patient)),
            world.tx_at(&doctor, 1, release(b"EMR 1", &other)),
            world.tx_at(&doctor, 2, release(b"EMR 2", &patient)),
        ];
        let (results, block) = world.execute(&txs);
        assert!(matches!(
            results[1],
            Err(ExecError::RecordAlreadyReleased(id)) if id == earlier
        ));
        world.store.commit(&block).unwrap();
        let id = |i: usize| RecordId::from(txs[i].id());
        assert_eq!(
            world.list(&keys::patient_records(&patient.address).list),
            vec![earlier, id(0), id(3)]
        );
        assert_eq!(
            world.list(&keys::patient_records(&other.address).list),
            vec![id(2)]
        );
        assert_eq!(
            world.list(&keys::patient_records(&doctor.address).list),
            Vec::<RecordId>::new()
        );
    }

    #[test]
    fn the_patient_stores_and_migrates_a_pointer() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let id = world.released(&doctor, &patient, b"EMR");
        let blob = ContentHash::of(b"ciphertext");
        let events = world
            .run(&patient, store_payload(&id, &blob, "s3://bucket/a"))
            .unwrap();
        assert_eq!(
            events,
            vec![Event::RecordStored {
                record: id,
                blob_hash: blob
            }]
        );
        let pointer = world.value(&keys::storage_pointer(&id)).unwrap();
        assert_eq!((pointer.record, pointer.blob_hash), (id, blob));
        assert_eq!(pointer.location.as_str(), "s3://bucket/a");

        let moved = ContentHash::of(b"re-encrypted ciphertext");
        world
            .run(&patient, store_payload(&id, &moved, "file:///blobs/b"))
            .unwrap();
        let pointer = world.value(&keys::storage_pointer(&id)).unwrap();
        assert_eq!(pointer.blob_hash, moved);
        assert_eq!(pointer.location.as_str(), "file:///blobs/b");
        assert_eq!(pointer.stored_at, world.height());
    }

    #[test]
    fn only_the_patient_or_the_releasing_hospital_stores_and_only_for_a_known_record() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let blob = ContentHash::of(b"ciphertext");
        let unknown = RecordId(ContentHash::of(b"nothing").0);
        world.assert_rejected(
            &patient,
            store_payload(&unknown, &blob, "s3://x"),
            |e| matches!(e, ExecError::UnknownRecord(id) if *id == unknown),
        );
        let id = world.released(&doctor, &patient, b"EMR");
        // A stranger, and the hospital identity of another audited hospital.
        let busan = world.staffed_hospital(&org_name("Busan Clinic"), 60);
        for intruder in [Actor::new(99), busan.hospital] {
            world.assert_rejected(
                &intruder,
                store_payload(&id, &blob, "s3://x"),
                |e| matches!(e, ExecError::NotRecordCustodian(r) if *r == id),
            );
        }
        // The releasing hospital's gateway (its hospital identity) may.
        let desk = HospitalDesk::of(&org_name("Seoul General"));
        let events = world
            .run(
                &desk.actor,
                store_payload(&id, &blob, "file:///gateway/blob"),
            )
            .unwrap();
        assert_eq!(
            events,
            vec![Event::RecordStored {
                record: id,
                blob_hash: blob
            }]
        );
        let moved = ContentHash::of(b"moved");
        world
            .run(
                &desk.actor,
                store_payload(&id, &moved, "file:///gateway/moved"),
            )
            .unwrap();
        assert_eq!(
            world.value(&keys::storage_pointer(&id)).unwrap().blob_hash,
            moved
        );
    }

    #[test]
    fn members_of_the_releasing_hospital_other_than_its_identity_cannot_repoint_a_record() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let id = world.released(&doctor, &patient, b"EMR");
        let seoul = org_name("Seoul General");
        let desk = HospitalDesk::of(&seoul);
        world
            .run(
                &desk.actor,
                store_payload(&id, &ContentHash::of(b"ciphertext"), "file:///gateway/blob"),
            )
            .unwrap();
        let pointer = world.value(&keys::storage_pointer(&id));
        // A staff member who joined but enrolled no identity, a second doctor identity, the
        // releasing doctor itself (licensed), and the same doctor once revoked: all members.
        let staff = Actor::new(3);
        world.run(&staff, join(&seoul, &doctor, &staff)).unwrap();
        let colleague = Actor::new(4);
        world
            .run(&colleague, join(&seoul, &doctor, &colleague))
            .unwrap();
        world.license(&seoul, &colleague);
        let garbage = store_payload(&id, &ContentHash::of(b"garbage"), "s3://attacker/x");
        for member in [&staff, &colleague, &doctor] {
            world.assert_rejected(
                member,
                garbage.clone(),
                |e| matches!(e, ExecError::NotRecordCustodian(r) if *r == id),
            );
        }
        let name = crate::testkit::doctor_identity(&doctor);
        world.run(&desk.actor, revoke_doctor(&name)).unwrap();
        world.assert_rejected(
            &doctor,
            garbage,
            |e| matches!(e, ExecError::NotRecordCustodian(r) if *r == id),
        );
        assert_eq!(world.value(&keys::storage_pointer(&id)), pointer);
    }

    #[test]
    fn a_patient_files_entries_listed_in_order() {
        let Setup {
            mut world, patient, ..
        } = setup();
        let first = world.tx(&patient, entry_payload(b"EEE one"));
        let events = world.run_tx(&first).unwrap();
        let first_id = EntryId::from(first.id());
        assert_eq!(
            events,
            vec![Event::EntryFiled {
                entry: first_id,
                patient: patient.address,
            }]
        );
        let stored = world.value(&keys::entry(&first_id)).unwrap();
        assert_eq!(stored.patient, patient.address);
        assert_eq!(stored.entry, EntryBytes(b"EEE one".to_vec()));
        assert_eq!(
            (stored.filed_at, stored.timestamp_ms),
            (world.height(), world.timestamp_ms())
        );
        let second = world.tx(&patient, entry_payload(b"EEE two"));
        world.run_tx(&second).unwrap();
        assert_eq!(
            world.list(&keys::patient_entries(&patient.address).list),
            vec![first_id, EntryId::from(second.id())]
        );
        // An entry is about its sender: nobody else's list grows.
        let other = Actor::new(51);
        assert!(
            world
                .list(&keys::patient_entries(&other.address).list)
                .is_empty()
        );
    }
}
