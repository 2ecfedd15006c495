//! `medchain licence …` and `medchain revocation …` (S3-register, S3-revoke): hospitals license
//! their doctors and keep the revocation list; anyone checks a doctor's status with a proof
//! verified against a finalized block.

use crate::{
    cli::{LicenceArgs, LicenceCommand, Reading, RevocationArgs, RevocationCommand},
    connect,
    error::CliError,
    exit::Status,
    output, query, time,
    tx::{self, no_extras},
};
use medchain_client::{
    Checked, Proven, Question,
    build::{self, BuildError},
};
use medchain_state::values::Revocation;
use medchain_types::{Expiry, IdentityName, Payload};
use serde_json::{Map, json};
use std::cell::Cell;

/// `medchain licence …`.
pub fn licence(command: LicenceCommand) -> Result<Status, CliError> {
    match command {
        LicenceCommand::Issue(args) => send_licence(args, build::issue_licence),
        LicenceCommand::Renew(args) => send_licence(args, build::renew_licence),
        LicenceCommand::Show { doctor, reading } => {
            query::state(&reading, Question::Licence { doctor })
        }
    }
}

/// Resolves `--expires` against the clock now (the chain compares it with block times) and
/// sends the licence; the expiry is printed with the outcome.
fn send_licence(
    args: LicenceArgs,
    payload: fn(IdentityName, u64) -> Payload,
) -> Result<Status, CliError> {
    let LicenceArgs {
        doctor,
        expires,
        send,
    } = args;
    let resolved = Cell::new(0);
    tx::run(
        &send,
        |_, _| {
            let expires_at_ms = match expires.resolve(0, connect::now_ms())? {
                Expiry::AtTime(millis) => millis,
                Expiry::AtHeight(_) => {
                    return Err(BuildError::Expiry(
                        "a licence expires at a time, not a height".into(),
                    )
                    .into());
                }
            };
            resolved.set(expires_at_ms);
            Ok(payload(doctor.clone(), expires_at_ms))
        },
        |_| {
            let mut extras = Map::new();
            extras.insert("doctor".into(), json!(doctor));
            extras.insert("expires".into(), json!(time::both(resolved.get())));
            extras
        },
    )
}

/// `medchain revocation …`.
pub fn revocation(command: RevocationCommand) -> Result<Status, CliError> {
    match command {
        RevocationCommand::Add(RevocationArgs { doctor, send }) => {
            tx::run(&send, |_, _| Ok(build::revoke_doctor(doctor)), no_extras)
        }
        RevocationCommand::Remove(RevocationArgs { doctor, send }) => {
            tx::run(&send, |_, _| Ok(build::lift_revocation(doctor)), no_extras)
        }
        RevocationCommand::Check {
            doctor,
            at_height,
            reading,
        } => check(doctor, at_height, &reading),
    }
}

/// Asks for the doctor's entry on the list (at `height`, or the newest certified height) and
/// verifies the inclusion or exclusion proof against the finalized header at that height.
fn check(doctor: IdentityName, height: Option<u64>, reading: &Reading) -> Result<Status, CliError> {
    let client = connect::client(&reading.connection)?;
    let question = Question::Revocation {
        doctor: doctor.clone(),
        height,
    };
    let checked = client
        .ask(question)
        .map_err(|error| connect::explain(&client, error))?;
    // A pinned height is history: only the newest answer can be stale.
    let (cross_checked, saved) = query::keep(&client, reading, &checked, height.is_none())?;
    let (revocation, at) = verified_revocation(&checked)?;
    if reading.connection.json {
        output::print_json(&json!({
            "doctor": doctor,
            "revoked": revocation.is_some(),
            "revocation": revocation,
            "height": at.header.height,
            "verified": output::finality_json(at),
            "freshness": cross_checked.as_ref().map(crate::fresh::json),
            "saved": saved.map(|path| path.display().to_string()),
        }));
    } else {
        let proof = match revocation {
            Some(_) => "inclusion proof",
            None => "exclusion proof",
        };
        match &revocation {
            None => println!("{doctor}: not revoked at height {}", at.header.height),
            Some(entry) => println!(
                "{doctor}: REVOKED at height {} (on the list since block {}, revoked by {})",
                at.header.height, entry.at, entry.by
            ),
        }
        println!(
            "proof verified: {proof} against the state root of finalized {}",
            output::block_phrase(at)
        );
        query::print_kept(cross_checked.as_ref(), saved);
    }
    Ok(match revocation {
        Some(_) => Status::Revoked,
        None => Status::Ok,
    })
}

/// The verified entry (`None`: proven absent, not revoked) and the header it was proven at.
fn verified_revocation(
    checked: &Checked,
) -> Result<(Option<Revocation>, &medchain_client::FinalizedHeader), CliError> {
    let Proven::State { verified, .. } = &checked.proven else {
        return Err(CliError::Inconsistent(
            "the answer is not a state value".into(),
        ));
    };
    let revocation = verified
        .value
        .clone()
        .map(serde_json::from_value::<Revocation>)
        .transpose()
        .map_err(|e| CliError::Inconsistent(format!("a verified revocation does not read: {e}")))?;
    Ok((revocation, &verified.at))
}
