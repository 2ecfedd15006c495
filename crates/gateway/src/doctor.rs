//! A doctor's side of the gateways, for every front end that does it (`medchain doctor` and
//! the portal): checking and opening what a holding hospital released (S3-share,
//! S3-emergency), the whole break-glass flow (S3-emergency), and signing a release for the MED
//! chain (S3-release).
//!
//! Nothing a gateway answers is trusted: a release must name the record asked for (htxM = the
//! record id, index j), the blob must hash to what the gateway named, open under the released
//! record key and hash to the hEMR the chain holds for that record. Chain reads go through the
//! caller's verifying [`Client`]; what the flow returns names the finalized header the record
//! was checked at. Nothing here prints or reads files: front ends explain the errors.

use crate::{
    blobs::SealError,
    client::{DoctorSigner, GatewayClient, GatewayClientError},
    ledger::MedRelease,
    patient::open_sealed,
    service::now_ms,
    wire::{EmergencyFiling, Served},
};
use medchain_client::{
    Client, ClientError, FinalizedHeader, ListQuery, StateQuery, WaitPolicy, keys::address_of,
};
use medchain_med::aggregate::sign_release;
use medchain_state::values::{IdentityRecord, Record};
use medchain_types::{
    Address, ContentHash, EmergencyId, Hash32, IdentityName, PrivateKey, RecordId, Role, TxId,
    emergency::emergency_message, med::TxMr,
};
use rand_core::OsRng;
use taka::{
    EmergencyRequest, EmrEntry, EncryptedEntry, EntityKeys, HospitalResponse, PendingEmergency,
    PublicParams, PublicPolynomial, RecordRelease, emergency_gate_proof,
};
use zeroize::Zeroizing;

/// Why a doctor's flow stopped. Each case carries what a front end needs to say what to do.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// A chain read or transaction failed (unreachable, refused, or an answer that does not
    /// verify).
    #[error(transparent)]
    Chain(#[from] ClientError),
    /// A gateway failed or refused ([`GatewayClientError::Refused`] carries the reason and
    /// the access transaction that logged the refusal).
    #[error(transparent)]
    Gateway(#[from] GatewayClientError),
    /// A TAKA message, state or key did not check out.
    #[error("TAKA: {0}")]
    Taka(#[from] taka::Error),
    /// The released blob does not open as the record the chain names.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The address has no enrolled identity (proven absent).
    #[error("{address} has no enrolled identity (proven absent)")]
    NotEnrolled { address: Address },
    /// No identity of that name is enrolled (proven absent).
    #[error("no identity {name} is enrolled on chain (proven absent)")]
    UnknownIdentity { name: IdentityName },
    /// The identity is enrolled in another role.
    #[error("{name} is enrolled as a {actual:?}, not a {expected:?}")]
    WrongRole {
        name: IdentityName,
        actual: Role,
        expected: Role,
    },
    /// The chain's threshold PKG has not published its parameters yet.
    #[error("the threshold PKG is not set up yet (no cfg/pkg on chain)")]
    PkgNotReady,
    /// No EMR entry of the patient opens with the template.
    #[error(
        "no entry of this patient opens with this template ({entries} entries on chain, verified against finalized block {})",
        at.header.height
    )]
    WrongTemplate {
        /// How many entries the patient filed.
        entries: usize,
        /// Where the list was verified (boxed: a header with its certificate is large).
        at: Box<FinalizedHeader>,
    },
    /// The entry predates emergency gates: the holding hospital would refuse it.
    #[error(
        "the patient's entry carries no emergency gate (filed by an older medchain): the holding hospital would refuse"
    )]
    Ungated,
    /// The record is not released on chain (proven absent).
    #[error("no record {record} is released on chain (proven absent)")]
    NotReleased { record: RecordId },
    /// The entry names a record released for someone else.
    #[error("the entry names record {record}, which is not this patient's")]
    NotThePatients { record: RecordId },
    /// The gateway asked is not the one of the hospital the entry names.
    #[error("the entry says {named} holds the record, but the gateway at {url} is {answered}'s")]
    WrongHolder {
        /// The hospital the entry names.
        named: String,
        url: String,
        /// The hospital the gateway says it is.
        answered: IdentityName,
    },
    /// The gateway released another record than the one asked for.
    #[error(
        "the gateway released record j={released} ({htxm}), not the record asked for (j={index}, {record})"
    )]
    WrongRelease {
        released: u64,
        htxm: String,
        index: u64,
        record: RecordId,
    },
    /// The released record key is not 32 bytes.
    #[error("the gateway released a {0}-byte record key; record keys are 32 bytes")]
    BadRecordKey(usize),
    /// The gateway released a record but named no blob for it.
    #[error("the gateway released record {record} but named no blob for it")]
    NoBlob { record: RecordId },
}

/// The enrolled identity `name` (verified), which must have `role`.
pub fn identity(
    client: &Client,
    name: &IdentityName,
    role: Role,
) -> Result<IdentityRecord, DoctorError> {
    let record = client
        .read(&StateQuery::identity(name))?
        .value
        .ok_or_else(|| DoctorError::UnknownIdentity { name: name.clone() })?;
    if record.role != role {
        return Err(DoctorError::WrongRole {
            name: name.clone(),
            actual: record.role,
            expected: role,
        });
    }
    Ok(record)
}

