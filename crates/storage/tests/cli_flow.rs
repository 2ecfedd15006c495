//! The issue's CLI flow at the state level, committed to a store and checked with proofs a
//! light client would verify against finalized headers: the regulator approves a hospital, its
//! hospital identity licenses a doctor, the doctor releases a record, the patient stores it, grants access, the grantee's access is
//! allowed (and proven), the patient revokes, the grantee is denied, and the access log shows
//! both decisions.

mod common;

use common::Chain;
use medchain_state::{
    ProvenValue, keys,
    testkit::{
        Actor, doctor_identity, enrol, enrol_doctor, grant, issue_licence, join, key_part,
        org_name, register, release, request, revoke, set_state, store,
    },
};
use medchain_storage::Store;
use medchain_types::{
    AccessDecision, Block, ConsentId, ContentHash, DenyReason, Event, Expiry, IdentityName,
    OrgKind, OrgState, Purpose, RecordId, Role,
};

/// What a light client does: fetch the value with its proof and check it against the
/// finalized header at the proof's height.
fn verified<V: medchain_state::StateValue>(store: &Store, key: &keys::StateKey<V>) -> Option<V> {
    let proven: ProvenValue = store.get_proven(key.as_bytes()).unwrap();
    let header: Block = store.block_by_height(proven.height).unwrap().unwrap();
    assert!(
        store.finalization(proven.height).unwrap().is_some(),
        "header is finalized"
    );
    proven
        .verified_value(&header.header().state_root, key)
        .unwrap()
}

#[test]
fn regulator_doctor_patient_grantee_flow() {
    let mut chain = Chain::new(Store::in_memory().unwrap());
    let regulator = chain.regulator.clone();
    let hospital = org_name("Seoul General");
    let (admin, doctor, patient) = (Actor::new(1), Actor::new(2), Actor::new(50));
    let lab = org_name("Genome Lab");
    let researcher = Actor::new(3);

    // `medchain org register`, `medchain org approve` (regulator), `medchain org join`.
    chain.run(&admin, register(&hospital, OrgKind::Hospital));
    assert_eq!(
        verified(&chain.store, &keys::org(&hospital)).unwrap().state,
        OrgState::ToAudit
    );
    chain.run(&regulator, set_state(&hospital, OrgState::Audited));
    assert_eq!(
        verified(&chain.store, &keys::org(&hospital)).unwrap().state,
        OrgState::Audited
    );
    chain.run(&doctor, join(&hospital, &admin, &doctor));

    // Releasing needs a licence: the admin enrols as the hospital, the doctor as a doctor, and
    // `medchain licence issue` licenses the doctor; the licence is provable.
    let hospital_identity = IdentityName::new("seoul-general").unwrap();
    chain.run(
        &admin,
        enrol(&hospital_identity, Role::Hospital, key_part(1)),
    );
    chain.run(&doctor, enrol_doctor(&doctor));
    let doctor_name = doctor_identity(&doctor);
    chain.run(&admin, issue_licence(&doctor_name, u64::MAX));
    let licence = verified(&chain.store, &keys::licence(&doctor_name)).unwrap();
    assert_eq!(licence.hospital, hospital_identity);
    assert_eq!(
        verified(&chain.store, &keys::revocation(&doctor_name)),
        None,
        "not revoked: proven absent"
    );
    chain.run(&researcher, register(&lab, OrgKind::Research));
    chain.run(&regulator, set_state(&lab, OrgState::Audited));

    // `medchain record release`: the doctor releases; the record is provable with its hEMR.
    let record_hash = ContentHash::of(b"FHIR bundle of patient 50");
    let release_tx = chain.tx(&doctor, release(&doctor, &patient.address, &record_hash));
    let record = RecordId::from(release_tx.id());
    chain.commit(&[release_tx]);
    let released = verified(&chain.store, &keys::record(&record)).unwrap();
    assert_eq!(released.patient, patient.address);
    assert_eq!(released.doctor, doctor.address);
    assert_eq!(released.record_hash, record_hash);

    // `medchain record store`: the patient files the pointer to its encrypted blob.
    let blob_hash = ContentHash::of(b"ciphertext");
    chain.run(
        &patient,
        store(&record, &blob_hash, "s3://patient-50/record-1"),
    );
    let pointer = verified(&chain.store, &keys::storage_pointer(&record)).unwrap();
    assert_eq!((pointer.record, pointer.blob_hash), (record, blob_hash));

    // `medchain consent grant`.
    let expiry = Expiry::AtHeight(chain.height() + 100);
    let grant_tx = chain.tx(
        &patient,
        grant(&researcher.address, &[record], Purpose::Research, expiry),
    );
    let consent = ConsentId::from(grant_tx.id());
    chain.commit(&[grant_tx]);
    assert_eq!(
        verified(
            &chain.store,
            &keys::grant(&researcher.address, &record, Purpose::Research)
        ),
        Some(consent)
    );

    // `medchain access request`: allowed, and the decision is proven in the patient's log.
    let (allowed_block, _) = chain.run(&researcher, request(&record, Purpose::Research));
    let allowed_tx = allowed_block.tx_ids()[0];
    let receipt = chain.store.receipt(&allowed_tx).unwrap().unwrap();
    let allowed = AccessDecision::Allowed {
        consent: Some(consent),
    };
    assert_eq!(
        receipt.events,
        vec![Event::AccessDecided {
            record,
            requester: researcher.address,
            purpose: Purpose::Research,
            decision: allowed.clone(),
        }]
    );
    let entry = verified(&chain.store, &keys::access_log_entry(&patient.address, 0)).unwrap();
    assert_eq!(
        (entry.decision.clone(), entry.tx),
        (allowed.clone(), allowed_tx)
    );

    // `medchain consent revoke`, then the same request is denied.
    chain.run(&patient, revoke(&consent));
    assert!(
        verified(&chain.store, &keys::consent(&consent))
            .unwrap()
            .revoked_at
            .is_some()
    );
    let (denied_block, _) = chain.run(&researcher, request(&record, Purpose::Research));
    let denied = AccessDecision::Denied {
        reason: DenyReason::ConsentRevoked,
    };

    // `medchain audit log`: both decisions, in order, each provable.
    let log = chain.store.access_log(&patient.address, 0, 10).unwrap();
    let decisions: Vec<_> = log
        .iter()
        .map(|e| (e.seq, e.entry.decision.clone(), e.entry.tx))
        .collect();
    assert_eq!(
        decisions,
        vec![
            (0, allowed, allowed_tx),
            (1, denied, denied_block.tx_ids()[0])
        ]
    );
    for logged in &log {
        let proven = verified(
            &chain.store,
            &keys::access_log_entry(&patient.address, logged.seq),
        )
        .unwrap();
        assert_eq!(proven, logged.entry);
    }
    assert_eq!(
        verified(&chain.store, &keys::access_log_len(&patient.address)),
        Some(2)
    );
    // Nobody else's log was touched.
    assert_eq!(
        verified(&chain.store, &keys::access_log_len(&researcher.address)),
        None
    );
}
