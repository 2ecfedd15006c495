//! The patient and clinician pages against a real chain (the node crate's execution and HTTP
//! API on loopback, blocks finalized with real certificates), through the portal's own HTTP
//! server as a browser uses it: log in, read the pages, post the forms.
//!
//! A patient grants a doctor consent through the consents page; the doctor sees it shared and
//! requests the record on chain (allowed); the patient revokes it; the doctor's next request is
//! denied; the patient's history shows both, with the timeline. Pages of another role, and a
//! record the patient's wallet cannot open, are refused with the reason and no data.

#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
#[path = "../../gateway/tests/support/licensed.rs"]
mod licensed;
#[path = "../../gateway/tests/support/producer.rs"]
mod producer;
#[path = "../../node/tests/served/mod.rs"]
mod served;
mod support;

use licensed::licensed_doctor_chain;
use medchain_client::{Client, WaitPolicy, build};
use medchain_portal::Portal;
use medchain_state::testkit::Actor;
use medchain_types::{Purpose, RecordId};
use producer::BlockProducer;
use std::time::Duration;
use support::{Page, PortalSession};

const BUNDLE: &[u8] = br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#;

fn wait() -> WaitPolicy {
    WaitPolicy {
        timeout: Duration::from_secs(30),
        first_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(100),
    }
}

/// A chain with an audited hospital, a licensed doctor, and one record released for the
/// patient.
fn chain_with_a_record(doctor: &Actor, patient: &Actor) -> (Client, BlockProducer, RecordId) {
    let (client, producer) = licensed_doctor_chain(doctor, &wait());
    let release = build::release_record(
        client.light.chain_id(),
        &doctor.key,
        patient.address,
        BUNDLE,
    );
    let sent = client
        .signer(doctor.key.clone())
        .send(release.payload, Some(&wait()))
        .unwrap();
    (client, producer, RecordId::from(sent.id))
}

type Browser = PortalSession<Portal>;

/// Dr Kim's record of a patient on a served chain, and each of them signed in to a portal.
struct Scene {
    client: Client,
    /// Finalizes blocks while it lives.
    producer: BlockProducer,
    record: RecordId,
    doctor: Actor,
    as_patient: Browser,
    as_doctor: Browser,
}

impl Scene {
    fn new() -> Self {
        let doctor = Actor::new(1);
        let patient = Actor::new(50);
        let (client, producer, record) = chain_with_a_record(&doctor, &patient);
        let as_patient = open(&client, &patient);
        let as_doctor = open(&client, &doctor);
        Self {
            client,
            producer,
            record,
            doctor,
            as_patient,
            as_doctor,
        }
    }
}

/// A browser signed in to a portal acting as `who`.
fn open(client: &Client, who: &Actor) -> Browser {
    support::in_process(client, &who.key, wait())
}

/// Posts `fields` with the session's `csrf` value (from a page's form): the status, and
/// where it redirects to or the page it answered.
fn post(browser: &Browser, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let csrf = csrf_from_a_form(browser);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let answer = browser.post(path, &form);
    (answer.status, answer.location.unwrap_or(answer.body))
}

/// [`post`], which must succeed, then the page it leads to (the outcome shown).
fn submit(browser: &Browser, path: &str, fields: &[(&str, &str)]) -> String {
    let (status, to) = post(browser, path, fields);
    assert_eq!(status, 303, "{path}: {to}");
    let page = browser.get(&to);
    assert_eq!(page.status, 200, "{to}: {}", page.body);
    page.body
}

fn csrf_from_a_form(browser: &Browser) -> String {
    for page in ["/patient/consents", "/clinician/request"] {
        if let Some(csrf) = support::field(&browser.get(page).body, "csrf") {
            return csrf;
        }
    }
    panic!("no page with a form")
}

