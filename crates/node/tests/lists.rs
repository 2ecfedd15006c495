//! The list routes and id-prefix lookups on a real chain, served over loopback HTTP: each page
//! is verified by the light client against real finalization certificates, and every way a node
//! could doctor a page — a changed, dropped, reordered or stale entry, a wrong total, a hidden
//! revocation — is refused.

// The client's fixtures: a four-validator genesis and real simplex finalization certificates.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
mod served;

use served::{alter_named_value, commit, fresh_chain, verdict_on_doctored, verifying_client};

use axum::http::StatusCode;
use medchain_api::{IdKind, IdPrefix, MAX_LIST_PAGE, ProvenListView};
use medchain_client::{Client, ClientError, ListError, ListQuery, VerifyError};
use medchain_node::chain::Chain;
use medchain_state::{
    StateValue,
    testkit::{self, Actor, REGULATOR_SEED, org_name},
    values::Consent,
};
use medchain_types::{
    ConsentId, ContentHash, Expiry, IdentityName, OrgKind, OrgState, Purpose, RecordId, Role, TxId,
    VerifiedTransaction,
};
use std::{collections::HashMap, sync::Arc};

/// A chain with two organisations (one with a second member), three records of `patient`
/// (one of another patient) and two consents of `patient`, the first revoked; served on
/// loopback.
struct Served {
    chain: Arc<Chain>,
    client: Client,
    doctor: Actor,
    colleague: Actor,
    researcher: Actor,
    patient: Actor,
    records: Vec<RecordId>,
    consents: Vec<ConsentId>,
}

fn served() -> Served {
    let chain = fresh_chain();
    let doctor = Actor::new(1);
    let colleague = Actor::new(3);
    let researcher = Actor::new(2);
    let patient = Actor::new(50);
    let other = Actor::new(51);
    let hospital = org_name("Seoul General");
    commit(
        &chain,
        &[
            doctor.sign(0, testkit::register(&hospital, OrgKind::Hospital)),
            researcher.sign(0, testkit::register(&org_name("Lab"), OrgKind::Research)),
        ],
    );
    let regulator = Actor::new(REGULATOR_SEED);
    commit(
        &chain,
        &[regulator.sign(0, testkit::set_state(&hospital, OrgState::Audited))],
    );
    let release = |nonce, patient: &Actor, content: &[u8]| {
        doctor.sign(
            nonce,
            testkit::release(&doctor, &patient.address, &ContentHash::of(content)),
        )
    };
    // Releasing needs a licence: the colleague joins as the hospital's identity and licenses
    // the doctor.
    let hospital_identity = IdentityName::new("seoul-general").unwrap();
    commit(
        &chain,
        &[
            colleague.sign(0, testkit::join(&hospital, &doctor, &colleague)),
            colleague.sign(
                1,
                testkit::enrol(&hospital_identity, Role::Hospital, testkit::key_part(3)),
            ),
            doctor.sign(1, testkit::enrol_doctor(&doctor)),
        ],
    );
    commit(
        &chain,
        &[colleague.sign(
            2,
            testkit::issue_licence(&testkit::doctor_identity(&doctor), u64::MAX),
        )],
    );
    let releases = [
        release(2, &patient, b"EMR 1"),
        release(3, &other, b"EMR 2"),
        release(4, &patient, b"EMR 3"),
    ];
    commit(&chain, &releases);
    let records: Vec<RecordId> = [&releases[0], &releases[2]]
        .iter()
        .map(|tx| RecordId::from(tx.id()))
        .collect();
    let grant = |nonce, records: &[RecordId]| {
        patient.sign(
            nonce,
            testkit::grant(
                &researcher.address,
                records,
                Purpose::Research,
                Expiry::AtHeight(1_000),
            ),
        )
    };
    let grants = [grant(0, &records[..1]), grant(1, &records)];
    commit(&chain, &grants);
    let consents: Vec<ConsentId> = grants.iter().map(|tx| ConsentId::from(tx.id())).collect();
    commit(&chain, &[patient.sign(2, testkit::revoke(&consents[0]))]);
    let client = verifying_client(chain.clone());
    Served {
        chain,
        client,
        doctor,
        colleague,
        researcher,
        patient,
        records,
        consents,
    }
}

