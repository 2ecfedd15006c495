//! Access module (S1-rights): the chain decides every access request and records the answer
//! in the patient's access log, so a patient can later read (and verify) who asked for what,
//! when, and whether it was allowed (S3-emergency: "after recovery C can read who accessed
//! what").
//!
//! Deny by default. For a request by `requester` for `record` and `purpose`, in order:
//!
//! | condition | decision |
//! |---|---|
//! | the record does not exist | rejected (`UnknownRecord`), nothing logged |
//! | requester is the record's patient | allowed, no consent needed |
//! | requester is not a member of an audited organisation | denied, `RequesterNotAudited` |
//! | no consent for (requester, record, purpose) | denied, `NoConsent` |
//! | the newest such consent is revoked | denied, `ConsentRevoked` |
//! | it has expired (height ≥ `AtHeight`, or block time ≥ `AtTime`) | denied, `ConsentExpired` |
//! | otherwise | allowed, citing the consent |
//!
//! A request succeeds either way (the nonce moves, the decision is logged under
//! `log/<patient><seq>` and emitted as `Event::AccessDecided`): a denial is a fact worth
//! keeping, not an invalid transaction.
//!
//! **Rewards** (S1-tokens). On a chain with tokens, an access allowed under a consent pays
//! the patient the consent's reward, from the signer. The patient alone sets that price and
//! may re-grant at another one at any time, so a request or served request names the most
//! its signer pays (`max_reward`); a consent asking more rejects the transaction
//! (`RewardAboveLimit`: nothing logged, nonce and balances unchanged).
//!
//! **Served requests** (`access.serve`, S3-share, S3-emergency). A doctor asks the gateway of
//! the hospital holding the record off chain; the gateway files the request for `requester`
//! with the grounds it rests on, and the chain decides and logs it (with `served_by`, the
//! gateway's address). The gateway releases the record only if the logged decision allows it.
//!
//! | condition | decision |
//! |---|---|
//! | the record does not exist | rejected (`UnknownRecord`), nothing logged |
//! | the sender is not the hospital identity of the organisation that released the record (a doctor or staff member of it is not) | rejected (`NotRecordHolder`), nothing logged |
//! | grounds `Refused(r)`: the gateway's off-chain checks (TAKA) failed | denied, the refusal's reason |
//! | grounds `Consent` or `Emergency`: requester is not an enrolled doctor | denied, `NotADoctor` |
//! | … the doctor is on the revocation list (S3-revoke) | denied, `DoctorRevoked` |
//! | … has no licence, or it expired before the block's time (S3-register) | denied, `Unlicensed`, `LicenceExpired` |
//! | … its licence's organisation is not audited (S2-state) | denied, `RequesterNotAudited` |
//! | `Consent`: no consent, revoked, expired (as for a request above) | denied, `NoConsent`, `ConsentRevoked`, `ConsentExpired` |
//! | `Consent`: otherwise | allowed, citing the consent |
//! | `Emergency(id)`: no such emergency request | denied, `NoEmergency` |
//! | … it names another record or another doctor | denied, `EmergencyMismatch` |
//! | … it was filed more than `EMERGENCY_WINDOW_MS` before the block | denied, `EmergencyExpired` |
//! | `Emergency(id)`: otherwise | break-glass, citing the emergency request |
//!
//! For `Emergency`, the emergency checks come before the doctor's: the doctor's standing was
//! checked when the request was filed ([`crate::emergency`]) and is checked again here, since
//! a licence may have been revoked in between.

use crate::{
    BlockEnv, ExecError, StateError, StateRead, StateReadExt,
    consent::is_expired,
    context::TxContext,
    identity::enrolled,
    keys,
    licence::practising,
    records::{existing_record, is_releasing_hospital},
    registry::audited_org_of,
    token,
    values::{AccessLogEntry, Record},
};
use medchain_types::{
    AccessDecision, AccessGrounds, AccessPayload, Address, DenyReason, EmergencyId, Event, Purpose,
    RecordId, Role, limits::EMERGENCY_WINDOW_MS,
};

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &AccessPayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        AccessPayload::Request {
            record,
            purpose,
            max_reward,
        } => {
            let requester = *ctx.sender;
            let released = existing_record(ctx, record)?;
            let decision = decide(ctx, ctx.env, &requester, record, &released, *purpose)?;
            let asked = Asked {
                requester,
                record: *record,
                purpose: *purpose,
                served_by: None,
                max_reward: *max_reward,
            };
            log(ctx, &released, asked, decision)
        }
        AccessPayload::Serve {
            requester,
            record,
            purpose,
            grounds,
            max_reward,
        } => {
            let gateway = *ctx.sender;
            let released = existing_record(ctx, record)?;
            if !is_releasing_hospital(ctx, &released, &gateway)? {
                return Err(ExecError::NotRecordHolder(*record));
            }
            let decision = decide_served(ctx, ctx.env, requester, record, *purpose, grounds)?;
            let asked = Asked {
                requester: *requester,
                record: *record,
                purpose: *purpose,
                served_by: Some(gateway),
                max_reward: *max_reward,
            };
            log(ctx, &released, asked, decision)
        }
    }
}

