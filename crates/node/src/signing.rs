//! Transactions the node itself signs (the threshold PKG's dealer log, equivocation reports)
//! pay the chain's minimum fee like any other (S1-tokens).

use commonware_codec::EncodeSize as _;
use medchain_types::{FeeSchedule, PrivateKey, Transaction, TxBody, TxError};

/// Signs `body` with `key`, naming the least fee `fees` accepts for it: `min_fee` of the encoded
/// signed transaction. The fee is a fixed-size field, so its value does not change the size.
pub fn sign_paying_min_fee(
    mut body: TxBody,
    key: &PrivateKey,
    fees: FeeSchedule,
) -> Result<Transaction, TxError> {
    body.fee = 0;
    let size = body.clone().sign(key)?.encode_size();
    body.fee = fees.min_fee(size);
    body.sign(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use medchain_state::testkit;
    use medchain_types::{Address, OrgKind};

    fn body(key: &PrivateKey, fee: u64) -> TxBody {
        TxBody {
            chain_id: testkit::chain_id(),
            sender: Address::from(key.public_key()),
            nonce: 3,
            valid_until_ms: u64::MAX,
            fee,
            payload: testkit::register(&testkit::org_name("Fee Hospital"), OrgKind::Hospital),
        }
    }

    #[test]
    fn the_fee_named_is_the_minimum_for_the_signed_size() {
        let key = testkit::key(7);
        let fees = FeeSchedule {
            base: 10,
            per_byte: 2,
        };
        // Whatever fee the caller left in the body.
        let tx = sign_paying_min_fee(body(&key, 999_999), &key, fees).unwrap();
        assert_eq!(tx.body.fee, fees.min_fee(tx.encode_size()));
        assert!(tx.body.fee > fees.base);
        let free = sign_paying_min_fee(body(&key, 5), &key, FeeSchedule::FREE).unwrap();
        assert_eq!(free.body.fee, 0);
    }

    #[test]
    fn only_the_sender_can_sign() {
        let (key, other) = (testkit::key(7), testkit::key(8));
        assert!(sign_paying_min_fee(body(&key, 0), &other, FeeSchedule::FREE).is_err());
    }
}
