//! Where the chain is, as far as a client can tell: the newest block a node can prove final,
//! how far an answer lags behind it, and whether a node runs the genesis's chain at all.
//!
//! A light client cannot know that it sees the newest state: a node may answer with an
//! older finalized block (it cannot forge a newer one). Comparing an answer's height with the
//! newest certified block of *another* validator bounds how stale it can be.

use crate::{Client, ClientError, FinalizedHeader, VerifiedBlock};

impl Client {
    /// The newest block this client's node holds a finalization certificate for, verified
    /// (`GET /v1/blocks/latest`): the chain has reached at least this height.
    pub fn newest_certified(&self) -> Result<VerifiedBlock, ClientError> {
        self.verifying(|| Ok(self.light.verify_block(&self.node.latest_block()?)?))
    }

    /// Checks that the node runs the chain of this client's genesis document (same chain id
    /// and the same block 0), naming both chains when it does not. This explains a failed
    /// verification; it proves nothing by itself (the node's block 0 carries no certificate).
    pub fn check_chain(&self) -> Result<(), ClientError> {
        let status = self.node.status()?;
        let block_zero = self.node.block(0)?;
        let genesis = self.light.genesis();
        let same_block_zero = self.light.verify_header(&block_zero.header, None).is_ok();
        if &status.chain_id == self.light.chain_id() && same_block_zero {
            return Ok(());
        }
        Err(ClientError::OtherChain {
            node: self.node.url().to_string(),
            theirs: format!(
                "chain {} with genesis digest {}",
                status.chain_id, block_zero.header.parent
            ),
            ours: format!(
                "chain {} with genesis digest {}",
                genesis.chain_id,
                hex::encode(genesis.digest())
            ),
        })
    }
}

/// How far an answer is behind the newest finalized block known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lag {
    /// Blocks between the answer and the newest block (0 when the answer is as new or newer).
    pub blocks: u64,
    /// Milliseconds between their timestamps (0 likewise).
    pub millis: u64,
}

impl Lag {
    /// How far `answer` lags behind `newest`.
    pub fn between(answer: &FinalizedHeader, newest: &FinalizedHeader) -> Self {
        Self {
            blocks: newest.header.height.saturating_sub(answer.header.height),
            millis: newest
                .header
                .timestamp_ms
                .saturating_sub(answer.header.timestamp_ms),
        }
    }
}
