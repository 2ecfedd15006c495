//! `medchain cloud` on a real chain (the node's execution driver and HTTP API on loopback,
//! blocks finalized with real certificates): a study with three listed proxies (t = 2) and a
//! fourth that is not listed, a patient enrolled with a real Groth16 proof, then delivery,
//! threshold re-encryption and every refusal, through `CloudClient`.

#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
#[path = "../../gateway/tests/support/producer.rs"]
mod producer;
#[path = "../../node/tests/served/mod.rs"]
mod served;

use medchain_client::{Client, WaitPolicy};
use medchain_cloud::request::ReencryptRequest;
use medchain_cloud::{
    CloudClient, CloudClientError, CloudConfig, CloudHandle, CloudService, wire::ReencryptBody,
};
use medchain_state::testkit::{
    self, Actor, ELIGIBLE, HospitalDesk, REGULATOR_SEED, org_name, predicate, zk_keys,
};
use medchain_types::{
    ContentHash, EnrolmentId, Event, Hash32, IdentityName, OrgKind, OrgState, Payload, Purpose,
    RecordId, Role, StudyId, TxId,
    research::{ResearchPayload, ZkBytes, enrolment_binding},
};
use producer::BlockProducer;
use proxy_reencryption::{EncryptedRecord, ResearcherKey, SealedKeyFrag, StudyKeys, grant};
use rand_core::OsRng;
use std::{path::Path, time::Duration};

const RECORD: &[u8] = br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#;

fn wait() -> WaitPolicy {
    WaitPolicy {
        timeout: Duration::from_secs(30),
        first_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(100),
    }
}

/// A chain with a research market: three proxies listed by one study and a fourth not, the
/// study's researcher, and a patient's accepted enrolment whose record is encrypted for real.
struct Market {
    client: Client,
    _producer: BlockProducer,
    proxies: Vec<(Actor, CloudHandle)>,
    researcher: Actor,
    researcher_key: ResearcherKey,
    patient: Actor,
    study_keys: StudyKeys,
    record: EncryptedRecord,
    enrolment: EnrolmentId,
    dirs: Vec<tempfile::TempDir>,
}

