//! End-to-end Groth16 tests of issues 4 and 12 (S4-flow steps 2–5): a hospital commits a FHIR
//! record with the patient's nullifier key, the chain accumulates the commitment, the patient
//! proves membership and eligibility, the contract verifies. One key pair is shared by every test
//! in this binary, and proofs are few.

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_std::rand::{SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use zk::*;

const K: u16 = 3;
const E: u16 = 1;
const EXAMPLE: &str = "age in 40..=70 and icd10 == E11 and hba1c >= 6.5";
const FIXTURES: [&str; 4] = [
    "type2_diabetes-2-0000.json",
    "healthy-12-0000.json",
    "hypertension-13-0000.json",
    "ckd_stage3-14-0000.json",
];
/// Bytes before the arkworks body of a key: magic+version (7) and shape (8).
const KEY_HEADER: usize = 15;

fn schema() -> Schema {
    Schema::clinical_v1()
}

fn shape() -> CircuitShape {
    CircuitShape::new(schema().num_attributes(), K, E).expect("shape")
}

fn keys() -> &'static (ProvingKey, VerifyingKey) {
    static KEYS: OnceLock<(ProvingKey, VerifyingKey)> = OnceLock::new();
    KEYS.get_or_init(|| setup(&shape(), &mut rng(2026), &mut |_, _| {}).expect("setup"))
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn secret() -> PatientSecret {
    PatientSecret::from_seed(&[42; 32])
}

/// Every fixture attested for the same patient, in order: the chain's accumulator.
struct Ledger {
    /// The released bundles' bytes (what the researcher eventually decrypts).
    bundles: Vec<String>,
    openings: Vec<RecordOpening>,
    leaves: Vec<Commitment>,
    root: AccumulatorRoot,
}

fn ledger() -> &'static Ledger {
    static LEDGER: OnceLock<Ledger> = OnceLock::new();
    LEDGER.get_or_init(|| {
        let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        let bundles: Vec<String> = FIXTURES
            .iter()
            .map(|name| {
                let path = format!("{}/../../fixtures/fhir/{name}", env!("CARGO_MANIFEST_DIR"));
                std::fs::read_to_string(&path).expect("fixture present")
            })
            .collect();
        let openings: Vec<RecordOpening> = bundles
            .iter()
            .enumerate()
            .map(|(i, json)| {
                let record = record_from_bundle(json, &schema(), as_of).expect("bundle maps");
                RecordOpening::random(
                    &schema(),
                    record,
                    secret().nullifier_key(),
                    Sha256::digest(json).into(),
                    &mut rng(i as u64),
                )
                .expect("opening")
            })
            .collect();
        let mut accumulator = Accumulator::new();
        let leaves: Vec<Commitment> = openings
            .iter()
            .map(|o| o.commit().expect("commit"))
            .collect();
        for leaf in &leaves {
            accumulator.append(leaf).expect("room");
        }
        Ledger {
            bundles,
            openings,
            leaves,
            root: accumulator.root(),
        }
    })
}

fn predicate(text: &str) -> Predicate {
    Predicate::parse(text, &schema()).expect("predicate parses")
}

fn study() -> StudyTag {
    study_tag(&[1; 32])
}

fn binding() -> Binding {
    binding_of(&[2; 32])
}

fn prove_fixture(index: usize, text: &str, seed: u64) -> Result<(Statement, Proof)> {
    let ledger = ledger();
    let path = membership_path(&ledger.leaves, index as u64).expect("path");
    let witness = EnrolmentWitness {
        opening: &ledger.openings[index],
        secret: &secret(),
        path: &path,
    };
    prove(
        &keys().0,
        &witness,
        &predicate(text),
        study(),
        binding(),
        &mut rng(seed),
    )
}

/// The honest proof for the diabetic fixture and the example predicate.
fn example_proof() -> &'static (Statement, Proof) {
    static PROOF: OnceLock<(Statement, Proof)> = OnceLock::new();
    PROOF.get_or_init(|| prove_fixture(0, EXAMPLE, 1).expect("prove"))
}

