//! Token module (S1-tokens, S1-utxo): a UTXO set, account balances, fees, block rewards and
//! escrow.
//!
//! **Outputs.** An unspent output lives under `utxo/<tx id><index>`; spending deletes it, so a
//! spent output and one that never existed are the same exclusion proof, and a double spend
//! is one read. Outputs locked to one key are summed under `held/<key>`; every output locked
//! to a key (or a k-of-m lock naming it) is listed under `outs/<key>`.
//!
//! **Transfers** are validated by one finite scan (at most
//! [`limits::MAX_TRANSFER_INPUTS`] inputs and [`limits::MAX_TRANSFER_OUTPUTS`] outputs, no
//! scripts):
//!
//! | rule | error |
//! |---|---|
//! | too many inputs, outputs or cosignatures | `TransferTooLarge` |
//! | no output, or nothing spent | `EmptyTransfer` |
//! | an input listed twice | `DuplicateInput` |
//! | an input spent or never created | `UnknownOutput` |
//! | an input locked to an escrow | `ContractLocked` |
//! | a `Key` input whose owner, or a `Multi` input of which fewer than k keys, are not among the signers (sender + cosigners) | `MissingSignature` |
//! | an input whose lock time the block has not reached | `OutputLocked` |
//! | an output of value 0 | `ZeroValueOutput` |
//! | an output locked to an escrow | `ContractOutput` |
//! | a k-of-m lock with k = 0, k > m or a repeated key | `InvalidMultisig` |
//! | a sum beyond 64 bits | `AmountOverflow` |
//! | outputs worth more than inputs + `from_balance` | `OutputsExceedInputs` |
//! | the surplus inputs + `from_balance` − outputs is not the fee | `FeeMismatch` |
//! | the sender's balance is below `from_balance` | `InsufficientBalance` |
//!
//! The surplus must *equal* the fee, so a forgotten change output is refused rather than
//! burned, and the fee can be read from the body without reading the inputs.
//!
//! **Fees.** Every other transaction pays its fee from the sender's account balance (the
//! executor charges it after the module's rules pass, in the transaction's own write buffer:
//! a rejected transaction pays nothing). A transfer pays from its surplus instead. At the end
//! of the block the proposer receives the block reward (minted until the supply cap) and its
//! share of the block's fees; the rest of the fees go to the epoch's fee pool.
//!
//! **Escrow** (the contract lock): `escrow_open` locks part of the payer's balance in an
//! output only the escrow's rules move: `escrow_release` (payer or arbiter) pays it to the
//! payee, `escrow_refund` returns it to the payer (payee or arbiter at any time, the payer once
//! the refund time has come). Both create a new output locked to the recipient's key.

use crate::{
    ExecError, StateError, StateRead, StateReadExt,
    context::TxContext,
    keys,
    values::{Escrow, LedgerEntry, LedgerKind, Output, Supply, TokenConfig},
};
use commonware_codec::EncodeSize;
use medchain_types::{
    Address, EscrowId, Event, FeeSchedule, TokenGenesis, TokenPayload, Transaction, TxId, limits,
    token::{Cosignature, Lock, LockTime, OutPoint, Payee, TxOutput},
};
use std::collections::BTreeSet;

/// The least fee `tx` may name under `fees`: by the size of the encoded signed transaction,
/// nothing for a consent's withdrawal ([`FeeSchedule::min_fee_for`]).
pub fn min_fee(fees: &FeeSchedule, tx: &Transaction) -> u64 {
    fees.min_fee_for(&tx.body.payload, tx.encode_size())
}

/// The chain's token parameters; `None` on a chain without tokens.
pub fn config(state: &impl StateRead) -> Result<Option<TokenConfig>, StateError> {
    state.value(&keys::token_config())
}

