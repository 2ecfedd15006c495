//! The biometric-keyed EMR entry (S3-entry): EE = {W ‖ htxM ‖ ID_A ‖ j}, stored on MED as EEE so a
//! doctor can find the patient's records in an emergency with the patient's fingerprint
//! (S3-emergency step 1).
//!
//! The seed sets EEE = H6(fp) ⊕ EE. We replace the bare XOR with AES-256-GCM under a key derived
//! from the biometric template by **Argon2id** with a random per-entry salt:
//! * a wrong template now fails authentication instead of yielding garbage keywords;
//! * EEE is public on MED, so anyone can guess templates offline. Biometric templates carry far
//!   less entropy than their length suggests, so a fast KDF such as HKDF would let an attacker
//!   test guesses at hash speed; Argon2id makes each guess cost memory and time. The salt keeps
//!   one precomputed guess table from serving every entry.
//!
//! The template must be the stable, canonical output of the biometric pipeline (e.g. a fuzzy
//! extractor); raw, noisy scans would never reproduce the key.

use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::aead::{open_with, seal_with};
use crate::codec::{Reader, Writer, decode};
use crate::error::{Error, Result};
use crate::identity::{Identity, RecordIndex};

const SALT_LEN: usize = 16;
const AAD_LABEL: &[u8] = b"taka emr entry";
/// Shortest template accepted: rejects obvious misuse such as a PIN in place of a template.
pub const MIN_TEMPLATE_LEN: usize = 16;
const MAX_KEYWORDS: usize = 64;
const MAX_KEYWORD_LEN: usize = 255;

/// Argon2id cost parameters, stored in each entry so they can be raised for new entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BiometricKdfParams {
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
}

impl BiometricKdfParams {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    pub const RECOMMENDED: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        lanes: 1,
    };

    /// Largest memory cost a reader accepts (256 MiB): entries are public, so anyone can plant
    /// one, and a reader (a doctor's device in an emergency) must not be made to allocate more.
    pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
    /// Largest pass count a reader accepts.
    pub const MAX_ITERATIONS: u32 = 8;
    /// Largest lane count a reader accepts.
    pub const MAX_LANES: u32 = 4;
    /// Least memory an entry may be sealed with: OWASP's 19 MiB.
    pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
    /// Least memory × passes an entry may be sealed with: OWASP's 19 MiB × 2 (its other
    /// recommended settings, e.g. 46 MiB × 1, have at least this product).
    pub const MIN_MEMORY_PASSES_KIB: u64 = 2 * 19 * 1024;

    /// Parameters a reader accepts: 1 ≤ iterations, 1 ≤ lanes, 8·lanes ≤ memory_kib
    /// ([`Error::KdfParams`] otherwise) and at most the caps above ([`Error::KdfCostAboveCap`]).
    /// Sealing further requires the floor ([`Self::MIN_MEMORY_KIB`], [`Self::MIN_MEMORY_PASSES_KIB`]).
    pub fn new(memory_kib: u32, iterations: u32, lanes: u32) -> Result<Self> {
        if lanes == 0 {
            return Err(Error::KdfParams("lanes"));
        }
        if iterations == 0 {
            return Err(Error::KdfParams("iterations"));
        }
        if lanes > Self::MAX_LANES {
            return Err(Error::KdfCostAboveCap("lanes"));
        }
        if iterations > Self::MAX_ITERATIONS {
            return Err(Error::KdfCostAboveCap("iterations"));
        }
        if memory_kib > Self::MAX_MEMORY_KIB {
            return Err(Error::KdfCostAboveCap("memory"));
        }
        if memory_kib < 8 * lanes {
            return Err(Error::KdfParams("memory"));
        }
        Ok(Self {
            memory_kib,
            iterations,
            lanes,
        })
    }

    /// Whether these parameters may seal a new entry: at least the recommended floor.
    fn check_floor(&self) -> Result<()> {
        if self.memory_kib < Self::MIN_MEMORY_KIB {
            return Err(Error::KdfTooWeak("memory"));
        }
        if u64::from(self.memory_kib) * u64::from(self.iterations) < Self::MIN_MEMORY_PASSES_KIB {
            return Err(Error::KdfTooWeak("memory × passes"));
        }
        Ok(())
    }

    fn derive(&self, template: &[u8], salt: &[u8; SALT_LEN]) -> Result<Zeroizing<[u8; 32]>> {
        if template.len() < MIN_TEMPLATE_LEN {
            return Err(Error::KdfParams("template too short"));
        }
        let params = Params::new(self.memory_kib, self.iterations, self.lanes, Some(32))
            .map_err(|_| Error::KdfParams("rejected by argon2"))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(template, salt, &mut *key)
            .map_err(|_| Error::KdfParams("rejected by argon2"))?;
        Ok(key)
    }

    fn write(&self, w: &mut Writer) {
        w.u32(self.memory_kib).u32(self.iterations).u32(self.lanes);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Self::new(
            r.u32("argon2 memory")?,
            r.u32("argon2 iterations")?,
            r.u32("argon2 lanes")?,
        )
    }
}

