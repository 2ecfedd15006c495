//! Threshold key extraction: the PKG of S3-setup and S3-register run by t of n validators, none of
//! whom holds the master secret s.
//!
//! s is Shamir-shared with a degree t−1 polynomial a(X), a(0) = s, by a Joint-Feldman DKG
//! (commonware-cryptography's BLS12-381 DKG, public polynomial in G1). The node at evaluation
//! point x holds s_x = a(x); everyone holds the commitment poly(X) = a(X)·P, so
//! P_pub = poly(0) and node x's public share is poly(x) = s_x·P.
//!
//! Extraction is a FROST-style two-round threshold Schnorr signature, because d_U = y_U + f·s
//! is a Schnorr signature by the PKG on (ID_U, L_U) with nonce y_U: a known or reused nonce
//! would reveal s (or a share of it). Round 1: each node x commits to fresh one-time nonces
//! (Y_x, Z_x) = (y_x·P, z_x·P). Round 2: the enrollee picks t commitments (the set S) and sends
//! every node in S the same [`ExtractionRequest`]; the binding factor ρ_x = H_ρ(x, request)
//! ties each nonce to this exact request and set, R = Σ_{x∈S} (Y_x + ρ_x·Z_x), L_U = L_U1 + R,
//! f = H7(ID_U, P_pub, L_U). Node x answers d_x = y_x + ρ_x·z_x + λ_x·f·s_x with λ_x the
//! Lagrange coefficient of x at 0 over S, and its shares of the identity keys,
//! Ŝ_x = s_x·Q̂_U and Š_x = s_x·Q̌_U. Σ d_x = y + f·s with y·P = R, so the combined keys are
//! exactly what a single PKG with nonce y would have issued, and every existing flow uses them
//! unchanged.
//!
//! ```
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! use taka::*;
//!
//! # fn main() -> taka::Result<()> {
//! let mut rng = ChaCha20Rng::seed_from_u64(7);
//! // On the chain the polynomial and the shares come from the validators' DKG; a trusted
//! // dealer stands in for it here.
//! let (polynomial, shares) = Pkg::setup(&mut rng).deal_shares(4, 3, &mut rng)?;
//! let params = polynomial.params(); // P_pub, e.g. in genesis
//!
//! let (pending, registration) = PendingRegistration::new(Identity::new("dr-bob")?, &mut rng);
//! // Round 1: three nodes commit to one-time nonces and keep them.
//! let (nonces, commitments): (Vec<_>, Vec<_>) =
//!     shares[1..].iter().map(|share| share.commit(&mut rng)).unzip();
//! // Round 2: the same request goes to each of them; each answers a partial key.
//! let request = ExtractionRequest::new(&registration, commitments)?;
//! let partials = shares[1..]
//!     .iter()
//!     .zip(nonces)
//!     .map(|(share, nonces)| share.extract(nonces, &request, &polynomial))
//!     .collect::<taka::Result<Vec<_>>>()?;
//! // The entity checks every partial key against the public shares and combines them.
//! let keys = pending.complete_threshold(&polynomial, &request, partials)?;
//! assert_eq!(keys.l(), &request.l_u(&polynomial)?);
//! Signature::sign(&keys, &params, b"hello", &mut rng).verify(&params, keys.id(), b"hello")?;
//! # Ok(())
//! # }
//! ```

use blstrs::{G1Affine, G2Affine, Scalar};
use ff::Field;
use group::prime::PrimeCurveAffine;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer, decode, encode};
use crate::curve::{add_g1, add_g2, mul_g1, mul_g2, mul_p, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::hash;
use crate::identity::Identity;
use crate::params::PublicParams;
use crate::register::{IdentityPoints, RegistrationRequest, RegistrationResponse};
use crate::secret::Secret;

/// The validators' public polynomial poly(X) = Σ_k C_k·X^k, C_k ∈ G1: the only public trace
/// of the master secret. P_pub = C_0, node x's public share is poly(x) = s_x·P, and the
/// threshold t is the number of coefficients (degree t−1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicPolynomial {
    coefficients: Vec<G1Affine>,
}

