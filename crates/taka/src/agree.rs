//! TAKA key agreement (S3-agree): two registered entities derive a session key sk, and — on a
//! patient's first visit to a hospital — the initial factors s_α, s_β (S3-release).
//!
//! Asymmetric adaptation: the static key K = e(Ŝ_I, Q̌_R) = e(Q̂_I, Š_R) = e(Q̂_I, Q̌_R)^s takes the
//! initiator's identity in G1 and the responder's in G2, so the two sides compute it from their
//! own identity key in their own group (the seed's symmetric e(Ŝ_C, Q̂_A) = e(Ŝ_A, Q̂_C) needs
//! e(X, Y) = e(Y, X), which BLS12-381 lacks). Ephemeral keys stay in G1: T_c1, T_c2, T_a1, T_a2.
//! In an enrolment the patient also sends T̂_c1 = c1·P̂ ∈ G2, which the hospital needs for the
//! per-record keys of S3-share and checks against T_c1 with one pairing equation.
//!
//! An enrolment is authenticated both ways before it exists (the seed's is not): the hospital's
//! reply carries an HMAC under a confirmation key derived from the transcript with K, the patient
//! checks it and answers with its own, and only [`PendingEnrolment::confirm`] yields the
//! hospital's [`HospitalEnrolment`]. The initial factors are hashed from the same transcript (K
//! and the seed's DH values c1·a2·P, c2·a1·P), so whoever lacks both identity keys — e.g. a
//! third party who sent a hello under a patient's name with ephemerals of its choosing —
//! cannot compute them.

use blstrs::{G1Affine, G2Affine, Scalar};
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::aead::SessionKey;
use crate::codec::{Reader, Writer, decode, encode};
use crate::curve::{self, mul_g1, mul_p, mul_p_hat, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::factors::InitialFactors;
use crate::hash;
use crate::identity::Identity;
use crate::register::EntityKeys;
use crate::secret::Secret;

const SK_LABEL: &[u8] = b"taka agreement sk";
const ENROLMENT_SK_LABEL: &[u8] = b"taka enrolment sk";
const CONFIRM_LABEL: &[u8] = b"taka enrolment key confirmation";
/// HMAC-SHA256 output length.
const MAC_LEN: usize = 32;

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

/// Hospital → patient in an enrolment: the [`Reply`] and the hospital's key-confirmation MAC,
/// which proves it holds Š_A (only the holder of ID_A's identity key derives the MAC key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentReply {
    reply: Reply,
    mac: [u8; MAC_LEN],
}

/// Patient → hospital, the third message of an enrolment: the patient's key-confirmation MAC,
/// which proves it holds Ŝ_C. The hospital's enrolment exists only once this verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentConfirmation {
    patient: Identity,
    hospital: Identity,
    mac: [u8; MAC_LEN],
}

/// The initiator's state between [`Hello`] and [`Reply`]: its ephemeral scalars c1, c2.
pub struct Initiator {
    hello: Hello,
    c1: Secret<Scalar>,
    c2: Secret<Scalar>,
}

/// The hospital's state between its [`EnrolmentReply`] and the patient's
/// [`EnrolmentConfirmation`]: nothing here is usable until [`PendingEnrolment::confirm`].
pub struct PendingEnrolment {
    hello: Hello,
    reply: Reply,
    t_c1_hat: G2Affine,
    keys: EnrolmentKeys,
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

/// What both sides of an enrolment derive from its transcript.
struct EnrolmentKeys {
    sk: SessionKey,
    confirm: Zeroizing<[u8; 32]>,
    factors: InitialFactors,
}

/// Who sends a key-confirmation MAC: each side's MAC covers a different label, so one side's
/// MAC is never accepted as the other's.
#[derive(Clone, Copy)]
enum Role {
    Hospital,
    Patient,
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

    /// The hello this state answers to (what was sent to the responder).
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Encoding for the initiator's sealed storage between hello and reply (e.g. a doctor who
    /// waits for the patient's answer across processes): hello ‖ c1 ‖ c2.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(&self.hello.to_bytes());
        w.scalar(self.c1.expose()).scalar(self.c2.expose());
        w.into_secret_bytes()
    }

