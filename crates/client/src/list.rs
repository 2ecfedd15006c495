//! Verified lists — a patient's records, consents, EMR entries and notifications, an
//! organisation's members, the organisations, the licences, every emergency request, the
//! consents granted to a grantee, an address's unspent outputs and token history, the
//! validator candidates, the studies and a study's enrolments, the attested commitments and an
//! enrolment's re-encryptions — and id-prefix resolution.
//!
//! A list page is accepted only if its header is final ([`LightClient::verify_header`]), the
//! list's length (lists have no gaps: entry `total - 1` exists, entry `total` does not) and
//! every entry and named value are proven against that one header's state root (no proof
//! from another height), and the entries are exactly the ones the proven length calls for,
//! in order from the page's start. A node can still serve an older
//! finalized state; it cannot add, drop, reorder or alter an entry.

use crate::{Client, ClientError, FinalizedHeader, LightClient, VerifyError, http::path_segment};
use medchain_api::{IdKind, IdPrefix, MAX_LIST_PAGE, ProvenListView};
use medchain_state::{
    ProvenValue, StateValue,
    keys::{self, IndexList, StateKey, StateList},
    values::{
        Candidate, Consent, EmergencyRecord, EmrEntryRecord, Enrolment, LedgerEntry, Licence,
        Membership, Org, Output, Record, Study,
    },
};
use medchain_types::{
    Address, ConsentId, EmergencyId, EnrolmentId, EntryId, Hash32, IdentityName, OrgName, RecordId,
    StudyId, TxId, token::OutPoint,
};

/// A list endpoint and the list its answer must prove.
#[derive(Clone, Debug)]
pub struct ListQuery<E, V> {
    path: String,
    index: IndexList<E, V>,
    /// Whether an entry may name a value that is gone (a spent output): such entries are left
    /// out of the verified page instead of failing it.
    skip_absent: bool,
}

impl<E, V> ListQuery<E, V> {
    fn new(path: String, index: IndexList<E, V>) -> Self {
        Self {
            path,
            index,
            skip_absent: false,
        }
    }

    /// The API path (`/v1/lists/...`), without paging.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The list (and the key of what each entry names) the answer must prove.
    pub fn index(&self) -> &IndexList<E, V> {
        &self.index
    }
}

impl ListQuery<RecordId, Record> {
    /// A patient's records, in release order (S1-release).
    pub fn patient_records(patient: &Address) -> Self {
        Self {
            path: format!("/v1/lists/records/{patient}"),
            index: keys::patient_records(patient),
            skip_absent: false,
        }
    }
}

impl ListQuery<ConsentId, Consent> {
    /// A patient's consents, in grant order, revoked ones included (S1-sharing).
    pub fn patient_consents(patient: &Address) -> Self {
        Self {
            path: format!("/v1/lists/consents/{patient}"),
            index: keys::patient_consents(patient),
            skip_absent: false,
        }
    }

    /// The consents granted to `grantee`, in grant order, revoked ones included (S1-sharing).
    pub fn grantee_consents(grantee: &Address) -> Self {
        Self {
            path: format!("/v1/lists/grantee-consents/{grantee}"),
            index: keys::grantee_consents(grantee),
            skip_absent: false,
        }
    }
}

impl ListQuery<EntryId, EmrEntryRecord> {
    /// A patient's encrypted EMR entries, in filing order (S3-entry).
    pub fn patient_entries(patient: &Address) -> Self {
        Self {
            path: format!("/v1/lists/entries/{patient}"),
            index: keys::patient_entries(patient),
            skip_absent: false,
        }
    }
}

impl ListQuery<EmergencyId, EmergencyRecord> {
    /// A patient's notifications: the emergency requests filed for its records, in filing
    /// order (S3-emergency).
    pub fn patient_notifications(patient: &Address) -> Self {
        Self {
            path: format!("/v1/lists/notifications/{patient}"),
            index: keys::patient_notifications(patient),
            skip_absent: false,
        }
    }

    /// Every emergency request, in filing order (S3-emergency).
    pub fn emergencies() -> Self {
        Self {
            path: "/v1/lists/emergencies".into(),
            index: keys::emergencies(),
            skip_absent: false,
        }
    }
}

impl ListQuery<Address, Membership> {
    /// An organisation's members, founder first (S2-register).
    pub fn org_members(name: &OrgName) -> Self {
        Self {
            path: format!("/v1/lists/members/{}", path_segment(name.as_str())),
            index: keys::org_members(name),
            skip_absent: false,
        }
    }
}

