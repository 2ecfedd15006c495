//! A patient opening their own records (S1-storage, S3-agree), for every front end that does
//! it: `medchain patient records` and the portal.
//!
//! The hospital's gateway is trusted for nothing. It says which index j a record has (a wrong
//! j gives a key that does not open the blob) and serves the blob the chain's storage pointer
//! names (checked against its hash by [`GatewayClient::blob`]); the record key comes from the
//! patient's own enrolment at that hospital (factor j), and the opened record must hash to the
//! hEMR the chain holds. The chain reads — the record, its storage pointer, the hospital
//! identities — are the caller's, made with its verifying light client, so that what it shows
//! names the finalized header they were verified at.
//!
//! The same holds for a record's commitment opening (issue 12,
//! [`HospitalRecords::fetch_opening`]): the gateway serves it sealed, the patient opens it
//! under a key derived from its own record key, and the opening must commit to exactly the
//! commitment the chain holds as attested for the record — a gateway handing out another
//! opening (of a commitment never attested, or of another record) is caught.

use crate::{
    blobs::{OpeningBinding, RecordBinding, RecordKey, SealError, SealedOpening, SealedRecord},
    client::{GatewayClient, GatewayClientError},
    wire::HeldRecord,
};
use medchain_state::values::{Attestation, Record, StoragePointer};
use medchain_types::{
    Address, ContentHash, Hash32, IdentityName, OrgName, RecordId,
    keyfile::{HospitalLink, Wallet},
};
use std::collections::HashMap;
use taka::{PatientEnrolment, RecordIndex};
use zeroize::Zeroizing;

/// Why one of the patient's records could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenRecordError {
    /// The record was released for another patient.
    #[error("record {record} is not yours: it was released for {patient}")]
    NotYours { record: RecordId, patient: Address },
    /// The enrolment kept in the wallet does not decode.
    #[error("the wallet's enrolment at {hospital} is unusable: {source}")]
    Enrolment {
        hospital: IdentityName,
        source: taka::Error,
    },
    /// The gateway failed or refused.
    #[error(transparent)]
    Gateway(#[from] GatewayClientError),
    /// The gateway does not list the record for this patient.
    #[error("the gateway of {hospital} does not list this record (it lists records once stored)")]
    NotHeld { hospital: IdentityName },
    /// The chain holds no storage pointer for the record.
    #[error("no storage pointer on chain yet (gateway state: {state})")]
    NotStored { state: String },
    /// The gateway named an index no record can have.
    #[error("the gateway names index {index} for the record: {source}")]
    BadIndex { index: u64, source: taka::Error },
    /// The blob does not open with the record key, or does not hash to the chain's hEMR.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The chain holds no attested commitment for the record.
    #[error("record {record} has no attested commitment on chain")]
    NotAttested { record: RecordId },
    /// The opened bytes are not a commitment opening.
    #[error("the opening of record {record} does not decode: {source}")]
    BadOpening {
        record: RecordId,
        source: zk::ZkError,
    },
    /// The opening opened, but commits to another value than the chain's attested commitment:
    /// the gateway served an opening the hospital did not attest.
    #[error(
        "the gateway's opening of record {record} commits to {served}, but the chain attests {attested}"
    )]
    WrongOpening {
        record: RecordId,
        attested: Hash32,
        served: Hash32,
    },
}

/// The wallet's enrolment at the hospital organisation `org`: the link whose hospital identity
/// `org_of` (the caller's verified read of that identity, `None` unless it is an enrolled
/// hospital) places in `org`. `None` when the patient is not enrolled there.
pub fn link_for_org<'w, E>(
    wallet: &'w Wallet,
    org: &OrgName,
    mut org_of: impl FnMut(&IdentityName) -> Result<Option<OrgName>, E>,
) -> Result<Option<&'w HospitalLink>, E> {
    for link in &wallet.enrolments {
        if org_of(&link.hospital)?.as_ref() == Some(org) {
            return Ok(Some(link));
        }
    }
    Ok(None)
}

/// What the gateway of one hospital holds for the patient, and the enrolment that opens it.
pub struct HospitalRecords<'w> {
    link: &'w HospitalLink,
    patient: Address,
    gateway: GatewayClient,
    held: HashMap<RecordId, HeldRecord>,
    enrolment: PatientEnrolment,
}

impl<'w> HospitalRecords<'w> {
    /// Asks the gateway `link` names which of `patient`'s records it holds (one request).
    pub fn connect(link: &'w HospitalLink, patient: Address) -> Result<Self, OpenRecordError> {
        let enrolment = PatientEnrolment::from_bytes(&link.enrolment.0).map_err(|source| {
            OpenRecordError::Enrolment {
                hospital: link.hospital.clone(),
                source,
            }
        })?;
        let gateway = GatewayClient::new(&link.gateway)?;
        let held = gateway
            .patient_records(&patient)?
            .into_iter()
            .map(|held| (held.record, held))
            .collect();
        Ok(Self {
            link,
            patient,
            gateway,
            held,
            enrolment,
        })
    }

