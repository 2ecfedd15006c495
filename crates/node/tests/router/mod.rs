//! Calling the node's API router in-process, as the HTTP tests do: a JSON request in, the
//! status and JSON body out.

#![allow(dead_code)]

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use http_body_util::BodyExt as _;
use medchain_api::ErrorBody;
use serde_json::Value;
use tower::ServiceExt as _;

/// Sends `method path` with `body` as JSON; returns the status and the body (as a JSON string
/// when it is not JSON).
pub async fn call(
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

/// The code of an error body, checking it says what went wrong and what to do.
pub fn error_code(json: &Value) -> String {
    let body: ErrorBody = serde_json::from_value(json.clone()).expect("an error body");
    assert!(!body.hint.is_empty() && !body.message.is_empty());
    body.error
}
