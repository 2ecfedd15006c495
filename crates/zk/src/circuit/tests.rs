//! Constraint-level soundness tests: each tampering a cheating prover could try must leave the
//! constraint system unsatisfied (no Groth16 needed to see that).

use super::*;
use crate::ids::{Commitment, PatientSecret, binding_of, delivery_tag, study_tag};
use crate::predicate::{Clause, Exclusion};
use crate::{Accumulator, Attribute, Encoding, FhirSource, Record, Schema, membership_path};
use ark_relations::gr1cs::ConstraintSystem;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use proptest::prelude::*;

const N: u32 = 6;
const K: u16 = 3;

fn shape() -> CircuitShape {
    CircuitShape::new(N, K, 1).expect("shape")
}

fn schema_named(id: &'static str) -> Schema {
    let attributes = (0..N)
        .map(|i| Attribute::new(&format!("a{i}"), Encoding::Integer, FhirSource::None))
        .collect();
    Schema::new(id, attributes).expect("schema")
}

fn schema() -> Schema {
    schema_named("test_v1")
}

fn secret() -> PatientSecret {
    PatientSecret::from_seed(&[5; 32])
}

fn opening(values: Vec<u64>) -> RecordOpening {
    let mut rng = StdRng::seed_from_u64(7);
    let record = Record::new(values).expect("record");
    RecordOpening::random(
        &schema(),
        record,
        secret().nullifier_key(),
        RECORD_HASH,
        &mut rng,
    )
    .expect("opening")
}

/// SHA-256 of the (imagined) released bundle.
const RECORD_HASH: [u8; 32] = [0xb5; 32];

/// The record `[40, 7, 0, 9, 3, 12]` attested as leaf 2 of an accumulator of four.
struct Fixture {
    opening: RecordOpening,
    leaves: Vec<Commitment>,
    path: MembershipPath,
}

fn fixture() -> Fixture {
    let opening = opening(vec![40, 7, 0, 9, 3, 12]);
    let other = |i: u64| Commitment::from_field(Fr::from(77 + i));
    let leaves = vec![
        other(0),
        other(1),
        opening.commit().expect("commit"),
        other(3),
    ];
    let path = membership_path(&leaves, 2).expect("path");
    Fixture {
        opening,
        leaves,
        path,
    }
}

/// `a0 ∈ [30, 50] ∧ (a1 = 8 ∨ ∃ i∈3..=4: a_i = 9) ∧ none of a3..=a5 is 8`.
fn example_predicate() -> Predicate {
    Predicate::new(
        &schema(),
        vec![
            vec![Clause::on(0, 30, 50, false).expect("c")],
            vec![
                Clause::on(1, 8, 8, false).expect("c"),
                Clause::new(3, 4, 9, 9, false).expect("c"),
            ],
        ],
        vec![Exclusion::new(3, 5, 8, 8).expect("e")],
    )
    .expect("p")
}

fn assignment<'a>(
    fixture: &'a Fixture,
    secret: &'a PatientSecret,
    predicate: &'a Predicate,
) -> Assignment<'a> {
    Assignment {
        opening: &fixture.opening,
        secret: secret.field(),
        path: &fixture.path,
        predicate,
        study: study_tag(&[1; 32]),
        binding: binding_of(&[2; 32]),
    }
}

fn circuit_for(predicate: &Predicate) -> EnrolmentCircuit {
    let (fixture, secret) = (fixture(), secret());
    EnrolmentCircuit::assign_unchecked(&shape(), &assignment(&fixture, &secret, predicate))
        .expect("circuit")
}

fn honest() -> EnrolmentCircuit {
    let (fixture, secret, predicate) = (fixture(), secret(), example_predicate());
    EnrolmentCircuit::new(&shape(), &assignment(&fixture, &secret, &predicate)).expect("circuit")
}

fn satisfied(circuit: EnrolmentCircuit) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    circuit.generate_constraints(cs.clone()).expect("synthesis");
    cs.is_satisfied().expect("satisfiability check")
}

