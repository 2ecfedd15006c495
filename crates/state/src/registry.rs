//! Registry module (S2-register, S2-state, S2-flow steps 2–4): organisations, their audit
//! state, and which addresses act for them.
//!
//! | action | rule | error |
//! |---|---|---|
//! | register | the regulator may not register (S2-register) | `RegulatorCannotRegister` |
//! | register | the name is unused | `OrgExists` |
//! | register | the sender belongs to no organisation | `AlreadyMember` |
//! | set state | only the regulator (S2-state) | `NotRegulator` |
//! | set state | the organisation exists | `UnknownOrg` |
//! | set state | the state changes | `StateUnchanged` |
//! | join | the organisation exists and is audited | `UnknownOrg`, `OrgNotAudited` |
//! | join | the endorser is a member of it | `EndorserNotMember` |
//! | join | the sender is not the regulator and belongs to no organisation | `RegulatorCannotJoin`, `AlreadyMember` |
//!
//! Registering appends the name to the list of organisations ([`keys::orgs`]) and the founder
//! to the organisation's member list ([`keys::org_members`]); joining appends the member.
//!
//! Seed 002's Algorithm 1 lets any address attach itself to an existing name; here an address
//! joins only with the signed endorsement of a member of an audited organisation (the
//! signature is checked when the transaction is verified, `medchain_types::JoinEndorsement`).

use crate::{
    ExecError, StateError, StateRead, StateReadExt,
    context::TxContext,
    keys,
    values::{Membership, Org},
};
use medchain_types::{Address, Event, OrgKind, OrgName, OrgState, RegistryPayload};

pub(crate) fn execute<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    payload: &RegistryPayload,
) -> Result<Vec<Event>, ExecError> {
    match payload {
        RegistryPayload::Register { name, kind } => register(ctx, name, *kind),
        RegistryPayload::SetState { name, state } => set_state(ctx, name, *state),
        RegistryPayload::Join { name, endorser, .. } => join(ctx, name, endorser),
    }
}

/// The organisation `address` acts for, if that organisation is audited: the gate for every
/// institution action ("only audited organisations may submit", S2-state).
pub fn audited_org_of(
    state: &impl StateRead,
    address: &Address,
) -> Result<Option<Org>, StateError> {
    let Some(membership) = state.value(&keys::membership(address))? else {
        return Ok(None);
    };
    let org = state.value(&keys::org(&membership.org))?;
    Ok(org.filter(|org| org.state == OrgState::Audited))
}

fn register<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    name: &OrgName,
    kind: OrgKind,
) -> Result<Vec<Event>, ExecError> {
    let founder = *ctx.sender;
    if founder == ctx.chain.regulator {
        return Err(ExecError::RegulatorCannotRegister);
    }
    if ctx.value(&keys::org(name))?.is_some() {
        return Err(ExecError::OrgExists(name.clone()));
    }
    ensure_not_member(ctx, &founder)?;
    let height = ctx.env.height;
    ctx.put(
        &keys::org(name),
        &Org {
            name: name.clone(),
            kind,
            state: OrgState::ToAudit,
            founder,
            members: 1,
            registered_at: height,
        },
    );
    ctx.put(
        &keys::membership(&founder),
        &Membership {
            org: name.clone(),
            joined_at: height,
            endorser: None,
        },
    );
    ctx.append(&keys::orgs().list, name)?;
    ctx.append(&keys::org_members(name).list, &founder)?;
    Ok(vec![Event::OrgRegistered {
        name: name.clone(),
        kind,
        founder,
    }])
}

fn set_state<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    name: &OrgName,
    state: OrgState,
) -> Result<Vec<Event>, ExecError> {
    if *ctx.sender != ctx.chain.regulator {
        return Err(ExecError::NotRegulator);
    }
    let mut org = existing_org(ctx, name)?;
    if org.state == state {
        return Err(ExecError::StateUnchanged(state));
    }
    let from = org.state;
    org.state = state;
    ctx.put(&keys::org(name), &org);
    Ok(vec![Event::OrgStateChanged {
        name: name.clone(),
        from,
        to: state,
    }])
}

