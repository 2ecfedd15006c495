//! Delegated proof of stake (S1-dpos): candidate validators and their staking pools, the
//! election of every epoch's validator set, the validators' share of the fees, and slashing
//! on equivocation evidence.
//!
//! | action | rule | error |
//! |---|---|---|
//! | register | the node key (the sender) is no candidate yet | `CandidateExists` |
//! | register | the organisation exists, is audited, and is a hospital | `UnknownOrg`, `OrgNotAudited`, `EndorserNotHospital` |
//! | register | the endorser is a member of it (its signature is checked with the transaction, `medchain_types::CandidateEndorsement`) | `EndorserNotMember` |
//! | register | the organisation has fewer than [`MAX_CANDIDATES_PER_ORG`] candidates | `TooManyCandidates` |
//! | delegate | the candidate exists, is not jailed, and its organisation is still audited | `NotACandidate`, `CandidateJailed`, `OrgNotAudited` |
//! | delegate | the amount buys at least one share, and the balance covers it | `StakeTooLow`, `InsufficientBalance` |
//! | undelegate | a positive amount, at most what the sender's shares are worth | `StakeTooLow`, `InsufficientStake` |
//! | withdraw | something is unbonding, and its release epoch has come (`unbonding_epochs` whole epochs after the undelegation's) | `NothingToWithdraw`, `StillUnbonding` |
//! | report | the evidence's epoch has a validator set and is at most `unbonding_epochs` before the current one | `UnknownEpoch`, `EvidenceTooOld` |
//! | report | both votes verify under the epoch's set and this chain's consensus namespace | `BadEvidence` |
//! | report | the offender is not slashed for that epoch yet | `AlreadySlashed` |
//!
//! **Epochs.** Epoch `e` is heights `e·L ..= e·L + L − 1` for the genesis epoch length `L`
//! ([`epoch_of`], [`last_height`]), the arithmetic of commonware's `FixedEpocher`, so the state
//! and consensus agree on every boundary. `cfg/epoch` holds the epoch the next block runs in.
//! The block at `last_height(e)` ends the epoch ([`end_of_block`]): it pays the epoch's fee
//! pool out in equal parts to the validators of `vset/<e>` not jailed meanwhile, then elects
//! `vset/<e+1>`. So the set of epoch `e+1` is in the state of the block before the epoch
//! starts, where the node reads it to start the next consensus instance. A chain without tokens has one endless epoch: `vset/0` is its
//! genesis validators and no election ever runs.
//!
//! **Pools as shares.** A candidate's bonded tokens and its unbonding tokens are each a pool
//! owned in shares ([`Candidate`]). Delegating buys shares at the pool's rate (1:1 in a fresh
//! pool), undelegating turns shares of the bonded pool into shares of the unbonding pool, and
//! withdrawing sells those. Slashing scales both pools' tokens and leaves every share alone:
//! one write whatever the number of delegators, and unbonding does not escape it. The slash
//! cuts the pools as they stand when the evidence lands, so it also reaches stake delegated
//! after the fault and unbonding stake undelegated before it: the price of O(1). Rounding
//! always favours the pool, so the pools never owe more than they hold.
//!
//! **Unbonding and the evidence window.** Evidence of a fault in epoch `e` is taken through
//! epoch `e + unbonding_epochs`; tokens undelegated in epoch `e` are withdrawable from epoch
//! `e + unbonding_epochs + 1`. So every token that was bonded in a faulty epoch is still in a
//! pool for as long as the fault can be reported.
//!
//! **Evidence.** The state verifies the two votes itself (an exception to "the state verifies
//! no signatures": only the state knows `vset/<epoch>`), deterministically: see
//! [`medchain_types::evidence::Equivocation::offender`].

