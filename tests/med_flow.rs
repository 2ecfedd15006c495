//! Issue 13's MED chain through the `medchain` binary on 4 validator processes that mine
//! (S3-dual, S3-release, S3-supervise): a doctor writes a record through its hospital's gateway,
//! signing tx_mr with its BLS key; the gateway checks, batches and seals it; it lands in an
//! Mblock whose body carries one aggregate signature; a SUP block checkpoints that Mblock and
//! imports the record; and the patient's light sync (`medchain patient sync`: headers only,
//! proof of work checked) verifies it and a second record against headers it synced and SUP
//! checkpointed.
//! A headers file altered on disk is refused.

mod common;

use common::{Network, hospital::Storage, text};
use medchain_client::{StateQuery, med::MedApi};
use medchain_state::values::RecordOrigin;
use medchain_types::RecordId;
use std::{fs, time::Instant};

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
fn a_record_released_through_the_gateway_is_mined_checkpointed_and_verified_by_the_patients_light_sync()
 {
    let network = Network::start_with(4, &["--fees", "free", "--med"]);
    network.wait_for_pkg();
    let (hospital, mut doctors) = network.hospital("Seoul General", "seoul-general", &["dr-kim"]);
    let doctor = doctors.pop().unwrap();
    let gateway = network.start_gateway(&hospital, &Storage::Embedded);
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

    // SUP holds the record as mined, in an Mblock it checkpointed (verified reads).
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
}
