//! The consensus application: proposes and verifies blocks for simplex through marshal's
//! `Inline` wrapper (verification completes before this validator votes to notarize).

use crate::{chain::Chain, engine::ConsensusScheme};
use commonware_consensus::{Application, marshal::ancestry::Ancestry, simplex::types::Context};
use commonware_cryptography::{Digested, Digestible as _, ed25519};
use commonware_runtime::{Clock, Spawner, Supervisor};
use futures::StreamExt;
use medchain_types::{Address, Block, Hash32};
use rand_core::CryptoRng;
use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tracing::{debug, warn};

/// How far a proposer's timestamp may run ahead of this validator's clock before verification
/// waits for the local clock to catch up (it never rejects for this: a "not yet" condition
/// must not become a permanent verdict).
pub const MAX_CLOCK_DRIFT: Duration = Duration::from_secs(2);

/// With nothing to include, a proposer waits this long after its parent before proposing an
/// empty block, so an idle chain makes a couple of heartbeat blocks per second rather than
/// hundreds (well under the 1 s leader timeout).
pub const EMPTY_BLOCK_INTERVAL: Duration = Duration::from_millis(500);

/// The simplex application for medchain blocks.
#[derive(Clone)]
pub struct ChainApplication {
    chain: Arc<Chain>,
    proposer: Address,
}

impl ChainApplication {
    /// An application proposing as `proposer`.
    pub fn new(chain: Arc<Chain>, proposer: ed25519::PublicKey) -> Self {
        Self {
            chain,
            proposer: Address::from(proposer),
        }
    }

    /// Block 0, as marshal and simplex expect it.
    pub fn genesis_block(&self) -> Digested<Block> {
        digested(self.chain.genesis_block().clone())
    }

    /// Makes sure the state after `tip` is known, executing any ancestors that are not
    /// (after a restart, or blocks this validator did not see verified), oldest first.
    async fn ensure_state<E: CryptoRng>(
        &self,
        rng: &mut E,
        tip: &Digested<Block>,
        ancestry: &mut impl Ancestry<Block>,
    ) -> bool {
        if self.chain.knows(&tip.digest()) {
            return true;
        }
        let committed = self.chain.committed_height();
        let mut missing = vec![tip.clone()];
        loop {
            let Some(ancestor) = ancestry.next().await else {
                warn!(tip = %tip.digest(), "ancestry ended before a known state");
                return false;
            };
            let known = self.chain.knows(&ancestor.digest());
            if !known && ancestor.inner().number() <= committed {
                // Below the committed tip on another branch: it can never be built on.
                warn!(tip = %tip.digest(), "ancestry leaves the finalized chain");
                return false;
            }
            missing.push(ancestor);
            if known {
                break;
            }
        }
        // missing = [tip, ..., known ancestor]; execute each block on its parent, oldest first.
        for pair in missing.windows(2).rev() {
            let (block, parent) = (&pair[0], &pair[1]);
            if let Err(error) = self.chain.execute(rng, block.inner(), parent.inner()) {
                warn!(%error, height = block.inner().number(), "cannot replay ancestor");
                return false;
            }
        }
        true
    }
}

impl ChainApplication {
    /// Returns once the mempool has executable transactions (queued ones cannot fill a block,
    /// so junk must not speed up block production) or [`EMPTY_BLOCK_INTERVAL`] has passed
    /// since the parent's timestamp.
    async fn wait_for_work(&self, clock: &impl Clock, parent_ms: u64) {
        let poll = Duration::from_millis(10);
        loop {
            let elapsed = unix_millis(clock.current()).saturating_sub(parent_ms);
            let remaining = (EMPTY_BLOCK_INTERVAL.as_millis() as u64).saturating_sub(elapsed);
            if remaining == 0 || self.chain.mempool().pending_len() > 0 {
                return;
            }
            clock
                .sleep(poll.min(Duration::from_millis(remaining)))
                .await;
        }
    }
}

fn digested(block: Block) -> Digested<Block> {
    let digest = block.digest();
    Digested::precomputed(block, digest)
}

fn unix_millis(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

impl<E> Application<E> for ChainApplication
where
    E: Clock + CryptoRng + Spawner + Supervisor,
{
    type SigningScheme = ConsensusScheme;
    type Context = Context<Hash32, ed25519::PublicKey>;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (mut runtime, _context): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
        _input: (),
    ) -> Option<Digested<Self::Block>> {
        let mut ancestry = ancestry;
        let parent = ancestry.next().await?;
        if !self
            .ensure_state(&mut runtime, &parent, &mut ancestry)
            .await
        {
            return None;
        }
        self.wait_for_work(&runtime, parent.inner().header().timestamp_ms)
            .await;
        let now = unix_millis(runtime.current());
        let (chain, proposer) = (self.chain.clone(), self.proposer);
        // Building executes every candidate: keep it off the async workers consensus needs.
        let built = runtime
            .child("build")
            .shared(true)
            .spawn(move |_| async move { chain.build(parent.inner(), now, proposer) })
            .await;
        match built {
            Ok(Ok(block)) => {
                debug!(height = block.number(), txs = block.txs().len(), "proposed");
                Some(digested(block))
            }
            Ok(Err(error)) => {
                warn!(%error, "cannot build a block");
                None
            }
            Err(error) => {
                warn!(%error, "block builder stopped");
                None
            }
        }
    }

    async fn verify(
        &mut self,
        (mut runtime, context): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
    ) -> bool {
        let mut ancestry = ancestry;
        let (Some(block), Some(parent)) = (ancestry.next().await, ancestry.next().await) else {
            return false;
        };
        // The proposer named in the header must be the view's leader (it is who gets credit,
        // and later rewards, for the block).
        if block.inner().header().proposer != Address::from(&context.leader) {
            warn!(
                height = block.inner().number(),
                "block names a proposer other than the leader"
            );
            return false;
        }
        let ahead =
            block.inner().header().timestamp_ms.saturating_sub(
                unix_millis(runtime.current()) + MAX_CLOCK_DRIFT.as_millis() as u64,
            );
        if ahead > 0 {
            runtime.sleep(Duration::from_millis(ahead)).await;
        }
        if !self
            .ensure_state(&mut runtime, &parent, &mut ancestry)
            .await
        {
            return false;
        }
        // An Mblock the proposal checkpoints may still be on its way here: ask for it and
        // wait a bounded time rather than refuse the whole block (the verdict below decides).
        let checkpoint = block.inner().checkpoint();
        if !checkpoint.branch.is_empty() {
            crate::med_checkpoint::wait_until_known(&runtime, || {
                self.chain.knows_checkpoint(block.inner())
            })
            .await;
        }
        let chain = self.chain.clone();
        // Replaying executes the checkpoint and every transaction: keep it off the async
        // workers consensus needs.
        let verdict = runtime
            .child("verify")
            .shared(true)
            .spawn(
                move |mut rng| async move { chain.verify(&mut rng, block.inner(), parent.inner()) },
            )
            .await;
        match verdict {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                warn!(%error, "rejecting block");
                false
            }
            Err(error) => {
                warn!(%error, "block verifier stopped");
                false
            }
        }
    }
}
