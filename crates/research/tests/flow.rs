//! The research flows end to end on a real chain (the node's execution driver and HTTP API on
//! loopback, blocks finalized with real certificates) with three real `medchain cloud` proxies
//! (t = 2): a study published and funded, a patient's record found eligible locally, enrolled
//! unlinkably with a real proof and delivered to the proxies, a second enrolment refused, and
//! the researcher reading the record through two proxies while the third is down.

#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
#[path = "../../gateway/tests/support/producer.rs"]
mod producer;
#[path = "../../node/tests/served/mod.rs"]
mod served;

use medchain_client::{Client, WaitPolicy, build, keys::address_of};
use medchain_cloud::{CloudConfig, CloudHandle, CloudService};
use medchain_research::{
    ResearchError, derive,
    patient::{self, EnrolRequest, HeldOpening},
    researcher::{self, StudyTerms},
};
use medchain_state::testkit::{
    self, Actor, ELIGIBLE, HospitalDesk, REGULATOR_SEED, org_name, predicate, zk_keys,
};
use medchain_types::{
    ContentHash, Hash32, IdentityName, OrgKind, OrgState, Payload, RecordId, Role,
};
use producer::BlockProducer;
use std::{path::Path, time::Duration};

const BUNDLE: &[u8] = br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#;

fn wait() -> WaitPolicy {
    WaitPolicy {
        timeout: Duration::from_secs(30),
        first_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(100),
    }
}

fn start_proxy(client: &Client, member: &Actor, dir: &Path) -> CloudHandle {
    CloudService::start(CloudConfig {
        chain: client.clone(),
        wait: wait(),
        key: member.key.clone(),
        proxy_key_file: dir.join("proxy.key"),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("data"),
        public_url: None,
    })
    .unwrap()
}

