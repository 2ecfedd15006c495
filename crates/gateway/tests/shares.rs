//! Sharing and break-glass through two hospital gateways on a real chain: a record written at
//! Seoul General (A) is read by a doctor of Busan Medical (B) under the patient's consent and
//! TAKA authorisation; every refusal — no consent, replay, wrong record, a forged
//! authorisation, another doctor's licence, revoked consent, revoked doctor, a wrong emergency —
//! is answered 403 with its reason and logged on chain as denied by A's gateway; an emergency
//! filed by B with both vouches is served by A, notified and exported as break-glass; the
//! doctor's library (`medchain_gateway::doctor`) refuses a release that is not the record
//! asked for, and a break-glass it cannot complete, before sending anything.

#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
#[path = "support/producer.rs"]
mod producer;
#[path = "../../node/tests/served/mod.rs"]
mod served;
#[path = "support/world.rs"]
mod world;

use medchain_client::{Client, ListQuery, StateQuery};
use medchain_gateway::{
    blobs::{RecordBinding, RecordKey, SealedRecord},
    client::{DoctorSigner, GatewayClient, GatewayClientError},
    doctor::{self, BreakGlass, DoctorError, DoctorKeys, Release},
    doctor_request::{DoctorRequest, DoctorRoute},
    wire::{EmergencyFiling, ErrorBody, Served, ShareRecord, WrittenRecord},
};
use medchain_state::{testkit, values::AccessLogEntry};
use medchain_types::{
    AccessDecision, Address, ConsentId, DenyReason, Expiry, Hash32, IdentityPayload, Payload,
    Purpose, Role, TxId,
    emergency::{emergency_message, vouching_key_from},
};
use rand_core::OsRng;
use world::{Hospital, Party, World, enrol_at, fixture};

/// Seconds since the epoch, an hour from now: the patient's authorisation expiry.
fn in_an_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600
}

/// A doctor's share request for the records `authorised` by the patient, with `licence`.
fn request(
    world: &World,
    doctor: &Party,
    licence: taka::Licence,
    enrolment: &taka::PatientEnrolment,
    authorised: &[u64],
) -> (taka::PendingShare, taka::ShareRequest) {
    let records: Vec<_> = authorised
        .iter()
        .map(|&j| taka::RecordIndex::new(j).unwrap())
        .collect();
    let doctor_id = taka::Identity::new(doctor.name.as_str()).unwrap();
    let authorization = enrolment
        .authorize(&doctor_id, &records, in_an_hour())
        .unwrap();
    taka::PendingShare::request(
        &doctor.keys,
        &world.params,
        licence,
        &authorization,
        &mut OsRng,
    )
    .unwrap()
}

/// The doctor opens what the gateway released: the record key and htxM from the TAKA
/// response, the blob from the gateway, the bundle checked against hEMR on chain.
fn open_served(
    world: &World,
    gateway: &GatewayClient,
    releases: &[taka::RecordRelease],
    served: &Served,
) -> Vec<u8> {
    let release = &releases[0];
    let blob = &served.blobs[0];
    assert_eq!(release.htxm(), &blob.record.0.0, "htxM is the record id");
    let record = world
        .client
        .read(&medchain_client::StateQuery::record(&blob.record))
        .unwrap()
        .value
        .unwrap();
    let key: [u8; 32] = release.emr().try_into().unwrap();
    let binding = RecordBinding {
        patient: record.patient,
        index: blob.index,
        record_hash: record.record_hash,
    };
    SealedRecord::from_bytes(&gateway.blob(&blob.blob_hash).unwrap())
        .unwrap()
        .open(&RecordKey::new(key), &binding)
        .unwrap()
        .to_vec()
}

/// The chain's log entry of an access the gateway filed, proven.
fn logged(client: &Client, access_tx: &TxId, record: &WrittenRecord) -> AccessLogEntry {
    client
        .proven_access_decision(access_tx, &record.record)
        .unwrap()
        .value
        .unwrap()
}

