//! Identity module (S3-register, S4-ca): binds an identity — the string identity-based keys are
//! extracted for — to the chain address that will ask the PKG for them, once and for good.
//!
//! | action | rule | error |
//! |---|---|---|
//! | enrol | the address holds no identity yet (one identity per address) | `AddressAlreadyEnrolled` |
//! | enrol | the identity is not bound to another address | `IdentityTaken` |
//! | enrol | the key part L_U1 is a valid, non-identity BLS12-381 G1 point | `InvalidKeyPart` |
//! | enrol a patient | the identity is the sender's pseudonym (S4-ca: no name on chain) | `PseudonymMismatch` |
//! | enrol a doctor or hospital | the name is outside the patients' namespace | `ReservedIdentity` |
//! | enrol a doctor or hospital | the sender is a member of an audited hospital organisation | `NotAuditedHospitalMember` |
//! | vouching key | the sender has an enrolled identity (S3-emergency, S3-entry) | `NotEnrolled` |
//! | vouching key | the proof is the key's signature over [`medchain_types::emergency::vouching_pop_message`] for the sender and this chain | `BadVouchingProof` |
//!
//! A vouching key ([`medchain_types::emergency`]) is stored under `vouch/<address>` and may be
//! replaced by a new one with its own proof. Doctors and hospitals vouch for emergency requests
//! and sign releases and batches on MED with it; patients sign their MED entries with it
//! (S3-entry). Registering a key grants no role: whoever checks a key checks the owner's role
//! first (an emergency vouch names a doctor and a hospital identity, a MED signer lookup asks
//! for a doctor, hospital or patient), so a patient's key never vouches nor releases. The proof of possession is what makes summing
//! the doctor's and the hospital's keys safe when an emergency request's aggregate vouch is
//! checked ([`crate::emergency`]): without it a party could register a key that cancels the
//! other's.
//!
//! Enrolment comes before key extraction: the PKG's nodes answer only for an identity bound to
//! the address that signs the request, so no two addresses obtain the same identity's keys.
//! A doctor's or hospital's record keeps its organisation, which licences
//! ([`crate::licence`]) and releases ([`crate::records`]) check against.

use crate::{
    ExecError, StateError, StateRead, StateReadExt,
    context::TxContext,
    keys,
    registry::audited_org_of,
    values::{IdentityRecord, VouchingKey},
};
use blstrs::G1Affine;
use group::prime::PrimeCurveAffine as _;
use medchain_types::{
    Address, BlsPublicKey, BlsSignature, Event, G1Point, IdentityName, IdentityPayload, OrgKind,
    OrgName, Role, emergency::verify_proof_of_possession,
};

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &IdentityPayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        IdentityPayload::Enrol {
            identity,
            role,
            key_part,
        } => enrol(ctx, identity, *role, key_part),
        IdentityPayload::SetVouchingKey { key, proof } => set_vouching_key(ctx, key, proof),
    }
}

fn set_vouching_key<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    key: &BlsPublicKey,
    proof: &BlsSignature,
) -> Result<Vec<Event>, ExecError> {
    let address = *ctx.sender;
    enrolled(ctx, &address)?;
    if !verify_proof_of_possession(&ctx.chain.chain_id, &address, key, proof) {
        return Err(ExecError::BadVouchingProof);
    }
    ctx.put(
        &keys::vouching_key(&address),
        &VouchingKey {
            key: *key,
            set_at: ctx.env.height,
        },
    );
    Ok(vec![Event::VouchingKeySet { address }])
}

fn enrol<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    identity: &IdentityName,
    role: Role,
    key_part: &G1Point,
) -> Result<Vec<Event>, ExecError> {
    let address = *ctx.sender;
    if let Some(existing) = ctx.value(&keys::identity_of(&address))? {
        return Err(ExecError::AddressAlreadyEnrolled(existing));
    }
    if let Some(bound) = ctx.value(&keys::identity(identity))? {
        return Err(ExecError::IdentityTaken {
            identity: identity.clone(),
            address: bound.address,
        });
    }
    validate_key_part(key_part)?;
    let org = organisation_for(ctx, identity, role, &address)?;
    ctx.put(
        &keys::identity(identity),
        &IdentityRecord {
            identity: identity.clone(),
            address,
            role,
            org,
            key_part: *key_part,
            enrolled_at: ctx.env.height,
        },
    );
    ctx.put(&keys::identity_of(&address), identity);
    Ok(vec![Event::IdentityEnrolled {
        identity: identity.clone(),
        address,
        role,
    }])
}

