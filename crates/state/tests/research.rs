//! The research module (S4-flow, S4-exclusive) with real Groth16 keys and proofs: circuits,
//! nullifier keys, attestations, studies and their pools, enrolments verified on chain, the
//! proxies' log and refunds; and every refusal, each leaving the state exactly as an empty
//! block would (same root, nonce unmoved).

use ark_std::rand::{SeedableRng, rngs::StdRng};
use medchain_state::{
    ExecError, keys,
    research::prepaid_by_reward,
    testkit::{
        Actor, DISPUTE_WINDOW_MS, ELIGIBLE, HospitalDesk, MARKET_FUNDS, Market,
        ResearchPatient as Patient, StudyDraft, World, acknowledge, attest, claim, dispute,
        fund_study, genesis_document, nullifier_key, org_name, predicate, reencrypted,
        refund_study, register_circuit, register_proxy, resolve, set_state, token_genesis,
        umbral_key, zk_keys,
    },
    values::{LedgerKind, Settlement, Study},
};
use medchain_types::{
    ContentHash, EnrolmentId, Event, Hash32, OrgState, Payload, Purpose, RecordId, StudyId, limits,
    research::{ResearchPayload, ZkBytes, enrolment_binding},
    token::Lock,
};
use zk::{PatientSecret, RecordOpening};

fn study(world: &World, id: &StudyId) -> Study {
    world.value(&keys::study(id)).expect("a published study")
}

fn pool_value(world: &World, study: &Study) -> u64 {
    world
        .value(&keys::output(&study.pool.expect("a funded pool")))
        .expect("the pool output is unspent")
        .value
}

/// Runs an enrolment from `sender`; returns its id.
fn enrolled(market: &mut Market, sender: &Actor, payload: Payload) -> EnrolmentId {
    let tx = market.world.tx(sender, payload);
    market.world.run_tx(&tx).unwrap();
    EnrolmentId::from(tx.id())
}

/// The researcher's study with its free and owed tokens, and its pool output's value (0 once
/// spent): the output always holds exactly `pooled + owed`.
fn pool_parts(world: &World, id: &StudyId) -> (u64, u64, u64) {
    let study = study(world, id);
    let value = study.pool.map_or(0, |_| pool_value(world, &study));
    assert_eq!(
        value,
        study.pooled + study.owed,
        "the pool holds free + owed"
    );
    (study.pooled, study.owed, value)
}

fn settlement(world: &World, id: &EnrolmentId) -> Settlement {
    world.value(&keys::enrolment(id)).unwrap().settlement
}

