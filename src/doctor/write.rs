//! `medchain doctor write --hospital URL --patient ADDRESS --fhir-patient REF --bundle FILE`
//! (S1-release, S1-storage, S3-release).
//!
//! The doctor signs the release (hEMR = SHA-256 of the bundle's bytes exactly as read) and
//! hands it with the bundle to the own hospital's gateway, which validates the bundle, files
//! the release, encrypts the record under the patient's record key j, stores the blob and
//! files its pointer. The answer is checked against the chain: the record is released for this
//! patient, by this doctor, with this hEMR (verified). On a chain with a MED chain the doctor
//! signs tx_mr with its BLS vouching key instead, the gateway batches it onto MED and answers
//! once SUP checkpointed it; the output names the Mblock and the SUP height that checkpointed
//! it, both verified.

use crate::{cli::Acting, connect, error::CliError, exit::Status, output, sharing};
use commonware_codec::Encode as _;
use medchain_client::{Client, StateQuery, build, keys};
use medchain_gateway::{doctor::sign_med_release, wire::WriteRecord};
use medchain_state::values::RecordOrigin;
use medchain_types::{Address, ContentHash, PrivateKey, Role};
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
    let expected = ContentHash::of(bundle.as_bytes());
    let release = signed_release(&client, key, request.patient, bundle.as_bytes(), acting)?;
    let written = gateway.write_record(&WriteRecord {
        patient: request.patient,
        fhir_patient: request.fhir_patient.clone(),
        bundle,
        release,
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
    if on_chain.record_hash != expected
        || on_chain.patient != request.patient
        || on_chain.doctor != address
    {
        return Err(CliError::Inconsistent(format!(
            "record {} on chain is not this release (hEMR {}, patient {}, doctor {})",
            written.record, on_chain.record_hash, on_chain.patient, on_chain.doctor
        )));
    }
    let med = checkpoint_of(&client, &on_chain.origin)?;
    if acting.connection.json {
        output::print_json(&json!({
            "med": med.map(|(mblock_height, checkpointed_at)| json!({
                "status": "final",
                "mblock_height": mblock_height,
                "checkpointed_at": checkpointed_at,
            })),
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
        if let Some((mblock_height, checkpointed_at)) = med {
            println!(
                "on MED in Mblock {mblock_height}: final (checkpointed at SUP height {checkpointed_at}, verified)"
            );
        }
    }
    Ok(Status::Ok)
}

/// The doctor's release of the bundle, encoded for the gateway: tx_mr signed with the BLS
/// vouching key on a chain with a MED chain, a signed `record.release` otherwise.
fn signed_release(
    client: &Client,
    key: PrivateKey,
    patient: Address,
    bundle: &[u8],
    acting: &Acting,
) -> Result<Vec<u8>, CliError> {
    if client.light.genesis().med.is_some() {
        let release =
            sign_med_release(client, &key, patient, bundle, &sharing::wait_policy(acting))
                .map_err(|error| sharing::explain(client, error))?;
        return Ok(release.encode().to_vec());
    }
    let release = build::release_record(client.light.chain_id(), &key, patient, bundle);
    let nonce = client
        .next_nonce(&keys::address_of(&key))
        .map_err(|error| connect::explain(client, error))?;
    let signed = client.signer(key).sign(release.payload, nonce)?;
    Ok(signed.encode().to_vec())
}

/// For a record mined on MED: its Mblock's height and the SUP height that checkpointed it,
/// both read from SUP state (verified).
fn checkpoint_of(client: &Client, origin: &RecordOrigin) -> Result<Option<(u64, u64)>, CliError> {
    let RecordOrigin::Mined { mblock, .. } = origin else {
        return Ok(None);
    };
    let checkpointed = client
        .read(&StateQuery::med_header(mblock))
        .map_err(|error| connect::explain(client, error))?
        .value
        .ok_or_else(|| {
            CliError::Inconsistent(format!(
                "SUP holds the record as mined in Mblock {mblock}, but proves that Mblock not checkpointed"
            ))
        })?;
    Ok(Some((
        checkpointed.header.height,
        checkpointed.checkpointed_at,
    )))
}