/// What a contract does: rebuild the statement from its own predicate and the chain's root,
/// with the nullifiers the transaction carries.
fn accepts(statement: &Statement, text: &str, proof: &Proof) -> bool {
    let vk = &keys().1;
    Statement::enrolment(
        vk,
        statement.root,
        &predicate(text),
        statement.study,
        statement.binding,
        statement.nullifier,
        statement.exclusivity,
        statement.delivery,
    )
    .and_then(|rebuilt| verify(vk, &rebuilt, proof))
    .unwrap_or(false)
}

#[test]
fn an_eligible_attested_record_enrols_with_unlinkable_public_inputs() {
    let (statement, proof) = example_proof();
    assert!(accepts(statement, EXAMPLE, proof));
    assert_eq!(statement.root, ledger().root);
    assert_eq!(
        statement.nullifier,
        secret().nullifier(study()).expect("tag")
    );
    let commitment = ledger().leaves[0];
    assert_eq!(
        statement.exclusivity,
        secret().exclusivity(commitment).expect("c")
    );
    // Nothing public equals the attested commitment.
    let public = statement.to_bytes();
    assert!(!public.windows(32).any(|w| w == commitment.to_bytes()));
}

#[test]
fn the_researcher_checks_the_delivered_bundle_against_the_proven_delivery_tag() {
    let (statement, proof) = example_proof();
    let ledger = ledger();
    assert_eq!(
        ledger.openings[0].record_hash(),
        <[u8; 32]>::from(Sha256::digest(&ledger.bundles[0]))
    );
    // The bundle the proof is about, with the key the patient sent: the recomputation matches.
    let key = secret().delivery_key(statement.study).expect("canonical");
    let delivered: [u8; 32] = Sha256::digest(&ledger.bundles[0]).into();
    assert_eq!(
        delivery_tag(&delivered, &key, statement.binding).expect("canonical"),
        statement.delivery
    );
    // Another patient's bundle (or any other bytes) does not.
    let swapped: [u8; 32] = Sha256::digest(&ledger.bundles[1]).into();
    assert_ne!(
        delivery_tag(&swapped, &key, statement.binding).expect("canonical"),
        statement.delivery
    );
    // An observer who knows every release's public hEMR but not the key cannot find the record.
    let guess = DeliveryKey::from_bytes(&[0; 32]).expect("canonical");
    assert!(ledger.bundles.iter().all(|b| {
        delivery_tag(&Sha256::digest(b).into(), &guess, statement.binding).expect("canonical")
            != statement.delivery
    }));
    // Nor can the prover claim another bundle's tag: the proof no longer verifies.
    let mut claimed = *statement;
    claimed.delivery = delivery_tag(&swapped, &key, statement.binding).expect("canonical");
    assert!(!verify(&keys().1, &claimed, proof).expect("canonical"));
}

#[test]
fn no_proof_exists_for_a_record_that_fails_the_predicate() {
    // The healthy patient fails EXAMPLE: there is no "eligible = false" proof to make.
    assert_eq!(
        prove_fixture(1, EXAMPLE, 2).map(|_| ()),
        Err(ZkError::NotEligible)
    );
    // The review's case: a multi-index clause the record does not satisfy.
    assert_eq!(
        prove_fixture(1, "icd10 == E11", 2).map(|_| ()),
        Err(ZkError::NotEligible)
    );
    // An exclusion the diabetic record violates.
    assert_eq!(
        prove_fixture(0, "age >= 18 and icd10 != E11", 2).map(|_| ()),
        Err(ZkError::NotEligible)
    );
}

#[test]
fn exclusions_prove_for_records_without_the_excluded_code() {
    let text = "(egfr < 30 or icd10 == N18) and icd10 == I10 and icd10 != E11";
    let (statement, proof) = prove_fixture(3, text, 3).expect("prove");
    assert!(accepts(&statement, text, &proof));
    assert!(!accepts(
        &statement,
        "(egfr < 30 or icd10 == N18) and icd10 == I10",
        &proof
    ));
}

