//! The research market through the HTTP API of a real chain, served over loopback and read by
//! the client SDK: every research route's answer verifies in the light client, what does not
//! exist is proven absent, and malformed parameters are refused with a 400. Admission: an
//! enrolment from an empty one-time address is admitted when its study's reward covers the
//! fee, refused as unaffordable when the study is unfunded, and refused — not held, not
//! gossiped — when its proof does not verify or when it would wait queued behind a gap.

// The client's fixtures: a four-validator genesis and real simplex finalization certificates.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
mod served;

use ark_std::rand::{SeedableRng, rngs::StdRng};
use commonware_codec::Encode as _;
use commonware_utils::test_rng;
use medchain_client::{
    Client, ClientError, HistoryQuery, LightClient, ListQuery, NodeClient, StateQuery, build,
};
use medchain_node::{chain::Chain, mempool::Mempool};
use medchain_state::{
    StateReadExt as _, keys,
    testkit::{self, Actor, REGULATOR_SEED, TREASURY_SEED, address, record_id},
    token,
};
use medchain_storage::Store;
use medchain_types::{
    Address, ContentHash, EnrolmentId, FeeSchedule, Hash32, IdentityName, OrgKind, OrgName,
    OrgState, Payload, Purpose, RecordId, Role, StudyId, TxId, Uri, VerifiedTransaction,
    research::{ResearchPayload, enrolment_binding},
};
use served::{fresh_chain, verifying_client};
use std::sync::Arc;

#[test]
fn research_state_that_does_not_exist_is_proven_absent() {
    let client = verifying_client(fresh_chain());
    let study = StudyId(record_id(1).0);
    let enrolment = EnrolmentId(record_id(2).0);
    let hash = Hash32::from([7; 32]);
    macro_rules! absent {
        ($($query:expr),+ $(,)?) => {$(
            let verified = client.read(&$query).unwrap();
            assert!(verified.value.is_none(), "{}", $query.path());
        )+};
    }
    absent!(
        StateQuery::circuit(&hash),
        StateQuery::nullifier_key(&address(1)),
        StateQuery::attestation(&record_id(3)),
        StateQuery::accumulator(),
        StateQuery::accumulator_root(&hash),
        StateQuery::proxy(&address(2)),
        StateQuery::study(&study),
        StateQuery::enrolment(&enrolment),
        StateQuery::study_nullifier(&study, &hash),
        StateQuery::exclusivity(&hash),
    );
    assert_eq!(client.list(&ListQuery::studies(), 0, 10).unwrap().total, 0);
    assert_eq!(
        client
            .list(&ListQuery::study_enrolments(&study), 0, 10)
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        client
            .history(&HistoryQuery::reencryptions(&enrolment), 0, 10)
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        client
            .history(&HistoryQuery::attested_commitments(), 0, 10)
            .unwrap()
            .total,
        0
    );
}

#[test]
fn malformed_research_parameters_are_refused_with_a_hint() {
    let client = verifying_client(fresh_chain());
    for path in [
        "/v1/state/research/studies/not-hex",
        "/v1/state/research/circuits/abcd",
        "/v1/state/research/study-nullifiers/00/11",
        "/v1/state/research/roots/zz",
        "/v1/lists/study-enrolments/42",
    ] {
        match client.node.state(path) {
            Err(ClientError::Api { status, body }) => {
                assert_eq!(status, 400, "{path}");
                assert!(!body.hint.is_empty(), "{path}");
            }
            other => panic!("{path}: expected a 400, got {other:?}"),
        }
    }
}

/// Blocks per epoch: the whole test runs in epoch 0.
const EPOCH_LENGTH: u64 = 1_000;

/// A chain with fees driven one transaction per block: each sender signs with its committed
/// nonce and the least fee, and the treasury funds whoever must pay.
struct FeeChain {
    chain: Arc<Chain>,
    client: Client,
    fees: FeeSchedule,
}