/// What a request or a served request asks: who, for which record and purpose, through which
/// gateway, and the most its signer pays.
struct Asked {
    requester: Address,
    record: RecordId,
    purpose: Purpose,
    served_by: Option<Address>,
    max_reward: u64,
}

/// Logs a decision in the patient's access log and emits it. An access allowed under a
/// consent pays the patient the consent's reward (S1-tokens), from the sender: the requester,
/// or the gateway serving a request (the signer; no one else's balance is debited without
/// their signature), and never more than the `max_reward` it signed. Without the balance, or
/// above that bound, the transaction is rejected and nothing is logged, so an unfunded
/// requester cannot fill a patient's log for free.
fn log<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    released: &Record,
    asked: Asked,
    decision: AccessDecision,
) -> Result<Vec<Event>, ExecError> {
    let Asked {
        requester,
        record,
        purpose,
        served_by,
        max_reward,
    } = asked;
    let entry = AccessLogEntry {
        requester,
        record,
        purpose,
        decision: decision.clone(),
        height: ctx.env.height,
        timestamp_ms: ctx.env.timestamp_ms,
        tx: ctx.tx_id,
        served_by,
    };
    append_log(ctx, released.patient, entry)?;
    let reward = match &decision {
        AccessDecision::Allowed {
            consent: Some(consent),
        } => {
            let payer = *ctx.sender;
            token::pay_access_reward(ctx, consent, &payer, max_reward)?
        }
        _ => None,
    };
    Ok(std::iter::once(Event::AccessDecided {
        record,
        requester,
        purpose,
        decision,
    })
    .chain(reward)
    .collect())
}

/// What the chain answers `requester` asking for `record` for `purpose` in the block `env`,
/// following the table above. Read-only: a gateway may preview a decision with it, but only
/// a logged decision counts.
pub fn decision(
    state: &impl StateRead,
    env: BlockEnv,
    requester: &Address,
    record: &RecordId,
    purpose: Purpose,
) -> Result<AccessDecision, ExecError> {
    let released = existing_record(state, record)?;
    decide(state, env, requester, record, &released, purpose)
}

/// What the chain answers a gateway serving `requester`'s request for `record` on `grounds`
/// in the block `env`, following the served-requests table above. Read-only, like
/// [`decision`]: a gateway may preview with it, but only a logged decision counts.
pub fn served_decision(
    state: &impl StateRead,
    env: BlockEnv,
    requester: &Address,
    record: &RecordId,
    purpose: Purpose,
    grounds: &AccessGrounds,
) -> Result<AccessDecision, ExecError> {
    existing_record(state, record)?;
    decide_served(state, env, requester, record, purpose, grounds)
}

fn decide(
    state: &impl StateRead,
    env: BlockEnv,
    requester: &Address,
    record: &RecordId,
    released: &Record,
    purpose: Purpose,
) -> Result<AccessDecision, ExecError> {
    if released.patient == *requester {
        return Ok(AccessDecision::Allowed { consent: None });
    }
    if audited_org_of(state, requester)?.is_none() {
        return Ok(denied(DenyReason::RequesterNotAudited));
    }
    consent_decision(state, env, requester, record, purpose)
}

fn decide_served(
    state: &impl StateRead,
    env: BlockEnv,
    requester: &Address,
    record: &RecordId,
    purpose: Purpose,
    grounds: &AccessGrounds,
) -> Result<AccessDecision, ExecError> {
    match grounds {
        AccessGrounds::Refused(refusal) => Ok(denied(DenyReason::from(*refusal))),
        AccessGrounds::Consent => Ok(match doctor_denial(state, env, requester)? {
            Some(reason) => denied(reason),
            None => consent_decision(state, env, requester, record, purpose)?,
        }),
        AccessGrounds::Emergency(id) => emergency_decision(state, env, requester, record, id),
    }
}

