//! `medchain research …`: the researcher's and the regulator's side of the research market
//! (S4-flow, S4-exclusive) — register a circuit, publish, fund and refund a study, list and
//! show studies, see a study's enrolments, read an enrolled record through t of the study's
//! cloud proxies (checked against its delivery tag), acknowledge or dispute a delivery, and
//! resolve a dispute (regulator). The flows live in `medchain-research`; this module parses and prints.

use crate::{
    circuit::CircuitDir,
    cli::{Acting, Connection, Decision, ListArgs, PublishArgs, Reading, ResearchCommand, Sending},
    connect,
    error::CliError,
    exit::Status,
    ids, list, output, sharing, time, tx,
};
use medchain_api::IdPrefix;
use medchain_client::{
    Client, HistoryQuery, ListQuery, StateQuery,
    build::{self, ExpirySpec},
};
use medchain_cloud::CloudClient;
use medchain_research::researcher;
use medchain_state::values::{Enrolment, Settlement, Study};
use medchain_types::{
    Address, Hash32, Payload, Purpose,
    research::{EnrolmentId, StudyId},
};
use serde_json::{Map, Value, json};
use std::{fmt::Display, fs, path::Path};

/// Runs a `medchain research` command.
pub fn run(command: ResearchCommand) -> Result<Status, CliError> {
    match command {
        ResearchCommand::RegisterCircuit { circuit, send } => register_circuit(&circuit, &send),
        ResearchCommand::Publish(args) => publish(&args),
        ResearchCommand::Fund {
            study,
            amount,
            send,
        } => tx::run(
            &send,
            |client, _| Ok(build::fund_study(study_id(client, &study)?, amount)?),
            |_| amount_extras(amount),
        ),
        ResearchCommand::List(args) => studies(&args).map(|()| Status::Ok),
        ResearchCommand::Show { study, reading } => show(&study, &reading).map(|()| Status::Ok),
        ResearchCommand::Results { study, list } => results(&study, &list).map(|()| Status::Ok),
        ResearchCommand::Read {
            enrolment,
            out,
            acting,
        } => read(&enrolment, &out, &acting).map(|()| Status::Ok),
        ResearchCommand::Refund { study, send } => tx::run(
            &send,
            |client, _| Ok(build::refund_study(study_id(client, &study)?)),
            tx::no_extras,
        ),
        ResearchCommand::Acknowledge { enrolment, send } => tx::run(
            &send,
            |client, _| {
                Ok(build::acknowledge_enrolment(enrolment_id(
                    client, &enrolment,
                )?))
            },
            tx::no_extras,
        ),
        ResearchCommand::Dispute { enrolment, send } => tx::run(
            &send,
            |client, _| Ok(build::dispute_enrolment(enrolment_id(client, &enrolment)?)),
            tx::no_extras,
        ),
        ResearchCommand::Resolve {
            enrolment,
            decision,
            send,
        } => tx::run(
            &send,
            |client, _| {
                Ok(build::resolve_dispute(
                    enrolment_id(client, &enrolment)?,
                    decision == Decision::Pay,
                ))
            },
            tx::no_extras,
        ),
    }
}

/// The study id `prefix` starts (a study's id is its `research.publish` transaction's).
pub fn study_id(client: &Client, prefix: &IdPrefix) -> Result<StudyId, CliError> {
    Ok(StudyId::from(ids::tx(client, prefix)?))
}

/// The enrolment id `prefix` starts (its `research.enrol` transaction's).
fn enrolment_id(client: &Client, prefix: &IdPrefix) -> Result<EnrolmentId, CliError> {
    Ok(EnrolmentId::from(ids::tx(client, prefix)?))
}

/// The study `id`, verified; proven absent is "not found".
pub fn study(client: &Client, id: &StudyId) -> Result<Study, CliError> {
    sharing::read(client, &StateQuery::study(id))?.ok_or_else(|| {
        CliError::NotFound(format!(
            "no study {id} is published (proven absent); `medchain research list` shows them"
        ))
    })
}

fn amount_extras(amount: u64) -> Map<String, Value> {
    let mut extras = Map::new();
    extras.insert("amount".into(), json!(amount));
    extras
}

