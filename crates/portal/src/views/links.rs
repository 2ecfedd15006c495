//! Deep links: the explorer page of every object a page names (ids, heights, organisations,
//! addresses), so whatever is shown can be followed.

use crate::layout;
use maud::{Markup, html};
use medchain_types::{
    AccessDecision, Address, ConsentId, Event, OrgName, OrgState, RecordId, TxId,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

/// What a path segment may hold unescaped: RFC 3986's unreserved characters. Organisation
/// names may hold spaces (and, from a hostile registrant, anything a name allows).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one URL path segment.
pub(crate) fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

pub(crate) fn block_href(height: u64) -> String {
    format!("/explorer/blocks/{height}")
}

/// Organisation `name` as one path segment. A browser resolves a segment `.` or `..` (even
/// percent-encoded) as a step up the path, so those two names are written `~.` and `~..`: no
/// organisation name holds a `~`, and [`org_in_segment`] reads them back.
pub(crate) fn org_segment(name: &OrgName) -> String {
    match name.as_str() {
        dots @ ("." | "..") => format!("{ORG_ESCAPE}{dots}"),
        other => segment(other),
    }
}

/// The organisation name an [`org_segment`] (as the router decoded it) holds.
pub(crate) fn org_in_segment(segment: &str) -> &str {
    segment.strip_prefix(ORG_ESCAPE).unwrap_or(segment)
}

const ORG_ESCAPE: char = '~';

pub(crate) fn org_href(name: &OrgName) -> String {
    format!("/explorer/orgs/{}", org_segment(name))
}

pub(crate) fn account_href(address: &Address) -> String {
    format!("/explorer/accounts/{address}")
}

/// A height, linked to its block.
pub(crate) fn block(height: u64) -> Markup {
    html! { a href=(block_href(height)) { (height) } }
}

/// An organisation's name, linked to its page.
pub(crate) fn org(name: &OrgName) -> Markup {
    html! { a href=(org_href(name)) { (name.as_str()) } }
}

/// An address, shortened, linked to its account page, with a copy button.
pub(crate) fn account(address: &Address) -> Markup {
    layout::id_link(&account_href(address), &address.to_string())
}

pub(crate) fn tx(id: &TxId) -> Markup {
    layout::id_link(&format!("/explorer/tx/{id}"), &id.to_string())
}

pub(crate) fn record(id: &RecordId) -> Markup {
    layout::id_link(&format!("/explorer/records/{id}"), &id.to_string())
}

pub(crate) fn consent(id: &ConsentId) -> Markup {
    layout::id_link(&format!("/explorer/consents/{id}"), &id.to_string())
}

/// A unit-like enum (a role, an organisation kind, a purpose) as the API spells it.
pub(crate) fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(word)) => word.replace('_', " "),
        _ => "?".into(),
    }
}

/// An organisation's state as the portal names it (`data-org-state`): the chain's `to_audit`
/// is what a newcomer calls pending.
pub(crate) fn org_state(state: OrgState) -> &'static str {
    match state {
        OrgState::ToAudit => "pending",
        OrgState::Audited => "audited",
        OrgState::Suspended => "suspended",
    }
}

