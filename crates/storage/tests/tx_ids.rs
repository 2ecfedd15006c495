//! `Store::tx_ids_between`: the transaction index scanned as a range of ids, for resolving the
//! first hex digits of an id.

mod common;

use common::Chain;
use medchain_state::testkit::{Actor, org_name, register};
use medchain_storage::Store;
use medchain_types::{OrgKind, TxId};

#[test]
fn ids_between_two_bounds_come_in_order_inclusive_and_limited() {
    let mut chain = Chain::new(Store::in_memory().unwrap());
    let txs: Vec<_> = (0..6)
        .map(|i| {
            let founder = Actor::new(10 + i);
            founder.sign(
                0,
                register(&org_name(&format!("Org {i}")), OrgKind::Hospital),
            )
        })
        .collect();
    chain.commit(&txs[..3]);
    chain.commit(&txs[3..]);
    let mut ids: Vec<TxId> = txs.iter().map(|tx| tx.id()).collect();
    ids.sort();
    let bytes = |id: &TxId| -> [u8; 32] { id.as_bytes().try_into().unwrap() };

    let everything = chain
        .store
        .tx_ids_between(&[0; 32], &[0xff; 32], 100)
        .unwrap();
    assert_eq!(everything, ids);
    // Both bounds are included; the limit keeps the lowest.
    let middle = chain
        .store
        .tx_ids_between(&bytes(&ids[1]), &bytes(&ids[4]), 100)
        .unwrap();
    assert_eq!(middle, ids[1..=4]);
    let limited = chain
        .store
        .tx_ids_between(&bytes(&ids[1]), &bytes(&ids[4]), 2)
        .unwrap();
    assert_eq!(limited, ids[1..=2]);
    // One id exactly, and an empty range between two neighbours.
    let one = chain
        .store
        .tx_ids_between(&bytes(&ids[2]), &bytes(&ids[2]), 100)
        .unwrap();
    assert_eq!(one, [ids[2]]);
    // A range no id falls in, and bounds given the wrong way round, are empty.
    let below_all = chain.store.tx_ids_between(&[0; 32], &[0; 32], 100).unwrap();
    assert!(below_all.is_empty());
    let reversed = chain
        .store
        .tx_ids_between(&bytes(&ids[4]), &bytes(&ids[1]), 100)
        .unwrap();
    assert!(reversed.is_empty());
}
