//! Enrolment (S3-register with the validators' threshold PKG; S4-ca for patients): bind an
//! identity to this key's address on chain, then obtain its identity-based keys from t
//! validators, none of whom holds the master secret.
//!
//! 1. **Bind.** An `identity.enrol` transaction carries the identity, the role and
//!    L_U1 = x_U·P; it must be final before any validator answers (the validators check the
//!    binding on finalized state: that is what keeps one party from obtaining another's keys).
//! 2. **PKG.** The public polynomial (P_pub first) and the threshold t are read from `cfg/pkg`
//!    and verified against a finalized header like every other answer.
//! 3. **Round 1.** Every validator given is asked for a nonce commitment; the first t that
//!    answer are chosen.
//! 4. **Round 2.** The t chosen validators get the same extraction request and answer partial
//!    keys sealed to L_U1, which only the holder of x_U opens.
//! 5. **Combine.** taka combines the partials and checks the keys against P_pub; if they fail,
//!    each partial is checked against its node's public share and the culprit is named. An
//!    enrolment that meets a faulty or unreachable validator starts again without it while t
//!    others remain, and reports it.
//!
//! x_U is derived from the chain key and the identity (as deterministic signature nonces are),
//! so running the enrolment again after a crash between the binding and the extraction finds
//! the same L_U1 on chain and finishes, instead of leaving an identity bound to a key part
//! whose secret was lost.

use crate::{Client, ClientError, NodeClient, WaitPolicy};
use commonware_codec::Encode as _;
use commonware_cryptography::Hasher as _;
use medchain_api::EnrolmentRequestView;
use medchain_state::values::PkgState;
use medchain_types::{
    Address, ChainId, G1Point, IdentityName, IdentityPayload, Payload, PrivateKey, Role,
    enrolment::{EnrolmentRequest, EnrolmentRoute, SESSION_LEN},
};
use rand::RngExt as _;
use rand_chacha_03::{ChaCha20Rng, rand_core::SeedableRng as _};
use std::{
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use taka::{
    EntityKeys, ExtractionRequest, Identity, NonceCommitment, PendingRegistration,
    PublicPolynomial, RegistrationRequest, SealedPartialKey,
};
use zeroize::Zeroizing;

/// Why an enrolment did not complete.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    /// Talking to the chain failed (node unreachable, refused, unverifiable).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The identity is bound to another address (proven on chain).
    #[error("identity {identity} is bound to {address}, not to this key; choose another identity")]
    BoundElsewhere {
        /// The identity.
        identity: IdentityName,
        /// The address it is bound to.
        address: Address,
    },
    /// This key's address is bound to another identity (proven on chain).
    #[error("this key is already enrolled as {0}; an address holds one identity")]
    AddressEnrolled(IdentityName),
    /// The identity is bound to this address with another key part than this key derives.
    #[error(
        "identity {0} is bound to this address with another key part: it was enrolled with another identity-key secret, which this key file cannot reproduce"
    )]
    KeyPartMismatch(IdentityName),
    /// The validators' key generation has not completed (proven absent).
    #[error(
        "the threshold PKG is not set up yet (no cfg/pkg at the finalized height): the validators' key generation runs when the network starts; retry in a few seconds"
    )]
    PkgNotReady,
    /// Fewer than t validators answered usefully.
    #[error("{got} of the {need} validators needed answered; {}", describe(.failures))]
    NotEnoughNodes {
        /// The threshold t.
        need: usize,
        /// Validators that answered usefully.
        got: usize,
        /// The others, and why.
        failures: Vec<NodeFault>,
    },
    /// The identity is not a valid taka identity.
    #[error("identity-based keys: {0}")]
    Taka(#[from] taka::Error),
}

/// A validator that did not help, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFault {
    /// The validator's API URL.
    pub node: String,
    /// What went wrong (unreachable, refused, or a partial key that fails its checks).
    pub reason: String,
}

