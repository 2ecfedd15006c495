//! Property tests over random keys (seeded worlds), serialization round trips, and robustness
//! of every decoder against malformed bytes. Case counts stay small: each world registers five
//! entities and runs two enrolments.

mod common;

use common::*;
use proptest::prelude::*;
use taka::*;

/// Decodes bytes and re-encodes the value.
type Recode = Box<dyn Fn(&[u8]) -> Result<Vec<u8>>>;

/// Every wire type's canonical encoding from one world, with its decoder.
fn encodings(w: &mut World) -> Vec<(&'static str, Vec<u8>, Recode)> {
    let params = w.params;
    let (_, reg_request) = PendingRegistration::new(id("dr-new"), &mut w.rng);
    let reg_response = w.pkg.register(&reg_request, &mut w.rng);
    let (enrolling, hello) = Initiator::start_enrolment(&w.patient, id("hospital-a"), &mut w.rng);
    let (enrolment_reply, _) = respond_enrolment(&w.hospital_a, &hello, &mut w.rng).unwrap();
    let (_, _, confirmation) = enrolling
        .finish_enrolment(&w.patient, &enrolment_reply)
        .unwrap();
    let (_, plain_hello) = Initiator::start(&w.patient, id("hospital-a"), &mut w.rng);
    let (reply, _) = respond(&w.hospital_a, &plain_hello, &mut w.rng).unwrap();
    let auth = w.authorize(&w.bob.clone(), true, &[1, 2]);
    let (bob, licence) = (w.bob.clone(), w.bob_licence.clone());
    let (_, request) = PendingShare::request(&bob, &params, licence, &auth, &mut w.rng).unwrap();
    let verified = w.verify(true, &request, NOW).unwrap();
    let releases = [
        World::release("hospital-a", 1),
        World::release("hospital-a", 2),
    ];
    let response = verified.respond(&releases, &mut w.rng).unwrap();
    let eta = EmergencyRequest::new(id("patient-carol"), j(3), &mut w.rng);
    let (_, emergency) =
        PendingEmergency::start(&w.bob, id("hospital-a"), eta.clone(), [7; 32], &mut w.rng);
    let entry = EmrEntry::new(vec!["flu".into()], [2; 32], id("hospital-a"), j(3)).unwrap();
    let kdf = BiometricKdfParams::RECOMMENDED;
    let eee = EncryptedEntry::seal(
        &id("patient-carol"),
        &entry,
        b"fingerprint template 0001",
        kdf,
        &mut w.rng,
    )
    .unwrap();
    let signature = Signature::sign(&w.eve, &params, b"m", &mut w.rng);

    vec![
        (
            "params",
            params.to_bytes(),
            Box::new(|b| PublicParams::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "registration request",
            reg_request.to_bytes(),
            Box::new(|b| RegistrationRequest::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "registration response",
            reg_response.to_bytes().to_vec(),
            Box::new(|b| RegistrationResponse::from_bytes(b).map(|v| v.to_bytes().to_vec())),
        ),
        (
            "entity keys",
            w.bob.to_bytes().to_vec(),
            Box::new(move |b| EntityKeys::from_bytes(&params, b).map(|v| v.to_bytes().to_vec())),
        ),
        (
            "signature",
            signature.to_bytes(),
            Box::new(|b| Signature::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "licence",
            w.bob_licence.to_bytes(),
            Box::new(|b| Licence::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "hello",
            hello.to_bytes(),
            Box::new(|b| Hello::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "reply",
            reply.to_bytes(),
            Box::new(|b| Reply::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "enrolment reply",
            enrolment_reply.to_bytes(),
            Box::new(|b| EnrolmentReply::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "enrolment confirmation",
            confirmation.to_bytes(),
            Box::new(|b| EnrolmentConfirmation::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "patient enrolment",
            w.patient_at_a.to_bytes().to_vec(),
            Box::new(|b| PatientEnrolment::from_bytes(b).map(|v| v.to_bytes().to_vec())),
        ),
        (
            "hospital enrolment",
            w.a_with_patient.to_bytes().to_vec(),
            Box::new(|b| HospitalEnrolment::from_bytes(b).map(|v| v.to_bytes().to_vec())),
        ),
        (
            "initial factors",
            w.patient_at_a.factors().to_bytes().to_vec(),
            Box::new(|b| InitialFactors::from_bytes(b).map(|v| v.to_bytes().to_vec())),
        ),
        (
            "authorization",
            auth.to_bytes(),
            Box::new(|b| Authorization::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "share request",
            request.to_bytes(),
            Box::new(|b| ShareRequest::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "hospital response",
            response.to_bytes(),
            Box::new(|b| HospitalResponse::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "emergency request",
            eta.to_bytes(),
            Box::new(|b| EmergencyRequest::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "emergency hello",
            emergency.to_bytes(),
            Box::new(|b| EmergencyHello::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "emr entry",
            entry.to_bytes(),
            Box::new(|b| EmrEntry::from_bytes(b).map(|v| v.to_bytes())),
        ),
        (
            "encrypted entry",
            eee.to_bytes(),
            Box::new(|b| EncryptedEntry::from_bytes(b).map(|v| v.to_bytes())),
        ),
    ]
}

/// Round trips are exact, every strict prefix is refused, and trailing bytes are refused.
#[test]
fn encodings_round_trip_and_reject_truncation() {
    let mut w = World::new(30);
    for (name, bytes, decode) in encodings(&mut w) {
        assert_eq!(decode(&bytes).as_ref(), Ok(&bytes), "{name} round trip");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "{name} truncated to {cut}");
        }
        let longer = [&bytes[..], &[0]].concat();
        assert_eq!(
            decode(&longer).err(),
            Some(Error::TrailingBytes(1)),
            "{name} + 1 byte"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// S3-agree/S3-release/S3-share over random keys: factors agree on both sides and the
    /// doctor receives exactly the record the patient granted.
    #[test]
    fn sharing_works_for_random_keys_and_records(seed in any::<u64>(), n in 1..=3 * SEGMENT_LEN) {
        let mut w = World::new(seed);
        prop_assert_eq!(
            w.patient_at_a.factors().factor(j(n)),
            w.a_with_patient.factors().factor(j(n))
        );
        let auth = w.authorize(&w.bob.clone(), true, &[n]);
        let (bob, licence) = (w.bob.clone(), w.bob_licence.clone());
        let (pending, request) = PendingShare::request(&bob, &w.params, licence, &auth, &mut w.rng).unwrap();
        let verified = w.verify(true, &request, NOW).unwrap();
        prop_assert_eq!(verified.records(), &[j(n)][..]);
        let release = World::release("hospital-a", n);
        let response = verified.respond(std::slice::from_ref(&release), &mut w.rng).unwrap();
        prop_assert_eq!(pending.open(&response), Ok(vec![release]));
    }

    /// Signatures verify for their message and signer only.
    #[test]
    fn signatures_bind_message_and_signer(seed in any::<u64>(), msg in proptest::collection::vec(any::<u8>(), 0..64), flip in any::<prop::sample::Index>()) {
        let mut w = World::new(seed);
        let sig = Signature::sign(&w.bob, &w.params, &msg, &mut w.rng);
        prop_assert_eq!(sig.verify(&w.params, &id("dr-bob"), &msg), Ok(()));
        prop_assert_eq!(sig.verify(&w.params, &id("dr-eve"), &msg), Err(Error::BadSignature));
        let mut other = msg.clone();
        if other.is_empty() { other.push(0) } else { let i = flip.index(other.len()); other[i] ^= 0x80; }
        prop_assert_eq!(sig.verify(&w.params, &id("dr-bob"), &other), Err(Error::BadSignature));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// No decoder panics on arbitrary bytes or on valid encodings with random bytes changed.
    #[test]
    fn decoders_never_panic(noise in proptest::collection::vec(any::<u8>(), 0..600), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut w = World::new(31);
        for (_, bytes, decode) in encodings(&mut w) {
            let _ = decode(&noise);
            let mut mutated = bytes.clone();
            let i = at.index(mutated.len());
            mutated[i] ^= byte | 1;
            let _ = decode(&mutated);
        }
    }
}
