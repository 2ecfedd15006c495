//! `medchain doctor emergency --patient ADDRESS --template FILE --hospital URL_OWN --gateway
//! URL_HOLDER --out FILE` (S3-emergency, break-glass): the flow is
//! [`medchain_gateway::doctor::break_glass`] (the portal runs the same); this command reads
//! the template file, explains failures and keeps the record.

use super::receive;
use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    sharing::{self, Holder},
};
use medchain_gateway::doctor::{self, BreakGlass, DoctorKeys};
use medchain_types::Address;
use std::path::Path;
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
    let keys = holder.entity_keys(&sharing::params(&client)?)?;
    let template =
        Zeroizing::new(std::fs::read(request.template).map_err(CliError::io(request.template))?);
    let broken = doctor::break_glass(
        &client,
        DoctorKeys {
            key: &holder.material.key,
            identity: &keys,
        },
        &BreakGlass {
            patient: request.patient,
            template: &template,
            own: &sharing::gateway(request.own)?,
            holder: &sharing::gateway(request.holder)?,
            wait: &sharing::wait_policy(acting),
        },
    )
    .map_err(|error| sharing::explain(&client, error))?;
    receive(
        &broken.doctor,
        &broken.received,
        Some(broken.emergency),
        request.out,
        acting,
    )
}
