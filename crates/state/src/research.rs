//! Research market module (S4-flow, S4-exclusive): circuits registered by the regulator,
//! hospital-attested record commitments in an on-chain accumulator, study contracts with a
//! token pool, zero-knowledge enrolments verified here, and the proxies' re-encryption log.
//!
//! | action | rule | error |
//! |---|---|---|
//! | register_circuit | the sender is the regulator | `NotRegulator` |
//! | register_circuit | the schema is one the proving system knows (`clinical_v1`) | `UnknownSchema` |
//! | register_circuit | the verifying key decodes, is not degenerate, proves over the schema's `N` attributes; not registered yet | `BadVerifyingKey`, `SchemaShapeMismatch`, `CircuitExists` |
//! | nullifier_key | the sender is a patient identity, with no key yet; the key is a field element | `NotEnrolled`, `NotAPatient`, `NullifierKeyExists`, `NotAFieldElement` |
//! | attest | the sender is the hospital identity of the (audited) organisation that released the record | `NotEnrolled`, `NotAHospital`, `OrgNotAudited`, `UnknownRecord`, `NotRecordHospital` |
//! | attest | one attestation per record; the patient filed a nullifier key; the commitment is a field element | `AlreadyAttested`, `NoNullifierKey`, `NotAFieldElement`, `AccumulatorFull` |
//! | register_proxy | the sender is a member of an audited cloud organisation, not a proxy yet | `NotCloudMember`, `ProxyExists` |
//! | publish | the sender is a member of an audited research organisation; purpose research | `NotResearchMember`, `NotResearchPurpose` |
//! | publish | the circuit is registered; the predicate decodes, is over the circuit's schema and fits its shape | `UnknownCircuit`, `BadPredicate`, `PredicateTooLarge` |
//! | publish | 1 ≤ threshold ≤ proxies, distinct registered proxies; ≥ 1 participant; deadline after the block; dispute window ≤ 30 days | `BadThreshold`, `DuplicateProxy`, `UnknownProxy`, `NoParticipants`, `DeadlineInPast`, `DisputeWindowTooLong` |
//! | publish | on a chain with tokens, the reward pays an enrolment's fee | `RewardBelowFee` |
//! | fund | the study's researcher, before the deadline, still a member of the study's organisation, which is audited; a positive amount it holds | `UnknownStudy`, `NotResearcher`, `StudyClosed`, `OrgNotAudited`, `ZeroFunding`, `InsufficientBalance` |
//! | enrol | the study is open, its researcher still a member of its audited organisation; not full; its pool pays the reward | `UnknownStudy`, `StudyClosed`, `OrgNotAudited`, `StudyFull`, `StudyUnfunded` |
//! | enrol | the root was the accumulator's; the nullifier is unused in the study | `UnknownRoot`, `AlreadyEnrolled` |
//! | enrol | S4-exclusive: no other study holds the record exclusively; an exclusive study takes no record used before | `ExclusivelyLicensed`, `SharedBefore` |
//! | enrol | the proof verifies (checked last: it is the expensive step) | `MalformedProof`, `ProofRejected` |
//! | reencrypted | the enrolment exists; the sender is one of its study's proxies, its cloud organisation still audited, logging once | `UnknownEnrolment`, `NotStudyProxy`, `OrgNotAudited`, `AlreadyLogged` |
//! | refund | the study's researcher, after the deadline, with free tokens left (owed rewards stay) | `UnknownStudy`, `NotResearcher`, `StudyStillOpen`, `NothingToRefund` |
//! | acknowledge | the study's researcher, on a pending enrolment | `UnknownEnrolment`, `NotResearcher`, `NotPending` |
//! | dispute | the study's researcher, on a pending enrolment, before deadline + dispute window | `UnknownEnrolment`, `NotResearcher`, `NotPending`, `DisputeWindowClosed` |
//! | resolve | the regulator, on a disputed enrolment | `NotRegulator`, `UnknownEnrolment`, `NotDisputed` |
//! | claim | the enrolment's payee; acknowledged, resolved to pay, or pending after deadline + dispute window; something owed | `UnknownEnrolment`, `NotPayee`, `ClaimTooEarly`, `NotClaimable`, `NothingOwed` |
//!
//! **Enrolment and what stays linkable.** A patient proves that its commitment is *one of* the
//! attested commitments (membership under an accumulator root the chain had), so an enrolment
//! names neither the record nor the patient, and is not linked to the release or the
//! attestation; it is filed by a one-time key. The per (patient, study) nullifier refuses a
//! second enrolment in a study. The per record exclusivity nullifier carries exclusive licences
//! across studies (S4-exclusive), and for that it is the same in every study: **all enrolments of
//! one record are linkable to each other** (and so are their one-time payees), by design —
//! not to the patient nor to the release. A patient who wants two sales unlinked needs a
//! fresh attestation (a new commitment) per copy. The proof's public `binding` commits to the
//! sender and the keys the proxies will use ([`medchain_types::research::enrolment_binding`]),
//! so a proof copied from the mempool is useless to anyone else.
//!
//! **What an exclusive licence binds.** The research market only: every study checks the
//! exclusivity nullifier. The ordinary consent path (`consent.grant`) is the patient's own
//! act on a record it names, and cannot see that nullifier (it is unlinkable to the record id),
//! so a patient can still grant a research-purpose consent on a record it licensed
//! exclusively; the patient's client refuses to, which is honesty on the client's side, not a
//! rule of the chain.
//!
//! **Attestations stand.** An attestation made while its hospital was audited stays valid:
//! every root the accumulator had is kept, membership hides the leaf, and there is no
//! revocation, so suspending a hospital later stops its new attestations, not enrolments
//! against its earlier ones (retiring roots by epoch is future work).
//!
//! **Accountable payment.** The proof shows that *some* attested record satisfies the
//! predicate and fixes the public `delivery` tag, which commits to the released record's hash;
//! the record the patient then hands over through the proxies is checked by the researcher
//! against it, off chain. So an enrolment pays only an *advance*, `min(fee, reward)`, which
//! lets the one-time address pay its own fee; the rest is *owed*, kept in the pool and
//! recorded on the enrolment. The researcher acknowledges a matching record (the owed reward
//! becomes claimable) or disputes a mismatch before `deadline + dispute window` (frozen until
//! the regulator resolves it: pay, or return it to the pool). An enrolment neither
//! acknowledged nor disputed when the window ends is claimable, so a researcher who stays
//! silent still pays. The payee claims with the same one-time key; the claim's fee is prepaid
//! from what it takes ([`prepaid_by_reward`]).
//!
//! **Pool.** On a chain with tokens, funding moves tokens from the researcher's balance into one
//! output locked to the study (`Lock::Escrow(study id)`), which only this module spends: the
//! output holds the study's free tokens (`pooled`) and what it owes its enrolments (`owed`).
//! An enrolment moves its reward from free to owed and pays its advance; a claim pays an owed
//! reward; a refund after the deadline returns the free tokens only. On a chain without tokens
//! the free amount is counted but nothing moves and nothing is owed.
//!
//! **Organisations stay audited.** Like every other institution action, a study's researcher
//! must still be a member of the study's organisation, and that organisation audited, when its
//! study is funded or takes an enrolment; a proxy's cloud organisation must be audited when it
//! logs a re-encryption (S2-state).