/// The balance of `address` (0 for an unknown account).
pub fn balance(state: &impl StateRead, address: &Address) -> Result<u64, StateError> {
    Ok(state
        .value(&keys::account(address))?
        .map_or(0, |account| account.balance))
}

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &TokenPayload,
    fee: u64,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        TokenPayload::Transfer {
            inputs,
            from_balance,
            outputs,
            cosignatures,
        } => transfer(ctx, fee, inputs, *from_balance, outputs, cosignatures),
        TokenPayload::EscrowOpen {
            payee,
            arbiter,
            amount,
            refund_after,
        } => escrow_open(ctx, payee, arbiter, *amount, *refund_after),
        TokenPayload::EscrowRelease { escrow } => escrow_release(ctx, escrow),
        TokenPayload::EscrowRefund { escrow } => escrow_refund(ctx, escrow),
    }
}

/// Whether `payload` pays its fee from its own inputs rather than the sender's balance.
pub fn pays_fee_from_inputs(payload: &medchain_types::Payload) -> bool {
    matches!(
        payload,
        medchain_types::Payload::Token(TokenPayload::Transfer { .. })
    )
}

// Balances, supply and history: the helpers every token-moving module uses.

/// Adds `amount` to the balance of `to`.
pub(crate) fn credit<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    to: &Address,
    amount: u64,
) -> Result<(), ExecError> {
    if amount == 0 {
        return Ok(());
    }
    let key = keys::account(to);
    let mut account = ctx.value(&key)?.unwrap_or_default();
    account.balance = account
        .balance
        .checked_add(amount)
        .ok_or(ExecError::AmountOverflow)?;
    ctx.put(&key, &account);
    Ok(())
}

/// Takes `amount` from the balance of `from`.
pub(crate) fn debit<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    from: &Address,
    amount: u64,
) -> Result<(), ExecError> {
    if amount == 0 {
        return Ok(());
    }
    let key = keys::account(from);
    let mut account = ctx.value(&key)?.unwrap_or_default();
    account.balance =
        account
            .balance
            .checked_sub(amount)
            .ok_or(ExecError::InsufficientBalance {
                balance: account.balance,
                needed: amount,
            })?;
    ctx.put(&key, &account);
    Ok(())
}

/// Records `amount` as burned (a slash): the tokens in existence drop by it.
pub(crate) fn burn<R: StateRead>(ctx: &mut TxContext<'_, R>, amount: u64) -> Result<(), ExecError> {
    let mut supply = supply(ctx)?;
    supply.burned = supply
        .burned
        .checked_add(amount)
        .ok_or(ExecError::AmountOverflow)?;
    ctx.put(&keys::supply(), &supply);
    Ok(())
}

/// Appends an entry to the token history of `owner`, for the executing transaction.
pub(crate) fn record<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    owner: &Address,
    kind: LedgerKind,
    amount: u64,
    counterparty: Option<Address>,
) -> Result<(), ExecError> {
    let entry = LedgerEntry {
        tx: ctx.tx_id,
        height: ctx.env.height,
        kind,
        amount,
        counterparty,
    };
    ctx.append(&keys::token_history(owner), &entry)?;
    Ok(())
}

fn supply(state: &impl StateRead) -> Result<Supply, StateError> {
    state
        .value(&keys::supply())?
        .ok_or_else(|| StateError::Inconsistent("a chain with tokens has no cfg/supply".into()))
}

// Outputs.

/// Creates output `point`, listing it under each key of its lock and counting it in the
/// owner's `held/` sum when it is locked to one key.
fn create_output<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    point: OutPoint,
    value: u64,
    lock: Lock,
    unlock: Option<LockTime>,
) -> Result<(), ExecError> {
    match &lock {
        Lock::Key(owner) => {
            change_held(ctx, owner, |held| held.checked_add(value))?;
            ctx.append(&keys::owner_outputs(owner).list, &point)?;
        }
        Lock::Multi { keys: owners, .. } => {
            for owner in owners {
                ctx.append(&keys::owner_outputs(owner).list, &point)?;
            }
        }
        Lock::Escrow(_) => {}
    }
    let output = Output {
        value,
        lock,
        unlock,
        created_at: ctx.env.height,
    };
    ctx.put(&keys::output(&point), &output);
    Ok(())
}