/// The organisation an identity of `role` enrols for: none for a patient (whose name must be
/// its pseudonym), the sender's audited hospital for a doctor or hospital.
fn organisation_for(
    state: &impl StateRead,
    identity: &IdentityName,
    role: Role,
    sender: &Address,
) -> Result<Option<OrgName>, ExecError> {
    if role == Role::Patient {
        let expected = IdentityName::patient_pseudonym(sender);
        return if *identity == expected {
            Ok(None)
        } else {
            Err(ExecError::PseudonymMismatch { expected })
        };
    }
    if identity.is_patient_pseudonym() {
        return Err(ExecError::ReservedIdentity(identity.clone()));
    }
    let hospital = audited_org_of(state, sender)?
        .filter(|org| org.kind == OrgKind::Hospital)
        .ok_or(ExecError::NotAuditedHospitalMember)?;
    Ok(Some(hospital.name))
}

/// A key part must decode as a point of the prime-order subgroup (the decoder checks the
/// curve and the subgroup) and must not be the identity, which would make the extracted key
/// independent of the entity's secret x_U.
fn validate_key_part(key_part: &G1Point) -> Result<(), ExecError> {
    let point = Option::<G1Affine>::from(G1Affine::from_compressed(&key_part.0))
        .ok_or(ExecError::InvalidKeyPart)?;
    if bool::from(point.is_identity()) {
        return Err(ExecError::InvalidKeyPart);
    }
    Ok(())
}

/// The identity bound to `address`: `NotEnrolled` if there is none.
pub(crate) fn enrolled(
    state: &impl StateRead,
    address: &Address,
) -> Result<IdentityRecord, ExecError> {
    let name = state
        .value(&keys::identity_of(address))?
        .ok_or(ExecError::NotEnrolled)?;
    // Both keys are written together, so an `identof` entry without its record is a broken
    // state, not the transaction's fault.
    let record = state.value(&keys::identity(&name))?.ok_or_else(|| {
        StateError::Inconsistent(format!(
            "identof points at {name}, which has no identity record"
        ))
    })?;
    Ok(record)
}

