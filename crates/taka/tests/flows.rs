//! End-to-end flows of seed 003: patient C, hospitals A and B, doctors B̄ (at B) and Ē (at A).

mod common;

use common::*;
use taka::*;

/// S3-register: keys from the PKG sign and verify; signatures are bound to the signer's ID.
#[test]
fn registered_keys_sign_and_verify() {
    let mut w = World::new(1);
    let sig = Signature::sign(&w.bob, &w.params, b"tx_mr htxM", &mut w.rng);
    let sig = Signature::from_bytes(&sig.to_bytes()).unwrap();
    assert_eq!(sig.verify(&w.params, &id("dr-bob"), b"tx_mr htxM"), Ok(()));
    assert_eq!(
        sig.verify(&w.params, &id("dr-eve"), b"tx_mr htxM"),
        Err(Error::BadSignature)
    );
    assert_eq!(
        sig.verify(&w.params, &id("dr-bob"), b"tx_mr htxN"),
        Err(Error::BadSignature)
    );
    let keys = EntityKeys::from_bytes(&w.params, &w.bob.to_bytes()).unwrap();
    assert_eq!(keys.id(), w.bob.id());
}

/// S3-agree + S3-release: both sides of an enrolment hold the same factors, in every segment.
#[test]
fn enrolment_gives_identical_factors_on_both_sides() {
    let w = World::new(2);
    for n in [1, 2, SEGMENT_LEN, SEGMENT_LEN + 1, 3 * SEGMENT_LEN + 7] {
        let patient = w.patient_at_a.factors().factor(j(n));
        let hospital = w.a_with_patient.factors().factor(j(n));
        assert_eq!(patient, hospital, "record {n}");
    }
    // Different hospitals, different factors.
    assert_ne!(
        w.patient_at_a.factors().factor(j(1)),
        w.patient_at_b.factors().factor(j(1))
    );
    // Stored state survives a round trip.
    let stored = HospitalEnrolment::from_bytes(&w.a_with_patient.to_bytes()).unwrap();
    assert_eq!(
        stored.factors().factor(j(9)),
        w.patient_at_a.factors().factor(j(9))
    );
    let stored = PatientEnrolment::from_bytes(&w.patient_at_a.to_bytes()).unwrap();
    assert_eq!(stored.hospital(), &id("hospital-a"));
}

/// S3-agree between a doctor and a patient (before S3-share) yields one key on both sides.
#[test]
fn doctor_and_patient_agree_on_a_session_key() {
    let mut w = World::new(3);
    let (bob, patient) = (w.bob.clone(), w.patient.clone());
    let (sk_bob, sk_patient) = agree(&bob, &patient, &mut w.rng);
    assert_eq!(sk_bob, sk_patient);
    let (sk_bob2, _) = agree(&bob, &patient, &mut w.rng);
    assert_ne!(sk_bob, sk_bob2, "fresh ephemerals give fresh keys");
}

/// Runs S3-share for `doctor` at the hospital of (`enrolment`, `hospital`) over the wire.
fn share(
    w: &mut World,
    doctor: &EntityKeys,
    licence: &Licence,
    at_a: bool,
    records: &[u64],
) -> Vec<RecordRelease> {
    let auth = w.authorize(doctor, at_a, records);
    let (pending, request) =
        PendingShare::request(doctor, &w.params, licence.clone(), &auth, &mut w.rng).unwrap();
    let request = ShareRequest::from_bytes(&request.to_bytes()).unwrap();
    let name = if at_a { "hospital-a" } else { "hospital-b" };
    let verified = w.verify(at_a, &request, NOW).unwrap();
    assert_eq!(verified.doctor(), doctor.id());
    let releases: Vec<RecordRelease> = verified
        .records()
        .iter()
        .map(|r| World::release(name, r.get()))
        .collect();
    let response = verified.respond(&releases, &mut w.rng).unwrap();
    let response = HospitalResponse::from_bytes(&response.to_bytes()).unwrap();
    pending.open(&response).unwrap()
}

/// S3-share: B̄ (of B) reads C's records at A; Ē (of A) reads C's records at B; several at once,
/// across factor segments.
#[test]
fn normal_sharing_across_two_hospitals_and_two_doctors() {
    let mut w = World::new(4);
    let (bob, bob_licence) = (w.bob.clone(), w.bob_licence.clone());
    let got = share(&mut w, &bob, &bob_licence, true, &[3]);
    assert_eq!(got, vec![World::release("hospital-a", 3)]);

    let (eve, eve_licence) = (w.eve.clone(), w.eve_licence.clone());
    let records = [1, 7, SEGMENT_LEN + 2];
    let got = share(&mut w, &eve, &eve_licence, false, &records);
    let expected: Vec<RecordRelease> = records
        .iter()
        .map(|&n| World::release("hospital-b", n))
        .collect();
    assert_eq!(got, expected);
}

