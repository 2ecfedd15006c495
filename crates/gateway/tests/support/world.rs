//! A served chain with two audited hospitals (each a desk identity with TAKA keys and a
//! licensed doctor) and enrolled patients, plus hospital gateways started on it. TAKA keys
//! come from a single-holder test PKG (`taka::Pkg`); the chain only checks that a key part is
//! a valid point, so the threshold PKG is not needed here.

#![allow(dead_code)]

use crate::{
    producer::BlockProducer,
    served::{fresh_chain, verifying_client},
};
use commonware_codec::Encode as _;
use medchain_client::{Client, Confirmed, WaitPolicy, build};
use medchain_gateway::{
    client::GatewayClient,
    service::{HospitalConfig, HospitalHandle, HospitalService},
    wire::WriteRecord,
};
use medchain_state::testkit::{self, Actor, HospitalDesk, REGULATOR_SEED, org_name};
use medchain_types::{
    Address, G1Point, IdentityName, OrgKind, OrgName, OrgState, Payload, Role, Transaction,
};
use rand_core::OsRng;
use std::{path::Path, time::Duration};

/// Waits are short: blocks are produced every 20 ms.
pub fn wait() -> WaitPolicy {
    WaitPolicy {
        timeout: Duration::from_secs(30),
        first_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(100),
    }
}

/// Where a gateway keeps records: `None` is the data directory's SQLite file and blob folder.
#[derive(Default)]
pub struct Storage {
    pub database: Option<String>,
    pub blobs: Option<String>,
}

/// Someone with a chain key and TAKA identity keys.
pub struct Party {
    pub actor: Actor,
    pub name: IdentityName,
    pub keys: taka::EntityKeys,
}

/// An audited hospital organisation: its desk (the gateway's identity) and one doctor.
pub struct Hospital {
    pub org: OrgName,
    pub desk: Party,
    pub doctor: Party,
}

pub struct World {
    pub client: Client,
    pub pkg: taka::Pkg,
    pub params: taka::PublicParams,
    _producer: BlockProducer,
}

impl World {
    pub fn new() -> Self {
        let chain = fresh_chain();
        let producer = BlockProducer::start(chain.clone());
        let client = verifying_client(chain);
        let pkg = taka::Pkg::setup(&mut OsRng);
        let params = *pkg.params();
        Self {
            client,
            pkg,
            params,
            _producer: producer,
        }
    }

    /// Signs `payload` as `actor` and waits until it is final.
    pub fn send(&self, actor: &Actor, payload: Payload) -> Confirmed {
        self.client
            .signer(actor.key.clone())
            .send(payload, Some(&wait()))
            .unwrap()
            .confirmed
            .unwrap()
    }

    /// TAKA keys for `name` from the test PKG, and the key part the chain records.
    pub fn register(&self, name: &IdentityName) -> (taka::EntityKeys, G1Point) {
        let identity = taka::Identity::new(name.as_str()).unwrap();
        let (pending, request) = taka::PendingRegistration::new(identity, &mut OsRng);
        let response = self.pkg.register(&request, &mut OsRng);
        let key_part = G1Point(request.l1().to_compressed());
        (pending.complete(&self.params, response).unwrap(), key_part)
    }

    /// A party enrolled on chain as `name` with `role`.
    pub fn enrol(&self, actor: Actor, name: IdentityName, role: Role) -> Party {
        let (keys, key_part) = self.register(&name);
        self.send(&actor, testkit::enrol(&name, role, key_part));
        Party { actor, name, keys }
    }

    /// A patient enrolled under its pseudonym.
    pub fn patient(&self, seed: u64) -> Party {
        let actor = Actor::new(seed);
        let name = IdentityName::patient_pseudonym(&actor.address);
        self.enrol(actor, name, Role::Patient)
    }

