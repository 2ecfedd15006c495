//! Negative tests: every forgery, misuse and tampering the seed's security goals (S3-goals)
//! rule out is detected, with the error that says where.

mod common;

use common::*;
use taka::*;

/// Byte offsets of a [`ShareRequest`]'s fields (see its `to_bytes`).
struct RequestLayout {
    alpha: usize,
    n: usize,
    n_len: usize,
    sig: usize,
}

fn layout(request: &ShareRequest) -> RequestLayout {
    let ids = [request.patient(), request.doctor(), request.hospital()];
    let alpha = ids.iter().map(|i| 4 + i.as_bytes().len()).sum::<usize>();
    let bytes = request.to_bytes();
    let len_at = alpha + 96;
    let n_len = u32::from_be_bytes(bytes[len_at..len_at + 4].try_into().unwrap()) as usize;
    RequestLayout {
        alpha,
        n: len_at + 4,
        n_len,
        sig: len_at + 4 + n_len,
    }
}

/// Bob's authorization for records at A and his request built from it.
fn bob_request(w: &mut World, records: &[u64]) -> (PendingShare, ShareRequest) {
    let auth = w.authorize(&w.bob.clone(), true, records);
    let (bob, licence) = (w.bob.clone(), w.bob_licence.clone());
    PendingShare::request(&bob, &w.params, licence, &auth, &mut w.rng).unwrap()
}

fn verify_bytes(w: &World, bytes: &[u8]) -> Result<VerifiedShare> {
    let request = ShareRequest::from_bytes(bytes)?;
    w.a_with_patient.verify_request(&w.params, &request, NOW)
}

fn request_from_authorization(w: &mut World, auth_bytes: &[u8]) -> ShareRequest {
    let auth = Authorization::from_bytes(auth_bytes).unwrap();
    let (bob, licence) = (w.bob.clone(), w.bob_licence.clone());
    PendingShare::request(&bob, &w.params, licence, &auth, &mut w.rng)
        .unwrap()
        .1
}

/// Offset of α_C in an authorization's encoding.
fn alpha_offset(auth: &Authorization) -> usize {
    let ids = [
        "patient-carol",
        "hospital-a",
        auth.doctor().to_string().as_str(),
    ]
    .map(|s| 4 + s.len());
    ids.iter().sum()
}

#[test]
fn honest_request_is_accepted_as_baseline() {
    let mut w = World::new(10);
    let (_, request) = bob_request(&mut w, &[2]);
    assert!(verify_bytes(&w, &request.to_bytes()).is_ok());
}

/// S3-goals "authorization cannot be forged": a made-up α_C, one the patient made for another
/// doctor, or one made for another hospital all fail at A.
#[test]
fn forged_authorization_is_rejected() {
    let mut w = World::new(11);
    let genuine = w.authorize(&w.bob.clone(), true, &[2]).to_bytes();
    let at = alpha_offset(&Authorization::from_bytes(&genuine).unwrap());

    let eve_auth = w.authorize(&w.eve.clone(), true, &[2]).to_bytes();
    let other_hospital = w.authorize(&w.bob.clone(), false, &[2]).to_bytes();
    let made_up = unrelated_g2_point().to_vec(); // some valid G2 point: P̂
    let eve_at = alpha_offset(&Authorization::from_bytes(&eve_auth).unwrap());
    for alpha in [
        &eve_auth[eve_at..eve_at + 96],
        &other_hospital[at..at + 96],
        &made_up[..],
    ] {
        let mut forged = genuine.clone();
        forged[at..at + 96].copy_from_slice(alpha);
        let request = request_from_authorization(&mut w, &forged);
        assert_eq!(
            verify_bytes(&w, &request.to_bytes()).err(),
            Some(Error::RequestRejected)
        );
    }
}

