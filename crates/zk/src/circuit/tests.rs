//! Constraint-level soundness tests: each tampering a cheating prover could try must leave the
//! constraint system unsatisfied (no Groth16 needed to see that).

use super::*;
use crate::predicate::Clause;
use ark_relations::gr1cs::ConstraintSystem;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use proptest::prelude::*;

const N: u32 = 6;
const K: u16 = 3;

fn shape() -> CircuitShape {
    CircuitShape::new(N, K).expect("shape")
}

fn opening(values: Vec<u64>) -> RecordOpening {
    let mut rng = StdRng::seed_from_u64(7);
    RecordOpening::random(Record::new(values).expect("record"), &mut rng)
}

fn satisfied(circuit: EligibilityCircuit) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    circuit.generate_constraints(cs.clone()).expect("synthesis");
    cs.is_satisfied().expect("satisfiability check")
}

/// Record `[40, 7, 0, 9, 3, 12]`; predicate `v0 ∈ [30, 50] ∧ (v1 = 8 ∨ ∃ i∈3..=4: v_i = 9)`.
fn example() -> (RecordOpening, Predicate) {
    let predicate = Predicate::new(vec![
        vec![Clause::on(0, 30, 50, false).expect("c")],
        vec![
            Clause::on(1, 8, 8, false).expect("c"),
            Clause::new(3, 4, 9, 9, false).expect("c"),
        ],
    ])
    .expect("p");
    (opening(vec![40, 7, 0, 9, 3, 12]), predicate)
}

fn honest() -> EligibilityCircuit {
    let (opening, predicate) = example();
    EligibilityCircuit::new(&shape(), &opening, &predicate).expect("circuit")
}

#[test]
fn honest_assignments_satisfy_the_circuit_with_the_true_result() {
    let circuit = honest();
    assert!(circuit.result());
    assert_eq!(
        circuit.slots[2].index, 3,
        "the prover opens the matching diagnosis slot"
    );
    assert!(satisfied(circuit));
    let (opening, _) = example();
    let false_predicate =
        Predicate::all(vec![Clause::on(5, 13, 20, false).expect("c")]).expect("p");
    let circuit = EligibilityCircuit::new(&shape(), &opening, &false_predicate).expect("circuit");
    assert!(!circuit.result());
    assert!(
        satisfied(circuit),
        "a false predicate is provable with R = 0"
    );
}

#[test]
fn claiming_result_one_for_a_false_predicate_is_unsatisfiable() {
    let (opening, _) = example();
    let predicate = Predicate::all(vec![Clause::on(0, 41, 50, false).expect("c")]).expect("p");
    let circuit = EligibilityCircuit::new(&shape(), &opening, &predicate).expect("circuit");
    assert!(!circuit.result());
    assert!(!satisfied(circuit.with_result(true)));
    assert!(!satisfied(honest().with_result(false)));
}

#[test]
fn a_value_not_in_the_committed_record_is_rejected() {
    let mut circuit = honest();
    circuit.slots[0].value = 41;
    assert!(!satisfied(circuit));
}

#[test]
fn opening_an_index_outside_the_clause_range_is_rejected() {
    // Slot 2 may look at indices 3..=4 only; index 5 holds 12, a genuine leaf of the tree.
    let mut circuit = honest();
    let (opening, _) = example();
    let tree = AttributeTree::build(opening.record()).expect("tree");
    let slot = &mut circuit.slots[2];
    slot.index = 5;
    slot.value = 12;
    slot.path = tree.path(5).expect("path");
    assert!(!satisfied(circuit));
}

#[test]
fn a_path_for_another_index_is_rejected() {
    // Keep the claimed index (3, inside the range) but present the path and value of leaf 4.
    let mut circuit = honest();
    let (opening, _) = example();
    let tree = AttributeTree::build(opening.record()).expect("tree");
    circuit.slots[2].value = 3;
    circuit.slots[2].path = tree.path(4).expect("path");
    assert!(!satisfied(circuit));
}

#[test]
fn public_inputs_are_bound() {
    let mut circuit = honest();
    circuit.commitment += Fr::from(1u64);
    assert!(!satisfied(circuit));
    let mut circuit = honest();
    circuit.digest += Fr::from(1u64);
    assert!(!satisfied(circuit));
    let mut circuit = honest();
    circuit.blinding += Fr::from(1u64);
    assert!(!satisfied(circuit));
}

#[test]
fn evaluating_different_clauses_than_the_digest_is_rejected() {
    // Widen slot 0's interval in the witness but keep the verifier's digest.
    let mut circuit = honest();
    let clause = Clause::on(0, 1, u64::MAX, false).expect("c");
    circuit.slots[0].slot.clause = Some(clause);
    assert!(!satisfied(circuit));
}

#[test]
fn blank_setup_circuit_is_satisfiable() {
    let circuit = EligibilityCircuit::blank(&shape()).expect("blank");
    assert_eq!(circuit.public_inputs()[2], Fr::from(1u64));
    assert!(satisfied(circuit));
}

#[test]
fn records_of_another_length_are_refused() {
    let (_, predicate) = example();
    let short = opening(vec![1; N as usize - 1]);
    assert!(matches!(
        EligibilityCircuit::new(&shape(), &short, &predicate),
        Err(ZkError::ShapeMismatch(_))
    ));
}

fn arb_clause() -> impl Strategy<Value = Clause> {
    (0..N, 0u32..3, 1u64..20, 0u64..10, any::<bool>()).prop_map(
        |(first, extra, low, span, negated)| {
            let last = (first + extra).min(N - 1);
            Clause::new(first, last, low, low + span, negated).expect("valid by construction")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// The circuit's result bit is exactly the clear-text evaluation, for arbitrary CNFs.
    #[test]
    fn circuit_result_matches_plain_evaluation(
        values in prop::collection::vec(0u64..25, N as usize),
        groups in prop::collection::vec(prop::collection::vec(arb_clause(), 1..3), 1..3),
    ) {
        let groups: Vec<Vec<Clause>> = groups.into_iter().take(usize::from(K)).collect();
        let mut budget = usize::from(K);
        let groups: Vec<Vec<Clause>> = groups
            .into_iter()
            .filter_map(|mut g| { g.truncate(budget); budget -= g.len(); (!g.is_empty()).then_some(g) })
            .collect();
        let predicate = Predicate::new(groups).expect("non-empty");
        let opening = opening(values);
        let expected = predicate.evaluate(opening.record());
        let circuit = EligibilityCircuit::new(&shape(), &opening, &predicate).expect("circuit");
        prop_assert_eq!(circuit.result(), expected);
        prop_assert!(satisfied(circuit.clone()));
        prop_assert!(!satisfied(circuit.with_result(!expected)));
    }
}