/// Deletes a spent output (its `outs/` entries stay: they then prove it spent).
fn spend_output<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    point: &OutPoint,
    output: &Output,
) -> Result<(), ExecError> {
    if let Lock::Key(owner) = &output.lock {
        change_held(ctx, owner, |held| held.checked_sub(output.value))?;
    }
    ctx.delete(&keys::output(point));
    Ok(())
}

/// Applies `change` to the `held/` sum of `owner`; an absent sum is 0 and a zero sum is
/// deleted. Going below zero means the sum and the outputs disagree: corruption.
fn change_held<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    owner: &Address,
    change: impl FnOnce(u64) -> Option<u64>,
) -> Result<(), ExecError> {
    let key = keys::held(owner);
    let held = ctx.value(&key)?.unwrap_or(0);
    match change(held) {
        Some(0) => ctx.delete(&key),
        Some(held) => ctx.put(&key, &held),
        None => {
            return Err(StateError::Inconsistent(format!(
                "held/{owner} of {held} cannot change by an output's value"
            ))
            .into());
        }
    }
    Ok(())
}

/// Moves a contract-locked output to a new output (index 0 of the executing transaction)
/// locked to `to`'s key: the only way such coins move. Returns its value.
pub(crate) fn release_contract_output<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    point: &OutPoint,
    to: &Address,
) -> Result<u64, ExecError> {
    let output = ctx
        .value(&keys::output(point))?
        .ok_or_else(|| StateError::Inconsistent(format!("contract output {point} is missing")))?;
    spend_output(ctx, point, &output)?;
    let released = OutPoint {
        tx: ctx.tx_id,
        index: 0,
    };
    create_output(ctx, released, output.value, Lock::Key(*to), None)?;
    Ok(output.value)
}

/// Adds `amount` of `from`'s balance to a contract's pool: one output locked to the contract
/// (`Lock::Escrow(contract)`, spent only by the contract's rules), created at index 0 of the
/// executing transaction and replacing the pool's previous output `pool`, if any. Returns the
/// new pool output.
pub(crate) fn lock_in_pool<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    from: &Address,
    contract: EscrowId,
    pool: Option<OutPoint>,
    amount: u64,
) -> Result<OutPoint, ExecError> {
    debit(ctx, from, amount)?;
    let held = match pool {
        Some(point) => take_pool_output(ctx, &point, contract)?.value,
        None => 0,
    };
    let value = held.checked_add(amount).ok_or(ExecError::AmountOverflow)?;
    let point = OutPoint {
        tx: ctx.tx_id,
        index: 0,
    };
    create_output(ctx, point, value, Lock::Escrow(contract), None)?;
    record(ctx, from, LedgerKind::StudyFunded, amount, None)?;
    Ok(point)
}

/// Pays `amount` from `contract`'s pool output `pool` to `to`'s balance, listing it in `to`'s
/// history as `kind` from `counterparty`. What remains is re-created, still locked to the
/// contract, at index 0 of the executing transaction; returns that output (`None` when nothing
/// remains).
pub(crate) fn pay_from_pool<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    pool: &OutPoint,
    contract: EscrowId,
    to: &Address,
    amount: u64,
    (kind, counterparty): (LedgerKind, Option<Address>),
) -> Result<Option<OutPoint>, ExecError> {
    let Output {
        value: held, lock, ..
    } = take_pool_output(ctx, pool, contract)?;
    let rest = held.checked_sub(amount).ok_or_else(|| {
        StateError::Inconsistent(format!(
            "pool output {pool} holds {held}, less than {amount}"
        ))
    })?;
    credit(ctx, to, amount)?;
    record(ctx, to, kind, amount, counterparty)?;
    if rest == 0 {
        return Ok(None);
    }
    let point = OutPoint {
        tx: ctx.tx_id,
        index: 0,
    };
    create_output(ctx, point, rest, lock, None)?;
    Ok(Some(point))
}

/// Spends `contract`'s pool output; returns it. An output locked to anything else (another
/// contract's escrow, a key) is a broken pointer: spending it would mix two contracts' funds.
fn take_pool_output<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    point: &OutPoint,
    contract: EscrowId,
) -> Result<Output, ExecError> {
    let output = ctx
        .value(&keys::output(point))?
        .ok_or_else(|| StateError::Inconsistent(format!("pool output {point} is missing")))?;
    if output.lock != Lock::Escrow(contract) {
        return Err(StateError::Inconsistent(format!(
            "pool output {point} is not locked to contract {contract}"
        ))
        .into());
    }
    spend_output(ctx, point, &output)?;
    Ok(output)
}