use crate::{
    BlockEnv, ExecError, StateError, StateRead, StateReadExt, StateValue,
    context::{BlockWrites, TxContext},
    keys::{self, StateKey},
    token,
    values::{
        Candidate, ChainConfig, Delegation, EpochState, LedgerKind, SlashRecord, TokenConfig,
        Unbonding, ValidatorEntry, ValidatorSet,
    },
};
use commonware_utils::ordered::Set;
use medchain_types::{
    Address, Event, Genesis, OrgKind, OrgName, OrgState, PeerAddress, StakePayload, StakingParams,
    TxId, evidence::Equivocation, limits,
};
use std::{collections::BTreeMap, num::NonZeroU64};

/// Basis points in one whole (`slash_bps` is out of this).
const BPS: u128 = 10_000;

/// Most candidates one hospital organisation registers. Every registered candidate is read at
/// every epoch boundary, so the list must stay small; a hospital runs a few nodes at most.
pub const MAX_CANDIDATES_PER_ORG: u64 = 4;

/// The epoch of `height`: `height / epoch_length` (commonware `FixedEpocher::containing`).
pub fn epoch_of(height: u64, epoch_length: NonZeroU64) -> u64 {
    height / epoch_length.get()
}

/// The last height of `epoch`, `epoch · L + L − 1` (commonware `FixedEpocher::last`); `None`
/// when it does not fit a `u64` (the epoch is never reached).
pub fn last_height(epoch: u64, epoch_length: NonZeroU64) -> Option<u64> {
    epoch
        .checked_mul(epoch_length.get())?
        .checked_add(epoch_length.get() - 1)
}

/// Whether `height` is the last of its epoch: the block that pays the epoch out and elects
/// the next epoch's set.
pub fn is_last_height(height: u64, epoch_length: NonZeroU64) -> bool {
    height % epoch_length.get() == epoch_length.get() - 1
}

/// The epoch length of `params` (genesis validation refuses lengths below 2).
fn epoch_length(params: &StakingParams) -> Result<NonZeroU64, StateError> {
    NonZeroU64::new(params.epoch_length)
        .ok_or_else(|| StateError::Inconsistent("the epoch length is zero".into()))
}

// Genesis.

/// The staking part of the genesis state: every genesis validator is a candidate with no
/// organisation and its allocation's `stake` as a self-bond, `vset/0` is the genesis
/// validators, and epoch 0 starts with an empty fee pool. Without tokens every stake is 0.
pub(crate) fn genesis_writes(document: &Genesis, writes: &mut BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
    let mut put = |key: Vec<u8>, value: Vec<u8>| writes.insert(key, Some(value));
    let mut entries = Vec::with_capacity(document.validators.len());
    for (seq, validator) in document.validators.iter().enumerate() {
        let key = validator.public_key;
        let stake = genesis_stake(document, &key);
        let candidate = Candidate {
            org: None,
            p2p: None,
            bonded_tokens: stake,
            bonded_shares: stake,
            unbonding_tokens: 0,
            unbonding_shares: 0,
            jailed: false,
            registered_at: 0,
        };
        put(bytes_of(&keys::candidate(&key)), candidate.to_bytes());
        put(
            bytes_of(&keys::candidates().list.entry(seq as u64)),
            key.to_bytes(),
        );
        if stake > 0 {
            put(
                bytes_of(&keys::delegation(&key, &key)),
                Delegation { shares: stake }.to_bytes(),
            );
        }
        entries.push(ValidatorEntry {
            key,
            stake,
            p2p: None,
        });
    }
    entries.sort_by_key(|entry| entry.key);
    let set = ValidatorSet {
        epoch: 0,
        validators: entries,
    };
    put(bytes_of(&keys::validator_set(0)), set.to_bytes());
    let epoch = EpochState {
        epoch: 0,
        fee_pool: 0,
    };
    put(bytes_of(&keys::epoch_state()), epoch.to_bytes());
}

/// What genesis bonds to `validator`: its allocation's `stake` (genesis validation refuses a
/// second allocation to one address).
fn genesis_stake(document: &Genesis, validator: &Address) -> u64 {
    document.tokens.as_ref().map_or(0, |tokens| {
        tokens
            .allocations
            .iter()
            .find(|allocation| allocation.address == *validator)
            .map_or(0, |allocation| allocation.stake)
    })
}