    /// Strict decoding; refuses a state whose scalars are not the hello's ephemerals
    /// (T_c1 = c1·P, T_c2 = c2·P and, in an enrolment, T̂_c1 = c1·P̂), so a corrupted or
    /// mismatched file fails here instead of yielding a key the responder never agreed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let state = decode(bytes, |r: &mut Reader<'_>| {
            Ok(Self {
                hello: Hello::from_bytes(r.bytes("initiator hello")?)?,
                c1: Secret::new(r.scalar("c1")?),
                c2: Secret::new(r.scalar("c2")?),
            })
        })?;
        let (c1, c2) = (state.c1.expose(), state.c2.expose());
        let anchored = state.hello.t1 == mul_p(c1)
            && state.hello.t2 == mul_p(c2)
            && state.hello.t1_hat.is_none_or(|t| t == mul_p_hat(c1));
        if !anchored {
            return Err(Error::InconsistentEphemeral);
        }
        Ok(state)
    }

    /// Completes a plain agreement: sk = H_sk(ID_I ‖ ID_R ‖ c1·T_a1 ‖ c2·T_a2 ‖ K ‖ T_c1 ‖ T_c2 ‖
    /// T_a1 ‖ T_a2) with K = e(Ŝ_I, Q̌_R). Only the holder of Š_R (or the PKG) can compute the
    /// same K, which is what authenticates the responder.
    pub fn finish(self, me: &EntityKeys, reply: &Reply) -> Result<SessionKey> {
        if self.hello.t1_hat.is_some() {
            return Err(Error::WrongParty(
                "an enrolment finishes with finish_enrolment",
            ));
        }
        self.check_reply(me, reply)?;
        let transcript = self.transcript(me, reply).into_secret_bytes();
        Ok(SessionKey::new(hash::h_sk(SK_LABEL, &transcript)))
    }

    /// Completes an enrolment (patient side): checks the hospital's MAC — so the responder
    /// holds Š_A — then returns the session key, the patient's enrolment and the confirmation
    /// the hospital needs before its own enrolment exists.
    pub fn finish_enrolment(
        self,
        patient: &EntityKeys,
        reply: &EnrolmentReply,
    ) -> Result<(SessionKey, PatientEnrolment, EnrolmentConfirmation)> {
        if self.hello.t1_hat.is_none() {
            return Err(Error::WrongParty("not an enrolment"));
        }
        self.check_reply(patient, &reply.reply)?;
        let mut transcript = self.transcript(patient, &reply.reply);
        transcript.g1(&mul_g1(&reply.reply.t2, self.c1.expose()));
        transcript.g1(&mul_g1(&reply.reply.t1, self.c2.expose()));
        let keys = EnrolmentKeys::derive(transcript);
        keys.check_mac(Role::Hospital, &self.hello, &reply.reply, &reply.mac)?;
        let confirmation = EnrolmentConfirmation {
            patient: patient.id().clone(),
            hospital: reply.reply.responder.clone(),
            mac: keys.mac(Role::Patient, &self.hello, &reply.reply)?,
        };
        let enrolment = PatientEnrolment {
            patient: patient.id().clone(),
            hospital: reply.reply.responder.clone(),
            c1: self.c1.clone(),
            factors: keys.factors,
        };
        Ok((keys.sk, enrolment, confirmation))
    }

    fn check_reply(&self, me: &EntityKeys, reply: &Reply) -> Result<()> {
        if reply.initiator != *me.id() || reply.responder != self.hello.responder {
            return Err(Error::WrongParty("reply is for another agreement"));
        }
        Ok(())
    }

    /// The initiator's view of the transcript: K = e(Ŝ_I, Q̌_R), X1 = c1·T_a1, X2 = c2·T_a2.
    fn transcript(&self, me: &EntityKeys, reply: &Reply) -> Writer {
        let k = Secret::new(curve::pairing(me.s_hat(), &hash::h1_g2(reply.responder())));
        let x1 = Secret::new(mul_g1(&reply.t1, self.c1.expose()));
        let x2 = Secret::new(mul_g1(&reply.t2, self.c2.expose()));
        transcript(&self.hello, reply, &x1, &x2, &k)
    }
}

