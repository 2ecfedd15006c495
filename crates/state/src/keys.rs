//! The state's key layout. Every key is an ASCII namespace ending in `/`, then fixed-width
//! binary fields (32-byte addresses and ids, 1-byte tags, 8-byte big-endian counters), with at
//! most one variable-length field, always last. So no two namespaces or entries collide, and
//! big-endian counters make a namespace sort in counter order (range scans over
//! `log/<patient>` list a patient's access log in sequence order).
//!
//! | key | value | module, SPEC |
//! |---|---|---|
//! | `cfg/chain` | [`ChainConfig`] | genesis (S2-flow 1) |
//! | `cfg/block` | [`BlockInfo`] | every block |
//! | `acct/<address>` | [`Account`] | replay protection |
//! | `org/<name>` | [`Org`] | registry (S2-register, S2-state) |
//! | `member/<address>` | [`Membership`] | registry (S2-register) |
//! | `rec/<record id>` | [`Record`] | records (S1-release) |
//! | `rechash/<patient><hEMR>` | [`RecordId`] | records (S1-release, one release per record) |
//! | `store/<record id>` | [`StoragePointer`] | records (S1-storage) |
//! | `consent/<consent id>` | [`Consent`] | consent (S1-sharing) |
//! | `grant/<grantee><record id><purpose>` | [`ConsentId`] | consent (S1-sharing; newest grant wins) |
//! | `log/<patient><seq u64 BE>` | [`AccessLogEntry`] | access (S1-rights) |
//! | `logseq/<patient>` | `u64` (entries so far) | access (S1-rights) |
//! | `cfg/pkg` | [`PkgState`] | pkg: the threshold PKG, once its key generation completed (S3-setup) |
//! | `pkgdeal/<round u64 BE><address>` | [`DealerLogBytes`] | pkg: a validator's accepted dealer log (S3-setup) |
//! | `patrec/<patient><seq u64 BE>` | [`RecordId`] | records: a patient's records, in release order |
//! | `patcon/<patient><seq u64 BE>` | [`ConsentId`] | consent: a patient's consents, in grant order |
//! | `orgmem/<SHA-256(name)><seq u64 BE>` | [`Address`] | registry: an organisation's members, founder first |
//! | `orgs/<seq u64 BE>` | [`OrgName`] | registry: every organisation, in registration order |
//! | `ident/<SHA-256(identity)>` | [`IdentityRecord`] | identity (S3-register, S4-ca) |
//! | `identof/<address>` | [`IdentityName`] | identity: the one identity bound to an address |
//! | `lic/<SHA-256(doctor)>` | [`Licence`] | licence (S3-register: ρ = (ID_HN, ID_DN, EXP)) |
//! | `revoked/<SHA-256(doctor)>` | [`Revocation`] | revocation list (S3-revoke); absent = not revoked |
//! | `entry/<entry id>` | [`EmrEntryRecord`] | records: an encrypted EMR entry EEE (S3-entry) |
//! | `entries/<patient><seq u64 BE>` | [`EntryId`] | records: a patient's entries, in filing order |
//! | `vouch/<address>` | [`VouchingKey`] | identity: a doctor's or hospital's BLS vouching key (S3-emergency) |
//! | `emerg/<emergency id>` | [`EmergencyRecord`] | emergency: a vouched emergency request tx_ur (S3-emergency) |
//! | `emergreq/<SHA-256(htxu)>` | [`EmergencyId`] | emergency: the request filed for a vouched message htxu (one filing per vouch) |
//! | `notif/<patient><seq u64 BE>` | [`EmergencyId`] | emergency: the requests for a patient's records, in filing order |
//! | `liclist/<seq u64 BE>` | [`IdentityName`] | licence: every licensed doctor, in first-issue order (a renewal adds nothing) |
//! | `emerglist/<seq u64 BE>` | [`EmergencyId`] | emergency: every request, in filing order |
//! | `grantcon/<grantee><seq u64 BE>` | [`ConsentId`] | consent: the consents granted to a grantee, in grant order |
//! | `cfg/tokens` | [`TokenConfig`] | token: fees, rewards and staking parameters; absent without tokens (S1-tokens) |
//! | `cfg/supply` | [`Supply`] | token: genesis, minted and burned tokens (S1-tokens) |
//! | `cfg/epoch` | [`EpochState`] | token and staking: the current epoch and its fee pool (S1-dpos) |
//! | `utxo/<tx id><index u16 BE>` | [`Output`] | token: an unspent output; spending deletes it (S1-utxo) |
//! | `held/<address>` | `u64` | token: the sum of the unspent outputs locked to the address alone; absent = 0 |
//! | `outs/<owner><seq u64 BE>` | [`OutPoint`] | token: every output ever locked to (or shared by) a key, in creation order |
//! | `tokhist/<address><seq u64 BE>` | [`LedgerEntry`] | token: an account's token history |
//! | `escrow/<escrow id>` | [`Escrow`] | token: an escrow and its settlement (S1-utxo contract lock) |
//! | `cand/<address>` | [`Candidate`] | staking: a candidate validator and its staking pool (S1-dpos) |
//! | `cands/<seq u64 BE>` | [`Address`] | staking: every candidate, in registration order (genesis validators first) |
//! | `orgcands/<SHA-256(org)><seq u64 BE>` | [`Address`] | staking: a hospital's registered candidates (at most 4) |
//! | `deleg/<candidate><delegator>` | [`Delegation`] | staking: a delegator's shares of a bonded pool |
//! | `unbond/<candidate><delegator>` | [`Unbonding`] | staking: a delegator's shares of an unbonding pool |
//! | `vset/<epoch u64 BE>` | [`ValidatorSet`] | staking: an epoch's elected validators (vset/0 at genesis) |
//! | `slashed/<epoch u64 BE><address>` | [`SlashRecord`] | staking: a validator slashed for equivocating in an epoch |
//! | `zkcircuit/<vk digest>` | [`Circuit`] | research: a circuit's verifying key, registered by the regulator (S4-flow) |
//! | `nullkey/<address>` | [`Hash32`] | research: a patient's nullifier key, set once |
//! | `attested/<record id>` | [`Attestation`] | research: a hospital's commitment to a record, one per record |
//! | `cfg/accumulator` | [`AccumulatorState`] | research: the accumulator of attested commitments |
//! | `accroot/<root>` | `u64` (leaves) | research: every accumulator root there has been |
//! | `attlist/<seq u64 BE>` | [`Hash32`] | research: every attested commitment, in leaf order |
//! | `proxy/<address>` | [`Proxy`] | research: a re-encryption proxy |
//! | `study/<study id>` | [`Study`] | research: a study contract and its pool |
//! | `studies/<seq u64 BE>` | [`StudyId`] | research: every study, in publication order |
//! | `studynull/<study id><nullifier>` | [`EnrolmentId`] | research: a nullifier used in a study (one enrolment per patient and study) |
//! | `exclnull/<exclusivity nullifier>` | [`Exclusivity`] | research: a record's exclusive licence and uses (S4-exclusive) |
//! | `enrol/<enrolment id>` | [`Enrolment`] | research: an accepted enrolment |
//! | `studyenrol/<study id><seq u64 BE>` | [`EnrolmentId`] | research: a study's enrolments, in order |
//! | `reenc/<enrolment id><seq u64 BE>` | [`Address`] | research: the proxies that re-encrypted an enrolment's record |
//! | `cfg/med` | [`MedConfig`] | med: the MED chain's parameters and genesis time; absent without a MED chain (S3-dual) |
//! | `med/tip` | [`MedTip`] | med: the newest checkpointed Mblock; absent before the first checkpoint (S3-supervise) |
//! | `med/header/<Mblock hash>` | [`CheckpointedHeader`] | med: every checkpointed Mblock's header (S3-supervise) |
//!
//! The `patrec`, `patcon`, `orgmem`, `orgs`, `entries`, `notif`, `liclist`, `emerglist`,
//! `grantcon`, `cands`, `orgcands`, `attlist`, `studies`, `studyenrol` and `reenc` keys are
//! [`StateList`]s: append-only, gapless lists that make "my records", "my consents", "my
//! entries", "emergencies about me", "our members", "the organisations", "the licences", "every
//! break-glass request", "consents granted to me", "the attested commitments", "the studies", "a
//! study's enrolments" and "who re-encrypted it" provable without knowing any id.
//! Unlike the access log they keep no length key, so appending is one write (releases and
//! grants are hot; a second write per append cost about a third of the storage throughput):
//! the length `n` is where the entries stop, proven by entry `n - 1`'s inclusion and entry
//! `n`'s exclusion, and found by [`StateList::find_length`] in `O(log n)` reads. Entries are
//! never removed: a revoked consent stays listed and its [`Consent`] value shows the
//! revocation. An [`IndexList`] pairs a list of ids with the key of the value each id names,
//! so one answer proves both. A list owner of variable length (an organisation name) is
//! hashed to keep the key layout's one variable-length field last.
//!
//! The authenticated tree (docs/architecture.md § Authenticated state) stores each entry at
//! `SHA-256(key)`; see [`crate::proof`]. A [`StateKey`] carries the value type, so a client that
//! builds a key here also knows how to decode what a node proves for it.

