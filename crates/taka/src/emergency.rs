//! Emergency access (S3-emergency): the patient is unconscious, so doctor B̄ reads the EMR entry
//! with the patient's biometric (S3-entry), files η on SUP through its hospital B, and asks A for
//! record j. Chain checks (tx_ur on SUP, σ_B̄B, notifying the patient) are the caller's job; this
//! module derives the doctor–hospital session key from identity keys and ephemeral keys alone.
//!
//! Asymmetric adaptation: K_AB̄ = e(Q̂_B̄, Š_A) at A and K_B̄A = e(Ŝ_B̄, Q̌_A) at B̄, both equal to
//! e(Q̂_B̄, Q̌_A)^s (the doctor is the initiator: its identity in G1, the hospital's in G2).

use blstrs::{G1Affine, Scalar};
use rand_core::{CryptoRng, RngCore};

use crate::codec::{Reader, Writer, decode, encode};
use crate::curve::{self, mul_g1, mul_p, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::hash;
use crate::identity::{Identity, RecordIndex};
use crate::register::EntityKeys;
use crate::release::{HospitalResponse, RecordRelease, ReleaseContext};
use crate::secret::Secret;

const LABEL: &[u8] = b"emergency";

/// Length of the random salt in η.
const SALT_LEN: usize = 32;

/// η = ID_C ‖ j ‖ salt, the emergency request whose hash hUR = H(η) goes on SUP in tx_ur.
///
/// The salt is our addition: tx_ur is public and patient IDs and record indices are few, so
/// the seed's unsalted H(ID_C ‖ j) is found by hashing every candidate, revealing who is being
/// treated and which record is read. With 256 random bits in η, hUR reveals nothing and two
/// requests for the same record are unlinkable. The salt travels only inside the
/// [`EmergencyHello`] to hospital A, which recomputes hUR to find tx_ur.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyRequest {
    patient: Identity,
    record: RecordIndex,
    salt: [u8; SALT_LEN],
}

impl EmergencyRequest {
    /// η for record j of patient C, with a fresh random salt.
    pub fn new(
        patient: Identity,
        record: RecordIndex,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Self {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        Self {
            patient,
            record,
            salt,
        }
    }

    /// ID_C.
    pub fn patient(&self) -> &Identity {
        &self.patient
    }

    /// j.
    pub fn record(&self) -> RecordIndex {
        self.record
    }

    /// hUR = H(ID_C ‖ j ‖ salt), the value the SUP transaction tx_ur carries.
    pub fn hur(&self) -> [u8; 32] {
        hash::h_ur(&self.to_bytes())
    }

    /// Canonical encoding of η: ID_C ‖ j ‖ salt.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(|w| self.write(w))
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, Self::read)
    }

    fn write(&self, w: &mut Writer) {
        self.patient.write(w);
        self.record.write(w);
        w.raw(&self.salt);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            patient: Identity::read(r)?,
            record: RecordIndex::read(r)?,
            salt: r.array("hUR salt")?,
        })
    }
}

/// B̄ → A: (T_b, η, htxU), plus the two identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyHello {
    doctor: Identity,
    hospital: Identity,
    eta: EmergencyRequest,
    t_b: G1Affine,
    htxu: [u8; 32],
}

impl EmergencyHello {
    /// ID_B̄.
    pub fn doctor(&self) -> &Identity {
        &self.doctor
    }

    /// η, for the caller to look up tx_ur on SUP by hUR.
    pub fn request(&self) -> &EmergencyRequest {
        &self.eta
    }

    /// htxU, the SUP transaction id the doctor cites.
    pub fn htxu(&self) -> &[u8; 32] {
        &self.htxu
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.doctor.write(&mut w);
        self.hospital.write(&mut w);
        self.eta.write(&mut w);
        w.g1(&self.t_b).raw(&self.htxu);
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                doctor: Identity::read(r)?,
                hospital: Identity::read(r)?,
                eta: EmergencyRequest::read(r)?,
                t_b: r.g1("T_b")?,
                htxu: r.array("htxU")?,
            })
        })
    }

    /// Binds the key to this very request: hUR ‖ htxU.
    fn binding(&self) -> Vec<u8> {
        let mut binding = self.eta.hur().to_vec();
        binding.extend_from_slice(&self.htxu);
        binding
    }

    /// Runs `f` with this exchange's release context (label, parties, record, binding).
    fn with_context<T>(&self, f: impl FnOnce(&ReleaseContext<'_>) -> T) -> T {
        let binding = self.binding();
        f(&ReleaseContext {
            label: LABEL,
            doctor: &self.doctor,
            hospital: &self.hospital,
            patient: &self.eta.patient,
            extra: &binding,
        })
    }
}