#[test]
fn every_public_input_is_bound() {
    let (statement, proof) = example_proof();
    let other = |tamper: fn(&mut Statement)| {
        let mut changed = *statement;
        tamper(&mut changed);
        verify(&keys().1, &changed, proof).expect("canonical")
    };
    assert!(!other(
        |s| s.root = AccumulatorRoot::from_bytes(&[3; 32]).expect("canonical")
    ));
    assert!(!other(|s| s.study = study_tag(&[9; 32])));
    assert!(!other(|s| s.binding = binding_of(&[9; 32])));
    assert!(!other(
        |s| s.nullifier = Nullifier::from_bytes(&[3; 32]).expect("canonical")
    ));
    assert!(!other(|s| {
        s.exclusivity = ExclusivityNullifier::from_bytes(&[3; 32]).expect("canonical")
    }));
    assert!(!other(
        |s| s.delivery = DeliveryTag::from_bytes(&[3; 32]).expect("canonical")
    ));
    // A non-canonical element cannot be checked at all.
    let mut bad = *statement;
    bad.nullifier = Nullifier([0xff; 32]);
    assert!(verify(&keys().1, &bad, proof).is_err());
}

#[test]
fn a_proof_for_one_predicate_fails_for_another() {
    let (statement, proof) = example_proof();
    for other in [
        "age in 40..=71 and icd10 == E11 and hba1c >= 6.5",
        "age in 40..=70 and icd10 == E10 and hba1c >= 6.5",
        "age in 40..=70 and icd10 == E11 and hba1c >= 6.4",
        "age in 40..=70 and icd10 == E11",
        "(age in 40..=70 or age > 90) and icd10 == E11",
        "age in 40..=70 and icd10 == E11 and hba1c >= 6.5 and icd10 != E10",
    ] {
        assert!(!accepts(statement, other, proof), "{other}");
    }
}

#[test]
fn a_self_made_commitment_outside_the_accumulator_cannot_prove_against_the_chain_root() {
    // The patient re-blinds its own record: a commitment no hospital attested.
    let ledger = ledger();
    let fake = RecordOpening::random(
        &schema(),
        ledger.openings[0].record().clone(),
        secret().nullifier_key(),
        ledger.openings[0].record_hash(),
        &mut rng(77),
    )
    .expect("opening");
    let mut leaves = ledger.leaves.clone();
    leaves[0] = fake.commit().expect("commit");
    let path = membership_path(&leaves, 0).expect("path");
    let witness = EnrolmentWitness {
        opening: &fake,
        secret: &secret(),
        path: &path,
    };
    let (statement, proof) = prove(
        &keys().0,
        &witness,
        &predicate(EXAMPLE),
        study(),
        binding(),
        &mut rng(5),
    )
    .expect("a proof against its own root");
    assert_ne!(statement.root, ledger.root, "the chain never had this root");
    let mut against_chain = statement;
    against_chain.root = ledger.root;
    assert!(!verify(&keys().1, &against_chain, &proof).expect("canonical"));
}

/// Bit flips at the first and last byte of every compressed point (the last byte carries the
/// infinity and sign flags) and inside the coordinates.
const PROOF_POSITIONS: [usize; 11] = [0, 17, 31, 32, 50, 63, 64, 95, 96, 110, 127];

#[test]
fn tampered_proofs_are_rejected() {
    let (statement, proof) = example_proof();
    let bytes = proof.to_bytes();
    for position in PROOF_POSITIONS {
        for bit in [0, 7] {
            let mut tampered = bytes;
            tampered[position] ^= 1 << bit;
            if let Ok(decoded) = Proof::from_bytes(&tampered) {
                assert!(
                    !accepts(statement, EXAMPLE, &decoded),
                    "byte {position} bit {bit}"
                );
            }
        }
    }
}

