//! The consortium chain as the record ledger: a real chain (the node crate's execution driver
//! and HTTP API on loopback, blocks finalized with real certificates of the client fixtures'
//! validators) behind [`ConsortiumLedger`]. A record is released, its sealed blob stored and
//! pointed to, and looked up with proofs; an unknown record is proven absent; a pointer filed
//! by someone neither the patient nor of its hospital, and a second release of the same
//! record, are refused.

// The client's fixtures: a four-validator genesis and real simplex finalization certificates.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
// The node's tests' chain served on loopback.
#[path = "support/licensed.rs"]
mod licensed;
#[path = "support/producer.rs"]
mod producer;
#[path = "../../node/tests/served/mod.rs"]
mod served;

use licensed::licensed_doctor_chain;
use medchain_client::{ClientError, WaitPolicy, build};
use medchain_gateway::{
    blobs::{BlobStore, RecordBinding, RecordKey, SealedRecord},
    ledger::{ConsortiumLedger, DoctorRelease, LedgerError, RecordLedger},
};
use medchain_state::testkit::{Actor, org_name};
use medchain_state::values::RecordOrigin;
use medchain_types::{Hash32, RecordId};

const BUNDLE: &[u8] = br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#;

/// The hint of the chain's refusal of what the ledger was asked to file.
fn refusal<T: std::fmt::Debug>(result: Result<T, LedgerError>) -> String {
    match result {
        Err(LedgerError::NotAdmitted(ClientError::Api { body, .. }))
            if body.error == "rejected" =>
        {
            body.hint
        }
        other => panic!("expected the chain to refuse, got {other:?}"),
    }
}

#[tokio::test]
async fn a_released_record_is_stored_pointed_to_and_proven() {
    let doctor = Actor::new(1);
    let patient = Actor::new(50);
    let (client, _producer) = licensed_doctor_chain(&doctor, &WaitPolicy::default());
    let ledger = ConsortiumLedger::new(client.clone(), WaitPolicy::default());

    let release = build::release_record(
        client.light.chain_id(),
        &doctor.key,
        patient.address,
        BUNDLE,
    );
    let signer = client.signer(doctor.key.clone());
    let sign = |nonce| signer.sign(release.payload.clone(), nonce).unwrap();
    let signed = sign(client.next_nonce(&doctor.address).unwrap());
    let filed = DoctorRelease::Transaction(Box::new(signed.clone()));
    let released = ledger.release(&filed).unwrap();
    let id = released.record;
    assert_eq!(id, RecordId::from(signed.id()));
    assert_eq!(released.med, None, "no MED chain: released on SUP");
    // Filed again (a gateway resuming after a crash): found final, not released twice.
    assert_eq!(ledger.release(&filed).unwrap(), released);
    let proven = ledger.record(&id).unwrap().expect("released record");
    assert_eq!(
        (
            proven.record.patient,
            proven.record.doctor,
            proven.record.record_hash
        ),
        (patient.address, doctor.address, release.record_hash)
    );
    assert_eq!(
        proven.record.origin,
        RecordOrigin::Signed {
            attestation: release.attestation.clone()
        }
    );
    assert_eq!(proven.record.hospital, org_name("Seoul General"));
    assert!(proven.pointer.is_none(), "no pointer filed yet");

    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::local(dir.path()).unwrap();
    let key = RecordKey::new([3; 32]);
    let binding = RecordBinding {
        patient: patient.address,
        index: 0,
        record_hash: release.record_hash,
    };
    let sealed = SealedRecord::seal(&key, &binding, BUNDLE)
        .unwrap()
        .to_bytes();
    let blob_hash = blobs.put(sealed).await.unwrap();
    let location = blobs.location(&blob_hash).unwrap();

    // Only the record's patient or its hospital's identity may file its pointer (S1-storage).
    let outsider = Actor::new(77);
    let by_outsider = ledger.store_pointer(&outsider.key, id, blob_hash, location.clone());
    let hint = refusal(by_outsider);
    assert!(
        hint.contains("record's patient, or file through the gateway"),
        "{hint}"
    );
    assert!(ledger.record(&id).unwrap().unwrap().pointer.is_none());

    ledger
        .store_pointer(&patient.key, id, blob_hash, location.clone())
        .unwrap();
    let proven = ledger.record(&id).unwrap().unwrap();
    let (pointer, at) = proven.pointer.expect("pointer filed");
    assert_eq!(
        (pointer.record, pointer.blob_hash, pointer.location),
        (id, blob_hash, location)
    );
    assert!(at.header.height >= proven.record_at.header.height);

    // A reader follows the proven pointer to the blob and opens it against the proven hEMR.
    let read = blobs.get(&pointer.blob_hash).await.unwrap();
    let opened = SealedRecord::from_bytes(&read)
        .unwrap()
        .open(&key, &binding)
        .unwrap();
    assert_eq!(opened.as_slice(), BUNDLE);

    // The same record (patient, hEMR) in another transaction cannot be released twice.
    let again = ledger.release(&DoctorRelease::Transaction(Box::new(sign(
        client.next_nonce(&doctor.address).unwrap(),
    ))));
    let hint = refusal(again);
    assert!(hint.contains("on chain already"), "{hint}");
}

/// A hospital's administrator signs with the gateway's key too (licences, revocations): the
/// ledger's remembered nonce is then stale, and its next filing must still go through.
#[test]
fn a_key_that_also_signs_elsewhere_keeps_filing() {
    let doctor = Actor::new(1);
    let patient = Actor::new(50);
    let (client, _producer) = licensed_doctor_chain(&doctor, &WaitPolicy::default());
    let ledger = ConsortiumLedger::new(client.clone(), WaitPolicy::default());
    let release = |bundle: &[u8]| {
        build::release_record(
            client.light.chain_id(),
            &doctor.key,
            patient.address,
            bundle,
        )
        .payload
    };
    ledger.file(&doctor.key, release(b"first visit")).unwrap();
    client
        .signer(doctor.key.clone())
        .send(
            release(b"signed by another process"),
            Some(&WaitPolicy::default()),
        )
        .unwrap();
    let third = ledger.file(&doctor.key, release(b"second visit")).unwrap();
    assert!(
        third
            .receipt
            .events
            .iter()
            .any(|event| matches!(event, medchain_types::Event::RecordReleased { .. }))
    );
}

#[test]
fn an_unknown_record_is_proven_absent() {
    let doctor = Actor::new(1);
    let (client, _producer) = licensed_doctor_chain(&doctor, &WaitPolicy::default());
    let ledger = ConsortiumLedger::new(client, WaitPolicy::default());
    let unknown = RecordId(Hash32::from([7; 32]));
    assert!(ledger.record(&unknown).unwrap().is_none());
}
