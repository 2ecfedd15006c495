//! Node metrics, registered in the runtime's Prometheus registry (served at `/metrics` together
//! with commonware's own consensus and p2p metrics).

use commonware_runtime::{
    Clock, Metrics,
    telemetry::metrics::{Counter, Gauge, Histogram, MetricsExt as _},
};
use medchain_types::Block;
use std::time::{Duration, UNIX_EPOCH};

/// Finalization latency buckets (seconds): sub-second finality is the target.
const LATENCY_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

/// Handles to the node's metrics.
#[derive(Clone)]
pub struct NodeMetrics {
    height: Gauge,
    finalized_txs: Counter,
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
        let proposed = UNIX_EPOCH + Duration::from_millis(block.header().timestamp_ms);
        if let Ok(latency) = clock.current().duration_since(proposed) {
            self.finalization_latency.observe(latency.as_secs_f64());
        }
    }

    /// Records the mempool size (sampled by the API on submissions).
    pub fn mempool(&self, size: usize) {
        self.mempool_size.set(size as i64);
    }
}
