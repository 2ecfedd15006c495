//! The study's cloud proxies (S4-flow steps 6–8, threshold): the patient hands each the
//! ciphertext and one kfrag sealed to it; the researcher fetches the ciphertext from any and
//! collects `threshold` verified cfrags. Each proxy's URL and HPKE key come from its proven
//! `proxy/<address>` entry, never from the proxy itself.

use crate::ResearchError;
use medchain_client::{Client, StateQuery};
use medchain_cloud::CloudClient;
use medchain_state::values::Study;
use medchain_types::{Address, research::EnrolmentId};
use proxy_reencryption::{EncryptedRecord, StudyKeys};

/// A proxy as the chain registered it.
#[derive(Clone, Debug)]
pub struct RegisteredProxy {
    /// Its chain address.
    pub address: Address,
    /// Its HPKE (X25519) public key: kfrags are sealed to it.
    pub encryption_key: [u8; 32],
    /// Where it serves.
    pub url: String,
}

/// The study's proxies, in the study's order, each read from proven state.
pub fn registered(client: &Client, study: &Study) -> Result<Vec<RegisteredProxy>, ResearchError> {
    study
        .proxies
        .iter()
        .map(|address| {
            let proxy = client
                .read(&StateQuery::proxy(address))?
                .value
                .ok_or(ResearchError::UnknownProxy(*address))?;
            Ok(RegisteredProxy {
                address: *address,
                encryption_key: proxy.encryption_key.into(),
                url: proxy.url.to_string(),
            })
        })
        .collect()
}

/// What one proxy said to a delivery.
#[derive(Debug)]
pub struct Delivery {
    /// The proxy.
    pub proxy: Address,
    /// Whether it stored the ciphertext and its kfrag, and if not, why.
    pub outcome: Result<(), String>,
}

/// Hands each of the study's proxies the encrypted record and its kfrag (sealed to the
/// proxy's registered key, for the study's researcher key, `threshold` of them needed).
/// A proxy that is down or refuses is reported, not fatal; fewer than `threshold` stored is
/// [`ResearchError::TooFewDeliveries`], since the researcher could then never read.
pub fn deliver(
    client: &Client,
    study: &Study,
    enrolment: &EnrolmentId,
    keys: &StudyKeys,
    encrypted: &EncryptedRecord,
) -> Result<Vec<Delivery>, ResearchError> {
    let proxies = registered(client, study)?;
    let receiving = researcher_public(study)?;
    let encryption_keys: Vec<[u8; 32]> = proxies.iter().map(|p| p.encryption_key).collect();
    let kfrags = proxy_reencryption::grant(
        keys,
        &receiving,
        study.threshold,
        &encryption_keys,
        &crate::bytes32(&enrolment.0),
    )?;
    let record = encrypted.to_bytes();
    let deliveries: Vec<Delivery> = proxies
        .iter()
        .zip(kfrags)
        .map(|(proxy, kfrag)| {
            let outcome = CloudClient::new(&proxy.url)
                .and_then(|cloud| {
                    cloud.put_record(enrolment, &record)?;
                    cloud.post_kfrag(enrolment, &kfrag).map(drop)
                })
                .map_err(|error| error.to_string());
            Delivery {
                proxy: proxy.address,
                outcome,
            }
        })
        .collect();
    let stored = deliveries.iter().filter(|d| d.outcome.is_ok()).count();
    if stored < usize::from(study.threshold) {
        return Err(ResearchError::TooFewDeliveries {
            stored,
            threshold: study.threshold,
            deliveries,
        });
    }
    Ok(deliveries)
}

/// The study's researcher key (an Umbral public key, 33 bytes).
fn researcher_public(study: &Study) -> Result<[u8; 33], ResearchError> {
    study
        .researcher_key
        .0
        .as_slice()
        .try_into()
        .map_err(|_| ResearchError::BadResearcherKey)
}
