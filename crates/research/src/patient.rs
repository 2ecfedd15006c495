//! The patient's side (S4-flow steps 4–6): which open studies its records qualify for —
//! decided on its own machine, the record never leaves it — and the unlinkable enrolment.

use crate::{AttestedSet, ResearchError, derive, proxies};
use medchain_client::{Client, ListQuery, StateQuery, WaitPolicy, build, keys::address_of};
use medchain_state::values::Study;
use medchain_types::{
    ContentHash, Event, Hash32, PrivateKey, RecordId, Transaction, TxId,
    research::{EnrolmentId, StudyId},
};
use proxy_reencryption::{EncryptedRecord, StudyKeys};
use zk::{EnrolmentWitness, ProvingKey, RecordOpening};

/// A record of the patient's and its opening (the attributes its hospital committed to),
/// as the gateway hands it to the patient.
#[derive(Clone, Debug)]
pub struct HeldOpening {
    /// The released record.
    pub record: RecordId,
    /// Its attested attributes and blinding.
    pub opening: RecordOpening,
}

/// An open study and which of the patient's records satisfy its predicate.
#[derive(Clone, Debug)]
pub struct QualifyingStudy {
    /// The study.
    pub id: StudyId,
    /// Its contract as the chain proves it.
    pub study: Study,
    /// The patient's records that satisfy its predicate.
    pub records: Vec<RecordId>,
}

/// The open studies (published, funded for one more reward, not full, before their
/// deadline at the newest finalized block) that some of `openings` qualify for. Each
/// predicate is evaluated here, on the patient's openings: nothing about the records is sent
/// anywhere. A study whose predicate does not decode is skipped (the chain refuses to
/// publish one, so it cannot be the chain's).
pub fn studies(
    client: &Client,
    openings: &[HeldOpening],
) -> Result<Vec<QualifyingStudy>, ResearchError> {
    let (studies, at) = client.list_all(&ListQuery::studies())?;
    Ok(studies
        .into_iter()
        .filter_map(|listed| qualifying(listed.id, listed.value, openings, at.header.timestamp_ms))
        .collect())
}

/// `study` with the records of `openings` that satisfy it, if it is open at `now_ms` and
/// some do.
pub fn qualifying(
    id: StudyId,
    study: Study,
    openings: &[HeldOpening],
    now_ms: u64,
) -> Option<QualifyingStudy> {
    if closed(&study, now_ms).is_some() {
        return None;
    }
    let predicate = zk::Predicate::from_bytes(&study.predicate.0).ok()?;
    let records: Vec<RecordId> = openings
        .iter()
        .filter(|held| satisfies(&predicate, &held.opening))
        .map(|held| held.record)
        .collect();
    (!records.is_empty()).then_some(QualifyingStudy { id, study, records })
}

/// Whether `opening`'s record, of the predicate's schema, satisfies it.
fn satisfies(predicate: &zk::Predicate, opening: &RecordOpening) -> bool {
    opening.schema_id() == predicate.schema_id() && predicate.evaluate(opening.record())
}

/// Why `study` takes no enrolment at `now_ms`, if it does not.
fn closed(study: &Study, now_ms: u64) -> Option<ResearchError> {
    if now_ms >= study.deadline_ms {
        return Some(ResearchError::StudyClosed {
            deadline_ms: study.deadline_ms,
        });
    }
    if study.enrolled >= study.max_participants {
        return Some(ResearchError::StudyFull {
            max: study.max_participants,
        });
    }
    if study.pooled < study.reward {
        return Some(ResearchError::StudyUnfunded {
            pooled: study.pooled,
            reward: study.reward,
        });
    }
    None
}

