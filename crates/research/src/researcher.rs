//! The researcher's side (S4-flow steps 1 and 8): publish a study, fund and refund its pool,
//! see who enrolled, and read an enrolled record through `threshold` of the study's proxies,
//! verifying every cfrag and naming any proxy whose cfrag or ciphertext was wrong.

use crate::{ResearchError, derive, proxies};
use medchain_client::{
    Client, ListQuery, Listed, Sent, StateQuery, WaitPolicy, build, keys::address_of,
};
use medchain_cloud::CloudClient;
use medchain_state::values::{Enrolment, Study};
use medchain_types::{
    Address, ContentHash, Hash32, PrivateKey, Purpose,
    research::{EnrolmentId, StudyId, enrolment_binding},
};
use proxy_reencryption::EncryptedRecord;

/// A study's terms, as the researcher chooses them.
#[derive(Clone, Debug)]
pub struct StudyTerms {
    /// A short title (at most 128 bytes).
    pub title: String,
    /// The registered circuit the proofs are made with (its verifying key's digest).
    pub circuit: Hash32,
    /// Who qualifies.
    pub predicate: zk::Predicate,
    /// Paid to each enrolled patient from the pool.
    pub reward: u64,
    /// Most patients enrolled.
    pub max_participants: u32,
    /// Enrolment closes at this block time (milliseconds since the Unix epoch).
    pub deadline_ms: u64,
    /// How long after the deadline the researcher may dispute a delivery (at most 30 days).
    pub dispute_window_ms: u64,
    /// Whether a record enrolled here may never be sold to another study (S4-exclusive).
    pub exclusive: bool,
    /// The registered proxies that will re-encrypt the records.
    pub proxies: Vec<Address>,
    /// How many of them the researcher needs.
    pub threshold: u8,
}

/// Publishes a study (`research.publish`) as the holder of `chain_key`, with the Umbral key
/// derived from it as the study's researcher key, and waits until it is final. Returns the
/// study's id. Fund it before patients can enrol ([`fund`]).
pub fn publish(
    client: &Client,
    chain_key: &PrivateKey,
    terms: &StudyTerms,
    wait: &WaitPolicy,
) -> Result<StudyId, ResearchError> {
    let researcher_key = derive::researcher_key(chain_key).public();
    let payload = build::publish_study(build::StudyContract {
        title: terms.title.clone(),
        purpose: Purpose::Research,
        circuit: terms.circuit,
        predicate: terms.predicate.to_bytes(),
        reward: terms.reward,
        max_participants: terms.max_participants,
        deadline_ms: terms.deadline_ms,
        dispute_window_ms: terms.dispute_window_ms,
        exclusive: terms.exclusive,
        researcher_key: researcher_key.to_vec(),
        proxies: terms.proxies.clone(),
        threshold: terms.threshold,
    })?;
    let sent = client.signer(chain_key.clone()).send(payload, Some(wait))?;
    Ok(StudyId::from(sent.id))
}

/// Moves `amount` from the researcher's balance into the study's pool (`research.fund`).
pub fn fund(
    client: &Client,
    chain_key: &PrivateKey,
    study: &StudyId,
    amount: u64,
    wait: &WaitPolicy,
) -> Result<Sent, ResearchError> {
    let payload = build::fund_study(*study, amount)?;
    Ok(client.signer(chain_key.clone()).send(payload, Some(wait))?)
}

/// Returns what is left in the pool to the researcher's balance once the deadline has passed
/// (`research.refund`).
pub fn refund(
    client: &Client,
    chain_key: &PrivateKey,
    study: &StudyId,
    wait: &WaitPolicy,
) -> Result<Sent, ResearchError> {
    Ok(client
        .signer(chain_key.clone())
        .send(build::refund_study(*study), Some(wait))?)
}

/// A study and its enrolments, every one proven.
#[derive(Clone, Debug)]
pub struct StudyResults {
    /// The study.
    pub id: StudyId,
    /// Its contract and pool.
    pub study: Study,
    /// Its enrolments in acceptance order.
    pub enrolments: Vec<Listed<EnrolmentId, Enrolment>>,
}