/// `medchain research register-circuit`: the regulator files the verifying key `medchain zk
/// setup` wrote, with the proving key's digest.
fn register_circuit(dir: &Path, send: &Sending) -> Result<Status, CliError> {
    let circuit = CircuitDir::new(dir);
    let payload = register_circuit_payload(&circuit)?;
    let id = circuit_id(&circuit)?;
    tx::run(
        send,
        |_, _| Ok(payload),
        |_| {
            let mut extras = Map::new();
            extras.insert("circuit".into(), json!(id.to_string()));
            extras
        },
    )
}

/// The regulator's registration of the circuit in `circuit` (S4-flow).
pub fn register_circuit_payload(circuit: &CircuitDir) -> Result<Payload, CliError> {
    let manifest = circuit.manifest()?;
    let (_, verifying_key) = circuit.verifying_key()?;
    let proving_key_digest = hash32(&manifest.proving_key_digest, circuit)?;
    Ok(build::register_circuit(
        &manifest.schema,
        verifying_key,
        proving_key_digest,
    )?)
}

/// The circuit's id on chain: its verifying key's digest.
pub fn circuit_id(circuit: &CircuitDir) -> Result<Hash32, CliError> {
    hash32(&circuit.manifest()?.circuit, circuit)
}

fn hash32(text: &str, circuit: &CircuitDir) -> Result<Hash32, CliError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| CliError::BadFile {
        path: circuit.path().join("circuit.json"),
        reason: format!("{text:?} is not a SHA-256 digest; run `medchain zk setup` again"),
    })?;
    Ok(Hash32::from(bytes))
}

/// `medchain research publish`.
fn publish(args: &PublishArgs) -> Result<Status, CliError> {
    let connection = &args.send.connection;
    let circuit = match &args.circuit {
        Some(dir) => CircuitDir::new(dir),
        None => CircuitDir::beside(&connect::genesis_file(connection)?),
    };
    let circuit_id = circuit_id(&circuit)?;
    let schema = zk::Schema::clinical_v1();
    let predicate = zk::Predicate::parse(&args.predicate, &schema)
        .map_err(|e| CliError::Usage(format!("--predicate: {e}")))?;
    let urls = match args.proxies.is_empty() {
        false => args.proxies.clone(),
        true => devnet_proxies(connection)?,
    };
    let deadline_ms = match args.deadline {
        ExpirySpec::For(duration) => connect::now_ms()
            .saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
        ExpirySpec::AtTimeMs(at) => at,
        ExpirySpec::AtHeight(_) | ExpirySpec::InBlocks(_) => {
            return Err(CliError::Usage(
                "--deadline is a duration or a date, not a block height".into(),
            ));
        }
    };
    let study_id = std::cell::Cell::new(None);
    tx::run(
        &args.send,
        |client, signer| {
            if sharing::read(client, &StateQuery::circuit(&circuit_id))?.is_none() {
                return Err(CliError::Usage(format!(
                    "the circuit {} in {} is not registered on this chain: the regulator runs `medchain research register-circuit --circuit {}` first",
                    circuit_id,
                    circuit.path().display(),
                    circuit.path().display()
                )));
            }
            let proxies = registered_proxies(client, &urls)?;
            let threshold = match args.threshold {
                Some(threshold) => threshold,
                None => u8::try_from(proxies.len() / 2 + 1).unwrap_or(u8::MAX),
            };
            let researcher_key = medchain_research::derive::researcher_key(signer.key());
            Ok(build::publish_study(build::StudyContract {
                title: args.title.clone(),
                purpose: Purpose::Research,
                circuit: circuit_id,
                predicate: predicate.to_bytes(),
                reward: args.reward,
                max_participants: args.participants,
                deadline_ms,
                dispute_window_ms: u64::try_from(args.dispute_window.as_millis())
                    .unwrap_or(u64::MAX),
                exclusive: args.exclusive,
                researcher_key: researcher_key.public().to_vec(),
                proxies,
                threshold,
            })?)
        },
        |sent| {
            let id = StudyId::from(sent.id);
            study_id.set(Some(id));
            let mut extras = Map::new();
            extras.insert("study".into(), json!(id));
            extras.insert("deadline".into(), json!(time::both(deadline_ms)));
            extras
        },
    )
    .inspect(|_| {
        if let (Some(id), false) = (study_id.get(), connection.json) {
            println!(
                "next: fund its pool, `medchain research fund --study {id} --amount N` (each enrolment earns {} from it: its fee at once, the rest once you acknowledge its record)",
                args.reward
            );
        }
    })
}

