//! Normal sharing (S3-share): patient C authorizes doctor B̄ of hospital B to fetch records
//! j1, …, jm that hospital A stores; A verifies and releases each under its own session key.
//!
//! Asymmetric adaptation (see the README for the side-by-side protocol and its correctness):
//! α_C = (c1 + Q_A + Q_B̄)^-1·P̂ and W_j = c1·s_α^j·P̂ live in G2, so A can pair them with the G1
//! values T_c1 + (Q_A + Q_B̄)·P and s_α^j·a·T_b. Our changes to the seed, each closing an attack:
//! * the record-binding tag τ_j (patient and hospital derive it from s_α^j, the doctor folds it
//!   into his signature), so a grant for record j cannot be presented for record k;
//! * the authorization carries an expiry, bound into τ_j, which A checks;
//! * A checks e(T_c1 + (Q_A + Q_B̄)·P, α_CB̄) = e(T_b, P̂), so α_CB̄ = b·α_C for the T_b the
//!   doctor signed — the seed only unmasks N with e(α', α_CB̄), which anyone who saw the public
//!   T_c1 can make consistent for an α_CB̄ of his choice;
//! * the ephemeral b is not the signature nonce (v = b + h·(d + x): a leaked b would be the
//!   doctor's long-term key), and T_b travels explicitly, signed;
//! * the seed's N = H3(g_b) ⊕ θ hides nothing once g_b = e(T_b, P̂) is public, so the record
//!   indices are instead AEAD-encrypted under a key from K_B̄A = e(Ŝ_B̄, Q̌_A) = e(Q̂_B̄, Š_A),
//!   which only B̄ and A (and the PKG) can derive. ID_C travels in clear, as in the seed.

use blstrs::{G1Affine, G2Affine, Scalar};
use ff::Field;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::aead::SessionKey;
use crate::agree::{HospitalEnrolment, PatientEnrolment};
use crate::codec::{Reader, Writer, decode, encode};
use crate::curve::{self, mul_g1, mul_g2, mul_p, mul_p_hat, random_nonzero_scalar};
use crate::error::{Error, Result};
use crate::factors::EncryptionFactor;
use crate::hash;
use crate::identity::{Identity, RecordIndex, check_records, read_records, write_records};
use crate::licence::{Licence, LicenceCheck};
use crate::params::PublicParams;
use crate::register::EntityKeys;
use crate::release::{HospitalResponse, RecordRelease, ReleaseContext};
use crate::secret::Secret;
use crate::signature::{Purpose, Signature, sign_tagged, verify_tagged};

const LABEL: &[u8] = b"share";
const RECORDS_KEY_LABEL: &[u8] = b"share request records";

/// One granted record: j, W_j = c1·s_α^j·P̂ and τ_j.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Grant {
    record: RecordIndex,
    w: G2Affine,
    tag: [u8; 32],
}

/// The patient's authorization (α_C, {c1·s_α^j·P̂, j}, expiry) for one doctor at one hospital.
/// The patient sends it to the doctor sealed under their agreed session key (S3-agree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    patient: Identity,
    hospital: Identity,
    doctor: Identity,
    expires_at: u64,
    alpha: G2Affine,
    grants: Vec<Grant>,
}

/// Who grants whom what, until when: the public context of a grant.
struct GrantContext<'a> {
    patient: &'a Identity,
    hospital: &'a Identity,
    doctor: &'a Identity,
    expires_at: u64,
}

impl GrantContext<'_> {
    /// τ_j = KDF(s_α^j ‖ ID_C ‖ ID_A ‖ ID_B̄ ‖ expiry ‖ j): known to patient and hospital, handed
    /// to the doctor. Binding the expiry here is what makes it unforgeable by the doctor.
    fn record_tag(&self, factor: &EncryptionFactor, record: RecordIndex) -> [u8; 32] {
        let mut w = Writer::new();
        w.scalar(factor.scalar());
        self.patient.write(&mut w);
        self.hospital.write(&mut w);
        self.doctor.write(&mut w);
        w.u64(self.expires_at);
        record.write(&mut w);
        hash::record_tag(&w.into_secret_bytes())
    }
}