impl PublicPolynomial {
    /// Largest accepted threshold: bounds decoding and the 4t pairings an enrollee spends
    /// checking partial keys.
    pub const MAX_THRESHOLD: usize = 256;

    fn new(coefficients: Vec<G1Affine>) -> Result<Self> {
        if coefficients.is_empty() || coefficients.len() > Self::MAX_THRESHOLD {
            return Err(Error::InvalidList("polynomial coefficients"));
        }
        Ok(Self { coefficients })
    }

    /// From the compressed coefficients C_0, C_1, … (48 bytes each, the encoding commonware's
    /// `G1` writes): each is subgroup-checked and must not be the identity (an identity leading
    /// coefficient would lower the threshold). With commonware's DKG, the coefficients are the
    /// `Vec<G1>` that follows the mode byte (which must be 0, `Mode::NonZeroCounter`) and the
    /// participant count (`u32`) in the encoding of `Output::public()` (`Sharing<MinPk>`).
    pub fn from_compressed_coefficients(coefficients: &[[u8; 48]]) -> Result<Self> {
        let points = coefficients
            .iter()
            .map(|c| decode(c, |r| r.g1("polynomial coefficient")))
            .collect::<Result<Vec<_>>>()?;
        Self::new(points)
    }

    /// The threshold t: number of coefficients, and of partial keys an enrollee needs.
    pub fn threshold(&self) -> usize {
        self.coefficients.len()
    }

    /// The system parameters: P_pub = poly(0).
    pub fn params(&self) -> PublicParams {
        PublicParams::new(self.coefficients[0])
    }

    /// poly(x) = s_x·P, the public share of the node at evaluation point x (x = 0 gives P_pub).
    pub fn public_share(&self, x: u32) -> G1Affine {
        let x = Scalar::from(u64::from(x));
        let (last, rest) = self
            .coefficients
            .split_last()
            .expect("a polynomial has at least one coefficient");
        rest.iter()
            .rev()
            .fold(*last, |acc, c| add_g1(&mul_g1(&acc, &x), c))
    }

    /// Canonical encoding: count (u32) ‖ C_0 ‖ … ‖ C_{t−1}.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(|w| {
            w.u32(self.coefficients.len() as u32);
            for c in &self.coefficients {
                w.g1(c);
            }
        })
    }

    /// Strict decoding: 1..=[`Self::MAX_THRESHOLD`] subgroup-checked, non-identity points.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            let count = r.u32("coefficient count")? as usize;
            if count == 0 || count > Self::MAX_THRESHOLD {
                return Err(Error::InvalidList("polynomial coefficients"));
            }
            let coefficients = (0..count)
                .map(|_| r.g1("polynomial coefficient"))
                .collect::<Result<Vec<_>>>()?;
            Self::new(coefficients)
        })
    }
}

/// A validator's share s_x = a(x) of the master secret; zeroized on drop.
///
/// The evaluation point x is commonware's participant index + 1: with `Mode::NonZeroCounter`
/// (`primitives/sharing.rs`, `Mode::scalar`), participant i (its position in the sorted player
/// set, `Share::index`) holds a(i + 1), because a(0) is the secret.
#[derive(Debug)]
pub struct MasterKeyShare {
    x: u32,
    share: Secret<Scalar>,
}

impl MasterKeyShare {
    pub(crate) fn new(x: u32, share: Scalar) -> Self {
        Self {
            x,
            share: Secret::new(share),
        }
    }