/// The refusal's code; asserts the chain logged it as denied by `gateway` with `reason`.
fn refusal<T: std::fmt::Debug>(
    client: &Client,
    result: Result<T, GatewayClientError>,
    record: &WrittenRecord,
    served_by: &Address,
    reason: DenyReason,
) -> TxId {
    let (code, access_tx) = match result {
        Err(GatewayClientError::Refused {
            code, access_tx, ..
        }) => (code, access_tx.expect("a refusal names its access_tx")),
        other => panic!("expected {reason:?}, got {other:?}"),
    };
    let logged = logged(client, &access_tx, record);
    assert_eq!(logged.decision, AccessDecision::Denied { reason });
    assert_eq!(logged.served_by, Some(*served_by));
    let expected = serde_json::to_value(reason).unwrap();
    assert_eq!(code, expected.as_str().unwrap());
    access_tx
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// `doctor`'s signed `POST /v1/shares` body for `record` under `request`.
fn signed_share(
    s: &Scene,
    doctor: &Party,
    record: &WrittenRecord,
    request: &taka::ShareRequest,
    issued_at_ms: u64,
) -> ShareRecord {
    let request = request.to_bytes();
    let signature = DoctorRequest {
        chain_id: s.world.client.light.chain_id(),
        holder: &s.seoul.desk.name,
        route: DoctorRoute::Share,
        subject: record.record.0,
        purpose: Purpose::Treatment,
        taka_message: &request,
        issued_at_ms,
    }
    .sign(&doctor.actor.key);
    ShareRecord {
        record: record.record,
        purpose: Purpose::Treatment,
        request,
        issued_at_ms,
        signature,
    }
}

/// Posts `body` as it is (the client would sign afresh); the status and error code.
fn post_share(gateway: &GatewayClient, body: &ShareRecord) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&format!("{}/v1/shares", gateway.url()))
        .send_json(body)
        .unwrap();
    let status = response.status().as_u16();
    let body: ErrorBody = response.body_mut().read_json().unwrap();
    (status, body.code)
}

/// One text field of every resource of a FHIR bundle.
fn each(bundle: &serde_json::Value, field: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["resource"][field].as_str().unwrap().to_owned())
        .collect()
}

struct Scene {
    world: World,
    seoul: Hospital,
    busan: Hospital,
    patient: Party,
    enrolment: taka::PatientEnrolment,
    a: GatewayClient,
    b: GatewayClient,
    records: [WrittenRecord; 2],
    _gateways: Vec<(medchain_gateway::service::HospitalHandle, tempfile::TempDir)>,
}

/// Two hospitals with gateways; the patient enrolled at A, two records written there.
fn scene() -> Scene {
    let world = World::new();
    let seoul = world.hospital("Seoul General", 1);
    let busan = world.hospital("Busan Medical", 2);
    let patient = world.patient(50);
    let mut gateways = Vec::new();
    let mut start = |hospital: &Hospital| {
        let dir = tempfile::tempdir().unwrap();
        let handle = world.gateway(hospital, dir.path());
        let client = GatewayClient::new(&handle.url()).unwrap();
        gateways.push((handle, dir));
        client
    };
    let (a, b) = (start(&seoul), start(&busan));
    let enrolment = enrol_at(&a, &patient, &seoul.desk.name);
    let write = |name: &str| {
        a.write_record(&world.write_request(
            &seoul.doctor.actor,
            &patient.actor.address,
            &fixture(name),
        ))
        .unwrap()
    };
    let records = [
        write("healthy-12-0000.json"),
        write("hypertension-13-0000.json"),
    ];
    Scene {
        world,
        seoul,
        busan,
        patient,
        enrolment,
        a,
        b,
        records,
        _gateways: gateways,
    }
}

impl Scene {
    /// Hospital A refuses `doctor`'s signed `request` for `record` with `reason`, and the
    /// refusal is logged on chain as served by A's desk.
    fn share_refused(
        &self,
        doctor: &Party,
        record: &WrittenRecord,
        request: &taka::ShareRequest,
        reason: DenyReason,
    ) -> TxId {
        let result = self.a.share(
            &record.record,
            Purpose::Treatment,
            request,
            &self.signed_by(doctor),
        );
        refusal(
            &self.world.client,
            result,
            record,
            &self.seoul.desk.actor.address,
            reason,
        )
    }

    /// How `doctor` signs requests to A, the hospital holding the records.
    fn signed_by<'a>(&'a self, doctor: &'a Party) -> DoctorSigner<'a> {
        DoctorSigner {
            key: &doctor.actor.key,
            chain_id: self.world.client.light.chain_id(),
            holder: &self.seoul.desk.name,
        }
    }

    /// How many accesses the patient's history at A shows.
    fn logged_accesses(&self) -> usize {
        let audit = self
            .a
            .fhir_audit_events(&self.patient.actor.address)
            .unwrap();
        audit["entry"].as_array().map_or(0, Vec::len)
    }

