//! The MED routes (issue 13, S3-dual) on a real chain: a hospital batch sealed by a licensed
//! doctor and an audited hospital is accepted (idempotently), mined into an Mblock, and its
//! record served with an inclusion proof that verifies; batches with a bad aggregate, a signer
//! that is no hospital, a revoked doctor or no release are refused with typed JSON errors; the
//! read routes validate their parameters; a chain without MED says so.

// The client tests' fixtures (a dependency of `served`) and a real node API on loopback.
#[path = "../../client/tests/common/mod.rs"]
mod fixtures;
mod router;
mod served;

use axum::{Router, http::StatusCode};
use commonware_runtime::Runner as _;
use medchain_api::{BatchAccepted, MedEntryStatus, MedEntryView, MedRecordView, MedStatus};
use medchain_med::{MedStore, aggregate, inclusion, pow};
use medchain_node::{
    api::{self, ApiState},
    chain::Chain,
    enrolment::{Enrolment, nonces::NonceLimits},
    med::{
        Accepted, BatchRefused, HOSPITAL_BURST_RELEASES, MIN_CHECKPOINT_AGE_MS, MedService,
        Penalty, SYNC_WINDOW,
    },
    med_checkpoint::CheckpointSource as _,
    mempool::Mempool,
    metrics::NodeMetrics,
    pkg::ShareStore,
};
use medchain_state::testkit::{
    self, Actor, HospitalDesk, REGULATOR_SEED, doctor_identity, org_name,
};
use medchain_storage::Store;
use medchain_types::{
    BlsSignature, ContentHash, EntryBytes, Genesis, OrgKind, OrgState, RecordId,
    emergency::vouching_key_from,
    med::{EntryMr, Mblock, MblockBody, MblockHeader, MedParams, SignedBatch, SignedEntry, TxMr},
};
use router::{call, error_code};
use serde_json::Value;
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// A few hashes per Mblock.
const PARAMS: MedParams = MedParams {
    target_interval_ms: 1_000,
    initial_difficulty: 16,
    min_difficulty: 8,
    retarget_window: 4,
};

/// The MED service's clock: a day after genesis (later than every served block).
const NOW_MS: u64 = testkit::GENESIS_TIME_MS + 86_400_000;

fn med_genesis() -> Genesis {
    Genesis {
        med: Some(PARAMS),
        ..fixtures::genesis()
    }
}

/// A served chain with MED: Seoul General audited, its desk a hospital identity, its doctor
/// licensed, both with vouching keys.
struct Node {
    router: Router,
    chain: Arc<Chain>,
    med: Arc<MedService>,
    doctor: Actor,
    desk: HospitalDesk,
}

fn api_state(chain: Arc<Chain>, genesis: Genesis) -> ApiState {
    let metrics = commonware_runtime::deterministic::Runner::default()
        .start(|context| async move { NodeMetrics::register(&context) });
    let enrolment = Enrolment::new(
        ShareStore::open(&std::env::temp_dir().join("medchain-med-api-test-no-share")).unwrap(),
        testkit::address(99),
        NonceLimits::default(),
    );
    ApiState::new(Box::new(String::new), chain, genesis, metrics, enrolment)
}

fn node() -> Node {
    node_with_clock(Arc::new(AtomicU64::new(NOW_MS)))
}

/// [`node`] whose MED service reads the time from `clock` (unix milliseconds).
fn node_with_clock(clock: Arc<AtomicU64>) -> Node {
    let genesis = med_genesis();
    let store = Store::in_memory().unwrap();
    let (med, _mailbox) = MedService::with_store(
        MedStore::in_memory().unwrap(),
        &genesis,
        store.clone(),
        Box::new(move || clock.load(Ordering::Relaxed)),
    )
    .unwrap()
    .expect("the genesis has MED");
    let chain = Arc::new(
        Chain::open(store, &genesis, Mempool::default(), 100)
            .unwrap()
            .with_med(med.clone()),
    );
    let org = org_name("Seoul General");
    let (doctor, desk) = (Actor::new(1), HospitalDesk::of(&org));
    let regulator = Actor::new(REGULATOR_SEED);
    served::commit(
        &chain,
        &[doctor.sign(0, testkit::register(&org, OrgKind::Hospital))],
    );
    served::commit(
        &chain,
        &[regulator.sign(0, testkit::set_state(&org, OrgState::Audited))],
    );
    let [join, enrol] = desk.opening(&org, &doctor);
    let [(_, enrol_doctor), (_, licence)] = desk.licensing(&doctor);
    served::commit(
        &chain,
        &[
            desk.actor.sign(0, join),
            desk.actor.sign(1, enrol),
            doctor.sign(1, enrol_doctor),
        ],
    );
    served::commit(
        &chain,
        &[
            desk.actor.sign(2, licence),
            doctor.sign(2, testkit::set_vouching_key(&doctor)),
            desk.actor.sign(3, testkit::set_vouching_key(&desk.actor)),
        ],
    );
    let router = api::router(api_state(chain.clone(), genesis).with_med(med.clone()));
    Node {
        router,
        chain,
        med,
        doctor,
        desk,
    }
}

