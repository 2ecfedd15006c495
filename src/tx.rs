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
    Client, Sent, Signer, StateQuery, WaitPolicy,
    build::{self, ExpirySpec},
    keys,
};
use medchain_state::values::AccessLogEntry;
use medchain_types::{
    AccessPayload, Address, ChainId, ConsentId, ConsentPayload, ContentHash, Expiry, OrgName,
    OrgState, Payload, PrivateKey, RecordId, Signature, StakePayload, TokenPayload,
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
    let mut fields = Map::new();
    fields.insert("org".into(), json!(name));
    fields.insert("member".into(), json!(member));
    print_endorsement(
        key,
        connection,
        |chain_id, endorser| build::endorse_join(chain_id, name, member, endorser),
        fields,
        &format!("endorsement for {member} to join {name:?}"),
        |endorser, endorsement| {
            format!(
                "the new member runs: medchain org join --name {name:?} --endorser {endorser} --endorsement {endorsement} --key THEIR_KEY"
            )
        },
    )
}

/// Signs an endorsement with the key file `key` for the chain of `connection` and prints it;
/// sends nothing. `--json` prints `fields` with the `endorser` and the `endorsement`; text
/// prints `title`, the endorsement, and the command the endorsed party runs next (`next`, given
/// the endorser's address and the endorsement).
pub fn print_endorsement(
    key: &Path,
    connection: &Connection,
    sign: impl FnOnce(&ChainId, &PrivateKey) -> Signature,
    mut fields: Map<String, Value>,
    title: &str,
    next: impl FnOnce(&Address, &str) -> String,
) -> Result<(), CliError> {
    let chain_id = connect::genesis(connection)?.chain_id;
    let endorser = connect::key(key)?;
    let endorser_address = keys::address_of(&endorser);
    let endorsement = build::signature_hex(&sign(&chain_id, &endorser));
    if connection.json {
        fields.insert("endorser".into(), json!(endorser_address));
        fields.insert("endorsement".into(), json!(endorsement));
        output::print_json(&fields);
    } else {
        println!("{title}:\n{endorsement}");
        println!("{}", next(&endorser_address, &endorsement));
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
                |client, signer| {
                    Ok(build::release_record(
                        client.light.chain_id(),
                        signer.key(),
                        patient,
                        &bytes,
                    )
                    .payload)
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
            reward,
            send,
        } => {
            let spec = expiry_spec(&expiry)?;
            let resolved = Cell::new(None);
            run(
                &send,
                |client, signer| {
                    let height = connect::finalized_height(client)?;
                    let expiry = spec.resolve(height, connect::now_ms())?;
                    resolved.set(Some(expiry));
                    let grant = build::grant_consent(
                        signer.address(),
                        grantee,
                        ids::records(client, &records)?,
                        purpose.into(),
                        expiry,
                    )?;
                    Ok(with_reward(grant, reward))
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
                None => client.consent_reward(key.address(), &record, purpose)?,
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

/// A consent grant naming the access reward its patient asks (S1-tokens); `None` leaves the
/// chain's default.
fn with_reward(mut grant: Payload, reward: Option<u64>) -> Payload {
    if let Payload::Consent(ConsentPayload::Grant { reward: asked, .. }) = &mut grant {
        *asked = reward;
    }
    grant
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
    payload: impl FnOnce(&Client, &Signer) -> Result<Payload, CliError>,
    extras: impl FnOnce(&Sent) -> Map<String, Value>,
) -> Result<Status, CliError> {
    let client = connect::client(&send.connection)?;
    let signer = connect::signer(&client, send)?;
    let payload = payload(&client, &signer)?;
    let fee = signer.fee_for(&payload);
    let explain = |error| connect::explain(&client, error);
    check_affordable(&client, &signer, &payload, fee)?;
    let kind = payload.kind();
    let requested = match &payload {
        Payload::Access(AccessPayload::Request { record, .. }) => Some(*record),
        _ => None,
    };
    let policy = WaitPolicy {
        timeout: Duration::from_secs(send.timeout),
        ..WaitPolicy::default()
    };
    let sent = signer
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
        output::print_json(&outcome_json(kind, &sent, fee, decision, extras));
    } else {
        print_outcome(kind, &sent, fee, decision, &extras);
    }
    let denied = decision.is_some_and(|entry| !entry.decision.is_allowed());
    Ok(if denied { Status::Denied } else { Status::Ok })
}

/// Refuses, before anything is signed, a transaction the sender's verified balance cannot pay:
/// its fee (a transfer pays it from what it spends) and what it moves out of the balance. On a
/// chain without tokens nothing is owed and nothing is read.
fn check_affordable(
    client: &Client,
    signer: &Signer,
    payload: &Payload,
    fee: u64,
) -> Result<(), CliError> {
    let owed = match payload {
        Payload::Token(TokenPayload::Transfer { from_balance, .. }) => *from_balance,
        Payload::Token(TokenPayload::EscrowOpen { amount, .. })
        | Payload::Stake(StakePayload::Delegate { amount, .. }) => amount.saturating_add(fee),
        _ => fee,
    };
    if owed == 0 {
        return Ok(());
    }
    let balance = client
        .read(&StateQuery::account(signer.address()))
        .map_err(|error| connect::explain(client, error))?
        .value
        .map_or(0, |account| account.balance);
    if balance >= owed {
        return Ok(());
    }
    Err(CliError::Unaffordable(format!(
        "{} needs {owed} from your balance (the fee {fee} included), which holds {balance}.\n{}",
        payload.kind(),
        crate::token::how_to_fund(signer.address())
    )))
}

fn outcome_json(
    kind: &str,
    sent: &Sent,
    fee: u64,
    decision: Option<&AccessLogEntry>,
    extras: Map<String, Value>,
) -> Value {
    let mut outcome = json!({
        "tx": sent.id,
        "kind": kind,
        "nonce": sent.nonce,
        "fee": fee,
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
    fee: u64,
    decision: Option<&AccessLogEntry>,
    extras: &Map<String, Value>,
) {
    // A chain without tokens charges nothing: no fee to mention.
    let fee = match fee {
        0 => String::new(),
        fee => format!(", fee {fee}"),
    };
    println!("{kind} {} accepted (nonce {}{fee})", sent.id, sent.nonce);
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