/// Files the patient's nullifier key (`research.nullifier_key`) unless the chain already
/// holds it; hospitals put it in the commitments they attest, so it must be on chain before
/// a record is released for research. Fails if the chain holds another key for the address.
pub fn ensure_nullifier_key(
    client: &Client,
    chain_key: &PrivateKey,
    wait: &WaitPolicy,
) -> Result<Option<TxId>, ResearchError> {
    let address = address_of(chain_key);
    let mine = derive::patient_secret(chain_key).nullifier_key();
    match client.read(&StateQuery::nullifier_key(&address))?.value {
        Some(filed) if filed.as_ref() == mine.0 => Ok(None),
        Some(_) => Err(ResearchError::OtherNullifierKey),
        None => {
            let sent = client
                .signer(chain_key.clone())
                .send(build::nullifier_key(mine.0.into()), Some(wait))?;
            Ok(Some(sent.id))
        }
    }
}

/// What the patient enrols with.
#[derive(Clone, Copy, Debug)]
pub struct EnrolRequest<'a> {
    /// The study.
    pub study: StudyId,
    /// The qualifying record's opening (from its hospital's gateway).
    pub opening: &'a RecordOpening,
    /// The record's bytes (its FHIR bundle): what the researcher will read. Must be the
    /// bundle the hospital released (its SHA-256 is in the opening), or the researcher will
    /// find that it does not match the enrolment's delivery tag and dispute it.
    pub bundle: &'a [u8],
    /// The proving key file's bytes, checked against the digest the chain registered.
    pub proving_key: &'a [u8],
}

/// A finished enrolment.
#[derive(Debug)]
pub struct EnrolmentReceipt {
    /// The enrolment (the id of its `research.enrol` transaction).
    pub enrolment: EnrolmentId,
    /// The one-time address that filed it and holds the reward.
    pub payee: medchain_types::Address,
    /// The advance credited to the one-time address at once (it pays the enrolment's fee).
    pub advance: u64,
    /// The rest of the reward, owed until the researcher acknowledges the record or the
    /// dispute window passes; the patient then takes it with [`claim`].
    pub owed: u64,
    /// The encrypted record the proxies hold (kept to deliver again if some were down).
    pub encrypted: EncryptedRecord,
    /// What each of the study's proxies said to the upload.
    pub deliveries: Vec<proxies::Delivery>,
    /// How many proxies the researcher needs.
    pub threshold: u8,
}

impl EnrolmentReceipt {
    /// Whether enough proxies hold the record for the researcher to read it; if not, deliver
    /// again with [`proxies::deliver`] (the study keys are [`derive::study_keys`]).
    pub fn readable(&self) -> bool {
        let stored = self.deliveries.iter().filter(|d| d.outcome.is_ok()).count();
        stored >= usize::from(self.threshold)
    }
}

/// Enrols the patient in a study, unlinkably (S4-flow steps 4–6): checks that the bundle is
/// the one the hospital attested (its SHA-256 is in the opening) and the study is open, loads
/// the proving key against the chain's registered digest, rebuilds the accumulator of
/// attested commitments locally and checks its root against the proven one, builds the
/// membership path, derives the one-time enrolment key and the per-study Umbral keys,
/// encrypts the bundle, binds the proof to that sender and those keys, proves, files
/// `research.enrol` signed by the one-time key with nonce 0, waits until it is final, then
/// hands the study's proxies the ciphertext and one sealed kfrag each.
///
/// The enrolment is on chain (its advance paid) once this returns, even if some proxies were
/// unreachable: the receipt says which ([`EnrolmentReceipt::readable`]), and
/// [`proxies::deliver`] tries them again with the receipt's ciphertext.
pub fn enrol(
    client: &Client,
    chain_key: &PrivateKey,
    request: &EnrolRequest<'_>,
    wait: &WaitPolicy,
) -> Result<EnrolmentReceipt, ResearchError> {
    if ContentHash::of(request.bundle).0.0 != request.opening.record_hash() {
        return Err(ResearchError::BundleNotAttested);
    }
    enrol_delivering(client, chain_key, request, wait)
}

/// [`enrol`] without checking that `request.bundle` is the attested record: the proof still
/// speaks of the attested record, so a researcher who reads another bundle finds that it does
/// not match the enrolment's delivery tag. Only for tests of that check; a patient enrols with
/// [`enrol`].
pub fn enrol_delivering(
    client: &Client,
    chain_key: &PrivateKey,
    request: &EnrolRequest<'_>,
    wait: &WaitPolicy,
) -> Result<EnrolmentReceipt, ResearchError> {
    let prepared = prepare(client, chain_key, request)?;
    file(client, prepared, wait)
}

