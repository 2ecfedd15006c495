//! `medchain patient enrol --hospital URL` (S3-agree, first visit).
//!
//! The gateway says which hospital it is; the chain must agree (an enrolled identity of role
//! hospital at that address, verified). The agreement itself proves the rest: the gateway's
//! key-confirmation MAC verifies only if it holds that hospital's identity key. The patient's
//! side — c1 and the initial factors every record key there derives from — goes into the
//! key file's wallet, sealed.

use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    output,
    sharing::{self, Holder},
};
use medchain_types::{
    Role,
    keyfile::{HospitalLink, SecretBytes},
};
use serde_json::json;
use taka::Initiator;

/// Enrols the key's patient at the gateway `url`.
pub fn enrol(url: &str, acting: &Acting) -> Result<Status, CliError> {
    let mut holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let address = holder.address();
    let me = sharing::identity_of(&client, &address, Role::Patient)?;
    let keys = holder.entity_keys(&sharing::params(&client)?)?;

    let gateway = sharing::gateway(url)?;
    let info = gateway.info()?;
    let hospital = sharing::identity(&client, &info.hospital, Role::Hospital)?;
    if hospital.address != info.address || hospital.org.as_ref() != Some(&info.org) {
        return Err(CliError::Inconsistent(format!(
            "the gateway at {url} claims to be {} at {} of {}, but the chain binds {} to {} of {}; do not enrol there",
            info.hospital,
            info.address,
            info.org,
            info.hospital,
            hospital.address,
            hospital
                .org
                .as_ref()
                .map_or("no organisation".into(), ToString::to_string),
        )));
    }

    // A second agreement would replace the factors the records there are sealed under.
    if holder.material.wallet.link(&info.hospital).is_some() {
        return Err(CliError::Usage(format!(
            "you are enrolled at {} already (your records there are sealed under that agreement); nothing to do",
            info.hospital
        )));
    }
    let (state, hello) = Initiator::start_enrolment(
        &keys,
        sharing::taka_identity(&info.hospital)?,
        &mut sharing::rng(),
    );
    let (session, reply) = gateway.enrol_hello(&hello)?;
    // The hospital's MAC is checked here: only the holder of its identity key made it.
    let (_, enrolment, confirmation) = state.finish_enrolment(&keys, &reply)?;
    let enrolled = gateway.enrol_confirm(&session, &confirmation)?;
    if enrolled != address {
        return Err(CliError::Inconsistent(format!(
            "the gateway enrolled {enrolled}, not this key's {address}"
        )));
    }
    holder.material.wallet.put_link(HospitalLink {
        hospital: info.hospital.clone(),
        gateway: gateway.url().to_string(),
        enrolment: SecretBytes(enrolment.to_bytes()),
    });
    holder.save()?;
    // The hospital binds the nullifier key into the commitments it attests for this patient's
    // records (S4-flow): file it now, before the first record is released here.
    let nullifier_key = super::research::file_nullifier_key(&client, &holder.material.key, acting)?;

    if acting.connection.json {
        output::print_json(&json!({
            "patient": address,
            "identity": me.identity,
            "hospital": info.hospital,
            "org": info.org,
            "gateway": gateway.url(),
            "nullifier_key_tx": nullifier_key,
        }));
    } else {
        println!(
            "enrolled {} at {} ({}, gateway {})",
            me.identity,
            info.hospital,
            info.org,
            gateway.url()
        );
        println!(
            "the hospital proved it holds {}'s identity key; your side of the agreement is sealed in {}",
            info.hospital,
            acting.key.display(),
        );
    }
    Ok(Status::Ok)
}