/// Q_A + Q_B̄ = H0(ID_A) + H0(ID_B̄).
fn pair_value(hospital: &Identity, doctor: &Identity) -> Scalar {
    hash::h0(hospital) + hash::h0(doctor)
}

impl PatientEnrolment {
    /// S3-share step 1: α_C = (c1 + Q_A + Q_B̄)^-1·P̂ and, per record, W_j = (c1·s_α^j)·P̂ and τ_j.
    /// α_C is a Boneh–Boyen-style signature on the pair (A, B̄) under c1, so nobody without c1
    /// can produce one for another doctor; W_j is what lets the doctor derive record j's key.
    /// The hospital refuses the authorization after `expires_at` (seconds since the Unix
    /// epoch, the patient's choice; the hospital compares it with its clock).
    pub fn authorize(
        &self,
        doctor: &Identity,
        records: &[RecordIndex],
        expires_at: u64,
    ) -> Result<Authorization> {
        check_records(records)?;
        let inverse = Secret::new(
            Option::from((*self.c1.expose() + pair_value(&self.hospital, doctor)).invert())
                .ok_or(Error::DegenerateAuthorization)?,
        );
        let context = GrantContext {
            patient: &self.patient,
            hospital: &self.hospital,
            doctor,
            expires_at,
        };
        let grants = records
            .iter()
            .map(|&record| {
                let factor = self.factors.factor(record);
                let exponent = Secret::new(*self.c1.expose() * factor.scalar());
                Grant {
                    record,
                    w: mul_p_hat(exponent.expose()),
                    tag: context.record_tag(&factor, record),
                }
            })
            .collect();
        Ok(Authorization {
            patient: self.patient.clone(),
            hospital: self.hospital.clone(),
            doctor: doctor.clone(),
            expires_at,
            alpha: mul_p_hat(inverse.expose()),
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

    /// Until when the hospital accepts it, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Canonical encoding (contains W_j and τ_j: send it only under the session key).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.patient.write(&mut w);
        self.hospital.write(&mut w);
        self.doctor.write(&mut w);
        w.u64(self.expires_at);
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
            let expires_at = r.u64("authorization expiry")?;
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
                expires_at,
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

/// The doctor's request (α_CB̄, T_b, Enc(records), σ, ID_C, ρ_B̄, expiry) to hospital A
/// (S3-share step 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRequest {
    header: RequestHeader,
    sealed_records: Vec<u8>,
    signature: Signature,
    licence: Licence,
}

/// The public part of a request, authenticated both as AEAD associated data of the record list
/// and under σ: ID_C ‖ ID_B̄ ‖ ID_A ‖ expiry ‖ T_b ‖ α_CB̄.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RequestHeader {
    patient: Identity,
    doctor: Identity,
    hospital: Identity,
    expires_at: u64,
    t_b: G1Affine,
    alpha_cb: G2Affine,
}

impl RequestHeader {
    fn write(&self, w: &mut Writer) {
        self.patient.write(w);
        self.doctor.write(w);
        self.hospital.write(w);
        w.u64(self.expires_at).g1(&self.t_b).g2(&self.alpha_cb);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            patient: Identity::read(r)?,
            doctor: Identity::read(r)?,
            hospital: Identity::read(r)?,
            expires_at: r.u64("authorization expiry")?,
            t_b: r.g1("T_b")?,
            alpha_cb: r.g2("alpha_CB")?,
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        encode(|w| self.write(w))
    }

    /// The signed message: header ‖ (j1 … jm) ‖ τ_j1 ‖ … ‖ τ_jm.
    fn signed_message(&self, records: &[RecordIndex], tags: &[[u8; 32]]) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.to_bytes());
        write_records(&mut w, records);
        tags.iter().for_each(|t| {
            w.raw(t);
        });
        w.into_bytes()
    }