/// A grant for record j presented for record k: the record-binding tag does not match.
#[test]
fn authorization_for_record_j_used_for_record_k_is_rejected() {
    let mut w = World::new(12);
    let mut bytes = w.authorize(&w.bob.clone(), true, &[2]).to_bytes();
    let record_at = bytes.len() - (8 + 96 + 32);
    bytes[record_at..record_at + 8].copy_from_slice(&5u64.to_be_bytes());
    let request = request_from_authorization(&mut w, &bytes);
    assert_eq!(
        verify_bytes(&w, &request.to_bytes()).err(),
        Some(Error::RequestRejected)
    );

    // Widening a one-record grant by duplicating its tag under another index also fails.
    let auth = w.authorize(&w.bob.clone(), true, &[2, 3]).to_bytes();
    let second = auth.len() - (8 + 96 + 32);
    let mut widened = auth.clone();
    widened[second..second + 8].copy_from_slice(&9u64.to_be_bytes());
    let request = request_from_authorization(&mut w, &widened);
    assert_eq!(
        verify_bytes(&w, &request.to_bytes()).err(),
        Some(Error::RequestRejected)
    );
}

/// Another doctor replaying B̄'s request: under her own name and licence it is rejected; sent
/// unchanged it verifies as B̄'s (same replay tag, so a served-request cache refuses it) and
/// only B̄, who holds b, could read the answer.
#[test]
fn another_doctor_replaying_the_request_is_detected() {
    let mut w = World::new(13);
    let (bob_pending, request) = bob_request(&mut w, &[2]);
    let bytes = request.to_bytes();
    let licence_at = bytes.len() - w.bob_licence.to_bytes().len();

    let mut as_eve = bytes[..licence_at].to_vec();
    let doctor_at = 4 + "patient-carol".len() + 4;
    as_eve[doctor_at..doctor_at + 6].copy_from_slice(b"dr-eve");
    let with_bobs_licence = [&as_eve[..], &bytes[licence_at..]].concat();
    assert_eq!(
        verify_bytes(&w, &with_bobs_licence).err(),
        Some(Error::LicenceRejected("issued to another doctor"))
    );
    let with_her_licence = [as_eve, w.eve_licence.to_bytes()].concat();
    assert_eq!(
        verify_bytes(&w, &with_her_licence).err(),
        Some(Error::RequestRejected)
    );

    let first = verify_bytes(&w, &bytes).unwrap();
    let replay = verify_bytes(&w, &bytes).unwrap();
    assert_eq!(first.replay_tag(), replay.replay_tag());
    let (_, fresh) = bob_request(&mut w, &[2]);
    assert_ne!(
        verify_bytes(&w, &fresh.to_bytes()).unwrap().replay_tag(),
        first.replay_tag()
    );

    // The replayer gets a response it cannot open: Eve's own pending state has another b.
    let response = replay
        .respond(&[World::release("hospital-a", 2)], &mut w.rng)
        .unwrap();
    let eve_auth = w.authorize(&w.eve.clone(), true, &[2]);
    let (eve, licence) = (w.eve.clone(), w.eve_licence.clone());
    let (eve_pending, _) =
        PendingShare::request(&eve, &w.params, licence, &eve_auth, &mut w.rng).unwrap();
    assert_eq!(eve_pending.open(&response).err(), Some(Error::Decryption));
    assert!(bob_pending.open(&response).is_ok());
}

/// Tampering with N (the hidden θ) or any part of σ = (L, h, v) is rejected.
#[test]
fn tampered_n_or_signature_is_rejected() {
    let mut w = World::new(14);
    let (_, request) = bob_request(&mut w, &[2, 3]);
    let bytes = request.to_bytes();
    let at = layout(&request);
    let other_l = Signature::sign(&w.eve, &w.params, b"x", &mut w.rng).to_bytes();

    let mut cases: Vec<Vec<u8>> = Vec::new();
    for offset in [at.n, at.n + at.n_len / 2, at.n + at.n_len - 1] {
        let mut t = bytes.clone();
        t[offset] ^= 0x01;
        cases.push(t);
    }
    for offset in [at.sig + 48 + 31, at.sig + 80 + 31] {
        let mut t = bytes.clone();
        t[offset] ^= 0x01; // low bit of h, then of v: still canonical scalars
        cases.push(t);
    }
    let mut t = bytes.clone();
    t[at.sig..at.sig + 48].copy_from_slice(&other_l[..48]);
    cases.push(t);
    let mut t = bytes.clone();
    let alpha = at.alpha;
    t[alpha..alpha + 96].copy_from_slice(&unrelated_g2_point());
    cases.push(t);

    for case in cases {
        assert_eq!(verify_bytes(&w, &case).err(), Some(Error::RequestRejected));
    }
}