/// EE = {W ‖ htxM ‖ ID_A ‖ j}: keywords of one EMR, where its tx_mr is, which hospital holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmrEntry {
    keywords: Vec<String>,
    htxm: [u8; 32],
    hospital: Identity,
    record: RecordIndex,
    /// The record's emergency gate (`EncryptionFactor::emergency_gate`), if the patient put it
    /// in: what an emergency doctor proves knowledge of to the holding hospital.
    gate: Option<Zeroizing<[u8; 32]>>,
}

impl EmrEntry {
    /// Builds an entry; at most 64 keywords of 1..=255 bytes each.
    pub fn new(
        keywords: Vec<String>,
        htxm: [u8; 32],
        hospital: Identity,
        record: RecordIndex,
    ) -> Result<Self> {
        let bad = |k: &String| k.is_empty() || k.len() > MAX_KEYWORD_LEN;
        if keywords.len() > MAX_KEYWORDS || keywords.iter().any(bad) {
            return Err(Error::InvalidList("keywords"));
        }
        Ok(Self {
            keywords,
            htxm,
            hospital,
            record,
            gate: None,
        })
    }

    /// The entry carrying the record's emergency gate (S3-emergency).
    pub fn with_gate(mut self, gate: [u8; 32]) -> Self {
        self.gate = Some(Zeroizing::new(gate));
        self
    }

    /// The emergency gate, when the entry carries one.
    pub fn gate(&self) -> Option<&[u8; 32]> {
        self.gate.as_deref()
    }

    /// W.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// htxM.
    pub fn htxm(&self) -> &[u8; 32] {
        &self.htxm
    }

    /// ID_A.
    pub fn hospital(&self) -> &Identity {
        &self.hospital
    }

    /// j.
    pub fn record(&self) -> RecordIndex {
        self.record
    }

    /// Canonical encoding of EE.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.keywords.len() as u32);
        self.keywords.iter().for_each(|k| {
            w.bytes(k.as_bytes());
        });
        w.raw(&self.htxm);
        self.hospital.write(&mut w);
        self.record.write(&mut w);
        match &self.gate {
            Some(gate) => w.u8(1).raw(&gate[..]),
            None => w.u8(0),
        };
        w.into_bytes()
    }

    /// Strict decoding (UTF-8 keywords, same bounds as [`EmrEntry::new`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            let count = r.u32("keyword count")? as usize;
            if count > MAX_KEYWORDS {
                return Err(Error::InvalidList("keywords"));
            }
            let keywords = (0..count)
                .map(|_| {
                    String::from_utf8(r.bytes("keyword")?.to_vec())
                        .map_err(|_| Error::Malformed("keyword"))
                })
                .collect::<Result<Vec<_>>>()?;
            let entry = Self::new(
                keywords,
                r.array("htxM")?,
                Identity::read(r)?,
                RecordIndex::read(r)?,
            )?;
            Ok(match r.u8("gate flag")? {
                0 => entry,
                1 => entry.with_gate(r.array("gate")?),
                _ => return Err(Error::Malformed("gate flag")),
            })
        })
    }
}

