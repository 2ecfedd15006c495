//! The proxy's view of the chain: proven reads of enrolments, studies and proxies (each
//! verified against a finalized header, never trusted from the node), and the proxy's own
//! transactions, filed with its chain key and followed to finality through the consortium
//! ledger (which keeps the key's nonces across concurrent requests).

use super::CloudError;
use medchain_client::{Client, Confirmed, StateQuery, WaitPolicy, keys::address_of};
use medchain_gateway::ledger::ConsortiumLedger;
use medchain_types::{
    Address, ContentHash, EnrolmentId, OrgName, OrgState, Payload, PrivateKey, StudyId,
};
use proxy_reencryption::PUBLIC_KEY_LEN;

/// An Umbral public key as the chain stores it.
pub(crate) type UmbralKey = [u8; PUBLIC_KEY_LEN];

/// What the proxy needs of an enrolment (S4-flow step 5), proven on chain.
pub(crate) struct ProvenEnrolment {
    pub(crate) study: StudyId,
    pub(crate) delegating: UmbralKey,
    pub(crate) verifying: UmbralKey,
    pub(crate) ciphertext_hash: ContentHash,
}

/// What the proxy needs of a study, proven on chain.
pub(crate) struct StudyTerms {
    pub(crate) id: StudyId,
    pub(crate) researcher: Address,
    /// The researcher's organisation when the study was published.
    pub(crate) org: OrgName,
    pub(crate) researcher_key: UmbralKey,
    pub(crate) proxies: Vec<Address>,
}

/// A registered proxy, proven on chain.
pub(crate) struct RegisteredProxy {
    pub(crate) encryption_key: [u8; 32],
    pub(crate) url: String,
}

/// The chain as the proxy sees and acts on it.
pub(crate) struct CloudChain {
    client: Client,
    ledger: ConsortiumLedger,
    key: PrivateKey,
    address: Address,
}

impl CloudChain {
    pub(crate) fn new(client: Client, wait: WaitPolicy, key: PrivateKey) -> Self {
        Self {
            ledger: ConsortiumLedger::new(client.clone(), wait),
            client,
            address: address_of(&key),
            key,
        }
    }

    /// The proxy's chain address.
    pub(crate) fn address(&self) -> Address {
        self.address
    }

    /// An enrolment, proven (`None`: proven absent — not final, or never made).
    pub(crate) fn enrolment(
        &self,
        id: &EnrolmentId,
    ) -> Result<Option<ProvenEnrolment>, CloudError> {
        let Some(enrolment) = self.client.read(&StateQuery::enrolment(id))?.value else {
            return Ok(None);
        };
        Ok(Some(ProvenEnrolment {
            study: enrolment.study,
            delegating: umbral_key(enrolment.delegating_key.as_slice(), "delegating")?,
            verifying: umbral_key(enrolment.verifying_key.as_slice(), "verifying")?,
            ciphertext_hash: enrolment.ciphertext_hash,
        }))
    }

    /// A study, proven.
    pub(crate) fn study(&self, id: &StudyId) -> Result<Option<StudyTerms>, CloudError> {
        let Some(study) = self.client.read(&StateQuery::study(id))?.value else {
            return Ok(None);
        };
        Ok(Some(StudyTerms {
            id: *id,
            researcher: study.researcher,
            org: study.org,
            researcher_key: umbral_key(study.researcher_key.as_slice(), "researcher")?,
            proxies: study.proxies,
        }))
    }

    /// Why `member` may not act for `org` now (not a member any more, or the organisation is
    /// not audited), proven; `None` if it may.
    pub(crate) fn not_audited_member(
        &self,
        member: &Address,
        org: &OrgName,
    ) -> Result<Option<String>, CloudError> {
        let membership = self.client.read(&StateQuery::membership(member))?.value;
        if membership.is_none_or(|membership| membership.org != *org) {
            return Ok(Some(format!("is no longer a member of {org}")));
        }
        let state = self
            .client
            .read(&StateQuery::org(org))?
            .value
            .map(|org| org.state);
        Ok(match state {
            Some(OrgState::Audited) => None,
            Some(state) => Some(format!("belongs to {org}, which is {state:?}, not audited")),
            None => Some(format!("belongs to {org}, which the chain does not hold")),
        })
    }

    /// This proxy's registration, proven.
    pub(crate) fn registration(&self) -> Result<Option<RegisteredProxy>, CloudError> {
        let proxy = self.client.read(&StateQuery::proxy(&self.address))?.value;
        Ok(proxy.map(|proxy| RegisteredProxy {
            encryption_key: <[u8; 32]>::from(proxy.encryption_key),
            url: proxy.url.to_string(),
        }))
    }

    /// Signs `payload` as the proxy, submits it and waits until it is final.
    pub(crate) fn file(&self, payload: Payload) -> Result<Confirmed, CloudError> {
        Ok(self.ledger.file(&self.key, payload)?)
    }
}

/// An Umbral key the chain holds: the chain checks its length, so another length is a chain
/// this proxy does not understand.
fn umbral_key(bytes: &[u8], role: &str) -> Result<UmbralKey, CloudError> {
    bytes.try_into().map_err(|_| {
        CloudError::Internal(format!(
            "the chain holds a {role} key of {} bytes, not {PUBLIC_KEY_LEN}",
            bytes.len()
        ))
    })
}