    /// From the evaluation point x ≥ 1 and the share's 32-byte big-endian encoding, which is
    /// how commonware writes its `Scalar` (`blst_bendian_from_scalar`) and hence a DKG `Share`'s
    /// `private` key. Rejects x = 0, zero and non-canonical scalars. Check the result against
    /// the public polynomial with [`Self::check`] before use.
    pub fn from_be_bytes(x: u32, bytes: &[u8; 32]) -> Result<Self> {
        if x == 0 {
            return Err(Error::Malformed(
                "evaluation point x = 0 is the master secret's",
            ));
        }
        let share = decode(bytes, |r| r.scalar("master key share"))?;
        Ok(Self::new(x, share))
    }

    /// The evaluation point x.
    pub fn x(&self) -> u32 {
        self.x
    }

    /// Whether s_x·P = poly(x): the share (and its index mapping) belongs to this polynomial.
    pub fn check(&self, polynomial: &PublicPolynomial) -> Result<()> {
        if mul_p(self.share.expose()) != polynomial.public_share(self.x) {
            return Err(Error::ShareMismatch { x: self.x });
        }
        Ok(())
    }

    /// Round 1: fresh one-time nonces (y_x, z_x) and their commitment (x, Y_x, Z_x). The node
    /// keeps the nonces in memory until the matching request arrives (e.g. keyed by the
    /// commitment's bytes) and sends the commitment to the enrollee.
    pub fn commit(&self, rng: &mut (impl RngCore + CryptoRng)) -> (SigningNonces, NonceCommitment) {
        let (y, z) = (random_nonzero_scalar(rng), random_nonzero_scalar(rng));
        let commitment = NonceCommitment {
            x: self.x,
            y: mul_p(&y),
            z: mul_p(&z),
        };
        let nonces = SigningNonces {
            commitment,
            y: Secret::new(y),
            z: Secret::new(z),
        };
        (nonces, commitment)
    }

    /// Round 2: the partial key for `request`, consuming the nonces committed in round 1 (so
    /// they can never sign a second request). Refuses a request that does not carry this
    /// node's commitment exactly, or not exactly t commitments. The response holds secrets
    /// (t of them give the entity's identity keys): send it over an encrypted channel only.
    ///
    /// Whether the identity may be extracted at all (who asks, for which identity) is the
    /// caller's decision, taken before this call.
    pub fn extract(
        &self,
        nonces: SigningNonces,
        request: &ExtractionRequest,
        polynomial: &PublicPolynomial,
    ) -> Result<PartialKey> {
        if nonces.commitment.x != self.x {
            return Err(Error::InvalidExtractionRequest(
                "nonces were committed by another share",
            ));
        }
        if request.commitment(self.x) != Some(&nonces.commitment) {
            return Err(Error::InvalidExtractionRequest(
                "the node's own nonce commitment is not in the request",
            ));
        }
        let session = Session::of(request, polynomial)?;
        let i = request
            .position(self.x)
            .expect("own commitment found above");
        let s = self.share.expose();
        let d = *nonces.y.expose()
            + session.rho[i] * nonces.z.expose()
            + session.lambda[i] * session.f * s;
        let points = IdentityPoints::of(&request.id);
        Ok(PartialKey {
            x: self.x,
            d: Secret::new(d),
            s_hat: Secret::new(mul_g1(&points.q_hat, s)),
            s_check: Secret::new(mul_g2(&points.q_check, s)),
        })
    }
}

/// A node's one-time nonces (y_x, z_x) from round 1; zeroized on drop, neither `Clone` nor
/// encodable, and consumed by [`MasterKeyShare::extract`]: one nonce pair answers one request.
///
/// Answering two requests (two values of f) with one nonce pair would let anyone solve for
/// s_x; the type makes it impossible:
///
/// ```compile_fail,E0382
/// # use rand_chacha::ChaCha20Rng;
/// # use rand_core::SeedableRng;
/// # use taka::*;
/// # let mut rng = ChaCha20Rng::seed_from_u64(1);
/// # let (polynomial, shares) = Pkg::setup(&mut rng).deal_shares(1, 1, &mut rng).unwrap();
/// # let (_, registration) = PendingRegistration::new(Identity::new("u").unwrap(), &mut rng);
/// let (nonces, commitment) = shares[0].commit(&mut rng);
/// let request = ExtractionRequest::new(&registration, vec![commitment]).unwrap();
/// let first = shares[0].extract(nonces, &request, &polynomial);
/// let second = shares[0].extract(nonces, &request, &polynomial); // use of moved value
/// ```
#[derive(Debug)]
pub struct SigningNonces {
    commitment: NonceCommitment,
    y: Secret<Scalar>,
    z: Secret<Scalar>,
}

