//! TAKA key agreement (S3-agree): two registered entities derive a session key sk, and — on a
//! patient's first visit to a hospital — the initial factors s_α, s_β (S3-release).
//!
//! Asymmetric adaptation: the static key K = e(Ŝ_I, Q̌_R) = e(Q̂_I, Š_R) = e(Q̂_I, Q̌_R)^s takes the
//! initiator's identity in G1 and the responder's in G2, so the two sides compute it from their
//! own identity key in their own group (the seed's symmetric e(Ŝ_C, Q̂_A) = e(Ŝ_A, Q̂_C) needs
//! e(X, Y) = e(Y, X), which BLS12-381 lacks). Ephemeral keys stay in G1: T_c1, T_c2, T_a1, T_a2.
//! In an enrolment the patient also sends T̂_c1 = c1·P̂ ∈ G2, which the hospital needs for the
//! per-record keys of S3-share and checks against T_c1 with one pairing equation.

use blstrs::{G1Affine, G2Affine, Scalar};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::aead::SessionKey;
use crate::codec::{Reader, Writer, decode};
use crate::curve::{self, mul_g1, mul_p, mul_p_hat, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::factors::InitialFactors;
use crate::hash;
use crate::identity::Identity;
use crate::register::EntityKeys;
use crate::secret::Secret;

const SK_LABEL: &[u8] = b"taka agreement sk";

/// Initiator → responder: ID_I, ID_R, T_c1 = c1·P, T_c2 = c2·P and, in an enrolment,
/// T̂_c1 = c1·P̂.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    initiator: Identity,
    responder: Identity,
    t1: G1Affine,
    t2: G1Affine,
    t1_hat: Option<G2Affine>,
}

/// Responder → initiator: ID_R, ID_I, T_a1 = a1·P, T_a2 = a2·P.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    responder: Identity,
    initiator: Identity,
    t1: G1Affine,
    t2: G1Affine,
}

/// The initiator's state between [`Hello`] and [`Reply`]: its ephemeral scalars c1, c2.
pub struct Initiator {
    hello: Hello,
    c1: Secret<Scalar>,
    c2: Secret<Scalar>,
}

/// The patient's lasting state with one hospital after enrolment: ID_A, c1 (needed to
/// authorize doctors, S3-share) and the initial factors.
#[derive(Clone, Debug)]
pub struct PatientEnrolment {
    pub(crate) patient: Identity,
    pub(crate) hospital: Identity,
    pub(crate) c1: Secret<Scalar>,
    pub(crate) factors: InitialFactors,
}

/// The hospital's lasting state with one patient after enrolment: ID_C, T_c1, T̂_c1 and the
/// initial factors — everything it needs to verify and serve S3-share requests.
#[derive(Clone, Debug)]
pub struct HospitalEnrolment {
    pub(crate) patient: Identity,
    pub(crate) hospital: Identity,
    pub(crate) t_c1: G1Affine,
    pub(crate) t_c1_hat: G2Affine,
    pub(crate) factors: InitialFactors,
}

