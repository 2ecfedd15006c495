//! `medchain doctor ask --patient ADDRESS --out FILE` (S3-agree before S3-share): starts a key
//! agreement with the patient. FILE (the hello) goes to the patient; FILE.state keeps the
//! doctor's ephemeral scalars, sealed under a key derived from the chain key, mode 0600.

use super::state;
use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    grant::{self, HelloFile},
    output,
    sharing::{self, Holder},
};
use medchain_types::{Address, Role};
use serde_json::json;
use std::path::{Path, PathBuf};
use taka::Initiator;

/// `medchain doctor ask`.
pub fn ask(patient: &Address, out: &Path, acting: &Acting) -> Result<Status, CliError> {
    let state_path = PathBuf::from(format!("{}.state", out.display()));
    sharing::must_not_exist(out)?;
    sharing::must_not_exist(&state_path)?;
    let holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let address = holder.address();
    let me = sharing::identity_of(&client, &address, Role::Doctor)?;
    let them = sharing::identity_of(&client, patient, Role::Patient)?;
    let keys = holder.entity_keys(&sharing::params(&client)?)?;
    let (initiator, hello) = Initiator::start(
        &keys,
        sharing::taka_identity(&them.identity)?,
        &mut sharing::rng(),
    );
    sharing::write_new(
        &state_path,
        &state::seal(&initiator, &holder.material.key, &address),
        0o600,
    )?;
    grant::write(
        out,
        &HelloFile {
            version: grant::VERSION,
            doctor: me.identity.clone(),
            patient: *patient,
            hello: hello.to_bytes(),
            state: state_path.display().to_string(),
        },
    )?;
    if acting.connection.json {
        output::print_json(&json!({
            "doctor": me.identity,
            "patient": patient,
            "patient_identity": them.identity,
            "hello": out.display().to_string(),
            "state": state_path.display().to_string(),
        }));
    } else {
        println!(
            "hello for {} written to {}: hand it to the patient, who answers with `medchain patient authorize --hello {}`",
            them.identity,
            out.display(),
            out.display()
        );
        println!(
            "your side of the agreement is sealed in {} (keep it: `doctor fetch` needs it)",
            state_path.display()
        );
    }
    Ok(Status::Ok)
}