/// The proof an emergency doctor gives the holding hospital that it opened the patient's
/// entry (S3-emergency): HMAC-SHA256 under the record's emergency gate over the emergency
/// request's id (htxU) and the doctor's identity, so it serves one request by one doctor only.
pub fn emergency_gate_proof(gate: &[u8; 32], htxu: &[u8; 32], doctor: &Identity) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(gate).expect("HMAC takes any key length");
    mac.update(b"medchain emergency gate proof v1");
    mac.update(htxu);
    mac.update(doctor.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Whether `proof` is [`emergency_gate_proof`] of `gate`, `htxu` and `doctor`, compared in
/// constant time.
pub fn verify_emergency_gate_proof(
    gate: &[u8; 32],
    htxu: &[u8; 32],
    doctor: &Identity,
    proof: &[u8; 32],
) -> bool {
    let expected = emergency_gate_proof(gate, htxu, doctor);
    expected.ct_eq(proof).into()
}

/// EEE: an [`EmrEntry`] sealed under a key derived from the patient's biometric template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedEntry {
    params: BiometricKdfParams,
    salt: [u8; SALT_LEN],
    sealed: Vec<u8>,
}

impl EncryptedEntry {
    /// S3-entry: the patient seals EE for storage on MED. `patient` is authenticated as
    /// associated data, so an entry copied under another patient's ID does not open.
    /// Parameters below the recommended floor are refused ([`Error::KdfTooWeak`]).
    pub fn seal(
        patient: &Identity,
        entry: &EmrEntry,
        template: &[u8],
        params: BiometricKdfParams,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self> {
        params.check_floor()?;
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let key = params.derive(template, &salt)?;
        let aad = aad(patient, &params, &salt);
        let sealed = seal_with(&key, &aad, &Zeroizing::new(entry.to_bytes()), rng)?;
        Ok(Self {
            params,
            salt,
            sealed,
        })
    }

    /// S3-emergency step 1: recovers EE with the patient's template; a wrong template, a wrong
    /// patient or any tampering gives [`Error::Decryption`].
    pub fn open(&self, patient: &Identity, template: &[u8]) -> Result<EmrEntry> {
        let key = self.params.derive(template, &self.salt)?;
        let aad = aad(patient, &self.params, &self.salt);
        EmrEntry::from_bytes(&Zeroizing::new(open_with(&key, &aad, &self.sealed)?))
    }

    /// Canonical encoding: params ‖ salt ‖ sealed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.params.write(&mut w);
        w.raw(&self.salt).bytes(&self.sealed);
        w.into_bytes()
    }

    /// Strict decoding; parameters above the reader's caps are refused before any work
    /// ([`Error::KdfCostAboveCap`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                params: BiometricKdfParams::read(r)?,
                salt: r.array("salt")?,
                sealed: r.bytes("sealed entry")?.to_vec(),
            })
        })
    }
}

