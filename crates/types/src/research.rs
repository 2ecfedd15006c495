//! Research market wire types (S4-flow, S4-exclusive): study contracts, hospital-attested
//! record commitments, zero-knowledge enrolments and the proxies' re-encryption log.
//!
//! Zero-knowledge values (verifying keys, predicates, proofs) and Umbral keys travel as opaque
//! [`ZkBytes`]: this crate only bounds their length, so a transaction carrying them stays within
//! [`limits::MAX_TX_BYTES`]; the state machine decodes and checks them where it uses them.

use crate::{Address, ContentHash, Hash32, Purpose, RecordId, Uri, limits, serde_hex};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadRangeExt, Write};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use sha2::{Digest, Sha256};
use std::{fmt, ops::RangeInclusive};

pub use crate::ids::{EnrolmentId, StudyId};

/// Domain of [`enrolment_binding`].
pub const ENROLMENT_BINDING_DOMAIN: &[u8] = b"_MEDCHAIN_ENROLMENT_BINDING_V1";

/// Opaque zero-knowledge or Umbral bytes (hex in JSON), length-bounded per field when decoded.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = "hex"))]
pub struct ZkBytes(pub Vec<u8>);

impl ZkBytes {
    /// Longest value any field accepts.
    pub const MAX_LEN: usize = limits::MAX_PREDICATE_BYTES;

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for ZkBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for ZkBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZkBytes({} bytes)", self.0.len())
    }
}

impl Write for ZkBytes {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for ZkBytes {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

/// Decoded with the field's accepted length range.
impl Read for ZkBytes {
    type Cfg = RangeInclusive<usize>;
    fn read_cfg(buf: &mut impl Buf, range: &Self::Cfg) -> Result<Self, CodecError> {
        Vec::<u8>::read_range(buf, range.clone()).map(Self)
    }
}

impl Serialize for ZkBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for ZkBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        zk_bytes_within::<1, { ZkBytes::MAX_LEN }, D>(d)
    }
}

/// Accepted lengths of each [`ZkBytes`] field, shared by the codec and JSON.
mod field {
    use super::*;
    pub const VERIFYING_KEY: RangeInclusive<usize> = 1..=limits::MAX_VERIFYING_KEY_BYTES;
    pub const PREDICATE: RangeInclusive<usize> = 1..=limits::MAX_PREDICATE_BYTES;
    pub const PROOF: RangeInclusive<usize> = limits::ZK_PROOF_BYTES..=limits::ZK_PROOF_BYTES;
    pub const UMBRAL_KEY: RangeInclusive<usize> =
        limits::UMBRAL_PUBLIC_KEY_BYTES..=limits::UMBRAL_PUBLIC_KEY_BYTES;
    pub const SCHEMA: RangeInclusive<usize> = 1..=limits::MAX_SCHEMA_ID_BYTES;
    pub const TITLE: RangeInclusive<usize> = 1..=limits::MAX_STUDY_TITLE_BYTES;
    pub const PROXIES: RangeInclusive<usize> = 1..=limits::MAX_STUDY_PROXIES;
}

/// JSON form of a [`ZkBytes`] field: hex of `MIN..=MAX` bytes.
fn zk_bytes_within<'de, const MIN: usize, const MAX: usize, D: Deserializer<'de>>(
    d: D,
) -> Result<ZkBytes, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    let bytes = hex::decode(text.as_ref()).map_err(D::Error::custom)?;
    if !(MIN..=MAX).contains(&bytes.len()) {
        return Err(D::Error::custom(format!(
            "expected {MIN} to {MAX} bytes, got {}",
            bytes.len()
        )));
    }
    Ok(ZkBytes(bytes))
}

/// JSON form of a bounded text field: 1 to `MAX` bytes.
fn text_within<'de, const MAX: usize, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() || text.len() > MAX {
        return Err(D::Error::custom(format!(
            "expected 1 to {MAX} bytes of text, got {}",
            text.len()
        )));
    }
    Ok(text)
}