impl SigningNonces {
    /// The commitment these nonces answer for.
    pub fn commitment(&self) -> &NonceCommitment {
        &self.commitment
    }
}

/// Round 1 message from node x: (x, Y_x = y_x·P, Z_x = z_x·P).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceCommitment {
    x: u32,
    y: G1Affine,
    z: G1Affine,
}

impl NonceCommitment {
    /// Encoded length: x (4) ‖ Y_x (48) ‖ Z_x (48).
    pub const ENCODED_LEN: usize = 4 + 48 + 48;

    /// The committing node's evaluation point x.
    pub fn x(&self) -> u32 {
        self.x
    }

    /// Canonical encoding (100 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(|w| self.write(w))
    }

    /// Strict decoding (x ≥ 1, non-identity subgroup-checked points).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, Self::read)
    }

    fn write(&self, w: &mut Writer) {
        w.u32(self.x).g1(&self.y).g1(&self.z);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let x = r.u32("evaluation point")?;
        if x == 0 {
            return Err(Error::Malformed("evaluation point"));
        }
        Ok(Self {
            x,
            y: r.g1("nonce commitment Y")?,
            z: r.g1("nonce commitment Z")?,
        })
    }
}

/// Round 2 message from the enrollee to every node of S: (ID_U, L_U1, the t chosen
/// commitments sorted by x). Everything the nodes and the enrollee derive (ρ_x, λ_x, R, L_U,
/// f) is a function of this request and the public polynomial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractionRequest {
    id: Identity,
    l_u1: G1Affine,
    commitments: Vec<NonceCommitment>,
}

impl ExtractionRequest {
    /// The request for `registration` (ID_U, L_U1) over the chosen commitments, in any order:
    /// they are sorted by x; two from one node are refused.
    pub fn new(
        registration: &RegistrationRequest,
        mut commitments: Vec<NonceCommitment>,
    ) -> Result<Self> {
        commitments.sort_by_key(NonceCommitment::x);
        Self::checked(registration.id().clone(), *registration.l1(), commitments)
    }

    fn checked(id: Identity, l_u1: G1Affine, commitments: Vec<NonceCommitment>) -> Result<Self> {
        let increasing = commitments.windows(2).all(|pair| pair[0].x < pair[1].x);
        let bounded = (1..=PublicPolynomial::MAX_THRESHOLD).contains(&commitments.len());
        if !(increasing && bounded) {
            return Err(Error::InvalidList("nonce commitments"));
        }
        Ok(Self {
            id,
            l_u1,
            commitments,
        })
    }

    /// ID_U.
    pub fn id(&self) -> &Identity {
        &self.id
    }

    /// L_U1 = x_U·P, the entity's half of L_U.
    pub fn l_u1(&self) -> &G1Affine {
        &self.l_u1
    }

    /// The commitments of S, sorted by x.
    pub fn commitments(&self) -> &[NonceCommitment] {
        &self.commitments
    }

    /// The commitment of the node at x, if it is in S.
    pub fn commitment(&self, x: u32) -> Option<&NonceCommitment> {
        self.position(x).map(|i| &self.commitments[i])
    }

    fn position(&self, x: u32) -> Option<usize> {
        self.commitments.binary_search_by_key(&x, |c| c.x).ok()
    }

