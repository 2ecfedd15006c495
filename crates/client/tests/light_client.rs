//! Light-client verification (docs/architecture.md § Light-client trust model) with real
//! commonware finalization certificates: a state built by the real state machine, a header over
//! its root, and a simplex `Finalization` assembled from validators' `Finalize` votes, as a node
//! would serve them.
//! Every negative case changes one thing an attacker (a lying node) controls.

mod common;

use common::*;
use commonware_codec::Encode;
use commonware_cryptography::{Hasher, Sha256, certificate::Signers};
use medchain_api::{BlockView, HeaderView, ProvenView};
use medchain_client::{Finality, LightClient, VerifyError};
use medchain_state::{
    StateValue, keys,
    testkit::{Actor, World, address, org_name},
    values::Org,
};
use medchain_types::{Hash32, OrgKind, OrgName, OrgState};

/// A node's answer for an audited organisation at the world's latest height, certified by
/// validators 0, 1 and 2.
struct Answer {
    world: World,
    name: OrgName,
    view: ProvenView,
}

fn answer() -> Answer {
    let mut world = World::new();
    let name = org_name("Seoul General");
    world.audited_org(&Actor::new(1), &name, OrgKind::Hospital);
    let view = certified_view(&world, keys::org(&name).as_bytes());
    Answer { world, name, view }
}

fn light() -> LightClient {
    LightClient::new(genesis()).unwrap()
}

#[test]
fn a_certified_proof_yields_the_value_and_names_its_signers() {
    let Answer { name, view, .. } = answer();
    let verified = light().verify_proven(&view, &keys::org(&name)).unwrap();
    let org: Org = verified.value.expect("the org exists");
    assert_eq!(org.state, OrgState::Audited);
    assert_eq!(org.founder, Actor::new(1).address);
    assert_eq!(
        verified.at.finality,
        Finality::Certificate {
            signers: 3,
            validators: 4
        }
    );
    assert_eq!(verified.at.header.height, view.proven.height);
}

#[test]
fn an_absent_key_is_proven_absent() {
    let Answer { world, view, .. } = answer();
    let missing = org_name("Nowhere Clinic");
    let view = ProvenView {
        proven: proven(&world, keys::org(&missing).as_bytes()),
        ..view
    };
    let verified = light().verify_proven(&view, &keys::org(&missing)).unwrap();
    assert!(verified.value.is_none());
}

#[test]
fn a_tampered_value_is_refused() {
    let Answer { name, mut view, .. } = answer();
    let mut org = Org::from_bytes(view.proven.value.as_deref().unwrap()).unwrap();
    org.state = OrgState::Suspended;
    view.proven.value = Some(org.to_bytes());
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&name)),
        Err(VerifyError::Proof(_))
    ));
}

#[test]
fn a_proof_against_another_root_is_refused() {
    // The node claims the proof is for a root that the finalized header does not carry.
    let Answer { name, mut view, .. } = answer();
    view.proven.state_root = Sha256::hash(&[b"another root"]);
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&name)),
        Err(VerifyError::Proof(_))
    ));
}

#[test]
fn a_proof_from_an_older_state_under_a_newer_header_is_refused() {
    let Answer {
        mut world,
        name,
        view,
    } = answer();
    let old = view.proven.clone();
    world
        .run(
            &Actor::new(7),
            medchain_client::build::register_org(org_name("Later"), OrgKind::Research),
        )
        .unwrap();
    let mut stale = ProvenView {
        proven: old,
        ..certified_view(&world, keys::org(&name).as_bytes())
    };
    assert!(matches!(
        light().verify_proven(&stale, &keys::org(&name)),
        Err(VerifyError::HeightMismatch { .. })
    ));
    // Claiming the new height does not help: the old proof does not verify against the new root.
    stale.proven.height = world.height();
    stale.proven.state_root = world.root();
    assert!(matches!(
        light().verify_proven(&stale, &keys::org(&name)),
        Err(VerifyError::Proof(_))
    ));
}

#[test]
fn an_answer_for_another_key_is_refused() {
    let Answer { name, view, .. } = answer();
    let other = org_name("Busan Clinic");
    assert!(view.proven.key == keys::org(&name).as_bytes());
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&other)),
        Err(VerifyError::Proof(_))
    ));
}

#[test]
fn a_certificate_by_non_validators_is_refused() {
    let Answer { name, mut view, .. } = answer();
    let digest = header_digest(&view);
    let outsiders = validator_keys(&[900, 901, 902, 903]);
    view.finalization = cert_hex(&finalization(&outsiders, &[0, 1, 2, 3], digest));
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&name)),
        Err(VerifyError::BadCertificate)
    ));
}

#[test]
fn a_certificate_with_too_few_signers_is_refused() {
    let Answer { name, mut view, .. } = answer();
    let mut certificate = finalization(
        &validator_keys(&VALIDATOR_SEEDS),
        &[0, 1, 2],
        header_digest(&view),
    );
    certificate.certificate.signatures.pop();
    certificate.certificate.signers =
        Signers::new(4, certificate.certificate.signers.iter().take(2)).unwrap();
    view.finalization = cert_hex(&certificate);
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&name)),
        Err(VerifyError::TooFewSigners {
            signers: 2,
            required: 3
        })
    ));
}