#[test]
fn honest_assignments_satisfy_the_circuit_with_the_native_public_inputs() {
    let circuit = honest();
    let fixture = fixture();
    let mut accumulator = Accumulator::new();
    for leaf in &fixture.leaves {
        accumulator.append(leaf).expect("room");
    }
    let public = circuit.public_inputs();
    assert_eq!(Ok(public.root), accumulator.root().field());
    let study = study_tag(&[1; 32]);
    assert_eq!(
        Ok(public.nullifier),
        secret().nullifier(study).and_then(|n| n.field())
    );
    let commitment = fixture.opening.commit().expect("commit");
    assert_eq!(
        Ok(public.exclusivity),
        secret().exclusivity(commitment).and_then(|x| x.field())
    );
    assert_eq!(
        Ok(public.delivery),
        delivery_tag(&RECORD_HASH, &key(1), binding_of(&[2; 32]))
            .expect("canonical")
            .field(),
        "a researcher recomputes the circuit's delivery tag from the bundle's SHA-256"
    );
    assert_eq!(
        circuit.slots[2].opening.index, 3,
        "the prover opens the matching diagnosis slot"
    );
    assert!(satisfied(circuit));
}

#[test]
fn the_delivery_tag_is_that_of_the_committed_bundle_and_this_binding() {
    let binding = binding_of(&[2; 32]);
    let other_bundle = delivery_tag(&[0xb6; 32], &key(1), binding).expect("canonical");
    let other_binding =
        delivery_tag(&RECORD_HASH, &key(3), binding_of(&[3; 32])).expect("canonical");
    // Without the patient's key (e.g. an observer who knows the public hEMR): another tag.
    let observer = delivery_tag(
        &RECORD_HASH,
        &crate::ids::DeliveryKey::from_bytes(&[0; 32]).expect("canonical"),
        binding,
    )
    .expect("canonical");
    assert_ne!(
        observer,
        delivery_tag(&RECORD_HASH, &key(1), binding).expect("canonical")
    );
    for claimed in [other_bundle, other_binding, observer] {
        let mut circuit = honest();
        circuit.public.delivery = claimed.field().expect("canonical");
        assert!(!satisfied(circuit), "delivery tag {claimed}");
    }
    // Claiming another bundle's hash inside the circuit breaks the commitment instead.
    let mut circuit = honest();
    circuit.private.record_hash = crate::ids::record_hash_field(&[0xb6; 32]);
    circuit.public.delivery = other_bundle.field().expect("canonical");
    assert!(!satisfied(circuit), "the commitment binds the bundle");
    // The binding is what the delivery tag is bound to: moving it alone fails too.
    let mut circuit = honest();
    circuit.public.binding = binding_of(&[3; 32]).field().expect("canonical");
    assert!(!satisfied(circuit), "another binding");
}

/// The patient's delivery key for the study `study_tag(&[byte; 32])`.
fn key(byte: u8) -> crate::ids::DeliveryKey {
    secret()
        .delivery_key(crate::ids::study_tag(&[byte; 32]))
        .expect("canonical")
}

#[test]
fn a_false_predicate_is_refused_natively_and_unsatisfiable() {
    let (fixture, secret) = (fixture(), secret());
    // The review's case: a clause over indices 0..=1 asking for 9, which neither holds.
    let false_predicate = Predicate::new(
        &schema(),
        vec![vec![Clause::new(0, 1, 9, 9, false).expect("c")]],
        vec![],
    )
    .expect("p");
    assert!(matches!(
        EnrolmentCircuit::new(&shape(), &assignment(&fixture, &secret, &false_predicate)),
        Err(ZkError::NotEligible)
    ));
    assert!(!satisfied(circuit_for(&false_predicate)));
}

#[test]
fn opening_a_non_matching_index_of_a_true_clause_is_unsatisfiable() {
    // `∃ i∈3..=4: a_i = 9` holds at 3; opening 4 (value 3) would have made "result 0" before.
    let mut circuit = honest();
    let tree = AttributeTree::build(fixture().opening.record()).expect("tree");
    circuit.slots[2].opening = Opening::of(&tree, &[40, 7, 0, 9, 3, 12], 4).expect("opening");
    assert!(!satisfied(circuit));
}

