//! Signing and sending transactions: verified nonce → fee → sign → submit → (optionally) wait
//! for a verified inclusion in a finalized block.
//!
//! Every transaction names its fee (issue 11). By default it is the least the chain accepts:
//! the trusted genesis document's fee schedule applied to the transaction's encoded size (the
//! fee is a fixed-size field, so naming it does not change the size). A user may offer more
//! ([`Signer::with_fee`]) to be selected ahead of cheaper transactions.

use crate::{Client, ClientError, Confirmed, WaitPolicy, keys::address_of};
use commonware_codec::{EncodeSize as _, FixedSize as _};
use medchain_types::{Address, Payload, PrivateKey, Signature, Transaction, TxBody, TxId};

/// How long after signing a transaction may still execute (by block time). Long enough for a
/// busy chain and a slow client, short enough that a forgotten transaction is dead soon.
pub const TX_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// What sending a transaction produced.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The transaction id (also the record id of a release and the consent id of a grant).
    pub id: TxId,
    /// The nonce it carried.
    pub nonce: u64,
    /// The fee it named (paid from the balance, or by a transfer's inputs).
    pub fee: u64,
    /// Its verified inclusion, when the caller waited for finality.
    pub confirmed: Option<Confirmed>,
}

/// Signs and sends transactions as one account.
pub struct Signer<'c> {
    client: &'c Client,
    key: PrivateKey,
    address: Address,
    /// The fee to name instead of the schedule's minimum.
    fee: Option<u64>,
}

impl<'c> Signer<'c> {
    /// A signer for `key`'s account.
    pub fn new(client: &'c Client, key: PrivateKey) -> Self {
        let address = address_of(&key);
        Self {
            client,
            key,
            address,
            fee: None,
        }
    }

    /// The same signer naming `fee` on every transaction instead of the least the fee schedule
    /// asks (`--fee`). Less than that minimum is refused by the chain.
    pub fn with_fee(mut self, fee: u64) -> Self {
        self.fee = Some(fee);
        self
    }

    /// The fee a transaction carrying `payload` names when this signer signs it: the override,
    /// or the genesis fee schedule's minimum for its encoded size. A transfer must spend
    /// exactly this much more than it creates, so build it with this fee (and with its
    /// cosignatures in place, as they count towards the size).
    pub fn fee_for(&self, payload: &Payload) -> u64 {
        self.fee
            .unwrap_or_else(|| self.minimum_fee(&self.body(payload.clone(), 0, 0)))
    }

    /// The least fee the chain accepts for `body` once signed.
    fn minimum_fee(&self, body: &TxBody) -> u64 {
        self.client
            .light
            .genesis()
            .fee_schedule()
            .min_fee_for(&body.payload, body.encode_size() + Signature::SIZE)
    }

    fn body(&self, payload: Payload, nonce: u64, fee: u64) -> TxBody {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
        TxBody {
            chain_id: self.client.light.chain_id().clone(),
            sender: self.address,
            nonce,
            valid_until_ms: now_ms.saturating_add(TX_LIFETIME.as_millis() as u64),
            fee,
            payload,
        }
    }

    /// The account's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The signing key (to make embedded signatures such as attestations and endorsements).
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Signs `payload` with `nonce` for the light client's chain (the chain id comes from the
    /// trusted genesis, never from the node), naming the fee [`Signer::fee_for`] gives, valid
    /// for [`TX_LIFETIME`] of block time from now by this machine's clock: a signed
    /// transaction that is lost or forgotten cannot be replayed into the chain later.
    pub fn sign(&self, payload: Payload, nonce: u64) -> Result<Transaction, ClientError> {
        let mut body = self.body(payload, nonce, 0);
        body.fee = self.fee.unwrap_or_else(|| self.minimum_fee(&body));
        Ok(body.sign(&self.key)?)
    }

    /// Signs `payload` with the account's next nonce (read from verified state), submits it,
    /// and, given a policy, waits until it is in a finalized block.
    pub fn send(&self, payload: Payload, wait: Option<&WaitPolicy>) -> Result<Sent, ClientError> {
        let nonce = self.client.next_nonce(&self.address)?;
        let tx = self.sign(payload, nonce)?;
        let fee = tx.body.fee;
        let id = self.client.node.submit(&tx)?;
        let confirmed = wait
            .map(|policy| self.client.wait_finalized(&id, policy))
            .transpose()?;
        Ok(Sent {
            id,
            nonce,
            fee,
            confirmed,
        })
    }
}
