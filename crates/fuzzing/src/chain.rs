//! The chain's binary wire types (`medchain-types`): what the API's `tx` hex, gossip and the
//! consensus block broadcast decode.

use crate::json_form_agrees;
use commonware_codec::{Copying, DecodeExt as _, Encode as _, EncodeSize as _};
use medchain_types::{Block, Payload, Transaction, TxId, limits, tx_root, verify_batch};

/// A signed transaction, as `POST /v1/transactions` and gossip decode it
/// ([`Transaction::from_bytes`]): canonical, its id the hash of its bytes, signature checks
/// that agree one by one and batched, and a signature bound to the nonce it signed.
pub fn transaction(data: &[u8]) {
    let Ok(tx) = Transaction::from_bytes(data) else {
        return;
    };
    assert_eq!(
        tx.encode().as_ref(),
        data,
        "transaction encoding is not canonical"
    );
    assert_eq!(tx.id(), TxId::of_encoded(data));
    let chain = &tx.body.chain_id;
    let alone = tx.verify(chain);
    let batched = verify_batch(
        &mut commonware_utils::test_rng(),
        chain,
        std::slice::from_ref(&tx),
    );
    assert_eq!(
        alone.is_ok(),
        batched[0].is_ok(),
        "batch and single verification disagree: {alone:?} vs {:?}",
        batched[0]
    );
    if let Ok(verified) = alone {
        assert_eq!(verified.id(), tx.id());
        let mut replayed = tx.clone();
        replayed.body.nonce ^= 1;
        assert!(
            replayed.verify(chain).is_err(),
            "a signature verified for another nonce"
        );
    }
    json_form_agrees(&tx.body.payload);
}

/// A payload alone: canonical binary form, and the same payload in the API's JSON form.
pub fn payload(data: &[u8]) {
    let Ok(payload) = Payload::decode(Copying(data)) else {
        return;
    };
    assert_eq!(
        payload.encode().as_ref(),
        data,
        "payload encoding is not canonical"
    );
    json_form_agrees(&payload);
}

/// A block, as consensus broadcast and backfill decode it: canonical, its digest the header's,
/// its body the one `tx_root` commits to, its MED checkpoint the one `med_checkpoint` commits
/// to and within its size limit (S3-supervise), and every transaction in it one that
/// [`Transaction::from_bytes`] would also accept on its own (no block smuggles in a
/// transaction the mempool's size limit refuses).
pub fn block(data: &[u8]) {
    let Ok(block) = Block::decode(Copying(data)) else {
        return;
    };
    assert_eq!(
        block.encode().as_ref(),
        data,
        "block encoding is not canonical"
    );
    assert_eq!(block.digest(), block.header().digest());
    assert_eq!(tx_root(block.tx_ids()), block.header().tx_root);
    assert_eq!(block.txs().len(), block.tx_ids().len());
    assert_eq!(block.checkpoint().root(), block.header().med_checkpoint);
    assert!(block.checkpoint().encode_size() <= limits::MAX_CHECKPOINT_BYTES);
    for (tx, id) in block.txs().iter().zip(block.tx_ids()) {
        assert_eq!(tx.id(), *id);
        let alone = Transaction::from_bytes(&tx.encode())
            .unwrap_or_else(|e| panic!("a block carries a transaction refused alone: {e}"));
        assert_eq!(&alone, tx);
    }
}
