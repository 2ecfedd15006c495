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
    /// How long after the deadline the researcher may still dispute a delivery; an owed
    /// reward neither acknowledged nor disputed by then is the patient's to claim.
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

/// An enrolled record, decrypted and checked against its enrolment's delivery tag.
#[derive(Clone, Debug)]
pub struct ReadRecord {
    /// The record's bytes (the patient's bundle): the record the patient's proof is about.
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
///
/// Then checks the delivery: the record's SHA-256 with the enrolment's binding must give the
/// delivery tag the patient proved ([`check_delivery`]); otherwise
/// [`ResearchError::DeliveryMismatch`] — dispute the enrolment ([`dispute`]). A record that
/// passes is the one the proof is about: acknowledge it ([`acknowledge`]).
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
    let opened = key.open(&record, &cfrags, &delegating, &verifying, study.threshold)?;
    let plaintext = check_delivery(enrolment_id, &enrolment, &opened)?;
    Ok(ReadRecord {
        plaintext,
        used,
        failed,
    })
}

/// Checks what the proxies delivered — the patient's delivery key `k` (32 bytes), then the
/// bundle — and returns the bundle if it is the record the enrolment's proof is about: the
/// delivery tag of its SHA-256 (hEMR, which the hospital put in the attested commitment) under
/// `k` and the enrolment's binding (its payee and keys) must be the proven one. Without `k`
/// nobody can recompute the tag, so the public hEMR does not link the enrolment to its release.
pub fn check_delivery(
    id: &EnrolmentId,
    enrolment: &Enrolment,
    delivered: &[u8],
) -> Result<Vec<u8>, ResearchError> {
    let mismatch = || ResearchError::DeliveryMismatch(*id);
    let (key, bundle) = delivered.split_at_checked(32).ok_or_else(mismatch)?;
    let key = zk::DeliveryKey::from_bytes(key).map_err(|_| mismatch())?;
    let binding = zk::binding_of(&enrolment_binding(
        &enrolment.payee,
        &enrolment.delegating_key.0,
        &enrolment.verifying_key.0,
        &enrolment.ciphertext_hash,
    ));
    let tag =
        zk::delivery_tag(&ContentHash::of(bundle).0.0, &key, binding).map_err(|_| mismatch())?;
    if Hash32::from(tag.0) != enrolment.delivery {
        return Err(mismatch());
    }
    Ok(bundle.to_vec())
}

/// Confirms that an enrolment's record matched its delivery tag (`research.acknowledge`):
/// its owed reward becomes the patient's to claim at once.
pub fn acknowledge(
    client: &Client,
    chain_key: &PrivateKey,
    enrolment: &EnrolmentId,
    wait: &WaitPolicy,
) -> Result<Sent, ResearchError> {
    Ok(client
        .signer(chain_key.clone())
        .send(build::acknowledge_enrolment(*enrolment), Some(wait))?)
}

/// Disputes an enrolment's delivery (`research.dispute`) before the study's dispute window
/// ends: its owed reward is frozen until the regulator resolves the dispute.
pub fn dispute(
    client: &Client,
    chain_key: &PrivateKey,
    enrolment: &EnrolmentId,
    wait: &WaitPolicy,
) -> Result<Sent, ResearchError> {
    Ok(client
        .signer(chain_key.clone())
        .send(build::dispute_enrolment(*enrolment), Some(wait))?)
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
