//! The HTTP edge: routes, bounded JSON bodies, and each request run on a blocking thread
//! (the flows block on the database, the chain client and pairings).
//!
//! Bodies are capped per route (a record write carries a bundle; nothing else needs more than
//! [`MAX_SMALL_REQUEST_BYTES`]); a POST must be `Content-Type: application/json`, so a browser
//! cannot make a "simple" cross-site POST to the gateway on a user's behalf; at most
//! [`MAX_CONCURRENT_REQUESTS`] are served at once (more are answered 503 `busy`) and each is
//! answered within [`REQUEST_TIMEOUT`].

use super::{Gateway, ServiceError};
use crate::wire::{
    AttestOutcome, EmergencyFiled, Enrolled, EnrolmentStarted, FiledEntry, GatewayInfo, HeldRecord,
    LicenceIssued, MAX_REQUEST_BYTES, MAX_SMALL_REQUEST_BYTES, Notification, Served, WrittenRecord,
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
use medchain_types::{Address, ContentHash, EntryId, IdentityName, RecordId};
use serde::{Serialize, de::DeserializeOwned};
use std::{sync::Arc, time::Duration};
use tokio::sync::Semaphore;

/// Most requests served at once; each may hold a blocking thread for a pairing or a wait on
/// chain finality.
pub const MAX_CONCURRENT_REQUESTS: usize = 256;
/// Longest a request is served, body upload included: a record write waits for up to three
/// finalizations (release, storage pointer, attestation), an attest request for one per
/// record it attests. Shorter than the client's limit (`client::DEFAULT_TIMEOUT`), so the client
/// hears the answer. The blocking work of a request that times out still completes (a
/// release resumes from its state anyway).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(170);

type Shared = State<Arc<Gateway>>;

pub(super) fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/info", get(info))
        .route("/v1/enrolments/hello", post(enrol_hello))
        .route("/v1/enrolments/confirm", post(enrol_confirm))
        .route(
            "/v1/records",
            post(write_record).layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES)),
        )
        .route("/v1/patients/{address}/records", get(patient_records))
        .route("/v1/patients/{address}/attest", post(attest_patient))
        .route("/v1/records/{record}/opening", get(sealed_opening))
        .route("/v1/blobs/{hash}", get(blob))
        .route("/v1/licences/{doctor}", get(licence))
        .route("/v1/shares", post(share))
        .route("/v1/entries", post(file_entry))
        .route("/v1/entries/{entry}", get(entry_progress))
        .route("/v1/emergencies", post(file_emergency))
        .route("/v1/emergency-access", post(emergency_access))
        .route("/v1/patients/{address}/notifications", get(notifications))
        .route("/v1/patients/{address}/fhir/consents", get(fhir_consents))
        .route(
            "/v1/patients/{address}/fhir/audit-events",
            get(fhir_audit_events),
        )
        .layer(DefaultBodyLimit::max(MAX_SMALL_REQUEST_BYTES))
        .layer(middleware::from_fn(require_json))
        .layer(middleware::from_fn_with_state(
            Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)),
            bounded,
        ))
        .with_state(gateway)
}

/// Serves the request if fewer than [`MAX_CONCURRENT_REQUESTS`] are in flight, within
/// [`REQUEST_TIMEOUT`]; otherwise 503.
async fn bounded(State(slots): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    let Ok(_slot) = slots.try_acquire_owned() else {
        return ServiceError::Busy.into_response();
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ServiceError::TimedOut.into_response(),
    }
}

/// Every POST body is JSON, and must say so: 415 otherwise.
async fn require_json(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !is_json(request.headers().get(header::CONTENT_TYPE)) {
        return ServiceError::NotJson.into_response();
    }
    next.run(request).await
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// Runs `work` on a blocking thread and answers its result as JSON.
async fn blocking<T: Serialize + Send + 'static>(
    State(gateway): Shared,
    work: impl FnOnce(&Gateway) -> Result<T, ServiceError> + Send + 'static,
) -> Result<Json<T>, ServiceError> {
    tokio::task::spawn_blocking(move || work(&gateway))
        .await
        .map_err(|e| ServiceError::Internal(format!("request worker failed: {e}")))?
        .map(Json)
}

/// A JSON body, or why it is not one.
fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ServiceError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServiceError::TooLarge
        } else {
            ServiceError::bad("body", rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ServiceError::bad("JSON body", e))
}

fn address(text: &str) -> Result<Address, ServiceError> {
    text.parse()
        .map_err(|e| ServiceError::bad("patient address", e))
}

