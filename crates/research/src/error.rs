//! Why a research flow stopped. Each message says what went wrong and what to do next.

use crate::{proxies::Delivery, researcher::ProxyFailure};
use medchain_client::{ClientError, build::BuildError};
use medchain_types::{
    Address, Hash32,
    research::{EnrolmentId, StudyId},
};
use zk::AccumulatorRoot;

/// Why a research flow failed.
#[derive(Debug, thiserror::Error)]
pub enum ResearchError {
    /// Talking to the chain failed, or an answer did not verify.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A payload could not be built (the chain would refuse it).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The zero-knowledge layer refused (a malformed key, predicate or opening).
    #[error("zero-knowledge: {0}")]
    Zk(#[from] zk::ZkError),
    /// Proxy re-encryption refused (a malformed key, capsule or kfrag).
    #[error("proxy re-encryption: {0}")]
    Pre(#[from] proxy_reencryption::PreError),
    /// The chain has no such study.
    #[error("study {0} does not exist on chain; list the studies with `medchain research list`")]
    UnknownStudy(StudyId),
    /// The chain has no such enrolment.
    #[error(
        "enrolment {0} does not exist on chain; list a study's with `medchain research results`"
    )]
    UnknownEnrolment(EnrolmentId),
    /// The study's deadline has passed.
    #[error("the study closed at {deadline_ms} ms (block time); pick an open study")]
    StudyClosed {
        /// Its deadline.
        deadline_ms: u64,
    },
    /// The study has all its participants.
    #[error("the study is full ({max} participants)")]
    StudyFull {
        /// Its maximum.
        max: u32,
    },
    /// The study's pool cannot pay one more reward.
    #[error(
        "the study's pool holds {pooled}, less than its reward {reward}; wait until the researcher funds it"
    )]
    StudyUnfunded {
        /// What the pool holds.
        pooled: u64,
        /// One reward.
        reward: u64,
    },
    /// The record does not satisfy the study's predicate (checked locally, before proving).
    #[error(
        "this record does not satisfy the study's requirements; `medchain patient studies` lists the studies it does"
    )]
    NotEligible,
    /// The study names a circuit the regulator never registered.
    #[error("the study's circuit {0} is not registered on chain")]
    UnknownCircuit(Hash32),
    /// The proving key file is not the one the chain registered.
    #[error(
        "the proving key file does not match the registered digest {expected}: {error}; fetch the file distributed with the circuit"
    )]
    ProvingKey {
        /// The registered digest.
        expected: Hash32,
        /// What the load said.
        error: zk::ZkError,
    },
    /// The chain (or the record's opening) holds a nullifier key that is not the one derived
    /// from this chain key.
    #[error(
        "the nullifier key on chain or in the record's opening is not the one derived from this chain key; enrol with the chain key that filed it"
    )]
    OtherNullifierKey,
    /// The chain has no attested commitment yet.
    #[error("no hospital has attested a record yet")]
    NoAttestations,
    /// The list of attested commitments is shorter than the accumulator it fed.
    #[error(
        "the node listed {listed} attested commitments but its accumulator holds {accumulated}; ask another node"
    )]
    LeavesMissing {
        /// Leaves listed.
        listed: u64,
        /// Leaves in the proven accumulator.
        accumulated: u64,
    },
    /// The listed commitments do not rebuild the proven accumulator: the node left out, added
    /// or reordered some.
    #[error(
        "the attested commitments rebuild root {rebuilt}, the chain proves root {proven}; ask another node"
    )]
    AccumulatorMismatch {
        /// The root rebuilt from the listed leaves.
        rebuilt: AccumulatorRoot,
        /// The proven root.
        proven: AccumulatorRoot,
    },
    /// The record's commitment is not among the attested ones.
    #[error(
        "this record's commitment is not attested on chain: its hospital has not attested it (yet), or the opening is not the one it attested"
    )]
    NotAttested,
    /// The record is already enrolled in the study (its nullifier is used).
    #[error("this record is already enrolled in the study (enrolment {0})")]
    AlreadyEnrolled(EnrolmentId),
    /// A proxy the study names is not registered.
    #[error("the study names proxy {0}, which is not registered on chain")]
    UnknownProxy(Address),
    /// The study's researcher key is not an Umbral public key.
    #[error("the study's researcher key is not a 33-byte Umbral public key")]
    BadResearcherKey,
    /// An enrolment's Umbral key is not 33 bytes.
    #[error("an enrolment's Umbral key has {0} bytes, not 33")]
    BadUmbralKey(usize),
    /// Fewer proxies than the threshold stored the record: the researcher could not read it.
    #[error(
        "only {stored} proxies stored the record, the study needs {threshold}; deliver again when they are back (the enrolment itself is final)"
    )]
    TooFewDeliveries {
        /// How many stored it.
        stored: usize,
        /// How many the study needs.
        threshold: u8,
        /// What each said.
        deliveries: Vec<Delivery>,
    },
    /// Only the study's researcher can read its records.
    #[error("only the study's researcher {0} can read its records")]
    NotResearcher(Address),
    /// No proxy served the enrolment's ciphertext.
    #[error("no proxy served the enrolment's ciphertext: {}", failures(failed))]
    NoCiphertext {
        /// What each proxy did wrong.
        failed: Vec<ProxyFailure>,
    },
    /// The bundle to enrol with is not the record its hospital attested.
    #[error(
        "this bundle is not the record its hospital attested (its SHA-256 differs from the one in the opening); enrol with the bundle the hospital released, or the researcher will dispute the delivery"
    )]
    BundleNotAttested,
    /// The decrypted record is not the one the patient's proof is about: its hash does not
    /// give the enrolment's delivery tag.
    #[error(
        "the record does not match what the patient proved (its hash does not give enrolment {0}'s delivery tag) — dispute it with `medchain research dispute --enrolment {0}` before the dispute window ends"
    )]
    DeliveryMismatch(EnrolmentId),
    /// The patient has no enrolment in the study.
    #[error(
        "you have no enrolment in study {0}; `medchain patient studies` lists the studies you can enrol in"
    )]
    NotEnrolled(StudyId),
    /// Fewer than `threshold` proxies returned a cfrag that verifies.
    #[error(
        "only {verified} cfrags verified, the study needs {threshold}: {}",
        failures(failed)
    )]
    TooFewCfrags {
        /// Cfrags that verified.
        verified: usize,
        /// How many the study needs.
        threshold: u8,
        /// What each failing proxy did wrong.
        failed: Vec<ProxyFailure>,
    },
}

fn failures(failed: &[ProxyFailure]) -> String {
    failed
        .iter()
        .map(|failure| format!("proxy {}: {}", failure.proxy, failure.reason))
        .collect::<Vec<_>>()
        .join("; ")
}
