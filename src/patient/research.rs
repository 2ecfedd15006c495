//! `medchain patient nullifier-key | studies | enrol-study`: the patient's side of the
//! research market (S4-flow, S4-exclusive).
//!
//! The patient's attested records are found from the chain (its record list and each record's
//! attestation, verified), their openings and bundles fetched from the hospitals' gateways and
//! opened with the patient's own enrolment keys; every predicate is evaluated here. The proof,
//! the one-time enrolment and the delivery to the proxies are `medchain_research::patient`'s.

use super::records;
use crate::{
    circuit::CircuitDir,
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    list, output, research,
    sharing::{self, Holder},
    time,
};
use medchain_api::IdPrefix;
use medchain_client::{Client, ListQuery, StateQuery};
use medchain_gateway::patient::HospitalRecords;
use medchain_research::patient::{self, EnrolRequest, HeldOpening};
use medchain_state::values::{Attestation, Record};
use medchain_types::{OrgName, RecordId};
use serde_json::json;
use std::{collections::HashMap, fs};
use zeroize::Zeroizing;

/// `medchain patient nullifier-key`.
pub fn nullifier_key(acting: &Acting) -> Result<Status, CliError> {
    let key = connect::key(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let filed = file_nullifier_key(&client, &key, acting)?;
    if acting.connection.json {
        output::print_json(&json!({ "filed": filed }));
    } else if filed.is_none() {
        println!("your nullifier key is on chain already; nothing to do");
    }
    Ok(Status::Ok)
}

/// Files the patient's nullifier key unless the chain holds it (saying so in text mode);
/// the transaction's id when one was filed.
pub fn file_nullifier_key(
    client: &Client,
    key: &medchain_types::PrivateKey,
    acting: &Acting,
) -> Result<Option<medchain_types::TxId>, CliError> {
    let filed = patient::ensure_nullifier_key(client, key, &sharing::wait_policy(acting))?;
    if let (Some(tx), false) = (&filed, acting.connection.json) {
        println!(
            "nullifier key filed on chain (research.nullifier_key {tx}): hospitals bind it into the commitments they attest for your records"
        );
    }
    Ok(filed)
}

/// One of the patient's records that a hospital attested, opened.
struct Attested {
    held: HeldOpening,
    /// The record's FHIR bundle, checked against hEMR.
    bundle: Zeroizing<Vec<u8>>,
}

/// The patient's attested records: those opened, and those that could not be, with why.
struct AttestedRecords {
    opened: Vec<Attested>,
    failed: Vec<(RecordId, String)>,
}

/// Every record of the patient's with an attested commitment, opened at its hospital.
fn attested_records(client: &Client, holder: &Holder) -> Result<AttestedRecords, CliError> {
    let patient = holder.address();
    let (listed, _) = sharing::all_pages(client, &ListQuery::patient_records(&patient))?;
    let wallet = &holder.material.wallet;
    let mut hospitals: HashMap<OrgName, Result<HospitalRecords<'_>, String>> = HashMap::new();
    let mut opened = Vec::new();
    let mut failed = Vec::new();
    for entry in &listed {
        let Some(attestation) = sharing::read(client, &StateQuery::attestation(&entry.id))? else {
            continue;
        };
        let hospital = hospitals
            .entry(entry.value.hospital.clone())
            .or_insert_with(|| records::hospital(client, wallet, patient, &entry.value.hospital));
        match open_attested(client, &entry.id, &entry.value, &attestation, hospital) {
            Ok(attested) => opened.push(attested),
            Err(reason) => failed.push((entry.id, reason)),
        }
    }
    Ok(AttestedRecords { opened, failed })
}

fn open_attested(
    client: &Client,
    id: &RecordId,
    record: &Record,
    attestation: &Attestation,
    hospital: &Result<HospitalRecords<'_>, String>,
) -> Result<Attested, String> {
    let hospital = hospital.as_ref().map_err(Clone::clone)?;
    let held = hospital.held(id).map_err(|e| CliError::from(e).report())?;
    let pointer = sharing::read(client, &StateQuery::storage(id)).map_err(|e| e.report())?;
    let bundle = hospital
        .open(held, record, pointer.as_ref())
        .map_err(|e| CliError::from(e).report())?;
    // The gateway serves the opening; it must commit to what the chain attests.
    let opening = hospital
        .fetch_opening(held, Some(attestation))
        .map_err(|e| CliError::from(e).report())?;
    Ok(Attested {
        held: HeldOpening {
            record: *id,
            opening,
        },
        bundle,
    })
}

/// `medchain patient studies`.
pub fn studies(acting: &Acting) -> Result<Status, CliError> {
    let holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let AttestedRecords {
        opened: attested,
        failed,
    } = attested_records(&client, &holder)?;
    let openings: Vec<HeldOpening> = attested.iter().map(|a| a.held.clone()).collect();
    let (listed, at) = sharing::all_pages(&client, &ListQuery::studies())?;
    let open_count = listed.len();
    let qualifying: Vec<_> = listed
        .into_iter()
        .filter_map(|entry| {
            patient::qualifying(entry.id, entry.value, &openings, at.header.timestamp_ms)
        })
        .collect();
    if acting.connection.json {
        let studies: Vec<_> = qualifying
            .iter()
            .map(|q| {
                json!({
                    "study": q.id,
                    "title": q.study.title.0,
                    "reward": q.study.reward,
                    "enrolled": q.study.enrolled,
                    "max_participants": q.study.max_participants,
                    "deadline_ms": q.study.deadline_ms,
                    "exclusive": q.study.exclusive,
                    "records": q.records,
                })
            })
            .collect();
        output::print_json(&json!({
            "attested_records": openings.len(),
            "unreadable": failed.iter().map(|(record, reason)| json!({"record": record, "error": reason})).collect::<Vec<_>>(),
            "studies": studies,
            "verified": output::finality_json(&at),
        }));
        return Ok(Status::Ok);
    }
    for (record, reason) in &failed {
        eprintln!("record {record} could not be opened: {reason}");
    }
    if openings.is_empty() {
        println!(
            "none of your records is attested yet: a hospital attests a record when its gateway releases it"
        );
        return Ok(Status::Ok);
    }
    println!(
        "{} of {} studies match your {} attested records (evaluated on this machine; nothing was sent):",
        qualifying.len(),
        open_count,
        openings.len()
    );
    for q in &qualifying {
        println!(
            "  {}  \"{}\"  reward {}  enrolled {}/{}  until {}{}  records {}",
            q.id,
            q.study.title.0,
            q.study.reward,
            q.study.enrolled,
            q.study.max_participants,
            time::utc(q.study.deadline_ms),
            if q.study.exclusive { "  exclusive" } else { "" },
            q.records
                .iter()
                .map(|r| list::shorten(r, false))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "studies verified against finalized {}",
        output::block_phrase(&at)
    );
    if let Some(first) = qualifying.first() {
        println!(
            "enrol with: medchain patient enrol-study --key {} --study {}",
            acting.key.display(),
            first.id
        );
    }
    Ok(Status::Ok)
}

/// `medchain patient claim`: the owed rest of the reward in a study, signed by the study's
/// one-time enrolment key (derived again from the patient's key).
pub fn claim(study: &IdPrefix, acting: &Acting) -> Result<Status, CliError> {
    let key = connect::key(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let study_id = research::study_id(&client, study)?;
    let claimed = patient::claim(&client, &key, &study_id, &sharing::wait_policy(acting))?;
    if acting.connection.json {
        output::print_json(&json!({
            "study": study_id,
            "enrolment": claimed.enrolment,
            "payee": claimed.payee,
            "amount": claimed.amount,
        }));
        return Ok(Status::Ok);
    }
    println!(
        "claimed {} for enrolment {} in study {study_id}: paid to {} (`medchain token balance --address {}`)",
        claimed.amount, claimed.enrolment, claimed.payee, claimed.payee
    );
    Ok(Status::Ok)
}

/// `medchain patient enrol-study`.
pub fn enrol_study(
    study: &IdPrefix,
    record: Option<&IdPrefix>,
    proving_key: Option<&std::path::Path>,
    acting: &Acting,
) -> Result<Status, CliError> {
    let holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let study_id = research::study_id(&client, study)?;
    let contract = research::study(&client, &study_id)?;
    let wanted = record
        .map(|prefix| crate::ids::record(&client, prefix))
        .transpose()?;
    let proving_key = match proving_key {
        Some(path) => path.to_path_buf(),
        None => CircuitDir::beside(&connect::genesis_file(&acting.connection)?).proving_key(),
    };
    let proving_bytes = fs::read(&proving_key).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => CliError::Usage(format!(
            "no proving key at {}: pass --proving-key with the file distributed with the study's circuit",
            proving_key.display()
        )),
        _ => CliError::Io {
            path: proving_key.clone(),
            source,
        },
    })?;
    let attested = attested_records(&client, &holder)?.opened;
    let predicate = zk::Predicate::from_bytes(&contract.predicate.0)
        .map_err(|e| CliError::Inconsistent(format!("the study's predicate: {e}")))?;
    let chosen = attested
        .iter()
        .filter(|a| wanted.is_none_or(|id| a.held.record == id))
        .find(|a| predicate.evaluate(a.held.opening.record()))
        .ok_or_else(|| match wanted {
            Some(id) => CliError::Usage(format!(
                "record {id} is not one of your attested records that satisfies this study's requirements; `medchain patient studies` lists the studies your records qualify for"
            )),
            None => CliError::Usage(
                "none of your attested records satisfies this study's requirements; `medchain patient studies` lists the studies they do".into(),
            ),
        })?;
    let receipt = patient::enrol(
        &client,
        &holder.material.key,
        &EnrolRequest {
            study: study_id,
            opening: &chosen.held.opening,
            bundle: &chosen.bundle,
            proving_key: &proving_bytes,
        },
        &sharing::wait_policy(acting),
    )?;
    let delivered = receipt
        .deliveries
        .iter()
        .filter(|d| d.outcome.is_ok())
        .count();
    if acting.connection.json {
        output::print_json(&json!({
            "study": study_id,
            "record": chosen.held.record,
            "enrolment": receipt.enrolment,
            "payee": receipt.payee,
            "advance": receipt.advance,
            "owed": receipt.owed,
            "delivered": delivered,
            "deliveries": receipt.deliveries.iter().map(|d| json!({
                "proxy": d.proxy,
                "error": d.outcome.as_ref().err(),
            })).collect::<Vec<_>>(),
        }));
        return Ok(Status::Ok);
    }
    println!(
        "enrolled record {} in study {study_id}: enrolment {} final, proof verified on chain",
        chosen.held.record, receipt.enrolment
    );
    println!(
        "advance {} paid to {} (a one-time address for this study; `medchain token balance --address {}`); {} more owed",
        receipt.advance, receipt.payee, receipt.payee, receipt.owed
    );
    if receipt.owed > 0 {
        println!(
            "the researcher checks the record against your proof; once acknowledged (or after the study's dispute window) take the rest: medchain patient claim --key {} --study {study_id}",
            acting.key.display()
        );
    }
    println!(
        "record delivered, encrypted, to {delivered} of {} proxies (threshold {})",
        receipt.deliveries.len(),
        contract.threshold
    );
    for delivery in &receipt.deliveries {
        if let Err(reason) = &delivery.outcome {
            println!("  proxy {} did not take it: {reason}", delivery.proxy);
        }
    }
    Ok(Status::Ok)
}
