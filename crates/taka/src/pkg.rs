//! The private key generator (S3-setup, PKG side of S3-register).

use blstrs::Scalar;
use ff::Field;
use group::prime::PrimeCurveAffine;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::codec::{Reader, decode};
use crate::curve::{self, mul_g1, mul_g2, mul_p, mul_p_hat, random_nonzero_scalar};
use crate::error::Result;
use crate::hash;
use crate::params::PublicParams;
use crate::register::{RegistrationRequest, RegistrationResponse};
use crate::secret::Secret;

/// The PKG: master secret s ∈ Zq* and the public parameters derived from it (S3-setup).
pub struct Pkg {
    master: Secret<Scalar>,
    params: PublicParams,
}

impl Pkg {
    /// S3-setup: picks s at random and publishes P_pub = sP, P̂_pub = sP̂.
    pub fn setup(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self::from_master(random_nonzero_scalar(rng))
    }

    fn from_master(s: Scalar) -> Self {
        let params = PublicParams::new(mul_p(&s), mul_p_hat(&s));
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
    fn params_round_trip_and_detect_mismatched_halves() {
        let pkg = Pkg::setup(&mut ChaCha20Rng::seed_from_u64(4));
        let other = Pkg::setup(&mut ChaCha20Rng::seed_from_u64(5));
        let bytes = pkg.params().to_bytes();
        assert_eq!(bytes.len(), PublicParams::ENCODED_LEN);
        assert_eq!(PublicParams::from_bytes(&bytes).as_ref(), Ok(pkg.params()));
        let mut mixed = bytes[..48].to_vec();
        mixed.extend_from_slice(&other.params().to_bytes()[48..]);
        assert_eq!(
            PublicParams::from_bytes(&mixed),
            Err(crate::Error::InconsistentParams)
        );
    }
}
