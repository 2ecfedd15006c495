//! The HTTP API against a real chain (in-memory store, genesis committed): every malformed
//! input gets a JSON 4xx error with a hint and changes nothing; valid input is accepted;
//! state answers carry proofs that verify. No input panics a handler.

mod router;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use commonware_codec::Encode;
use commonware_runtime::Runner as _;
use http_body_util::BodyExt as _;
use medchain_api::{ErrorBody, ProvenView, StatusView, SubmitResponse, TxStatusView};
use medchain_node::{
    api::{self, ApiState},
    chain::Chain,
    enrolment::{Enrolment, nonces::NonceLimits},
    mempool::Mempool,
    metrics::NodeMetrics,
    pkg::ShareStore,
};
use medchain_state::testkit::{self, Actor};
use medchain_storage::Store;
use medchain_types::{ChainId, OrgKind, Transaction};
use proptest::prelude::*;
use router::{call, error_code};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt as _;

fn node() -> (Router, Arc<Chain>) {
    let (state, chain) = node_state();
    (api::router(state), chain)
}

fn node_state() -> (ApiState, Arc<Chain>) {
    let genesis = testkit::genesis_document();
    let chain = Arc::new(
        Chain::open(
            Store::in_memory().unwrap(),
            &genesis,
            Mempool::default(),
            100,
        )
        .unwrap(),
    );
    let metrics = commonware_runtime::deterministic::Runner::default()
        .start(|context| async move { NodeMetrics::register(&context) });
    let state = ApiState::new(
        Box::new(|| "medchain_finalized_height 0\n".to_string()),
        chain.clone(),
        genesis,
        metrics,
        no_share_enrolment(),
    );
    (state, chain)
}

/// The enrolment service of a node whose key generation has not run (no share).
fn no_share_enrolment() -> Enrolment {
    let dir = std::env::temp_dir().join("medchain-api-test-no-share");
    Enrolment::new(
        ShareStore::open(&dir).unwrap(),
        testkit::address(99),
        NonceLimits::default(),
    )
}

fn submit_body(tx: &Transaction) -> Value {
    serde_json::json!({ "tx": hex::encode(tx.encode()) })
}

#[tokio::test]
async fn malformed_transactions_are_refused_with_json_errors() {
    let (router, chain) = node();
    let cases = [
        (
            serde_json::json!({ "tx": "zz" }),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            serde_json::json!({ "tx": "00ff00" }),
            StatusCode::BAD_REQUEST,
            "malformed_transaction",
        ),
        (
            serde_json::json!({ "tx": "aa".repeat(5_000) }),
            StatusCode::BAD_REQUEST,
            "malformed_transaction",
        ),
    ];
    for (body, status, code) in cases {
        let (got, json) = call(&router, "POST", "/v1/transactions", Some(body)).await;
        assert_eq!(got, status, "{json}");
        assert_eq!(error_code(&json), code);
    }
    // Not JSON of the expected shape at all: still a JSON error.
    let (got, json) = call(
        &router,
        "POST",
        "/v1/transactions",
        Some(serde_json::json!([1, 2])),
    )
    .await;
    assert!(got.is_client_error());
    assert_eq!(error_code(&json), "bad_request");
    assert!(
        chain.mempool().is_empty(),
        "a refused transaction reached the mempool"
    );
}

