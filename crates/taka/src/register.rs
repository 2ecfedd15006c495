//! Entity side of registration (S3-register): the request, the check of the PKG's response,
//! and the resulting long-term keys.

use blstrs::{G1Affine, G2Affine, Scalar};
use ff::Field;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer, decode};
use crate::curve::{self, mul_g1, mul_p, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::hash;
use crate::identity::Identity;
use crate::params::PublicParams;
use crate::secret::Secret;
use crate::threshold::{self, ExtractionRequest, PartialKey, PublicPolynomial};

/// What entity U sends the PKG: ID_U and L_U1 = x_U·P (S3-register step 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationRequest {
    id: Identity,
    l1: G1Affine,
}

impl RegistrationRequest {
    /// The identity being registered.
    pub fn id(&self) -> &Identity {
        &self.id
    }

    /// L_U1 = x_U·P.
    pub fn l1(&self) -> &G1Affine {
        &self.l1
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.id.write(&mut w);
        w.g1(&self.l1);
        w.into_bytes()
    }

    /// Strict decoding (non-identity, subgroup-checked L_U1).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                id: Identity::read(r)?,
                l1: r.g1("L_U1")?,
            })
        })
    }
}

/// The PKG's answer (L_U, d_U, Ŝ_U, Š_U) (S3-register step 2). Contains secrets.
#[derive(Clone, Debug)]
pub struct RegistrationResponse {
    l: G1Affine,
    d: Secret<Scalar>,
    s_hat: Secret<G1Affine>,
    s_check: Secret<G2Affine>,
}

impl RegistrationResponse {
    pub(crate) fn new(l: G1Affine, d: Secret<Scalar>, s_hat: G1Affine, s_check: G2Affine) -> Self {
        Self {
            l,
            d,
            s_hat: Secret::new(s_hat),
            s_check: Secret::new(s_check),
        }
    }

    /// Canonical encoding: L_U ‖ d_U ‖ Ŝ_U ‖ Š_U (48 + 32 + 48 + 96 bytes).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.g1(&self.l)
            .scalar(self.d.expose())
            .g1(self.s_hat.expose())
            .g2(self.s_check.expose());
        Zeroizing::new(w.into_bytes())
    }

    /// Strict decoding; the cryptographic checks happen in [`PendingRegistration::complete`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self::new(
                r.g1("L_U")?,
                Secret::new(r.scalar("d_U")?),
                r.g1("S_U")?,
                r.g2("S_U_hat")?,
            ))
        })
    }
}

/// An entity between sending its request and receiving the PKG's response; holds x_U.
pub struct PendingRegistration {
    id: Identity,
    x: Secret<Scalar>,
    l1: G1Affine,
}

impl PendingRegistration {
    /// S3-register step 1: picks x_U and forms the request (ID_U, L_U1 = x_U·P).
    pub fn new(id: Identity, rng: &mut (impl RngCore + CryptoRng)) -> (Self, RegistrationRequest) {
        let x = random_nonzero_scalar(rng);
        let l1 = mul_p(&x);
        let request = RegistrationRequest { id: id.clone(), l1 };
        let pending = Self {
            id,
            x: Secret::new(x),
            l1,
        };
        (pending, request)
    }

    /// x_U, for opening partial keys sealed to L_U1 (crate-internal: it never leaves).
    pub(crate) fn secret_key_part(&self) -> &Scalar {
        self.x.expose()
    }

    /// The request this registration was started with (ID_U, L_U1), e.g. to resume it.
    pub fn request(&self) -> RegistrationRequest {
        RegistrationRequest {
            id: self.id.clone(),
            l1: self.l1,
        }
    }