    /// L_U = L_U1 + Σ_{x∈S} (Y_x + ρ_x·Z_x): the public key part the combined keys sign with,
    /// which nodes and enrollee (and anyone holding the request) compute alike.
    pub fn l_u(&self, polynomial: &PublicPolynomial) -> Result<G1Affine> {
        Session::of(self, polynomial).map(|session| session.l_u)
    }

    /// Canonical encoding: ID ‖ L_U1 ‖ count (u32) ‖ commitments in increasing x.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(|w| {
            self.id.write(w);
            w.g1(&self.l_u1).u32(self.commitments.len() as u32);
            for c in &self.commitments {
                c.write(w);
            }
        })
    }

    /// Strict decoding: commitments strictly increasing in x (so no duplicates), at most
    /// [`PublicPolynomial::MAX_THRESHOLD`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            let id = Identity::read(r)?;
            let l_u1 = r.g1("L_U1")?;
            let count = r.u32("commitment count")? as usize;
            if count > PublicPolynomial::MAX_THRESHOLD {
                return Err(Error::InvalidList("nonce commitments"));
            }
            let commitments = (0..count)
                .map(|_| NonceCommitment::read(r))
                .collect::<Result<Vec<_>>>()?;
            Self::checked(id, l_u1, commitments)
        })
    }
}

/// Node x's answer: d_x, Ŝ_x = s_x·Q̂_U ∈ G1, Š_x = s_x·Q̌_U ∈ G2. Contains secrets.
#[derive(Clone, Debug)]
pub struct PartialKey {
    x: u32,
    d: Secret<Scalar>,
    s_hat: Secret<G1Affine>,
    s_check: Secret<G2Affine>,
}

impl PartialKey {
    /// Encoded length: x (4) ‖ d_x (32) ‖ Ŝ_x (48) ‖ Š_x (96).
    pub const ENCODED_LEN: usize = 4 + 32 + 48 + 96;

    /// The answering node's evaluation point x.
    pub fn x(&self) -> u32 {
        self.x
    }

    /// Canonical encoding (180 bytes), for an encrypted channel only.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(encode(|w| {
            w.u32(self.x)
                .scalar(self.d.expose())
                .g1(self.s_hat.expose())
                .g2(self.s_check.expose());
        }))
    }

    /// Strict decoding; the cryptographic checks happen when the enrollee combines.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            let x = r.u32("evaluation point")?;
            if x == 0 {
                return Err(Error::Malformed("evaluation point"));
            }
            Ok(Self {
                x,
                d: Secret::new(r.scalar("partial d")?),
                s_hat: Secret::new(r.g1("partial S_U")?),
                s_check: Secret::new(r.g2("partial S_U_hat")?),
            })
        })
    }
}

/// What nodes and enrollee derive from one request: per node of S (in the request's order)
/// ρ_x and λ_x, then L_U and f.
struct Session {
    rho: Vec<Scalar>,
    lambda: Vec<Scalar>,
    l_u: G1Affine,
    f: Scalar,
}

impl Session {
    fn of(request: &ExtractionRequest, polynomial: &PublicPolynomial) -> Result<Self> {
        let t = polynomial.threshold();
        if request.commitments.len() != t {
            return Err(Error::InvalidExtractionRequest(
                "the request must carry exactly threshold-many commitments",
            ));
        }
        let params = polynomial.params();
        let xs: Vec<u32> = request.commitments.iter().map(NonceCommitment::x).collect();
        let rho = hash::binding_factors(&binding_context(request, &params), xs.iter().copied());
        let r = request
            .commitments
            .iter()
            .zip(&rho)
            .fold(G1Affine::identity(), |sum, (c, rho_x)| {
                add_g1(&sum, &add_g1(&c.y, &mul_g1(&c.z, rho_x)))
            });
        let l_u = add_g1(&request.l_u1, &r);
        // R = 0 would make the PKG's contribution y zero (L_U = L_U1), L_U = 0 a key image of
        // the identity; both need a discrete-log relation between the nodes' nonces.
        if bool::from(r.is_identity()) || bool::from(l_u.is_identity()) {
            return Err(Error::InvalidExtractionRequest("degenerate nonce sum"));
        }
        Ok(Self {
            rho,
            lambda: lagrange_at_zero(&xs),
            f: hash::h7(&request.id, params.p_pub(), &l_u),
            l_u,
        })
    }
}