#[test]
fn the_whole_flow_pays_an_advance_then_the_rest_once_acknowledged_or_unchallenged() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let patient = Patient::first(&mut market, "52", "6.8");
    let other_patient = Patient::another(&mut market, 7_003);
    let researcher = market.researcher.clone();
    let before_publish = market.world.balance(&researcher.address);
    let study_id = market.funded_study(circuit, false);
    let funded = study(&market.world, &study_id);
    assert_eq!((funded.pooled, funded.owed, funded.enrolled), (5_000, 0, 0));
    assert_eq!(pool_value(&market.world, &funded), 5_000);
    assert_eq!(
        market
            .world
            .value(&keys::output(&funded.pool.unwrap()))
            .unwrap()
            .lock,
        Lock::Escrow(medchain_types::EscrowId(study_id.0))
    );
    assert!(market.world.balance(&researcher.address) < before_publish - 5_000);
    assert_eq!(market.world.list(&keys::studies().list), vec![study_id]);

    // The patient enrols with a one-time key holding nothing: the advance pays its fee, and
    // nothing more is paid before the researcher has checked the record (F11).
    let one_time = Actor::new(7_001);
    let payload = patient.enrolment(&market, &study_id, ELIGIBLE, &one_time);
    let tx = market.world.tx(&one_time, payload.clone());
    let fee = tx.body().fee;
    let events = market.world.run_tx(&tx).unwrap();
    let enrolment = EnrolmentId::from(tx.id());
    assert_eq!(
        events,
        vec![Event::Enrolled {
            study: study_id,
            enrolment,
            reward: fee,
            owed: 1_000 - fee,
        }]
    );
    assert_eq!(market.world.balance(&one_time.address), 0);
    assert_eq!(
        pool_parts(&market.world, &study_id),
        (4_000, 1_000 - fee, 5_000 - fee)
    );
    assert!(
        market
            .world
            .value(&keys::output(&funded.pool.unwrap()))
            .is_none(),
        "the old pool output is spent"
    );
    let recorded = market.world.value(&keys::enrolment(&enrolment)).unwrap();
    assert_eq!(recorded.payee, one_time.address);
    assert_eq!(
        (recorded.advance, recorded.owed, recorded.settlement),
        (fee, 1_000 - fee, Settlement::Pending)
    );
    let Payload::Research(ResearchPayload::Enrol { delivery, .. }) = &payload else {
        unreachable!()
    };
    assert_eq!(recorded.delivery, *delivery);
    // The researcher who decrypts the record checks it against the delivery tag.
    let binding = enrolment_binding(
        &one_time.address,
        recorded.delegating_key.as_slice(),
        recorded.verifying_key.as_slice(),
        &recorded.ciphertext_hash,
    );
    let key = patient
        .secret
        .delivery_key(zk::study_tag(
            &<[u8; 32]>::try_from(study_id.as_bytes()).expect("32 bytes"),
        ))
        .expect("canonical");
    let expected = zk::delivery_tag(
        &patient.opening.record_hash(),
        &key,
        zk::binding_of(&binding),
    )
    .expect("canonical");
    assert_eq!(recorded.delivery, Hash32::from(expected.to_bytes()));
    assert_ne!(
        recorded.delivery,
        Hash32::from(
            zk::delivery_tag(&[0; 32], &key, zk::binding_of(&binding))
                .expect("canonical")
                .to_bytes()
        )
    );
    assert_eq!(
        market.world.list(&keys::study_enrolments(&study_id).list),
        vec![enrolment]
    );
    let history = market.world.list(&keys::token_history(&one_time.address));
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, LedgerKind::StudyReward);
    assert_eq!(history[0].counterparty, Some(researcher.address));

    // Two proxies log their re-encryption, once each; nobody else can.
    let proxies = market.proxies.clone();
    for proxy in &proxies[..2] {
        assert_eq!(
            market.world.run(proxy, reencrypted(&enrolment)).unwrap(),
            vec![Event::Reencrypted {
                enrolment,
                proxy: proxy.address
            }]
        );
    }
    assert_eq!(
        market.world.list(&keys::reencryptions(&enrolment)),
        vec![proxies[0].address, proxies[1].address]
    );
    market
        .world
        .assert_rejected(&proxies[0], reencrypted(&enrolment), |e| {
            matches!(e, ExecError::AlreadyLogged)
        });
    market
        .world
        .assert_rejected(&researcher, reencrypted(&enrolment), |e| {
            matches!(e, ExecError::NotStudyProxy)
        });
    let nowhere = EnrolmentId(ContentHash::of(b"no such enrolment").0);
    market
        .world
        .assert_rejected(&proxies[2], reencrypted(&nowhere), |e| {
            matches!(e, ExecError::UnknownEnrolment(_))
        });

    // Before the researcher acknowledges, and before the dispute window ends, the owed reward
    // stays in the pool; only the payee claims; only the researcher acknowledges.
    market.world.assert_rejected(&one_time, claim(&enrolment), |e| {
        matches!(e, ExecError::ClaimTooEarly { claimable_at_ms } if *claimable_at_ms == funded.deadline_ms + DISPUTE_WINDOW_MS)
    });
    let stranger = market.doctor.clone();
    market
        .world
        .assert_rejected(&stranger, claim(&enrolment), |e| {
            matches!(e, ExecError::NotPayee)
        });
    for payload in [acknowledge(&enrolment), dispute(&enrolment)] {
        market.world.assert_rejected(&stranger, payload, |e| {
            matches!(e, ExecError::NotResearcher)
        });
    }
    assert_eq!(
        market
            .world
            .run(&researcher, acknowledge(&enrolment))
            .unwrap(),
        vec![Event::EnrolmentAcknowledged { enrolment }]
    );
    for payload in [acknowledge(&enrolment), dispute(&enrolment)] {
        market.world.assert_rejected(&researcher, payload, |e| {
            matches!(
                e,
                ExecError::NotPending {
                    settlement: Settlement::Acknowledged
                }
            )
        });
    }
    // The claim's fee is prepaid from what it takes: the one-time key still holds nothing.
    assert_eq!(
        prepaid_by_reward(&market.world.store, &claim(&enrolment)).unwrap(),
        1_000 - fee
    );
    let claim_tx = market.world.tx(&one_time, claim(&enrolment));
    let claim_fee = claim_tx.body().fee;
    assert_eq!(
        market.world.run_tx(&claim_tx).unwrap(),
        vec![Event::RewardClaimed {
            enrolment,
            payee: one_time.address,
            amount: 1_000 - fee,
        }]
    );
    assert_eq!(
        market.world.balance(&one_time.address),
        1_000 - fee - claim_fee
    );
    assert_eq!(settlement(&market.world, &enrolment), Settlement::Claimed);
    assert_eq!(
        market.world.list(&keys::token_history(&one_time.address))[1].kind,
        LedgerKind::StudyRewardClaimed
    );
    assert_eq!(pool_parts(&market.world, &study_id), (4_000, 0, 4_000));
    market
        .world
        .assert_rejected(&one_time, claim(&enrolment), |e| {
            matches!(
                e,
                ExecError::NotClaimable {
                    settlement: Settlement::Claimed
                }
            )
        });

    // A second enrolment the researcher never answers.
    let silent = Actor::new(7_004);
    let payload = other_patient.enrolment(&market, &study_id, ELIGIBLE, &silent);
    let silent_enrolment = enrolled(&mut market, &silent, payload);
    assert_eq!(
        pool_parts(&market.world, &study_id),
        (3_000, 1_000 - fee, 4_000 - fee)
    );

    // No refund while open; after the deadline no enrolment, and the free tokens return while
    // what is owed stays.
    market
        .world
        .assert_rejected(&researcher, refund_study(&study_id), |e| {
            matches!(e, ExecError::StudyStillOpen { .. })
        });
    market.world.advance_time(3_600_000);
    let late = Actor::new(7_002);
    let late_payload = patient.enrolment(&market, &study_id, ELIGIBLE, &late);
    let late_tx = market.world.tx(&late, late_payload);
    market
        .world
        .assert_tx_rejected(&late_tx, |e| matches!(e, ExecError::StudyClosed { .. }));
    market
        .world
        .assert_rejected(&researcher, fund_study(&study_id, 10), |e| {
            matches!(e, ExecError::StudyClosed { .. })
        });
    let before_refund = market.world.balance(&researcher.address);
    let tx = market.world.tx(&researcher, refund_study(&study_id));
    let refund_fee = tx.body().fee;
    assert_eq!(
        market.world.run_tx(&tx).unwrap(),
        vec![Event::StudyRefunded {
            study: study_id,
            amount: 3_000
        }]
    );
    assert_eq!(
        market.world.balance(&researcher.address),
        before_refund + 3_000 - refund_fee
    );
    assert_eq!(
        pool_parts(&market.world, &study_id),
        (0, 1_000 - fee, 1_000 - fee)
    );
    market
        .world
        .assert_rejected(&researcher, refund_study(&study_id), |e| {
            matches!(e, ExecError::NothingToRefund)
        });

    // Still inside the dispute window: no claim yet. After it: no dispute, and the silent
    // researcher's owed reward is the payee's.
    market
        .world
        .assert_rejected(&silent, claim(&silent_enrolment), |e| {
            matches!(e, ExecError::ClaimTooEarly { .. })
        });
    market.world.advance_time(DISPUTE_WINDOW_MS);
    market
        .world
        .assert_rejected(&researcher, dispute(&silent_enrolment), |e| {
            matches!(e, ExecError::DisputeWindowClosed { .. })
        });
    let claimed = market.world.run(&silent, claim(&silent_enrolment)).unwrap();
    assert!(
        matches!(claimed.as_slice(), [Event::RewardClaimed { amount, .. }] if *amount == 1_000 - fee)
    );
    let emptied = study(&market.world, &study_id);
    assert_eq!((emptied.pool, emptied.pooled, emptied.owed), (None, 0, 0));
}