impl ListQuery<OrgName, Org> {
    /// Every organisation, in registration order (S2-register).
    pub fn orgs() -> Self {
        Self {
            path: "/v1/lists/orgs".into(),
            index: keys::orgs(),
            skip_absent: false,
        }
    }
}

impl ListQuery<IdentityName, Licence> {
    /// Every licensed doctor, in the order its licence was first issued (S3-register); check
    /// the revocation list for whether each may still practise.
    pub fn licences() -> Self {
        Self {
            path: "/v1/lists/licences".into(),
            index: keys::licences(),
            skip_absent: false,
        }
    }
}

impl ListQuery<OutPoint, Output> {
    /// The outputs locked to `owner` that are still unspent (S1-utxo), in creation order;
    /// spent ones are proven gone and left out.
    pub fn owner_outputs(owner: &Address) -> Self {
        Self {
            skip_absent: true,
            ..Self::new(
                format!("/v1/lists/outputs/{owner}"),
                keys::owner_outputs(owner),
            )
        }
    }
}

impl ListQuery<Address, Candidate> {
    /// Every validator candidate and its staking pool, in registration order (S1-dpos).
    pub fn candidates() -> Self {
        Self::new("/v1/lists/candidates".into(), keys::candidates())
    }
}

impl ListQuery<StudyId, Study> {
    /// Every study and its pool, in publication order (S4-flow step 1).
    pub fn studies() -> Self {
        Self::new("/v1/lists/studies".into(), keys::studies())
    }
}

impl ListQuery<EnrolmentId, Enrolment> {
    /// A study's enrolments, in acceptance order (S4-flow steps 4–5).
    pub fn study_enrolments(study: &StudyId) -> Self {
        Self::new(
            format!("/v1/lists/study-enrolments/{study}"),
            keys::study_enrolments(study),
        )
    }
}

/// A list whose entries are the values themselves (a history): its endpoint and the list.
#[derive(Clone, Debug)]
pub struct HistoryQuery<E> {
    path: String,
    list: StateList<E>,
}

impl<E> HistoryQuery<E> {
    /// The API path (`/v1/lists/...`), without paging.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The list the answer must prove.
    pub fn list(&self) -> &StateList<E> {
        &self.list
    }
}

impl HistoryQuery<LedgerEntry> {
    /// An address's token history, oldest first (S1-tokens).
    pub fn token_history(address: &Address) -> Self {
        Self {
            path: format!("/v1/lists/token-history/{address}"),
            list: keys::token_history(address),
        }
    }
}

impl HistoryQuery<Hash32> {
    /// Every hospital-attested commitment in leaf order: the accumulator's leaves (S4-flow).
    pub fn attested_commitments() -> Self {
        Self {
            path: "/v1/lists/attested-commitments".into(),
            list: keys::attested_commitments(),
        }
    }
}

impl HistoryQuery<Address> {
    /// The proxies that logged a re-encryption of an enrolment's record, in order (S4-flow
    /// step 8).
    pub fn reencryptions(enrolment: &EnrolmentId) -> Self {
        Self {
            path: format!("/v1/lists/reencryptions/{enrolment}"),
            list: keys::reencryptions(enrolment),
        }
    }
}

/// One verified list entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed<E, V> {
    /// Position in the list, from 0.
    pub seq: u64,
    /// The id stored there.
    pub id: E,
    /// The value it names.
    pub value: V,
}

/// A page of a list, verified against one finalized header.
#[derive(Clone, Debug)]
pub struct VerifiedList<E, V> {
    /// Entries in the whole list.
    pub total: u64,
    /// The first entry's position.
    pub from: u64,
    /// The page's entries, in order.
    pub entries: Vec<Listed<E, V>>,
    /// The position after the page's last entry: where the next page starts (entries left
    /// out as gone do not count in `entries`, they do here).
    pub end: u64,
    /// The finalized header every proof verified against.
    pub at: FinalizedHeader,
}