fn join<R: StateRead>(
    ctx: &mut TxContext<'_, R>,
    name: &OrgName,
    endorser: &Address,
) -> Result<Vec<Event>, ExecError> {
    let mut org = existing_org(ctx, name)?;
    if org.state != OrgState::Audited {
        return Err(ExecError::OrgNotAudited(name.clone()));
    }
    let endorser_org = ctx.value(&keys::membership(endorser))?.map(|m| m.org);
    if endorser_org.as_ref() != Some(name) {
        return Err(ExecError::EndorserNotMember(*endorser));
    }
    let member = *ctx.sender;
    if member == ctx.chain.regulator {
        return Err(ExecError::RegulatorCannotJoin);
    }
    ensure_not_member(ctx, &member)?;
    org.members = org.members.saturating_add(1);
    ctx.put(&keys::org(name), &org);
    ctx.put(
        &keys::membership(&member),
        &Membership {
            org: name.clone(),
            joined_at: ctx.env.height,
            endorser: Some(*endorser),
        },
    );
    ctx.append(&keys::org_members(name).list, &member)?;
    Ok(vec![Event::MemberJoined {
        name: name.clone(),
        member,
        endorser: *endorser,
    }])
}

fn existing_org<R: StateRead>(ctx: &TxContext<'_, R>, name: &OrgName) -> Result<Org, ExecError> {
    ctx.value(&keys::org(name))?
        .ok_or_else(|| ExecError::UnknownOrg(name.clone()))
}