/// JSON form of a study's proxy list: 1 to [`limits::MAX_STUDY_PROXIES`] addresses.
fn proxies_within<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Address>, D::Error> {
    let proxies = Vec::<Address>::deserialize(d)?;
    if !field::PROXIES.contains(&proxies.len()) {
        return Err(D::Error::custom(format!(
            "a study names 1 to {} proxies, got {}",
            limits::MAX_STUDY_PROXIES,
            proxies.len()
        )));
    }
    Ok(proxies)
}

/// Research market actions (S4-flow, S4-exclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ResearchPayload {
    /// The regulator registers the verifying key of one circuit shape, made by a setup it
    /// witnessed; studies then name it by its digest.
    RegisterCircuit {
        /// The record schema the circuit proves over (e.g. `clinical_v1`).
        #[serde(deserialize_with = "text_within::<{ limits::MAX_SCHEMA_ID_BYTES }, _>")]
        schema: String,
        /// The verifying key, in the `zk` crate's encoding.
        #[serde(deserialize_with = "zk_bytes_within::<1, { limits::MAX_VERIFYING_KEY_BYTES }, _>")]
        verifying_key: ZkBytes,
        /// SHA-256 of the proving key file provers load, so they can check it.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        proving_key_digest: Hash32,
    },
    /// A patient identity (the sender) files its nullifier key `nk = Poseidon(TAG_NK, s)`,
    /// once: hospitals bind it into the commitments they attest for the patient.
    NullifierKey {
        /// The key, a field element.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        key: Hash32,
    },
    /// A hospital identity of the record's hospital (the sender) attests its commitment to the
    /// record's attributes; the chain appends it to the accumulator of attested commitments.
    Attest {
        /// The released record.
        record: RecordId,
        /// The commitment, a field element.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        commitment: Hash32,
    },
    /// A member of an audited cloud organisation (the sender) offers itself as a
    /// re-encryption proxy.
    RegisterProxy {
        /// X25519 public key patients seal key fragments to.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        encryption_key: Hash32,
        /// Where the proxy serves.
        url: Uri,
    },
    /// A member of an audited research organisation (the sender) publishes a study contract.
    Publish {
        /// Human-readable title (1 to [`limits::MAX_STUDY_TITLE_BYTES`] bytes).
        #[serde(deserialize_with = "text_within::<{ limits::MAX_STUDY_TITLE_BYTES }, _>")]
        title: String,
        /// Must be [`Purpose::Research`].
        purpose: Purpose,
        /// Digest of the registered verifying key enrolment proofs are checked against.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        circuit: Hash32,
        /// The eligibility predicate, in the `zk` crate's encoding.
        #[serde(deserialize_with = "zk_bytes_within::<1, { limits::MAX_PREDICATE_BYTES }, _>")]
        predicate: ZkBytes,
        /// Tokens each accepted enrolment earns from the study's pool: an advance covering the
        /// enrolment's fee at once, the rest owed until the researcher acknowledges the
        /// delivered record or the dispute window passes.
        reward: u64,
        /// Most enrolments accepted.
        max_participants: u32,
        /// Enrolment closes at this block time (unix milliseconds); unspent funds return after.
        deadline_ms: u64,
        /// How long after the deadline the researcher may still dispute an enrolment's delivery
        /// (milliseconds, at most [`limits::MAX_DISPUTE_WINDOW_MS`]); after it an undisputed
        /// owed reward is the patient's to claim.
        dispute_window_ms: u64,
        /// Whether the study licenses each record exclusively (S4-exclusive).
        exclusive: bool,
        /// The researcher's Umbral public key records are re-encrypted to.
        #[serde(deserialize_with = "zk_bytes_within::<
            { limits::UMBRAL_PUBLIC_KEY_BYTES },
            { limits::UMBRAL_PUBLIC_KEY_BYTES },
            _,
        >")]
        researcher_key: ZkBytes,
        /// The registered proxies patients hand key fragments to (1 to
        /// [`limits::MAX_STUDY_PROXIES`], distinct).
        #[serde(deserialize_with = "proxies_within")]
        proxies: Vec<Address>,
        /// Proxies needed to re-encrypt (1 to the number of proxies).
        threshold: u8,
    },
    /// The study's researcher (the sender) adds `amount` of its balance to the study's pool.
    Fund {
        /// The study.
        study: StudyId,
        /// Tokens added.
        amount: u64,
    },
    /// A patient's one-time enrolment key (the sender) enrols in a study with a proof that an
    /// attested commitment opens to a record satisfying the study's predicate.
    Enrol {
        /// The study.
        study: StudyId,
        /// The accumulator root the proof was made against.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        root: Hash32,
        /// Per (patient, study) nullifier: refuses a second enrolment of the same record.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        nullifier: Hash32,
        /// Per record nullifier every study checks for exclusive licences (S4-exclusive).
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        exclusivity: Hash32,
        /// The delivery tag `Poseidon(TAG_DELIVERY, hash of the released record, binding)`
        /// (`zk::DeliveryTag`): the researcher checks the record it decrypts against it.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        delivery: Hash32,
        /// The Groth16 proof.
        #[serde(deserialize_with = "zk_bytes_within::<
            { limits::ZK_PROOF_BYTES },
            { limits::ZK_PROOF_BYTES },
            _,
        >")]
        proof: ZkBytes,
        /// The patient's per-study Umbral delegating public key.
        #[serde(deserialize_with = "zk_bytes_within::<
            { limits::UMBRAL_PUBLIC_KEY_BYTES },
            { limits::UMBRAL_PUBLIC_KEY_BYTES },
            _,
        >")]
        delegating_key: ZkBytes,
        /// The patient's per-study Umbral signing public key (key fragments are verified
        /// against it).
        #[serde(deserialize_with = "zk_bytes_within::<
            { limits::UMBRAL_PUBLIC_KEY_BYTES },
            { limits::UMBRAL_PUBLIC_KEY_BYTES },
            _,
        >")]
        verifying_key: ZkBytes,
        /// Hash of the encrypted record the proxies will serve.
        ciphertext_hash: ContentHash,
    },
    /// One of the study's proxies (the sender) logs that it re-encrypted an enrolment's record
    /// for the researcher.
    Reencrypted {
        /// The enrolment.
        enrolment: EnrolmentId,
    },
    /// The study's researcher (the sender) takes back the unspent pool after the deadline;
    /// rewards still owed to enrolments stay in it.
    Refund {
        /// The study.
        study: StudyId,
    },
    /// The study's researcher (the sender) confirms that an enrolment's record matched its
    /// delivery tag: the owed reward becomes the payee's to claim at once.
    Acknowledge {
        /// The enrolment.
        enrolment: EnrolmentId,
    },
    /// The study's researcher (the sender) disputes an enrolment's delivery (a record that
    /// does not match its delivery tag, or none), before the dispute window ends: the owed
    /// reward is frozen until the regulator resolves it.
    Dispute {
        /// The enrolment.
        enrolment: EnrolmentId,
    },
    /// The regulator (the sender) settles a disputed enrolment: `pay` makes the owed reward
    /// the payee's to claim; otherwise it returns to the study's pool.
    Resolve {
        /// The enrolment.
        enrolment: EnrolmentId,
        /// Whether the payee is paid.
        pay: bool,
    },
    /// An enrolment's payee (the sender) takes its owed reward from the study's pool, once
    /// acknowledged, resolved in its favour, or undisputed after the dispute window.
    Claim {
        /// The enrolment.
        enrolment: EnrolmentId,
    },
}