fn bytes_of<V: StateValue>(key: &StateKey<V>) -> Vec<u8> {
    key.as_bytes().to_vec()
}

// Transactions.

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &StakePayload,
) -> Result<Vec<Event>, ExecError> {
    // The executor routes staking transactions here only on a chain with tokens.
    let params = ctx.tokens.ok_or(ExecError::NoTokens)?.staking;
    match payload {
        StakePayload::Register {
            org, p2p, endorser, ..
        } => register(ctx, org, p2p, endorser),
        StakePayload::Delegate { candidate, amount } => delegate(ctx, candidate, *amount),
        StakePayload::Undelegate { candidate, amount } => {
            undelegate(ctx, &params, candidate, *amount)
        }
        StakePayload::Withdraw { candidate } => withdraw(ctx, candidate),
        StakePayload::Report { evidence } => report(ctx, &params, evidence),
    }
}

fn register<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    name: &OrgName,
    p2p: &PeerAddress,
    endorser: &Address,
) -> Result<Vec<Event>, ExecError> {
    let candidate = *ctx.sender;
    if ctx.value(&keys::candidate(&candidate))?.is_some() {
        return Err(ExecError::CandidateExists);
    }
    let org = ctx
        .value(&keys::org(name))?
        .ok_or_else(|| ExecError::UnknownOrg(name.clone()))?;
    if org.state != OrgState::Audited {
        return Err(ExecError::OrgNotAudited(name.clone()));
    }
    if org.kind != OrgKind::Hospital {
        return Err(ExecError::EndorserNotHospital);
    }
    let endorser_org = ctx.value(&keys::membership(endorser))?.map(|m| m.org);
    if endorser_org.as_ref() != Some(name) {
        return Err(ExecError::EndorserNotMember(*endorser));
    }
    let org_list = keys::org_candidates(name).list;
    let registered = org_list.find_length(|seq| {
        ctx.get(org_list.entry(seq).as_bytes())
            .map(|value| value.is_some())
    })?;
    if registered >= MAX_CANDIDATES_PER_ORG {
        return Err(ExecError::TooManyCandidates(name.clone()));
    }
    ctx.put(
        &keys::candidate(&candidate),
        &Candidate {
            org: Some(name.clone()),
            p2p: Some(p2p.clone()),
            bonded_tokens: 0,
            bonded_shares: 0,
            unbonding_tokens: 0,
            unbonding_shares: 0,
            jailed: false,
            registered_at: ctx.env.height,
        },
    );
    ctx.append(&keys::candidates().list, &candidate)?;
    ctx.put(&org_list.entry(registered), &candidate);
    Ok(vec![Event::CandidateRegistered {
        candidate,
        org: name.clone(),
    }])
}

fn delegate<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    candidate_key: &Address,
    amount: u64,
) -> Result<Vec<Event>, ExecError> {
    let mut candidate = existing_candidate(ctx, candidate_key)?;
    if candidate.jailed {
        return Err(ExecError::CandidateJailed);
    }
    // Stake that could never count in an election would only be trapped for the unbonding
    // delay.
    if let Some(name) = &candidate.org
        && !org_still_audited(ctx, &candidate)?
    {
        return Err(ExecError::OrgNotAudited(name.clone()));
    }
    let shares = shares_for(amount, candidate.bonded_tokens, candidate.bonded_shares)
        .filter(|shares| *shares > 0)
        .ok_or(ExecError::StakeTooLow)?;
    let delegator = *ctx.sender;
    token::debit(ctx, &delegator, amount)?;
    candidate.bonded_tokens = checked_add(candidate.bonded_tokens, amount)?;
    candidate.bonded_shares = checked_add(candidate.bonded_shares, shares)?;
    let key = keys::delegation(candidate_key, &delegator);
    let held = ctx.value(&key)?.map_or(0, |d| d.shares);
    ctx.put(
        &key,
        &Delegation {
            shares: checked_add(held, shares)?,
        },
    );
    ctx.put(&keys::candidate(candidate_key), &candidate);
    token::record(
        ctx,
        &delegator,
        LedgerKind::Staked,
        amount,
        Some(*candidate_key),
    )?;
    Ok(vec![Event::Delegated {
        candidate: *candidate_key,
        delegator,
        amount,
    }])
}

