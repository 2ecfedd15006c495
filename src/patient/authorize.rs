//! `medchain patient authorize --hello FILE --record ID --purpose P --expires T --out FILE`
//! (S3-share, S1-sharing).
//!
//! Three things, in this order: the patient answers the doctor's agreement hello (the two
//! now share a session key only they can compute), builds the TAKA authorization for record j
//! at its hospital — sealed with that key, so only this doctor can use it — and grants the
//! on-chain consent the holding hospital checks for the purpose. The grant file carries the
//! reply, the sealed authorization and where to ask.

use crate::{
    cli::Acting,
    connect,
    error::CliError,
    exit::Status,
    grant::{self, AUTHORIZATION_AAD, GrantFile, HelloFile},
    output,
    sharing::{self, Holder},
};
use medchain_api::IdPrefix;
use medchain_client::build::{self, ExpirySpec};
use medchain_types::{ConsentId, Expiry, Purpose, Role};
use serde_json::json;
use std::path::Path;
use taka::{PatientEnrolment, RecordIndex};

/// What the patient authorises.
pub struct Request<'a> {
    /// The doctor's hello file.
    pub hello: &'a Path,
    /// The record.
    pub record: &'a IdPrefix,
    /// For what.
    pub purpose: Purpose,
    /// Until when.
    pub expires: ExpirySpec,
    /// The grant file to write.
    pub out: &'a Path,
}

/// `medchain patient authorize`.
pub fn authorize(request: &Request<'_>, acting: &Acting) -> Result<Status, CliError> {
    sharing::must_not_exist(request.out)?;
    let (hello_file, hello) = HelloFile::read(request.hello)?;
    let holder = Holder::open(&acting.key)?;
    let client = connect::client(&acting.connection)?;
    let patient = holder.address();
    if hello_file.patient != patient {
        return Err(CliError::BadFile {
            path: request.hello.to_path_buf(),
            reason: format!("the hello is for {}, not for this key", hello_file.patient),
        });
    }
    let me = sharing::identity_of(&client, &patient, Role::Patient)?;
    let doctor = sharing::identity(&client, &hello_file.doctor, Role::Doctor)?;
    let keys = holder.entity_keys(&sharing::params(&client)?)?;

    let sharing::OwnRecord { id, link, index } =
        sharing::own_record(&client, &holder, request.record)?;
    let expires_at_ms = match request
        .expires
        .resolve(connect::finalized_height(&client)?, connect::now_ms())?
    {
        Expiry::AtTime(ms) => ms,
        Expiry::AtHeight(_) => {
            return Err(CliError::Usage(
                "an authorisation ends at a time: give --expires a duration or a date".into(),
            ));
        }
    };

    let mut rng = sharing::rng();
    let enrolment = PatientEnrolment::from_bytes(&link.enrolment.0)?;
    let authorization = enrolment.authorize(
        &sharing::taka_identity(&doctor.identity)?,
        &[RecordIndex::new(index)?],
        expires_at_ms / 1000,
    )?;
    // `respond` checks the hello is addressed to this patient's identity.
    let (reply, session) = taka::respond(&keys, &hello, &mut rng)?;
    let sealed = session.seal(AUTHORIZATION_AAD, &authorization.to_bytes(), &mut rng)?;

    let consent = build::grant_consent(
        &patient,
        doctor.address,
        vec![id],
        request.purpose,
        Expiry::AtTime(expires_at_ms),
    )?;
    let sent = sharing::send(&client, &holder.material.key, consent, acting)?;
    let grant = GrantFile {
        version: grant::VERSION,
        patient,
        doctor: doctor.identity.clone(),
        hospital: link.hospital.clone(),
        gateway: link.gateway.clone(),
        record: id,
        index,
        purpose: request.purpose,
        expires_at_ms,
        consent: ConsentId::from(sent.id),
        state: hello_file.state,
        reply: reply.to_bytes(),
        authorization: sealed,
    };
    grant::write(request.out, &grant)?;

    if acting.connection.json {
        output::print_json(&json!({
            "patient": patient,
            "identity": me.identity,
            "doctor": doctor.identity,
            "record": id,
            "hospital": link.hospital,
            "index": index,
            "purpose": request.purpose,
            "expires_at_ms": expires_at_ms,
            "consent": grant.consent,
            "tx": sent.id,
            "finalized": sharing::finalized_json(&sent),
            "grant": request.out.display().to_string(),
        }));
    } else {
        println!(
            "authorised {} for record {id} (at {}, j={index}) for {} until {}",
            doctor.identity,
            link.hospital,
            medchain_client::purpose_name(request.purpose),
            crate::time::both(expires_at_ms)
        );
        println!(
            "consent {} granted; {}",
            grant.consent,
            sharing::finalized_phrase(&sent)
        );
        println!(
            "hand {} to the doctor: it opens only with their keys",
            request.out.display()
        );
    }
    Ok(Status::Ok)
}
