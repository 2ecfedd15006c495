//! Normal sharing (S3-share): patient C authorizes doctor B̄ of hospital B to fetch records
//! j1, …, jm that hospital A stores; A verifies and releases each under its own session key.
//!
//! Asymmetric adaptation (see the README for the side-by-side protocol and its correctness):
//! α_C = (c1 + Q_A + Q_B̄)^-1·P̂ and W_j = c1·s_α^j·P̂ live in G2, so A can pair them with the G1
//! values T_c1 + (Q_A + Q_B̄)·P and s_α^j·a·T_b. One addition to the seed: the record-binding
//! tag τ_j, which patient and hospital both derive from s_α^j and which the doctor must fold into
//! its signature, so a grant for record j cannot be presented for record k (the seed's α_C does
//! not depend on j; there A would only notice the misuse after releasing a useless ciphertext).

use blstrs::{G1Affine, G2Affine, Scalar};
use ff::Field;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use crate::agree::{HospitalEnrolment, PatientEnrolment};
use crate::codec::{Reader, Writer, decode};
use crate::curve::{self, mul_g1, mul_g2, mul_p, mul_p_hat, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::factors::EncryptionFactor;
use crate::hash;
use crate::identity::{Identity, RecordIndex, check_records, read_records, write_records};
use crate::licence::Licence;
use crate::params::PublicParams;
use crate::register::EntityKeys;
use crate::release::{HospitalResponse, RecordRelease, ReleaseContext};
use crate::secret::Secret;
use crate::signature::{Purpose, Signature, sign_with_nonce, verify_tagged};

const LABEL: &[u8] = b"share";

/// One granted record: j, W_j = c1·s_α^j·P̂ and τ_j.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Grant {
    record: RecordIndex,
    w: G2Affine,
    tag: [u8; 32],
}

/// The patient's authorization (α_C, {c1·s_α^j·P̂, j}) for one doctor at one hospital. The
/// patient sends it to the doctor sealed under their agreed session key (S3-agree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    patient: Identity,
    hospital: Identity,
    doctor: Identity,
    alpha: G2Affine,
    grants: Vec<Grant>,
}

/// τ_j = KDF(s_α^j ‖ ID_C ‖ ID_A ‖ ID_B̄ ‖ j): known to patient and hospital, handed to the doctor.
fn record_tag(
    factor: &EncryptionFactor,
    patient: &Identity,
    hospital: &Identity,
    doctor: &Identity,
    record: RecordIndex,
) -> [u8; 32] {
    let mut w = Writer::new();
    w.scalar(factor.scalar());
    patient.write(&mut w);
    hospital.write(&mut w);
    doctor.write(&mut w);
    record.write(&mut w);
    hash::record_tag(&zeroize::Zeroizing::new(w.into_bytes()))
}

/// Q_A + Q_B̄ = H0(ID_A) + H0(ID_B̄).
fn pair_value(hospital: &Identity, doctor: &Identity) -> Scalar {
    hash::h0(hospital) + hash::h0(doctor)
}

impl PatientEnrolment {
    /// S3-share step 1: α_C = (c1 + Q_A + Q_B̄)^-1·P̂ and, per record, W_j = (c1·s_α^j)·P̂ and τ_j.
    /// α_C is a Boneh–Boyen-style signature on the pair (A, B̄) under c1, so nobody without c1
    /// can produce one for another doctor; W_j is what lets the doctor derive record j's key.
    pub fn authorize(&self, doctor: &Identity, records: &[RecordIndex]) -> Result<Authorization> {
        check_records(records)?;
        let inverse =
            Option::from((*self.c1.expose() + pair_value(&self.hospital, doctor)).invert())
                .ok_or(Error::DegenerateAuthorization)?;
        let grants = records
            .iter()
            .map(|&record| {
                let factor = self.factors.factor(record);
                Grant {
                    record,
                    w: mul_p_hat(&(*self.c1.expose() * factor.scalar())),
                    tag: record_tag(&factor, &self.patient, &self.hospital, doctor, record),
                }
            })
            .collect();
        Ok(Authorization {
            patient: self.patient.clone(),
            hospital: self.hospital.clone(),
            doctor: doctor.clone(),
            alpha: mul_p_hat(&inverse),
            grants,
        })
    }
}

