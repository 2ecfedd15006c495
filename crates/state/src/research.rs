//! Research market module (S4-flow, S4-exclusive): circuits registered by the regulator,
//! hospital-attested record commitments in an on-chain accumulator, study contracts with a
//! token pool, zero-knowledge enrolments verified here, and the proxies' re-encryption log.
//!
//! | action | rule | error |
//! |---|---|---|
//! | register_circuit | the sender is the regulator | `NotRegulator` |
//! | register_circuit | the verifying key decodes and is not degenerate; not registered yet | `BadVerifyingKey`, `CircuitExists` |
//! | nullifier_key | the sender is a patient identity, with no key yet; the key is a field element | `NotEnrolled`, `NotAPatient`, `NullifierKeyExists`, `NotAFieldElement` |
//! | attest | the sender is the hospital identity of the (audited) organisation that released the record | `NotEnrolled`, `NotAHospital`, `OrgNotAudited`, `UnknownRecord`, `NotRecordHospital` |
//! | attest | one attestation per record; the patient filed a nullifier key; the commitment is a field element | `AlreadyAttested`, `NoNullifierKey`, `NotAFieldElement`, `AccumulatorFull` |
//! | register_proxy | the sender is a member of an audited cloud organisation, not a proxy yet | `NotCloudMember`, `ProxyExists` |
//! | publish | the sender is a member of an audited research organisation; purpose research | `NotResearchMember`, `NotResearchPurpose` |
//! | publish | the circuit is registered; the predicate decodes and fits its shape | `UnknownCircuit`, `BadPredicate`, `PredicateTooLarge` |
//! | publish | 1 ≤ threshold ≤ proxies, distinct registered proxies; ≥ 1 participant; deadline after the block | `BadThreshold`, `DuplicateProxy`, `UnknownProxy`, `NoParticipants`, `DeadlineInPast` |
//! | fund | the study's researcher, before the deadline, a positive amount it holds | `UnknownStudy`, `NotResearcher`, `StudyClosed`, `ZeroFunding`, `InsufficientBalance` |
//! | enrol | the study is open, not full, its pool pays the reward | `UnknownStudy`, `StudyClosed`, `StudyFull`, `StudyUnfunded` |
//! | enrol | the root was the accumulator's; the nullifier is unused in the study | `UnknownRoot`, `AlreadyEnrolled` |
//! | enrol | S4-exclusive: no other study holds the record exclusively; an exclusive study takes no record used before | `ExclusivelyLicensed`, `SharedBefore` |
//! | enrol | the proof verifies (checked last: it is the expensive step) | `MalformedProof`, `ProofRejected` |
//! | reencrypted | the enrolment exists; the sender is one of its study's proxies, logging once | `UnknownEnrolment`, `NotStudyProxy`, `AlreadyLogged` |
//! | refund | the study's researcher, after the deadline, with tokens left | `UnknownStudy`, `NotResearcher`, `StudyStillOpen`, `NothingToRefund` |
//!
//! **Unlinkable enrolment.** A patient proves that its commitment is *one of* the attested
//! commitments (membership under an accumulator root the chain had), so an enrolment names
//! neither the record nor the patient; it is filed by a one-time key. The per (patient, study)
//! nullifier refuses a second enrolment in a study; the per record exclusivity nullifier carries
//! exclusive licences across studies. The proof's public `binding` commits to the sender and
//! the keys the proxies will use ([`medchain_types::research::enrolment_binding`]), so a proof
//! copied from the mempool is useless to anyone else.
//!
//! **Pool.** On a chain with tokens, funding moves tokens from the researcher's balance into one
//! output locked to the study (`Lock::Escrow(study id)`), which only this module spends: an
//! enrolment pays its reward from it to the enrolling (one-time) address's balance, and a refund
//! after the deadline returns what is left. On a chain without tokens the same amounts are
//! counted but nothing moves.

