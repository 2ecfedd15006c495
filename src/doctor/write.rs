//! `medchain doctor write --hospital URL --patient ADDRESS --fhir-patient REF --bundle FILE`
//! (S1-release, S1-storage, S3-release).
//!
//! The doctor signs the release (hEMR = SHA-256 of the bundle's bytes exactly as read) and
//! hands it with the bundle to the own hospital's gateway, which validates the bundle, files
//! the release, encrypts the record under the patient's record key j, stores the blob and
//! files its pointer. The answer is checked against the chain: the record is released for this
//! patient, by this doctor, with this hEMR (verified).

use crate::{cli::Acting, connect, error::CliError, exit::Status, output, sharing};
use commonware_codec::Encode as _;
use medchain_client::{StateQuery, build, keys};
use medchain_gateway::wire::WriteRecord;
use medchain_types::{Address, ContentHash, Role};
use serde_json::json;
use std::path::Path;

/// What to write.
pub struct Request<'a> {
    /// The own hospital's gateway.
    pub hospital: &'a str,
    /// The patient.
    pub patient: Address,
    /// The patient's reference inside the bundle.
    pub fhir_patient: String,
    /// The bundle file.
    pub bundle: &'a Path,
}

/// `medchain doctor write`.
pub fn write(request: &Request<'_>, acting: &Acting) -> Result<Status, CliError> {
    let bundle = std::fs::read_to_string(request.bundle).map_err(CliError::io(request.bundle))?;
    let key = connect::key(&acting.key)?;
    let address = keys::address_of(&key);
    let client = connect::client(&acting.connection)?;
    let me = sharing::identity_of(&client, &address, Role::Doctor)?;
    let gateway = sharing::gateway(request.hospital)?;
    let info = gateway.info()?;
    if me.org.as_ref() != Some(&info.org) {
        return Err(CliError::Usage(format!(
            "the gateway at {} is {}'s, but you ({}) belong to {}: write through your own hospital's gateway",
            request.hospital,
            info.org,
            me.identity,
            me.org
                .as_ref()
                .map_or("no organisation".into(), ToString::to_string)
        )));
    }
    let release = build::release_record(
        client.light.chain_id(),
        &key,
        request.patient,
        bundle.as_bytes(),
    );
    let nonce = client
        .next_nonce(&address)
        .map_err(|error| connect::explain(&client, error))?;
    let signed = client.signer(key).sign(release.payload, nonce)?;
    let written = gateway.write_record(&WriteRecord {
        patient: request.patient,
        fhir_patient: request.fhir_patient.clone(),
        bundle,
        release: signed.encode().to_vec(),
    })?;

    let verified = client
        .read(&StateQuery::record(&written.record))
        .map_err(|error| connect::explain(&client, error))?;
    let on_chain = verified.value.ok_or_else(|| {
        CliError::Inconsistent(format!(
            "the gateway reports record {} written, but the chain proves it absent; ask `medchain query record {}` again shortly",
            written.record, written.record
        ))
    })?;
    let expected: ContentHash = release.record_hash;
    if on_chain.record_hash != expected
        || on_chain.patient != request.patient
        || on_chain.doctor != address
    {
        return Err(CliError::Inconsistent(format!(
            "record {} on chain is not this release (hEMR {}, patient {}, doctor {})",
            written.record, on_chain.record_hash, on_chain.patient, on_chain.doctor
        )));
    }
    if acting.connection.json {
        output::print_json(&json!({
            "record": written.record,
            "index": written.index,
            "record_hash": written.record_hash,
            "blob_hash": written.blob_hash,
            "release_tx": written.release_tx,
            "patient": request.patient,
            "hospital": info.hospital,
            "verified": output::finality_json(&verified.at),
        }));
    } else {
        println!(
            "record {} written at {} for {} (j={})",
            written.record, info.hospital, request.patient, written.index
        );
        println!(
            "released with hEMR {} (verified against finalized {}); sealed blob {}",
            on_chain.record_hash,
            output::block_phrase(&verified.at),
            written.blob_hash
        );
    }
    Ok(Status::Ok)
}
