//! Issue 10's portal in a real browser: headless Chromium (tests/common/browser.rs) drives
//! `medchain portal` processes on a devnet. A patient grants and revokes a consent through the
//! page and sees a denied access appear in their history; a regulator suspends an organisation;
//! a portal behind a node that alters its answers shows a verification error, not the values.
//! Every view is photographed into `target/portal-screenshots/` (and `docs/portal/` with
//! `MEDCHAIN_SCREENSHOTS=1`, the images docs/portal.md shows).
//!
//! The elements looked for are the portal's DOM contract (`data-verified-height`,
//! `#verification-error`, `#action-result`, `data-consent-state`, `data-access-kind`,
//! `data-org-state`, …); texts are not, so the pages may be reworded freely.

mod common;

use common::{
    Network, browser::Browser, hospital::Doctor, portal::PortalProcess, tamper::TamperingProxy,
};
use medchain_client::{ClientError, ListQuery, NodeClient, StateQuery};
use medchain_types::{Address, OrgName};
use std::{fs, str::FromStr};

/// The proxy alters what it should and nothing else, so the portal's test below can rely on
/// it: through it, a light client refuses a tampered organisation and a tampered list, and
/// still verifies an untampered account.
#[test]
fn a_tampering_proxy_alters_exactly_the_answers_a_light_client_then_refuses() {
    let network = Network::start(1);
    let (founder, founder_address) = network.keygen("founder.key");
    network.register_org(&founder, "Jeju Clinic");
    let org = StateQuery::org(&OrgName::new("Jeju Clinic").expect("org name"));
    let founder_address = Address::from_str(&founder_address).expect("address");
    let through = |proxy: &TamperingProxy| {
        let mut client = network.client(0);
        client.node = NodeClient::new(&proxy.url).expect("proxy URL");
        client
    };

    // Straight from the node, the same reads verify: what fails below is the alteration.
    let honest = network.client(0);
    assert!(honest.read(&org).expect("org").value.is_some());
    assert_eq!(
        honest.list(&ListQuery::orgs(), 0, 10).expect("orgs").total,
        1
    );

    let proxy = TamperingProxy::start(&network.nodes[0].api, "/v1/state/orgs/");
    let lied_to = through(&proxy);
    let refused = lied_to.read(&org);
    assert!(
        matches!(refused, Err(ClientError::Verify(_))),
        "a tampered organisation was accepted: {refused:?}"
    );
    assert_eq!(proxy.tampered(), [org.path()]);
    let account = lied_to
        .read(&StateQuery::account(&founder_address))
        .expect("an untampered answer through the proxy verifies");
    assert_eq!(account.value.map(|account| account.nonce), Some(1));
    assert_eq!(
        proxy.tampered().len(),
        1,
        "only the organisation was altered"
    );

    let proxy = TamperingProxy::start(&network.nodes[0].api, "/v1/lists/");
    let refused = through(&proxy).list(&ListQuery::orgs(), 0, 10);
    assert!(
        matches!(refused, Err(ClientError::Verify(_))),
        "a tampered list was accepted: {refused:?}"
    );
    assert_eq!(proxy.tampered().len(), 1);
}

/// The people of the scenario and the one record it is about.
struct Scene {
    network: Network,
    patient: String,
    /// The doctor the patient consents to.
    kim: Doctor,
    /// A doctor with no consent.
    park: Doctor,
    record: String,
}

impl Scene {
    /// A devnet with an audited hospital, two licensed doctors, and an enrolled patient for
    /// whom Dr Kim has released a record.
    fn new() -> Self {
        let network = Network::start(1);
        let (_, mut doctors) = network.hospital(
            "Seoul General",
            "seoul-general",
            &["dr-kim@seoul-general", "dr-park@seoul-general"],
        );
        let park = doctors.pop().expect("Dr Park");
        let kim = doctors.pop().expect("Dr Kim");
        let (patient, patient_address) = network.keygen("patient.key");
        // Patients enrol under a pseudonym, never a name.
        network.ok(&["identity", "enrol", "--key", &patient, "--role", "patient"]);
        let bundle = network.path("bundle.json");
        fs::write(&bundle, br#"{"resourceType":"Bundle","type":"collection"}"#).unwrap();
        let released = network.json(&[
            "record",
            "release",
            "--key",
            &kim.key,
            "--patient",
            &patient_address,
            "--file",
            &bundle.display().to_string(),
        ]);
        let record = released["record"].as_str().expect("record id").to_string();
        Self {
            network,
            patient,
            kim,
            park,
            record,
        }
    }

    /// `medchain access request` by `doctor` for the record, for treatment.
    fn access_request<'a>(&'a self, doctor: &'a Doctor) -> [&'a str; 8] {
        [
            "access",
            "request",
            "--key",
            &doctor.key,
            "--record",
            &self.record,
            "--purpose",
            "treatment",
        ]
    }
}