    /// The key that hides the record list: H_sk(ID_B̄ ‖ ID_A ‖ ID_C ‖ K_B̄A ‖ T_b), with
    /// K_B̄A = e(Q̂_B̄, Q̌_A)^s, which only B̄ (from Ŝ_B̄) and A (from Š_A) can compute.
    fn records_key(&self, k: &Secret<curve::Gt>) -> SessionKey {
        let mut w = Writer::new();
        self.doctor.write(&mut w);
        self.hospital.write(&mut w);
        self.patient.write(&mut w);
        w.raw(&k.expose().to_bytes()[..]).g1(&self.t_b);
        SessionKey::new(hash::h_sk(RECORDS_KEY_LABEL, &w.into_secret_bytes()))
    }
}

/// The doctor's state until the hospital answers: the ephemeral b (not a signature nonce) and
/// the grants.
pub struct PendingShare {
    patient: Identity,
    hospital: Identity,
    doctor: Identity,
    b: Secret<Scalar>,
    t_b: G1Affine,
    grants: Vec<Grant>,
}

impl PendingShare {
    /// S3-share step 2: a fresh ephemeral b, T_b = b·P, α_CB̄ = b·α_C; the record list sealed
    /// under a key from K_B̄A = e(Ŝ_B̄, Q̌_A) and T_b; σ over the header, the records and the
    /// tags with a nonce of its own.
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
        let b = Secret::new(random_nonzero_scalar(rng));
        let t_b = mul_p(b.expose());
        let header = RequestHeader {
            patient: authorization.patient.clone(),
            doctor: doctor.id().clone(),
            hospital: authorization.hospital.clone(),
            expires_at: authorization.expires_at,
            t_b,
            alpha_cb: mul_g2(&authorization.alpha, b.expose()),
        };
        let k = Secret::new(curve::pairing(
            doctor.s_hat(),
            &hash::h1_g2(&authorization.hospital),
        ));
        let records = authorization.records();
        let listed = Zeroizing::new(encode(|w| write_records(w, &records)));
        let sealed_records = header
            .records_key(&k)
            .seal(&header.to_bytes(), &listed, rng)?;
        let tags: Vec<[u8; 32]> = authorization.grants.iter().map(|g| g.tag).collect();
        let message = header.signed_message(&records, &tags);
        let request = ShareRequest {
            header,
            sealed_records,
            signature: sign_tagged(doctor, params, Purpose::ShareRequest, &message, rng),
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
        &self.header.doctor
    }

    /// ID_C of the patient whose records are requested.
    pub fn patient(&self) -> &Identity {
        &self.header.patient
    }

    /// ID_A of the hospital addressed.
    pub fn hospital(&self) -> &Identity {
        &self.header.hospital
    }