impl Node {
    /// The doctor's releases of `contents` (one patient each), sealed by the desk.
    fn batch(&self, contents: &[&[u8]]) -> (SignedBatch, Vec<RecordId>) {
        self.batch_at(contents, NOW_MS)
    }

    /// [`Node::batch`] with releases issued at `issued_at_ms`.
    fn batch_at(&self, contents: &[&[u8]], issued_at_ms: u64) -> (SignedBatch, Vec<RecordId>) {
        let chain_id = testkit::chain_id();
        let doctor_key = vouching_key_from(&self.doctor.key);
        let releases: Vec<(TxMr, BlsSignature)> = contents
            .iter()
            .enumerate()
            .map(|(i, content)| {
                let tx = TxMr {
                    doctor: self.doctor.address,
                    patient: Actor::new(50 + i as u64).address,
                    record_hash: ContentHash::of(content),
                    issued_at_ms,
                };
                let signature = aggregate::sign_release(&chain_id, &doctor_key, &tx);
                (tx, signature)
            })
            .collect();
        let ids = releases
            .iter()
            .map(|(tx, _)| tx.record_id(&chain_id))
            .collect();
        let snapshot = self.chain.store().snapshot().unwrap();
        let batch = aggregate::seal_batch(
            &chain_id,
            &vouching_key_from(&self.desk.actor.key),
            self.desk.actor.address,
            releases,
            Vec::new(),
            &medchain_state::med::StateSigners::new(&snapshot, issued_at_ms),
        )
        .unwrap();
        (batch, ids)
    }

    /// Mines one Mblock on the best tip with the pool's batches.
    fn mine(&self) -> MblockHeader {
        let (mut header, body, _) = self.med.template(testkit::address(7));
        assert!(pow::mine(&mut header, u64::MAX));
        self.med.mined(Mblock {
            header: header.clone(),
            body,
        });
        header
    }

    /// A peer's Mblock carrying `body` on the last of `ancestry` (oldest first, from genesis:
    /// the retarget window), mined by `miner` at `timestamp_ms`.
    fn peer_block(
        ancestry: &[&MblockHeader],
        body: MblockBody,
        miner: u64,
        timestamp_ms: u64,
    ) -> Mblock {
        let parent = ancestry.last().expect("at least the genesis Mblock");
        let window: Vec<(u64, u64)> = ancestry
            .iter()
            .map(|header| (header.timestamp_ms, header.difficulty))
            .collect();
        let mut header = MblockHeader {
            height: parent.height + 1,
            parent: parent.hash(),
            tx_root: body.item_root(&testkit::chain_id()),
            body_hash: body.hash(),
            timestamp_ms,
            difficulty: pow::next_difficulty(&PARAMS, &window),
            miner: testkit::address(miner),
            nonce: 0,
        };
        assert!(pow::mine(&mut header, u64::MAX));
        Mblock { header, body }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        call(&self.router, method, path, body).await
    }
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

#[tokio::test]
async fn a_sealed_batch_is_accepted_mined_and_its_record_proven() {
    let node = node();
    let (batch, records) = node.batch(&[b"EMR 1", b"EMR 2"]);
    let (status, body) = node
        .call("POST", "/v1/med/batches", Some(json(&batch)))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let accepted: BatchAccepted = serde_json::from_value(body).unwrap();
    assert_eq!(
        accepted,
        BatchAccepted::of(&batch.batch.root(&testkit::chain_id()))
    );
    // Resubmitting a waiting batch is accepted again, once.
    let (status, again) = node
        .call("POST", "/v1/med/batches", Some(json(&batch)))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        serde_json::from_value::<BatchAccepted>(again).unwrap(),
        accepted
    );
    let (_, status) = node.call("GET", "/v1/med/status", None).await;
    let status: MedStatus = serde_json::from_value(status).unwrap();
    assert_eq!((status.pending_batches, status.best.height), (1, 0));
    assert!(!status.mining);