/// The input of H_ρ: ID_U ‖ P_pub ‖ L_U1 ‖ every commitment, so a nonce signs only this
/// identity, key, entity share and signer set.
fn binding_context(request: &ExtractionRequest, params: &PublicParams) -> Vec<u8> {
    encode(|w| {
        request.id.write(w);
        w.g1(params.p_pub()).g1(&request.l_u1);
        for c in &request.commitments {
            c.write(w);
        }
    })
}

/// λ_x = Π_{j∈S, j≠x} j / (j − x) for each x of S (distinct, non-zero): Σ λ_x·a(x) = a(0).
fn lagrange_at_zero(xs: &[u32]) -> Vec<Scalar> {
    let point = |x: u32| Scalar::from(u64::from(x));
    xs.iter()
        .map(|&x| {
            let (num, den) = xs
                .iter()
                .filter(|&&j| j != x)
                .fold((Scalar::ONE, Scalar::ONE), |(num, den), &j| {
                    (num * point(j), den * (point(j) - point(x)))
                });
            num * den.invert().expect("distinct evaluation points")
        })
        .collect()
}

/// Combines t partial keys into the registration response a single PKG would have sent
/// (L_U, d_U, Ŝ_U, Š_U) and hands it to `accept` (the entity's usual checks against P_pub).
///
/// Optimistic, as in FROST: if the combined keys pass, every partial that went into them is
/// irrelevant (even colluding nodes whose errors cancel produced the right keys), so the
/// honest path costs one registration check instead of t. Only when the combined keys fail,
/// or fewer than t partials came, is each partial checked against node x's public share —
/// d_x·P = Y_x + ρ_x·Z_x + λ_x·f·poly(x) and the identity-key checks against poly(x) — to
/// name the first faulty node.
pub(crate) fn combine<T>(
    polynomial: &PublicPolynomial,
    request: &ExtractionRequest,
    mut partials: Vec<PartialKey>,
    accept: impl FnOnce(RegistrationResponse) -> Result<T>,
) -> Result<T> {
    let session = Session::of(request, polynomial)?;
    partials.sort_by_key(PartialKey::x);
    let mut positions = Vec::with_capacity(partials.len());
    for (k, partial) in partials.iter().enumerate() {
        let duplicate = k > 0 && partials[k - 1].x == partial.x;
        match request.position(partial.x) {
            Some(i) if !duplicate => positions.push(i),
            _ => return Err(Error::UnexpectedPartial { x: partial.x }),
        }
    }
    let blame = |fallback: Error| {
        let points = IdentityPoints::of(&request.id);
        partials
            .iter()
            .zip(&positions)
            .find_map(|(partial, &i)| {
                verify_partial(polynomial, request, &session, &points, partial, i).err()
            })
            .unwrap_or(fallback)
    };
    let need = polynomial.threshold();
    if partials.len() < need {
        return Err(blame(Error::NotEnoughPartials {
            got: partials.len(),
            need,
        }));
    }
    let mut d = Secret::new(Scalar::ZERO);
    let mut s_hat = Secret::new(G1Affine::identity());
    let mut s_check = Secret::new(G2Affine::identity());
    for (partial, &i) in partials.iter().zip(&positions) {
        let lambda = &session.lambda[i];
        d = Secret::new(*d.expose() + partial.d.expose());
        s_hat = Secret::new(add_g1(
            s_hat.expose(),
            &mul_g1(partial.s_hat.expose(), lambda),
        ));
        s_check = Secret::new(add_g2(
            s_check.expose(),
            &mul_g2(partial.s_check.expose(), lambda),
        ));
    }
    let response = RegistrationResponse::new(session.l_u, d, *s_hat.expose(), *s_check.expose());
    accept(response).map_err(blame)
}

