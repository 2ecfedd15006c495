//! State proofs (docs/architecture.md § Authenticated state): inclusion and exclusion proofs
//! verify against the state root; a tampered value, a wrong root, or a proof for another key do
//! not; the wire forms are canonical and bounded.

use medchain_state::{
    ProofError, ProvenValue, StateProof, StateValue, keys,
    proof::MAX_PROOF_BYTES,
    prove, root_at,
    testkit::{
        Actor, HospitalDesk, World, doctor_identity, lift_revocation, org_name, release,
        revoke_doctor,
    },
    values::Record,
    verify_proof,
};
use medchain_types::{ContentHash, Hash32, RecordId};
use proptest::prelude::*;

struct Proven {
    world: World,
    record: RecordId,
}

/// A chain with a few records, so the tree has some depth.
fn proven() -> Proven {
    let mut world = World::new();
    let doctor = Actor::new(1);
    world.licensed_hospital(&doctor, &org_name("Seoul General"));
    let mut record = None;
    for i in 0..20u64 {
        record = Some(world.released(&doctor, &Actor::new(100 + i), &i.to_be_bytes()));
    }
    Proven {
        world,
        record: record.unwrap(),
    }
}

fn proven_value(world: &World, key: &[u8]) -> ProvenValue {
    let height = world.height();
    let (value, proof) = prove(&world.store, key, height).unwrap();
    ProvenValue {
        height,
        state_root: root_at(&world.store, height).unwrap(),
        key: key.to_vec(),
        value,
        proof,
    }
}

#[test]
fn an_inclusion_proof_verifies_and_decodes() {
    let Proven { world, record } = proven();
    let key = keys::record(&record);
    let proven = proven_value(&world, key.as_bytes());
    assert!(proven.value.is_some());
    proven.verify().unwrap();
    let decoded: Option<Record> = proven.verified_value(&world.root(), &key).unwrap();
    assert_eq!(decoded, world.value(&key));
}

#[test]
fn an_exclusion_proof_verifies_for_absent_keys() {
    let Proven { world, .. } = proven();
    for absent in [
        keys::record(&medchain_state::testkit::record_id(999))
            .as_bytes()
            .to_vec(),
        keys::account(&Actor::new(12_345).address)
            .as_bytes()
            .to_vec(),
        b"nothing/here".to_vec(),
    ] {
        let proven = proven_value(&world, &absent);
        assert_eq!(proven.value, None);
        proven.verify_against(&world.root()).unwrap();
        // Claiming the absent key holds a value fails.
        assert!(verify_proof(&proven.state_root, &absent, Some(b"x"), &proven.proof).is_err());
    }
}

#[test]
fn identities_licences_and_the_revocation_list_are_provable() {
    let Proven { mut world, .. } = proven();
    let doctor = Actor::new(1);
    let name = doctor_identity(&doctor);
    let identity = proven_value(&world, keys::identity(&name).as_bytes());
    let record = identity
        .verified_value(&world.root(), &keys::identity(&name))
        .unwrap()
        .unwrap();
    assert_eq!(record.address, doctor.address);
    let bound = proven_value(&world, keys::identity_of(&doctor.address).as_bytes());
    assert_eq!(
        bound
            .verified_value(&world.root(), &keys::identity_of(&doctor.address))
            .unwrap(),
        Some(name.clone())
    );
    let licence = proven_value(&world, keys::licence(&name).as_bytes());
    assert!(
        licence
            .verified_value(&world.root(), &keys::licence(&name))
            .unwrap()
            .is_some()
    );

    // Not revoked: an exclusion proof under the state root.
    let revocation = keys::revocation(&name);
    let not_revoked = proven_value(&world, revocation.as_bytes());
    assert_eq!(
        not_revoked
            .verified_value(&world.root(), &revocation)
            .unwrap(),
        None
    );
    let desk = HospitalDesk::of(&org_name("Seoul General"));
    world.run(&desk.actor, revoke_doctor(&name)).unwrap();
    let revoked = proven_value(&world, revocation.as_bytes());
    let entry = revoked
        .verified_value(&world.root(), &revocation)
        .unwrap()
        .unwrap();
    assert_eq!(entry.by, desk.actor.address);
    // The older exclusion proof does not prove absence at the new root.
    assert!(
        not_revoked
            .verified_value(&world.root(), &revocation)
            .is_err()
    );
    world.run(&desk.actor, lift_revocation(&name)).unwrap();
    let lifted = proven_value(&world, revocation.as_bytes());
    assert_eq!(
        lifted.verified_value(&world.root(), &revocation).unwrap(),
        None
    );
}

#[test]
fn tampered_values_wrong_roots_and_other_keys_fail() {
    let Proven { world, record } = proven();
    let key = keys::record(&record);
    let proven = proven_value(&world, key.as_bytes());
    let value = proven.value.clone().unwrap();

    let mut tampered = value.clone();
    tampered[0] ^= 1;
    assert!(matches!(
        verify_proof(
            &proven.state_root,
            key.as_bytes(),
            Some(&tampered),
            &proven.proof
        ),
        Err(ProofError::Invalid(_))
    ));
    // The present value cannot be proven absent.
    assert!(verify_proof(&proven.state_root, key.as_bytes(), None, &proven.proof).is_err());

    let wrong_root = Hash32::from([7u8; 32]);
    assert!(verify_proof(&wrong_root, key.as_bytes(), Some(&value), &proven.proof).is_err());
    assert!(matches!(
        proven.verify_against(&wrong_root),
        Err(ProofError::RootMismatch { .. })
    ));

    let other_key = keys::record(&medchain_state::testkit::record_id(1));
    assert!(
        verify_proof(
            &proven.state_root,
            other_key.as_bytes(),
            Some(&value),
            &proven.proof
        )
        .is_err()
    );
    assert!(proven.verified_value(&world.root(), &other_key).is_err());

    // A proof taken at an older root does not verify against the newer one.
    let older_root = root_at(&world.store, world.height() - 1).unwrap();
    assert!(verify_proof(&older_root, key.as_bytes(), Some(&value), &proven.proof).is_err());
}

