//! The MED chain's routes (S3-dual): hospital batches in, Mblocks, headers and record
//! inclusions out.
//!
//! MED answers are not finalized state: they are what this node's MED chain holds now (its
//! most-work branch above the newest SUP checkpoint). Every one carries what a client needs to
//! check it without trusting the node: headers carry their proof of work, an inclusion its
//! Merkle proof, and whether a record is final is settled by the SUP checkpoint (proven SUP
//! state `med/tip`, `med/header/<hash>`).

use medchain_types::{
    EntryId, Hash32, RecordId,
    med::{MblockHeader, TxMr},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most headers one `GET /v1/med/headers` returns.
pub const MAX_MED_HEADERS: usize = 2_000;

/// `POST /v1/med/batches` accepted a batch: it waits in this node's pool (and its peers') for
/// a miner to include it in an Mblock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchAccepted {
    /// The batch's TX_mr (hex): the Merkle root its hospital signed, which names it.
    pub batch: String,
}

impl BatchAccepted {
    /// The acceptance of the batch whose TX_mr is `root`.
    pub fn of(root: &Hash32) -> Self {
        Self {
            batch: hex::encode(root),
        }
    }
}

/// One Mblock, in brief.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MblockSummary {
    /// Its hash (hex): SHA-256d of the encoded header, the proof of work.
    pub hash: String,
    /// Height; the genesis Mblock is 0.
    pub height: u64,
    /// The miner's clock, unix milliseconds.
    pub timestamp_ms: u64,
    /// Releases (tx_mr) it carries.
    pub txs: u32,
}

impl MblockSummary {
    /// The summary of the Mblock with `header` and `txs` releases.
    pub fn of(header: &MblockHeader, txs: u32) -> Self {
        Self {
            hash: hex::encode(header.hash()),
            height: header.height,
            timestamp_ms: header.timestamp_ms,
            txs,
        }
    }
}

/// `GET /v1/med/status`: this node's view of the MED chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MedStatus {
    /// The tip of the most-work chain this node knows.
    pub best: MblockSummary,
    /// The newest Mblock a finalized SUP block checkpointed (the genesis Mblock until the
    /// first checkpoint). Records at or below it are final.
    pub checkpointed: MblockSummary,
    /// Verified hospital batches waiting in this node's pool for an Mblock.
    pub pending_batches: u64,
    /// Whether this node mines (`[med] mine = true` in its configuration).
    pub mining: bool,
    /// The difficulty the next Mblock on `best` must meet (expected hashes per block).
    pub difficulty: u64,
}

/// Query of `GET /v1/med/headers`.
#[derive(Clone, Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadersQuery {
    /// The first height wanted.
    #[serde(default)]
    pub from: u64,
    /// How many headers at most, 1 to [`MAX_MED_HEADERS`] (default: that many).
    pub limit: Option<usize>,
}

/// `GET /v1/med/records/{record}`: a record's place on the MED chain: the Mblock header that
/// holds it, its index there and a Merkle proof that its htxM is leaf `index` of the header's
/// `tx_root`. A client checks the proof, the header's proof of work and linkage, and — for a
/// final record — that the header is checkpointed on SUP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MedRecordView {
    /// The record's id: the release's htxM.
    pub record: RecordId,
    /// The Mblock that holds it.
    #[schema(value_type = Object)]
    pub header: MblockHeader,
    /// Its index among the Mblock's releases (body order).
    pub index: u32,
    /// The release.
    #[schema(value_type = Object)]
    pub tx: TxMr,
    /// Hex of the codec-encoded binary Merkle proof of `tx`'s htxM at `index` under
    /// `header.tx_root`.
    pub proof: String,
    /// Whether the record is final: its Mblock is at or below this node's newest SUP
    /// checkpoint AND SUP imported the release as a record mined in that Mblock. `false` for a
    /// release still pending on MED — and for one SUP's release rules refused at import
    /// (e.g. its doctor was revoked before the checkpoint), which stays on MED but is no
    /// record. Clients that must know which verify the SUP record themselves.
    pub checkpointed: bool,
}

/// Where a patient's entry EEE stands on MED (S3-entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MedEntryStatus {
    /// Verified and waiting in this node's batch pool for a miner.
    Pending,
    /// In an Mblock of the best MED chain that SUP has not checkpointed yet: a reorg may
    /// still drop it (it stays pooled and is mined again then).
    Mined,
    /// In a checkpointed Mblock and filed by SUP as `entry/<id>`: final.
    Final,
    /// In a checkpointed Mblock, but SUP did not file it (`MedEntryRefused`: e.g. the patient
    /// lost its key before the checkpoint). It stays on MED but is no entry.
    Refused,
}

/// `GET /v1/med/entries/{entry}`: a patient's entry on this node's MED chain (S3-entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MedEntryView {
    /// The entry's id: its hentry.
    pub entry: EntryId,
    /// Where it stands.
    pub status: MedEntryStatus,
    /// The Mblock of the best chain that holds it (absent while pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mblock: Option<MblockSummary>,
    /// The SUP height whose checkpoint filed it (final entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filed_at: Option<u64>,
}

impl MedRecordView {
    /// The proof's bytes.
    pub fn proof_bytes(&self) -> Result<Vec<u8>, hex::FromHexError> {
        hex::decode(&self.proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Digest as _, Signer as _, ed25519};
    use medchain_types::{Address, ContentHash};

    fn address(seed: u64) -> Address {
        Address::from(ed25519::PrivateKey::from_seed(seed).public_key())
    }

    #[test]
    fn a_record_view_round_trips_through_json_and_exposes_its_proof() {
        let header = MblockHeader {
            height: 3,
            parent: Hash32::EMPTY,
            tx_root: Hash32::EMPTY,
            body_hash: Hash32::EMPTY,
            timestamp_ms: 1_700_000_000_000,
            difficulty: 1_000,
            miner: address(1),
            nonce: 42,
        };
        let tx = TxMr {
            doctor: address(2),
            patient: address(3),
            record_hash: ContentHash::of(b"EMR"),
            issued_at_ms: 1_700_000_000_000,
        };
        let view = MedRecordView {
            record: RecordId(Hash32::EMPTY),
            header,
            index: 0,
            tx,
            proof: "00ff".into(),
            checkpointed: false,
        };
        let json = serde_json::to_string(&view).unwrap();
        assert_eq!(serde_json::from_str::<MedRecordView>(&json).unwrap(), view);
        assert_eq!(view.proof_bytes().unwrap(), vec![0, 0xff]);
        let bad = MedRecordView {
            proof: "zz".into(),
            ..view
        };
        assert!(bad.proof_bytes().is_err());
    }

    #[test]
    fn an_entry_view_names_its_status_in_snake_case_and_omits_what_it_lacks() {
        let pending = MedEntryView {
            entry: EntryId(Hash32::EMPTY),
            status: MedEntryStatus::Pending,
            mblock: None,
            filed_at: None,
        };
        let json = serde_json::to_value(&pending).unwrap();
        assert_eq!(json["status"], "pending");
        assert!(json.get("mblock").is_none() && json.get("filed_at").is_none());
        let final_view = MedEntryView {
            status: MedEntryStatus::Final,
            mblock: Some(MblockSummary {
                hash: "00".repeat(32),
                height: 4,
                timestamp_ms: 1,
                txs: 0,
            }),
            filed_at: Some(9),
            ..pending
        };
        let json = serde_json::to_string(&final_view).unwrap();
        assert_eq!(
            serde_json::from_str::<MedEntryView>(&json).unwrap(),
            final_view
        );
    }
}
