//! The routes emergency access rests on, on a real chain served over loopback HTTP: a
//! patient's EMR entries, vouching keys, emergency requests, the patient's notification
//! list and the list of every request, each answer verified by the light client against real finalization certificates,
//! and the break-glass access that follows found in the patient's access log (S3-entry,
//! S3-emergency, S1-rights).

// The client's fixtures: a four-validator genesis and real simplex finalization certificates.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
mod served;

use medchain_client::{Client, ClientError, ListQuery, StateQuery, VerifyError};
use medchain_node::chain::Chain;
use medchain_state::testkit::{
    self, Actor, EmergencyAsk, HospitalDesk, REGULATOR_SEED, doctor_identity, org_name,
};
use medchain_types::{
    AccessDecision, AccessGrounds, ContentHash, EmergencyId, EntryBytes, EntryId, OrgKind,
    OrgState, Purpose, RecordId, emergency,
};
use served::{alter_named_value, commit, fresh_chain, verdict_on_doctored, verifying_client};
use std::sync::Arc;

/// Seoul General holds a record of `patient`, who filed an EMR entry; Busan Clinic's desk
/// filed an emergency request for its licensed `doctor`, and Seoul's desk served it
/// break-glass. `before` is a height before the request.
struct Served {
    chain: Arc<Chain>,
    client: Client,
    patient: Actor,
    doctor: Actor,
    busan: HospitalDesk,
    record: RecordId,
    entry: EntryId,
    emergency: EmergencyId,
    before: u64,
}

fn served() -> Served {
    let chain = fresh_chain();
    let (seoul, busan) = (org_name("Seoul General"), org_name("Busan Clinic"));
    let (seoul_doctor, doctor, patient) = (Actor::new(1), Actor::new(2), Actor::new(50));
    let (seoul_desk, busan_desk) = (HospitalDesk::of(&seoul), HospitalDesk::of(&busan));
    commit(
        &chain,
        &[
            seoul_doctor.sign(0, testkit::register(&seoul, OrgKind::Hospital)),
            doctor.sign(0, testkit::register(&busan, OrgKind::Hospital)),
        ],
    );
    let regulator = Actor::new(REGULATOR_SEED);
    commit(
        &chain,
        &[
            regulator.sign(0, testkit::set_state(&seoul, OrgState::Audited)),
            regulator.sign(1, testkit::set_state(&busan, OrgState::Audited)),
        ],
    );
    // Each desk opens and licenses its doctor: nonces 0 and 1, then 2.
    let mut opening = Vec::new();
    let mut licences = Vec::new();
    for (org, desk, member) in [
        (&seoul, &seoul_desk, &seoul_doctor),
        (&busan, &busan_desk, &doctor),
    ] {
        let [join, enrol] = desk.opening(org, member);
        let [(_, enrol_doctor), (_, licence)] = desk.licensing(member);
        opening.extend([
            desk.actor.sign(0, join),
            desk.actor.sign(1, enrol),
            member.sign(1, enrol_doctor),
        ]);
        licences.push(desk.actor.sign(2, licence));
    }
    commit(&chain, &opening);
    commit(&chain, &licences);
    let release = seoul_doctor.sign(
        2,
        testkit::release(&seoul_doctor, &patient.address, &ContentHash::of(b"EMR")),
    );
    let entry = patient.sign(0, testkit::entry(b"EEE of patient 50"));
    commit(
        &chain,
        &[
            release.clone(),
            entry.clone(),
            doctor.sign(2, testkit::set_vouching_key(&doctor)),
            busan_desk
                .actor
                .sign(3, testkit::set_vouching_key(&busan_desk.actor)),
        ],
    );
    let record = RecordId::from(release.id());
    let before = chain.committed_height();
    let parent_time = chain
        .store()
        .block_by_height(before)
        .unwrap()
        .unwrap()
        .header()
        .timestamp_ms;
    let ask = EmergencyAsk {
        doctor: doctor_identity(&doctor),
        hospital: busan_desk.identity.clone(),
        record,
        hur: ContentHash::of(b"h_ur").0,
        // `commit` builds each block one second after its parent.
        issued_at_ms: parent_time + 1_000,
    };
    let request = busan_desk
        .actor
        .sign(4, ask.signed_by(&[&doctor, &busan_desk.actor]));
    commit(&chain, std::slice::from_ref(&request));
    let emergency = EmergencyId::from(request.id());
    let serve = testkit::serve(
        &doctor.address,
        &record,
        Purpose::Treatment,
        AccessGrounds::Emergency(emergency),
    );
    commit(&chain, &[seoul_desk.actor.sign(3, serve)]);
    Served {
        client: verifying_client(chain.clone()),
        chain,
        patient,
        doctor,
        busan: busan_desk,
        record,
        entry: EntryId::from(entry.id()),
        emergency,
        before,
    }
}