    /// Until when the patient's authorization runs, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.header.expires_at
    }

    /// ρ_B̄. Its issuer is a claim: the caller looks up the doctor's hospital on chain and
    /// passes it to [`HospitalEnrolment::verify_request`].
    pub fn licence(&self) -> &Licence {
        &self.licence
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.header.write(&mut w);
        w.bytes(&self.sealed_records);
        self.signature.write(&mut w);
        self.licence.write(&mut w);
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r| {
            Ok(Self {
                header: RequestHeader::read(r)?,
                sealed_records: r.bytes("sealed records")?.to_vec(),
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
    /// S3-share step 3, at hospital A (whose keys are `hospital`). Accepts only if
    ///
    /// 1. the request is addressed to this hospital about this patient, and ρ_B̄ passes
    ///    [`Licence::verify`] against `check` (issued by the doctor's hospital as the chain
    ///    records it, doctor not revoked, unexpired at `check.now`);
    /// 2. the authorization has not expired at `check.now` ([`Error::AuthorizationExpired`]);
    /// 3. e(α', α_CB̄) = e(T_b, P̂) with α' = T_c1 + (Q_A + Q_B̄)·P: α_CB̄ = b·α_C for the doctor's
    ///    T_b = b·P, so α_C was made with c1 for exactly (A, B̄);
    /// 4. the record list opens under the key from K_AB̄ = e(Q̂_B̄, Š_A) and T_b;
    /// 5. σ verifies for ID_B̄ over the header, the records and A's own tags τ'_j (which bind
    ///    the expiry), so B̄ holds its registered key and the patient granted exactly these
    ///    records until this expiry.
    ///
    /// Failures of 3–5 all give the same [`Error::RequestRejected`].
    pub fn verify_request(
        &self,
        hospital: &EntityKeys,
        params: &PublicParams,
        request: &ShareRequest,
        check: &LicenceCheck<'_>,
    ) -> Result<VerifiedShare> {
        let header = &request.header;
        if header.hospital != self.hospital
            || header.patient != self.patient
            || hospital.id() != &self.hospital
        {
            return Err(Error::WrongParty("request for another hospital or patient"));
        }
        request.licence.verify(params, &header.doctor, check)?;
        if check.now > header.expires_at {
            return Err(Error::AuthorizationExpired);
        }
        self.check_alpha(header)?;
        let records = open_records(hospital, request)?;
        let context = GrantContext {
            patient: &self.patient,
            hospital: &self.hospital,
            doctor: &header.doctor,
            expires_at: header.expires_at,
        };
        let factors: Vec<EncryptionFactor> =
            records.iter().map(|&j| self.factors.factor(j)).collect();
        let tags: Vec<[u8; 32]> = records
            .iter()
            .zip(&factors)
            .map(|(&j, f)| context.record_tag(f, j))
            .collect();
        let message = header.signed_message(&records, &tags);
        verify_tagged(
            &request.signature,
            params,
            &header.doctor,
            Purpose::ShareRequest,
            &message,
        )
        .map_err(|_| Error::RequestRejected)?;
        Ok(VerifiedShare {
            patient: self.patient.clone(),
            hospital: self.hospital.clone(),
            doctor: header.doctor.clone(),
            records,
            factors,
            t_b: header.t_b,
            t_c1_hat: self.t_c1_hat,
        })
    }

    /// e(T_c1 + (Q_A + Q_B̄)·P, α_CB̄) = e(T_b, P̂): correct because α_CB̄ = b·(c1 + Q_A +
    /// Q_B̄)^-1·P̂ gives g^b on both sides; forging α_CB̄ for a given T_b without c1 means
    /// computing (c1 + Q_A + Q_B̄)^-1·P̂ (q-SDH).
    fn check_alpha(&self, header: &RequestHeader) -> Result<()> {
        let q = pair_value(&self.hospital, &header.doctor);
        let alpha_prime = curve::add_g1(&self.t_c1, &mul_p(&q));
        let bound = curve::pairings_equal(
            (&alpha_prime, &header.alpha_cb),
            (&header.t_b, &curve::p_hat()),
        );
        if !bound {
            return Err(Error::RequestRejected);
        }
        Ok(())
    }
}

/// Opens the record list with K_AB̄ = e(Q̂_B̄, Š_A); only the addressed hospital can.
fn open_records(hospital: &EntityKeys, request: &ShareRequest) -> Result<Vec<RecordIndex>> {
    let header = &request.header;
    let k = Secret::new(curve::pairing(
        &hash::h1_g1(&header.doctor),
        hospital.s_check(),
    ));
    let listed = Zeroizing::new(
        header
            .records_key(&k)
            .open(&header.to_bytes(), &request.sealed_records)
            .map_err(|_| Error::RequestRejected)?,
    );
    decode(&listed, read_records).map_err(|_| Error::RequestRejected)
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

    /// S3-share step 4: fresh a, T_a = a·P and per record K_j = e(s_α^j·a·T_b, T̂_c1)
    /// (= e(T_b, c1·P)^(s_α^j·a) of the seed), sk_j = H_sk(ID_B̄ ‖ ID_A ‖ a·T_b ‖ K_j ‖ T_b ‖ T_a ‖
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
    use crate::agree::{Initiator, respond_enrolment};
    use crate::factors::InitialFactors;
    use crate::licence::RevocationStatus;
    use crate::pkg::Pkg;
    use crate::register::PendingRegistration;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const NOW: u64 = 1_700_000_000;

    fn id(s: &str) -> Identity {
        Identity::new(s).unwrap()
    }

    fn j(n: u64) -> RecordIndex {
        RecordIndex::new(n).unwrap()
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
        let one = [j(1)];
        assert_eq!(
            enrolment(c1).authorize(&id("dr-bob"), &one, NOW).err(),
            Some(Error::DegenerateAuthorization)
        );
        assert!(enrolment(c1).authorize(&id("dr-eve"), &one, NOW).is_ok());
    }

    #[test]
    fn record_tags_bind_doctor_record_and_expiry() {
        let e = enrolment(Scalar::from(7u64));
        let tag = |doctor: &str, n, expires_at| {
            let doctor = id(doctor);
            let context = GrantContext {
                patient: &e.patient,
                hospital: &e.hospital,
                doctor: &doctor,
                expires_at,
            };
            context.record_tag(&e.factors.factor(j(n)), j(n))
        };
        assert_eq!(tag("dr-bob", 1, NOW), tag("dr-bob", 1, NOW));
        assert_ne!(tag("dr-bob", 1, NOW), tag("dr-eve", 1, NOW));
        assert_ne!(tag("dr-bob", 1, NOW), tag("dr-bob", 2, NOW));
        assert_ne!(tag("dr-bob", 1, NOW), tag("dr-bob", 1, NOW + 1));
    }

    #[test]
    fn authorization_rejects_an_empty_grant_list() {
        let e = enrolment(Scalar::from(7u64));
        assert_eq!(
            e.authorize(&id("dr-bob"), &[], NOW).err(),
            Some(Error::InvalidList("records"))
        );
        let auth = e.authorize(&id("dr-bob"), &[j(1)], NOW).unwrap();
        let mut bytes = auth.to_bytes();
        let count_at = bytes.len() - (8 + 96 + 32) - 4;
        bytes[count_at..count_at + 4].copy_from_slice(&0u32.to_be_bytes());
        bytes.truncate(count_at + 4);
        assert_eq!(
            Authorization::from_bytes(&bytes).err(),
            Some(Error::InvalidList("records"))
        );
    }

    /// Patient C enrolled at A; doctor B̄ of B with a licence; an authorization for record 2.
    struct Fixture {
        rng: ChaCha20Rng,
        params: PublicParams,
        hospital_a: EntityKeys,
        hospital_b: EntityKeys,
        bob: EntityKeys,
        licence: Licence,
        patient_at_a: PatientEnrolment,
        a_with_patient: HospitalEnrolment,
    }

    fn fixture() -> Fixture {
        let mut rng = ChaCha20Rng::seed_from_u64(77);
        let pkg = Pkg::setup(&mut rng);
        let register = |name: &str, rng: &mut ChaCha20Rng| {
            let (pending, request) = PendingRegistration::new(id(name), rng);
            let response = pkg.register(&request, rng);
            pending.complete(pkg.params(), response).unwrap()
        };
        let patient = register("patient-carol", &mut rng);
        let hospital_a = register("hospital-a", &mut rng);
        let hospital_b = register("hospital-b", &mut rng);
        let bob = register("dr-bob", &mut rng);
        let licence = Licence::issue(&hospital_b, pkg.params(), id("dr-bob"), u64::MAX, &mut rng);
        let (state, hello) = Initiator::start_enrolment(&patient, id("hospital-a"), &mut rng);
        let (reply, pending) = respond_enrolment(&hospital_a, &hello, &mut rng).unwrap();
        let (_, patient_at_a, confirmation) = state.finish_enrolment(&patient, &reply).unwrap();
        let (_, a_with_patient) = pending.confirm(&confirmation).unwrap();
        Fixture {
            rng,
            params: *pkg.params(),
            hospital_a,
            hospital_b,
            bob,
            licence,
            patient_at_a,
            a_with_patient,
        }
    }

    fn authorization(f: &Fixture) -> Authorization {
        f.patient_at_a
            .authorize(f.bob.id(), &[j(2)], NOW + 3600)
            .unwrap()
    }

    fn verify(f: &Fixture, request: &ShareRequest) -> Result<VerifiedShare> {
        let check = LicenceCheck {
            expected_issuer: f.hospital_b.id(),
            revocation: RevocationStatus::NotRevoked,
            now: NOW,
        };
        f.a_with_patient
            .verify_request(&f.hospital_a, &f.params, request, &check)
    }

    #[test]
    fn honest_request_is_accepted() {
        let mut f = fixture();
        let auth = authorization(&f);
        let (_, request) =
            PendingShare::request(&f.bob, &f.params, f.licence.clone(), &auth, &mut f.rng).unwrap();
        assert_eq!(verify(&f, &request).unwrap().records(), &[j(2)]);
    }

    /// Attack: T_c1 travels in clear at enrolment. Before, A only unmasked N with
    /// g_b' = e(α', α_CB̄), α' = T_c1 + (Q_A + Q_B̄)·P, so anyone could pick r, send α_CB̄ = r·P̂
    /// and a matching N = H3(e(r·α', P̂)) ⊕ θ: α_C proved nothing. Now a request whose α_CB̄ is
    /// not b·α_C for its signed T_b = b·P is rejected, however consistent the rest is.
    #[test]
    fn alpha_not_bound_to_t_b_is_rejected() {
        let mut f = fixture();
        let mut forged = authorization(&f);
        forged.alpha = mul_p_hat(&Scalar::from(12345u64)); // not (c1 + Q_A + Q_B̄)^-1·P̂
        let (_, request) =
            PendingShare::request(&f.bob, &f.params, f.licence.clone(), &forged, &mut f.rng)
                .unwrap();
        assert_eq!(verify(&f, &request).err(), Some(Error::RequestRejected));
    }

    /// Attack: before, an eavesdropper recomputed T_b from the public signature (T_b = v·P −
    /// h·(L + f·P_pub)), hence g_b = e(T_b, P̂) and θ = H3(g_b) ⊕ N — the records asked for.
    /// Now T_b is public anyway, and the record list opens only under K_AB̄: the addressed
    /// hospital reads it, another registered hospital does not.
    #[test]
    fn observer_cannot_read_requested_records() {
        let mut f = fixture();
        let auth = authorization(&f);
        let (_, request) =
            PendingShare::request(&f.bob, &f.params, f.licence.clone(), &auth, &mut f.rng).unwrap();
        assert_eq!(open_records(&f.hospital_a, &request), Ok(vec![j(2)]));
        assert_eq!(
            open_records(&f.hospital_b, &request),
            Err(Error::RequestRejected)
        );
        let listed = encode(|w| write_records(w, &[j(2)]));
        let bytes = request.to_bytes();
        assert!(!bytes.windows(listed.len()).any(|win| win == listed));
    }

    /// Attack: a pending request leaks (it is stored until the hospital answers). Before, its
    /// ephemeral b was also the signature nonce, so with the public σ = (L, h, v),
    /// (v − b)/h = d + x was the doctor's long-term signing key.
    #[test]
    fn leaked_pending_request_does_not_leak_the_signing_key() {
        let mut f = fixture();
        let auth = authorization(&f);
        let (pending, request) =
            PendingShare::request(&f.bob, &f.params, f.licence.clone(), &auth, &mut f.rng).unwrap();
        let (h, v) = request.signature.challenge_and_response();
        let derived = (v - pending.b.expose()) * Option::<Scalar>::from(h.invert()).unwrap();
        assert_ne!(derived, *f.bob.signing_key().expose());
    }
}