use crate::{
    ExecError, StateError, StateRead, StateReadExt,
    context::TxContext,
    identity::enrolled,
    keys, licence, records, registry,
    token::{self, lock_in_pool, pay_from_pool},
    values::{
        AccumulatorState, Attestation, Circuit, Enrolment, Exclusivity, LedgerKind, Proxy,
        ShortText, Study,
    },
};
use medchain_types::{
    Address, ContentHash, EnrolmentId, EscrowId, Event, Hash32, OrgKind, Payload, Purpose,
    RecordId, Role, StudyId, Uri, limits,
    research::{ResearchPayload, ZkBytes, enrolment_binding},
};
use std::collections::BTreeSet;

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &ResearchPayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        ResearchPayload::RegisterCircuit {
            schema,
            verifying_key,
            proving_key_digest,
        } => register_circuit(ctx, schema, verifying_key, proving_key_digest),
        ResearchPayload::NullifierKey { key } => nullifier_key(ctx, key),
        ResearchPayload::Attest { record, commitment } => attest(ctx, record, commitment),
        ResearchPayload::RegisterProxy {
            encryption_key,
            url,
        } => register_proxy(ctx, encryption_key, url),
        ResearchPayload::Publish {
            title,
            purpose,
            circuit,
            predicate,
            reward,
            max_participants,
            deadline_ms,
            exclusive,
            researcher_key,
            proxies,
            threshold,
        } => publish(
            ctx,
            StudyTerms {
                title,
                purpose: *purpose,
                circuit,
                predicate,
                reward: *reward,
                max_participants: *max_participants,
                deadline_ms: *deadline_ms,
                exclusive: *exclusive,
                researcher_key,
                proxies,
                threshold: *threshold,
            },
        ),
        ResearchPayload::Fund { study, amount } => fund(ctx, study, *amount),
        ResearchPayload::Enrol {
            study,
            root,
            nullifier,
            exclusivity,
            proof,
            delegating_key,
            verifying_key,
            ciphertext_hash,
        } => enrol(
            ctx,
            &EnrolRequest {
                study,
                root,
                nullifier,
                exclusivity,
                proof,
                delegating_key,
                verifying_key,
                ciphertext_hash,
            },
        ),
        ResearchPayload::Reencrypted { enrolment } => reencrypted(ctx, enrolment),
        ResearchPayload::Refund { study } => refund(ctx, study),
    }
}

/// S1-tokens admission: what a `research.enrol` will be paid before its fee is charged (the
/// reward of an open, funded study with room left, judged on `state`'s last block), so the
/// one-time enrolling address, which holds nothing yet, can afford its fee. 0 for anything
/// else, and on a chain without tokens.
pub fn prepaid_by_reward(state: &impl StateRead, payload: &Payload) -> Result<u64, StateError> {
    let Payload::Research(ResearchPayload::Enrol { study, .. }) = payload else {
        return Ok(0);
    };
    if token::config(state)?.is_none() {
        return Ok(0);
    }
    let Some(study) = state.value(&keys::study(study))? else {
        return Ok(0);
    };
    let now = state
        .value(&keys::block_info())?
        .ok_or(StateError::NoGenesis)?
        .timestamp_ms;
    let pays = now < study.deadline_ms
        && study.enrolled < study.max_participants
        && study.pooled >= study.reward;
    Ok(if pays { study.reward } else { 0 })
}

// Circuits, nullifier keys, attestations, proxies.

fn register_circuit<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    schema: &str,
    verifying_key: &ZkBytes,
    proving_key_digest: &Hash32,
) -> Result<Vec<Event>, ExecError> {
    if *ctx.sender != ctx.chain.regulator {
        return Err(ExecError::NotRegulator);
    }
    let vk = zk::VerifyingKey::from_bytes(verifying_key.as_slice())
        .map_err(|e| ExecError::BadVerifyingKey(e.to_string()))?;
    let circuit = Hash32::from(vk.digest());
    let key = keys::circuit(&circuit);
    if ctx.value(&key)?.is_some() {
        return Err(ExecError::CircuitExists);
    }
    ctx.put(
        &key,
        &Circuit {
            schema: ShortText(schema.to_owned()),
            verifying_key: verifying_key.clone(),
            proving_key_digest: *proving_key_digest,
            registered_at: ctx.env.height,
        },
    );
    Ok(vec![Event::CircuitRegistered { circuit }])
}

fn nullifier_key<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    key: &Hash32,
) -> Result<Vec<Event>, ExecError> {
    let patient = *ctx.sender;
    if enrolled(ctx, &patient)?.role != Role::Patient {
        return Err(ExecError::NotAPatient);
    }
    let state_key = keys::nullifier_key(&patient);
    if ctx.value(&state_key)?.is_some() {
        return Err(ExecError::NullifierKeyExists);
    }
    zk::NullifierKey::from_bytes(key.as_ref())
        .map_err(|_| ExecError::NotAFieldElement("nullifier key"))?;
    ctx.put(&state_key, key);
    Ok(vec![Event::NullifierKeySet { patient }])
}

