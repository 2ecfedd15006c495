//! Issue 13's MED chain through the `medchain` binary on 4 validator processes that mine
//! (S3-dual, S3-release, S3-entry, S3-supervise): a doctor writes a record through its
//! hospital's gateway, signing tx_mr with its BLS key; the gateway checks, batches and seals it;
//! it lands in an Mblock whose body carries one aggregate signature; a SUP block checkpoints
//! that Mblock and imports the record; and the patient's light sync (`medchain patient sync`:
//! headers only, proof of work checked) verifies it and a second record against headers it
//! synced and SUP checkpointed. A headers file altered on disk is refused.
//!
//! The patient's encrypted entry EEE takes the same road: `medchain patient entry` signs it
//! with the patient's BLS key and hands it to the gateway, which seals it into a batch; it is
//! mined, checkpointed and filed by SUP as `entry/<id>`, and `medchain doctor emergency` opens
//! it. An entry under another key's signature is refused by the gateway, which keeps nothing;
//! SUP refuses a release or an entry filed on it directly.

mod common;

use common::{
    Network, READY_TIMEOUT,
    hospital::{Doctor, GatewayProcess, HospitalOrg, Storage},
    private_key, text,
};
use medchain_client::{Client, StateQuery, WaitPolicy, build, med::MedApi};
use medchain_gateway::{
    client::{GatewayClient, GatewayClientError},
    wire::EntryProgress,
};
use medchain_state::values::RecordOrigin;
use medchain_types::{Address, EntryId, Hash32, RecordId, emergency::vouching_key_from};
use std::{fs, path::Path, thread, time::Duration, time::Instant};

/// Committed synthetic FHIR R4 bundles.
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/fhir/type2_diabetes-2-0000.json"
);
const SECOND_BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/fhir/hypertension-13-0000.json"
);

#[test]
fn records_and_entries_go_through_the_gateway_onto_med_and_are_final_once_sup_checkpoints_them() {
    let network = Network::start_with(4, &["--fees", "free", "--med"]);
    network.wait_for_pkg();
    let (hospital, mut doctors) = network.hospital("Seoul General", "seoul-general", &["dr-kim"]);
    let doctor = doctors.pop().unwrap();
    let mut gateway = network.start_gateway(&hospital, &Storage::Embedded);
    let (patient, patient_address) = network.keygen("patient.key");
    network.ok(&["identity", "enrol", "--key", &patient, "--role", "patient"]);
    network.ok(&[
        "patient",
        "enrol",
        "--key",
        &patient,
        "--hospital",
        &gateway.url,
    ]);

    // The doctor signs tx_mr (registering its BLS key first); the gateway answers once SUP
    // checkpointed its Mblock.
    let write = |bundle: &str| network.write_record(&doctor, &gateway, &patient_address, bundle);
    let written = write(BUNDLE);
    assert_eq!(
        written["med"]["status"],
        "final",
        "{written}\n{}",
        gateway.logs()
    );
    let record: RecordId = text(&written["record"]).parse().expect("a record id");
    let checkpointed_at = written["med"]["checkpointed_at"].as_u64().unwrap();
    let mblock_height = written["med"]["mblock_height"].as_u64().unwrap();

    // SUP holds the record as mined, in an Mblock it checkpointed (verified reads through
    // node 1, once it has finalized the checkpointing block: the gateway's node may be ahead).
    network.wait_ready(1, checkpointed_at);
    let client = network.client(1);
    let held = client
        .read(&StateQuery::record(&record))
        .unwrap()
        .value
        .expect("SUP imported the record");
    let RecordOrigin::Mined { mblock, index } = held.origin else {
        panic!("the record was released on SUP, not mined: {held:?}");
    };
    let checkpointed = client
        .read(&StateQuery::med_header(&mblock))
        .unwrap()
        .value
        .expect("the Mblock is checkpointed");
    assert_eq!(checkpointed.checkpointed_at, checkpointed_at);
    assert_eq!(checkpointed.header.height, mblock_height);

    // The Mblock keeps one aggregate signature for its whole body, and the release is in the
    // hospital's batch, without a signature of its own.
    let med = MedApi::new(network.node_client(2));
    let block = med.block(&mblock).unwrap();
    assert_eq!(block.header.hash(), mblock);
    assert!(block.body.signature.is_some(), "one aggregate signature");
    let batch = block
        .body
        .batches
        .iter()
        .find(|batch| batch.hospital.to_string() == hospital.address)
        .expect("the hospital's batch is in the Mblock");
    let chain_id = client.light.chain_id();
    let released = block.body.txs().nth(index as usize).unwrap();
    assert_eq!(released.record_id(chain_id), record);
    assert!(batch.txs.contains(released));

    // A second record, the doctor's key now registered: the time from signing to the
    // checkpoint is printed for docs/benchmarks.md, never asserted.
    let writing = Instant::now();
    let second = write(SECOND_BUNDLE);
    eprintln!(
        "release to checkpoint through the gateway: {:?}",
        writing.elapsed()
    );
    assert_eq!(second["med"]["status"], "final", "{second}");

    // The patient's light sync verifies both against headers it checked itself.
    let headers = network.path("patient-headers.bin").display().to_string();
    let synced = network.json(&["patient", "sync", "--key", &patient, "--headers", &headers]);
    let records = synced["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{synced}");
    assert!(
        records.iter().all(|synced| synced["status"] == "verified"),
        "{synced}"
    );
    let first = records
        .iter()
        .find(|synced| synced["record"] == written["record"])
        .expect("the first record is listed");
    assert_eq!(first["mblock_height"].as_u64(), Some(mblock_height));
    assert_eq!(first["checkpointed_at"].as_u64(), Some(checkpointed_at));
    let second_height = second["med"]["mblock_height"].as_u64().unwrap();
    assert!(synced["best"].as_u64().unwrap() >= second_height);

    // A second sync starts from the kept headers; one altered on disk is refused.
    network.json(&["patient", "sync", "--key", &patient, "--headers", &headers]);
    let mut bytes = fs::read(&headers).unwrap();
    let nonce = bytes.len() - 1;
    bytes[nonce] ^= 0x5a;
    fs::write(&headers, &bytes).unwrap();
    let refused = network.fails(&["patient", "sync", "--key", &patient, "--headers", &headers]);
    assert!(refused.contains("headers file"), "{refused}");

    let parties = Parties {
        hospital: &hospital,
        doctor: &doctor,
        gateway: &gateway,
        patient: &patient,
        patient_address: &patient_address,
    };
    an_entry_goes_through_the_gateway_onto_med_and_opens_in_an_emergency(
        &network, &parties, &record,
    );
    a_forged_entry_is_refused_and_nothing_is_kept(&network, &parties);
    sup_refuses_releases_and_entries_filed_on_it_directly(&network, &parties);
    a_kept_entry_survives_a_gateway_killed_after_accepting_it(
        &network,
        &mut gateway,
        &patient,
        &record,
    );
}

