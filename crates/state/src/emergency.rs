//! Emergency module (S3-emergency, break-glass): a hospital files tx_ur, a request vouched by
//! itself and one of its doctors, for a patient's record it does not hold. The chain checks who
//! vouches and stores the request; the record's holder may then serve it without the
//! patient's consent ([`crate::access`], `AccessGrounds::Emergency`), and the patient finds
//! the request in its notification list.
//!
//! | rule (in order) | error |
//! |---|---|
//! | the record exists | `UnknownRecord` |
//! | the sender is an enrolled hospital identity of an audited organisation | `NotEnrolled`, `NotAHospital`, `OrgNotAudited` |
//! | the doctor is an enrolled doctor identity | `UnknownIdentity`, `NotADoctor` |
//! | the doctor may practise at the block's time: not revoked, licensed, licence unexpired, its organisation audited (S3-revoke, S3-register) | `DoctorRevoked`, `Unlicensed`, `LicenceExpired`, `OrgNotAudited` |
//! | the doctor's licence is from the sender's organisation | `DoctorOfAnotherOrg` |
//! | the doctor and the sender each have a vouching key | `NoVouchingKey` |
//! | `issued_at_ms` is within `EMERGENCY_CLOCK_SKEW_MS` of the block's time, either way | `StaleEmergency` |
//! | the same vouched message htxu was not filed before (a replay would notify again and open a fresh window) | `DuplicateEmergency` |
//! | `vouch` is the sum of the doctor's and the sender's signatures over [`emergency_message`] | `BadVouch` |
//!
//! The vouch is checked as one aggregate verification against the sum of the two registered
//! keys; that is sound because each key was registered with a proof of possession
//! ([`crate::identity`]). The signed message names the chain, the doctor, the hospital
//! identity, the record, h_ur and the issue time, so a vouch is good for exactly one request.
//!
//! A filed request is stored under `emerg/<id>` (the id is the filing transaction's),
//! indexed by its message under `emergreq/<SHA-256(htxu)>`, and appended to the patient's
//! notification list ([`keys::patient_notifications`]) and to the list of every request
//! ([`keys::emergencies`], the regulator's break-glass view). The index is keyed by the whole
//! message, not h_ur alone: a hospital that saw a pending request cannot file its own with the
//! same h_ur first to block it, while a replay of the same vouch is refused.

use crate::{
    ExecError, StateRead, StateReadExt,
    context::TxContext,
    identity, keys,
    licence::{hospital_identity, practising},
    records::existing_record,
    values::EmergencyRecord,
};
use medchain_types::{
    Address, BlsPublicKey, BlsSignature, EmergencyId, EmergencyPayload, Event, Hash32,
    IdentityName, RecordId,
    emergency::{emergency_message, verify_aggregate},
    limits::EMERGENCY_CLOCK_SKEW_MS,
};

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &EmergencyPayload,
) -> Result<Vec<Event>, ExecError> {
    let EmergencyPayload::Request {
        doctor,
        record,
        hur,
        issued_at_ms,
        vouch,
    } = payload;
    request(ctx, doctor, record, hur, *issued_at_ms, vouch)
}

fn request<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    doctor: &IdentityName,
    record: &RecordId,
    hur: &Hash32,
    issued_at_ms: u64,
    vouch: &BlsSignature,
) -> Result<Vec<Event>, ExecError> {
    let block_time_ms = ctx.env.timestamp_ms;
    let released = existing_record(ctx, record)?;
    let hospital_address = *ctx.sender;
    let (hospital, org) = hospital_identity(ctx, &hospital_address)?;
    let doctor_record = identity::doctor(ctx, doctor)?;
    let licence = practising(ctx, &doctor_record, block_time_ms)?;
    if licence.org != org {
        return Err(ExecError::DoctorOfAnotherOrg {
            doctor: doctor.clone(),
            org,
        });
    }
    let doctor_key = vouching_key(ctx, &doctor_record.address)?;
    let hospital_key = vouching_key(ctx, &hospital_address)?;
    if issued_at_ms.abs_diff(block_time_ms) > EMERGENCY_CLOCK_SKEW_MS {
        return Err(ExecError::StaleEmergency {
            issued_at_ms,
            block_time_ms,
        });
    }
    let message = emergency_message(
        &ctx.chain.chain_id,
        doctor,
        &hospital.identity,
        record,
        hur,
        issued_at_ms,
    );
    let by_message = keys::emergency_by_message(&message);
    if let Some(filed) = ctx.value(&by_message)? {
        return Err(ExecError::DuplicateEmergency(filed));
    }
    if !verify_aggregate(&doctor_key, &hospital_key, &message, vouch) {
        return Err(ExecError::BadVouch);
    }
    let id = EmergencyId::from(ctx.tx_id);
    ctx.put(&by_message, &id);
    ctx.put(
        &keys::emergency(&id),
        &EmergencyRecord {
            doctor: doctor.clone(),
            doctor_address: doctor_record.address,
            hospital: hospital.identity,
            org,
            record: *record,
            patient: released.patient,
            hur: *hur,
            issued_at_ms,
            filed_at: ctx.env.height,
            timestamp_ms: block_time_ms,
        },
    );
    ctx.append(&keys::patient_notifications(&released.patient).list, &id)?;
    ctx.append(&keys::emergencies().list, &id)?;
    Ok(vec![Event::EmergencyFiled {
        emergency: id,
        patient: released.patient,
        record: *record,
        doctor: doctor_record.address,
    }])
}