#[test]
fn only_the_regulator_registers_circuits_and_degenerate_keys_are_refused() {
    let mut market = Market::with_genesis(&genesis_document());
    let vk = zk_keys().vk.to_bytes();
    let researcher = market.researcher.clone();
    market
        .world
        .assert_rejected(&researcher, register_circuit(&vk), |e| {
            matches!(e, ExecError::NotRegulator)
        });
    let regulator = market.world.regulator.clone();
    market
        .world
        .assert_rejected(&regulator, register_circuit(b"not a key"), |e| {
            matches!(e, ExecError::BadVerifyingKey(_))
        });
    // γ = δ lets anyone forge a proof with no witness: copy γ over δ.
    let header = b"MCZKVK\x01".len() + zk_keys().vk.shape().to_bytes().len();
    let (alpha, g2) = (32, 64);
    let gamma = header + alpha + g2;
    let delta = gamma + g2;
    let mut degenerate = vk.clone();
    degenerate.copy_within(gamma..gamma + g2, delta);
    assert_ne!(degenerate, vk);
    market
        .world
        .assert_rejected(&regulator, register_circuit(&degenerate), |e| {
            matches!(e, ExecError::BadVerifyingKey(_))
        });
    // Only a schema the proving system knows, and only a key over its N attributes (F8).
    let mut unknown_schema = register_circuit(&vk);
    if let Payload::Research(ResearchPayload::RegisterCircuit { schema, .. }) = &mut unknown_schema
    {
        *schema = "clinical_v2".into();
    }
    market.world.assert_rejected(
        &regulator,
        unknown_schema,
        |e| matches!(e, ExecError::UnknownSchema(s) if s == "clinical_v2"),
    );
    let small = zk::CircuitShape::new(2, 1, 0).unwrap();
    let (_, small_vk) = zk::setup(&small, &mut StdRng::seed_from_u64(5), &mut |_, _| {}).unwrap();
    market
        .world
        .assert_rejected(&regulator, register_circuit(&small_vk.to_bytes()), |e| {
            matches!(
                e,
                ExecError::SchemaShapeMismatch { schema, key: 2 }
                    if *schema == zk_keys().schema.num_attributes()
            )
        });
    let circuit = market.register_circuit(&vk);
    assert_eq!(circuit, Hash32::from(zk_keys().vk.digest()));
    let stored = market.world.value(&keys::circuit(&circuit)).unwrap();
    assert_eq!(stored.verifying_key.as_slice(), vk.as_slice());
    assert_eq!(stored.schema.0, "clinical_v1");
    market
        .world
        .assert_rejected(&regulator, register_circuit(&vk), |e| {
            matches!(e, ExecError::CircuitExists)
        });
}

#[test]
fn nullifier_keys_are_filed_once_by_patient_identities() {
    let mut market = Market::with_genesis(&genesis_document());
    let key = PatientSecret::from_seed(&[5; 32])
        .nullifier_key()
        .to_bytes();
    let (doctor, patient) = (market.doctor.clone(), market.patient.clone());
    market
        .world
        .assert_rejected(&doctor, nullifier_key(key), |e| {
            matches!(e, ExecError::NotAPatient)
        });
    market
        .world
        .assert_rejected(&Actor::new(8_000), nullifier_key(key), |e| {
            matches!(e, ExecError::NotEnrolled)
        });
    market
        .world
        .assert_rejected(&patient, nullifier_key([0xff; 32]), |e| {
            matches!(e, ExecError::NotAFieldElement(_))
        });
    assert_eq!(
        market.world.run(&patient, nullifier_key(key)).unwrap(),
        vec![Event::NullifierKeySet {
            patient: patient.address
        }]
    );
    assert_eq!(
        market.world.value(&keys::nullifier_key(&patient.address)),
        Some(Hash32::from(key))
    );
    let other = PatientSecret::from_seed(&[6; 32])
        .nullifier_key()
        .to_bytes();
    market
        .world
        .assert_rejected(&patient, nullifier_key(other), |e| {
            matches!(e, ExecError::NullifierKeyExists)
        });
}

