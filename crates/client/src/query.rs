//! State queries: each pairs the API path that serves a value with the state key (and so the
//! value type) its proof must be for, so a node cannot answer one question with the proof of
//! another; a query pinned to a height ([`StateQuery::at_height`]) also refuses an answer
//! proven at another height.

use crate::{LightClient, Verified, VerifyError, http::path_segment};

mod research;
use medchain_api::ProvenView;
use medchain_state::values::{
    CheckpointedHeader, EmergencyRecord, EmrEntryRecord, IdentityRecord, Licence, MedTip,
    Revocation, VouchingKey,
};
use medchain_state::{
    StateValue,
    keys::{self, StateKey},
    values::{AccessLogEntry, Account, Consent, Membership, Org, PkgState, Record, StoragePointer},
    values::{Candidate, Delegation, Escrow, Output, Unbonding, ValidatorSet},
};
use medchain_types::{
    Address, ConsentId, EmergencyId, EntryId, EscrowId, Hash32, IdentityName, OrgName, Purpose,
    RecordId, token::OutPoint,
};

/// A provable state read: the endpoint and the key its answer must prove.
#[derive(Clone, Debug)]
pub struct StateQuery<V> {
    path: String,
    key: StateKey<V>,
    height: Option<u64>,
}

impl<V> StateQuery<V> {
    fn new(path: String, key: StateKey<V>) -> Self {
        Self {
            path,
            key,
            height: None,
        }
    }

    /// The API path (`/v1/state/...`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The state key the answer's proof must be for.
    pub fn key(&self) -> &StateKey<V> {
        &self.key
    }

    /// The height the answer must be proven at, if pinned.
    pub fn height(&self) -> Option<u64> {
        self.height
    }

    /// The same question about the state at a past `height` (which the node must still hold
    /// with its finalization certificate): the node is asked with `?height=`, and an answer
    /// proven at any other height is refused.
    pub fn at_height(mut self, height: u64) -> Self {
        self.path = format!("{}?height={height}", self.path);
        self.height = Some(height);
        self
    }
}

impl<V: StateValue> StateQuery<V> {
    /// Verifies `view` as the answer: a final header, a proof for this query's key against its
    /// state root, and, if the query is pinned to a height, that height.
    pub fn verify(
        &self,
        light: &LightClient,
        view: &ProvenView,
    ) -> Result<Verified<V>, VerifyError> {
        let verified = light.verify_proven(view, &self.key)?;
        match self.height {
            Some(asked) if asked != verified.at.header.height => Err(VerifyError::OtherHeight {
                asked,
                answered: verified.at.header.height,
            }),
            _ => Ok(verified),
        }
    }
}

impl StateQuery<Org> {
    /// An organisation (S2-register, S2-state).
    pub fn org(name: &OrgName) -> Self {
        Self::new(
            format!("/v1/state/orgs/{}", path_segment(name.as_str())),
            keys::org(name),
        )
    }
}

impl StateQuery<Account> {
    /// An account's next nonce and its balance, which pays fees (absent means 0 and 0).
    pub fn account(address: &Address) -> Self {
        Self::new(
            format!("/v1/state/accounts/{address}"),
            keys::account(address),
        )
    }
}

impl StateQuery<Membership> {
    /// The organisation an address belongs to.
    pub fn membership(address: &Address) -> Self {
        Self::new(
            format!("/v1/state/members/{address}"),
            keys::membership(address),
        )
    }
}

impl StateQuery<Record> {
    /// A released record (S1-release).
    pub fn record(id: &RecordId) -> Self {
        Self::new(format!("/v1/state/records/{id}"), keys::record(id))
    }
}

impl StateQuery<StoragePointer> {
    /// A record's storage pointer (S1-storage).
    pub fn storage(record: &RecordId) -> Self {
        Self::new(
            format!("/v1/state/storage/{record}"),
            keys::storage_pointer(record),
        )
    }
}

impl StateQuery<Consent> {
    /// A consent (S1-sharing).
    pub fn consent(id: &ConsentId) -> Self {
        Self::new(format!("/v1/state/consents/{id}"), keys::consent(id))
    }
}

impl StateQuery<ConsentId> {
    /// The newest consent covering a grantee, record and purpose (S1-sharing).
    pub fn grant(grantee: &Address, record: &RecordId, purpose: Purpose) -> Self {
        Self::new(
            format!(
                "/v1/state/grants/{grantee}/{record}/{}",
                purpose_name(purpose)
            ),
            keys::grant(grantee, record, purpose),
        )
    }
}

impl StateQuery<AccessLogEntry> {
    /// Entry `seq` (from 0) of a patient's access log (S1-rights).
    pub fn access_log_entry(patient: &Address, seq: u64) -> Self {
        Self::new(
            format!("/v1/state/access-log/{patient}/{seq}"),
            keys::access_log_entry(patient, seq),
        )
    }
}

// Identities, licences and the revocation list (issue 8).