#[test]
fn proofs_at_an_older_height_verify_against_that_height_only() {
    let Proven { mut world, .. } = proven();
    let nonce_key = keys::account(&Actor::new(1).address);
    let old = proven_value(&world, nonce_key.as_bytes());
    let old_nonce = nonce_key
        .decode(old.value.as_deref().unwrap())
        .unwrap()
        .nonce;
    world.released(&Actor::new(1), &Actor::new(500), b"later");
    let new = proven_value(&world, nonce_key.as_bytes());
    assert_eq!(
        nonce_key
            .decode(new.value.as_deref().unwrap())
            .unwrap()
            .nonce,
        old_nonce + 1
    );

    let (value_then, proof_then) = prove(&world.store, nonce_key.as_bytes(), old.height).unwrap();
    assert_eq!(value_then, old.value);
    verify_proof(
        &old.state_root,
        nonce_key.as_bytes(),
        value_then.as_deref(),
        &proof_then,
    )
    .unwrap();
    assert!(
        verify_proof(
            &new.state_root,
            nonce_key.as_bytes(),
            value_then.as_deref(),
            &proof_then
        )
        .is_err()
    );
}

#[test]
fn proof_bytes_round_trip_canonically_and_junk_is_refused() {
    let Proven { world, record } = proven();
    let proven = proven_value(&world, keys::record(&record).as_bytes());
    let bytes = proven.proof.to_bytes();
    assert_eq!(StateProof::from_bytes(&bytes).unwrap(), proven.proof);
    assert_eq!(
        StateProof::from_hex(&proven.proof.to_hex()).unwrap(),
        proven.proof
    );

    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        StateProof::from_bytes(&trailing),
        Err(ProofError::Malformed(_))
    ));
    assert!(StateProof::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(matches!(
        StateProof::from_bytes(&vec![0; MAX_PROOF_BYTES + 1]),
        Err(ProofError::TooLarge(_))
    ));
    // An option tag of 2 is not borsh.
    let mut bad_tag = bytes.clone();
    bad_tag[0] = 2;
    assert!(StateProof::from_bytes(&bad_tag).is_err());
    assert!(StateProof::from_hex("zz").is_err());
}

#[test]
fn proven_values_round_trip_through_bytes_and_json() {
    let Proven { world, record } = proven();
    for key in [
        keys::record(&record).as_bytes().to_vec(),
        b"absent".to_vec(),
    ] {
        let proven = proven_value(&world, &key);
        let bytes = proven.to_bytes();
        let decoded = ProvenValue::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, proven);
        assert_eq!(decoded.to_bytes(), bytes);
        decoded.verify().unwrap();
        let json = serde_json::to_string(&proven).unwrap();
        let from_json: ProvenValue = serde_json::from_str(&json).unwrap();
        assert_eq!(from_json, proven);
        let mut longer = bytes.clone();
        longer.push(1);
        assert!(ProvenValue::from_bytes(&longer).is_err());
    }
    // A JSON proof with a flipped value does not verify.
    let proven = proven_value(&world, keys::record(&record).as_bytes());
    let mut forged = proven.clone();
    forged.value.as_mut().unwrap()[3] ^= 0xff;
    assert!(forged.verify().is_err());
}

#[test]
fn genesis_values_are_provable_at_height_zero() {
    let world = World::new();
    let key = keys::chain_config();
    let proven = proven_value(&world, key.as_bytes());
    let config = proven.verified_value(&world.root(), &key).unwrap().unwrap();
    assert_eq!(config.regulator, world.regulator.address);
    assert_eq!(config.to_bytes(), proven.value.unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_proof_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2_000)) {
        let _ = StateProof::from_bytes(&bytes);
        let _ = ProvenValue::from_bytes(&bytes);
    }

    #[test]
    fn every_key_of_a_random_state_is_provable(contents in proptest::collection::btree_set(any::<u64>(), 1..12), probe in any::<u64>()) {
        let mut world = World::new();
        let doctor = Actor::new(1);
        world.licensed_hospital(&doctor, &org_name("Seoul General"));
        let txs: Vec<_> = contents.iter().enumerate().map(|(i, content)| {
            world.tx_at(&doctor, i as u64, release(&doctor, &Actor::new(200).address, &ContentHash::of(&content.to_be_bytes())))
        }).collect();
        world.commit_block(&txs);
        let root = world.root();
        for tx in &txs {
            let proven = proven_value(&world, keys::record(&RecordId::from(tx.id())).as_bytes());
            prop_assert!(proven.value.is_some());
            prop_assert!(proven.verify_against(&root).is_ok());
        }
        let absent = keys::record(&medchain_state::testkit::record_id(probe));
        let proven = proven_value(&world, absent.as_bytes());
        prop_assert!(proven.value.is_none());
        prop_assert!(proven.verify_against(&root).is_ok());
    }
}
