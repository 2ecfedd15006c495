//! The patient pages: my records across hospitals (opened through the holding hospital's
//! gateway and checked against hEMR), my consents (grant, revoke), my access history with its
//! timeline, and the emergency notifications (S1-release, S1-sharing, S1-rights,
//! S3-emergency).

use super::{
    Done,
    consents::{self, ConsentState},
    input, links, not_for_this_key, timeline,
};
use crate::{
    error::PortalError,
    layout::{self, View},
    reader::{Reader, Who},
    server::App,
};
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    response::Response,
    routing::{get, post},
};
use base64::Engine as _;
use maud::{Markup, html};
use medchain_client::{ListQuery, StateQuery, build, purpose_name};
use medchain_gateway::patient::{HospitalRecords, OpenRecordError, link_for_org};
use medchain_state::values::{AccessLogEntry, Record, StoragePointer};
use medchain_types::{AccessDecision, Address, ConsentId, IdentityName, OrgName, RecordId, Role};
use serde::Deserialize;
use std::{collections::HashMap, sync::Arc};
use zeroize::Zeroizing;

/// This audience's routes.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/patient/records", get(records))
        .route("/patient/records/{id}", get(record))
        .route("/patient/consents", get(consents).post(grant))
        .route("/patient/consents/{id}/revoke", post(revoke))
        .route("/patient/history", get(history))
        .route("/patient/notifications", get(notifications))
}

fn patient_only(who: &Who) -> Result<(), PortalError> {
    if who.is_patient() {
        Ok(())
    } else {
        Err(not_for_this_key(who, "a patient"))
    }
}

/// `/patient/records`: every record released for me, with where its blob is stored.
async fn records(State(app): State<Arc<App>>, Query(done): Query<Done>) -> Response {
    app.page(done.tx(), |reader, who, _| {
        patient_only(who)?;
        let listed = reader.all(&ListQuery::patient_records(&who.address))?;
        let pointers: Vec<Option<StoragePointer>> = listed
            .iter()
            .map(|entry| reader.read(&StateQuery::storage(&entry.id)))
            .collect::<Result<_, _>>()?;
        let names = identity_names(reader, listed.iter().map(|entry| entry.value.doctor))?;
        Ok(View::new(
            "My records",
            html! {
                p { "Every record a doctor released for you, on any hospital's node. Open one to fetch it from the hospital's gateway, decrypt it with your enrolment key and check it against the hash on chain." }
                @if listed.is_empty() {
                    p class="empty" { "No record has been released for you yet." }
                } @else {
                    (layout::table(&["Record", "Hospital", "Doctor", "Released", "Stored"], html! {
                        @for (entry, pointer) in listed.iter().zip(&pointers) {
                            tr data-record-id=(entry.id) {
                                td { (own_record(&entry.id)) }
                                td { (links::org(&entry.value.hospital)) }
                                td { (person(&entry.value.doctor, &names)) }
                                td { (layout::time(entry.value.timestamp_ms)) " · block " (entry.value.released_at) }
                                td { (storage(pointer.as_ref())) }
                            }
                        }
                    }))
                }
            },
        ))
    })
    .await
}

/// `/patient/records/{id}`: one record opened and checked against hEMR.
async fn record(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    app.page(None, move |reader, who, app| {
        patient_only(who)?;
        let id: RecordId = input::full_id(&id, "record")?;
        let opened = open_own(reader, app, who, &id)?;
        let names = identity_names(reader, [opened.record.doctor])?;
        Ok(View::new(
            "Record",
            html! {
                dl class="facts" {
                    dt { "Record" } dd { code { (id) } (layout::copy_button(&id.to_string())) }
                    dt { "Hospital" } dd { (links::org(&opened.record.hospital)) " (" (opened.hospital.as_str()) ")" }
                    dt { "Doctor" } dd { (person(&opened.record.doctor, &names)) }
                    dt { "Released" } dd { (layout::time(opened.record.timestamp_ms)) " · block " (opened.record.released_at) }
                    dt { "Stored" } dd { (storage(Some(&opened.pointer))) }
                    dt { "Fetched from" } dd { code { (opened.gateway) } " (your record number " (opened.index) " there)" }
                }
                div id="record-check" class="panel ok" role="status" data-record-check="ok" {
                    "Checked against hEMR " code { (opened.record.record_hash) }
                    " on chain: the gateway's copy decrypts with your key and hashes to what the doctor released."
                }
                (bundle(&id, &opened.plaintext))
            },
        ))
    })
    .await
}

