//! Attested commitments (issue 12) through the `medchain hospital` service on a real chain: a
//! released record of a patient with a nullifier key is attested and its opening, fetched and
//! opened by the patient, commits to what the chain attests; a patient without a key keeps its
//! record `stored` until it files one and asks; a tampered or substituted opening is refused by
//! the patient; a gateway stopped between keeping an opening and filing it, or between filing
//! and marking, completes the attestation at start without filing twice.

#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
#[path = "support/producer.rs"]
mod producer;
#[path = "../../node/tests/served/mod.rs"]
mod served;
#[path = "support/world.rs"]
mod world;

use medchain_client::StateQuery;
use medchain_gateway::{
    blobs::{OpeningBinding, RecordKey, SealError, SealedOpening},
    client::{GatewayClient, GatewayClientError},
    emr::{EmrLocation, EmrStore, PatientAddress, RecordCommitment, RecordKey as EmrKey},
    patient::{HospitalRecords, OpenRecordError, open_opening},
    service::HospitalHandle,
    wire::{HeldRecord, WrittenRecord},
};
use medchain_types::{
    Hash32, Payload, RecordId,
    keyfile::{HospitalLink, SecretBytes},
    research::ResearchPayload,
};
use rand_core::OsRng;
use world::{Hospital, Party, World, enrol_at, fixture};

fn client(handle: &HospitalHandle) -> GatewayClient {
    GatewayClient::new(&handle.url()).unwrap()
}

/// The patient files its nullifier key on chain (`research.nullifier_key`).
fn file_nullifier_key(world: &World, patient: &Party) -> zk::NullifierKey {
    let mut seed = [0u8; 32];
    seed[..20].copy_from_slice(&patient.actor.address.as_bytes()[..20]);
    let key = zk::PatientSecret::from_seed(&seed).nullifier_key();
    world.send(
        &patient.actor,
        Payload::Research(ResearchPayload::NullifierKey {
            key: Hash32::from(key.0),
        }),
    );
    key
}

/// The commitment the chain attests for `record` (proven), if any.
fn attested_on_chain(world: &World, record: &RecordId) -> Option<Hash32> {
    world
        .client
        .read(&StateQuery::attestation(record))
        .unwrap()
        .value
        .map(|attestation| attestation.commitment)
}

/// The patient's side: its wallet's link to the hospital, as `medchain patient` keeps it.
fn link(
    hospital: &Hospital,
    handle: &HospitalHandle,
    enrolment: &taka::PatientEnrolment,
) -> HospitalLink {
    HospitalLink {
        hospital: hospital.desk.name.clone(),
        gateway: handle.url(),
        enrolment: SecretBytes(enrolment.to_bytes()),
    }
}

/// The patient fetches the opening of `record` and checks it against the chain.
fn fetch_opening(
    world: &World,
    link: &HospitalLink,
    patient: &Party,
    record: &RecordId,
) -> Result<zk::RecordOpening, OpenRecordError> {
    let records = HospitalRecords::connect(link, patient.actor.address)?;
    let held = records.held(record)?.clone();
    let attestation = world
        .client
        .read(&StateQuery::attestation(record))
        .unwrap()
        .value;
    records.fetch_opening(&held, attestation.as_ref())
}

fn held(gateway: &GatewayClient, patient: &Party, record: &RecordId) -> HeldRecord {
    gateway
        .patient_records(&patient.actor.address)
        .unwrap()
        .into_iter()
        .find(|held| held.record == *record)
        .unwrap()
}

/// The key record j of the patient is sealed under, as the patient derives it.
fn record_key(enrolment: &taka::PatientEnrolment, index: u64) -> [u8; 32] {
    *enrolment
        .factors()
        .factor(taka::RecordIndex::new(index).unwrap())
        .record_key()
}

fn api_code(error: &GatewayClientError) -> (u16, &str) {
    match error {
        GatewayClientError::Api { status, body } => (*status, body.code.as_str()),
        other => panic!("not an API error: {other:?}"),
    }
}