/// An enrolment proven and signed by its one-time key, not yet filed: what [`enrol`] sends.
pub struct PreparedEnrolment {
    /// The `research.enrol` transaction (nonce 0 of the one-time address).
    pub tx: Transaction,
    /// The public inputs the proof was made for: the statement the chain rebuilds and checks
    /// it against.
    pub statement: zk::Statement,
    /// The study's contract when the proof was made.
    study: Study,
    /// The per-study Umbral keys the proxies' kfrags come from.
    keys: StudyKeys,
    /// The encrypted record the proof binds (its hash is in the transaction).
    encrypted: EncryptedRecord,
}

/// Everything [`enrol`] does before filing, after its check of the bundle: checks that the
/// study is open and the record qualifies, loads the proving key against the chain's
/// registered digest, rebuilds the accumulator of attested commitments locally, derives the
/// one-time enrolment key and the per-study Umbral keys, encrypts the bundle, proves and signs.
/// The proof is about the accumulator root of now: file it while the chain still knows that
/// root (it keeps every root it had).
pub fn prepare(
    client: &Client,
    chain_key: &PrivateKey,
    request: &EnrolRequest<'_>,
) -> Result<PreparedEnrolment, ResearchError> {
    let study_id = request.study;
    let verified = client.read(&StateQuery::study(&study_id))?;
    let study = verified
        .value
        .ok_or(ResearchError::UnknownStudy(study_id))?;
    if let Some(closed) = closed(&study, verified.at.header.timestamp_ms) {
        return Err(closed);
    }
    let predicate = zk::Predicate::from_bytes(&study.predicate.0)?;
    if !satisfies(&predicate, request.opening) {
        return Err(ResearchError::NotEligible);
    }
    let proving_key = proving_key(client, &study, request.proving_key)?;
    let secret = derive::patient_secret(chain_key);
    if request.opening.nullifier_key() != secret.nullifier_key() {
        // The proof could not show nk = Poseidon(s): the opening is another key's.
        return Err(ResearchError::OtherNullifierKey);
    }
    let attested = AttestedSet::fetch(client)?;
    let path = attested.path_of(&request.opening.commit()?)?;

    // A second enrolment of the record would be refused: say so before a second of proving.
    let study_tag = zk::study_tag(&crate::bytes32(&study_id.0));
    let nullifier = Hash32::from(secret.nullifier(study_tag)?.0);
    if let Some(earlier) = client
        .read(&StateQuery::study_nullifier(&study_id, &nullifier))?
        .value
    {
        return Err(ResearchError::AlreadyEnrolled(earlier));
    }

    let one_time = derive::enrolment_key(chain_key, &study_id);
    let payee = address_of(&one_time);
    let keys = derive::study_keys(chain_key, &study_id);
    // The researcher needs the delivery key to check the proven delivery tag; it travels
    // encrypted with the bundle, so no chain observer can recompute the tag from the public hEMR.
    let delivered = delivery_payload(&secret.delivery_key(study_tag)?, request.bundle);
    let encrypted = EncryptedRecord::encrypt(&keys.delegating_public(), &delivered)?;
    let ciphertext_hash = ContentHash(Hash32::from(encrypted.hash()));
    let (delegating, verifying) = (keys.delegating_public(), keys.verifying_public());
    let binding = zk::binding_of(&medchain_types::research::enrolment_binding(
        &payee,
        &delegating,
        &verifying,
        &ciphertext_hash,
    ));
    let witness = EnrolmentWitness {
        opening: request.opening,
        secret: &secret,
        path: &path,
    };
    let (statement, proof) = zk::prove(
        &proving_key,
        &witness,
        &predicate,
        study_tag,
        binding,
        &mut rand_core::OsRng,
    )?;
    let payload = build::enrol(build::Enrolment {
        study: study_id,
        root: statement.root.0.into(),
        nullifier: statement.nullifier.0.into(),
        exclusivity: statement.exclusivity.0.into(),
        delivery: statement.delivery.0.into(),
        proof: proof.to_bytes().to_vec(),
        delegating_key: delegating.to_vec(),
        verifying_key: verifying.to_vec(),
        ciphertext_hash,
    })?;
    let tx = client.signer(one_time).sign(payload, 0)?;
    Ok(PreparedEnrolment {
        tx,
        statement,
        study,
        keys,
        encrypted,
    })
}

