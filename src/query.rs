//! `medchain query …` and `medchain verify`: every answer is verified against a finalized
//! block before it is shown (a failed verification is an error, never a warning), shown with
//! its block's height and time, checked for freshness, and optionally saved whole so
//! `medchain verify FILE` can check it again offline.

use crate::{
    cli::{QueryCommand, Reading, VerifyArgs},
    connect,
    error::CliError,
    exit::Status,
    fresh::{self, CrossChecked, Policy},
    ids, output, time,
};
use medchain_client::{
    Answer, Checked, Client, ClientError, Proven, Question, SavedAnswer, TxOutcome,
};
use medchain_types::{Address, TxId};
use serde_json::json;
use std::{fs, path::Path};

/// Runs a query.
pub fn run(command: QueryCommand) -> Result<Status, CliError> {
    let (reading, request) = match command {
        QueryCommand::Status(reading) => return status(&reading),
        QueryCommand::Org { name, reading } => (reading, Request::State(Question::Org { name })),
        QueryCommand::Pkg(reading) => (reading, Request::State(Question::Pkg)),
        QueryCommand::Account { address, reading } => {
            (reading, Request::State(Question::Account { address }))
        }
        QueryCommand::Member { address, reading } => {
            (reading, Request::State(Question::Member { address }))
        }
        QueryCommand::Record { id, reading } => {
            let id = ids::record(&connect::client(&reading.connection)?, &id)?;
            (reading, Request::State(Question::Record { id }))
        }
        QueryCommand::Storage { record, reading } => {
            let record = ids::record(&connect::client(&reading.connection)?, &record)?;
            (reading, Request::State(Question::Storage { record }))
        }
        QueryCommand::Consent { id, reading } => {
            let id = ids::consent(&connect::client(&reading.connection)?, &id)?;
            (reading, Request::State(Question::Consent { id }))
        }
        QueryCommand::Grant {
            grantee,
            record,
            purpose,
            reading,
        } => {
            let record = ids::record(&connect::client(&reading.connection)?, &record)?;
            (
                reading,
                Request::State(Question::Grant {
                    grantee,
                    record,
                    purpose: purpose.into(),
                }),
            )
        }
        QueryCommand::AccessLog {
            patient,
            from,
            limit,
            reading,
        } => (
            reading,
            Request::AccessLog {
                patient,
                from,
                limit,
            },
        ),
        QueryCommand::Tx { id, reading } => {
            let id = ids::tx(&connect::client(&reading.connection)?, &id)?;
            (reading, Request::Transaction(id))
        }
        QueryCommand::Block { height, reading } => (reading, Request::Block(height)),
    };
    answer(&reading, request)
}

/// Asks a state question, verifies, shows (and saves) the answer like `medchain query`: for
/// commands of other groups that read one state value (`licence show`, `identity show`).
pub fn state(reading: &Reading, question: Question) -> Result<Status, CliError> {
    answer(reading, Request::State(question))
}

fn answer(reading: &Reading, request: Request) -> Result<Status, CliError> {
    let client = connect::client(&reading.connection)?;
    let reply = ask(&client, request).map_err(|error| connect::explain(&client, error))?;
    Ok(match reply {
        Reply::Answered { checked, total } => {
            show(&client, reading, &checked, total)?;
            found(&checked.proven)
        }
        Reply::Unfinalized { id, outcome } => {
            print_unfinalized(&id, &outcome, reading.connection.json);
            match outcome {
                TxOutcome::Unknown => Status::NotFound,
                TxOutcome::Dropped(_) => Status::Dropped,
                _ => Status::Ok,
            }
        }
    })
}

/// What a query asks.
enum Request {
    State(Question),
    AccessLog {
        patient: Address,
        from: u64,
        limit: usize,
    },
    Block(u64),
    Transaction(TxId),
}

/// What it got.
enum Reply {
    /// A verified answer (and, for an access log, the node's count of entries).
    Answered {
        checked: Box<Checked>,
        total: Option<u64>,
    },
    /// A transaction not (or not yet) in a finalized block: nothing to verify.
    Unfinalized { id: TxId, outcome: TxOutcome },
}