/// The study and every enrolment in it.
pub fn results(client: &Client, study: &StudyId) -> Result<StudyResults, ResearchError> {
    let contract = client
        .read(&StateQuery::study(study))?
        .value
        .ok_or(ResearchError::UnknownStudy(*study))?;
    let (enrolments, _) = client.list_all(&ListQuery::study_enrolments(study))?;
    Ok(StudyResults {
        id: *study,
        study: contract,
        enrolments,
    })
}

/// A proxy that answered wrongly or not at all, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyFailure {
    /// The proxy.
    pub proxy: Address,
    /// What went wrong.
    pub reason: String,
}

/// An enrolled record, decrypted.
#[derive(Clone, Debug)]
pub struct ReadRecord {
    /// The record's bytes (the patient's bundle).
    pub plaintext: Vec<u8>,
    /// The proxies whose cfrags were used.
    pub used: Vec<Address>,
    /// The proxies that failed on the way (down, wrong ciphertext, a cfrag that does not
    /// verify), each once with every reason: a reason to stop trusting them.
    pub failed: Vec<ProxyFailure>,
}

/// Reads an enrolled record (S4-flow step 8) as the study's researcher: fetches the
/// ciphertext from the first proxy whose copy hashes to the enrolment's `ciphertext_hash`,
/// asks proxies one by one to re-encrypt until `threshold` cfrags verify, and decrypts with
/// the researcher's Umbral key (derived from `chain_key`). A proxy whose cfrag fails
/// verification is named and replaced by the next.
pub fn read(
    client: &Client,
    chain_key: &PrivateKey,
    enrolment_id: &EnrolmentId,
) -> Result<ReadRecord, ResearchError> {
    let enrolment = client
        .read(&StateQuery::enrolment(enrolment_id))?
        .value
        .ok_or(ResearchError::UnknownEnrolment(*enrolment_id))?;
    let study = client
        .read(&StateQuery::study(&enrolment.study))?
        .value
        .ok_or(ResearchError::UnknownStudy(enrolment.study))?;
    if study.researcher != address_of(chain_key) {
        return Err(ResearchError::NotResearcher(study.researcher));
    }
    let key = derive::researcher_key(chain_key);
    let delegating = umbral_key(&enrolment.delegating_key.0)?;
    let verifying = umbral_key(&enrolment.verifying_key.0)?;
    let proxies = proxies::registered(client, &study)?;
    let mut failed = Vec::new();
    let record = ciphertext(
        &proxies,
        enrolment_id,
        &enrolment.ciphertext_hash,
        &mut failed,
    )?;

    let threshold = usize::from(study.threshold);
    let mut cfrags = Vec::new();
    let mut used = Vec::new();
    for proxy in &proxies {
        if cfrags.len() == threshold {
            break;
        }
        let answer =
            CloudClient::new(&proxy.url).and_then(|cloud| cloud.reencrypt(enrolment_id, chain_key));
        let checked = match answer {
            Ok(answer) => key
                .check_cfrag(record.capsule(), &answer.cfrag, &delegating, &verifying)
                .map(|()| answer.cfrag)
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match checked {
            Ok(cfrag) => {
                cfrags.push(cfrag);
                used.push(proxy.address);
            }
            Err(reason) => note(&mut failed, proxy.address, reason),
        }
    }
    if cfrags.len() < threshold {
        return Err(ResearchError::TooFewCfrags {
            verified: cfrags.len(),
            threshold: study.threshold,
            failed,
        });
    }
    let plaintext = key.open(&record, &cfrags, &delegating, &verifying, study.threshold)?;
    check_delivery(enrolment_id, &enrolment, &plaintext)?;
    Ok(ReadRecord {
        plaintext,
        used,
        failed,
    })
}

/// The encrypted record from the first proxy whose copy has the enrolment's hash; every
/// proxy before it is added to `failed`.
fn ciphertext(
    proxies: &[proxies::RegisteredProxy],
    enrolment: &EnrolmentId,
    hash: &ContentHash,
    failed: &mut Vec<ProxyFailure>,
) -> Result<EncryptedRecord, ResearchError> {
    for proxy in proxies {
        let fetched = CloudClient::new(&proxy.url).and_then(|cloud| cloud.record(enrolment));
        let reason = match fetched {
            Ok(bytes) => match EncryptedRecord::from_bytes(&bytes) {
                Ok(record) if ContentHash(Hash32::from(record.hash())) == *hash => {
                    return Ok(record);
                }
                Ok(_) => "its ciphertext does not have the enrolment's hash".to_string(),
                Err(error) => format!("its ciphertext does not decode: {error}"),
            },
            Err(error) => error.to_string(),
        };
        note(failed, proxy.address, reason);
    }
    Err(ResearchError::NoCiphertext {
        failed: failed.clone(),
    })
}

/// Whether `plaintext` is the record the patient proved: its hash, bound to the enrolment's
/// sender and keys, must give the enrolment's delivery tag (F11: the reward pays for the
/// proven record, not for a proof).
fn check_delivery(
    id: &EnrolmentId,
    enrolment: &Enrolment,
    plaintext: &[u8],
) -> Result<(), ResearchError> {
    let binding = zk::binding_of(&enrolment_binding(
        &enrolment.payee,
        &enrolment.delegating_key.0,
        &enrolment.verifying_key.0,
        &enrolment.ciphertext_hash,
    ));
    let record_hash = crate::bytes32(&ContentHash::of(plaintext).0);
    let tag = zk::delivery_tag(&record_hash, binding);
    if Hash32::from(tag.0) != enrolment.delivery {
        return Err(ResearchError::DeliveryMismatch(*id));
    }
    Ok(())
}

/// The researcher confirms an enrolment's record matched its delivery tag
/// (`research.acknowledge`): the patient may claim the owed reward at once. [`read`] checks
/// the tag; acknowledge after it succeeds.
pub fn acknowledge(
    client: &Client,
    chain_key: &PrivateKey,
    enrolment: &EnrolmentId,
    wait: &WaitPolicy,
) -> Result<Sent, ResearchError> {
    Ok(client
        .signer(chain_key.clone())
        .send(build::acknowledge(*enrolment), Some(wait))?)
}

/// The researcher disputes an enrolment whose record did not match its delivery tag, or never
/// came (`research.dispute`), before the dispute window closes: the owed reward is frozen
/// until the regulator resolves it.
pub fn dispute(
    client: &Client,
    chain_key: &PrivateKey,
    enrolment: &EnrolmentId,
    wait: &WaitPolicy,
) -> Result<Sent, ResearchError> {
    Ok(client
        .signer(chain_key.clone())
        .send(build::dispute(*enrolment), Some(wait))?)
}

/// The regulator settles a disputed enrolment (`research.resolve`): `pay` releases the owed
/// reward to the patient, otherwise it returns to the study's pool.
pub fn resolve(
    client: &Client,
    regulator_key: &PrivateKey,
    enrolment: &EnrolmentId,
    pay: bool,
    wait: &WaitPolicy,
) -> Result<Sent, ResearchError> {
    Ok(client
        .signer(regulator_key.clone())
        .send(build::resolve(*enrolment, pay), Some(wait))?)
}

/// Records that `proxy` failed for `reason`: one entry per proxy, its reasons joined.
fn note(failed: &mut Vec<ProxyFailure>, proxy: Address, reason: String) {
    match failed.iter_mut().find(|failure| failure.proxy == proxy) {
        Some(failure) => {
            failure.reason.push_str("; ");
            failure.reason.push_str(&reason);
        }
        None => failed.push(ProxyFailure { proxy, reason }),
    }
}

/// An Umbral public key as the chain stores it (33 bytes).
fn umbral_key(bytes: &[u8]) -> Result<[u8; 33], ResearchError> {
    bytes
        .try_into()
        .map_err(|_| ResearchError::BadUmbralKey(bytes.len()))
}