/// Responder side of a plain agreement: K = e(Q̂_I, Š_R), fresh a1, a2, and the same sk.
pub fn respond(
    me: &EntityKeys,
    hello: &Hello,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Reply, SessionKey)> {
    if hello.t1_hat.is_some() {
        return Err(Error::WrongParty(
            "an enrolment is answered by respond_enrolment",
        ));
    }
    let (reply, transcript, _, _) = respond_inner(me, hello, rng)?;
    let transcript = transcript.into_secret_bytes();
    Ok((reply, SessionKey::new(hash::h_sk(SK_LABEL, &transcript))))
}

/// Responder side of an enrolment (hospital A, S3-agree), first half: checks e(T_c1, P̂) =
/// e(P, T̂_c1) — so the G1 and G2 copies of c1 agree and later per-record keys match — derives
/// sk, the key-confirmation key and the initial factors from the transcript (identity-based K,
/// X1, X2 and the DH values a2·T_c1, a1·T_c2), and answers with its MAC. Nothing is usable
/// until the patient's [`EnrolmentConfirmation`] proves it holds ID_C's identity key
/// ([`PendingEnrolment::confirm`]).
pub fn respond_enrolment(
    hospital: &EntityKeys,
    hello: &Hello,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(EnrolmentReply, PendingEnrolment)> {
    let t_c1_hat = hello.t1_hat.ok_or(Error::WrongParty("not an enrolment"))?;
    check_anchor(&hello.t1, &t_c1_hat)?;
    let (reply, mut transcript, a1, a2) = respond_inner(hospital, hello, rng)?;
    transcript.g1(&mul_g1(&hello.t1, a2.expose()));
    transcript.g1(&mul_g1(&hello.t2, a1.expose()));
    let keys = EnrolmentKeys::derive(transcript);
    let answer = EnrolmentReply {
        mac: keys.mac(Role::Hospital, hello, &reply)?,
        reply: reply.clone(),
    };
    let pending = PendingEnrolment {
        hello: hello.clone(),
        reply,
        t_c1_hat,
        keys,
    };
    Ok((answer, pending))
}

impl PendingEnrolment {
    /// ID_C the enrolment claims, to route the confirmation to this state.
    pub fn patient(&self) -> &Identity {
        &self.hello.initiator
    }

    /// Second half at the hospital: accepts the patient's MAC only if it was made with the
    /// key derived from K = e(Q̂_C, Š_A), i.e. by the holder of Ŝ_C. Then, and only then, the
    /// session key and the hospital's enrolment exist.
    pub fn confirm(
        self,
        confirmation: &EnrolmentConfirmation,
    ) -> Result<(SessionKey, HospitalEnrolment)> {
        if confirmation.patient != self.hello.initiator
            || confirmation.hospital != self.hello.responder
        {
            return Err(Error::WrongParty("confirmation for another enrolment"));
        }
        self.keys
            .check_mac(Role::Patient, &self.hello, &self.reply, &confirmation.mac)?;
        let enrolment = HospitalEnrolment {
            patient: self.hello.initiator.clone(),
            hospital: self.hello.responder.clone(),
            t_c1: self.hello.t1,
            t_c1_hat: self.t_c1_hat,
            factors: self.keys.factors,
        };
        Ok((self.keys.sk, enrolment))
    }
}

impl EnrolmentKeys {
    /// sk, the confirmation key and s_α, s_β, each under its own label from one transcript.
    fn derive(transcript: Writer) -> Self {
        let transcript = transcript.into_secret_bytes();
        Self {
            sk: SessionKey::new(hash::h_sk(ENROLMENT_SK_LABEL, &transcript)),
            confirm: hash::h_sk(CONFIRM_LABEL, &transcript),
            factors: InitialFactors::new(
                hash::initial_factor(b"alpha", &transcript),
                hash::initial_factor(b"beta", &transcript),
            ),
        }
    }

    /// HMAC-SHA256 under the confirmation key over the role's label and both messages.
    /// (HMAC accepts keys of any length; the error arm only satisfies the trait.)
    fn hmac(&self, role: Role, hello: &Hello, reply: &Reply) -> Result<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.confirm[..])
            .map_err(|_| Error::KeyConfirmation)?;
        let label: &[u8] = match role {
            Role::Hospital => b"hospital confirms",
            Role::Patient => b"patient confirms",
        };
        mac.update(&encode(|w| {
            w.bytes(label)
                .bytes(&hello.to_bytes())
                .bytes(&reply.to_bytes());
        }));
        Ok(mac)
    }

    fn mac(&self, role: Role, hello: &Hello, reply: &Reply) -> Result<[u8; MAC_LEN]> {
        Ok(self
            .hmac(role, hello, reply)?
            .finalize()
            .into_bytes()
            .into())
    }

    /// Constant-time check of the other side's MAC.
    fn check_mac(&self, role: Role, hello: &Hello, reply: &Reply, mac: &[u8]) -> Result<()> {
        self.hmac(role, hello, reply)?
            .verify_slice(mac)
            .map_err(|_| Error::KeyConfirmation)
    }
}

