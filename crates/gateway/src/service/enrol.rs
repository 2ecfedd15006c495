//! S3-agree at the hospital: the patient's first visit. The hello is answered and the
//! hospital's half waits in memory (bounded, expiring) for the patient's key confirmation;
//! confirmed, the hospital's side of the enrolment — the initial factors of every record key —
//! is sealed ([`super::vault`]) into the patient's row of the EMR database.

use super::{Gateway, ServiceError, patient_row};
use crate::wire::{Enrolled, EnrolmentConfirm, EnrolmentHello, EnrolmentSession, EnrolmentStarted};
use medchain_types::{Address, IdentityName, Role};
use rand_core::OsRng;
use std::collections::HashMap;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// How long a hello waits for its confirmation.
pub(crate) const ENROLMENT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Most enrolments waiting for confirmation at once: each holds a few hundred bytes, and a
/// flood of hellos must not grow memory without bound.
pub(crate) const MAX_PENDING_ENROLMENTS: usize = 1024;

struct Waiting {
    pending: taka::PendingEnrolment,
    patient: Address,
    since: Instant,
}

/// Enrolments between hello and confirmation.
pub(crate) struct PendingEnrolments {
    sessions: HashMap<[u8; 16], Waiting>,
    capacity: usize,
}

impl Default for PendingEnrolments {
    fn default() -> Self {
        Self::with_capacity(MAX_PENDING_ENROLMENTS)
    }
}

impl PendingEnrolments {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            sessions: HashMap::new(),
            capacity,
        }
    }

    /// `Busy` when no more enrolments may wait (the expired ones dropped first): checked
    /// before a hello's chain read and pairing, so a flood of hellos costs little once full,
    /// and again on insertion.
    fn check_room(&mut self, now: Instant) -> Result<(), ServiceError> {
        self.sessions
            .retain(|_, w| now.duration_since(w.since) < ENROLMENT_TIMEOUT);
        if self.sessions.len() >= self.capacity {
            return Err(ServiceError::Busy);
        }
        Ok(())
    }

    fn insert(
        &mut self,
        session: [u8; 16],
        waiting: Waiting,
        now: Instant,
    ) -> Result<(), ServiceError> {
        self.check_room(now)?;
        self.sessions.insert(session, waiting);
        Ok(())
    }

    /// The session's enrolment, once: a confirmation consumes it.
    fn take(&mut self, session: &[u8; 16], now: Instant) -> Option<Waiting> {
        self.sessions
            .remove(session)
            .filter(|w| now.duration_since(w.since) < ENROLMENT_TIMEOUT)
    }
}

