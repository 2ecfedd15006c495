//! Doctor licences ρ = (ID_HN, ID_DN, EXP) signed by the hiring hospital (S3-register), carried
//! in every sharing request (S3-share). Revocation lists and who employs whom live on chain, not
//! here (S3-revoke), so checking a licence takes both from the caller in a [`LicenceCheck`]:
//! there is no way to check a licence without saying who must have issued it and whether the
//! doctor is revoked.

use rand_core::{CryptoRng, RngCore};

use crate::codec::{Reader, Writer, decode, encode};
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::params::PublicParams;
use crate::register::EntityKeys;
use crate::signature::{Purpose, Signature, sign_tagged, verify_tagged};

/// The doctor's revocation status, as the caller read it from the chain's revocation list
/// (S3-revoke) at the height it trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationStatus {
    /// The doctor is not on the revocation list.
    NotRevoked,
    /// The doctor is on the revocation list: every licence check fails.
    Revoked,
}

/// What a licence is checked against — all of it from the caller, none of it from the licence.
#[derive(Clone, Copy, Debug)]
pub struct LicenceCheck<'a> {
    /// The doctor's hospital as the chain records it (the doctor's organisation), never the
    /// issuer the licence names: otherwise any registered identity, the doctor included, could
    /// issue itself a licence.
    pub expected_issuer: &'a Identity,
    /// The doctor's revocation status.
    pub revocation: RevocationStatus,
    /// The caller's clock, seconds since the Unix epoch (this crate reads none): checked against
    /// the licence's EXP and, in a sharing request, the authorization's expiry.
    pub now: u64,
}

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

    /// Accepts iff the licence names `doctor`, was issued by `check.expected_issuer`, the
    /// doctor is not revoked, `check.now ≤ EXP`, and the issuer's signature verifies.
    pub fn verify(
        &self,
        params: &PublicParams,
        doctor: &Identity,
        check: &LicenceCheck<'_>,
    ) -> Result<()> {
        if &self.doctor != doctor {
            return Err(Error::LicenceRejected("issued to another doctor"));
        }
        if &self.hospital != check.expected_issuer {
            return Err(Error::LicenceRejected(
                "not issued by the doctor's hospital",
            ));
        }
        if check.revocation == RevocationStatus::Revoked {
            return Err(Error::LicenceRejected("doctor revoked"));
        }
        if check.now > self.expires_at {
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
        .map_err(|_| Error::LicenceRejected("bad signature"))
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