/// Files a [`prepare`]d enrolment, waits until it is final, then hands the study's proxies the
/// ciphertext and one sealed kfrag each.
pub fn file(
    client: &Client,
    prepared: PreparedEnrolment,
    wait: &WaitPolicy,
) -> Result<EnrolmentReceipt, ResearchError> {
    let PreparedEnrolment {
        tx,
        study,
        keys,
        encrypted,
        ..
    } = prepared;
    let payee = tx.body.sender;
    let id = client.node.submit(&tx)?;
    let confirmed = client.wait_finalized(&id, wait)?;
    let (advance, owed) = confirmed
        .receipt
        .events
        .iter()
        .find_map(|event| match event {
            Event::Enrolled { reward, owed, .. } => Some((*reward, *owed)),
            _ => None,
        })
        .unwrap_or((0, 0));
    let enrolment = EnrolmentId::from(id);
    // Final (its advance paid) from here on: too few proxies reached is reported in the receipt (which
    // keeps the ciphertext to deliver again), not as a failure of the enrolment.
    let deliveries = match proxies::deliver(client, &study, &enrolment, &keys, &encrypted) {
        Ok(deliveries) | Err(ResearchError::TooFewDeliveries { deliveries, .. }) => deliveries,
        Err(error) => return Err(error),
    };
    Ok(EnrolmentReceipt {
        enrolment,
        payee,
        advance,
        owed,
        encrypted,
        deliveries,
        threshold: study.threshold,
    })
}

/// A claimed reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimedReward {
    /// The enrolment.
    pub enrolment: EnrolmentId,
    /// Its one-time address, which now holds the reward (less the claim's fee).
    pub payee: medchain_types::Address,
    /// Tokens paid by the claim.
    pub amount: u64,
}

/// The patient's enrolment in `study`, found by its nullifier (the patient needs to keep no
/// enrolment id).
pub fn enrolment_in(
    client: &Client,
    chain_key: &PrivateKey,
    study: &StudyId,
) -> Result<EnrolmentId, ResearchError> {
    let study_tag = zk::study_tag(&crate::bytes32(&study.0));
    let nullifier = Hash32::from(derive::patient_secret(chain_key).nullifier(study_tag)?.0);
    client
        .read(&StateQuery::study_nullifier(study, &nullifier))?
        .value
        .ok_or(ResearchError::NotEnrolled(*study))
}

/// Takes the owed rest of the patient's reward in `study` (`research.claim`), signed by the
/// study's one-time enrolment key, which is derived again from the chain key: once the
/// researcher acknowledged the record, the regulator resolved a dispute in the patient's
/// favour, or the dispute window passed without a dispute. The claim's fee is paid from what
/// it takes.
pub fn claim(
    client: &Client,
    chain_key: &PrivateKey,
    study: &StudyId,
    wait: &WaitPolicy,
) -> Result<ClaimedReward, ResearchError> {
    let enrolment = enrolment_in(client, chain_key, study)?;
    let one_time = derive::enrolment_key(chain_key, study);
    let payee = address_of(&one_time);
    let sent = client
        .signer(one_time)
        .send(build::claim_reward(enrolment), Some(wait))?;
    let amount = sent
        .confirmed
        .iter()
        .flat_map(|confirmed| &confirmed.receipt.events)
        .find_map(|event| match event {
            Event::RewardClaimed { amount, .. } => Some(*amount),
            _ => None,
        })
        .unwrap_or(0);
    Ok(ClaimedReward {
        enrolment,
        payee,
        amount,
    })
}

