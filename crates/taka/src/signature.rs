//! The seed's Schnorr-like identity-based signature (S3-register keys, used in S3-share):
//! σ = (L_U, h, v) with T = b·P, h = H2(m ‖ ID_U ‖ P_pub ‖ L_U ‖ T), v = b + h·(d_U + x_U).

use blstrs::{G1Affine, Scalar};
use ff::Field;
use group::prime::PrimeCurveAffine;
use rand_core::{CryptoRng, RngCore};

use crate::codec::{Reader, Writer, decode, encode};
use crate::curve::{self, mul_g1, mul_p, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::hash::{self, Challenge};
use crate::identity::Identity;
use crate::params::PublicParams;
use crate::register::EntityKeys;
use crate::secret::Secret;

/// What a signature is for; prefixed to the message so a signature made for one purpose never
/// verifies for another (e.g. a sharing request re-read as a licence).
#[derive(Clone, Copy)]
pub(crate) enum Purpose {
    Message = 0,
    Licence = 1,
    ShareRequest = 2,
}

fn tagged(purpose: Purpose, message: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(purpose as u8).bytes(message);
    w.into_bytes()
}

/// σ = (L_U, h, v).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    l: G1Affine,
    h: Scalar,
    v: Scalar,
}

impl Signature {
    /// Encoded length: L_U (48) ‖ h (32) ‖ v (32).
    pub const ENCODED_LEN: usize = 48 + 32 + 32;

    /// Signs `message` for any application purpose (S3-register: "(x_U, L_U, d_U) sign messages").
    pub fn sign(
        keys: &EntityKeys,
        params: &PublicParams,
        message: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Self {
        sign_tagged(keys, params, Purpose::Message, message, rng)
    }

    /// Verifies a signature made with [`Signature::sign`] by `signer`.
    pub fn verify(&self, params: &PublicParams, signer: &Identity, message: &[u8]) -> Result<()> {
        self.check(params, signer, &tagged(Purpose::Message, message))
    }

    /// Recomputes T' = v·P − h·(L_U + f·P_pub) with f = H7(ID_U, P_pub, L_U) and accepts iff
    /// H2(m ‖ ID_U ‖ P_pub ‖ L_U ‖ T') = h.
    ///
    /// Why this is sound: (d_U + x_U)·P = L_U2 + s·f·P + L_U1 = L_U + f·P_pub, so a valid v needs
    /// the discrete log of L_U + f·P_pub; f binds L_U to ID_U, so only the holder of the keys
    /// the PKG issued for ID_U can produce it.
    fn check(&self, params: &PublicParams, signer: &Identity, tagged_message: &[u8]) -> Result<()> {
        let t = self.commitment(params, signer);
        let h = hash::h2(&Challenge {
            message: tagged_message,
            signer,
            p_pub: params.p_pub(),
            l: &self.l,
            t: &t,
        });
        if h != self.h || bool::from(t.is_identity()) {
            return Err(Error::BadSignature);
        }
        Ok(())
    }

    /// T' = v·P − h·(L_U + f·P_pub): public, computable by anyone who sees the signature —
    /// which is why the nonce b behind T = b·P must never double as a key.
    fn commitment(&self, params: &PublicParams, signer: &Identity) -> G1Affine {
        let f = hash::h7(signer, params.p_pub(), &self.l);
        let key_image = curve::add_g1(&self.l, &mul_g1(params.p_pub(), &f));
        curve::sub_g1(&mul_p(&self.v), &mul_g1(&key_image, &self.h))
    }

    /// (h, v), for tests that play an attacker holding a leaked nonce.
    #[cfg(test)]
    pub(crate) fn challenge_and_response(&self) -> (Scalar, Scalar) {
        (self.h, self.v)
    }

    /// Canonical encoding (112 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(|w| self.write(w))
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, Self::read)
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.g1(&self.l).scalar(&self.h).scalar(&self.v);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            l: r.g1("signature L")?,
            h: r.scalar("signature h")?,
            v: r.scalar("signature v")?,
        })
    }
}

/// Signs with a fresh nonce b, used for this signature only and wiped: v = b + h·(d_U + x_U),
/// so whoever learns b learns the long-term key d_U + x_U. (The seed reuses b as the doctor's
/// ephemeral key in S3-share; we do not, see [`crate::PendingShare`].)
pub(crate) fn sign_tagged(
    keys: &EntityKeys,
    params: &PublicParams,
    purpose: Purpose,
    message: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Signature {
    let tagged = tagged(purpose, message);
    let signing_key = keys.signing_key();
    loop {
        let b = Secret::new(random_nonzero_scalar(rng));
        let h = hash::h2(&Challenge {
            message: &tagged,
            signer: keys.id(),
            p_pub: params.p_pub(),
            l: keys.l(),
            t: &mul_p(b.expose()),
        });
        let v = *b.expose() + h * signing_key.expose();
        // v = 0 has negligible probability; it would not decode, so pick another b.
        if !bool::from(v.is_zero()) {
            return Signature { l: *keys.l(), h, v };
        }
    }
}

/// Verifies a purpose-tagged signature.
pub(crate) fn verify_tagged(
    sig: &Signature,
    params: &PublicParams,
    signer: &Identity,
    purpose: Purpose,
    message: &[u8],
) -> Result<()> {
    sig.check(params, signer, &tagged(purpose, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg::Pkg;
    use crate::register::PendingRegistration;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn keys(rng: &mut ChaCha20Rng) -> (Pkg, EntityKeys) {
        let pkg = Pkg::setup(rng);
        let (pending, request) = PendingRegistration::new(Identity::new("dr-x").unwrap(), rng);
        let response = pkg.register(&request, rng);
        let keys = pending.complete(pkg.params(), response).unwrap();
        (pkg, keys)
    }

    #[test]
    fn purposes_do_not_cross() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (pkg, keys) = keys(&mut rng);
        let sig = sign_tagged(&keys, pkg.params(), Purpose::Licence, b"m", &mut rng);
        let id = keys.id();
        assert!(verify_tagged(&sig, pkg.params(), id, Purpose::Licence, b"m").is_ok());
        for other in [Purpose::Message, Purpose::ShareRequest] {
            let result = verify_tagged(&sig, pkg.params(), id, other, b"m");
            assert_eq!(result, Err(Error::BadSignature));
        }
    }
}
