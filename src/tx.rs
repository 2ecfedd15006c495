//! Commands that sign and send a transaction: build the payload with `medchain-client`'s
//! builders, send it with a verified nonce, wait for verified finality, print the outcome.

use crate::{
    cli::{
        AccessCommand, Connection, ConsentCommand, ExpiryArgs, OrgCommand, OrgStateArgs,
        RecordCommand, Sending,
    },
    connect,
    error::CliError,
    exit::Status,
    ids, list, output, time,
};
use medchain_client::{
    Client, Sent, WaitPolicy,
    build::{self, ExpirySpec},
    keys,
};
use medchain_state::values::AccessLogEntry;
use medchain_types::{
    AccessPayload, Address, ConsentId, ContentHash, Expiry, OrgName, OrgState, Payload, PrivateKey,
    RecordId,
};
use serde_json::{Map, Value, json};
use std::{cell::Cell, path::Path, time::Duration};

/// `medchain org …`.
pub fn org(command: OrgCommand) -> Result<Status, CliError> {
    match command {
        OrgCommand::Register { name, kind, send } => run(
            &send,
            |_, _| Ok(build::register_org(name, kind.into())),
            no_extras,
        ),
        OrgCommand::Approve(args) => set_state(args, OrgState::Audited),
        OrgCommand::Suspend(args) => set_state(args, OrgState::Suspended),
        OrgCommand::Reinstate(args) => set_state(args, OrgState::Audited),
        OrgCommand::Endorse {
            name,
            member,
            key,
            connection,
        } => endorse(&name, &member, &key, &connection).map(|()| Status::Ok),
        OrgCommand::Join {
            name,
            endorser,
            endorsement,
            send,
        } => run(
            &send,
            |_, _| Ok(build::join_org(name, endorser, endorsement)),
            no_extras,
        ),
        OrgCommand::List(args) => list::orgs(&args).map(|()| Status::Ok),
        OrgCommand::Members { name, list } => list::members(&name, &list).map(|()| Status::Ok),
    }
}

/// Signs a join endorsement (S2-register) and prints it for the new member; sends nothing.
fn endorse(
    name: &OrgName,
    member: &Address,
    key: &Path,
    connection: &Connection,
) -> Result<(), CliError> {
    let chain_id = connect::genesis(connection)?.chain_id;
    let endorser = connect::key(key)?;
    let endorser_address = keys::address_of(&endorser);
    let endorsement =
        build::signature_hex(&build::endorse_join(&chain_id, name, member, &endorser));
    if connection.json {
        output::print_json(&json!({
            "org": name, "member": member, "endorser": endorser_address, "endorsement": endorsement,
        }));
    } else {
        println!("endorsement for {member} to join {name:?}:\n{endorsement}");
        println!(
            "the new member runs: medchain org join --name {name:?} --endorser {endorser_address} --endorsement {endorsement} --key THEIR_KEY"
        );
    }
    Ok(())
}

fn set_state(args: OrgStateArgs, state: OrgState) -> Result<Status, CliError> {
    let OrgStateArgs { name, send } = args;
    run(
        &send,
        |_, _| Ok(build::set_org_state(name, state)),
        no_extras,
    )
}

/// `medchain record …`.
pub fn record(command: RecordCommand) -> Result<Status, CliError> {
    match command {
        RecordCommand::Release {
            patient,
            file,
            send,
        } => {
            let bytes = std::fs::read(&file).map_err(CliError::io(&file))?;
            run(
                &send,
                |client, key| {
                    Ok(
                        build::release_record(client.light.chain_id(), key, patient, &bytes)
                            .payload,
                    )
                },
                |sent| {
                    let mut extras = Map::new();
                    extras.insert("record".into(), json!(RecordId::from(sent.id)));
                    extras.insert("record_hash".into(), json!(ContentHash::of(&bytes)));
                    extras
                },
            )
        }
        RecordCommand::Store {
            record,
            blob,
            location,
            send,
        } => {
            let bytes = std::fs::read(&blob).map_err(CliError::io(&blob))?;
            run(
                &send,
                |client, _| {
                    let record = ids::record(client, &record)?;
                    Ok(build::store_pointer(record, &bytes, location))
                },
                no_extras,
            )
        }
        RecordCommand::List { whose, list } => list::records(&whose, &list).map(|()| Status::Ok),
    }
}

/// `medchain consent …`.
pub fn consent(command: ConsentCommand) -> Result<Status, CliError> {
    match command {
        ConsentCommand::Grant {
            grantee,
            records,
            purpose,
            expiry,
            send,
        } => {
            let spec = expiry_spec(&expiry)?;
            let resolved = Cell::new(None);
            run(
                &send,
                |client, key| {
                    let height = connect::finalized_height(client)?;
                    let expiry = spec.resolve(height, connect::now_ms())?;
                    resolved.set(Some(expiry));
                    Ok(build::grant_consent(
                        &keys::address_of(key),
                        grantee,
                        ids::records(client, &records)?,
                        purpose.into(),
                        expiry,
                    )?)
                },
                |sent| {
                    let mut extras = Map::new();
                    extras.insert("consent".into(), json!(ConsentId::from(sent.id)));
                    if let Some(expiry) = resolved.get() {
                        extras.insert("expires".into(), json!(expiry_words(expiry)));
                    }
                    extras
                },
            )
        }
        ConsentCommand::Revoke { consent, send } => run(
            &send,
            |client, _| Ok(build::revoke_consent(ids::consent(client, &consent)?)),
            no_extras,
        ),
        ConsentCommand::List { whose, list } => list::consents(&whose, &list).map(|()| Status::Ok),
    }
}

