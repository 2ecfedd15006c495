//! Writes the seed inputs of every fuzz target: genuine encodings made with the real builders,
//! signed and proven with the fixture keys, so the fuzzers start from inputs that pass every
//! check and mutate from there.
//!
//! `cargo run -p medchain-fuzzing --example seed_corpus -- DIR` writes `DIR/<target>/seed-*`
//! (the corpora in `fuzz/corpus/` were grown from these, then minimized).

use commonware_codec::Encode as _;
use commonware_consensus::{
    simplex::types::{ConflictingNotarize, Finalization, Finalize, Notarize, Proposal},
    types::{Epoch, Round, View},
};
use commonware_cryptography::{Hasher as _, Sha256, Signer as _};
use commonware_parallel::Sequential;
use commonware_utils::iter::NonEmpty;
use medchain_api::{
    AccessLogView, BatchItem, BatchRequest, BatchResponse, BlockView, ErrorBody, HeaderView,
    ProvenView, StatusView, SubmitRequest, SubmitResponse, TxState, TxStatusView, ValidatorView,
};
use medchain_client::{ConsensusScheme, build};
use medchain_fuzzing::fixtures::{self, TAKA_MESSAGE};
use medchain_state::{
    ProvenValue, keys, prove,
    testkit::{self, Actor, Cast, org_name},
};
use medchain_types::{
    AccessGrounds, Block, CandidateEndorsement, DealerLogBytes, EscrowId, Expiry, Hash32, Header,
    OrgKind, OrgName, OrgState, Payload, PeerAddress, PkgPayload, Purpose, Receipt, RefusalReason,
    StakePayload, TokenPayload, Transaction, Uri,
    evidence::Equivocation,
    med::{self, Checkpoint, CheckpointedMblock, MblockHeader, TxMr},
    token::{Lock, LockTime, OutPoint, Payee, TransferAuthorization, TxOutput},
};
use serde::Serialize;
use std::{fs, path::Path};
use taka::{
    BiometricKdfParams, EmergencyRequest, EmrEntry, EncryptedEntry, ExtractionRequest, Identity,
    Initiator, PendingEmergency, PendingRegistration, PendingShare, RecordIndex, RecordRelease,
    SealedPartialKey, Signature, respond, respond_enrolment,
};

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let out = Path::new(&out);
    let story = Story::new();
    write(
        out,
        "transaction",
        story.txs.iter().map(|tx| tx.encode().to_vec()),
    );
    // The PKG's dealer log needs a real key generation to execute; its payload is seeded
    // alone (the `payload` target only decodes).
    let deal = Payload::Pkg(PkgPayload::Deal {
        round: 0,
        log: DealerLogBytes(vec![0x5a; 64]),
    });
    write(
        out,
        "payload",
        story
            .txs
            .iter()
            .map(|tx| tx.body.payload.encode().to_vec())
            .chain([deal.encode().to_vec()])
            .chain(
                token_and_stake_payloads()
                    .iter()
                    .map(|payload| payload.encode().to_vec()),
            ),
    );
    write(out, "block", blocks(&story.txs));
    write(out, "certificate", certificates());
    write(out, "state_proof", state_proofs(&story));
    write(out, "api_json", api_bodies(&story));
    write(out, "taka_wire", taka_messages());
    write(out, "zk_wire", zk_messages());
    write(out, "zk_text", zk_texts());
}

fn write(out: &Path, target: &str, seeds: impl IntoIterator<Item = Vec<u8>>) {
    let dir = out.join(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    let mut count = 0;
    for (i, seed) in seeds.into_iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:03}")), seed).expect("write seed");
        count += 1;
    }
    println!("{target}: {count} seeds");
}

/// A chain history in memory with every transaction kind, and what a node would serve of it.
struct Story {
    cast: Cast,
    txs: Vec<Transaction>,
    receipt: Receipt,
}

