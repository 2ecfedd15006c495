//! `medchain patient records [--out DIR]`: every record of the patient, from the chain.
//!
//! The list of records and each record's hEMR and storage pointer are verified against a
//! finalized block; the hospital's gateway is trusted for nothing: it says which index j a
//! record has (a wrong j gives a key that does not open the blob) and serves the blob the
//! chain's pointer names (checked by its hash). The record key comes from the patient's own
//! enrolment (factor j), and the opened record must hash to hEMR.

use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    output,
    sharing::{self, Holder},
};
use medchain_client::{Client, FinalizedHeader, ListQuery, Listed, StateQuery};
use medchain_gateway::patient::HospitalRecords;
use medchain_state::values::Record;
use medchain_types::{Address, ContentHash, OrgName, RecordId, keyfile::Wallet};
use serde::Serialize;
use serde_json::json;
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

/// One record as checked.
#[derive(Serialize)]
struct Checked {
    record: RecordId,
    hospital: OrgName,
    record_hash: ContentHash,
    index: Option<u64>,
    blob_hash: Option<ContentHash>,
    /// `verified` or `failed`.
    status: &'static str,
    error: Option<String>,
    file: Option<String>,
}

/// `medchain patient records`.
pub fn records(out: Option<&Path>, acting: &Acting) -> Result<Status, CliError> {
    let holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let patient = holder.address();
    let (listed, at) = sharing::all_pages(&client, &ListQuery::patient_records(&patient))?;
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(CliError::io(dir))?;
    }
    let wallet = &holder.material.wallet;
    let mut hospitals: HashMap<OrgName, Result<HospitalRecords<'_>, String>> = HashMap::new();
    let mut checked = Vec::with_capacity(listed.len());
    for Listed {
        id, value: record, ..
    } in &listed
    {
        let hospital = hospitals
            .entry(record.hospital.clone())
            .or_insert_with(|| hospital(&client, wallet, patient, &record.hospital));
        checked.push(check(&client, id, record, hospital, out));
    }
    let failed = checked.iter().filter(|c| c.error.is_some()).count();
    print(&patient, &checked, &at, acting.connection.json);
    Ok(if failed == 0 {
        Status::Ok
    } else {
        Status::Error
    })
}

/// What the gateway of the hospital organisation `org` holds for the patient.
pub(super) fn hospital<'w>(
    client: &Client,
    wallet: &'w Wallet,
    patient: Address,
    org: &OrgName,
) -> Result<HospitalRecords<'w>, String> {
    let link = sharing::link_for_org(client, wallet, org)
        .map_err(|e| e.report())?
        .ok_or_else(|| {
            format!("you are not enrolled at {org}: run `medchain patient enrol --hospital URL` with its gateway")
        })?;
    HospitalRecords::connect(link, patient).map_err(|e| CliError::from(e).report())
}

fn check(
    client: &Client,
    id: &RecordId,
    record: &Record,
    hospital: &Result<HospitalRecords<'_>, String>,
    out: Option<&Path>,
) -> Checked {
    let mut checked = Checked {
        record: *id,
        hospital: record.hospital.clone(),
        record_hash: record.record_hash,
        index: None,
        blob_hash: None,
        status: "failed",
        error: None,
        file: None,
    };
    let opened = hospital
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|hospital| open(client, id, record, hospital, &mut checked));
    match opened.and_then(|plaintext| save(out, id, &plaintext)) {
        Ok(file) => {
            checked.status = "verified";
            checked.file = file.map(|path| path.display().to_string());
        }
        Err(error) => checked.error = Some(error),
    }
    checked
}

/// Fetches the blob the chain points to and opens it with the key of factor j.
fn open(
    client: &Client,
    id: &RecordId,
    record: &Record,
    hospital: &HospitalRecords<'_>,
    checked: &mut Checked,
) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let held = hospital.held(id).map_err(|e| CliError::from(e).report())?;
    checked.index = Some(held.index);
    let pointer = sharing::read(client, &StateQuery::storage(id)).map_err(|e| e.report())?;
    checked.blob_hash = pointer.as_ref().map(|pointer| pointer.blob_hash);
    hospital
        .open(held, record, pointer.as_ref())
        .map_err(|e| CliError::from(e).report())
}

fn save(out: Option<&Path>, id: &RecordId, plaintext: &[u8]) -> Result<Option<PathBuf>, String> {
    let Some(dir) = out else { return Ok(None) };
    let path = dir.join(format!("{id}.json"));
    if path.exists() {
        // Written by an earlier run: the same record (its name is its id) unless altered.
        let existing = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if existing != plaintext {
            return Err(format!(
                "{} exists and differs from the verified record; move it away",
                path.display()
            ));
        }
        return Ok(Some(path));
    }
    sharing::write_new(&path, plaintext, 0o600).map_err(|e| e.report())?;
    Ok(Some(path))
}

fn print(patient: &Address, checked: &[Checked], at: &FinalizedHeader, as_json: bool) {
    let failed = checked.iter().filter(|c| c.error.is_some()).count();
    if as_json {
        output::print_json(&json!({
            "patient": patient,
            "total": checked.len(),
            "failed": failed,
            "records": checked,
            "verified": output::finality_json(at),
        }));
        return;
    }
    println!("records of patient {patient}: {} in total", checked.len());
    for c in checked {
        let index = c.index.map_or("-".into(), |j| j.to_string());
        let outcome = match (&c.error, &c.file) {
            (Some(error), _) => format!("FAILED: {error}"),
            (None, Some(file)) => format!("verified against hEMR, written to {file}"),
            (None, None) => "verified against hEMR".into(),
        };
        println!("{}  {}  j={index}  {outcome}", c.record, c.hospital);
    }
    println!(
        "list and hashes verified against finalized {}",
        output::block_phrase(at)
    );
    if failed > 0 {
        println!(
            "{failed} of {} records could not be verified",
            checked.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_types::Hash32;

    #[test]
    fn a_verified_record_is_written_once_and_an_altered_copy_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let id = RecordId(Hash32::from([4; 32]));
        assert_eq!(save(None, &id, b"{}").unwrap(), None);
        let path = save(Some(dir.path()), &id, b"{\"a\":1}").unwrap().unwrap();
        assert_eq!(path, dir.path().join(format!("{id}.json")));
        // The same record again (a second run) is fine; different bytes under its name are not.
        assert_eq!(
            save(Some(dir.path()), &id, b"{\"a\":1}").unwrap(),
            Some(path.clone())
        );
        let error = save(Some(dir.path()), &id, b"{\"a\":2}").unwrap_err();
        assert!(
            error.contains("differs from the verified record"),
            "{error}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}");
    }
}
