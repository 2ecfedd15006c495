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

use crate::{
    BlockEnv, ExecError, StateError, StateRead, StateReadExt,
    consent::is_expired,
    context::TxContext,
    keys,
    records::existing_record,
    registry::audited_org_of,
    values::{AccessLogEntry, Record},
};
use medchain_types::{
    AccessDecision, AccessPayload, Address, DenyReason, Event, Purpose, RecordId,
};

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &AccessPayload,
) -> Result<Vec<Event>, ExecError> {
    let AccessPayload::Request { record, purpose } = payload else {
        return Err(ExecError::NotYetSupported("access.serve"));
    };
    let requester = *ctx.sender;
    let released = existing_record(ctx, record)?;
    let decision = decide(ctx, ctx.env, &requester, record, &released, *purpose)?;
    let patient = released.patient;
    let entry = AccessLogEntry {
        requester,
        record: *record,
        purpose: *purpose,
        decision: decision.clone(),
        height: ctx.env.height,
        timestamp_ms: ctx.env.timestamp_ms,
        tx: ctx.tx_id,
        served_by: None,
    };
    append_log(ctx, patient, entry)?;
    Ok(vec![Event::AccessDecided {
        record: *record,
        requester,
        purpose: *purpose,
        decision,
    }])
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
    use crate::testkit::{Actor, Cast, World, org_name, request, revoke, set_state};
    use medchain_types::{Expiry, OrgState};

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
        let before = world
            .value(&keys::access_log_len(&patient.address))
            .unwrap_or(0);
        let tx = world.tx(requester, request(&record, purpose));
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
                served_by: None,
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
}
