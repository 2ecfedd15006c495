//! The research market's proven queries (S4-flow) against a real state with a real Groth16
//! enrolment, certified by real finalization certificates: a lying node cannot alter a study's
//! pool, pass one study's nullifier off as another's, or hide an enrolment.

mod common;

use common::*;
use medchain_client::{LightClient, StateQuery, VerifyError};
use medchain_state::{
    StateValue,
    testkit::{Actor, ELIGIBLE, Market, ResearchPatient, genesis_document},
    values::Study,
};
use medchain_types::{EnrolmentId, Event, StudyId};

/// A funded study with one enrolment, and the world that holds them.
struct Enrolled {
    market: Market,
    study: StudyId,
    other_study: StudyId,
    enrolment: EnrolmentId,
}

fn enrolled() -> Enrolled {
    let (mut market, circuit) = Market::with_circuit(&genesis_document());
    let study = market.funded_study(circuit, false);
    let other_study = market.funded_study(circuit, false);
    let patient = ResearchPatient::another(&mut market, 70);
    let one_time = Actor::new(71);
    let payload = patient.enrolment(&market, &study, ELIGIBLE, &one_time);
    let tx = market.world.tx(&one_time, payload);
    let events = market.world.run_tx(&tx).unwrap();
    assert!(
        matches!(events.as_slice(), [.., Event::Enrolled { .. }]),
        "{events:?}"
    );
    Enrolled {
        market,
        study,
        other_study,
        enrolment: EnrolmentId::from(tx.id()),
    }
}

fn light() -> LightClient {
    LightClient::new(genesis()).unwrap()
}

#[test]
fn an_enrolment_its_study_and_its_nullifier_verify_and_cannot_be_altered() {
    let Enrolled {
        market,
        study,
        other_study,
        enrolment,
    } = enrolled();
    let world = &market.world;
    let query = StateQuery::enrolment(&enrolment);
    let stored = query
        .verify(&light(), &certified_view(world, query.key().as_bytes()))
        .unwrap()
        .value
        .expect("the enrolment is on chain");
    assert_eq!(stored.study, study);

    // The nullifier names this enrolment in its study, and nothing in another study.
    let used = StateQuery::study_nullifier(&study, &stored.nullifier);
    let view = certified_view(world, used.key().as_bytes());
    assert_eq!(used.verify(&light(), &view).unwrap().value, Some(enrolment));
    let elsewhere = StateQuery::study_nullifier(&other_study, &stored.nullifier);
    assert!(matches!(
        elsewhere.verify(&light(), &view),
        Err(VerifyError::Proof(_))
    ));
    let unused = certified_view(world, elsewhere.key().as_bytes());
    assert!(elsewhere.verify(&light(), &unused).unwrap().value.is_none());

    // A node that inflates the study's enrolment count is caught.
    let query = StateQuery::study(&study);
    let mut view = certified_view(world, query.key().as_bytes());
    let honest = query.verify(&light(), &view).unwrap().value.unwrap();
    assert_eq!(honest.enrolled, 1);
    let mut inflated = Study::from_bytes(view.proven.value.as_deref().unwrap()).unwrap();
    inflated.enrolled = 0;
    view.proven.value = Some(inflated.to_bytes());
    assert!(matches!(
        query.verify(&light(), &view),
        Err(VerifyError::Proof(_))
    ));

    // The accumulator the patient checks its rebuilt root against.
    let query = StateQuery::accumulator();
    let accumulator = query
        .verify(&light(), &certified_view(world, query.key().as_bytes()))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(accumulator.leaves, 1);
}
