//! The only place that touches BLS12-381 arithmetic (`blstrs` for G1/G2/Zq, `blst` for the
//! pairing and the target group), so every expensive operation is counted in [`crate::ops`].
//!
//! Asymmetric setting: G1 (generator P), G2 (generator P̂), e: G1 × G2 → GT, g = e(P, P̂).

use blst::blst_fp12;
use blstrs::{G1Affine, G1Projective, G2Affine, G2Projective, Scalar};
use ff::Field;
use group::{Curve, prime::PrimeCurveAffine};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::ops::bump;

/// A random element of Zq* (zero is resampled: it would make ephemeral keys the identity).
pub(crate) fn random_nonzero_scalar(rng: &mut (impl RngCore + CryptoRng)) -> Scalar {
    loop {
        let s = Scalar::random(&mut *rng);
        if !bool::from(s.is_zero()) {
            return s;
        }
    }
}

/// P, the generator of G1.
pub(crate) fn p() -> G1Affine {
    G1Affine::generator()
}

/// P̂, the generator of G2.
pub(crate) fn p_hat() -> G2Affine {
    G2Affine::generator()
}

/// k·X for X in G1.
pub(crate) fn mul_g1(point: &G1Affine, k: &Scalar) -> G1Affine {
    bump(|c| c.g1_muls += 1);
    (*point * k).to_affine()
}

/// k·P for the G1 generator P.
pub(crate) fn mul_p(k: &Scalar) -> G1Affine {
    mul_g1(&p(), k)
}

/// k·X for X in G2.
pub(crate) fn mul_g2(point: &G2Affine, k: &Scalar) -> G2Affine {
    bump(|c| c.g2_muls += 1);
    (*point * k).to_affine()
}

/// k·P̂ for the G2 generator P̂.
pub(crate) fn mul_p_hat(k: &Scalar) -> G2Affine {
    mul_g2(&p_hat(), k)
}

/// Sum of G1 points (cheap; not counted).
pub(crate) fn add_g1(a: &G1Affine, b: &G1Affine) -> G1Affine {
    (G1Projective::from(a) + b).to_affine()
}

/// a − b in G1 (cheap; not counted).
pub(crate) fn sub_g1(a: &G1Affine, b: &G1Affine) -> G1Affine {
    (G1Projective::from(a) - G1Projective::from(b)).to_affine()
}

/// Sum of G2 points (cheap; not counted).
pub(crate) fn add_g2(a: &G2Affine, b: &G2Affine) -> G2Affine {
    (G2Projective::from(a) + b).to_affine()
}

/// RFC 9380 hash to G1 (SSWU, random oracle) under `dst`.
pub(crate) fn hash_to_g1(msg: &[u8], dst: &[u8]) -> G1Affine {
    bump(|c| c.hash_to_curve += 1);
    G1Projective::hash_to_curve(msg, dst, &[]).to_affine()
}

/// RFC 9380 hash to G2 (SSWU, random oracle) under `dst`.
pub(crate) fn hash_to_g2(msg: &[u8], dst: &[u8]) -> G2Affine {
    bump(|c| c.hash_to_curve += 1);
    G2Projective::hash_to_curve(msg, dst, &[]).to_affine()
}

/// An element of the target group GT with a canonical encoding for hashing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gt(blst_fp12);

impl Gt {
    /// 576-byte big-endian encoding of the Fp12 coefficients (canonical: fully reduced), wiped
    /// on drop: GT values here are static keys K and per-record keys K_j.
    pub(crate) fn to_bytes(self) -> Zeroizing<[u8; 576]> {
        Zeroizing::new(self.0.to_bendian())
    }
}

impl crate::secret::Blank for Gt {
    fn blank() -> Self {
        Gt(blst_fp12::default())
    }
}

fn miller_loop(p: &G1Affine, q: &G2Affine) -> blst_fp12 {
    bump(|c| c.pairings += 1);
    blst_fp12::miller_loop(q.as_ref(), p.as_ref())
}

/// e(p, q). Callers pass non-identity points (decoders reject the identity).
pub(crate) fn pairing(p: &G1Affine, q: &G2Affine) -> Gt {
    let ml = miller_loop(p, q);
    bump(|c| c.final_exps += 1);
    Gt(ml.final_exp())
}

/// Whether e(a.0, a.1) = e(b.0, b.1): two Miller loops and one shared final exponentiation.
pub(crate) fn pairings_equal(a: (&G1Affine, &G2Affine), b: (&G1Affine, &G2Affine)) -> bool {
    let lhs = miller_loop(a.0, a.1);
    let rhs = miller_loop(b.0, b.1);
    bump(|c| c.final_exps += 1);
    blst_fp12::finalverify(&lhs, &rhs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::measure;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn pairing_is_bilinear_and_counted() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (a, b) = (
            random_nonzero_scalar(&mut rng),
            random_nonzero_scalar(&mut rng),
        );
        let (lhs, counts) = measure(|| pairing(&mul_p(&a), &mul_p_hat(&b)));
        let rhs = pairing(&mul_p(&(a * b)), &G2Affine::generator());
        assert!(lhs == rhs);
        assert_eq!((counts.pairings, counts.g1_muls, counts.g2_muls), (1, 1, 1));
        assert!(pairings_equal(
            (&mul_p(&a), &mul_p_hat(&b)),
            (&mul_p(&b), &mul_p_hat(&a))
        ));
        assert!(!pairings_equal(
            (&mul_p(&a), &mul_p_hat(&b)),
            (&mul_p(&a), &mul_p_hat(&a))
        ));
    }

    #[test]
    fn gt_encoding_distinguishes_elements() {
        let g = pairing(&G1Affine::generator(), &G2Affine::generator());
        let g2 = pairing(&mul_p(&Scalar::from(2u64)), &G2Affine::generator());
        assert_ne!(*g.to_bytes(), *g2.to_bytes());
        assert_eq!(*g.to_bytes(), *g.to_bytes());
    }
}