fn undelegate<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    params: &StakingParams,
    candidate_key: &Address,
    amount: u64,
) -> Result<Vec<Event>, ExecError> {
    if amount == 0 {
        return Err(ExecError::StakeTooLow);
    }
    let mut candidate = existing_candidate(ctx, candidate_key)?;
    let delegator = *ctx.sender;
    let key = keys::delegation(candidate_key, &delegator);
    let held = ctx.value(&key)?.map_or(0, |d| d.shares);
    // Shares burned round up, so the pool never pays out more than the amount is worth.
    let burned = shares_to_burn(amount, candidate.bonded_tokens, candidate.bonded_shares)
        .filter(|burned| *burned <= held)
        .ok_or(ExecError::InsufficientStake)?;
    let minted = shares_for(
        amount,
        candidate.unbonding_tokens,
        candidate.unbonding_shares,
    )
    .filter(|minted| *minted > 0)
    .ok_or(ExecError::StakeTooLow)?;
    candidate.bonded_tokens -= amount;
    candidate.bonded_shares -= burned;
    candidate.unbonding_tokens = checked_add(candidate.unbonding_tokens, amount)?;
    candidate.unbonding_shares = checked_add(candidate.unbonding_shares, minted)?;
    if held == burned {
        ctx.delete(&key);
    } else {
        ctx.put(
            &key,
            &Delegation {
                shares: held - burned,
            },
        );
    }
    // Locked through `unbonding_epochs` whole epochs after this one: evidence about the last
    // epoch these tokens were bonded in (this one) is taken until then, so none escapes it.
    let release_epoch = current_epoch(ctx)?
        .saturating_add(params.unbonding_epochs)
        .saturating_add(1);
    let unbonding_key = keys::unbonding(candidate_key, &delegator);
    let unbonding = ctx.value(&unbonding_key)?.map_or(0, |u| u.shares);
    ctx.put(
        &unbonding_key,
        &Unbonding {
            shares: checked_add(unbonding, minted)?,
            release_epoch,
        },
    );
    ctx.put(&keys::candidate(candidate_key), &candidate);
    Ok(vec![Event::Undelegated {
        candidate: *candidate_key,
        delegator,
        amount,
        release_epoch,
    }])
}

fn withdraw<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    candidate_key: &Address,
) -> Result<Vec<Event>, ExecError> {
    let delegator = *ctx.sender;
    let key = keys::unbonding(candidate_key, &delegator);
    let unbonding = ctx.value(&key)?.ok_or(ExecError::NothingToWithdraw)?;
    if unbonding.release_epoch > current_epoch(ctx)? {
        return Err(ExecError::StillUnbonding {
            release_epoch: unbonding.release_epoch,
        });
    }
    let mut candidate = existing_candidate(ctx, candidate_key)?;
    let amount = value_of(
        unbonding.shares,
        candidate.unbonding_tokens,
        candidate.unbonding_shares,
    )?;
    candidate.unbonding_tokens -= amount;
    candidate.unbonding_shares -= unbonding.shares;
    ctx.delete(&key);
    ctx.put(&keys::candidate(candidate_key), &candidate);
    token::credit(ctx, &delegator, amount)?;
    token::record(
        ctx,
        &delegator,
        LedgerKind::Unstaked,
        amount,
        Some(*candidate_key),
    )?;
    Ok(vec![Event::Withdrawn {
        candidate: *candidate_key,
        delegator,
        amount,
    }])
}