fn attest<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    record: &RecordId,
    commitment: &Hash32,
) -> Result<Vec<Event>, ExecError> {
    let hospital = *ctx.sender;
    let (_, org) = licence::hospital_identity(ctx, &hospital)?;
    let released = records::existing_record(ctx, record)?;
    if released.hospital != org {
        return Err(ExecError::NotRecordHospital(*record));
    }
    if ctx.value(&keys::attestation(record))?.is_some() {
        return Err(ExecError::AlreadyAttested(*record));
    }
    if ctx
        .value(&keys::nullifier_key(&released.patient))?
        .is_none()
    {
        return Err(ExecError::NoNullifierKey(released.patient));
    }
    let leaf = zk::Commitment::from_bytes(commitment.as_ref())
        .map_err(|_| ExecError::NotAFieldElement("commitment"))?;
    let (leaf_index, root) = append_to_accumulator(ctx, &leaf)?;
    ctx.append(&keys::attested_commitments(), commitment)?;
    ctx.put(
        &keys::attestation(record),
        &Attestation {
            commitment: *commitment,
            hospital,
            leaf: leaf_index,
            height: ctx.env.height,
        },
    );
    Ok(vec![Event::RecordAttested {
        record: *record,
        leaf: leaf_index,
        root,
    }])
}

/// Appends `leaf` to the accumulator and records its new root among the roots there have
/// been; returns the leaf's index and the new root.
fn append_to_accumulator<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    leaf: &zk::Commitment,
) -> Result<(u64, Hash32), ExecError> {
    let key = keys::accumulator();
    let mut accumulator = match ctx.value(&key)? {
        Some(stored) => {
            zk::Accumulator::from_bytes(stored.accumulator.as_slice()).map_err(|e| {
                StateError::Inconsistent(format!("cfg/accumulator does not decode: {e}"))
            })?
        }
        None => zk::Accumulator::new(),
    };
    let index = accumulator
        .append(leaf)
        .map_err(|_| ExecError::AccumulatorFull)?;
    let root = Hash32::from(accumulator.root().to_bytes());
    let leaves = accumulator.len();
    ctx.put(
        &key,
        &AccumulatorState {
            accumulator: ZkBytes(accumulator.to_bytes()),
            root,
            leaves,
        },
    );
    ctx.put(&keys::accumulator_root(&root), &leaves);
    Ok((index, root))
}

fn register_proxy<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    encryption_key: &Hash32,
    url: &Uri,
) -> Result<Vec<Event>, ExecError> {
    let proxy = *ctx.sender;
    let org = registry::audited_org_of(ctx, &proxy)?
        .filter(|org| org.kind == OrgKind::Cloud)
        .ok_or(ExecError::NotCloudMember)?;
    let key = keys::proxy(&proxy);
    if ctx.value(&key)?.is_some() {
        return Err(ExecError::ProxyExists);
    }
    ctx.put(
        &key,
        &Proxy {
            org: org.name,
            encryption_key: *encryption_key,
            url: url.clone(),
            registered_at: ctx.env.height,
        },
    );
    Ok(vec![Event::ProxyRegistered { proxy }])
}

// Studies.

/// The fields of a `research.publish`.
struct StudyTerms<'a> {
    title: &'a str,
    purpose: Purpose,
    circuit: &'a Hash32,
    predicate: &'a ZkBytes,
    reward: u64,
    max_participants: u32,
    deadline_ms: u64,
    exclusive: bool,
    researcher_key: &'a ZkBytes,
    proxies: &'a [Address],
    threshold: u8,
}

