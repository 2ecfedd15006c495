//! Paying with outputs (S1-utxo): which of an owner's unspent outputs a transfer spends, and
//! the transfer that pays an amount with change back to the owner.
//!
//! Selection is largest first, so a payment spends few inputs (a small transaction, a small
//! fee) and consolidates as it goes; ties are broken by outpoint, so the same wallet state
//! always gives the same transaction.

use crate::{
    Client, ClientError, FinalizedHeader, ListQuery,
    build::{self, BuildError},
};
use medchain_types::{
    Address, Payload, limits,
    token::{Lock, OutPoint, Payee, TxOutput},
};

/// An output its owner can spend alone, as the wallet sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unspent {
    /// Where it is.
    pub outpoint: OutPoint,
    /// Its value.
    pub value: u64,
}

/// The inputs chosen to pay `amount + fee`, and what is left over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The outputs to spend, largest first.
    pub inputs: Vec<OutPoint>,
    /// Their total value.
    pub total: u64,
    /// `total - amount - fee`: to send back to the owner (0 means no change output).
    pub change: u64,
}

/// Why a payment cannot be made from the outputs at hand.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WalletError {
    /// The outputs do not add up to the amount and the fee.
    #[error(
        "the spendable outputs hold {available} tokens; paying {needed} (amount and fee) needs more"
    )]
    InsufficientFunds {
        /// What the outputs hold together.
        available: u64,
        /// What the payment needs.
        needed: u64,
    },
    /// Paying needs more inputs than one transfer may spend.
    #[error(
        "paying {needed} needs more than {max} outputs; consolidate first (send your largest outputs to yourself)",
        max = limits::MAX_TRANSFER_INPUTS
    )]
    TooManyInputs {
        /// What the payment needs.
        needed: u64,
    },
    /// The amount and the fee together overflow.
    #[error("the amount and the fee add up to more than any supply")]
    Overflow,
    /// The fee kept changing with the inputs it pays for (it cannot: one more input adds a
    /// bounded number of bytes, and the loop stops at the most inputs a transfer may spend).
    #[error("could not settle on a fee for this payment")]
    FeeUnsettled,
    /// The transfer itself is malformed (a zero amount, say).
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl Client {
    /// `owner`'s outputs it can spend alone in the next block — locked to its key only, and
    /// with any lock time reached by the next height or by the last block's time — verified
    /// at one finalized header, which is returned too. Outputs shared with other keys (k-of-m)
    /// or still time-locked are left out.
    pub fn unspent_outputs(
        &self,
        owner: &Address,
    ) -> Result<(Vec<Unspent>, FinalizedHeader), ClientError> {
        let (listed, at) = self.list_all(&ListQuery::owner_outputs(owner))?;
        let next_height = at.header.height.saturating_add(1);
        let unspent = listed
            .into_iter()
            .filter(|entry| entry.value.lock == Lock::Key(*owner))
            .filter(|entry| {
                entry
                    .value
                    .unlock
                    .is_none_or(|unlock| unlock.reached(next_height, at.header.timestamp_ms))
            })
            .map(|entry| Unspent {
                outpoint: entry.id,
                value: entry.value.value,
            })
            .collect();
        Ok((unspent, at))
    }
}

/// The fewest of `unspent`, largest first, that pay `amount + fee`, with the change. The order
/// of `unspent` does not matter.
pub fn select_inputs(unspent: &[Unspent], amount: u64, fee: u64) -> Result<Selection, WalletError> {
    let needed = amount.checked_add(fee).ok_or(WalletError::Overflow)?;
    let mut largest_first = unspent.to_vec();
    largest_first.sort_by(|a, b| b.value.cmp(&a.value).then(a.outpoint.cmp(&b.outpoint)));
    let mut inputs = Vec::new();
    let mut total = 0u64;
    for output in largest_first {
        if total >= needed && !inputs.is_empty() {
            break;
        }
        if inputs.len() == limits::MAX_TRANSFER_INPUTS {
            return Err(WalletError::TooManyInputs { needed });
        }
        inputs.push(output.outpoint);
        total = total
            .checked_add(output.value)
            .ok_or(WalletError::Overflow)?;
    }
    if total < needed {
        return Err(WalletError::InsufficientFunds {
            available: total,
            needed,
        });
    }
    Ok(Selection {
        inputs,
        total,
        change: total - needed,
    })
}