    /// An audited hospital `name` founded by a doctor (seed `seed`), with its desk enrolled as
    /// the hospital identity and the doctor licensed by it.
    pub fn hospital(&self, name: &str, seed: u64) -> Hospital {
        let org = org_name(name);
        let founder = Actor::new(seed);
        self.send(&founder, testkit::register(&org, OrgKind::Hospital));
        self.send(
            &Actor::new(REGULATOR_SEED),
            testkit::set_state(&org, OrgState::Audited),
        );
        let desk = HospitalDesk::of(&org);
        self.send(&desk.actor, testkit::join(&org, &founder, &desk.actor));
        let desk = self.enrol(desk.actor, desk.identity, Role::Hospital);
        let doctor = self.enrol(
            founder.clone(),
            testkit::doctor_identity(&founder),
            Role::Doctor,
        );
        self.send(&desk.actor, testkit::issue_licence(&doctor.name, u64::MAX));
        Hospital { org, desk, doctor }
    }

    /// A gateway for `hospital` with its data in `dir` (SQLite, local blobs).
    pub fn gateway(&self, hospital: &Hospital, dir: &Path) -> HospitalHandle {
        self.gateway_on(hospital, dir, &Storage::default())
    }

    /// A gateway for `hospital` on `storage`, the rest in `dir`.
    pub fn gateway_on(&self, hospital: &Hospital, dir: &Path, storage: &Storage) -> HospitalHandle {
        HospitalService::start(HospitalConfig {
            chain: self.client.clone(),
            wait: wait(),
            chain_key: hospital.desk.actor.key.clone(),
            identity_keys: taka::EntityKeys::from_bytes(
                &self.params,
                &hospital.desk.keys.to_bytes(),
            )
            .unwrap(),
            params: self.params,
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.to_path_buf(),
            database: storage.database.clone(),
            blobs: storage.blobs.clone(),
            public_url: None,
            max_access_reward: None,
        })
        .unwrap()
    }

    /// The doctor's signed release of `bundle` for `patient`, `ahead` transactions after the
    /// doctor's next nonce on chain.
    pub fn signed_release(
        &self,
        doctor: &Actor,
        patient: &Address,
        bundle: &[u8],
        ahead: u64,
    ) -> Transaction {
        let release =
            build::release_record(self.client.light.chain_id(), &doctor.key, *patient, bundle);
        let nonce = self.client.next_nonce(&doctor.address).unwrap() + ahead;
        self.client
            .signer(doctor.key.clone())
            .sign(release.payload, nonce)
            .unwrap()
    }

    /// The request a doctor's `medchain doctor write` sends.
    pub fn write_request(&self, doctor: &Actor, patient: &Address, bundle: &str) -> WriteRecord {
        WriteRecord {
            patient: *patient,
            fhir_patient: fixture_patient(bundle),
            bundle: bundle.to_owned(),
            release: self
                .signed_release(doctor, patient, bundle.as_bytes(), 0)
                .encode()
                .to_vec(),
        }
    }
}

/// The patient's side of an S3-agree enrolment at `gateway`.
pub fn enrol_at(
    gateway: &GatewayClient,
    patient: &Party,
    hospital: &IdentityName,
) -> taka::PatientEnrolment {
    let hospital = taka::Identity::new(hospital.as_str()).unwrap();
    let (state, hello) = taka::Initiator::start_enrolment(&patient.keys, hospital, &mut OsRng);
    let (session, reply) = gateway.enrol_hello(&hello).unwrap();
    let (_key, enrolment, confirmation) = state.finish_enrolment(&patient.keys, &reply).unwrap();
    let enrolled = gateway.enrol_confirm(&session, &confirmation).unwrap();
    assert_eq!(enrolled, patient.actor.address);
    enrolment
}

/// A committed synthetic FHIR bundle (`fixtures/fhir`), as the file's text.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/fhir")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// The fixture's patient reference: its Patient entry's `urn:uuid` fullUrl.
pub fn fixture_patient(bundle: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(bundle).unwrap();
    json["entry"][0]["fullUrl"].as_str().unwrap().to_owned()
}
