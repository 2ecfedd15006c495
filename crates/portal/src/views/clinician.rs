//! The clinician pages: my licence and whether I am on the revocation list, the consents
//! patients granted me, an on-chain access request with its proven decision, and emergency
//! (break-glass) access (S3-register, S3-revoke, S1-sharing, S1-rights, S3-emergency).

mod break_glass;

pub(crate) use break_glass::PendingBreakGlass;

use super::{
    Done,
    consents::{self, ConsentState},
    input, links, not_for_this_key, outcome_banner,
    patient::{decision, identity_names, person},
};
use crate::{
    error::PortalError,
    layout::{self, View},
    reader::{Reader, Who},
    server::App,
};
use axum::{
    Form, Router,
    extract::{DefaultBodyLimit, Query, State},
    response::Response,
    routing::get,
};
use maud::{Markup, html};
use medchain_client::{ListQuery, StateQuery, TxOutcome, build, purpose_name};
use medchain_state::values::{AccessLogEntry, Licence, Revocation};
use medchain_types::{Event, IdentityName, Purpose, RecordId, TxId};
use serde::Deserialize;
use std::sync::Arc;

/// This audience's routes.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/clinician", get(licence))
        .route("/clinician/shared", get(shared))
        .route("/clinician/request", get(request_page).post(request))
        .route(
            "/clinician/emergency",
            get(break_glass::page)
                .post(break_glass::submit)
                .layer(DefaultBodyLimit::max(break_glass::MAX_FORM_BYTES)),
        )
}

/// The doctor's enrolled identity; other keys are refused.
fn clinician(who: &Who) -> Result<&IdentityName, PortalError> {
    match who.name() {
        Some(name) if who.is_clinician() => Ok(name),
        _ => Err(not_for_this_key(who, "a clinician")),
    }
}

const DAY_MS: u64 = 86_400_000;
/// Beyond this many days a licence has no practical end: no countdown is shown.
const CENTURY_DAYS: u64 = 36_525;

/// Whole days from `now_ms` until `until_ms`, and whether that lies ahead (`false`: the
/// licence has expired that many days ago).
fn days_between(now_ms: u64, until_ms: u64) -> (u64, bool) {
    if until_ms > now_ms {
        ((until_ms - now_ms) / DAY_MS, true)
    } else {
        ((now_ms - until_ms) / DAY_MS, false)
    }
}

/// `/clinician`: the licence, its expiry, and the revocation list at the same height.
async fn licence(State(app): State<Arc<App>>, Query(done): Query<Done>) -> Response {
    app.page(done.tx(), |reader, who, _| {
        let name = clinician(who)?;
        let licence = reader.read_verified(&StateQuery::licence(name))?;
        let at = licence.at.header.clone();
        let revocation =
            reader.read(&StateQuery::revocation(name).at_height(at.height))?;
        Ok(View::new(
            "My licence",
            html! {
                p { "Signed in as " strong { (name.as_str()) } ". Both answers below are proven at block " (at.height) " (" (layout::time(at.timestamp_ms)) "), the licence and the revocation list at the same height." }
                (licence_panel(licence.value.as_ref(), at.timestamp_ms))
                (revocation_panel(revocation.as_ref(), at.height))
            },
        ))
    })
    .await
}

fn licence_panel(licence: Option<&Licence>, chain_ms: u64) -> Markup {
    let Some(licence) = licence else {
        return html! {
            div id="licence" class="panel error" data-licence-state="none" {
                h2 { "No licence" }
                p { "The chain holds no licence for you (proven absent): you cannot be granted records. Your hospital issues one with " code { "medchain licence issue" } "." }
            }
        };
    };
    let (days, ahead) = days_between(chain_ms, licence.expires_at_ms);
    html! {
        div id="licence" class={ "panel " (if ahead { "ok" } else { "error" }) }
            data-licence-state=(if ahead { "valid" } else { "expired" }) {
            h2 { @if ahead { "Licensed" } @else { "Licence expired" } }
            dl class="facts" {
                dt { "Issued by" } dd { (licence.hospital.as_str()) " · " (licence.org.as_str()) }
                dt { "Issued or last renewed" } dd { "block " (licence.issued_at) }
                dt { "Expires" } dd {
                    (layout::time(licence.expires_at_ms))
                    @if !ahead { " — " strong { (days) } " days ago (by the chain's clock)" }
                    @else if days <= CENTURY_DAYS { " — " strong { (days) } " days left (by the chain's clock)" }
                }
            }
        }
    }
}

