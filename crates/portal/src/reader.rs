//! Verified reads for one page, and the heights they were verified at.
//!
//! Views read the chain only through a [`Reader`]: each read goes through the light client,
//! and the reader remembers the finalized header of every answer, so the page can state what
//! it was verified at without a view having to remember to say so.

use crate::error::PortalError;
use medchain_client::{
    Client, ClientError, FinalizedHeader, ListError, ListQuery, Listed, StateQuery, TxOutcome,
    Verified, VerifiedBlock, VerifiedList, VerifyError,
};
use medchain_state::{
    StateValue,
    values::{AccessLogEntry, IdentityRecord},
};
use medchain_types::{Address, IdentityName, Receipt, RecordId, Role, TxId};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, OnceLock},
};

/// The most entries of one list a page reads: its newest, in pages of the node's maximum
/// size. Lists grow with what others send (anyone may register an organisation, any doctor may
/// release records for a patient), so a page reads a bounded number of them, and says when a
/// list holds more ([`Seen::cut`]).
const MAX_LISTED: u64 = 1_000;

/// The finalized headers a page's data was verified at, and whether a list it read was cut.
#[derive(Clone, Debug, Default)]
pub(crate) struct Seen {
    lowest: Option<FinalizedHeader>,
    highest: Option<FinalizedHeader>,
    cut: Option<Cut>,
}

