//! Block execution: [`BlockExecutor`] applies verified transactions one at a time (each
//! atomically), then [`BlockExecutor::finish`] updates the authenticated tree once for the
//! whole block and returns an [`ExecutedBlock`]: the write set, the tree delta and the new
//! state root, ready to commit or to stack in an [`crate::Overlay`].
//!
//! A block's MED checkpoint, if any, is applied first ([`BlockExecutor::apply_checkpoint`]).
//!
//! Execution is deterministic: it reads nothing but the state, the checkpoint, the transactions and the
//! block's height and timestamp ([`BlockEnv`], from the header the proposer built and the
//! validators checked), so every validator computes the same root.

use crate::{
    ExecError, StateError, StateRead, StateReadExt, access, consent,
    context::{BlockWrites, TxContext},
    emergency, identity, keys, licence,
    med::{self, CheckpointError},
    pkg, records, registry, research, revocation, staking, token, tree,
    values::{BlockInfo, ChainConfig, MedConfig, StateValue, TokenConfig},
};
use jmt::storage::{TreeReader, TreeUpdateBatch};
use medchain_types::{
    Address, Event, Genesis, Hash32, Payload, TxId, VerifiedTransaction, med::Checkpoint,
    receipt_leaf, receipts_root,
};
use std::collections::BTreeMap;

/// The block a transaction executes in (from its header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEnv {
    /// Height; genesis is 0.
    pub height: u64,
    /// Proposer's timestamp, unix milliseconds; never below the parent's.
    pub timestamp_ms: u64,
}

/// The outcome of executing a block: everything a store needs to commit it, and everything a
/// node needs to answer for it before it commits.
#[derive(Clone, Debug)]
pub struct ExecutedBlock {
    /// Height (the tree version written).
    pub height: u64,
    /// Block timestamp, unix milliseconds.
    pub timestamp_ms: u64,
    /// Every state key the block wrote, with its new value (`None` deletes).
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// New tree nodes and values, and the nodes this version made stale (for pruning).
    pub tree_batch: TreeUpdateBatch,
    /// The state root after the block: the header's `state_root`.
    pub state_root: Hash32,
    /// The root over the block's receipts: the header's `receipts_root`.
    pub receipts_root: Hash32,
    /// Each transaction's id and events, in block order.
    pub events: Vec<(TxId, Vec<Event>)>,
    /// The events of the block's MED checkpoint (S3-supervise, [`crate::med`]), applied
    /// before the transactions: a `RecordReleased` per imported tx_mr, a `MedReleaseRefused`
    /// per skipped one. They belong to no transaction, so no receipt carries them; what they
    /// record is in the state (`rec/<htxM>`, `med/header/<hash>`).
    pub checkpoint_events: Vec<Event>,
}

/// Executes one block on top of `reader` (a committed store, or an [`crate::Overlay`]).
pub struct BlockExecutor<'r, R> {
    reader: &'r R,
    env: BlockEnv,
    chain: ChainConfig,
    tokens: Option<TokenConfig>,
    /// The fees of the block's transactions so far (they are at most the supply: each was
    /// paid from existing tokens).
    fees: u64,
    writes: BlockWrites,
    events: Vec<(TxId, Vec<Event>)>,
    checkpoint_events: Vec<Event>,
}

impl<'r, R: StateRead + TreeReader> BlockExecutor<'r, R> {
    /// Starts block `env` on `reader`, which must hold the parent: height `env.height - 1` and a
    /// timestamp not after `env.timestamp_ms`. The chain id and regulator come from the state.
    pub fn new(reader: &'r R, env: BlockEnv) -> Result<Self, StateError> {
        let chain = reader
            .value(&keys::chain_config())?
            .ok_or(StateError::NoGenesis)?;
        let parent = reader
            .value(&keys::block_info())?
            .ok_or(StateError::NoGenesis)?;
        if parent.height.checked_add(1) != Some(env.height) {
            return Err(StateError::HeightMismatch {
                state: parent.height,
                got: env.height,
            });
        }
        if env.timestamp_ms < parent.timestamp_ms {
            return Err(StateError::TimeWentBackwards {
                parent: parent.timestamp_ms,
                got: env.timestamp_ms,
            });
        }
        let tokens = token::config(reader)?;
        Ok(Self {
            reader,
            env,
            chain,
            tokens,
            fees: 0,
            writes: BlockWrites::new(),
            events: Vec::new(),
            checkpoint_events: Vec::new(),
        })
    }

    /// Applies the block's MED checkpoint (S3-supervise, [`crate::med`]), before any
    /// transaction. On success the imported records join the block and the checkpoint's
    /// events are returned (and kept for [`ExecutedBlock::checkpoint_events`]); on error
    /// nothing changes and the block is invalid. An empty checkpoint does nothing.
    pub fn apply_checkpoint(
        &mut self,
        checkpoint: &Checkpoint,
    ) -> Result<Vec<Event>, CheckpointError> {
        if checkpoint.branch.is_empty() {
            return Ok(Vec::new());
        }
        if !self.events.is_empty() || !self.checkpoint_events.is_empty() {
            return Err(CheckpointError::AfterTransactions);
        }
        let events = med::import(
            self.reader,
            &mut self.writes,
            self.env,
            &self.chain,
            checkpoint,
        )?;
        self.checkpoint_events = events.clone();
        Ok(events)
    }

