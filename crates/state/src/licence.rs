//! Licence module (S3-register): a hospital licenses the doctors of its own organisation,
//! ρ = (ID_HN, ID_DN, EXP), and a record release requires a valid licence.
//!
//! | action | rule | error |
//! |---|---|---|
//! | issue, renew | the sender is enrolled, as a hospital | `NotEnrolled`, `NotAHospital` |
//! | issue, renew | the sender's organisation is audited | `OrgNotAudited` |
//! | issue | the doctor is an enrolled doctor identity | `UnknownIdentity`, `NotADoctor` |
//! | issue | the doctor belongs to the sender's organisation | `DoctorOfAnotherOrg` |
//! | issue | the doctor holds no licence yet (renew it instead) | `LicenceExists` |
//! | renew | the doctor holds a licence of the sender's organisation | `Unlicensed`, `DoctorOfAnotherOrg` |
//! | issue, renew | the expiry lies after the block's time | `LicenceExpiryInPast` |
//!
//! A renewal may extend or shorten the licence, and makes the renewing hospital identity the
//! licence's hospital (the one that may revoke it, [`crate::revocation`]). An issued licence's
//! doctor is appended to the list of licences ([`keys::licences`]); a renewal, which changes
//! the licence in place, is not.
//!
//! [`releasing_doctor`] is the release rule of [`crate::records`]: the sender is an enrolled
//! doctor, not revoked, whose licence is valid at the block's time and whose organisation is
//! still audited.

use crate::{
    ExecError, StateRead, StateReadExt,
    context::TxContext,
    identity::{self, enrolled},
    keys,
    values::{IdentityRecord, Licence},
};
use medchain_types::{Address, Event, IdentityName, LicencePayload, OrgName, OrgState, Role};

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &LicencePayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        LicencePayload::Issue {
            doctor,
            expires_at_ms,
        } => issue(ctx, doctor, *expires_at_ms),
        LicencePayload::Renew {
            doctor,
            expires_at_ms,
        } => renew(ctx, doctor, *expires_at_ms),
    }
}

fn issue<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    doctor: &IdentityName,
    expires_at_ms: u64,
) -> Result<Vec<Event>, ExecError> {
    let (hospital, org) = hospital_identity(ctx, ctx.sender)?;
    let doctor_record = identity::doctor(ctx, doctor)?;
    if doctor_record.org.as_ref() != Some(&org) {
        return Err(ExecError::DoctorOfAnotherOrg {
            doctor: doctor.clone(),
            org,
        });
    }
    ensure_future(ctx, expires_at_ms)?;
    if ctx.value(&keys::licence(doctor))?.is_some() {
        return Err(ExecError::LicenceExists(doctor.clone()));
    }
    ctx.put(
        &keys::licence(doctor),
        &Licence {
            doctor: doctor.clone(),
            hospital: hospital.identity.clone(),
            org,
            expires_at_ms,
            issued_at: ctx.env.height,
        },
    );
    ctx.append(&keys::licences().list, doctor)?;
    Ok(vec![Event::LicenceIssued {
        doctor: doctor.clone(),
        hospital: hospital.identity,
        expires_at_ms,
    }])
}

fn renew<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    doctor: &IdentityName,
    expires_at_ms: u64,
) -> Result<Vec<Event>, ExecError> {
    let (hospital, org) = hospital_identity(ctx, ctx.sender)?;
    let mut licence = ctx
        .value(&keys::licence(doctor))?
        .ok_or_else(|| ExecError::Unlicensed(doctor.clone()))?;
    if licence.org != org {
        return Err(ExecError::DoctorOfAnotherOrg {
            doctor: doctor.clone(),
            org,
        });
    }
    ensure_future(ctx, expires_at_ms)?;
    licence.hospital = hospital.identity;
    licence.expires_at_ms = expires_at_ms;
    licence.issued_at = ctx.env.height;
    ctx.put(&keys::licence(doctor), &licence);
    Ok(vec![Event::LicenceRenewed {
        doctor: doctor.clone(),
        expires_at_ms,
    }])
}

/// `address` as a hospital identity of an audited organisation (`NotEnrolled`,
/// `NotAHospital`, `OrgNotAudited`): its identity and organisation.
pub(crate) fn hospital_identity(
    state: &impl StateRead,
    address: &Address,
) -> Result<(IdentityRecord, OrgName), ExecError> {
    let hospital = enrolled(state, address)?;
    if hospital.role != Role::Hospital {
        return Err(ExecError::NotAHospital(hospital.identity));
    }
    let org = enrolled_org(&hospital)?;
    ensure_audited(state, &org)?;
    Ok((hospital, org))
}

fn ensure_future<R: StateRead>(
    ctx: &TxContext<'_, R>,
    expires_at_ms: u64,
) -> Result<(), ExecError> {
    if expires_at_ms <= ctx.env.timestamp_ms {
        return Err(ExecError::LicenceExpiryInPast);
    }
    Ok(())
}