impl FeeChain {
    fn new() -> Self {
        let genesis = fixtures::token_genesis(EPOCH_LENGTH);
        let chain = Arc::new(
            Chain::open(
                Store::in_memory().unwrap(),
                &genesis,
                Mempool::default(),
                100,
            )
            .unwrap(),
        );
        let url = served::serve_genesis(chain.clone(), genesis.clone());
        let client = Client::new(
            NodeClient::new(&url).unwrap(),
            LightClient::new(genesis.clone()).unwrap(),
        );
        let fees = genesis.fee_schedule();
        Self {
            chain,
            client,
            fees,
        }
    }

    fn nonce(&self, address: &Address) -> u64 {
        let account = self
            .chain
            .store()
            .snapshot()
            .unwrap()
            .value(&keys::account(address))
            .unwrap();
        account.map_or(0, |account| account.nonce)
    }

    /// `payload` signed by `actor` at `nonce`, paying the least fee.
    fn signed(&self, actor: &Actor, nonce: u64, payload: Payload) -> VerifiedTransaction {
        let draft = actor.sign(nonce, payload.clone());
        let fee = token::min_fee(&self.fees, draft.tx());
        actor.sign_with_fee(nonce, fee, payload)
    }

    /// Builds the next block from the mempool and finalizes it with a certificate of
    /// validators 0, 1 and 2 of this chain's genesis. Returns how many transactions it holds.
    fn finalize_next(&self) -> usize {
        served::finalize_next_with(&self.chain, |block| {
            fixtures::finalization_in(
                &fixtures::token_genesis(EPOCH_LENGTH),
                0,
                &fixtures::validator_keys(&fixtures::VALIDATOR_SEEDS),
                &[0, 1, 2],
                block.digest(),
            )
            .encode()
            .to_vec()
        })
    }

    /// Admits `tx` and finalizes it in a block of its own.
    fn commit(&self, tx: &VerifiedTransaction) {
        let admitted = self.chain.admit(&mut test_rng(), vec![tx.tx().clone()]);
        assert!(admitted.iter().all(Result::is_ok), "{admitted:?}");
        assert_eq!(self.finalize_next(), 1, "the transaction failed");
    }

    /// Runs `payload` as `actor`'s next transaction in a block of its own.
    fn run(&self, actor: &Actor, payload: Payload) -> TxId {
        let tx = self.signed(actor, self.nonce(&actor.address), payload);
        self.commit(&tx);
        tx.id()
    }

    /// The treasury pays `amount` into `to`'s balance.
    fn fund(&self, to: &Address, amount: u64) {
        let treasury = Actor::new(TREASURY_SEED);
        let outputs = [testkit::to_balance(amount, to)];
        let nonce = self.nonce(&treasury.address);
        let draft = self.signed(&treasury, nonce, testkit::transfer(&[], amount, &outputs));
        let fee = draft.body().fee;
        let payload = testkit::transfer(&[], amount + fee, &outputs);
        self.commit(&treasury.sign_with_fee(nonce, fee, payload));
    }

    /// Submits `tx` through the API: the node's verdict.
    fn submit(&self, tx: &VerifiedTransaction) -> Result<TxId, ClientError> {
        self.client.node.submit(tx.tx())
    }
}

/// The research market on a [`FeeChain`]: a hospital that attests, a patient with one attested
/// record, a researcher with two studies on a registered circuit (the first funded, the second
/// not) and three registered proxies.
struct Market {
    fees: FeeChain,
    patient: Actor,
    researcher: Actor,
    proxies: Vec<Actor>,
    secret: zk::PatientSecret,
    opening: zk::RecordOpening,
    record: RecordId,
    circuit: Hash32,
    proving_key: zk::ProvingKey,
    predicate: zk::Predicate,
    funded: StudyId,
    unfunded: StudyId,
}

const REWARD: u64 = 5_000;

