//! Revocation list (S3-revoke, tx_qr with AoD add/remove): the doctors who may no longer
//! release records, whatever their licence says.
//!
//! | action | rule | error |
//! |---|---|---|
//! | add, remove | the doctor is an enrolled doctor identity | `UnknownIdentity`, `NotADoctor` |
//! | add | the sender is the regulator or the address of the doctor's licensing hospital | `NotRevoker` |
//! | add | the doctor is not on the list | `DoctorAlreadyRevoked` |
//! | remove | the doctor is on the list | `NotRevoked` |
//! | remove | the sender is the regulator or whoever added the entry | `NotRevoker` |
//!
//! The list is the `revoked/` namespace of the state ([`keys::revocation`]): an entry per
//! revoked doctor, deleted when the revocation is lifted. Its root is not a separate header
//! field: the state root in every header commits to it, so "this doctor is not revoked at
//! height h" is one exclusion proof for `revoked/<SHA-256(doctor)>` under the state root of
//! the finalized header at h, which a light client checks like any other state proof. A
//! hospital cannot lift a revocation the regulator made.

use crate::{
    ExecError, StateRead, StateReadExt, context::TxContext, identity, keys, values::Revocation,
};
use medchain_types::{Event, IdentityName, RevocationPayload};

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &RevocationPayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        RevocationPayload::Add { doctor } => add(ctx, doctor),
        RevocationPayload::Remove { doctor } => remove(ctx, doctor),
    }
}

fn add<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    doctor: &IdentityName,
) -> Result<Vec<Event>, ExecError> {
    identity::doctor(ctx, doctor)?;
    let by = *ctx.sender;
    if by != ctx.chain.regulator && !is_licensing_hospital(ctx, doctor)? {
        return Err(ExecError::NotRevoker(doctor.clone()));
    }
    if ctx.value(&keys::revocation(doctor))?.is_some() {
        return Err(ExecError::DoctorAlreadyRevoked(doctor.clone()));
    }
    ctx.put(
        &keys::revocation(doctor),
        &Revocation {
            doctor: doctor.clone(),
            by,
            at: ctx.env.height,
        },
    );
    Ok(vec![Event::DoctorRevoked {
        doctor: doctor.clone(),
        by,
    }])
}

fn remove<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    doctor: &IdentityName,
) -> Result<Vec<Event>, ExecError> {
    identity::doctor(ctx, doctor)?;
    let entry = ctx
        .value(&keys::revocation(doctor))?
        .ok_or_else(|| ExecError::NotRevoked(doctor.clone()))?;
    let by = *ctx.sender;
    if by != ctx.chain.regulator && by != entry.by {
        return Err(ExecError::NotRevoker(doctor.clone()));
    }
    ctx.delete(&keys::revocation(doctor));
    Ok(vec![Event::RevocationLifted {
        doctor: doctor.clone(),
        by,
    }])
}

