#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod aead;
mod agree;
mod codec;
mod curve;
mod emergency;
mod entry;
mod error;
mod factors;
mod hash;
mod identity;
mod licence;
pub mod ops;
mod params;
mod pkg;
mod register;
mod release;
mod sealed_partial;
mod secret;
mod share;
mod signature;
pub mod threshold;

pub use aead::{MAX_PLAINTEXT_LEN, SessionKey};
pub use agree::{
    EnrolmentConfirmation, EnrolmentReply, Hello, HospitalEnrolment, Initiator, PatientEnrolment,
    PendingEnrolment, Reply, respond, respond_enrolment,
};
pub use codec::MAX_BYTES_LEN;
pub use emergency::{EmergencyHello, EmergencyRequest, PendingEmergency, respond_emergency};
pub use entry::{
    BiometricKdfParams, EmrEntry, EncryptedEntry, MIN_TEMPLATE_LEN, emergency_gate_proof,
    verify_emergency_gate_proof,
};
pub use error::{Error, Result};
pub use factors::{EncryptionFactor, InitialFactors, SEGMENT_LEN};
pub use identity::{Identity, MAX_RECORDS_PER_SHARE, RecordIndex};
pub use licence::{Licence, LicenceCheck, RevocationStatus};
pub use params::PublicParams;
pub use pkg::Pkg;
pub use register::{EntityKeys, PendingRegistration, RegistrationRequest, RegistrationResponse};
pub use release::{HospitalResponse, MAX_EMR_LEN, RecordRelease};
pub use sealed_partial::SealedPartialKey;
pub use share::{Authorization, PendingShare, ShareRequest, VerifiedShare};
pub use signature::Signature;
pub use threshold::{
    ExtractionRequest, MasterKeyShare, NonceCommitment, PartialKey, PublicPolynomial, SigningNonces,
};