fn revocation_panel(revocation: Option<&Revocation>, height: u64) -> Markup {
    html! {
        @match revocation {
            Some(revocation) => div id="revocation" class="panel error" data-revoked="true" {
                h2 { "REVOKED" }
                p { "You are on the revocation list since block " (revocation.at) ", revoked by "
                    (layout::id_copy(&revocation.by.to_string()))
                    ". Hospitals refuse your requests until the revocation is lifted." }
            },
            None => div id="revocation" class="panel ok" data-revoked="false" {
                p { "Not on the revocation list (proven absent at block " (height) ")." }
            },
        }
    }
}

/// `/clinician/shared`: consents patients granted me, active ones first.
async fn shared(State(app): State<Arc<App>>, Query(done): Query<Done>) -> Response {
    app.page(done.tx(), |reader, who, app| {
        clinician(who)?;
        let mut listed = reader.all(&ListQuery::grantee_consents(&who.address))?;
        let at = consents::newest_seen(reader)?;
        let genesis_ms = reader.client().light.genesis().genesis_time_ms;
        listed.sort_by_key(|entry| ConsentState::of(&entry.value, &at.header));
        let names = identity_names(reader, listed.iter().map(|entry| entry.value.patient))?;
        let csrf = app.session.csrf();
        Ok(View::new(
            "Shared with me",
            html! {
                p { "Consents patients granted you, active ones first. Ask for a record on chain to have the decision logged in the patient's history; the holding hospital's gateway serves it under an active consent." }
                @if listed.is_empty() {
                    p class="empty" { "No patient has granted you a consent yet." }
                } @else {
                    (layout::table(&["Consent", "Patient", "Records", "Purpose", "Expires", "State"], html! {
                        @for entry in &listed {
                            @let state = ConsentState::of(&entry.value, &at.header);
                            tr data-consent-id=(entry.id) data-consent-state=(state.as_str()) {
                                td { (links::consent(&entry.id)) }
                                td { (person(&entry.value.patient, &names)) }
                                td { ul class="ids" { @for record in &entry.value.records {
                                    li {
                                        (links::record(record))
                                        @if state == ConsentState::Active {
                                            " " (request_button(csrf, record, entry.value.purpose))
                                        }
                                    }
                                } } }
                                td { (purpose_name(entry.value.purpose)) }
                                td { (consents::expiry(entry.value.expiry, &at.header, genesis_ms)) }
                                td class={ "state-" (state.as_str()) } { (state.as_str()) }
                            }
                        }
                    }))
                }
                p { a href="/clinician/request" { "Request another record" } }
            },
        ))
    })
    .await
}

fn request_button(csrf: &str, record: &RecordId, purpose: Purpose) -> Markup {
    html! {
        form class="request-access inline" method="post" action="/clinician/request" {
            (layout::csrf_field(csrf))
            input type="hidden" name="record" value=(record);
            input type="hidden" name="purpose" value=(purpose_name(purpose));
            button type="submit" aria-label={ "Request record " (record) " on chain" } { "Request" }
        }
    }
}