async fn info(gateway: Shared) -> Json<GatewayInfo> {
    let hospital = &gateway.hospital;
    Json(GatewayInfo {
        hospital: hospital.identity.clone(),
        address: hospital.address,
        org: hospital.org.clone(),
        public_url: gateway.public_url.clone(),
    })
}

type Answer<T> = Result<Json<T>, ServiceError>;

async fn enrol_hello(
    gateway: Shared,
    body: Result<Bytes, BytesRejection>,
) -> Answer<EnrolmentStarted> {
    let request = json_body(body)?;
    blocking(gateway, move |g| g.enrol_hello(request)).await
}

async fn enrol_confirm(gateway: Shared, body: Result<Bytes, BytesRejection>) -> Answer<Enrolled> {
    let request = json_body(body)?;
    blocking(gateway, move |g| g.enrol_confirm(request)).await
}

async fn write_record(
    gateway: Shared,
    body: Result<Bytes, BytesRejection>,
) -> Answer<WrittenRecord> {
    let request = json_body(body)?;
    blocking(gateway, move |g| g.write_record(request)).await
}

async fn patient_records(gateway: Shared, Path(patient): Path<String>) -> Answer<Vec<HeldRecord>> {
    let patient = address(&patient)?;
    blocking(gateway, move |g| g.held_records(&patient)).await
}

async fn blob(
    State(gateway): Shared,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let hash: ContentHash = hash
        .parse()
        .map_err(|e| ServiceError::bad("blob hash", e))?;
    let bytes = gateway.blobs.get(&hash).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}

async fn attest_patient(
    gateway: Shared,
    Path(patient): Path<String>,
) -> Answer<Vec<AttestOutcome>> {
    let patient = address(&patient)?;
    blocking(gateway, move |g| g.attest_patient(&patient)).await
}

async fn sealed_opening(
    State(gateway): Shared,
    Path(record): Path<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let record: RecordId = record
        .parse()
        .map_err(|e| ServiceError::bad("record id", e))?;
    let sealed = tokio::task::spawn_blocking(move || gateway.sealed_opening(&record))
        .await
        .map_err(|e| ServiceError::Internal(format!("request worker failed: {e}")))??;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], sealed))
}

async fn licence(gateway: Shared, Path(doctor): Path<String>) -> Answer<LicenceIssued> {
    let doctor = IdentityName::new(doctor).map_err(|e| ServiceError::bad("doctor identity", e))?;
    blocking(gateway, move |g| g.sign_licence(&doctor)).await
}

async fn share(gateway: Shared, body: Result<Bytes, BytesRejection>) -> Answer<Served> {
    let request = json_body(body)?;
    blocking(gateway, move |g| g.share(request)).await
}

async fn fhir_consents(gateway: Shared, Path(patient): Path<String>) -> Answer<serde_json::Value> {
    let patient = address(&patient)?;
    blocking(gateway, move |g| g.fhir_consents(&patient)).await
}

async fn fhir_audit_events(
    gateway: Shared,
    Path(patient): Path<String>,
) -> Answer<serde_json::Value> {
    let patient = address(&patient)?;
    blocking(gateway, move |g| g.fhir_audit_events(&patient)).await
}

async fn file_emergency(
    gateway: Shared,
    body: Result<Bytes, BytesRejection>,
) -> Answer<EmergencyFiled> {
    let request = json_body(body)?;
    blocking(gateway, move |g| g.file_emergency(request)).await
}

async fn emergency_access(gateway: Shared, body: Result<Bytes, BytesRejection>) -> Answer<Served> {
    let request = json_body(body)?;
    blocking(gateway, move |g| g.emergency_access(request)).await
}

async fn notifications(gateway: Shared, Path(patient): Path<String>) -> Answer<Vec<Notification>> {
    let patient = address(&patient)?;
    blocking(gateway, move |g| g.notifications(&patient)).await
}

/// 202: the entry is accepted and queued, not final (`GET /v1/entries/{entry}` follows it).
async fn file_entry(
    gateway: Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FiledEntry>), ServiceError> {
    let signed = json_body(body)?;
    let filed = blocking(gateway, move |g| g.file_entry(signed)).await?;
    Ok((StatusCode::ACCEPTED, filed))
}

async fn entry_progress(gateway: Shared, Path(entry): Path<String>) -> Answer<FiledEntry> {
    let entry: EntryId = entry
        .parse()
        .map_err(|e| ServiceError::bad("entry id", e))?;
    blocking(gateway, move |g| g.entry_progress(&entry)).await
}
