//! The `medchain hospital` service on a real chain (the node's execution driver and HTTP API on
//! loopback, blocks finalized with real certificates), through its HTTP API and
//! `GatewayClient`, on SQLite and local blobs: enrolment, release, restart mid-release, licences
//! and sharing with every refusal logged on chain.

#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
#[path = "support/producer.rs"]
mod producer;
#[path = "../../node/tests/served/mod.rs"]
mod served;
#[path = "support/world.rs"]
mod world;

use commonware_codec::Encode as _;
use medchain_client::StateQuery;
use medchain_gateway::service::RESUME_EVERY;
use medchain_gateway::{
    blobs::{RecordBinding, RecordKey, SealedRecord},
    client::{GatewayClient, GatewayClientError},
    emr::{EmrLocation, EmrStore, Hemr, PatientAddress, RecordState, ReleaseTxId},
    wire::WrittenRecord,
};
use medchain_types::{
    ContentHash, IdentityPayload, Payload, RecordId, emergency::vouching_key_from,
};
use std::{
    thread,
    time::{Duration, Instant},
};
use world::{Hospital, Party, Storage, World, enrol_at, fixture};

fn client(handle: &medchain_gateway::service::HospitalHandle) -> GatewayClient {
    GatewayClient::new(&handle.url()).unwrap()
}

/// The patient opens a stored record with the key of its own enrolment, against hEMR.
fn open_as_patient(
    gateway: &GatewayClient,
    patient: &Party,
    enrolment: &taka::PatientEnrolment,
    written: &WrittenRecord,
) -> Vec<u8> {
    let blob = gateway.blob(&written.blob_hash).unwrap();
    let j = taka::RecordIndex::new(written.index).unwrap();
    let key = RecordKey::new(*enrolment.factors().factor(j).record_key());
    let binding = RecordBinding {
        patient: patient.actor.address,
        index: written.index,
        record_hash: written.record_hash,
    };
    SealedRecord::from_bytes(&blob)
        .unwrap()
        .open(&key, &binding)
        .unwrap()
        .to_vec()
}

#[test]
fn a_written_record_is_released_sealed_stored_and_pointed_to() {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let patient = world.patient(50);
    let dir = tempfile::tempdir().unwrap();
    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);

    let info = gateway.info().unwrap();
    assert_eq!(
        (info.hospital, info.address, info.org),
        (
            seoul.desk.name.clone(),
            seoul.desk.actor.address,
            seoul.org.clone()
        )
    );

    // Not enrolled yet: refused before anything is written.
    let bundle = fixture("healthy-12-0000.json");
    let request = world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle);
    let refused = gateway.write_record(&request).unwrap_err();
    assert!(
        matches!(&refused, GatewayClientError::Api { status: 409, body } if body.code == "not_enrolled"),
        "{refused:?}"
    );

    let enrolment = enrol_at(&gateway, &patient, &seoul.desk.name);
    let written = gateway.write_record(&request).unwrap();
    assert_eq!(written.index, 1, "EMR indexes start at 1 (S3-release)");
    assert_eq!(written.record_hash, ContentHash::of(bundle.as_bytes()));

    // On chain: the doctor's release and the pointer the hospital filed.
    let record = world
        .client
        .read(&StateQuery::record(&written.record))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        (record.patient, record.doctor, record.record_hash),
        (
            patient.actor.address,
            seoul.doctor.actor.address,
            written.record_hash
        )
    );
    let pointer = world
        .client
        .read(&StateQuery::storage(&written.record))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(pointer.blob_hash, written.blob_hash);

    // The patient opens it with the factor of j: the same key the hospital derived.
    assert_eq!(
        open_as_patient(&gateway, &patient, &enrolment, &written),
        bundle.as_bytes()
    );
    let held = gateway.patient_records(&patient.actor.address).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (
            held[0].record,
            held[0].index,
            held[0].blob_hash,
            held[0].state.as_str()
        ),
        (written.record, 1, Some(written.blob_hash), "stored")
    );

    // The same bundle again is refused; another bundle is j = 2.
    let again = gateway.write_record(&request).unwrap_err();
    assert!(
        matches!(&again, GatewayClientError::Api { status: 409, body } if body.code == "duplicate_record"),
        "{again:?}"
    );
    // With a record here, the patient cannot enrol again (its records are sealed under it).
    let re_enrol = {
        let hospital = taka::Identity::new(seoul.desk.name.as_str()).unwrap();
        let (_, hello) =
            taka::Initiator::start_enrolment(&patient.keys, hospital, &mut rand_core::OsRng);
        gateway.enrol_hello(&hello).unwrap_err()
    };
    assert!(
        matches!(&re_enrol, GatewayClientError::Api { status: 409, body } if body.code == "already_enrolled"),
        "{re_enrol:?}"
    );
    let second = fixture("hypertension-13-0000.json");
    let written2 = gateway
        .write_record(&world.write_request(&seoul.doctor.actor, &patient.actor.address, &second))
        .unwrap();
    assert_eq!(written2.index, 2);
}