impl Authorization {
    /// The records granted, in order.
    pub fn records(&self) -> Vec<RecordIndex> {
        self.grants.iter().map(|g| g.record).collect()
    }

    /// The doctor it authorizes.
    pub fn doctor(&self) -> &Identity {
        &self.doctor
    }

    /// The hospital holding the records.
    pub fn hospital(&self) -> &Identity {
        &self.hospital
    }

    /// The patient who granted them.
    pub fn patient(&self) -> &Identity {
        &self.patient
    }

    /// Canonical encoding (contains W_j and τ_j: send it only under the session key).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.patient.write(&mut w);
        self.hospital.write(&mut w);
        self.doctor.write(&mut w);
        w.g2(&self.alpha).u32(self.grants.len() as u32);
        for g in &self.grants {
            g.record.write(&mut w);
            w.g2(&g.w).raw(&g.tag);
        }
        w.into_bytes()
    }

    /// Strict decoding (non-empty, duplicate-free, bounded record list).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r: &mut Reader<'_>| {
            let (patient, hospital, doctor) =
                (Identity::read(r)?, Identity::read(r)?, Identity::read(r)?);
            let alpha = r.g2("alpha_C")?;
            let count = r.u32("grant count")? as usize;
            if count > crate::MAX_RECORDS_PER_SHARE {
                return Err(Error::InvalidList("records"));
            }
            let grants = (0..count)
                .map(|_| {
                    Ok(Grant {
                        record: RecordIndex::read(r)?,
                        w: r.g2("W_j")?,
                        tag: r.array("tau_j")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            check_records(&grants.iter().map(|g| g.record).collect::<Vec<_>>())?;
            Ok(Self {
                patient,
                hospital,
                doctor,
                alpha,
                grants,
            })
        })
    }
}

fn release_context<'a>(
    patient: &'a Identity,
    hospital: &'a Identity,
    doctor: &'a Identity,
) -> ReleaseContext<'a> {
    ReleaseContext {
        label: LABEL,
        doctor,
        hospital,
        patient,
        extra: &[],
    }
}

/// θ = ID_C ‖ (j1, …, jm), the request that N hides.
fn theta(patient: &Identity, records: &[RecordIndex]) -> Vec<u8> {
    let mut w = Writer::new();
    patient.write(&mut w);
    write_records(&mut w, records);
    w.into_bytes()
}

/// The signed message: θ ‖ τ_j1 ‖ … ‖ τ_jm.
fn signed_message(theta: &[u8], tags: &[[u8; 32]]) -> Vec<u8> {
    let mut m = theta.to_vec();
    tags.iter().for_each(|t| m.extend_from_slice(t));
    m
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The doctor's request (α_CB̄, N, σ, ID_C, ρ_B̄) to hospital A (S3-share step 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRequest {
    patient: Identity,
    doctor: Identity,
    hospital: Identity,
    alpha_cb: G2Affine,
    n: Vec<u8>,
    signature: Signature,
    licence: Licence,
}

/// The doctor's state until the hospital answers: b and the grants.
pub struct PendingShare {
    patient: Identity,
    hospital: Identity,
    doctor: Identity,
    b: Secret<Scalar>,
    t_b: G1Affine,
    grants: Vec<Grant>,
}

