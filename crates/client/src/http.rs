//! A blocking HTTP client for one node's API: one method per endpoint, answers parsed into the
//! `medchain-api` views. Nothing here is verified: [`crate::Client`] verifies.

use crate::{ClientError, ListQuery, StateQuery};
use commonware_codec::Encode;
use medchain_api::{
    AccessLogView, BatchRequest, BatchResponse, BlockView, EpochTransitionView, ErrorBody,
    ProvenView, StatusView, SubmitRequest, SubmitResponse, TxStatusView,
};
use medchain_api::{
    CommitmentView, EnrolmentRequestView, IdKind, IdMatchesView, IdPrefix, PartialKeyView,
    ProvenListView,
};
use medchain_types::{Address, Hash32, Transaction, TxId, enrolment::EnrolmentRoute};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;
use ureq::{Agent, Body, http::Response};

/// Default time limit of one request (connect, send, and read the answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer read from a node (a full batch response is far smaller).
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// The normalised base URL of an HTTP service (`http://HOST:PORT`, no path) and an agent whose
/// requests give up after `timeout` and return error statuses as answers; or why the URL is
/// refused. Shared by the node's and the hospital gateways' clients. Plain HTTP only: TLS is a
/// proxy's job in front of the service.
pub fn http_endpoint(base_url: &str, timeout: Duration) -> Result<(String, Agent), &'static str> {
    let base = base_url.trim().trim_end_matches('/').to_string();
    let host = base
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported (put a TLS proxy in front)")?;
    if host.is_empty() || host.contains('/') {
        return Err("expected http://HOST:PORT with no path");
    }
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    Ok((base, agent))
}

/// A node's HTTP API.
#[derive(Clone, Debug)]
pub struct NodeClient {
    base: String,
    agent: Agent,
}

