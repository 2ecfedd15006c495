//! `medchain doctor fetch --grant FILE --hospital URL --out FILE` (S3-share).
//!
//! Finishes the agreement with the patient's reply, opens the authorization with the session
//! key, presents the licence ρ the doctor carries (from the doctor's own hospital), sends the TAKA request to the
//! hospital holding the record, opens its response, and checks the record (see the module
//! above).

use super::{receive, state};
use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    grant::{AUTHORIZATION_AAD, GrantFile},
    sharing::{self, Holder},
};
use medchain_client::{Client, StateQuery};
use medchain_gateway::{
    client::DoctorSigner,
    doctor::{self, Release},
};
use medchain_types::{IdentityName, Role};
use std::path::{Path, PathBuf};
use taka::{Authorization, HospitalResponse, Licence, PendingShare};

/// The licence ρ the doctor carries (S3-register, S3-share): the one in the wallet while it
/// names this doctor and has not expired, else a fresh one from the doctor's own hospital,
/// kept in the wallet for the next fetch.
///
/// Carrying ρ is what the seed describes (the doctor presents it; the holder judges it). So a
/// doctor revoked since ρ was handed out still presents it, and the hospital holding the
/// record — not the doctor's own — refuses, with the chain's proof of the revocation, and the
/// refusal lands in the patient's access log. A ρ issued by another hospital than the one the
/// chain's licence names (the doctor moved) is dropped: the holder would refuse it as
/// `licence_mismatch`.
fn carried_licence(
    client: &Client,
    holder: &mut Holder,
    own_gateway: &str,
    me: &IdentityName,
) -> Result<Licence, CliError> {
    let licensed_by = sharing::read(client, &StateQuery::licence(me))?.map(|l| l.hospital);
    let carried = holder.material.wallet.licence.as_deref().and_then(|bytes| {
        let licence = Licence::from_bytes(bytes).ok()?;
        let still_valid = licence.doctor().as_bytes() == me.as_str().as_bytes()
            && licence.expires_at() > connect::now_ms() / 1000
            && licensed_by.as_ref().is_none_or(|hospital| {
                licence.hospital().as_bytes() == hospital.as_str().as_bytes()
            });
        still_valid.then_some(licence)
    });
    if let Some(licence) = carried {
        return Ok(licence);
    }
    let licence = sharing::gateway(own_gateway)?.licence(me)?;
    holder.material.wallet.licence = Some(licence.to_bytes());
    holder.save()?;
    Ok(licence)
}

/// `medchain doctor fetch`.
pub fn fetch(
    grant_path: &Path,
    own_gateway: &str,
    state_path: Option<&Path>,
    out: &Path,
    acting: &Acting,
) -> Result<Status, CliError> {
    sharing::must_not_exist(out)?;
    let (grant, reply) = GrantFile::read(grant_path)?;
    let mut holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let address = holder.address();
    let me = sharing::identity_of(&client, &address, Role::Doctor)?;
    if grant.doctor != me.identity {
        return Err(CliError::BadFile {
            path: grant_path.to_path_buf(),
            reason: format!("the grant is for {}, not for {}", grant.doctor, me.identity),
        });
    }
    let params = sharing::params(&client)?;
    let keys = holder.entity_keys(&params)?;

    let state_path = state_path.map_or_else(|| PathBuf::from(&grant.state), Path::to_path_buf);
    let sealed = std::fs::read(&state_path).map_err(CliError::io(&state_path))?;
    let initiator = state::open(&sealed, &holder.material.key, &address).map_err(|error| {
        CliError::BadFile {
            path: state_path.clone(),
            reason: error.to_string(),
        }
    })?;
    let session = initiator.finish(&keys, &reply)?;
    let authorization = Authorization::from_bytes(
        &session
            .open(AUTHORIZATION_AAD, &grant.authorization)
            .map_err(|_| CliError::BadFile {
                path: grant_path.to_path_buf(),
                reason: "its authorization does not open with the key agreed with the patient: the grant answers another hello (give --state the ask it answers)".into(),
            })?,
    )?;

    let licence = carried_licence(&client, &mut holder, own_gateway, &me.identity)?;
    let (pending, request) =
        PendingShare::request(&keys, &params, licence, &authorization, &mut sharing::rng())?;
    let holder_gateway = sharing::gateway(&grant.gateway)?;
    let served = holder_gateway.share(
        &grant.record,
        grant.purpose,
        &request,
        &DoctorSigner {
            key: &holder.material.key,
            chain_id: client.light.chain_id(),
            holder: &grant.hospital,
        },
    )?;
    let releases = pending.open(&HospitalResponse::from_bytes(&served.response)?)?;
    let release = releases
        .iter()
        .find(|release| release.record().get() == grant.index)
        .ok_or_else(|| {
            CliError::Inconsistent(format!(
                "the gateway's response does not release record j={}",
                grant.index
            ))
        })?;
    let received = doctor::open_release(
        &client,
        &Release {
            holder: &holder_gateway,
            hospital: &grant.hospital,
            record: grant.record,
            index: grant.index,
            served: &served,
            release,
        },
    )
    .map_err(|error| sharing::explain(&client, error))?;
    receive(&me.identity, &received, None, out, acting)
}