fn ask(client: &Client, request: Request) -> Result<Reply, ClientError> {
    let answered = |checked, total| Reply::Answered {
        checked: Box::new(checked),
        total,
    };
    Ok(match request {
        Request::State(question) => answered(client.ask(question)?, None),
        Request::AccessLog {
            patient,
            from,
            limit,
        } => {
            let (total, checked) = client.ask_access_log(&patient, from, limit)?;
            answered(checked, Some(total))
        }
        Request::Block(height) => answered(client.ask_block(height)?, None),
        Request::Transaction(id) => match client.transaction(&id)? {
            TxOutcome::Finalized(confirmed) => answered(
                Checked {
                    answer: Answer::Transaction(confirmed.evidence.clone()),
                    proven: Proven::Transaction(confirmed),
                },
                None,
            ),
            outcome => Reply::Unfinalized { id, outcome },
        },
    })
}

/// The exit status of a verified answer: not found when it proves an absence.
fn found(proven: &Proven) -> Status {
    match proven {
        Proven::State { verified, .. } if verified.value.is_none() => Status::NotFound,
        _ => Status::Ok,
    }
}

/// Prints a verified answer with its freshness, and saves it if asked.
fn show(
    client: &Client,
    reading: &Reading,
    checked: &Checked,
    total: Option<u64>,
) -> Result<(), CliError> {
    if let Proven::AccessLog { entries, .. } = &checked.proven
        && let Some((seq, _)) = entries.iter().find(|(_, entry)| entry.value.is_none())
    {
        return Err(CliError::Inconsistent(format!(
            "the node lists {} entries but proves entry {seq} absent; ask another node",
            total.unwrap_or_default()
        )));
    }
    // Only answers about current state can be stale; a block or a receipt is history.
    let current_state = matches!(
        checked.proven,
        Proven::State { .. } | Proven::AccessLog { .. }
    );
    let (cross_checked, saved) = keep(client, reading, checked, current_state)?;
    if reading.connection.json {
        let mut shown = output::proven_json(&checked.proven, total);
        shown["freshness"] = cross_checked.as_ref().map(fresh::json).into();
        shown["saved"] = saved.map(|path| path.display().to_string()).into();
        output::print_json(&shown);
        return Ok(());
    }
    output::print_proven(&checked.proven, total);
    print_kept(cross_checked.as_ref(), saved);
    Ok(())
}

/// What `--cross-check` found (for an answer about current state) and where `--save` wrote
/// the answer.
pub type Kept<'a> = (Option<CrossChecked>, Option<&'a Path>);

/// Checks a verified answer's freshness if it is about current state (a live query must be
/// current: refused if too far behind) and saves it if asked.
pub fn keep<'a>(
    client: &Client,
    reading: &'a Reading,
    checked: &Checked,
    current_state: bool,
) -> Result<Kept<'a>, CliError> {
    let cross_checked = match checked.proven.at() {
        Some(at) if current_state => fresh::check(
            at,
            client.node.url(),
            &reading.freshness,
            &client.light,
            Policy::Refuse,
        )?,
        _ => None,
    };
    let saved = match &reading.save {
        Some(path) => Some(save(client, &checked.answer, path)?),
        None => None,
    };
    Ok((cross_checked, saved))
}

/// Prints what [`keep`] did, after the answer.
pub fn print_kept(cross_checked: Option<&CrossChecked>, saved: Option<&Path>) {
    if let Some(checked) = cross_checked {
        fresh::print(checked);
    }
    if let Some(path) = saved {
        println!(
            "answer saved to {}; check it again without a node: medchain verify {}",
            path.display(),
            path.display()
        );
    }
}

fn save<'a>(client: &Client, answer: &Answer, path: &'a Path) -> Result<&'a Path, CliError> {
    let saved = SavedAnswer::new(client, answer.clone(), connect::now_ms());
    let text = serde_json::to_string_pretty(&saved)
        .map_err(|e| CliError::io(path)(std::io::Error::other(e)))?;
    fs::write(path, text + "\n").map_err(CliError::io(path))?;
    Ok(path)
}