    fn grant(&self, grantee: &Party, record: &WrittenRecord) -> ConsentId {
        let confirmed = self.world.send(
            &self.patient.actor,
            testkit::grant(
                &grantee.actor.address,
                &[record.record],
                Purpose::Treatment,
                Expiry::AtHeight(u64::MAX),
            ),
        );
        ConsentId(confirmed.receipt.tx.0)
    }
}

#[test]
fn a_doctor_of_another_hospital_reads_a_record_only_under_consent() {
    let s = scene();
    let doctor = &s.busan.doctor;
    let record = &s.records[0];
    let bundle = fixture("healthy-12-0000.json");
    let desk = s.seoul.desk.actor.address;

    // ρ comes from the doctor's own hospital; the other refuses to sign it.
    let licence = s.b.licence(&doctor.name).unwrap();
    assert_eq!(
        licence.hospital().as_bytes(),
        s.busan.desk.name.as_str().as_bytes()
    );
    assert!(matches!(
        s.a.licence(&doctor.name),
        Err(GatewayClientError::Refused { code, .. }) if code == "not_our_doctor"
    ));

    // ρ is public, so anyone can build a TAKA request naming this doctor; only the doctor can
    // sign the HTTP request. Signed by someone else, unsigned or stale: 401, nothing filed.
    let (_, in_his_name) = request(&s.world, doctor, licence.clone(), &s.enrolment, &[1]);
    let by_someone_else = s.a.share(
        &record.record,
        Purpose::Treatment,
        &in_his_name,
        &s.signed_by(&s.seoul.doctor),
    );
    assert!(
        matches!(&by_someone_else, Err(GatewayClientError::Api { status: 401, body }) if body.code == "unauthenticated"),
        "{by_someone_else:?}"
    );
    let mut unsigned = signed_share(&s, doctor, record, &in_his_name, now_ms());
    unsigned.signature.clear();
    assert_eq!(post_share(&s.a, &unsigned), (401, "unauthenticated".into()));
    let stale = signed_share(&s, doctor, record, &in_his_name, now_ms() - 10 * 60_000);
    assert_eq!(post_share(&s.a, &stale), (401, "unauthenticated".into()));
    assert_eq!(s.logged_accesses(), 0);
    // A genuine signed request is filed once; its exact replay is not filed again.
    let genuine = signed_share(&s, doctor, record, &in_his_name, now_ms());
    assert_eq!(post_share(&s.a, &genuine), (403, "no_consent".into()));
    assert_eq!(post_share(&s.a, &genuine), (401, "unauthenticated".into()));
    assert_eq!(s.logged_accesses(), 1);

    // A genuine authorisation, but no consent on chain.
    let (_, no_consent) = request(&s.world, doctor, licence.clone(), &s.enrolment, &[1]);
    s.share_refused(doctor, record, &no_consent, DenyReason::NoConsent);

    // Under consent the doctor reads it, and the access is logged as allowed.
    let consent = s.grant(doctor, record);
    let (pending, allowed) = request(&s.world, doctor, licence.clone(), &s.enrolment, &[1]);
    let served =
        s.a.share(
            &record.record,
            Purpose::Treatment,
            &allowed,
            &s.signed_by(doctor),
        )
        .unwrap();
    let releases = pending
        .open(&taka::HospitalResponse::from_bytes(&served.response).unwrap())
        .unwrap();
    assert_eq!(
        open_served(&s.world, &s.a, &releases, &served),
        bundle.as_bytes()
    );
    let logged = logged(&s.world.client, &served.access_tx, record);
    assert_eq!(
        logged.decision,
        AccessDecision::Allowed {
            consent: Some(consent)
        }
    );
    assert_eq!(logged.served_by, Some(desk));

    // The same request again: a replay.
    let result = s.a.share(
        &record.record,
        Purpose::Treatment,
        &allowed,
        &s.signed_by(doctor),
    );
    refusal(&s.world.client, result, record, &desk, DenyReason::Replayed);

    // Record 2 asked for under the authorisation of record 1.
    s.grant(doctor, &s.records[1]);
    let (_, for_one) = request(&s.world, doctor, licence.clone(), &s.enrolment, &[1]);
    let result = s.a.share(
        &s.records[1].record,
        Purpose::Treatment,
        &for_one,
        &s.signed_by(doctor),
    );
    refusal(
        &s.world.client,
        result,
        &s.records[1],
        &desk,
        DenyReason::WrongRecord,
    );

    // A forged authorisation: another patient's, presented for this patient's record.
    let stranger = s.world.patient(51);
    let strangers = enrol_at(&s.a, &stranger, &s.seoul.desk.name);
    let (_, forged) = request(&s.world, doctor, licence.clone(), &strangers, &[1]);
    s.share_refused(doctor, record, &forged, DenyReason::BadAuthorisation);

    // A doctor of A, authorised by the patient, presenting B's licence of another doctor.
    let other = &s.seoul.doctor;
    s.grant(other, record);
    let (_, borrowed) = request(&s.world, other, licence.clone(), &s.enrolment, &[1]);
    s.share_refused(other, record, &borrowed, DenyReason::LicenceMismatch);

    // The patient revokes the consent: refused.
    s.world.send(&s.patient.actor, testkit::revoke(&consent));
    let (_, after_revoke) = request(&s.world, doctor, licence.clone(), &s.enrolment, &[1]);
    s.share_refused(doctor, record, &after_revoke, DenyReason::ConsentRevoked);

    // Consent again, but the doctor's licence is revoked: refused, and B signs no ρ.
    s.grant(doctor, record);
    s.world
        .send(&s.busan.desk.actor, testkit::revoke_doctor(&doctor.name));
    let (_, revoked) = request(&s.world, doctor, licence, &s.enrolment, &[1]);
    s.share_refused(doctor, record, &revoked, DenyReason::DoctorRevoked);
    assert!(matches!(
        s.b.licence(&doctor.name),
        Err(GatewayClientError::Refused { code, .. }) if code == "not_our_doctor"
    ));

    // Every decision is in the patient's FHIR audit trail; the consents export shows both.
    let audit = s.a.fhir_audit_events(&s.patient.actor.address).unwrap();
    assert_eq!(
        each(&audit, "outcome"),
        ["4", "4", "0", "4", "4", "4", "4", "4", "4"]
    );
    let consents = s.a.fhir_consents(&s.patient.actor.address).unwrap();
    assert_eq!(
        each(&consents, "status"),
        ["inactive", "active", "active", "active"]
    );
}

