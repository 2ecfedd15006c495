//! The regulator and explorer pages against a real chain: the node crate's API served on
//! loopback, blocks finalized with real certificates of the client fixtures' validators, and
//! the portal started as `medchain portal` starts it, driven over HTTP like a browser without
//! scripts (cookie, forms, redirects by hand).

// The client's fixtures: a four-validator genesis and real simplex finalization certificates.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
// Finalizes a block whenever transactions wait.
#[path = "../../gateway/tests/support/producer.rs"]
mod producer;
// The node's tests' chain served on loopback.
#[path = "../../node/tests/served/mod.rs"]
mod served;
// A browser without scripts, signed in.
mod support;

use medchain_client::{Client, LightClient, NodeClient, StateQuery, TxOutcome, WaitPolicy};
use medchain_portal::Portal;
use medchain_state::testkit::{
    self, Actor, EmergencyAsk, HospitalDesk, REGULATOR_SEED, doctor_identity, org_name,
};
use medchain_types::{ContentHash, Expiry, OrgKind, OrgState, Payload, Purpose, RecordId, TxId};
use producer::BlockProducer;
use served::{fresh_chain, verifying_client};
use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::TcpListener,
    thread,
    time::Duration,
};
use support::PortalSession;

type Session = PortalSession<Portal>;

/// Waits are short: blocks are produced every 20 ms.
fn wait() -> WaitPolicy {
    WaitPolicy {
        timeout: Duration::from_secs(30),
        first_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(100),
    }
}

fn send(client: &Client, actor: &Actor, payload: Payload) -> TxId {
    client
        .signer(actor.key.clone())
        .send(payload, Some(&wait()))
        .unwrap()
        .id
}