/// Why a list page or an id lookup is not what was asked for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    /// Entry `total` exists: the list is longer than the page claims.
    #[error("the page claims {total} entries, but entry {total} exists")]
    LongerThanClaimed {
        /// The claimed length.
        total: u64,
    },
    /// Entry `total - 1` is not proven to exist: the list is shorter than the page claims.
    #[error("the page claims {total} entries, but the last of them is not proven to exist")]
    ShorterThanClaimed {
        /// The claimed length.
        total: u64,
    },
    /// The page does not start where it was asked to.
    #[error("asked for entries from {asked}, the page starts at {got}")]
    WrongStart {
        /// The requested start.
        asked: u64,
        /// The page's start.
        got: u64,
    },
    /// Entries were left out or added.
    #[error("the page holds {got} entries; the proven length {total} calls for {expected}")]
    WrongSize {
        /// Entries the page must hold.
        expected: usize,
        /// Entries it holds.
        got: usize,
        /// The proven length.
        total: u64,
    },
    /// An entry is not at its place.
    #[error("entry {seq} is where entry {expected} belongs")]
    OutOfOrder {
        /// The entry's claimed position.
        seq: u64,
        /// The position it occupies on the page.
        expected: u64,
    },
    /// An entry within the proven length is proven absent (the state is inconsistent).
    #[error("entry {seq} is proven absent although the proven length includes it")]
    MissingEntry {
        /// Its position.
        seq: u64,
    },
    /// An entry names a value that is proven absent (the state is inconsistent).
    #[error("entry {seq} names a value that is proven absent")]
    MissingItem {
        /// Its position.
        seq: u64,
    },
    /// An id lookup answered an id that does not start with the prefix.
    #[error("asked for ids starting with {prefix}, the node answered {id}")]
    ForeignId {
        /// The prefix.
        prefix: String,
        /// The id the node sent.
        id: TxId,
    },
}

impl LightClient {
    /// Checks a page of `index` asked for with `from` and `limit` (capped at
    /// [`MAX_LIST_PAGE`]) and returns its verified entries (see the module docs).
    pub fn verify_list<E: StateValue, V: StateValue>(
        &self,
        view: &ProvenListView,
        index: &IndexList<E, V>,
        from: u64,
        limit: usize,
    ) -> Result<VerifiedList<E, V>, VerifyError> {
        self.verify_index_page(view, index, from, limit, false)
    }

    /// [`LightClient::verify_list`], leaving out entries whose named value is proven gone when
    /// `skip_absent` (a spent output) instead of refusing the page.
    fn verify_index_page<E: StateValue, V: StateValue>(
        &self,
        view: &ProvenListView,
        index: &IndexList<E, V>,
        from: u64,
        limit: usize,
        skip_absent: bool,
    ) -> Result<VerifiedList<E, V>, VerifyError> {
        let page = self.verify_entries(view, &index.list, from, limit)?;
        let mut entries = Vec::with_capacity(page.entries.len());
        for (listed, entry) in page.entries.into_iter().zip(&view.entries) {
            let seq = listed.seq;
            let proven = entry
                .item_proof
                .as_ref()
                .ok_or(ListError::MissingItem { seq })?;
            match verified_at(&page.at, proven, &(index.item)(&listed.id))? {
                Some(value) => entries.push(Listed {
                    seq,
                    id: listed.id,
                    value,
                }),
                None if skip_absent => {}
                None => return Err(ListError::MissingItem { seq }.into()),
            }
        }
        Ok(VerifiedList {
            total: page.total,
            from,
            entries,
            end: page.end,
            at: page.at,
        })
    }

    /// Checks a page of a list whose entries are the values themselves (a history), asked for
    /// with `from` and `limit`: the proven length, and every entry proven at one final header.
    pub fn verify_entries<E: StateValue>(
        &self,
        view: &ProvenListView,
        list: &StateList<E>,
        from: u64,
        limit: usize,
    ) -> Result<VerifiedList<E, ()>, VerifyError> {
        let at = self.verify_header(&view.header, view.finalization.as_deref())?;
        let total = view.total;
        if verified_at(&at, &view.end_proof, &list.entry(total))?.is_some() {
            return Err(ListError::LongerThanClaimed { total }.into());
        }
        if let Some(seq) = total.checked_sub(1) {
            let last = match &view.last_proof {
                Some(proven) => verified_at(&at, proven, &list.entry(seq))?,
                None => None,
            };
            if last.is_none() {
                return Err(ListError::ShorterThanClaimed { total }.into());
            }
        }
        if view.from != from {
            return Err(ListError::WrongStart {
                asked: from,
                got: view.from,
            }
            .into());
        }
        let expected = total
            .saturating_sub(from)
            .min(limit.min(MAX_LIST_PAGE) as u64) as usize;
        if view.entries.len() != expected {
            return Err(ListError::WrongSize {
                expected,
                got: view.entries.len(),
                total,
            }
            .into());
        }
        let mut entries = Vec::with_capacity(expected);
        for (seq, entry) in (from..).zip(&view.entries) {
            if entry.seq != seq {
                return Err(ListError::OutOfOrder {
                    seq: entry.seq,
                    expected: seq,
                }
                .into());
            }
            let id = verified_at(&at, &entry.entry_proof, &list.entry(seq))?
                .ok_or(ListError::MissingEntry { seq })?;
            entries.push(Listed { seq, id, value: () });
        }
        Ok(VerifiedList {
            total,
            from,
            entries,
            end: from + expected as u64,
            at,
        })
    }
}

