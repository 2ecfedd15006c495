//! `medchain patient entry --record ID --template FILE [--keywords a,b]` (S3-entry).
//!
//! The entry EE names the record (htxM = its id), the hospital holding it and its index j, so
//! a doctor who opens it in an emergency knows whom to ask for what. It is sealed under a key
//! derived from the biometric template (Argon2id at `BiometricKdfParams::RECOMMENDED`) with the
//! patient's identity as associated data. A real deployment derives the template with a fuzzy
//! extractor (two scans never match bit for bit); here it is a file.
//!
//! On a chain with MED (S3-dual) the sealed entry EEE goes onto MED: the patient signs it with
//! its BLS key (registered on SUP first if the chain does not hold it), hands it to the gateway
//! of the hospital holding the record, which seals it into its next batch, and waits until SUP
//! checkpointed the Mblock and filed `entry/<id>`. On a chain without MED the patient files it
//! on SUP itself.

use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    output,
    sharing::{self, Holder, OwnRecord},
};
use medchain_api::IdPrefix;
use medchain_client::{Client, WaitPolicy, build};
use medchain_gateway::{
    client::GatewayClient,
    wire::{EntryProgress, FiledEntry},
};
use medchain_types::{EntryBytes, EntryId, Payload, RecordPayload, Role, med::MAX_MED_ENTRY_BYTES};
use serde_json::json;
use std::{path::Path, thread, time::Instant};
use taka::{BiometricKdfParams, EmrEntry, EncryptedEntry, PatientEnrolment, RecordIndex};
use zeroize::Zeroizing;

/// What `medchain patient entry` was asked.
pub struct Request<'a> {
    pub record: &'a IdPrefix,
    pub template: &'a Path,
    pub keywords: Vec<String>,
    /// The gateway to file through on MED (default: the record's hospital's, from the wallet).
    pub gateway: Option<&'a str>,
    /// Whether to wait until the entry is final on MED.
    pub wait: bool,
}

/// `medchain patient entry`.
pub fn entry(request: &Request<'_>, acting: &Acting) -> Result<Status, CliError> {
    let holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let own = sharing::own_record(&client, &holder, request.record)?;
    let on_med = client.light.genesis().med.is_some();
    let sealed = seal(&client, &holder, &own, request, on_med)?;
    if on_med {
        file_on_med(&client, &holder, &own, sealed, request, acting)
    } else {
        file_on_sup(&client, &holder, &own, sealed, &request.keywords, acting)
    }
}

/// The entry EEE, sealed under the template, within the size the chain takes.
fn seal(
    client: &Client,
    holder: &Holder,
    own: &OwnRecord<'_>,
    request: &Request<'_>,
    on_med: bool,
) -> Result<Vec<u8>, CliError> {
    let me = sharing::identity_of(client, &holder.address(), Role::Patient)?;
    let template =
        Zeroizing::new(std::fs::read(request.template).map_err(CliError::io(request.template))?);
    // The record's emergency gate, which the holding hospital derives from the same factor:
    // an emergency doctor proves with it that the entry opened (S3-emergency).
    let j = RecordIndex::new(own.index)?;
    let gate = PatientEnrolment::from_bytes(&own.link.enrolment.0)?
        .factors()
        .factor(j)
        .emergency_gate();
    let entry = EmrEntry::new(
        request.keywords.clone(),
        sharing::id_bytes(own.id.as_bytes()),
        sharing::taka_identity(&own.link.hospital)?,
        j,
    )?
    .with_gate(*gate);
    let sealed = EncryptedEntry::seal(
        &sharing::taka_identity(&me.identity)?,
        &entry,
        &template,
        BiometricKdfParams::RECOMMENDED,
        &mut sharing::rng(),
    )?
    .to_bytes();
    let (max, chain) = if on_med {
        (MAX_MED_ENTRY_BYTES, "MED's")
    } else {
        (EntryBytes::MAX_LEN, "the chain's")
    };
    if sealed.len() > max {
        return Err(CliError::Usage(format!(
            "the sealed entry is {} bytes, more than {chain} {max}: use fewer or shorter keywords",
            sealed.len()
        )));
    }
    Ok(sealed)
}

