//! A node plus a light client: every read is verified before it is returned.

use crate::{
    ClientError, FinalizedHeader, LightClient, ListError, NodeClient, Signer, StateQuery, Verified,
    VerifiedBlock, VerifyError,
};
use medchain_api::{BlockView, DroppedView, TxState, TxStatusView};
use medchain_state::{
    StateValue,
    values::{AccessLogEntry, Account},
};
use medchain_types::{
    AccessDecision, Address, Event, PrivateKey, Receipt, RecordId, TxId,
    emergency::{BlsVouchingKey, vouching_key_from},
};
use serde::{Deserialize, Serialize};
use std::{
    thread,
    time::{Duration, Instant},
};

/// How many of a patient's newest access-log entries are searched for a decision.
const DECISION_LOOKBACK: u64 = 256;

/// How long and how often to poll for a transaction's finality.
#[derive(Clone, Copy, Debug)]
pub struct WaitPolicy {
    /// Give up after this long.
    pub timeout: Duration,
    /// First pause between polls; doubles up to `max_interval`.
    pub first_interval: Duration,
    /// Longest pause between polls.
    pub max_interval: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            first_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(1),
        }
    }
}

/// A transaction proven to be in a finalized block, with its verified receipt.
#[derive(Clone, Debug)]
pub struct Confirmed {
    /// What executing it did. Verified: the transaction is at `receipt.index` of the finalized
    /// block `receipt.height`, and the receipt (its events) is the leaf at that index of the
    /// block header's `receipts_root` ([`LightClient::verify_receipt`]).
    pub receipt: Receipt,
    /// The finalized block that holds it.
    pub block: VerifiedBlock,
    /// The node's answers this was verified from, to save and verify again offline.
    pub evidence: TxEvidence,
}

/// The node's answers that prove a transaction final: its status (with the receipt) and the
/// finalized block the receipt names. They verify anywhere, offline included, with
/// [`TxEvidence::verify`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TxEvidence {
    /// `GET /v1/transactions/{id}`.
    pub status: TxStatusView,
    /// `GET /v1/blocks/{receipt.height}`.
    pub block: BlockView,
}

impl TxEvidence {
    /// The one check that a transaction is final, online and offline alike: the block is
    /// finalized (certificate against the genesis validators), it is the height the receipt
    /// names, it holds the transaction at the receipt's position, and the receipt is the leaf
    /// at that position of the header's `receipts_root` ([`LightClient::verify_receipt`]).
    pub fn verify(self, light: &LightClient) -> Result<Confirmed, VerifyError> {
        let id = self.status.id;
        let receipt = match (&self.status.status, &self.status.receipt) {
            (TxState::Finalized, Some(receipt)) => receipt.clone(),
            _ => return Err(VerifyError::NotFinalized { tx: id }),
        };
        let block = light.verify_block(&self.block)?;
        if block.at.header.height != receipt.height {
            return Err(VerifyError::HeightMismatch {
                proof: receipt.height,
                header: block.at.header.height,
            });
        }
        light.verify_receipt(&id, &block, &receipt, self.status.receipt_proof.as_deref())?;
        Ok(Confirmed {
            receipt,
            block,
            evidence: self,
        })
    }
}

impl Confirmed {
    /// The access decision, for an access request (S1-rights).
    pub fn access_decision(&self) -> Option<&AccessDecision> {
        self.receipt.events.iter().find_map(|event| match event {
            Event::AccessDecided { decision, .. } => Some(decision),
            _ => None,
        })
    }
}

/// Where a transaction is, as far as one node knows.
#[derive(Clone, Debug)]
pub enum TxOutcome {
    /// In the node's mempool, executable.
    Pending,
    /// In the node's mempool, waiting for the sender's earlier nonce `waiting_for`.
    Queued {
        /// The sender's first missing nonce.
        waiting_for: Option<u64>,
    },
    /// Dropped from the node's mempool without a block: it will never execute. The reason is
    /// the node's word (a node can always withhold a transaction; it cannot fake finality).
    Dropped(DroppedView),
    /// Not known to the node (not submitted there, not gossiped yet, or dropped long ago).
    Unknown,
    /// In a finalized block (verified; boxed, it is large).
    Finalized(Box<Confirmed>),
}