use crate::{
    ExecError, StateError, StateRead, StateReadExt,
    context::TxContext,
    identity::enrolled,
    keys, licence, records, registry,
    token::{self, lock_in_pool, pay_from_pool},
    values::{
        AccumulatorState, Attestation, ChainConfig, Circuit, Enrolment, Exclusivity, LedgerKind,
        Proxy, Settlement, ShortText, Study, TokenConfig,
    },
};
use commonware_codec::{EncodeSize, FixedSize};
use medchain_types::{
    Address, ContentHash, EnrolmentId, EscrowId, Event, Hash32, OrgKind, Payload, Purpose,
    RecordId, Role, Signature, StudyId, TxBody, Uri, limits,
    research::{ResearchPayload, ZkBytes, enrolment_binding},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, LazyLock, Mutex},
};

/// Executes a research action; `fee` is the transaction's (an enrolment's advance pays it).
pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &ResearchPayload,
    fee: u64,
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
            dispute_window_ms,
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
                dispute_window_ms: *dispute_window_ms,
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
            delivery,
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
                delivery,
                fee,
                proof,
                delegating_key,
                verifying_key,
                ciphertext_hash,
            },
        ),
        ResearchPayload::Reencrypted { enrolment } => reencrypted(ctx, enrolment),
        ResearchPayload::Refund { study } => refund(ctx, study),
        ResearchPayload::Acknowledge { enrolment } => acknowledge(ctx, enrolment),
        ResearchPayload::Dispute { enrolment } => dispute(ctx, enrolment),
        ResearchPayload::Resolve { enrolment, pay } => resolve(ctx, enrolment, *pay),
        ResearchPayload::Claim { enrolment } => claim(ctx, enrolment),
    }
}