    /// The hospital's identity.
    pub fn hospital(&self) -> &IdentityName {
        &self.link.hospital
    }

    /// The gateway's URL.
    pub fn gateway_url(&self) -> &str {
        self.gateway.url()
    }

    /// What the gateway says of `record`: its index j and state (unverified: a wrong j only
    /// makes [`Self::open`] fail).
    pub fn held(&self, record: &RecordId) -> Result<&HeldRecord, OpenRecordError> {
        self.held
            .get(record)
            .ok_or_else(|| OpenRecordError::NotHeld {
                hospital: self.link.hospital.clone(),
            })
    }

    /// Fetches the blob `pointer` (the chain's, verified) names and opens it as record
    /// `held.index` with the key of factor j; `record` is the chain's release (verified), whose
    /// hEMR the plaintext must hash to.
    pub fn open(
        &self,
        held: &HeldRecord,
        record: &Record,
        pointer: Option<&StoragePointer>,
    ) -> Result<Zeroizing<Vec<u8>>, OpenRecordError> {
        if record.patient != self.patient {
            return Err(OpenRecordError::NotYours {
                record: held.record,
                patient: record.patient,
            });
        }
        let pointer = pointer.ok_or_else(|| OpenRecordError::NotStored {
            state: held.state.clone(),
        })?;
        let blob = self.gateway.blob(&pointer.blob_hash)?;
        let j = RecordIndex::new(held.index).map_err(|source| OpenRecordError::BadIndex {
            index: held.index,
            source,
        })?;
        let key = self.enrolment.factors().factor(j).record_key();
        Ok(open_sealed(
            &blob,
            *key,
            self.patient,
            held.index,
            record.record_hash,
        )?)
    }
}

impl HospitalRecords<'_> {
    /// Issue 12: fetches the sealed commitment opening of `held`'s record, opens it with the
    /// opening key of factor j (derived from the record key, as the gateway sealed it) and
    /// checks it commits to `attestation` — the chain's attestation of the record, the
    /// caller's verified read (`StateQuery::attestation`; `None`: proven absent). Returns the
    /// opening the patient proves eligibility with.
    pub fn fetch_opening(
        &self,
        held: &HeldRecord,
        attestation: Option<&Attestation>,
    ) -> Result<zk::RecordOpening, OpenRecordError> {
        let attestation = attestation.ok_or(OpenRecordError::NotAttested {
            record: held.record,
        })?;
        let sealed = self.gateway.sealed_opening(&held.record)?;
        let j = RecordIndex::new(held.index).map_err(|source| OpenRecordError::BadIndex {
            index: held.index,
            source,
        })?;
        let key = self.enrolment.factors().factor(j).record_key();
        open_opening(
            &sealed,
            *key,
            self.patient,
            held.record,
            &attestation.commitment,
        )
    }
}

/// Opens a sealed commitment opening of `record` of `patient` with the record's key (the
/// opening key is derived from it) and checks that it commits to `attested`, the chain's
/// attested commitment.
pub fn open_opening(
    sealed: &[u8],
    record_key: [u8; 32],
    patient: Address,
    record: RecordId,
    attested: &Hash32,
) -> Result<zk::RecordOpening, OpenRecordError> {
    let key = RecordKey::new(record_key).opening_key();
    let bytes =
        SealedOpening::from_bytes(sealed)?.open(&key, &OpeningBinding { patient, record })?;
    let bad_opening = |source| OpenRecordError::BadOpening { record, source };
    let opening = zk::RecordOpening::from_bytes(&bytes).map_err(bad_opening)?;
    let served = Hash32::from(opening.commit().map_err(bad_opening)?.to_bytes());
    if served != *attested {
        return Err(OpenRecordError::WrongOpening {
            record,
            attested: *attested,
            served,
        });
    }
    Ok(opening)
}

/// Opens a sealed blob as record `index` of `patient` with hEMR `record_hash`: the envelope
/// authenticates only under the record key and that binding, and the plaintext must hash to
/// `record_hash` (the chain's).
pub fn open_sealed(
    blob: &[u8],
    key: [u8; 32],
    patient: Address,
    index: u64,
    record_hash: ContentHash,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let binding = RecordBinding {
        patient,
        index,
        record_hash,
    };
    SealedRecord::from_bytes(blob)?.open(&RecordKey::new(key), &binding)
}
