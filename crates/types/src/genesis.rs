//! The genesis document: what every node must agree on before block 1.

use crate::{Address, ChainId, ConsentPayload, Hash32, Payload, PublicKey, limits};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{Hasher, Sha256};
use commonware_utils::ordered::Set;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, num::NonZeroU64};

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
    /// The token economy (S1-tokens, S1-dpos). Absent: every transaction is free, there are no
    /// rewards, and the genesis validators stay the validator set for good (one epoch). It is
    /// absent from the JSON and from the digest when absent, so chains created before tokens
    /// keep their genesis digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenGenesis>,
    /// The MED proof-of-work chain (S3-dual). Absent: no MED chain, and SUP blocks checkpoint
    /// nothing; absent from the JSON and the digest then, like `tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<crate::med::MedParams>,
}

/// The token economy's parameters and the initial supply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGenesis {
    /// What a transaction must pay.
    pub fees: FeeSchedule,
    /// Tokens minted for each block's proposer, until `max_supply` is reached.
    pub block_reward: u64,
    /// The most tokens that may ever exist (genesis allocations plus minted, less burned).
    pub max_supply: u64,
    /// The proposer's share of its block's fees, in basis points; the rest goes to the epoch's
    /// fee pool, shared by the epoch's validators at its end.
    pub proposer_share_bps: u16,
    /// What an access under consent pays the patient when the consent names no reward.
    pub access_reward_default: u64,
    /// Delegated proof of stake.
    pub staking: StakingParams,
    /// The initial supply.
    pub allocations: Vec<Allocation>,
}

/// The minimum fee: `base + per_byte × encoded transaction size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSchedule {
    /// Paid by every transaction.
    pub base: u64,
    /// Paid per byte of the encoded signed transaction.
    pub per_byte: u64,
}

impl FeeSchedule {
    /// Nothing to pay (a chain without tokens).
    pub const FREE: Self = Self {
        base: 0,
        per_byte: 0,
    };

    /// The least fee a transaction of `encoded_len` bytes may name; saturates instead of
    /// overflowing, so an absurd schedule makes every transaction unaffordable, never free.
    pub fn min_fee(&self, encoded_len: usize) -> u64 {
        let len = u64::try_from(encoded_len).unwrap_or(u64::MAX);
        self.base.saturating_add(self.per_byte.saturating_mul(len))
    }

    /// The least fee a transaction carrying `payload`, `encoded_len` bytes signed, may name:
    /// [`Self::min_fee`], except that withdrawing a consent is free. A patient must be able to
    /// stop a grantee's access (S1-rights) without holding tokens; this opens no free flood,
    /// because each revoke needs a live consent of its sender (each one a paid grant) and a
    /// consent is revoked at most once.
    pub fn min_fee_for(&self, payload: &Payload, encoded_len: usize) -> u64 {
        match payload {
            Payload::Consent(ConsentPayload::Revoke { .. }) => 0,
            _ => self.min_fee(encoded_len),
        }
    }
}

/// Delegated proof of stake (S1-dpos).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakingParams {
    /// Blocks per epoch; the validator set for epoch e+1 is elected at epoch e's last block.
    pub epoch_length: u64,
    /// At most this many candidates are elected.
    pub max_validators: u16,
    /// If fewer candidates qualify, the current set stays (a liveness guard).
    pub min_validators: u16,
    /// The least bonded stake a candidate needs to be elected; at least 1 (a candidate with
    /// nothing bonded would risk nothing by equivocating).
    pub min_stake: u64,
    /// Epochs an undelegation waits before it can be withdrawn (and stays slashable).
    pub unbonding_epochs: u64,
    /// The share of a candidate's pools burned when it is convicted of equivocation, in basis
    /// points.
    pub slash_bps: u16,
}

/// Tokens an address holds at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The holder.
    pub address: Address,
    /// Its account balance (fees are paid from it).
    pub balance: u64,
    /// Outputs locked to its key, one per value.
    #[serde(default)]
    pub outputs: Vec<u64>,
    /// Self-bonded stake; only a genesis validator may have some.
    #[serde(default)]
    pub stake: u64,
}