#[test]
fn only_the_releasing_audited_hospital_attests_and_only_once() {
    let mut market = Market::with_genesis(&genesis_document());
    let record = market.release(b"EMR to attest");
    let commitment = ContentHash::of(b"a commitment").0;
    let mut field_element = [0u8; 32];
    field_element[..31].copy_from_slice(&commitment.as_ref()[..31]);
    let desk = market.desk.actor.clone();
    // The patient has no nullifier key yet: no commitment can bind it.
    market.world.assert_rejected(
        &desk,
        attest(&record, field_element),
        |e| matches!(e, ExecError::NoNullifierKey(p) if *p == market.patient.address),
    );
    let patient = market.patient.clone();
    let nk = PatientSecret::from_seed(&[9; 32])
        .nullifier_key()
        .to_bytes();
    market.world.run(&patient, nullifier_key(nk)).unwrap();

    // Another hospital's desk, a doctor, an unknown record, a non-field element.
    let busan = org_name("Busan Clinic");
    let busan_desk = HospitalDesk::of(&busan);
    let founder = Actor::new(2);
    for payload in busan_desk.opening(&busan, &founder) {
        market.world.run(&busan_desk.actor, payload).unwrap();
    }
    market.world.assert_rejected(
        &busan_desk.actor,
        attest(&record, field_element),
        |e| matches!(e, ExecError::NotRecordHospital(r) if *r == record),
    );
    let doctor = market.doctor.clone();
    market
        .world
        .assert_rejected(&doctor, attest(&record, field_element), |e| {
            matches!(e, ExecError::NotAHospital(_))
        });
    market.world.assert_rejected(
        &desk,
        attest(
            &RecordId(ContentHash::of(b"never released").0),
            field_element,
        ),
        |e| matches!(e, ExecError::UnknownRecord(_)),
    );
    market
        .world
        .assert_rejected(&desk, attest(&record, [0xff; 32]), |e| {
            matches!(e, ExecError::NotAFieldElement(_))
        });

    // A suspended hospital attests nothing.
    let regulator = market.world.regulator.clone();
    let seoul = org_name("Seoul General");
    market
        .world
        .run(&regulator, set_state(&seoul, OrgState::Suspended))
        .unwrap();
    market
        .world
        .assert_rejected(&desk, attest(&record, field_element), |e| {
            matches!(e, ExecError::OrgNotAudited(_))
        });
    market
        .world
        .run(&regulator, set_state(&seoul, OrgState::Audited))
        .unwrap();

    assert_eq!(market.attest(&record, field_element), 0);
    let stored = market.world.value(&keys::attestation(&record)).unwrap();
    assert_eq!(
        (stored.commitment, stored.hospital, stored.leaf),
        (Hash32::from(field_element), desk.address, 0)
    );
    let accumulator = market.world.value(&keys::accumulator()).unwrap();
    assert_eq!(accumulator.leaves, 1);
    assert_eq!(
        market
            .world
            .value(&keys::accumulator_root(&accumulator.root)),
        Some(1)
    );
    assert_eq!(market.attested_commitments(), vec![field_element]);
    market.world.assert_rejected(
        &desk,
        attest(&record, field_element),
        |e| matches!(e, ExecError::AlreadyAttested(r) if *r == record),
    );
}

#[test]
fn a_proof_against_a_self_made_commitment_is_refused() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let patient = Patient::first(&mut market, "52", "6.8");
    let study_id = market.funded_study(circuit, false);
    // A commitment the patient made up (it claims age 80), in a tree of its own: the proof is
    // valid for that tree, whose root the chain never had.
    let record = zk_keys()
        .schema
        .encode(&[("age", "80"), ("hba1c", "9.0")])
        .unwrap();
    let forged = RecordOpening::random(
        &zk_keys().schema,
        record,
        patient.secret.nullifier_key(),
        [7; 32],
        &mut StdRng::seed_from_u64(99),
    )
    .unwrap();
    let own_tree = [forged.commit().unwrap()];
    let path = zk::membership_path(&own_tree, 0).unwrap();
    let impostor = Patient {
        opening: forged,
        leaf: 0,
        ..patient
    };
    let sender = Actor::new(7_010);
    let payload = impostor.prove(&study_id, ELIGIBLE, &sender, &path);
    market
        .world
        .assert_rejected(&sender, payload, |e| matches!(e, ExecError::UnknownRoot));
}

