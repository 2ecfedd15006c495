//! Fixtures shared by this crate's integration tests: a four-validator genesis matching the
//! state testkit's chain, real simplex finalization certificates, and proven state reads.

#![allow(dead_code)]

use commonware_codec::Encode;
use commonware_consensus::{
    simplex::types::{Finalization, Finalize, Proposal},
    types::{Epoch, Round, View},
};
use commonware_cryptography::{Hasher, Sha256, Signer as _};
use commonware_parallel::Sequential;
use commonware_utils::{TryCollect, iter::NonEmpty, ordered::Set};
use medchain_api::{HeaderView, ProvenView};
use medchain_client::ConsensusScheme;
use medchain_state::{
    ProvenValue, prove,
    testkit::{self, GENESIS_TIME_MS, REGULATOR_SEED, World, address, chain_id},
};
use medchain_types::{
    Address, Genesis, Hash32, Header, PrivateKey, PublicKey, TxId, ValidatorInfo, tx_root,
};

pub const VALIDATOR_SEEDS: [u64; 4] = [100, 101, 102, 103];

pub fn validator_keys(seeds: &[u64]) -> Vec<PrivateKey> {
    seeds
        .iter()
        .map(|seed| PrivateKey::from_seed(*seed))
        .collect()
}

/// The testkit's chain (same id, time and regulator, so the same genesis state) with four
/// validators.
pub fn genesis() -> Genesis {
    Genesis {
        chain_id: chain_id(),
        genesis_time_ms: GENESIS_TIME_MS,
        regulator: address(REGULATOR_SEED),
        validators: validator_keys(&VALIDATOR_SEEDS)
            .iter()
            .enumerate()
            .map(|(i, key)| ValidatorInfo {
                name: format!("node-{i}"),
                public_key: Address::from(key.public_key()),
            })
            .collect(),
        tokens: None,
        med: None,
    }
}

/// [`genesis`] with the state testkit's token economy (its fees, supply and allocations) and
/// epochs of `epoch_length` blocks.
pub fn token_genesis(epoch_length: u64) -> Genesis {
    let mut tokens = testkit::token_genesis()
        .tokens
        .expect("the testkit's token genesis has tokens");
    tokens.staking.epoch_length = epoch_length;
    Genesis {
        tokens: Some(tokens),
        med: None,
        ..genesis()
    }
}

pub fn participants(keys: &[PrivateKey]) -> Set<PublicKey> {
    keys.iter()
        .map(|key| key.public_key())
        .try_collect()
        .unwrap()
}

/// A finalization of `digest` by `signers` (a subset of `set`), assembled as simplex does.
pub fn finalization(
    set: &[PrivateKey],
    signers: &[usize],
    digest: Hash32,
) -> Finalization<ConsensusScheme, Hash32> {
    finalization_in(&genesis(), 0, set, signers, digest)
}

/// A finalization of `digest` by `signers` (a subset of `set`) in a round of `epoch` of the
/// chain of `genesis`.
pub fn finalization_in(
    genesis: &Genesis,
    epoch: u64,
    set: &[PrivateKey],
    signers: &[usize],
    digest: Hash32,
) -> Finalization<ConsensusScheme, Hash32> {
    let participants = participants(set);
    let proposal = Proposal::new(
        Round::new(Epoch::new(epoch), View::new(9)),
        View::new(8),
        digest,
    );
    let schemes: Vec<ConsensusScheme> = signers
        .iter()
        .map(|&i| {
            ConsensusScheme::signer(
                &genesis.consensus_namespace(),
                participants.clone(),
                set[i].clone(),
            )
            .unwrap()
        })
        .collect();
    let votes: Vec<Finalize<ConsensusScheme, Hash32>> = schemes
        .iter()
        .map(|scheme| Finalize::sign(scheme, proposal.clone()).unwrap())
        .collect();
    Finalization::from_finalizes(
        &schemes[0],
        NonEmpty::try_new(votes.iter()).unwrap(),
        &Sequential,
    )
    .unwrap()
}

pub fn cert_hex(finalization: &Finalization<ConsensusScheme, Hash32>) -> Option<String> {
    Some(hex::encode(finalization.encode()))
}

/// A certificate over `header` by `signers` of the [`VALIDATOR_SEEDS`] validators, as a node
/// serves it.
pub fn certified_by(signers: &[usize], header: &Header) -> Option<String> {
    cert_hex(&finalization(
        &validator_keys(&VALIDATOR_SEEDS),
        signers,
        header.digest(),
    ))
}

/// What a node serves for `key` at the world's latest height, certified by validators 0, 1, 2.
pub fn certified_view(world: &World, key: &[u8]) -> ProvenView {
    let header = header_at(world);
    ProvenView {
        value: None,
        proven: proven(world, key),
        header: HeaderView::from(&header),
        finalization: certified_by(&[0, 1, 2], &header),
    }
}

/// A header over the world's latest state carrying `tx_ids`.
pub fn header_with(world: &World, tx_ids: &[TxId]) -> Header {
    Header {
        height: world.height(),
        parent: Sha256::hash(&[b"parent"]),
        timestamp_ms: world.timestamp_ms(),
        proposer: Address::from(validator_keys(&VALIDATOR_SEEDS)[0].public_key()),
        tx_root: tx_root(tx_ids),
        state_root: world.root(),
        receipts_root: Hash32::from([0; 32]),
        revocation_root: Hash32::from([0; 32]),
        med_checkpoint: Hash32::from([0; 32]),
    }
}

pub fn proven(world: &World, key: &[u8]) -> ProvenValue {
    let height = world.height();
    let (value, proof) = prove(&world.store, key, height).unwrap();
    ProvenValue {
        height,
        state_root: world.root(),
        key: key.to_vec(),
        value,
        proof,
    }
}

pub fn header_at(world: &World) -> Header {
    header_with(world, &[])
}
