//! Keys crafted to break the protocol (findings of the issue 12 review): a verifying key that
//! lets anyone forge every enrolment must not decode, and a proving key loaded on the trusted
//! path must never make `prove` panic.

use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_std::UniformRand;
use ark_std::rand::{SeedableRng, rngs::StdRng};
use zk::*;

type Bn = ark_bn254::Bn254;
type G1 = ark_bn254::G1Projective;
type G2 = ark_bn254::G2Projective;
type Fr = ark_bn254::Fr;
type ArkVerifyingKey = ark_groth16::VerifyingKey<Bn>;

/// Magic and version of the crate's verifying-key wire form (format 3: seven public inputs).
const VK_MAGIC: &[u8] = b"MCZKVK\x03";
/// Bytes before the arkworks body of a key: magic+version (7) and shape (8).
const KEY_HEADER: usize = 15;

fn shape() -> CircuitShape {
    CircuitShape::new(37, 2, 1).expect("shape")
}

/// A verifying key in the crate's wire form (magic, shape, compressed arkworks key).
fn wire(vk: &ArkVerifyingKey) -> Vec<u8> {
    let mut bytes = VK_MAGIC.to_vec();
    bytes.extend_from_slice(&shape().to_bytes());
    vk.serialize_compressed(&mut bytes).expect("serialise");
    bytes
}

/// Random, well-formed (on-curve, in-subgroup, non-zero, pairwise independent) key points, one
/// input point per public input plus one.
fn random_key(rng: &mut StdRng) -> ArkVerifyingKey {
    let g1 = |rng: &mut StdRng| (G1::generator() * Fr::rand(rng)).into_affine();
    let g2 = |rng: &mut StdRng| (G2::generator() * Fr::rand(rng)).into_affine();
    ArkVerifyingKey {
        alpha_g1: g1(rng),
        beta_g2: g2(rng),
        gamma_g2: g2(rng),
        delta_g2: g2(rng),
        gamma_abc_g1: (0..=STATEMENT_BYTES / FIELD_BYTES)
            .map(|_| g1(rng))
            .collect(),
    }
}

fn refusal_reason(vk: &ArkVerifyingKey) -> String {
    match VerifyingKey::from_bytes(&wire(vk)) {
        Err(ZkError::Malformed { reason, .. }) => reason,
        other => panic!("expected a malformed-key refusal, got {other:?}"),
    }
}

#[test]
fn the_key_points_alone_pass_the_filter() {
    // So that each refusal below is for the crafted relation, not for the header or the count.
    let key = random_key(&mut StdRng::seed_from_u64(11));
    assert!(VerifyingKey::from_bytes(&wire(&key)).is_ok());
}

/// With δ = −γ the check `e(A,B)·e(Σ,−γ)·e(C,−δ) = e(α,β)` becomes `e(A,B)·e(C − Σ, γ) = e(α,β)`,
/// so `A = α, B = β, C = Σ` (the public-input combination) verifies ANY statement, with no
/// witness: unlimited enrolments of one person, any root, any predicate.
#[test]
fn a_verifying_key_with_gamma_equal_to_minus_delta_is_refused() {
    let mut rng = StdRng::seed_from_u64(12);
    let mut degenerate = random_key(&mut rng);
    degenerate.delta_g2 = (-degenerate.gamma_g2.into_group()).into_affine();

    // Why it matters: the witness-free forgery of an arbitrary statement verifies.
    let statement = Statement::from_bytes(&[7u8; STATEMENT_BYTES]).expect("canonical");
    let inputs: Vec<Fr> = statement
        .to_bytes()
        .chunks(FIELD_BYTES)
        .map(<Fr as ark_ff::PrimeField>::from_le_bytes_mod_order)
        .collect();
    let mut sum = degenerate.gamma_abc_g1[0].into_group();
    for (x, point) in inputs.iter().zip(&degenerate.gamma_abc_g1[1..]) {
        sum += *point * x;
    }
    let forged = ark_groth16::Proof::<Bn> {
        a: degenerate.alpha_g1,
        b: degenerate.beta_g2,
        c: sum.into_affine(),
    };
    let prepared = ark_groth16::prepare_verifying_key(&degenerate);
    assert_eq!(
        ark_groth16::Groth16::<Bn>::verify_proof(&prepared, &forged, &inputs),
        Ok(true),
        "the forgery works on such a key"
    );

    assert!(refusal_reason(&degenerate).contains("gamma"));
}

