//! Emergency (break-glass) access from the portal (S3-emergency), in two steps.
//!
//! 1. `POST /clinician/emergency` with the form — the patient's address, the doctor's own
//!    hospital gateway, the holding hospital's gateway and the patient's biometric template as
//!    an uploaded file — sends nothing: it checks the input and who the patient is (verified),
//!    keeps the request in this process under a one-time confirmation and answers with a page
//!    saying exactly what breaking the glass will do.
//! 2. The same route with that confirmation, `confirm=yes` and the session's `csrf` runs
//!    [`medchain_gateway::doctor::break_glass`] — the flow `medchain doctor emergency` runs —
//!    with the portal's chain key and identity keys, and shows the record, checked against
//!    hEMR, with the emergency request and the access's proven log entry.
//!
//! The template is uploaded rather than named by a path: the file picker is how a browser
//! user hands over a file, and a path field would let whoever can post to the portal make it
//! read any file its user can (the key file included). The template stays in the portal
//! process between the steps (never echoed into a page), for at most [`KEPT_FOR`], and a
//! confirmation works once: a reload or a double click cannot break the glass twice.

use super::{clinician, decision_panel, links};
use crate::{
    error::PortalError,
    layout::{self, View},
    reader::Reader,
    server::{App, page_failed},
    views::{
        final_banner, input,
        patient::{bundle, identity_names, person},
    },
};
use axum::{
    extract::{
        Multipart, Query, State,
        multipart::{MultipartError, MultipartRejection},
    },
    response::Response,
};
use maud::{Markup, html};
use medchain_client::{ListQuery, StateQuery, TxOutcome};
use medchain_gateway::{
    client::{GatewayClient, GatewayClientError},
    doctor::{self, BreakGlass, BrokenGlass, DoctorError, DoctorKeys},
};
use medchain_state::values::AccessLogEntry;
use medchain_types::{Address, IdentityName, Role};
use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use taka::EntityKeys;
use zeroize::Zeroizing;

/// Largest form body the route reads (the template and a few short fields).
pub(super) const MAX_FORM_BYTES: usize = 64 * 1024;
/// Largest template accepted: biometric templates are a few kilobytes at most.
const MAX_TEMPLATE_BYTES: usize = 32 * 1024;
/// How long a prepared request waits for its confirmation.
const KEPT_FOR: Duration = Duration::from_secs(10 * 60);
/// How many prepared requests are kept at once (the oldest goes first).
const MAX_KEPT: usize = 16;

/// A break-glass request checked in step 1, waiting for its confirmation.
struct Prepared {
    patient: Address,
    /// The doctor's own hospital's gateway.
    own: GatewayClient,
    /// The holding hospital's gateway.
    holder: GatewayClient,
    template: Zeroizing<Vec<u8>>,
    since: Instant,
}

/// Break-glass requests between their two steps, each under a random one-time confirmation.
#[derive(Default)]
pub(crate) struct PendingBreakGlass {
    kept: Mutex<HashMap<String, Prepared>>,
}

impl PendingBreakGlass {
    /// Keeps `request`; returns its confirmation. Expired requests are dropped, and the oldest
    /// when [`MAX_KEPT`] are waiting.
    fn keep(&self, request: Prepared) -> Result<String, PortalError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|error| {
            PortalError::Internal(format!("no randomness for the confirmation: {error}"))
        })?;
        let confirmation = hex::encode(bytes);
        let mut kept = self.lock()?;
        kept.retain(|_, waiting| waiting.since.elapsed() < KEPT_FOR);
        while kept.len() >= MAX_KEPT {
            let oldest = kept
                .iter()
                .min_by_key(|(_, waiting)| waiting.since)
                .map(|(confirmation, _)| confirmation.clone());
            match oldest {
                Some(oldest) => kept.remove(&oldest),
                None => break,
            };
        }
        kept.insert(confirmation.clone(), request);
        Ok(confirmation)
    }

    /// The request `confirmation` names, once: `None` if it was used, expired or never
    /// issued.
    fn take(&self, confirmation: &str) -> Result<Option<Prepared>, PortalError> {
        let taken = self.lock()?.remove(confirmation);
        Ok(taken.filter(|request| request.since.elapsed() < KEPT_FOR))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Prepared>>, PortalError> {
        self.kept
            .lock()
            .map_err(|_| PortalError::Internal("the pending break-glass requests are lost".into()))
    }
}