/// A node's API with verification against a genesis document.
#[derive(Clone, Debug)]
pub struct Client {
    /// The node.
    pub node: NodeClient,
    /// The verifier.
    pub light: LightClient,
}

impl Client {
    /// Talks to `node`, trusting only what `light` verifies.
    pub fn new(node: NodeClient, light: LightClient) -> Self {
        Self { node, light }
    }

    /// Learns the validator set of every epoch up to `epoch` (S1-dpos) from the node's epoch
    /// transitions, one verified transition per epoch after the newest this client knows. A
    /// node that cannot prove a transition answers 404: ask another node.
    pub fn learn_epochs(&self, epoch: u64) -> Result<(), ClientError> {
        for ending in self.light.known_epoch()..epoch {
            let view = self.node.epoch_transition(ending)?;
            self.light.accept_transition(&view)?;
        }
        Ok(())
    }

    /// Runs `attempt` (a fetch and its verification); if the answer is from an epoch whose set
    /// this client does not know yet, learns the epochs up to it and tries once more.
    pub(crate) fn verifying<T>(
        &self,
        attempt: impl Fn() -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        match attempt() {
            Err(ClientError::Verify(VerifyError::UnknownEpoch { epoch })) => {
                self.learn_epochs(epoch)?;
                attempt()
            }
            outcome => outcome,
        }
    }

    /// Reads a state value and verifies it against a finalized header (at the query's height,
    /// if it is pinned to one).
    pub fn read<V: StateValue>(&self, query: &StateQuery<V>) -> Result<Verified<V>, ClientError> {
        self.verifying(|| {
            let view = self.node.proven(query)?;
            Ok(query.verify(&self.light, &view)?)
        })
    }

    /// The nonce `address`'s next transaction must carry, from verified state.
    pub fn next_nonce(&self, address: &Address) -> Result<u64, ClientError> {
        let account = self.read(&StateQuery::<Account>::account(address))?;
        Ok(account.value.map_or(0, |account| account.nonce))
    }

    /// A finalized block, verified.
    pub fn block(&self, height: u64) -> Result<VerifiedBlock, ClientError> {
        let block = self.verifying(|| Ok(self.light.verify_block(&self.node.block(height)?)?))?;
        if block.at.header.height != height {
            return Err(VerifyError::HeightMismatch {
                proof: height,
                header: block.at.header.height,
            }
            .into());
        }
        Ok(block)
    }

    /// `patient`'s whole access log (S1-rights), each entry proven, and the finalized header
    /// at which the entry after the last is proven absent, so that none is left out. The
    /// node's count of entries is only a hint where the log ends; a log proven shorter than
    /// the node claims is refused as a failed verification.
    pub fn access_log(
        &self,
        patient: &Address,
    ) -> Result<(Vec<AccessLogEntry>, FinalizedHeader), ClientError> {
        let claimed = self.node.access_log(patient, 0, 1)?.total;
        let mut entries = Vec::new();
        loop {
            let seq = entries.len() as u64;
            let verified = self.read(&StateQuery::access_log_entry(patient, seq))?;
            match verified.value {
                Some(entry) => entries.push(entry),
                None if seq >= claimed => return Ok((entries, verified.at)),
                None => {
                    return Err(VerifyError::List(ListError::ShorterThanClaimed {
                        total: claimed,
                    })
                    .into());
                }
            }
        }
    }

    /// The chain's decision on access request `tx` for `record`, read from the patient's
    /// access log (S1-rights) and verified against a finalized header. Unlike a receipt's
    /// events (the node's word), a node cannot forge this; it can only withhold it, which is
    /// reported as [`ClientError::DecisionNotProven`].
    pub fn proven_access_decision(
        &self,
        tx: &TxId,
        record: &RecordId,
    ) -> Result<Verified<AccessLogEntry>, ClientError> {
        let not_proven = || ClientError::DecisionNotProven { tx: *tx };
        let patient = self
            .read(&StateQuery::record(record))?
            .value
            .ok_or_else(not_proven)?
            .patient;
        // The log's length is only a hint where to look: every entry read is verified.
        let total = self.node.access_log(&patient, 0, 1)?.total;
        for seq in (total.saturating_sub(DECISION_LOOKBACK)..total).rev() {
            let entry = self.read(&StateQuery::access_log_entry(&patient, seq))?;
            if entry.value.as_ref().is_some_and(|logged| logged.tx == *tx) {
                return Ok(entry);
            }
        }
        Err(not_proven())
    }