/// Who takes part in the MED flow.
struct Parties<'a> {
    hospital: &'a HospitalOrg,
    doctor: &'a Doctor,
    gateway: &'a GatewayProcess,
    patient: &'a str,
    patient_address: &'a str,
}

/// S3-entry on MED: `patient entry` prints its entry final in an Mblock SUP checkpointed; the
/// Mblock's one aggregate signature covers it in the hospital's batch; SUP holds it as
/// `entry/<id>`; and a doctor breaks the glass with the patient's template.
fn an_entry_goes_through_the_gateway_onto_med_and_opens_in_an_emergency(
    network: &Network,
    parties: &Parties<'_>,
    record: &RecordId,
) {
    let template = network.path("thumb.bin");
    fs::write(&template, [7u8; 64]).unwrap();
    let template = template.display().to_string();
    // The time from sealing (Argon2id) and signing to SUP's checkpoint is printed for
    // docs/benchmarks.md, never asserted.
    let filing = Instant::now();
    let filed = network.json(&[
        "patient",
        "entry",
        "--key",
        parties.patient,
        "--record",
        &record.to_string(),
        "--template",
        &template,
        "--keywords",
        "diabetes,metformin",
    ]);
    assert_eq!(
        filed["med"]["status"],
        "final",
        "{filed}\n{}",
        parties.gateway.logs()
    );
    eprintln!(
        "entry to checkpoint through the gateway (its BLS key registered first): {:?}",
        filing.elapsed()
    );
    let entry: EntryId = text(&filed["entry"]).parse().expect("an entry id");
    let checkpointed_at = filed["med"]["checkpointed_at"].as_u64().unwrap();
    let mblock: [u8; 32] = hex::decode(text(&filed["med"]["mblock"]))
        .expect("hex")
        .try_into()
        .expect("an Mblock hash");
    let mblock = Hash32::from(mblock);

    // SUP filed it at the checkpointing height, for the patient (verified read).
    network.wait_ready(1, checkpointed_at);
    let client = network.client(1);
    let held = client
        .read(&StateQuery::entry(&entry))
        .unwrap()
        .value
        .expect("SUP imported the entry");
    assert_eq!(held.patient.to_string(), parties.patient_address);
    assert_eq!(held.filed_at, checkpointed_at);

    // The Mblock keeps one aggregate signature; the entry sits in the hospital's batch.
    let block = MedApi::new(network.node_client(2)).block(&mblock).unwrap();
    assert_eq!(
        block.header.height,
        filed["med"]["mblock_height"].as_u64().unwrap()
    );
    assert!(block.body.signature.is_some(), "one aggregate signature");
    let chain_id = client.light.chain_id();
    let batch = block
        .body
        .batches
        .iter()
        .find(|batch| batch.hospital.to_string() == parties.hospital.address)
        .expect("the hospital's batch is in the Mblock");
    assert!(
        batch
            .entries
            .iter()
            .any(|mined| mined.entry_id(chain_id) == entry),
        "the entry is in the hospital's batch"
    );

    // `doctor emergency` opens it from SUP's `entry/<id>` and fetches the record it names.
    let out = network.path("emergency.json").display().to_string();
    network.ok(&[
        "doctor",
        "emergency",
        "--key",
        &parties.doctor.key,
        "--patient",
        parties.patient_address,
        "--template",
        &template,
        "--hospital",
        &parties.gateway.url,
        "--gateway",
        &parties.gateway.url,
        "--out",
        &out,
    ]);
    assert_eq!(fs::read(&out).unwrap(), fs::read(BUNDLE).unwrap());
}

