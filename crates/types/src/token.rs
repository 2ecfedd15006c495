//! Token wire types (S1-tokens, S1-utxo): outputs, locks, and the authorisation co-owners sign
//! for a joint payment.
//!
//! An output is created by a transaction and named by an [`OutPoint`] (the creating tx id and
//! the output's index). A transfer spends whole outputs and creates new ones; every input must
//! be unlocked by the signers of the transaction (the sender plus the [`Cosignature`]s it
//! carries). Which signer set unlocks which [`Lock`] is the state machine's rule; this module
//! only carries the values, and their canonical encoding.

use crate::{
    Address, ChainId, EscrowId, ParseIdError, PrivateKey, TxId, limits, namespace, serde_hex,
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, ReadRangeExt, Write,
};
use commonware_cryptography::{Signer, ed25519::Signature};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use std::{fmt, str::FromStr};

/// A reference to one output: the transaction that created it and its position there.
/// Genesis outputs use the genesis digest as their transaction id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutPoint {
    /// The creating transaction.
    pub tx: TxId,
    /// The output's index in that transaction.
    pub index: u16,
}

/// In JSON an output is its text form, `<tx id hex>:<index>`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for OutPoint {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An output: `<creating tx id hex>:<index>`"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for OutPoint {}

impl Write for OutPoint {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        self.index.write(buf);
    }
}

impl FixedSize for OutPoint {
    const SIZE: usize = TxId::SIZE + u16::SIZE;
}

impl Read for OutPoint {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            tx: TxId::read(buf)?,
            index: u16::read(buf)?,
        })
    }
}

impl fmt::Display for OutPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tx, self.index)
    }
}

impl fmt::Debug for OutPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutPoint({self})")
    }
}

/// Why text is not an [`OutPoint`].
#[derive(Debug, thiserror::Error)]
pub enum ParseOutPointError {
    /// No `:` between the transaction id and the index.
    #[error("an output is written <tx id>:<index>, got {0:?}")]
    Shape(String),
    /// The transaction id is not 64 hex characters.
    #[error("bad transaction id in output: {0}")]
    TxId(#[from] ParseIdError),
    /// The index is not a number from 0 to 65535.
    #[error("output index must be a number from 0 to 65535, got {0:?}")]
    Index(String),
}

impl FromStr for OutPoint {
    type Err = ParseOutPointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tx, index) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| ParseOutPointError::Shape(s.chars().take(80).collect()))?;
        Ok(Self {
            tx: tx.parse()?,
            index: index
                .parse()
                .map_err(|_| ParseOutPointError::Index(index.chars().take(8).collect()))?,
        })
    }
}

impl Serialize for OutPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OutPoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// Who may spend an output.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Lock {
    /// The holder of this key.
    Key(Address),
    /// Any `threshold` of these keys (1 to [`limits::MAX_MULTISIG_KEYS`], distinct).
    Multi {
        /// Signatures needed.
        threshold: u8,
        /// The keys.
        keys: Vec<Address>,
    },
    /// Only the rules of this contract (an escrow) release it; no signature does.
    Escrow(EscrowId),
}

impl Write for Lock {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Key(address) => {
                0u8.write(buf);
                address.write(buf);
            }
            Self::Multi { threshold, keys } => {
                1u8.write(buf);
                threshold.write(buf);
                keys.write(buf);
            }
            Self::Escrow(escrow) => {
                2u8.write(buf);
                escrow.write(buf);
            }
        }
    }
}

impl EncodeSize for Lock {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Key(_) => Address::SIZE,
            Self::Multi { keys, .. } => u8::SIZE + keys.encode_size(),
            Self::Escrow(_) => EscrowId::SIZE,
        }
    }
}

impl Read for Lock {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::Key(Address::read(buf)?)),
            1 => Ok(Self::Multi {
                threshold: u8::read(buf)?,
                keys: Vec::<Address>::read_range(buf, 1..=limits::MAX_MULTISIG_KEYS)?,
            }),
            2 => Ok(Self::Escrow(EscrowId::read(buf)?)),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// From when an output may be spent: a block height, or a block time (unix milliseconds).