/// The `data-consent-id` of the first row in `state`.
fn consent_in(page: &str, state: &str) -> Option<String> {
    let marker = format!(r#"data-consent-state="{state}""#);
    let row = page[..page.find(&marker)?].rfind("data-consent-id=\"")? + "data-consent-id=\"".len();
    Some(page[row..row + 64].to_string())
}

#[test]
fn consent_lifecycle_and_access_history_through_the_pages() {
    let Scene {
        producer: _producer,
        record,
        doctor,
        as_patient,
        as_doctor,
        ..
    } = Scene::new();

    let Page {
        status, body: page, ..
    } = as_patient.get("/patient/records");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!(r#"data-record-id="{record}""#)),
        "{page}"
    );
    assert!(
        page.contains("data-verified-height=") && page.contains("Seoul General"),
        "{page}"
    );

    let page = submit(
        &as_patient,
        "/patient/consents",
        &[
            ("grantee", &doctor.address.to_string()),
            ("records", &record.to_string()[..12]),
            ("purpose", "treatment"),
            ("expires", "30d"),
        ],
    );
    assert!(page.contains(r#"data-outcome="ok""#), "{page}");
    let consent = consent_in(&page, "active").expect("an active consent row");
    assert!(page.contains(r#"class="revoke-consent"#), "{page}");

    let Page {
        status,
        body: shared,
        ..
    } = as_doctor.get("/clinician/shared");
    assert_eq!(status, 200, "{shared}");
    assert_eq!(
        consent_in(&shared, "active").as_deref(),
        Some(consent.as_str())
    );
    let Page {
        status,
        body: licence,
        ..
    } = as_doctor.get("/clinician");
    assert_eq!(status, 200, "{licence}");
    assert!(
        licence.contains(r#"data-licence-state="valid""#),
        "{licence}"
    );
    assert!(licence.contains(r#"data-revoked="false""#), "{licence}");

    let request = [
        ("record", record.to_string()),
        ("purpose", "treatment".into()),
    ];
    let request: Vec<(&str, &str)> = request.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let decided = submit(&as_doctor, "/clinician/request", &request);
    assert!(decided.contains(r#"data-decision="allowed""#), "{decided}");

    let page = submit(
        &as_patient,
        &format!("/patient/consents/{consent}/revoke"),
        &[],
    );
    assert_eq!(
        consent_in(&page, "revoked").as_deref(),
        Some(consent.as_str())
    );
    assert!(consent_in(&page, "active").is_none(), "{page}");

    let decided = submit(&as_doctor, "/clinician/request", &request);
    assert!(decided.contains(r#"data-decision="denied""#), "{decided}");
    assert!(
        decided.contains("the patient revoked the consent"),
        "{decided}"
    );

    let Page {
        status,
        body: history,
        ..
    } = as_patient.get("/patient/history");
    assert_eq!(status, 200, "{history}");
    assert!(
        history.contains(r#"<svg id="access-timeline""#),
        "{history}"
    );
    assert_eq!(
        history.matches(r#"tr data-access-kind="allowed""#).count(),
        1,
        "{history}"
    );
    assert_eq!(
        history.matches(r#"tr data-access-kind="denied""#).count(),
        1,
        "{history}"
    );
    assert!(
        history.contains(doctor.address.to_string().get(..12).unwrap()),
        "{history}"
    );
}

#[test]
fn pages_of_another_role_and_unopenable_records_show_the_reason_not_data() {
    let Scene {
        client,
        producer: _producer,
        record,
        doctor,
        as_patient,
        as_doctor,
        ..
    } = Scene::new();

    let Page {
        status, body: page, ..
    } = as_patient.get("/clinician");
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("these pages are for a clinician"), "{page}");
    assert!(!page.contains("data-verified-height"), "{page}");
    let Page {
        status, body: page, ..
    } = as_doctor.get("/patient/consents");
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("these pages are for a patient"), "{page}");

    // The patient's wallet holds no enrolment at the hospital: nothing to decrypt with.
    let Page {
        status, body: page, ..
    } = as_patient.get(&format!("/patient/records/{record}"));
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not enrolled at Seoul General"), "{page}");
    assert!(
        !page.contains("resourceType") && !page.contains("record-check"),
        "{page}"
    );
    // Another patient's record is refused as such.
    let as_stranger = open(&client, &Actor::new(51));
    let Page {
        status, body: page, ..
    } = as_stranger.get(&format!("/patient/records/{record}"));
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("is not yours"), "{page}");

    // A bad form is refused with what to change, and nothing is sent.
    let (status, page) = post(
        &as_patient,
        "/patient/consents",
        &[
            ("grantee", &doctor.address.to_string()),
            ("records", &record.to_string()),
            ("purpose", "treatment"),
            ("expires", "someday"),
        ],
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains(r#"data-outcome="failed""#), "{page}");
    assert!(page.contains("expires: "), "{page}");
    let Page { body: after, .. } = as_patient.get("/patient/consents");
    assert!(consent_in(&after, "active").is_none(), "{after}");
}

/// Anyone may ask for a patient's record, and every request is logged in the patient's
/// access history, so a stranger can grow it without bound: the history page reads the newest
/// entries only, proven up to the end of the log, and says how many it leaves out.
#[test]
fn a_history_grown_by_a_stranger_shows_its_newest_entries_and_says_so() {
    let (doctor, patient) = (Actor::new(81), Actor::new(82));
    let (client, _producer, record) = chain_with_a_record(&doctor, &patient);
    let stranger = Actor::new(83);
    let asked = 1_001;
    let signer = client.signer(stranger.key.clone());
    let mut last = None;
    for nonce in 0..asked {
        let tx = signer
            .sign(build::request_access(record, Purpose::Research, 0), nonce)
            .unwrap();
        last = Some(client.node.submit(&tx).unwrap());
    }
    client.wait_finalized(&last.unwrap(), &wait()).unwrap();

    let Page {
        status, body: page, ..
    } = open(&client, &patient).get("/patient/history");
    assert_eq!(status, 200, "{page}");
    let rows = page.matches("<tr data-access-kind=").count();
    assert!(rows < asked as usize, "{rows} rows");
    let last = last.unwrap().to_string();
    assert!(page.contains(&last), "the newest request is shown");
    let notice = &page[page.find(r#"<div id="partial-list""#).expect("a notice")..];
    let notice = &notice[..notice.find('>').unwrap()];
    assert!(
        notice.contains(&format!(r#"data-shown="{rows}" data-total="{asked}""#)),
        "{notice}"
    );
}