/// A list of which a page shows only the newest entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Entries shown (the newest).
    pub shown: u64,
    /// Entries in the list, proven.
    pub total: u64,
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

    /// What a page that read only at `at` has seen.
    #[cfg(test)]
    pub(crate) fn at(at: &FinalizedHeader) -> Self {
        let mut seen = Self::default();
        seen.note(at);
        seen
    }

    /// The longest list the page shows only part of, if any.
    pub(crate) fn cut(&self) -> Option<Cut> {
        self.cut
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
        Ok(self.read_at(query)?.0)
    }

    /// [`Reader::read`], with the finalized header the value was proven at (to judge it at
    /// that height's time: an expiry, a licence).
    pub(crate) fn read_at<V: StateValue>(
        &self,
        query: &StateQuery<V>,
    ) -> Result<(Option<V>, FinalizedHeader), PortalError> {
        let verified = self.client.read(query)?;
        self.note(&verified.at);
        Ok((verified.value, verified.at))
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

    /// A whole list, page after page (each page verified), or its newest [`MAX_LISTED`]
    /// entries when it holds more (the page then says so).
    pub(crate) fn all<E: StateValue, V: StateValue>(
        &self,
        query: &ListQuery<E, V>,
    ) -> Result<Vec<Listed<E, V>>, PortalError> {
        Ok(self.all_at(query)?.0)
    }

    /// [`Reader::all`], with the finalized header its first page was verified at (to read
    /// what the entries name at the same height).
    pub(crate) fn all_at<E: StateValue, V: StateValue>(
        &self,
        query: &ListQuery<E, V>,
    ) -> Result<(Vec<Listed<E, V>>, FinalizedHeader), PortalError> {
        let mut first = self.page(query, 0, medchain_api::MAX_LIST_PAGE)?;
        let start = first.total.saturating_sub(MAX_LISTED);
        if start > 0 {
            first = self.page(query, start, medchain_api::MAX_LIST_PAGE)?;
        }
        let end = first.total.min(start + MAX_LISTED);
        let mut entries = first.entries;
        while start + (entries.len() as u64) < end {
            let from = start + entries.len() as u64;
            let page = self.page(query, from, medchain_api::MAX_LIST_PAGE)?;
            if page.entries.is_empty() {
                break;
            }
            entries.extend(page.entries);
        }
        entries.truncate(MAX_LISTED as usize);
        if start > 0 {
            self.note_cut(Cut {
                shown: entries.len() as u64,
                total: first.total,
            });
        }
        Ok((entries, first.at))
    }

    fn note_cut(&self, cut: Cut) {
        if let Ok(mut seen) = self.seen.lock()
            && seen.cut.is_none_or(|noted| noted.total < cut.total)
        {
            seen.cut = Some(cut);
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

    /// How the page header names the key: a patient's identity is a pseudonym derived from
    /// the address (nothing a person reads), so it says "patient"; others go by their name.
    pub(crate) fn label(&self) -> Option<&str> {
        match self.identity.as_ref()? {
            record if record.role == Role::Patient => Some("patient"),
            record => Some(record.identity.as_str()),
        }
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

    /// A patient's access log, each entry proven at one height where the end of the log is
    /// proven too: the whole log, or its newest [`MAX_LISTED`] entries when it holds more
    /// (anyone may ask for a record, and every request is logged, so the log grows with what
    /// strangers send; the page then says how many it leaves out).
    pub(crate) fn access_log(&self, patient: &Address) -> Result<Vec<AccessLogEntry>, PortalError> {
        // The node's count is only a hint where the log ends: the end is proven here.
        let claimed = self.client.node.access_log(patient, 0, 1)?.total;
        let end = self.read_verified(&StateQuery::access_log_entry(patient, claimed))?;
        if end.value.is_some() {
            return Err(list_refused(ListError::LongerThanClaimed {
                total: claimed,
            }));
        }
        let height = end.at.header.height;
        let start = claimed.saturating_sub(MAX_LISTED);
        let entries = (start..claimed)
            .map(|seq| {
                let entry = StateQuery::access_log_entry(patient, seq).at_height(height);
                self.read(&entry)?
                    .ok_or_else(|| list_refused(ListError::ShorterThanClaimed { total: claimed }))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if start > 0 {
            self.note_cut(Cut {
                shown: entries.len() as u64,
                total: claimed,
            });
        }
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

/// A list answer that does not add up, as a failed verification.
fn list_refused(error: ListError) -> PortalError {
    ClientError::from(VerifyError::List(error)).into()
}

/// How many verified blocks the portal keeps (the newest), and how many transactions in
/// all: a block is a header and its transaction ids (plus their receipts once read), so
/// under load a few blocks can weigh more than thousands of idle ones.
const CACHED_BLOCKS: usize = 4096;
const CACHED_TXS: usize = 200_000;

/// A finalized block as verified, and its transactions' receipts once they were read and
/// verified against the block's `receipts_root`.
#[derive(Debug)]
pub(crate) struct CachedBlock {
    pub block: VerifiedBlock,
    receipts: OnceLock<Arc<Vec<Receipt>>>,
}

/// Verified finalized blocks by height. A finalized block never changes, so each is fetched
/// and verified once for every page that shows it (the explorer, the activity scans).
#[derive(Debug, Default)]
pub(crate) struct BlockCache {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    blocks: BTreeMap<u64, Arc<CachedBlock>>,
    txs: usize,
}

impl BlockCache {
    fn get(&self, height: u64) -> Option<Arc<CachedBlock>> {
        self.kept.lock().ok()?.blocks.get(&height).cloned()
    }

    /// Keeps `block`, dropping the lowest heights beyond [`CACHED_BLOCKS`] blocks or
    /// [`CACHED_TXS`] transactions (a block larger than that is not kept at all).
    fn keep(&self, block: VerifiedBlock) -> Arc<CachedBlock> {
        let cached = Arc::new(CachedBlock {
            block,
            receipts: OnceLock::new(),
        });
        if let Ok(mut kept) = self.kept.lock() {
            let height = cached.block.at.header.height;
            if let Some(old) = kept.blocks.insert(height, cached.clone()) {
                kept.txs -= old.block.tx_ids.len();
            }
            kept.txs += cached.block.tx_ids.len();
            while kept.blocks.len() > CACHED_BLOCKS || kept.txs > CACHED_TXS {
                let Some((_, dropped)) = kept.blocks.pop_first() else {
                    break;
                };
                kept.txs -= dropped.block.tx_ids.len();
            }
        }
        cached
    }

    /// How many blocks and transactions are kept.
    #[cfg(test)]
    fn size(&self) -> (usize, usize) {
        let kept = self.kept.lock().unwrap();
        (kept.blocks.len(), kept.txs)
    }
}

impl Reader<'_> {
    /// A finalized block, verified once and then served from `cache`.
    pub(crate) fn cached_block(
        &self,
        cache: &BlockCache,
        height: u64,
    ) -> Result<Arc<CachedBlock>, PortalError> {
        let cached = match cache.get(height) {
            Some(cached) => cached,
            None => cache.keep(self.block(height)?),
        };
        self.note(&cached.block.at);
        Ok(cached)
    }

    /// The newest block the node can prove final, kept in `cache`: the pages that ask for it
    /// go on to read the blocks up to it, and would otherwise fetch and verify it again.
    pub(crate) fn newest_cached(
        &self,
        cache: &BlockCache,
    ) -> Result<Arc<CachedBlock>, PortalError> {
        let newest = self.newest()?;
        Ok(match cache.get(newest.at.header.height) {
            Some(cached) => cached,
            None => cache.keep(newest),
        })
    }

    /// The receipts of every transaction of `cached`, in block order, each verified against
    /// the block's header ([`medchain_client::LightClient::verify_receipt`]); kept with the
    /// block once read.
    pub(crate) fn receipts(&self, cached: &CachedBlock) -> Result<Arc<Vec<Receipt>>, PortalError> {
        if let Some(receipts) = cached.receipts.get() {
            return Ok(receipts.clone());
        }
        let receipts = cached
            .block
            .tx_ids
            .iter()
            .map(|id| self.receipt_in(&cached.block, id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cached.receipts.get_or_init(|| Arc::new(receipts)).clone())
    }

    /// Transaction `id`'s receipt, which the node must prove is the one at its position in
    /// `block`.
    fn receipt_in(&self, block: &VerifiedBlock, id: &TxId) -> Result<Receipt, PortalError> {
        let status = self.client.node.tx_status(id)?;
        let receipt = status.receipt.ok_or_else(|| {
            PortalError::Verification(format!(
                "the node lists transaction {id} in finalized block {} but gives no receipt for it",
                block.at.header.height
            ))
        })?;
        self.client
            .light
            .verify_receipt(id, block, &receipt, status.receipt_proof.as_deref())
            .map_err(ClientError::from)?;
        Ok(receipt)
    }
}

/// Headers for the crate's unit tests: only height and time matter, every root is zero.
#[cfg(test)]
pub(crate) mod fixtures {
    use medchain_client::{Finality, FinalizedHeader};
    use medchain_types::{Address, Hash32, Header};

    /// A header at `height` and `timestamp_ms`.
    pub(crate) fn header(height: u64, timestamp_ms: u64) -> Header {
        let zero = Hash32::from([0; 32]);
        Header {
            height,
            parent: zero,
            timestamp_ms,
            proposer: Address::from_bytes([0; 32]),
            tx_root: zero,
            state_root: zero,
            receipts_root: zero,
            revocation_root: zero,
            med_checkpoint: zero,
        }
    }

    /// Dr Kim of Seoul General, enrolled as a doctor.
    pub(crate) fn doctor() -> super::Who {
        use medchain_state::testkit;
        super::Who {
            address: testkit::address(5),
            regulator: false,
            identity: Some(super::IdentityRecord {
                identity: medchain_types::IdentityName::new("dr-kim@seoul").unwrap(),
                address: testkit::address(5),
                role: medchain_types::Role::Doctor,
                org: Some(testkit::org_name("Seoul General")),
                key_part: testkit::key_part(5),
                enrolled_at: 3,
            }),
        }
    }

    /// [`header`], as if finalized.
    pub(crate) fn finalized(height: u64, timestamp_ms: u64) -> FinalizedHeader {
        let header = header(height, timestamp_ms);
        FinalizedHeader {
            digest: header.digest(),
            header,
            finality: Finality::Genesis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_types::Hash32;

    fn block(height: u64, txs: usize) -> VerifiedBlock {
        VerifiedBlock {
            at: fixtures::finalized(height, height),
            tx_ids: vec![TxId(Hash32::from([0; 32])); txs],
        }
    }

    #[test]
    fn the_cache_keeps_the_newest_blocks_within_its_bounds() {
        let cache = BlockCache::default();
        for height in 0..(CACHED_BLOCKS as u64 + 10) {
            cache.keep(block(height, 1));
        }
        assert_eq!(cache.size(), (CACHED_BLOCKS, CACHED_BLOCKS));
        assert!(cache.get(9).is_none(), "the lowest heights go first");
        assert!(cache.get(CACHED_BLOCKS as u64 + 9).is_some());

        // A heavy block pushes out older ones; kept again, a block is not counted twice.
        let heavy = CACHED_BLOCKS as u64 + 100;
        cache.keep(block(heavy, CACHED_TXS - 10));
        cache.keep(block(heavy, CACHED_TXS - 10));
        let (blocks, txs) = cache.size();
        assert!(txs <= CACHED_TXS, "{txs}");
        assert_eq!(blocks, 11);
        assert!(cache.get(heavy).is_some());

        // One block larger than the whole budget is served but not kept.
        cache.keep(block(heavy + 1, CACHED_TXS + 1));
        assert_eq!(cache.size(), (0, 0));
    }
}