/// What a receipt event did, in words, every object it names linked to its page.
pub(crate) fn event(event: &Event) -> Markup {
    match event {
        Event::OrgRegistered {
            name,
            kind,
            founder,
        } => {
            html! { "organisation " (org(name)) " registered (" (word(kind)) ") by " (account(founder)) }
        }
        Event::OrgStateChanged { name, from, to } => html! {
            "organisation " (org(name)) " " (org_state(*from)) " → "
            span class={ "state-" (org_state(*to)) } { (org_state(*to)) }
        },
        Event::MemberJoined {
            name,
            member,
            endorser,
        } => {
            html! { (account(member)) " joined " (org(name)) ", endorsed by " (account(endorser)) }
        }
        Event::RecordReleased {
            record: id,
            patient,
            doctor,
            hospital,
        } => html! {
            "record " (record(id)) " released by doctor " (account(doctor)) " of " (org(hospital))
            " for patient " (account(patient))
        },
        Event::RecordStored { record: id, .. } => html! { "record " (record(id)) " stored" },
        Event::ConsentGranted {
            consent: id,
            patient,
            grantee,
        } => {
            html! { "consent " (consent(id)) " granted by " (account(patient)) " to " (account(grantee)) }
        }
        Event::ConsentRevoked { consent: id } => html! { "consent " (consent(id)) " revoked" },
        Event::AccessDecided {
            record: id,
            requester,
            purpose,
            decision,
        } => html! {
            (account(requester)) " asked for record " (record(id)) " (" (word(purpose)) "): "
            (decision_words(decision))
        },
        Event::IdentityEnrolled {
            identity,
            address,
            role,
        } => {
            html! { "identity " strong { (identity.as_str()) } " (" (word(role)) ") bound to " (account(address)) }
        }
        Event::LicenceIssued {
            doctor,
            hospital,
            expires_at_ms,
        } => html! {
            "licence of " strong { (doctor.as_str()) } " issued by " (hospital.as_str())
            ", valid until " (layout::time(*expires_at_ms))
        },
        Event::LicenceRenewed {
            doctor,
            expires_at_ms,
        } => {
            html! { "licence of " strong { (doctor.as_str()) } " renewed until " (layout::time(*expires_at_ms)) }
        }
        Event::DoctorRevoked { doctor, by } => {
            html! { "doctor " strong { (doctor.as_str()) } " revoked by " (account(by)) }
        }
        Event::RevocationLifted { doctor, by } => {
            html! { "revocation of " strong { (doctor.as_str()) } " lifted by " (account(by)) }
        }
        Event::DealerLogRecorded { dealer, round } => {
            html! { "key-generation dealing of validator " (account(dealer)) " (round " (round) ")" }
        }
        Event::PkgReady {
            round, threshold, ..
        } => {
            html! { "identity key generation ready (round " (round) ", threshold " (threshold) ")" }
        }
        Event::EntryFiled { patient, .. } => {
            html! { "emergency entry filed by patient " (account(patient)) }
        }
        Event::VouchingKeySet { address } => html! { "vouching key set for " (account(address)) },
        Event::EmergencyFiled {
            patient,
            record: id,
            doctor,
            ..
        } => html! {
            span class="break-glass" { "emergency request" } " by doctor " (account(doctor))
            " for record " (record(id)) " of patient " (account(patient))
        },
        Event::Transferred {
            inputs,
            outputs,
            fee,
        } => html! { "transfer of " (inputs) " inputs into " (outputs) " outputs, fee " (fee) },
        Event::RewardPaid {
            consent: id,
            patient,
            payer,
            amount,
        } => html! {
            (account(payer)) " paid patient " (account(patient)) " " (amount)
            " tokens for an access under consent " (consent(id))
        },
        Event::EscrowOpened {
            payer,
            payee,
            amount,
            ..
        } => {
            html! { (account(payer)) " locked " (amount) " tokens in escrow for " (account(payee)) }
        }
        Event::EscrowSettled { to, amount, .. } => {
            html! { "escrow of " (amount) " tokens settled to " (account(to)) }
        }
        Event::CandidateRegistered {
            candidate,
            org: name,
        } => {
            html! { "validator candidate " (account(candidate)) " registered for " (org(name)) }
        }
        Event::Delegated {
            candidate,
            delegator,
            amount,
        } => {
            html! { (account(delegator)) " delegated " (amount) " tokens to " (account(candidate)) }
        }
        Event::Undelegated {
            candidate,
            delegator,
            amount,
            release_epoch,
        } => html! {
            (account(delegator)) " undelegated " (amount) " tokens from " (account(candidate))
            ", withdrawable from epoch " (release_epoch)
        },
        Event::Withdrawn {
            candidate,
            delegator,
            amount,
        } => {
            html! { (account(delegator)) " withdrew " (amount) " tokens from " (account(candidate)) }
        }
        Event::Slashed {
            offender,
            epoch,
            amount,
        } => html! {
            "validator " (account(offender)) " slashed " (amount) " tokens for equivocating in epoch " (epoch)
        },
        Event::CircuitRegistered { circuit } => {
            html! { "research circuit " code { (circuit) } " registered" }
        }
        Event::NullifierKeySet { patient } => {
            html! { (account(patient)) " filed a nullifier key" }
        }
        Event::RecordAttested {
            record: id, leaf, ..
        } => html! { "record " (record(id)) " attested (accumulator leaf " (leaf) ")" },
        Event::ProxyRegistered { proxy } => {
            html! { "cloud proxy " (account(proxy)) " registered" }
        }
        Event::StudyPublished { study } => html! { "study " code { (study) } " published" },
        Event::StudyFunded {
            study,
            amount,
            pool,
        } => html! {
            "study " code { (study) } " funded with " (amount) " tokens (pool " (pool) ")"
        },
        Event::Enrolled {
            study,
            reward,
            owed,
            ..
        } => html! {
            "enrolment in study " code { (study) } ", " (reward) " tokens paid, "
            (owed) " owed"
        },
        Event::Reencrypted { enrolment, proxy } => html! {
            "enrolment " code { (enrolment) } " re-encrypted by proxy " (account(proxy))
        },
        Event::StudyRefunded { study, amount } => html! {
            "study " code { (study) } " refunded " (amount) " tokens"
        },
        Event::EnrolmentAcknowledged { enrolment } => html! {
            "enrolment " code { (enrolment) } " acknowledged by the researcher"
        },
        Event::EnrolmentDisputed { enrolment } => html! {
            "enrolment " code { (enrolment) } " disputed by the researcher"
        },
        Event::DisputeResolved { enrolment, pay } => html! {
            "dispute over enrolment " code { (enrolment) } " resolved: "
            (if *pay { "paid" } else { "not paid" })
        },
        Event::RewardClaimed {
            enrolment,
            payee,
            amount,
        } => html! {
            (account(payee)) " claimed " (amount) " tokens for enrolment " code { (enrolment) }
        },
        Event::MedReleaseRefused { record: id, reason } => html! {
            "MED release " code { (id) } " not imported: " (reason.describe())
        },
        Event::MedEntryRefused { entry, reason } => html! {
            "MED entry " code { (entry) } " not filed: " (reason.describe())
        },
    }
}

