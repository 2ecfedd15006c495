//! `medchain doctor …`: a doctor's side of the hospital gateways (issue 9) — writing a record
//! through the own hospital (S1-release), asking a patient (S3-agree), fetching a record another
//! hospital holds under the patient's authorization (S3-share), and break-glass access
//! (S3-emergency).
//!
//! Whatever a gateway releases is checked before it is kept: the TAKA response opens only for
//! this doctor, and [`medchain_gateway::doctor::open_release`] checks that it releases the
//! record asked for (htxM = the record id, index j), that the blob hashes to what the gateway
//! named, opens under the released record key, and hashes to the hEMR the chain holds for that
//! record (verified).

mod ask;
mod emergency;
mod fetch;
mod state;
mod write;

use crate::{
    cli::{Acting, DoctorCommand},
    error::CliError,
    exit::Status,
    output, sharing,
};
use medchain_gateway::doctor::Received;
use medchain_types::{EmergencyId, IdentityName};
use serde_json::json;
use std::path::Path;

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

/// Writes a record received and checked ([`medchain_gateway::doctor::open_release`]) to `out`
/// (mode 0600) and reports.
fn receive(
    doctor: &IdentityName,
    received: &Received,
    emergency: Option<EmergencyId>,
    out: &Path,
    acting: &Acting,
) -> Result<Status, CliError> {
    let Received {
        record,
        index,
        released,
        ..
    } = received;
    sharing::write_new(out, &received.plaintext, 0o600)?;
    if acting.connection.json {
        output::print_json(&json!({
            "doctor": doctor,
            "record": record,
            "index": index,
            "patient": released.patient,
            "hospital": received.hospital,
            "record_hash": released.record_hash,
            "blob_hash": received.blob_hash,
            "access_tx": received.access_tx,
            "emergency": emergency,
            "out": out.display().to_string(),
            "verified": output::finality_json(&received.verified_at),
        }));
    } else {
        println!(
            "record {record} (j={index} at {}) written to {}",
            received.hospital,
            out.display()
        );
        println!(
            "it matches hEMR {} verified against finalized {}",
            released.record_hash,
            output::block_phrase(&received.verified_at)
        );
        println!("the access is logged on chain in tx {}", received.access_tx);
    }
    Ok(Status::Ok)
}