#[test]
fn every_list_verifies_at_the_newest_certified_height() {
    let served = served();
    let Served {
        client, patient, ..
    } = &served;
    let height = served.chain.committed_height();

    let records = client
        .list(&ListQuery::patient_records(&patient.address), 0, 100)
        .unwrap();
    assert_eq!(records.total, 2);
    assert_eq!(records.at.header.height, height);
    let ids: Vec<RecordId> = records.entries.iter().map(|entry| entry.id).collect();
    assert_eq!(ids, served.records);
    assert!(
        records
            .entries
            .iter()
            .all(|entry| entry.value.patient == patient.address
                && entry.value.hospital.as_str() == "Seoul General")
    );

    let consents = client
        .list(&ListQuery::patient_consents(&patient.address), 0, 100)
        .unwrap();
    let ids: Vec<ConsentId> = consents.entries.iter().map(|entry| entry.id).collect();
    assert_eq!(ids, served.consents);
    // A revoked consent stays listed; its value shows the revocation.
    assert_eq!(consents.entries[0].value.revoked_at, Some(height));
    assert_eq!(consents.entries[1].value.revoked_at, None);
    assert_eq!(consents.entries[1].value.records, served.records);

    let members = client
        .list(&ListQuery::org_members(&org_name("Seoul General")), 0, 100)
        .unwrap();
    let addresses: Vec<_> = members.entries.iter().map(|entry| entry.id).collect();
    assert_eq!(addresses, [served.doctor.address, served.colleague.address]);
    assert_eq!(
        members.entries[1].value.endorser,
        Some(served.doctor.address)
    );

    let orgs = client.list(&ListQuery::orgs(), 0, 100).unwrap();
    let names: Vec<&str> = orgs.entries.iter().map(|entry| entry.id.as_str()).collect();
    assert_eq!(names, ["Seoul General", "Lab"]);
    assert_eq!(orgs.entries[0].value.state, OrgState::Audited);
    assert_eq!(orgs.entries[1].value.founder, served.researcher.address);

    let licences = client.list(&ListQuery::licences(), 0, 100).unwrap();
    let doctors: Vec<_> = licences.entries.iter().map(|entry| &entry.id).collect();
    assert_eq!(doctors, [&testkit::doctor_identity(&served.doctor)]);
    assert_eq!(licences.entries[0].value.org, org_name("Seoul General"));

    // The researcher sees both grants made to it, the revoked one too.
    let granted = client
        .list(
            &ListQuery::grantee_consents(&served.researcher.address),
            0,
            100,
        )
        .unwrap();
    let ids: Vec<ConsentId> = granted.entries.iter().map(|entry| entry.id).collect();
    assert_eq!(ids, served.consents);
    assert_eq!(granted.entries[0].value.revoked_at, Some(height));
    assert_eq!(granted.at.header.height, height);

    // Nobody's lists are empty lists, proven (the length is proven absent).
    let no_emergencies = client.list(&ListQuery::emergencies(), 0, 100).unwrap();
    assert_eq!(no_emergencies.total, 0);
    let granted_to_patient = client
        .list(&ListQuery::grantee_consents(&patient.address), 0, 100)
        .unwrap();
    assert_eq!(granted_to_patient.total, 0);
    let nobody = client
        .list(&ListQuery::patient_records(&Actor::new(99).address), 0, 100)
        .unwrap();
    assert_eq!((nobody.total, nobody.entries.len()), (0, 0));
    let unknown = client
        .list(&ListQuery::org_members(&org_name("Nowhere")), 0, 100)
        .unwrap();
    assert_eq!(unknown.total, 0);
}

#[test]
fn pages_hold_exactly_the_entries_asked_for() {
    let served = served();
    let query = ListQuery::patient_records(&served.patient.address);
    let second = served.client.list(&query, 1, 1).unwrap();
    assert_eq!((second.total, second.from), (2, 1));
    assert_eq!(second.entries.len(), 1);
    assert_eq!(
        (second.entries[0].seq, second.entries[0].id),
        (1, served.records[1])
    );
    let first = served.client.list(&query, 0, 1).unwrap();
    assert_eq!(first.entries[0].id, served.records[0]);
    let past_the_end = served.client.list(&query, 7, 10).unwrap();
    assert_eq!((past_the_end.total, past_the_end.entries.len()), (2, 0));
    // The client never asks for more than a page; the node refuses to serve more.
    let too_many = served
        .client
        .node
        .list(&query, 0, MAX_LIST_PAGE + 1)
        .unwrap_err();
    assert!(
        matches!(&too_many, ClientError::Api { status, .. } if *status == StatusCode::BAD_REQUEST.as_u16()),
        "{too_many:?}"
    );
}