impl ResearchPayload {
    /// A short stable name, `research.<action>` (see [`crate::Payload::kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RegisterCircuit { .. } => "research.register_circuit",
            Self::NullifierKey { .. } => "research.nullifier_key",
            Self::Attest { .. } => "research.attest",
            Self::RegisterProxy { .. } => "research.register_proxy",
            Self::Publish { .. } => "research.publish",
            Self::Fund { .. } => "research.fund",
            Self::Enrol { .. } => "research.enrol",
            Self::Reencrypted { .. } => "research.reencrypted",
            Self::Refund { .. } => "research.refund",
            Self::Acknowledge { .. } => "research.acknowledge",
            Self::Dispute { .. } => "research.dispute",
            Self::Resolve { .. } => "research.resolve",
            Self::Claim { .. } => "research.claim",
        }
    }
}

/// What an enrolment proof's public `binding` commits to: this transaction's sender and the
/// keys and ciphertext the proxies will act on. A copied proof filed by anyone else, or with
/// other keys, no longer matches its public inputs (Groth16 proofs are malleable, their public
/// inputs are not). The circuit takes `zk::binding_of` of this digest.
///
/// SHA-256(domain ‖ sender ‖ u32-BE length ‖ delegating key ‖ u32-BE length ‖ verifying key ‖
/// ciphertext hash).
pub fn enrolment_binding(
    sender: &Address,
    delegating_key: &[u8],
    verifying_key: &[u8],
    ciphertext_hash: &ContentHash,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(ENROLMENT_BINDING_DOMAIN);
    hasher.update(sender.as_bytes());
    for key in [delegating_key, verifying_key] {
        // Keys are bounded far below 4 GiB by the codec, so the length fits.
        hasher.update((key.len() as u32).to_be_bytes());
        hasher.update(key);
    }
    hasher.update(ciphertext_hash.as_bytes());
    hasher.finalize().into()
}