impl Allocation {
    /// Everything allocated to the holder, or `None` if the sum overflows.
    pub fn total(&self) -> Option<u64> {
        self.outputs
            .iter()
            .try_fold(self.balance.checked_add(self.stake)?, |sum, value| {
                sum.checked_add(*value)
            })
    }
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
    /// The allocations add up to more than the maximum supply (or overflow).
    #[error("the genesis allocations add up to more than the maximum supply of {max_supply}")]
    SupplyOverflow {
        /// The cap.
        max_supply: u64,
    },
    /// Stake allocated to an address that is not a genesis validator.
    #[error(
        "{0} is allocated stake but is not a genesis validator; only validators self-bond at genesis"
    )]
    StakeToNonValidator(Address),
    /// An address allocated twice.
    #[error("{0} has two allocations; merge them")]
    DuplicateAllocation(Address),
    /// Epochs shorter than two blocks leave no room for a block after the election.
    #[error("the epoch length must be at least 2 blocks, it is {0}")]
    EpochTooShort(u64),
    /// The MED chain's parameters are unusable.
    #[error("MED parameters: {0}")]
    Med(#[from] crate::med::MedParamsError),
    /// A token parameter out of range.
    #[error("token parameter {name} {problem}")]
    TokenParameter {
        /// Which parameter.
        name: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
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
        self.validator_set()?;
        if let Some(med) = &self.med {
            med.validate()?;
        }
        match &self.tokens {
            Some(tokens) => tokens.validate(&self.validator_keys()),
            None => Ok(()),
        }
    }

    /// Blocks per epoch: the staking parameter, or "never" for a chain without tokens.
    pub fn epoch_length(&self) -> NonZeroU64 {
        self.tokens
            .as_ref()
            .and_then(|tokens| NonZeroU64::new(tokens.staking.epoch_length))
            .unwrap_or(NonZeroU64::MAX)
    }

    /// The fee schedule: free for a chain without tokens.
    pub fn fee_schedule(&self) -> FeeSchedule {
        self.tokens
            .as_ref()
            .map_or(FeeSchedule::FREE, |tokens| tokens.fees)
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

impl TokenGenesis {
    /// Checks the parameters and that the allocations fit under the supply cap.
    fn validate(&self, validators: &[Address]) -> Result<(), GenesisError> {
        let staking = &self.staking;
        if staking.epoch_length < 2 {
            return Err(GenesisError::EpochTooShort(staking.epoch_length));
        }
        let parameter = |name, problem| Err(GenesisError::TokenParameter { name, problem });
        if self.proposer_share_bps > 10_000 {
            return parameter("proposer_share_bps", "must be at most 10000");
        }
        if staking.slash_bps > 10_000 {
            return parameter("staking.slash_bps", "must be at most 10000");
        }
        if staking.min_validators == 0 || staking.min_validators > staking.max_validators {
            return parameter(
                "staking.min_validators",
                "must be at least 1 and at most max_validators",
            );
        }
        if staking.min_stake == 0 {
            // An empty pool has nothing to slash: a candidate elected on no stake risks nothing
            // by equivocating.
            return parameter("staking.min_stake", "must be at least 1");
        }
        if usize::from(staking.max_validators) > limits::MAX_VALIDATORS {
            return parameter(
                "staking.max_validators",
                "exceeds the validator limit (128)",
            );
        }
        let outputs: usize = self.allocations.iter().map(|a| a.outputs.len()).sum();
        if outputs > usize::from(u16::MAX) + 1 {
            // Genesis outputs share one transaction id (the genesis digest) and a u16 index.
            return parameter("allocations.outputs", "exceed 65536 outputs in all");
        }
        if self.allocations.iter().any(|a| a.outputs.contains(&0)) {
            return parameter("allocations.outputs", "must each hold a positive value");
        }
        let mut seen = BTreeSet::new();
        let mut supply = 0u64;
        for allocation in &self.allocations {
            let address = allocation.address;
            address
                .public_key()
                .map_err(|_| GenesisError::InvalidKey(address))?;
            if !seen.insert(address) {
                return Err(GenesisError::DuplicateAllocation(address));
            }
            if allocation.stake > 0 && !validators.contains(&address) {
                return Err(GenesisError::StakeToNonValidator(address));
            }
            supply = allocation
                .total()
                .and_then(|total| supply.checked_add(total))
                .filter(|supply| *supply <= self.max_supply)
                .ok_or(GenesisError::SupplyOverflow {
                    max_supply: self.max_supply,
                })?;
        }
        Ok(())
    }

    /// Everything allocated at genesis (validated not to overflow).
    pub fn initial_supply(&self) -> u64 {
        self.allocations
            .iter()
            .filter_map(Allocation::total)
            .fold(0u64, u64::saturating_add)
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
        // Nothing is written without tokens: the digest of a tokenless genesis is the one it
        // had before tokens existed.
        if let Some(tokens) = &self.tokens {
            tokens.write(buf);
        }
        // Tagged, so a digest with MED parameters can never equal one with other tokens.
        if let Some(med) = &self.med {
            b"med".write(buf);
            med.write(buf);
        }
    }
}

impl Write for FeeSchedule {
    fn write(&self, buf: &mut impl BufMut) {
        self.base.write(buf);
        self.per_byte.write(buf);
    }
}

impl FixedSize for FeeSchedule {
    const SIZE: usize = 2 * u64::SIZE;
}

impl Read for FeeSchedule {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            base: u64::read(buf)?,
            per_byte: u64::read(buf)?,
        })
    }
}

