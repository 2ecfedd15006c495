//! `taka`'s wire and storage encodings (`crates/taka/src/codec.rs`): every message of seed
//! 003's protocols and every stored key.

use crate::{canonical, fixtures, select};
use taka::{
    Authorization, EmergencyHello, EmergencyRequest, EmrEntry, EncryptedEntry,
    EnrolmentConfirmation, EnrolmentReply, EntityKeys, ExtractionRequest, Hello, HospitalEnrolment,
    HospitalResponse, Identity, InitialFactors, Initiator, Licence, NonceCommitment, PartialKey,
    PatientEnrolment, PendingRegistration, PublicParams, PublicPolynomial, RecordRelease,
    RegistrationRequest, RegistrationResponse, Reply, SealedPartialKey, ShareRequest, Signature,
    respond, respond_emergency,
};

/// How many decoders the first byte chooses among.
const DECODERS: usize = 25;

/// The first byte picks the type, the rest is its encoding. What decodes re-encodes to the same
/// bytes (the codec is canonical); messages a party checks are checked by the fixture's parties
/// and fail with a typed error unless genuine: a PKG response completes no registration it was
/// not made for, and a signature that verifies fails on any other message.
pub fn taka_wire(data: &[u8]) {
    let Some((choice, bytes)) = select(data, DECODERS) else {
        return;
    };
    let taka = fixtures::taka();
    let params = &taka.params;
    let mut rng = fixtures::taka_rng(u64::from(data[0]));
    match choice {
        0 => {
            let _ = canonical(bytes, PublicParams::from_bytes, PublicParams::to_bytes);
        }
        1 => {
            if let Some(request) =
                canonical(bytes, RegistrationRequest::from_bytes, |r| r.to_bytes())
            {
                let _ = taka.pkg.register(&request, &mut rng);
            }
        }
        2 => {
            if let Some(response) = canonical(bytes, RegistrationResponse::from_bytes, |r| {
                r.to_bytes().to_vec()
            }) {
                let identity = Identity::new("fuzz-entity").expect("identity");
                let (pending, _) = PendingRegistration::new(identity, &mut rng);
                assert!(
                    pending.complete(params, response).is_err(),
                    "a registration completed with a response made for another request"
                );
            }
        }
        3 => {
            let _ = canonical(
                bytes,
                |b| EntityKeys::from_bytes(params, b),
                |k| k.to_bytes().to_vec(),
            );
        }
        4 => {
            if let Some(signature) = canonical(bytes, Signature::from_bytes, Signature::to_bytes)
                && signature
                    .verify(params, taka.doctor.id(), fixtures::TAKA_MESSAGE)
                    .is_ok()
            {
                assert!(
                    signature
                        .verify(params, taka.doctor.id(), b"another")
                        .is_err(),
                    "a signature verified for two messages"
                );
            }
        }
        5 => {
            if let Some(licence) = canonical(bytes, Licence::from_bytes, Licence::to_bytes) {
                let _ = licence.verify(params, licence.doctor(), &taka.licence_check());
            }
        }
        6 => {
            let _ = canonical(bytes, EmrEntry::from_bytes, EmrEntry::to_bytes);
        }
        7 => {
            let _ = canonical(bytes, EncryptedEntry::from_bytes, EncryptedEntry::to_bytes);
        }
        8 => {
            let _ = canonical(
                bytes,
                HospitalResponse::from_bytes,
                HospitalResponse::to_bytes,
            );
        }
        9 => {
            let _ = canonical(bytes, Authorization::from_bytes, Authorization::to_bytes);
        }
        10 => {
            if let Some(request) =
                canonical(bytes, ShareRequest::from_bytes, ShareRequest::to_bytes)
            {
                let _ = taka.hospital_enrolment.verify_request(
                    &taka.hospital,
                    params,
                    &request,
                    &taka.licence_check(),
                );
            }
        }
        11 => {
            let _ = canonical(bytes, InitialFactors::from_bytes, |f| f.to_bytes().to_vec());
        }
        12 => {
            let _ = canonical(
                bytes,
                EmergencyRequest::from_bytes,
                EmergencyRequest::to_bytes,
            );
        }
        13 => {
            if let Some(hello) =
                canonical(bytes, EmergencyHello::from_bytes, EmergencyHello::to_bytes)
                && let Ok(release) =
                    RecordRelease::new(hello.request().record(), [0; 32], b"EMR".to_vec())
            {
                let _ = respond_emergency(&taka.hospital, &hello, &release, &mut rng);
            }
        }
        14 => {
            if let Some(hello) = canonical(bytes, Hello::from_bytes, Hello::to_bytes) {
                let _ = respond(&taka.patient, &hello, &mut rng);
            }
        }
        15 => {
            let _ = canonical(bytes, Reply::from_bytes, Reply::to_bytes);
        }
        16 => {
            let _ = canonical(bytes, EnrolmentReply::from_bytes, EnrolmentReply::to_bytes);
        }
        17 => {
            let _ = canonical(
                bytes,
                EnrolmentConfirmation::from_bytes,
                EnrolmentConfirmation::to_bytes,
            );
        }
        18 => {
            let _ = canonical(
                bytes,
                PublicPolynomial::from_bytes,
                PublicPolynomial::to_bytes,
            );
        }
        19 => {
            let _ = canonical(
                bytes,
                NonceCommitment::from_bytes,
                NonceCommitment::to_bytes,
            );
        }
        20 => {
            let _ = canonical(
                bytes,
                ExtractionRequest::from_bytes,
                ExtractionRequest::to_bytes,
            );
        }
        21 => {
            let _ = canonical(bytes, PartialKey::from_bytes, |p| p.to_bytes().to_vec());
        }
        22 => {
            let _ = canonical(
                bytes,
                SealedPartialKey::from_bytes,
                SealedPartialKey::to_bytes,
            );
        }
        24 => {
            if let Some(state) = canonical(bytes, Initiator::from_bytes, |s| s.to_bytes().to_vec())
                && let Ok((reply, sk_patient)) = respond(&taka.patient, state.hello(), &mut rng)
            {
                // A state that decodes holds its hello's own ephemerals, so the doctor it names
                // finishes with the patient's key; anyone else gets a typed error or another key.
                let is_doctor = state.hello().initiator() == taka.doctor.id();
                if let (true, Ok(sk_doctor)) = (is_doctor, state.finish(&taka.doctor, &reply)) {
                    assert_eq!(sk_doctor, sk_patient, "a restored state agreed another key");
                }
            }
        }
        _ => {
            let _ = canonical(bytes, PatientEnrolment::from_bytes, |e| {
                e.to_bytes().to_vec()
            });
            let _ = canonical(bytes, HospitalEnrolment::from_bytes, |e| {
                e.to_bytes().to_vec()
            });
        }
    }
}
