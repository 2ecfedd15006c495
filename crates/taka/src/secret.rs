//! Zeroize-on-drop holders for secret scalars and points.
//!
//! `blstrs` types do not implement `Zeroize`; they are plain `Copy` data whose all-zero bit
//! pattern is a valid value (scalar 0, point at infinity), so `zeroize`'s volatile
//! `DefaultIsZeroes` write wipes them without `unsafe` in this crate.

use blstrs::{G1Affine, G2Affine, Scalar};
use ff::Field;
use group::prime::PrimeCurveAffine;
use zeroize::{DefaultIsZeroes, Zeroize};

/// A `Copy` value with an all-zero "blank" state.
pub(crate) trait Blank: Copy {
    fn blank() -> Self;
}

impl Blank for Scalar {
    fn blank() -> Self {
        Scalar::ZERO
    }
}

impl Blank for G1Affine {
    fn blank() -> Self {
        G1Affine::identity()
    }
}

impl Blank for G2Affine {
    fn blank() -> Self {
        G2Affine::identity()
    }
}

#[derive(Clone, Copy)]
struct Cell<T: Blank>(T);

impl<T: Blank> Default for Cell<T> {
    fn default() -> Self {
        Cell(T::blank())
    }
}

impl<T: Blank> DefaultIsZeroes for Cell<T> {}

/// A secret that is overwritten when dropped.
pub(crate) struct Secret<T: Blank>(Cell<T>);

impl<T: Blank> Secret<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Cell(value))
    }

    pub(crate) fn expose(&self) -> &T {
        &self.0.0
    }
}

impl<T: Blank> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self::new(*self.expose())
    }
}

impl<T: Blank> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Blank> core::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroize_blanks_the_value() {
        let mut cell = Cell(Scalar::from(5u64));
        cell.zeroize();
        assert_eq!(cell.0, Scalar::ZERO);
        let mut point = Cell(G1Affine::generator());
        point.zeroize();
        assert!(bool::from(point.0.is_identity()));
    }

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new(Scalar::from(5u64));
        assert_eq!(format!("{s:?}"), "Secret(..)");
        assert_eq!(*s.clone().expose(), Scalar::from(5u64));
    }
}