#[test]
fn a_none_of_slot_with_a_matching_value_is_refused() {
    // a3 = 9: "none of a3..=a5 is 9" is false.
    let none_of_nine = Predicate::new(
        &schema(),
        vec![],
        vec![Exclusion::new(3, 5, 9, 9).expect("e")],
    )
    .expect("p");
    assert!(!none_of_nine.evaluate(fixture().opening.record()));
    assert!(!satisfied(circuit_for(&none_of_nine)));
    // Hiding the matching index: open index 5 (value 12) in position 0 instead of index 3.
    let mut circuit = circuit_for(&none_of_nine);
    let tree = AttributeTree::build(fixture().opening.record()).expect("tree");
    circuit.exclusions[0].openings[0] =
        Opening::of(&tree, &[40, 7, 0, 9, 3, 12], 5).expect("opening");
    assert!(!satisfied(circuit));
    // Or claim another value at index 3 with its genuine path.
    let mut circuit = circuit_for(&none_of_nine);
    circuit.exclusions[0].openings[0].value = 10;
    assert!(!satisfied(circuit));
}

#[test]
fn the_commitment_must_be_in_the_accumulator() {
    let mut circuit = honest();
    circuit.public.root += Fr::from(1u64);
    assert!(!satisfied(circuit), "wrong root");
    let mut circuit = honest();
    circuit.private.path = fixture().path.with_index(1);
    assert!(!satisfied(circuit), "path of another position");
    // A self-made (unattested) commitment of the same record: not a leaf under the root.
    let mut rng = StdRng::seed_from_u64(99);
    let fake = RecordOpening::random(
        &schema(),
        fixture().opening.record().clone(),
        secret().nullifier_key(),
        RECORD_HASH,
        &mut rng,
    )
    .expect("opening");
    let mut circuit = honest();
    circuit.private.blinding = fake.blinding();
    assert!(!satisfied(circuit), "leaf not in the tree");
}

#[test]
fn the_secret_must_match_the_nullifier_key_in_the_commitment() {
    let mut circuit = honest();
    circuit.private.secret += Fr::from(1u64);
    assert!(!satisfied(circuit));
    let (fixture, predicate) = (fixture(), example_predicate());
    let other = PatientSecret::from_seed(&[6; 32]);
    assert!(matches!(
        EnrolmentCircuit::new(&shape(), &assignment(&fixture, &other, &predicate)),
        Err(ZkError::InvalidWitness(_))
    ));
}

#[test]
fn nullifiers_and_study_are_bound() {
    for tamper in [
        |c: &mut EnrolmentCircuit| c.public.nullifier += Fr::from(1u64),
        |c: &mut EnrolmentCircuit| c.public.exclusivity += Fr::from(1u64),
        |c: &mut EnrolmentCircuit| c.public.study += Fr::from(1u64),
        |c: &mut EnrolmentCircuit| c.public.digest += Fr::from(1u64),
    ] {
        let mut circuit = honest();
        tamper(&mut circuit);
        assert!(!satisfied(circuit));
    }
}

#[test]
fn a_commitment_under_another_schema_is_refused() {
    // The same record, clauses and N under `test_v2`: the digest carries the v2 tag, the
    // commitment the v1 tag, and the circuit uses one tag for both.
    let v2 = schema_named("test_v2");
    let predicate = example_predicate();
    let v2_predicate = Predicate::new(
        &v2,
        predicate.groups().to_vec(),
        predicate.exclusions().to_vec(),
    )
    .expect("p");
    let (fixture, secret) = (fixture(), secret());
    assert!(matches!(
        EnrolmentCircuit::new(&shape(), &assignment(&fixture, &secret, &v2_predicate)),
        Err(ZkError::SchemaMismatch(_))
    ));
    let mut circuit = honest();
    circuit.public.digest = v2_predicate.digest(&shape()).expect("fits").0;
    assert!(!satisfied(circuit.clone()), "v1 tag, v2 digest");
    circuit.private.schema_tag = schema_tag("test_v2");
    assert!(
        !satisfied(circuit),
        "v2 tag: the v1 commitment no longer opens"
    );
}

#[test]
fn a_value_not_in_the_committed_record_is_rejected() {
    let mut circuit = honest();
    circuit.slots[0].opening.value = 41;
    assert!(!satisfied(circuit));
}