impl Market {
    fn new() -> Self {
        let fees = FeeChain::new();
        let mut rng = StdRng::seed_from_u64(12);
        let doctor = Actor::new(1);
        let patient = Actor::new(50);
        let researcher = Actor::new(600);
        let proxies: Vec<Actor> = (601..604).map(Actor::new).collect();
        let hospital = testkit::org_name("Seoul General");
        let desk = testkit::HospitalDesk::of(&hospital);
        for party in [&doctor, &patient, &researcher, &desk.actor]
            .into_iter()
            .chain(&proxies)
        {
            fees.fund(&party.address, 1_000_000);
        }
        let regulator = Actor::new(REGULATOR_SEED);
        let audited = |founder: &Actor, name: &OrgName, kind| {
            fees.run(founder, testkit::register(name, kind));
            fees.run(&regulator, testkit::set_state(name, OrgState::Audited));
        };
        audited(&doctor, &hospital, OrgKind::Hospital);
        for (actor, payload) in desk.steps(&hospital, &doctor) {
            fees.run(&actor, payload);
        }
        fees.run(
            &patient,
            testkit::enrol(
                &IdentityName::patient_pseudonym(&patient.address),
                Role::Patient,
                testkit::key_part_of(&patient.address),
            ),
        );
        audited(
            &researcher,
            &testkit::org_name("Yonsei Research"),
            OrgKind::Research,
        );
        let cloud = testkit::org_name("Cloud One");
        audited(&proxies[0], &cloud, OrgKind::Cloud);
        for proxy in &proxies[1..] {
            fees.run(proxy, testkit::join(&cloud, &proxies[0], proxy));
        }
        for proxy in &proxies {
            let url = Uri::new("http://127.0.0.1:9100").unwrap();
            fees.run(proxy, build::register_proxy(Hash32::from([9; 32]), url));
        }

        let schema = zk::Schema::clinical_v1();
        let shape = zk::CircuitShape::new(schema.num_attributes(), 2, 0).unwrap();
        let (proving_key, verifying_key) = zk::setup(&shape, &mut rng, &mut |_, _| {}).unwrap();
        let pk_digest = Hash32::from(zk::ProvingKey::digest_of(&proving_key.to_bytes()));
        let circuit = Hash32::from(verifying_key.digest());
        fees.run(
            &regulator,
            build::register_circuit(schema.id(), verifying_key.to_bytes(), pk_digest).unwrap(),
        );

        let secret = zk::PatientSecret::from_seed(&[5; 32]);
        fees.run(
            &patient,
            build::nullifier_key(Hash32::from(secret.nullifier_key().0)),
        );
        let record = RecordId::from(fees.run(
            &doctor,
            testkit::release(&doctor, &patient.address, &ContentHash::of(b"EMR")),
        ));
        let opening = zk::RecordOpening::random(
            &schema,
            schema.encode(&[("age", "52")]).unwrap(),
            secret.nullifier_key(),
            ContentHash::of(b"EMR").0.into(),
            &mut rng,
        )
        .unwrap();
        let commitment = Hash32::from(opening.commit().unwrap().0);
        fees.run(&desk.actor, build::attest(record, commitment));

        let predicate = zk::Predicate::parse("age >= 40", &schema).unwrap();
        let publish = |reward| {
            let deadline_ms = u64::MAX / 2;
            build::publish_study(build::StudyContract {
                title: "Over forty".into(),
                purpose: Purpose::Research,
                circuit,
                predicate: predicate.to_bytes(),
                reward,
                max_participants: 10,
                deadline_ms,
                dispute_window_ms: 60_000,
                exclusive: false,
                researcher_key: testkit::umbral_key(1).0,
                proxies: proxies.iter().map(|proxy| proxy.address).collect(),
                threshold: 2,
            })
            .unwrap()
        };
        let funded = StudyId::from(fees.run(&researcher, publish(REWARD)));
        fees.run(&researcher, build::fund_study(funded, 3 * REWARD).unwrap());
        let unfunded = StudyId::from(fees.run(&researcher, publish(REWARD)));
        Self {
            fees,
            patient,
            researcher,
            proxies,
            secret,
            opening,
            record,
            circuit,
            proving_key,
            predicate,
            funded,
            unfunded,
        }
    }