/// The enrolled doctor named `name`: `UnknownIdentity` or `NotADoctor` otherwise.
pub(crate) fn doctor(
    state: &impl StateRead,
    name: &IdentityName,
) -> Result<IdentityRecord, ExecError> {
    let record = state
        .value(&keys::identity(name))?
        .ok_or_else(|| ExecError::UnknownIdentity(name.clone()))?;
    if record.role != Role::Doctor {
        return Err(ExecError::NotADoctor(name.clone()));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{
        Actor, HospitalDesk, World, chain_id, enrol, key_part, org_name, register, set_vouching_key,
    };

    fn hospital() -> OrgName {
        org_name("Seoul General")
    }

    fn name(text: &str) -> IdentityName {
        IdentityName::new(text).unwrap()
    }

    /// A world with the audited hospital "Seoul General" founded by `Actor::new(1)`.
    fn world() -> (World, Actor) {
        let mut world = World::new();
        let founder = Actor::new(1);
        world.audited_org(&founder, &hospital(), OrgKind::Hospital);
        (world, founder)
    }

    #[test]
    fn a_hospital_member_enrols_a_doctor_identity_bound_to_its_address() {
        let (mut world, doctor) = world();
        let events = world
            .run(&doctor, enrol(&name("dr-kim"), Role::Doctor, key_part(1)))
            .unwrap();
        assert_eq!(
            events,
            vec![Event::IdentityEnrolled {
                identity: name("dr-kim"),
                address: doctor.address,
                role: Role::Doctor,
            }]
        );
        let record = world.value(&keys::identity(&name("dr-kim"))).unwrap();
        assert_eq!(record.address, doctor.address);
        assert_eq!(record.org, Some(hospital()));
        assert_eq!(record.key_part, key_part(1));
        assert_eq!(record.enrolled_at, world.height());
        assert_eq!(
            world.value(&keys::identity_of(&doctor.address)),
            Some(name("dr-kim"))
        );
    }

    #[test]
    fn a_patient_enrols_under_its_pseudonym_only() {
        let (mut world, _) = world();
        let patient = Actor::new(50);
        let pseudonym = IdentityName::patient_pseudonym(&patient.address);
        let someone_elses = IdentityName::patient_pseudonym(&Actor::new(51).address);
        for wrong in [name("alice"), someone_elses] {
            world.assert_rejected(
                &patient,
                enrol(&wrong, Role::Patient, key_part(2)),
                |e| matches!(e, ExecError::PseudonymMismatch { expected } if *expected == pseudonym),
            );
        }
        world
            .run(&patient, enrol(&pseudonym, Role::Patient, key_part(2)))
            .unwrap();
        let record = world.value(&keys::identity(&pseudonym)).unwrap();
        assert_eq!((record.role, record.org), (Role::Patient, None));
    }

    #[test]
    fn a_doctor_or_hospital_name_may_not_be_in_the_patient_namespace() {
        let (mut world, doctor) = world();
        let own_pseudonym = IdentityName::patient_pseudonym(&doctor.address);
        for role in [Role::Doctor, Role::Hospital] {
            world.assert_rejected(
                &doctor,
                enrol(&own_pseudonym, role, key_part(1)),
                |e| matches!(e, ExecError::ReservedIdentity(n) if *n == own_pseudonym),
            );
        }
    }

    #[test]
    fn doctors_and_hospitals_must_be_members_of_an_audited_hospital() {
        let (mut world, _) = world();
        let not_member = |e: &ExecError| matches!(e, ExecError::NotAuditedHospitalMember);
        let outsider = Actor::new(7);
        world.assert_rejected(
            &outsider,
            enrol(&name("dr-out"), Role::Doctor, key_part(7)),
            not_member,
        );
        let researcher = Actor::new(8);
        world.audited_org(&researcher, &org_name("Lab"), OrgKind::Research);
        world.assert_rejected(
            &researcher,
            enrol(&name("lab"), Role::Hospital, key_part(8)),
            not_member,
        );
        let pending = Actor::new(9);
        world
            .run(
                &pending,
                register(&org_name("New Clinic"), OrgKind::Hospital),
            )
            .unwrap();
        world.assert_rejected(
            &pending,
            enrol(&name("new-clinic"), Role::Hospital, key_part(9)),
            not_member,
        );
    }

    #[test]
    fn an_identity_bound_to_another_address_is_refused() {
        let (mut world, doctor) = world();
        world
            .run(&doctor, enrol(&name("dr-kim"), Role::Doctor, key_part(1)))
            .unwrap();
        let impostor = Actor::new(60);
        world.assert_rejected(
            &impostor,
            enrol(&name("dr-kim"), Role::Doctor, key_part(60)),
            |e| matches!(e, ExecError::IdentityTaken { address, .. } if *address == doctor.address),
        );
    }

    #[test]
    fn an_address_holds_one_identity() {
        let (mut world, doctor) = world();
        world
            .run(&doctor, enrol(&name("dr-kim"), Role::Doctor, key_part(1)))
            .unwrap();
        for (identity, role) in [
            (name("dr-kim-2"), Role::Doctor),
            (name("seoul-general"), Role::Hospital),
            (name("dr-kim"), Role::Doctor),
        ] {
            world.assert_rejected(
                &doctor,
                enrol(&identity, role, key_part(1)),
                |e| matches!(e, ExecError::AddressAlreadyEnrolled(n) if *n == name("dr-kim")),
            );
        }
    }

    #[test]
    fn invalid_or_identity_key_parts_are_refused() {
        let (mut world, doctor) = world();
        let mut off_curve = key_part(1);
        off_curve.0[47] ^= 1;
        // The compressed point at infinity: flags 0b11 then zeros.
        let mut infinity = [0u8; G1Point::LEN];
        infinity[0] = 0xc0;
        for bad in [
            G1Point([0; G1Point::LEN]),
            G1Point([0xff; G1Point::LEN]),
            off_curve,
            G1Point(infinity),
        ] {
            world.assert_rejected(&doctor, enrol(&name("dr-kim"), Role::Doctor, bad), |e| {
                matches!(e, ExecError::InvalidKeyPart)
            });
        }
    }

    #[test]
    fn the_first_of_two_enrolments_in_one_block_wins() {
        let (world, doctor) = world();
        let patient = Actor::new(50);
        let txs = [
            world.tx(&doctor, enrol(&name("dr-kim"), Role::Doctor, key_part(1))),
            world.tx(&patient, enrol(&name("dr-kim"), Role::Patient, key_part(2))),
        ];
        let (results, _) = world.execute(&txs);
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(ExecError::IdentityTaken { .. })));
    }

    /// A key registration by `actor` with `key` (derived from `key_seed`'s chain key) and a
    /// proof made for `for_address` on `chain`.
    fn vouching_key_payload(
        key_seed: u64,
        chain: &medchain_types::ChainId,
        for_address: &Address,
    ) -> medchain_types::Payload {
        let vouching = medchain_types::emergency::vouching_key_from(&crate::testkit::key(key_seed));
        medchain_types::Payload::Identity(IdentityPayload::SetVouchingKey {
            key: vouching.public(),
            proof: vouching.proof_of_possession(chain, for_address),
        })
    }

    #[test]
    fn doctors_and_hospitals_register_and_replace_vouching_keys() {
        let (mut world, doctor) = world();
        world
            .run(&doctor, enrol(&name("dr-kim"), Role::Doctor, key_part(1)))
            .unwrap();
        let events = world.run(&doctor, set_vouching_key(&doctor)).unwrap();
        assert_eq!(
            events,
            vec![Event::VouchingKeySet {
                address: doctor.address
            }]
        );
        let own = medchain_types::emergency::vouching_key_from(&doctor.key).public();
        let stored = world.value(&keys::vouching_key(&doctor.address)).unwrap();
        assert_eq!((stored.key, stored.set_at), (own, world.height()));
        // A new key (with its own proof for this address) replaces the old one.
        world
            .run(
                &doctor,
                vouching_key_payload(77, &chain_id(), &doctor.address),
            )
            .unwrap();
        let replaced = world.value(&keys::vouching_key(&doctor.address)).unwrap();
        let expected = medchain_types::emergency::vouching_key_from(&crate::testkit::key(77));
        assert_eq!(replaced.key, expected.public());
        // A hospital identity may too.
        let desk = HospitalDesk::of(&hospital());
        for payload in desk.opening(&hospital(), &doctor) {
            world.run(&desk.actor, payload).unwrap();
        }
        world
            .run(&desk.actor, set_vouching_key(&desk.actor))
            .unwrap();
        assert!(
            world
                .value(&keys::vouching_key(&desk.actor.address))
                .is_some()
        );
    }

    #[test]
    fn only_enrolled_identities_register_a_key_patients_included() {
        let (mut world, founder) = world();
        // Not enrolled at all (a member of an audited hospital is not enough).
        world.assert_rejected(&founder, set_vouching_key(&founder), |e| {
            matches!(e, ExecError::NotEnrolled)
        });
        let patient = Actor::new(50);
        let pseudonym = IdentityName::patient_pseudonym(&patient.address);
        world
            .run(&patient, enrol(&pseudonym, Role::Patient, key_part(2)))
            .unwrap();
        // A patient registers the key it signs its MED entries with (S3-entry).
        world.run(&patient, set_vouching_key(&patient)).unwrap();
        assert!(world.value(&keys::vouching_key(&patient.address)).is_some());
    }

    #[test]
    fn a_vouching_key_needs_its_proof_of_possession_for_the_sender_and_chain() {
        let (mut world, doctor) = world();
        world
            .run(&doctor, enrol(&name("dr-kim"), Role::Doctor, key_part(1)))
            .unwrap();
        let other_chain = medchain_types::ChainId::new("medchain-other").unwrap();
        let stranger = Actor::new(9);
        for bad in [
            // A proof made for someone else's address: replaying a key another party proved.
            vouching_key_payload(1, &chain_id(), &stranger.address),
            // A proof made for another chain.
            vouching_key_payload(1, &other_chain, &doctor.address),
        ] {
            world.assert_rejected(&doctor, bad, |e| matches!(e, ExecError::BadVouchingProof));
        }
        // A key that is not a curve point, and a proof by a different key.
        let good = medchain_types::emergency::vouching_key_from(&doctor.key);
        let proof = good.proof_of_possession(&chain_id(), &doctor.address);
        let other_key = medchain_types::emergency::vouching_key_from(&stranger.key).public();
        for key in [BlsPublicKey([0xff; BlsPublicKey::LEN]), other_key] {
            world.assert_rejected(
                &doctor,
                medchain_types::Payload::Identity(IdentityPayload::SetVouchingKey { key, proof }),
                |e| matches!(e, ExecError::BadVouchingProof),
            );
        }
        assert!(world.value(&keys::vouching_key(&doctor.address)).is_none());
    }
}
