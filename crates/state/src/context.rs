//! One transaction's view of the state while it executes: reads see the transaction's own
//! writes, then the block's earlier transactions, then the reader; writes stay in a per-tx
//! buffer that the executor merges only if the transaction succeeds (so a rejected
//! transaction changes nothing).

use crate::{
    BlockEnv, StateError, StateRead, StateValue,
    keys::{StateKey, StateList},
    values::{ChainConfig, TokenConfig},
};
use medchain_types::{Address, TxId};
use std::collections::HashMap;

/// The block's writes so far, by key; `None` deletes.
pub(crate) type BlockWrites = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// One transaction's writes, in order (a later write to a key wins); `None` deletes.
pub(crate) type TxWrites = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// A transaction in execution.
pub(crate) struct TxContext<'a, R> {
    reader: &'a R,
    block_writes: &'a BlockWrites,
    writes: TxWrites,
    /// The executing block.
    pub env: BlockEnv,
    /// The chain's configuration.
    pub chain: &'a ChainConfig,
    /// The token economy's parameters; `None` on a chain without tokens.
    pub tokens: Option<&'a TokenConfig>,
    /// The transaction's id.
    pub tx_id: TxId,
    /// The transaction's (verified) signer.
    pub sender: &'a Address,
}

impl<'a, R: StateRead> TxContext<'a, R> {
    pub fn new(
        reader: &'a R,
        block_writes: &'a BlockWrites,
        env: BlockEnv,
        chain: &'a ChainConfig,
        tokens: Option<&'a TokenConfig>,
        tx_id: TxId,
        sender: &'a Address,
    ) -> Self {
        Self {
            reader,
            block_writes,
            writes: Vec::new(),
            env,
            chain,
            tokens,
            tx_id,
            sender,
        }
    }

    /// Buffers a write.
    pub fn put<V: StateValue>(&mut self, key: &StateKey<V>, value: &V) {
        self.writes
            .push((key.as_bytes().to_vec(), Some(value.to_bytes())));
    }

    /// Buffers a deletion (the revocation list, where absence is "not revoked", and spent
    /// outputs, where absence is "spent").
    pub fn delete<V: StateValue>(&mut self, key: &StateKey<V>) {
        self.writes.push((key.as_bytes().to_vec(), None));
    }

    /// Appends `entry` to `list`: one write, at the list's length, found in `O(log n)` reads
    /// (which see this transaction's and this block's earlier appends).
    pub fn append<E: StateValue>(
        &mut self,
        list: &StateList<E>,
        entry: &E,
    ) -> Result<(), StateError> {
        let seq = list.find_length(|seq| {
            self.get(list.entry(seq).as_bytes())
                .map(|value| value.is_some())
        })?;
        self.put(&list.entry(seq), entry);
        Ok(())
    }

    /// The buffered writes.
    pub fn into_writes(self) -> TxWrites {
        self.writes
    }
}

impl<R: StateRead> StateRead for TxContext<'_, R> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if let Some((_, value)) = self.writes.iter().rev().find(|(k, _)| k == key) {
            return Ok(value.clone());
        }
        match self.block_writes.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.reader.get(key),
        }
    }
}