/// e(T_c1, P̂) = e(P, T̂_c1): both copies carry the same c1.
fn check_anchor(t_c1: &G1Affine, t_c1_hat: &G2Affine) -> Result<()> {
    let consistent = curve::pairings_equal((t_c1, &curve::p_hat()), (&curve::p(), t_c1_hat));
    if !consistent {
        return Err(Error::InconsistentEphemeral);
    }
    Ok(())
}

type Responded = (Reply, Writer, Secret<Scalar>, Secret<Scalar>);

/// The responder's half shared by both flows: K = e(Q̂_I, Š_R), fresh a1, a2, the reply, and the
/// transcript with X1 = a1·T_c1, X2 = a2·T_c2.
fn respond_inner(
    me: &EntityKeys,
    hello: &Hello,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Responded> {
    if hello.responder != *me.id() {
        return Err(Error::WrongParty("hello is for another responder"));
    }
    let k = Secret::new(curve::pairing(&hash::h1_g1(&hello.initiator), me.s_check()));
    let (a1, a2) = (
        Secret::new(random_nonzero_scalar(rng)),
        Secret::new(random_nonzero_scalar(rng)),
    );
    let reply = Reply {
        responder: me.id().clone(),
        initiator: hello.initiator.clone(),
        t1: mul_p(a1.expose()),
        t2: mul_p(a2.expose()),
    };
    let x1 = Secret::new(mul_g1(&hello.t1, a1.expose()));
    let x2 = Secret::new(mul_g1(&hello.t2, a2.expose()));
    let transcript = transcript(hello, &reply, &x1, &x2, &k);
    Ok((reply, transcript, a1, a2))
}

/// ID_I ‖ ID_R ‖ X1 ‖ X2 ‖ K ‖ T_c1 ‖ T_c2 ‖ T_a1 ‖ T_a2 [‖ T̂_c1], where X1 = c1·a1·P and
/// X2 = c2·a2·P (the seed's a1·T_c1 = c1·T_a1 and a2·T_c2 = c2·T_a2). An enrolment appends
/// the seed's s_α = c1·a2·P and s_β = c2·a1·P before deriving anything.
fn transcript(
    hello: &Hello,
    reply: &Reply,
    x1: &Secret<G1Affine>,
    x2: &Secret<G1Affine>,
    k: &Secret<curve::Gt>,
) -> Writer {
    let mut w = Writer::new();
    hello.initiator.write(&mut w);
    hello.responder.write(&mut w);
    w.g1(x1.expose()).g1(x2.expose());
    w.raw(&k.expose().to_bytes()[..]);
    w.g1(&hello.t1).g1(&hello.t2).g1(&reply.t1).g1(&reply.t2);
    if let Some(t1_hat) = &hello.t1_hat {
        w.g2(t1_hat);
    }
    w
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

impl EnrolmentReply {
    /// ID_A of the hospital.
    pub fn responder(&self) -> &Identity {
        &self.reply.responder
    }

    /// Canonical encoding: the reply's encoding ‖ MAC.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.reply.to_bytes()).raw(&self.mac);
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                reply: Reply::from_bytes(r.bytes("enrolment reply")?)?,
                mac: r.array("hospital MAC")?,
            })
        })
    }
}

impl EnrolmentConfirmation {
    /// ID_C of the patient.
    pub fn patient(&self) -> &Identity {
        &self.patient
    }

    /// Canonical encoding: ID_C ‖ ID_A ‖ MAC.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.patient.write(&mut w);
        self.hospital.write(&mut w);
        w.raw(&self.mac);
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                patient: Identity::read(r)?,
                hospital: Identity::read(r)?,
                mac: r.array("patient MAC")?,
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
        w.into_secret_bytes()
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
        w.into_secret_bytes()
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