/// The doctor's state until A answers: b.
pub struct PendingEmergency {
    hello: EmergencyHello,
    b: Secret<Scalar>,
}

impl PendingEmergency {
    /// S3-emergency step 3a: b, T_b = b·P, and the hello to A citing the SUP transaction htxU.
    pub fn start(
        doctor: &EntityKeys,
        hospital: Identity,
        eta: EmergencyRequest,
        htxu: [u8; 32],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> (Self, EmergencyHello) {
        let b = random_nonzero_scalar(rng);
        let hello = EmergencyHello {
            doctor: doctor.id().clone(),
            hospital,
            eta,
            t_b: mul_p(&b),
            htxu,
        };
        let pending = Self {
            hello: hello.clone(),
            b: Secret::new(b),
        };
        (pending, hello)
    }

    /// S3-emergency step 4: K_B̄A = e(Ŝ_B̄, Q̌_A), sk = H_sk(ID_B̄ ‖ ID_A ‖ b·T_a ‖ K ‖ T_b ‖ T_a ‖ …),
    /// then decrypts. Fails unless the responder held Š_A — only A (or the PKG) can answer.
    pub fn open(self, doctor: &EntityKeys, response: &HospitalResponse) -> Result<RecordRelease> {
        let [sealed] = response.sealed.as_slice() else {
            return Err(Error::InvalidList(
                "emergency response must carry one record",
            ));
        };
        let k = Secret::new(curve::pairing(
            doctor.s_hat(),
            &hash::h1_g2(&self.hello.hospital),
        ));
        let dh = Secret::new(mul_g1(&response.t_a, self.b.expose()));
        let hello = &self.hello;
        hello.with_context(|ctx| {
            let key = ctx.key(hello.eta.record, &dh, &k, &hello.t_b, &response.t_a);
            ctx.open(&key, sealed)
        })
    }
}

/// S3-emergency step 3d–f at hospital A, **after** the caller has found tx_ur with hUR =
/// `hello.request().hur()` on SUP, checked σ_B̄B and notified the patient: K_AB̄ = e(Q̂_B̄, Š_A),
/// fresh a, sk = H_sk(ID_B̄ ‖ ID_A ‖ a·T_b ‖ K ‖ T_b ‖ T_a ‖ ID_C ‖ j ‖ hUR ‖ htxU), and
/// ε = Enc(sk, EMR_j ‖ htxM_j). Only B̄ (holder of Ŝ_B̄ and b) can decrypt.
pub fn respond_emergency(
    hospital: &EntityKeys,
    hello: &EmergencyHello,
    release: &RecordRelease,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<HospitalResponse> {
    if hello.hospital != *hospital.id() {
        return Err(Error::WrongParty("emergency request for another hospital"));
    }
    if release.record() != hello.eta.record {
        return Err(Error::InvalidList("release must be the requested record"));
    }
    let k = Secret::new(curve::pairing(
        &hash::h1_g1(&hello.doctor),
        hospital.s_check(),
    ));
    let a = Secret::new(random_nonzero_scalar(rng));
    let t_a = mul_p(a.expose());
    let dh = Secret::new(mul_g1(&hello.t_b, a.expose()));
    let sealed = hello.with_context(|ctx| {
        let key = ctx.key(release.record(), &dh, &k, &hello.t_b, &t_a);
        ctx.seal(&key, release, rng)
    })?;
    Ok(HospitalResponse {
        t_a,
        sealed: vec![sealed],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hur_commits_to_patient_record_and_salt() {
        let eta = |p: &str, n, salt| EmergencyRequest {
            patient: Identity::new(p).unwrap(),
            record: RecordIndex::new(n).unwrap(),
            salt: [salt; SALT_LEN],
        };
        assert_eq!(eta("c", 1, 0).hur(), eta("c", 1, 0).hur());
        assert_ne!(eta("c", 1, 0).hur(), eta("c", 2, 0).hur());
        assert_ne!(eta("c", 1, 0).hur(), eta("d", 1, 0).hur());
        assert_ne!(eta("c", 1, 0).hur(), eta("c", 1, 1).hur());
    }
}