impl Story {
    fn new() -> Self {
        let Cast {
            mut world,
            doctor,
            grantee,
            patient,
        } = Cast::new();
        let mut txs = Vec::new();
        let mut run = |world: &mut medchain_state::testkit::World, actor: &Actor, payload| {
            let tx = world.tx(actor, payload);
            let events = world.run_tx(&tx).expect("the story's transactions succeed");
            txs.push(tx.tx().clone());
            (tx.id(), events)
        };
        let newcomer = Actor::new(60);
        let endorsement = build::endorse_join(
            world_chain(),
            &org_name("Seoul General"),
            &newcomer.address,
            &doctor.key,
        );
        run(
            &mut world,
            &newcomer,
            build::join_org(org_name("Seoul General"), doctor.address, endorsement),
        );
        let release = build::release_record(world_chain(), &doctor.key, patient.address, b"EMR #1");
        let (record, _) = run(&mut world, &doctor, release.payload);
        let record = record.into();
        let location = Uri::new("s3://blobs/1").expect("uri");
        run(
            &mut world,
            &patient,
            build::store_pointer(record, b"ciphertext", location),
        );
        let grant = build::grant_consent(
            &patient.address,
            grantee.address,
            vec![record],
            Purpose::Treatment,
            Expiry::AtHeight(1_000),
        )
        .expect("grant");
        let (consent, _) = run(&mut world, &patient, grant);
        let (request, events) = run(
            &mut world,
            &grantee,
            build::request_access(record, Purpose::Treatment, testkit::ACCESS_REWARD_DEFAULT),
        );
        let receipt = Receipt {
            tx: request,
            height: world.height(),
            index: 0,
            events,
        };
        run(&mut world, &patient, build::revoke_consent(consent.into()));
        run(
            &mut world,
            &grantee,
            build::request_access(record, Purpose::Treatment, testkit::ACCESS_REWARD_DEFAULT),
        );
        let regulator = world.regulator.clone();
        run(
            &mut world,
            &regulator,
            build::set_org_state(org_name("Busan Clinic"), OrgState::Suspended),
        );
        run(
            &mut world,
            &Actor::new(70),
            build::register_org(org_name("Daegu Lab"), OrgKind::Research),
        );
        // The revocation list (S3-revoke): the doctor's licensing hospital revokes and lifts.
        let desk = testkit::HospitalDesk::of(&org_name("Seoul General"));
        let doctor_name = testkit::doctor_identity(&doctor);
        run(
            &mut world,
            &desk.actor,
            testkit::revoke_doctor(&doctor_name),
        );
        run(
            &mut world,
            &desk.actor,
            testkit::lift_revocation(&doctor_name),
        );
        // Issue 9: an EMR entry, vouching keys, an emergency request by Busan Clinic (audited
        // again, its founder licensed) served break-glass by Seoul, and served requests on the
        // other grounds.
        run(
            &mut world,
            &patient,
            build::file_entry(b"EEE of the story's patient").expect("entry"),
        );
        run(
            &mut world,
            &regulator,
            build::set_org_state(org_name("Busan Clinic"), OrgState::Audited),
        );
        // Busan's desk opens (join, enrol as hospital) and licenses its founder (enrol as
        // doctor, issue), then renews the licence.
        let busan = testkit::HospitalDesk::of(&org_name("Busan Clinic"));
        for (actor, payload) in busan.steps(&org_name("Busan Clinic"), &grantee) {
            run(&mut world, &actor, payload);
        }
        run(
            &mut world,
            &busan.actor,
            build::renew_licence(testkit::doctor_identity(&grantee), u64::MAX - 1),
        );
        for party in [&grantee, &busan.actor] {
            run(
                &mut world,
                party,
                build::set_vouching_key(world_chain(), &party.key),
            );
        }
        let terms = build::EmergencyTerms {
            doctor: testkit::doctor_identity(&grantee),
            hospital: busan.identity.clone(),
            record,
            hur: Sha256::hash(&[b"h_ur"]),
            issued_at_ms: world.next_env().timestamp_ms,
        };
        let emergency = terms
            .request(
                &terms.vouch(world_chain(), &grantee.key),
                &terms.vouch(world_chain(), &busan.actor.key),
            )
            .expect("valid vouches");
        let (emergency, _) = run(&mut world, &busan.actor, emergency);
        for grounds in [
            AccessGrounds::Emergency(emergency.into()),
            AccessGrounds::Consent,
            AccessGrounds::Refused(RefusalReason::Replayed),
        ] {
            run(
                &mut world,
                &desk.actor,
                build::serve_access(
                    grantee.address,
                    record,
                    Purpose::Treatment,
                    grounds,
                    testkit::ACCESS_REWARD_DEFAULT,
                ),
            );
        }
        let cast = Cast {
            world,
            doctor,
            grantee,
            patient,
        };
        Self { cast, txs, receipt }
    }