/// `/clinician/request[?tx=ID]`: the request form, and the proven decision on the request
/// just sent.
async fn request_page(State(app): State<Arc<App>>, Query(done): Query<Done>) -> Response {
    let sent = done.tx();
    app.page(None, move |reader, who, app| {
        clinician(who)?;
        // The banner and the decision share one verified read of the transaction; the banner
        // goes first in the page, where `App::page` would put it.
        let sent = sent.map(|tx| (tx, reader.transaction(&tx)));
        let banner = sent.as_ref().map(|(tx, outcome)| outcome_banner(tx, outcome));
        let decided = sent
            .map(|(tx, outcome)| decided(reader, &tx, outcome?))
            .transpose()?;
        Ok(View::new(
            "Request a record",
            html! {
                @if let Some(banner) = banner { (banner) }
                @if let Some(entry) = &decided { (decision_panel(entry)) }
                p { "An access request is a transaction: the chain decides it against the patient's consents, your licence and the revocation list, and logs the decision in the patient's access history, allowed or denied." }
                form id="request-access" class="stacked" method="post" action="/clinician/request" {
                    (layout::csrf_field(app.session.csrf()))
                    label for="record" { "Record (its id or a unique prefix)" }
                    input id="record" name="record" type="text" required autocomplete="off" spellcheck="false";
                    label for="purpose" { "For what" }
                    (input::purpose_select())
                    button type="submit" { "Request on chain" }
                }
            },
        ))
    })
    .await
}

/// The patient's log entry for access request `tx` (proven), found through the record its
/// receipt (in `outcome`) names.
fn decided(
    reader: &Reader<'_>,
    tx: &TxId,
    outcome: TxOutcome,
) -> Result<AccessLogEntry, PortalError> {
    let TxOutcome::Finalized(confirmed) = outcome else {
        return Err(PortalError::NotFound(format!(
            "transaction {tx} is not final yet; reload in a moment"
        )));
    };
    let record = confirmed
        .receipt
        .events
        .iter()
        .find_map(|event| match event {
            Event::AccessDecided { record, .. } => Some(*record),
            _ => None,
        })
        .ok_or_else(|| {
            PortalError::BadInput(format!("transaction {tx} is not an access request"))
        })?;
    reader.access_decision(tx, &record)
}

fn decision_panel(entry: &AccessLogEntry) -> Markup {
    let allowed = entry.decision.is_allowed();
    html! {
        div id="access-decision" class={ "panel " (if allowed { "ok" } else { "error" }) }
            data-decision=(entry.decision.kind()) role="status" {
            h2 { "The chain's decision" }
            p { (decision(&entry.decision)) }
            p { "For record " (links::record(&entry.record))
                " (" (purpose_name(entry.purpose)) "), block " (entry.height)
                ", proven from the patient's access log." }
        }
    }
}

/// The request form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RequestForm {
    csrf: String,
    record: String,
    purpose: String,
}

/// `POST /clinician/request`: signs and sends an access request.
async fn request(State(app): State<Arc<App>>, Form(form): Form<RequestForm>) -> Response {
    app.act(
        &form.csrf,
        "/clinician/request".into(),
        move |reader, who| {
            clinician(who)?;
            let record = input::record(reader, &form.record)?;
            let purpose = input::purpose(&form.purpose)?;
            // Pay at most what the consent asks as read now (verified): a patient who raises
            // the price before the request executes gets it refused, not the doctor's balance.
            let max_reward = reader
                .client()
                .consent_reward(&who.address, &record, purpose)?;
            Ok(build::request_access(record, purpose, max_reward))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::fixtures;
    use medchain_state::testkit;

    #[test]
    fn days_count_whole_days_either_side_of_expiry() {
        assert_eq!(days_between(0, 3 * DAY_MS + 5), (3, true));
        assert_eq!(days_between(0, DAY_MS - 1), (0, true));
        assert_eq!(days_between(10 * DAY_MS, 7 * DAY_MS), (3, false));
        assert_eq!(days_between(5, 5), (0, false), "expiry is exclusive");
    }

    #[test]
    fn clinician_pages_refuse_other_keys_and_say_why() {
        let patient = Who {
            address: testkit::address(6),
            regulator: false,
            identity: None,
        };
        let message = clinician(&patient).unwrap_err().to_string();
        assert!(
            message.contains("for a clinician") && message.contains("not enrolled"),
            "{message}"
        );
        let doctor = fixtures::doctor();
        assert_eq!(clinician(&doctor).unwrap().as_str(), "dr-kim@seoul");
    }
}
