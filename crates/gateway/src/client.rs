//! [`GatewayClient`]: a blocking client of a hospital gateway's HTTP API, for patients and
//! doctors (the `medchain patient …` and `medchain doctor …` commands). Nothing a gateway
//! answers is trusted beyond its shape: TAKA messages are checked by `taka` when opened, and
//! records against hEMR on chain by the caller.

use crate::doctor_request::{DoctorRequest, DoctorRoute};
use crate::service::now_ms;
use crate::wire::{
    AttestOutcome, EmergencyAccess, EmergencyFiled, EmergencyFiling, Enrolled, EnrolmentConfirm,
    EnrolmentHello, EnrolmentSession, EnrolmentStarted, ErrorBody, FiledEntry, GatewayInfo,
    HeldRecord, LicenceIssued, Notification, Served, ShareRecord, WriteRecord, WrittenRecord,
};
use medchain_types::{
    Address, ChainId, ContentHash, EmergencyId, EntryId, Hash32, IdentityName, PrivateKey, Purpose,
    RecordId, TxId, med::SignedEntry,
};
use serde::{Serialize, de::DeserializeOwned};
use std::time::Duration;
use ureq::{Agent, Body, http::Response};

/// Time limit of one request: a write or a share waits for chain finality (up to three times
/// for a write: the release, the storage pointer and the attestation), so it is generous.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// Largest answer read (a sealed blob of a maximal bundle, with room to spare).
const MAX_ANSWER_BYTES: u64 = 32 * 1024 * 1024;

/// Why a gateway call failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayClientError {
    /// The URL is not `http://HOST:PORT`.
    #[error("bad gateway URL {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    /// No answer (connection refused, timeout, …).
    #[error("cannot reach the gateway at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The gateway refused an access after logging the refusal on chain (HTTP 403): `code` is
    /// the reason (`no_consent`, `consent_revoked`, `doctor_revoked`, `replayed`, …).
    #[error("refused ({code}): {message}")]
    Refused {
        code: String,
        message: String,
        access_tx: Option<TxId>,
    },
    /// Any other error answer.
    #[error("the gateway answered {status} {}: {} ({})", body.code, body.message, body.hint)]
    Api { status: u16, body: ErrorBody },
    /// An answer that is not what the endpoint returns.
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    BadAnswer {
        url: String,
        status: u16,
        detail: String,
    },
    /// A TAKA message in the answer does not decode.
    #[error("the gateway's {what} does not decode: {source}")]
    Taka {
        what: &'static str,
        source: taka::Error,
    },
}

/// What a doctor signs requests to a holding gateway with.
#[derive(Clone, Copy)]
pub struct DoctorSigner<'a> {
    /// The doctor's chain key (the address the chain binds to the doctor's identity).
    pub key: &'a PrivateKey,
    pub chain_id: &'a ChainId,
    /// The hospital holding the record, as the chain names it.
    pub holder: &'a IdentityName,
}

impl DoctorSigner<'_> {
    fn sign(
        &self,
        route: DoctorRoute,
        subject: Hash32,
        purpose: Purpose,
        taka_message: &[u8],
        issued_at_ms: u64,
    ) -> Vec<u8> {
        DoctorRequest {
            chain_id: self.chain_id,
            holder: self.holder,
            route,
            subject,
            purpose,
            taka_message,
            issued_at_ms,
        }
        .sign(self.key)
    }
}

/// A hospital gateway's API.
#[derive(Clone, Debug)]
pub struct GatewayClient {
    base: String,
    agent: Agent,
}

impl GatewayClient {
    /// A client for the gateway at `base_url` (e.g. `http://127.0.0.1:9101`).
    pub fn new(base_url: &str) -> Result<Self, GatewayClientError> {
        Self::with_timeout(base_url, DEFAULT_TIMEOUT)
    }