/// A record fetched, decrypted and checked.
struct Opened {
    record: Record,
    pointer: StoragePointer,
    hospital: IdentityName,
    gateway: String,
    index: u64,
    plaintext: Zeroizing<Vec<u8>>,
}

/// Opens one of the patient's records through the holding hospital's gateway (the shared
/// steps of [`medchain_gateway::patient`]); the chain reads are this page's, verified.
fn open_own(
    reader: &Reader<'_>,
    app: &App,
    who: &Who,
    id: &RecordId,
) -> Result<Opened, PortalError> {
    let record = reader.must(&StateQuery::record(id), || {
        format!("no record {id} is released on chain (proven absent)")
    })?;
    if record.patient != who.address {
        return Err(PortalError::BadInput(format!(
            "record {id} is not yours: it was released for {}",
            record.patient
        )));
    }
    let link = link_for_org(&app.wallet, &record.hospital, |hospital| {
        hospital_org(reader, hospital)
    })?
    .ok_or_else(|| {
        PortalError::BadInput(format!(
            "you are not enrolled at {}, which holds this record: run `medchain patient enrol --key FILE --hospital URL` with its gateway's URL, then start the portal again",
            record.hospital
        ))
    })?;
    let hospital = HospitalRecords::connect(link, who.address).map_err(not_opened)?;
    let held = hospital.held(id).map_err(not_opened)?;
    let pointer = reader.read(&StateQuery::storage(id))?;
    let plaintext = hospital
        .open(held, &record, pointer.as_ref())
        .map_err(not_opened)?;
    Ok(Opened {
        pointer: pointer.ok_or_else(|| PortalError::Internal("opened without a pointer".into()))?,
        hospital: hospital.hospital().clone(),
        gateway: hospital.gateway_url().to_string(),
        index: held.index,
        record,
        plaintext,
    })
}

/// The organisation of an enrolled hospital identity (verified); `None` for anything else.
fn hospital_org(reader: &Reader<'_>, name: &IdentityName) -> Result<Option<OrgName>, PortalError> {
    Ok(reader
        .read(&StateQuery::identity(name))?
        .filter(|identity| identity.role == Role::Hospital)
        .and_then(|identity| identity.org))
}

/// Why a record is not shown: never its content, always the reason.
fn not_opened(error: OpenRecordError) -> PortalError {
    match error {
        OpenRecordError::NotYours { .. } | OpenRecordError::Enrolment { .. } => {
            PortalError::BadInput(error.to_string())
        }
        OpenRecordError::Seal(_) => PortalError::Gateway(format!(
            "{error}. The gateway's copy is not the record the chain names, so nothing of it is shown"
        )),
        other => PortalError::Gateway(other.to_string()),
    }
}

/// One of the patient's records, linked to the page that opens it.
fn own_record(id: &RecordId) -> Markup {
    layout::id_link(&format!("/patient/records/{id}"), &id.to_string())
}

/// A decrypted record: a link that downloads it as a file, and the record as text.
pub(super) fn bundle(id: &RecordId, plaintext: &[u8]) -> Markup {
    let download = format!(
        "data:application/fhir+json;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(plaintext)
    );
    html! {
        p { a href=(download) download={ (id) ".json" } { "Download the FHIR bundle" } }
        pre class="record" { code { (pretty(plaintext)) } }
    }
}

/// The record as text: JSON pretty-printed, anything else as it is.
fn pretty(plaintext: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(plaintext)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(plaintext).into_owned())
}

fn storage(pointer: Option<&StoragePointer>) -> Markup {
    html! {
        @match pointer {
            Some(pointer) => {
                code title=(pointer.blob_hash) { (layout::short(&pointer.blob_hash.to_string())) "…" }
                " at " code { (pointer.location.as_str()) } " · block " (pointer.stored_at)
            }
            None => span class="muted" { "not stored yet" }
        }
    }
}