/// Someone at their own machine: their portal, and a browser of their own signed in to it.
/// (Separate browsers, as for separate people: cookies are per host, not per port, so two
/// portals on 127.0.0.1 would share one browser's cookie jar.)
struct User {
    // First: the session ends before the portal does.
    browser: Browser,
    portal: PortalProcess,
}

impl User {
    /// Starts a portal with `key` in front of `node` and opens its login URL, which lands on
    /// its home page.
    fn sign_in(network: &Network, key: &str, node: &str) -> Self {
        let portal = PortalProcess::start(network, key, node);
        let browser = Browser::start();
        browser.goto(&portal.login_url);
        browser.wait_for("main");
        let landed = browser.url();
        assert!(
            landed.starts_with(&portal.base) && !landed.contains("token="),
            "the login did not land on a page of the portal\n{}\n{}",
            browser.describe_page(),
            portal.logs()
        );
        Self { browser, portal }
    }

    /// Opens `path`, checks that the page states the height its data was verified at, and
    /// returns that height.
    fn open(&self, path: &str) -> u64 {
        let browser = &self.browser;
        browser.goto(&self.portal.page(path));
        let height = browser
            .attr("main[data-verified-height]", "data-verified-height")
            .expect("the attribute matched");
        let stated = browser.text("#verified-at");
        assert!(
            stated.contains(&height),
            "#verified-at ({stated:?}) does not name height {height}\n{}",
            browser.describe_page()
        );
        assert_eq!(browser.count("#verification-error"), 0);
        height.parse().expect("a height")
    }

    /// [`Self::open`], then a screenshot `name` (one per view: docs/portal.md shows them).
    fn photograph(&self, path: &str, name: &str) -> u64 {
        let height = self.open(path);
        self.browser.screenshot(name);
        height
    }

    /// Submits the form matching `form_css` and checks that the answer reports success.
    fn act(&self, form_css: &str) {
        self.browser.submit(form_css);
        self.expect_success(form_css);
    }

    /// Checks that the page after submitting `form_css` reports success.
    fn expect_success(&self, form_css: &str) {
        let outcome = self.browser.attr("#action-result", "data-outcome");
        assert_eq!(
            outcome.as_deref(),
            Some("ok"),
            "`{form_css}` failed\n{}\n{}",
            self.browser.describe_page(),
            self.portal.logs()
        );
    }

    /// Whether the page shows a copy button for `id` (as every id shown has).
    fn shows_id(&self, id: &str) -> bool {
        self.browser
            .count(&format!("button.copy[data-copy='{id}']"))
            > 0
    }
}

#[test]
fn a_patient_and_a_regulator_use_the_portal_in_a_real_browser() {
    let scene = Scene::new();
    let network = &scene.network;
    let node = &network.nodes[0].api;
    let patient = User::sign_in(network, &scene.patient, node);
    let kim = User::sign_in(network, &scene.kim.key, node);

    let consent = grant(&scene, &patient);
    kim.photograph("/clinician", "clinician");
    kim.photograph("/clinician/shared", "clinician-shared");
    assert!(
        kim.shows_id(&consent),
        "the patient's consent is not among those shared with Dr Kim\n{}",
        kim.browser.describe_page()
    );
    revoke(&scene, &patient, &consent);
    see_a_denied_access(&scene, &patient);
    explore(&scene, &patient);
    suspend_an_organisation(&scene);
    a_tampered_answer_is_an_error(&scene);
}

/// The patient grants Dr Kim a consent through the page, which lets him in. Returns its id.
fn grant(scene: &Scene, patient: &User) -> String {
    let browser = &patient.browser;
    patient.photograph("/patient/records", "patient-records");
    assert!(
        patient.shows_id(&scene.record),
        "the record is not listed\n{}",
        browser.describe_page()
    );

    patient.open("/patient/consents");
    assert_eq!(browser.count("tr[data-consent-id]"), 0);
    browser.fill("form#grant-consent [name=grantee]", &scene.kim.address);
    browser.fill("form#grant-consent [name=records]", &scene.record);
    browser.select("form#grant-consent [name=purpose]", "treatment");
    browser.fill("form#grant-consent [name=expires]", "30d");
    patient.act("form#grant-consent");

    patient.photograph("/patient/consents", "patient-consents");
    let consent = browser
        .attr("tr[data-consent-state=active]", "data-consent-id")
        .expect("an active consent's row names it");
    assert!(
        browser.count(&format!("tr[data-consent-id='{consent}'] time[datetime]")) > 0,
        "the expiry is not shown as a date\n{}",
        browser.describe_page()
    );
    // What the page did is on chain: the consent is Dr Kim's, and it lets him in.
    let network = &scene.network;
    let on_chain = network.json(&["query", "consent", &consent]);
    assert_eq!(on_chain["value"]["grantee"], scene.kim.address.as_str());
    let allowed = network.ok(&scene.access_request(&scene.kim));
    assert!(allowed.contains("ALLOWED"), "{allowed}");
    consent
}