// Transfers.

fn transfer<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    fee: u64,
    inputs: &[OutPoint],
    from_balance: u64,
    outputs: &[TxOutput],
    cosignatures: &[Cosignature],
) -> Result<Vec<Event>, ExecError> {
    let sender = *ctx.sender;
    let spent = covered_inputs(
        &*ctx,
        &sender,
        fee,
        inputs,
        from_balance,
        outputs,
        cosignatures,
    )?;
    for (point, output) in &spent {
        if let Some(until) = output.unlock
            && !until.reached(ctx.env.height, ctx.env.timestamp_ms)
        {
            return Err(ExecError::OutputLocked {
                output: *point,
                until,
            });
        }
    }
    debit(ctx, &sender, from_balance)?;
    for (point, output) in &spent {
        spend_output(ctx, point, output)?;
    }
    pay_outputs(ctx, outputs)?;
    Ok(vec![Event::Transferred {
        inputs: count(inputs.len()),
        outputs: count(outputs.len()),
        fee,
    }])
}

/// Checks what of `payload`, if it is a transfer by `sender` naming `fee`, holds in `state`
/// whatever block executes it: its inputs exist, are not escrow-locked and may be spent by
/// the sender and its cosigners, and inputs + `from_balance` − outputs is the fee. Lock times
/// and the sender's balance are left out: they depend on the executing block and on the
/// sender's other transactions. Admission runs it on committed state, so a transfer naming
/// made-up, spent or someone else's inputs is refused before it is held; it would otherwise
/// fail when a block is built, and a failed transaction pays no fee.
pub fn check_transfer<R: StateRead>(
    state: &R,
    sender: &Address,
    fee: u64,
    payload: &TokenPayload,
) -> Result<(), ExecError> {
    if let TokenPayload::Transfer {
        inputs,
        from_balance,
        outputs,
        cosignatures,
    } = payload
    {
        covered_inputs(
            state,
            sender,
            fee,
            inputs,
            *from_balance,
            outputs,
            cosignatures,
        )?;
    }
    Ok(())
}

/// The block-independent rules of a transfer (see [`check_transfer`]); returns its inputs
/// with the outputs they spend.
fn covered_inputs<R: StateRead>(
    state: &R,
    sender: &Address,
    fee: u64,
    inputs: &[OutPoint],
    from_balance: u64,
    outputs: &[TxOutput],
    cosignatures: &[Cosignature],
) -> Result<Vec<(OutPoint, Output)>, ExecError> {
    if inputs.len() > limits::MAX_TRANSFER_INPUTS
        || outputs.len() > limits::MAX_TRANSFER_OUTPUTS
        || cosignatures.len() > limits::MAX_COSIGNERS
    {
        return Err(ExecError::TransferTooLarge {
            max_inputs: limits::MAX_TRANSFER_INPUTS,
            max_outputs: limits::MAX_TRANSFER_OUTPUTS,
        });
    }
    if outputs.is_empty() || (inputs.is_empty() && from_balance == 0) {
        return Err(ExecError::EmptyTransfer);
    }
    let signers: BTreeSet<Address> = std::iter::once(*sender)
        .chain(cosignatures.iter().map(|cosignature| cosignature.signer))
        .collect();
    let spent = signed_inputs(state, inputs, &signers)?;
    let input_sum = checked_sum(spent.iter().map(|(_, output)| output.value))?;
    for output in outputs {
        check_new_output(output)?;
    }
    let output_sum = checked_sum(outputs.iter().map(|output| output.value))?;
    let available = input_sum
        .checked_add(from_balance)
        .ok_or(ExecError::AmountOverflow)?;
    let surplus = available
        .checked_sub(output_sum)
        .ok_or(ExecError::OutputsExceedInputs {
            inputs: available,
            outputs: output_sum,
        })?;
    if surplus != fee {
        return Err(ExecError::FeeMismatch { surplus, fee });
    }
    Ok(spent)
}

