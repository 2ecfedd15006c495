//! The light client across epochs (S1-dpos): it trusts the genesis set for epoch 0 and learns
//! each later set from an epoch transition — the elected set proven in the state at the
//! epoch's last block, which the ending epoch's validators finalized (real simplex
//! certificates, real Jellyfish Merkle proofs).
//!
//! The chain here is four epochs of a state holding only block infos and validator sets, so
//! each epoch's set can differ freely: keys 100-103 (genesis), then 104-107, 108-111, 112-115.
//! Every negative case changes one thing a lying node controls.

mod common;

use common::*;
use commonware_codec::Encode;
use commonware_cryptography::{Hasher, Sha256, Signer as _};
use medchain_api::{EpochTransitionView, HeaderView, ProvenView};
use medchain_client::{LightClient, VerifyError};
use medchain_state::{
    ExecutedBlock, MemoryStore, ProvenValue, StateValue, TreeHasher, key_hash, keys, prove,
    root_at,
    values::{BlockInfo, ValidatorEntry, ValidatorSet},
};
use medchain_types::{Address, Genesis, Hash32, Header, PrivateKey};
use std::collections::BTreeMap;

/// Blocks per epoch.
const LENGTH: u64 = 4;

/// The validator seeds of `epoch`: four new keys each epoch, so no set can pass for another.
fn seeds(epoch: u64) -> Vec<u64> {
    (100 + 4 * epoch..104 + 4 * epoch).collect()
}

fn set_keys(epoch: u64) -> Vec<PrivateKey> {
    // Sorted by public key: the order consensus numbers signers in.
    let mut keys = validator_keys(&seeds(epoch));
    keys.sort_by_key(|key| key.public_key());
    keys
}

/// The genesis of this chain: the test chain's validators (seeds 100-103) with tokens and a
/// four-block epoch.
fn genesis_with_epochs() -> Genesis {
    token_genesis(LENGTH)
}

fn elected(epoch: u64) -> ValidatorSet {
    ValidatorSet {
        epoch,
        validators: set_keys(epoch)
            .iter()
            .map(|key| ValidatorEntry {
                key: Address::from(key.public_key()),
                stake: 10,
                p2p: None,
            })
            .collect(),
    }
}

/// A state whose every block writes its `cfg/block` and whose epoch-`e` last block also writes
/// `vset/<e + 1>` — unless `e` is in `skip`.
struct Chain {
    store: MemoryStore,
}

impl Chain {
    fn new(epochs: u64, skip: &[u64]) -> Self {
        let mut store = MemoryStore::new();
        for height in 0..epochs * LENGTH {
            let mut writes = BTreeMap::new();
            let info = BlockInfo {
                height,
                timestamp_ms: height,
            };
            writes.insert(probe().as_bytes().to_vec(), Some(info.to_bytes()));
            let epoch = height / LENGTH;
            if height % LENGTH == LENGTH - 1 && !skip.contains(&epoch) {
                let set = elected(epoch + 1);
                writes.insert(
                    keys::validator_set(epoch + 1).as_bytes().to_vec(),
                    Some(set.to_bytes()),
                );
            }
            let (root, tree_batch) = jmt::JellyfishMerkleTree::<_, TreeHasher>::new(&store)
                .put_value_set(
                    writes
                        .iter()
                        .map(|(key, value)| (key_hash(key), value.clone())),
                    height,
                )
                .unwrap();
            let block = ExecutedBlock {
                height,
                timestamp_ms: height,
                writes,
                tree_batch,
                state_root: Hash32::from(root.0),
                receipts_root: Hash32::from([0; 32]),
                events: Vec::new(),
                checkpoint_events: Vec::new(),
            };
            store.commit(&block).unwrap();
        }
        Self { store }
    }

    fn header(&self, height: u64) -> Header {
        Header {
            height,
            parent: Sha256::hash(&[&height.to_be_bytes()]),
            timestamp_ms: height,
            proposer: Address::from(set_keys(height / LENGTH)[0].public_key()),
            tx_root: Hash32::from([0; 32]),
            state_root: root_at(&self.store, height).unwrap(),
            receipts_root: Hash32::from([0; 32]),
            revocation_root: Hash32::from([0; 32]),
            med_checkpoint: Hash32::from([0; 32]),
        }
    }

    /// `key` proven at `height`, certified by three of `signers_epoch`'s set in a round of
    /// `round_epoch`.
    fn answer(&self, key: &[u8], height: u64, signers_epoch: u64, round_epoch: u64) -> ProvenView {
        let header = self.header(height);
        let (value, proof) = prove(&self.store, key, height).unwrap();
        let certificate = finalization_in(
            &genesis_with_epochs(),
            round_epoch,
            &set_keys(signers_epoch),
            &[0, 1, 2],
            header.digest(),
        );
        ProvenView {
            value: None,
            proven: ProvenValue {
                height,
                state_root: header.state_root,
                key: key.to_vec(),
                value,
                proof,
            },
            header: HeaderView::from(&header),
            finalization: Some(hex::encode(certificate.encode())),
        }
    }