/// S1-tokens admission: what a transaction will be credited from a study's pool before its
/// fee is charged, judged on `state`'s last block, so a one-time address that holds nothing
/// can afford its fee:
/// - `research.enrol`: the reward of an open, funded study with room left whose researcher is
///   still a member of its audited organisation. The enrolment itself is credited the advance
///   `min(fee, reward)`, which covers the fee exactly when the reward does.
/// - `research.claim`: the enrolment's owed reward, when it is claimable (whoever sends it:
///   execution refuses a sender that is not the payee).
///
/// 0 for anything else, and on a chain without tokens.
pub fn prepaid_by_reward(state: &impl StateRead, payload: &Payload) -> Result<u64, StateError> {
    let Payload::Research(payload) = payload else {
        return Ok(0);
    };
    if token::config(state)?.is_none() {
        return Ok(0);
    }
    let now = state
        .value(&keys::block_info())?
        .ok_or(StateError::NoGenesis)?
        .timestamp_ms;
    match payload {
        ResearchPayload::Enrol { study, .. } => {
            let Some(study) = state.value(&keys::study(study))? else {
                return Ok(0);
            };
            let pays = now < study.deadline_ms
                && study.enrolled < study.max_participants
                && study.pooled >= study.reward
                && researcher_in_good_standing(state, &study)?;
            Ok(if pays { study.reward } else { 0 })
        }
        ResearchPayload::Claim { enrolment } => {
            let Some(enrolment) = state.value(&keys::enrolment(enrolment))? else {
                return Ok(0);
            };
            let Some(study) = state.value(&keys::study(&enrolment.study))? else {
                return Ok(0);
            };
            Ok(match claimable(&enrolment, &study, now) {
                Ok(()) => enrolment.owed,
                Err(_) => 0,
            })
        }
        _ => Ok(0),
    }
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
    let known = known_schema(schema)?;
    let vk = zk::VerifyingKey::from_bytes(verifying_key.as_slice())
        .map_err(|e| ExecError::BadVerifyingKey(e.to_string()))?;
    if vk.shape().num_attributes() != known.num_attributes() {
        return Err(ExecError::SchemaShapeMismatch {
            schema: known.num_attributes(),
            key: vk.shape().num_attributes(),
        });
    }
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

/// The record schema named `id`, if the proving system knows it. The verifying key does not
/// carry a schema, so the chain pins the pairing here: a study's predicate must be over its
/// circuit's schema, and the key must prove over that schema's `N` attributes.
fn known_schema(id: &str) -> Result<zk::Schema, ExecError> {
    let clinical = zk::Schema::clinical_v1();
    if id == clinical.id() {
        Ok(clinical)
    } else {
        Err(ExecError::UnknownSchema(id.to_owned()))
    }
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
    dispute_window_ms: u64,
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
        dispute_window_ms,
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
    let vk = registered_verifying_key(circuit, &registered)?;
    let decoded = zk::Predicate::from_bytes(predicate.as_slice())
        .map_err(|e| ExecError::BadPredicate(e.to_string()))?;
    if decoded.schema_id() != registered.schema.0 {
        return Err(ExecError::BadPredicate(format!(
            "the predicate is over schema {}, the circuit proves over {}",
            decoded.schema_id(),
            registered.schema.0
        )));
    }
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
    if dispute_window_ms > limits::MAX_DISPUTE_WINDOW_MS {
        return Err(ExecError::DisputeWindowTooLong {
            window_ms: dispute_window_ms,
        });
    }
    let id = StudyId::from(ctx.tx_id);
    if let Some(tokens) = ctx.tokens {
        let fee = enrolment_fee(tokens, ctx.chain, &id);
        if reward < fee {
            return Err(ExecError::RewardBelowFee { reward, fee });
        }
    }
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
            dispute_window_ms,
            exclusive,
            researcher_key: researcher_key.clone(),
            proxies: proxies.to_vec(),
            threshold,
            pool: None,
            pooled: 0,
            owed: 0,
            enrolled: 0,
            published_at: ctx.env.height,
        },
    );
    ctx.append(&keys::studies().list, &id)?;
    Ok(vec![Event::StudyPublished { study: id }])
}