impl PendingShare {
    /// S3-share step 2: b, T_b = b·P, g_b = e(T_b, P̂) = g^b, α_CB̄ = b·α_C, N = H3(g_b) ⊕ θ,
    /// h = H2(θ ‖ τ ‖ ID_B̄ ‖ P_pub ‖ L_B̄ ‖ T_b), v = b + h·(d_B̄ + x_B̄), σ = (L_B̄, h, v).
    pub fn request(
        doctor: &EntityKeys,
        params: &PublicParams,
        licence: Licence,
        authorization: &Authorization,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Self, ShareRequest)> {
        if authorization.doctor != *doctor.id() {
            return Err(Error::WrongParty("authorization is for another doctor"));
        }
        let records = authorization.records();
        let theta = theta(&authorization.patient, &records);
        let tags: Vec<[u8; 32]> = authorization.grants.iter().map(|g| g.tag).collect();
        let message = signed_message(&theta, &tags);
        let (b, t_b, signature) = loop {
            let b = random_nonzero_scalar(rng);
            let t_b = mul_p(&b);
            if let Some(sig) =
                sign_with_nonce(doctor, params, Purpose::ShareRequest, &message, &b, &t_b)
            {
                break (Secret::new(b), t_b, sig);
            }
        };
        let g_b = curve::pairing(&t_b, &curve::p_hat());
        let request = ShareRequest {
            patient: authorization.patient.clone(),
            doctor: doctor.id().clone(),
            hospital: authorization.hospital.clone(),
            alpha_cb: mul_g2(&authorization.alpha, b.expose()),
            n: xor(&hash::h3_pad(g_b, theta.len())?, &theta),
            signature,
            licence,
        };
        let pending = Self {
            patient: authorization.patient.clone(),
            hospital: authorization.hospital.clone(),
            doctor: doctor.id().clone(),
            b,
            t_b,
            grants: authorization.grants.clone(),
        };
        Ok((pending, request))
    }

    /// S3-share step 5: per record K_j = e(b·T_a, W_j) = g^(a·b·c1·s_α^j) and the same sk_j as
    /// the hospital; AEAD decryption fails unless the hospital used this request's T_b and
    /// record j's factor. The caller then checks hEMR on MED via htxM_j.
    pub fn open(self, response: &HospitalResponse) -> Result<Vec<RecordRelease>> {
        let granted: Vec<RecordIndex> = self.grants.iter().map(|g| g.record).collect();
        if response.records() != granted {
            return Err(Error::WrongParty("response for other records"));
        }
        let ctx = release_context(&self.patient, &self.hospital, &self.doctor);
        let dh = Secret::new(mul_g1(&response.t_a, self.b.expose()));
        self.grants
            .iter()
            .zip(&response.sealed)
            .map(|(grant, sealed)| {
                let k = Secret::new(curve::pairing(dh.expose(), &grant.w));
                let key = ctx.key(grant.record, &dh, &k, &self.t_b, &response.t_a);
                ctx.open(&key, sealed)
            })
            .collect()
    }
}

impl ShareRequest {
    /// ID_B̄ of the requesting doctor.
    pub fn doctor(&self) -> &Identity {
        &self.doctor
    }

    /// ID_C of the patient whose records are requested.
    pub fn patient(&self) -> &Identity {
        &self.patient
    }

    /// ID_A of the hospital addressed.
    pub fn hospital(&self) -> &Identity {
        &self.hospital
    }

    /// ρ_B̄, for the caller's revocation check (S3-revoke).
    pub fn licence(&self) -> &Licence {
        &self.licence
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.patient.write(&mut w);
        self.doctor.write(&mut w);
        self.hospital.write(&mut w);
        w.g2(&self.alpha_cb).bytes(&self.n);
        self.signature.write(&mut w);
        self.licence.write(&mut w);
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                patient: Identity::read(r)?,
                doctor: Identity::read(r)?,
                hospital: Identity::read(r)?,
                alpha_cb: r.g2("alpha_CB")?,
                n: r.bytes("N")?.to_vec(),
                signature: Signature::read(r)?,
                licence: Licence::read(r)?,
            })
        })
    }
}

/// A request the hospital accepted: who asked for which records, and what it needs to answer.
pub struct VerifiedShare {
    patient: Identity,
    hospital: Identity,
    doctor: Identity,
    records: Vec<RecordIndex>,
    factors: Vec<EncryptionFactor>,
    t_b: G1Affine,
    t_c1_hat: G2Affine,
}