/// A node that lies: an HTTP proxy in front of `node` that swaps `from` for `to` in the
/// answers to paths starting with `path` (GET only, one request per connection).
fn tampering_proxy(node: &str, path: &'static str, from: &'static str, to: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let node = node.to_string();
    thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut request_line).unwrap();
            // Skip the headers: the portal's reads are GETs without a body.
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let target = request_line.split(' ').nth(1).unwrap_or("/").to_string();
            let mut answer = agent.get(format!("{node}{target}")).call().unwrap();
            let status = answer.status().as_u16();
            let mut body = answer.body_mut().read_to_string().unwrap();
            if target.starts_with(path) {
                body = body.replace(from, to);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A browser signed in to a portal acting as `actor`.
fn open(client: &Client, actor: &Actor) -> Session {
    support::in_process(client, &actor.key, wait())
}

/// The value of the first hidden `csrf` field on a page.
fn csrf(body: &str) -> String {
    support::field(body, "csrf").expect("a form with csrf")
}

/// The `<tr>` opening tag of organisation `name`'s row.
fn org_row<'a>(body: &'a str, name: &str) -> &'a str {
    let start = body
        .find(&format!(r#"<tr data-org="{name}""#))
        .unwrap_or_else(|| panic!("no row for {name} in {body}"));
    &body[start..start + body[start..].find('>').unwrap()]
}

/// The path a browser requests for the first link or form of organisation `name`'s row whose
/// URL ends with `end` (a browser resolves `.` and `..` segments, percent-encoded or not).
fn browser_path(body: &str, name: &str, end: &str) -> String {
    let row = &body[body
        .find(&format!(r#"data-org="{name}""#))
        .unwrap_or_else(|| panic!("no {name} in {body}"))..];
    let url = row
        .split(r#"action=""#)
        .chain(row.split(r#"href=""#))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|url| url.ends_with(end) && url.contains("orgs/"))
        .unwrap_or_else(|| panic!("no URL ending {end} for {name} in {row}"));
    as_browser_resolves(url)
}

/// The path a browser requests for `url` on a portal page.
fn as_browser_resolves(url: &str) -> String {
    let base = url::Url::parse("http://127.0.0.1/regulator/orgs").unwrap();
    base.join(url).unwrap().path().to_string()
}

fn state_of(client: &Client, name: &str) -> OrgState {
    client
        .read(&StateQuery::org(&org_name(name)))
        .unwrap()
        .value
        .unwrap()
        .state
}

#[test]
fn the_regulator_supervises_organisations_and_licences_and_everyone_explores() {
    let chain = fresh_chain();
    let _producer = BlockProducer::start(chain.clone());
    let client = verifying_client(chain.clone());
    let doctor = Actor::new(1);
    let seoul = org_name("Seoul General");
    send(
        &client,
        &doctor,
        testkit::register(&seoul, OrgKind::Hospital),
    );
    send(
        &client,
        &Actor::new(2),
        testkit::register(&org_name("Busan"), OrgKind::Cloud),
    );

    let regulator = open(&client, &Actor::new(REGULATOR_SEED));
    let orgs = regulator.get("/regulator/orgs");
    assert_eq!(orgs.status, 200, "{}", orgs.body);
    assert!(orgs.body.contains("data-verified-height="));
    assert!(org_row(&orgs.body, "Seoul General").contains(r#"data-org-state="pending""#));
    assert!(org_row(&orgs.body, "Busan").contains(r#"data-org-state="pending""#));
    assert!(
        orgs.body
            .contains(r#"action="/regulator/orgs/Seoul%20General/approve""#)
    );
    assert!(
        !orgs
            .body
            .contains(r#"action="/regulator/orgs/Seoul%20General/reinstate""#),
        "a pending organisation cannot be reinstated"
    );
    let filtered = regulator.get("/regulator/orgs?kind=cloud");
    assert!(filtered.body.contains(r#"data-org="Busan""#));
    assert!(!filtered.body.contains(r#"data-org="Seoul General""#));

    // Approve through the form: a verified receipt, and the row moves to audited.
    let token = csrf(&orgs.body);
    let approved = regulator.post(
        "/regulator/orgs/Seoul%20General/approve",
        &[("csrf", &token)],
    );
    assert_eq!(approved.status, 303, "{}", approved.body);
    let back = approved.location.expect("back to the organisations");
    assert!(back.starts_with("/regulator/orgs?tx="), "{back}");
    let after = regulator.get(&back);
    assert!(
        after.body.contains(r#"data-outcome="ok""#),
        "{}",
        after.body
    );
    assert!(org_row(&after.body, "Seoul General").contains(r#"data-org-state="audited""#));
    assert_eq!(state_of(&client, "Seoul General"), OrgState::Audited);
    let approve_tx = back.trim_start_matches("/regulator/orgs?tx=").to_string();

    // A `?tx=` the node does not prove final is no success, whatever the node says of it.
    let unknown = regulator.get(&format!("/regulator/orgs?tx={}", "5a".repeat(32)));
    assert_eq!(unknown.status, 200, "{}", unknown.body);
    assert!(
        unknown.body.contains(r#"data-outcome="failed""#),
        "{}",
        unknown.body
    );

    // A form without the session's csrf value sends nothing.
    let forged = regulator.post("/regulator/orgs/Seoul%20General/suspend", &[]);
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("did not come from this portal"));
    assert_eq!(state_of(&client, "Seoul General"), OrgState::Audited);
    // Nor does an action the state does not allow.
    let again = regulator.post(
        "/regulator/orgs/Seoul%20General/approve",
        &[("csrf", &token)],
    );
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("is audited: it cannot be approved"));

    // A name a browser would read as a step up the path ("..") still names its organisation
    // in every link and form, once the browser has resolved them.
    send(
        &client,
        &Actor::new(3),
        testkit::register(&org_name(".."), OrgKind::Research),
    );
    let orgs = regulator.get("/regulator/orgs");
    let approve = browser_path(&orgs.body, "..", "/approve");
    let approved = regulator.post(&approve, &[("csrf", &token)]);
    assert_eq!(approved.status, 303, "{approve}: {}", approved.body);
    assert_eq!(state_of(&client, ".."), OrgState::Audited);
    let orgs = regulator.get("/regulator/orgs");
    let found = regulator.get("/explorer/search?q=..");
    assert_eq!(found.status, 303, "{}", found.body);
    for path in [
        browser_path(&orgs.body, "..", ".."),
        as_browser_resolves(&found.location.unwrap()),
    ] {
        let page = regulator.get(&path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(r#"data-org="..""#), "{path}");
    }

    // A licensed doctor of the audited hospital, then revoked by the hospital's desk.
    let desk = HospitalDesk::of(&seoul);
    for (actor, payload) in desk.steps(&seoul, &doctor) {
        send(&client, &actor, payload);
    }
    // The doctor releases a record; its hospital files a vouched emergency request for it.
    let patient = Actor::new(50);
    let release = send(
        &client,
        &doctor,
        testkit::release(&doctor, &patient.address, &ContentHash::of(b"EMR")),
    );
    send(&client, &doctor, testkit::set_vouching_key(&doctor));
    send(&client, &desk.actor, testkit::set_vouching_key(&desk.actor));
    let now_ms = client.newest_certified().unwrap().at.header.timestamp_ms;
    let ask = EmergencyAsk {
        doctor: doctor_identity(&doctor),
        hospital: desk.identity.clone(),
        record: RecordId::from(release),
        hur: ContentHash::of(b"h_ur").0,
        issued_at_ms: now_ms + 1_000,
    };
    let emergency = send(&client, &desk.actor, ask.signed_by(&[&doctor, &desk.actor]));
    let breaks = regulator.get("/regulator/break-glass");
    assert_eq!(breaks.status, 200, "{}", breaks.body);
    assert!(
        breaks
            .body
            .contains(&format!(r#"data-emergency="{emergency}""#))
    );
    assert!(
        breaks
            .body
            .contains(&format!("/explorer/records/{release}"))
    );
    let record = regulator.get(&format!("/explorer/records/{release}"));
    assert_eq!(record.status, 200, "{}", record.body);
    assert!(record.body.contains("Seoul General"));

    // A consent valid below the height after its own block: once that block is final, no
    // coming request can rely on it, and the explorer says so as the chain will judge it.
    let tip = client.newest_certified().unwrap().at.header.height;
    let consent = send(
        &client,
        &patient,
        testkit::grant(
            &doctor.address,
            &[RecordId::from(release)],
            Purpose::Treatment,
            Expiry::AtHeight(tip + 2),
        ),
    );
    let shown = regulator.get(&format!("/explorer/consents/{consent}"));
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown.body.contains(r#"data-consent-state="expired""#),
        "{}",
        shown.body
    );

    let licences = regulator.get("/regulator/licences");
    let identity = doctor_identity(&doctor);
    let licence_row = format!(r#"data-licence="{}" data-licence-state="valid""#, identity);
    assert!(licences.body.contains(&licence_row), "{}", licences.body);
    send(&client, &desk.actor, testkit::revoke_doctor(&identity));
    let licences = regulator.get("/regulator/licences");
    let revoked_row = format!(
        r#"data-licence="{}" data-licence-state="revoked""#,
        identity
    );
    assert!(licences.body.contains(&revoked_row), "{}", licences.body);
    assert!(
        licences
            .body
            .contains(&format!(r#"data-revoked="{identity}""#))
    );

    // The organisation's activity: its approval, its members' joins and licensing.
    let activity = regulator.get("/regulator/orgs/Seoul%20General");
    assert_eq!(activity.status, 200, "{}", activity.body);
    assert!(activity.body.contains(r#"id="scanned""#));
    assert!(activity.body.contains(r#"id="org-activity""#));
    for kind in [
        "org state changed",
        "member joined",
        "record released",
        "emergency filed",
        "doctor revoked",
    ] {
        assert!(
            activity.body.contains(kind),
            "no {kind} in {}",
            activity.body
        );
    }

    // The explorer: status, validators, blocks and charts, all from verified blocks.
    let home = regulator.get("/explorer");
    assert_eq!(home.status, 200, "{}", home.body);
    for part in [
        r#"id="tip""#,
        r#"id="blocks""#,
        r#"id="block-rate""#,
        r#"id="tx-rate""#,
        "node-0",
        "not verified",
    ] {
        assert!(home.body.contains(part), "no {part} on the explorer");
    }
    let tx = regulator.get(&format!("/explorer/tx/{approve_tx}"));
    assert_eq!(tx.status, 200);
    assert!(tx.body.contains("Receipt") && tx.body.contains("state-audited"));

    // Search: a unique prefix and a name go to their page; nonsense says so.
    let found = regulator.get(&format!("/explorer/search?q={}", &approve_tx[..10]));
    assert_eq!(found.status, 303);
    assert_eq!(
        found.location.as_deref(),
        Some(format!("/explorer/tx/{approve_tx}").as_str())
    );
    let found = regulator.get("/explorer/search?q=Seoul+General");
    assert_eq!(
        found.location.as_deref(),
        Some("/explorer/orgs/Seoul%20General")
    );
    let org = regulator.get("/explorer/orgs/Seoul%20General");
    assert!(org.body.contains(r#"id="members""#));
    let none = regulator.get("/explorer/search?q=no-such-thing-here");
    assert_eq!(none.status, 200);
    assert!(none.body.contains(r#"id="no-match""#));
    let future = regulator.get("/explorer/blocks/999999");
    assert_eq!(future.status, 404);

    // Another key sees the explorer, and a clear refusal on the regulator's pages.
    let other = open(&client, &doctor);
    let refused = other.get("/regulator/orgs");
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("not the regulator"));
    assert!(!refused.body.contains("data-org="));
    let explorer = other.get("/explorer");
    assert_eq!(explorer.status, 200);

    // A node that changes what a transaction did: the block and transaction pages fail
    // verification and show none of it.
    let TxOutcome::Finalized(confirmed) = client.transaction(&approve_tx.parse().unwrap()).unwrap()
    else {
        panic!("the approval is final");
    };
    let liar = tampering_proxy(
        client.node.url(),
        "/v1/transactions/",
        r#""to":"audited""#,
        r#""to":"suspended""#,
    );
    let lied_to = Client::new(
        NodeClient::new(&liar).unwrap(),
        LightClient::new(fixtures::genesis()).unwrap(),
    );
    let fooled = open(&lied_to, &Actor::new(REGULATOR_SEED));
    for path in [
        format!("/explorer/blocks/{}", confirmed.receipt.height),
        format!("/explorer/tx/{approve_tx}"),
    ] {
        let page = fooled.get(&path);
        assert_eq!(page.status, 502, "{path}: {}", page.body);
        assert!(page.body.contains(r#"id="verification-error""#), "{path}");
        assert!(!page.body.contains("data-verified-height"), "{path}");
        assert!(
            !page.body.contains("state-suspended"),
            "{path}: the lie is not shown"
        );
    }
    assert_eq!(
        fooled.get("/explorer").status,
        200,
        "untouched answers still verify"
    );

    // A longer chain: the charts cover the newest 120 blocks, read once and then cached.
    for _ in 0..150 {
        served::finalize_next(&chain);
    }
    let started = std::time::Instant::now();
    let cold = regulator.get("/explorer");
    let cold_time = started.elapsed();
    let started = std::time::Instant::now();
    let warm = regulator.get("/explorer");
    let warm_time = started.elapsed();
    eprintln!("explorer home over 120 blocks: first {cold_time:?}, then {warm_time:?}");
    for page in [&cold, &warm] {
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Proposed (last 120 blocks)"));
        assert!(
            page.body.contains("12 bars"),
            "twelve buckets of ten blocks"
        );
    }
}

/// A list longer than a page reads (anyone may register organisations) is not cut silently:
/// the page shows its newest entries, the newest registration included, and says how many
/// it leaves out.
#[test]
fn a_list_longer_than_a_page_shows_its_newest_entries_and_says_so() {
    let chain = fresh_chain();
    let _producer = BlockProducer::start(chain.clone());
    let client = verifying_client(chain.clone());
    let registered = 1_001;
    let mut last = None;
    for seed in 0..registered {
        let founder = Actor::new(1_000 + seed);
        let tx = client
            .signer(founder.key.clone())
            .sign(
                testkit::register(&org_name(&format!("Org {seed}")), OrgKind::Research),
                0,
            )
            .unwrap();
        last = Some(client.node.submit(&tx).unwrap());
    }
    client.wait_finalized(&last.unwrap(), &wait()).unwrap();

    let regulator = open(&client, &Actor::new(REGULATOR_SEED));
    let orgs = regulator.get("/regulator/orgs");
    assert_eq!(orgs.status, 200, "{}", orgs.body);
    let rows = orgs.body.matches("<tr data-org=").count();
    assert!(rows < registered as usize, "{rows} rows");
    assert!(
        orgs.body.contains(r#"data-org="Org 1000""#),
        "the newest is shown"
    );
    assert!(
        !orgs.body.contains(r#"data-org="Org 0""#),
        "the oldest is left out"
    );
    let notice = &orgs.body[orgs
        .body
        .find(r#"<div id="partial-list""#)
        .expect("a notice")..];
    let notice = &notice[..notice.find('>').unwrap()];
    assert!(
        notice.contains(&format!(r#"data-shown="{rows}" data-total="{registered}""#)),
        "{notice}"
    );
}
