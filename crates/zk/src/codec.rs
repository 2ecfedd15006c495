//! Length-checked binary encoding shared by every wire type.
//!
//! All integers are little-endian and fixed-width. Field elements are 32 bytes, little-endian,
//! and must be canonical (< the BN254 scalar modulus). Curve objects use arkworks' compressed
//! encoding, decoded with `Validate::Yes` (on-curve and subgroup checks) and then re-encoded to
//! prove the input was the one canonical encoding; trailing bytes are refused.

use crate::error::{Result, ZkError};
use crate::poseidon::Fr;
use ark_ff::{BigInteger, PrimeField};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};

/// Size of one encoded field element.
pub const FIELD_BYTES: usize = 32;

/// Cursor over untrusted bytes; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    what: &'static str,
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Self { what, bytes }
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < len {
            return Err(ZkError::malformed(self.what, "truncated"));
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(ZkError::malformed(
                self.what,
                format!("boolean byte {other}"),
            )),
        }
    }

    pub(crate) fn field(&mut self) -> Result<Fr> {
        let bytes = self.array::<FIELD_BYTES>()?;
        fr_from_bytes(self.what, &bytes)
    }

    pub(crate) fn expect_magic(&mut self, magic: &[u8]) -> Result<()> {
        if self.take(magic.len())? != magic {
            return Err(ZkError::malformed(self.what, "wrong magic or version"));
        }
        Ok(())
    }

    /// A schema id: length (u8) and bytes, checked like [`crate::Schema::new`] checks it.
    pub(crate) fn schema_id(&mut self) -> Result<String> {
        let length = self.u8()?;
        let bytes = self.take(usize::from(length))?;
        let id = std::str::from_utf8(bytes)
            .map_err(|_| ZkError::malformed(self.what, "schema id is not UTF-8"))?;
        crate::schema::check_schema_id(id)
            .map_err(|_| ZkError::malformed(self.what, "bad schema id"))?;
        Ok(id.to_owned())
    }

    /// Number of bytes not yet read.
    pub(crate) fn rest_len(&self) -> usize {
        self.bytes.len()
    }

    /// The unread rest, consuming it.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub(crate) fn finish(self) -> Result<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(ZkError::malformed(self.what, "trailing bytes"))
        }
    }
}

/// Canonical 32-byte little-endian encoding of a field element.
pub(crate) fn fr_to_bytes(value: &Fr) -> [u8; FIELD_BYTES] {
    let mut out = [0u8; FIELD_BYTES];
    out.copy_from_slice(&value.into_bigint().to_bytes_le());
    out
}

/// Decodes exactly 32 bytes as a canonical field element.
pub(crate) fn fr_from_slice(what: &'static str, bytes: &[u8]) -> Result<Fr> {
    let array: &[u8; FIELD_BYTES] = bytes
        .try_into()
        .map_err(|_| ZkError::malformed(what, "expected 32 bytes"))?;
    fr_from_bytes(what, array)
}

/// Decodes a field element, refusing values ≥ the modulus (which would alias another value).
pub(crate) fn fr_from_bytes(what: &'static str, bytes: &[u8; FIELD_BYTES]) -> Result<Fr> {
    let value = Fr::from_le_bytes_mod_order(bytes);
    if fr_to_bytes(&value) != *bytes {
        return Err(ZkError::malformed(what, "field element not canonical"));
    }
    Ok(value)
}

/// Compressed arkworks encoding.
pub(crate) fn ark_to_bytes<T: CanonicalSerialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.compressed_size());
    // Writing into a Vec cannot fail (arkworks only reports I/O errors here).
    let _ = value.serialize_compressed(&mut out);
    out
}

/// Decodes an arkworks object from exactly `bytes`: compressed, canonical, and fully validated
/// (every point on its curve and in its prime-order subgroup, as `Validate::Yes` would).
pub(crate) fn ark_from_bytes<T>(what: &'static str, bytes: &[u8]) -> Result<T>
where
    T: CanonicalSerialize + CanonicalDeserialize,
{
    let mut reader = bytes;
    // Structure first (cheap), then the expensive subgroup checks once, on a canonical input:
    // the same checks as `Validate::Yes`, but truncated or padded keys fail fast.
    let value = T::deserialize_with_mode(&mut reader, Compress::Yes, Validate::No)
        .map_err(|e| ZkError::malformed(what, e.to_string()))?;
    if !reader.is_empty() {
        return Err(ZkError::malformed(what, "trailing bytes"));
    }
    if ark_to_bytes(&value) != bytes {
        return Err(ZkError::malformed(what, "non-canonical encoding"));
    }
    value
        .check()
        .map_err(|e| ZkError::malformed(what, e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_elements_round_trip_and_reject_the_modulus() {
        let x = Fr::from(123_456_789u64);
        assert_eq!(fr_from_bytes("t", &fr_to_bytes(&x)), Ok(x));
        let modulus: [u8; 32] = Fr::MODULUS
            .to_bytes_le()
            .try_into()
            .expect("BN254 modulus is 32 bytes");
        assert!(fr_from_bytes("t", &modulus).is_err());
        assert!(fr_from_bytes("t", &[0xff; 32]).is_err());
    }

    #[test]
    fn reader_refuses_truncation_trailing_bytes_and_bad_booleans() {
        let mut r = Reader::new("t", &[1, 2, 3]);
        assert!(r.u32().is_err());
        let mut r = Reader::new("t", &[2]);
        assert!(r.bool().is_err());
        let mut r = Reader::new("t", &[1, 0]);
        assert_eq!(r.bool(), Ok(true));
        assert!(r.finish().is_err());
    }
}