impl Market {
    fn new() -> Self {
        let chain = served::fresh_chain();
        let producer = BlockProducer::start(chain.clone());
        let client = served::verifying_client(chain);
        let regulator = Actor::new(REGULATOR_SEED);
        let send = |actor: &Actor, payload: Payload| -> medchain_client::Confirmed {
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

        // A hospital whose desk attests, with a licensed doctor.
        let doctor = Actor::new(1);
        let hospital = org_name("Seoul General");
        audited(&doctor, "Seoul General", OrgKind::Hospital);
        let desk = HospitalDesk::of(&hospital);
        for (actor, payload) in desk.steps(&hospital, &doctor) {
            send(&actor, payload);
        }
        // The patient, enrolled as a patient identity.
        let patient = Actor::new(50);
        let pseudonym = IdentityName::patient_pseudonym(&patient.address);
        send(
            &patient,
            testkit::enrol(
                &pseudonym,
                Role::Patient,
                testkit::key_part_of(&patient.address),
            ),
        );
        // The researcher's audited organisation; the cloud organisation's four members.
        let researcher = Actor::new(600);
        audited(&researcher, "Yonsei Research", OrgKind::Research);
        let members: Vec<Actor> = (601..605).map(Actor::new).collect();
        audited(&members[0], "Cloud One", OrgKind::Cloud);
        for member in &members[1..] {
            send(
                member,
                testkit::join(&org_name("Cloud One"), &members[0], member),
            );
        }
        // Each proxy registers itself on chain as it starts.
        let mut dirs = Vec::new();
        let proxies: Vec<(Actor, CloudHandle)> = members
            .into_iter()
            .map(|member| {
                let dir = tempfile::tempdir().unwrap();
                let handle = start_proxy(&client, &member, dir.path());
                dirs.push(dir);
                (member, handle)
            })
            .collect();

        // The regulator's circuit, and a study listing the first three proxies, 2 of 3.
        let circuit = match send(
            &regulator,
            testkit::register_circuit(&zk_keys().vk.to_bytes()),
        )
        .receipt
        .events
        .as_slice()
        {
            [Event::CircuitRegistered { circuit }] => *circuit,
            other => panic!("unexpected events {other:?}"),
        };
        let researcher_key = ResearcherKey::generate();
        let published = send(
            &researcher,
            Payload::Research(ResearchPayload::Publish {
                title: "HbA1c outcomes".into(),
                purpose: Purpose::Research,
                circuit,
                predicate: ZkBytes(predicate(ELIGIBLE).to_bytes()),
                reward: 0,
                max_participants: 10,
                deadline_ms: u64::MAX / 2,
                dispute_window_ms: 60_000,
                exclusive: false,
                researcher_key: ZkBytes(researcher_key.public().to_vec()),
                proxies: proxies[..3]
                    .iter()
                    .map(|(actor, _)| actor.address)
                    .collect(),
                threshold: 2,
            }),
        );
        let study = StudyId::from(published.receipt.tx);

        // The patient's record: released, committed and attested, then enrolled with a proof.
        let secret = zk::PatientSecret::from_seed(&[50; 32]);
        let nk = secret.nullifier_key();
        send(&patient, testkit::nullifier_key(nk.to_bytes()));
        let released = send(
            &doctor,
            testkit::release(&doctor, &patient.address, &ContentHash::of(RECORD)),
        );
        let record_id = RecordId::from(released.receipt.tx);
        let values = zk_keys()
            .schema
            .encode(&[("age", "55"), ("hba1c", "7.1")])
            .unwrap();
        let opening = zk::RecordOpening::random(
            &zk_keys().schema,
            values,
            nk,
            ContentHash::of(RECORD).0.0,
            &mut OsRng,
        )
        .unwrap();
        let commitment = opening.commit().unwrap();
        send(
            &desk.actor,
            testkit::attest(&record_id, commitment.to_bytes()),
        );

        let study_keys = StudyKeys::derive(&[50; 32], study.as_bytes().try_into().unwrap());
        let record = EncryptedRecord::encrypt(&study_keys.delegating_public(), RECORD).unwrap();
        let one_time = Actor::new(700);
        let enrol = enrolment(
            &opening,
            &secret,
            &commitment,
            &study,
            &one_time,
            &study_keys,
            &record,
        );
        let enrolled = send(&one_time, enrol);
        let enrolment = EnrolmentId::from(enrolled.receipt.tx);

        Self {
            client,
            _producer: producer,
            proxies,
            researcher,
            researcher_key,
            patient,
            study_keys,
            record,
            enrolment,
            dirs,
        }
    }

    /// Signs `payload` as `actor` and waits until it is final.
    fn send(&self, actor: &Actor, payload: Payload) {
        self.client
            .signer(actor.key.clone())
            .send(payload, Some(&wait()))
            .unwrap()
            .confirmed
            .unwrap();
    }

    /// Stops proxy `index` and starts it again on the same key file and data.
    fn restart(&mut self, index: usize) {
        let (member, handle) = self.proxies.remove(index);
        drop(handle);
        let restarted = start_proxy(&self.client, &member, self.dirs[index].path());
        self.proxies.insert(index, (member, restarted));
    }

    fn cloud(&self, index: usize) -> CloudClient {
        CloudClient::new(&self.proxies[index].1.url()).unwrap()
    }

    /// The patient's kfrags for the three listed proxies, in their order.
    fn kfrags(&self, context: &EnrolmentId) -> Vec<SealedKeyFrag> {
        let keys: Vec<[u8; 32]> = self.proxies[..3]
            .iter()
            .map(|(_, handle)| handle.encryption_key())
            .collect();
        grant(
            &self.study_keys,
            &self.researcher_key.public(),
            2,
            &keys,
            context.as_bytes().try_into().unwrap(),
        )
        .unwrap()
    }

    /// Delivers the record and each listed proxy's kfrag.
    fn deliver(&self) {
        let bytes = self.record.to_bytes();
        for (index, kfrag) in self.kfrags(&self.enrolment).iter().enumerate() {
            let cloud = self.cloud(index);
            let stored = cloud.put_record(&self.enrolment, &bytes).unwrap();
            assert_eq!(
                stored.ciphertext_hash,
                ContentHash(Hash32::from(self.record.hash()))
            );
            cloud.post_kfrag(&self.enrolment, kfrag).unwrap();
        }
    }

    fn open(&self, cfrags: &[proxy_reencryption::CapsuleFragBytes]) -> Vec<u8> {
        self.researcher_key
            .open(
                &self.record,
                cfrags,
                &self.study_keys.delegating_public(),
                &self.study_keys.verifying_public(),
                2,
            )
            .unwrap()
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

/// The `research.enrol` of a patient whose attested commitment is the accumulator's only leaf.
fn enrolment(
    opening: &zk::RecordOpening,
    secret: &zk::PatientSecret,
    commitment: &zk::Commitment,
    study: &StudyId,
    sender: &Actor,
    keys: &StudyKeys,
    record: &EncryptedRecord,
) -> Payload {
    let ciphertext_hash = ContentHash(Hash32::from(record.hash()));
    let (delegating, verifying) = (keys.delegating_public(), keys.verifying_public());
    let binding = enrolment_binding(&sender.address, &delegating, &verifying, &ciphertext_hash);
    let path = zk::membership_path(std::slice::from_ref(commitment), 0).unwrap();
    let witness = zk::EnrolmentWitness {
        opening,
        secret,
        path: &path,
    };
    let (statement, proof) = zk::prove(
        &zk_keys().pk,
        &witness,
        &predicate(ELIGIBLE),
        zk::study_tag(study.as_bytes().try_into().unwrap()),
        zk::binding_of(&binding),
        &mut OsRng,
    )
    .unwrap();
    Payload::Research(ResearchPayload::Enrol {
        study: *study,
        root: Hash32::from(statement.root.to_bytes()),
        nullifier: Hash32::from(statement.nullifier.to_bytes()),
        exclusivity: Hash32::from(statement.exclusivity.to_bytes()),
        delivery: Hash32::from(statement.delivery.to_bytes()),
        proof: ZkBytes(proof.to_bytes().to_vec()),
        delegating_key: ZkBytes(delegating.to_vec()),
        verifying_key: ZkBytes(verifying.to_vec()),
        ciphertext_hash,
    })
}

fn code(error: CloudClientError) -> String {
    error
        .code()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{error}"))
}

#[test]
fn two_of_three_proxies_reencrypt_for_the_researcher_and_log_it_on_chain() {
    let market = Market::new();
    market.deliver();
    // The third proxy is down: two suffice.
    let answers: Vec<_> = (0..2)
        .map(|index| {
            market
                .cloud(index)
                .reencrypt(&market.enrolment, &market.researcher.key)
                .unwrap()
        })
        .collect();
    let cfrags: Vec<_> = answers.iter().map(|answer| answer.cfrag.clone()).collect();
    assert_eq!(market.open(&cfrags), RECORD);
    // Each re-encryption is logged on chain by its proxy, once.
    for (index, answer) in answers.iter().enumerate() {
        let logged = market
            .client
            .wait_finalized(&answer.log_tx, &wait())
            .unwrap();
        assert_eq!(
            logged.receipt.events,
            vec![Event::Reencrypted {
                enrolment: market.enrolment,
                proxy: market.proxies[index].0.address,
            }]
        );
        let again = market
            .cloud(index)
            .reencrypt(&market.enrolment, &market.researcher.key)
            .unwrap();
        assert_eq!(again.log_tx, answer.log_tx);
    }
    // The stored ciphertext is served as delivered.
    assert_eq!(
        market.cloud(0).record(&market.enrolment).unwrap(),
        market.record.to_bytes()
    );
    let info = market.cloud(1).info().unwrap();
    assert_eq!(info.proxy, market.proxies[1].0.address);
    assert_eq!(info.encryption_key, market.proxies[1].1.encryption_key());
}

#[test]
fn deliveries_are_refused_unless_they_fit_the_enrolment_on_chain() {
    let market = Market::new();
    let unknown = EnrolmentId::from(TxId(Hash32::from([9; 32])));
    let kfrags = market.kfrags(&market.enrolment);
    let cloud = market.cloud(0);

    // No enrolment on chain.
    assert_eq!(
        code(cloud.post_kfrag(&unknown, &kfrags[0]).unwrap_err()),
        "unknown_enrolment"
    );
    assert_eq!(
        code(
            cloud
                .put_record(&unknown, &market.record.to_bytes())
                .unwrap_err()
        ),
        "unknown_enrolment"
    );
    // Not the record the enrolment committed to.
    let other = EncryptedRecord::encrypt(&market.study_keys.delegating_public(), b"junk").unwrap();
    assert_eq!(
        code(
            cloud
                .put_record(&market.enrolment, &other.to_bytes())
                .unwrap_err()
        ),
        "hash_mismatch"
    );
    // A kfrag sealed to proxy 0 is refused by proxy 1; one sealed for another enrolment too.
    assert_eq!(
        code(
            market
                .cloud(1)
                .post_kfrag(&market.enrolment, &kfrags[0])
                .unwrap_err()
        ),
        "bad_kfrag"
    );
    let foreign = market.kfrags(&unknown);
    assert_eq!(
        code(
            cloud
                .post_kfrag(&market.enrolment, &foreign[0])
                .unwrap_err()
        ),
        "bad_kfrag"
    );
    // The fourth proxy is registered but not listed by the study.
    let unlisted = market.cloud(3);
    assert_eq!(
        code(
            unlisted
                .post_kfrag(&market.enrolment, &kfrags[0])
                .unwrap_err()
        ),
        "not_study_proxy"
    );
    assert_eq!(
        code(
            unlisted
                .put_record(&market.enrolment, &market.record.to_bytes())
                .unwrap_err()
        ),
        "not_study_proxy"
    );
    // The HTTP edge: a record above 16 MiB, a kfrag not sent as JSON, a malformed id.
    let url = market.proxies[0].1.url();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let record_url = format!("{url}/v1/enrolments/{}/record", market.enrolment);
    let too_large = agent
        .put(&record_url)
        .content_type("application/octet-stream")
        .send(&vec![0u8; medchain_cloud::wire::MAX_RECORD_BYTES + 1][..])
        .unwrap();
    assert_eq!(too_large.status().as_u16(), 413);
    let not_octets = agent
        .put(&record_url)
        .content_type("application/json")
        .send(&market.record.to_bytes()[..])
        .unwrap();
    assert_eq!(not_octets.status().as_u16(), 415);
    let kfrag_url = format!("{url}/v1/enrolments/{}/kfrag", market.enrolment);
    let not_json = agent
        .post(&kfrag_url)
        .content_type("text/plain")
        .send(r#"{"sealed":"00"}"#)
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 415);
    let bad_id = agent
        .get(&format!("{url}/v1/enrolments/not-an-id/record"))
        .call()
        .unwrap();
    assert_eq!(bad_id.status().as_u16(), 400);
    // Nothing was stored by any refusal.
    assert_eq!(
        code(cloud.record(&market.enrolment).unwrap_err()),
        "not_delivered"
    );
    assert_eq!(
        code(
            cloud
                .reencrypt(&market.enrolment, &market.researcher.key)
                .unwrap_err()
        ),
        "not_delivered"
    );
}

#[test]
fn only_the_studys_researcher_gets_a_cfrag_once_per_signed_request() {
    let mut market = Market::new();
    market.deliver();
    let cloud = market.cloud(0);
    // The patient (or anyone) is not the study's researcher.
    assert_eq!(
        code(
            cloud
                .reencrypt(&market.enrolment, &market.patient.key)
                .unwrap_err()
        ),
        "unauthenticated"
    );
    // A request signed too long ago.
    let stale = signed(&market, now_ms() - 6 * 60 * 1000);
    assert_eq!(
        code(
            cloud
                .reencrypt_signed(&market.enrolment, &stale)
                .unwrap_err()
        ),
        "unauthenticated"
    );
    // A fresh request is served once; its replay is refused, also after a restart.
    let request = signed(&market, now_ms());
    cloud.reencrypt_signed(&market.enrolment, &request).unwrap();
    assert_eq!(
        code(
            cloud
                .reencrypt_signed(&market.enrolment, &request)
                .unwrap_err()
        ),
        "replayed"
    );
    market.restart(0);
    let cloud = market.cloud(0);
    assert_eq!(
        code(
            cloud
                .reencrypt_signed(&market.enrolment, &request)
                .unwrap_err()
        ),
        "replayed"
    );
    // A new request is served again, under the same log transaction.
    cloud
        .reencrypt(&market.enrolment, &market.researcher.key)
        .unwrap();
    // Once the regulator suspends the research organisation, nothing more flows to it.
    market.send(
        &Actor::new(REGULATOR_SEED),
        testkit::set_state(&org_name("Yonsei Research"), OrgState::Suspended),
    );
    assert_eq!(
        code(
            cloud
                .reencrypt(&market.enrolment, &market.researcher.key)
                .unwrap_err()
        ),
        "researcher_not_audited"
    );
}

fn signed(market: &Market, issued_at_ms: u64) -> ReencryptBody {
    let request = ReencryptRequest {
        enrolment: market.enrolment,
        issued_at_ms,
    };
    ReencryptBody {
        issued_at_ms,
        signature: request.sign(&market.researcher.key),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
