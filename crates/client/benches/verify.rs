//! What a light client's checks cost (docs/architecture.md § Light-client trust model):
//! verifying a state answer (header digest, a 3-of-4 ed25519 finalization certificate, a
//! Jellyfish Merkle proof), a block, and recomputing block 0. Prints a table; run with
//! `cargo bench -p medchain-client`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use medchain_api::BlockView;
use medchain_client::{LightClient, genesis_header};
use medchain_state::{
    keys,
    testkit::{Actor, World, org_name},
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
}