/// Reads every input and checks that `signers` may spend it (lock times aside).
fn signed_inputs<R: StateRead>(
    state: &R,
    inputs: &[OutPoint],
    signers: &BTreeSet<Address>,
) -> Result<Vec<(OutPoint, Output)>, ExecError> {
    let mut seen = BTreeSet::new();
    let mut spent = Vec::with_capacity(inputs.len());
    for point in inputs {
        if !seen.insert(*point) {
            return Err(ExecError::DuplicateInput);
        }
        let output = state
            .value(&keys::output(point))?
            .ok_or(ExecError::UnknownOutput(*point))?;
        check_signers(point, &output.lock, signers)?;
        spent.push((*point, output));
    }
    Ok(spent)
}

/// A `Key` lock needs its owner among the signers, a `Multi` lock `threshold` of its keys;
/// an `Escrow` lock is never spent by a transfer.
fn check_signers(
    point: &OutPoint,
    lock: &Lock,
    signers: &BTreeSet<Address>,
) -> Result<(), ExecError> {
    let missing = |owner: &Address| ExecError::MissingSignature {
        output: *point,
        owner: *owner,
    };
    match lock {
        Lock::Escrow(_) => Err(ExecError::ContractLocked),
        Lock::Key(owner) if signers.contains(owner) => Ok(()),
        Lock::Key(owner) => Err(missing(owner)),
        Lock::Multi { threshold, keys } => {
            let present = keys.iter().filter(|key| signers.contains(key)).count();
            if present >= usize::from(*threshold) {
                return Ok(());
            }
            let absent = keys.iter().find(|key| !signers.contains(key));
            Err(absent.map_or(ExecError::InvalidMultisig, missing))
        }
    }
}

/// An output a transfer may create: a positive value, not a contract lock, a sound k-of-m.
fn check_new_output(output: &TxOutput) -> Result<(), ExecError> {
    if output.value == 0 {
        return Err(ExecError::ZeroValueOutput);
    }
    match &output.to {
        Payee::Output {
            lock: Lock::Escrow(_),
            ..
        } => Err(ExecError::ContractOutput),
        Payee::Output {
            lock: Lock::Multi { threshold, keys },
            ..
        } => {
            let distinct: BTreeSet<_> = keys.iter().collect();
            let sound = *threshold >= 1
                && usize::from(*threshold) <= keys.len()
                && keys.len() <= limits::MAX_MULTISIG_KEYS
                && distinct.len() == keys.len();
            if sound {
                Ok(())
            } else {
                Err(ExecError::InvalidMultisig)
            }
        }
        _ => Ok(()),
    }
}

/// Creates the transfer's outputs (index = position) and balance credits, and lists what left
/// the sender in the histories: one `Received` per output paid to another key, one `Sent`
/// for the sender (naming the recipient when there is exactly one). A k-of-m output appears in
/// its keys' `outs/` lists, not in their histories.
fn pay_outputs<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    outputs: &[TxOutput],
) -> Result<(), ExecError> {
    let sender = *ctx.sender;
    let mut sent = 0u64;
    let mut recipients = BTreeSet::new();
    for (index, output) in outputs.iter().enumerate() {
        let recipient = match &output.to {
            Payee::Balance(to) => {
                credit(ctx, to, output.value)?;
                Some(*to)
            }
            Payee::Output { lock, unlock } => {
                let point = OutPoint {
                    tx: ctx.tx_id,
                    index: count(index),
                };
                create_output(ctx, point, output.value, lock.clone(), *unlock)?;
                match lock {
                    Lock::Key(owner) => Some(*owner),
                    _ => None,
                }
            }
        };
        if recipient == Some(sender) {
            continue;
        }
        sent = sent
            .checked_add(output.value)
            .ok_or(ExecError::AmountOverflow)?;
        if let Some(to) = recipient {
            recipients.insert(to);
            record(ctx, &to, LedgerKind::Received, output.value, Some(sender))?;
        }
    }
    if sent > 0 {
        let only = (recipients.len() == 1)
            .then(|| recipients.first().copied())
            .flatten();
        record(ctx, &sender, LedgerKind::Sent, sent, only)?;
    }
    Ok(())
}