fn print_unfinalized(id: &TxId, outcome: &TxOutcome, as_json: bool) {
    let (status, detail) = match outcome {
        TxOutcome::Pending => ("pending", None),
        TxOutcome::Queued { waiting_for } => (
            "queued",
            Some(match waiting_for {
                Some(nonce) => format!("waiting for the sender's transaction with nonce {nonce}; it expires if that never comes"),
                None => "waiting for an earlier nonce of the sender".to_string(),
            }),
        ),
        TxOutcome::Dropped(dropped) => ("dropped", Some(format!("{} (it will never execute; sign and send it again if it is still wanted)", dropped.message))),
        TxOutcome::Unknown => ("unknown", Some("not known to this node: never submitted here, not gossiped yet, or dropped long ago; check the id, or ask another node".to_string())),
        TxOutcome::Finalized(_) => ("finalized", None),
    };
    if as_json {
        let dropped = match outcome {
            TxOutcome::Dropped(dropped) => Some(output::to_json(dropped)),
            _ => None,
        };
        output::print_json(&json!({
            "tx": id,
            "status": status,
            "detail": detail,
            "dropped": dropped,
            "receipt": null,
            "verified": null,
        }));
    } else {
        println!("transaction {id}: {status}");
        if let Some(detail) = detail {
            println!("{detail}");
        }
    }
}

/// `medchain query status`: the node's chain and its newest finalized block, verified.
fn status(reading: &Reading) -> Result<Status, CliError> {
    let client = connect::client(&reading.connection)?;
    let node_status = client.node.status()?;
    let newest = client
        .newest_certified()
        .map_err(|error| connect::explain(&client, error))?;
    let cross_checked = fresh::check(
        &newest.at,
        client.node.url(),
        &reading.freshness,
        &client.light,
        Policy::Refuse,
    )?;
    if let Some(path) = &reading.save {
        let answer = client.ask_block(newest.at.header.height)?.answer;
        save(&client, &answer, path)?;
    }
    if reading.connection.json {
        output::print_json(&json!({
            "chain_id": node_status.chain_id,
            "node": client.node.url(),
            "mempool_size": node_status.mempool_size,
            "validators": node_status.validators.len(),
            "latest": output::finality_json(&newest.at),
            "freshness": cross_checked.as_ref().map(fresh::json),
        }));
        return Ok(Status::Ok);
    }
    println!("chain {} at {}", node_status.chain_id, client.node.url());
    println!("latest finalized {}", output::block_phrase(&newest.at));
    println!("state root {}", hex::encode(newest.at.header.state_root));
    println!(
        "{} validators, {} transactions pending on this node",
        node_status.validators.len(),
        node_status.mempool_size
    );
    if let Some(checked) = &cross_checked {
        fresh::print(checked);
    }
    Ok(Status::Ok)
}

/// `medchain verify FILE`: a saved answer checked against the genesis alone.
pub fn verify(args: &VerifyArgs) -> Result<Status, CliError> {
    let text = fs::read_to_string(&args.file).map_err(CliError::io(&args.file))?;
    let saved: SavedAnswer = serde_json::from_str(&text).map_err(|e| {
        CliError::Inconsistent(format!(
            "{} is not a saved answer (write one with `medchain query … --save FILE`): {e}",
            args.file.display()
        ))
    })?;
    let light = connect::light(args.genesis.as_deref())?;
    let proven = saved.verify(&light).map_err(ClientError::from)?;
    let cross_checked = match proven.at() {
        Some(at) => fresh::check(at, &saved.node, &args.freshness, &light, Policy::Report)?,
        None => None,
    };
    if args.json {
        let mut shown = output::proven_json(&proven, None);
        shown["kind"] = json!(kind(&saved.answer));
        shown["node"] = json!(saved.node);
        shown["saved_at_ms"] = json!(saved.saved_at_ms);
        shown["freshness"] = cross_checked.as_ref().map(fresh::json).into();
        output::print_json(&shown);
        return Ok(Status::Ok);
    }
    println!(
        "{} verified offline against your genesis (chain {}); no node was contacted to check it",
        args.file.display(),
        light.chain_id()
    );
    println!(
        "saved from {} at {}",
        saved.node,
        time::both(saved.saved_at_ms)
    );
    output::print_proven(&proven, None);
    if let Some(at) = proven.at() {
        println!(
            "this proves the {} as of block {} ({}), not that it is still so: compare with the chain now with --cross-check URL",
            kind(&saved.answer).replace('_', " "),
            at.header.height,
            time::utc(at.header.timestamp_ms)
        );
    }
    if let Some(checked) = &cross_checked {
        fresh::print(checked);
    }
    Ok(Status::Ok)
}

fn kind(answer: &Answer) -> &'static str {
    match answer {
        Answer::State { .. } => "state_value",
        Answer::AccessLog { .. } => "access_log",
        Answer::Block { .. } => "block",
        Answer::Transaction(_) => "transaction",
    }
}