/// The identity bound to `address` (verified), which must have `role`.
pub fn identity_of(
    client: &Client,
    address: &Address,
    role: Role,
) -> Result<IdentityRecord, DoctorError> {
    let name = client
        .read(&StateQuery::identity_of(address))?
        .value
        .ok_or(DoctorError::NotEnrolled { address: *address })?;
    identity(client, &name, role)
}

/// taka's public parameters (P_pub) from the chain's threshold PKG, verified.
pub fn public_params(client: &Client) -> Result<PublicParams, DoctorError> {
    let pkg = client
        .read(&StateQuery::pkg())?
        .value
        .ok_or(DoctorError::PkgNotReady)?;
    let coefficients: Vec<[u8; 48]> = pkg.public_polynomial.iter().map(|c| c.0).collect();
    Ok(PublicPolynomial::from_compressed_coefficients(&coefficients)?.params())
}

/// The taka identity of an enrolled name.
fn taka_identity(name: &IdentityName) -> Result<taka::Identity, DoctorError> {
    Ok(taka::Identity::new(name.as_str())?)
}

/// What a holding gateway released for one record, to be checked and opened.
pub struct Release<'a> {
    /// The gateway that served it.
    pub holder: &'a GatewayClient,
    /// Its hospital, as the chain names it.
    pub hospital: &'a IdentityName,
    /// The record asked for, and its index j there.
    pub record: RecordId,
    pub index: u64,
    /// The gateway's answer.
    pub served: &'a Served,
    /// The TAKA release the doctor opened from it.
    pub release: &'a RecordRelease,
}

/// A record received: checked against the release asked for and against hEMR on chain.
pub struct Received {
    pub record: RecordId,
    /// Its EMR index j at the holding hospital.
    pub index: u64,
    /// The holding hospital.
    pub hospital: IdentityName,
    /// The chain's release of the record (verified at [`Received::verified_at`]).
    pub released: Record,
    pub verified_at: FinalizedHeader,
    /// The blob the record came from.
    pub blob_hash: ContentHash,
    /// The `access.serve` transaction that logged the access on chain.
    pub access_tx: TxId,
    /// The record (a FHIR bundle), as the doctor released it.
    pub plaintext: Zeroizing<Vec<u8>>,
}

/// Checks `release` against the record asked for, fetches and opens the blob, and checks it
/// against the chain's hEMR (verified).
pub fn open_release(client: &Client, release: &Release<'_>) -> Result<Received, DoctorError> {
    let Release {
        record,
        index,
        release: taka_release,
        served,
        ..
    } = *release;
    if taka_release.record().get() != index || *taka_release.htxm() != record.0.0 {
        return Err(DoctorError::WrongRelease {
            released: taka_release.record().get(),
            htxm: hex::encode(taka_release.htxm()),
            index,
            record,
        });
    }
    let key: [u8; 32] = taka_release
        .emr()
        .try_into()
        .map_err(|_| DoctorError::BadRecordKey(taka_release.emr().len()))?;
    let blob_hash = served
        .blobs
        .iter()
        .find(|blob| blob.record == record && blob.index == index)
        .map(|blob| blob.blob_hash)
        .ok_or(DoctorError::NoBlob { record })?;
    let verified = client.read(&StateQuery::record(&record))?;
    let released = verified.value.ok_or(DoctorError::NotReleased { record })?;
    let blob = release.holder.blob(&blob_hash)?;
    let plaintext = open_sealed(&blob, key, released.patient, index, released.record_hash)?;
    Ok(Received {
        record,
        index,
        hospital: release.hospital.clone(),
        released,
        verified_at: verified.at,
        blob_hash,
        access_tx: served.access_tx,
        plaintext,
    })
}

/// The doctor acting: the chain key and the identity-based keys from enrolment.
#[derive(Clone, Copy)]
pub struct DoctorKeys<'a> {
    pub key: &'a PrivateKey,
    pub identity: &'a EntityKeys,
}

/// A break-glass access: whose record, how to find it, where to ask.
pub struct BreakGlass<'a> {
    /// The patient.
    pub patient: &'a Address,
    /// The patient's biometric template, which opens their emergency entry.
    pub template: &'a [u8],
    /// The doctor's own hospital's gateway (co-signs and files the emergency request).
    pub own: &'a GatewayClient,
    /// The gateway of the hospital holding the record.
    pub holder: &'a GatewayClient,
    /// How long to wait for the vouching key's transaction, if one is needed.
    pub wait: &'a WaitPolicy,
}

/// A break-glass access done: the emergency request on chain and the record received.
pub struct BrokenGlass {
    /// The doctor, as enrolled.
    pub doctor: IdentityName,
    /// The emergency request (tx_ur) the own hospital filed.
    pub emergency: EmergencyId,
    pub received: Received,
}