    /// The chain's id and regulator.
    pub fn chain(&self) -> &ChainConfig {
        &self.chain
    }

    /// The block being executed.
    pub fn env(&self) -> BlockEnv {
        self.env
    }

    /// How many transactions succeeded so far.
    pub fn tx_count(&self) -> usize {
        self.events.len()
    }

    /// Executes one transaction. On success its writes join the block and its events are
    /// returned (and kept for [`ExecutedBlock::events`]); on error nothing changes, not even
    /// the sender's nonce, and the transaction must be left out of the block.
    ///
    /// Checked first: the chain id (again; verification already did), the transaction's
    /// deadline against the block's timestamp (so a forgotten signed transaction cannot take
    /// effect later), and the nonce, which must equal the sender's account nonce (so a
    /// transaction runs at most once: replay protection). On a chain with tokens, the fee must
    /// meet the genesis schedule's minimum for the transaction's size. Then the module's rules,
    /// and last the fee is charged to the sender's balance (a transfer pays it from its
    /// surplus instead).
    pub fn apply(&mut self, tx: &VerifiedTransaction) -> Result<Vec<Event>, ExecError> {
        let body = tx.body();
        if body.chain_id != self.chain.chain_id {
            return Err(ExecError::WrongChain {
                expected: self.chain.chain_id.clone(),
                got: body.chain_id.clone(),
            });
        }
        if self.env.timestamp_ms > body.valid_until_ms {
            return Err(ExecError::TxExpired {
                valid_until_ms: body.valid_until_ms,
                block_time_ms: self.env.timestamp_ms,
            });
        }
        let mut ctx = TxContext::new(
            self.reader,
            &self.writes,
            self.env,
            &self.chain,
            self.tokens.as_ref(),
            tx.id(),
            &body.sender,
        );
        let account_key = keys::account(&body.sender);
        let nonce = ctx.value(&account_key)?.map_or(0, |account| account.nonce);
        if body.nonce != nonce {
            return Err(ExecError::BadNonce {
                expected: nonce,
                got: body.nonce,
            });
        }
        let next = nonce.checked_add(1).ok_or(ExecError::NonceExhausted)?;
        if let Some(tokens) = &self.tokens {
            let minimum = token::min_fee(&tokens.fees, tx.tx());
            if body.fee < minimum {
                return Err(ExecError::FeeTooLow {
                    fee: body.fee,
                    minimum,
                });
            }
        }
        let events = match &body.payload {
            Payload::Registry(payload) => registry::execute(&mut ctx, payload)?,
            Payload::Record(payload) => records::execute(&mut ctx, payload)?,
            Payload::Consent(payload) => consent::execute(&mut ctx, payload)?,
            Payload::Access(payload) => access::execute(&mut ctx, payload)?,
            Payload::Identity(payload) => identity::execute(&mut ctx, payload)?,
            Payload::Licence(payload) => licence::execute(&mut ctx, payload)?,
            Payload::Revocation(payload) => revocation::execute(&mut ctx, payload)?,
            Payload::Pkg(payload) => pkg::execute(&mut ctx, payload)?,
            Payload::Emergency(payload) => emergency::execute(&mut ctx, payload)?,
            Payload::Token(payload) if self.tokens.is_some() => {
                token::execute(&mut ctx, payload, body.fee)?
            }
            Payload::Stake(payload) if self.tokens.is_some() => {
                staking::execute(&mut ctx, payload)?
            }
            Payload::Token(_) | Payload::Stake(_) => return Err(ExecError::NoTokens),
            Payload::Research(payload) => research::execute(&mut ctx, payload, body.fee)?,
        };
        // Read again: the module may have moved the sender's balance.
        let mut account = ctx.value(&account_key)?.unwrap_or_default();
        account.nonce = next;
        let mut fees = self.fees;
        if self.tokens.is_some() {
            if !token::pays_fee_from_inputs(&body.payload) {
                account.balance = account.balance.checked_sub(body.fee).ok_or(
                    ExecError::InsufficientBalance {
                        balance: account.balance,
                        needed: body.fee,
                    },
                )?;
            }
            fees = fees
                .checked_add(body.fee)
                .ok_or(ExecError::AmountOverflow)?;
        }
        ctx.put(&account_key, &account);
        self.fees = fees;
        self.writes.extend(ctx.into_writes());
        self.events.push((tx.id(), events.clone()));
        Ok(events)
    }