fn write_text(text: &str, buf: &mut impl BufMut) {
    text.as_bytes().write(buf);
}

fn read_text(
    buf: &mut impl Buf,
    range: RangeInclusive<usize>,
    field: &'static str,
) -> Result<String, CodecError> {
    let bytes = Vec::<u8>::read_range(buf, range)?;
    String::from_utf8(bytes).map_err(|_| CodecError::Invalid(field, "not UTF-8"))
}

/// Writes the action tag and fields (the module tag is the caller's).
pub(crate) fn write_research(payload: &ResearchPayload, buf: &mut impl BufMut) {
    match payload {
        ResearchPayload::RegisterCircuit {
            schema,
            verifying_key,
            proving_key_digest,
        } => {
            0u8.write(buf);
            write_text(schema, buf);
            verifying_key.write(buf);
            proving_key_digest.write(buf);
        }
        ResearchPayload::NullifierKey { key } => {
            1u8.write(buf);
            key.write(buf);
        }
        ResearchPayload::Attest { record, commitment } => {
            2u8.write(buf);
            record.write(buf);
            commitment.write(buf);
        }
        ResearchPayload::RegisterProxy {
            encryption_key,
            url,
        } => {
            3u8.write(buf);
            encryption_key.write(buf);
            url.write(buf);
        }
        ResearchPayload::Publish {
            title,
            purpose,
            circuit,
            predicate,
            reward,
            max_participants,
            deadline_ms,
            dispute_window_ms,
            exclusive,
            researcher_key,
            proxies,
            threshold,
        } => {
            4u8.write(buf);
            write_text(title, buf);
            purpose.write(buf);
            circuit.write(buf);
            predicate.write(buf);
            reward.write(buf);
            max_participants.write(buf);
            deadline_ms.write(buf);
            dispute_window_ms.write(buf);
            exclusive.write(buf);
            researcher_key.write(buf);
            proxies.write(buf);
            threshold.write(buf);
        }
        ResearchPayload::Fund { study, amount } => {
            5u8.write(buf);
            study.write(buf);
            amount.write(buf);
        }
        ResearchPayload::Enrol {
            study,
            root,
            nullifier,
            exclusivity,
            delivery,
            proof,
            delegating_key,
            verifying_key,
            ciphertext_hash,
        } => {
            6u8.write(buf);
            study.write(buf);
            root.write(buf);
            nullifier.write(buf);
            exclusivity.write(buf);
            delivery.write(buf);
            proof.write(buf);
            delegating_key.write(buf);
            verifying_key.write(buf);
            ciphertext_hash.write(buf);
        }
        ResearchPayload::Reencrypted { enrolment } => {
            7u8.write(buf);
            enrolment.write(buf);
        }
        ResearchPayload::Refund { study } => {
            8u8.write(buf);
            study.write(buf);
        }
        ResearchPayload::Acknowledge { enrolment } => {
            9u8.write(buf);
            enrolment.write(buf);
        }
        ResearchPayload::Dispute { enrolment } => {
            10u8.write(buf);
            enrolment.write(buf);
        }
        ResearchPayload::Resolve { enrolment, pay } => {
            11u8.write(buf);
            enrolment.write(buf);
            pay.write(buf);
        }
        ResearchPayload::Claim { enrolment } => {
            12u8.write(buf);
            enrolment.write(buf);
        }
    }
}