fn emergency_decision(
    state: &impl StateRead,
    env: BlockEnv,
    requester: &Address,
    record: &RecordId,
    id: &EmergencyId,
) -> Result<AccessDecision, ExecError> {
    let Some(emergency) = state.value(&keys::emergency(id))? else {
        return Ok(denied(DenyReason::NoEmergency));
    };
    if emergency.record != *record || emergency.doctor_address != *requester {
        return Ok(denied(DenyReason::EmergencyMismatch));
    }
    if env.timestamp_ms.saturating_sub(emergency.timestamp_ms) > EMERGENCY_WINDOW_MS {
        return Ok(denied(DenyReason::EmergencyExpired));
    }
    Ok(match doctor_denial(state, env, requester)? {
        Some(reason) => denied(reason),
        None => AccessDecision::BreakGlass { emergency: *id },
    })
}

/// Why `requester` may not be served as a doctor at the block's time, if it may not: the
/// release rule's checks ([`practising`]) as deny reasons.
fn doctor_denial(
    state: &impl StateRead,
    env: BlockEnv,
    requester: &Address,
) -> Result<Option<DenyReason>, ExecError> {
    let doctor = match enrolled(state, requester) {
        Ok(identity) if identity.role == Role::Doctor => identity,
        Ok(_) | Err(ExecError::NotEnrolled) => return Ok(Some(DenyReason::NotADoctor)),
        Err(error) => return Err(error),
    };
    match practising(state, &doctor, env.timestamp_ms) {
        Ok(_) => Ok(None),
        Err(ExecError::DoctorRevoked(_)) => Ok(Some(DenyReason::DoctorRevoked)),
        Err(ExecError::Unlicensed(_)) => Ok(Some(DenyReason::Unlicensed)),
        Err(ExecError::LicenceExpired { .. }) => Ok(Some(DenyReason::LicenceExpired)),
        Err(ExecError::OrgNotAudited(_)) => Ok(Some(DenyReason::RequesterNotAudited)),
        Err(error) => Err(error),
    }
}

/// The consent rules: the newest consent for (requester, record, purpose) must exist, be
/// unrevoked and unexpired.
fn consent_decision(
    state: &impl StateRead,
    env: BlockEnv,
    requester: &Address,
    record: &RecordId,
    purpose: Purpose,
) -> Result<AccessDecision, ExecError> {
    let Some(id) = state.value(&keys::grant(requester, record, purpose))? else {
        return Ok(denied(DenyReason::NoConsent));
    };
    // The index only ever points at a stored consent; a dangling pointer is corruption.
    let consent = state.value(&keys::consent(&id))?.ok_or_else(|| {
        StateError::Inconsistent(format!("grant index points at missing consent {id}"))
    })?;
    Ok(if consent.revoked_at.is_some() {
        denied(DenyReason::ConsentRevoked)
    } else if is_expired(consent.expiry, env) {
        denied(DenyReason::ConsentExpired)
    } else {
        AccessDecision::Allowed { consent: Some(id) }
    })
}

fn denied(reason: DenyReason) -> AccessDecision {
    AccessDecision::Denied { reason }
}