#[test]
fn tampered_verifying_keys_are_rejected() {
    let (statement, proof) = example_proof();
    let bytes = keys().1.to_bytes();
    // Header, then 32-byte G1 and 64-byte G2 points: alpha, beta, gamma, delta, 8 inputs.
    let mut positions = vec![0, 6, 7, 11, 13, 14];
    positions.extend((KEY_HEADER..bytes.len()).step_by(29));
    positions.push(bytes.len() - 1);
    for position in positions {
        let mut tampered = bytes.clone();
        tampered[position] ^= 1 << (position % 8);
        if let Ok(vk) = VerifyingKey::from_bytes(&tampered) {
            let accepted = Statement::enrolment(
                &vk,
                statement.root,
                &predicate(EXAMPLE),
                statement.study,
                statement.binding,
                statement.nullifier,
                statement.exclusivity,
                statement.delivery,
            )
            .and_then(|rebuilt| verify(&vk, &rebuilt, proof))
            .unwrap_or(false);
            assert!(!accepted, "byte {position}");
        }
    }
}

type ArkVerifyingKey = ark_groth16::VerifyingKey<ark_bn254::Bn254>;
type ArkProvingKey = ark_groth16::ProvingKey<ark_bn254::Bn254>;

fn ark_vk() -> ArkVerifyingKey {
    let bytes = keys().1.to_bytes();
    ArkVerifyingKey::deserialize_compressed(&bytes[KEY_HEADER..]).expect("arkworks vk")
}

fn vk_with(vk: &ArkVerifyingKey) -> Vec<u8> {
    let mut bytes = keys().1.to_bytes()[..KEY_HEADER].to_vec();
    vk.serialize_compressed(&mut bytes).expect("serialise");
    bytes
}

fn pk_with(pk: &ArkProvingKey) -> Vec<u8> {
    let mut bytes = keys().0.to_bytes()[..KEY_HEADER].to_vec();
    pk.serialize_uncompressed(&mut bytes).expect("serialise");
    bytes
}

fn ark_pk() -> ArkProvingKey {
    let bytes = keys().0.to_bytes();
    ArkProvingKey::deserialize_uncompressed(&bytes[KEY_HEADER..]).expect("arkworks pk")
}

#[test]
fn a_verifying_key_with_gamma_equal_to_delta_is_refused() {
    use ark_ec::{AffineRepr, CurveGroup};
    use ark_snark::SNARK;
    let mut degenerate = ark_vk();
    degenerate.delta_g2 = degenerate.gamma_g2;
    // Why it matters: with γ = δ anyone forges a proof with no witness at all —
    // A = α, B = β, C = −Σ xᵢ·ICᵢ satisfies the pairing equation for any public inputs.
    let count = (STATEMENT_BYTES / FIELD_BYTES) as u64;
    let inputs: Vec<ark_bn254::Fr> = (1..=count).map(ark_bn254::Fr::from).collect();
    let mut sum = degenerate.gamma_abc_g1[0].into_group();
    for (x, point) in inputs.iter().zip(&degenerate.gamma_abc_g1[1..]) {
        sum += *point * x;
    }
    let forged = ark_groth16::Proof {
        a: degenerate.alpha_g1,
        b: degenerate.beta_g2,
        c: (-sum).into_affine(),
    };
    let prepared = ark_groth16::prepare_verifying_key(&degenerate);
    assert_eq!(
        ark_groth16::Groth16::<ark_bn254::Bn254>::verify_with_processed_vk(
            &prepared, &inputs, &forged
        ),
        Ok(true),
        "the forgery works on a degenerate key"
    );
    assert!(matches!(
        VerifyingKey::from_bytes(&vk_with(&degenerate)),
        Err(ZkError::Malformed { .. })
    ));
    // Points at infinity and a wrong number of inputs are refused too.
    let mut at_infinity = ark_vk();
    at_infinity.gamma_g2 = ark_bn254::G2Affine::zero();
    assert!(VerifyingKey::from_bytes(&vk_with(&at_infinity)).is_err());
    let mut free_input = ark_vk();
    free_input.gamma_abc_g1[3] = ark_bn254::G1Affine::zero();
    assert!(VerifyingKey::from_bytes(&vk_with(&free_input)).is_err());
    let mut short = ark_vk();
    short.gamma_abc_g1.pop();
    assert!(VerifyingKey::from_bytes(&vk_with(&short)).is_err());
    assert!(VerifyingKey::from_bytes(&vk_with(&ark_vk())).is_ok());
}