    /// An enrolment in `study` signed by the fresh one-time key `one_time` at `nonce`, with a
    /// proof bound to it.
    fn enrolment(&self, study: &StudyId, one_time: &Actor, nonce: u64) -> VerifiedTransaction {
        let commitment = self.opening.commit().unwrap();
        let path = zk::membership_path(&[commitment], 0).unwrap();
        let (delegating, verifying) = (testkit::umbral_key(2).0, testkit::umbral_key(3).0);
        let ciphertext_hash = ContentHash::of(b"encrypted bundle");
        let binding = zk::binding_of(&enrolment_binding(
            &one_time.address,
            &delegating,
            &verifying,
            &ciphertext_hash,
        ));
        let witness = zk::EnrolmentWitness {
            opening: &self.opening,
            secret: &self.secret,
            path: &path,
        };
        let mut rng = StdRng::seed_from_u64(nonce);
        let (statement, proof) = zk::prove(
            &self.proving_key,
            &witness,
            &self.predicate,
            zk::study_tag(&study.0.into()),
            binding,
            &mut rng,
        )
        .unwrap();
        let payload = build::enrol(build::Enrolment {
            study: *study,
            root: Hash32::from(statement.root.0),
            nullifier: Hash32::from(statement.nullifier.0),
            exclusivity: Hash32::from(statement.exclusivity.0),
            delivery: Hash32::from(statement.delivery.0),
            proof: proof.to_bytes().to_vec(),
            delegating_key: delegating,
            verifying_key: verifying,
            ciphertext_hash,
        })
        .unwrap();
        self.fees.signed(one_time, nonce, payload)
    }
}