/// Input points equal up to sign let two public inputs trade values (`x·P + y·(−P)` depends only
/// on `x − y`): e.g. any nullifier paired with a matching shift of another input.
#[test]
fn input_points_equal_up_to_sign_are_refused() {
    let mut rng = StdRng::seed_from_u64(13);
    for (i, j) in [(1, 5), (0, 7), (6, 7)] {
        let mut opposite = random_key(&mut rng);
        opposite.gamma_abc_g1[j] = -opposite.gamma_abc_g1[i];
        assert!(
            refusal_reason(&opposite).contains("input points"),
            "IC{i} = -IC{j}"
        );
        let mut equal = random_key(&mut rng);
        equal.gamma_abc_g1[j] = equal.gamma_abc_g1[i];
        assert!(
            refusal_reason(&equal).contains("input points"),
            "IC{i} = IC{j}"
        );
    }
}

/// The trusted load skips the query vectors' per-point checks; the embedded verifying key's
/// points are still checked, since `prove`'s self-check pairs them. With `α = (0, 1)` and
/// `β = (0, 1)` (off the curves, yet not the infinity encoding) the Miller loop's first
/// addition line vanishes and arkworks unwraps a failed final exponentiation: a panic inside the
/// patient's CLI if such a key were loaded.
#[test]
fn a_trusted_proving_key_with_off_curve_alpha_beta_is_refused_and_never_panics_prove() {
    let schema = Schema::new(
        "crafted_v1",
        vec![
            Attribute::new("age", Encoding::Integer, FhirSource::None),
            Attribute::new("ldl", Encoding::Integer, FhirSource::None),
        ],
    )
    .expect("schema");
    let shape = CircuitShape::new(schema.num_attributes(), 1, 0).expect("shape");
    let mut rng = StdRng::seed_from_u64(4);
    let (pk, _vk) = setup(&shape, &mut rng, &mut |_, _| {}).expect("setup");
    let bytes = pk.to_bytes();
    let mut inner = ark_groth16::ProvingKey::<Bn>::deserialize_uncompressed(&bytes[KEY_HEADER..])
        .expect("arkworks pk");
    use ark_ff::One;
    inner.vk.alpha_g1 = ark_bn254::G1Affine::new_unchecked(Default::default(), One::one());
    inner.vk.beta_g2 = ark_bn254::G2Affine::new_unchecked(Default::default(), One::one());
    let mut crafted = bytes[..KEY_HEADER].to_vec();
    inner
        .serialize_uncompressed(&mut crafted)
        .expect("serialise");
    let digest = ProvingKey::digest_of(&crafted);

    let loaded = ProvingKey::from_trusted_bytes(&crafted, &digest);
    assert!(
        matches!(loaded, Err(ZkError::Malformed { .. })),
        "the trusted load checks the embedded verifying key: {loaded:?}"
    );
    // The honest key still loads on the trusted path and proves.
    let honest = ProvingKey::from_trusted_bytes(&bytes, &ProvingKey::digest_of(&bytes))
        .expect("the honest key loads");
    let secret = PatientSecret::from_seed(&[1; 32]);
    let record = schema
        .encode(&[("age", "52"), ("ldl", "130")])
        .expect("record");
    let opening = RecordOpening::random(&schema, record, secret.nullifier_key(), [3; 32], &mut rng)
        .expect("opening");
    let path = membership_path(&[opening.commit().expect("commit")], 0).expect("path");
    let predicate = Predicate::parse("age >= 50", &schema).expect("predicate");
    let witness = EnrolmentWitness {
        opening: &opening,
        secret: &secret,
        path: &path,
    };
    let proved = prove(
        &honest,
        &witness,
        &predicate,
        study_tag(&[1; 32]),
        binding_of(&[2; 32]),
        &mut StdRng::seed_from_u64(5),
    );
    assert!(proved.is_ok(), "{proved:?}");
}