impl Write for StakingParams {
    fn write(&self, buf: &mut impl BufMut) {
        self.epoch_length.write(buf);
        self.max_validators.write(buf);
        self.min_validators.write(buf);
        self.min_stake.write(buf);
        self.unbonding_epochs.write(buf);
        self.slash_bps.write(buf);
    }
}

impl FixedSize for StakingParams {
    const SIZE: usize = 3 * u64::SIZE + 3 * u16::SIZE;
}

impl Read for StakingParams {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            epoch_length: u64::read(buf)?,
            max_validators: u16::read(buf)?,
            min_validators: u16::read(buf)?,
            min_stake: u64::read(buf)?,
            unbonding_epochs: u64::read(buf)?,
            slash_bps: u16::read(buf)?,
        })
    }
}

impl Write for TokenGenesis {
    fn write(&self, buf: &mut impl BufMut) {
        self.fees.write(buf);
        self.block_reward.write(buf);
        self.max_supply.write(buf);
        self.proposer_share_bps.write(buf);
        self.access_reward_default.write(buf);
        self.staking.write(buf);
        self.allocations.len().write(buf);
        for allocation in &self.allocations {
            allocation.address.write(buf);
            allocation.balance.write(buf);
            allocation.outputs.write(buf);
            allocation.stake.write(buf);
        }
    }
}

impl EncodeSize for TokenGenesis {
    fn encode_size(&self) -> usize {
        let mut buf = Vec::new();
        self.write(&mut buf);
        buf.len()
    }
}

