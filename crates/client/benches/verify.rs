//! What a light client's checks cost (docs/architecture.md § Light-client trust model):
//! verifying a state answer (header digest, a 3-of-4 ed25519 finalization certificate, a
//! Jellyfish Merkle proof), a block, recomputing block 0, and the revocation list's answers
//! (S3-revoke: "not revoked" is an exclusion proof, "revoked" an inclusion proof, among
//! `REVOKED` revoked doctors). Prints tables; run with `cargo bench -p medchain-client`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use medchain_api::BlockView;
use medchain_client::{LightClient, genesis_header};
use medchain_state::{
    keys,
    testkit::{Actor, HospitalDesk, World, doctor_identity, join, org_name, revoke_doctor},
};
use medchain_types::OrgKind;
use std::{hint::black_box, time::Instant};

/// Runs `f` `iterations` times and returns microseconds per call.
fn time_per_call(iterations: u32, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
}

/// Doctors on the revocation list when the revocation answers are timed.
const REVOKED: u64 = 1_000;

/// A hospital whose `REVOKED + 1` licensed doctors are all revoked but the last; returns the
/// world and the identities of the last revoked doctor and of the one still licensed.
fn revocation_world() -> (World, Actor, Actor) {
    let mut world = World::new();
    let org = org_name("Busan Medical");
    let founder = Actor::new(1);
    world.licensed_hospital(&founder, &org);
    let desk = HospitalDesk::of(&org);
    let doctors: Vec<Actor> = (0..=REVOKED).map(|i| Actor::new(10_000 + i)).collect();
    for doctor in &doctors {
        world
            .run(doctor, join(&org, &founder, doctor))
            .expect("join");
        world.license(&org, doctor);
    }
    for doctor in &doctors[..REVOKED as usize] {
        world
            .run(&desk.actor, revoke_doctor(&doctor_identity(doctor)))
            .expect("revoke");
    }
    let last_revoked = doctors[REVOKED as usize - 1].clone();
    let licensed = doctors[REVOKED as usize].clone();
    (world, last_revoked, licensed)
}

/// Times and sizes the answers "not revoked" (exclusion) and "revoked" (inclusion).
fn revocation_rows(light: &LightClient) {
    let (world, revoked, licensed) = revocation_world();
    println!();
    println!(
        "| revocation answer ({REVOKED} doctors revoked, 4 validators) | proof bytes | µs per verify |"
    );
    println!("|---|---:|---:|");
    for (answer, doctor, expect_revoked) in [
        ("not revoked (exclusion proof)", &licensed, false),
        ("revoked (inclusion proof)", &revoked, true),
    ] {
        let key = keys::revocation(&doctor_identity(doctor));
        let view = certified_view(&world, key.as_bytes());
        let verified = light.verify_proven(&view, &key).expect("verifies");
        assert_eq!(verified.value.is_some(), expect_revoked);
        let micros = time_per_call(2_000, || {
            black_box(light.verify_proven(&view, &key).expect("verifies"));
        });
        let bytes = view.proven.proof.to_bytes().len();
        println!("| {answer} | {bytes} | {micros:.1} |");
    }
}

fn main() {
    let mut world = World::new();
    let name = org_name("Seoul General");
    world.audited_org(&Actor::new(1), &name, OrgKind::Hospital);
    for i in 0..200 {
        let founder = Actor::new(10 + i);
        world
            .run(
                &founder,
                medchain_client::build::register_org(
                    org_name(&format!("Org {i}")),
                    OrgKind::Research,
                ),
            )
            .expect("register");
    }
    let view = certified_view(&world, keys::org(&name).as_bytes());
    let block = BlockView {
        header: view.header.clone(),
        tx_ids: vec![],
        finalization: view.finalization.clone(),
    };
    let light = LightClient::new(genesis()).expect("light client");
    let key = keys::org(&name);

    let rows = [
        (
            "verify state answer (certificate 3/4 + JMT proof)",
            time_per_call(2_000, || {
                black_box(light.verify_proven(&view, &key).expect("verifies"));
            }),
        ),
        (
            "verify block (certificate 3/4 + tx root)",
            time_per_call(2_000, || {
                black_box(light.verify_block(&block).expect("verifies"));
            }),
        ),
        (
            "recompute block 0 from genesis",
            time_per_call(2_000, || {
                black_box(genesis_header(&genesis()).expect("genesis"));
            }),
        ),
    ];
    println!("| operation (state of 201 organisations, 4 validators) | µs per call |");
    println!("|---|---:|");
    for (operation, micros) in rows {
        println!("| {operation} | {micros:.1} |");
    }
    revocation_rows(&light);
}
