//! Consent module (S1-rights, S1-sharing): a patient grants a grantee access to some of its
//! records, for one purpose, until an expiry; and revokes it. Patients act as individuals
//! through their own key (their address is their pseudonym); they are not organisations.
//!
//! | action | rule | error |
//! |---|---|---|
//! | grant | 1 to `MAX_CONSENT_RECORDS` records, none twice | `EmptyGrant`, `TooManyRecords`, `DuplicateRecord` |
//! | grant | not to oneself (a patient needs no consent) | `SelfGrant` |
//! | grant | expiry after the executing block (height or time) | `ExpiryInPast` |
//! | grant | every record exists and is the sender's | `UnknownRecord`, `NotPatient` |
//! | revoke | the consent exists, is the sender's, and is live | `UnknownConsent`, `NotGrantor`, `AlreadyRevoked` |
//!
//! The consent id is the grant transaction's id. Each (grantee, record, purpose) triple
//! points at the newest grant covering it; access decisions follow that pointer
//! ([`crate::access`]). Revoking keeps the consent (with `revoked_at`) so the history stays
//! provable; every grant is appended to the patient's consent list
//! ([`keys::patient_consents`]) and to the grantee's ([`keys::grantee_consents`]), where a
//! revoked consent stays listed.

use crate::{
    BlockEnv, ExecError, StateRead, StateReadExt, context::TxContext, keys,
    records::existing_record, values::Consent,
};
use medchain_types::{
    Address, ConsentId, ConsentPayload, Event, Expiry, Purpose, RecordId, limits,
};
use std::collections::BTreeSet;

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &ConsentPayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        ConsentPayload::Grant {
            grantee,
            records,
            purpose,
            expiry,
            reward,
        } => {
            // S1-tokens: fixed at grant time, so a later change of the default does not
            // change what an existing consent pays.
            let reward = reward.unwrap_or(ctx.tokens.map_or(0, |t| t.access_reward_default));
            grant(ctx, grantee, records, *purpose, *expiry, reward)
        }
        ConsentPayload::Revoke { consent } => revoke(ctx, consent),
    }
}

/// Whether `expiry` has passed in the block `env` (S1-sharing: a consent is valid in blocks
/// strictly below its height, or with a timestamp strictly below its time).
pub fn is_expired(expiry: Expiry, env: BlockEnv) -> bool {
    match expiry {
        Expiry::AtHeight(height) => env.height >= height,
        Expiry::AtTime(millis) => env.timestamp_ms >= millis,
    }
}

fn grant<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    grantee: &Address,
    records: &[RecordId],
    purpose: Purpose,
    expiry: Expiry,
    reward: u64,
) -> Result<Vec<Event>, ExecError> {
    check_record_list(records)?;
    let patient = *ctx.sender;
    if *grantee == patient {
        return Err(ExecError::SelfGrant);
    }
    if is_expired(expiry, ctx.env) {
        return Err(ExecError::ExpiryInPast);
    }
    for id in records {
        if existing_record(ctx, id)?.patient != patient {
            return Err(ExecError::NotPatient(*id));
        }
    }
    let id = ConsentId::from(ctx.tx_id);
    for record in records {
        ctx.put(&keys::grant(grantee, record, purpose), &id);
    }
    ctx.put(
        &keys::consent(&id),
        &Consent {
            patient,
            grantee: *grantee,
            records: records.to_vec(),
            purpose,
            expiry,
            granted_at: ctx.env.height,
            revoked_at: None,
            reward,
        },
    );
    ctx.append(&keys::patient_consents(&patient).list, &id)?;
    ctx.append(&keys::grantee_consents(grantee).list, &id)?;
    Ok(vec![Event::ConsentGranted {
        consent: id,
        patient,
        grantee: *grantee,
    }])
}

fn check_record_list(records: &[RecordId]) -> Result<(), ExecError> {
    if records.is_empty() {
        return Err(ExecError::EmptyGrant);
    }
    if records.len() > limits::MAX_CONSENT_RECORDS {
        return Err(ExecError::TooManyRecords(records.len()));
    }
    let mut seen = BTreeSet::new();
    match records.iter().find(|id| !seen.insert(**id)) {
        Some(duplicate) => Err(ExecError::DuplicateRecord(*duplicate)),
        None => Ok(()),
    }
}