fn report<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    params: &StakingParams,
    evidence: &Equivocation,
) -> Result<Vec<Event>, ExecError> {
    let epoch = evidence.epoch();
    let set = ctx
        .value(&keys::validator_set(epoch))?
        .ok_or(ExecError::UnknownEpoch(epoch))?;
    // Taken for `unbonding_epochs` epochs after the fault's: stake bonded during it cannot
    // have been withdrawn yet (see `undelegate`).
    if epoch.saturating_add(params.unbonding_epochs) < current_epoch(ctx)? {
        return Err(ExecError::EvidenceTooOld);
    }
    let namespace = consensus_namespace(ctx.chain);
    let offender = evidence
        .offender(&namespace, participants(&set)?)
        .map_err(|error| ExecError::BadEvidence(error.to_string()))?;
    let offender = Address::from(offender);
    let slash_key = keys::slash(epoch, &offender);
    if ctx.value(&slash_key)?.is_some() {
        return Err(ExecError::AlreadySlashed);
    }
    let mut candidate = existing_candidate(ctx, &offender)?;
    let bonded_cut = bps_of(candidate.bonded_tokens, params.slash_bps);
    let unbonding_cut = bps_of(candidate.unbonding_tokens, params.slash_bps);
    candidate.bonded_tokens -= bonded_cut;
    candidate.unbonding_tokens -= unbonding_cut;
    candidate.jailed = true;
    let amount = checked_add(bonded_cut, unbonding_cut)?;
    ctx.put(&keys::candidate(&offender), &candidate);
    ctx.put(
        &slash_key,
        &SlashRecord {
            amount,
            reporter: *ctx.sender,
            height: ctx.env.height,
        },
    );
    token::burn(ctx, amount)?;
    token::record(
        ctx,
        &offender,
        LedgerKind::Slashed,
        amount,
        Some(*ctx.sender),
    )?;
    Ok(vec![Event::Slashed {
        offender,
        epoch,
        amount,
    }])
}

/// The namespace consensus votes of this chain are signed under: the same bytes as
/// [`Genesis::consensus_namespace`], from the genesis digest the state keeps.
fn consensus_namespace(chain: &ChainConfig) -> Vec<u8> {
    commonware_utils::union(
        medchain_types::namespace::CONSENSUS,
        chain.genesis_digest.as_ref(),
    )
}