#[test]
fn an_emergency_vouched_by_doctor_and_hospital_is_served_and_notified() {
    let s = scene();
    let doctor = &s.busan.doctor;
    let record = &s.records[0];
    let desk = s.seoul.desk.actor.address;
    let chain_id = s.world.client.light.chain_id().clone();

    // The doctor registers a vouching key (the gateway registered its own at start).
    let vouching = vouching_key_from(&doctor.actor.key);
    s.world.send(
        &doctor.actor,
        Payload::Identity(IdentityPayload::SetVouchingKey {
            key: vouching.public(),
            proof: vouching.proof_of_possession(&chain_id, &doctor.actor.address),
        }),
    );

    // η for record j = 1 of the patient (from the patient's EMR entry, in the real flow).
    let patient_id = taka::Identity::new(s.patient.name.as_str()).unwrap();
    let eta =
        taka::EmergencyRequest::new(patient_id, taka::RecordIndex::new(1).unwrap(), &mut OsRng);
    let hur = eta.hur();
    // The chain checks issued_at against its block time.
    let issued_at_ms = s
        .world
        .client
        .newest_certified()
        .unwrap()
        .at
        .header
        .timestamp_ms;
    let message = emergency_message(
        &chain_id,
        &doctor.name,
        &s.busan.desk.name,
        &record.record,
        &Hash32::from(hur),
        issued_at_ms,
    );
    let filing = EmergencyFiling {
        doctor: doctor.name.clone(),
        record: record.record,
        hur,
        issued_at_ms,
        doctor_vouch: vouching.sign(&message),
    };

    // A doctor of another hospital cannot have B vouch for him.
    let mut foreign = filing.clone();
    foreign.doctor = s.seoul.doctor.name.clone();
    assert!(matches!(
        s.b.file_emergency(&foreign),
        Err(GatewayClientError::Refused { code, .. }) if code == "not_our_doctor"
    ));

    let emergency = s.b.file_emergency(&filing).unwrap();
    let hospital_a = taka::Identity::new(s.seoul.desk.name.as_str()).unwrap();

    // A hello for another record than the emergency names: refused and logged.
    let wrong = taka::EmergencyRequest::new(
        taka::Identity::new(s.patient.name.as_str()).unwrap(),
        taka::RecordIndex::new(2).unwrap(),
        &mut OsRng,
    );
    let (_, wrong_hello) = taka::PendingEmergency::start(
        &doctor.keys,
        hospital_a.clone(),
        wrong,
        emergency.0.0,
        &mut OsRng,
    );
    // The proof that the doctor opened the patient's entry: a MAC under the record's
    // emergency gate, which the entry carries (sealed under the patient's template).
    let gate = s
        .enrolment
        .factors()
        .factor(taka::RecordIndex::new(1).unwrap())
        .emergency_gate();
    let doctor_id = taka::Identity::new(doctor.name.as_str()).unwrap();
    let gate_proof = taka::emergency_gate_proof(&gate, &emergency.0.0, &doctor_id);
    // Signed by anyone but the emergency's doctor: 401, nothing filed or released.
    let by_someone_else = s.a.emergency_access(
        &emergency,
        &wrong_hello,
        gate_proof,
        &s.signed_by(&s.seoul.doctor),
    );
    assert!(
        matches!(&by_someone_else, Err(GatewayClientError::Api { status: 401, body }) if body.code == "unauthenticated"),
        "{by_someone_else:?}"
    );
    assert_eq!(s.logged_accesses(), 0);

    let result =
        s.a.emergency_access(&emergency, &wrong_hello, gate_proof, &s.signed_by(doctor));
    refusal(
        &s.world.client,
        result,
        record,
        &desk,
        DenyReason::BadAuthorisation,
    );

    // The right hello without the entry's gate — a vouched doctor who learnt the record's
    // hospital and index some other way, without the patient's template: refused, logged.
    let (_, ungated_hello) = taka::PendingEmergency::start(
        &doctor.keys,
        hospital_a.clone(),
        eta.clone(),
        emergency.0.0,
        &mut OsRng,
    );
    let guessed = taka::emergency_gate_proof(&[0; 32], &emergency.0.0, &doctor_id);
    let result =
        s.a.emergency_access(&emergency, &ungated_hello, guessed, &s.signed_by(doctor));
    refusal(
        &s.world.client,
        result,
        record,
        &desk,
        DenyReason::BadAuthorisation,
    );

    // The right one: served as break-glass, the patient notified.
    let (pending, hello) =
        taka::PendingEmergency::start(&doctor.keys, hospital_a, eta, emergency.0.0, &mut OsRng);
    let served =
        s.a.emergency_access(&emergency, &hello, gate_proof, &s.signed_by(doctor))
            .unwrap();
    let release = pending
        .open(
            &doctor.keys,
            &taka::HospitalResponse::from_bytes(&served.response).unwrap(),
        )
        .unwrap();
    // What the doctor's library accepts of it: the record asked for, with its blob.
    let open = |index: u64, served: &Served| {
        doctor::open_release(
            &s.world.client,
            &Release {
                holder: &s.a,
                hospital: &s.seoul.desk.name,
                record: record.record,
                index,
                served,
                release: &release,
            },
        )
    };
    assert!(
        matches!(
            open(2, &served),
            Err(DoctorError::WrongRelease {
                released: 1,
                index: 2,
                ..
            })
        ),
        "a release of j=1 is not record j=2"
    );
    let blobless = Served {
        blobs: Vec::new(),
        ..served.clone()
    };
    assert!(matches!(
        open(1, &blobless),
        Err(DoctorError::NoBlob { .. })
    ));
    let received = open(1, &served).unwrap();
    assert_eq!(
        &*received.plaintext,
        fixture("healthy-12-0000.json").as_bytes()
    );
    assert_eq!(
        (received.index, received.access_tx, &received.hospital),
        (1, served.access_tx, &s.seoul.desk.name)
    );
    let logged = logged(&s.world.client, &served.access_tx, record);
    assert_eq!(logged.decision, AccessDecision::BreakGlass { emergency });
    let notifications = s.a.notifications(&s.patient.actor.address).unwrap();
    assert_eq!(notifications.len(), 1);
    assert_eq!(
        (
            notifications[0].emergency,
            notifications[0].record,
            notifications[0].access_tx
        ),
        (emergency, record.record, served.access_tx)
    );
    assert!(
        s.b.notifications(&s.patient.actor.address)
            .unwrap()
            .is_empty()
    );

    let audit = s.a.fhir_audit_events(&s.patient.actor.address).unwrap();
    let last = audit["entry"].as_array().unwrap().last().unwrap().clone();
    let purposes = last["resource"]["purposeOfEvent"][0]["coding"].to_string();
    assert!(purposes.contains("110127"), "{purposes}");
}