#[test]
fn a_released_record_is_attested_and_the_patient_opens_what_the_chain_attests() {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let patient = world.patient(50);
    let nullifier_key = file_nullifier_key(&world, &patient);
    let dir = tempfile::tempdir().unwrap();
    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);
    let enrolment = enrol_at(&gateway, &patient, &seoul.desk.name);

    let bundle = fixture("type2_diabetes-2-0000.json");
    let written = gateway
        .write_record(&world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle))
        .unwrap();
    let attestation = written.attestation.clone().expect("attested at once");
    assert_eq!(
        attested_on_chain(&world, &written.record),
        Some(Hash32::from(attestation.commitment)),
        "the commitment the gateway names is the one on chain"
    );
    let listed = held(&gateway, &patient, &written.record);
    assert_eq!(listed.state, "attested");
    assert_eq!(listed.attestation, Some(attestation.clone()));

    let opening = fetch_opening(
        &world,
        &link(&seoul, &handle, &enrolment),
        &patient,
        &written.record,
    )
    .unwrap();
    assert_eq!(opening.commit().unwrap().to_bytes(), attestation.commitment);
    // The opening is of the bundle's attributes as of the attestation date, bound to the
    // patient's nullifier key.
    let as_of = attestation.as_of.parse().unwrap();
    let schema = zk::Schema::clinical_v1();
    assert_eq!(
        opening.record(),
        &zk::record_from_bundle(&bundle, &schema, as_of).unwrap()
    );
    // It binds the released bundle's hash (hEMR), which the enrolment's delivery tag is made of.
    assert_eq!(
        opening.record_hash(),
        medchain_types::ContentHash::of(bundle.as_bytes()).0.0
    );
    let recommitted = zk::RecordOpening::random(
        &schema,
        opening.record().clone(),
        nullifier_key,
        opening.record_hash(),
        &mut OsRng,
    )
    .unwrap();
    assert_ne!(
        recommitted.commit().unwrap(),
        opening.commit().unwrap(),
        "the blinding is the hospital's, drawn at random"
    );

    // Asking again files nothing more: the same commitment, the hospital's nonce unchanged.
    let nonce = world.client.next_nonce(&seoul.desk.actor.address).unwrap();
    let again = gateway.attest(&patient.actor.address).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attestation, Some(attestation));
    assert_eq!(
        world.client.next_nonce(&seoul.desk.actor.address).unwrap(),
        nonce
    );
}

#[test]
fn a_patient_without_a_nullifier_key_is_attested_after_filing_one_and_asking() {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let patient = world.patient(50);
    let dir = tempfile::tempdir().unwrap();
    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);
    let enrolment = enrol_at(&gateway, &patient, &seoul.desk.name);

    let written = gateway
        .write_record(&world.write_request(
            &seoul.doctor.actor,
            &patient.actor.address,
            &fixture("hypertension-13-0000.json"),
        ))
        .unwrap();
    assert_eq!(
        written.attestation, None,
        "no key: released and stored only"
    );
    assert_eq!(held(&gateway, &patient, &written.record).state, "stored");
    assert_eq!(attested_on_chain(&world, &written.record), None);
    let refused = gateway.sealed_opening(&written.record).unwrap_err();
    assert_eq!(api_code(&refused), (409, "not_attested"));
    let refused = gateway.attest(&patient.actor.address).unwrap_err();
    assert_eq!(api_code(&refused), (409, "no_nullifier_key"));
    let link = link(&seoul, &handle, &enrolment);
    assert!(matches!(
        fetch_opening(&world, &link, &patient, &written.record),
        Err(OpenRecordError::NotAttested { .. })
    ));

    file_nullifier_key(&world, &patient);
    let outcomes = gateway.attest(&patient.actor.address).unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(
        (outcomes[0].record, outcomes[0].index),
        (written.record, written.index)
    );
    let attestation = outcomes[0].attestation.clone().expect("attested now");
    assert_eq!(
        attested_on_chain(&world, &written.record),
        Some(Hash32::from(attestation.commitment))
    );
    let opening = fetch_opening(&world, &link, &patient, &written.record).unwrap();
    assert_eq!(opening.commit().unwrap().to_bytes(), attestation.commitment);
    // Unknown records and malformed ids are typed errors.
    let unknown = RecordId::from(medchain_types::TxId(Hash32::from([7; 32])));
    assert_eq!(
        api_code(&gateway.sealed_opening(&unknown).unwrap_err()),
        (404, "unknown_record")
    );
}

/// A bundle the gateway accepts but the schema cannot hold: more active diagnoses than its
/// slots.
fn too_many_diagnoses() -> String {
    let mut bundle: serde_json::Value =
        serde_json::from_str(&fixture("type2_diabetes-2-0000.json")).unwrap();
    let entries = bundle["entry"].as_array_mut().unwrap();
    let condition = entries
        .iter()
        .find(|entry| entry["resource"]["resourceType"] == "Condition")
        .unwrap()
        .clone();
    for n in 0..20 {
        let mut extra = condition.clone();
        extra["fullUrl"] = format!("urn:uuid:00000000-0000-4000-8000-{n:012}").into();
        extra["resource"]["code"]["coding"][0]["code"] = format!("A{n:02}.0").into();
        entries.push(extra);
    }
    bundle.to_string()
}