    /// A node's proven answer for `key` at the latest height.
    fn proven(&self, key: &[u8]) -> ProvenValue {
        let world = &self.cast.world;
        let height = world.height();
        let (value, proof) = prove(&world.store, key, height).expect("prove");
        ProvenValue {
            height,
            state_root: world.root(),
            key: key.to_vec(),
            value,
            proof,
        }
    }

    /// The latest header of the story, as the fixture chain's validators would certify it.
    fn header(&self) -> Header {
        let world = &self.cast.world;
        Header {
            height: world.height(),
            parent: Sha256::hash(&[b"parent"]),
            timestamp_ms: world.timestamp_ms(),
            proposer: fixtures::chain().genesis.validators[0].public_key,
            tx_root: medchain_types::tx_root(&[]),
            state_root: world.root(),
            receipts_root: medchain_types::receipts_root(&[]),
            revocation_root: Hash32::from([0; 32]),
            med_checkpoint: Hash32::from([0; 32]),
        }
    }

    /// Every state key the story wrote, and a few it did not.
    fn keys(&self) -> Vec<Vec<u8>> {
        let Cast {
            doctor,
            patient,
            grantee,
            ..
        } = &self.cast;
        vec![
            keys::chain_config().as_bytes().to_vec(),
            keys::block_info().as_bytes().to_vec(),
            keys::account(&doctor.address).as_bytes().to_vec(),
            keys::org(&org_name("Seoul General")).as_bytes().to_vec(),
            keys::membership(&doctor.address).as_bytes().to_vec(),
            keys::access_log_entry(&patient.address, 0)
                .as_bytes()
                .to_vec(),
            keys::access_log_len(&patient.address).as_bytes().to_vec(),
            keys::identity(&testkit::doctor_identity(doctor))
                .as_bytes()
                .to_vec(),
            keys::identity_of(&doctor.address).as_bytes().to_vec(),
            keys::licence(&testkit::doctor_identity(doctor))
                .as_bytes()
                .to_vec(),
            keys::revocation(&testkit::doctor_identity(doctor))
                .as_bytes()
                .to_vec(),
            keys::patient_entries(&patient.address)
                .list
                .entry(0)
                .as_bytes()
                .to_vec(),
            keys::vouching_key(&grantee.address).as_bytes().to_vec(),
            keys::patient_notifications(&patient.address)
                .list
                .entry(0)
                .as_bytes()
                .to_vec(),
            keys::org(&org_name("Nowhere")).as_bytes().to_vec(),
            keys::account(&Actor::new(999).address).as_bytes().to_vec(),
        ]
    }
}

fn world_chain() -> &'static medchain_types::ChainId {
    static CHAIN: std::sync::OnceLock<medchain_types::ChainId> = std::sync::OnceLock::new();
    CHAIN.get_or_init(medchain_state::testkit::chain_id)
}

fn blocks(txs: &[Transaction]) -> Vec<Vec<u8>> {
    let header = fixtures::chain().header.clone();
    [Vec::new(), txs[..1].to_vec(), txs.to_vec()]
        .into_iter()
        .map(|body| Block::new(header.clone(), body).encode().to_vec())
        .chain([
            Block::with_checkpoint(header.clone(), Vec::new(), checkpoint(&txs[..1]))
                .encode()
                .to_vec(),
            Block::with_checkpoint(header.clone(), txs.to_vec(), checkpoint(txs))
                .encode()
                .to_vec(),
        ])
        .collect()
}

