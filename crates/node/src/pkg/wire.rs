//! Messages of the DKG channel ([`crate::engine::channel::DKG`]): a dealer's dealing to one
//! player and the player's acknowledgement back. The channel is commonware's authenticated,
//! encrypted p2p, so the sender of a message is the validator it claims to be and a dealing is
//! read only by its player (what the DKG requires of its transport).

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_cryptography::bls12381::{
    dkg::feldman_desmedt::{DealerPrivMsg, DealerPubMsg, PlayerAck},
    primitives::variant::MinPk,
};
use medchain_types::PublicKey;
use std::num::NonZeroU32;

/// A DKG message.
#[derive(Clone)]
pub enum Message {
    /// Dealer → player: the dealer's commitment and the player's private share of it.
    Dealing {
        /// DKG round.
        round: u64,
        /// The dealer's public commitment.
        public: DealerPubMsg<MinPk>,
        /// The player's share (secret: only ever sent to that player).
        private: DealerPrivMsg,
    },
    /// Player → dealer: the player verified its share against the commitment.
    Ack {
        /// DKG round.
        round: u64,
        /// The player's signature over the dealer's commitment.
        ack: PlayerAck<PublicKey>,
    },
}

impl Write for Message {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Dealing {
                round,
                public,
                private,
            } => {
                0u8.write(buf);
                round.write(buf);
                public.write(buf);
                private.write(buf);
            }
            Self::Ack { round, ack } => {
                1u8.write(buf);
                round.write(buf);
                ack.write(buf);
            }
        }
    }
}

impl EncodeSize for Message {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Dealing {
                round,
                public,
                private,
            } => round.encode_size() + public.encode_size() + private.encode_size(),
            Self::Ack { round, ack } => round.encode_size() + ack.encode_size(),
        }
    }
}

impl Read for Message {
    /// Validator count (bounds the commitment's length).
    type Cfg = NonZeroU32;

    fn read_cfg(buf: &mut impl Buf, validators: &NonZeroU32) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::Dealing {
                round: u64::read(buf)?,
                public: DealerPubMsg::read_cfg(buf, validators)?,
                private: DealerPrivMsg::read(buf)?,
            }),
            1 => Ok(Self::Ack {
                round: u64::read(buf)?,
                ack: PlayerAck::read(buf)?,
            }),
            tag => Err(CodecError::InvalidEnum(tag)),
        }
    }
}
