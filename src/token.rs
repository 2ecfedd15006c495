//! `medchain token …`: an account's tokens (S1-tokens, S1-utxo) — its balance and coins, payments
//! with change, and its history — every figure verified against a finalized block.
//!
//! An account holds tokens two ways: its **balance** (`acct/<address>`), which pays every
//! transaction's fee, stakes and access rewards, and **coins**, unspent outputs locked to its key
//! (`held/<address>` is their sum). A payment spends whole coins, the largest first, and sends
//! the rest back as change; what it spends beyond the outputs is its fee, which must be exact.

use crate::{
    cli::{Connection, Holder, ListArgs, SendArgs, TokenCommand},
    connect,
    error::CliError,
    exit::Status,
    list, output, tx,
};
use medchain_client::{
    Client, HistoryQuery, Signer, StateQuery, build,
    wallet::{self, WalletError},
};
use medchain_state::values::{LedgerEntry, LedgerKind};
use medchain_types::{
    Address, Payload, limits,
    token::{Lock, LockTime, Payee, TxOutput},
};
use serde_json::{Map, json};
use std::{fmt, str::FromStr};

/// Runs a `medchain token` command.
pub fn run(command: TokenCommand) -> Result<Status, CliError> {
    match command {
        TokenCommand::Balance { holder, connection } => {
            balance(&holder, &connection).map(|()| Status::Ok)
        }
        TokenCommand::Send(args) => send(&args),
        TokenCommand::Fund { amount, send } => tx::run(
            &send,
            |client, signer| {
                let to_self = Payee::Balance(*signer.address());
                pay_from_coins(client, signer, to_self, amount)
            },
            |_| amount_extras(amount, None),
        ),
        TokenCommand::History { holder, list } => history(&holder, &list).map(|()| Status::Ok),
    }
}

/// `medchain token balance`: the proven balance and coins, each with the block it was
/// verified at.
fn balance(holder: &Holder, connection: &Connection) -> Result<(), CliError> {
    let address = connect::address_or_key(holder.address, holder.key.as_deref(), "--address")?;
    let client = connect::client(connection)?;
    let explain = |error| connect::explain(&client, error);
    let account = client
        .read(&StateQuery::account(&address))
        .map_err(explain)?;
    let held = client.read(&StateQuery::held(&address)).map_err(explain)?;
    let (spendable, _) = client.unspent_outputs(&address).map_err(explain)?;
    let balance = account.value.as_ref().map_or(0, |account| account.balance);
    let coins = held.value.unwrap_or(0);
    let spendable_total: u64 = spendable.iter().map(|coin| coin.value).sum();
    if connection.json {
        let outputs: Vec<_> = spendable
            .iter()
            .map(|coin| json!({ "outpoint": coin.outpoint.to_string(), "value": coin.value }))
            .collect();
        output::print_json(&json!({
            "address": address,
            "balance": balance,
            "nonce": account.value.as_ref().map_or(0, |account| account.nonce),
            "coins": coins,
            "spendable": spendable_total,
            "outputs": outputs,
            "verified": output::finality_json(&account.at),
            "coins_verified": output::finality_json(&held.at),
        }));
        return Ok(());
    }
    println!("address  {address}");
    println!("balance  {balance}  (pays fees, stakes and access rewards)");
    println!(
        "coins    {coins}  ({} spendable now in {} outputs{})",
        spendable_total,
        spendable.len(),
        if spendable_total < coins {
            "; the rest is time-locked"
        } else {
            ""
        }
    );
    println!(
        "balance verified against finalized {}",
        output::block_phrase(&account.at)
    );
    if held.at.header.height != account.at.header.height {
        println!(
            "coins verified against finalized {}",
            output::block_phrase(&held.at)
        );
    }
    if balance == 0 && coins == 0 {
        println!("{}", how_to_fund(&address));
    }
    Ok(())
}

/// `medchain token send`.
fn send(args: &SendArgs) -> Result<Status, CliError> {
    let to = payee(args)?;
    let amount = args.amount;
    let recipient = args.to.map(|to| to.to_string());
    tx::run(
        &args.send,
        |client, signer| {
            if args.from_balance {
                pay_from_balance(signer, to, amount)
            } else {
                pay_from_coins(client, signer, to, amount)
            }
        },
        |_| amount_extras(amount, recipient),
    )
}