/// The URLs of the cloud proxies `medchain devnet` runs beside the genesis document
/// (`cloud-<i>/url`).
fn devnet_proxies(connection: &Connection) -> Result<Vec<String>, CliError> {
    let genesis = connect::genesis_file(connection)?;
    let dir = genesis.parent().unwrap_or(Path::new("."));
    let urls: Vec<String> = (1..=crate::init::CLOUD_PROXIES)
        .map(|i| crate::init::proxy_url_file(dir, i))
        .filter_map(|file| fs::read_to_string(file).ok())
        .map(|url| url.trim().to_string())
        .collect();
    if urls.is_empty() {
        return Err(CliError::Usage(
            "which cloud proxies serve the study? pass --proxy URL for each (the devnet's are found beside its genesis document once `medchain devnet` runs)".into(),
        ));
    }
    Ok(urls)
}

/// The chain addresses of the proxies at `urls`: each proxy says who it is, and the chain must
/// have it registered at that URL (verified).
fn registered_proxies(client: &Client, urls: &[String]) -> Result<Vec<Address>, CliError> {
    urls.iter()
        .map(|url| {
            let info = CloudClient::new(url)
                .and_then(|proxy| proxy.info())
                .map_err(|e| CliError::Usage(format!("the proxy at {url}: {e}")))?;
            let registered = sharing::read(client, &StateQuery::proxy(&info.proxy))?;
            match registered {
                Some(proxy) if proxy.url.as_str().trim_end_matches('/') == url.trim_end_matches('/') => {
                    Ok(info.proxy)
                }
                Some(proxy) => Err(CliError::Inconsistent(format!(
                    "the proxy at {url} says it is {}, which the chain registers at {}; use that URL",
                    info.proxy, proxy.url
                ))),
                None => Err(CliError::Usage(format!(
                    "the proxy at {url} ({}) is not registered on chain: it registers itself when `medchain cloud` starts with the key of an audited cloud organisation's member",
                    info.proxy
                ))),
            }
        })
        .collect()
}

/// `medchain research list`.
fn studies(args: &ListArgs) -> Result<(), CliError> {
    let page = list::fetch(args, &ListQuery::studies())?;
    let short = |text: &dyn Display| list::shorten(text, args.long);
    list::show(
        &page,
        args,
        "studies",
        &[
            "STUDY",
            "TITLE",
            "REWARD",
            "ENROLLED",
            "POOL",
            "DEADLINE",
            "EXCLUSIVE",
        ],
        |id: &StudyId, study: &Study| {
            vec![
                short(id),
                study.title.0.clone(),
                study.reward.to_string(),
                format!("{}/{}", study.enrolled, study.max_participants),
                study.pooled.to_string(),
                time::utc(study.deadline_ms),
                if study.exclusive { "yes" } else { "no" }.to_string(),
            ]
        },
    );
    Ok(())
}

/// `medchain research show`.
fn show(prefix: &IdPrefix, reading: &Reading) -> Result<(), CliError> {
    let client = connect::client(&reading.connection)?;
    let id = study_id(&client, prefix)?;
    let verified = client
        .read(&StateQuery::study(&id))
        .map_err(|error| connect::explain(&client, error))?;
    let study = verified
        .value
        .ok_or_else(|| CliError::NotFound(format!("no study {id} is published (proven absent)")))?;
    let predicate = predicate_text(&study);
    if reading.connection.json {
        output::print_json(&json!({
            "study": id,
            "value": output::to_json(&study),
            "predicate_text": predicate,
            "verified": output::finality_json(&verified.at),
        }));
        return Ok(());
    }
    println!("study       {id}");
    println!("title       {}", study.title.0);
    println!("researcher  {} ({})", study.researcher, study.org);
    println!("predicate   {predicate}");
    println!("circuit     {}", study.circuit);
    println!(
        "reward      {} per patient; pool {} ({} more enrolments)",
        study.reward,
        study.pooled,
        study.pooled.checked_div(study.reward).unwrap_or(0)
    );
    println!(
        "enrolled    {} of {}",
        study.enrolled, study.max_participants
    );
    println!("deadline    {}", time::both(study.deadline_ms));
    println!(
        "disputes    until {} (deadline + dispute window); owed to enrolments {}",
        time::both(study.deadline_ms.saturating_add(study.dispute_window_ms)),
        study.owed
    );
    println!(
        "exclusive   {}",
        if study.exclusive {
            "yes: a record enrolled here is sold to no other study (S4-exclusive)"
        } else {
            "no"
        }
    );
    println!(
        "proxies     {} of {}: {}",
        study.threshold,
        study.proxies.len(),
        study
            .proxies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "verified against finalized {}",
        output::block_phrase(&verified.at)
    );
    Ok(())
}

