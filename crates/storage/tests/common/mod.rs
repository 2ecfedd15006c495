//! A minimal chain driver over a `Store`: builds blocks (headers carry the executed state
//! root, as a proposer's would), executes them on a snapshot, and commits them.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use medchain_state::{
    BlockEnv, BlockExecutor, ExecutedBlock, Overlay, StateRead, StateReadExt, TreeReader, genesis,
    keys,
    testkit::{Actor, BLOCK_INTERVAL_MS, HospitalDesk, REGULATOR_SEED, genesis_document},
};
use medchain_storage::{CommitBatch, CommitOutcome, Store};
use medchain_types::{Block, Hash32, Header, OrgName, Payload, VerifiedTransaction};
use std::sync::Arc;

pub struct Chain {
    pub store: Store,
    pub last: Block,
    pub regulator: Actor,
}

/// Opaque bytes standing in for a finalization certificate.
pub fn certificate(block: &Block) -> Vec<u8> {
    [
        b"certificate of ".as_slice(),
        block.header().digest().as_ref(),
    ]
    .concat()
}

/// The proposer of every block these tests build (the genesis validator).
pub fn proposer() -> medchain_types::Address {
    Actor::new(1_000).address
}

pub fn header(height: u64, parent: Hash32, timestamp_ms: u64, state_root: Hash32) -> Header {
    Header {
        height,
        parent,
        timestamp_ms,
        proposer: proposer(),
        tx_root: Hash32::from([0; 32]),
        state_root,
        receipts_root: Hash32::from([0; 32]),
        revocation_root: Hash32::from([0; 32]),
        med_checkpoint: Hash32::from([0; 32]),
    }
}

/// Block 0 of the test genesis, and its executed state.
pub fn genesis_block() -> (Block, ExecutedBlock) {
    let document = genesis_document();
    let executed = genesis(&document).unwrap();
    let block = Block::new(
        header(
            0,
            document.digest(),
            document.genesis_time_ms,
            executed.state_root,
        ),
        vec![],
    );
    (block, executed)
}

/// Executes `txs` (all must succeed) as the child of `parent` at `env` on `reader`.
fn execute<R: StateRead + TreeReader>(
    reader: &R,
    parent: &Block,
    env: BlockEnv,
    txs: &[VerifiedTransaction],
) -> (Block, ExecutedBlock) {
    let mut executor = BlockExecutor::new(reader, env).unwrap();
    for tx in txs {
        if let Err(e) = executor.apply(tx) {
            panic!("{} failed: {e}", tx.body().payload.kind());
        }
    }
    let executed = executor.finish(proposer()).unwrap();
    let header = header(
        env.height,
        parent.header().digest(),
        env.timestamp_ms,
        executed.state_root,
    );
    let block = Block::new(header, txs.iter().map(|tx| tx.tx().clone()).collect());
    (block, executed)
}

impl Chain {
    /// Commits genesis into an empty store.
    pub fn new(store: Store) -> Self {
        let (block, executed) = genesis_block();
        let outcome = store
            .commit(CommitBatch {
                block: &block,
                executed: &executed,
                finalization: None,
            })
            .unwrap();
        assert_eq!(outcome, CommitOutcome::Committed);
        Self::resume(store)
    }

    /// Picks up a store that already has blocks.
    pub fn resume(store: Store) -> Self {
        let last = store.last_applied().unwrap().expect("genesis committed");
        let block = store.block_by_height(last.height).unwrap().unwrap();
        Self {
            store,
            last: block,
            regulator: Actor::new(REGULATOR_SEED),
        }
    }

    pub fn height(&self) -> u64 {
        self.last.header().height
    }

    pub fn next_env(&self) -> BlockEnv {
        BlockEnv {
            height: self.height() + 1,
            timestamp_ms: self.last.header().timestamp_ms + BLOCK_INTERVAL_MS,
        }
    }