/// What a payment creates for its recipient: a balance credit, or a coin locked to one key
/// or to k of m keys, possibly time-locked.
fn payee(args: &SendArgs) -> Result<Payee, CliError> {
    let unlock = match (args.unlock_height, args.unlock_at) {
        (Some(height), _) => Some(LockTime::Height(height)),
        (None, Some(at_ms)) => Some(LockTime::TimeMs(at_ms)),
        (None, None) => None,
    };
    if let Some(multisig) = &args.multisig {
        return Ok(Payee::Output {
            lock: multisig.lock(),
            unlock,
        });
    }
    let to = args
        .to
        .ok_or_else(|| CliError::Usage("pay whom? pass --to ADDRESS (or --multisig)".into()))?;
    Ok(match args.to_balance {
        true => Payee::Balance(to),
        false => Payee::Output {
            lock: Lock::Key(to),
            unlock,
        },
    })
}

/// A transfer of `amount` to `to` from the signer's coins, with change and the exact fee.
fn pay_from_coins(
    client: &Client,
    signer: &Signer,
    to: Payee,
    amount: u64,
) -> Result<Payload, CliError> {
    let owner = *signer.address();
    let (unspent, _) = client
        .unspent_outputs(&owner)
        .map_err(|error| connect::explain(client, error))?;
    wallet::pay(&unspent, owner, to, amount, |payload| {
        signer.fee_for(payload)
    })
    .map_err(|error| unaffordable(client, &owner, amount, error))
}

/// A transfer of `amount` to `to` from the signer's account balance: the fee comes from the
/// balance too (the transfer spends `amount + fee` of it and creates `amount`).
fn pay_from_balance(signer: &Signer, to: Payee, amount: u64) -> Result<Payload, CliError> {
    let output = vec![TxOutput { value: amount, to }];
    // The fee does not depend on the amount spent (a fixed-size field), so one probe prices it.
    let fee = signer.fee_for(&build::transfer(Vec::new(), amount, output.clone())?);
    let spent = amount
        .checked_add(fee)
        .ok_or_else(|| CliError::Usage("the amount and the fee overflow".into()))?;
    // Whether the balance covers it is checked, with every other debit, before sending.
    Ok(build::transfer(Vec::new(), spent, output)?)
}

/// A wallet's refusal, explained with what the account holds and how to get more.
fn unaffordable(client: &Client, owner: &Address, amount: u64, error: WalletError) -> CliError {
    match error {
        WalletError::InsufficientFunds { available, .. } => {
            let balance = client
                .read(&StateQuery::account(owner))
                .ok()
                .and_then(|account| account.value)
                .map_or(0, |account| account.balance);
            CliError::Unaffordable(format!(
                "your spendable coins hold {available}, less than the {amount} to pay plus its fee. Your account balance ({balance}) pays fees, not payments: send from it with --from-balance.\n{}",
                how_to_fund(owner)
            ))
        }
        WalletError::TooManyInputs { needed } => CliError::Usage(format!(
            "paying {needed} needs more than {} of your coins: consolidate first (`medchain token send --to YOUR-ADDRESS` of your largest coins), or send less",
            limits::MAX_TRANSFER_INPUTS
        )),
        WalletError::Build(error) => error.into(),
        other => CliError::Usage(other.to_string()),
    }
}

/// How an account gets tokens.
pub fn how_to_fund(address: &Address) -> String {
    format!(
        "to get tokens, a funded account sends some: `medchain token send --key FUNDED.key --to {address} --amount N --to-balance` (on the devnet the regulator and .devnet/accounts/*.key are funded); coins you hold move to your balance with `medchain token fund --amount N`"
    )
}

fn amount_extras(amount: u64, to: Option<String>) -> Map<String, serde_json::Value> {
    let mut extras = Map::new();
    extras.insert("amount".into(), json!(amount));
    if let Some(to) = to {
        extras.insert("to".into(), json!(to));
    }
    extras
}

/// `medchain token history`.
fn history(holder: &Holder, args: &ListArgs) -> Result<(), CliError> {
    let address = connect::address_or_key(holder.address, holder.key.as_deref(), "--address")?;
    let client = connect::client(&args.connection)?;
    let page = client
        .history(
            &HistoryQuery::token_history(&address),
            args.from,
            usize::from(args.limit),
        )
        .map_err(|error| connect::explain(&client, error))?;
    let short = |text: &dyn fmt::Display| list::shorten(text, args.long);
    list::show(
        &page,
        args,
        &format!("token history of {}", short(&address)),
        &["BLOCK", "WHAT", "AMOUNT", "COUNTERPARTY", "TX"],
        |entry: &LedgerEntry, _| {
            vec![
                entry.height.to_string(),
                ledger_kind(entry.kind).to_string(),
                signed_amount(entry),
                entry
                    .counterparty
                    .map_or_else(String::new, |party| short(&party)),
                short(&entry.tx),
            ]
        },
    );
    Ok(())
}