/// Whether the sender is the address of the hospital identity that holds `doctor`'s licence.
fn is_licensing_hospital<R: StateRead>(
    ctx: &TxContext<'_, R>,
    doctor: &IdentityName,
) -> Result<bool, ExecError> {
    let Some(licence) = ctx.value(&keys::licence(doctor))? else {
        return Ok(false);
    };
    let hospital = ctx.value(&keys::identity(&licence.hospital))?;
    Ok(hospital.is_some_and(|hospital| hospital.address == *ctx.sender))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{
        Actor, Staff, World, issue_licence, lift_revocation, org_name, revoke_doctor,
    };

    fn setup() -> (World, Staff, Staff) {
        let mut world = World::new();
        let seoul = world.staffed_hospital(&org_name("Seoul General"), 1);
        let busan = world.staffed_hospital(&org_name("Busan Clinic"), 10);
        world
            .run(&seoul.hospital, issue_licence(&seoul.doctor_name, u64::MAX))
            .unwrap();
        (world, seoul, busan)
    }

    #[test]
    fn the_licensing_hospital_revokes_and_lifts_and_may_revoke_again() {
        let (mut world, seoul, _) = setup();
        let key = keys::revocation(&seoul.doctor_name);
        let events = world
            .run(&seoul.hospital, revoke_doctor(&seoul.doctor_name))
            .unwrap();
        assert_eq!(
            events,
            vec![Event::DoctorRevoked {
                doctor: seoul.doctor_name.clone(),
                by: seoul.hospital.address,
            }]
        );
        let entry = world.value(&key).unwrap();
        assert_eq!(
            (entry.by, entry.at),
            (seoul.hospital.address, world.height())
        );
        world.assert_rejected(
            &seoul.hospital,
            revoke_doctor(&seoul.doctor_name),
            |e| matches!(e, ExecError::DoctorAlreadyRevoked(n) if *n == seoul.doctor_name),
        );

        let events = world
            .run(&seoul.hospital, lift_revocation(&seoul.doctor_name))
            .unwrap();
        assert_eq!(
            events,
            vec![Event::RevocationLifted {
                doctor: seoul.doctor_name.clone(),
                by: seoul.hospital.address,
            }]
        );
        assert_eq!(world.value(&key), None, "lifting deletes the entry");
        world.assert_rejected(
            &seoul.hospital,
            lift_revocation(&seoul.doctor_name),
            |e| matches!(e, ExecError::NotRevoked(n) if *n == seoul.doctor_name),
        );

        // Re-added after removal.
        world
            .run(&seoul.hospital, revoke_doctor(&seoul.doctor_name))
            .unwrap();
        assert_eq!(world.value(&key).unwrap().at, world.height());
    }

    #[test]
    fn only_the_licensing_hospital_or_the_regulator_revokes() {
        let (mut world, seoul, busan) = setup();
        let not_revoker =
            |e: &ExecError| matches!(e, ExecError::NotRevoker(n) if n.as_str().starts_with("dr-"));
        for intruder in [busan.hospital.clone(), seoul.doctor.clone(), Actor::new(99)] {
            world.assert_rejected(&intruder, revoke_doctor(&seoul.doctor_name), not_revoker);
        }
        // Busan's doctor holds no licence: its own hospital cannot revoke it, the regulator can.
        world.assert_rejected(
            &busan.hospital,
            revoke_doctor(&busan.doctor_name),
            not_revoker,
        );
        let regulator = world.regulator.clone();
        world
            .run(&regulator, revoke_doctor(&busan.doctor_name))
            .unwrap();
    }

    #[test]
    fn a_hospital_cannot_lift_the_regulators_revocation_but_the_regulator_lifts_any() {
        let (mut world, seoul, _) = setup();
        let regulator = world.regulator.clone();
        world
            .run(&regulator, revoke_doctor(&seoul.doctor_name))
            .unwrap();
        world.assert_rejected(&seoul.hospital, lift_revocation(&seoul.doctor_name), |e| {
            matches!(e, ExecError::NotRevoker(_))
        });
        world
            .run(&regulator, lift_revocation(&seoul.doctor_name))
            .unwrap();
        world
            .run(&seoul.hospital, revoke_doctor(&seoul.doctor_name))
            .unwrap();
        world
            .run(&regulator, lift_revocation(&seoul.doctor_name))
            .unwrap();
        assert_eq!(world.value(&keys::revocation(&seoul.doctor_name)), None);
    }

    #[test]
    fn only_enrolled_doctors_are_on_the_list() {
        let (mut world, seoul, _) = setup();
        let regulator = world.regulator.clone();
        let nobody = IdentityName::new("dr-nobody").unwrap();
        world.assert_rejected(
            &regulator,
            revoke_doctor(&nobody),
            |e| matches!(e, ExecError::UnknownIdentity(n) if *n == nobody),
        );
        world.assert_rejected(
            &regulator,
            revoke_doctor(&seoul.hospital_name),
            |e| matches!(e, ExecError::NotADoctor(n) if *n == seoul.hospital_name),
        );
        world.assert_rejected(&regulator, lift_revocation(&seoul.hospital_name), |e| {
            matches!(e, ExecError::NotADoctor(_))
        });
    }

    #[test]
    fn revoking_and_lifting_in_one_block_leaves_the_list_as_it_was() {
        let (mut world, seoul, _) = setup();
        let hospital = &seoul.hospital;
        let txs = [
            world.tx_at(hospital, 0, revoke_doctor(&seoul.doctor_name)),
            world.tx_at(hospital, 1, lift_revocation(&seoul.doctor_name)),
        ];
        world.commit_block(&txs);
        assert_eq!(world.value(&keys::revocation(&seoul.doctor_name)), None);
    }
}
