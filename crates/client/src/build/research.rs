//! Builders of the research market's payloads (S4-flow, S4-exclusive). Zero-knowledge values
//! and Umbral keys arrive as bytes (this crate does not depend on `zk`); their lengths are
//! checked here against what the chain decodes, so a user hears about a bad one before
//! paying a round trip.

use super::BuildError;
use medchain_types::{
    Address, ContentHash, EnrolmentId, Hash32, Payload, Purpose, RecordId, StudyId, Uri, limits,
    research::{ResearchPayload, ZkBytes},
};
use std::collections::BTreeSet;

/// S4-flow step 3: the regulator registers the verifying key of a circuit shape it set up,
/// with the digest of the proving key file distributed with it.
pub fn register_circuit(
    schema: &str,
    verifying_key: Vec<u8>,
    proving_key_digest: Hash32,
) -> Result<Payload, BuildError> {
    within("schema", schema.len(), 1, limits::MAX_SCHEMA_ID_BYTES)?;
    within(
        "verifying key",
        verifying_key.len(),
        1,
        limits::MAX_VERIFYING_KEY_BYTES,
    )?;
    Ok(Payload::Research(ResearchPayload::RegisterCircuit {
        schema: schema.to_string(),
        verifying_key: ZkBytes(verifying_key),
        proving_key_digest,
    }))
}

/// S4-flow step 1: a patient files its nullifier key nk (once), which hospitals bind into the
/// commitments they attest for it.
pub fn nullifier_key(key: Hash32) -> Payload {
    Payload::Research(ResearchPayload::NullifierKey { key })
}

/// S4-flow step 2: the record's hospital attests its commitment to the record's attributes.
pub fn attest(record: RecordId, commitment: Hash32) -> Payload {
    Payload::Research(ResearchPayload::Attest { record, commitment })
}

/// S4-flow step 6: a member of an audited cloud organisation registers as a proxy, with the
/// X25519 key patients seal key fragments to and the URL it serves at.
pub fn register_proxy(encryption_key: Hash32, url: Uri) -> Payload {
    Payload::Research(ResearchPayload::RegisterProxy {
        encryption_key,
        url,
    })
}

/// A study contract's terms (S4-flow step 1), as [`publish_study`] takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StudyContract {
    /// 1 to 128 bytes.
    pub title: String,
    /// Must be research.
    pub purpose: Purpose,
    /// The registered circuit's verifying key digest.
    pub circuit: Hash32,
    /// `zk::Predicate::to_bytes`.
    pub predicate: Vec<u8>,
    /// Tokens paid to each enrolled patient (0 on a chain without tokens).
    pub reward: u64,
    /// Most patients enrolled.
    pub max_participants: u32,
    /// Enrolment closes at this block time (unix milliseconds).
    pub deadline_ms: u64,
    /// How long after the deadline the researcher may dispute a delivery (at most 30 days);
    /// after it, an undisputed enrolment's reward can be claimed.
    pub dispute_window_ms: u64,
    /// Whether each record is licensed exclusively (S4-exclusive).
    pub exclusive: bool,
    /// The researcher's Umbral public key (33 bytes).
    pub researcher_key: Vec<u8>,
    /// 1 to 8 distinct registered proxies.
    pub proxies: Vec<Address>,
    /// Proxies needed to re-encrypt, 1 to their number.
    pub threshold: u8,
}

/// S4-flow step 1: an audited research organisation's member publishes a study.
pub fn publish_study(contract: StudyContract) -> Result<Payload, BuildError> {
    within(
        "title",
        contract.title.len(),
        1,
        limits::MAX_STUDY_TITLE_BYTES,
    )?;
    if contract.purpose != Purpose::Research {
        return Err(BuildError::StudyPurpose(contract.purpose));
    }
    within(
        "predicate",
        contract.predicate.len(),
        1,
        limits::MAX_PREDICATE_BYTES,
    )?;
    umbral("researcher key", &contract.researcher_key)?;
    if contract.dispute_window_ms > limits::MAX_DISPUTE_WINDOW_MS {
        return Err(BuildError::DisputeWindow(contract.dispute_window_ms));
    }
    if contract.max_participants == 0 {
        return Err(BuildError::NoParticipants);
    }
    within(
        "proxy list",
        contract.proxies.len(),
        1,
        limits::MAX_STUDY_PROXIES,
    )?;
    let mut seen = BTreeSet::new();
    if let Some(twice) = contract.proxies.iter().find(|proxy| !seen.insert(**proxy)) {
        return Err(BuildError::DuplicateProxy(*twice));
    }
    if contract.threshold == 0 || usize::from(contract.threshold) > contract.proxies.len() {
        return Err(BuildError::Threshold {
            threshold: contract.threshold,
            proxies: contract.proxies.len(),
        });
    }
    Ok(Payload::Research(ResearchPayload::Publish {
        title: contract.title,
        purpose: contract.purpose,
        circuit: contract.circuit,
        predicate: ZkBytes(contract.predicate),
        reward: contract.reward,
        max_participants: contract.max_participants,
        deadline_ms: contract.deadline_ms,
        dispute_window_ms: contract.dispute_window_ms,
        exclusive: contract.exclusive,
        researcher_key: ZkBytes(contract.researcher_key),
        proxies: contract.proxies,
        threshold: contract.threshold,
    }))
}

