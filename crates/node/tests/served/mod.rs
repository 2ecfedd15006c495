//! A real chain served over loopback HTTP for the integration tests: blocks built by the
//! chain from admitted transactions and finalized with real certificates of the client
//! fixtures' validators.

#![allow(dead_code)]

use crate::fixtures;
use commonware_runtime::Runner as _;
use commonware_utils::test_rng;
use medchain_api::ProvenListView;
use medchain_client::{Client, LightClient, ListQuery, NodeClient, VerifiedList, VerifyError};
use medchain_node::{
    api::{self, ApiState},
    chain::Chain,
    enrolment::{Enrolment, nonces::NonceLimits},
    mempool::Mempool,
    metrics::NodeMetrics,
    pkg::ShareStore,
};
use medchain_state::StateValue;
use medchain_storage::Store;
use medchain_types::{Block, VerifiedTransaction};
use std::{sync::Arc, thread};

/// A chain on an in-memory store at the fixtures' genesis.
pub fn fresh_chain() -> Arc<Chain> {
    Arc::new(
        Chain::open(
            Store::in_memory().unwrap(),
            &fixtures::genesis(),
            Mempool::default(),
            100,
        )
        .unwrap(),
    )
}

/// Admits `txs`, builds the next block from them and finalizes it with a certificate of
/// validators 0, 1 and 2.
pub fn commit(chain: &Chain, txs: &[VerifiedTransaction]) {
    let admitted = chain.admit(
        &mut test_rng(),
        txs.iter().map(|tx| tx.tx().clone()).collect(),
    );
    assert!(admitted.iter().all(Result::is_ok), "{admitted:?}");
    assert_eq!(finalize_next(chain), txs.len(), "a transaction failed");
}

/// Builds the next block from the mempool (one second after its parent) and finalizes it
/// with a certificate of validators 0, 1 and 2: what the validators would do. Returns how
/// many transactions it holds.
pub fn finalize_next(chain: &Chain) -> usize {
    finalize_next_with(chain, |block| {
        hex::decode(fixtures::certified_by(&[0, 1, 2], block.header()).unwrap()).unwrap()
    })
}

/// Builds the next block from the mempool (one second after its parent) and finalizes it
/// with the certificate `certify` makes for it. Returns how many transactions it holds.
pub fn finalize_next_with(chain: &Chain, certify: impl FnOnce(&Block) -> Vec<u8>) -> usize {
    let parent = chain
        .store()
        .block_by_height(chain.committed_height())
        .unwrap()
        .unwrap();
    let block = chain
        .build(
            &parent,
            parent.header().timestamp_ms + 1_000,
            parent.header().proposer,
        )
        .unwrap();
    let certificate = certify(&block);
    chain
        .finalize(&mut test_rng(), &block, Some(&certificate))
        .unwrap();
    block.txs().len()
}

/// A light client of the fixtures' genesis talking to `chain` served on loopback.
pub fn verifying_client(chain: Arc<Chain>) -> Client {
    Client::new(
        NodeClient::new(&serve(chain)).unwrap(),
        LightClient::new(fixtures::genesis()).unwrap(),
    )
}

/// The first page of `query` as the node serves it, and the light client's verdict on it
/// after `edit` (a tampering node).
pub fn verdict_on_doctored<E: StateValue, V: StateValue>(
    client: &Client,
    query: &ListQuery<E, V>,
    edit: impl FnOnce(&mut ProvenListView),
) -> Result<VerifiedList<E, V>, VerifyError> {
    let mut view = client.node.list(query, 0, 100).unwrap();
    edit(&mut view);
    client.light.verify_list(&view, query.index(), 0, 100)
}

/// Flips the last byte of the value entry `seq` names, as a node altering it would.
pub fn alter_named_value(view: &mut ProvenListView, seq: usize) {
    let value = view.entries[seq]
        .item_proof
        .as_mut()
        .and_then(|proof| proof.value.as_mut())
        .unwrap();
    *value.last_mut().unwrap() ^= 1;
}

/// Serves the chain's API on a free loopback port; returns its URL.
pub fn serve(chain: Arc<Chain>) -> String {
    serve_genesis(chain, fixtures::genesis())
}

/// Serves the API of a chain of `genesis` on a free loopback port; returns its URL.
pub fn serve_genesis(chain: Arc<Chain>, genesis: medchain_types::Genesis) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let metrics = commonware_runtime::deterministic::Runner::default()
        .start(|context| async move { NodeMetrics::register(&context) });
    // No validator key generation here: the enrolment routes answer `pkg_not_ready`.
    let enrolment = Enrolment::new(
        ShareStore::open(&std::env::temp_dir().join("medchain-served-no-share")).unwrap(),
        medchain_state::testkit::address(99),
        NonceLimits::default(),
    );
    let state = ApiState::new(Box::new(String::new), chain, genesis, metrics, enrolment);
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            api::serve(listener, state).await;
        });
    });
    url
}