impl Initiator {
    /// Starts a plain agreement (e.g. doctor B̄ with patient C before S3-share).
    pub fn start(
        me: &EntityKeys,
        responder: Identity,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> (Self, Hello) {
        Self::begin(me, responder, false, rng)
    }

    /// Starts a patient's enrolment at a hospital (first visit, S3-agree): also sends T̂_c1.
    pub fn start_enrolment(
        patient: &EntityKeys,
        hospital: Identity,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> (Self, Hello) {
        Self::begin(patient, hospital, true, rng)
    }

    fn begin(
        me: &EntityKeys,
        responder: Identity,
        enrolment: bool,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> (Self, Hello) {
        let (c1, c2) = (random_nonzero_scalar(rng), random_nonzero_scalar(rng));
        let hello = Hello {
            initiator: me.id().clone(),
            responder,
            t1: mul_p(&c1),
            t2: mul_p(&c2),
            t1_hat: enrolment.then(|| mul_p_hat(&c1)),
        };
        let state = Self {
            hello: hello.clone(),
            c1: Secret::new(c1),
            c2: Secret::new(c2),
        };
        (state, hello)
    }

    /// Completes a plain agreement: sk = H_sk(ID_I ‖ ID_R ‖ c1·T_a1 ‖ c2·T_a2 ‖ K ‖ T_c1 ‖ T_c2 ‖
    /// T_a1 ‖ T_a2) with K = e(Ŝ_I, Q̌_R). Only the holder of Š_R (or the PKG) can compute the
    /// same K, which is what authenticates the responder.
    pub fn finish(self, me: &EntityKeys, reply: &Reply) -> Result<SessionKey> {
        self.check_reply(me, reply)?;
        let k = curve::pairing(me.s_hat(), &hash::h1_g2(reply.responder()));
        Ok(session_key(
            &self.hello,
            reply,
            &mul_g1(&reply.t1, self.c1.expose()),
            &mul_g1(&reply.t2, self.c2.expose()),
            k,
        ))
    }

    /// Completes an enrolment: the session key plus s_α = c1·T_a2, s_β = c2·T_a1.
    pub fn finish_enrolment(
        self,
        patient: &EntityKeys,
        reply: &Reply,
    ) -> Result<(SessionKey, PatientEnrolment)> {
        if self.hello.t1_hat.is_none() {
            return Err(Error::WrongParty("not an enrolment"));
        }
        self.check_reply(patient, reply)?;
        let factors = InitialFactors::new(
            mul_g1(&reply.t2, self.c1.expose()),
            mul_g1(&reply.t1, self.c2.expose()),
        );
        let enrolment = PatientEnrolment {
            patient: patient.id().clone(),
            hospital: reply.responder.clone(),
            c1: self.c1.clone(),
            factors,
        };
        Ok((self.finish(patient, reply)?, enrolment))
    }

    fn check_reply(&self, me: &EntityKeys, reply: &Reply) -> Result<()> {
        if reply.initiator != *me.id() || reply.responder != self.hello.responder {
            return Err(Error::WrongParty("reply is for another agreement"));
        }
        Ok(())
    }
}

/// Responder side of a plain agreement: K = e(Q̂_I, Š_R), fresh a1, a2, and the same sk.
pub fn respond(
    me: &EntityKeys,
    hello: &Hello,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Reply, SessionKey)> {
    respond_inner(me, hello, rng).map(|(reply, sk, _, _)| (reply, sk))
}

/// Responder side of an enrolment (hospital A, S3-agree): checks e(T_c1, P̂) = e(P, T̂_c1) — so
/// the G1 and G2 copies of c1 agree and later per-record keys match — then derives sk and
/// s_α = a2·T_c1, s_β = a1·T_c2.
pub fn respond_enrolment(
    hospital: &EntityKeys,
    hello: &Hello,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Reply, SessionKey, HospitalEnrolment)> {
    let t_c1_hat = hello.t1_hat.ok_or(Error::WrongParty("not an enrolment"))?;
    check_anchor(&hello.t1, &t_c1_hat)?;
    let (reply, sk, a1, a2) = respond_inner(hospital, hello, rng)?;
    let factors = InitialFactors::new(
        mul_g1(&hello.t1, a2.expose()),
        mul_g1(&hello.t2, a1.expose()),
    );
    let enrolment = HospitalEnrolment {
        patient: hello.initiator.clone(),
        hospital: hospital.id().clone(),
        t_c1: hello.t1,
        t_c1_hat,
        factors,
    };
    Ok((reply, sk, enrolment))
}

/// e(T_c1, P̂) = e(P, T̂_c1): both copies carry the same c1.
fn check_anchor(t_c1: &G1Affine, t_c1_hat: &G2Affine) -> Result<()> {
    let consistent = curve::pairings_equal((t_c1, &curve::p_hat()), (&curve::p(), t_c1_hat));
    if !consistent {
        return Err(Error::InconsistentEphemeral);
    }
    Ok(())
}

type Responded = (Reply, SessionKey, Secret<Scalar>, Secret<Scalar>);

fn respond_inner(
    me: &EntityKeys,
    hello: &Hello,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Responded> {
    if hello.responder != *me.id() {
        return Err(Error::WrongParty("hello is for another responder"));
    }
    let k = curve::pairing(&hash::h1_g1(&hello.initiator), me.s_check());
    let (a1, a2) = (random_nonzero_scalar(rng), random_nonzero_scalar(rng));
    let reply = Reply {
        responder: me.id().clone(),
        initiator: hello.initiator.clone(),
        t1: mul_p(&a1),
        t2: mul_p(&a2),
    };
    let sk = session_key(
        hello,
        &reply,
        &mul_g1(&hello.t1, &a1),
        &mul_g1(&hello.t2, &a2),
        k,
    );
    Ok((reply, sk, Secret::new(a1), Secret::new(a2)))
}

/// H_sk(ID_I ‖ ID_R ‖ X1 ‖ X2 ‖ K ‖ T_c1 ‖ T_c2 ‖ T_a1 ‖ T_a2 [‖ T̂_c1]) where X1 = c1·a1·P and
/// X2 = c2·a2·P (the seed's a1·T_c1 = c1·T_a1 and a2·T_c2 = c2·T_a2).
fn session_key(
    hello: &Hello,
    reply: &Reply,
    x1: &G1Affine,
    x2: &G1Affine,
    k: curve::Gt,
) -> SessionKey {
    let mut w = Writer::new();
    hello.initiator.write(&mut w);
    hello.responder.write(&mut w);
    w.g1(x1).g1(x2).raw(&k.to_bytes()[..]);
    w.g1(&hello.t1).g1(&hello.t2).g1(&reply.t1).g1(&reply.t2);
    if let Some(t1_hat) = &hello.t1_hat {
        w.g2(t1_hat);
    }
    let transcript = Zeroizing::new(w.into_bytes());
    SessionKey::new(hash::h_sk(SK_LABEL, &transcript))
}

impl Hello {
    /// ID of the initiator.
    pub fn initiator(&self) -> &Identity {
        &self.initiator
    }

    /// ID of the responder.
    pub fn responder(&self) -> &Identity {
        &self.responder
    }

    /// Whether this hello starts an enrolment (carries T̂_c1).
    pub fn is_enrolment(&self) -> bool {
        self.t1_hat.is_some()
    }

    /// Canonical encoding; a flag byte says whether T̂_c1 follows.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.initiator.write(&mut w);
        self.responder.write(&mut w);
        w.g1(&self.t1).g1(&self.t2);
        match &self.t1_hat {
            Some(p) => w.u8(1).g2(p),
            None => w.u8(0),
        };
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            let initiator = Identity::read(r)?;
            let responder = Identity::read(r)?;
            let (t1, t2) = (r.g1("T_c1")?, r.g1("T_c2")?);
            let t1_hat = match r.u8("enrolment flag")? {
                0 => None,
                1 => Some(r.g2("T_c1_hat")?),
                _ => return Err(Error::Malformed("enrolment flag")),
            };
            Ok(Self {
                initiator,
                responder,
                t1,
                t2,
                t1_hat,
            })
        })
    }
}

impl Reply {
    /// ID of the responder.
    pub fn responder(&self) -> &Identity {
        &self.responder
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.responder.write(&mut w);
        self.initiator.write(&mut w);
        w.g1(&self.t1).g1(&self.t2);
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                responder: Identity::read(r)?,
                initiator: Identity::read(r)?,
                t1: r.g1("T_a1")?,
                t2: r.g1("T_a2")?,
            })
        })
    }
}

