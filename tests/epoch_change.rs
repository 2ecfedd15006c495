//! Issue 11's validator change by delegation (S1-dpos) on 5 processes: 4 genesis validators
//! (node-3 has the least stake) and a standby, node-4, that follows as an observer. Through the
//! `medchain` binary a hospital endorses node-4, node-4 registers as its candidate, and a
//! patient delegates enough to outrank node-3. At the next epoch boundary node-4 is in the set
//! and node-3 out; then node-3 and node-0 are killed and the chain keeps finalizing, which needs
//! node-4's votes (nodes 1, 2 and 4 are a quorum of 3 of 4). A fresh light client verifies a
//! header of the new epoch through the epoch transitions.

mod common;

use common::{Network, text};
use medchain_node::config::NodeConfig;

/// Blocks per epoch: short, so the boundary comes soon after the delegation.
const EPOCH_LENGTH: &str = "30";

#[test]
fn a_delegation_replaces_the_weakest_validator_at_an_epoch_boundary_without_a_halt() {
    let mut network = Network::start_with(4, &["--standby", "1", "--epoch-length", EPOCH_LENGTH]);
    let node_key = |index: usize| {
        network
            .path(&format!("node-{index}/validator.key"))
            .display()
            .to_string()
    };
    let address = |key: &str| network.ok(&["address", "--key", key]).trim().to_string();
    let (node3, node4) = (address(&node_key(3)), address(&node_key(4)));
    let node4_p2p = NodeConfig::read(&network.nodes[4].config)
        .expect("node-4 config")
        .p2p
        .listen
        .to_string();
    let in_set = |status: &medchain_api::StatusView, key: &str| {
        status
            .validators
            .iter()
            .any(|validator| validator.public_key.to_string() == key)
    };
    let start = network.node_client(0).status().expect("status");
    assert!(in_set(&start, &node3) && !in_set(&start, &node4));

    // An audited hospital endorses node-4, which registers as its candidate.
    let hospital = network.account("hospital-1").display().to_string();
    network.register_org(&hospital, "Seoul General");
    network.approve_org("Seoul General");
    let endorsed = network.json(&[
        "stake",
        "endorse",
        "--key",
        &hospital,
        "--org",
        "Seoul General",
        "--candidate",
        &node4,
    ]);
    network.ok(&[
        "stake",
        "register",
        "--key",
        &node_key(4),
        "--org",
        "Seoul General",
        "--p2p",
        &node4_p2p,
        "--endorser",
        &address(&hospital),
        "--endorsement",
        &text(&endorsed["endorsement"]),
    ]);

    // A patient's delegation puts node-4 above node-3 (genesis stakes 40k, 30k, 20k, 10k).
    let patient = network.account("patient-1").display().to_string();
    network.ok(&[
        "stake",
        "delegate",
        "--key",
        &patient,
        "--candidate",
        &node4,
        "--amount",
        "15000",
    ]);
    let candidates = network.json(&["stake", "candidates"]);
    let pool = candidates["candidates"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["candidate"] == node4.as_str()))
        .unwrap_or_else(|| panic!("node-4 is no candidate: {candidates}"));
    assert_eq!(pool["pool"]["bonded_tokens"], 15000, "{candidates}");
    assert_eq!(pool["validator"], false, "not before the boundary");
    let history = network.json(&["token", "history", "--key", &patient]);
    assert!(
        history["entries"]
            .as_array()
            .is_some_and(|entries| entries.iter().any(|e| e["id"]["kind"] == "staked")),
        "{history}"
    );

    // The boundary: node-4 in, node-3 out, on every running node.
    let changed = network.wait_for_status(0, "node-4 replacing node-3", |status| {
        in_set(status, &node4) && !in_set(status, &node3)
    });
    assert!(changed.epoch >= 1, "{changed:?}");
    assert_eq!(changed.validators.len(), 4);
    for index in 1..5 {
        network.wait_for_status(index, "the new validator set", |status| {
            status.epoch >= changed.epoch && in_set(status, &node4)
        });
    }

    // node-3 (out) and node-0 (in) die; nodes 1, 2 and 4 still make a quorum.
    network.kill(3);
    network.kill(0);
    let height = network.node_client(1).status().expect("status").height;
    for index in [1, 2, 4] {
        network.wait_ready(index, height + 10);
    }

    // A fresh light client (a new process trusting only genesis) verifies a block of the new
    // epoch: it learns every transition from epoch 0 on.
    let block = (height + 5).to_string();
    let node1 = network.nodes[1].api.clone();
    let shown = network.ok(&["query", "block", &block, "--node", &node1]);
    assert!(
        shown.contains(&format!("block {block} ")) && shown.contains("certificate signed by"),
        "{shown}"
    );
    let status = network.ok(&["query", "status", "--node", &node1]);
    assert!(status.contains("certificate signed by"), "{status}");
}