/// A MED checkpoint (S3-supervise) of one Mblock per transaction of `txs`, each releasing a
/// record about its sender: linked, as the block decoder checks (proof of work is the state's
/// check, not the decoder's).
fn checkpoint(txs: &[Transaction]) -> Checkpoint {
    let mut parent = Sha256::hash(&[b"checkpointed tip"]);
    let branch = (1..)
        .zip(txs)
        .map(|(height, tx)| {
            let releases = vec![TxMr {
                doctor: tx.body.sender,
                patient: Actor::new(50).address,
                record_hash: medchain_types::ContentHash::of(&tx.encode()),
                issued_at_ms: height,
            }];
            let header = MblockHeader {
                height,
                parent,
                tx_root: med::item_root(world_chain(), &releases, []),
                body_hash: Sha256::hash(&[b"body"]),
                timestamp_ms: 1_700_000_000_000 + height,
                difficulty: 1,
                miner: tx.body.sender,
                nonce: height,
            };
            parent = header.hash();
            CheckpointedMblock {
                header,
                txs: releases,
                entries: Vec::new(),
            }
        })
        .collect();
    Checkpoint { branch }
}

/// A finalization of `digest` by the fixture validators `signers`, assembled as simplex does.
fn finalization(signers: &[usize], digest: Hash32) -> Finalization<ConsensusScheme, Hash32> {
    let chain = fixtures::chain();
    let participants = chain.genesis.validator_set().expect("fixture genesis");
    let keys = fixtures::validator_keys();
    let proposal = Proposal::new(
        Round::new(Epoch::zero(), View::new(2)),
        View::new(1),
        digest,
    );
    let schemes: Vec<ConsensusScheme> = signers
        .iter()
        .map(|&i| {
            ConsensusScheme::signer(
                &chain.genesis.consensus_namespace(),
                participants.clone(),
                keys[i].clone(),
            )
            .expect("a fixture validator")
        })
        .collect();
    let votes: Vec<Finalize<ConsensusScheme, Hash32>> = schemes
        .iter()
        .map(|scheme| Finalize::sign(scheme, proposal.clone()).expect("sign"))
        .collect();
    Finalization::from_finalizes(
        &schemes[0],
        NonEmpty::try_new(votes.iter()).expect("votes"),
        &Sequential,
    )
    .expect("assemble")
}

/// Token and staking payloads execute only on a chain with tokens; they are seeded as payloads
/// alone, with genuine embedded signatures (a cosignature, an endorsement, two conflicting
/// votes of a fixture validator).
fn token_and_stake_payloads() -> Vec<Payload> {
    let chain = fixtures::chain();
    let keys = fixtures::validator_keys();
    let address = |i: usize| medchain_types::Address::from(keys[i].public_key());
    let outputs = vec![
        TxOutput::to_key(40, address(1)),
        TxOutput {
            value: 30,
            to: Payee::Output {
                lock: Lock::Multi {
                    threshold: 2,
                    keys: vec![address(1), address(2), address(3)],
                },
                unlock: Some(LockTime::Height(100)),
            },
        },
        TxOutput {
            value: 5,
            to: Payee::Balance(address(0)),
        },
    ];
    let inputs = vec![OutPoint {
        tx: medchain_types::TxId(chain.genesis.digest()),
        index: 1,
    }];
    let cosignature = TransferAuthorization {
        chain_id: chain.genesis.chain_id.clone(),
        sender: address(0),
        nonce: 0,
        fee: 25,
        valid_until_ms: u64::MAX,
        inputs: inputs.clone(),
        from_balance: 0,
        outputs: outputs.clone(),
    }
    .sign(&keys[1]);
    let escrow = EscrowId(Sha256::hash(&[b"escrow"]));
    let org = OrgName::new("Seoul General").expect("org name");
    let endorsement = CandidateEndorsement {
        chain_id: chain.genesis.chain_id.clone(),
        org: org.clone(),
        candidate: address(0),
    }
    .sign(&keys[1]);
    let participants = chain.genesis.validator_set().expect("fixture genesis");
    let scheme = ConsensusScheme::signer(
        &chain.genesis.consensus_namespace(),
        participants,
        keys[2].clone(),
    )
    .expect("a fixture validator");
    let vote = |payload: &[u8]| {
        Notarize::sign(
            &scheme,
            Proposal::new(
                Round::new(Epoch::zero(), View::new(3)),
                View::new(2),
                Sha256::hash(&[payload]),
            ),
        )
        .expect("sign")
    };
    vec![
        Payload::Token(TokenPayload::Transfer {
            inputs,
            from_balance: 0,
            outputs,
            cosignatures: vec![cosignature],
        }),
        Payload::Token(TokenPayload::EscrowOpen {
            payee: address(1),
            arbiter: address(2),
            amount: 70,
            refund_after: LockTime::TimeMs(1_800_000_000_000),
        }),
        Payload::Token(TokenPayload::EscrowRelease { escrow }),
        Payload::Token(TokenPayload::EscrowRefund { escrow }),
        Payload::Stake(StakePayload::Register {
            org,
            p2p: PeerAddress::new("127.0.0.1:9004").expect("p2p address"),
            endorser: address(1),
            endorsement,
        }),
        Payload::Stake(StakePayload::Delegate {
            candidate: address(0),
            amount: 1_000,
        }),
        Payload::Stake(StakePayload::Undelegate {
            candidate: address(0),
            amount: 400,
        }),
        Payload::Stake(StakePayload::Withdraw {
            candidate: address(0),
        }),
        Payload::Stake(StakePayload::Report {
            evidence: Equivocation::Notarize(ConflictingNotarize::new(vote(b"a"), vote(b"b"))),
        }),
    ]
}