    /// A client whose requests each give up after `timeout`.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self, GatewayClientError> {
        let (base, agent) =
            medchain_client::http_endpoint(base_url, timeout).map_err(|reason| {
                GatewayClientError::BadUrl {
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
    pub fn info(&self) -> Result<GatewayInfo, GatewayClientError> {
        self.get("/v1/info")
    }

    /// S3-agree, first message: the patient's enrolment hello; returns the session to confirm
    /// and the hospital's reply.
    pub fn enrol_hello(
        &self,
        hello: &taka::Hello,
    ) -> Result<(EnrolmentSession, taka::EnrolmentReply), GatewayClientError> {
        let started: EnrolmentStarted = self.post(
            "/v1/enrolments/hello",
            &EnrolmentHello {
                hello: hello.to_bytes(),
            },
        )?;
        let reply = taka::EnrolmentReply::from_bytes(&started.reply)
            .map_err(|source| taka_error("enrolment reply", source))?;
        Ok((started.session, reply))
    }

    /// S3-agree, key confirmation; returns the patient's address the hospital enrolled.
    pub fn enrol_confirm(
        &self,
        session: &EnrolmentSession,
        confirmation: &taka::EnrolmentConfirmation,
    ) -> Result<Address, GatewayClientError> {
        let enrolled: Enrolled = self.post(
            "/v1/enrolments/confirm",
            &EnrolmentConfirm {
                session: *session,
                confirmation: confirmation.to_bytes(),
            },
        )?;
        Ok(enrolled.patient)
    }

    /// S1-release: writes a record; returns once it is released, stored and pointed to.
    pub fn write_record(&self, request: &WriteRecord) -> Result<WrittenRecord, GatewayClientError> {
        self.post("/v1/records", request)
    }

    /// `POST /v1/entries`: hands the patient's signed entry to its hospital for MED; answers
    /// once it is queued (pending), with its id.
    pub fn file_entry(&self, entry: &SignedEntry) -> Result<FiledEntry, GatewayClientError> {
        self.post("/v1/entries", entry)
    }

    /// `GET /v1/entries/{entry}`: where an entry filed through this gateway is.
    pub fn entry(&self, entry: &EntryId) -> Result<FiledEntry, GatewayClientError> {
        self.get(&format!("/v1/entries/{entry}"))
    }

    /// The patient's records held here.
    pub fn patient_records(
        &self,
        patient: &Address,
    ) -> Result<Vec<HeldRecord>, GatewayClientError> {
        self.get(&format!("/v1/patients/{patient}/records"))
    }

    /// Issue 12: asks the gateway to attest the patient's stored records not attested yet
    /// (after the patient filed its nullifier key); at most
    /// [`crate::service::MAX_ATTESTATIONS_PER_REQUEST`] are tried per call, each outcome says
    /// which. Idempotent. A patient with no nullifier key on chain is answered 409
    /// `no_nullifier_key`.
    pub fn attest(&self, patient: &Address) -> Result<Vec<AttestOutcome>, GatewayClientError> {
        self.post(
            &format!("/v1/patients/{patient}/attest"),
            &serde_json::Map::new(),
        )
    }

    /// Issue 12: the commitment opening of an attested record, sealed for its patient
    /// (`blobs::SealedOpening`'s bytes; [`crate::patient::HospitalRecords::fetch_opening`]
    /// opens and checks it). A record not attested is 409 `not_attested`.
    pub fn sealed_opening(&self, record: &RecordId) -> Result<Vec<u8>, GatewayClientError> {
        let url = self.endpoint(&format!("/v1/records/{record}/opening"));
        let (url, response) = self.call(self.agent.get(&url).call(), &url)?;
        read_bytes(&url, response)
    }

    /// A sealed blob by its hash, checked against it.
    pub fn blob(&self, hash: &ContentHash) -> Result<Vec<u8>, GatewayClientError> {
        let url = self.endpoint(&format!("/v1/blobs/{hash}"));
        let (url, response) = self.call(self.agent.get(&url).call(), &url)?;
        let status = response.status().as_u16();
        let bytes = read_bytes(&url, response)?;
        if ContentHash::of(&bytes) != *hash {
            return Err(GatewayClientError::BadAnswer {
                url,
                status,
                detail: "the blob does not hash to the hash asked for".into(),
            });
        }
        Ok(bytes)
    }

    /// The doctor's licence ρ, signed by this (the doctor's own) hospital.
    pub fn licence(&self, doctor: &IdentityName) -> Result<taka::Licence, GatewayClientError> {
        let issued: LicenceIssued =
            self.get(&format!("/v1/licences/{}", path_segment(doctor.as_str())))?;
        taka::Licence::from_bytes(&issued.licence).map_err(|source| taka_error("licence", source))
    }

    /// S3-share: asks the holding hospital for `record` under the patient's authorisation,
    /// signed by the doctor. A refusal is [`GatewayClientError::Refused`] with its reason.
    pub fn share(
        &self,
        record: &RecordId,
        purpose: Purpose,
        request: &taka::ShareRequest,
        doctor: &DoctorSigner<'_>,
    ) -> Result<Served, GatewayClientError> {
        let request = request.to_bytes();
        let issued_at_ms = now_ms();
        let signature = doctor.sign(
            DoctorRoute::Share,
            record.0,
            purpose,
            &request,
            issued_at_ms,
        );
        self.post(
            "/v1/shares",
            &ShareRecord {
                record: *record,
                purpose,
                request,
                issued_at_ms,
                signature,
            },
        )
    }

    /// S3-emergency at the doctor's own hospital: files tx_ur, vouched by doctor and
    /// hospital; returns its id once final.
    pub fn file_emergency(
        &self,
        filing: &EmergencyFiling,
    ) -> Result<EmergencyId, GatewayClientError> {
        let filed: EmergencyFiled = self.post("/v1/emergencies", filing)?;
        Ok(filed.emergency)
    }

    /// S3-emergency at the hospital holding the record: break-glass access under the filed
    /// emergency, signed by the doctor, with the proof (`taka::emergency_gate_proof`) that the
    /// doctor opened the patient's entry. A refusal is [`GatewayClientError::Refused`] with its
    /// reason.
    pub fn emergency_access(
        &self,
        emergency: &EmergencyId,
        hello: &taka::EmergencyHello,
        gate_proof: [u8; 32],
        doctor: &DoctorSigner<'_>,
    ) -> Result<Served, GatewayClientError> {
        let hello = hello.to_bytes();
        let issued_at_ms = now_ms();
        let signature = doctor.sign(
            DoctorRoute::EmergencyAccess,
            emergency.0,
            Purpose::Treatment,
            &hello,
            issued_at_ms,
        );
        self.post(
            "/v1/emergency-access",
            &EmergencyAccess {
                emergency: *emergency,
                hello,
                gate_proof: gate_proof.to_vec(),
                issued_at_ms,
                signature,
            },
        )
    }

    /// The break-glass accesses this gateway served from the patient's records.
    pub fn notifications(
        &self,
        patient: &Address,
    ) -> Result<Vec<Notification>, GatewayClientError> {
        self.get(&format!("/v1/patients/{patient}/notifications"))
    }

    /// The patient's consents on chain as a FHIR R4 Bundle of `Consent`.
    pub fn fhir_consents(
        &self,
        patient: &Address,
    ) -> Result<serde_json::Value, GatewayClientError> {
        self.get(&format!("/v1/patients/{patient}/fhir/consents"))
    }

    /// The patient's access log on chain as a FHIR R4 Bundle of `AuditEvent`.
    pub fn fhir_audit_events(
        &self,
        patient: &Address,
    ) -> Result<serde_json::Value, GatewayClientError> {
        self.get(&format!("/v1/patients/{patient}/fhir/audit-events"))
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GatewayClientError> {
        let url = self.endpoint(path);
        let (url, response) = self.call(self.agent.get(&url).call(), &url)?;
        parse(&url, response)
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, GatewayClientError> {
        let url = self.endpoint(path);
        let (url, response) = self.call(self.agent.post(&url).send_json(body), &url)?;
        parse(&url, response)
    }

    /// The answer if it is a success; the gateway's error otherwise.
    fn call(
        &self,
        sent: Result<Response<Body>, ureq::Error>,
        url: &str,
    ) -> Result<(String, Response<Body>), GatewayClientError> {
        let response = sent.map_err(|e| GatewayClientError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok((url.to_string(), response));
        }
        let text = String::from_utf8_lossy(&read_bytes(url, response)?).into_owned();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) if status == 403 => GatewayClientError::Refused {
                code: body.code,
                message: body.message,
                access_tx: body.access_tx,
            },
            Ok(body) => GatewayClientError::Api { status, body },
            Err(_) => GatewayClientError::BadAnswer {
                url: url.to_string(),
                status,
                detail: text.chars().take(200).collect(),
            },
        })
    }
}

fn taka_error(what: &'static str, source: taka::Error) -> GatewayClientError {
    GatewayClientError::Taka { what, source }
}

fn parse<T: DeserializeOwned>(
    url: &str,
    response: Response<Body>,
) -> Result<T, GatewayClientError> {
    let status = response.status().as_u16();
    let bytes = read_bytes(url, response)?;
    serde_json::from_slice(&bytes).map_err(|e| GatewayClientError::BadAnswer {
        url: url.to_string(),
        status,
        detail: e.to_string(),
    })
}

fn read_bytes(url: &str, mut response: Response<Body>) -> Result<Vec<u8>, GatewayClientError> {
    let status = response.status().as_u16();
    response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_vec()
        .map_err(|e| GatewayClientError::BadAnswer {
            url: url.to_string(),
            status,
            detail: format!("unreadable body: {e}"),
        })
}

/// Percent-encodes one path segment (identities may hold `@`, spaces, …).
fn path_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
