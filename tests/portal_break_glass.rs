//! Break-glass from the portal against real gateways (S3-emergency): a validator, two
//! hospitals with their `medchain hospital` gateways, a patient whose record Seoul General
//! holds and who filed an emergency entry, and a doctor of Busan Medical who runs
//! `medchain portal` and breaks the glass through its pages.
//!
//! Over HTTP, as a browser without scripts does (login cookie, multipart forms): the first
//! step and an unconfirmed second step send nothing (no transaction of the doctor, no
//! emergency request, no notification); a template that opens no entry fails with the reason
//! and nothing of a record. Then in headless Chromium, as a user does (file picker, the box
//! ticked, the script's prompt accepted): the page shows the record, escaped and checked
//! against hEMR, its emergency request and the proven BREAK-GLASS log entry, and the
//! patient's notifications and history show it — on the command line and in the patient's own
//! portal, which also opens the record. A confirmation works once. Screenshots:
//! `clinician-emergency-confirm`, `clinician-emergency-record`.

mod common;

use common::{
    Network,
    browser::Browser,
    hospital::{Storage, fhir_patient},
    portal::{
        PortalProcess,
        session::{Page, field},
    },
};
use medchain_client::ListQuery;
use medchain_types::Address;
use serde_json::Value;
use std::{fs, str::FromStr};

/// A committed synthetic FHIR R4 bundle.
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/fhir/type2_diabetes-2-0000.json"
);
/// Where the emergency form posts.
const EMERGENCY: &str = "/clinician/emergency";

