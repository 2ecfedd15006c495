//! The genesis document: what every node must agree on before block 1.

use crate::{Address, ChainId, Hash32, PublicKey, limits};
use bytes::BufMut;
use commonware_codec::{EncodeSize, Write};
use commonware_cryptography::{Hasher, Sha256};
use commonware_utils::ordered::Set;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One validator named in genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// Human-readable operator name (e.g. the hospital running it).
    pub name: String,
    /// Consensus and p2p identity.
    pub public_key: Address,
}

/// The chain's genesis: chain id, start time, the regulator (S2-flow step 1: the supervision
/// department deploys the contracts) and the validator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Chain id, part of every signed transaction.
    pub chain_id: ChainId,
    /// Timestamp of block 0, unix milliseconds.
    pub genesis_time_ms: u64,
    /// The regulator's account: the only one allowed to change organisation states (S2-state).
    pub regulator: Address,
    /// Validators (hospitals and the regulator run them; f < n/3 may be Byzantine).
    pub validators: Vec<ValidatorInfo>,
}

/// Why a genesis document is unusable.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// No validators, or more than the limit.
    #[error("genesis must name 1 to {max} validators, it names {0}", max = limits::MAX_VALIDATORS)]
    ValidatorCount(usize),
    /// A key listed twice.
    #[error("validator key {0} is listed twice")]
    DuplicateValidator(Address),
    /// A validator or regulator address that is not an ed25519 public key.
    #[error("{0} is not a valid ed25519 public key")]
    InvalidKey(Address),
}

impl Genesis {
    /// Checks the document is usable.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let count = self.validators.len();
        if count == 0 || count > limits::MAX_VALIDATORS {
            return Err(GenesisError::ValidatorCount(count));
        }
        self.regulator
            .public_key()
            .map_err(|_| GenesisError::InvalidKey(self.regulator))?;
        self.validator_set().map(|_| ())
    }

    /// The validator keys as the sorted set consensus uses (signer indices in certificates
    /// follow this order, so every node and light client must build it the same way).
    pub fn validator_set(&self) -> Result<Set<PublicKey>, GenesisError> {
        let mut keys = BTreeSet::new();
        for validator in &self.validators {
            let key = validator
                .public_key
                .public_key()
                .map_err(|_| GenesisError::InvalidKey(validator.public_key))?;
            if !keys.insert(key) {
                return Err(GenesisError::DuplicateValidator(validator.public_key));
            }
        }
        Ok(Set::from_iter_dedup(keys))
    }

    /// Hash of the canonical encoding; the genesis block's parent, so chains started from
    /// different genesis documents never share a block digest.
    pub fn digest(&self) -> Hash32 {
        let mut buf = Vec::with_capacity(self.encode_size());
        self.write(&mut buf);
        Sha256::hash(&[&buf])
    }

    /// The namespace validators sign consensus votes under: the consensus namespace bound to
    /// this genesis, so a finalization certificate from any other chain — even one run by the
    /// same validator keys — never verifies here.
    pub fn consensus_namespace(&self) -> Vec<u8> {
        commonware_utils::union(crate::namespace::CONSENSUS, self.digest().as_ref())
    }

    /// Validator keys in genesis order.
    pub fn validator_keys(&self) -> Vec<Address> {
        self.validators
            .iter()
            .map(|validator| validator.public_key)
            .collect()
    }
}

impl Write for Genesis {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.genesis_time_ms.write(buf);
        self.regulator.write(buf);
        self.validators.len().write(buf);
        for validator in &self.validators {
            validator.name.as_bytes().write(buf);
            validator.public_key.write(buf);
        }
    }
}

impl EncodeSize for Genesis {
    fn encode_size(&self) -> usize {
        let mut buf = Vec::new();
        self.write(&mut buf);
        buf.len()
    }
}