/// Files the entry on SUP as the patient's own transaction (a chain without MED).
fn file_on_sup(
    client: &Client,
    holder: &Holder,
    own: &OwnRecord<'_>,
    sealed: Vec<u8>,
    keywords: &[String],
    acting: &Acting,
) -> Result<Status, CliError> {
    let payload = Payload::Record(RecordPayload::Entry {
        entry: EntryBytes(sealed),
    });
    let sent = sharing::send(client, &holder.material.key, payload, acting)?;
    let entry_id = EntryId::from(sent.id);
    let (id, index) = (own.id, own.index);
    if acting.connection.json {
        output::print_json(&json!({
            "tx": sent.id,
            "entry": entry_id,
            "record": id,
            "hospital": own.link.hospital,
            "index": index,
            "keywords": keywords,
            "finalized": sharing::finalized_json(&sent),
        }));
    } else {
        println!(
            "entry {entry_id} filed for record {id} (at {}, j={index})",
            own.link.hospital
        );
        println!(
            "it opens only with your template; {}",
            sharing::finalized_phrase(&sent)
        );
    }
    Ok(Status::Ok)
}

/// Signs the entry with the patient's BLS key, hands it to the hospital's gateway for MED and
/// (unless `--no-wait`) waits until SUP checkpointed it.
fn file_on_med(
    client: &Client,
    holder: &Holder,
    own: &OwnRecord<'_>,
    sealed: Vec<u8>,
    request: &Request<'_>,
    acting: &Acting,
) -> Result<Status, CliError> {
    let wait = sharing::wait_policy(acting);
    let vouching = client
        .ensure_vouching_key(&holder.material.key, &wait)
        .map_err(|error| connect::explain(client, error))?;
    let signed = build::med_entry(
        client.light.chain_id(),
        &vouching,
        holder.address(),
        &sealed,
        connect::now_ms(),
    )?;
    let gateway = sharing::gateway(request.gateway.unwrap_or(&own.link.gateway))?;
    let mut filed = gateway.file_entry(&signed)?;
    if request.wait {
        filed = wait_settled(&gateway, filed, &wait)?;
    }
    if let EntryProgress::Refused { mblock } = filed.progress {
        return Err(CliError::Inconsistent(format!(
            "entry {} is in Mblock {} but SUP checkpointed it without filing it: you were not an enrolled patient with this BLS key at the checkpoint, or the entry was filed before; check `medchain identity show`, then run `medchain patient entry` again",
            filed.entry,
            hex::encode(mblock)
        )));
    }
    let (id, index) = (own.id, own.index);
    if acting.connection.json {
        output::print_json(&json!({
            "entry": filed.entry,
            "record": id,
            "hospital": own.link.hospital,
            "index": index,
            "keywords": request.keywords,
            "gateway": gateway.url(),
            "med": filed.progress,
        }));
    } else {
        println!(
            "entry {}: {}",
            filed.entry,
            progress_phrase(&filed.progress)
        );
        println!(
            "it is for record {id} (at {}, j={index}) and opens only with your template",
            own.link.hospital
        );
    }
    Ok(Status::Ok)
}

/// Asks the gateway until the entry is no longer pending, within the wait's timeout.
fn wait_settled(
    gateway: &GatewayClient,
    mut filed: FiledEntry,
    wait: &WaitPolicy,
) -> Result<FiledEntry, CliError> {
    let deadline = Instant::now() + wait.timeout;
    let mut pause = wait.first_interval;
    while matches!(filed.progress, EntryProgress::Pending { .. }) {
        if Instant::now() >= deadline {
            return Err(CliError::NotFound(format!(
                "entry {} is not final after {}s: {}; the gateway keeps it queued and files it — ask `{}/v1/entries/{}` later, or wait longer with --timeout",
                filed.entry,
                wait.timeout.as_secs(),
                progress_phrase(&filed.progress),
                gateway.url(),
                filed.entry
            )));
        }
        thread::sleep(pause);
        pause = (pause * 2).min(wait.max_interval);
        filed = gateway.entry(&filed.entry)?;
    }
    Ok(filed)
}

/// "final — Mblock h checkpointed at SUP height H", or how far it is.
fn progress_phrase(progress: &EntryProgress) -> String {
    match progress {
        EntryProgress::Final(med) => format!(
            "final — Mblock {} checkpointed at SUP height {}",
            med.mblock_height, med.checkpointed_at
        ),
        EntryProgress::Pending {
            mblock_height: Some(height),
        } => format!("pending on MED (Mblock {height}, not checkpointed yet)"),
        EntryProgress::Pending {
            mblock_height: None,
        } => "pending on MED (queued by the gateway, not mined yet)".to_string(),
        EntryProgress::Refused { mblock } => format!(
            "refused by SUP at the checkpoint of Mblock {}",
            hex::encode(mblock)
        ),
    }
}