#[test]
fn a_record_the_schema_cannot_hold_stays_stored_with_its_reason() {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let patient = world.patient(50);
    file_nullifier_key(&world, &patient);
    let dir = tempfile::tempdir().unwrap();
    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);
    enrol_at(&gateway, &patient, &seoul.desk.name);

    let written = gateway
        .write_record(&world.write_request(
            &seoul.doctor.actor,
            &patient.actor.address,
            &too_many_diagnoses(),
        ))
        .unwrap();
    assert_eq!(written.attestation, None);
    assert_eq!(held(&gateway, &patient, &written.record).state, "stored");
    let outcomes = gateway.attest(&patient.actor.address).unwrap();
    assert_eq!(outcomes[0].attestation, None);
    let reason = outcomes[0].reason.as_deref().unwrap();
    assert!(reason.contains("cannot be attested"), "{reason}");
    assert_eq!(attested_on_chain(&world, &written.record), None);
}

#[test]
fn a_tampered_or_substituted_opening_is_refused_by_the_patient() {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let patient = world.patient(50);
    let nullifier_key = file_nullifier_key(&world, &patient);
    let dir = tempfile::tempdir().unwrap();
    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);
    let enrolment = enrol_at(&gateway, &patient, &seoul.desk.name);
    let written: Vec<WrittenRecord> = ["type2_diabetes-2-0000.json", "healthy-12-0000.json"]
        .iter()
        .map(|name| {
            gateway
                .write_record(&world.write_request(
                    &seoul.doctor.actor,
                    &patient.actor.address,
                    &fixture(name),
                ))
                .unwrap()
        })
        .collect();
    let first = &written[0];
    let attested = attested_on_chain(&world, &first.record).unwrap();
    let sealed = gateway.sealed_opening(&first.record).unwrap();
    let key = record_key(&enrolment, first.index);
    let address = patient.actor.address;
    open_opening(&sealed, key, address, first.record, &attested).unwrap();

    // Any altered byte.
    for at in [0, 5, sealed.len() / 2, sealed.len() - 1] {
        let mut altered = sealed.clone();
        altered[at] ^= 0x01;
        let refused = open_opening(&altered, key, address, first.record, &attested);
        assert!(
            matches!(refused, Err(OpenRecordError::Seal(_))),
            "byte {at}: {refused:?}"
        );
    }
    // The other record's opening, served for this one: it does not open under this binding.
    let other = gateway.sealed_opening(&written[1].record).unwrap();
    assert!(matches!(
        open_opening(&other, key, address, first.record, &attested),
        Err(OpenRecordError::Seal(SealError::Refused))
    ));
    // A gateway that holds the record key can seal another opening of the same record (a
    // blinding of its choice, say to link the patient's proofs): it opens, but commits to
    // something the chain never attested.
    let schema = zk::Schema::clinical_v1();
    let forged = zk::RecordOpening::random(
        &schema,
        zk::record_from_bundle(
            &fixture("type2_diabetes-2-0000.json"),
            &schema,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        )
        .unwrap(),
        nullifier_key,
        medchain_types::ContentHash::of(fixture("type2_diabetes-2-0000.json").as_bytes())
            .0
            .0,
        &mut OsRng,
    )
    .unwrap();
    let forged_sealed = SealedOpening::seal(
        &RecordKey::new(key).opening_key(),
        &OpeningBinding {
            patient: address,
            record: first.record,
        },
        &forged.to_bytes(),
    )
    .unwrap()
    .to_bytes();
    assert!(matches!(
        open_opening(&forged_sealed, key, address, first.record, &attested),
        Err(OpenRecordError::WrongOpening { attested: a, .. }) if a == attested
    ));

    // The same substitution made in the gateway's database is caught by `fetch_opening`.
    drop(handle);
    let database = rusqlite::Connection::open(dir.path().join("emr.sqlite3")).unwrap();
    let changed = database
        .execute(
            "UPDATE records SET sealed_opening = ?1 WHERE release_tx = ?2",
            rusqlite::params![forged_sealed, first.record.as_bytes()],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let handle = world.gateway(&seoul, dir.path());
    let caught = fetch_opening(
        &world,
        &link(&seoul, &handle, &enrolment),
        &patient,
        &first.record,
    );
    assert!(
        matches!(caught, Err(OpenRecordError::WrongOpening { .. })),
        "{caught:?}"
    );
}

