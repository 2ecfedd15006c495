//! Node metrics, registered in the runtime's Prometheus registry (served at `/metrics` together
//! with commonware's own consensus and p2p metrics).

use commonware_runtime::{
    Clock, Metrics,
    telemetry::metrics::{Counter, Gauge, Histogram, MetricsExt as _},
};
use medchain_types::Block;
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The window over which `finalized_tps` averages.
const TPS_WINDOW: Duration = Duration::from_secs(10);

/// Finalization latency buckets (seconds): sub-second finality is the target.
const LATENCY_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

/// Handles to the node's metrics.
#[derive(Clone)]
pub struct NodeMetrics {
    height: Gauge,
    finalized_txs: Counter,
    finalized_tps: Gauge,
    recent: Arc<Mutex<VecDeque<(SystemTime, usize)>>>,
    finalized_blocks: Counter,
    mempool_size: Gauge,
    finalization_latency: Histogram,
    block_txs: Histogram,
}

impl NodeMetrics {
    /// Registers the metrics under `context`'s label.
    pub fn register(context: &impl Metrics) -> Self {
        Self {
            height: context.gauge("finalized_height", "height of the last committed block"),
            finalized_txs: context.counter(
                "finalized_txs",
                "transactions committed in finalized blocks",
            ),
            finalized_tps: context.gauge(
                "finalized_tps",
                "transactions committed per second, averaged over the last 10 seconds",
            ),
            recent: Arc::default(),
            finalized_blocks: context.counter("finalized_blocks", "finalized blocks committed"),
            mempool_size: context.gauge("mempool_size", "transactions waiting in the mempool"),
            finalization_latency: context.histogram(
                "finalization_latency_seconds",
                "time from a block's proposal timestamp to its local commit",
                LATENCY_BUCKETS,
            ),
            block_txs: context.histogram(
                "block_txs",
                "transactions per finalized block",
                [
                    0.0, 1.0, 10.0, 100.0, 1_000.0, 5_000.0, 10_000.0, 20_000.0, 40_000.0,
                ],
            ),
        }
    }

    /// Records a committed block.
    pub fn finalized(&self, clock: &impl Clock, block: &Block, mempool_size: usize) {
        self.height.set(block.number() as i64);
        self.finalized_blocks.inc();
        self.finalized_txs.inc_by(block.txs().len() as u64);
        self.mempool_size.set(mempool_size as i64);
        self.block_txs.observe(block.txs().len() as f64);
        let now = clock.current();
        let proposed = UNIX_EPOCH + Duration::from_millis(block.header().timestamp_ms);
        if let Ok(latency) = now.duration_since(proposed) {
            self.finalization_latency.observe(latency.as_secs_f64());
        }
        self.finalized_tps
            .set(self.windowed_rate(now, block.txs().len()) as i64);
    }

    /// Transactions per second over the last [`TPS_WINDOW`], including `txs` committed `now`.
    fn windowed_rate(&self, now: SystemTime, txs: usize) -> f64 {
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        recent.push_back((now, txs));
        while recent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at).unwrap_or_default() > TPS_WINDOW)
        {
            recent.pop_front();
        }
        recent.iter().map(|(_, n)| n).sum::<usize>() as f64 / TPS_WINDOW.as_secs_f64()
    }

    /// Records the mempool size (sampled when `/metrics` is scraped).
    pub fn mempool(&self, size: usize) {
        self.mempool_size.set(size as i64);
    }
}
