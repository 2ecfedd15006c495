//! Canonical, length-checked byte encoding shared by every wire type.
//!
//! Layout rules: integers big-endian; G1 points 48-byte compressed, G2 points 96-byte compressed
//! (both subgroup-checked on decode and rejected when they are the identity); scalars 32-byte
//! big-endian, canonical and non-zero; byte strings prefixed by a `u32` length; a decoder must
//! consume its input exactly ([`Reader::finish`]).

use blstrs::{G1Affine, G2Affine, Scalar};
use ff::Field;
use group::prime::PrimeCurveAffine;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Largest byte string accepted inside a message (64 MiB): EMRs are bulky but bounded.
pub const MAX_BYTES_LEN: usize = 64 << 20;

/// Appends canonical encodings to a buffer. The buffer is wiped when it grows and when the
/// writer is dropped, because encodings of keys and key-derivation transcripts pass through it
/// (a plain `Vec` would free its old allocation, secret bytes included, on every growth).
#[derive(Default)]
pub(crate) struct Writer(Zeroizing<Vec<u8>>);

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.raw(&[v])
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }

    pub(crate) fn raw(&mut self, v: &[u8]) -> &mut Self {
        let needed = self.0.len() + v.len();
        if needed > self.0.capacity() {
            let mut grown = Vec::with_capacity(needed.max(2 * self.0.capacity()).max(64));
            grown.extend_from_slice(&self.0);
            // The old buffer is wiped as it drops.
            self.0 = Zeroizing::new(grown);
        }
        self.0.extend_from_slice(v);
        self
    }

    /// Length-prefixed bytes; callers keep lengths under [`MAX_BYTES_LEN`].
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.u32(len).raw(v)
    }

    pub(crate) fn g1(&mut self, p: &G1Affine) -> &mut Self {
        self.raw(&p.to_compressed())
    }

    pub(crate) fn g2(&mut self, p: &G2Affine) -> &mut Self {
        self.raw(&p.to_compressed())
    }

    pub(crate) fn scalar(&mut self, s: &Scalar) -> &mut Self {
        self.raw(&Zeroizing::new(s.to_bytes_be())[..])
    }

    /// The encoding; callers wrap it in `Zeroizing` when it holds secrets.
    pub(crate) fn into_bytes(mut self) -> Vec<u8> {
        core::mem::take(&mut *self.0)
    }

    /// The encoding, wiped when dropped: for key material and key-derivation transcripts.
    pub(crate) fn into_secret_bytes(self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.into_bytes())
    }
}

/// Reads canonical encodings, never panicking on malformed input.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(Error::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = self.u32(what)? as usize;
        if len > MAX_BYTES_LEN {
            return Err(Error::Malformed(what));
        }
        self.take(len, what)
    }

    /// A non-identity, subgroup-checked G1 point.
    pub(crate) fn g1(&mut self, what: &'static str) -> Result<G1Affine> {
        let point = Option::from(G1Affine::from_compressed(&self.array(what)?))
            .ok_or(Error::InvalidPoint(what))?;
        nonzero_g1(point, what)
    }

    /// A non-identity, subgroup-checked G2 point.
    pub(crate) fn g2(&mut self, what: &'static str) -> Result<G2Affine> {
        let point = Option::from(G2Affine::from_compressed(&self.array(what)?))
            .ok_or(Error::InvalidPoint(what))?;
        nonzero_g2(point, what)
    }

    /// A canonical, non-zero scalar.
    pub(crate) fn scalar(&mut self, what: &'static str) -> Result<Scalar> {
        let s = Option::from(Scalar::from_bytes_be(&self.array(what)?))
            .ok_or(Error::NonCanonicalScalar(what))?;
        nonzero_scalar(s, what)
    }

    /// Succeeds only if every byte was consumed.
    pub(crate) fn finish(self) -> Result<()> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(Error::TrailingBytes(n)),
        }
    }
}

/// Rejects the identity of G1.
pub(crate) fn nonzero_g1(p: G1Affine, what: &'static str) -> Result<G1Affine> {
    if bool::from(p.is_identity()) {
        return Err(Error::IdentityPoint(what));
    }
    Ok(p)
}

/// Rejects the identity of G2.
pub(crate) fn nonzero_g2(p: G2Affine, what: &'static str) -> Result<G2Affine> {
    if bool::from(p.is_identity()) {
        return Err(Error::IdentityPoint(what));
    }
    Ok(p)
}

/// Rejects the zero scalar.
pub(crate) fn nonzero_scalar(s: Scalar, what: &'static str) -> Result<Scalar> {
    if bool::from(s.is_zero()) {
        return Err(Error::ZeroScalar(what));
    }
    Ok(s)
}

/// Encodes with `write` into a fresh buffer.
pub(crate) fn encode(write: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    write(&mut w);
    w.into_bytes()
}

/// Decodes `bytes` with `read`, requiring that it consumes everything.
pub(crate) fn decode<T>(
    bytes: &[u8],
    read: impl FnOnce(&mut Reader<'_>) -> Result<T>,
) -> Result<T> {
    let mut reader = Reader::new(bytes);
    let value = read(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use group::{Curve, Group};

    #[test]
    fn identity_points_and_zero_scalars_are_rejected() {
        let mut w = Writer::new();
        w.g1(&G1Affine::identity()).g2(&G2Affine::identity());
        w.scalar(&Scalar::ZERO);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.g1("p"), Err(Error::IdentityPoint("p")));
        assert_eq!(r.g2("q"), Err(Error::IdentityPoint("q")));
        assert_eq!(r.scalar("s"), Err(Error::ZeroScalar("s")));
    }

    #[test]
    fn non_canonical_scalar_is_rejected() {
        let bytes = [0xffu8; 32];
        assert_eq!(
            Reader::new(&bytes).scalar("s"),
            Err(Error::NonCanonicalScalar("s"))
        );
    }

    #[test]
    fn points_round_trip_and_garbage_is_rejected() {
        let p = (G1Affine::generator() * Scalar::from(7u64)).to_affine();
        let q = (blstrs::G2Projective::generator() * Scalar::from(9u64)).to_affine();
        let mut w = Writer::new();
        w.g1(&p).g2(&q).u64(42).bytes(b"abc");
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.g1("p").ok(), Some(p));
        assert_eq!(r.g2("q").ok(), Some(q));
        assert_eq!(r.u64("n").ok(), Some(42));
        assert_eq!(r.bytes("b").ok(), Some(&b"abc"[..]));
        assert!(r.finish().is_ok());
        assert_eq!(
            Reader::new(&[0x12u8; 48]).g1("p"),
            Err(Error::InvalidPoint("p"))
        );
    }

    #[test]
    fn truncation_and_trailing_bytes_are_errors() {
        assert_eq!(Reader::new(&[0, 0, 0]).u32("n"), Err(Error::Truncated("n")));
        assert_eq!(
            Reader::new(&[0, 0, 0, 9, 1]).bytes("b"),
            Err(Error::Truncated("b"))
        );
        assert_eq!(decode(&[1, 2], |r| r.u8("x")), Err(Error::TrailingBytes(1)));
    }
}
