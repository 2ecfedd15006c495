//! End-to-end Groth16 tests of issue 4 (S4-flow steps 3–5): hospital commits a FHIR record,
//! patient proves, contract verifies. One key pair is shared by every test in this binary, and
//! proofs are few: arkworks' generic code is compiled at this crate's debug opt-level.

use ark_std::rand::{SeedableRng, rngs::StdRng};
use std::sync::OnceLock;
use zk::*;

const K: u16 = 3;
const EXAMPLE: &str = "age in 40..=70 and icd10 == E11 and hba1c >= 6.5";

fn schema() -> Schema {
    Schema::clinical_v1()
}

fn shape() -> CircuitShape {
    CircuitShape::new(schema().num_attributes(), K).expect("shape")
}

fn keys() -> &'static (ProvingKey, VerifyingKey) {
    static KEYS: OnceLock<(ProvingKey, VerifyingKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(2026);
        setup(&shape(), &mut rng, &mut |_, _| {}).expect("setup")
    })
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn fixture(name: &str) -> RecordOpening {
    let path = format!("{}/../../fixtures/fhir/{name}", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).expect("fixture present");
    let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let record = record_from_bundle(&json, &schema(), as_of).expect("bundle maps");
    RecordOpening::random(record, &mut rng(name.len() as u64))
}

fn diabetic() -> RecordOpening {
    fixture("type2_diabetes-2-0000.json")
}

fn predicate(text: &str) -> Predicate {
    Predicate::parse(text, &schema()).expect("predicate parses")
}

/// The honest eligibility proof for the diabetic fixture and the example predicate.
fn example_proof() -> &'static (Commitment, Proof) {
    static PROOF: OnceLock<(Commitment, Proof)> = OnceLock::new();
    PROOF.get_or_init(|| {
        let opening = diabetic();
        let (statement, proof) =
            prove(&keys().0, &opening, &predicate(EXAMPLE), &mut rng(1)).expect("prove");
        assert!(statement.eligible);
        (opening.commit().expect("commit"), proof)
    })
}

fn accepts(commitment: Commitment, text: &str, proof: &Proof) -> bool {
    let statement = Statement::eligibility(&keys().1, commitment, &predicate(text)).expect("fits");
    verify(&keys().1, &statement, proof).expect("verifiable")
}

#[test]
fn a_true_predicate_verifies_against_the_signed_commitment() {
    let (commitment, proof) = example_proof();
    assert!(accepts(*commitment, EXAMPLE, proof));
}

#[test]
fn a_false_predicate_proves_only_result_zero() {
    let opening = fixture("healthy-12-0000.json");
    let commitment = opening.commit().expect("commit");
    let (statement, proof) =
        prove(&keys().0, &opening, &predicate(EXAMPLE), &mut rng(2)).expect("prove");
    assert!(!statement.eligible);
    assert!(verify(&keys().1, &statement, &proof).expect("verifiable"));
    assert!(
        !accepts(commitment, EXAMPLE, &proof),
        "R = 0 proof must not pass as R = 1"
    );
}

#[test]
fn the_result_bit_is_bound() {
    let (commitment, proof) = example_proof();
    let mut statement =
        Statement::eligibility(&keys().1, *commitment, &predicate(EXAMPLE)).expect("fits");
    statement.eligible = false;
    assert!(!verify(&keys().1, &statement, proof).expect("verifiable"));
}

#[test]
fn a_proof_for_one_commitment_fails_for_another() {
    let (_, proof) = example_proof();
    let other_patient = fixture("hypertension-13-0000.json")
        .commit()
        .expect("commit");
    assert!(!accepts(other_patient, EXAMPLE, proof));
    // Same record, other blinding: a different commitment, so the proof does not transfer.
    let reblinded = RecordOpening::random(diabetic().record().clone(), &mut rng(99));
    assert!(!accepts(
        reblinded.commit().expect("commit"),
        EXAMPLE,
        proof
    ));
}

#[test]
fn a_proof_for_one_predicate_fails_for_another() {
    let (commitment, proof) = example_proof();
    for other in [
        "age in 40..=71 and icd10 == E11 and hba1c >= 6.5",
        "age in 40..=70 and icd10 == E10 and hba1c >= 6.5",
        "age in 40..=70 and icd10 == E11 and hba1c >= 6.4",
        "age in 40..=70 and icd10 == E11",
        "(age in 40..=70 or age > 90) and icd10 == E11",
        "age in 40..=70 and icd10 == E11 and hba1c > 6.5",
    ] {
        assert!(!accepts(*commitment, other, proof), "{other}");
    }
}

#[test]
fn or_groups_and_multi_valued_attributes_prove() {
    let opening = fixture("ckd_stage3-14-0000.json");
    let text = "(egfr < 30 or icd10 == N18) and icd10 == I10";
    let (statement, proof) =
        prove(&keys().0, &opening, &predicate(text), &mut rng(3)).expect("prove");
    assert!(statement.eligible);
    assert!(accepts(opening.commit().expect("commit"), text, &proof));
}

