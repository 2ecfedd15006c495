//! Licences ρ = (ID_HN, ID_DN, EXP) (S3-register): the hospital signs, for a doctor the chain
//! says it licenses, the TAKA licence every sharing request carries. The chain stays the
//! authority: the holder of a record checks the doctor's licence and revocation on chain
//! again, and ρ only binds the doctor's identity to this hospital inside the protocol.

use super::{Gateway, ServiceError, now_ms};
use crate::wire::LicenceIssued;
use medchain_state::values::Licence;
use medchain_types::IdentityName;
use rand_core::OsRng;

impl Gateway {
    /// `GET /v1/licences/{doctor}`: ρ with EXP = the chain licence's expiry, in seconds.
    pub(crate) fn sign_licence(
        &self,
        doctor: &IdentityName,
    ) -> Result<LicenceIssued, ServiceError> {
        let licence = self.own_doctor(doctor)?;
        if licence.hospital != self.hospital.identity {
            return Err(ServiceError::NotOurDoctor(format!(
                "{doctor} is licensed by {}, not {}",
                licence.hospital, self.hospital.identity
            )));
        }
        let identity = taka::Identity::new(doctor.as_str())
            .map_err(|e| ServiceError::bad("doctor identity", e))?;
        let signed = taka::Licence::issue(
            &self.hospital.keys,
            &self.hospital.params,
            identity,
            licence.expires_at_ms / 1000,
            &mut OsRng,
        );
        Ok(LicenceIssued {
            licence: signed.to_bytes(),
        })
    }

    /// The licence of a doctor of this hospital's organisation, unexpired and not revoked,
    /// each proven: whom the hospital signs ρ for and vouches for in an emergency.
    pub(crate) fn own_doctor(&self, doctor: &IdentityName) -> Result<Licence, ServiceError> {
        let licence = self.chain.licence(doctor)?.ok_or_else(|| {
            ServiceError::NotOurDoctor(format!("{doctor} has no licence on chain"))
        })?;
        if licence.org != self.hospital.org {
            return Err(ServiceError::NotOurDoctor(format!(
                "{doctor} is a doctor of {}, not {}",
                licence.org, self.hospital.org
            )));
        }
        if licence.expires_at_ms <= now_ms() {
            return Err(ServiceError::NotOurDoctor(format!(
                "{doctor}'s licence has expired; renew it with `medchain licence renew`"
            )));
        }
        if self.chain.revoked(doctor)? {
            return Err(ServiceError::NotOurDoctor(format!(
                "{doctor} is on the revocation list"
            )));
        }
        Ok(licence)
    }
}