/// S4-flow step 1: the study's researcher moves `amount` of its balance into the study's
/// pool.
pub fn fund_study(study: StudyId, amount: u64) -> Result<Payload, BuildError> {
    if amount == 0 {
        return Err(BuildError::ZeroAmount);
    }
    Ok(Payload::Research(ResearchPayload::Fund { study, amount }))
}

/// An enrolment's public parts (S4-flow steps 4–5), as [`enrol`] takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolment {
    /// The study.
    pub study: StudyId,
    /// The accumulator root the proof was made against.
    pub root: Hash32,
    /// Per (patient, study) nullifier.
    pub nullifier: Hash32,
    /// Per record exclusivity nullifier.
    pub exclusivity: Hash32,
    /// The delivery tag: binds the record's hash to this enrolment, so the researcher can
    /// check the record it decrypts is the one proven.
    pub delivery: Hash32,
    /// The Groth16 proof (128 bytes).
    pub proof: Vec<u8>,
    /// The per-study Umbral delegating public key (33 bytes).
    pub delegating_key: Vec<u8>,
    /// The per-study Umbral signer's public key (33 bytes).
    pub verifying_key: Vec<u8>,
    /// Hash of the encrypted record the proxies will serve.
    pub ciphertext_hash: ContentHash,
}

/// S4-flow steps 4–5: a one-time key enrols in a study with a proof. The proof's `binding`
/// must have been made for the key that signs this (see
/// [`medchain_types::research::enrolment_binding`]).
pub fn enrol(enrolment: Enrolment) -> Result<Payload, BuildError> {
    within(
        "proof",
        enrolment.proof.len(),
        limits::ZK_PROOF_BYTES,
        limits::ZK_PROOF_BYTES,
    )?;
    umbral("delegating key", &enrolment.delegating_key)?;
    umbral("verifying key", &enrolment.verifying_key)?;
    Ok(Payload::Research(ResearchPayload::Enrol {
        study: enrolment.study,
        root: enrolment.root,
        nullifier: enrolment.nullifier,
        exclusivity: enrolment.exclusivity,
        delivery: enrolment.delivery,
        proof: ZkBytes(enrolment.proof),
        delegating_key: ZkBytes(enrolment.delegating_key),
        verifying_key: ZkBytes(enrolment.verifying_key),
        ciphertext_hash: enrolment.ciphertext_hash,
    }))
}

/// S4-flow step 8: one of the study's proxies logs that it re-encrypted an enrolment's
/// record.
pub fn log_reencryption(enrolment: EnrolmentId) -> Payload {
    Payload::Research(ResearchPayload::Reencrypted { enrolment })
}

/// The study's researcher confirms an enrolment's record matched its delivery tag: the owed
/// reward becomes the patient's to claim at once.
pub fn acknowledge(enrolment: EnrolmentId) -> Payload {
    Payload::Research(ResearchPayload::Acknowledge { enrolment })
}

/// The study's researcher disputes an enrolment's delivery (the record does not match its
/// delivery tag, or never came) before the dispute window ends: the owed reward is frozen.
pub fn dispute(enrolment: EnrolmentId) -> Payload {
    Payload::Research(ResearchPayload::Dispute { enrolment })
}

/// The regulator settles a disputed enrolment: `pay` releases the owed reward to the patient,
/// otherwise it returns to the study's pool.
pub fn resolve(enrolment: EnrolmentId, pay: bool) -> Payload {
    Payload::Research(ResearchPayload::Resolve { enrolment, pay })
}

/// The enrolment's payee (its one-time key) takes the owed reward.
pub fn claim(enrolment: EnrolmentId) -> Payload {
    Payload::Research(ResearchPayload::Claim { enrolment })
}