/// An entry signed with another key than the patient's (here the doctor's registered one) is
/// refused by the gateway with the reason, and neither the gateway nor the chain keeps it.
fn a_forged_entry_is_refused_and_nothing_is_kept(network: &Network, parties: &Parties<'_>) {
    let client = network.client(0);
    let patient: Address = parties.patient_address.parse().unwrap();
    let doctor_key = private_key(Path::new(&parties.doctor.key));
    let forged = build::med_entry(
        client.light.chain_id(),
        &vouching_key_from(&doctor_key),
        patient,
        b"an entry the patient never signed",
        1_700_000_000_000,
    )
    .unwrap();
    let gateway = GatewayClient::new(&parties.gateway.url).unwrap();
    let refused = gateway.file_entry(&forged).unwrap_err();
    let GatewayClientError::Api { status, body } = &refused else {
        panic!("not the gateway's refusal: {refused}");
    };
    assert_eq!(
        (*status, body.code.as_str()),
        (422, "bad_entry"),
        "{refused}"
    );
    assert!(body.message.contains("not validly signed"), "{refused}");
    let id = forged.entry.entry_id(client.light.chain_id());
    let GatewayClientError::Api { status, body } = gateway.entry(&id).unwrap_err() else {
        panic!("the gateway answered for an entry it refused");
    };
    assert_eq!((status, body.code.as_str()), (404, "unknown_entry"));
    assert!(
        client
            .read(&StateQuery::entry(&id))
            .unwrap()
            .value
            .is_none()
    );
}

/// On a chain with MED, SUP takes neither a doctor's `record.release` nor a patient's entry
/// filed on it directly: both go through a hospital gateway onto MED.
fn sup_refuses_releases_and_entries_filed_on_it_directly(network: &Network, parties: &Parties<'_>) {
    let refused = network.fails(&[
        "record",
        "release",
        "--key",
        &parties.doctor.key,
        "--patient",
        parties.patient_address,
        "--file",
        BUNDLE,
    ]);
    assert!(refused.contains("gateway"), "{refused}");
    let client: Client = network.client(0);
    let patient_key = private_key(Path::new(parties.patient));
    let refused = client
        .signer(patient_key)
        .send(
            build::file_entry(b"EEE").unwrap(),
            Some(&WaitPolicy::default()),
        )
        .unwrap_err();
    assert!(refused.to_string().contains("gateway"), "{refused}");
}

/// `patient entry --no-wait` returns once the gateway kept and queued the entry; the gateway
/// is then `kill -9`ed and restarted on its data: it still answers for the entry (kept in its
/// EMR database, submitted again at start) and follows it to final.
fn a_kept_entry_survives_a_gateway_killed_after_accepting_it(
    network: &Network,
    gateway: &mut GatewayProcess,
    patient: &str,
    record: &RecordId,
) {
    let template = network.path("thumb-2.bin");
    fs::write(&template, [9u8; 64]).unwrap();
    let queued = network.json(&[
        "patient",
        "entry",
        "--key",
        patient,
        "--record",
        &record.to_string(),
        "--template",
        &template.display().to_string(),
        "--no-wait",
    ]);
    assert_eq!(queued["med"]["status"], "pending", "{queued}");
    let entry: EntryId = text(&queued["entry"]).parse().expect("an entry id");
    gateway.kill();
    gateway.restart(network);
    let restarted = GatewayClient::new(&gateway.url).unwrap();
    let waiting = Instant::now();
    loop {
        let filed = restarted
            .entry(&entry)
            .unwrap_or_else(|error| panic!("{error}\n{}", gateway.logs()));
        match filed.progress {
            EntryProgress::Final(_) => return,
            EntryProgress::Pending { .. } => {}
            EntryProgress::Refused { .. } => panic!("SUP refused the entry: {filed:?}"),
        }
        assert!(
            waiting.elapsed() < READY_TIMEOUT,
            "the restarted gateway never saw entry {entry} final\n{}",
            gateway.logs()
        );
        thread::sleep(Duration::from_millis(500));
    }
}