#[test]
fn a_proof_is_bound_to_its_study_predicate_and_sender() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let patient = Patient::first(&mut market, "52", "6.8");
    let study_id = market.funded_study(circuit, false);
    let twin = market.funded_study(circuit, false);
    let other_predicate = market.publish(&market.draft(circuit, "age >= 30 and hba1c >= 6.0"));
    market.fund(&other_predicate, 5_000);
    let sender = Actor::new(7_020);
    let payload = patient.enrolment(&market, &study_id, ELIGIBLE, &sender);
    let with = |edit: &dyn Fn(&mut ResearchPayload)| {
        let Payload::Research(mut inner) = payload.clone() else {
            unreachable!()
        };
        edit(&mut inner);
        Payload::Research(inner)
    };

    // Front-running: the same proof filed by someone else.
    let thief = Actor::new(7_021);
    market.world.assert_rejected(&thief, payload.clone(), |e| {
        matches!(e, ExecError::ProofRejected)
    });
    // The same proof for another study with the same predicate, or another predicate.
    for other in [twin, other_predicate] {
        let moved = with(&|p| {
            if let ResearchPayload::Enrol { study, .. } = p {
                *study = other;
            }
        });
        market
            .world
            .assert_rejected(&sender, moved, |e| matches!(e, ExecError::ProofRejected));
    }
    // The same proof with other re-encryption keys (the proxies would serve another record).
    let rekeyed = with(&|p| {
        if let ResearchPayload::Enrol { delegating_key, .. } = p {
            *delegating_key = umbral_key(9);
        }
    });
    market
        .world
        .assert_rejected(&sender, rekeyed, |e| matches!(e, ExecError::ProofRejected));
    // Another delivery tag (a record other than the attested one would be delivered).
    let redelivered = with(&|p| {
        if let ResearchPayload::Enrol { delivery, .. } = p {
            *delivery = Hash32::from([5; 32]);
        }
    });
    market.world.assert_rejected(&sender, redelivered, |e| {
        matches!(e, ExecError::ProofRejected)
    });
    // A mangled proof.
    let mangled = with(&|p| {
        if let ResearchPayload::Enrol { proof, .. } = p {
            proof.0[5] ^= 1;
        }
    });
    market.world.assert_rejected(&sender, mangled, |e| {
        matches!(e, ExecError::ProofRejected | ExecError::MalformedProof(_))
    });

    enrolled(&mut market, &sender, payload);
    // The same record again, even freshly proven under another one-time key.
    let again = Actor::new(7_022);
    let second = patient.enrolment(&market, &study_id, ELIGIBLE, &again);
    market
        .world
        .assert_rejected(&again, second, |e| matches!(e, ExecError::AlreadyEnrolled));
}

#[test]
fn full_and_unfunded_studies_refuse_enrolment() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let first = Patient::first(&mut market, "52", "6.8");
    let second = Patient::another(&mut market, 7_100);
    let mut terms = market.draft(circuit, ELIGIBLE);
    terms.max_participants = 1;
    let study_id = market.publish(&terms);

    let sender = Actor::new(7_030);
    let payload = first.enrolment(&market, &study_id, ELIGIBLE, &sender);
    market.world.assert_rejected(&sender, payload.clone(), |e| {
        matches!(
            e,
            ExecError::StudyUnfunded {
                pooled: 0,
                reward: 1_000
            }
        )
    });
    market.fund(&study_id, 1_500);
    enrolled(&mut market, &sender, payload);

    let late = Actor::new(7_031);
    let full = second.enrolment(&market, &study_id, ELIGIBLE, &late);
    market.world.assert_rejected(&late, full, |e| {
        matches!(e, ExecError::StudyFull { max: 1 })
    });

    // 500 left: not enough for another reward.
    let mut terms = market.draft(circuit, ELIGIBLE);
    terms.max_participants = 5;
    let open = market.publish(&terms);
    market.fund(&open, 1_500);
    let third = Patient::another(&mut market, 7_101);
    let third_sender = Actor::new(7_032);
    let payload = third.enrolment(&market, &open, ELIGIBLE, &third_sender);
    enrolled(&mut market, &third_sender, payload);
    let short = Actor::new(7_033);
    let unpaid = second.enrolment(&market, &open, ELIGIBLE, &short);
    market.world.assert_rejected(&short, unpaid, |e| {
        matches!(
            e,
            ExecError::StudyUnfunded {
                pooled: 500,
                reward: 1_000
            }
        )
    });
}

#[test]
fn exclusive_licences_hold_across_studies() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let licensed = Patient::first(&mut market, "52", "6.8");
    let shared = Patient::another(&mut market, 7_200);
    let exclusive = market.funded_study(circuit, true);
    let rival = market.funded_study(circuit, true);
    let open = market.funded_study(circuit, false);

    // Licensed exclusively: no other study takes the record, exclusive or not.
    let sender = Actor::new(7_201);
    let payload = licensed.enrolment(&market, &exclusive, ELIGIBLE, &sender);
    enrolled(&mut market, &sender, payload);
    for other in [rival, open] {
        let sender = Actor::new(7_202);
        let payload = licensed.enrolment(&market, &other, ELIGIBLE, &sender);
        market.world.assert_rejected(
            &sender,
            payload,
            |e| matches!(e, ExecError::ExclusivelyLicensed { study } if *study == exclusive),
        );
    }

    // Shared with an open study first: no exclusive study takes it after.
    let sender = Actor::new(7_203);
    let payload = shared.enrolment(&market, &open, ELIGIBLE, &sender);
    enrolled(&mut market, &sender, payload);
    let sender = Actor::new(7_204);
    let payload = shared.enrolment(&market, &rival, ELIGIBLE, &sender);
    market
        .world
        .assert_rejected(&sender, payload, |e| matches!(e, ExecError::SharedBefore));
}