#[test]
fn entries_vouching_keys_emergencies_and_notifications_are_served_with_proofs() {
    let s = served();
    let height = s.chain.committed_height();

    let entries = s
        .client
        .list(&ListQuery::patient_entries(&s.patient.address), 0, 100)
        .unwrap();
    assert_eq!(entries.total, 1);
    assert_eq!(entries.at.header.height, height);
    assert_eq!(entries.entries[0].id, s.entry);
    assert_eq!(
        entries.entries[0].value.entry,
        EntryBytes(b"EEE of patient 50".to_vec())
    );
    let entry = s.client.read(&StateQuery::entry(&s.entry)).unwrap();
    assert_eq!(entry.value.unwrap().patient, s.patient.address);

    let key = s
        .client
        .read(&StateQuery::vouching_key(&s.doctor.address))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        key.key,
        emergency::vouching_key_from(&s.doctor.key).public()
    );
    let none = s
        .client
        .read(&StateQuery::vouching_key(&s.patient.address))
        .unwrap();
    assert!(none.value.is_none(), "absence is proven too");

    let notifications = s
        .client
        .list(
            &ListQuery::patient_notifications(&s.patient.address),
            0,
            100,
        )
        .unwrap();
    assert_eq!(notifications.total, 1);
    let listed = &notifications.entries[0];
    assert_eq!(listed.id, s.emergency);
    assert_eq!(
        (
            listed.value.record,
            listed.value.doctor_address,
            &listed.value.hospital
        ),
        (s.record, s.doctor.address, &s.busan.identity)
    );
    let read = s.client.read(&StateQuery::emergency(&s.emergency)).unwrap();
    assert_eq!(read.value.as_ref(), Some(&listed.value));

    // The regulator's list of every request holds the same one.
    let every = s.client.list(&ListQuery::emergencies(), 0, 100).unwrap();
    assert_eq!(every.entries, notifications.entries);
    let altered = verdict_on_doctored(&s.client, &ListQuery::emergencies(), |view| {
        alter_named_value(view, 0)
    });
    assert!(matches!(altered, Err(VerifyError::Proof(_))), "{altered:?}");

    // Before it was filed, the request is proven absent at that height.
    let then = s
        .client
        .read(&StateQuery::emergency(&s.emergency).at_height(s.before))
        .unwrap();
    assert!(then.value.is_none());
    assert_eq!(then.at.header.height, s.before);
}

#[test]
fn the_break_glass_access_is_in_the_patients_verified_access_log() {
    let s = served();
    let logged = s
        .client
        .read(&StateQuery::access_log_entry(&s.patient.address, 0))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        logged.decision,
        AccessDecision::BreakGlass {
            emergency: s.emergency
        }
    );
    assert_eq!(logged.requester, s.doctor.address);
    assert_eq!(
        logged.served_by,
        Some(HospitalDesk::of(&org_name("Seoul General")).actor.address)
    );
}

#[test]
fn malformed_ids_are_json_errors() {
    let s = served();
    for path in [
        "/v1/state/emergencies/zz",
        "/v1/state/entries/12",
        "/v1/state/vouching-keys/not-an-address",
        "/v1/lists/notifications/abc",
    ] {
        // A 400 comes back before any body is parsed, whatever the route's view type.
        let answer = s.client.node.state(path);
        assert!(
            matches!(&answer, Err(ClientError::Api { status: 400, .. })),
            "{path}: {answer:?}"
        );
    }
}