use crate::values::{
    AccessLogEntry, Account, BlockInfo, ChainConfig, Consent, Membership, Org, PkgState, Record,
    StateValue, StoragePointer,
};
use crate::values::{AccumulatorState, Attestation, Circuit, Enrolment, Exclusivity, Proxy, Study};
use crate::values::{Candidate, Delegation, SlashRecord, Unbonding, ValidatorSet};
use crate::values::{CheckpointedHeader, MedConfig, MedTip};
use crate::values::{EmergencyRecord, EmrEntryRecord, VouchingKey};
use crate::values::{EpochState, Escrow, LedgerEntry, Output, Supply, TokenConfig};
use crate::values::{IdentityRecord, Licence, Revocation};
use medchain_types::{
    Address, ConsentId, ContentHash, DealerLogBytes, EmergencyId, EnrolmentId, EntryId, EscrowId,
    Hash32, IdentityName, OrgName, Purpose, RecordId, StudyId, token::OutPoint,
};
use std::{fmt, marker::PhantomData};

/// Namespace of [`chain_config`].
pub const CHAIN_CONFIG: &[u8] = b"cfg/chain";
/// Namespace of [`block_info`].
pub const BLOCK_INFO: &[u8] = b"cfg/block";
/// Namespace of [`account`].
pub const ACCOUNT: &[u8] = b"acct/";
/// Namespace of [`org`].
pub const ORG: &[u8] = b"org/";
/// Namespace of [`membership`].
pub const MEMBER: &[u8] = b"member/";
/// Namespace of [`record`].
pub const RECORD: &[u8] = b"rec/";
/// Namespace of [`record_by_hash`].
pub const RECORD_BY_HASH: &[u8] = b"rechash/";
/// Namespace of [`storage_pointer`].
pub const STORAGE_POINTER: &[u8] = b"store/";
/// Namespace of [`consent`].
pub const CONSENT: &[u8] = b"consent/";
/// Namespace of [`grant`].
pub const GRANT: &[u8] = b"grant/";
/// Namespace of [`access_log_entry`].
pub const ACCESS_LOG: &[u8] = b"log/";
/// Namespace of [`access_log_len`].
pub const ACCESS_LOG_LEN: &[u8] = b"logseq/";
/// Namespace of [`pkg`].
pub const PKG: &[u8] = b"cfg/pkg";
/// Namespace of [`pkg_deal`].
pub const PKG_DEAL: &[u8] = b"pkgdeal/";

/// Namespace of [`patient_records`].
pub const PATIENT_RECORDS: &[u8] = b"patrec/";
/// Namespace of [`patient_consents`].
pub const PATIENT_CONSENTS: &[u8] = b"patcon/";
/// Namespace of [`org_members`].
pub const ORG_MEMBERS: &[u8] = b"orgmem/";
/// Namespace of [`orgs`].
pub const ORGS: &[u8] = b"orgs/";

// Identity, licence and revocation list (issue 8).
/// Namespace of [`identity`].
pub const IDENTITY: &[u8] = b"ident/";
/// Namespace of [`identity_of`].
pub const IDENTITY_OF: &[u8] = b"identof/";
/// Namespace of [`licence`].
pub const LICENCE: &[u8] = b"lic/";
/// Namespace of [`revocation`].
pub const REVOCATION: &[u8] = b"revoked/";

// EMR entries, vouching keys and emergencies (issue 9).
/// Namespace of [`entry`].
pub const ENTRY: &[u8] = b"entry/";
/// Namespace of [`patient_entries`].
pub const PATIENT_ENTRIES: &[u8] = b"entries/";
/// Namespace of [`vouching_key`].
pub const VOUCHING_KEY: &[u8] = b"vouch/";
/// Namespace of [`emergency`].
pub const EMERGENCY: &[u8] = b"emerg/";
/// Namespace of [`patient_notifications`].
pub const PATIENT_NOTIFICATIONS: &[u8] = b"notif/";
/// Namespace of [`emergency_by_message`].
pub const EMERGENCY_BY_MESSAGE: &[u8] = b"emergreq/";

