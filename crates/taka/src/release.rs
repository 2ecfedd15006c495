//! What a hospital sends back once a request is accepted — (T_a, Enc(sk, EMR ‖ htxM_j)) per
//! record — shared by normal sharing (S3-share) and emergency access (S3-emergency).

use blstrs::G1Affine;
use zeroize::Zeroizing;

use crate::aead::{MAX_PLAINTEXT_LEN, SessionKey};
use crate::codec::{Reader, Writer, decode};
use crate::curve::Gt;
use crate::error::{Error, Result};
use crate::hash;
use crate::identity::{Identity, MAX_RECORDS_PER_SHARE, RecordIndex};
use crate::secret::Secret;

/// Largest EMR one release carries: the sealed plaintext (j ‖ htxM_j ‖ length ‖ EMR) must stay
/// within [`MAX_PLAINTEXT_LEN`].
pub const MAX_EMR_LEN: usize = MAX_PLAINTEXT_LEN - 8 - 32 - 4;

/// One EMR as released: its index j, htxM_j (the hash that locates tx_mr on MED, so the doctor
/// can check hEMR there) and the EMR bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRelease {
    record: RecordIndex,
    htxm: [u8; 32],
    emr: Vec<u8>,
}

impl RecordRelease {
    /// Wraps a record; EMRs are limited to [`MAX_EMR_LEN`] bytes, so the sealed record
    /// still fits one message field.
    pub fn new(record: RecordIndex, htxm: [u8; 32], emr: Vec<u8>) -> Result<Self> {
        if emr.len() > MAX_EMR_LEN {
            return Err(Error::Malformed("EMR too large"));
        }
        Ok(Self { record, htxm, emr })
    }

    /// j.
    pub fn record(&self) -> RecordIndex {
        self.record
    }

    /// htxM_j.
    pub fn htxm(&self) -> &[u8; 32] {
        &self.htxm
    }

    /// The EMR.
    pub fn emr(&self) -> &[u8] {
        &self.emr
    }

    fn to_plaintext(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.record.write(&mut w);
        w.raw(&self.htxm).bytes(&self.emr);
        w.into_bytes()
    }

    fn from_plaintext(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                record: RecordIndex::read(r)?,
                htxm: r.array("htxM")?,
                emr: r.bytes("EMR")?.to_vec(),
            })
        })
    }
}

/// One sealed record inside a [`HospitalResponse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRecord {
    record: RecordIndex,
    ciphertext: Vec<u8>,
}

/// The hospital's response (T_a, ε_1, …, ε_m).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HospitalResponse {
    pub(crate) t_a: G1Affine,
    pub(crate) sealed: Vec<SealedRecord>,
}

impl HospitalResponse {
    /// The records it carries, in order.
    pub fn records(&self) -> Vec<RecordIndex> {
        self.sealed.iter().map(|s| s.record).collect()
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.g1(&self.t_a).u32(self.sealed.len() as u32);
        for s in &self.sealed {
            s.record.write(&mut w);
            w.bytes(&s.ciphertext);
        }
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r: &mut Reader<'_>| {
            let t_a = r.g1("T_a")?;
            let count = r.u32("sealed count")? as usize;
            if count == 0 || count > MAX_RECORDS_PER_SHARE {
                return Err(Error::InvalidList("sealed records"));
            }
            let sealed = (0..count)
                .map(|_| {
                    Ok(SealedRecord {
                        record: RecordIndex::read(r)?,
                        ciphertext: r.bytes("ciphertext")?.to_vec(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Self { t_a, sealed })
        })
    }
}

/// Who is talking about which record: bound into each key and each ciphertext.
pub(crate) struct ReleaseContext<'a> {
    /// "share" or "emergency": a key of one flow is never a key of the other.
    pub label: &'static [u8],
    pub doctor: &'a Identity,
    pub hospital: &'a Identity,
    pub patient: &'a Identity,
    /// Flow-specific binding (the emergency request's hUR and htxU; empty for sharing).
    pub extra: &'a [u8],
}

impl ReleaseContext<'_> {
    /// sk = H_sk(ID_B̄ ‖ ID_A ‖ a·T_b ‖ K ‖ T_b ‖ T_a ‖ ID_C ‖ j ‖ extra). The seed's transcript
    /// plus the patient and record, so every record gets its own key even if K repeated.
    pub(crate) fn key(
        &self,
        record: RecordIndex,
        dh: &Secret<G1Affine>,
        k: &Secret<Gt>,
        t_b: &G1Affine,
        t_a: &G1Affine,
    ) -> SessionKey {
        let mut w = Writer::new();
        self.doctor.write(&mut w);
        self.hospital.write(&mut w);
        w.g1(dh.expose()).raw(&k.expose().to_bytes()[..]);
        w.g1(t_b).g1(t_a);
        self.patient.write(&mut w);
        record.write(&mut w);
        w.bytes(self.extra);
        SessionKey::new(hash::h_sk(self.label, &w.into_secret_bytes()))
    }

    fn aad(&self, record: RecordIndex) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(self.label);
        self.doctor.write(&mut w);
        self.hospital.write(&mut w);
        self.patient.write(&mut w);
        record.write(&mut w);
        w.into_bytes()
    }

    /// Seals `release` under `key`.
    pub(crate) fn seal(
        &self,
        key: &SessionKey,
        release: &RecordRelease,
        rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng),
    ) -> Result<SealedRecord> {
        let plaintext = Zeroizing::new(release.to_plaintext());
        Ok(SealedRecord {
            record: release.record,
            ciphertext: key.seal(&self.aad(release.record), &plaintext, rng)?,
        })
    }

    /// Opens one sealed record; the inner index must match the outer one.
    pub(crate) fn open(&self, key: &SessionKey, sealed: &SealedRecord) -> Result<RecordRelease> {
        let plaintext = Zeroizing::new(key.open(&self.aad(sealed.record), &sealed.ciphertext)?);
        let release = RecordRelease::from_plaintext(&plaintext)?;
        if release.record != sealed.record {
            return Err(Error::Decryption);
        }
        Ok(release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn inner_and_outer_record_indices_must_agree() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let id = |s: &str| Identity::new(s).unwrap();
        let (doctor, hospital, patient) = (id("d"), id("h"), id("p"));
        let ctx = ReleaseContext {
            label: b"share",
            doctor: &doctor,
            hospital: &hospital,
            patient: &patient,
            extra: &[],
        };
        let key = SessionKey::new(Zeroizing::new([1; 32]));
        let release = RecordRelease::new(RecordIndex::new(2).unwrap(), [0; 32], b"emr".to_vec());
        let mut sealed = ctx.seal(&key, &release.clone().unwrap(), &mut rng).unwrap();
        assert_eq!(ctx.open(&key, &sealed).ok(), release.ok());
        sealed.record = RecordIndex::new(3).unwrap();
        assert_eq!(ctx.open(&key, &sealed), Err(Error::Decryption));
    }

    #[test]
    fn oversized_emr_is_refused() {
        let j = RecordIndex::new(1).unwrap();
        assert!(RecordRelease::new(j, [0; 32], vec![0; MAX_EMR_LEN + 1]).is_err());
    }
}