/// Licences: expired, tampered, or issued to someone else are refused, in the request too.
#[test]
fn bad_licences_are_rejected() {
    let mut w = World::new(15);
    let licence = w.bob_licence.clone();
    assert_eq!(
        licence.verify(&w.params, &id("dr-bob"), EXPIRY + 1),
        Err(Error::LicenceRejected("expired"))
    );
    assert_eq!(
        licence.verify(&w.params, &id("dr-eve"), NOW),
        Err(Error::LicenceRejected("issued to another doctor"))
    );
    let mut extended = licence.to_bytes();
    let exp_at = 4 + "hospital-b".len() + 4 + "dr-bob".len();
    extended[exp_at..exp_at + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        Licence::from_bytes(&extended)
            .unwrap()
            .verify(&w.params, &id("dr-bob"), NOW),
        Err(Error::LicenceRejected("bad signature"))
    );

    let (_, request) = bob_request(&mut w, &[1]);
    let request = ShareRequest::from_bytes(&request.to_bytes()).unwrap();
    assert_eq!(
        w.a_with_patient
            .verify_request(&w.params, &request, EXPIRY + 1)
            .err(),
        Some(Error::LicenceRejected("expired"))
    );
    assert!(matches!(
        w.b_with_patient.verify_request(&w.params, &request, NOW),
        Err(Error::WrongParty(_))
    ));
}

/// S3-register: the entity refuses every response an honest PKG would not have sent.
#[test]
fn wrong_registration_response_is_rejected() {
    let mut w = World::new(16);
    let rejected = |r: Result<EntityKeys>| matches!(r, Err(Error::RegistrationRejected(_)));

    let fresh = |w: &mut World| PendingRegistration::new(id("dr-new"), &mut w.rng);
    let tamper = |bytes: &[u8], range: std::ops::Range<usize>, with: &[u8]| {
        let mut b = bytes.to_vec();
        b[range].copy_from_slice(with);
        RegistrationResponse::from_bytes(&b).unwrap()
    };

    // d_U changed.
    let (pending, request) = fresh(&mut w);
    let bytes = w.pkg.register(&request, &mut w.rng).to_bytes();
    let mut d = bytes[48..80].to_vec();
    d[31] ^= 1;
    assert!(rejected(
        pending.complete(&w.params, tamper(&bytes, 48..80, &d))
    ));

    // Identity keys Ŝ_U / Š_U of another identity.
    let (_, eve_request) = PendingRegistration::new(id("dr-eve2"), &mut w.rng);
    let other = w.pkg.register(&eve_request, &mut w.rng).to_bytes();
    for range in [80..128, 128..224] {
        let (pending, request) = fresh(&mut w);
        let bytes = w.pkg.register(&request, &mut w.rng).to_bytes();
        let swapped = tamper(&bytes, range.clone(), &other[range]);
        assert!(rejected(pending.complete(&w.params, swapped)));
    }

    // A whole response meant for another request.
    let (pending, _) = fresh(&mut w);
    assert!(rejected(
        pending.complete(&w.params, w.pkg.register(&eve_request, &mut w.rng))
    ));

    // L_U = L_U1: the PKG contributed nothing.
    let (pending, request) = fresh(&mut w);
    let bytes = w.pkg.register(&request, &mut w.rng).to_bytes();
    let l1 = request.to_bytes()[request.to_bytes().len() - 48..].to_vec();
    assert_eq!(
        pending
            .complete(&w.params, tamper(&bytes, 0..48, &l1))
            .err(),
        Some(Error::RegistrationRejected("PKG share y_U is zero"))
    );

    // A response from another PKG.
    let other_pkg = Pkg::setup(&mut w.rng);
    let (pending, request) = fresh(&mut w);
    assert!(rejected(
        pending.complete(&w.params, other_pkg.register(&request, &mut w.rng))
    ));

    // Stored keys under another PKG's parameters.
    assert!(rejected(EntityKeys::from_bytes(
        other_pkg.params(),
        &w.bob.to_bytes()
    )));
}

