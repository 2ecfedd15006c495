//! The enrolment service (S3-register with a threshold PKG): this validator's side of key
//! extraction, served over the HTTP API.
//!
//! An enrollee first binds its identity to its chain address with an `identity.enrol`
//! transaction carrying L_U1 = x_U·P; once that is final it asks t validators for partial keys
//! in two rounds (FROST-style, see `taka::threshold`):
//!
//! 1. `POST /v1/pkg/commitments`: the node draws fresh one-time nonces, keeps them in a
//!    bounded [`nonces::NonceTable`] under (requester, session) and answers their commitment.
//! 2. `POST /v1/pkg/partial-keys`: the enrollee sends every chosen node the same extraction
//!    request (ID_U, L_U1, the t commitments); each node takes (consumes) its nonces and
//!    answers its partial key, sealed to the enrollee's L_U1 (only the holder of x_U opens it).
//!
//! Two rounds because the PKG's part of d_U = y_U + f·s is a Schnorr signature with nonce
//! y_U: each node's nonce share must be fixed before the nonce sum (and so f) is known, or a
//! requester choosing f after seeing the nonces could solve for the node's share of s.
//!
//! Every request is checked against the **finalized** state (the node's committed store): see
//! [`authorize`].

pub mod nonces;

use crate::pkg::ShareStore;
use medchain_api::{CommitmentView, PartialKeyView};
use medchain_state::{
    StateError, StateRead, StateReadExt as _, keys, registry::audited_org_of,
    values::IdentityRecord,
};
use medchain_types::{
    Address, IdentityName, OrgKind, Role,
    enrolment::{EnrolmentError, EnrolmentRequest},
};
use nonces::{NonceLimits, NonceTable, NonceTableError};
use std::{sync::Mutex, time::Instant};
use taka::{ExtractionRequest, MasterKeyShare, PublicPolynomial, SealedPartialKey, SigningNonces};

/// Why the node refuses an enrolment request. Each maps to an API error with what to do.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The signature, its freshness or the body size.
    #[error(transparent)]
    Request(#[from] EnrolmentError),
    /// The round-2 body is not an extraction request, or not for the signed identity.
    #[error("malformed extraction request: {0}")]
    Malformed(String),
    /// The validators' key generation has not completed (no `cfg/pkg` on chain yet).
    #[error("the threshold PKG is not set up yet")]
    PkgNotReady,
    /// This validator holds no share (its key generation has not finished here).
    #[error("this validator does not hold a master-key share")]
    NoShare,
    /// The stored share does not match the chain's public polynomial.
    #[error("this validator's master-key share does not match the chain's PKG")]
    ShareMismatch,
    /// No identity of that name is bound on the finalized chain.
    #[error("identity {0} is not enrolled on the finalized chain")]
    NotEnrolled(IdentityName),
    /// The identity is bound to another address than the signer's.
    #[error("identity {identity} is bound to {bound}, not to the requester {requester}")]
    BoundElsewhere {
        /// The identity.
        identity: IdentityName,
        /// The address it is bound to.
        bound: Address,
        /// Who signed the request.
        requester: Address,
    },
    /// A doctor or hospital whose address is no longer a member of its audited hospital.
    #[error(
        "{0} is a doctor or hospital identity whose address is not a member of its audited hospital"
    )]
    NotAuditedMember(IdentityName),
    /// The request's L_U1 is not the key part the identity was enrolled with.
    #[error("the request's L_U1 is not the key part {0} was enrolled with")]
    KeyPartMismatch(IdentityName),
    /// Round 2 without a round 1 from this node (or after its nonces were used or expired).
    #[error("no open commitment from this node for this requester and session")]
    UnknownSession,
    /// The nonce table's bounds.
    #[error(transparent)]
    Nonces(#[from] NonceTableError),
    /// taka refused to extract (e.g. not exactly t commitments, or not this node's).
    #[error("extraction refused: {0}")]
    Extraction(taka::Error),
    /// The node could not read its state.
    #[error("state: {0}")]
    State(String),
}

impl From<StateError> for Refusal {
    fn from(error: StateError) -> Self {
        Self::State(error.to_string())
    }
}