// Lists the portal shows (issue 10).
/// Namespace of [`licences`].
pub const LICENCES: &[u8] = b"liclist/";
/// Namespace of [`emergencies`].
pub const EMERGENCIES: &[u8] = b"emerglist/";
/// Namespace of [`grantee_consents`].
pub const GRANTEE_CONSENTS: &[u8] = b"grantcon/";

// Tokens (issue 11).
/// Namespace of [`token_config`].
pub const TOKEN_CONFIG: &[u8] = b"cfg/tokens";
/// Namespace of [`supply`].
pub const SUPPLY: &[u8] = b"cfg/supply";
/// Namespace of [`epoch_state`].
pub const EPOCH_STATE: &[u8] = b"cfg/epoch";
/// Namespace of [`output`].
pub const UTXO: &[u8] = b"utxo/";
/// Namespace of [`held`].
pub const HELD: &[u8] = b"held/";
/// Namespace of [`owner_outputs`].
pub const OWNER_OUTPUTS: &[u8] = b"outs/";
/// Namespace of [`token_history`].
pub const TOKEN_HISTORY: &[u8] = b"tokhist/";
/// Namespace of [`escrow`].
pub const ESCROW: &[u8] = b"escrow/";
// Staking, election and slashing (issue 11).
/// Namespace of [`candidate`].
pub const CANDIDATE: &[u8] = b"cand/";
/// Namespace of [`candidates`].
pub const CANDIDATES: &[u8] = b"cands/";
/// Namespace of [`org_candidates`].
pub const ORG_CANDIDATES: &[u8] = b"orgcands/";
/// Namespace of [`delegation`].
pub const DELEGATION: &[u8] = b"deleg/";
/// Namespace of [`unbonding`].
pub const UNBONDING: &[u8] = b"unbond/";
/// Namespace of [`validator_set`].
pub const VALIDATOR_SET: &[u8] = b"vset/";
/// Namespace of [`slash`].
pub const SLASHED: &[u8] = b"slashed/";
// Research market (issue 12).
/// Namespace of [`circuit`].
pub const CIRCUIT: &[u8] = b"zkcircuit/";
/// Namespace of [`nullifier_key`].
pub const NULLIFIER_KEY: &[u8] = b"nullkey/";
/// Namespace of [`attestation`].
pub const ATTESTED: &[u8] = b"attested/";
/// Namespace of [`accumulator`].
pub const ACCUMULATOR: &[u8] = b"cfg/accumulator";
/// Namespace of [`accumulator_root`].
pub const ACCUMULATOR_ROOT: &[u8] = b"accroot/";
/// Namespace of [`attested_commitments`].
pub const ATTESTED_COMMITMENTS: &[u8] = b"attlist/";
/// Namespace of [`proxy`].
pub const PROXY: &[u8] = b"proxy/";
/// Namespace of [`study`].
pub const STUDY: &[u8] = b"study/";
/// Namespace of [`studies`].
pub const STUDIES: &[u8] = b"studies/";
/// Namespace of [`study_nullifier`].
pub const STUDY_NULLIFIER: &[u8] = b"studynull/";
/// Namespace of [`exclusivity`].
pub const EXCLUSIVITY: &[u8] = b"exclnull/";
/// Namespace of [`enrolment`].
pub const ENROLMENT: &[u8] = b"enrol/";
/// Namespace of [`study_enrolments`].
pub const STUDY_ENROLMENTS: &[u8] = b"studyenrol/";
/// Namespace of [`reencryptions`].
pub const REENCRYPTIONS: &[u8] = b"reenc/";
// The MED chain's checkpoints (issue 13).
/// Namespace of [`med_config`].
pub const MED_CONFIG: &[u8] = b"cfg/med";
/// Namespace of [`med_tip`].
pub const MED_TIP: &[u8] = b"med/tip";
/// Namespace of [`med_header`].
pub const MED_HEADER: &[u8] = b"med/header/";

/// Longest key the layout produces (`grant/` + 32 + 32 + 1); bounds decoding of proofs.
pub const MAX_KEY_LEN: usize = 128;

/// A state key and the type of the value stored under it.
pub struct StateKey<V> {
    bytes: Vec<u8>,
    value: PhantomData<fn() -> V>,
}

impl<V: StateValue> StateKey<V> {
    fn new(parts: &[&[u8]]) -> Self {
        Self {
            bytes: parts.concat(),
            value: PhantomData,
        }
    }

    /// The raw key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Decodes a value read (or proven) under this key.
    pub fn decode(&self, bytes: &[u8]) -> Result<V, crate::StateError> {
        V::from_bytes(bytes).map_err(|reason| crate::StateError::Corrupt {
            key: hex::encode(&self.bytes),
            reason,
        })
    }
}

impl<V> Clone for StateKey<V> {
    fn clone(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
            value: PhantomData,
        }
    }
}

impl<V> PartialEq for StateKey<V> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl<V> Eq for StateKey<V> {}

impl<V> fmt::Debug for StateKey<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateKey({})", hex::encode(&self.bytes))
    }
}

/// `cfg/chain`: the chain id and the regulator.
pub fn chain_config() -> StateKey<ChainConfig> {
    StateKey::new(&[CHAIN_CONFIG])
}

/// `cfg/block`: the last executed block's height and time.
pub fn block_info() -> StateKey<BlockInfo> {
    StateKey::new(&[BLOCK_INFO])
}

/// `cfg/pkg`: the threshold PKG's public key material, once the DKG completed.
pub fn pkg() -> StateKey<PkgState> {
    StateKey::new(&[PKG])
}

/// `pkgdeal/<round><address>`: the signed dealer log validator `dealer` published for DKG
/// round `round`, as accepted by the chain.
pub fn pkg_deal(round: u64, dealer: &Address) -> StateKey<DealerLogBytes> {
    StateKey::new(&[PKG_DEAL, &round.to_be_bytes(), dealer.as_bytes()])
}

/// `acct/<address>`: an account's nonce.
pub fn account(address: &Address) -> StateKey<Account> {
    StateKey::new(&[ACCOUNT, address.as_bytes()])
}