    /// Encoding for the entity's own sealed storage: ID ‖ x_U. An enrollee saves it before
    /// binding L_U1 on chain, so a crash between binding and extraction does not strand an
    /// identity bound to a key part nobody holds.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        self.id.write(&mut w);
        w.scalar(self.x.expose());
        w.into_secret_bytes()
    }

    /// Decodes [`PendingRegistration::to_bytes`]; L_U1 is recomputed from x_U.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r: &mut Reader<'_>| {
            let id = Identity::read(r)?;
            let x = r.scalar("x_U")?;
            Ok(Self {
                id,
                l1: mul_p(&x),
                x: Secret::new(x),
            })
        })
    }

    /// S3-register step 3: accepts the PKG's response only if it is what an honest PKG with
    /// the published master key would have sent for this identity:
    ///
    /// 1. L_U ≠ L_U1, so the PKG contributed a non-zero y_U;
    /// 2. d_U·P = (L_U − L_U1) + f·P_pub with f = H7(ID_U, P_pub, L_U), so d_U = y_U + s·f and
    ///    the signing key d_U + x_U has public image L_U + f·P_pub (what verifiers recompute);
    /// 3. e(P, Š_U) = e(P_pub, Q̌_U) with Q̌_U = H1'(ID_U), so Š_U = s·Q̌_U in G2;
    /// 4. e(Ŝ_U, Q̌_U) = e(Q̂_U, Š_U) with Q̂_U = H1(ID_U), so (given 3) Ŝ_U = s·Q̂_U in G1.
    ///
    /// Without these checks a faulty or malicious response would only surface later as failed
    /// signatures or mismatched session keys, far from the cause.
    pub fn complete(
        self,
        params: &PublicParams,
        response: RegistrationResponse,
    ) -> Result<EntityKeys> {
        if response.l == self.l1 {
            return Err(Error::RegistrationRejected("PKG share y_U is zero"));
        }
        let keys = EntityKeys {
            id: self.id.clone(),
            x: self.x.clone(),
            l: response.l,
            d: response.d,
            s_hat: response.s_hat,
            s_check: response.s_check,
        };
        keys.check(params)?;
        Ok(keys)
    }

    /// S3-register step 3 with a threshold PKG: combines t partial keys into
    /// (L_U, d_U, Ŝ_U, Š_U) and runs the checks of [`Self::complete`] against P_pub. If they
    /// fail, each partial key is checked against its node's public share and the first bad one
    /// is named ([`Error::BadPartialKey`]). `request` must be the one sent to the nodes, built
    /// from this registration.
    ///
    /// Errors: [`Error::UnexpectedPartial`] for a partial from a node not in the request (or a
    /// second one from a node), [`Error::NotEnoughPartials`] for fewer than t. Either way,
    /// start again from fresh commitments (the nodes consumed their nonces).
    pub fn complete_threshold(
        self,
        polynomial: &PublicPolynomial,
        request: &ExtractionRequest,
        partials: Vec<PartialKey>,
    ) -> Result<EntityKeys> {
        if request.id() != &self.id || request.l_u1() != &self.l1 {
            return Err(Error::RegistrationRejected(
                "extraction request is for another registration",
            ));
        }
        let params = polynomial.params();
        threshold::combine(polynomial, request, partials, |response| {
            self.complete(&params, response)
        })
    }
}

/// Entity U's long-term keys (S3-register): (x_U, L_U, d_U) sign messages; Q_U = H0(ID_U)
/// authorizes; the identity keys Ŝ_U ∈ G1 and Š_U ∈ G2 agree session keys.
#[derive(Clone, Debug)]
pub struct EntityKeys {
    id: Identity,
    x: Secret<Scalar>,
    l: G1Affine,
    d: Secret<Scalar>,
    s_hat: Secret<G1Affine>,
    s_check: Secret<G2Affine>,
}

impl EntityKeys {
    /// ID_U.
    pub fn id(&self) -> &Identity {
        &self.id
    }

    /// L_U, the public key part carried in every signature.
    pub fn l(&self) -> &G1Affine {
        &self.l
    }