/// `medchain access …`.
pub fn access(command: AccessCommand) -> Result<Status, CliError> {
    let AccessCommand::Request {
        record,
        purpose,
        max_reward,
        send,
    } = command;
    let bound = Cell::new(0);
    run(
        &send,
        |client, key| {
            let record = ids::record(client, &record)?;
            let purpose = purpose.into();
            let max_reward = match max_reward {
                Some(max_reward) => max_reward,
                None => client.consent_reward(&keys::address_of(key), &record, purpose)?,
            };
            bound.set(max_reward);
            Ok(build::request_access(record, purpose, max_reward))
        },
        |_| {
            let mut extras = Map::new();
            extras.insert("max_reward".into(), json!(bound.get()));
            extras
        },
    )
}

fn expiry_spec(args: &ExpiryArgs) -> Result<ExpirySpec, CliError> {
    let spec = args
        .valid_for
        .map(ExpirySpec::For)
        .or(args.until.or(args.until_ms).map(ExpirySpec::AtTimeMs))
        .or(args.for_blocks.map(ExpirySpec::InBlocks))
        .or(args.until_height.map(ExpirySpec::AtHeight));
    spec.ok_or_else(|| {
        CliError::Usage(
            "give one of --for, --until, --until-ms, --for-blocks, --until-height".into(),
        )
    })
}

/// A consent's expiry in words, with the raw value.
fn expiry_words(expiry: Expiry) -> String {
    match expiry {
        Expiry::AtTime(millis) => format!("at {}", time::both(millis)),
        Expiry::AtHeight(height) => format!("before block {height}"),
    }
}

pub fn no_extras(_: &Sent) -> Map<String, Value> {
    Map::new()
}

/// Builds the payload, sends it as the key's account, waits unless `--no-wait`, and prints
/// the outcome with the command's extra facts (record id, consent id, …).
pub fn run(
    send: &Sending,
    payload: impl FnOnce(&Client, &PrivateKey) -> Result<Payload, CliError>,
    extras: impl FnOnce(&Sent) -> Map<String, Value>,
) -> Result<Status, CliError> {
    let client = connect::client(&send.connection)?;
    let key = connect::key(&send.key)?;
    let payload = payload(&client, &key)?;
    let explain = |error| connect::explain(&client, error);
    let kind = payload.kind();
    let requested = match &payload {
        Payload::Access(AccessPayload::Request { record, .. }) => Some(*record),
        _ => None,
    };
    let policy = WaitPolicy {
        timeout: Duration::from_secs(send.timeout),
        ..WaitPolicy::default()
    };
    let sent = client
        .signer(key)
        .send(payload, (!send.no_wait).then_some(&policy))
        .map_err(explain)?;
    let extras = extras(&sent);
    // An access decision is shown from the patient's proven access log, not the receipt.
    let decision = match (requested, &sent.confirmed) {
        (Some(record), Some(_)) => Some(
            client
                .proven_access_decision(&sent.id, &record)
                .map_err(explain)?,
        ),
        _ => None,
    };
    let decision = decision.as_ref().and_then(|entry| entry.value.as_ref());
    if send.connection.json {
        output::print_json(&outcome_json(kind, &sent, decision, extras));
    } else {
        print_outcome(kind, &sent, decision, &extras);
    }
    let denied = decision.is_some_and(|entry| !entry.decision.is_allowed());
    Ok(if denied { Status::Denied } else { Status::Ok })
}

fn outcome_json(
    kind: &str,
    sent: &Sent,
    decision: Option<&AccessLogEntry>,
    extras: Map<String, Value>,
) -> Value {
    let mut outcome = json!({
        "tx": sent.id,
        "kind": kind,
        "nonce": sent.nonce,
        "finalized": sent.confirmed.as_ref().map(|c| {
            let mut at = output::finality_json(&c.block.at);
            at["index"] = json!(c.receipt.index);
            at
        }),
        "events": sent.confirmed.as_ref().map(|c| output::to_json(&c.receipt.events)),
        "decision": decision.map(|entry| output::to_json(&entry.decision)),
    });
    if let Value::Object(fields) = &mut outcome {
        fields.extend(extras);
    }
    outcome
}

fn print_outcome(
    kind: &str,
    sent: &Sent,
    decision: Option<&AccessLogEntry>,
    extras: &Map<String, Value>,
) {
    println!("{kind} {} accepted (nonce {})", sent.id, sent.nonce);
    for (name, value) in extras {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        println!("{}: {text}", name.replace('_', " "));
    }
    let Some(confirmed) = &sent.confirmed else {
        println!(
            "not waiting for finality; follow it with `medchain query tx {}`",
            sent.id
        );
        return;
    };
    println!("finalized in {}", output::block_phrase(&confirmed.block.at));
    if let Some(entry) = decision {
        println!(
            "{} (verified in the patient's access log)",
            output::decision_line(&entry.decision)
        );
    }
}