#[test]
fn publishing_and_funding_follow_the_study_rules() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let researcher = market.researcher.clone();
    let doctor = market.doctor.clone();
    let good = market.draft(circuit, ELIGIBLE);
    market.world.assert_rejected(&doctor, good.payload(), |e| {
        matches!(e, ExecError::NotResearchMember)
    });
    let refused = |edit: &dyn Fn(&mut StudyDraft), expected: fn(&ExecError) -> bool| {
        let mut terms = good.clone();
        edit(&mut terms);
        (terms.payload(), expected)
    };
    let three_clauses = predicate("age >= 40 and hba1c >= 6.5 and glucose >= 100").to_bytes();
    let clinical = zk::Schema::clinical_v1();
    let v2 = zk::Schema::new("clinical_v2", clinical.attributes().to_vec()).unwrap();
    let other_schema = zk::Predicate::parse(ELIGIBLE, &v2).unwrap().to_bytes();
    let stranger = Actor::new(8_100).address;
    let cases = [
        refused(&|t| t.purpose = Purpose::Treatment, |e| {
            matches!(e, ExecError::NotResearchPurpose(Purpose::Treatment))
        }),
        refused(&|t| t.circuit = Hash32::from([7; 32]), |e| {
            matches!(e, ExecError::UnknownCircuit(_))
        }),
        refused(&|t| t.predicate = b"not a predicate".to_vec(), |e| {
            matches!(e, ExecError::BadPredicate(_))
        }),
        refused(&|t| t.predicate = three_clauses.clone(), |e| {
            matches!(e, ExecError::PredicateTooLarge(_))
        }),
        refused(&|t| t.threshold = 0, |e| {
            matches!(e, ExecError::BadThreshold { threshold: 0, .. })
        }),
        refused(&|t| t.threshold = 4, |e| {
            matches!(
                e,
                ExecError::BadThreshold {
                    threshold: 4,
                    proxies: 3
                }
            )
        }),
        refused(&|t| t.proxies[2] = t.proxies[0], |e| {
            matches!(e, ExecError::DuplicateProxy(_))
        }),
        refused(
            &|t| t.proxies[1] = stranger,
            |e| matches!(e, ExecError::UnknownProxy(p) if *p == Actor::new(8_100).address),
        ),
        refused(&|t| t.max_participants = 0, |e| {
            matches!(e, ExecError::NoParticipants)
        }),
        refused(&|t| t.deadline_ms = 1, |e| {
            matches!(e, ExecError::DeadlineInPast)
        }),
        refused(
            &|t| t.dispute_window_ms = limits::MAX_DISPUTE_WINDOW_MS + 1,
            |e| matches!(e, ExecError::DisputeWindowTooLong { .. }),
        ),
        // The one-time enrolling address pays its fee from the reward (F7).
        refused(&|t| t.reward = 0, |e| {
            matches!(e, ExecError::RewardBelowFee { reward: 0, .. })
        }),
        refused(
            &|t| t.reward = 10,
            |e| matches!(e, ExecError::RewardBelowFee { reward: 10, fee } if *fee > 10),
        ),
        // A predicate over another schema than the circuit's could never be proven (F8).
        refused(
            &|t| t.predicate = other_schema.clone(),
            |e| matches!(e, ExecError::BadPredicate(why) if why.contains("clinical_v2")),
        ),
    ];
    for (payload, expected) in cases {
        market.world.assert_rejected(&researcher, payload, expected);
    }

    let study_id = market.publish(&good);
    assert_eq!(
        study(&market.world, &study_id).researcher,
        researcher.address
    );
    // The least reward: an enrolment's fee. The longest dispute window is allowed.
    let mut cheapest = good.clone();
    cheapest.dispute_window_ms = limits::MAX_DISPUTE_WINDOW_MS;
    cheapest.reward = 0;
    let Err(ExecError::RewardBelowFee { fee, .. }) =
        market.world.run(&researcher, cheapest.payload())
    else {
        panic!("a zero reward is below the fee")
    };
    cheapest.reward = fee;
    market.publish(&cheapest);
    market
        .world
        .assert_rejected(&doctor, fund_study(&study_id, 100), |e| {
            matches!(e, ExecError::NotResearcher)
        });
    market
        .world
        .assert_rejected(&researcher, fund_study(&study_id, 0), |e| {
            matches!(e, ExecError::ZeroFunding)
        });
    market
        .world
        .assert_rejected(&researcher, fund_study(&study_id, MARKET_FUNDS * 10), |e| {
            matches!(e, ExecError::InsufficientBalance { .. })
        });
    market
        .world
        .assert_rejected(&researcher, fund_study(&StudyId([3; 32].into()), 10), |e| {
            matches!(e, ExecError::UnknownStudy(_))
        });
    market
        .world
        .assert_rejected(&doctor, refund_study(&study_id), |e| {
            matches!(e, ExecError::NotResearcher)
        });
    // Two fundings make one pool output.
    market.fund(&study_id, 300);
    market.fund(&study_id, 200);
    let funded = study(&market.world, &study_id);
    assert_eq!(funded.pooled, 500);
    assert_eq!(pool_value(&market.world, &funded), 500);
}