/// A study's predicate in words: its clauses (OR-groups AND-ed together) and none-of clauses.
fn predicate_text(study: &Study) -> String {
    match zk::Predicate::from_bytes(&study.predicate.0) {
        Ok(predicate) => format!(
            "{} clauses in {} groups (all groups must hold), {} none-of clauses, over {}",
            predicate.clause_count(),
            predicate.groups().len(),
            predicate.exclusions().len(),
            predicate.schema_id()
        ),
        Err(error) => format!("(undecodable: {error})"),
    }
}

/// `medchain research results`: a study's enrolments, each with how many proxies
/// re-encrypted it.
fn results(prefix: &IdPrefix, args: &ListArgs) -> Result<(), CliError> {
    let client = connect::client(&args.connection)?;
    let id = study_id(&client, prefix)?;
    let study = study(&client, &id)?;
    let page = client
        .list(
            &ListQuery::study_enrolments(&id),
            args.from,
            usize::from(args.limit),
        )
        .map_err(|error| connect::explain(&client, error))?;
    let short = |text: &dyn Display| list::shorten(text, args.long);
    let reencrypted = |enrolment: &EnrolmentId| {
        client
            .history(&HistoryQuery::reencryptions(enrolment), 0, 1)
            .map_or_else(|_| "?".to_string(), |log| log.total.to_string())
    };
    list::show(
        &page,
        args,
        &format!(
            "enrolments in study {} \"{}\" (threshold {} of {} proxies)",
            short(&id),
            study.title.0,
            study.threshold,
            study.proxies.len()
        ),
        &[
            "ENROLMENT",
            "BLOCK",
            "ADVANCE",
            "OWED",
            "SETTLEMENT",
            "PAID TO",
            "RE-ENCRYPTED BY",
        ],
        |enrolment_id: &EnrolmentId, enrolment: &Enrolment| {
            vec![
                short(enrolment_id),
                enrolment.height.to_string(),
                enrolment.advance.to_string(),
                enrolment.owed.to_string(),
                settlement_text(enrolment.settlement).to_string(),
                short(&enrolment.payee),
                format!("{} proxies", reencrypted(enrolment_id)),
            ]
        },
    );
    Ok(())
}

/// Where an enrolment's owed reward stands, in a word.
fn settlement_text(settlement: Settlement) -> &'static str {
    match settlement {
        Settlement::Pending => "pending",
        Settlement::Acknowledged => "acknowledged",
        Settlement::Disputed => "disputed",
        Settlement::Resolved { pay: true } => "resolved: paid",
        Settlement::Resolved { pay: false } => "resolved: returned",
        Settlement::Claimed => "claimed",
    }
}

/// `medchain research read`.
fn read(prefix: &IdPrefix, out: &Path, acting: &Acting) -> Result<(), CliError> {
    sharing::must_not_exist(out)?;
    let client = connect::client(&acting.connection)?;
    let key = connect::key(&acting.key)?;
    let enrolment = enrolment_id(&client, prefix)?;
    let read = researcher::read(&client, &key, &enrolment).map_err(CliError::from)?;
    sharing::write_new(out, &read.plaintext, 0o600)?;
    if acting.connection.json {
        output::print_json(&json!({
            "enrolment": enrolment,
            "file": out.display().to_string(),
            "bytes": read.plaintext.len(),
            "delivery_verified": true,
            "used": read.used,
            "failed": read.failed.iter().map(|f| json!({"proxy": f.proxy, "reason": f.reason})).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!(
        "{}: {} bytes, decrypted from {} verified re-encryptions (proxies {})",
        out.display(),
        read.plaintext.len(),
        read.used.len(),
        read.used
            .iter()
            .map(|proxy| list::shorten(proxy, false))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for failure in &read.failed {
        println!(
            "proxy {} failed and was skipped: {}",
            failure.proxy, failure.reason
        );
    }
    println!(
        "delivery verified: this is the record the patient proved facts about; acknowledge it so the patient is paid: medchain research acknowledge --key {} --enrolment {enrolment}",
        acting.key.display()
    );
    Ok(())
}
