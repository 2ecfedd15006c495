//! The regulator's side of the research market: arbitration of a disputed delivery.

use crate::ResearchError;
use medchain_client::{Client, Sent, WaitPolicy, build};
use medchain_types::{PrivateKey, research::EnrolmentId};

/// Settles a disputed enrolment (`research.resolve`, regulator only): `pay` makes the owed
/// reward the patient's to claim, otherwise it returns to the study's pool. The regulator
/// decides on evidence off chain (the researcher can show the decrypted bundle, whose hash
/// the delivery tag refutes).
pub fn resolve(
    client: &Client,
    chain_key: &PrivateKey,
    enrolment: &EnrolmentId,
    pay: bool,
    wait: &WaitPolicy,
) -> Result<Sent, ResearchError> {
    Ok(client
        .signer(chain_key.clone())
        .send(build::resolve_dispute(*enrolment, pay), Some(wait))?)
}
