//! `medchain identity enrol`: bind an identity to a key and obtain its identity-based keys
//! from the validators' threshold PKG (S3-register, S4-ca).

use crate::{
    cli::{Connection, RoleArg, Sending},
    connect,
    error::CliError,
    exit::Status,
    output,
};
use medchain_client::{
    NodeClient, WaitPolicy,
    enrol::{Enrolled, Enrolment, enrol_identity},
    keys::{self, Confirm, KeyError},
};
use medchain_types::{
    Address, IdentityName, Role,
    keyfile::{KeyFile, KeyMaterial},
};
use serde_json::json;
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// `medchain identity enrol`.
pub fn enrol(
    role: RoleArg,
    name: Option<IdentityName>,
    pkg_nodes: Vec<String>,
    send: &Sending,
) -> Result<Status, CliError> {
    if send.no_wait {
        return Err(CliError::Usage(
            "--no-wait does not apply: the validators answer only once the binding is final".into(),
        ));
    }
    let path = &send.key;
    // The identity keys are stored beside the chain key, so the file must be encrypted.
    let KeyFile::Encrypted(file) = keys::read_key_file(path)? else {
        return Err(KeyError::NotEncrypted(path.clone()).into());
    };
    let address = file.address();
    let role = Role::from(role);
    let identity = identity_for(role, name, &address)?;
    let passphrase = keys::ask_passphrase(path, Confirm::Once)?;
    let material = keys::open_key_file(path, KeyFile::Encrypted(file), |_| Ok(passphrase.clone()))?;
    if material.entity_keys.is_some() {
        return Err(CliError::Usage(format!(
            "{} holds identity keys already; an address enrols one identity (`medchain identity show --address {address}`)",
            path.display()
        )));
    }
    let client = connect::client(&send.connection)?;
    let nodes = pkg_clients(pkg_nodes, &send.connection)?;
    let started = Instant::now();
    let enrolled = enrol_identity(&Enrolment {
        client: &client,
        key: &material.key,
        identity,
        role,
        pkg_nodes: &nodes,
        wait: WaitPolicy {
            timeout: Duration::from_secs(send.timeout),
            ..WaitPolicy::default()
        },
    })
    .map_err(|error| match error {
        medchain_client::enrol::EnrolError::Client(error) => connect::explain(&client, error),
        other => other.into(),
    })?;
    let elapsed = started.elapsed();
    let stored = KeyMaterial {
        entity_keys: Some(enrolled.keys.to_bytes()),
        ..material
    };
    keys::replace_key_file(path, &stored, &passphrase)?;
    print_enrolled(
        &enrolled,
        &address,
        path,
        nodes.len(),
        elapsed,
        send.connection.json,
    );
    Ok(Status::Ok)
}

/// The identity a `role` enrols under: a patient's pseudonym (a name is refused: S4-ca, no
/// name on chain), the given name for a doctor or hospital.
fn identity_for(
    role: Role,
    name: Option<IdentityName>,
    address: &Address,
) -> Result<IdentityName, CliError> {
    match (role, name) {
        (Role::Patient, None) => Ok(IdentityName::patient_pseudonym(address)),
        (Role::Patient, Some(name)) if name == IdentityName::patient_pseudonym(address) => Ok(name),
        (Role::Patient, Some(_)) => Err(CliError::Usage(
            "patients enrol under their pseudonym, never a name: drop --name".into(),
        )),
        (_, Some(name)) => Ok(name),
        (_, None) => Err(CliError::Usage(
            "doctors and hospitals choose their identity: pass --name NAME".into(),
        )),
    }
}

/// Clients for `--pkg-node`, or for every validator of the genesis' network directory.
fn pkg_clients(urls: Vec<String>, connection: &Connection) -> Result<Vec<NodeClient>, CliError> {
    let urls = if urls.is_empty() {
        connect::network_apis(connection)?
    } else {
        urls
    };
    if urls.is_empty() {
        return Err(CliError::Usage(
            "no validators to ask: pass --pkg-node URL once per validator (or set MEDCHAIN_PKG_NODES)"
                .into(),
        ));
    }
    urls.iter()
        .map(|url| NodeClient::new(url).map_err(CliError::from))
        .collect()
}

fn print_enrolled(
    enrolled: &Enrolled,
    address: &Address,
    path: &Path,
    asked: usize,
    elapsed: Duration,
    as_json: bool,
) {
    let faults: Vec<_> = enrolled
        .faults
        .iter()
        .map(|fault| json!({ "node": fault.node, "reason": fault.reason }))
        .collect();
    if as_json {
        output::print_json(&json!({
            "identity": enrolled.identity,
            "address": address,
            "bound_at": enrolled.bound_at,
            "sent_binding": enrolled.sent_binding,
            "threshold": enrolled.threshold,
            "answered_by": enrolled.answered_by,
            "left_out": faults,
            "key_file": path.display().to_string(),
            "elapsed_ms": elapsed.as_millis() as u64,
        }));
        return;
    }
    let bound = if enrolled.sent_binding {
        "bound"
    } else {
        "was already bound"
    };
    println!(
        "identity {} {bound} to {address} (final at block {})",
        enrolled.identity, enrolled.bound_at
    );
    println!(
        "keys combined from {} of {asked} validators and checked against P_pub: {}",
        enrolled.threshold,
        enrolled.answered_by.join(", ")
    );
    for fault in &enrolled.faults {
        println!("left out {}: {}", fault.node, fault.reason);
    }
    println!(
        "stored in {} (encrypted with your passphrase); took {} ms",
        path.display(),
        elapsed.as_millis()
    );
}