/// A history entry's kind in words.
fn ledger_kind(kind: LedgerKind) -> &'static str {
    match kind {
        LedgerKind::Received => "received",
        LedgerKind::Sent => "sent",
        LedgerKind::AccessReward => "access reward",
        LedgerKind::AccessPaid => "access paid",
        LedgerKind::EpochReward => "epoch reward",
        LedgerKind::EscrowLocked => "escrow locked",
        LedgerKind::EscrowSettled => "escrow settled",
        LedgerKind::Staked => "staked",
        LedgerKind::Unstaked => "unstaked",
        LedgerKind::Slashed => "slashed",
        LedgerKind::StudyFunded => "study funded",
        LedgerKind::StudyReward => "study reward (advance)",
        LedgerKind::StudyRefund => "study refund",
        LedgerKind::StudyRewardClaimed => "study reward claimed",
    }
}

/// `+N` for what came in, `-N` for what went out.
fn signed_amount(entry: &LedgerEntry) -> String {
    let outgoing = matches!(
        entry.kind,
        LedgerKind::Sent
            | LedgerKind::AccessPaid
            | LedgerKind::EscrowLocked
            | LedgerKind::Staked
            | LedgerKind::Slashed
            | LedgerKind::StudyFunded
    );
    format!("{}{}", if outgoing { "-" } else { "+" }, entry.amount)
}

/// `--multisig K:ADDR,ADDR,…`: a coin any K of the listed keys spend together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multisig {
    threshold: u8,
    keys: Vec<Address>,
}

impl Multisig {
    /// The lock of such a coin.
    fn lock(&self) -> Lock {
        Lock::Multi {
            threshold: self.threshold,
            keys: self.keys.clone(),
        }
    }
}

impl FromStr for Multisig {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = "expected K:ADDR,ADDR,… (K of the listed keys spend the coin together)";
        let (threshold, keys) = text.split_once(':').ok_or(usage)?;
        let threshold: u8 = threshold
            .trim()
            .parse()
            .map_err(|_| format!("{threshold:?} is not a number of keys; {usage}"))?;
        let keys = keys
            .split(',')
            .map(|key| {
                key.trim()
                    .parse::<Address>()
                    .map_err(|e| format!("{key:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() || keys.len() > limits::MAX_MULTISIG_KEYS {
            return Err(format!(
                "a joint coin names 1 to {} keys, not {}",
                limits::MAX_MULTISIG_KEYS,
                keys.len()
            ));
        }
        if keys
            .iter()
            .enumerate()
            .any(|(i, key)| keys[..i].contains(key))
        {
            return Err("a key is listed twice".into());
        }
        if threshold == 0 || usize::from(threshold) > keys.len() {
            return Err(format!(
                "K must be 1 to the {} keys listed, not {threshold}",
                keys.len()
            ));
        }
        Ok(Self { threshold, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_types::TxId;

    fn address() -> Address {
        medchain_client::keys::address_of(&medchain_client::keys::generate())
    }

    #[test]
    fn multisig_parses_k_of_the_listed_keys_and_refuses_the_impossible() {
        let (a, b, c) = (address(), address(), address());
        let parsed: Multisig = format!("2:{a},{b}, {c}").parse().unwrap();
        assert_eq!(
            parsed.lock(),
            Lock::Multi {
                threshold: 2,
                keys: vec![a, b, c]
            }
        );
        for bad in [
            format!("{a},{b}"),
            format!("0:{a},{b}"),
            format!("3:{a},{b}"),
            format!("x:{a}"),
            format!("1:{a},{a}"),
            "1:not-an-address".to_string(),
            format!(
                "1:{}",
                (1..=6)
                    .map(|_| address().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ] {
            assert!(bad.parse::<Multisig>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn history_amounts_carry_their_direction() {
        let entry = |kind| LedgerEntry {
            tx: TxId::of_encoded(b"tx"),
            height: 7,
            kind,
            amount: 50,
            counterparty: None,
        };
        assert_eq!(signed_amount(&entry(LedgerKind::AccessReward)), "+50");
        assert_eq!(signed_amount(&entry(LedgerKind::AccessPaid)), "-50");
        assert_eq!(signed_amount(&entry(LedgerKind::Received)), "+50");
        assert_eq!(signed_amount(&entry(LedgerKind::Staked)), "-50");
        for kind in LedgerKind::ALL {
            assert!(!ledger_kind(kind).is_empty());
        }
    }
}