/// S3-emergency, the doctor's whole side:
///
/// 1. the patient's EMR entries come from the chain (verified); the first that opens with the
///    template names the record, its hospital and j. None opens: [`DoctorError::WrongTemplate`],
///    and nothing was sent;
/// 2. the doctor builds η (salted) and hUR, signs the emergency message with the BLS vouching
///    key derived from the chain key (registering it on chain first if the chain has another
///    or none), and the own hospital's gateway co-signs and files tx_ur;
/// 3. the holding hospital's gateway finds tx_ur, checks it, logs the break-glass access and
///    answers the TAKA emergency hello; the record is checked as every released record is
///    ([`open_release`]).
pub fn break_glass(
    client: &Client,
    doctor: DoctorKeys<'_>,
    request: &BreakGlass<'_>,
) -> Result<BrokenGlass, DoctorError> {
    let address = address_of(doctor.key);
    let me = identity_of(client, &address, Role::Doctor)?;
    let patient = identity_of(client, request.patient, Role::Patient)?;
    let patient_id = taka_identity(&patient.identity)?;

    let entry = open_entry(client, request.patient, &patient_id, request.template)?;
    let gate = *entry.gate().ok_or(DoctorError::Ungated)?;
    let record = RecordId(Hash32::from(*entry.htxm()));
    let released = client
        .read(&StateQuery::record(&record))?
        .value
        .ok_or(DoctorError::NotReleased { record })?;
    if released.patient != *request.patient {
        return Err(DoctorError::NotThePatients { record });
    }
    let holder_info = request.holder.info()?;
    if holder_info.hospital.as_str().as_bytes() != entry.hospital().as_bytes() {
        return Err(DoctorError::WrongHolder {
            named: String::from_utf8_lossy(entry.hospital().as_bytes()).into_owned(),
            url: request.holder.url().to_string(),
            answered: holder_info.hospital,
        });
    }

    let own_info = request.own.info()?;
    let vouching = client.ensure_vouching_key(doctor.key, request.wait)?;
    let eta = EmergencyRequest::new(patient_id, entry.record(), &mut OsRng);
    let hur = eta.hur();
    let issued_at_ms = now_ms();
    let message = emergency_message(
        client.light.chain_id(),
        &me.identity,
        &own_info.hospital,
        &record,
        &Hash32::from(hur),
        issued_at_ms,
    );
    let emergency = request.own.file_emergency(&EmergencyFiling {
        doctor: me.identity.clone(),
        record,
        hur,
        issued_at_ms,
        doctor_vouch: vouching.sign(&message),
    })?;

    let (pending, hello) = PendingEmergency::start(
        doctor.identity,
        entry.hospital().clone(),
        eta,
        emergency.0.0,
        &mut OsRng,
    );
    let gate_proof = emergency_gate_proof(&gate, &emergency.0.0, &taka_identity(&me.identity)?);
    let served = request.holder.emergency_access(
        &emergency,
        &hello,
        gate_proof,
        &DoctorSigner {
            key: doctor.key,
            chain_id: client.light.chain_id(),
            holder: &holder_info.hospital,
        },
    )?;
    let release = pending.open(
        doctor.identity,
        &HospitalResponse::from_bytes(&served.response)?,
    )?;
    let received = open_release(
        client,
        &Release {
            holder: request.holder,
            hospital: &holder_info.hospital,
            record,
            index: entry.record().get(),
            served: &served,
            release: &release,
        },
    )?;
    Ok(BrokenGlass {
        doctor: me.identity,
        emergency,
        received,
    })
}

/// The first of the patient's entries on chain (verified) that opens with `template`.
fn open_entry(
    client: &Client,
    patient: &Address,
    patient_id: &taka::Identity,
    template: &[u8],
) -> Result<EmrEntry, DoctorError> {
    let (entries, at) = client.list_all(&ListQuery::patient_entries(patient))?;
    entries
        .iter()
        .filter_map(|listed| EncryptedEntry::from_bytes(&listed.value.entry.0).ok())
        .find_map(|sealed| sealed.open(patient_id, template).ok())
        .ok_or_else(|| DoctorError::WrongTemplate {
            entries: entries.len(),
            at: Box::new(at),
        })
}

/// S3-release, the doctor's part on a chain with a MED chain: tx_mr for `bundle` about
/// `patient`, signed with the BLS vouching key derived from the chain key (registered on chain
/// first, with its proof of possession, if the chain holds another or none). The hospital
/// checks it against that key before batching it.
pub fn sign_med_release(
    client: &Client,
    chain_key: &PrivateKey,
    patient: Address,
    bundle: &[u8],
    wait: &WaitPolicy,
) -> Result<MedRelease, DoctorError> {
    let doctor = address_of(chain_key);
    let vouching = client.ensure_vouching_key(chain_key, wait)?;
    let tx = TxMr {
        doctor,
        patient,
        record_hash: ContentHash::of(bundle),
        issued_at_ms: now_ms(),
    };
    let signature = sign_release(client.light.chain_id(), &vouching, &tx);
    Ok(MedRelease { tx, signature })
}