#[test]
fn proving_keys_with_wrong_vector_lengths_are_refused_before_they_reach_the_prover() {
    let crafted: [fn(&mut ArkProvingKey); 5] = [
        |pk| pk.a_query.clear(),
        |pk| pk.b_g2_query.clear(),
        |pk| {
            pk.h_query.pop();
        },
        |pk| {
            pk.l_query.push(pk.l_query[0]);
        },
        |pk| pk.vk.delta_g2 = pk.vk.gamma_g2,
    ];
    for (i, craft) in crafted.iter().enumerate() {
        let mut pk = ark_pk();
        craft(&mut pk);
        let bytes = pk_with(&pk);
        assert!(
            matches!(
                ProvingKey::from_bytes(&bytes),
                Err(ZkError::Malformed { .. })
            ),
            "crafted key {i} (validated load)"
        );
        let digest = ProvingKey::digest_of(&bytes);
        assert!(
            matches!(
                ProvingKey::from_trusted_bytes(&bytes, &digest),
                Err(ZkError::Malformed { .. })
            ),
            "crafted key {i} (trusted load)"
        );
    }
}

#[test]
fn the_trusted_load_checks_the_digest_and_matches_the_validated_one() {
    let bytes = keys().0.to_bytes();
    let digest = ProvingKey::digest_of(&bytes);
    let trusted = ProvingKey::from_trusted_bytes(&bytes, &digest).expect("trusted");
    assert_eq!(&trusted, &keys().0);
    let mut wrong = digest;
    wrong[0] ^= 1;
    assert!(ProvingKey::from_trusted_bytes(&bytes, &wrong).is_err());
    let mut tampered = bytes.clone();
    tampered[bytes.len() / 2] ^= 4;
    assert!(ProvingKey::from_trusted_bytes(&tampered, &digest).is_err());
}