impl HospitalEnrolment {
    /// S3-share step 3, at hospital A. Accepts only if
    ///
    /// 1. the request is addressed to this hospital about this patient, and ρ_B̄ is a licence of
    ///    B̄, signed by its issuer and unexpired at `now` (the caller checks that the issuer is a
    ///    registered hospital and that ρ_B̄ is not revoked, S3-revoke: both live on chain);
    /// 2. with α' = T_c1 + (Q_A + Q_B̄)·P and g_b' = e(α', α_CB̄), θ' = H3(g_b') ⊕ N parses as
    ///    ID_C ‖ records — g_b' = g^b only if α_C was made by the patient for exactly (A, B̄);
    /// 3. T_b' = v·P − h·(L_B̄ + f'·P_pub) and H2(θ' ‖ τ' ‖ ID_B̄ ‖ P_pub ‖ L_B̄ ‖ T_b') = h, where τ'
    ///    are the hospital's own record-binding tags — so θ' is what B̄ signed (N and σ are
    ///    untampered), B̄ holds its registered key, and the patient granted exactly these records.
    ///
    /// All failures of 2–3 give the same [`Error::RequestRejected`].
    pub fn verify_request(
        &self,
        params: &PublicParams,
        request: &ShareRequest,
        now: u64,
    ) -> Result<VerifiedShare> {
        if request.hospital != self.hospital || request.patient != self.patient {
            return Err(Error::WrongParty("request for another hospital or patient"));
        }
        request.licence.verify(params, &request.doctor, now)?;
        let q = pair_value(&self.hospital, &request.doctor);
        let alpha_prime = curve::add_g1(&self.t_c1, &mul_p(&q));
        let g_b = curve::pairing(&alpha_prime, &request.alpha_cb);
        let pad = hash::h3_pad(g_b, request.n.len()).map_err(|_| Error::RequestRejected)?;
        let theta = xor(&pad, &request.n);
        let records = decode(&theta, |r| {
            if Identity::read(r)? != self.patient {
                return Err(Error::RequestRejected);
            }
            read_records(r)
        })
        .map_err(|_| Error::RequestRejected)?;
        let factors: Vec<EncryptionFactor> =
            records.iter().map(|&j| self.factors.factor(j)).collect();
        let tags: Vec<[u8; 32]> = records
            .iter()
            .zip(&factors)
            .map(|(&j, f)| record_tag(f, &self.patient, &self.hospital, &request.doctor, j))
            .collect();
        let message = signed_message(&theta, &tags);
        let t_b = verify_tagged(
            &request.signature,
            params,
            &request.doctor,
            Purpose::ShareRequest,
            &message,
        )
        .map_err(|_| Error::RequestRejected)?;
        Ok(VerifiedShare {
            patient: self.patient.clone(),
            hospital: self.hospital.clone(),
            doctor: request.doctor.clone(),
            records,
            factors,
            t_b,
            t_c1_hat: self.t_c1_hat,
        })
    }
}

impl VerifiedShare {
    /// ID_B̄.
    pub fn doctor(&self) -> &Identity {
        &self.doctor
    }

    /// The records to release, in the order [`VerifiedShare::respond`] expects them.
    pub fn records(&self) -> &[RecordIndex] {
        &self.records
    }

    /// A 32-byte digest of T_b, unique per request: keep the tags of served requests to refuse
    /// exact replays (a replayer could not decrypt anyway — it lacks b).
    pub fn replay_tag(&self) -> [u8; 32] {
        Sha256::digest(self.t_b.to_compressed()).into()
    }