#[tokio::test]
async fn forged_replayed_and_rejected_transactions_change_nothing() {
    let (router, chain) = node();
    let doctor = Actor::new(10);
    let register = testkit::register(&testkit::org_name("General Hospital"), OrgKind::Hospital);

    let other_chain = doctor.sign_for(
        &ChainId::new("medchain-other").unwrap(),
        0,
        register.clone(),
    );
    let (status, json) = call(
        &router,
        "POST",
        "/v1/transactions",
        Some(submit_body(other_chain.tx())),
    )
    .await;
    assert_eq!(
        (status, error_code(&json).as_str()),
        (StatusCode::BAD_REQUEST, "wrong_chain")
    );

    let mut forged = doctor.sign(0, register.clone()).tx().clone();
    forged.body.nonce = 1;
    let (status, json) = call(
        &router,
        "POST",
        "/v1/transactions",
        Some(submit_body(&forged)),
    )
    .await;
    assert_eq!(
        (status, error_code(&json).as_str()),
        (StatusCode::BAD_REQUEST, "bad_signature")
    );

    // The regulator may not register an organisation (S2-register): refused at admission.
    let regulator = Actor::new(testkit::REGULATOR_SEED);
    let by_regulator = regulator.sign(0, register.clone());
    let (status, json) = call(
        &router,
        "POST",
        "/v1/transactions",
        Some(submit_body(by_regulator.tx())),
    )
    .await;
    assert_eq!(
        (status, error_code(&json).as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "rejected")
    );

    let far = doctor.sign(5_000, register.clone());
    let (status, json) = call(
        &router,
        "POST",
        "/v1/transactions",
        Some(submit_body(far.tx())),
    )
    .await;
    assert_eq!(
        (status, error_code(&json).as_str()),
        (StatusCode::CONFLICT, "nonce_conflict")
    );
    assert!(chain.mempool().is_empty());

    // A valid transaction is accepted once; submitting it again is idempotent.
    let valid = doctor.sign(0, register);
    for _ in 0..2 {
        let (status, json) = call(
            &router,
            "POST",
            "/v1/transactions",
            Some(submit_body(valid.tx())),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let accepted: SubmitResponse = serde_json::from_value(json).unwrap();
        assert_eq!(accepted.id, valid.id());
    }
    assert_eq!(chain.mempool().len(), 1);
    let (status, json) = call(
        &router,
        "GET",
        &format!("/v1/transactions/{}", valid.id()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let tx_status: TxStatusView = serde_json::from_value(json).unwrap();
    assert_eq!(tx_status.status, medchain_api::TxState::Pending);
}

async fn tx_status(router: &Router, id: &medchain_types::TxId) -> TxStatusView {
    let (status, json) = call(router, "GET", &format!("/v1/transactions/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_value(json).unwrap()
}

/// Issue 7 §1–3: a gapped transaction is accepted as `queued`; of two registrations of one
/// name racing into a block, the loser is reported `dropped` with the state machine's reason
/// (not silently forgotten), and the winner's receipt comes with a proof against the block's
/// receipts root.
#[tokio::test]
async fn queued_dropped_and_finalized_transactions_are_reported() {
    use commonware_codec::Decode as _;
    let (router, chain) = node();
    let (first, second, gapped) = (Actor::new(10), Actor::new(11), Actor::new(12));
    let name = testkit::org_name("Same Name");

    let later = gapped.sign(2, testkit::register(&name, OrgKind::Hospital));
    let (status, json) = call(
        &router,
        "POST",
        "/v1/transactions",
        Some(submit_body(later.tx())),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let accepted: SubmitResponse = serde_json::from_value(json).unwrap();
    assert_eq!(
        (accepted.status, accepted.waiting_for),
        (medchain_api::TxState::Queued, Some(0))
    );
    assert_eq!(tx_status(&router, &later.id()).await.waiting_for, Some(0));

    let winner = first.sign(0, testkit::register(&name, OrgKind::Hospital));
    let loser = second.sign(0, testkit::register(&name, OrgKind::Hospital));
    for tx in [&winner, &loser] {
        let (status, _) = call(
            &router,
            "POST",
            "/v1/transactions",
            Some(submit_body(tx.tx())),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let genesis = chain.genesis_block().clone();
    let block = chain
        .build(&genesis, 1_700_000_001_000, first.address)
        .unwrap();
    chain
        .finalize(&mut commonware_utils::test_rng(), &block, None)
        .unwrap();

    let dropped = tx_status(&router, &loser.id()).await;
    assert_eq!(dropped.status, medchain_api::TxState::Dropped);
    let reason = dropped.dropped.expect("a drop reason");
    assert_eq!(
        (reason.reason.as_str(), reason.error.as_deref()),
        ("failed", Some("org_exists"))
    );

    let finalized = tx_status(&router, &winner.id()).await;
    assert_eq!(finalized.status, medchain_api::TxState::Finalized);
    let receipt = finalized.receipt.unwrap();
    let proof = medchain_types::ReceiptProof::decode_cfg(
        commonware_codec::Copying(
            hex::decode(finalized.receipt_proof.unwrap())
                .unwrap()
                .as_slice(),
        ),
        &medchain_types::RECEIPT_PROOF_ITEMS,
    )
    .unwrap();
    let root = block.header().receipts_root;
    assert!(
        proof
            .verify_element_inclusion::<commonware_cryptography::Sha256>(
                &receipt.leaf(),
                receipt.index,
                &root
            )
            .is_ok()
    );
    let mut forged = receipt.clone();
    forged.events.clear();
    assert!(
        proof
            .verify_element_inclusion::<commonware_cryptography::Sha256>(
                &forged.leaf(),
                forged.index,
                &root
            )
            .is_err(),
        "a changed receipt must not verify"
    );
}

#[tokio::test]
async fn batches_report_each_transaction() {
    let (router, _) = node();
    let doctor = Actor::new(10);
    let valid = doctor.sign(
        0,
        testkit::register(&testkit::org_name("A"), OrgKind::Hospital),
    );
    let body = serde_json::json!({ "txs": [hex::encode(valid.tx().encode()), "nothex"] });
    let (status, json) = call(&router, "POST", "/v1/transactions/batch", Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let results = json["results"].as_array().unwrap();
    assert_eq!(results[0]["id"], valid.id().to_string());
    assert_eq!(results[1]["error"]["error"], "bad_request");
}

#[tokio::test]
async fn queries_validate_parameters_and_prove_answers() {
    let (router, _) = node();
    for (path, status) in [
        ("/v1/transactions/zz", StatusCode::BAD_REQUEST),
        ("/v1/blocks/abc", StatusCode::BAD_REQUEST),
        ("/v1/blocks/99", StatusCode::NOT_FOUND),
        ("/v1/blocks/by-digest/12", StatusCode::BAD_REQUEST),
        ("/v1/state/accounts/1234", StatusCode::BAD_REQUEST),
        ("/v1/state/orgs/bad%0Aname", StatusCode::BAD_REQUEST),
        ("/v1/state/grants/00/00/treatment", StatusCode::BAD_REQUEST),
        ("/v1/access-log/xyz", StatusCode::BAD_REQUEST),
        ("/v1/lists/records/xyz", StatusCode::BAD_REQUEST),
        ("/v1/lists/orgs?limit=101", StatusCode::BAD_REQUEST),
        ("/v1/lists/orgs?from=-1", StatusCode::BAD_REQUEST),
        ("/v1/lists/licences?limit=101", StatusCode::BAD_REQUEST),
        ("/v1/lists/grantee-consents/xyz", StatusCode::BAD_REQUEST),
        ("/v1/ids/record/abc", StatusCode::BAD_REQUEST),
        ("/v1/ids/record/xyz1", StatusCode::BAD_REQUEST),
        ("/v1/ids/records/abcd", StatusCode::BAD_REQUEST),
    ] {
        let (got, json) = call(&router, "GET", path, None).await;
        assert_eq!(got, status, "{path}: {json}");
        error_code(&json);
    }

    let (status, json) = call(&router, "GET", "/v1/status", None).await;
    assert_eq!(status, StatusCode::OK);
    let chain_status: StatusView = serde_json::from_value(json).unwrap();
    assert_eq!(chain_status.height, 0);

    // An organisation that does not exist: absence is proven against block 0's state root.
    let (status, json) = call(&router, "GET", "/v1/state/orgs/Nowhere%20Clinic", None).await;
    assert_eq!(status, StatusCode::OK);
    let proven: ProvenView = serde_json::from_value(json).unwrap();
    assert!(proven.value.is_none());
    assert_eq!(
        proven.proven.state_root.to_string(),
        proven.header.state_root
    );
    proven.proven.verify().unwrap();
    let key = medchain_state::keys::org(&testkit::org_name("Nowhere Clinic"));
    let root = proven.proven.state_root;
    assert!(proven.proven.verified_value(&root, &key).unwrap().is_none());
}

/// The MED chain as SUP checkpointed it (issue 13, S3-supervise): the tip and the headers are
/// proven like every state read, at the paths the client's queries name, and absent before a
/// checkpoint; a malformed hash is a 400.
#[tokio::test]
async fn med_checkpoint_reads_are_proven_at_the_clients_paths() {
    use medchain_client::StateQuery;
    let (router, _) = node();
    let hash = medchain_types::ContentHash::of(b"an Mblock").0;
    let tip = StateQuery::med_tip();
    let header = StateQuery::med_header(&hash);
    for (path, key) in [
        (tip.path(), tip.key().as_bytes()),
        (header.path(), header.key().as_bytes()),
    ] {
        let (status, json) = call(&router, "GET", path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {json}");
        let proven: ProvenView = serde_json::from_value(json).unwrap();
        assert!(proven.value.is_none(), "{path}: nothing checkpointed yet");
        assert_eq!(proven.proven.key, key, "{path} proves another key");
        proven.proven.verify().unwrap();
    }
    let (status, json) = call(&router, "GET", "/v1/state/med/headers/xyz", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    error_code(&json);
}

/// Token and staking routes (issue 11): bad parameters are 400 with a hint, an epoch this node
/// cannot prove a transition for is 404, and answers carry proofs of the asked key.
#[tokio::test]
async fn token_and_staking_routes_validate_parameters() {
    let (router, _) = node();
    let address = testkit::address(1);
    let id = "ab".repeat(32);
    for (path, status) in [
        ("/v1/state/held/xyz".to_string(), StatusCode::BAD_REQUEST),
        ("/v1/state/outputs/abc".into(), StatusCode::BAD_REQUEST),
        (format!("/v1/state/outputs/{id}"), StatusCode::BAD_REQUEST),
        (
            format!("/v1/state/outputs/{id}:70000"),
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/state/escrows/zz".into(), StatusCode::BAD_REQUEST),
        ("/v1/state/candidates/1234".into(), StatusCode::BAD_REQUEST),
        (
            "/v1/state/delegations/xx/yy".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/state/unbonding/{address}/zz"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/state/validator-sets/-1".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/state/validator-sets/abc".into(),
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/epochs/abc/transition".into(), StatusCode::BAD_REQUEST),
        ("/v1/lists/outputs/xyz".into(), StatusCode::BAD_REQUEST),
        (
            "/v1/lists/token-history/xyz".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/lists/candidates?limit=101".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/state/held/{address}?height=99"),
            StatusCode::NOT_FOUND,
        ),
        // A chain without tokens has one epoch, which never ends.
        ("/v1/epochs/0/transition".into(), StatusCode::NOT_FOUND),
        ("/v1/epochs/7/transition".into(), StatusCode::NOT_FOUND),
        (
            format!("/v1/epochs/{}/transition", u64::MAX),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (got, json) = call(&router, "GET", &path, None).await;
        assert_eq!(got, status, "{path}: {json}");
        error_code(&json);
    }
    // Absent values are proven absent against block 0, for the key asked about.
    let outpoint = format!("{id}:3");
    for (path, key) in [
        (
            format!("/v1/state/held/{address}"),
            medchain_state::keys::held(&address).as_bytes().to_vec(),
        ),
        (
            format!("/v1/state/outputs/{outpoint}"),
            medchain_state::keys::output(&outpoint.parse().unwrap())
                .as_bytes()
                .to_vec(),
        ),
        (
            format!("/v1/state/delegations/{address}/{}", testkit::address(2)),
            medchain_state::keys::delegation(&address, &testkit::address(2))
                .as_bytes()
                .to_vec(),
        ),
    ] {
        let (status, json) = call(&router, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {json}");
        let proven: ProvenView = serde_json::from_value(json).unwrap();
        assert!(proven.value.is_none(), "{path}");
        assert_eq!(proven.proven.key, key, "{path}");
        proven.proven.verify().unwrap();
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let (router, _) = node();
    let (status, json) = call(&router, "GET", "/v1/nothing-here", None).await;
    assert_eq!(
        (status, error_code(&json).as_str()),
        (StatusCode::NOT_FOUND, "no_such_route")
    );
    let (status, json) = call(&router, "DELETE", "/v1/transactions", None).await;
    assert_eq!(
        (status, error_code(&json).as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let (status, json) = call(&router, "GET", "/v1/access-log/00?from=abc", None).await;
    assert_eq!(
        (status, error_code(&json).as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
}

#[tokio::test]
async fn openapi_and_metrics_are_served() {
    let (router, _) = node();
    let (status, json) = call(&router, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = json["paths"].as_object().unwrap();
    for path in [
        "/v1/transactions",
        "/v1/status",
        "/v1/state/consents/{id}",
        "/v1/access-log/{patient}",
        "/v1/lists/records/{patient}",
        "/v1/lists/consents/{patient}",
        "/v1/lists/members/{name}",
        "/v1/lists/orgs",
        "/v1/lists/licences",
        "/v1/lists/emergencies",
        "/v1/lists/grantee-consents/{address}",
        "/v1/ids/{kind}/{prefix}",
        "/v1/state/held/{address}",
        "/v1/state/outputs/{outpoint}",
        "/v1/state/escrows/{id}",
        "/v1/state/candidates/{address}",
        "/v1/state/delegations/{candidate}/{delegator}",
        "/v1/state/unbonding/{candidate}/{delegator}",
        "/v1/state/validator-sets/{epoch}",
        "/v1/lists/outputs/{address}",
        "/v1/lists/token-history/{address}",
        "/v1/lists/candidates",
        "/v1/epochs/{epoch}/transition",
        "/v1/state/research/circuits/{digest}",
        "/v1/state/research/nullifier-keys/{address}",
        "/v1/state/research/attestations/{record}",
        "/v1/state/research/accumulator",
        "/v1/state/research/roots/{root}",
        "/v1/state/research/proxies/{address}",
        "/v1/state/research/studies/{id}",
        "/v1/state/research/enrolments/{id}",
        "/v1/state/research/study-nullifiers/{study}/{nullifier}",
        "/v1/state/research/exclusivity/{nullifier}",
        "/v1/lists/studies",
        "/v1/lists/attested-commitments",
        "/v1/lists/study-enrolments/{study}",
        "/v1/lists/reencryptions/{enrolment}",
        "/v1/state/med/tip",
        "/v1/state/med/headers/{hash}",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    // The document is precise enough to generate clients and fuzz against: every hex id carries
    // its pattern, and every operation that takes input documents its 400.
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for parameter in &parameters {
                if parameter["description"].as_str().unwrap().contains("(hex)") {
                    assert_eq!(
                        parameter["schema"]["pattern"], "^[0-9a-fA-F]{64}$",
                        "{method} {path}: {parameter}"
                    );
                }
            }
            if !parameters.is_empty() || operation.get("requestBody").is_some() {
                assert!(
                    operation["responses"].get("400").is_some(),
                    "{method} {path} does not document 400"
                );
            }
        }
    }
    let (status, body) = call(&router, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap().contains("finalized_height"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary path segments and bodies never crash a handler or produce a 5xx.
    #[test]
    fn arbitrary_requests_never_panic(
        segment in "[a-zA-Z0-9%._~-]{0,80}",
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (router, _) = node();
            for route in ["/v1/transactions/", "/v1/blocks/", "/v1/state/orgs/", "/v1/state/records/", "/v1/access-log/", "/v1/lists/records/", "/v1/lists/members/", "/v1/ids/tx/"] {
                let (status, _) = call(&router, "GET", &format!("{route}{segment}"), None).await;
                assert!(!status.is_server_error(), "{route}{segment} -> {status}");
            }
            let request = Request::builder()
                .method("POST")
                .uri("/v1/transactions")
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            assert!(status.is_client_error(), "POST garbage -> {status}");
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let body: ErrorBody = serde_json::from_slice(&bytes).expect("a JSON error body");
            assert!(!body.hint.is_empty());
        });
    }
}

/// Every rejection by the state machine carries its own next step, not one generic hint.
#[tokio::test]
async fn each_rejection_says_what_to_do_about_it() {
    let (router, _) = node();
    let regulator = Actor::new(testkit::REGULATOR_SEED);
    let doctor = Actor::new(10);
    let name = testkit::org_name("General Hospital");
    let cases = [
        // S2-register: the regulator may not register.
        regulator.sign(0, testkit::register(&name, OrgKind::Hospital)),
        // S2-state: only the regulator changes states (and this one does not exist).
        doctor.sign(
            0,
            medchain_types::Payload::Registry(medchain_types::RegistryPayload::SetState {
                name: name.clone(),
                state: medchain_types::OrgState::Audited,
            }),
        ),
    ];
    let mut hints = Vec::new();
    for tx in &cases {
        let (status, json) = call(
            &router,
            "POST",
            "/v1/transactions",
            Some(submit_body(tx.tx())),
        )
        .await;
        assert_eq!(
            (status, error_code(&json).as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "rejected")
        );
        let hint = json["hint"].as_str().unwrap().to_string();
        assert!(
            !hint.contains("fix its content"),
            "the generic hint: {hint}"
        );
        hints.push(hint);
    }
    assert!(hints[0].contains("first member"), "{}", hints[0]);
    assert!(hints[1].contains("regulator's key"), "{}", hints[1]);
}

/// A transaction whose organisation name is not ASCII is refused in words, not as the
/// codec's "Wrapped Error: Context(…)".
#[tokio::test]
async fn a_non_ascii_org_name_is_refused_with_a_readable_message() {
    let (router, chain) = node();
    let tx = Actor::new(10).sign(
        0,
        testkit::register(&testkit::org_name("Seoul General"), OrgKind::Hospital),
    );
    let mut bytes = tx.tx().encode().to_vec();
    let at = bytes
        .windows(2)
        .position(|pair| pair == b"Se")
        .expect("the name in the encoding");
    bytes[at..at + 2].copy_from_slice("é".as_bytes()); // same length: "éoul General"
    let body = serde_json::json!({ "tx": hex::encode(bytes) });
    let (status, json) = call(&router, "POST", "/v1/transactions", Some(body)).await;
    assert_eq!(
        (status, error_code(&json).as_str()),
        (StatusCode::BAD_REQUEST, "malformed_transaction")
    );
    let message = json["message"].as_str().unwrap();
    assert!(!message.contains("Wrapped"), "{message}");
    assert!(
        message.contains("may only contain") && message.contains('é'),
        "{message}"
    );
    assert!(chain.mempool().is_empty());
}

/// Error messages repeat at most a bounded part of the input, with its length.
#[tokio::test]
async fn errors_never_echo_a_large_input_back_whole() {
    let (router, _) = node();
    let huge = "x".repeat(10_000);
    let (status, json) = call(&router, "GET", &format!("/v1/state/orgs/{huge}"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = json["message"].as_str().unwrap();
    assert!(message.len() < 300, "{} bytes: {message}", message.len());
    assert!(
        message.contains("(10000 bytes)") && message.contains("got 10000"),
        "{message}"
    );
    // Messages written by serde or axum are bounded too.
    let body = serde_json::json!({ "txs": huge });
    let (status, json) = call(&router, "POST", "/v1/transactions/batch", Some(body)).await;
    assert!(status.is_client_error());
    let message = json["message"].as_str().unwrap();
    assert!(
        message.chars().count() <= medchain_api::MAX_MESSAGE_CHARS,
        "{} characters: {message}",
        message.chars().count()
    );
}

/// The OpenAPI document states exactly what the server accepts: u64 bounds on heights and
/// sequence numbers (the server takes all of u64 and refuses one more), and the shape of a
/// submitted transaction.
#[tokio::test]
async fn the_openapi_document_states_the_bounds_the_server_enforces() {
    let (router, _) = node();
    let (_, document) = call(&router, "GET", "/openapi.json", None).await;
    let parameter = |path: &str, name: &str| {
        document["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} has no parameter {name}"))["schema"]
            .clone()
    };
    for (path, name) in [
        ("/v1/blocks/{height}", "height"),
        ("/v1/state/access-log/{patient}/{seq}", "seq"),
        ("/v1/access-log/{patient}", "from"),
        ("/v1/access-log/{patient}", "limit"),
        ("/v1/state/identities/{name}", "height"),
        ("/v1/state/identities/by-address/{address}", "height"),
        ("/v1/state/licences/{doctor}", "height"),
        ("/v1/state/revocations/{doctor}", "height"),
        ("/v1/state/entries/{id}", "height"),
        ("/v1/state/vouching-keys/{address}", "height"),
        ("/v1/state/emergencies/{id}", "height"),
    ] {
        let schema = parameter(path, name);
        assert_eq!(schema["minimum"], 0, "{path} {name}: {schema}");
        assert_eq!(schema["maximum"], u64::MAX, "{path} {name}: {schema}");
        assert_eq!(schema["format"], "uint64", "{path} {name}: {schema}");
    }
    let patient = Actor::new(3).address;
    for (path, status) in [
        (
            format!("/v1/state/access-log/{patient}/{}", u64::MAX),
            StatusCode::OK,
        ),
        (
            format!("/v1/state/access-log/{patient}/18446744073709551616"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(
                "/v1/access-log/{patient}?from={}&limit={}",
                u64::MAX,
                u64::MAX
            ),
            StatusCode::OK,
        ),
        (
            format!("/v1/access-log/{patient}?from=18446744073709551616"),
            StatusCode::BAD_REQUEST,
        ),
        (format!("/v1/blocks/{}", u64::MAX), StatusCode::NOT_FOUND),
        (
            "/v1/blocks/18446744073709551616".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/access-log/{patient}?limit=-1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/state/revocations/dr-kim?height={}", u64::MAX),
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/state/revocations/dr-kim?height=18446744073709551616".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/state/revocations/dr-kim?height=0".to_string(),
            StatusCode::OK,
        ),
    ] {
        let (got, json) = call(&router, "GET", &path, None).await;
        assert_eq!(got, status, "{path}: {json}");
    }

    let schemas = &document["components"]["schemas"];
    let tx = &schemas["SubmitRequest"]["properties"]["tx"];
    assert_eq!(tx["minLength"], 2, "{tx}");
    assert_eq!(
        tx["maxLength"],
        2 * medchain_types::limits::MAX_TX_BYTES,
        "{tx}"
    );
    assert_eq!(tx["pattern"], "^([0-9a-fA-F]{2})+$", "{tx}");
    assert_eq!(
        schemas["BatchRequest"]["properties"]["txs"]["maxItems"], 1024,
        "the server's batch limit"
    );
    // `{"tx": ""}` is outside the schema, and refused as documented.
    let (status, json) = call(
        &router,
        "POST",
        "/v1/transactions",
        Some(serde_json::json!({ "tx": "" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        document["paths"]["/v1/transactions"]["post"]["responses"]
            .get("400")
            .is_some()
    );
}

/// The newest certified block, the height a light client compares answers with.
#[tokio::test]
async fn the_latest_certified_block_is_served() {
    let (router, _) = node();
    let (status, json) = call(&router, "GET", "/v1/blocks/latest", None).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let block: medchain_api::BlockView = serde_json::from_value(json).unwrap();
    assert_eq!(block.header.height, 0);
}

/// A URL over hyper's 64 KiB limit never reaches the router; its answer still carries the
/// API's JSON error body (through a real socket, as clients see it).
#[test]
fn a_hundred_kilobyte_url_gets_a_json_error_body() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    // The server runs for the rest of the test process.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            api::serve(listener, node_state().0).await;
        });
    });

    let mut answer = Vec::new();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let path = format!("/v1/state/orgs/{}", "a".repeat(100_000));
    write!(stream, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 414 "), "{head}");
    assert!(head.contains("application/json"), "{head}");
    let body: ErrorBody = serde_json::from_str(body).expect("a JSON error body");
    assert_eq!(body.error, "uri_too_long");
}

/// A patient's round-1 request signed by `signer` at `issued_at_ms`.
fn enrolment_request(
    patient: &Actor,
    signer: &Actor,
    issued_at_ms: u64,
) -> medchain_api::EnrolmentRequestView {
    use medchain_types::enrolment::{EnrolmentRequest, EnrolmentRoute};
    let request = EnrolmentRequest {
        chain_id: testkit::chain_id(),
        route: EnrolmentRoute::Commitments,
        requester: patient.address,
        issued_at_ms,
        session: [5; 16],
        identity: medchain_types::IdentityName::patient_pseudonym(&patient.address),
        body: Vec::new(),
    };
    medchain_api::EnrolmentRequestView::signed(&request, &signer.key)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn enrolment_requests_are_refused_when_forged_stale_or_before_the_pkg_is_set_up() {
    let (router, _) = node();
    let patient = Actor::new(40);
    let post = |view: medchain_api::EnrolmentRequestView| {
        let router = router.clone();
        async move {
            call(
                &router,
                "POST",
                "/v1/pkg/commitments",
                Some(serde_json::to_value(view).unwrap()),
            )
            .await
        }
    };
    // Signed by someone else than the requester it names: refused before anything is read.
    let (status, json) = post(enrolment_request(&patient, &Actor::new(41), now_ms())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(error_code(&json), "bad_signature");
    // Signed for another route: the same signature does not pass on round 2.
    let view = enrolment_request(&patient, &patient, now_ms());
    let (status, json) = call(
        &router,
        "POST",
        "/v1/pkg/partial-keys",
        Some(serde_json::to_value(&view).unwrap()),
    )
    .await;
    assert_eq!(
        (status, error_code(&json)),
        (StatusCode::BAD_REQUEST, "bad_signature".into())
    );
    // A replay of a request signed ten minutes ago.
    let (status, json) = post(enrolment_request(&patient, &patient, now_ms() - 600_000)).await;
    assert_eq!(
        (status, error_code(&json)),
        (StatusCode::BAD_REQUEST, "stale_request".into())
    );
    // Well signed, but the validators' key generation has not run on this chain.
    let (status, json) = post(view.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(error_code(&json), "pkg_not_ready");
    assert!(json["hint"].as_str().unwrap().contains("/v1/state/pkg"));
    // Malformed fields get a 400 naming the field.
    let mut bad = view;
    bad.session = "abc".into();
    let (status, json) = post(bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["message"].as_str().unwrap().contains("session"),
        "{json}"
    );

    // The PKG's state is served with a proof of its absence.
    let (status, json) = call(&router, "GET", "/v1/state/pkg", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json["value"].is_null(), "{json}");
}
