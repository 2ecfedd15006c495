//! `medchain query …`: every answer is verified against a finalized block before it is shown;
//! a failed verification is an error, never a warning.

use crate::{cli::QueryCommand, connect, error::CliError, ids, output};
use medchain_client::{Client, StateQuery, TxOutcome, Verified, VerifiedBlock};
use medchain_state::StateValue;
use serde::Serialize;
use serde_json::{Value, json};

/// Runs a query.
pub fn run(command: QueryCommand) -> Result<(), CliError> {
    match command {
        QueryCommand::Status(connection) => status(&connect::client(&connection)?, connection.json),
        QueryCommand::Org { name, connection } => state(&connection, &StateQuery::org(&name)),
        QueryCommand::Account {
            address,
            connection,
        } => state(&connection, &StateQuery::account(&address)),
        QueryCommand::Member {
            address,
            connection,
        } => state(&connection, &StateQuery::membership(&address)),
        QueryCommand::Record { id, connection } => {
            let id = ids::record(&connect::client(&connection)?, &id)?;
            state(&connection, &StateQuery::record(&id))
        }
        QueryCommand::Storage { record, connection } => {
            let record = ids::record(&connect::client(&connection)?, &record)?;
            state(&connection, &StateQuery::storage(&record))
        }
        QueryCommand::Consent { id, connection } => {
            let id = ids::consent(&connect::client(&connection)?, &id)?;
            state(&connection, &StateQuery::consent(&id))
        }
        QueryCommand::Grant {
            grantee,
            record,
            purpose,
            connection,
        } => {
            let record = ids::record(&connect::client(&connection)?, &record)?;
            state(
                &connection,
                &StateQuery::grant(&grantee, &record, purpose.into()),
            )
        }
        QueryCommand::AccessLog {
            patient,
            from,
            limit,
            connection,
        } => access_log(
            &connect::client(&connection)?,
            &patient,
            from,
            limit,
            connection.json,
        ),
        QueryCommand::Tx { id, connection } => {
            let client = connect::client(&connection)?;
            tx(&client, &ids::tx(&client, &id)?, connection.json)
        }
        QueryCommand::Block { height, connection } => {
            let block = connect::client(&connection)?.block(height)?;
            print_block(&block, connection.json);
            Ok(())
        }
    }
}

fn state<V: StateValue + Serialize>(
    connection: &crate::cli::Connection,
    query: &StateQuery<V>,
) -> Result<(), CliError> {
    let verified = connect::client(connection)?.read(query)?;
    print_verified(&verified, connection.json);
    Ok(())
}

fn print_verified<V: Serialize>(verified: &Verified<V>, as_json: bool) {
    let value = verified.value.as_ref().map(output::to_json);
    if as_json {
        output::print_json(
            &json!({ "value": value, "verified": output::finality_json(&verified.at) }),
        );
        return;
    }
    match &value {
        Some(value) => output::print_json(value),
        None => println!("not found (absence proven)"),
    }
    println!(
        "proof verified against finalized {}",
        output::block_phrase(&verified.at)
    );
}

fn status(client: &Client, as_json: bool) -> Result<(), CliError> {
    let status = client.node.status()?;
    let height = connect::finalized_height(client)?;
    let block = client.block(height)?;
    if as_json {
        output::print_json(&json!({
            "chain_id": status.chain_id,
            "node": client.node.url(),
            "mempool_size": status.mempool_size,
            "validators": status.validators.len(),
            "latest": output::finality_json(&block.at),
        }));
    } else {
        println!("chain {} at {}", status.chain_id, client.node.url());
        println!("latest finalized {}", output::block_phrase(&block.at));
        println!("state root {}", hex::encode(block.at.header.state_root));
        println!(
            "{} validators, {} transactions pending on this node",
            status.validators.len(),
            status.mempool_size
        );
    }
    Ok(())
}

fn print_block(block: &VerifiedBlock, as_json: bool) {
    let header = &block.at.header;
    if as_json {
        output::print_json(&json!({
            "header": {
                "height": header.height,
                "digest": hex::encode(block.at.digest),
                "parent": hex::encode(header.parent),
                "timestamp_ms": header.timestamp_ms,
                "proposer": header.proposer,
                "tx_root": hex::encode(header.tx_root),
                "state_root": hex::encode(header.state_root),
            },
            "tx_ids": block.tx_ids,
            "verified": output::finality_json(&block.at),
        }));
        return;
    }
    println!("block {} {}", header.height, hex::encode(block.at.digest));
    println!("parent     {}", hex::encode(header.parent));
    println!("time (ms)  {}", header.timestamp_ms);
    println!("proposer   {}", header.proposer);
    println!("state root {}", hex::encode(header.state_root));
    println!("{} transactions", block.tx_ids.len());
    for id in &block.tx_ids {
        println!("  {id}");
    }
    println!("verified: finalized {}", output::block_phrase(&block.at));
}

fn tx(client: &Client, id: &medchain_types::TxId, as_json: bool) -> Result<(), CliError> {
    let outcome = client.transaction(id)?;
    let (status, confirmed) = match &outcome {
        TxOutcome::Pending => ("pending", None),
        TxOutcome::Unknown => ("unknown", None),
        TxOutcome::Finalized(confirmed) => ("finalized", Some(confirmed.as_ref())),
    };
    if as_json {
        output::print_json(&json!({
            "tx": id,
            "status": status,
            "receipt": confirmed.map(|c| output::to_json(&c.receipt)),
            "verified": confirmed.map(|c| output::finality_json(&c.block.at)),
        }));
        return Ok(());
    }
    println!("transaction {id}: {status}");
    if let Some(confirmed) = confirmed {
        println!(
            "in finalized {}, position {}",
            output::block_phrase(&confirmed.block.at),
            confirmed.receipt.index
        );
        output::print_json(&confirmed.receipt.events);
    }
    Ok(())
}

/// Lists a patient's access log; each entry shown is verified on its own against a
/// finalized block (the page listing itself is only the node's account of how many exist).
fn access_log(
    client: &Client,
    patient: &medchain_types::Address,
    from: u64,
    limit: usize,
    as_json: bool,
) -> Result<(), CliError> {
    let page = client.node.access_log(patient, from, limit)?;
    let end = page.total.min(from.saturating_add(limit as u64));
    let mut entries = Vec::new();
    for seq in from..end {
        let verified = client.read(&StateQuery::access_log_entry(patient, seq))?;
        let entry = verified.value.ok_or_else(|| {
            CliError::Usage(format!(
                "the node lists {} entries but proves entry {seq} absent",
                page.total
            ))
        })?;
        entries.push((seq, entry, verified.at));
    }
    if as_json {
        let entries: Vec<Value> = entries
            .iter()
            .map(|(seq, entry, at)| json!({ "seq": seq, "entry": output::to_json(entry), "verified": output::finality_json(at) }))
            .collect();
        output::print_json(&json!({ "patient": patient, "total": page.total, "entries": entries }));
        return Ok(());
    }
    println!("access log of {patient}: {} entries", page.total);
    for (seq, entry, _) in &entries {
        println!(
            "#{seq} block {} requester {} record {} purpose {}: {}",
            entry.height,
            entry.requester,
            entry.record,
            medchain_client::purpose_name(entry.purpose),
            output::decision_line(&entry.decision)
        );
    }
    if let Some((_, _, at)) = entries.last() {
        println!(
            "{} entries verified, the last against finalized {}",
            entries.len(),
            output::block_phrase(at)
        );
    }
    Ok(())
}