    /// The transition of `epoch` as an honest node serves it.
    fn transition(&self, epoch: u64) -> EpochTransitionView {
        let boundary = (epoch + 1) * LENGTH - 1;
        EpochTransitionView {
            epoch,
            boundary,
            next_set: self.answer(
                keys::validator_set(epoch + 1).as_bytes(),
                boundary,
                epoch,
                epoch,
            ),
        }
    }
}

fn light() -> LightClient {
    LightClient::new(genesis_with_epochs()).unwrap()
}

/// What the tests read at a height: the block info every block writes.
fn probe() -> keys::StateKey<BlockInfo> {
    keys::block_info()
}

/// The height a verified probe answer shows.
fn probed(light: &LightClient, view: &ProvenView) -> Result<u64, VerifyError> {
    let verified = light.verify_proven(view, &probe())?;
    Ok(verified.value.map_or(u64::MAX, |info| info.height))
}

#[test]
fn three_transitions_let_a_client_verify_headers_of_each_epoch_with_its_own_set() {
    let chain = Chain::new(4, &[]);
    let light = light();
    assert_eq!((light.epoch_of(3), light.epoch_of(4)), (0, 1));
    assert_eq!(light.last_height(1), Some(7));
    for epoch in 0..3 {
        let learned = light.accept_transition(&chain.transition(epoch)).unwrap();
        assert_eq!(learned, elected(epoch + 1));
        assert_eq!(light.known_epoch(), epoch + 1);
    }
    for height in [1, 5, 10, 15] {
        let epoch = height / LENGTH;
        let view = chain.answer(probe().as_bytes(), height, epoch, epoch);
        assert_eq!(probed(&light, &view).unwrap(), height);
    }
    // Learning a transition again changes nothing.
    light.accept_transition(&chain.transition(1)).unwrap();
    assert_eq!(light.known_epoch(), 3);
}

#[test]
fn a_header_of_an_epoch_whose_set_is_not_known_yet_is_refused() {
    let chain = Chain::new(3, &[]);
    let light = light();
    let view = chain.answer(probe().as_bytes(), 5, 1, 1);
    assert!(matches!(
        probed(&light, &view),
        Err(VerifyError::UnknownEpoch { epoch: 1 })
    ));
    // Nor can epoch 2's transition come before epoch 1's.
    assert!(matches!(
        light.accept_transition(&chain.transition(1)),
        Err(VerifyError::UnknownEpoch { epoch: 1 })
    ));
    light.accept_transition(&chain.transition(0)).unwrap();
    assert_eq!(probed(&light, &view).unwrap(), 5);
}

#[test]
fn a_certificate_from_the_previous_set_is_refused() {
    let chain = Chain::new(2, &[]);
    let light = light();
    light.accept_transition(&chain.transition(0)).unwrap();
    // Epoch 0's set signing a height of epoch 1, in epoch 0's rounds: the epoch gives it away.
    let stale = chain.answer(probe().as_bytes(), 5, 0, 0);
    assert!(matches!(
        probed(&light, &stale),
        Err(VerifyError::CertificateEpoch {
            certificate: 0,
            header: 1
        })
    ));
    // The same set claiming epoch 1's round: its keys are not epoch 1's.
    let forged = chain.answer(probe().as_bytes(), 5, 0, 1);
    assert!(matches!(
        probed(&light, &forged),
        Err(VerifyError::BadCertificate | VerifyError::CertificateEncoding(_))
    ));
}

#[test]
fn a_transition_at_the_wrong_height_is_refused() {
    let chain = Chain::new(2, &[]);
    let light = light();
    let early = EpochTransitionView {
        epoch: 0,
        boundary: LENGTH - 1,
        next_set: chain.answer(keys::validator_set(1).as_bytes(), LENGTH - 2, 0, 0),
    };
    assert!(matches!(
        light.accept_transition(&early),
        Err(VerifyError::WrongBoundary {
            epoch: 0,
            expected: 3,
            got: 2
        })
    ));
    // Epoch 1's transition (boundary 7) offered as epoch 0's.
    let mut shifted = chain.transition(1);
    shifted.epoch = 0;
    assert!(matches!(
        light.accept_transition(&shifted),
        Err(VerifyError::WrongBoundary { .. })
    ));
}

#[test]
fn a_transition_proving_another_set_or_none_is_refused() {
    let chain = Chain::new(3, &[]);
    let light = light();
    // The proof of vset/2 (written at height 7) where vset/1 is asked for.
    let mut wrong_key = chain.transition(0);
    wrong_key.next_set = chain.answer(keys::validator_set(2).as_bytes(), LENGTH - 1, 0, 0);
    assert!(matches!(
        light.accept_transition(&wrong_key),
        Err(VerifyError::Proof(_))
    ));
    // A chain whose epoch 0 elected nothing: the set is proven absent.
    let silent = Chain::new(2, &[0]);
    assert!(matches!(
        light.accept_transition(&silent.transition(0)),
        Err(VerifyError::NoNextSet { epoch: 0, .. })
    ));
    // An epoch that never ends has no transition (and the arithmetic does not overflow).
    let mut endless = chain.transition(0);
    endless.epoch = u64::MAX;
    assert!(matches!(
        light.accept_transition(&endless),
        Err(VerifyError::NoNextSet { .. })
    ));
    assert_eq!(light.known_epoch(), 0, "nothing was learned");
}