/// The organisation of a doctor or hospital identity (enrolment always records one).
fn enrolled_org(record: &IdentityRecord) -> Result<OrgName, ExecError> {
    record.org.clone().ok_or_else(|| {
        crate::StateError::Inconsistent(format!(
            "{} is a {:?} identity without an organisation",
            record.identity, record.role
        ))
        .into()
    })
}

fn ensure_audited(state: &impl StateRead, org: &OrgName) -> Result<(), ExecError> {
    let audited = state
        .value(&keys::org(org))?
        .is_some_and(|org| org.state == OrgState::Audited);
    if audited {
        Ok(())
    } else {
        Err(ExecError::OrgNotAudited(org.clone()))
    }
}

/// The release rule (S1-release with S3-register, S3-revoke): `address` is an enrolled
/// doctor, not on the revocation list, holding a licence valid at `block_time_ms`, of an
/// organisation still audited. Returns that organisation.
pub(crate) fn releasing_doctor(
    state: &impl StateRead,
    address: &Address,
    block_time_ms: u64,
) -> Result<OrgName, ExecError> {
    let doctor = enrolled(state, address)?;
    if doctor.role != Role::Doctor {
        return Err(ExecError::NotADoctor(doctor.identity));
    }
    Ok(practising(state, &doctor, block_time_ms)?.org)
}

