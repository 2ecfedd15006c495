//! Tokens and epochs through the HTTP API of a real chain with fees and four-block epochs,
//! served over loopback and read by the client SDK: a light client that knows only the genesis
//! learns each epoch's validator set from the node's epoch transitions before it trusts an
//! answer of that epoch, long after the node pruned the boundaries; a payment built from the payer's verified unspent outputs pays its
//! fee exactly; the mempool refuses unfunded and underpaying transactions with explained
//! errors.

// The client's fixtures: a four-validator genesis and real simplex finalization certificates.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
mod served;

use commonware_codec::Encode as _;
use fixtures::{VALIDATOR_SEEDS, finalization_in, validator_keys};
use medchain_client::{
    Client, ClientError, HistoryQuery, LightClient, ListQuery, NodeClient, StateQuery, wallet,
};
use medchain_node::{chain::Chain, mempool::Mempool};
use medchain_state::{
    testkit::{self, Actor, TREASURY_BALANCE, TREASURY_SEED},
    values::{Account, LedgerKind},
};
use medchain_storage::{Store, StoreOptions};
use medchain_types::{Address, Genesis, Payload, RegistryPayload, TxBody, token::Payee};
use std::{num::NonZeroU64, sync::Arc};

/// Blocks per epoch.
const LENGTH: u64 = 4;

/// Heights whose state the node keeps provable: fewer than an epoch, so every boundary but
/// the newest is pruned by the time the next epoch is under way.
const KEEP_VERSIONS: NonZeroU64 = NonZeroU64::new(2).unwrap();

fn payer() -> Actor {
    Actor::new(TREASURY_SEED)
}

/// The fixtures' four validators with the testkit's token economy (fees 10 + 1 per byte; the
/// payer holds a balance and two outputs) and four-block epochs.
fn genesis() -> Genesis {
    fixtures::token_genesis(LENGTH)
}

/// Builds the next block from the mempool and finalizes it with a certificate of validators
/// 0, 1 and 2 made in a round of the block's epoch, as the validators of that epoch would.
fn finalize_next(chain: &Chain) -> usize {
    served::finalize_next_with(chain, |block| {
        finalization_in(
            &genesis(),
            block.number() / LENGTH,
            &validator_keys(&VALIDATOR_SEEDS),
            &[0, 1, 2],
            block.digest(),
        )
        .encode()
        .to_vec()
    })
}

/// A chain at height `height` that prunes all but its last [`KEEP_VERSIONS`] heights, served
/// on loopback, and a client that trusts only the genesis.
fn served_at(height: u64) -> (Arc<Chain>, Client) {
    let options = StoreOptions {
        keep_versions: KEEP_VERSIONS,
        ..StoreOptions::default()
    };
    let chain = Arc::new(
        Chain::open(
            Store::in_memory_with(options).unwrap(),
            &genesis(),
            Mempool::default(),
            100,
        )
        .unwrap(),
    );
    while chain.committed_height() < height {
        finalize_next(&chain);
    }
    let url = served::serve_genesis(chain.clone(), genesis());
    let client = Client::new(
        NodeClient::new(&url).unwrap(),
        LightClient::new(genesis()).unwrap(),
    );
    (chain, client)
}