    /// A signer acting with `key` through this client.
    pub fn signer(&self, key: PrivateKey) -> Signer<'_> {
        Signer::new(self, key)
    }

    /// The BLS vouching key derived from `chain_key` (a doctor's, a hospital's, a patient's
    /// entry key), registered on chain with its proof of possession first — and waited final —
    /// unless the chain already holds exactly it (verified read).
    pub fn ensure_vouching_key(
        &self,
        chain_key: &PrivateKey,
        wait: &WaitPolicy,
    ) -> Result<BlsVouchingKey, ClientError> {
        let vouching = vouching_key_from(chain_key);
        let address = crate::keys::address_of(chain_key);
        let registered = self.read(&StateQuery::vouching_key(&address))?.value;
        if registered.is_none_or(|stored| stored.key != vouching.public()) {
            let payload = crate::build::set_vouching_key(self.light.chain_id(), chain_key);
            self.signer(chain_key.clone()).send(payload, Some(wait))?;
        }
        Ok(vouching)
    }

    /// Where a transaction is; a finalized one comes with its verified inclusion and receipt.
    pub fn transaction(&self, id: &TxId) -> Result<TxOutcome, ClientError> {
        let status = self.node.tx_status(id)?;
        Ok(match status.status {
            TxState::Pending => TxOutcome::Pending,
            TxState::Queued => TxOutcome::Queued {
                waiting_for: status.waiting_for,
            },
            TxState::Dropped => match status.dropped {
                Some(reason) => TxOutcome::Dropped(reason),
                None => TxOutcome::Unknown,
            },
            TxState::Unknown => TxOutcome::Unknown,
            TxState::Finalized => TxOutcome::Finalized(Box::new(self.confirm(id, status)?)),
        })
    }

    /// Polls until `id` is finalized (with backoff) and verifies its inclusion and receipt.
    /// Returns [`ClientError::Dropped`] as soon as the node reports the transaction dropped.
    pub fn wait_finalized(&self, id: &TxId, policy: &WaitPolicy) -> Result<Confirmed, ClientError> {
        let start = Instant::now();
        let mut interval = policy.first_interval;
        loop {
            let status = match self.transaction(id)? {
                TxOutcome::Finalized(confirmed) => return Ok(*confirmed),
                TxOutcome::Dropped(reason) => {
                    return Err(ClientError::Dropped { id: *id, reason });
                }
                TxOutcome::Pending => TxState::Pending,
                TxOutcome::Queued { .. } => TxState::Queued,
                TxOutcome::Unknown => TxState::Unknown,
            };
            let waited = start.elapsed();
            if waited >= policy.timeout {
                return Err(ClientError::Timeout {
                    id: *id,
                    waited,
                    status,
                });
            }
            thread::sleep(interval.min(policy.timeout - waited));
            interval = (interval * 2).min(policy.max_interval);
        }
    }

    /// Fetches the block `status`'s receipt names and verifies the pair ([`TxEvidence::verify`]).
    fn confirm(&self, id: &TxId, status: TxStatusView) -> Result<Confirmed, ClientError> {
        let height = status.receipt.as_ref().map_or(0, |receipt| receipt.height);
        let block = self.node.block(height)?;
        let evidence = TxEvidence { status, block };
        let confirmed = self.verifying(|| Ok(evidence.clone().verify(&self.light)?))?;
        if confirmed.receipt.tx != *id {
            return Err(ClientError::WrongId {
                expected: *id,
                got: confirmed.receipt.tx,
            });
        }
        Ok(confirmed)
    }
}