/// The output is spendable in a block at or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LockTime {
    /// Spendable in blocks of this height and above.
    Height(u64),
    /// Spendable in blocks whose timestamp is this or later.
    TimeMs(u64),
}

impl LockTime {
    /// Whether a block at `height` with timestamp `timestamp_ms` has reached it.
    pub fn reached(&self, height: u64, timestamp_ms: u64) -> bool {
        match *self {
            Self::Height(at) => height >= at,
            Self::TimeMs(at) => timestamp_ms >= at,
        }
    }
}

impl Write for LockTime {
    fn write(&self, buf: &mut impl BufMut) {
        let (tag, value) = match self {
            Self::Height(height) => (0u8, height),
            Self::TimeMs(millis) => (1u8, millis),
        };
        tag.write(buf);
        value.write(buf);
    }
}

impl FixedSize for LockTime {
    const SIZE: usize = 1 + u64::SIZE;
}

impl Read for LockTime {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::Height(u64::read(buf)?)),
            1 => Ok(Self::TimeMs(u64::read(buf)?)),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// Where a transfer output goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Payee {
    /// A new output under `lock`, spendable from `unlock` on (at once when absent).
    Output {
        /// Who may spend it.
        lock: Lock,
        /// From when.
        unlock: Option<LockTime>,
    },
    /// A credit to an account balance, the balance every transaction's fee is paid from.
    Balance(Address),
}

impl Write for Payee {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Output { lock, unlock } => {
                0u8.write(buf);
                lock.write(buf);
                unlock.write(buf);
            }
            Self::Balance(address) => {
                1u8.write(buf);
                address.write(buf);
            }
        }
    }
}

impl EncodeSize for Payee {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Output { lock, unlock } => lock.encode_size() + unlock.encode_size(),
            Self::Balance(_) => Address::SIZE,
        }
    }
}

impl Read for Payee {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::Output {
                lock: Lock::read(buf)?,
                unlock: Option::<LockTime>::read(buf)?,
            }),
            1 => Ok(Self::Balance(Address::read(buf)?)),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// One output of a transfer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxOutput {
    /// Amount, in the chain's smallest token unit.
    pub value: u64,
    /// Where it goes.
    pub to: Payee,
}

impl TxOutput {
    /// A plain output spendable at once by `owner`.
    pub fn to_key(value: u64, owner: Address) -> Self {
        Self {
            value,
            to: Payee::Output {
                lock: Lock::Key(owner),
                unlock: None,
            },
        }
    }
}

impl Write for TxOutput {
    fn write(&self, buf: &mut impl BufMut) {
        self.value.write(buf);
        self.to.write(buf);
    }
}

impl EncodeSize for TxOutput {
    fn encode_size(&self) -> usize {
        u64::SIZE + self.to.encode_size()
    }
}

impl Read for TxOutput {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            value: u64::read(buf)?,
            to: Payee::read(buf)?,
        })
    }
}

/// A co-owner's signature over a transfer's [`TransferAuthorization`] (a joint payment: every
/// input's owner signs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cosignature {
    /// The co-signing key.
    pub signer: Address,
    /// Its signature under [`namespace::TOKEN_COSIGN`].
    #[serde(with = "serde_hex")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub signature: Signature,
}

impl Write for Cosignature {
    fn write(&self, buf: &mut impl BufMut) {
        self.signer.write(buf);
        self.signature.write(buf);
    }
}

impl FixedSize for Cosignature {
    const SIZE: usize = Address::SIZE + Signature::SIZE;
}

impl Read for Cosignature {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            signer: Address::read(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}

/// What a co-owner signs to join a transfer: everything the transfer does, bound to the
/// sender's transaction (chain, sender, nonce, fee, deadline), so the cosignature authorises
/// exactly one transaction, cannot be moved to another, and dies with the transaction's
/// deadline (the sender cannot hold a cosigned payment and submit it much later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferAuthorization {
    /// Chain the transfer is for.
    pub chain_id: ChainId,
    /// The transaction's sender.
    pub sender: Address,
    /// The sender's nonce for it.
    pub nonce: u64,
    /// Its fee.
    pub fee: u64,
    /// Its deadline (`valid_until_ms` of the transaction's body).
    pub valid_until_ms: u64,
    /// The outputs spent.
    pub inputs: Vec<OutPoint>,
    /// The amount taken from the sender's balance.
    pub from_balance: u64,
    /// The outputs created.
    pub outputs: Vec<TxOutput>,
}