/// S3-entry: a wrong fingerprint, another patient's ID, or tampering fails authentication.
#[test]
fn wrong_biometric_is_rejected() {
    let mut w = World::new(17);
    let template = b"canonical fingerprint template #1".to_vec();
    let params = BiometricKdfParams::new(64, 1, 1).unwrap();
    let entry = EmrEntry::new(vec!["asthma".into()], [1; 32], id("hospital-a"), j(1)).unwrap();
    let patient = id("patient-carol");
    let eee = EncryptedEntry::seal(&patient, &entry, &template, params, &mut w.rng).unwrap();

    let mut wrong = template.clone();
    wrong[0] ^= 1;
    assert_eq!(eee.open(&patient, &wrong), Err(Error::Decryption));
    assert_eq!(
        eee.open(&id("patient-dave"), &template),
        Err(Error::Decryption)
    );
    let mut bytes = eee.to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert_eq!(
        EncryptedEntry::from_bytes(&bytes)
            .unwrap()
            .open(&patient, &template),
        Err(Error::Decryption)
    );
    assert_eq!(
        EncryptedEntry::seal(&patient, &entry, b"1234", params, &mut w.rng).err(),
        Some(Error::KdfParams("template too short"))
    );
    assert!(BiometricKdfParams::new(4, 1, 1).is_err());
    assert!(BiometricKdfParams::new(64, 0, 1).is_err());
    assert!(BiometricKdfParams::new(BiometricKdfParams::MAX_MEMORY_KIB + 1, 1, 1).is_err());
}

/// S3-agree authenticates through K: an impostor answering for the patient ends up with a
/// different session key, and a hello for someone else is refused.
#[test]
fn agreement_impostor_gets_a_different_key() {
    let mut w = World::new(18);
    let (state, hello) = Initiator::start(&w.bob, id("patient-carol"), &mut w.rng);
    assert!(matches!(
        respond(&w.eve, &hello, &mut w.rng),
        Err(Error::WrongParty(_))
    ));

    // Another registered patient re-addresses the hello to herself, answers, then claims to be
    // the patient Bob meant to reach.
    let mallory = register(&w.pkg, "patient-malor", &mut w.rng);
    let redirected = hello
        .to_bytes()
        .replace_id("patient-carol", "patient-malor");
    let hello_to_mallory = Hello::from_bytes(&redirected).unwrap();
    let (reply, sk_mallory) = respond(&mallory, &hello_to_mallory, &mut w.rng).unwrap();
    let claimed = reply
        .to_bytes()
        .replace_id("patient-malor", "patient-carol");
    let forged = Reply::from_bytes(&claimed).unwrap();
    let sk_bob = state.finish(&w.bob, &forged).unwrap();
    assert_ne!(sk_bob, sk_mallory);
}