/// S3-entry + S3-emergency: the unconscious patient's fingerprint opens the EMR entry; B̄ asks
/// A for record j with η; the identity-key session key delivers it.
#[test]
fn emergency_access_with_biometric_entry() {
    let mut w = World::new(5);
    let template = b"canonical fingerprint template of patient-carol".to_vec();
    let params = BiometricKdfParams::RECOMMENDED;
    let entry = EmrEntry::new(
        vec!["allergy".into(), "penicillin".into()],
        [4u8; 32],
        id("hospital-a"),
        j(4),
    )
    .unwrap();
    let eee =
        EncryptedEntry::seal(&id("patient-carol"), &entry, &template, params, &mut w.rng).unwrap();
    let eee = EncryptedEntry::from_bytes(&eee.to_bytes()).unwrap();

    let found = eee.open(&id("patient-carol"), &template).unwrap();
    assert_eq!(found, entry);
    let eta = EmergencyRequest::new(id("patient-carol"), found.record(), &mut w.rng);
    assert_eq!(
        EmergencyRequest::from_bytes(&eta.to_bytes()).as_ref(),
        Ok(&eta)
    );
    let htxu = [9u8; 32]; // the SUP transaction carrying hUR = eta.hur()
    let (pending, hello) = PendingEmergency::start(
        &w.bob,
        found.hospital().clone(),
        eta.clone(),
        htxu,
        &mut w.rng,
    );
    let hello = EmergencyHello::from_bytes(&hello.to_bytes()).unwrap();
    assert_eq!(hello.request().hur(), eta.hur());

    let release = World::release("hospital-a", 4);
    let response = respond_emergency(&w.hospital_a, &hello, &release, &mut w.rng).unwrap();
    let response = HospitalResponse::from_bytes(&response.to_bytes()).unwrap();
    assert_eq!(pending.open(&w.bob, &response), Ok(release));
}

/// Licences round-trip and verify for their doctor, issued by his hospital, until expiry.
#[test]
fn licences_verify_until_expiry() {
    let w = World::new(6);
    let licence = Licence::from_bytes(&w.bob_licence.to_bytes()).unwrap();
    let hospital_b = id("hospital-b");
    for now in [NOW, EXPIRY] {
        let check = LicenceCheck {
            expected_issuer: &hospital_b,
            revocation: RevocationStatus::NotRevoked,
            now,
        };
        assert_eq!(licence.verify(&w.params, &id("dr-bob"), &check), Ok(()));
    }
    assert_eq!(licence.hospital(), &id("hospital-b"));
}

/// S3-agree across processes: the doctor stores the initiator state between hello and reply
/// (e.g. `medchain doctor ask` / `fetch`), restores it, and agrees the same key as the patient.
#[test]
fn stored_initiator_state_finishes_the_agreement() {
    let mut w = World::new(31);
    let (state, hello) = Initiator::start(&w.bob, w.patient.id().clone(), &mut w.rng);
    let stored = state.to_bytes();
    drop(state);
    let restored = Initiator::from_bytes(&stored).unwrap();
    assert_eq!(restored.hello(), &hello);
    assert_eq!(restored.to_bytes(), stored, "the encoding is canonical");
    let (reply, sk_patient) = respond(&w.patient, &hello, &mut w.rng).unwrap();
    assert_eq!(restored.finish(&w.bob, &reply).unwrap(), sk_patient);

    // An enrolment's state (with T̂_c1) survives the trip too.
    let (state, hello) = Initiator::start_enrolment(&w.patient, id("hospital-a"), &mut w.rng);
    let restored = Initiator::from_bytes(&state.to_bytes()).unwrap();
    let (reply, pending) = respond_enrolment(&w.hospital_a, &hello, &mut w.rng).unwrap();
    let (sk_patient, enrolment, confirmation) =
        restored.finish_enrolment(&w.patient, &reply).unwrap();
    let (sk_hospital, hospital_side) = pending.confirm(&confirmation).unwrap();
    assert_eq!(sk_patient, sk_hospital);
    assert_eq!(
        enrolment.factors().factor(j(4)).record_key(),
        hospital_side.factors().factor(j(4)).record_key()
    );
}