/// Bit flips at the first and last byte of every compressed point (the last byte carries the
/// infinity and sign flags) and inside the coordinates.
const PROOF_POSITIONS: [usize; 11] = [0, 17, 31, 32, 50, 63, 64, 95, 96, 110, 127];

#[test]
fn tampered_proofs_are_rejected() {
    let (commitment, proof) = example_proof();
    let bytes = proof.to_bytes();
    assert_eq!(bytes.len(), PROOF_BYTES);
    for position in PROOF_POSITIONS {
        for bit in [0, 7] {
            let mut tampered = bytes.clone();
            tampered[position] ^= 1 << bit;
            if let Ok(decoded) = Proof::from_bytes(&tampered) {
                assert!(
                    !accepts(*commitment, EXAMPLE, &decoded),
                    "byte {position} bit {bit}"
                );
            }
        }
    }
}

/// Header bytes (magic, N, K), then the first and last byte of each point of the body
/// (alpha G1, beta/gamma/delta G2, the length of and four points in gamma_abc G1).
const VK_POSITIONS: [usize; 18] = [
    0, 6, 7, 11, 12, 13, 44, 45, 108, 109, 172, 173, 236, 237, 245, 276, 277, 372,
];

#[test]
fn tampered_verifying_keys_are_rejected() {
    let (commitment, proof) = example_proof();
    let bytes = keys().1.to_bytes();
    assert_eq!(bytes.len(), 373);
    for position in VK_POSITIONS {
        let mut tampered = bytes.clone();
        tampered[position] ^= 1 << (position % 8);
        if let Ok(vk) = VerifyingKey::from_bytes(&tampered) {
            // Header tampering (N, K) changes the digest, or the predicate no longer fits.
            let accepted = Statement::eligibility(&vk, *commitment, &predicate(EXAMPLE))
                .and_then(|statement| verify(&vk, &statement, proof))
                .unwrap_or(false);
            assert!(!accepted, "byte {position}");
        }
    }
}

#[test]
fn tampered_proving_keys_are_rejected() {
    let bytes = keys().0.to_bytes();
    let opening = diabetic();
    // Positions inside the header (magic, N), the embedded verifying key and a query vector.
    for position in [3, 8, 40, bytes.len() / 2] {
        let mut tampered = bytes.clone();
        tampered[position] ^= 0x04;
        match ProvingKey::from_bytes(&tampered) {
            Err(ZkError::Malformed { .. } | ZkError::InvalidShape(_)) => {}
            Err(other) => panic!("byte {position}: unexpected error {other}"),
            // A corruption the witness does not touch may still yield a valid proof; what must
            // never come out is a proof the trusted verifying key rejects.
            Ok(pk) => match prove(&pk, &opening, &predicate(EXAMPLE), &mut rng(4)) {
                Err(ZkError::SelfCheckFailed | ZkError::ShapeMismatch(_)) => {}
                Err(other) => panic!("byte {position}: unexpected error {other}"),
                Ok((statement, proof)) => {
                    assert!(verify(&keys().1, &statement, &proof).expect("verifiable"));
                }
            },
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
}

#[test]
fn statements_round_trip_and_reject_bad_bytes() {
    let (commitment, _) = example_proof();
    let statement =
        Statement::eligibility(&keys().1, *commitment, &predicate(EXAMPLE)).expect("fits");
    let bytes = statement.to_bytes();
    assert_eq!(Statement::from_bytes(&bytes), Ok(statement));
    assert!(Statement::from_bytes(&bytes[..64]).is_err());
    let mut bad_flag = bytes;
    bad_flag[64] = 2;
    assert!(Statement::from_bytes(&bad_flag).is_err());
}

#[test]
fn mismatched_shapes_and_oversized_predicates_are_refused() {
    let short = RecordOpening::random(Record::new(vec![1; 5]).expect("record"), &mut rng(5));
    let outcome = prove(&keys().0, &short, &predicate(EXAMPLE), &mut rng(5));
    assert!(matches!(outcome, Err(ZkError::ShapeMismatch(_))));
    let four = predicate("age > 1 and age > 2 and age > 3 and age > 4");
    let outcome = prove(&keys().0, &diabetic(), &four, &mut rng(6));
    assert!(matches!(outcome, Err(ZkError::InvalidPredicate(_))));
    assert!(Statement::eligibility(&keys().1, example_proof().0, &four).is_err());
}

#[test]
fn setup_reports_progress_in_order() {
    let mut phases = Vec::new();
    let tiny = CircuitShape::new(2, 1).expect("shape");
    setup(&tiny, &mut rng(7), &mut |phase, fraction| {
        phases.push((phase, fraction))
    })
    .expect("setup");
    let names: Vec<_> = phases.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        names,
        [
            SetupPhase::Preparing,
            SetupPhase::GeneratingKeys,
            SetupPhase::Done
        ]
    );
    assert!(phases.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(phases.last().map(|p| p.1), Some(1.0));
}