/// The value `proven` shows for `key`, verified against `at`: taken at its height, for this
/// key, under its state root.
fn verified_at<T: StateValue>(
    at: &FinalizedHeader,
    proven: &ProvenValue,
    key: &StateKey<T>,
) -> Result<Option<T>, VerifyError> {
    if proven.height != at.header.height {
        return Err(VerifyError::HeightMismatch {
            proof: proven.height,
            header: at.header.height,
        });
    }
    Ok(proven.verified_value(&at.header.state_root, key)?)
}

impl Client {
    /// One page of a list (`limit` capped at [`MAX_LIST_PAGE`]), verified.
    pub fn list<E: StateValue, V: StateValue>(
        &self,
        query: &ListQuery<E, V>,
        from: u64,
        limit: usize,
    ) -> Result<VerifiedList<E, V>, ClientError> {
        let limit = limit.min(MAX_LIST_PAGE);
        self.verifying(|| {
            let view = self.node.list_page(query.path(), from, limit)?;
            Ok(self.light.verify_index_page(
                &view,
                query.index(),
                from,
                limit,
                query.skip_absent,
            )?)
        })
    }

    /// One page of a history (`limit` capped at [`MAX_LIST_PAGE`]), verified.
    pub fn history<E: StateValue>(
        &self,
        query: &HistoryQuery<E>,
        from: u64,
        limit: usize,
    ) -> Result<VerifiedList<E, ()>, ClientError> {
        let limit = limit.min(MAX_LIST_PAGE);
        self.verifying(|| {
            let view = self.node.list_page(query.path(), from, limit)?;
            Ok(self
                .light
                .verify_entries(&view, query.list(), from, limit)?)
        })
    }

    /// Every entry of a list, page after page, each page verified; the last page's header.
    pub fn list_all<E: StateValue, V: StateValue>(
        &self,
        query: &ListQuery<E, V>,
    ) -> Result<(Vec<Listed<E, V>>, FinalizedHeader), ClientError> {
        let mut entries = Vec::new();
        let mut from = 0;
        loop {
            let page = self.list(query, from, MAX_LIST_PAGE)?;
            entries.extend(page.entries);
            if page.end == from || page.end >= page.total {
                return Ok((entries, page.at));
            }
            from = page.end;
        }
    }

    /// The one id of `kind` that starts with `prefix`. All 64 digits need no lookup; a shorter
    /// prefix is looked up on the node (unproven: verify what the id names before relying on
    /// it, as for an id typed in full). No match is [`ClientError::NoSuchId`], several are
    /// [`ClientError::AmbiguousId`].
    pub fn resolve_id(&self, kind: IdKind, prefix: &IdPrefix) -> Result<TxId, ClientError> {
        if let Some(full) = prefix.full() {
            return Ok(TxId(Hash32::from(full)));
        }
        let answer = self.node.resolve_id(kind, prefix)?;
        if let Some(foreign) = answer
            .matches
            .iter()
            .find(|id| !prefix.matches(id.as_bytes()))
        {
            return Err(VerifyError::from(ListError::ForeignId {
                prefix: prefix.to_string(),
                id: *foreign,
            })
            .into());
        }
        match (answer.matches.as_slice(), answer.complete) {
            ([], true) => Err(ClientError::NoSuchId {
                kind,
                prefix: prefix.clone(),
            }),
            ([only], true) => Ok(*only),
            (candidates, complete) => Err(ClientError::AmbiguousId {
                kind,
                prefix: prefix.clone(),
                candidates: candidates.to_vec(),
                complete,
            }),
        }
    }
}