fn refusal(outcome: Result<TxId, ClientError>) -> (u16, String) {
    match outcome {
        Err(ClientError::Api { status, body }) => (status, body.error),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_enrolment_is_admitted_from_an_empty_one_time_address_and_served_with_proofs() {
    let market = Market::new();
    let (fees, client) = (&market.fees, &market.fees.client);

    // Unfunded study: no reward to prepay the fee, so an empty address cannot afford it; the
    // refusal comes before the proof is even looked at.
    let stranger = Actor::new(700);
    let (status, code) = refusal(fees.submit(&market.enrolment(&market.unfunded, &stranger, 0)));
    assert_eq!((status, code.as_str()), (402, "cannot_afford"));

    // A junk proof from a fresh address is refused at admission and never held.
    let junk_sender = Actor::new(701);
    let honest = market.enrolment(&market.funded, &junk_sender, 0);
    let Payload::Research(ResearchPayload::Enrol { mut proof, .. }) = honest.body().payload.clone()
    else {
        unreachable!()
    };
    proof.0[40] ^= 1;
    let mut forged = honest.body().payload.clone();
    if let Payload::Research(ResearchPayload::Enrol { proof: slot, .. }) = &mut forged {
        *slot = proof;
    }
    let (status, code) = refusal(fees.submit(&fees.signed(&junk_sender, 0, forged)));
    assert_eq!((status, code.as_str()), (422, "rejected"));
    // Queued behind a gap, an enrolment would skip the dry run that verifies its proof.
    let (status, code) = refusal(fees.submit(&market.enrolment(&market.funded, &junk_sender, 1)));
    assert_eq!((status, code.as_str()), (409, "nonce_conflict"));
    assert_eq!(fees.chain.mempool().len(), 0, "nothing refused is held");

    // The honest enrolment from an empty one-time address: its reward pays its fee.
    let one_time = Actor::new(702);
    let enrol = market.enrolment(&market.funded, &one_time, 0);
    let fee = enrol.body().fee;
    let id = fees.submit(&enrol).unwrap();
    assert_eq!(fees.finalize_next(), 1);
    let enrolment = EnrolmentId::from(id);
    let account = client
        .read(&StateQuery::account(&one_time.address))
        .unwrap();
    // Only an advance covering the fee is paid at enrolment: the rest is owed until the
    // researcher acknowledges the delivered record.
    assert_eq!(account.value.map(|a| a.balance), Some(0));

    let owed = client
        .read(&StateQuery::enrolment(&enrolment))
        .unwrap()
        .value
        .unwrap()
        .owed;
    assert_eq!(owed, REWARD - fee);
    // Acknowledged, the owed reward is claimed by the still-empty one-time address: the claim's
    // fee is prepaid out of it too.
    fees.run(&market.researcher, build::acknowledge(enrolment));
    let claim = fees.signed(&one_time, 1, build::claim(enrolment));
    let claim_fee = claim.body().fee;
    fees.submit(&claim).unwrap();
    assert_eq!(fees.finalize_next(), 1);
    let account = client
        .read(&StateQuery::account(&one_time.address))
        .unwrap();
    assert_eq!(account.value.map(|a| a.balance), Some(owed - claim_fee));

    // Every research route answers with a proof the light client verifies.
    let study = client
        .read(&StateQuery::study(&market.funded))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        (study.enrolled, study.researcher),
        (1, market.researcher.address)
    );
    let stored = client
        .read(&StateQuery::enrolment(&enrolment))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        (stored.study, stored.payee),
        (market.funded, one_time.address)
    );
    assert_eq!(
        client
            .read(&StateQuery::study_nullifier(
                &market.funded,
                &stored.nullifier
            ))
            .unwrap()
            .value,
        Some(enrolment)
    );
    assert!(
        client
            .read(&StateQuery::study_nullifier(
                &market.unfunded,
                &stored.nullifier
            ))
            .unwrap()
            .value
            .is_none()
    );
    assert_eq!(
        client
            .read(&StateQuery::exclusivity(&stored.exclusivity))
            .unwrap()
            .value
            .map(|used| used.uses),
        Some(1)
    );
    let circuit = client.read(&StateQuery::circuit(&market.circuit)).unwrap();
    assert_eq!(
        circuit.value.map(|c| c.proving_key_digest),
        Some(Hash32::from(zk::ProvingKey::digest_of(
            &market.proving_key.to_bytes()
        )))
    );
    assert_eq!(
        client
            .read(&StateQuery::nullifier_key(&market.patient.address))
            .unwrap()
            .value,
        Some(Hash32::from(market.secret.nullifier_key().0))
    );
    let attestation = client
        .read(&StateQuery::attestation(&market.record))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        attestation.commitment,
        Hash32::from(market.opening.commit().unwrap().0)
    );
    let accumulator = client
        .read(&StateQuery::accumulator())
        .unwrap()
        .value
        .unwrap();
    let rebuilt = zk::Accumulator::from_bytes(&accumulator.accumulator.0).unwrap();
    assert_eq!(Hash32::from(rebuilt.root().0), accumulator.root);
    assert_eq!(
        client
            .read(&StateQuery::accumulator_root(&accumulator.root))
            .unwrap()
            .value,
        Some(1)
    );
    assert!(
        client
            .read(&StateQuery::proxy(&market.proxies[0].address))
            .unwrap()
            .value
            .is_some()
    );
    let (studies, _) = client.list_all(&ListQuery::studies()).unwrap();
    assert_eq!(
        studies.iter().map(|listed| listed.id).collect::<Vec<_>>(),
        [market.funded, market.unfunded]
    );
    let leaves = client
        .history(&HistoryQuery::attested_commitments(), 0, 10)
        .unwrap();
    assert_eq!(
        leaves.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        [attestation.commitment]
    );
    let (enrolments, _) = client
        .list_all(&ListQuery::study_enrolments(&market.funded))
        .unwrap();
    assert_eq!(enrolments.len(), 1);
    assert_eq!(enrolments[0].id, enrolment);

    // A proxy logs its re-encryption: listed.
    fees.run(&market.proxies[1], build::log_reencryption(enrolment));
    let logged = client
        .history(&HistoryQuery::reencryptions(&enrolment), 0, 10)
        .unwrap();
    assert_eq!(
        logged.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        [market.proxies[1].address]
    );
}