/// A transfer of `amount` to `to` from `owner`'s `unspent` outputs, with change back to the
/// owner's key, whose fee is what `fee_for` says the transfer itself must pay (pass
/// [`crate::Signer::fee_for`]). More inputs or a change output make the transaction larger and
/// the fee higher, so the fee is asked again until the transfer pays exactly what it names.
pub fn pay(
    unspent: &[Unspent],
    owner: Address,
    to: Payee,
    amount: u64,
    fee_for: impl Fn(&Payload) -> u64,
) -> Result<Payload, WalletError> {
    if amount == 0 {
        return Err(BuildError::ZeroAmount.into());
    }
    let mut fee = 0;
    // Each round adds inputs or the change output, never removes them: few rounds suffice.
    for _ in 0..=limits::MAX_TRANSFER_INPUTS + 1 {
        let selection = select_inputs(unspent, amount, fee)?;
        let with_change = |change: u64| {
            let mut outputs = vec![TxOutput {
                value: amount,
                to: to.clone(),
            }];
            if change > 0 {
                outputs.push(TxOutput::to_key(change, owner));
            }
            build::transfer(selection.inputs.clone(), 0, outputs)
        };
        let transfer = with_change(selection.change)?;
        let needed = fee_for(&transfer);
        if needed == fee {
            return Ok(transfer);
        }
        if needed < fee && selection.change > 0 {
            // The change absorbs the difference; a value does not change the size.
            return Ok(with_change(selection.change + (fee - needed))?);
        }
        fee = needed;
    }
    Err(WalletError::FeeUnsettled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::EncodeSize as _;
    use medchain_state::testkit::address;
    use medchain_types::{TokenPayload, TxId};

    fn output(tag: u8, value: u64) -> Unspent {
        Unspent {
            outpoint: OutPoint {
                tx: TxId::of_encoded(&[tag]),
                index: u16::from(tag),
            },
            value,
        }
    }

    #[test]
    fn selection_takes_the_largest_outputs_first_and_returns_the_change() {
        let wallet = [output(1, 5), output(2, 50), output(3, 20), output(4, 20)];
        let selection = select_inputs(&wallet, 60, 2).unwrap();
        assert_eq!(selection.inputs[0], wallet[1].outpoint);
        assert_eq!(selection.inputs.len(), 2);
        assert_eq!((selection.total, selection.change), (70, 8));
        // Equal values are taken in outpoint order, whatever order the wallet lists them in.
        let mut reversed = wallet;
        reversed.reverse();
        assert_eq!(select_inputs(&reversed, 60, 2).unwrap(), selection);
        // Exactly enough: no change.
        assert_eq!(select_inputs(&wallet, 48, 2).unwrap().change, 0);
    }

    #[test]
    fn selection_refuses_what_the_outputs_cannot_pay() {
        let wallet = [output(1, 5), output(2, 50)];
        assert_eq!(
            select_inputs(&wallet, 55, 1).unwrap_err(),
            WalletError::InsufficientFunds {
                available: 55,
                needed: 56
            }
        );
        assert_eq!(
            select_inputs(&[], 1, 0).unwrap_err(),
            WalletError::InsufficientFunds {
                available: 0,
                needed: 1
            }
        );
        assert_eq!(
            select_inputs(&wallet, u64::MAX, 1).unwrap_err(),
            WalletError::Overflow
        );
        let dust: Vec<_> = (0..=limits::MAX_TRANSFER_INPUTS as u8)
            .map(|tag| output(tag, 1))
            .collect();
        assert_eq!(
            select_inputs(&dust, limits::MAX_TRANSFER_INPUTS as u64 + 1, 0).unwrap_err(),
            WalletError::TooManyInputs {
                needed: limits::MAX_TRANSFER_INPUTS as u64 + 1
            }
        );
    }

    #[test]
    fn a_payment_spends_exactly_the_amount_the_change_and_the_fee_its_size_calls_for() {
        let wallet = [output(1, 40), output(2, 30), output(3, 1)];
        let per_byte = |payload: &Payload| payload.encode_size() as u64 / 10;
        let payee = Payee::Balance(address(9));
        let payment = pay(&wallet, address(1), payee.clone(), 50, per_byte).unwrap();
        let Payload::Token(TokenPayload::Transfer {
            inputs, outputs, ..
        }) = &payment
        else {
            panic!("not a transfer: {payment:?}");
        };
        let spent: u64 = wallet
            .iter()
            .filter(|o| inputs.contains(&o.outpoint))
            .map(|o| o.value)
            .sum();
        let created: u64 = outputs.iter().map(|o| o.value).sum();
        assert_eq!(
            spent - created,
            per_byte(&payment),
            "surplus must equal fee"
        );
        assert_eq!(
            outputs[0],
            TxOutput {
                value: 50,
                to: payee
            }
        );
        assert_eq!(
            outputs[1],
            TxOutput::to_key(spent - 50 - per_byte(&payment), address(1))
        );
        // A fee that leaves nothing for the amount is refused with what it needed.
        let greedy = |_: &Payload| 100;
        assert!(matches!(
            pay(&wallet, address(1), Payee::Balance(address(9)), 50, greedy),
            Err(WalletError::InsufficientFunds { needed: 150, .. })
        ));
        assert!(matches!(
            pay(&wallet, address(1), Payee::Balance(address(9)), 0, per_byte),
            Err(WalletError::Build(BuildError::ZeroAmount))
        ));
    }
}