/// What a gateway stopped after keeping an opening leaves: the opening of a fresh commitment,
/// sealed for the patient and kept in the record's row (here made with the patient's record
/// key, which is the hospital's too). Returns the commitment.
fn keep_opening(
    store: &EmrStore,
    enrolment: &taka::PatientEnrolment,
    patient: &Party,
    record: &WrittenRecord,
    bundle: &str,
    nullifier_key: &zk::NullifierKey,
) -> Hash32 {
    let schema = zk::Schema::clinical_v1();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let attributes = zk::record_from_bundle(bundle, &schema, as_of).unwrap();
    let opening = zk::RecordOpening::random(
        &schema,
        attributes,
        *nullifier_key,
        medchain_types::ContentHash::of(bundle.as_bytes()).0.0,
        &mut OsRng,
    )
    .unwrap();
    let commitment = opening.commit().unwrap().to_bytes();
    let sealed = SealedOpening::seal(
        &RecordKey::new(record_key(enrolment, record.index)).opening_key(),
        &OpeningBinding {
            patient: patient.actor.address,
            record: record.record,
        },
        &opening.to_bytes(),
    )
    .unwrap();
    let key = EmrKey {
        patient: PatientAddress(patient.actor.address.as_bytes().try_into().unwrap()),
        index: record.index,
    };
    let kept = store
        .keep_opening(
            &key,
            &RecordCommitment(commitment),
            as_of,
            &sealed.to_bytes(),
        )
        .unwrap();
    assert!(!kept.attested);
    Hash32::from(commitment)
}

/// Three records stored before their patient had a key; the gateway is stopped and the
/// patient files one. At the next start: the record whose opening was kept but not filed gets
/// exactly that commitment filed; the one filed but not marked is found on chain and marked,
/// not filed again; the one never tried is attested. The patient opens all three.
#[test]
fn a_restarted_gateway_completes_attestations_without_filing_twice() {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let patient = world.patient(50);
    let dir = tempfile::tempdir().unwrap();
    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);
    let enrolment = enrol_at(&gateway, &patient, &seoul.desk.name);
    let bundles = [
        fixture("type2_diabetes-2-0000.json"),
        fixture("healthy-12-0000.json"),
        fixture("ckd_stage3-14-0000.json"),
    ];
    let written: Vec<WrittenRecord> = bundles
        .iter()
        .map(|bundle| {
            gateway
                .write_record(&world.write_request(
                    &seoul.doctor.actor,
                    &patient.actor.address,
                    bundle,
                ))
                .unwrap()
        })
        .collect();
    assert!(written.iter().all(|record| record.attestation.is_none()));
    drop(handle);

    let nullifier_key = file_nullifier_key(&world, &patient);
    let store = EmrStore::open(&EmrLocation::in_data_dir(dir.path())).unwrap();
    // Record 0: stopped after keeping its opening, before filing.
    let kept = keep_opening(
        &store,
        &enrolment,
        &patient,
        &written[0],
        &bundles[0],
        &nullifier_key,
    );
    // Record 1: stopped after filing, before marking.
    let filed = keep_opening(
        &store,
        &enrolment,
        &patient,
        &written[1],
        &bundles[1],
        &nullifier_key,
    );
    world.send(
        &seoul.desk.actor,
        Payload::Research(ResearchPayload::Attest {
            record: written[1].record,
            commitment: filed,
        }),
    );
    let nonce = world.client.next_nonce(&seoul.desk.actor.address).unwrap();

    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);
    assert_eq!(attested_on_chain(&world, &written[0].record), Some(kept));
    assert_eq!(attested_on_chain(&world, &written[1].record), Some(filed));
    assert!(attested_on_chain(&world, &written[2].record).is_some());
    assert_eq!(
        world.client.next_nonce(&seoul.desk.actor.address).unwrap(),
        nonce + 2,
        "records 0 and 2 filed once each, record 1 not again"
    );
    assert!(store.unattested().unwrap().is_empty());
    let link = link(&seoul, &handle, &enrolment);
    for record in &written {
        assert_eq!(held(&gateway, &patient, &record.record).state, "attested");
        let opening = fetch_opening(&world, &link, &patient, &record.record).unwrap();
        assert_eq!(
            Some(Hash32::from(opening.commit().unwrap().to_bytes())),
            attested_on_chain(&world, &record.record)
        );
    }
}