#[test]
fn a_patient_enrols_unlinkably_and_the_researcher_reads_through_two_of_three_proxies() {
    let chain = served::fresh_chain();
    let _producer = BlockProducer::start(chain.clone());
    let client = served::verifying_client(chain);
    let regulator = Actor::new(REGULATOR_SEED);
    let send = |actor: &Actor, payload: Payload| {
        client
            .signer(actor.key.clone())
            .send(payload, Some(&wait()))
            .unwrap()
            .confirmed
            .unwrap()
    };
    let audited = |founder: &Actor, name: &str, kind: OrgKind| {
        send(founder, testkit::register(&org_name(name), kind));
        send(
            &regulator,
            testkit::set_state(&org_name(name), OrgState::Audited),
        );
    };
    let doctor = Actor::new(1);
    let hospital = org_name("Seoul General");
    audited(&doctor, "Seoul General", OrgKind::Hospital);
    let desk = HospitalDesk::of(&hospital);
    for (actor, payload) in desk.steps(&hospital, &doctor) {
        send(&actor, payload);
    }
    let patient = Actor::new(50);
    send(
        &patient,
        testkit::enrol(
            &IdentityName::patient_pseudonym(&patient.address),
            Role::Patient,
            testkit::key_part_of(&patient.address),
        ),
    );
    let researcher = Actor::new(600);
    audited(&researcher, "Yonsei Research", OrgKind::Research);
    let members: Vec<Actor> = (601..604).map(Actor::new).collect();
    audited(&members[0], "Cloud One", OrgKind::Cloud);
    for member in &members[1..] {
        send(
            member,
            testkit::join(&org_name("Cloud One"), &members[0], member),
        );
    }
    let dirs: Vec<tempfile::TempDir> = members
        .iter()
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let mut proxies: Vec<Option<CloudHandle>> = members
        .iter()
        .zip(&dirs)
        .map(|(member, dir)| Some(start_proxy(&client, member, dir.path())))
        .collect();

    // The regulator registers the circuit with the digest of the proving key file it hands out.
    let proving_key = zk_keys().pk.to_bytes();
    let verifying_key = zk_keys().vk.to_bytes();
    let circuit = Hash32::from(zk_keys().vk.digest());
    send(
        &regulator,
        build::register_circuit(
            "clinical_v1",
            verifying_key,
            Hash32::from(zk::ProvingKey::digest_of(&proving_key)),
        )
        .unwrap(),
    );

    // The patient files its nullifier key once; the hospital commits to its record with it.
    assert!(
        patient::ensure_nullifier_key(&client, &patient.key, &wait())
            .unwrap()
            .is_some()
    );
    assert_eq!(
        patient::ensure_nullifier_key(&client, &patient.key, &wait()).unwrap(),
        None,
        "filed once"
    );
    let released = send(
        &doctor,
        testkit::release(&doctor, &patient.address, &ContentHash::of(BUNDLE)),
    );
    let record = RecordId::from(released.receipt.tx);
    let nk = derive::patient_secret(&patient.key).nullifier_key();
    let values = zk_keys()
        .schema
        .encode(&[("age", "55"), ("hba1c", "7.1")])
        .unwrap();
    let opening = zk::RecordOpening::random(
        &zk_keys().schema,
        values,
        nk,
        ContentHash::of(BUNDLE).0.into(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    send(
        &desk.actor,
        build::attest(record, Hash32::from(opening.commit().unwrap().to_bytes())),
    );

    let terms = StudyTerms {
        title: "HbA1c outcomes".into(),
        circuit,
        predicate: predicate(ELIGIBLE),
        reward: 0,
        max_participants: 10,
        deadline_ms: u64::MAX / 2,
        dispute_window_ms: 60_000,
        exclusive: false,
        proxies: members.iter().map(|member| member.address).collect(),
        threshold: 2,
    };
    let study = researcher::publish(&client, &researcher.key, &terms, &wait()).unwrap();
    researcher::fund(&client, &researcher.key, &study, 1_000, &wait()).unwrap();

    // The patient's machine finds the study its record qualifies for.
    let held = [HeldOpening {
        record,
        opening: opening.clone(),
    }];
    let found = patient::studies(&client, &held).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].id, found[0].records.clone()),
        (study, vec![record])
    );

    let request = EnrolRequest {
        study,
        opening: &opening,
        bundle: BUNDLE,
        proving_key: &proving_key,
    };
    let receipt = patient::enrol(&client, &patient.key, &request, &wait()).unwrap();
    assert!(
        receipt.deliveries.iter().all(|d| d.outcome.is_ok()),
        "{:?}",
        receipt.deliveries
    );
    assert!(receipt.readable());
    // Filed by the study's one-time key, not the patient's address.
    assert_eq!(
        receipt.payee,
        address_of(&derive::enrolment_key(&patient.key, &study))
    );
    assert_ne!(receipt.payee, patient.address);
    // The same record again: refused before proving.
    assert!(matches!(
        patient::enrol(&client, &patient.key, &request, &wait()),
        Err(ResearchError::AlreadyEnrolled(id)) if id == receipt.enrolment
    ));
    // A wrong proving key file is refused against the registered digest.
    let mut tampered = proving_key.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let other_request = EnrolRequest {
        proving_key: &tampered,
        ..request
    };
    assert!(matches!(
        patient::enrol(&client, &patient.key, &other_request, &wait()),
        Err(ResearchError::ProvingKey { .. })
    ));

    // Only the study's researcher reads; one proxy down still leaves two of three.
    assert!(matches!(
        researcher::read(&client, &patient.key, &receipt.enrolment),
        Err(ResearchError::NotResearcher(_))
    ));
    proxies[0].take();
    let read = researcher::read(&client, &researcher.key, &receipt.enrolment).unwrap();
    assert_eq!(read.plaintext, BUNDLE);
    assert_eq!(read.used, [members[1].address, members[2].address]);
    assert_eq!(
        read.failed.iter().map(|f| f.proxy).collect::<Vec<_>>(),
        [members[0].address]
    );
    let results = researcher::results(&client, &study).unwrap();
    assert_eq!(results.enrolments.len(), 1);
}