fn checked_sum(mut values: impl Iterator<Item = u64>) -> Result<u64, ExecError> {
    values
        .try_fold(0u64, u64::checked_add)
        .ok_or(ExecError::AmountOverflow)
}

/// A count bounded by the transfer limits (16), as the u16 of an index or event.
fn count(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

// Escrow.

fn escrow_open<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payee: &Address,
    arbiter: &Address,
    amount: u64,
    refund_after: LockTime,
) -> Result<Vec<Event>, ExecError> {
    if amount == 0 {
        return Err(ExecError::ZeroValueOutput);
    }
    let payer = *ctx.sender;
    if *arbiter == payer {
        return Err(ExecError::ArbiterIsPayer);
    }
    debit(ctx, &payer, amount)?;
    let id = EscrowId::from(ctx.tx_id);
    let output = OutPoint {
        tx: ctx.tx_id,
        index: 0,
    };
    create_output(ctx, output, amount, Lock::Escrow(id), None)?;
    let escrow = Escrow {
        payer,
        payee: *payee,
        arbiter: *arbiter,
        amount,
        refund_after,
        output,
        settled: None,
    };
    ctx.put(&keys::escrow(&id), &escrow);
    record(ctx, &payer, LedgerKind::EscrowLocked, amount, Some(*payee))?;
    Ok(vec![Event::EscrowOpened {
        escrow: id,
        payer,
        payee: *payee,
        amount,
    }])
}

fn open_escrow<R: StateRead>(ctx: &TxContext<'_, R>, id: &EscrowId) -> Result<Escrow, ExecError> {
    let escrow = ctx
        .value(&keys::escrow(id))?
        .ok_or(ExecError::UnknownEscrow)?;
    if escrow.settled.is_some() {
        return Err(ExecError::EscrowAlreadySettled);
    }
    Ok(escrow)
}

fn escrow_release<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EscrowId,
) -> Result<Vec<Event>, ExecError> {
    let escrow = open_escrow(ctx, id)?;
    let sender = *ctx.sender;
    if sender != escrow.payer && sender != escrow.arbiter {
        return Err(ExecError::NotEscrowParty);
    }
    let payee = escrow.payee;
    settle(ctx, id, escrow, payee)
}

fn escrow_refund<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EscrowId,
) -> Result<Vec<Event>, ExecError> {
    let escrow = open_escrow(ctx, id)?;
    let sender = *ctx.sender;
    if sender != escrow.payee && sender != escrow.arbiter {
        if sender != escrow.payer {
            return Err(ExecError::NotEscrowParty);
        }
        if !escrow
            .refund_after
            .reached(ctx.env.height, ctx.env.timestamp_ms)
        {
            return Err(ExecError::RefundNotYet);
        }
    }
    let payer = escrow.payer;
    settle(ctx, id, escrow, payer)
}

/// Pays the escrow's output to `to` and marks the escrow settled.
fn settle<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EscrowId,
    mut escrow: Escrow,
    to: Address,
) -> Result<Vec<Event>, ExecError> {
    let amount = release_contract_output(ctx, &escrow.output, &to)?;
    let other = if to == escrow.payer {
        escrow.payee
    } else {
        escrow.payer
    };
    escrow.settled = Some((ctx.env.height, to));
    ctx.put(&keys::escrow(id), &escrow);
    record(ctx, &to, LedgerKind::EscrowSettled, amount, Some(other))?;
    Ok(vec![Event::EscrowSettled {
        escrow: *id,
        to,
        amount,
    }])
}

// Rewards.