#[test]
fn only_audited_cloud_members_register_as_proxies_once() {
    let mut market = Market::with_genesis(&genesis_document());
    let (researcher, proxy) = (market.researcher.clone(), market.proxies[0].clone());
    market
        .world
        .assert_rejected(&researcher, register_proxy(&researcher), |e| {
            matches!(e, ExecError::NotCloudMember)
        });
    market
        .world
        .assert_rejected(&proxy, register_proxy(&proxy), |e| {
            matches!(e, ExecError::ProxyExists)
        });
    let stored = market.world.value(&keys::proxy(&proxy.address)).unwrap();
    assert_eq!(stored.org, org_name("Cloud One"));
}

#[test]
fn without_tokens_the_rules_hold_and_nothing_moves() {
    let (mut market, circuit) = Market::with_circuit(&genesis_document());
    let patient = Patient::first(&mut market, "52", "6.8");
    let study_id = market.funded_study(circuit, false);
    let funded = study(&market.world, &study_id);
    assert_eq!((funded.pool, funded.pooled), (None, 5_000));
    let sender = Actor::new(7_300);
    let payload = patient.enrolment(&market, &study_id, ELIGIBLE, &sender);
    assert_eq!(prepaid_by_reward(&market.world.store, &payload).unwrap(), 0);
    // An unfunded study refuses before looking at the proof (which is for the funded one).
    let unfunded = market.publish(&market.draft(circuit, ELIGIBLE));
    let mut elsewhere = payload.clone();
    if let Payload::Research(ResearchPayload::Enrol { study, .. }) = &mut elsewhere {
        *study = unfunded;
    }
    market.world.assert_rejected(&sender, elsewhere, |e| {
        matches!(e, ExecError::StudyUnfunded { pooled: 0, .. })
    });
    let tx = market.world.tx(&sender, payload);
    assert_eq!(
        market.world.run_tx(&tx).unwrap(),
        vec![Event::Enrolled {
            study: study_id,
            enrolment: EnrolmentId::from(tx.id()),
            reward: 0,
            owed: 0,
        }]
    );
    assert_eq!(market.world.balance(&sender.address), 0);
    let after = study(&market.world, &study_id);
    assert_eq!((after.pooled, after.owed, after.enrolled), (4_000, 0, 1));
    // Nothing is owed on a chain without tokens, so there is nothing to claim.
    market.world.advance_time(3_600_000 + DISPUTE_WINDOW_MS);
    market
        .world
        .assert_rejected(&sender, claim(&EnrolmentId::from(tx.id())), |e| {
            matches!(e, ExecError::NothingOwed)
        });
}

#[test]
fn an_open_funded_study_prepays_its_enrolments_fee() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let study_id = market.funded_study(circuit, false);
    let enrol_in = |study| {
        Payload::Research(ResearchPayload::Enrol {
            study,
            root: Hash32::from([1; 32]),
            nullifier: Hash32::from([2; 32]),
            exclusivity: Hash32::from([3; 32]),
            delivery: Hash32::from([4; 32]),
            proof: ZkBytes(vec![0; 128]),
            delegating_key: umbral_key(1),
            verifying_key: umbral_key(2),
            ciphertext_hash: ContentHash::of(b"c"),
        })
    };
    let store = &market.world.store;
    assert_eq!(
        prepaid_by_reward(store, &enrol_in(study_id)).unwrap(),
        1_000
    );
    let unknown = StudyId(ContentHash::of(b"none").0);
    assert_eq!(prepaid_by_reward(store, &enrol_in(unknown)).unwrap(), 0);
    assert_eq!(
        prepaid_by_reward(store, &fund_study(&study_id, 5)).unwrap(),
        0
    );
    let unfunded = market.publish(&market.draft(circuit, ELIGIBLE));
    assert_eq!(
        prepaid_by_reward(&market.world.store, &enrol_in(unfunded)).unwrap(),
        0
    );
    let unknown_enrolment = claim(&EnrolmentId(ContentHash::of(b"none").0));
    assert_eq!(
        prepaid_by_reward(&market.world.store, &unknown_enrolment).unwrap(),
        0
    );
    // A suspended research organisation's study takes no enrolment: nothing prepaid (F3).
    let regulator = market.world.regulator.clone();
    let yonsei = org_name("Yonsei Research");
    market
        .world
        .run(&regulator, set_state(&yonsei, OrgState::Suspended))
        .unwrap();
    assert_eq!(
        prepaid_by_reward(&market.world.store, &enrol_in(study_id)).unwrap(),
        0
    );
    market
        .world
        .run(&regulator, set_state(&yonsei, OrgState::Audited))
        .unwrap();
    market.world.advance_time(3_600_000);
    assert_eq!(
        prepaid_by_reward(&market.world.store, &enrol_in(study_id)).unwrap(),
        0
    );
}