/// The least fee of an enrolment in study `study` on this chain: the fee schedule applied to
/// the largest signed `research.enrol` (every variable field at its longest), so a reward of
/// at least this pays any enrolment's minimum fee.
fn enrolment_fee(tokens: &TokenConfig, chain: &ChainConfig, study: &StudyId) -> u64 {
    let umbral_key = || ZkBytes(vec![0; limits::UMBRAL_PUBLIC_KEY_BYTES]);
    let payload = Payload::Research(ResearchPayload::Enrol {
        study: *study,
        root: study.0,
        nullifier: study.0,
        exclusivity: study.0,
        delivery: study.0,
        proof: ZkBytes(vec![0; limits::ZK_PROOF_BYTES]),
        delegating_key: umbral_key(),
        verifying_key: umbral_key(),
        ciphertext_hash: ContentHash::of(b""),
    });
    let body = TxBody {
        chain_id: chain.chain_id.clone(),
        sender: Address::from_bytes([0; 32]),
        nonce: u64::MAX,
        valid_until_ms: u64::MAX,
        fee: u64::MAX,
        payload,
    };
    tokens
        .fees
        .min_fee_for(&body.payload, body.encode_size() + Signature::SIZE)
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

/// Decoded verifying keys by circuit id. A registered key is immutable and its id is the
/// digest of its encoding, so this cache is content-addressed: it cannot change a result, only
/// spare every publish and enrolment the key's validation and preparation (which cost about
/// as much as verifying the proof). It holds one entry per registered circuit.
static VERIFYING_KEYS: LazyLock<Mutex<BTreeMap<Hash32, Arc<zk::VerifyingKey>>>> =
    LazyLock::new(Mutex::default);

/// The verifying key of the registered circuit `id`; it was validated when registered, so a
/// failure here is a broken state.
fn registered_verifying_key(
    id: &Hash32,
    circuit: &Circuit,
) -> Result<Arc<zk::VerifyingKey>, StateError> {
    // A poisoned lock only means another thread panicked mid-insert; the map is still a map
    // of valid keys, so keep using it.
    let cached = |cache: &BTreeMap<_, Arc<_>>| cache.get(id).cloned();
    if let Some(vk) = cached(&VERIFYING_KEYS.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(vk);
    }
    let vk = zk::VerifyingKey::from_bytes(circuit.verifying_key.as_slice()).map_err(|e| {
        StateError::Inconsistent(format!("a registered verifying key does not decode: {e}"))
    })?;
    if Hash32::from(vk.digest()) != *id {
        return Err(StateError::Inconsistent(format!(
            "the verifying key registered as {} has another digest",
            hex::encode(id)
        )));
    }
    let vk = Arc::new(vk);
    VERIFYING_KEYS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(*id, Arc::clone(&vk));
    Ok(vk)
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

/// Whether the study's researcher is still a member of the study's organisation, and that
/// organisation audited (S2-state: a suspended organisation takes no more records).
fn researcher_in_good_standing(state: &impl StateRead, study: &Study) -> Result<bool, StateError> {
    Ok(
        registry::audited_org_of(state, &study.researcher)?
            .is_some_and(|org| org.name == study.org),
    )
}

fn ensure_researcher_in_good_standing(
    state: &impl StateRead,
    study: &Study,
) -> Result<(), ExecError> {
    if !researcher_in_good_standing(state, study)? {
        return Err(ExecError::OrgNotAudited(study.org.clone()));
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
    ensure_researcher_in_good_standing(ctx, &study)?;
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
    // Only the free tokens: what the study owes its enrolments stays until claimed.
    let amount = study.pooled;
    if amount == 0 {
        return Err(ExecError::NothingToRefund);
    }
    if let Some(pool) = study.pool {
        let researcher = study.researcher;
        study.pool = pay_from_pool(
            ctx,
            &pool,
            pool_lock(id),
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
    delivery: &'a Hash32,
    /// The transaction's fee, which the advance pays.
    fee: u64,
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
    ensure_researcher_in_good_standing(ctx, study)?;
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
    let vk = registered_verifying_key(&study.circuit, &registered_circuit(ctx, &study.circuit)?)?;
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
        zk::DeliveryTag::from_bytes(request.delivery.as_ref()).map_err(malformed)?,
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

/// Writes an accepted enrolment: the enrolment, its nullifiers, the study's count and pool.
/// The reward leaves the study's free tokens; the sender (the one-time enrolling address) is
/// paid the advance, `min(fee, reward)`, and the rest is owed until settled.
fn record_enrolment<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    study: &mut Study,
    request: &EnrolRequest<'_>,
    mut licence: Exclusivity,
) -> Result<Vec<Event>, ExecError> {
    let payee = *ctx.sender;
    let id = EnrolmentId::from(ctx.tx_id);
    let reward = study.reward;
    let (advance, owed) = match ctx.tokens {
        Some(_) => (request.fee.min(reward), reward - request.fee.min(reward)),
        None => (0, 0),
    };
    if advance > 0 {
        let pool = study.pool.ok_or_else(|| {
            StateError::Inconsistent(format!("study {} has tokens but no pool", request.study))
        })?;
        study.pool = pay_from_pool(
            ctx,
            &pool,
            pool_lock(request.study),
            &payee,
            advance,
            (LedgerKind::StudyReward, Some(study.researcher)),
        )?;
    }
    // Counted on a chain without tokens too, so the funding rules hold there as well.
    study.pooled -= reward;
    study.owed = study
        .owed
        .checked_add(owed)
        .ok_or(ExecError::AmountOverflow)?;
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
            delivery: *request.delivery,
            advance,
            owed,
            settlement: Settlement::Pending,
            height: ctx.env.height,
        },
    );
    ctx.append(&keys::study_enrolments(request.study).list, &id)?;
    Ok(vec![Event::Enrolled {
        study: *request.study,
        enrolment: id,
        reward: advance,
        owed,
    }])
}

fn reencrypted<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EnrolmentId,
) -> Result<Vec<Event>, ExecError> {
    let proxy = *ctx.sender;
    let (_, study) = enrolment_and_study(ctx, id)?;
    if !study.proxies.contains(&proxy) {
        return Err(ExecError::NotStudyProxy);
    }
    let registered = ctx.value(&keys::proxy(&proxy))?.ok_or_else(|| {
        StateError::Inconsistent(format!("study proxy {proxy} is not registered"))
    })?;
    if !registry::audited_org_of(ctx, &proxy)?.is_some_and(|org| org.name == registered.org) {
        return Err(ExecError::OrgNotAudited(registered.org));
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

// Settlement of owed rewards.

/// The enrolment `id` and its study.
fn enrolment_and_study(
    state: &impl StateRead,
    id: &EnrolmentId,
) -> Result<(Enrolment, Study), ExecError> {
    let enrolment = state
        .value(&keys::enrolment(id))?
        .ok_or(ExecError::UnknownEnrolment(*id))?;
    let study = state
        .value(&keys::study(&enrolment.study))?
        .ok_or_else(|| StateError::Inconsistent(format!("enrolment {id} names a missing study")))?;
    Ok((enrolment, study))
}

/// When the researcher can no longer dispute, and a pending owed reward becomes claimable.
fn dispute_window_end(study: &Study) -> u64 {
    study.deadline_ms.saturating_add(study.dispute_window_ms)
}

/// The enrolment `id` and its study, if the sender is the study's researcher and the
/// enrolment is pending.
fn pending_of_own_study<R: StateRead>(
    ctx: &TxContext<'_, R>,
    id: &EnrolmentId,
) -> Result<(Enrolment, Study), ExecError> {
    let (enrolment, study) = enrolment_and_study(ctx, id)?;
    if study.researcher != *ctx.sender {
        return Err(ExecError::NotResearcher);
    }
    if enrolment.settlement != Settlement::Pending {
        return Err(ExecError::NotPending {
            settlement: enrolment.settlement,
        });
    }
    Ok((enrolment, study))
}

fn acknowledge<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EnrolmentId,
) -> Result<Vec<Event>, ExecError> {
    let (mut enrolment, _) = pending_of_own_study(ctx, id)?;
    enrolment.settlement = Settlement::Acknowledged;
    ctx.put(&keys::enrolment(id), &enrolment);
    Ok(vec![Event::EnrolmentAcknowledged { enrolment: *id }])
}

fn dispute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EnrolmentId,
) -> Result<Vec<Event>, ExecError> {
    let (mut enrolment, study) = pending_of_own_study(ctx, id)?;
    let closed_at_ms = dispute_window_end(&study);
    if ctx.env.timestamp_ms >= closed_at_ms {
        return Err(ExecError::DisputeWindowClosed { closed_at_ms });
    }
    enrolment.settlement = Settlement::Disputed;
    ctx.put(&keys::enrolment(id), &enrolment);
    Ok(vec![Event::EnrolmentDisputed { enrolment: *id }])
}

fn resolve<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EnrolmentId,
    pay: bool,
) -> Result<Vec<Event>, ExecError> {
    if *ctx.sender != ctx.chain.regulator {
        return Err(ExecError::NotRegulator);
    }
    let (mut enrolment, mut study) = enrolment_and_study(ctx, id)?;
    if enrolment.settlement != Settlement::Disputed {
        return Err(ExecError::NotDisputed {
            settlement: enrolment.settlement,
        });
    }
    enrolment.settlement = Settlement::Resolved { pay };
    if !pay {
        // Back to the free tokens: a later refund (or enrolment) may use them.
        study.owed = owed_less(&study, enrolment.owed)?;
        study.pooled = study
            .pooled
            .checked_add(enrolment.owed)
            .ok_or(ExecError::AmountOverflow)?;
        ctx.put(&keys::study(&enrolment.study), &study);
    }
    ctx.put(&keys::enrolment(id), &enrolment);
    Ok(vec![Event::DisputeResolved {
        enrolment: *id,
        pay,
    }])
}

/// Whether the enrolment's owed reward may be claimed at `now`.
fn claimable(enrolment: &Enrolment, study: &Study, now: u64) -> Result<(), ExecError> {
    match enrolment.settlement {
        Settlement::Acknowledged | Settlement::Resolved { pay: true } => {}
        Settlement::Pending => {
            let claimable_at_ms = dispute_window_end(study);
            if now < claimable_at_ms {
                return Err(ExecError::ClaimTooEarly { claimable_at_ms });
            }
        }
        settlement => return Err(ExecError::NotClaimable { settlement }),
    }
    if enrolment.owed == 0 {
        return Err(ExecError::NothingOwed);
    }
    Ok(())
}

fn claim<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &EnrolmentId,
) -> Result<Vec<Event>, ExecError> {
    let (mut enrolment, mut study) = enrolment_and_study(ctx, id)?;
    let payee = *ctx.sender;
    if enrolment.payee != payee {
        return Err(ExecError::NotPayee);
    }
    claimable(&enrolment, &study, ctx.env.timestamp_ms)?;
    let amount = enrolment.owed;
    let pool = study.pool.ok_or_else(|| {
        StateError::Inconsistent(format!(
            "study {} owes {amount} but has no pool",
            enrolment.study
        ))
    })?;
    study.pool = pay_from_pool(
        ctx,
        &pool,
        pool_lock(&enrolment.study),
        &payee,
        amount,
        (LedgerKind::StudyRewardClaimed, Some(study.researcher)),
    )?;
    study.owed = owed_less(&study, amount)?;
    enrolment.settlement = Settlement::Claimed;
    ctx.put(&keys::study(&enrolment.study), &study);
    ctx.put(&keys::enrolment(id), &enrolment);
    Ok(vec![Event::RewardClaimed {
        enrolment: *id,
        payee,
        amount,
    }])
}

/// The study's owed total less one enrolment's owed reward, which it always includes.
fn owed_less(study: &Study, owed: u64) -> Result<u64, StateError> {
    study.owed.checked_sub(owed).ok_or_else(|| {
        StateError::Inconsistent(format!(
            "a study owes {} in all, less than one enrolment's {owed}",
            study.owed
        ))
    })
}