/// The proving key in `bytes`, loaded on the fast path against the digest the chain
/// registered with the study's circuit (no per-point checks: the digest vouches for them).
fn proving_key(client: &Client, study: &Study, bytes: &[u8]) -> Result<ProvingKey, ResearchError> {
    let circuit = client
        .read(&StateQuery::circuit(&study.circuit))?
        .value
        .ok_or(ResearchError::UnknownCircuit(study.circuit))?;
    let digest: [u8; 32] = circuit.proving_key_digest.into();
    ProvingKey::from_trusted_bytes(bytes, &digest).map_err(|error| ResearchError::ProvingKey {
        expected: circuit.proving_key_digest,
        error,
    })
}

/// What is encrypted for the researcher: the enrolment's delivery key `k` (32 bytes), then the
/// bundle. `k = Poseidon(s, study)` lets the researcher check the delivery tag; it reveals
/// nothing about the patient's secret `s`.
fn delivery_payload(key: &zk::DeliveryKey, bundle: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let mut payload = zeroize::Zeroizing::new(Vec::with_capacity(32 + bundle.len()));
    payload.extend_from_slice(&key.to_bytes());
    payload.extend_from_slice(bundle);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_std::rand::{SeedableRng, rngs::StdRng};
    use medchain_state::{testkit::address, values::ShortText};
    use medchain_types::{Purpose, research::ZkBytes};

    const NOW_MS: u64 = 1_000_000;

    fn study(predicate: &str) -> Study {
        let schema = zk::Schema::clinical_v1();
        Study {
            researcher: address(1),
            org: medchain_state::testkit::org_name("Yonsei Research"),
            title: ShortText("Over forty".into()),
            purpose: Purpose::Research,
            circuit: Hash32::from([1; 32]),
            predicate: ZkBytes(zk::Predicate::parse(predicate, &schema).unwrap().to_bytes()),
            reward: 10,
            max_participants: 5,
            deadline_ms: NOW_MS + 1,
            dispute_window_ms: 1_000,
            exclusive: false,
            researcher_key: ZkBytes(vec![2; 33]),
            proxies: vec![address(2)],
            threshold: 1,
            pool: None,
            pooled: 100,
            owed: 0,
            enrolled: 0,
            published_at: 1,
        }
    }

    fn held(byte: u8, age: &str) -> HeldOpening {
        let schema = zk::Schema::clinical_v1();
        let secret = zk::PatientSecret::from_seed(&[7; 32]);
        let opening = zk::RecordOpening::random(
            &schema,
            schema.encode(&[("age", age)]).unwrap(),
            secret.nullifier_key(),
            [byte; 32],
            &mut StdRng::seed_from_u64(u64::from(byte)),
        )
        .unwrap();
        HeldOpening {
            record: RecordId(Hash32::from([byte; 32])),
            opening,
        }
    }

    fn id() -> StudyId {
        StudyId(Hash32::from([9; 32]))
    }

    #[test]
    fn a_study_lists_only_the_records_that_satisfy_it() {
        let openings = [held(1, "52"), held(2, "31"), held(3, "70")];
        let found = qualifying(id(), study("age >= 40"), &openings, NOW_MS).unwrap();
        assert_eq!(found.records, [openings[0].record, openings[2].record]);
        assert!(qualifying(id(), study("age >= 80"), &openings, NOW_MS).is_none());
    }

    #[test]
    fn closed_full_or_unfunded_studies_are_not_offered() {
        let openings = [held(1, "52")];
        let offered = |edit: fn(&mut Study)| {
            let mut terms = study("age >= 40");
            edit(&mut terms);
            qualifying(id(), terms, &openings, NOW_MS).is_some()
        };
        assert!(offered(|_| {}));
        assert!(!offered(|s| s.deadline_ms = NOW_MS));
        assert!(!offered(|s| s.enrolled = s.max_participants));
        assert!(!offered(|s| s.pooled = s.reward - 1));
        // A predicate that does not decode is not the chain's: skipped, not an error.
        assert!(!offered(|s| s.predicate = ZkBytes(vec![0xff; 4])));
    }
}