/// `org/<name>`: an organisation.
pub fn org(name: &OrgName) -> StateKey<Org> {
    StateKey::new(&[ORG, name.as_str().as_bytes()])
}

/// `member/<address>`: the organisation an address belongs to.
pub fn membership(address: &Address) -> StateKey<Membership> {
    StateKey::new(&[MEMBER, address.as_bytes()])
}

/// `rec/<record id>`: a released record.
pub fn record(id: &RecordId) -> StateKey<Record> {
    StateKey::new(&[RECORD, id.as_bytes()])
}

/// `rechash/<patient><hEMR>`: the record released for this patient and hash.
pub fn record_by_hash(patient: &Address, record_hash: &ContentHash) -> StateKey<RecordId> {
    StateKey::new(&[RECORD_BY_HASH, patient.as_bytes(), record_hash.as_bytes()])
}

/// `store/<record id>`: a record's newest storage pointer.
pub fn storage_pointer(record: &RecordId) -> StateKey<StoragePointer> {
    StateKey::new(&[STORAGE_POINTER, record.as_bytes()])
}

/// `consent/<consent id>`: a consent.
pub fn consent(id: &ConsentId) -> StateKey<Consent> {
    StateKey::new(&[CONSENT, id.as_bytes()])
}

/// `grant/<grantee><record id><purpose>`: the newest consent for this triple.
pub fn grant(grantee: &Address, record: &RecordId, purpose: Purpose) -> StateKey<ConsentId> {
    StateKey::new(&[
        GRANT,
        grantee.as_bytes(),
        record.as_bytes(),
        &[purpose as u8],
    ])
}

/// `log/<patient><seq>`: a patient's `seq`-th access log entry (from 0).
pub fn access_log_entry(patient: &Address, seq: u64) -> StateKey<AccessLogEntry> {
    StateKey::new(&[ACCESS_LOG, patient.as_bytes(), &seq.to_be_bytes()])
}

/// `logseq/<patient>`: how many access log entries the patient has.
pub fn access_log_len(patient: &Address) -> StateKey<u64> {
    StateKey::new(&[ACCESS_LOG_LEN, patient.as_bytes()])
}

/// `log/<patient>`: the prefix of every access log entry of a patient, for range scans.
pub fn access_log_prefix(patient: &Address) -> Vec<u8> {
    [ACCESS_LOG, patient.as_bytes()].concat()
}

/// An append-only, gapless list in the state: entry `seq` (from 0) under
/// `<namespace><owner><seq u64 BE>`. Its length is not stored: it is the first absent entry.
pub struct StateList<E> {
    namespace: &'static [u8],
    owner: Vec<u8>,
    entry: PhantomData<fn() -> E>,
}

impl<E: StateValue> StateList<E> {
    fn new(namespace: &'static [u8], owner: &[u8]) -> Self {
        Self {
            namespace,
            owner: owner.to_vec(),
            entry: PhantomData,
        }
    }

    /// The key of entry `seq`.
    pub fn entry(&self, seq: u64) -> StateKey<E> {
        StateKey::new(&[self.namespace, &self.owner, &seq.to_be_bytes()])
    }

    /// The list's length: the first `seq` whose entry is absent, found with `exists` (does
    /// entry `seq` exist?) in at most `2 log2(length) + 2` calls, doubling from 0 and then
    /// halving. Correct because appends leave no gaps.
    pub fn find_length<Err>(
        &self,
        mut exists: impl FnMut(u64) -> Result<bool, Err>,
    ) -> Result<u64, Err> {
        if !exists(0)? {
            return Ok(0);
        }
        // Invariant: entry `present` exists and entry `absent` does not (no list reaches
        // u64::MAX entries: each costs a transaction).
        let (mut present, mut step) = (0u64, 1u64);
        let mut absent = loop {
            let probe = present.saturating_add(step);
            if probe == u64::MAX || !exists(probe)? {
                break probe;
            }
            present = probe;
            step = step.saturating_mul(2);
        };
        while absent - present > 1 {
            let middle = present + (absent - present) / 2;
            if exists(middle)? {
                present = middle;
            } else {
                absent = middle;
            }
        }
        Ok(absent)
    }
}

impl<E> Clone for StateList<E> {
    fn clone(&self) -> Self {
        Self {
            namespace: self.namespace,
            owner: self.owner.clone(),
            entry: PhantomData,
        }
    }
}

impl<E> fmt::Debug for StateList<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StateList({}{})",
            String::from_utf8_lossy(self.namespace),
            hex::encode(&self.owner)
        )
    }
}

/// A list of ids and the key of the value each id names (a record id and its record), so a
/// node proves an entry and what it points at against the same root.
pub struct IndexList<E, V> {
    /// The ids, in order.
    pub list: StateList<E>,
    /// The key of the value an id names.
    pub item: fn(&E) -> StateKey<V>,
}

impl<E, V> Clone for IndexList<E, V> {
    fn clone(&self) -> Self {
        Self {
            list: self.list.clone(),
            item: self.item,
        }
    }
}

impl<E, V> fmt::Debug for IndexList<E, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.list.fmt(f)
    }
}

/// A patient's records, in release order (S1-release): `patrec/<patient><seq>` → record id.
pub fn patient_records(patient: &Address) -> IndexList<RecordId, Record> {
    IndexList {
        list: StateList::new(PATIENT_RECORDS, patient.as_bytes()),
        item: record,
    }
}

/// A patient's consents, in grant order, revoked ones included (S1-sharing):
/// `patcon/<patient><seq>` → consent id.
pub fn patient_consents(patient: &Address) -> IndexList<ConsentId, Consent> {
    IndexList {
        list: StateList::new(PATIENT_CONSENTS, patient.as_bytes()),
        item: consent,
    }
}

/// An organisation's members, founder first, in joining order (S2-register):
/// `orgmem/<SHA-256(name)><seq>` → address.
pub fn org_members(name: &OrgName) -> IndexList<Address, Membership> {
    let owner = ContentHash::of(name.as_str().as_bytes());
    IndexList {
        list: StateList::new(ORG_MEMBERS, owner.as_bytes()),
        item: membership,
    }
}

/// Every organisation, in registration order (S2-register): `orgs/<seq>` → name.
pub fn orgs() -> IndexList<OrgName, Org> {
    IndexList {
        list: StateList::new(ORGS, &[]),
        item: org,
    }
}

// Identity, licence and revocation list (issue 8). Identity names are variable-length, so
// they are hashed: the key's one variable-length field stays last, and a name of any length
// costs the same key size.