fn ensure_not_member<R: StateRead>(
    ctx: &TxContext<'_, R>,
    address: &Address,
) -> Result<(), ExecError> {
    match ctx.value(&keys::membership(address))? {
        Some(membership) => Err(ExecError::AlreadyMember(membership.org)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{
        Actor, World, join as join_payload, org_name, register as register_payload,
        set_state as set_state_payload,
    };

    fn hospital() -> OrgName {
        org_name("Seoul General")
    }

    #[test]
    fn registering_creates_a_to_audit_org_with_its_founder_as_member() {
        let mut world = World::new();
        let founder = Actor::new(1);
        let events = world
            .run(&founder, register_payload(&hospital(), OrgKind::Hospital))
            .unwrap();
        assert_eq!(
            events,
            vec![Event::OrgRegistered {
                name: hospital(),
                kind: OrgKind::Hospital,
                founder: founder.address,
            }]
        );
        let org = world.value(&keys::org(&hospital())).unwrap();
        assert_eq!(org.state, OrgState::ToAudit);
        assert_eq!(org.founder, founder.address);
        assert_eq!(org.members, 1);
        assert_eq!(org.registered_at, world.height());
        let membership = world.value(&keys::membership(&founder.address)).unwrap();
        assert_eq!(membership.org, hospital());
        assert_eq!(membership.endorser, None);
    }

    #[test]
    fn the_regulator_cannot_register() {
        let mut world = World::new();
        let regulator = world.regulator.clone();
        world.assert_rejected(
            &regulator,
            register_payload(&hospital(), OrgKind::Hospital),
            |e| matches!(e, ExecError::RegulatorCannotRegister),
        );
    }

    #[test]
    fn a_taken_name_cannot_be_registered_again() {
        let mut world = World::new();
        world
            .run(
                &Actor::new(1),
                register_payload(&hospital(), OrgKind::Hospital),
            )
            .unwrap();
        world.assert_rejected(
            &Actor::new(2),
            register_payload(&hospital(), OrgKind::Research),
            |e| matches!(e, ExecError::OrgExists(name) if *name == hospital()),
        );
    }

    #[test]
    fn a_member_cannot_register_a_second_org() {
        let mut world = World::new();
        let founder = Actor::new(1);
        world
            .run(&founder, register_payload(&hospital(), OrgKind::Hospital))
            .unwrap();
        world.assert_rejected(
            &founder,
            register_payload(&org_name("Other"), OrgKind::Cloud),
            |e| matches!(e, ExecError::AlreadyMember(name) if *name == hospital()),
        );
    }

    #[test]
    fn only_the_regulator_changes_states_and_any_transition_is_allowed() {
        let mut world = World::new();
        let founder = Actor::new(1);
        world
            .run(&founder, register_payload(&hospital(), OrgKind::Hospital))
            .unwrap();
        world.assert_rejected(
            &founder,
            set_state_payload(&hospital(), OrgState::Audited),
            |e| matches!(e, ExecError::NotRegulator),
        );
        let regulator = world.regulator.clone();
        let transitions = [
            (OrgState::ToAudit, OrgState::Audited),
            (OrgState::Audited, OrgState::Suspended),
            (OrgState::Suspended, OrgState::Audited),
            (OrgState::Audited, OrgState::ToAudit),
            (OrgState::ToAudit, OrgState::Suspended),
            (OrgState::Suspended, OrgState::ToAudit),
        ];
        for (from, to) in transitions {
            let events = world
                .run(&regulator, set_state_payload(&hospital(), to))
                .unwrap();
            assert_eq!(
                events,
                vec![Event::OrgStateChanged {
                    name: hospital(),
                    from,
                    to
                }]
            );
            assert_eq!(world.value(&keys::org(&hospital())).unwrap().state, to);
        }
    }

    #[test]
    fn setting_an_unknown_org_or_an_unchanged_state_is_rejected() {
        let mut world = World::new();
        let regulator = world.regulator.clone();
        world.assert_rejected(
            &regulator,
            set_state_payload(&hospital(), OrgState::Audited),
            |e| matches!(e, ExecError::UnknownOrg(_)),
        );
        world
            .run(
                &Actor::new(1),
                register_payload(&hospital(), OrgKind::Hospital),
            )
            .unwrap();
        world.assert_rejected(
            &regulator,
            set_state_payload(&hospital(), OrgState::ToAudit),
            |e| matches!(e, ExecError::StateUnchanged(OrgState::ToAudit)),
        );
    }

    #[test]
    fn an_endorsed_address_joins_an_audited_org() {
        let mut world = World::new();
        let founder = Actor::new(1);
        world.audited_org(&founder, &hospital(), OrgKind::Hospital);
        let doctor = Actor::new(2);
        let events = world
            .run(&doctor, join_payload(&hospital(), &founder, &doctor))
            .unwrap();
        assert_eq!(
            events,
            vec![Event::MemberJoined {
                name: hospital(),
                member: doctor.address,
                endorser: founder.address,
            }]
        );
        assert_eq!(world.value(&keys::org(&hospital())).unwrap().members, 2);
        let membership = world.value(&keys::membership(&doctor.address)).unwrap();
        assert_eq!(membership.endorser, Some(founder.address));
        // The new member can endorse in turn.
        let nurse = Actor::new(3);
        world
            .run(&nurse, join_payload(&hospital(), &doctor, &nurse))
            .unwrap();
        assert_eq!(world.value(&keys::org(&hospital())).unwrap().members, 3);
    }

    #[test]
    fn organisations_and_their_members_are_listed_in_order() {
        let mut world = World::new();
        let founder = Actor::new(1);
        world.audited_org(&founder, &hospital(), OrgKind::Hospital);
        let other_founder = Actor::new(5);
        world
            .run(
                &other_founder,
                register_payload(&org_name("Lab"), OrgKind::Research),
            )
            .unwrap();
        let doctor = Actor::new(2);
        world
            .run(&doctor, join_payload(&hospital(), &founder, &doctor))
            .unwrap();
        let nurse = Actor::new(3);
        world
            .run(&nurse, join_payload(&hospital(), &doctor, &nurse))
            .unwrap();
        assert_eq!(
            world.list(&keys::orgs().list),
            vec![hospital(), org_name("Lab")]
        );
        assert_eq!(
            world.list(&keys::org_members(&hospital()).list),
            vec![founder.address, doctor.address, nurse.address]
        );
        assert_eq!(
            world.list(&keys::org_members(&org_name("Lab")).list),
            vec![other_founder.address]
        );
        // The member count in the organisation and its list's length agree.
        assert_eq!(
            world.value(&keys::org(&hospital())).unwrap().members,
            world.list(&keys::org_members(&hospital()).list).len() as u64
        );
    }

    #[test]
    fn rejected_registrations_and_joins_list_nothing() {
        let mut world = World::new();
        let founder = Actor::new(1);
        world.audited_org(&founder, &hospital(), OrgKind::Hospital);
        // A taken name, a second org for a member, a join endorsed by an outsider.
        world.assert_rejected(
            &Actor::new(2),
            register_payload(&hospital(), OrgKind::Research),
            |e| matches!(e, ExecError::OrgExists(_)),
        );
        world.assert_rejected(
            &founder,
            register_payload(&org_name("Other"), OrgKind::Cloud),
            |e| matches!(e, ExecError::AlreadyMember(_)),
        );
        let doctor = Actor::new(2);
        let outsider = Actor::new(4);
        world.assert_rejected(
            &doctor,
            join_payload(&hospital(), &outsider, &doctor),
            |e| matches!(e, ExecError::EndorserNotMember(_)),
        );
        assert_eq!(world.list(&keys::orgs().list), vec![hospital()]);
        assert_eq!(
            world.list(&keys::org_members(&hospital()).list),
            vec![founder.address]
        );
    }

    #[test]
    fn joining_requires_an_audited_org() {
        let mut world = World::new();
        let founder = Actor::new(1);
        let doctor = Actor::new(2);
        world.assert_rejected(&doctor, join_payload(&hospital(), &founder, &doctor), |e| {
            matches!(e, ExecError::UnknownOrg(_))
        });
        world
            .run(&founder, register_payload(&hospital(), OrgKind::Hospital))
            .unwrap();
        world.assert_rejected(&doctor, join_payload(&hospital(), &founder, &doctor), |e| {
            matches!(e, ExecError::OrgNotAudited(_))
        });
        let regulator = world.regulator.clone();
        world
            .run(
                &regulator,
                set_state_payload(&hospital(), OrgState::Audited),
            )
            .unwrap();
        world
            .run(
                &regulator,
                set_state_payload(&hospital(), OrgState::Suspended),
            )
            .unwrap();
        world.assert_rejected(&doctor, join_payload(&hospital(), &founder, &doctor), |e| {
            matches!(e, ExecError::OrgNotAudited(_))
        });
    }

    #[test]
    fn a_non_member_cannot_endorse_a_join() {
        // Seed 002's Algorithm 1 flaw: anyone attaching to a name. Here the endorser must belong.
        let mut world = World::new();
        let founder = Actor::new(1);
        world.audited_org(&founder, &hospital(), OrgKind::Hospital);
        let outsider = Actor::new(4);
        let other_founder = Actor::new(5);
        world.audited_org(&other_founder, &org_name("Other"), OrgKind::Hospital);
        let doctor = Actor::new(2);
        for endorser in [&outsider, &other_founder, &doctor] {
            world.assert_rejected(
                &doctor,
                join_payload(&hospital(), endorser, &doctor),
                |e| matches!(e, ExecError::EndorserNotMember(a) if *a == endorser.address),
            );
        }
    }

    #[test]
    fn the_regulator_and_existing_members_cannot_join() {
        let mut world = World::new();
        let founder = Actor::new(1);
        world.audited_org(&founder, &hospital(), OrgKind::Hospital);
        let other_founder = Actor::new(5);
        world.audited_org(&other_founder, &org_name("Other"), OrgKind::Research);
        let regulator = world.regulator.clone();
        world.assert_rejected(
            &regulator,
            join_payload(&hospital(), &founder, &regulator),
            |e| matches!(e, ExecError::RegulatorCannotJoin),
        );
        world.assert_rejected(
            &other_founder,
            join_payload(&hospital(), &founder, &other_founder),
            |e| matches!(e, ExecError::AlreadyMember(name) if name.as_str() == "Other"),
        );
    }

    #[test]
    fn audited_org_of_follows_the_org_state() {
        let mut world = World::new();
        let founder = Actor::new(1);
        assert_eq!(
            audited_org_of(&world.store, &founder.address).unwrap(),
            None
        );
        world
            .run(&founder, register_payload(&hospital(), OrgKind::Hospital))
            .unwrap();
        assert_eq!(
            audited_org_of(&world.store, &founder.address).unwrap(),
            None
        );
        let regulator = world.regulator.clone();
        world
            .run(
                &regulator,
                set_state_payload(&hospital(), OrgState::Audited),
            )
            .unwrap();
        assert_eq!(
            audited_org_of(&world.store, &founder.address)
                .unwrap()
                .unwrap()
                .name,
            hospital()
        );
        world
            .run(
                &regulator,
                set_state_payload(&hospital(), OrgState::Suspended),
            )
            .unwrap();
        assert_eq!(
            audited_org_of(&world.store, &founder.address).unwrap(),
            None
        );
    }
}