    /// Ends the block built by `proposer` (the header's): on a chain with tokens, pays the
    /// proposer and the fee pool ([`token`]'s block settlement); then records the block's
    /// height and time under `cfg/block`, applies the write set to the tree as version
    /// `height` (one tree update for the whole block), and returns the result with the new
    /// state root.
    pub fn finish(mut self, proposer: Address) -> Result<ExecutedBlock, StateError> {
        if let Some(tokens) = self.tokens {
            self.settle_block(&tokens, &proposer)?;
        }
        // Epoch end, after the settlement (so this block's fees are in the pool): at an epoch's
        // last height the pool is paid out and the next epoch's validators are elected.
        staking::end_of_block(
            self.reader,
            &mut self.writes,
            self.env,
            &self.chain,
            self.tokens.as_ref(),
            &proposer,
        )?;
        let info = BlockInfo {
            height: self.env.height,
            timestamp_ms: self.env.timestamp_ms,
        };
        self.writes.insert(
            keys::block_info().as_bytes().to_vec(),
            Some(info.to_bytes()),
        );
        let writes: BTreeMap<_, _> = self.writes.into_iter().collect();
        let (state_root, tree_batch) = tree::apply_writes(self.reader, &writes, self.env.height)?;
        let leaves: Vec<Hash32> = self
            .events
            .iter()
            .map(|(tx, events)| receipt_leaf(tx, events))
            .collect();
        Ok(ExecutedBlock {
            height: self.env.height,
            timestamp_ms: self.env.timestamp_ms,
            writes,
            tree_batch,
            state_root,
            receipts_root: receipts_root(&leaves),
            events: self.events,
            checkpoint_events: self.checkpoint_events,
        })
    }

    /// The block's token settlement, written like a transaction's changes but outside any.
    fn settle_block(&mut self, tokens: &TokenConfig, proposer: &Address) -> Result<(), StateError> {
        let mut ctx = TxContext::new(
            self.reader,
            &self.writes,
            self.env,
            &self.chain,
            Some(tokens),
            no_tx(),
            proposer,
        );
        token::settle_block(&mut ctx, tokens, self.fees, proposer).map_err(settlement_error)?;
        let writes = ctx.into_writes();
        self.writes.extend(writes);
        Ok(())
    }
}

/// The transaction id of changes no transaction made (block settlement): all zeroes.
fn no_tx() -> TxId {
    TxId(Hash32::from([0; 32]))
}

/// Settlement moves only tokens that exist, so a rule failing there is a broken state.
fn settlement_error(error: ExecError) -> StateError {
    match error {
        ExecError::State(error) => error,
        other => StateError::Inconsistent(format!("block settlement failed: {other}")),
    }
}

/// The genesis state (height 0): the chain config (chain id, regulator, genesis digest and
/// validators) and the genesis time; with a MED chain, its parameters (`cfg/med`); with tokens, the token parameters, supply, epoch and
/// allocations ([`token`]); the genesis validators as candidates and as the validator set of
/// epoch 0 ([`staking`]).
/// Its `state_root` goes into block 0's header.
pub fn genesis(genesis: &Genesis) -> Result<ExecutedBlock, StateError> {
    genesis.validate()?;
    let config = ChainConfig {
        chain_id: genesis.chain_id.clone(),
        regulator: genesis.regulator,
        genesis_digest: genesis.digest(),
        validators: genesis.validator_keys(),
    };
    let info = BlockInfo {
        height: 0,
        timestamp_ms: genesis.genesis_time_ms,
    };
    let mut writes: BTreeMap<_, _> = [
        (
            keys::chain_config().as_bytes().to_vec(),
            Some(config.to_bytes()),
        ),
        (
            keys::block_info().as_bytes().to_vec(),
            Some(info.to_bytes()),
        ),
    ]
    .into();
    let empty = crate::MemoryStore::new();
    if let Some(tokens) = &genesis.tokens {
        let env = BlockEnv {
            height: 0,
            timestamp_ms: genesis.genesis_time_ms,
        };
        let (none, config_copy) = (BlockWrites::new(), config.clone());
        let mut ctx = TxContext::new(
            &empty,
            &none,
            env,
            &config_copy,
            None,
            TxId(config.genesis_digest),
            &genesis.regulator,
        );
        token::genesis_writes(&mut ctx, tokens).map_err(settlement_error)?;
        writes.extend(ctx.into_writes());
    }
    if let Some(params) = genesis.med {
        let med = MedConfig {
            params,
            genesis_time_ms: genesis.genesis_time_ms,
        };
        writes.insert(keys::med_config().as_bytes().to_vec(), Some(med.to_bytes()));
    }
    staking::genesis_writes(genesis, &mut writes);
    let (state_root, tree_batch) = tree::apply_writes(&empty, &writes, 0)?;
    Ok(ExecutedBlock {
        height: 0,
        timestamp_ms: genesis.genesis_time_ms,
        writes,
        tree_batch,
        state_root,
        receipts_root: receipts_root(&[]),
        events: Vec::new(),
        checkpoint_events: Vec::new(),
    })
}

/// Block 0 and the genesis state it commits to: what every node commits first and what a
/// light client recomputes to trust height 0 without a certificate.
pub fn genesis_block(
    document: &Genesis,
) -> Result<(medchain_types::Block, ExecutedBlock), StateError> {
    let executed = genesis(document)?;
    Ok((
        medchain_types::Block::genesis(document, executed.state_root),
        executed,
    ))
}