fn certificates() -> Vec<Vec<u8>> {
    let digest = fixtures::chain().header.digest();
    let mut seeds: Vec<Vec<u8>> = [&[0, 1, 2][..], &[1, 2, 3], &[0, 1, 2, 3]]
        .into_iter()
        .map(|signers| finalization(signers, digest).encode().to_vec())
        .collect();
    seeds.push(
        finalization(&[0, 1, 2], Sha256::hash(&[b"another block"]))
            .encode()
            .to_vec(),
    );
    seeds
}

fn state_proofs(story: &Story) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for key in story.keys() {
        let proven = story.proven(&key);
        seeds.push(proven.proof.to_bytes());
        seeds.push(proven.to_bytes());
    }
    seeds
}

/// A JSON body for the `api_json` decoder `choice`.
fn body(choice: u8, value: &impl Serialize) -> Vec<u8> {
    let mut seed = vec![choice];
    seed.extend(serde_json::to_vec(value).expect("serialize"));
    seed
}

fn api_bodies(story: &Story) -> Vec<Vec<u8>> {
    let chain = fixtures::chain();
    let header = story.header();
    let certificate = Some(hex::encode(
        finalization(&[0, 1, 2], header.digest()).encode(),
    ));
    let tx_hex: Vec<String> = story
        .txs
        .iter()
        .map(|tx| hex::encode(tx.encode()))
        .collect();
    let error = ErrorBody {
        error: "bad_nonce".into(),
        message: "nonce 3 is used".into(),
        hint: "use nonce 4".into(),
    };
    let patient = story.cast.patient.address;
    let entry = story
        .cast
        .world
        .value(&keys::access_log_entry(&patient, 0))
        .expect("the story logged an access");
    let mut seeds = vec![
        body(0, &HeaderView::from(&header)),
        body(0, &chain.header_view),
        body(
            1,
            &BlockView {
                header: chain.header_view.clone(),
                tx_ids: Vec::new(),
                finalization: Some(hex::encode(
                    finalization(&[0, 1, 2], chain.header.digest()).encode(),
                )),
            },
        ),
        body(
            2,
            &StatusView {
                chain_id: chain.genesis.chain_id.clone(),
                height: 1,
                block_digest: hex::encode(chain.header.digest()),
                state_root: hex::encode(chain.header.state_root),
                timestamp_ms: chain.header.timestamp_ms,
                regulator: chain.genesis.regulator,
                epoch: 0,
                validators: chain
                    .genesis
                    .validators
                    .iter()
                    .map(|v| ValidatorView {
                        name: v.name.clone(),
                        public_key: v.public_key,
                        stake: None,
                    })
                    .collect(),
                mempool_size: 3,
            },
        ),
        body(
            3,
            &SubmitRequest {
                tx: tx_hex[0].clone(),
            },
        ),
        body(
            4,
            &SubmitResponse {
                id: story.txs[0].id(),
                status: TxState::Queued,
                waiting_for: Some(3),
            },
        ),
        body(
            5,
            &BatchRequest {
                txs: tx_hex.clone(),
            },
        ),
        body(
            6,
            &BatchResponse {
                results: vec![
                    BatchItem {
                        id: Some(story.txs[0].id()),
                        error: None,
                    },
                    BatchItem {
                        id: None,
                        error: Some(error.clone()),
                    },
                ],
            },
        ),
        body(
            7,
            &TxStatusView {
                id: story.receipt.tx,
                status: TxState::Finalized,
                receipt: Some(story.receipt.clone()),
                receipt_proof: Some(hex::encode(commonware_codec::Encode::encode(
                    &medchain_types::receipts_tree(&[story.receipt.leaf()])
                        .proof(0)
                        .expect("one leaf"),
                ))),
                waiting_for: None,
                dropped: None,
            },
        ),
        body(
            9,
            &AccessLogView {
                patient,
                total: 1,
                entries: vec![serde_json::json!({ "seq": 0, "entry": entry })],
            },
        ),
        body(10, &error),
        body(11, &chain.genesis),
    ];
    for key in story.keys() {
        seeds.push(body(
            8,
            &ProvenView {
                value: None,
                proven: story.proven(&key),
                header: HeaderView::from(&header),
                finalization: certificate.clone(),
            },
        ));
    }
    seeds.extend(story.txs.iter().map(|tx| body(12, &tx.body.payload)));
    let segments = [
        patient.to_string(),
        story.txs[0].id().to_string(),
        "Seoul General".into(),
        "public_health".into(),
        "18446744073709551615".into(),
    ];
    seeds.extend(
        segments
            .iter()
            .map(|text| [&[13u8][..], text.as_bytes()].concat()),
    );
    seeds
}