/// A validator set's keys as the sorted set consensus numbers signers in.
fn participants(set: &ValidatorSet) -> Result<Set<medchain_types::PublicKey>, StateError> {
    set.validators
        .iter()
        .map(|entry| {
            entry.key.public_key().map_err(|_| {
                StateError::Inconsistent(format!("validator {} is not a key", entry.key))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Set::from_iter_dedup)
}

fn existing_candidate<R: StateRead>(
    ctx: &TxContext<'_, R>,
    key: &Address,
) -> Result<Candidate, ExecError> {
    ctx.value(&keys::candidate(key))?
        .ok_or(ExecError::NotACandidate)
}

/// The epoch the executing block is in.
fn current_epoch(state: &impl StateRead) -> Result<u64, StateError> {
    Ok(state.value(&keys::epoch_state())?.map_or(0, |e| e.epoch))
}

// Pool arithmetic: u128 intermediates, results checked back into u64.

/// Shares `tokens` buy in a pool of `pool_tokens` over `pool_shares`, rounded down (the pool
/// keeps the fraction). An empty pool sells 1:1; a pool whose tokens were all slashed away
/// while shares remain sells nothing (`None`).
fn shares_for(tokens: u64, pool_tokens: u64, pool_shares: u64) -> Option<u64> {
    if pool_shares == 0 {
        return Some(tokens);
    }
    if pool_tokens == 0 {
        return None;
    }
    u64::try_from(u128::from(tokens) * u128::from(pool_shares) / u128::from(pool_tokens)).ok()
}

/// Shares that must be given up to take `tokens` out of the pool, rounded up; `None` if the
/// pool does not hold that many tokens.
fn shares_to_burn(tokens: u64, pool_tokens: u64, pool_shares: u64) -> Option<u64> {
    if tokens > pool_tokens {
        return None;
    }
    let numerator = u128::from(tokens) * u128::from(pool_shares);
    u64::try_from(numerator.div_ceil(u128::from(pool_tokens))).ok()
}

/// What `shares` of a pool are worth, rounded down; all of the pool for all of its shares.
fn value_of(shares: u64, pool_tokens: u64, pool_shares: u64) -> Result<u64, StateError> {
    if shares > pool_shares {
        return Err(StateError::Inconsistent(
            "a delegator holds more shares than its pool".into(),
        ));
    }
    if shares == pool_shares {
        return Ok(pool_tokens);
    }
    // shares < pool_shares, so the quotient is below pool_tokens and fits.
    Ok((u128::from(shares) * u128::from(pool_tokens) / u128::from(pool_shares)) as u64)
}

/// `amount × bps / 10 000`, rounded down; at most `amount`.
fn bps_of(amount: u64, bps: u16) -> u64 {
    let bps = u128::from(bps).min(BPS);
    (u128::from(amount) * bps / BPS) as u64
}

fn checked_add(a: u64, b: u64) -> Result<u64, ExecError> {
    a.checked_add(b).ok_or(ExecError::AmountOverflow)
}

// Epoch end.

/// Ends the block (after its fees are settled): at the last height of epoch `e`, pays the
/// epoch's fee pool in equal parts to the validators of `vset/<e>` that are not jailed (the
/// remainder stays in the pool), then elects `vset/<e+1>` and moves `cfg/epoch` to `e+1`. Any other height
/// writes nothing.
pub(crate) fn end_of_block<R: StateRead>(
    reader: &R,
    writes: &mut BlockWrites,
    env: BlockEnv,
    chain: &ChainConfig,
    tokens: Option<&TokenConfig>,
    proposer: &Address,
) -> Result<(), StateError> {
    // Without tokens the one epoch never ends.
    let Some(config) = tokens else {
        return Ok(());
    };
    let params = config.staking;
    let tx_id = epoch_end_id(env.height);
    let mut ctx = TxContext::new(reader, writes, env, chain, tokens, tx_id, proposer);
    if !is_last_height(env.height, epoch_length(&params)?) {
        return Ok(());
    }
    let mut state = ctx
        .value(&keys::epoch_state())?
        .ok_or(StateError::NoGenesis)?;
    let current = ctx
        .value(&keys::validator_set(state.epoch))?
        .ok_or_else(|| {
            StateError::Inconsistent(format!("no validator set for epoch {}", state.epoch))
        })?;
    state.fee_pool = pay_out(&mut ctx, &current, state.fee_pool)?;
    let next = state
        .epoch
        .checked_add(1)
        .ok_or_else(|| StateError::Inconsistent("the epoch counter is exhausted".into()))?;
    let validators = match elect(&ctx, &params)? {
        Some(validators) => validators,
        // Too few qualify: keep the running set rather than halt the chain.
        None => current.validators,
    };
    ctx.put(
        &keys::validator_set(next),
        &ValidatorSet {
            epoch: next,
            validators,
        },
    );
    state.epoch = next;
    ctx.put(&keys::epoch_state(), &state);
    let epoch_writes = ctx.into_writes();
    writes.extend(epoch_writes);
    Ok(())
}

/// The id the epoch-end entries of a validator's token history carry: no transaction made
/// them, so a hash that names the height instead (never a transaction's id: those hash a
/// signed transaction's encoding).
fn epoch_end_id(height: u64) -> TxId {
    TxId::of_encoded(&[b"epoch-end".as_slice(), &height.to_be_bytes()].concat())
}

/// Splits `pool` equally over the validators of `set` that were not jailed during the epoch
/// (a validator slashed for it earns none of its fees); returns what is left: less than one
/// token per paid validator, or all of it if every validator was jailed.
fn pay_out<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    set: &ValidatorSet,
    pool: u64,
) -> Result<u64, StateError> {
    let mut paid = Vec::with_capacity(set.validators.len());
    for validator in &set.validators {
        if !existing_candidate(ctx, &validator.key)
            .map_err(state_error)?
            .jailed
        {
            paid.push(validator.key);
        }
    }
    let count = paid.len() as u64;
    let share = pool.checked_div(count).unwrap_or(0);
    if share == 0 {
        return Ok(pool);
    }
    for validator in &paid {
        token::credit(ctx, validator, share).map_err(state_error)?;
        token::record(ctx, validator, LedgerKind::EpochReward, share, None).map_err(state_error)?;
    }
    Ok(pool - share * count)
}

/// An epoch-end step failed on what a transaction would be refused for: the state broke an
/// invariant (the pool is part of the supply, so paying it out cannot overflow a balance).
fn state_error(error: ExecError) -> StateError {
    match error {
        ExecError::State(error) => error,
        other => StateError::Inconsistent(other.to_string()),
    }
}

/// The next epoch's validators, sorted by key: among candidates that are not jailed, whose
/// organisation (if any) is still audited, and whose bonded stake reaches `min_stake`, the
/// `max_validators` with the most stake (ties to the lower key). `None` when fewer than
/// `min_validators` (and at least one) qualify.
pub fn elect(
    state: &impl StateRead,
    params: &StakingParams,
) -> Result<Option<Vec<ValidatorEntry>>, StateError> {
    let list = keys::candidates().list;
    let length = list.find_length(|seq| {
        state
            .get(list.entry(seq).as_bytes())
            .map(|value| value.is_some())
    })?;
    let mut qualified = Vec::new();
    for seq in 0..length {
        let key = state
            .value(&list.entry(seq))?
            .ok_or_else(|| StateError::Inconsistent(format!("candidate #{seq} is missing")))?;
        let candidate = state.value(&keys::candidate(&key))?.ok_or_else(|| {
            StateError::Inconsistent(format!("listed candidate {key} has no pool"))
        })?;
        if qualifies(state, &candidate, params)? {
            qualified.push(ValidatorEntry {
                key,
                stake: candidate.bonded_tokens,
                p2p: candidate.p2p,
            });
        }
    }
    Ok(top_by_stake(qualified, params))
}

fn qualifies(
    state: &impl StateRead,
    candidate: &Candidate,
    params: &StakingParams,
) -> Result<bool, StateError> {
    // Never an empty pool, whatever min_stake says: a validator must have something to slash.
    if candidate.jailed || candidate.bonded_tokens < params.min_stake.max(1) {
        return Ok(false);
    }
    org_still_audited(state, candidate)
}

/// Whether a candidate's hospital is still audited (a genesis validator has none): one whose
/// audit was withdrawn no longer runs a validator, nor takes delegations.
fn org_still_audited(state: &impl StateRead, candidate: &Candidate) -> Result<bool, StateError> {
    Ok(match &candidate.org {
        None => true,
        Some(name) => state
            .value(&keys::org(name))?
            .is_some_and(|org| org.state == OrgState::Audited),
    })
}

/// The `max_validators` entries with the most stake (ties to the lower key), sorted by key;
/// `None` if fewer than `min_validators` (and at least one) are given.
fn top_by_stake(
    mut entries: Vec<ValidatorEntry>,
    params: &StakingParams,
) -> Option<Vec<ValidatorEntry>> {
    entries.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.key.cmp(&b.key)));
    let cap = usize::from(params.max_validators).min(limits::MAX_VALIDATORS);
    entries.truncate(cap);
    if entries.is_empty() || entries.len() < usize::from(params.min_validators) {
        return None;
    }
    entries.sort_by_key(|entry| entry.key);
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::address;
    use commonware_consensus::types::{Epoch, Epocher, FixedEpocher, Height};

    fn params(max_validators: u16, min_validators: u16) -> StakingParams {
        StakingParams {
            epoch_length: 10,
            max_validators,
            min_validators,
            min_stake: 0,
            unbonding_epochs: 2,
            slash_bps: 1_000,
        }
    }

    fn entry(seed: u64, stake: u64) -> ValidatorEntry {
        ValidatorEntry {
            key: address(seed),
            stake,
            p2p: None,
        }
    }

    #[test]
    fn epoch_arithmetic_agrees_with_commonware_fixed_epocher() {
        for length in [2u64, 3, 10, 60, 1 << 32, u64::MAX / 2, u64::MAX] {
            let l = NonZeroU64::new(length).unwrap();
            let epocher = FixedEpocher::new(l);
            let heights = [
                0,
                1,
                length - 1,
                length,
                length.saturating_add(1),
                u64::MAX - 1,
            ];
            for height in heights {
                let info = epocher
                    .containing(Height::new(height))
                    .map(|i| i.epoch().get());
                if let Some(epoch) = info {
                    assert_eq!(epoch_of(height, l), epoch, "L={length} h={height}");
                }
                let epoch = epoch_of(height, l);
                assert_eq!(
                    last_height(epoch, l),
                    epocher.last(Epoch::new(epoch)).map(|h| h.get()),
                    "L={length} e={epoch}"
                );
                assert_eq!(
                    is_last_height(height, l),
                    last_height(epoch, l) == Some(height)
                );
            }
        }
        // An epoch as long as a chain without tokens has (`Genesis::epoch_length`) ends at
        // u64::MAX - 1: never, in practice.
        assert_eq!(last_height(0, NonZeroU64::MAX), Some(u64::MAX - 1));
        assert_eq!(last_height(1, NonZeroU64::MAX), None);
    }

    #[test]
    fn the_top_n_by_stake_are_elected_ties_to_the_lower_key_sorted_by_key() {
        let entries = vec![entry(1, 50), entry(2, 70), entry(3, 50), entry(4, 10)];
        let mut tied = [address(1), address(3)];
        tied.sort();
        let elected = top_by_stake(entries.clone(), &params(2, 1)).unwrap();
        let mut expected = vec![address(2), tied[0]];
        expected.sort();
        assert_eq!(
            elected.iter().map(|e| e.key).collect::<Vec<_>>(),
            expected,
            "the tie at 50 goes to the lower key"
        );
        let all = top_by_stake(entries, &params(10, 1)).unwrap();
        assert!(all.windows(2).all(|pair| pair[0].key < pair[1].key));
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn too_few_qualified_candidates_elect_nobody() {
        assert_eq!(top_by_stake(vec![entry(1, 5)], &params(4, 2)), None);
        assert_eq!(top_by_stake(Vec::new(), &params(4, 0)), None);
        assert!(top_by_stake(vec![entry(1, 5), entry(2, 1)], &params(4, 2)).is_some());
    }

    #[test]
    fn pools_round_in_their_own_favour() {
        // Fresh pool: 1:1.
        assert_eq!(shares_for(100, 0, 0), Some(100));
        // After a 10 % slash 90 tokens back 100 shares: a token buys 1.11 shares, rounded down.
        assert_eq!(shares_for(10, 90, 100), Some(11));
        assert_eq!(value_of(11, 100, 111).unwrap(), 9);
        // Taking 10 tokens out of 90/100 gives up ceil(11.1) = 12 shares.
        assert_eq!(shares_to_burn(10, 90, 100), Some(12));
        assert_eq!(shares_to_burn(91, 90, 100), None);
        // A wiped-out pool sells nothing.
        assert_eq!(shares_for(10, 0, 100), None);
        // The last holder takes the whole pool, dust included.
        assert_eq!(value_of(7, 10, 7).unwrap(), 10);
        assert!(value_of(8, 10, 7).is_err());
        assert_eq!(bps_of(1_000, 1_000), 100);
        assert_eq!(bps_of(u64::MAX, 10_000), u64::MAX);
        assert_eq!(bps_of(u64::MAX, u16::MAX), u64::MAX);
    }
}