impl From<medchain_storage::StorageError> for Refusal {
    fn from(error: medchain_storage::StorageError) -> Self {
        Self::State(error.to_string())
    }
}

/// The enrolment service of one validator.
pub struct Enrolment {
    shares: ShareStore,
    validator: Address,
    nonces: Mutex<NonceTable<SigningNonces>>,
}

/// The threshold PKG as this node can use it: the chain's polynomial and this node's share,
/// checked against each other.
struct ThresholdPkg {
    polynomial: PublicPolynomial,
    share: MasterKeyShare,
}

impl Enrolment {
    /// The service of validator `validator`, answering with the share in `shares`.
    pub fn new(shares: ShareStore, validator: Address, limits: NonceLimits) -> Self {
        Self {
            shares,
            validator,
            nonces: Mutex::new(NonceTable::new(limits)),
        }
    }

    /// Open round-1 sessions (for metrics and tests).
    pub fn open_sessions(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, NonceTable<SigningNonces>> {
        // A panic while holding the lock cannot leave the table inconsistent for this use.
        self.nonces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Round 1: after the checks, fresh nonces for (requester, session) and their commitment.
    pub fn commit(
        &self,
        state: &impl StateRead,
        request: &EnrolmentRequest,
        now: Instant,
    ) -> Result<CommitmentView, Refusal> {
        let pkg = self.pkg(state)?;
        authorize(state, request)?;
        let (nonces, commitment) = pkg.share.commit(&mut rand_core_06::OsRng);
        self.table()
            .insert((request.requester, request.session), nonces, now)?;
        Ok(CommitmentView {
            x: commitment.x(),
            commitment: hex::encode(commitment.to_bytes()),
            validator: self.validator,
        })
    }

    /// Round 2: after the checks, this node's partial key for the extraction request in the
    /// body, sealed to its L_U1; the session's nonces are consumed.
    pub fn partial_key(
        &self,
        state: &impl StateRead,
        request: &EnrolmentRequest,
        now: Instant,
    ) -> Result<PartialKeyView, Refusal> {
        let pkg = self.pkg(state)?;
        let record = authorize(state, request)?;
        let extraction = ExtractionRequest::from_bytes(&request.body)
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        if extraction.id().as_bytes() != request.identity.as_str().as_bytes() {
            return Err(Refusal::Malformed(
                "the extraction request is for another identity than the signed one".into(),
            ));
        }
        if extraction.l_u1().to_compressed() != record.key_part.0 {
            return Err(Refusal::KeyPartMismatch(record.identity));
        }
        let nonces = self
            .table()
            .take(&(request.requester, request.session), now)
            .ok_or(Refusal::UnknownSession)?;
        let partial = pkg
            .share
            .extract(nonces, &extraction, &pkg.polynomial)
            .map_err(Refusal::Extraction)?;
        let sealed = SealedPartialKey::seal(&partial, &extraction, &mut rand_core_06::OsRng)
            .map_err(Refusal::Extraction)?;
        Ok(PartialKeyView {
            x: partial.x(),
            sealed: hex::encode(sealed.to_bytes()),
            validator: self.validator,
        })
    }

    fn pkg(&self, state: &impl StateRead) -> Result<ThresholdPkg, Refusal> {
        let pkg = state.value(&keys::pkg())?.ok_or(Refusal::PkgNotReady)?;
        let coefficients: Vec<[u8; 48]> = pkg.public_polynomial.iter().map(|c| c.0).collect();
        let polynomial = PublicPolynomial::from_compressed_coefficients(&coefficients)
            .map_err(|_| Refusal::State("the chain's public polynomial does not decode".into()))?;
        let (x, bytes) = self.shares.master_share().ok_or(Refusal::NoShare)?;
        let share = MasterKeyShare::from_be_bytes(x, &bytes).map_err(|_| Refusal::ShareMismatch)?;
        share
            .check(&polynomial)
            .map_err(|_| Refusal::ShareMismatch)?;
        Ok(ThresholdPkg { polynomial, share })
    }
}

/// Whether `request.requester` may obtain the keys of `request.identity`, decided on the
/// finalized state only.
///
/// This is what stops one party from obtaining another's keys. Identity-based keys are
/// extracted for a *name*; whoever holds them decrypts what is sealed to that name and signs as
/// it. So a node answers only for an identity whose `identity.enrol` transaction is final and
/// bound it to the very address that signed the request: the binding is first-come and
/// permanent (the state refuses a second binding of a name or of an address), so once Alice's
/// patient pseudonym or Dr Kim's name is bound to their address, nobody else's signature
/// passes here. Reading finalized state (never the mempool or an unfinalized block) means a
/// binding that could still be reorganised away never unlocks a key. Doctors and hospitals
/// must in addition still be members of the audited hospital organisation they enrolled
/// with: a doctor who left (or whose hospital was suspended) obtains no keys.
pub fn authorize(
    state: &impl StateRead,
    request: &EnrolmentRequest,
) -> Result<IdentityRecord, Refusal> {
    let record = state
        .value(&keys::identity(&request.identity))?
        .ok_or_else(|| Refusal::NotEnrolled(request.identity.clone()))?;
    if record.address != request.requester {
        return Err(Refusal::BoundElsewhere {
            identity: record.identity,
            bound: record.address,
            requester: request.requester,
        });
    }
    if record.role != Role::Patient {
        let member_of_its_hospital =
            audited_org_of(state, &request.requester)?.is_some_and(|org| {
                org.kind == OrgKind::Hospital && Some(&org.name) == record.org.as_ref()
            });
        if !member_of_its_hospital {
            return Err(Refusal::NotAuditedMember(record.identity));
        }
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::{self, Actor, World, org_name};
    use medchain_types::{ChainId, OrgState, enrolment::EnrolmentRoute};

    fn request(requester: &Actor, identity: &IdentityName) -> EnrolmentRequest {
        EnrolmentRequest {
            chain_id: ChainId::new("medchain-test".to_string()).unwrap(),
            route: EnrolmentRoute::Commitments,
            requester: requester.address,
            issued_at_ms: 0,
            session: [1; 16],
            identity: identity.clone(),
            body: Vec::new(),
        }
    }

    fn refusal_code(result: Result<IdentityRecord, Refusal>) -> String {
        match result {
            Ok(record) => panic!("authorized for {}", record.identity),
            Err(refusal) => format!("{refusal:?}"),
        }
    }

    #[test]
    fn a_patient_obtains_only_its_own_bound_pseudonym() {
        let mut world = World::new();
        let patient = Actor::new(40);
        let pseudonym = IdentityName::patient_pseudonym(&patient.address);
        // Not bound yet: refused.
        assert!(
            refusal_code(authorize(&world.store, &request(&patient, &pseudonym)))
                .starts_with("NotEnrolled")
        );
        world
            .run(
                &patient,
                testkit::enrol(
                    &pseudonym,
                    Role::Patient,
                    testkit::key_part_of(&patient.address),
                ),
            )
            .unwrap();
        let record = authorize(&world.store, &request(&patient, &pseudonym)).unwrap();
        assert_eq!(record.address, patient.address);
        // Anyone else asking for the patient's identity is refused, however it signs.
        let thief = Actor::new(41);
        assert!(
            refusal_code(authorize(&world.store, &request(&thief, &pseudonym)))
                .starts_with("BoundElsewhere")
        );
    }

    #[test]
    fn a_doctor_obtains_keys_only_while_a_member_of_its_audited_hospital() {
        let mut world = World::new();
        let hospital = org_name("Seoul General");
        let doctor = Actor::new(1);
        world.audited_org(&doctor, &hospital, OrgKind::Hospital);
        world.run(&doctor, testkit::enrol_doctor(&doctor)).unwrap();
        let name = testkit::doctor_identity(&doctor);
        authorize(&world.store, &request(&doctor, &name)).unwrap();

        // The regulator suspends the hospital: its doctors obtain no keys.
        let regulator = world.regulator.clone();
        world
            .run(
                &regulator,
                testkit::set_state(&hospital, OrgState::Suspended),
            )
            .unwrap();
        assert!(
            refusal_code(authorize(&world.store, &request(&doctor, &name)))
                .starts_with("NotAuditedMember")
        );
    }
}
