//! Doctor licences ρ = (ID_HN, ID_DN, EXP) signed by the hiring hospital (S3-register), carried
//! in every sharing request (S3-share). Revocation lists live on the SUP chain, not here: the
//! caller checks them (S3-revoke).

use rand_core::{CryptoRng, RngCore};

use crate::codec::{Reader, Writer, decode, encode};
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::params::PublicParams;
use crate::register::EntityKeys;
use crate::signature::{Purpose, Signature, sign_tagged, verify_tagged};

/// ρ = (ID_HN, ID_DN, EXP) and the hospital's signature over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Licence {
    hospital: Identity,
    doctor: Identity,
    expires_at: u64,
    signature: Signature,
}

impl Licence {
    /// The hospital `hospital_keys` licenses `doctor` until `expires_at` (seconds since the Unix
    /// epoch; the caller's clock, this crate reads none).
    pub fn issue(
        hospital_keys: &EntityKeys,
        params: &PublicParams,
        doctor: Identity,
        expires_at: u64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Self {
        let body = body(hospital_keys.id(), &doctor, expires_at);
        let signature = sign_tagged(hospital_keys, params, Purpose::Licence, &body, rng);
        Self {
            hospital: hospital_keys.id().clone(),
            doctor,
            expires_at,
            signature,
        }
    }

    /// The issuing hospital ID_HN.
    pub fn hospital(&self) -> &Identity {
        &self.hospital
    }

    /// The licensed doctor ID_DN.
    pub fn doctor(&self) -> &Identity {
        &self.doctor
    }

    /// EXP, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Accepts iff the licence names `doctor`, is signed by its hospital, and `now ≤ EXP`.
    /// Whether the issuer is a registered hospital is the chain's knowledge, not checked here.
    pub fn verify(&self, params: &PublicParams, doctor: &Identity, now: u64) -> Result<()> {
        if &self.doctor != doctor {
            return Err(Error::LicenceRejected("issued to another doctor"));
        }
        if now > self.expires_at {
            return Err(Error::LicenceRejected("expired"));
        }
        let body = body(&self.hospital, &self.doctor, self.expires_at);
        verify_tagged(
            &self.signature,
            params,
            &self.hospital,
            Purpose::Licence,
            &body,
        )
        .map_err(|_| Error::LicenceRejected("bad signature"))?;
        Ok(())
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(|w| self.write(w))
    }

    /// Strict decoding (the signature is checked by [`Licence::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, Self::read)
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        self.hospital.write(w);
        self.doctor.write(w);
        w.u64(self.expires_at);
        self.signature.write(w);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            hospital: Identity::read(r)?,
            doctor: Identity::read(r)?,
            expires_at: r.u64("licence expiry")?,
            signature: Signature::read(r)?,
        })
    }
}

fn body(hospital: &Identity, doctor: &Identity, expires_at: u64) -> Vec<u8> {
    let mut w = Writer::new();
    hospital.write(&mut w);
    doctor.write(&mut w);
    w.u64(expires_at);
    w.into_bytes()
}
