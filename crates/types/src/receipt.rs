//! Receipts: what executing a transaction did, for clients and auditors.

use crate::{Address, ConsentId, ContentHash, OrgKind, OrgName, OrgState, Purpose, RecordId, TxId};
use serde::{Deserialize, Serialize};

/// The outcome of one executed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The transaction.
    pub tx: TxId,
    /// Height of the block that executed it.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// What happened.
    pub events: Vec<Event>,
}

/// A state change (or decision) caused by a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Event {
    /// S2-register.
    OrgRegistered {
        /// Name.
        name: OrgName,
        /// Kind.
        kind: OrgKind,
        /// First member.
        founder: Address,
    },
    /// S2-state.
    OrgStateChanged {
        /// Name.
        name: OrgName,
        /// Previous state.
        from: OrgState,
        /// New state.
        to: OrgState,
    },
    /// An endorsed address joined an organisation.
    MemberJoined {
        /// Organisation.
        name: OrgName,
        /// New member.
        member: Address,
        /// Member who endorsed it.
        endorser: Address,
    },
    /// S1-release.
    RecordReleased {
        /// The record.
        record: RecordId,
        /// Patient pseudonym.
        patient: Address,
        /// Releasing doctor.
        doctor: Address,
        /// Doctor's organisation.
        hospital: OrgName,
    },
    /// S1-storage.
    RecordStored {
        /// The record.
        record: RecordId,
        /// Hash of the encrypted blob.
        blob_hash: ContentHash,
    },
    /// S1-sharing.
    ConsentGranted {
        /// The consent.
        consent: ConsentId,
        /// Granting patient.
        patient: Address,
        /// Grantee.
        grantee: Address,
    },
    /// S1-sharing.
    ConsentRevoked {
        /// The consent.
        consent: ConsentId,
    },
    /// S1-rights: a logged access decision.
    AccessDecided {
        /// The record.
        record: RecordId,
        /// Who asked.
        requester: Address,
        /// Why.
        purpose: Purpose,
        /// The answer.
        decision: AccessDecision,
    },
}

/// The chain's answer to an access request (deny by default, S1-rights).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AccessDecision {
    /// Allowed under this consent (or because the requester is the patient).
    Allowed {
        /// The consent relied on; `None` when the patient reads its own record.
        consent: Option<ConsentId>,
    },
    /// Denied.
    Denied {
        /// Why.
        reason: DenyReason,
    },
}

impl AccessDecision {
    /// Whether access was granted.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// Why access was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DenyReason {
    /// No live consent covers this requester, record and purpose.
    NoConsent,
    /// A consent existed but has expired.
    ConsentExpired,
    /// A consent existed but the patient revoked it.
    ConsentRevoked,
    /// The requester is not a member of an audited organisation (e.g. suspended).
    RequesterNotAudited,
}
