//! A single-holder private key generator (S3-setup, PKG side of S3-register), for tests and
//! benches only: the chain's PKG is threshold ([`crate::threshold`]) and no process holds s.

use blstrs::Scalar;
use ff::Field;
use group::prime::PrimeCurveAffine;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::codec::{Reader, decode};
use crate::curve::{self, mul_g1, mul_g2, mul_p, random_nonzero_scalar};
use crate::error::Result;
use crate::hash;
use crate::params::PublicParams;
use crate::register::{RegistrationRequest, RegistrationResponse};
use crate::secret::Secret;
use crate::threshold::{self, MasterKeyShare, PublicPolynomial};

/// A PKG holding the master secret s ∈ Zq* and P_pub = s·P (S3-setup), as in the seed.
///
/// Not used by the chain, where s exists only as the validators' DKG shares and keys come
/// from threshold extraction. Kept as a reference implementation for tests, benches and
/// fuzzing fixtures, and as a trusted dealer of shares ([`Pkg::deal_shares`]) for tests.
pub struct Pkg {
    master: Secret<Scalar>,
    params: PublicParams,
}

impl Pkg {
    /// S3-setup: picks s at random and publishes P_pub = s·P.
    pub fn setup(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self::from_master(random_nonzero_scalar(rng))
    }

    fn from_master(s: Scalar) -> Self {
        let params = PublicParams::new(mul_p(&s));
        Self {
            master: Secret::new(s),
            params,
        }
    }

    /// The public parameters to publish (e.g. in a genesis file).
    pub fn params(&self) -> &PublicParams {
        &self.params
    }

    /// The master secret's 32-byte encoding, for the PKG's own sealed storage.
    pub fn master_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.master.expose().to_bytes_be())
    }

    /// Restores a PKG from [`Pkg::master_secret_bytes`]; rejects zero and non-canonical values.
    pub fn from_master_secret_bytes(bytes: &[u8]) -> Result<Self> {
        let s = decode(bytes, |r: &mut Reader<'_>| r.scalar("master secret"))?;
        Ok(Self::from_master(s))
    }

    /// Shamir-shares s among evaluation points 1..=n with threshold t, as a trusted dealer:
    /// the public polynomial's P_pub is this PKG's. For tests and benches of threshold
    /// extraction without running a DKG.
    pub fn deal_shares(
        &self,
        n: u32,
        t: usize,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(PublicPolynomial, Vec<MasterKeyShare>)> {
        threshold::deal(self.master.expose(), n, t, rng)
    }

    /// S3-register, PKG side: picks y_U, sets L_U = L_U1 + y_U·P, f = H7(ID_U, P_pub, L_U),
    /// d_U = y_U + s·f mod q, and the identity keys Ŝ_U = s·H1(ID_U) in G1 and Š_U = s·H1'(ID_U)
    /// in G2. The response carries secrets and must travel over the secure channel the seed
    /// assumes; the entity verifies it with [`crate::PendingRegistration::complete`].
    pub fn register(
        &self,
        request: &RegistrationRequest,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> RegistrationResponse {
        let s = *self.master.expose();
        let id = request.id();
        let (l, d) = loop {
            let y = Secret::new(random_nonzero_scalar(rng));
            let l = curve::add_g1(request.l1(), &mul_p(y.expose()));
            let f = hash::h7(id, self.params.p_pub(), &l);
            let d = *y.expose() + s * f;
            // Resample in the negligible cases where L_U or d_U would leave the valid ranges.
            if !bool::from(l.is_identity()) && !bool::from(d.is_zero()) {
                break (l, Secret::new(d));
            }
        };
        let s_hat = mul_g1(&hash::h1_g1(id), &s);
        let s_check = mul_g2(&hash::h1_g2(id), &s);
        RegistrationResponse::new(l, d, s_hat, s_check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blstrs::G1Affine;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn master_secret_round_trips_and_rejects_zero() {
        let pkg = Pkg::setup(&mut ChaCha20Rng::seed_from_u64(3));
        let restored = Pkg::from_master_secret_bytes(&pkg.master_secret_bytes()[..]).unwrap();
        assert_eq!(restored.params(), pkg.params());
        assert!(Pkg::from_master_secret_bytes(&[0u8; 32]).is_err());
        assert!(Pkg::from_master_secret_bytes(&[1u8; 31]).is_err());
    }

    #[test]
    fn params_round_trip_and_refuse_bad_points() {
        let pkg = Pkg::setup(&mut ChaCha20Rng::seed_from_u64(4));
        let bytes = pkg.params().to_bytes();
        assert_eq!(bytes.len(), PublicParams::ENCODED_LEN);
        assert_eq!(PublicParams::from_bytes(&bytes).as_ref(), Ok(pkg.params()));
        let identity = G1Affine::identity().to_compressed();
        assert_eq!(
            PublicParams::from_bytes(&identity),
            Err(crate::Error::IdentityPoint("P_pub"))
        );
        assert!(PublicParams::from_bytes(&bytes[..47]).is_err());
    }

    #[test]
    fn dealt_polynomial_carries_the_pkg_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let pkg = Pkg::setup(&mut rng);
        let (polynomial, shares) = pkg.deal_shares(4, 3, &mut rng).unwrap();
        assert_eq!(&polynomial.params(), pkg.params());
        assert_eq!(shares.len(), 4);
        assert!(pkg.deal_shares(2, 3, &mut rng).is_err());
    }
}
