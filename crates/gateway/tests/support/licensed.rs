//! A served chain (see `served`) with an audited hospital where a doctor is licensed, set up
//! through the client SDK's signer like any user would, and its validators played by a
//! [`BlockProducer`].

use crate::{
    producer::BlockProducer,
    served::{fresh_chain, verifying_client},
};
use medchain_client::{Client, WaitPolicy};
use medchain_state::testkit::{self, Actor, HospitalDesk, REGULATOR_SEED, org_name};
use medchain_types::{OrgKind, OrgState};

/// A chain where `doctor` founded the audited hospital `Seoul General`, its desk is open and
/// `doctor` is enrolled and licensed; every step waits by `wait`.
pub fn licensed_doctor_chain(doctor: &Actor, wait: &WaitPolicy) -> (Client, BlockProducer) {
    let chain = fresh_chain();
    let producer = BlockProducer::start(chain.clone());
    let client = verifying_client(chain);
    let hospital = org_name("Seoul General");
    let steps = [
        (
            doctor.clone(),
            testkit::register(&hospital, OrgKind::Hospital),
        ),
        (
            Actor::new(REGULATOR_SEED),
            testkit::set_state(&hospital, OrgState::Audited),
        ),
    ]
    .into_iter()
    .chain(HospitalDesk::of(&hospital).steps(&hospital, doctor));
    for (actor, payload) in steps {
        client.signer(actor.key).send(payload, Some(wait)).unwrap();
    }
    (client, producer)
}
