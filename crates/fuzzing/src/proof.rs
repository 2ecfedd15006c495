//! State proofs (`medchain-state`): the Merkle proof a node attaches to every state read, and
//! the state values it proves.

use crate::json_form_agrees;
use medchain_state::{
    ProvenValue, StateProof, StateValue,
    values::{
        AccessLogEntry, Account, BlockInfo, ChainConfig, Consent, Membership, Org, Record,
        StoragePointer,
    },
};
use medchain_types::{ConsentId, Hash32, RecordId};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

/// The input is a [`ProvenValue`] (height, root, key, value, proof) in its binary form, and
/// also a bare [`StateProof`]. Both decoders are canonical and the JSON form the API serves
/// reads back the same. A proof that verifies is bound to its value and root: claiming another
/// value, or absence, or another root, fails. Whatever value bytes it carries decode (or not)
/// as every state value type canonically.
pub fn state_proof(data: &[u8]) {
    if let Ok(proof) = StateProof::from_bytes(data) {
        assert_eq!(proof.to_bytes(), data, "proof encoding is not canonical");
        assert_eq!(StateProof::from_hex(&proof.to_hex()).ok(), Some(proof));
    }
    let Ok(proven) = ProvenValue::from_bytes(data) else {
        return;
    };
    assert_eq!(
        proven.to_bytes(),
        data,
        "proven value encoding is not canonical"
    );
    let json = serde_json::to_string(&proven).expect("a proven value serializes");
    let back: ProvenValue = serde_json::from_str(&json).expect("its JSON form parses");
    assert_eq!(back, proven);

    let verdict = proven.verify();
    assert_eq!(
        verdict.is_ok(),
        proven.verify_against(&proven.state_root).is_ok()
    );
    if verdict.is_ok() {
        for lie in lies(&proven) {
            assert!(
                lie.verify().is_err(),
                "a proof verified for a changed claim: {lie:?}"
            );
        }
    }
    if let Some(value) = &proven.value {
        every_state_value(value);
    }
}

/// The same proof claiming something else: another value or absence, or another root.
fn lies(proven: &ProvenValue) -> Vec<ProvenValue> {
    let with_value = |value| ProvenValue {
        value,
        ..proven.clone()
    };
    let other_value = match &proven.value {
        Some(bytes) => [bytes.as_slice(), b"!"].concat(),
        None => Vec::new(),
    };
    let mut other_root = [0u8; 32];
    other_root.copy_from_slice(proven.state_root.as_ref());
    other_root[0] ^= 1;
    let mut lies = vec![
        with_value(Some(other_value)),
        ProvenValue {
            state_root: Hash32::from(other_root),
            ..proven.clone()
        },
    ];
    if proven.value.is_some() {
        lies.push(with_value(None));
    }
    lies
}

/// Decodes `bytes` as each state value a client decodes from a proof.
fn every_state_value(bytes: &[u8]) {
    state_value::<ChainConfig>(bytes);
    state_value::<BlockInfo>(bytes);
    state_value::<Account>(bytes);
    state_value::<Org>(bytes);
    state_value::<Membership>(bytes);
    state_value::<Record>(bytes);
    state_value::<StoragePointer>(bytes);
    state_value::<Consent>(bytes);
    state_value::<AccessLogEntry>(bytes);
    state_value::<RecordId>(bytes);
    state_value::<ConsentId>(bytes);
    state_value::<u64>(bytes);
}

/// Canonical binary form, and a JSON form (the API's `value`) that reads back the same.
fn state_value<V>(bytes: &[u8])
where
    V: StateValue + Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Ok(value) = V::from_bytes(bytes) else {
        return;
    };
    assert_eq!(
        value.to_bytes(),
        bytes,
        "state value encoding is not canonical"
    );
    json_form_agrees(&value);
}
