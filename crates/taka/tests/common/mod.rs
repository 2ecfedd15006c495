//! Shared fixture: a PKG, patient C, hospitals A and B, doctors B̄ ("dr-bob", at B) and
//! Ē ("dr-eve", at A), with C enrolled at both hospitals (S3-setup, S3-register, S3-agree).
#![allow(dead_code)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use taka::*;

pub const NOW: u64 = 1_700_000_000;
pub const EXPIRY: u64 = NOW + 365 * 24 * 3600;
/// Until when the fixture's authorizations run.
pub const AUTH_EXPIRY: u64 = NOW + 24 * 3600;

pub fn id(s: &str) -> Identity {
    Identity::new(s).unwrap()
}

pub fn j(n: u64) -> RecordIndex {
    RecordIndex::new(n).unwrap()
}

/// A valid G2 point that no protocol message carries (the generator P̂), to splice into a
/// message where a G2 point is expected.
pub fn unrelated_g2_point() -> [u8; 96] {
    use group::prime::PrimeCurveAffine;
    blstrs::G2Affine::generator().to_compressed()
}

pub fn register(pkg: &Pkg, name: &str, rng: &mut ChaCha20Rng) -> EntityKeys {
    let (pending, request) = PendingRegistration::new(id(name), rng);
    let request = RegistrationRequest::from_bytes(&request.to_bytes()).unwrap();
    let response = pkg.register(&request, rng);
    let response = RegistrationResponse::from_bytes(&response.to_bytes()).unwrap();
    pending.complete(pkg.params(), response).unwrap()
}

/// A patient–hospital enrolment carried over the wire (S3-agree): hello, reply with the
/// hospital's MAC, the patient's confirmation.
pub fn enrol(
    patient: &EntityKeys,
    hospital: &EntityKeys,
    rng: &mut ChaCha20Rng,
) -> (PatientEnrolment, HospitalEnrolment) {
    let (initiator, hello) = Initiator::start_enrolment(patient, hospital.id().clone(), rng);
    let hello = Hello::from_bytes(&hello.to_bytes()).unwrap();
    let (reply, pending) = respond_enrolment(hospital, &hello, rng).unwrap();
    let reply = EnrolmentReply::from_bytes(&reply.to_bytes()).unwrap();
    let (sk_patient, patient_side, confirmation) =
        initiator.finish_enrolment(patient, &reply).unwrap();
    let confirmation = EnrolmentConfirmation::from_bytes(&confirmation.to_bytes()).unwrap();
    let (sk_hospital, hospital_side) = pending.confirm(&confirmation).unwrap();
    assert_eq!(sk_patient, sk_hospital);
    (patient_side, hospital_side)
}

/// A plain agreement, initiator → responder; returns both sides' keys.
pub fn agree(
    initiator: &EntityKeys,
    responder: &EntityKeys,
    rng: &mut ChaCha20Rng,
) -> (SessionKey, SessionKey) {
    let (state, hello) = Initiator::start(initiator, responder.id().clone(), rng);
    let (reply, sk_responder) = respond(responder, &hello, rng).unwrap();
    let sk_initiator = state.finish(initiator, &reply).unwrap();
    (sk_initiator, sk_responder)
}

pub struct World {
    pub rng: ChaCha20Rng,
    pub pkg: Pkg,
    pub params: PublicParams,
    pub patient: EntityKeys,
    pub hospital_a: EntityKeys,
    pub hospital_b: EntityKeys,
    pub bob: EntityKeys,
    pub eve: EntityKeys,
    pub bob_licence: Licence,
    pub eve_licence: Licence,
    pub patient_at_a: PatientEnrolment,
    pub a_with_patient: HospitalEnrolment,
    pub patient_at_b: PatientEnrolment,
    pub b_with_patient: HospitalEnrolment,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let pkg = Pkg::setup(&mut rng);
        let patient = register(&pkg, "patient-carol", &mut rng);
        let hospital_a = register(&pkg, "hospital-a", &mut rng);
        let hospital_b = register(&pkg, "hospital-b", &mut rng);
        let bob = register(&pkg, "dr-bob", &mut rng);
        let eve = register(&pkg, "dr-eve", &mut rng);
        let bob_licence = Licence::issue(&hospital_b, pkg.params(), id("dr-bob"), EXPIRY, &mut rng);
        let eve_licence = Licence::issue(&hospital_a, pkg.params(), id("dr-eve"), EXPIRY, &mut rng);
        let (patient_at_a, a_with_patient) = enrol(&patient, &hospital_a, &mut rng);
        let (patient_at_b, b_with_patient) = enrol(&patient, &hospital_b, &mut rng);
        Self {
            rng,
            params: *pkg.params(),
            pkg,
            patient,
            hospital_a,
            hospital_b,
            bob,
            eve,
            bob_licence,
            eve_licence,
            patient_at_a,
            a_with_patient,
            patient_at_b,
            b_with_patient,
        }
    }

    /// The EMR hospital `hospital` stores as record `n` (content made up for the test).
    pub fn release(hospital: &str, n: u64) -> RecordRelease {
        let emr = format!("{hospital} EMR #{n}: diagnosis, prescriptions").into_bytes();
        RecordRelease::new(j(n), [n as u8; 32], emr).unwrap()
    }

    /// The doctor's hospital as the chain records it: dr-bob works at B, dr-eve at A.
    pub fn employer(&self, doctor: &Identity) -> &Identity {
        if doctor == self.eve.id() {
            self.hospital_a.id()
        } else {
            self.hospital_b.id()
        }
    }

    /// Hospital A (`at_a`) or B verifies `request` at `now`, the doctor unrevoked and his
    /// licence expected from his employer.
    pub fn verify(&self, at_a: bool, request: &ShareRequest, now: u64) -> Result<VerifiedShare> {
        let check = LicenceCheck {
            expected_issuer: self.employer(request.doctor()),
            revocation: RevocationStatus::NotRevoked,
            now,
        };
        let (enrolment, keys) = if at_a {
            (&self.a_with_patient, &self.hospital_a)
        } else {
            (&self.b_with_patient, &self.hospital_b)
        };
        enrolment.verify_request(keys, &self.params, request, &check)
    }

    /// Patient authorizes `doctor` for `records` at the hospital of `enrolment`; the
    /// authorization travels sealed under their agreed session key.
    pub fn authorize(&mut self, doctor: &EntityKeys, at_a: bool, records: &[u64]) -> Authorization {
        let (sk_doctor, sk_patient) = agree(doctor, &self.patient, &mut self.rng);
        let enrolment = if at_a {
            &self.patient_at_a
        } else {
            &self.patient_at_b
        };
        let records: Vec<RecordIndex> = records.iter().map(|&n| j(n)).collect();
        let auth = enrolment
            .authorize(doctor.id(), &records, AUTH_EXPIRY)
            .unwrap();
        let sealed = sk_patient
            .seal(b"authorization", &auth.to_bytes(), &mut self.rng)
            .unwrap();
        let opened = sk_doctor.open(b"authorization", &sealed).unwrap();
        Authorization::from_bytes(&opened).unwrap()
    }
}
