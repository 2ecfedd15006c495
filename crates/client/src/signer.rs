//! Signing and sending transactions: verified nonce → sign → submit → (optionally) wait for a
//! verified inclusion in a finalized block.

use crate::{Client, ClientError, Confirmed, WaitPolicy, keys::address_of};
use medchain_types::{Address, Payload, PrivateKey, Transaction, TxBody, TxId};

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
    /// Its verified inclusion, when the caller waited for finality.
    pub confirmed: Option<Confirmed>,
}

/// Signs and sends transactions as one account.
pub struct Signer<'c> {
    client: &'c Client,
    key: PrivateKey,
    address: Address,
}

impl<'c> Signer<'c> {
    /// A signer for `key`'s account.
    pub fn new(client: &'c Client, key: PrivateKey) -> Self {
        let address = address_of(&key);
        Self {
            client,
            key,
            address,
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
    /// trusted genesis, never from the node), valid for [`TX_LIFETIME`] of block time from now
    /// by this machine's clock: a signed transaction that is lost or forgotten cannot be
    /// replayed into the chain later.
    pub fn sign(&self, payload: Payload, nonce: u64) -> Result<Transaction, ClientError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
        let body = TxBody {
            chain_id: self.client.light.chain_id().clone(),
            sender: self.address,
            nonce,
            valid_until_ms: now_ms.saturating_add(TX_LIFETIME.as_millis() as u64),
            fee: 0,
            payload,
        };
        Ok(body.sign(&self.key)?)
    }

    /// Signs `payload` with the account's next nonce (read from verified state), submits it,
    /// and, given a policy, waits until it is in a finalized block.
    pub fn send(&self, payload: Payload, wait: Option<&WaitPolicy>) -> Result<Sent, ClientError> {
        let nonce = self.client.next_nonce(&self.address)?;
        let tx = self.sign(payload, nonce)?;
        let id = self.client.node.submit(&tx)?;
        let confirmed = wait
            .map(|policy| self.client.wait_finalized(&id, policy))
            .transpose()?;
        Ok(Sent {
            id,
            nonce,
            confirmed,
        })
    }
}
