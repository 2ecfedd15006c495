//! `medchain patient entry --record ID --template FILE [--keywords a,b]` (S3-entry).
//!
//! The entry EE names the record (htxM = its id), the hospital holding it and its index j, so
//! a doctor who opens it in an emergency knows whom to ask for what. It is sealed under a key
//! derived from the biometric template (Argon2id at `BiometricKdfParams::RECOMMENDED`) with the
//! patient's identity as associated data, and filed on chain. A real deployment derives the
//! template with a fuzzy extractor (two scans never match bit for bit); here it is a file.

use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    output,
    sharing::{self, Holder},
};
use medchain_api::IdPrefix;
use medchain_types::{EntryBytes, EntryId, Payload, RecordPayload, Role};
use serde_json::json;
use std::path::Path;
use taka::{BiometricKdfParams, EmrEntry, EncryptedEntry, PatientEnrolment, RecordIndex};
use zeroize::Zeroizing;

/// `medchain patient entry`.
pub fn entry(
    record: &IdPrefix,
    template: &Path,
    keywords: Vec<String>,
    acting: &Acting,
) -> Result<Status, CliError> {
    let holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let patient = holder.address();
    let me = sharing::identity_of(&client, &patient, Role::Patient)?;
    let sharing::OwnRecord { id, link, index } = sharing::own_record(&client, &holder, record)?;
    let template = Zeroizing::new(std::fs::read(template).map_err(CliError::io(template))?);
    // The record's emergency gate, which the holding hospital derives from the same factor:
    // an emergency doctor proves with it that the entry opened (S3-emergency).
    let j = RecordIndex::new(index)?;
    let gate = PatientEnrolment::from_bytes(&link.enrolment.0)?
        .factors()
        .factor(j)
        .emergency_gate();
    let entry = EmrEntry::new(
        keywords.clone(),
        sharing::id_bytes(id.as_bytes()),
        sharing::taka_identity(&link.hospital)?,
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
    if sealed.len() > EntryBytes::MAX_LEN {
        return Err(CliError::Usage(format!(
            "the sealed entry is {} bytes, more than the chain's {}: use fewer or shorter keywords",
            sealed.len(),
            EntryBytes::MAX_LEN
        )));
    }
    let payload = Payload::Record(RecordPayload::Entry {
        entry: EntryBytes(sealed),
    });
    let sent = sharing::send(&client, &holder.material.key, payload, acting)?;
    let entry_id = EntryId::from(sent.id);
    if acting.connection.json {
        output::print_json(&json!({
            "tx": sent.id,
            "entry": entry_id,
            "record": id,
            "hospital": link.hospital,
            "index": index,
            "keywords": keywords,
            "finalized": sharing::finalized_json(&sent),
        }));
    } else {
        println!(
            "entry {entry_id} filed for record {id} (at {}, j={index})",
            link.hospital
        );
        println!(
            "it opens only with your template; {}",
            sharing::finalized_phrase(&sent)
        );
    }
    Ok(Status::Ok)
}