fn publish<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    terms: StudyTerms<'_>,
) -> Result<Vec<Event>, ExecError> {
    let StudyTerms {
        title,
        purpose,
        circuit,
        predicate,
        reward,
        max_participants,
        deadline_ms,
        exclusive,
        researcher_key,
        proxies,
        threshold,
    } = terms;
    let researcher = *ctx.sender;
    let org = registry::audited_org_of(ctx, &researcher)?
        .filter(|org| org.kind == OrgKind::Research)
        .ok_or(ExecError::NotResearchMember)?;
    if purpose != Purpose::Research {
        return Err(ExecError::NotResearchPurpose(purpose));
    }
    let registered = registered_circuit(ctx, circuit)?;
    let vk = registered_verifying_key(&registered)?;
    let decoded = zk::Predicate::from_bytes(predicate.as_slice())
        .map_err(|e| ExecError::BadPredicate(e.to_string()))?;
    decoded
        .check_fits(&vk.shape())
        .map_err(|e| ExecError::PredicateTooLarge(e.to_string()))?;
    check_proxies(ctx, proxies, threshold)?;
    if max_participants == 0 {
        return Err(ExecError::NoParticipants);
    }
    if deadline_ms <= ctx.env.timestamp_ms {
        return Err(ExecError::DeadlineInPast);
    }
    let id = StudyId::from(ctx.tx_id);
    ctx.put(
        &keys::study(&id),
        &Study {
            researcher,
            org: org.name,
            title: ShortText(title.to_owned()),
            purpose,
            circuit: *circuit,
            predicate: predicate.clone(),
            reward,
            max_participants,
            deadline_ms,
            exclusive,
            researcher_key: researcher_key.clone(),
            proxies: proxies.to_vec(),
            threshold,
            pool: None,
            pooled: 0,
            enrolled: 0,
            published_at: ctx.env.height,
        },
    );
    ctx.append(&keys::studies().list, &id)?;
    Ok(vec![Event::StudyPublished { study: id }])
}

/// A study's proxies: 1 to [`limits::MAX_STUDY_PROXIES`], distinct, registered, and a
/// threshold between 1 and their number.
fn check_proxies(
    state: &impl StateRead,
    proxies: &[Address],
    threshold: u8,
) -> Result<(), ExecError> {
    if threshold == 0
        || usize::from(threshold) > proxies.len()
        || proxies.len() > limits::MAX_STUDY_PROXIES
    {
        return Err(ExecError::BadThreshold {
            threshold,
            proxies: proxies.len(),
        });
    }
    let mut seen = BTreeSet::new();
    for proxy in proxies {
        if !seen.insert(proxy) {
            return Err(ExecError::DuplicateProxy(*proxy));
        }
        if state.value(&keys::proxy(proxy))?.is_none() {
            return Err(ExecError::UnknownProxy(*proxy));
        }
    }
    Ok(())
}

fn registered_circuit(state: &impl StateRead, circuit: &Hash32) -> Result<Circuit, ExecError> {
    state
        .value(&keys::circuit(circuit))?
        .ok_or_else(|| ExecError::UnknownCircuit(hex::encode(circuit)))
}

/// The circuit's verifying key; it was validated when registered, so a failure here is a
/// broken state.
fn registered_verifying_key(circuit: &Circuit) -> Result<zk::VerifyingKey, StateError> {
    zk::VerifyingKey::from_bytes(circuit.verifying_key.as_slice()).map_err(|e| {
        StateError::Inconsistent(format!("a registered verifying key does not decode: {e}"))
    })
}

fn existing_study(state: &impl StateRead, id: &StudyId) -> Result<Study, ExecError> {
    state
        .value(&keys::study(id))?
        .ok_or(ExecError::UnknownStudy(*id))
}

/// The study `id`, if the sender is its researcher.
fn own_study<R: StateRead>(ctx: &TxContext<'_, R>, id: &StudyId) -> Result<Study, ExecError> {
    let study = existing_study(ctx, id)?;
    if study.researcher != *ctx.sender {
        return Err(ExecError::NotResearcher);
    }
    Ok(study)
}

fn ensure_open<R: StateRead>(ctx: &TxContext<'_, R>, study: &Study) -> Result<(), ExecError> {
    if ctx.env.timestamp_ms >= study.deadline_ms {
        return Err(ExecError::StudyClosed {
            deadline_ms: study.deadline_ms,
        });
    }
    Ok(())
}

/// The contract lock of a study's pool.
fn pool_lock(id: &StudyId) -> EscrowId {
    EscrowId(id.0)
}