#[test]
fn a_forged_signature_in_the_certificate_is_refused() {
    let Answer { name, mut view, .. } = answer();
    let mut bytes = hex::decode(view.finalization.as_deref().unwrap()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    view.finalization = Some(hex::encode(bytes));
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&name)),
        Err(VerifyError::BadCertificate)
    ));
}

#[test]
fn a_certificate_for_another_block_is_refused() {
    let Answer { name, mut view, .. } = answer();
    let other = finalization(
        &validator_keys(&VALIDATOR_SEEDS),
        &[0, 1, 3],
        Sha256::hash(&[b"other block"]),
    );
    view.finalization = cert_hex(&other);
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&name)),
        Err(VerifyError::CertifiesOtherBlock { .. })
    ));
}

#[test]
fn a_header_that_does_not_match_its_digest_is_refused() {
    // The node swaps in a header with another state root but keeps the certified digest.
    let Answer {
        world,
        name,
        mut view,
    } = answer();
    let mut header = header_at(&world);
    header.state_root = Sha256::hash(&[b"forged root"]);
    view.header.header_hex = hex::encode(header.encode());
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&name)),
        Err(VerifyError::HeaderDigest { .. })
    ));

    // Re-hashing the forged header does not help: the certificate is for the real one.
    view.header.digest = hex::encode(header.digest());
    assert!(matches!(
        light().verify_proven(&view, &keys::org(&name)),
        Err(VerifyError::CertifiesOtherBlock { .. })
    ));
}

#[test]
fn malformed_headers_and_certificates_are_errors_not_panics() {
    let Answer { name, view, .. } = answer();
    type Expect = fn(&VerifyError) -> bool;
    let cases: Vec<(ProvenView, Expect)> = vec![
        (with_header_hex(&view, "zz"), |e| {
            matches!(e, VerifyError::HeaderEncoding(_))
        }),
        (with_header_hex(&view, "00"), |e| {
            matches!(e, VerifyError::HeaderEncoding(_))
        }),
        (
            ProvenView {
                finalization: Some("not hex".into()),
                ..view.clone()
            },
            |e| matches!(e, VerifyError::CertificateEncoding(_)),
        ),
        (
            ProvenView {
                finalization: Some("0011".into()),
                ..view.clone()
            },
            |e| matches!(e, VerifyError::CertificateEncoding(_)),
        ),
        (
            ProvenView {
                finalization: None,
                ..view.clone()
            },
            |e| matches!(e, VerifyError::MissingCertificate { .. }),
        ),
    ];
    for (case, expected) in cases {
        let error = light().verify_proven(&case, &keys::org(&name)).unwrap_err();
        assert!(expected(&error), "unexpected {error:?}");
    }
}

#[test]
fn genesis_is_trusted_only_when_it_is_this_chains_block_zero() {
    // The genesis state names the validators (the threshold PKG's DKG binds to them).
    let world = World::with_genesis(&genesis());
    let header = medchain_client::genesis_header(&genesis()).unwrap();
    assert_eq!(
        header.state_root,
        world.root(),
        "block 0 commits to the genesis state"
    );
    let view = BlockView {
        header: HeaderView::from(&header),
        tx_ids: vec![],
        finalization: None,
    };
    let block = light().verify_block(&view).unwrap();
    assert_eq!(block.at.finality, Finality::Genesis);

    // Another chain's block 0 (another regulator) is refused.
    let mut other = genesis();
    other.regulator = address(55);
    let foreign = medchain_client::genesis_header(&other).unwrap();
    let view = BlockView {
        header: HeaderView::from(&foreign),
        tx_ids: vec![],
        finalization: None,
    };
    assert!(matches!(
        light().verify_block(&view),
        Err(VerifyError::GenesisMismatch)
    ));
}

#[test]
fn a_block_whose_transactions_do_not_match_its_header_is_refused() {
    let Answer { view, .. } = answer();
    let block = BlockView {
        header: view.header.clone(),
        tx_ids: vec![],
        finalization: view.finalization.clone(),
    };
    assert!(light().verify_block(&block).is_ok());
    let padded = BlockView {
        tx_ids: vec![medchain_types::TxId(Sha256::hash(&[b"smuggled"]))],
        ..block
    };
    assert!(matches!(
        light().verify_block(&padded),
        Err(VerifyError::TxRoot)
    ));
}

#[test]
fn a_genesis_with_duplicate_validators_cannot_seed_a_light_client() {
    let mut doubled = genesis();
    doubled.validators.push(doubled.validators[0].clone());
    assert!(matches!(
        LightClient::new(doubled),
        Err(VerifyError::Genesis(_))
    ));
}

fn header_digest(view: &ProvenView) -> Hash32 {
    let bytes = hex::decode(&view.header.header_hex).unwrap();
    Sha256::hash(&[&bytes])
}

fn with_header_hex(view: &ProvenView, header_hex: &str) -> ProvenView {
    let mut view = view.clone();
    view.header.header_hex = header_hex.into();
    view
}