/// `ident/<SHA-256(identity)>`: an enrolled identity and the address it is bound to.
pub fn identity(name: &IdentityName) -> StateKey<IdentityRecord> {
    StateKey::new(&[
        IDENTITY,
        ContentHash::of(name.as_str().as_bytes()).as_bytes(),
    ])
}

/// `identof/<address>`: the identity bound to an address (at most one).
pub fn identity_of(address: &Address) -> StateKey<IdentityName> {
    StateKey::new(&[IDENTITY_OF, address.as_bytes()])
}

/// `lic/<SHA-256(doctor)>`: a doctor's licence.
pub fn licence(doctor: &IdentityName) -> StateKey<Licence> {
    StateKey::new(&[
        LICENCE,
        ContentHash::of(doctor.as_str().as_bytes()).as_bytes(),
    ])
}

/// `revoked/<SHA-256(doctor)>`: a doctor's entry on the revocation list (S3-revoke). Absent
/// means not revoked, so "not revoked at height h" is one exclusion proof under the state
/// root of the header at h.
pub fn revocation(doctor: &IdentityName) -> StateKey<Revocation> {
    StateKey::new(&[
        REVOCATION,
        ContentHash::of(doctor.as_str().as_bytes()).as_bytes(),
    ])
}

// EMR entries, vouching keys and emergencies (issue 9).

/// `entry/<entry id>`: an encrypted EMR entry (S3-entry).
pub fn entry(id: &EntryId) -> StateKey<EmrEntryRecord> {
    StateKey::new(&[ENTRY, id.as_bytes()])
}

/// A patient's EMR entries, in filing order (S3-entry): `entries/<patient><seq>` → entry id.
pub fn patient_entries(patient: &Address) -> IndexList<EntryId, EmrEntryRecord> {
    IndexList {
        list: StateList::new(PATIENT_ENTRIES, patient.as_bytes()),
        item: entry,
    }
}

/// `vouch/<address>`: a doctor's or hospital's vouching key (S3-emergency).
pub fn vouching_key(address: &Address) -> StateKey<VouchingKey> {
    StateKey::new(&[VOUCHING_KEY, address.as_bytes()])
}

/// `emerg/<emergency id>`: a vouched emergency request (S3-emergency).
pub fn emergency(id: &EmergencyId) -> StateKey<EmergencyRecord> {
    StateKey::new(&[EMERGENCY, id.as_bytes()])
}

/// `emergreq/<SHA-256(htxu)>`: the emergency request filed for the vouched message `htxu`
/// ([`medchain_types::emergency::emergency_message`]), so the same vouch is filed once.
pub fn emergency_by_message(htxu: &[u8]) -> StateKey<EmergencyId> {
    StateKey::new(&[EMERGENCY_BY_MESSAGE, ContentHash::of(htxu).as_bytes()])
}

/// The emergency requests for a patient's records, in filing order: the patient's
/// notifications (S3-emergency), `notif/<patient><seq>` → emergency id.
pub fn patient_notifications(patient: &Address) -> IndexList<EmergencyId, EmergencyRecord> {
    IndexList {
        list: StateList::new(PATIENT_NOTIFICATIONS, patient.as_bytes()),
        item: emergency,
    }
}

// Lists the portal shows (issue 10).

/// Every licensed doctor, in the order its licence was first issued (S3-register; a renewal
/// changes the licence, not the list): `liclist/<seq>` → doctor identity.
pub fn licences() -> IndexList<IdentityName, Licence> {
    IndexList {
        list: StateList::new(LICENCES, &[]),
        item: licence,
    }
}

/// Every emergency request, in filing order (S3-emergency): `emerglist/<seq>` → emergency id.
pub fn emergencies() -> IndexList<EmergencyId, EmergencyRecord> {
    IndexList {
        list: StateList::new(EMERGENCIES, &[]),
        item: emergency,
    }
}

/// The consents granted to `grantee`, in grant order, revoked ones included (S1-sharing):
/// `grantcon/<grantee><seq>` → consent id.
pub fn grantee_consents(grantee: &Address) -> IndexList<ConsentId, Consent> {
    IndexList {
        list: StateList::new(GRANTEE_CONSENTS, grantee.as_bytes()),
        item: consent,
    }
}

// Tokens (issue 11, S1-tokens, S1-utxo).

/// `cfg/tokens`: the token economy's parameters; absent on a chain without tokens.
pub fn token_config() -> StateKey<TokenConfig> {
    StateKey::new(&[TOKEN_CONFIG])
}

/// `cfg/supply`: the supply's accounting.
pub fn supply() -> StateKey<Supply> {
    StateKey::new(&[SUPPLY])
}

/// `cfg/epoch`: the current epoch and its fee pool.
pub fn epoch_state() -> StateKey<EpochState> {
    StateKey::new(&[EPOCH_STATE])
}

/// `utxo/<tx id><index u16 BE>`: an unspent output.
pub fn output(point: &OutPoint) -> StateKey<Output> {
    StateKey::new(&[UTXO, point.tx.as_bytes(), &point.index.to_be_bytes()])
}

/// `held/<address>`: the sum of the unspent outputs locked to `address` alone (absent = 0).
pub fn held(address: &Address) -> StateKey<u64> {
    StateKey::new(&[HELD, address.as_bytes()])
}

/// Every output locked to `owner`'s key, or to a k-of-m lock naming it, in creation order,
/// spent ones included (`outs/<owner><seq>` → outpoint). Each entry names its `utxo/` key, so
/// one answer proves an entry and whether its output is still unspent.
pub fn owner_outputs(owner: &Address) -> IndexList<OutPoint, Output> {
    IndexList {
        list: StateList::new(OWNER_OUTPUTS, owner.as_bytes()),
        item: output,
    }
}

/// An account's token history (`tokhist/<address><seq>`).
pub fn token_history(address: &Address) -> StateList<LedgerEntry> {
    StateList::new(TOKEN_HISTORY, address.as_bytes())
}

/// `escrow/<escrow id>`: an escrow.
pub fn escrow(id: &EscrowId) -> StateKey<Escrow> {
    StateKey::new(&[ESCROW, id.as_bytes()])
}

// Staking, election and slashing (issue 11, S1-dpos).

/// `cand/<address>`: a candidate validator (by node key) and its staking pool.
pub fn candidate(address: &Address) -> StateKey<Candidate> {
    StateKey::new(&[CANDIDATE, address.as_bytes()])
}