impl NodeClient {
    /// A client for the node at `base_url` (e.g. `http://127.0.0.1:8400`) with the default
    /// timeout.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        Self::with_timeout(base_url, DEFAULT_TIMEOUT)
    }

    /// A client whose requests each give up after `timeout`.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self, ClientError> {
        let (base, agent) =
            http_endpoint(base_url, timeout).map_err(|reason| ClientError::BadUrl {
                url: base_url.to_string(),
                reason,
            })?;
        Ok(Self { base, agent })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /health`: whether the node's API answers.
    pub fn health(&self) -> Result<(), ClientError> {
        self.get_text("/health").map(drop)
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<StatusView, ClientError> {
        self.get("/v1/status")
    }

    /// `GET /v1/blocks/{height}`.
    pub fn block(&self, height: u64) -> Result<BlockView, ClientError> {
        self.get(&format!("/v1/blocks/{height}"))
    }

    /// `GET /v1/blocks/latest`: the newest block this node holds a finalization certificate
    /// for (the height its state proofs are taken at).
    pub fn latest_block(&self) -> Result<BlockView, ClientError> {
        self.get("/v1/blocks/latest")
    }

    /// `GET /v1/blocks/by-digest/{digest}`.
    pub fn block_by_digest(&self, digest: &Hash32) -> Result<BlockView, ClientError> {
        self.get(&format!("/v1/blocks/by-digest/{}", hex::encode(digest)))
    }

    /// `POST /v1/transactions`: the node admits the transaction to its mempool.
    pub fn submit(&self, tx: &Transaction) -> Result<TxId, ClientError> {
        let request = SubmitRequest {
            tx: hex::encode(tx.encode()),
        };
        let response: SubmitResponse = self.post("/v1/transactions", &request)?;
        let expected = tx.id();
        if response.id != expected {
            return Err(ClientError::WrongId {
                expected,
                got: response.id,
            });
        }
        Ok(response.id)
    }

    /// `POST /v1/transactions/batch`: one outcome per transaction, in order.
    pub fn submit_batch(&self, txs: &[Transaction]) -> Result<BatchResponse, ClientError> {
        let request = BatchRequest {
            txs: txs.iter().map(|tx| hex::encode(tx.encode())).collect(),
        };
        self.post("/v1/transactions/batch", &request)
    }

    /// `GET /v1/transactions/{id}`.
    pub fn tx_status(&self, id: &TxId) -> Result<TxStatusView, ClientError> {
        self.get(&format!("/v1/transactions/{id}"))
    }

    /// `GET /v1/state/...`: a state value with its proof, header and certificate (unverified;
    /// see [`crate::LightClient::verify_proven`]).
    pub fn proven<V>(&self, query: &StateQuery<V>) -> Result<ProvenView, ClientError> {
        self.state(query.path())
    }

    /// `GET` of a `/v1/state/...` path (see [`crate::Question::path`]), unverified.
    pub fn state(&self, path: &str) -> Result<ProvenView, ClientError> {
        self.get(path)
    }

    /// `GET /v1/access-log/{patient}?from=&limit=`: one page of a patient's access log.
    pub fn access_log(
        &self,
        patient: &Address,
        from: u64,
        limit: usize,
    ) -> Result<AccessLogView, ClientError> {
        self.get(&format!(
            "/v1/access-log/{patient}?from={from}&limit={limit}"
        ))
    }

    /// `GET /v1/lists/...?from=&limit=`: one page of a list, every entry with its proof
    /// (unverified; see [`crate::LightClient::verify_list`]).
    pub fn list<E, V>(
        &self,
        query: &ListQuery<E, V>,
        from: u64,
        limit: usize,
    ) -> Result<ProvenListView, ClientError> {
        self.list_page(query.path(), from, limit)
    }

    /// `GET` of a `/v1/lists/...` path with paging, unverified.
    pub fn list_page(
        &self,
        path: &str,
        from: u64,
        limit: usize,
    ) -> Result<ProvenListView, ClientError> {
        self.get(&format!("{path}?from={from}&limit={limit}"))
    }

    /// `GET /v1/epochs/{epoch}/transition`: how epoch `epoch + 1`'s validator set follows from
    /// epoch `epoch`'s (unverified; see [`crate::LightClient::accept_transition`]).
    pub fn epoch_transition(&self, epoch: u64) -> Result<EpochTransitionView, ClientError> {
        self.get(&format!("/v1/epochs/{epoch}/transition"))
    }

    /// `GET /v1/ids/{kind}/{prefix}`: the ids of `kind` that start with `prefix` (unproven).
    pub fn resolve_id(
        &self,
        kind: IdKind,
        prefix: &IdPrefix,
    ) -> Result<IdMatchesView, ClientError> {
        self.get(&format!("/v1/ids/{kind}/{prefix}"))
    }

    /// `POST /v1/pkg/commitments`: round 1 of key extraction.
    pub fn pkg_commitment(
        &self,
        request: &EnrolmentRequestView,
    ) -> Result<CommitmentView, ClientError> {
        self.post(EnrolmentRoute::Commitments.path(), request)
    }

    /// `POST /v1/pkg/partial-keys`: round 2 of key extraction.
    pub fn pkg_partial_key(
        &self,
        request: &EnrolmentRequestView,
    ) -> Result<PartialKeyView, ClientError> {
        self.post(EnrolmentRoute::PartialKeys.path(), request)
    }

    /// `GET /metrics` (Prometheus text).
    pub fn metrics(&self) -> Result<String, ClientError> {
        self.get_text("/metrics")
    }

    /// `GET` of any JSON route (the MED routes' client, `crate::med`, builds on it).
    pub(crate) fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.get(path)
    }

    /// `POST` of a JSON body to any JSON route.
    pub(crate) fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.post(path, body)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let (url, response) = self.call_get(path)?;
        parse(&url, response)
    }

    /// A 2xx answer's body as text, for the endpoints that do not answer JSON.
    fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let (url, response) = self.call_get(path)?;
        success_text(&url, response).map(|(_, text)| text)
    }

    fn call_get(&self, path: &str) -> Result<(String, Response<Body>), ClientError> {
        let url = self.endpoint(path);
        let response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| unreachable(&url, e))?;
        Ok((url, response))
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.endpoint(path);
        let response = self
            .agent
            .post(&url)
            .send_json(body)
            .map_err(|e| unreachable(&url, e))?;
        parse(&url, response)
    }
}

fn unreachable(url: &str, error: ureq::Error) -> ClientError {
    ClientError::Unreachable {
        url: url.to_string(),
        reason: error.to_string(),
    }
}

/// A 2xx answer as `T`; anything else as the node's [`ErrorBody`].
fn parse<T: DeserializeOwned>(url: &str, response: Response<Body>) -> Result<T, ClientError> {
    let (status, text) = success_text(url, response)?;
    serde_json::from_str(&text).map_err(|e| ClientError::BadResponse {
        url: url.to_string(),
        status,
        detail: e.to_string(),
    })
}

/// A 2xx answer's status and body; anything else as the node's [`ErrorBody`].
fn success_text(url: &str, response: Response<Body>) -> Result<(u16, String), ClientError> {
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(error_from(url, status, response));
    }
    Ok((status, read_text(url, response)?))
}

/// The error a non-2xx answer carries: the node's JSON body, or a description of the raw body.
fn error_from(url: &str, status: u16, response: Response<Body>) -> ClientError {
    let text = match read_text(url, response) {
        Ok(text) => text,
        Err(error) => return error,
    };
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ClientError::Api { status, body },
        Err(_) => ClientError::BadResponse {
            url: url.to_string(),
            status,
            detail: text.chars().take(200).collect(),
        },
    }
}

fn read_text(url: &str, mut response: Response<Body>) -> Result<String, ClientError> {
    let status = response.status().as_u16();
    response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_string()
        .map_err(|e| ClientError::BadResponse {
            url: url.to_string(),
            status,
            detail: format!("unreadable body: {e}"),
        })
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_base_urls_are_accepted() {
        assert_eq!(
            NodeClient::new("http://127.0.0.1:8400/").unwrap().url(),
            "http://127.0.0.1:8400"
        );
        for bad in [
            "127.0.0.1:8400",
            "https://node:8400",
            "http://",
            "http://node/v1",
            "ftp://x",
        ] {
            assert!(
                matches!(NodeClient::new(bad), Err(ClientError::BadUrl { .. })),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn path_segments_escape_everything_but_unreserved_characters() {
        assert_eq!(path_segment("Seoul General.H_1~"), "Seoul%20General.H_1~");
        assert_eq!(path_segment("a/b?c#d%"), "a%2Fb%3Fc%23d%25");
    }
}