/// The licence of `doctor` if it may practise at `block_time_ms`: not on the revocation list,
/// licensed, the licence unexpired, its organisation still audited (`DoctorRevoked`,
/// `Unlicensed`, `LicenceExpired`, `OrgNotAudited`).
pub(crate) fn practising(
    state: &impl StateRead,
    doctor: &IdentityRecord,
    block_time_ms: u64,
) -> Result<Licence, ExecError> {
    if state.value(&keys::revocation(&doctor.identity))?.is_some() {
        return Err(ExecError::DoctorRevoked(doctor.identity.clone()));
    }
    let licence = state
        .value(&keys::licence(&doctor.identity))?
        .ok_or_else(|| ExecError::Unlicensed(doctor.identity.clone()))?;
    if block_time_ms >= licence.expires_at_ms {
        return Err(ExecError::LicenceExpired {
            doctor: doctor.identity.clone(),
            expired_at_ms: licence.expires_at_ms,
        });
    }
    ensure_audited(state, &licence.org)?;
    Ok(licence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{
        Actor, BLOCK_INTERVAL_MS, Staff, World, enrol, issue_licence, key_part, org_name,
        renew_licence, set_state,
    };

    fn name(text: &str) -> IdentityName {
        IdentityName::new(text).unwrap()
    }

    /// Seoul General with an enrolled hospital and an enrolled (unlicensed) doctor, and Busan
    /// Clinic with the same.
    struct Setup {
        world: World,
        seoul: Staff,
        busan: Staff,
    }

    fn setup() -> Setup {
        let mut world = World::new();
        let seoul = world.staffed_hospital(&org_name("Seoul General"), 1);
        let busan = world.staffed_hospital(&org_name("Busan Clinic"), 10);
        Setup {
            world,
            seoul,
            busan,
        }
    }

    fn far_future(world: &World) -> u64 {
        world.timestamp_ms() + 1_000_000
    }

    #[test]
    fn a_hospital_licenses_a_doctor_of_its_own_org() {
        let Setup {
            mut world, seoul, ..
        } = setup();
        let expires = far_future(&world);
        let events = world
            .run(&seoul.hospital, issue_licence(&seoul.doctor_name, expires))
            .unwrap();
        assert_eq!(
            events,
            vec![Event::LicenceIssued {
                doctor: seoul.doctor_name.clone(),
                hospital: seoul.hospital_name.clone(),
                expires_at_ms: expires,
            }]
        );
        let licence = world.value(&keys::licence(&seoul.doctor_name)).unwrap();
        assert_eq!(licence.hospital, seoul.hospital_name);
        assert_eq!(licence.org, org_name("Seoul General"));
        assert_eq!(licence.expires_at_ms, expires);
        assert_eq!(licence.issued_at, world.height());
    }

    #[test]
    fn a_non_member_or_a_non_hospital_identity_cannot_license() {
        let Setup {
            mut world, seoul, ..
        } = setup();
        let expires = far_future(&world);
        let outsider = Actor::new(70);
        world.assert_rejected(&outsider, issue_licence(&seoul.doctor_name, expires), |e| {
            matches!(e, ExecError::NotEnrolled)
        });
        // An enrolled patient is not a hospital.
        let patient = Actor::new(71);
        let pseudonym = IdentityName::patient_pseudonym(&patient.address);
        world
            .run(&patient, enrol(&pseudonym, Role::Patient, key_part(71)))
            .unwrap();
        world.assert_rejected(
            &patient,
            issue_licence(&seoul.doctor_name, expires),
            |e| matches!(e, ExecError::NotAHospital(n) if *n == pseudonym),
        );
        // A doctor cannot license himself.
        world.assert_rejected(
            &seoul.doctor,
            issue_licence(&seoul.doctor_name, expires),
            |e| matches!(e, ExecError::NotAHospital(n) if *n == seoul.doctor_name),
        );
    }

    #[test]
    fn another_hospital_cannot_license_or_renew_a_doctor_of_another_org() {
        let Setup {
            mut world,
            seoul,
            busan,
        } = setup();
        let expires = far_future(&world);
        let other_org = |e: &ExecError| matches!(e, ExecError::DoctorOfAnotherOrg { org, .. } if *org == org_name("Busan Clinic"));
        world.assert_rejected(
            &busan.hospital,
            issue_licence(&seoul.doctor_name, expires),
            other_org,
        );
        world
            .run(&seoul.hospital, issue_licence(&seoul.doctor_name, expires))
            .unwrap();
        world.assert_rejected(
            &busan.hospital,
            renew_licence(&seoul.doctor_name, expires + 1),
            other_org,
        );
    }

    #[test]
    fn only_enrolled_doctors_are_licensed() {
        let Setup {
            mut world, seoul, ..
        } = setup();
        let expires = far_future(&world);
        world.assert_rejected(
            &seoul.hospital,
            issue_licence(&name("dr-nobody"), expires),
            |e| matches!(e, ExecError::UnknownIdentity(n) if *n == name("dr-nobody")),
        );
        world.assert_rejected(
            &seoul.hospital,
            issue_licence(&seoul.hospital_name, expires),
            |e| matches!(e, ExecError::NotADoctor(n) if *n == seoul.hospital_name),
        );
    }

    #[test]
    fn expiries_must_lie_after_the_block_and_issue_happens_once() {
        let Setup {
            mut world, seoul, ..
        } = setup();
        // The next block's time is the current one plus the interval.
        let next_block_time = world.timestamp_ms() + BLOCK_INTERVAL_MS;
        for past in [0, next_block_time] {
            world.assert_rejected(
                &seoul.hospital,
                issue_licence(&seoul.doctor_name, past),
                |e| matches!(e, ExecError::LicenceExpiryInPast),
            );
        }
        world
            .run(
                &seoul.hospital,
                issue_licence(&seoul.doctor_name, next_block_time + BLOCK_INTERVAL_MS + 1),
            )
            .unwrap();
        world.assert_rejected(
            &seoul.hospital,
            issue_licence(&seoul.doctor_name, far_future(&world)),
            |e| matches!(e, ExecError::LicenceExists(n) if *n == seoul.doctor_name),
        );
        world.assert_rejected(&seoul.hospital, renew_licence(&seoul.doctor_name, 1), |e| {
            matches!(e, ExecError::LicenceExpiryInPast)
        });
    }

    #[test]
    fn renewal_changes_the_expiry_and_requires_a_licence() {
        let Setup {
            mut world, seoul, ..
        } = setup();
        world.assert_rejected(
            &seoul.hospital,
            renew_licence(&seoul.doctor_name, far_future(&world)),
            |e| matches!(e, ExecError::Unlicensed(n) if *n == seoul.doctor_name),
        );
        world
            .run(
                &seoul.hospital,
                issue_licence(&seoul.doctor_name, far_future(&world)),
            )
            .unwrap();
        let later = far_future(&world) * 2;
        let events = world
            .run(&seoul.hospital, renew_licence(&seoul.doctor_name, later))
            .unwrap();
        assert_eq!(
            events,
            vec![Event::LicenceRenewed {
                doctor: seoul.doctor_name.clone(),
                expires_at_ms: later,
            }]
        );
        let licence = world.value(&keys::licence(&seoul.doctor_name)).unwrap();
        assert_eq!(
            (licence.expires_at_ms, licence.issued_at),
            (later, world.height())
        );
    }

    #[test]
    fn a_licence_is_listed_when_first_issued_not_when_renewed() {
        let Setup {
            mut world,
            seoul,
            busan,
        } = setup();
        let listed = |world: &World| world.list(&keys::licences().list);
        let expires = far_future(&world);
        world
            .run(&seoul.hospital, issue_licence(&seoul.doctor_name, expires))
            .unwrap();
        world.assert_rejected(
            &seoul.hospital,
            issue_licence(&seoul.doctor_name, expires),
            |e| matches!(e, ExecError::LicenceExists(_)),
        );
        world
            .run(
                &seoul.hospital,
                renew_licence(&seoul.doctor_name, expires + 1),
            )
            .unwrap();
        assert_eq!(listed(&world), vec![seoul.doctor_name.clone()]);
        world
            .run(&busan.hospital, issue_licence(&busan.doctor_name, expires))
            .unwrap();
        assert_eq!(listed(&world), vec![seoul.doctor_name, busan.doctor_name]);
    }

    #[test]
    fn a_suspended_hospital_cannot_license() {
        let Setup {
            mut world, seoul, ..
        } = setup();
        let regulator = world.regulator.clone();
        world
            .run(
                &regulator,
                set_state(&org_name("Seoul General"), OrgState::Suspended),
            )
            .unwrap();
        world.assert_rejected(
            &seoul.hospital,
            issue_licence(&seoul.doctor_name, far_future(&world)),
            |e| matches!(e, ExecError::OrgNotAudited(org) if *org == org_name("Seoul General")),
        );
    }
}