    pub fn nonce(&self, actor: &Actor) -> u64 {
        let snapshot = self.store.snapshot().unwrap();
        snapshot
            .value(&keys::account(&actor.address))
            .unwrap()
            .map_or(0, |a| a.nonce)
    }

    pub fn tx(&self, actor: &Actor, payload: Payload) -> VerifiedTransaction {
        actor.sign(self.nonce(actor), payload)
    }

    /// Executes `txs` (all must succeed) as the next block, at `env`, without committing.
    pub fn build_at(&self, env: BlockEnv, txs: &[VerifiedTransaction]) -> (Block, ExecutedBlock) {
        let snapshot = self.store.snapshot().unwrap();
        execute(&snapshot, &self.last, env, txs)
    }

    /// Executes each transaction list as the next heights in turn, each block on an overlay
    /// of the ones before it (as a node executes blocks not yet finalized), without committing.
    pub fn build_ahead(&self, blocks: &[Vec<VerifiedTransaction>]) -> Vec<(Block, ExecutedBlock)> {
        let mut ahead: Vec<(Block, ExecutedBlock)> = Vec::with_capacity(blocks.len());
        for txs in blocks {
            let parent = ahead.last().map_or(&self.last, |(block, _)| block);
            let env = BlockEnv {
                height: parent.header().height + 1,
                timestamp_ms: parent.header().timestamp_ms + BLOCK_INTERVAL_MS,
            };
            let layers = ahead
                .iter()
                .map(|(_, executed)| Arc::new(executed.clone()))
                .collect();
            let overlay = Overlay::new(self.store.snapshot().unwrap(), layers).unwrap();
            let next = execute(&overlay, parent, env, txs);
            ahead.push(next);
        }
        ahead
    }

    /// Commits blocks built by [`Self::build_ahead`], with certificates: one `commit` for a
    /// single block, one `commit_group` for several.
    pub fn commit_built(&mut self, ahead: &[(Block, ExecutedBlock)]) {
        let certificates: Vec<Vec<u8>> =
            ahead.iter().map(|(block, _)| certificate(block)).collect();
        let batches: Vec<CommitBatch<'_>> = ahead
            .iter()
            .zip(&certificates)
            .map(|((block, executed), certificate)| CommitBatch {
                block,
                executed,
                finalization: Some(certificate),
            })
            .collect();
        let outcomes = match batches.as_slice() {
            [batch] => vec![self.store.commit(*batch).unwrap()],
            _ => self.store.commit_group(&batches).unwrap(),
        };
        assert_eq!(outcomes, vec![CommitOutcome::Committed; ahead.len()]);
        if let Some((block, _)) = ahead.last() {
            self.last = block.clone();
        }
    }

    pub fn build(&self, txs: &[VerifiedTransaction]) -> (Block, ExecutedBlock) {
        self.build_at(self.next_env(), txs)
    }

    /// Builds and commits the next block with a certificate.
    pub fn commit(&mut self, txs: &[VerifiedTransaction]) -> (Block, ExecutedBlock) {
        let (block, executed) = self.build(txs);
        let certificate = certificate(&block);
        let outcome = self
            .store
            .commit(CommitBatch {
                block: &block,
                executed: &executed,
                finalization: Some(&certificate),
            })
            .unwrap();
        assert_eq!(outcome, CommitOutcome::Committed);
        self.last = block.clone();
        (block, executed)
    }

    /// Runs one transaction from `actor` (committed nonce) in its own committed block.
    pub fn run(&mut self, actor: &Actor, payload: Payload) -> (Block, ExecutedBlock) {
        let tx = self.tx(actor, payload);
        self.commit(&[tx])
    }

    /// Makes `doctor`, a member of the audited hospital `org`, a licensed doctor (releasing
    /// needs one): the org's test desk opens and licenses it, one block per step.
    pub fn license(&mut self, org: &OrgName, doctor: &Actor) {
        for (actor, payload) in HospitalDesk::of(org).steps(org, doctor) {
            self.run(&actor, payload);
        }
    }
}