impl PatientEnrolment {
    /// ID_A of the hospital.
    pub fn hospital(&self) -> &Identity {
        &self.hospital
    }

    /// The initial factors shared with the hospital.
    pub fn factors(&self) -> &InitialFactors {
        &self.factors
    }

    /// Encoding for the patient's sealed storage: ID_C ‖ ID_A ‖ c1 ‖ s_α ‖ s_β.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        self.patient.write(&mut w);
        self.hospital.write(&mut w);
        w.scalar(self.c1.expose());
        self.factors.write(&mut w);
        Zeroizing::new(w.into_bytes())
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r: &mut Reader<'_>| {
            Ok(Self {
                patient: Identity::read(r)?,
                hospital: Identity::read(r)?,
                c1: Secret::new(r.scalar("c1")?),
                factors: InitialFactors::read(r)?,
            })
        })
    }
}

impl HospitalEnrolment {
    /// ID_C of the patient.
    pub fn patient(&self) -> &Identity {
        &self.patient
    }

    /// The initial factors shared with the patient.
    pub fn factors(&self) -> &InitialFactors {
        &self.factors
    }

    /// Encoding for the hospital's sealed storage: ID_C ‖ ID_A ‖ T_c1 ‖ T̂_c1 ‖ s_α ‖ s_β.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        self.patient.write(&mut w);
        self.hospital.write(&mut w);
        w.g1(&self.t_c1).g2(&self.t_c1_hat);
        self.factors.write(&mut w);
        Zeroizing::new(w.into_bytes())
    }

    /// Strict decoding; re-checks that T_c1 and T̂_c1 share their discrete log.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let state = decode(bytes, |r: &mut Reader<'_>| {
            Ok(Self {
                patient: Identity::read(r)?,
                hospital: Identity::read(r)?,
                t_c1: r.g1("T_c1")?,
                t_c1_hat: r.g2("T_c1_hat")?,
                factors: InitialFactors::read(r)?,
            })
        })?;
        check_anchor(&state.t_c1, &state.t_c1_hat)?;
        Ok(state)
    }
}
