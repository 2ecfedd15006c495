//! [`CloudClient`]: a blocking client of one proxy's HTTP API, for patients delivering a
//! record and its kfrag and researchers asking for capsule fragments (the research flows).
//! Nothing a proxy answers is trusted beyond its shape: the researcher verifies each capsule
//! fragment and the record's hash against the chain.

use crate::{
    request::ReencryptRequest,
    service::now_ms,
    wire::{
        CloudInfo, ErrorBody, KfragStored, KfragUpload, MAX_RECORD_BYTES, RecordStored,
        ReencryptAnswer, ReencryptBody,
    },
};
use medchain_types::{EnrolmentId, PrivateKey, TxId};
use proxy_reencryption::{CapsuleFragBytes, SealedKeyFrag};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;
use ureq::{Agent, Body, http::Response};

/// Time limit of one request: a re-encryption waits for its log transaction's finality.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(150);

/// Largest answer read: a maximal record.
const MAX_ANSWER_BYTES: u64 = MAX_RECORD_BYTES as u64 + 64 * 1024;

/// Why a proxy call failed.
#[derive(Debug, thiserror::Error)]
pub enum CloudClientError {
    /// The URL is not `http://HOST:PORT`.
    #[error("bad proxy URL {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    /// No answer (connection refused, timeout, …).
    #[error("cannot reach the proxy at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The proxy's error answer.
    #[error("the proxy answered {status} {}: {} ({})", body.code, body.message, body.hint)]
    Api { status: u16, body: ErrorBody },
    /// An answer that is not what the endpoint returns.
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    BadAnswer {
        url: String,
        status: u16,
        detail: String,
    },
}

impl CloudClientError {
    /// The proxy's error code (`unknown_enrolment`, `replayed`, …), if it answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } => Some(&body.code),
            _ => None,
        }
    }
}

/// A capsule fragment from a proxy, and the transaction that logged it on chain.
#[derive(Clone, Debug)]
pub struct Reencryption {
    /// Decodes; not verified yet (`ResearcherKey::check_cfrag` / `open` do).
    pub cfrag: CapsuleFragBytes,
    pub log_tx: TxId,
}

/// One proxy's API.
#[derive(Clone, Debug)]
pub struct CloudClient {
    base: String,
    agent: Agent,
}

impl CloudClient {
    /// A client for the proxy at `base_url` (e.g. `http://127.0.0.1:9301`).
    pub fn new(base_url: &str) -> Result<Self, CloudClientError> {
        Self::with_timeout(base_url, DEFAULT_TIMEOUT)
    }

    /// A client whose requests each give up after `timeout`.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self, CloudClientError> {
        let (base, agent) =
            medchain_client::http_endpoint(base_url, timeout).map_err(|reason| {
                CloudClientError::BadUrl {
                    url: base_url.to_string(),
                    reason,
                }
            })?;
        Ok(Self { base, agent })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /v1/info`.
    pub fn info(&self) -> Result<CloudInfo, CloudClientError> {
        let url = self.endpoint("/v1/info");
        parse(&url, self.call(self.agent.get(&url).call(), &url)?)
    }

    /// Delivers the encrypted record of `enrolment` (its canonical bytes).
    pub fn put_record(
        &self,
        enrolment: &EnrolmentId,
        record: &[u8],
    ) -> Result<RecordStored, CloudClientError> {
        let url = self.endpoint(&format!("/v1/enrolments/{enrolment}/record"));
        let sent = self
            .agent
            .put(&url)
            .content_type("application/octet-stream")
            .send(record);
        parse(&url, self.call(sent, &url)?)
    }

    /// The encrypted record of `enrolment` as stored (check its hash against the chain).
    pub fn record(&self, enrolment: &EnrolmentId) -> Result<Vec<u8>, CloudClientError> {
        let url = self.endpoint(&format!("/v1/enrolments/{enrolment}/record"));
        read_bytes(&url, self.call(self.agent.get(&url).call(), &url)?)
    }

    /// Delivers this proxy's sealed kfrag for `enrolment`.
    pub fn post_kfrag(
        &self,
        enrolment: &EnrolmentId,
        kfrag: &SealedKeyFrag,
    ) -> Result<KfragStored, CloudClientError> {
        let upload = KfragUpload {
            sealed: kfrag.as_bytes().to_vec(),
        };
        self.post(&format!("/v1/enrolments/{enrolment}/kfrag"), &upload)
    }

    /// Asks for a capsule fragment of `enrolment`, signed now with the researcher's chain key.
    pub fn reencrypt(
        &self,
        enrolment: &EnrolmentId,
        researcher: &PrivateKey,
    ) -> Result<Reencryption, CloudClientError> {
        let request = ReencryptRequest {
            enrolment: *enrolment,
            issued_at_ms: now_ms(),
        };
        let body = ReencryptBody {
            issued_at_ms: request.issued_at_ms,
            signature: request.sign(researcher),
        };
        self.reencrypt_signed(enrolment, &body)
    }

    /// Sends an already signed re-encryption request as it is (a researcher's tool that
    /// signs elsewhere; tests of replays).
    pub fn reencrypt_signed(
        &self,
        enrolment: &EnrolmentId,
        body: &ReencryptBody,
    ) -> Result<Reencryption, CloudClientError> {
        let path = format!("/v1/enrolments/{enrolment}/reencrypt");
        let answer: ReencryptAnswer = self.post(&path, body)?;
        let cfrag = CapsuleFragBytes::from_bytes(&answer.cfrag).map_err(|e| {
            CloudClientError::BadAnswer {
                url: self.endpoint(&path),
                status: 200,
                detail: e.to_string(),
            }
        })?;
        Ok(Reencryption {
            cfrag,
            log_tx: answer.log_tx,
        })
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CloudClientError> {
        let url = self.endpoint(path);
        parse(
            &url,
            self.call(self.agent.post(&url).send_json(body), &url)?,
        )
    }

    /// The answer if it is a success; the proxy's error otherwise.
    fn call(
        &self,
        sent: Result<Response<Body>, ureq::Error>,
        url: &str,
    ) -> Result<Response<Body>, CloudClientError> {
        let response = sent.map_err(|e| CloudClientError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let text = String::from_utf8_lossy(&read_bytes(url, response)?).into_owned();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => CloudClientError::Api { status, body },
            Err(_) => CloudClientError::BadAnswer {
                url: url.to_string(),
                status,
                detail: text.chars().take(200).collect(),
            },
        })
    }
}

fn parse<T: DeserializeOwned>(url: &str, response: Response<Body>) -> Result<T, CloudClientError> {
    let status = response.status().as_u16();
    let bytes = read_bytes(url, response)?;
    serde_json::from_slice(&bytes).map_err(|e| CloudClientError::BadAnswer {
        url: url.to_string(),
        status,
        detail: e.to_string(),
    })
}

fn read_bytes(url: &str, mut response: Response<Body>) -> Result<Vec<u8>, CloudClientError> {
    let status = response.status().as_u16();
    response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_vec()
        .map_err(|e| CloudClientError::BadAnswer {
            url: url.to_string(),
            status,
            detail: format!("unreadable body: {e}"),
        })
}