fn aad(patient: &Identity, params: &BiometricKdfParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(AAD_LABEL);
    patient.write(&mut w);
    params.write(&mut w);
    w.raw(salt);
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(keywords: Vec<String>) -> Result<EmrEntry> {
        let hospital = Identity::new("hospital-a")?;
        EmrEntry::new(keywords, [0; 32], hospital, RecordIndex::new(1)?)
    }

    #[test]
    fn the_gate_travels_in_the_entry_and_its_proof_binds_request_and_doctor() -> Result<()> {
        let gated = entry(vec!["asthma".into()])?.with_gate([9; 32]);
        let back = EmrEntry::from_bytes(&gated.to_bytes())?;
        assert_eq!(back.gate(), Some(&[9; 32]));
        assert_eq!(
            EmrEntry::from_bytes(&entry(vec![])?.to_bytes())?.gate(),
            None
        );
        let mut bad_flag = gated.to_bytes();
        let flag = bad_flag.len() - 33;
        bad_flag[flag] = 2;
        assert!(EmrEntry::from_bytes(&bad_flag).is_err());

        let (doctor, other) = (Identity::new("dr-lee")?, Identity::new("dr-park")?);
        let proof = emergency_gate_proof(&[9; 32], &[1; 32], &doctor);
        assert!(verify_emergency_gate_proof(
            &[9; 32], &[1; 32], &doctor, &proof
        ));
        assert!(!verify_emergency_gate_proof(
            &[8; 32], &[1; 32], &doctor, &proof
        ));
        assert!(!verify_emergency_gate_proof(
            &[9; 32], &[2; 32], &doctor, &proof
        ));
        assert!(!verify_emergency_gate_proof(
            &[9; 32], &[1; 32], &other, &proof
        ));
        Ok(())
    }

    #[test]
    fn keyword_bounds() {
        assert!(entry(vec!["ok".into()]).is_ok());
        assert!(entry(vec![String::new()]).is_err());
        assert!(entry(vec!["x".repeat(MAX_KEYWORD_LEN + 1)]).is_err());
        assert!(entry(vec!["k".into(); MAX_KEYWORDS + 1]).is_err());
    }

    #[test]
    fn stored_parameters_are_bounds_checked() {
        let mut w = Writer::new();
        w.u32(BiometricKdfParams::MAX_MEMORY_KIB + 1).u32(1).u32(1);
        let bytes = w.into_bytes();
        assert_eq!(
            BiometricKdfParams::read(&mut Reader::new(&bytes)),
            Err(Error::KdfCostAboveCap("memory"))
        );
        assert_eq!(
            BiometricKdfParams::new(64, 1, 0),
            Err(Error::KdfParams("lanes"))
        );
        assert_eq!(
            BiometricKdfParams::new(64, 1, 5),
            Err(Error::KdfCostAboveCap("lanes"))
        );
        assert_eq!(
            BiometricKdfParams::new(64, 9, 1),
            Err(Error::KdfCostAboveCap("iterations"))
        );
        assert_eq!(
            BiometricKdfParams::new(16, 1, 4),
            Err(Error::KdfParams("memory"))
        );
    }

    #[test]
    fn sealing_floor_follows_owasp() {
        let floor = |m, t| BiometricKdfParams::new(m, t, 1).unwrap().check_floor();
        assert_eq!(floor(19 * 1024, 2), Ok(()));
        assert_eq!(floor(46 * 1024, 1), Ok(()));
        assert_eq!(
            floor(19 * 1024, 1),
            Err(Error::KdfTooWeak("memory × passes"))
        );
        assert_eq!(floor(18 * 1024, 8), Err(Error::KdfTooWeak("memory")));
        assert_eq!(BiometricKdfParams::RECOMMENDED.check_floor(), Ok(()));
    }

    #[test]
    fn key_depends_on_salt_and_template() {
        let params = BiometricKdfParams::new(64, 1, 1).unwrap();
        let template = [7u8; MIN_TEMPLATE_LEN];
        let k1 = params.derive(&template, &[1; SALT_LEN]).unwrap();
        assert_eq!(*k1, *params.derive(&template, &[1; SALT_LEN]).unwrap());
        assert_ne!(*k1, *params.derive(&template, &[2; SALT_LEN]).unwrap());
        assert_ne!(
            *k1,
            *params
                .derive(&[8u8; MIN_TEMPLATE_LEN], &[1; SALT_LEN])
                .unwrap()
        );
    }
}