fn fund<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &StudyId,
    amount: u64,
) -> Result<Vec<Event>, ExecError> {
    let mut study = own_study(ctx, id)?;
    ensure_open(ctx, &study)?;
    if amount == 0 {
        return Err(ExecError::ZeroFunding);
    }
    study.pooled = study
        .pooled
        .checked_add(amount)
        .ok_or(ExecError::AmountOverflow)?;
    if ctx.tokens.is_some() {
        let researcher = study.researcher;
        let pool = lock_in_pool(ctx, &researcher, pool_lock(id), study.pool, amount)?;
        study.pool = Some(pool);
    }
    let pool = study.pooled;
    ctx.put(&keys::study(id), &study);
    Ok(vec![Event::StudyFunded {
        study: *id,
        amount,
        pool,
    }])
}

fn refund<R: StateRead>(ctx: &mut TxContext<'_, R>, id: &StudyId) -> Result<Vec<Event>, ExecError> {
    let mut study = own_study(ctx, id)?;
    if ctx.env.timestamp_ms < study.deadline_ms {
        return Err(ExecError::StudyStillOpen {
            deadline_ms: study.deadline_ms,
        });
    }
    let amount = study.pooled;
    if amount == 0 {
        return Err(ExecError::NothingToRefund);
    }
    if let Some(pool) = study.pool.take() {
        let researcher = study.researcher;
        pay_from_pool(
            ctx,
            &pool,
            &researcher,
            amount,
            (LedgerKind::StudyRefund, None),
        )?;
    }
    study.pooled = 0;
    ctx.put(&keys::study(id), &study);
    Ok(vec![Event::StudyRefunded { study: *id, amount }])
}

// Enrolment.

/// The fields of a `research.enrol`.
struct EnrolRequest<'a> {
    study: &'a StudyId,
    root: &'a Hash32,
    nullifier: &'a Hash32,
    exclusivity: &'a Hash32,
    proof: &'a ZkBytes,
    delegating_key: &'a ZkBytes,
    verifying_key: &'a ZkBytes,
    ciphertext_hash: &'a ContentHash,
}

fn enrol<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    request: &EnrolRequest<'_>,
) -> Result<Vec<Event>, ExecError> {
    let mut study = existing_study(ctx, request.study)?;
    let licence = check_admissible(ctx, &study, request)?;
    verify_enrolment(ctx, &study, request)?;
    record_enrolment(ctx, &mut study, request, licence)
}

/// Every cheap rule of an enrolment, in the order a patient would fix them; returns the
/// exclusivity record the enrolment will update.
fn check_admissible<R: StateRead>(
    ctx: &TxContext<'_, R>,
    study: &Study,
    request: &EnrolRequest<'_>,
) -> Result<Exclusivity, ExecError> {
    ensure_open(ctx, study)?;
    if study.enrolled >= study.max_participants {
        return Err(ExecError::StudyFull {
            max: study.max_participants,
        });
    }
    if study.pooled < study.reward {
        return Err(ExecError::StudyUnfunded {
            pooled: study.pooled,
            reward: study.reward,
        });
    }
    if ctx.value(&keys::accumulator_root(request.root))?.is_none() {
        return Err(ExecError::UnknownRoot);
    }
    if ctx
        .value(&keys::study_nullifier(request.study, request.nullifier))?
        .is_some()
    {
        return Err(ExecError::AlreadyEnrolled);
    }
    let licence = ctx
        .value(&keys::exclusivity(request.exclusivity))?
        .unwrap_or(Exclusivity {
            exclusive_study: None,
            uses: 0,
        });
    check_exclusivity(&licence, request.study, study.exclusive)?;
    Ok(licence)
}

/// S4-exclusive: no study takes a record licensed exclusively to another, and an exclusive
/// study takes no record shared before (with any study).
fn check_exclusivity(
    licence: &Exclusivity,
    study: &StudyId,
    exclusive: bool,
) -> Result<(), ExecError> {
    if let Some(holder) = licence.exclusive_study
        && holder != *study
    {
        return Err(ExecError::ExclusivelyLicensed { study: holder });
    }
    if exclusive && licence.uses > 0 {
        return Err(ExecError::SharedBefore);
    }
    Ok(())
}

