//! `medchain patient sync [--headers FILE]` (S3-dual, S3-supervise; the patient as a light MED
//! node): follows the MED chain's headers from genesis, each one's proof of work, difficulty,
//! timestamp and link checked, keeping only the headers in a file; follows SUP's checkpoints
//! through verified state reads; then checks each of the patient's records — the list proven
//! on SUP — in the Mblock and at the index SUP names for it: that Mblock fetched, the inclusion
//! proven locally against a header it synced, final once SUP checkpointed it. One run follows
//! at most `MAX_SYNC_HEADERS` headers and says when to run it again. Records
//! released on SUP itself (chains or releases without MED) are listed as such. No passphrase is
//! needed: only the key file's address is read.

use crate::{cli::Acting, connect, error::CliError, exit::Status, output, sharing};
use medchain_client::{
    Client, FinalizedHeader, ListQuery, Listed, keys,
    med::{FetchedMblock, LightMed, LightMedError, MedApi, MedFinality, SyncReport},
};
use medchain_state::values::{Record, RecordOrigin};
use medchain_types::{Address, RecordId};
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The headers file's name when `--headers` is not given, beside the key file.
const DEFAULT_HEADERS_FILE: &str = "medchain-med-headers.bin";

/// One record as checked.
#[derive(Serialize)]
struct Synced {
    record: RecordId,
    /// The Mblock holding it (hex), for a mined record.
    mblock: Option<String>,
    mblock_height: Option<u64>,
    /// The SUP height of the block that checkpointed the Mblock.
    checkpointed_at: Option<u64>,
    /// `verified` (final on MED), `pending` (on MED, not checkpointed yet), `on_sup` (released
    /// on SUP, no Mblock) or `failed`.
    status: &'static str,
    error: Option<String>,
}

/// `medchain patient sync`.
pub fn sync(headers: Option<&Path>, acting: &Acting) -> Result<Status, CliError> {
    let patient = keys::read_key_file(&acting.key)?.address();
    let client = connect::client(&acting.connection)?;
    let path = headers.map_or_else(|| default_headers_file(&acting.key), Path::to_path_buf);
    let mut light = LightMed::load(client.light.genesis(), &path)?;
    let med = MedApi::new(client.node.clone());
    let synced = light.sync_settled(&client, &med);
    // Saved even when the sync failed part way (review V10): every header held was checked,
    // and the next run goes on from them instead of downloading them again.
    let saved = light.save(&path);
    let report = synced.map_err(|error| explain(&client, error))?;
    saved?;
    let (mut listed, at) = sharing::all_pages(&client, &ListQuery::patient_records(&patient))?;
    // Mblock by Mblock, so each is downloaded once (review V11).
    listed.sort_by_key(|listed| match listed.value.origin {
        RecordOrigin::Mined { mblock, index } => Some((mblock, index)),
        _ => None,
    });
    let mut fetched = FetchedMblock::default();
    let checked: Vec<Synced> = listed
        .iter()
        .map(|Listed { id, value, .. }| check(&client, &med, &light, &mut fetched, id, value))
        .collect();
    let failed = checked.iter().filter(|c| c.error.is_some()).count();
    print(
        &patient,
        &path,
        &report,
        &checked,
        &at,
        acting.connection.json,
    );
    Ok(if failed == 0 {
        Status::Ok
    } else {
        Status::Error
    })
}

/// `medchain-med-headers.bin` in the key file's directory.
fn default_headers_file(key: &Path) -> PathBuf {
    key.parent()
        .unwrap_or_else(|| Path::new("."))
        .join(DEFAULT_HEADERS_FILE)
}

/// A light MED node's failure, with a node's refusal explained as every command does.
fn explain(client: &Client, error: LightMedError) -> CliError {
    match error {
        LightMedError::Client(error) => connect::explain(client, error),
        other => other.into(),
    }
}

