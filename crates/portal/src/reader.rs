//! Verified reads for one page, and the heights they were verified at.
//!
//! Views read the chain only through a [`Reader`]: each read goes through the light client,
//! and the reader remembers the finalized header of every answer, so the page can state what
//! it was verified at without a view having to remember to say so.

use crate::error::PortalError;
use medchain_client::{
    Client, FinalizedHeader, ListQuery, Listed, StateQuery, TxOutcome, Verified, VerifiedBlock,
    VerifiedList,
};
use medchain_state::{
    StateValue,
    values::{AccessLogEntry, IdentityRecord},
};
use medchain_types::{Address, IdentityName, RecordId, Role, TxId};
use std::sync::Mutex;

/// The largest list a page reads whole (pages of the node's maximum size, until the end).
const MAX_LISTED: u64 = 10_000;

/// The finalized headers a page's data was verified at.
#[derive(Clone, Debug, Default)]
pub(crate) struct Seen {
    lowest: Option<FinalizedHeader>,
    highest: Option<FinalizedHeader>,
}

impl Seen {
    fn note(&mut self, at: &FinalizedHeader) {
        let height = at.header.height;
        if self
            .lowest
            .as_ref()
            .is_none_or(|low| height < low.header.height)
        {
            self.lowest = Some(at.clone());
        }
        if self
            .highest
            .as_ref()
            .is_none_or(|high| height > high.header.height)
        {
            self.highest = Some(at.clone());
        }
    }

    /// The lowest and highest finalized header seen, if any read was made.
    pub(crate) fn range(&self) -> Option<(&FinalizedHeader, &FinalizedHeader)> {
        Some((self.lowest.as_ref()?, self.highest.as_ref()?))
    }
}

/// Verified reads on behalf of one page.
pub(crate) struct Reader<'c> {
    client: &'c Client,
    seen: Mutex<Seen>,
}

impl<'c> Reader<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self {
            client,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The client (for what a reader does not wrap, such as signing).
    pub(crate) fn client(&self) -> &'c Client {
        self.client
    }

    fn note(&self, at: &FinalizedHeader) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.note(at);
        }
    }

    /// What this page's reads were verified at.
    pub(crate) fn seen(&self) -> Seen {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// A state value, or `None` when proven absent.
    pub(crate) fn read<V: StateValue>(
        &self,
        query: &StateQuery<V>,
    ) -> Result<Option<V>, PortalError> {
        let verified = self.client.read(query)?;
        self.note(&verified.at);
        Ok(verified.value)
    }

    /// A state value that must exist; `missing` says what was looked for.
    pub(crate) fn must<V: StateValue>(
        &self,
        query: &StateQuery<V>,
        missing: impl FnOnce() -> String,
    ) -> Result<V, PortalError> {
        self.read(query)?
            .ok_or_else(|| PortalError::NotFound(missing()))
    }

    /// One verified page of a list.
    pub(crate) fn page<E: StateValue, V: StateValue>(
        &self,
        query: &ListQuery<E, V>,
        from: u64,
        limit: usize,
    ) -> Result<VerifiedList<E, V>, PortalError> {
        let list = self.client.list(query, from, limit)?;
        self.note(&list.at);
        Ok(list)
    }

    /// A whole list, page after page (each page verified; at most [`MAX_LISTED`] entries).
    pub(crate) fn all<E: StateValue, V: StateValue>(
        &self,
        query: &ListQuery<E, V>,
    ) -> Result<Vec<Listed<E, V>>, PortalError> {
        let mut entries = Vec::new();
        loop {
            let page = self.page(query, entries.len() as u64, medchain_api::MAX_LIST_PAGE)?;
            let total = page.total.min(MAX_LISTED);
            if page.entries.is_empty() {
                return Ok(entries);
            }
            entries.extend(page.entries);
            if entries.len() as u64 >= total {
                return Ok(entries);
            }
        }
    }

    /// A finalized block, checked against its header's transaction root.
    pub(crate) fn block(&self, height: u64) -> Result<VerifiedBlock, PortalError> {
        let block = self.client.block(height)?;
        self.note(&block.at);
        Ok(block)
    }

    /// The newest block the node can prove final.
    pub(crate) fn newest(&self) -> Result<VerifiedBlock, PortalError> {
        let block = self.client.newest_certified()?;
        self.note(&block.at);
        Ok(block)
    }

    /// A transaction's outcome; a finalized one comes with its verified receipt.
    pub(crate) fn transaction(&self, id: &TxId) -> Result<TxOutcome, PortalError> {
        let outcome = self.client.transaction(id)?;
        if let TxOutcome::Finalized(confirmed) = &outcome {
            self.note(&confirmed.block.at);
        }
        Ok(outcome)
    }
}

/// Who the portal's key is on the chain, verified: the roles decide which views it offers.
#[derive(Clone, Debug)]
pub(crate) struct Who {
    /// The key's account.
    pub address: Address,
    /// Whether it is the genesis regulator (S2-state).
    pub regulator: bool,
    /// Its enrolled identity, if any.
    pub identity: Option<IdentityRecord>,
}

impl Who {
    /// Reads the key's identity (two verified reads).
    pub(crate) fn read(reader: &Reader<'_>, address: Address) -> Result<Self, PortalError> {
        let regulator = reader.client().light.genesis().regulator == address;
        let identity = match reader.read(&StateQuery::identity_of(&address))? {
            Some(name) => reader.read(&StateQuery::identity(&name))?,
            None => None,
        };
        Ok(Self {
            address,
            regulator,
            identity,
        })
    }

    /// The identity's name, if enrolled.
    pub(crate) fn name(&self) -> Option<&IdentityName> {
        self.identity.as_ref().map(|record| &record.identity)
    }

    fn role(&self) -> Option<Role> {
        self.identity.as_ref().map(|record| record.role)
    }

    /// Doctors see the clinician views.
    pub(crate) fn is_clinician(&self) -> bool {
        self.role() == Some(Role::Doctor)
    }

    /// Everyone who is not a doctor, a hospital or the regulator is treated as a patient:
    /// records are released to an address, enrolled or not.
    pub(crate) fn is_patient(&self) -> bool {
        !self.regulator && matches!(self.role(), None | Some(Role::Patient))
    }
}

impl Reader<'_> {
    /// A state value with the finalized header it was verified at, to read more at that same
    /// height ([`StateQuery::at_height`]).
    pub(crate) fn read_verified<V: StateValue>(
        &self,
        query: &StateQuery<V>,
    ) -> Result<Verified<V>, PortalError> {
        let verified = self.client.read(query)?;
        self.note(&verified.at);
        Ok(verified)
    }

    /// A patient's whole access log, each entry proven and the end proven too
    /// ([`Client::access_log`]).
    pub(crate) fn access_log(&self, patient: &Address) -> Result<Vec<AccessLogEntry>, PortalError> {
        let (entries, at) = self.client.access_log(patient)?;
        self.note(&at);
        Ok(entries)
    }

    /// The chain's decision on access request `tx` for `record`, from the patient's access log
    /// ([`Client::proven_access_decision`]).
    pub(crate) fn access_decision(
        &self,
        tx: &TxId,
        record: &RecordId,
    ) -> Result<AccessLogEntry, PortalError> {
        let verified = self.client.proven_access_decision(tx, record)?;
        self.note(&verified.at);
        verified.value.ok_or_else(|| {
            PortalError::Node(format!(
                "the node proves no access-log entry for {tx}; ask another node"
            ))
        })
    }
}