impl TransferAuthorization {
    /// A co-owner signs.
    pub fn sign(&self, key: &PrivateKey) -> Cosignature {
        Cosignature {
            signer: Address::from(key.public_key()),
            signature: key.sign(
                namespace::TOKEN_COSIGN,
                &commonware_codec::Encode::encode(self),
            ),
        }
    }
}

impl Write for TransferAuthorization {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.sender.write(buf);
        self.nonce.write(buf);
        self.fee.write(buf);
        self.valid_until_ms.write(buf);
        self.inputs.write(buf);
        self.from_balance.write(buf);
        self.outputs.write(buf);
    }
}

impl EncodeSize for TransferAuthorization {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size()
            + Address::SIZE
            + 4 * u64::SIZE
            + self.inputs.encode_size()
            + self.outputs.encode_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::address;
    use commonware_codec::{DecodeExt, Encode};

    #[test]
    fn outpoints_round_trip_as_text_json_and_bytes() {
        let point = OutPoint {
            tx: TxId::of_encoded(b"tx"),
            index: 65_535,
        };
        assert_eq!(point.to_string().parse::<OutPoint>().unwrap(), point);
        let json = serde_json::to_string(&point).unwrap();
        assert_eq!(json, format!("\"{}:65535\"", point.tx));
        assert_eq!(serde_json::from_str::<OutPoint>(&json).unwrap(), point);
        assert_eq!(OutPoint::decode(point.encode()).unwrap(), point);
        for bad in [
            "no-colon".to_string(),
            format!("{}:65536", point.tx),
            format!("{}:-1", point.tx),
            "abcd:0".to_string(),
        ] {
            assert!(bad.parse::<OutPoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn locks_and_payees_round_trip_and_bound_multisig_keys() {
        let payees = [
            Payee::Output {
                lock: Lock::Key(address(1)),
                unlock: None,
            },
            Payee::Output {
                lock: Lock::Multi {
                    threshold: 2,
                    keys: vec![address(1), address(2), address(3)],
                },
                unlock: Some(LockTime::Height(9)),
            },
            Payee::Output {
                lock: Lock::Escrow(EscrowId(TxId::of_encoded(b"open").0)),
                unlock: Some(LockTime::TimeMs(1_800_000_000_000)),
            },
            Payee::Balance(address(4)),
        ];
        for payee in payees {
            let output = TxOutput {
                value: 7,
                to: payee,
            };
            let bytes = output.encode();
            assert_eq!(bytes.len(), output.encode_size());
            assert_eq!(TxOutput::decode(bytes).unwrap(), output);
            let json = serde_json::to_string(&output).unwrap();
            assert_eq!(serde_json::from_str::<TxOutput>(&json).unwrap(), output);
        }
        let multi = |count: u64| Lock::Multi {
            threshold: 1,
            keys: (0..count).map(address).collect(),
        };
        assert!(Lock::decode(multi(limits::MAX_MULTISIG_KEYS as u64).encode()).is_ok());
        assert!(Lock::decode(multi(limits::MAX_MULTISIG_KEYS as u64 + 1).encode()).is_err());
        assert!(Lock::decode(multi(0).encode()).is_err());
        assert!(matches!(
            Lock::decode(vec![3u8]),
            Err(CodecError::InvalidEnum(3))
        ));
    }

    #[test]
    fn lock_times_are_reached_at_their_bound() {
        assert!(!LockTime::Height(10).reached(9, u64::MAX));
        assert!(LockTime::Height(10).reached(10, 0));
        assert!(!LockTime::TimeMs(500).reached(u64::MAX, 499));
        assert!(LockTime::TimeMs(500).reached(0, 500));
    }
}