impl StateQuery<IdentityRecord> {
    /// An enrolled identity (S3-register, S4-ca).
    pub fn identity(name: &IdentityName) -> Self {
        Self::new(
            format!("/v1/state/identities/{}", path_segment(name.as_str())),
            keys::identity(name),
        )
    }
}

impl StateQuery<IdentityName> {
    /// The identity bound to an address.
    pub fn identity_of(address: &Address) -> Self {
        Self::new(
            format!("/v1/state/identities/by-address/{address}"),
            keys::identity_of(address),
        )
    }
}

impl StateQuery<Licence> {
    /// A doctor's licence (S3-register).
    pub fn licence(doctor: &IdentityName) -> Self {
        Self::new(
            format!("/v1/state/licences/{}", path_segment(doctor.as_str())),
            keys::licence(doctor),
        )
    }
}

impl StateQuery<Revocation> {
    /// A doctor's entry on the revocation list (S3-revoke); proven absent means not revoked.
    pub fn revocation(doctor: &IdentityName) -> Self {
        Self::new(
            format!("/v1/state/revocations/{}", path_segment(doctor.as_str())),
            keys::revocation(doctor),
        )
    }
}

impl StateQuery<EmrEntryRecord> {
    /// A patient's encrypted EMR entry (S3-entry).
    pub fn entry(id: &EntryId) -> Self {
        Self::new(format!("/v1/state/entries/{id}"), keys::entry(id))
    }
}

impl StateQuery<VouchingKey> {
    /// A doctor's or hospital's vouching key (S3-emergency); proven absent means none.
    pub fn vouching_key(address: &Address) -> Self {
        Self::new(
            format!("/v1/state/vouching-keys/{address}"),
            keys::vouching_key(address),
        )
    }
}

impl StateQuery<EmergencyRecord> {
    /// A vouched emergency request tx_ur (S3-emergency).
    pub fn emergency(id: &EmergencyId) -> Self {
        Self::new(format!("/v1/state/emergencies/{id}"), keys::emergency(id))
    }
}

impl StateQuery<PkgState> {
    /// The threshold PKG: threshold and public polynomial, P_pub first (S3-setup).
    pub fn pkg() -> Self {
        Self::new("/v1/state/pkg".into(), keys::pkg())
    }
}

// Tokens and staking (issue 11).

impl StateQuery<u64> {
    /// The sum of an address's unspent outputs locked to its key alone (absent means 0).
    pub fn held(address: &Address) -> Self {
        Self::new(format!("/v1/state/held/{address}"), keys::held(address))
    }
}

impl StateQuery<Output> {
    /// An unspent output (S1-utxo); proven absent once spent.
    pub fn output(outpoint: &OutPoint) -> Self {
        Self::new(
            format!("/v1/state/outputs/{outpoint}"),
            keys::output(outpoint),
        )
    }
}

impl StateQuery<Escrow> {
    /// An escrow (S1-utxo, contract lock).
    pub fn escrow(id: &EscrowId) -> Self {
        Self::new(format!("/v1/state/escrows/{id}"), keys::escrow(id))
    }
}

impl StateQuery<Candidate> {
    /// A validator candidate and its staking pool (S1-dpos).
    pub fn candidate(address: &Address) -> Self {
        Self::new(
            format!("/v1/state/candidates/{address}"),
            keys::candidate(address),
        )
    }
}

impl StateQuery<Delegation> {
    /// A delegator's shares in a candidate's pool (S1-dpos).
    pub fn delegation(candidate: &Address, delegator: &Address) -> Self {
        Self::new(
            format!("/v1/state/delegations/{candidate}/{delegator}"),
            keys::delegation(candidate, delegator),
        )
    }
}

impl StateQuery<Unbonding> {
    /// What a delegator is unbonding from a candidate, and when it can withdraw (S1-dpos).
    pub fn unbonding(candidate: &Address, delegator: &Address) -> Self {
        Self::new(
            format!("/v1/state/unbonding/{candidate}/{delegator}"),
            keys::unbonding(candidate, delegator),
        )
    }
}

// The MED chain's checkpoints (issue 13, S3-supervise).

impl StateQuery<MedTip> {
    /// The newest Mblock SUP has checkpointed; proven absent before the first checkpoint
    /// (the tip is then the MED genesis Mblock).
    pub fn med_tip() -> Self {
        Self::new("/v1/state/med/tip".into(), keys::med_tip())
    }
}

impl StateQuery<CheckpointedHeader> {
    /// The header of checkpointed Mblock `hash` and the SUP height that checkpointed it;
    /// proven absent if SUP never checkpointed it.
    pub fn med_header(hash: &Hash32) -> Self {
        Self::new(
            format!("/v1/state/med/headers/{}", hex::encode(hash)),
            keys::med_header(hash),
        )
    }
}

impl StateQuery<ValidatorSet> {
    /// The validator set elected for `epoch` (S1-dpos); set 0 is the genesis set.
    pub fn validator_set(epoch: u64) -> Self {
        Self::new(
            format!("/v1/state/validator-sets/{epoch}"),
            keys::validator_set(epoch),
        )
    }
}

