//! `medchain patient history` and `medchain patient notifications` (S1-rights, S3-emergency):
//! what the chain logged about the patient's records, every entry verified. Neither needs the
//! passphrase: only the key file's address is read.

use crate::{cli::Acting, connect, error::CliError, exit::Status, output, sharing};
use medchain_client::{ListQuery, keys, purpose_name};
use serde_json::{Value, json};

/// `medchain patient history`: the whole access log — allowed, denied and break-glass — each
/// entry proven, and the entry after the last proven absent, so none is left out.
pub fn history(acting: &Acting) -> Result<Status, CliError> {
    let patient = keys::read_key_file(&acting.key)?.address();
    let client = connect::client(&acting.connection)?;
    let (entries, at) = client
        .access_log(&patient)
        .map_err(|error| connect::explain(&client, error))?;
    if acting.connection.json {
        let entries: Vec<Value> = entries
            .iter()
            .enumerate()
            .map(|(seq, entry)| {
                json!({
                    "seq": seq,
                    "kind": entry.decision.kind(),
                    "requester": entry.requester,
                    "record": entry.record,
                    "purpose": entry.purpose,
                    "decision": output::to_json(&entry.decision),
                    "served_by": entry.served_by,
                    "height": entry.height,
                    "timestamp_ms": entry.timestamp_ms,
                    "tx": entry.tx,
                })
            })
            .collect();
        output::print_json(&json!({
            "patient": patient,
            "total": entries.len(),
            "entries": entries,
            "verified": output::finality_json(&at),
        }));
        return Ok(Status::Ok);
    }
    println!("access history of {patient}: {} entries", entries.len());
    for (seq, entry) in entries.iter().enumerate() {
        let served = entry.served_by.map_or_else(String::new, |gateway| {
            format!(", served by gateway {gateway}")
        });
        println!(
            "#{seq} {} {} record {} for {} by {}{served} (tx {})",
            crate::time::utc(entry.timestamp_ms),
            output::decision_line(&entry.decision),
            entry.record,
            purpose_name(entry.purpose),
            entry.requester,
            entry.tx
        );
    }
    println!(
        "every entry verified; the log is complete as of finalized {}",
        output::block_phrase(&at)
    );
    Ok(Status::Ok)
}

/// `medchain patient notifications`: the emergency requests filed for the patient's records,
/// from the chain's notification list, each verified.
pub fn notifications(acting: &Acting) -> Result<Status, CliError> {
    let patient = keys::read_key_file(&acting.key)?.address();
    let client = connect::client(&acting.connection)?;
    let (listed, at) = sharing::all_pages(&client, &ListQuery::patient_notifications(&patient))?;
    if acting.connection.json {
        let notifications: Vec<Value> = listed
            .iter()
            .map(|entry| {
                let emergency = &entry.value;
                json!({
                    "seq": entry.seq,
                    "emergency": entry.id,
                    "doctor": emergency.doctor,
                    "doctor_address": emergency.doctor_address,
                    "hospital": emergency.hospital,
                    "org": emergency.org,
                    "record": emergency.record,
                    "issued_at_ms": emergency.issued_at_ms,
                    "filed_at": emergency.filed_at,
                    "timestamp_ms": emergency.timestamp_ms,
                })
            })
            .collect();
        output::print_json(&json!({
            "patient": patient,
            "total": notifications.len(),
            "notifications": notifications,
            "verified": output::finality_json(&at),
        }));
        return Ok(Status::Ok);
    }
    println!(
        "emergency accesses to the records of {patient}: {}",
        listed.len()
    );
    for entry in &listed {
        let emergency = &entry.value;
        println!(
            "#{} {} BREAK-GLASS by {} of {} ({}) for record {} (request {}, block {})",
            entry.seq,
            crate::time::utc(emergency.timestamp_ms),
            emergency.doctor,
            emergency.hospital,
            emergency.org,
            emergency.record,
            entry.id,
            emergency.filed_at
        );
    }
    println!(
        "every notification verified against finalized {}",
        output::block_phrase(&at)
    );
    Ok(Status::Ok)
}