/// Appends to the patient's log: entry `seq` under `log/<patient><seq>`, and `seq + 1` under
/// `logseq/<patient>`.
fn append_log<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    patient: Address,
    entry: AccessLogEntry,
) -> Result<(), ExecError> {
    let len_key = keys::access_log_len(&patient);
    let seq = ctx.value(&len_key)?.unwrap_or(0);
    ctx.put(&keys::access_log_entry(&patient, seq), &entry);
    ctx.put(&len_key, &seq.saturating_add(1));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{
        Actor, BLOCK_INTERVAL_MS, Cast, Sharing, World, doctor_identity, enrol_doctor, join,
        lift_revocation, org_name, renew_licence, request, revoke, revoke_doctor, serve, set_state,
    };
    use medchain_types::{Expiry, Hash32, OrgState, RefusalReason};

    struct Setup {
        world: World,
        patient: Actor,
        grantee: Actor,
        record: RecordId,
    }

    /// A record of `patient`, and a grantee doctor at another audited hospital.
    fn setup() -> Setup {
        let Cast {
            mut world,
            doctor,
            grantee,
            patient,
        } = Cast::new();
        let record = world.released(&doctor, &patient, b"EMR");
        Setup {
            world,
            patient,
            grantee,
            record,
        }
    }

    /// Runs a request and returns its decision, checking the event and the log entry.
    fn ask(
        world: &mut World,
        requester: &Actor,
        record: RecordId,
        purpose: Purpose,
        patient: &Actor,
    ) -> AccessDecision {
        let payload = request(&record, purpose);
        run_logged(
            world, requester, payload, requester, record, purpose, patient,
        )
    }

    /// Runs `gateway`'s serving of `requester`'s request and returns its decision, checking
    /// the event and the log entry (which names the gateway).
    fn served(
        world: &mut World,
        gateway: &Actor,
        requester: &Actor,
        (record, purpose): (RecordId, Purpose),
        grounds: AccessGrounds,
        patient: &Actor,
    ) -> AccessDecision {
        let payload = serve(&requester.address, &record, purpose, grounds);
        run_logged(world, gateway, payload, requester, record, purpose, patient)
    }

    /// Runs `payload` signed by `signer` (the requester itself, or the gateway serving it),
    /// checks it logged one decision for `requester` in `patient`'s log, and returns it.
    fn run_logged(
        world: &mut World,
        signer: &Actor,
        payload: medchain_types::Payload,
        requester: &Actor,
        record: RecordId,
        purpose: Purpose,
        patient: &Actor,
    ) -> AccessDecision {
        let before = world
            .value(&keys::access_log_len(&patient.address))
            .unwrap_or(0);
        let tx = world.tx(signer, payload);
        let events = world.run_tx(&tx).unwrap();
        let [
            Event::AccessDecided {
                record: r,
                requester: who,
                purpose: p,
                decision,
            },
        ] = events.as_slice()
        else {
            panic!("expected one AccessDecided event, got {events:?}");
        };
        assert_eq!((r, who, p), (&record, &requester.address, &purpose));
        assert_eq!(
            world.value(&keys::access_log_len(&patient.address)),
            Some(before + 1)
        );
        let entry = world
            .value(&keys::access_log_entry(&patient.address, before))
            .unwrap();
        assert_eq!(
            entry,
            AccessLogEntry {
                requester: requester.address,
                record,
                purpose,
                decision: decision.clone(),
                height: world.height(),
                timestamp_ms: world.timestamp_ms(),
                tx: tx.id(),
                served_by: (signer.address != requester.address).then_some(signer.address),
            }
        );
        decision.clone()
    }

    fn denial(reason: DenyReason) -> AccessDecision {
        AccessDecision::Denied { reason }
    }

    #[test]
    fn the_patient_reads_its_own_record_without_consent() {
        let Setup {
            mut world,
            patient,
            record,
            ..
        } = setup();
        assert_eq!(
            ask(&mut world, &patient, record, Purpose::Treatment, &patient),
            AccessDecision::Allowed { consent: None }
        );
    }

    #[test]
    fn access_is_denied_by_default_and_allowed_under_a_live_consent() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
        } = setup();
        assert_eq!(
            ask(&mut world, &grantee, record, Purpose::Treatment, &patient),
            denial(DenyReason::NoConsent)
        );
        let id = world.granted(&patient, &grantee, record, Expiry::AtHeight(1_000));
        assert_eq!(
            ask(&mut world, &grantee, record, Purpose::Treatment, &patient),
            AccessDecision::Allowed { consent: Some(id) }
        );
        // The consent is for one purpose only.
        assert_eq!(
            ask(&mut world, &grantee, record, Purpose::Research, &patient),
            denial(DenyReason::NoConsent)
        );
    }

    #[test]
    fn requesters_outside_audited_orgs_are_denied_even_with_consent() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
        } = setup();
        world.granted(&patient, &grantee, record, Expiry::AtHeight(1_000));
        let regulator = world.regulator.clone();
        world
            .run(
                &regulator,
                set_state(&org_name("Busan Clinic"), OrgState::Suspended),
            )
            .unwrap();
        assert_eq!(
            ask(&mut world, &grantee, record, Purpose::Treatment, &patient),
            denial(DenyReason::RequesterNotAudited)
        );
        let stranger = Actor::new(70);
        assert_eq!(
            ask(&mut world, &stranger, record, Purpose::Treatment, &patient),
            denial(DenyReason::RequesterNotAudited)
        );
    }

    #[test]
    fn revoked_consents_deny() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
        } = setup();
        let id = world.granted(&patient, &grantee, record, Expiry::AtHeight(1_000));
        world.run(&patient, revoke(&id)).unwrap();
        assert_eq!(
            ask(&mut world, &grantee, record, Purpose::Treatment, &patient),
            denial(DenyReason::ConsentRevoked)
        );
    }

    #[test]
    fn consents_expire_by_height_and_by_time() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
        } = setup();
        let next = world.next_env();
        // Valid in the next block only (the one that carries the grant), expired afterwards.
        world.granted(
            &patient,
            &grantee,
            record,
            Expiry::AtHeight(next.height + 1),
        );
        assert_eq!(
            ask(&mut world, &grantee, record, Purpose::Treatment, &patient),
            denial(DenyReason::ConsentExpired)
        );

        let next = world.next_env();
        let id = world.granted(
            &patient,
            &grantee,
            record,
            Expiry::AtTime(next.timestamp_ms + 1),
        );
        assert_eq!(
            world.value(&keys::grant(&grantee.address, &record, Purpose::Treatment)),
            Some(id)
        );
        assert_eq!(
            ask(&mut world, &grantee, record, Purpose::Treatment, &patient),
            denial(DenyReason::ConsentExpired)
        );
    }

    #[test]
    fn a_request_for_an_unknown_record_is_rejected_and_logs_nothing() {
        let Setup {
            mut world, grantee, ..
        } = setup();
        let unknown = crate::testkit::record_id(3);
        world.assert_rejected(
            &grantee,
            request(&unknown, Purpose::Treatment),
            |e| matches!(e, ExecError::UnknownRecord(id) if *id == unknown),
        );
    }

    #[test]
    fn log_sequence_numbers_are_per_patient_and_listed_in_the_block() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
        } = setup();
        let other_patient = Actor::new(51);
        let doctor = Actor::new(1);
        let other_record = world.released(&doctor, &other_patient, b"EMR B");
        let txs = vec![
            world.tx_at(&grantee, 0, request(&record, Purpose::Treatment)),
            world.tx_at(&grantee, 1, request(&other_record, Purpose::Treatment)),
            world.tx_at(&grantee, 2, request(&record, Purpose::Audit)),
        ];
        world.commit_block(&txs);
        let (patient, other_patient) = (patient.address, other_patient.address);
        let logged =
            |who: &Address, seq| world.value(&keys::access_log_entry(who, seq)).map(|e| e.tx);
        assert_eq!(logged(&patient, 0), Some(txs[0].id()));
        assert_eq!(logged(&other_patient, 0), Some(txs[1].id()));
        assert_eq!(logged(&patient, 1), Some(txs[2].id()));
        assert_eq!(world.value(&keys::access_log_len(&patient)), Some(2));
        assert_eq!(world.value(&keys::access_log_len(&other_patient)), Some(1));
        let second = world.value(&keys::access_log_entry(&patient, 1)).unwrap();
        assert_eq!((second.purpose, second.tx), (Purpose::Audit, txs[2].id()));
    }

    #[test]
    fn the_preview_matches_the_logged_decision() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
        } = setup();
        let id = world.granted(&patient, &grantee, record, Expiry::AtHeight(1_000));
        let preview = decision(
            &world.store,
            world.next_env(),
            &grantee.address,
            &record,
            Purpose::Treatment,
        )
        .unwrap();
        assert_eq!(preview, AccessDecision::Allowed { consent: Some(id) });
        assert_eq!(
            ask(&mut world, &grantee, record, Purpose::Treatment, &patient),
            preview
        );
    }

    // Served requests (access.serve).

    /// The holder's gateway (Seoul's desk) serves `requester` for the record on `grounds`.
    fn serve_at_holder(
        s: &mut Sharing,
        requester: &Actor,
        grounds: AccessGrounds,
    ) -> AccessDecision {
        let holder = s.holder.actor.clone();
        let patient = s.patient.clone();
        let at = (s.record, Purpose::Treatment);
        served(&mut s.world, &holder, requester, at, grounds, &patient)
    }

    #[test]
    fn a_gateway_serves_a_licensed_doctor_under_consent_and_is_logged_as_server() {
        let mut s = Sharing::new();
        let doctor = s.doctor.clone();
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Consent),
            denial(DenyReason::NoConsent)
        );
        let id = s.consent_for(&doctor);
        let preview = served_decision(
            &s.world.store,
            s.world.next_env(),
            &doctor.address,
            &s.record,
            Purpose::Treatment,
            &AccessGrounds::Consent,
        )
        .unwrap();
        assert_eq!(preview, AccessDecision::Allowed { consent: Some(id) });
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Consent),
            preview
        );
        let patient = s.patient.clone();
        s.world.run(&patient, revoke(&id)).unwrap();
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Consent),
            denial(DenyReason::ConsentRevoked)
        );
    }

    #[test]
    fn serving_under_consent_denies_requesters_who_may_not_practise() {
        let mut s = Sharing::new();
        let doctor = s.doctor.clone();
        let name = doctor_identity(&doctor);
        // Not doctors: a stranger and a hospital identity (both with consent), and the patient
        // itself (a gateway serves doctors; the patient reads its blob directly).
        for requester in [Actor::new(70), s.desk.actor.clone(), s.patient.clone()] {
            if requester.address != s.patient.address {
                s.consent_for(&requester);
            }
            assert_eq!(
                serve_at_holder(&mut s, &requester, AccessGrounds::Consent),
                denial(DenyReason::NotADoctor)
            );
        }
        s.consent_for(&doctor);
        // Revoked, then lifted.
        let busan = s.desk.actor.clone();
        s.world.run(&busan, revoke_doctor(&name)).unwrap();
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Consent),
            denial(DenyReason::DoctorRevoked)
        );
        s.world.run(&busan, lift_revocation(&name)).unwrap();
        assert!(serve_at_holder(&mut s, &doctor, AccessGrounds::Consent).is_allowed());
        // Renewed to expire between the next serving block and the one after it.
        let expires = s.world.timestamp_ms() + 3 * BLOCK_INTERVAL_MS;
        s.world.run(&busan, renew_licence(&name, expires)).unwrap();
        assert!(serve_at_holder(&mut s, &doctor, AccessGrounds::Consent).is_allowed());
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Consent),
            denial(DenyReason::LicenceExpired)
        );
        s.world.run(&busan, renew_licence(&name, u64::MAX)).unwrap();
        // Its hospital suspended.
        let regulator = s.world.regulator.clone();
        s.world
            .run(
                &regulator,
                set_state(&org_name("Busan Clinic"), OrgState::Suspended),
            )
            .unwrap();
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Consent),
            denial(DenyReason::RequesterNotAudited)
        );
    }

    #[test]
    fn an_enrolled_but_unlicensed_doctor_is_denied() {
        let mut s = Sharing::new();
        let unlicensed = Actor::new(31);
        let busan = org_name("Busan Clinic");
        let doctor = s.doctor.clone();
        s.world
            .run(&unlicensed, join(&busan, &doctor, &unlicensed))
            .unwrap();
        s.world.run(&unlicensed, enrol_doctor(&unlicensed)).unwrap();
        s.consent_for(&unlicensed);
        assert_eq!(
            serve_at_holder(&mut s, &unlicensed, AccessGrounds::Consent),
            denial(DenyReason::Unlicensed)
        );
    }

    #[test]
    fn a_gateway_refusal_is_logged_as_a_denial_with_its_reason() {
        let mut s = Sharing::new();
        let doctor = s.doctor.clone();
        s.consent_for(&doctor);
        for refusal in RefusalReason::ALL {
            assert_eq!(
                serve_at_holder(&mut s, &doctor, AccessGrounds::Refused(*refusal)),
                denial(DenyReason::from(*refusal))
            );
        }
    }

    #[test]
    fn only_the_holding_hospital_serves_a_known_record() {
        let mut s = Sharing::new();
        let doctor = s.doctor.clone();
        let record = s.record;
        let payload = || {
            serve(
                &doctor.address,
                &record,
                Purpose::Treatment,
                AccessGrounds::Consent,
            )
        };
        // Busan's desk (another hospital's identity) and a stranger.
        for intruder in [s.desk.actor.clone(), Actor::new(99)] {
            s.world.assert_rejected(
                &intruder,
                payload(),
                |e| matches!(e, ExecError::NotRecordHolder(r) if *r == record),
            );
        }
        let unknown = RecordId(Hash32::from([9; 32]));
        let holder = s.holder.actor.clone();
        s.world.assert_rejected(
            &holder,
            serve(
                &doctor.address,
                &unknown,
                Purpose::Treatment,
                AccessGrounds::Consent,
            ),
            |e| matches!(e, ExecError::UnknownRecord(r) if *r == unknown),
        );
        let patient = s.patient.clone();
        let decision = served(
            &mut s.world,
            &holder,
            &doctor,
            (record, Purpose::Treatment),
            AccessGrounds::Consent,
            &patient,
        );
        assert_eq!(decision, denial(DenyReason::NoConsent));
    }

    #[test]
    fn members_of_the_holding_hospital_other_than_its_identity_cannot_file_decisions() {
        let mut s = Sharing::new();
        let doctor = s.doctor.clone();
        s.consent_for(&doctor);
        let record = s.record;
        // What a member would forge: an allowed decision for a doctor holding a consent.
        let forged = serve(
            &doctor.address,
            &record,
            Purpose::Treatment,
            AccessGrounds::Consent,
        );
        let seoul = org_name("Seoul General");
        let seoul_doctor = s.seoul_doctor.clone();
        let staff = Actor::new(3);
        s.world
            .run(&staff, join(&seoul, &seoul_doctor, &staff))
            .unwrap();
        let log = keys::access_log_len(&s.patient.address);
        let logged = s.world.value(&log);
        // A staff member without an identity, and the licensed doctor who released the record.
        for member in [&staff, &seoul_doctor] {
            s.world.assert_rejected(
                member,
                forged.clone(),
                |e| matches!(e, ExecError::NotRecordHolder(r) if *r == record),
            );
        }
        // Still a member once revoked, and still refused.
        let holder = s.holder.actor.clone();
        s.world
            .run(&holder, revoke_doctor(&doctor_identity(&seoul_doctor)))
            .unwrap();
        s.world.assert_rejected(
            &seoul_doctor,
            forged,
            |e| matches!(e, ExecError::NotRecordHolder(r) if *r == record),
        );
        assert_eq!(s.world.value(&log), logged);
        // The holding hospital's identity files the same request, and it is allowed.
        assert!(serve_at_holder(&mut s, &doctor, AccessGrounds::Consent).is_allowed());
    }

    #[test]
    fn an_emergency_request_opens_the_record_break_glass_within_its_window() {
        let mut s = Sharing::new();
        let doctor = s.doctor.clone();
        let emergency = s.file_emergency(&doctor, s.record);
        let filed_at_ms = s.world.timestamp_ms();
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Emergency(emergency)),
            AccessDecision::BreakGlass { emergency }
        );
        // Still open at exactly the window's end, closed one block later.
        let at_end = filed_at_ms + EMERGENCY_WINDOW_MS - BLOCK_INTERVAL_MS;
        s.world.advance_time(at_end - s.world.timestamp_ms());
        assert_eq!(
            s.world.next_env().timestamp_ms,
            filed_at_ms + EMERGENCY_WINDOW_MS
        );
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Emergency(emergency)),
            AccessDecision::BreakGlass { emergency }
        );
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Emergency(emergency)),
            denial(DenyReason::EmergencyExpired)
        );
    }

    #[test]
    fn emergency_grounds_must_name_this_record_and_requester_who_still_practises() {
        let mut s = Sharing::new();
        let doctor = s.doctor.clone();
        let unknown = EmergencyId(Hash32::from([8; 32]));
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Emergency(unknown)),
            denial(DenyReason::NoEmergency)
        );
        // An emergency for another record of the same patient.
        let seoul_doctor = s.seoul_doctor.clone();
        let patient = s.patient.clone();
        let other_record = s.world.released(&seoul_doctor, &patient, b"EMR 2");
        let for_other = s.file_emergency(&doctor, other_record);
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Emergency(for_other)),
            denial(DenyReason::EmergencyMismatch)
        );
        // Another doctor relying on this doctor's emergency.
        let emergency = s.file_emergency(&doctor, s.record);
        assert_eq!(
            serve_at_holder(&mut s, &seoul_doctor, AccessGrounds::Emergency(emergency)),
            denial(DenyReason::EmergencyMismatch)
        );
        // Revoked after the request was filed.
        let busan = s.desk.actor.clone();
        s.world
            .run(&busan, revoke_doctor(&doctor_identity(&doctor)))
            .unwrap();
        assert_eq!(
            serve_at_holder(&mut s, &doctor, AccessGrounds::Emergency(emergency)),
            denial(DenyReason::DoctorRevoked)
        );
    }
}