fn two_hospitals_and_a_patient() -> (World, Hospital, Hospital, Party) {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let busan = world.hospital("Busan Medical", 2);
    let patient = world.patient(50);
    (world, seoul, busan, patient)
}

#[test]
fn a_write_that_does_not_fit_its_release_is_refused_and_nothing_is_kept() {
    let (world, seoul, busan, patient) = two_hospitals_and_a_patient();
    let dir = tempfile::tempdir().unwrap();
    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);
    enrol_at(&gateway, &patient, &seoul.desk.name);
    let bundle = fixture("healthy-12-0000.json");
    let code = |request| match gateway.write_record(&request) {
        Err(GatewayClientError::Api { body, .. }) => body.code,
        Err(GatewayClientError::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    };

    // The release commits to another bundle.
    let mut other_bundle =
        world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle);
    other_bundle.bundle = fixture("hypertension-13-0000.json");
    other_bundle.fhir_patient = world::fixture_patient(&other_bundle.bundle);
    assert_eq!(code(other_bundle), "bad_release");
    // A doctor of another hospital.
    let foreign = world.write_request(&busan.doctor.actor, &patient.actor.address, &bundle);
    assert_eq!(code(foreign), "not_our_doctor");
    // The bundle is about someone else.
    let mut stranger = world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle);
    stranger.fhir_patient = "urn:uuid:00000000-0000-4000-8000-000000000000".into();
    assert_eq!(code(stranger), "invalid_bundle");
    // Not a transaction at all.
    let mut garbage = world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle);
    garbage.release = vec![1, 2, 3];
    assert_eq!(code(garbage), "bad_request");
    // The release is checked before the bundle is parsed: a hostile bundle (here not even
    // JSON) under an unsigned or foreign release is refused for the release, never parsed.
    let hostile = format!("{{\"{}\": [", "k".repeat(1 << 16));
    let mut unsigned = world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle);
    unsigned.release = Vec::new();
    unsigned.bundle = hostile.clone();
    assert_eq!(code(unsigned), "bad_request");
    let mut mismatched = world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle);
    mismatched.bundle = hostile.clone();
    assert_eq!(code(mismatched), "bad_release");
    let mut foreign = world.write_request(&busan.doctor.actor, &patient.actor.address, &bundle);
    foreign.release = world
        .signed_release(
            &busan.doctor.actor,
            &patient.actor.address,
            hostile.as_bytes(),
            0,
        )
        .encode()
        .to_vec();
    foreign.bundle = hostile;
    assert_eq!(code(foreign), "not_our_doctor");
    let nothing_kept = || {
        assert!(
            gateway
                .patient_records(&patient.actor.address)
                .unwrap()
                .is_empty()
        )
    };
    nothing_kept();

    // A release the chain refuses (its nonce was used meanwhile): the written record is
    // discarded, so the doctor can write the same bundle again, and it gets j = 1.
    let stale = world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle);
    let vouching = vouching_key_from(&seoul.doctor.actor.key);
    world.send(
        &seoul.doctor.actor,
        Payload::Identity(IdentityPayload::SetVouchingKey {
            key: vouching.public(),
            proof: vouching
                .proof_of_possession(world.client.light.chain_id(), &seoul.doctor.actor.address),
        }),
    );
    assert_eq!(code(stale), "chain_refused");
    nothing_kept();
    let fresh = world.write_request(&seoul.doctor.actor, &patient.actor.address, &bundle);
    assert_eq!(gateway.write_record(&fresh).unwrap().index, 1);

    // A revoked doctor is refused before anything is written.
    world.send(
        &seoul.desk.actor,
        medchain_state::testkit::revoke_doctor(&seoul.doctor.name),
    );
    let second = fixture("hypertension-13-0000.json");
    let revoked = world.write_request(&seoul.doctor.actor, &patient.actor.address, &second);
    assert_eq!(code(revoked), "not_our_doctor");
    assert_eq!(
        gateway
            .patient_records(&patient.actor.address)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_restarted_gateway_resumes_unfinished_releases_on_sqlite_and_local_blobs() {
    resumes_unfinished_releases(&Storage::default());
}

#[test]
fn a_restarted_gateway_resumes_unfinished_releases_on_postgres_and_s3() {
    let postgres = medchain_gateway::testkit::PostgresServer::start();
    let s3 = medchain_gateway::testkit::Moto::start();
    s3.create_bucket("records");
    resumes_unfinished_releases(&Storage {
        database: Some(postgres.url()),
        blobs: Some(format!(
            "s3://records/seoul?endpoint={}&region=us-east-1&allow_http=true&access_key_id=test&secret_access_key=test",
            s3.endpoint
        )),
    });
}

/// A gateway stopped after the `written` mark (the release not yet on chain) and one stopped
/// after the `released` mark (no blob, no pointer) both finish the release when started again:
/// the same signed release, one blob and one pointer each.
fn resumes_unfinished_releases(storage: &Storage) {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let patient = world.patient(50);
    let dir = tempfile::tempdir().unwrap();
    let enrolment = {
        let handle = world.gateway_on(&seoul, dir.path(), storage);
        enrol_at(&client(&handle), &patient, &seoul.desk.name)
    };

    // What the gateway had done when it was killed, done to its database directly.
    let location = match &storage.database {
        Some(url) => EmrLocation::parse(url),
        None => EmrLocation::in_data_dir(dir.path()),
    };
    let store = EmrStore::open(&location).unwrap();
    let row = PatientAddress(patient.actor.address.as_bytes().try_into().unwrap());
    let bundles = [
        fixture("healthy-12-0000.json"),
        fixture("hypertension-13-0000.json"),
    ];
    let releases: Vec<_> = bundles
        .iter()
        .zip(0..)
        .map(|(bundle, ahead)| {
            let tx = world.signed_release(
                &seoul.doctor.actor,
                &patient.actor.address,
                bundle.as_bytes(),
                ahead,
            );
            let hemr = Hemr(ContentHash::of(bundle.as_bytes()).0.0);
            let key = store
                .insert_record(&row, &hemr, bundle.as_bytes(), &tx.encode())
                .unwrap();
            (key, tx)
        })
        .collect();
    // The second stopped after `written`; the first after its release was final and marked.
    let (released_key, released_tx) = &releases[0];
    world.client.node.submit(released_tx).unwrap();
    world
        .client
        .wait_finalized(&released_tx.id(), &world::wait())
        .unwrap();
    store
        .mark_released(released_key, &ReleaseTxId(released_tx.id().0.0))
        .unwrap();
    assert_eq!(store.pending().unwrap().len(), 2);

    let handle = world.gateway_on(&seoul, dir.path(), storage);
    let gateway = client(&handle);
    eventually("both releases completed after the start", || {
        store.pending().unwrap().is_empty()
    });
    // A record only written is not listed: its release may never execute.
    store
        .insert_record(&row, &Hemr([9; 32]), b"{}", b"not yet released")
        .unwrap();
    let held = gateway.patient_records(&patient.actor.address).unwrap();
    assert_eq!(held.len(), 2);
    for ((record, (key, tx)), bundle) in held.iter().zip(&releases).zip(&bundles) {
        assert_eq!(record.state, RecordState::Stored.to_string());
        assert_eq!(
            record.record,
            RecordId::from(tx.id()),
            "the signed release itself"
        );
        assert_eq!(record.index, key.index);
        let pointer = world
            .client
            .read(&StateQuery::storage(&record.record))
            .unwrap()
            .value
            .unwrap();
        let written = WrittenRecord {
            record: record.record,
            index: record.index,
            record_hash: record.record_hash,
            blob_hash: pointer.blob_hash,
            release_tx: tx.id(),
            attestation: None,
            med: None,
        };
        assert_eq!(Some(pointer.blob_hash), record.blob_hash);
        assert_eq!(
            open_as_patient(&gateway, &patient, &enrolment, &written),
            bundle.as_bytes()
        );
    }
}

/// Waits until `done` holds, polling; panics naming `what` if it never does (a liveness
/// bound, far above what it takes: the gateway resumes every `RESUME_EVERY`).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + 6 * RESUME_EVERY + world::wait().timeout;
    while !done() {
        assert!(Instant::now() < give_up, "never: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A release that becomes final only after the gateway started — its wait at start runs out —
/// is completed while the gateway runs, without a restart: the gateway serves meanwhile, and
/// the record is then sealed, stored and pointed to.
#[test]
fn a_release_final_after_the_start_is_completed_while_the_gateway_runs() {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let patient = world.patient(50);
    let dir = tempfile::tempdir().unwrap();
    let enrolment = {
        let handle = world.gateway(&seoul, dir.path());
        enrol_at(&client(&handle), &patient, &seoul.desk.name)
    };
    // Written by a gateway stopped before filing it; signed one nonce ahead of the doctor's
    // account, so it stays queued on chain until the doctor's next transaction fills the gap.
    let store = EmrStore::open(&EmrLocation::in_data_dir(dir.path())).unwrap();
    let row = PatientAddress(patient.actor.address.as_bytes().try_into().unwrap());
    let bundle = fixture("healthy-12-0000.json");
    let queued = world.signed_release(
        &seoul.doctor.actor,
        &patient.actor.address,
        bundle.as_bytes(),
        1,
    );
    let hemr = Hemr(ContentHash::of(bundle.as_bytes()).0.0);
    let key = store
        .insert_record(&row, &hemr, bundle.as_bytes(), &queued.encode())
        .unwrap();

    let handle = world.gateway(&seoul, dir.path());
    let gateway = client(&handle);
    // Serving, with the release not final.
    assert!(
        gateway
            .patient_records(&patient.actor.address)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.pending().unwrap().len(), 1);

    // The doctor's next transaction (a release of another bundle, filed directly).
    let other = world.signed_release(
        &seoul.doctor.actor,
        &patient.actor.address,
        fixture("hypertension-13-0000.json").as_bytes(),
        0,
    );
    world.client.node.submit(&other).unwrap();
    eventually(
        "the queued release completed by the running gateway",
        || store.pending().unwrap().is_empty(),
    );
    let held = gateway.patient_records(&patient.actor.address).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].record, held[0].index),
        (RecordId::from(queued.id()), key.index)
    );
    let pointer = world
        .client
        .read(&StateQuery::storage(&held[0].record))
        .unwrap()
        .value
        .unwrap();
    let written = WrittenRecord {
        record: held[0].record,
        index: held[0].index,
        record_hash: held[0].record_hash,
        blob_hash: pointer.blob_hash,
        release_tx: queued.id(),
        attestation: None,
        med: None,
    };
    assert_eq!(
        open_as_patient(&gateway, &patient, &enrolment, &written),
        bundle.as_bytes()
    );
}