fn describe(failures: &[NodeFault]) -> String {
    if failures.is_empty() {
        return "no validator endpoints were given (--pkg-node URL)".into();
    }
    failures
        .iter()
        .map(|fault| format!("{}: {}", fault.node, fault.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A completed enrolment.
pub struct Enrolled {
    /// The identity.
    pub identity: IdentityName,
    /// The keys, checked against P_pub (encode with [`EntityKeys::to_bytes`] to store them).
    pub keys: EntityKeys,
    /// The height the binding was final at (sent now or found on chain).
    pub bound_at: u64,
    /// Whether this run sent the binding transaction (false: it was on chain already).
    pub sent_binding: bool,
    /// The validators whose partial keys were combined.
    pub answered_by: Vec<String>,
    /// Validators left out along the way (unreachable, refusing, or faulty), and why.
    pub faults: Vec<NodeFault>,
    /// The threshold t.
    pub threshold: usize,
}

/// What [`enrol_identity`] needs.
pub struct Enrolment<'a> {
    /// A verifying client for the chain.
    pub client: &'a Client,
    /// The chain key the identity is bound to.
    pub key: &'a PrivateKey,
    /// The identity (a patient's is [`IdentityName::patient_pseudonym`] of the key's address).
    pub identity: IdentityName,
    /// Patient, doctor or hospital.
    pub role: Role,
    /// The validators' APIs to ask for partial keys (at least t of them).
    pub pkg_nodes: &'a [NodeClient],
    /// How long to wait for the binding to be final.
    pub wait: WaitPolicy,
}

/// Binds the identity (unless it is bound to this key already), then extracts its keys from
/// the validators. See the module documentation.
pub fn enrol_identity(enrolment: &Enrolment<'_>) -> Result<Enrolled, EnrolError> {
    let client = enrolment.client;
    let address = Address::from(commonware_cryptography::Signer::public_key(enrolment.key));
    let (_, registration) = registration(enrolment.key, &enrolment.identity)?;
    let key_part = G1Point(registration.l1().to_compressed());
    let (bound_at, sent_binding) = bind(enrolment, &address, key_part)?;
    await_binding_everywhere(enrolment.pkg_nodes, bound_at);
    let pkg = client
        .read(&crate::StateQuery::pkg())?
        .value
        .ok_or(EnrolError::PkgNotReady)?;
    let polynomial = polynomial(&pkg)?;
    let chain_id = client.light.chain_id().clone();
    let mut extraction = Extraction {
        enrolment,
        chain_id,
        address,
        polynomial,
        excluded: Vec::new(),
        faults: Vec::new(),
    };
    let (keys, answered_by) = extraction.run()?;
    Ok(Enrolled {
        identity: enrolment.identity.clone(),
        keys,
        bound_at,
        sent_binding,
        answered_by,
        faults: extraction.faults,
        threshold: pkg.threshold as usize,
    })
}

/// How long a validator may lag behind the block that made the binding final before the
/// extraction asks it anyway (and counts its refusal as a fault).
const BINDING_LAG_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until every validator to be asked has applied the block at `height`. The binding was
/// confirmed by one node; the others apply the same finalized block moments later, and a
/// validator asked before that answers "not enrolled" — a spurious fault that could leave
/// fewer than t validators. A validator still behind after [`BINDING_LAG_TIMEOUT`], or not
/// answering at all, is asked anyway.
fn await_binding_everywhere(nodes: &[NodeClient], height: u64) {
    let deadline = Instant::now() + BINDING_LAG_TIMEOUT;
    for node in nodes {
        // An unreachable node is not waited for: the extraction leaves it out anyway.
        while Instant::now() < deadline && node.status().is_ok_and(|status| status.height < height)
        {
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The registration of `identity` under `key`: x_U drawn from a generator seeded by the chain
/// key and the identity, so it is the same on every run.
fn registration(
    key: &PrivateKey,
    identity: &IdentityName,
) -> Result<(PendingRegistration, RegistrationRequest), EnrolError> {
    let seed = Zeroizing::new(
        commonware_cryptography::Sha256::hash(&[
            b"_MEDCHAIN_IDENTITY_KEY_PART_V1",
            &Zeroizing::new(key.encode().to_vec()),
            identity.as_str().as_bytes(),
        ])
        .0,
    );
    let mut rng = ChaCha20Rng::from_seed(*seed);
    Ok(PendingRegistration::new(
        Identity::new(identity.as_str())?,
        &mut rng,
    ))
}

/// Makes sure `identity` is bound to `address` with `key_part` on the finalized chain, sending
/// the binding if it is not there yet. Returns the height it is final at and whether it was
/// sent now.
fn bind(
    enrolment: &Enrolment<'_>,
    address: &Address,
    key_part: G1Point,
) -> Result<(u64, bool), EnrolError> {
    let client = enrolment.client;
    let identity = &enrolment.identity;
    let bound = client.read(&crate::StateQuery::identity(identity))?;
    if let Some(record) = bound.value {
        if record.address != *address {
            return Err(EnrolError::BoundElsewhere {
                identity: identity.clone(),
                address: record.address,
            });
        }
        if record.key_part != key_part {
            return Err(EnrolError::KeyPartMismatch(identity.clone()));
        }
        return Ok((bound.at.header.height, false));
    }
    if let Some(other) = client.read(&crate::StateQuery::identity_of(address))?.value {
        return Err(EnrolError::AddressEnrolled(other));
    }
    let payload = Payload::Identity(IdentityPayload::Enrol {
        identity: identity.clone(),
        role: enrolment.role,
        key_part,
    });
    let sent = client
        .signer(enrolment.key.clone())
        .send(payload, Some(&enrolment.wait))?;
    // Waiting was asked for, so the binding comes back confirmed (final) or as an error.
    let height = sent.confirmed.map_or_else(
        || bound.at.header.height,
        |confirmed| confirmed.receipt.height,
    );
    Ok((height, true))
}

fn polynomial(pkg: &PkgState) -> Result<PublicPolynomial, EnrolError> {
    let coefficients: Vec<[u8; 48]> = pkg.public_polynomial.iter().map(|c| c.0).collect();
    Ok(PublicPolynomial::from_compressed_coefficients(
        &coefficients,
    )?)
}

/// The extraction rounds, restarted without any validator that failed.
struct Extraction<'e, 'a> {
    enrolment: &'e Enrolment<'a>,
    chain_id: ChainId,
    address: Address,
    polynomial: PublicPolynomial,
    /// Indices into `pkg_nodes` left out.
    excluded: Vec<usize>,
    faults: Vec<NodeFault>,
}

/// How an attempt ended when it did not produce keys.
enum Retry {
    /// Validator `index` failed: leave it out and try again.
    Without(usize, String),
    /// Give up.
    Fail(EnrolError),
}

impl Extraction<'_, '_> {
    fn run(&mut self) -> Result<(EntityKeys, Vec<String>), EnrolError> {
        let nodes = self.enrolment.pkg_nodes;
        loop {
            match self.attempt() {
                Ok(done) => return Ok(done),
                Err(Retry::Fail(error)) => return Err(error),
                Err(Retry::Without(index, reason)) => {
                    self.fault(index, reason);
                    let left = nodes.len() - self.excluded.len();
                    if left < self.polynomial.threshold() {
                        return Err(self.not_enough(left));
                    }
                }
            }
        }
    }

    fn fault(&mut self, index: usize, reason: String) {
        self.excluded.push(index);
        self.faults.push(NodeFault {
            node: self.enrolment.pkg_nodes[index].url().to_string(),
            reason,
        });
    }

    fn not_enough(&self, got: usize) -> EnrolError {
        EnrolError::NotEnoughNodes {
            need: self.polynomial.threshold(),
            got,
            failures: self.faults.clone(),
        }
    }

    /// One run of both rounds with a fresh session.
    fn attempt(&mut self) -> Result<(EntityKeys, Vec<String>), Retry> {
        let need = self.polynomial.threshold();
        let session: [u8; SESSION_LEN] = rand::rng().random();
        let (chain_id, address) = (self.chain_id.clone(), self.address);
        let identity = self.enrolment.identity.clone();
        let request = |route, body: Vec<u8>| EnrolmentRequest {
            chain_id: chain_id.clone(),
            route,
            requester: address,
            issued_at_ms: now_ms(),
            session,
            identity: identity.clone(),
            body,
        };

        // Round 1: ask every candidate; keep the first t answers (distinct points).
        let candidates: Vec<usize> = (0..self.enrolment.pkg_nodes.len())
            .filter(|index| !self.excluded.contains(index))
            .collect();
        let round_one = self.ask(
            &candidates,
            &request(EnrolmentRoute::Commitments, Vec::new()),
            |node, view| {
                let answer = node.pkg_commitment(view).map_err(|e| e.to_string())?;
                decode_commitment(&answer.commitment, answer.x)
            },
        );
        let mut chosen: Vec<(usize, NonceCommitment)> = Vec::new();
        for (index, answer) in round_one {
            match answer {
                Ok(commitment) if chosen.len() < need => {
                    if chosen.iter().any(|(_, c)| c.x() == commitment.x()) {
                        self.fault(
                            index,
                            format!(
                                "it committed as x = {}, like another validator",
                                commitment.x()
                            ),
                        );
                    } else {
                        chosen.push((index, commitment));
                    }
                }
                // More than t answered: the spare commitment is simply not used.
                Ok(_) => {}
                Err(reason) => self.fault(index, reason),
            }
        }
        if chosen.len() < need {
            return Err(Retry::Fail(self.not_enough(chosen.len())));
        }

        // Round 2: the same extraction request to the t chosen, answers sealed to L_U1.
        let (pending, registration) =
            registration(self.enrolment.key, &self.enrolment.identity).map_err(Retry::Fail)?;
        let extraction =
            ExtractionRequest::new(&registration, chosen.iter().map(|(_, c)| *c).collect())
                .map_err(|e| Retry::Fail(e.into()))?;
        let signed = request(EnrolmentRoute::PartialKeys, extraction.to_bytes());
        let indices: Vec<usize> = chosen.iter().map(|(index, _)| *index).collect();
        let answers = self.ask(&indices, &signed, |node, view| {
            let answer = node.pkg_partial_key(view).map_err(|e| e.to_string())?;
            hex::decode(&answer.sealed)
                .ok()
                .and_then(|bytes| SealedPartialKey::from_bytes(&bytes).ok())
                .filter(|sealed| sealed.x() == answer.x)
                .ok_or_else(|| "its sealed partial key does not decode".to_string())?
                .open(&pending, &extraction)
                .map_err(|e| format!("its sealed partial key does not open: {e}"))
        });
        let mut partials = Vec::with_capacity(need);
        for ((index, commitment), (_, answer)) in chosen.iter().zip(answers) {
            let partial = answer.map_err(|reason| Retry::Without(*index, reason))?;
            if partial.x() != commitment.x() {
                return Err(Retry::Without(
                    *index,
                    format!(
                        "it answered as x = {}, committed as x = {}",
                        partial.x(),
                        commitment.x()
                    ),
                ));
            }
            partials.push(partial);
        }

        // Combine and check; a bad partial is named by its point, mapped back to its node.
        match pending.complete_threshold(&self.polynomial, &extraction, partials) {
            Ok(keys) => Ok((
                keys,
                indices
                    .iter()
                    .map(|&index| self.enrolment.pkg_nodes[index].url().to_string())
                    .collect(),
            )),
            Err(taka::Error::BadPartialKey { x }) => {
                match chosen.iter().find(|(_, c)| c.x() == x) {
                    Some((index, _)) => Err(Retry::Without(
                        *index,
                        format!(
                            "its partial key (x = {x}) fails the check against its public share: the validator is faulty or malicious"
                        ),
                    )),
                    None => Err(Retry::Fail(taka::Error::BadPartialKey { x }.into())),
                }
            }
            Err(error) => Err(Retry::Fail(error.into())),
        }
    }

    /// Sends `request`, signed, to the validators at `indices` in parallel; their answers
    /// through `call`, in `indices` order.
    fn ask<T: Send>(
        &self,
        indices: &[usize],
        request: &EnrolmentRequest,
        call: impl Fn(&NodeClient, &EnrolmentRequestView) -> Result<T, String> + Sync,
    ) -> Vec<(usize, Result<T, String>)> {
        let view = EnrolmentRequestView::signed(request, self.enrolment.key);
        let nodes = self.enrolment.pkg_nodes;
        thread::scope(|scope| {
            let handles: Vec<_> = indices
                .iter()
                .map(|&index| {
                    let (call, view) = (&call, &view);
                    (index, scope.spawn(move || call(&nodes[index], view)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(index, handle)| {
                    let answer = handle
                        .join()
                        .unwrap_or_else(|_| Err("the request thread panicked".to_string()));
                    (index, answer)
                })
                .collect()
        })
    }
}

fn decode_commitment(hex_commitment: &str, x: u32) -> Result<NonceCommitment, String> {
    hex::decode(hex_commitment)
        .ok()
        .and_then(|bytes| NonceCommitment::from_bytes(&bytes).ok())
        .filter(|commitment| commitment.x() == x)
        .ok_or_else(|| format!("its nonce commitment for x = {x} does not decode"))
}

/// Unix time in milliseconds by this machine's clock.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