#[test]
fn a_client_learns_each_epochs_set_from_the_node_before_trusting_its_answers() {
    // Height 9 is in epoch 2: the client must learn the transitions of epochs 0 and 1, whose
    // boundaries (heights 3 and 7) the node has pruned from its tree.
    let (chain, client) = served_at(9);
    assert_eq!(chain.store().oldest_provable_height().unwrap(), Some(8));
    assert_eq!(client.light.known_epoch(), 0);
    let account = client.read(&StateQuery::account(&payer().address)).unwrap();
    assert_eq!(account.at.header.height, 9);
    assert_eq!(account.value.map(|a| a.balance), Some(TREASURY_BALANCE));
    assert_eq!(client.light.known_epoch(), 2);
    // Every set learned is the one the chain elected (here the genesis validators again).
    let set = client.read(&StateQuery::validator_set(2)).unwrap();
    let keys: Vec<Address> = set
        .value
        .unwrap()
        .validators
        .iter()
        .map(|v| v.key)
        .collect();
    let genesis_keys: Vec<Address> = genesis()
        .validator_set()
        .unwrap()
        .iter()
        .map(|key| Address::from(key.clone()))
        .collect();
    assert_eq!(keys, genesis_keys);

    // The transition of an epoch that has not ended is not there yet.
    match client.node.epoch_transition(2) {
        Err(ClientError::Api { status, body }) => {
            assert_eq!((status, body.error.as_str()), (404, "not_found"))
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    // The status names the epoch of the next block and its set, from state.
    let status = client.node.status().unwrap();
    assert_eq!(status.epoch, 2);
    assert_eq!(status.validators.len(), 4);
    assert!(status.validators.iter().all(|v| v.stake == Some(0)));
    // The candidates are the genesis validators.
    let (candidates, _) = client.list_all(&ListQuery::candidates()).unwrap();
    assert_eq!(candidates.len(), 4);
}

#[test]
fn a_payment_from_verified_outputs_pays_exactly_its_fee_and_shows_in_the_history() {
    let (chain, client) = served_at(1);
    let payer = payer();
    let (unspent, _) = client.unspent_outputs(&payer.address).unwrap();
    assert_eq!(
        unspent.iter().map(|o| o.value).collect::<Vec<_>>(),
        [500_000, 250_000]
    );
    let signer = client.signer(payer.key.clone());
    let payee = testkit::address(40);
    let payment = wallet::pay(
        &unspent,
        payer.address,
        Payee::Balance(payee),
        600_000,
        |payload| signer.fee_for(payload),
    )
    .unwrap();
    let sent = signer.send(payment, None).unwrap();
    assert!(sent.fee > 10, "base 10 plus a byte fee, got {}", sent.fee);
    assert_eq!(finalize_next(&chain), 1);

    let paid = client
        .read(&StateQuery::<Account>::account(&payee))
        .unwrap();
    assert_eq!(paid.value.map(|a| a.balance), Some(600_000));
    // Both outputs spent, the change back as one output: 750 000 − 600 000 − fee.
    let (left, _) = client.unspent_outputs(&payer.address).unwrap();
    assert_eq!(
        left.iter().map(|o| o.value).collect::<Vec<_>>(),
        [150_000 - sent.fee]
    );
    let held = client.read(&StateQuery::held(&payer.address)).unwrap();
    assert_eq!(held.value, Some(150_000 - sent.fee));
    // The fee came out of the inputs, not the balance.
    let account = client.read(&StateQuery::account(&payer.address)).unwrap();
    assert_eq!(account.value.map(|a| a.balance), Some(TREASURY_BALANCE));
    let history = client
        .history(&HistoryQuery::token_history(&payer.address), 0, 100)
        .unwrap();
    assert!(
        history
            .entries
            .iter()
            .any(|entry| entry.id.kind == LedgerKind::Sent && entry.id.tx == sent.id),
        "{:?}",
        history.entries
    );
}

#[test]
fn unfunded_and_underpaying_transactions_are_refused_with_explained_errors() {
    let (_chain, client) = served_at(1);
    let register = |seed: u64, nonce: u64, fee: u64| {
        let actor = Actor::new(seed);
        let body = TxBody {
            chain_id: testkit::chain_id(),
            sender: actor.address,
            nonce,
            valid_until_ms: u64::MAX,
            fee,
            payload: Payload::Registry(RegistryPayload::Register {
                name: testkit::org_name(&format!("Clinic {seed}")),
                kind: medchain_types::OrgKind::Hospital,
            }),
        };
        body.sign(&actor.key).unwrap()
    };
    let refusal = |tx| match client.node.submit(&tx) {
        Err(ClientError::Api { status, body }) => (status, body.error),
        other => panic!("expected a refusal, got {other:?}"),
    };
    // A throwaway key with no balance, even paying the fee, after a gap (no dry run).
    assert_eq!(
        refusal(register(50, 3, 1_000)),
        (402, "cannot_afford".to_string())
    );
    // A funded payer naming less than the minimum, after a gap: the mempool refuses it...
    assert_eq!(
        refusal(register(TREASURY_SEED, 2, 1)),
        (422, "fee_too_low".to_string())
    );
    // ...and as its next transaction too, before the dry run: the cheap checks come first.
    let (status, code) = refusal(register(TREASURY_SEED, 0, 1));
    assert_eq!((status, code.as_str()), (422, "fee_too_low"));
    // A signer told to offer less than the minimum (`--fee 1`) is refused; by default it
    // names the minimum and is accepted.
    let payer = payer();
    let org = |name: &str| {
        Payload::Registry(RegistryPayload::Register {
            name: testkit::org_name(name),
            kind: medchain_types::OrgKind::Hospital,
        })
    };
    let stingy = client.signer(payer.key.clone()).with_fee(1);
    match stingy.send(org("Stingy Clinic"), None) {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 422),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let signer = client.signer(payer.key.clone());
    let payload = org("Fair Clinic");
    let fee = signer.fee_for(&payload);
    assert_eq!(signer.send(payload, None).unwrap().fee, fee);
}
