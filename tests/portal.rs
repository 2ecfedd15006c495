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

use common::{Network, tamper::TamperingProxy};
use medchain_client::{ClientError, ListQuery, NodeClient, StateQuery};
use medchain_types::{Address, OrgName};
use std::str::FromStr;

/// The proxy alters what it should and nothing else, so the portal's test below can rely on
/// it: through it, a light client refuses a tampered organisation and a tampered list, and
/// still verifies an untampered account.
#[test]
fn a_tampering_proxy_alters_exactly_the_answers_a_light_client_then_refuses() {
    let network = Network::start(1);
    let (founder, founder_address) = network.keygen("founder.key");
    network.ok(&[
        "org",
        "register",
        "--key",
        &founder,
        "--name",
        "Jeju Clinic",
    ]);
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