/// What the emergency page's form is prefilled with: the patient only. A link anyone can
/// make may carry it, so gateway URLs are never taken from one (a crafted link must not hand
/// the doctor a form or a command that sends the request to a gateway of its choosing).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct EmergencyForm {
    patient: String,
}

/// `GET /clinician/emergency`: what break-glass is, the form, and my emergency requests.
pub(super) async fn page(
    State(app): State<Arc<App>>,
    Query(form): Query<EmergencyForm>,
) -> Response {
    let node = app.chain.node.url().to_string();
    app.page(None, move |reader, who, app| {
        clinician(who)?;
        let command = emergency_command(&form, &node)?;
        let mine: Vec<_> = reader
            .all(&ListQuery::emergencies())?
            .into_iter()
            .filter(|entry| entry.value.doctor_address == who.address)
            .collect();
        Ok(View::new(
            "Emergency access",
            html! {
                div class="panel warning" role="note" {
                    h2 { "Break-glass: only when the patient cannot consent" }
                    p { "Emergency access opens a patient's record without their consent. It is logged on chain as " strong class="break-glass" { "BREAK-GLASS" } ", the patient is notified, and the regulator sees every such access." }
                    ol {
                        li { "You open the patient's emergency entry with their biometric template (in this portal, on this machine)." }
                        li { "Your hospital co-signs and files the emergency request on chain." }
                        li { "The hospital holding the record checks the request on chain, logs the break-glass access and releases the record to you." }
                    }
                    p { "Nothing is sent until you have read what will happen and confirmed it on the next page." }
                }
                form id="emergency-access" class="stacked" method="post" action="/clinician/emergency" enctype="multipart/form-data" {
                    (layout::csrf_field(app.session.csrf()))
                    label for="patient" { "Patient (their account address)" }
                    input id="patient" name="patient" type="text" required autocomplete="off" spellcheck="false" value=(form.patient);
                    label for="hospital" { "Your hospital's gateway URL" }
                    input id="hospital" name="hospital" type="url" required placeholder="http://127.0.0.1:9102" value="";
                    label for="gateway" { "The holding hospital's gateway URL" }
                    input id="gateway" name="gateway" type="url" required placeholder="http://127.0.0.1:9101" value="";
                    label for="template" { "The patient's biometric template (a file, at most " (MAX_TEMPLATE_BYTES / 1024) " KiB)" }
                    input id="template" name="template" type="file" required;
                    button type="submit" { "Review what will happen" }
                }
                details {
                    summary { "From a terminal instead" }
                    p { "The same flow, with the patient's template file:" }
                    pre id="emergency-cli" { code { (command) } }
                    (layout::copy_button(&command))
                }
                h2 { "Your emergency requests" }
                @if mine.is_empty() {
                    p class="empty" { "You have filed none." }
                } @else {
                    (layout::table(&["When", "Record", "Hospital", "Request"], html! {
                        @for entry in mine.iter().rev() {
                            tr data-access-kind="break_glass" {
                                td { (layout::time(entry.value.timestamp_ms)) " · block " (entry.value.filed_at) }
                                td { (links::record(&entry.value.record)) }
                                td { (entry.value.hospital.as_str()) }
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

/// `medchain doctor emergency …` with what the form gave (placeholders for the rest), every
/// word quoted for a POSIX shell.
fn emergency_command(form: &EmergencyForm, node: &str) -> Result<String, PortalError> {
    let patient = match form.patient.trim() {
        "" => "PATIENT_ADDRESS".to_string(),
        text => input::address(text, "patient")?.to_string(),
    };
    let words = [
        "medchain".to_string(),
        "doctor".into(),
        "emergency".into(),
        "--key".into(),
        "YOUR_KEY_FILE".into(),
        "--node".into(),
        node.to_string(),
        "--patient".into(),
        patient,
        "--template".into(),
        "PATIENT_TEMPLATE_FILE".into(),
        "--hospital".into(),
        "YOUR_HOSPITAL_GATEWAY_URL".into(),
        "--gateway".into(),
        "HOLDING_HOSPITAL_GATEWAY_URL".into(),
        "--out".into(),
        "record.json".into(),
    ];
    shlex::try_join(words.iter().map(String::as_str)).map_err(|error| {
        PortalError::BadInput(format!(
            "the node URL holds a character no shell command can: {error}"
        ))
    })
}

/// The fields either step posts (as `multipart/form-data`: step 1 uploads a file).
#[derive(Default)]
struct Posted {
    csrf: String,
    confirm: String,
    confirmation: String,
    patient: String,
    hospital: String,
    gateway: String,
    template: Option<Zeroizing<Vec<u8>>>,
}

/// `POST /clinician/emergency`: step 1 without a confirmation, step 2 with `confirm=yes`.
pub(super) async fn submit(
    State(app): State<Arc<App>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let posted = match multipart {
        Ok(multipart) => read_posted(multipart).await,
        Err(rejection) => Err(PortalError::BadInput(format!(
            "the emergency form is sent as multipart/form-data from the emergency access page: {rejection}"
        ))),
    };
    let posted = match posted.and_then(|posted| app.check_csrf(&posted.csrf).map(|()| posted)) {
        Ok(posted) => posted,
        Err(error) => return page_failed(None, &error),
    };
    if posted.confirm == "yes" {
        confirmed(app, &posted.confirmation).await
    } else if !posted.confirmation.is_empty() {
        page_failed(
            None,
            &PortalError::BadInput(
                "the break-glass was not confirmed, so nothing was sent: go back, tick the confirmation box and press the button again".into(),
            ),
        )
    } else {
        prepare(app, posted).await
    }
}

async fn read_posted(mut multipart: Multipart) -> Result<Posted, PortalError> {
    let mut posted = Posted::default();
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "template" {
            let bytes = field.bytes().await.map_err(unreadable)?;
            posted.template = Some(Zeroizing::new(bytes.to_vec()));
            continue;
        }
        let text = field.text().await.map_err(unreadable)?;
        match name.as_str() {
            "csrf" => posted.csrf = text,
            "confirm" => posted.confirm = text,
            "confirmation" => posted.confirmation = text,
            "patient" => posted.patient = text,
            "hospital" => posted.hospital = text,
            "gateway" => posted.gateway = text,
            _ => {}
        }
    }
    Ok(posted)
}

fn unreadable(error: MultipartError) -> PortalError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return PortalError::BadInput(format!(
            "the form is larger than {} KiB: the template file may be at most {} KiB",
            MAX_FORM_BYTES / 1024,
            MAX_TEMPLATE_BYTES / 1024
        ));
    }
    PortalError::BadInput(format!("the form could not be read: {}", error.body_text()))
}

/// Step 1: checks the input, sends nothing, and asks for the confirmation.
async fn prepare(app: Arc<App>, posted: Posted) -> Response {
    let request = match checked(posted) {
        Ok(request) => request,
        Err(error) => return page_failed(None, &error),
    };
    app.page(None, move |reader, who, app| {
        clinician(who)?;
        if app.entity_keys.is_none() {
            return Err(no_identity_keys());
        }
        let patient = enrolled_patient(reader, &request.patient)?;
        let body = confirmation_page(&request, &patient, app.session.csrf());
        let confirmation = app.break_glass.keep(request)?;
        Ok(View::new("Confirm emergency access", body(&confirmation)))
    })
    .await
}

/// The form's fields as a request, or what to change.
fn checked(posted: Posted) -> Result<Prepared, PortalError> {
    let patient = input::address(&posted.patient, "patient")?;
    let gateway = |url: &str, field: &str| {
        GatewayClient::new(url.trim())
            .map_err(|error| PortalError::BadInput(format!("{field}: {error}")))
    };
    let own = gateway(&posted.hospital, "your hospital's gateway")?;
    let holder = gateway(&posted.gateway, "the holding hospital's gateway")?;
    let template = posted
        .template
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| {
            PortalError::BadInput(
                "template: choose the file with the patient's biometric template".into(),
            )
        })?;
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(PortalError::BadInput(format!(
            "template: the file has {} bytes; a template has at most {MAX_TEMPLATE_BYTES}",
            template.len()
        )));
    }
    Ok(Prepared {
        patient,
        own,
        holder,
        template,
        since: Instant::now(),
    })
}

/// The patient's enrolled identity (verified): break-glass opens an enrolled patient's entry.
fn enrolled_patient(reader: &Reader<'_>, patient: &Address) -> Result<IdentityName, PortalError> {
    let name = reader.must(&StateQuery::identity_of(patient), || {
        format!("{patient} has no enrolled identity (proven absent): break-glass opens the emergency entry of an enrolled patient; check the address")
    })?;
    let identity = reader.must(&StateQuery::identity(&name), || {
        format!("no identity {name} is enrolled on chain (proven absent)")
    })?;
    if identity.role != Role::Patient {
        return Err(PortalError::BadInput(format!(
            "{name} is enrolled as a {:?}, not a patient; check the address",
            identity.role
        )));
    }
    Ok(name)
}

/// The confirmation page for `request`, given the confirmation it is kept under.
fn confirmation_page<'a>(
    request: &Prepared,
    patient: &'a IdentityName,
    csrf: &'a str,
) -> impl FnOnce(&str) -> Markup + 'a {
    let address = request.patient;
    let own = request.own.url().to_string();
    let holder = request.holder.url().to_string();
    let template_bytes = request.template.len();
    move |confirmation| {
        let prompt = format!(
            "Break the glass for patient {}? The access is logged on chain as BREAK-GLASS, the patient is notified and the regulator sees it.",
            patient.as_str()
        );
        html! {
            div class="panel warning" role="alert" {
                h2 { "Nothing has been sent yet" }
                p { "If you confirm, this portal will, with your key:" }
                ol {
                    li { "open the patient's emergency entries on chain with the template you gave, here in this process;" }
                    li { "register your vouching key on chain if the chain does not hold it yet (a transaction you sign);" }
                    li { "ask your hospital's gateway at " code { (own) } " to co-sign and file the emergency request on chain in your name;" }
                    li { "ask the holding hospital's gateway at " code { (holder) } " for the record: it checks the request on chain and logs the access;" }
                    li { "decrypt the record and check it against its hash on chain (hEMR) before showing it." }
                }
                p {
                    strong { "This cannot be undone. " }
                    "The access is logged on chain as " strong class="break-glass" { "BREAK-GLASS" } " under your name, "
                    strong { "the patient is notified" } ", and " strong { "the regulator sees" } " every break-glass access."
                }
            }
            dl class="facts" {
                dt { "Patient" } dd { (patient.as_str()) " · " code { (address) } (layout::copy_button(&address.to_string())) }
                dt { "Your hospital's gateway" } dd { code { (own) } }
                dt { "Holding hospital's gateway" } dd { code { (holder) } }
                dt { "Template" } dd { (template_bytes) " bytes, kept in this portal process until you confirm (for " (KEPT_FOR.as_secs() / 60) " minutes at most)" }
            }
            form id="confirm-emergency" class="stacked" method="post" action="/clinician/emergency"
                enctype="multipart/form-data" data-confirm=(prompt) {
                (layout::csrf_field(csrf))
                input type="hidden" name="confirmation" value=(confirmation);
                div class="check" {
                    input id="confirm" name="confirm" type="checkbox" value="yes" required;
                    label for="confirm" { "This is an emergency: the patient cannot consent, and I take responsibility for this access." }
                }
                button type="submit" class="danger" { "Break the glass" }
            }
            p { a href="/clinician/emergency" { "Cancel: nothing is sent" } }
        }
    }
}

/// Step 2: the confirmed request runs; the page shows the record or, on any failure, only
/// the reason.
async fn confirmed(app: Arc<App>, confirmation: &str) -> Response {
    let request = match app.break_glass.take(confirmation) {
        Ok(Some(request)) => request,
        Ok(None) => {
            return page_failed(
                None,
                &PortalError::BadInput(format!(
                    "this confirmation was used already or has expired (they last {} minutes), so nothing was sent now: start again from the emergency access form",
                    KEPT_FOR.as_secs() / 60
                )),
            );
        }
        Err(error) => return page_failed(None, &error),
    };
    app.page(None, move |reader, who, app| {
        clinician(who)?;
        let keys = identity_keys(reader, app)?;
        let broken = doctor::break_glass(
            reader.client(),
            DoctorKeys {
                key: &app.key,
                identity: &keys,
            },
            &BreakGlass {
                patient: &request.patient,
                template: &request.template,
                own: &request.own,
                holder: &request.holder,
                wait: &app.wait,
            },
        )
        .map_err(failed)?;
        let (logged, outcome) = logged(reader, &broken)?;
        let names = identity_names(reader, [request.patient])?;
        Ok(View::new(
            "Emergency access: record released",
            released_page(&broken, &logged, outcome, &names),
        ))
    })
    .await
}

/// The portal key file's identity keys, checked against the chain's public parameters.
fn identity_keys(reader: &Reader<'_>, app: &App) -> Result<EntityKeys, PortalError> {
    let bytes = app.entity_keys.as_ref().ok_or_else(no_identity_keys)?;
    let params = doctor::public_params(reader.client()).map_err(failed)?;
    EntityKeys::from_bytes(&params, bytes).map_err(|error| {
        PortalError::BadInput(format!(
            "the key file's identity keys do not fit the chain's parameters ({error}): enrol again with `medchain identity enrol --key FILE`, then start the portal again"
        ))
    })
}

fn no_identity_keys() -> PortalError {
    PortalError::BadInput(
        "this portal's key file holds no identity keys, which break-glass needs: enrol with `medchain identity enrol --key FILE`, then start the portal again".into(),
    )
}

/// The access's entry in the patient's log and its transaction's receipt, both proven. The
/// glass is broken by then: if they cannot be verified, the page says so and shows nothing of
/// the record.
fn logged(
    reader: &Reader<'_>,
    broken: &BrokenGlass,
) -> Result<(AccessLogEntry, Markup), PortalError> {
    let access_tx = broken.received.access_tx;
    let unverified = |error: PortalError| {
        PortalError::Verification(format!(
            "the record was released under emergency request {} (access transaction {access_tx}), but its log entry does not verify: {error}. Nothing of the record is shown; the patient's history shows the access",
            broken.emergency
        ))
    };
    let entry = reader
        .access_decision(&access_tx, &broken.received.record)
        .map_err(unverified)?;
    let TxOutcome::Finalized(confirmed) = reader.transaction(&access_tx).map_err(unverified)?
    else {
        return Err(unverified(PortalError::Node(
            "the node names the access transaction not final".into(),
        )));
    };
    let outcome = final_banner(
        html! {
            "Break-glass done: the holding hospital logged the access in transaction "
            (links::tx(&access_tx)) ", final in block "
        },
        &confirmed.receipt,
    );
    Ok((entry, outcome))
}

fn released_page(
    broken: &BrokenGlass,
    logged: &AccessLogEntry,
    outcome: Markup,
    names: &HashMap<Address, IdentityName>,
) -> Markup {
    let received = &broken.received;
    html! {
        (outcome)
        (decision_panel(logged))
        dl class="facts" {
            dt { "Patient" } dd { (person(&received.released.patient, names)) }
            dt { "Record" } dd { (links::record(&received.record)) }
            dt { "Held by" } dd { (received.hospital.as_str()) " (record number " (received.index) " there)" }
            dt { "Emergency request" } dd { code id="emergency-id" { (broken.emergency) } (layout::copy_button(&broken.emergency.to_string())) }
            dt { "Access transaction" } dd { (links::tx(&received.access_tx)) }
        }
        div id="record-check" class="panel ok" role="status" data-record-check="ok" {
            "Checked against hEMR " code { (received.released.record_hash) }
            " on chain (verified at finalized height " (received.verified_at.header.height)
            "): the holding hospital's copy decrypts with the released key and hashes to what the doctor released."
        }
        p { "The patient is notified of this access, and the regulator sees it among the break-glass accesses." }
        (bundle(&received.record, &received.plaintext))
    }
}

/// Why break-glass stopped, for the page: never anything of the record.
fn failed(error: DoctorError) -> PortalError {
    match error {
        DoctorError::Chain(error) => error.into(),
        DoctorError::Gateway(GatewayClientError::Refused {
            code,
            message,
            access_tx,
        }) => {
            let logged = access_tx.map_or_else(String::new, |tx| {
                format!(" The refusal is logged on chain in transaction {tx}.")
            });
            PortalError::Gateway(format!(
                "the hospital gateway refused ({code}): {message}.{logged}"
            ))
        }
        DoctorError::Gateway(error) => PortalError::Gateway(error.to_string()),
        DoctorError::Seal(_) => PortalError::Gateway(format!(
            "{error}. The gateway's copy is not the record the chain names, so nothing of it is shown"
        )),
        DoctorError::Taka(_)
        | DoctorError::WrongRelease { .. }
        | DoctorError::BadRecordKey(_)
        | DoctorError::NoBlob { .. } => {
            PortalError::Gateway(format!("{error}; nothing of the record is shown"))
        }
        DoctorError::WrongTemplate { .. } => PortalError::BadInput(format!(
            "{error}: check the template file (nothing was sent), or the patient has filed no emergency entry"
        )),
        DoctorError::Ungated => PortalError::BadInput(format!(
            "{error}: the patient must file the entry again (`medchain patient entry`)"
        )),
        DoctorError::WrongHolder { ref named, .. } => PortalError::BadInput(format!(
            "{error}: give {named}'s gateway as the holding hospital's"
        )),
        DoctorError::NotEnrolled { .. }
        | DoctorError::UnknownIdentity { .. }
        | DoctorError::NotReleased { .. }
        | DoctorError::PkgNotReady => PortalError::NotFound(error.to_string()),
        DoctorError::WrongRole { .. } | DoctorError::NotThePatients { .. } => {
            PortalError::BadInput(error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::router;
    use axum::{
        body::{Body, to_bytes},
        http::{Request, StatusCode, header},
    };
    use medchain_client::{Client, LightClient, NodeClient, keys};
    use medchain_state::testkit;
    use medchain_types::{ChainId, Genesis, ValidatorInfo};
    use std::net::TcpListener;
    use tower::ServiceExt as _;

    const PORT: u16 = 8481;
    const BOUNDARY: &str = "break-glass-test-boundary";

    #[test]
    fn the_emergency_command_is_quoted_and_checks_the_patient() {
        let patient = testkit::address(4);
        // A link naming gateways prefills the patient only.
        let linked = format!(
            "patient={patient}&hospital=http%3A%2F%2Fevil%3A1&gateway=http%3A%2F%2Fevil%3A2"
        );
        let form: EmergencyForm = serde_urlencoded::from_str(&linked).unwrap();
        let command = emergency_command(&form, "http://127.0.0.1:8400;x").unwrap();
        assert!(
            command.starts_with(
                "medchain doctor emergency --key YOUR_KEY_FILE --node 'http://127.0.0.1:8400;x'"
            ),
            "{command}"
        );
        assert!(
            command.contains(&format!("--patient {patient}")),
            "{command}"
        );
        assert!(
            command.contains("--hospital YOUR_HOSPITAL_GATEWAY_URL") && !command.contains("evil"),
            "{command}"
        );
        let empty = emergency_command(&EmergencyForm::default(), "http://n:1").unwrap();
        assert!(
            empty.contains("--patient PATIENT_ADDRESS")
                && empty.contains("--gateway HOLDING_HOSPITAL_GATEWAY_URL"),
            "{empty}"
        );
        let error = emergency_command(
            &EmergencyForm {
                patient: "nope".into(),
            },
            "http://n:1",
        )
        .unwrap_err();
        assert!(error.to_string().starts_with("patient: "), "{error}");
    }

    /// A loopback port that records whether anything connected to it (connections wait in
    /// its backlog, never answered).
    struct Watched(TcpListener);

    impl Watched {
        fn new() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            Self(listener)
        }

        fn url(&self) -> String {
            format!("http://{}", self.0.local_addr().unwrap())
        }

        fn contacted(&self) -> bool {
            self.0.accept().is_ok()
        }
    }

    /// A portal whose node and both gateways are watched ports.
    struct Scene {
        app: Arc<App>,
        node: Watched,
        own: Watched,
        holder: Watched,
    }

    impl Scene {
        fn new() -> Self {
            let node = Watched::new();
            let genesis = Genesis {
                chain_id: ChainId::new("portal-test").unwrap(),
                genesis_time_ms: 0,
                regulator: testkit::address(0),
                validators: vec![ValidatorInfo {
                    name: "v".into(),
                    public_key: testkit::address(1),
                }],
                tokens: None,
                med: None,
            };
            let chain = Client::new(
                NodeClient::new(&node.url()).unwrap(),
                LightClient::new(genesis).unwrap(),
            );
            Self {
                app: App::for_tests(chain, keys::generate(), PORT),
                node,
                own: Watched::new(),
                holder: Watched::new(),
            }
        }

        /// A request as step 1 would have kept it; its confirmation.
        fn prepared(&self) -> String {
            let request = Prepared {
                patient: testkit::address(7),
                own: GatewayClient::new(&self.own.url()).unwrap(),
                holder: GatewayClient::new(&self.holder.url()).unwrap(),
                template: Zeroizing::new(vec![7; 64]),
                since: Instant::now(),
            };
            self.app.break_glass.keep(request).unwrap()
        }

        /// Posts `fields` as multipart/form-data with the session cookie: status and page.
        async fn post(&self, fields: &[(&str, &[u8])]) -> (StatusCode, String) {
            let request = Request::post("/clinician/emergency")
                .header(header::HOST, format!("127.0.0.1:{PORT}"))
                .header(
                    header::COOKIE,
                    format!(
                        "{}={}",
                        self.app.session.cookie_name(),
                        self.app.session.token()
                    ),
                )
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(Body::from(multipart(fields)))
                .unwrap();
            let response = router(self.app.clone()).oneshot(request).await.unwrap();
            let status = response.status();
            let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }

        fn step_one(&self, csrf: &str, template: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
            vec![
                ("csrf", csrf.as_bytes().to_vec()),
                ("patient", testkit::address(7).to_string().into_bytes()),
                ("hospital", self.own.url().into_bytes()),
                ("gateway", self.holder.url().into_bytes()),
                ("template", template.to_vec()),
            ]
        }

        /// Whether the node or either gateway was contacted.
        fn anything_sent(&self) -> bool {
            self.node.contacted() || self.own.contacted() || self.holder.contacted()
        }
    }

    fn multipart(fields: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, value) in fields {
            let file = if *name == "template" {
                "; filename=\"template.bin\""
            } else {
                ""
            };
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    fn borrowed<'a>(fields: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'a str, &'a [u8])> {
        fields
            .iter()
            .map(|(name, value)| (*name, value.as_slice()))
            .collect()
    }

    #[tokio::test]
    async fn a_forged_csrf_sends_nothing_and_burns_no_confirmation() {
        let scene = Scene::new();
        let confirmation = scene.prepared();
        let forged = "0".repeat(64);
        let (status, page) = scene
            .post(&[
                ("csrf", forged.as_bytes()),
                ("confirmation", confirmation.as_bytes()),
                ("confirm", b"yes"),
            ])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains("did not come from this portal"), "{page}");
        let step_one = scene.step_one(&forged, &[7; 64]);
        let (status, page) = scene.post(&borrowed(&step_one)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains("did not come from this portal"), "{page}");
        assert!(!page.contains("confirm-emergency"), "{page}");
        assert!(!scene.anything_sent());
        assert!(
            scene.app.break_glass.take(&confirmation).unwrap().is_some(),
            "a forged post must not use up the user's confirmation"
        );
    }

    #[tokio::test]
    async fn without_confirm_yes_nothing_is_sent() {
        let scene = Scene::new();
        let confirmation = scene.prepared();
        let csrf = scene.app.session.csrf().to_string();
        for confirm in [None, Some("no"), Some("YES"), Some("")] {
            let mut fields = vec![
                ("csrf", csrf.as_bytes()),
                ("confirmation", confirmation.as_bytes()),
            ];
            fields.extend(confirm.map(|confirm| ("confirm", confirm.as_bytes())));
            let (status, page) = scene.post(&fields).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{confirm:?}: {page}");
            assert!(
                page.contains("not confirmed, so nothing was sent"),
                "{page}"
            );
        }
        assert!(!scene.anything_sent());
        // Still waiting for the real confirmation.
        assert!(scene.app.break_glass.take(&confirmation).unwrap().is_some());
    }

    #[tokio::test]
    async fn a_used_or_unknown_confirmation_sends_nothing() {
        let scene = Scene::new();
        let csrf = scene.app.session.csrf().to_string();
        let used = scene.prepared();
        assert!(scene.app.break_glass.take(&used).unwrap().is_some());
        for confirmation in [used.as_str(), "", "feed"] {
            let (status, page) = scene
                .post(&[
                    ("csrf", csrf.as_bytes()),
                    ("confirmation", confirmation.as_bytes()),
                    ("confirm", b"yes"),
                ])
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
            assert!(page.contains("used already or has expired"), "{page}");
        }
        assert!(!scene.anything_sent());
    }

    #[tokio::test]
    async fn a_bad_form_is_refused_before_anything_is_sent() {
        let scene = Scene::new();
        let csrf = scene.app.session.csrf().to_string();
        let oversized = scene.step_one(&csrf, &vec![7; MAX_FORM_BYTES + 1]);
        let (status, page) = scene.post(&borrowed(&oversized)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains("larger than 64 KiB"), "{page}");
        let too_long = scene.step_one(&csrf, &vec![7; MAX_TEMPLATE_BYTES + 1]);
        let (status, page) = scene.post(&borrowed(&too_long)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains("a template has at most"), "{page}");
        let empty = scene.step_one(&csrf, &[]);
        let (_, page) = scene.post(&borrowed(&empty)).await;
        assert!(page.contains("choose the file"), "{page}");
        let mut no_patient = scene.step_one(&csrf, &[7; 64]);
        no_patient[1].1 = b"nobody".to_vec();
        let (_, page) = scene.post(&borrowed(&no_patient)).await;
        assert!(page.contains("patient: "), "{page}");
        let mut bad_gateway = scene.step_one(&csrf, &[7; 64]);
        bad_gateway[3].1 = b"ftp://127.0.0.1:1".to_vec();
        let (_, page) = scene.post(&borrowed(&bad_gateway)).await;
        assert!(page.contains("gateway: bad gateway URL"), "{page}");
        assert!(!scene.anything_sent());
        assert_eq!(scene.app.break_glass.lock().unwrap().len(), 0);
    }

    #[test]
    fn a_confirmation_works_once_within_its_time_and_few_are_kept() {
        let scene = Scene::new();
        let first = scene.prepared();
        assert!(scene.app.break_glass.take(&first).unwrap().is_some());
        assert!(scene.app.break_glass.take(&first).unwrap().is_none());

        let late = scene.prepared();
        let since = Instant::now().checked_sub(KEPT_FOR).unwrap();
        scene
            .app
            .break_glass
            .lock()
            .unwrap()
            .get_mut(&late)
            .unwrap()
            .since = since;
        assert!(scene.app.break_glass.take(&late).unwrap().is_none());

        let oldest = scene.prepared();
        scene
            .app
            .break_glass
            .lock()
            .unwrap()
            .get_mut(&oldest)
            .unwrap()
            .since = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        let newer: Vec<String> = (0..MAX_KEPT).map(|_| scene.prepared()).collect();
        assert_eq!(scene.app.break_glass.lock().unwrap().len(), MAX_KEPT);
        assert!(scene.app.break_glass.take(&oldest).unwrap().is_none());
        assert!(scene.app.break_glass.take(&newer[0]).unwrap().is_some());
    }
}