/// The doctor's break-glass flow stops, typed, before it sends anything when the template
/// opens none of the patient's entries, the gateway asked is not the holder's, or the
/// patient or the doctor is not who they must be. (Its success is the workspace's end-to-end
/// scenarios: the chain judges an emergency's time by its blocks, which here are not on the
/// wall clock the flow signs with.)
#[test]
fn break_glass_refuses_before_sending_anything() {
    let s = scene();
    let doctor = &s.busan.doctor;
    let record = &s.records[0];
    // The patient's emergency entry for record j = 1, sealed under their template.
    let j = taka::RecordIndex::new(1).unwrap();
    let entry = taka::EmrEntry::new(
        vec!["asthma".into()],
        record.record.0.0,
        taka::Identity::new(s.seoul.desk.name.as_str()).unwrap(),
        j,
    )
    .unwrap()
    .with_gate(*s.enrolment.factors().factor(j).emergency_gate());
    let template = [7u8; 64];
    let sealed = taka::EncryptedEntry::seal(
        &taka::Identity::new(s.patient.name.as_str()).unwrap(),
        &entry,
        &template,
        taka::BiometricKdfParams::RECOMMENDED,
        &mut OsRng,
    )
    .unwrap();
    s.world
        .send(&s.patient.actor, testkit::entry(&sealed.to_bytes()));

    let wait = world::wait();
    let attempt = |by: &Party, patient: &Address, template: &[u8], holder: &GatewayClient| {
        doctor::break_glass(
            &s.world.client,
            DoctorKeys {
                key: &by.actor.key,
                identity: &by.keys,
            },
            &BreakGlass {
                patient,
                template,
                own: &s.b,
                holder,
                wait: &wait,
            },
        )
        .err()
        .expect("refused")
    };
    let patient = s.patient.actor.address;
    let wrong = attempt(doctor, &patient, &[8; 64], &s.a);
    assert!(
        matches!(wrong, DoctorError::WrongTemplate { entries: 1, .. }),
        "{wrong:?}"
    );
    let elsewhere = attempt(doctor, &patient, &template, &s.b);
    assert!(
        matches!(&elsewhere, DoctorError::WrongHolder { named, answered, .. }
            if named == s.seoul.desk.name.as_str() && *answered == s.busan.desk.name),
        "{elsewhere:?}"
    );
    let stranger = testkit::address(99);
    assert!(matches!(
        attempt(doctor, &stranger, &template, &s.a),
        DoctorError::NotEnrolled { address } if address == stranger
    ));
    assert!(matches!(
        attempt(&s.patient, &patient, &template, &s.a),
        DoctorError::WrongRole {
            actual: Role::Patient,
            expected: Role::Doctor,
            ..
        }
    ));

    // Nothing was sent: no vouching key, no emergency request, no access.
    let vouching = s
        .world
        .client
        .read(&StateQuery::vouching_key(&doctor.actor.address))
        .unwrap();
    assert!(vouching.value.is_none());
    let (emergencies, _) = s.world.client.list_all(&ListQuery::emergencies()).unwrap();
    assert!(emergencies.is_empty());
    assert_eq!(s.logged_accesses(), 0);
}