fn verify_partial(
    polynomial: &PublicPolynomial,
    request: &ExtractionRequest,
    session: &Session,
    points: &IdentityPoints,
    partial: &PartialKey,
    i: usize,
) -> Result<()> {
    let public_share = polynomial.public_share(partial.x);
    let c = &request.commitments[i];
    let expected = add_g1(
        &add_g1(&c.y, &mul_g1(&c.z, &session.rho[i])),
        &mul_g1(&public_share, &(session.lambda[i] * session.f)),
    );
    let d_ok = mul_p(partial.d.expose()) == expected;
    if !(d_ok
        && points.keys_match(
            &public_share,
            partial.s_hat.expose(),
            partial.s_check.expose(),
        ))
    {
        return Err(Error::BadPartialKey { x: partial.x });
    }
    Ok(())
}

/// A trusted dealer's sharing of `master` for evaluation points 1..=n with threshold t (for
/// tests and benches; the chain uses the validators' DKG).
pub(crate) fn deal(
    master: &Scalar,
    n: u32,
    t: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(PublicPolynomial, Vec<MasterKeyShare>)> {
    if t == 0 || t > n as usize || t > PublicPolynomial::MAX_THRESHOLD {
        return Err(Error::InvalidList("shares: need 1 ≤ t ≤ n"));
    }
    let coefficients: Vec<Secret<Scalar>> = core::iter::once(*master)
        .chain((1..t).map(|_| random_nonzero_scalar(rng)))
        .map(Secret::new)
        .collect();
    let polynomial =
        PublicPolynomial::new(coefficients.iter().map(|a| mul_p(a.expose())).collect())?;
    let shares = (1..=n)
        .map(|x| {
            let x_scalar = Scalar::from(u64::from(x));
            let share = coefficients
                .iter()
                .rev()
                .fold(Scalar::ZERO, |acc, a| acc * x_scalar + a.expose());
            MasterKeyShare::new(x, share)
        })
        .collect();
    Ok((polynomial, shares))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn lagrange_coefficients_recover_the_constant_term() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let master = random_nonzero_scalar(&mut rng);
        let (polynomial, shares) = deal(&master, 5, 3, &mut rng).unwrap();
        for subset in [[1u32, 2, 3], [1, 3, 5], [2, 4, 5]] {
            let lambda = lagrange_at_zero(&subset);
            let recovered = subset
                .iter()
                .zip(&lambda)
                .fold(Scalar::ZERO, |acc, (x, l)| {
                    acc + *l * shares[*x as usize - 1].share.expose()
                });
            assert_eq!(recovered, master);
        }
        assert_eq!(polynomial.params().p_pub(), &mul_p(&master));
    }

    #[test]
    fn dealt_shares_match_the_public_polynomial() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let master = random_nonzero_scalar(&mut rng);
        let (polynomial, shares) = deal(&master, 4, 3, &mut rng).unwrap();
        assert_eq!(polynomial.threshold(), 3);
        for share in &shares {
            assert_eq!(share.check(&polynomial), Ok(()));
        }
        // Off-by-one index mapping is caught.
        let shifted = MasterKeyShare::new(2, *shares[0].share.expose());
        assert_eq!(
            shifted.check(&polynomial),
            Err(Error::ShareMismatch { x: 2 })
        );
        assert!(deal(&master, 2, 3, &mut rng).is_err());
        assert!(deal(&master, 2, 0, &mut rng).is_err());
    }

    #[test]
    fn binding_factors_depend_on_node_and_request() {
        let a = hash::binding_factors(b"request a", [1u32, 2].into_iter());
        let b = hash::binding_factors(b"request b", [1u32, 2].into_iter());
        assert_ne!(a[0], a[1]);
        assert_ne!(a[0], b[0]);
    }
}