/// Every candidate, in registration order, genesis validators first: `cands/<seq>` → node key.
pub fn candidates() -> IndexList<Address, Candidate> {
    IndexList {
        list: StateList::new(CANDIDATES, &[]),
        item: candidate,
    }
}

/// A hospital's registered candidates, in registration order (`orgcands/<SHA-256(org)><seq>` →
/// node key); its length is what caps an organisation's registrations.
pub fn org_candidates(org: &OrgName) -> IndexList<Address, Candidate> {
    let owner = ContentHash::of(org.as_str().as_bytes());
    IndexList {
        list: StateList::new(ORG_CANDIDATES, owner.as_bytes()),
        item: candidate,
    }
}

/// `deleg/<candidate><delegator>`: a delegator's shares of a candidate's bonded pool.
pub fn delegation(candidate: &Address, delegator: &Address) -> StateKey<Delegation> {
    StateKey::new(&[DELEGATION, candidate.as_bytes(), delegator.as_bytes()])
}

/// `unbond/<candidate><delegator>`: a delegator's shares of a candidate's unbonding pool.
pub fn unbonding(candidate: &Address, delegator: &Address) -> StateKey<Unbonding> {
    StateKey::new(&[UNBONDING, candidate.as_bytes(), delegator.as_bytes()])
}

/// `vset/<epoch>`: the validators elected for `epoch` (epoch 0's are genesis's). Big-endian,
/// so the sets sort in epoch order.
pub fn validator_set(epoch: u64) -> StateKey<ValidatorSet> {
    StateKey::new(&[VALIDATOR_SET, &epoch.to_be_bytes()])
}

/// `slashed/<epoch><offender>`: the slash of `offender` for equivocating in `epoch`; absent
/// means not slashed for that epoch.
pub fn slash(epoch: u64, offender: &Address) -> StateKey<SlashRecord> {
    StateKey::new(&[SLASHED, &epoch.to_be_bytes(), offender.as_bytes()])
}

// Research market (issue 12, S4-flow, S4-exclusive).

/// `zkcircuit/<vk digest>`: a registered circuit, named by its verifying key's digest.
pub fn circuit(digest: &Hash32) -> StateKey<Circuit> {
    StateKey::new(&[CIRCUIT, digest.as_ref()])
}

/// `nullkey/<address>`: a patient's nullifier key (set once).
pub fn nullifier_key(patient: &Address) -> StateKey<Hash32> {
    StateKey::new(&[NULLIFIER_KEY, patient.as_bytes()])
}

/// `attested/<record id>`: a hospital's commitment to a record.
pub fn attestation(record: &RecordId) -> StateKey<Attestation> {
    StateKey::new(&[ATTESTED, record.as_bytes()])
}

/// `cfg/accumulator`: the accumulator of attested commitments; absent before the first.
pub fn accumulator() -> StateKey<AccumulatorState> {
    StateKey::new(&[ACCUMULATOR])
}

/// `accroot/<root>`: the number of leaves the accumulator had when its root was `root`. Every
/// root stays, so a proof made against an older root still enrols.
pub fn accumulator_root(root: &Hash32) -> StateKey<u64> {
    StateKey::new(&[ACCUMULATOR_ROOT, root.as_ref()])
}

/// Every attested commitment, in leaf order (`attlist/<seq>`): what a patient rebuilds the
/// accumulator from to prove membership without asking for its own path.
pub fn attested_commitments() -> StateList<Hash32> {
    StateList::new(ATTESTED_COMMITMENTS, &[])
}

/// `proxy/<address>`: a registered re-encryption proxy.
pub fn proxy(address: &Address) -> StateKey<Proxy> {
    StateKey::new(&[PROXY, address.as_bytes()])
}

/// `study/<study id>`: a study contract.
pub fn study(id: &StudyId) -> StateKey<Study> {
    StateKey::new(&[STUDY, id.as_bytes()])
}

/// Every study, in publication order (`studies/<seq>` → study id).
pub fn studies() -> IndexList<StudyId, Study> {
    IndexList {
        list: StateList::new(STUDIES, &[]),
        item: study,
    }
}

/// `studynull/<study id><nullifier>`: the enrolment that used `nullifier` in `study`.
pub fn study_nullifier(study: &StudyId, nullifier: &Hash32) -> StateKey<EnrolmentId> {
    StateKey::new(&[STUDY_NULLIFIER, study.as_bytes(), nullifier.as_ref()])
}

/// `exclnull/<exclusivity nullifier>`: how a record's exclusivity nullifier was used.
pub fn exclusivity(nullifier: &Hash32) -> StateKey<Exclusivity> {
    StateKey::new(&[EXCLUSIVITY, nullifier.as_ref()])
}

/// `enrol/<enrolment id>`: an accepted enrolment.
pub fn enrolment(id: &EnrolmentId) -> StateKey<Enrolment> {
    StateKey::new(&[ENROLMENT, id.as_bytes()])
}

/// A study's enrolments, in order (`studyenrol/<study id><seq>` → enrolment id).
pub fn study_enrolments(study: &StudyId) -> IndexList<EnrolmentId, Enrolment> {
    IndexList {
        list: StateList::new(STUDY_ENROLMENTS, study.as_bytes()),
        item: enrolment,
    }
}

/// The proxies that logged re-encrypting an enrolment's record, in order
/// (`reenc/<enrolment id><seq>` → proxy address).
pub fn reencryptions(enrolment: &EnrolmentId) -> StateList<Address> {
    StateList::new(REENCRYPTIONS, enrolment.as_bytes())
}

// The MED chain's checkpoints (issue 13, S3-dual, S3-supervise).

/// `cfg/med`: the MED chain's parameters, from the genesis; absent on a chain without MED.
pub fn med_config() -> StateKey<MedConfig> {
    StateKey::new(&[MED_CONFIG])
}

/// `med/tip`: the newest checkpointed Mblock; absent before the first checkpoint.
pub fn med_tip() -> StateKey<MedTip> {
    StateKey::new(&[MED_TIP])
}