/// A `taka_wire` input for decoder `choice`.
fn message(choice: u8, bytes: &[u8]) -> Vec<u8> {
    [&[choice][..], bytes].concat()
}

fn taka_messages() -> Vec<Vec<u8>> {
    let taka = fixtures::taka();
    let params = &taka.params;
    let mut rng = fixtures::taka_rng(11);
    let (pending, request) =
        PendingRegistration::new(Identity::new("seed-entity").expect("id"), &mut rng);
    let response = taka.pkg.register(&request, &mut rng);
    let response_bytes = response.to_bytes().to_vec();
    let keys = pending.complete(params, response).expect("honest PKG");
    let signature = Signature::sign(&taka.doctor, params, TAKA_MESSAGE, &mut rng);
    let record = RecordIndex::new(3).expect("record index");
    let entry = EmrEntry::new(
        vec!["diabetes".into()],
        [7; 32],
        taka.hospital.id().clone(),
        record,
    )
    .expect("entry");
    let kdf = BiometricKdfParams::RECOMMENDED;
    let sealed = EncryptedEntry::seal(
        taka.patient.id(),
        &entry,
        &[9; taka::MIN_TEMPLATE_LEN],
        kdf,
        &mut rng,
    )
    .expect("seal");
    let authorization = taka
        .patient_enrolment
        .authorize(taka.doctor.id(), &[record], u64::MAX)
        .expect("authorize");
    let (_, share) = PendingShare::request(
        &taka.doctor,
        params,
        taka.licence.clone(),
        &authorization,
        &mut rng,
    )
    .expect("share request");
    let verified = taka
        .hospital_enrolment
        .verify_request(&taka.hospital, params, &share, &taka.licence_check())
        .expect("a genuine request");
    let release = RecordRelease::new(record, [7; 32], b"EMR #3".to_vec()).expect("release");
    let response = verified.respond(&[release], &mut rng).expect("respond");
    let eta = EmergencyRequest::new(taka.patient.id().clone(), record, &mut rng);
    let (_, emergency) = PendingEmergency::start(
        &taka.doctor,
        taka.hospital.id().clone(),
        eta.clone(),
        [5; 32],
        &mut rng,
    );
    let (doctor_state, hello) = Initiator::start(&taka.doctor, taka.patient.id().clone(), &mut rng);
    let (reply, _) = respond(&taka.patient, &hello, &mut rng).expect("genuine hello");
    let (enrol_state, enrol_hello) =
        Initiator::start_enrolment(&taka.patient, taka.hospital.id().clone(), &mut rng);
    let (enrol_reply, _) =
        respond_enrolment(&taka.hospital, &enrol_hello, &mut rng).expect("genuine hello");
    let enrol_state_bytes = enrol_state.to_bytes();
    let (_, _, confirmation) = enrol_state
        .finish_enrolment(&taka.patient, &enrol_reply)
        .expect("genuine reply");
    let (polynomial, shares) = taka.pkg.deal_shares(4, 3, &mut rng).expect("dealing");
    let (_pending, registration) =
        PendingRegistration::new(Identity::new("seed-threshold").expect("id"), &mut rng);
    let (nonces, commitments): (Vec<_>, Vec<_>) = shares[..3]
        .iter()
        .map(|share| share.commit(&mut rng))
        .unzip();
    let extraction = ExtractionRequest::new(&registration, commitments.clone()).expect("request");
    let nonce = nonces.into_iter().next().expect("three nonces");
    let partial = shares[0]
        .extract(nonce, &extraction, &polynomial)
        .expect("partial key");
    let sealed_partial = SealedPartialKey::seal(&partial, &extraction, &mut rng).expect("seal");
    vec![
        message(0, &params.to_bytes()),
        message(1, &request.to_bytes()),
        message(2, &response_bytes),
        message(3, &keys.to_bytes()),
        message(4, &signature.to_bytes()),
        message(5, &taka.licence.to_bytes()),
        message(6, &entry.to_bytes()),
        message(7, &sealed.to_bytes()),
        message(8, &response.to_bytes()),
        message(9, &authorization.to_bytes()),
        message(10, &share.to_bytes()),
        message(11, &taka.patient_enrolment.factors().to_bytes()),
        message(12, &eta.to_bytes()),
        message(13, &emergency.to_bytes()),
        message(14, &hello.to_bytes()),
        message(15, &reply.to_bytes()),
        message(16, &enrol_reply.to_bytes()),
        message(17, &confirmation.to_bytes()),
        message(18, &polynomial.to_bytes()),
        message(19, &commitments[0].to_bytes()),
        message(20, &extraction.to_bytes()),
        message(21, &partial.to_bytes()),
        message(22, &sealed_partial.to_bytes()),
        message(23, &taka.patient_enrolment.to_bytes()),
        message(23, &taka.hospital_enrolment.to_bytes()),
        message(24, &doctor_state.to_bytes()),
        message(24, &enrol_state_bytes),
    ]
}