/// Malformed, oversized and misdirected requests are answered with `{code, message, hint}` and
/// the right status; the gateway keeps serving.
#[test]
fn bad_requests_are_typed_errors_and_never_stop_the_gateway() {
    let (world, seoul, busan, patient) = two_hospitals_and_a_patient();
    let dir = tempfile::tempdir().unwrap();
    let handle = world.gateway(&seoul, dir.path());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post_as = |content_type: Option<&str>, path: &str, body: Vec<u8>| {
        let mut request = agent.post(&format!("{}{path}", handle.url()));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let mut response = request.send(&body[..]).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    };
    let post = |path: &str, body: Vec<u8>| post_as(Some("application/json"), path, body);
    let code = |(status, text): (u16, String)| {
        let body: medchain_gateway::wire::ErrorBody = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status} {text}: not an error body: {e}"));
        assert!(!body.message.is_empty() && !body.hint.is_empty());
        (status, body.code)
    };
    let bad = |code: &str| (400, code.to_owned());

    assert_eq!(
        code(post("/v1/records", b"{not json".to_vec())),
        bad("bad_request")
    );
    assert_eq!(
        code(post("/v1/shares", br#"{"record": 5}"#.to_vec())),
        bad("bad_request")
    );
    assert_eq!(
        code(post("/v1/enrolments/hello", br#"{"hello": "zz"}"#.to_vec())),
        bad("bad_request")
    );
    assert_eq!(
        code(post(
            "/v1/enrolments/hello",
            br#"{"hello": "00ff"}"#.to_vec()
        )),
        bad("bad_request")
    );
    let oversized = vec![b' '; medchain_gateway::wire::MAX_REQUEST_BYTES + 1];
    assert_eq!(
        code(post("/v1/records", oversized)),
        (413, "too_large".to_owned())
    );
    // Only a record write carries a bundle: every other body is capped at 64 KiB.
    let small_limit = medchain_gateway::wire::MAX_SMALL_REQUEST_BYTES;
    for path in ["/v1/shares", "/v1/enrolments/hello", "/v1/emergency-access"] {
        assert_eq!(
            code(post(path, vec![b' '; small_limit + 1])),
            (413, "too_large".to_owned()),
            "{path}"
        );
    }
    assert_eq!(
        code(post("/v1/records", vec![b' '; small_limit + 1])),
        bad("bad_request")
    );
    // A POST must declare its JSON body, so no browser form or simple cross-site POST gets in.
    let share = br#"{"record": 5}"#.to_vec();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        assert_eq!(
            code(post_as(content_type, "/v1/shares", share.clone())),
            (415, "unsupported_media_type".to_owned()),
            "{content_type:?}"
        );
    }
    assert_eq!(
        code(post_as(
            Some("Application/JSON; charset=utf-8"),
            "/v1/shares",
            share
        )),
        bad("bad_request")
    );
    let unknown_session = format!(
        r#"{{"session": "{}", "confirmation": "00"}}"#,
        "ab".repeat(16)
    );
    // The confirmation is checked first: it does not decode.
    assert_eq!(
        code(post("/v1/enrolments/confirm", unknown_session.into_bytes())),
        bad("bad_request")
    );

    // Entries go through a gateway onto MED only: on this chain without MED a well-formed
    // signed entry is refused with the reason, and none is kept.
    assert_eq!(
        code(post("/v1/entries", br#"{"entry": 5}"#.to_vec())),
        bad("bad_request")
    );
    let signed = medchain_client::build::med_entry(
        world.client.light.chain_id(),
        &vouching_key_from(&patient.actor.key),
        patient.actor.address,
        b"EEE",
        1_700_000_000_000,
    )
    .unwrap();
    assert_eq!(
        code(post("/v1/entries", serde_json::to_vec(&signed).unwrap())),
        (409, "no_med_chain".to_owned())
    );
    let id = signed.entry.entry_id(world.client.light.chain_id());
    let Err(GatewayClientError::Api { status, body }) = client(&handle).entry(&id) else {
        panic!("a refused entry is not kept");
    };
    assert_eq!((status, body.code.as_str()), (404, "unknown_entry"));

    let gateway = client(&handle);
    // An enrolment hello for another hospital.
    let elsewhere = taka::Identity::new(busan.desk.name.as_str()).unwrap();
    let (_, hello) =
        taka::Initiator::start_enrolment(&patient.keys, elsewhere, &mut rand_core::OsRng);
    assert!(matches!(
        gateway.enrol_hello(&hello),
        Err(GatewayClientError::Api { status: 400, body }) if body.code == "bad_request"
    ));
    // A doctor is not a patient.
    let mine = taka::Identity::new(seoul.desk.name.as_str()).unwrap();
    let (_, hello) =
        taka::Initiator::start_enrolment(&seoul.doctor.keys, mine.clone(), &mut rand_core::OsRng);
    assert!(matches!(
        gateway.enrol_hello(&hello),
        Err(GatewayClientError::Api { status: 422, body }) if body.code == "unknown_identity"
    ));
    // A confirmation is accepted once: the session is consumed.
    let (state, hello) =
        taka::Initiator::start_enrolment(&patient.keys, mine, &mut rand_core::OsRng);
    let (session, reply) = gateway.enrol_hello(&hello).unwrap();
    let (_, _, confirmation) = state.finish_enrolment(&patient.keys, &reply).unwrap();
    gateway.enrol_confirm(&session, &confirmation).unwrap();
    assert!(matches!(
        gateway.enrol_confirm(&session, &confirmation),
        Err(GatewayClientError::Api { status: 404, body }) if body.code == "unknown_session"
    ));

    // Unknown records and blobs, and ρ for a doctor of another hospital.
    let unknown = RecordId(medchain_types::Hash32::from([7; 32]));
    let (_, request) = {
        let enrolment = enrol_at(&gateway, &patient, &seoul.desk.name);
        let authorization = enrolment
            .authorize(
                &taka::Identity::new(busan.doctor.name.as_str()).unwrap(),
                &[taka::RecordIndex::new(1).unwrap()],
                u64::MAX,
            )
            .unwrap();
        let licence = taka::Licence::issue(
            &busan.desk.keys,
            &world.params,
            taka::Identity::new(busan.doctor.name.as_str()).unwrap(),
            u64::MAX,
            &mut rand_core::OsRng,
        );
        taka::PendingShare::request(
            &busan.doctor.keys,
            &world.params,
            licence,
            &authorization,
            &mut rand_core::OsRng,
        )
        .unwrap()
    };
    assert!(matches!(
        gateway.share(
            &unknown,
            medchain_types::Purpose::Treatment,
            &request,
            &medchain_gateway::client::DoctorSigner {
                key: &busan.doctor.actor.key,
                chain_id: world.client.light.chain_id(),
                holder: &seoul.desk.name,
            }
        ),
        Err(GatewayClientError::Api { status: 404, body }) if body.code == "unknown_record"
    ));
    assert!(matches!(
        gateway.blob(&ContentHash::of(b"nothing")),
        Err(GatewayClientError::Api { status: 404, body }) if body.code == "unknown_blob"
    ));
    assert!(matches!(
        gateway.licence(&busan.doctor.name),
        Err(GatewayClientError::Refused { code, .. }) if code == "not_our_doctor"
    ));
    // Still serving.
    assert_eq!(gateway.info().unwrap().hospital, seoul.desk.name);
}