#[test]
fn an_authorisation_for_two_records_releases_each_after_its_own_decision() {
    let s = scene();
    let doctor = &s.busan.doctor;
    let licence = s.b.licence(&doctor.name).unwrap();
    // Consent for record 1 only: asking for it under an authorisation for 1 and 2 is refused,
    // because record 2 is not consented — no key leaves.
    s.grant(doctor, &s.records[0]);
    let (_, both) = request(&s.world, doctor, licence.clone(), &s.enrolment, &[1, 2]);
    let result = s.a.share(
        &s.records[0].record,
        Purpose::Treatment,
        &both,
        &s.signed_by(doctor),
    );
    refusal(
        &s.world.client,
        result,
        &s.records[1],
        &s.seoul.desk.actor.address,
        DenyReason::NoConsent,
    );

    s.grant(doctor, &s.records[1]);
    let (pending, both) = request(&s.world, doctor, licence, &s.enrolment, &[1, 2]);
    let served =
        s.a.share(
            &s.records[0].record,
            Purpose::Treatment,
            &both,
            &s.signed_by(doctor),
        )
        .unwrap();
    let releases = pending
        .open(&taka::HospitalResponse::from_bytes(&served.response).unwrap())
        .unwrap();
    assert_eq!(releases.len(), 2);
    assert_eq!(
        served.blobs.iter().map(|b| b.record).collect::<Vec<_>>(),
        [s.records[0].record, s.records[1].record]
    );
    for (release, blob) in releases.iter().zip(&served.blobs) {
        assert_eq!(release.htxm(), &blob.record.0.0);
    }
}
