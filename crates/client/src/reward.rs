//! What an access request agrees to pay (S1-tokens): a request names the most it pays the
//! patient (`max_reward`), and the chain refuses it if the consent asks more. A requester
//! that reads the price from verified state pays what it saw, or nothing if the patient
//! re-prices the consent before the request executes.

use crate::{Client, ClientError, StateQuery};
use medchain_types::{Address, Purpose, RecordId};

impl Client {
    /// The reward the newest consent covering `grantee`, `record` and `purpose` asks, verified
    /// against a finalized header; 0 without such a consent (an access no consent allows
    /// pays nothing).
    pub fn consent_reward(
        &self,
        grantee: &Address,
        record: &RecordId,
        purpose: Purpose,
    ) -> Result<u64, ClientError> {
        let Some(id) = self
            .read(&StateQuery::grant(grantee, record, purpose))?
            .value
        else {
            return Ok(0);
        };
        let consent = self.read(&StateQuery::consent(&id))?.value;
        Ok(consent.map_or(0, |consent| consent.reward))
    }
}