    /// The signing exponent d_U + x_U.
    pub(crate) fn signing_key(&self) -> Secret<Scalar> {
        Secret::new(*self.d.expose() + self.x.expose())
    }

    /// Ŝ_U = s·H1(ID_U) ∈ G1: used when this entity initiates an agreement.
    pub(crate) fn s_hat(&self) -> &G1Affine {
        self.s_hat.expose()
    }

    /// Š_U = s·H1'(ID_U) ∈ G2: used when this entity responds to an agreement.
    pub(crate) fn s_check(&self) -> &G2Affine {
        self.s_check.expose()
    }

    fn check(&self, params: &PublicParams) -> Result<()> {
        let f = hash::h7(&self.id, params.p_pub(), &self.l);
        let l1 = mul_p(self.x.expose());
        let expected = curve::add_g1(&curve::sub_g1(&self.l, &l1), &mul_g1(params.p_pub(), &f));
        if mul_p(self.d.expose()) != expected {
            return Err(Error::RegistrationRejected("d_U does not match L_U"));
        }
        if bool::from(self.signing_key().expose().is_zero()) {
            return Err(Error::RegistrationRejected("signing key is zero"));
        }
        let points = IdentityPoints::of(&self.id);
        if !points.keys_match(params.p_pub(), self.s_hat(), self.s_check()) {
            return Err(Error::RegistrationRejected(
                "identity key is not s·H1(ID_U)",
            ));
        }
        Ok(())
    }

    /// Encoding for the entity's own sealed storage: ID ‖ x_U ‖ L_U ‖ d_U ‖ Ŝ_U ‖ Š_U.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        self.id.write(&mut w);
        w.scalar(self.x.expose())
            .g1(&self.l)
            .scalar(self.d.expose())
            .g1(self.s_hat())
            .g2(self.s_check());
        Zeroizing::new(w.into_bytes())
    }

    /// Decodes stored keys and re-runs the registration checks against `params`, so keys
    /// stored under another PKG (or corrupted) are refused.
    pub fn from_bytes(params: &PublicParams, bytes: &[u8]) -> Result<Self> {
        let keys = decode(bytes, |r: &mut Reader<'_>| {
            Ok(Self {
                id: Identity::read(r)?,
                x: Secret::new(r.scalar("x_U")?),
                l: r.g1("L_U")?,
                d: Secret::new(r.scalar("d_U")?),
                s_hat: Secret::new(r.g1("S_U")?),
                s_check: Secret::new(r.g2("S_U_hat")?),
            })
        })?;
        keys.check(params)?;
        Ok(keys)
    }
}

/// Q̂_U = H1(ID_U) ∈ G1 and Q̌_U = H1'(ID_U) ∈ G2, hashed once per check.
pub(crate) struct IdentityPoints {
    pub(crate) q_hat: G1Affine,
    pub(crate) q_check: G2Affine,
}

impl IdentityPoints {
    pub(crate) fn of(id: &Identity) -> Self {
        Self {
            q_hat: hash::h1_g1(id),
            q_check: hash::h1_g2(id),
        }
    }

    /// Whether Š = k·Q̌_U and Ŝ = k·Q̂_U for the k with `public` = k·P: e(P, Š) = e(k·P, Q̌_U)
    /// fixes Š, then e(Ŝ, Q̌_U) = e(Q̂_U, Š) fixes Ŝ (the pairing is non-degenerate and
    /// Q̌_U ≠ 0). Checks full identity keys against P_pub and partial ones against a node's
    /// public share, without s·P̂ in G2, which a threshold PKG does not publish.
    pub(crate) fn keys_match(
        &self,
        public: &G1Affine,
        s_hat: &G1Affine,
        s_check: &G2Affine,
    ) -> bool {
        curve::pairings_equal((&curve::p(), s_check), (public, &self.q_check))
            && curve::pairings_equal((s_hat, &self.q_check), (&self.q_hat, s_check))
    }
}
