//! Entity identities ID_U and record indices j.

use core::fmt;

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};

/// An entity's unique identifier ID_U (S3-register): a patient, doctor or hospital.
///
/// Any byte string of 1..=[`Identity::MAX_LEN`] bytes; the bound keeps every hash input and
/// every message short.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(Vec<u8>);

impl Identity {
    /// Longest accepted identity, in bytes.
    pub const MAX_LEN: usize = 255;

    /// Validates and wraps an identifier.
    pub fn new(id: impl AsRef<[u8]>) -> Result<Self> {
        let id = id.as_ref();
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(Error::InvalidIdentity {
                len: id.len(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(id.to_vec()))
    }

    /// The identifier's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.bytes(&self.0);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Self::new(r.bytes("identity")?)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// The index j of an EMR at its hospital (S3-release): 1, 2, … in order of release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordIndex(u64);

impl RecordIndex {
    /// Validates j ≥ 1.
    pub fn new(j: u64) -> Result<Self> {
        if j == 0 {
            return Err(Error::InvalidRecordIndex);
        }
        Ok(Self(j))
    }

    /// The index as a number.
    pub fn get(self) -> u64 {
        self.0
    }

    pub(crate) fn write(self, w: &mut Writer) {
        w.u64(self.0);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Self::new(r.u64("record index")?)
    }
}

/// Writes a list of distinct record indices (count, then each index).
pub(crate) fn write_records(w: &mut Writer, records: &[RecordIndex]) {
    w.u32(records.len() as u32);
    for j in records {
        j.write(w);
    }
}

/// Reads a list written by [`write_records`], enforcing [`check_records`].
pub(crate) fn read_records(r: &mut Reader<'_>) -> Result<Vec<RecordIndex>> {
    let count = r.u32("record count")? as usize;
    if count > MAX_RECORDS_PER_SHARE {
        return Err(Error::InvalidList("records"));
    }
    let records = (0..count)
        .map(|_| RecordIndex::read(r))
        .collect::<Result<Vec<_>>>()?;
    check_records(&records)?;
    Ok(records)
}

/// Most records one authorization or request may name.
pub const MAX_RECORDS_PER_SHARE: usize = 256;

/// A record list must be non-empty, bounded and free of duplicates.
pub(crate) fn check_records(records: &[RecordIndex]) -> Result<()> {
    let mut sorted = records.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if records.is_empty() || records.len() > MAX_RECORDS_PER_SHARE || sorted.len() != records.len()
    {
        return Err(Error::InvalidList("records"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_bounds() {
        assert!(Identity::new("").is_err());
        assert!(Identity::new([7u8; 256]).is_err());
        assert_eq!(
            Identity::new("alice").map(|i| i.to_string()).ok(),
            Some("alice".into())
        );
    }

    #[test]
    fn record_index_starts_at_one() {
        assert_eq!(RecordIndex::new(0), Err(Error::InvalidRecordIndex));
        assert_eq!(RecordIndex::new(3).map(RecordIndex::get), Ok(3));
    }

    #[test]
    fn record_lists_reject_duplicates_and_empty() {
        let j = |n| RecordIndex::new(n).unwrap();
        assert!(check_records(&[]).is_err());
        assert!(check_records(&[j(1), j(2), j(1)]).is_err());
        assert!(check_records(&[j(2), j(1)]).is_ok());
    }
}