fn vouching_key(state: &impl StateRead, address: &Address) -> Result<BlsPublicKey, ExecError> {
    state
        .value(&keys::vouching_key(address))?
        .map(|registered| registered.key)
        .ok_or(ExecError::NoVouchingKey(*address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{
        Actor, BLOCK_INTERVAL_MS, EmergencyAsk, Sharing, doctor_identity, enrol_patient, org_name,
        renew_licence, revoke_doctor, set_vouching_key,
    };
    use medchain_types::{ContentHash, Payload, limits::EMERGENCY_CLOCK_SKEW_MS};

    /// [`Sharing`], with the treating doctor's and Busan's vouching keys when `vouching`.
    fn setup_with(vouching: bool) -> Sharing {
        let mut s = Sharing::new();
        if vouching {
            let (doctor, desk) = (s.doctor.clone(), s.desk.actor.clone());
            s.vouching_keys(&[&doctor, &desk]);
        }
        s
    }

    fn setup() -> Sharing {
        setup_with(true)
    }

    trait Filing {
        /// The treating doctor's request for the record, not yet vouched.
        fn request(&self) -> EmergencyAsk;
        /// The doctor and Busan's desk.
        fn both(&self) -> [&Actor; 2];
        /// Asserts Busan's desk filing `payload` is rejected and changes nothing.
        fn rejected(&mut self, payload: Payload, expected: impl Fn(&ExecError) -> bool);
    }

    impl Filing for Sharing {
        fn request(&self) -> EmergencyAsk {
            self.ask(&self.doctor, self.record)
        }

        fn both(&self) -> [&Actor; 2] {
            [&self.doctor, &self.desk.actor]
        }

        fn rejected(&mut self, payload: Payload, expected: impl Fn(&ExecError) -> bool) {
            let desk = self.desk.actor.clone();
            self.world.assert_rejected(&desk, payload, expected);
        }
    }

    #[test]
    fn a_request_vouched_by_doctor_and_hospital_is_filed_and_notifies_the_patient() {
        let mut s = setup();
        let ask = s.request();
        let tx = s.world.tx(&s.desk.actor, ask.signed_by(&s.both()));
        let events = s.world.run_tx(&tx).unwrap();
        let id = EmergencyId::from(tx.id());
        assert_eq!(
            events,
            vec![Event::EmergencyFiled {
                emergency: id,
                patient: s.patient.address,
                record: s.record,
                doctor: s.doctor.address,
            }]
        );
        let filed = s.world.value(&keys::emergency(&id)).unwrap();
        assert_eq!(
            filed,
            EmergencyRecord {
                doctor: ask.doctor.clone(),
                doctor_address: s.doctor.address,
                hospital: s.desk.identity.clone(),
                org: org_name("Busan Clinic"),
                record: s.record,
                patient: s.patient.address,
                hur: ask.hur,
                issued_at_ms: ask.issued_at_ms,
                filed_at: s.world.height(),
                timestamp_ms: s.world.timestamp_ms(),
            }
        );
        assert_eq!(
            s.world
                .list(&keys::patient_notifications(&s.patient.address).list),
            vec![id]
        );
        assert_eq!(s.world.list(&keys::emergencies().list), vec![id]);
    }

    #[test]
    fn forged_or_partial_vouches_are_refused() {
        let mut s = setup();
        let ask = s.request();
        let stranger = Actor::new(77);
        let mut other_record = ask.clone();
        other_record.record = RecordId(ContentHash::of(b"another record").0);
        let mut other_hur = ask.clone();
        other_hur.hur = ContentHash::of(b"another entry").0;
        let vouches = [
            // The doctor alone, the hospital alone.
            ask.vouch(&[&s.doctor]),
            ask.vouch(&[&s.desk.actor]),
            // A stranger standing in for the hospital, or for the doctor.
            ask.vouch(&[&s.doctor, &stranger]),
            ask.vouch(&[&stranger, &s.desk.actor]),
            // The right parties, but for another record or another entry.
            other_record.vouch(&s.both()),
            other_hur.vouch(&s.both()),
            // Not a point at all.
            medchain_types::BlsSignature([0xff; medchain_types::BlsSignature::LEN]),
        ];
        for vouch in vouches {
            s.rejected(ask.with_vouch(vouch), |e| matches!(e, ExecError::BadVouch));
        }
        // A vouch for one issue time does not cover another.
        let mut later = ask.clone();
        later.issued_at_ms += 1;
        s.rejected(later.with_vouch(ask.vouch(&s.both())), |e| {
            matches!(e, ExecError::BadVouch)
        });
        assert!(
            s.world
                .list(&keys::patient_notifications(&s.patient.address).list)
                .is_empty()
        );
        assert!(s.world.list(&keys::emergencies().list).is_empty());
    }

    #[test]
    fn a_vouched_request_is_filed_once() {
        let mut s = setup();
        let desk = s.desk.actor.clone();
        let vouched = s.request().signed_by(&s.both());
        let first = s.world.tx(&desk, vouched.clone());
        s.world.run_tx(&first).unwrap();
        let id = EmergencyId::from(first.id());
        // Filed again a block later (still within the clock skew): no second notification.
        s.rejected(
            vouched.clone(),
            |e| matches!(e, ExecError::DuplicateEmergency(filed) if *filed == id),
        );
        // Twice in one block: the second filing sees the first.
        let mut s = setup();
        let vouched = s.request().signed_by(&s.both());
        let txs = [
            s.world.tx_at(&desk, 0, vouched.clone()),
            s.world.tx_at(&desk, 1, vouched),
        ];
        let (results, block) = s.world.execute(&txs);
        let id = EmergencyId::from(txs[0].id());
        assert!(results[0].is_ok());
        assert!(matches!(
            results[1],
            Err(ExecError::DuplicateEmergency(filed)) if filed == id
        ));
        s.world.store.commit(&block).unwrap();
        let notifications = keys::patient_notifications(&s.patient.address).list;
        assert_eq!(s.world.list(&notifications), vec![id]);
        assert_eq!(s.world.list(&keys::emergencies().list), vec![id]);
        // A new request for the same entry, issued (and vouched) at another time, is filed.
        let again = s.request();
        let tx = s.world.tx(&desk, again.signed_by(&s.both()));
        s.world.run_tx(&tx).unwrap();
        assert_eq!(s.world.list(&notifications).len(), 2);
        assert_eq!(
            s.world.list(&keys::emergencies().list),
            vec![id, EmergencyId::from(tx.id())]
        );
    }

    #[test]
    fn the_issue_time_must_be_near_the_block_time() {
        let mut s = setup();
        let now = s.world.next_env().timestamp_ms;
        for issued_at_ms in [
            now - EMERGENCY_CLOCK_SKEW_MS - 1,
            now + EMERGENCY_CLOCK_SKEW_MS + 1,
        ] {
            let ask = EmergencyAsk {
                issued_at_ms,
                ..s.request()
            };
            s.rejected(ask.signed_by(&s.both()), |e| {
                matches!(e, ExecError::StaleEmergency { issued_at_ms: at, block_time_ms }
                    if *at == issued_at_ms && *block_time_ms == now)
            });
        }
        // At the edge of the skew it is still accepted.
        let edge = EmergencyAsk {
            issued_at_ms: now - EMERGENCY_CLOCK_SKEW_MS,
            ..s.request()
        };
        let desk = s.desk.actor.clone();
        s.world.run(&desk, edge.signed_by(&s.both())).unwrap();
    }

    /// S3-entry lets a patient register a key (it signs its MED entries with it); that key
    /// never vouches: a patient neither files as the hospital nor is named as the doctor, even
    /// with a valid aggregate of its own key and the other party's.
    #[test]
    fn a_patient_key_never_vouches_for_an_emergency() {
        let mut s = setup();
        let patient = s.patient.clone();
        s.world.run(&patient, enrol_patient(&patient)).unwrap();
        s.world.run(&patient, set_vouching_key(&patient)).unwrap();
        let pseudonym = IdentityName::patient_pseudonym(&patient.address);
        let mut as_hospital = s.request();
        as_hospital.hospital = pseudonym.clone();
        let vouch = as_hospital.signed_by(&[&s.doctor, &patient]);
        s.world.assert_rejected(
            &patient,
            vouch,
            |e| matches!(e, ExecError::NotAHospital(n) if *n == pseudonym),
        );
        let mut as_doctor = s.request();
        as_doctor.doctor = pseudonym.clone();
        let vouch = as_doctor.signed_by(&[&patient, &s.desk.actor]);
        s.rejected(
            vouch,
            |e| matches!(e, ExecError::NotADoctor(n) if *n == pseudonym),
        );
    }

    #[test]
    fn both_parties_need_a_vouching_key() {
        let mut s = setup_with(false);
        let ask = s.request();
        let doctor_address = s.doctor.address;
        s.rejected(
            ask.signed_by(&s.both()),
            |e| matches!(e, ExecError::NoVouchingKey(a) if *a == doctor_address),
        );
        let doctor = s.doctor.clone();
        s.world.run(&doctor, set_vouching_key(&doctor)).unwrap();
        let desk_address = s.desk.actor.address;
        let ask = s.request();
        s.rejected(
            ask.signed_by(&s.both()),
            |e| matches!(e, ExecError::NoVouchingKey(a) if *a == desk_address),
        );
    }

    #[test]
    fn only_a_hospital_files_for_its_own_practising_doctor() {
        let mut s = setup();
        let ask = s.request();
        // The doctor itself is not a hospital; a stranger is not enrolled.
        let doctor = s.doctor.clone();
        let name = doctor_identity(&doctor);
        s.world.assert_rejected(
            &doctor,
            ask.signed_by(&s.both()),
            |e| matches!(e, ExecError::NotAHospital(n) if *n == name),
        );
        s.world
            .assert_rejected(&Actor::new(99), ask.signed_by(&s.both()), |e| {
                matches!(e, ExecError::NotEnrolled)
            });
        // A doctor of another hospital (Seoul's, with its own vouching key).
        let seoul_doctor = s.seoul_doctor.clone();
        s.world
            .run(&seoul_doctor, set_vouching_key(&seoul_doctor))
            .unwrap();
        let foreign = EmergencyAsk {
            doctor: doctor_identity(&seoul_doctor),
            ..s.request()
        };
        s.rejected(foreign.signed_by(&[&seoul_doctor, &s.desk.actor]), |e| {
            matches!(e, ExecError::DoctorOfAnotherOrg { org, .. } if *org == org_name("Busan Clinic"))
        });
        // A name that is not a doctor's, a name nobody holds, a record that does not exist.
        let not_a_doctor = EmergencyAsk {
            doctor: s.desk.identity.clone(),
            ..s.request()
        };
        s.rejected(not_a_doctor.signed_by(&s.both()), |e| {
            matches!(e, ExecError::NotADoctor(_))
        });
        let nobody = EmergencyAsk {
            doctor: IdentityName::new("dr-nobody").unwrap(),
            ..s.request()
        };
        s.rejected(nobody.signed_by(&s.both()), |e| {
            matches!(e, ExecError::UnknownIdentity(_))
        });
        let unknown = RecordId(ContentHash::of(b"nothing").0);
        let no_record = EmergencyAsk {
            record: unknown,
            ..s.request()
        };
        s.rejected(
            no_record.signed_by(&s.both()),
            |e| matches!(e, ExecError::UnknownRecord(r) if *r == unknown),
        );
    }

    #[test]
    fn a_revoked_or_expired_doctor_cannot_be_vouched_for() {
        let mut s = setup();
        let name = doctor_identity(&s.doctor);
        let desk = s.desk.actor.clone();
        s.world.run(&desk, revoke_doctor(&name)).unwrap();
        let ask = s.request();
        s.rejected(
            ask.signed_by(&s.both()),
            |e| matches!(e, ExecError::DoctorRevoked(n) if *n == name),
        );

        let mut s = setup();
        let expires = s.world.timestamp_ms() + 2 * BLOCK_INTERVAL_MS;
        let desk = s.desk.actor.clone();
        s.world.run(&desk, renew_licence(&name, expires)).unwrap();
        s.world.advance_time(BLOCK_INTERVAL_MS);
        let ask = s.request();
        s.rejected(ask.signed_by(&s.both()), |e| {
            matches!(e, ExecError::LicenceExpired { expired_at_ms, .. } if *expired_at_ms == expires)
        });
    }

    #[test]
    fn an_unlicensed_doctor_cannot_be_vouched_for() {
        let mut s = setup();
        // A second Busan doctor, enrolled and with a vouching key, but never licensed.
        let unlicensed = Actor::new(30);
        let busan = org_name("Busan Clinic");
        s.world
            .run(
                &unlicensed,
                crate::testkit::join(&busan, &s.doctor, &unlicensed),
            )
            .unwrap();
        s.world
            .run(&unlicensed, crate::testkit::enrol_doctor(&unlicensed))
            .unwrap();
        s.world
            .run(&unlicensed, set_vouching_key(&unlicensed))
            .unwrap();
        let ask = EmergencyAsk {
            doctor: doctor_identity(&unlicensed),
            ..s.request()
        };
        s.rejected(ask.signed_by(&[&unlicensed, &s.desk.actor]), |e| {
            matches!(e, ExecError::Unlicensed(_))
        });
    }
}