/// One record: a mined one checked on MED, against SUP's word of where it is.
fn check(
    client: &Client,
    med: &MedApi,
    light: &LightMed,
    fetched: &mut FetchedMblock,
    id: &RecordId,
    record: &Record,
) -> Synced {
    let RecordOrigin::Mined { mblock, index } = record.origin else {
        return Synced {
            record: *id,
            mblock: None,
            mblock_height: None,
            checkpointed_at: None,
            status: "on_sup",
            error: None,
        };
    };
    let failed = |error: String| Synced {
        record: *id,
        mblock: Some(hex::encode(mblock)),
        mblock_height: None,
        checkpointed_at: None,
        status: "failed",
        error: Some(error),
    };
    let verified = match light.verify_record(client, med, fetched, id, &mblock, index) {
        Ok(verified) => verified,
        Err(error) => return failed(error.to_string()),
    };
    if verified.tx.patient != record.patient || verified.tx.record_hash != record.record_hash {
        return failed("the release on MED is not the record SUP holds".into());
    }
    let (status, checkpointed_at) = match verified.finality {
        MedFinality::Final { checkpointed_at } => ("verified", Some(checkpointed_at)),
        MedFinality::Pending => ("pending", None),
    };
    Synced {
        record: *id,
        mblock: Some(hex::encode(mblock)),
        mblock_height: Some(verified.mblock_height),
        checkpointed_at,
        status,
        error: None,
    }
}

fn print(
    patient: &Address,
    path: &Path,
    report: &SyncReport,
    checked: &[Synced],
    at: &FinalizedHeader,
    as_json: bool,
) {
    let failed = checked.iter().filter(|c| c.error.is_some()).count();
    if as_json {
        output::print_json(&json!({
            "patient": patient,
            "headers": path,
            "best": report.best,
            "complete": report.complete,
            "ahead_of_clock": report.ahead_of_clock,
            "checkpointed": report.checkpoint.map(|checkpoint| json!({
                "mblock_height": checkpoint.height,
                "sup_height": checkpoint.sup_height,
            })),
            "records": checked,
            "verified": output::finality_json(at),
        }));
        return;
    }
    println!(
        "MED headers: {} checked and added, {} dropped; best Mblock {}, kept in {}",
        report.added,
        report.dropped,
        report.best,
        path.display()
    );
    if report.ahead_of_clock {
        println!(
            "stopped at a header stamped ahead of this machine's clock: check the clock (it looks behind), then run `medchain patient sync` again"
        );
    } else if !report.complete {
        println!(
            "stopped after {} headers (the most one sync follows): run `medchain patient sync` again to go on",
            report.added
        );
    }
    match report.checkpoint {
        Some(checkpoint) => println!(
            "newest checkpoint: Mblock {} at SUP height {} (verified)",
            checkpoint.height, checkpoint.sup_height
        ),
        None => println!("SUP has checkpointed no Mblock yet"),
    }
    println!("records of patient {patient}: {} in total", checked.len());
    println!(
        "{:<16}  {:>7}  {:>15}  VERIFIED",
        "RECORD", "MBLOCK", "CHECKPOINTED AT"
    );
    for c in checked {
        let height = c.mblock_height.map_or("-".into(), |h| h.to_string());
        let checkpointed = c.checkpointed_at.map_or("-".into(), |h| format!("SUP {h}"));
        let outcome = match (c.status, &c.error) {
            (_, Some(error)) => format!("FAILED: {error}"),
            ("verified", None) => "yes: in a synced, checkpointed Mblock".into(),
            ("pending", None) => format!("pending on MED (Mblock {height})"),
            _ => "released on SUP (no Mblock)".into(),
        };
        println!(
            "{:<16}  {height:>7}  {checkpointed:>15}  {outcome}",
            short(&c.record)
        );
    }
    println!(
        "record list verified against finalized {}",
        output::block_phrase(at)
    );
    if failed > 0 {
        println!(
            "{failed} of {} records could not be verified",
            checked.len()
        );
    }
}

/// The first 12 hex digits of a record id (what `medchain record list` shows).
fn short(record: &RecordId) -> String {
    record.to_string().chars().take(12).collect()
}
