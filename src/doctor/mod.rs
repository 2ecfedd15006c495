//! `medchain doctor …`: a doctor's side of the hospital gateways (issue 9) — writing a record
//! through the own hospital (S1-release), asking a patient (S3-agree), fetching a record another
//! hospital holds under the patient's authorization (S3-share), and break-glass access
//! (S3-emergency).
//!
//! Whatever a gateway releases is checked before it is kept: the TAKA response opens only for
//! this doctor, it must release the record asked for (htxM = the record id, index j), the blob
//! must hash to what the gateway named, open under the released record key, and hash to the
//! hEMR the chain holds for that record (verified).

mod ask;
mod emergency;
mod fetch;
mod state;
mod write;

use crate::{
    cli::{Acting, DoctorCommand},
    connect,
    error::CliError,
    exit::Status,
    output, sharing,
};
use medchain_client::{Client, StateQuery};
use medchain_gateway::{client::GatewayClient, wire::Served};
use medchain_types::{EmergencyId, IdentityName, RecordId};
use serde_json::json;
use std::path::Path;
use taka::RecordRelease;

/// Runs one `medchain doctor` command.
pub fn run(command: DoctorCommand) -> Result<Status, CliError> {
    match command {
        DoctorCommand::Write {
            hospital,
            patient,
            fhir_patient,
            bundle,
            acting,
        } => write::write(
            &write::Request {
                hospital: &hospital,
                patient,
                fhir_patient,
                bundle: &bundle,
            },
            &acting,
        ),
        DoctorCommand::Ask {
            patient,
            out,
            acting,
        } => ask::ask(&patient, &out, &acting),
        DoctorCommand::Fetch {
            grant,
            hospital,
            state,
            out,
            acting,
        } => fetch::fetch(&grant, &hospital, state.as_deref(), &out, &acting),
        DoctorCommand::Emergency {
            patient,
            template,
            hospital,
            gateway,
            out,
            acting,
        } => emergency::emergency(
            &emergency::Request {
                patient: &patient,
                template: &template,
                own: &hospital,
                holder: &gateway,
                out: &out,
            },
            &acting,
        ),
    }
}

/// What a gateway released for one record, to be checked and kept.
struct Received<'a> {
    doctor: &'a IdentityName,
    holder: &'a GatewayClient,
    holder_hospital: &'a IdentityName,
    record: RecordId,
    index: u64,
    served: &'a Served,
    release: &'a RecordRelease,
    emergency: Option<EmergencyId>,
}

/// Checks the release against the record asked for, fetches and opens the blob, checks it
/// against the chain's hEMR (verified), writes it to `out` (mode 0600) and reports.
fn receive(
    client: &Client,
    received: &Received<'_>,
    out: &Path,
    acting: &Acting,
) -> Result<Status, CliError> {
    let Received {
        record,
        index,
        release,
        ..
    } = received;
    if release.record().get() != *index || *release.htxm() != sharing::id_bytes(record.as_bytes()) {
        return Err(CliError::Inconsistent(format!(
            "the gateway released record j={} ({}), not the record asked for (j={index}, {record})",
            release.record().get(),
            hex::encode(release.htxm())
        )));
    }
    let key: [u8; 32] = release.emr().try_into().map_err(|_| {
        CliError::Inconsistent(format!(
            "the gateway released a {}-byte record key; record keys are 32 bytes",
            release.emr().len()
        ))
    })?;
    let blob_hash = received
        .served
        .blobs
        .iter()
        .find(|blob| blob.record == *record && blob.index == *index)
        .map(|blob| blob.blob_hash)
        .ok_or_else(|| {
            CliError::Inconsistent(format!(
                "the gateway released record {record} but named no blob for it"
            ))
        })?;
    let verified = client
        .read(&StateQuery::record(record))
        .map_err(|error| connect::explain(client, error))?;
    let chain_record = verified.value.ok_or_else(|| {
        CliError::NotFound(format!(
            "record {record} is not released on chain (proven absent)"
        ))
    })?;
    let blob = received.holder.blob(&blob_hash)?;
    let plaintext = medchain_gateway::patient::open_sealed(
        &blob,
        key,
        chain_record.patient,
        *index,
        chain_record.record_hash,
    )?;
    sharing::write_new(out, &plaintext, 0o600)?;

    if acting.connection.json {
        output::print_json(&json!({
            "doctor": received.doctor,
            "record": record,
            "index": index,
            "patient": chain_record.patient,
            "hospital": received.holder_hospital,
            "record_hash": chain_record.record_hash,
            "blob_hash": blob_hash,
            "access_tx": received.served.access_tx,
            "emergency": received.emergency,
            "out": out.display().to_string(),
            "verified": output::finality_json(&verified.at),
        }));
    } else {
        println!(
            "record {record} (j={index} at {}) written to {}",
            received.holder_hospital,
            out.display()
        );
        println!(
            "it matches hEMR {} verified against finalized {}",
            chain_record.record_hash,
            output::block_phrase(&verified.at)
        );
        println!(
            "the access is logged on chain in tx {}",
            received.served.access_tx
        );
    }
    Ok(Status::Ok)
}