    // Not mined yet: 404 with what to do.
    let path = format!("/v1/med/records/{}", records[1]);
    let (code, body) = node.call("GET", &path, None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_on_med");

    let header = node.mine();
    let (_, status) = node.call("GET", "/v1/med/status", None).await;
    let status: MedStatus = serde_json::from_value(status).unwrap();
    assert_eq!(
        status.pending_batches, 0,
        "an included batch leaves the pool"
    );
    assert_eq!((status.best.height, status.best.txs), (1, 2));
    assert_eq!(status.best.hash, hex::encode(header.hash()));
    assert_eq!(status.checkpointed.height, 0);

    let (code, body) = node.call("GET", &path, None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let view: MedRecordView = serde_json::from_value(body).unwrap();
    assert_eq!(
        (view.record, view.index, view.checkpointed),
        (records[1], 1, false)
    );
    assert_eq!(view.header, header);
    let proven = inclusion::verify_inclusion(
        &testkit::chain_id(),
        &inclusion::RecordInclusion {
            header: view.header.clone(),
            index: view.index,
            tx: view.tx.clone(),
            proof: view.proof_bytes().unwrap(),
        },
    )
    .unwrap();
    assert_eq!(proven, records[1]);

    // The Mblock and the headers along the best chain.
    let (code, body) = node
        .call(
            "GET",
            &format!("/v1/med/blocks/{}", hex::encode(header.hash())),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let block: Mblock = serde_json::from_value(body).unwrap();
    assert_eq!(block.header, header);
    assert!(block.body_matches(&testkit::chain_id()));
    let (code, body) = node
        .call("GET", "/v1/med/headers?from=1&limit=5", None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        serde_json::from_value::<Vec<MblockHeader>>(body).unwrap(),
        vec![header]
    );

    // The same release again is already on MED.
    let (code, body) = node
        .call("POST", "/v1/med/batches", Some(json(&batch)))
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "already_on_med");
}

/// A peer's Mblock carries a batch this node never pooled; the hospital submits it here too
/// (refused: already on MED). A heavier branch without it then wins: the batch is mined
/// again, not lost — an Mblock keeps only its block's aggregate, never the batch's signature.
#[tokio::test]
async fn a_batch_whose_mblock_loses_a_reorg_is_mined_again() {
    let node = node();
    let (batch, records) = node.batch(&[b"EMR 1", b"EMR 2"]);
    let genesis = node.med.headers(0, 1).remove(0);
    let carrying = Node::peer_block(
        &[&genesis],
        MblockBody {
            batches: vec![batch.batch.clone()],
            signature: Some(batch.signature),
        },
        8,
        NOW_MS,
    );
    assert!(matches!(
        node.med.accept_block(carrying.clone()),
        Ok(Accepted::Inserted { new_best: true, .. })
    ));
    assert!(matches!(
        node.med.submit_batch(batch.clone(), true),
        Err(BatchRefused::AlreadyOnMed(_))
    ));
    let status = node.med.status().unwrap();
    assert_eq!(status.pending_batches, 0, "on the best chain: not waiting");
    let (_, body, _) = node.med.template(testkit::address(7));
    assert!(body.batches.is_empty(), "a release is filed once per chain");

    // A rival branch of two empty Mblocks on genesis: more work, the batch's Mblock is off
    // the best chain.
    let empty = MblockBody {
        batches: Vec::new(),
        signature: None,
    };
    let first = Node::peer_block(&[&genesis], empty.clone(), 9, NOW_MS);
    let second = Node::peer_block(&[&genesis, &first.header], empty, 9, NOW_MS + 1);
    node.med.accept_block(first).unwrap();
    node.med.accept_block(second.clone()).unwrap();
    let status = node.med.status().unwrap();
    assert_eq!(status.best.hash, hex::encode(second.header.hash()));
    assert!(node.med.record(&records[0]).unwrap().is_none());
    assert_eq!(status.pending_batches, 1, "the dropped batch waits again");

    let header = node.mine();
    assert_eq!(header.parent, second.header.hash());
    let (inclusion, final_) = node.med.record(&records[1]).unwrap().expect("mined again");
    assert_eq!(inclusion.header, header);
    assert!(!final_);
    // Still pooled until final, but never put in a second Mblock of the same chain.
    assert_eq!(node.med.status().unwrap().pending_batches, 0);
    let (_, body, _) = node.med.template(testkit::address(7));
    assert!(body.batches.is_empty(), "a release is filed once per chain");
}

#[tokio::test]
async fn refused_batches_get_typed_errors_and_change_nothing() {
    let node = node();
    let (batch, _) = node.batch(&[b"EMR 1"]);
    let (other, _) = node.batch(&[b"EMR 2"]);

    // The aggregate of another batch.
    let mut forged = batch.clone();
    forged.signature = other.signature;
    // A signer that is no hospital identity.
    let mut stranger = batch.clone();
    stranger.batch.hospital = node.doctor.address;
    // No release at all.
    let mut empty = batch.clone();
    empty.batch.txs.clear();
    // Releases no Mblock could carry: issued two hours ago, or dated two hours ahead to stay
    // pooled for good. Refused before the pairings (their signatures no longer match either).
    let two_hours = 2 * 60 * 60 * 1_000;
    let mut stale = batch.clone();
    stale.batch.txs[0].issued_at_ms = NOW_MS - two_hours;
    let mut ahead = batch.clone();
    ahead.batch.txs[0].issued_at_ms = NOW_MS + two_hours;
    // Review R6: dated ahead by more than an Mblock's clock drift — within the hour a release
    // is valid for, but no honest clock is that far off.
    let mut drifting = batch.clone();
    drifting.batch.txs[0].issued_at_ms = NOW_MS + medchain_med::chain::future_drift_ms(&PARAMS) + 1;
    for (bad, status, code) in [
        (
            json(&stale),
            StatusCode::UNPROCESSABLE_ENTITY,
            "stale_release",
        ),
        (
            json(&ahead),
            StatusCode::UNPROCESSABLE_ENTITY,
            "future_release",
        ),
        (
            json(&drifting),
            StatusCode::UNPROCESSABLE_ENTITY,
            "future_release",
        ),
        (
            json(&forged),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_signature",
        ),
        (
            json(&stranger),
            StatusCode::UNPROCESSABLE_ENTITY,
            "signer_refused",
        ),
        (json(&empty), StatusCode::BAD_REQUEST, "bad_batch_size"),
    ] {
        let (got, body) = node.call("POST", "/v1/med/batches", Some(bad)).await;
        assert_eq!((got, error_code(&body).as_str()), (status, code), "{body}");
    }
    // Not a batch at all: axum's JSON refusal, still a JSON error.
    let (got, body) = node
        .call(
            "POST",
            "/v1/med/batches",
            Some(serde_json::json!({"batch": 1})),
        )
        .await;
    assert!(got.is_client_error(), "{got}");
    error_code(&body);

    // The hospital revokes its doctor: the doctor's sealed release is refused from then on.
    served::commit(
        &node.chain,
        &[node
            .desk
            .actor
            .sign(4, testkit::revoke_doctor(&doctor_identity(&node.doctor)))],
    );
    let (got, body) = node
        .call("POST", "/v1/med/batches", Some(json(&batch)))
        .await;
    assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "signer_refused");
    assert_eq!(node.med.status().unwrap().pending_batches, 0);
}

/// Review R2: anyone may post batches, and each costs a pairing per release. Before any
/// pairing, a batch naming no hospital SUP knows is refused, the same refused bytes are
/// refused from memory, and a hospital's releases beyond its bucket are answered 429 with a
/// Retry-After, until time refills the bucket.
#[tokio::test]
async fn batches_are_throttled_and_refusals_remembered_before_any_pairing() {
    let clock = Arc::new(AtomicU64::new(NOW_MS));
    let node = node_with_clock(clock.clone());
    let (honest, _) = node.batch(&[b"EMR 1"]);
    // Full batches of the real doctor's releases under a signature that is no aggregate of
    // theirs: every check but the pairings passes.
    let forged = |n: u64| {
        let mut forged = honest.clone();
        forged.batch.txs = (0..medchain_types::med::MAX_BATCH_TXS as u64)
            .map(|i| TxMr {
                record_hash: ContentHash::of(format!("forged {n} {i}").as_bytes()),
                ..honest.batch.txs[0].clone()
            })
            .collect();
        json(&forged)
    };
    let post = |body: Value| node.call("POST", "/v1/med/batches", Some(body));

    let mut stranger = honest.clone();
    stranger.batch.hospital = testkit::address(42);
    let (got, body) = post(json(&stranger)).await;
    assert_eq!(
        (got, error_code(&body).as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "signer_refused")
    );
    assert_eq!(
        node.med.aggregate_checks(),
        0,
        "an unknown hospital costs no pairing"
    );

    for round in 0..2 {
        let (got, body) = post(forged(0)).await;
        assert_eq!(
            (got, error_code(&body).as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "bad_signature"),
            "{round}"
        );
        assert_eq!(
            node.med.aggregate_checks(),
            1,
            "the same refused bytes are verified once"
        );
    }
    let burst =
        (HOSPITAL_BURST_RELEASES.get() as usize).div_ceil(medchain_types::med::MAX_BATCH_TXS);
    for n in 1..burst as u64 {
        let (got, _) = post(forged(n)).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(node.med.aggregate_checks(), burst as u64);

    // The hospital's bucket is empty: refused before any pairing, with when to retry.
    let request = axum::http::Request::post("/v1/med/batches")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(forged(99).to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(node.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[axum::http::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let (got, body) = post(json(&honest)).await;
    assert_eq!(
        (got, error_code(&body).as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "med_rate_limited")
    );
    assert_eq!(node.med.aggregate_checks(), burst as u64);

    // Time refills it: the honest batch is verified and pooled.
    clock.fetch_add(retry_after * 1_000, Ordering::Relaxed);
    let (got, body) = post(json(&honest)).await;
    assert_eq!(got, StatusCode::ACCEPTED, "{body}");
    assert_eq!(node.med.aggregate_checks(), burst as u64 + 1);
}

/// Review R3: an Mblock refused for its aggregate is remembered by hash, so a peer resending
/// the same bytes costs no pairings, and the refusal counts against it (a strike: a few get
/// it blocked); a block whose body is malformed gets its sender blocked at once.
#[tokio::test]
async fn a_refused_mblock_is_remembered_and_penalised() {
    let node = node();
    let (batch, _) = node.batch(&[b"EMR 1"]);
    let (other, _) = node.batch(&[b"EMR 2"]);
    let genesis = node.med.headers(0, 1).remove(0);
    let forged = Node::peer_block(
        &[&genesis],
        MblockBody {
            batches: vec![batch.batch.clone()],
            signature: Some(other.signature),
        },
        8,
        NOW_MS,
    );
    let checks = node.med.aggregate_checks();
    for round in 0..3 {
        let refused = node.med.accept_block(forged.clone()).unwrap_err();
        assert!(
            matches!(
                refused,
                medchain_node::med::BlockRefused::Aggregate(
                    medchain_med::aggregate::AggregateError::BadSignature
                )
            ),
            "{round}: {refused}"
        );
        assert_eq!(refused.penalty(), Penalty::Strike);
        assert_eq!(node.med.aggregate_checks(), checks + 1, "verified once");
    }
    // The same releases twice in one body: wrong whatever the sender's view of SUP.
    let twice = Node::peer_block(
        &[&genesis],
        MblockBody {
            batches: vec![batch.batch.clone(), batch.batch.clone()],
            signature: aggregate::block_signature(&[batch.clone(), batch.clone()]),
        },
        8,
        NOW_MS,
    );
    let refused = node.med.accept_block(twice).unwrap_err();
    assert_eq!(refused.penalty(), Penalty::Mute, "{refused}");
    // The honest block with the same releases is not refused for the forgery.
    let honest = Node::peer_block(
        &[&genesis],
        MblockBody {
            batches: vec![batch.batch.clone()],
            signature: Some(batch.signature),
        },
        8,
        NOW_MS,
    );
    assert!(matches!(
        node.med.accept_block(honest),
        Ok(Accepted::Inserted { .. })
    ));
}

/// Validators that start mining a few seconds apart (a devnet on a loaded machine): the first
/// one's tip retargets up while a later one still mines its first, cheap Mblocks. Such a block
/// reaching the first one before its parent claims less than a quarter of the tip's difficulty
/// there, so it does not wait for its parent — but its sender is honest, so it is only dropped.
/// Blocking it cut the whole p2p connection, SUP's consensus channels included, for 30
/// minutes: validators blocked each other this way and SUP never finalized a block. A block
/// whose hash misses the work it claims still gets its sender blocked.
#[tokio::test]
async fn a_later_miners_cheap_mblock_is_dropped_without_blocking_it() {
    let clock = Arc::new(AtomicU64::new(NOW_MS));
    let early = node_with_clock(clock.clone());
    let genesis = early.med.headers(0, 1).remove(0);
    let empty = || MblockBody {
        batches: Vec::new(),
        signature: None,
    };
    // The later miner's first two Mblocks, a target interval apart.
    let first = Node::peer_block(&[&genesis], empty(), 9, NOW_MS);
    let second = Node::peer_block(
        &[&genesis, &first.header],
        empty(),
        9,
        NOW_MS + PARAMS.target_interval_ms,
    );
    // The early miner mines a block a millisecond: its difficulty climbs fourfold a block.
    let mut tip = genesis.clone();
    for _ in 0..16 {
        if tip.difficulty / pow::MAX_RETARGET_FACTOR > second.header.difficulty {
            break;
        }
        clock.fetch_add(1, Ordering::Relaxed);
        tip = early.mine();
    }
    assert!(
        tip.difficulty / pow::MAX_RETARGET_FACTOR > second.header.difficulty,
        "the early tip's difficulty {} never left the later miner's {} behind",
        tip.difficulty,
        second.header.difficulty
    );

    let refused = early
        .med
        .accept_with_descendants(second.clone())
        .unwrap_err();
    assert_eq!(refused.penalty(), Penalty::None, "{refused}");
    assert!(
        matches!(refused, medchain_node::med::BlockRefused::LowWork { .. }),
        "{refused}"
    );

    // Claiming work its hash does not have is wrong whatever the tip: blocked.
    let mut forged = second;
    forged.header.difficulty = u64::MAX;
    assert!(!pow::meets_difficulty(
        &forged.header.hash(),
        forged.header.difficulty
    ));
    let refused = early.med.accept_with_descendants(forged).unwrap_err();
    assert_eq!(refused.penalty(), Penalty::Mute, "{refused}");
}

/// Review R4: a proposer checkpoints only Mblocks it has held for
/// [`MIN_CHECKPOINT_AGE_MS`], so that the other validators had time to receive and verify
/// them — a fresh one (mined here, or sent to this leader alone) waits for a later SUP block.
#[tokio::test]
async fn a_proposer_checkpoints_only_mblocks_it_held_for_a_while() {
    let clock = Arc::new(AtomicU64::new(NOW_MS));
    let node = node_with_clock(clock.clone());
    let genesis = node.med.headers(0, 1).remove(0).hash();
    let first = node.mine();
    assert!(
        node.med.propose(&genesis).branch.is_empty(),
        "an Mblock mined a moment ago is not checkpointed yet"
    );
    clock.fetch_add(MIN_CHECKPOINT_AGE_MS, Ordering::Relaxed);
    let second = node.mine();
    let proposed = node.med.propose(&genesis);
    assert_eq!(
        proposed
            .branch
            .iter()
            .map(|block| block.header.clone())
            .collect::<Vec<_>>(),
        vec![first],
        "the old Mblock is checkpointed, its fresh child is not"
    );
    clock.fetch_add(MIN_CHECKPOINT_AGE_MS, Ordering::Relaxed);
    assert_eq!(node.med.propose(&genesis).tip(), Some(&second));
}

/// Review R5: a node far behind catches up headers first — one answer to its locator tells
/// it every header it lacks, checked for links and work before any body is asked for; bodies
/// come [`SYNC_WINDOW`] at a time, oldest first, and the next window is asked once the last
/// one is in. Headers nobody asked for are ignored; a broken chain costs its sender.
#[tokio::test]
async fn a_node_behind_catches_up_headers_first() {
    // One Mblock per target interval of a shared clock (retargeting keeps the work small).
    let clock = Arc::new(AtomicU64::new(NOW_MS));
    let (ahead, behind) = (
        node_with_clock(clock.clone()),
        node_with_clock(clock.clone()),
    );
    let mined: Vec<MblockHeader> = (0..SYNC_WINDOW + 4)
        .map(|_| {
            clock.fetch_add(PARAMS.target_interval_ms, Ordering::Relaxed);
            ahead.mine()
        })
        .collect();
    let block = |header: &MblockHeader| ahead.med.block(&header.hash()).unwrap().unwrap();
    let tip = mined.last().unwrap();
    assert!(matches!(
        behind.med.accept_block(block(tip)),
        Ok(Accepted::Orphan { .. })
    ));
    let peer = {
        use commonware_cryptography::Signer as _;
        commonware_cryptography::ed25519::PrivateKey::from_seed(7).public_key()
    };
    let answer = ahead.med.headers_after(&behind.med.locator());
    assert_eq!(answer, mined);
    assert!(
        behind
            .med
            .accept_headers(&peer, &answer)
            .unwrap()
            .is_empty(),
        "unsolicited"
    );

    behind.med.sync_with(peer.clone());
    let mut broken = answer.clone();
    broken.swap(3, 4);
    let refused = behind.med.accept_headers(&peer, &broken).unwrap_err();
    assert_eq!(refused.penalty(), Penalty::Mute, "{refused}");

    behind.med.sync_with(peer.clone());
    let asked = behind.med.accept_headers(&peer, &answer).unwrap();
    let first_window: Vec<_> = mined[..SYNC_WINDOW]
        .iter()
        .map(MblockHeader::hash)
        .collect();
    assert_eq!(asked, first_window);
    for header in &mined[..SYNC_WINDOW] {
        assert!(matches!(
            behind.med.accept_with_descendants(block(header)),
            Ok(Accepted::Inserted { new_best: true, .. })
        ));
    }
    // The last body of the window asked for the next headers.
    let answer = ahead.med.headers_after(&behind.med.locator());
    assert_eq!(answer, mined[SYNC_WINDOW..]);
    let asked = behind.med.accept_headers(&peer, &answer).unwrap();
    assert_eq!(asked.len(), 4, "the waiting tip is asked again too");
    for header in &mined[SYNC_WINDOW..mined.len() - 1] {
        behind.med.accept_with_descendants(block(header)).unwrap();
    }
    assert_eq!(
        behind.med.status().unwrap().best.hash,
        hex::encode(tip.hash()),
        "the waiting tip followed its parent in"
    );
}

/// Review R6 (part): a batch no Mblock may carry any more (a release issued more than an hour
/// ago) leaves the pool of every node, not only a miner's, as soon as another batch arrives.
#[tokio::test]
async fn stale_batches_leave_a_non_miners_pool() {
    let clock = Arc::new(AtomicU64::new(NOW_MS));
    let node = node_with_clock(clock.clone());
    let (old, _) = node.batch(&[b"EMR 1"]);
    node.med.submit_batch(old, true).unwrap();
    assert_eq!(node.med.status().unwrap().pending_batches, 1);
    clock.fetch_add(
        medchain_types::med::RELEASE_VALIDITY_MS + 1,
        Ordering::Relaxed,
    );
    let (fresh, _) = node.batch_at(&[b"EMR 2"], clock.load(Ordering::Relaxed));
    node.med.submit_batch(fresh, true).unwrap();
    assert_eq!(
        node.med.status().unwrap().pending_batches,
        1,
        "the stale one left"
    );
}

/// Review R6: one hospital cannot fill the pool — sealing overlapping subsets of its
/// releases makes as many valid batches as it likes, at most one of which is ever mined.
/// Past its share it is refused 503 `med_pool_quota` (naming it) before any pairing, from a
/// peer as from the API, while the pool still has room for the other hospitals.
#[tokio::test]
async fn a_hospital_fills_at_most_its_share_of_the_pool() {
    use medchain_node::med::pool::{MAX_HOSPITAL_BATCHES, MAX_POOL_BATCHES};
    let node = node();
    for n in 0..MAX_HOSPITAL_BATCHES {
        let (batch, _) = node.batch(&[format!("EMR {n}").as_bytes()]);
        node.med.submit_batch(batch, false).unwrap();
    }
    const { assert!(MAX_HOSPITAL_BATCHES < MAX_POOL_BATCHES) };
    let (one_more, _) = node.batch(&[b"one more"]);
    let checks = node.med.aggregate_checks();
    assert!(matches!(
        node.med.submit_batch(one_more.clone(), false),
        Err(BatchRefused::HospitalQuota(quota)) if quota.hospital == node.desk.actor.address
    ));
    let (status, body) = node
        .call("POST", "/v1/med/batches", Some(json(&one_more)))
        .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "med_pool_quota"),
        "{body}"
    );
    assert!(
        body.to_string()
            .contains(&node.desk.actor.address.to_string()),
        "{body}"
    );
    assert_eq!(
        node.med.aggregate_checks(),
        checks,
        "refused before pairing"
    );
    assert_eq!(
        node.med.status().unwrap().pending_batches,
        MAX_HOSPITAL_BATCHES as u64
    );
}

/// Review R16: SUP builds on notarized blocks before they are finalized. A block on a parent
/// that checkpointed Mblocks SUP has not finalized yet checkpoints the Mblocks after the
/// parent's checkpoint — not a branch from the finalized one, which would no longer apply on
/// the parent's state (back-to-back blocks could not both checkpoint) — and a voter knows it.
#[tokio::test]
async fn a_sup_block_checkpoints_from_its_parents_checkpoint() {
    let clock = Arc::new(AtomicU64::new(NOW_MS));
    let node = node_with_clock(clock.clone());
    let first = node.mine();
    clock.fetch_add(MIN_CHECKPOINT_AGE_MS, Ordering::Relaxed);
    let finalized = node
        .chain
        .store()
        .block_by_height(node.chain.committed_height())
        .unwrap()
        .unwrap();
    // SUP blocks stamped by the same clock as the Mblocks (SUP refuses Mblocks stamped ahead
    // of its block's time).
    let build = |parent: &medchain_types::Block| {
        let now_ms = clock.load(Ordering::Relaxed);
        node.chain
            .build(parent, now_ms, parent.header().proposer)
            .unwrap()
    };
    let notarized = build(&finalized);
    assert_eq!(notarized.checkpoint().hashes(), [first.hash()]);

    let second = node.mine();
    clock.fetch_add(MIN_CHECKPOINT_AGE_MS, Ordering::Relaxed);
    let next = build(&notarized);
    assert_eq!(
        next.checkpoint().hashes(),
        [second.hash()],
        "from where the notarized parent's checkpoint ends"
    );
    assert!(node.chain.knows_checkpoint(&next));
    node.chain
        .verify(&mut commonware_utils::test_rng(), &next, &notarized)
        .unwrap();
}

/// Review R13: a peer's Mblock is judged at its own timestamp, not at this node's clock: a
/// node receiving it after a licence of its doctors expired (a lagging node, one catching up)
/// accepts it like the nodes that verified it in time, instead of splitting from them.
#[tokio::test]
async fn an_mblock_is_judged_at_its_timestamp_not_at_the_receivers_clock() {
    let clock = Arc::new(AtomicU64::new(NOW_MS));
    let node = node_with_clock(clock.clone());
    let ten_minutes = 10 * 60 * 1_000;
    served::commit(
        &node.chain,
        &[node.desk.actor.sign(
            4,
            testkit::renew_licence(&doctor_identity(&node.doctor), NOW_MS + ten_minutes),
        )],
    );
    let (batch, records) = node.batch(&[b"EMR 1"]);
    let genesis = node.med.headers(0, 1).remove(0);
    let block = Node::peer_block(
        &[&genesis],
        MblockBody {
            batches: vec![batch.batch.clone()],
            signature: Some(batch.signature),
        },
        8,
        NOW_MS,
    );
    clock.fetch_add(2 * ten_minutes, Ordering::Relaxed);
    assert!(
        matches!(
            node.med.submit_batch(batch, true),
            Err(BatchRefused::Aggregate(_))
        ),
        "a new batch is judged now: the licence has expired"
    );
    assert!(matches!(
        node.med.accept_block(block),
        Ok(Accepted::Inserted { new_best: true, .. })
    ));
    assert!(node.med.record(&records[0]).unwrap().is_some());
}

#[tokio::test]
async fn read_routes_validate_their_parameters() {
    let node = node();
    for (path, status, code) in [
        (
            "/v1/med/headers?limit=0",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/med/headers?limit=2001",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/med/blocks/nothex",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/v1/med/blocks/0000000000000000000000000000000000000000000000000000000000000000",
            StatusCode::NOT_FOUND,
            "unknown_mblock",
        ),
        ("/v1/med/records/12", StatusCode::BAD_REQUEST, "bad_request"),
    ] {
        let (got, body) = node.call("GET", path, None).await;
        assert_eq!(
            (got, error_code(&body).as_str()),
            (status, code),
            "{path}: {body}"
        );
    }
    let (got, body) = node.call("GET", "/v1/med/headers", None).await;
    assert_eq!(got, StatusCode::OK);
    let headers: Vec<MblockHeader> = serde_json::from_value(body).unwrap();
    assert_eq!(headers.len(), 1, "only the genesis Mblock");
    assert_eq!(headers[0].height, 0);
}

#[tokio::test]
async fn a_chain_without_med_says_so() {
    let chain = served::fresh_chain();
    let router = api::router(api_state(chain, fixtures::genesis()));
    for (method, path) in [
        ("GET", "/v1/med/status"),
        ("GET", "/v1/med/headers"),
        ("POST", "/v1/med/batches"),
    ] {
        let (got, body) = call(&router, method, path, Some(serde_json::json!({}))).await;
        assert_eq!(got, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(&body), "no_med_chain");
    }
}

impl Node {
    /// `patient` enrols as a patient and registers its key (S3-entry).
    fn keyed_patient(&self, patient: &Actor) {
        served::commit(
            &self.chain,
            &[patient.sign(0, testkit::enrol_patient(patient))],
        );
        served::commit(
            &self.chain,
            &[patient.sign(1, testkit::set_vouching_key(patient))],
        );
    }

    /// `patient`'s entry `bytes`, signed by it, issued at `issued_at_ms`.
    fn signed_entry(patient: &Actor, bytes: &[u8], issued_at_ms: u64) -> SignedEntry {
        let entry = EntryMr {
            patient: patient.address,
            entry: EntryBytes(bytes.to_vec()),
            issued_at_ms,
        };
        SignedEntry {
            signature: aggregate::sign_entry(
                &testkit::chain_id(),
                &vouching_key_from(&patient.key),
                &entry,
            ),
            entry,
        }
    }

    /// A batch of `entries` alone, sealed by the desk without checking them (as a careless
    /// or hostile hospital would): the node's checks are the ones under test.
    fn entries_batch(&self, entries: &[SignedEntry]) -> SignedBatch {
        let chain_id = testkit::chain_id();
        let batch = medchain_types::med::HospitalBatch {
            hospital: self.desk.actor.address,
            txs: Vec::new(),
            entries: entries.iter().map(|signed| signed.entry.clone()).collect(),
        };
        let hospital = vouching_key_from(&self.desk.actor.key)
            .sign_med(&aggregate::batch_message(&chain_id, &batch.root(&chain_id)));
        let signatures: Vec<BlsSignature> = entries
            .iter()
            .map(|signed| signed.signature)
            .chain([hospital])
            .collect();
        SignedBatch {
            batch,
            signature: summed(&signatures),
        }
    }

    async fn entry_status(&self, entry: &EntryMr) -> (StatusCode, Value) {
        let id = entry.entry_id(&testkit::chain_id());
        self.call("GET", &format!("/v1/med/entries/{id}"), None)
            .await
    }
}

/// The sum of BLS signatures (a batch aggregate built by hand).
fn summed(signatures: &[BlsSignature]) -> BlsSignature {
    let (first, rest) = signatures.split_first().expect("one signature at least");
    rest.iter().fold(*first, |sum, next| {
        medchain_types::emergency::aggregate(&sum, next).expect("valid signatures")
    })
}

/// S3-entry: a batch of patients' entries is accepted, reported pending, mined and reported
/// in its Mblock; an entry of a patient SUP does not know, a forged patient signature, a
/// stale entry and an empty batch are refused with typed errors before they reach the pool.
#[tokio::test]
async fn entries_are_pooled_mined_and_followed_and_bad_ones_refused() {
    let node = node();
    let patient = Actor::new(60);
    node.keyed_patient(&patient);
    let entries = [
        Node::signed_entry(&patient, b"EEE one", NOW_MS),
        Node::signed_entry(&patient, b"EEE two", NOW_MS),
    ];
    let batch = node.entries_batch(&entries);
    let (status, body) = node
        .call("POST", "/v1/med/batches", Some(json(&batch)))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (code, body) = node.entry_status(&entries[1].entry).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let view: MedEntryView = serde_json::from_value(body).unwrap();
    assert_eq!(view.status, MedEntryStatus::Pending);
    assert_eq!(view.mblock, None);

    let header = node.mine();
    let (_, body) = node.entry_status(&entries[1].entry).await;
    let view: MedEntryView = serde_json::from_value(body).unwrap();
    assert_eq!(view.status, MedEntryStatus::Mined);
    let mblock = view.mblock.unwrap();
    assert_eq!(
        (mblock.hash, mblock.height),
        (hex::encode(header.hash()), 1)
    );
    assert_eq!(view.filed_at, None);
    let block = node.med.block(&header.hash()).unwrap().unwrap();
    assert_eq!(block.body.entries().count(), 2);
    assert_eq!(node.med.status().unwrap().pending_batches, 0);
    // The same entries again: already on MED.
    let (code, body) = node
        .call("POST", "/v1/med/batches", Some(json(&batch)))
        .await;
    assert_eq!(
        (code, error_code(&body).as_str()),
        (StatusCode::CONFLICT, "entry_on_med")
    );

    let stranger = Actor::new(61);
    let unknown = node.entries_batch(&[Node::signed_entry(&stranger, b"EEE", NOW_MS)]);
    // The patient's entry signed by the hospital's key instead.
    let mut forged_entry = Node::signed_entry(&patient, b"EEE forged", NOW_MS);
    forged_entry.signature = aggregate::sign_entry(
        &testkit::chain_id(),
        &vouching_key_from(&node.desk.actor.key),
        &forged_entry.entry,
    );
    let forged = node.entries_batch(&[forged_entry.clone()]);
    let two_hours = 2 * 60 * 60 * 1_000;
    let stale = node.entries_batch(&[Node::signed_entry(&patient, b"EEE old", NOW_MS - two_hours)]);
    let mut empty = stale.clone();
    empty.batch.entries.clear();
    for (bad, status, code) in [
        (
            json(&unknown),
            StatusCode::UNPROCESSABLE_ENTITY,
            "signer_refused",
        ),
        (
            json(&forged),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_signature",
        ),
        (
            json(&stale),
            StatusCode::UNPROCESSABLE_ENTITY,
            "stale_entry",
        ),
        (json(&empty), StatusCode::BAD_REQUEST, "bad_batch_size"),
    ] {
        let (got, body) = node.call("POST", "/v1/med/batches", Some(bad)).await;
        assert_eq!((got, error_code(&body).as_str()), (status, code), "{body}");
    }
    assert_eq!(node.med.status().unwrap().pending_batches, 0);
    let (code, body) = node.entry_status(&forged_entry.entry).await;
    assert_eq!(
        (code, error_code(&body).as_str()),
        (StatusCode::NOT_FOUND, "not_on_med")
    );
    let (code, _) = node.call("GET", "/v1/med/entries/not-hex", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}
