//! `medchain patient …`: a patient's side of the hospital gateways (issue 9) — enrolment at a
//! hospital (S3-agree), reading every record (S1-release, S1-storage), the emergency entry
//! (S3-entry), authorising a doctor (S3-share), the access history and break-glass
//! notifications (S1-rights, S3-emergency), and the research market: the nullifier key, the
//! studies the patient's records qualify for and enrolment in one (S4-flow, S4-exclusive) —
//! and following the MED chain as a light node to verify its records there (S3-dual).

mod authorize;
mod enrol;
mod entry;
mod history;
mod records;
mod research;
mod sync;

use crate::{cli::PatientCommand, error::CliError, exit::Status, tx};

/// Runs one `medchain patient` command.
pub fn run(command: PatientCommand) -> Result<Status, CliError> {
    match command {
        PatientCommand::Enrol { hospital, acting } => enrol::enrol(&hospital, &acting),
        PatientCommand::Records { out, acting } => records::records(out.as_deref(), &acting),
        PatientCommand::Entry {
            record,
            template,
            keywords,
            gateway,
            no_wait,
            acting,
        } => entry::entry(
            &entry::Request {
                record: &record,
                template: &template,
                keywords,
                gateway: gateway.as_deref(),
                wait: !no_wait,
            },
            &acting,
        ),
        PatientCommand::Consent(command) => tx::consent(command),
        PatientCommand::Authorize {
            hello,
            record,
            purpose,
            expires,
            out,
            acting,
        } => authorize::authorize(
            &authorize::Request {
                hello: &hello,
                record: &record,
                purpose: purpose.into(),
                expires,
                out: &out,
            },
            &acting,
        ),
        PatientCommand::NullifierKey { acting } => research::nullifier_key(&acting),
        PatientCommand::Studies { acting } => research::studies(&acting),
        PatientCommand::EnrolStudy {
            study,
            record,
            proving_key,
            acting,
        } => research::enrol_study(&study, record.as_ref(), proving_key.as_deref(), &acting),
        PatientCommand::Claim { study, acting } => research::claim(&study, &acting),
        PatientCommand::History { acting } => history::history(&acting),
        PatientCommand::Notifications { acting } => history::notifications(&acting),
        PatientCommand::Sync { headers, acting } => sync::sync(headers.as_deref(), &acting),
    }
}