impl Gateway {
    /// `POST /v1/enrolments/hello`.
    pub(crate) fn enrol_hello(
        &self,
        request: EnrolmentHello,
    ) -> Result<EnrolmentStarted, ServiceError> {
        let hello =
            taka::Hello::from_bytes(&request.hello).map_err(|e| ServiceError::bad("hello", e))?;
        if !hello.is_enrolment() {
            return Err(ServiceError::bad(
                "hello",
                "this is a sharing hello, not an enrolment hello",
            ));
        }
        if hello.responder() != self.taka_identity() {
            return Err(ServiceError::bad(
                "hello",
                format!(
                    "addressed to {}, this hospital is {}",
                    hello.responder(),
                    self.taka_identity()
                ),
            ));
        }
        self.enrolments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check_room(Instant::now())?;
        let patient = self.patient_address(hello.initiator())?;
        // Enrolling again replaces the factors; records sealed under the old ones would no
        // longer be shareable, so a patient with records keeps the enrolment it has.
        let row = patient_row(&patient);
        if self.emr.enrolment(&row)?.is_some() && !self.emr.list_by_patient(&row)?.is_empty() {
            return Err(ServiceError::AlreadyEnrolled(patient));
        }
        let (reply, pending) = taka::respond_enrolment(&self.hospital.keys, &hello, &mut OsRng)
            .map_err(|e| ServiceError::bad("hello", e))?;
        let mut session = [0u8; 16];
        getrandom::fill(&mut session)
            .map_err(|e| ServiceError::Internal(format!("no randomness: {e}")))?;
        let waiting = Waiting {
            pending,
            patient,
            since: Instant::now(),
        };
        self.enrolments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session, waiting, Instant::now())?;
        Ok(EnrolmentStarted {
            session: EnrolmentSession(session),
            reply: reply.to_bytes(),
        })
    }

    /// `POST /v1/enrolments/confirm`.
    pub(crate) fn enrol_confirm(
        &self,
        request: EnrolmentConfirm,
    ) -> Result<Enrolled, ServiceError> {
        let confirmation = taka::EnrolmentConfirmation::from_bytes(&request.confirmation)
            .map_err(|e| ServiceError::bad("confirmation", e))?;
        let waiting = self
            .enrolments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(&request.session.0, Instant::now())
            .ok_or_else(|| ServiceError::UnknownSession(hex::encode(request.session.0)))?;
        let (_session_key, enrolment) = waiting
            .pending
            .confirm(&confirmation)
            .map_err(|e| ServiceError::bad("confirmation", e))?;
        let sealed = self
            .vault
            .seal(&waiting.patient, &enrolment.to_bytes())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.emr
            .set_enrolment(&patient_row(&waiting.patient), &sealed)?;
        tracing::info!(patient = %waiting.patient, "patient enrolled");
        Ok(Enrolled {
            patient: waiting.patient,
        })
    }

    /// The hospital's side of the patient's enrolment.
    pub(crate) fn enrolment(
        &self,
        patient: &Address,
    ) -> Result<taka::HospitalEnrolment, ServiceError> {
        let sealed = self
            .emr
            .enrolment(&patient_row(patient))?
            .ok_or(ServiceError::NotEnrolled(*patient))?;
        let bytes = self
            .vault
            .open(patient, &sealed)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        taka::HospitalEnrolment::from_bytes(&bytes)
            .map_err(|e| ServiceError::Internal(format!("a stored enrolment does not decode: {e}")))
    }

    /// The chain address of a patient identity, proven: the identity must be enrolled with
    /// the patient role.
    fn patient_address(&self, patient: &taka::Identity) -> Result<Address, ServiceError> {
        let name = chain_name(patient)?;
        match self.chain.identity(&name)? {
            Some(record) if record.role == Role::Patient => Ok(record.address),
            Some(record) => Err(ServiceError::Identity {
                identity: name,
                reason: format!("enrolled as a {:?}, not a patient", record.role),
            }),
            None => Err(ServiceError::Identity {
                identity: name,
                reason: "not enrolled on chain".into(),
            }),
        }
    }
}

/// The chain's name of a TAKA identity (the same bytes).
pub(crate) fn chain_name(identity: &taka::Identity) -> Result<IdentityName, ServiceError> {
    std::str::from_utf8(identity.as_bytes())
        .ok()
        .and_then(|text| IdentityName::new(text).ok())
        .ok_or_else(|| ServiceError::bad("identity", format!("{identity} is not a chain identity")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::address;

    /// A hospital's half of an enrolment, as a hello leaves it.
    fn waiting(since: Instant) -> Waiting {
        let pkg = taka::Pkg::setup(&mut OsRng);
        let keys = |name: &str| {
            let (pending, request) =
                taka::PendingRegistration::new(taka::Identity::new(name).unwrap(), &mut OsRng);
            let response = pkg.register(&request, &mut OsRng);
            pending.complete(pkg.params(), response).unwrap()
        };
        let (patient, hospital) = (keys("patient"), keys("hospital"));
        let (_, hello) =
            taka::Initiator::start_enrolment(&patient, hospital.id().clone(), &mut OsRng);
        let (_, pending) = taka::respond_enrolment(&hospital, &hello, &mut OsRng).unwrap();
        Waiting {
            pending,
            patient: address(1),
            since,
        }
    }

    #[test]
    fn pending_enrolments_are_bounded_expire_and_are_taken_once() {
        let start = Instant::now();
        let mut pending = PendingEnrolments::with_capacity(2);
        pending.insert([1; 16], waiting(start), start).unwrap();
        pending.insert([2; 16], waiting(start), start).unwrap();
        assert!(matches!(pending.check_room(start), Err(ServiceError::Busy)));
        assert!(matches!(
            pending.insert([3; 16], waiting(start), start),
            Err(ServiceError::Busy)
        ));
        assert!(pending.take(&[1; 16], start).is_some());
        assert!(pending.take(&[1; 16], start).is_none(), "taken once");
        pending.insert([3; 16], waiting(start), start).unwrap();

        // Expired ones are neither handed out nor counted against the bound.
        let later = start + ENROLMENT_TIMEOUT;
        pending.check_room(later).unwrap();
        assert!(pending.take(&[2; 16], later).is_none());
        pending.insert([4; 16], waiting(later), later).unwrap();
        pending.insert([5; 16], waiting(later), later).unwrap();
        assert!(pending.take(&[5; 16], later).is_some());
    }
}
