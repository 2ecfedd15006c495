//! Negative tests: every forgery, misuse and tampering the seed's security goals (S3-goals)
//! rule out is detected, with the error that says where.

mod common;

use common::*;
use taka::*;

/// Byte offsets of a [`ShareRequest`]'s fields (see its `to_bytes`): ID_C, ID_B̄, ID_A,
/// expiry, T_b, α_CB̄, sealed record list, σ, ρ.
struct RequestLayout {
    expiry: usize,
    t_b: usize,
    alpha: usize,
    sealed: usize,
    sealed_len: usize,
    sig: usize,
}

fn layout(request: &ShareRequest) -> RequestLayout {
    let ids = [request.patient(), request.doctor(), request.hospital()];
    let expiry = ids.iter().map(|i| 4 + i.as_bytes().len()).sum::<usize>();
    let (t_b, alpha) = (expiry + 8, expiry + 8 + 48);
    let bytes = request.to_bytes();
    let len_at = alpha + 96;
    let sealed_len = u32::from_be_bytes(bytes[len_at..len_at + 4].try_into().unwrap()) as usize;
    RequestLayout {
        expiry,
        t_b,
        alpha,
        sealed: len_at + 4,
        sealed_len,
        sig: len_at + 4 + sealed_len,
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
    w.verify(true, &request, NOW)
}

fn request_from_authorization(w: &mut World, auth_bytes: &[u8]) -> ShareRequest {
    let auth = Authorization::from_bytes(auth_bytes).unwrap();
    let (bob, licence) = (w.bob.clone(), w.bob_licence.clone());
    PendingShare::request(&bob, &w.params, licence, &auth, &mut w.rng)
        .unwrap()
        .1
}

/// Offset of α_C in an authorization's encoding (after three identities and the expiry).
fn alpha_offset(auth: &Authorization) -> usize {
    let ids = [
        "patient-carol",
        "hospital-a",
        auth.doctor().to_string().as_str(),
    ]
    .map(|s| 4 + s.len());
    ids.iter().sum::<usize>() + 8
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

/// Tampering with the sealed record list, the expiry, T_b, α_CB̄ or any part of σ = (L, h, v)
/// is rejected.
#[test]
fn tampered_request_is_rejected() {
    let mut w = World::new(14);
    let (_, request) = bob_request(&mut w, &[2, 3]);
    let bytes = request.to_bytes();
    let at = layout(&request);
    let other_sig = Signature::sign(&w.eve, &w.params, b"x", &mut w.rng).to_bytes();

    let mut cases: Vec<Vec<u8>> = Vec::new();
    let last_sealed = at.sealed + at.sealed_len - 1;
    for offset in [at.sealed, at.sealed + at.sealed_len / 2, last_sealed] {
        let mut t = bytes.clone();
        t[offset] ^= 0x01;
        cases.push(t);
    }
    for offset in [at.sig + 48 + 31, at.sig + 80 + 31, at.expiry + 7] {
        let mut t = bytes.clone();
        t[offset] ^= 0x01; // low bit of h, of v (still canonical scalars), of the expiry
        cases.push(t);
    }
    let mut t = bytes.clone();
    t[at.sig..at.sig + 48].copy_from_slice(&other_sig[..48]);
    cases.push(t);
    let mut t = bytes.clone();
    t[at.t_b..at.t_b + 48].copy_from_slice(&other_sig[..48]); // another valid G1 point
    cases.push(t);
    let mut t = bytes.clone();
    t[at.alpha..at.alpha + 96].copy_from_slice(&unrelated_g2_point());
    cases.push(t);

    for case in cases {
        assert_eq!(verify_bytes(&w, &case).err(), Some(Error::RequestRejected));
    }
}

/// Licences: expired, tampered, issued to someone else, issued by someone other than the
/// doctor's hospital, or of a revoked doctor are refused, in the request too.
#[test]
fn bad_licences_are_rejected() {
    let mut w = World::new(15);
    let licence = w.bob_licence.clone();
    let hospital_b = id("hospital-b");
    let check = |now, revocation| LicenceCheck {
        expected_issuer: &hospital_b,
        revocation,
        now,
    };
    let not_revoked = RevocationStatus::NotRevoked;
    assert_eq!(
        licence.verify(&w.params, &id("dr-bob"), &check(EXPIRY + 1, not_revoked)),
        Err(Error::LicenceRejected("expired"))
    );
    assert_eq!(
        licence.verify(&w.params, &id("dr-eve"), &check(NOW, not_revoked)),
        Err(Error::LicenceRejected("issued to another doctor"))
    );
    assert_eq!(
        licence.verify(
            &w.params,
            &id("dr-bob"),
            &check(NOW, RevocationStatus::Revoked)
        ),
        Err(Error::LicenceRejected("doctor revoked"))
    );
    let hospital_a = id("hospital-a");
    let elsewhere = LicenceCheck {
        expected_issuer: &hospital_a,
        revocation: not_revoked,
        now: NOW,
    };
    assert_eq!(
        licence.verify(&w.params, &id("dr-bob"), &elsewhere),
        Err(Error::LicenceRejected(
            "not issued by the doctor's hospital"
        ))
    );
    let mut extended = licence.to_bytes();
    let exp_at = 4 + "hospital-b".len() + 4 + "dr-bob".len();
    extended[exp_at..exp_at + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        Licence::from_bytes(&extended).unwrap().verify(
            &w.params,
            &id("dr-bob"),
            &check(NOW, not_revoked)
        ),
        Err(Error::LicenceRejected("bad signature"))
    );

    let (_, request) = bob_request(&mut w, &[1]);
    let request = ShareRequest::from_bytes(&request.to_bytes()).unwrap();
    assert_eq!(
        w.verify(true, &request, EXPIRY + 1).err(),
        Some(Error::LicenceRejected("expired"))
    );
    let revoked = check(NOW, RevocationStatus::Revoked);
    assert_eq!(
        w.a_with_patient
            .verify_request(&w.hospital_a, &w.params, &request, &revoked)
            .err(),
        Some(Error::LicenceRejected("doctor revoked"))
    );
    assert!(matches!(
        w.verify(false, &request, NOW),
        Err(Error::WrongParty(_))
    ));
    assert!(matches!(
        w.a_with_patient.verify_request(
            &w.hospital_b,
            &w.params,
            &request,
            &check(NOW, not_revoked)
        ),
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
    let params = BiometricKdfParams::RECOMMENDED;
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
    let reply = reply.to_bytes();
    let len = (reply.len() as u32).to_be_bytes();
    let as_enrolment = EnrolmentReply::from_bytes(&[&len[..], &reply, &[0; 32]].concat()).unwrap();
    assert!(plain.finish_enrolment(&w.patient, &as_enrolment).is_err());
}

/// Emergency: only the addressed hospital answers, only the requesting doctor decrypts, and the
/// response carries the requested record.
#[test]
fn emergency_misuse_is_detected() {
    let mut w = World::new(20);
    let eta = EmergencyRequest::new(id("patient-carol"), j(4), &mut w.rng);
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

/// Attack (S3-entry): an entry whose stored Argon2 cost is huge makes every reader allocate it
/// (before: 1 GiB × 16 passes × 8 lanes were accepted); and sealing accepted parameters too weak
/// to slow down template guessing (before: any, e.g. 64 KiB × 1 pass).
#[test]
fn argon2_cost_is_capped_on_read_and_floored_on_seal() {
    let mut w = World::new(43);
    let entry = EmrEntry::new(vec!["asthma".into()], [1; 32], id("hospital-a"), j(1)).unwrap();
    let template = b"canonical fingerprint template #1".to_vec();
    let weak = BiometricKdfParams::new(64, 1, 1).unwrap();
    assert_eq!(
        EncryptedEntry::seal(&id("patient-carol"), &entry, &template, weak, &mut w.rng).err(),
        Some(Error::KdfTooWeak("memory"))
    );
    let eee = EncryptedEntry::seal(
        &id("patient-carol"),
        &entry,
        &template,
        BiometricKdfParams::RECOMMENDED,
        &mut w.rng,
    )
    .unwrap();
    let mut bytes = eee.to_bytes();
    bytes[..4].copy_from_slice(&(512u32 * 1024).to_be_bytes()); // 512 MiB
    assert_eq!(
        EncryptedEntry::from_bytes(&bytes).err(),
        Some(Error::KdfCostAboveCap("memory"))
    );
}

/// Attack (S3-emergency): tx_ur's hUR is public on SUP; patient IDs and record indices are few,
/// so hashing every candidate η found who is treated and which record is read (before: hUR =
/// H(ID_C ‖ j), the same for every request). Salted, two requests for the same (patient,
/// record) are unlinkable, and hUR still commits to the salt the hospital receives.
#[test]
fn emergency_hur_is_salted() {
    let mut w = World::new(44);
    let first = EmergencyRequest::new(id("patient-carol"), j(4), &mut w.rng);
    let second = EmergencyRequest::new(id("patient-carol"), j(4), &mut w.rng);
    assert_ne!(first.hur(), second.hur());
    let received = EmergencyRequest::from_bytes(&first.to_bytes()).unwrap();
    assert_eq!(received.hur(), first.hur());
    let mut other_salt = first.to_bytes();
    let last = other_salt.len() - 1;
    other_salt[last] ^= 1;
    assert_ne!(
        EmergencyRequest::from_bytes(&other_salt).unwrap().hur(),
        first.hur()
    );
}

/// Attack (S3-agree, first visit): Mallory, a registered patient without Carol's identity key,
/// sends a hello under Carol's name. Before, the hospital's enrolment existed as soon as it
/// replied, and its factors came from plain DH with ephemerals Mallory chose, so Mallory held
/// the hospital's factors for "Carol" and could authorize doctors to read Carol's records. Now
/// the hospital's enrolment exists only after a MAC under a key derived from K = e(Q̂_C, Š_A),
/// and the factors are derived from K too.
#[test]
fn third_party_cannot_enrol_under_a_patients_name() {
    let mut w = World::new(40);
    let mallory = register(&w.pkg, "patient-malor", &mut w.rng);
    let (state, hello) = Initiator::start_enrolment(&mallory, id("hospital-a"), &mut w.rng);
    let as_carol = hello
        .to_bytes()
        .replace_id("patient-malor", "patient-carol");
    let hello = Hello::from_bytes(&as_carol).unwrap();
    let (reply, pending) = respond_enrolment(&w.hospital_a, &hello, &mut w.rng).unwrap();
    assert_eq!(pending.patient(), &id("patient-carol"));

    // Mallory cannot finish: the hospital's MAC is under Carol's K, which she cannot compute.
    let back = reply
        .to_bytes()
        .replace_id("patient-carol", "patient-malor");
    let back = EnrolmentReply::from_bytes(&back).unwrap();
    assert_eq!(
        state
            .finish_enrolment(&mallory, &back)
            .err()
            .map(|e| e.to_string()),
        Some(Error::KeyConfirmation.to_string())
    );

    // Nor can she confirm: not with a made-up MAC, nor with Carol's genuine confirmation of
    // another enrolment.
    let (carol_state, carol_hello) =
        Initiator::start_enrolment(&w.patient, id("hospital-a"), &mut w.rng);
    let (carol_reply, _) = respond_enrolment(&w.hospital_a, &carol_hello, &mut w.rng).unwrap();
    let (_, _, carol_confirmation) = carol_state
        .finish_enrolment(&w.patient, &carol_reply)
        .unwrap();
    let mut made_up = carol_confirmation.to_bytes();
    let last = made_up.len() - 1;
    made_up[last] ^= 1;
    let made_up = EnrolmentConfirmation::from_bytes(&made_up).unwrap();
    let (_, pending_again) = respond_enrolment(&w.hospital_a, &hello, &mut w.rng).unwrap();
    assert_eq!(
        pending
            .confirm(&carol_confirmation)
            .err()
            .map(|e| e.to_string()),
        Some(Error::KeyConfirmation.to_string())
    );
    assert_eq!(
        pending_again.confirm(&made_up).err().map(|e| e.to_string()),
        Some(Error::KeyConfirmation.to_string())
    );
}

/// S3-agree (enrolment): a hospital impersonating another, or a reply tampered in transit,
/// fails the patient's check of the hospital's MAC.
#[test]
fn enrolment_reply_from_an_impostor_or_tampered_is_rejected() {
    let mut w = World::new(45);
    let (state, hello) = Initiator::start_enrolment(&w.patient, id("hospital-a"), &mut w.rng);
    let to_b = hello.to_bytes().replace_id("hospital-a", "hospital-b");
    let (reply, _) = respond_enrolment(
        &w.hospital_b,
        &Hello::from_bytes(&to_b).unwrap(),
        &mut w.rng,
    )
    .unwrap();
    let claimed = reply.to_bytes().replace_id("hospital-b", "hospital-a");
    let claimed = EnrolmentReply::from_bytes(&claimed).unwrap();
    assert!(matches!(
        state.finish_enrolment(&w.patient, &claimed),
        Err(Error::KeyConfirmation)
    ));

    let (state, hello) = Initiator::start_enrolment(&w.patient, id("hospital-a"), &mut w.rng);
    let (reply, _) = respond_enrolment(&w.hospital_a, &hello, &mut w.rng).unwrap();
    let mut tampered = reply.to_bytes();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let tampered = EnrolmentReply::from_bytes(&tampered).unwrap();
    assert!(matches!(
        state.finish_enrolment(&w.patient, &tampered),
        Err(Error::KeyConfirmation)
    ));
}

/// Attack (S3-share): a doctor signs his own licence, or gets one from a hospital that does not
/// employ him. Before, `verify_request` accepted a licence signed by any registered identity.
/// Now the caller names the doctor's hospital from the chain and only its licence passes.
#[test]
fn self_issued_licence_is_rejected() {
    let mut w = World::new(41);
    let auth = w.authorize(&w.bob.clone(), true, &[2]);
    let bob = w.bob.clone();
    let own = Licence::issue(&bob, &w.params, id("dr-bob"), EXPIRY, &mut w.rng);
    let foreign = Licence::issue(&w.hospital_a, &w.params, id("dr-bob"), EXPIRY, &mut w.rng);
    for licence in [own, foreign] {
        let (_, request) =
            PendingShare::request(&bob, &w.params, licence, &auth, &mut w.rng).unwrap();
        assert_eq!(
            w.verify(true, &request, NOW).err(),
            Some(Error::LicenceRejected(
                "not issued by the doctor's hospital"
            ))
        );
    }
}

/// Attack (S3-share): an authorization used after the patient meant it to end (before, it
/// never ended), or with its expiry pushed back by the doctor: the expiry is bound into τ_j,
/// which only patient and hospital can compute.
#[test]
fn expired_authorization_is_rejected() {
    let mut w = World::new(42);
    let auth = w.authorize(&w.bob.clone(), true, &[2]);
    assert_eq!(auth.expires_at(), AUTH_EXPIRY);
    let bob = w.bob.clone();
    let licence = Licence::issue(&w.hospital_b, &w.params, id("dr-bob"), u64::MAX, &mut w.rng);
    let (_, request) =
        PendingShare::request(&bob, &w.params, licence.clone(), &auth, &mut w.rng).unwrap();
    assert!(w.verify(true, &request, AUTH_EXPIRY).is_ok());
    assert_eq!(
        w.verify(true, &request, AUTH_EXPIRY + 1).err(),
        Some(Error::AuthorizationExpired)
    );

    let mut extended = auth.to_bytes();
    let exp_at = alpha_offset(&auth) - 8;
    extended[exp_at..exp_at + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    let extended = Authorization::from_bytes(&extended).unwrap();
    let (_, request) =
        PendingShare::request(&bob, &w.params, licence, &extended, &mut w.rng).unwrap();
    assert_eq!(
        w.verify(true, &request, AUTH_EXPIRY + 1).err(),
        Some(Error::RequestRejected)
    );
}

/// A stored initiator state is refused when its scalars are not the hello's ephemerals (a
/// corrupted file, or one state's hello spliced onto another's scalars), truncated, or padded.
#[test]
fn stored_initiator_state_is_decoded_strictly() {
    let mut w = World::new(32);
    let (first, _) = Initiator::start(&w.bob, w.patient.id().clone(), &mut w.rng);
    let (second, _) = Initiator::start(&w.bob, w.patient.id().clone(), &mut w.rng);
    let (first, second) = (first.to_bytes(), second.to_bytes());
    let scalars = 64;
    let spliced = [
        &first[..first.len() - scalars],
        &second[second.len() - scalars..],
    ]
    .concat();
    assert_eq!(
        Initiator::from_bytes(&spliced).err(),
        Some(Error::InconsistentEphemeral)
    );
    let swapped = [
        &first[..first.len() - scalars],
        &first[first.len() - 32..],
        &first[first.len() - scalars..first.len() - 32],
    ]
    .concat();
    assert_eq!(
        Initiator::from_bytes(&swapped).err(),
        Some(Error::InconsistentEphemeral)
    );
    assert!(Initiator::from_bytes(&first[..first.len() - 1]).is_err());
    assert!(Initiator::from_bytes(&[&first[..], &[0]].concat()).is_err());
    let zero_c2 = [&first[..first.len() - 32], &[0u8; 32][..]].concat();
    assert!(Initiator::from_bytes(&zero_c2).is_err());

    // An enrolment state whose T̂_c1 was replaced is refused as well.
    let (state, _) = Initiator::start_enrolment(&w.patient, id("hospital-a"), &mut w.rng);
    let mut bytes = state.to_bytes().to_vec();
    let at = bytes.len() - scalars - 96;
    bytes[at..at + 96].copy_from_slice(&unrelated_g2_point());
    assert_eq!(
        Initiator::from_bytes(&bytes).err(),
        Some(Error::InconsistentEphemeral)
    );
}
