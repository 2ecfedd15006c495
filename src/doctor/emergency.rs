//! `medchain doctor emergency --patient ADDRESS --template FILE --hospital URL_OWN --gateway
//! URL_HOLDER --out FILE` (S3-emergency, break-glass).
//!
//! 1. The patient's EMR entries come from the chain (verified); the first that opens with the
//!    template names the record, its hospital and j. None opens: exit 8.
//! 2. The doctor builds η (salted) and hUR, signs the emergency message with the BLS vouching
//!    key derived from the chain key (registering it on chain first if the chain has another
//!    or none), and the own hospital's gateway co-signs and files tx_ur.
//! 3. The holding hospital's gateway finds tx_ur, checks it, logs the break-glass access and
//!    answers the TAKA emergency hello; the record is checked as every released record is.

use super::{Received, receive};
use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    sharing::{self, Holder},
};
use medchain_client::{Client, StateQuery};
use medchain_gateway::{client::DoctorSigner, wire::EmergencyFiling};
use medchain_types::{
    Address, Hash32, IdentityPayload, Payload, PrivateKey, Role,
    emergency::{BlsVouchingKey, emergency_message, vouching_key_from},
};
use std::path::Path;
use taka::{
    EmergencyRequest, EmrEntry, EncryptedEntry, HospitalResponse, PendingEmergency,
    emergency_gate_proof,
};
use zeroize::Zeroizing;

/// Whose record, how to find it, and where to ask.
pub struct Request<'a> {
    /// The patient.
    pub patient: &'a Address,
    /// The patient's biometric template.
    pub template: &'a Path,
    /// The doctor's own hospital gateway.
    pub own: &'a str,
    /// The gateway of the hospital holding the record.
    pub holder: &'a str,
    /// Where to write the record.
    pub out: &'a Path,
}

/// `medchain doctor emergency`.
pub fn emergency(request: &Request<'_>, acting: &Acting) -> Result<Status, CliError> {
    sharing::must_not_exist(request.out)?;
    let holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let address = holder.address();
    let me = sharing::identity_of(&client, &address, Role::Doctor)?;
    let patient = sharing::identity_of(&client, request.patient, Role::Patient)?;
    let patient_id = sharing::taka_identity(&patient.identity)?;
    let keys = holder.entity_keys(&sharing::params(&client)?)?;

    let template =
        Zeroizing::new(std::fs::read(request.template).map_err(CliError::io(request.template))?);
    let entry = open_entry(&client, request.patient, &patient_id, &template)?;
    let gate = *entry.gate().ok_or_else(|| {
        CliError::Usage(
            "the patient's entry carries no emergency gate (filed by an older medchain): the holding hospital would refuse; the patient must file the entry again with `medchain patient entry`".into(),
        )
    })?;
    let record = sharing::record_of_htxm(entry.htxm());
    let released = sharing::record(&client, &record)?;
    if released.patient != *request.patient {
        return Err(CliError::Inconsistent(format!(
            "the entry names record {record}, which is not this patient's"
        )));
    }
    let holder_gateway = sharing::gateway(request.holder)?;
    let holder_info = holder_gateway.info()?;
    if holder_info.hospital.as_str().as_bytes() != entry.hospital().as_bytes() {
        return Err(CliError::Usage(format!(
            "the entry says {} holds the record, but the gateway at {} is {}'s: pass --gateway with {}'s gateway",
            String::from_utf8_lossy(entry.hospital().as_bytes()),
            request.holder,
            holder_info.hospital,
            String::from_utf8_lossy(entry.hospital().as_bytes()),
        )));
    }

    let own = sharing::gateway(request.own)?;
    let own_info = own.info()?;
    let vouching = vouching_key(&client, &holder.material.key, &address, acting)?;
    let mut rng = sharing::rng();
    let eta = EmergencyRequest::new(patient_id, entry.record(), &mut rng);
    let hur = eta.hur();
    let issued_at_ms = connect::now_ms();
    let message = emergency_message(
        client.light.chain_id(),
        &me.identity,
        &own_info.hospital,
        &record,
        &Hash32::from(hur),
        issued_at_ms,
    );
    let emergency = own.file_emergency(&EmergencyFiling {
        doctor: me.identity.clone(),
        record,
        hur,
        issued_at_ms,
        doctor_vouch: vouching.sign(&message),
    })?;

    let (pending, hello) = PendingEmergency::start(
        &keys,
        entry.hospital().clone(),
        eta,
        sharing::id_bytes(emergency.as_bytes()),
        &mut rng,
    );
    let gate_proof = emergency_gate_proof(
        &gate,
        &emergency.0.0,
        &sharing::taka_identity(&me.identity)?,
    );
    let served = holder_gateway.emergency_access(
        &emergency,
        &hello,
        gate_proof,
        &DoctorSigner {
            key: &holder.material.key,
            chain_id: client.light.chain_id(),
            holder: &holder_info.hospital,
        },
    )?;
    let release = pending.open(&keys, &HospitalResponse::from_bytes(&served.response)?)?;
    receive(
        &client,
        &Received {
            doctor: &me.identity,
            holder: &holder_gateway,
            holder_hospital: &holder_info.hospital,
            record,
            index: entry.record().get(),
            served: &served,
            release: &release,
            emergency: Some(emergency),
        },
        request.out,
        acting,
    )
}

/// The first of the patient's entries on chain (verified) that opens with `template`.
fn open_entry(
    client: &Client,
    patient: &Address,
    patient_id: &taka::Identity,
    template: &[u8],
) -> Result<EmrEntry, CliError> {
    let (entries, at) = sharing::all_pages(
        client,
        &medchain_client::ListQuery::patient_entries(patient),
    )?;
    entries
        .iter()
        .filter_map(|listed| EncryptedEntry::from_bytes(&listed.value.entry.0).ok())
        .find_map(|sealed| sealed.open(patient_id, template).ok())
        .ok_or_else(|| {
            CliError::WrongTemplate(format!(
                "no entry of this patient opens with this template ({} entries on chain, verified against finalized {}): check the template, or the patient has filed no entry (`medchain patient entry`)",
                entries.len(),
                crate::output::block_phrase(&at)
            ))
        })
}

/// The doctor's vouching key, registered on chain (with its proof of possession) unless the
/// chain already holds it.
fn vouching_key(
    client: &Client,
    chain_key: &PrivateKey,
    address: &Address,
    acting: &Acting,
) -> Result<BlsVouchingKey, CliError> {
    let vouching = vouching_key_from(chain_key);
    let registered = sharing::read(client, &StateQuery::vouching_key(address))?;
    if registered.is_none_or(|stored| stored.key != vouching.public()) {
        let payload = Payload::Identity(IdentityPayload::SetVouchingKey {
            key: vouching.public(),
            proof: vouching.proof_of_possession(client.light.chain_id(), address),
        });
        sharing::send(client, chain_key, payload, acting)?;
    }
    Ok(vouching)
}
