//! Keys a participant derives from its chain key, so it keeps no other secret file: the
//! patient secret of its nullifiers, a one-time enrolment key and Umbral keys per study, and
//! a researcher's Umbral key.
//!
//! Each is HKDF-SHA256 of the chain key's bytes with its own label (and, per study, the
//! study id), so no two of them are related and none reveals the chain key. The one-time
//! enrolment key of one study tells nothing about another's: a patient's enrolments cannot
//! be linked through their senders.

use commonware_codec::{Copying, DecodeExt as _, Encode as _};
use hkdf::Hkdf;
use medchain_types::{PrivateKey, research::StudyId};
use proxy_reencryption::{ResearcherKey, StudyKeys};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Label of the patient secret s (its nullifier key is `Poseidon(TAG_NK, s)`).
const PATIENT_SECRET: &[u8] = b"medchain/zk/patient-secret/v1";
/// Label of a study's one-time enrolment key.
const ENROLMENT_KEY: &[u8] = b"medchain/research/enrolment-key/v1";
/// Label of the seed of a study's Umbral keys.
const UMBRAL: &[u8] = b"medchain/research/umbral/v1";
/// Label of a researcher's Umbral key.
const RESEARCHER_UMBRAL: &[u8] = b"medchain/research/researcher-umbral/v1";

/// 32 bytes of HKDF-SHA256 of `chain_key` for `label` and `context`.
fn derive(chain_key: &PrivateKey, label: &[u8], context: &[u8]) -> Zeroizing<[u8; 32]> {
    let ikm = Zeroizing::new(chain_key.encode().to_vec());
    let info = Zeroizing::new([label, context].concat());
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is within HKDF-SHA256's output range, so expanding cannot fail.
    let _ = Hkdf::<Sha256>::new(None, &ikm).expand(&info, &mut out[..]);
    out
}

/// The patient secret s behind the patient's nullifier key and every nullifier it proves.
pub fn patient_secret(chain_key: &PrivateKey) -> zk::PatientSecret {
    zk::PatientSecret::from_seed(&derive(chain_key, PATIENT_SECRET, &[]))
}

/// The one-time key that files the patient's enrolment in `study` (and receives its reward).
pub fn enrolment_key(chain_key: &PrivateKey, study: &StudyId) -> PrivateKey {
    let seed = derive(chain_key, ENROLMENT_KEY, study.as_bytes());
    // Every 32-byte string is an ed25519 seed, so this decodes.
    PrivateKey::decode(Copying(&seed[..])).expect("32 bytes are an ed25519 private key")
}

/// The patient's Umbral keys for `study`: the record is encrypted under their delegating key
/// and the kfrags are signed by their signer.
pub fn study_keys(chain_key: &PrivateKey, study: &StudyId) -> StudyKeys {
    let seed = derive(chain_key, UMBRAL, &[]);
    StudyKeys::derive(&seed, &crate::bytes32(&study.0))
}

/// A researcher's Umbral key (the study's `researcher_key` is its public half), derived so
/// the researcher needs no second key file.
pub fn researcher_key(chain_key: &PrivateKey) -> ResearcherKey {
    ResearcherKey::derive(&derive(chain_key, RESEARCHER_UMBRAL, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use medchain_types::Address;

    fn study(byte: u8) -> StudyId {
        StudyId(medchain_types::Hash32::from([byte; 32]))
    }

    #[test]
    fn one_time_keys_differ_per_study_and_from_the_chain_key() {
        let chain_key = PrivateKey::from_seed(1);
        let first = enrolment_key(&chain_key, &study(1));
        let second = enrolment_key(&chain_key, &study(2));
        let address = |key: &PrivateKey| Address::from(key.public_key());
        assert_ne!(address(&first), address(&second));
        assert_ne!(address(&first), address(&chain_key));
        // Derivation is deterministic: the patient finds its key again.
        assert_eq!(
            address(&first),
            address(&enrolment_key(&chain_key, &study(1)))
        );
        // Another patient's key for the same study is another key.
        let other = enrolment_key(&PrivateKey::from_seed(2), &study(1));
        assert_ne!(address(&first), address(&other));
    }

    #[test]
    fn study_keys_differ_per_study() {
        let chain_key = PrivateKey::from_seed(1);
        let first = study_keys(&chain_key, &study(1));
        let again = study_keys(&chain_key, &study(1));
        let second = study_keys(&chain_key, &study(2));
        assert_eq!(first.delegating_public(), again.delegating_public());
        assert_ne!(first.delegating_public(), second.delegating_public());
        assert_ne!(first.verifying_public(), second.verifying_public());
    }
}