/// The patient revokes the consent from its row.
fn revoke(scene: &Scene, patient: &User, consent: &str) {
    let row = format!("tr[data-consent-id='{consent}']");
    patient.open("/patient/consents");
    patient.act(&format!("{row} form.revoke-consent"));
    patient.open("/patient/consents");
    assert_eq!(
        patient.browser.attr(&row, "data-consent-state").as_deref(),
        Some("revoked")
    );
    let on_chain = scene.network.json(&["query", "consent", consent]);
    assert!(on_chain["value"]["revoked_at"].is_u64(), "{on_chain}");
}

/// Dr Park, who has no consent, asks for the record from the command line and is refused;
/// the refusal appears in the patient's history beside Dr Kim's allowed access.
fn see_a_denied_access(scene: &Scene, patient: &User) {
    let browser = &patient.browser;
    let before = patient.open("/patient/history");
    assert_eq!(browser.count("tr[data-access-kind=allowed]"), 1);
    assert_eq!(browser.count("tr[data-access-kind=denied]"), 0);
    let denied = scene.network.denied(&scene.access_request(&scene.park));
    assert!(denied.contains("DENIED"), "{denied}");
    let after = patient.photograph("/patient/history", "patient-history");
    assert!(
        after > before,
        "the refusal is in a later block than {before}"
    );
    assert_eq!(browser.count("tr[data-access-kind=denied]"), 1);
    assert_eq!(browser.count("tr[data-access-kind=allowed]"), 1);
    browser.wait_for("svg#access-timeline");
    patient.photograph("/patient/notifications", "patient-notifications");
}

/// Everyone's explorer: the chain, a block, and the record's release transaction.
fn explore(scene: &Scene, anyone: &User) {
    anyone.photograph("/explorer", "explorer");
    anyone.photograph("/explorer/blocks/1", "explorer-block");
    anyone.photograph(&format!("/explorer/tx/{}", scene.record), "explorer-tx");
}

/// The regulator suspends an audited organisation from the page; the others stay audited.
fn suspend_an_organisation(scene: &Scene) {
    let network = &scene.network;
    let (founder, _) = network.keygen("busan.key");
    network.register_org(&founder, "Busan Clinic");
    network.approve_org("Busan Clinic");
    let regulator_key = network.regulator_key.display().to_string();
    let regulator = User::sign_in(network, &regulator_key, &network.nodes[0].api);
    let browser = &regulator.browser;
    regulator.open("/regulator/orgs");
    // A name with a space: the form's action is percent-encoded, the row's attribute is not.
    let busan = "tr[data-org='Busan Clinic']";
    assert_eq!(
        browser.attr(busan, "data-org-state").as_deref(),
        Some("audited")
    );
    // Suspension asks first (the browser's confirm dialog), naming the organisation.
    let suspend = format!("{busan} form[action$='/suspend']");
    browser.submit_confirmed(&suspend, "Busan Clinic");
    regulator.expect_success(&suspend);
    regulator.photograph("/regulator/orgs", "regulator-orgs");
    assert_eq!(
        browser.attr(busan, "data-org-state").as_deref(),
        Some("suspended")
    );
    assert_eq!(
        browser
            .attr("tr[data-org='Seoul General']", "data-org-state")
            .as_deref(),
        Some("audited"),
        "only Busan Clinic was suspended"
    );
    assert_eq!(
        network.json(&["query", "org", "Busan Clinic"])["value"]["state"],
        "suspended"
    );
    regulator.photograph("/regulator/licences", "regulator-licences");
    regulator.photograph("/regulator/break-glass", "regulator-break-glass");
}

/// The patient's portal behind a node that alters the records it lists shows an error, and
/// neither a verified height nor the record.
fn a_tampered_answer_is_an_error(scene: &Scene) {
    let proxy = TamperingProxy::start(&scene.network.nodes[0].api, "/v1/lists/records/");
    let deceived = User::sign_in(&scene.network, &scene.patient, &proxy.url);
    let browser = &deceived.browser;
    browser.goto(&deceived.portal.page("/patient/records"));
    let reason = browser.text("#verification-error");
    browser.screenshot("verification-error");
    assert!(!reason.trim().is_empty(), "the error does not say why");
    assert_eq!(
        browser.attr("#verification-error", "role").as_deref(),
        Some("alert")
    );
    assert_eq!(browser.count("main[data-verified-height]"), 0);
    let page = browser.describe_page();
    assert!(
        !page.contains(&scene.record[..12]),
        "the unverified record is shown\n{page}"
    );
    assert!(
        !proxy.tampered().is_empty(),
        "the portal listed no records through the proxy\n{}",
        deceived.portal.logs()
    );
}