/// S3-agree (enrolment): T̂_c1 must carry the same c1 as T_c1.
#[test]
fn enrolment_with_inconsistent_ephemeral_is_rejected() {
    let mut w = World::new(19);
    let (_, hello) = Initiator::start_enrolment(&w.patient, id("hospital-a"), &mut w.rng);
    let mut bytes = hello.to_bytes();
    let at = bytes.len() - 96;
    bytes[at..].copy_from_slice(&unrelated_g2_point());
    let hello = Hello::from_bytes(&bytes).unwrap();
    assert_eq!(
        respond_enrolment(&w.hospital_a, &hello, &mut w.rng).err(),
        Some(Error::InconsistentEphemeral)
    );
    let (plain, plain_hello) = Initiator::start(&w.patient, id("hospital-a"), &mut w.rng);
    assert!(respond_enrolment(&w.hospital_a, &plain_hello, &mut w.rng).is_err());
    let (reply, _) = respond(&w.hospital_a, &plain_hello, &mut w.rng).unwrap();
    assert!(plain.finish_enrolment(&w.patient, &reply).is_err());
}

/// Emergency: only the addressed hospital answers, only the requesting doctor decrypts, and the
/// response carries the requested record.
#[test]
fn emergency_misuse_is_detected() {
    let mut w = World::new(20);
    let eta = EmergencyRequest::new(id("patient-carol"), j(4));
    let release = World::release("hospital-a", 4);
    let (pending, hello) =
        PendingEmergency::start(&w.bob, id("hospital-a"), eta.clone(), [1; 32], &mut w.rng);

    assert!(matches!(
        respond_emergency(&w.hospital_b, &hello, &release, &mut w.rng),
        Err(Error::WrongParty(_))
    ));
    assert!(matches!(
        respond_emergency(
            &w.hospital_a,
            &hello,
            &World::release("hospital-a", 5),
            &mut w.rng
        ),
        Err(Error::InvalidList(_))
    ));

    // Hospital B re-addresses the hello to itself: Bob, expecting A, cannot decrypt.
    let readdressed = hello.to_bytes().replace_id("hospital-a", "hospital-b");
    let to_b = EmergencyHello::from_bytes(&readdressed).unwrap();
    let impostor = respond_emergency(&w.hospital_b, &to_b, &release, &mut w.rng).unwrap();
    let (pending_again, _) =
        PendingEmergency::start(&w.bob, id("hospital-a"), eta.clone(), [1; 32], &mut w.rng);
    assert_eq!(
        pending_again.open(&w.bob, &impostor).err(),
        Some(Error::Decryption)
    );

    // Eve intercepts A's genuine answer to Bob.
    let genuine = respond_emergency(&w.hospital_a, &hello, &release, &mut w.rng).unwrap();
    let (eve_pending, _) =
        PendingEmergency::start(&w.eve, id("hospital-a"), eta, [1; 32], &mut w.rng);
    assert_eq!(
        eve_pending.open(&w.eve, &genuine).err(),
        Some(Error::Decryption)
    );
    assert_eq!(pending.open(&w.bob, &genuine), Ok(release));
}

/// Responses: a flipped ciphertext byte, or a response about other records, is refused.
#[test]
fn tampered_response_is_rejected() {
    let mut w = World::new(21);
    let (pending, request) = bob_request(&mut w, &[2]);
    let verified = verify_bytes(&w, &request.to_bytes()).unwrap();
    assert!(
        verified
            .respond(&[World::release("hospital-a", 3)], &mut w.rng)
            .is_err()
    );
    let response = verified
        .respond(&[World::release("hospital-a", 2)], &mut w.rng)
        .unwrap();
    let mut bytes = response.to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = HospitalResponse::from_bytes(&bytes).unwrap();
    assert_eq!(pending.open(&tampered).err(), Some(Error::Decryption));

    let (pending, _) = bob_request(&mut w, &[5]);
    assert!(matches!(pending.open(&response), Err(Error::WrongParty(_))));
}

/// Byte-level identity substitution for same-length identities.
trait ReplaceId {
    fn replace_id(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceId for Vec<u8> {
    fn replace_id(&self, from: &str, to: &str) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let at = self
            .windows(from.len())
            .position(|win| win == from.as_bytes())
            .expect("identity present");
        let mut out = self.clone();
        out[at..at + to.len()].copy_from_slice(to.as_bytes());
        out
    }
}
