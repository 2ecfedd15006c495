//! The HTTP API against a real chain (in-memory store, genesis committed): every malformed
//! input gets a JSON 4xx error with a hint and changes nothing; valid input is accepted;
//! state answers carry proofs that verify. No input panics a handler.

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
    gossip::GossipHandle,
    mempool::Mempool,
    metrics::NodeMetrics,
};
use medchain_state::testkit::{self, Actor};
use medchain_storage::Store;
use medchain_types::{ChainId, OrgKind, Transaction};
use proptest::prelude::*;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt as _;

fn node() -> (Router, Arc<Chain>) {
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
        GossipHandle::disconnected(),
        genesis,
        metrics,
    );
    (api::router(state), chain)
}

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, json)
}

fn submit_body(tx: &Transaction) -> Value {
    serde_json::json!({ "tx": hex::encode(tx.encode()) })
}

fn error_code(json: &Value) -> String {
    let body: ErrorBody = serde_json::from_value(json.clone()).expect("an error body");
    assert!(!body.hint.is_empty() && !body.message.is_empty());
    body.error
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
        "/v1/ids/{kind}/{prefix}",
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