/// `/patient/consents`: my consents, the grant form, a revoke button on each active one.
async fn consents(State(app): State<Arc<App>>, Query(done): Query<Done>) -> Response {
    app.page(done.tx(), |reader, who, app| {
        patient_only(who)?;
        let listed = reader.all(&ListQuery::patient_consents(&who.address))?;
        let own_records = reader.all(&ListQuery::patient_records(&who.address))?;
        let at = consents::newest_seen(reader)?;
        let genesis_ms = reader.client().light.genesis().genesis_time_ms;
        let names = identity_names(reader, listed.iter().map(|entry| entry.value.grantee))?;
        let csrf = app.session.csrf();
        Ok(View::new(
            "My consents",
            html! {
                h2 { "Grant a consent" }
                form id="grant-consent" class="stacked" method="post" action="/patient/consents" {
                    (layout::csrf_field(csrf))
                    label for="grantee" { "Who (their account address)" }
                    input id="grantee" name="grantee" type="text" required autocomplete="off" spellcheck="false"
                        placeholder="64 hex digits";
                    label for="records" { "Which records (ids or unique prefixes, separated by spaces or commas)" }
                    input id="records" name="records" type="text" required autocomplete="off" spellcheck="false"
                        value=[(own_records.len() == 1).then(|| own_records[0].id.to_string())];
                    label for="purpose" { "For what" }
                    (input::purpose_select())
                    label for="expires" { "Until (a duration like 30d, 12h, 2w, or a date like 2030-12-31)" }
                    input id="expires" name="expires" type="text" required value="30d";
                    button type="submit" { "Grant consent" }
                }
                @if !own_records.is_empty() {
                    details {
                        summary { "Your record ids" }
                        ul { @for entry in &own_records {
                            li { code { (entry.id) } (layout::copy_button(&entry.id.to_string())) " · " (entry.value.hospital.as_str()) }
                        } }
                    }
                }
                h2 { "Consents you granted" }
                @if listed.is_empty() {
                    p class="empty" { "You have granted no consent yet." }
                } @else {
                    (layout::table(&["Consent", "Grantee", "Records", "Purpose", "Granted", "Expires", "State", "Action"], html! {
                        @for entry in &listed {
                            @let state = ConsentState::of(&entry.value, &at.header);
                            tr data-consent-id=(entry.id) data-consent-state=(state.as_str()) {
                                td { (links::consent(&entry.id)) }
                                td { (person(&entry.value.grantee, &names)) }
                                td { ul class="ids" { @for id in &entry.value.records {
                                    li { (own_record(id)) }
                                } } }
                                td { (purpose_name(entry.value.purpose)) }
                                td { "block " (entry.value.granted_at) }
                                td { (consents::expiry(entry.value.expiry, &at.header, genesis_ms)) }
                                td class={ "state-" (state.as_str()) } {
                                    (state.as_str())
                                    @if let Some(height) = entry.value.revoked_at { " at block " (height) }
                                }
                                td {
                                    @if state == ConsentState::Active {
                                        form class="revoke-consent inline" method="post" action={ "/patient/consents/" (entry.id) "/revoke" } {
                                            (layout::csrf_field(csrf))
                                            button type="submit" aria-label={ "Revoke consent " (entry.id) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }))
                }
            },
        ))
    })
    .await
}

/// The grant form (every field a string: the handler says what is wrong with it).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GrantForm {
    csrf: String,
    grantee: String,
    records: String,
    purpose: String,
    expires: String,
}

/// `POST /patient/consents`: signs and sends a consent grant.
async fn grant(State(app): State<Arc<App>>, Form(form): Form<GrantForm>) -> Response {
    app.act(
        &form.csrf,
        "/patient/consents".into(),
        move |reader, who| {
            patient_only(who)?;
            let grantee = input::address(&form.grantee, "grantee")?;
            let purpose = input::purpose(&form.purpose)?;
            let spec = input::deadline(&form.expires)?;
            let own: Vec<RecordId> = reader
                .all(&ListQuery::patient_records(&who.address))?
                .into_iter()
                .map(|listed| listed.id)
                .collect();
            let records = input::own_records(&form.records, &own)?;
            let height = reader.newest()?.at.header.height;
            let expiry = spec
                .resolve(height, layout::now_ms())
                .map_err(|error| PortalError::BadInput(format!("expires: {error}")))?;
            build::grant_consent(&who.address, grantee, records, purpose, expiry)
                .map_err(|error| PortalError::BadInput(error.to_string()))
        },
    )
    .await
}

/// A form that carries only the session's value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CsrfOnly {
    csrf: String,
}

/// `POST /patient/consents/{id}/revoke`: signs and sends the revocation.
async fn revoke(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    app.act(&form.csrf, "/patient/consents".into(), move |_, who| {
        patient_only(who)?;
        let id: ConsentId = input::full_id(&id, "consent")?;
        Ok(build::revoke_consent(id))
    })
    .await
}

/// `/patient/history`: the whole access log, proven complete, with its timeline.
async fn history(State(app): State<Arc<App>>) -> Response {
    app.page(None, |reader, who, _| {
        patient_only(who)?;
        let entries = reader.access_log(&who.address)?;
        let total = reader.seen().cut().map_or(entries.len() as u64, |cut| cut.total);
        let names = identity_names(
            reader,
            entries
                .iter()
                .flat_map(|entry| std::iter::once(entry.requester).chain(entry.served_by)),
        )?;
        let denied = entries.iter().filter(|entry| !entry.decision.is_allowed()).count();
        let glass = entries
            .iter()
            .filter(|entry| matches!(entry.decision, AccessDecision::BreakGlass { .. }))
            .count();
        Ok(View::new(
            "Access history",
            html! {
                p {
                    "Every request for your records, as the chain logged it: "
                    strong { (total) } " in all"
                    @if (entries.len() as u64) < total {
                        "; of the newest " (entries.len()) ", shown here"
                    }
                    ", " strong class="denied" { (denied) } " denied and "
                    strong class="break-glass" { (glass) } " break-glass. Each entry shown is proven, and so is the end of the log: none after them is left out."
                }
                (timeline::access_timeline(&entries))
                @if !entries.is_empty() {
                    (layout::table(&["Decision", "When", "Requester", "Record", "Purpose", "Served by", "Transaction"], html! { @for entry in entries.iter().rev() { (history_row(entry, &names)) } }))
                }
            },
        ))
    })
    .await
}

fn history_row(entry: &AccessLogEntry, names: &HashMap<Address, IdentityName>) -> Markup {
    html! {
        tr data-access-kind=(entry.decision.kind()) {
            td { (decision(&entry.decision)) }
            td { (layout::time(entry.timestamp_ms)) " · block " (entry.height) }
            td { (person(&entry.requester, names)) }
            td { (own_record(&entry.record)) }
            td { (purpose_name(entry.purpose)) }
            td {
                @match &entry.served_by {
                    Some(gateway) => (person(gateway, names)),
                    None => span class="muted" { "asked on chain" },
                }
            }
            td { (links::tx(&entry.tx)) }
        }
    }
}

/// A decision in words: allowed under which consent, denied and why, or break-glass.
pub(super) fn decision(decision: &AccessDecision) -> Markup {
    html! {
        @match decision {
            AccessDecision::Allowed { consent: Some(consent) } => {
                span class="allowed" { "Allowed" } " under consent "
                (links::consent(consent))
            }
            AccessDecision::Allowed { consent: None } => span class="allowed" { "Allowed: your own record" },
            AccessDecision::Denied { reason } => { span class="denied" { "Denied" } ": " (reason.describe()) }
            AccessDecision::BreakGlass { emergency } => {
                span class="break-glass" { "BREAK-GLASS" } " under emergency request "
                (layout::id_copy(&emergency.to_string()))
            }
        }
    }
}

/// `/patient/notifications`: the emergency requests filed for my records.
async fn notifications(State(app): State<Arc<App>>) -> Response {
    app.page(None, |reader, who, _| {
        patient_only(who)?;
        let listed = reader.all(&ListQuery::patient_notifications(&who.address))?;
        Ok(View::new(
            "Notifications",
            html! {
                p { "A doctor who needs one of your records in an emergency, and cannot ask you, files an emergency request vouched by their hospital; the chain notifies you here, and the access appears as break-glass in your history." }
                @if listed.is_empty() {
                    p class="empty" { "No emergency request names you." }
                } @else {
                    (layout::table(&["When", "Doctor", "Hospital", "Record", "Request"], html! {
                        @for entry in listed.iter().rev() {
                            tr data-access-kind="break_glass" {
                                td { (layout::time(entry.value.timestamp_ms)) " · block " (entry.value.filed_at) }
                                td { span class="break-glass" { (entry.value.doctor.as_str()) } }
                                td { (entry.value.hospital.as_str()) " · " (links::org(&entry.value.org)) }
                                td { (own_record(&entry.value.record)) }
                                td { (layout::id_copy(&entry.id.to_string())) }
                            }
                        }
                    }))
                }
            },
        ))
    })
    .await
}

/// The enrolled identity of each distinct address (verified; absent ones are left out).
pub(super) fn identity_names(
    reader: &Reader<'_>,
    addresses: impl IntoIterator<Item = Address>,
) -> Result<HashMap<Address, IdentityName>, PortalError> {
    let mut names = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for address in addresses {
        if seen.insert(address)
            && let Some(name) = reader.read(&StateQuery::identity_of(&address))?
        {
            names.insert(address, name);
        }
    }
    Ok(names)
}

/// An account: its enrolled name if it has one, its address shortened, a copy button.
pub(super) fn person(address: &Address, names: &HashMap<Address, IdentityName>) -> Markup {
    html! {
        span class="id" {
            @if let Some(name) = names.get(address) { (name.as_str()) " " }
            (layout::id_copy(&address.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{reader::fixtures, server, session};
    use axum::{
        body::{Body, to_bytes},
        http::{Request, StatusCode, header},
    };
    use medchain_client::{Client, LightClient, NodeClient};
    use medchain_state::testkit;
    use std::net::TcpListener;
    use tower::ServiceExt as _;

    const PORT: u16 = 8480;

    /// A portal whose node is a listener nobody answers on: any request the portal sends to
    /// it waits in the listener's queue, where the test can see it.
    fn portal_with_silent_node() -> (Arc<App>, TcpListener) {
        let node = TcpListener::bind("127.0.0.1:0").unwrap();
        node.set_nonblocking(true).unwrap();
        let chain = Client::new(
            NodeClient::new(&format!("http://{}", node.local_addr().unwrap())).unwrap(),
            LightClient::new(testkit::genesis_document()).unwrap(),
        );
        (App::for_tests(chain, testkit::key(7), PORT), node)
    }

    async fn post(app: &Arc<App>, path: &str, form: &str) -> (StatusCode, String) {
        let request = Request::post(path)
            .header(header::HOST, format!("127.0.0.1:{PORT}"))
            .header(
                header::COOKIE,
                format!("{}={}", app.session.cookie_name(), app.session.token()),
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap();
        let response = server::router(app.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_form_without_this_sessions_csrf_is_refused_before_anything_is_sent() {
        let (app, node) = portal_with_silent_node();
        let grantee = testkit::address(3);
        let record = testkit::record_id(1);
        let consent = "ab".repeat(32);
        let revoke = format!("/patient/consents/{consent}/revoke");
        let other_session = session::Session::new(8480).unwrap();
        let forged = [
            (
                "/patient/consents",
                format!("grantee={grantee}&records={record}&purpose=treatment&expires=30d"),
            ),
            (
                "/patient/consents",
                format!(
                    "csrf={}&grantee={grantee}&records={record}&purpose=treatment&expires=30d",
                    other_session.csrf()
                ),
            ),
            (revoke.as_str(), "csrf=".to_string()),
            (revoke.as_str(), format!("csrf={}x", app.session.csrf())),
        ];
        for (path, form) in &forged {
            let (status, page) = post(&app, path, form).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {form}: {page}");
            assert!(
                page.contains("did not come from this portal") && page.contains("reload"),
                "{path} {form}: {page}"
            );
        }
        assert!(
            node.accept().is_err(),
            "a refused form must not reach the node"
        );
        // The same form with this session's value does go to the node (which then fails).
        let form = format!(
            "csrf={}&grantee={grantee}&records={record}&purpose=treatment&expires=30d",
            app.session.csrf()
        );
        let app_for_post = app.clone();
        let posted =
            tokio::spawn(async move { post(&app_for_post, "/patient/consents", &form).await });
        let reached = tokio::task::spawn_blocking(move || {
            node.set_nonblocking(false).unwrap();
            node.accept().map(|(connection, _)| connection)
        })
        .await
        .unwrap();
        let connection = reached.expect("the form with this session's value reaches the node");
        drop(connection);
        let (status, _) = posted.await.unwrap();
        assert_ne!(status, StatusCode::OK);
    }

    #[test]
    fn patient_pages_refuse_other_roles_and_say_why() {
        let doctor = fixtures::doctor();
        let error = patient_only(&doctor).unwrap_err();
        assert!(matches!(error, PortalError::BadInput(_)), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("for a patient"), "{message}");
        assert!(message.contains("dr-kim@seoul (Doctor)"), "{message}");
        let regulator = Who {
            address: testkit::address(0),
            regulator: true,
            identity: None,
        };
        assert!(
            patient_only(&regulator)
                .unwrap_err()
                .to_string()
                .contains("the regulator's")
        );
        let patient = Who {
            address: testkit::address(6),
            regulator: false,
            identity: None,
        };
        assert!(patient_only(&patient).is_ok());
    }
}