/// Verifies the enrolment proof against the statement the contract builds itself: its
/// circuit's key, the root, its own predicate, its id, the binding of this sender's keys and
/// the nullifiers. The most expensive step (about 2 ms), so it runs after every cheap check.
fn verify_enrolment<R: StateRead>(
    ctx: &TxContext<'_, R>,
    study: &Study,
    request: &EnrolRequest<'_>,
) -> Result<(), ExecError> {
    let vk = registered_verifying_key(&registered_circuit(ctx, &study.circuit)?)?;
    let predicate = zk::Predicate::from_bytes(study.predicate.as_slice()).map_err(|e| {
        StateError::Inconsistent(format!("a published predicate does not decode: {e}"))
    })?;
    let malformed = |e: zk::ZkError| ExecError::MalformedProof(e.to_string());
    let proof = zk::Proof::from_bytes(request.proof.as_slice()).map_err(malformed)?;
    let binding = enrolment_binding(
        ctx.sender,
        request.delegating_key.as_slice(),
        request.verifying_key.as_slice(),
        request.ciphertext_hash,
    );
    let statement = zk::Statement::enrolment(
        &vk,
        zk::AccumulatorRoot::from_bytes(request.root.as_ref()).map_err(malformed)?,
        &predicate,
        zk::study_tag(&study_bytes(request.study)),
        zk::binding_of(&binding),
        zk::Nullifier::from_bytes(request.nullifier.as_ref()).map_err(malformed)?,
        zk::ExclusivityNullifier::from_bytes(request.exclusivity.as_ref()).map_err(malformed)?,
    )
    .map_err(malformed)?;
    match zk::verify(&vk, &statement, &proof) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(ExecError::ProofRejected),
    }
}

fn study_bytes(id: &StudyId) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(id.as_bytes());
    bytes
}

/// Writes an accepted enrolment: the enrolment, its nullifiers, the study's count and pool,
/// and pays the reward to the sender (the one-time enrolling address).
fn record_enrolment<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    study: &mut Study,
    request: &EnrolRequest<'_>,
    mut licence: Exclusivity,
) -> Result<Vec<Event>, ExecError> {
    let payee = *ctx.sender;
    let id = EnrolmentId::from(ctx.tx_id);
    let reward = study.reward;
    let paid = if ctx.tokens.is_some() { reward } else { 0 };
    if let Some(pool) = study.pool.filter(|_| reward > 0) {
        study.pool = pay_from_pool(
            ctx,
            &pool,
            &payee,
            reward,
            (LedgerKind::StudyReward, Some(study.researcher)),
        )?;
    }
    // Counted on a chain without tokens too, so the funding rules hold there as well.
    study.pooled -= reward;
    study.enrolled += 1;
    ctx.put(&keys::study(request.study), study);
    if study.exclusive {
        licence.exclusive_study = Some(*request.study);
    }
    licence.uses = licence.uses.saturating_add(1);
    ctx.put(&keys::exclusivity(request.exclusivity), &licence);
    ctx.put(
        &keys::study_nullifier(request.study, request.nullifier),
        &id,
    );
    ctx.put(
        &keys::enrolment(&id),
        &Enrolment {
            study: *request.study,
            payee,
            nullifier: *request.nullifier,
            exclusivity: *request.exclusivity,
            delegating_key: request.delegating_key.clone(),
            verifying_key: request.verifying_key.clone(),
            ciphertext_hash: *request.ciphertext_hash,
            reward: paid,
            height: ctx.env.height,
        },
    );
    ctx.append(&keys::study_enrolments(request.study).list, &id)?;
    Ok(vec![Event::Enrolled {
        study: *request.study,
        enrolment: id,
        reward: paid,
    }])
}

fn reencrypted<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EnrolmentId,
) -> Result<Vec<Event>, ExecError> {
    let proxy = *ctx.sender;
    let enrolment = ctx
        .value(&keys::enrolment(id))?
        .ok_or(ExecError::UnknownEnrolment(*id))?;
    let study = ctx
        .value(&keys::study(&enrolment.study))?
        .ok_or_else(|| StateError::Inconsistent(format!("enrolment {id} names a missing study")))?;
    if !study.proxies.contains(&proxy) {
        return Err(ExecError::NotStudyProxy);
    }
    let log = keys::reencryptions(id);
    // At most one entry per proxy of the study (at most 8), so the scan is short.
    for seq in 0.. {
        match ctx.value(&log.entry(seq))? {
            Some(logged) if logged == proxy => return Err(ExecError::AlreadyLogged),
            Some(_) => {}
            None => break,
        }
    }
    ctx.append(&log, &proxy)?;
    Ok(vec![Event::Reencrypted {
        enrolment: *id,
        proxy,
    }])
}
