//! The doctor revocation list through the light client (S3-revoke): "not revoked at height h"
//! is an exclusion proof under the state root of the finalized header at h, and a lying node
//! can neither hide a revocation nor answer for another doctor or another height.

mod common;

use common::*;
use medchain_api::{HeaderView, ProvenView};
use medchain_client::{LightClient, StateQuery, VerifyError};
use medchain_state::testkit::{
    Actor, HospitalDesk, World, doctor_identity, org_name, revoke_doctor,
};

fn light() -> LightClient {
    LightClient::new(genesis()).unwrap()
}

/// A world with a licensed doctor at Seoul General.
fn licensed() -> (World, Actor) {
    let mut world = World::new();
    let doctor = Actor::new(1);
    world.licensed_hospital(&doctor, &org_name("Seoul General"));
    (world, doctor)
}

#[test]
fn not_revoked_is_an_exclusion_proof_at_a_finalized_height() {
    let (world, doctor) = licensed();
    let query = StateQuery::revocation(&doctor_identity(&doctor));
    let view = certified_view(&world, query.key().as_bytes());
    let verified = query.verify(&light(), &view).unwrap();
    assert!(verified.value.is_none());
    assert_eq!(verified.at.header.height, world.height());

    // Pinned to that height it verifies; pinned to another, the same answer is refused.
    let pinned = query.clone().at_height(world.height());
    assert!(
        pinned
            .path()
            .ends_with(&format!("?height={}", world.height()))
    );
    pinned.verify(&light(), &view).unwrap();
    let earlier = query.at_height(world.height() - 1);
    assert!(matches!(
        earlier.verify(&light(), &view),
        Err(VerifyError::OtherHeight { asked, answered })
            if asked == world.height() - 1 && answered == world.height()
    ));
}

#[test]
fn a_revocation_is_proven_and_cannot_be_hidden() {
    let (mut world, doctor) = licensed();
    let name = doctor_identity(&doctor);
    let query = StateQuery::revocation(&name);
    let before = proven(&world, query.key().as_bytes());
    let desk = HospitalDesk::of(&org_name("Seoul General"));
    world.run(&desk.actor, revoke_doctor(&name)).unwrap();

    let view = certified_view(&world, query.key().as_bytes());
    let entry = query.verify(&light(), &view).unwrap().value.unwrap();
    assert_eq!((entry.doctor, entry.by), (name.clone(), desk.actor.address));

    // The old exclusion proof served with the new finalized header: refused as it is...
    let stale = ProvenView {
        proven: before.clone(),
        ..view.clone()
    };
    assert!(matches!(
        query.verify(&light(), &stale),
        Err(VerifyError::HeightMismatch { .. })
    ));
    // ...and with its height relabelled, the proof does not verify under the new root.
    let mut relabelled = before;
    relabelled.height = world.height();
    relabelled.state_root = world.root();
    let relabelled = ProvenView {
        proven: relabelled,
        ..view
    };
    assert!(matches!(
        query.verify(&light(), &relabelled),
        Err(VerifyError::Proof(_))
    ));
}

#[test]
fn another_doctors_absence_does_not_answer_for_this_one() {
    let (mut world, doctor) = licensed();
    let name = doctor_identity(&doctor);
    let desk = HospitalDesk::of(&org_name("Seoul General"));
    world.run(&desk.actor, revoke_doctor(&name)).unwrap();
    let someone_else = StateQuery::revocation(&doctor_identity(&Actor::new(2)));
    let view = certified_view(&world, someone_else.key().as_bytes());
    assert!(
        someone_else
            .verify(&light(), &view)
            .unwrap()
            .value
            .is_none()
    );
    assert!(matches!(
        StateQuery::revocation(&name).verify(&light(), &view),
        Err(VerifyError::Proof(_))
    ));
}

#[test]
fn identities_and_licences_verify_like_other_state() {
    let (world, doctor) = licensed();
    let name = doctor_identity(&doctor);
    let by_address = StateQuery::identity_of(&doctor.address);
    let view = certified_view(&world, by_address.key().as_bytes());
    assert_eq!(
        by_address.verify(&light(), &view).unwrap().value,
        Some(name.clone())
    );
    let identity = StateQuery::identity(&name);
    let view = certified_view(&world, identity.key().as_bytes());
    let record = identity.verify(&light(), &view).unwrap().value.unwrap();
    assert_eq!(record.address, doctor.address);
    let licence = StateQuery::licence(&name);
    let view = certified_view(&world, licence.key().as_bytes());
    let held = licence.verify(&light(), &view).unwrap().value.unwrap();
    assert_eq!(
        held.hospital,
        HospitalDesk::of(&org_name("Seoul General")).identity
    );
    // A header the validators did not finalize proves nothing.
    let mut forged = view.clone();
    forged.header = HeaderView::from(&header_with(
        &world,
        &[medchain_types::TxId::of_encoded(b"another body")],
    ));
    assert!(licence.verify(&light(), &forged).is_err());
}
