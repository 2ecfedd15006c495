//! The HTTP edge: routes, bounded bodies, and each request run on a blocking thread (the flows
//! block on redb and the chain client).
//!
//! A record upload is capped at [`MAX_RECORD_BYTES`] and must be
//! `Content-Type: application/octet-stream`; every other body at [`MAX_SMALL_REQUEST_BYTES`]
//! and, for a POST, `application/json` (so a browser cannot make a "simple" cross-site request
//! on a researcher's behalf). At most [`MAX_CONCURRENT_REQUESTS`] are served at once (more are
//! answered 503 `busy`), each within [`REQUEST_TIMEOUT`].

use super::{Cloud, CloudError};
use crate::wire::{
    CloudInfo, KfragStored, KfragUpload, MAX_RECORD_BYTES, MAX_SMALL_REQUEST_BYTES, RecordStored,
    ReencryptAnswer, ReencryptBody,
};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Request, State, rejection::BytesRejection},
    http::{Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use medchain_types::EnrolmentId;
use serde::de::DeserializeOwned;
use std::{sync::Arc, time::Duration};
use tokio::sync::Semaphore;

/// Most requests served at once: each may hold a 16 MiB record or wait for chain finality.
pub const MAX_CONCURRENT_REQUESTS: usize = 32;
/// Longest a request is served: a re-encryption waits for its log transaction's finality.
/// Shorter than the client's limit, so the client hears the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

type Shared = State<Arc<Cloud>>;
type Answer<T> = Result<Json<T>, CloudError>;

pub(super) fn router(cloud: Arc<Cloud>) -> Router {
    Router::new()
        .route("/v1/info", get(info))
        .route(
            "/v1/enrolments/{id}/record",
            get(record)
                .put(put_record)
                .layer(DefaultBodyLimit::max(MAX_RECORD_BYTES)),
        )
        .route("/v1/enrolments/{id}/kfrag", post(kfrag))
        .route("/v1/enrolments/{id}/reencrypt", post(reencrypt))
        .layer(DefaultBodyLimit::max(MAX_SMALL_REQUEST_BYTES))
        .layer(middleware::from_fn(require_content_type))
        .layer(middleware::from_fn_with_state(
            Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)),
            bounded,
        ))
        .with_state(cloud)
}

/// Serves the request if fewer than [`MAX_CONCURRENT_REQUESTS`] are in flight, within
/// [`REQUEST_TIMEOUT`]; otherwise 503.
async fn bounded(State(slots): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    let Ok(_slot) = slots.try_acquire_owned() else {
        return CloudError::Busy.into_response();
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => CloudError::TimedOut.into_response(),
    }
}

/// A POST body is JSON and a PUT body is a record, and each must say so: 415 otherwise.
async fn require_content_type(request: Request, next: Next) -> Response {
    let expected = match *request.method() {
        Method::POST => "application/json",
        Method::PUT => "application/octet-stream",
        _ => return next.run(request).await,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(expected));
    if !declared {
        return CloudError::WrongContentType { expected }.into_response();
    }
    next.run(request).await
}

/// Runs `work` on a blocking thread.
async fn blocking<T: Send + 'static>(
    State(cloud): Shared,
    work: impl FnOnce(&Cloud) -> Result<T, CloudError> + Send + 'static,
) -> Result<T, CloudError> {
    tokio::task::spawn_blocking(move || work(&cloud))
        .await
        .map_err(|e| CloudError::Internal(format!("request worker failed: {e}")))?
}

/// The body's bytes, or why there are none (too large, cut off).
fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, CloudError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            CloudError::TooLarge
        } else {
            CloudError::bad("body", rejection.body_text())
        }
    })
}

fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, CloudError> {
    serde_json::from_slice(&body_bytes(body)?).map_err(|e| CloudError::bad("JSON body", e))
}

fn enrolment(text: &str) -> Result<EnrolmentId, CloudError> {
    text.parse().map_err(|e| CloudError::bad("enrolment id", e))
}

async fn info(State(cloud): Shared) -> Json<CloudInfo> {
    Json(cloud.info())
}

async fn put_record(
    cloud: Shared,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer<RecordStored> {
    let id = enrolment(&id)?;
    let bytes = body_bytes(body)?;
    blocking(cloud, move |c| c.put_record(&id, &bytes))
        .await
        .map(Json)
}

async fn record(cloud: Shared, Path(id): Path<String>) -> Result<Response, CloudError> {
    let id = enrolment(&id)?;
    let bytes = blocking(cloud, move |c| c.record(&id)).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn kfrag(
    cloud: Shared,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer<KfragStored> {
    let id = enrolment(&id)?;
    let upload: KfragUpload = json_body(body)?;
    blocking(cloud, move |c| c.store_kfrag(&id, &upload))
        .await
        .map(Json)
}

async fn reencrypt(
    cloud: Shared,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer<ReencryptAnswer> {
    let id = enrolment(&id)?;
    let request: ReencryptBody = json_body(body)?;
    blocking(cloud, move |c| c.reencrypt(&id, &request))
        .await
        .map(Json)
}
