//! `medchain stake …`: delegated proof of stake (S1-dpos). Candidates are node keys of audited
//! hospitals, endorsed by a member; token holders bond balance to their pools; at each epoch's
//! last block the candidates with the most stake become the next epoch's validators.

use crate::{
    cli::{Connection, ListArgs, PoolArgs, StakeCommand},
    connect,
    error::CliError,
    exit::Status,
    list, output, tx,
};
use medchain_client::{
    ListQuery, StateQuery,
    build::{self, BuildError},
};
use medchain_state::values::Candidate;
use medchain_types::{Address, OrgName, Payload};
use serde_json::{Map, Value, json};
use std::{fmt::Display, path::Path};

/// Runs a `medchain stake` command.
pub fn run(command: StakeCommand) -> Result<Status, CliError> {
    match command {
        StakeCommand::Candidates { list } => candidates(&list).map(|()| Status::Ok),
        StakeCommand::Delegate(pool) => to_pool(pool, build::delegate),
        StakeCommand::Undelegate(pool) => to_pool(pool, build::undelegate),
        StakeCommand::Withdraw { candidate, send } => tx::run(
            &send,
            |_, _| Ok(build::withdraw(candidate)),
            |_| pool_extras(&candidate, None),
        ),
        StakeCommand::Register {
            org,
            p2p,
            endorser,
            endorsement,
            send,
        } => tx::run(
            &send,
            |_, _| Ok(build::register_candidate(org, p2p, endorser, endorsement)),
            tx::no_extras,
        ),
        StakeCommand::Endorse {
            org,
            candidate,
            key,
            connection,
        } => endorse(&org, &candidate, &key, &connection).map(|()| Status::Ok),
    }
}

/// Sends a bond to, or an unbonding from, a candidate's pool.
fn to_pool(
    pool: PoolArgs,
    payload: fn(Address, u64) -> Result<Payload, BuildError>,
) -> Result<Status, CliError> {
    let PoolArgs {
        candidate,
        amount,
        send,
    } = pool;
    tx::run(
        &send,
        |_, _| Ok(payload(candidate, amount)?),
        |_| pool_extras(&candidate, Some(amount)),
    )
}

fn pool_extras(candidate: &Address, amount: Option<u64>) -> Map<String, Value> {
    let mut extras = Map::new();
    extras.insert("candidate".into(), json!(candidate));
    if let Some(amount) = amount {
        extras.insert("amount".into(), json!(amount));
    }
    extras
}

/// Signs a candidate endorsement for the node's operator; sends nothing.
fn endorse(
    org: &OrgName,
    candidate: &Address,
    key: &Path,
    connection: &Connection,
) -> Result<(), CliError> {
    let mut fields = Map::new();
    fields.insert("org".into(), json!(org));
    fields.insert("candidate".into(), json!(candidate));
    tx::print_endorsement(
        key,
        connection,
        |chain_id, endorser| build::endorse_candidate(chain_id, org, candidate, endorser),
        fields,
        &format!("endorsement of {candidate} as a validator candidate of {org:?}"),
        |endorser, endorsement| {
            format!(
                "the node's operator runs: medchain stake register --key NODE-KEY --org {org:?} --p2p HOST:PORT --endorser {endorser} --endorsement {endorsement}"
            )
        },
    )
}

/// `medchain stake candidates`: the candidates with their pools, marked when they validate the
/// epoch of the page's block, whose set is read (and verified) at that same block.
fn candidates(args: &ListArgs) -> Result<(), CliError> {
    let client = connect::client(&args.connection)?;
    let explain = |error| connect::explain(&client, error);
    let page = client
        .list(&ListQuery::candidates(), args.from, usize::from(args.limit))
        .map_err(explain)?;
    let height = page.at.header.height;
    // The block after the page's runs in this epoch: its validators are the current ones.
    let epoch = client.light.epoch_of(height.saturating_add(1));
    let set = client
        .read(&StateQuery::validator_set(epoch).at_height(height))
        .map_err(explain)?;
    let validators: Vec<Address> = set
        .value
        .map(|set| set.validators.iter().map(|entry| entry.key).collect())
        .unwrap_or_default();
    if args.connection.json {
        let candidates: Vec<Value> = page
            .entries
            .iter()
            .map(|entry| {
                json!({
                    "seq": entry.seq,
                    "candidate": entry.id,
                    "validator": validators.contains(&entry.id),
                    "pool": output::to_json(&entry.value),
                })
            })
            .collect();
        output::print_json(&json!({
            "epoch": epoch,
            "validators": validators,
            "validators_verified": output::finality_json(&set.at),
            "total": page.total,
            "from": page.from,
            "candidates": candidates,
            "verified": output::finality_json(&page.at),
        }));
        return Ok(());
    }
    println!(
        "epoch {epoch}: {} validators (marked *), verified at finalized {}",
        validators.len(),
        output::block_phrase(&set.at)
    );
    let short = |text: &dyn Display| list::shorten(text, args.long);
    list::show(
        &page,
        args,
        "validator candidates",
        &["CANDIDATE", "ORG", "BONDED", "UNBONDING", "STATE", "P2P"],
        |address: &Address, candidate: &Candidate| {
            vec![
                format!(
                    "{}{}",
                    short(address),
                    if validators.contains(address) {
                        " *"
                    } else {
                        ""
                    }
                ),
                candidate
                    .org
                    .as_ref()
                    .map_or_else(|| "(genesis)".into(), ToString::to_string),
                candidate.bonded_tokens.to_string(),
                candidate.unbonding_tokens.to_string(),
                if candidate.jailed { "jailed" } else { "active" }.into(),
                candidate
                    .p2p
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string),
            ]
        },
    );
    Ok(())
}