#[test]
fn tampered_proving_keys_never_yield_a_proof_the_real_key_rejects() {
    let bytes = keys().0.to_bytes();
    let ledger = ledger();
    let path = membership_path(&ledger.leaves, 0).expect("path");
    let witness = EnrolmentWitness {
        opening: &ledger.openings[0],
        secret: &secret(),
        path: &path,
    };
    // Positions inside the header (magic, N), the embedded verifying key and a query vector.
    for position in [3, 8, 40, bytes.len() / 2] {
        let mut tampered = bytes.clone();
        tampered[position] ^= 0x04;
        let digest = ProvingKey::digest_of(&tampered);
        for loaded in [
            ProvingKey::from_bytes(&tampered),
            ProvingKey::from_trusted_bytes(&tampered, &digest),
        ] {
            match loaded {
                Err(ZkError::Malformed { .. } | ZkError::InvalidShape(_)) => {}
                Err(other) => panic!("byte {position}: unexpected error {other}"),
                Ok(pk) => {
                    match prove(
                        &pk,
                        &witness,
                        &predicate(EXAMPLE),
                        study(),
                        binding(),
                        &mut rng(4),
                    ) {
                        Err(ZkError::SelfCheckFailed | ZkError::ShapeMismatch(_)) => {}
                        Err(other) => panic!("byte {position}: unexpected error {other}"),
                        Ok((statement, proof)) => {
                            assert!(verify(&keys().1, &statement, &proof).expect("canonical"));
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn keys_and_proofs_round_trip_canonically() {
    let (pk, vk) = keys();
    let pk_bytes = pk.to_bytes();
    assert_eq!(
        ProvingKey::from_bytes(&pk_bytes).expect("pk").to_bytes(),
        pk_bytes
    );
    let vk_bytes = vk.to_bytes();
    let decoded = VerifyingKey::from_bytes(&vk_bytes).expect("vk");
    assert_eq!(&decoded, vk);
    assert_eq!(decoded.digest(), vk.digest());
    assert_eq!(decoded.shape(), shape());
    assert_eq!(pk.shape(), shape());
    assert_eq!(pk.verifying_key().expect("embedded vk"), decoded);
    let (_, proof) = example_proof();
    assert_eq!(&Proof::from_bytes(&proof.to_bytes()).expect("proof"), proof);
    for bytes in [&pk_bytes, &vk_bytes] {
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(ProvingKey::from_bytes(&longer).is_err());
        assert!(VerifyingKey::from_bytes(&longer).is_err());
        assert!(ProvingKey::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(VerifyingKey::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
    assert!(
        ProvingKey::from_bytes(&vk_bytes).is_err(),
        "a vk is not a pk"
    );
    assert!(
        VerifyingKey::from_bytes(&pk_bytes).is_err(),
        "a pk is not a vk"
    );
    // A key whose header claims another shape fails its dimension check.
    let mut other_shape = pk_bytes.clone();
    other_shape[11] ^= 1;
    assert!(ProvingKey::from_bytes(&other_shape).is_err());
}

#[test]
fn statements_round_trip_and_reject_bad_bytes() {
    let (statement, _) = example_proof();
    let bytes = statement.to_bytes();
    assert_eq!(Statement::from_bytes(&bytes), Ok(*statement));
    assert!(Statement::from_bytes(&bytes[..STATEMENT_BYTES - 1]).is_err());
    let mut non_canonical = bytes;
    non_canonical[32..64].copy_from_slice(&[0xff; 32]);
    assert!(Statement::from_bytes(&non_canonical).is_err());
}

#[test]
fn mismatched_schemas_shapes_and_oversized_predicates_are_refused() {
    assert!(matches!(
        prove_fixture(0, "age > 1 and age > 2 and age > 3 and age > 4", 6),
        Err(ZkError::InvalidPredicate(_))
    ));
    assert!(matches!(
        prove_fixture(0, "icd10 != E10 and icd10 != E12", 6),
        Err(ZkError::InvalidPredicate(_))
    ));
    // A v2 schema with the same attributes and N: the v1 opening is refused outright, and the
    // v2 digest of the same text differs (the circuit ties the tag to the commitment's).
    let v2 = Schema::new("clinical_v2", schema().attributes().to_vec()).expect("schema");
    let v2_predicate = Predicate::parse(EXAMPLE, &v2).expect("parses");
    assert_ne!(
        v2_predicate.digest(&shape()),
        predicate(EXAMPLE).digest(&shape())
    );
    let ledger = ledger();
    let path = membership_path(&ledger.leaves, 0).expect("path");
    let witness = EnrolmentWitness {
        opening: &ledger.openings[0],
        secret: &secret(),
        path: &path,
    };
    assert!(matches!(
        prove(
            &keys().0,
            &witness,
            &v2_predicate,
            study(),
            binding(),
            &mut rng(6)
        ),
        Err(ZkError::SchemaMismatch(_))
    ));
    let (statement, proof) = example_proof();
    assert!(!accepts_under(&v2_predicate, statement, proof));
}

fn accepts_under(predicate: &Predicate, statement: &Statement, proof: &Proof) -> bool {
    let vk = &keys().1;
    let mut rebuilt = *statement;
    rebuilt.predicate = predicate.digest(&vk.shape()).expect("fits");
    verify(vk, &rebuilt, proof).expect("canonical")
}

#[test]
fn setup_reports_progress_in_order_and_is_reproducible_from_a_seed() {
    let mut phases = Vec::new();
    let tiny = CircuitShape::new(2, 1, 0).expect("shape");
    let (_, vk) = setup(&tiny, &mut rng(7), &mut |phase, fraction| {
        phases.push((phase, fraction))
    })
    .expect("setup");
    let names: Vec<_> = phases.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        names,
        [
            SetupPhase::Preparing,
            SetupPhase::GeneratingKeys,
            SetupPhase::Checking,
            SetupPhase::Done
        ]
    );
    assert!(phases.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(phases.last().map(|p| p.1), Some(1.0));
    let (_, again) = setup(&tiny, &mut rng(7), &mut |_, _| {}).expect("setup");
    assert_eq!(vk.digest(), again.digest());
    let (_, other) = setup(&tiny, &mut rng(8), &mut |_, _| {}).expect("setup");
    assert_ne!(vk.digest(), other.digest());
}