fn revoke<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    id: &ConsentId,
) -> Result<Vec<Event>, ExecError> {
    let key = keys::consent(id);
    let mut consent = ctx.value(&key)?.ok_or(ExecError::UnknownConsent(*id))?;
    if consent.patient != *ctx.sender {
        return Err(ExecError::NotGrantor(*id));
    }
    if consent.revoked_at.is_some() {
        return Err(ExecError::AlreadyRevoked(*id));
    }
    consent.revoked_at = Some(ctx.env.height);
    ctx.put(&key, &consent);
    Ok(vec![Event::ConsentRevoked { consent: *id }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Actor, World, grant as grant_payload, revoke as revoke_payload};

    struct Setup {
        world: World,
        doctor: Actor,
        patient: Actor,
        grantee: Actor,
        record: RecordId,
    }

    fn setup() -> Setup {
        let mut world = World::new();
        let doctor = Actor::new(1);
        world.licensed_hospital(&doctor, &crate::testkit::org_name("Seoul General"));
        let patient = Actor::new(50);
        let record = world.released(&doctor, &patient, b"EMR");
        Setup {
            world,
            doctor,
            patient,
            grantee: Actor::new(60),
            record,
        }
    }

    #[test]
    fn a_patient_grants_consent_over_its_records() {
        let Setup {
            mut world,
            doctor,
            patient,
            grantee,
            record,
        } = setup();
        let second = world.released(&doctor, &patient, b"EMR 2");
        let expiry = Expiry::AtHeight(world.height() + 10);
        let tx = world.tx(
            &patient,
            grant_payload(
                &grantee.address,
                &[record, second],
                Purpose::Research,
                expiry,
            ),
        );
        let id = ConsentId::from(tx.id());
        let events = world.run_tx(&tx).unwrap();
        assert_eq!(
            events,
            vec![Event::ConsentGranted {
                consent: id,
                patient: patient.address,
                grantee: grantee.address,
            }]
        );
        let consent = world.value(&keys::consent(&id)).unwrap();
        assert_eq!(consent.records, vec![record, second]);
        assert_eq!(
            (consent.purpose, consent.expiry),
            (Purpose::Research, expiry)
        );
        assert_eq!(consent.granted_at, world.height());
        assert_eq!(consent.revoked_at, None);
        for r in [record, second] {
            assert_eq!(
                world.value(&keys::grant(&grantee.address, &r, Purpose::Research)),
                Some(id)
            );
            assert_eq!(
                world.value(&keys::grant(&grantee.address, &r, Purpose::Treatment)),
                None
            );
        }
    }

    #[test]
    fn the_newest_grant_for_a_triple_wins() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
            ..
        } = setup();
        let payload = |height| {
            grant_payload(
                &grantee.address,
                &[record],
                Purpose::Treatment,
                Expiry::AtHeight(height),
            )
        };
        world.run(&patient, payload(100)).unwrap();
        let newer = world.tx(&patient, payload(200));
        world.run_tx(&newer).unwrap();
        assert_eq!(
            world.value(&keys::grant(&grantee.address, &record, Purpose::Treatment)),
            Some(ConsentId::from(newer.id()))
        );
    }

    #[test]
    fn malformed_record_lists_are_rejected() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
            ..
        } = setup();
        let far = Expiry::AtHeight(1_000);
        world.assert_rejected(
            &patient,
            grant_payload(&grantee.address, &[], Purpose::Treatment, far),
            |e| matches!(e, ExecError::EmptyGrant),
        );
        world.assert_rejected(
            &patient,
            grant_payload(&grantee.address, &[record, record], Purpose::Treatment, far),
            |e| matches!(e, ExecError::DuplicateRecord(id) if *id == record),
        );
        let too_many: Vec<RecordId> = (0..=limits::MAX_CONSENT_RECORDS as u64)
            .map(crate::testkit::record_id)
            .collect();
        world.assert_rejected(
            &patient,
            grant_payload(&grantee.address, &too_many, Purpose::Treatment, far),
            |e| matches!(e, ExecError::TooManyRecords(n) if *n == limits::MAX_CONSENT_RECORDS + 1),
        );
    }

    #[test]
    fn self_grants_and_past_expiries_are_rejected() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
            ..
        } = setup();
        let far = Expiry::AtHeight(1_000);
        world.assert_rejected(
            &patient,
            grant_payload(&patient.address, &[record], Purpose::Treatment, far),
            |e| matches!(e, ExecError::SelfGrant),
        );
        let next = world.next_env();
        for expiry in [
            Expiry::AtHeight(next.height),
            Expiry::AtHeight(0),
            Expiry::AtTime(next.timestamp_ms),
            Expiry::AtTime(next.timestamp_ms - 1),
        ] {
            world.assert_rejected(
                &patient,
                grant_payload(&grantee.address, &[record], Purpose::Treatment, expiry),
                |e| matches!(e, ExecError::ExpiryInPast),
            );
        }
        // One block or one millisecond ahead is in the future.
        world
            .run(
                &patient,
                grant_payload(
                    &grantee.address,
                    &[record],
                    Purpose::Treatment,
                    Expiry::AtHeight(next.height + 1),
                ),
            )
            .unwrap();
        let next = world.next_env();
        world
            .run(
                &patient,
                grant_payload(
                    &grantee.address,
                    &[record],
                    Purpose::Audit,
                    Expiry::AtTime(next.timestamp_ms + 1),
                ),
            )
            .unwrap();
    }

    #[test]
    fn only_the_patients_own_existing_records_can_be_granted() {
        let Setup {
            mut world,
            doctor,
            patient,
            grantee,
            record,
        } = setup();
        let far = Expiry::AtHeight(1_000);
        let unknown = crate::testkit::record_id(77);
        world.assert_rejected(
            &patient,
            grant_payload(
                &grantee.address,
                &[record, unknown],
                Purpose::Treatment,
                far,
            ),
            |e| matches!(e, ExecError::UnknownRecord(id) if *id == unknown),
        );
        let someone_else = Actor::new(51);
        let theirs = world.released(&doctor, &someone_else, b"their EMR");
        world.assert_rejected(
            &patient,
            grant_payload(&grantee.address, &[record, theirs], Purpose::Treatment, far),
            |e| matches!(e, ExecError::NotPatient(id) if *id == theirs),
        );
        // The doctor who released the record cannot grant it either.
        world.assert_rejected(
            &doctor,
            grant_payload(&grantee.address, &[record], Purpose::Treatment, far),
            |e| matches!(e, ExecError::NotPatient(id) if *id == record),
        );
    }

    #[test]
    fn the_patient_revokes_once() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
            ..
        } = setup();
        let id = world.granted(&patient, &grantee, record, Expiry::AtHeight(1_000));
        let events = world.run(&patient, revoke_payload(&id)).unwrap();
        assert_eq!(events, vec![Event::ConsentRevoked { consent: id }]);
        assert_eq!(
            world.value(&keys::consent(&id)).unwrap().revoked_at,
            Some(world.height())
        );
        world.assert_rejected(
            &patient,
            revoke_payload(&id),
            |e| matches!(e, ExecError::AlreadyRevoked(c) if *c == id),
        );
    }

    #[test]
    fn grants_are_listed_per_patient_and_grantee_and_stay_listed_when_revoked() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
            ..
        } = setup();
        let far = Expiry::AtHeight(1_000);
        let first = world.granted(&patient, &grantee, record, far);
        // Rejected grants (self grant, past expiry) add no entry.
        world.assert_rejected(
            &patient,
            grant_payload(&patient.address, &[record], Purpose::Treatment, far),
            |e| matches!(e, ExecError::SelfGrant),
        );
        world.assert_rejected(
            &patient,
            grant_payload(
                &grantee.address,
                &[record],
                Purpose::Audit,
                Expiry::AtHeight(0),
            ),
            |e| matches!(e, ExecError::ExpiryInPast),
        );
        let other_grantee = Actor::new(61);
        let second = world.granted(&patient, &other_grantee, record, far);
        world.run(&patient, revoke_payload(&first)).unwrap();
        let listed = world.list(&keys::patient_consents(&patient.address).list);
        assert_eq!(listed, vec![first, second]);
        // Each grantee lists the grants made to it, the revoked one too.
        let granted_to = |actor: &Actor| world.list(&keys::grantee_consents(&actor.address).list);
        assert_eq!(granted_to(&grantee), vec![first]);
        assert_eq!(granted_to(&other_grantee), vec![second]);
        assert!(granted_to(&patient).is_empty());
        // The entry stays; the consent it names shows the revocation.
        assert_eq!(
            world.value(&keys::consent(&first)).unwrap().revoked_at,
            Some(world.height())
        );
        // Nobody else's list moved (the grantee's, the doctor's).
        assert!(
            world
                .list(&keys::patient_consents(&grantee.address).list)
                .is_empty()
        );
    }

    #[test]
    fn unknown_or_foreign_consents_cannot_be_revoked() {
        let Setup {
            mut world,
            patient,
            grantee,
            record,
            ..
        } = setup();
        let unknown = ConsentId(crate::testkit::record_id(5).0);
        world.assert_rejected(
            &patient,
            revoke_payload(&unknown),
            |e| matches!(e, ExecError::UnknownConsent(c) if *c == unknown),
        );
        let id = world.granted(&patient, &grantee, record, Expiry::AtHeight(1_000));
        world.assert_rejected(
            &grantee,
            revoke_payload(&id),
            |e| matches!(e, ExecError::NotGrantor(c) if *c == id),
        );
    }

    #[test]
    fn expiry_is_strict_in_height_and_time() {
        let env = BlockEnv {
            height: 10,
            timestamp_ms: 5_000,
        };
        assert!(!is_expired(Expiry::AtHeight(11), env));
        assert!(is_expired(Expiry::AtHeight(10), env));
        assert!(!is_expired(Expiry::AtTime(5_001), env));
        assert!(is_expired(Expiry::AtTime(5_000), env));
    }
}