/// An access decision in words, classed as the history rows are (`allowed`, `denied`,
/// `break-glass`).
pub(crate) fn decision_words(decision: &AccessDecision) -> Markup {
    match decision {
        AccessDecision::Allowed { consent: Some(id) } => {
            html! { span class="allowed" { "allowed" } " under consent " (consent(id)) }
        }
        AccessDecision::Allowed { consent: None } => {
            html! { span class="allowed" { "allowed" } " (the patient's own record)" }
        }
        AccessDecision::Denied { reason } => {
            html! { span class="denied" { "denied" } " (" (word(reason)) ")" }
        }
        AccessDecision::BreakGlass { .. } => {
            html! { span class="break-glass" { "break-glass" } " under an emergency request" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_names_become_one_path_segment() {
        assert_eq!(segment("Seoul General.H_1~"), "Seoul%20General.H_1~");
        assert_eq!(segment("a/b?c#d%"), "a%2Fb%3Fc%23d%25");
        let name = OrgName::new("Seoul General").unwrap();
        assert_eq!(org_href(&name), "/explorer/orgs/Seoul%20General");
    }

    #[test]
    fn dot_names_are_escaped_and_read_back() {
        for (name, written) in [
            (".", "~."),
            ("..", "~.."),
            ("...", "..."),
            (".a", ".a"),
            ("Seoul General", "Seoul%20General"),
        ] {
            let org = OrgName::new(name).unwrap();
            assert_eq!(org_segment(&org), written);
            let decoded = percent_encoding::percent_decode_str(written).decode_utf8_lossy();
            assert_eq!(org_in_segment(&decoded), name);
        }
    }
}