/// A page of the patient's consents as the node serves it, and the light client's verdict on
/// it after `edit`.
fn doctored(served: &Served, edit: impl FnOnce(&mut ProvenListView)) -> Result<usize, VerifyError> {
    let query = ListQuery::patient_consents(&served.patient.address);
    verdict_on_doctored(&served.client, &query, edit).map(|page| page.entries.len())
}

#[test]
fn a_doctored_page_is_refused() {
    let served = served();
    assert_eq!(doctored(&served, |_| {}).unwrap(), 2);

    // The revocation hidden: the consent's value no longer matches its proof.
    let hidden = doctored(&served, |view| {
        let proven = view.entries[0].item_proof.as_mut().unwrap();
        let mut consent = Consent::from_bytes(proven.value.as_deref().unwrap()).unwrap();
        consent.revoked_at = None;
        proven.value = Some(consent.to_bytes());
    });
    assert!(matches!(hidden, Err(VerifyError::Proof(_))), "{hidden:?}");

    // Another consent id at entry 0 (with that consent's own valid proof).
    let swapped = doctored(&served, |view| {
        let second = view.entries[1].clone();
        view.entries[0].entry_proof.value = second.entry_proof.value;
        view.entries[0].item_proof = second.item_proof;
    });
    assert!(matches!(swapped, Err(VerifyError::Proof(_))), "{swapped:?}");

    let reordered = doctored(&served, |view| view.entries.swap(0, 1));
    assert!(
        matches!(
            reordered,
            Err(VerifyError::List(ListError::OutOfOrder {
                seq: 1,
                expected: 0
            }))
        ),
        "{reordered:?}"
    );

    let dropped = doctored(&served, |view| {
        view.entries.pop();
    });
    assert!(
        matches!(
            dropped,
            Err(VerifyError::List(ListError::WrongSize {
                expected: 2,
                got: 1,
                ..
            }))
        ),
        "{dropped:?}"
    );

    // The newest consent hidden behind a length of 1, with valid proofs of entries 0 and 1.
    let hidden_newest = doctored(&served, |view| {
        let newest = view.entries.pop().unwrap();
        view.total = 1;
        view.last_proof = Some(view.entries[0].entry_proof.clone());
        view.end_proof = newest.entry_proof;
    });
    assert!(
        matches!(
            hidden_newest,
            Err(VerifyError::List(ListError::LongerThanClaimed { total: 1 }))
        ),
        "{hidden_newest:?}"
    );
    let unproven_last = doctored(&served, |view| view.last_proof = None);
    assert!(
        matches!(
            unproven_last,
            Err(VerifyError::List(ListError::ShorterThanClaimed {
                total: 2
            }))
        ),
        "{unproven_last:?}"
    );
    // Where another list ends (the patient's records: also 2) is not where this one does.
    let records_end = served
        .client
        .node
        .list(&ListQuery::patient_records(&served.patient.address), 0, 0)
        .unwrap()
        .end_proof;
    let other_list = doctored(&served, |view| view.end_proof = records_end);
    assert!(
        matches!(other_list, Err(VerifyError::Proof(_))),
        "{other_list:?}"
    );
}

#[test]
fn licences_and_grantee_consents_refuse_an_altered_value() {
    let served = served();
    let licences = ListQuery::licences();
    let granted = ListQuery::grantee_consents(&served.researcher.address);
    assert_eq!(
        verdict_on_doctored(&served.client, &licences, |_| {})
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        verdict_on_doctored(&served.client, &granted, |_| {})
            .unwrap()
            .total,
        2
    );
    let altered_licence =
        verdict_on_doctored(&served.client, &licences, |view| alter_named_value(view, 0));
    assert!(
        matches!(altered_licence, Err(VerifyError::Proof(_))),
        "{altered_licence:?}"
    );
    let altered_consent =
        verdict_on_doctored(&served.client, &granted, |view| alter_named_value(view, 1));
    assert!(
        matches!(altered_consent, Err(VerifyError::Proof(_))),
        "{altered_consent:?}"
    );
}