#[test]
fn opening_an_index_outside_the_clause_range_is_rejected() {
    // Slot 2 may look at indices 3..=4 only; index 5 holds 12, a genuine leaf of the tree.
    let mut circuit = honest();
    let tree = AttributeTree::build(fixture().opening.record()).expect("tree");
    circuit.slots[2].opening = Opening::of(&tree, &[40, 7, 0, 9, 3, 12], 5).expect("opening");
    circuit.slots[2].slot.clause = Some(Clause::new(3, 5, 1, 100, false).expect("c"));
    assert!(!satisfied(circuit), "widened clause: digest mismatch");
    let mut circuit = honest();
    let tree = AttributeTree::build(fixture().opening.record()).expect("tree");
    let mut outside = Opening::of(&tree, &[40, 7, 0, 9, 3, 12], 5).expect("opening");
    outside.value = 9;
    circuit.slots[2].opening = outside;
    assert!(!satisfied(circuit), "value 9 claimed at index 5");
}

fn counted(circuit: EnrolmentCircuit) -> Dimensions {
    let cs = ConstraintSystem::<Fr>::new_ref();
    circuit.generate_constraints(cs.clone()).expect("synthesis");
    Dimensions {
        constraints: cs.num_constraints(),
        instance: cs.num_instance_variables(),
        witness: cs.num_witness_variables(),
    }
}

#[test]
fn the_blank_setup_circuit_has_the_dimensions_of_an_honest_one() {
    // Key validation counts the blank circuit; a prover synthesises an honest one. They must
    // agree, or a validated key would not fit the prover's circuit.
    let first = dimensions(&shape()).expect("dimensions");
    assert_eq!(dimensions(&shape()), Ok(first), "cached");
    assert_eq!(first.instance, PUBLIC_INPUTS + 1);
    assert_eq!(counted(honest()), first);
    assert_eq!(
        counted(EnrolmentCircuit::blank(&shape()).expect("blank")),
        first
    );
    let one_attribute = CircuitShape::new(1, 1, 1).expect("shape");
    assert!(
        dimensions(&one_attribute).is_ok(),
        "depth 1: empty auth path"
    );
}

#[test]
fn records_of_another_length_are_refused() {
    let predicate = example_predicate();
    let (fixture, secret) = (fixture(), secret());
    let wider = CircuitShape::new(N + 1, K, 1).expect("shape");
    assert!(matches!(
        EnrolmentCircuit::new(&wider, &assignment(&fixture, &secret, &predicate)),
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

fn arb_exclusion() -> impl Strategy<Value = Exclusion> {
    (0..N, 0u32..N, 1u64..25, 0u64..5).prop_map(|(first, extra, low, span)| {
        let last = (first + extra).min(N - 1);
        Exclusion::new(first, last, low, low + span).expect("valid by construction")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    /// The circuit is satisfiable exactly when the predicate holds in the clear.
    #[test]
    fn satisfiable_iff_the_predicate_holds(
        values in prop::collection::vec(0u64..25, N as usize),
        groups in prop::collection::vec(prop::collection::vec(arb_clause(), 1..3), 0..3),
        exclusion in prop::option::of(arb_exclusion()),
    ) {
        let mut budget = usize::from(K);
        let groups: Vec<Vec<Clause>> = groups
            .into_iter()
            .filter_map(|mut g| { g.truncate(budget); budget -= g.len(); (!g.is_empty()).then_some(g) })
            .collect();
        let exclusions: Vec<Exclusion> = exclusion.into_iter().collect();
        prop_assume!(!groups.is_empty() || !exclusions.is_empty());
        let predicate = Predicate::new(&schema(), groups, exclusions).expect("valid");
        let opening = opening(values);
        let leaves = vec![opening.commit().expect("commit")];
        let fixture = Fixture { path: membership_path(&leaves, 0).expect("path"), opening, leaves };
        let secret = secret();
        let circuit = EnrolmentCircuit::assign_unchecked(
            &shape(),
            &assignment(&fixture, &secret, &predicate),
        ).expect("circuit");
        prop_assert_eq!(satisfied(circuit), predicate.evaluate(fixture.opening.record()));
    }
}