#[test]
fn a_clinician_breaks_the_glass_through_the_portal() {
    let network = Network::start(1);
    network.wait_for_pkg();
    let (seoul, mut seoul_doctors) =
        network.hospital("Seoul General", "seoul-general", &["dr-kim"]);
    let (busan, mut busan_doctors) =
        network.hospital("Busan Medical", "busan-medical", &["dr-lee"]);
    let kim = seoul_doctors.pop().unwrap();
    let lee = busan_doctors.pop().unwrap();
    let holding = network.start_gateway(&seoul, &Storage::Embedded);
    let own = network.start_gateway(&busan, &Storage::Embedded);

    // The patient, enrolled at Seoul General, has a record there and an emergency entry.
    let (patient, patient_address) = network.keygen("patient.key");
    network.ok(&["identity", "enrol", "--key", &patient, "--role", "patient"]);
    network.ok(&[
        "patient",
        "enrol",
        "--key",
        &patient,
        "--hospital",
        &holding.url,
    ]);
    let written = network.json(&[
        "doctor",
        "write",
        "--key",
        &kim.key,
        "--hospital",
        &holding.url,
        "--patient",
        &patient_address,
        "--fhir-patient",
        &fhir_patient(BUNDLE),
        "--bundle",
        BUNDLE,
    ]);
    let record = written["record"].as_str().expect("record id").to_string();
    let template = [7u8; 64];
    let template_path = network.path("thumb.bin");
    fs::write(&template_path, template).unwrap();
    network.ok(&[
        "patient",
        "entry",
        "--key",
        &patient,
        "--record",
        &record,
        "--template",
        &template_path.display().to_string(),
    ]);

    let lee_portal = PortalProcess::start(&network, &lee.key, &network.nodes[0].api);
    let browser = lee_portal.sign_in();
    let Page {
        status, body: form, ..
    } = browser.get("/clinician/emergency");
    assert_eq!(status, 200, "{form}");
    assert!(form.contains(r#"enctype="multipart/form-data""#), "{form}");
    let csrf = field(&form, "csrf").expect("the form's csrf");

    let chain = network.client(0);
    let lee_address = Address::from_str(&lee.address).unwrap();
    let nonce = chain.next_nonce(&lee_address).unwrap();
    let nothing_sent = || {
        assert_eq!(
            chain.next_nonce(&lee_address).unwrap(),
            nonce,
            "the doctor signed a transaction"
        );
        let (emergencies, _) = chain.list_all(&ListQuery::emergencies()).unwrap();
        assert!(emergencies.is_empty(), "{emergencies:?}");
        let notified = network.json(&["patient", "notifications", "--key", &patient]);
        assert_eq!(notified["total"], 0, "{notified}");
    };
    nothing_sent();

    // Step 1 with a template that opens no entry, then its confirmation: refused with the
    // reason, nothing of a record shown, nothing filed.
    let step_one = |template: &[u8]| {
        browser.post_multipart(
            EMERGENCY,
            &[
                ("csrf", csrf.as_bytes()),
                ("patient", patient_address.as_bytes()),
                ("hospital", own.url.as_bytes()),
                ("gateway", holding.url.as_bytes()),
                ("template", template),
            ],
        )
    };
    let confirm = |confirmation: &str| {
        browser.post_multipart(
            EMERGENCY,
            &[
                ("csrf", csrf.as_bytes()),
                ("confirmation", confirmation.as_bytes()),
                ("confirm", b"yes"),
            ],
        )
    };
    let Page {
        status, body: page, ..
    } = step_one(&[8u8; 64]);
    assert_eq!(status, 200, "{page}");
    let wrong = field(&page, "confirmation").expect("a confirmation");
    let Page {
        status, body: page, ..
    } = confirm(&wrong);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("no entry of this patient opens"), "{page}");
    assert!(
        !page.contains("record-check") && !page.contains(r#"class="record""#),
        "{page}"
    );
    nothing_sent();

    // Step 1 with the right template: the confirmation says what will happen; nothing sent.
    let Page {
        status, body: page, ..
    } = step_one(&template);
    assert_eq!(status, 200, "{page}");
    for says in [
        "Nothing has been sent yet",
        "BREAK-GLASS",
        "the patient is notified",
        "the regulator sees",
        &own.url,
        &holding.url,
    ] {
        assert!(
            page.contains(says),
            "the confirmation does not say {says:?}: {page}"
        );
    }
    assert!(
        page.contains(r#"id="confirm-emergency""#) && page.contains("data-confirm="),
        "{page}"
    );
    let confirmation = field(&page, "confirmation").expect("a confirmation");
    nothing_sent();

    // Sent without confirm=yes: refused, nothing sent.
    let Page {
        status, body: page, ..
    } = browser.post_multipart(
        EMERGENCY,
        &[
            ("csrf", csrf.as_bytes()),
            ("confirmation", confirmation.as_bytes()),
        ],
    );
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("not confirmed, so nothing was sent"),
        "{page}"
    );
    nothing_sent();

    // In a real browser: the form with the file picker, the confirmation (the box ticked, the
    // script's prompt accepted), the record.
    let chromium = Browser::start();
    chromium.goto(&browser.server.login_url);
    chromium.goto(&browser.server.page("/clinician/emergency"));
    chromium.fill("#patient", &patient_address);
    chromium.fill("#hospital", &own.url);
    chromium.fill("#gateway", &holding.url);
    chromium.upload("#template", &template_path);
    chromium.submit("#emergency-access");
    chromium.wait_for("form#confirm-emergency[data-confirm]");
    chromium.screenshot("clinician-emergency-confirm");
    let used = chromium
        .attr("input[name=confirmation]", "value")
        .expect("a confirmation");
    nothing_sent();
    chromium.click("#confirm");
    chromium.submit_confirmed("#confirm-emergency", "BREAK-GLASS");
    assert_eq!(
        chromium
            .attr("#record-check", "data-record-check")
            .as_deref(),
        Some("ok"),
        "{}\n{}",
        chromium.describe_page(),
        browser.server.logs()
    );
    chromium.screenshot("clinician-emergency-record");

    // The record, checked against hEMR, with its emergency and the proven log entry.
    for (css, attribute, value) in [
        ("#action-result", "data-outcome", "ok"),
        ("#access-decision", "data-decision", "break_glass"),
    ] {
        assert_eq!(
            chromium.attr(css, attribute).as_deref(),
            Some(value),
            "{}",
            chromium.describe_page()
        );
    }
    assert_eq!(chromium.count("main[data-verified-height]"), 1);
    assert!(
        chromium.count(&format!("button.copy[data-copy='{record}']")) > 0,
        "the page does not name record {record}\n{}",
        chromium.describe_page()
    );
    // The bundle, pretty-printed and escaped: its narrative's XHTML shows as text.
    let shown = chromium.text("pre.record");
    assert!(shown.contains(r#""resourceType": "Bundle""#), "{shown}");
    assert!(
        shown.contains(r#"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>SYNTHETIC"#),
        "{shown}"
    );
    let emergency = chromium.text("#emergency-id");

    // The patient is notified, and the history shows the break-glass.
    let notified = network.json(&["patient", "notifications", "--key", &patient]);
    assert_eq!(notified["total"], 1, "{notified}");
    let notification = &notified["notifications"][0];
    assert_eq!(notification["doctor"], "dr-lee", "{notified}");
    assert_eq!(notification["record"], record.as_str(), "{notified}");
    assert_eq!(notification["emergency"], emergency.as_str(), "{notified}");
    let history = network.json(&["patient", "history", "--key", &patient]);
    let kinds: Vec<&str> = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["break_glass"], "{history}");
    let Page {
        status,
        body: requests,
        ..
    } = browser.get("/clinician/emergency");
    assert_eq!(status, 200, "{requests}");
    assert!(
        requests.contains(&format!(r#"data-copy="{emergency}""#)),
        "{requests}"
    );

    // The confirmation was used: sent again, nothing more happens.
    let Page {
        status, body: page, ..
    } = confirm(&used);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("used already or has expired"), "{page}");
    let notified: Value = network.json(&["patient", "notifications", "--key", &patient]);
    assert_eq!(notified["total"], 1, "{notified}");

    // The patient's own portal: the record opens (fetched from Seoul General's gateway,
    // decrypted with the patient's enrolment, checked against hEMR), and the break-glass is in
    // the history, highlighted, and in the notifications.
    let patient_portal = PortalProcess::start(&network, &patient, &network.nodes[0].api);
    let as_patient = patient_portal.sign_in();
    let Page {
        status, body: page, ..
    } = as_patient.get(&format!("/patient/records/{record}"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"data-record-check="ok""#), "{page}");
    assert!(page.contains("resourceType"), "{page}");
    let Page {
        status, body: page, ..
    } = as_patient.get("/patient/history");
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page.matches(r#"data-access-kind="break_glass""#).count(),
        1,
        "{page}"
    );
    let Page {
        status, body: page, ..
    } = as_patient.get("/patient/notifications");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(emergency.as_str()), "{page}");
}