/// Reads an action's fields given its tag (read by the caller).
pub(crate) fn read_research(action: u8, buf: &mut impl Buf) -> Result<ResearchPayload, CodecError> {
    use commonware_codec::ReadExt;
    Ok(match action {
        0 => ResearchPayload::RegisterCircuit {
            schema: read_text(buf, field::SCHEMA, "schema")?,
            verifying_key: ZkBytes::read_cfg(buf, &field::VERIFYING_KEY)?,
            proving_key_digest: Hash32::read(buf)?,
        },
        1 => ResearchPayload::NullifierKey {
            key: Hash32::read(buf)?,
        },
        2 => ResearchPayload::Attest {
            record: RecordId::read(buf)?,
            commitment: Hash32::read(buf)?,
        },
        3 => ResearchPayload::RegisterProxy {
            encryption_key: Hash32::read(buf)?,
            url: Uri::read(buf)?,
        },
        4 => ResearchPayload::Publish {
            title: read_text(buf, field::TITLE, "title")?,
            purpose: Purpose::read(buf)?,
            circuit: Hash32::read(buf)?,
            predicate: ZkBytes::read_cfg(buf, &field::PREDICATE)?,
            reward: u64::read(buf)?,
            max_participants: u32::read(buf)?,
            deadline_ms: u64::read(buf)?,
            dispute_window_ms: u64::read(buf)?,
            exclusive: bool::read(buf)?,
            researcher_key: ZkBytes::read_cfg(buf, &field::UMBRAL_KEY)?,
            proxies: Vec::<Address>::read_range(buf, field::PROXIES)?,
            threshold: u8::read(buf)?,
        },
        5 => ResearchPayload::Fund {
            study: StudyId::read(buf)?,
            amount: u64::read(buf)?,
        },
        6 => ResearchPayload::Enrol {
            study: StudyId::read(buf)?,
            root: Hash32::read(buf)?,
            nullifier: Hash32::read(buf)?,
            exclusivity: Hash32::read(buf)?,
            delivery: Hash32::read(buf)?,
            proof: ZkBytes::read_cfg(buf, &field::PROOF)?,
            delegating_key: ZkBytes::read_cfg(buf, &field::UMBRAL_KEY)?,
            verifying_key: ZkBytes::read_cfg(buf, &field::UMBRAL_KEY)?,
            ciphertext_hash: ContentHash::read(buf)?,
        },
        7 => ResearchPayload::Reencrypted {
            enrolment: EnrolmentId::read(buf)?,
        },
        8 => ResearchPayload::Refund {
            study: StudyId::read(buf)?,
        },
        9 => ResearchPayload::Acknowledge {
            enrolment: EnrolmentId::read(buf)?,
        },
        10 => ResearchPayload::Dispute {
            enrolment: EnrolmentId::read(buf)?,
        },
        11 => ResearchPayload::Resolve {
            enrolment: EnrolmentId::read(buf)?,
            pay: bool::read(buf)?,
        },
        12 => ResearchPayload::Claim {
            enrolment: EnrolmentId::read(buf)?,
        },
        other => return Err(CodecError::InvalidEnum(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Payload, TxBody, TxId,
        fixtures::{address, chain, key, research_payloads},
    };
    use commonware_codec::{DecodeExt, Encode};

    fn study() -> StudyId {
        StudyId(TxId::of_encoded(b"publish").0)
    }

    fn largest_publish() -> Payload {
        Payload::Research(ResearchPayload::Publish {
            title: "t".repeat(limits::MAX_STUDY_TITLE_BYTES),
            purpose: Purpose::Research,
            circuit: study().0,
            predicate: ZkBytes(vec![1; limits::MAX_PREDICATE_BYTES]),
            reward: u64::MAX,
            max_participants: u32::MAX,
            deadline_ms: u64::MAX,
            dispute_window_ms: u64::MAX,
            exclusive: true,
            researcher_key: ZkBytes(vec![2; limits::UMBRAL_PUBLIC_KEY_BYTES]),
            proxies: (0..limits::MAX_STUDY_PROXIES as u64).map(address).collect(),
            threshold: u8::MAX,
        })
    }

    #[test]
    fn every_research_payload_round_trips_in_both_encodings() {
        for payload in research_payloads() {
            let bytes = payload.encode();
            assert_eq!(bytes.len(), payload.encode_size());
            assert_eq!(Payload::decode(bytes).unwrap(), payload);
            let json = serde_json::to_string(&payload).unwrap();
            assert_eq!(serde_json::from_str::<Payload>(&json).unwrap(), payload);
            assert!(
                payload.kind().starts_with("research."),
                "{}",
                payload.kind()
            );
        }
    }

    #[test]
    fn the_largest_research_transactions_fit_in_one_transaction() {
        let register = Payload::Research(ResearchPayload::RegisterCircuit {
            schema: "s".repeat(limits::MAX_SCHEMA_ID_BYTES),
            verifying_key: ZkBytes(vec![3; limits::MAX_VERIFYING_KEY_BYTES]),
            proving_key_digest: study().0,
        });
        for payload in [largest_publish(), register] {
            let tx = TxBody {
                chain_id: chain(),
                sender: address(1),
                nonce: u64::MAX,
                valid_until_ms: u64::MAX,
                fee: u64::MAX,
                payload,
            }
            .sign(&key(1))
            .unwrap();
            assert!(
                tx.encode().len() <= limits::MAX_TX_BYTES,
                "{}",
                tx.encode().len()
            );
        }
    }

    /// Re-encodes a publish with one field replaced by raw bytes, to feed the decoder lengths
    /// the typed value cannot express.
    fn publish_with_proxies(count: u64) -> Vec<u8> {
        let Payload::Research(ResearchPayload::Publish { proxies, .. }) = largest_publish() else {
            unreachable!()
        };
        let mut bytes = largest_publish().encode().to_vec();
        let list: Vec<Address> = (0..count).map(address).collect();
        let old = proxies.encode();
        let at = bytes.len() - old.len() - 1;
        bytes.splice(at..at + old.len(), list.encode().iter().copied());
        bytes
    }

    #[test]
    fn out_of_bound_research_fields_are_refused_by_the_decoder() {
        assert!(Payload::decode(publish_with_proxies(8).as_slice().to_vec()).is_ok());
        assert!(Payload::decode(publish_with_proxies(9).as_slice().to_vec()).is_err());
        assert!(Payload::decode(publish_with_proxies(0).as_slice().to_vec()).is_err());
        let enrol = |proof: usize, key: usize| {
            Payload::Research(ResearchPayload::Enrol {
                study: study(),
                root: study().0,
                nullifier: study().0,
                exclusivity: study().0,
                delivery: study().0,
                proof: ZkBytes(vec![1; proof]),
                delegating_key: ZkBytes(vec![2; key]),
                verifying_key: ZkBytes(vec![3; 33]),
                ciphertext_hash: ContentHash::of(b"ciphertext"),
            })
            .encode()
        };
        assert!(Payload::decode(enrol(128, 33)).is_ok());
        assert!(Payload::decode(enrol(127, 33)).is_err());
        assert!(Payload::decode(enrol(129, 33)).is_err());
        assert!(Payload::decode(enrol(128, 32)).is_err());
        let title = |len: usize| {
            let mut bytes = vec![crate::payload::RESEARCH, 4];
            vec![b'a'; len].write(&mut bytes);
            bytes
        };
        // The title's bound is checked before anything after it is read.
        assert!(matches!(
            Payload::decode(title(limits::MAX_STUDY_TITLE_BYTES + 1)),
            Err(CodecError::InvalidLength(_))
        ));
        assert!(matches!(
            Payload::decode(title(0)),
            Err(CodecError::InvalidLength(0))
        ));
        let mut not_utf8 = vec![crate::payload::RESEARCH, 4];
        vec![0xff_u8; 4].write(&mut not_utf8);
        assert!(matches!(
            Payload::decode(not_utf8),
            Err(CodecError::Invalid("title", _))
        ));
        assert!(matches!(
            Payload::decode(vec![crate::payload::RESEARCH, 13]),
            Err(CodecError::InvalidEnum(13))
        ));
        let bytes = largest_publish().encode();
        for cut in [2, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                Payload::decode(bytes[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn out_of_bound_research_fields_are_refused_in_json() {
        let json = serde_json::to_value(largest_publish()).unwrap();
        let with = |field: &str, value: serde_json::Value| {
            let mut json = json.clone();
            json[field] = value;
            serde_json::from_value::<Payload>(json)
        };
        assert!(with("threshold", 2.into()).is_ok());
        assert!(with("title", "".into()).is_err());
        assert!(
            with(
                "title",
                "t".repeat(limits::MAX_STUDY_TITLE_BYTES + 1).into()
            )
            .is_err()
        );
        assert!(with("researcher_key", "ab".repeat(32).into()).is_err());
        assert!(with("researcher_key", "zz".repeat(33).into()).is_err());
        assert!(with("proxies", serde_json::json!([])).is_err());
        let nine: Vec<Address> = (0..9).map(address).collect();
        assert!(with("proxies", serde_json::to_value(nine).unwrap()).is_err());
        assert!(
            with(
                "predicate",
                "01".repeat(limits::MAX_PREDICATE_BYTES + 1).into()
            )
            .is_err()
        );
    }

    #[test]
    fn the_binding_commits_to_sender_keys_and_ciphertext() {
        let hash = ContentHash::of(b"ciphertext");
        let base = enrolment_binding(&address(1), &[1; 33], &[2; 33], &hash);
        assert_eq!(
            base,
            enrolment_binding(&address(1), &[1; 33], &[2; 33], &hash)
        );
        for other in [
            enrolment_binding(&address(2), &[1; 33], &[2; 33], &hash),
            enrolment_binding(&address(1), &[9; 33], &[2; 33], &hash),
            enrolment_binding(&address(1), &[1; 33], &[9; 33], &hash),
            enrolment_binding(&address(1), &[1; 33], &[2; 33], &ContentHash::of(b"other")),
            // Lengths are framed: moving a byte from one key to the other changes the digest.
            enrolment_binding(&address(1), &[1; 34], &[2; 32], &hash),
        ] {
            assert_ne!(other, base);
        }
    }
}
