//! Malformed bytes never panic: every decoder returns a typed error (issues 4 and 12).

use proptest::prelude::*;
use zk::*;

/// Feeds `bytes` to every decoder; only the absence of a panic is asserted here, the typed
/// errors themselves are checked in the unit tests of each type.
fn decode_everything(bytes: &[u8]) {
    let _ = Proof::from_bytes(bytes);
    let _ = VerifyingKey::from_bytes(bytes);
    let _ = ProvingKey::from_bytes(bytes);
    let _ = Statement::from_bytes(bytes);
    let _ = Commitment::from_bytes(bytes);
    let _ = PredicateDigest::from_bytes(bytes);
    let _ = Predicate::from_bytes(bytes);
    let _ = RecordOpening::from_bytes(bytes);
    let _ = Accumulator::from_bytes(bytes);
    let _ = CircuitShape::from_bytes(bytes);
    let _ = PatientSecret::from_bytes(bytes);
    let _ = NullifierKey::from_bytes(bytes);
    let _ = AccumulatorRoot::from_bytes(bytes);
    let _ = StudyTag::from_bytes(bytes);
    let _ = Binding::from_bytes(bytes);
    let _ = Nullifier::from_bytes(bytes);
    let _ = ExclusivityNullifier::from_bytes(bytes);
    let _ = DeliveryTag::from_bytes(bytes);
    // The trusted proving-key path with the bytes' own digest: no per-point checks, yet it must
    // refuse (not panic on) anything structurally wrong.
    let _ = ProvingKey::from_trusted_bytes(bytes, &ProvingKey::digest_of(bytes));
}

const MAGICS: [&[u8]; 5] = [
    b"MCZKPK\x02",
    b"MCZKVK\x02",
    b"MCZKPR\x02",
    b"MCZKOP\x02",
    b"MCZKAC\x01",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_everything(&bytes);
    }

    #[test]
    fn random_bodies_behind_valid_headers_never_panic(
        magic in 0usize..MAGICS.len(),
        shape in (1u32..2000, 1u16..64, 0u16..4),
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = MAGICS[magic].to_vec();
        bytes.extend_from_slice(&shape.0.to_le_bytes());
        bytes.extend_from_slice(&shape.1.to_le_bytes());
        bytes.extend_from_slice(&shape.2.to_le_bytes());
        bytes.extend_from_slice(&body);
        decode_everything(&bytes);
    }

    #[test]
    fn random_schema_prefixed_bodies_never_panic(
        magic in 2usize..4,
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        // Predicates and openings start with a schema id.
        let mut bytes = MAGICS[magic].to_vec();
        bytes.push(11);
        bytes.extend_from_slice(b"clinical_v1");
        bytes.extend_from_slice(&body);
        decode_everything(&bytes);
    }

    #[test]
    fn random_predicate_text_never_panics(text in "[ -~]{0,80}") {
        let _ = Predicate::parse(&text, &Schema::clinical_v1());
    }

    #[test]
    fn random_json_never_panics(text in "[{}\\[\\]\":,a-zA-Z0-9 .-]{0,120}") {
        let date = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        let _ = record_from_bundle(&text, &Schema::clinical_v1(), date);
    }
}

#[test]
fn a_proof_of_all_ones_or_zeros_is_refused() {
    assert!(Proof::from_bytes(&[0xff; PROOF_BYTES]).is_err());
    assert!(Proof::from_bytes(&[0x00; PROOF_BYTES + 1]).is_err());
    assert!(Proof::from_bytes(&[]).is_err());
}