/// S1-tokens: `payer` pays the patient of `consent` the consent's reward for an access it
/// allowed, if it is at most `limit` (the `max_reward` the payer signed), else
/// `RewardAboveLimit`: the patient alone sets the price, so only the payer's own bound keeps
/// it from taking the payer's whole balance. Nothing happens on a chain without tokens or for
/// a reward of 0.
pub(crate) fn pay_access_reward<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    consent: &medchain_types::ConsentId,
    payer: &Address,
    limit: u64,
) -> Result<Option<Event>, ExecError> {
    if ctx.tokens.is_none() {
        return Ok(None);
    }
    let granted = ctx.value(&keys::consent(consent))?.ok_or_else(|| {
        StateError::Inconsistent(format!("an access cites missing consent {consent}"))
    })?;
    let amount = granted.reward;
    if amount == 0 {
        return Ok(None);
    }
    if amount > limit {
        return Err(ExecError::RewardAboveLimit {
            reward: amount,
            limit,
        });
    }
    let patient = granted.patient;
    debit(ctx, payer, amount)?;
    credit(ctx, &patient, amount)?;
    record(
        ctx,
        &patient,
        LedgerKind::AccessReward,
        amount,
        Some(*payer),
    )?;
    record(ctx, payer, LedgerKind::AccessPaid, amount, Some(patient))?;
    Ok(Some(Event::RewardPaid {
        consent: *consent,
        patient,
        payer: *payer,
        amount,
    }))
}

/// The end of every block on a chain with tokens: the proposer is paid the block reward
/// (minted, never past `max_supply`) and its share of the block's `fees`; the rest of the
/// fees join the epoch's fee pool. Integer arithmetic only, so every validator agrees.
pub(crate) fn settle_block<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    tokens: &TokenConfig,
    fees: u64,
    proposer: &Address,
) -> Result<(), ExecError> {
    let mut supply = supply(ctx)?;
    let mint = tokens
        .block_reward
        .min(tokens.max_supply.saturating_sub(supply.circulating()));
    let cut = u128::from(fees) * u128::from(tokens.proposer_share_bps) / 10_000;
    // The cut is at most the fees (the share is at most 10 000 bps), so it fits.
    let cut = u64::try_from(cut).map_err(|_| ExecError::AmountOverflow)?;
    if mint > 0 {
        supply.minted = supply
            .minted
            .checked_add(mint)
            .ok_or(ExecError::AmountOverflow)?;
        ctx.put(&keys::supply(), &supply);
    }
    credit(
        ctx,
        proposer,
        cut.checked_add(mint).ok_or(ExecError::AmountOverflow)?,
    )?;
    let pooled = fees - cut;
    if pooled > 0 {
        let key = keys::epoch_state();
        let mut epoch = ctx.value(&key)?.ok_or_else(|| {
            StateError::Inconsistent("a chain with tokens has no cfg/epoch".into())
        })?;
        epoch.fee_pool = epoch
            .fee_pool
            .checked_add(pooled)
            .ok_or(ExecError::AmountOverflow)?;
        ctx.put(&key, &epoch);
    }
    Ok(())
}

// Genesis.

/// The token part of the genesis state: `cfg/tokens`, `cfg/supply`, `cfg/epoch`, and each
/// allocation's balance and outputs. Genesis outputs are created by the "transaction" whose id
/// is the genesis digest (the context's), numbered in allocation order. Stake allocations are
/// the staking module's to write; `cfg/supply` counts them.
pub(crate) fn genesis_writes<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    tokens: &TokenGenesis,
) -> Result<(), ExecError> {
    ctx.put(&keys::token_config(), &TokenConfig::from(tokens));
    ctx.put(
        &keys::supply(),
        &Supply {
            genesis: tokens.initial_supply(),
            minted: 0,
            burned: 0,
        },
    );
    ctx.put(
        &keys::epoch_state(),
        &crate::values::EpochState {
            epoch: 0,
            fee_pool: 0,
        },
    );
    let genesis_tx: TxId = ctx.tx_id;
    let mut index = 0u16;
    for allocation in &tokens.allocations {
        credit(ctx, &allocation.address, allocation.balance)?;
        for value in &allocation.outputs {
            let point = OutPoint {
                tx: genesis_tx,
                index,
            };
            create_output(ctx, point, *value, Lock::Key(allocation.address), None)?;
            // Validation caps genesis outputs at 65 536, so only the last one wraps.
            index = index.wrapping_add(1);
        }
    }
    Ok(())
}
