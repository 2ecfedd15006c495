//! The storage benches' transaction mix, shared by `throughput` (per-block cost) and `restart`
//! (a long history to reopen): blocks of 10,000 transactions, a quarter each of release,
//! store, grant and access request, after a few setup blocks that make the actors able to.

use medchain_state::testkit::{
    Actor, HospitalDesk, doctor_identity, enrol_doctor, grant, issue_licence, join, org_name,
    register, release, request, set_state, store,
};
use medchain_types::{
    Address, ContentHash, Expiry, OrgKind, OrgState, Payload, Purpose, RecordId,
    VerifiedTransaction,
};
use std::collections::HashMap;

/// Transactions in each mixed block.
pub const TXS_PER_BLOCK: usize = 10_000;
const QUARTER: usize = TXS_PER_BLOCK / 4;
/// The first doctor's key seed: a doctor has an account in every history this builds.
pub const FIRST_DOCTOR_SEED: u64 = 10;
const DOCTORS: u64 = 40;
const GRANTEES: u64 = 40;

/// Signs transactions with the right nonces and remembers who released what.
pub struct Workload {
    nonces: HashMap<Address, u64>,
    doctors: Vec<Actor>,
    grantees: Vec<Actor>,
    /// Records released per block, with their patients.
    released: Vec<Vec<(RecordId, Actor)>>,
    next_patient: u64,
}

impl Workload {
    /// Doctors and grantees with fixed seeds, so every run signs the same transactions.
    pub fn new() -> Self {
        Self {
            nonces: HashMap::new(),
            doctors: (0..DOCTORS)
                .map(|i| Actor::new(FIRST_DOCTOR_SEED + i))
                .collect(),
            grantees: (0..GRANTEES).map(|i| Actor::new(10_000 + i)).collect(),
            released: Vec::new(),
            next_patient: 0,
        }
    }

    fn sign(&mut self, actor: &Actor, payload: Payload) -> VerifiedTransaction {
        let nonce = self.nonces.entry(actor.address).or_insert(0);
        let tx = actor.sign(*nonce, payload);
        *nonce += 1;
        tx
    }

    /// Setup blocks: two audited orgs, doctors and grantees joined, doctors licensed.
    pub fn setup_blocks(&mut self) -> Vec<Vec<VerifiedTransaction>> {
        let regulator = Actor::new(0);
        let (hospital, lab) = (org_name("Seoul General"), org_name("Genome Lab"));
        let (doctor_0, grantee_0) = (self.doctors[0].clone(), self.grantees[0].clone());
        let registrations = vec![
            self.sign(&doctor_0, register(&hospital, OrgKind::Hospital)),
            self.sign(&grantee_0, register(&lab, OrgKind::Research)),
        ];
        let audits = vec![
            self.sign(&regulator, set_state(&hospital, OrgState::Audited)),
            self.sign(&regulator, set_state(&lab, OrgState::Audited)),
        ];
        let mut joins = Vec::new();
        for (members, org) in [
            (self.doctors.clone(), &hospital),
            (self.grantees.clone(), &lab),
        ] {
            for member in &members[1..] {
                joins.push(self.sign(member, join(org, &members[0], member)));
            }
        }
        // Releasing needs a licence: the hospital's desk opens, every doctor enrols, then the
        // desk licenses them.
        let desk = HospitalDesk::of(&hospital);
        let mut enrolments: Vec<VerifiedTransaction> = desk
            .opening(&hospital, &doctor_0)
            .into_iter()
            .map(|payload| self.sign(&desk.actor, payload))
            .collect();
        for doctor in self.doctors.clone() {
            enrolments.push(self.sign(&doctor, enrol_doctor(&doctor)));
        }
        let licences = self
            .doctors
            .clone()
            .iter()
            .map(|doctor| {
                self.sign(
                    &desk.actor,
                    issue_licence(&doctor_identity(doctor), u64::MAX),
                )
            })
            .collect();
        vec![registrations, audits, joins, enrolments, licences]
    }

    /// The next measured-kind block: releases to new patients, stores and grants by the
    /// patients of the previous block's records, requests for the records granted before.
    pub fn mixed_block(&mut self, height: u64) -> Vec<VerifiedTransaction> {
        let mut txs = Vec::with_capacity(TXS_PER_BLOCK);
        let mut released = Vec::with_capacity(QUARTER);
        for i in 0..QUARTER {
            let doctor = self.doctors[i % self.doctors.len()].clone();
            let patient = Actor::new(1_000_000 + self.next_patient);
            self.next_patient += 1;
            let tx = self.sign(
                &doctor,
                release(
                    &doctor,
                    &patient.address,
                    &ContentHash::of(&self.next_patient.to_be_bytes()),
                ),
            );
            released.push((RecordId::from(tx.id()), patient));
            txs.push(tx);
        }
        if let Some(previous) = self.released.last().cloned() {
            for (i, (record, patient)) in previous.iter().enumerate() {
                let grantee = self.grantees[i % self.grantees.len()].address;
                txs.push(self.sign(
                    patient,
                    store(
                        record,
                        &ContentHash::of(record.as_bytes()),
                        "s3://bucket/blob",
                    ),
                ));
                txs.push(self.sign(
                    patient,
                    grant(
                        &grantee,
                        &[*record],
                        Purpose::Research,
                        Expiry::AtHeight(height + 1_000),
                    ),
                ));
            }
        }
        if self.released.len() >= 2 {
            let granted = self.released[self.released.len() - 2].clone();
            for (i, (record, _)) in granted.iter().enumerate() {
                let grantee = self.grantees[i % self.grantees.len()].clone();
                txs.push(self.sign(&grantee, request(record, Purpose::Research)));
            }
        }
        self.released.push(released);
        txs
    }
}