impl EncodeSize for Genesis {
    fn encode_size(&self) -> usize {
        let mut buf = Vec::new();
        self.write(&mut buf);
        buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{address, chain};

    /// A genesis with hand-made addresses, so its encoding can be computed independently.
    fn pinned() -> Genesis {
        Genesis {
            chain_id: ChainId::new("medchain-pinned").unwrap(),
            genesis_time_ms: 1_700_000_000_000,
            regulator: Address::from_bytes([0xaa; 32]),
            validators: vec![
                ValidatorInfo {
                    name: "Seoul General".into(),
                    public_key: Address::from_bytes([0x01; 32]),
                },
                ValidatorInfo {
                    name: "Busan Clinic".into(),
                    public_key: Address::from_bytes([0x02; 32]),
                },
            ],
            tokens: None,
            med: None,
        }
    }

    fn with_tokens() -> Genesis {
        Genesis {
            chain_id: chain(),
            genesis_time_ms: 0,
            regulator: address(1),
            validators: vec![ValidatorInfo {
                name: "v".into(),
                public_key: address(2),
            }],
            tokens: Some(TokenGenesis {
                fees: FeeSchedule {
                    base: 10,
                    per_byte: 1,
                },
                block_reward: 5,
                max_supply: 1_000,
                proposer_share_bps: 5_000,
                access_reward_default: 3,
                staking: StakingParams {
                    epoch_length: 10,
                    max_validators: 4,
                    min_validators: 1,
                    min_stake: 1,
                    unbonding_epochs: 2,
                    slash_bps: 1_000,
                },
                allocations: vec![
                    Allocation {
                        address: address(2),
                        balance: 100,
                        outputs: vec![50, 50],
                        stake: 100,
                    },
                    Allocation {
                        address: address(3),
                        balance: 100,
                        outputs: vec![],
                        stake: 0,
                    },
                ],
            }),
            med: None,
        }
    }

    #[test]
    fn unusable_med_parameters_make_the_genesis_unusable() {
        let mut genesis = with_tokens();
        genesis.med = Some(crate::med::MedParams {
            target_interval_ms: 3_000,
            initial_difficulty: 20_000,
            min_difficulty: 1_000,
            retarget_window: 16,
        });
        genesis.validate().unwrap();
        if let Some(med) = &mut genesis.med {
            med.retarget_window = 0;
        }
        assert!(matches!(
            genesis.validate(),
            Err(GenesisError::Med(
                crate::med::MedParamsError::RetargetWindow(0)
            ))
        ));
    }

    /// The digest of a genesis without tokens is what it was before tokens existed: SHA-256 of
    /// (chain id, time, regulator, validators), computed here by hand from the wire rules
    /// (varint lengths, big-endian integers).
    #[test]
    fn a_tokenless_genesis_keeps_its_digest() {
        assert_eq!(
            pinned().digest().to_string(),
            "6137dd474190fcab6d4549ba6e49cc108c53f9b820b74f038c3332c25baebfae"
        );
        let mut tokenless = with_tokens();
        tokenless.tokens = None;
        let json = serde_json::to_value(&tokenless).unwrap();
        assert!(json.get("tokens").is_none(), "no tokens key: {json}");
        // A genesis.json written before tokens parses, with none.
        let parsed: Genesis = serde_json::from_value(json).unwrap();
        assert_eq!(parsed, tokenless);
        assert_eq!(parsed.fee_schedule(), FeeSchedule::FREE);
        assert_eq!(parsed.epoch_length(), NonZeroU64::MAX);
    }

    #[test]
    fn tokens_change_the_digest_and_round_trip_through_json() {
        let genesis = with_tokens();
        genesis.validate().unwrap();
        let mut without = genesis.clone();
        without.tokens = None;
        assert_ne!(genesis.digest(), without.digest());
        let mut cheaper = genesis.clone();
        cheaper.tokens.as_mut().unwrap().fees.base = 9;
        assert_ne!(genesis.digest(), cheaper.digest());
        let json = serde_json::to_string(&genesis).unwrap();
        assert_eq!(serde_json::from_str::<Genesis>(&json).unwrap(), genesis);
        assert_eq!(genesis.epoch_length().get(), 10);
        assert_eq!(genesis.fee_schedule().min_fee(100), 110);
        assert_eq!(genesis.tokens.unwrap().initial_supply(), 400);
    }

    #[test]
    fn fees_saturate_instead_of_overflowing() {
        let schedule = FeeSchedule {
            base: 1,
            per_byte: u64::MAX,
        };
        assert_eq!(schedule.min_fee(2), u64::MAX);
        assert_eq!(FeeSchedule::FREE.min_fee(4096), 0);
    }

    #[test]
    fn withdrawing_a_consent_is_free_and_everything_else_pays_by_size() {
        let schedule = FeeSchedule {
            base: 10,
            per_byte: 1,
        };
        let revoke = Payload::Consent(ConsentPayload::Revoke {
            consent: crate::ConsentId(Hash32::from([3; 32])),
        });
        assert_eq!(schedule.min_fee_for(&revoke, 200), 0);
        for payload in crate::fixtures::payloads() {
            if payload.kind() != "consent.revoke" {
                assert_eq!(
                    schedule.min_fee_for(&payload, 200),
                    210,
                    "{}",
                    payload.kind()
                );
            }
        }
    }

    #[test]
    fn unusable_token_parameters_are_refused() {
        let refused = |change: fn(&mut TokenGenesis)| {
            let mut genesis = with_tokens();
            change(genesis.tokens.as_mut().unwrap());
            genesis.validate().unwrap_err()
        };
        assert!(matches!(
            refused(|t| t.max_supply = 399),
            GenesisError::SupplyOverflow { max_supply: 399 }
        ));
        assert!(matches!(
            refused(|t| t.allocations[1].outputs = vec![u64::MAX]),
            GenesisError::SupplyOverflow { .. }
        ));
        assert!(matches!(
            refused(|t| t.allocations[1].stake = 1),
            GenesisError::StakeToNonValidator(a) if a == address(3)
        ));
        assert!(matches!(
            refused(|t| t.staking.epoch_length = 1),
            GenesisError::EpochTooShort(1)
        ));
        assert!(matches!(
            refused(|t| t.allocations[1].address = t.allocations[0].address),
            GenesisError::DuplicateAllocation(_)
        ));
        assert!(matches!(
            refused(|t| t.allocations[1].address = Address::from_bytes([2; 32])),
            GenesisError::InvalidKey(_)
        ));
        for change in [
            (|t: &mut TokenGenesis| t.proposer_share_bps = 10_001) as fn(&mut TokenGenesis),
            |t| t.staking.slash_bps = 10_001,
            |t| t.staking.min_validators = 0,
            |t| t.staking.min_validators = 5,
            |t| t.staking.max_validators = 129,
            |t| t.staking.min_stake = 0,
            |t| t.allocations[1].outputs = vec![0],
        ] {
            assert!(matches!(
                refused(change),
                GenesisError::TokenParameter { .. }
            ));
        }
    }
}