#[test]
fn disputes_freeze_the_owed_reward_until_the_regulator_resolves_them() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let patient = Patient::first(&mut market, "52", "6.8");
    let first = market.funded_study(circuit, false);
    let second = market.funded_study(circuit, false);
    let (researcher, regulator) = (market.researcher.clone(), market.world.regulator.clone());
    let (paid, unpaid) = (Actor::new(7_401), Actor::new(7_402));
    let payload = patient.enrolment(&market, &first, ELIGIBLE, &paid);
    let to_pay = enrolled(&mut market, &paid, payload);
    let payload = patient.enrolment(&market, &second, ELIGIBLE, &unpaid);
    let not_to_pay = enrolled(&mut market, &unpaid, payload);

    // One record in two studies: the per-study nullifiers differ, the exclusivity nullifier is
    // the same — the deliberate link S4-exclusive needs (F2; the module doc says so).
    let (a, b) = (
        market.world.value(&keys::enrolment(&to_pay)).unwrap(),
        market.world.value(&keys::enrolment(&not_to_pay)).unwrap(),
    );
    assert_ne!(a.nullifier, b.nullifier);
    assert_eq!(a.exclusivity, b.exclusivity);
    let owed = a.owed;
    assert!(owed > 0);

    // Only the researcher disputes, and only a pending enrolment; the regulator resolves.
    market
        .world
        .assert_rejected(&regulator, resolve(&to_pay, true), |e| {
            matches!(
                e,
                ExecError::NotDisputed {
                    settlement: Settlement::Pending
                }
            )
        });
    market.world.assert_rejected(&paid, dispute(&to_pay), |e| {
        matches!(e, ExecError::NotResearcher)
    });
    for enrolment in [to_pay, not_to_pay] {
        assert_eq!(
            market.world.run(&researcher, dispute(&enrolment)).unwrap(),
            vec![Event::EnrolmentDisputed { enrolment }]
        );
    }
    market
        .world
        .assert_rejected(&researcher, acknowledge(&to_pay), |e| {
            matches!(
                e,
                ExecError::NotPending {
                    settlement: Settlement::Disputed
                }
            )
        });
    // A disputed reward is frozen, even after the window.
    market.world.advance_time(3_600_000 + DISPUTE_WINDOW_MS);
    market.world.assert_rejected(&paid, claim(&to_pay), |e| {
        matches!(
            e,
            ExecError::NotClaimable {
                settlement: Settlement::Disputed
            }
        )
    });
    assert_eq!(
        prepaid_by_reward(&market.world.store, &claim(&to_pay)).unwrap(),
        0
    );
    for sender in [&researcher, &paid] {
        market
            .world
            .assert_rejected(sender, resolve(&to_pay, true), |e| {
                matches!(e, ExecError::NotRegulator)
            });
    }

    // Resolved to pay: the payee claims.
    assert_eq!(
        market
            .world
            .run(&regulator, resolve(&to_pay, true))
            .unwrap(),
        vec![Event::DisputeResolved {
            enrolment: to_pay,
            pay: true
        }]
    );
    market
        .world
        .assert_rejected(&regulator, resolve(&to_pay, false), |e| {
            matches!(
                e,
                ExecError::NotDisputed {
                    settlement: Settlement::Resolved { pay: true }
                }
            )
        });
    let claimed = market.world.run(&paid, claim(&to_pay)).unwrap();
    assert!(matches!(claimed.as_slice(), [Event::RewardClaimed { amount, .. }] if *amount == owed));

    // Resolved not to pay: the owed reward returns to the study's free tokens, and the
    // researcher's refund takes it.
    let before = pool_parts(&market.world, &second);
    assert_eq!(before.1, owed);
    market
        .world
        .run(&regulator, resolve(&not_to_pay, false))
        .unwrap();
    assert_eq!(
        pool_parts(&market.world, &second),
        (before.0 + owed, 0, before.2)
    );
    market
        .world
        .assert_rejected(&unpaid, claim(&not_to_pay), |e| {
            matches!(
                e,
                ExecError::NotClaimable {
                    settlement: Settlement::Resolved { pay: false }
                }
            )
        });
    let refund = market
        .world
        .run(&researcher, refund_study(&second))
        .unwrap();
    assert_eq!(
        refund,
        vec![Event::StudyRefunded {
            study: second,
            amount: before.0 + owed
        }]
    );
}

/// F3: a study of a suspended research organisation is neither funded nor joined, and a proxy
/// of a suspended cloud organisation logs nothing (S2-state, like every institution action).
#[test]
fn suspended_research_and_cloud_organisations_stop_the_market() {
    let (mut market, circuit) = Market::with_circuit(&token_genesis());
    let patient = Patient::first(&mut market, "52", "6.8");
    let study_id = market.funded_study(circuit, false);
    let (researcher, regulator) = (market.researcher.clone(), market.world.regulator.clone());
    let yonsei = org_name("Yonsei Research");
    market
        .world
        .run(&regulator, set_state(&yonsei, OrgState::Suspended))
        .unwrap();
    let sender = Actor::new(7_301);
    let payload = patient.enrolment(&market, &study_id, ELIGIBLE, &sender);
    market.world.assert_rejected(
        &sender,
        payload.clone(),
        |e| matches!(e, ExecError::OrgNotAudited(org) if *org == org_name("Yonsei Research")),
    );
    market
        .world
        .assert_rejected(&researcher, fund_study(&study_id, 100), |e| {
            matches!(e, ExecError::OrgNotAudited(_))
        });
    market
        .world
        .run(&regulator, set_state(&yonsei, OrgState::Audited))
        .unwrap();
    let enrolment = enrolled(&mut market, &sender, payload);

    let cloud = org_name("Cloud One");
    market
        .world
        .run(&regulator, set_state(&cloud, OrgState::Suspended))
        .unwrap();
    let proxy = market.proxies[0].clone();
    market.world.assert_rejected(
        &proxy,
        reencrypted(&enrolment),
        |e| matches!(e, ExecError::OrgNotAudited(org) if *org == org_name("Cloud One")),
    );
    market
        .world
        .run(&regulator, set_state(&cloud, OrgState::Audited))
        .unwrap();
    market.world.run(&proxy, reencrypted(&enrolment)).unwrap();
}