/// The purpose as the API spells it (`treatment`, `public_health`, …).
pub fn purpose_name(purpose: Purpose) -> String {
    match serde_json::to_value(purpose) {
        Ok(serde_json::Value::String(name)) => name,
        // Purpose serialises as a plain string; this arm is unreachable in practice.
        _ => format!("{purpose:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::{address, record_id};

    #[test]
    fn paths_and_keys_name_the_same_thing() {
        let name = OrgName::new("Seoul General").unwrap();
        let org = StateQuery::org(&name);
        assert_eq!(org.path(), "/v1/state/orgs/Seoul%20General");
        assert_eq!(org.key(), &keys::org(&name));

        let grant = StateQuery::grant(&address(1), &record_id(2), Purpose::PublicHealth);
        assert!(grant.path().ends_with("/public_health"), "{}", grant.path());
        assert_eq!(
            grant.key(),
            &keys::grant(&address(1), &record_id(2), Purpose::PublicHealth)
        );

        let entry = StateQuery::access_log_entry(&address(3), 7);
        assert_eq!(
            entry.path(),
            format!("/v1/state/access-log/{}/7", address(3))
        );
        assert_ne!(entry.key(), &keys::access_log_entry(&address(3), 8));
    }

    #[test]
    fn identity_licence_and_revocation_paths_escape_names_and_pin_heights() {
        let doctor = IdentityName::new("dr-kim@seoul:1").unwrap();
        let licence = StateQuery::licence(&doctor);
        assert_eq!(licence.path(), "/v1/state/licences/dr-kim%40seoul%3A1");
        assert_eq!(licence.key(), &keys::licence(&doctor));
        let identity = StateQuery::identity(&doctor);
        assert_eq!(identity.path(), "/v1/state/identities/dr-kim%40seoul%3A1");
        assert_eq!(
            StateQuery::identity_of(&address(1)).path(),
            format!("/v1/state/identities/by-address/{}", address(1))
        );
        let revocation = StateQuery::revocation(&doctor);
        assert_eq!(revocation.height(), None);
        let pinned = revocation.clone().at_height(42);
        assert_eq!(
            pinned.path(),
            "/v1/state/revocations/dr-kim%40seoul%3A1?height=42"
        );
        assert_eq!(
            (pinned.height(), pinned.key()),
            (Some(42), revocation.key())
        );
    }

    #[test]
    fn emergency_paths_name_their_keys() {
        let entry = EntryId(record_id(1).0);
        let query = StateQuery::entry(&entry);
        assert_eq!(query.path(), format!("/v1/state/entries/{entry}"));
        assert_eq!(query.key(), &keys::entry(&entry));
        let query = StateQuery::vouching_key(&address(2));
        assert_eq!(
            query.path(),
            format!("/v1/state/vouching-keys/{}", address(2))
        );
        assert_eq!(query.key(), &keys::vouching_key(&address(2)));
        let emergency = EmergencyId(record_id(3).0);
        let query = StateQuery::emergency(&emergency).at_height(9);
        assert_eq!(
            query.path(),
            format!("/v1/state/emergencies/{emergency}?height=9")
        );
        assert_eq!(query.key(), &keys::emergency(&emergency));
    }

    #[test]
    fn token_and_staking_paths_name_their_keys() {
        let outpoint = OutPoint {
            tx: medchain_types::TxId(record_id(1).0),
            index: 3,
        };
        let query = StateQuery::output(&outpoint);
        assert_eq!(query.path(), format!("/v1/state/outputs/{}:3", outpoint.tx));
        assert_eq!(query.key(), &keys::output(&outpoint));
        let held = StateQuery::held(&address(1));
        assert_eq!(held.path(), format!("/v1/state/held/{}", address(1)));
        assert_eq!(held.key(), &keys::held(&address(1)));
        let escrow = EscrowId(record_id(2).0);
        assert_eq!(StateQuery::escrow(&escrow).key(), &keys::escrow(&escrow));
        let (candidate, delegator) = (address(4), address(5));
        let delegation = StateQuery::delegation(&candidate, &delegator);
        assert_eq!(
            delegation.path(),
            format!("/v1/state/delegations/{candidate}/{delegator}")
        );
        assert_eq!(delegation.key(), &keys::delegation(&candidate, &delegator));
        // The order of the two addresses matters.
        assert_ne!(
            StateQuery::unbonding(&delegator, &candidate).key(),
            &keys::unbonding(&candidate, &delegator)
        );
        assert_eq!(
            StateQuery::candidate(&candidate).key(),
            &keys::candidate(&candidate)
        );
        let set = StateQuery::validator_set(7).at_height(99);
        assert_eq!(set.path(), "/v1/state/validator-sets/7?height=99");
        assert_eq!(set.key(), &keys::validator_set(7));
    }

    #[test]
    fn every_purpose_has_its_api_name() {
        let names: Vec<String> = Purpose::ALL.iter().map(|p| purpose_name(*p)).collect();
        assert_eq!(
            names,
            ["treatment", "research", "billing", "public_health", "audit"]
        );
    }
}
