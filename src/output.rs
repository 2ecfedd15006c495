//! How results are shown: sentences for people, JSON (`--json`) for scripts. Every verified
//! answer names the block it was verified at, with its height and its time (UTC beside the
//! raw unix milliseconds), for `query` and `verify` alike.

use crate::time;
use medchain_client::{Finality, FinalizedHeader, Proven, VerifiedBlock};
use medchain_types::AccessDecision;
use serde::Serialize;
use serde_json::{Value, json};

/// Prints `value` as pretty JSON, with a readable twin beside every time field.
pub fn print_json(value: &impl Serialize) {
    let mut value = to_json(value);
    time::annotate(&mut value);
    match serde_json::to_string_pretty(&value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("error: cannot render JSON: {error}"),
    }
}

/// `value` as JSON, or `null` if it cannot be rendered.
pub fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// "block N (TIME; certificate signed by k/n validators)".
pub fn block_phrase(at: &FinalizedHeader) -> String {
    let when = time::utc(at.header.timestamp_ms);
    match at.finality {
        Finality::Genesis => format!(
            "block {} ({when}; the genesis block, recomputed from your genesis document)",
            at.header.height
        ),
        Finality::Certificate {
            signers,
            validators,
        } => format!(
            "block {} ({when}; certificate signed by {signers}/{validators} validators)",
            at.header.height
        ),
    }
}

/// The verification facts as JSON.
pub fn finality_json(at: &FinalizedHeader) -> Value {
    let (kind, signers, validators) = match at.finality {
        Finality::Genesis => ("genesis", None, None),
        Finality::Certificate {
            signers,
            validators,
        } => ("certificate", Some(signers), Some(validators)),
    };
    json!({
        "height": at.header.height,
        "timestamp_ms": at.header.timestamp_ms,
        "block": hex::encode(at.digest),
        "state_root": hex::encode(at.header.state_root),
        "finality": kind,
        "signers": signers,
        "validators": validators,
    })
}

/// "ALLOWED …" or "DENIED: …".
pub fn decision_line(decision: &AccessDecision) -> String {
    match decision {
        AccessDecision::Allowed { consent: Some(id) } => format!("ALLOWED under consent {id}"),
        AccessDecision::Allowed { consent: None } => {
            "ALLOWED: you are the record's patient".to_string()
        }
        AccessDecision::Denied { reason } => format!("DENIED: {}", reason.describe()),
        AccessDecision::BreakGlass { emergency } => {
            format!("BREAK-GLASS under emergency request {emergency}")
        }
    }
}

/// What an answer proved, as JSON; `total` is the node's count of access-log entries.
pub fn proven_json(proven: &Proven, total: Option<u64>) -> Value {
    match proven {
        Proven::State { question, verified } => json!({
            "question": question,
            "value": verified.value,
            "verified": finality_json(&verified.at),
        }),
        Proven::AccessLog { patient, entries } => {
            let entries: Vec<Value> = entries
                .iter()
                .map(|(seq, verified)| {
                    json!({
                        "seq": seq,
                        "entry": verified.value.as_ref().map(to_json),
                        "verified": finality_json(&verified.at),
                    })
                })
                .collect();
            json!({ "patient": patient, "total": total, "entries": entries })
        }
        Proven::Block(block) => block_json(block),
        Proven::Transaction(confirmed) => json!({
            "tx": confirmed.receipt.tx,
            "status": "finalized",
            "receipt": to_json(&confirmed.receipt),
            "verified": finality_json(&confirmed.block.at),
        }),
    }
}

fn block_json(block: &VerifiedBlock) -> Value {
    let header = &block.at.header;
    json!({
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
        "verified": finality_json(&block.at),
    })
}

/// Prints what an answer proved, for people; `total` as in [`proven_json`].
pub fn print_proven(proven: &Proven, total: Option<u64>) {
    match proven {
        Proven::State { question, verified } => match &verified.value {
            Some(value) => {
                print_json(value);
                println!(
                    "proof verified against finalized {}",
                    block_phrase(&verified.at)
                );
            }
            None => println!(
                "not found: {question} is proven absent at finalized {}",
                block_phrase(&verified.at)
            ),
        },
        Proven::AccessLog { patient, entries } => {
            let total = total.unwrap_or(entries.len() as u64);
            println!("access log of {patient}: {total} entries");
            for (seq, verified) in entries {
                let Some(entry) = &verified.value else {
                    println!("#{seq}: proven absent");
                    continue;
                };
                println!(
                    "#{seq} block {} at {} requester {} record {} purpose {}: {}",
                    entry.height,
                    time::utc(entry.timestamp_ms),
                    entry.requester,
                    entry.record,
                    medchain_client::purpose_name(entry.purpose),
                    decision_line(&entry.decision)
                );
            }
            if let Some(at) = proven.at() {
                println!(
                    "{} entries verified, the last against finalized {}",
                    entries.len(),
                    block_phrase(at)
                );
            }
        }
        Proven::Block(block) => print_block(block),
        Proven::Transaction(confirmed) => {
            println!("transaction {}: finalized", confirmed.receipt.tx);
            println!(
                "in finalized {}, position {}",
                block_phrase(&confirmed.block.at),
                confirmed.receipt.index
            );
            print_json(&confirmed.receipt.events);
        }
    }
}

fn print_block(block: &VerifiedBlock) {
    let header = &block.at.header;
    println!("block {} {}", header.height, hex::encode(block.at.digest));
    println!("parent     {}", hex::encode(header.parent));
    println!("time       {}", time::both(header.timestamp_ms));
    println!("proposer   {}", header.proposer);
    println!("state root {}", hex::encode(header.state_root));
    println!("{} transactions", block.tx_ids.len());
    for id in &block.tx_ids {
        println!("  {id}");
    }
    println!("verified: finalized {}", block_phrase(&block.at));
}