/// The study's researcher takes back the unspent pool after the deadline.
pub fn refund_study(study: StudyId) -> Payload {
    Payload::Research(ResearchPayload::Refund { study })
}

fn within(field: &'static str, len: usize, min: usize, max: usize) -> Result<(), BuildError> {
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(BuildError::FieldLength {
            field,
            len,
            min,
            max,
        })
    }
}

fn umbral(field: &'static str, key: &[u8]) -> Result<(), BuildError> {
    within(
        field,
        key.len(),
        limits::UMBRAL_PUBLIC_KEY_BYTES,
        limits::UMBRAL_PUBLIC_KEY_BYTES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::address;

    fn contract() -> StudyContract {
        StudyContract {
            title: "HbA1c under 7 in type 2 diabetes".into(),
            purpose: Purpose::Research,
            circuit: Hash32::from([1; 32]),
            predicate: vec![1, 2, 3],
            reward: 10,
            max_participants: 100,
            deadline_ms: 1_000,
            dispute_window_ms: 86_400_000,
            exclusive: false,
            researcher_key: vec![2; 33],
            proxies: vec![address(1), address(2), address(3)],
            threshold: 2,
        }
    }

    #[test]
    fn a_well_formed_study_builds() {
        let Payload::Research(ResearchPayload::Publish {
            threshold, proxies, ..
        }) = publish_study(contract()).unwrap()
        else {
            panic!("not a publish");
        };
        assert_eq!((threshold, proxies.len()), (2, 3));
    }

    #[test]
    fn malformed_studies_are_refused_before_sending() {
        let refused = |edit: fn(&mut StudyContract)| {
            let mut terms = contract();
            edit(&mut terms);
            publish_study(terms).unwrap_err()
        };
        assert!(matches!(
            refused(|t| t.title = "t".repeat(129)),
            BuildError::FieldLength { field: "title", .. }
        ));
        assert_eq!(
            refused(|t| t.purpose = Purpose::Billing),
            BuildError::StudyPurpose(Purpose::Billing)
        );
        assert!(matches!(
            refused(|t| t.researcher_key = vec![2; 32]),
            BuildError::FieldLength {
                field: "researcher key",
                ..
            }
        ));
        assert_eq!(
            refused(|t| t.max_participants = 0),
            BuildError::NoParticipants
        );
        assert_eq!(
            refused(|t| t.dispute_window_ms = limits::MAX_DISPUTE_WINDOW_MS + 1),
            BuildError::DisputeWindow(limits::MAX_DISPUTE_WINDOW_MS + 1)
        );
        assert_eq!(
            refused(|t| t.proxies[2] = t.proxies[0]),
            BuildError::DuplicateProxy(address(1))
        );
        assert_eq!(
            refused(|t| t.threshold = 4),
            BuildError::Threshold {
                threshold: 4,
                proxies: 3
            }
        );
        assert_eq!(
            refused(|t| t.threshold = 0),
            BuildError::Threshold {
                threshold: 0,
                proxies: 3
            }
        );
        assert!(matches!(
            refused(|t| t.proxies = (0..9).map(address).collect()),
            BuildError::FieldLength {
                field: "proxy list",
                ..
            }
        ));
        assert_eq!(
            fund_study(StudyId(Hash32::from([1; 32])), 0).unwrap_err(),
            BuildError::ZeroAmount
        );
    }

    #[test]
    fn an_enrolment_needs_a_whole_proof_and_umbral_keys() {
        let enrolment = Enrolment {
            study: StudyId(Hash32::from([1; 32])),
            root: Hash32::from([2; 32]),
            nullifier: Hash32::from([3; 32]),
            exclusivity: Hash32::from([4; 32]),
            delivery: Hash32::from([8; 32]),
            proof: vec![5; 128],
            delegating_key: vec![6; 33],
            verifying_key: vec![7; 33],
            ciphertext_hash: ContentHash::of(b"ciphertext"),
        };
        assert!(enrol(enrolment.clone()).is_ok());
        let short_proof = Enrolment {
            proof: vec![5; 127],
            ..enrolment.clone()
        };
        assert!(matches!(
            enrol(short_proof),
            Err(BuildError::FieldLength { field: "proof", .. })
        ));
        let long_key = Enrolment {
            verifying_key: vec![7; 34],
            ..enrolment
        };
        assert!(matches!(
            enrol(long_key),
            Err(BuildError::FieldLength {
                field: "verifying key",
                ..
            })
        ));
    }
}