fn zk_messages() -> Vec<Vec<u8>> {
    let zk = fixtures::zk();
    vec![
        message(0, &zk.proof.to_bytes()),
        message(1, &zk.verifying_key.to_bytes()),
        message(3, &zk.statement.to_bytes()),
        message(4, &zk.predicate.to_bytes()),
        message(
            5,
            &zk.predicate.digest(&zk.shape).expect("digest").to_bytes(),
        ),
        message(6, &zk.opening.commit().expect("commit").to_bytes()),
        message(7, &zk.opening.to_bytes()),
    ]
}

fn zk_texts() -> Vec<Vec<u8>> {
    let predicates = [
        "age in 40..=70 and icd10 == E11 and hba1c >= 6.5",
        "(sex == female or age < 18) and ldl not in 100..=190",
        "icd10 == I10 or icd10 == N18.3",
    ];
    let mut seeds: Vec<Vec<u8>> = predicates
        .iter()
        .map(|text| message(0, text.as_bytes()))
        .collect();
    let bundles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fhir");
    for entry in fs::read_dir(bundles).expect("fixtures/fhir") {
        let path = entry.expect("fixture").path();
        if path.extension().is_some_and(|ext| ext == "json") {
            seeds.push(message(1, &fs::read(path).expect("bundle")));
        }
    }
    seeds
}