#[test]
fn entries_proven_at_another_height_are_refused() {
    let served = served();
    let query = ListQuery::patient_consents(&served.patient.address);
    let stale = served.client.node.list(&query, 0, 100).unwrap();
    // The next block changes nothing in the list, but moves the state root.
    commit(
        &served.chain,
        &[served
            .researcher
            .sign(1, testkit::request(&served.records[0], Purpose::Research))],
    );
    let mut fresh = served.client.node.list(&query, 0, 100).unwrap();
    assert_eq!(fresh.header.height, stale.header.height + 1);
    served
        .client
        .light
        .verify_list(&fresh, query.index(), 0, 100)
        .unwrap();
    fresh.entries[1] = stale.entries[1].clone();
    let mixed = served
        .client
        .light
        .verify_list(&fresh, query.index(), 0, 100);
    assert!(
        matches!(mixed, Err(VerifyError::HeightMismatch { proof, header }) if proof + 1 == header),
        "{mixed:?}"
    );
}

#[test]
fn prefixes_resolve_to_the_one_matching_id_of_their_kind() {
    let served = served();
    let record = served.records[0];
    let prefix = |id: &dyn std::fmt::Display, digits: usize| -> IdPrefix {
        id.to_string()[..digits].parse().unwrap()
    };
    let resolve = |kind, prefix: &IdPrefix| served.client.resolve_id(kind, prefix);
    assert_eq!(
        RecordId::from(resolve(IdKind::Record, &prefix(&record, 8)).unwrap()),
        record
    );
    // A record id is a transaction id too; it is no consent id.
    assert_eq!(
        resolve(IdKind::Tx, &prefix(&record, 8)).unwrap(),
        TxId(record.0)
    );
    assert!(matches!(
        resolve(IdKind::Consent, &prefix(&record, 8)),
        Err(ClientError::NoSuchId {
            kind: IdKind::Consent,
            ..
        })
    ));
    let consent = served.consents[1];
    assert_eq!(
        ConsentId::from(resolve(IdKind::Consent, &prefix(&consent, 6)).unwrap()),
        consent
    );
    // All 64 digits are the id itself, asked of no node (an unknown one is found absent later).
    let unknown = "ab".repeat(32);
    assert_eq!(
        resolve(IdKind::Record, &unknown.parse().unwrap())
            .unwrap()
            .to_string(),
        unknown
    );
}

#[test]
fn an_ambiguous_prefix_lists_every_candidate() {
    let served = served();
    let (doctor, patient) = (&served.doctor, &served.patient);
    let nonce = 5;
    // Two releases (consecutive nonces) whose ids share their first four hex digits: among a
    // thousand candidates each such a pair exists but for odds of about e^-15 (and the search
    // is deterministic; 600 each left odds of 1 in 250, which a change of encoding hit).
    let candidate = |nonce, i: u32| {
        doctor.sign(
            nonce,
            testkit::release(
                doctor,
                &patient.address,
                &ContentHash::of(format!("EMR {nonce} {i}").as_bytes()),
            ),
        )
    };
    let firsts: HashMap<[u8; 2], VerifiedTransaction> = (0..1_000)
        .map(|i| {
            let tx = candidate(nonce, i);
            ([tx.id().as_bytes()[0], tx.id().as_bytes()[1]], tx)
        })
        .collect();
    let (first, second) = (0..1_000)
        .find_map(|i| {
            let tx = candidate(nonce + 1, i);
            let head = [tx.id().as_bytes()[0], tx.id().as_bytes()[1]];
            firsts.get(&head).map(|first| (first.clone(), tx))
        })
        .expect("two ids with one 4-digit prefix");
    commit(&served.chain, &[first.clone(), second.clone()]);
    let prefix: IdPrefix = first.id().to_string()[..4].parse().unwrap();
    match served.client.resolve_id(IdKind::Record, &prefix) {
        Err(ClientError::AmbiguousId {
            candidates,
            complete: true,
            ..
        }) => {
            let mut expected = vec![first.id(), second.id()];
            expected.sort();
            assert_eq!(candidates, expected);
        }
        other => panic!("expected an ambiguous prefix, got {other:?}"),
    }
    // One more digit tells them apart (unless the fifth digits agree too).
    let longer: IdPrefix = first.id().to_string()[..8].parse().unwrap();
    assert_eq!(
        served.client.resolve_id(IdKind::Record, &longer).unwrap(),
        first.id()
    );
    // Both are listed in the patient's records too, after the first two.
    let listed = served
        .client
        .list(&ListQuery::patient_records(&patient.address), 2, 100)
        .unwrap();
    let ids: Vec<TxId> = listed.entries.iter().map(|e| TxId(e.id.0)).collect();
    assert_eq!(ids, [first.id(), second.id()]);
}