/// `med/header/<hash>`: the header of checkpointed Mblock `hash`.
pub fn med_header(hash: &Hash32) -> StateKey<CheckpointedHeader> {
    StateKey::new(&[MED_HEADER, hash.as_ref()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{address, record_id};
    use std::collections::BTreeSet;

    #[test]
    fn namespaces_are_distinct_and_no_key_prefixes_another_namespace() {
        let namespaces = [
            CHAIN_CONFIG,
            BLOCK_INFO,
            ACCOUNT,
            ORG,
            MEMBER,
            RECORD,
            RECORD_BY_HASH,
            STORAGE_POINTER,
            CONSENT,
            GRANT,
            ACCESS_LOG,
            ACCESS_LOG_LEN,
            PATIENT_RECORDS,
            PATIENT_CONSENTS,
            ORG_MEMBERS,
            ORGS,
            IDENTITY,
            IDENTITY_OF,
            LICENCE,
            REVOCATION,
            PKG,
            PKG_DEAL,
            ENTRY,
            PATIENT_ENTRIES,
            VOUCHING_KEY,
            EMERGENCY,
            PATIENT_NOTIFICATIONS,
            EMERGENCY_BY_MESSAGE,
            LICENCES,
            EMERGENCIES,
            GRANTEE_CONSENTS,
            TOKEN_CONFIG,
            SUPPLY,
            EPOCH_STATE,
            UTXO,
            HELD,
            OWNER_OUTPUTS,
            TOKEN_HISTORY,
            ESCROW,
            CANDIDATE,
            CANDIDATES,
            ORG_CANDIDATES,
            DELEGATION,
            UNBONDING,
            VALIDATOR_SET,
            SLASHED,
            CIRCUIT,
            NULLIFIER_KEY,
            ATTESTED,
            ACCUMULATOR,
            ACCUMULATOR_ROOT,
            ATTESTED_COMMITMENTS,
            PROXY,
            STUDY,
            STUDIES,
            STUDY_NULLIFIER,
            EXCLUSIVITY,
            ENROLMENT,
            STUDY_ENROLMENTS,
            REENCRYPTIONS,
            MED_CONFIG,
            MED_TIP,
            MED_HEADER,
        ];
        for (i, a) in namespaces.iter().enumerate() {
            for (j, b) in namespaces.iter().enumerate() {
                if i != j {
                    assert!(
                        !b.starts_with(a),
                        "{:?} is a prefix of {:?}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
    }

    #[test]
    fn keys_are_injective_and_bounded() {
        let patient = address(1);
        let name = OrgName::new("a".repeat(OrgName::MAX_LEN)).unwrap();
        let keys: Vec<Vec<u8>> = vec![
            chain_config().as_bytes().to_vec(),
            block_info().as_bytes().to_vec(),
            pkg().as_bytes().to_vec(),
            pkg_deal(0, &patient).as_bytes().to_vec(),
            pkg_deal(1, &patient).as_bytes().to_vec(),
            pkg_deal(0, &address(2)).as_bytes().to_vec(),
            account(&patient).as_bytes().to_vec(),
            account(&address(2)).as_bytes().to_vec(),
            org(&name).as_bytes().to_vec(),
            membership(&patient).as_bytes().to_vec(),
            record(&record_id(1)).as_bytes().to_vec(),
            record_by_hash(&patient, &ContentHash::of(b"x"))
                .as_bytes()
                .to_vec(),
            storage_pointer(&record_id(1)).as_bytes().to_vec(),
            consent(&ConsentId(record_id(1).0)).as_bytes().to_vec(),
            grant(&patient, &record_id(1), Purpose::Treatment)
                .as_bytes()
                .to_vec(),
            grant(&patient, &record_id(1), Purpose::Research)
                .as_bytes()
                .to_vec(),
            access_log_entry(&patient, 0).as_bytes().to_vec(),
            access_log_entry(&patient, 1).as_bytes().to_vec(),
            access_log_len(&patient).as_bytes().to_vec(),
            patient_records(&patient).list.entry(0).as_bytes().to_vec(),
            patient_consents(&patient).list.entry(0).as_bytes().to_vec(),
            org_members(&name).list.entry(u64::MAX).as_bytes().to_vec(),
            org_members(&org_name_of("b"))
                .list
                .entry(0)
                .as_bytes()
                .to_vec(),
            orgs().list.entry(0).as_bytes().to_vec(),
            orgs().list.entry(1).as_bytes().to_vec(),
            identity(&identity_name("dr-kim")).as_bytes().to_vec(),
            identity(&identity_name(&"a".repeat(IdentityName::MAX_LEN)))
                .as_bytes()
                .to_vec(),
            identity_of(&patient).as_bytes().to_vec(),
            licence(&identity_name("dr-kim")).as_bytes().to_vec(),
            revocation(&identity_name("dr-kim")).as_bytes().to_vec(),
            revocation(&identity_name("dr-lee")).as_bytes().to_vec(),
            entry(&EntryId(record_id(1).0)).as_bytes().to_vec(),
            patient_entries(&patient).list.entry(0).as_bytes().to_vec(),
            vouching_key(&patient).as_bytes().to_vec(),
            emergency(&EmergencyId(record_id(1).0)).as_bytes().to_vec(),
            emergency_by_message(b"htxu").as_bytes().to_vec(),
            emergency_by_message(b"another htxu").as_bytes().to_vec(),
            patient_notifications(&patient)
                .list
                .entry(0)
                .as_bytes()
                .to_vec(),
            licences().list.entry(0).as_bytes().to_vec(),
            emergencies().list.entry(0).as_bytes().to_vec(),
            grantee_consents(&patient).list.entry(0).as_bytes().to_vec(),
            grantee_consents(&address(2))
                .list
                .entry(0)
                .as_bytes()
                .to_vec(),
            token_config().as_bytes().to_vec(),
            supply().as_bytes().to_vec(),
            epoch_state().as_bytes().to_vec(),
            output(&OutPoint {
                tx: medchain_types::TxId(record_id(1).0),
                index: 0,
            })
            .as_bytes()
            .to_vec(),
            output(&OutPoint {
                tx: medchain_types::TxId(record_id(1).0),
                index: u16::MAX,
            })
            .as_bytes()
            .to_vec(),
            held(&patient).as_bytes().to_vec(),
            owner_outputs(&patient).list.entry(0).as_bytes().to_vec(),
            owner_outputs(&address(2)).list.entry(0).as_bytes().to_vec(),
            token_history(&patient).entry(0).as_bytes().to_vec(),
            token_history(&patient).entry(1).as_bytes().to_vec(),
            escrow(&EscrowId(record_id(1).0)).as_bytes().to_vec(),
            candidate(&patient).as_bytes().to_vec(),
            candidate(&address(2)).as_bytes().to_vec(),
            candidates().list.entry(0).as_bytes().to_vec(),
            candidates().list.entry(1).as_bytes().to_vec(),
            org_candidates(&name).list.entry(0).as_bytes().to_vec(),
            org_candidates(&org_name_of("b"))
                .list
                .entry(0)
                .as_bytes()
                .to_vec(),
            delegation(&patient, &address(2)).as_bytes().to_vec(),
            delegation(&address(2), &patient).as_bytes().to_vec(),
            unbonding(&patient, &address(2)).as_bytes().to_vec(),
            unbonding(&address(2), &patient).as_bytes().to_vec(),
            validator_set(0).as_bytes().to_vec(),
            validator_set(1).as_bytes().to_vec(),
            slash(0, &patient).as_bytes().to_vec(),
            slash(1, &patient).as_bytes().to_vec(),
            slash(0, &address(2)).as_bytes().to_vec(),
            circuit(&record_id(1).0).as_bytes().to_vec(),
            nullifier_key(&patient).as_bytes().to_vec(),
            attestation(&record_id(1)).as_bytes().to_vec(),
            accumulator().as_bytes().to_vec(),
            accumulator_root(&record_id(1).0).as_bytes().to_vec(),
            attested_commitments().entry(0).as_bytes().to_vec(),
            proxy(&patient).as_bytes().to_vec(),
            study(&StudyId(record_id(1).0)).as_bytes().to_vec(),
            studies().list.entry(0).as_bytes().to_vec(),
            study_nullifier(&StudyId(record_id(1).0), &record_id(2).0)
                .as_bytes()
                .to_vec(),
            study_nullifier(&StudyId(record_id(2).0), &record_id(1).0)
                .as_bytes()
                .to_vec(),
            exclusivity(&record_id(1).0).as_bytes().to_vec(),
            enrolment(&EnrolmentId(record_id(1).0)).as_bytes().to_vec(),
            study_enrolments(&StudyId(record_id(1).0))
                .list
                .entry(0)
                .as_bytes()
                .to_vec(),
            reencryptions(&EnrolmentId(record_id(1).0))
                .entry(0)
                .as_bytes()
                .to_vec(),
            med_config().as_bytes().to_vec(),
            med_tip().as_bytes().to_vec(),
            med_header(&record_id(1).0).as_bytes().to_vec(),
            med_header(&record_id(2).0).as_bytes().to_vec(),
        ];
        let distinct: BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        assert!(keys.iter().all(|key| key.len() <= MAX_KEY_LEN));
    }

    fn identity_name(text: &str) -> IdentityName {
        IdentityName::new(text).unwrap()
    }

    fn org_name_of(text: &str) -> OrgName {
        OrgName::new(text).unwrap()
    }

    #[test]
    fn list_entries_point_at_the_keys_of_what_they_name() {
        let patient = address(1);
        let id = record_id(4);
        assert_eq!((patient_records(&patient).item)(&id), record(&id));
        let consent_id = ConsentId(id.0);
        assert_eq!(
            (patient_consents(&patient).item)(&consent_id),
            consent(&consent_id)
        );
        assert_eq!(
            (org_members(&org_name_of("a")).item)(&patient),
            membership(&patient)
        );
        assert_eq!((orgs().item)(&org_name_of("a")), org(&org_name_of("a")));
        let doctor = identity_name("dr-kim");
        assert_eq!((licences().item)(&doctor), licence(&doctor));
        let emergency_id = EmergencyId(id.0);
        assert_eq!(
            (emergencies().item)(&emergency_id),
            emergency(&emergency_id)
        );
        assert_eq!(
            (grantee_consents(&patient).item)(&consent_id),
            consent(&consent_id)
        );
        let point = OutPoint {
            tx: medchain_types::TxId(id.0),
            index: 7,
        };
        assert_eq!((owner_outputs(&patient).item)(&point), output(&point));
        assert_eq!(
            output(&point).as_bytes(),
            [UTXO, point.tx.as_bytes(), &7u16.to_be_bytes()].concat()
        );
        assert_eq!((candidates().item)(&patient), candidate(&patient));
        assert_eq!(
            (org_candidates(&org_name_of("a")).item)(&patient),
            candidate(&patient)
        );
        assert_eq!(
            validator_set(258).as_bytes(),
            [VALIDATOR_SET, &258u64.to_be_bytes()].concat()
        );
        assert_eq!(
            grantee_consents(&patient).list.entry(3).as_bytes(),
            [GRANTEE_CONSENTS, patient.as_bytes(), &3u64.to_be_bytes()].concat()
        );
        assert_eq!(
            patient_records(&patient).list.entry(3).as_bytes(),
            [PATIENT_RECORDS, patient.as_bytes(), &3u64.to_be_bytes()].concat()
        );
    }

    #[test]
    fn the_length_is_found_in_logarithmically_many_probes() {
        let list = orgs().list;
        for length in [0u64, 1, 2, 3, 7, 8, 9, 100, 1_000_000, u64::MAX - 1] {
            let mut probes = 0u32;
            let found = list
                .find_length(|seq| {
                    probes += 1;
                    Ok::<_, ()>(seq < length)
                })
                .unwrap();
            assert_eq!(found, length);
            let bound = 2 * (64 - length.leading_zeros()) + 2;
            assert!(
                probes <= bound,
                "{probes} probes for {length} (bound {bound})"
            );
        }
        // A failing probe is the caller's error.
        assert_eq!(
            list.find_length(|_| Err::<bool, _>("store down")),
            Err("store down")
        );
    }

    #[test]
    fn access_log_keys_sort_by_sequence_under_the_patient_prefix() {
        let patient = address(1);
        let prefix = access_log_prefix(&patient);
        let seqs = [0u64, 1, 255, 256, 70_000, u64::MAX];
        let keys: Vec<_> = seqs
            .iter()
            .map(|seq| access_log_entry(&patient, *seq))
            .collect();
        assert!(keys.iter().all(|key| key.as_bytes().starts_with(&prefix)));
        assert!(
            keys.windows(2)
                .all(|pair| pair[0].as_bytes() < pair[1].as_bytes())
        );
        assert!(
            !access_log_entry(&address(2), 0)
                .as_bytes()
                .starts_with(&prefix)
        );
    }

    #[test]
    fn a_key_decodes_only_its_own_value_type() {
        let key = account(&address(1));
        assert_eq!(
            key.decode(
                &Account {
                    nonce: 4,
                    balance: 0
                }
                .to_bytes()
            )
            .unwrap()
            .nonce,
            4
        );
        assert!(matches!(
            key.decode(&[1, 2, 3]),
            Err(crate::StateError::Corrupt { .. })
        ));
    }
}