    /// S3-share step 4: fresh a, T_a = a·P and per record K_j = e(s_α^j·a·T_b', T̂_c1)
    /// (= e(T_b, c1·P)^(s_α^j·a) of the seed), sk_j = H_sk(ID_B̄ ‖ ID_A ‖ a·T_b' ‖ K_j ‖ T_b' ‖ T_a ‖
    /// ID_C ‖ j), ε_j = Enc(sk_j, EMR_j ‖ htxM_j). `releases` must list [`Self::records`] in order.
    /// A fresh a (the seed reuses a1 from S3-agree) gives each session its own ephemeral key.
    pub fn respond(
        &self,
        releases: &[RecordRelease],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<HospitalResponse> {
        let listed: Vec<RecordIndex> = releases.iter().map(RecordRelease::record).collect();
        if listed != self.records {
            return Err(Error::InvalidList(
                "releases must match the verified records",
            ));
        }
        let a = Secret::new(random_nonzero_scalar(rng));
        let t_a = mul_p(a.expose());
        let dh = Secret::new(mul_g1(&self.t_b, a.expose()));
        let ctx = release_context(&self.patient, &self.hospital, &self.doctor);
        let sealed = releases
            .iter()
            .zip(&self.factors)
            .map(|(release, factor)| {
                let scaled = Secret::new(mul_g1(dh.expose(), factor.scalar()));
                let k = Secret::new(curve::pairing(scaled.expose(), &self.t_c1_hat));
                let key = ctx.key(release.record(), &dh, &k, &self.t_b, &t_a);
                ctx.seal(&key, release, rng)
            })
            .collect::<Result<_>>()?;
        Ok(HospitalResponse { t_a, sealed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factors::InitialFactors;

    fn id(s: &str) -> Identity {
        Identity::new(s).unwrap()
    }

    fn enrolment(c1: Scalar) -> PatientEnrolment {
        PatientEnrolment {
            patient: id("patient"),
            hospital: id("hospital-a"),
            c1: Secret::new(c1),
            factors: InitialFactors::new(Scalar::from(3u64), Scalar::from(5u64)),
        }
    }

    #[test]
    fn degenerate_authorization_is_refused() {
        let c1 = -pair_value(&id("hospital-a"), &id("dr-bob"));
        let one = [RecordIndex::new(1).unwrap()];
        assert_eq!(
            enrolment(c1).authorize(&id("dr-bob"), &one).err(),
            Some(Error::DegenerateAuthorization)
        );
        assert!(enrolment(c1).authorize(&id("dr-eve"), &one).is_ok());
    }

    #[test]
    fn record_tags_bind_doctor_and_record() {
        let e = enrolment(Scalar::from(7u64));
        let (j1, j2) = (RecordIndex::new(1).unwrap(), RecordIndex::new(2).unwrap());
        let tag = |doctor: &str, j| {
            record_tag(
                &e.factors.factor(j),
                &e.patient,
                &e.hospital,
                &id(doctor),
                j,
            )
        };
        assert_eq!(tag("dr-bob", j1), tag("dr-bob", j1));
        assert_ne!(tag("dr-bob", j1), tag("dr-eve", j1));
        assert_ne!(tag("dr-bob", j1), tag("dr-bob", j2));
    }

    #[test]
    fn theta_is_an_involution_under_the_pad() {
        let theta = theta(&id("patient"), &[RecordIndex::new(4).unwrap()]);
        let pad = vec![0x5au8; theta.len()];
        assert_eq!(xor(&xor(&theta, &pad), &pad), theta);
    }

    #[test]
    fn authorization_rejects_an_empty_grant_list() {
        let e = enrolment(Scalar::from(7u64));
        assert_eq!(
            e.authorize(&id("dr-bob"), &[]).err(),
            Some(Error::InvalidList("records"))
        );
        let auth = e
            .authorize(&id("dr-bob"), &[RecordIndex::new(1).unwrap()])
            .unwrap();
        let mut bytes = auth.to_bytes();
        let count_at = bytes.len() - (8 + 96 + 32) - 4;
        bytes[count_at..count_at + 4].copy_from_slice(&0u32.to_be_bytes());
        bytes.truncate(count_at + 4);
        assert_eq!(
            Authorization::from_bytes(&bytes).err(),
            Some(Error::InvalidList("records"))
        );
    }
}
