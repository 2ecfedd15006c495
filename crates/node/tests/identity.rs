//! The identity, licence and revocation routes on a real chain served over loopback HTTP:
//! every answer verified by the light client against real finalization certificates, "not
//! revoked at height h" answered with an exclusion proof at exactly h, and bad parameters
//! refused with JSON errors (S3-register, S3-revoke, S4-ca).

// The client's fixtures: a four-validator genesis and real simplex finalization certificates.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
mod served;

use medchain_client::{Client, ClientError, StateQuery};
use medchain_node::chain::Chain;
use medchain_state::testkit::{
    self, Actor, HospitalDesk, REGULATOR_SEED, doctor_identity, org_name,
};
use medchain_types::{IdentityName, OrgKind, OrgState, Role};
use served::{commit, fresh_chain, verifying_client};
use std::sync::Arc;

/// A chain where Seoul General's desk licensed `doctor`, served on loopback.
struct Served {
    chain: Arc<Chain>,
    client: Client,
    doctor: Actor,
    desk: HospitalDesk,
}

fn served() -> Served {
    let chain = fresh_chain();
    let hospital = org_name("Seoul General");
    let doctor = Actor::new(1);
    let desk = HospitalDesk::of(&hospital);
    commit(
        &chain,
        &[doctor.sign(0, testkit::register(&hospital, OrgKind::Hospital))],
    );
    let regulator = Actor::new(REGULATOR_SEED);
    commit(
        &chain,
        &[regulator.sign(0, testkit::set_state(&hospital, OrgState::Audited))],
    );
    let [join, enrol] = desk.opening(&hospital, &doctor);
    let [(_, enrol_doctor), (_, licence)] = desk.licensing(&doctor);
    commit(
        &chain,
        &[
            desk.actor.sign(0, join),
            desk.actor.sign(1, enrol),
            doctor.sign(1, enrol_doctor),
        ],
    );
    commit(&chain, &[desk.actor.sign(2, licence)]);
    let client = verifying_client(chain.clone());
    Served {
        chain,
        client,
        doctor,
        desk,
    }
}

#[test]
fn identities_and_licences_are_served_with_proofs_that_verify() {
    let Served {
        client,
        doctor,
        desk,
        chain,
    } = served();
    let name = doctor_identity(&doctor);
    let bound = client
        .read(&StateQuery::identity_of(&doctor.address))
        .unwrap();
    assert_eq!(bound.value, Some(name.clone()));
    assert_eq!(bound.at.header.height, chain.committed_height());
    let identity = client
        .read(&StateQuery::identity(&name))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        (identity.address, identity.role, identity.org),
        (
            doctor.address,
            Role::Doctor,
            Some(org_name("Seoul General"))
        )
    );
    let licence = client
        .read(&StateQuery::licence(&name))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(licence.hospital, desk.identity);
    assert_eq!(licence.expires_at_ms, u64::MAX);
    // Names with `@` travel escaped and come back as asked.
    let hospital = client
        .read(&StateQuery::identity(&desk.identity))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(hospital.role, Role::Hospital);
    // Unknown names and unbound addresses are proven absent.
    let nobody = IdentityName::new("dr-nobody@nowhere").unwrap();
    assert!(
        client
            .read(&StateQuery::licence(&nobody))
            .unwrap()
            .value
            .is_none()
    );
    assert!(
        client
            .read(&StateQuery::identity_of(&Actor::new(77).address))
            .unwrap()
            .value
            .is_none()
    );
}

/// Every state route takes `?height=` (not only the identity routes): a page that reads many
/// values at one height (the portal's access history, a licence's organisation) must not be
/// answered at a newer block that landed in between.
#[test]
fn every_state_route_proves_at_the_height_asked() {
    let Served {
        chain,
        client,
        desk,
        ..
    } = served();
    let hospital = org_name("Seoul General");
    let before = chain.committed_height();
    let nonce_before = client
        .read(&StateQuery::account(&desk.actor.address))
        .unwrap()
        .value
        .map(|account| account.nonce);
    commit(
        &chain,
        &[Actor::new(REGULATOR_SEED).sign(1, testkit::set_state(&hospital, OrgState::Suspended))],
    );

    let then = client
        .read(&StateQuery::org(&hospital).at_height(before))
        .unwrap();
    assert_eq!(then.at.header.height, before);
    assert_eq!(then.value.unwrap().state, OrgState::Audited);
    let now = client.read(&StateQuery::org(&hospital)).unwrap();
    assert_eq!(now.value.unwrap().state, OrgState::Suspended);

    let account = client
        .read(&StateQuery::account(&desk.actor.address).at_height(before))
        .unwrap();
    assert_eq!(account.at.header.height, before);
    assert_eq!(account.value.map(|account| account.nonce), nonce_before);
    for path in [
        format!(
            "/v1/state/access-log/{}/0?height={before}",
            desk.actor.address
        ),
        format!(
            "/v1/state/grants/{}/{}/treatment?height={before}",
            desk.actor.address,
            testkit::record_id(1)
        ),
    ] {
        let answer = client.node.state(&path).unwrap();
        assert_eq!(answer.proven.height, before, "{path}");
    }
}

#[test]
fn revocation_status_is_proven_at_the_height_asked() {
    let Served {
        chain,
        client,
        doctor,
        desk,
    } = served();
    let name = doctor_identity(&doctor);
    let before = chain.committed_height();
    commit(&chain, &[desk.actor.sign(3, testkit::revoke_doctor(&name))]);
    let revoked_at = chain.committed_height();

    let now = client.read(&StateQuery::revocation(&name)).unwrap();
    let entry = now.value.unwrap();
    assert_eq!((entry.by, entry.at), (desk.actor.address, revoked_at));

    // At the earlier height: not revoked, by an exclusion proof under that header's root.
    let then = client
        .read(&StateQuery::revocation(&name).at_height(before))
        .unwrap();
    assert!(then.value.is_none());
    assert_eq!(then.at.header.height, before);

    // A height not finalized yet, or a name that is not one, is a JSON error.
    let future = client.read(&StateQuery::revocation(&name).at_height(revoked_at + 10));
    assert!(
        matches!(&future, Err(ClientError::Api { status: 404, .. })),
        "{future:?}"
    );
    let bad = client.node.state("/v1/state/revocations/Dr%20Kim");
    assert!(
        matches!(&bad, Err(ClientError::Api { status: 400, .. })),
        "{bad:?}"
    );
    let bad_height = client
        .node
        .state(&format!("/v1/state/revocations/{name}?height=soon"));
    assert!(
        matches!(&bad_height, Err(ClientError::Api { status: 400, .. })),
        "{bad_height:?}"
    );
}
